"""Model files as models: GGUF files (tests/tiny_files.py writes them with
gguf's own writer and quantisers) read into the engine as their tensors lie,
checked against the numpy reference fed gguf's dequantisation of the same
tensors; and every bad file refused in one line."""
import dataclasses
import json

import numpy as np
import pytest

from bwbench import _kernels, cli
from bwbench.errors import UsageError
from bwbench.inference import engine
from bwbench.models import load_config, model_file
from bwbench.reference import Reference
from bwbench.transformer import analyse
from conftest import THREADS
from test_transformer import synthetic_roofline
from tiny_files import LLAMA, QWEN2, QWEN3, engine_dicts, hf_weights, rounded, write_gguf, write_gpt2_gguf, write_hf

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
@pytest.mark.parametrize("raw", [LLAMA, QWEN2, QWEN3], ids=["llama", "qwen2", "qwen3"])
def test_a_gguf_file_decodes_as_the_reference_of_its_dequantised_tensors(tmp_path, raw, kind, threads):
    path, weights = tmp_path / "tiny.gguf", hf_weights(raw)
    write_gguf(path, raw, weights, TYPES[kind])
    cfg = load_config(str(path))
    assert (cfg.arch, cfg.model_type, cfg.layers, cfg.d, cfg.heads, cfg.kv_heads, cfg.head_dim, cfg.d_ff, cfg.vocab,
            cfg.qk_norm) == ("llama", raw["model_type"], 2, 64, 4, 2, raw.get("head_dim", 16), 96, 80, raw is QWEN3)
    assert (cfg.tied_embeddings, cfg.rope_theta, cfg.norm_eps) == (raw["tie_word_embeddings"], raw["rope_theta"],
                                                                   pytest.approx(raw["rms_norm_eps"]))
    assert cfg.biases == (("q", "k", "v") if raw is QWEN2 else ())
    for got, want in decode_logits(cfg, *engine_dicts(raw, weights, TYPES[kind]), threads=threads):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)


# TinyLlama's shape shrunk to rows of whole K-quant super-blocks (256 weights), in a Q4_K_M-like mix:
# Q4_K for most linear layers, Q6_K for ffn_down and the output, f32 norms
WIDE = {**LLAMA, "hidden_size": 256, "intermediate_size": 512}
Q4_K_M = {"q": "Q4_K", "k": "Q4_K", "v": "Q6_K", "o": "Q4_K", "gate": "Q4_K", "up": "Q4_K", "down": "Q6_K",
          "output": "Q6_K", "token_embd": "Q4_K"}


@pytest.mark.parametrize("threads", THREADS)
def test_a_q4_k_m_file_decodes_as_the_reference_of_its_dequantised_tensors(tmp_path, threads):
    path, weights = tmp_path / "q4_k_m.gguf", hf_weights(WIDE)
    write_gguf(path, WIDE, weights, Q4_K_M)
    cfg = load_config(str(path))
    assert model_file(cfg).weights(False, True)[1]["formats"] == {"lm_head": "q6_K"}
    for got, want in decode_logits(cfg, *engine_dicts(WIDE, weights, Q4_K_M), threads=threads):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)
    ops = {op.name: op for op in analyse(str(path), 1, "decoder", scope="model").ops}
    assert ops["FFN down"].weight_bytes == 2 * 256 * 512 * 210 / 256
    assert ops["FFN up"].weight_bytes == 2 * 256 * 512 * 144 / 256


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
    q4_1 = tmp_path / "q4_1.gguf"
    write_gguf(q4_1, LLAMA, weights, {"down": "Q4_1"})
    _refused(capsys, q4_1, "tensor blk.0.ffn_down.weight is Q4_1",
             "supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K")


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


@pytest.mark.parametrize("dtype, shards", [("F32", 1), ("F16", 3), ("BF16", 2)])
@pytest.mark.parametrize("raw", [LLAMA, QWEN2, QWEN3], ids=["llama", "qwen2", "qwen3"])
def test_a_hugging_face_folder_decodes_as_the_reference_of_its_tensors(tmp_path, raw, dtype, shards):
    folder, weights = tmp_path / "model", rounded(hf_weights(raw), dtype)   # norms too are stored in dtype
    write_hf(folder, raw, weights, shards, dtype)
    cfg = load_config(str(folder))
    assert (cfg.model_type, cfg.layers, cfg.d, cfg.vocab, cfg.path) == (raw["model_type"], 2, 64, 80, str(folder))
    layers, top = model_file(cfg).weights(True, True)
    assert layers[1]["formats"]["down"] == dtype.lower() and isinstance(layers[1]["down"].base, np.memmap)
    types = {**{key: dtype for key in ALL}, "output": dtype, "token_embd": dtype}
    for got, want in decode_logits(cfg, *engine_dicts(raw, weights, types)):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)
    ops = {op.name: op for op in analyse(str(folder), 1, "decoder", scope="model").ops}
    assert ops["FFN up"].weight_bytes == 2 * 96 * 64 * (4 if dtype == "F32" else 2)


@pytest.mark.parametrize("dtype", ["F32", "BF16"])
def test_a_folder_and_a_gguf_file_of_the_same_model_decode_the_same_tokens(tmp_path, dtype):
    """A folder in dtype and a float32 GGUF file of the same weights (values bf16 holds exactly, for BF16)."""
    weights = rounded(hf_weights(LLAMA), dtype)
    write_hf(tmp_path / "model", LLAMA, weights, dtype=dtype)
    write_gguf(tmp_path / "model.gguf", LLAMA, weights, {})
    tokens = []
    for path in (tmp_path / "model", tmp_path / "model.gguf"):
        cfg = load_config(str(path))
        c = engine(cfg, *model_file(cfg).weights(True, True), 16, 1)
        tokens.append(c.generate(1, [1], [0], 12, np.empty((1, cfg.d), np.float32),
                                 np.zeros(_kernels.INFER_OPS))[0].ravel().tolist())
    assert tokens[0] == tokens[1]


def test_bad_hugging_face_folders_are_refused_in_one_line(tmp_path, capsys, no_ceilings):
    weights = hf_weights(LLAMA)
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(capsys, empty, "has no config.json")
    sharded = tmp_path / "sharded"
    write_hf(sharded, LLAMA, weights, shards=2)
    (sharded / "model-00002-of-00002.safetensors").unlink()
    _refused(capsys, sharded, "names model-00002-of-00002.safetensors, which the folder lacks")
    past = tmp_path / "past"
    write_hf(past, LLAMA, weights)
    whole = (past / "model.safetensors").read_bytes()
    (past / "model.safetensors").write_bytes(whole[:-100])   # the last tensor now ends past the file's end
    _refused(capsys, past, "points past the file's end")
    (past / "model.safetensors").write_bytes((2**40).to_bytes(8, "little") + whole[8:])
    _refused(capsys, past, "header length runs past the file's end")


def test_a_sweep_runs_a_model_files_own_weights(tmp_path, no_ceilings, monkeypatch, capsys):
    from bwbench import sweep
    monkeypatch.setattr(sweep, "random_weights", lambda *args: pytest.fail("random weights for a model file"))
    monkeypatch.setattr(cli, "_roofline_for", lambda *args: synthetic_roofline())
    path, quantised = tmp_path / "f32.gguf", tmp_path / "q8.gguf"
    write_gguf(path, LLAMA, hf_weights(LLAMA), {})
    assert cli.main(["transformer", "--model", str(path), "--measure", "--batch", "1,2", "--seq", "2",
                     "--threads", "1", "--repeats", "1"]) == 0
    assert "S_TG" in capsys.readouterr().out
    write_gguf(quantised, LLAMA, hf_weights(LLAMA), TYPES["q8_0"])   # block formats decode a batch too
    assert cli.main(["transformer", "--model", str(quantised), "--measure", "--batch", "1,2", "--seq", "2",
                     "--threads", "1", "--repeats", "1"]) == 0
    assert "S_TG" in capsys.readouterr().out


def test_llama_cpp_decodes_a_llama_file_to_the_same_greedy_tokens(tmp_path, no_ceilings, capsys):
    """llama.cpp reads the file itself: Q and K as its converter permutes them, its own rotary embedding.
    bwbench un-permutes them and turns halves; 32 greedy steps from token 0 agree (float32 weights), as
    the C engine's own token loop gives them, and the JSON keeps both engines' tokens."""
    pytest.importorskip("llama_cpp")
    from bwbench.engines import llama_cpp
    path, out = tmp_path / "tiny.gguf", tmp_path / "run.json"
    write_gguf(path, LLAMA, hf_weights(LLAMA), {})
    cfg = load_config(str(path))
    c = engine(cfg, *model_file(cfg).weights(True, True), 40, 1)
    ours = c.generate(1, [0], [0], 32, np.empty((1, cfg.d), np.float32), np.zeros(_kernels.INFER_OPS))[0]
    assert cli.main(["transformer", "--model", str(path), "--mode", "decoder", "--seq", "32", "--scope", "model",
                     "--measure", "--reference", "llama.cpp", "--threads", "1", "--json", str(out)]) == 0
    record = json.loads(out.read_text())["transformer"]
    reference = record["reference"]
    assert record["tokens"] == ours.ravel().tolist() == reference["tokens"] and reference["tokens_agree"] == 32
    assert reference["model_file"] == str(path) and "weights" not in reference and reference["tokens_per_s"] > 0
    assert "greedy tokens the same for 32 of 32 steps" in capsys.readouterr().out
    with pytest.raises(UsageError, match="runs GGUF files"):
        llama_cpp.check(dataclasses.replace(cfg, path=str(tmp_path)), "decoder", "f32")
    from bwbench.engines import pytorch
    with pytest.raises(UsageError, match="not .*tiny.gguf's weights"):
        pytorch.check(cfg, "decoder", "f32")


# How far llama.cpp's logits may lie from bwbench's on the same file, as a share of the step's logit range
# (measured on this file: f32 1.2e-4, f16 2.2e-4, q8_0 5.7e-3 at worst over 32 steps): float weights differ
# by summation order and llama.cpp's f16 cache; on q8_0 both engines multiply x rounded to q8_0 blocks,
# rounded at different points of the layer
LOGIT_TOLERANCE = {"f32": 5e-4, "f16": 5e-4, "q8_0": 1e-2}


@pytest.mark.parametrize("kind", list(LOGIT_TOLERANCE))
def test_llama_cpp_gives_the_logits_of_the_same_file(tmp_path, kind):
    """Fed the tokens bwbench generates greedily from token 0, llama.cpp's logits stay within the
    stated tolerance of bwbench's for 32 steps (teacher-forced: a near-tie that turns the other way
    does not end the comparison)."""
    llama = pytest.importorskip("llama_cpp")
    from bwbench.engines import llama_cpp
    path = tmp_path / "tiny.gguf"
    write_gguf(path, LLAMA, hf_weights(LLAMA), TYPES[kind])
    cfg = load_config(str(path))
    c = engine(cfg, *model_file(cfg).weights(True, True), 40, 1)
    with llama_cpp._stderr_closed():
        model = llama.Llama(model_path=str(path), n_ctx=64, n_batch=8, n_threads=1, logits_all=True, verbose=False)
    logits, token, worst = np.empty(cfg.vocab, np.float32), 0, 0.0
    for position in range(32):
        model.eval([token])
        theirs = np.asarray(model.scores[model.n_tokens - 1])
        token, _ = c.run(1, True, np.array([token], np.int32), np.empty((1, cfg.d), np.float32), position, True,
                         logits, np.zeros(_kernels.INFER_OPS))
        worst = max(worst, np.max(np.abs(theirs - logits)) / np.ptp(logits))
    assert worst <= LOGIT_TOLERANCE[kind], worst


@pytest.mark.parametrize("types", [{}, {"qkv": "Q8_0", "o": "F16", "up": "Q4_0", "down": "Q8_0", "output": "Q8_0"}],
                         ids=["f32", "mixed"])
def test_a_gpt2_gguf_file_splits_its_fused_qkv_and_decodes_as_the_reference(tmp_path, types):
    path = tmp_path / "gpt2.gguf"
    layers, top = write_gpt2_gguf(path, types)
    cfg = load_config(str(path))
    assert (cfg.arch, cfg.layers, cfg.d, cfg.heads, cfg.head_dim, cfg.d_ff, cfg.vocab, cfg.activation,
            cfg.tied_embeddings) == ("gpt2", 2, 64, 4, 16, 256, 80, "gelu", False)
    mine = model_file(cfg).weights(True, True)[0][0]
    assert mine["q"].base is not None and mine["v"].shape[0] == 64   # views of the fused tensor's rows
    for got, want in decode_logits(cfg, layers, top):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)
    ops = {op.name: op for op in analyse(str(path), 1, "decoder", scope="model").ops}
    assert ops["K projection"].weight_bytes == 2 * 64 * 64 * (34 / 32 if types else 4)


def test_gguf_metadata_of_the_wrong_kind_is_refused_in_one_line(tmp_path, capsys, no_ceilings):
    import gguf as package
    path = tmp_path / "odd.gguf"
    writer = package.GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_embedding_length(64)
    writer.add_head_count(4)
    writer.add_feed_forward_length(96)
    writer.add_string("llama.rope.freq_base", "fast")   # a string where a number goes
    writer.add_tensor("token_embd.weight", np.zeros((80, 64), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    _refused(capsys, path, "llama.rope.freq_base must be a positive number, got 'fast'")
