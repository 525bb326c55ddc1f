/* The C core on its own, for the AddressSanitizer + UndefinedBehaviorSanitizer
   build (tests/test_sanitizers.py compiles src_c/ with this driver): every
   entry point on small, odd sizes at 1 and 2 threads, results checked against
   plain loops, each check fed a wrong result, each refusal its error code.
   Prints one line per failure and exits 1 if any; the sanitizers abort on
   their first report. */
#define _GNU_SOURCE
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bwbench.h"
#include "driver.h"

static const size_t sizes[] = {1, 7, 64, 1023, 4099};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void test_stream(int isa, int threads)
{
    for (size_t s = 0; s < NSIZES; s++) {
        size_t n = sizes[s];
        double *a = bw_alloc(n * 8), *b = bw_alloc(n * 8), *c = bw_alloc(n * 8);
        for (int k = BW_LOAD; k < BW_NSTREAM; k++)
            for (int nt = 0; nt <= bw_stream_has_nt(k); nt++) {
                EXPECT(bw_stream_fill(a, b, c, n, isa, threads) == BW_OK);
                bw_stream_ctx ctx = {.a = a, .b = b, .c = c, .s = 3.0, .n = n};
                double sum = 0.0;
                EXPECT(bw_stream_apply(k, nt, isa, &ctx, threads, &sum) == BW_OK);
                EXPECT(bw_stream_check(k, a, 3.0, n, sum) == 0);
                if (bw_stream_arrays(k) == 1) {   /* load, read: a sum */
                    EXPECT(bw_stream_check(k, a, 3.0, n, sum + 1) == 1);
                } else {
                    a[n / 2] += 1.0;
                    EXPECT(bw_stream_check(k, a, 3.0, n, sum) == 1);
                }
            }
        for (int streams = 1; streams <= BW_MAX_STREAMS; streams *= 2)   /* every shape of the read kernel */
            for (int prefetch = 0; prefetch <= 128; prefetch += 128) {
                EXPECT(bw_set_read_shape((bw_read_shape){.streams = streams, .prefetch = prefetch}) == BW_OK);
                EXPECT(bw_stream_fill(NULL, b, NULL, n, isa, threads) == BW_OK);
                bw_stream_ctx ctx = {.b = b, .n = n};
                double sum = 0.0;
                EXPECT(bw_stream_apply(BW_READ, 0, isa, &ctx, threads, &sum) == BW_OK);
                EXPECT(bw_stream_check(BW_READ, NULL, 3.0, n, sum) == 0);
            }
        EXPECT(bw_set_read_shape((bw_read_shape){.streams = 3, .prefetch = 0}) == BW_EARGS);
        EXPECT(bw_set_read_shape((bw_read_shape){.streams = 4, .prefetch = 100}) == BW_EARGS);
        bw_free(a);
        bw_free(b);
        bw_free(c);
    }
    double samples[10];
    int cpus[2];
    long reps;
    size_t bad = 99;
    EXPECT(bw_stream_measure(BW_TRIAD, 1, isa, 1000, threads, 10, 1e-5, samples, cpus, &reps, &bad) == BW_OK);
    EXPECT(bad == 0 && reps >= 1 && samples[9] > 0);
    EXPECT(bw_stream_measure(BW_COPY, 0, isa, 0, threads, 10, 1e-5, samples, cpus, &reps, &bad) == BW_EARGS);
    EXPECT(bw_stream_measure(BW_COPY, 0, isa, (size_t)1 << 62, threads, 10, 1e-5, samples, cpus, &reps, &bad) == BW_EARGS);
    EXPECT(bw_stream_measure(BW_LOAD, 1, isa, 100, threads, 10, 1e-5, samples, cpus, &reps, &bad) == BW_EUNSUPPORTED);
    EXPECT(bw_stream_measure(BW_COPY, 0, isa, 100, 0, 10, 1e-5, samples, cpus, &reps, &bad) == BW_EARGS);
}

static void test_flops(int isa, int threads)
{
    double samples[10], flops = 0;
    int cpus[2];
    long reps;
    size_t bad = 99;
    for (int f32 = 0; f32 < 2; f32++)
        for (int fma = 0; fma < 2; fma++) {
            EXPECT(bw_peak_measure(isa, fma, f32, threads, 10, 1e-5, samples, cpus, &reps, &flops, &bad) == BW_OK);
            EXPECT(bad == 0 && flops > 0);
        }
    double out[BW_PEAK_OUT] = {0};
    EXPECT(bw_peak_check(out, 1, 1, 0, 5) == BW_PEAK_ACC);   /* nothing computed */
    for (size_t s = 0; s < NSIZES; s++) {
        size_t n = sizes[s];
        double *a = bw_alloc(n * 8);
        for (size_t i = 0; i < n; i++)
            a[i] = (double)(i & 15) / 16.0;
        EXPECT(bw_ladder_apply(isa, 8, a, n, threads) == BW_OK);
        EXPECT(bw_ladder_check(a, n, 8) == 0);
        a[n - 1] = NAN;
        EXPECT(bw_ladder_check(a, n, 8) == 1);
        bw_free(a);
    }
    EXPECT(bw_ladder_measure(isa, 4, 777, threads, 10, 1e-5, samples, cpus, &reps, &bad) == BW_OK && bad == 0);
    EXPECT(bw_ladder_measure(isa, 0, 777, threads, 10, 1e-5, samples, cpus, &reps, &bad) == BW_EARGS);
    EXPECT(bw_ladder_measure(isa, 4, 0, threads, 10, 1e-5, samples, cpus, &reps, &bad) == BW_EARGS);
}

static void test_chase(void)
{
    double samples[10];
    int cpu;
    long reps;
    size_t bad = 99;
    EXPECT(bw_chase_measure(64 * 100, 64, 10, 1e-5, samples, &cpu, &reps, &bad) == BW_OK && bad == 0);
    EXPECT(bw_chase_measure(64, 64, 10, 1e-5, samples, &cpu, &reps, &bad) == BW_EARGS);
    EXPECT(bw_chase_check(64 * 100, 250, 0, &bad) == BW_OK);
    size_t wrong = 0;
    for (size_t end = 0; end < 100; end++) {
        EXPECT(bw_chase_check(64 * 100, 250, end, &bad) == BW_OK);
        wrong += bad;
    }
    EXPECT(wrong == 99);   /* exactly one end is right */
}

/* Every mix shape at odd sizes, regular and non-temporal, validated in C; the refusals. */
static void test_mix(int isa, int threads)
{
    static const int shapes[][3] = {{1, 0, 0}, {3, 0, 0}, {0, 1, 0}, {1, 1, 0}, {2, 1, 0}, {3, 1, 0}, {1, 1, 1},
                                    {4, 2, 0}, {1, 2, 0}};
    double samples[10];
    int cpus[2];
    long reps;
    size_t bad = 99;
    for (size_t s = 0; s < NSIZES; s++)
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
            for (int nt = 0; nt <= (shapes[k][1] > 0); nt++) {
                EXPECT(bw_mix_measure(shapes[k][0], shapes[k][1], shapes[k][2], nt, isa, sizes[s], threads, 10, 1e-5,
                                      samples, cpus, &reps, &bad) == BW_OK);
                EXPECT(bad == 0 && reps >= 1);
            }
    EXPECT(bw_mix_measure(0, 0, 0, 0, isa, 100, threads, 10, 1e-5, samples, cpus, &reps, &bad) == BW_EARGS);
    EXPECT(bw_mix_measure(9, 0, 0, 0, isa, 100, threads, 10, 1e-5, samples, cpus, &reps, &bad) == BW_EARGS);
    EXPECT(bw_mix_measure(0, 1, 1, 0, isa, 100, threads, 10, 1e-5, samples, cpus, &reps, &bad) == BW_EARGS);
    EXPECT(bw_mix_measure(1, 0, 0, 1, isa, 100, threads, 10, 1e-5, samples, cpus, &reps, &bad) == BW_EUNSUPPORTED);
    EXPECT(bw_mix_measure(1, 1, 0, 0, isa, 0, threads, 10, 1e-5, samples, cpus, &reps, &bad) == BW_EARGS);
    /* the arrays first touched by another team (NUMA placement), then timed */
    const int fill[2] = {cpus[threads - 1], cpus[0]};
    EXPECT(bw_stream_measure_placed(BW_LOAD, 0, isa, 1000, threads, fill, threads, 10, 1e-5, samples, cpus, &reps,
                                    &bad) == BW_OK && bad == 0);
}

static void test_clock_and_loaded(void)
{
    double samples[10], chase_s[3 * 4], gbps[3];
    int cpus[2];
    long reps;
    size_t bad = 99;
    EXPECT(bw_clock_measure(2, 10, 1e-5, samples, cpus, &reps, &bad) == BW_OK && bad == 0 && samples[9] > 0);
    EXPECT(bw_clock_measure(0, 10, 1e-5, samples, cpus, &reps, &bad) == BW_EARGS);
    const long delays[3] = {0, 100, -1};
    for (int nout = 0; nout <= 1; nout++) {
        bad = 99;
        EXPECT(bw_loaded_latency(64 * 100, 64 * 37 + 8, 1, nout, 2, delays, 3, 50, 4, chase_s, gbps, &bad) == BW_OK);
        EXPECT(bad == 0 && chase_s[11] > 0 && gbps[2] == 0.0);
    }
    EXPECT(bw_loaded_latency(64 * 100, 64 * 10, 1, 0, 1, delays, 3, 50, 4, chase_s, gbps, &bad) == BW_EARGS);
    EXPECT(bw_loaded_latency(64, 64 * 10, 1, 0, 2, delays, 3, 50, 4, chase_s, gbps, &bad) == BW_EARGS);
}

/* C = A B by plain loops, in double. */
static void reference(size_t m, size_t n, size_t k, const double *a, const double *b, double *c)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double sum = 0;
            for (size_t p = 0; p < k; p++)
                sum += a[i * k + p] * b[p * n + j];
            c[i * n + j] = sum;
        }
}

static void test_gemm(int isa, int threads)
{
    static const size_t shapes[][3] = {{1, 1, 1}, {7, 33, 5}, {40, 1, 30}, {65, 70, 129}, {13, 200, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        double *a = malloc(m * k * 8), *b = malloc(k * n * 8), *c = malloc(m * n * 8), *want = malloc(m * n * 8);
        for (size_t i = 0; i < m * k; i++) a[i] = (double)((i * 7) % 11) - 5;
        for (size_t i = 0; i < k * n; i++) b[i] = (double)((i * 3) % 13) - 6;
        reference(m, n, k, a, b, want);
        EXPECT(bw_gemm_apply(isa, 0, m, n, k, a, b, c, threads) == BW_OK);
        EXPECT(memcmp(c, want, m * n * 8) == 0);   /* small integers: exact */
        double *y = malloc(m * 8), *yt = malloc(k * 8);
        EXPECT(bw_gemv_apply(isa, 0, 0, m, k, a, b, y, threads) == BW_OK);
        for (size_t i = 0; i < m; i++) {
            double sum = 0;
            for (size_t p = 0; p < k; p++) sum += a[i * k + p] * b[p];
            EXPECT(y[i] == sum);
        }
        double *xt = malloc(m * 8);   /* A^T x: x has a row count of elements */
        for (size_t i = 0; i < m; i++) xt[i] = (double)(i % 5) - 2;
        EXPECT(bw_gemv_apply(isa, 0, 1, m, k, a, xt, yt, threads) == BW_OK);
        for (size_t p = 0; p < k; p++) {
            double sum = 0;
            for (size_t i = 0; i < m; i++) sum += a[i * k + p] * xt[i];
            EXPECT(yt[p] == sum);
        }
        free(xt);
        float *af = malloc(m * k * 4), *bf = malloc(k * n * 4), *cf = malloc(m * n * 4);
        for (size_t i = 0; i < m * k; i++) af[i] = (float)a[i];
        for (size_t i = 0; i < k * n; i++) bf[i] = (float)b[i];
        EXPECT(bw_gemm_apply(isa, 1, m, n, k, af, bf, cf, threads) == BW_OK);
        for (size_t i = 0; i < m * n; i++) EXPECT(cf[i] == (float)want[i]);
        free(a), free(b), free(c), free(want), free(y), free(yt), free(af), free(bf), free(cf);
    }
    double x = 1;
    EXPECT(bw_gemm_apply(isa, 0, 0, 1, 1, &x, &x, &x, threads) == BW_EARGS);
    EXPECT(bw_gemm_apply(isa, 0, (size_t)1 << 40, (size_t)1 << 40, 1, &x, &x, &x, threads) == BW_EARGS);
    EXPECT(bw_gemv_apply(isa, 0, 0, (size_t)1 << 62, 2, &x, &x, &x, threads) == BW_EARGS);
}

/* Every weight format: quantise, dequantise, and the GEMV of each ISA against the generic one. */
static void test_quant(int isa, int threads)
{
    enum { ROWS = 3 * 16 * 8 + 3, COLS = 2 * BW_QK_K };   /* three chunks of 16 groups of 8 rows (quant.c), 3 rows
                                                            after them; rows of two K-quant super-blocks */
    static float w[ROWS * COLS], x[COLS], back[COLS], y[ROWS], want[ROWS];
    static unsigned char rows[ROWS * COLS * 2];
    for (size_t i = 0; i < COLS; i++)
        x[i] = (float)((int)(i * 11 % 23) - 11) / 8;
    for (int fmt = BW_FMT_F32 + 1; fmt < BW_NFMT; fmt++) {
        EXPECT(!(BW_FMT_IS_FLOAT(fmt) && bw_fmts[fmt].quantised_x));
        test_weights(fmt, ROWS, COLS, w, rows);
        EXPECT(bw_dequantize(fmt, rows, COLS, back) == BW_OK);
        for (size_t i = 0; i < COLS; i++)
            EXPECT(fabsf(back[i] - w[i]) <= 0.2f);   /* q4_0: a step of 100/64/8, where 8 clamps to 7 */
        EXPECT(bw_qgemv_measure(BW_GENERIC, fmt, rows, 0, ROWS, COLS, x, want, 1, 0, 0.0, NULL, NULL, NULL) == BW_OK);
        const int path = bw_gemv_path(isa, fmt);
        const bw_gemv_shape built_in = bw_gemv_shape_of(fmt, path);
        for (int streams = 1; streams <= BW_MAX_STREAMS; streams *= 2)   /* every shape the tuning may choose */
            for (int chunk = 1; chunk <= 64; chunk *= 8) {
                bw_gemv_shape shape = {.streams = streams, .prefetch = chunk == 8 ? 0 : 256, .chunk = chunk};
                EXPECT(bw_set_gemv_shape(fmt, path, shape) == BW_OK);
                EXPECT(bw_qgemv_measure(isa, fmt, rows, 0, ROWS, COLS, x, y, threads, 0, 0.0, NULL, NULL, NULL) == BW_OK);
                for (int r = 0; r < ROWS; r++)
                    EXPECT(fabsf(y[r] - want[r]) <= 1e-3f * (1 + fabsf(want[r])));
            }
        EXPECT(bw_set_gemv_shape(fmt, path, (bw_gemv_shape){.streams = 3, .prefetch = 0, .chunk = 1}) == BW_EARGS);
        EXPECT(bw_set_gemv_shape(fmt, path, built_in) == BW_OK);
        EXPECT(bw_qgemv_measure(isa, fmt, rows, 0, ROWS, COLS - 1, x, y, threads, 0, 0.0, NULL, NULL, NULL)
               == BW_EARGS);   /* every format: rows of whole blocks */
    }
}

/* x's quantisation for the block formats: each ISA's bytes are the generic
   one's, ties (k + 1/2 with a scale of 1) rounded away from zero as roundf. */
static void test_quantize_x(int isa)
{
    float x[3 * BW_QK] = {0};   /* a block of ties, one of zeros, one ordinary */
    for (int j = 0; j < BW_QK; j++) {
        x[j] = j == 0 ? 127.0f : (float)(j % 2 ? j : -j) + (j % 2 ? 0.5f : -0.5f);
        x[2 * BW_QK + j] = (float)((int)(j * 11 % 23) - 11) / 8;
    }
    bw_xblock got[3], want[3], rows[3];
    bw_team_quantize_x(isa, x, 3 * BW_QK, 1, got);
    bw_team_quantize_x(BW_GENERIC, x, 3 * BW_QK, 1, want);
    bw_team_quantize_x(isa, x, BW_QK, 3, rows);   /* three tokens of one block each */
    EXPECT(memcmp(got, want, sizeof got) == 0 && memcmp(rows, want, sizeof rows) == 0);
    EXPECT(want[0].d == 1.0f && want[0].qs[1] == 2 && want[0].qs[2] == -3 && want[0].qs[31] == 32);
    EXPECT(want[1].d == 0.0f && want[1].sum == 0);
}

/* A tiny Llama-style model through the inference path: a prompt, then decode steps. */
static void test_infer(int isa, int threads, int weights)
{
    enum { D = 32, HEADS = 4, KV = 2, DH = 8, FF = 64, VOCAB = 50, LAYERS = 2, POS = 8 };
    static float big[VOCAB * D], norm[D], x[3 * D], logits[VOCAB];
    static float dense[LAYERS][7][FF * D];
    static unsigned char packed[LAYERS][7][FF * D * 2], head[VOCAB * D * 2], plain[FF * D * 2];   /* FF * D > VOCAB * D */
    bw_layer layers[LAYERS];
    const size_t shape[7][2] = {{HEADS * DH, D}, {KV * DH, D}, {KV * DH, D}, {D, HEADS * DH}, {FF, D}, {FF, D},
                                {D, FF}};
    for (size_t i = 0; i < VOCAB * D; i++)
        big[i] = (float)((int)(i * 13 % 17) - 8) / 16;
    for (size_t i = 0; i < D; i++)
        norm[i] = 1.0f;
    memset(layers, 0, sizeof layers);
    for (int l = 0; l < LAYERS; l++) {
        bw_linear *lin[7] = {&layers[l].q, &layers[l].k, &layers[l].v, &layers[l].o, &layers[l].gate, &layers[l].up,
                             &layers[l].down};
        for (int m = 0; m < 7; m++) {
            const size_t rows = shape[m][0], cols = shape[m][1];
            for (size_t i = 0; i < rows * cols; i++)
                dense[l][m][i] = (float)((int)((i + 7 * m + l) * 29 % 31) - 15) / 64;
            for (size_t r = 0; weights != BW_FMT_F32 && r < rows; r++)
                bw_quantize(weights, dense[l][m] + r * cols, cols, plain + r * bw_fmt_row_bytes(weights, cols));
            if (weights != BW_FMT_F32)   /* the engine reads the block formats regrouped */
                EXPECT(bw_interleave(weights, plain, rows, cols, packed[l][m]) == BW_OK);
            *lin[m] = (bw_linear){.fmt = weights, .rows = rows, .cols = cols,
                                  .w = weights == BW_FMT_F32 ? (const void *)dense[l][m] : packed[l][m]};
        }
        layers[l].norm1_w = layers[l].norm2_w = norm;
    }
    for (size_t r = 0; weights != BW_FMT_F32 && r < VOCAB; r++)
        bw_quantize(weights, big + r * D, D, plain + r * bw_fmt_row_bytes(weights, D));
    if (weights != BW_FMT_F32)
        EXPECT(bw_interleave(weights, plain, VOCAB, D, head) == BW_OK);
    bw_model m = {.arch = BW_ARCH_LLAMA, .act = BW_ACT_SILU, .nlayers = LAYERS, .d = D,
                  .heads = HEADS, .kv_heads = KV, .head_dim = DH, .d_ff = FF, .vocab = VOCAB, .max_pos = POS,
                  .max_tokens = 3, .max_seqs = 2, .eps = 1e-5f, .rope_theta = 10000.0f, .tok_emb = big, .final_norm_w = norm,
                  .lm_head = {.fmt = weights, .rows = VOCAB, .cols = D,
                              .w = weights == BW_FMT_F32 ? (const void *)big : head},
                  .layers = layers};
    bw_infer_state *s = bw_infer_new(&m);
    double seconds[BW_NOPS] = {0}, wall;
    int tokens[3] = {1, 2, 3}, next = -1;
    EXPECT(s != NULL);
    if (!s)
        return;
    const size_t prompt = 3;
    size_t at = 0;
    EXPECT(bw_infer_pass(&m, s, isa, threads, 1, tokens, prompt, 0, 1, &at, 1, 1, x, logits, &next, seconds, &wall)
           == BW_OK);
    for (size_t pos = prompt; pos < POS; pos++) {
        EXPECT(next >= 0 && next < VOCAB);
        int token = next;
        EXPECT(bw_infer_pass(&m, s, isa, threads, 1, &token, 1, 0, 1, &pos, 1, 1, x, logits, &next, seconds, &wall)
               == BW_OK);
    }
    for (int i = 0; i < D; i++)
        EXPECT(isfinite(x[i]));
    at = POS;
    EXPECT(bw_infer_pass(&m, s, isa, threads, 1, tokens, 1, 0, 1, &at, 1, 1, x, logits, &next, seconds, &wall)
           == BW_EARGS);   /* past the cache */
    {   /* two sequences at depth 1, two steps together in the token loop */
        int pair[2] = {1, 2}, out[4] = {-1, -1, -1, -1};
        size_t starts[2] = {1, 1};
        bw_infer_fill(&m, s, 0, 2, 1);
        EXPECT(bw_infer_generate(&m, s, isa, threads, 2, pair, starts, 2, out, x, seconds, &wall) == BW_OK);
        for (int i = 0; i < 4; i++)
            EXPECT(out[i] >= 0 && out[i] < VOCAB);
        EXPECT(starts[0] == 3 && starts[1] == 3);
        EXPECT(bw_infer_generate(&m, s, isa, threads, 3, pair, starts, 1, out, x, seconds, &wall) == BW_EARGS);
    }
    bw_infer_free(s);
}

int main(void)
{
    EXPECT(bw_bytes(0, 8) == 0 && bw_bytes((size_t)1 << 62, 8) == 0 && bw_bytes(3, 8) == 24);
    for (int isa = 0; isa < BW_NISA; isa++) {
        if (!bw_isa_usable(isa))
            continue;
        for (int threads = 1; threads <= 2; threads++) {
            if (isa != BW_GENERIC || !bw_isa_supported(BW_SSE2)) {   /* stream has no generic variant on x86 */
                test_stream(isa, threads);
                test_mix(isa, threads);
            }
            test_flops(isa, threads);
            test_gemm(isa, threads);
            test_quant(isa, threads);
            test_quantize_x(isa);
            for (int weights = BW_FMT_F32; weights < BW_NFMT; weights++)
                if (bw_fmts[weights].gemv_weights == BW_QK)   /* the tiny model's rows: 32 weights */
                    test_infer(isa, threads, weights);
        }
    }
    test_chase();
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof mask, &mask) == 0 && CPU_COUNT(&mask) >= 2)   /* one chases, one loads */
        test_clock_and_loaded();
    return report();
}
