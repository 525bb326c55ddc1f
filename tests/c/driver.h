/* What the C drivers share: their one check (a failed condition prints its
   line and counts; main() ends with report()) and the test weights. */
#include <stdio.h>

#include "bwbench.h"

static int failures;

#define EXPECT(cond)                                                          \
    do {                                                                      \
        if (!(cond)) {                                                        \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
            failures++;                                                       \
        }                                                                     \
    } while (0)

/* The last line the tests read: "ok: 0 failure(s)"; exit status 1 on any. */
static int report(void)
{
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "ok", failures);
    return failures != 0;
}

/* rows x cols weights (j * 37 % 201 - 100) / 64, so every block reaches the
   ends of q8_0's and q4_0's ranges, quantised row by row into out in fmt. */
static void test_weights(int fmt, size_t rows, size_t cols, float *w, unsigned char *out)
{
    for (size_t i = 0; i < rows * cols; i++)
        w[i] = (float)((int)(i * 37 % 201) - 100) / 64;
    for (size_t r = 0; r < rows; r++)
        EXPECT(bw_quantize(fmt, w + r * cols, cols, out + r * bw_fmt_row_bytes(fmt, cols)) == BW_OK);
}
