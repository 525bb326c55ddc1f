"""Measurement: one kernel's timed samples and what they moved and computed."""
import statistics
from dataclasses import asdict, dataclass, fields

from bwbench.errors import UsageError

WARMUP_SAMPLES = 1  # the first sample warms caches and TLBs; statistics skip it
MIN_SAMPLES = 10
MIN_SAMPLE_S = 1e-3  # each sample repeats the kernel until it lasts this long


def check_ntimes(ntimes: int) -> None:
    if ntimes < MIN_SAMPLES:
        raise UsageError(f"invalid ntimes {ntimes}: at least {MIN_SAMPLES} samples are taken")


@dataclass(frozen=True)
class Measurement:
    """Raw samples plus per-sample counts; statistics are computed, never stored twice.

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
    blas_gflops: float = 0.0  # GEMM/GEMV: numpy's BLAS at the same shape and threads

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
    def ai(self) -> float:
        """Arithmetic intensity, FLOPs per STREAM-counted byte (0 without bytes)."""
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def latency_ns(self) -> float:
        """Nanoseconds per dependent load (0 for kernels that are not chases)."""
        return self.best_s / self.accesses * 1e9 if self.accesses else 0.0

    def to_dict(self) -> dict:
        stats = ("best_s", "median_s", "cv", "gbps", "median_gbps", "hw_gbps", "gflops", "ai", "latency_ns")
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
