/* Weight formats in the layouts of llama.cpp's ggml, so bytes per weight and
   results compare one to one: f16 (IEEE half) and bf16 (the top half of a
   float32), both rounded to nearest even, and blocks of 32 weights with one fp16 scale d: q8_0 (34
   bytes: d = max|x| / 127, q = round(x / d)) and q4_0 (18 bytes: d = the
   signed value of largest magnitude / -8, q = x / d + 8 in a nibble, weights j
   and j + 16 sharing byte j). GEMV y = W x per format: f16 and bf16 against float32 x;
   the block formats against x quantised to q8_0 blocks once per product, as
   llama.cpp does, so each block is one integer dot product and one scale,
   with the weights regrouped (bw_interleave) so a vector holds 8 rows. */
#include <math.h>
#include <stddef.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bwbench.h"

typedef struct { uint16_t d; int8_t qs[BW_QK]; } block_q8_0;
typedef struct { uint16_t d; uint8_t qs[BW_QK / 2]; } block_q4_0;

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

static uint16_t f32_to_fp16(float f)   /* round to nearest even, as numpy's float16 */
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint32_t sign = (bits >> 16) & 0x8000;
    if ((bits & 0x7fffffff) > 0x7f800000)   /* NaN stays a (quiet) NaN */
        return (uint16_t)(sign | 0x7e00);
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

/* Row conversions, one pair a format (n: whole blocks, checked by the caller);
   f16 and bf16 one 16-bit value a weight. */
static void narrow(const float *x, size_t n, uint16_t *out, uint16_t (*to)(float))
{
    for (size_t i = 0; i < n; i++)
        out[i] = to(x[i]);
}

static void widen(const uint16_t *in, size_t n, float *x, float (*from)(uint16_t))
{
    for (size_t i = 0; i < n; i++)
        x[i] = from(in[i]);
}

static void quantize_f16(const float *x, size_t n, void *out) { narrow(x, n, out, f32_to_fp16); }
static void dequantize_f16(const void *in, size_t n, float *x) { widen(in, n, x, fp16_to_f32); }
static void quantize_bf16(const float *x, size_t n, void *out) { narrow(x, n, out, f32_to_bf16); }
static void dequantize_bf16(const void *in, size_t n, float *x) { widen(in, n, x, bf16_to_f32); }

static void quantize_row_q8_0(const float *x, size_t n, void *out)
{
    for (size_t b = 0; b < n / BW_QK; b++)
        quantize_q8_0(x + b * BW_QK, (block_q8_0 *)out + b);
}

static void dequantize_q8_0(const void *in, size_t n, float *x)
{
    for (size_t b = 0; b < n / BW_QK; b++) {
        const block_q8_0 *q = (const block_q8_0 *)in + b;
        for (int j = 0; j < BW_QK; j++)
            x[b * BW_QK + j] = q->qs[j] * fp16_to_f32(q->d);
    }
}

static void quantize_row_q4_0(const float *x, size_t n, void *out)
{
    for (size_t b = 0; b < n / BW_QK; b++)
        quantize_q4_0(x + b * BW_QK, (block_q4_0 *)out + b);
}

static void dequantize_q4_0(const void *in, size_t n, float *x)
{
    for (size_t b = 0; b < n / BW_QK; b++) {
        const block_q4_0 *q = (const block_q4_0 *)in + b;
        for (int j = 0; j < BW_QK / 2; j++) {
            x[b * BW_QK + j] = ((q->qs[j] & 0x0f) - 8) * fp16_to_f32(q->d);
            x[b * BW_QK + j + BW_QK / 2] = ((q->qs[j] >> 4) - 8) * fp16_to_f32(q->d);
        }
    }
}

/* w . x of one plain 32-weight block (times the scales) against x's block,
   float32 (f16, bf16) or quantised: the reference every fast path is tested against. */
static float dot_halves(const char *block, const float *xf, float (*from)(uint16_t))
{
    float sum = 0.0f;
    for (int j = 0; j < BW_QK; j++) {
        uint16_t h;
        memcpy(&h, block + 2 * j, 2);
        sum += from(h) * xf[j];
    }
    return sum;
}

static float dot_f16(const char *block, const float *xf, const bw_xblock *xq)
{
    (void)xq;
    return dot_halves(block, xf, fp16_to_f32);
}

static float dot_bf16(const char *block, const float *xf, const bw_xblock *xq)
{
    (void)xq;
    return dot_halves(block, xf, bf16_to_f32);
}

static float dot_q8_0(const char *block, const float *xf, const bw_xblock *x)
{
    uint16_t d;
    memcpy(&d, block, 2);
    const int8_t *q = (const int8_t *)(block + 2);
    int dot = 0;
    (void)xf;
    for (int j = 0; j < BW_QK; j++)
        dot += q[j] * x->qs[j];
    return fp16_to_f32(d) * x->d * dot;
}

static float dot_q4_0(const char *block, const float *xf, const bw_xblock *x)
{
    uint16_t d;
    memcpy(&d, block, 2);
    const uint8_t *q = (const uint8_t *)(block + 2);
    int dot = 0;
    (void)xf;
    for (int j = 0; j < BW_QK / 2; j++)
        dot += ((q[j] & 0x0f) - 8) * x->qs[j] + ((q[j] >> 4) - 8) * x->qs[j + BW_QK / 2];
    return fp16_to_f32(d) * x->d * dot;
}

/* ggml's K-quants: super-blocks of 256 weights in sub-blocks with their own
   scales. q4_K (144 bytes): fp16 d and dmin, 8 sub-blocks of 32 with 6-bit
   scale and min packed in 12 bytes, weight = d * sc * q - dmin * m with q a
   nibble (weights 64k..64k+31 in the low nibbles of bytes 32k.., the next 32
   in their high ones). q6_K (210 bytes): 128 bytes of low nibbles, 64 of
   high 2-bit pairs, 16 int8 scales of sub-blocks of 16, fp16 d; weight =
   d * sc * (q - 32) with q 6 bits. Their quantisers here are plain (a
   scale from each sub-block's range, not llama.cpp's search for the best
   one): any encoding in the layout is a valid weight for the GEMV. */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[BW_QK_K / 2]; } block_q4_K;
typedef struct { uint8_t ql[BW_QK_K / 2]; uint8_t qh[BW_QK_K / 4]; int8_t scales[BW_QK_K / 16]; uint16_t d; } block_q6_K;

/* Sub-block j's 6-bit scale and min of a q4_K block (ggml's get_scale_min_k4). */
static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static int clamp_round(float v, int lo, int hi)
{
    const int q = (int)lrintf(v);
    return q < lo ? lo : q > hi ? hi : q;
}

static void quantize_q4_K(const float *x, block_q4_K *y)
{
    float scale[8], min[8], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {   /* each sub-block spans [-min, -min + 15 * scale] */
        float lo = 0.0f, hi = 0.0f;
        for (int l = 0; l < 32; l++) {
            lo = x[32 * j + l] < lo ? x[32 * j + l] : lo;
            hi = x[32 * j + l] > hi ? x[32 * j + l] : hi;
        }
        scale[j] = (hi - lo) / 15;
        min[j] = -lo;
        max_scale = scale[j] > max_scale ? scale[j] : max_scale;
        max_min = min[j] > max_min ? min[j] : max_min;
    }
    const float d = fp16_to_f32(f32_to_fp16(max_scale / 63)), dmin = fp16_to_f32(f32_to_fp16(max_min / 63));
    y->d = f32_to_fp16(max_scale / 63);
    y->dmin = f32_to_fp16(max_min / 63);
    int sc[8], m[8];
    memset(y->scales, 0, sizeof y->scales);
    for (int j = 0; j < 8; j++) {
        sc[j] = d ? clamp_round(scale[j] / d, 0, 63) : 0;
        m[j] = dmin ? clamp_round(min[j] / dmin, 0, 63) : 0;
        if (j < 4) {
            y->scales[j] = (uint8_t)sc[j];
            y->scales[j + 4] = (uint8_t)m[j];
        } else {   /* low 4 bits in byte j + 4, the top 2 in the top of bytes j - 4 and j */
            y->scales[j + 4] = (uint8_t)((sc[j] & 0xf) | ((m[j] & 0xf) << 4));
            y->scales[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            y->scales[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
    for (int k = 0; k < 4; k++)
        for (int l = 0; l < 32; l++) {
            int q[2];
            for (int h = 0; h < 2; h++) {
                const int j = 2 * k + h;
                const float step = d * sc[j];
                q[h] = step ? clamp_round((x[32 * j + l] + dmin * m[j]) / step, 0, 15) : 0;
            }
            y->qs[32 * k + l] = (uint8_t)(q[0] | q[1] << 4);
        }
}

static void dequantize_q4_K_block(const block_q4_K *b, float *y)
{
    const float d = fp16_to_f32(b->d), dmin = fp16_to_f32(b->dmin);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        scale_min_k4(j, b->scales, &sc, &m);
        for (int l = 0; l < 32; l++) {
            const uint8_t q = b->qs[32 * (j / 2) + l];
            y[32 * j + l] = d * sc * (j % 2 ? q >> 4 : q & 0xf) - dmin * m;
        }
    }
}

static void quantize_q6_K(const float *x, block_q6_K *y)
{
    float scale[16], max_scale = 0.0f;
    for (int j = 0; j < 16; j++) {   /* each sub-block's value of largest magnitude at code -32, as ggml's */
        float amax = 0.0f, big = 0.0f;
        for (int l = 0; l < 16; l++)
            if (fabsf(x[16 * j + l]) > amax) {
                amax = fabsf(x[16 * j + l]);
                big = x[16 * j + l];
            }
        scale[j] = -big / 32;
        max_scale = fabsf(scale[j]) > max_scale ? fabsf(scale[j]) : max_scale;
    }
    y->d = f32_to_fp16(max_scale / 127);
    const float d = fp16_to_f32(y->d);
    memset(y->qh, 0, sizeof y->qh);
    for (int j = 0; j < 16; j++)
        y->scales[j] = (int8_t)(d ? clamp_round(scale[j] / d, -127, 127) : 0);
    for (int i = 0; i < BW_QK_K; i++) {
        const int half = i / 128, r = i % 128, l = r % 32, part = r / 32;   /* part 0..3: q1..q4 of ggml's loop */
        const float step = d * y->scales[i / 16];
        const int q = (step ? clamp_round(x[i] / step, -32, 31) : 0) + 32;
        uint8_t *low = &y->ql[64 * half + l + (part % 2) * 32];
        *low |= (uint8_t)((q & 0xf) << (part / 2 ? 4 : 0));
        y->qh[32 * half + l] |= (uint8_t)((q >> 4) << (2 * part));
    }
}

/* ggml's loop: each of a half's 32 columns l gives four weights (l, l + 32,
   l + 64, l + 96) from two low-nibble bytes and one byte of high bits. */
static void dequantize_q6_K_block(const block_q6_K *b, float *y)
{
    const float d = fp16_to_f32(b->d);
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = b->ql + 64 * half, *qh = b->qh + 32 * half;
        const int8_t *sc = b->scales + 8 * half;
        float *out = y + 128 * half;
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            out[l] = d * sc[is] * (((ql[l] & 0xf) | ((qh[l] & 3) << 4)) - 32);
            out[l + 32] = d * sc[is + 2] * (((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32);
            out[l + 64] = d * sc[is + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            out[l + 96] = d * sc[is + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

static void quantize_row_q4_K(const float *x, size_t n, void *out)
{
    for (size_t b = 0; b < n / BW_QK_K; b++)
        quantize_q4_K(x + b * BW_QK_K, (block_q4_K *)out + b);
}

static void dequantize_q4_K(const void *in, size_t n, float *x)
{
    for (size_t b = 0; b < n / BW_QK_K; b++)
        dequantize_q4_K_block((const block_q4_K *)in + b, x + b * BW_QK_K);
}

static void quantize_row_q6_K(const float *x, size_t n, void *out)
{
    memset(out, 0, n / BW_QK_K * sizeof(block_q6_K));   /* the packing ORs bits in */
    for (size_t b = 0; b < n / BW_QK_K; b++)
        quantize_q6_K(x + b * BW_QK_K, (block_q6_K *)out + b);
}

static void dequantize_q6_K(const void *in, size_t n, float *x)
{
    for (size_t b = 0; b < n / BW_QK_K; b++)
        dequantize_q6_K_block((const block_q6_K *)in + b, x + b * BW_QK_K);
}

static float dot_q4_K(const char *block, const float *xf, const bw_xblock *xq)
{
    const block_q4_K *b = (const block_q4_K *)block;
    const float d = fp16_to_f32(b->d), dmin = fp16_to_f32(b->dmin);
    float sum = 0.0f;
    (void)xf;
    for (int j = 0; j < 8; j++) {
        int sc, m, dot = 0;
        scale_min_k4(j, b->scales, &sc, &m);
        for (int l = 0; l < 32; l++) {
            const uint8_t q = b->qs[32 * (j / 2) + l];
            dot += (j % 2 ? q >> 4 : q & 0xf) * xq[j].qs[l];
        }
        sum += xq[j].d * (d * sc * dot - dmin * m * xq[j].sum);
    }
    return sum;
}

/* Against x's 8 blocks: weights 32j.. of the super-block are x's block j,
   their two sub-blocks of 16 a scale each (ggml's order: half h = j / 4 of
   ql and qh, the low or high nibbles of ql's first or second 32 bytes, qh's
   bit pair j % 4). */
static float dot_q6_K(const char *block, const float *xf, const bw_xblock *xq)
{
    const block_q6_K *b = (const block_q6_K *)block;
    float sum = 0.0f;
    (void)xf;
    for (int j = 0; j < 8; j++) {
        const int h = j / 4, s = j % 4;
        int t = 0;
        for (int sub = 0; sub < 2; sub++) {
            int dot = 0;
            for (int l = 16 * sub; l < 16 * sub + 16; l++) {
                const int q = ((b->ql[64 * h + 32 * (s % 2) + l] >> (4 * (s / 2))) & 0xf)
                              | ((b->qh[32 * h + l] >> (2 * s)) & 3) << 4;
                dot += (q - 32) * xq[j].qs[l];
            }
            t += b->scales[2 * j + sub] * dot;
        }
        sum += xq[j].d * (float)t;
    }
    return fp16_to_f32(b->d) * sum;
}

/* name, block weights and bytes, scale bytes and where they lie, GEMV block weights, x quantised, AVX-512 needs,
   conversions, dot */
const bw_fmt_traits bw_fmts[BW_NFMT] = {
    [BW_FMT_F32] = {"f32", 1, 4, 0, 0, BW_QK, 0, BW_NEEDS_AVX512, NULL, NULL, NULL},
    [BW_FMT_F16] = {"f16", 1, 2, 0, 0, BW_QK, 0, BW_NEEDS_AVX512, quantize_f16, dequantize_f16, dot_f16},
    [BW_FMT_BF16] = {"bf16", 1, 2, 0, 0, BW_QK, 0, BW_NEEDS_AVX512, quantize_bf16, dequantize_bf16, dot_bf16},
    [BW_FMT_Q8_0] = {"q8_0", BW_QK, sizeof(block_q8_0), 2, 0, BW_QK, 1, BW_NEEDS_AVX512_VNNI, quantize_row_q8_0,
                     dequantize_q8_0, dot_q8_0},
    [BW_FMT_Q4_0] = {"q4_0", BW_QK, sizeof(block_q4_0), 2, 0, BW_QK, 1, BW_NEEDS_AVX512_VNNI, quantize_row_q4_0,
                     dequantize_q4_0, dot_q4_0},
    [BW_FMT_Q4_K] = {"q4_K", BW_QK_K, sizeof(block_q4_K), 4, 0, BW_QK_K, 1, BW_NEEDS_AVX512_VNNI, quantize_row_q4_K,
                     dequantize_q4_K, dot_q4_K},
    [BW_FMT_Q6_K] = {"q6_K", BW_QK_K, sizeof(block_q6_K), 2, offsetof(block_q6_K, d), BW_QK_K, 1,
                     BW_NEEDS_AVX512_VNNI, quantize_row_q6_K, dequantize_q6_K, dot_q6_K},
};

size_t bw_fmt_row_bytes(int fmt, size_t cols)
{
    if (fmt < 0 || fmt >= BW_NFMT || cols % bw_fmts[fmt].block_weights)
        return 0;
    return cols / bw_fmts[fmt].block_weights * bw_fmts[fmt].block_bytes;
}

int bw_quantize(int fmt, const float *x, size_t n, void *out)
{
    if (!bw_fmt_row_bytes(fmt, n) || !bw_fmts[fmt].quantize)
        return BW_EARGS;
    bw_fmts[fmt].quantize(x, n, out);
    return BW_OK;
}

int bw_dequantize(int fmt, const void *in, size_t n, float *x)
{
    if (!bw_fmt_row_bytes(fmt, n) || !bw_fmts[fmt].dequantize)
        return BW_EARGS;
    bw_fmts[fmt].dequantize(in, n, x);
    return BW_OK;
}

/* The engine's layout of a matrix in a format: rows in groups of BW_GROUP,
   block by block (32 weights of a row; f16's and bf16's 64 bytes count as a
   block with no scale); a group's block b holds the BW_GROUP rows' scales, then their
   weights 4 bytes at a time (chunk k of every row, then chunk k + 1), so one
   32-byte load holds 4 bytes of each of 8 rows and a GEMV keeps one row in
   each lane, streaming one run of memory. Same bytes as llama.cpp's layout;
   rows after the last whole group stay as they are (BW_GROUP in bwbench.h). */
static size_t gemv_weights(int fmt) { return bw_fmts[fmt].gemv_weights; }

static size_t block_bytes(int fmt)   /* a GEMV block: gemv_weights(fmt) weights */
{
    return gemv_weights(fmt) / bw_fmts[fmt].block_weights * bw_fmts[fmt].block_bytes;
}

size_t bw_group_block_bytes(int fmt) { return BW_GROUP * block_bytes(fmt); }

static size_t scale_bytes(int fmt) { return bw_fmts[fmt].scale_bytes; }

/* Where plain chunk k of a q6_K block lies among the group block's chunks: in
   the order its SIMD kernels first read them, so that a block streams from
   memory front to back. For each half h of the super-block: its two chunks
   of scales; ql's first 32 bytes and qh's 32, a 64-byte pair of each in turn;
   then ql's second 32 bytes. Plain chunks: 0-31 ql, 32-47 qh, 48-51 scales. */
static size_t q6_K_chunk_at(size_t k)
{
    if (k >= 48)
        return 26 * ((k - 48) / 2) + (k - 48) % 2;
    if (k >= 32)
        return 26 * ((k - 32) / 8) + 4 + 4 * ((k - 32) % 8 / 2) + k % 2;
    const size_t h = k / 16, i = k % 16;
    return 26 * h + (i < 8 ? 2 + 4 * (i / 2) + i % 2 : 18 + i - 8);
}

/* Copies row r's block between a group's block (interleaved) and a plain
   block: the scale's bytes (at scale_at in the plain block) lead, then the
   others 4 at a time, in order (q6_K's reordered). */
static void regroup_block(int fmt, char *group_block, char *plain, int r, int to_group)
{
    const size_t s = scale_bytes(fmt), at = bw_fmts[fmt].scale_at, chunks = (block_bytes(fmt) - s) / 4;
    char *scale = group_block + s * r;
    memcpy(to_group ? scale : plain + at, to_group ? plain + at : scale, s);
    for (size_t k = 0; k < chunks; k++) {
        const size_t place = fmt == BW_FMT_Q6_K ? q6_K_chunk_at(k) : k;
        char *chunk = group_block + s * BW_GROUP + (place * BW_GROUP + r) * 4;
        char *bytes = plain + 4 * k + (4 * k < at ? 0 : s);
        memcpy(to_group ? chunk : bytes, to_group ? bytes : chunk, 4);
    }
}

int bw_interleave(int fmt, const void *w, size_t rows, size_t cols, void *out)
{
    const size_t row_bytes = bw_fmt_row_bytes(fmt, cols);
    if (!row_bytes || fmt == BW_FMT_F32 || cols % gemv_weights(fmt))   /* f16 and bf16 too: whole blocks */
        return BW_EARGS;
    const size_t grouped = rows / BW_GROUP * BW_GROUP, blocks = cols / gemv_weights(fmt);
    for (size_t i = 0; i < grouped; i++)
        for (size_t b = 0; b < blocks; b++)
            regroup_block(fmt, (char *)out + (i / BW_GROUP * blocks + b) * BW_GROUP * block_bytes(fmt),
                          (char *)w + i * row_bytes + b * block_bytes(fmt), i % BW_GROUP, 1);
    memcpy((char *)out + grouped * row_bytes, (const char *)w + grouped * row_bytes, (rows - grouped) * row_bytes);
    return BW_OK;
}

static void quantize_x_generic(const float *x, bw_xblock *out)
{
    block_q8_0 q;
    quantize_q8_0(x, &q);
    out->d = fp16_to_f32(q.d);
    out->sum = out->first = 0;
    for (int j = 0; j < BW_QK; j++) {
        out->qs[j] = q.qs[j];
        out->sum += q.qs[j];
        out->first += j < BW_QK / 2 ? q.qs[j] : 0;
    }
}

#if defined(__x86_64__)
/* The sum of v's 8 int32 lanes. */
static inline __attribute__((target("avx2"))) int32_t hsum_avx2(__m256i v)
{
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtsi128_si32(_mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1))));
}

/* The same block as quantize_x_generic, bit for bit (roundf's ties away from
   zero, the scale through fp16), 8 values a step: the scalar one took about
   a tenth of a q8_0 GEMV's time in cache. */
static __attribute__((target("avx2,f16c"))) void quantize_x_avx2(const float *x, bw_xblock *out)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    __m256 v[4], amax = _mm256_setzero_ps();
    for (int u = 0; u < 4; u++) {
        v[u] = _mm256_loadu_ps(x + 8 * u);
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[u]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float d = _mm_cvtss_f32(m) / 127, id = d ? 1.0f / d : 0.0f;
    out->d = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
    __m256i q[4];
    for (int u = 0; u < 4; u++) {
        const __m256 s = _mm256_mul_ps(v[u], _mm256_set1_ps(id));
        const __m256 t = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __m256 away = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(s, t)), half, _CMP_GE_OQ);
        q[u] = _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(away, _mm256_or_ps(_mm256_and_ps(s, sign), one))));
    }
    /* packs work within 128-bit halves: 4-byte runs come out 0 4 1 5 2 6 3 7 */
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256((__m256i *)out->qs, _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    out->first = hsum_avx2(_mm256_add_epi32(q[0], q[1]));
    out->sum = out->first + hsum_avx2(_mm256_add_epi32(q[2], q[3]));
}
#endif

void bw_team_quantize_x(int isa, const float *x, size_t cols, size_t ntok, void *xq)
{
    const size_t blocks = cols / BW_QK, stride = bw_xq_bytes(cols) / sizeof(bw_xblock);
    size_t lo, hi;
    bw_static_range(ntok * blocks, &lo, &hi);
    void (*block)(const float *, bw_xblock *) = quantize_x_generic;
#if defined(__x86_64__)
    if (isa >= BW_AVX2)
        block = quantize_x_avx2;
#endif
    for (size_t i = lo; i < hi; i++)
        block(x + i / blocks * cols + i % blocks * BW_QK, (bw_xblock *)xq + i / blocks * stride + i % blocks);
}

static void rows_generic(int fmt, const char *w, size_t row_bytes, size_t lo, size_t hi, const float *x,
                         const bw_xblock *xq, size_t cols, float *y)
{
    for (size_t i = lo; i < hi; i++) {
        float sum = 0.0f;
        for (size_t b = 0; b < cols / gemv_weights(fmt); b++)
            sum += bw_fmts[fmt].dot(w + i * row_bytes + b * block_bytes(fmt), x + b * gemv_weights(fmt),
                                    xq + b * gemv_weights(fmt) / BW_QK);
        y[i] = sum;
    }
}

static void group_generic(int fmt, const char *group, const float *x, const bw_xblock *xq, size_t blocks,
                          float *y)
{
    for (int r = 0; r < BW_GROUP; r++) {
        float sum = 0.0f;
        for (size_t b = 0; b < blocks; b++) {
            char plain[BW_MAX_BLOCK_BYTES];
            regroup_block(fmt, (char *)group + b * BW_GROUP * block_bytes(fmt), plain, r, 0);
            sum += bw_fmts[fmt].dot(plain, x + b * gemv_weights(fmt), xq + b * gemv_weights(fmt) / BW_QK);
        }
        y[r] = sum;
    }
}

#if defined(__x86_64__)
/* AVX2: a group's 8 rows in the 8 lanes. bf16 widened to float32 in
   registers (a shift or a mask), f16 by F16C's vcvtph2ps (the even halves
   of 8 rows gathered into one 128-bit half, the odd into the other), times
   x broadcast. The block formats:
   maddubs multiplies unsigned bytes by x's signed ones (4 of x's bytes
   broadcast to every row) and madd sums them to int32 per row.
   q8_0 weights are signed, so maddubs takes |w| and x with w's sign (as
   llama.cpp does); q4_0's nibbles go in unsigned, their 16-bit sums add up
   without overflow (at most 8 x 2 x 15 x 127), and the +8 they carry comes
   off as 8 * sum(x) of the block. The 8 scales convert in one instruction. */
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

/* x's bytes 4k .. 4k + 3 in every lane. */
static inline __m256i x_chunk(const bw_xblock *x, int k)
{
    int32_t four;
    memcpy(&four, x->qs + 4 * k, 4);
    return _mm256_set1_epi32(four);
}

/* Chunk k of 8 rows (weights 2k and 2k + 1 of each, a lane each) as float32:
   the even weights and the odd ones. */
static inline void widen_avx2(int fmt, __m256i w, __m256 *even, __m256 *odd)
{
    if (fmt == BW_FMT_BF16) {
        *even = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
        *odd = _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32((int)0xffff0000)));
        return;
    }
    const __m256i order = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                           0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    /* each 128-bit half: 4 even halves, then 4 odd; the 64-bit runs reordered even, even, odd, odd */
    const __m256i halves = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(w, order), _MM_SHUFFLE(3, 1, 2, 0));
    *even = _mm256_cvtph_ps(_mm256_castsi256_si128(halves));
    *odd = _mm256_cvtph_ps(_mm256_extracti128_si256(halves, 1));
}

#include "q4_K_scales.h"

/* One group block of q4_K against x's 8 q8_0 blocks, which are its 8
   sub-blocks: acc + each row's sum over them of x's scale times
   (d * sc * dot - dmin * m * sum(x)). The nibbles go through maddubs as
   q4_0's do (16-bit sums: at most 8 x 2 x 15 x 127). */
static inline __m256 q4_K_block_avx2(const char *g, const bw_xblock *x, __m256 acc)
{
    __m256 d, dmin;
    q4_K_d_dmin(g, &d, &dmin);
    const char *chunks = g + 4 * BW_GROUP;   /* chunk k of row r: chunks + (k * BW_GROUP + r) * 4 */
    const __m256i low = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
#pragma GCC unroll 8   /* j a constant in each copy: shifts and branches fold */
    for (int j = 0; j < 8; j++) {   /* sub-block j: the low (even j) or high nibbles of chunks 3 + 8 (j / 2) .. */
        __m256i pairs = _mm256_setzero_si256();
        for (int c = 0; c < 8; c++) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)(chunks + (3 + 8 * (j / 2) + c) * 4 * BW_GROUP));
            const __m256i q = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(w, 4) : w, low);
            pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(q, x_chunk(x + j, c)));
        }
        __m256 sc, m;
        q4_K_scale_min(chunks, j, &sc, &m);
        const __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
        acc = _mm256_fmadd_ps(dot, _mm256_mul_ps(_mm256_mul_ps(d, sc), _mm256_set1_ps(x[j].d)), acc);
        acc = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, m), _mm256_set1_ps(x[j].d * x[j].sum), acc);
    }
    return acc;
}

/* One group block of q6_K against x's 8 q8_0 blocks (the layout as
   quant_avx512.c's q6_K_sub reads it): a row's 6-bit values go into maddubs
   unsigned, two chunks' 16-bit sums at a time (at most 2 x 2 x 63 x 127),
   and 32 * sum(x) comes off each sub-block of 16 before its int8 scale. */
static inline __m256 q6_K_block_avx2(const char *g, const bw_xblock *x, __m256 acc)
{
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
    const __m256i low = _mm256_set1_epi8(0x0f), high = _mm256_set1_epi8(0x30), ones = _mm256_set1_epi16(1);
#pragma GCC unroll 8   /* j a constant in each copy: shifts and branches fold */
    for (int j = 0; j < 8; j++) {
        const int s = j % 4;
        const char *half = g + 2 * BW_GROUP + 26 * (j / 4) * 4 * BW_GROUP;   /* the 26 chunks of half j / 4 */
        const char *ql = half + (s % 2 ? 18 : 2) * 4 * BW_GROUP, *qh = half + 4 * 4 * BW_GROUP;
        const size_t step = (s % 2 ? 2 : 4) * 4 * BW_GROUP;   /* from one chunk pair of ql to the next */
        const __m256i scales = _mm256_loadu_si256((const __m256i *)(half + s / 2 * 4 * BW_GROUP));
        __m256i t = _mm256_setzero_si256();
        for (int sub = 0; sub < 2; sub++) {   /* weights 16 sub .. 16 sub + 15: chunk pairs 2 sub, 2 sub + 1 */
            __m256i dot = _mm256_setzero_si256();
            for (int c = 2 * sub; c < 2 * sub + 2; c++) {
                __m256i pairs = _mm256_setzero_si256();
                for (int e = 0; e < 2; e++) {
                    const __m256i l = _mm256_loadu_si256((const __m256i *)(ql + c * step + 32 * e));
                    const __m256i b = _mm256_loadu_si256((const __m256i *)(qh + c * 4 * 4 * BW_GROUP + 32 * e));
                    const __m256i q = _mm256_or_si256(
                        _mm256_and_si256(s < 2 ? l : _mm256_srli_epi16(l, 4), low),
                        _mm256_and_si256(s < 3 ? _mm256_slli_epi16(b, 4 - 2 * s) : _mm256_srli_epi16(b, 2), high));
                    pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(q, x_chunk(x + j, 2 * c + e)));
                }
                dot = _mm256_add_epi32(dot, _mm256_madd_epi16(pairs, ones));
            }
            const int xsum = sub ? x[j].sum - x[j].first : x[j].first;
            const __m256i sc = _mm256_srai_epi32(_mm256_slli_epi32(scales, 24 - 16 * (j % 2) - 8 * sub), 24);
            t = _mm256_add_epi32(t, _mm256_mullo_epi32(_mm256_sub_epi32(dot, _mm256_set1_epi32(32 * xsum)), sc));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_mul_ps(d, _mm256_set1_ps(x[j].d)), acc);
    }
    return acc;
}

/* An empty asm that keeps v in a register as it is: without it GCC regroups
   a block's chain of integer sums into a tree, keeps all its products live
   and spills them (the in-cache GEMV ran 30-50% slower). */
#define KEEP(v) __asm__("" : "+x"(v))

/* n groups in lockstep, block by block: n runs of memory in flight a core,
   as the read kernel reads (one run can leave DRAM idle). The block formats
   take x's chunk k once for all n: 8 rows of a group in the lanes times 4
   bytes of x broadcast, in int32 (q8_0) or int16 (q4_0). */
static inline __attribute__((always_inline)) void groups_avx2(const int fmt, const int n, const char *const *group,
                                                              const float *x, const bw_xblock *xq, size_t blocks,
                                                              size_t step, int prefetch, float *const *y)
{
    const __m256i ones = _mm256_set1_epi16(1), low = _mm256_set1_epi8(0x0f);
    __m256 acc[BW_MAX_STREAMS], odd[BW_MAX_STREAMS];   /* f16, bf16: the even and the odd columns' sums */
    for (int s = 0; s < n; s++)
        acc[s] = odd[s] = _mm256_setzero_ps();
    for (size_t b = 0; b < blocks; b++) {
        const bw_xblock *xb = xq + b;
        for (int s = 0; prefetch && s < n; s++)
            for (size_t o = 0; o < step; o += 64)
                _mm_prefetch(group[s] + b * step + prefetch + o, _MM_HINT_T0);
        if (BW_FMT_IS_FLOAT(fmt)) {   /* chunk k: columns 2k and 2k + 1 of 8 rows */
            for (int k = 0; k < BW_QK / 2; k++) {
                const __m256 x0 = _mm256_set1_ps(x[b * BW_QK + 2 * k]), x1 = _mm256_set1_ps(x[b * BW_QK + 2 * k + 1]);
                for (int s = 0; s < n; s++) {
                    __m256 even, odd_w;
                    widen_avx2(fmt, _mm256_loadu_si256((const __m256i *)(group[s] + b * step) + k), &even, &odd_w);
                    acc[s] = _mm256_fmadd_ps(even, x0, acc[s]);
                    odd[s] = _mm256_fmadd_ps(odd_w, x1, odd[s]);
                }
            }
            continue;
        }
        if (fmt == BW_FMT_Q4_K || fmt == BW_FMT_Q6_K) {   /* a super-block: 8 of x's blocks */
            for (int s = 0; s < n; s++)
                acc[s] = (fmt == BW_FMT_Q4_K ? q4_K_block_avx2 : q6_K_block_avx2)(group[s] + b * step,
                                                                               xq + b * (BW_QK_K / BW_QK), acc[s]);
            continue;
        }
        __m256i dot[BW_MAX_STREAMS];
        for (int s = 0; s < n; s++)
            dot[s] = _mm256_setzero_si256();
        if (fmt == BW_FMT_Q8_0)
            for (int k = 0; k < BW_QK / 4; k++) {
                const __m256i xk = x_chunk(xb, k);
                for (int s = 0; s < n; s++) {
                    const __m256i w = _mm256_loadu_si256((const __m256i *)(group[s] + b * step + 2 * BW_GROUP) + k);
                    const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xk, w));
                    dot[s] = _mm256_add_epi32(dot[s], _mm256_madd_epi16(pairs, ones));
                    KEEP(dot[s]);
                }
            }
        else {
            __m256i pairs[BW_MAX_STREAMS];
            for (int s = 0; s < n; s++)
                pairs[s] = _mm256_setzero_si256();
            for (int k = 0; k < BW_QK / 8; k++) {   /* low nibbles: weights 4k.., high: 16 + 4k.. */
                const __m256i xlo = x_chunk(xb, k), xhi = x_chunk(xb, k + BW_QK / 8);
                for (int s = 0; s < n; s++) {
                    const __m256i w = _mm256_loadu_si256((const __m256i *)(group[s] + b * step + 2 * BW_GROUP) + k);
                    pairs[s] = _mm256_add_epi16(pairs[s], _mm256_maddubs_epi16(_mm256_and_si256(w, low), xlo));
                    pairs[s] = _mm256_add_epi16(pairs[s],
                                                _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(w, 4), low), xhi));
                    KEEP(pairs[s]);
                }
            }
            for (int s = 0; s < n; s++)
                dot[s] = _mm256_sub_epi32(_mm256_madd_epi16(pairs[s], ones), _mm256_set1_epi32(8 * xb->sum));
        }
        for (int s = 0; s < n; s++) {   /* the 8 scales convert in one instruction */
            const __m256 scales = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(group[s] + b * step)));
            acc[s] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[s]), _mm256_mul_ps(scales, _mm256_set1_ps(xb->d)), acc[s]);
        }
    }
    for (int s = 0; s < n; s++)
        _mm256_storeu_ps(y[s], _mm256_add_ps(acc[s], odd[s]));
}

#define GROUPS groups_avx2
#define TABLE bw_groups_avx2
#define KERNEL_FORMATS(X) X(BW_FMT_F16) X(BW_FMT_BF16) X(BW_FMT_Q8_0) X(BW_FMT_Q4_0) X(BW_FMT_Q4_K) X(BW_FMT_Q6_K)
#include "gemv_kernels.h"
#undef KERNEL_FORMATS
#undef GROUPS
#undef TABLE
#undef KEEP
#pragma GCC pop_options
#endif

/* The built-in shape of every path, until bw_set_gemv_shape: four streams,
   the block formats prefetching 1 KiB ahead (the hardware prefetcher alone
   left them lower on Zen 3), f16 and bf16 not (bf16 slower with it there), 16 groups a
   chunk (a static half each left one thread waiting for the other at every
   product on a shared host). The K-quants read one stream: their group
   blocks are 1-2 KiB, and at DRAM size four streams read them at half the
   speed of one on Zen 4. */
static bw_gemv_shape shapes[BW_NFMT][BW_NISA];

static bw_gemv_shape default_shape(int fmt)
{
    return (bw_gemv_shape){.streams = gemv_weights(fmt) == BW_QK_K ? 1 : 4,
                           .prefetch = bw_fmts[fmt].quantised_x ? 1024 : 0, .chunk = 16};
}

bw_gemv_shape bw_gemv_shape_of(int fmt, int path)
{
    if (fmt <= BW_FMT_F32 || fmt >= BW_NFMT || path < 0 || path >= BW_NISA || !shapes[fmt][path].streams)
        return default_shape(fmt);
    return shapes[fmt][path];
}

int bw_set_gemv_shape(int fmt, int path, bw_gemv_shape shape)
{
    const int s = shape.streams;
    if (fmt <= BW_FMT_F32 || fmt >= BW_NFMT || path < 0 || path >= BW_NISA || (s != 1 && s != 2 && s != 4 && s != 8)
        || shape.prefetch < 0 || shape.prefetch > BW_MAX_PREFETCH || shape.prefetch % 64 || shape.chunk < 1)
        return BW_EARGS;
    shapes[fmt][path] = shape;
    return BW_OK;
}

int bw_gemv_path(int isa, int fmt)
{
#if defined(__x86_64__)   /* a format without a SIMD kernel yet (the K-quants) has an empty entry */
    if (isa >= BW_AVX512 && bw_cpu_has(bw_fmts[fmt].avx512_needs) && bw_groups_avx512[fmt][0])
        return BW_AVX512;
    if (isa >= BW_AVX2 && bw_isa_supported(BW_AVX2) && bw_groups_avx2[fmt][0])
        return BW_AVX2;
#endif
    (void)isa, (void)fmt;
    return BW_GENERIC;
}

#if defined(__x86_64__)
/* Groups lo..hi through a SIMD kernel table: 1 << i at a time, one from
   each of the range's parts, then the rest one by one. */
static void gemv_streams(bw_groups_fn *const *kernel, int i, int prefetch, const char *w, size_t group_bytes,
                         size_t lo, size_t hi, const float *x, const bw_xblock *xq, size_t blocks, size_t step,
                         float *y)
{
    const int n = 1 << i;
    const size_t part = (hi - lo) / n;
    for (size_t p = 0; p < part; p++) {
        const char *group[BW_MAX_STREAMS];
        float *out[BW_MAX_STREAMS];
        for (int s = 0; s < n; s++) {
            const size_t g = lo + s * part + p;
            group[s] = w + g * group_bytes;
            out[s] = y + g * BW_GROUP;
        }
        kernel[i](group, x, xq, blocks, step, prefetch, out);
    }
    for (size_t g = lo + n * part; g < hi; g++) {
        const char *group = w + g * group_bytes;
        float *out = y + g * BW_GROUP;
        kernel[0](&group, x, xq, blocks, step, prefetch, &out);
    }
}

static bw_groups_fn *const (*const groups_table[BW_NISA])[BW_NSTREAM_COUNTS] = {
    [BW_AVX2] = bw_groups_avx2, [BW_AVX512] = bw_groups_avx512};
#endif

#define SLICE_BYTES (256 * 1024)   /* half of Zen 3's 512 KiB L2 */

void bw_team_gemv_fmt(int isa, int fmt, const void *w, size_t rows, size_t cols, size_t ntok, const float *x,
                      const void *xq, float *y)
{
    const size_t row_bytes = bw_fmt_row_bytes(fmt, cols), blocks = cols / gemv_weights(fmt), groups = rows / BW_GROUP;
    const size_t xq_blocks = bw_xq_bytes(cols) / sizeof(bw_xblock);
    const int path = bw_gemv_path(isa, fmt);
    const bw_gemv_shape shape = bw_gemv_shape_of(fmt, path);
    const size_t chunk = shape.chunk, chunks = (groups + chunk - 1) / chunk;
    /* Several tokens: a slice of the chunk from memory once, then from the
       core's L2 for the next tokens (SLICE_BYTES fit the smallest L2 met). */
    const size_t group_bytes = BW_GROUP * row_bytes, fitting = SLICE_BYTES / group_bytes;
    const size_t slice = ntok == 1 ? chunk : fitting > (size_t)shape.streams ? fitting : (size_t)shape.streams;
    #pragma omp for schedule(dynamic) nowait
    for (size_t c = 0; c < chunks; c++) {
        const size_t first = c * chunk, end = first + chunk < groups ? first + chunk : groups;
        for (size_t lo = first; lo < end; lo += slice) {
            const size_t hi = lo + slice < end ? lo + slice : end;
            for (size_t t = 0; t < ntok; t++) {
                const float *xt = x + t * cols;
                const bw_xblock *xqt = (const bw_xblock *)xq + t * xq_blocks;
                float *yt = y + t * rows;
#if defined(__x86_64__)
                if (path != BW_GENERIC)
                    gemv_streams(groups_table[path][fmt], __builtin_ctz(shape.streams), shape.prefetch, w,
                                 group_bytes, lo, hi, xt, xqt, blocks, bw_group_block_bytes(fmt), yt);
                else
#endif
                    for (size_t g = lo; g < hi; g++)
                        group_generic(fmt, (const char *)w + g * group_bytes, xt, xqt, blocks, yt + g * BW_GROUP);
            }
        }
    }
    if (omp_get_thread_num() == omp_get_num_threads() - 1)   /* the rows after the last whole group */
        for (size_t t = 0; t < ntok; t++)
            rows_generic(fmt, w, row_bytes, groups * BW_GROUP, rows, x + t * cols,
                         (const bw_xblock *)xq + t * xq_blocks, cols, y + t * rows);
}

size_t bw_xq_bytes(size_t cols)
{
    return (cols + BW_QK - 1) / BW_QK * sizeof(bw_xblock);
}

typedef struct {
    int isa, fmt;
    const void *w;
    size_t rows, cols;
    const float *x;
    void *xq;
    float *y;
} qgemv_ctx;

/* One product as the inference path runs it: x quantised by the team, then every row. */
static void qgemv_body(const void *p, long reps)
{
    const qgemv_ctx *g = p;
    for (long r = 0; r < reps; r++) {
        if (bw_fmts[g->fmt].quantised_x) {
            bw_team_quantize_x(g->isa, g->x, g->cols, 1, g->xq);
            #pragma omp barrier
        }
        bw_team_gemv_fmt(g->isa, g->fmt, g->w, g->rows, g->cols, 1, g->x, g->xq, g->y);
        #pragma omp barrier   /* xq is rewritten by the next repetition */
    }
}

int bw_qgemv_measure(int isa, int fmt, const void *w, int grouped, size_t rows, size_t cols, const float *x, float *y,
                     int threads, int ntimes, double min_sample_s, double *samples, int *cpus, long *reps)
{
    const size_t bytes = bw_bytes(rows, bw_fmt_row_bytes(fmt, cols));
    if (fmt == BW_FMT_F32 || !bytes || cols % gemv_weights(fmt))
        return BW_EARGS;
    if (!bw_isa_usable(isa))
        return BW_EUNSUPPORTED;
    void *xq = bw_alloc(bw_xq_bytes(cols)), *copy = grouped ? NULL : bw_alloc(bytes);   /* in the engine's layout */
    int err = !xq || (!grouped && !copy) ? BW_ENOMEM : grouped ? BW_OK : bw_interleave(fmt, w, rows, cols, copy);
    qgemv_ctx g = {.isa = isa, .fmt = fmt, .w = grouped ? w : copy, .rows = rows, .cols = cols, .x = x, .xq = xq, .y = y};
    if (!err)
        err = samples ? bw_time(qgemv_body, &g, threads, ntimes, min_sample_s, samples, cpus, reps)
                      : bw_run(qgemv_body, &g, threads);
    bw_free(xq);
    bw_free(copy);
    return err;
}
