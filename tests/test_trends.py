"""Figure 1 from the shipped points: the fits come out as the paper's, this
host's points are placed in the same units, the figure and JSON are written."""
import json
import math

import pytest

from bwbench import cli
from bwbench.trends import Point, base, growth_per_2_years, load_points


def test_shipped_points_give_the_papers_fits():
    points = load_points()
    assert {name: len(series) for name, series in points.items()} == {"flops": 37, "dram": 12, "interconnect": 10}
    fits = {name: growth_per_2_years(series) for name, series in points.items()}
    assert fits["flops"] == pytest.approx(3.0, abs=0.1)
    assert fits["dram"] == pytest.approx(1.6, abs=0.05)
    assert fits["interconnect"] == pytest.approx(1.4, abs=0.05)


def test_growth_of_an_exact_exponential():
    points = [Point(2000 + t, 5 * 2 ** (t / 2), "", 1.0) for t in range(6)]   # 2x every 2 years
    assert growth_per_2_years(points) == pytest.approx(2.0)


def test_bases_are_the_figures_first_points():
    points = load_points()
    assert base(points["flops"]) == pytest.approx(3.39e8)    # R10000
    assert base(points["dram"]) == pytest.approx(15.2)       # GDDR3, GB/s
    assert base(points["interconnect"]) == pytest.approx(0.3125)   # PCIe 1.0, one lane


def test_trends_with_this_hosts_link(tmp_path, capsys):
    link = tmp_path / "link.json"
    link.write_text(json.dumps({"schema": "bwbench/1", "machine": {}, "measurements": [], "interconnect": {
        "ranks": 2, "placement": [{"host": "h"}], "tests": [
            {"test": "bw", "bytes": 8, "latency_us": 1.0, "algbw_gbps": 0.008},
            {"test": "bw", "bytes": 1 << 20, "latency_us": 100.0, "algbw_gbps": 10.5}]}}))
    out = tmp_path / "fig"
    assert cli.main(["trends", "--interconnect", str(link), "--out", str(out), "--json", str(tmp_path / "t.json")]) == 0
    assert "3.0" in capsys.readouterr().out
    result = json.loads((tmp_path / "t.json").read_text())["trends"]
    assert set(result["fits"]) == {"flops", "dram", "interconnect"}
    host = result["host"]["interconnect"]
    assert host["value"] == 10.5 and host["normalised"] == pytest.approx(10.5 / 0.3125)
    assert math.floor(host["year"]) >= 2024
    assert sorted(p.name for p in out.iterdir()) == ["trends.png", "trends.svg"]


def test_trends_refuses_a_file_without_a_roofline(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"schema": "bwbench/1", "machine": {}, "measurements": []}))
    assert cli.main(["trends", "--roofline", str(path), "--out", str(tmp_path)]) == 2
    assert "holds no roofline" in capsys.readouterr().err
    assert cli.main(["trends", "--interconnect", str(path), "--out", str(tmp_path)]) == 2
    assert "holds no interconnect result" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_this_hosts_peak_and_dram_from_a_roofline(tmp_path):
    from bwbench import machine_info, write_result
    from bwbench.roofline import Roofline
    from bwbench.trends import host_points

    load = {"level": "DRAM", "gbps": 25.0, "hw_gbps": 25.0, "kernel": "load", "points": 3, "threads": 2}
    roofline = Roofline(({"level": "DRAM", "gbps": 20.0},), ({"name": "fma", "dtype": "float32", "gflops": 200.0},
                                                             {"name": "fma", "dtype": "float64", "gflops": 100.0}),
                        2, extra={"sweep_ceilings": [load]})
    path = tmp_path / "roofline.json"
    write_result(str(path), {**machine_info(), "cpu": "Test CPU"}, [], roofline=roofline.to_dict())
    host = host_points(load_points(), str(path))
    assert host["flops"].value == 200e9 and host["flops"].normalised == pytest.approx(200e9 / 3.39e8)
    assert host["dram"].value == 25.0   # the read-only roof, the higher of the two
    assert "Test CPU" in host["dram"].label and "interconnect" not in host
