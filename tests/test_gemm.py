"""GEMM and GEMV against numpy: odd shapes, both dtypes, every ISA, 1 and 2 threads; counts."""
import numpy as np
import pytest

from bwbench import _kernels
from bwbench.errors import UsageError, ValidationError
from bwbench import timing
from bwbench.gemm import counts, measure_gemm, measure_gemv, measure_product, measure_products, sweep_shapes
from bwbench.units import parse_shape
from conftest import ISAS, THREADS

SHAPES = [(1, 1, 1), (7, 13, 5), (1000, 1, 1000), (33, 65, 17), (5, 3, 300), (100, 40, 9),
          (2, 300, 70), (130, 33, 513), (17, 1, 3)]
TOLERANCE = {np.float64: 1e-12, np.float32: 2e-5}
ALL_ISAS = ["generic", *ISAS]


def operands(rng, dtype, *shape):
    return rng.uniform(-1, 1, shape).astype(dtype)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, n, k", SHAPES)
def test_gemm_matches_numpy(m, n, k, dtype, isa, threads, rng):
    a, b = operands(rng, dtype, m, k), operands(rng, dtype, k, n)
    c = np.full((m, n), np.nan, dtype=dtype)
    _kernels.gemm_apply(isa, a, b, c, threads)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c, exact, rtol=0, atol=TOLERANCE[dtype] * k)


@pytest.fixture
def blocking():
    yield _kernels.set_gemm_blocking
    _kernels.set_gemm_blocking(512, 16)


@pytest.mark.parametrize("kc, mc_tiles", [(16, 1), (48, 3), (2048, 64)])
@pytest.mark.parametrize("isa", ALL_ISAS)
def test_gemm_matches_numpy_at_every_blocking(kc, mc_tiles, isa, blocking, rng):
    """Blocks that split k and m unevenly (130 x 513: a short last block of each), and one larger than both."""
    blocking(kc, mc_tiles)
    a, b = operands(rng, np.float32, 130, 513), operands(rng, np.float32, 513, 70)
    c = np.full((130, 70), np.nan, dtype=np.float32)
    _kernels.gemm_apply(isa, a, b, c, THREADS[-1])
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=0, atol=TOLERANCE[np.float32] * 513)


@pytest.mark.parametrize("kc, mc_tiles", [(0, 16), (24, 16), (4096, 16), (512, 0), (512, 65)])
def test_a_blocking_out_of_range_is_refused(kc, mc_tiles):
    with pytest.raises(UsageError):
        _kernels.set_gemm_blocking(kc, mc_tiles)
    assert _kernels.gemm_blocking() == {"kc": 512, "mc_tiles": 16}


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("isa", ALL_ISAS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, n", [(1, 1), (7, 13), (33, 65), (1000, 3), (3, 1000), (129, 17)])
def test_gemv_and_transposed_gemv_match_numpy(m, n, dtype, isa, threads, rng):
    a = operands(rng, dtype, m, n)
    x, y = operands(rng, dtype, n), np.full(m, np.nan, dtype=dtype)
    _kernels.gemv_apply(isa, False, a, x, y, threads)
    np.testing.assert_allclose(y, a.astype(np.float64) @ x, rtol=0, atol=TOLERANCE[dtype] * n)
    x, y = operands(rng, dtype, m), np.full(n, np.nan, dtype=dtype)
    _kernels.gemv_apply(isa, True, a, x, y, threads)
    np.testing.assert_allclose(y, a.T.astype(np.float64) @ x, rtol=0, atol=TOLERANCE[dtype] * m)


def test_counts_are_exact():
    assert counts(2, 3, 4, 8) == (2 * 2 * 3 * 4, 8 * (2 * 4 + 4 * 3 + 2 * 3))
    m = measure_gemm(33, 65, 17, "float32", threads=1)
    assert m.shape == (33, 65, 17) and m.dtype == "float32"
    assert m.flops == m.reps_per_sample * 2 * 33 * 65 * 17
    assert m.bytes == m.reps_per_sample * 4 * (33 * 17 + 17 * 65 + 33 * 65)
    assert m.ai == pytest.approx(2 * 33 * 65 * 17 / (4 * (33 * 17 + 17 * 65 + 33 * 65)))


def test_blas_is_a_separate_record_timed_like_bwbench():
    ours, blas = measure_products(33, 65, 17, "float32", threads=1)
    assert (ours.variant, blas.variant) == ("regular", "reference")
    assert blas.shape == ours.shape and blas.threads == ours.threads == 1 and blas.cpus == ours.cpus
    assert blas.isa == timing.blas_name() and blas.isa != ours.isa
    assert len(blas.samples_s) == len(ours.samples_s) == 10
    assert blas.flops == blas.reps_per_sample * 2 * 33 * 65 * 17
    # (how many calls calibration puts in a sample depends on the load of the host: not asserted here)


def test_a_blas_time_of_zero_is_refused_not_divided(monkeypatch):
    monkeypatch.setattr(timing.time, "perf_counter", lambda: 1.0)   # a clock that never moves
    monkeypatch.setattr(timing, "MAX_REPS", 4)                      # (calibration would run 2^40 calls)
    with pytest.raises(ValidationError, match="could not time it"):
        measure_products(8, 8, 8, threads=1)


def test_gemv_is_recorded_as_the_n_equal_1_product():
    m = measure_gemv(300, 200, threads=1)
    assert (m.kernel, m.variant, m.shape) == ("gemv", "regular", (300, 1, 200))
    assert m.flops == m.reps_per_sample * 2 * 300 * 200
    assert m.bytes == m.reps_per_sample * 8 * (300 * 200 + 200 + 300)
    t = measure_gemv(300, 200, transpose=True, threads=1)
    assert (t.variant, t.shape) == ("transposed", (200, 1, 300))
    assert measure_product(64, 1, 32, threads=1).kernel == "gemv"
    assert measure_product(64, 2, 32, threads=1).kernel == "gemm"
    assert [r.shape for r in measure_products(64, 1, 32, threads=1, transpose=True)] == [(32, 1, 64)] * 2


def test_a_wrong_product_is_an_error(monkeypatch):
    def wrong(isa, a, b, c, *args):
        c[...] = 0
        return np.ones(10), [0], 1, 0
    monkeypatch.setattr(_kernels, "gemm_measure", wrong)
    with pytest.raises(ValidationError, match="wrong elements"):
        measure_gemm(8, 8, 8, threads=1)


@pytest.mark.parametrize("text, dims, shape", [("2048x2048x2048", 3, (2048, 2048, 2048)), ("7X13x5", 3, (7, 13, 5)),
                                               ("8192x8192", 2, (8192, 8192))])
def test_parse_shape(text, dims, shape):
    assert parse_shape(text, dims) == shape


@pytest.mark.parametrize("text, dims", [("2x2", 3), ("0x3x3", 3), ("-1x3x3", 3), ("ax3x3", 3), ("2x2x2", 2), ("", 2)])
def test_parse_shape_refuses(text, dims):
    with pytest.raises(UsageError):
        parse_shape(text, dims)


def test_sweep_is_the_transformer_projection_shapes():
    shapes = sweep_shapes()
    assert len(shapes) == 3 * 2 * 11
    assert (768, 1, 768) in shapes and (3072, 1024, 768) in shapes and (16384, 512, 4096) in shapes
    assert all(k in (768, 1024, 4096) and m in (k, 4 * k) for m, n, k in shapes)


def test_impossible_sizes_and_dtypes_are_refused():
    with pytest.raises(UsageError, match="exceeds"):
        measure_gemm(10**6, 10**6, 10**6)
    with pytest.raises(UsageError, match="unknown dtype"):
        measure_gemm(2, 2, 2, "float16")


def test_checks_run_numpy_blas_on_one_thread():
    """A pool of several would spin into the next measurement (bwbench.timing.checking)."""
    from threadpoolctl import threadpool_info
    with timing.checking():
        assert {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"} <= {1}
