"""DRAM latency at the two ends of the loaded-latency curve (bwbench.loaded_latency),
one thread chasing and the others reading, measured once per asv process."""
from bwbench.loaded_latency import measure_loaded
from bwbench.machine import available_cpus

ENDS = ["saturated", "idle"]


class LoadedLatency:
    params = ENDS
    param_names = ["end"]
    timeout = 300

    def setup_cache(self):
        if available_cpus() < 2:
            return None
        points = measure_loaded(delays=(0, None))
        return {"saturated": points[0]["latency_ns"], "idle": points[-1]["latency_ns"]}

    def setup(self, latency, end):
        if latency is None:
            raise NotImplementedError("one thread chases and another loads: needs two CPUs")

    def track_latency_ns(self, latency, end):
        return latency[end]

    track_latency_ns.unit = "ns"
