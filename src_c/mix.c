/* Read/write mixes (MLC's --peak_injection_bandwidth): N input arrays read and
   M output arrays written per element, regular or non-temporal stores; an
   output may be an input (updated in place). One variant per instruction set. */
#include <omp.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bwbench.h"

#define MIX_UNROLL 8   /* vectors per block: enough independent sums for the all-reads mix */

#if defined(__x86_64__)
#define BW_ISA BW_AVX512
#include "simd_begin.h"
#include "mix_isa.h"
#include "simd_end.h"

#define BW_ISA BW_AVX2
#include "simd_begin.h"
#include "mix_isa.h"
#include "simd_end.h"

#define BW_ISA BW_SSE2
#include "simd_begin.h"
#include "mix_isa.h"
#include "simd_end.h"

static const bw_body *kernels[BW_NISA] = {
    [BW_SSE2] = mix_kernels_sse2, [BW_AVX2] = mix_kernels_avx2, [BW_AVX512] = mix_kernels_avx512};
#else
#define BW_ISA BW_GENERIC
#include "simd_begin.h"
#include "mix_isa.h"
#include "simd_end.h"

static const bw_body *kernels[BW_NISA] = {[BW_GENERIC] = mix_kernels_generic};
#endif

static const int vector_width[BW_NISA] = {1, 2, 4, 8};

/* Input a, element i: small integers, so every sum is exact. */
static double pattern(int a, size_t i) { return (double)((i * (2 * a + 1) + a) & 1023); }

static double expected(const bw_mix_ctx *k, size_t i)
{
    double v = k->nin ? 0.0 : k->s;
    for (int a = 0; a < k->nin; a++)
        v += pattern(a, i);
    return v;
}

typedef struct { const bw_mix_ctx *k; double **arrays; int count; size_t block; } mix_fill;

static void fill_share(void *arg, int t, int threads)
{
    const mix_fill *f = arg;
    size_t lo, hi;
    bw_static_range(f->k->n / f->block, &lo, &hi);
    hi = t == threads - 1 ? f->k->n : hi * f->block;
    for (int a = 0; a < f->count; a++)
        for (size_t i = lo * f->block; i < hi; i++)
            f->arrays[a][i] = a < f->k->nin ? pattern(a, i) : -1.0;
}

int bw_mix_measure(int nin, int nout, int inplace, int nt, int isa, size_t n, int threads, int ntimes,
                   double min_sample_s, double *samples, int *cpus, long *reps, size_t *bad)
{
    if (isa < 0 || isa >= BW_NISA || !kernels[isa] || !bw_isa_supported(isa) || (nt && !nout))
        return BW_EUNSUPPORTED;
    const int arrays = nin + nout - (inplace != 0);
    const size_t bytes = bw_bytes(n, sizeof(double));
    if (nin < 0 || nout < 0 || nin + nout < 1 || nin + nout > BW_MIX_MAX || (inplace && (!nin || !nout))
        || threads < 1 || threads > BW_MAX_THREADS || bytes == 0)
        return BW_EARGS;
    double *array[BW_MIX_MAX] = {0};
    double *partial = bw_alloc(sizeof(double) * BW_PAD * threads);
    int err = partial ? BW_OK : BW_ENOMEM;
    for (int a = 0; a < arrays && !err; a++)
        if (!(array[a] = bw_alloc(bytes)))
            err = BW_ENOMEM;
    bw_mix_ctx k = {.nin = nin, .nout = nout, .n = n, .s = 1.0, .partial = partial};
    for (int a = 0; a < nin; a++)
        k.in[a] = array[a];
    for (int a = 0; a < nout; a++)   /* in place: the first output is the first input */
        k.out[a] = array[inplace ? a : nin + a];
    if (!err) {
        mix_fill f = {.k = &k, .arrays = array, .count = arrays, .block = (size_t)MIX_UNROLL * vector_width[isa]};
        err = bw_team(fill_share, &f, threads);
    }
    if (!err)
        err = bw_time(kernels[isa][nt != 0], &k, threads, ntimes, min_sample_s, samples, cpus, reps);
    if (!err) {   /* every output element, or the sum of all reads per repetition */
        *bad = 0;
        double sum = 0.0, want = 0.0;
        for (int t = 0; t < threads; t++)
            sum += partial[t * BW_PAD];
        for (size_t i = 0; i < n; i++) {
            const double v = expected(&k, i);
            want += v;
            for (int a = 0; a < nout; a++)
                *bad += k.out[a][i] != v;
        }
        if (!nout)   /* each call leaves the sum of its own repetitions: the last sample's */
            *bad += sum != want * (double)*reps;
    }
    for (int a = 0; a < arrays; a++)
        bw_free(array[a]);
    bw_free(partial);
    return err;
}
