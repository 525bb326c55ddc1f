/* Is the read-only DRAM ceiling the fastest read? bwbench's load kernel reads
   each thread's share as four runs in lockstep with no software prefetch; the
   q8_0 and q4_0 GEMVs prefetch 1 KiB ahead. This reads 128 MiB the load
   kernel's way, with and without that prefetch, alternating, best of 5 each,
   12 rounds, 2 threads (the ratio says how far the ceiling sits below what a
   prefetching kernel reads).
     gcc -O2 -fopenmp scripts/load_prefetch_check.c -o /tmp/load_prefetch && /tmp/load_prefetch */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define BYTES (128u << 20)

static float sink;

__attribute__((target("avx2"))) static double read_gbps(const char *buf, int prefetch)
{
    double start = omp_get_wtime();
    #pragma omp parallel num_threads(2)
    {
        size_t share = BYTES / 2, lo = omp_get_thread_num() * share, part = share / 4;
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (size_t i = 0; i < part; i += 64)
            for (int s = 0; s < 4; s++) {
                const char *p = buf + lo + s * part + i;
                if (prefetch)
                    _mm_prefetch(p + 1024, _MM_HINT_T0);
                acc[s] = _mm256_add_ps(acc[s], _mm256_add_ps(_mm256_load_ps((const float *)p),
                                                             _mm256_load_ps((const float *)(p + 32))));
            }
        float lanes[8];
        _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
        #pragma omp atomic
        sink += lanes[0];
    }
    return BYTES / (omp_get_wtime() - start) / 1e9;
}

int main(void)
{
    char *buf = aligned_alloc(64, BYTES);
    if (!buf)
        return 1;
    for (size_t i = 0; i < BYTES; i++)
        buf[i] = (char)i;
    for (int round = 0; round < 12; round++) {
        double best[2] = {0, 0};
        for (int k = 0; k < 5; k++)
            for (int prefetch = 0; prefetch < 2; prefetch++) {
                double gbps = read_gbps(buf, prefetch);
                best[prefetch] = gbps > best[prefetch] ? gbps : best[prefetch];
            }
        printf("round %2d: load %.1f  load + prefetch 1 KiB %.1f GB/s  ratio %.2f\n", round, best[0], best[1],
               best[1] / best[0]);
    }
    free(buf);
    return sink == 12345.0f;   /* keeps the sums */
}
