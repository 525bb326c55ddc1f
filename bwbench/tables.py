"""The command line's tables (rich): what each command prints. Never measures."""
import csv
import io
import json
import statistics

from rich.table import Table

from bwbench import choices, tune
from bwbench.flops import ceiling_name
from bwbench.formats import FORMATS
from bwbench.quant import weight_gbps
from bwbench.transformer import Op
from bwbench.units import format_bytes

LEFT = {"test", "mix", "write-allocate", "part", "series",   # interconnect, tensor-parallel and trends tables
        "format", "bound", "at", "unpack-bound from",   # the bytes-per-weight roofline
        "kernel", "variant", "ISA", "fits in", "shape MxNxK", "level", "best kernel", "ceiling", "dtype",
        "op", "group", "machine @ commit"}


def _table(title: str, columns) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in LEFT else "right")
    return table


def stream_table(measurements, threads: int) -> Table:
    table = _table(f"STREAM, float64, {threads} thread(s); GB/s = 1e9 B/s, STREAM byte counts",
                   ("kernel", "variant", "ISA", "threads", "working set", "fits in", "GB/s best", "GB/s median",
                    "CV", "hw GB/s"))
    for m in measurements:
        table.add_row(m.kernel, m.variant, m.isa, str(m.threads), format_bytes(m.working_set_bytes), m.level,
                      f"{m.gbps:.2f}", f"{m.median_gbps:.2f}", f"{m.cv:.1%}", f"{m.hw_gbps:.2f}")
    table.caption = "hw GB/s counts the write-allocate read of every regular store."
    return table


def mix_table(rows: list, threads: int) -> Table:
    """stream --mix: one row a mix and store variant, one column a level (GB/s, STREAM's count)."""
    levels = list(dict.fromkeys(row["level"] for row in rows))
    table = _table(f"Read/write mixes, {threads} thread(s): best GB/s, each array read or written once",
                   ["mix", "variant"] + levels)
    cells = {(row["mix"], row["variant"], row["level"]): row["gbps"] for row in rows}
    for mix, variant in dict.fromkeys((row["mix"], row["variant"]) for row in rows):
        table.add_row(mix, variant, *(f"{cells[mix, variant, level]:.1f}" if (mix, variant, level) in cells else "-"
                                      for level in levels))
    table.caption = "N:M = N arrays read, M written per element (1:0 all reads); nt = non-temporal stores."
    return table


def write_allocate_table(found: dict, threads: int) -> Table:
    """The write-allocate finding per level (bwbench.write_allocate)."""
    table = _table(f"Write-allocate, {threads} thread(s): GB/s stored", ("level", "store-only", "update in place",
                                                                        "ratio", "nt store-only", "write-allocate"))
    for level, entry in found.items():
        nt = entry.get("nt_store_gbps")
        table.add_row(level, f"{entry['store_gbps']:.1f}", f"{entry['update_gbps']:.1f}", f"{entry['ratio']:.2f}",
                      f"{nt:.1f}" if nt else "-", "yes" if entry["write_allocate"] else "no")
    table.caption = "ratio about 1: each store reads its line first (counted in the read-write roof); about 2: not."
    return table


def latency_table(measurements) -> Table:
    """latency: one thread's dependent-load latency per working set."""
    table = _table("Dependent-load latency, one thread (pointer chase)", ("working set", "fits in", "ns"))
    for m in measurements:
        table.add_row(format_bytes(m.working_set_bytes), m.level, f"{m.latency_ns:.1f}")
    return table


def loaded_latency_table(points: list, idle_ns: float = None) -> Table:
    """latency --loaded: the curve from no delay to idle; idle_ns: the idle chase's DRAM latency, for the caption."""
    first = points[0]
    table = _table(f"Loaded latency: 1 thread chasing, {first['load_threads']} thread(s) loading ({first['mix']})",
                   ("delay cycles", "delay ns", "load GB/s", "latency ns"))
    for p in points:
        idle = p["delay_ns"] is None
        table.add_row("idle" if idle else str(p["delay_cycles"]), "-" if idle else f"{p['delay_ns']:.0f}",
                      f"{p['gbps']:.2f}", f"{p['latency_ns']:.1f}")
    if idle_ns:
        table.caption = (f"idle end {points[-1]['latency_ns']:.1f} ns = {points[-1]['latency_ns'] / idle_ns:.2f}x the "
                         f"idle chase's DRAM latency ({idle_ns:.1f} ns, best sample, without the load arrays)")
    return table


def matrix_table(result: dict) -> Table:
    """stream --matrix: rows are the nodes the threads run on, columns the nodes the memory is on."""
    table = _table(f"Read bandwidth matrix, GB/s, {result['threads_per_node']} thread(s) a node "
                   f"({result['kernel']} kernel)", ["threads on, memory on"] + [f"node {j}" for j in result["nodes"]])
    for i, row in zip(result["nodes"], result["gbps"]):
        table.add_row(f"node {i}", *(f"{gbps:.1f}" for gbps in row))
    return table


def products_table(command: str, dtype: str, threads: int, measurements) -> Table:
    """bwbench's records, each beside the reference record (numpy's BLAS) of its shape."""
    table = _table(f"{command.upper()}, {dtype}, {threads} thread(s): bwbench against numpy's BLAS, both timed "
                   "alike (AI = FLOP per byte of A, B and C moved once)",
                   ("kernel", "shape MxNxK", "fits in", "AI", "GFLOP/s", "GB/s", "BLAS GFLOP/s", "bwbench/BLAS"))
    references = {(m.kernel, m.shape): m for m in measurements if m.variant == "reference"}
    for m in measurements:
        if m.variant == "reference":
            continue
        blas = references.get((m.kernel, m.shape))
        kernel = m.kernel + (" (A^T x)" if m.variant == "transposed" else "")
        table.add_row(kernel, "x".join(map(str, m.shape)), m.level, f"{m.ai:.2f}", f"{m.gflops:.1f}",
                      f"{m.gbps:.1f}", f"{blas.gflops:.1f}" if blas else "-",
                      f"{m.gflops / blas.gflops:.2f}" if blas else "-")
    libraries = sorted({m.isa for m in references.values()})
    if libraries:
        table.caption = f"BLAS: {', '.join(libraries)}"
    return table


def quant_gemv_table(fmt: str, threads: int, measurements) -> Table:
    table = _table(f"GEMV, {fmt} weights (x, y float32), {threads} thread(s): 2 FLOPs per weight",
                   ("kernel", "shape MxN", "fits in", "B/weight", "GFLOP/s", "weight GB/s", "GB/s"))
    for m in measurements:
        rows, _, cols = m.shape
        table.add_row(m.kernel, f"{rows}x{cols}", m.level, f"{FORMATS[fmt].bytes_per_weight:.4f}", f"{m.gflops:.1f}",
                      f"{weight_gbps(m):.1f}", f"{m.gbps:.1f}")
    table.caption = "GB/s counts the weights in their format plus x and y; weight GB/s the weights alone."
    return table


def quant_tables(result: dict) -> list:
    """The bytes-per-weight roofline (bwbench.quant_roofline.section): every
    format at every level, then each format's unpack roof."""
    table = _table(f"GEMV by weight format, {result['threads']} thread(s); tokens/s: one {result['model']} "
                   "decode step with its weights in that level",
                   ("format", "level", "weights", "weight GB/s", "read-only GB/s", "fraction", "GFLOP/s", "bound",
                    "tokens/s predicted", "tokens/s measured"))
    roofs = _table("Unpack roofs: best in-cache GFLOP/s",
                   ("format", "bits/weight", "GFLOP/s", "at", "unpack-bound from"))
    for fmt, entry in result["formats"].items():
        for level, row in entry["levels"].items():
            table.add_row(fmt, level, format_bytes(row["weight_bytes"]), f"{row['gbps']:.1f}",
                          f"{row['ceiling_gbps']:.1f}", f"{row['fraction']:.2f}", f"{row['gflops']:.1f}", row["bound"],
                          f"{row['predicted_tokens_per_s']:.1f}", f"{row['measured_tokens_per_s']:.1f}")
        table.add_section()
        roofs.add_row(fmt, f"{entry['bits_per_weight']:g}", f"{entry['unpack_gflops']:.1f}", entry["unpack_level"],
                      entry["unpack_bound_from"] or "nowhere (memory-bound everywhere)")
    table.caption = ("median samples; weight GB/s: the weights alone; read-only: the tuned read kernel over the same "
                     "bytes, the mean of right before and right after; bound: unpack where the unpack roof is below read-only GB/s "
                     "x 2 FLOPs / bytes per weight; tokens/s predicted: min(read-only GB/s / model weight bytes, "
                     "unpack GFLOP/s / (2 x weights))")
    roofs.caption = "f32 unpacks nothing: its roof is its GEMV's own in-cache rate"
    return [table, roofs]


def roofline_tables(roofline, measurements) -> list:
    """Memory ceilings with ridge points, compute ceilings, latency per level."""
    ridges = roofline.to_dict()["ridge_points"]
    memory = _table(f"Memory ceilings, {roofline.threads} thread(s): median GB/s well inside each level",
                    ("level", "read-write GB/s", "best kernel", "read-only GB/s", "points",
                     *(f"ridge {dtype}" for dtype in ridges)))
    read = {c["level"]: c["gbps"] for c in roofline.read_ceilings}
    for c in roofline.memory_ceilings:
        memory.add_row(c["level"], f"{c['gbps']:.1f}", c["kernel"],
                       f"{read[c['level']]:.1f}" if c["level"] in read else "-", str(c["points"]),
                       *(f"{by_level[c['level']]:.2f}" for by_level in ridges.values()))
    memory.caption = ("read-write: copy or triad, write-allocate reads counted below L1 where found (or not measured); "
                      "read-only: the tuned read "
                      "kernel (weights and KV caches stream at it); ridge: FLOP/byte where the read-write "
                      "bandwidth meets the FMA peak")
    if roofline.unresolved_levels:
        memory.caption += f"; unresolved (no measured point well inside): {', '.join(roofline.unresolved_levels)}"
    compute = _table("Compute ceilings, GFLOP/s", ("ceiling", "dtype", "threads", "GFLOP/s"))
    for m in measurements:
        if m.kernel == "peak":
            compute.add_row(ceiling_name(m.variant, m.isa), m.dtype, str(m.threads), f"{m.gflops:.1f}")
    latency = _table("Dependent-load latency, 1 thread", ("level", "ns"))
    for entry in roofline.extra.get("latency_ns", []):
        latency.add_row(entry["level"], f"{entry['ns']:.1f}")
    extra = roofline.extra
    shown = [memory, compute, latency]
    if "theoretical_peak" in extra:
        shown.append(peak_table(extra["theoretical_peak"], extra.get("memory_theoretical", {})))
    if extra.get("mixes"):
        shown.append(mix_table(extra["mixes"], roofline.threads))
    if extra.get("write_allocate"):
        shown.append(write_allocate_table(extra["write_allocate"], roofline.threads))
    if extra.get("loaded_latency"):
        shown.append(loaded_latency_table(extra["loaded_latency"]))
    return shown


def asv_rooflines_table(entries, source: str) -> Table:
    table = _table(f"Rooflines from {source}", ("machine @ commit", "level", "GB/s", "ridge float64"))
    for label, roofline in entries:
        for ceiling in roofline.memory_ceilings:
            table.add_row(label, ceiling["level"], f"{ceiling['gbps']:.1f}",
                          f"{roofline.ridge_point(ceiling['level']):.2f}")
        table.add_row(label, "peak float64", f"{roofline.peak('float64'):.1f} GFLOP/s", "")
        table.add_section()
    return table


def analysis_table(analysis, by_format: tuple = None) -> Table:
    """Every op, then each group's sum, then the total; measured columns when
    measured; by_format: transformer.tokens_per_s_by_format() for the footer."""
    measured = analysis.measured_wall_s is not None
    title = (f"{analysis.model}, {analysis.mode}, seq {analysis.seq}"
             + (f", prompt {analysis.prompt}" if analysis.prompt else "")
             + f", batch {analysis.batch}, {analysis.bytes_per_element:g} B/element, scope {analysis.scope}")
    table = _table(title, ["op", "group", "GFLOPs", "MB", "AI", "bound by", "predicted ms"]
                   + (["measured ms", "predicted/measured", "GFLOP/s", "GB/s"] if measured else []))

    def row(op, name, ceiling=True):
        bound = ""
        if ceiling and op.charged:
            charged, rate = op.ceiling
            bound = f"{charged.replace('read-only', 'read').replace('read-write', 'r/w')} {rate:.1f} " \
                    + ("GFLOP/s" if op.bound == "compute" else "GB/s")
        cells = [name, op.group, f"{op.flops / 1e9:.3f}", f"{op.bytes / 1e6:.1f}", f"{op.ai:.2f}", bound,
                 f"{op.predicted_s * 1e3:.2f}"]
        if measured:
            rate = (lambda amount: f"{amount / op.measured_s / 1e9:.1f}") if op.measured_s else (lambda amount: "-")
            cells += [f"{op.measured_s * 1e3:.2f}",
                      f"{op.predicted_s / op.measured_s:.2f}" if op.measured_s else "-", rate(op.flops), rate(op.bytes)]
        table.add_row(*cells)

    for op in analysis.ops:
        row(op, op.name)
    table.add_section()
    for group, op in analysis.group_totals().items():
        row(op, f"all {group}", ceiling=False)
    table.add_section()
    row(Op("total", "", analysis.total_flops, analysis.total_bytes, predicted_s=analysis.predicted_s,
           measured_s=sum(op.measured_s for op in analysis.ops) if measured else None), "total", ceiling=False)
    record = analysis.to_dict()
    notes = [f"weights read per pass: {analysis.weight_bytes / 1e6:.1f} MB"]
    if "tokens_per_s" in record:
        notes.append(f"predicted {record['tokens_per_s']:.1f} tokens/s")
    if measured:
        notes.append(f"measured end to end: {analysis.measured_wall_s * 1e3:.1f} ms")
        if "measured_tokens_per_s" in record:
            notes.append(f"{record['measured_tokens_per_s']:.1f} tokens/s")
        notes.append(f"predicted/measured (end to end) {analysis.predicted_s / analysis.measured_wall_s:.2f}")
        if analysis.measured_cpu_stolen is not None:
            notes.append(f"CPU time stolen by the hypervisor meanwhile: {analysis.measured_cpu_stolen:.1%}")
    if by_format:
        rates, bandwidth_only = by_format
        notes.append("predicted tokens/s by weight format: " + ", ".join(
            f"{fmt} {rate:.1f}" + (" (bandwidth only)" if fmt in bandwidth_only else "")
            for fmt, rate in rates.items()))
    table.caption = "; ".join(notes)
    return table


def reference_line(analysis, reference: dict) -> str:
    """The reference engine's time beside bwbench's and the prediction."""
    line = (f"{reference['engine']} ({reference['version']}, {reference['threads']} threads): "
            f"{reference['measured_s'] * 1e3:.1f} ms")
    if "tokens_per_s" in reference:
        line += f", {reference['tokens_per_s']:.1f} tokens/s"
    speed = reference["measured_s"] / analysis.measured_wall_s
    line += (f"; bwbench {analysis.measured_wall_s * 1e3:.1f} ms, {speed:.2f}x as fast; "
             f"predicted {analysis.predicted_s * 1e3:.1f} ms")
    if "tokens_agree" in reference:
        line += f"; greedy tokens the same for {reference['tokens_agree']} of {len(reference['tokens'])} steps"
    return line


def bracket_table(bracket: list, drift: dict) -> Table:
    """The ceilings measured right before and right after the run, their drift,
    and which of them the prediction used (ceilings.drift_summary)."""
    table = _table("Ceilings bracketing the run (the prediction uses their mean)",
                   ("ceiling", "unit", "before", "after", "mean", "drift", "used"))
    for entry in bracket:
        used = entry["ceiling"] in drift["used"]
        flag = " (over the limit)" if used and entry["drift"] > drift["limit"] else ""
        table.add_row(entry["ceiling"], entry["unit"], f"{entry['before']:.1f}", f"{entry['after']:.1f}",
                      f"{entry['mean']:.1f}", f"{entry['drift']:.1%}{flag}", "yes" if used else "")
    table.caption = (f"used: bounding ops that take 1% of the predicted time or more; largest drift of a used "
                     f"ceiling: {drift['max']:.1%} ({drift['ceiling']}), "
                     + ("FLAGGED: over " if drift["flagged"] else "within ") + f"the {drift['limit']:.0%} limit")
    return table


def info_table(info: dict) -> Table:
    table = Table(show_header=False, box=None)
    for key in ("cpu", "arch", "isa", "cores"):
        table.add_row(key, str(info[key]))
    for level, size in info["caches"].items():
        table.add_row(f"cache {level}", format_bytes(size))
    table.add_row("last-level cache, whole", format_bytes(info["llc_bytes"]))
    table.add_row("memory", f"{format_bytes(info['memory_bytes'])} "
                            f"({format_bytes(info['memory_available_bytes'])} available)")
    table.add_row("cpu features", " ".join(info["cpu_features"]))
    table.add_row("compiler", info["compiler"])
    table.add_row("cflags", info["cflags"])
    shapes = choices.summary()
    table.add_row("kernel shapes", shapes["source"] + (f", {shapes['file']}" if shapes.get("file") else ""))
    table.add_row("  read", _shape_text(shapes["read"]))
    for fmt, shape in shapes["gemv"].items():
        table.add_row(f"  gemv {fmt}", f"{shape['isa']}, {_shape_text(shape)}")
    table.add_row("  gemm float32", _blocking_text(shapes["gemm"]))
    for pool in info["threadpools"]:
        library = " ".join(filter(None, (pool["internal_api"], pool.get("version"))))
        table.add_row(f"threadpool {pool['user_api']}", f"{library}, {pool['num_threads']} threads")
    return table


def peak_table(peak: dict, memory: dict) -> Table:
    """info: the clock under load, the theoretical FLOP peak and each ceiling's fraction of it."""
    table = _table(f"Clock and theoretical peak, {peak['threads']} thread(s) on {peak['cores']} physical core(s)",
                   ("ceiling", "dtype", "GFLOP/s", "theoretical", "fraction"))
    for row in peak["fractions"]:
        table.add_row(row["name"], row["dtype"], f"{row['gflops']:.1f}", f"{peak['gflops'][row['dtype']]:.1f}",
                      f"{row['fraction']:.1%}")
    mhz = peak["cpuinfo_mhz"]
    said = f"{mhz:.0f} MHz in /proc/cpuinfo ({peak['ghz'] * 1e3 / mhz:.2f}x)" if mhz else "/proc/cpuinfo gives none"
    pipes = f"{peak['fma_pipes']} FMA pipe(s) a core (measured {peak['fma_pipes_measured']:.2f}, rounded)" \
        if peak["fma_pipes"] else "no FMA ceiling"
    dram = f"memory theoretical: {memory['gbps']:.1f} GB/s ({memory['source']})" if memory.get("gbps") else \
        f"memory theoretical bandwidth not known: {memory.get('reason', 'not recorded')}"
    table.caption = f"clock under load {peak['ghz']:.3f} GHz (dependent adds); {said}; {pipes}; {dram}"
    return table


def _blocking_text(blocking: dict) -> str:
    return f"blocks {blocking['kc']} deep, {blocking['mc_tiles']} register tiles of A"


def _shape_text(shape: dict) -> str:
    prefetch = f"prefetch {shape['prefetch']} B" if shape["prefetch"] else "no prefetch"
    chunk = f", {shape['chunk']} groups a chunk" if "chunk" in shape else ""
    return f"{shape['streams']} run(s), {prefetch}{chunk}"


def tune_table(profile: dict) -> Table:
    """Every variant `tune` timed, GB/s at DRAM size (weight bytes for the GEMVs), the choices marked."""
    table = Table(title=f"kernel variants at {format_bytes(profile['dram_bytes'])}, {profile['threads']} thread(s), "
                        f"medians of {tune.ROUNDS} alternating rounds ({profile['seconds']} s); * = chosen")
    for column in ("kernel", "isa", "runs", "prefetch B", "chunk", "GB/s", ""):
        table.add_column(column, justify="left" if column in ("kernel", "isa") else "right")
    read = profile["read"]
    for v in read["variants"]:
        chosen = (v["streams"], v["prefetch"]) == (read["choice"]["streams"], read["choice"]["prefetch"])
        table.add_row("read", choices.isa(), str(v["streams"]), str(v["prefetch"]), "", f"{v['gbps']:.1f}",
                      "*" if chosen else "")
    for fmt, entry in profile["gemv"].items():
        for v in entry["variants"]:
            best = entry["by_isa"][v["isa"]]
            chosen = v["isa"] == entry["isa"] and all(v[k] == best[k] for k in ("streams", "prefetch", "chunk"))
            table.add_row(f"gemv {fmt}", v["isa"], str(v["streams"]), str(v["prefetch"]), str(v["chunk"]),
                          f"{v['gbps']:.1f}", "*" if chosen else "")
        for isa, best in entry["by_isa"].items():
            table.add_row(f"gemv {fmt}", isa, "", "", "", f"in cache {best['cache_gbps']:.1f}", "")
    return table


def tune_gemm_table(profile: dict) -> Table:
    """The float32 GEMM's blockings `tune` timed, GFLOP/s over its shapes together, the choice marked."""
    gemm = profile["gemm"]
    shapes = ", ".join("x".join(map(str, shape)) for shape in gemm["shapes"])
    table = Table(title=f"float32 GEMM blockings at {shapes} (tokens x out x in), {profile['threads']} thread(s), "
                        f"medians of {tune.ROUNDS} alternating rounds; * = chosen")
    for column in ("KC", "tiles of A", "GFLOP/s", ""):
        table.add_column(column, justify="right")
    for v in gemm["variants"]:
        chosen = (v["kc"], v["mc_tiles"]) == (gemm["choice"]["kc"], gemm["choice"]["mc_tiles"])
        table.add_row(str(v["kc"]), str(v["mc_tiles"]), f"{v['gflops']:.1f}", "*" if chosen else "")
    return table


def print_ratios(rows: dict, rounds: int, reference: str) -> None:
    """The closing table of a comparison script (scripts/compare_*.py): medians
    of bwbench, of the reference and of their per-round ratios (the host is
    shared and noisy, so a ratio is only taken between runs seconds apart).
    rows: {figure name: [(bwbench, reference) per round]}."""
    print(f"\nmedians over {rounds} rounds; ratio = median of per-round bwbench/{reference}")
    print(f"{'figure':56}{'bwbench':>10}{reference:>11}{'ratio':>8}")
    for name, pairs in rows.items():
        ours, theirs = zip(*pairs)
        ratio = statistics.median(o / t for o, t in pairs)
        print(f"{name:56}{statistics.median(ours):>10.1f}{statistics.median(theirs):>11.1f}{ratio:>8.3f}")


def interconnect_table(result: dict) -> Table:
    """One row per test and size: latency, algorithm and bus bandwidth."""
    hosts = sorted({p["host"] for p in result["placement"]})
    library = result["library"].split(",")[0]
    table = _table(f"Interconnect, {result['ranks']} ranks on {', '.join(hosts)} ({library})",
                   ("test", "size", "latency µs", "algbw GB/s", "busbw GB/s"))
    for previous, row in zip([None] + result["tests"], result["tests"]):
        if previous and previous["test"] != row["test"]:
            table.add_section()
        busbw = row.get("busbw_gbps")
        table.add_row(row["test"], format_bytes(row["bytes"]), f"{row['latency_us']:.2f}",
                      f"{row['algbw_gbps']:.3g}", "" if busbw is None else f"{busbw:.3g}")
    table.caption = ("pingpong: half the round trip; bw, bibw: per message of a window "
                     "(bibw counts both directions); best of 5 samples, slowest rank")
    return table


def tensor_parallel_table(split: dict) -> Table:
    """The split's prediction: one rank's memory time, the all-reduces, the total."""
    table = _table(f"Split over {split['ranks']} ranks (Megatron-style) on {', '.join(split['hosts'])}",
                   ("part", "count", "size", "µs each", "predicted ms"))
    table.add_row("unsplit, 1 rank", "", "", "", f"{split['single_rank_s'] * 1e3:.2f}")
    table.add_section()
    table.add_row(f"memory and compute, per rank ({split['ranks_per_host']} per host)", "", "", "",
                  f"{split['memory_s'] * 1e3:.2f}")
    for message in split["allreduces"]:
        table.add_row("all-reduce", str(message["count"]), format_bytes(message["bytes"]),
                      f"{message['us_each']:.2f}", f"{message['count'] * message['us_each'] / 1e3:.2f}")
    table.add_row("total", "", "", "", f"{split['total_s'] * 1e3:.2f}")
    table.caption = f"speedup over 1 rank: {split['speedup']:.2f}x; all-reduce times from the measured curve"
    return table


def trends_table(result: dict) -> Table:
    """Each series' fitted growth against the paper's, and this host's point."""
    table = _table("Figure 1: growth per 2 years, fitted to the shipped points",
                   ("series", "points", "fit", "paper", "this host", "normalised"))
    for name, growth in result["fits"].items():
        host = result["host"].get(name)
        table.add_row(name, str(result["points"][name]), f"{growth:.2f}x", f"{result['paper'][name]:.1f}x",
                      f"{host['value']:.3g} {result['units'][name]}" if host else "",
                      f"{host['normalised']:.3g}" if host else "")
    return table


SWEEP_COLUMNS = ("format", "PP", "TG", "B", "N_KV", "T_PP s", "S_PP t/s", "T_TG s", "S_TG t/s", "pred S_PP",
                 "pred S_TG", "pred/meas TG", "TG spread", "bound", "drift")


REFERENCE_COLUMNS = ("ref S_PP t/s", "ref S_TG t/s", "S_TG / ref")


def _number(value, spec) -> str:
    return "-" if value is None else format(value, spec)


def _referenced(cells: list) -> bool:
    return any("reference" in c for c in cells)


def sweep_columns(cells: list) -> tuple:
    """SWEEP_COLUMNS, and REFERENCE_COLUMNS when a cell ran the reference engine."""
    return SWEEP_COLUMNS + (REFERENCE_COLUMNS if _referenced(cells) else ())


def _reference_figures(c: dict) -> list:
    ref = c.get("reference", {})
    return [_number(ref.get("s_pp"), ".1f"), _number(ref.get("s_tg"), ".1f"), _number(ref.get("s_tg_ratio"), ".2f")]


def sweep_rows(cells: list) -> list:
    """The sweep as rows of sweep_columns(cells) (strings; '-' where a cell has no such figure)."""
    rows = []
    for c in cells:
        t_tg = [s["t_tg_s"] for s in c.get("samples", [])]
        bound = c["bound"]["kind"] + (f" ({c['bound']['level']})" if c["bound"]["level"] else "")
        drift = c.get("drift")
        rows.append([c["format"], str(c["prompt"]), str(c["generated"]), str(c["batch"]), str(c["n_kv"]),
                     _number(c.get("t_pp_s") if c["prompt"] else None, ".3f"), _number(c.get("s_pp"), ".1f"),
                     _number(c.get("t_tg_s"), ".3f"), _number(c.get("s_tg"), ".1f"), _number(c["predicted_s_pp"], ".1f"),
                     _number(c["predicted_s_tg"], ".1f"),
                     _number(c["predicted_s_tg"] / c["s_tg"] if c.get("s_tg") else None, ".2f"),
                     f"{max(t_tg) / min(t_tg) - 1:.1%}" if t_tg else "-", bound,
                     f"{drift['max']:.1%}" + (" !" if drift["flagged"] else "") if drift else "-"]
                    + (_reference_figures(c) if _referenced(cells) else []))
    return rows


SWEEP_FORMATS = ("csv", "md", "jsonl")


def sweep_text(cells: list, fmt: str) -> str:
    """The sweep's table as CSV, a Markdown table, or one JSON object a cell (its JSON record)."""
    if fmt == "jsonl":
        return "".join(json.dumps(cell) + "\n" for cell in cells)
    rows, columns = sweep_rows(cells), sweep_columns(cells)
    if fmt == "md":
        lines = [columns, ["---"] * len(columns)] + rows
        return "".join("| " + " | ".join(line) + " |\n" for line in lines)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([columns] + rows)
    return out.getvalue()


def sweep_table(model: str, threads: int, cells: list, knees: dict) -> Table:
    """llama-batched-bench's columns, each cell beside its prediction; the knees below."""
    table = _table(f"{model} decoding, {threads} thread(s): prompt processing (PP) and generation (TG) of B "
                   f"sequences; medians, predicted on the ceilings bracketing each cell", sweep_columns(cells))
    for row in sweep_rows(cells):
        table.add_row(*row)
    table.caption = "; ".join(
        f"{fmt}: knee B* predicted {k['predicted'] or 'beyond 4096'}, measured {k['measured'] or 'not reached'}"
        for fmt, k in knees.items()) + " (measured: the first B with S_TG(B) < 1.5 x S_TG(B/2)); ! = the " \
        "bracket drifted past its limit" + _reference_note(cells)
    return table


def _reference_note(cells: list) -> str:
    """The reference engine's name, version and settings, for the caption."""
    ref = next((c["reference"] for c in cells if "reference" in c), None)
    if not ref:
        return ""
    settings = ", ".join(f"{key} {value}" for key, value in ref.get("settings", {}).items() if key != "depth_fill")
    return (f"; ref = {ref['engine']} ({ref['version']}, {ref['threads']} threads{', ' + settings if settings else ''})"
            f", same cells; S_TG / ref = bwbench's S_TG over the reference's")
