/* A q4_K group block's scales for its 8 rows, one row a lane (AVX2 integer
   ops, so both the AVX2 and the AVX-512 GEMV include this in their target's
   region): the block leads with each row's fp16 d and dmin (4 bytes a row),
   then chunks 0-2 (32 bytes each: 4 bytes of 8 rows) hold the rows' 12 bytes
   of packed 6-bit scales and mins, read as ggml's get_scale_min_k4 reads them. */

/* The rows' d and dmin as float32. */
static inline __attribute__((always_inline)) void q4_K_d_dmin(const char *g, __m256 *d, __m256 *dmin)
{
    const __m256i w = _mm256_loadu_si256((const __m256i *)g);
    /* per 128-bit half: 4 rows' d, then their dmin; the 64-bit runs reordered d, d, dmin, dmin */
    const __m256i halves = _mm256_permute4x64_epi64(
        _mm256_packus_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0xffff)), _mm256_srli_epi32(w, 16)),
        _MM_SHUFFLE(3, 1, 2, 0));
    *d = _mm256_cvtph_ps(_mm256_castsi256_si128(halves));
    *dmin = _mm256_cvtph_ps(_mm256_extracti128_si256(halves, 1));
}

/* Sub-block j's scale and min of the rows: bytes j (scale) and j + 4 (min)
   of the 12, 6 bits each, for j < 4; else the low (scale) or high (min)
   nibble of byte j + 4, with the top two bits of byte j - 4 (scale) or j (min). */
static inline __attribute__((always_inline)) void q4_K_scale_min(const char *chunks, int j, __m256 *sc, __m256 *m)
{
    const __m256i a = _mm256_loadu_si256((const __m256i *)chunks);   /* bytes 0-3 of each row */
    const __m256i b = _mm256_loadu_si256((const __m256i *)(chunks + 32));   /* 4-7 */
    const __m256i c = _mm256_loadu_si256((const __m256i *)(chunks + 64));   /* 8-11 */
    const __m256i six = _mm256_set1_epi32(63), four = _mm256_set1_epi32(15), two = _mm256_set1_epi32(3);
    __m256i s, n;
    if (j < 4) {
        s = _mm256_and_si256(_mm256_srli_epi32(a, 8 * j), six);
        n = _mm256_and_si256(_mm256_srli_epi32(b, 8 * j), six);
    } else {
        const int i = 8 * (j - 4);
        s = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(c, i), four),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(a, i + 6), two), 4));
        n = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(c, i + 4), four),
                            _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(b, i + 6), two), 4));
    }
    *sc = _mm256_cvtepi32_ps(s);
    *m = _mm256_cvtepi32_ps(n);
}
