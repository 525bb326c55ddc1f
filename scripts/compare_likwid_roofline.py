"""Roofline ceilings against likwid-bench, alternating in the same run.

- FMA peaks: bwbench's float64/float32 FMA ceilings vs likwid-bench
  peakflops_avx512_fma / peakflops_sp_avx512_fma, at 1 and 2 threads.
- Cache load bandwidth at 1 thread: bwbench's L1/L2/L3 load ceilings (the
  median of a working-set sweep well inside each level, as `bwbench roofline`
  builds them) and bwbench's load at likwid's exact sizes, vs likwid-bench
  load_avx512 at 16 kB, 512 kB and 8 MB.
Each ratio is taken within a round; the table shows medians over rounds.

    python scripts/compare_likwid_roofline.py [--rounds 5]
"""
import argparse

from likwid import likwid_bench

from bwbench.ceilings import build_roofline, sweep_sizes
from bwbench.flops import measure_peak
from bwbench.machine import last_level_cache_bytes
from bwbench.stream import measure_stream
from bwbench.tables import print_ratios

PEAKS = {"float64": "peakflops_avx512_fma", "float32": "peakflops_sp_avx512_fma"}
LOADS = {"L1": (16_000, "16kB"), "L2": (512_000, "512kB"), "L3": (8_000_000, "8MB")}


def load_ceilings() -> dict:
    """The 1-thread load ceilings of a roofline sweep, as build_roofline derives them."""
    sizes = sweep_sizes(8, 8 * last_level_cache_bytes())
    roofline = build_roofline([measure_stream("load", "regular", 1, s) for s in sizes], 1)
    return {c["level"]: c["gbps"] for c in roofline.extra["sweep_ceilings"] if c["kernel"] == "load"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = {}  # name -> list of (bwbench, likwid) per round

    def record(name, ours, theirs):
        rows.setdefault(name, []).append((ours, theirs))

    for round_ in range(args.rounds):
        for threads in (1, 2):
            for dtype, test in PEAKS.items():
                record(f"FMA {dtype}, {threads} thread(s), GFLOP/s",
                       measure_peak(dtype, "fma", threads).gflops, likwid_bench(test, "32kB", threads, "MFlops/s") / 1e3)
        ceilings = load_ceilings()
        for level, (size, text) in LOADS.items():
            theirs = likwid_bench("load_avx512", text, 1) / 1e3
            record(f"{level} load ceiling (sweep median), 1 thread, GB/s", ceilings[level], theirs)
            record(f"{level} load at {text}, 1 thread, GB/s", measure_stream("load", "regular", 1, size).gbps, theirs)
        print(f"round {round_ + 1}/{args.rounds} done", flush=True)

    print_ratios(rows, args.rounds, "likwid")


if __name__ == "__main__":
    main()
