"""Reference engines: without them, one line and exit 2 before measuring;
with PyTorch installed, the same shapes run and report their time."""
import json
import sys

import pytest

from bwbench import cli
from bwbench.engines import pytorch
from test_inference import TINY


def test_without_torch_the_reference_is_refused_before_measuring(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)   # import torch now raises ImportError
    monkeypatch.setattr(cli, "bracketed", lambda *args: pytest.fail("measured before refusing"))
    assert cli.main(["transformer", "--model", "gpt2", "--seq", "2", "--measure", "--reference", "torch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install -e '.[torch]'" in err


def test_an_unknown_reference_is_a_usage_error(capsys):
    assert cli.main(["transformer", "--model", "gpt2", "--seq", "2", "--measure", "--reference", "onnx"]) == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama", "qwen2", "qwen3"])
def test_torch_builds_the_same_shape_and_times_it(name):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    cfg = TINY[name]
    record = pytorch.run(cfg, cfg.mode, 4, 1)
    assert record["engine"] == "torch" and record["version"].startswith(f"torch {torch.__version__}")
    assert record["measured_s"] > 0 and ("tokens_per_s" in record) == (cfg.mode == "decoder")
    config = pytorch.hf_config(cfg, 4)
    d_ff = config.n_inner if cfg.arch == "gpt2" else config.intermediate_size
    sizes = (config.num_hidden_layers, config.hidden_size, d_ff, config.vocab_size)
    assert sizes == (cfg.layers, cfg.d, cfg.d_ff, cfg.vocab)
    if cfg.arch == "llama":
        assert (config.num_key_value_heads, config.head_dim, config.model_type) == (
            cfg.kv_heads, cfg.head_dim, cfg.model_type)


def test_the_reference_lands_in_the_json(tmp_path, monkeypatch):
    fake = {"engine": "torch", "version": "torch 0", "threads": 1, "measured_s": 2.0, "tokens_per_s": 1.0}
    monkeypatch.setattr(pytorch, "check_available", lambda: None)
    monkeypatch.setattr(pytorch, "run", lambda cfg, mode, seq, threads: fake)
    from test_transformer import synthetic_roofline
    monkeypatch.setattr(cli, "bracketed", lambda run, threads, steps, weights: (run(), *[synthetic_roofline()] * 3))
    out = tmp_path / "t.json"
    assert cli.main(["transformer", "--model", "gpt2", "--seq", "2", "--measure", "--threads", "1",
                     "--reference", "torch", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["transformer"]["reference"] == fake
