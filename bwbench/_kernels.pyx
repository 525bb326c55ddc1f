# cython: language_level=3, boundscheck=False, wraparound=False
"""Thin wrappers over the C core (src_c/bwbench.h): arrays in, timings out.

Kernel and ISA names map to the C enums by position in KERNELS and ISAS.
Every C error code raises one exception type of bwbench.errors (_ERRORS);
an unknown code raises KernelError. Bounds checks are off, so every wrapper
that takes arrays checks their shapes and dtypes (O(1)) before calling C.
"""
import numpy as np

from bwbench.errors import (AffinityError, ArgumentError, KernelError, OutOfMemoryError, ThreadsError,
                            UnsupportedError)

cdef extern from "bwbench.h" nogil:
    ctypedef struct bw_stream_ctx:
        double *a
        const double *b
        const double *c
        double s
        size_t n
        double *partial
        int streams, prefetch
    ctypedef struct bw_read_shape:
        int streams, prefetch

    int BW_ENOMEM, BW_ETHREADS, BW_EUNSUPPORTED, BW_EARGS, BW_EAFFINITY
    int BW_PEAK_ACC, BW_PEAK_OUT
    int bw_best_isa()
    int bw_isa_supported(int isa)
    unsigned bw_cpu_features()
    int bw_set_read_shape(bw_read_shape shape)
    ctypedef struct bw_gemm_blocking:
        size_t kc, mc_tiles
    int bw_set_gemm_blocking(bw_gemm_blocking b)
    bw_gemm_blocking bw_gemm_blocking_now()
    bw_read_shape bw_read_shape_now()
    const char *bw_compiler()
    const char *bw_cflags()
    long bw_hugepage_refusals()
    int bw_set_cpus(const int *cpus, int n)
    int bw_thread_limit()
    int bw_stream_fill(double *a, double *b, double *c, size_t n, int isa, int threads)
    size_t bw_stream_check(int kernel, const double *a, double s, size_t n, double sum)
    int bw_stream_apply(int kernel, int nt, int isa, bw_stream_ctx *ctx, int threads, double *sum)
    int bw_stream_measure(int kernel, int nt, int isa, size_t n, int threads, int ntimes,
                          double min_sample_s, double *samples, int *cpus,
                          long *reps, size_t *bad)
    int bw_stream_measure_placed(int kernel, int nt, int isa, size_t n, int threads, const int *fill_cpus,
                                 int nfill, int ntimes, double min_sample_s, double *samples, int *cpus,
                                 long *reps, size_t *bad)
    int bw_peak_measure(int isa, int fma, int float32, int threads, int ntimes,
                        double min_sample_s, double *samples, int *cpus,
                        long *reps, double *flops_per_rep, size_t *bad)
    size_t bw_peak_check(const double *out, int threads, int lanes, int float32, long steps)
    size_t bw_ladder_check(const double *a, size_t n, int flops)
    int bw_ladder_apply(int isa, int flops, double *a, size_t n, int threads)
    int bw_ladder_measure(int isa, int flops, size_t n, int threads, int ntimes,
                          double min_sample_s, double *samples, int *cpus,
                          long *reps, size_t *bad)
    int bw_chase_measure(size_t bytes, size_t steps, int ntimes, double min_sample_s,
                         double *samples, int *cpus, long *reps, size_t *bad)
    int bw_chase_check(size_t nbytes, size_t loads, size_t end, size_t *bad)
    int BW_CLOCK_ADDS
    int bw_loaded_latency(size_t chase_bytes, size_t array_bytes, int nin, int nout, int threads, const long *delays,
                          int points, size_t steps, int samples, double *chase_s, double *gbps, size_t *bad)
    int bw_mix_measure(int nin, int nout, int inplace, int nt, int isa, size_t n, int threads, int ntimes,
                       double min_sample_s, double *samples, int *cpus, long *reps, size_t *bad)
    int bw_clock_measure(int threads, int ntimes, double min_sample_s, double *samples, int *cpus, long *reps,
                         size_t *bad)
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

KERNELS = ("load", "copy", "scale", "add", "triad", "read")
# bwbench.h's BW_CPU_* bits, in order
CPU_FEATURES = ("sse2", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512vnni",
                "avx512bf16")
ISAS = ("generic", "sse2", "avx2", "avx512")


def best_isa():
    return ISAS[bw_best_isa()]


def isa_supported(str isa):
    return bool(bw_isa_supported(ISAS.index(isa)))


def cpu_features():
    """The CPU features the kernels test (read once by the C core at start-up)."""
    cdef unsigned bits = bw_cpu_features()
    return [name for i, name in enumerate(CPU_FEATURES) if bits >> i & 1]


def set_read_shape(int streams, int prefetch):
    """The read kernel's runs in lockstep (1, 2, 4, 8) and prefetch distance in bytes."""
    cdef bw_read_shape shape
    shape.streams, shape.prefetch = streams, prefetch
    _check(bw_set_read_shape(shape))


def read_shape():
    cdef bw_read_shape shape = bw_read_shape_now()
    return {"streams": shape.streams, "prefetch": shape.prefetch}


def set_gemm_blocking(size_t kc, size_t mc_tiles):
    """The packed GEMM's block depth (a multiple of 16) and rows of A a block, in register tiles.
    Engines made before keep the blocking their weights were packed with."""
    cdef bw_gemm_blocking b
    b.kc, b.mc_tiles = kc, mc_tiles
    _check(bw_set_gemm_blocking(b))


def gemm_blocking():
    cdef bw_gemm_blocking b = bw_gemm_blocking_now()
    return {"kc": b.kc, "mc_tiles": b.mc_tiles}


def compiler():
    return bw_compiler().decode()


def cflags():
    return bw_cflags().decode()


def hugepage_refusals():
    """Large allocations so far whose huge-page advice the kernel refused."""
    return bw_hugepage_refusals()


def thread_limit():
    """The most threads OpenMP starts (OMP_THREAD_LIMIT; very large without one)."""
    return bw_thread_limit()


def set_cpus(cpus):
    """Thread t of every C team runs on cpus[t] (bwbench.machine decides them)."""
    cdef int[::1] plan = np.ascontiguousarray(cpus, dtype=np.intc)
    cdef int dummy = 0
    _check(bw_set_cpus(&plan[0] if plan.shape[0] else &dummy, plan.shape[0]))


_ERRORS = {
    BW_ENOMEM: (OutOfMemoryError, "could not allocate the arrays"),
    BW_ETHREADS: (ThreadsError, "this host cannot run the requested threads (CPUs in the affinity mask, "
                                "OMP_THREAD_LIMIT)"),
    BW_EUNSUPPORTED: (UnsupportedError, "kernel, variant or ISA not supported on this host"),
    BW_EARGS: (ArgumentError, "bad arguments: a size of zero or too large, a thread count out of range, "
                              "or a missing array"),
    BW_EAFFINITY: (AffinityError, "could not pin the threads to their CPUs (sched_setaffinity failed)"),
}


cpdef _check(int err):
    """Raises the exception of a C error code; an unknown code raises KernelError."""
    if err == 0:
        return
    kind, message = _ERRORS.get(err, (KernelError, f"unknown error code {err} from the C core"))
    raise kind(f"bwbench: {message}")


def _expect(bint ok, str what):
    if not ok:
        raise ArgumentError(f"bwbench: {what}")


cdef double *_ptr(double[::1] x):
    """Address of a 64-byte aligned array, or NULL for None or empty."""
    if x is None or x.shape[0] == 0:
        return NULL
    if <size_t>&x[0] % 64:
        raise ArgumentError("bwbench: arrays must be 64-byte aligned")
    return &x[0]


def _vector(x, str name, size_t n):
    """x as a float64 vector of exactly n elements (None stays None)."""
    if x is None:
        return None
    _expect(getattr(x, "dtype", None) == np.float64 and x.ndim == 1 and x.shape[0] == n,
            f"{name} must be a float64 vector of {n} elements")
    return x


def stream_fill(a, b, c, str isa, int threads):
    """Writes the validation pattern (a = -1) into the arrays that are not None."""
    _expect(b is not None, "stream_fill needs b")
    n = b.shape[0]
    cdef double[::1] va = _vector(a, "a", n), vb = _vector(b, "b", n), vc = _vector(c, "c", n)
    _check(bw_stream_fill(_ptr(va), _ptr(vb), _ptr(vc), n, ISAS.index(isa), threads))


def stream_check(str kernel, a, double s, size_t n, double total):
    """Number of wrong elements of a (load: 1 if total is wrong) against the pattern."""
    k = KERNELS.index(kernel)
    cdef bint reads_only = kernel in ("load", "read")
    _expect(reads_only or (a is not None and a.shape[0] >= n), f"a must hold at least {n} elements")
    cdef double[::1] va = _vector(a, "a", a.shape[0]) if not reads_only else None
    return bw_stream_check(k, _ptr(va), s, n, total)


def stream_apply(str kernel, bint nt, str isa, a, b, c, double s, int threads):
    """Runs one kernel once on caller's arrays; returns load's or read's sum (else 0)."""
    cdef bw_stream_ctx ctx
    cdef double total = 0.0
    cdef int k = KERNELS.index(kernel), i = ISAS.index(isa), err
    _expect(b is not None, "the kernel is missing an array it reads or writes")
    n = b.shape[0]
    cdef double[::1] va = _vector(a, "a", n), vb = _vector(b, "b", n), vc = _vector(c, "c", n)
    ctx.a, ctx.b, ctx.c, ctx.s, ctx.n = _ptr(va), _ptr(vb), _ptr(vc), s, n
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
        _expect(ntimes >= 1 and 1 <= threads <= 1024, "at least one sample and 1 to 1024 threads")
        self.samples, self.cpus = np.zeros(ntimes), np.zeros(threads, dtype=np.intc)
        self.s, self.c = self.samples, self.cpus

    cdef result(self, int err):
        """(samples_s, cpus, reps_per_sample, wrong_results), or the C error raised."""
        _check(err)
        return self.samples, self.cpus.tolist(), self.reps, self.bad


def stream_measure(str kernel, bint nt, str isa, size_t n, int threads, int ntimes,
                   double min_sample_s, fill_cpus=None):
    """Allocates, first-touches, times and validates a STREAM kernel in C; with
    fill_cpus, threads pinned to those CPUs first-touch the arrays instead."""
    cdef _Timing t = _Timing(ntimes, threads)
    cdef int k = KERNELS.index(kernel), i = ISAS.index(isa), err
    cdef int[::1] fill = np.ascontiguousarray(fill_cpus if fill_cpus else [0], dtype=np.intc)
    cdef const int *fill_ptr = &fill[0] if fill_cpus else NULL
    cdef int nfill = len(fill_cpus) if fill_cpus else threads
    with nogil:
        err = bw_stream_measure_placed(k, nt, i, n, threads, fill_ptr, nfill, ntimes, min_sample_s,
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


def ladder_apply(str isa, int flops, a, int threads):
    """One pass of the intensity-ladder kernel over a, in place."""
    cdef int i = ISAS.index(isa), err
    cdef double[::1] v = _vector(a, "a", getattr(a, "size", 0))
    cdef double *data = _ptr(v)
    with nogil:
        err = bw_ladder_apply(i, flops, data, v.shape[0], threads)
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


def clock_measure(int threads, int ntimes, double min_sample_s):
    """A chain of dependent integer adds (one cycle each) on every thread; + (adds a repetition,)."""
    cdef _Timing t = _Timing(ntimes, threads)
    cdef int err
    with nogil:
        err = bw_clock_measure(threads, ntimes, min_sample_s, &t.s[0], &t.c[0], &t.reps, &t.bad)
    return t.result(err) + (BW_CLOCK_ADDS,)


def mix_measure(int nin, int nout, bint inplace, bint nt, str isa, size_t n, int threads, int ntimes,
                double min_sample_s):
    """nin arrays read and nout written per element (inplace: the first output is the first input)."""
    cdef _Timing t = _Timing(ntimes, threads)
    cdef int i = ISAS.index(isa), err
    with nogil:
        err = bw_mix_measure(nin, nout, inplace, nt, i, n, threads, ntimes, min_sample_s,
                             &t.s[0], &t.c[0], &t.reps, &t.bad)
    return t.result(err)


def loaded_latency(size_t chase_bytes, size_t array_bytes, int nin, int nout, int threads, delays, size_t steps,
                   int samples):
    """(chase seconds [points x samples], load GB/s [points], wrong ends): thread 0 chases while the others load."""
    cdef long[::1] d = np.ascontiguousarray(delays, dtype=np.int_)
    _expect(d.shape[0] >= 1 and samples >= 1, "at least one delay and one sample")
    seconds, rates = np.zeros((d.shape[0], samples)), np.zeros(d.shape[0])
    cdef double[:, ::1] s = seconds
    cdef double[::1] g = rates
    cdef size_t bad = 0
    cdef int err, points = d.shape[0]
    with nogil:
        err = bw_loaded_latency(chase_bytes, array_bytes, nin, nout, threads, &d[0], points, steps, samples,
                                &s[0, 0], &g[0], &bad)
    _check(err)
    return seconds, rates, bad


def peak_check(values, int threads, int lanes, bint float32, long steps):
    """Wrong lanes of a peak result (threads x BW_PEAK_OUT values) after `steps` steps."""
    _expect(getattr(values, "dtype", None) == np.float64 and values.ndim == 1
            and values.shape[0] == threads * BW_PEAK_OUT and 1 <= lanes <= 16,
            f"values must be float64 of {threads} x {BW_PEAK_OUT}, lanes 1 to 16")
    cdef double[::1] v = values
    return bw_peak_check(&v[0], threads, lanes, float32, steps)


def ladder_check(a, int flops):
    """Elements of a that differ from one ladder pass over the fill pattern."""
    cdef double[::1] v = _vector(a, "a", a.shape[0])
    return bw_ladder_check(&v[0] if v.shape[0] else NULL, v.shape[0], flops)


def chase_check(size_t nbytes, size_t loads, size_t end):
    """1 unless `end` is where `loads` loads from line 0 of the chase's cycle end."""
    cdef size_t bad = 0
    cdef int err
    with nogil:
        err = bw_chase_check(nbytes, loads, end, &bad)
    _check(err)
    return bad


def _gemm_operands(a, b, c):
    """Refuses operands that are not C-contiguous matrices of one float dtype and matching shapes."""
    dtype = getattr(a, "dtype", None)
    _expect(dtype in (np.float32, np.float64), "gemm: operands must be float32 or float64")
    _expect(all(getattr(x, "ndim", 0) == 2 for x in (a, b, c)), "gemm: a, b and c must be matrices")
    (m, k), n = a.shape, b.shape[1]
    for name, x, shape in zip("abc", (a, b, c), ((m, k), (k, n), (m, n))):
        _expect(getattr(x, "dtype", None) == dtype and x.shape == shape and x.flags.c_contiguous,
                f"gemm: {name} must be a C-contiguous {dtype} array of shape {shape}")


def gemm_apply(str isa, a, b, c, int threads):
    """c = a @ b once."""
    _gemm_operands(a, b, c)
    _check(_gemm(ISAS.index(isa), a, b, c, threads, 0, 0.0, None))


def gemm_measure(str isa, a, b, c, int threads, int ntimes, double min_sample_s):
    """Times c = a @ b in C; the caller validates c. Returns stream_measure's tuple."""
    _gemm_operands(a, b, c)
    cdef _Timing t = _Timing(ntimes, threads)
    return t.result(_gemm(ISAS.index(isa), a, b, c, threads, ntimes, min_sample_s, t))


def _gemm(int i, real[:, ::1] a, real[:, ::1] b, real[:, ::1] c, int threads, int ntimes,
         double min_sample_s, _Timing t):
    cdef int err
    if t is None:
        with nogil:
            err = bw_gemm_apply(i, real is float, a.shape[0], b.shape[1], a.shape[1],
                                &a[0, 0], &b[0, 0], &c[0, 0], threads)
        return err
    with nogil:
        err = bw_gemm_measure(i, real is float, a.shape[0], b.shape[1], a.shape[1],
                              &a[0, 0], &b[0, 0], &c[0, 0], threads, ntimes, min_sample_s,
                              &t.s[0], &t.c[0], &t.reps)
    return err


def _gemv_operands(bint trans, a, x, y):
    dtype = getattr(a, "dtype", None)
    _expect(dtype in (np.float32, np.float64) and a.ndim == 2 and a.flags.c_contiguous,
            "gemv: a must be a C-contiguous float32 or float64 matrix")
    rows, cols = a.shape
    for name, v, n in (("x", x, rows if trans else cols), ("y", y, cols if trans else rows)):
        _expect(getattr(v, "dtype", None) == dtype and v.shape == (n,) and v.flags.c_contiguous,
                f"gemv: {name} must be a contiguous {dtype} vector of {n} elements")


def gemv_apply(str isa, bint trans, a, x, y, int threads):
    """y = a @ x (or a.T @ x) once."""
    _gemv_operands(trans, a, x, y)
    _check(_gemv(ISAS.index(isa), trans, a, x, y, threads, 0, 0.0, None))


def gemv_measure(str isa, bint trans, a, x, y, int threads, int ntimes, double min_sample_s):
    _gemv_operands(trans, a, x, y)
    cdef _Timing t = _Timing(ntimes, threads)
    return t.result(_gemv(ISAS.index(isa), trans, a, x, y, threads, ntimes, min_sample_s, t))


def _gemv(int i, bint trans, real[:, ::1] a, real[::1] x, real[::1] y, int threads, int ntimes,
         double min_sample_s, _Timing t):
    cdef int err
    if t is None:
        with nogil:
            err = bw_gemv_apply(i, real is float, trans, a.shape[0], a.shape[1],
                                &a[0, 0], &x[0], &y[0], threads)
        return err
    with nogil:
        err = bw_gemv_measure(i, real is float, trans, a.shape[0], a.shape[1], &a[0, 0],
                              &x[0], &y[0], threads, ntimes, min_sample_s,
                              &t.s[0], &t.c[0], &t.reps)
    return err


cdef extern from "bwbench.h" nogil:
    int bw_interleave(int fmt, const void *w, size_t rows, size_t cols, void *out)
    size_t bw_gemm_prepacked_bytes(int isa, size_t n, size_t k)
    size_t bw_gemm_prepack_f32(int isa, const float *w, size_t n, size_t k, float *out)
    int BW_NOPS, BW_FMT_F32, BW_SMALL_N
    ctypedef struct bw_linear:
        int fmt
        size_t rows, cols
        const void *w
        const float *bias
        const float *packed
    ctypedef struct bw_layer:
        bw_linear q, k, v, o, gate, up, down
        const float *norm1_w, *norm1_b, *norm2_w, *norm2_b, *q_norm_w, *k_norm_w
    ctypedef struct bw_model:
        int arch, act, nlayers
        size_t d, heads, kv_heads, head_dim, d_ff, vocab, max_pos, max_tokens, max_seqs
        float eps, rope_theta
        const float *tok_emb, *pos_emb, *type_emb, *emb_norm_w, *emb_norm_b, *final_norm_w, *final_norm_b
        bw_linear lm_head
        const bw_layer *layers
        size_t packed_kc
    ctypedef struct bw_infer_state:
        pass
    bw_infer_state *bw_infer_new(const bw_model *m)
    void bw_infer_free(bw_infer_state *s)
    void bw_infer_fill(const bw_model *m, bw_infer_state *s, size_t seq0, size_t nseq, size_t depth)
    int bw_infer_generate(const bw_model *m, bw_infer_state *s, int isa, int threads, size_t nseq, int *tokens,
                          size_t *pos, size_t steps, int *out, float *x, double *op_seconds, double *wall)
    int bw_infer_pass(const bw_model *m, bw_infer_state *s, int isa, int threads, int decoder,
                      const int *tokens, size_t ntok, size_t seq0, size_t nseq, const size_t *pos, int embed,
                      int head, float *x,
                      float *logits, int *next, double *op_seconds, double *wall)

from libc.stdlib cimport calloc, free

ARCHS = ("bert", "gpt2", "llama")
ACTIVATIONS = ("gelu", "silu")
INFER_OPS = BW_NOPS
SMALL_N = BW_SMALL_N   # passes of more tokens run the packed GEMM


cdef const float *_f32(object array, size_t size, str what) except? NULL:
    """The data of a C-contiguous float32 array of `size` values; NULL for None."""
    if array is None:
        return NULL
    if not isinstance(array, np.ndarray) or array.dtype != np.float32 or not array.flags.c_contiguous \
            or <size_t>array.size != size:
        raise ArgumentError(f"bwbench: {what} must be a contiguous float32 array of {size} values")
    cdef const float[::1] view = array.reshape(-1)
    return &view[0]


def _check_buffers(object hidden, object seconds):
    """A pass's x (a C-contiguous float32 matrix) and op_seconds (a contiguous float64 vector)."""
    _expect(getattr(hidden, "dtype", None) == np.float32 and hidden.ndim == 2 and hidden.flags.c_contiguous,
            "x must be a C-contiguous float32 matrix")
    _expect(getattr(seconds, "dtype", None) == np.float64 and seconds.ndim == 1 and seconds.flags.c_contiguous,
            "op_seconds must be a contiguous float64 vector")


cdef bw_linear _linear(dict weights, str name, size_t rows, size_t cols, str fmt, list keep, int pack_isa,
                      size_t *packed_kc) except *:
    """A linear layer: float32 (out x in) weights, or uint8 rows in fmt (bwbench.quant;
    weights["formats"][name] where the dict names one, as a model file's mixed
    types do), regrouped into a copy appended to keep. pack_isa >= 0: float32 weights also
    packed for that ISA's GEMM (a pass of many tokens), into a copy appended to
    keep, with the blocking's KC, put in packed_kc."""
    cdef bw_linear l
    cdef unsigned char[:, ::1] out
    cdef float[::1] panels
    fmt = weights.get("formats", {}).get(name, fmt)
    l.rows, l.cols, l.fmt, l.packed = rows, cols, FORMATS.index(fmt), NULL
    if fmt == "f32":
        l.w = _f32(weights[name], rows * cols, name)
        if pack_isa >= 0:
            count = bw_gemm_prepacked_bytes(pack_isa, rows, cols) // 4
            prepacked = np.empty(count + 16, dtype=np.float32)   # the GEMM loads its panels 64-byte aligned
            start = (-prepacked.ctypes.data % 64) // 4
            prepacked = prepacked[start:start + count]
            panels = prepacked
            packed_kc[0] = bw_gemm_prepack_f32(pack_isa, <const float *>l.w, rows, cols, &panels[0])
            keep.append(prepacked)
            l.packed = &panels[0]
    else:
        if _rows_in(fmt, weights[name], cols) != <int>rows:
            raise ArgumentError(f"bwbench: {name} must hold {rows} rows of {cols} {fmt} weights")
        regrouped = interleave(fmt, weights[name], cols)   # the engine's layout, kept alive by the Engine
        out = regrouped
        keep.append(regrouped)
        l.w = &out[0, 0]
    l.bias = _f32(weights.get("b" + name), rows, "b" + name)
    return l


cdef class Engine:
    """A model's weights (numpy arrays, kept alive here) as the C inference
    path reads them, and its state: key/value cache and scratch.

    config: arch, act, d, heads, kv_heads, head_dim, d_ff, vocab, eps,
    rope_theta, max_pos, max_tokens, weights (f32 or a bwbench.quant format:
    then the matrices are its uint8 rows in the engine's layout). layers: one dict per layer (q, k, v, o,
    gate, up, down as out x in; bq ...; norm1_w, norm1_b, norm2_w, norm2_b,
    q_norm_w, k_norm_w); top: tok_emb, pos_emb, type_emb, emb_norm_w,
    emb_norm_b, final_norm_w, final_norm_b, lm_head (None where absent)."""
    cdef bw_model m
    cdef bw_layer *layers
    cdef bw_infer_state *state
    cdef list keep
    cdef readonly str isa

    def __cinit__(self, dict config, list layers, dict top, str isa):
        cdef size_t d = config["d"], dq = config["heads"] * config["head_dim"]
        cdef size_t dkv = config["kv_heads"] * config["head_dim"], f = config["d_ff"]
        self.keep = [layers, top]
        self.isa = isa
        self.m.arch, self.m.act = ARCHS.index(config["arch"]), ACTIVATIONS.index(config["act"])
        self.m.nlayers = len(layers)
        self.m.d, self.m.heads, self.m.kv_heads = d, config["heads"], config["kv_heads"]
        self.m.head_dim, self.m.d_ff, self.m.vocab = config["head_dim"], f, config["vocab"]
        self.m.max_pos, self.m.max_tokens = config["max_pos"], config["max_tokens"]
        self.m.max_seqs = config.get("max_seqs", 1)
        self.m.eps, self.m.rope_theta = config["eps"], config["rope_theta"]
        self.layers = <bw_layer *>calloc(max(len(layers), 1), sizeof(bw_layer))
        if self.layers == NULL:
            raise OutOfMemoryError("bwbench: could not allocate the model")
        fmt = config.get("weights", "f32")
        # passes of more than BW_SMALL_N tokens run the packed GEMM: pack the weights once, here
        pack_isa = ISAS.index(isa) if fmt == "f32" and config["max_tokens"] > BW_SMALL_N else -1
        for i, w in enumerate(layers):
            self.layers[i].q = _linear(w, "q", dq, d, fmt, self.keep, pack_isa, &self.m.packed_kc)
            self.layers[i].k = _linear(w, "k", dkv, d, fmt, self.keep, pack_isa, &self.m.packed_kc)
            self.layers[i].v = _linear(w, "v", dkv, d, fmt, self.keep, pack_isa, &self.m.packed_kc)
            self.layers[i].o = _linear(w, "o", d, dq, fmt, self.keep, pack_isa, &self.m.packed_kc)
            if w.get("gate") is not None:
                self.layers[i].gate = _linear(w, "gate", f, d, fmt, self.keep, pack_isa, &self.m.packed_kc)
            self.layers[i].up = _linear(w, "up", f, d, fmt, self.keep, pack_isa, &self.m.packed_kc)
            self.layers[i].down = _linear(w, "down", d, f, fmt, self.keep, pack_isa, &self.m.packed_kc)
            self.layers[i].norm1_w = _f32(w["norm1_w"], d, "norm1_w")
            self.layers[i].norm1_b = _f32(w.get("norm1_b"), d, "norm1_b")
            self.layers[i].norm2_w = _f32(w["norm2_w"], d, "norm2_w")
            self.layers[i].norm2_b = _f32(w.get("norm2_b"), d, "norm2_b")
            self.layers[i].q_norm_w = _f32(w.get("q_norm_w"), config["head_dim"], "q_norm_w")
            self.layers[i].k_norm_w = _f32(w.get("k_norm_w"), config["head_dim"], "k_norm_w")
        self.m.layers = self.layers
        tok = top.get("tok_emb")
        self.m.tok_emb = _f32(tok, config["vocab"] * d, "tok_emb")
        pos = top.get("pos_emb")
        self.m.pos_emb = _f32(pos, (pos.shape[0] if pos is not None else 0) * d, "pos_emb")
        if pos is not None and pos.shape[0] < self.m.max_pos:
            raise ArgumentError("bwbench: fewer position embeddings than positions")
        self.m.type_emb = _f32(top.get("type_emb"), d, "type_emb")
        self.m.emb_norm_w = _f32(top.get("emb_norm_w"), d, "emb_norm_w")
        self.m.emb_norm_b = _f32(top.get("emb_norm_b"), d, "emb_norm_b")
        self.m.final_norm_w = _f32(top.get("final_norm_w"), d, "final_norm_w")
        self.m.final_norm_b = _f32(top.get("final_norm_b"), d, "final_norm_b")
        if top.get("lm_head") is not None:
            # the LM head reads one row a sequence: packed once, here, if more than BW_SMALL_N sequences
            head_isa = ISAS.index(isa) if fmt == "f32" and self.m.max_seqs > BW_SMALL_N else -1
            self.m.lm_head = _linear(top, "lm_head", config["vocab"], d, fmt, self.keep, head_isa, &self.m.packed_kc)
        self.state = bw_infer_new(&self.m)
        if self.state == NULL:
            raise OutOfMemoryError("bwbench: could not allocate the key/value cache and scratch")

    def __dealloc__(self):
        bw_infer_free(self.state)
        free(self.layers)

    def run(self, int threads, bint decoder, object tokens, object hidden, size_t pos0, bint head,
            object logits, object seconds, object positions=None, size_t first_seq=0):
        """One pass over x.shape[0] tokens at positions pos0..: with tokens
        (int32), looked up into x first; x receives the hidden states; with
        head, the last token's logits (into logits, if given) and its argmax,
        returned with the pass's wall seconds. op_seconds accumulates.
        With positions (one start a sequence): the rows are len(positions)
        sequences of equal length, each at its own positions in its own
        cache (first_seq, first_seq + 1, ...); the argmaxes (one a sequence,
        int32) are returned, and logits holds one row a sequence. A pass
        without positions is in cache first_seq."""
        _check_buffers(hidden, seconds)
        cdef float[:, ::1] x = hidden
        cdef double[::1] op_seconds = seconds
        cdef size_t ntok = x.shape[0]
        if x.shape[1] != self.m.d or op_seconds.shape[0] != BW_NOPS or ntok == 0:
            raise ArgumentError("bwbench: x must be tokens x d and op_seconds hold every op")
        cdef const int *ids_ptr = self._tokens(tokens, ntok)
        starts = np.array([pos0] if positions is None else positions, dtype=np.uintp)
        cdef size_t nseq = starts.size
        cdef const size_t[::1] pos = starts
        nexts = np.full(nseq, -1, dtype=np.intc)
        cdef int[::1] next_tokens = nexts
        cdef float *logits_ptr = NULL
        cdef int err, i = ISAS.index(self.isa)
        cdef double wall = 0.0
        if logits is not None:
            logits_ptr = <float *>_f32(logits, nseq * self.m.vocab, "logits")
        with nogil:
            err = bw_infer_pass(&self.m, self.state, i, threads, decoder, ids_ptr, ntok, first_seq, nseq, &pos[0],
                                ids_ptr != NULL, head, &x[0, 0], logits_ptr, &next_tokens[0], &op_seconds[0], &wall)
        _check(err)
        return (int(nexts[0]) if positions is None else nexts), wall

    def generate(self, int threads, object tokens, object positions, size_t steps, object hidden, object seconds):
        """steps decode steps of len(tokens) sequences in one call: sequence q
        starts from tokens[q] at positions[q], each step's argmax fed back.
        Returns (steps x sequences int32 tokens, wall seconds of the loop);
        hidden: sequences x d float32 scratch."""
        _check_buffers(hidden, seconds)
        current = np.array(tokens, dtype=np.intc)
        cdef size_t nseq = current.size
        cdef float[:, ::1] x = hidden
        cdef double[::1] op_seconds = seconds
        if nseq == 0 or <size_t>x.shape[0] != nseq or x.shape[1] != self.m.d or op_seconds.shape[0] != BW_NOPS:
            raise ArgumentError("bwbench: one token a sequence, x sequences x d, op_seconds every op")
        self._tokens(current, nseq)
        starts = np.array(positions, dtype=np.uintp)
        if starts.size != nseq:
            raise ArgumentError("bwbench: one position a sequence")
        generated = np.empty((max(steps, 1), nseq), dtype=np.intc)
        cdef int[::1] ids = current
        cdef size_t[::1] pos = starts
        cdef int[:, ::1] out = generated
        cdef int err, i = ISAS.index(self.isa)
        cdef double wall = 0.0
        with nogil:
            err = bw_infer_generate(&self.m, self.state, i, threads, nseq, &ids[0], &pos[0], steps, &out[0, 0],
                                    &x[0, 0], &op_seconds[0], &wall)
        _check(err)
        return generated, wall

    def fill(self, size_t depth):
        """Every sequence's cache holds random keys and values at positions 0..depth - 1."""
        if depth > self.m.max_pos:
            raise ArgumentError(f"bwbench: a depth of {depth} is past the {self.m.max_pos} positions")
        with nogil:
            bw_infer_fill(&self.m, self.state, 0, self.m.max_seqs, depth)

    cdef const int *_tokens(self, object tokens, size_t ntok) except? NULL:
        """The data of an int32 vector of ntok token ids below the vocabulary size; NULL for None."""
        if tokens is None:
            return NULL
        _expect(getattr(tokens, "dtype", None) == np.intc and tokens.ndim == 1, "tokens must be an int32 vector")
        cdef const int[::1] ids = tokens
        if <size_t>ids.shape[0] != ntok or min(tokens) < 0 or max(tokens) >= <long>self.m.vocab:
            raise ArgumentError("bwbench: one token id per row of x, each below the vocabulary size")
        return &ids[0]


cdef extern from "bwbench.h" nogil:
    int BW_QK, BW_NFMT
    ctypedef struct bw_fmt_traits:
        const char *name
        size_t block_weights, block_bytes, scale_bytes, gemv_weights
        int quantised_x
    const bw_fmt_traits bw_fmts[]
    size_t bw_fmt_row_bytes(int fmt, size_t cols)
    int bw_quantize(int fmt, const float *x, size_t n, void *out)
    int bw_dequantize(int fmt, const void *inp, size_t n, float *x)
    int bw_qgemv_measure(int isa, int fmt, const void *w, int grouped, size_t rows, size_t cols, const float *x, float *y,
                         int threads, int ntimes, double min_sample_s, double *samples, int *cpus, long *reps)
    ctypedef struct bw_gemv_shape:
        int streams, prefetch, chunk
    int bw_gemv_path(int isa, int fmt)
    int bw_set_gemv_shape(int fmt, int path, bw_gemv_shape shape)
    bw_gemv_shape bw_gemv_shape_of(int fmt, int path)

QK = BW_QK


def format_traits():
    """The C core's table of weight formats (bw_fmts), in its enum's order:
    one dict a format (name, block_weights, block_bytes, scale_bytes, gemv_weights, quantised_x)."""
    return [{"name": bw_fmts[i].name.decode(), "block_weights": bw_fmts[i].block_weights,
             "block_bytes": bw_fmts[i].block_bytes, "scale_bytes": bw_fmts[i].scale_bytes,
             "gemv_weights": bw_fmts[i].gemv_weights,
             "quantised_x": bool(bw_fmts[i].quantised_x)} for i in range(BW_NFMT)]


FORMATS = tuple(traits["name"] for traits in format_traits())


def gemv_path(str isa, str fmt):
    """The ISA whose kernel y = W x in fmt runs when isa is asked for, on this CPU."""
    return ISAS[bw_gemv_path(ISAS.index(isa), FORMATS.index(fmt))]


def set_gemv_shape(str fmt, str path, int streams, int prefetch, int chunk):
    """How the path's GEMV in fmt reads: runs in lockstep, prefetch bytes, groups a chunk."""
    cdef bw_gemv_shape shape
    shape.streams, shape.prefetch, shape.chunk = streams, prefetch, chunk
    _check(bw_set_gemv_shape(FORMATS.index(fmt), ISAS.index(path), shape))


def gemv_shape(str fmt, str path):
    cdef bw_gemv_shape shape = bw_gemv_shape_of(FORMATS.index(fmt), ISAS.index(path))
    return {"streams": shape.streams, "prefetch": shape.prefetch, "chunk": shape.chunk}


def fmt_row_bytes(str fmt, size_t cols):
    """Bytes of a row of cols weights in fmt; 0 if the format cannot hold it."""
    return bw_fmt_row_bytes(FORMATS.index(fmt), cols)


cdef int _rows_in(str fmt, object rows, size_t cols) except -1:
    """Checks a uint8 array of whole rows of cols weights in fmt; returns its row count."""
    cdef size_t row = bw_fmt_row_bytes(FORMATS.index(fmt), cols)
    if row == 0 or rows.dtype != np.uint8 or rows.ndim != 2 or not rows.flags.c_contiguous \
            or <size_t>rows.shape[1] != row:
        raise ArgumentError(f"bwbench: {fmt} rows of {cols} weights must be a contiguous uint8 array of "
                         f"{row} bytes a row")
    return rows.shape[0]


def quantize(str fmt, float[:, ::1] x):
    """Each row of x in fmt: a uint8 array of whole rows."""
    cdef size_t rows = x.shape[0], cols = x.shape[1], i
    cdef int f = FORMATS.index(fmt)
    out = np.empty((rows, bw_fmt_row_bytes(f, cols)), dtype=np.uint8)
    _rows_in(fmt, out, cols)
    cdef unsigned char[:, ::1] o = out
    for i in range(rows):
        _check(bw_quantize(f, &x[i, 0], cols, &o[i, 0]))
    return out


def dequantize(str fmt, object rows, size_t cols):
    """float32 (rows x cols) of rows quantised in fmt."""
    cdef size_t n = _rows_in(fmt, rows, cols), i
    out = np.empty((n, cols), dtype=np.float32)
    cdef const unsigned char[:, ::1] q = rows
    cdef float[:, ::1] o = out
    for i in range(n):
        _check(bw_dequantize(FORMATS.index(fmt), &q[i, 0], cols, &o[i, 0]))
    return out


def interleave(str fmt, object rows, size_t cols):
    """Whole rows in fmt in the engine's layout (same bytes, rows in groups of 8)."""
    cdef size_t n = _rows_in(fmt, rows, cols)
    out = np.empty_like(rows)
    cdef const unsigned char[:, ::1] q = rows
    cdef unsigned char[:, ::1] o = out
    if n:
        _check(bw_interleave(FORMATS.index(fmt), &q[0, 0], n, cols, &o[0, 0]))
    return out


def qgemv_measure(str isa, str fmt, object w, size_t cols, float[::1] x, float[::1] y, int threads,
                  int ntimes, double min_sample_s, bint grouped=False):
    """y = W x with W's rows in fmt (grouped: in the engine's layout), timed in
    C (ntimes 0: run once, no timing)."""
    cdef size_t rows = _rows_in(fmt, w, cols)
    if <size_t>x.shape[0] != cols or <size_t>y.shape[0] != rows:
        raise ArgumentError("bwbench: x must hold cols values and y one per row")
    cdef const unsigned char[:, ::1] wv = w
    cdef _Timing t = _Timing(max(ntimes, 1), threads)
    cdef int i = ISAS.index(isa), f = FORMATS.index(fmt), err
    with nogil:
        err = bw_qgemv_measure(i, f, &wv[0, 0], grouped, rows, cols, &x[0], &y[0], threads, ntimes, min_sample_s,
                               &t.s[0] if ntimes else NULL, &t.c[0], &t.reps)
    return t.result(err)
