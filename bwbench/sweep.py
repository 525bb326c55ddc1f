"""The ridge crossed: a decoder measured over batch sizes, prompt lengths and
context depths, each cell beside its prediction (llama-batched-bench's
vocabulary: PP, TG, B, N_KV, T_PP, S_PP, T_TG, S_TG).

A cell (format, B, P, TG, D): every sequence's cache first holds D random
positions (bwbench_infer_fill, as llama-bench's -d); each of the B sequences
then processes its P-token prompt (one pass a sequence: the prompt is
compute-bound, and B prompts in one pass would need B x P rows of scores);
then the B sequences decode TG tokens together in the C token loop (one call,
each linear layer's weights read once a step for all B). T_PP and T_TG are the
medians of `repeats` repetitions; `samples` holds every one.

Predicted: T_PP = B x one prompt pass at depth D; T_TG = the TG steps of a
batch of B at depth D + P, on the bracket's mean roofline. The bound of a
cell is the ceiling that charged the largest share of its predicted steps.
The predicted knee B* is the smallest batch whose step is no longer bound by
memory; the measured knee the smallest B in the sweep at which S_TG(B) <
1.5 x S_TG(B/2)."""
import itertools
import statistics
from dataclasses import dataclass

import numpy as np

from bwbench import _kernels
from bwbench.errors import UsageError
from bwbench.inference import engine, model_bytes, random_weights
from bwbench.machine import check_memory
from bwbench.model_files import check_runnable
from bwbench.models import load_config, model_file
from bwbench.transformer import analyse

KNEE_GAIN = 1.5     # S_TG(B) / S_TG(B/2) below this: the batch no longer pays
KNEE_LIMIT = 4096   # the largest batch the predicted knee is searched to


@dataclass(frozen=True)
class Grid:
    model: str
    formats: tuple
    batches: tuple
    prompts: tuple
    generated: int
    depths: tuple

    def cells(self):
        return itertools.product(self.formats, self.batches, self.prompts, self.depths)

    @property
    def max_pos(self) -> int:
        return max(self.depths) + max(self.prompts) + self.generated


def check(grid: Grid, measure: bool, reference=None) -> None:
    """Refuses, before anything runs, a grid the engine (and the reference
    engine, an engines module, beside it) cannot run or the machine cannot hold."""
    cfg = load_config(grid.model)
    if cfg.mode != "decoder":
        raise UsageError(f"{grid.model} is an encoder: a sweep decodes")
    if not measure:
        return
    if cfg.path:   # a model file: its own tensors' types
        if [fmt for fmt in grid.formats if fmt != "f32"]:
            raise UsageError(f"--weights is for models with random weights: {cfg.path}'s tensors keep their own types")
        check_runnable(cfg, model_file(cfg).types())
    for fmt in grid.formats:
        extra = reference.batched_bytes(cfg, fmt, max(grid.batches), grid.max_pos) if reference else 0
        check_memory(_engine_bytes(cfg, grid, fmt) + extra,
                     f"{grid.model} with {fmt} weights, {max(grid.batches)} sequences of {grid.max_pos} positions"
                     + (" (and the reference engine's)" if reference else ""))


def _max_tokens(grid: Grid) -> int:
    return max(max(grid.prompts), max(grid.batches))


def _engine_bytes(cfg, grid: Grid, fmt: str) -> int:
    """The engine's weights and one cache, plus the caches of the other sequences and their scores."""
    one = model_bytes(cfg, grid.max_pos, True, True, fmt, _max_tokens(grid), max(grid.batches))
    cache = 2 * cfg.layers * grid.max_pos * cfg.d_kv * 4
    scores = cfg.heads * _max_tokens(grid) * grid.max_pos * 4
    return one + (max(grid.batches) - 1) * cache + scores


def predicted(grid: Grid, fmt: str, batch: int, prompt: int, depth: int, roofline) -> dict:
    """The cell's predicted T_PP and T_TG (seconds) and the bound of its steps."""
    steps = analyse(grid.model, grid.generated, "decoder", prompt, batch, 4, "model", roofline, fmt,
                    depth=depth, phase="generate")
    t_pp = batch * analyse(grid.model, 1, "decoder", prompt, 1, 4, "model", roofline, fmt, depth=depth,
                           phase="prompt").predicted_s if prompt else 0.0
    return {"t_pp_s": t_pp, "t_tg_s": steps.predicted_s, "bound": bound_of(steps), "tg_flops": steps.total_flops,
            "tg_bytes": steps.total_bytes}


def bound_of(analysis) -> dict:
    """The ceiling that charged the largest share of the analysis's predicted time: its kind
    (memory, compute or unpack) and, for memory, the level."""
    shares = analysis.charged_seconds()
    name = max(shares, key=shares.get)
    kind = "compute" if name.startswith("peak") else "unpack" if name.startswith("unpack") else "memory"
    return {"kind": kind, "ceiling": name, "level": name.split()[0] if kind == "memory" else None}


def predicted_knee(grid: Grid, fmt: str, depth: int, roofline):
    """The smallest batch whose decode step is no longer bound by memory (None below KNEE_LIMIT)."""
    def memory_bound(batch):
        steps = analyse(grid.model, 1, "decoder", 0, batch, 4, "model", roofline, fmt, depth=depth,
                        phase="generate")
        return bound_of(steps)["kind"] == "memory"

    if memory_bound(KNEE_LIMIT):
        return None
    low, high = 1, KNEE_LIMIT   # memory_bound(low) is assumed, memory_bound(high) is not
    if not memory_bound(low):
        return low
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if memory_bound(middle) else (low, middle)
    return high


def measured_knee(s_tg: dict):
    """The smallest batch B of the sweep at which S_TG(B) < KNEE_GAIN x S_TG(B/2); None if none."""
    for batch in sorted(s_tg):
        if batch % 2 == 0 and batch // 2 in s_tg and s_tg[batch] < KNEE_GAIN * s_tg[batch // 2]:
            return batch
    return None


class Runner:
    """One engine a format, sized for the whole grid, and the cells measured on it."""

    def __init__(self, grid: Grid, fmt: str, threads: int):
        cfg = load_config(grid.model)
        self.cfg, self.grid, self.threads = cfg, grid, threads
        if cfg.path:   # the file's weights, memory-mapped
            layers, top = model_file(cfg).weights(True, True)
        else:
            layers, top = random_weights(cfg, np.random.default_rng(1), True, True, grid.max_pos, fmt)
        self.engine = engine(cfg, layers, top, grid.max_pos, _max_tokens(grid), weights=fmt,
                             max_seqs=max(grid.batches))
        self.rng = np.random.default_rng(2)

    def once(self, batch: int, prompt: int, depth: int) -> tuple:
        """(T_PP, T_TG) of one repetition of the cell."""
        d, seconds = self.cfg.d, np.zeros(_kernels.INFER_OPS)
        first = self.rng.integers(0, self.cfg.vocab, batch).astype(np.int32)
        t_pp = 0.0
        for q in range(batch if prompt else 0):   # each sequence's prompt, in its own cache
            tokens = self.rng.integers(0, self.cfg.vocab, prompt).astype(np.int32)
            next_token, wall = self.engine.run(self.threads, True, tokens, np.empty((prompt, d), np.float32), 0,
                                               True, None, seconds, positions=[depth], first_seq=q)
            first[q] = next_token[0]
            t_pp += wall
        _, t_tg = self.engine.generate(self.threads, first, [depth + prompt] * batch, self.grid.generated,
                                       np.empty((batch, d), np.float32), seconds)
        return t_pp, t_tg

    def measure(self, batch: int, prompt: int, depth: int, repeats: int) -> dict:
        self.engine.fill(depth)
        return timed(lambda: self.once(batch, prompt, depth), repeats)


def timed(once, repeats: int) -> dict:
    """A warm-up once() (first touch of the caches and scratch), then `repeats`
    of them, each (T_PP, T_TG): the medians, and every repetition as `samples`."""
    once()
    samples = [once() for _ in range(repeats)]
    t_pp = statistics.median(s[0] for s in samples)
    t_tg = statistics.median(s[1] for s in samples)
    return {"t_pp_s": t_pp, "t_tg_s": t_tg, "samples": [{"t_pp_s": p, "t_tg_s": g} for p, g in samples]}


def measure_reference(other, grid: Grid, batch: int, prompt: int, depth: int, repeats: int) -> dict:
    """The reference engine's run of the cell (an engines.llama_cpp.Batched),
    timed as Runner.measure: its `reference` record."""
    other.fill(batch, depth)
    measured = timed(lambda: other.once(batch, prompt, depth, grid.generated), repeats)
    return {**other.info, **_speeds(batch, prompt, grid.generated, measured),
            "generated_tokens": int(other.last_tokens.size)}


def _speeds(batch: int, prompt: int, generated: int, measured: dict) -> dict:
    """T_PP, S_PP, T_TG, S_TG and the samples of a measured cell."""
    return {"t_pp_s": measured["t_pp_s"], "t_tg_s": measured["t_tg_s"],
            "s_pp": batch * prompt / measured["t_pp_s"] if prompt else None,
            "s_tg": batch * generated / measured["t_tg_s"], "samples": measured["samples"]}


def cell_record(grid: Grid, fmt: str, batch: int, prompt: int, depth: int, prediction: dict,
                measured: dict = None) -> dict:
    """A row of transformer.sweep: the JSON's keys, speeds in tokens/s."""
    tg = grid.generated
    record = {"format": fmt, "batch": batch, "prompt": prompt, "generated": tg, "depth": depth,
              "n_kv": batch * (depth + prompt + tg), "bound": prediction["bound"],
              "tg_flops": prediction["tg_flops"], "tg_bytes": prediction["tg_bytes"],
              "predicted_s_pp": batch * prompt / prediction["t_pp_s"] if prompt else None,
              "predicted_s_tg": batch * tg / prediction["t_tg_s"]}
    if measured:
        record.update(_speeds(batch, prompt, tg, measured))
    return record


def with_reference(cell: dict, reference: dict) -> dict:
    """The cell with its reference run, and bwbench's S_TG over the reference's."""
    return {**cell, "reference": {**reference, "s_tg_ratio": cell["s_tg"] / reference["s_tg"]}}


def knees(grid: Grid, cells: list, roofline) -> dict:
    """{format: {predicted, measured}} at the sweep's first depth and prompt."""
    out = {}
    for fmt in grid.formats:
        s_tg = {c["batch"]: c["s_tg"] for c in cells if c["format"] == fmt and c["depth"] == grid.depths[0]
                and c["prompt"] == grid.prompts[0] and "s_tg" in c}
        out[fmt] = {"predicted": predicted_knee(grid, fmt, grid.depths[0] + grid.prompts[0], roofline),
                    "measured": measured_knee(s_tg)}
    return out
