/* Compute kernels for one instruction set: flops.c includes this file once
   per ISA, between simd_begin.h and simd_end.h. */

/* Peak: PEAK_ACC independent accumulators in registers, acc = acc*x + y with
   x = y = 0.5, so every lane settles on exactly 1.0 (checkable) and no value
   ever becomes denormal. Enough accumulators to cover FMA latency times the
   FMA ports, few enough to stay in 16 vector registers with x and y. */
#define PEAK_KERNEL(name, V, SET1, STEP, SUM)                                 \
    static void SFX(name)(const void *p, long reps)                           \
    {                                                                         \
        const bw_peak_ctx *k = p;                                             \
        const V x = SET1(0.5), y = SET1(0.5);                                 \
        V acc[PEAK_ACC];                                                      \
        for (int j = 0; j < PEAK_ACC; j++)                                    \
            acc[j] = SET1((double)j);                                         \
        for (long i = 0; i < k->iters * reps; i++)                            \
            for (int j = 0; j < PEAK_ACC; j++)                                \
                acc[j] = STEP(acc[j], x, y);                                  \
        double sum = 0.0;                                                     \
        for (int j = 0; j < PEAK_ACC; j++)                                    \
            sum += SUM(acc[j]);                                               \
        k->out[omp_get_thread_num() * BW_PAD] = sum;                          \
    }

#define MULADD(a, b, c) VADD(VMUL(a, b), c)
#define MULADDF(a, b, c) VADDF(VMULF(a, b), c)
PEAK_KERNEL(peak_f64_muladd, vd, VSET1, MULADD, VSUM)
PEAK_KERNEL(peak_f64_fma, vd, VSET1, VFMA, VSUM)
PEAK_KERNEL(peak_f32_muladd, vf, VSET1F, MULADDF, VSUMF)
PEAK_KERNEL(peak_f32_fma, vf, VSET1F, VFMAF, VSUMF)
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
