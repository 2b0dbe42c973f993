/* fuzz_lzf.c - libFuzzer target for the LZF decoders.
 *
 * The first two bytes of an input give the output size the decoder is told
 * to expect (as an RDB string's "uncompressed length" would); the rest is the
 * compressed stream. The one-shot decoder must stay inside both buffers and,
 * when it says yes, must have written exactly that many bytes (checked by
 * poisoning the output buffer's tail with a canary).
 *
 * The streaming decoder then decodes the same stream three times: whole,
 * one byte in and one byte out at a time, and in input and output slices
 * whose sizes are drawn from a hash of the input (so the fuzzer picks the
 * cuts by what it writes). Each time it must agree with the one-shot decoder
 * (accepted or refused, and the same bytes), never consume or produce more
 * than a slice, stop only at the end of a slice, and never write past out. */
#include "lzf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, int r)
{
    fprintf(stderr, "fuzz_lzf: %s (one-shot result %d)\n", what, r);
    abort();
}

static uint64_t next_rand(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* slice sizes: 0 whole, 1 a byte, else 0..max-1 drawn from *rng */
static size_t cut(size_t left, size_t max, uint64_t *rng)
{
    size_t n = max == 0 ? left : max == 1 ? 1 : (size_t)(next_rand(rng) % max);
    return n < left ? n : left;
}

/* Decodes through slices into out (out_len bytes + canary); 0 or -1. */
static int stream(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len, size_t in_max,
                  size_t out_max, uint64_t rng, int want)
{
    static rmig_lzf_stream s;
    rmig_lzf_stream_init(&s, out_len);
    size_t ip = 0, op = 0, rounds = 0;
    for (;;) {
        size_t il = cut(in_len - ip, in_max, &rng), ol = cut(out_len - op, out_max, &rng), used, made;
        int r = rmig_lzf_stream_run(&s, in + ip, il, &used, out + op, ol, &made);
        if (used > il || made > ol)
            die("the streaming decoder went past a slice", want);
        if (r < 0) {
            if (!*rmig_lzf_stream_error(&s))
                die("the streaming decoder refused without saying why", want);
            return -1;
        }
        if (used < il && made < ol)
            die("the streaming decoder stopped inside both slices", want);
        ip += used;
        op += made;
        if (ip == in_len && (made < ol || op == out_len))
            break;
        if (++rounds > 4 * (in_len + out_len) + 1000)
            die("the streaming decoder makes no progress", want);
    }
    return rmig_lzf_stream_end(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t out_len = (size_t)data[0] | (size_t)data[1] << 8;
    const uint8_t *in = data + 2;
    size_t in_len = size - 2;
    uint8_t *out = malloc(out_len + 16), *out2 = malloc(out_len + 16);
    memset(out + out_len, 0xA5, 16);
    int r = rmig_lzf_decompress(in, in_len, out, out_len);
    for (int i = 0; i < 16; i++)
        if (out[out_len + i] != 0xA5)
            die("wrote past the output", r);

    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ULL;
    size_t ways[3][2] = {{0, 0}, {1, 1}, {2 + h % 61, 2 + (h >> 8) % 301}};
    for (int w = 0; w < 3; w++) {
        memset(out2 + out_len, 0xA5, 16);
        int s = stream(in, in_len, out2, out_len, ways[w][0], ways[w][1], h >> 16, r);
        for (int i = 0; i < 16; i++)
            if (out2[out_len + i] != 0xA5)
                die("the streaming decoder wrote past the output", r);
        if (s != r)
            die(s ? "the streaming decoder refused what the one-shot accepted"
                  : "the streaming decoder accepted what the one-shot refused",
                r);
        if (r == 0 && memcmp(out, out2, out_len))
            die("the decoders produced different bytes", r);
    }
    free(out);
    free(out2);
    return 0;
}
