/* Compute kernels for one instruction set: flops.c includes this file once
   per ISA, between simd_begin.h and simd_end.h. */

/* Peak: BW_PEAK_ACC independent accumulators in registers, acc = acc*x + y
   with x and y read from the context (1 and 1: the compiler cannot see them,
   so every multiply-add is executed). Accumulator j starts at j - 2^m (m: the
   mantissa bits, so every value on the way is an exact integer and none is
   denormal) and ends at exactly j - 2^m + steps: the result proves how many
   steps ran (bw_peak_check). Enough accumulators to cover FMA latency times
   the FMA ports, few enough to stay in 16 vector registers with x and y.
   Every lane of every accumulator is stored for the check. */
#define PEAK_KERNEL(name, T, V, L, SET1, STEP, STOREU, ORIGIN)               \
    static void SFX(name)(const void *p, long reps)                           \
    {                                                                         \
        const bw_peak_ctx *k = p;                                             \
        const V x = SET1((T)k->x), y = SET1((T)k->y);                         \
        V acc[BW_PEAK_ACC];                                                   \
        for (int j = 0; j < BW_PEAK_ACC; j++)                                 \
            acc[j] = SET1((T)j - (T)(ORIGIN));                                \
        for (long i = 0; i < k->iters * reps; i++)                            \
            for (int j = 0; j < BW_PEAK_ACC; j++)                             \
                acc[j] = STEP(acc[j], x, y);                                  \
        double *out = k->out + (size_t)omp_get_thread_num() * BW_PEAK_OUT;    \
        for (int j = 0; j < BW_PEAK_ACC; j++) {                               \
            T lanes[16];                                                      \
            STOREU(lanes, acc[j]);                                            \
            for (int l = 0; l < L; l++)                                       \
                out[j * L + l] = lanes[l];                                    \
        }                                                                     \
    }

#define MULADD(a, b, c) VADD(VMUL(a, b), c)
#define MULADDF(a, b, c) VADDF(VMULF(a, b), c)
PEAK_KERNEL(peak_f64_muladd, double, vd, W, VSET1, MULADD, VSTOREU, PEAK_ORIGIN64)
PEAK_KERNEL(peak_f64_fma, double, vd, W, VSET1, VFMA, VSTOREU, PEAK_ORIGIN64)
PEAK_KERNEL(peak_f32_muladd, float, vf, WF, VSET1F, MULADDF, VSTOREUF, PEAK_ORIGIN32)
PEAK_KERNEL(peak_f32_fma, float, vf, WF, VSET1F, VFMAF, VSTOREUF, PEAK_ORIGIN32)
#undef MULADD
#undef MULADDF
#undef PEAK_KERNEL

/* [float32][fma] */
static const bw_body SFX(peak_kernels)[2][2] = {
    {SFX(peak_f64_muladd), SFX(peak_f64_fma)},
    {SFX(peak_f32_muladd), SFX(peak_f32_fma)},
};

/* Intensity ladder (as the Empirical Roofline Toolkit): a[i] is read, goes
   through k->flops FLOPs (one add, or flops/2 FMAs x*0.5 + 0.5), and is
   written back: 16 bytes and k->flops FLOPs per element. Blocks of
   BW_UNROLL vectors give independent FMA chains; threads split whole blocks
   as the STREAM kernels do, the last one also takes the odd elements. */
static void SFX(ladder)(const void *p, long reps)
{
    const bw_ladder_ctx *k = p;
    const vd half = VSET1(0.5);
    const size_t block = BW_UNROLL * W;
    const int fmas = k->flops / 2, last = omp_get_thread_num() == omp_get_num_threads() - 1;
    size_t lo, hi;
    bw_static_range(k->n / block, &lo, &hi);
    for (long r = 0; r < reps; r++) {
        for (size_t i = lo * block; i < hi * block; i += block) {
            vd v[BW_UNROLL];
            for (int j = 0; j < BW_UNROLL; j++)
                v[j] = VLOAD(k->a + i + j * W);
            if (fmas == 0)
                for (int j = 0; j < BW_UNROLL; j++)
                    v[j] = VADD(v[j], half);
            for (int f = 0; f < fmas; f++)
                for (int j = 0; j < BW_UNROLL; j++)
                    v[j] = VFMA(v[j], half, half);
            for (int j = 0; j < BW_UNROLL; j++)
                VSTORE(k->a + i + j * W, v[j]);
        }
        if (last)
            for (size_t i = k->n / block * block; i < k->n; i++)
                k->a[i] = bw_ladder_element(k->a[i], k->flops);
    }
}
