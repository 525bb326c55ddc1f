"""GEMM and GEMV: bwbench against numpy's OpenBLAS, alternating in the same run,
and GEMV against bwbench's own DRAM load bandwidth.

- GEMM 2048x2048x2048, float64 and float32, 1 and 2 threads.
- GEMM at small N (2, 4, 8 tokens) for a 3072 x 768 and a 4096 x 4096 matrix,
  float64, 1 thread: where the README claims bwbench's unpacked path wins.
- GEMV 8192x8192 float64 (512 MiB), y = A x, 1 and 2 threads.
measure_products times bwbench's kernel and then BLAS on the same operands,
both alike (bwbench.timing: calibrated repetitions, 10 samples, the best
of the last 9, the same pinned CPUs); each ratio is taken within a round, the
table shows medians.

    python scripts/compare_blas.py [--rounds 5]
"""
import argparse

from bwbench.gemm import measure_products
from bwbench.stream import measure_stream
from bwbench.tables import print_ratios

SMALL_N = ((3072, 768), (4096, 4096))  # (M, K) of the small-N points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = {}  # name -> list of (bwbench, reference) per round

    def record(name, ours, theirs):
        rows.setdefault(name, []).append((ours, theirs))

    for round_ in range(args.rounds):
        for threads in (1, 2):
            for dtype in ("float64", "float32"):
                ours, blas = measure_products(2048, 2048, 2048, dtype, threads)
                record(f"GEMM 2048^3 {dtype}, {threads}t: GFLOP/s vs BLAS", ours.gflops, blas.gflops)
            ours, blas = measure_products(8192, 1, 8192, "float64", threads)
            record(f"GEMV 8192^2 float64, {threads}t: GFLOP/s vs BLAS", ours.gflops, blas.gflops)
            load = measure_stream("load", "regular", threads)
            record(f"GEMV 8192^2 float64, {threads}t: GB/s vs own DRAM load", ours.gbps, load.gbps)
        for m, k in SMALL_N:
            for n in (2, 4, 8):
                ours, blas = measure_products(m, n, k, "float64", 1)
                record(f"GEMM {m}x{n}x{k} float64, 1t: GFLOP/s vs BLAS", ours.gflops, blas.gflops)
        print(f"round {round_ + 1}/{args.rounds} done", flush=True)

    print_ratios(rows, args.rounds, "reference")


if __name__ == "__main__":
    main()
