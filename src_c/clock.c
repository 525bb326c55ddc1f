/* The core clock under load: a chain of dependent integer adds, one cycle
   each on every CPU bwbench knows, timed against the wall clock. Each add
   waits for the one before, so adds / seconds is the clock in Hz. An empty
   asm between the adds keeps the compiler from folding the chain into a
   multiply; the loop's own counter is a second, independent chain that the
   core runs beside it. */
#include <omp.h>
#include <stdint.h>

#include "bwbench.h"

#define ADD(x, y) do { (x) += (y); __asm__ volatile("" : "+r"(x)); } while (0)
#define ADD8(x, y) ADD(x, y); ADD(x, y); ADD(x, y); ADD(x, y); ADD(x, y); ADD(x, y); ADD(x, y); ADD(x, y)
#define ADD64(x, y) ADD8(x, y); ADD8(x, y); ADD8(x, y); ADD8(x, y); ADD8(x, y); ADD8(x, y); ADD8(x, y); ADD8(x, y)

typedef struct {
    uint64_t step;    /* added BW_CLOCK_ADDS times a repetition */
    uint64_t *sums;   /* per thread, BW_PAD apart: where its chain ended */
} clock_ctx;

static void chain(const void *p, long reps)
{
    const clock_ctx *k = p;
    uint64_t *sum = k->sums + (size_t)omp_get_thread_num() * BW_PAD;
    uint64_t x = *sum, y = k->step;
    for (long r = 0; r < reps; r++)
        for (int i = 0; i < BW_CLOCK_ADDS / 64; i++) {
            ADD64(x, y);
        }
    *sum = x;
}

int bw_clock_measure(int threads, int ntimes, double min_sample_s, double *samples, int *cpus, long *reps,
                     size_t *bad)
{
    if (threads < 1 || threads > BW_MAX_THREADS)
        return BW_EARGS;
    uint64_t *sums = bw_alloc(sizeof(uint64_t) * BW_PAD * threads);
    if (!sums)
        return BW_ENOMEM;
    for (int t = 0; t < threads; t++)
        sums[t * BW_PAD] = 0;
    clock_ctx ctx = {.step = 3, .sums = sums};
    int err = bw_time(chain, &ctx, threads, ntimes, min_sample_s, samples, cpus, reps);
    if (!err) {   /* calibration ran 1 + 2 + ... + reps repetitions, then ntimes samples of reps */
        const uint64_t total = (2 * (uint64_t)*reps - 1 + (uint64_t)*reps * ntimes) * BW_CLOCK_ADDS;
        *bad = 0;
        for (int t = 0; t < threads; t++)
            *bad += sums[t * BW_PAD] != total * ctx.step;
    }
    bw_free(sums);
    return err;
}
