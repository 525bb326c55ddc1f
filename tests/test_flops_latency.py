"""The compute kernels: the intensity ladder against numpy, peaks and latency validated and counted."""
import numpy as np
import pytest

from bwbench import _kernels
from bwbench.errors import UsageError
from bwbench.flops import LADDER_BYTES, measure_ladder, measure_peak
from bwbench.latency import CHASE_STEPS, measure_latency
from conftest import ISAS, THREADS, aligned


def ladder_reference(x, flops):
    if flops == 1:
        return x + 0.5
    for _ in range(flops // 2):
        x = x * 0.5 + 0.5
    return x


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("isa", ["generic", *ISAS])
@pytest.mark.parametrize("flops", [1, 2, 8, 64])
@pytest.mark.parametrize("n", [1, 7, 1023, 4099])
def test_ladder_matches_numpy(n, flops, isa, threads, rng):
    x = rng.uniform(-2, 2, n)
    a = aligned(x)
    _kernels.ladder_apply(isa, flops, a, threads)
    np.testing.assert_allclose(a, ladder_reference(x, flops), rtol=1e-14, atol=1e-15)


def test_ladder_counts():
    m = measure_ladder(8, 64 * 1024, threads=1)
    n = 64 * 1024 // 8
    assert (m.flops, m.bytes) == (m.reps_per_sample * n * 8, m.reps_per_sample * n * LADDER_BYTES)
    assert m.ai == 0.5
    with pytest.raises(UsageError):
        measure_ladder(3, 4096)


# values one register holds, (float64, float32), for each ISA the C core has; generic is plain scalar C
LANES = {"generic": (1, 1), "sse2": (2, 4), "avx2": (4, 8), "avx512": (8, 16)}


def test_lanes_are_known_for_every_isa_of_the_c_core():
    assert sorted(LANES) == sorted(_kernels.ISAS)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_peak_counts_two_flops_per_lane_per_step(dtype):
    m = measure_peak(dtype, "fma", threads=1)   # on this CPU's widest ISA, whatever its name
    assert m.flops == m.reps_per_sample * 2 * 1024 * 12 * LANES[m.isa][dtype == "float32"]
    scalar = measure_peak(dtype, "scalar", threads=1)
    assert scalar.isa == "generic" and scalar.flops == scalar.reps_per_sample * 2 * 1024 * 12


def test_latency_counts_dependent_loads():
    m = measure_latency(64 * 1024)
    assert m.accesses == m.reps_per_sample * CHASE_STEPS and m.level in ("L1d", "L2")
    assert m.latency_ns == pytest.approx(m.best_s / m.accesses * 1e9) and m.working_set_bytes == 64 * 1024
    with pytest.raises(UsageError):
        measure_latency(64)
