/* rdb.c - the RDB parser's buffer, header, opcodes and keys.
 *
 * The contract is in rdb.h and the reading model in rdb_internal.h: records
 * are read whole from the buffer or not at all, so a step that finds too few
 * bytes leaves no trace and is simply tried again after the next feed. The
 * file layout and every opcode are described in shared/docs/RDB-FORMAT.md
 * §2-§3; lengths and strings are read by rdb_read.c, and the value walks
 * live in rdb_value.c and rdb_stream.c.
 *
 * The CRC64 is computed lazily over consumed bytes (when the buffer is
 * compacted, and at the EOF opcode) rather than per record, so it costs one
 * pass of the CRC over the file and nothing per key. */
#include "rdb_internal.h"

#include "crc64.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_RECORD ((size_t)512 << 20)
#define DEFAULT_PIECE ((size_t)256 << 10)
#define DEFAULT_RAW_INLINE ((size_t)1 << 20)

/* Opcodes (RDB-FORMAT.md §3). */
enum {
    OP_SLOT_IMPORT_OR_KEY_META = 243,
    OP_SLOT_INFO = 244,
    OP_FUNCTION2 = 245,
    OP_FUNCTION_PRE_GA = 246,
    OP_MODULE_AUX = 247,
    OP_IDLE = 248,
    OP_FREQ = 249,
    OP_AUX = 250,
    OP_RESIZEDB = 251,
    OP_EXPIRETIME_MS = 252,
    OP_EXPIRETIME = 253,
    OP_SELECTDB = 254,
    OP_EOF = 255,
    OP_ENT_RAM_LRU = 107, /* Redis Enterprise: one length */
    OP_ENT_SLOT_NUM = 121,
};

rmig_rdb *rmig_rdb_new(const rmig_rdb_opts *opts)
{
    rmig_rdb *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (opts)
        p->o = *opts;
    if (!p->o.max_record)
        p->o.max_record = DEFAULT_MAX_RECORD;
    if (!p->o.piece)
        p->o.piece = DEFAULT_PIECE;
    if (p->o.piece > p->o.max_record)
        p->o.piece = p->o.max_record;
    if (!p->o.raw_inline)
        p->o.raw_inline = DEFAULT_RAW_INLINE;
    if (!(p->o.flags & (RMIG_RDB_RAW | RMIG_RDB_ELEMENTS | RMIG_RDB_COUNT | RMIG_RDB_KEYS)))
        p->o.flags |= RMIG_RDB_ELEMENTS;
    p->want_raw = (p->o.flags & RMIG_RDB_RAW) != 0;
    p->want_elems = (p->o.flags & RMIG_RDB_ELEMENTS) != 0;
    p->want_count = (p->o.flags & RMIG_RDB_COUNT) != 0;
    p->state = S_HEADER;
    p->expire_ms = p->idle_s = -1;
    p->freq = -1;
    return p;
}

void rmig_rdb_free(rmig_rdb *p)
{
    if (!p)
        return;
    free(p->buf);
    free(p->key);
    free(p->blobbuf);
    for (int i = 0; i < 3; i++)
        free(p->scratch[i]);
    free(p);
}

const char *rmig_rdb_error(const rmig_rdb *p) { return p->errmsg; }
int rmig_rdb_errcode(const rmig_rdb *p) { return p->err; }
uint64_t rmig_rdb_offset(const rmig_rdb *p) { return p->base + p->rd; }
uint64_t rmig__rdb_off(const rmig_rdb *p) { return p->base + p->rd; }

size_t rmig_rdb_memory(const rmig_rdb *p)
{
    size_t n = sizeof *p + p->cap + p->key_cap + p->blobbuf_cap;
    for (int i = 0; i < 3; i++)
        n += p->scratch_cap[i];
    return n;
}

void rmig_rdb_tail(const rmig_rdb *p, const uint8_t **data, size_t *len)
{
    *data = p->state == S_DONE ? p->buf + p->rd : NULL;
    *len = p->state == S_DONE ? p->wr - p->rd : 0;
}

/* Key names in messages: printable bytes as they are, others as \xNN, cut
 * at 64 bytes. */
static void quote_key(char *out, size_t cap, const uint8_t *k, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        if (i == 64) {
            o += (size_t)snprintf(out + o, cap - o, "...");
            break;
        }
        if (k[i] >= 32 && k[i] < 127 && k[i] != '"' && k[i] != '\\')
            out[o++] = (char)k[i];
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", k[i]);
    }
    out[o] = '\0';
}

int rmig__rdb_fail(rmig_rdb *p, int code, uint64_t off, const char *fmt, ...)
{
    if (p->err)
        return p->err;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->state == S_VALUE) {
        char k[100];
        quote_key(k, sizeof k, p->key, p->key_len);
        snprintf(p->errmsg, sizeof p->errmsg, "offset %llu: %s (key \"%s\", db %llu, type %s)",
                 (unsigned long long)off, msg, k, (unsigned long long)p->db,
                 rmig_rdb_type_name(p->type, p->version));
    } else {
        snprintf(p->errmsg, sizeof p->errmsg, "offset %llu: %s", (unsigned long long)off, msg);
    }
    p->err = code;
    return code;
}

int rmig__rdb_blob_corrupt(rmig_rdb *p, const char *what)
{
    static const char *names[] = {"", "listpack", "ziplist", "intset", "zipmap"};
    return rmig__rdb_fail(p, RMIG_ECORRUPT, p->blob_off, "corrupt %s: %s",
                          names[p->it.kind >= 1 && p->it.kind <= 4 ? p->it.kind : 0], what);
}

/* ---- buffer ---- */

static void crc_sync(rmig_rdb *p)
{
    uint64_t upto = p->base + p->rd;
    if (p->crc_on && p->state != S_CRC && p->state != S_DONE && p->crc_done < upto) {
        p->crc = rmig_crc64(p->crc, p->buf + (p->crc_done - p->base), upto - p->crc_done);
        p->crc_done = upto;
    }
}

/* A blob pinned in the buffer moves to blobbuf before the buffer changes, so
 * the iterators over it stay valid. */
static int unpin_blob(rmig_rdb *p)
{
    if (p->holding != 1)
        return 0;
    const uint8_t *old = p->buf + p->hold;
    if (rmig__rdb_grow(&p->blobbuf, &p->blobbuf_cap, p->blob_len ? p->blob_len : 1) < 0)
        return -1;
    memcpy(p->blobbuf, old, p->blob_len);
    rmig_blob_it *its[] = {&p->it, &p->mf_start, &p->mfields};
    for (int i = 0; i < 3; i++) {
        if (its[i]->p && its[i]->p >= old && its[i]->p <= old + p->blob_len) {
            its[i]->p = p->blobbuf + (its[i]->p - old);
            its[i]->end = p->blobbuf + (its[i]->end - old);
        }
    }
    p->holding = 2;
    return 0;
}

uint8_t *rmig_rdb_space(rmig_rdb *p, size_t want)
{
    if (want == 0)
        want = 1;
    if (p->cap - p->wr >= want)
        return p->buf + p->wr;
    if (unpin_blob(p) < 0)
        return NULL;
    crc_sync(p);
    size_t keep = p->rd;
    if (p->raw_active && p->raw_mark < keep)
        keep = p->raw_mark;
    if (keep) {
        memmove(p->buf, p->buf + keep, p->wr - keep);
        p->rd -= keep;
        p->wr -= keep;
        if (p->raw_active)
            p->raw_mark -= keep;
        p->base += keep;
    }
    if (rmig__rdb_grow(&p->buf, &p->cap, p->wr + want) < 0)
        return NULL;
    return p->buf + p->wr;
}

int rmig_rdb_commit(rmig_rdb *p, size_t len)
{
    if (len > p->cap - p->wr)
        return RMIG_EUSAGE;
    p->wr += len;
    return 0;
}

int rmig_rdb_feed(rmig_rdb *p, const void *data, size_t len)
{
    if (!len)
        return 0;
    uint8_t *dst = rmig_rdb_space(p, len);
    if (!dst)
        return RMIG_ENOMEM;
    memcpy(dst, data, len);
    p->wr += len;
    return 0;
}

void rmig_rdb_finish(rmig_rdb *p) { p->finished = 1; }

/* ---- top level ---- */

static int step_header(rmig_rdb *p, rmig_rdb_event *ev)
{
    if (p->wr - p->rd < 9) {
        p->need = 9;
        return R_SHORT;
    }
    const uint8_t *h = p->buf + p->rd;
    int v = 0, digits;
    if (!memcmp(h, "REDIS", 5)) {
        digits = 4;
        strcpy(ev->u.begin.magic, "REDIS");
    } else if (!memcmp(h, "VALKEY", 6)) {
        digits = 3;
        p->valkey = 1;
        strcpy(ev->u.begin.magic, "VALKEY");
    } else {
        return rmig__rdb_fail(p, RMIG_ECORRUPT, 0,
                              "not an RDB file: it does not start with \"REDIS\" or \"VALKEY\"");
    }
    for (int i = 9 - digits; i < 9; i++) {
        if (h[i] < '0' || h[i] > '9')
            return rmig__rdb_fail(p, RMIG_ECORRUPT, (uint64_t)i, "RDB version is not a number");
        v = v * 10 + (h[i] - '0');
    }
    if (p->valkey ? (v != 80) : (v < 1 || v > 13))
        return rmig__rdb_fail(p, RMIG_EUNSUP, 5,
                              "RDB version %d%s is not supported (rmig reads REDIS0001 to REDIS0013 "
                              "and VALKEY080)",
                              v, p->valkey ? " with the VALKEY magic" : "");
    p->version = v;
    p->rd += 9;
    p->crc_on = v >= 5 && !(p->o.flags & RMIG_RDB_NO_CRC);
    p->state = S_TOP;
    return RMIG_RDB_EV_BEGIN;
}

int rmig_rdb_type_kind(int t)
{
    switch (t) {
    case 0: return RMIG_KIND_STRING;
    case 1: case 10: case 14: case 18: return RMIG_KIND_LIST;
    case 2: case 11: case 20: return RMIG_KIND_SET;
    case 3: case 5: case 12: case 17: return RMIG_KIND_ZSET;
    case 4: case 9: case 13: case 16: case 22: case 23: case 24: case 25: return RMIG_KIND_HASH;
    case 15: case 19: case 21: case 26: return RMIG_KIND_STREAM;
    case 6: case 7: return RMIG_KIND_MODULE;
    }
    return -1;
}

static int known_type(const rmig_rdb *p, int t)
{
    if (p->valkey)
        return t <= 22 && t != 8;
    return t <= 26 && t != 8;
}

static int start_key(rmig_rdb *p, cur *c, int t, rmig_rdb_event *ev)
{
    const uint8_t *s;
    size_t len;
    int r = rmig__rdb_whole_str(p, c, 0, &s, &len);
    if (r)
        return r;
    if (rmig__rdb_grow(&p->key, &p->key_cap, len + 1) < 0)
        return rmig__rdb_fail(p, RMIG_ENOMEM, rmig__rdb_off(p), "out of memory for a key");
    memcpy(p->key, s, len);
    p->key[len] = '\0';
    p->key_len = len;
    p->key_off = rmig__rdb_off(p);
    rmig__rdb_take(p, c);
    p->type = t;
    p->kind = rmig_rdb_type_kind(t);
    p->k_expire = p->expire_ms;
    p->k_idle = p->idle_s;
    p->k_freq = p->freq;
    p->k_meta = p->has_meta;
    p->expire_ms = p->idle_s = -1;
    p->freq = -1;
    p->has_meta = 0;
    p->val_start = rmig__rdb_off(p);
    p->raw_active = p->want_raw;
    p->raw_mark = p->rd;
    p->raw_sent = 0;
    p->pc.active = 0;
    p->mod.in_str = 0;
    p->value_done = 0;
    rmig__rdb_value_begin(p);
    p->state = S_VALUE;
    (void)ev;
    return RMIG_RDB_EV_KEY;
}

static int step_top(rmig_rdb *p, rmig_rdb_event *ev)
{
    cur c = rmig__rdb_cur(p);
    if (c.p >= c.e)
        return R_SHORT;
    int t = *c.p++, r;
    const uint8_t *b;
    uint64_t a, x, y;

    switch (t) {
    case OP_EOF:
        rmig__rdb_take(p, &c);
        crc_sync(p);
        p->eof_end = rmig__rdb_off(p);
        p->state = S_CRC;
        return R_AGAIN;
    case OP_SELECTDB:
        if ((r = rmig__rdb_len(p, &c, &a)))
            return r;
        rmig__rdb_take(p, &c);
        p->db = a;
        return RMIG_RDB_EV_DB;
    case OP_EXPIRETIME:
        if ((r = rmig__rdb_fixed(p, &c, 4, &b)))
            return r;
        rmig__rdb_take(p, &c);
        p->expire_ms = (int64_t)(int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 |
                                          (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24) * 1000;
        return R_AGAIN;
    case OP_EXPIRETIME_MS:
        if ((r = rmig__rdb_fixed(p, &c, 8, &b)))
            return r;
        rmig__rdb_take(p, &c);
        p->expire_ms = (int64_t)rmig__le64(b);
        return R_AGAIN;
    case OP_RESIZEDB:
        if ((r = rmig__rdb_len(p, &c, &a)) || (r = rmig__rdb_len(p, &c, &x)))
            return r;
        rmig__rdb_take(p, &c);
        ev->u.resize.db_size = a;
        ev->u.resize.expires_size = x;
        return RMIG_RDB_EV_RESIZEDB;
    case OP_AUX:
        if ((r = rmig__rdb_whole_str(p, &c, 0, &ev->str, &ev->len)) ||
            (r = rmig__rdb_whole_str(p, &c, 1, &ev->str2, &ev->len2)))
            return r;
        rmig__rdb_take(p, &c);
        return RMIG_RDB_EV_AUX;
    case OP_FREQ:
        if ((r = rmig__rdb_fixed(p, &c, 1, &b)))
            return r;
        rmig__rdb_take(p, &c);
        p->freq = b[0];
        return R_AGAIN;
    case OP_IDLE:
        if ((r = rmig__rdb_len(p, &c, &a)))
            return r;
        rmig__rdb_take(p, &c);
        p->idle_s = (int64_t)(a > INT64_MAX ? INT64_MAX : a);
        return R_AGAIN;
    case OP_MODULE_AUX: {
        uint64_t id, whenop, when;
        if ((r = rmig__rdb_len(p, &c, &id)) || (r = rmig__rdb_len(p, &c, &whenop)))
            return r;
        if (whenop != 2)
            return rmig__rdb_fail(p, RMIG_ECORRUPT, rmig__rdb_off(p),
                                  "module aux data with when-opcode %llu instead of 2",
                                  (unsigned long long)whenop);
        if ((r = rmig__rdb_len(p, &c, &when)))
            return r;
        rmig__rdb_take(p, &c);
        rmig__rdb_module_name(id, ev->u.module.name, &ev->u.module.encver);
        ev->u.module.id = id;
        ev->u.module.when = when;
        p->mod.ctx = MOD_AUX;
        p->mod.in_str = 0;
        p->state = S_MODOPS;
        return RMIG_RDB_EV_MODULE_AUX;
    }
    case OP_FUNCTION_PRE_GA: {
        const uint8_t *desc;
        size_t dlen;
        if ((r = rmig__rdb_whole_str(p, &c, 0, &ev->str2, &ev->len2)) ||
            (r = rmig__rdb_whole_str(p, &c, 1, &ev->u.func.engine, &ev->u.func.engine_len)) ||
            (r = rmig__rdb_len(p, &c, &a)))
            return r;
        if (a && (r = rmig__rdb_whole_str(p, &c, 2, &desc, &dlen)))
            return r;
        if ((r = rmig__rdb_whole_str(p, &c, 2, &ev->str, &ev->len)))
            return r;
        rmig__rdb_take(p, &c);
        ev->u.func.pre_ga = 1;
        return RMIG_RDB_EV_FUNCTION;
    }
    case OP_FUNCTION2:
        if ((r = rmig__rdb_whole_str(p, &c, 0, &ev->str, &ev->len)))
            return r;
        rmig__rdb_take(p, &c);
        ev->str2 = NULL;
        ev->len2 = 0;
        ev->u.func.pre_ga = 0;
        ev->u.func.engine = NULL;
        ev->u.func.engine_len = 0;
        return RMIG_RDB_EV_FUNCTION;
    case OP_SLOT_INFO:
        if ((r = rmig__rdb_len(p, &c, &a)) || (r = rmig__rdb_len(p, &c, &x)) ||
            (r = rmig__rdb_len(p, &c, &y)))
            return r;
        rmig__rdb_take(p, &c);
        ev->u.slot.slot = a;
        ev->u.slot.size = x;
        ev->u.slot.expires = y;
        return RMIG_RDB_EV_SLOT_INFO;
    case OP_SLOT_IMPORT_OR_KEY_META:
        if (p->valkey) {
            /* Valkey 9 SLOT_IMPORT: job name, then n (start, end) slot ranges, read
             * one range per step (S_SLOT_IMPORT) so the record is never re-read whole */
            if ((r = rmig__rdb_whole_str(p, &c, 0, &ev->str, &ev->len)) ||
                (r = rmig__rdb_len(p, &c, &a)))
                return r;
            if (a > 16384)
                return rmig__rdb_fail(p, RMIG_ECORRUPT, rmig__rdb_off(p),
                                      "slot import with %llu ranges (at most 16384)",
                                      (unsigned long long)a);
            rmig__rdb_take(p, &c);
            ev->u.slot_import.ranges = a;
            p->slot_ranges = a;
            p->state = a ? S_SLOT_IMPORT : S_TOP;
            return RMIG_RDB_EV_SLOT_IMPORT;
        }
        if (p->version >= 13) {
            /* Redis 8.6 KEY_META: classes of module metadata for the next key */
            if ((r = rmig__rdb_len(p, &c, &a)))
                return r;
            rmig__rdb_take(p, &c);
            p->has_meta = 1;
            if (a == 0)
                return R_AGAIN;
            p->mod.ctx = MOD_META;
            p->mod.classes = a;
            p->mod.need_spec = 1;
            p->mod.in_str = 0;
            p->state = S_MODOPS;
            return R_AGAIN;
        }
        break;
    case OP_ENT_RAM_LRU:
    case OP_ENT_SLOT_NUM:
        if (p->valkey)
            break;
        if ((r = rmig__rdb_len(p, &c, &a)))
            return r;
        rmig__rdb_take(p, &c);
        return R_AGAIN;
    default:
        if (known_type(p, t))
            return start_key(p, &c, t, ev);
        break;
    }
    return rmig__rdb_fail(p, RMIG_ECORRUPT, rmig__rdb_off(p),
                          "unknown type or opcode %d in an RDB %s%d file", t,
                          p->valkey ? "VALKEY0" : "version ", p->version);
}

static int step_modops(rmig_rdb *p, rmig_rdb_event *ev)
{
    if (p->mod.ctx == MOD_META && p->mod.need_spec) {
        cur c = rmig__rdb_cur(p);
        const uint8_t *b;
        int r = rmig__rdb_fixed(p, &c, 4, &b);
        if (r)
            return r;
        rmig__rdb_take(p, &c);
        p->mod.need_spec = 0;
    }
    int r = rmig__rdb_modops(p, ev);
    if (r != 1)
        return r;
    if (p->mod.ctx == MOD_META && --p->mod.classes) {
        p->mod.need_spec = 1;
        return R_AGAIN;
    }
    p->state = S_TOP;
    return R_AGAIN;
}

static int step_slot_import(rmig_rdb *p)
{
    cur c = rmig__rdb_cur(p);
    uint64_t start, end;
    int r;
    if ((r = rmig__rdb_len(p, &c, &start)) || (r = rmig__rdb_len(p, &c, &end)))
        return r;
    if (start > end || end > 16383)
        return rmig__rdb_fail(p, RMIG_ECORRUPT, rmig__rdb_off(p), "slot import range %llu-%llu is not within 0-16383",
                              (unsigned long long)start, (unsigned long long)end);
    rmig__rdb_take(p, &c);
    if (--p->slot_ranges == 0)
        p->state = S_TOP;
    return R_AGAIN;
}

static int raw_piece(rmig_rdb *p, rmig_rdb_event *ev, size_t n, int last)
{
    ev->role = 0;
    ev->str = p->buf + p->raw_mark;
    ev->len = n;
    ev->u.piece.off = p->raw_sent;
    ev->u.piece.total = last ? p->raw_sent + n : 0;
    ev->u.piece.last = last;
    p->raw_mark += n;
    p->raw_sent += n;
    return RMIG_RDB_EV_RAW;
}

/* Raw pieces go out in parts of exactly raw_inline bytes at fixed offsets
 * (the last one shorter), as soon as that much is pending, so the buffer
 * never holds more than raw_inline bytes of a value besides the record being
 * read. Where a RAW event falls among element events can depend on how the
 * input was split; the pieces themselves do not. */
static int step_value(rmig_rdb *p, rmig_rdb_event *ev)
{
    if (p->raw_active && p->rd - p->raw_mark > p->o.raw_inline)
        return raw_piece(p, ev, p->o.raw_inline, 0);
    int r = p->value_done ? 1 : rmig__rdb_value_step(p, ev);
    if (r != 1)
        return r;
    p->value_done = 1;
    if (p->raw_active && p->rd > p->raw_mark) {
        size_t n = p->rd - p->raw_mark;
        return raw_piece(p, ev, n > p->o.raw_inline ? p->o.raw_inline : n, n <= p->o.raw_inline);
    }
    ev->u.end.raw_len = rmig__rdb_off(p) - p->val_start;
    ev->u.end.elements = p->elements;
    ev->u.end.has_meta = p->k_meta;
    p->raw_active = 0;
    p->state = S_TOP;
    return RMIG_RDB_EV_KEY_END;
}

static int step_crc(rmig_rdb *p, rmig_rdb_event *ev)
{
    if (p->version < 5) {
        ev->u.eof.checked = -1;
        ev->u.eof.crc = 0;
        p->state = S_DONE;
        return RMIG_RDB_EV_EOF;
    }
    cur c = rmig__rdb_cur(p);
    const uint8_t *b;
    int r = rmig__rdb_fixed(p, &c, 8, &b);
    if (r)
        return r;
    uint64_t stored = rmig__le64(b);
    ev->u.eof.crc = stored;
    if (stored == 0) {
        ev->u.eof.checked = 0;
    } else if (!p->crc_on) {
        ev->u.eof.checked = -2;
    } else if (stored != p->crc) {
        return rmig__rdb_fail(p, RMIG_ECRC, p->eof_end,
                              "CRC64 mismatch: the file says %016llx, its bytes give %016llx",
                              (unsigned long long)stored, (unsigned long long)p->crc);
    } else {
        ev->u.eof.checked = 1;
    }
    rmig__rdb_take(p, &c);
    p->state = S_DONE;
    return RMIG_RDB_EV_EOF;
}

static const char *context(const rmig_rdb *p)
{
    switch (p->state) {
    case S_HEADER: return "the header";
    case S_VALUE: return "a value";
    case S_MODOPS: return "module data";
    case S_SLOT_IMPORT: return "a slot import record";
    case S_CRC: return "the CRC64 trailer";
    default: return "a record (no EOF opcode was found)";
    }
}

int rmig_rdb_next(rmig_rdb *p, rmig_rdb_event *ev)
{
    if (p->err)
        return p->err;
    if (p->state == S_DONE)
        return RMIG_RDB_NEED_MORE;
    if (p->need && p->wr - p->rd < p->need && !p->finished)
        return RMIG_RDB_NEED_MORE;
    p->need = 0;
    for (;;) {
        uint64_t off = rmig__rdb_off(p);
        int r;
        switch (p->state) {
        case S_HEADER: r = step_header(p, ev); break;
        case S_TOP: r = step_top(p, ev); break;
        case S_VALUE: r = step_value(p, ev); break;
        case S_MODOPS: r = step_modops(p, ev); break;
        case S_SLOT_IMPORT: r = step_slot_import(p); break;
        case S_CRC: r = step_crc(p, ev); break;
        default: return RMIG_RDB_NEED_MORE;
        }
        if (r > 0) {
            int in_key = p->state == S_VALUE || r == RMIG_RDB_EV_KEY_END;
            ev->type = r;
            ev->offset = r == RMIG_RDB_EV_KEY ? p->key_off : off;
            ev->version = p->version;
            ev->db = p->db;
            ev->key = in_key ? p->key : NULL;
            ev->key_len = in_key ? p->key_len : 0;
            ev->rdb_type = in_key ? p->type : -1;
            ev->kind = in_key ? p->kind : -1;
            ev->expire_ms = in_key ? p->k_expire : -1;
            ev->idle_s = in_key ? p->k_idle : -1;
            ev->freq = in_key ? p->k_freq : -1;
            return r;
        }
        if (r == R_AGAIN)
            continue;
        if (r == R_SHORT) {
            if (p->finished)
                return rmig__rdb_fail(p, RMIG_ETRUNC, off,
                                      "the input ends inside %s (%zu bytes left unread)",
                                      context(p), p->wr - p->rd);
            return RMIG_RDB_NEED_MORE;
        }
        return r;
    }
}

const char *rmig_rdb_kind_name(int kind)
{
    static const char *names[] = {"string", "list", "set", "zset", "hash", "stream", "module"};
    return kind >= 0 && kind < RMIG_KIND_COUNT ? names[kind] : "unknown";
}

const char *rmig_rdb_type_name(int t, int version)
{
    static const char *names[] = {
        "STRING", "LIST", "SET", "ZSET", "HASH", "ZSET_2", "MODULE_PRE_GA", "MODULE_2", "?",
        "HASH_ZIPMAP", "LIST_ZIPLIST", "SET_INTSET", "ZSET_ZIPLIST", "HASH_ZIPLIST",
        "LIST_QUICKLIST", "STREAM_LISTPACKS", "HASH_LISTPACK", "ZSET_LISTPACK",
        "LIST_QUICKLIST_2", "STREAM_LISTPACKS_2", "SET_LISTPACK", "STREAM_LISTPACKS_3",
        "HASH_METADATA_PRE_GA", "HASH_LISTPACK_EX_PRE_GA", "HASH_METADATA", "HASH_LISTPACK_EX",
        "STREAM_LISTPACKS_4"};
    if (t == 22 && version >= 80)
        return "HASH_2";
    return t >= 0 && t <= 26 ? names[t] : "?";
}
