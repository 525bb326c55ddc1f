"""Rooflines from asv's stored results: the record of every machine and commit,
read with asv's own loaders (asv.results for the runs, asv.util.load_json for
RESULTS_DIR/benchmarks.json).

The package does not know the benchmark suite's names: the tracks that hold a
roofline are recognised by what they are, a convention benchmarks/roofline.py
follows (ROLES): memory bandwidth per level (one parameter `level`, GB/s), the
compute peak per dtype (one parameter `dtype`, GFLOP/s) and the thread count
the ceilings were measured at (no parameters, unit `threads`). Ceilings are
named by the track that holds them; nothing is invented: a level or dtype that
failed is left out, and without a thread-count track the thread count is 0
(not recorded)."""
import glob
import math
import os

from bwbench.errors import UsageError
from bwbench.roofline import MEMORY_LEVELS, Roofline

ROLES = {"bandwidth": (["level"], "GB/s"), "peak": (["dtype"], "GFLOP/s"), "threads": ([], "threads")}


def machines(results_dir: str) -> list:
    return sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(f"{results_dir}/*/machine.json"))


def roofline_tracks(results_dir: str) -> dict:
    """{role: benchmark name} of the tracks that follow ROLES (bandwidth and peak required)."""
    from asv.benchmarks import Benchmarks
    from asv.util import UserError, load_json

    path = Benchmarks.get_benchmark_file_path(results_dir)
    try:
        benchmarks = load_json(path, api_version=Benchmarks.api_version)
    except (OSError, ValueError, UserError) as error:
        raise UsageError(f"cannot read asv's benchmark list {path}: {error}") from None
    found = {}
    for role, (param_names, unit) in ROLES.items():
        names = sorted(name for name, b in benchmarks.items() if isinstance(b, dict) and b.get("type") == "track"
                       and b.get("param_names") == param_names and b.get("unit") == unit)
        if len(names) > 1:
            raise UsageError(f"{path}: several tracks could hold the roofline's {role}: {', '.join(names)}")
        found.update({role: name for name in names})
    missing = [role for role in ("bandwidth", "peak") if role not in found]
    if missing:
        raise UsageError(f"{path} lists no roofline track for {' and '.join(missing)} "
                         f"(a track with parameter {ROLES[missing[0]][0]} in {ROLES[missing[0]][1]})")
    return found


def _runs(results_dir: str, machine: str) -> list:
    from asv.results import iter_results_for_machine
    from asv.util import UserError

    if not os.path.isfile(os.path.join(results_dir, machine, "machine.json")):
        known = ", ".join(machines(results_dir)) or "none"
        raise UsageError(f"no asv results for machine {machine!r} in {results_dir} (machines: {known})")
    try:
        return list(iter_results_for_machine(results_dir, machine))
    except (OSError, ValueError, KeyError, TypeError, UserError) as error:
        raise UsageError(f"cannot read asv results of {machine!r} in {results_dir}: {error}") from None


def _values(run, track: str) -> dict:
    """{parameter: value} of a one-parameter track, leaving out failed points
    (a track that failed completely has no values at all)."""
    params = run.get_result_params(track)
    values = run.get_result_value(track, params) or []
    names = [p.strip("'\"") for p in params[0]] if params else []
    return {name: float(value) for name, value in zip(names, values)
            if isinstance(value, (int, float)) and math.isfinite(value)}


def _threads(run, track) -> int:
    value = run.get_result_value(track, []) if track in run.get_all_result_keys() else None
    value = value[0] if isinstance(value, list) and value else value   # one value without parameters
    return int(value) if isinstance(value, (int, float)) and math.isfinite(value) and value >= 1 else 0


def load_roofline(results_dir: str, machine: str, commit: str = None) -> tuple:
    """(Roofline, commit hash) of `machine` at `commit` (a hash prefix; default:
    the newest run that has the roofline tracks)."""
    tracks = roofline_tracks(results_dir)
    runs = [r for r in _runs(results_dir, machine) if {tracks["bandwidth"], tracks["peak"]} <= set(r.get_all_result_keys())]
    if commit:
        runs = [r for r in runs if r.commit_hash.startswith(commit)]
    if not runs:
        at = f" at commit {commit}" if commit else ""
        raise UsageError(f"no asv results with {tracks['bandwidth']} and {tracks['peak']} for machine {machine!r}{at}")
    run = max(runs, key=lambda r: r.date or 0)
    bandwidth, peaks = _values(run, tracks["bandwidth"]), _values(run, tracks["peak"])
    if not peaks or not bandwidth:
        raise UsageError(f"the asv results of {machine!r} at {run.commit_hash[:8]} hold no roofline values "
                         "(the tracks failed)")
    memory = tuple({"level": level, "gbps": bandwidth[level]} for level in MEMORY_LEVELS if level in bandwidth)
    compute = tuple({"name": tracks["peak"], "dtype": dtype, "gflops": gflops} for dtype, gflops in peaks.items())
    unresolved = tuple(level for level in MEMORY_LEVELS if level not in bandwidth)
    roofline = Roofline(memory, compute, _threads(run, tracks.get("threads")), unresolved, {"source": "asv"})
    return roofline, run.commit_hash
