"""matplotlib figures of a result (Agg backend, files only). Never measures."""
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bwbench import trends  # noqa: E402
from bwbench.errors import UsageError  # noqa: E402
from bwbench.results import atomic_write  # noqa: E402
from bwbench.link import peak_busbw  # noqa: E402
from bwbench.roofline import Roofline  # noqa: E402
from bwbench.units import format_bytes  # noqa: E402

AI_RANGE = (1 / 32, 256)
GROUP_MARKERS = {"projection": "o", "attention": "s", "ffn": "^", "other": "v", "embedding": "P", "lm_head": "X",
                 "step": "*"}


def _save_all(figure, out_dir: str, names) -> list:
    """Saves a figure under each name (the extension picks the format), then closes it."""
    paths = [os.path.join(out_dir, name) for name in names]
    for path in paths:
        _save(figure, path)
    plt.close(figure)
    return paths


def _save(figure, path: str) -> None:
    with atomic_write(path, "wb") as f:
        figure.savefig(f, format=os.path.splitext(path)[1][1:], dpi=120, bbox_inches="tight")


def _link_roof(ax, link: dict, peak: float) -> None:
    """The measured link as a third roof: all-reduce bus bandwidth, where the
    intensity counts FLOPs per byte each rank sends through the link."""
    gbps, lo = peak_busbw(link), AI_RANGE[0]
    hosts = ", ".join(sorted({p["host"] for p in link["placement"]}))
    ax.plot([lo, peak / gbps], [lo * gbps, peak], "--", color="black", lw=1.5,
            label=f"link: all-reduce bus bandwidth {gbps:.2f} GB/s ({link['ranks']} ranks on {hosts}); "
                  "x = FLOP per byte communicated")


def roofline_figure(roofline: Roofline, measurements, points=(), link=None):
    """Log-log roofline (float64 ceilings solid, float32 FMA dashed), ridge
    points marked, the measured ladder and any extra `points` overlaid, and
    with `link` (a saved interconnect section) the all-reduce roof.

    points: transformer.overlay_points() dicts: 'label', 'ai', 'gflops', 'group', 'mode'."""
    figure, ax = plt.subplots(figsize=(12, 6))
    lo, hi = AI_RANGE
    peak = roofline.peak("float64")
    colours = {}
    if link:
        _link_roof(ax, link, peak)
    for ceiling in roofline.memory_ceilings:   # named in the legend: their labels would overlap
        ridge = roofline.ridge_point(ceiling["level"])
        line, = ax.plot([lo, ridge], [lo * ceiling["gbps"], peak], lw=1.5,
                        label=f"{ceiling['level']} read-write {ceiling['gbps']:.1f} GB/s, "
                              f"ridge at {ridge:.2f} FLOP/byte")
        ax.plot([ridge], [peak], "o", color=line.get_color(), ms=5)
        colours[ceiling["level"]] = line.get_color()
    for ceiling in roofline.read_ceilings:     # read-only streams (weights, a KV cache): the load kernel
        ridge = peak / ceiling["gbps"]
        ax.plot([lo, ridge], [lo * ceiling["gbps"], peak], "--", lw=1.2, color=colours.get(ceiling["level"]),
                label=f"{ceiling['level']} read-only {ceiling['gbps']:.1f} GB/s")
    l1 = max(c["gbps"] for c in roofline.memory_ceilings)
    for ceiling in roofline.compute_ceilings:
        if ceiling["dtype"] == "float32" and not ceiling["name"].startswith("fma"):
            continue
        style = "-" if ceiling["dtype"] == "float64" else "--"
        ax.plot([ceiling["gflops"] / l1, hi], [ceiling["gflops"]] * 2, style, color="0.3", lw=1)
        above = ceiling["name"].startswith("fma")  # FMA and plain SIMD lie close: label one above, one below
        ax.text(hi, ceiling["gflops"] * (1.04 if above else 0.96),
                f"{ceiling['name']} {ceiling['dtype']}: {ceiling['gflops']:.1f} GFLOP/s",
                fontsize=8, ha="right", va="bottom" if above else "top", color="0.2")
    for where, marker in (("DRAM", "s"), ("L2", "^")):
        ladder = [m for m in measurements if m.kernel == "ladder" and m.level == where]
        if ladder:
            ax.plot([m.ai for m in ladder], [m.gflops for m in ladder], marker, ms=5, mfc="none",
                    color="black", label=f"measured ladder, {where}-sized ({format_bytes(ladder[0].working_set_bytes)})")
    products = [m for m in measurements if m.kernel in ("gemm", "gemv") and m.dtype == "float64"]
    for m_, k_ in sorted({(m.shape[0], m.shape[2]) for m in products}):
        walk = sorted((m for m in products if (m.shape[0], m.shape[2]) == (m_, k_)), key=lambda m: m.shape[1])
        ax.plot([m.ai for m in walk], [m.gflops for m in walk], "D-", ms=5, lw=0.8, color="tab:purple",
                label=f"bwbench GEMV/GEMM {m_} x N x {k_}, float64")
        for m in walk:
            ax.annotate(f"N={m.shape[1]}", (m.ai, m.gflops), textcoords="offset points", xytext=(4, -10),
                        fontsize=7, color="tab:purple")
    for point in points:  # encoders filled, decoders hollow
        ax.plot([point["ai"]], [point["gflops"]], GROUP_MARKERS[point["group"]], ms=7,
                mfc="none" if point["mode"] == "decoder" else None, label=point["label"])
    ax.set(xscale="log", yscale="log", xlim=AI_RANGE, xlabel="arithmetic intensity (FLOP/byte)",
           ylabel="GFLOP/s", title=f"Roofline, {roofline.threads} thread(s); dots: ridge points")
    ax.grid(True, which="both", alpha=0.2)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return figure


def bandwidth_figure(measurements, caches: dict):
    """GB/s (top) and load latency (bottom) against working set, caches marked."""
    figure, (bw, lat) = plt.subplots(2, 1, figsize=(9, 8), sharex=True)
    series = sorted({(m.kernel, m.threads) for m in measurements if m.kernel in ("load", "read", "copy", "triad")})
    for kernel, threads in series:
        points = sorted((m.working_set_bytes, m.gbps) for m in measurements
                        if (m.kernel, m.threads) == (kernel, threads))
        bw.plot(*zip(*points), ".-", label=f"{kernel}, {threads} thread(s)")
    chase = sorted((m.working_set_bytes, m.latency_ns) for m in measurements if m.kernel == "latency")
    if chase:
        lat.plot(*zip(*chase), ".-", color="black", label="dependent load, 1 thread")
    for ax in (bw, lat):
        for name, size in caches.items():
            ax.axvline(size, color="0.5", ls=":", lw=1)
            ax.text(size, 1.0, f" {name} {format_bytes(size)}", transform=ax.get_xaxis_transform(),
                    fontsize=7, va="top", color="0.3")
        ax.set_xscale("log", base=2)
        ax.grid(True, which="both", alpha=0.2)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    bw.set(yscale="log", ylabel="GB/s (STREAM bytes)", title="Bandwidth and latency by working set "
                                                            "(dotted: one core's caches)")
    lat.set(yscale="log", ylabel="latency (ns)", xlabel="working set (bytes)")
    return figure


def loaded_latency_figure(points: list, read_gbps: float = None):
    """MLC's loaded-latency curve: the chase's latency against the load threads'
    bandwidth, from idle (left) to no delay (right); the read ceiling dashed."""
    figure, ax = plt.subplots(figsize=(7, 4.5))
    ordered = sorted(points, key=lambda p: p["gbps"])
    ax.plot([p["gbps"] for p in ordered], [p["latency_ns"] for p in ordered], "o-", color="tab:red",
            label=f"1 thread chasing, {points[0]['load_threads']} loading ({points[0]['mix']})")
    if read_gbps:
        ax.axvline(read_gbps, color="0.4", ls="--", lw=1, label=f"DRAM read ceiling {read_gbps:.1f} GB/s")
    ax.set(xlabel="load threads' bandwidth (GB/s)", ylabel="DRAM latency (ns)", ylim=(0, None),
           title="Latency under load (delay stepped from none to idle)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return figure


def write_loaded_latency(points: list, out_dir: str, read_gbps: float = None) -> list:
    return _save_all(loaded_latency_figure(points, read_gbps), out_dir, ("loaded-latency.png", "loaded-latency.svg"))


def write_figures(document: dict, out_dir: str) -> list:
    """roofline.png, roofline.svg and bandwidth.png of a result document, with
    its `overlay` points (transformer operations) and `interconnect` link roof if any;
    and loaded-latency.png and .svg where the roofline holds the loaded-latency curve."""
    roofline = Roofline.from_dict(document["roofline"])
    measurements = document["measurements"]
    overlay = document.get("overlay", [])
    if not all(isinstance(p, dict) and {"label", "ai", "gflops", "mode"} <= p.keys()
               and p.get("group") in GROUP_MARKERS for p in overlay):
        raise UsageError("malformed `overlay` in the result: redo it with `bwbench roofline --models`")
    return (_save_all(roofline_figure(roofline, measurements, overlay, document.get("interconnect")), out_dir,
                      ("roofline.png", "roofline.svg"))
            + _save_all(bandwidth_figure(measurements, document["machine"].get("caches", {})), out_dir,
                        ("bandwidth.png",))
            + (write_loaded_latency(roofline.extra["loaded_latency"], out_dir, _dram_read(roofline))
               if roofline.extra.get("loaded_latency") else []))


def _dram_read(roofline: Roofline):
    try:
        return roofline.bandwidth("DRAM", "read")
    except UsageError:
        return None


def figure3(analyses: dict, seqs, measured: bool):
    """The paper's Figure 3: total FLOPs, total bytes, arithmetic intensity and
    latency normalised to the first model at the first sequence length, as
    grouped bars per sequence length. analyses: {(model, seq): Analysis}."""
    models = list(dict.fromkeys(model for model, _ in analyses))
    latency = {key: (a.measured_wall_s if measured else a.predicted_s) for key, a in analyses.items()}
    base = latency[models[0], seqs[0]]
    panels = [("(a) FLOPs (GFLOPs)", lambda a, key: a.total_flops / 1e9),
              ("(b) MOPs (GB moved)", lambda a, key: a.total_bytes / 1e9),
              ("(c) arithmetic intensity (FLOP/byte)", lambda a, key: a.total_flops / a.total_bytes),
              (f"(d) latency, {'measured' if measured else 'predicted'}, normalised to {models[0]} at {seqs[0]}",
               lambda a, key: latency[key] / base)]
    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    width = 0.8 / len(models)
    for ax, (title, value) in zip(axes.flat, panels):
        for i, model in enumerate(models):
            ax.bar([j + i * width for j in range(len(seqs))],
                   [value(analyses[model, seq], (model, seq)) for seq in seqs], width, label=model)
        ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(seqs))], [str(s) for s in seqs])
        ax.set(title=title, xlabel="sequence length", yscale="log")
        ax.grid(True, axis="y", which="both", alpha=0.2)
    axes[0, 0].legend(fontsize=8)
    sample = next(iter(analyses.values()))
    figure.suptitle(f"Transformer inference on this CPU, batch {sample.batch}, {sample.bytes_per_element:g} B/element, "
                    f"scope {sample.scope} (encoders: one pass; gpt2: generating seq tokens; "
                    "each measured as the median of five runs)", fontsize=10)
    figure.tight_layout()
    return figure


def write_figure3(analyses: dict, seqs, out_dir: str, measured: bool) -> list:
    return _save_all(figure3(analyses, seqs, measured), out_dir, ("figure3.png", "figure3.svg"))


def quant_figure(result: dict):
    """Tokens/s of one decode step against bits per weight, one colour per
    level: measured (the GEMV's weight GB/s over the model's weight bytes)
    solid, predicted (bwbench.quant_roofline) dashed. result: the `quant` section."""
    figure, ax = plt.subplots(figsize=(9, 6))
    formats = result["formats"]
    bits = [entry["bits_per_weight"] for entry in formats.values()]
    for level in dict.fromkeys(level for entry in formats.values() for level in entry["levels"]):
        rows = [entry["levels"][level] for entry in formats.values()]
        line, = ax.plot(bits, [row["measured_tokens_per_s"] for row in rows], "o-", label=f"{level}: measured")
        ax.plot(bits, [row["predicted_tokens_per_s"] for row in rows], "--", color=line.get_color(),
                label=f"{level}: predicted")
    ax.set_xscale("log", base=2)
    ax.set_xticks(bits, [f"{fmt}\n{b:g}" for fmt, b in zip(formats, bits)])
    ax.minorticks_off()
    ax.set(yscale="log", xlabel="bits per weight", ylabel="tokens/s",
           title=f"One {result['model']} decode step with its weights in each level, {result['threads']} "
                 "thread(s)\n(predicted: min of read-only bandwidth / weight bytes and unpack rate / FLOPs)")
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return figure


def write_quant(result: dict, out_dir: str) -> list:
    return _save_all(quant_figure(result), out_dir, ("quant.png", "quant.svg"))


def sweep_figure(record: dict, roofline: Roofline):
    """S_TG against the batch on log axes: per format and depth, the measured
    points (and the reference engine's, open squares) and the predicted curve,
    the memory-bound line of slope 1 through B = 1's prediction, and the
    compute ceiling (float32 peak over the FLOPs a token). record: a sweep's
    `transformer` section."""
    figure, ax = plt.subplots(figsize=(9, 6))
    cells = record["sweep"]
    peak = roofline.peak("float32")
    for fmt, depth, prompt in dict.fromkeys((c["format"], c["depth"], c["prompt"]) for c in cells):
        mine = sorted((c for c in cells if (c["format"], c["depth"], c["prompt"]) == (fmt, depth, prompt)),
                      key=lambda c: c["batch"])
        batches = [c["batch"] for c in mine]
        label = f"{fmt}, depth {depth}" + (f", prompt {prompt}" if prompt else "")
        line, = ax.plot(batches, [c["predicted_s_tg"] for c in mine], "--", label=f"{label}: predicted")
        measured = [c for c in mine if c.get("s_tg")]
        if measured:
            ax.plot([c["batch"] for c in measured], [c["s_tg"] for c in measured], "o", color=line.get_color(),
                    label=f"{label}: measured")
        referenced = [c for c in mine if "reference" in c]
        if referenced:
            ax.plot([c["batch"] for c in referenced], [c["reference"]["s_tg"] for c in referenced], "s",
                    mfc="none", color=line.get_color(), label=f"{label}: {referenced[0]['reference']['engine']}")
        first = mine[0]
        per_token = first["tg_flops"] / (first["batch"] * first["generated"])
        ax.plot(batches, [first["predicted_s_tg"] * b / first["batch"] for b in batches], ":", lw=1,
                color=line.get_color(), label=f"{label}: bound by memory (slope 1)")
        ax.axhline(peak * 1e9 / per_token, color=line.get_color(), lw=0.8, alpha=0.6)
    knees = "; ".join(f"{fmt} knee: predicted {k['predicted']}, measured {k['measured']}"
                      for fmt, k in record.get("knee", {}).items())
    ax.set(xscale="log", yscale="log", xlabel="batch B (sequences decoding together)",
           ylabel="S_TG, generated tokens/s",
           title=f"{record['model']}: generation speed against the batch\n(horizontal: the float32 peak over "
                 f"the FLOPs a token; {knees})")
    ax.set_xscale("log", base=2)
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return figure


def sweep_points(record: dict) -> list:
    """Each measured cell's decode steps on the roofline: intensity and attained GFLOP/s."""
    return [{"label": f"{c['format']} B={c['batch']} depth {c['depth']}: {c['s_tg']:.1f} tokens/s",
             "ai": c["tg_flops"] / c["tg_bytes"], "gflops": c["tg_flops"] / c["t_tg_s"] / 1e9, "group": "step",
             "mode": "decoder"} for c in record["sweep"] if c.get("t_tg_s")]


def write_sweep(record: dict, roofline: Roofline, out_dir: str) -> list:
    return (_save_all(sweep_figure(record, roofline), out_dir, ("sweep.png", "sweep.svg"))
            + _save_all(roofline_figure(roofline, [], sweep_points(record)), out_dir,
                        ("sweep-roofline.png", "sweep-roofline.svg")))


def compare_figure(entries, dtype: str = "float64"):
    """Several rooflines in one figure (machines or commits), one colour each;
    line style tells the memory level. entries: (label, Roofline) pairs."""
    figure, ax = plt.subplots(figsize=(12, 6))
    lo, hi = AI_RANGE
    styles = {"L1": ":", "L2": "-.", "L3": "--", "DRAM": "-"}
    for (label, roofline), colour in zip(entries, plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        peak = roofline.peak(dtype)
        for ceiling in roofline.memory_ceilings:
            ridge = roofline.ridge_point(ceiling["level"], dtype)
            ax.plot([lo, ridge], [lo * ceiling["gbps"], peak], styles[ceiling["level"]], color=colour, lw=1.3)
        ax.plot([min(roofline.ridge_points(dtype).values()), hi], [peak, peak], "-", color=colour, lw=1.3,
                label=f"{label}: {dtype} peak {peak:.1f} GFLOP/s, " + ", ".join(
                    f"{c['level']} {c['gbps']:.0f}" for c in roofline.memory_ceilings) + " GB/s")
    for level, style in styles.items():
        ax.plot([], [], style, color="0.4", label=level)
    ax.set(xscale="log", yscale="log", xlim=AI_RANGE, xlabel="arithmetic intensity (FLOP/byte)",
           ylabel="GFLOP/s", title=f"Rooflines from asv results ({dtype})")
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return figure


def write_compare_figures(entries, out_dir: str) -> list:
    return _save_all(compare_figure(entries), out_dir, ("roofline.png", "roofline.svg"))


def trends_figure(points: dict, host: dict):
    """Figure 1: each series normalised to its first point, its fit, and this
    host's measured points as stars. points, host: bwbench.trends.load_points(), host_points()."""
    figure, ax = plt.subplots(figsize=(10, 6))
    for (name, series), colour in zip(points.items(), ("tab:green", "tab:blue", "tab:red")):
        scale = trends.base(series)
        ax.plot([p.year for p in series], [p.value / scale for p in series], "o", color=colour, ms=5)
        slope, intercept = trends.fit_line(series)
        ends = [min(p.year for p in series), max(p.year for p in series)]
        ax.plot(ends, [math.exp(intercept + slope * year) / scale for year in ends], "-", color=colour,
                label=f"{trends.SERIES[name][0]}: {math.exp(2 * slope):.2f}x / 2 years "
                      f"(paper {trends.SERIES[name][3]}x), {len(series)} points")
        if name in host:
            p = host[name]
            ax.plot([p.year], [p.normalised], "*", color=colour, ms=16, mec="black",
                    label=f"this host: {p.label}, {p.value:.3g} {trends.SERIES[name][2]}")
    ax.set(yscale="log", xlabel="year", ylabel="scaling (normalised to the first point of each series)",
           title="Figure 1 of \"AI and Memory Wall\": peak compute, DRAM and interconnect bandwidth")
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=8, loc="upper left")
    return figure


def write_trends(points: dict, host: dict, out_dir: str) -> list:
    return _save_all(trends_figure(points, host), out_dir, ("trends.png", "trends.svg"))
