"""The C core under AddressSanitizer and UndefinedBehaviorSanitizer: second,
small builds of src_c/ with the C drivers in tests/c/ (the Python extension's
build is untouched). Any sanitizer report aborts a driver, so its test fails
on it. test_kernels.c runs every entry point on this CPU's instruction sets;
test_avx512.c runs the AVX-512 GEMV kernels under SIMDe's portable
intrinsics (Debian's libsimde-dev), so they are checked on any CPU. About
30 s of compiling."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNELS = ("common", "stream", "mix", "clock", "flops", "latency", "gemm", "quant", "quant_avx512", "infer")
FLAGS = ["-std=c11", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
         "-g", "-O1", "-fopenmp", "-ffp-contract=off"]
SIMDE = "/usr/include/simde/x86/avx512.h"

pytestmark = pytest.mark.slow


def build_and_run(tmp_path, driver: str, kernels, flags=()):
    """Builds tests/c/<driver>.c with src_c/<kernels>.c under the sanitizers and runs it."""
    binary = tmp_path / driver
    sources = [os.path.join(ROOT, "src_c", f"{name}.c") for name in kernels]
    sources.append(os.path.join(ROOT, "tests", "c", f"{driver}.c"))
    built = subprocess.run(["gcc", *FLAGS, *flags, "-I", os.path.join(ROOT, "src_c"), *sources, "-lm",
                            "-o", str(binary)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=98"}
    done = subprocess.run([str(binary)], capture_output=True, text=True, env=env, timeout=300)
    report = done.stdout[-3000:] + done.stderr[-6000:]
    assert done.returncode == 0, report
    assert "runtime error" not in done.stderr and "Sanitizer" not in done.stderr, report
    assert done.stdout.strip().endswith("ok: 0 failure(s)")


def test_c_kernels_are_clean_under_asan_and_ubsan(tmp_path):
    build_and_run(tmp_path, "test_kernels", KERNELS)


@pytest.mark.skipif(not os.path.exists(SIMDE), reason="needs SIMDe: apt-get install libsimde-dev")
def test_avx512_kernels_match_the_generic_gemv_under_simde(tmp_path):
    build_and_run(tmp_path, "test_avx512", ("common", "quant", "quant_avx512"), ["-DBW_SIMDE"])
