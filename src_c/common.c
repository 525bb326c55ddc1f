/* Host facts, aligned allocation and the timing loop shared by every kernel. */
#define _GNU_SOURCE
#include <omp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bwbench.h"

#ifndef BW_CFLAGS
#define BW_CFLAGS "unknown"
#endif

int bw_isa_supported(int isa)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    switch (isa) {
    case BW_AVX512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    case BW_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case BW_SSE2: return 1;
    default: return 0;   /* the generic variant is built for other hosts only */
    }
#else
    return isa == BW_GENERIC;
#endif
}

int bw_isa_usable(int isa)
{
    return isa >= 0 && isa < BW_NISA && (isa == BW_GENERIC || bw_isa_supported(isa));
}

int bw_best_isa(void)
{
    for (int isa = BW_NISA - 1; isa > BW_GENERIC; isa--)
        if (bw_isa_supported(isa))
            return isa;
    return BW_GENERIC;
}

const char *bw_isa_name(int isa)
{
    static const char *names[BW_NISA] = {"generic", "sse2", "avx2", "avx512"};
    return isa >= 0 && isa < BW_NISA ? names[isa] : "unknown";
}

#ifdef __clang__
const char *bw_compiler(void) { return "clang " __VERSION__; }
#else
const char *bw_compiler(void) { return "gcc " __VERSION__; }
#endif
const char *bw_cflags(void) { return BW_CFLAGS; }

double bw_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

#define HUGE_PAGE ((size_t)2 << 20)

/* Large arrays are 2 MiB aligned and asked to use huge pages, so TLB misses
   do not cut DRAM bandwidth; small ones are page aligned. */
void *bw_alloc(size_t bytes)
{
    size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : 4096;
    void *p = NULL;
    if (bytes == 0 || posix_memalign(&p, align, bytes) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (align == HUGE_PAGE)
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

void bw_free(void *p) { free(p); }

void bw_static_range(size_t n, size_t *lo, size_t *hi)
{
    size_t t = omp_get_thread_num(), threads = omp_get_num_threads();
    size_t share = n / threads, extra = n % threads;
    *lo = t * share + (t < extra ? t : extra);
    *hi = *lo + share + (t < extra);
}

typedef struct { double start, end; char pad[48]; } stamp;   /* a cache line each */

static double slowest_span(const stamp *st, int threads)
{
    double start = st[0].start, end = st[0].end;
    for (int t = 1; t < threads; t++) {
        if (st[t].start < start) start = st[t].start;
        if (st[t].end > end) end = st[t].end;
    }
    return end - start;
}

/* The CPU that thread t is pinned to: the t-th one the process may use. */
static int nth_cpu(const cpu_set_t *allowed, int t)
{
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, allowed) && t-- == 0)
            return cpu;
    return -1;
}

static void pin_to(int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof one, &one);
}

/* Times reps calls of body per sample, each thread pinned to its own CPU;
   the calling thread gets its own affinity back afterwards. */
static int timed_samples(bw_body body, const void *ctx, int threads, int ntimes,
                         long reps, double *samples, int *cpus)
{
    stamp *st = bw_alloc(sizeof(stamp) * threads);
    cpu_set_t allowed;
    int ran = 0;
    if (!st)
        return BW_ENOMEM;
    sched_getaffinity(0, sizeof allowed, &allowed);
    if (CPU_COUNT(&allowed) < threads) {
        bw_free(st);
        return BW_ETHREADS;
    }
    #pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num();
        #pragma omp single
        ran = omp_get_num_threads();
        pin_to(nth_cpu(&allowed, t));
        if (cpus)
            cpus[t] = sched_getcpu();
        for (int s = 0; s < ntimes; s++) {
            #pragma omp barrier
            st[t].start = bw_now();
            body(ctx, reps);
            st[t].end = bw_now();
            #pragma omp barrier
            #pragma omp single
            samples[s] = slowest_span(st, ran);
        }
    }
    sched_setaffinity(0, sizeof allowed, &allowed);
    bw_free(st);
    return ran == threads ? BW_OK : BW_ETHREADS;
}

int bw_run(bw_body body, const void *ctx, int threads)
{
    if (threads < 1 || threads > BW_MAX_THREADS)
        return BW_ETHREADS;
    omp_set_dynamic(0);
    #pragma omp parallel num_threads(threads)
    body(ctx, 1);
    return BW_OK;
}

int bw_time(bw_body body, const void *ctx, int threads, int ntimes,
            double min_sample_s, double *samples, int *cpus, long *reps)
{
    if (threads < 1 || threads > BW_MAX_THREADS)
        return BW_ETHREADS;
    omp_set_dynamic(0);
    /* Calibrate: double the repetitions until one sample lasts long enough. */
    double once;
    for (*reps = 1;; *reps *= 2) {
        int err = timed_samples(body, ctx, threads, 1, *reps, &once, NULL);
        if (err)
            return err;
        if (once >= min_sample_s || *reps >= (1L << 40))
            break;
    }
    return timed_samples(body, ctx, threads, ntimes, *reps, samples, cpus);
}

int bw_run_timed(bw_body body, const void *ctx, int threads, double *seconds)
{
    if (threads < 1 || threads > BW_MAX_THREADS)
        return BW_ETHREADS;
    omp_set_dynamic(0);
    return timed_samples(body, ctx, threads, 1, 1, seconds, NULL);
}
