/* rdb_value.c - walking one key's value, for every object type but streams.
 *
 * rmig__rdb_value_step is called again and again while a key is open; each
 * call reads what it can and returns at most one event. The walk is driven by
 * p->ph (the phase within the type) and p->n[] (counters per nesting level).
 * Without RMIG_RDB_ELEMENTS the same walk runs with events suppressed, so the
 * raw bytes of a value are exactly delimited whatever the caller wants; blobs
 * (listpacks, ziplists, intsets, zipmaps) are then skipped as plain strings.
 *
 * Layouts: shared/docs/RDB-FORMAT.md §7 and §8. */
#include "rdb_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Phases shared by the types. */
enum {
    PH_START = 0,
    PH_ITEMS,    /* n[0] elements left */
    PH_SCORE,    /* a zset score after its member */
    PH_HVALUE,   /* a hash value after its field */
    PH_HTTL,     /* the TTL of the field just given */
    PH_BLOB,     /* reading a blob (n[0] nodes left for quicklists) */
    PH_BLOBITER, /* iterating it */
    PH_NODE,     /* quicklist 2: container kind of the next node */
    PH_MODULE,   /* module opcode stream */
    PH_END,
};

static int emit(rmig_rdb *p, int ev)
{
    return p->want_elems ? ev : R_AGAIN;
}

/* Score text as Redis writes it (%.17g, integers, "inf", "-inf"): checked
 * against the grammar of a decimal number, so corrupt bytes are refused here
 * while the conversion itself waits until someone asks (rmig_rdb_score). */
static int score_text_ok(const uint8_t *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (n == 0 || n > 64)
        return 0;
    if (s[0] == '+' || s[0] == '-')
        i++;
    static const char *words[] = {"inf", "infinity", "nan"};
    for (int w = 0; w < 3; w++) {
        size_t k = strlen(words[w]);
        if (n - i == k && !strncasecmp((const char *)s + i, words[w], k))
            return 1;
    }
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (!digits)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            exp++;
        if (!exp)
            return 0;
    }
    return i == n;
}

/* Reads a score in the pre-8 ASCII form: a length byte, 253/254/255 for
 * nan/+inf/-inf, else that many characters of a %.17g number, which are
 * handed on as text. */
static int legacy_double(rmig_rdb *p, cur *c, rmig_rdb_event *ev)
{
    if (c->p >= c->e)
        return R_SHORT;
    unsigned n = *c->p;
    if (n >= 253) {
        c->p++;
        ev->str = NULL;
        ev->len = 0;
        ev->u.score = n == 253 ? NAN : n == 254 ? INFINITY : -INFINITY;
        return 0;
    }
    if ((size_t)(c->e - c->p) < 1 + (size_t)n) {
        p->need = 1 + n;
        return R_SHORT;
    }
    if (!score_text_ok(c->p + 1, n))
        return rmig__rdb_fail(p, RMIG_ECORRUPT, rmig__rdb_off(p), "a zset score that is not a number");
    ev->str = c->p + 1;
    ev->len = n;
    c->p += 1 + n;
    return 0;
}

/* Decimal text to double without strtod when that is exact (Clinger's fast
 * path): at most 15 significant digits and at most 22 after the point make
 * both the digits and the power of ten exact doubles, so one correctly
 * rounded division gives what strtod would. Returns -1 to fall back. */
static int fast_decimal(const uint8_t *s, size_t n, double *d)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    int neg = 0, sig = 0, frac = 0, dot = 0, digits = 0;
    uint64_t m = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    for (; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            digits++;
            if (m || s[i] != '0')
                sig++;
            if (sig > 15)
                return -1;
            m = m * 10 + (uint64_t)(s[i] - '0');
            frac += dot;
        } else if (s[i] == '.' && !dot) {
            dot = 1;
        } else {
            return -1;
        }
    }
    if (!digits || frac > 22)
        return -1;
    double x = (double)m / pow10[frac];
    *d = neg ? -x : x;
    return 0;
}

double rmig_rdb_score(const rmig_rdb_event *e)
{
    if (!e->str)
        return e->u.score;
    double d;
    if (fast_decimal(e->str, e->len, &d) == 0)
        return d;
    char tmp[80];
    size_t n = e->len < sizeof tmp - 1 ? e->len : sizeof tmp - 1;
    memcpy(tmp, e->str, n);
    tmp[n] = '\0';
    return strtod(tmp, NULL);
}

/* The kind of blob each encoded type holds. */
static int blob_kind(int type)
{
    switch (type) {
    case RMIG_RDB_TYPE_HASH_ZIPMAP: return RMIG_BLOB_ZIPMAP;
    case RMIG_RDB_TYPE_SET_INTSET: return RMIG_BLOB_INTSET;
    case RMIG_RDB_TYPE_LIST_ZIPLIST:
    case RMIG_RDB_TYPE_ZSET_ZIPLIST:
    case RMIG_RDB_TYPE_HASH_ZIPLIST:
    case RMIG_RDB_TYPE_LIST_QUICKLIST: return RMIG_BLOB_ZIPLIST;
    default: return RMIG_BLOB_LISTPACK;
    }
}

/* Elements per record inside a blob: 1 (list, set), 2 (hash, zset), 3 (hash
 * with field TTLs). */
static int blob_arity(int type)
{
    switch (type) {
    case RMIG_RDB_TYPE_HASH_ZIPMAP:
    case RMIG_RDB_TYPE_ZSET_ZIPLIST:
    case RMIG_RDB_TYPE_HASH_ZIPLIST:
    case RMIG_RDB_TYPE_HASH_LISTPACK:
    case RMIG_RDB_TYPE_ZSET_LISTPACK: return 2;
    case RMIG_RDB_TYPE_HASH_LISTPACK_EX_PRE_GA:
    case RMIG_RDB_TYPE_HASH_LISTPACK_EX: return 3;
    default: return 1;
    }
}

int rmig__rdb_value_begin(rmig_rdb *p)
{
    p->ph = PH_START;
    memset(p->n, 0, sizeof p->n);
    p->bph = 0;
    p->elements = 0;
    p->ttl = 0;
    p->has_ttl = 0;
    p->min_expire = 0;
    return 0;
}

/* One record of an iterated blob: field/value/ttl, member/score or item. */
static int blob_step(rmig_rdb *p, rmig_rdb_event *ev)
{
    rmig_blob_val v;
    int arity = blob_arity(p->type);
    int r = rmig_blob_next(&p->it, &v);
    if (r < 0)
        return rmig__rdb_blob_corrupt(p, "an entry that does not fit the blob");
    if (r == 0) {
        if (p->bph != 0)
            return rmig__rdb_blob_corrupt(p, "an odd number of entries");
        rmig__rdb_blob_done(p);
        return 1; /* blob finished */
    }
    int comp = p->bph;
    p->bph = (p->bph + 1) % arity;
    ev->u.piece.off = 0;
    ev->u.piece.total = v.len;
    ev->u.piece.last = 1;
    ev->str = v.s;
    ev->len = v.len;
    switch (p->kind) {
    case RMIG_KIND_LIST:
        p->elements++;
        ev->role = RMIG_RDB_ITEM;
        return RMIG_RDB_EV_STR;
    case RMIG_KIND_SET:
        p->elements++;
        ev->role = RMIG_RDB_MEMBER;
        return RMIG_RDB_EV_STR;
    case RMIG_KIND_ZSET:
        if (comp == 0) {
            p->elements++;
            ev->role = RMIG_RDB_ZMEMBER;
            return RMIG_RDB_EV_STR;
        }
        if (!score_text_ok(v.s, v.len))
            return rmig__rdb_blob_corrupt(p, "a zset score that is not a number");
        ev->str = v.s;
        ev->len = v.len;
        return RMIG_RDB_EV_SCORE;
    default: /* hash */
        if (comp == 0) {
            p->elements++;
            ev->role = RMIG_RDB_FIELD;
            return RMIG_RDB_EV_STR;
        }
        if (comp == 1) {
            ev->role = RMIG_RDB_VALUE;
            return RMIG_RDB_EV_STR;
        }
        int64_t t;
        if (rmig_blob_int(&v, &t) < 0 || t < 0)
            return rmig__rdb_blob_corrupt(p, "a field TTL that is not a number");
        if (t == 0)
            return R_AGAIN;
        ev->u.ttl_ms = t;
        return RMIG_RDB_EV_FIELD_TTL;
    }
}

/* Reads a blob (or skips it when elements are not wanted) and iterates it.
 * Returns an event, R_AGAIN, R_SHORT, an error, or 1 when the blob is done. */
static int blob_phase(rmig_rdb *p, rmig_rdb_event *ev, int kind)
{
    if (p->ph == PH_BLOB) {
        if (!p->want_elems && !p->want_count) {
            int r = rmig__rdb_str(p, ev, 0, 0);
            if (r < 0 && r != R_AGAIN)
                return r;
            return p->str_done ? 1 : r;
        }
        int r = rmig__rdb_blob(p, kind);
        if (r < 0)
            return r;
        p->ph = PH_BLOBITER;
        p->bph = 0;
        if (!p->want_elems) {
            /* counting: walk the whole blob now, checking its structure */
            rmig_blob_val v;
            uint64_t n = 0;
            p->it.no_text = 1;
            while ((r = rmig_blob_next(&p->it, &v)) == 1)
                n++;
            if (r < 0)
                return rmig__rdb_blob_corrupt(p, "an entry that does not fit the blob");
            if (n % (uint64_t)blob_arity(p->type))
                return rmig__rdb_blob_corrupt(p, "an odd number of entries");
            p->elements += n / (uint64_t)blob_arity(p->type);
            rmig__rdb_blob_done(p);
            return 1;
        }
    }
    return blob_step(p, ev);
}

/* Strings one after another: list (1), set (2). */
static int step_plain_seq(rmig_rdb *p, rmig_rdb_event *ev, int role)
{
    if (p->ph == PH_START) {
        cur c = rmig__rdb_cur(p);
        int r = rmig__rdb_len(p, &c, &p->n[0]);
        if (r)
            return r;
        rmig__rdb_take(p, &c);
        p->ph = PH_ITEMS;
    }
    if (p->n[0] == 0) {
        p->ph = PH_END;
        return R_AGAIN;
    }
    int r = rmig__rdb_str(p, ev, role, 1);
    if (p->str_done) {
        p->elements++;
        p->n[0]--;
    }
    return r;
}

/* zset (3) and zset_2 (5): member then score. */
static int step_zset(rmig_rdb *p, rmig_rdb_event *ev)
{
    int r;
    if (p->ph == PH_START) {
        cur c = rmig__rdb_cur(p);
        if ((r = rmig__rdb_len(p, &c, &p->n[0])))
            return r;
        rmig__rdb_take(p, &c);
        p->ph = PH_ITEMS;
    }
    if (p->ph == PH_ITEMS) {
        if (p->n[0] == 0) {
            p->ph = PH_END;
            return R_AGAIN;
        }
        r = rmig__rdb_str(p, ev, RMIG_RDB_ZMEMBER, 1);
        if (p->str_done) {
            p->elements++;
            p->ph = PH_SCORE;
        }
        return r;
    }
    /* PH_SCORE */
    cur c = rmig__rdb_cur(p);
    if (p->type == RMIG_RDB_TYPE_ZSET) {
        if ((r = legacy_double(p, &c, ev)))
            return r;
    } else {
        const uint8_t *b;
        if ((r = rmig__rdb_fixed(p, &c, 8, &b)))
            return r;
        uint64_t u = rmig__le64(b);
        memcpy(&ev->u.score, &u, 8);
        ev->str = NULL;
        ev->len = 0;
    }
    rmig__rdb_take(p, &c);
    p->n[0]--;
    p->ph = PH_ITEMS;
    return emit(p, RMIG_RDB_EV_SCORE);
}

/* Hashes as sequences of strings: 4 (field, value), Redis 22 (ttl, field,
 * value), 24 (minExpire, then relative ttl, field, value), Valkey 22 (field,
 * value, int64 expire). */
static int step_hash_seq(rmig_rdb *p, rmig_rdb_event *ev)
{
    int r;
    int valkey2 = p->type == RMIG_RDB_TYPE_HASH_METADATA_PRE_GA && p->valkey;
    int ttl_first = !valkey2 && (p->type == RMIG_RDB_TYPE_HASH_METADATA_PRE_GA ||
                                 p->type == RMIG_RDB_TYPE_HASH_METADATA);
    cur c = rmig__rdb_cur(p);
    switch (p->ph) {
    case PH_START:
        if (p->type == RMIG_RDB_TYPE_HASH_METADATA) {
            const uint8_t *b;
            if ((r = rmig__rdb_fixed(p, &c, 8, &b)))
                return r;
            p->min_expire = (int64_t)rmig__le64(b);
        }
        if ((r = rmig__rdb_len(p, &c, &p->n[0])))
            return r;
        rmig__rdb_take(p, &c);
        p->ph = PH_ITEMS;
        p->bph = 0;
        return R_AGAIN;
    case PH_ITEMS:
        if (p->n[0] == 0) {
            p->ph = PH_END;
            return R_AGAIN;
        }
        if (ttl_first && p->bph == 0) {
            uint64_t t;
            if ((r = rmig__rdb_len(p, &c, &t)))
                return r;
            rmig__rdb_take(p, &c);
            /* 0 means none; 24 stores it relative to minExpire, plus one */
            p->has_ttl = t != 0;
            if (p->type == RMIG_RDB_TYPE_HASH_METADATA && t)
                p->ttl = (int64_t)(t + (uint64_t)p->min_expire - 1);
            else
                p->ttl = (int64_t)t;
            p->bph = 1;
        }
        r = rmig__rdb_str(p, ev, RMIG_RDB_FIELD, 1);
        if (p->str_done) {
            p->elements++;
            p->ph = PH_HVALUE;
            p->bph = 0;
        }
        return r;
    case PH_HVALUE:
        r = rmig__rdb_str(p, ev, RMIG_RDB_VALUE, 1);
        if (p->str_done) {
            if (valkey2 || ttl_first) {
                p->ph = PH_HTTL;
            } else {
                p->ph = PH_ITEMS;
                p->n[0]--;
            }
        }
        return r;
    default: /* PH_HTTL */
        if (valkey2) {
            /* Valkey: -1 means none; 0 and other values are real times */
            const uint8_t *b;
            if ((r = rmig__rdb_fixed(p, &c, 8, &b)))
                return r;
            rmig__rdb_take(p, &c);
            p->ttl = (int64_t)rmig__le64(b);
            p->has_ttl = p->ttl != -1;
        }
        p->ph = PH_ITEMS;
        p->n[0]--;
        if (!p->has_ttl)
            return R_AGAIN;
        p->has_ttl = 0;
        ev->u.ttl_ms = p->ttl;
        return emit(p, RMIG_RDB_EV_FIELD_TTL);
    }
}

/* Types whose value is one blob: 9..13, 16, 17, 20, 23, and 25 (behind an
 * 8-byte minExpire). */
static int step_blob(rmig_rdb *p, rmig_rdb_event *ev)
{
    if (p->ph == PH_START) {
        if (p->type == RMIG_RDB_TYPE_HASH_LISTPACK_EX) {
            cur c = rmig__rdb_cur(p);
            const uint8_t *b;
            int r = rmig__rdb_fixed(p, &c, 8, &b);
            if (r)
                return r;
            rmig__rdb_take(p, &c);
        }
        p->ph = PH_BLOB;
    }
    int r = blob_phase(p, ev, blob_kind(p->type));
    if (r == 1) {
        p->ph = PH_END;
        return R_AGAIN;
    }
    return r;
}

/* Quicklists: 14 (n ziplists) and 18 (n nodes, each plain or packed). */
static int step_quicklist(rmig_rdb *p, rmig_rdb_event *ev)
{
    int r;
    cur c = rmig__rdb_cur(p);
    switch (p->ph) {
    case PH_START:
        if ((r = rmig__rdb_len(p, &c, &p->n[0])))
            return r;
        rmig__rdb_take(p, &c);
        p->ph = p->type == RMIG_RDB_TYPE_LIST_QUICKLIST ? PH_BLOB : PH_NODE;
        return R_AGAIN;
    case PH_NODE: {
        uint64_t kind;
        if (p->n[0] == 0) {
            p->ph = PH_END;
            return R_AGAIN;
        }
        if ((r = rmig__rdb_len(p, &c, &kind)))
            return r;
        if (kind != 1 && kind != 2)
            return rmig__rdb_fail(p, RMIG_ECORRUPT, rmig__rdb_off(p),
                                  "quicklist node container %llu is neither plain (1) nor packed (2)",
                                  (unsigned long long)kind);
        rmig__rdb_take(p, &c);
        p->container = (int)kind;
        p->ph = kind == 1 ? PH_ITEMS : PH_BLOB;
        return R_AGAIN;
    }
    case PH_ITEMS: /* a plain node: one element */
        r = rmig__rdb_str(p, ev, RMIG_RDB_ITEM, 1);
        if (p->str_done) {
            p->elements++;
            p->n[0]--;
            p->ph = PH_NODE;
        }
        return r;
    default: /* PH_BLOB, PH_BLOBITER */
        if (p->ph == PH_BLOB && p->n[0] == 0) {
            p->ph = PH_END;
            return R_AGAIN;
        }
        r = blob_phase(p, ev, p->type == RMIG_RDB_TYPE_LIST_QUICKLIST ? RMIG_BLOB_ZIPLIST
                                                                       : RMIG_BLOB_LISTPACK);
        if (r == 1) {
            p->n[0]--;
            p->ph = p->type == RMIG_RDB_TYPE_LIST_QUICKLIST ? PH_BLOB : PH_NODE;
            return R_AGAIN;
        }
        return r;
    }
}

/* Decodes a module type id: nine 6-bit characters above a 10-bit encver. */
void rmig__rdb_module_name(uint64_t id, char name[10], int *encver)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    *encver = (int)(id & 1023);
    uint64_t n = id >> 10;
    for (int i = 8; i >= 0; i--) {
        name[i] = set[n & 63];
        n >>= 6;
    }
    name[9] = '\0';
}

static int step_module(rmig_rdb *p, rmig_rdb_event *ev)
{
    if (p->ph == PH_START) {
        cur c = rmig__rdb_cur(p);
        uint64_t id;
        int r = rmig__rdb_len(p, &c, &id);
        if (r)
            return r;
        char name[10];
        int encver;
        rmig__rdb_module_name(id, name, &encver);
        if (p->type == RMIG_RDB_TYPE_MODULE_PRE_GA)
            return rmig__rdb_fail(p, RMIG_EUNSUP, rmig__rdb_off(p),
                                  "value of module '%s' is in the pre-release format (type 6) that "
                                  "only the module itself can read; load the file into Redis 4.0 "
                                  "with the module and save it again",
                                  name);
        rmig__rdb_take(p, &c);
        p->mod.ctx = MOD_VALUE;
        p->ph = PH_MODULE;
        ev->u.module.id = id;
        memcpy(ev->u.module.name, name, sizeof name);
        ev->u.module.encver = encver;
        ev->u.module.when = 0;
        return emit(p, RMIG_RDB_EV_MODULE);
    }
    int r = rmig__rdb_modops(p, ev);
    if (r == 1) {
        p->ph = PH_END;
        return R_AGAIN;
    }
    return r;
}

int rmig__rdb_value_step(rmig_rdb *p, rmig_rdb_event *ev)
{
    if (p->kind == RMIG_KIND_STREAM)
        return rmig__rdb_stream_step(p, ev);
    if (p->ph == PH_END)
        return 1;
    switch (p->type) {
    case RMIG_RDB_TYPE_STRING: {
        int r = rmig__rdb_str(p, ev, RMIG_RDB_STRING, 1);
        if (p->str_done) {
            p->elements++;
            p->ph = PH_END;
        }
        return r;
    }
    case RMIG_RDB_TYPE_LIST: return step_plain_seq(p, ev, RMIG_RDB_ITEM);
    case RMIG_RDB_TYPE_SET: return step_plain_seq(p, ev, RMIG_RDB_MEMBER);
    case RMIG_RDB_TYPE_ZSET:
    case RMIG_RDB_TYPE_ZSET_2: return step_zset(p, ev);
    case RMIG_RDB_TYPE_HASH:
    case RMIG_RDB_TYPE_HASH_METADATA_PRE_GA:
    case RMIG_RDB_TYPE_HASH_METADATA: return step_hash_seq(p, ev);
    case RMIG_RDB_TYPE_MODULE_PRE_GA:
    case RMIG_RDB_TYPE_MODULE_2: return step_module(p, ev);
    case RMIG_RDB_TYPE_LIST_QUICKLIST:
    case RMIG_RDB_TYPE_LIST_QUICKLIST_2: return step_quicklist(p, ev);
    default: return step_blob(p, ev);
    }
}
