/* AVX-512 GEMV of the weight formats over the engine's layout (quant.c): a
   64-byte load holds chunks k and k + 1 of a group's 8 rows, in lanes 0-7
   and 8-15, so x's matching pieces go in as two broadcasts in one vector.
   q8_0 and q4_0 with AVX512_VNNI's vpdpbusd (unsigned bytes times signed
   bytes, 4 a lane summed into int32, no saturation) against x quantised to
   q8_0 blocks, as on AVX2 and as llama.cpp does: q4_0's nibbles go in as they
   are (0..15) and 8 * sum(x) comes off; q8_0's signed weights go in offset by
   128 (w xor 0x80) and 128 * sum(x) comes off, so 64 bytes cost a load, one
   or two bit ops and one or two dot products. f16 and bf16 widened to
   float32 in registers against float32 x (AVX-512F; f16: AVX512BW's vpermw
   gathers the even halves and the odd, vcvtph2ps widens them), as on AVX2: AVX512_BF16's
   vdpbf16ps would need x rounded to bf16, and y would then depend on the CPU.

   Kept in a file of its own so that tests/c/test_avx512.c can build it with
   SIMDe's portable versions of these intrinsics (BW_SIMDE) and check it on a
   CPU without them; the engine runs it only where bw_gemv_path() chose BW_AVX512. */
#include <stdint.h>
#include <string.h>

#include "bwbench.h"

#if defined(BW_SIMDE)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>
#include <simde/x86/fma.h>
#elif defined(__x86_64__)
#include <immintrin.h>
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")
#endif

#if defined(BW_SIMDE) || defined(__x86_64__)
/* x's block for the four 64-byte loads of a q8_0 block (or the two of q4_0,
   whose high nibbles take pieces 2 and 3): piece j holds x's bytes 8j..8j + 3
   in lanes 0-7 and 8j + 4..8j + 7 in lanes 8-15, made once for all groups. */
static inline __attribute__((always_inline)) void x_pieces(const bw_xblock *xb, __m512i *piece)
{
    const __m512i x = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)xb->qs));
    for (int j = 0; j < BW_QK / 8; j++)
        piece[j] = _mm512_permutexvar_epi32(
            _mm512_mask_blend_epi32(0xff00, _mm512_set1_epi32(2 * j), _mm512_set1_epi32(2 * j + 1)), x);
}

/* Row r of the group in lanes r and r + 8: their sum, one row a lane. */
static inline __attribute__((always_inline)) __m256i rows_i32(__m512i v)
{
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/* One group block of q8_0 or q4_0 (scales, then the interleaved weights):
   acc + its 8 rows' dot products with x's block, times the scales. */
static inline __attribute__((always_inline)) __m256 int_block(int fmt, const char *g, const __m512i *piece, const bw_xblock *xb, __m256 acc)
{
    const char *w = g + 2 * BW_GROUP;
    __m512i dot = _mm512_setzero_si512();
    int offset;
    if (fmt == BW_FMT_Q8_0) {
        const __m512i flip = _mm512_set1_epi8((char)0x80);
        for (int j = 0; j < BW_QK / 8; j++)
            dot = _mm512_dpbusd_epi32(dot, _mm512_xor_si512(_mm512_loadu_si512(w + 64 * j), flip), piece[j]);
        offset = 128;
    } else {
        const __m512i low = _mm512_set1_epi8(0x0f);
        for (int j = 0; j < BW_QK / 16; j++) {   /* low nibbles: weights 8j.., high: 16 + 8j.. */
            const __m512i q = _mm512_loadu_si512(w + 64 * j);
            dot = _mm512_dpbusd_epi32(dot, _mm512_and_si512(q, low), piece[j]);
            dot = _mm512_dpbusd_epi32(dot, _mm512_and_si512(_mm512_srli_epi16(q, 4), low), piece[j + 2]);
        }
        offset = 8;
    }
    const __m256i rows = _mm256_sub_epi32(rows_i32(dot), _mm256_set1_epi32(offset * xb->sum));
    const __m256 scales = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g)), _mm256_set1_ps(xb->d));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(rows), scales, acc);
}

/* x's floats for load j of a bf16 block (chunks 2j and 2j + 1, weights 4j..4j + 3):
   even[j] holds 4j in lanes 0-7 and 4j + 2 in lanes 8-15, odd[j] 4j + 1 and 4j + 3. */
static inline __attribute__((always_inline)) void x_pairs(const float *x, __m512 *even, __m512 *odd)
{
    for (int j = 0; j < BW_QK / 4; j++) {
        const __m512 v = _mm512_loadu_ps(x + 16 * (j / 4));
        const __m512i at = _mm512_mask_blend_epi32(0xff00, _mm512_set1_epi32(4 * (j % 4)),
                                                   _mm512_set1_epi32(4 * (j % 4) + 2));
        even[j] = _mm512_permutexvar_ps(at, v);
        odd[j] = _mm512_permutexvar_ps(_mm512_add_epi32(at, _mm512_set1_epi32(1)), v);
    }
}

/* 16 halves (f16) as float32: AVX-512F's vcvtph2ps, two F16C ones under SIMDe, which lacks it. */
static inline __attribute__((always_inline)) __m512 f16_to_ps(__m256i h)
{
#if defined(BW_SIMDE)
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_cvtph_ps(_mm256_castsi256_si128(h))),
                              _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)), 1);
#else
    return _mm512_cvtph_ps(h);
#endif
}

/* One group block of f16 or bf16 (8 rows x 32 weights, pairs interleaved),
   widened in registers (the even weight of a lane is its low half, the odd
   the high) against float32 x: acc's lanes r and r + 8 both add to row r. */
static inline __attribute__((always_inline)) __m512 float_block(int fmt, const char *g, const __m512 *even,
                                                                const __m512 *odd, __m512 acc)
{
    const __m512i high = _mm512_set1_epi32((int)0xffff0000);
    const __m512i split = _mm512_set_epi16(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1,
                                           30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    for (int j = 0; j < BW_QK / 4; j++) {
        const __m512i w = _mm512_loadu_si512(g + 64 * j);
        __m512 e, o;
        if (fmt == BW_FMT_BF16) {
            e = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
            o = _mm512_castsi512_ps(_mm512_and_si512(w, high));
        } else {   /* the even halves to the low 256 bits, the odd to the high */
            const __m512i halves = _mm512_permutexvar_epi16(split, w);
            e = f16_to_ps(_mm512_castsi512_si256(halves));
            o = f16_to_ps(_mm512_extracti64x4_epi64(halves, 1));
        }
        acc = _mm512_fmadd_ps(e, even[j], acc);
        acc = _mm512_fmadd_ps(o, odd[j], acc);
    }
    return acc;
}

/* n groups in lockstep, block by block, as quant.c's groups_avx2 reads them. */
static inline __attribute__((always_inline)) void groups_avx512(const int fmt, const int n, const char *const *group,
                                                                const float *x, const bw_xblock *xq, size_t blocks,
                                                                size_t step, int prefetch, float *const *y)
{
    __m256 acc[BW_MAX_STREAMS];
    __m512 pairs[BW_MAX_STREAMS];
    for (int s = 0; s < n; s++) {
        acc[s] = _mm256_setzero_ps();
        pairs[s] = _mm512_setzero_ps();
    }
    for (size_t b = 0; b < blocks; b++) {
        for (int s = 0; prefetch && s < n; s++)
            for (size_t o = 0; o < step; o += 64)
                _mm_prefetch(group[s] + b * step + prefetch + o, _MM_HINT_T0);
        if (BW_FMT_IS_FLOAT(fmt)) {
            __m512 even[BW_QK / 4], odd[BW_QK / 4];
            x_pairs(x + b * BW_QK, even, odd);
            for (int s = 0; s < n; s++)
                pairs[s] = float_block(fmt, group[s] + b * step, even, odd, pairs[s]);
        } else {
            __m512i piece[BW_QK / 8];
            x_pieces(xq + b, piece);
            for (int s = 0; s < n; s++)
                acc[s] = int_block(fmt, group[s] + b * step, piece, xq + b, acc[s]);
        }
    }
    for (int s = 0; s < n; s++) {
        if (BW_FMT_IS_FLOAT(fmt))
            acc[s] = _mm256_add_ps(_mm512_castps512_ps256(pairs[s]),
                                   _mm256_castsi256_ps(_mm512_extracti64x4_epi64(_mm512_castps_si512(pairs[s]), 1)));
        _mm256_storeu_ps(y[s], acc[s]);
    }
}

#define GROUPS groups_avx512
#define TABLE bw_groups_avx512
#define KERNEL_FORMATS(X) X(BW_FMT_F16) X(BW_FMT_BF16) X(BW_FMT_Q8_0) X(BW_FMT_Q4_0)
#include "gemv_kernels.h"
#undef KERNEL_FORMATS
#undef GROUPS
#undef TABLE
#endif
