/* native.c - writing a dump as native Redis commands (see native.h).
 *
 * Per kind: strings SET (long strings arriving in pieces: SET, then APPEND
 * per piece), lists RPUSH, sets SADD, zsets ZADD, hashes HSET (then
 * HPEXPIREAT per field with a TTL, which needs Redis 7.4), streams XADD per
 * entry, XSETID with the source's counters, XGROUP CREATE per group with its
 * last id and entries-read, XCLAIM ... TIME RETRYCOUNT JUSTID FORCE per
 * pending entry of each consumer, XGROUP CREATECONSUMER for consumers with
 * nothing pending; an empty stream is made with XGROUP CREATE ... MKSTREAM
 * and a throw-away group. Elements are gathered into commands of at most
 * `batch` elements; the command's header is written once the count is
 * known. */
#include "native.h"

#include "resp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_BYTES (1 << 20)

typedef struct pel {
    rmig_rdb_id id;
    uint64_t ms, count;
} pel;

struct rmig_native {
    rmig_out *o;
    int batch;
    uint64_t commands;
    char err[300];
    /* the key being written */
    rmig_out key;
    int kind;
    const char *cmd;          /* RPUSH, SADD, ZADD, HSET */
    rmig_out args;            /* gathered arguments of the next command */
    int nelem, nargs;
    rmig_out held;            /* a hash field or zset member waiting for its value or score */
    int streaming;            /* an element is being streamed in pieces */
    uint64_t db;
    int selected;
    int hmset;                /* hashes by HMSET (rmig_native_hmset) */
    /* streams */
    uint64_t entries;
    rmig_out group, consumer;
    int consumer_claims;
    pel *pels;
    size_t npel, pel_cap;
};

rmig_native *rmig_native_new(rmig_out *o, int batch)
{
    rmig_native *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->o = o;
    n->batch = batch > 0 ? batch : 512;
    rmig_out_init(&n->key, -1);
    rmig_out_init(&n->args, -1);
    rmig_out_init(&n->held, -1);
    rmig_out_init(&n->group, -1);
    rmig_out_init(&n->consumer, -1);
    return n;
}

void rmig_native_free(rmig_native *n)
{
    if (!n)
        return;
    rmig_out_close(&n->key);
    rmig_out_close(&n->args);
    rmig_out_close(&n->held);
    rmig_out_close(&n->group);
    rmig_out_close(&n->consumer);
    free(n->pels);
    free(n);
}

const char *rmig_native_error(const rmig_native *n) { return n->err; }
uint64_t rmig_native_commands(const rmig_native *n) { return n->commands; }

static void bulk_out(rmig_out *o, const rmig_out *b) { rmig_resp_bulk(o, b->buf, b->len); }

static void key_arg(rmig_native *n) { bulk_out(n->o, &n->key); }

static void id_arg(rmig_out *o, rmig_rdb_id id)
{
    char b[48];
    int k = snprintf(b, sizeof b, "%llu-%llu", (unsigned long long)id.ms, (unsigned long long)id.seq);
    rmig_resp_bulk(o, b, (size_t)k);
}

/* "CMD key" + the gathered arguments, as one command */
static void flush(rmig_native *n)
{
    if (!n->nargs)
        return;
    rmig_resp_array(n->o, 2 + (size_t)n->nargs);
    rmig_resp_bulk_str(n->o, n->cmd);
    key_arg(n);
    rmig_out_mem(n->o, n->args.buf, n->args.len);
    n->args.len = 0;
    n->nargs = n->nelem = 0;
    n->commands++;
}

static void gathered(rmig_native *n)
{
    if (++n->nelem >= n->batch || n->args.len >= BATCH_BYTES)
        flush(n);
}

static void score_arg(rmig_out *o, const rmig_rdb_event *e)
{
    if (e->str) {
        rmig_resp_bulk(o, e->str, e->len);
        return;
    }
    double d = e->u.score;
    char b[40];
    if (isinf(d)) {
        rmig_resp_bulk_str(o, d > 0 ? "inf" : "-inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, d);
        if (strtod(b, NULL) == d)
            break;
    }
    rmig_resp_bulk_str(o, b);
}

static void simple(rmig_native *n, int argc, const char *cmd)
{
    rmig_resp_array(n->o, (size_t)argc);
    rmig_resp_bulk_str(n->o, cmd);
    key_arg(n);
    n->commands++;
}

static void on_key(rmig_native *n, const rmig_rdb_event *e)
{
    if (!n->selected || n->db != e->db) {
        rmig_resp_array(n->o, 2);
        rmig_resp_bulk_str(n->o, "SELECT");
        rmig_resp_bulk_i64(n->o, (int64_t)e->db);
        n->db = e->db;
        n->selected = 1;
        n->commands++;
    }
    n->key.len = 0;
    rmig_out_mem(&n->key, e->key, e->key_len);
    n->kind = e->kind;
    n->nargs = n->nelem = 0;
    n->args.len = 0;
    n->entries = 0;
    n->npel = 0;
    n->group.len = n->consumer.len = 0;
    static const char *cmds[] = {"SET", "RPUSH", "SADD", "ZADD", "HSET", "XADD", "?"};
    n->cmd = cmds[e->kind >= 0 && e->kind < RMIG_KIND_COUNT ? e->kind : RMIG_KIND_COUNT - 1];
    if (e->kind == RMIG_KIND_HASH && n->hmset)
        n->cmd = "HMSET";
    if (e->kind != RMIG_KIND_STRING)
        simple(n, 2, "DEL");
}

/* A string element or a piece of one. */
static void on_str(rmig_native *n, const rmig_rdb_event *e)
{
    int whole = e->u.piece.off == 0 && e->u.piece.last;
    switch (e->role) {
    case RMIG_RDB_STRING:
        /* SET with the first piece, APPEND the others: each piece is one command */
        simple(n, 3, e->u.piece.off ? "APPEND" : "SET");
        rmig_resp_bulk(n->o, e->str, e->len);
        return;
    case RMIG_RDB_ITEM:
    case RMIG_RDB_MEMBER:
        if (whole) {
            rmig_resp_bulk(&n->args, e->str, e->len);
            n->nargs++;
            gathered(n);
            return;
        }
        /* a long element: its own command, streamed */
        if (e->u.piece.off == 0) {
            flush(n);
            simple(n, 3, n->cmd);
            rmig_resp_bulk_begin(n->o, e->u.piece.total);
        }
        rmig_out_mem(n->o, e->str, e->len);
        if (e->u.piece.last)
            rmig_resp_bulk_end(n->o);
        return;
    case RMIG_RDB_ZMEMBER:
    case RMIG_RDB_FIELD:
        if (e->u.piece.off == 0)
            n->held.len = 0;
        rmig_out_mem(&n->held, e->str, e->len);
        return;
    case RMIG_RDB_VALUE:
        if (whole) {
            bulk_out(&n->args, &n->held);
            rmig_resp_bulk(&n->args, e->str, e->len);
            n->nargs += 2;
            gathered(n);
            return;
        }
        if (e->u.piece.off == 0) {
            flush(n);
            simple(n, 4, "HSET");
            bulk_out(n->o, &n->held);
            rmig_resp_bulk_begin(n->o, e->u.piece.total);
        }
        rmig_out_mem(n->o, e->str, e->len);
        if (e->u.piece.last)
            rmig_resp_bulk_end(n->o);
        return;
    default: /* stream fields and values: whole, written straight after XADD's header */
        rmig_resp_bulk(n->o, e->str, e->len);
        return;
    }
}

static const pel *find_pel(const rmig_native *n, rmig_rdb_id id)
{
    size_t lo = 0, hi = n->npel;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const pel *p = &n->pels[mid];
        if (p->id.ms == id.ms && p->id.seq == id.seq)
            return p;
        if (p->id.ms < id.ms || (p->id.ms == id.ms && p->id.seq < id.seq))
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void create_consumer_if_idle(rmig_native *n)
{
    if (n->consumer.len && !n->consumer_claims) {
        rmig_resp_array(n->o, 5);
        rmig_resp_bulk_str(n->o, "XGROUP");
        rmig_resp_bulk_str(n->o, "CREATECONSUMER");
        key_arg(n);
        bulk_out(n->o, &n->group);
        bulk_out(n->o, &n->consumer);
        n->commands++;
    }
    n->consumer.len = 0;
}

static int on_stream(rmig_native *n, const rmig_rdb_event *e)
{
    switch (e->type) {
    case RMIG_RDB_EV_STREAM_ENTRY:
        rmig_resp_array(n->o, 3 + 2 * (size_t)e->u.entry.nfields);
        rmig_resp_bulk_str(n->o, "XADD");
        key_arg(n);
        id_arg(n->o, e->u.entry.id);
        n->entries++;
        n->commands++;
        return 0;
    case RMIG_RDB_EV_STREAM_META:
        if (!n->entries) {
            /* an empty stream: made by a group created with MKSTREAM, then dropped */
            static const char tmp[] = "__rmig_create__";
            rmig_resp_array(n->o, 6);
            rmig_resp_bulk_str(n->o, "XGROUP");
            rmig_resp_bulk_str(n->o, "CREATE");
            key_arg(n);
            rmig_resp_bulk_str(n->o, tmp);
            rmig_resp_bulk_str(n->o, "$");
            rmig_resp_bulk_str(n->o, "MKSTREAM");
            rmig_resp_array(n->o, 4);
            rmig_resp_bulk_str(n->o, "XGROUP");
            rmig_resp_bulk_str(n->o, "DESTROY");
            key_arg(n);
            rmig_resp_bulk_str(n->o, tmp);
            n->commands += 2;
        }
        rmig_resp_array(n->o, e->u.meta.v2 ? 7 : 3);
        rmig_resp_bulk_str(n->o, "XSETID");
        key_arg(n);
        id_arg(n->o, e->u.meta.last_id);
        if (e->u.meta.v2) {
            rmig_resp_bulk_str(n->o, "ENTRIESADDED");
            rmig_resp_bulk_i64(n->o, (int64_t)e->u.meta.entries_added);
            rmig_resp_bulk_str(n->o, "MAXDELETEDID");
            id_arg(n->o, e->u.meta.max_deleted_id);
        }
        n->commands++;
        return 0;
    case RMIG_RDB_EV_STREAM_GROUP:
        create_consumer_if_idle(n);
        n->group.len = 0;
        rmig_out_mem(&n->group, e->str, e->len);
        n->npel = 0;
        rmig_resp_array(n->o, e->u.group.has_entries_read ? 7 : 5);
        rmig_resp_bulk_str(n->o, "XGROUP");
        rmig_resp_bulk_str(n->o, "CREATE");
        key_arg(n);
        bulk_out(n->o, &n->group);
        id_arg(n->o, e->u.group.last_id);
        if (e->u.group.has_entries_read) {
            rmig_resp_bulk_str(n->o, "ENTRIESREAD");
            rmig_resp_bulk_i64(n->o, (int64_t)e->u.group.entries_read); /* 2^64-1 is -1: unknown */
        }
        n->commands++;
        return 0;
    case RMIG_RDB_EV_STREAM_PEL:
        if (n->npel == n->pel_cap) {
            size_t cap = n->pel_cap ? n->pel_cap * 2 : 64;
            pel *p = realloc(n->pels, cap * sizeof *p);
            if (!p) {
                snprintf(n->err, sizeof n->err, "out of memory holding a consumer group's pending entries");
                return -1;
            }
            n->pels = p;
            n->pel_cap = cap;
        }
        n->pels[n->npel].id = e->u.pel.id;
        n->pels[n->npel].ms = e->u.pel.delivery_ms;
        n->pels[n->npel].count = e->u.pel.delivery_count;
        n->npel++;
        return 0;
    case RMIG_RDB_EV_STREAM_CONSUMER:
        create_consumer_if_idle(n);
        rmig_out_mem(&n->consumer, e->str, e->len);
        n->consumer_claims = 0;
        return 0;
    case RMIG_RDB_EV_STREAM_CPEL: {
        const pel *p = find_pel(n, e->u.pel.id);
        rmig_resp_array(n->o, 12);
        rmig_resp_bulk_str(n->o, "XCLAIM");
        key_arg(n);
        bulk_out(n->o, &n->group);
        bulk_out(n->o, &n->consumer);
        rmig_resp_bulk_str(n->o, "0");
        id_arg(n->o, e->u.pel.id);
        rmig_resp_bulk_str(n->o, "TIME");
        rmig_resp_bulk_i64(n->o, p ? (int64_t)p->ms : 0);
        rmig_resp_bulk_str(n->o, "RETRYCOUNT");
        rmig_resp_bulk_i64(n->o, p ? (int64_t)p->count : 1);
        rmig_resp_bulk_str(n->o, "JUSTID");
        rmig_resp_bulk_str(n->o, "FORCE");
        n->consumer_claims++;
        n->commands++;
        return 0;
    }
    default: /* producers and IIDs (Redis 8.6) have no command a 7.x target knows */
        return 0;
    }
}

void rmig_native_hmset(rmig_native *n) { n->hmset = 1; }

void rmig_native_in_db(rmig_native *n, uint64_t db)
{
    n->selected = 1;
    n->db = db;
}

int rmig_native_event(rmig_native *n, const rmig_rdb_event *e)
{
    switch (e->type) {
    case RMIG_RDB_EV_KEY:
        if (e->kind == RMIG_KIND_MODULE) {
            snprintf(n->err, sizeof n->err, "a module value cannot be written as native commands: "
                     "it needs RESTORE on a target with the module");
            return -1;
        }
        on_key(n, e);
        return 0;
    case RMIG_RDB_EV_STR: on_str(n, e); return 0;
    case RMIG_RDB_EV_SCORE:
        score_arg(&n->args, e);
        bulk_out(&n->args, &n->held);
        n->nargs += 2;
        gathered(n);
        return 0;
    case RMIG_RDB_EV_FIELD_TTL:
        flush(n); /* the field must exist first */
        rmig_resp_array(n->o, 6);
        rmig_resp_bulk_str(n->o, "HPEXPIREAT");
        key_arg(n);
        rmig_resp_bulk_i64(n->o, e->u.ttl_ms);
        rmig_resp_bulk_str(n->o, "FIELDS");
        rmig_resp_bulk_str(n->o, "1");
        bulk_out(n->o, &n->held);
        n->commands++;
        return 0;
    case RMIG_RDB_EV_KEY_END:
        flush(n);
        if (n->kind == RMIG_KIND_STREAM)
            create_consumer_if_idle(n);
        if (e->expire_ms >= 0) {
            simple(n, 3, "PEXPIREAT");
            rmig_resp_bulk_i64(n->o, e->expire_ms);
        }
        return 0;
    case RMIG_RDB_EV_FUNCTION: return 0; /* written by the caller, as for RESTORE */
    default:
        if (e->type >= RMIG_RDB_EV_STREAM_ENTRY && e->type <= RMIG_RDB_EV_STREAM_IID)
            return on_stream(n, e);
        return 0;
    }
}
