"""The `bwbench-results` directive: the results pages, rendered from the stored
result files when the documentation is built (no number is typed into a page).

    ```{bwbench-results} .
    ```

For each folder <host>-<date>/ under the given folder (relative to the page):
a section naming the host's CPU (the documents' `machine`), then for each
*.json in it (a bwbench/1 document) its command, date and commit (its
`provenance`), a link to the file, its headline numbers in the tables the
command itself prints (bwbench.tables) and its figures, drawn by bwbench.plot
into docs/_build/figures/. A document of a kind not rendered here is listed by
file name and the command that wrote it."""
import glob
import os

import matplotlib.pyplot as plt
from docutils import nodes
from rich.table import Table
from rich.text import Text
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from bwbench import plot, tables
from bwbench.errors import UsageError
from bwbench.results import atomic_write, read_result
from bwbench.roofline import Roofline
from bwbench.stream import STREAM_KERNELS
from bwbench.units import format_bytes
from docnodes import paragraph, section, table

logger = logging.getLogger(__name__)
FIGURES = "_build/figures"   # under the documentation's source folder, so Sphinx copies the images


class BwbenchResults(SphinxDirective):
    required_arguments = 1   # the folder holding <host>-<date>/ folders, relative to this page

    def run(self):
        self.env.note_reread()   # a host folder added later appears on the next build
        _, root = self.env.relfn2path(self.arguments[0], self.env.docname)
        hosts = sorted(folder for folder in os.listdir(root) if glob.glob(os.path.join(root, folder, "*.json")))
        if not hosts:
            return [paragraph("No results are stored yet.")]
        return [self._host(root, host) for host in hosts]

    def _host(self, root: str, host: str) -> nodes.section:
        part = section(self.state.document, host)
        documents = []
        for path in sorted(glob.glob(os.path.join(root, host, "*.json"))):
            self.env.note_dependency(path)
            try:
                documents.append((path, read_result(path)))
            except UsageError as error:
                logger.warning(f"results: {error}", location=self.get_location())
        if documents:
            part += paragraph(_machine_line(documents[0][1]["machine"]))
        documents.sort(key=lambda pair: (_ORDER.get(command_of(pair[1]), len(_ORDER)), pair[0]))
        for path, document in documents:
            part += self._document(host, path, document)
        return part

    def _document(self, host: str, path: str, document: dict) -> nodes.section:
        name = os.path.basename(path)
        command = command_of(document)
        part = section(self.state.document, name, ids_from=f"{host} {name}")
        link = addnodes.download_reference("", "", nodes.literal(text=name), reftarget=self._uri(path),
                                           refdoc=self.env.docname, refexplicit=True)
        part += paragraph(f"Written by `bwbench {command}` " if command else "A document of unknown kind ",
                          _provenance_line(document["provenance"]), " (", link, ").")
        render = RENDERERS.get(command)
        if render is None:
            held = [key for key, value in document.items() if value and key not in ("schema", "machine", "provenance")]
            part += paragraph("Not rendered here" + (f"; it holds: {', '.join(held)}." if held else "."))
            return part
        stem = os.path.splitext(name)[0]
        out = os.path.join(self.env.srcdir, FIGURES, host, stem)
        os.makedirs(out, exist_ok=True)
        shown, figures = render(document, out)
        for rich_table in shown:
            part += _docutils_table(rich_table)
        for figure in figures:
            # a width makes Sphinx link the image to its full size: the roofline's legend is small print
            part += nodes.image(uri=self._uri(figure), alt=f"{os.path.basename(figure)} of {name}", width="100%")
        return part

    def _uri(self, path: str) -> str:
        """A file under the source folder as Sphinx names it: '/' is the source folder."""
        return "/" + os.path.relpath(path, self.env.srcdir).replace(os.sep, "/")


def command_of(document: dict):
    """The bwbench command that wrote the document, from the sections it holds; None if unknown."""
    for key in ("transformer", "quant", "interconnect", "trends", "roofline", "tune"):
        if key in document:
            return key
    for key, command in (("mixes", "stream --mix"), ("numa_matrix", "stream --matrix"),
                         ("loaded_latency", "latency --loaded"), ("theoretical_peak", "info")):
        if key in document:
            return command
    kernels = {m.kernel for m in document["measurements"]}
    if not kernels:
        return "info"
    if kernels <= set(STREAM_KERNELS):
        return "stream"
    if len(kernels) == 1 and kernels <= {"gemm", "gemv"}:
        return kernels.pop()
    return None


def _machine_line(machine: dict) -> str:
    caches = ", ".join(f"{level} {format_bytes(size)}" for level, size in machine.get("caches", {}).items())
    return (f"CPU: {machine['cpu']} ({machine['isa']}, {machine['cores']} CPUs); caches: {caches or 'unknown'}; "
            f"memory {format_bytes(machine['memory_bytes'])}; compiler: {machine['compiler']}.")


def _provenance_line(provenance: dict) -> str:
    git = provenance.get("git")
    code = (f"at commit `{git['commit'][:12]}`" + (" with uncommitted changes" if git["dirty"] else "")
            if git else "outside a git checkout")
    return f"on {provenance['date']}, bwbench {provenance['bwbench_version']} {code}"


def _docutils_table(rich_table: Table) -> list:
    """A table the command line prints (rich), as docutils nodes: the table and its caption."""
    plain = lambda cell: cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
    rows = zip(*[[plain(cell) for cell in column.cells] for column in rich_table.columns])
    out = [table([plain(column.header) for column in rich_table.columns], rows,
                 plain(rich_table.title) if rich_table.title else None)]
    if rich_table.caption:
        out.append(paragraph(plain(rich_table.caption)))
    return out


def _save(figure, path: str) -> str:
    with atomic_write(path, "wb") as f:
        figure.savefig(f, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path


def _roofline(document: dict, out: str):
    roofline = Roofline.from_dict(document["roofline"])
    figures = [path for path in plot.write_figures(document, out) if path.endswith(".png")]
    return tables.roofline_tables(roofline, document["measurements"]), figures


def _stream(document: dict, out: str):
    """The STREAM table alone: one working set, so no figure of plot's fits it."""
    measurements = document["measurements"]
    return [tables.stream_table(measurements, max(m.threads for m in measurements))], []


def _quant(document: dict, out: str):
    return tables.quant_tables(document["quant"]), [p for p in plot.write_quant(document["quant"], out)
                                                     if p.endswith(".png")]


def _sweep(document: dict, out: str):
    """A sweep's table, as the command prints it, and its two figures."""
    record = document["transformer"]
    shown = tables.sweep_table(record["model"], record["threads"], record["sweep"], record["knee"])
    return [shown], [p for p in plot.write_sweep(record, Roofline.from_dict(document["roofline"]), out)
                     if p.endswith(".png")]


def _transformer(document: dict, out: str):
    """Each operation's predicted time beside its measured one, and the
    operation groups at both rates on the roofline the prediction used."""
    record = document["transformer"]
    if "sweep" in record:
        return _sweep(document, out)
    measured = "measured_s" in record
    shown = Table(title=f"{record['model']}, {record['mode']}, seq {record['seq']}, batch {record['batch']}, "
                        f"{record['weights'] or format(record['bytes_per_element'], 'g') + ' B/element'}, "
                        f"scope {record['scope']}: predicted" + (" and measured" if measured else ""))
    for header in ("op", "group", "GFLOPs", "AI", "bound by", "predicted ms") + \
            (("measured ms", "predicted/measured") if measured else ()):
        shown.add_column(header)
    groups = {}
    for op in record["ops"] + [{"name": "total", "group": "", "flops": record["total_flops"], "ai": record["ai"],
                                "predicted_s": record["predicted_s"], "measured_s": record.get("measured_s")}]:
        cells = [op["name"], op["group"], f"{op['flops'] / 1e9:.3f}", f"{op['ai']:.2f}", op.get("ceiling", ""),
                 f"{op['predicted_s'] * 1e3:.2f}"]
        if measured:
            cells += [f"{op['measured_s'] * 1e3:.2f}" if op.get("measured_s") else "-",
                      f"{op['predicted_s'] / op['measured_s']:.2f}" if op.get("measured_s") else "-"]
        shown.add_row(*cells)
        if op["group"]:
            group = groups.setdefault(op["group"], {"flops": 0.0, "bytes": 0.0, "predicted_s": 0.0, "measured_s": 0.0})
            for key in group:
                group[key] += op.get(key) or 0.0
    rates = [f"predicted {record['tokens_per_s']:.1f} tokens/s"] if "tokens_per_s" in record else []
    if "measured_tokens_per_s" in record:
        rates.append(f"measured {record['measured_tokens_per_s']:.1f} tokens/s")
    reference = record.get("reference", {})
    if "tokens_per_s" in reference:
        rates.append(f"{reference['engine']} {reference['tokens_per_s']:.1f} tokens/s on the same "
                     + ("file" if "model_file" in reference else "shape"))
    if "tokens_agree" in reference:
        rates.append(f"greedy tokens the same for {reference['tokens_agree']} of {len(reference['tokens'])} steps")
    shown.caption = "; ".join(rates + ["total measured: the whole run end to end"] if measured else rates)
    points = [{"label": f"{name}, {which}", "ai": group["flops"] / group["bytes"],
               "gflops": group["flops"] / group[f"{which}_s"] / 1e9, "group": name, "mode": record["mode"]}
              for name, group in groups.items() for which in ("predicted", "measured") if group[f"{which}_s"]]
    figure = plot.roofline_figure(Roofline.from_dict(document["roofline"]), [], points)
    return [shown], [_save(figure, os.path.join(out, "roofline.png"))]


def _tune(document: dict, out: str):
    """Every variant the tuning timed, the choices marked (no figure)."""
    profile = document["tune"]
    return [tables.tune_table(profile)] + ([tables.tune_gemm_table(profile)] if "gemm" in profile else []), []


def _info(document: dict, out: str):
    """With the clock measured, the theoretical peak beside the ceilings (the host is named above)."""
    if "theoretical_peak" not in document:
        return [], []
    return [tables.peak_table(document["theoretical_peak"], document.get("memory_theoretical", {}))], []


def _mixes(document: dict, out: str):
    threads = max(row["threads"] for row in document["mixes"])
    return [tables.mix_table(document["mixes"], threads),
            tables.write_allocate_table(document.get("write_allocate", {}), threads)], []


def _loaded_latency(document: dict, out: str):
    measurements = [m for m in document["measurements"] if m.kernel == "latency"]
    figures = [p for p in plot.write_loaded_latency(document["loaded_latency"], out) if p.endswith(".png")]
    return [tables.latency_table(measurements), tables.loaded_latency_table(document["loaded_latency"],
                                                                    measurements[-1].latency_ns if measurements else None)], figures


def _matrix(document: dict, out: str):
    return [tables.matrix_table(document["numa_matrix"])], []


RENDERERS = {"roofline": _roofline, "info": _info, "stream": _stream, "stream --mix": _mixes,
             "latency --loaded": _loaded_latency, "stream --matrix": _matrix, "quant": _quant,
             "transformer": _transformer, "tune": _tune}
_ORDER = {command: rank for rank, command in enumerate(RENDERERS)}   # a host's files in this order, then the rest


def setup(app):
    app.add_directive("bwbench-results", BwbenchResults)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
