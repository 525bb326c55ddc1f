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
    int bw_peak_measure(int isa, int fma, int float32, int threads, int ntimes,
                        double min_sample_s, double *samples, int *cpus,
                        long *reps, double *flops_per_rep, size_t *bad)
    int bw_ladder_apply(int isa, int flops, double *a, size_t n, int threads)
    int bw_ladder_measure(int isa, int flops, size_t n, int threads, int ntimes,
                          double min_sample_s, double *samples, int *cpus,
                          long *reps, size_t *bad)
    int bw_chase_measure(size_t bytes, size_t steps, int ntimes, double min_sample_s,
                         double *samples, int *cpus, long *reps, size_t *bad)
    int bw_gemm_apply(int isa, int f32, size_t m, size_t n, size_t k, const void *a,
                      const void *b, void *c, int threads)
    int bw_gemm_measure(int isa, int f32, size_t m, size_t n, size_t k, const void *a,
                        const void *b, void *c, int threads, int ntimes, double min_sample_s,
                        double *samples, int *cpus, long *reps)
    int bw_gemv_apply(int isa, int f32, int trans, size_t m, size_t n, const void *a,
                      const void *x, void *y, int threads)
    int bw_gemv_measure(int isa, int f32, int trans, size_t m, size_t n, const void *a,
                        const void *x, void *y, int threads, int ntimes, double min_sample_s,
                        double *samples, int *cpus, long *reps)

ctypedef fused real:
    float
    double

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


cdef class _Timing:
    """The buffers a C measuring function fills: samples, CPUs, reps, wrong results."""
    cdef object samples, cpus
    cdef double[::1] s
    cdef int[::1] c
    cdef long reps
    cdef size_t bad

    def __init__(self, int ntimes, int threads):
        self.samples, self.cpus = np.zeros(ntimes), np.zeros(threads, dtype=np.intc)
        self.s, self.c = self.samples, self.cpus

    cdef result(self, int err):
        """(samples_s, cpus, reps_per_sample, wrong_results), or the C error raised."""
        _check(err)
        return self.samples, self.cpus.tolist(), self.reps, self.bad


def stream_measure(str kernel, bint nt, str isa, size_t n, int threads, int ntimes,
                   double min_sample_s):
    """Allocates, first-touches, times and validates a STREAM kernel in C."""
    cdef _Timing t = _Timing(ntimes, threads)
    cdef int k = KERNELS.index(kernel), i = ISAS.index(isa), err
    with nogil:
        err = bw_stream_measure(k, nt, i, n, threads, ntimes, min_sample_s,
                                &t.s[0], &t.c[0], &t.reps, &t.bad)
    return t.result(err)


def peak_measure(str isa, bint fma, bint float32, int threads, int ntimes, double min_sample_s):
    """Peak FLOP/s in registers; returns stream_measure's tuple plus FLOPs per repetition."""
    cdef _Timing t = _Timing(ntimes, threads)
    cdef int i = ISAS.index(isa), err
    cdef double flops = 0.0
    with nogil:
        err = bw_peak_measure(i, fma, float32, threads, ntimes, min_sample_s,
                              &t.s[0], &t.c[0], &t.reps, &flops, &t.bad)
    return t.result(err) + (flops,)


def ladder_apply(str isa, int flops, double[::1] a, int threads):
    """One pass of the intensity-ladder kernel over a, in place."""
    cdef int i = ISAS.index(isa), err
    cdef double *data = _ptr(a)
    with nogil:
        err = bw_ladder_apply(i, flops, data, a.shape[0], threads)
    _check(err)


def ladder_measure(str isa, int flops, size_t n, int threads, int ntimes, double min_sample_s):
    cdef _Timing t = _Timing(ntimes, threads)
    cdef int i = ISAS.index(isa), err
    with nogil:
        err = bw_ladder_measure(i, flops, n, threads, ntimes, min_sample_s,
                                &t.s[0], &t.c[0], &t.reps, &t.bad)
    return t.result(err)


def chase_measure(size_t nbytes, size_t steps, int ntimes, double min_sample_s):
    """Pointer-chase latency on one thread: `steps` dependent loads per repetition."""
    cdef _Timing t = _Timing(ntimes, 1)
    cdef int err
    with nogil:
        err = bw_chase_measure(nbytes, steps, ntimes, min_sample_s,
                               &t.s[0], &t.c[0], &t.reps, &t.bad)
    return t.result(err)


def gemm_apply(str isa, real[:, ::1] a, real[:, ::1] b, real[:, ::1] c, int threads):
    """c = a @ b once (shapes checked by the caller)."""
    cdef int i = ISAS.index(isa), err
    with nogil:
        err = bw_gemm_apply(i, real is float, a.shape[0], b.shape[1], a.shape[1],
                            &a[0, 0], &b[0, 0], &c[0, 0], threads)
    _check(err)


def gemm_measure(str isa, real[:, ::1] a, real[:, ::1] b, real[:, ::1] c, int threads,
                 int ntimes, double min_sample_s):
    """Times c = a @ b in C; the caller validates c. Returns stream_measure's tuple."""
    cdef _Timing t = _Timing(ntimes, threads)
    cdef int i = ISAS.index(isa), err
    with nogil:
        err = bw_gemm_measure(i, real is float, a.shape[0], b.shape[1], a.shape[1],
                              &a[0, 0], &b[0, 0], &c[0, 0], threads, ntimes, min_sample_s,
                              &t.s[0], &t.c[0], &t.reps)
    return t.result(err)


def gemv_apply(str isa, bint trans, real[:, ::1] a, real[::1] x, real[::1] y, int threads):
    """y = a @ x (or a.T @ x) once."""
    cdef int i = ISAS.index(isa), err
    with nogil:
        err = bw_gemv_apply(i, real is float, trans, a.shape[0], a.shape[1],
                            &a[0, 0], &x[0], &y[0], threads)
    _check(err)


def gemv_measure(str isa, bint trans, real[:, ::1] a, real[::1] x, real[::1] y, int threads,
                 int ntimes, double min_sample_s):
    cdef _Timing t = _Timing(ntimes, threads)
    cdef int i = ISAS.index(isa), err
    with nogil:
        err = bw_gemv_measure(i, real is float, trans, a.shape[0], a.shape[1], &a[0, 0],
                              &x[0], &y[0], threads, ntimes, min_sample_s,
                              &t.s[0], &t.c[0], &t.reps)
    return t.result(err)
