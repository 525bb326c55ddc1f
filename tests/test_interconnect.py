"""The interconnect benchmark: size parsing, bus-bandwidth factors, the curve
read back, one-line refusals, and a short real run under mpiexec (2 ranks on
this host) whose JSON is checked key by key. No timing asserts here: the shaped
link's bandwidth is checked in test_netns.py."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from bwbench import cli
from bwbench.errors import UsageError
from bwbench.link import bus_factor, curve_seconds, parse_sizes, parse_tests
from bwbench.schema import validate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}   # CI runs as root


def mpiexec():
    """The mpiexec beside this Python (the `mpi` extra's), else on PATH; skips without mpi4py."""
    pytest.importorskip("mpi4py")
    found = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if not found:
        pytest.skip("no mpiexec")
    return found


def run_mpi(args, ranks=2, timeout=120, prefix=(), script=("-m", "bwbench")):
    """python -m bwbench ARGS (or python SCRIPT ARGS) under mpiexec; prefix: a launcher
    that takes mpiexec's place and runs $MPIEXEC (scripts/netns_hosts.sh)."""
    found = mpiexec()
    launcher = [*prefix, "mpiexec"] if prefix else [found]
    return subprocess.run([*launcher, "-n", str(ranks), sys.executable, *script, *args],
                          cwd=ROOT, env={**os.environ, **MPI_ENV, "MPIEXEC": found}, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("text, sizes", [
    ("8B..64B", [8, 16, 32, 64]),
    ("1KiB..1KiB", [1024]),
    ("8B..256MiB", [1 << b for b in range(3, 29)]),
    ("1MiB,8B,64KiB", [8, 65536, 1 << 20]),
])
def test_sizes_are_powers_of_two(text, sizes):
    assert parse_sizes(text) == sizes


@pytest.mark.parametrize("text", ["4B..1KiB", "8B..1000B", "1MiB..8B", "10B", "lots", "8B..", "0..8B"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(UsageError):
        parse_sizes(text)


def test_tests_keep_their_order_and_refuse_unknown_names():
    assert parse_tests("allreduce,pingpong") == ["pingpong", "allreduce"]
    with pytest.raises(UsageError, match="unknown test 'alltoall'"):
        parse_tests("bw,alltoall")


def test_bus_factors_are_nccl_tests():
    assert bus_factor("allreduce", 2) == 1.0
    assert bus_factor("allreduce", 8) == 2 * 7 / 8
    assert bus_factor("allgather", 4) == bus_factor("reduce_scatter", 4) == 3 / 4
    with pytest.raises(ValueError):
        bus_factor("bw", 2)


def test_curve_interpolates_log_log_and_extrapolates_by_bandwidth():
    rows = [{"bytes": 1024, "latency_us": 10.0}, {"bytes": 4096, "latency_us": 40.0}]
    assert curve_seconds(rows, 1024) == pytest.approx(10e-6)
    assert curve_seconds(rows, 2048) == pytest.approx(20e-6)   # a power law between the two
    assert curve_seconds(rows, 8) == pytest.approx(10e-6)      # the latency floor
    assert curve_seconds(rows, 8192) == pytest.approx(80e-6)   # the largest size's bandwidth


def test_without_mpiexec_one_line_and_exit_2():
    """Without mpi4py or without mpiexec, the same: one line saying how to run it."""
    done = subprocess.run([sys.executable, "-m", "bwbench", "interconnect"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "mpiexec -n 2 python -m bwbench interconnect" in lines[0]
    assert "pip install 'bwbench[mpi]'" in lines[0]


def test_without_mpi4py_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mpi4py", None)   # import fails as if not installed
    assert cli.main(["interconnect"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'bwbench[mpi]'" in err[0]


def test_two_ranks_json(tmp_path):
    path = tmp_path / "link.json"
    done = run_mpi(["interconnect", "--sizes", "8B..64KiB", "--time", "0.001", "--json", str(path)])
    assert done.returncode == 0, done.stderr
    assert "pingpong" in done.stdout and "busbw GB/s" in done.stdout
    document = json.loads(path.read_text())
    validate(document)   # written under mpiexec, past conftest's hook
    link = document["interconnect"]
    assert link["library"] and link["ranks"] == 2
    assert [p["rank"] for p in link["placement"]] == [0, 1]
    assert all(p["host"] and p["cpus"] for p in link["placement"])
    tests = [row["test"] for row in link["tests"]]
    assert tests == [t for t in ("pingpong", "bw", "bibw", "allreduce", "allgather", "reduce_scatter")
                     for _ in range(14)]
    for row in link["tests"]:
        assert {"test", "bytes", "latency_us", "algbw_gbps"} <= row.keys()
        assert row["latency_us"] > 0 and row["algbw_gbps"] > 0
        assert row["latency_us"] == min(row["samples_us"])
        if row["test"] in ("allreduce", "allgather", "reduce_scatter"):
            factor = 1.0 if row["test"] == "allreduce" else 0.5
            assert row["busbw_gbps"] == pytest.approx(row["algbw_gbps"] * factor)
            assert row["algbw_gbps"] == pytest.approx(row["bytes"] / row["latency_us"] / 1e3)
        else:
            assert "busbw_gbps" not in row
    assert [p.name for p in tmp_path.iterdir()] == ["link.json"]


def test_bad_sizes_under_mpiexec_one_line_from_rank_0(tmp_path):
    done = run_mpi(["interconnect", "--sizes", "3B..8B", "--json", str(tmp_path / "x.json")])
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.count("bwbench: error: invalid sizes '3B..8B'") == 1
    assert list(tmp_path.iterdir()) == []


LINK = {"ranks": 2, "library": "test MPI", "mpi4py": "4.0", "pair": [0, 1], "target_s": 0.02, "samples": 1,
        "placement": [{"rank": 0, "host": "a", "cpus": [0]}, {"rank": 1, "host": "b", "cpus": [0]}],
        "tests": [{"test": "allreduce", "bytes": 1024, "latency_us": 4.0, "algbw_gbps": 0.256, "busbw_gbps": 0.256,
                   "iterations": 1, "samples_us": [4.0]},
                  {"test": "allreduce", "bytes": 1 << 20, "latency_us": 2000.0, "algbw_gbps": 0.524,
                   "busbw_gbps": 0.524, "iterations": 1, "samples_us": [2000.0]}]}


def test_plot_adds_the_link_as_a_third_roof(tmp_path, capsys):
    from bwbench import machine_info, write_result
    from bwbench.plot import roofline_figure
    from bwbench.roofline import Roofline

    roofline = Roofline(({"level": "L1", "gbps": 200.0}, {"level": "DRAM", "gbps": 20.0}),
                        ({"name": "fma-avx2", "dtype": "float64", "gflops": 100.0},), 2)
    lines = {line.get_label(): line for line in roofline_figure(roofline, [], link=LINK).axes[0].lines}
    roof = next(line for label, line in lines.items() if "all-reduce bus bandwidth 0.52 GB/s" in label)
    (x0, x1), (y0, y1) = roof.get_data()
    assert y0 == pytest.approx(x0 * 0.524) and y1 == pytest.approx(100.0)   # GB/s x FLOP/byte up to the peak
    path, link = tmp_path / "roofline.json", tmp_path / "link.json"
    write_result(str(path), machine_info(), [], roofline=roofline.to_dict())
    write_result(str(link), machine_info(), [], interconnect=LINK)
    assert cli.main(["plot", str(path), "--interconnect", str(link)]) == 0
    assert (tmp_path / "roofline.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["plot", str(path), "--interconnect", str(path)]) == 2
    assert "holds no interconnect result" in capsys.readouterr().err


def test_c_reference_runs_the_same_loops(tmp_path):
    """src_c/mpi/osu_ref.c, built where an MPI compiler wrapper is: same tests, same sizes, no wrong byte."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import mpi_overhead

    if not mpi_overhead.mpicc():
        pytest.skip("no mpicc")
    program = mpi_overhead.build(str(tmp_path))
    done = subprocess.run([mpiexec(), "-n", "2", program, "8", "64", "0.001"], env={**os.environ, **MPI_ENV},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["wrong"] == 0 and result["ranks"] == 2
    assert [(r["test"], r["bytes"]) for r in result["tests"]] == [(t, s) for t in ("pingpong", "bw")
                                                                 for s in (8, 16, 32, 64)]
    assert all(r["latency_us"] > 0 and r["window"] == (64 if r["test"] == "bw" else 1) for r in result["tests"])
    bad = subprocess.run([mpiexec(), "-n", "2", program, "4", "64", "0.001"], env={**os.environ, **MPI_ENV},
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "usage: mpiexec -n 2 osu_ref" in bad.stderr


@pytest.mark.parametrize("test", ["bibw", "allreduce", "allgather", "reduce_scatter"])
def test_a_wrong_byte_is_counted(test):
    """One rank talking to itself (MPI_COMM_SELF): clean steps count nothing; one corrupted byte is counted."""
    mpi = pytest.importorskip("mpi4py.MPI")
    from bwbench.interconnect import make_test

    loop = make_test(mpi.COMM_SELF, test, 256)
    for seq in range(3):
        loop.step(seq)
    assert loop.wrong() == 0
    loop.recv.reshape(-1)[-1] += 1
    assert loop.wrong() == 1
