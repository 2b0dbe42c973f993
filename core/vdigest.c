/* vdigest.c - fingerprints of values' logical content (vdigest.h). */
#include "vdigest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K1 0x9E3779B97F4A7C15ULL
#define K2 0xC2B2AE3D27D4EB4FULL

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* ---- a streaming hash of bytes, the same however they are cut ---- */

static void vh_init(rmig_vhash *v)
{
    v->h[0] = K1;
    v->h[1] = 0;
    v->bl = 0;
    v->len = 0;
}

/* One lane for speed (most elements are a few bytes): 128 bits come from
 * two finalizers. Two values of one key are compared, so a false equal
 * needs a 64-bit collision between them. */
static void vh_word(rmig_vhash *v, uint64_t w) { v->h[0] = rotl(v->h[0] ^ (w * K2), 29) * K1; }

static void vh_bytes(rmig_vhash *v, const void *p, size_t n)
{
    const uint8_t *s = p;
    v->len += n;
    while (n && v->bl) {
        v->buf[v->bl++] = *s++, n--;
        if (v->bl == 8) {
            uint64_t w;
            memcpy(&w, v->buf, 8);
            vh_word(v, w);
            v->bl = 0;
        }
    }
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        vh_word(v, w);
    }
    if (n) { /* (else the buffer may hold bytes still: bl stays) */
        memcpy(v->buf, s, n);
        v->bl = (unsigned)n;
    }
}

static void vh_u64(rmig_vhash *v, uint64_t x)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(x >> (8 * i));
    vh_bytes(v, b, 8);
}

static void vh_final(const rmig_vhash *v, uint64_t out[2])
{
    uint64_t w = 0;
    memcpy(&w, v->buf, v->bl);
    uint64_t h = rotl(v->h[0] ^ (w * K2), 29) * K1 ^ v->len;
    out[0] = mix(h);
    out[1] = mix(h ^ K2);
}

uint64_t rmig_vhash64(const void *p, size_t n, uint64_t seed)
{
    rmig_vhash v;
    vh_init(&v);
    v.h[0] ^= seed;
    vh_bytes(&v, p, n);
    uint64_t out[2];
    vh_final(&v, out);
    return out[0];
}

/* ---- elements ---- */

void rmig_vdigest_init(rmig_vdigest *d, int kind)
{
    memset(d, 0, sizeof *d);
    d->kind = kind;
    vh_init(&d->el);
    if (kind == RMIG_KIND_STREAM || kind == RMIG_KIND_STRING)
        d->in_el = 1; /* (the whole value is one ordered hash) */
}

/* An element is complete: into the combination, in order (lists) or not. */
static void el_end(rmig_vdigest *d, int ordered)
{
    uint64_t h[2];
    vh_final(&d->el, h);
    if (ordered) {
        d->acc[0] = mix(d->acc[0] * K1 + h[0]);
        d->acc[1] = mix(d->acc[1] * K2 + h[1]);
    } else {
        d->acc[0] ^= h[0];
        d->acc[1] ^= h[1];
    }
    d->count++;
    vh_init(&d->el);
    d->in_el = 0;
}

/* A double's bits, with -0.0 as 0.0 (ZADD takes them as one score). */
static uint64_t score_bits(double s)
{
    uint64_t b;
    if (s == 0)
        s = 0;
    memcpy(&b, &s, 8);
    return b;
}

void rmig_vdigest_event(rmig_vdigest *d, const rmig_rdb_event *ev)
{
    switch (ev->type) {
    case RMIG_RDB_EV_STR: {
        int last = ev->u.piece.last;
        switch (ev->role) {
        case RMIG_RDB_STRING:
            vh_bytes(&d->el, ev->str, ev->len);
            d->count += ev->len;
            break;
        case RMIG_RDB_ITEM:
        case RMIG_RDB_MEMBER:
            vh_bytes(&d->el, ev->str, ev->len);
            if (last)
                el_end(d, ev->role == RMIG_RDB_ITEM);
            break;
        case RMIG_RDB_ZMEMBER:
        case RMIG_RDB_VALUE:
            vh_bytes(&d->el, ev->str, ev->len); /* completed by its score, or ended here */
            if (last && ev->role == RMIG_RDB_VALUE)
                el_end(d, 0);
            break;
        case RMIG_RDB_FIELD:
            vh_bytes(&d->el, ev->str, ev->len);
            if (last)
                vh_u64(&d->el, d->el.len); /* (where the field ends and the value begins) */
            break;
        case RMIG_RDB_STREAM_FIELD:
        case RMIG_RDB_STREAM_VALUE:
            vh_bytes(&d->el, ev->str, ev->len);
            if (last)
                vh_u64(&d->el, ev->u.piece.total ? ev->u.piece.total : ev->len);
            break;
        }
        break;
    }
    case RMIG_RDB_EV_SCORE:
        vh_u64(&d->el, score_bits(rmig_rdb_score(ev)));
        el_end(d, 0);
        break;
    case RMIG_RDB_EV_STREAM_ENTRY:
        vh_u64(&d->el, ev->u.entry.id.ms);
        vh_u64(&d->el, ev->u.entry.id.seq);
        vh_u64(&d->el, ev->u.entry.nfields);
        d->count++;
        break;
    case RMIG_RDB_EV_STREAM_META:
        vh_u64(&d->el, ev->u.meta.last_id.ms);
        vh_u64(&d->el, ev->u.meta.last_id.seq);
        if (ev->u.meta.v2) {
            vh_u64(&d->el, ev->u.meta.max_deleted_id.ms);
            vh_u64(&d->el, ev->u.meta.max_deleted_id.seq);
            vh_u64(&d->el, ev->u.meta.entries_added);
        }
        break;
    case RMIG_RDB_EV_STREAM_GROUP:
        vh_bytes(&d->el, ev->str, ev->len);
        vh_u64(&d->el, ev->len);
        vh_u64(&d->el, ev->u.group.last_id.ms);
        vh_u64(&d->el, ev->u.group.last_id.seq);
        /* (not entries-read: a replica keeps its own count, so two copies
         * with the same entries may differ there) */
        break;
    default:
        break;
    }
}

void rmig_vdigest_string(rmig_vdigest *d, const void *p, size_t n)
{
    vh_bytes(&d->el, p, n);
    d->count += n;
}

void rmig_vdigest_zmember_text(rmig_vdigest *d, const void *p, size_t n, const char *score, size_t slen)
{
    char sc[64];
    snprintf(sc, sizeof sc, "%.*s", (int)(slen < 63 ? slen : 63), score);
    rmig_vdigest_zmember(d, p, n, strtod(sc, NULL));
}

void rmig_vdigest_item(rmig_vdigest *d, const void *p, size_t n)
{
    vh_bytes(&d->el, p, n);
    el_end(d, 1);
}

void rmig_vdigest_member(rmig_vdigest *d, const void *p, size_t n)
{
    vh_bytes(&d->el, p, n);
    el_end(d, 0);
}

void rmig_vdigest_zmember(rmig_vdigest *d, const void *p, size_t n, double score)
{
    vh_bytes(&d->el, p, n);
    vh_u64(&d->el, score_bits(score));
    el_end(d, 0);
}

void rmig_vdigest_field(rmig_vdigest *d, const void *f, size_t fn, const void *v, size_t vn)
{
    vh_bytes(&d->el, f, fn);
    vh_u64(&d->el, d->el.len);
    vh_bytes(&d->el, v, vn);
    el_end(d, 0);
}

void rmig_vdigest_final(const rmig_vdigest *d, uint8_t out[16])
{
    uint64_t a[2] = {d->acc[0], d->acc[1]};
    if (d->kind == RMIG_KIND_STRING || d->kind == RMIG_KIND_STREAM) {
        vh_final(&d->el, a);
    }
    a[0] = mix(a[0] ^ ((uint64_t)(d->kind + 1) * K1) ^ d->count);
    a[1] = mix(a[1] ^ ((uint64_t)(d->kind + 1) * K2) ^ (d->count * K2));
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(a[0] >> (8 * i));
        out[8 + i] = (uint8_t)(a[1] >> (8 * i));
    }
}

/* ---- a whole payload, as a one-key RDB stream ---- */

rmig_rdb *rmig_vdigest_parser(int rdb_type, int version)
{
    rmig_rdb *p = rmig_rdb_new(&(rmig_rdb_opts){RMIG_RDB_ELEMENTS | RMIG_RDB_NO_CRC, 0, 0, 0});
    uint8_t h[32];
    size_t hl = (size_t)snprintf((char *)h, sizeof h, "REDIS%04d", version);
    h[hl++] = (uint8_t)rdb_type;
    h[hl++] = 0x80; /* an empty name, its length as 32 bits */
    memset(h + hl, 0, 4);
    hl += 4;
    if (p && rmig_rdb_feed(p, h, hl) < 0) {
        rmig_rdb_free(p);
        p = NULL;
    }
    return p;
}

int rmig_vdigest_payload(int rdb_type, int version, const uint8_t *raw, size_t n, rmig_vdigest *d, char *err,
                         size_t errlen)
{
    int kind = rmig_rdb_type_kind(rdb_type);
    if (kind < 0) {
        snprintf(err, errlen, "unknown value type %d", rdb_type);
        return -1;
    }
    rmig_vdigest_init(d, kind);
    if (errlen)
        err[0] = 0;
    rmig_rdb *p = rmig_vdigest_parser(rdb_type, version);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t hl = (size_t)snprintf(NULL, 0, "REDIS%04d", version) + 6; /* (where the value starts) */
    static const uint8_t eof = 255;
    int rc = rmig_rdb_feed(p, raw, n) < 0 || rmig_rdb_feed(p, &eof, 1) < 0 ? -1 : 0;
    rmig_rdb_finish(p);
    while (rc == 0) {
        rmig_rdb_event ev;
        int got = rmig_rdb_next(p, &ev);
        if (got < 0) {
            snprintf(err, errlen, "the value does not decode: %s", rmig_rdb_error(p));
            rc = -1;
        } else if (got == RMIG_RDB_EV_KEY_END) {
            if (rmig_rdb_offset(p) != hl + n) {
                /* a value shorter or longer than its bytes: not this value */
                snprintf(err, errlen, "the value's %zu bytes do not make one value", n);
                rc = -1;
            }
            break;
        } else if (got == RMIG_RDB_EV_EOF || got == RMIG_RDB_NEED_MORE) {
            snprintf(err, errlen, "the value ends early (%zu bytes)", n);
            rc = -1;
            break;
        } else {
            rmig_vdigest_event(d, &ev);
        }
    }
    if (rc < 0 && !err[0])
        snprintf(err, errlen, "out of memory");
    rmig_rdb_free(p);
    return rc;
}

/* ---- parsers kept between values ---- */

#define VERSIONS 64

struct rmig_vdigester {
    rmig_rdb *p[VERSIONS]; /* by RDB version: a stream of empty-named keys, never ended */
    uint64_t fed[VERSIONS]; /* bytes fed to each */
};

rmig_vdigester *rmig_vdigester_new(void) { return calloc(1, sizeof(rmig_vdigester)); }

void rmig_vdigester_free(rmig_vdigester *g)
{
    if (!g)
        return;
    for (int i = 0; i < VERSIONS; i++)
        if (g->p[i])
            rmig_rdb_free(g->p[i]);
    free(g);
}

int rmig_vdigester_payload(rmig_vdigester *g, int rdb_type, int version, const uint8_t *raw, size_t n,
                           rmig_vdigest *d, char *err, size_t errlen)
{
    int kind = rmig_rdb_type_kind(rdb_type);
    if (kind < 0 || version < 1 || version >= VERSIONS) {
        snprintf(err, errlen, "unknown value type %d (RDB %d)", rdb_type, version);
        return -1;
    }
    rmig_vdigest_init(d, kind);
    rmig_rdb **pp = &g->p[version];
    if (!*pp) {
        char h[16];
        int hl = snprintf(h, sizeof h, "REDIS%04d", version);
        *pp = rmig_rdb_new(&(rmig_rdb_opts){RMIG_RDB_ELEMENTS | RMIG_RDB_NO_CRC, 0, 0, 0});
        if (!*pp || rmig_rdb_feed(*pp, h, (size_t)hl) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        g->fed[version] = (uint64_t)hl;
    }
    const uint8_t rec[6] = {(uint8_t)rdb_type, 0x80, 0, 0, 0, 0}; /* the type, an empty name (32-bit length) */
    uint64_t end = g->fed[version] + sizeof rec + n; /* where this value must end */
    g->fed[version] = end;
    if (errlen)
        err[0] = 0;
    int rc = rmig_rdb_feed(*pp, rec, sizeof rec) < 0 || rmig_rdb_feed(*pp, raw, n) < 0 ? -1 : 0;
    while (rc == 0) {
        rmig_rdb_event ev;
        int got = rmig_rdb_next(*pp, &ev);
        if (got < 0) {
            snprintf(err, errlen, "the value does not decode: %s", rmig_rdb_error(*pp));
            rc = -1;
        } else if (got == RMIG_RDB_NEED_MORE) {
            snprintf(err, errlen, "the value ends early (%zu bytes)", n);
            rc = -1;
        } else if (got == RMIG_RDB_EV_KEY_END) {
            if (rmig_rdb_offset(*pp) != end) {
                snprintf(err, errlen, "the value's %zu bytes do not make one value", n);
                rc = -1;
            }
            break;
        } else {
            rmig_vdigest_event(d, &ev);
        }
    }
    if (rc < 0) {
        /* the stream is broken from here: a new parser for the next value */
        rmig_rdb_free(*pp);
        *pp = NULL;
        if (!err[0])
            snprintf(err, errlen, "out of memory");
    }
    return rc;
}
