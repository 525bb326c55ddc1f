"""Dependent-load latency: the third face of the memory wall, after bandwidth and FLOPs."""
from bwbench import _kernels
from bwbench.errors import UsageError, ValidationError
from bwbench.machine import check_memory, memory_level
from bwbench.measure import MIN_SAMPLE_S, MIN_SAMPLES, Measurement, build, check_ntimes

LINE = 64
CHASE_STEPS = 1024  # dependent loads per repetition


def measure_latency(size: int, ntimes: int = MIN_SAMPLES) -> Measurement:
    """Nanoseconds per load of one thread chasing a random cycle through `size`
    bytes of cache lines (Measurement.latency_ns)."""
    check_ntimes(ntimes)
    if size < 2 * LINE:
        raise UsageError(f"working set of {size} bytes is smaller than two cache lines")
    check_memory(size + size // 8, "working set and its shuffle")  # the shuffle: one index per line
    timing = _kernels.chase_measure(size, CHASE_STEPS, ntimes, MIN_SAMPLE_S)
    if timing[3]:
        raise ValidationError(f"pointer chase over {size} bytes did not end where as many loads lead")
    working_set = size // LINE * LINE
    return build("latency", "chase", "scalar", "int64", 1, timing, working_set=working_set,
                 accesses_per_rep=CHASE_STEPS, level=memory_level(working_set, 1))
