"""latency and latency --loaded: the chase beside load threads, validated as the
chase is; refusals in one line with exit status 2."""
import json
import os

import pytest

from bwbench import cli, loaded_latency
from bwbench.errors import UsageError
from bwbench.mixes import Mix

TWO = len(os.sched_getaffinity(0)) >= 2
SMALL = dict(chase_bytes=2**16, array_bytes=2**16, steps=200, samples=3)


@pytest.mark.skipif(not TWO, reason="one thread chases, another loads")
@pytest.mark.parametrize("mix", [Mix(1, 0), Mix(1, 1), Mix(2, 1)])
def test_the_curve_runs_from_no_delay_to_idle(mix):
    points = loaded_latency.measure_loaded(2, mix, delays=(0, 100, None), **SMALL)
    assert [p["delay_cycles"] for p in points] == [0, 100, None]
    assert points[0]["delay_ns"] == 0 and points[1]["delay_ns"] > 0 and points[-1]["delay_ns"] is None
    assert points[0]["gbps"] > 0 and points[-1]["gbps"] == 0   # idle: the load threads do nothing
    assert all(p["latency_ns"] > 0 and p["load_threads"] == 1 and p["mix"] == mix.name for p in points)


@pytest.mark.parametrize("kwargs, message", [
    ({"threads": 1}, "at least 2 threads"),
    ({"mix": "triad"}, "takes N:M"),
    ({"mix": Mix(1, 1, inplace=True)}, "takes N:M"),
    ({"samples": 1}, "at least 2 samples"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(UsageError, match=message):
        loaded_latency.measure_loaded(**{**SMALL, **kwargs})


@pytest.mark.skipif(not TWO, reason="one thread chases, another loads")
def test_latency_loaded_writes_the_curve(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(loaded_latency, "DELAYS", (0, 400, None))
    path = tmp_path / "lat.json"
    assert cli.main(["latency", "--loaded", "--size", "64KiB", "--threads", "2", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Loaded latency" in out and "idle" in out
    document = json.loads(path.read_text())
    assert [p["delay_cycles"] for p in document["loaded_latency"]] == [0, 400, None]
    assert {m["kernel"] for m in document["measurements"]} == {"latency"}


@pytest.mark.parametrize("args, message", [
    (["latency", "--mix", "1:1"], "--mix is for --loaded"),
    (["latency", "--loaded", "--mix", "x"], "invalid mix"),
    (["latency", "--loaded", "--threads", "1", "--size", "64KiB"], "at least 2 threads"),
    (["latency", "--places", "4096"], "invalid --places"),
])
def test_the_command_line_refuses_in_one_line(args, message, capsys):
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_curve_is_drawn_beside_the_roofline(tmp_path):
    from bwbench import plot
    points = [{"delay_cycles": 0, "delay_ns": 0.0, "gbps": 10.0, "latency_ns": 120.0, "load_threads": 1, "mix": "1:0"},
              {"delay_cycles": None, "delay_ns": None, "gbps": 0.0, "latency_ns": 90.0, "load_threads": 1,
               "mix": "1:0"}]
    paths = plot.write_loaded_latency(points, str(tmp_path), 12.0)
    assert [p.rsplit("/", 1)[1] for p in paths] == ["loaded-latency.png", "loaded-latency.svg"]
    assert (tmp_path / "loaded-latency.png").read_bytes()[:4] == b"\x89PNG"


def test_a_roofline_with_the_curve_draws_it(tmp_path):
    from bwbench import machine_info, plot
    from test_schema import MEASUREMENT, ROOFLINE
    roofline = ROOFLINE.to_dict()
    roofline["loaded_latency"] = [{"delay_cycles": 0, "delay_ns": 0.0, "gbps": 10.0, "latency_ns": 120.0,
                                   "load_threads": 1, "mix": "1:0"}]
    document = {"machine": machine_info(), "measurements": [MEASUREMENT], "roofline": roofline}
    names = sorted(p.rsplit("/", 1)[1] for p in plot.write_figures(document, str(tmp_path)))
    assert "loaded-latency.png" in names and "roofline.png" in names
