"""DRAM-sized GEMV in every weight format against the read-only DRAM ceiling
(the tuned read kernel) measured right beside it, rounds alternating; medians of the
per-round ratios of weight GB/s (median samples) to the read kernel's.

    python scripts/quant_gemv_check.py [--rounds 5] [--threads N] [--cols 4096] [--formats q4_K,q6_K]
"""
import argparse
import statistics

from bwbench import quant, tune
from bwbench.gemm import measure_gemv
from bwbench.machine import check_threads, last_level_cache_bytes
from bwbench.stream import measure_stream

FORMATS = ("float32",) + quant.FORMATS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--cols", type=int, default=4096)
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma list (default: every format)")
    args = parser.parse_args()
    threads = check_threads(args.threads)
    tune.ensure(threads)   # the tuned read kernel and GEMV shapes, as every command that measures uses
    weights = 4 * last_level_cache_bytes()   # DRAM-sized: four times the whole last-level cache
    chosen = args.formats.split(",")
    ratios, rates = {f: [] for f in chosen}, {f: [] for f in chosen}
    for _ in range(args.rounds):
        for fmt in chosen:
            load = measure_stream("read", "regular", threads, weights, 20).median_gbps
            row = 4 * args.cols if fmt == "float32" else quant.row_bytes(fmt, args.cols)
            rows = weights // row
            m = measure_gemv(rows, args.cols, False, fmt, threads) if fmt == "float32" else \
                quant.measure_gemv(rows, args.cols, fmt, threads, 20)
            rates[fmt].append((quant.weight_gbps(m, "median"), m.median_gflops, load))
            ratios[fmt].append(quant.weight_gbps(m, "median") / load)
    print(f"GEMV, {weights >> 20} MiB of weights x {args.cols} columns, {threads} thread(s), medians over "
          f"{args.rounds} rounds")
    print(f"{'format':8} {'B/weight':>8} {'weight GB/s':>11} {'GFLOP/s':>8} {'read GB/s':>9} {'fraction':>8}")
    for fmt in chosen:
        gbps, gflops, load = (statistics.median(r[i] for r in rates[fmt]) for i in range(3))
        print(f"{fmt:8} {quant.BYTES_PER_WEIGHT.get(fmt, 4.0):8.4f} {gbps:11.1f} {gflops:8.1f} {load:9.1f} "
              f"{statistics.median(ratios[fmt]):8.2f}")


if __name__ == "__main__":
    main()
