"""The paper's Figure 1: peak FLOP/s, DRAM bandwidth and interconnect bandwidth
of server hardware over 20 years, fitted, with this host's measurements on it.

The points ship with the package (bwbench/data/hw_trends.csv: re-extracted from
the paper's figure, each with its source); only the rows of a Figure 1 series
are drawn and fitted. A fit is least squares of log(value) against the year;
its growth per 2 years is exp(2 x slope) (the paper: 3.0x, 1.6x, 1.4x).
Values are drawn normalised as the paper does, to each series' first point
(R10000's FLOP/s, GDDR3's and PCIe 1.0's per-lane bandwidth)."""
import csv
import datetime
import io
import math
import os
from dataclasses import dataclass
from importlib import resources

from bwbench.errors import UsageError
from bwbench.link import load_interconnect, rows_of
from bwbench.results import read_result
from bwbench.roofline import Roofline

# name: (the CSV's fig1_series, value column, unit, the paper's growth per 2 years)
SERIES = {"flops": ("HW FLOPS", "peak_flops", "FLOP/s", 3.0),
          "dram": ("DRAM BW", "dram_bandwidth_GBps", "GB/s", 1.6),
          "interconnect": ("Interconnect BW", "interconnect_bandwidth_GBps", "GB/s", 1.4)}


@dataclass(frozen=True)
class Point:
    year: float
    value: float
    label: str
    normalised: float


def load_points() -> dict:
    """{series name: [Point]} from the shipped CSV."""
    text = resources.files("bwbench").joinpath("data/hw_trends.csv").read_text()
    points = {name: [] for name in SERIES}
    for row in csv.DictReader(io.StringIO(text)):
        for name, (series, column, _, _) in SERIES.items():
            if row["fig1_series"] == series:
                points[name].append(Point(float(row["year"]), float(row[column]), row["device"],
                                          float(row["fig1_normalized"])))
    return points


def fit_line(points) -> tuple:
    """(slope, intercept) of the least-squares line through (year, log value)."""
    years = [p.year for p in points]
    logs = [math.log(p.value) for p in points]
    mean_year, mean_log = sum(years) / len(years), sum(logs) / len(logs)
    slope = sum((y - mean_year) * (v - mean_log) for y, v in zip(years, logs)) \
        / sum((y - mean_year) ** 2 for y in years)
    return slope, mean_log - slope * mean_year


def growth_per_2_years(points) -> float:
    return math.exp(2 * fit_line(points)[0])


def base(points) -> float:
    """The value a series is normalised by (its first point's, as in the figure)."""
    return points[0].value / points[0].normalised


def decimal_year(path: str) -> float:
    """When a result was written (its file's time), as a year with a fraction."""
    when = datetime.datetime.fromtimestamp(os.path.getmtime(path))
    start = datetime.datetime(when.year, 1, 1)
    return when.year + (when - start) / (datetime.datetime(when.year + 1, 1, 1) - start)


def host_points(points: dict, roofline_path: str = None, interconnect_path: str = None) -> dict:
    """This host's measured values as Points: float32 peak FLOP/s and DRAM
    bandwidth (read-only or read-write, the higher) from a saved roofline, the largest uni-directional bandwidth
    (test bw) from a saved interconnect result."""
    found = {}
    if roofline_path:
        document = read_result(roofline_path)
        if "roofline" not in document:
            raise UsageError(f"{roofline_path} holds no roofline (write one with `bwbench roofline`)")
        roofline, year = Roofline.from_dict(document["roofline"]), decimal_year(roofline_path)
        cpu = document["machine"].get("cpu", "this host")
        found["flops"] = (year, roofline.peak("float32") * 1e9, f"{cpu}, {roofline.threads} threads, float32")
        dram = [c["gbps"] for c in (*roofline.memory_ceilings, *roofline.read_ceilings) if c["level"] == "DRAM"]
        if not dram:
            raise UsageError(f"{roofline_path} has no DRAM ceiling")
        found["dram"] = (year, max(dram), f"{cpu}, {roofline.threads} threads")   # the better of read-only, r/w
    if interconnect_path:
        link = load_interconnect(interconnect_path)
        rows = rows_of(link, "bw")
        if not rows:
            raise UsageError(f"{interconnect_path} has no bw rows (run the interconnect benchmark with --tests bw)")
        hosts = sorted({p["host"] for p in link["placement"]})
        found["interconnect"] = (decimal_year(interconnect_path), max(r["algbw_gbps"] for r in rows),
                                 f"MPI bw, {link['ranks']} ranks on {', '.join(hosts)}")
    return {name: Point(year, value, label, value / base(points[name]))
            for name, (year, value, label) in found.items()}


def trends(points: dict, host: dict) -> dict:
    """The JSON's `trends` object."""
    return {"fits": {name: growth_per_2_years(series) for name, series in points.items()},
            "paper": {name: SERIES[name][3] for name in SERIES},
            "points": {name: len(series) for name, series in points.items()},
            "units": {name: SERIES[name][2] for name in SERIES},
            "host": {name: {"year": p.year, "value": p.value, "normalised": p.normalised, "label": p.label}
                     for name, p in host.items()}}
