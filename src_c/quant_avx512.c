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
   The K-quants' super-blocks go one sub-block of 32 at a time, each against
   x's q8_0 block of the same weights, with vpdpbusd as q4_0.

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
    /* two sums, so that the four dot products of a block form two chains of
       two, not one of four (vpdpbusd's latency: one chain ran q4_0 at 0.65x
       AVX2's speed in cache on Zen 4) */
    __m512i dot[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    int offset;
    if (fmt == BW_FMT_Q8_0) {
        const __m512i flip = _mm512_set1_epi8((char)0x80);
        for (int j = 0; j < BW_QK / 8; j++)
            dot[j % 2] = _mm512_dpbusd_epi32(dot[j % 2], _mm512_xor_si512(_mm512_loadu_si512(w + 64 * j), flip), piece[j]);
        offset = 128;
    } else {
        const __m512i low = _mm512_set1_epi8(0x0f);
        for (int j = 0; j < BW_QK / 16; j++) {   /* low nibbles: weights 8j.., high: 16 + 8j.. */
            const __m512i q = _mm512_loadu_si512(w + 64 * j);
            dot[0] = _mm512_dpbusd_epi32(dot[0], _mm512_and_si512(q, low), piece[j]);
            dot[1] = _mm512_dpbusd_epi32(dot[1], _mm512_and_si512(_mm512_srli_epi16(q, 4), low), piece[j + 2]);
        }
        offset = 8;
    }
    const __m256i rows = _mm256_sub_epi32(rows_i32(_mm512_add_epi32(dot[0], dot[1])), _mm256_set1_epi32(offset * xb->sum));
    const __m256 scales = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g)), _mm256_set1_ps(xb->d));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(rows), scales, acc);
}

#include "q4_K_scales.h"

/* Sub-block j of a q4_K group block (8 rows x weights 32j..32j + 31: the low
   nibbles of chunks 3 + 8 (j / 2) .. for even j, their high ones for odd j)
   against x's block j of the super-block: acc + each row's
   x.d * (d * sc_j * dot - dmin * m_j * sum(x)). Two 64-byte loads a
   chunk pair hold 8 weights of every row, as q4_0's do. */
static inline __attribute__((always_inline)) __m256 q4_K_sub(const char *g, int j, const __m512i *piece,
                                                             const bw_xblock *xb, __m256 acc)
{
    const char *chunks = g + 4 * BW_GROUP, *q = chunks + (3 + 8 * (j / 2)) * 4 * BW_GROUP;
    const __m512i low = _mm512_set1_epi8(0x0f);
    __m512i dot[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int c = 0; c < BW_QK / 8; c++) {   /* chunks 2c and 2c + 1: x's piece c */
        const __m512i w = _mm512_loadu_si512(q + 64 * c);
        dot[c % 2] = _mm512_dpbusd_epi32(dot[c % 2], _mm512_and_si512(j % 2 ? _mm512_srli_epi16(w, 4) : w, low), piece[c]);
    }
    __m256 d, dmin, sc, m;
    q4_K_d_dmin(g, &d, &dmin);
    q4_K_scale_min(chunks, j, &sc, &m);
    const __m256 rows = _mm256_cvtepi32_ps(rows_i32(_mm512_add_epi32(dot[0], dot[1])));
    acc = _mm256_fmadd_ps(rows, _mm256_mul_ps(_mm256_mul_ps(d, sc), _mm256_set1_ps(xb->d)), acc);
    return _mm256_fnmadd_ps(_mm256_mul_ps(dmin, m), _mm256_set1_ps(xb->d * xb->sum), acc);
}

/* Sub-block j of a q6_K group block against x's block j: acc + each row's
   d * x.d * (sum over the two sub-blocks of 16 of sc * dot(q - 32, x)).
   Weights 32j.. are ggml's half h = j / 4, quarter s = j % 4: the low
   (s < 2) or high nibbles of ql's bytes 64h + 32 (s % 2) .., with bits 2s
   and 2s + 1 of qh's bytes 32h .. above them; scales 2j and 2j + 1. The
   group block leads with the rows' fp16 d, then each half's chunks in the
   order quant.c's q6_K_chunk_at gives: 2 of scales, then ql's first 32
   bytes and qh's in turns of a 64-byte pair, then ql's second 32 bytes. The
   6-bit values go into vpdpbusd unsigned and 32 * sum(x) comes off. */
static inline __attribute__((always_inline)) __m256 q6_K_sub(const char *g, int j, const __m512i *piece,
                                                             const bw_xblock *xb, __m256 acc)
{
    const int s = j % 4;
    const char *half = g + 2 * BW_GROUP + 26 * (j / 4) * 4 * BW_GROUP;
    const char *ql = half + (s % 2 ? 18 : 2) * 4 * BW_GROUP, *qh = half + 4 * 4 * BW_GROUP;
    const int step = s % 2 ? 64 : 128;   /* from one 64-byte pair of ql to the next */
    const __m512i low = _mm512_set1_epi8(0x0f), high = _mm512_set1_epi8(0x30);
    __m512i dot[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};   /* weights 0-15, 16-31 */
    for (int c = 0; c < BW_QK / 8; c++) {
        const __m512i l = _mm512_loadu_si512(ql + step * c), b = _mm512_loadu_si512(qh + 128 * c);
        const __m512i nibble = _mm512_and_si512(s < 2 ? l : _mm512_srli_epi16(l, 4), low);
        const __m512i pair = _mm512_and_si512(s < 3 ? _mm512_slli_epi16(b, 4 - 2 * s) : _mm512_srli_epi16(b, 2), high);
        dot[c / 2] = _mm512_dpbusd_epi32(dot[c / 2], _mm512_or_si512(nibble, pair), piece[c]);
    }
    /* scales 2j and 2j + 1: bytes 2 (j % 2) and 2 (j % 2) + 1 of the half's scale chunk s / 2, sign-extended */
    const __m256i scales = _mm256_loadu_si256((const __m256i *)(half + s / 2 * 4 * BW_GROUP));
    const int at = 16 * (j % 2);
    __m256i t = _mm256_setzero_si256();
    for (int sub = 0; sub < 2; sub++) {
        const __m256i sc = _mm256_srai_epi32(_mm256_slli_epi32(scales, 24 - at - 8 * sub), 24);
        const int xsum = sub ? xb->sum - xb->first : xb->first;
        const __m256i q = _mm256_sub_epi32(rows_i32(dot[sub]), _mm256_set1_epi32(32 * xsum));
        t = _mm256_add_epi32(t, _mm256_mullo_epi32(q, sc));
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_mul_ps(d, _mm256_set1_ps(xb->d)), acc);
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
        if (fmt == BW_FMT_Q4_K || fmt == BW_FMT_Q6_K) {   /* a super-block: x's 8 blocks, one at a time for all n */
#pragma GCC unroll 8   /* j a constant in each copy: the sub-block's shifts and branches fold */
            for (int j = 0; j < BW_QK_K / BW_QK; j++) {
                const bw_xblock *xj = xq + b * (BW_QK_K / BW_QK) + j;
                __m512i piece[BW_QK / 8];
                x_pieces(xj, piece);
                for (int s = 0; s < n; s++)
                    acc[s] = fmt == BW_FMT_Q4_K ? q4_K_sub(group[s] + b * step, j, piece, xj, acc[s])
                                                : q6_K_sub(group[s] + b * step, j, piece, xj, acc[s]);
            }
        } else if (BW_FMT_IS_FLOAT(fmt)) {
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
#define KERNEL_FORMATS(X) X(BW_FMT_F16) X(BW_FMT_BF16) X(BW_FMT_Q8_0) X(BW_FMT_Q4_0) X(BW_FMT_Q4_K) X(BW_FMT_Q6_K)
#include "gemv_kernels.h"
#undef KERNEL_FORMATS
#undef GROUPS
#undef TABLE
#endif
