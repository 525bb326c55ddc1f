/* bwbench's C core: the kernels, the timing loop and the host facts they need.
   No Python in here; bwbench/_kernels.pyx wraps these declarations. */
#ifndef BWBENCH_H
#define BWBENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Instruction sets, widest last; bw_best_isa() picks one at run time.
   Macros, not an enum, as simd_begin.h selects code with #if on them. */
#define BW_GENERIC 0
#define BW_SSE2 1
#define BW_AVX2 2
#define BW_AVX512 3
#define BW_NISA 4

/* STREAM kernels (float64): load and read are read-only sums, the rest store
   into a. load reads its share as one run, as STREAM and likwid-bench's load
   do; read reads it as the host's tuned shape (bw_read_shape): the read
   ceiling that the GEMVs, which read several runs at once, are held to. */
enum { BW_LOAD, BW_COPY, BW_SCALE, BW_ADD, BW_TRIAD, BW_READ, BW_NSTREAM };

/* Error codes returned by the measuring functions (0 = success); each names one
   cause, and bwbench/_kernels.pyx maps each to one Python exception type.
   BW_ENOMEM: an allocation failed. BW_ETHREADS: the host cannot give the
   threads asked for (fewer CPUs in the affinity mask, or OpenMP started
   fewer, e.g. under OMP_THREAD_LIMIT). BW_EUNSUPPORTED: kernel, variant or
   ISA not built or not supported here. BW_EARGS: a size of zero, a size
   whose byte count overflows, a thread count outside 1..BW_MAX_THREADS, a
   missing array. BW_EAFFINITY: sched_getaffinity/sched_setaffinity failed. */
enum { BW_OK = 0, BW_ENOMEM = -1, BW_ETHREADS = -2, BW_EUNSUPPORTED = -3, BW_EARGS = -4,
       BW_EAFFINITY = -5 };

/* One timed region: called by every thread inside the timing loop's parallel
   region, it does the thread's share of the kernel `reps` times over. */
typedef void (*bw_body)(const void *ctx, long reps);

/* CPU features, read once at start-up (common.c); each ISA's kernels state
   what they need, and bw_isa_supported(isa) is true where the CPU has it all. */
enum { BW_CPU_SSE2 = 1 << 0, BW_CPU_AVX2 = 1 << 1, BW_CPU_FMA = 1 << 2, BW_CPU_F16C = 1 << 3,
       BW_CPU_AVX512F = 1 << 4, BW_CPU_AVX512BW = 1 << 5, BW_CPU_AVX512VL = 1 << 6, BW_CPU_AVX512DQ = 1 << 7,
       BW_CPU_AVX512VNNI = 1 << 8, BW_CPU_AVX512BF16 = 1 << 9 };
#define BW_NEEDS_SSE2 BW_CPU_SSE2
/* F16C: quant.c's AVX2 GEMV reads the fp16 scales with it */
#define BW_NEEDS_AVX2 (BW_NEEDS_SSE2 | BW_CPU_AVX2 | BW_CPU_FMA | BW_CPU_F16C)
/* simd_begin.h's AVX-512 code and quant_avx512.c's bf16 GEMV */
#define BW_NEEDS_AVX512 (BW_NEEDS_AVX2 | BW_CPU_AVX512F | BW_CPU_AVX512BW | BW_CPU_AVX512VL | BW_CPU_AVX512DQ)
/* quant_avx512.c's q8_0 and q4_0 GEMV (vpdpbusd) */
#define BW_NEEDS_AVX512_VNNI (BW_NEEDS_AVX512 | BW_CPU_AVX512VNNI)

/* common.c */
unsigned bw_cpu_features(void);
int bw_cpu_has(unsigned needs);
int bw_best_isa(void);
int bw_isa_supported(int isa);
/* Supported, or BW_GENERIC (plain C, built on every host for what has a scalar variant). */
int bw_isa_usable(int isa);
const char *bw_isa_name(int isa);
const char *bw_compiler(void);
const char *bw_cflags(void);
double bw_now(void);
/* count * size bytes (size: the element size, or a product of sizes), or 0
   when count is 0 or the product overflows: callers report 0 as BW_EARGS. */
size_t bw_bytes(size_t count, size_t size);
void *bw_alloc(size_t bytes);
void bw_free(void *p);
/* Large allocations whose huge-page advice (madvise) the kernel refused, so a
   result can say its arrays may sit on 4 KiB pages. */
long bw_hugepage_refusals(void);
/* The CPUs that thread t of every team runs on: cpus[t] (set from Python by
   bwbench.machine, the one place that decides). Without a plan, or for
   threads past it, the t-th CPU of the process's affinity mask. */
int bw_set_cpus(const int *cpus, int n);
/* The most threads OpenMP will start (OMP_THREAD_LIMIT), so callers can
   refuse a thread count before measuring. */
int bw_thread_limit(void);
/* Runs fn on `threads` threads, thread t pinned to its CPU of the plan, the
   caller's own affinity restored afterwards: first touch, a single run and
   the timed samples all go through here, so a thread's pages and its work
   share a CPU (and a NUMA node). fn runs only if the whole team started. */
typedef void (*bw_team_fn)(void *arg, int t, int threads);
int bw_team(bw_team_fn fn, void *arg, int threads);
/* bw_team on a team of n threads pinned to cpus[0..n) instead of the plan
   (the plan is kept): memory first touched on another NUMA node. */
int bw_team_on(const int *cpus, int n, bw_team_fn fn, void *arg);
/* The calling thread's share [lo, hi) of n items under OpenMP's static
   schedule (contiguous chunks, the first n % threads threads one item more),
   computed once so that repetitions pay no scheduling cost. */
void bw_static_range(size_t n, size_t *lo, size_t *hi);
/* Runs body once (one repetition) on `threads` pinned threads. */
int bw_run(bw_body body, const void *ctx, int threads);
/* Runs body once on `threads` threads pinned as bw_time pins them; *seconds
   receives the span from the common start to the slowest thread's end. */
int bw_run_timed(bw_body body, const void *ctx, int threads, double *seconds);
/* Runs body ntimes, each sample one call that repeats the kernel *reps times,
   *reps chosen so a sample lasts at least min_sample_s. samples[s] = seconds
   from the common start (all threads leave a barrier) to the slowest thread's
   end. cpus[t] receives the CPU that thread t ran on. Returns BW_OK or an error. */
int bw_time(bw_body body, const void *ctx, int threads, int ntimes,
            double min_sample_s, double *samples, int *cpus, long *reps);

/* stream.c */
typedef struct {
    double *a;             /* output (unused by load) */
    const double *b, *c;   /* inputs (c unused by load, copy, scale) */
    double s;              /* scalar of scale and triad */
    size_t n;              /* elements per array */
    double *partial;       /* load, read: per-thread sums over all repetitions, BW_PAD apart */
    int streams, prefetch; /* read: its shape */
} bw_stream_ctx;

/* The read kernel's shape: runs a thread reads in lockstep (1, 2, 4 or 8) and
   bytes ahead to prefetch (whole cache lines up to BW_MAX_PREFETCH, 0: none). */
typedef struct { int streams, prefetch; } bw_read_shape;
int bw_set_read_shape(bw_read_shape shape);
bw_read_shape bw_read_shape_now(void);

#define BW_MAX_PREFETCH 8192   /* bytes: the farthest software prefetch a shape asks for */
#define BW_PAD 8           /* doubles between per-thread slots: one cache line */
#define BW_MAX_THREADS 1024

int bw_stream_arrays(int kernel);
int bw_stream_has_nt(int kernel);
/* The pattern that measurements initialise and validation expects (a, c may be NULL). */
int bw_stream_fill(double *a, double *b, double *c, size_t n, int isa, int threads);
/* Number of elements of a (or 1 for a wrong load sum, given per repetition)
   that differ from the kernel applied to the fill pattern. */
size_t bw_stream_check(int kernel, const double *a, double s, size_t n, double sum);
/* Runs a kernel once on caller's arrays (64-byte aligned); load's sum in *sum. */
int bw_stream_apply(int kernel, int nt, int isa, bw_stream_ctx *ctx, int threads, double *sum);
/* Allocates, first-touches, times and validates one kernel. *reps and *bad
   receive the repetitions per sample and the number of wrong results. */
int bw_stream_measure(int kernel, int nt, int isa, size_t n, int threads, int ntimes,
                      double min_sample_s, double *samples, int *cpus,
                      long *reps, size_t *bad);
/* bw_stream_measure with the arrays first touched by nfill threads on
   fill_cpus (NUMA memory on their node) instead of the timed team. */
int bw_stream_measure_placed(int kernel, int nt, int isa, size_t n, int threads, const int *fill_cpus,
                             int nfill, int ntimes, double min_sample_s, double *samples, int *cpus,
                             long *reps, size_t *bad);

/* flops.c */
typedef struct {
    long iters;            /* steps of every accumulator per call */
    double x, y;           /* acc = acc*x + y; read at run time, so no step can be folded away */
    double *out;           /* per thread BW_PEAK_OUT values: every lane of every accumulator */
} bw_peak_ctx;

#define BW_PEAK_ACC 12     /* independent accumulators per thread */
#define BW_PEAK_OUT 192    /* BW_PEAK_ACC x 16 lanes (the widest vector of floats) */

typedef struct {
    double *a;
    size_t n;
    int flops;             /* per element: 1 = one add, else flops/2 FMAs */
} bw_ladder_ctx;

/* Peak FLOP/s of acc = acc*x + y in registers, with (fma) or without FMA,
   float64 or float32, in the given ISA (BW_GENERIC: scalar). */
int bw_peak_measure(int isa, int fma, int float32, int threads, int ntimes,
                    double min_sample_s, double *samples, int *cpus,
                    long *reps, double *flops_per_rep, size_t *bad);
/* Lanes of `out` (threads x BW_PEAK_OUT, `lanes` used per accumulator) that
   differ from the value the peak recurrence reaches after exactly `steps`
   steps; every lane when `steps` is past the range where that value is exact. */
size_t bw_peak_check(const double *out, int threads, int lanes, int float32, long steps);
int bw_ladder_apply(int isa, int flops, double *a, size_t n, int threads);
/* Elements of a that differ from one ladder pass over its fill pattern. */
size_t bw_ladder_check(const double *a, size_t n, int flops);
int bw_ladder_measure(int isa, int flops, size_t n, int threads, int ntimes,
                      double min_sample_s, double *samples, int *cpus,
                      long *reps, size_t *bad);

/* gemm.c: row-major operands, float32 when f32 != 0. */
typedef struct {
    size_t m, n, k;
    const void *a, *b;
    void *c;
    ptrdiff_t a_rs, a_cs, b_rs, b_cs, c_rs, c_cs;   /* strides between rows and columns */
    void *apack, *bpack;                           /* packing workspace shared by the threads */
    const void *bpacked;                           /* B already packed (bw_gemm_prepack_f32), or NULL */
    size_t kc, mc_tiles;                           /* blocking: bpacked's, else bw_gemm_blocking_now() */
} bw_gemm_ctx;

/* The packed GEMM's blocking: depth of a block (KC, a multiple of 16) and
   rows of A a block in register tiles (MC = mc_tiles x the tile's rows). */
typedef struct { size_t kc, mc_tiles; } bw_gemm_blocking;
#define BW_KC_MAX 2048
#define BW_MC_TILES_MAX 64
int bw_set_gemm_blocking(bw_gemm_blocking b);
bw_gemm_blocking bw_gemm_blocking_now(void);

typedef struct {
    size_t m, n;
    const void *a, *x;
    void *y;
} bw_gemv_ctx;

int bw_gemm_apply(int isa, int f32, size_t m, size_t n, size_t k, const void *a,
                  const void *b, void *c, int threads);
int bw_gemm_measure(int isa, int f32, size_t m, size_t n, size_t k, const void *a,
                    const void *b, void *c, int threads, int ntimes, double min_sample_s,
                    double *samples, int *cpus, long *reps);
int bw_gemv_apply(int isa, int f32, int trans, size_t m, size_t n, const void *a,
                  const void *x, void *y, int threads);
int bw_gemv_measure(int isa, int f32, int trans, size_t m, size_t n, const void *a,
                    const void *x, void *y, int threads, int ntimes, double min_sample_s,
                    double *samples, int *cpus, long *reps);

/* Up to this many columns of B, A is not packed but read once, as a GEMV
   reads it (gemm.c's gemm_small): measured faster. */
#define BW_SMALL_N 32
/* For a team already inside a parallel region (every thread calls, each does
   its share; no barrier at the end): float32 C = A B by the strides in g, with
   shared workspace g->apack and g->bpack of bw_gemm_workspace_bytes(0) and
   (1) bytes (for the blocking now; g->kc and g->mc_tiles the blocking to run,
   g->kc that of bpacked if given). At most BW_SMALL_N columns and contiguous
   rows of A: A read once. */
void bw_team_gemm_f32(int isa, const bw_gemm_ctx *g);
void bw_team_gemv_t_f32(int isa, const bw_gemv_ctx *g);
/* The same products by the calling thread alone (inside a team, for work the
   threads split by whole products): C = A Bt^T with B given transposed (b_rs
   1, b_cs k) or of one column, and y = A^T x. */
void bw_solo_gemm_small_f32(int isa, const bw_gemm_ctx *g);
void bw_solo_gemv_t_f32(int isa, const bw_gemv_ctx *g);
size_t bw_gemm_workspace_bytes(int which);
/* B = W^T for a row-major W (n x k), float32, packed once as bw_team_gemm_f32's
   GEMM packs it for isa, so a pass that reuses W skips the packing: out holds
   bw_gemm_prepacked_bytes(isa, n, k). Returns the KC it packed with. */
size_t bw_gemm_prepacked_bytes(int isa, size_t n, size_t k);
size_t bw_gemm_prepack_f32(int isa, const float *w, size_t n, size_t k, float *out);

/* infer.c: one transformer pass (an encoder pass, a prompt, or one decode
   step) through every layer in one parallel region, threads alive across
   operations with barriers between them; every op timed by thread 0. */
enum { BW_ARCH_BERT, BW_ARCH_GPT2, BW_ARCH_LLAMA };
enum { BW_ACT_GELU, BW_ACT_SILU };
/* Weight formats (quant.c): the linear layers dispatch on them; each one's
   traits are an entry of bw_fmts. */
enum { BW_FMT_F32, BW_FMT_F16, BW_FMT_BF16, BW_FMT_Q8_0, BW_FMT_Q4_0, BW_FMT_Q4_K, BW_FMT_Q6_K, BW_NFMT };
/* The ops a pass times, summed over layers; names in bwbench/inference.py. */
enum { BW_OP_EMBED, BW_OP_EMB_NORM, BW_OP_NORM, BW_OP_Q, BW_OP_K, BW_OP_V, BW_OP_QK_NORM, BW_OP_ROTARY,
       BW_OP_QK, BW_OP_SOFTMAX, BW_OP_SV, BW_OP_O, BW_OP_RESIDUAL, BW_OP_GATE, BW_OP_UP, BW_OP_ACT,
       BW_OP_GATE_MUL, BW_OP_DOWN, BW_OP_FINAL_NORM, BW_OP_LM_HEAD, BW_NOPS };

typedef struct {        /* y = W x + bias: W is rows (out) x cols (in), row-major as torch keeps it */
    int fmt;
    size_t rows, cols;
    const void *w;
    const float *bias;  /* NULL: none */
    const float *packed; /* float32 W^T packed for the GEMM of many tokens (bw_gemm_prepack_f32), or NULL */
} bw_linear;

typedef struct {
    bw_linear q, k, v, o, gate, up, down;      /* gate: gated FFN only */
    const float *norm1_w, *norm1_b, *norm2_w, *norm2_b;   /* _b NULL for RMSNorm */
    const float *q_norm_w, *k_norm_w;          /* Qwen3's per-head RMSNorm, else NULL */
} bw_layer;

typedef struct {
    int arch, act, nlayers;
    size_t d, heads, kv_heads, head_dim, d_ff, vocab, max_pos, max_tokens;
    size_t max_seqs;                           /* sequences the key/value cache holds (0: one) */
    float eps, rope_theta;
    const float *tok_emb, *pos_emb, *type_emb; /* vocab x d, positions x d, first token type row; NULL if absent */
    const float *emb_norm_w, *emb_norm_b;      /* BERT's embedding LayerNorm */
    const float *final_norm_w, *final_norm_b;  /* decoders */
    bw_linear lm_head;
    const bw_layer *layers;
    size_t packed_kc;                          /* the KC the linear layers were packed with; 0: none packed */
} bw_model;

typedef struct bw_infer_state bw_infer_state;
/* Key/value cache for max_seqs sequences of max_pos positions, scratch for
   max_tokens tokens a pass. */
bw_infer_state *bw_infer_new(const bw_model *m);
void bw_infer_free(bw_infer_state *s);
/* One pass over ntok tokens: nseq sequences of ntok / nseq tokens each, row
   by row, the q-th at positions pos[q].. of cache seq0 + q (causal if m is
   a decoder). A prompt is one sequence; a batched decode step is nseq
   sequences of one token. Every linear layer reads its weights once for
   all rows. embed: look up tokens (and norm, BERT) first, else x holds
   ntok x d inputs; head: final norm, LM head and argmax of each sequence's
   last token into next[q] (decoders). x receives the hidden states (ntok x
   d), logits (if not NULL) each sequence's last token's vocab logits (nseq x
   vocab); op_seconds[BW_NOPS] accumulates each op's time, *wall the pass's. */
int bw_infer_pass(const bw_model *m, bw_infer_state *s, int isa, int threads, int decoder,
                  const int *tokens, size_t ntok, size_t seq0, size_t nseq, const size_t *pos, int embed,
                  int head, float *x, float *logits, int *next, double *op_seconds, double *wall);
/* Caches seq0..seq0 + nseq - 1 hold random keys and values at positions
   0..depth - 1 (as llama-bench's -d): a decode "at depth" without the prompt
   that would have written them. depth <= max_pos and seq0 + nseq <= max_seqs:
   the caller checks. */
void bw_infer_fill(const bw_model *m, bw_infer_state *s, size_t seq0, size_t nseq, size_t depth);
/* The token loop: `steps` decode steps of nseq sequences in one team of
   threads (no Python, no new parallel region between steps). tokens[q] is
   sequence q's next input, at position pos[q]; each step's argmax is fed
   back. out (steps x nseq) receives every generated token; tokens and pos
   are left after the last step (caches 0..nseq-1). x: nseq x d scratch. */
int bw_infer_generate(const bw_model *m, bw_infer_state *s, int isa, int threads, size_t nseq, int *tokens,
                      size_t *pos, size_t steps, int *out, float *x, double *op_seconds, double *wall);

/* quant.c: llama.cpp's layouts; the block formats hold BW_QK weights a block. */
#define BW_QK 32
#define BW_QK_K 256          /* ggml's K-quant super-block */
#define BW_MAX_BLOCK_BYTES 256   /* the largest GEMV block of any format (q6_K's 210) */
/* x quantised for the block formats' GEMV: q8_0's values with a float scale,
   their sum and the sum of the first 16 (q6_K's sub-blocks are 16 long). */
typedef struct { float d; int32_t sum, first; int8_t qs[BW_QK]; } bw_xblock;
/* A format's traits, one table for all (as ggml's type_traits): its name, its
   storage block (weights and bytes; a float format's block is one weight), the
   bytes that lead a GEMV block in the grouped layout (its scale) and where
   they lie in the plain block (q6_K's fp16 d is its last two bytes), the weights
   of a GEMV block (BW_QK, or a K-quant's super-block of BW_QK_K), whether
   its GEMV takes x quantised to q8_0 blocks (else float32 x), what its
   AVX-512 GEMV needs of the CPU, its
   row conversions (NULL for f32, which the engine reads as it is) and the
   plain dot product of one 32-weight block, the reference of every fast path. */
typedef struct {
    const char *name;
    size_t block_weights, block_bytes, scale_bytes, scale_at, gemv_weights;
    int quantised_x;
    unsigned avx512_needs;
    void (*quantize)(const float *x, size_t n, void *out);
    void (*dequantize)(const void *in, size_t n, float *x);
    float (*dot)(const char *block, const float *xf, const bw_xblock *xq);
} bw_fmt_traits;
extern const bw_fmt_traits bw_fmts[BW_NFMT];
/* The float formats (GEMV against float32 x) as a constant the SIMD kernels
   fold (bw_fmts lives in another file); a float format never quantises x. */
#define BW_FMT_IS_FLOAT(fmt) ((fmt) == BW_FMT_F16 || (fmt) == BW_FMT_BF16)
/* Bytes of a row of `cols` weights, or 0 if the format cannot hold it. */
size_t bw_fmt_row_bytes(int fmt, size_t cols);
int bw_quantize(int fmt, const float *x, size_t n, void *out);
int bw_dequantize(int fmt, const void *in, size_t n, float *x);
size_t bw_xq_bytes(size_t cols);
/* For a team inside a parallel region (a barrier after it): ntok rows of x
   (cols each) as bw_xblocks in xq, a row's bw_xq_bytes(cols) after the
   last, the same bytes on every isa (one bw_isa_usable() accepted). */
void bw_team_quantize_x(int isa, const float *x, size_t cols, size_t ntok, void *xq);
/* Rows in a format in the engine's layout (same bytes: rows in groups of
   BW_GROUP, interleaved); the GEMV's rows are whole blocks of BW_QK weights,
   bf16's too. A group's block: bw_group_block_bytes(fmt). */
#define BW_GROUP 8
int bw_interleave(int fmt, const void *w, size_t rows, size_t cols, void *out);
size_t bw_group_block_bytes(int fmt);
/* The SIMD kernels read 1, 2, 4 or 8 groups in lockstep (runs of memory in
   flight a core), block by block: a table of copies per format and stream
   count (gemv_kernels.h), index i reading 1 << i groups. step: a group
   block's bytes; prefetch: bytes ahead to prefetch, 0 for none. */
#define BW_NSTREAM_COUNTS 4
#define BW_MAX_STREAMS 8
typedef void bw_groups_fn(const char *const *group, const float *x, const bw_xblock *xq, size_t blocks,
                          size_t step, int prefetch, float *const *y);
/* quant.c: AVX2 with F16C. quant_avx512.c: AVX-512 (f16, bf16) and AVX512_VNNI (q8_0, q4_0). */
extern bw_groups_fn *const bw_groups_avx2[BW_NFMT][BW_NSTREAM_COUNTS];
extern bw_groups_fn *const bw_groups_avx512[BW_NFMT][BW_NSTREAM_COUNTS];
/* The path y = W x in fmt takes for isa: the widest kernel, at most isa, that
   this CPU runs for fmt (an AVX-512 CPU without VNNI runs q8_0 on AVX2). */
int bw_gemv_path(int isa, int fmt);
/* How a path reads (bwbench.tune chooses per host; built-in defaults until
   set): streams 1, 2, 4 or 8, prefetch 0..BW_MAX_PREFETCH bytes in whole cache
   lines, chunk: groups a thread takes at a time from the shared counter. */
typedef struct { int streams, prefetch, chunk; } bw_gemv_shape;
int bw_set_gemv_shape(int fmt, int path, bw_gemv_shape shape);
bw_gemv_shape bw_gemv_shape_of(int fmt, int path);
/* For a team inside a parallel region: Y = X W^T for ntok tokens, W rows x
   cols in fmt (block formats in the engine's layout), X (ntok x cols) as
   float32 (f16, bf16) or quantised by bw_team_quantize_x into xq (the block
   formats); Y ntok x rows. isa: one bw_isa_usable() accepted (checked by the
   caller, outside the timed region). The team takes the rows in chunks as it
   goes (an omp for, no barrier at its end), each chunk read for every token
   while it is in cache. */
void bw_team_gemv_fmt(int isa, int fmt, const void *w, size_t rows, size_t cols, size_t ntok, const float *x,
                      const void *xq, float *y);
/* Times (samples given) or runs once (samples NULL) y = W x as the inference
   path does; grouped: w is already in the engine's layout (bw_interleave). */
int bw_qgemv_measure(int isa, int fmt, const void *w, int grouped, size_t rows, size_t cols, const float *x, float *y,
                     int threads, int ntimes, double min_sample_s, double *samples, int *cpus, long *reps);

/* latency.c: one thread chases `steps` dependent loads per call through a
   random cycle over a working set of `bytes`; *bad = 1 if the chase did not
   end where a walk of the same number of loads ends. */
int bw_chase_measure(size_t bytes, size_t steps, int ntimes, double min_sample_s,
                     double *samples, int *cpus, long *reps, size_t *bad);
/* The check on its own: *bad = 1 unless `end` is where `loads` loads from
   line 0 of the cycle over `bytes` end. */
/* mix.c: read/write mixes. nin arrays read and nout written per element
   (out = the sum of the inputs, or s without inputs; with no outputs the sum
   is accumulated in partial); inplace: the first output is the first input.
   nt: non-temporal stores. *bad counts wrong output elements (or a wrong sum). */
#define BW_MIX_MAX 8
typedef struct {
    const double *in[BW_MIX_MAX];
    double *out[BW_MIX_MAX];
    int nin, nout;
    size_t n;
    double s;
    double *partial;   /* per thread, BW_PAD apart */
} bw_mix_ctx;
int bw_mix_measure(int nin, int nout, int inplace, int nt, int isa, size_t n, int threads, int ntimes,
                   double min_sample_s, double *samples, int *cpus, long *reps, size_t *bad);

/* clock.c: the core clock under load. Each of `threads` threads runs a chain
   of BW_CLOCK_ADDS dependent integer adds a repetition (one cycle each);
   *bad counts the threads whose chain did not end at the sum it must reach. */
#define BW_CLOCK_ADDS 4096
int bw_clock_measure(int threads, int ntimes, double min_sample_s, double *samples, int *cpus, long *reps,
                     size_t *bad);

/* Loaded latency: thread 0 chases a cycle over chase_bytes, `samples` runs of
   `steps` loads (chase_s[point * samples + s] seconds each), while threads
   1.. stream their shares of nin arrays read and nout written (array_bytes
   each), delays[point] cycles after each group of lines (below 0: idle);
   gbps[point] sums their rates. *bad: the chase did not end where its loads lead. */
int bw_loaded_latency(size_t chase_bytes, size_t array_bytes, int nin, int nout, int threads, const long *delays,
                      int points, size_t steps, int samples, double *chase_s, double *gbps, size_t *bad);
int bw_chase_check(size_t bytes, size_t loads, size_t end, size_t *bad);

#endif
