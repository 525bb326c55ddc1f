"""python -m bwbench SUBCOMMAND: argparse, one small cmd_* per subcommand.

Bad input ends with one line on stderr and exit status 2; a wrong kernel
result with exit status 1; Ctrl-C with 130 and no file written."""
import argparse
import sys

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bwbench.errors import UsageError, ValidationError
from bwbench.machine import machine_info
from bwbench.measure import MIN_SAMPLES
from bwbench.results import check_writable, write_result
from bwbench.machine import check_threads
from bwbench.stream import STREAM_KERNELS, default_stream_size, measure_stream, stream_kernel
from bwbench.units import format_bytes, parse_size

# Tables keep their width when piped to a file (rich would fall back to 80 columns).
stdout = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
stderr = Console(stderr=True, highlight=False)


class _Parser(argparse.ArgumentParser):
    """Reports a usage mistake as one line (no usage dump) through UsageError."""

    def error(self, message):
        raise UsageError(message)


def _progress() -> Progress:
    """A progress bar on stderr, shown only on a terminal."""
    return Progress(console=stderr, transient=True, disable=not stderr.is_terminal)


def cmd_stream(args) -> int:
    kernels = [stream_kernel(name.strip()) for name in args.kernels.split(",")]
    threads = check_threads(args.threads)
    size = parse_size(args.size) if args.size else default_stream_size()
    if args.json:
        check_writable(args.json)
    variants = ("regular", "nt") if args.variant == "both" else (args.variant,)
    runs = [(k.name, v) for k in kernels for v in variants if v in k.variants()]
    if not runs:
        raise UsageError(f"no kernel among {args.kernels} has the {args.variant} variant")

    measurements = []
    with _progress() as progress:
        task = progress.add_task("STREAM", total=len(runs))
        for kernel, variant in runs:
            progress.update(task, description=f"{kernel} ({variant})")
            measurements.append(measure_stream(kernel, variant, threads, size, args.ntimes))
            progress.advance(task)

    table = Table(title=f"STREAM, float64, {threads} thread(s); GB/s = 1e9 B/s, STREAM byte counts")
    for column in ("kernel", "variant", "ISA", "threads", "working set", "fits in", "GB/s best",
                   "GB/s median", "CV", "hw GB/s"):
        table.add_column(column, justify="left" if column in ("kernel", "variant", "ISA", "fits in") else "right")
    for m in measurements:
        table.add_row(m.kernel, m.variant, m.isa, str(m.threads), format_bytes(m.working_set_bytes), m.level,
                      f"{m.gbps:.2f}", f"{m.median_gbps:.2f}", f"{m.cv:.1%}", f"{m.hw_gbps:.2f}")
    stdout.print(table)
    stdout.print("hw GB/s counts the write-allocate read of every regular store.")
    if args.json:
        write_result(args.json, machine_info(), measurements)
        stdout.print(f"wrote {args.json}")
    return 0


def cmd_info(args) -> int:
    if args.json:
        check_writable(args.json)
    info = machine_info()
    table = Table(show_header=False, box=None)
    for key in ("cpu", "arch", "isa", "cores"):
        table.add_row(key, str(info[key]))
    for level, size in info["caches"].items():
        table.add_row(f"cache {level}", format_bytes(size))
    table.add_row("last-level cache, whole", format_bytes(info["llc_bytes"]))
    table.add_row("memory", f"{format_bytes(info['memory_bytes'])} "
                            f"({format_bytes(info['memory_available_bytes'])} available)")
    table.add_row("compiler", info["compiler"])
    table.add_row("cflags", info["cflags"])
    for pool in info["threadpools"]:
        library = " ".join(filter(None, (pool["internal_api"], pool.get("version"))))
        table.add_row(f"threadpool {pool['user_api']}", f"{library}, {pool['num_threads']} threads")
    stdout.print(table)
    if args.json:
        write_result(args.json, info, [])
        stdout.print(f"wrote {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bwbench", description="Memory-bandwidth and roofline micro-benchmarks.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    stream = commands.add_parser(
        "stream", help="STREAM kernels: sustained bandwidth",
        description="Times STREAM kernels in C over a working set of all their arrays together "
                    "and validates every result. Each sample repeats the kernel for at least 1 ms; "
                    "the first sample is dropped; best, median and CV of the rest are reported.")
    stream.add_argument("--kernels", default=",".join(STREAM_KERNELS),
                        help=f"comma-separated, from {','.join(STREAM_KERNELS)} (default: all)")
    stream.add_argument("--variant", choices=("regular", "nt", "both"), default="both",
                        help="regular stores, non-temporal stores (nt) or both (default: both; "
                             "load has no stores, so only regular)")
    stream.add_argument("--threads", type=int, help="OpenMP threads (default: all available cores)")
    stream.add_argument("--size", help="total working set of all arrays, e.g. 2GiB, 512MB "
                                       "(default: 4x the whole last-level cache, at least 1 GiB)")
    stream.add_argument("--ntimes", type=int, default=MIN_SAMPLES,
                        help=f"samples per kernel, the first dropped (default and minimum: {MIN_SAMPLES})")
    stream.add_argument("--json", metavar="PATH", help="also write the result JSON (schema bwbench/1)")
    stream.set_defaults(run=cmd_stream)

    info = commands.add_parser("info", help="this host: CPU, SIMD, caches, memory, compiler, thread pools",
                               description="Describes the host as the result JSON's `machine` object does.")
    info.add_argument("--json", metavar="PATH", help="also write it as a result JSON (no measurements)")
    info.set_defaults(run=cmd_info)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UsageError as error:
        print(f"bwbench: error: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:
        print(f"bwbench: wrong result, not reported: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bwbench: interrupted; nothing written", file=sys.stderr)
        return 130
