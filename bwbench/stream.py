"""STREAM kernels: what each moves and computes, and measure_stream(), the one
entry point that the CLI, asv and tests share."""
from dataclasses import dataclass

from bwbench import _kernels, choices
from bwbench.errors import UsageError, ValidationError
from bwbench.machine import check_memory, check_threads, last_level_cache_bytes, memory_level
from bwbench.measure import MIN_SAMPLE_S, MIN_SAMPLES, Measurement, build, check_ntimes

ELEMENT = 8  # float64
VARIANTS = ("regular", "nt")


@dataclass(frozen=True)
class StreamKernel:
    name: str
    arrays: int          # arrays in the working set; all but load store into one
    reads: int           # arrays read per element
    flops: int           # per element
    formula: str

    @property
    def stores(self) -> bool:
        return self.arrays > self.reads

    def bytes_per_element(self) -> int:
        """STREAM convention: each array read or written once."""
        return ELEMENT * self.arrays

    def hw_bytes_per_element(self, variant: str) -> int:
        """Memory traffic: a regular store first reads its line (write-allocate)."""
        write_allocate = self.stores and variant == "regular"
        return ELEMENT * (self.arrays + write_allocate)

    def variants(self) -> tuple:
        return VARIANTS if self.stores else VARIANTS[:1]


STREAM_KERNELS = {k.name: k for k in (
    StreamKernel("copy", 2, 1, 0, "a = b"),
    StreamKernel("scale", 2, 1, 1, "a = s*b"),
    StreamKernel("add", 3, 2, 1, "a = b + c"),
    StreamKernel("triad", 3, 2, 2, "a = b + s*c"),
    StreamKernel("load", 1, 1, 1, "sum += b"),
    StreamKernel("read", 1, 1, 1, "sum += b, in the host's tuned runs"),
)}


DRAM_ARRAYS = 3  # the most arrays a STREAM kernel uses (add, triad)


def default_stream_size() -> int:
    """A working set whose every array is at least four times the whole
    last-level cache (STREAM's rule is per array) for the kernels with the
    most arrays, so every kernel runs from DRAM; and at least 1 GiB."""
    return max(DRAM_ARRAYS * 4 * last_level_cache_bytes(), 2**30)


def stream_kernel(name: str) -> StreamKernel:
    if name not in STREAM_KERNELS:
        raise UsageError(f"unknown kernel {name!r}: choose from {', '.join(STREAM_KERNELS)}")
    return STREAM_KERNELS[name]


def measure_stream(kernel: str, variant: str = "regular", threads: int = None,
                   size: int = None, ntimes: int = MIN_SAMPLES, isa: str = None) -> Measurement:
    """Times one STREAM kernel in C over a working set of `size` bytes (all its
    arrays together; default default_stream_size()) and validates its result.

    Raises UsageError for bad arguments or a working set larger than the
    available memory, ValidationError if the kernel computed a wrong result."""
    spec = stream_kernel(kernel)
    if variant not in spec.variants():
        raise UsageError(f"invalid variant {variant!r} for {kernel}: choose from {', '.join(spec.variants())}")
    threads = check_threads(threads)
    isa = choices.check_isa(isa) if isa else choices.isa()
    check_ntimes(ntimes)
    size = default_stream_size() if size is None else size
    n = size // spec.bytes_per_element()
    if n < 1:
        raise UsageError(f"working set of {size} bytes is smaller than one element per array")
    check_memory(size)

    timing = _kernels.stream_measure(kernel, variant == "nt", isa, n, threads, ntimes, MIN_SAMPLE_S)
    if timing[3]:
        raise ValidationError(f"{kernel} ({variant}, {isa}) computed {timing[3]} wrong elements of {n}")
    return build(kernel, variant, isa, "float64", threads, timing, working_set=n * spec.bytes_per_element(),
                 bytes_per_rep=n * spec.bytes_per_element(), hw_bytes_per_rep=n * spec.hw_bytes_per_element(variant),
                 flops_per_rep=n * spec.flops, level=memory_level(n * spec.bytes_per_element(), threads, arrays=spec.arrays))
