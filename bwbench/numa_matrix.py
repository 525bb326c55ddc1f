"""MLC's bandwidth matrix: read bandwidth of the threads of NUMA node i from
memory first touched on node j, for every pair of nodes. Only where the host
has more than one node: a one-node host has no matrix, and none is made up."""
from bwbench import _kernels, choices, topology
from bwbench.errors import UsageError, ValidationError
from bwbench.machine import check_memory, placement_cpus
from bwbench.measure import MIN_SAMPLE_S, MIN_SAMPLES, build, check_ntimes

KERNEL = "load"   # read-only, as MLC's matrix
ELEMENT = 8


def nodes(sys: str = topology.SYS) -> dict:
    """{node: its CPUs among the placement's, in scatter order}; UsageError on one node."""
    found = topology.nodes_of(placement_cpus(), sys)
    if len(found) < 2:
        only = next(iter(found), 0)
        raise UsageError(f"stream --matrix needs more than one NUMA node; this host's CPUs are all on node {only}")
    return found


def measure_matrix(size: int, threads: int = None, ntimes: int = MIN_SAMPLES, sys: str = topology.SYS) -> dict:
    """{'nodes', 'kernel', 'threads_per_node', 'gbps': [[node i's threads reading node j's memory]],
    'measurements'}: `threads` per node (default: every CPU of the node), `size` bytes read."""
    by_node = nodes(sys)
    check_ntimes(ntimes)
    per_node = min(len(cpus) for cpus in by_node.values())
    threads = per_node if threads is None else threads
    if not 1 <= threads <= per_node:
        raise UsageError(f"invalid thread count {threads} for --matrix: 1 to {per_node} threads a node")
    n = size // ELEMENT
    if n < 1:
        raise UsageError(f"working set of {size} bytes is smaller than one element")
    check_memory(size)
    isa = choices.isa()
    rows, measurements = [], []
    try:
        for i, run_on in by_node.items():
            row = []
            for j, memory_on in by_node.items():
                _kernels.set_cpus(run_on[:threads])
                timing = _kernels.stream_measure(KERNEL, False, isa, n, threads, ntimes, MIN_SAMPLE_S,
                                                 fill_cpus=memory_on[:threads])
                if timing[3]:
                    raise ValidationError(f"{KERNEL} on node {i} from node {j}'s memory summed wrong")
                m = build(KERNEL, f"node{i}-from-node{j}", isa, "float64", threads, timing,
                          working_set=n * ELEMENT, bytes_per_rep=n * ELEMENT, hw_bytes_per_rep=n * ELEMENT,
                          flops_per_rep=n, level="DRAM")
                measurements.append(m)
                row.append(round(m.gbps, 3))
            rows.append(row)
    finally:
        _kernels.set_cpus(placement_cpus())   # the plan back to the placement's
    return {"nodes": list(by_node), "kernel": KERNEL, "threads_per_node": threads, "gbps": rows,
            "measurements": measurements}
