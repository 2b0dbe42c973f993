/* lzf.c - LZF decompression (the liblzf stream format), with every copy
 * checked against both buffers.
 *
 * A control byte below 32 announces a literal run of ctrl+1 bytes. Otherwise
 * its top three bits are a match length (7 means "add the next byte") and the
 * low five bits with the next byte give a back distance; the match copies
 * length+2 bytes from that far behind the output end, possibly overlapping
 * itself (which is how runs are encoded), so it is copied byte by byte when
 * the regions overlap.
 *
 * rmig_lzf_stream does the same in slices: it keeps the last 8 KiB of output
 * (as far as a distance reaches) in a ring, and remembers where inside a
 * token the input or the output room ran out. */
#include "lzf.h"

#include <string.h>

int rmig_lzf_decompress(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
    const uint8_t *ip = in, *ie = in + in_len;
    uint8_t *op = out, *oe = out + out_len;

    while (ip < ie) {
        unsigned ctrl = *ip++;
        if (ctrl < 32) {
            size_t n = ctrl + 1;
            if ((size_t)(ie - ip) < n || (size_t)(oe - op) < n)
                return -1;
            /* a fixed 32-byte copy is two moves; take it where both buffers have room */
            if ((size_t)(ie - ip) >= 32 && (size_t)(oe - op) >= 32)
                memcpy(op, ip, 32);
            else
                memcpy(op, ip, n);
            op += n;
            ip += n;
            continue;
        }
        size_t n = ctrl >> 5;
        if (n == 7) {
            if (ip >= ie)
                return -1;
            n += *ip++;
        }
        if (ip >= ie)
            return -1;
        size_t dist = ((size_t)(ctrl & 0x1f) << 8) + *ip++ + 1;
        n += 2;
        if (dist > (size_t)(op - out) || (size_t)(oe - op) < n)
            return -1;
        const uint8_t *ref = op - dist;
        if (dist >= 8 && (size_t)(oe - op) >= n + 8) {
            /* 8 bytes at a time: each read ends at or before the write, so
             * overlapping runs repeat correctly; up to 7 bytes past n are
             * scratch, overwritten by what follows */
            for (size_t k = 0; k < n; k += 8)
                memcpy(op + k, ref + k, 8);
            op += n;
        } else {
            while (n--)
                *op++ = *ref++;
        }
    }
    return op == oe ? 0 : -1;
}

/* Where the streaming decoder stands within a token. */
enum { ST_CTRL, ST_LIT, ST_LEN, ST_DIST, ST_COPY };

#define WMASK ((uint64_t)RMIG_LZF_WINDOW - 1)

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

void rmig_lzf_stream_init(rmig_lzf_stream *s, uint64_t out_len)
{
    /* hist is left as it is: only bytes already produced are ever read */
    s->out_len = out_len;
    s->out_done = s->in_done = s->tok_at = s->err_at = 0;
    s->err = NULL;
    s->state = ST_CTRL;
    s->ctrl = 0;
    s->n = s->dist = 0;
}

static int fail(rmig_lzf_stream *s, uint64_t at, const char *what)
{
    s->err = what;
    s->err_at = at;
    return -1;
}

/* Appends k literal bytes to the history and to out. */
static void put_literal(rmig_lzf_stream *s, const uint8_t *src, size_t k, uint8_t *out)
{
    memcpy(out, src, k);
    while (k) {
        size_t w = (size_t)(s->out_done & WMASK);
        size_t c = min_sz(k, RMIG_LZF_WINDOW - w);
        memcpy(s->hist + w, src, c);
        src += c;
        k -= c;
        s->out_done += c;
    }
}

/* Produces k bytes of the current match into the history and out. */
static void put_match(rmig_lzf_stream *s, uint8_t *out, size_t k)
{
    if (s->dist < 32) {
        /* short periods (runs): byte by byte, each byte read after the one
         * dist before it was written */
        for (size_t i = 0; i < k; i++) {
            uint8_t b = s->hist[(s->out_done - s->dist) & WMASK];
            s->hist[s->out_done & WMASK] = b;
            out[i] = b;
            s->out_done++;
        }
        return;
    }
    while (k) {
        size_t w = (size_t)(s->out_done & WMASK);
        size_t r = (size_t)((s->out_done - s->dist) & WMASK);
        /* at most dist bytes, so the part copied was produced before it; the
         * two ranges may still share ring slots (when the source wrapped), which
         * memmove reads before it writes, as the format means */
        size_t c = min_sz(min_sz(k, s->dist), min_sz(RMIG_LZF_WINDOW - w, RMIG_LZF_WINDOW - r));
        memmove(s->hist + w, s->hist + r, c);
        memcpy(out, s->hist + w, c);
        out += c;
        k -= c;
        s->out_done += c;
    }
}

int rmig_lzf_stream_run(rmig_lzf_stream *s, const uint8_t *in, size_t in_len, size_t *consumed,
                        uint8_t *out, size_t out_cap, size_t *produced)
{
    size_t ip = 0, op = 0, k;
    int rc = 0;
    if (s->err) {
        *consumed = *produced = 0;
        return -1;
    }
    /* with out full, stop before the next token; but once everything is
     * produced no room is needed to see that more input is wrong */
    while (op < out_cap || s->out_done == s->out_len) {
        switch (s->state) {
        case ST_CTRL:
            if (ip == in_len)
                goto out;
            s->tok_at = s->in_done + ip;
            s->ctrl = in[ip++];
            if (s->out_done == s->out_len) {
                rc = fail(s, s->tok_at, "the data goes on after the declared length is reached");
                goto out;
            }
            if (s->ctrl < 32) {
                s->n = s->ctrl + 1;
                if (s->n > s->out_len - s->out_done) {
                    rc = fail(s, s->tok_at, "a literal run goes past the declared length");
                    goto out;
                }
                s->state = ST_LIT;
            } else {
                s->n = s->ctrl >> 5;
                s->state = s->n == 7 ? ST_LEN : ST_DIST;
            }
            break;
        case ST_LIT:
            k = min_sz(s->n, min_sz(in_len - ip, out_cap - op));
            if (k == 0)
                goto out;
            put_literal(s, in + ip, k, out + op);
            ip += k;
            op += k;
            s->n -= k;
            if (!s->n)
                s->state = ST_CTRL;
            break;
        case ST_LEN:
            if (ip == in_len)
                goto out;
            s->n += in[ip++];
            s->state = ST_DIST;
            break;
        case ST_DIST:
            if (ip == in_len)
                goto out;
            s->dist = ((size_t)(s->ctrl & 0x1f) << 8) + in[ip++] + 1;
            s->n += 2;
            if (s->dist > s->out_done) {
                rc = fail(s, s->tok_at, "a back-reference reaches before the start of the output");
                goto out;
            }
            if (s->n > s->out_len - s->out_done) {
                rc = fail(s, s->tok_at, "a back-reference goes past the declared length");
                goto out;
            }
            s->state = ST_COPY;
            break;
        default: /* ST_COPY: op < out_cap here, since n > 0 means out_done < out_len */
            k = min_sz(s->n, out_cap - op);
            put_match(s, out + op, k);
            op += k;
            s->n -= k;
            if (!s->n)
                s->state = ST_CTRL;
            break;
        }
    }
out:
    s->in_done += ip;
    *consumed = ip;
    *produced = op;
    return rc;
}

int rmig_lzf_stream_end(rmig_lzf_stream *s)
{
    if (s->err)
        return -1;
    switch (s->state) {
    case ST_LIT: return fail(s, s->tok_at, "the data ends inside a literal run");
    case ST_LEN:
    case ST_DIST: return fail(s, s->tok_at, "the data ends inside a back-reference");
    case ST_COPY: return fail(s, s->tok_at, "the input was ended with a copy still to produce");
    }
    if (s->out_done != s->out_len)
        return fail(s, s->in_done, "the data decodes to fewer bytes than declared");
    return 0;
}

const char *rmig_lzf_stream_error(const rmig_lzf_stream *s) { return s->err ? s->err : ""; }

uint64_t rmig_lzf_stream_error_at(const rmig_lzf_stream *s) { return s->err_at; }
