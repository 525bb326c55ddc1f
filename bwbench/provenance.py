"""Where a result came from: what a reader needs to trust or reproduce it, and
what can silently change a number between two runs of the same code (huge
pages, frequency governor and boost, the clock, NUMA placement, SMT siblings).
Every result JSON carries it under `provenance`; the asv machine description
carries its host part. Whatever the host does not expose is None, never guessed."""
import datetime
import glob
import importlib.metadata
import os
import subprocess
import time

from bwbench import _kernels, choices
from bwbench.machine import available_cpus, cpus_for, places
from bwbench.topology import read_text as _read, sysfs_cpu_list as _cpu_list

_SYS = "/sys"
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def version() -> str:
    """The installed package's version (pyproject.toml is the one copy)."""
    try:
        return importlib.metadata.version("bwbench")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def git_commit(root: str = _ROOT):
    """{'commit', 'dirty'} when bwbench runs from a git checkout, else None."""
    if not os.path.exists(os.path.join(root, ".git")):
        return None
    try:
        run = lambda *args: subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                                           timeout=10, check=True).stdout.strip()
        return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return None


def _chosen(text):
    """'always [madvise] never' -> 'madvise'."""
    if text and "[" in text:
        return text.split("[", 1)[1].split("]", 1)[0]
    return text


def boost(sys: str = _SYS):
    """True/False where the host says whether turbo/boost is on, else None."""
    generic = _read(f"{sys}/devices/system/cpu/cpufreq/boost")
    if generic in ("0", "1"):
        return generic == "1"
    no_turbo = _read(f"{sys}/devices/system/cpu/intel_pstate/no_turbo")
    return None if no_turbo not in ("0", "1") else no_turbo == "0"


def numa_nodes(cpus, sys: str = _SYS) -> dict:
    """{cpu: NUMA node} for the given CPUs (empty without NUMA information)."""
    nodes = {}
    for folder in glob.glob(f"{sys}/devices/system/node/node[0-9]*"):
        node = int(os.path.basename(folder)[4:])
        for cpu in _cpu_list(_read(f"{folder}/cpulist")):
            if cpu in cpus:
                nodes[cpu] = node
    return nodes


def host(cpus=None, sys: str = _SYS) -> dict:
    """The host's side: THP mode, governor and boost, clock resolution, NUMA
    nodes and SMT siblings of the CPUs bwbench runs on (machine.cpus_for)."""
    cpus = list(cpus if cpus is not None else cpus_for(available_cpus()))
    cpu_dir = f"{sys}/devices/system/cpu"
    governors = {cpu: _read(f"{cpu_dir}/cpu{cpu}/cpufreq/scaling_governor") for cpu in cpus}
    return {
        "places": places(),
        "cpus": cpus,
        "transparent_hugepages": _chosen(_read(f"{sys}/kernel/mm/transparent_hugepage/enabled")),
        "transparent_hugepages_defrag": _chosen(_read(f"{sys}/kernel/mm/transparent_hugepage/defrag")),
        "governors": governors if any(governors.values()) else None,
        "boost": boost(sys),
        "clock": "CLOCK_MONOTONIC",
        "clock_resolution_s": time.clock_getres(time.CLOCK_MONOTONIC),
        "numa_nodes": numa_nodes(cpus, sys) or None,
        "smt_siblings": {cpu: _cpu_list(_read(f"{cpu_dir}/cpu{cpu}/topology/thread_siblings_list")) for cpu in cpus},
    }


def provenance() -> dict:
    """The result JSON's `provenance` object."""
    return {"bwbench_version": version(), "git": git_commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "hugepage_advice_refused": _kernels.hugepage_refusals(), "kernel_choices": choices.summary(), **host()}
