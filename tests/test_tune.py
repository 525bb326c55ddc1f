"""The tuning step at tiny sizes: every variant validated, the choice one of them, stored per host key,
set in the C core, and recorded in provenance; --isa refused where the CPU lacks it."""
import json

import pytest

from bwbench import _kernels, choices, cli, formats, provenance, quant, tune


@pytest.fixture
def small(monkeypatch, tmp_path):
    monkeypatch.setenv("BWBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(tune, "dram_bytes", lambda: 1 << 20)
    monkeypatch.setattr(tune, "ROUNDS", 1)
    monkeypatch.setattr(tune, "GEMM_SHAPES", ((40, 64, 48),))
    yield tmp_path
    _kernels.set_gemm_blocking(512, 16)
    for fmt in quant.FORMATS:   # back to the built-in shapes for the tests after
        for path in choices.supported_isas()[1:]:
            _kernels.set_gemv_shape(fmt, path, 4, 1024 if formats.FORMATS[fmt].quantised_x else 0, 16)
    _kernels.set_read_shape(4, 0)
    choices.note_shapes({"source": "built-in"}, {})


def test_tune_chooses_a_measured_variant_stores_and_applies_it(small):
    profile = tune.tune(1)
    choice = profile["read"]["choice"]
    assert choice in [{k: v[k] for k in choice} for v in profile["read"]["variants"]]
    for fmt, entry in profile["gemv"].items():
        assert entry["isa"] in entry["by_isa"]
        for path, best in entry["by_isa"].items():
            tried = [v for v in entry["variants"] if v["isa"] == path]
            assert best["gbps"] == max(v["gbps"] for v in tried)
    path = tune.store(profile)
    assert path.startswith(str(small)) and tune.load(path, tune.host_key()) == profile
    assert tune.load(path, {**tune.host_key(), "bwbench": "other"}) is None   # re-tuned when the key changes
    gemm = profile["gemm"]
    assert gemm["choice"] in [{k: v[k] for k in ("kc", "mc_tiles")} for v in gemm["variants"]]
    assert len(gemm["variants"]) == len(tune.GEMM_KC) * len(tune.GEMM_MC_TILES)
    tune.apply(profile, "cache", path)
    assert _kernels.read_shape() == choice and _kernels.gemm_blocking() == gemm["choice"]
    summary = provenance.provenance()["kernel_choices"]
    assert summary["source"] == "cache" and summary["read"] == choice and summary["gemm"] == gemm["choice"]
    for fmt, entry in profile["gemv"].items():
        shape = {k: entry["by_isa"][entry["isa"]][k] for k in ("streams", "prefetch", "chunk")}
        assert summary["gemv"][fmt] == {"isa": choices.gemv_path(fmt), **shape}


def test_tune_command_prints_the_variants_and_writes_json(small, tmp_path, capsys):
    out = tmp_path / "tune.json"
    assert cli.main(["tune", "--threads", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "* = chosen" in printed and "GEMM blockings" in printed
    assert json.loads(out.read_text())["tune"]["read"]["choice"] == _kernels.read_shape()


def test_isa_flag_is_refused_where_the_cpu_lacks_it(capsys):
    missing = [isa for isa in choices.ISAS if isa not in choices.supported_isas()]
    if not missing:
        pytest.skip("this CPU runs every ISA bwbench builds")
    assert cli.main(["stream", "--kernels", "load", "--size", "1MiB", "--isa", missing[0]]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_forced_isa_is_recorded(tmp_path):
    out = tmp_path / "s.json"
    assert cli.main(["stream", "--kernels", "load", "--size", "1MiB", "--isa", "sse2", "--json", str(out)]) == 0
    document = json.loads(out.read_text())
    assert {m["isa"] for m in document["measurements"]} == {"sse2"}
    assert document["provenance"]["kernel_choices"]["forced_isa"] == "sse2"
    choices.force_isa(None)
