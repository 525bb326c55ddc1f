"""The roofline's ceilings: memory bandwidth per level and peak GFLOP/s.

setup_cache measures one quick roofline at all threads through the public API
(bwbench.ceilings), once per asv process; the track_ methods read it. All are
higher-is-better, so asv.conf.json turns regression detection off for them.
`roofline --from-asv` finds these tracks by their parameters and units
(bwbench.asv_results.ROLES), not by their names."""
from bwbench.ceilings import build_roofline, roofline_plan
from bwbench.machine import available_cpus
from bwbench.roofline import MEMORY_LEVELS


class RooflineCeilings:
    timeout = 300

    def setup_cache(self):
        threads = available_cpus()
        return build_roofline([step.run() for step in roofline_plan(threads, quick=True)], threads)

    def track_gbps(self, roofline, level):
        return roofline.bandwidth(level)

    track_gbps.params = list(MEMORY_LEVELS)
    track_gbps.param_names = ["level"]
    track_gbps.unit = "GB/s"

    def track_gflops(self, roofline, dtype):
        return roofline.peak(dtype)

    track_gflops.params = ["float64", "float32"]
    track_gflops.param_names = ["dtype"]
    track_gflops.unit = "GFLOP/s"

    def track_threads(self, roofline):
        """The thread count the ceilings above were measured at."""
        return roofline.threads

    track_threads.unit = "threads"
