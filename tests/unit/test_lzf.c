/* test_lzf.c - LZF decoding of hand-made streams, and its refusals; and the
 * streaming decoder held against the one-shot one: on valid, crafted and
 * broken inputs, cut into input and output slices every way (every single
 * cut point, one byte at a time, random sizes), both must accept and refuse
 * the same inputs and produce the same bytes. */
#include "lzf.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a small greedy LZF compressor, to have valid streams of any size ---- */

static size_t put_literals(const uint8_t *s, size_t n, uint8_t *out)
{
    size_t o = 0;
    while (n) {
        size_t k = n < 32 ? n : 32;
        out[o++] = (uint8_t)(k - 1);
        memcpy(out + o, s, k);
        o += k;
        s += k;
        n -= k;
    }
    return o;
}

/* out needs room for n + n / 32 + 1 bytes */
static size_t compress(const uint8_t *in, size_t n, uint8_t *out)
{
    enum { HBITS = 12 };
    static size_t head[1 << HBITS];
    size_t ip = 0, op = 0, lit = 0;
    memset(head, 0xff, sizeof head);
    while (ip + 3 <= n) {
        unsigned h = ((unsigned)in[ip] << 16 | (unsigned)in[ip + 1] << 8 | in[ip + 2]) * 2654435761u >> (32 - HBITS);
        size_t ref = head[h];
        head[h] = ip;
        if (ref == (size_t)-1 || ip - ref > RMIG_LZF_WINDOW || memcmp(in + ref, in + ip, 3)) {
            ip++;
            continue;
        }
        size_t len = 3, max = n - ip < 264 ? n - ip : 264;
        while (len < max && in[ref + len] == in[ip + len])
            len++;
        op += put_literals(in + lit, ip - lit, out + op);
        size_t l = len - 2, d = ip - ref - 1;
        if (l < 7) {
            out[op++] = (uint8_t)(l << 5 | d >> 8);
        } else {
            out[op++] = (uint8_t)(7 << 5 | d >> 8);
            out[op++] = (uint8_t)(l - 7);
        }
        out[op++] = (uint8_t)d;
        ip += len;
        lit = ip;
    }
    return op + put_literals(in + lit, n - lit, out + op);
}

/* Compressible bytes: runs, repeats from up to 9000 bytes back, noise. */
static void gen(uint8_t *b, size_t n, uint64_t *rng)
{
    size_t i = 0;
    while (i < n) {
        uint64_t r = rmig_t_rand(rng);
        size_t k = 1 + (size_t)(r >> 8) % 300;
        if (k > n - i)
            k = n - i;
        switch (r % 4) {
        case 0:
            memset(b + i, (int)(r >> 40), k);
            break;
        case 1:
            if (i) {
                size_t d = 1 + (size_t)(r >> 24) % (i < 9000 ? i : 9000);
                for (size_t j = 0; j < k; j++)
                    b[i + j] = b[i + j - d];
                break;
            }
            /* fall through */
        default:
            for (size_t j = 0; j < k; j++)
                b[i + j] = (uint8_t)(rmig_t_rand(rng) % (r % 4 == 2 ? 4 : 256));
        }
        i += k;
    }
}

/* ---- the streaming decoder, driven through slices ---- */

/* How a side is cut: whole, one byte at a time, at one point, or random sizes. */
enum { CUT_WHOLE, CUT_BYTE, CUT_AT, CUT_RANDOM };
typedef struct cutter {
    int how;
    size_t at, done;
    uint64_t *rng;
} cutter;

static size_t slice(cutter *c, size_t left)
{
    size_t n = left;
    switch (c->how) {
    case CUT_BYTE: n = 1; break;
    case CUT_AT: n = c->done < c->at ? c->at - c->done : left; break;
    case CUT_RANDOM: n = (size_t)(rmig_t_rand(c->rng) % 70); break; /* 0 too */
    }
    n = n < left ? n : left;
    c->done += n;
    return n;
}

static int contract_broken;

/* Decodes in[] into out[out_len] through slices; 0 accepted, -1 refused. */
static int stream(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len, cutter ic, cutter oc,
                  const char **why)
{
    static rmig_lzf_stream s;
    rmig_lzf_stream_init(&s, out_len);
    size_t ip = 0, op = 0, rounds = 0;
    *why = "";
    for (;;) {
        size_t il = slice(&ic, in_len - ip), ol = slice(&oc, out_len - op), used, made;
        int r = rmig_lzf_stream_run(&s, in + ip, il, &used, out + op, ol, &made);
        if (used > il || made > ol)
            contract_broken = 1;
        if (r < 0) {
            *why = rmig_lzf_stream_error(&s);
            return -1;
        }
        /* it stops only when the input slice is used up or the output slice full */
        if (used < il && made < ol)
            contract_broken = 1;
        ip += used;
        op += made;
        if (ip == in_len && (made < ol || op == out_len))
            break;
        if (++rounds > 10 * (in_len + out_len) + 1000) {
            contract_broken = 1;
            return -1;
        }
    }
    int r = rmig_lzf_stream_end(&s);
    *why = rmig_lzf_stream_error(&s);
    if (r == 0 && (op != out_len || s.out_done != out_len))
        contract_broken = 1;
    return r;
}

static uint8_t ref_out[70000], st_out[70000];

/* One input, one way of cutting: the decoders agree. Returns 1 when they do. */
static int agree(const uint8_t *in, size_t in_len, size_t out_len, cutter ic, cutter oc)
{
    const char *why;
    int a = rmig_lzf_decompress(in, in_len, ref_out, out_len);
    int b = stream(in, in_len, st_out, out_len, ic, oc, &why);
    if (a != b) {
        printf("# one-shot %d, stream %d (%s): %zu bytes in, %zu out, cuts %d/%zu %d/%zu\n", a, b, why, in_len,
               out_len, ic.how, ic.at, oc.how, oc.at);
        return 0;
    }
    if (b < 0 && !*why) {
        printf("# refused without a reason\n");
        return 0;
    }
    return a < 0 || !memcmp(ref_out, st_out, out_len);
}

/* Every cut: each single input cut point against each single output cut
 * point, when small; then bytes, random, whole in all combinations. */
static int agree_all(const uint8_t *in, size_t in_len, size_t out_len, uint64_t *rng, int every)
{
    int ok = 1;
    cutter w = {CUT_WHOLE, 0, 0, rng}, by = {CUT_BYTE, 0, 0, rng}, rnd = {CUT_RANDOM, 0, 0, rng};
    cutter kinds[] = {w, by, rnd};
    for (int i = 0; i < 3; i++)
        for (int o = 0; o < 3; o++)
            ok &= agree(in, in_len, out_len, kinds[i], kinds[o]);
    if (every) {
        for (size_t i = 0; i <= in_len; i++) {
            for (size_t o = 0; o <= out_len; o++) {
                cutter ic = {CUT_AT, i, 0, rng}, oc = {CUT_AT, o, 0, rng};
                ok &= agree(in, in_len, out_len, ic, oc);
            }
        }
    }
    return ok;
}

/* lits literal bytes, then a 3-byte back-reference at distance 8192 */
static size_t far_stream(uint8_t *b, size_t lits)
{
    size_t n = 0, done = 0;
    while (done < lits) {
        size_t k = lits - done < 32 ? lits - done : 32;
        b[n++] = (uint8_t)(k - 1);
        for (size_t j = 0; j < k; j++)
            b[n++] = (uint8_t)((done + j) * 7 + 3);
        done += k;
    }
    b[n++] = 1 << 5 | 0x1f;
    b[n++] = 0xff;
    return n;
}

static void crafted(void)
{
    uint8_t out[64];
    /* literal "abc", then a back-reference of length 6 at distance 3: "abcabcabc" */
    const uint8_t s1[] = {0x02, 'a', 'b', 'c', (4 << 5) | 0, 2};
    CHECK("a literal run and an overlapping back-reference decode",
          rmig_lzf_decompress(s1, sizeof s1, out, 9) == 0 && !memcmp(out, "abcabcabc", 9), "wrong output");
    CHECK("a stream that decodes to fewer bytes than announced is refused",
          rmig_lzf_decompress(s1, sizeof s1, out, 10) == -1, "accepted");
    CHECK("a stream that decodes to more bytes than room is refused",
          rmig_lzf_decompress(s1, sizeof s1, out, 8) == -1, "accepted");
    const uint8_t s2[] = {0x00, 'a', (1 << 5) | 0, 5};
    CHECK("a back-reference before the start is refused", rmig_lzf_decompress(s2, sizeof s2, out, 4) == -1,
          "accepted");
    const uint8_t s3[] = {0x05, 'a', 'b'};
    CHECK("a literal run past the input is refused", rmig_lzf_decompress(s3, sizeof s3, out, 6) == -1,
          "accepted");
    /* the long form: length 7 + extra byte */
    const uint8_t s4[] = {0x00, 'x', (7 << 5) | 0, 3, 0};
    uint8_t big[16];
    CHECK("a long back-reference (length byte) repeats a run",
          rmig_lzf_decompress(s4, sizeof s4, big, 13) == 0 && !memcmp(big, "xxxxxxxxxxxxx", 13), "wrong output");
    const uint8_t s5[] = {0x00, 'x', (7 << 5) | 0};
    CHECK("a truncated long back-reference is refused", rmig_lzf_decompress(s5, sizeof s5, big, 13) == -1,
          "accepted");

    /* the same streams and more, against the streaming decoder cut every way */
    struct {
        const uint8_t *s;
        size_t n, out;
    } cases[] = {
        {s1, sizeof s1, 9}, {s1, sizeof s1, 10}, {s1, sizeof s1, 8}, {s2, sizeof s2, 4}, {s3, sizeof s3, 6},
        {s4, sizeof s4, 13}, {s4, sizeof s4, 12}, {s5, sizeof s5, 13}, {s1, 0, 0}, {s1, 0, 1}, {s1, 1, 0},
        {s1, 4, 3}, {s1, 5, 3}, {s4, sizeof s4, 0},
    };
    int ok = 1;
    uint64_t rng = rmig_t_seed();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ok &= agree_all(cases[i].s, cases[i].n, cases[i].out, &rng, 1);
    CHECK("the hand-made streams are accepted and refused alike by both decoders, cut at every point", ok,
          "they differ");

    /* a reference exactly 8192 back, the farthest; and the same one when a
     * byte fewer came before it, which lands before the start */
    static uint8_t far[8500];
    size_t n = far_stream(far, 8192);
    CHECK("a back-reference 8192 bytes back, the farthest, decodes alike",
          agree_all(far, n, 8195, &rng, 0) && rmig_lzf_decompress(far, n, ref_out, 8195) == 0 &&
              !memcmp(ref_out + 8192, ref_out, 3),
          "differs");
    n = far_stream(far, 8191);
    CHECK("a back-reference one byte before the start is refused by both",
          agree_all(far, n, 8194, &rng, 0) && rmig_lzf_decompress(far, n, ref_out, 8194) == -1,
          "differs or accepted");
    const uint8_t run[] = {0x00, 'z', (7 << 5), 255, 0, (7 << 5), 255, 0};
    CHECK("two of the longest back-references (264 bytes) at distance 1 decode alike",
          agree_all(run, sizeof run, 1 + 264 * 2, &rng, 1), "differ");
    const uint8_t after[] = {0x00, 'z', (1 << 5), 0, 0x00, 'q'};
    CHECK("data that goes on after the declared length is refused by both, whatever the cut",
          agree_all(after, sizeof after, 4, &rng, 1) && rmig_lzf_decompress(after, sizeof after, ref_out, 4) == -1,
          "differs or accepted");
}

static void randomized(void)
{
    uint64_t rng = rmig_t_seed() ^ 0x5eed;
    static uint8_t plain[66000], packed[70000], bad[70000];
    int valid = 1, broken = 1, noise = 1, every = 1;
    for (int round = 0; round < 60; round++) {
        size_t n = round < 20 ? 1 + (size_t)(rmig_t_rand(&rng) % 64)
                              : 1 + (size_t)(rmig_t_rand(&rng) % (round < 55 ? 3000 : 65000));
        gen(plain, n, &rng);
        size_t c = compress(plain, n, packed);
        if (rmig_lzf_decompress(packed, c, ref_out, n) != 0 || memcmp(ref_out, plain, n)) {
            valid = 0;
            printf("# the test compressor made a stream that does not decode (%zu bytes)\n", n);
            continue;
        }
        valid &= agree_all(packed, c, n, &rng, 0);
        if (c <= 24 && n <= 64)
            every &= agree_all(packed, c, n, &rng, 1);
        /* wrong declared lengths */
        broken &= agree_all(packed, c, n - 1, &rng, c < 24 && n < 64);
        broken &= agree_all(packed, c, n + 1, &rng, c < 24 && n < 64);
        /* one byte changed, cut short, or a byte added */
        for (int m = 0; m < 12; m++) {
            memcpy(bad, packed, c);
            size_t bl = c, pos = (size_t)(rmig_t_rand(&rng) % c);
            switch (m % 4) {
            case 0: bl = pos; break;
            case 1: bad[bl++] = (uint8_t)rmig_t_rand(&rng); break;
            default: bad[pos] = (uint8_t)rmig_t_rand(&rng); break;
            }
            broken &= agree_all(bad, bl, n, &rng, bl < 20 && n < 48);
        }
        /* plain noise, with a declared length drawn near what it might give */
        size_t nl = 1 + (size_t)(rmig_t_rand(&rng) % 200);
        for (size_t i = 0; i < nl; i++)
            bad[i] = (uint8_t)rmig_t_rand(&rng);
        noise &= agree_all(bad, nl, (size_t)(rmig_t_rand(&rng) % (nl * 4)), &rng, 0);
    }
    CHECK("random compressible data (up to 64 KiB, past the 8 KiB window) decodes alike in every cut", valid,
          "the decoders differ");
    CHECK("small streams cut at every input and output point decode alike", every, "the decoders differ");
    CHECK("streams with a byte changed, cut short, extended or with a wrong length are judged alike", broken,
          "the decoders differ");
    CHECK("random bytes are judged alike by both decoders", noise, "the decoders differ");
    CHECK("the streaming decoder keeps its contract (stops only at the end of a slice, never past one)",
          !contract_broken, "broken");
}

int main(void)
{
    crafted();
    randomized();
    return rmig_t_done();
}
