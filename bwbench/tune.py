"""Kernel shapes chosen on the host they run on, as FFTW's planner and ATLAS
choose theirs: a few variants of the read kernel and of each weight format's
GEMV (runs read in lockstep, software prefetch distance, groups a chunk, the
ISA path) are timed at DRAM size, and of the float32 GEMM's blocking at the
shapes of an encoder pass; rounds alternate, and the fastest is kept.
A choice is stored per CPU model, CPU features and bwbench version in the
user's cache folder ($BWBENCH_CACHE, else platformdirs' user cache dir) and
re-made when any of them changes; ensure() loads or makes it and sets it in
the C core before anything is measured."""
import datetime
import hashlib
import json
import os
import statistics
import time

import numpy as np
import platformdirs

from bwbench import _kernels, choices, quant
from bwbench.errors import UsageError, ValidationError
from bwbench.gemm import measure_gemm
from bwbench.machine import available_cpus, cache_capacity, check_memory, check_threads, cpu_model, cpus_for
from bwbench.machine import last_level_cache_bytes
from bwbench.measure import MIN_SAMPLE_S
from bwbench.provenance import version
from bwbench.timing import checking
from bwbench.results import atomic_write

SCHEMA = "bwbench-tune/2"
READ_STREAMS, READ_PREFETCH = (1, 2, 4, 8), (0, 1024)
GEMV_STREAMS, GEMV_PREFETCH, GEMV_CHUNKS = (1, 2, 4, 8), (0, 512, 1024, 2048), (4, 16, 64)
ROUNDS, SAMPLES = 2, 3          # every variant timed once a round; the median of its rounds' medians
COLS = 4096                     # weights a row: a 7B model's width
PATTERN_ROWS = 64               # distinct rows, tiled to DRAM size: the check is exact and cheap
TIE = 0.02                      # ISA paths this close at DRAM: the faster in cache wins
GEMM_KC, GEMM_MC_TILES = (128, 256, 384, 512), (8, 16)
GEMM_SHAPES = ((128, 3072, 768), (128, 768, 3072))   # tokens x out x in: BERT-Base's FFN at 128 tokens


def cache_dir() -> str:
    return os.environ.get("BWBENCH_CACHE") or platformdirs.user_cache_dir("bwbench")


def host_key() -> dict:
    """What a choice holds for: change any of these and the kernels are re-tuned."""
    return {"cpu": cpu_model(), "cpu_features": _kernels.cpu_features(), "bwbench": version()}


def cache_path(key: dict) -> str:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(cache_dir(), f"tune-{digest}.json")


def dram_bytes() -> int:
    """DESIGN's DRAM rule: four times the whole last-level cache (64 MiB without one)."""
    return 4 * (last_level_cache_bytes() or 2**24)


def _alternating(variants: list, rate, unit: str = "gbps") -> list:
    """Each variant's median rate over ROUNDS rounds, the variants alternating within a round."""
    rates = [[] for _ in variants]
    for _ in range(ROUNDS):
        for i, variant in enumerate(variants):
            rates[i].append(rate(variant))
    return [{**variant, unit: statistics.median(r)} for variant, r in zip(variants, rates)]


def _fastest(results: list, unit: str = "gbps") -> dict:
    return max(results, key=lambda r: r[unit])


def _shape(result: dict, keys) -> dict:
    return {k: result[k] for k in keys}


def tune_read(threads: int, size: int) -> dict:
    """The read kernel's fastest shape at DRAM size, every variant's sum checked in C."""
    n = size // 8

    def rate(shape):
        _kernels.set_read_shape(shape["streams"], shape["prefetch"])
        samples, _, reps, bad = _kernels.stream_measure("read", False, choices.isa(), n, threads, SAMPLES,
                                                        MIN_SAMPLE_S)
        if bad:
            raise ValidationError(f"tuning: the read kernel's sum was wrong ({shape})")
        return 8 * n * reps / statistics.median(samples) / 1e9

    variants = [{"streams": s, "prefetch": p} for s in READ_STREAMS for p in READ_PREFETCH]
    results = _alternating(variants, rate)
    choice = _shape(_fastest(results), ("streams", "prefetch"))
    _kernels.set_read_shape(**choice)
    return {"choice": choice, "variants": results}


class GemvBench:
    """Weights of one format at one size (PATTERN_ROWS distinct rows tiled, in
    the engine's layout), x, and y as numpy expects it, row by row."""

    def __init__(self, fmt: str, nbytes: int, cols: int = COLS):
        rng = np.random.default_rng(7)
        plain = quant.quantize(rng.uniform(-1, 1, (PATTERN_ROWS, cols)).astype(np.float32), fmt)
        tiles = max(1, nbytes // plain.nbytes)
        self.fmt, self.cols = fmt, cols
        self.w = np.tile(_kernels.interleave(fmt, plain, cols), (tiles, 1))   # 64 rows: whole groups of 8
        self.x = rng.uniform(-1, 1, cols).astype(np.float32)
        exact = quant.dequantize(plain, fmt, cols).astype(np.float64)
        with checking():
            self.want = np.tile(exact @ self.x, tiles)
            self.tolerance = np.tile(quant.tolerance(exact, self.x, fmt), tiles)
        self.y = np.empty(self.w.shape[0], np.float32)

    def rate(self, isa: str, threads: int, samples: int = SAMPLES) -> float:
        """Weight GB/s at the median sample, after checking every row of y."""
        timing = _kernels.qgemv_measure(isa, self.fmt, self.w, self.cols, self.x, self.y, threads, samples,
                                        MIN_SAMPLE_S, grouped=True)
        wrong = np.count_nonzero(~(np.abs(self.y - self.want) <= self.tolerance))
        if wrong:
            raise ValidationError(f"tuning: the {self.fmt} GEMV on {isa} computed {wrong} wrong rows")
        return self.w.nbytes * timing[2] / statistics.median(timing[0]) / 1e9


def _search_path(bench: GemvBench, path: str, threads: int) -> list:
    """One ISA path: streams, then prefetch at the best streams, then rows a chunk."""
    built_in = _kernels.gemv_shape(bench.fmt, path)

    def rate(shape):
        _kernels.set_gemv_shape(bench.fmt, path, shape["streams"], shape["prefetch"], shape["chunk"])
        return bench.rate(path, threads)

    keys = ("isa", "streams", "prefetch", "chunk")
    tried, best = {}, {"isa": path, **built_in}
    for key, values in (("streams", GEMV_STREAMS), ("prefetch", GEMV_PREFETCH), ("chunk", GEMV_CHUNKS)):
        new = [v for v in ({**best, key: value} for value in values) if tuple(v.values()) not in tried]
        tried.update((tuple(_shape(r, keys).values()), r) for r in _alternating(new, rate))
        best = _shape(_fastest(tried.values()), keys)
    _kernels.set_gemv_shape(bench.fmt, path, best["streams"], best["prefetch"], best["chunk"])
    return list(tried.values())


def simd_paths(fmt: str) -> list:
    """The SIMD paths fmt's GEMV has on this CPU, narrowest first (none, on a CPU
    without AVX2: only the generic kernel, which has no shape to tune)."""
    return sorted({_kernels.gemv_path(isa, fmt) for isa in choices.supported_isas()} - {"generic"},
                  key=choices.ISAS.index)


def tune_gemv(fmt: str, threads: int, size: int, cache_size: int) -> dict:
    """fmt's fastest shape on each ISA path the CPU has, and the path to take."""
    paths = simd_paths(fmt)
    dram, cached = GemvBench(fmt, size), GemvBench(fmt, cache_size)
    variants, by_isa = [], {}
    for path in paths:
        tried = _search_path(dram, path, threads)
        variants += tried
        best = _fastest([t for t in tried if t["isa"] == path])
        by_isa[path] = {**_shape(best, ("streams", "prefetch", "chunk")), "gbps": best["gbps"],
                        "cache_gbps": cached.rate(path, threads, 10)}
    top = max(v["gbps"] for v in by_isa.values())
    near = [p for p in paths if by_isa[p]["gbps"] >= (1 - TIE) * top]
    return {"isa": max(near, key=lambda p: by_isa[p]["cache_gbps"]), "by_isa": by_isa, "variants": variants}


def tune(threads: int = None) -> dict:
    """Times the variants on this host and returns the choice (applied to the C core)."""
    threads = check_threads(threads)
    size = dram_bytes()
    check_memory(2 * size, "the tuning's DRAM-sized arrays")
    cache = cache_capacity("L2", cpus_for(threads)) // 2 or 2**20
    start = time.monotonic()
    profile = {"schema": SCHEMA, "key": host_key(), "threads": threads, "dram_bytes": size,
               "cache_bytes": cache, "read": tune_read(threads, size),
               "gemv": {fmt: tune_gemv(fmt, threads, size, cache) for fmt in quant.FORMATS if simd_paths(fmt)},
               "gemm": tune_gemm(threads),
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    profile["seconds"] = round(time.monotonic() - start, 1)
    return profile


def tune_gemm(threads: int) -> dict:
    """The float32 GEMM's fastest blocking (KC, rows of A a block) over an
    encoder pass's shapes: GFLOP/s of all of them together, every product checked."""
    flops = [2 * m * n * k for m, n, k in GEMM_SHAPES]

    def rate(blocking):
        _kernels.set_gemm_blocking(blocking["kc"], blocking["mc_tiles"])
        runs = [measure_gemm(*shape, dtype="float32", threads=threads) for shape in GEMM_SHAPES]
        return sum(flops) / sum(f / r.median_gflops for f, r in zip(flops, runs))

    variants = [{"kc": kc, "mc_tiles": mc} for kc in GEMM_KC for mc in GEMM_MC_TILES]
    results = _alternating(variants, rate, "gflops")
    choice = _shape(_fastest(results, "gflops"), ("kc", "mc_tiles"))
    _kernels.set_gemm_blocking(**choice)
    return {"choice": choice, "shapes": [list(s) for s in GEMM_SHAPES], "variants": results}


def load(path: str, key: dict):
    """The stored choice at path if it is for this key, else None."""
    try:
        with open(path) as f:
            profile = json.load(f)
    except (OSError, ValueError):
        return None
    return profile if isinstance(profile, dict) and profile.get("key") == key \
        and profile.get("schema") == SCHEMA else None


def store(profile: dict) -> str:
    path = cache_path(profile["key"])
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the tuning cache {os.path.dirname(path)}: {error.strerror} "
                         f"(set BWBENCH_CACHE, or --no-tune)") from None
    with atomic_write(path) as f:
        json.dump(profile, f, indent=1)
    return path


def apply(profile: dict, source: str, path: str = None) -> None:
    """Sets a choice in the C core and notes it for provenance."""
    _kernels.set_read_shape(**profile["read"]["choice"])
    _kernels.set_gemm_blocking(**profile["gemm"]["choice"])
    for fmt, entry in profile["gemv"].items():
        for path_isa, shape in entry["by_isa"].items():
            _kernels.set_gemv_shape(fmt, path_isa, shape["streams"], shape["prefetch"], shape["chunk"])
    choices.note_shapes({"source": source, "file": path, "tuned": profile["date"], "threads": profile["threads"]},
                        {fmt: entry["isa"] for fmt, entry in profile["gemv"].items()})


def apply_stored() -> bool:
    """Sets this host's stored choice, if there is one (nothing is measured)."""
    key = host_key()
    profile = load(cache_path(key), key)
    if profile is not None:
        apply(profile, "cache", cache_path(key))
    return profile is not None


def ensure(threads: int = None, say=print) -> dict:
    """This host's stored choice, or a new one made now (say() tells the user it is being made)."""
    key = host_key()
    path = cache_path(key)
    profile = load(path, key)
    if profile is None:
        say("bwbench: tuning the kernels to this CPU (once per CPU, features and bwbench version; "
            "--no-tune skips it) ...")
        profile = tune(threads or available_cpus())
        path = store(profile)
        apply(profile, "tuned", path)
    else:
        apply(profile, "cache", path)
    return profile
