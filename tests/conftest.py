import json
import os

import numpy as np
import pytest

from bwbench import _kernels, results, schema

# Measuring commands use the built-in kernel shapes: tuning times variants at
# DRAM size (minutes on a large last-level cache); tests/test_tune.py tests it small.
os.environ["BWBENCH_NO_TUNE"] = "1"

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


@pytest.fixture(autouse=True, scope="session")
def schema_checked_results():
    """Every result document any test writes (through results.write_document,
    the one writer) is validated against the bwbench/1 schema first, as a
    reader would load it: a document that does not follow it fails the test."""
    write = results.write_document

    def validated(path, document):
        schema.validate(json.loads(json.dumps(document)))
        write(path, document)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(results, "write_document", validated)
        yield
