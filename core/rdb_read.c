/* rdb_read.c - reading the RDB's building blocks from the parser's buffer:
 * lengths, fixed-size fields, strings in all their encodings (integer, LZF,
 * plain; whole, or piece by piece when long, long LZF ones decoded as their
 * bytes arrive), encoded blobs, and module opcode streams (RDB-FORMAT.md §4,
 * §5, §9).
 *
 * Every reader works on a cursor over the unread bytes and either reads its
 * whole item or reports R_SHORT (setting p->need when it knows how many bytes
 * it needs), leaving the parser untouched, so a step can simply be retried
 * once more input arrived. Lengths read from the file are checked against
 * max_record, and against the bytes actually there, before anything is
 * allocated for them. */
#include "rdb_internal.h"

#include "lzf.h"

#include <string.h>
#include <stdlib.h>

int rmig__rdb_grow(uint8_t **b, size_t *cap, size_t want)
{
    if (*cap >= want)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < want)
        n *= 2;
    uint8_t *nb = realloc(*b, n);
    if (!nb)
        return -1;
    *b = nb;
    *cap = n;
    return 0;
}

static int short_by(rmig_rdb *p, const cur *c, size_t more)
{
    size_t have = (size_t)(c->p - (p->buf + p->rd));
    p->need = have + more;
    return R_SHORT;
}

int rmig__rdb_fixed(rmig_rdb *p, cur *c, size_t n, const uint8_t **out)
{
    if ((size_t)(c->e - c->p) < n)
        return short_by(p, c, n);
    *out = c->p;
    c->p += n;
    return 0;
}

/* Reads a length or a string-encoding marker: *enc is -1 for a length, else
 * the encoding number (RDB-FORMAT.md §4). */
static int read_len(rmig_rdb *p, cur *c, uint64_t *v, int *enc)
{
    const uint8_t *s = c->p;
    if (s >= c->e)
        return R_SHORT;
    unsigned b = s[0];
    *enc = -1;
    switch (b >> 6) {
    case 0:
        *v = b & 0x3F;
        c->p += 1;
        return 0;
    case 1:
        if (c->e - s < 2)
            return short_by(p, c, 2);
        *v = ((uint64_t)(b & 0x3F) << 8) | s[1];
        c->p += 2;
        return 0;
    case 3:
        *enc = (int)(b & 0x3F);
        *v = 0;
        c->p += 1;
        return 0;
    }
    if (b == 0x80) {
        if (c->e - s < 5)
            return short_by(p, c, 5);
        *v = (uint64_t)s[1] << 24 | (uint64_t)s[2] << 16 | (uint64_t)s[3] << 8 | s[4];
        c->p += 5;
        return 0;
    }
    if (b == 0x81) {
        if (c->e - s < 9)
            return short_by(p, c, 9);
        *v = rmig__be64(s + 1);
        c->p += 9;
        return 0;
    }
    return rmig__rdb_fail(p, RMIG_ECORRUPT, p->base + (uint64_t)(s - p->buf),
                          "invalid length encoding byte 0x%02x", b);
}

int rmig__rdb_len(rmig_rdb *p, cur *c, uint64_t *v)
{
    int enc;
    const uint8_t *s = c->p;
    int r = read_len(p, c, v, &enc);
    if (r)
        return r;
    if (enc != -1)
        return rmig__rdb_fail(p, RMIG_ECORRUPT, p->base + (uint64_t)(s - p->buf),
                              "a length was expected, found a string encoding (0x%02x)", *s);
    return 0;
}

/* An encoded string's header: INT8/16/32 render their decimal text into
 * num; LZF gives its two lengths. Returns 0 with *kind 0 plain (len), 1 int
 * (text in num, *len), 2 LZF (*clen, *len = ulen). */
static int str_header(rmig_rdb *p, cur *c, char *num, int *kind, uint64_t *len, uint64_t *clen)
{
    const uint8_t *start = c->p;
    int enc, r;
    if ((r = read_len(p, c, len, &enc)))
        return r;
    if (enc == -1) {
        *kind = 0;
        return 0;
    }
    const uint8_t *b;
    switch (enc) {
    case 0:
        if ((r = rmig__rdb_fixed(p, c, 1, &b)))
            return r;
        *len = rmig_fmt_i64(num, (int8_t)b[0]);
        *kind = 1;
        return 0;
    case 1:
        if ((r = rmig__rdb_fixed(p, c, 2, &b)))
            return r;
        *len = rmig_fmt_i64(num, (int16_t)(b[0] | b[1] << 8));
        *kind = 1;
        return 0;
    case 2:
        if ((r = rmig__rdb_fixed(p, c, 4, &b)))
            return r;
        *len = rmig_fmt_i64(num, (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 |
                                           (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24));
        *kind = 1;
        return 0;
    case 3:
        if ((r = rmig__rdb_len(p, c, clen)) || (r = rmig__rdb_len(p, c, len)))
            return r;
        /* one LZF input byte expands to at most 88 output bytes */
        if (*clen == 0 || *len == 0 || *len / 88 > *clen)
            return rmig__rdb_fail(p, RMIG_ECORRUPT, p->base + (uint64_t)(start - p->buf),
                                  "LZF string with impossible lengths (compressed %llu, plain %llu)",
                                  (unsigned long long)*clen, (unsigned long long)*len);
        *kind = 2;
        return 0;
    }
    return rmig__rdb_fail(p, RMIG_ECORRUPT, p->base + (uint64_t)(start - p->buf),
                          "unknown string encoding %d", enc);
}

static int too_big(rmig_rdb *p, const cur *c, uint64_t n)
{
    return rmig__rdb_fail(p, RMIG_ELIMIT, p->base + (uint64_t)(c->p - p->buf),
                          "a string of %llu bytes is larger than the limit of %zu bytes held whole",
                          (unsigned long long)n, p->o.max_record);
}

/* Decompresses an LZF string of clen bytes at the cursor into dst (grown). */
static int unlzf(rmig_rdb *p, cur *c, uint64_t clen, uint64_t ulen, uint8_t **dst, size_t *cap)
{
    const uint8_t *start = c->p;
    if (clen > p->o.max_record || ulen > p->o.max_record)
        return too_big(p, c, ulen > clen ? ulen : clen);
    if ((uint64_t)(c->e - c->p) < clen)
        return short_by(p, c, clen);
    if (rmig__rdb_grow(dst, cap, ulen) < 0)
        return rmig__rdb_fail(p, RMIG_ENOMEM, rmig__rdb_off(p), "out of memory for %llu bytes",
                              (unsigned long long)ulen);
    if (rmig_lzf_decompress(start, clen, *dst, ulen) < 0)
        return rmig__rdb_fail(p, RMIG_ECORRUPT, p->base + (uint64_t)(start - p->buf),
                              "LZF data does not decompress to %llu bytes", (unsigned long long)ulen);
    c->p += clen;
    return 0;
}

int rmig__rdb_whole_str(rmig_rdb *p, cur *c, int slot, const uint8_t **s, size_t *len)
{
    int kind, r;
    uint64_t n, clen;
    if ((r = str_header(p, c, p->num[slot], &kind, &n, &clen)))
        return r;
    if (kind == 1) {
        *s = (const uint8_t *)p->num[slot];
        *len = n;
        return 0;
    }
    if (kind == 2) {
        if ((r = unlzf(p, c, clen, n, &p->scratch[slot], &p->scratch_cap[slot])))
            return r;
        *s = p->scratch[slot];
        *len = n;
        return 0;
    }
    if (n > p->o.max_record)
        return too_big(p, c, n);
    if ((uint64_t)(c->e - c->p) < n)
        return short_by(p, c, n);
    *s = c->p;
    *len = n;
    c->p += n;
    return 0;
}

static void str_event(rmig_rdb_event *ev, int role, const uint8_t *s, size_t len, uint64_t off,
                      uint64_t total, int last)
{
    ev->role = role;
    ev->str = s;
    ev->len = len;
    ev->u.piece.off = off;
    ev->u.piece.total = total;
    ev->u.piece.last = last;
}

static int lzf_corrupt(rmig_rdb *p)
{
    return rmig__rdb_fail(p, RMIG_ECORRUPT, p->pc.data_off + rmig_lzf_stream_error_at(&p->lz),
                          "LZF data does not decompress to %llu bytes: %s",
                          (unsigned long long)p->pc.total, rmig_lzf_stream_error(&p->lz));
}

/* The next piece of a long LZF string. Its compressed bytes are decoded as
 * they arrive (the buffer keeps none of them) into scratch[0], which goes out
 * each time it holds opts.piece bytes: the pieces are those a plain string of
 * the decoded bytes would give, and where the decoder stops or fails depends
 * only on the bytes, not on how they arrived. The last piece waits until the
 * data has been checked to its end. */
static int lzf_piece(rmig_rdb *p, rmig_rdb_event *ev)
{
    size_t avail = p->wr - p->rd, used, made;
    if (avail > p->pc.left)
        avail = (size_t)p->pc.left;
    if (rmig_lzf_stream_run(&p->lz, p->buf + p->rd, avail, &used, p->scratch[0] + p->pc.fill,
                            p->o.piece - p->pc.fill, &made) < 0)
        return lzf_corrupt(p);
    p->rd += used;
    p->pc.left -= used;
    p->pc.fill += made;
    int last = 0;
    if (p->pc.fill < p->o.piece || p->lz.out_done == p->pc.total) {
        /* the decoder stopped for want of input: step again (so a truncation
         * is reported at the end of the input, however it arrived) */
        if (p->pc.left)
            return used ? R_AGAIN : R_SHORT;
        if (rmig_lzf_stream_end(&p->lz) < 0)
            return lzf_corrupt(p);
        last = 1;
        p->pc.active = 0;
        p->str_done = 1;
    }
    uint64_t off = p->pc.off;
    size_t len = p->pc.fill;
    p->pc.off += len;
    p->pc.fill = 0;
    str_event(ev, p->pc.role, p->scratch[0], len, off, p->pc.total, last);
    return RMIG_RDB_EV_STR;
}

/* One string element. Strings up to opts.piece bytes (and every int string)
 * come whole; longer ones in pieces of exactly opts.piece bytes (the last one
 * shorter), so the events do not depend on how input was split. An LZF
 * string counts by its decoded length: up to opts.piece it is decoded whole,
 * beyond that as it arrives (lzf_piece). With emit 0, or without
 * RMIG_RDB_ELEMENTS, the string is only consumed (LZF data undecoded).
 * Sets p->str_done when the element is complete. */
int rmig__rdb_str(rmig_rdb *p, rmig_rdb_event *ev, int role, int emit)
{
    int r;
    p->str_done = 0;
    emit = emit && p->want_elems;
    if (!p->pc.active) {
        cur c = rmig__rdb_cur(p);
        int kind;
        uint64_t n, clen;
        if ((r = str_header(p, &c, p->num[0], &kind, &n, &clen)))
            return r;
        if (kind == 1 || (n <= p->o.piece && (kind == 0 || emit))) {
            const uint8_t *s = (const uint8_t *)p->num[0];
            if (kind == 2) {
                if ((r = unlzf(p, &c, clen, n, &p->scratch[0], &p->scratch_cap[0])))
                    return r;
                s = p->scratch[0];
            } else if (kind == 0) {
                if ((uint64_t)(c.e - c.p) < n)
                    return short_by(p, &c, n);
                s = c.p;
                c.p += n;
            }
            rmig__rdb_take(p, &c);
            p->str_done = 1;
            if (!emit)
                return R_AGAIN;
            str_event(ev, role, s, n, 0, n, 1);
            return RMIG_RDB_EV_STR;
        }
        /* consumed as it arrives: a long plain string, a long LZF string
         * decoded, or LZF bytes skipped */
        p->pc.lzf = kind == 2 && emit;
        if (p->pc.lzf) {
            if (rmig__rdb_grow(&p->scratch[0], &p->scratch_cap[0], p->o.piece) < 0)
                return rmig__rdb_fail(p, RMIG_ENOMEM, rmig__rdb_off(p), "out of memory for %zu bytes",
                                      p->o.piece);
            rmig_lzf_stream_init(&p->lz, n);
            p->pc.fill = 0;
        }
        rmig__rdb_take(p, &c);
        p->pc.active = 1;
        p->pc.emit = emit;
        p->pc.role = role;
        p->pc.left = kind == 2 ? clen : n;
        p->pc.total = p->pc.lzf ? n : p->pc.left;
        p->pc.off = 0;
        p->pc.data_off = rmig__rdb_off(p);
    }
    if (p->pc.lzf)
        return lzf_piece(p, ev);
    size_t avail = p->wr - p->rd;
    uint64_t take = p->pc.left;
    if (p->pc.emit) {
        if (take > p->o.piece)
            take = p->o.piece;
        if (avail < take) {
            p->need = (size_t)take;
            return R_SHORT;
        }
    } else {
        if (avail == 0)
            return R_SHORT;
        if (take > avail)
            take = avail;
    }
    const uint8_t *s = p->buf + p->rd;
    p->rd += (size_t)take;
    p->pc.left -= take;
    uint64_t off = p->pc.off;
    p->pc.off += take;
    int last = p->pc.left == 0;
    if (last) {
        p->pc.active = 0;
        p->str_done = 1;
    }
    if (!p->pc.emit)
        return R_AGAIN;
    str_event(ev, p->pc.role, s, (size_t)take, off, p->pc.total, last);
    return RMIG_RDB_EV_STR;
}

/* Reads a whole blob string and sets p->it on it. Plain blobs are iterated
 * where they lie in the buffer (pinned until rmig__rdb_blob_done), LZF ones
 * in blobbuf. Returns 0, R_SHORT or an error. */
int rmig__rdb_blob(rmig_rdb *p, int kind)
{
    cur c = rmig__rdb_cur(p);
    int k, r;
    uint64_t n, clen;
    const uint8_t *blob;
    p->blob_off = rmig__rdb_off(p);
    if ((r = str_header(p, &c, p->num[0], &k, &n, &clen)))
        return r;
    if (k == 1) {
        return rmig__rdb_fail(p, RMIG_ECORRUPT, p->blob_off,
                              "an encoded blob was expected, found an integer");
    } else if (k == 2) {
        if ((r = unlzf(p, &c, clen, n, &p->blobbuf, &p->blobbuf_cap)))
            return r;
        blob = p->blobbuf;
        p->holding = 2;
    } else {
        if (n > p->o.max_record)
            return too_big(p, &c, n);
        if ((uint64_t)(c.e - c.p) < n)
            return short_by(p, &c, n);
        blob = c.p;
        c.p += n;
        p->hold = (size_t)(blob - p->buf);
        p->holding = 1;
    }
    p->blob_len = (size_t)n;
    rmig__rdb_take(p, &c);
    if (rmig_blob_init(&p->it, kind, blob, (size_t)n) < 0) {
        p->it.kind = kind;
        p->holding = 0;
        return rmig__rdb_blob_corrupt(p, "its header does not match its length");
    }
    return 0;
}

void rmig__rdb_blob_done(rmig_rdb *p) { p->holding = 0; }

/* A module opcode stream (RDB-FORMAT.md §9): returns 1 at its EOF. */
int rmig__rdb_modops(rmig_rdb *p, rmig_rdb_event *ev)
{
    int r;
    if (p->mod.in_str) {
        r = rmig__rdb_str(p, ev, 0, 0);
        if (p->str_done)
            p->mod.in_str = 0;
        return r;
    }
    cur c = rmig__rdb_cur(p);
    uint64_t op, v;
    const uint8_t *b;
    if ((r = rmig__rdb_len(p, &c, &op)))
        return r;
    switch (op) {
    case 0:
        rmig__rdb_take(p, &c);
        return 1;
    case 1:
    case 2:
        if ((r = rmig__rdb_len(p, &c, &v)))
            return r;
        break;
    case 3:
    case 4:
        if ((r = rmig__rdb_fixed(p, &c, op == 3 ? 4 : 8, &b)))
            return r;
        break;
    case 5:
        rmig__rdb_take(p, &c);
        p->mod.in_str = 1;
        return R_AGAIN;
    default:
        return rmig__rdb_fail(p, RMIG_ECORRUPT, rmig__rdb_off(p), "unknown module opcode %llu",
                              (unsigned long long)op);
    }
    rmig__rdb_take(p, &c);
    return R_AGAIN;
}

