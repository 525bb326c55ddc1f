"""GEMM and GEMV: bwbench against numpy's OpenBLAS (threads limited with
threadpoolctl), alternating in the same run, and GEMV against bwbench's own
DRAM load bandwidth.

- GEMM 2048x2048x2048, float64 and float32, 1 and 2 threads.
- GEMV 8192x8192 float64 (512 MiB), y = A x, 1 and 2 threads.
measure_gemm/measure_gemv time bwbench's kernel and then BLAS on the same
operands; each ratio is taken within a round, the table shows medians.

    python scripts/compare_blas.py [--rounds 5]
"""
import argparse

from ratios import print_ratios

from bwbench.gemm import measure_gemm, measure_gemv
from bwbench.stream import measure_stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = {}  # name -> list of (bwbench, reference) per round
    for round_ in range(args.rounds):
        for threads in (1, 2):
            for dtype in ("float64", "float32"):
                m = measure_gemm(2048, 2048, 2048, dtype, threads)
                rows.setdefault(f"GEMM 2048^3 {dtype}, {threads}t: GFLOP/s vs BLAS", []).append((m.gflops, m.blas_gflops))
            v = measure_gemv(8192, 8192, threads=threads)
            rows.setdefault(f"GEMV 8192^2 float64, {threads}t: GFLOP/s vs BLAS", []).append((v.gflops, v.blas_gflops))
            load = measure_stream("load", "regular", threads)
            rows.setdefault(f"GEMV 8192^2 float64, {threads}t: GB/s vs own DRAM load", []).append((v.gbps, load.gbps))
        print(f"round {round_ + 1}/{args.rounds} done", flush=True)

    print_ratios(rows, args.rounds, "reference")


if __name__ == "__main__":
    main()
