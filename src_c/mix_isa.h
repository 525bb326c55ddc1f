/* The read/write mix kernel for one instruction set: mix.c includes this file
   once per ISA, between simd_begin.h and simd_end.h. Element i of every
   output is the sum of element i of every input (or s without inputs); with
   no outputs the sum is accumulated, so the loads stay. Each thread takes its
   static share of whole blocks of MIX_UNROLL vectors; the last thread also
   does the elements after the last block.

   SFX(mix_body) is written once for any nin and nout; the common mixes call
   it with constants, so the compiler unrolls its array loops and keeps the
   array pointers in registers, and any other mix runs the same code with the
   counts read at run time. */
static inline __attribute__((always_inline)) void SFX(mix_body)(const bw_mix_ctx *k, long reps, const int nin,
                                                                const int nout, const int nt)
{
    const double *in[BW_MIX_MAX];
    double *out[BW_MIX_MAX];
    for (int a = 0; a < nin; a++)
        in[a] = k->in[a];
    for (int a = 0; a < nout; a++)
        out[a] = k->out[a];
    const size_t n = k->n, block = MIX_UNROLL * W, end = n / block * block;
    const int last = omp_get_thread_num() == omp_get_num_threads() - 1;
    size_t lo, hi;
    bw_static_range(n / block, &lo, &hi);
    vd acc[MIX_UNROLL];
    for (int j = 0; j < MIX_UNROLL; j++)
        acc[j] = VZERO();
    const vd vs = VSET1(k->s);
    double tail = 0.0;
    for (long r = 0; r < reps; r++) {
        for (size_t i = lo * block; i < hi * block; i += block)
            for (int j = 0; j < MIX_UNROLL; j++) {
                const size_t at = i + j * W;
                vd v = nin ? VLOAD(in[0] + at) : vs;
                for (int a = 1; a < nin; a++)
                    v = VADD(v, VLOAD(in[a] + at));
                for (int a = 0; a < nout; a++) {
                    if (nt)
                        VSTREAM(out[a] + at, v);
                    else
                        VSTORE(out[a] + at, v);
                }
                if (!nout)
                    acc[j] = VADD(acc[j], v);
            }
        for (size_t i = end; last && i < n; i++) {
            double v = nin ? in[0][i] : k->s;
            for (int a = 1; a < nin; a++)
                v += in[a][i];
            for (int a = 0; a < nout; a++)
                out[a][i] = v;
            tail += v;
        }
    }
    if (nt)
        VFENCE();
    for (int j = 1; j < MIX_UNROLL; j++)
        acc[0] = VADD(acc[0], acc[j]);
    k->partial[omp_get_thread_num() * BW_PAD] = (nout ? 0.0 : tail) + VSUM(acc[0]);
}

#define MIX_CASE(r, w)                                                        \
    case (r) * 16 + (w):                                                      \
        SFX(mix_body)(k, reps, r, w, NT);                                     \
        return;
#define MIX_DISPATCH                                                          \
    const bw_mix_ctx *k = p;                                                  \
    switch (k->nin * 16 + k->nout) {                                          \
    MIX_CASE(1, 0) MIX_CASE(2, 0) MIX_CASE(3, 0) MIX_CASE(0, 1)               \
    MIX_CASE(1, 1) MIX_CASE(2, 1) MIX_CASE(3, 1) MIX_CASE(1, 2)               \
    default:                                                                  \
        SFX(mix_body)(k, reps, k->nin, k->nout, NT);                          \
    }

#define NT 0
static void SFX(mix)(const void *p, long reps) { MIX_DISPATCH }
#undef NT
#define NT 1
static void SFX(mix_nt)(const void *p, long reps) { MIX_DISPATCH }
#undef NT

static const bw_body SFX(mix_kernels)[2] = {SFX(mix), SFX(mix_nt)};

#undef MIX_CASE
#undef MIX_DISPATCH
