"""Dependent-load latency: the third face of the memory wall, after bandwidth and FLOPs."""
from bwbench import _kernels
from bwbench.errors import UsageError, ValidationError
from bwbench.machine import check_memory, memory_level
from bwbench.measure import MIN_SAMPLE_S, MIN_SAMPLES, Measurement, check_ntimes

LINE = 64
CHASE_STEPS = 1024  # dependent loads per repetition


def measure_latency(size: int, ntimes: int = MIN_SAMPLES) -> Measurement:
    """Nanoseconds per load of one thread chasing a random cycle through `size`
    bytes of cache lines (Measurement.latency_ns)."""
    check_ntimes(ntimes)
    if size < 2 * LINE:
        raise UsageError(f"working set of {size} bytes is smaller than two cache lines")
    check_memory(size + size // 8, "working set and its shuffle")  # the shuffle: one index per line
    samples, cpus, reps, bad = _kernels.chase_measure(size, CHASE_STEPS, ntimes, MIN_SAMPLE_S)
    if bad:
        raise ValidationError(f"pointer chase over {size} bytes: the cycle is broken")
    working_set = size // LINE * LINE
    return Measurement(kernel="latency", variant="chase", isa="scalar", dtype="int64", threads=1,
                       working_set_bytes=working_set, bytes=0, hw_bytes=0, flops=0,
                       reps_per_sample=reps, samples_s=tuple(samples.tolist()), cpus=tuple(cpus),
                       level=memory_level(working_set, 1), accesses=reps * CHASE_STEPS)
