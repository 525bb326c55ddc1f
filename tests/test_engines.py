"""Reference engines: without them, one line and exit 2 before measuring;
with PyTorch installed, the same shapes run and report their time."""
import json
import sys

import numpy as np
import pytest

from bwbench import cli, quant
from bwbench.engines import llama_cpp, pytorch
from bwbench.models import config_from_dict
from test_inference import LLAMA, TINY

# a Llama-style shape whose widths hold whole blocks of 32
LLAMA_32 = config_from_dict({**LLAMA, "hidden_size": 64, "intermediate_size": 128}, "llama-32")


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
    monkeypatch.setattr(pytorch, "run", lambda cfg, mode, seq, threads, weights: fake)
    from test_transformer import synthetic_roofline
    monkeypatch.setattr(cli, "bracketed", lambda run, threads, steps, weights: (run(), *[synthetic_roofline()] * 3))
    out = tmp_path / "t.json"
    assert cli.main(["transformer", "--model", "gpt2", "--seq", "2", "--measure", "--threads", "1",
                     "--reference", "torch", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["transformer"]["reference"] == fake


@pytest.mark.parametrize("module, install", [("llama_cpp", "pip install -e '.[llama]'"), ("gguf", "'.[llama]'")])
def test_without_llama_cpp_the_reference_is_refused_before_measuring(monkeypatch, capsys, module, install):
    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setattr(cli, "bracketed", lambda *args: pytest.fail("measured before refusing"))
    assert cli.main(["transformer", "--model", "tinyllama-1.1b", "--seq", "2", "--scope", "model", "--measure",
                     "--reference", "llama.cpp", "--weights", "q8_0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and install in err


def test_shapes_llama_cpp_is_not_given_are_refused(capsys, monkeypatch):
    monkeypatch.setattr(llama_cpp, "check_available", lambda: None)
    monkeypatch.setattr(pytorch, "check_available", lambda: None)   # CI installs neither engine
    assert cli.main(["transformer", "--model", "gpt2", "--seq", "2", "--measure", "--reference", "llama.cpp"]) == 2
    assert "Llama-style decoders" in capsys.readouterr().err
    assert cli.main(["transformer", "--model", "gpt2", "--seq", "2", "--measure", "--reference", "torch",
                     "--weights", "q4_0"]) == 2
    assert "float32 weights, not q4_0" in capsys.readouterr().err


@pytest.mark.parametrize("weights", ["f32", "f16", "bf16", "q8_0", "q4_0"])
def test_the_gguf_holds_the_shape_in_the_format(tmp_path, weights):
    gguf = pytest.importorskip("gguf")
    path = str(tmp_path / "model.gguf")
    llama_cpp.write_gguf(LLAMA_32, path, weights, 16)
    reader = gguf.GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == 3 + 9 * LLAMA_32.layers
    up = tensors["blk.1.ffn_up.weight"]
    assert up.tensor_type.name == llama_cpp.GGML_TYPES[weights] and list(up.shape) == [64, 128]
    assert tensors["token_embd.weight"].tensor_type.name == "F32"
    if weights != "f32":   # bwbench's blocks, read back by gguf's own dequantiser, are llama.cpp's
        values = gguf.quants.dequantize(up.data, up.tensor_type)
        assert values.shape == (128, 64)
        assert np.array_equal(values, quant.dequantize(np.ascontiguousarray(up.data).view(np.uint8), weights, 64))


@pytest.mark.parametrize("weights", ["f32", "q4_0"])
def test_llama_cpp_decodes_the_same_shape_and_times_it(weights):
    pytest.importorskip("llama_cpp")
    record = llama_cpp.run(LLAMA_32, "decoder", 12, 1, weights)   # more steps than a batch of 8
    assert record["engine"] == "llama.cpp" and record["version"].startswith("llama-cpp-python")
    assert record["weights"] == weights and record["tokens_per_s"] == pytest.approx(12 / record["measured_s"])
