"""The core clock under load and the FMA ceilings as a fraction of the
theoretical peak it gives (bwbench.clock), measured once per asv process on
every CPU of the default placement."""
from bwbench.clock import host_peak


class ClockAndPeak:
    timeout = 120

    def setup_cache(self):
        _, peak = host_peak()
        return peak

    def track_ghz(self, peak):
        return peak["ghz"]

    track_ghz.unit = "GHz"

    def track_fma_fraction(self, peak, dtype):
        return next(f["fraction"] for f in peak["fractions"] if f["dtype"] == dtype)

    track_fma_fraction.params = ["float64", "float32"]
    track_fma_fraction.param_names = ["dtype"]
    track_fma_fraction.unit = "fraction"
