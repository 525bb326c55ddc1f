"""Rooflines from asv's stored results: the record of every machine and commit.

asv keeps RESULTS_DIR/MACHINE/machine.json and one RESULTS_DIR/MACHINE/<commit>-<env>.json
per run; each holds `results` {benchmark: [values, params, ...]}, values in the
order of the product of params. The roofline's ceilings are the tracks of
benchmarks/roofline.py."""
import glob
import json
import math
import os

from bwbench.errors import UsageError
from bwbench.roofline import MEMORY_LEVELS, Roofline

BANDWIDTH = "roofline.RooflineCeilings.track_gbps"
PEAK = "roofline.RooflineCeilings.track_gflops"


def _read(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read asv result {path}: {error}") from None


def machines(results_dir: str) -> list:
    return sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(f"{results_dir}/*/machine.json"))


def _runs(results_dir: str, machine: str) -> list:
    folder = os.path.join(results_dir, machine)
    if not os.path.isfile(os.path.join(folder, "machine.json")):
        known = ", ".join(machines(results_dir)) or "none"
        raise UsageError(f"no asv results for machine {machine!r} in {results_dir} (machines: {known})")
    return [_read(p) for p in sorted(glob.glob(f"{folder}/*.json")) if not p.endswith("machine.json")]


def _values(run: dict, benchmark: str) -> dict:
    """{parameter: value} of a one-parameter track, leaving out failed points."""
    values, params = run["results"][benchmark][:2]
    names = [p.strip("'\"") for p in params[0]]
    return {name: value for name, value in zip(names, values)
            if isinstance(value, (int, float)) and math.isfinite(value)}


def load_roofline(results_dir: str, machine: str, commit: str = None) -> tuple:
    """(Roofline, commit hash) of `machine` at `commit` (a hash prefix; default:
    the newest run that has the roofline benchmarks)."""
    runs = [r for r in _runs(results_dir, machine) if BANDWIDTH in r.get("results", {})
            and PEAK in r.get("results", {})]
    if commit:
        runs = [r for r in runs if r.get("commit_hash", "").startswith(commit)]
    if not runs:
        at = f" at commit {commit}" if commit else ""
        raise UsageError(f"no asv results with {BANDWIDTH} and {PEAK} for machine {machine!r}{at}")
    run = max(runs, key=lambda r: r.get("date", 0))
    bandwidth, peaks = _values(run, BANDWIDTH), _values(run, PEAK)
    if not peaks or not bandwidth:
        raise UsageError(f"the asv results of {machine!r} at {run['commit_hash'][:8]} hold no roofline values")
    memory = tuple({"level": level, "gbps": bandwidth[level]} for level in MEMORY_LEVELS if level in bandwidth)
    compute = tuple({"name": "fma", "dtype": dtype, "gflops": gflops} for dtype, gflops in peaks.items())
    threads = int(run.get("params", {}).get("num_cpu", 0) or 0)
    unresolved = tuple(level for level in MEMORY_LEVELS if level not in bandwidth)
    return Roofline(memory, compute, threads, unresolved, {"source": "asv"}), run["commit_hash"]
