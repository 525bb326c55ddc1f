"""The core clock under load and the theoretical FLOP peak it gives.

measure_clock() times a chain of dependent integer adds (one cycle each,
src_c/clock.c) on every thread at once: adds / seconds is the clock each
core runs at while all of them work. theoretical() turns it, the FMA ceiling
and the SIMD width into the peak the silicon could reach:
physical cores x GHz x FMA pipes x lanes x 2."""
from bwbench import _kernels, topology
from bwbench.errors import ValidationError
from bwbench.machine import check_threads, cpus_for
from bwbench.measure import MIN_SAMPLES, Measurement, build, check_ntimes

CLOCK_SAMPLE_S = 0.05   # each sample about 50 ms of adds: long beside the clock's tick and a turbo ramp
LANES64 = {"generic": 1, "sse2": 2, "avx2": 4, "avx512": 8}


def measure_clock(threads: int = None, ntimes: int = MIN_SAMPLES) -> Measurement:
    """The add chain on `threads` threads (all of the placement by default);
    Measurement.accesses counts one thread's adds, so ghz(m) is the slowest
    thread's clock."""
    threads = check_threads(threads)
    check_ntimes(ntimes)
    timing = _kernels.clock_measure(threads, ntimes, CLOCK_SAMPLE_S)
    if timing[3]:
        raise ValidationError(f"clock: {timing[3]} thread(s) did not end their add chain at its sum")
    return build("clock", "add-chain", "scalar", "int64", threads, timing[:4], accesses_per_rep=timing[4],
                 level="registers")


def ghz(m: Measurement, sample: str = "best") -> float:
    """Dependent adds per nanosecond: the clock in GHz (best: the fastest sample)."""
    return m.accesses / (m.best_s if sample == "best" else m.median_s) / 1e9


def cpuinfo_mhz(cpus, path: str = "/proc/cpuinfo"):
    """The mean `cpu MHz` the kernel reports for the given CPUs, or None where it does not."""
    found, cpu = [], None
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "processor":
                    cpu = int(value)
                elif key.strip() == "cpu MHz" and cpu in cpus:
                    found.append(float(value))
    except (OSError, ValueError):
        return None
    return sum(found) / len(found) if found else None


def physical_cores(cpus) -> int:
    """Distinct physical cores among `cpus` (SMT siblings share one core's pipes)."""
    return len({c.core for c in topology.read_topology(cpus)})


def lanes(isa: str, dtype: str) -> int:
    return LANES64.get(isa, 1) * (2 if dtype == "float32" and isa != "generic" else 1)


def theoretical(clock: Measurement, compute_ceilings, cpus_path=None) -> dict:
    """The theoretical peak from the measured clock: FMA pipes a core =
    the measured FMA ceiling / (cores x GHz x lanes x 2), rounded to a whole
    pipe (at least 1); peak = cores x GHz x pipes x lanes x 2 per dtype, and
    each compute ceiling as a fraction of its dtype's peak."""
    cpus = cpus_path if cpus_path is not None else cpus_for(clock.threads)
    cores, clock_ghz = physical_cores(cpus), ghz(clock)
    fma = [c for c in compute_ceilings if c["name"].startswith("fma-")]
    result = {"ghz": clock_ghz, "ghz_median": ghz(clock, "median"), "threads": clock.threads, "cores": cores,
              "cpuinfo_mhz": cpuinfo_mhz(cpus), "fma_pipes": None, "gflops": {}, "fractions": []}
    if not fma:
        return result
    per_pipe = [c["gflops"] / (cores * clock_ghz * lanes(c["name"][4:], c["dtype"]) * 2) for c in fma]
    pipes = max(1, round(max(per_pipe)))
    result["fma_pipes"] = pipes
    result["fma_pipes_measured"] = max(per_pipe)
    isa = fma[0]["name"][4:]
    result["isa"] = isa
    for dtype in dict.fromkeys(c["dtype"] for c in compute_ceilings):
        result["gflops"][dtype] = cores * clock_ghz * pipes * lanes(isa, dtype) * 2
    result["fractions"] = [{"name": c["name"], "dtype": c["dtype"], "gflops": c["gflops"],
                            "fraction": c["gflops"] / result["gflops"][c["dtype"]]} for c in compute_ceilings]
    return result


def host_peak(threads: int = None) -> tuple:
    """(measurements, theoretical()): the clock and the FMA peaks, both dtypes, at `threads` threads."""
    from bwbench.flops import DTYPES, ceiling_name, measure_peak

    clock = measure_clock(threads)
    peaks = [measure_peak(dtype, "fma", clock.threads) for dtype in DTYPES]
    ceilings = [{"name": ceiling_name(m.variant, m.isa), "dtype": m.dtype, "gflops": m.gflops} for m in peaks]
    return [clock] + peaks, theoretical(clock, ceilings)
