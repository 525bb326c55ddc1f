"""Transformer counting (Kim et al.), configs, predictions on a synthetic roofline, CLI."""
import json

import pytest

from bwbench import cli, formats
from bwbench.errors import UsageError
from bwbench.roofline import Roofline
from bwbench.models import ModelConfig, load_config
from bwbench.transformer import analyse, layer_ops, measure, passes, with_measured

TINY = ModelConfig("tiny", "bert", layers=2, d=8, heads=2, d_ff=32, vocab=100, kv_heads=2, head_dim=4, mode="encoder")


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


def test_a_config_without_a_known_architecture_is_refused(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"n_layer": 1, "n_embd": 8, "n_head": 2, "vocab_size": 5}))
    with pytest.raises(UsageError, match="no model_type or known architecture"):
        load_config(str(path))


def test_missing_or_malformed_config(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        load_config(str(tmp_path / "absent.json"))
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(UsageError, match="cannot read"):
        load_config(str(tmp_path / "bad.json"))
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(UsageError, match="not a JSON object"):
        load_config(str(tmp_path / "list.json"))
    with pytest.raises(UsageError, match="unknown model"):
        load_config("gpt5")


def synthetic_roofline():
    """Read-write roof 200 (L2) and 50 GB/s (DRAM); read-only 300 and 40 GB/s."""
    memory = ({"level": "L2", "gbps": 200.0}, {"level": "DRAM", "gbps": 50.0})
    compute = ({"name": "fma", "dtype": "float32", "gflops": 100.0}, {"name": "fma", "dtype": "float64", "gflops": 50.0})
    loads = [{"level": level, "kernel": "load", "threads": 1, "gbps": gbps, "hw_gbps": gbps, "points": 3}
             for level, gbps in (("L2", 300.0), ("DRAM", 40.0))]
    return Roofline(memory, compute, 1, extra={"capacities": {"L2": 10**6}, "sweep_ceilings": loads})


def test_prediction_charges_each_kind_of_bytes_to_its_ceiling():
    r = synthetic_roofline()
    assert r.level_for(10**6) == "L2" and r.level_for(10**6 + 1) == "DRAM"
    a = analyse("gpt2", 1, bytes_per_element=4, roofline=r)
    q = by_name(a.ops)["Q projection"]
    # the weights (all of gpt2's, far over 1 MB) stream read-only from DRAM, the tiny activations from L2
    want = q.weight_bytes / 40e9 + (q.bytes - q.weight_bytes) / 200e9
    assert q.predicted_s == pytest.approx(max(q.flops / 100e9, want))
    assert (q.bound, q.ceiling) == ("memory", ("DRAM read-only", 40.0))
    assert {key: q.to_dict()[key] for key in ("bound", "level", "pattern", "gbps")} == {
        "bound": "memory", "level": "DRAM", "pattern": "read", "gbps": 40.0}
    qk = by_name(analyse("gpt2", 1, roofline=r).ops)["Q·K^T"]   # the cache of 1 position is in L2: read-only
    assert qk.cache_bytes == 12 * 4 * 768
    assert qk.predicted_s == pytest.approx(qk.cache_bytes / 300e9 + (qk.bytes - qk.cache_bytes) / 200e9)
    assert by_name(analyse("gpt2", 8, roofline=r).ops)["Q·K^T"].cache_bytes == 12 * 4 * 768 * 36
    big = by_name(analyse("bert-base", 512, bytes_per_element=8, roofline=r).ops)["FFN up"]
    assert big.predicted_s == pytest.approx(big.flops / 50e9) and big.ceiling == ("peak float64", 50.0)
    # a decode step's attention: its keys and values outgrow L2 as the context grows; the
    # summed op names the ceiling that bound most of its time, the longest steps' DRAM
    qk = by_name(analyse("gpt2", 64, roofline=r).ops)["Q·K^T"]
    assert {name for (name, _), _ in qk.charged} >= {"L2 read-only", "DRAM read-only"}
    assert qk.ceiling == ("DRAM read-only", 40.0)
    assert a.predicted_s == pytest.approx(sum(op.predicted_s for op in a.ops))
    record = a.to_dict()
    assert record["tokens_per_s"] == pytest.approx(1 / a.predicted_s)
    assert record["weight_bytes"] == 4 * 12 * (4 * 768 * 768 + 2 * 768 * 3072 + 4 * 768)
    assert "tokens_per_s" not in analyse("bert-base", 8, roofline=r).to_dict()


@pytest.mark.parametrize("args, message", [
    (["transformer", "--model", "gpt5", "--seq", "8"], "unknown model 'gpt5'"),
    (["transformer", "--model", "gpt2", "--seq", "0"], "invalid seq 0"),
    (["transformer", "--model", "gpt2", "--seq", "8", "--batch", "-1"], "invalid --batch '-1'"),
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


@pytest.fixture
def small_gpt2(tmp_path):
    """A GPT-2 config.json of 2 layers of width 128: runs in milliseconds (GPT-2 itself reads 0.5 GB), and its
    1.6 MB of weights still lie beyond synthetic_roofline()'s 1 MB L2."""
    path = tmp_path / "small-gpt2.json"
    path.write_text(json.dumps({"model_type": "gpt2", "n_layer": 2, "n_embd": 128, "n_head": 4, "vocab_size": 1000}))
    return str(path)


def test_measured_run_times_every_op(small_gpt2):
    tiny = analyse(small_gpt2, 2, scope="model", roofline=synthetic_roofline())
    measured = with_measured(tiny, *measure(tiny, threads=1))
    assert all(op.measured_s > 0 for op in measured.ops)
    assert measured.measured_wall_s >= sum(op.measured_s for op in measured.ops) * 0.99
    assert measured.to_dict()["measured_tokens_per_s"] == pytest.approx(2 / measured.measured_wall_s)
    assert 0 <= measured.to_dict()["measured_cpu_stolen"] <= 1
    with pytest.raises(UsageError, match="batch 1"):
        measure(analyse(small_gpt2, 2, batch=2), threads=1)


def test_measure_brackets_the_run_with_ceilings_and_reports_their_drift(tmp_path, monkeypatch, capsys, small_gpt2):
    slow, fast = synthetic_roofline(), synthetic_roofline()
    fast = Roofline(tuple({**c, "gbps": c["gbps"] * 1.5} for c in fast.memory_ceilings), fast.compute_ceilings, 1,
                    extra={**fast.extra, "sweep_ceilings": [{**c, "gbps": c["gbps"] * 1.5}
                                                            for c in fast.extra["sweep_ceilings"]]})
    calls = []

    def bracketed(run, threads, run_steps, weights=None):
        calls.append(threads)
        return run(), slow, fast, slow
    monkeypatch.setattr(cli, "bracketed", bracketed)
    out = tmp_path / "t.json"
    assert cli.main(["transformer", "--model", small_gpt2, "--seq", "2", "--scope", "model", "--measure",
                     "--threads", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Ceilings bracketing the run" in printed and "FLAGGED" in printed and calls == [1]
    record = json.loads(out.read_text())["transformer"]
    assert record["ceiling_drift"]["flagged"] is True and record["ceiling_drift"]["max"] == pytest.approx(0.4)
    assert "DRAM read-only" in record["ceiling_drift"]["used"]
    assert {row["ceiling"] for row in record["bracket"]} >= {"DRAM read-only", "L2 read-write", "peak float32"}
    q = next(op for op in record["ops"] if op["name"] == "Q projection")
    assert (q["bound"], q["level"], q["pattern"], q["gbps"]) == ("memory", "DRAM", "read", 40.0)
    assert record["tokens_per_s"] == pytest.approx(2 / record["predicted_s"])
    assert record["measured_tokens_per_s"] == pytest.approx(2 / record["measured_s"])


def test_an_unmeasurable_run_is_refused_before_any_ceiling_is_measured(monkeypatch, capsys):
    monkeypatch.setattr(cli, "bracketed", lambda *args: pytest.fail("measured before refusing"))
    monkeypatch.setattr(cli, "_roofline_for", lambda *args: pytest.fail("measured before refusing"))
    assert cli.main(["transformer", "--model", "gpt2", "--seq", "2", "--bytes-per-element", "2", "--measure"]) == 2
    assert "batch 1" in capsys.readouterr().err


def test_the_ceilings_used_are_those_that_bound_a_share_of_the_time():
    a = analyse("gpt2", 4, roofline=synthetic_roofline())
    assert a.ceilings_used() == {"DRAM read-only"}   # the weights' stream is all but the whole time
    assert {"DRAM read-only", "L2 read-write"} <= a.ceilings_used(min_share=0)
    big = analyse("bert-base", 512, bytes_per_element=8, roofline=synthetic_roofline())
    assert "peak float64" in big.ceilings_used()


def test_weight_formats_count_their_bytes_and_predict_with_their_unpack_rate():
    f32 = analyse("tinyllama-1.1b", 1, "decoder", 0, 1, 4, "model")
    q4 = analyse("tinyllama-1.1b", 1, "decoder", 0, 1, 4, "model", weights="q4_0")
    linear = sum(op.weight_bytes for op in f32.ops if op.group in ("projection", "ffn", "lm_head"))
    assert q4.weight_bytes == pytest.approx(f32.weight_bytes - linear + linear * 18 / 32 / 4)
    assert by_name(q4.ops)["RMSNorm"].bytes == by_name(f32.ops)["RMSNorm"].bytes   # activations stay float32
    r = synthetic_roofline()
    slow = Roofline(r.memory_ceilings, r.compute_ceilings, 1, extra={**r.extra, "unpack": {"q4_0": 10.0}})
    up = by_name(analyse("tinyllama-1.1b", 1, "decoder", 0, 1, 4, "model", slow, "q4_0").ops)["FFN up"]
    assert up.ceiling == ("unpack q4_0", 10.0) and up.predicted_s == pytest.approx(up.flops / 10e9)
    assert up.to_dict()["bound"] == "compute"
    fast = by_name(analyse("tinyllama-1.1b", 1, "decoder", 0, 1, 4, "model", r, "q4_0").ops)["FFN up"]
    assert fast.ceiling == ("peak float32", 100.0)   # no unpack rate measured: the FMA peak, then the stream
    with pytest.raises(UsageError, match="unknown weight format 'q5_k'"):
        analyse("gpt2", 1, weights="q5_k")


def test_a_decoders_table_and_json_give_predicted_tokens_per_s_for_every_weight_format(tmp_path, capsys):
    from bwbench import machine_info, write_result
    r = synthetic_roofline()
    unpacked = Roofline(r.memory_ceilings, r.compute_ceilings, 1, extra={**r.extra, "unpack": {"q4_0": 10.0}})
    roofline, out = tmp_path / "roofline.json", tmp_path / "t.json"
    write_result(str(roofline), machine_info(), [], roofline=unpacked.to_dict())
    assert cli.main(["transformer", "--model", "tinyllama-1.1b", "--mode", "decoder", "--seq", "2", "--scope", "model",
                     "--weights", "q4_0", "--roofline", str(roofline), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "predicted tokens/s by weight format: f32" in printed and "q8_0" in printed
    record = json.loads(out.read_text())["transformer"]
    rates = record["tokens_per_s_by_format"]
    assert list(rates) == ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_K", "q6_K"]
    for fmt, rate in rates.items():
        want = analyse("tinyllama-1.1b", 2, "decoder", 0, 1, 4, "model", unpacked, fmt).to_dict()["tokens_per_s"]
        assert rate == pytest.approx(want)
    assert rates["q4_0"] == pytest.approx(record["tokens_per_s"])   # the format run is the same prediction
    assert rates["f32"] < rates["f16"] == rates["bf16"] < rates["q8_0"]   # bound by the weights' bytes: fewer bytes, more tokens
    assert record["tokens_per_s_bandwidth_only"] == ["f16", "bf16", "q8_0", "q4_K", "q6_K"]   # q4_0's unpack rate is in the roofline
    assert rates["q4_0"] < rates["q8_0"]   # its unpack rate (10 GFLOP/s) binds it below q8_0's bytes
    assert cli.main(["transformer", "--model", "bert-base", "--seq", "8", "--roofline", str(roofline),
                     "--json", str(out)]) == 0
    assert "by weight format" not in capsys.readouterr().out
    assert "tokens_per_s_by_format" not in json.loads(out.read_text())["transformer"]


def test_the_roofline_overlay_places_a_decoders_step_in_every_weight_format():
    from bwbench.transformer import overlay_points
    r = synthetic_roofline()
    unpacked = Roofline(r.memory_ceilings, r.compute_ceilings, 1, extra={**r.extra, "unpack": {"q4_0": 10.0}})
    steps = [p for p in overlay_points(["gpt2"], 4, unpacked) if p["group"] == "step"]
    assert [p["label"].split(", ")[1].split(" ")[0] for p in steps] == ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_K",
                                                                        "q6_K"]
    for point in steps:
        fmt = point["label"].split(", ")[1].split(" ")[0]
        step = analyse("gpt2", 4, "decoder", 0, 1, 4, "model", unpacked, fmt)
        assert point["ai"] == pytest.approx(step.total_flops / step.total_bytes)
        assert f"{step.tokens_per_s:.1f} tokens/s predicted" in point["label"]
        assert ("bandwidth only" in point["label"]) == (fmt != "f32" and fmt != "q4_0")   # no unpack rate measured
    by_bytes = sorted(steps, key=lambda p: formats.FORMATS[p["label"].split(", ")[1].split(" ")[0]].bytes_per_weight,
                      reverse=True)
    assert [p["ai"] for p in by_bytes] == sorted(p["ai"] for p in steps)   # fewer bytes a weight: further right
    assert not [p for p in overlay_points(["bert-base"], 4, unpacked) if p["group"] == "step"]


def test_tokens_agree_counts_the_steps_before_the_first_difference():
    from bwbench.transformer import tokens_agree
    assert tokens_agree([5, 7, 9], [5, 7, 9]) == 3
    assert tokens_agree([5, 7, 9, 2], [5, 7, 1, 2]) == 2   # the same again after a difference does not count
    assert tokens_agree([4], [5]) == 0 and tokens_agree([1, 2], [1, 2, 3]) == 2
