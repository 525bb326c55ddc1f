"""GEMV with weights in each format (llama.cpp's layouts): DRAM-sized
(4x the last-level cache of weights) and cache-sized (half of it), weight
GB/s and GFLOP/s, through bwbench.quant's public API; and each format's
unpack roof as `python -m bwbench quant` measures it (bwbench.quant_roofline)."""
from bwbench import quant, quant_roofline
from bwbench.machine import available_cpus, last_level_cache_bytes

COLS = 4096


def _gemv(fmt, where):
    weights = last_level_cache_bytes() * (4 if where == "DRAM" else 0.5)
    rows = int(weights // quant.row_bytes(fmt, COLS))
    return quant.measure_gemv(rows, COLS, fmt, available_cpus())


class QuantGemv:
    params = (list(quant.FORMATS), ["L3", "DRAM"])
    param_names = ["format", "weights in"]
    timeout = 900   # seven formats, each quantised from float32 at 4x the last-level cache

    def setup_cache(self):
        return {(fmt, where): _gemv(fmt, where) for fmt in quant.FORMATS for where in ("L3", "DRAM")}

    def track_weight_gbps(self, measured, fmt, where):
        return quant.weight_gbps(measured[fmt, where])

    track_weight_gbps.unit = "GB/s"

    def track_gflops(self, measured, fmt, where):
        return measured[fmt, where].gflops

    track_gflops.unit = "GFLOP/s"


class QuantUnpackRoof:
    """The best in-cache GEMV GFLOP/s of each format (f32 included): the
    quant command's cache levels only, so it takes seconds."""
    params = list(quant_roofline.FORMATS)
    param_names = ["format"]
    timeout = 300

    def setup_cache(self):
        threads, model = available_cpus(), "tinyllama-1.1b"
        sizes = {level: size for level, size in quant_roofline.level_sizes(threads).items() if level != "DRAM"}
        points = quant_roofline.plan(sizes)
        runs = [quant_roofline.measure_point(point, threads) for point in points]
        return quant_roofline.section(points, runs, model, quant_roofline.decode_weight_bytes(model), threads)

    def track_unpack_gflops(self, result, fmt):
        return result["formats"][fmt]["unpack_gflops"]

    track_unpack_gflops.unit = "GFLOP/s"
