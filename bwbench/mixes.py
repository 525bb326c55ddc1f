"""Read/write mixes (Intel MLC's --peak_injection_bandwidth): bandwidth with N
arrays read and M written per element, at every cache level and DRAM, with
regular and non-temporal stores, and triad beside them. measure_mix() is the
one entry point the CLI, the roofline and the tests share."""
import math
from dataclasses import dataclass

from bwbench import _kernels, choices
from bwbench.errors import UsageError, ValidationError
from bwbench.machine import cache_capacity, caches, check_memory, check_threads, cpus_for, last_level_cache_bytes, \
    memory_level
from bwbench.measure import MIN_SAMPLE_S, MIN_SAMPLES, Measurement, build, check_ntimes
from bwbench.roofline import level_windows
from bwbench.stream import measure_stream

ELEMENT = 8
MAX_ARRAYS = 8   # src_c/bwbench.h BW_MIX_MAX
DEFAULT_MIXES = ("1:0", "3:1", "2:1", "1:1", "triad")   # MLC's all reads, 3:1, 2:1, 1:1, stream-triad-like


@dataclass(frozen=True)
class Mix:
    reads: int
    writes: int
    inplace: bool = False   # the written array is the first one read (a[i] = a[i]: read-modify-write)

    @property
    def name(self) -> str:
        return "update" if self.inplace else f"{self.reads}:{self.writes}"

    @property
    def arrays(self) -> int:
        return self.reads + self.writes - self.inplace


STORE_ONLY, UPDATE = Mix(0, 1), Mix(1, 1, inplace=True)


def parse_mix(text: str):
    """'N:M' (N arrays read, M written per element) as a Mix, or 'triad'; UsageError otherwise."""
    if text == "triad":
        return text
    reads, colon, writes = text.partition(":")
    if not (colon and reads.isdigit() and writes.isdigit()):
        raise UsageError(f"invalid mix {text!r}: expected N:M (arrays read:written per element, e.g. 3:1) or triad")
    mix = Mix(int(reads), int(writes))
    if not 1 <= mix.arrays <= MAX_ARRAYS:
        raise UsageError(f"invalid mix {text!r}: from 1 to {MAX_ARRAYS} arrays in all")
    return mix


def parse_mixes(text: str) -> list:
    """A comma list of mixes, e.g. '1:0,3:1,triad'."""
    return [parse_mix(part.strip()) for part in text.split(",")]


def level_sizes(threads: int, arrays: int) -> dict:
    """A total working set of `arrays` arrays well inside each cache level the
    threads reach (the geometric middle of its window), and DRAM: every array
    four times the last-level cache (STREAM's rule), at least 1 GiB in all."""
    cpus = cpus_for(threads)
    capacities = {name.rstrip("d"): cache_capacity(name, cpus) for name in sorted(caches(), key=lambda n: int(n[1]))}
    sizes = {level: math.sqrt(low * high) if low else high / 2
             for level, (low, high) in level_windows(capacities).items() if level != "DRAM"}
    sizes["DRAM"] = max(arrays * 4 * (last_level_cache_bytes() or 2**25), 2**30)
    line = arrays * 64
    return {level: max(line, round(size / line) * line) for level, size in sizes.items()}


def measure_mix(mix, variant: str = "regular", threads: int = None, size: int = None,
                ntimes: int = MIN_SAMPLES) -> Measurement:
    """One mix over a total working set of `size` bytes (all its arrays). Bytes
    are counted as STREAM does (each array once); hw_bytes adds a
    write-allocate read of each regular store (bwbench.write_allocate says whether the host does it)."""
    if mix == "triad":
        return measure_stream("triad", variant, threads, size, ntimes)
    if variant not in ("regular", "nt") or (variant == "nt" and not mix.writes):
        raise UsageError(f"invalid variant {variant!r} for mix {mix.name}: " +
                         ("regular or nt" if mix.writes else "it stores nothing, so regular only"))
    threads = check_threads(threads)
    check_ntimes(ntimes)
    isa = choices.isa()
    n = (size or level_sizes(threads, mix.arrays)["DRAM"]) // (ELEMENT * mix.arrays)
    if n < 1:
        raise UsageError(f"working set of {size} bytes is smaller than one element per array")
    check_memory(n * ELEMENT * mix.arrays)
    timing = _kernels.mix_measure(mix.reads, mix.writes, mix.inplace, variant == "nt", isa, n, threads, ntimes,
                                  MIN_SAMPLE_S)
    if timing[3]:
        raise ValidationError(f"mix {mix.name} ({variant}, {isa}): {timing[3]} wrong results over {n} elements")
    moved = n * ELEMENT * (mix.reads + mix.writes)
    allocate = n * ELEMENT * mix.writes * (variant == "regular" and not mix.inplace)
    return build(f"mix {mix.name}", variant, isa, "float64", threads, timing, working_set=n * ELEMENT * mix.arrays,
                 bytes_per_rep=moved, hw_bytes_per_rep=moved + allocate,
                 flops_per_rep=n * max(mix.reads - 1, 0),
                 level=memory_level(n * ELEMENT * mix.arrays, threads, arrays=mix.arrays))


def mix_name(m: Measurement) -> str:
    return m.kernel[4:] if m.kernel.startswith("mix ") else m.kernel


def roof_level(m: Measurement) -> str:
    """The roofline's name of where a measurement's working set lives: L1d -> L1; partly cached stays as is."""
    return m.level[:-1] if m.level.endswith("d") else m.level


def plan(mixes, threads: int, levels=None, dram_size: int = None) -> list:
    """(description, thunk) for every mix at every level (or the levels named) and each of its variants."""
    steps = []
    for mix in mixes:
        arrays = 3 if mix == "triad" else mix.arrays
        sizes = level_sizes(threads, arrays)
        if dram_size:
            sizes["DRAM"] = dram_size
        variants = ("regular", "nt") if mix == "triad" or mix.writes else ("regular",)
        name = mix if mix == "triad" else mix.name
        steps += [(f"mix {name} {variant} {level}", lambda mix=mix, variant=variant, size=size:
                   measure_mix(mix, variant, threads, size))
                  for level, size in sizes.items() if not levels or level in levels for variant in variants]
    return steps


def section(measurements) -> list:
    """The JSON rows of the mix table: [{mix, variant, level, threads, gbps, hw_gbps}]."""
    return [{"mix": mix_name(m), "variant": m.variant, "level": roof_level(m), "threads": m.threads,
             "gbps": m.gbps, "hw_gbps": m.hw_gbps} for m in measurements]
