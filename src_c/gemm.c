/* GEMM (C = A B) and GEMV (y = A x, y = A^T x), float64 and float32, one
   variant per instruction set; the caller's row-major arrays, any shape. */
#include <omp.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bwbench.h"

#define NC 4096   /* columns of a packed block of B: KC x NC stays in L3 */
#define NR_MAX 64
#define MR_MAX 12
/* The packed blocks' depth (KC) and rows of A (MC, in tiles of MR rows):
   set by the host's tuning (bw_set_gemm_blocking), as the best pair depends
   on the caches (a KC x NR panel of B should stay in L1). Built-in: 512 and
   16, measured on Zen 4 (2048^3: KC 256 gave 0.9x OpenBLAS, 512 0.95x). */
static bw_gemm_blocking blocking = {.kc = 512, .mc_tiles = 16};

bw_gemm_blocking bw_gemm_blocking_now(void)
{
    return blocking;
}

int bw_set_gemm_blocking(bw_gemm_blocking b)
{
    if (b.kc < 16 || b.kc > BW_KC_MAX || b.kc % 16 || b.mc_tiles < 1 || b.mc_tiles > BW_MC_TILES_MAX)
        return BW_EARGS;
    blocking = b;
    return BW_OK;
}
/* A GEMV over rows shorter than this reads them one after another: four short
   rows read side by side streamed 0.7x as fast as the load kernel on Zen 3
   (768 floats a row), one at a time as fast; longer rows side by side stream
   a little faster than one at a time. */
#define SEQ_ROW_BYTES 4096

#if defined(__x86_64__)
#define BW_ISA BW_AVX512
#include "simd_begin.h"
#define BW_F32 0
#include "gemm_isa.h"
#define BW_F32 1
#include "gemm_isa.h"
#include "simd_end.h"

#define BW_ISA BW_AVX2
#include "simd_begin.h"
#define BW_F32 0
#include "gemm_isa.h"
#define BW_F32 1
#include "gemm_isa.h"
#include "simd_end.h"

#define BW_ISA BW_SSE2
#include "simd_begin.h"
#define BW_F32 0
#include "gemm_isa.h"
#define BW_F32 1
#include "gemm_isa.h"
#include "simd_end.h"
#endif

#define BW_ISA BW_GENERIC
#include "simd_begin.h"
#define BW_F32 0
#include "gemm_isa.h"
#define BW_F32 1
#include "gemm_isa.h"
#include "simd_end.h"

typedef struct {
    bw_body gemm, gemm_small, gemv_t;
    void (*small_rows)(const bw_gemm_ctx *g, const void *bt, size_t lo, size_t hi);
    void (*gemv_t_cols)(const bw_gemv_ctx *g, size_t lo, size_t hi);
    size_t (*nr)(void);
    void (*prepack)(size_t n, size_t k, size_t kc, const void *w, void *out);
} kernel_set;

#define KERNEL_SET(sfx) {.gemm = gemm_##sfx, .gemm_small = gemm_small_##sfx, .gemv_t = gemv_t_##sfx, \
                         .small_rows = small_rows_##sfx, .gemv_t_cols = gemv_t_cols_##sfx, \
                         .nr = gemm_nr_##sfx, .prepack = prepack_##sfx}
/* [isa][float32] */
static const kernel_set kernels[BW_NISA][2] = {
    [BW_GENERIC] = {KERNEL_SET(f64_generic), KERNEL_SET(f32_generic)},
#if defined(__x86_64__)
    [BW_SSE2] = {KERNEL_SET(f64_sse2), KERNEL_SET(f32_sse2)},
    [BW_AVX2] = {KERNEL_SET(f64_avx2), KERNEL_SET(f32_avx2)},
    [BW_AVX512] = {KERNEL_SET(f64_avx512), KERNEL_SET(f32_avx512)},
#endif
};

static int usable(int isa)
{
    return bw_isa_usable(isa) && kernels[isa][0].gemm;
}

/* BW_EARGS unless every operand (rows x columns) has a byte count that fits
   in size_t: the kernels index with size_t, so no product may wrap. */
static int check_operands(int f32, size_t m, size_t n, size_t k, const void *a, const void *b,
                          const void *c, int threads)
{
    const size_t esize = f32 ? sizeof(float) : sizeof(double);
    if (!a || !b || !c || threads < 1 || threads > BW_MAX_THREADS)
        return BW_EARGS;
    if (!bw_bytes(bw_bytes(m, k), esize) || !bw_bytes(bw_bytes(k, n), esize) || !bw_bytes(bw_bytes(m, n), esize))
        return BW_EARGS;
    return BW_OK;
}

/* Sets up C = A B for row-major A (m x k), B (k x n), C (m x n) and picks its
   kernel. Few columns: gemm_small, which reads A once as a GEMV does. Else
   the packed, blocked GEMM, as C^T = B^T A^T (operands read through their
   strides) when that leaves the threads more column panels to share. */
static bw_body gemm_setup(bw_gemm_ctx *g, int isa, int f32, size_t m, size_t n, size_t k,
                          const void *a, const void *b, void *c, int threads)
{
    const size_t esize = f32 ? sizeof(float) : sizeof(double);
    const kernel_set *set = &kernels[isa][f32];
    *g = (bw_gemm_ctx){.m = m, .n = n, .k = k, .a = a, .b = b, .c = c,
                       .a_rs = k, .a_cs = 1, .b_rs = n, .b_cs = 1, .c_rs = n, .c_cs = 1};
    if (n <= BW_SMALL_N) {
        g->bpack = bw_alloc(bw_bytes(n * k, esize));   /* n * k cannot overflow: checked by the caller */
        return g->bpack ? set->gemm_small : NULL;
    }
    if (n < set->nr() * threads && m > n)   /* C^T = B^T A^T: the operands swap, read through strides */
        *g = (bw_gemm_ctx){.m = n, .n = m, .k = k, .a = b, .b = a, .c = c,
                           .a_rs = 1, .a_cs = n, .b_rs = 1, .b_cs = k, .c_rs = 1, .c_cs = n};
    g->kc = blocking.kc;
    g->mc_tiles = blocking.mc_tiles;
    g->apack = bw_alloc(bw_gemm_workspace_bytes(0) / sizeof(float) * esize);
    g->bpack = bw_alloc(bw_gemm_workspace_bytes(1) / sizeof(float) * esize);
    return g->apack && g->bpack ? set->gemm : NULL;
}

static void gemm_release(bw_gemm_ctx *g)
{
    bw_free(g->apack);
    bw_free(g->bpack);
}

/* Times body (samples given) or runs it once (samples NULL): the measuring
   and the applying entry points share everything else. */
static int time_or_run(bw_body body, const void *ctx, int threads, int ntimes, double min_sample_s,
                       double *samples, int *cpus, long *reps)
{
    return samples ? bw_time(body, ctx, threads, ntimes, min_sample_s, samples, cpus, reps)
                   : bw_run(body, ctx, threads);
}

int bw_gemm_measure(int isa, int f32, size_t m, size_t n, size_t k, const void *a,
                    const void *b, void *c, int threads, int ntimes, double min_sample_s,
                    double *samples, int *cpus, long *reps)
{
    bw_gemm_ctx g;
    if (!usable(isa))
        return BW_EUNSUPPORTED;
    int err = check_operands(f32, m, n, k, a, b, c, threads);
    if (err)
        return err;
    bw_body body = gemm_setup(&g, isa, f32, m, n, k, a, b, c, threads);
    err = body ? time_or_run(body, &g, threads, ntimes, min_sample_s, samples, cpus, reps) : BW_ENOMEM;
    gemm_release(&g);
    return err;
}

int bw_gemm_apply(int isa, int f32, size_t m, size_t n, size_t k, const void *a,
                  const void *b, void *c, int threads)
{
    return bw_gemm_measure(isa, f32, m, n, k, a, b, c, threads, 0, 0.0, NULL, NULL, NULL);
}

/* y = A x is C = A B with one column (gemm_small); y = A^T x has its own kernel. */
int bw_gemv_measure(int isa, int f32, int trans, size_t m, size_t n, const void *a,
                    const void *x, void *y, int threads, int ntimes, double min_sample_s,
                    double *samples, int *cpus, long *reps)
{
    bw_gemv_ctx gemv = {.m = m, .n = n, .a = a, .x = x, .y = y};
    bw_gemm_ctx gemm = {.m = m, .n = 1, .k = n, .a = a, .b = x, .c = y,
                        .a_rs = n, .a_cs = 1, .b_rs = 1, .b_cs = 1, .c_rs = 1, .c_cs = 1};
    if (!usable(isa))
        return BW_EUNSUPPORTED;
    int err = check_operands(f32, m, 1, n, a, x, y, threads);
    if (err)
        return err;
    if (trans)
        return time_or_run(kernels[isa][f32].gemv_t, &gemv, threads, ntimes, min_sample_s, samples, cpus, reps);
    return time_or_run(kernels[isa][f32].gemm_small, &gemm, threads, ntimes, min_sample_s, samples, cpus, reps);
}

int bw_gemv_apply(int isa, int f32, int trans, size_t m, size_t n, const void *a,
                  const void *x, void *y, int threads)
{
    return bw_gemv_measure(isa, f32, trans, m, n, a, x, y, threads, 0, 0.0, NULL, NULL, NULL);
}

size_t bw_gemm_workspace_bytes(int which)
{
    return (which == 0 ? blocking.mc_tiles * MR_MAX : NC + NR_MAX) * blocking.kc * sizeof(float);
}

/* The float32 kernels bw_team_gemm_f32 runs for isa. */
static const kernel_set *f32_set(int isa)
{
    return &kernels[usable(isa) ? isa : BW_GENERIC][1];
}

size_t bw_gemm_prepacked_bytes(int isa, size_t n, size_t k)
{
    const size_t nr = f32_set(isa)->nr();
    return bw_bytes(bw_bytes(k, (n + nr - 1) / nr * nr), sizeof(float));
}

size_t bw_gemm_prepack_f32(int isa, const float *w, size_t n, size_t k, float *out)
{
    f32_set(isa)->prepack(n, k, blocking.kc, w, out);
    return blocking.kc;
}

void bw_team_gemm_f32(int isa, const bw_gemm_ctx *g)
{
    const kernel_set *set = f32_set(isa);
    if (g->n <= BW_SMALL_N && g->a_cs == 1 && g->a_rs == (ptrdiff_t)g->k)
        set->gemm_small(g, 1);
    else
        set->gemm(g, 1);
}

void bw_team_gemv_t_f32(int isa, const bw_gemv_ctx *g)
{
    kernels[usable(isa) ? isa : BW_GENERIC][1].gemv_t(g, 1);
}

void bw_solo_gemm_small_f32(int isa, const bw_gemm_ctx *g)
{
    f32_set(isa)->small_rows(g, g->b, 0, g->m);
}

void bw_solo_gemv_t_f32(int isa, const bw_gemv_ctx *g)
{
    f32_set(isa)->gemv_t_cols(g, 0, g->n);
}
