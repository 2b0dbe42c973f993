/* test_blob.c - listpack, ziplist, intset and zipmap walks, valid and broken. */
#include "rdb_blob.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>

static int walk(int kind, const uint8_t *b, size_t n, char *out, size_t cap)
{
    rmig_blob_it it;
    rmig_blob_val v;
    size_t o = 0;
    if (rmig_blob_init(&it, kind, b, n) < 0)
        return -1;
    int r;
    while ((r = rmig_blob_next(&it, &v)) == 1) {
        o += (size_t)snprintf(out + o, cap - o, "%.*s|", (int)v.len, (const char *)v.s);
    }
    out[o] = 0;
    return r;
}

int main(void)
{
    char out[512];
    /* listpack: "ab", 7, -1 (13-bit), 300 (int16), 12-bit string of 1 byte */
    const uint8_t lp[] = {24, 0, 0, 0, 5, 0,
                          0x82, 'a', 'b', 3,
                          7, 1,
                          0xDF, 0xFF, 2,
                          0xF1, 0x2C, 0x01, 3,
                          0xE0, 0x01, 'z', 3,
                          0xFF};
    CHECK("a listpack with every small encoding walks", walk(1, lp, sizeof lp, out, sizeof out) == 0 &&
                                                           !strcmp(out, "ab|7|-1|300|z|"),
          "got %s", out);
    uint8_t bad[sizeof lp];
    memcpy(bad, lp, sizeof lp);
    bad[0] = 30;
    CHECK("a listpack whose total size lies is refused", walk(1, bad, sizeof bad, out, sizeof out) == -1,
          "accepted");
    memcpy(bad, lp, sizeof lp);
    bad[6] = 0xBF; /* 63-byte string in a 23-byte blob */
    CHECK("a listpack entry running past the end is refused", walk(1, bad, sizeof bad, out, sizeof out) == -1,
          "accepted");
    /* ziplist: "hi", int24 -2, immediate 5, int8 -100 */
    const uint8_t zl[] = {25, 0, 0, 0, 21, 0, 0, 0, 4, 0,
                          0, 0x02, 'h', 'i',
                          4, 0xF0, 0xFE, 0xFF, 0xFF,
                          5, 0xF6,
                          2, 0xFE, 0x9C,
                          0xFF};
    CHECK("a ziplist with int24, immediates and int8 walks",
          walk(2, zl, sizeof zl, out, sizeof out) == 0 && !strcmp(out, "hi|-2|5|-100|"), "got %s", out);
    /* intset of int16: 1, -2 */
    const uint8_t is[] = {2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0xFE, 0xFF};
    CHECK("an int16 intset walks", walk(3, is, sizeof is, out, sizeof out) == 0 && !strcmp(out, "1|-2|"),
          "got %s", out);
    CHECK("an intset whose size does not match its count is refused",
          walk(3, is, sizeof is - 1, out, sizeof out) == -1, "accepted");
    /* zipmap: a=>bc with one free byte */
    const uint8_t zm[] = {1, 1, 'a', 2, 1, 'b', 'c', 0, 0xFF};
    CHECK("a zipmap with free bytes walks", walk(4, zm, sizeof zm, out, sizeof out) == 0 &&
                                                !strcmp(out, "a|bc|"),
          "got %s", out);
    const uint8_t zm2[] = {1, 1, 'a', 2, 9, 'b', 'c', 0, 0xFF};
    CHECK("a zipmap whose free count runs past the end is refused",
          walk(4, zm2, sizeof zm2, out, sizeof out) == -1, "accepted");
    /* an entry of exactly 16383 bytes (5-byte header + 16378) has a 3-byte back-length,
       as Redis writes it; 16382 bytes a 2-byte one */
    static uint8_t big[6 + 16383 + 3 + 16382 + 2 + 1];
    size_t o = 6;
    big[o++] = 0xF0;
    big[o++] = 16378 & 0xFF;
    big[o++] = 16378 >> 8;
    o += 2;
    memset(big + o, 'x', 16378);
    o += 16378 + 3;
    big[o++] = 0xF0;
    big[o++] = 16377 & 0xFF;
    big[o++] = 16377 >> 8;
    o += 2;
    memset(big + o, 'y', 16377);
    o += 16377 + 2;
    big[o++] = 0xFF;
    big[0] = (uint8_t)o;
    big[1] = (uint8_t)(o >> 8);
    big[4] = 2;
    rmig_blob_it it;
    rmig_blob_val bv;
    int ok = rmig_blob_init(&it, RMIG_BLOB_LISTPACK, big, o) == 0 && rmig_blob_next(&it, &bv) == 1 &&
             bv.len == 16378 && rmig_blob_next(&it, &bv) == 1 && bv.len == 16377 &&
             rmig_blob_next(&it, &bv) == 0;
    CHECK("listpack back-lengths switch size where Redis' do (16383 bytes take 3)", ok, "walk failed");
    rmig_blob_val v = {(const uint8_t *)"-9223372036854775808", 20, 0, 0};
    int64_t x;
    CHECK("the smallest int64 parses", rmig_blob_int(&v, &x) == 0 && x == INT64_MIN, "no");
    v.s = (const uint8_t *)"007";
    v.len = 3;
    CHECK("a number with a leading zero is not an integer", rmig_blob_int(&v, &x) == -1, "accepted");
    return rmig_t_done();
}
