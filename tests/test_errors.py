"""One error boundary: every C error code raises one exception type, every
array-taking wrapper refuses a wrong shape or dtype before C sees it, and the
command line turns each into one line and its documented exit status."""
import os
import subprocess
import sys

import numpy as np
import pytest

from bwbench import _kernels, cli, errors
from conftest import CORES, ISAS, aligned

MIN_S = 1e-4


def test_each_c_error_code_has_its_own_exception_type():
    kinds = {code: kind for code, (kind, _) in _kernels._ERRORS.items()}
    assert len(set(kinds.values())) == len(kinds) == 5
    for code, kind in kinds.items():
        with pytest.raises(kind):
            _kernels._check(code)
    _kernels._check(0)


def test_an_unknown_c_error_code_raises():
    with pytest.raises(errors.KernelError, match="unknown error code -77"):
        _kernels._check(-77)


@pytest.mark.parametrize("call, kind", [
    (lambda: _kernels.stream_measure("copy", False, ISAS[-1], 0, 1, 10, MIN_S), errors.ArgumentError),
    (lambda: _kernels.stream_measure("copy", False, ISAS[-1], 2**62, 1, 10, MIN_S), errors.ArgumentError),
    (lambda: _kernels.stream_measure("copy", False, ISAS[-1], 2**58, 1, 10, MIN_S), errors.OutOfMemoryError),
    (lambda: _kernels.ladder_measure(ISAS[-1], 2, 0, 1, 10, MIN_S), errors.ArgumentError),
    (lambda: _kernels.ladder_measure(ISAS[-1], 0, 64, 1, 10, MIN_S), errors.ArgumentError),
    (lambda: _kernels.chase_measure(64, 16, 10, MIN_S), errors.ArgumentError),
    (lambda: _kernels.chase_measure(2**62, 16, 10, MIN_S), errors.OutOfMemoryError),
    (lambda: _kernels.stream_measure("load", True, ISAS[-1], 64, 1, 10, MIN_S), errors.UnsupportedError),
    (lambda: _kernels.stream_measure("copy", False, ISAS[-1], 64, CORES + 1, 10, MIN_S), errors.ThreadsError),
])
def test_c_refusals_raise_the_type_of_their_cause(call, kind):
    with pytest.raises(kind):
        call()


def test_a_cpu_outside_the_affinity_mask_is_an_affinity_error():
    outside = max(os.sched_getaffinity(0)) + 1
    try:
        _kernels.set_cpus([outside])
        with pytest.raises(errors.AffinityError):
            _kernels.stream_measure("copy", False, ISAS[-1], 64, 1, 10, MIN_S)
    finally:
        _kernels.set_cpus(sorted(os.sched_getaffinity(0)))


def matrices(dtype=np.float64, m=4, n=3, k=5):
    return np.ones((m, k), dtype), np.ones((k, n), dtype), np.zeros((m, n), dtype)


@pytest.mark.parametrize("call", [
    lambda a, b, c: _kernels.gemm_apply(ISAS[-1], a, b[:-1], c, 1),                # inner sizes differ
    lambda a, b, c: _kernels.gemm_apply(ISAS[-1], a, b, c[:, :-1], 1),             # c too small
    lambda a, b, c: _kernels.gemm_apply(ISAS[-1], a, b.astype(np.float32), c, 1),  # mixed dtypes
    lambda a, b, c: _kernels.gemm_apply(ISAS[-1], a.astype(np.int64), b, c, 1),    # not a float
    lambda a, b, c: _kernels.gemm_apply(ISAS[-1], a, b, np.zeros((3, 4)).T, 1),    # not C-contiguous
    lambda a, b, c: _kernels.gemm_apply(ISAS[-1], a, b[0], c, 1),                  # a vector for a matrix
    lambda a, b, c: _kernels.gemm_measure(ISAS[-1], a, b[:-1], c, 1, 10, MIN_S),
    lambda a, b, c: _kernels.gemv_apply(ISAS[-1], False, a, np.ones(4), np.zeros(4), 1),  # x needs 5
    lambda a, b, c: _kernels.gemv_apply(ISAS[-1], True, a, np.ones(4), np.zeros(4), 1),   # y needs 5
    lambda a, b, c: _kernels.gemv_measure(ISAS[-1], False, a, np.ones(5, np.float32), np.zeros(4), 1, 10, MIN_S),
    lambda a, b, c: _kernels.stream_fill(aligned(np.ones(8)), aligned(np.ones(16)), None, ISAS[-1], 1),
    lambda a, b, c: _kernels.stream_apply("add", False, ISAS[-1], aligned(np.ones(16)), aligned(np.ones(16)),
                                          aligned(np.ones(15)), 3.0, 1),
    lambda a, b, c: _kernels.stream_check("copy", aligned(np.ones(8)), 3.0, 16, 0.0),
    lambda a, b, c: _kernels.stream_apply("copy", False, ISAS[-1], np.ones(16, np.float32), aligned(np.ones(16)),
                                          None, 3.0, 1),
    lambda a, b, c: _kernels.stream_measure("copy", False, ISAS[-1], 64, 1, 0, MIN_S),   # no samples
])
def test_wrong_shapes_and_dtypes_never_reach_c(call):
    with pytest.raises(errors.ArgumentError):
        call(*matrices())


def test_right_shapes_pass_the_checks():
    a, b, c = matrices()
    _kernels.gemm_apply(ISAS[-1], a, b, c, 1)
    np.testing.assert_array_equal(c, a @ b)
    y = np.zeros(5)
    _kernels.gemv_apply(ISAS[-1], True, a, np.ones(4), y, 1)
    np.testing.assert_array_equal(y, a.T @ np.ones(4))


def one_line(done, status):
    assert done.returncode == status, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    return done.stderr


@pytest.mark.skipif(CORES < 2, reason="needs two CPUs")
def test_a_thread_limit_below_the_threads_asked_is_a_usage_error(tmp_path):
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    path = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "bwbench", "stream", "--threads", "2", "--size", "48KiB",
                           "--json", str(path)], capture_output=True, text=True, env=env)
    assert "OMP_THREAD_LIMIT" in one_line(done, 2)
    assert not path.exists()
    # C refuses too when Python's check is bypassed: OpenMP starting fewer threads is ETHREADS
    code = ("from bwbench import _kernels, errors\n"
            "try:\n    _kernels.stream_measure('copy', False, _kernels.best_isa(), 64, 2, 10, 1e-4)\n"
            "except errors.ThreadsError:\n    print('refused')")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout == "refused\n"


def raising(error):
    def measure(*args, **kwargs):
        raise error
    return measure


@pytest.mark.parametrize("error, status", [
    (errors.ThreadsError("no threads"), 2), (errors.OutOfMemoryError("no memory"), 2),
    (errors.UnsupportedError("no avx"), 2), (errors.ArgumentError("zero"), 2), (errors.AffinityError("pin"), 2),
    (errors.ValidationError("3 wrong"), 1), (errors.KernelError("unknown error code -9"), 3),
])
def test_the_cli_gives_every_kind_one_line_and_its_exit_status(error, status, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli, "measure_stream", raising(error))
    path = tmp_path / "r.json"
    assert cli.main(["stream", "--kernels", "copy", "--threads", "1", "--size", "48KiB", "--json", str(path)]) == status
    err = capsys.readouterr().err
    assert str(error) in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_the_ladder_and_the_inference_engine_check_dtypes_before_c():
    with pytest.raises(errors.ArgumentError):
        _kernels.ladder_apply(ISAS[-1], 2, np.ones(16, np.float32), 1)
    from test_inference import TINY, build
    cfg = TINY["gpt2"]
    engine, _ = build(cfg)
    seconds = np.zeros(_kernels.INFER_OPS)
    for x, secs, tokens in ((np.zeros((1, cfg.d)), seconds, None),                       # float64 hidden states
                            (np.zeros((1, cfg.d), np.float32), seconds.astype(np.float32), None),
                            (np.zeros((1, cfg.d), np.float32), seconds, np.zeros(1, np.int64))):
        with pytest.raises(errors.ArgumentError):
            engine.run(1, True, tokens, x, 0, False, None, secs)


def test_timing_a_library_on_cpus_it_may_not_use_is_an_affinity_error():
    from bwbench import timing
    outside = max(os.sched_getaffinity(0)) + 1
    before = os.sched_getaffinity(0)
    with pytest.raises(errors.AffinityError):
        with timing.pinned([outside]):
            pass
    assert os.sched_getaffinity(0) == before
