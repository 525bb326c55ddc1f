"""What Python adds per message: bwbench's interconnect ping-pong and window
bandwidth (mpi4py) against the same loops in C (src_c/mpi/osu_ref.c), at the
same sizes, on the same ranks, one after the other.

    python scripts/mpi_overhead.py [--sizes 8B..4MiB] [--time 0.02] [--launcher CMD] [--json PATH]

--launcher replaces `mpiexec` (e.g. "scripts/netns_hosts.sh mpiexec" for two
namespaces). The C program is built with the MPI compiler wrapper (mpicc beside
this Python, else on PATH); without one the script says so and exits 2."""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "src_c", "mpi", "osu_ref.c")
sys.path.insert(0, ROOT)
from bwbench.link import parse_sizes  # noqa: E402
from bwbench.units import format_bytes  # noqa: E402

MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def mpicc():
    return shutil.which("mpicc", path=os.path.dirname(sys.executable)) or shutil.which("mpicc")


def build(folder: str) -> str:
    """Compiles the C reference into folder; returns the program's path."""
    program = os.path.join(folder, "osu_ref")
    subprocess.run([mpicc(), "-O2", "-o", program, SOURCE], check=True)
    return program


def run(command, launcher) -> str:
    env = {**os.environ, **MPI_ENV}
    done = subprocess.run([*launcher, "-n", "2", *command], capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode:
        sys.exit(f"mpi_overhead: {' '.join(command[:3])} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8B..4MiB")
    parser.add_argument("--time", default="0.02")
    parser.add_argument("--launcher", default="mpiexec")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    if not mpicc():
        print("mpi_overhead: no MPI compiler wrapper (mpicc) here: pip install 'bwbench[mpi]'", file=sys.stderr)
        return 2
    sizes = parse_sizes(args.sizes)
    launcher = shlex.split(args.launcher)
    with tempfile.TemporaryDirectory() as folder:
        c = json.loads(run([build(folder), str(sizes[0]), str(sizes[-1]), args.time], launcher))
        saved = os.path.join(folder, "python.json")
        run([sys.executable, "-m", "bwbench", "interconnect", "--tests", "pingpong,bw", "--sizes",
             ",".join(map(str, sizes)), "--time", args.time, "--json", saved], launcher)
        with open(saved) as f:
            python = json.load(f)["interconnect"]
    if c["wrong"]:
        sys.exit(f"mpi_overhead: the C reference saw {c['wrong']} wrong stamps or bytes")
    by_key = {(row["test"], row["bytes"]): row for row in c["tests"]}
    print(f"Python (mpi4py {python['mpi4py']}) against C, {python['library'].split(',')[0]}, "
          f"{len(python['placement'])} ranks on {', '.join(sorted({p['host'] for p in python['placement']}))}")
    print(f"{'test':9} {'size':>8} {'C us':>9} {'Python us':>10} {'added us':>9} {'Py/C':>6}")
    for row in python["tests"]:
        ref = by_key[row["test"], row["bytes"]]
        print(f"{row['test']:9} {format_bytes(row['bytes']):>8} {ref['latency_us']:9.2f} {row['latency_us']:10.2f} "
              f"{row['latency_us'] - ref['latency_us']:9.2f} {row['latency_us'] / ref['latency_us']:6.2f}")
    print("us: pingpong half the round trip; bw per message of the window; best of 5, slowest rank")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"c": c, "python": python}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
