"""`python -m bwbench quant`: the bytes-per-weight roofline, run once at tiny
working sets; its JSON, arithmetic, figure and refusals."""
import pytest

from bwbench import cli, quant, quant_roofline, read_result
from bwbench.ceilings import level_capacities
from bwbench.errors import UsageError
from bwbench.machine import last_level_cache_bytes
from bwbench.transformer import analyse

TINY = {"L1": 4096, "L2": 16384, "DRAM": 32768}   # bytes of weights per level, injected for speed
LEVELS = list(TINY)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run of the command at TINY sizes: (output folder, JSON document, printed text)."""
    out = tmp_path_factory.mktemp("quant")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quant_roofline, "level_sizes", lambda threads: dict(TINY))
        capture = []
        patch.setattr(cli.stdout, "print", lambda *things: capture.extend(things))
        assert cli.main(["quant", "--threads", "1", "--out", str(out / "figs"), "--json", str(out / "q.json")]) == 0
    return out, read_result(str(out / "q.json")), capture


def test_json_holds_every_format_and_level_beside_its_measurements(run):
    _, document, _ = run
    result = document["quant"]
    assert (result["threads"], result["sample"], result["model"]) == (1, "median", "tinyllama-1.1b")
    assert list(result["formats"]) == ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_K", "q6_K"]
    measured = document["measurements"]
    runs = list(zip(measured[::3], measured[1::3], measured[2::3]))
    assert len(runs) == len(LEVELS) * 7
    keys = [(level, fmt) for level in LEVELS for fmt in result["formats"]]
    for (before, gemv, after), (level, fmt) in zip(runs, keys):
        entry = result["formats"][fmt]
        row = entry["levels"][level]
        assert set(row) == {"shape", "weight_bytes", "gbps", "ceiling_gbps", "ceiling_drift", "fraction", "gflops",
                            "bound", "predicted_tokens_per_s", "measured_tokens_per_s"}
        rows, cols = row["shape"]
        assert cols % 256 == 0 and 0 < row["weight_bytes"] <= TINY[level]
        assert row["weight_bytes"] == rows * cols * entry["bytes_per_weight"]
        # the read kernel read the weights' bytes (in whole float64s), right before and after the GEMV
        for read in (before, after):
            assert (read.kernel, read.working_set_bytes) == ("read", row["weight_bytes"] // 8 * 8)
        assert (gemv.kernel, gemv.dtype, gemv.shape) == ("gemv", "float32" if fmt == "f32" else fmt, (rows, 1, cols))
        assert row["gbps"] == quant.weight_gbps(gemv, "median")
        assert row["ceiling_gbps"] == (before.median_gbps + after.median_gbps) / 2
        assert row["ceiling_drift"] == abs(after.median_gbps - before.median_gbps) / row["ceiling_gbps"]
        assert row["gflops"] == gemv.flops / gemv.median_s / 1e9
        assert gemv.flops == gemv.reps_per_sample * 2 * rows * cols
    assert [f["bits_per_weight"] for f in result["formats"].values()] == [32, 16, 16, 8.5, 4.5, 4.5, 6.5625]
    assert [f["bytes_per_weight"] for f in result["formats"].values()] == [4, 2, 2, 34 / 32, 18 / 32, 144 / 256, 210 / 256]


def test_fractions_roofs_and_tokens_per_s_follow_from_the_measurements(run):
    result = run[1]["quant"]
    weights = result["model_weights"]
    assert weights == analyse("tinyllama-1.1b", 1, "decoder", 0, 1, 4, "model").weight_bytes / 4
    for fmt, entry in result["formats"].items():
        model_bytes = entry["model_weight_bytes"]
        assert model_bytes == analyse("tinyllama-1.1b", 1, "decoder", 0, 1, 4, "model", weights=fmt).weight_bytes
        levels = entry["levels"]
        in_cache = {level: row["gflops"] for level, row in levels.items() if level != "DRAM"}
        assert entry["unpack_gflops"] == max(in_cache.values()) == in_cache[entry["unpack_level"]]
        for row in levels.values():
            assert row["fraction"] == row["gbps"] / row["ceiling_gbps"]
            assert row["measured_tokens_per_s"] == row["gbps"] * 1e9 / model_bytes
            assert row["predicted_tokens_per_s"] == min(row["ceiling_gbps"] * 1e9 / model_bytes,
                                                        entry["unpack_gflops"] * 1e9 / (2 * weights))
            unpack_bound = entry["unpack_gflops"] < row["ceiling_gbps"] * 2 / entry["bytes_per_weight"]
            assert row["bound"] == ("unpack" if unpack_bound else "memory")
        unpack_levels = [level for level in ("DRAM", "L2", "L1") if levels[level]["bound"] == "unpack"]
        assert entry["unpack_bound_from"] == (unpack_levels[0] if unpack_levels else None)


def test_tables_and_figure(run):
    out, _, printed = run
    text = "\n".join(str(getattr(t, "title", t)) for t in printed)
    assert "GEMV by weight format" in text and "Unpack roofs" in text
    assert sorted(p.name for p in (out / "figs").iterdir()) == ["quant.png", "quant.svg"]
    assert (out / "figs" / "quant.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_sizes_whole_blocks_inside_each_level():
    sizes = {"L1": 32768, "L3": 16 * 2**20, "DRAM": 128 * 2**20}
    points = quant_roofline.plan(sizes)
    assert [(p.level, p.fmt) for p in points][:7] == [("L1", f) for f in quant_roofline.FORMATS]
    assert {p.level: p.cols for p in points} == {"L1": 256, "L3": 4096, "DRAM": 4096}   # 16x wider than tall
    for p in points:
        step = quant.BYTES_PER_WEIGHT[p.fmt] * p.cols   # one more row would not fit
        assert p.cols % 32 == 0 and sizes[p.level] - step < p.weight_bytes <= sizes[p.level]


def test_levels_are_sized_at_half_each_cache_and_four_times_the_last():
    sizes = quant_roofline.level_sizes(1)
    capacities = level_capacities(1)
    assert {level: sizes[level] for level in capacities} == {level: c // 2 for level, c in capacities.items()}
    assert sizes["DRAM"] == 4 * (last_level_cache_bytes() or 2**25)


def test_memory_the_host_lacks_and_a_host_without_caches_are_refused(capsys, monkeypatch):
    monkeypatch.setattr(quant_roofline, "measure_point", lambda *a: pytest.fail("measured before refusing"))
    monkeypatch.setattr(quant_roofline, "level_sizes", lambda threads: {"L1": 4096, "DRAM": 2**60})
    assert cli.main(["quant", "--threads", "1"]) == 2
    assert "exceeds" in capsys.readouterr().err
    with pytest.raises(UsageError, match="no cache level"):
        quant_roofline.plan({"DRAM": 2**20})
