"""Measures everything a roofline needs and builds it: the working-set sweep,
latency, compute ceilings and the intensity ladder.

roofline_plan() lists the measurements as Steps (so a caller can show
progress); build_roofline() turns their results into a Roofline."""
import math
import statistics
from dataclasses import dataclass
from typing import Callable

from bwbench import memory_spec, mixes, quant, write_allocate
from bwbench.clock import measure_clock, theoretical
from bwbench.flops import DTYPES, LADDER_FLOPS, PEAK_KINDS, ceiling_name, measure_ladder, measure_peak
from bwbench.gemm import measure_product
from bwbench.latency import measure_latency
from bwbench.machine import available_cpus, cache_capacity, caches, cpus_for, last_level_cache_bytes
from bwbench.measure import Measurement
from bwbench.roofline import MEMORY_LEVELS, Roofline, level_values, level_windows
from bwbench.stream import measure_stream

SWEEP_KERNELS = ("load", "read", "copy", "triad")
READ_ONLY = ("load", "read")   # one run a thread (STREAM, likwid-bench), and the tuned read ceiling
DRIFT_LIMIT = 0.15  # a bracket whose ceilings moved more than this is flagged
# A model run lasts seconds, over which a shared host's DRAM bandwidth swings by
# tens of percent; the best 1 ms sample overstates what such a run meets, so a
# bracket takes more samples and predicts from the median one.
BRACKET_SAMPLES, BRACKET_SAMPLE = 20, "median"
SWEEP_START = 4 * 1024
PRODUCT_WIDTH = 4096  # a DRAM-sized float64 matrix, walked up the roofline by its N


@dataclass(frozen=True)
class Step:
    description: str
    run: Callable[[], Measurement]


def sweep_sizes(points_per_decade: int, end: int) -> list:
    """A geometric ladder of working sets from 4 KiB to at least `end`, in whole cache lines."""
    count = math.ceil(points_per_decade * math.log10(end / SWEEP_START)) + 1
    ratio = (end / SWEEP_START) ** (1 / (count - 1))
    return sorted({round(SWEEP_START * ratio**i / 192) * 192 for i in range(count)})


def level_capacities(threads: int) -> dict:
    """{'L1': bytes, 'L2': ..., 'L3': ...} that the first `threads` CPUs reach together."""
    cpus = cpus_for(threads)
    return {name.rstrip("d"): cache_capacity(name, cpus) for name in sorted(caches(), key=lambda n: int(n[1]))}


def roofline_plan(threads: int = None, quick: bool = False) -> list:
    """Every measurement of a roofline run. quick: fewer sweep points, the sweep
    and ladder at all threads only, every other ladder step."""
    threads = threads or available_cpus()
    llc = last_level_cache_bytes() or 2**25
    sizes = sweep_sizes(4 if quick else 8, 8 * llc)
    counts = sorted({threads} if quick else {1, threads})
    steps = [Step(f"{kernel} {size} B, {t} thread(s)",
                  lambda kernel=kernel, size=size, t=t: measure_stream(kernel, "regular", t, size))
             for t in counts for kernel in SWEEP_KERNELS for size in sizes]
    steps += [Step(f"latency {size} B", lambda size=size: measure_latency(size)) for size in sizes]
    steps.append(Step(f"clock, {threads} thread(s)", lambda: measure_clock(threads)))
    steps += [Step(f"peak {kind} {dtype}, {t} thread(s)",
                   lambda kind=kind, dtype=dtype, t=t: measure_peak(dtype, kind, t))
              for t in sorted({1, threads}) for dtype in DTYPES for kind in PEAK_KINDS]
    l2 = level_capacities(threads).get("L2", 2**20)
    ladder_sizes = {"DRAM": 4 * llc, "L2": l2 // 2}
    flops = LADDER_FLOPS[::2] if quick else LADDER_FLOPS
    steps += [Step(f"ladder {f} FLOP/element, {where}-sized",
                   lambda f=f, size=size: measure_ladder(f, size, threads))
              for where, size in ladder_sizes.items() for f in flops]
    steps += [Step(*step) for step in write_allocate.plan(threads)]
    if not quick:   # triad: in the sweep
        steps += [Step(*step) for step in mixes.plan([m for m in mixes.parse_mixes(",".join(mixes.DEFAULT_MIXES))
                                                      if m != "triad"], threads)]
    tokens = (1, 16, 256) if quick else (1, 4, 16, 64, 256, 1024)
    d = PRODUCT_WIDTH
    steps += [Step(f"gemm {d}x{n}x{d}", lambda n=n: measure_product(d, n, d, "float64", threads))
              for n in tokens]
    return steps


def _rate(m, amount: float, sample: str) -> float:
    """amount (bytes or FLOPs) per second, in 1e9 units, at the best or the median sample."""
    return amount / (m.best_s if sample == "best" else m.median_s) / 1e9


def _sweep_ceilings(measurements, sample: str = "best"):
    """Per kernel and thread count, each level's median bandwidth well inside it,
    in STREAM bytes (gbps) and in hardware traffic (hw_gbps); and the levels
    left unresolved, per thread count."""
    ceilings, unresolved = [], {}
    for kernel, threads in sorted({(m.kernel, m.threads) for m in measurements if m.kernel in SWEEP_KERNELS}):
        runs = [m for m in measurements if (m.kernel, m.threads) == (kernel, threads)]
        capacities = level_capacities(threads)
        stream, missing = level_values([(m.working_set_bytes, _rate(m, m.bytes, sample)) for m in runs], capacities)
        hardware, _ = level_values([(m.working_set_bytes, _rate(m, m.hw_bytes, sample)) for m in runs], capacities)
        ceilings += [{"level": level, "kernel": kernel, "threads": threads, "gbps": gbps,
                      "hw_gbps": hardware[level][0], "points": count} for level, (gbps, count) in stream.items()]
        unresolved.setdefault(threads, set()).update(missing)
    return ceilings, unresolved


def _traffic(ceiling: dict, found: dict = None) -> float:
    """What a sweep kernel really moved at its level: in L1 the lines are already
    there; below it a regular store first fetches its line (write-allocate)
    where the host's measured finding says so (bwbench.write_allocate), and
    where nothing was measured that is assumed, as STREAM's hardware count does."""
    if ceiling["level"] == "L1" or not (found or {}).get(ceiling["level"], {}).get("write_allocate", True):
        return ceiling["gbps"]
    return ceiling["hw_gbps"]


def build_roofline(measurements, threads: int, sample: str = "best") -> Roofline:
    """Memory ceilings (the read-write roof): per level, the storing kernel
    that moved the most traffic (see _traffic), as the median well inside the
    level, at `threads` threads; the read kernel's medians stay in the sweep
    ceilings as the read-only roof (and load's, one run a thread, beside them). Compute ceilings: each peak kind at
    `threads`, the median of its measurements. sample: each measurement's
    "best" sample (STREAM's rule) or its "median" one."""
    sweep, unresolved = _sweep_ceilings(measurements, sample)
    found = write_allocate.finding([m for m in measurements if m.threads == threads])
    traffic = lambda c: _traffic(c, found)
    memory = []
    for level in MEMORY_LEVELS:
        candidates = [c for c in sweep if c["level"] == level and c["threads"] == threads and c["kernel"] not in READ_ONLY]
        if candidates:
            best = max(candidates, key=traffic)
            memory.append({"level": level, "gbps": traffic(best), "kernel": best["kernel"],
                           "points": best["points"]})
    missing = sorted(unresolved.get(threads, set()) - {c["level"] for c in memory}, key=MEMORY_LEVELS.index)

    peaks = {}
    for m in measurements:
        if m.kernel == "peak" and m.threads == threads:
            peaks.setdefault((ceiling_name(m.variant, m.isa), m.dtype), []).append(_rate(m, m.flops, sample))
    compute = [{"name": name, "dtype": dtype, "gflops": statistics.median(values), "threads": threads}
               for (name, dtype), values in peaks.items()]

    unpack = {}
    for m in measurements:
        if m.kernel == "gemv" and m.dtype in quant.FORMATS and m.threads == threads:
            unpack.setdefault(m.dtype, []).append(_rate(m, m.flops, sample))
    chase = [(m.working_set_bytes, m.latency_ns) for m in measurements if m.kernel == "latency"]
    latency, _ = level_values(chase, level_capacities(1))
    extra = {"capacities": level_capacities(threads), "sweep_ceilings": sweep, "sample": sample,
             "latency_ns": [{"level": level, "ns": ns, "points": count} for level, (ns, count) in latency.items()]}
    if found:
        extra["write_allocate"] = found
    mix_runs = [m for m in measurements if m.kernel.startswith("mix ") and m.threads == threads]
    if mix_runs:
        extra["mixes"] = mixes.section(mix_runs)
    clocks = [m for m in measurements if m.kernel == "clock" and m.threads == threads]
    if clocks:   # the clock under load: compute ceilings as fractions of the theoretical peak
        extra["theoretical_peak"] = theoretical(clocks[-1], compute)
        extra["memory_theoretical"] = memory_spec.theoretical_bandwidth()
    if unpack:   # GFLOP/s of each weight format's GEMV in cache: its unpack ceiling
        extra["unpack"] = {fmt: statistics.median(values) for fmt, values in unpack.items()}
    return Roofline(tuple(memory), tuple(compute), threads, tuple(missing), extra)


UNPACK_COLS = 4096  # the in-cache GEMV that measures a weight format's unpack rate: rows of this many weights


def unpack_step(weights: str, threads: int) -> Step:
    """A weight format's unpack rate: its GEMV with the weights in an eighth
    of the last-level cache (GFLOP/s, 2 a weight): DRAM does not limit it,
    nor does the last-level cache's own bandwidth (at half of it, bf16 and
    q8_0 measured 30-40% slower here), and a thousand rows share each
    quantised x, as in a model's layers."""
    rows = max(8, (last_level_cache_bytes() or 2**25) // 8 // quant.row_bytes(weights, UNPACK_COLS) // 8 * 8)
    return Step(f"unpack {weights}, {threads} thread(s)",
                lambda: quant.measure_gemv(rows, UNPACK_COLS, weights, threads, BRACKET_SAMPLES))


def bracket_plan(threads: int, weights: str = None) -> list:
    """The ceilings a transformer prediction uses, measured in seconds: load
    and the tuned read (read-only) and copy and triad (read-write) at one working set well inside
    each level, and the FMA peaks, BRACKET_SAMPLES samples each. Run right
    before and right after a model run, the two rooflines give the prediction
    (their mean) and the drift."""
    capacities = level_capacities(threads)
    sizes = {level: math.sqrt(low * high) if low else high / 2
             for level, (low, high) in level_windows(capacities).items() if level != "DRAM"}
    # DRAM: each array of the three-array kernels at least 4x the last-level cache (STREAM's rule)
    sizes["DRAM"] = 12 * (last_level_cache_bytes() or 2**25)
    # the peaks first: they bring the cores to speed before the short cache-sized runs
    steps = [Step(f"peak fma {dtype}, {threads} thread(s)",
                  lambda dtype=dtype: measure_peak(dtype, "fma", threads, BRACKET_SAMPLES)) for dtype in DTYPES]
    if weights in quant.FORMATS:
        steps.append(unpack_step(weights, threads))
    return steps + [Step(f"{kernel} {level}-sized, {threads} thread(s)",
                         lambda kernel=kernel, size=size: measure_stream(kernel, "regular", threads,
                                                                         round(size / 192) * 192, BRACKET_SAMPLES))
                    for level, size in sizes.items() for kernel in SWEEP_KERNELS]


def measure_bracket(threads: int, run_steps: Callable, label: str, weights: str = None) -> list:
    """The bracket's measurements, after one discarded warm-up run of the
    float32 peak: the first measurement a process makes runs slow."""
    warm_up = Step("warm-up", lambda: measure_peak("float32", "fma", threads))
    return run_steps(label, [warm_up] + bracket_plan(threads, weights))[1:]


def bracketed(run: Callable, threads: int, run_steps: Callable, weights: str = None) -> tuple:
    """(run()'s result, roofline before, roofline after, their mean): the
    bracket measured right before and right after run(). run_steps(label,
    steps) runs Steps and returns their measurements."""
    before = measure_bracket(threads, run_steps, "ceilings before the run", weights)
    result = run()
    after = measure_bracket(threads, run_steps, "ceilings after the run", weights)
    # each level's median of two points, and each peak's median of two, is their mean
    return (result, *(build_roofline(ms, threads, BRACKET_SAMPLE) for ms in (before, after, before + after)))


def bracket_drift(before: Roofline, after: Roofline) -> list:
    """Each ceiling the prediction may use, before and after, and its drift:
    abs(after - before) / their mean."""
    def rows(roofline):
        values = {(f"{c['level']} read-only", "GB/s"): c["gbps"] for c in roofline.read_ceilings}
        values.update({(f"{c['level']} read-write", "GB/s"): c["gbps"] for c in roofline.memory_ceilings})
        values.update({(f"peak {c['dtype']}", "GFLOP/s"): c["gflops"] for c in roofline.compute_ceilings})
        values.update({(f"unpack {fmt}", "GFLOP/s"): rate for fmt, rate in roofline.extra.get("unpack", {}).items()})
        return values

    first, second = rows(before), rows(after)
    return [{"ceiling": name, "unit": unit, "before": first[name, unit], "after": second[name, unit],
             "mean": (first[name, unit] + second[name, unit]) / 2,
             "drift": abs(second[name, unit] - first[name, unit]) * 2 / (first[name, unit] + second[name, unit])}
            for name, unit in first if (name, unit) in second]


def drift_summary(bracket: list, used) -> dict:
    """The largest drift among the ceilings a prediction used (names as in
    bracket_drift), and whether it passes DRIFT_LIMIT."""
    rows = [row for row in bracket if row["ceiling"] in used]
    worst = max(rows, key=lambda row: row["drift"])
    return {"max": worst["drift"], "ceiling": worst["ceiling"], "limit": DRIFT_LIMIT,
            "flagged": worst["drift"] > DRIFT_LIMIT, "used": sorted(used)}
