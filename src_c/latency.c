/* Dependent-load latency: a pointer chase through one random cycle over
   cache-line-sized elements, so every load waits for the one before and the
   prefetchers cannot guess the next line. */
#include <stdint.h>

#include "bwbench.h"

typedef struct { size_t next; char pad[56]; } line;   /* one cache line */

typedef struct {
    const line *lines;
    size_t steps;    /* dependent loads per call */
    size_t *at;      /* where the chase stands between calls */
} chase_ctx;

static void chase(const void *p, long reps)
{
    const chase_ctx *k = p;
    size_t at = *k->at;
    for (size_t s = 0; s < k->steps * reps; s++)
        at = k->lines[at].next;
    *k->at = at;   /* stored, so the loads cannot be dropped */
}

static uint64_t xorshift(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* Sattolo's algorithm: a uniformly random permutation that is one cycle. */
static int random_cycle(line *lines, size_t n)
{
    size_t *order = bw_alloc(n * sizeof(size_t));
    if (!order)
        return BW_ENOMEM;
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = xorshift(&state) % i, t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        lines[order[i]].next = order[(i + 1) % n];
    bw_free(order);
    return BW_OK;
}

static size_t cycle_length(const line *lines, size_t n)
{
    size_t at = lines[0].next, length = 1;
    while (at != 0 && length <= n) {
        at = lines[at].next;
        length++;
    }
    return length;
}

int bw_chase_measure(size_t bytes, size_t steps, int ntimes, double min_sample_s,
                     double *samples, int *cpus, long *reps, size_t *bad)
{
    size_t n = bytes / sizeof(line), at = 0;
    line *lines = n >= 2 ? bw_alloc(n * sizeof(line)) : NULL;
    if (!lines)
        return n >= 2 ? BW_ENOMEM : BW_EUNSUPPORTED;
    chase_ctx ctx = {lines, steps, &at};
    int err = random_cycle(lines, n);
    if (!err)
        err = bw_time(chase, &ctx, 1, ntimes, min_sample_s, samples, cpus, reps);
    if (!err)
        *bad = cycle_length(lines, n) != n;
    bw_free(lines);
    return err;
}
