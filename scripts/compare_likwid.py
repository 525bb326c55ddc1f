"""DRAM copy and triad: bwbench against likwid-bench, alternating, same working set.

For each round, each kernel and thread count, runs bwbench (regular and
non-temporal stores) and likwid-bench's matching AVX-512 kernels (regular and
_mem non-temporal), then keeps the best variant of each tool. likwid-bench
reports data volume / total time (a mean over its iterations), so bwbench is
compared by its median sample as well as by its best one. The host is shared
and noisy, so each ratio is taken within a round (the two tools ran seconds
apart) and the table shows the median of those per-round ratios.

    python scripts/compare_likwid.py [--size 2GB] [--rounds 5]
Needs likwid-bench on PATH (Debian: apt-get install likwid).
"""
import argparse
import statistics

from likwid import likwid_bench

from bwbench import measure_stream
from bwbench.units import parse_size

LIKWID = {"copy": ("copy_avx512", "copy_mem_avx512"),
          "triad": ("stream_avx512", "stream_avx512_fma", "stream_mem_avx512")}


def bwbench_gbps(kernel: str, size: int, threads: int) -> tuple:
    runs = [measure_stream(kernel, variant, threads=threads, size=size) for variant in ("regular", "nt")]
    return max(m.gbps for m in runs), max(m.median_gbps for m in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="2GB", help="total working set (default 2GB)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size = parse_size(args.size)
    cases = [(kernel, threads) for kernel in LIKWID for threads in (1, 2)]
    best, median, likwid = ({case: [] for case in cases} for _ in range(3))
    for round_ in range(args.rounds):
        for case in cases:
            kernel, threads = case
            b, m = bwbench_gbps(kernel, size, threads)
            best[case].append(b)
            median[case].append(m)
            likwid[case].append(max(likwid_bench(test, f"{size}B", threads) for test in LIKWID[kernel]) / 1e3)
        print(f"round {round_ + 1}/{args.rounds} done", flush=True)

    print(f"\nworking set {size / 1e9:g} GB, medians over {args.rounds} rounds, GB/s (1e9 B/s, STREAM bytes)")
    print(f"{'kernel':7}{'threads':>8}{'likwid':>10}{'bwbench best':>14}{'bwbench median':>16}"
          f"{'best/likwid':>13}{'median/likwid':>15}")
    for case in cases:
        ratio_best = statistics.median(b / lw for b, lw in zip(best[case], likwid[case]))
        ratio_median = statistics.median(m / lw for m, lw in zip(median[case], likwid[case]))
        print(f"{case[0]:7}{case[1]:>8}{statistics.median(likwid[case]):>10.2f}"
              f"{statistics.median(best[case]):>14.2f}{statistics.median(median[case]):>16.2f}"
              f"{ratio_best:>13.3f}{ratio_median:>15.3f}")


if __name__ == "__main__":
    main()
