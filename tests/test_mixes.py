"""Read/write mixes (stream --mix), validated like the STREAM kernels, and the
write-allocate finding the read-write roof counts bytes by."""
import json

import pytest

from bwbench import _kernels, cli, mixes, write_allocate
from bwbench.ceilings import build_roofline
from bwbench.errors import UsageError
from bwbench.measure import Measurement
from conftest import ISAS
from test_roofline import CAPACITIES, SIZES, curve, sweep_point

SMALL = 3 * 2**14


@pytest.mark.parametrize("text, mix", [("1:0", mixes.Mix(1, 0)), ("3:1", mixes.Mix(3, 1)), ("0:1", mixes.Mix(0, 1)),
                                       ("triad", "triad")])
def test_mixes_parse(text, mix):
    assert mixes.parse_mix(text) == mix


@pytest.mark.parametrize("text", ["3-1", "a:b", "0:0", "9:0", "1:", ":1", "3:1:1", "", "-1:2"])
def test_a_mix_that_is_not_n_m_is_refused(text, capsys):
    with pytest.raises(UsageError, match="invalid mix"):
        mixes.parse_mix(text)
    assert cli.main(["stream", f"--mix={text}", "--levels", "L1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bwbench: error: invalid mix") and err.count("\n") == 1


@pytest.mark.parametrize("isa", [isa for isa in ISAS if isa != "generic"])
@pytest.mark.parametrize("reads, writes, inplace", [(1, 0, False), (3, 0, False), (3, 1, False), (2, 1, False),
                                                    (1, 1, False), (0, 1, False), (1, 1, True), (4, 2, False)])
def test_every_mix_is_validated_on_every_isa(isa, reads, writes, inplace):
    """Odd element counts exercise the tail; each call checks every output element (or the sum) in C."""
    for nt in ([False, True] if writes else [False]):
        for n in (1, 1001, 4099):
            samples, cpus, reps, bad = _kernels.mix_measure(reads, writes, inplace, nt, isa, n, 1, 10, 1e-4)
            assert bad == 0 and reps >= 1 and len(samples) == 10


def test_counts_follow_streams_and_stores():
    m = mixes.measure_mix(mixes.Mix(3, 1), "regular", 1, SMALL)
    n = SMALL // (4 * 8)
    assert m.kernel == "mix 3:1" and m.bytes == 4 * 8 * n * m.reps_per_sample
    assert m.hw_bytes == 5 * 8 * n * m.reps_per_sample   # a write-allocate read of the stored line
    nt = mixes.measure_mix(mixes.Mix(3, 1), "nt", 1, SMALL)
    assert nt.hw_bytes == nt.bytes
    update = mixes.measure_mix(mixes.UPDATE, "regular", 1, SMALL)
    assert update.kernel == "mix update" and update.hw_bytes == update.bytes == 16 * (SMALL // 8) * update.reps_per_sample
    with pytest.raises(UsageError, match="stores nothing"):
        mixes.measure_mix(mixes.Mix(1, 0), "nt", 1, SMALL)


def test_level_sizes_sit_inside_each_level():
    sizes = mixes.level_sizes(1, 4)
    assert list(sizes)[-1] == "DRAM" and all(size % (4 * 64) == 0 for size in sizes.values())
    assert sizes["DRAM"] >= 2**30


def stored(kernel, variant, level, gbps):
    """A write-allocate probe whose best sample gives `gbps` (STREAM bytes)."""
    return Measurement(kernel, variant, "avx512", "float64", 1, 0, int(gbps * 1e6), int(gbps * 1e6), 0, 1,
                       (1.0, 1e-3, 1e-3), level=level)


def test_the_finding_reads_store_only_against_update():
    found = write_allocate.finding([stored("mix 0:1", "regular", "L2", 50.0), stored("mix update", "regular", "L2", 100.0),
                                    stored("mix 0:1", "regular", "DRAM", 20.0), stored("mix update", "regular", "DRAM", 20.0),
                                    stored("mix 0:1", "nt", "DRAM", 30.0), stored("mix 0:1", "regular", "L3-DRAM", 9.0)])
    assert found["L2"]["ratio"] == pytest.approx(1.0) and found["L2"]["write_allocate"] is True
    assert found["DRAM"]["ratio"] == pytest.approx(2.0) and found["DRAM"]["write_allocate"] is False
    assert found["DRAM"]["nt_over_regular"] == pytest.approx(1.5) and set(found) == {"L2", "DRAM"}


def test_the_read_write_roof_counts_write_allocate_only_where_found(monkeypatch):
    from bwbench import ceilings
    monkeypatch.setattr(ceilings, "level_capacities", lambda threads: CAPACITIES)
    measurements = [sweep_point(kernel, s, curve(s), ratio) for kernel, ratio in (("read", 1.0), ("copy", 1.5))
                    for s in SIZES]
    assumed = build_roofline(measurements, 1)
    probes = [stored("mix 0:1", "regular", "DRAM", 20.0), stored("mix update", "regular", "DRAM", 40.0)]
    found = build_roofline(measurements + probes, 1)
    assert assumed.bandwidth("DRAM") == pytest.approx(15.0)            # copy's hardware count: 1.5x
    assert found.bandwidth("DRAM") == pytest.approx(15.0)              # found: stores do read their lines
    probes[0] = stored("mix 0:1", "regular", "DRAM", 40.0)
    without = build_roofline(measurements + probes, 1)
    assert without.bandwidth("DRAM") == pytest.approx(10.0)            # not found: STREAM bytes only
    assert without.to_dict()["write_allocate"]["DRAM"]["write_allocate"] is False
    assert [row["mix"] for row in without.to_dict()["mixes"]] == ["0:1", "update"]
    from bwbench import tables
    titles = [str(t.title) for t in tables.roofline_tables(without, [])]
    assert any(t.startswith("Read/write mixes") for t in titles) and any(t.startswith("Write-allocate") for t in titles)


def test_stream_mix_prints_the_table_and_the_finding(tmp_path, capsys):
    path = tmp_path / "mix.json"
    assert cli.main(["stream", "--mix", "1:0,2:1,triad", "--levels", "L1,L2", "--threads", "1",
                     "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Read/write mixes" in out and "Write-allocate" in out
    document = json.loads(path.read_text())
    rows = document["mixes"]
    assert {(r["mix"], r["variant"]) for r in rows} == {("1:0", "regular"), ("2:1", "regular"), ("2:1", "nt"),
                                                         ("triad", "regular"), ("triad", "nt")}
    assert {r["level"] for r in rows if r["variant"] == "regular"} == {"L1", "L2"}
    assert set(document["write_allocate"]) <= {"L2"}
    assert cli.main(["stream", "--mix", "--levels", "L5"]) == 2


def test_the_roofline_plans_the_finding_always_and_the_mixes_unless_quick():
    from bwbench.ceilings import roofline_plan
    full = [step.description for step in roofline_plan(1)]
    quick = [step.description for step in roofline_plan(1, quick=True)]
    for plan in (full, quick):
        assert {"write-allocate 0:1 regular DRAM", "write-allocate update regular DRAM",
                "write-allocate 0:1 nt DRAM", "clock, 1 thread(s)"} <= set(plan)
    assert "mix 3:1 nt DRAM" in full and not any(d.startswith("mix ") for d in quick)
