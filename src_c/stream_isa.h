/* The STREAM kernels for one instruction set: stream.c includes this file
   once per ISA, between simd_begin.h and simd_end.h. Each thread takes its
   static share of whole blocks of BW_UNROLL vectors (so shares start 64-byte
   aligned) and repeats it `reps` times; the last thread also does the few
   elements after the last whole block. */

/* a[i] = VEXPR (a vector at element i), or SEXPR for the last odd elements. */
#define STREAM_LOOP(STORE, VEXPR, SEXPR)                                      \
    size_t lo, hi;                                                            \
    const size_t block = BW_UNROLL * W, end = k->n / block * block;           \
    bw_static_range(k->n / block, &lo, &hi);                                  \
    const int last = omp_get_thread_num() == omp_get_num_threads() - 1;       \
    for (long r = 0; r < reps; r++) {                                         \
        _Pragma("GCC unroll 8")                                               \
        for (size_t i = lo * block; i < hi * block; i += W)                   \
            STORE(k->a + i, VEXPR);                                           \
        if (last) {                                                           \
            size_t i = end;                                                   \
            for (; i + W <= k->n; i += W)                                     \
                STORE(k->a + i, VEXPR);                                       \
            for (; i < k->n; i++)                                             \
                k->a[i] = SEXPR;                                              \
        }                                                                     \
    }

/* Defines name (regular stores) and name_nt (non-temporal stores). */
#define STREAM_KERNEL(name, VEXPR, SEXPR)                                     \
    static void SFX(name)(const void *p, long reps)                           \
    {                                                                         \
        const bw_stream_ctx *k = p;                                           \
        const vd vs = VSET1(k->s);                                            \
        (void)vs;                                                             \
        STREAM_LOOP(VSTORE, VEXPR, SEXPR)                                     \
    }                                                                         \
    static void SFX(name##_nt)(const void *p, long reps)                      \
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

/* Sum of b over all repetitions in `streams` runs in lockstep (the thread's
   share in that many parts), prefetching `prefetch` bytes ahead of each:
   BW_UNROLL independent accumulators hide the add latency, and they are
   reduced once, after the last repetition. */
static inline __attribute__((always_inline)) void SFX(sum)(const bw_stream_ctx *k, long reps, int streams,
                                                           int prefetch)
{
    const size_t block = BW_UNROLL * W, end = k->n / block * block;
    const int last = omp_get_thread_num() == omp_get_num_threads() - 1;
    size_t lo, hi;
    bw_static_range(k->n / block, &lo, &hi);
    const size_t part = (hi - lo) / streams;
    vd acc[BW_UNROLL];
    for (int j = 0; j < BW_UNROLL; j++)
        acc[j] = VZERO();
    double sum = 0.0;
    for (long r = 0; r < reps; r++) {
        for (size_t i = 0; i < part; i++)
            for (int s = 0; s < streams; s++) {
                const double *b = k->b + (lo + s * part + i) * block;
                for (size_t o = 0; prefetch && o < block * sizeof(double); o += 64)
                    PREFETCH((const char *)b + prefetch + o);
                for (int j = 0; j < BW_UNROLL; j++)
                    acc[j] = VADD(acc[j], VLOAD(b + j * W));
            }
        for (size_t i = (lo + streams * part) * block; i < hi * block; i += block)   /* the last few blocks */
            for (int j = 0; j < BW_UNROLL; j++)
                acc[j] = VADD(acc[j], VLOAD(k->b + i + j * W));
        if (last) {
            size_t i = end;
            for (; i + W <= k->n; i += W)
                acc[0] = VADD(acc[0], VLOAD(k->b + i));
            for (; i < k->n; i++)
                sum += k->b[i];
        }
    }
    for (int j = 1; j < BW_UNROLL; j++)
        acc[0] = VADD(acc[0], acc[j]);
    k->partial[omp_get_thread_num() * BW_PAD] = sum + VSUM(acc[0]);
}

static void SFX(load)(const void *p, long reps) { SFX(sum)(p, reps, 1, 0); }

static void SFX(read)(const void *p, long reps)
{
    const bw_stream_ctx *k = p;
    SFX(sum)(k, reps, k->streams, k->prefetch);
}

static const bw_body SFX(stream_kernels)[BW_NSTREAM][2] = {
    [BW_LOAD] = {SFX(load), NULL},
    [BW_COPY] = {SFX(copy), SFX(copy_nt)},
    [BW_SCALE] = {SFX(scale), SFX(scale_nt)},
    [BW_ADD] = {SFX(add), SFX(add_nt)},
    [BW_TRIAD] = {SFX(triad), SFX(triad_nt)},
    [BW_READ] = {SFX(read), NULL},
};

#undef STREAM_LOOP
#undef STREAM_KERNEL
