"""Weight formats in llama.cpp's layouts (src_c/quant.c; the table of them is
bwbench.formats): f16, bf16, q8_0 and q4_0, quantisers with a numpy API, and the GEMV that reads
them, measured and validated against numpy's dequantise-then-multiply.

A GEMV y = W x in a format counts 2 FLOPs per weight and moves W's bytes in
that format plus x and y in float32: its `gbps` is that traffic."""
import numpy as np

from bwbench import _kernels, choices, formats
from bwbench.errors import UsageError, ValidationError
from bwbench.machine import check_memory, check_threads, memory_level
from bwbench.measure import MIN_SAMPLE_S, MIN_SAMPLES, Measurement, build, check_ntimes
from bwbench.timing import checking

# views of bwbench.formats' table, for the callers that name them
FORMATS = formats.QUANTISED
BYTES_PER_WEIGHT = {f.name: f.bytes_per_weight for f in formats.FORMATS.values()}


def _format(fmt: str) -> str:
    return formats.get(fmt, FORMATS).name


def row_bytes(fmt: str, cols: int) -> int:
    """Bytes of a row of `cols` weights; UsageError if the format cannot hold it."""
    nbytes = _kernels.fmt_row_bytes(_format(fmt), cols)
    if not nbytes:
        raise UsageError(f"{fmt} stores rows of whole blocks of {formats.FORMATS[fmt].block_weights} weights, "
                         f"not {cols}")
    return nbytes


def check_gemv_cols(fmt: str, cols: int) -> None:
    """The GEMV reads rows of whole blocks of 32 weights (256 for the K-quants)
    in every format (f16 and bf16 too: the engine's layout groups 8 rows block
    by block); UsageError otherwise."""
    row_bytes(fmt, cols)
    block = formats.FORMATS[fmt].gemv_weights
    if cols % block:
        raise UsageError(f"the {fmt} GEMV reads rows of whole blocks of {block} weights, not {cols}")


def quantize(x: np.ndarray, fmt: str) -> np.ndarray:
    """The rows of x (float32, 2-D) in fmt: uint8, one row of row_bytes() each."""
    row_bytes(fmt, x.shape[-1])
    return _kernels.quantize(fmt, np.ascontiguousarray(x, dtype=np.float32))


def dequantize(rows: np.ndarray, fmt: str, cols: int) -> np.ndarray:
    """float32 (rows x cols) of rows made by quantize()."""
    row_bytes(fmt, cols)
    return _kernels.dequantize(fmt, rows, cols)


def tolerance(weights: np.ndarray, x: np.ndarray, fmt: str) -> np.ndarray:
    """How far y may lie from weights @ x: float32 rounding, and for the block
    formats x's own quantisation to q8_0 (at most half a step, max|x| / 254 of
    its block) with the fp16 rounding of the scales."""
    scale = np.abs(weights) @ np.abs(x)
    rounding = 8 * np.sqrt(x.size) * np.finfo(np.float32).eps * scale
    if not formats.FORMATS[fmt].quantised_x:
        return rounding
    steps = np.repeat(np.abs(x).reshape(-1, _kernels.QK).max(axis=1) / 254, _kernels.QK)
    return rounding + np.abs(weights) @ steps + 2e-3 * scale


# Rows drawn, quantised and checked at a time: float copies of a chunk, never of
# a whole DRAM-sized matrix (12 bytes a weight would not fit beside a large cache's 4x).
CHUNK_ROWS = 1024


def check_fits(m: int, n: int, fmt: str) -> int:
    """The bytes of an m x n matrix in fmt; refuses, before allocating, one
    whose weights (and their copy in the engine's layout) and a chunk's check
    would not fit in available memory, or whose rows the GEMV cannot read."""
    check_gemv_cols(fmt, n)
    nbytes = m * row_bytes(fmt, n)
    check_memory(2 * nbytes + 12 * min(m, CHUNK_ROWS) * n, f"{m}x{n} {fmt} weights and their check")
    return nbytes


def weight_gbps(m: Measurement, sample: str = "best") -> float:
    """GB/s of a measured GEMV's weights alone (its traffic less x and y in
    float32), at its "best" or "median" sample; any format, float32 too."""
    rows, _, cols = m.shape
    gbps = m.gbps if sample == "best" else m.median_gbps
    return gbps * (m.working_set_bytes - 4 * (rows + cols)) / m.working_set_bytes


def measure_gemv(m: int, n: int, fmt: str, threads: int = None, ntimes: int = MIN_SAMPLES) -> Measurement:
    """y = W x with W (m x n) random in fmt, x random float32, timed in C as
    the inference path runs it and validated against numpy."""
    threads = check_threads(threads)
    check_ntimes(ntimes)
    nbytes = check_fits(m, n, fmt)
    rng = np.random.default_rng(2024)
    chunks = range(0, m, CHUNK_ROWS)
    weights = np.empty((m, row_bytes(fmt, n)), np.uint8)
    for lo in chunks:
        weights[lo:lo + CHUNK_ROWS] = quantize(rng.uniform(-1, 1, (min(CHUNK_ROWS, m - lo), n)).astype(np.float32), fmt)
    x, y = rng.uniform(-1, 1, n).astype(np.float32), np.empty(m, np.float32)
    isa = choices.isa(fmt)
    timing = _kernels.qgemv_measure(isa, fmt, weights, n, x, y, threads, ntimes, MIN_SAMPLE_S)
    wrong = 0
    with checking():
        for lo in chunks:
            exact = dequantize(weights[lo:lo + CHUNK_ROWS], fmt, n).astype(np.float64)
            wrong += int(np.count_nonzero(~(np.abs(y[lo:lo + CHUNK_ROWS] - exact @ x) <= tolerance(exact, x, fmt))))
    if wrong:
        raise ValidationError(f"gemv {m}x{n} {fmt} computed {wrong} wrong elements of {m}")
    moved = nbytes + 4 * (m + n)
    return build("gemv", fmt, choices.gemv_path(fmt, isa), fmt, threads, timing, working_set=moved, bytes_per_rep=moved,
                 flops_per_rep=2 * m * n, level=memory_level(moved, threads), shape=(m, 1, n))
