/* Compute ceilings (peak FLOP/s: scalar, SIMD without FMA, SIMD with FMA;
   float64 and float32) and the arithmetic-intensity ladder. */
#include <math.h>
#include <omp.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bwbench.h"

#define PEAK_ACC 12
#define PEAK_ITERS 1024
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

int bw_peak_measure(int isa, int fma, int float32, int threads, int ntimes,
                    double min_sample_s, double *samples, int *cpus,
                    long *reps, double *flops_per_rep, size_t *bad)
{
    if (!bw_isa_usable(isa))
        return BW_EUNSUPPORTED;
    if (threads < 1 || threads > BW_MAX_THREADS)
        return BW_ETHREADS;
    double *out = bw_alloc(sizeof(double) * BW_PAD * threads);
    if (!out)
        return BW_ENOMEM;
    const int lanes = float32 ? lanes32[isa] : lanes64[isa];
    bw_peak_ctx ctx = {PEAK_ITERS, out};
    int err = bw_time(peak[isa][float32][fma], &ctx, threads, ntimes, min_sample_s, samples, cpus, reps);
    if (!err) {
        *flops_per_rep = 2.0 * PEAK_ITERS * PEAK_ACC * lanes * threads;
        *bad = 0;
        for (int t = 0; t < threads; t++)   /* every lane settled on exactly 1.0 */
            *bad += out[t * BW_PAD] != (double)(PEAK_ACC * lanes);
    }
    bw_free(out);
    return err;
}

int bw_ladder_apply(int isa, int flops, double *a, size_t n, int threads)
{
    if (!bw_isa_usable(isa) || flops < 1)
        return BW_EUNSUPPORTED;
    bw_ladder_ctx ctx = {a, n, flops};
    return bw_run(ladder[isa], &ctx, threads);
}

/* The pattern the ladder starts from (small dyadic values, varied), first
   touched with the kernel's own split among threads. */
static void ladder_fill(double *a, size_t n, int isa, int threads)
{
    const size_t block = (size_t)BW_UNROLL * lanes64[isa];
    #pragma omp parallel num_threads(threads)
    {
        size_t lo, hi;
        bw_static_range(n / block, &lo, &hi);
        hi = omp_get_thread_num() == omp_get_num_threads() - 1 ? n : hi * block;
        for (size_t i = lo * block; i < hi; i++)
            a[i] = (double)(i & 15) / 16.0;
    }
}

size_t bw_ladder_check(const double *a, size_t n, int flops)
{
    double want[16];   /* the pattern has 16 values, so the result has 16 */
    for (int v = 0; v < 16; v++)
        want[v] = bw_ladder_element(v / 16.0, flops);
    size_t bad = 0;
    #pragma omp parallel for reduction(+ : bad)
    for (size_t i = 0; i < n; i++)
        bad += fabs(a[i] - want[i & 15]) > 1e-12 * fabs(want[i & 15]);
    return bad;
}

int bw_ladder_measure(int isa, int flops, size_t n, int threads, int ntimes,
                      double min_sample_s, double *samples, int *cpus,
                      long *reps, size_t *bad)
{
    if (!bw_isa_usable(isa) || flops < 1)
        return BW_EUNSUPPORTED;
    if (threads < 1 || threads > BW_MAX_THREADS)
        return BW_ETHREADS;
    double *a = bw_alloc(n * sizeof(double));
    if (!a)
        return BW_ENOMEM;
    ladder_fill(a, n, isa, threads);
    bw_ladder_ctx ctx = {a, n, flops};
    int err = bw_time(ladder[isa], &ctx, threads, ntimes, min_sample_s, samples, cpus, reps);
    if (!err) {
        /* The timed calls ran many times over the same array: check one fresh
           application of the same kernel instead. */
        ladder_fill(a, n, isa, threads);
        bw_ladder_apply(isa, flops, a, n, threads);
        *bad = bw_ladder_check(a, n, flops);
    }
    bw_free(a);
    return err;
}
