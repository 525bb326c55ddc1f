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

/* The CPU's features, read once before main(): every kernel choice tests
   these bits, never the CPU again. */
static unsigned cpu_features;

__attribute__((constructor)) static void read_cpu_features(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
#define FEATURE(bit, name) cpu_features |= __builtin_cpu_supports(name) ? (bit) : 0u   /* name: a literal */
    FEATURE(BW_CPU_SSE2, "sse2");
    FEATURE(BW_CPU_AVX2, "avx2");
    FEATURE(BW_CPU_FMA, "fma");
    FEATURE(BW_CPU_F16C, "f16c");
    FEATURE(BW_CPU_AVX512F, "avx512f");
    FEATURE(BW_CPU_AVX512BW, "avx512bw");
    FEATURE(BW_CPU_AVX512VL, "avx512vl");
    FEATURE(BW_CPU_AVX512DQ, "avx512dq");
    FEATURE(BW_CPU_AVX512VNNI, "avx512vnni");
    FEATURE(BW_CPU_AVX512BF16, "avx512bf16");
#undef FEATURE
#endif
}

unsigned bw_cpu_features(void) { return cpu_features; }

int bw_cpu_has(unsigned needs) { return (cpu_features & needs) == needs; }

int bw_isa_supported(int isa)
{
#if defined(__x86_64__)
    static const unsigned needs[BW_NISA] = {
        [BW_SSE2] = BW_NEEDS_SSE2, [BW_AVX2] = BW_NEEDS_AVX2, [BW_AVX512] = BW_NEEDS_AVX512};
    return isa > BW_GENERIC && isa < BW_NISA && bw_cpu_has(needs[isa]);   /* generic: for other hosts only */
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

size_t bw_bytes(size_t count, size_t size)
{
    size_t bytes;
    if (count == 0 || size == 0 || __builtin_mul_overflow(count, size, &bytes))
        return 0;
    return bytes;
}

#define HUGE_PAGE ((size_t)2 << 20)

static long hugepage_refusals;

long bw_hugepage_refusals(void) { return __atomic_load_n(&hugepage_refusals, __ATOMIC_RELAXED); }

/* Large arrays are 2 MiB aligned and asked to use huge pages, so TLB misses
   do not cut DRAM bandwidth; small ones are page aligned. A refused advice
   (THP off, or no MADV_HUGEPAGE) still gives usable memory, so it is counted
   and reported rather than failing the run. */
void *bw_alloc(size_t bytes)
{
    size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : 4096;
    void *p = NULL;
    if (bytes == 0 || posix_memalign(&p, align, bytes) != 0)
        return NULL;
    if (align == HUGE_PAGE) {
#ifdef MADV_HUGEPAGE
        if (madvise(p, bytes, MADV_HUGEPAGE) != 0)
#endif
            __atomic_add_fetch(&hugepage_refusals, 1, __ATOMIC_RELAXED);
    }
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

static int plan[BW_MAX_THREADS], plan_len;

int bw_set_cpus(const int *cpus, int n)
{
    if (n < 0 || n > BW_MAX_THREADS)
        return BW_EARGS;
    for (int t = 0; t < n; t++)
        if (cpus[t] < 0 || cpus[t] >= CPU_SETSIZE)
            return BW_EARGS;
    memcpy(plan, cpus, sizeof(int) * n);
    plan_len = n;
    return BW_OK;
}

int bw_thread_limit(void) { return omp_get_thread_limit(); }

int bw_team_on(const int *cpus, int n, bw_team_fn fn, void *arg)
{
    int saved[BW_MAX_THREADS], saved_len = plan_len;
    memcpy(saved, plan, sizeof(int) * plan_len);
    int err = bw_set_cpus(cpus, n);
    if (err == BW_OK)
        err = bw_team(fn, arg, n);
    memcpy(plan, saved, sizeof(int) * saved_len);
    plan_len = saved_len;
    return err;
}

/* cpu[t] for t < threads: the plan, else the t-th CPU of the affinity mask. */
static int choose_cpus(const cpu_set_t *allowed, int threads, int *cpu)
{
    int t = 0;
    for (; t < threads && t < plan_len; t++)
        cpu[t] = plan[t];
    for (int c = 0, seen = 0; t < threads && c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, allowed) && seen++ >= plan_len)
            cpu[t++] = c;
    return t == threads ? BW_OK : BW_ETHREADS;
}

static int pin_to(int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof one, &one) == 0 ? BW_OK : BW_EAFFINITY;
}

int bw_team(bw_team_fn fn, void *arg, int threads)
{
    if (threads < 1 || threads > BW_MAX_THREADS)
        return BW_EARGS;
    cpu_set_t allowed;
    int cpu[BW_MAX_THREADS], ran = 0, failed = BW_OK;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return BW_EAFFINITY;
    if (CPU_COUNT(&allowed) < threads || choose_cpus(&allowed, threads, cpu))
        return BW_ETHREADS;
    omp_set_dynamic(0);
    #pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), err;
        #pragma omp single
        ran = omp_get_num_threads();
        if ((err = pin_to(cpu[t])) != BW_OK) {
            #pragma omp atomic write
            failed = err;
        }
        #pragma omp barrier
        if (ran == threads && failed == BW_OK)
            fn(arg, t, ran);
    }
    if (sched_setaffinity(0, sizeof allowed, &allowed) != 0 && failed == BW_OK)
        failed = BW_EAFFINITY;
    return ran != threads ? BW_ETHREADS : failed;
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

typedef struct {
    bw_body body;
    const void *ctx;
    int ntimes;
    long reps;
    double *samples;
    int *cpus;
    stamp *st;
} timing;

/* A sample: all threads leave a barrier, run reps repetitions, and the
   slowest one's end minus the earliest start is recorded. */
static void timed_samples(void *arg, int t, int threads)
{
    timing *k = arg;
    if (k->cpus)
        k->cpus[t] = sched_getcpu();
    for (int s = 0; s < k->ntimes; s++) {
        #pragma omp barrier
        k->st[t].start = bw_now();
        k->body(k->ctx, k->reps);
        k->st[t].end = bw_now();
        #pragma omp barrier
        #pragma omp single
        k->samples[s] = slowest_span(k->st, threads);
    }
}

static void run_once(void *arg, int t, int threads)
{
    const timing *k = arg;
    (void)t, (void)threads;
    k->body(k->ctx, 1);
}

int bw_run(bw_body body, const void *ctx, int threads)
{
    timing k = {.body = body, .ctx = ctx};
    return bw_team(run_once, &k, threads);
}

int bw_time(bw_body body, const void *ctx, int threads, int ntimes,
            double min_sample_s, double *samples, int *cpus, long *reps)
{
    if (threads < 1 || threads > BW_MAX_THREADS || ntimes < 1)
        return BW_EARGS;
    stamp *st = bw_alloc(sizeof(stamp) * threads);
    if (!st)
        return BW_ENOMEM;
    /* Calibrate: double the repetitions until one sample lasts long enough. */
    double once;
    timing k = {.body = body, .ctx = ctx, .ntimes = 1, .samples = &once, .st = st};
    int err;
    for (k.reps = 1;; k.reps *= 2) {
        if ((err = bw_team(timed_samples, &k, threads)) != BW_OK)
            break;
        if (once >= min_sample_s || k.reps >= (1L << 40))
            break;
    }
    if (err == BW_OK) {
        *reps = k.reps;
        k.ntimes = ntimes;
        k.samples = samples;
        k.cpus = cpus;
        err = bw_team(timed_samples, &k, threads);
    }
    bw_free(st);
    return err;
}

int bw_run_timed(bw_body body, const void *ctx, int threads, double *seconds)
{
    if (threads < 1 || threads > BW_MAX_THREADS)
        return BW_EARGS;
    stamp *st = bw_alloc(sizeof(stamp) * threads);
    if (!st)
        return BW_ENOMEM;
    timing k = {.body = body, .ctx = ctx, .ntimes = 1, .reps = 1, .samples = seconds, .st = st};
    int err = bw_team(timed_samples, &k, threads);
    bw_free(st);
    return err;
}
