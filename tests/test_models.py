"""Model configs: the published config.json files of today's decoders read as
what they are, and their matmul FLOPs and weight bytes against hand counts."""
import json
import os

import pytest

from bwbench import cli
from bwbench.errors import UsageError
from bwbench.models import BUILTIN, load_config
from bwbench.transformer import analyse

CONFIGS = os.path.join(os.path.dirname(__file__), "configs")


def config(name):
    return load_config(os.path.join(CONFIGS, name + ".json"))


# (layers, d, heads, kv_heads, head_dim, d_ff, vocab, biases, tied, activation), from each config.json
PUBLISHED = {
    "llama-3-8b": (32, 4096, 32, 8, 128, 14336, 128256, (), False, "silu"),
    "tinyllama-1.1b": (22, 2048, 32, 4, 64, 5632, 32000, (), False, "silu"),
    "qwen2.5-0.5b": (24, 896, 14, 2, 64, 4864, 151936, ("q", "k", "v"), True, "silu"),
    "mistral-7b": (32, 4096, 32, 8, 128, 14336, 32000, (), False, "silu"),
    "qwen3-0.6b": (28, 1024, 16, 8, 128, 3072, 151936, (), True, "silu"),
    "gemma-7b": (28, 3072, 16, 16, 256, 24576, 256000, (), True, "gelu"),
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_configs_are_read_as_llama_family(name):
    cfg = config(name)
    assert (cfg.layers, cfg.d, cfg.heads, cfg.kv_heads, cfg.head_dim, cfg.d_ff, cfg.vocab, cfg.biases,
            cfg.tied_embeddings, cfg.activation) == PUBLISHED[name]
    assert (cfg.arch, cfg.mode, cfg.gated, cfg.rms_norm, cfg.rotary) == ("llama", "decoder", True, True, True)
    assert cfg.qk_norm == (name == "qwen3-0.6b")
    if name in BUILTIN:   # the built-ins carry the published shapes
        assert BUILTIN[name] == cfg.__class__(**{**cfg.__dict__, "name": name})


def hand_matmul_flops_per_token(layers, d, heads, kv, dh, d_ff, vocab):
    """2 FLOPs per weight per token: Q, K, V, O, gate, up, down, and the LM head."""
    per_layer = d * heads * dh + 2 * d * kv * dh + heads * dh * d + 3 * d * d_ff
    return 2 * layers * per_layer, 2 * d * vocab


@pytest.mark.parametrize("name", PUBLISHED)
@pytest.mark.parametrize("e", [1, 2, 4])
def test_decode_step_matmuls_against_hand_counts(name, e):
    layers, d, heads, kv, dh, d_ff, vocab, *_ = PUBLISHED[name]
    step = analyse(os.path.join(CONFIGS, name + ".json"), 1, "decoder", 0, 1, e, "model")
    groups = step.group_totals()
    layer_flops, head_flops = hand_matmul_flops_per_token(layers, d, heads, kv, dh, d_ff, vocab)
    assert groups["projection"].flops + groups["ffn"].flops == layer_flops
    assert groups["lm_head"].flops == head_flops
    # every weight once, norms' gammas included (two per layer, Qwen3's two per-head ones, the final one)
    norms = layers * (2 * d + (2 * dh if name == "qwen3-0.6b" else 0)) + d
    assert step.weight_bytes == e * (layer_flops / 2 + head_flops / 2 + norms)
    assert groups["projection"].weight_bytes + groups["ffn"].weight_bytes == e * layer_flops / 2
    # the attention of one token over one position: a dot of dh per head, a weighted sum of one value row
    assert groups["attention"].flops == layers * heads * ((2 * dh - 1) + dh)


def test_llama_3_8b_weights_and_tokens_per_second():
    """Llama-3-8B has 8.03 billion parameters; a decode step reads all but the embedding."""
    step = analyse("llama-3-8b", 1, "decoder", 0, 1, 2, "model")
    assert step.weight_bytes == pytest.approx(2 * (8.03e9 - 128256 * 4096), rel=0.001)
    assert analyse("tinyllama-1.1b", 1, "decoder", 0, 1, 1, "model").weight_bytes == \
        pytest.approx(1.1e9 - 32000 * 2048, rel=0.01)


def test_small_llama_counts_every_op_by_hand(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "qwen2", "num_hidden_layers": 1, "hidden_size": 8,
                                "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 16,
                                "vocab_size": 10}))
    ops = {op.name: op for op in analyse(str(path), 3, "decoder", 0, 1, 1, "layers").ops}
    # 3 steps attend to 1, 2 and 3 positions: 6 positions in all; d 8 = 4 heads of 2, 2 KV heads
    assert (ops["K projection"].flops, ops["K projection"].weight_bytes) == (3 * 2 * 8 * 4, 3 * 8 * 4)
    assert ops["Q·K^T"].flops == 4 * 6 * (2 * 2 - 1)
    assert ops["Q·K^T"].cache_bytes == 6 * 4 and ops["scores·V"].flops == 4 * 2 * (1 + 3 + 5)
    assert (ops["rotary"].flops, ops["rotary"].bytes) == (3 * 3 * 12, 3 * (2 * 12 + 2))
    assert (ops["RMSNorm"].flops, ops["RMSNorm"].bytes) == (2 * 3 * 4 * 8, 2 * 3 * (2 * 8 + 8))
    assert (ops["SiLU"].flops, ops["gate multiply"].bytes) == (3 * 4 * 16, 3 * 3 * 16)
    assert [op.name for op in analyse(str(path), 1, "decoder", 0, 1, 1, "layers").ops] == [
        "RMSNorm", "Q projection", "K projection", "V projection", "rotary", "Q·K^T", "softmax", "scores·V",
        "output projection", "residual add", "FFN gate", "FFN up", "SiLU", "gate multiply", "FFN down"]


def write(tmp_path, **keys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(keys))
    return str(path)


LLAMA = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
         "intermediate_size": 128, "vocab_size": 100}


@pytest.mark.parametrize("keys, message", [
    ({"model_type": "mamba"}, "model_type 'mamba' is not supported (supported: bert, gpt2, llama"),
    ({"model_type": "mixtral"}, "model_type 'mixtral' is not supported"),
    ({"model_type": "t5"}, "model_type 't5' is not supported"),
    ({"model_type": None, "architectures": ["Qwen2MoeForCausalLM"]}, "no model_type or known architecture"),
    ({"model_type": None, "architectures": None}, "no model_type or known architecture"),
    ({"intermediate_size": None}, "lacks intermediate_size or n_inner"),
    ({"num_key_value_heads": 3}, "3 key/value heads do not divide 4 heads"),
    ({"hidden_size": 66}, "4 heads do not divide hidden size 66"),
    ({"head_dim": 15}, "head_dim 15 is odd"),
    ({"head_dim": 0}, "head_dim must be a positive whole number"),
    ({"hidden_act": "relu"}, "activation 'relu' is not supported"),
    ({"rope_theta": "big"}, "rope_theta must be a positive number"),
])
def test_unsupported_or_inconsistent_configs_are_refused(tmp_path, keys, message, capsys):
    path = write(tmp_path, **{**LLAMA, **keys})
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(path)
    assert cli.main(["transformer", "--model", path, "--seq", "4", "--roofline", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_architecture_alone_names_the_family_and_explicit_head_dim_wins(tmp_path):
    cfg = load_config(write(tmp_path, **{**LLAMA, "model_type": None, "architectures": ["MistralForCausalLM"],
                                          "head_dim": 32, "num_key_value_heads": 2}))
    assert (cfg.arch, cfg.head_dim, cfg.d_q, cfg.d_kv) == ("llama", 32, 128, 64)
    gpt = load_config(write(tmp_path, architectures=["GPT2LMHeadModel"], n_layer=2, n_embd=32, n_head=2,
                            vocab_size=50))
    assert (gpt.arch, gpt.d_ff, gpt.kv_heads, gpt.head_dim, gpt.mode) == ("gpt2", 128, 2, 16, "decoder")
    bert = load_config(write(tmp_path, model_type="bert", num_hidden_layers=1, hidden_size=8, num_attention_heads=2,
                             intermediate_size=32, vocab_size=5))
    assert (bert.arch, bert.mode, bert.token_types, bert.pre_norm) == ("bert", "encoder", True, False)
    qwen2 = load_config(write(tmp_path, **{**LLAMA, "model_type": "qwen2", "attention_bias": False}))
    assert qwen2.biases == ("q", "k", "v")   # Qwen2 always has Q/K/V biases
    llama = load_config(write(tmp_path, **{**LLAMA, "attention_bias": True}))
    assert llama.biases == ("q", "k", "v", "o")
