"""GEMM GFLOP/s at points of the transformer-projection sweep, GEMV GB/s.

Measured once per asv process in setup_cache through the public API (timing
in C, results validated against numpy); higher is better, so asv.conf.json
turns regression detection off for these tracks."""
from bwbench.gemm import measure_gemm, measure_gemv
from bwbench.machine import available_cpus
from bwbench.units import parse_shape

THREADS = sorted({1, available_cpus()})
GEMM_SHAPES = ["1024x16x1024", "1024x256x1024", "2048x2048x2048"]  # M x N x K: N tokens
DTYPES = ["float64", "float32"]


class Gemm:
    params = (GEMM_SHAPES, DTYPES, THREADS)
    param_names = ["shape", "dtype", "threads"]
    timeout = 600

    def setup_cache(self):
        return {(shape, dtype, threads): measure_gemm(*parse_shape(shape, 3), dtype, threads).gflops
                for shape in GEMM_SHAPES for dtype in DTYPES for threads in THREADS}

    def track_gflops(self, gflops, shape, dtype, threads):
        return gflops[shape, dtype, threads]

    track_gflops.unit = "GFLOP/s"


class Gemv:
    params = (["regular", "transposed"], DTYPES, THREADS)
    param_names = ["variant", "dtype", "threads"]
    timeout = 300

    def setup_cache(self):
        # 8192 x 4096 float64 is 256 MiB: DRAM-sized on hosts with up to 64 MiB of last-level cache
        return {(variant, dtype, threads): measure_gemv(8192, 4096, variant == "transposed", dtype, threads).gbps
                for variant in ("regular", "transposed") for dtype in DTYPES for threads in THREADS}

    def track_gbps(self, gbps, variant, dtype, threads):
        return gbps[variant, dtype, threads]

    track_gbps.unit = "GB/s"
