"""The bytes-per-weight roofline (`python -m bwbench quant`): the GEMV of
every weight format (bwbench.formats: f32, f16, bf16, q8_0, q4_0) with its weights inside each cache
level and in DRAM, each bracketed by the read-only ceiling (the tuned read kernel)
of the same working set, measured right before and right after it; and what
that means for the tokens/s of one decode step.

What is reported (each measurement at its median sample, as the bracket
of a transformer prediction is):

- weight GB/s: the weights' bytes alone (x and y left out); fraction: that
  over the read-only ceiling, the mean of the read kernel's GB/s over the
  same bytes before and after (ceiling_drift: how far those two differ, over
  their mean); GFLOP/s: 2 a weight.
- a format's unpack roof: its best in-cache (L1 to L3) GFLOP/s, the quantity
  ceilings.unpack_step measures for the transformer prediction. f32 unpacks
  nothing: its roof is its GEMV kernel's own in-cache rate.
- bound at a level: "unpack" where the unpack roof lies below the level's
  bandwidth roof (read-only GB/s x 2 FLOPs / bytes per weight), else
  "memory"; a format stops being memory-bound at the slowest level (DRAM,
  then L3, L2, L1) where it is unpack-bound (`unpack_bound_from`).
- tokens/s of one decode step of a model (scope model, batch 1) whose weights
  sit in that level: measured = the GEMV's weight GB/s / the model's weight
  bytes in the format; predicted = min(read-only GB/s / those bytes, unpack
  GFLOP/s / (2 x the model's weights)). A real model's weights (TinyLlama's:
  0.6 to 4.1 GB) fit in DRAM only, so only that line is a real decode; the
  cache lines say what a decode step would reach if its weights sat there.

Working sets: in each cache level half its capacity as the measuring threads
reach it (the top of the window the roofline counts as well inside it,
roofline.level_windows; at L3 half the last-level cache);
in DRAM four times the last-level cache. Rows are whole blocks of 32 weights:
the column count is a power of two from 32 to 4096, the float32 matrix about
16 times wider than tall (long rows amortise each row's reduction; enough
rows amortise the quantisation of x, once a product)."""
import math
from dataclasses import dataclass

from bwbench import formats, quant
from bwbench.ceilings import BRACKET_SAMPLE, BRACKET_SAMPLES, UNPACK_COLS, level_capacities
from bwbench.errors import UsageError
from bwbench.gemm import check_fits, measure_gemv
from bwbench.machine import last_level_cache_bytes
from bwbench.models import load_config
from bwbench.roofline import MEMORY_LEVELS, level_windows
from bwbench.stream import measure_stream
from bwbench.transformer import analyse

FORMATS = formats.NAMES


@dataclass(frozen=True)
class Point:
    """One format's GEMV (rows x cols weights) sized to sit in `level`."""
    fmt: str
    level: str
    rows: int
    cols: int

    @property
    def weight_bytes(self) -> int:
        return self.rows * round(quant.BYTES_PER_WEIGHT[self.fmt] * self.cols)

    @property
    def description(self) -> str:
        return f"{self.fmt} GEMV {self.rows}x{self.cols}, {self.level}-sized"


def level_sizes(threads: int) -> dict:
    """{level: bytes of weights}: half of each cache level as `threads`
    threads reach it, and four times the last-level cache for DRAM."""
    sizes = {level: int(high) for level, (_, high) in level_windows(level_capacities(threads)).items()
             if level != "DRAM"}
    sizes["DRAM"] = 4 * (last_level_cache_bytes() or 2**25)
    return sizes


def plan(sizes: dict) -> list:
    """The Points of every level (in `sizes`' order) and format; refuses,
    before anything is allocated, one whose matrix memory could not hold."""
    if not set(sizes) - {"DRAM"}:
        raise UsageError("no cache level to size a GEMV in (the host reports no cache sizes): "
                         "the unpack roof is an in-cache rate")
    points = []
    for level, nbytes in sizes.items():
        widest = max(f.gemv_weights for f in formats.FORMATS.values())   # every format's GEMV block fits a row
        cols = min(UNPACK_COLS, max(widest, 2 ** int(math.log2(math.sqrt(16 * nbytes / 4)))))
        for fmt in FORMATS:
            point = Point(fmt, level, max(1, nbytes // round(quant.BYTES_PER_WEIGHT[fmt] * cols)), cols)
            if fmt == "f32":
                check_fits(point.rows, 1, cols, "float32")
            else:
                quant.check_fits(point.rows, cols, fmt)
            points.append(point)
    return points


def measure_point(point: Point, threads: int) -> tuple:
    """(the read kernel over the weights' bytes, the GEMV, the read kernel
    again): validated Measurements."""
    def read():
        return measure_stream("read", "regular", threads, point.weight_bytes, BRACKET_SAMPLES)

    before = read()
    if point.fmt == "f32":
        gemv = measure_gemv(point.rows, point.cols, False, "float32", threads, BRACKET_SAMPLES)
    else:
        gemv = quant.measure_gemv(point.rows, point.cols, point.fmt, threads, BRACKET_SAMPLES)
    return before, gemv, read()


def decode_weight_bytes(model: str) -> dict:
    """{format: bytes of every weight one decode step of `model` reads (scope
    model)}; refuses a model that does not decode."""
    if load_config(model).mode != "decoder":
        raise UsageError(f"{model} is an encoder: tokens/s of a decode step needs a decoder "
                         "(e.g. tinyllama-1.1b)")
    return {fmt: analyse(model, 1, "decoder", 0, 1, 4, "model", weights=fmt).weight_bytes for fmt in FORMATS}


def section(points, runs, model: str, model_bytes: dict, threads: int) -> dict:
    """The result JSON's `quant` section from the Points and their
    measure_point() runs; model_bytes: decode_weight_bytes(model)."""
    formats = {}
    for point, (before, gemv, after) in zip(points, runs):
        size = quant.BYTES_PER_WEIGHT[point.fmt]
        entry = formats.setdefault(point.fmt, {"bytes_per_weight": size, "bits_per_weight": 8 * size,
                                               "model_weight_bytes": model_bytes[point.fmt], "levels": {}})
        gbps, ceiling = quant.weight_gbps(gemv, BRACKET_SAMPLE), (before.median_gbps + after.median_gbps) / 2
        entry["levels"][point.level] = {
            "shape": [point.rows, point.cols], "weight_bytes": point.weight_bytes, "gbps": gbps,
            "ceiling_gbps": ceiling, "ceiling_drift": abs(after.median_gbps - before.median_gbps) / ceiling,
            "fraction": gbps / ceiling, "gflops": gemv.median_gflops}
    weights = model_bytes["f32"] / quant.BYTES_PER_WEIGHT["f32"]
    for entry in formats.values():
        levels = entry["levels"]
        in_cache = [level for level in levels if level != "DRAM"]
        entry["unpack_level"] = max(in_cache, key=lambda level: levels[level]["gflops"])
        entry["unpack_gflops"] = unpack = levels[entry["unpack_level"]]["gflops"]
        for row in levels.values():
            row["bound"] = "unpack" if unpack < row["ceiling_gbps"] * 2 / entry["bytes_per_weight"] else "memory"
            row["measured_tokens_per_s"] = row["gbps"] * 1e9 / entry["model_weight_bytes"]
            row["predicted_tokens_per_s"] = min(row["ceiling_gbps"] * 1e9 / entry["model_weight_bytes"],
                                                unpack * 1e9 / (2 * weights))
        entry["unpack_bound_from"] = next((level for level in reversed(MEMORY_LEVELS)
                                           if levels.get(level, {}).get("bound") == "unpack"), None)
    return {"threads": threads, "sample": BRACKET_SAMPLE, "model": model, "model_weights": weights,
            "formats": formats}
