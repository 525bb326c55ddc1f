"""Timing a reference library (numpy's BLAS) as fairly as bwbench's own kernels:
the same calibration (repetitions doubled until a sample lasts MIN_SAMPLE_S),
the same number of samples, statistics and warm-up rule, on the same CPUs
(machine.cpus_for), with the library's thread pool limited to the same count.
The result is its own Measurement (variant 'reference'), never a field of
bwbench's: the two are separate records, as pyperf keeps one per benchmark."""
import contextlib
import os
import threading
import time

from threadpoolctl import threadpool_info, threadpool_limits

from bwbench.errors import AffinityError
from bwbench.machine import cpus_for
from bwbench.measure import MIN_SAMPLE_S

MAX_REPS = 1 << 30  # calls per sample at the most: a clock that does not move ends calibration
# A BLAS pool of several threads spins for a while after each call before it
# sleeps (OpenBLAS: 2^28 cycles, 0.1 s at 2.7 GHz; MKL's KMP_BLOCKTIME 0.2 s).
# Whatever is timed meanwhile shares its CPUs with the spinning threads.
BLAS_SPIN_S = 0.25


@contextlib.contextmanager
def pinned(cpus):
    """Every thread of this process (the library's pool included) confined to
    `cpus` while inside; each thread's own affinity given back afterwards.
    AffinityError if the calling thread cannot be confined."""
    tasks = [int(tid) for tid in os.listdir("/proc/self/task")]
    before = {}
    try:
        for tid in tasks:
            try:
                mask = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, cpus)
                before[tid] = mask
            except OSError as error:   # another thread may have ended since listing; this one must not fail
                if tid == threading.get_native_id():
                    raise AffinityError(f"cannot pin to CPUs {cpus}: {error.strerror}") from None
        yield
    finally:
        for tid, mask in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, mask)


def _sample(call, reps: int) -> float:
    start = time.perf_counter()   # monotonic, the finest clock Python has
    for _ in range(reps):
        call()
    return time.perf_counter() - start


def time_call(call, threads: int, ntimes: int) -> tuple:
    """(samples_s, cpus, reps per sample) of call() as bw_time measures a kernel."""
    cpus = cpus_for(threads)
    with threadpool_limits(limits=threads, user_api="blas"), pinned(cpus):
        reps = 1
        while _sample(call, reps) < MIN_SAMPLE_S and reps < MAX_REPS:
            reps *= 2
        samples = [_sample(call, reps) for _ in range(ntimes)]
    if threads > 1:
        time.sleep(BLAS_SPIN_S)   # the pool asleep before anything else is timed
    return samples, cpus, reps


@contextlib.contextmanager
def checking():
    """numpy's BLAS on one thread while bwbench checks a result against it:
    a pool of several would keep spinning into the measurement that follows
    (seen on a 2-CPU host: 2-thread GEMM samples of 3 and 7 ms alternating,
    the median 2.5x the best; the numpy check of the first layer before a
    BERT pass slowed the pass itself)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def blas_name() -> str:
    """The BLAS numpy calls, with its version: what a reference record names as its 'isa'."""
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if not pools:
        return "numpy-blas"
    return " ".join(filter(None, (pools[0].get("internal_api"), pools[0].get("version"))))
