/* Selects the instruction set for the code that follows. Define BW_ISA to one
   of BW_GENERIC, BW_SSE2, BW_AVX2, BW_AVX512, include this file, write the
   code with the names below, then include simd_end.h. The target pragma lets
   one portable build carry every variant; bw_best_isa() picks at run time.

   vd: a vector of W doubles. SFX(name): name with the ISA's suffix.
   VLOAD/VSTORE (aligned), VSTREAM (non-temporal store), VSET1, VZERO, VADD,
   VMUL, VFMA(a, b, c) = a*b + c, PREFETCH(p) (a cache line into L1), VSUM (horizontal sum), VFENCE (after
   non-temporal stores), VLOADU/VSTOREU (unaligned). vf, WF (floats per
   vector) and the names ending in F: the same for floats.
   The build uses -ffp-contract=off, so VADD(VMUL()) never becomes an FMA. */
#if BW_ISA == BW_AVX512
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx2,fma")
#define vd __m512d
#define W 8
#define SFX(name) name##_avx512
#define VLOAD _mm512_load_pd
#define VSTORE _mm512_store_pd
#define VSTREAM _mm512_stream_pd
#define VSET1 _mm512_set1_pd
#define VZERO _mm512_setzero_pd
#define VADD _mm512_add_pd
#define VMUL _mm512_mul_pd
#define VFMA _mm512_fmadd_pd
#define VSUM _mm512_reduce_add_pd
#define VFENCE _mm_sfence
#define PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define VLOADU _mm512_loadu_pd
#define VSTOREU _mm512_storeu_pd
#define vf __m512
#define WF 16
#define VLOADF _mm512_load_ps
#define VLOADUF _mm512_loadu_ps
#define VSTOREUF _mm512_storeu_ps
#define VZEROF _mm512_setzero_ps
#define VSET1F _mm512_set1_ps
#define VADDF _mm512_add_ps
#define VMULF _mm512_mul_ps
#define VFMAF _mm512_fmadd_ps
#define VSUMF _mm512_reduce_add_ps

#elif BW_ISA == BW_AVX2
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define vd __m256d
#define W 4
#define SFX(name) name##_avx2
#define VLOAD _mm256_load_pd
#define VSTORE _mm256_store_pd
#define VSTREAM _mm256_stream_pd
#define VSET1 _mm256_set1_pd
#define VZERO _mm256_setzero_pd
#define VADD _mm256_add_pd
#define VMUL _mm256_mul_pd
#define VFMA _mm256_fmadd_pd
#define VSUM(v) bw_sum4(v)
#define VFENCE _mm_sfence
#define PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define VLOADU _mm256_loadu_pd
#define VSTOREU _mm256_storeu_pd
#define vf __m256
#define WF 8
#define VLOADF _mm256_load_ps
#define VLOADUF _mm256_loadu_ps
#define VSTOREUF _mm256_storeu_ps
#define VZEROF _mm256_setzero_ps
#define VSET1F _mm256_set1_ps
#define VADDF _mm256_add_ps
#define VMULF _mm256_mul_ps
#define VFMAF _mm256_fmadd_ps
#define VSUMF(v) bw_sum8f(v)
static inline __attribute__((target("avx2"))) double bw_sum4(__m256d v)
{
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}
static inline __attribute__((target("avx2"))) float bw_sum8f(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
}

#elif BW_ISA == BW_SSE2
#pragma GCC push_options
#define vd __m128d
#define W 2
#define SFX(name) name##_sse2
#define VLOAD _mm_load_pd
#define VSTORE _mm_store_pd
#define VSTREAM _mm_stream_pd
#define VSET1 _mm_set1_pd
#define VZERO _mm_setzero_pd
#define VADD _mm_add_pd
#define VMUL _mm_mul_pd
#define VFMA(a, b, c) _mm_add_pd(_mm_mul_pd(a, b), c)
#define VSUM(v) _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v)))
#define VFENCE _mm_sfence
#define PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define VLOADU _mm_loadu_pd
#define VSTOREU _mm_storeu_pd
#define vf __m128
#define WF 4
#define VLOADF _mm_load_ps
#define VLOADUF _mm_loadu_ps
#define VSTOREUF _mm_storeu_ps
#define VZEROF _mm_setzero_ps
#define VSET1F _mm_set1_ps
#define VADDF _mm_add_ps
#define VMULF _mm_mul_ps
#define VFMAF(a, b, c) _mm_add_ps(_mm_mul_ps(a, b), c)
#define VSUMF(v) bw_sum4f(v)
static inline float bw_sum4f(__m128 v)
{
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_shuffle_ps(v, v, 1)));
}

#else /* BW_GENERIC: plain scalar C (never auto-vectorised): the scalar
         ceiling everywhere, and every kernel on hosts that are not x86-64 */
#include <math.h>
#pragma GCC push_options
#pragma GCC optimize("no-tree-vectorize")
#define vd double
#define W 1
#define SFX(name) name##_generic
#define VLOAD(p) (*(p))
#define VSTORE(p, v) (*(p) = (v))
#define VSTREAM VSTORE
#define VSET1(x) (x)
#define VZERO() 0.0
#define VADD(a, b) ((a) + (b))
#define VMUL(a, b) ((a) * (b))
#define VFMA(a, b, c) fma(a, b, c)
#define VSUM(v) (v)
#define VFENCE() ((void)0)
#define PREFETCH(p) __builtin_prefetch(p)
#define VLOADU VLOAD
#define VSTOREU VSTORE
#define vf float
#define WF 1
#define VLOADF VLOAD
#define VLOADUF VLOAD
#define VSTOREUF VSTORE
#define VZEROF() 0.0f
#define VSET1F(x) ((float)(x))
#define VADDF VADD
#define VMULF VMUL
#define VFMAF(a, b, c) fmaf(a, b, c)
#define VSUMF(v) (v)
#endif
