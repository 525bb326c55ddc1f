"""Measures everything a roofline needs and builds it: the working-set sweep,
latency, compute ceilings and the intensity ladder.

roofline_plan() lists the measurements as Steps (so a caller can show
progress); build_roofline() turns their results into a Roofline."""
import math
from dataclasses import dataclass
from typing import Callable

from bwbench.flops import DTYPES, LADDER_FLOPS, PEAK_KINDS, ceiling_name, measure_ladder, measure_peak
from bwbench.gemm import measure_product
from bwbench.latency import measure_latency
from bwbench.machine import available_cpus, cache_capacity, caches, cpus_for, last_level_cache_bytes
from bwbench.measure import Measurement
from bwbench.roofline import MEMORY_LEVELS, Roofline, level_values
from bwbench.stream import measure_stream

SWEEP_KERNELS = ("load", "copy", "triad")
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
    steps += [Step(f"peak {kind} {dtype}, {t} thread(s)",
                   lambda kind=kind, dtype=dtype, t=t: measure_peak(dtype, kind, t))
              for t in sorted({1, threads}) for dtype in DTYPES for kind in PEAK_KINDS]
    l2 = level_capacities(threads).get("L2", 2**20)
    ladder_sizes = {"DRAM": 4 * llc, "L2": l2 // 2}
    flops = LADDER_FLOPS[::2] if quick else LADDER_FLOPS
    steps += [Step(f"ladder {f} FLOP/element, {where}-sized",
                   lambda f=f, size=size: measure_ladder(f, size, threads))
              for where, size in ladder_sizes.items() for f in flops]
    tokens = (1, 16, 256) if quick else (1, 4, 16, 64, 256, 1024)
    d = PRODUCT_WIDTH
    steps += [Step(f"gemm {d}x{n}x{d}", lambda n=n: measure_product(d, n, d, "float64", threads))
              for n in tokens]
    return steps


def _sweep_ceilings(measurements):
    """Per kernel and thread count, each level's median bandwidth well inside it,
    in STREAM bytes (gbps) and in hardware traffic (hw_gbps); and the levels
    left unresolved, per thread count."""
    ceilings, unresolved = [], {}
    for kernel, threads in sorted({(m.kernel, m.threads) for m in measurements if m.kernel in SWEEP_KERNELS}):
        runs = [m for m in measurements if (m.kernel, m.threads) == (kernel, threads)]
        capacities = level_capacities(threads)
        stream, missing = level_values([(m.working_set_bytes, m.gbps) for m in runs], capacities)
        hardware, _ = level_values([(m.working_set_bytes, m.hw_gbps) for m in runs], capacities)
        ceilings += [{"level": level, "kernel": kernel, "threads": threads, "gbps": gbps,
                      "hw_gbps": hardware[level][0], "points": count} for level, (gbps, count) in stream.items()]
        unresolved.setdefault(threads, set()).update(missing)
    return ceilings, unresolved


def _traffic(ceiling: dict) -> float:
    """What a sweep kernel really moved at its level: below L1 every regular store
    first fetches its line (write-allocate), so count that; in L1 the lines are
    already there."""
    return ceiling["gbps"] if ceiling["level"] == "L1" else ceiling["hw_gbps"]


def build_roofline(measurements, threads: int) -> Roofline:
    """Memory ceilings: per level, the kernel that moved the most traffic (see
    _traffic), as the median well inside the level, at `threads` threads.
    Compute ceilings: each peak kind at `threads`."""
    sweep, unresolved = _sweep_ceilings(measurements)
    memory = []
    for level in MEMORY_LEVELS:
        candidates = [c for c in sweep if c["level"] == level and c["threads"] == threads]
        if candidates:
            best = max(candidates, key=_traffic)
            memory.append({"level": level, "gbps": _traffic(best), "kernel": best["kernel"],
                           "points": best["points"]})
    missing = sorted(unresolved.get(threads, set()) - {c["level"] for c in memory}, key=MEMORY_LEVELS.index)

    compute = [{"name": ceiling_name(m.variant, m.isa), "dtype": m.dtype, "gflops": m.gflops,
                "threads": m.threads} for m in measurements if m.kernel == "peak" and m.threads == threads]

    chase = [(m.working_set_bytes, m.latency_ns) for m in measurements if m.kernel == "latency"]
    latency, _ = level_values(chase, level_capacities(1))
    extra = {"capacities": level_capacities(threads), "sweep_ceilings": sweep,
             "latency_ns": [{"level": level, "ns": ns, "points": count} for level, (ns, count) in latency.items()]}
    return Roofline(tuple(memory), tuple(compute), threads, tuple(missing), extra)
