"""Builds bwbench's C kernels (src_c/) and their thin Cython wrapper with OpenMP.

No -march flag: every SIMD variant is compiled into one portable build and the
widest one the CPU supports is chosen at run time (src_c/simd_begin.h)."""
from Cython.Build import cythonize
from setuptools import Extension, setup

# -ffp-contract=off: a multiply and an add stay two instructions unless a kernel
# asks for an FMA, so the "SIMD without FMA" ceiling means what it says.
CFLAGS = ["-O3", "-fopenmp", "-fno-strict-aliasing", "-ffp-contract=off"]

kernels = Extension(
    "bwbench._kernels",
    sources=["bwbench/_kernels.pyx", "src_c/common.c", "src_c/stream.c", "src_c/flops.c",
             "src_c/latency.c", "src_c/clock.c", "src_c/mix.c", "src_c/gemm.c", "src_c/infer.c",
             "src_c/quant.c", "src_c/quant_avx512.c"],
    depends=["src_c/bwbench.h", "src_c/simd_begin.h", "src_c/simd_end.h", "src_c/stream_isa.h",
             "src_c/flops_isa.h", "src_c/mix_isa.h", "src_c/gemm_isa.h", "src_c/gemv_kernels.h", "src_c/q4_K_scales.h", "src_c/infer_elementwise.h"],
    include_dirs=["src_c"],
    extra_compile_args=CFLAGS,
    extra_link_args=["-fopenmp", "-lm"],
    define_macros=[("BW_CFLAGS", '"%s"' % " ".join(CFLAGS))],
)

setup(ext_modules=cythonize([kernels], compiler_directives={"language_level": 3}))
