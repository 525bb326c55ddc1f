/* The STREAM kernels for one instruction set: stream.c includes this file
   once per ISA, between simd_begin.h and simd_end.h. Each kernel is an
   orphaned "omp for schedule(static)" over blocks of BW_UNROLL vectors (so
   chunk edges stay 64-byte aligned); the tail of fewer than a block's
   elements is done by thread 0. */

/* a[i] = VEXPR (vectors at element i) for whole blocks, SEXPR for the tail. */
#define STREAM_LOOP(STORE, VEXPR, SEXPR)                                      \
    const size_t nb = k->n / (BW_UNROLL * W);                                 \
    _Pragma("omp for schedule(static) nowait")                                \
    for (size_t blk = 0; blk < nb; blk++)                                     \
        for (size_t i = blk * BW_UNROLL * W; i < (blk + 1) * BW_UNROLL * W; i += W) \
            STORE(k->a + i, VEXPR);                                           \
    if (omp_get_thread_num() == 0)                                            \
        for (size_t i = nb * BW_UNROLL * W; i < k->n; i++)                    \
            k->a[i] = SEXPR;

/* Defines name (regular stores) and name_nt (non-temporal stores). */
#define STREAM_KERNEL(name, VEXPR, SEXPR)                                     \
    static void SFX(name)(const void *p)                                      \
    {                                                                         \
        const bw_stream_ctx *k = p;                                           \
        const vd vs = VSET1(k->s);                                            \
        (void)vs;                                                             \
        STREAM_LOOP(VSTORE, VEXPR, SEXPR)                                     \
    }                                                                         \
    static void SFX(name##_nt)(const void *p)                                 \
    {                                                                         \
        const bw_stream_ctx *k = p;                                           \
        const vd vs = VSET1(k->s);                                            \
        (void)vs;                                                             \
        STREAM_LOOP(VSTREAM, VEXPR, SEXPR)                                    \
        VFENCE();                                                             \
    }

STREAM_KERNEL(copy, VLOAD(k->b + i), k->b[i])
STREAM_KERNEL(scale, VMUL(vs, VLOAD(k->b + i)), k->s * k->b[i])
STREAM_KERNEL(add, VADD(VLOAD(k->b + i), VLOAD(k->c + i)), k->b[i] + k->c[i])
STREAM_KERNEL(triad, VFMA(vs, VLOAD(k->c + i), VLOAD(k->b + i)), k->b[i] + k->s * k->c[i])

/* Sum of b: BW_UNROLL independent accumulators hide the add latency. */
static void SFX(load)(const void *p)
{
    const bw_stream_ctx *k = p;
    const size_t nb = k->n / (BW_UNROLL * W);
    vd acc[BW_UNROLL];
    for (int j = 0; j < BW_UNROLL; j++)
        acc[j] = VZERO();
    #pragma omp for schedule(static) nowait
    for (size_t blk = 0; blk < nb; blk++)
        for (int j = 0; j < BW_UNROLL; j++)
            acc[j] = VADD(acc[j], VLOAD(k->b + (blk * BW_UNROLL + j) * W));
    for (int j = 1; j < BW_UNROLL; j++)
        acc[0] = VADD(acc[0], acc[j]);
    double sum = VSUM(acc[0]);
    if (omp_get_thread_num() == 0)
        for (size_t i = nb * BW_UNROLL * W; i < k->n; i++)
            sum += k->b[i];
    k->partial[omp_get_thread_num() * BW_PAD] = sum;
}

static const bw_body SFX(stream_kernels)[BW_NSTREAM][2] = {
    [BW_LOAD] = {SFX(load), NULL},
    [BW_COPY] = {SFX(copy), SFX(copy_nt)},
    [BW_SCALE] = {SFX(scale), SFX(scale_nt)},
    [BW_ADD] = {SFX(add), SFX(add_nt)},
    [BW_TRIAD] = {SFX(triad), SFX(triad_nt)},
};

#undef STREAM_LOOP
#undef STREAM_KERNEL
