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
 * All tables are derived from the polynomial at first use. */
#include "crc64.h"

#include <pthread.h>
#include <string.h>

#define POLY_REFLECTED 0x95ac9329ac4bc9b5ULL /* 0xad93d23594c935a9 bit-reversed */
#define STREAMS 4
#define SPLIT_MIN 4096 /* shorter buffers go through one stream */

static uint64_t table[8][256];
static uint64_t x2n[64]; /* x^(2^k) mod P, reflected */
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

/* x^(8 n) mod P */
static uint64_t xpow8n(uint64_t n)
{
    uint64_t p = 1ULL << 63; /* x^0 */
    for (int k = 3; n; n >>= 1, k++)
        if (n & 1)
            p = mulmod(x2n[k & 63], p);
    return p;
}

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

uint64_t rmig_crc64(uint64_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;

    pthread_once(&table_once, build_tables);
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
