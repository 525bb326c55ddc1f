import os

import numpy as np
import pytest

from bwbench import _kernels

CORES = len(os.sched_getaffinity(0))
THREADS = [1, 2] if CORES >= 2 else [1]
ISAS = [isa for isa in _kernels.ISAS if _kernels.isa_supported(isa)]


def aligned(values) -> np.ndarray:
    """A float64 copy of values whose data starts on a 64-byte boundary, as the kernels need."""
    values = np.asarray(values, dtype=np.float64)
    raw = np.empty(values.size + 8)
    start = (-raw.ctypes.data % 64) // 8
    out = raw[start:start + values.size]
    out[:] = values
    return out


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
