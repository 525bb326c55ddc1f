"""GEMM and GEMV with bwbench's C kernels, validated, and numpy's BLAS timed as
fairly beside them as a separate record (bwbench.timing).

Counting (../shared/DESIGN.md): GEMM (M,K)x(K,N) is 2MKN FLOPs and moves at
least A, B and C once: (MK + KN + MN) elements; GEMV is the N = 1 case, so
every point carries shape [M, N, K]."""
import numpy as np

from bwbench import _kernels, choices
from bwbench.errors import UsageError, ValidationError
from bwbench.machine import check_memory, check_threads, memory_level
from bwbench.measure import MIN_SAMPLE_S, MIN_SAMPLES, Measurement, build, check_ntimes
from bwbench.timing import blas_name, checking, time_call

DTYPES = {"float64": np.float64, "float32": np.float32}
SWEEP_WIDTHS = (768, 1024, 4096)           # d: K = d, M = d or 4d (a projection and an FFN matrix)
SWEEP_TOKENS = tuple(2**i for i in range(11))  # N = 1 .. 1024; N = 1 is a GEMV
REFERENCE = "reference"   # the variant of numpy's BLAS records


def counts(m: int, n: int, k: int, element: int) -> tuple:
    """(FLOPs, minimal bytes) of C(m,n) = A(m,k) B(k,n)."""
    return 2 * m * n * k, element * (m * k + k * n + m * n)


def sweep_shapes(tokens=SWEEP_TOKENS) -> list:
    """The shapes of a transformer's projections: (M, N, K) = (d or 4d, tokens, d)."""
    return [(rows, n, d) for d in SWEEP_WIDTHS for rows in (d, 4 * d) for n in tokens]


def _dtype(name: str):
    if name not in DTYPES:
        raise UsageError(f"unknown dtype {name!r}: choose from {', '.join(DTYPES)}")
    return DTYPES[name]


def _check_close(result, a, b, what: str) -> None:
    """Elementwise against a float64 reference, within 8 sqrt(k) eps |A||B|
    (far above rounding, far below a missing or wrong term)."""
    wide_a, wide_b = a.astype(np.float64), b.astype(np.float64)
    with checking():
        exact = wide_a @ wide_b
        scale = np.abs(wide_a) @ np.abs(wide_b)
    tolerance = 8 * np.sqrt(a.shape[-1]) * np.finfo(result.dtype).eps * scale
    wrong = int(np.count_nonzero(~(np.abs(result - exact) <= tolerance)))
    if wrong:
        raise ValidationError(f"{what} computed {wrong} wrong elements of {result.size}")


def check_fits(m: int, n: int, k: int, dtype: str) -> None:
    """Refuses, before allocating, a product whose operands, result and check
    (float64 copies, reference and scale) would not fit in available memory."""
    element = np.dtype(_dtype(dtype)).itemsize
    check_memory((element + 8) * (m * k + k * n) + (element + 16) * m * n, f"{m}x{n}x{k} {dtype} operands")


def _prepare(m: int, n: int, k: int, dtype: str, threads, ntimes):
    """Checked arguments, and a function drawing random operands of the dtype."""
    check_fits(m, n, k, dtype)
    threads = check_threads(threads)
    check_ntimes(ntimes)
    rng = np.random.default_rng(2024)
    return threads, lambda *shape: rng.uniform(-1, 1, shape).astype(DTYPES[dtype])


def _record(kernel, variant, isa, shape, dtype, threads, timing) -> Measurement:
    m, n, k = shape
    flops, nbytes = counts(m, n, k, np.dtype(DTYPES[dtype]).itemsize)
    return build(kernel, variant, isa, dtype, threads, timing, working_set=nbytes, bytes_per_rep=nbytes,
                 flops_per_rep=flops, level=memory_level(nbytes, threads), shape=shape)


def _gemm(m, n, k, dtype, threads, ntimes, reference: bool) -> list:
    """bwbench's C = A B timed in C and validated; with reference, numpy's matmul
    on the same operands, timed as fairly (bwbench.timing), as its own record."""
    threads, operand = _prepare(m, n, k, dtype, threads, ntimes)
    a, b = operand(m, k), operand(k, n)
    c = np.empty((m, n), dtype=a.dtype)
    isa = choices.isa()
    timing = _kernels.gemm_measure(isa, a, b, c, threads, ntimes, MIN_SAMPLE_S)
    _check_close(c, a, b, f"gemm {m}x{n}x{k} {dtype}")
    records = [_record("gemm", "regular", isa, (m, n, k), dtype, threads, timing)]
    if reference:
        blas = time_call(lambda: np.matmul(a, b, out=c), threads, ntimes)
        _check_close(c, a, b, f"numpy's BLAS gemm {m}x{n}x{k} {dtype}")
        records.append(_record("gemm", REFERENCE, blas_name(), (m, n, k), dtype, threads, blas))
    return records


def _gemv(m, n, transpose, dtype, threads, ntimes, reference: bool) -> list:
    """y = A x (or A^T x) with A (m, n), recorded as the GEMM shape [rows of y, 1, length of x]."""
    threads, operand = _prepare(m, 1, n, dtype, threads, ntimes)
    a, x = operand(m, n), operand(m if transpose else n)
    y = np.empty(n if transpose else m, dtype=a.dtype)
    isa = choices.isa()
    timing = _kernels.gemv_measure(isa, transpose, a, x, y, threads, ntimes, MIN_SAMPLE_S)
    matrix = a.T if transpose else a
    _check_close(y[:, None], matrix, x[:, None], f"gemv {m}x{n}{' transposed' if transpose else ''} {dtype}")
    shape, variant = ((n, 1, m), "transposed") if transpose else ((m, 1, n), "regular")
    records = [_record("gemv", variant, isa, shape, dtype, threads, timing)]
    if reference:
        blas = time_call(lambda: np.matmul(matrix, x, out=y), threads, ntimes)
        _check_close(y[:, None], matrix, x[:, None], f"numpy's BLAS gemv {m}x{n} {dtype}")
        records.append(_record("gemv", REFERENCE, blas_name(), shape, dtype, threads, blas))
    return records


def measure_gemm(m: int, n: int, k: int, dtype: str = "float64", threads: int = None,
                 ntimes: int = MIN_SAMPLES) -> Measurement:
    """C = A B with A (m, k), B (k, n) random, timed in C and validated."""
    return _gemm(m, n, k, dtype, threads, ntimes, reference=False)[0]


def measure_gemv(m: int, n: int, transpose: bool = False, dtype: str = "float64", threads: int = None,
                 ntimes: int = MIN_SAMPLES) -> Measurement:
    """y = A x (or A^T x) with A (m, n) random; recorded as the GEMM shape
    [rows of y, 1, length of x]."""
    return _gemv(m, n, transpose, dtype, threads, ntimes, reference=False)[0]


def measure_product(m: int, n: int, k: int, dtype: str = "float64", threads: int = None) -> Measurement:
    """C(m,n) = A(m,k) B(k,n) as the sweep runs it: a GEMV when n is 1, else a GEMM."""
    return measure_products(m, n, k, dtype, threads, reference=False)[0]


def measure_products(m: int, n: int, k: int, dtype: str = "float64", threads: int = None,
                     transpose: bool = False, reference: bool = True, ntimes: int = MIN_SAMPLES) -> list:
    """[bwbench's record, numpy's BLAS record] of C(m,n) = A(m,k) B(k,n) on the
    same operands, threads and CPUs (a GEMV y = A x when n is 1, or y = A^T x
    with transpose); without reference, bwbench's only."""
    if n == 1:
        return _gemv(m, k, transpose, dtype, threads, ntimes, reference)
    return _gemm(m, n, k, dtype, threads, ntimes, reference)
