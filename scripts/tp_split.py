"""A decoder's generation split over P ranks, measured, against bwbench's
tensor-parallel prediction (bwbench.tensor_parallel):

    mpiexec -n 2 python scripts/tp_split.py --model gpt2 --seq 32 \\
        --roofline ROOFLINE_1THREAD.json --interconnect LINK.json [--check] [--json PATH]

Each rank holds 1/P of every weight matrix, Megatron-style (its heads' rows of
Q, K, V, its hidden units' rows of FFN up, the matching columns of the output
projection and FFN down), runs its slice with bwbench's GEMV kernel (float32,
--threads per rank, random weights distinct per layer), and two Allreduce
calls per layer sum the partial outputs. The best of --repeat runs is kept. Run without mpiexec (or -n 1) it is
the unsplit model, through the same code. --check recomputes the run unsplit
on rank 0 and refuses a result that differs. The prediction needs a roofline
of one rank's share of the host (on one host with P ranks: `bwbench roofline
--threads cores/P`) and an all-reduce curve measured over the same P ranks."""
import argparse
import json
import sys
import time

import numpy as np
from mpi4py import MPI

from bwbench import _kernels
from bwbench.link import load_interconnect
from bwbench.models import load_config
from bwbench.results import read_result
from bwbench.roofline import Roofline
from bwbench.tensor_parallel import predict
from bwbench.transformer import analyse

F32 = np.float32


def full_layer(cfg, layer: int) -> dict:
    """One layer's weights, out x in (y = W x reads whole rows), the same on every rank."""
    rng = np.random.default_rng(1000 + layer)

    def matrix(rows, cols):
        return (rng.standard_normal((rows, cols), dtype=F32) / np.sqrt(cols)).astype(F32)

    d, kv, f = cfg.d, cfg.d_kv, cfg.d_ff
    return {"q": matrix(d, d), "k": matrix(kv, d), "v": matrix(kv, d), "o": matrix(d, d),
            "up": matrix(f, d), "down": matrix(d, f)}


def my_slice(full: dict, rank: int, ranks: int) -> dict:
    """Rank's share: rows of Q, K, V and FFN up, columns of the output projection and FFN down."""
    def rows(w):
        n = w.shape[0] // ranks
        return np.ascontiguousarray(w[rank * n:(rank + 1) * n])

    def cols(w):
        n = w.shape[1] // ranks
        return np.ascontiguousarray(w[:, rank * n:(rank + 1) * n])

    return {"q": rows(full["q"]), "k": rows(full["k"]), "v": rows(full["v"]), "o": cols(full["o"]),
            "up": rows(full["up"]), "down": cols(full["down"])}


class Rank:
    """One rank's decoder: its weight slices, its heads' key/value caches, the clock of its all-reduces."""

    def __init__(self, cfg, comm, rank: int, ranks: int, seq: int, threads: int):
        self.cfg, self.comm, self.threads, self.isa = cfg, comm, threads, _kernels.best_isa()
        self.heads, self.kv_heads = cfg.heads // ranks, cfg.kv_heads // ranks
        self.layers = [my_slice(full_layer(cfg, i), rank, ranks) for i in range(cfg.layers)]
        shape = (self.kv_heads, seq, cfg.d_head)
        self.caches = [(np.zeros(shape, F32), np.zeros(shape, F32)) for _ in range(cfg.layers)]
        self.gamma, self.beta = np.ones(cfg.d, F32), np.zeros(cfg.d, F32)
        self.allreduce_s = 0.0

    def gemv(self, a, x, transpose=False):
        y = np.empty(a.shape[1] if transpose else a.shape[0], F32)
        _kernels.gemv_apply(self.isa, transpose, a, np.ascontiguousarray(x), y, self.threads)
        return y

    def allreduce(self, partial):
        """Sums the ranks' partial outputs (unsplit: the output itself)."""
        if self.comm is None:
            return partial
        start = time.perf_counter()
        total = np.empty_like(partial)
        self.comm.Allreduce(partial, total, MPI.SUM)
        self.allreduce_s += time.perf_counter() - start
        return total

    def layernorm(self, x):
        centred = x - x.mean()
        return centred / np.sqrt((centred * centred).mean() + F32(1e-5)) * self.gamma + self.beta

    def layer(self, w, cache_k, cache_v, x, position: int):
        """GPT-2's pre-LayerNorm layer for one token, on this rank's heads and hidden units."""
        dh, group = self.cfg.d_head, self.heads // self.kv_heads
        a = self.layernorm(x)
        q = self.gemv(w["q"], a)
        cache_k[:, position] = self.gemv(w["k"], a).reshape(self.kv_heads, dh)
        cache_v[:, position] = self.gemv(w["v"], a).reshape(self.kv_heads, dh)
        heads = np.empty_like(q)
        for h in range(self.heads):
            cols = slice(h * dh, (h + 1) * dh)
            scores = self.gemv(cache_k[h // group, :position + 1], q[cols]) * F32(dh ** -0.5)
            probs = np.exp(scores - scores.max())
            heads[cols] = self.gemv(cache_v[h // group, :position + 1], probs / probs.sum(), transpose=True)
        x = x + self.allreduce(self.gemv(w["o"], heads))
        hidden = self.gemv(w["up"], self.layernorm(x))
        hidden = F32(0.5) * hidden * (F32(1) + np.tanh(F32(0.7978845608) * (hidden + F32(0.044715) * hidden ** 3)))
        return x + self.allreduce(self.gemv(w["down"], hidden))

    def generate(self, seq: int) -> np.ndarray:
        """seq decode steps, each on a fresh input vector (scope `layers`: no embeddings, no LM head);
        returns the last step's output."""
        inputs = np.random.default_rng(7).standard_normal((seq, self.cfg.d), dtype=F32)
        for position in range(seq):
            x = inputs[position]
            for w, (cache_k, cache_v) in zip(self.layers, self.caches):
                x = self.layer(w, cache_k, cache_v, x, position)
        return x


def measure(cfg, comm, seq: int, threads: int, repeat: int) -> tuple:
    """(seconds, all-reduce seconds, the last output) of the best of `repeat`
    runs, each the slowest rank's (a rank's all-reduce time includes waiting for the others)."""
    rank, ranks = comm.Get_rank(), comm.Get_size()
    model = Rank(cfg, comm if ranks > 1 else None, rank, ranks, seq, threads)
    runs = []
    for _ in range(repeat):   # each run rewrites the same cache positions: the same work again
        model.allreduce_s = 0.0
        comm.Barrier()
        start = time.perf_counter()
        out = model.generate(seq)
        runs.append(max(comm.allgather((time.perf_counter() - start, model.allreduce_s))))
    seconds, allreduce_s = min(runs)
    return seconds, allreduce_s, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt2")
    parser.add_argument("--seq", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="GEMV threads per rank (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs, the best reported (default 3)")
    parser.add_argument("--roofline", required=True, help="one rank's share of the host, e.g. roofline --threads 1")
    parser.add_argument("--interconnect", help="all-reduce curve over the same ranks (needed when split)")
    parser.add_argument("--check", action="store_true", help="recompute unsplit on rank 0 and compare")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    rank, ranks = comm.Get_rank(), comm.Get_size()
    cfg = load_config(args.model)
    if cfg.arch != "gpt2":
        sys.exit(f"tp_split: runs GPT-2-style decoders; {cfg.name} is of the {cfg.arch} family")
    if cfg.heads % ranks or cfg.kv_heads % ranks or cfg.d_ff % ranks:
        sys.exit(f"tp_split: {cfg.name}'s heads and hidden units do not split over {ranks} ranks")
    seconds, allreduce_s, out = measure(cfg, comm, args.seq, args.threads, args.repeat)
    if rank:
        return 0
    if args.check:
        reference = Rank(cfg, None, 0, 1, args.seq, args.threads).generate(args.seq)
        error = float(np.abs(out - reference).max() / np.abs(reference).max())
        if error > 1e-4:
            sys.exit(f"tp_split: the split run differs from the unsplit one by {error:.2e} (relative)")
        print(f"check: the split's last output matches the unsplit run (max relative difference {error:.1e})")
    roofline = Roofline.from_dict(read_result(args.roofline)["roofline"])
    analysis = analyse(cfg.name, args.seq, "decoder", roofline=roofline)
    split = predict(analysis, ranks, load_interconnect(args.interconnect)) if ranks > 1 else None
    predicted = split["total_s"] if split else analysis.predicted_s
    hosts = split["hosts"] if split else []
    print(f"{cfg.name}, {args.seq} decode steps, float32, {ranks} rank(s) x {args.threads} thread(s)"
          + (f", all-reduce curve from {', '.join(hosts)}" if hosts else ""))
    print(f"{'':28} {'predicted ms':>12} {'measured ms':>12}")
    if split:
        print(f"{'memory and compute, per rank':28} {split['memory_s'] * 1e3:12.1f} "
              f"{(seconds - allreduce_s) * 1e3:12.1f}")
        print(f"{'all-reduce (incl. waiting)':28} {split['allreduce_s'] * 1e3:12.1f} {allreduce_s * 1e3:12.1f}")
    print(f"{'total':28} {predicted * 1e3:12.1f} {seconds * 1e3:12.1f}")
    print(f"measured / predicted: {seconds / predicted:.2f}; per token: {seconds / args.seq * 1e3:.2f} ms measured")
    if args.json:
        record = {"model": cfg.name, "seq": args.seq, "ranks": ranks, "threads": args.threads,
                  "measured_s": seconds, "measured_allreduce_s": allreduce_s, "predicted_s": predicted,
                  "prediction": split or {"single_rank_s": analysis.predicted_s}}
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
