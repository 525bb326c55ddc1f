/* Weight formats in the layouts of llama.cpp's ggml, so bytes per weight and
   results compare one to one: bf16 (the top half of a float32, rounded to
   nearest even), and blocks of 32 weights with one fp16 scale d: q8_0 (34
   bytes: d = max|x| / 127, q = round(x / d)) and q4_0 (18 bytes: d = the
   signed value of largest magnitude / -8, q = x / d + 8 in a nibble, weights j
   and j + 16 sharing byte j). GEMV y = W x per format: bf16 against float32 x;
   the block formats against x quantised to q8_0 blocks once per product, as
   llama.cpp does, so each block is one integer dot product and one scale. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bwbench.h"

typedef struct { uint16_t d; int8_t qs[BW_QK]; } block_q8_0;
typedef struct { uint16_t d; uint8_t qs[BW_QK / 2]; } block_q4_0;

size_t bw_fmt_row_bytes(int fmt, size_t cols)
{
    switch (fmt) {
    case BW_FMT_F32: return cols * 4;
    case BW_FMT_BF16: return cols * 2;
    case BW_FMT_Q8_0: return cols % BW_QK ? 0 : cols / BW_QK * sizeof(block_q8_0);
    case BW_FMT_Q4_0: return cols % BW_QK ? 0 : cols / BW_QK * sizeof(block_q4_0);
    default: return 0;
    }
}

static float fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f)
        bits = sign | 0x7f800000 | (man << 13);
    else if (exp)
        bits = sign | ((exp + 112) << 23) | (man << 13);
    else if (man) {   /* subnormal: normalise */
        int shift = 0;
        while (!(man & 0x400)) {
            man <<= 1;
            shift++;
        }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((man & 0x3ff) << 13);
    } else
        bits = sign;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint16_t f32_to_fp16(float f)   /* round to nearest even; scales are finite and small */
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint32_t sign = (bits >> 16) & 0x8000;
    int exp = (int)((bits >> 23) & 0xff) - 127 + 15;
    uint32_t man = bits & 0x7fffff;
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {   /* subnormal half */
        if (exp < -10)
            return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp), half = man >> shift, rest = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        half += rest > mid || (rest == mid && (half & 1));
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)exp << 10) | (man >> 13), rest = man & 0x1fff;
    half += rest > 0x1000 || (rest == 0x1000 && (half & 1));   /* a carry rounds into the exponent */
    return (uint16_t)(sign | half);
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if ((bits & 0x7fffffff) > 0x7f800000)   /* NaN stays a (quiet) NaN */
        return (uint16_t)((bits >> 16) | 0x40);
    return (uint16_t)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

static float bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void quantize_q8_0(const float *x, block_q8_0 *y)
{
    float amax = 0.0f;
    for (int j = 0; j < BW_QK; j++)
        amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    y->d = f32_to_fp16(d);
    for (int j = 0; j < BW_QK; j++)
        y->qs[j] = (int8_t)roundf(x[j] * id);
}

static void quantize_q4_0(const float *x, block_q4_0 *y)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < BW_QK; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    const float d = max / -8, id = d ? 1.0f / d : 0.0f;
    y->d = f32_to_fp16(d);
    for (int j = 0; j < BW_QK / 2; j++) {
        int lo = (int8_t)(x[j] * id + 8.5f), hi = (int8_t)(x[j + BW_QK / 2] * id + 8.5f);
        y->qs[j] = (uint8_t)((lo < 15 ? lo : 15) | (hi < 15 ? hi : 15) << 4);
    }
}

int bw_quantize(int fmt, const float *x, size_t n, void *out)
{
    if (!bw_fmt_row_bytes(fmt, n) || fmt == BW_FMT_F32)
        return BW_EARGS;
    for (size_t i = 0; fmt == BW_FMT_BF16 && i < n; i++)
        ((uint16_t *)out)[i] = f32_to_bf16(x[i]);
    for (size_t b = 0; fmt == BW_FMT_Q8_0 && b < n / BW_QK; b++)
        quantize_q8_0(x + b * BW_QK, (block_q8_0 *)out + b);
    for (size_t b = 0; fmt == BW_FMT_Q4_0 && b < n / BW_QK; b++)
        quantize_q4_0(x + b * BW_QK, (block_q4_0 *)out + b);
    return BW_OK;
}

int bw_dequantize(int fmt, const void *in, size_t n, float *x)
{
    if (!bw_fmt_row_bytes(fmt, n) || fmt == BW_FMT_F32)
        return BW_EARGS;
    for (size_t i = 0; fmt == BW_FMT_BF16 && i < n; i++)
        x[i] = bf16_to_f32(((const uint16_t *)in)[i]);
    for (size_t b = 0; fmt == BW_FMT_Q8_0 && b < n / BW_QK; b++) {
        const block_q8_0 *q = (const block_q8_0 *)in + b;
        for (int j = 0; j < BW_QK; j++)
            x[b * BW_QK + j] = q->qs[j] * fp16_to_f32(q->d);
    }
    for (size_t b = 0; fmt == BW_FMT_Q4_0 && b < n / BW_QK; b++) {
        const block_q4_0 *q = (const block_q4_0 *)in + b;
        for (int j = 0; j < BW_QK / 2; j++) {
            x[b * BW_QK + j] = ((q->qs[j] & 0x0f) - 8) * fp16_to_f32(q->d);
            x[b * BW_QK + j + BW_QK / 2] = ((q->qs[j] >> 4) - 8) * fp16_to_f32(q->d);
        }
    }
    return BW_OK;
}

/* One row of W times x: the plain reference every fast path is tested against. */
static float row_generic(int fmt, const void *row, const float *x, const block_q8_0 *xq, size_t cols)
{
    float sum = 0.0f;
    if (fmt == BW_FMT_BF16)
        for (size_t j = 0; j < cols; j++)
            sum += bf16_to_f32(((const uint16_t *)row)[j]) * x[j];
    for (size_t b = 0; fmt == BW_FMT_Q8_0 && b < cols / BW_QK; b++) {
        const block_q8_0 *w = (const block_q8_0 *)row + b;
        int dot = 0;
        for (int j = 0; j < BW_QK; j++)
            dot += w->qs[j] * xq[b].qs[j];
        sum += fp16_to_f32(w->d) * fp16_to_f32(xq[b].d) * dot;
    }
    for (size_t b = 0; fmt == BW_FMT_Q4_0 && b < cols / BW_QK; b++) {
        const block_q4_0 *w = (const block_q4_0 *)row + b;
        int dot = 0;
        for (int j = 0; j < BW_QK / 2; j++)
            dot += ((w->qs[j] & 0x0f) - 8) * xq[b].qs[j] + ((w->qs[j] >> 4) - 8) * xq[b].qs[j + BW_QK / 2];
        sum += fp16_to_f32(w->d) * fp16_to_f32(xq[b].d) * dot;
    }
    return sum;
}

#if defined(__x86_64__)
/* AVX2: bf16 widened to float32 in registers (a shift); the block formats as
   32 signed bytes times 32 signed bytes (maddubs on |w| and x with w's sign,
   as llama.cpp does), one scale product per block. */
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
static inline float hsum_avx2(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
}

/* Weights of block b as 32 signed bytes, and the block's scale times x's. */
static inline __m256i block_avx2(int fmt, const void *row, size_t b, const block_q8_0 *xq, float *scale)
{
    if (fmt == BW_FMT_Q8_0) {
        const block_q8_0 *w = (const block_q8_0 *)row + b;
        *scale = _cvtsh_ss(w->d) * _cvtsh_ss(xq[b].d);
        return _mm256_loadu_si256((const __m256i *)w->qs);
    }
    const block_q4_0 *w = (const block_q4_0 *)row + b;
    const __m128i packed = _mm_loadu_si128((const __m128i *)w->qs), low = _mm_set1_epi8(0x0f);
    *scale = _cvtsh_ss(w->d) * _cvtsh_ss(xq[b].d);
    return _mm256_sub_epi8(_mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(packed, 4), low),
                                            _mm_and_si128(packed, low)), _mm256_set1_epi8(8));
}

/* acc + scale * (w . x) over one block: |w| times x with w's sign, 32 byte products summed in int32. */
static inline __m256 block_dot_avx2(__m256 acc, __m256i w, __m256i x, float scale)
{
    const __m256i products = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    const __m256i sums = _mm256_madd_epi16(products, _mm256_set1_epi16(1));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(scale), acc);
}

static float row_avx2(int fmt, const void *row, const float *x, const block_q8_0 *xq, size_t cols)
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    if (fmt == BW_FMT_BF16) {
        const uint16_t *w = row;
        size_t j = 0;
        for (; j + 32 <= cols; j += 32)
            for (int u = 0; u < 4; u++) {
                __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + j + 8 * u)));
                acc[u] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)),
                                         _mm256_loadu_ps(x + j + 8 * u), acc[u]);
            }
        float tail = 0.0f;
        for (; j < cols; j++)
            tail += bf16_to_f32(w[j]) * x[j];
        return hsum_avx2(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]))) + tail;
    }
    const size_t blocks = cols / BW_QK;
    size_t b = 0;
    float s0, s1;
    for (; b + 2 <= blocks; b += 2) {   /* two blocks a step, two accumulators: no chain through one */
        const __m256i w0 = block_avx2(fmt, row, b, xq, &s0), w1 = block_avx2(fmt, row, b + 1, xq, &s1);
        acc[0] = block_dot_avx2(acc[0], w0, _mm256_loadu_si256((const __m256i *)xq[b].qs), s0);
        acc[1] = block_dot_avx2(acc[1], w1, _mm256_loadu_si256((const __m256i *)xq[b + 1].qs), s1);
    }
    if (b < blocks) {
        const __m256i w0 = block_avx2(fmt, row, b, xq, &s0);
        acc[2] = block_dot_avx2(acc[2], w0, _mm256_loadu_si256((const __m256i *)xq[b].qs), s0);
    }
    return hsum_avx2(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), acc[2]));
}
#pragma GCC pop_options
#endif

void bw_team_gemv_fmt(int isa, int fmt, const void *w, size_t rows, size_t cols, const float *x,
                      const void *xq, float *y)
{
    const size_t row_bytes = bw_fmt_row_bytes(fmt, cols);
    size_t lo, hi;
    bw_static_range(rows, &lo, &hi);
#if defined(__x86_64__)
    if (isa >= BW_AVX2) {   /* the callers checked that isa is usable, once, before any timed region */
        for (size_t i = lo; i < hi; i++)
            y[i] = row_avx2(fmt, (const char *)w + i * row_bytes, x, xq, cols);
        return;
    }
#endif
    for (size_t i = lo; i < hi; i++)
        y[i] = row_generic(fmt, (const char *)w + i * row_bytes, x, xq, cols);
}

typedef struct {
    int isa, fmt;
    const void *w;
    size_t rows, cols;
    const float *x;
    void *xq;
    float *y;
} qgemv_ctx;

/* One product as the inference path runs it: x quantised by thread 0, then every row. */
static void qgemv_body(const void *p, long reps)
{
    const qgemv_ctx *g = p;
    for (long r = 0; r < reps; r++) {
        if (g->fmt != BW_FMT_BF16) {
            if (omp_get_thread_num() == 0)
                bw_quantize(BW_FMT_Q8_0, g->x, g->cols, g->xq);
            #pragma omp barrier
        }
        bw_team_gemv_fmt(g->isa, g->fmt, g->w, g->rows, g->cols, g->x, g->xq, g->y);
        #pragma omp barrier   /* xq is rewritten by the next repetition */
    }
}

int bw_qgemv_measure(int isa, int fmt, const void *w, size_t rows, size_t cols, const float *x, float *y,
                     int threads, int ntimes, double min_sample_s, double *samples, int *cpus, long *reps)
{
    if (fmt == BW_FMT_F32 || !bw_fmt_row_bytes(fmt, cols) || !rows)
        return BW_EARGS;
    if (!bw_isa_usable(isa))
        return BW_EUNSUPPORTED;
    void *xq = fmt == BW_FMT_BF16 ? NULL : bw_alloc(bw_fmt_row_bytes(BW_FMT_Q8_0, cols));   /* x as q8_0 blocks */
    if (fmt != BW_FMT_BF16 && !xq)
        return BW_ENOMEM;
    qgemv_ctx g = {.isa = isa, .fmt = fmt, .w = w, .rows = rows, .cols = cols, .x = x, .xq = xq, .y = y};
    int err = samples ? bw_time(qgemv_body, &g, threads, ntimes, min_sample_s, samples, cpus, reps)
                      : bw_run(qgemv_body, &g, threads);
    bw_free(xq);
    return err;
}
