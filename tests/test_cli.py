"""The command line: output, result JSON, and one-line errors with exit status 2."""
import json
import os
import subprocess
import sys

import pytest

from bwbench import cli, read_result
from bwbench.errors import UsageError
from bwbench.results import SCHEMA

SMALL = ["--size", "48KiB"]


def test_stream_prints_a_table_and_writes_json(tmp_path, capsys):
    path = tmp_path / "r.json"
    assert cli.main(["stream", "--kernels", "triad,load", "--threads", "1", *SMALL, "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "triad" in out and "load" in out and "GB/s" in out and "nt" in out
    document = json.loads(path.read_text())
    assert document["schema"] == SCHEMA and document["machine"]["isa"]
    rows = document["measurements"]
    assert [(r["kernel"], r["variant"]) for r in rows] == [("triad", "regular"), ("triad", "nt"), ("load", "regular")]
    for key in ("kernel", "variant", "dtype", "threads", "working_set_bytes", "bytes", "hw_bytes", "flops",
                "samples_s", "best_s", "median_s", "cv", "gbps", "gflops", "isa"):
        assert key in rows[0]
    assert [m.to_dict() for m in read_result(str(path))["measurements"]] == rows
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left behind


def test_info_json(tmp_path, capsys):
    path = tmp_path / "info.json"
    assert cli.main(["info", "--json", str(path)]) == 0
    assert "cache L1d" in capsys.readouterr().out
    document = json.loads(path.read_text())
    assert document["schema"] == SCHEMA and document["measurements"] == []


@pytest.mark.parametrize("args, message", [
    (["stream", "--kernels", "copy,nope"], "unknown kernel 'nope'"),
    (["stream", "--variant", "sideways"], "invalid choice: 'sideways'"),
    (["stream", "--threads", "0"], "invalid thread count 0"),
    (["stream", "--threads", "4096"], "invalid thread count 4096"),
    (["stream", "--threads", "two"], "invalid int value: 'two'"),
    (["stream", "--size", "0"], "must be larger than zero"),
    (["stream", "--size=-1GiB"], "invalid size '-1GiB'"),
    (["stream", "--size", "lots"], "invalid size 'lots'"),
    (["stream", "--size", "1000TiB"], "exceeds"),
    (["stream", "--kernels", "load", "--variant", "nt"], "no kernel among load has the nt variant"),
    (["stream", "--json", "/nonexistent-dir/r.json"], "cannot write /nonexistent-dir/r.json"),
    (["info", "--json", "/"], "cannot write /"),
    (["stream", "--ntimes", "2"], "at least 10"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["roofline", "--threads", "0"], "invalid thread count 0"),
    (["gemm", "--shape", "2x2"], "invalid shape '2x2'"),
    (["gemm", "--shape", "8x0x8"], "every dimension must be at least 1"),
    (["gemm", "--dtype", "int8"], "invalid choice: 'int8'"),
    (["gemm", "--shape", "8x8x8", "100000x100000x100000"], "exceeds"),
    (["gemv", "--shape", "8x8x8"], "expected MxN"),
    (["gemv", "--threads", "0", "--shape", "8x8"], "invalid thread count 0"),
    (["roofline", "--out", "/proc/no-such-dir"], "cannot create output folder /proc/no-such-dir"),
    (["plot", "/nonexistent/roofline.json"], "cannot read /nonexistent/roofline.json"),
    (["quant", "--threads", "0"], "invalid thread count 0"),
    (["quant", "--model", "bert-base"], "bert-base is an encoder"),
    (["quant", "--model", "gpt5"], "unknown model 'gpt5'"),
    (["quant", "--out", "/proc/no-such-dir"], "cannot create output folder /proc/no-such-dir"),
    (["quant", "--json", "/nonexistent-dir/q.json"], "cannot write /nonexistent-dir/q.json"),
    ([], "required: COMMAND"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_exit_status_through_python_m(tmp_path):
    path = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "bwbench", "stream", "--size", "-3", "--json", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("bwbench: error: invalid size")
    assert not path.exists()


def test_interrupt_leaves_no_json(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "measure_stream", interrupted)
    assert cli.main(["stream", "--json", str(tmp_path / "r.json"), *SMALL]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("text", ["", "{", "[]", '{"schema": "other/1"}', '{"schema": "bwbench/1", "measurements": [{}]}'])
def test_reading_a_bad_result_is_a_usage_error(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(UsageError):
        read_result(str(path))


def test_every_stream_flag_reaches_the_measurement(tmp_path):
    path = tmp_path / "r.json"
    assert cli.main(["stream", "--kernels", "scale", "--variant", "nt", "--threads", "1", "--size", "32KiB",
                     "--ntimes", "12", "--json", str(path)]) == 0
    [row] = read_result(str(path))["measurements"]
    assert (row.kernel, row.variant, row.threads, row.working_set_bytes, len(row.samples_s)) == \
        ("scale", "nt", 1, 32 * 1024, 12)


def tiny_plan(threads, quick):
    from bwbench.ceilings import Step
    from bwbench.flops import measure_ladder, measure_peak
    from bwbench.latency import measure_latency
    steps = [Step(f"{k} {s}", lambda k=k, s=s: cli.measure_stream(k, "regular", 1, s))
             for k in ("load", "copy") for s in (4096, 8192)]
    return steps + [Step("latency", lambda: measure_latency(4096)), Step("peak", lambda: measure_peak("float64", "fma", 1)),
                    Step("ladder", lambda: measure_ladder(8, 2**14, 1))]


def test_roofline_writes_json_and_figures_then_plot_redraws_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "roofline_plan", tiny_plan)
    out = tmp_path / "results"
    assert cli.main(["roofline", "--threads", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Memory ceilings" in printed and "fma-" in printed and "latency" in printed
    assert sorted(p.name for p in out.iterdir()) == ["bandwidth.png", "roofline.json", "roofline.png", "roofline.svg"]
    document = read_result(str(out / "roofline.json"))
    assert [c["level"] for c in document["roofline"]["memory_ceilings"]] == ["L1"]
    assert [(c["level"], c["kernel"]) for c in document["roofline"]["read_ceilings"]] == [("L1", "load")]
    redrawn = tmp_path / "again"
    assert cli.main(["plot", str(out / "roofline.json"), "--out", str(redrawn)]) == 0
    assert sorted(p.name for p in redrawn.iterdir()) == ["bandwidth.png", "roofline.png", "roofline.svg"]


BAD_OVERLAY = json.dumps({"schema": "bwbench/1", "machine": {}, "measurements": [], "overlay": [{"ai": 1}],
                          "roofline": {"threads": 1, "memory_ceilings": [{"level": "DRAM", "gbps": 10}],
                                       "compute_ceilings": [{"name": "fma", "dtype": "float64", "gflops": 10}]}})


@pytest.mark.parametrize("text, message", [("{", "cannot read"), ('{"schema": "other/2"}', "is not a bwbench/1 result"),
                                           ('{"schema": "bwbench/1", "machine": {}}', "holds no roofline"),
                                           (BAD_OVERLAY, "malformed `overlay`")])
def test_plot_refuses_a_bad_result(tmp_path, capsys, text, message):
    path = tmp_path / "roofline.json"
    path.write_text(text)
    assert cli.main(["plot", str(path)]) == 2
    assert message in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["roofline.json"]


def test_gemm_and_gemv_tables_and_json(tmp_path, capsys):
    path = tmp_path / "g.json"
    assert cli.main(["gemm", "--shape", "33x65x17", "40x1x30", "--threads", "1", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "33x65x17" in out and "40x1x30" in out and "BLAS GFLOP/s" in out
    rows = json.loads(path.read_text())["measurements"]
    assert [(r["kernel"], r["variant"], r["shape"]) for r in rows] == [
        ("gemm", "regular", [33, 65, 17]), ("gemm", "reference", [33, 65, 17]),
        ("gemv", "regular", [40, 1, 30]), ("gemv", "reference", [40, 1, 30])]
    for key in ("kernel", "shape", "dtype", "threads", "flops", "bytes", "gflops", "gbps", "samples_s"):
        assert key in rows[0]
    assert rows[0]["flops"] == rows[0]["reps_per_sample"] * 2 * 33 * 65 * 17
    assert cli.main(["gemv", "--shape", "30x20", "--transpose", "--dtype", "float32", "--threads", "1"]) == 0
    assert "20x1x30" in capsys.readouterr().out
