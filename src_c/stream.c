/* STREAM kernels (McCalpin): load, copy, scale, add, triad, float64, with
   regular and non-temporal stores, one variant per instruction set. */
#include <omp.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bwbench.h"

#define BW_UNROLL 8   /* vectors per block: enough accumulators for load */

#if defined(__x86_64__)
#define BW_ISA BW_AVX512
#include "simd_begin.h"
#include "stream_isa.h"
#include "simd_end.h"

#define BW_ISA BW_AVX2
#include "simd_begin.h"
#include "stream_isa.h"
#include "simd_end.h"

#define BW_ISA BW_SSE2
#include "simd_begin.h"
#include "stream_isa.h"
#include "simd_end.h"

static const bw_body (*kernels[BW_NISA])[2] = {
    [BW_SSE2] = stream_kernels_sse2,
    [BW_AVX2] = stream_kernels_avx2,
    [BW_AVX512] = stream_kernels_avx512,
};
#else
#define BW_ISA BW_GENERIC
#include "simd_begin.h"
#include "stream_isa.h"
#include "simd_end.h"

static const bw_body (*kernels[BW_NISA])[2] = {[BW_GENERIC] = stream_kernels_generic};
#endif

static const int vector_width[BW_NISA] = {1, 2, 4, 8};

int bw_stream_arrays(int kernel)
{
    static const int arrays[BW_NSTREAM] = {[BW_LOAD] = 1, [BW_COPY] = 2, [BW_SCALE] = 2, [BW_ADD] = 3,
                                           [BW_TRIAD] = 3, [BW_READ] = 1};
    return arrays[kernel];
}

int bw_stream_has_nt(int kernel) { return bw_stream_arrays(kernel) > 1; }

/* Four runs without prefetch until tuned: one run left DRAM idle between
   the prefetcher's requests on Zen 3 (0.5-0.8 of four). */
static bw_read_shape read_shape = {.streams = 4, .prefetch = 0};

int bw_set_read_shape(bw_read_shape shape)
{
    const int s = shape.streams;
    if ((s != 1 && s != 2 && s != 4 && s != 8) || shape.prefetch < 0 || shape.prefetch > BW_MAX_PREFETCH
        || shape.prefetch % 64)
        return BW_EARGS;
    read_shape = shape;
    return BW_OK;
}

bw_read_shape bw_read_shape_now(void) { return read_shape; }

/* Small integers, so every kernel's result and the load sum are exact. */
static double pattern_b(size_t i) { return (double)(i & 1023); }
static double pattern_c(size_t i) { return (double)((i * 7 + 3) & 1023); }

typedef struct {
    double *a, *b, *c;
    size_t n, block;
} fill_ctx;

static void fill_share(void *arg, int t, int threads)
{
    const fill_ctx *f = arg;
    size_t lo, hi;
    bw_static_range(f->n / f->block, &lo, &hi);
    /* the last thread also owns the elements after the last block */
    hi = t == threads - 1 ? f->n : hi * f->block;
    for (size_t i = lo * f->block; i < hi; i++) {
        if (f->a) f->a[i] = -1.0;
        if (f->b) f->b[i] = pattern_b(i);
        if (f->c) f->c[i] = pattern_c(i);
    }
}

/* First touch with the kernels' own split of the arrays among the same
   pinned threads, so each thread's pages lie where that thread streams them. */
static int fill_on(double *a, double *b, double *c, size_t n, int isa, int threads, const int *cpus)
{
    if (isa < 0 || isa >= BW_NISA)
        return BW_EUNSUPPORTED;
    if (n == 0 || !b)
        return BW_EARGS;
    fill_ctx f = {.a = a, .b = b, .c = c, .n = n, .block = (size_t)BW_UNROLL * vector_width[isa]};
    return cpus ? bw_team_on(cpus, threads, fill_share, &f) : bw_team(fill_share, &f, threads);
}

int bw_stream_fill(double *a, double *b, double *c, size_t n, int isa, int threads)
{
    return fill_on(a, b, c, n, isa, threads, NULL);
}

static double expected(int kernel, size_t i, double s)
{
    switch (kernel) {
    case BW_COPY: return pattern_b(i);
    case BW_SCALE: return s * pattern_b(i);
    case BW_ADD: return pattern_b(i) + pattern_c(i);
    default: return pattern_b(i) + s * pattern_c(i);
    }
}

size_t bw_stream_check(int kernel, const double *a, double s, size_t n, double sum)
{
    size_t bad = 0;
    double total = 0.0;
    if (bw_stream_arrays(kernel) == 1) {   /* load, read */
        #pragma omp parallel for reduction(+ : total)
        for (size_t i = 0; i < n; i++)
            total += pattern_b(i);
        return total != sum;
    }
    #pragma omp parallel for reduction(+ : bad)
    for (size_t i = 0; i < n; i++)
        bad += a[i] != expected(kernel, i, s);
    return bad;
}

static int valid(int kernel, int nt, int isa)
{
    return kernel >= 0 && kernel < BW_NSTREAM && isa >= 0 && isa < BW_NISA &&
           kernels[isa] && bw_isa_supported(isa) && (!nt || bw_stream_has_nt(kernel));
}

static double load_sum(const double *partial, int threads)
{
    double sum = 0.0;
    for (int t = 0; t < threads; t++)
        sum += partial[t * BW_PAD];
    return sum;
}

int bw_stream_apply(int kernel, int nt, int isa, bw_stream_ctx *ctx, int threads, double *sum)
{
    if (!valid(kernel, nt, isa))
        return BW_EUNSUPPORTED;
    const int arrays = bw_stream_arrays(kernel);
    if (ctx->n == 0 || !ctx->b || (arrays > 1 && !ctx->a) || (arrays > 2 && !ctx->c))
        return BW_EARGS;
    double partial[BW_MAX_THREADS * BW_PAD] = {0};
    ctx->partial = partial;
    ctx->streams = read_shape.streams;
    ctx->prefetch = read_shape.prefetch;
    int err = bw_run(kernels[isa][kernel][nt], ctx, threads);
    *sum = load_sum(partial, threads);
    return err;
}

int bw_stream_measure(int kernel, int nt, int isa, size_t n, int threads, int ntimes,
                      double min_sample_s, double *samples, int *cpus,
                      long *reps, size_t *bad)
{
    return bw_stream_measure_placed(kernel, nt, isa, n, threads, NULL, threads, ntimes, min_sample_s, samples,
                                    cpus, reps, bad);
}

int bw_stream_measure_placed(int kernel, int nt, int isa, size_t n, int threads, const int *fill_cpus,
                             int nfill, int ntimes, double min_sample_s, double *samples, int *cpus,
                             long *reps, size_t *bad)
{
    if (!valid(kernel, nt, isa))
        return BW_EUNSUPPORTED;
    const size_t bytes = bw_bytes(n, sizeof(double));
    if (threads < 1 || threads > BW_MAX_THREADS || bytes == 0)
        return BW_EARGS;
    const int arrays = bw_stream_arrays(kernel);
    double *a = arrays > 1 ? bw_alloc(bytes) : NULL;
    double *b = bw_alloc(bytes);
    double *c = arrays > 2 ? bw_alloc(bytes) : NULL;
    double *partial = bw_alloc(sizeof(double) * BW_PAD * threads);
    int err = BW_ENOMEM;
    if (b && partial && (arrays < 2 || a) && (arrays < 3 || c))
        err = fill_on(a, b, c, n, isa, fill_cpus ? nfill : threads, fill_cpus);
    if (err == BW_OK) {
        bw_stream_ctx ctx = {.a = a, .b = b, .c = c, .s = 3.0, .n = n, .partial = partial,
                             .streams = read_shape.streams, .prefetch = read_shape.prefetch};
        err = bw_time(kernels[isa][kernel][nt], &ctx, threads, ntimes, min_sample_s, samples, cpus, reps);
        if (!err)
            *bad = bw_stream_check(kernel, a, ctx.s, n, load_sum(partial, threads) / *reps);
    }
    bw_free(a);
    bw_free(b);
    bw_free(c);
    bw_free(partial);
    return err;
}
