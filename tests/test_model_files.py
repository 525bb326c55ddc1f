"""Model files as models: GGUF files (tests/tiny_files.py writes them with
gguf's own writer and quantisers) read into the engine as their tensors lie,
checked against the numpy reference fed gguf's dequantisation of the same
tensors; and every bad file refused in one line."""
import json

import numpy as np
import pytest

from bwbench import _kernels, cli
from bwbench.inference import engine
from bwbench.models import load_config, model_file
from bwbench.reference import Reference
from bwbench.transformer import analyse
from conftest import THREADS
from test_transformer import synthetic_roofline
from tiny_files import LLAMA, QWEN2, engine_dicts, hf_weights, write_gguf

gguf = pytest.importorskip("gguf")

ALL = ("q", "k", "v", "o", "gate", "up", "down")
TYPES = {
    "f32": {},
    "f16": {**{key: "F16" for key in ALL}, "output": "F16", "token_embd": "F16"},
    "q8_0": {**{key: "Q8_0" for key in ALL}, "output": "Q8_0", "token_embd": "Q8_0"},
    "mixed": {"q": "Q4_0", "k": "Q8_0", "v": "BF16", "o": "F16", "gate": "Q4_0", "up": "Q4_0", "down": "Q8_0",
              "output": "Q8_0", "token_embd": "Q4_0"},
}


def decode_logits(cfg, layers, top, steps=4, threads=1):
    """Each step's logits of a greedy decode from token 1, through the C engine and the reference."""
    c = engine(cfg, *model_file(cfg).weights(True, True), 8, 8)
    ref = Reference(cfg, layers, top, 8)
    logits, token, out = np.empty(cfg.vocab, np.float32), 1, []
    for position in range(steps):
        ids, x = np.array([token], np.int32), np.empty((1, cfg.d), np.float32)
        token, _ = c.run(threads, True, ids, x, position, True, logits, np.zeros(_kernels.INFER_OPS))
        want = ref.logits(ref.forward(ref.embed(ids, position), position, True))
        out.append((logits.copy(), want))
    return out


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("kind", list(TYPES))
@pytest.mark.parametrize("raw", [LLAMA, QWEN2], ids=["llama", "qwen2"])
def test_a_gguf_file_decodes_as_the_reference_of_its_dequantised_tensors(tmp_path, raw, kind, threads):
    path, weights = tmp_path / "tiny.gguf", hf_weights(raw)
    write_gguf(path, raw, weights, TYPES[kind])
    cfg = load_config(str(path))
    assert (cfg.arch, cfg.model_type, cfg.layers, cfg.d, cfg.heads, cfg.kv_heads, cfg.head_dim, cfg.d_ff,
            cfg.vocab) == ("llama", raw["model_type"], 2, 64, 4, 2, 16, 96, 80)
    assert (cfg.tied_embeddings, cfg.rope_theta, cfg.norm_eps) == (raw["tie_word_embeddings"], raw["rope_theta"],
                                                                   pytest.approx(raw["rms_norm_eps"]))
    assert cfg.biases == (("q", "k", "v") if raw is QWEN2 else ())
    for got, want in decode_logits(cfg, *engine_dicts(raw, weights, TYPES[kind]), threads=threads):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)


def test_the_matrices_stay_in_the_file_and_the_analysis_counts_their_real_bytes(tmp_path):
    path, weights = tmp_path / "tiny.gguf", hf_weights(LLAMA)
    write_gguf(path, LLAMA, weights, TYPES["mixed"])
    cfg = load_config(str(path))
    layers, top = model_file(cfg).weights(True, True)
    assert isinstance(layers[0]["v"].base, np.memmap) or isinstance(layers[0]["v"], np.memmap)   # not copied
    assert layers[0]["formats"] == {"q": "q4_0", "k": "q8_0", "v": "bf16", "o": "f16", "gate": "q4_0",
                                    "up": "q4_0", "down": "q8_0"}
    ops = {op.name: op for op in analyse(str(path), 1, "decoder", scope="model").ops}
    d, f, layer_count = 64, 96, 2
    assert ops["FFN down"].weight_bytes == layer_count * d * f * 34 / 32
    assert ops["V projection"].weight_bytes == layer_count * 32 * d * 2
    assert ops["Q projection"].weight_bytes == layer_count * d * d * 18 / 32
    assert ops["LM head"].weight_bytes == 80 * d * 34 / 32
    config = tmp_path / "config.json"   # the same shape in float32: every other op counts the same
    config.write_text(json.dumps(LLAMA))
    plain = {op.name: op for op in analyse(str(config), 1, "decoder", scope="model").ops}
    linear = {"Q projection", "K projection", "V projection", "output projection", "FFN gate", "FFN up",
              "FFN down", "LM head"}
    assert {name for name in ops if ops[name] != plain[name]} == linear


@pytest.fixture
def no_ceilings(monkeypatch):
    """The run's bracketing ceilings: a synthetic roofline, nothing measured on the shared host."""
    monkeypatch.setattr(cli, "bracketed", lambda run, *args, **kw: (run(), *[synthetic_roofline()] * 3))
    monkeypatch.setattr(cli, "_roofline_for", lambda *args: pytest.fail("measured a roofline"))


def test_transformer_measures_a_gguf_file(tmp_path, no_ceilings):
    path = tmp_path / "tiny.gguf"
    write_gguf(path, LLAMA, hf_weights(LLAMA), TYPES["mixed"])
    out = tmp_path / "t.json"
    assert cli.main(["transformer", "--model", str(path), "--mode", "decoder", "--seq", "4", "--scope", "model",
                     "--measure", "--threads", "1", "--json", str(out)]) == 0
    record = json.loads(out.read_text())["transformer"]
    assert record["model"] == str(path) and record["measured_s"] > 0
    ops = {op["name"]: op for op in record["ops"]}
    assert ops["FFN down"]["weight_bytes"] == 4 * 2 * 64 * 96 * 34 / 32 and ops["FFN down"]["measured_s"] > 0


def _refused(capsys, path, *what):
    assert cli.main(["transformer", "--model", str(path), "--seq", "2", "--scope", "model", "--measure",
                     "--threads", "1", "--json", str(path) + ".json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    for text in what:
        assert text in err
    assert not any(p.name.endswith(".json") for p in path.parent.iterdir())


def test_bad_gguf_files_are_refused_in_one_line(tmp_path, capsys, no_ceilings):
    weights = hf_weights(LLAMA)
    whole = tmp_path / "whole.gguf"
    write_gguf(whole, LLAMA, weights, TYPES["q8_0"])
    truncated = tmp_path / "truncated.gguf"
    for size in (100, whole.stat().st_size - 10):
        truncated.write_bytes(whole.read_bytes()[:size])
        _refused(capsys, truncated, str(truncated))
    other = tmp_path / "other.gguf"
    write_gguf(other, LLAMA, weights, {}, arch="mamba")
    _refused(capsys, other, "architecture 'mamba' is not supported", "llama")
    k_quant, wide = tmp_path / "k.gguf", {**LLAMA, "intermediate_size": 256}   # Q4_K: rows of 256 weights
    write_gguf(k_quant, wide, hf_weights(wide), {"down": "Q4_K"})
    _refused(capsys, k_quant, "tensor blk.0.ffn_down.weight is Q4_K", "supported: F32, F16, BF16, Q8_0, Q4_0")


def test_a_gguf_file_goes_on_the_roofline_and_needs_the_gguf_package(tmp_path, monkeypatch, capsys):
    from bwbench import gguf_model
    from bwbench.transformer import overlay_points
    path = tmp_path / "tiny.gguf"
    write_gguf(path, QWEN2, hf_weights(QWEN2), TYPES["q8_0"])
    steps = [p for p in overlay_points([str(path)], 4, synthetic_roofline()) if p["group"] == "step"]
    assert steps and all(p["label"].startswith(f"{path} decode step") for p in steps)
    monkeypatch.setitem(__import__("sys").modules, "gguf", None)   # as if the extra were not installed
    gguf_model._cached.cache_clear()
    assert cli.main(["transformer", "--model", str(path), "--seq", "2"]) == 2
    assert "pip install 'bwbench[gguf]'" in capsys.readouterr().err
