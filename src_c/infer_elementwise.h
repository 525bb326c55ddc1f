/* The element-wise ops of a pass (norms, softmax, activations) for one
   instruction set: infer.c includes this file per ISA between simd_begin.h
   and simd_end.h, and picks the set by the pass's ISA. Plain loops the
   compiler vectorises for that ISA; their sums as SIMD reductions. */

/* exp(x) to about 2e-7 relative, in plain arithmetic the compiler vectorises:
   2^r e^f with r = round(x / ln 2) and a degree-6 polynomial for e^f. */
static inline __attribute__((always_inline)) float SFX(fast_exp)(float x)
{
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    float t = x * 1.44269504f;
    float r = (t + 12582912.0f) - 12582912.0f;   /* round to nearest: 1.5 * 2^23 */
    float f = (t - r) * 0.693147181f;
    float e = 1.0f + f * (1.0f + f * (0.5f + f * (1.0f / 6 + f * (1.0f / 24 + f * (1.0f / 120 + f * (1.0f / 720))))));
    int32_t bits = ((int32_t)r + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return e * scale;
}

static inline __attribute__((always_inline)) float SFX(gelu)(float x)   /* tanh form; tanh(u) = 1 - 2 / (e^2u + 1) */
{
    float u = 0.7978845608f * (x + 0.044715f * x * x * x);
    return 0.5f * x * (2.0f - 2.0f / (SFX(fast_exp)(2.0f * u) + 1.0f));
}

static inline __attribute__((always_inline)) float SFX(silu)(float x) { return x / (1.0f + SFX(fast_exp)(-x)); }

/* Each of `rows` rows of `width` values normalised: LayerNorm with beta b, or
   RMSNorm when b is NULL; gamma w of `width` values. */
static void SFX(norm)(const float *in, float *out, size_t rows, size_t width, const float *w,
                      const float *b, float eps)
{
    const span my = share(rows);
    for (size_t r = my.lo; r < my.hi; r++) {
        const float *x = in + r * width;
        float *y = out + r * width;
        float mean = 0.0f, var = 0.0f;
        if (b) {
            #pragma omp simd reduction(+ : mean)   /* sums in vector lanes: reordered, as numpy's are */
            for (size_t i = 0; i < width; i++)
                mean += x[i];
            mean /= width;
        }
        #pragma omp simd reduction(+ : var)
        for (size_t i = 0; i < width; i++)
            var += (x[i] - mean) * (x[i] - mean);
        float scale = 1.0f / sqrtf(var / width + eps);
        for (size_t i = 0; i < width; i++)
            y[i] = (x[i] - mean) * scale * w[i] + (b ? b[i] : 0.0f);
    }
}

/* Each head's score rows (max_pos apart): softmax of scale * scores over
   the valid keys of the row's sequence (causal for a decoder: up to the
   row's own position), zeros after, up to the sequence's context. */
static void SFX(softmax)(const pass *p, float *scores, float scale)
{
    const span my = share(p->m->heads * p->ntok);
    for (size_t r = my.lo; r < my.hi; r++) {
        const size_t t = r % p->ntok, ctx = p->pos[t / p->per] + p->per;
        float *row = scores + r * p->m->max_pos;
        const size_t valid = p->decoder ? position(p, t) + 1 : ctx;
        float top = row[0] * scale, sum = 0.0f;
        #pragma omp simd reduction(max : top)
        for (size_t j = 1; j < valid; j++)
            top = row[j] * scale > top ? row[j] * scale : top;
        for (size_t j = 0; j < valid; j++)
            row[j] = SFX(fast_exp)(row[j] * scale - top);
        #pragma omp simd reduction(+ : sum)
        for (size_t j = 0; j < valid; j++)
            sum += row[j];
        const float inverse = 1.0f / sum;
        for (size_t j = 0; j < valid; j++)
            row[j] *= inverse;
        for (size_t j = valid; j < ctx; j++)
            row[j] = 0.0f;
    }
}

static void SFX(activate)(int act, float *a, size_t n)
{
    if (act == BW_ACT_SILU)
        for (size_t i = 0; i < n; i++)
            a[i] = SFX(silu)(a[i]);
    else
        for (size_t i = 0; i < n; i++)
            a[i] = SFX(gelu)(a[i]);
}

static const elementwise SFX(elementwise) = {SFX(norm), SFX(softmax), SFX(activate)};
