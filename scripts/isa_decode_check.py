"""TinyLlama decode tokens/s with the ISA forced to each path this CPU has,
beside the tuned default, in the same process: one engine per ISA over the
same weights, rounds alternating between them; each cell the median pass of
measure.PASSES decodes of --seq tokens (LM head and argmax included).
The noise is the tuned default's own spread over the rounds (largest over
smallest, less one): the default passes when it is no slower than the best
forced path by more than that.

    python scripts/isa_decode_check.py [--rounds 3] [--seq 32] [--threads N] [--weights f32,bf16,q8_0,q4_0]
                                       [--isas avx2,avx512]
"""
import argparse
import statistics

import numpy as np

from bwbench import _kernels, choices, quant, tune
from bwbench.inference import engine, random_weights
from bwbench.machine import check_threads
from bwbench.measure import median_pass
from bwbench.models import load_config

MODEL = "tinyllama-1.1b"
TUNED = "tuned"


def decode_seconds(run, cfg, seq: int, threads: int) -> float:
    def decode(token):
        for position in range(seq):
            token[0], _ = run.run(threads, True, token, np.empty((1, cfg.d), np.float32), position, True, None,
                                  np.zeros(_kernels.INFER_OPS))
    return median_pass(decode, lambda: np.zeros(1, np.int32))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seq", type=int, default=32)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--weights", default=",".join(("f32",) + quant.FORMATS))
    parser.add_argument("--isas", help="the forced paths to time (default: every SIMD path the CPU has; sse2 runs "
                                       "the block formats on the plain C kernels, a tenth of the speed)")
    args = parser.parse_args()
    threads = check_threads(args.threads)
    tune.ensure(threads)
    cfg = load_config(MODEL)
    paths = [choices.check_isa(isa) for isa in args.isas.split(",")] if args.isas else \
        [isa for isa in choices.supported_isas() if isa != "generic"]
    print(f"{MODEL} decode, {args.seq} tokens, {threads} thread(s), tokens/s, medians of {args.rounds} rounds")
    print(f"{'format':7}" + "".join(f"{p:>9}" for p in paths) + f"{'tuned':>16}{'noise':>7}{'tuned/best':>11}")
    for fmt in args.weights.split(","):
        layers, top = random_weights(cfg, np.random.default_rng(0), True, True, args.seq, fmt)
        engines = {isa: engine(cfg, layers, top, args.seq, 1, isa, fmt) for isa in paths}
        engines[TUNED] = engine(cfg, layers, top, args.seq, 1, choices.isa(fmt), fmt)
        rates = {isa: [] for isa in engines}
        for _ in range(args.rounds):
            for isa, run in engines.items():
                rates[isa].append(args.seq / decode_seconds(run, cfg, args.seq, threads))
        median = {isa: statistics.median(r) for isa, r in rates.items()}
        noise = max(rates[TUNED]) / min(rates[TUNED]) - 1
        best = max(median[p] for p in paths)
        path = choices.isa(fmt) if fmt == "f32" else choices.gemv_path(fmt)   # f32 has no GEMV path: the GEMM's ISA
        tuned = f"{median[TUNED]:.1f} ({path})"
        print(f"{fmt:7}" + "".join(f"{median[p]:>9.1f}" for p in paths)
              + f"{tuned:>16}{noise:>7.1%}{median[TUNED] / best:>11.2f}", flush=True)
        del engines, layers, top


if __name__ == "__main__":
    main()
