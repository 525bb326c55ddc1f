"""The tensor-parallel prediction against numbers worked out by hand."""
import json

import pytest

from bwbench import cli
from bwbench.errors import UsageError
from bwbench.tensor_parallel import allreduce_messages, memory_seconds, predict
from bwbench.transformer import Analysis, Op

# gpt2: 12 layers, d = 768, so one token's all-reduce is 768 x 4 = 3072 bytes
LINK = {"ranks": 2, "library": "test MPI", "mpi4py": "4.0", "pair": [0, 1], "target_s": 0.02, "samples": 1,
        "placement": [{"rank": 0, "host": "a", "cpus": [0]}, {"rank": 1, "host": "b", "cpus": [0]}],
        "tests": [{"test": "allreduce", "bytes": 2048, "latency_us": 4.0, "algbw_gbps": 0.5, "busbw_gbps": 0.5,
                   "iterations": 1, "samples_us": [4.0]},
                  {"test": "allreduce", "bytes": 4096, "latency_us": 8.0, "algbw_gbps": 0.5, "busbw_gbps": 0.5,
                   "iterations": 1, "samples_us": [8.0]},
                  {"test": "bw", "bytes": 4096, "latency_us": 1.0, "algbw_gbps": 4.0, "window": 64, "iterations": 1,
                   "samples_us": [1.0]}]}


def gpt2(seq=10, prompt=0, batch=1, mode="decoder"):
    """A hand-made analysis: a split projection (4 ms), a split softmax (2 ms), a replicated LayerNorm (1 ms)."""
    ops = (Op("Q projection", "projection", 1.0, 1.0, predicted_s=4e-3), Op("softmax", "other", 1.0, 1.0,
           predicted_s=2e-3), Op("LayerNorm", "other", 1.0, 1.0, predicted_s=1e-3))
    return Analysis("gpt2", mode, seq, prompt, batch, 4, "layers", ops)


def test_split_ops_divide_replicated_ops_do_not():
    assert memory_seconds(gpt2(), 2) == pytest.approx(2e-3 + 1e-3 + 1e-3)
    assert memory_seconds(gpt2(), 4) == pytest.approx(1e-3 + 0.5e-3 + 1e-3)


def test_two_allreduces_of_d_float32_per_layer_and_token():
    assert allreduce_messages(gpt2(seq=10)) == [(3072, 2 * 12 * 10)]
    assert allreduce_messages(gpt2(seq=10, prompt=16, batch=2)) == [(2 * 3072 * 16, 24), (2 * 3072, 240)]
    assert allreduce_messages(gpt2(seq=128, mode="encoder")) == [(3072 * 128, 24)]


def test_prediction_by_hand():
    split = predict(gpt2(seq=10), 2, LINK)
    # 3072 B lies between 2048 B (4 us) and 4096 B (8 us) on a line t ~ S: 6 us each, 240 of them
    assert split["allreduces"] == [{"bytes": 3072, "count": 240, "us_each": pytest.approx(6.0)}]
    assert split["allreduce_s"] == pytest.approx(240 * 6e-6)
    assert split["memory_s"] == pytest.approx(4e-3)
    assert split["total_s"] == pytest.approx(4e-3 + 1.44e-3)
    assert split["single_rank_s"] == pytest.approx(7e-3)
    assert split["speedup"] == pytest.approx(7e-3 / 5.44e-3)
    assert split["hosts"] == ["a", "b"]


def test_ranks_on_one_host_share_its_roofline():
    """Both ranks on host a: each gets half the host, so the split ops take their whole time again."""
    one_host = {**LINK, "placement": [{"host": "a"}, {"host": "a"}]}
    split = predict(gpt2(seq=10), 2, one_host)
    assert split["ranks_per_host"] == 2 and split["memory_s"] == pytest.approx(2 * 4e-3)
    assert predict(gpt2(seq=10), 2, LINK)["ranks_per_host"] == 1


def test_the_curve_must_be_measured_over_p_ranks():
    with pytest.raises(UsageError, match="over 4 ranks"):
        predict(gpt2(), 4, LINK)
    with pytest.raises(UsageError, match="at least 2 ranks"):
        predict(gpt2(), 1, LINK)
    with pytest.raises(UsageError, match="no allreduce rows"):
        predict(gpt2(), 2, {**LINK, "tests": LINK["tests"][2:]})


@pytest.mark.parametrize("args, message", [
    (["--tensor-parallel", "2"], "go together"),
    (["--interconnect", "LINK"], "go together"),
    (["--tensor-parallel", "4", "--interconnect", "LINK"], "over 4 ranks"),
    (["--tensor-parallel", "2", "--interconnect", "/nonexistent.json"], "cannot read /nonexistent.json"),
])
def test_bad_split_flags_one_line_before_measuring(tmp_path, capsys, args, message):
    link = tmp_path / "link.json"
    link.write_text(json.dumps({"schema": "bwbench/1", "machine": {}, "measurements": [], "interconnect": LINK}))
    args = [str(link) if a == "LINK" else a for a in args]
    assert cli.main(["transformer", "--model", "gpt2", "--seq", "4", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_measured_split_matches_the_unsplit_model(tmp_path):
    """scripts/tp_split.py over 2 ranks on a tiny GPT: its output equals the unsplit run's (--check)."""
    from test_interconnect import ROOT, run_mpi

    from bwbench import machine_info, write_result
    from bwbench.roofline import Roofline

    config, roofline, link, out = (tmp_path / name for name in ("tiny.json", "r.json", "link.json", "out.json"))
    config.write_text(json.dumps({"model_type": "gpt2", "n_layer": 2, "n_embd": 32, "n_head": 4, "n_inner": 64,
                                  "vocab_size": 10}))
    load = {"level": "DRAM", "gbps": 10.0, "hw_gbps": 10.0, "kernel": "load", "points": 1, "threads": 1}   # read-only
    write_result(str(roofline), machine_info(), [], roofline=Roofline(
        ({"level": "DRAM", "gbps": 10.0},), ({"name": "fma", "dtype": "float32", "gflops": 100.0},), 1,
        extra={"sweep_ceilings": [load]}).to_dict())
    write_result(str(link), machine_info(), [], interconnect=LINK)
    done = run_mpi(["--model", str(config), "--seq", "5", "--roofline", str(roofline), "--interconnect", str(link),
                    "--check", "--repeat", "1", "--json", str(out)], script=[f"{ROOT}/scripts/tp_split.py"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "the split's last output matches the unsplit run" in done.stdout
    record = json.loads(out.read_text())
    assert record["ranks"] == 2 and record["measured_s"] > record["measured_allreduce_s"] > 0
    # 5 steps x 2 layers x 2 all-reduces of 32 float32 (128 B, below the curve: its smallest size's 4 us)
    assert record["prediction"]["allreduces"] == [{"bytes": 128, "count": 20, "us_each": 4.0}]
