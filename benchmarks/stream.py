"""STREAM bandwidth at DRAM size, by kernel, store variant and threads.

Each figure is measured once per asv process, in setup_cache, through the
public API (timing is in C; asv only records the values). track_gbps is the
headline figure (higher is better, so asv's regression detection is off for
it in asv.conf.json); track_ns_per_byte is its lower-is-better twin for
`asv continuous`: 1 / GB/s, in nanoseconds per byte."""
from bwbench import STREAM_KERNELS, measure_stream
from bwbench.machine import available_cpus

THREADS = sorted({1, available_cpus()})
VARIANTS = ["regular", "nt"]


class StreamBandwidth:
    params = (list(STREAM_KERNELS), VARIANTS, THREADS)
    param_names = ["kernel", "variant", "threads"]
    timeout = 300

    def setup_cache(self):
        return {(kernel, variant, threads): measure_stream(kernel, variant, threads).gbps
                for kernel, spec in STREAM_KERNELS.items() for variant in spec.variants()
                for threads in THREADS}

    def setup(self, gbps, kernel, variant, threads):
        if (kernel, variant, threads) not in gbps:
            raise NotImplementedError(f"{kernel} has no {variant} variant")

    def track_gbps(self, gbps, kernel, variant, threads):
        return gbps[kernel, variant, threads]

    track_gbps.unit = "GB/s"

    def track_ns_per_byte(self, gbps, kernel, variant, threads):
        return 1.0 / gbps[kernel, variant, threads]

    track_ns_per_byte.unit = "ns/B"
