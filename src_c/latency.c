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

/* Loaded latency (MLC's --loaded_latency): thread 0 chases the cycle while
   threads 1.. stream through their shares of nin arrays read and nout written,
   waiting `delay` cycles (a chain of dependent adds) after each group of
   lines; a delay below 0 leaves them idle. One cache line a stream is one
   8-byte load (the line comes whole) or a whole line stored. */
#define LOAD_GROUP 8   /* lines a stream between delays */

typedef struct {
    const line *lines;
    size_t steps, at, loads;
    int samples;
    double *chase_s;            /* seconds of each sample's `steps` loads */
    uint64_t *arrays[BW_MIX_MAX];
    int nin, nout;
    size_t words;               /* per array */
    long delay;
    int stop, touched;
    double *rate;               /* per thread, BW_PAD apart: bytes per second */
    uint64_t *sink;             /* per thread, BW_PAD apart: the loads' sum, so they stay */
} loaded_ctx;

static void spin(long cycles)
{
    uint64_t x = 0;
    for (long c = 0; c < cycles; c++)
        __asm__ volatile("" : "+r"(x) : : );
}

static void load_share(loaded_ctx *k, int t, int threads)
{
    const size_t lines = k->words / 8, lo = lines * (t - 1) / (threads - 1), hi = lines * t / (threads - 1);
    uint64_t sum = 0;
    size_t done = 0;
    for (size_t i = lo * 8; !k->touched && i < hi * 8; i++)   /* first touch by the thread that streams it */
        for (int a = 0; a < k->nin + k->nout; a++)
            k->arrays[a][i] = i;
    #pragma omp barrier
    const double start = bw_now();
    while (k->delay >= 0 && !__atomic_load_n(&k->stop, __ATOMIC_ACQUIRE) && hi > lo)
        for (size_t g = lo; g < hi && !__atomic_load_n(&k->stop, __ATOMIC_RELAXED); g += LOAD_GROUP) {
            const size_t end = g + LOAD_GROUP < hi ? g + LOAD_GROUP : hi;
            for (size_t l = g; l < end; l++) {
                for (int a = 0; a < k->nin; a++)
                    sum += k->arrays[a][l * 8];
                for (int a = k->nin; a < k->nin + k->nout; a++)
                    for (int w = 0; w < 8; w++)
                        k->arrays[a][l * 8 + w] = sum;
            }
            done += end - g;
            spin(k->delay);
        }
    const double seconds = bw_now() - start;
    k->rate[t * BW_PAD] = seconds > 0 ? done * 64.0 * (k->nin + k->nout) / seconds : 0.0;
    k->sink[t * BW_PAD] = sum;
}

static void loaded(void *arg, int t, int threads)
{
    loaded_ctx *k = arg;
    if (t) {
        load_share(k, t, threads);
        return;
    }
    #pragma omp barrier
    chase_ctx c = {.lines = k->lines, .steps = k->steps, .at = &k->at, .loads = &k->loads};
    for (int s = 0; s < k->samples; s++) {
        const double start = bw_now();
        chase(&c, 1);
        k->chase_s[s] = bw_now() - start;
    }
    __atomic_store_n(&k->stop, 1, __ATOMIC_RELEASE);
}

int bw_loaded_latency(size_t chase_bytes, size_t array_bytes, int nin, int nout, int threads, const long *delays,
                      int points, size_t steps, int samples, double *chase_s, double *gbps, size_t *bad)
{
    if (threads < 2 || threads > BW_MAX_THREADS || nin < 0 || nout < 0 || nin + nout < 1
        || nin + nout > BW_MIX_MAX || points < 1 || steps == 0 || samples < 1 || array_bytes < 64)
        return BW_EARGS;
    line *lines;
    size_t n;
    int err = chase_setup(chase_bytes, &lines, &n);
    if (err)
        return err;
    loaded_ctx k = {.lines = lines, .steps = steps, .samples = samples, .nin = nin, .nout = nout,
                    .words = array_bytes / 64 * 8};
    k.rate = bw_alloc(sizeof(double) * BW_PAD * threads);
    k.sink = bw_alloc(sizeof(uint64_t) * BW_PAD * threads);
    err = k.rate && k.sink ? BW_OK : BW_ENOMEM;
    for (int a = 0; a < nin + nout && !err; a++)
        if (!(k.arrays[a] = bw_alloc(k.words * sizeof(uint64_t))))
            err = BW_ENOMEM;
    for (int p = 0; p < points && !err; p++) {
        k.delay = delays[p];
        k.stop = 0;
        k.chase_s = chase_s + (size_t)p * samples;
        err = bw_team(loaded, &k, threads);
        k.touched = 1;
        gbps[p] = 0.0;
        for (int t = 1; t < threads; t++)
            gbps[p] += k.rate[t * BW_PAD] / 1e9;
    }
    if (!err)   /* the chase's own end against a walk of as many loads */
        *bad = walk(lines, n, k.loads) != k.at;
    for (int a = 0; a < nin + nout; a++)
        bw_free(k.arrays[a]);
    bw_free(k.rate);
    bw_free(k.sink);
    bw_free(lines);
    return err;
}
