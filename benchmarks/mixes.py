"""Read/write mixes at DRAM size, regular stores, all threads (bwbench.mixes),
measured once per asv process: MLC's all reads, 3:1, 2:1 and 1:1."""
from bwbench.mixes import measure_mix, parse_mix

MIXES = ["1:0", "3:1", "2:1", "1:1"]


class ReadWriteMixes:
    params = MIXES
    param_names = ["mix"]
    timeout = 300

    def setup_cache(self):
        return {mix: measure_mix(parse_mix(mix)).gbps for mix in MIXES}

    def track_mix_gbps(self, gbps, mix):
        return gbps[mix]

    track_mix_gbps.unit = "GB/s"
