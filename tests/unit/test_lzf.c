/* test_lzf.c - LZF decoding of hand-made streams, and its refusals. */
#include "lzf.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    uint8_t out[64];
    /* literal "abc", then a back-reference of length 6 at distance 3: "abcabcabc" */
    const uint8_t s1[] = {0x02, 'a', 'b', 'c', (4 << 5) | 0, 2};
    CHECK("a literal run and an overlapping back-reference decode",
          rmig_lzf_decompress(s1, sizeof s1, out, 9) == 0 && !memcmp(out, "abcabcabc", 9),
          "wrong output");
    CHECK("a stream that decodes to fewer bytes than announced is refused",
          rmig_lzf_decompress(s1, sizeof s1, out, 10) == -1, "accepted");
    CHECK("a stream that decodes to more bytes than room is refused",
          rmig_lzf_decompress(s1, sizeof s1, out, 8) == -1, "accepted");
    const uint8_t s2[] = {0x00, 'a', (1 << 5) | 0, 5};
    CHECK("a back-reference before the start is refused",
          rmig_lzf_decompress(s2, sizeof s2, out, 4) == -1, "accepted");
    const uint8_t s3[] = {0x05, 'a', 'b'};
    CHECK("a literal run past the input is refused", rmig_lzf_decompress(s3, sizeof s3, out, 6) == -1,
          "accepted");
    /* the long form: length 7 + extra byte */
    const uint8_t s4[] = {0x00, 'x', (7 << 5) | 0, 3, 0};
    uint8_t big[16];
    CHECK("a long back-reference (length byte) repeats a run",
          rmig_lzf_decompress(s4, sizeof s4, big, 13) == 0 && !memcmp(big, "xxxxxxxxxxxxx", 13),
          "wrong output");
    const uint8_t s5[] = {0x00, 'x', (7 << 5) | 0};
    CHECK("a truncated long back-reference is refused", rmig_lzf_decompress(s5, sizeof s5, big, 13) == -1,
          "accepted");
    return rmig_t_done();
}
