"""python -m bwbench SUBCOMMAND: argparse, one small cmd_* per subcommand.

Every refusal ends with one line on stderr and the exit status of its kind
(bwbench.errors): 2 for bad input or a host that cannot give what was asked,
1 for a wrong kernel result, 3 for an error code the C core should not return,
130 for Ctrl-C; no file is written then."""
import argparse
import contextlib
import os
import sys

from rich.console import Console
from rich.progress import Progress

from bwbench import (asv_results, choices, clock, formats, interconnect, loaded_latency, memory_spec, mixes, numa_matrix, write_allocate, quant, quant_roofline, tables, tensor_parallel, trends,
                     tune)
from bwbench.ceilings import (BRACKET_SAMPLE, Step, bracket_drift, bracketed, build_roofline, measure_bracket,
                               drift_summary, roofline_plan)
from bwbench.errors import EXIT_STATUS, KernelError, UsageError, ValidationError
from bwbench.gemm import DTYPES, check_fits, measure_products, sweep_shapes
from bwbench.link import TESTS, load_interconnect, parse_sizes, parse_tests, peak_busbw
from bwbench.latency import measure_latency
from bwbench.machine import check_threads, machine_info, set_places
from bwbench.measure import MIN_SAMPLES
from bwbench.models import BUILTIN, load_config
from bwbench.plot import (write_compare_figures, write_figure3, write_figures, write_quant, write_sweep,
                          write_trends)
from bwbench.results import check_writable, read_result, write_result
from bwbench.roofline import MEMORY_LEVELS, Roofline
from bwbench.stream import DRAM_ARRAYS, STREAM_KERNELS, default_stream_size, measure_stream, stream_kernel
from bwbench.engines import REFERENCES
from bwbench.inference import check_runnable
from bwbench import sweep
from bwbench.tables import SWEEP_FORMATS
from bwbench.transformer import (FIGURE_MODELS, analyse, measure, overlay_points, tokens_agree,
                                  tokens_per_s_by_format, with_measured)
from bwbench.units import format_bytes, parse_shape, parse_size

# Tables keep their width when piped to a file (rich would fall back to 80 columns); COLUMNS sets another.
stdout = Console(highlight=False, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120)
stderr = Console(stderr=True, highlight=False)


class _Parser(argparse.ArgumentParser):
    """Reports a usage mistake as one line (no usage dump) through UsageError."""

    def error(self, message):
        raise UsageError(message)


def _run_all(label: str, steps) -> list:
    """Runs Steps in order with a progress bar (on stderr, on a terminal only)."""
    results = []
    with Progress(console=stderr, transient=True, disable=not stderr.is_terminal) as progress:
        task = progress.add_task(label, total=len(steps))
        for step in steps:
            progress.update(task, description=step.description)
            results.append(step.run())
            progress.advance(task)
    return results


def _finish(args, measurements, *printed, **sections) -> int:
    """Prints the tables, then writes --json (if asked) with the measurements."""
    for table in printed:
        stdout.print(table)
    if args.json:
        write_result(args.json, machine_info(), measurements, **sections)
        stdout.print(f"wrote {args.json}")
    return 0


def _output_dir(path: str) -> str:
    """Creates the output folder if needed; refuses one that cannot be written."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create output folder {path}: {error.strerror}") from None
    check_writable(os.path.join(path, "roofline.json"))
    return path


def cmd_stream(args) -> int:
    if args.matrix:
        return _stream_matrix(args)
    if args.mix is not None:
        return _stream_mix(args)
    kernels = [stream_kernel(name.strip()) for name in args.kernels.split(",")]
    threads = check_threads(args.threads)
    size = parse_size(args.size) if args.size else default_stream_size()
    if args.json:
        check_writable(args.json)
    variants = ("regular", "nt") if args.variant == "both" else (args.variant,)
    steps = [Step(f"{k.name} ({v})", lambda k=k, v=v: measure_stream(k.name, v, threads, size, args.ntimes))
             for k in kernels for v in variants if v in k.variants()]
    if not steps:
        raise UsageError(f"no kernel among {args.kernels} has the {args.variant} variant")
    measurements = _run_all("STREAM", steps)
    return _finish(args, measurements, tables.stream_table(measurements, threads))


def _stream_matrix(args) -> int:
    """MLC's bandwidth matrix: threads on node i reading memory on node j (more than one node only)."""
    numa_matrix.nodes()   # refuses a one-node host before anything else
    size = parse_size(args.size) if args.size else default_stream_size() // DRAM_ARRAYS
    if args.json:
        check_writable(args.json)
    result = numa_matrix.measure_matrix(size, args.threads, args.ntimes)
    measurements = result.pop("measurements")
    return _finish(args, measurements, tables.matrix_table(result), numa_matrix=result)


def _stream_mix(args) -> int:
    """Read/write mixes at every level (or --levels), and the write-allocate finding."""
    chosen = mixes.parse_mixes(args.mix)
    levels = _levels(args.levels)
    threads = check_threads(args.threads)
    dram = parse_size(args.size) if args.size else None
    if args.json:
        check_writable(args.json)
    runs = _run_all("mixes", [Step(*step) for step in mixes.plan(chosen, threads, levels, dram)])
    probes = _run_all("write-allocate", [Step(*step) for step in write_allocate.plan(threads, dram)
                                         if not levels or step[0].rsplit(" ", 1)[1] in levels])
    found = write_allocate.finding(probes)
    return _finish(args, runs + probes, tables.mix_table(mixes.section(runs), threads),
                   tables.write_allocate_table(found, threads), mixes=mixes.section(runs), write_allocate=found)


def _levels(text) -> list:
    levels = [part.strip() for part in text.split(",")] if text else []
    wrong = [level for level in levels if level not in MEMORY_LEVELS]
    if wrong:
        raise UsageError(f"invalid --levels {text!r}: choose from {', '.join(MEMORY_LEVELS)}")
    return levels


def cmd_latency(args) -> int:
    """Idle pointer-chase latency in every level and DRAM; with --loaded, the chase under load."""
    mix = mixes.parse_mix(args.mix) if args.mix else mixes.Mix(1, 0)
    if args.mix and not args.loaded:
        raise UsageError("--mix is for --loaded: what the load threads read and write")
    size = parse_size(args.size) if args.size else loaded_latency.dram_bytes()
    threads = loaded_latency.check(args.threads, mix) if args.loaded else check_threads(args.threads)
    if args.json:
        check_writable(args.json)
    idle = _run_all("latency", [Step(f"latency {level}", lambda s=s: measure_latency(s))
                                for level, s in _latency_sizes(size).items()])
    sections = {}
    if args.loaded:
        sections["loaded_latency"] = loaded_latency.measure_loaded(threads, mix, size, size)
    tables_ = [tables.latency_table(idle)]
    if args.loaded:
        tables_.append(tables.loaded_latency_table(sections["loaded_latency"], idle[-1].latency_ns))
    return _finish(args, idle, *tables_, **sections)


def _latency_sizes(dram: int) -> dict:
    """A working set well inside each cache level one thread reaches, and `dram` bytes."""
    sizes = {level: size for level, size in mixes.level_sizes(1, 1).items() if level != "DRAM"}
    sizes["DRAM"] = dram
    return sizes


def _products(args, shapes) -> int:
    """Measures each (m, n, k) (a GEMV when n is 1) and numpy's BLAS beside it,
    after checking all of them."""
    threads = check_threads(args.threads)
    for m, n, k in shapes:
        check_fits(m, n, k, args.dtype)
    if args.json:
        check_writable(args.json)
    transpose = getattr(args, "transpose", False)
    steps = [Step(f"{m}x{n}x{k}", lambda m=m, n=n, k=k: measure_products(m, n, k, args.dtype, threads, transpose))
             for m, n, k in shapes]
    measurements = [record for pair in _run_all(args.command, steps) for record in pair]
    return _finish(args, measurements, tables.products_table(args.command, args.dtype, threads, measurements))


def cmd_gemm(args) -> int:
    return _products(args, [parse_shape(text, 3) for text in args.shape] if args.shape else sweep_shapes())


def cmd_gemv(args) -> int:
    """A is M x N here: the product's shape is (M, 1, N)."""
    matrices = [parse_shape(text, 2) for text in args.shape] if args.shape else \
        [(m, k) for m, n, k in sweep_shapes(tokens=(1,))]
    if args.dtype in quant.FORMATS:
        return _quant_gemv(args, matrices)
    return _products(args, [(m, 1, n) for m, n in matrices])


def _quant_gemv(args, matrices) -> int:
    """GEMVs whose weights are in a quantised format (no BLAS has them)."""
    if args.transpose:
        raise UsageError(f"--transpose is for float32 and float64, not {args.dtype}")
    threads = check_threads(args.threads)
    for m, n in matrices:
        quant.check_gemv_cols(args.dtype, n)
    if args.json:
        check_writable(args.json)
    measurements = _run_all("gemv", [Step(f"{m}x{n}", lambda m=m, n=n: quant.measure_gemv(m, n, args.dtype, threads))
                                     for m, n in matrices])
    return _finish(args, measurements, tables.quant_gemv_table(args.dtype, threads, measurements))


def cmd_quant(args) -> int:
    """The bytes-per-weight roofline: every weight format's GEMV in every level beside its read-only ceiling."""
    threads = check_threads(args.threads)
    model_bytes = quant_roofline.decode_weight_bytes(args.model)
    if args.json:
        check_writable(args.json)
    out = _output_dir(args.out)
    points = quant_roofline.plan(quant_roofline.level_sizes(threads))
    runs = _run_all("quant", [Step(p.description, lambda p=p: quant_roofline.measure_point(p, threads))
                              for p in points])
    result = quant_roofline.section(points, runs, args.model, model_bytes, threads)
    for table in tables.quant_tables(result):
        stdout.print(table)
    paths = write_quant(result, out)
    if args.json:
        write_result(args.json, machine_info(), [m for run in runs for m in run], quant=result)
        paths.append(args.json)
    stdout.print("wrote " + ", ".join(paths))
    return 0


def _roofline_from_asv(args) -> int:
    """Rooflines of stored asv results, one per machine and commit, in one figure."""
    out = _output_dir(args.out)
    entries = []
    for machine in args.machine or asv_results.machines(args.from_asv)[:1] or [""]:
        for commit in args.commit or [None]:
            roofline, commit_hash = asv_results.load_roofline(args.from_asv, machine, commit)
            entries.append((f"{machine} @ {commit_hash[:8]}", roofline))
    stdout.print(tables.asv_rooflines_table(entries, args.from_asv))
    stdout.print("wrote " + ", ".join(write_compare_figures(entries, out)))
    return 0


def _link_roof(path) -> dict:
    """A saved interconnect section with an all-reduce curve (the roof), or None without a path."""
    if not path:
        return None
    link = load_interconnect(path)
    peak_busbw(link)   # refuses one without allreduce rows
    return link


def _model_names(text) -> list:
    """--models: comma-separated built-in model names, config.json, .gguf or Hugging Face folder paths."""
    return [name.strip() for name in text.split(",")] if text else []


def cmd_roofline(args) -> int:
    if args.from_asv:
        return _roofline_from_asv(args)
    link = _link_roof(args.interconnect)
    threads = check_threads(args.threads)
    models = _model_names(args.models)
    for model in models:
        analyse(model, args.seq)   # refuses an unknown model before measuring
    out = _output_dir(args.out)
    measurements = _run_all("roofline", roofline_plan(threads, args.quick))
    roofline = build_roofline(measurements, threads)
    if threads >= 2 and not args.quick:   # one thread chases, the others load
        roofline.extra["loaded_latency"] = loaded_latency.measure_loaded(threads)
    for table in tables.roofline_tables(roofline, measurements):
        stdout.print(table)
    path = os.path.join(out, "roofline.json")
    write_result(path, machine_info(), measurements, roofline=roofline.to_dict(),
                 overlay=overlay_points(models, args.seq, roofline), **({"interconnect": link} if link else {}))
    stdout.print("wrote " + ", ".join([path] + write_figures(read_result(path), out)))
    return 0


def _saved_roofline(path: str) -> dict:
    document = read_result(path)
    if "roofline" not in document:
        raise UsageError(f"{path} holds no roofline (write one with `bwbench roofline`)")
    return document


def cmd_plot(args) -> int:
    document = _saved_roofline(args.result)
    if args.interconnect:
        document["interconnect"] = _link_roof(args.interconnect)
    if args.models:   # predicted on the saved ceilings; an unknown model is refused before anything is written
        document["overlay"] = overlay_points(_model_names(args.models), args.seq,
                                             Roofline.from_dict(document["roofline"]))
    out = _output_dir(args.out or os.path.dirname(os.path.abspath(args.result)))
    stdout.print("wrote " + ", ".join(write_figures(document, out)))
    return 0


def _roofline_for(args, threads: int) -> Roofline:
    """The Roofline of --roofline PATH, or the ceilings a prediction uses, measured now."""
    if args.roofline:
        return Roofline.from_dict(_saved_roofline(args.roofline)["roofline"])
    weights = getattr(args, "weights", None)
    return build_roofline(measure_bracket(threads, _run_all, "ceilings for the prediction", weights), threads,
                          BRACKET_SAMPLE)


def _sweep_lists(args) -> dict:
    """The comma lists of a transformer command, checked."""
    weights = args.weights.split(",") if args.weights else [None]
    if any(fmt not in formats.NAMES for fmt in weights if fmt is not None):
        raise UsageError(f"invalid --weights {args.weights!r}: choose from {', '.join(formats.NAMES)}")
    return {"batch": _positive_list(args.batch, "--batch"), "prompt": _count_list(args.prompt, "--prompt"),
            "depth": _count_list(args.depth, "--depth") if args.depth is not None else [0], "weights": weights}


def cmd_transformer(args) -> int:
    lists = _sweep_lists(args)
    swept = any(len(values) > 1 for values in lists.values()) or args.depth is not None or args.format \
        or (args.measure and lists["batch"][0] > 1)
    if args.figure and not swept:
        return _transformer_figure(args)
    if not args.model or args.seq is None:
        raise UsageError("give --model and --seq (or --figure DIR)")
    if args.json:
        check_writable(args.json)
    if swept:
        return _transformer_sweep(args, lists)
    args.batch, args.prompt, args.weights = lists["batch"][0], lists["prompt"][0], lists["weights"][0]
    shape = (args.model, args.seq, args.mode, args.prompt, args.batch, args.bytes_per_element, args.scope)
    counted = analyse(*shape, weights=args.weights)
    threads = check_threads(args.threads)
    reference = REFERENCES[args.reference] if args.reference else None
    if reference and not args.measure:
        raise UsageError("--reference runs beside bwbench's own run: add --measure")
    tensor_parallel.check_args(args)
    if args.measure:   # everything refusable is refused before measuring
        check_runnable(counted)
    weights = args.weights or "f32"
    if reference:
        reference.check_available()
        reference.check(load_config(args.model), counted.mode, weights)

    def run_all():
        """bwbench's run, then the reference engine's on the same shape, threads and weights."""
        run = measure(counted, threads)
        return run, reference.run(load_config(args.model), counted.mode, args.seq, threads, weights) \
            if reference else None

    bracket, runs = None, None
    if args.measure and not args.roofline:
        runs, before, after, roofline = bracketed(run_all, threads, _run_all, args.weights)
        bracket = bracket_drift(before, after)
    else:
        roofline = _roofline_for(args, threads)
        runs = run_all() if args.measure else None
    analysis = analyse(*shape, roofline, args.weights)
    if runs:
        analysis = with_measured(analysis, *runs[0])
    by_format = tokens_per_s_by_format(shape, roofline) if analysis.mode == "decoder" else None
    stdout.print(tables.analysis_table(analysis, by_format))
    record = analysis.to_dict()
    if by_format:
        record.update(tokens_per_s_by_format=by_format[0], tokens_per_s_bandwidth_only=by_format[1])
    if runs and runs[1]:
        if "model_file" in runs[1] and analysis.measured_tokens is not None:   # the same weights in both engines
            runs[1]["tokens_agree"] = tokens_agree(analysis.measured_tokens, runs[1]["tokens"])
        record["reference"] = runs[1]
        stdout.print(tables.reference_line(analysis, runs[1]))
    if bracket:
        drift = drift_summary(bracket, analysis.ceilings_used())
        stdout.print(tables.bracket_table(bracket, drift))
        record.update(bracket=bracket, ceiling_drift=drift)
    split = tensor_parallel.from_args(args, analysis)
    if split:
        stdout.print(tables.tensor_parallel_table(split))
    if args.json:
        write_result(args.json, machine_info(), [], transformer=record, roofline=roofline.to_dict(),
                     **({"tensor_parallel": split} if split else {}))
        stdout.print(f"wrote {args.json}")
    return 0


def _transformer_figure(args) -> int:
    out = _output_dir(args.figure)
    seqs = _positive_list(args.seqs, "--seqs")
    threads = check_threads(args.threads)
    roofline = _roofline_for(args, threads)

    def run(model, seq):
        analysis = analyse(model, seq, None, 0, 1, args.bytes_per_element, args.scope, roofline)
        return with_measured(analysis, *measure(analysis, threads)) if args.measure else analysis

    keys = [(model, seq) for model in FIGURE_MODELS for seq in seqs]
    analyses = _run_all("Figure 3", [Step(f"{m} at {s}", lambda m=m, s=s: run(m, s)) for m, s in keys])
    stdout.print("wrote " + ", ".join(write_figure3(dict(zip(keys, analyses)), seqs, out, measured=args.measure)))
    return 0


def _transformer_sweep(args, lists: dict) -> int:
    """Every combination of the lists, predicted, and with --measure measured
    inside its own bracket of ceilings (bwbench.sweep), with --reference beside it."""
    if args.tensor_parallel:
        raise UsageError("a sweep (comma lists, --depth or --format) runs on one host: drop --tensor-parallel")
    if not 1 <= args.repeats <= 100:
        raise UsageError(f"invalid --repeats {args.repeats}: from 1 to 100")
    grid = sweep.Grid(args.model, tuple(fmt or "f32" for fmt in lists["weights"]), tuple(lists["batch"]),
                      tuple(lists["prompt"]), args.seq, tuple(lists["depth"]))
    reference = _sweep_reference(args, grid)
    sweep.check(grid, args.measure, reference)
    threads = check_threads(args.threads)
    cells, rooflines = [], {}
    for fmt in grid.formats:
        cells += _sweep_format(args, grid, fmt, threads, rooflines, reference)
    roofline = rooflines[grid.formats[0]]
    knees = sweep.knees(grid, cells, roofline)
    if args.format:
        print(tables.sweep_text(cells, args.format), end="")
    else:
        stdout.print(tables.sweep_table(grid.model, threads, cells, knees))
    first = analyse(args.model, args.seq, "decoder", grid.prompts[0], grid.batches[0], 4, "model", roofline,
                    grid.formats[0], depth=grid.depths[0])
    record = {**first.to_dict(), "sweep": cells, "knee": knees, "threads": threads}
    if args.figure:
        stdout.print("wrote " + ", ".join(write_sweep(record, roofline, _output_dir(args.figure))))
    if args.json:
        write_result(args.json, machine_info(), [], transformer=record, roofline=roofline.to_dict())
        stdout.print(f"wrote {args.json}")
    return 0


def _sweep_reference(args, grid):
    """The engines module of --reference in a sweep (None without), refused
    before anything is measured where it cannot run the grid."""
    if not args.reference:
        return None
    if not args.measure:
        raise UsageError("--reference runs beside bwbench's own run: add --measure")
    reference = REFERENCES[args.reference]
    reference.check_available()
    if not hasattr(reference, "Batched"):
        raise UsageError(f"--reference {args.reference} runs one sequence, not a sweep: in a sweep (comma lists, "
                         "--depth or --format), --reference takes llama.cpp")
    for fmt in grid.formats:
        reference.check(load_config(grid.model), "decoder", fmt)
    return reference


def _sweep_format(args, grid, fmt: str, threads: int, rooflines: dict, reference) -> list:
    """The cells of one weight format: bwbench's engine (and the reference's)
    made once for them all; rooflines[fmt] is the last cell's roofline."""
    runner = sweep.Runner(grid, fmt, threads) if args.measure else None
    other = reference.Batched(load_config(grid.model), fmt, threads, max(grid.batches), grid.max_pos) \
        if reference else contextlib.nullcontext()
    cells = []
    with other:
        for _, batch, prompt, depth in (cell for cell in grid.cells() if cell[0] == fmt):
            measured = None
            if runner:
                measured, before, after, roofline = bracketed(lambda: runner.measure(batch, prompt, depth,
                                                                                     args.repeats),
                                                              threads, _run_all, fmt)
            else:
                roofline = rooflines.get(fmt) or _roofline_for(argparse.Namespace(roofline=args.roofline,
                                                                                  weights=fmt), threads)
            rooflines[fmt] = roofline
            prediction = sweep.predicted(grid, fmt, batch, prompt, depth, roofline)
            cell = sweep.cell_record(grid, fmt, batch, prompt, depth, prediction, measured)
            if runner:
                cell["drift"] = drift_summary(bracket_drift(before, after), [prediction["bound"]["ceiling"]])
            if reference:   # right after bwbench's cell, outside its bracket
                cell = sweep.with_reference(cell, sweep.measure_reference(other, grid, batch, prompt, depth,
                                                                          args.repeats))
            cells.append(cell)
    return cells


def _count_list(text: str, flag: str) -> list:
    return _positive_list(text, flag, least=0)


def _positive_list(text: str, flag: str, least: int = 1) -> list:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < least:
        kind = "positive" if least else "zero or positive"
        raise UsageError(f"invalid {flag} {text!r}: expected comma-separated {kind} whole numbers")
    return values


def cmd_interconnect(args) -> int:
    comm = interconnect.world()   # how to run it, as a UsageError, without MPI or mpiexec
    try:
        sizes, tests = parse_sizes(args.sizes), parse_tests(args.tests)
        if not args.time > 0:
            raise UsageError(f"invalid --time {args.time!r}: must be positive")
        interconnect.check_memory(comm, sizes)
        if args.json:
            check_writable(args.json)
    except UsageError:
        if comm.Get_rank():
            return 2   # every rank refuses; rank 0 alone says why
        raise
    steps = [Step(f"{test} {format_bytes(size)}",
                  lambda t=test, s=size: interconnect.measure_one(comm, t, s, args.time))
             for test in tests for size in sizes]
    done = _run_all("interconnect", steps) if comm.Get_rank() == 0 else [step.run() for step in steps]
    wrong = sum(count for _, count in done)
    result = interconnect.section(comm, [row for row, _ in done if row], args.time)
    if comm.Get_rank():
        return 1 if wrong else 0
    if wrong:
        raise ValidationError(f"{wrong} wrong stamps or bytes in the receive buffers")
    return _finish(args, [], tables.interconnect_table(result), interconnect=result)


def cmd_trends(args) -> int:
    points = trends.load_points()
    host = trends.host_points(points, args.roofline, args.interconnect)
    out = _output_dir(args.out)
    if args.json:
        check_writable(args.json)
    result = trends.trends(points, host)
    stdout.print(tables.trends_table(result))
    paths = write_trends(points, host, out)
    if args.json:
        write_result(args.json, machine_info(), [], trends=result)
        paths.append(args.json)
    stdout.print("wrote " + ", ".join(paths))
    return 0


def cmd_info(args) -> int:
    if args.json:
        check_writable(args.json)
    tune.apply_stored()
    info = machine_info()
    measurements, sections = [], {}
    if not args.no_measure:
        measurements, sections["theoretical_peak"] = clock.host_peak(check_threads(None))
        sections["memory_theoretical"] = memory_spec.theoretical_bandwidth()
    stdout.print(tables.info_table(info))
    if sections:
        stdout.print(tables.peak_table(sections["theoretical_peak"], sections["memory_theoretical"]))
    if args.json:
        write_result(args.json, info, measurements, **sections)
        stdout.print(f"wrote {args.json}")
    return 0


def _threads_flag(parser, what: str = "OpenMP threads") -> None:
    """--threads, and the flags of every command that measures: --isa and --no-tune."""
    parser.add_argument("--threads", type=int, help=f"{what} (default: all available cores)")
    parser.add_argument("--places", metavar="compact|scatter|LIST",
                        help="which CPUs the threads take: scatter (default: one CPU a physical core before SMT "
                             "siblings, alternating NUMA nodes), compact (a core's SMT siblings first, a node "
                             "filled before the next) or CPU ids such as 0,2,4-7, thread t on the t-th")
    parser.add_argument("--isa", choices=choices.ISAS,
                        help="run every kernel with this instruction set (refused where the CPU lacks it; "
                             "default: the tuned choice, else the widest)")
    parser.add_argument("--no-tune", action="store_true",
                        help="use the built-in kernel shapes, not this host's tuned ones (see `tune`; "
                             "BWBENCH_NO_TUNE=1 does the same)")


def _prepare(args) -> None:
    """Before a command measures: the ISA forced with --isa, and this host's tuned
    kernel shapes (made now, once, if none are stored), unless --no-tune."""
    if not hasattr(args, "isa") or not getattr(args, "measure", True):
        return
    choices.force_isa(args.isa)
    if not (args.no_tune or os.environ.get("BWBENCH_NO_TUNE")):
        tune.ensure(args.threads, say=lambda line: stderr.print(line))


def cmd_tune(args) -> int:
    if args.json:
        check_writable(args.json)
    choices.force_isa(args.isa)
    stderr.print("bwbench: timing the kernels' variants at DRAM size (about half a minute per 100 MiB of "
                 "last-level cache) ...")
    profile = tune.tune(args.threads)
    path = tune.store(profile)
    tune.apply(profile, "tuned", path)
    stdout.print(tables.tune_table(profile))
    stdout.print(tables.tune_gemm_table(profile))
    stdout.print(f"stored {path}")
    if args.json:
        write_result(args.json, machine_info(), [], tune=profile)
        stdout.print(f"wrote {args.json}")
    return 0


def _json_flag(parser, what: str = "the result JSON (schema bwbench/1)") -> None:
    parser.add_argument("--json", metavar="PATH", help=f"also write {what}")


MODEL_NAMES = ", ".join(BUILTIN)


def _models_flags(parser, instead: str = "") -> None:
    parser.add_argument("--models", metavar="NAMES_OR_PATHS",
                        help=f"comma-separated models ({MODEL_NAMES}, or config.json, .gguf or Hugging Face folder paths) "
                             "whose operations to "
                             f"place on the figure{instead}, predicted at float32 on its ceilings")
    parser.add_argument("--seq", type=int, default=128, metavar="S", help="--models: sequence length (default 128)")


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
    _threads_flag(stream)
    stream.add_argument("--size", help="total working set of all arrays, e.g. 2GiB, 512MB "
                                       "(default: every array at least 4x the whole last-level cache, so 12x it, "
                                       "and at least 1 GiB)")
    stream.add_argument("--ntimes", type=int, default=MIN_SAMPLES,
                        help=f"samples per kernel, the first dropped (default and minimum: {MIN_SAMPLES})")
    stream.add_argument("--mix", nargs="?", const=",".join(mixes.DEFAULT_MIXES), metavar="N:M[,...]",
                        help="read/write mixes instead, as MLC: N arrays read and M written per element, or "
                             f"triad (default list: {','.join(mixes.DEFAULT_MIXES)}), at every cache level and "
                             "DRAM, regular and non-temporal stores; then whether stores write-allocate here. "
                             "--size sets the DRAM working set")
    stream.add_argument("--levels", metavar="L2,DRAM", help="--mix: only these levels (L1, L2, L3, DRAM)")
    stream.add_argument("--matrix", action="store_true",
                        help="MLC's bandwidth matrix instead: read GB/s of the threads of NUMA node i (--threads a "
                             "node) from memory first touched on node j; hosts with more than one node only")
    _json_flag(stream)
    stream.set_defaults(run=cmd_stream)

    latency = commands.add_parser(
        "latency", help="dependent-load latency per level; with --loaded, DRAM latency under load (MLC-style)",
        description="Times one thread chasing pointers through a random cycle of cache lines well inside each "
                    "cache level and in DRAM. With --loaded, thread 0 chases the DRAM cycle while the other threads "
                    "read (or read and write, --mix N:M) with an injected delay stepped from none to idle: each "
                    "point is the load threads' bandwidth and the chase's latency (JSON key loaded_latency).")
    latency.add_argument("--loaded", action="store_true", help="also the latency under load, from no delay to idle")
    latency.add_argument("--mix", metavar="N:M", help="--loaded: arrays each load thread reads:writes (default 1:0)")
    latency.add_argument("--size", help="the DRAM working set of the chase (and of each load array) (default: 4x "
                                        "the last-level cache, at least 256 MiB)")
    _threads_flag(latency, "threads for --loaded: one chases, the others load")
    _json_flag(latency)
    latency.set_defaults(run=cmd_latency)

    roofline = commands.add_parser(
        "roofline", help="measure this host's roofline; print, plot and save it",
        description="Measures load, copy and triad bandwidth over a working-set sweep (4 KiB to 8x the "
                    "last-level cache, at 1 and all threads), dependent-load latency, peak FLOP/s (scalar, "
                    "SIMD, FMA; float64 and float32) against the clock under load and the theoretical peak, "
                    "whether stores write-allocate at each level, read/write mixes and the loaded-latency curve "
                    "(these two not with --quick; the curve at two threads or more) and an arithmetic-intensity "
                    "ladder, then writes DIR/roofline.json, DIR/roofline.png, DIR/roofline.svg and "
                    "DIR/bandwidth.png (and DIR/loaded-latency.png with the curve).")
    _threads_flag(roofline)
    roofline.add_argument("--quick", action="store_true",
                          help="fewer sweep points, sweep and ladder at all threads only (about 4x faster)")
    roofline.add_argument("--out", default="bwbench-results", metavar="DIR",
                          help="output folder, created if missing (default: ./bwbench-results)")
    _models_flags(roofline)
    roofline.add_argument("--from-asv", metavar="RESULTS_DIR",
                          help="measure nothing: build the roofline from asv's stored results (e.g. .asv/results)")
    roofline.add_argument("--machine", action="append", metavar="NAME",
                          help="--from-asv: machine to draw; repeat to overlay several (default: the first)")
    roofline.add_argument("--commit", action="append", metavar="HASH",
                          help="--from-asv: commit (hash prefix) to draw; repeat to overlay (default: the newest)")
    roofline.add_argument("--interconnect", metavar="PATH", help="a saved interconnect JSON: draw its all-reduce "
                          "bus bandwidth as a third roof (the link is not measured here)")
    roofline.set_defaults(run=cmd_roofline)

    plot = commands.add_parser("plot", help="redraw the figures of a saved roofline.json, optionally with models",
                               description="Redraws roofline.png, roofline.svg and bandwidth.png "
                                           "from a saved result without measuring; with --models, places "
                                           "those models' operations on the saved roofline.")
    plot.add_argument("result", metavar="ROOFLINE_JSON", help="a roofline.json written by `bwbench roofline`")
    plot.add_argument("--out", metavar="DIR", help="output folder (default: the JSON's folder)")
    plot.add_argument("--interconnect", metavar="PATH", help="a saved interconnect JSON: add its all-reduce roof")
    _models_flags(plot, " (instead of those the JSON holds)")
    plot.set_defaults(run=cmd_plot)

    sweep = ("without --shape, the transformer-projection sweep: K = d, M = d or 4d for d in 768, 1024, "
             "4096, N = 1 .. 1024 in powers of 2 (N = 1 runs the GEMV)")
    gemm = commands.add_parser(
        "gemm", help="matrix-matrix product C = A B against numpy's BLAS",
        description="Times bwbench's GEMM (row-major, packed and register-blocked) in C, validates it "
                    "against numpy, and times numpy's BLAS at the same shape and threads; " + sweep + ".")
    gemm.add_argument("--shape", nargs="+", metavar="MxNxK", help="A is MxK, B is KxN")
    gemv = commands.add_parser(
        "gemv", help="matrix-vector product y = A x against numpy's BLAS",
        description="Times bwbench's GEMV in C, validates it against numpy, and times numpy's BLAS at "
                    "the same shape and threads; without --shape, the N = 1 points of the gemm sweep.")
    gemv.add_argument("--shape", nargs="+", metavar="MxN", help="A is MxN")
    gemv.add_argument("--transpose", action="store_true", help="y = A^T x instead of y = A x")
    for product, run, dtypes in ((gemm, cmd_gemm, list(DTYPES)), (gemv, cmd_gemv, list(DTYPES) + list(quant.FORMATS))):
        product.add_argument("--dtype", choices=dtypes, default="float64",
                             help="default: float64" + (f"; {', '.join(formats.QUANTISED)} are weight formats in "
                                                        "llama.cpp's layouts, x and y float32" if product is gemv else ""))
        _threads_flag(product, "OpenMP and BLAS threads")
        _json_flag(product)
        product.set_defaults(run=run)

    bytes_roof = commands.add_parser(
        "quant", help="the bytes-per-weight roofline: GEMV of each weight format in every level, tokens/s",
        description=f"Times the GEMV of each weight format ({', '.join(formats.NAMES)}) with its weights in half of each "
                    "cache level and in 4x the last-level cache, each beside the load kernel over the same bytes; "
                    "reports weight GB/s, its fraction of that read-only ceiling, GFLOP/s, each format's unpack roof "
                    "(best in-cache GFLOP/s) and the tokens/s of one decode step of --model whose weights sit in "
                    "that level, predicted and measured; writes DIR/quant.png and DIR/quant.svg.")
    _threads_flag(bytes_roof)
    bytes_roof.add_argument("--model", default="tinyllama-1.1b", metavar="NAME_OR_CONFIG",
                            help="the decoder whose weight bytes one decode step reads (default: tinyllama-1.1b)")
    bytes_roof.add_argument("--out", default="bwbench-results", metavar="DIR",
                            help="output folder for the figure, created if missing (default: ./bwbench-results)")
    _json_flag(bytes_roof, "the result JSON (key `quant`, and every measurement)")
    bytes_roof.set_defaults(run=cmd_quant)

    transformer = commands.add_parser(
        "transformer", help="a transformer's operations: FLOPs, bytes, intensity, predicted and measured time",
        description="Counts every operation of a transformer as Kim et al. do (reads all inputs and weights, "
                    "writes the output, no reuse between operations), predicts each one's time on a measured "
                    "roofline, and with --measure runs the model for real through bwbench's C inference path (batch 1, "
                    "float32, random weights), with the ceilings measured right before and after the run. "
                    "With --figure, draws the paper's Figure 3 for bert-base, bert-large "
                    "and gpt2.")
    transformer.add_argument("--model", metavar="NAME_OR_CONFIG",
                             help=f"{MODEL_NAMES}, a Hugging Face style config.json, a GGUF file (.gguf) or a "
                                  "Hugging Face folder (config.json and safetensors): a model file's weights run")
    transformer.add_argument("--seq", type=int, help="tokens: processed at once (encoder) or generated (decoder)")
    transformer.add_argument("--mode", choices=("encoder", "decoder"),
                             help="default: encoder for BERT-style configs, decoder for GPT-style")
    transformer.add_argument("--prompt", default="0", metavar="P[,P...]",
                             help="decoder: prompt tokens processed at once first (default 0)")
    transformer.add_argument("--batch", default="1", metavar="B[,B...]", help="sequences at once (default 1)")
    transformer.add_argument("--depth", metavar="D[,D...]",
                             help="decoder: positions already in each sequence's key/value cache (random, as "
                                  "llama-bench's -d); a sweep")
    transformer.add_argument("--bytes-per-element", type=float, default=4.0,
                             help="4 = fp32 (default), 2, 1 (as Kim et al.), 0.5")
    transformer.add_argument("--weights", metavar="FMT[,FMT...]",
                             help=f"the linear layers' weight format ({', '.join(formats.NAMES)}: "
                                  "llama.cpp's layouts), activations float32; sets the bytes a weight the prediction "
                                  "counts (default: --bytes-per-element)")
    transformer.add_argument("--scope", choices=("model", "layers"), default="layers",
                             help="layers: the transformer layers only (Kim et al.); model: with embeddings and, "
                                  "for decoders, the final LayerNorm and LM head (default: layers)")
    transformer.add_argument("--measure", action="store_true", help="also run the model and time each operation")
    transformer.add_argument("--roofline", metavar="PATH", help="roofline.json for the prediction (default: "
                             "measure the ceilings it uses now; with --measure, right before and after the run)")
    transformer.add_argument("--reference", choices=sorted(REFERENCES),
                             help="--measure: also run this engine on the same shape and threads (optional extra); "
                                  "in a sweep, llama.cpp on every cell (B sequences in one llama_batch)")
    transformer.add_argument("--tensor-parallel", type=int, metavar="P", help="also predict the model split "
                             "over P ranks, Megatron-style (needs --interconnect)")
    transformer.add_argument("--interconnect", metavar="PATH", help="--tensor-parallel: a saved interconnect "
                             "JSON with the all-reduce curve over P ranks")
    _threads_flag(transformer, "threads for measuring")
    _json_flag(transformer, "the result JSON (key `transformer`)")
    transformer.add_argument("--figure", metavar="DIR", help="draw Figure 3 (PNG and SVG) into DIR instead; with a "
                             "sweep, its figures (S_TG against B, and the cells on the roofline)")
    transformer.add_argument("--seqs", default="128,256,512,1024", help="--figure: sequence lengths")
    transformer.add_argument("--repeats", type=int, default=3, help="a sweep: repetitions of each cell (default 3)")
    transformer.add_argument("--format", choices=SWEEP_FORMATS, help="a sweep: print its table as CSV, Markdown "
                             "or JSON lines instead (for spreadsheets and notebooks)")
    transformer.set_defaults(run=cmd_transformer)

    link = commands.add_parser(
        "interconnect", help="MPI link: ping-pong latency, bandwidth, collectives with bus bandwidth",
        description="Run under MPI (mpiexec -n N python -m bwbench interconnect). As the OSU micro-benchmarks: "
                    "ping-pong latency, uni- and bi-directional bandwidth between rank 0 and the last rank, "
                    "and Allreduce, Allgather, Reduce_scatter over all ranks with algorithm and bus bandwidth "
                    "(nccl-tests' factors). Every receive is validated; a sample is the slowest rank's time.")
    link.add_argument("--sizes", default="8B..256MiB", metavar="RANGE",
                      help="message sizes, powers of two: LOW..HIGH or a comma list (default 8B..256MiB)")
    link.add_argument("--tests", default=",".join(TESTS), help=f"comma-separated, from {','.join(TESTS)} "
                                                                "(default: all)")
    link.add_argument("--time", type=float, default=0.02, metavar="SECONDS",
                      help="length of each of the 5 timed samples per test and size (default 0.02)")
    _json_flag(link, "the result JSON (key `interconnect`)")
    link.set_defaults(run=cmd_interconnect)

    figure1 = commands.add_parser(
        "trends", help="the paper's Figure 1 (FLOP/s, DRAM and interconnect bandwidth over 20 years) with this host",
        description="Fits the growth per 2 years of peak FLOP/s, DRAM bandwidth and interconnect bandwidth "
                    "from the points shipped with bwbench (re-extracted from the paper's Figure 1), places this "
                    "host's measured values on it, and writes DIR/trends.png and DIR/trends.svg.")
    figure1.add_argument("--roofline", metavar="PATH", help="a saved roofline.json: float32 peak and DRAM bandwidth")
    figure1.add_argument("--interconnect", metavar="PATH", help="a saved interconnect JSON: its largest bw")
    figure1.add_argument("--out", default="bwbench-results", metavar="DIR", help="output folder (default: "
                                                                                  "./bwbench-results)")
    _json_flag(figure1, "the fits and this host's points (key `trends`)")
    figure1.set_defaults(run=cmd_trends)

    tuner = commands.add_parser(
        "tune", help="time the kernels' variants on this host and store the fastest",
        description="Times variants of the read kernel (runs in lockstep, prefetch distance) and of each weight "
                    "format's GEMV (runs in lockstep, prefetch distance, groups a chunk, each ISA path) at DRAM "
                    "size, rounds alternating, validates every result, and stores the fastest per CPU model, "
                    "CPU features and bwbench version in the user's cache folder ($BWBENCH_CACHE to choose it). "
                    "Every measuring command loads it, or makes it on first need; --no-tune skips it.")
    _threads_flag(tuner)
    _json_flag(tuner, "the choice and every variant's rate as a result JSON (key `tune`)")
    tuner.set_defaults(run=cmd_tune)

    info = commands.add_parser("info", help="this host: CPU, SIMD, caches, memory, compiler, thread pools, clock",
                               description="Describes the host as the result JSON's `machine` object does, then "
                                           "measures the core clock under load (a chain of dependent adds on "
                                           "every CPU) and the FMA peaks, and shows each as a fraction of the "
                                           "theoretical peak (cores x GHz x FMA pipes x lanes x 2), beside the "
                                           "memory's theoretical bandwidth where the platform tells it.")
    info.add_argument("--no-measure", action="store_true",
                      help="describe only: skip the clock and FMA peaks (about a second on every CPU)")
    _json_flag(info, "it as a result JSON (with the clock and FMA peaks as measurements)")
    info.set_defaults(run=cmd_info)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        set_places(getattr(args, "places", None))   # every run starts from the default unless told
        if args.run is not cmd_tune:
            _prepare(args)
        return args.run(args)
    except UsageError as error:
        print(f"bwbench: error: {error}", file=sys.stderr)
        return EXIT_STATUS[UsageError]
    except ValidationError as error:
        print(f"bwbench: wrong result, not reported: {error}", file=sys.stderr)
        return EXIT_STATUS[ValidationError]
    except KernelError as error:
        print(f"bwbench: internal error (please report): {error}", file=sys.stderr)
        return EXIT_STATUS[KernelError]
    except KeyboardInterrupt:
        print("bwbench: interrupted; nothing written", file=sys.stderr)
        return 130
