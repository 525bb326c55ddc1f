"""A measured link, as arithmetic: message sizes, nccl-tests' bus-bandwidth
factors, and the all-reduce curve of a saved interconnect result read back.

Nothing here imports MPI or measures: bwbench.interconnect measures, the
roofline, tensor-parallel prediction and trends figure read what it saved."""
import bisect
import math

from bwbench.errors import UsageError
from bwbench.results import read_result
from bwbench.units import parse_size

POINT_TO_POINT = ("pingpong", "bw", "bibw")
COLLECTIVES = ("allreduce", "allgather", "reduce_scatter")
TESTS = POINT_TO_POINT + COLLECTIVES
MIN_MESSAGE = 8  # every message carries an 8-byte sequence stamp (bwbench.interconnect)


def bus_factor(test: str, ranks: int) -> float:
    """busbw = algbw x this: the share of S each rank's link carries in a ring
    (nccl-tests' PERFORMANCE.md): 2(n-1)/n for all-reduce (reduce-scatter then
    all-gather), (n-1)/n for all-gather and reduce-scatter."""
    if test == "allreduce":
        return 2 * (ranks - 1) / ranks
    if test in ("allgather", "reduce_scatter"):
        return (ranks - 1) / ranks
    raise ValueError(f"{test} is not a collective")


def parse_sizes(text: str) -> list:
    """'8B..256MiB' -> every power of two from 8 to 256 MiB; '8B,1MiB' -> those.
    Sizes are powers of two of at least 8 bytes."""
    if ".." in text:
        low, _, high = text.partition("..")
        low, high = parse_size(low), parse_size(high)
        _check_sizes(text, [low, high])
        if low > high:
            raise UsageError(f"invalid sizes {text!r}: the range runs from small to large")
        return [1 << bit for bit in range(low.bit_length() - 1, high.bit_length())]
    sizes = sorted({parse_size(part) for part in text.split(",")})
    _check_sizes(text, sizes)
    return sizes


def _check_sizes(text: str, sizes) -> None:
    for size in sizes:
        if size < MIN_MESSAGE or size & (size - 1):
            raise UsageError(f"invalid sizes {text!r}: each must be a power of two of at least "
                             f"{MIN_MESSAGE} B (e.g. 8B..256MiB or 8B,64KiB,1MiB)")


def parse_tests(text: str) -> list:
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in TESTS]
    if unknown or not names:
        raise UsageError(f"unknown test {unknown[0]!r}: choose from {', '.join(TESTS)}")
    return [name for name in TESTS if name in names]


def load_interconnect(path: str) -> dict:
    """The `interconnect` section of a saved result, checked; UsageError if absent or malformed."""
    section = read_result(path).get("interconnect")
    try:
        rows = section["tests"]
        for row in rows:
            str(row["test"]), int(row["bytes"]), float(row["latency_us"]), float(row["algbw_gbps"])
        int(section["ranks"])
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"{path} holds no interconnect result (write one with "
                         "`mpiexec -n 2 python -m bwbench interconnect --json PATH`)") from None
    return section


def rows_of(section: dict, test: str) -> list:
    """The rows of one test, by size."""
    return sorted((row for row in section["tests"] if row["test"] == test), key=lambda row: row["bytes"])


def peak_busbw(section: dict, test: str = "allreduce") -> float:
    """The highest bus bandwidth (GB/s) a collective reached: the link's roof."""
    rows = rows_of(section, test)
    if not rows:
        raise UsageError(f"the interconnect result has no {test} rows (run it with --tests {test})")
    return max(row["busbw_gbps"] for row in rows)


def curve_seconds(rows, nbytes: float) -> float:
    """Time of one operation of nbytes read off a measured curve (rows of one
    test): log-log interpolation between the two neighbouring sizes; below the
    smallest, the smallest's time (the latency floor); above the largest, the
    largest's bandwidth."""
    sizes = [row["bytes"] for row in rows]
    seconds = [row["latency_us"] * 1e-6 for row in rows]
    if nbytes <= sizes[0]:
        return seconds[0]
    if nbytes >= sizes[-1]:
        return seconds[-1] * nbytes / sizes[-1]
    i = bisect.bisect_left(sizes, nbytes)
    if sizes[i] == nbytes:
        return seconds[i]
    w = math.log(nbytes / sizes[i - 1]) / math.log(sizes[i] / sizes[i - 1])
    return math.exp((1 - w) * math.log(seconds[i - 1]) + w * math.log(seconds[i]))
