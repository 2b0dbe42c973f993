/* test_crc64.c - CRC-64/Jones against known values, whole and chained. */
#include "crc64.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    CHECK("crc64 of \"123456789\" is the catalogue check value",
          rmig_crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9caULL, "got %016llx",
          (unsigned long long)rmig_crc64(0, "123456789", 9));
    CHECK("crc64 of nothing is 0", rmig_crc64(0, "", 0) == 0, "not 0");
    /* chaining over every split of an unaligned buffer gives the same value */
    uint8_t buf[1000];
    uint64_t seed = rmig_t_seed(), st = seed;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rmig_t_rand(&st);
    uint64_t whole = rmig_crc64(0, buf + 3, sizeof buf - 3);
    int same = 1;
    for (size_t cut = 0; cut <= sizeof buf - 3; cut += 7) {
        uint64_t c = rmig_crc64(0, buf + 3, cut);
        c = rmig_crc64(c, buf + 3 + cut, sizeof buf - 3 - cut);
        same &= c == whole;
    }
    CHECK("crc64 chained over any split equals the whole", same, "differs");
    /* byte at a time equals the sliced path */
    uint64_t c = 0;
    for (size_t i = 3; i < sizeof buf; i++)
        c = rmig_crc64(c, buf + i, 1);
    CHECK("crc64 byte by byte equals eight at a time", c == whole, "differs");
    /* long buffers take the four-stream path: compare with byte-at-a-time */
    static uint8_t lbuf[200003];
    for (size_t i = 0; i < sizeof lbuf; i++)
        lbuf[i] = (uint8_t)rmig_t_rand(&st);
    int agree = 1;
    for (size_t n = 4090; n < sizeof lbuf; n = n * 3 + 17) {
        uint64_t slow = 0;
        for (size_t i = 0; i < n; i++)
            slow = rmig_crc64(slow, lbuf + 1 + i, 1);
        uint64_t fast = rmig_crc64(0x1234, lbuf + 1, n);
        uint64_t slow2 = 0x1234;
        for (size_t i = 0; i < n; i++)
            slow2 = rmig_crc64(slow2, lbuf + 1 + i, 1);
        agree &= rmig_crc64(0, lbuf + 1, n) == slow && fast == slow2;
    }
    CHECK("crc64 over long buffers (four streams joined) equals byte by byte", agree, "differs");
    return rmig_t_done();
}
