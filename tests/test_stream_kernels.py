"""Every STREAM kernel, every ISA this host runs, against numpy."""
import numpy as np
import pytest

from bwbench import _kernels
from conftest import ISAS, THREADS, aligned

SIZES = [1, 7, 1023, 4099]
S = 3.0
EXPECTED = {
    "copy": lambda b, c: b,
    "scale": lambda b, c: S * b,
    "add": lambda b, c: b + c,
    "triad": lambda b, c: b + S * c,
}


def run(kernel, nt, isa, b, c, threads):
    a = aligned(np.full(b.size, np.nan))
    total = _kernels.stream_apply(kernel, nt, isa, a, b, c, S, threads)
    return a, total


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("kernel", sorted(EXPECTED))
def test_storing_kernels_match_numpy_and_nt_matches_regular(kernel, isa, n, threads, rng):
    b, c = aligned(rng.uniform(1, 2, n)), aligned(rng.uniform(1, 2, n))
    regular, _ = run(kernel, False, isa, b, c, threads)
    streamed, _ = run(kernel, True, isa, b, c, threads)
    np.testing.assert_allclose(regular, EXPECTED[kernel](b, c), rtol=1e-15)
    np.testing.assert_array_equal(streamed, regular)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("isa", ISAS)
def test_load_sums_like_numpy(isa, n, threads, rng):
    b = aligned(rng.uniform(1, 2, n))
    total = _kernels.stream_apply("load", False, isa, None, b, None, S, threads)
    assert total == pytest.approx(np.sum(b), rel=1e-13)


def test_load_has_no_nontemporal_variant():
    with pytest.raises(ValueError, match="not supported"):
        _kernels.stream_apply("load", True, ISAS[-1], None, aligned([1.0]), None, S, 1)


def test_missing_array_and_misalignment_are_refused():
    b = aligned(np.ones(16))
    with pytest.raises(ValueError, match="missing array"):
        _kernels.stream_apply("add", False, ISAS[-1], aligned(np.ones(16)), b, None, S, 1)
    with pytest.raises(ValueError, match="aligned"):
        _kernels.stream_apply("copy", False, ISAS[-1], aligned(np.ones(17))[1:], b, None, S, 1)


@pytest.mark.parametrize("kernel", sorted(EXPECTED))
def test_validation_passes_a_right_result_and_catches_one_wrong_element(kernel):
    n = 1000
    a, b, c = (aligned(np.zeros(n)) for _ in range(3))
    _kernels.stream_fill(a, b, c, ISAS[-1], 1)
    assert _kernels.stream_check(kernel, a, S, n, 0.0) == n  # a = -1 before the kernel runs
    _kernels.stream_apply(kernel, False, ISAS[-1], a, b, c, S, 1)
    assert _kernels.stream_check(kernel, a, S, n, 0.0) == 0
    a[n // 2] += 1.0
    assert _kernels.stream_check(kernel, a, S, n, 0.0) == 1


def test_validation_catches_a_wrong_load_sum():
    n = 1000
    b = aligned(np.zeros(n))
    _kernels.stream_fill(None, b, None, ISAS[-1], 1)
    total = _kernels.stream_apply("load", False, ISAS[-1], None, b, None, S, 1)
    assert _kernels.stream_check("load", None, S, n, total) == 0
    assert _kernels.stream_check("load", None, S, n, total + 1.0) == 1
