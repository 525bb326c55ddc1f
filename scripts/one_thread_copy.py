"""Why bwbench's 1-thread DRAM copy sits above likwid-bench's in compare_likwid.py:
the same store type and vector width from both tools, alternating, with
bwbench's mean (as likwid-bench reports: volume / total time) beside its best
and median. 2 GB working set, 1 thread.

    python scripts/one_thread_copy.py [--rounds 2]
"""
import argparse
import statistics

from likwid import likwid_bench

from bwbench import measure_stream

LIKWID = ("copy_avx512", "copy_mem_avx512", "copy_avx", "copy_sse")
SIZE = 2 * 10**9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for round_ in range(args.rounds):
        print(f"round {round_ + 1}")
        for test in LIKWID:
            print(f"  likwid-bench {test:18} {likwid_bench(test, f'{SIZE}B', 1) / 1e3:6.1f} GB/s (volume / total time)")
        for isa in ("avx512", "avx2", "sse2"):
            for variant in ("regular", "nt"):
                m = measure_stream("copy", variant, 1, SIZE, isa=isa)
                mean = m.bytes / statistics.mean(m.kept_s) / 1e9
                print(f"  bwbench copy {variant:7} {isa:6}  best {m.gbps:6.1f}  median {m.median_gbps:6.1f}"
                      f"  mean {mean:6.1f} GB/s")


if __name__ == "__main__":
    main()
