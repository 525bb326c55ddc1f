"""Compute ceilings (peak FLOP/s) and the arithmetic-intensity ladder."""
from bwbench import _kernels, choices
from bwbench.errors import UsageError, ValidationError
from bwbench.machine import check_memory, check_threads, memory_level
from bwbench.measure import MIN_SAMPLE_S, MIN_SAMPLES, Measurement, build, check_ntimes

DTYPES = ("float64", "float32")
PEAK_KINDS = ("scalar", "simd", "fma")  # scalar mul+add, SIMD mul+add, SIMD FMA
LADDER_FLOPS = tuple(2**k for k in range(11))  # FLOPs per element: intensity 1/16 .. 64
LADDER_BYTES = 16  # per element: read and written back in place (no write-allocate read:
                   # the line was just loaded), so hardware traffic equals this count


def ceiling_name(kind: str, isa: str) -> str:
    """'scalar', 'avx512' (SIMD without FMA), 'fma-avx512'."""
    return {"scalar": "scalar", "simd": isa, "fma": f"fma-{isa}"}[kind]


def measure_peak(dtype: str = "float64", kind: str = "fma", threads: int = None,
                 ntimes: int = MIN_SAMPLES) -> Measurement:
    """Peak FLOP/s of independent multiply-adds in registers: `scalar` (no SIMD,
    no FMA), `simd` (the widest SIMD, separate multiply and add) or `fma`."""
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}: choose from {', '.join(DTYPES)}")
    if kind not in PEAK_KINDS:
        raise UsageError(f"unknown peak kind {kind!r}: choose from {', '.join(PEAK_KINDS)}")
    threads = check_threads(threads)
    check_ntimes(ntimes)
    isa = "generic" if kind == "scalar" else choices.isa()
    timing = _kernels.peak_measure(isa, kind == "fma", dtype == "float32", threads, ntimes, MIN_SAMPLE_S)
    if timing[3]:
        raise ValidationError(f"peak {kind} {dtype}: {timing[3]} lanes did not end where the steps "
                              "the timing counts lead")
    return build("peak", kind, isa, dtype, threads, timing, flops_per_rep=int(timing[4]), level="registers")


def measure_ladder(flops_per_element: int, size: int, threads: int = None,
                   ntimes: int = MIN_SAMPLES) -> Measurement:
    """One step of the intensity ladder: every float64 element of a `size`-byte
    array is read, gets flops_per_element FLOPs and is written back."""
    if flops_per_element not in LADDER_FLOPS:
        raise UsageError(f"invalid FLOPs per element {flops_per_element}: choose from {LADDER_FLOPS}")
    threads = check_threads(threads)
    check_ntimes(ntimes)
    n = size // 8
    if n < 1:
        raise UsageError(f"working set of {size} bytes is smaller than one element")
    check_memory(size)
    isa = choices.isa()
    timing = _kernels.ladder_measure(isa, flops_per_element, n, threads, ntimes, MIN_SAMPLE_S)
    if timing[3]:
        raise ValidationError(f"ladder at {flops_per_element} FLOPs/element: {timing[3]} wrong elements of {n}")
    return build("ladder", "regular", isa, "float64", threads, timing, working_set=n * 8,
                 bytes_per_rep=n * LADDER_BYTES, flops_per_rep=n * flops_per_element, level=memory_level(n * 8, threads))
