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
    size_t *loads;   /* loads done by all calls so far */
} chase_ctx;

/* Each call goes on from where the last one stopped, so samples keep walking
   new lines instead of re-reading a cached prefix of the cycle. */
static void chase(const void *p, long reps)
{
    const chase_ctx *k = p;
    size_t at = *k->at;
    for (size_t s = 0; s < k->steps * reps; s++)
        at = k->lines[at].next;
    *k->at = at;   /* stored, so the loads cannot be dropped */
    *k->loads += k->steps * reps;
}

static uint64_t xorshift(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* Sattolo's algorithm: a uniformly random permutation that is one cycle, so
   the walk returns to any line every n loads. */
static int random_cycle(line *lines, size_t n)
{
    size_t *order = bw_alloc(bw_bytes(n, sizeof(size_t)));
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

/* Where `loads` loads from line 0 end: the cycle has n lines, so loads mod n. */
static size_t walk(const line *lines, size_t n, size_t loads)
{
    size_t at = 0;
    for (size_t s = 0; s < loads % n; s++)
        at = lines[at].next;
    return at;
}

/* The cycle over `bytes` (at least two lines), or an error. */
static int chase_setup(size_t bytes, line **lines, size_t *n)
{
    *n = bytes / sizeof(line);
    if (*n < 2)
        return BW_EARGS;
    *lines = bw_alloc(*n * sizeof(line));
    if (!*lines)
        return BW_ENOMEM;
    int err = random_cycle(*lines, *n);
    if (err)
        bw_free(*lines);
    return err;
}

int bw_chase_check(size_t bytes, size_t loads, size_t end, size_t *bad)
{
    line *lines;
    size_t n;
    int err = chase_setup(bytes, &lines, &n);
    if (err)
        return err;
    *bad = walk(lines, n, loads) != end;
    bw_free(lines);
    return BW_OK;
}

int bw_chase_measure(size_t bytes, size_t steps, int ntimes, double min_sample_s,
                     double *samples, int *cpus, long *reps, size_t *bad)
{
    line *lines;
    size_t n, at = 0, loads = 0;
    if (steps == 0)
        return BW_EARGS;
    int err = chase_setup(bytes, &lines, &n);
    if (err)
        return err;
    chase_ctx ctx = {.lines = lines, .steps = steps, .at = &at, .loads = &loads};
    err = bw_time(chase, &ctx, 1, ntimes, min_sample_s, samples, cpus, reps);
    if (!err)   /* the measurement's own end against a walk of as many loads */
        *bad = walk(lines, n, loads) != at;
    bw_free(lines);
    return err;
}
