"""Predicted against measured for whole transformer runs, with the ceilings
measured right before and right after each run (bwbench.ceilings.bracketed).

Each run is predicted two ways from the same bracket: by the ceilings matched
to each byte's access pattern (read-only streams for weights and the KV cache,
read-write for activations: what bwbench predicts), and by the single roof per
level it used before (the fastest kernel's traffic, for every byte). With
--reference torch, PyTorch runs the same shape right after bwbench, inside the
same bracket. Runs alternate between the cases, --rounds times; medians of
the per-run ratios are printed last, over every run and over the runs whose
bracket stayed within the drift limit (a run whose ceilings moved more than
that between before and after has no trustworthy prediction).
"CPU stolen" is the share of CPU time the hypervisor gave to other guests
while bwbench's timed run went on (/proc/stat's steal): time it could not
compute.

    python scripts/prediction_check.py [--rounds 3] [--threads N] [--cases gpt2:128,bert-base:128]
                                       [--reference torch]
    python scripts/prediction_check.py --cases tinyllama-1.1b:32:f32,tinyllama-1.1b:32:q4_0 (a case's
                                       third part: the weight format, --weights)
"""
import argparse
import statistics
import sys

from rich.console import Console
from rich.table import Table

from bwbench import tune
from bwbench.ceilings import DRIFT_LIMIT, bracket_drift, bracketed, drift_summary
from bwbench.engines import REFERENCES
from bwbench.machine import check_threads
from bwbench.models import load_config
from bwbench.roofline import Roofline
from bwbench.transformer import analyse, measure, with_measured


class SingleRoof(Roofline):
    """The roofline as predictions used it before: one roof per level, the
    larger of the read-only and read-write ceilings, for every byte."""

    def bandwidth(self, level="DRAM", pattern="readwrite"):
        return max(Roofline.bandwidth(self, level, "read"), Roofline.bandwidth(self, level, "readwrite"))


def one_run(model: str, seq: int, weights: str, threads: int, quiet, reference) -> dict:
    counted = analyse(model, seq, scope="model", weights=weights)

    def both():
        run = measure(counted, threads)
        return run, reference.run(load_config(model), counted.mode, seq, threads, weights or "f32") \
            if reference else None

    (run, other), before, after, roofline = bracketed(both, threads, quiet, weights)
    matched = with_measured(analyse(model, seq, scope="model", roofline=roofline, weights=weights), *run)
    single = analyse(model, seq, scope="model", roofline=SingleRoof(**roofline.__dict__), weights=weights)
    drift = drift_summary(bracket_drift(before, after), matched.ceilings_used())
    wall = matched.measured_wall_s
    return {"case": f"{model} {matched.mode} {seq}" + (f" {weights}" if weights else ""), "measured_s": wall,
            "predicted_s": matched.predicted_s,
            "matched": matched.predicted_s / wall, "single": single.predicted_s / wall,
            "dram_read": roofline.bandwidth("DRAM", "read"), "dram_rw": roofline.bandwidth("DRAM"),
            "drift": drift["max"], "drift_ceiling": drift["ceiling"], "flagged": drift["flagged"],
            "stolen": matched.measured_cpu_stolen,
            "reference_s": other["measured_s"] if other else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--cases", default="gpt2:128,bert-base:128")
    parser.add_argument("--reference", choices=sorted(REFERENCES))
    args = parser.parse_args()
    threads = check_threads(args.threads)
    tune.ensure(threads)   # the tuned kernel shapes, as every command that measures uses
    reference = REFERENCES[args.reference] if args.reference else None
    if reference:
        reference.check_available()
    cases = [(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else None)
             for parts in (case.split(":") for case in args.cases.split(","))]
    quiet = lambda label, steps: [step.run() for step in steps]  # noqa: E731
    rows = [one_run(model, seq, weights, threads, quiet, reference) for _ in range(args.rounds)
            for model, seq, weights in cases]
    console = Console(width=160)
    table = Table(title=f"predicted/measured, {threads} thread(s), scope model, ceilings bracketing each run")
    columns = ["case", "predicted ms", "measured ms", "matched ceilings", "single roof (before)",
               "DRAM read-only GB/s", "DRAM read-write GB/s", "largest used drift", "CPU stolen"]
    for column in columns + ([f"{args.reference} ms", f"{args.reference}/bwbench"] if reference else []):
        table.add_column(column)
    for row in rows:
        cells = [row["case"], f"{row['predicted_s'] * 1e3:.1f}", f"{row['measured_s'] * 1e3:.1f}",
                 f"{row['matched']:.2f}", f"{row['single']:.2f}", f"{row['dram_read']:.1f}", f"{row['dram_rw']:.1f}",
                 f"{row['drift']:.1%} ({row['drift_ceiling']})", f"{row['stolen']:.1%}"]
        if reference:
            cells += [f"{row['reference_s'] * 1e3:.1f}", f"{row['reference_s'] / row['measured_s']:.2f}"]
        table.add_row(*cells)
    console.print(table)
    for case in dict.fromkeys(row["case"] for row in rows):
        mine = [row for row in rows if row["case"] == case]
        line = (f"{case}: median predicted/measured {statistics.median(r['matched'] for r in mine):.2f} "
                f"(single roof: {statistics.median(r['single'] for r in mine):.2f}) over {len(mine)} runs")
        steady = [r["matched"] for r in mine if not r["flagged"]]
        line += (f"; within the {DRIFT_LIMIT:.0%} drift limit: {statistics.median(steady):.2f} over {len(steady)}"
                 if steady else f"; no run within the {DRIFT_LIMIT:.0%} drift limit")
        if reference:
            line += f"; {args.reference}/bwbench time {statistics.median(r['reference_s'] / r['measured_s'] for r in mine):.2f}"
        console.print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
