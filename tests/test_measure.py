"""measure_stream(): exact byte and FLOP counts, statistics, refusals."""
import pytest

from bwbench import _kernels, measure_stream
from bwbench.errors import UsageError, ValidationError
from bwbench import measure
from bwbench.measure import PASSES, Measurement, median_pass

# kernel: (STREAM bytes, hardware bytes regular, hardware bytes nt, FLOPs) per element
COUNTS = {"copy": (16, 24, 16, 0), "scale": (16, 24, 16, 1), "add": (24, 32, 24, 1),
          "triad": (24, 32, 24, 2), "load": (8, 8, None, 1)}
N = 1000


@pytest.mark.parametrize("kernel", sorted(COUNTS))
def test_counts_per_sample_are_exact(kernel):
    stream_bytes, hw_regular, hw_nt, flops = COUNTS[kernel]
    for variant, hw in (("regular", hw_regular), ("nt", hw_nt)):
        if hw is None:
            continue
        m = measure_stream(kernel, variant, threads=1, size=N * stream_bytes)
        reps = m.reps_per_sample
        assert reps >= 1 and len(m.samples_s) == 10
        assert m.working_set_bytes == N * stream_bytes
        assert (m.bytes, m.hw_bytes, m.flops) == (reps * N * stream_bytes, reps * N * hw, reps * N * flops)
        assert m.level == "L1d" and m.isa == _kernels.best_isa() and len(m.cpus) == 1


def test_size_is_rounded_down_to_whole_elements():
    m = measure_stream("triad", size=24 * 100 + 23, threads=1)
    assert m.working_set_bytes == 2400


def test_statistics_skip_the_warmup_sample():
    m = Measurement("copy", "regular", "avx2", "float64", 1, 16, 1000, 1500, 0, 1,
                    samples_s=(9.0, 2.0, 1.0, 3.0, 1.0, 3.0))
    assert (m.best_s, m.median_s) == (1.0, 2.0)
    assert m.cv == pytest.approx(1.0 / 2.0)
    assert m.gbps == pytest.approx(1e-6) and m.hw_gbps == pytest.approx(1.5e-6)
    assert Measurement.from_dict(m.to_dict()) == m


def test_a_wrong_result_is_an_error_not_a_number(monkeypatch):
    def corrupted(*args):
        return [1e-3] * 10, [0], 1, 3
    monkeypatch.setattr(_kernels, "stream_measure", corrupted)
    with pytest.raises(ValidationError, match="3 wrong elements"):
        measure_stream("copy", size=1600, threads=1)


@pytest.mark.parametrize("kwargs, message", [
    ({"kernel": "nope"}, "unknown kernel"),
    ({"kernel": "load", "variant": "nt"}, "invalid variant"),
    ({"kernel": "copy", "threads": 0}, "invalid thread count"),
    ({"kernel": "copy", "threads": 10**6}, "invalid thread count"),
    ({"kernel": "copy", "size": 8}, "smaller than one element"),
    ({"kernel": "copy", "size": 2**62}, "exceeds"),
    ({"kernel": "copy", "ntimes": 3}, "at least 10"),
    ({"kernel": "copy", "isa": "neon"}, "unknown ISA"),
])
def test_bad_arguments_are_refused_before_allocating(kwargs, message):
    with pytest.raises(UsageError, match=message):
        measure_stream(**kwargs)


def test_median_pass_times_only_the_run_and_keeps_the_median_pass(monkeypatch):
    clock = iter([0.0, 0.5, 1.0, 1.1, 2.0, 2.9, 3.0, 3.3, 4.0, 4.7])   # passes of 0.5, 0.1, 0.9, 0.3, 0.7 s
    monkeypatch.setattr(measure.time, "perf_counter", lambda: next(clock))
    prepared = iter(range(PASSES))
    assert PASSES == 5
    assert median_pass(lambda i: f"pass {i}", lambda: next(prepared)) == (0.5, "pass 0")
    assert next(clock, None) is None   # two readings a pass, none around prepare()
