/* twemproxy_hash.c - nutcracker 0.5.0's twelve key hash functions, written
 * from what its src/hashkit code computes on x86-64 (the build Debian ships
 * and most deployments run), not from the algorithms' textbook forms: the
 * proxy placed the data, so its arithmetic is the specification.
 *
 * The quirks that make these differ from the published functions:
 * - nutcracker passes keys as `const char *`, and one_at_a_time, fnv1_64,
 *   fnv1a_64, fnv1_32, fnv1a_32 and hsieh's 3-byte tail widen such a char
 *   straight to an unsigned integer: char is signed on x86, so a byte >= 0x80
 *   enters as 0xffffff80 and up (sx() below). crc32, crc32a, crc16, md5,
 *   murmur and jenkins read bytes as unsigned.
 * - fnv1a_64 runs in 32 bits: the 64-bit offset basis and prime truncated to
 *   0x84222325 and 0x1b3. fnv1_64 runs in 64 bits and keeps the low 32.
 * - crc32 is libmemcached's: the IEEE CRC-32 (reflected 0xedb88320), then
 *   bits 16..30 only, ((crc >> 16) & 0x7fff). crc32a is the plain CRC-32.
 * - crc16 is the CCITT/XMODEM CRC (0x1021, MSB first, init 0) that Redis
 *   Cluster uses, but run in a 32-bit register that is never cut to 16 bits:
 *   the bits shifted out above bit 15 stay, up to 32 of them, so for keys of
 *   two bytes or more the result is not a 16-bit CRC (its low half is).
 * - md5 is the digest's first four bytes, little-endian.
 * - murmur is MurmurHash2 with seed 0xdeadbeef * len; jenkins is lookup3's
 *   hashlittle() with initval 13 (its word-at-a-time paths equal the byte
 *   path on a little-endian machine, so one path serves).
 * - hsieh of an empty key is 0; every function hashes an empty key as its
 *   code does, but the pool never asks (server_pool_hash answers 0 first). */
#include "twemproxy.h"

#include <pthread.h>
#include <string.h>

static const char *const hash_names[RMIG_TWEM_NHASH] = {
    "one_at_a_time", "md5",     "crc16",    "crc32", "crc32a", "fnv1_64",
    "fnv1a_64",      "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins",
};
static const char *const dist_names[RMIG_TWEM_NDIST] = {"ketama", "modula", "random"};

const char *rmig_twem_hash_name(int h)
{
    return h >= 0 && h < RMIG_TWEM_NHASH ? hash_names[h] : NULL;
}

const char *rmig_twem_dist_name(int d)
{
    return d >= 0 && d < RMIG_TWEM_NDIST ? dist_names[d] : NULL;
}

static int find_name(const char *const *names, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && !memcmp(names[i], s, len))
            return i;
    return -1;
}

int rmig_twem_hash_find(const char *name, size_t len)
{
    return find_name(hash_names, RMIG_TWEM_NHASH, name, len);
}

int rmig_twem_dist_find(const char *name, size_t len)
{
    return find_name(dist_names, RMIG_TWEM_NDIST, name, len);
}

/* A byte as nutcracker's (uint32_t)(char) makes it on x86: sign-extended. */
static inline uint32_t sx(uint8_t b)
{
    return b < 0x80 ? b : (uint32_t)b | 0xffffff00u;
}

static inline uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static inline uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint32_t rol(uint32_t x, int k)
{
    return x << k | x >> (32 - k);
}

/* ---- MD5 (RFC 1321) ---- */

/* K[i] = floor(abs(sin(i + 1)) * 2^32) */
static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
/* the left rotation of each step: four per round, repeated four times */
static const uint8_t md5_s[16] = {7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21};

static void md5_block(uint32_t h[4], const uint8_t *blk)
{
    uint32_t w[16];
    for (int i = 0; i < 16; i++)
        w[i] = le32(blk + 4 * i);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        switch (i >> 4) {
        case 0: f = (b & c) | (~b & d), g = i; break;
        case 1: f = (d & b) | (~d & c), g = (5 * i + 1) & 15; break;
        case 2: f = b ^ c ^ d, g = (3 * i + 5) & 15; break;
        default: f = c ^ (b | ~d), g = (7 * i) & 15; break;
        }
        uint32_t t = d;
        d = c;
        c = b;
        b += rol(a + f + md5_k[i] + w[g], md5_s[(i >> 4) * 4 + (i & 3)]);
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

void rmig_twem_md5(const void *p, size_t n, uint8_t out[16])
{
    uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    const uint8_t *b = p;
    size_t left = n;
    for (; left >= 64; left -= 64, b += 64)
        md5_block(h, b);
    /* the tail, 0x80, zeros, and the length in bits: one block or two */
    uint8_t tail[128] = {0};
    if (left)
        memcpy(tail, b, left);
    tail[left] = 0x80;
    size_t tl = left < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++)
        tail[tl - 8 + i] = (uint8_t)(bits >> (8 * i));
    md5_block(h, tail);
    if (tl == 128)
        md5_block(h, tail + 64);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(h[i] >> (8 * j));
}

/* ---- CRC tables, derived from the polynomials at first use ---- */

static uint16_t crc16_tab[256]; /* CRC-16/XMODEM: 0x1021, MSB first */
static uint32_t crc32_tab[256]; /* CRC-32: reflected 0xedb88320 */
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c16 = i << 8, c32 = i;
        for (int k = 0; k < 8; k++) {
            c16 = c16 & 0x8000 ? (c16 << 1) ^ 0x1021 : c16 << 1;
            c32 = c32 & 1 ? (c32 >> 1) ^ 0xedb88320u : c32 >> 1;
        }
        crc16_tab[i] = (uint16_t)c16;
        crc32_tab[i] = c32;
    }
}

static uint32_t crc32_run(const uint8_t *k, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        crc = (crc >> 8) ^ crc32_tab[(crc ^ k[i]) & 0xff];
    return ~crc;
}

/* ---- the functions ---- */

static uint32_t one_at_a_time(const uint8_t *k, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v += sx(k[i]);
        v += v << 10;
        v ^= v >> 6;
    }
    v += v << 3;
    v ^= v >> 11;
    v += v << 15;
    return v;
}

static uint32_t md5_hash(const uint8_t *k, size_t n)
{
    uint8_t d[16];
    rmig_twem_md5(k, n, d);
    return le32(d);
}

static uint32_t crc16(const uint8_t *k, size_t n)
{
    uint32_t crc = 0; /* 32 bits, never masked to 16: see the top of the file */
    for (size_t i = 0; i < n; i++)
        crc = (crc << 8) ^ crc16_tab[((crc >> 8) ^ k[i]) & 0xff];
    return crc;
}

static uint32_t fnv1_64(const uint8_t *k, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h *= 0x100000001b3ULL;
        /* (uint64_t)(char): sign-extended to all 64 bits */
        h ^= k[i] < 0x80 ? k[i] : (uint64_t)k[i] | 0xffffffffffffff00ULL;
    }
    return (uint32_t)h;
}

static uint32_t fnv1a_64(const uint8_t *k, size_t n)
{
    uint32_t h = 0x84222325u; /* (uint32_t)0xcbf29ce484222325 */
    for (size_t i = 0; i < n; i++) {
        h ^= sx(k[i]);
        h *= 0x1b3u; /* (uint32_t)0x100000001b3 */
    }
    return h;
}

static uint32_t fnv1_32(const uint8_t *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h *= 16777619u;
        h ^= sx(k[i]);
    }
    return h;
}

static uint32_t fnv1a_32(const uint8_t *k, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= sx(k[i]);
        h *= 16777619u;
    }
    return h;
}

static uint32_t hsieh(const uint8_t *k, size_t n)
{
    if (n == 0)
        return 0;
    uint32_t h = 0;
    size_t rem = n & 3;
    for (n >>= 2; n > 0; n--, k += 4) {
        h += le16(k);
        uint32_t t = (le16(k + 2) << 11) ^ h;
        h = (h << 16) ^ t;
        h += h >> 11;
    }
    switch (rem) {
    case 3:
        h += le16(k);
        h ^= h << 16;
        h ^= sx(k[2]) << 18; /* the one signed read: key[2] as char */
        h += h >> 11;
        break;
    case 2:
        h += le16(k);
        h ^= h << 11;
        h += h >> 17;
        break;
    case 1:
        h += k[0];
        h ^= h << 10;
        h += h >> 1;
        break;
    }
    h ^= h << 3;
    h += h >> 5;
    h ^= h << 4;
    h += h >> 17;
    h ^= h << 25;
    h += h >> 6;
    return h;
}

static uint32_t murmur(const uint8_t *k, size_t n)
{
    const uint32_t m = 0x5bd1e995;
    uint32_t h = (0xdeadbeefu * (uint32_t)n) ^ (uint32_t)n;
    for (; n >= 4; n -= 4, k += 4) {
        uint32_t x = le32(k);
        x *= m;
        x ^= x >> 24;
        x *= m;
        h *= m;
        h ^= x;
    }
    switch (n) {
    case 3: h ^= (uint32_t)k[2] << 16; /* fall through */
    case 2: h ^= (uint32_t)k[1] << 8;  /* fall through */
    case 1:
        h ^= k[0];
        h *= m;
        break;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

static uint32_t jenkins(const uint8_t *k, size_t n)
{
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)n + 13;
    for (; n > 12; n -= 12, k += 12) {
        a += le32(k);
        b += le32(k + 4);
        c += le32(k + 8);
        a -= c, a ^= rol(c, 4), c += b;
        b -= a, b ^= rol(a, 6), a += c;
        c -= b, c ^= rol(b, 8), b += a;
        a -= c, a ^= rol(c, 16), c += b;
        b -= a, b ^= rol(a, 19), a += c;
        c -= b, c ^= rol(b, 4), b += a;
    }
    if (n == 0)
        return c; /* an empty key, or none left over: no final mix */
    /* the last 1..12 bytes as three little-endian words, zero-padded */
    uint8_t t[12] = {0};
    memcpy(t, k, n);
    a += le32(t);
    b += le32(t + 4);
    c += le32(t + 8);
    c ^= b, c -= rol(b, 14);
    a ^= c, a -= rol(c, 11);
    b ^= a, b -= rol(a, 25);
    c ^= b, c -= rol(b, 16);
    a ^= c, a -= rol(c, 4);
    b ^= a, b -= rol(a, 14);
    c ^= b, c -= rol(b, 24);
    return c;
}

uint32_t rmig_twem_hash_key(rmig_twem_hash h, const void *key, size_t len)
{
    const uint8_t *k = key;
    switch (h) {
    case RMIG_TWEM_ONE_AT_A_TIME: return one_at_a_time(k, len);
    case RMIG_TWEM_MD5: return md5_hash(k, len);
    case RMIG_TWEM_CRC16: pthread_once(&crc_once, crc_init); return crc16(k, len);
    case RMIG_TWEM_CRC32: pthread_once(&crc_once, crc_init); return (crc32_run(k, len) >> 16) & 0x7fff;
    case RMIG_TWEM_CRC32A: pthread_once(&crc_once, crc_init); return crc32_run(k, len);
    case RMIG_TWEM_FNV1_64: return fnv1_64(k, len);
    case RMIG_TWEM_FNV1A_64: return fnv1a_64(k, len);
    case RMIG_TWEM_FNV1_32: return fnv1_32(k, len);
    case RMIG_TWEM_FNV1A_32: return fnv1a_32(k, len);
    case RMIG_TWEM_HSIEH: return hsieh(k, len);
    case RMIG_TWEM_MURMUR: return murmur(k, len);
    case RMIG_TWEM_JENKINS: return jenkins(k, len);
    case RMIG_TWEM_NHASH: break;
    }
    return 0;
}
