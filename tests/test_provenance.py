"""Provenance: in every result JSON and in the asv machine description."""
import importlib.metadata
import json
import os
import subprocess
import sys
import time

import bwbench
from bwbench import cli, provenance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from asv_machine import describe  # noqa: E402


def fake_sys(root, governor="performance", boost="1"):
    """Two CPUs, SMT siblings of each other, on NUMA node 1; THP madvise."""
    thp = root / "kernel" / "mm" / "transparent_hugepage"
    thp.mkdir(parents=True)
    (thp / "enabled").write_text("always [madvise] never\n")
    (thp / "defrag").write_text("[always] defer madvise never\n")
    cpu = root / "devices" / "system" / "cpu"
    for n in (0, 1):
        (cpu / f"cpu{n}" / "cpufreq").mkdir(parents=True)
        (cpu / f"cpu{n}" / "cpufreq" / "scaling_governor").write_text(governor + "\n")
        (cpu / f"cpu{n}" / "topology").mkdir()
        (cpu / f"cpu{n}" / "topology" / "thread_siblings_list").write_text("0-1\n")
    (cpu / "cpufreq").mkdir()
    (cpu / "cpufreq" / "boost").write_text(boost + "\n")
    node = root / "devices" / "system" / "node" / "node1"
    node.mkdir(parents=True)
    (node / "cpulist").write_text("0-1\n")
    return str(root)


def test_host_provenance_is_read_not_guessed(tmp_path):
    host = provenance.host([0, 1], fake_sys(tmp_path))
    assert (host["transparent_hugepages"], host["transparent_hugepages_defrag"]) == ("madvise", "always")
    assert host["governors"] == {0: "performance", 1: "performance"} and host["boost"] is True
    assert host["numa_nodes"] == {0: 1, 1: 1} and host["smt_siblings"] == {0: [0, 1], 1: [0, 1]}
    assert 0 < host["clock_resolution_s"] < 1e-3
    bare = provenance.host([0], str(tmp_path / "nothing"))
    assert (bare["transparent_hugepages"], bare["governors"], bare["boost"], bare["numa_nodes"]) == \
        (None, None, None, None)


def test_the_version_is_the_package_metadata():
    assert bwbench.__version__ == provenance.version() == importlib.metadata.version("bwbench")


def test_every_result_json_carries_provenance(tmp_path):
    path = tmp_path / "info.json"
    assert cli.main(["info", "--json", str(path)]) == 0
    record = json.loads(path.read_text())["provenance"]
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert record["bwbench_version"] == bwbench.__version__ and record["git"]["commit"] == head
    assert record["date"].startswith("20") and record["date"].endswith("+00:00")
    for key in ("transparent_hugepages", "governors", "boost", "clock_resolution_s", "numa_nodes", "smt_siblings",
                "cpus", "hugepage_advice_refused"):
        assert key in record


def test_the_asv_machine_description_carries_the_host_provenance(tmp_path):
    info = bwbench.machine_info()
    cpu = describe(info, provenance.host([0, 1], fake_sys(tmp_path, "powersave", "0")))["cpu"]
    for text in (f"bwbench {bwbench.__version__}", "THP madvise", "governor powersave", "boost off",
                 "NUMA nodes 1", "SMT 2 per core", f"clock {time.clock_getres(time.CLOCK_MONOTONIC):g} s"):
        assert text in cpu, text
