/* fuzz_lzf.c - libFuzzer target for the LZF decoder.
 *
 * The first two bytes of an input give the output size the decoder is told
 * to expect (as an RDB string's "uncompressed length" would); the rest is the
 * compressed stream. The decoder must stay inside both buffers and, when it
 * says yes, must have written exactly that many bytes (checked by poisoning
 * the output buffer's tail with a canary). */
#include "lzf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t out_len = (size_t)data[0] | (size_t)data[1] << 8;
    uint8_t *out = malloc(out_len + 16);
    memset(out + out_len, 0xA5, 16);
    int r = rmig_lzf_decompress(data + 2, size - 2, out, out_len);
    for (int i = 0; i < 16; i++) {
        if (out[out_len + i] != 0xA5) {
            fprintf(stderr, "fuzz_lzf: wrote past the output (result %d)\n", r);
            abort();
        }
    }
    free(out);
    return 0;
}
