/* Compute ceilings (peak FLOP/s: scalar, SIMD without FMA, SIMD with FMA;
   float64 and float32) and the arithmetic-intensity ladder. */
#include <math.h>
#include <omp.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bwbench.h"

#define PEAK_ITERS 1024
/* 2^m: from -2^m to 2^m every integer is exact (m = mantissa bits). */
#define PEAK_ORIGIN64 9007199254740992.0   /* 2^53 */
#define PEAK_ORIGIN32 16777216.0f          /* 2^24 */
#define BW_UNROLL 8

/* One ladder element as the kernels compute it, for their tails and checks. */
static double bw_ladder_element(double x, int flops)
{
    if (flops < 2)
        return x + 0.5;
    for (int f = 0; f < flops / 2; f++)
        x = fma(x, 0.5, 0.5);
    return x;
}

#define BW_ISA BW_GENERIC
#include "simd_begin.h"
#include "flops_isa.h"
#include "simd_end.h"

#if defined(__x86_64__)
#define BW_ISA BW_SSE2
#include "simd_begin.h"
#include "flops_isa.h"
#include "simd_end.h"

#define BW_ISA BW_AVX2
#include "simd_begin.h"
#include "flops_isa.h"
#include "simd_end.h"

#define BW_ISA BW_AVX512
#include "simd_begin.h"
#include "flops_isa.h"
#include "simd_end.h"

static const bw_body (*peak[BW_NISA])[2] = {
    peak_kernels_generic, peak_kernels_sse2, peak_kernels_avx2, peak_kernels_avx512};
static const bw_body ladder[BW_NISA] = {ladder_generic, ladder_sse2, ladder_avx2, ladder_avx512};
#else
static const bw_body (*peak[BW_NISA])[2] = {peak_kernels_generic};
static const bw_body ladder[BW_NISA] = {ladder_generic};
#endif

static const int lanes64[BW_NISA] = {1, 2, 4, 8};
static const int lanes32[BW_NISA] = {1, 4, 8, 16};

size_t bw_peak_check(const double *out, int threads, int lanes, int float32, long steps)
{
    const double origin = float32 ? PEAK_ORIGIN32 : PEAK_ORIGIN64;
    size_t bad = 0, values = (size_t)threads * BW_PEAK_ACC * lanes;
    if (steps < 0 || (double)steps + BW_PEAK_ACC > 2 * origin)
        return values;   /* past the exact range: the result could not prove the steps */
    for (int t = 0; t < threads; t++)
        for (int j = 0; j < BW_PEAK_ACC; j++)
            for (int l = 0; l < lanes; l++)
                bad += out[(size_t)t * BW_PEAK_OUT + j * lanes + l] != j - origin + (double)steps;
    return bad;
}

int bw_peak_measure(int isa, int fma, int float32, int threads, int ntimes,
                    double min_sample_s, double *samples, int *cpus,
                    long *reps, double *flops_per_rep, size_t *bad)
{
    if (!bw_isa_usable(isa))
        return BW_EUNSUPPORTED;
    if (threads < 1 || threads > BW_MAX_THREADS)
        return BW_EARGS;
    double *out = bw_alloc(sizeof(double) * BW_PEAK_OUT * threads);
    if (!out)
        return BW_ENOMEM;
    const int lanes = float32 ? lanes32[isa] : lanes64[isa];
    bw_peak_ctx ctx = {.iters = PEAK_ITERS, .x = 1.0, .y = 1.0, .out = out};
    int err = bw_time(peak[isa][float32][fma], &ctx, threads, ntimes, min_sample_s, samples, cpus, reps);
    if (!err) {
        *flops_per_rep = 2.0 * PEAK_ITERS * BW_PEAK_ACC * lanes * threads;
        /* out holds the last sample's call: PEAK_ITERS * reps steps */
        *bad = bw_peak_check(out, threads, lanes, float32, PEAK_ITERS * *reps);
    }
    bw_free(out);
    return err;
}

int bw_ladder_apply(int isa, int flops, double *a, size_t n, int threads)
{
    if (!bw_isa_usable(isa))
        return BW_EUNSUPPORTED;
    if (flops < 1 || n == 0 || !a)
        return BW_EARGS;
    bw_ladder_ctx ctx = {.a = a, .n = n, .flops = flops};
    return bw_run(ladder[isa], &ctx, threads);
}

typedef struct { double *a; size_t n, block; } ladder_fill_ctx;

static void ladder_fill_share(void *arg, int t, int threads)
{
    const ladder_fill_ctx *f = arg;
    size_t lo, hi;
    bw_static_range(f->n / f->block, &lo, &hi);
    hi = t == threads - 1 ? f->n : hi * f->block;
    for (size_t i = lo * f->block; i < hi; i++)
        f->a[i] = (double)(i & 15) / 16.0;
}

/* The pattern the ladder starts from (small dyadic values, varied), first
   touched with the kernel's own split among the same pinned threads. */
static int ladder_fill(double *a, size_t n, int isa, int threads)
{
    ladder_fill_ctx f = {.a = a, .n = n, .block = (size_t)BW_UNROLL * lanes64[isa]};
    return bw_team(ladder_fill_share, &f, threads);
}

size_t bw_ladder_check(const double *a, size_t n, int flops)
{
    double want[16];   /* the pattern has 16 values, so the result has 16 */
    for (int v = 0; v < 16; v++)
        want[v] = bw_ladder_element(v / 16.0, flops);
    size_t bad = 0;
    #pragma omp parallel for reduction(+ : bad)
    for (size_t i = 0; i < n; i++)
        bad += !(fabs(a[i] - want[i & 15]) <= 1e-12 * fabs(want[i & 15]));   /* NaN is wrong too */
    return bad;
}

int bw_ladder_measure(int isa, int flops, size_t n, int threads, int ntimes,
                      double min_sample_s, double *samples, int *cpus,
                      long *reps, size_t *bad)
{
    if (!bw_isa_usable(isa))
        return BW_EUNSUPPORTED;
    const size_t bytes = bw_bytes(n, sizeof(double));
    if (flops < 1 || threads < 1 || threads > BW_MAX_THREADS || bytes == 0)
        return BW_EARGS;
    double *a = bw_alloc(bytes);
    if (!a)
        return BW_ENOMEM;
    bw_ladder_ctx ctx = {.a = a, .n = n, .flops = flops};
    int err = ladder_fill(a, n, isa, threads);
    if (!err)
        err = bw_time(ladder[isa], &ctx, threads, ntimes, min_sample_s, samples, cpus, reps);
    /* The timed calls ran many times over the same array, whose values
       converge: check one fresh application of the same kernel instead. */
    if (!err)
        err = ladder_fill(a, n, isa, threads);
    if (!err)
        err = bw_ladder_apply(isa, flops, a, n, threads);
    if (!err)
        *bad = bw_ladder_check(a, n, flops);
    bw_free(a);
    return err;
}
