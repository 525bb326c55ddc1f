/* quant_avx512.c's kernels on a CPU that may lack AVX-512: built with
   -DBW_SIMDE, SIMDe's portable versions of the intrinsics stand in for
   vpdpbusd and the rest, and each format's GEMV is checked
   against the generic one (tests/test_sanitizers.py builds and runs it).
   Weights and x reach the ends of their ranges (q8_0's -127 and 127, q4_0's
   0 and 15), where the offsets the kernels take off would show. Prints one
   line per failure and exits 1 if any. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bwbench.h"
#include "driver.h"

/* Groups read 8, 4, 2 and 1 at a time: every stream count's copy. */
enum { ROWS = 15 * BW_GROUP, COLS = 2 * BW_QK_K };   /* two K-quant super-blocks */

/* y by the AVX-512 kernels over the engine's layout of the rows in fmt. */
static void gemv_avx512(int fmt, const void *rows, const float *x, float *y)
{
    const size_t blocks = COLS / bw_fmts[fmt].gemv_weights, step = bw_group_block_bytes(fmt), group_bytes = step * blocks;
    char *grouped = bw_alloc(group_bytes * ROWS / BW_GROUP);
    bw_xblock *xq = bw_alloc(bw_xq_bytes(COLS));
    EXPECT(bw_interleave(fmt, rows, ROWS, COLS, grouped) == BW_OK);
    bw_team_quantize_x(BW_GENERIC, x, COLS, 1, xq);
    size_t first = 0;
    for (int i = BW_NSTREAM_COUNTS - 1; i >= 0; i--) {
        const char *group[BW_MAX_STREAMS];
        float *out[BW_MAX_STREAMS];
        for (int s = 0; s < 1 << i; s++, first++) {
            group[s] = grouped + first * group_bytes;
            out[s] = y + first * BW_GROUP;
        }
        bw_groups_avx512[fmt][i](group, x, xq, blocks, step, i % 2 ? 64 : 0, out);   /* with and without prefetch */
    }
    bw_free(grouped);
    bw_free(xq);
}

int main(void)
{
    static float w[ROWS * COLS], x[COLS], y[ROWS], want[ROWS];
    static unsigned char rows[ROWS * COLS * 2];
    for (size_t i = 0; i < COLS; i++)
        x[i] = (float)((int)(i * 11 % 23) - 11) / 7;
    for (int fmt = BW_FMT_F32 + 1; fmt < BW_NFMT; fmt++) {
        if (!bw_groups_avx512[fmt][0])   /* no AVX-512 kernel (yet): the generic one runs */
            continue;
        test_weights(fmt, ROWS, COLS, w, rows);
        EXPECT(bw_qgemv_measure(BW_GENERIC, fmt, rows, 0, ROWS, COLS, x, want, 1, 0, 0.0, NULL, NULL, NULL) == BW_OK);
        gemv_avx512(fmt, rows, x, y);
        for (int r = 0; r < ROWS; r++)   /* the same sums, in another order */
            EXPECT(fabsf(y[r] - want[r]) <= 1e-5f * (1 + fabsf(want[r])));
    }
    return report();
}
