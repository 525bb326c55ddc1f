/* A transformer pass in C: BERT (post-LayerNorm), GPT-2 (pre-LayerNorm) and
   the Llama family (pre-RMSNorm, gated FFN, rotary, grouped key/value heads).
   One parallel region per pass; every op is done by the whole team, each
   thread its static share, a barrier after it, where thread 0 adds the op's
   time. Matrix products use gemm.c's kernels (bw_team_gemm_f32). */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "bwbench.h"

/* Lets the clamps in fast_exp become vector min/max (every value here is finite). */
#pragma GCC optimize("finite-math-only", "no-signed-zeros")

struct bw_infer_state {
    float *k_cache, *v_cache;   /* [layer][kv head][position][head_dim] */
    float *xn, *q, *k, *v, *att, *o, *scores, *ff_a, *ff_b, *logits, *rope_cos, *rope_sin;
    void *apack, *bpack;        /* GEMM packing workspace, shared by the team */
    bw_gemm_blocking blocking;  /* the GEMM's blocking when the workspace was sized */
    void *xq;                   /* a linear layer's input quantised for block-format weights (bw_xblock) */
    float best[BW_MAX_THREADS * BW_PAD];   /* per-thread argmax, a cache line apart */
    int best_at[BW_MAX_THREADS * BW_PAD];
};

typedef struct {
    const bw_model *m;
    bw_infer_state *s;
    int isa, decoder, embed, head;
    const int *tokens;
    size_t ntok, nseq, per;     /* ntok rows: nseq sequences of per tokens each */
    size_t seq0;                /* the first sequence's cache: the pass's sequences are seq0.. */
    const size_t *pos;          /* where each sequence's tokens start */
    float *x;
    int *next;                  /* each sequence's argmax */
    double *secs;
} pass;

/* This thread's static share of n items, by value (so loops over it vectorise). */
typedef struct { size_t lo, hi; } span;
static span share(size_t n)
{
    span r;
    bw_static_range(n, &r.lo, &r.hi);
    return r;
}

static size_t d_q(const bw_model *m) { return m->heads * m->head_dim; }
static size_t d_kv(const bw_model *m) { return m->kv_heads * m->head_dim; }

/* Row t's position: its sequence's start, plus its place in the sequence. */
static size_t position(const pass *p, size_t t) { return p->pos[t / p->per] + t % p->per; }

/* Floats of one sequence's key (or value) cache, and where a layer's starts. */
static size_t seq_cache(const bw_model *m) { return (size_t)m->nlayers * m->kv_heads * m->max_pos * m->head_dim; }
static size_t cache_at(const bw_model *m, size_t seq, int layer)
{
    return seq * seq_cache(m) + (size_t)layer * m->kv_heads * m->max_pos * m->head_dim;
}

/* C = A B by the team, in the state's workspace and blocking. */
static void team_gemm(const pass *p, bw_gemm_ctx g)
{
    g.apack = p->s->apack;
    g.bpack = p->s->bpack;
    g.kc = p->s->blocking.kc;
    g.mc_tiles = p->s->blocking.mc_tiles;
    bw_team_gemm_f32(p->isa, &g);
}

/* Ends an op: the team meets, thread 0 books the time since the last op ended. */
static void lap(const pass *p, int op, double *since)
{
    #pragma omp barrier
    if (omp_get_thread_num() == 0) {
        double now = bw_now();
        p->secs[op] += now - *since;
        *since = now;
    }
}

/* The element-wise ops of a pass, one set per instruction set
   (infer_elementwise.h, built for each), as gemm.c's kernel sets. */
typedef struct {
    void (*norm)(const float *in, float *out, size_t rows, size_t width, const float *w, const float *b, float eps);
    void (*softmax)(const pass *p, float *scores, float scale);
    void (*activate)(int act, float *a, size_t n);
} elementwise;

#if defined(__x86_64__)
#define BW_ISA BW_AVX2
#include "simd_begin.h"
#include "infer_elementwise.h"
#include "simd_end.h"
#endif

#define BW_ISA BW_GENERIC
#include "simd_begin.h"
#include "infer_elementwise.h"
#include "simd_end.h"

/* The pass's set: the AVX2 one from AVX2 up (8 floats a step; the portable
   build ran them 4 at a time). */
static const elementwise *ops(const pass *p)
{
#if defined(__x86_64__)
    if (p->isa >= BW_AVX2)
        return &elementwise_avx2;
#endif
    return &elementwise_generic;
}

static void add_bias(const bw_linear *l, size_t ntok, float *out)
{
    if (l->bias) {   /* threads split each row's outputs: whole rows for one token */
        const span my = share(l->rows);
        for (size_t t = 0; t < ntok; t++)
            for (size_t j = my.lo; j < my.hi; j++)
                out[t * l->rows + j] += l->bias[j];
    }
}

/* out (ntok x rows) = in (ntok x cols) W^T + bias. The team meets after the
   product; each thread then adds the bias to its share, so the caller ends
   the op with lap() before anything reads out. */
static void linear(const pass *p, const bw_linear *l, const float *in, size_t ntok, float *out)
{
    if (l->fmt != BW_FMT_F32) {   /* the format's GEMV, every token at once */
        if (bw_fmts[l->fmt].quantised_x) {
            bw_team_quantize_x(p->isa, in, l->cols, ntok, p->s->xq);
            #pragma omp barrier
        }
        bw_team_gemv_fmt(p->isa, l->fmt, l->w, l->rows, l->cols, ntok, in, p->s->xq, out);
        #pragma omp barrier
        add_bias(l, ntok, out);
        return;
    }
    bw_gemm_ctx g;
    if (ntok <= BW_SMALL_N)   /* Y^T = W X^T: W read once, as a GEMV reads it */
        g = (bw_gemm_ctx){.m = l->rows, .n = ntok, .k = l->cols, .a = l->w, .b = in, .c = out,
                          .a_rs = l->cols, .a_cs = 1, .b_rs = 1, .b_cs = l->cols, .c_rs = 1, .c_cs = l->rows};
    else                      /* Y = X W^T: W as the transposed B, packed at load time if the engine did */
        g = (bw_gemm_ctx){.m = ntok, .n = l->rows, .k = l->cols, .a = in, .b = l->w, .c = out,
                          .a_rs = l->cols, .a_cs = 1, .b_rs = 1, .b_cs = l->cols, .c_rs = l->rows, .c_cs = 1,
                          .bpacked = l->packed};
    team_gemm(p, g);
    #pragma omp barrier
    add_bias(l, ntok, out);
}

static void embed(const pass *p)
{
    const bw_model *m = p->m;
    const span my = share(p->ntok * m->d);
    for (size_t i = my.lo; i < my.hi; i++) {
        size_t t = i / m->d, j = i % m->d;
        float value = m->tok_emb[(size_t)p->tokens[t] * m->d + j];
        if (m->pos_emb)
            value += m->pos_emb[position(p, t) * m->d + j];
        if (m->type_emb)
            value += m->type_emb[j];
        p->x[i] = value;
    }
}

/* Pairs (i, i + head_dim/2) of each head of Q and K turned by the position's
   angles (Hugging Face's rotate_half convention). */
static void rotary(const pass *p)
{
    const bw_model *m = p->m;
    const size_t half = m->head_dim / 2, heads = m->heads + m->kv_heads;
    const span my = share(p->ntok * heads);
    for (size_t r = my.lo; r < my.hi; r++) {
        size_t t = r / heads, h = r % heads;
        float *x = h < m->heads ? p->s->q + t * d_q(m) + h * m->head_dim
                                : p->s->k + t * d_kv(m) + (h - m->heads) * m->head_dim;
        const float *c = p->s->rope_cos + position(p, t) * half, *s = p->s->rope_sin + position(p, t) * half;
        for (size_t i = 0; i < half; i++) {
            float x0 = x[i], x1 = x[i + half];
            x[i] = x0 * c[i] - x1 * s[i];
            x[i + half] = x1 * c[i] + x0 * s[i];
        }
    }
}

/* Sequence q's cached keys (or values) of the key/value head that head h reads. */
static const float *head_cache(const pass *p, const float *cache, int layer, size_t q, size_t h)
{
    const bw_model *m = p->m;
    return cache + cache_at(m, p->seq0 + q, layer) + (h / (m->heads / m->kv_heads)) * m->max_pos * m->head_dim;
}

/* Q K^T of sequence q's head h: scores (rows max_pos apart). For few query
   rows, S^T = K Q^T: the cached keys read once, as a GEMV reads them. */
static bw_gemm_ctx head_scores(const pass *p, int layer, size_t q, size_t h)
{
    const bw_model *m = p->m;
    const size_t dh = m->head_dim, n = p->per, ctx = p->pos[q] + n, stride = m->max_pos;
    const float *keys = head_cache(p, p->s->k_cache, layer, q, h);
    const float *queries = p->s->q + q * n * d_q(m) + h * dh;
    float *scores = p->s->scores + (h * p->ntok + q * n) * stride;
    if (n <= BW_SMALL_N)
        return (bw_gemm_ctx){.m = ctx, .n = n, .k = dh, .a = keys, .b = queries, .c = scores,
                             .a_rs = dh, .a_cs = 1, .b_rs = 1, .b_cs = d_q(m), .c_rs = 1, .c_cs = stride};
    return (bw_gemm_ctx){.m = n, .n = ctx, .k = dh, .a = queries, .b = keys, .c = scores,
                         .a_rs = d_q(m), .a_cs = 1, .b_rs = 1, .b_cs = dh, .c_rs = stride, .c_cs = 1};
}

/* P V of sequence q's head h into att: its rows of probabilities times the
   head's cached values (for one token, the GEMV att = V^T p). */
static bw_gemm_ctx head_values(const pass *p, int layer, size_t q, size_t h)
{
    const bw_model *m = p->m;
    const size_t dh = m->head_dim, n = p->per, ctx = p->pos[q] + n, stride = m->max_pos;
    const float *values = head_cache(p, p->s->v_cache, layer, q, h);
    const float *probs = p->s->scores + (h * p->ntok + q * n) * stride;
    float *att = p->s->att + q * n * d_q(m) + h * dh;
    return (bw_gemm_ctx){.m = n, .n = dh, .k = ctx, .a = probs, .b = values, .c = att,
                         .a_rs = stride, .a_cs = 1, .b_rs = dh, .b_cs = 1, .c_rs = d_q(m), .c_cs = 1};
}

/* The three attention ops, each sequence over its own cache, every head: Q
   K^T into scores, softmax (causal for a decoder), scores V into att. Keys
   and values go to the cache first. Decoding many heads (a batch), each
   thread takes whole heads: a head's product is too small to split. */
static void attention(const pass *p, int layer, double *since)
{
    const bw_model *m = p->m;
    bw_infer_state *s = p->s;
    const size_t dh = m->head_dim, n = p->per, heads = p->nseq * m->heads;
    const span my = share(p->ntok * m->kv_heads);
    for (size_t r = my.lo; r < my.hi; r++) {
        size_t t = r / m->kv_heads, h = r % m->kv_heads;
        size_t at = cache_at(m, p->seq0 + t / n, layer) + (h * m->max_pos + position(p, t)) * dh;
        memcpy(s->k_cache + at, s->k + t * d_kv(m) + h * dh, dh * sizeof(float));
        memcpy(s->v_cache + at, s->v + t * d_kv(m) + h * dh, dh * sizeof(float));
    }
    #pragma omp barrier
    const int by_head = n == 1 && heads >= 4 * (size_t)omp_get_num_threads();
    const span mine = by_head ? share(heads) : (span){0, heads};
    for (size_t r = mine.lo; r < mine.hi; r++) {
        bw_gemm_ctx g = head_scores(p, layer, r / m->heads, r % m->heads);
        if (by_head)
            bw_solo_gemm_small_f32(p->isa, &g);
        else
            team_gemm(p, g);
    }
    lap(p, BW_OP_QK, since);

    ops(p)->softmax(p, s->scores, 1.0f / sqrtf((float)dh));
    lap(p, BW_OP_SOFTMAX, since);

    for (size_t r = mine.lo; r < mine.hi; r++) {
        bw_gemm_ctx g = head_values(p, layer, r / m->heads, r % m->heads);
        bw_gemv_ctx v = {.m = g.k, .n = dh, .a = g.b, .x = g.a, .y = g.c};   /* one token: V^T p */
        if (by_head)
            bw_solo_gemv_t_f32(p->isa, &v);
        else if (n == 1)
            bw_team_gemv_t_f32(p->isa, &v);
        else
            team_gemm(p, g);
    }
    lap(p, BW_OP_SV, since);
}

static void add_into(float *x, const float *y, size_t n)
{
    const span my = share(n);
    for (size_t i = my.lo; i < my.hi; i++)
        x[i] += y[i];
}

static void ffn(const pass *p, const bw_layer *l, const float *in, double *since)
{
    const bw_model *m = p->m;
    float *a = p->s->ff_a, *b = p->s->ff_b;
    const span my = share(p->ntok * m->d_ff);
    if (m->arch == BW_ARCH_LLAMA) {
        linear(p, &l->gate, in, p->ntok, a);
        lap(p, BW_OP_GATE, since);
    }
    linear(p, &l->up, in, p->ntok, m->arch == BW_ARCH_LLAMA ? b : a);
    lap(p, BW_OP_UP, since);
    ops(p)->activate(m->act, a + my.lo, my.hi - my.lo);
    lap(p, BW_OP_ACT, since);
    if (m->arch == BW_ARCH_LLAMA) {
        for (size_t i = my.lo; i < my.hi; i++)
            a[i] *= b[i];
        lap(p, BW_OP_GATE_MUL, since);
    }
    linear(p, &l->down, a, p->ntok, p->s->o);
    lap(p, BW_OP_DOWN, since);
}

static void layer(const pass *p, int index, double *since)
{
    const bw_model *m = p->m;
    const bw_layer *l = &m->layers[index];
    bw_infer_state *s = p->s;
    const size_t nd = p->ntok * m->d;
    const int pre = m->arch != BW_ARCH_BERT;
    const float *in = p->x;
    if (pre) {
        ops(p)->norm(p->x, s->xn, p->ntok, m->d, l->norm1_w, l->norm1_b, m->eps);
        lap(p, BW_OP_NORM, since);
        in = s->xn;
    }
    linear(p, &l->q, in, p->ntok, s->q);
    lap(p, BW_OP_Q, since);
    linear(p, &l->k, in, p->ntok, s->k);
    lap(p, BW_OP_K, since);
    linear(p, &l->v, in, p->ntok, s->v);
    lap(p, BW_OP_V, since);
    if (l->q_norm_w) {
        ops(p)->norm(s->q, s->q, p->ntok * m->heads, m->head_dim, l->q_norm_w, NULL, m->eps);
        ops(p)->norm(s->k, s->k, p->ntok * m->kv_heads, m->head_dim, l->k_norm_w, NULL, m->eps);
        lap(p, BW_OP_QK_NORM, since);
    }
    if (m->arch == BW_ARCH_LLAMA) {
        rotary(p);
        lap(p, BW_OP_ROTARY, since);
    }
    attention(p, index, since);
    linear(p, &l->o, s->att, p->ntok, s->o);
    lap(p, BW_OP_O, since);
    add_into(p->x, s->o, nd);
    lap(p, BW_OP_RESIDUAL, since);
    if (pre) {
        ops(p)->norm(p->x, s->xn, p->ntok, m->d, l->norm2_w, l->norm2_b, m->eps);
        lap(p, BW_OP_NORM, since);
    } else {
        ops(p)->norm(p->x, p->x, p->ntok, m->d, l->norm1_w, l->norm1_b, m->eps);
        lap(p, BW_OP_NORM, since);
    }
    ffn(p, l, pre ? s->xn : p->x, since);
    add_into(p->x, s->o, nd);
    lap(p, BW_OP_RESIDUAL, since);
    if (!pre) {
        ops(p)->norm(p->x, p->x, p->ntok, m->d, l->norm2_w, l->norm2_b, m->eps);
        lap(p, BW_OP_NORM, since);
    }
}

/* Final norm of each sequence's last token, the LM head, and the argmax of
   each sequence's logits (the team splits the vocabulary). */
static void lm_head(const pass *p, double *since)
{
    const bw_model *m = p->m;
    bw_infer_state *s = p->s;
    for (size_t q = 0; q < p->nseq; q++)   /* the team's norm of one row: thread 0 does it */
        ops(p)->norm(p->x + ((q + 1) * p->per - 1) * m->d, s->xn + q * m->d, 1, m->d, m->final_norm_w,
                     m->final_norm_b, m->eps);
    lap(p, BW_OP_FINAL_NORM, since);
    linear(p, &m->lm_head, s->xn, p->nseq, s->logits);
    const size_t t = omp_get_thread_num();
    const span my = share(m->vocab);
    for (size_t q = 0; q < p->nseq; q++) {
        const float *logits = s->logits + q * m->vocab;
        #pragma omp barrier   /* the logits complete; thread 0 done with the last sequence's */
        s->best[t * BW_PAD] = my.lo < my.hi ? logits[my.lo] : logits[0];
        s->best_at[t * BW_PAD] = my.lo < my.hi ? (int)my.lo : 0;
        for (size_t i = my.lo; i < my.hi; i++)
            if (logits[i] > s->best[t * BW_PAD]) {
                s->best[t * BW_PAD] = logits[i];
                s->best_at[t * BW_PAD] = (int)i;
            }
        #pragma omp barrier
        if (t == 0) {
            int threads = omp_get_num_threads(), at = 0;
            for (int u = 1; u < threads; u++)   /* ties go to the lowest index, as numpy's argmax */
                if (s->best[u * BW_PAD] > s->best[at * BW_PAD])
                    at = u;
            p->next[q] = s->best_at[at * BW_PAD];
        }
    }
    lap(p, BW_OP_LM_HEAD, since);
}

static void pass_body(const void *ctx, long reps)
{
    const pass *p = ctx;
    double since = bw_now();
    (void)reps;
    if (p->embed) {
        embed(p);
        lap(p, BW_OP_EMBED, &since);
        if (p->m->emb_norm_w) {
            ops(p)->norm(p->x, p->x, p->ntok, p->m->d, p->m->emb_norm_w, p->m->emb_norm_b, p->m->eps);
            lap(p, BW_OP_EMB_NORM, &since);
        }
    }
    for (int l = 0; l < p->m->nlayers; l++)
        layer(p, l, &since);
    if (p->head)
        lm_head(p, &since);
}

void bw_infer_free(bw_infer_state *s)
{
    if (!s)
        return;
    float *buffers[] = {s->k_cache, s->v_cache, s->xn, s->q, s->k, s->v, s->att, s->o, s->scores,
                        s->ff_a, s->ff_b, s->logits, s->rope_cos, s->rope_sin};
    for (size_t i = 0; i < sizeof buffers / sizeof *buffers; i++)
        bw_free(buffers[i]);
    bw_free(s->apack);
    bw_free(s->bpack);
    bw_free(s->xq);
    bw_free(s);
}

bw_infer_state *bw_infer_new(const bw_model *m)
{
    bw_infer_state *s = bw_alloc(sizeof *s);
    if (!s)
        return NULL;
    memset(s, 0, sizeof *s);
    /* Every size through bw_bytes: a product that overflows gives 0, so the
       allocation fails instead of wrapping to a small buffer. */
    const size_t t = m->max_tokens, f = sizeof(float), half = m->head_dim / 2, seqs = m->max_seqs ? m->max_seqs : 1;
    const size_t cache = bw_bytes(bw_bytes(bw_bytes(bw_bytes((size_t)m->nlayers, m->kv_heads),
                                                    bw_bytes(m->max_pos, m->head_dim)), seqs), f);
    s->k_cache = bw_alloc(cache);
    s->v_cache = bw_alloc(cache);
    s->xn = bw_alloc(bw_bytes(bw_bytes(t, m->d), f));
    s->q = bw_alloc(bw_bytes(bw_bytes(t, d_q(m)), f));
    s->k = bw_alloc(bw_bytes(bw_bytes(t, d_kv(m)), f));
    s->v = bw_alloc(bw_bytes(bw_bytes(t, d_kv(m)), f));
    s->att = bw_alloc(bw_bytes(bw_bytes(t, d_q(m)), f));
    s->o = bw_alloc(bw_bytes(bw_bytes(t, m->d), f));
    s->scores = bw_alloc(bw_bytes(bw_bytes(m->heads, t), bw_bytes(m->max_pos, f)));
    s->ff_a = bw_alloc(bw_bytes(bw_bytes(t, m->d_ff), f));
    s->ff_b = bw_alloc(bw_bytes(bw_bytes(t, m->d_ff), f));
    s->logits = bw_alloc(bw_bytes(bw_bytes(m->vocab ? m->vocab : 1, seqs), f));
    s->rope_cos = bw_alloc(bw_bytes(bw_bytes(m->max_pos, half ? half : 1), f));
    s->rope_sin = bw_alloc(bw_bytes(bw_bytes(m->max_pos, half ? half : 1), f));
    s->blocking = bw_gemm_blocking_now();
    s->apack = bw_alloc(bw_gemm_workspace_bytes(0));
    s->bpack = bw_alloc(bw_gemm_workspace_bytes(1));
    const size_t widest = m->d_ff > d_q(m) ? (m->d_ff > m->d ? m->d_ff : m->d) : (d_q(m) > m->d ? d_q(m) : m->d);
    s->xq = bw_alloc(bw_bytes(t, bw_xq_bytes(widest)));
    if (!(s->k_cache && s->v_cache && s->xn && s->q && s->k && s->v && s->att && s->o && s->scores && s->ff_a
          && s->ff_b && s->logits && s->rope_cos && s->rope_sin && s->apack && s->bpack && s->xq)) {
        bw_infer_free(s);
        return NULL;
    }
    for (size_t pos = 0; pos < m->max_pos; pos++)   /* angle pos * theta^(-2i / head_dim) */
        for (size_t i = 0; i < half; i++) {
            double angle = pos * pow(m->rope_theta, -2.0 * i / m->head_dim);
            s->rope_cos[pos * half + i] = (float)cos(angle);
            s->rope_sin[pos * half + i] = (float)sin(angle);
        }
    return s;
}

/* BW_OK if a pass of ntok rows, nseq sequences starting at pos, fits the model and state. */
static int check_pass(const bw_model *m, const bw_infer_state *s, int isa, size_t ntok, size_t seq0, size_t nseq,
                      const size_t *pos, int embed, const int *tokens, int head, const int *next)
{
    if (ntok < 1 || ntok > m->max_tokens || nseq < 1 || seq0 + nseq > (m->max_seqs ? m->max_seqs : 1) || ntok % nseq
        || !pos || (embed && !tokens) || (head && (!m->lm_head.w || !next)) || m->kv_heads < 1
        || m->heads % m->kv_heads)
        return BW_EARGS;
    for (size_t q = 0; q < nseq; q++)
        if (pos[q] + ntok / nseq > m->max_pos)
            return BW_EARGS;
    if (m->packed_kc && m->packed_kc != s->blocking.kc)   /* the weights were packed for another blocking */
        return BW_EARGS;
    return bw_isa_usable(isa) ? BW_OK : BW_EUNSUPPORTED;
}

int bw_infer_pass(const bw_model *m, bw_infer_state *s, int isa, int threads, int decoder,
                  const int *tokens, size_t ntok, size_t seq0, size_t nseq, const size_t *pos, int embed,
                  int head, float *x, float *logits, int *next, double *op_seconds, double *wall)
{
    int err = check_pass(m, s, isa, ntok, seq0, nseq, pos, embed, tokens, head, next);
    if (err)
        return err;
    pass p = {.m = m, .s = s, .isa = isa, .decoder = decoder, .embed = embed, .head = head, .tokens = tokens,
              .ntok = ntok, .nseq = nseq, .per = ntok / nseq, .seq0 = seq0, .pos = pos, .x = x, .next = next,
              .secs = op_seconds};
    err = bw_run_timed(pass_body, &p, threads, wall);
    if (!err && head && logits)
        memcpy(logits, s->logits, nseq * m->vocab * sizeof(float));
    return err;
}

void bw_infer_fill(const bw_model *m, bw_infer_state *s, size_t seq0, size_t nseq, size_t depth)
{
    uint32_t state = 12345;
    for (size_t q = seq0; q < seq0 + nseq; q++)
        for (int layer = 0; layer < m->nlayers; layer++)
            for (size_t h = 0; h < m->kv_heads; h++) {
                const size_t at = cache_at(m, q, layer) + h * m->max_pos * m->head_dim;
                for (size_t i = 0; i < depth * m->head_dim; i++) {   /* xorshift32, scaled to [-1, 1) */
                    state ^= state << 13, state ^= state >> 17, state ^= state << 5;
                    s->k_cache[at + i] = (float)state / 2147483648.0f - 1.0f;
                    state ^= state << 13, state ^= state >> 17, state ^= state << 5;
                    s->v_cache[at + i] = (float)state / 2147483648.0f - 1.0f;
                }
            }
}

/* The token loop: decode steps, one token a sequence each, the argmax fed
   back; thread 0 moves the positions on between steps. */
typedef struct {
    pass p;
    size_t steps, *pos;
    int *out;
} generation;

static void generate_body(const void *ctx, long reps)
{
    const generation *g = ctx;
    (void)reps;
    for (size_t step = 0; step < g->steps; step++) {
        pass_body(&g->p, 1);
        if (omp_get_thread_num() == 0)
            for (size_t q = 0; q < g->p.nseq; q++) {
                g->out[step * g->p.nseq + q] = g->p.next[q];
                g->pos[q]++;
            }
        #pragma omp barrier   /* the next step reads the new tokens and positions */
    }
}

int bw_infer_generate(const bw_model *m, bw_infer_state *s, int isa, int threads, size_t nseq, int *tokens,
                      size_t *pos, size_t steps, int *out, float *x, double *op_seconds, double *wall)
{
    if (steps < 1 || !out)
        return BW_EARGS;
    int err = check_pass(m, s, isa, nseq, 0, nseq, pos, 1, tokens, 1, tokens);
    for (size_t q = 0; !err && q < nseq; q++)
        if (pos[q] + steps > m->max_pos)
            err = BW_EARGS;
    if (err)
        return err;
    generation g = {.p = {.m = m, .s = s, .isa = isa, .decoder = 1, .embed = 1, .head = 1, .tokens = tokens,
                          .ntok = nseq, .nseq = nseq, .per = 1, .pos = pos, .x = x, .next = tokens,
                          .secs = op_seconds},
                    .steps = steps, .pos = pos, .out = out};
    return bw_run_timed(generate_body, &g, threads, wall);
}
