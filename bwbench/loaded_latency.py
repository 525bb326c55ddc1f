"""Latency under load (Intel MLC's --loaded_latency, multichase's load
threads): thread 0 chases pointers through a DRAM-sized cycle (latency.c's
chase) while the other threads stream reads (or reads and writes, a mix N:M)
with an injected delay after each group of lines, stepped from none to idle.
Each point is (delay, the load threads' bandwidth, the chase's latency)."""
import statistics

from bwbench import _kernels, latency
from bwbench.clock import ghz, measure_clock
from bwbench.errors import UsageError, ValidationError
from bwbench.machine import check_memory, check_threads, last_level_cache_bytes
from bwbench.mixes import Mix

# Cycles of delay after each group of 8 lines a stream, from none to nearly idle; then idle (None).
DELAYS = (0, 25, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, None)
CHASE_STEPS = latency.CHASE_STEPS   # dependent loads a sample, as the idle chase takes them
SAMPLES = 64           # a point's samples (about 10 to 30 ms of chasing from DRAM); the first is dropped
LINE = 64


def dram_bytes() -> int:
    """A DRAM-sized set: four times the whole last-level cache, at least 256 MiB."""
    return max(4 * (last_level_cache_bytes() or 2**25), 2**28) // LINE * LINE


def check(threads, mix) -> int:
    """The thread count (two at least: one chases, the rest load) and the mix, refused before anything runs."""
    threads = check_threads(threads)
    if threads < 2:
        raise UsageError("latency --loaded needs at least 2 threads: one chases, the others load")
    if mix == "triad" or not isinstance(mix, Mix) or mix.inplace or mix.reads + mix.writes < 1:
        raise UsageError("latency --loaded --mix takes N:M (arrays read:written by each load thread)")
    return threads


def measure_loaded(threads: int = None, mix: Mix = Mix(1, 0), chase_bytes: int = None, array_bytes: int = None,
                   delays=None, steps: int = CHASE_STEPS, samples: int = SAMPLES) -> list:
    """[{delay_cycles, delay_ns, gbps, latency_ns, load_threads, mix}] from no delay to idle (delay None;
    default DELAYS). Needs two threads at least: one chases, the rest load."""
    threads = check(threads, mix)
    delays = DELAYS if delays is None else delays
    if samples < 2 or steps < 1:
        raise UsageError("latency --loaded needs at least 2 samples of at least 1 load")
    chase_bytes = chase_bytes or dram_bytes()
    array_bytes = array_bytes or dram_bytes()
    if chase_bytes < 2 * LINE or array_bytes < LINE:
        raise UsageError("the chase needs two cache lines and each load array one")
    check_memory(chase_bytes + chase_bytes // 8 + (mix.reads + mix.writes) * array_bytes, "loaded-latency arrays")
    clock = ghz(measure_clock(threads))
    cycles = [-1 if delay is None else delay for delay in delays]
    seconds, rates, bad = _kernels.loaded_latency(chase_bytes, array_bytes, mix.reads, mix.writes, threads,
                                                  cycles, steps, samples)
    if bad:
        raise ValidationError("loaded latency: the chase did not end where as many loads lead")
    return [{"delay_cycles": delay, "delay_ns": None if delay is None else delay / clock, "gbps": float(gbps),
             "latency_ns": float(statistics.median(row[1:]) / steps * 1e9), "load_threads": threads - 1,
             "mix": mix.name} for delay, row, gbps in zip(delays, seconds, rates)]
