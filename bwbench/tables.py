"""The command line's tables (rich): what each command prints. Never measures."""
import statistics

from rich.table import Table

from bwbench.flops import ceiling_name
from bwbench.transformer import Op
from bwbench.units import format_bytes

LEFT = {"kernel", "variant", "ISA", "fits in", "shape MxNxK", "level", "best kernel", "ceiling", "dtype",
        "op", "group", "machine @ commit"}


def _table(title: str, columns) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in LEFT else "right")
    return table


def stream_table(measurements, threads: int) -> Table:
    table = _table(f"STREAM, float64, {threads} thread(s); GB/s = 1e9 B/s, STREAM byte counts",
                   ("kernel", "variant", "ISA", "threads", "working set", "fits in", "GB/s best", "GB/s median",
                    "CV", "hw GB/s"))
    for m in measurements:
        table.add_row(m.kernel, m.variant, m.isa, str(m.threads), format_bytes(m.working_set_bytes), m.level,
                      f"{m.gbps:.2f}", f"{m.median_gbps:.2f}", f"{m.cv:.1%}", f"{m.hw_gbps:.2f}")
    table.caption = "hw GB/s counts the write-allocate read of every regular store."
    return table


def products_table(command: str, dtype: str, threads: int, measurements) -> Table:
    """bwbench's records, each beside the reference record (numpy's BLAS) of its shape."""
    table = _table(f"{command.upper()}, {dtype}, {threads} thread(s): bwbench against numpy's BLAS, both timed "
                   "alike (AI = FLOP per byte of A, B and C moved once)",
                   ("kernel", "shape MxNxK", "fits in", "AI", "GFLOP/s", "GB/s", "BLAS GFLOP/s", "bwbench/BLAS"))
    references = {(m.kernel, m.shape): m for m in measurements if m.variant == "reference"}
    for m in measurements:
        if m.variant == "reference":
            continue
        blas = references.get((m.kernel, m.shape))
        kernel = m.kernel + (" (A^T x)" if m.variant == "transposed" else "")
        table.add_row(kernel, "x".join(map(str, m.shape)), m.level, f"{m.ai:.2f}", f"{m.gflops:.1f}",
                      f"{m.gbps:.1f}", f"{blas.gflops:.1f}" if blas else "-",
                      f"{m.gflops / blas.gflops:.2f}" if blas else "-")
    libraries = sorted({m.isa for m in references.values()})
    if libraries:
        table.caption = f"BLAS: {', '.join(libraries)}"
    return table


def roofline_tables(roofline, measurements) -> list:
    """Memory ceilings with ridge points, compute ceilings, latency per level."""
    ridges = roofline.to_dict()["ridge_points"]
    memory = _table(f"Memory ceilings, {roofline.threads} thread(s): median GB/s well inside each level",
                    ("level", "read-write GB/s", "best kernel", "read-only GB/s", "points",
                     *(f"ridge {dtype}" for dtype in ridges)))
    read = {c["level"]: c["gbps"] for c in roofline.read_ceilings}
    for c in roofline.memory_ceilings:
        memory.add_row(c["level"], f"{c['gbps']:.1f}", c["kernel"],
                       f"{read[c['level']]:.1f}" if c["level"] in read else "-", str(c["points"]),
                       *(f"{by_level[c['level']]:.2f}" for by_level in ridges.values()))
    memory.caption = ("read-write: copy or triad, write-allocate reads counted below L1; read-only: the load "
                      "kernel (weights and KV caches stream at it); ridge: FLOP/byte where the read-write "
                      "bandwidth meets the FMA peak")
    if roofline.unresolved_levels:
        memory.caption += f"; unresolved (no measured point well inside): {', '.join(roofline.unresolved_levels)}"
    compute = _table("Compute ceilings, GFLOP/s", ("ceiling", "dtype", "threads", "GFLOP/s"))
    for m in measurements:
        if m.kernel == "peak":
            compute.add_row(ceiling_name(m.variant, m.isa), m.dtype, str(m.threads), f"{m.gflops:.1f}")
    latency = _table("Dependent-load latency, 1 thread", ("level", "ns"))
    for entry in roofline.extra.get("latency_ns", []):
        latency.add_row(entry["level"], f"{entry['ns']:.1f}")
    return [memory, compute, latency]


def asv_rooflines_table(entries, source: str) -> Table:
    table = _table(f"Rooflines from {source}", ("machine @ commit", "level", "GB/s", "ridge float64"))
    for label, roofline in entries:
        for ceiling in roofline.memory_ceilings:
            table.add_row(label, ceiling["level"], f"{ceiling['gbps']:.1f}",
                          f"{roofline.ridge_point(ceiling['level']):.2f}")
        table.add_row(label, "peak float64", f"{roofline.peak('float64'):.1f} GFLOP/s", "")
        table.add_section()
    return table


def analysis_table(analysis) -> Table:
    """Every op, then each group's sum, then the total; measured columns when measured."""
    measured = analysis.measured_wall_s is not None
    title = (f"{analysis.model}, {analysis.mode}, seq {analysis.seq}"
             + (f", prompt {analysis.prompt}" if analysis.prompt else "")
             + f", batch {analysis.batch}, {analysis.bytes_per_element:g} B/element, scope {analysis.scope}")
    table = _table(title, ["op", "group", "GFLOPs", "MB", "AI", "bound by", "predicted ms"]
                   + (["measured ms", "predicted/measured", "GFLOP/s", "GB/s"] if measured else []))

    def row(op, name, ceiling=True):
        bound = ""
        if ceiling and op.charged:
            charged, rate = op.ceiling
            bound = f"{charged.replace('read-only', 'read').replace('read-write', 'r/w')} {rate:.1f} " \
                    + ("GFLOP/s" if op.bound == "compute" else "GB/s")
        cells = [name, op.group, f"{op.flops / 1e9:.3f}", f"{op.bytes / 1e6:.1f}", f"{op.ai:.2f}", bound,
                 f"{op.predicted_s * 1e3:.2f}"]
        if measured:
            rate = (lambda amount: f"{amount / op.measured_s / 1e9:.1f}") if op.measured_s else (lambda amount: "-")
            cells += [f"{op.measured_s * 1e3:.2f}",
                      f"{op.predicted_s / op.measured_s:.2f}" if op.measured_s else "-", rate(op.flops), rate(op.bytes)]
        table.add_row(*cells)

    for op in analysis.ops:
        row(op, op.name)
    table.add_section()
    for group, op in analysis.group_totals().items():
        row(op, f"all {group}", ceiling=False)
    table.add_section()
    row(Op("total", "", analysis.total_flops, analysis.total_bytes, predicted_s=analysis.predicted_s,
           measured_s=sum(op.measured_s for op in analysis.ops) if measured else None), "total", ceiling=False)
    record = analysis.to_dict()
    notes = [f"weights read per pass: {analysis.weight_bytes / 1e6:.1f} MB"]
    if "tokens_per_s" in record:
        notes.append(f"predicted {record['tokens_per_s']:.1f} tokens/s")
    if measured:
        notes.append(f"measured end to end: {analysis.measured_wall_s * 1e3:.1f} ms")
        if "measured_tokens_per_s" in record:
            notes.append(f"{record['measured_tokens_per_s']:.1f} tokens/s")
        notes.append(f"predicted/measured (end to end) {analysis.predicted_s / analysis.measured_wall_s:.2f}")
    table.caption = "; ".join(notes)
    return table


def reference_line(analysis, reference: dict) -> str:
    """The reference engine's time beside bwbench's and the prediction."""
    line = (f"{reference['engine']} ({reference['version']}, {reference['threads']} threads): "
            f"{reference['measured_s'] * 1e3:.1f} ms")
    if "tokens_per_s" in reference:
        line += f", {reference['tokens_per_s']:.1f} tokens/s"
    return (line + f"; bwbench {analysis.measured_wall_s * 1e3:.1f} ms, "
            f"{reference['measured_s'] / analysis.measured_wall_s:.2f}x as fast; predicted {analysis.predicted_s * 1e3:.1f} ms")


def bracket_table(bracket: list, drift: dict) -> Table:
    """The ceilings measured right before and right after the run, their drift,
    and which of them the prediction used (ceilings.drift_summary)."""
    table = _table("Ceilings bracketing the run (the prediction uses their mean)",
                   ("ceiling", "unit", "before", "after", "mean", "drift", "used"))
    for entry in bracket:
        used = entry["ceiling"] in drift["used"]
        flag = " (over the limit)" if used and entry["drift"] > drift["limit"] else ""
        table.add_row(entry["ceiling"], entry["unit"], f"{entry['before']:.1f}", f"{entry['after']:.1f}",
                      f"{entry['mean']:.1f}", f"{entry['drift']:.1%}{flag}", "yes" if used else "")
    table.caption = (f"used: bounding ops that take 1% of the predicted time or more; largest drift of a used "
                     f"ceiling: {drift['max']:.1%} ({drift['ceiling']}), "
                     + ("FLAGGED: over " if drift["flagged"] else "within ") + f"the {drift['limit']:.0%} limit")
    return table


def info_table(info: dict) -> Table:
    table = Table(show_header=False, box=None)
    for key in ("cpu", "arch", "isa", "cores"):
        table.add_row(key, str(info[key]))
    for level, size in info["caches"].items():
        table.add_row(f"cache {level}", format_bytes(size))
    table.add_row("last-level cache, whole", format_bytes(info["llc_bytes"]))
    table.add_row("memory", f"{format_bytes(info['memory_bytes'])} "
                            f"({format_bytes(info['memory_available_bytes'])} available)")
    table.add_row("compiler", info["compiler"])
    table.add_row("cflags", info["cflags"])
    for pool in info["threadpools"]:
        library = " ".join(filter(None, (pool["internal_api"], pool.get("version"))))
        table.add_row(f"threadpool {pool['user_api']}", f"{library}, {pool['num_threads']} threads")
    return table


def print_ratios(rows: dict, rounds: int, reference: str) -> None:
    """The closing table of a comparison script (scripts/compare_*.py): medians
    of bwbench, of the reference and of their per-round ratios (the host is
    shared and noisy, so a ratio is only taken between runs seconds apart).
    rows: {figure name: [(bwbench, reference) per round]}."""
    print(f"\nmedians over {rounds} rounds; ratio = median of per-round bwbench/{reference}")
    print(f"{'figure':56}{'bwbench':>10}{reference:>11}{'ratio':>8}")
    for name, pairs in rows.items():
        ours, theirs = zip(*pairs)
        ratio = statistics.median(o / t for o, t in pairs)
        print(f"{name:56}{statistics.median(ours):>10.1f}{statistics.median(theirs):>11.1f}{ratio:>8.3f}")
