"""GEMM and GEMV with bwbench's C kernels, validated and compared with numpy's BLAS.

Counting (../shared/DESIGN.md): GEMM (M,K)x(K,N) is 2MKN FLOPs and moves at
least A, B and C once: (MK + KN + MN) elements; GEMV is the N = 1 case, so
every point carries shape [M, N, K]."""
import time

import numpy as np
from threadpoolctl import threadpool_limits

from bwbench import _kernels
from bwbench.errors import UsageError, ValidationError
from bwbench.machine import check_memory, check_threads, memory_level
from bwbench.measure import MIN_SAMPLE_S, MIN_SAMPLES, WARMUP_SAMPLES, Measurement, check_ntimes

DTYPES = {"float64": np.float64, "float32": np.float32}
SWEEP_WIDTHS = (768, 1024, 4096)           # d: K = d, M = d or 4d (a projection and an FFN matrix)
SWEEP_TOKENS = tuple(2**i for i in range(11))  # N = 1 .. 1024; N = 1 is a GEMV


def parse_shape(text: str, dims: int) -> tuple:
    """'2048x2048x2048' -> (2048, 2048, 2048): `dims` positive whole numbers."""
    parts = text.lower().split("x")
    if len(parts) != dims or not all(p.strip().isdigit() for p in parts):
        form = "x".join("MNK"[:dims]) if dims == 3 else "MxN"
        raise UsageError(f"invalid shape {text!r}: expected {form} with positive whole numbers")
    shape = tuple(int(p) for p in parts)
    if min(shape) < 1:
        raise UsageError(f"invalid shape {text!r}: every dimension must be at least 1")
    return shape


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
    exact = wide_a @ wide_b
    scale = np.abs(wide_a) @ np.abs(wide_b)
    tolerance = 8 * np.sqrt(a.shape[-1]) * np.finfo(result.dtype).eps * scale
    wrong = int(np.count_nonzero(~(np.abs(result - exact) <= tolerance)))
    if wrong:
        raise ValidationError(f"{what} computed {wrong} wrong elements of {result.size}")


def _blas_gflops(product, flops: int, threads: int, ntimes: int) -> float:
    """numpy's BLAS on the same operands and thread count, best of ntimes (the
    first dropped), timed around the call: the reference as a user calls it."""
    seconds = []
    with threadpool_limits(limits=threads, user_api="blas"):
        for _ in range(ntimes):
            start = time.perf_counter()
            product()
            seconds.append(time.perf_counter() - start)
    return flops / min(seconds[WARMUP_SAMPLES:]) / 1e9


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


def _measurement(kernel, variant, shape, dtype, threads, timing, blas_gflops) -> Measurement:
    samples, cpus, reps, _ = timing
    m, n, k = shape
    flops, nbytes = counts(m, n, k, np.dtype(DTYPES[dtype]).itemsize)
    return Measurement(kernel=kernel, variant=variant, isa=_kernels.best_isa(), dtype=dtype, threads=threads,
                       working_set_bytes=nbytes, bytes=reps * nbytes, hw_bytes=reps * nbytes,
                       flops=reps * flops, reps_per_sample=reps, samples_s=tuple(samples.tolist()),
                       cpus=tuple(cpus), level=memory_level(nbytes, threads), shape=tuple(shape),
                       blas_gflops=blas_gflops)


def measure_gemm(m: int, n: int, k: int, dtype: str = "float64", threads: int = None,
                 ntimes: int = MIN_SAMPLES, blas: bool = True) -> Measurement:
    """C = A B with A (m, k), B (k, n) random, timed in C and validated; with
    blas, numpy's matmul at the same shape and threads in `blas_gflops`."""
    threads, operand = _prepare(m, n, k, dtype, threads, ntimes)
    a, b = operand(m, k), operand(k, n)
    c = np.empty((m, n), dtype=a.dtype)
    timing = _kernels.gemm_measure(_kernels.best_isa(), a, b, c, threads, ntimes, MIN_SAMPLE_S)
    _check_close(c, a, b, f"gemm {m}x{n}x{k} {dtype}")
    reference = _blas_gflops(lambda: np.matmul(a, b), 2 * m * n * k, threads, ntimes) if blas else 0.0
    return _measurement("gemm", "regular", (m, n, k), dtype, threads, timing, reference)


def measure_gemv(m: int, n: int, transpose: bool = False, dtype: str = "float64", threads: int = None,
                 ntimes: int = MIN_SAMPLES, blas: bool = True) -> Measurement:
    """y = A x (or A^T x) with A (m, n) random; recorded as the GEMM shape
    [rows of y, 1, length of x]."""
    threads, operand = _prepare(m, 1, n, dtype, threads, ntimes)
    a, x = operand(m, n), operand(m if transpose else n)
    y = np.empty(n if transpose else m, dtype=a.dtype)
    timing = _kernels.gemv_measure(_kernels.best_isa(), transpose, a, x, y, threads, ntimes, MIN_SAMPLE_S)
    operand = a.T if transpose else a
    _check_close(y[:, None], operand, x[:, None], f"gemv {m}x{n}{' transposed' if transpose else ''} {dtype}")
    shape = (n, 1, m) if transpose else (m, 1, n)
    reference = _blas_gflops(lambda: operand @ x, 2 * m * n, threads, ntimes) if blas else 0.0
    return _measurement("gemv", "transposed" if transpose else "regular", shape, dtype, threads, timing,
                        reference)


def measure_product(m: int, n: int, k: int, dtype: str = "float64", threads: int = None,
                    blas: bool = True) -> Measurement:
    """C(m,n) = A(m,k) B(k,n) as the sweep runs it: a GEMV when n is 1, else a GEMM."""
    if n == 1:
        return measure_gemv(m, k, False, dtype, threads, blas=blas)
    return measure_gemm(m, n, k, dtype, threads, blas=blas)
