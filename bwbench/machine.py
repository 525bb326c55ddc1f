"""What this host is: CPU, SIMD variant, cores, caches, memory, compiler, thread pools."""
import functools
import glob
import os
import platform

from bwbench import _kernels, topology
from bwbench.errors import ThreadsError, UsageError

_CACHE_ROOT = "/sys/devices/system/cpu"


def available_cpus() -> int:
    """Cores this process may run on (its affinity mask), the default thread count."""
    return len(os.sched_getaffinity(0))


_places = topology.DEFAULT


def set_places(places) -> None:
    """--places: scatter (the default), compact, or a list of CPU ids; refuses a
    bad one (UsageError) before anything runs."""
    global _places
    places = topology.DEFAULT if places is None else places
    _order(places, frozenset(os.sched_getaffinity(0)))
    _places = places


def places() -> str:
    """The placement in force, as given: scatter, compact or a CPU list."""
    return _places


@functools.lru_cache(maxsize=None)
def _order(places: str, allowed: frozenset, sys: str = topology.SYS) -> tuple:
    return tuple(topology.order(places, allowed, sys))


def placement_cpus() -> list:
    """Every CPU a team may take, in the order threads take them (bwbench.topology)."""
    return list(_order(_places, frozenset(os.sched_getaffinity(0))))


def cpus_for(threads: int) -> list:
    """The CPUs a team of `threads` threads runs on, thread t on the t-th of
    placement_cpus(): by default one CPU of every physical core before any SMT
    sibling, alternating between NUMA nodes (--places scatter); --places compact
    fills a core's siblings and a node first; a CPU list is taken as written.
    The one place that decides; the C core pins to these (check_threads hands
    them over), and cache capacities and provenance are read for the same CPUs."""
    return placement_cpus()[:threads]


def check_threads(threads) -> int:
    """The thread count to use: all CPUs of the placement by default, else 1 to
    that many, and no more than OpenMP may start (OMP_THREAD_LIMIT). Hands the
    C core the CPUs of cpus_for() for its fill, run and timing."""
    cores = len(placement_cpus())
    limit = min(cores, _kernels.thread_limit())
    if threads is None:
        threads = limit
    if not 1 <= threads <= cores:
        where = "this process may use" if _places in topology.POLICIES else f"--places {_places} names"
        raise UsageError(f"invalid thread count {threads}: {where} 1 to {cores} CPUs")
    if threads > limit:
        raise ThreadsError(f"invalid thread count {threads}: OpenMP may start at most {limit} "
                           "(OMP_THREAD_LIMIT)")
    _kernels.set_cpus(cpus_for(threads))
    return threads


def check_memory(nbytes: int, what: str = "working set") -> None:
    """Refuses, before allocating, what the machine could not hold."""
    available = memory_bytes("MemAvailable")
    if nbytes > available:
        raise UsageError(f"{what} of {nbytes} bytes exceeds the {available} bytes of available memory")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _size(text: str) -> int:
    """sysfs writes cache sizes as '32K' or '1024K'."""
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}
    return int(text[:-1]) * scale[text[-1]] if text[-1] in scale else int(text)


def _cache_entries(root: str = _CACHE_ROOT):
    """(cpu, name, size in bytes, CPUs sharing it) for every data cache of every CPU."""
    for index in sorted(glob.glob(f"{root}/cpu[0-9]*/cache/index[0-9]*")):
        try:
            level, kind = _read(f"{index}/level"), _read(f"{index}/type")
            size, shared = _size(_read(f"{index}/size")), _read(f"{index}/shared_cpu_list")
        except (OSError, ValueError, KeyError):
            continue
        if kind != "Instruction":
            cpu = int(index.split("/cpu")[-1].split("/")[0])
            yield cpu, f"L{level}d" if kind == "Data" else f"L{level}", size, shared


def caches(root: str = _CACHE_ROOT) -> dict:
    """Size of one instance of each data cache level: {'L1d': 32768, 'L2': ..., 'L3': ...}."""
    return {name: size for _, name, size, _ in sorted(_cache_entries(root), key=lambda e: e[1])}


def cache_capacity(level: str, cpus, root: str = _CACHE_ROOT) -> int:
    """Bytes of `level` that the given CPUs reach together: each distinct instance once."""
    return sum({shared: size for cpu, name, size, shared in _cache_entries(root)
                if name == level and cpu in cpus}.values())


def last_level_cache_bytes(root: str = _CACHE_ROOT) -> int:
    """The whole last-level cache of the host: every instance of the highest level."""
    sizes = caches(root)
    if not sizes:
        return 0
    return cache_capacity(max(sizes, key=lambda name: int(name[1])), range(os.cpu_count() or 1), root)


def memory_level(working_set: int, threads: int, root: str = _CACHE_ROOT, arrays: int = 1) -> str:
    """Where a working set of `arrays` equal arrays, spread over `threads`
    threads on the CPUs of cpus_for(threads), lives: the first cache level
    that holds all of it ('L1d', 'L2', 'L3'); 'DRAM' once every array is at
    least four times the last level's capacity (STREAM's rule is per array);
    in between, partly cached: e.g. 'L3-DRAM'."""
    cpus = cpus_for(threads)
    levels = sorted(caches(root), key=lambda name: int(name[1]))
    for level in levels:
        if working_set <= cache_capacity(level, cpus, root):
            return level
    if levels and working_set / arrays < 4 * cache_capacity(levels[-1], cpus, root):
        return f"{levels[-1]}-DRAM"
    return "DRAM"


def memory_bytes(field: str = "MemTotal") -> int:
    """A /proc/meminfo field in bytes: MemTotal, or MemAvailable for what may be allocated."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def cpu_ticks(stat: str = "/proc/stat") -> tuple:
    """(stolen, all) clock ticks of every CPU so far: time a hypervisor gave
    this machine's CPUs to someone else counts as stolen. (0, 0) where the
    kernel does not say (then nothing counts as stolen)."""
    try:
        with open(stat) as f:
            ticks = [int(value) for value in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks[:8])


def stolen_fraction(before: tuple, after: tuple) -> float:
    """The share of CPU time stolen between two cpu_ticks()."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else 0.0


_PLACES_RULE = {"scatter": "one CPU a physical core before SMT siblings, alternating NUMA nodes",
                "compact": "SMT siblings of a core first, a NUMA node filled before the next"}


def machine_info() -> dict:
    """The result JSON's `machine` object."""
    from threadpoolctl import threadpool_info

    return {
        "cpu": cpu_model(),
        "arch": platform.machine(),
        "isa": _kernels.best_isa(),
        "cpu_features": _kernels.cpu_features(),
        "cores": available_cpus(),
        "caches": caches(),
        "llc_bytes": last_level_cache_bytes(),
        "memory_bytes": memory_bytes("MemTotal"),
        "memory_available_bytes": memory_bytes("MemAvailable"),
        "compiler": _kernels.compiler(),
        "cflags": _kernels.cflags(),
        "affinity": f"thread t pinned to the t-th CPU of --places {_places} ({_PLACES_RULE.get(_places, 'as listed')})",
        "threadpools": threadpool_info(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
