/* GEMM and GEMV for one instruction set and one element type: gemm.c
   includes this file per ISA (between simd_begin.h and simd_end.h) and per
   type (BW_F32 0 or 1). Matrices are given by strides (rs: between rows,
   cs: between columns), so one GEMM serves transposed operands too. */
#if BW_F32
#define T float
#define V vf
#define L WF
#define VLD VLOADF
#define VLDU VLOADUF
#define VSTU VSTOREUF
#define VBC VSET1F
#define VZ VZEROF
#define VFM VFMAF
#define VAD VADDF
#define FN(name) SFX(name##_f32)
#else
#define T double
#define V vd
#define L W
#define VLD VLOAD
#define VLDU VLOADU
#define VSTU VSTOREU
#define VBC VSET1
#define VZ VZERO
#define VFM VFMA
#define VAD VADD
#define FN(name) SFX(name##_f64)
#endif

/* Register tile: MR rows of A (broadcast) times NV vectors of B (NR columns):
   MR*NV accumulators, as many as the registers allow beside B and A. */
#if W == 8
#define MR 12
#define NV 2
#elif W == 1
#define MR 4
#define NV 4
#else
#define MR 6
#define NV 2
#endif
#define NR (NV * L)

static size_t FN(gemm_nr)(void) { return NR; }

/* A[0:mc, 0:kc] into panels of MR rows, k-major, zero-padded to whole panels. */
static void FN(pack_a)(size_t mc, size_t kc, const T *a, ptrdiff_t rs, ptrdiff_t cs,
                       T *p, size_t panel_lo, size_t panel_hi)
{
    for (size_t panel = panel_lo; panel < panel_hi; panel++) {
        size_t i0 = panel * MR, mr = mc - i0 < MR ? mc - i0 : MR;
        T *out = p + panel * MR * kc;
        for (size_t k = 0; k < kc; k++)
            for (size_t r = 0; r < MR; r++)
                *out++ = r < mr ? a[(i0 + r) * rs + k * cs] : 0;
    }
}

/* B[0:kc, 0:nc] into panels of NR columns, k-major, zero-padded. Read along
   whichever of B's dimensions is contiguous (k, when B is a transposed A). */
static void FN(pack_b)(size_t kc, size_t nc, const T *b, ptrdiff_t rs, ptrdiff_t cs,
                       T *p, size_t panel_lo, size_t panel_hi)
{
    for (size_t panel = panel_lo; panel < panel_hi; panel++) {
        size_t j0 = panel * NR, nr = nc - j0 < NR ? nc - j0 : NR;
        T *out = p + panel * NR * kc;
        if (rs == 1) {
            for (size_t j = 0; j < NR; j++)
                for (size_t k = 0; k < kc; k++)
                    out[k * NR + j] = j < nr ? b[k + (j0 + j) * cs] : 0;
        } else {
            for (size_t k = 0; k < kc; k++)
                for (size_t j = 0; j < NR; j++)
                    *out++ = j < nr ? b[k * rs + (j0 + j) * cs] : 0;
        }
    }
}

/* C[0:mr, 0:nr] (+)= A panel x B panel over kc. Inlined with a constant mr,
   so a short edge tile does only its own rows' FMAs. */
static inline __attribute__((always_inline)) void FN(tile)(
    const int mr, size_t kc, const T *a, const T *b, T *c, ptrdiff_t rs, ptrdiff_t cs,
    size_t nr, int accumulate)
{
    V acc[MR][NV];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < NV; v++)
            acc[r][v] = VZ();
    for (size_t k = 0; k < kc; k++) {
        V bv[NV];
        for (int v = 0; v < NV; v++)
            bv[v] = VLD(b + k * NR + v * L);
        for (int r = 0; r < mr; r++) {
            V av = VBC(a[k * MR + r]);
            for (int v = 0; v < NV; v++)
                acc[r][v] = VFM(av, bv[v], acc[r][v]);
        }
    }
    if (nr == NR && cs == 1) {
        for (int r = 0; r < mr; r++)
            for (int v = 0; v < NV; v++) {
                T *out = c + r * rs + v * L;
                VSTU(out, accumulate ? VAD(VLDU(out), acc[r][v]) : acc[r][v]);
            }
        return;
    }
    T tile[MR * NR] __attribute__((aligned(64)));   /* edge or strided C: go through memory */
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < NV; v++)
            VSTU(tile + r * NR + v * L, acc[r][v]);
    for (int r = 0; r < mr; r++)
        for (size_t j = 0; j < nr; j++)
            c[r * rs + j * cs] = (accumulate ? c[r * rs + j * cs] : 0) + tile[r * NR + j];
}

static void FN(tile_any)(int mr, size_t kc, const T *a, const T *b, T *c, ptrdiff_t rs,
                         ptrdiff_t cs, size_t nr, int accumulate)
{
    switch (mr) {   /* one specialised copy per row count */
#define TILE_CASE(m) case m: FN(tile)(m, kc, a, b, c, rs, cs, nr, accumulate); break;
    TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4)
#if MR > 4
    TILE_CASE(5) TILE_CASE(6)
#endif
#if MR > 6
    TILE_CASE(7) TILE_CASE(8) TILE_CASE(9) TILE_CASE(10) TILE_CASE(11) TILE_CASE(12)
#endif
#undef TILE_CASE
    }
}

/* C = A B, blocked as BLIS does (NC, KC, MC loops; packed B shared, packed A
   shared per block; the threads split packing and the NR-column panels). */
static void FN(gemm)(const void *p, long reps)
{
    const bw_gemm_ctx *g = p;
    const T *a = g->a, *b = g->b;
    T *c = g->c, *bpack = g->bpack, *apack = g->apack;
    const size_t KC = g->kc, MC = g->mc_tiles * MR;   /* MC x KC of A stays in L2 */
    size_t lo, hi;
    for (long rep = 0; rep < reps; rep++)
        for (size_t jc = 0; jc < g->n; jc += NC) {
            size_t nc = g->n - jc < NC ? g->n - jc : NC, npanels = (nc + NR - 1) / NR;
            for (size_t pc = 0; pc < g->k; pc += KC) {
                size_t kc = g->k - pc < KC ? g->k - pc : KC;
                #pragma omp barrier   /* the previous block is no longer read */
                const T *bp = g->bpacked ? (const T *)g->bpacked + jc * g->k + pc * npanels * NR : bpack;
                bw_static_range(npanels, &lo, &hi);
                if (!g->bpacked)
                    FN(pack_b)(kc, nc, b + pc * g->b_rs + jc * g->b_cs, g->b_rs, g->b_cs, bpack, lo, hi);
                for (size_t ic = 0; ic < g->m; ic += MC) {
                    size_t mc = g->m - ic < MC ? g->m - ic : MC;
                    bw_static_range((mc + MR - 1) / MR, &lo, &hi);
                    FN(pack_a)(mc, kc, a + ic * g->a_rs + pc * g->a_cs, g->a_rs, g->a_cs, apack, lo, hi);
                    #pragma omp barrier   /* both packs complete */
                    bw_static_range(npanels, &lo, &hi);
                    for (size_t jr = lo * NR; jr < hi * NR && jr < nc; jr += NR)
                        for (size_t ir = 0; ir < mc; ir += MR)
                            FN(tile_any)(mc - ir < MR ? (int)(mc - ir) : MR, kc, apack + ir * kc,
                                         bp + jr * kc, c + (ic + ir) * g->c_rs + (jc + jr) * g->c_cs,
                                         g->c_rs, g->c_cs, nc - jr < NR ? nc - jr : NR, pc > 0);
                    #pragma omp barrier   /* apack is no longer read */
                }
            }
        }
}

/* B = W^T (W row-major n x k) in gemm's packed layout, every block: block
   (jc, pc) at jc * k + pc * (its panels) * NR, as gemm finds it. */
static void FN(prepack)(size_t n, size_t k, size_t KC, const void *w, void *out)
{
    for (size_t jc = 0; jc < n; jc += NC) {
        size_t nc = n - jc < NC ? n - jc : NC, npanels = (nc + NR - 1) / NR;
        for (size_t pc = 0; pc < k; pc += KC)
            FN(pack_b)(k - pc < KC ? k - pc : KC, nc, (const T *)w + pc + jc * k, 1, (ptrdiff_t)k,
                       (T *)out + jc * k + pc * npanels * NR, 0, npanels);
    }
}

/* C[0:rows, 0:cols] = A[0:rows, :] Bt[0:cols, :]^T over k: dot products of
   rows of A with rows of Bt; inlined with constant counts so the rows*cols
   accumulators live in registers. C by its strides (rs, cs). */
static inline __attribute__((always_inline)) void FN(dots)(
    const int rows, const int cols, const T *a, const T *bt, size_t k, T *c, ptrdiff_t rs, ptrdiff_t cs)
{
    const size_t kv = k / L * L;
    V acc[4][4];
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
            acc[r][j] = VZ();
    for (size_t q = 0; q < kv; q += L) {
        V bv[4];
        for (int j = 0; j < cols; j++)
            bv[j] = VLDU(bt + j * k + q);
        for (int r = 0; r < rows; r++) {
            V av = VLDU(a + r * k + q);
            for (int j = 0; j < cols; j++)
                acc[r][j] = VFM(av, bv[j], acc[r][j]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) {
            T lanes[L], sum = 0;
            VSTU(lanes, acc[r][j]);
            for (int l = 0; l < L; l++)
                sum += lanes[l];
            for (size_t q = kv; q < k; q++)
                sum += a[r * k + q] * bt[j * k + q];
            c[r * rs + j * cs] = sum;
        }
}

/* All columns of C for `rows` rows of A (from memory once; again from cache
   for each further group of four columns). */
static inline __attribute__((always_inline)) void FN(dot_rows)(
    const int rows, const T *a, const T *bt, size_t k, T *c, size_t n, ptrdiff_t rs, ptrdiff_t cs)
{
    size_t j = 0;
    for (; j + 4 <= n; j += 4)
        FN(dots)(rows, 4, a, bt + j * k, k, c + j * cs, rs, cs);
    for (; j < n; j++)
        FN(dots)(rows, 1, a, bt + j * k, k, c + j * cs, rs, cs);
}

/* One row of A times x, front to back with four accumulators. */
static inline __attribute__((always_inline)) T FN(dot_row)(const T *a, const T *x, size_t k)
{
    V acc[4] = {VZ(), VZ(), VZ(), VZ()};
    size_t q = 0;
    for (; q + 4 * L <= k; q += 4 * L)
        for (int u = 0; u < 4; u++)
            acc[u] = VFM(VLDU(a + q + u * L), VLDU(x + q + u * L), acc[u]);
    for (; q + L <= k; q += L)
        acc[0] = VFM(VLDU(a + q), VLDU(x + q), acc[0]);
    T lanes[L], sum = 0;
    VSTU(lanes, VAD(VAD(acc[0], acc[1]), VAD(acc[2], acc[3])));
    for (int l = 0; l < L; l++)
        sum += lanes[l];
    for (; q < k; q++)
        sum += a[q] * x[q];
    return sum;
}

/* Rows lo..hi of C = A Bt^T (gemm_small's product, Bt ready): A's rows read
   once, contiguous. */
static void FN(small_rows)(const bw_gemm_ctx *g, const void *bt_, size_t lo, size_t hi)
{
    const size_t n = g->n, k = g->k;
    const T *a = g->a, *bt = bt_;
    T *c = g->c;
    size_t i = lo;
    if (n == 1 && k * sizeof(T) < SEQ_ROW_BYTES)   /* short rows: one after another */
        for (; i < hi; i++)
            c[i * g->c_rs] = FN(dot_row)(a + i * k, bt, k);
    for (; i + 4 <= hi; i += 4)
        FN(dot_rows)(4, a + i * k, bt, k, c + i * g->c_rs, n, g->c_rs, g->c_cs);
    for (; i < hi; i++)
        FN(dot_rows)(1, a + i * k, bt, k, c + i * g->c_rs, n, g->c_rs, g->c_cs);
}

/* C = A B for B of few columns (a GEMV when n = 1): no packing of A, which
   is read once, as a GEMV reads it; A's rows contiguous. B's columns are
   read as rows of Bt (n x k): B itself when it is a transposed row-major
   matrix (b_rs 1, b_cs k), else a copy in bpack, made by the team. C by its
   strides. Threads split the rows. */
static void FN(gemm_small)(const void *p, long reps)
{
    const bw_gemm_ctx *g = p;
    const size_t m = g->m, n = g->n, k = g->k;
    const int packed = n > 1 && !(g->b_rs == 1 && g->b_cs == (ptrdiff_t)k);
    const T *b = g->b, *bt = packed ? g->bpack : b;
    size_t lo, hi;
    for (long rep = 0; rep < reps; rep++) {
        if (packed) {
            T *pack = g->bpack;
            bw_static_range(k, &lo, &hi);
            for (size_t q = lo; q < hi; q++)
                for (size_t j = 0; j < n; j++)
                    pack[j * k + q] = b[q * g->b_rs + j * g->b_cs];
            #pragma omp barrier   /* bt complete */
        }
        bw_static_range(m, &lo, &hi);
        FN(small_rows)(g, bt, lo, hi);
        if (packed) {
            #pragma omp barrier   /* bt no longer read */
        }
    }
}

/* y[lo:hi] += A[0:rows, lo:hi]^T x[0:rows], vectors from lo to vend. */
static inline __attribute__((always_inline)) void FN(axpy_rows)(
    const int rows, const T *a, size_t n, const T *x, T *y, size_t lo, size_t vend, size_t hi)
{
    V xv[4];
    for (int r = 0; r < rows; r++)
        xv[r] = VBC(x[r]);
    for (size_t j = lo; j < vend; j += L) {
        V acc = VLDU(y + j);
        for (int r = 0; r < rows; r++)
            acc = VFM(xv[r], VLDU(a + r * n + j), acc);
        VSTU(y + j, acc);
    }
    for (size_t j = vend; j < hi; j++)
        for (int r = 0; r < rows; r++)
            y[j] += x[r] * a[r * n + j];
}

/* Columns lo..hi of y = A^T x, A row-major m x n: x[i] * A[i, lo:hi] added
   over all rows, four rows per pass over y[lo:hi], which stays in cache. */
static void FN(gemv_t_cols)(const bw_gemv_ctx *g, size_t lo, size_t hi)
{
    const T *a = g->a, *x = g->x;
    T *y = g->y;
    const size_t n = g->n, m = g->m;
    const size_t vend = hi > lo ? lo + (hi - lo) / L * L : lo;
    for (size_t j = lo; j < hi; j++)
        y[j] = 0;
    size_t i = 0;
    for (; i + 4 <= m; i += 4)
        FN(axpy_rows)(4, a + i * n, n, x + i, y, lo, vend, hi);
    for (; i < m; i++)
        FN(axpy_rows)(1, a + i * n, n, x + i, y, lo, vend, hi);
}

/* y = A^T x: threads split the columns (whole vectors). */
static void FN(gemv_t)(const void *p, long reps)
{
    const bw_gemv_ctx *g = p;
    size_t lo, hi;
    bw_static_range((g->n + L - 1) / L, &lo, &hi);
    lo *= L;
    hi = hi * L < g->n ? hi * L : g->n;
    for (long rep = 0; rep < reps; rep++)
        FN(gemv_t_cols)(g, lo, hi);
}

#undef T
#undef V
#undef L
#undef VLD
#undef VLDU
#undef VSTU
#undef VBC
#undef VZ
#undef VFM
#undef VAD
#undef FN
#undef MR
#undef NV
#undef NR
#undef BW_F32
