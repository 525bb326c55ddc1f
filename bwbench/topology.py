"""Where the CPUs sit: physical cores (SMT siblings) and NUMA nodes, read from
sysfs, and the order in which a team of threads takes them (`--places`).

The sysfs root is a parameter, so the tests build fake topologies (SMT pairs,
two nodes) in a folder. A CPU the host says nothing about is a core of its own
on node 0: nothing is guessed beyond what sysfs writes."""
import glob
import os
from dataclasses import dataclass

from bwbench.errors import UsageError

SYS = "/sys"
POLICIES = ("scatter", "compact")
DEFAULT = "scatter"


def read_text(path: str):
    """A sysfs file's text, stripped, or None where it cannot be read."""
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def parse_cpu_list(text: str) -> list:
    """'0-3,8' -> [0, 1, 2, 3, 8], in the order written; ValueError if malformed."""
    cpus = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(part)
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(part)
        cpus += range(first, last + 1)
    return cpus


def sysfs_cpu_list(text) -> list:
    """A sysfs cpulist, or [] where the file is missing, empty or odd."""
    try:
        return parse_cpu_list(text) if text else []
    except ValueError:
        return []


@dataclass(frozen=True)
class Cpu:
    cpu: int
    node: int
    core: tuple   # (package, core id), or the first SMT sibling where core_id is missing


def read_topology(cpus, sys: str = SYS) -> list:
    """A Cpu for each of `cpus`, in ascending order."""
    nodes = {}
    for folder in glob.glob(f"{sys}/devices/system/node/node[0-9]*"):
        node = int(os.path.basename(folder)[4:])
        for cpu in sysfs_cpu_list(read_text(f"{folder}/cpulist")):
            nodes[cpu] = node
    found = []
    for cpu in sorted(cpus):
        topology = f"{sys}/devices/system/cpu/cpu{cpu}/topology"
        package, core = read_text(f"{topology}/physical_package_id"), read_text(f"{topology}/core_id")
        if package is not None and core is not None and package.lstrip("-").isdigit() and core.isdigit():
            key = (int(package), int(core))
        else:
            siblings = sysfs_cpu_list(read_text(f"{topology}/thread_siblings_list"))
            key = (-1, min(siblings) if siblings else cpu)
        found.append(Cpu(cpu, nodes.get(cpu, 0), key))
    return found


def _cores(topology) -> dict:
    """{node: [[cpus of a core, ascending], ...]}, nodes and cores ordered by their first CPU."""
    by_core = {}
    for c in topology:
        by_core.setdefault((c.node, c.core), []).append(c.cpu)
    nodes = {}
    for (node, _), cpus in sorted(by_core.items(), key=lambda item: (item[0][0], min(item[1]))):
        nodes.setdefault(node, []).append(sorted(cpus))
    return nodes


def scatter(topology) -> list:
    """One CPU of every core before any core's second SMT sibling; consecutive
    threads alternate between NUMA nodes (node 0's first core, node 1's first
    core, node 0's second core, ...)."""
    nodes = list(_cores(topology).values())
    order = []
    for sibling in range(max((len(core) for cores in nodes for core in cores), default=0)):
        for rank in range(max((len(cores) for cores in nodes), default=0)):
            for cores in nodes:
                if rank < len(cores) and sibling < len(cores[rank]):
                    order.append(cores[rank][sibling])
    return order


def compact(topology) -> list:
    """Every SMT sibling of a core before the next core, and every core of a
    NUMA node before the next node."""
    return [cpu for cores in _cores(topology).values() for core in cores for cpu in core]


def order(places: str, allowed, sys: str = SYS) -> list:
    """The CPUs that threads 0, 1, ... take under `places`: scatter, compact, or
    a list of CPU ids ('0,2,4-7'), each in `allowed` (the affinity mask) and
    none twice. UsageError for anything else."""
    allowed = set(allowed)
    if places in POLICIES:
        topology = read_topology(allowed, sys)
        return scatter(topology) if places == "scatter" else compact(topology)
    try:
        cpus = parse_cpu_list(places)
    except ValueError:
        raise UsageError(f"invalid --places {places!r}: expected compact, scatter or a list of CPU ids "
                         "such as 0,2,4-7") from None
    outside = sorted(set(cpus) - allowed)
    if outside:
        raise UsageError(f"invalid --places {places!r}: CPU {outside[0]} is not in this process's affinity mask "
                         f"({format_cpu_list(sorted(allowed))})")
    if len(set(cpus)) != len(cpus):
        raise UsageError(f"invalid --places {places!r}: a CPU is named twice")
    return cpus


def format_cpu_list(cpus) -> str:
    """[0, 1, 2, 3, 8] -> '0-3,8'."""
    runs = []
    for cpu in cpus:
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)


def nodes_of(cpus, sys: str = SYS) -> dict:
    """{node: [its CPUs among `cpus`, in scatter order]}."""
    topology = read_topology(cpus, sys)
    nodes = {}
    for cpu in scatter(topology):
        nodes.setdefault(next(c.node for c in topology if c.cpu == cpu), []).append(cpu)
    return dict(sorted(nodes.items()))
