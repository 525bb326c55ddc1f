"""bwbench: memory-bandwidth, FLOP and roofline micro-benchmarks for CPUs.

The public API: measure_stream() returns a validated Measurement; machine_info()
describes the host; write_result() and read_result() handle the result JSON.
"""
from bwbench.errors import UsageError, ValidationError
from bwbench.machine import machine_info
from bwbench.measure import Measurement
from bwbench.results import read_result, write_result
from bwbench.stream import STREAM_KERNELS, default_stream_size, measure_stream

from bwbench.provenance import version

__version__ = version()   # from the package metadata: pyproject.toml is the one copy
__all__ = ["Measurement", "STREAM_KERNELS", "UsageError", "ValidationError", "default_stream_size",
           "machine_info", "measure_stream", "read_result", "write_result"]
