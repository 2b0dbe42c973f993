/* crc64.c - table-driven CRC-64/Jones, eight bytes per step ("slicing by
 * 8"), over four independent streams at once.
 *
 * The RDB checksum covers the whole file, so on a string-heavy dump it runs
 * over every byte the parser sees; one table lookup per byte would cost more
 * than the parse itself. Slicing by 8 makes each step eight lookups, but the
 * steps of one stream depend on each other, so a single stream is bound by
 * load latency. Long buffers are therefore cut in four parts whose CRCs are
 * computed in the same loop (four independent chains the CPU overlaps) and
 * then joined: with initial value 0 and no final xor the CRC is linear, so
 * crc(A || B) = crc(A) * x^(8 * |B|) mod P  xor  crc(B), and the
 * multiplication by x^(8n) is a few carry-less products in software.
 *
 * Where the CPU has a carry-less multiply instruction (x86-64 PCLMULQDQ),
 * long buffers are instead folded 64 bytes at a time into four 128-bit
 * accumulators: A * x^512 mod P is computed as two 64x64 carry-less products
 * with constants x^(512+63) and x^(512-1) mod P (one less than the shift,
 * because the product of two bit-reflected operands comes out one bit
 * short). The last 128-bit remainder is congruent to the message, so its
 * CRC, taken with the table over its 16 bytes, is the message's CRC.
 * All tables and constants are derived from the polynomial at first use. */
#include "crc64.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_CLMUL_PATH 1
#endif

#define POLY_REFLECTED 0x95ac9329ac4bc9b5ULL /* 0xad93d23594c935a9 bit-reversed */
#define STREAMS 4
#define SPLIT_MIN 4096 /* shorter buffers go through one stream */

static uint64_t table[8][256];
static uint64_t x2n[64]; /* x^(2^k) mod P, reflected */
static uint64_t k_fold512[2], k_fold128[2]; /* folding constants, see above */
static int use_clmul;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* a * b mod P, both reflected (bit 63 is the coefficient of x^0) */
static uint64_t mulmod(uint64_t a, uint64_t b)
{
    uint64_t p = 0;
    for (uint64_t m = 1ULL << 63; m; m >>= 1) {
        if (a & m)
            p ^= b;
        b = (b & 1) ? (b >> 1) ^ POLY_REFLECTED : b >> 1;
    }
    return p;
}

/* x^n mod P */
static uint64_t xpow(uint64_t n)
{
    uint64_t p = 1ULL << 63; /* x^0 */
    for (int k = 0; n; n >>= 1, k++)
        if (n & 1)
            p = mulmod(x2n[k & 63], p);
    return p;
}

static uint64_t xpow8n(uint64_t n) { return xpow(8 * n); }

static void build_tables(void)
{
    for (int n = 0; n < 256; n++) {
        uint64_t c = (uint64_t)n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY_REFLECTED : c >> 1;
        table[0][n] = c;
    }
    for (int n = 0; n < 256; n++) {
        uint64_t c = table[0][n];
        for (int k = 1; k < 8; k++) {
            c = table[0][c & 0xff] ^ (c >> 8);
            table[k][n] = c;
        }
    }
    uint64_t p = 1ULL << 62; /* x^1 */
    x2n[0] = p;
    for (int k = 1; k < 64; k++)
        x2n[k] = p = mulmod(p, p);
    k_fold512[0] = xpow(512 + 63);
    k_fold512[1] = xpow(512 - 1);
    k_fold128[0] = xpow(128 + 63);
    k_fold128[1] = xpow(128 - 1);
#ifdef HAVE_CLMUL_PATH
    __builtin_cpu_init();
    use_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse2");
#endif
    /* lets the tests run the portable path on machines that have the instruction */
    if (getenv("RMIG_CRC64_PORTABLE"))
        use_clmul = 0;
}

static inline uint64_t step8(uint64_t crc, const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    crc ^= w;
    return table[7][crc & 0xff] ^ table[6][(crc >> 8) & 0xff] ^ table[5][(crc >> 16) & 0xff] ^
           table[4][(crc >> 24) & 0xff] ^ table[3][(crc >> 32) & 0xff] ^
           table[2][(crc >> 40) & 0xff] ^ table[1][(crc >> 48) & 0xff] ^ table[0][crc >> 56];
}

static uint64_t crc_one(uint64_t crc, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        crc = step8(crc, p);
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#ifdef HAVE_CLMUL_PATH
__attribute__((target("pclmul,sse2"))) static inline __m128i fold(__m128i a, __m128i k, __m128i b)
{
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(a, k, 0x00), _mm_clmulepi64_si128(a, k, 0x11)), b);
}

/* len >= 64: folds whole 64-byte blocks, then the rest with the table */
__attribute__((target("pclmul,sse2"))) static uint64_t crc_clmul(uint64_t crc, const uint8_t *p, size_t len)
{
    __m128i k512 = _mm_loadu_si128((const __m128i *)k_fold512);
    __m128i k128 = _mm_loadu_si128((const __m128i *)k_fold128);
    __m128i a0 = _mm_loadu_si128((const __m128i *)p);
    __m128i a1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i a2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i a3 = _mm_loadu_si128((const __m128i *)(p + 48));
    a0 = _mm_xor_si128(a0, _mm_set_epi64x(0, (long long)crc)); /* the running CRC enters as the table does */
    size_t off = 64;
    for (; off + 64 <= len; off += 64) {
        a0 = fold(a0, k512, _mm_loadu_si128((const __m128i *)(p + off)));
        a1 = fold(a1, k512, _mm_loadu_si128((const __m128i *)(p + off + 16)));
        a2 = fold(a2, k512, _mm_loadu_si128((const __m128i *)(p + off + 32)));
        a3 = fold(a3, k512, _mm_loadu_si128((const __m128i *)(p + off + 48)));
    }
    __m128i a = fold(fold(fold(a0, k128, a1), k128, a2), k128, a3);
    uint8_t rem[16];
    _mm_storeu_si128((__m128i *)rem, a);
    return crc_one(crc_one(0, rem, 16), p + off, len - off);
}
#endif

uint64_t rmig_crc64(uint64_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;

    pthread_once(&table_once, build_tables);
#ifdef HAVE_CLMUL_PATH
    if (use_clmul && len >= 256)
        return crc_clmul(crc, p, len);
#endif
    if (len < SPLIT_MIN)
        return crc_one(crc, p, len);
    /* STREAMS parts of part bytes (a multiple of 8), the rest after them */
    size_t part = (len / STREAMS) & ~(size_t)7;
    uint64_t c[STREAMS] = {crc, 0, 0, 0};
    for (size_t off = 0; off < part; off += 8) {
        c[0] = step8(c[0], p + off);
        c[1] = step8(c[1], p + part + off);
        c[2] = step8(c[2], p + 2 * part + off);
        c[3] = step8(c[3], p + 3 * part + off);
    }
    uint64_t shift = xpow8n(part);
    crc = c[0];
    for (int i = 1; i < STREAMS; i++)
        crc = mulmod(shift, crc) ^ c[i];
    return crc_one(crc, p + STREAMS * part, len - STREAMS * part);
}
