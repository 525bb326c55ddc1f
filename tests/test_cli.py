"""The command line: output, result JSON, and one-line errors with exit status 2."""
import json
import os
import subprocess
import sys

import pytest

from bwbench import cli, read_result
from bwbench.errors import UsageError
from bwbench.machine import machine_info
from bwbench.models import BUILTIN
from bwbench.plot import write_figures
from bwbench.results import SCHEMA, write_result
from bwbench.roofline import Roofline
from bwbench.transformer import overlay_points
from test_transformer import synthetic_roofline

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
    assert cli.main(["info", "--no-measure", "--json", str(path)]) == 0
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
             for k in ("read", "copy") for s in (4096, 8192)]
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
    assert [(c["level"], c["kernel"]) for c in document["roofline"]["read_ceilings"]] == [("L1", "read")]
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


def saved_roofline(folder):
    """A roofline.json as `bwbench roofline` writes it, of test_transformer's made-up ceilings: nothing measured."""
    path = folder / "roofline.json"
    write_result(str(path), machine_info(), [], roofline=synthetic_roofline().to_dict())
    return path


def test_plot_places_models_on_a_saved_roofline_without_measuring(tmp_path, monkeypatch):
    path, drawn = saved_roofline(tmp_path), []

    def draw(document, out):
        drawn.append(document)
        return write_figures(document, out)

    monkeypatch.setattr(cli, "write_figures", draw)
    monkeypatch.setattr(cli, "_run_all", None)   # nothing is measured
    config = os.path.join(os.path.dirname(__file__), "configs", "qwen3-0.6b.json")
    out = tmp_path / "fig"
    assert cli.main(["plot", str(path), "--models", f"tinyllama-1.1b, bert-base,{config}", "--seq", "8",
                     "--out", str(out)]) == 0
    assert (out / "roofline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = [point["label"] for point in drawn[0]["overlay"]]
    for model, mode in (("tinyllama-1.1b", "decoder"), ("bert-base", "encoder"), (config, "decoder")):
        assert f"{model} ({mode}) projection" in labels
    assert any(label.startswith("tinyllama-1.1b decode step, q4_0 weights") for label in labels)
    assert drawn[0]["overlay"] == overlay_points(["tinyllama-1.1b", "bert-base", config], 8,
                                                 Roofline.from_dict(read_result(str(path))["roofline"]))


@pytest.mark.parametrize("models, message", [("tinyllama-1.1b,gpt5", "unknown model 'gpt5'"),
                                             ("{bad}", "cannot read model config"),
                                             ("{list}", "is not a JSON object")])
def test_plot_refuses_an_unknown_model_or_a_bad_config_and_writes_nothing(tmp_path, capsys, models, message):
    path = saved_roofline(tmp_path)
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "list.json").write_text("[]")
    models = models.format(bad=tmp_path / "bad.json", list=tmp_path / "list.json")
    assert cli.main(["plot", str(path), "--models", models, "--seq", "8", "--out", str(tmp_path / "fig")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "list.json", "roofline.json"]


def test_transformer_model_help_names_every_built_in_model(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")   # one line per flag: argparse would break names at hyphens
    with pytest.raises(SystemExit):
        cli.main(["transformer", "--help"])
    [line] = [line for line in capsys.readouterr().out.splitlines() if "Hugging Face style config.json" in line]
    assert all(name in line for name in BUILTIN)


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
