"""The C core under AddressSanitizer and UndefinedBehaviorSanitizer: a second,
small build of src_c/ with the C driver tests/c/test_kernels.c (the Python
extension's build is untouched). Any sanitizer report aborts the driver, so
this test fails on it. About 15 s of compiling."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNELS = ("common", "stream", "flops", "latency", "gemm", "quant", "infer")   # what the driver exercises
FLAGS = ["-std=c11", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
         "-g", "-O1", "-fopenmp", "-ffp-contract=off"]

pytestmark = pytest.mark.slow


def test_c_kernels_are_clean_under_asan_and_ubsan(tmp_path):
    driver = tmp_path / "test_kernels"
    sources = [os.path.join(ROOT, "src_c", f"{name}.c") for name in KERNELS]
    sources.append(os.path.join(ROOT, "tests", "c", "test_kernels.c"))
    built = subprocess.run(["gcc", *FLAGS, "-I", os.path.join(ROOT, "src_c"), *sources, "-lm", "-o", str(driver)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=98"}
    done = subprocess.run([str(driver)], capture_output=True, text=True, env=env, timeout=300)
    report = done.stdout[-3000:] + done.stderr[-6000:]
    assert done.returncode == 0, report
    assert "runtime error" not in done.stderr and "Sanitizer" not in done.stderr, report
    assert done.stdout.strip().endswith("ok: 0 failure(s)")
