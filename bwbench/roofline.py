"""The roofline model: memory ceilings per level, compute ceilings, ridge points.

Built from measurements (bwbench.ceilings), saved under the result JSON's key
`roofline`, loaded back with Roofline.from_dict(). Pure arithmetic: nothing
here measures."""
import statistics
from dataclasses import dataclass, field

from bwbench.errors import UsageError

MEMORY_LEVELS = ("L1", "L2", "L3", "DRAM")


def level_windows(capacities: dict) -> dict:
    """Working-set ranges well inside each level: from twice the level below to
    half the level's own capacity; DRAM from four times the last cache.

    capacities: {'L1': bytes, 'L2': bytes, ...} as the measuring threads reach them."""
    windows, below = {}, 0
    for level in MEMORY_LEVELS[:-1]:
        if level in capacities:
            windows[level] = (2 * below, capacities[level] / 2)
            below = capacities[level]
    windows["DRAM"] = (4 * below, float("inf"))
    return windows


def level_values(points, capacities: dict):
    """The median value (GB/s, or ns for latency) of the points well inside
    each level, and the levels with no point inside: never invented.

    points: (working set bytes, value) pairs. Returns ({level: (median, count)}, [unresolved])."""
    resolved, unresolved = {}, []
    for level, (low, high) in level_windows(capacities).items():
        inside = [value for size, value in points if low <= size <= high]
        if inside:
            resolved[level] = (statistics.median(inside), len(inside))
        else:
            unresolved.append(level)
    return resolved, unresolved


@dataclass(frozen=True)
class Roofline:
    """memory_ceilings: [{'level', 'gbps', ...}], L1 first, the read-write roof
    (traffic of kernels that read and store); compute_ceilings: [{'name',
    'dtype', 'gflops', ...}]; both at `threads` threads. The read-only roof
    (the load kernel per level) comes from extra['sweep_ceilings']."""

    memory_ceilings: tuple
    compute_ceilings: tuple
    threads: int
    unresolved_levels: tuple = ()
    extra: dict = field(default_factory=dict)  # kept as is in the JSON (per-kernel ceilings, latency)

    @property
    def read_ceilings(self) -> tuple:
        """The read-only roof: the tuned read kernel's median GB/s per level, at `threads` threads
        (in a roofline saved before the read kernel existed, the load kernel's)."""
        mine = [c for c in self.extra.get("sweep_ceilings", ()) if c["threads"] == self.threads]
        kernel = "read" if any(c["kernel"] == "read" for c in mine) else "load"
        return tuple({"level": c["level"], "gbps": c["gbps"], "kernel": c["kernel"], "points": c["points"]}
                     for c in mine if c["kernel"] == kernel)

    def bandwidth(self, level: str = "DRAM", pattern: str = "readwrite") -> float:
        """GB/s of a level for an access pattern: "read" (read-only streams) or "readwrite"."""
        ceilings = self.read_ceilings if pattern == "read" else self.memory_ceilings
        for ceiling in ceilings:
            if ceiling["level"] == level:
                return ceiling["gbps"]
        kind = "read-only" if pattern == "read" else "read-write"
        raise UsageError(f"no {level} {kind} ceiling in this roofline (measured: "
                         f"{', '.join(c['level'] for c in ceilings) or 'none'})")

    def level_for(self, nbytes: float) -> str:
        """The first measured cache level that holds nbytes (capacities as the
        roofline's threads reach them, kept in its JSON), else DRAM."""
        capacities = self.extra.get("capacities", {})
        for ceiling in self.memory_ceilings:
            if nbytes <= capacities.get(ceiling["level"], 0):
                return ceiling["level"]
        return "DRAM"

    def peak(self, dtype: str = "float64") -> float:
        values = [c["gflops"] for c in self.compute_ceilings if c["dtype"] == dtype]
        if not values:
            raise UsageError(f"no {dtype} compute ceiling in this roofline")
        return max(values)

    def attainable(self, ai: float, level: str = "DRAM", dtype: str = "float64") -> float:
        """GFLOP/s the roofline allows at arithmetic intensity ai (FLOP/byte)."""
        return min(self.peak(dtype), ai * self.bandwidth(level))

    def ridge_point(self, level: str = "DRAM", dtype: str = "float64") -> float:
        """The intensity where the level's bandwidth meets the dtype's peak."""
        return self.peak(dtype) / self.bandwidth(level)

    def ridge_points(self, dtype: str = "float64") -> dict:
        return {c["level"]: self.ridge_point(c["level"], dtype) for c in self.memory_ceilings}

    def to_dict(self) -> dict:
        return {"threads": self.threads, "memory_ceilings": list(self.memory_ceilings),
                "read_ceilings": list(self.read_ceilings),
                "compute_ceilings": list(self.compute_ceilings),
                "unresolved_levels": list(self.unresolved_levels),
                "ridge_points": {dtype: self.ridge_points(dtype) for dtype in
                                 dict.fromkeys(c["dtype"] for c in self.compute_ceilings)},
                **self.extra}

    @classmethod
    def from_dict(cls, record: dict) -> "Roofline":
        known = ("threads", "memory_ceilings", "read_ceilings", "compute_ceilings", "unresolved_levels",
                 "ridge_points")
        try:
            memory = tuple({**c, "level": str(c["level"]), "gbps": float(c["gbps"])}
                           for c in record["memory_ceilings"])
            compute = tuple({**c, "name": str(c["name"]), "dtype": str(c["dtype"]), "gflops": float(c["gflops"])}
                            for c in record["compute_ceilings"])
            return cls(memory, compute, int(record["threads"]), tuple(record.get("unresolved_levels", ())),
                       {key: value for key, value in record.items() if key not in known})
        except (KeyError, TypeError, ValueError) as error:
            raise UsageError(f"malformed roofline: {error!r}") from None
