/* scan_big.c - rmig.source.scan: a key using more than source.big_bytes
 * on its server, copied in chunks instead of one DUMP.
 *
 * One DUMP of a million-element hash blocks the source while it serializes
 * tens of MiB and makes rmig hold them whole. Such a key is read in pieces
 * instead (GETRANGE, LRANGE, HSCAN, SSCAN, ZSCAN, XRANGE; COUNT = source
 * count elements a piece), each piece becoming a command entry for the
 * target: DEL first, then SETRANGE / RPUSH / HSET / SADD / ZADD / XADD, then
 * PEXPIREAT. The next piece is asked only when the target has room, so
 * memory stays bounded by one piece.
 *
 * A copy in pieces is not atomic: a key that changes meanwhile may arrive
 * mixed. With live = true the change's notification reads the key again,
 * and that read waits until this copy has ended (rmig__big_busy), so the
 * last copy is the current one; without live, a key changing during the
 * scan arrives as some state of it, as with any SCAN. Streams: entries,
 * last id (with entries-added and max-deleted-id on 7.0 targets) and
 * consumer groups with their last-delivered id; the groups' pending
 * entries and consumers are not copied. One key per server at a time.
 *
 * For `rmig verify` the same pieces are read, but folded into the source's
 * fingerprint (verify_big.c compares it with the target's copy read in
 * pieces too) instead of written; a stream is read with one DUMP. */
#include "scan_internal.h"
#include "verify_internal.h"

#include "resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_PIECE ((uint64_t)4 << 20)
#define PIECE_FACTOR 8

static int same(const bigkey *b, uint64_t db, const char *key, size_t len)
{
    return b->active && b->db == db && b->len == len && !memcmp(b->key, key, len);
}

static tkey *queued(snode *n, uint64_t db, const char *key, size_t len)
{
    for (tkey *k = n->bq_head; k; k = k->next)
        if (k->db == db && k->len == len && !memcmp(k->key, key, len))
            return k;
    return NULL;
}

int rmig__big_busy(snode *n, uint64_t db, const char *key, size_t len)
{
    if (same(&n->big, db, key, len)) {
        n->big.again = 1;
        return 1;
    }
    return queued(n, db, key, len) != NULL; /* (its copy starts later and reads it as it is then) */
}

void rmig__big_queue(snode *n, uint64_t db, const char *key, size_t len, unsigned flags)
{
    if (rmig__big_busy(n, db, key, len))
        return;
    tkey *k = rmig__tkey_new(db, key, len);
    if (!k) {
        rmig__scan_fail(n->r, "out of memory");
        return;
    }
    k->flags = flags;
    if (n->bq_tail)
        n->bq_tail->next = k;
    else
        n->bq_head = k;
    n->bq_tail = k;
    rmig__run_start_idle(n->r);
}

int rmig__big_idle(const snode *n) { return !n->big.active && !n->bq_head; }

/* ---- the commands ---- */

static void bsend(snode *n, int kind, int argc, const char *const *argv, const size_t *lens)
{
    rmig_redis_select(n->c, n->big.db);
    rmig_out *o = rmig_redis_out(n->c);
    rmig_resp_array(o, (size_t)argc);
    for (int i = 0; i < argc; i++)
        rmig_resp_bulk(o, argv[i], lens[i]);
    rmig_redis_done(n->c, T_MAKE(kind, n->big.flags, n->big.db) | (uint64_t)(n->big.gen & 0xff) << 16);
}

/* Elements asked per piece: PIECE_FACTOR times source.count. One piece
 * per round trip (a cursor comes with each), so pieces much bigger than
 * SCAN pages keep a big key's copy from being all latency; the source
 * works about as long on one as on a page's DUMPs. */
static long piece_elements(const snode *n) { return n->s->count * PIECE_FACTOR; }

/* Asks for the key's next piece. */
static void ask(snode *n)
{
    bigkey *b = &n->big;
    char a[32], z[32], count[24];
    snprintf(count, sizeof count, "%ld", piece_elements(n));
    const char *argv[6];
    size_t lens[6];
    int argc = 0;
#define ARG(s, l) (argv[argc] = (s), lens[argc++] = (l))
    switch (b->type) {
    case 's':
        snprintf(a, sizeof a, "%llu", (unsigned long long)b->pos);
        snprintf(z, sizeof z, "%llu", (unsigned long long)(b->pos + STR_PIECE - 1));
        ARG("GETRANGE", 8), ARG(b->key, b->len), ARG(a, strlen(a)), ARG(z, strlen(z));
        break;
    case 'l':
        snprintf(a, sizeof a, "%llu", (unsigned long long)b->pos);
        snprintf(z, sizeof z, "%llu", (unsigned long long)(b->pos + (uint64_t)piece_elements(n) - 1));
        ARG("LRANGE", 6), ARG(b->key, b->len), ARG(a, strlen(a)), ARG(z, strlen(z));
        break;
    case 'h':
    case 'S':
    case 'z':
        ARG(b->type == 'h' ? "HSCAN" : b->type == 'S' ? "SSCAN" : "ZSCAN", 5), ARG(b->key, b->len);
        ARG(b->cursor, strlen(b->cursor)), ARG("COUNT", 5), ARG(count, strlen(count));
        break;
    case 'x':
        ARG("XRANGE", 6), ARG(b->key, b->len), ARG(b->cursor, strlen(b->cursor)), ARG("+", 1);
        ARG("COUNT", 5), ARG(count, strlen(count));
        break;
    }
#undef ARG
    bsend(n, T_BCHUNK, argc, argv, lens);
    b->pos |= (uint64_t)1 << 63; /* a piece is out (cleared by its reply) */
}

static int pending_piece(const bigkey *b) { return (b->pos >> 63) != 0; }

void rmig__big_pump(snode *n)
{
    bigkey *b = &n->big;
    if (!n->ready || n->r->failed)
        return;
    if (!b->active && n->bq_head) {
        tkey *k = n->bq_head;
        n->bq_head = k->next;
        if (!n->bq_head)
            n->bq_tail = NULL;
        free(b->key);
        free(b->tkey);
        *b = (bigkey){.db = k->db, .len = k->len, .flags = k->flags, .active = 1, .pttl = -3, .gen = b->gen + 1};
        b->key = malloc(k->len ? k->len : 1);
        if (!b->key) {
            free(k);
            rmig__scan_fail(n->r, "out of memory");
            return;
        }
        memcpy(b->key, k->key, k->len);
        free(k);
        const char *argv[2] = {"TYPE", b->key};
        size_t lens[2] = {4, b->len};
        bsend(n, T_BTYPE, 2, argv, lens);
        argv[0] = "PTTL";
        bsend(n, T_BPTTL, 2, argv, lens);
        return;
    }
    if (b->active && b->type && b->pttl != -3 && !pending_piece(b) && rmig__run_room(n->r))
        ask(n);
}

/* A command of the copy, to the target's key (the nodes saw the key
 * once, at its start: its pieces go straight on). */
static int emit(snode *n, int argc, const char **argv, size_t *lens)
{
    bigkey *b = &n->big;
    uint32_t at = argv[0][0] == 'X' && argv[0][1] == 'G' ? 2 : 1; /* XGROUP CREATE key */
    argv[at] = b->tkey;
    lens[at] = b->tlen;
    n->chunk_cmds++;
    return rmig__scan_write(n->r, b->tdb, (uint32_t)argc, argv, lens, at);
}

static uint64_t target_reconnects(runner *r)
{
    uint64_t rec = 0, torn = 0;
    if (r->clus)
        rmig__cluster_counts(r, &rec, &torn);
    else if (r->w0.c)
        rec = rmig_redis_reconnects(r->w0.c);
    return rec;
}

/* The key as an entry through the pipeline's nodes (STREAMED: its value is
 * not held), as the RDB source does for a value too big to hold: a node
 * may drop it (1), rename it, move it to another db or change its expiry,
 * which the copy then follows. 0, 1, or -1 with r->err. */
static int header(snode *n)
{
    static const int rdb_types[] = {['s'] = 0, ['l'] = 14, ['S'] = 2, ['z'] = 5, ['h'] = 4, ['x'] = 15};
    static const int kinds[] = {['s'] = RMIG_KIND_STRING, ['l'] = RMIG_KIND_LIST, ['S'] = RMIG_KIND_SET,
                                ['z'] = RMIG_KIND_ZSET, ['h'] = RMIG_KIND_HASH, ['x'] = RMIG_KIND_STREAM};
    runner *r = n->r;
    bigkey *b = &n->big;
    if (rmig__run_flush_batch(r) < 0)
        return -1;
    rmig_entry *e = rmig_batch_add(&r->b);
    if (!e)
        return -1;
    e->kind = RMIG_ENTRY_KEY;
    e->flags = RMIG_ENTRY_STREAMED;
    e->db = b->db;
    e->key = rmig_batch_copy(&r->b, b->key, b->len);
    e->key_len = (uint32_t)b->len;
    e->type = kinds[b->type];
    e->rdb_type = rdb_types[b->type];
    e->rdb_version = r->source_version;
    e->expire_ms = b->pttl >= 0 ? rmig__run_now_ms() + b->pttl : -1;
    e->idle_s = -1;
    e->freq = -1;
    if (e->key && r->vf)
        rmig__verify_before_steps(r); /* (its name before the nodes) */
    if (!e->key || rmig_steps_run(r->steps, &r->b, rmig__run_now_ms(), r->err, sizeof r->err) < 0 ||
        rmig__run_write_entries(r, 1) < 0) /* (entries the nodes emitted) */
        return -1;
    e = &r->b.e[0];
    int dropped = (e->flags & RMIG_ENTRY_DROPPED) != 0;
    if (dropped) {
        r->dropped++;
    } else if (r->proxy_dbm && rmig__dbmap_apply(r, r->proxy_dbm, e) < 0) {
        return -1;
    } else if (r->vf) {
        /* verify: the pieces make the source's fingerprint while the
         * target's copy is read (verify_big.c) */
        int rc = r->clus ? rmig__cluster_route(r, e) : 0;
        if (rc == 0 && !(b->vx = rmig__verify_big_scan_begin(r, e, b->db, b->key, b->len)))
            rc = -1;
        if (rc < 0)
            return -1;
    } else {
        b->tkey = malloc(e->key_len ? e->key_len : 1);
        if (!b->tkey) {
            snprintf(r->err, sizeof r->err, "out of memory");
            return -1;
        }
        memcpy(b->tkey, e->key, e->key_len);
        b->tlen = e->key_len;
        b->tdb = e->db;
        b->texpire = e->expire_ms;
        b->reconnects = target_reconnects(r);
    }
    rmig_batch_reset(&r->b);
    return dropped;
}

/* The copy ended (or the key was gone): its expiry, counts, the next. */
static int done(snode *n, int gone)
{
    bigkey *b = &n->big;
    runner *r = n->r;
    int rc = 0;
    if (b->vx) {
        /* verify: the source's fingerprint is complete (or the key went) */
        rc = rmig__verify_big_scan_end(r, b->vx, gone);
        b->vx = NULL;
        r->read += !gone;
    } else if (gone) {
        if (b->flags & T_TAIL) {
            const char *argv[2] = {"DEL", b->key};
            size_t lens[2] = {3, b->len};
            n->deleted++;
            rc = rmig__scan_emit(r, b->db, 2, argv, lens, 1);
        } else {
            n->vanished++;
        }
    } else {
        if (b->texpire >= 0) {
            /* the expiry read when the copy began, as an instant: the
             * copy's length does not lengthen it */
            char at[32];
            snprintf(at, sizeof at, "%lld", (long long)b->texpire);
            const char *argv[3] = {"PEXPIREAT", b->key, at};
            size_t lens[3] = {9, b->len, strlen(at)};
            rc = emit(n, 3, argv, lens);
        }
        n->chunked++;
        r->read++;
        r->written++; /* (a piece the target refuses counts the key failed as well) */
        if (target_reconnects(r) != b->reconnects)
            b->again = 1; /* a piece may have been applied twice (RPUSH): the copy again, from its DEL */
    }
    int again = b->again;
    b->active = 0;
    if (again && rc == 0)
        rmig__scan_read(n, b->db, b->key, b->len, T_TAIL); /* changed while it was copied */
    rmig__run_start_idle(r);
    return rc;
}

/* After the last piece: is the key still there, of the same type (and
 * a string as long)? T_BEND / T_BLEN answer. */
static void finish(snode *n)
{
    bigkey *b = &n->big;
    const char *argv[2] = {"TYPE", b->key};
    size_t lens[2] = {4, b->len};
    bsend(n, T_BEND, 2, argv, lens);
    if (b->type == 's') {
        argv[0] = "STRLEN";
        lens[0] = 6;
        bsend(n, T_BLEN, 2, argv, lens);
    }
    b->pos |= (uint64_t)1 << 63; /* (no more pieces asked) */
}

/* One piece of elements as commands of `cmd` (HSET, SADD, RPUSH, ZADD),
 * els[0..nel) taken `per` at a time, in groups of at most count elements. */
static int emit_elements(snode *n, const char *cmd, const redisReply *const *els, size_t nel, int zset)
{
    bigkey *b = &n->big;
    if (!nel)
        return 0;
    size_t argc = 2 + nel;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    if (!argv || !lens) {
        free(argv);
        free(lens);
        snprintf(n->r->err, sizeof n->r->err, "out of memory");
        return -1;
    }
    argv[0] = cmd, lens[0] = strlen(cmd);
    argv[1] = b->key, lens[1] = b->len;
    for (size_t i = 0; i < nel; i++) {
        /* ZSCAN gives member, score; ZADD takes score, member */
        const redisReply *e = els[zset ? (i ^ 1) : i];
        argv[2 + i] = e->str;
        lens[2 + i] = e->len;
    }
    int rc = emit(n, (int)argc, argv, lens);
    free(argv);
    free(lens);
    return rc;
}

/* The value of field `name` in a flat XINFO reply, or NULL. */
static const redisReply *field(const redisReply *rep, const char *name)
{
    if (rep->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < rep->elements; i += 2)
        if (rep->element[i]->type == REDIS_REPLY_STRING && rep->element[i]->len == strlen(name) &&
            !memcmp(rep->element[i]->str, name, rep->element[i]->len))
            return rep->element[i + 1];
    return NULL;
}

/* A field's value as text (strings, integers). */
static size_t text(const redisReply *v, char *buf, size_t cap, const char **p)
{
    if (!v)
        return 0;
    if (v->type == REDIS_REPLY_INTEGER) {
        *p = buf;
        return (size_t)snprintf(buf, cap, "%lld", v->integer);
    }
    if (v->type == REDIS_REPLY_STRING || v->type == REDIS_REPLY_STATUS) {
        *p = v->str;
        return v->len;
    }
    return 0;
}

static int stream_info(snode *n, const redisReply *rep)
{
    bigkey *b = &n->big;
    int v7 = n->r->target_version >= 10;
    char ib[32], mb[32];
    const char *last = NULL, *added = NULL, *maxdel = NULL;
    size_t ll = text(field(rep, "last-generated-id"), NULL, 0, &last);
    size_t al = text(field(rep, "entries-added"), ib, sizeof ib, &added);
    size_t ml = text(field(rep, "max-deleted-entry-id"), mb, sizeof mb, &maxdel);
    if (!ll)
        return 0;
    if (b->entries == 0) {
        /* an empty stream: made by an entry trimmed away at once */
        const char *argv[7] = {"XADD", b->key, "MAXLEN", "0", last, "f", "v"};
        size_t lens[7] = {4, b->len, 6, 1, ll, 1, 1};
        if (emit(n, 7, argv, lens) < 0)
            return -1;
    }
    const char *argv[7] = {"XSETID", b->key, last, "ENTRIESADDED", added, "MAXDELETEDID", maxdel};
    size_t lens[7] = {6, b->len, ll, 12, al, 12, ml};
    return emit(n, v7 && al && ml ? 7 : 3, argv, lens);
}

static int stream_groups(snode *n, const redisReply *rep)
{
    bigkey *b = &n->big;
    int v7 = n->r->target_version >= 10;
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const redisReply *g = rep->element[i];
        char rb[32];
        const char *name = NULL, *id = NULL, *read = NULL;
        size_t nl = text(field(g, "name"), NULL, 0, &name), il = text(field(g, "last-delivered-id"), NULL, 0, &id);
        size_t rl = text(field(g, "entries-read"), rb, sizeof rb, &read);
        if (!nl || !il)
            continue;
        const char *argv[7] = {"XGROUP", "CREATE", b->key, name, id, "ENTRIESREAD", read};
        size_t lens[7] = {6, 6, b->len, nl, il, 11, rl};
        if (emit(n, v7 && rl ? 7 : 5, argv, lens) < 0)
            return -1;
    }
    return 0;
}

/* verify: a piece's elements into the source's fingerprint. -2 for a
 * reply of another shape; otherwise 1 at the last piece, else 0. */
static int digest_piece(snode *n, const redisReply *rep)
{
    bigkey *b = &n->big;
    rmig_vdigest *d = b->vx->svd;
    switch (b->type) {
    case 's':
        if (rep->type != REDIS_REPLY_STRING)
            return -2;
        rmig_vdigest_string(d, rep->str, rep->len);
        b->pos += rep->len;
        return rep->len < STR_PIECE;
    case 'l':
        if (rep->type != REDIS_REPLY_ARRAY)
            return -2;
        for (size_t i = 0; i < rep->elements; i++)
            rmig_vdigest_item(d, rep->element[i]->str, rep->element[i]->len);
        b->pos += rep->elements;
        return rep->elements < (size_t)piece_elements(n);
    default: {
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[1]->type != REDIS_REPLY_ARRAY)
            return -2;
        const redisReply *els = rep->element[1];
        for (size_t i = 0; i < els->elements; i++) {
            const redisReply *a = els->element[i];
            if (b->type == 'S') {
                rmig_vdigest_member(d, a->str, a->len);
            } else if (i + 1 < els->elements) {
                const redisReply *v = els->element[++i];
                if (b->type == 'h') {
                    rmig_vdigest_field(d, a->str, a->len, v->str, v->len);
                } else {
                    rmig_vdigest_zmember_text(d, a->str, a->len, v->str, v->len);
                }
            }
        }
        snprintf(b->cursor, sizeof b->cursor, "%.*s", (int)rep->element[0]->len, rep->element[0]->str);
        return !strcmp(b->cursor, "0");
    }
    }
}

/* A piece: its commands (or, for verify, its digest), and where the next
 * one starts (or the end). */
static int piece(snode *n, const redisReply *rep)
{
    bigkey *b = &n->big;
    b->pos &= ~((uint64_t)1 << 63);
    int end = 0;
    if (b->vx) {
        if ((end = digest_piece(n, rep)) < 0)
            return end;
        if (end)
            finish(n);
        return 0;
    }
    switch (b->type) {
    case 's': {
        if (rep->type != REDIS_REPLY_STRING)
            return -2;
        if (rep->len) {
            char at[32];
            snprintf(at, sizeof at, "%llu", (unsigned long long)b->pos);
            const char *argv[4] = {"SETRANGE", b->key, at, rep->str};
            size_t lens[4] = {8, b->len, strlen(at), rep->len};
            if (emit(n, 4, argv, lens) < 0)
                return -1;
        }
        b->pos += rep->len;
        end = rep->len < STR_PIECE;
        break;
    }
    case 'l':
        if (rep->type != REDIS_REPLY_ARRAY)
            return -2;
        if (emit_elements(n, "RPUSH", (const redisReply *const *)rep->element, rep->elements, 0) < 0)
            return -1;
        b->pos += rep->elements;
        end = rep->elements < (size_t)piece_elements(n);
        break;
    case 'h':
    case 'S':
    case 'z': {
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[1]->type != REDIS_REPLY_ARRAY)
            return -2;
        const redisReply *els = rep->element[1];
        /* (a target before Redis 4.0 takes one field per HSET) */
        const char *hset = n->r->target_version && n->r->target_version < 8 ? "HMSET" : "HSET";
        if (emit_elements(n, b->type == 'h' ? hset : b->type == 'S' ? "SADD" : "ZADD",
                          (const redisReply *const *)els->element, b->type == 'S' ? els->elements : els->elements & ~(size_t)1,
                          b->type == 'z') < 0)
            return -1;
        snprintf(b->cursor, sizeof b->cursor, "%.*s", (int)rep->element[0]->len, rep->element[0]->str);
        end = !strcmp(b->cursor, "0");
        break;
    }
    case 'x':
        if (rep->type != REDIS_REPLY_ARRAY)
            return -2;
        for (size_t i = 0; i < rep->elements; i++) {
            const redisReply *en = rep->element[i];
            if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 || en->element[0]->type != REDIS_REPLY_STRING)
                continue;
            const redisReply *fv = en->element[1];
            size_t nf = fv->type == REDIS_REPLY_ARRAY ? fv->elements : 0;
            const char **argv = malloc((3 + nf) * sizeof *argv);
            size_t *lens = malloc((3 + nf) * sizeof *lens);
            if (!argv || !lens) {
                free(argv);
                free(lens);
                return -1;
            }
            argv[0] = "XADD", lens[0] = 4;
            argv[1] = b->key, lens[1] = b->len;
            argv[2] = en->element[0]->str, lens[2] = en->element[0]->len;
            for (size_t j = 0; j < nf; j++)
                argv[3 + j] = fv->element[j]->str, lens[3 + j] = fv->element[j]->len;
            int rc = emit(n, (int)(3 + nf), argv, lens);
            free(argv);
            free(lens);
            if (rc < 0)
                return -1;
            b->entries++;
            /* the next piece starts after this id: ms-(seq+1) (the
             * exclusive "(id" form needs 6.2) */
            unsigned long long ms = 0, seq = 0;
            if (sscanf(en->element[0]->str, "%llu-%llu", &ms, &seq) == 2) {
                if (seq == UINT64_MAX)
                    ms++, seq = 0;
                else
                    seq++;
            }
            snprintf(b->cursor, sizeof b->cursor, "%llu-%llu", ms, seq);
        }
        if (rep->elements < (size_t)piece_elements(n)) {
            /* the entries are copied: the stream's last id, then its groups */
            const char *argv[3] = {"XINFO", "STREAM", b->key};
            size_t lens[3] = {5, 6, b->len};
            bsend(n, T_BXINFO, 3, argv, lens);
            b->pos |= (uint64_t)1 << 63;
        }
        return 0;
    }
    if (end)
        finish(n);
    return 0;
}

/* verify: the key went or changed type while it was read: not compared
 * (a key read again is compared as that read finds it). 0, or -1. */
static int abandon(snode *n)
{
    bigkey *b = &n->big;
    int rc = b->vx ? rmig__verify_big_scan_end(n->r, b->vx, 1) : 0;
    b->vx = NULL;
    return rc;
}

void rmig__big_reply(snode *n, uint64_t tag, const redisReply *rep)
{
    bigkey *b = &n->big;
    runner *r = n->r;
    int kind = T_KIND(tag), rc = 0;
    if (!b->active || T_GEN(tag) != (b->gen & 0xff))
        return; /* (a reply of a copy abandoned before it was answered) */
    if (rep->type == REDIS_REPLY_ERROR) {
        if (rep->len >= 9 && !memcmp(rep->str, "WRONGTYPE", 9) && kind != T_BTYPE) {
            /* the key became another type while it was copied: read it
             * again from the start (as a notified key: gone means DEL) */
            rc = abandon(n);
            b->active = 0;
            rmig__scan_read(n, b->db, b->key, b->len, T_TAIL);
            rmig__run_start_idle(r);
        } else if ((kind == T_BXINFO || kind == T_BXGROUPS) && strstr(rep->str, "no such key")) {
            finish(n); /* the stream went meanwhile: its end check deletes the pieces */
            return;
        } else if (!strncmp(rep->str, "MOVED ", 6) || !strncmp(rep->str, "ASK ", 4)) {
            /* a cluster source's slot moved away: the key is read whole
             * on its new master, and that copy replaces the pieces sent */
            rc = abandon(n);
            b->active = 0;
            rmig__scan_redirect(n, b->db, b->key, b->len, b->flags | T_TAIL, rep->str, rep->len);
            rmig__run_start_idle(r);
        } else {
            rmig__scan_fail(r, "source %s:%d refused a command copying key '%.*s' in chunks: %.*s", n->host, n->port,
                            (int)(b->len < 100 ? b->len : 100), b->key, (int)(rep->len < 300 ? rep->len : 300),
                            rep->str);
            return;
        }
    } else if (kind == T_BTYPE) {
        const char *t = rep->type == REDIS_REPLY_STATUS ? rep->str : "none";
        b->type = !strcmp(t, "string") ? 's' : !strcmp(t, "list") ? 'l' : !strcmp(t, "hash") ? 'h'
                : !strcmp(t, "set") ? 'S' : !strcmp(t, "zset") ? 'z' : !strcmp(t, "stream") ? 'x' : 0;
        if (!strcmp(t, "none")) {
            b->type = 0;
        } else if (r->vf && b->type == 'x') {
            /* verify: a stream is compared whole (its entries, ids and
             * groups), as the target's copy is read: one DUMP */
            b->active = 0;
            rmig__scan_read(n, b->db, b->key, b->len, b->flags | T_WHOLE);
            rmig__run_start_idle(r);
            return;
        } else if (!b->type) {
            rmig__scan_fail(r, "source %s:%d: key '%.*s' of type %s is too big for one DUMP (source.big_bytes) and has "
                            "no chunked copy: raise big_bytes", n->host, n->port, (int)(b->len < 100 ? b->len : 100),
                            b->key, t);
            return;
        }
        snprintf(b->cursor, sizeof b->cursor, b->type == 'x' ? "-" : "0");
    } else if (kind == T_BPTTL) {
        b->pttl = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
        if (!b->type || b->pttl == -2) {
            rc = done(n, 1);
        } else if ((rc = header(n)) == 1) {
            b->active = 0; /* a node dropped it */
            rc = 0;
        } else if (rc == 0 && !b->vx) {
            const char *argv[2] = {"DEL", b->key};
            size_t lens[2] = {3, b->len};
            rc = emit(n, 2, argv, lens); /* the target's old copy goes; the pieces build it anew */
        }
    } else if (kind == T_BCHUNK) {
        rc = piece(n, rep);
        if (rc == -2) {
            rmig__scan_fail(r, "source %s:%d: an unexpected reply copying key '%.*s' in chunks", n->host, n->port,
                            (int)(b->len < 100 ? b->len : 100), b->key);
            return;
        }
    } else if (kind == T_BXINFO) {
        rc = stream_info(n, rep);
        const char *argv[3] = {"XINFO", "GROUPS", b->key};
        size_t lens[3] = {5, 6, b->len};
        if (rc == 0)
            bsend(n, T_BXGROUPS, 3, argv, lens);
    } else if (kind == T_BXGROUPS) {
        b->pos &= ~((uint64_t)1 << 63);
        rc = stream_groups(n, rep);
        if (rc == 0)
            finish(n);
    } else if (kind == T_BEND) {
        /* the key after its last piece: gone, or another type, meanwhile
         * (a piece of a missing key reads as empty, like the end) */
        const char *t = rep->type == REDIS_REPLY_STATUS ? rep->str : "none";
        static const char *names[] = {['s'] = "string", ['l'] = "list", ['h'] = "hash", ['S'] = "set",
                                      ['z'] = "zset", ['x'] = "stream"};
        if (!strcmp(t, "none") && b->vx) {
            rc = done(n, 1);
        } else if (!strcmp(t, "none")) {
            /* the pieces written go too */
            const char *argv[2] = {"DEL", b->key};
            size_t lens[2] = {3, b->len};
            rc = emit(n, 2, argv, lens);
            if (b->flags & T_TAIL)
                n->deleted++;
            else
                n->vanished++;
            b->active = 0;
            rmig__run_start_idle(r);
        } else if (strcmp(t, names[b->type])) {
            rc = abandon(n);
            b->active = 0;
            rmig__scan_read(n, b->db, b->key, b->len, T_TAIL);
            rmig__run_start_idle(r);
        } else if (b->type != 's') {
            rc = done(n, 0);
        }
    } else if (kind == T_BLEN) {
        /* a string replaced by a shorter one while it was copied: again */
        int changed = rep->type != REDIS_REPLY_INTEGER || (uint64_t)rep->integer != (b->pos & ~((uint64_t)1 << 63));
        b->again |= changed;
        rc = done(n, changed && b->vx); /* (verify: compared as read again) */
    }
    if (rc < 0 && !r->failed) {
        r->failed = 1;
        rmig__run_finish(r);
    }
}

void rmig__big_free(snode *n)
{
    if (n->big.vx) {
        /* verify stopped in the middle of a big key: freed now, or by its
         * last target answer (never compared) */
        vexp *x = n->big.vx;
        n->big.vx = NULL;
        if (!n->r->vf->full || x->tgt_done)
            rmig__verify_vexp_free(n->r->vf, x);
        else
            x->src_done = 1, x->skip = 1;
    }
    free(n->big.key);
    free(n->big.tkey);
    n->big.key = n->big.tkey = NULL;
    while (n->bq_head) {
        tkey *k = n->bq_head;
        n->bq_head = k->next;
        free(k);
    }
}
