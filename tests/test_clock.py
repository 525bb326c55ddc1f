"""The clock under load, the theoretical peak from it, and the memory's
theoretical bandwidth where the platform tells it."""
import json
import subprocess

import pytest

from bwbench import cli, clock, memory_spec
from bwbench.ceilings import build_roofline
from bwbench.measure import Measurement

ADDS = 4096


def clock_at(ghz: float, threads: int = 2) -> Measurement:
    """A clock measurement whose best sample gives `ghz`."""
    return Measurement("clock", "add-chain", "scalar", "int64", threads, 0, 0, 0, 0, 1,
                       (1.0, 1e-3, 2e-3), cpus=tuple(range(threads)), level="registers",
                       accesses=int(ghz * 1e6))


def test_the_add_chain_runs_validated_on_every_thread():
    m = clock.measure_clock(1)
    assert m.kernel == "clock" and m.accesses % ADDS == 0 and m.accesses > 0
    assert 0.1 < clock.ghz(m) < 10 and clock.ghz(m) >= clock.ghz(m, "median")


def test_pipes_are_the_fma_ceiling_per_core_cycle_lane_rounded(monkeypatch):
    monkeypatch.setattr(clock, "physical_cores", lambda cpus: 2)
    ceilings = [{"name": "fma-avx2", "dtype": "float64", "gflops": 2 * 3.0 * 4 * 2 * 1.9},   # 1.9 pipes
                {"name": "fma-avx2", "dtype": "float32", "gflops": 2 * 3.0 * 8 * 2 * 1.8},
                {"name": "scalar", "dtype": "float64", "gflops": 6.0}]
    peak = clock.theoretical(clock_at(3.0), ceilings, cpus_path=[0, 1])
    assert peak["ghz"] == pytest.approx(3.0) and peak["fma_pipes"] == 2 and peak["cores"] == 2
    assert peak["gflops"] == pytest.approx({"float64": 96.0, "float32": 192.0})
    fractions = {(f["name"], f["dtype"]): f["fraction"] for f in peak["fractions"]}
    assert fractions[("fma-avx2", "float64")] == pytest.approx(0.95)
    assert fractions[("scalar", "float64")] == pytest.approx(6.0 / 96.0)


def test_smt_siblings_share_a_core():
    assert clock.physical_cores([0]) == 1
    assert clock.lanes("avx512", "float32") == 16 and clock.lanes("generic", "float32") == 1


def test_cpuinfo_mhz_is_the_mean_of_the_cpus_asked(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\ncpu MHz\t\t: 2000.0\n\nprocessor\t: 1\ncpu MHz\t\t: 3000.0\n\n"
                    "processor\t: 2\ncpu MHz\t\t: 9999.0\n")
    assert clock.cpuinfo_mhz([0, 1], str(path)) == pytest.approx(2500.0)
    assert clock.cpuinfo_mhz([7], str(path)) is None
    assert clock.cpuinfo_mhz([0], str(tmp_path / "missing")) is None


DMIDECODE = """Handle 0x1100, DMI type 17, 92 bytes
Memory Device
\tData Width: 64 bits
\tSize: 32 GB
\tSpeed: 4800 MT/s
\tConfigured Memory Speed: 4400 MT/s

Handle 0x1101, DMI type 17, 92 bytes
Memory Device
\tData Width: Unknown
\tSize: No Module Installed
"""


def test_memory_bandwidth_from_the_dimms_or_why_not(monkeypatch):
    monkeypatch.setattr(memory_spec.shutil, "which", lambda name: "/usr/sbin/dmidecode")
    ok = lambda *a, **k: subprocess.CompletedProcess(a, 0, DMIDECODE, "")
    found = memory_spec.theoretical_bandwidth(ok)
    assert found["gbps"] == pytest.approx(4400 * 8 / 1e3) and found["dimms"] == [{"mts": 4400, "bits": 64}]
    refused = lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "/dev/mem: Permission denied\n")
    assert memory_spec.theoretical_bandwidth(refused) == {
        "gbps": None, "reason": "the platform lists no memory speed (dmidecode: /dev/mem: Permission denied)"}
    monkeypatch.setattr(memory_spec.shutil, "which", lambda name: None)
    assert memory_spec.theoretical_bandwidth()["reason"] == "dmidecode is not installed"


def test_the_roofline_carries_the_theoretical_peak(monkeypatch):
    monkeypatch.setattr(clock, "physical_cores", lambda cpus: 1)
    peak = Measurement("peak", "fma", "avx512", "float64", 1, 0, 0, 0, 10**8, 1, (1.0, 1e-3, 1e-3))
    r = build_roofline([clock_at(3.125, 1), peak], 1)   # 100 GFLOP/s = 1 core x 3.125 GHz x 2 pipes x 8 x 2
    section = r.to_dict()["theoretical_peak"]
    assert section["fma_pipes"] == 2 and section["fractions"][0]["fraction"] == pytest.approx(1.0)
    assert "gbps" in r.to_dict()["memory_theoretical"]


def test_info_measures_the_clock_and_writes_it(tmp_path, capsys):
    path = tmp_path / "info.json"
    assert cli.main(["info", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "clock under load" in out and "theoretical" in out
    document = json.loads(path.read_text())
    assert document["theoretical_peak"]["ghz"] > 0 and document["theoretical_peak"]["fma_pipes"] >= 1
    assert [m["kernel"] for m in document["measurements"]] == ["clock", "peak", "peak"]
    assert cli.main(["info", "--no-measure"]) == 0 and "clock under load" not in capsys.readouterr().out
