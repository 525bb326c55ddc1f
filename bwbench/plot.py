"""matplotlib figures of a result (Agg backend, files only). Never measures."""
import os
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bwbench.roofline import Roofline  # noqa: E402
from bwbench.units import format_bytes  # noqa: E402

AI_RANGE = (1 / 32, 256)


def _save(figure, path: str) -> None:
    """Renders to a temporary file beside path, then renames: never half a file."""
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".bwbench-", suffix=os.path.splitext(name)[1])
    os.close(fd)
    try:
        figure.savefig(tmp, dpi=120, bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def roofline_figure(roofline: Roofline, measurements, points=()):
    """Log-log roofline (float64 ceilings solid, float32 FMA dashed), ridge
    points marked, the measured ladder and any extra `points` overlaid.

    points: dicts with 'label', 'ai', 'gflops' and optionally 'marker'."""
    figure, ax = plt.subplots(figsize=(9, 6))
    lo, hi = AI_RANGE
    peak = roofline.peak("float64")
    for ceiling in roofline.memory_ceilings:   # named in the legend: their labels would overlap
        ridge = roofline.ridge_point(ceiling["level"])
        line, = ax.plot([lo, ridge], [lo * ceiling["gbps"], peak], lw=1.5,
                        label=f"{ceiling['level']} {ceiling['gbps']:.1f} GB/s, ridge at {ridge:.2f} FLOP/byte")
        ax.plot([ridge], [peak], "o", color=line.get_color(), ms=5)
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
    for point in points:
        ax.plot([point["ai"]], [point["gflops"]], point.get("marker", "D"), ms=6, label=point["label"])
    ax.set(xscale="log", yscale="log", xlim=AI_RANGE, xlabel="arithmetic intensity (FLOP/byte)",
           ylabel="GFLOP/s", title=f"Roofline, {roofline.threads} thread(s); dots: ridge points")
    ax.grid(True, which="both", alpha=0.2)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    return figure


def bandwidth_figure(measurements, caches: dict):
    """GB/s (top) and load latency (bottom) against working set, caches marked."""
    figure, (bw, lat) = plt.subplots(2, 1, figsize=(9, 8), sharex=True)
    series = sorted({(m.kernel, m.threads) for m in measurements if m.kernel in ("load", "copy", "triad")})
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


def write_figures(document: dict, out_dir: str, points=()) -> list:
    """roofline.png, roofline.svg and bandwidth.png of a result document."""
    roofline = Roofline.from_dict(document["roofline"])
    measurements = document["measurements"]
    written = []
    figure = roofline_figure(roofline, measurements, points)
    for name in ("roofline.png", "roofline.svg"):
        _save(figure, os.path.join(out_dir, name))
        written.append(os.path.join(out_dir, name))
    plt.close(figure)
    figure = bandwidth_figure(measurements, document["machine"].get("caches", {}))
    _save(figure, os.path.join(out_dir, "bandwidth.png"))
    plt.close(figure)
    return written + [os.path.join(out_dir, "bandwidth.png")]
