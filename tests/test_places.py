"""--places: which CPUs a team takes, on fake sysfs topologies (SMT pairs, two
NUMA nodes), and the refusals of a bad placement (one line, exit status 2)."""
import json
import os

import pytest

from bwbench import cli, machine, numa_matrix, topology
from bwbench.errors import UsageError

CORES = sorted(os.sched_getaffinity(0))


def fake_topology(root, cpus: dict) -> str:
    """cpus: {cpu: (package, core, node)}; SMT siblings are the CPUs of one (package, core)."""
    for cpu, (package, core, node) in cpus.items():
        folder = root / "devices" / "system" / "cpu" / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        siblings = [c for c, (p, k, _) in cpus.items() if (p, k) == (package, core)]
        (folder / "physical_package_id").write_text(f"{package}\n")
        (folder / "core_id").write_text(f"{core}\n")
        (folder / "thread_siblings_list").write_text(topology.format_cpu_list(sorted(siblings)) + "\n")
    for node in {node for _, _, node in cpus.values()}:
        folder = root / "devices" / "system" / "node" / f"node{node}"
        folder.mkdir(parents=True)
        (folder / "cpulist").write_text(topology.format_cpu_list(sorted(
            c for c, (_, _, n) in cpus.items() if n == node)) + "\n")
    return str(root)


# Linux numbers SMT siblings apart: cpu c and c + 4 share a core; cores 0-1 on node 0, 2-3 on node 1.
TWO_NODES_SMT = {c: (c % 4 // 2, c % 4, c % 4 // 2) for c in range(8)}


def test_scatter_takes_a_core_each_alternating_nodes_before_smt_siblings(tmp_path):
    sys = fake_topology(tmp_path, TWO_NODES_SMT)
    order = topology.order("scatter", range(8), sys)
    assert order == [0, 2, 1, 3, 4, 6, 5, 7]
    assert len({c % 4 for c in order[:4]}) == 4   # four threads: four physical cores, two a node


def test_compact_fills_a_core_then_a_node(tmp_path):
    sys = fake_topology(tmp_path, TWO_NODES_SMT)
    assert topology.order("compact", range(8), sys) == [0, 4, 1, 5, 2, 6, 3, 7]


def test_the_affinity_mask_limits_the_policies(tmp_path):
    sys = fake_topology(tmp_path, TWO_NODES_SMT)
    assert topology.order("scatter", {1, 2, 5, 6}, sys) == [1, 2, 5, 6]
    assert topology.order("compact", {1, 2, 5, 6}, sys) == [1, 5, 2, 6]


def test_siblings_are_read_from_the_sibling_list_without_core_ids(tmp_path):
    sys = fake_topology(tmp_path, {0: (0, 0, 0), 1: (0, 0, 0), 2: (0, 1, 0), 3: (0, 1, 0)})
    for cpu in range(4):
        os.remove(f"{sys}/devices/system/cpu/cpu{cpu}/topology/core_id")
    assert topology.order("scatter", range(4), sys) == [0, 2, 1, 3]


def test_a_host_that_says_nothing_gives_each_cpu_its_own_core(tmp_path):
    assert topology.order("scatter", {3, 1, 2}, str(tmp_path)) == [1, 2, 3]
    assert topology.order("compact", {3, 1, 2}, str(tmp_path)) == [1, 2, 3]


def test_a_list_is_taken_as_written():
    assert topology.order("3,0-2", range(4)) == [3, 0, 1, 2]
    assert topology.parse_cpu_list("0-2,8") == [0, 1, 2, 8]
    assert topology.format_cpu_list([0, 1, 2, 8, 10, 11]) == "0-2,8,10-11"


@pytest.mark.parametrize("places, message", [
    ("", "expected compact, scatter or a list"),
    ("0,,1", "expected compact, scatter or a list"),
    ("2-1", "expected compact, scatter or a list"),
    ("spread", "expected compact, scatter or a list"),
    ("0,0", "named twice"),
    ("4096", "not in this process's affinity mask"),
])
def test_bad_places_are_refused(places, message):
    with pytest.raises(UsageError, match=message):
        topology.order(places, range(4))


@pytest.mark.parametrize("places", ["", "4096", "x", "0,0"])
def test_the_command_line_refuses_bad_places_in_one_line(places, capsys):
    assert cli.main(["stream", "--places", places, "--size", "48KiB"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bwbench: error: invalid --places") and err.count("\n") == 1


def test_threads_follow_the_places_and_the_record_says_so(tmp_path):
    path = tmp_path / "r.json"
    last = str(CORES[-1])
    assert cli.main(["stream", "--places", last, "--kernels", "copy", "--variant", "regular",
                     "--size", "48KiB", "--json", str(path)]) == 0
    document = json.loads(path.read_text())
    assert document["provenance"]["places"] == last and document["provenance"]["cpus"] == [CORES[-1]]
    assert document["measurements"][0]["cpus"] == [CORES[-1]] and document["measurements"][0]["threads"] == 1
    assert f"--places {last}" in document["machine"]["affinity"]
    assert cli.main(["stream", "--places", last, "--threads", "2", "--size", "48KiB"]) == 2
    machine.set_places(None)
    assert machine.places() == "scatter" and machine.cpus_for(len(CORES)) == topology.order("scatter", CORES)


def test_compact_and_scatter_run(capsys):
    for places in ("compact", "scatter"):
        assert cli.main(["stream", "--places", places, "--kernels", "load", "--size", "48KiB"]) == 0
    machine.set_places(None)


def test_the_matrix_is_refused_on_one_node(tmp_path, capsys):
    sys = fake_topology(tmp_path, {c: (0, c, 0) for c in CORES})
    with pytest.raises(UsageError, match="more than one NUMA node"):
        numa_matrix.nodes(sys)


@pytest.mark.skipif(len(CORES) < 2, reason="needs two CPUs to stand for two nodes")
def test_the_matrix_on_a_fake_two_node_host_reads_every_pair(tmp_path):
    """Each CPU stands for a node: threads run on one, memory is first touched from the other."""
    sys = fake_topology(tmp_path, {c: (0, c, i % 2) for i, c in enumerate(CORES)})
    result = numa_matrix.measure_matrix(2**16, threads=1, sys=sys)
    assert result["nodes"] == [0, 1] and len(result["gbps"]) == 2 and all(len(row) == 2 for row in result["gbps"])
    assert all(g > 0 for row in result["gbps"] for g in row)
    ran = [m.cpus for m in result["measurements"]]
    assert ran == [(CORES[0],), (CORES[0],), (CORES[1],), (CORES[1],)]
    assert [m.variant for m in result["measurements"]][1] == "node0-from-node1"
