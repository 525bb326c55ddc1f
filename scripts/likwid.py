"""Runs likwid-bench (Debian: apt-get install likwid) and reads one figure of its report."""
import re
import subprocess


def likwid_bench(test: str, size: str, threads: int, field: str = "MByte/s") -> float:
    """The value of `field` (MByte/s or MFlops/s) of one likwid-bench run on socket 0."""
    out = subprocess.run(["likwid-bench", "-t", test, "-w", f"S0:{size}:{threads}"],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(re.escape(field) + r":\s+([0-9.]+)", out).group(1))
