"""Creates asv's machine entry for this host (non-interactive), named and
described by what matters to bwbench. asv keeps only six machine fields, so:
the machine name carries the SIMD variant (default HOSTNAME-ISA), `cpu` the
model, SIMD variant, cache sizes, compiler and flags, bwbench's version and
the host's provenance (huge pages, governor and boost, clock resolution, NUMA
nodes and SMT siblings of the CPUs used), and `ram` the memory.

    python scripts/asv_machine.py [--machine NAME]
"""
import argparse
import platform
import socket
import subprocess
import sys

from bwbench import machine_info
from bwbench.provenance import host, version
from bwbench.units import format_bytes


def provenance_text(host: dict) -> str:
    """The host provenance in one line: 'THP madvise | governor performance | ...'."""
    governors = sorted(set((host["governors"] or {}).values()) - {None}) or ["unknown"]
    boost = {True: "on", False: "off", None: "unknown"}[host["boost"]]
    nodes = sorted(set((host["numa_nodes"] or {}).values())) or ["unknown"]
    siblings = max((len(s) for s in host["smt_siblings"].values()), default=1)
    return (f"THP {host['transparent_hugepages']} | governor {','.join(governors)} | boost {boost} | "
            f"clock {host['clock_resolution_s']:g} s | NUMA nodes {','.join(map(str, nodes))} | "
            f"SMT {siblings} per core")


def describe(info: dict, host: dict) -> dict:
    caches = ", ".join(f"{name} {format_bytes(size)}" for name, size in info["caches"].items())
    return {"machine": f"{socket.gethostname()}-{info['isa']}",
            "cpu": f"{info['cpu']} | {info['isa']} | {caches} | {info['compiler']} {info['cflags']} | "
                   f"bwbench {version()} | {provenance_text(host)}",
            "num_cpu": str(info["cores"]), "ram": format_bytes(info["memory_bytes"]),
            "arch": info["arch"], "os": f"{platform.system()} {platform.release()}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machine", help="the machine's name in asv's results (default: HOSTNAME-ISA)")
    args = parser.parse_args()
    fields = describe(machine_info(), host())
    if args.machine:
        fields["machine"] = args.machine
    flags = [item for key, value in fields.items() for item in (f"--{key}", value)]
    subprocess.run([sys.executable, "-m", "asv", "machine", "--yes", *flags], check=True)
    print(f"asv machine {fields['machine']!r}: {fields['cpu']}")


if __name__ == "__main__":
    main()
