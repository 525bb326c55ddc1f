"""Measurement: one kernel's timed samples and what they moved and computed."""
import statistics
import time
from dataclasses import asdict, dataclass, fields

from bwbench.errors import UsageError, ValidationError

WARMUP_SAMPLES = 1  # the first sample warms caches and TLBs; statistics skip it
MIN_SAMPLES = 10
MIN_SAMPLE_S = 1e-3  # each sample repeats the kernel until it lasts this long
PASSES = 5  # a whole inference pass (a tenth of a second or more) is one sample: the median of this many


def median_pass(run, prepare=lambda: None) -> tuple:
    """Times run(prepare()) PASSES times, prepare() outside the clock; returns
    (seconds, run's result) of the pass of median time."""
    passes = []
    for _ in range(PASSES):
        inputs = prepare()
        start = time.perf_counter()
        result = run(inputs)
        passes.append((time.perf_counter() - start, result))
    passes.sort(key=lambda timed: timed[0])
    return passes[len(passes) // 2]


def check_ntimes(ntimes: int) -> None:
    if ntimes < MIN_SAMPLES:
        raise UsageError(f"invalid ntimes {ntimes}: at least {MIN_SAMPLES} samples are taken")


@dataclass(frozen=True)
class Measurement:
    """Raw samples plus per-sample counts; statistics are computed, never stored twice.
    Made by build(), which refuses samples that cannot give a rate.

    A reference (e.g. numpy's BLAS beside bwbench's GEMM) is a Measurement of
    its own with variant 'reference' and isa naming the library that ran.

    bytes follows the STREAM convention (each array element read or written
    once); hw_bytes adds the write-allocate read of every line stored without
    non-temporal stores. Both are per sample (all repetitions)."""

    kernel: str
    variant: str
    isa: str
    dtype: str
    threads: int
    working_set_bytes: int
    bytes: int
    hw_bytes: int
    flops: int
    reps_per_sample: int
    samples_s: tuple
    cpus: tuple = ()
    level: str = ""      # where the working set fits: L1d, L2, L3 or DRAM
    accesses: int = 0    # dependent loads per sample (latency kernels)
    shape: tuple = ()    # GEMM/GEMV: [M, N, K]

    @property
    def kept_s(self) -> tuple:
        return self.samples_s[WARMUP_SAMPLES:]

    @property
    def best_s(self) -> float:
        return min(self.kept_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.kept_s)

    @property
    def cv(self) -> float:
        """Coefficient of variation of the kept samples."""
        return statistics.stdev(self.kept_s) / statistics.mean(self.kept_s)

    @property
    def gbps(self) -> float:
        return self.bytes / self.best_s / 1e9

    @property
    def median_gbps(self) -> float:
        return self.bytes / self.median_s / 1e9

    @property
    def hw_gbps(self) -> float:
        return self.hw_bytes / self.best_s / 1e9

    @property
    def gflops(self) -> float:
        return self.flops / self.best_s / 1e9

    @property
    def median_gflops(self) -> float:
        return self.flops / self.median_s / 1e9

    @property
    def ai(self) -> float:
        """Arithmetic intensity, FLOPs per STREAM-counted byte (0 without bytes)."""
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def latency_ns(self) -> float:
        """Nanoseconds per dependent load (0 for kernels that are not chases)."""
        return self.best_s / self.accesses * 1e9 if self.accesses else 0.0

    def to_dict(self) -> dict:
        stats = ("best_s", "median_s", "cv", "gbps", "median_gbps", "hw_gbps", "gflops", "median_gflops", "ai",
                 "latency_ns")
        record = asdict(self)
        record.update(samples_s=list(self.samples_s), cpus=list(self.cpus), shape=list(self.shape),
                      warmup_samples=WARMUP_SAMPLES, **{name: getattr(self, name) for name in stats})
        return record

    @classmethod
    def from_dict(cls, record: dict) -> "Measurement":
        """Rebuilds from to_dict()'s output; the statistics are recomputed."""
        stored = {f.name: record[f.name] for f in fields(cls) if f.name in record}
        stored["samples_s"] = tuple(stored["samples_s"])
        stored["cpus"] = tuple(stored.get("cpus", ()))
        stored["shape"] = tuple(stored.get("shape", ()))
        return cls(**stored)


def build(kernel: str, variant: str, isa: str, dtype: str, threads: int, timing, *, working_set: int = 0,
          bytes_per_rep: int = 0, hw_bytes_per_rep: int = None, flops_per_rep: int = 0, accesses_per_rep: int = 0,
          level: str = "", shape: tuple = ()) -> Measurement:
    """The one way to make a Measurement: from a timing (samples, cpus, reps per
    sample, ...) as the C wrappers return it and counts per repetition. Refuses
    (ValidationError) a timing with too few samples or a sample of 0 s or less:
    a rate from it would be infinite or negative, never a measured number."""
    samples, cpus, reps = timing[:3]
    samples = tuple(float(s) for s in samples)
    if len(samples) <= WARMUP_SAMPLES or not min(samples[WARMUP_SAMPLES:]) > 0:
        raise ValidationError(f"{kernel} ({variant}): samples {samples[:3]}... include one of 0 s or less: "
                              "the clock could not time it")
    hw_bytes_per_rep = bytes_per_rep if hw_bytes_per_rep is None else hw_bytes_per_rep
    return Measurement(kernel=kernel, variant=variant, isa=isa, dtype=dtype, threads=threads,
                       working_set_bytes=int(working_set), bytes=int(reps * bytes_per_rep),
                       hw_bytes=int(reps * hw_bytes_per_rep), flops=int(reps * flops_per_rep),
                       reps_per_sample=int(reps), samples_s=samples, cpus=tuple(int(c) for c in cpus),
                       level=level, accesses=int(reps * accesses_per_rep), shape=tuple(shape))
