"""Negative tests: every C check is fed a wrong result and must refuse it,
and the Python layer turns a refusal into ValidationError, never a number."""
import numpy as np
import pytest

from bwbench import _kernels, flops, latency
from bwbench.errors import ValidationError
from conftest import ISAS, aligned

MASK = 2**64 - 1


def peak_values(threads, lanes, float32, steps):
    """What the peak recurrence leaves after `steps` steps: accumulator j at j - 2^m + steps."""
    origin = 2.0**24 if float32 else 2.0**53
    out = np.zeros(threads * 192)
    for t in range(threads):
        for j in range(12):
            out[t * 192 + j * lanes: t * 192 + (j + 1) * lanes] = j - origin + steps
    return out


@pytest.mark.parametrize("float32, lanes", [(False, 8), (True, 16), (False, 1)])
def test_peak_check_accepts_exactly_the_steps_done(float32, lanes):
    steps = 1024 * 37
    good = peak_values(2, lanes, float32, steps)
    assert _kernels.peak_check(good, 2, lanes, float32, steps) == 0
    assert _kernels.peak_check(good, 2, lanes, float32, steps + 1) == 2 * 12 * lanes  # one step short
    assert _kernels.peak_check(peak_values(2, lanes, float32, steps - 1024), 2, lanes, float32, steps) == 2 * 12 * lanes
    wrong = good.copy()
    wrong[192 + 5] += 1.0   # one lane of the second thread
    assert _kernels.peak_check(wrong, 2, lanes, float32, steps) == 1
    wrong[7] = np.nan
    assert _kernels.peak_check(wrong, 2, lanes, float32, steps) == 2


def test_peak_check_refuses_steps_past_its_exact_range():
    steps = 2**25  # float32 counts exactly from -2^24 to 2^24 only
    assert _kernels.peak_check(peak_values(1, 16, True, steps), 1, 16, True, steps) == 12 * 16


@pytest.mark.parametrize("flops_per_element", [1, 8])
def test_ladder_check_refuses_a_missing_pass_a_wrong_element_and_nan(flops_per_element):
    n = 1000
    a = aligned(np.arange(n) % 16 / 16.0)   # the fill pattern
    assert _kernels.ladder_check(a, flops_per_element) == n      # no pass was run
    _kernels.ladder_apply(ISAS[-1], flops_per_element, a, 1)
    assert _kernels.ladder_check(a, flops_per_element) == 0
    _kernels.ladder_apply(ISAS[-1], flops_per_element, a, 1)     # two passes are not one
    assert _kernels.ladder_check(a, flops_per_element) > 0
    a[:] = np.arange(n) % 16 / 16.0
    _kernels.ladder_apply(ISAS[-1], flops_per_element, a, 1)
    a[3], a[500] = a[3] * (1 + 1e-9), np.nan
    assert _kernels.ladder_check(a, flops_per_element) == 2


def chase_end(nbytes, loads):
    """latency.c's cycle, rebuilt in Python (xorshift, Sattolo), walked `loads` times from line 0."""
    n, state = nbytes // 64, 0x9E3779B97F4A7C15
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        state ^= (state << 13) & MASK
        state ^= state >> 7
        state ^= (state << 17) & MASK
        j = state % i
        order[i], order[j] = order[j], order[i]
    following = {order[i]: order[(i + 1) % n] for i in range(n)}
    at = 0
    for _ in range(loads):
        at = following[at]
    return at


@pytest.mark.parametrize("loads", [1, 63, 64, 1000])
def test_chase_check_accepts_only_the_end_of_as_many_loads(loads):
    end = chase_end(4096, loads)
    assert _kernels.chase_check(4096, loads, end) == 0
    assert _kernels.chase_check(4096, loads, (end + 1) % 64) == 1
    assert _kernels.chase_check(4096, loads + 1, end) == 1   # the chase stopped one load short


def test_stream_check_refuses_nan():
    n = 64
    a, b = aligned(np.zeros(n)), aligned(np.zeros(n))
    _kernels.stream_fill(a, b, None, ISAS[-1], 1)
    _kernels.stream_apply("copy", False, ISAS[-1], a, b, None, 3.0, 1)
    a[9] = np.nan
    assert _kernels.stream_check("copy", a, 3.0, n, 0.0) == 1


@pytest.mark.parametrize("module, name, result, call", [
    (flops, "peak_measure", ([1e-3] * 10, [0], 1, 2, 100.0), lambda: flops.measure_peak("float64", "fma", 1)),
    (flops, "ladder_measure", ([1e-3] * 10, [0], 1, 2), lambda: flops.measure_ladder(2, 4096, 1)),
    (latency, "chase_measure", ([1e-3] * 10, [0], 1, 1), lambda: latency.measure_latency(4096)),
])
def test_a_refused_check_is_a_validation_error(monkeypatch, module, name, result, call):
    monkeypatch.setattr(module._kernels, name, lambda *args: (np.array(result[0]),) + result[1:])
    with pytest.raises(ValidationError):
        call()
