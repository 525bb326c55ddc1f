import pytest

from bwbench import machine
from bwbench.errors import UsageError
from bwbench.units import format_bytes, parse_size


@pytest.mark.parametrize("text, size", [("2GiB", 2 * 2**30), ("16kB", 16000), ("1.5 MiB", 3 * 2**19),
                                        ("512MB", 512 * 10**6), ("4096", 4096), ("8b", 8), ("2gb", 2 * 10**9)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["0", "-5", "abc", "2 GX", "", "0.1B"])
def test_parse_size_refuses(text):
    with pytest.raises(UsageError):
        parse_size(text)


@pytest.mark.parametrize("size, text", [(32768, "32 KiB"), (2**30, "1 GiB"), (2**30 - 16, "1 GiB"),
                                        (1536 * 1024, "1.5 MiB"), (100, "100 B")])
def test_format_bytes(size, text):
    assert format_bytes(size) == text


def fake_sysfs(root, cpus=4):
    """Two L3 instances of 16 MiB (CPUs 0-1 and 2-3), private 48K L1d and 1M L2."""
    for cpu in range(cpus):
        caches = [(1, "Data", "48K", str(cpu)), (1, "Instruction", "32K", str(cpu)),
                  (2, "Unified", "1024K", str(cpu)), (3, "Unified", "16384K", "0-1" if cpu < 2 else "2-3")]
        for i, (level, kind, size, shared) in enumerate(caches):
            folder = root / f"cpu{cpu}" / "cache" / f"index{i}"
            folder.mkdir(parents=True)
            for name, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
                (folder / name).write_text(f"{value}\n")
    return str(root)


def test_caches_from_sysfs(tmp_path):
    root = fake_sysfs(tmp_path)
    assert machine.caches(root) == {"L1d": 48 * 1024, "L2": 2**20, "L3": 16 * 2**20}
    assert machine.cache_capacity("L3", [0, 1], root) == 16 * 2**20
    assert machine.cache_capacity("L3", [1, 2], root) == 32 * 2**20
    assert machine.cache_capacity("L2", [0, 1, 2], root) == 3 * 2**20


def test_last_level_cache_counts_every_instance(tmp_path, monkeypatch):
    monkeypatch.setattr(machine.os, "cpu_count", lambda: 4)
    assert machine.last_level_cache_bytes(fake_sysfs(tmp_path)) == 32 * 2**20


def test_memory_level(tmp_path, monkeypatch):
    root = fake_sysfs(tmp_path)
    monkeypatch.setattr(machine.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert machine.memory_level(40 * 1024, 1, root) == "L1d"
    assert machine.memory_level(90 * 1024, 1, root) == "L2"
    assert machine.memory_level(90 * 1024, 2, root) == "L1d"
    assert machine.memory_level(20 * 2**20, 2, root) == "L3-DRAM"   # over the 16 MiB L3, under 4x
    assert machine.memory_level(64 * 2**20, 2, root) == "DRAM"
    assert machine.memory_level(20 * 2**20, 4, root) == "L3"


def test_dram_needs_every_array_four_times_the_last_level_cache(tmp_path, monkeypatch):
    """STREAM's rule is per array: a 384 MiB LLC with three 512 MiB arrays is partly cached."""
    root = tmp_path / "sys"
    for cpu in range(4):
        folder = root / f"cpu{cpu}" / "cache" / "index0"
        folder.mkdir(parents=True)
        for name, value in (("level", 3), ("type", "Unified"), ("size", "393216K"), ("shared_cpu_list", "0-3")):
            (folder / name).write_text(f"{value}\n")
    monkeypatch.setattr(machine.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert machine.memory_level(3 * 512 * 2**20, 4, str(root), arrays=3) == "L3-DRAM"
    assert machine.memory_level(3 * 1536 * 2**20, 4, str(root), arrays=3) == "DRAM"
    assert machine.memory_level(1536 * 2**20, 4, str(root), arrays=1) == "DRAM"


def test_default_stream_size_puts_every_array_of_every_kernel_in_dram(monkeypatch):
    from bwbench import stream
    monkeypatch.setattr(stream, "last_level_cache_bytes", lambda: 384 * 2**20)
    size = stream.default_stream_size()
    for spec in stream.STREAM_KERNELS.values():
        assert size // spec.arrays >= 4 * 384 * 2**20
    monkeypatch.setattr(stream, "last_level_cache_bytes", lambda: 2**20)
    assert stream.default_stream_size() == 2**30   # at least 1 GiB


def test_the_kernels_run_on_the_cpus_python_decides():
    from bwbench import _kernels, measure_stream
    cpus = sorted(machine.os.sched_getaffinity(0))
    for threads in sorted({1, len(cpus)}):
        assert measure_stream("copy", threads=threads, size=2**16).cpus == tuple(machine.cpus_for(threads))
    try:   # a plan other than the default is obeyed for fill, run and timing alike
        _kernels.set_cpus(cpus[::-1])
        samples, ran_on, _, bad = _kernels.stream_measure("copy", False, _kernels.best_isa(), 1024, 1, 10, 1e-4)
        assert ran_on == [cpus[-1]] and bad == 0
    finally:
        _kernels.set_cpus(cpus)


def test_machine_info_has_the_design_keys():
    info = machine.machine_info()
    assert {"cpu", "isa", "cores", "caches", "memory_bytes", "compiler", "cflags", "threadpools"} <= set(info)
    assert info["cores"] == len(machine.os.sched_getaffinity(0)) and "-fopenmp" in info["cflags"]
    assert info["memory_bytes"] == machine.memory_bytes("MemTotal") >= info["memory_available_bytes"]


def test_stolen_cpu_time_is_read_from_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 10 0 0 40 0 0\ncpu0 50 0 25 400 5 0 0 20 0 0\n")
    before = machine.cpu_ticks(str(stat))
    assert before == (40, 1000)
    stat.write_text("cpu  130 0 50 860 10 0 0 100 0 0\n")
    assert machine.stolen_fraction(before, machine.cpu_ticks(str(stat))) == pytest.approx(60 / 150)
    assert machine.cpu_ticks(str(tmp_path / "absent")) == (0, 0)
    assert machine.stolen_fraction((0, 0), (0, 0)) == 0.0
