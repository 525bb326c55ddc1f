"""Transformer counting (Kim et al.), configs, predictions on a synthetic roofline, CLI."""
import json

import pytest

from bwbench import cli
from bwbench.errors import UsageError
from bwbench.roofline import Roofline
from bwbench.transformer import ModelConfig, analyse, layer_ops, load_config, passes

TINY = ModelConfig("tiny", layers=2, d=8, heads=2, d_ff=32, vocab=100, kv_heads=2, mode="encoder", token_types=False)


def by_name(ops):
    return {op.name: op for op in ops}


def test_one_layer_counts_by_hand():
    # batch 1, 4 tokens attending to 4 positions, 1 byte per element; d 8, 2 heads of 4, d_ff 32
    ops = by_name(layer_ops(TINY, 1, 4, 4, 1))
    q = ops["Q projection"]
    assert (q.flops, q.bytes, q.weight_bytes) == (2 * 4 * 8 * 8, 4 * 8 + 8 * 8 + 4 * 8, 64)
    qk = ops["Q·K^T"]   # 2 heads x 4 x 4 scores, each a dot of length 4: 7 FLOPs
    assert (qk.flops, qk.bytes) == (2 * 16 * 7, 32 + 32 + 32)
    sv = ops["scores·V"]  # 2 heads x 4 tokens x 4 outputs, each a dot of length 4
    assert (sv.flops, sv.bytes) == (2 * 4 * 4 * 7, 32 + 32 + 32)
    assert (ops["softmax"].flops, ops["softmax"].bytes) == (6 * 32, 64)
    assert (ops["FFN up"].flops, ops["FFN up"].bytes) == (2 * 4 * 8 * 32, 32 + 256 + 128)
    assert (ops["GELU"].flops, ops["GELU"].bytes) == (9 * 128, 256)
    assert (ops["LayerNorm"].flops, ops["LayerNorm"].bytes) == (7 * 32, 64 + 16)
    assert (ops["residual add"].flops, ops["residual add"].bytes) == (32, 96)
    assert [op.group for op in layer_ops(TINY, 1, 4, 4, 1)].count("projection") == 4


def test_bert_base_at_128_gives_kim_et_al_table_3():
    groups = analyse("bert-base", 128, bytes_per_element=1, scope="layers").group_totals()
    for group, gflops, ai in (("projection", 7.25, 192.00), ("attention", 0.60, 63.62), ("ffn", 14.50, 211.86)):
        assert round(groups[group].flops / 1e9, 2) == gflops
        assert round(groups[group].ai, 2) == ai


def test_decoder_sums_every_step_over_a_growing_context():
    assert passes("decoder", 3, 2) == [(2, 2), (1, 3), (1, 4), (1, 5)]
    assert passes("encoder", 7, 0) == [(7, 7)]
    total = analyse("gpt2", 5, bytes_per_element=1)
    steps = [analyse("gpt2", 1, bytes_per_element=1)]  # a step's projections do not depend on the context
    assert by_name(total.ops)["Q projection"].flops == 5 * by_name(steps[0].ops)["Q projection"].flops
    cfg = load_config("gpt2")
    want = sum(by_name(layer_ops(cfg, 1, 1, t, 1))["Q·K^T"].flops for t in range(1, 6)) * cfg.layers
    assert by_name(total.ops)["Q·K^T"].flops == want
    assert total.mode == "decoder" and analyse("bert-base", 5).mode == "encoder"


def test_decoder_is_memory_bound_and_encoder_is_not():
    bert, gpt2 = analyse("bert-base", 128, bytes_per_element=1), analyse("gpt2", 128, bytes_per_element=1)
    assert gpt2.total_flops == pytest.approx(bert.total_flops, rel=0.05)
    assert gpt2.total_flops / gpt2.total_bytes == pytest.approx(2.0, rel=0.02)
    assert bert.total_flops / bert.total_bytes > 100


def test_model_scope_adds_embeddings_and_the_lm_head():
    names = [op.name for op in analyse("gpt2", 4, scope="model").ops]
    assert names[0] == "embeddings" and names[-1] == "LM head" and "final LayerNorm" in names
    lm = by_name(analyse("gpt2", 4, scope="model", bytes_per_element=1).ops)["LM head"]
    assert lm.flops == 4 * 2 * 768 * 50257
    assert "embedding LayerNorm" in [op.name for op in analyse("bert-base", 4, scope="model").ops]


def write_config(tmp_path, **keys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(keys))
    return str(path)


def test_config_json_in_both_spellings(tmp_path):
    hf = load_config(write_config(tmp_path, num_hidden_layers=4, hidden_size=64, num_attention_heads=4,
                                  intermediate_size=128, vocab_size=1000, num_key_value_heads=2,
                                  architectures=["LlamaForCausalLM"]))
    assert (hf.layers, hf.d, hf.heads, hf.d_ff, hf.kv_heads, hf.mode) == (4, 64, 4, 128, 2, "decoder")
    gpt = load_config(write_config(tmp_path, n_layer=2, n_embd=32, n_head=2, n_inner=None, vocab_size=50,
                                   model_type="gpt2"))
    assert (gpt.layers, gpt.d, gpt.d_ff, gpt.kv_heads, gpt.mode) == (2, 32, 128, 2, "decoder")
    assert load_config(write_config(tmp_path, n_layer=1, n_embd=8, n_head=2, vocab_size=5)).mode == "encoder"


@pytest.mark.parametrize("keys, message", [
    ({"n_embd": 8, "n_head": 2, "vocab_size": 5}, "lacks num_hidden_layers or n_layer"),
    ({"n_layer": 1, "n_embd": 10, "n_head": 3, "vocab_size": 5}, "do not divide"),
    ({"n_layer": 0, "n_embd": 8, "n_head": 2, "vocab_size": 5}, "positive whole numbers"),
])
def test_bad_configs_are_refused(tmp_path, keys, message):
    with pytest.raises(UsageError, match=message):
        load_config(write_config(tmp_path, **keys))


def test_missing_or_malformed_config(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        load_config(str(tmp_path / "absent.json"))
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(UsageError, match="cannot read"):
        load_config(str(tmp_path / "bad.json"))
    with pytest.raises(UsageError, match="unknown model"):
        load_config("gpt5")


def synthetic_roofline():
    memory = ({"level": "L2", "gbps": 200.0}, {"level": "DRAM", "gbps": 50.0})
    compute = ({"name": "fma", "dtype": "float32", "gflops": 100.0}, {"name": "fma", "dtype": "float64", "gflops": 50.0})
    return Roofline(memory, compute, 1, extra={"capacities": {"L2": 10**6}})


def test_prediction_is_the_slower_of_compute_and_memory():
    r = synthetic_roofline()
    assert r.level_for(10**6) == "L2" and r.level_for(10**6 + 1) == "DRAM"
    a = analyse("gpt2", 1, bytes_per_element=4, roofline=r)
    q = by_name(a.ops)["Q projection"]
    # the weights (all of gpt2's, far over 1 MB) stream from DRAM, the tiny activations from L2
    want = q.weight_bytes / 50e9 + (q.bytes - q.weight_bytes) / 200e9
    assert q.predicted_s == pytest.approx(max(q.flops / 100e9, want))
    big = by_name(analyse("bert-base", 512, bytes_per_element=8, roofline=r).ops)["FFN up"]
    assert big.predicted_s == pytest.approx(big.flops / 50e9)  # compute-bound, at the float64 peak
    assert a.predicted_s == pytest.approx(sum(op.predicted_s for op in a.ops))


@pytest.mark.parametrize("args, message", [
    (["transformer", "--model", "gpt5", "--seq", "8"], "unknown model 'gpt5'"),
    (["transformer", "--model", "gpt2", "--seq", "0"], "invalid seq 0"),
    (["transformer", "--model", "gpt2", "--seq", "8", "--batch", "-1"], "invalid batch -1"),
    (["transformer", "--model", "gpt2", "--seq", "8", "--bytes-per-element", "0"], "invalid bytes per element"),
    (["transformer", "--model", "gpt2"], "give --model and --seq"),
    (["transformer", "--figure", "/proc/x", "--seqs", "1,a"], "cannot create output folder"),
    (["roofline", "--models", "bert-base,nope"], "unknown model 'nope'"),
])
def test_transformer_bad_input(args, message, capsys):
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err


def test_transformer_cli_prediction_and_json(tmp_path, capsys):
    roofline = tmp_path / "roofline.json"
    from bwbench import machine_info, write_result
    write_result(str(roofline), machine_info(), [], roofline=synthetic_roofline().to_dict())
    out = tmp_path / "t.json"
    assert cli.main(["transformer", "--model", "bert-base", "--seq", "16", "--roofline", str(roofline),
                     "--json", str(out)]) == 0
    assert "Q projection" in capsys.readouterr().out
    record = json.loads(out.read_text())["transformer"]
    assert (record["model"], record["mode"], record["seq"], record["scope"]) == ("bert-base", "encoder", 16, "layers")
    assert {op["group"] for op in record["ops"]} == {"projection", "attention", "ffn", "other"}
    assert record["total_flops"] == sum(op["flops"] for op in record["ops"]) and "measured_s" not in record


def test_measured_run_times_every_op(capsys):
    from bwbench.transformer import measure
    tiny = analyse("gpt2", 2, scope="model", roofline=synthetic_roofline())
    measured = measure(tiny, threads=1)
    assert all(op.measured_s > 0 for op in measured.ops)
    assert measured.measured_wall_s >= sum(op.measured_s for op in measured.ops) * 0.99
    with pytest.raises(UsageError, match="batch 1"):
        measure(analyse("gpt2", 2, batch=2), threads=1)
