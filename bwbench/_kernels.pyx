# cython: language_level=3, boundscheck=False, wraparound=False
"""Thin wrappers over the C core (src_c/bwbench.h): arrays in, timings out.

Kernel and ISA names map to the C enums by position in KERNELS and ISAS.
"""
import numpy as np

cdef extern from "bwbench.h" nogil:
    ctypedef struct bw_stream_ctx:
        double *a
        const double *b
        const double *c
        double s
        size_t n
        double *partial

    int BW_ENOMEM, BW_ETHREADS, BW_EUNSUPPORTED, BW_EARGS
    int bw_best_isa()
    int bw_isa_supported(int isa)
    const char *bw_compiler()
    const char *bw_cflags()
    void bw_stream_fill(double *a, double *b, double *c, size_t n, int isa, int threads)
    size_t bw_stream_check(int kernel, const double *a, double s, size_t n, double sum)
    int bw_stream_apply(int kernel, int nt, int isa, bw_stream_ctx *ctx, int threads, double *sum)
    int bw_stream_measure(int kernel, int nt, int isa, size_t n, int threads, int ntimes,
                          double min_sample_s, double *samples, int *cpus,
                          long *reps, size_t *bad)

KERNELS = ("load", "copy", "scale", "add", "triad")
ISAS = ("generic", "sse2", "avx2", "avx512")


def best_isa():
    return ISAS[bw_best_isa()]


def isa_supported(str isa):
    return bool(bw_isa_supported(ISAS.index(isa)))


def compiler():
    return bw_compiler().decode()


def cflags():
    return bw_cflags().decode()


cdef _check(int err):
    if err == BW_ENOMEM:
        raise MemoryError("bwbench: could not allocate the arrays")
    if err == BW_ETHREADS:
        raise RuntimeError("bwbench: OpenMP did not start the requested number of threads")
    if err == BW_EUNSUPPORTED:
        raise ValueError("bwbench: kernel, variant or ISA not supported on this host")
    if err == BW_EARGS:
        raise ValueError("bwbench: the kernel is missing an array it reads or writes")


cdef double *_ptr(double[::1] x):
    """Address of a 64-byte aligned array, or NULL for None or empty."""
    if x is None or x.shape[0] == 0:
        return NULL
    if <size_t>&x[0] % 64:
        raise ValueError("bwbench: arrays must be 64-byte aligned")
    return &x[0]


def stream_fill(double[::1] a, double[::1] b, double[::1] c, str isa, int threads):
    """Writes the validation pattern (a = -1) into the arrays that are not None."""
    cdef size_t n = b.shape[0]
    bw_stream_fill(_ptr(a), _ptr(b), _ptr(c), n, ISAS.index(isa), threads)


def stream_check(str kernel, double[::1] a, double s, size_t n, double total):
    """Number of wrong elements of a (load: 1 if total is wrong) against the pattern."""
    return bw_stream_check(KERNELS.index(kernel), _ptr(a), s, n, total)


def stream_apply(str kernel, bint nt, str isa, double[::1] a, double[::1] b,
                 double[::1] c, double s, int threads):
    """Runs one kernel once on caller's arrays; returns load's sum (else 0)."""
    cdef bw_stream_ctx ctx
    cdef double total = 0.0
    cdef int k = KERNELS.index(kernel), i = ISAS.index(isa), err
    n = b.shape[0]
    if (a is not None and a.shape[0] != n) or (c is not None and c.shape[0] != n):
        raise ValueError("bwbench: arrays differ in length")
    ctx.a, ctx.b, ctx.c, ctx.s, ctx.n = _ptr(a), _ptr(b), _ptr(c), s, n
    with nogil:
        err = bw_stream_apply(k, nt, i, &ctx, threads, &total)
    _check(err)
    return total


def stream_measure(str kernel, bint nt, str isa, size_t n, int threads, int ntimes,
                   double min_sample_s):
    """Allocates, first-touches, times and validates a kernel in C.

    Returns (samples_s, cpus, reps_per_sample, wrong_elements)."""
    samples = np.zeros(ntimes)
    cpus = np.zeros(threads, dtype=np.intc)
    cdef double[::1] s_view = samples
    cdef int[::1] c_view = cpus
    cdef long reps = 0
    cdef size_t bad = 0
    cdef int k = KERNELS.index(kernel), i = ISAS.index(isa), err
    with nogil:
        err = bw_stream_measure(k, nt, i, n, threads, ntimes, min_sample_s,
                                &s_view[0], &c_view[0], &reps, &bad)
    _check(err)
    return samples, cpus.tolist(), reps, bad
