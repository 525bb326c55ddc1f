"""The sweep over batch, prompt and depth: its counting, its knees, and the
command end to end on a tiny decoder (ceilings replaced by a synthetic roofline)."""
import csv
import io
import json
import sys

import numpy as np
import pytest

from bwbench import cli, sweep
from bwbench.transformer import analyse, passes
from test_transformer import synthetic_roofline

TINY_LLAMA = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
              "num_key_value_heads": 2, "intermediate_size": 96, "vocab_size": 300}


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A tiny Llama config, and every roofline the command would measure replaced by a synthetic one."""
    path = tmp_path / "tiny-llama.json"
    path.write_text(json.dumps(TINY_LLAMA))
    roofline = synthetic_roofline()
    monkeypatch.setattr(cli, "bracketed", lambda run, *args: (run(), roofline, roofline, roofline))
    monkeypatch.setattr(cli, "_roofline_for", lambda *args: roofline)
    return str(path)


def test_depth_moves_every_pass_along_the_cache():
    assert passes("decoder", 2, 3, depth=10) == [(3, 13), (1, 14), (1, 15)]
    assert passes("decoder", 2, 3, depth=10, phase="prompt") == [(3, 13)]
    assert passes("decoder", 2, 3, depth=10, phase="generate") == [(1, 14), (1, 15)]
    shallow = analyse("tinyllama-1.1b", 4, "decoder", scope="model", phase="generate")
    deep = analyse("tinyllama-1.1b", 4, "decoder", scope="model", depth=1000, phase="generate")
    cache = 22 * 2 * 256 * 4   # TinyLlama: layers x (keys, values) x d_kv x 4 bytes a position
    scores = 22 * 32 * 4 * 4   # layers x heads x 4 bytes: written, read and written by softmax, read
    added = lambda key: sum(getattr(op, key) for op in deep.ops) - sum(getattr(op, key) for op in shallow.ops)  # noqa: E731
    assert added("cache_bytes") == 4 * 1000 * cache   # 4 steps, each 1,000 positions deeper
    assert added("bytes") == 4 * 1000 * (cache + scores)


def test_the_measured_knee_is_the_first_batch_that_stops_paying():
    assert sweep.measured_knee({1: 10.0, 2: 19.0, 4: 37.0, 8: 50.0, 16: 60.0}) == 8
    assert sweep.measured_knee({1: 10.0, 2: 19.0, 4: 37.0}) is None
    assert sweep.measured_knee({1: 10.0, 4: 12.0}) is None   # B/2 not swept: no verdict


def test_the_predicted_knee_is_where_the_step_leaves_the_memory_roof():
    grid = sweep.Grid("tinyllama-1.1b", ("f32",), (1,), (0,), 1, (0,))
    roofline = synthetic_roofline()
    knee = sweep.predicted_knee(grid, "f32", 0, roofline)
    bound = lambda batch: sweep.predicted(grid, "f32", batch, 0, 0, roofline)["bound"]["kind"]  # noqa: E731
    assert bound(knee - 1) == "memory" and bound(knee) == "compute"
    # ridge 100 GFLOP/s / 40 GB/s = 2.5 FLOP/byte; a float32 weight gives 2B FLOPs for 4 bytes: B* near 5
    assert 3 <= knee <= 8


def test_a_measured_sweep_writes_every_cell(tiny, tmp_path, capsys):
    out = tmp_path / "sweep.json"
    assert cli.main(["transformer", "--model", tiny, "--mode", "decoder", "--measure", "--batch", "1,2,4",
                     "--prompt", "3", "--seq", "2", "--depth", "0,5", "--threads", "1", "--repeats", "2",
                     "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "S_TG" in printed and "knee" in printed
    record = json.loads(out.read_text())["transformer"]
    cells = record["sweep"]
    assert [(c["batch"], c["depth"]) for c in cells] == [(1, 0), (1, 5), (2, 0), (2, 5), (4, 0), (4, 5)]
    for c in cells:
        assert c["n_kv"] == c["batch"] * (c["depth"] + 3 + 2) and len(c["samples"]) == 2
        assert c["s_tg"] == pytest.approx(c["batch"] * 2 / c["t_tg_s"])
        assert c["s_pp"] == pytest.approx(c["batch"] * 3 / c["t_pp_s"])
        assert c["predicted_s_tg"] > 0 and c["bound"]["kind"] in ("memory", "compute")
    assert set(record["knee"]) == {"f32"}


def test_the_sweep_prints_csv_markdown_and_json_lines(tiny, capsys):
    base = ["transformer", "--model", tiny, "--measure", "--batch", "1,2", "--seq", "2", "--threads", "1",
            "--repeats", "1", "--format"]
    assert cli.main(base + ["csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:5] == ["format", "PP", "TG", "B", "N_KV"] and [r[3] for r in rows[1:]] == ["1", "2"]
    assert cli.main(base + ["md"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("| --- |")
    assert cli.main(base + ["jsonl"]) == 0
    assert [json.loads(line)["batch"] for line in capsys.readouterr().out.splitlines()] == [1, 2]


def test_a_prediction_only_sweep_needs_no_measuring(tiny, capsys):
    assert cli.main(["transformer", "--model", "tinyllama-1.1b", "--seq", "4", "--batch", "1,64",
                     "--depth", "4096", "--weights", "f32,q4_0", "--format", "jsonl"]) == 0
    cells = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(cells) == 4 and all("s_tg" not in c for c in cells)


@pytest.mark.parametrize("flags, message", [
    (["--batch", "0,2"], "--batch"),
    (["--batch", "1,-2"], "--batch"),
    (["--depth", "-1"], "--depth"),
    (["--prompt", "x"], "--prompt"),
    (["--weights", "f32,q5_k"], "--weights"),
    (["--batch", "64", "--depth", "100000000", "--measure"], "memory"),
])
def test_bad_sweeps_are_refused_in_one_line(tiny, flags, message, capsys):
    assert cli.main(["transformer", "--model", tiny, "--seq", "2", "--threads", "1"] + flags) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_the_sweep_draws_its_figures(tiny, tmp_path, capsys):
    out = tmp_path / "figures"
    assert cli.main(["transformer", "--model", tiny, "--measure", "--batch", "1,2", "--seq", "2", "--threads", "1",
                     "--repeats", "1", "--figure", str(out)]) == 0
    for name in ("sweep.png", "sweep-roofline.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def _sweep_with_reference(tiny, *flags):
    return cli.main(["transformer", "--model", tiny, "--mode", "decoder", "--measure", "--batch", "1,2", "--prompt",
                     "3", "--seq", "2", "--threads", "1", "--repeats", "2", "--reference", "llama.cpp", *flags])


def test_llama_cpp_runs_every_cell_beside_bwbench(tiny, tmp_path, capsys):
    pytest.importorskip("llama_cpp")
    out = tmp_path / "sweep.json"
    assert _sweep_with_reference(tiny, "--depth", "4", "--weights", "f32,q4_0", "--json", str(out),
                                 "--figure", str(tmp_path)) == 0
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert capsys.readouterr().err == ""
    cells = json.loads(out.read_text())["transformer"]["sweep"]
    assert len(cells) == 4
    for c in cells:
        ref = c["reference"]
        assert ref["engine"] == "llama.cpp" and ref["weights"] == c["format"] and ref["threads"] == 1
        assert ref["generated_tokens"] == c["batch"] * 2 and len(ref["samples"]) == 2
        assert ref["s_tg"] == pytest.approx(c["batch"] * 2 / ref["t_tg_s"]) and ref["s_tg"] > 0
        assert ref["s_pp"] == pytest.approx(c["batch"] * 3 / ref["t_pp_s"])
        assert ref["s_tg_ratio"] == pytest.approx(c["s_tg"] / ref["s_tg"])
        assert ref["settings"]["n_seq_max"] == 2 and ref["settings"]["n_ctx_seq"] >= 4 + 3 + 2
    assert _sweep_with_reference(tiny, "--format", "csv") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][-3:] == ["ref S_PP t/s", "ref S_TG t/s", "S_TG / ref"] and all(r[-2] != "-" for r in rows[1:])


def test_llama_cpp_decodes_b_sequences_at_their_own_positions():
    """Two sequences at different positions stepped in one llama_batch pick the
    tokens each picks alone; a repetition generates B x TG tokens."""
    pytest.importorskip("llama_cpp")
    from bwbench.engines import llama_cpp
    from bwbench.models import config_from_dict
    cfg = config_from_dict(TINY_LLAMA, "tiny-llama")
    prompts = [np.array([5, 7, 11], np.int32), np.array([13], np.int32)]

    def prefill(other, q):   # sequence q's prompt, alone: its greedy next token
        n = len(prompts[q])
        return other.decode(prompts[q], np.arange(n), np.full(n, q), (np.arange(n) == n - 1).astype(np.int8))[0]

    def alone(other, q, steps):
        other.fill(2, 0)
        tokens = [prefill(other, q)]
        for i in range(steps):
            tokens.append(other.decode(np.array(tokens[-1:]), np.array([len(prompts[q]) + i]), np.array([q]),
                                       np.ones(1, np.int8))[0])
        return tokens

    with llama_cpp.Batched(cfg, "f32", 1, 2, 16) as other:
        expected = [alone(other, q, 3) for q in (0, 1)]
        other.fill(2, 0)
        tokens = [np.array([prefill(other, 0), prefill(other, 1)])]
        for i in range(3):
            tokens.append(other.decode(tokens[-1], np.array([3 + i, 1 + i]), np.arange(2), np.ones(2, np.int8)))
        assert np.array(tokens).T.tolist() == expected
        other.n_batch = 3   # both prompts at once in llama_batches of 3 tokens: each one's outputs read before the next
        other.fill(2, 0)
        both = other.decode(np.concatenate(prompts), np.array([0, 1, 2, 0]), np.array([0, 0, 0, 1]),
                            np.array([0, 0, 1, 1], np.int8))
        assert both.tolist() == tokens[0].tolist()
        other.fill(2, 6)   # sequence 0's cache copied to sequence 1; once() cuts both back to the depth
        t_pp, t_tg = other.once(2, 3, 6, 4)
        assert t_pp > 0 and t_tg > 0 and other.last_tokens.shape == (4, 2)
        assert [other.lib.llama_memory_seq_pos_max(other.memory(), q) for q in (0, 1)] == [5, 5]


def test_a_sweep_without_llama_cpp_is_refused_before_measuring(tiny, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)   # import llama_cpp now raises ImportError
    monkeypatch.setattr(sweep, "Runner", lambda *args: pytest.fail("measured before refusing"))
    assert _sweep_with_reference(tiny) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install -e '.[llama]'" in err


@pytest.mark.parametrize("flags, message", [
    (["--reference", "torch", "--measure"], "--reference takes llama.cpp"),
    (["--reference", "llama.cpp"], "add --measure"),
])
def test_a_reference_a_sweep_cannot_run_is_refused(tiny, monkeypatch, capsys, flags, message):
    from bwbench.engines import llama_cpp, pytorch
    monkeypatch.setattr(pytorch, "check_available", lambda: None)   # CI installs neither engine
    monkeypatch.setattr(llama_cpp, "check_available", lambda: None)
    assert cli.main(["transformer", "--model", tiny, "--seq", "2", "--batch", "1,2", "--threads", "1"] + flags) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
