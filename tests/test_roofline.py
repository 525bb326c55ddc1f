"""The roofline model: level detection on synthetic curves, ridge points, JSON, figures."""
import json

import numpy as np
import pytest

from bwbench import ceilings, read_result, write_result
from bwbench.ceilings import build_roofline, sweep_sizes
from bwbench.errors import UsageError
from bwbench.measure import Measurement
from bwbench.plot import write_figures
from bwbench.roofline import Roofline, level_values, level_windows

CAPACITIES = {"L1": 32 * 2**10, "L2": 2**20, "L3": 32 * 2**20}
PLATEAUS = {"L1": 200.0, "L2": 100.0, "L3": 50.0, "DRAM": 10.0}


def curve(size):
    """A clean step curve: each level's plateau up to its capacity."""
    for level, capacity in CAPACITIES.items():
        if size <= capacity:
            return PLATEAUS[level]
    return PLATEAUS["DRAM"]


SIZES = sweep_sizes(8, 8 * CAPACITIES["L3"])


def test_sweep_sizes_are_geometric_with_eight_points_per_decade():
    assert SIZES[0] == 4032 and SIZES[-1] >= 8 * CAPACITIES["L3"] * 0.99
    ratios = np.diff(np.log10(SIZES))
    assert ratios.max() <= 1 / 8 + 0.01 and len(SIZES) >= 8 * np.log10(SIZES[-1] / SIZES[0])


def test_windows_stay_well_inside_each_level():
    windows = level_windows(CAPACITIES)
    assert windows["L1"] == (0, 16 * 2**10)
    assert windows["L2"] == (64 * 2**10, 2**19)
    assert windows["DRAM"] == (128 * 2**20, float("inf"))


def test_clean_curve_gives_each_plateau():
    resolved, unresolved = level_values([(s, curve(s)) for s in SIZES], CAPACITIES)
    assert {level: value for level, (value, _) in resolved.items()} == PLATEAUS
    assert unresolved == []


def test_noisy_curve_gives_each_plateau_within_the_noise():
    rng = np.random.default_rng(7)
    points = [(s, curve(s) * rng.uniform(0.9, 1.1)) for s in SIZES]
    resolved, _ = level_values(points, CAPACITIES)
    for level, (value, count) in resolved.items():
        assert count >= 2 and value == pytest.approx(PLATEAUS[level], rel=0.1)


def test_a_level_without_points_is_flagged_not_invented():
    points = [(s, curve(s)) for s in SIZES if not 2 * CAPACITIES["L1"] <= s <= CAPACITIES["L2"]]
    resolved, unresolved = level_values(points, CAPACITIES)
    assert unresolved == ["L2"] and "L2" not in resolved and resolved["L3"][0] == 50.0


def test_a_level_too_close_to_the_one_below_is_unresolved():
    resolved, unresolved = level_values([(s, curve(s)) for s in SIZES], {"L1": 32 * 2**10, "L2": 48 * 2**10})
    assert unresolved == ["L2"]


def roofline():
    memory = ({"level": "L1", "gbps": 400.0}, {"level": "DRAM", "gbps": 50.0})
    compute = ({"name": "fma-avx512", "dtype": "float64", "gflops": 100.0},
               {"name": "avx512", "dtype": "float64", "gflops": 90.0},
               {"name": "fma-avx512", "dtype": "float32", "gflops": 200.0})
    return Roofline(memory, compute, threads=2)


def test_ridge_points_and_attainable():
    r = roofline()
    assert r.ridge_point("DRAM") == 2.0 and r.ridge_point("L1") == 0.25
    assert r.ridge_point("DRAM", "float32") == 4.0
    assert r.attainable(1.0) == 50.0 and r.attainable(8.0) == 100.0 and r.attainable(0.1, "L1") == 40.0
    with pytest.raises(UsageError, match="no L3 read-write ceiling"):
        r.bandwidth("L3")
    with pytest.raises(UsageError, match="no DRAM read-only ceiling"):
        r.bandwidth("DRAM", "read")
    with pytest.raises(UsageError, match="no float16"):
        r.peak("float16")


def test_roofline_json_round_trip():
    r = roofline()
    record = json.loads(json.dumps(r.to_dict()))
    assert record["ridge_points"]["float64"] == {"L1": 0.25, "DRAM": 2.0}
    assert Roofline.from_dict(record).to_dict() == r.to_dict()
    with pytest.raises(UsageError, match="malformed roofline"):
        Roofline.from_dict({"threads": 2, "memory_ceilings": [{"level": "L1"}], "compute_ceilings": []})


def sweep_point(kernel, size, gbps, hw_ratio):
    """A measurement whose best sample gives `gbps` in STREAM bytes."""
    return Measurement(kernel, "regular", "avx512", "float64", 1, size, int(gbps * 1e6),
                       int(gbps * 1e6 * hw_ratio), 0, 1, (1.0, 1e-3, 1e-3))


def test_build_roofline_counts_write_allocate_below_l1(monkeypatch):
    monkeypatch.setattr(ceilings, "level_capacities", lambda threads: CAPACITIES)
    measurements = [sweep_point(kernel, s, curve(s), ratio) for kernel, ratio in (("read", 1.0), ("copy", 1.5))
                    for s in SIZES]
    measurements += [Measurement("peak", "fma", "avx512", "float64", 1, 0, 0, 0, 10**8, 1, (1.0, 1e-3, 1e-3))]
    r = build_roofline(measurements, 1)
    assert [c["level"] for c in r.memory_ceilings] == ["L1", "L2", "L3", "DRAM"]
    assert r.bandwidth("L1") == pytest.approx(200.0)                      # in L1: STREAM bytes
    assert r.bandwidth("DRAM") == pytest.approx(15.0)                     # below: copy's 1.5x traffic
    assert r.memory_ceilings[-1]["kernel"] == "copy" and r.peak() == pytest.approx(100.0)
    assert r.unresolved_levels == ()
    # the read-only roof: the read kernel's own bandwidth at every level, never copy's
    assert [c["level"] for c in r.read_ceilings] == ["L1", "L2", "L3", "DRAM"]
    assert [r.bandwidth(level, "read") for level in PLATEAUS] == pytest.approx(list(PLATEAUS.values()))
    assert Roofline.from_dict(json.loads(json.dumps(r.to_dict()))).read_ceilings == r.read_ceilings


def test_bracket_measures_every_level_once_and_its_mean_predicts(monkeypatch):
    monkeypatch.setattr(ceilings, "level_capacities", lambda threads: CAPACITIES)
    monkeypatch.setattr(ceilings, "last_level_cache_bytes", lambda: CAPACITIES["L3"])
    taken, factor = [], [1.0]   # the host speeds up by 20% during the run
    monkeypatch.setattr(ceilings, "measure_stream", lambda kernel, variant, threads, size, ntimes: taken.append(
        (kernel, size)) or sweep_point(kernel, size, curve(size) * factor[0], 1.0))
    monkeypatch.setattr(ceilings, "measure_peak", lambda dtype, kind, threads, ntimes=10: Measurement(
        "peak", kind, "avx512", dtype, threads, 0, 0, 0, 10**8, 1, (1.0, 1e-3, 1e-3)))
    result, first, second, mean = ceilings.bracketed(lambda: factor.append(1.2) or factor.pop(0), 1,
                                                     lambda label, steps: [s.run() for s in steps])
    assert result == 1.0 and len(taken) == 32
    assert sorted({kernel for kernel, _ in taken}) == ["copy", "load", "read", "triad"]
    for level, (low, high) in level_windows(CAPACITIES).items():   # one working set well inside each level
        assert sum(low <= size <= high for _, size in taken) == 8
    assert max(size for _, size in taken) == 12 * CAPACITIES["L3"]   # each of triad's arrays 4x the LLC
    for level, gbps in PLATEAUS.items():
        assert mean.bandwidth(level, "read") == pytest.approx(1.1 * gbps)
        assert mean.bandwidth(level) == pytest.approx(1.1 * gbps)
    bracket = ceilings.bracket_drift(first, second)
    drift = {row["ceiling"]: row["drift"] for row in bracket}
    assert drift["DRAM read-only"] == pytest.approx(0.2 / 1.1) and drift["peak float64"] == 0.0
    assert len(drift) == 4 + 4 + 2
    summary = ceilings.drift_summary(bracket, {"DRAM read-only", "peak float64"})
    assert summary["flagged"] is True and summary["max"] == pytest.approx(0.2 / 1.1)
    assert ceilings.drift_summary(bracket, {"peak float64"})["flagged"] is False


def test_figures_and_json_from_a_tiny_real_run(tmp_path):
    from bwbench import machine_info
    from bwbench.flops import measure_ladder, measure_peak
    from bwbench.latency import measure_latency
    from bwbench.stream import measure_stream
    measurements = [measure_stream(k, "regular", 1, s) for k in ("load", "copy") for s in (4096, 8192, 2**16)]
    measurements += [measure_latency(s) for s in (4096, 2**16)]
    measurements += [measure_peak("float64", "fma", 1), measure_ladder(4, 2**15, 1)]
    r = build_roofline(measurements, 1)
    path = tmp_path / "roofline.json"
    write_result(str(path), machine_info(), measurements, roofline=r.to_dict())
    document = read_result(str(path))
    assert Roofline.from_dict(document["roofline"]).to_dict() == json.loads(json.dumps(r.to_dict()))
    written = write_figures(document, str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bandwidth.png", "roofline.json", "roofline.png",
                                                          "roofline.svg"]
    assert (tmp_path / "roofline.png").read_bytes()[:4] == b"\x89PNG" and len(written) == 3
    assert "<svg" in (tmp_path / "roofline.svg").read_text()[:500]


@pytest.mark.parametrize("points_per_decade", [4, 8])
def test_the_sweep_puts_points_well_inside_every_level(points_per_decade):
    """The quick and the full sweep leave no level of a typical host unresolved."""
    capacities = {"L1": 48 * 2**10, "L2": 2**21, "L3": 32 * 2**20}
    sizes = sweep_sizes(points_per_decade, 8 * capacities["L3"])
    for level, (low, high) in level_windows(capacities).items():
        assert sum(low <= size <= high for size in sizes) >= (1 if points_per_decade == 4 else 2), level
    assert all(size % 192 == 0 for size in sizes)   # whole lines of every kernel's arrays
