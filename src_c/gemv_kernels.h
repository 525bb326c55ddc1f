/* The SIMD GEMV kernels' table, one copy per weight format and stream count
   with both folded to constants (a copy that tested them at run time kept
   their branches in its inner loop: 30% slower in cache). Included by quant.c
   (AVX2) and quant_avx512.c (AVX-512) after each defines
       static inline void GROUPS(int fmt, int n, const char *const *group, const float *x,
                                 const bw_xblock *xq, size_t blocks, size_t step, int prefetch,
                                 float *const *y)
   TABLE, the name the table gets, and KERNEL_FORMATS(X), X(format) for each
   format it has a kernel for (the others' entries stay empty: bw_gemv_path
   then takes a narrower path, or the generic one). */
#define GROUPS_COPY(fmt, i)                                                                         \
    static void groups_##fmt##_##i(const char *const *group, const float *x, const bw_xblock *xq,   \
                                   size_t blocks, size_t step, int prefetch, float *const *y)       \
    {                                                                                               \
        GROUPS(fmt, 1 << i, group, x, xq, blocks, step, prefetch, y);                               \
    }
#define GROUPS_COPIES(fmt) GROUPS_COPY(fmt, 0) GROUPS_COPY(fmt, 1) GROUPS_COPY(fmt, 2) GROUPS_COPY(fmt, 3)
#define GROUPS_ROW(fmt) [fmt] = {groups_##fmt##_0, groups_##fmt##_1, groups_##fmt##_2, groups_##fmt##_3},

KERNEL_FORMATS(GROUPS_COPIES)

bw_groups_fn *const TABLE[BW_NFMT][BW_NSTREAM_COUNTS] = {KERNEL_FORMATS(GROUPS_ROW)};

#undef GROUPS_COPY
#undef GROUPS_COPIES
#undef GROUPS_ROW
