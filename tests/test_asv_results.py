"""roofline --from-asv on results written by asv's own classes (fast; the
end-to-end run is tests/test_asv_workflow.py): asv's loader, the measured
thread count, no invented names, failed tracks and unknown layouts refused."""
import datetime
import json

import pytest
from asv.benchmarks import Benchmarks
from asv.results import Results
from asv.runner import BenchmarkResult
from asv.util import write_json

from bwbench import asv_results, cli
from bwbench.errors import UsageError

LEVELS = ["'L1'", "'L2'", "'L3'", "'DRAM'"]
BENCHMARKS = {  # as asv writes them for benchmarks/roofline.py, under other names
    "suite.Roof.bw": {"type": "track", "param_names": ["level"], "params": [LEVELS], "unit": "GB/s"},
    "suite.Roof.peak": {"type": "track", "param_names": ["dtype"], "params": [["'float64'", "'float32'"]],
                        "unit": "GFLOP/s"},
    "suite.Roof.threads": {"type": "track", "param_names": [], "params": [], "unit": "threads"},
    "suite.Other.gbps": {"type": "track", "param_names": ["kernel"], "params": [["'copy'"]], "unit": "GB/s"},
}


def store(results_dir, machine="host", commit="abcdef1234", bandwidth=(300.0, 200.0, 100.0, 30.0),
          peaks=(50.0, 100.0), threads=2, benchmarks=BENCHMARKS):
    """One run of `machine` at `commit` through asv's Results.save()."""
    benchmarks = {name: {**b, "name": name, "version": "1"} for name, b in benchmarks.items()}
    write_json(Benchmarks.get_benchmark_file_path(str(results_dir)), benchmarks, Benchmarks.api_version)
    folder = results_dir / machine
    folder.mkdir(parents=True, exist_ok=True)
    write_json(str(folder / "machine.json"), {"machine": machine, "num_cpu": "64"}, 1)
    run = Results({"machine": machine, "num_cpu": "64"}, {}, commit, 1700000000000, "3.11", "env", {})
    for name, values in (("suite.Roof.bw", bandwidth), ("suite.Roof.peak", peaks), ("suite.Roof.threads", threads)):
        if values is not False:
            count = len(BENCHMARKS[name]["params"][0]) if BENCHMARKS[name]["params"] else 1
            values = [None] * count if values is None else list(values) if isinstance(values, tuple) else [values]
            result = BenchmarkResult(values, [None] * count, [None] * count, 0, "", None)
            run.add_result(benchmarks[name], result, started_at=datetime.datetime.now(datetime.timezone.utc))
    run.save(str(results_dir))


def test_the_roofline_keeps_the_measured_threads_and_the_tracks_names(tmp_path):
    store(tmp_path)
    roofline, commit = asv_results.load_roofline(str(tmp_path), "host")
    assert commit == "abcdef1234" and roofline.threads == 2   # not the machine's 64 CPUs
    assert [(c["level"], c["gbps"]) for c in roofline.memory_ceilings] == [("L1", 300.0), ("L2", 200.0),
                                                                           ("L3", 100.0), ("DRAM", 30.0)]
    assert {c["name"] for c in roofline.compute_ceilings} == {"suite.Roof.peak"}
    assert roofline.peak("float32") == 100.0


def test_failed_points_are_left_out_and_a_track_that_failed_completely_is_refused(tmp_path):
    store(tmp_path, bandwidth=(300.0, None, 100.0, None), threads=False)
    roofline, _ = asv_results.load_roofline(str(tmp_path), "host")
    assert [c["level"] for c in roofline.memory_ceilings] == ["L1", "L3"]
    assert roofline.unresolved_levels == ("L2", "DRAM") and roofline.threads == 0
    store(tmp_path / "failed", bandwidth=None)
    with pytest.raises(UsageError, match="hold no roofline values"):
        asv_results.load_roofline(str(tmp_path / "failed"), "host")


def test_tracks_are_found_by_what_they_are_not_by_name(tmp_path):
    ambiguous = {**BENCHMARKS, "suite.Copy.bw": BENCHMARKS["suite.Roof.bw"]}
    store(tmp_path, benchmarks=ambiguous)
    with pytest.raises(UsageError, match="several tracks"):
        asv_results.roofline_tracks(str(tmp_path))
    without = {name: b for name, b in BENCHMARKS.items() if name != "suite.Roof.peak"}
    store(tmp_path / "nopeak", benchmarks=without, peaks=False)
    with pytest.raises(UsageError, match="no roofline track for peak"):
        asv_results.roofline_tracks(str(tmp_path / "nopeak"))


def test_from_asv_on_the_command_line(tmp_path, capsys):
    store(tmp_path / "results")
    out = tmp_path / "fig"
    assert cli.main(["roofline", "--from-asv", str(tmp_path / "results"), "--out", str(out)]) == 0
    assert "host @ abcdef12" in capsys.readouterr().out
    (tmp_path / "results" / "benchmarks.json").write_text("{")
    assert cli.main(["roofline", "--from-asv", str(tmp_path / "results"), "--out", str(out)]) == 2
    assert "cannot read asv's benchmark list" in capsys.readouterr().err


def test_the_suite_follows_the_convention():
    """benchmarks/roofline.py's tracks match ROLES (what --from-asv looks for)."""
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "roofline.py")
    spec = importlib.util.spec_from_file_location("roofline_suite", path)
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    tracks = [getattr(suite.RooflineCeilings, name) for name in dir(suite.RooflineCeilings) if name.startswith("track_")]
    shapes = {(tuple(getattr(t, "param_names", [])), t.unit) for t in tracks}
    assert {(tuple(names), unit) for names, unit in asv_results.ROLES.values()} <= shapes
    json.dumps(asv_results.ROLES)
