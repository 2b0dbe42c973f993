/* run_scan.c - `rmig run` from live servers read by SCAN + DUMP
 * (rmig.source.scan), for sources that refuse SYNC/PSYNC (managed
 * services).
 *
 * Every server is read on a connection of its own: one, or every master of
 * a cluster in parallel. Per db of a server's keyspace (or the dbs listed
 * in source.dbs): SCAN cursor MATCH COUNT, then for every key returned
 * MEMORY USAGE (when big keys are looked for) and a pipelined DUMP + PTTL.
 * The replies come in order: a DUMP payload (type byte, value, RDB
 * version, CRC64) with its PTTL makes the same KEY entry the RDB source
 * makes (raw value, absolute expiry), so every node and sink works
 * unchanged. A key gone between SCAN and DUMP is skipped and counted; a
 * key using more than big_bytes is copied in chunks (scan_big.c).
 *
 * Ordering: every read of a server goes on its one connection, so two
 * reads of a key (the scan's, a notification's) are answered in the order
 * they were sent and their entries follow that order to the target.
 *
 * With live = true every server's keyspace notifications are subscribed
 * before its scan starts (scan_tail.c): a key they name is read again, and
 * one gone by then becomes a DEL. The run then goes on until SIGINT or
 * SIGTERM, and ends once what was notified is read and answered.
 *
 * New SCANs go out only while the target has room and few reads are
 * waiting, so memory stays bounded; source.rate (keys/s per server) spaces
 * them further. With source.state the cursors are saved every 5 s (once
 * everything read before them is answered by the target) and at a stop,
 * and a run started again resumes from them. */
#include "scan_internal.h"
#include "twemproxy.h"

#include "cluster.h"
#include "slot.h"
#include "rdb.h"
#include "resp.h"
#include "target.h"
#include "vm.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SAVE_EVERY_MS 5000
#define TOPOLOGY_EVERY_MS 10000

uint64_t rmig__scan_ms(void) { return uv_hrtime() / 1000000; }

void rmig__scan_fail(runner *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    r->failed = 1;
    rmig__run_finish(r);
}

/* ---- the arguments of the command being answered ---- */

const char *rmig__scan_arg(rmig_redis *c, int i, size_t *len)
{
    size_t n;
    const char *p = rmig_redis_command(c, &n), *end = p ? p + n : NULL;
    if (!p || *p != '*')
        return NULL;
    p = memchr(p, '\n', n);
    for (int k = 0; p && p + 1 < end; k++) {
        p++; /* at "$<len>\r\n" */
        char *q;
        long l = strtol(p + 1, &q, 10);
        if (*p != '$' || l < 0 || q + 2 + l > end)
            return NULL;
        if (k == i) {
            *len = (size_t)l;
            return q + 2;
        }
        p = q + 2 + l + 1; /* at the '\n' after the argument */
    }
    return NULL;
}

/* ---- entries ---- */

/* Room in the batch for one more entry (flushing it to the nodes and the
 * target when full). 0, or -1 with r->err. */
static int batch_room(runner *r)
{
    if (r->b.n >= BATCH_KEYS || r->b.arena.len > BATCH_BYTES)
        return rmig__run_flush_batch(r);
    return 0;
}

int rmig__scan_emit(runner *r, uint64_t db, uint32_t argc, const char *const *argv, const size_t *lens, uint32_t key_at)
{
    rmig_slice sl[64], *a = argc <= 64 ? sl : malloc(argc * sizeof *a);
    rmig_entry *e = NULL;
    int rc = -1;
    if (!a || batch_room(r) < 0 || !(e = rmig_batch_add(&r->b)))
        goto out;
    for (uint32_t i = 0; i < argc; i++) {
        a[i].p = rmig_batch_copy(&r->b, argv[i], lens[i]);
        a[i].n = lens[i];
        if (!a[i].p && lens[i])
            goto out;
    }
    e->kind = RMIG_ENTRY_CMD;
    e->db = e->stream_db = db;
    e->idle_s = -1;
    e->freq = -1;
    e->expire_ms = -1;
    if (rmig_batch_set_argv(&r->b, e, a, argc, &key_at, argc > key_at ? 1 : 0) < 0)
        goto out;
    e->flags &= ~(uint32_t)RMIG_ENTRY_CHANGED;
    rc = 0;
out:
    if (rc < 0 && !r->err[0])
        snprintf(r->err, sizeof r->err, "out of memory holding a batch");
    if (a != sl)
        free(a);
    return rc;
}

/* A DUMP with its PTTL: a KEY entry of the batch. 0, or -1 with r->err. */
static int key_entry(snode *n, uint64_t db, const char *key, size_t klen, const char *p8, size_t len, long long pttl)
{
    runner *r = n->r;
    const uint8_t *p = (const uint8_t *)p8;
    if (len < 11) {
        snprintf(r->err, sizeof r->err, "source %s:%d: the DUMP of key '%.*s' is too short (%zu bytes)", n->host,
                 n->port, (int)(klen < 100 ? klen : 100), key, len);
        return -1;
    }
    int kind = rmig_rdb_type_kind(p[0]);
    if (kind < 0) {
        snprintf(r->err, sizeof r->err, "source %s:%d: the DUMP of key '%.*s' has an unknown type (%d)", n->host,
                 n->port, (int)(klen < 100 ? klen : 100), key, p[0]);
        return -1;
    }
    if (batch_room(r) < 0)
        return -1;
    rmig_entry *e = rmig_batch_add(&r->b);
    if (!e) {
        snprintf(r->err, sizeof r->err, "out of memory holding a batch");
        return -1;
    }
    e->kind = RMIG_ENTRY_KEY;
    e->db = db;
    e->key = rmig_batch_copy(&r->b, key, klen);
    e->key_len = (uint32_t)klen;
    e->type = kind;
    e->rdb_type = p[0];
    e->rdb_version = p[len - 10] | (p[len - 9] << 8);
    e->expire_ms = pttl >= 0 ? rmig__run_now_ms() + pttl : -1;
    e->idle_s = -1;
    e->freq = -1;
    e->value = rmig_batch_copy(&r->b, p + 1, len - 11);
    e->value_len = len - 11;
    if (!e->key || !e->value) {
        snprintf(r->err, sizeof r->err, "out of memory holding a batch");
        return -1;
    }
    r->read++;
    return 0;
}

/* A key read that was gone: nothing for the scan, a DEL for a
 * notification (deleted, expired, renamed away, moved). */
static void gone(snode *n, uint64_t db, const char *key, size_t len, unsigned flags)
{
    if (!(flags & T_TAIL)) {
        n->vanished++;
        return;
    }
    const char *argv[2] = {"DEL", key};
    size_t lens[2] = {3, len};
    n->deleted++;
    if (rmig__scan_emit(n->r, db, 2, argv, lens, 1) < 0) {
        n->r->failed = 1;
        rmig__run_finish(n->r);
    }
}

/* ---- reads ---- */

int rmig__scan_is_probe(const snode *n, const char *key, size_t len)
{
    size_t pl = strlen(n->probe);
    return pl && len >= pl && !memcmp(key, n->probe, pl);
}

static void send_dump(snode *n, uint64_t db, const char *key, size_t len, unsigned flags)
{
    rmig_redis_select(n->c, db);
    rmig_out *o = rmig_redis_out(n->c);
    rmig_resp_array(o, 2);
    rmig_resp_bulk_str(o, "DUMP");
    rmig_resp_bulk(o, key, len);
    rmig_redis_done(n->c, T_MAKE(T_DUMP, flags, db));
    o = rmig_redis_out(n->c);
    rmig_resp_array(o, 2);
    rmig_resp_bulk_str(o, "PTTL");
    rmig_resp_bulk(o, key, len);
    rmig_redis_done(n->c, T_MAKE(T_PTTL, flags, db));
}

void rmig__scan_read(snode *n, uint64_t db, const char *key, size_t len, unsigned flags)
{
    if (rmig__scan_is_probe(n, key, len))
        return; /* rmig's own notification probe */
    if ((!n->s->big_bytes || !n->memory_ok) && rmig__big_busy(n, db, key, len))
        return; /* being copied in pieces (MEMORY refused since): read again once that copy ends */
    n->outstanding++;
    if (!n->s->big_bytes || !n->memory_ok || (flags & T_WHOLE)) {
        send_dump(n, db, key, len, flags);
        return;
    }
    rmig_redis_select(n->c, db);
    rmig_out *o = rmig_redis_out(n->c);
    rmig_resp_array(o, 3);
    rmig_resp_bulk_str(o, "MEMORY");
    rmig_resp_bulk_str(o, "USAGE");
    rmig_resp_bulk(o, key, len);
    rmig_redis_done(n->c, T_MAKE(T_SIZE, flags, db));
}

static void send_scan(snode *n)
{
    rmig_scan *s = n->s;
    char count[24];
    snprintf(count, sizeof count, "%ld", s->count);
    const char *argv[6] = {"SCAN", n->cursor, "COUNT", count, "MATCH", s->match};
    rmig_redis_select(n->c, n->dbs[n->dbi]);
    rmig_resp_cmd(rmig_redis_out(n->c), s->match ? 6 : 4, argv);
    rmig_redis_done(n->c, T_MAKE(T_SCAN, 0, n->dbs[n->dbi]));
    n->scanning = 1;
    n->rounds++;
}

static void next_db(snode *n)
{
    n->dbi++;
    n->db_done = 0;
    snprintf(n->cursor, sizeof n->cursor, "0");
    if (n->dbi >= n->ndb)
        n->scan_done = 1;
}

/* The server of a cluster source at host:port, or NULL. */
static snode *node_at(rmig_scan *s, const char *addr, size_t len)
{
    for (int i = 0; i < s->nn; i++) {
        char me[300];
        int ml = snprintf(me, sizeof me, "%s:%d", s->nodes[i]->host, s->nodes[i]->port);
        if ((size_t)ml == len && !memcmp(me, addr, len))
            return s->nodes[i];
    }
    return NULL;
}

int rmig__scan_redirect(snode *n, uint64_t db, const char *key, size_t len, unsigned flags, const char *err,
                        size_t errlen)
{
    int ask = errlen > 4 && !memcmp(err, "ASK ", 4);
    if (!ask && !(errlen > 6 && !memcmp(err, "MOVED ", 6)))
        return 0;
    /* "MOVED <slot> <host>:<port>" */
    const char *sp = memchr(err, ' ', errlen), *addr = sp ? memchr(sp + 1, ' ', (size_t)(err + errlen - sp - 1)) : NULL;
    snode *m = addr ? node_at(n->s, addr + 1, (size_t)(err + errlen - addr - 1)) : NULL;
    if (!m || !m->c) {
        n->unfollowed++;
        if (n->unfollowed <= 5)
            fprintf(stderr, "rmig run: source %s:%d: key '%.*s' is now served by %.*s, a master rmig does not read "
                    "(the cluster changed): run again\n", n->host, n->port, (int)(len < 100 ? len : 100), key,
                    (int)(errlen < 200 ? errlen : 200), err);
        return 1;
    }
    n->moved++;
    m->outstanding++;
    /* DUMP + PTTL straight away (a big key goes whole: ASKING holds for
     * one command, too short for a copy in pieces) */
    rmig_redis_select(m->c, db);
    for (int i = 0; i < 2; i++) {
        if (ask) {
            rmig_resp_cmd(rmig_redis_out(m->c), 1, (const char *[]){"ASKING"});
            rmig_redis_done(m->c, T_MAKE(T_ASKING, 0, db));
        }
        rmig_out *o = rmig_redis_out(m->c);
        rmig_resp_array(o, 2);
        rmig_resp_bulk_str(o, i == 0 ? "DUMP" : "PTTL");
        rmig_resp_bulk(o, key, len);
        rmig_redis_done(m->c, T_MAKE(i == 0 ? T_DUMP : T_PTTL, flags, db));
    }
    return 1;
}

int rmig__scan_write(runner *r, uint64_t db, uint32_t argc, const char *const *argv, const size_t *lens,
                     uint32_t key_at)
{
    if (r->b.n && rmig__run_flush_batch(r) < 0)
        return -1;
    rmig_slice sl[64], *a = argc <= 64 ? sl : malloc(argc * sizeof *a);
    if (!a) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < argc; i++)
        a[i] = (rmig_slice){(const uint8_t *)argv[i], lens[i]};
    rmig_entry e = {.kind = RMIG_ENTRY_CMD, .db = db, .stream_db = db, .argc = argc, .argv = a, .keys = &key_at,
                    .nkeys = 1, .key = a[key_at].p, .key_len = (uint32_t)lens[key_at], .expire_ms = -1,
                    .idle_s = -1, .freq = -1};
    int rc = r->clus ? rmig__cluster_write_cmd(r, &e) : rmig__run_write_cmd_args(r, &e, NULL, 0, 0);
    if (a != sl)
        free(a);
    return rc;
}

static void on_reply(rmig_redis *c, void *ud, uint64_t tag, const redisReply *rep)
{
    snode *n = ud;
    runner *r = n->r;
    rmig_scan *s = n->s;
    if (r->failed)
        return;
    int kind = T_KIND(tag);
    unsigned flags = (unsigned)(tag & T_TAIL);
    uint64_t db = T_DB(tag);
    if (tag == RMIG_REDIS_TAG_SELECT || kind == T_PROBE) {
        if (rep->type == REDIS_REPLY_ERROR)
            rmig__scan_fail(r, "source %s:%d refused %s: %.*s", n->host, n->port,
                            kind == T_PROBE ? "the write of rmig's notification probe key" : "SELECT",
                            (int)(rep->len < 300 ? rep->len : 300), rep->str);
        return;
    }
    if (kind >= T_BTYPE && kind <= T_BLEN) {
        rmig__big_reply(n, tag, rep);
        rmig__run_start_idle(r);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR && (kind == T_SIZE || kind == T_DUMP || kind == T_PTTL) &&
        (!strncmp(rep->str, "MOVED ", 6) || !strncmp(rep->str, "ASK ", 4))) {
        /* a cluster source's slot moved since the key was scanned or
         * notified: it is read again on its new master (never counted as
         * gone: a DEL could follow the new master's copy) */
        if (kind == T_DUMP) {
            n->held_ok = -1;
            snprintf(n->held_err, sizeof n->held_err, "%.*s", (int)(rep->len < 200 ? rep->len : 200), rep->str);
            return;
        }
        n->outstanding--;
        const char *why = rep->str;
        size_t whylen = rep->len, kl;
        if (kind == T_PTTL && n->held_ok == -1) /* (the DUMP's redirection, the older) */
            why = n->held_err, whylen = strlen(n->held_err);
        const char *k = rmig__scan_arg(c, kind == T_SIZE ? 2 : 1, &kl);
        if (k)
            rmig__scan_redirect(n, db, k, kl, flags, why, whylen);
        rmig__run_start_idle(r);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR && (kind == T_DUMP || kind == T_SIZE) && !strncmp(rep->str, "NOPERM", 6)) {
        rmig__scan_fail(r, "source %s:%d refused %s (%.*s): the source's user needs the permission to run it "
                        "(+%s)", n->host, n->port, kind == T_DUMP ? "DUMP" : "MEMORY USAGE",
                        (int)(rep->len < 200 ? rep->len : 200), rep->str, kind == T_DUMP ? "dump" : "memory|usage");
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR && kind == T_SIZE) {
        /* MEMORY refused (a managed service may): every key by DUMP */
        n->memory_ok = 0;
        fprintf(stderr, "rmig run: source %s:%d refused MEMORY USAGE (%.*s): big keys are read whole, by DUMP\n",
                n->host, n->port, (int)(rep->len < 200 ? rep->len : 200), rep->str);
    } else if (rep->type == REDIS_REPLY_ERROR && kind != T_DUMP && kind != T_ASKING) {
        size_t nl = 0;
        const char *name = rmig__scan_arg(c, 0, &nl);
        rmig__scan_fail(r, "source %s:%d refused %.*s: %.*s", n->host, n->port, name ? (int)(nl < 40 ? nl : 40) : 7,
                        name ? name : "a command", (int)(rep->len < 300 ? rep->len : 300), rep->str);
        return;
    }
    if (kind == T_ASKING)
        return;
    size_t klen = 0;
    const char *key = NULL;
    switch (kind) {
    case T_SCAN: {
        n->scanning = 0;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[1]->type != REDIS_REPLY_ARRAY) {
            rmig__scan_fail(r, "source %s:%d: an unexpected SCAN reply", n->host, n->port);
            return;
        }
        snprintf(n->cursor, sizeof n->cursor, "%.*s", (int)rep->element[0]->len, rep->element[0]->str);
        if (!strcmp(n->cursor, "0"))
            next_db(n);
        const redisReply *keys = rep->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const redisReply *k = keys->element[i];
            if (k->type != REDIS_REPLY_STRING)
                continue;
            n->scanned++;
            rmig__scan_read(n, db, k->str, k->len, 0);
        }
        break;
    }
    case T_SIZE:
        key = rmig__scan_arg(c, 2, &klen);
        if (!key)
            break;
        if (rep->type == REDIS_REPLY_NIL) {
            n->outstanding--;
            gone(n, db, key, klen, flags);
        } else if (rep->type == REDIS_REPLY_INTEGER && (uint64_t)rep->integer > s->big_bytes) {
            n->outstanding--;
            rmig__big_queue(n, db, key, klen, flags);
        } else if (rmig__big_busy(n, db, key, klen)) {
            n->outstanding--; /* copied in chunks now: read again once that copy ends */
        } else {
            /* (the key's bytes are in the connection's log, which the
             * commands written now may move: a copy) */
            char kb[512], *kc = klen <= sizeof kb ? kb : malloc(klen);
            if (!kc) {
                rmig__scan_fail(r, "out of memory");
                return;
            }
            memcpy(kc, key, klen);
            send_dump(n, db, kc, klen, flags);
            if (kc != kb)
                free(kc);
        }
        break;
    case T_DUMP:
        if (rep->type == REDIS_REPLY_ERROR) {
            /* (a module type without DUMP, say): reported at its PTTL */
            n->held_ok = -2;
            snprintf(n->held_err, sizeof n->held_err, "%.*s", (int)(rep->len < 200 ? rep->len : 200), rep->str);
            break;
        }
        n->held_ok = rep->type == REDIS_REPLY_STRING;
        if (n->held_ok) {
            /* kept until its PTTL comes (the reply is freed after this call) */
            if (rep->len > n->held_cap) {
                free(n->held);
                n->held_cap = rep->len;
                n->held = malloc(n->held_cap);
                if (!n->held) {
                    n->held_cap = 0;
                    rmig__scan_fail(r, "out of memory holding a DUMP of %zu bytes", rep->len);
                    return;
                }
            }
            memcpy(n->held, rep->str, rep->len);
            n->held_len = rep->len;
        }
        break;
    case T_PTTL:
        n->outstanding--;
        key = rmig__scan_arg(c, 1, &klen);
        if (!key)
            break;
        if (flags & T_TAIL)
            n->reread++;
        if (n->held_ok == -1) {
            /* the DUMP was redirected (its PTTL was not: a slot moving
             * between the two) */
            char kb[512], *kc = klen <= sizeof kb ? kb : malloc(klen);
            if (kc) {
                memcpy(kc, key, klen);
                rmig__scan_redirect(n, db, kc, klen, flags, n->held_err, strlen(n->held_err));
                if (kc != kb)
                    free(kc);
            }
        } else if (n->held_ok == -2) {
            keyrec k = {.db = db, .key_len = klen < 80 ? (uint32_t)klen : 80};
            memcpy(k.key, key, k.key_len);
            rmig__run_report_key(r, &k, n->held_err, (int)strlen(n->held_err));
            r->failed_keys++;
        } else if (!n->held_ok || (rep->type == REDIS_REPLY_INTEGER && rep->integer == -2)) {
            /* gone before its DUMP, or expired between its DUMP and PTTL
             * (written without its TTL it would never expire) */
            gone(n, db, key, klen, flags);
        } else if (key_entry(n, db, key, klen, n->held, n->held_len,
                             rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1) < 0) {
            r->failed = 1;
            rmig__run_finish(r);
            return;
        }
        break;
    default:
        break;
    }
    rmig__run_start_idle(r);
}

static void on_state(rmig_redis *c, void *ud, int state, const char *err, uint64_t unanswered)
{
    snode *n = ud;
    (void)c, (void)unanswered;
    if (state == RMIG_REDIS_READY) {
        n->ready = 1;
        rmig__run_start_idle(n->r);
    } else if (state == RMIG_REDIS_FAILED) {
        rmig__scan_fail(n->r, "source: %s", err);
    }
}

/* ---- the state file: where each server's scan is ----
 *
 *   rmig-scan-state 1
 *   node HOST:PORT db DB cursor CURSOR      (dbs below DB are done)
 *   node HOST:PORT done
 */

/* What the cursors are cursors of: source.match and the dbs. */
static uint32_t options_hash(const rmig_scan *s)
{
    uint32_t h = 2166136261u;
    for (const char *p = s->match ? s->match : ""; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    for (int i = 0; i < s->ndb; i++)
        h = (h ^ (uint32_t)s->dbs[i]) * 16777619u;
    return h;
}

static int save_state(rmig_scan *s, char *err, size_t errlen)
{
    char tmp[4200]; /* (a path of up to PATH_MAX) */
    snprintf(tmp, sizeof tmp, "%s.tmp", s->state);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "source.state: cannot write %.900s: %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "rmig-scan-state 1\noptions %08x\n", options_hash(s));
    for (int i = 0; i < s->nn; i++) {
        snode *n = s->nodes[i];
        if (n->scan_done)
            fprintf(f, "node %s:%d done\n", n->host, n->port);
        else
            fprintf(f, "node %s:%d db %llu cursor %s\n", n->host, n->port, (unsigned long long)n->dbs[n->dbi],
                    n->cursor);
    }
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, s->state) < 0) {
        snprintf(err, errlen, "source.state: cannot write %s: %s", s->state, strerror(errno));
        return -1;
    }
    return 0;
}

/* 1 when a state was found and applied, 0 when there is none, -1 with err. */
static int load_state(rmig_scan *s, char *err, size_t errlen)
{
    FILE *f = fopen(s->state, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "source.state: cannot read %s: %s", s->state, strerror(errno));
        return -1;
    }
    char line[512];
    int rc = 1;
    if (!fgets(line, sizeof line, f) || strncmp(line, "rmig-scan-state 1", 17)) {
        snprintf(err, errlen, "source.state: %s is not a scan state file (rmig-scan-state 1); give another path or delete it",
                 s->state);
        rc = -1;
    }
    unsigned opts = 0;
    if (rc > 0 && (!fgets(line, sizeof line, f) || sscanf(line, "options %x", &opts) != 1 || opts != options_hash(s))) {
        snprintf(err, errlen, "source.state: %s was saved by a scan with other source.match or source.dbs options: "
                 "run with those, or delete it to scan anew", s->state);
        rc = -1;
    }
    while (rc > 0 && fgets(line, sizeof line, f)) {
        char addr[300], cursor[64];
        unsigned long long db;
        int done = sscanf(line, "node %299s done", addr) == 1 && strstr(line, " done");
        if (!done && sscanf(line, "node %299s db %llu cursor %63s", addr, &db, cursor) != 3) {
            snprintf(err, errlen, "source.state: %s: a line is not understood: %.100s", s->state, line);
            rc = -1;
            break;
        }
        for (int i = 0; i < s->nn; i++) {
            snode *n = s->nodes[i];
            char me[300];
            snprintf(me, sizeof me, "%s:%d", n->host, n->port);
            if (strcmp(me, addr))
                continue;
            if (done) {
                n->dbi = n->ndb;
                n->scan_done = 1;
            } else {
                while (n->dbi < n->ndb && n->dbs[n->dbi] < db)
                    n->dbi++;
                if (n->dbi < n->ndb && n->dbs[n->dbi] == db)
                    snprintf(n->cursor, sizeof n->cursor, "%s", cursor);
                n->scan_done = n->dbi >= n->ndb;
            }
        }
    }
    fclose(f);
    return rc;
}

/* ---- the run ---- */

static int drained(const rmig_scan *s)
{
    for (int i = 0; i < s->nn; i++) {
        const snode *n = s->nodes[i];
        if (n->scanning || n->outstanding || !rmig__big_idle(n) || (s->stopping && n->tq_len))
            return 0;
    }
    return 1;
}

int rmig__scan_drained(const runner *r) { return drained(r->scan); }

static void end_run(runner *r)
{
    if (!r->eof) {
        if (rmig__run_flush_batch(r) < 0) {
            r->failed = 1;
            rmig__run_finish(r);
            return;
        }
        r->eof = 1;
    }
    if (rmig__run_pending(r) == 0)
        rmig__run_finish(r);
}

void rmig__scan_idle(runner *r)
{
    rmig_scan *s = r->scan;
    if (r->failed)
        return;
    int scan_over = 1, waiting = 0;
    for (int i = 0; i < s->nn; i++) {
        snode *n = s->nodes[i];
        if (!n->ready || (s->live && !rmig__tail_ready(n) && !s->stopping)) {
            scan_over = 0;
            continue;
        }
        rmig__big_pump(n);
        uint64_t limit = (uint64_t)s->count * SCAN_INFLIGHT;
        tkey *k;
        while (s->live && n->outstanding < limit && rmig__run_room(r) && !r->failed && (k = rmig__tail_next(n))) {
            rmig__scan_read(n, k->db, k->key, k->len, T_TAIL);
            free(k);
        }
        double elapsed = (double)(rmig__scan_ms() - s->start_ms) / 1000.0;
        int slow = s->rate > 0 && (double)n->scanned > s->rate * (elapsed + 0.1);
        waiting |= slow;
        if (!n->scanning && !n->scan_done && !s->stopping && !s->saving && !slow && rmig__run_room(r) &&
            n->outstanding < limit && !r->failed)
            send_scan(n);
        if (!n->scan_done || n->scanning || n->outstanding || !rmig__big_idle(n))
            scan_over = 0;
    }
    if (r->failed)
        return;
    if (scan_over && !s->scan_over) {
        s->scan_over = 1;
        s->scan_end_ms = rmig__scan_ms();
        if (s->live) {
            rmig_progress_clear(&r->progress);
            fprintf(stderr, "rmig run: scan complete: %llu keys in %.1f s; following changes (SIGINT or SIGTERM to stop)\n",
                    (unsigned long long)r->read, (double)(s->scan_end_ms - s->start_ms) / 1000.0);
            rmig__verify_spawn(r); /* (rmig run --verify) */
        }
    }
    if ((s->saving || s->stopping || (s->scan_over && !s->live)) && drained(s)) {
        /* everything read is in the batch or at the target */
        if (r->b.n && rmig__run_flush_batch(r) < 0) {
            r->failed = 1;
            rmig__run_finish(r);
            return;
        }
        if (s->saving && rmig__run_pending(r) == 0) {
            if (save_state(s, r->err, sizeof r->err) < 0) {
                r->failed = 1;
                rmig__run_finish(r);
                return;
            }
            s->saving = 0;
            s->last_save_ms = rmig__scan_ms();
            rmig__run_start_idle(r);
        }
        if ((s->stopping || (s->scan_over && !s->live)) && !s->saving) {
            end_run(r);
            return;
        }
    } else if (r->b.n && !s->saving) {
        /* live: nothing more is coming for now (no read in flight), so
         * what was read goes to the target instead of waiting for a full
         * batch */
        int quiet = 1;
        for (int i = 0; i < s->nn; i++)
            quiet &= s->nodes[i]->outstanding == 0 && rmig__big_idle(s->nodes[i]);
        if (quiet && rmig__run_flush_batch(r) < 0) {
            r->failed = 1;
            rmig__run_finish(r);
            return;
        }
    }
    rmig__run_stop_idle(r); /* replies (source or target) and the tick start it again */
    (void)waiting;
}

/* A cluster source's masters, read again: a master rmig does not read
 * (a failover, a new shard) has keys no scan or subscription sees, so the
 * run stops saying to run again. -1 when it stopped. */
static int check_topology(runner *r)
{
    rmig_scan *s = r->scan;
    rmig_cluster_map m = {0};
    char err[700];
    int rc = -1;
    for (int i = 0; i < s->nn && rc < 0; i++)
        rc = rmig_cluster_map_fetch(s->nodes[i]->host, s->nodes[i]->port, s->user, s->password, s->tlsp, &m, err,
                                    sizeof err);
    if (rc < 0)
        return 0; /* (unreachable for now: the reads' connections say more) */
    for (int i = 0; i < m.nmasters; i++) {
        char addr[300];
        int al = snprintf(addr, sizeof addr, "%s:%d", m.nodes[i].host, m.nodes[i].port);
        if (!node_at(s, addr, (size_t)al)) {
            rmig_cluster_map_free(&m);
            rmig__scan_fail(r, "source cluster: %s is now a master serving slots and rmig does not read it (a failover "
                            "or a new shard): run again to read the cluster as it is now%s", addr,
                            s->state && !s->live ? " (the saved cursors are kept for the masters still there)" : "");
            return -1;
        }
    }
    rmig_cluster_map_free(&m);
    return 0;
}

/* On a terminal a line redrawn every 250 ms, else one every 5 s. */
static void status(runner *r)
{
    rmig_scan *s = r->scan;
    uint64_t now = rmig__scan_ms();
    if (now - s->last_status_ms < (r->progress.tty ? 250u : 5000u))
        return;
    if (s->last_status_ms && now > s->last_status_ms)
        s->read_rate = (double)(r->read - s->last_read) * 1000.0 / (double)(now - s->last_status_ms);
    s->last_status_ms = now;
    s->last_read = r->read;
    uint64_t total = 0, scanned = 0, waiting = 0, reread = 0, deleted = 0;
    for (int i = 0; i < s->nn; i++) {
        deleted += s->nodes[i]->deleted;
        total += s->nodes[i]->keys_total;
        scanned += s->nodes[i]->scanned;
        waiting += s->nodes[i]->tq_len;
        reread += s->nodes[i]->reread;
    }
    char line[400], a[32], b[32], rate[32];
    rmig_progress_count(a, sizeof a, (double)scanned);
    rmig_progress_count(b, sizeof b, (double)total);
    rmig_progress_count(rate, sizeof rate, s->read_rate);
    if (!s->scan_over) {
        int n = snprintf(line, sizeof line, "scan: %s of ~%s keys, %s keys/s, %llu written, %llu failed", a, b, rate,
                         (unsigned long long)r->written, (unsigned long long)r->failed_keys);
        if (s->read_rate > 0 && total > scanned && !s->resumed)
            snprintf(line + n, sizeof line - (size_t)n, ", ~%.0f s left", (double)(total - scanned) / s->read_rate);
    } else {
        snprintf(line, sizeof line, "live: %llu changed keys waiting, %llu re-read, %llu deleted, %llu failed",
                 (unsigned long long)waiting, (unsigned long long)reread, (unsigned long long)deleted,
                 (unsigned long long)r->failed_keys);
    }
    rmig_progress_line(&r->progress, line);
}

static void on_tick(uv_timer_t *t)
{
    runner *r = t->data;
    rmig_scan *s = r->scan;
    if (r->failed)
        return;
    status(r);
    for (int i = 0; i < s->nn; i++)
        rmig__tail_check_probe(s->nodes[i]);
    if (s->cluster && rmig__scan_ms() - s->last_topology_ms >= TOPOLOGY_EVERY_MS) {
        s->last_topology_ms = rmig__scan_ms();
        if (check_topology(r) < 0)
            return;
    }
    if (s->state && !s->live && !s->saving && !s->stopping && rmig__scan_ms() - s->last_save_ms >= SAVE_EVERY_MS)
        s->saving = 1;
    rmig__run_start_idle(r); /* (the rate allows more, a save is due) */
}

static void on_signal(uv_signal_t *h, int signum)
{
    runner *r = h->data;
    rmig_scan *s = r->scan;
    const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";
    rmig_progress_clear(&r->progress);
    if (s->stopping) {
        fprintf(stderr, "rmig run: %s again: stopping now\n", name);
        rmig__scan_fail(r, "stopped by a second %s before what was read was answered%s", name,
                        s->state && !s->live ? "; the state file holds the last saved cursors" : "");
        return;
    }
    s->stopping = 1;
    s->saving = s->state && !s->live;
    for (int i = 0; i < s->nn; i++)
        rmig__tail_close(s->nodes[i]); /* (no more notifications: those queued are still read) */
    fprintf(stderr, "rmig run: %s: stopping once what was read is written and answered (again to stop at once)\n",
            name);
    rmig__run_start_idle(r);
}

/* ---- opening ---- */

/* INFO keyspace: the server's dbs (unless listed) and their keys. */
static int on_keyspace(const redisReply *rep, void *ud, char *err, size_t errlen)
{
    snode *n = ud;
    (void)err, (void)errlen;
    if (rep->type != REDIS_REPLY_STRING)
        return 0;
    for (const char *p = rep->str; (p = strstr(p, "\ndb")) != NULL; p += 3) {
        unsigned long long db, keys;
        if (sscanf(p + 3, "%llu:keys=%llu", &db, &keys) != 2)
            continue;
        int want = !n->s->dbs_listed;
        for (int i = 0; i < n->ndb; i++)
            want |= n->dbs[i] == db;
        if (!want)
            continue;
        n->keys_total += keys;
        if (!n->s->dbs_listed && n->ndb < MAX_DBS)
            n->dbs[n->ndb++] = db;
    }
    return 0;
}

static int on_memory(const redisReply *rep, void *ud, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    /* (a cluster master answers MOVED or ASK for the probe key of another
     * master's slot: it checked the ACL first, so the command is allowed) */
    *(int *)ud = rep->type != REDIS_REPLY_ERROR || !strncmp(rep->str, "MOVED ", 6) || !strncmp(rep->str, "ASK ", 4);
    return 0;
}

static snode *add_node(rmig_scan *s, runner *r, const char *host, int port)
{
    snode **q = realloc(s->nodes, (size_t)(s->nn + 1) * sizeof *q);
    snode *n = calloc(1, sizeof *n);
    if (!q || !n) {
        free(n);
        if (q)
            s->nodes = q;
        return NULL;
    }
    s->nodes = q;
    s->nodes[s->nn] = n;
    n->idx = s->nn++;
    n->r = r;
    n->s = s;
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    snprintf(n->cursor, sizeof n->cursor, "0");
    if (s->live)
        snprintf(n->probe, sizeof n->probe, "rmig:notify-probe:%d:%d", (int)getpid(), n->idx);
    return n;
}

/* A server's dbs, whether it answers MEMORY USAGE, and (live) its
 * notification settings. 0, or -1 with r->err. */
static int open_node(runner *r, snode *n)
{
    rmig_scan *s = r->scan;
    char err[700];
    if (s->dbs_listed) {
        memcpy(n->dbs, s->dbs, sizeof n->dbs);
        n->ndb = s->ndb;
    }
    const char *info[] = {"INFO", "keyspace"};
    if (rmig_target_call(n->host, n->port, s->user, s->password, s->tlsp, 2, info, on_keyspace, n, err, sizeof err) <
        0) {
        snprintf(r->err, sizeof r->err, "source: %s", err);
        return -1;
    }
    if (n->ndb == 0)
        n->scan_done = 1;
    if (s->big_bytes) {
        const char *mem[] = {"MEMORY", "USAGE", "rmig:no-such-key"};
        if (rmig_target_call(n->host, n->port, s->user, s->password, s->tlsp, 3, mem, on_memory, &n->memory_ok, err,
                             sizeof err) < 0) {
            snprintf(r->err, sizeof r->err, "source: %s", err);
            return -1;
        }
        if (!n->memory_ok)
            fprintf(stderr, "rmig run: source %s:%d refuses MEMORY USAGE: big keys are read whole, by DUMP\n", n->host,
                    n->port);
    }
    if (s->live && rmig__tail_open(s, n, r->err, sizeof r->err) < 0)
        return -2;
    return 0;
}

int rmig__scan_open(runner *r, lua_State *L, int src, int *source_version)
{
    rmig_scan *s = r->scan = calloc(1, sizeof *s);
    if (!s) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    const char *addr = rmig_vm_str(L, src, "addr"), *pw = rmig_vm_str(L, src, "password");
    if (!pw && r->farm)
        pw = r->farm[0].password; /* (a farm's own: a pool's redis_auth, a Codis group's) */
    const char *pw_env = rmig_vm_str(L, src, "password_env");
    if (pw_env && !(pw = getenv(pw_env))) {
        snprintf(r->err, sizeof r->err, "source.password_env names %s, which is not set in the environment", pw_env);
        return -2;
    }
    s->user = rmig_vm_str(L, src, "user");
    s->password = pw;
    rmig_tls_opts tls, *tlsp = rmig_vm_tls(L, src, &tls);
    if (tlsp) {
        s->tls = tls;
        s->tlsp = &s->tls;
    }
    s->match = rmig_vm_str(L, src, "match");
    s->count = (long)rmig_vm_int(L, src, "count", 1000);
    s->rate = (double)rmig_vm_int(L, src, "rate", 0);
    s->live = rmig_vm_bool(L, src, "live", 0);
    s->notify = rmig_vm_str(L, src, "notify");
    s->big_bytes = (uint64_t)rmig_vm_int(L, src, "big_bytes", 8 << 20);
    s->state = rmig_vm_str(L, src, "state");
    if (r->vf) {
        /* rmig verify reads the source once and changes nothing: no tail,
         * no saved cursors; big keys are read in pieces and digested */
        s->live = 0;
        s->state = NULL;
    }
    if (!r->vf && !r->mode_replace && s->big_bytes) {
        /* a copy in pieces starts with DEL: it cannot leave an existing
         * key alone (skip-existing) or refuse it (fail-on-existing) */
        fprintf(stderr, "rmig run: sink.mode = \"%s\": big keys are read whole, by DUMP (copies in pieces need mode "
                "\"replace\")\n", r->skip_existing ? "skip-existing" : "fail-on-existing");
        s->big_bytes = 0;
    }
    if (s->live)
        r->optimistic = 0; /* a key read again must replace at once, never be re-sent after a later DEL */
    if (s->live && (r->skip_existing || !r->mode_replace)) {
        snprintf(r->err, sizeof r->err, "source.live follows changes by copying keys again over what the target holds: "
                 "it needs sink.mode = \"replace\", not \"%s\"", r->skip_existing ? "skip-existing" : "fail-on-existing");
        return -2;
    }
    lua_getfield(L, src, "dbs");
    for (size_t i = 1; lua_istable(L, -1) && i <= lua_objlen(L, -1) && s->ndb < MAX_DBS; i++) {
        lua_rawgeti(L, -1, (int)i);
        s->dbs[s->ndb++] = (uint64_t)lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (r->farm && r->farm_db >= 0) {
        /* a Twemproxy pool: its db on every backend (twem_source.c) */
        s->dbs[0] = (uint64_t)r->farm_db;
        s->ndb = 1;
    }
    s->dbs_listed = s->ndb > 0;
    /* sorted, so "the dbs below the saved one are done" holds */
    for (int i = 1; i < s->ndb; i++)
        for (int j = i; j > 0 && s->dbs[j - 1] > s->dbs[j]; j--) {
            uint64_t t = s->dbs[j];
            s->dbs[j] = s->dbs[j - 1];
            s->dbs[j - 1] = t;
        }

    char host[256], err[700];
    int port;
    if (r->farm) {
        snprintf(host, sizeof host, "%s", r->farm[0].host);
        port = r->farm[0].port;
    } else {
        rmig_target_split_addr(addr, host, sizeof host, &port);
    }
    rmig_target_info ti;
    if (rmig_target_probe(host, port, s->user, pw, s->tlsp, &ti, err, sizeof err) < 0) {
        snprintf(r->err, sizeof r->err, "source: %s", err);
        return -1;
    }
    *source_version = ti.rdb_version;
    lua_getfield(L, src, "cluster");
    int want_cluster = lua_isnil(L, -1) ? !strcmp(ti.mode, "cluster") : lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (r->farm) {
        /* every server of the farm, each of its own */
        for (size_t i = 0; i < r->nfarm; i++)
            if (!add_node(s, r, r->farm[i].host, r->farm[i].port)) {
                snprintf(r->err, sizeof r->err, "out of memory");
                return -1;
            }
    } else if (want_cluster) {
        rmig_cluster_map m = {0};
        if (rmig_cluster_map_fetch(host, port, s->user, pw, s->tlsp, &m, err, sizeof err) < 0) {
            snprintf(r->err, sizeof r->err, "source: %s", err);
            return -1;
        }
        if (s->dbs_listed && (s->ndb != 1 || s->dbs[0] != 0)) {
            rmig_cluster_map_free(&m);
            snprintf(r->err, sizeof r->err, "source.dbs: a cluster has only db 0");
            return -2;
        }
        s->dbs[0] = 0;
        s->ndb = 1;
        s->dbs_listed = 1;
        s->cluster = 1;
        for (int i = 0; i < m.nmasters; i++) {
            snode *n = add_node(s, r, m.nodes[i].host, m.nodes[i].port);
            if (!n) {
                rmig_cluster_map_free(&m);
                snprintf(r->err, sizeof r->err, "out of memory");
                return -1;
            }
            /* the notification probe must be a key of this master's slots */
            for (int tag = 0; s->live && tag < 1000000; tag++) {
                snprintf(n->probe, sizeof n->probe, "rmig:notify-probe:{%d}:%d", tag, (int)getpid());
                if (m.slot[rmig_slot_of(n->probe, strlen(n->probe))] == i)
                    break;
            }
        }
        rmig_cluster_map_free(&m);
    } else if (!add_node(s, r, host, port)) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    for (int i = 0; i < s->nn; i++) {
        int rc = open_node(r, s->nodes[i]);
        if (rc < 0)
            return rc;
    }
    if (s->state) {
        int rc = load_state(s, r->err, sizeof r->err);
        if (rc < 0)
            return -2;
        if (rc > 0 && s->live) {
            /* changes made while no run followed them were not seen: the
             * scan starts over */
            fprintf(stderr, "rmig run: source.state %s: a live run scans from the start again (changes made while "
                    "rmig was stopped were not followed)\n", s->state);
            for (int i = 0; i < s->nn; i++) {
                snode *n = s->nodes[i];
                n->dbi = 0;
                n->scan_done = n->ndb == 0;
                snprintf(n->cursor, sizeof n->cursor, "0");
            }
        } else if (rc > 0) {
            s->resumed = 1;
            fprintf(stderr, "rmig run: resuming the scan from %s\n", s->state);
        }
    }
    return 0;
}

/* The connections, timers and signals, on the runner's loop (made after
 * open). */
int rmig__scan_start(runner *r)
{
    rmig_scan *s = r->scan;
    s->start_ms = s->last_save_ms = rmig__scan_ms();
    uv_timer_init(&r->loop, &s->tick);
    s->tick.data = r;
    uv_timer_start(&s->tick, on_tick, 50, 50);
    uv_signal_init(&r->loop, &s->sigint);
    uv_signal_init(&r->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = r;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    s->handles = 1;
    for (int i = 0; i < s->nn; i++) {
        snode *n = s->nodes[i];
        rmig_redis_opts o = {.host = n->host, .port = n->port, .user = s->user, .password = s->password,
                             .window = 16384, .window_bytes = 64u << 20, .tls = s->tlsp, .retry_deadline_ms = 60000};
        n->c = rmig_redis_new(&r->loop, &o, on_reply, on_state, n);
        if (!n->c) {
            snprintf(r->err, sizeof r->err, "out of memory");
            return -1;
        }
        if (rmig_redis_connect(n->c) < 0)
            return -1;
        if (s->live && rmig__tail_start(n) < 0)
            return -1;
    }
    return 0;
}

void rmig__scan_finish(runner *r)
{
    rmig_scan *s = r->scan;
    if (!s)
        return;
    for (int i = 0; i < s->nn; i++) {
        snode *n = s->nodes[i];
        rmig__tail_close(n);
        if (n->c) {
            rmig_redis_close(n->c, NULL);
            n->c = NULL;
        }
        if (s->live)
            rmig__tail_restore(n);
    }
    if (s->handles) {
        s->handles = 0;
        uv_close((uv_handle_t *)&s->tick, NULL);
        uv_close((uv_handle_t *)&s->sigint, NULL);
        uv_close((uv_handle_t *)&s->sigterm, NULL);
    }
    int complete = 1;
    uint64_t unfollowed = 0;
    for (int i = 0; i < s->nn; i++) {
        complete &= s->nodes[i]->scan_done;
        unfollowed += s->nodes[i]->unfollowed;
    }
    if (!r->failed && unfollowed) {
        snprintf(r->err, sizeof r->err, "%llu keys moved to masters rmig does not read (the source cluster changed): "
                 "run again", (unsigned long long)unfollowed);
        r->failed = 1;
    } else if (!r->failed && !complete) {
        snprintf(r->err, sizeof r->err, "stopped before the scan's end: the target lacks the keys not reached yet; %s",
                 s->live ? "run again (a live run scans from the start)"
                 : s->state ? "run again with the same source.state to resume the scan"
                            : "run again (with source.state the scan would resume rather than start over)");
        r->failed = 1;
        if (s->state && !s->live) {
            char err[600];
            if (save_state(s, err, sizeof err) < 0)
                fprintf(stderr, "rmig run: %s\n", err);
        }
    }
    if (s->state && !s->live && !r->failed) {
        char err[600];
        (void)err;
        /* nothing left to resume: a run started again scans anew */
        if (remove(s->state) < 0 && errno != ENOENT)
            fprintf(stderr, "rmig run: source.state: cannot remove %s: %s\n", s->state, strerror(errno));
    }
}

void rmig__scan_summary(const runner *r)
{
    const rmig_scan *s = r->scan;
    uint64_t scanned = 0, vanished = 0, rounds = 0, notified = 0, reread = 0, deleted = 0, chunked = 0, cmds = 0;
    for (int i = 0; i < s->nn; i++) {
        const snode *n = s->nodes[i];
        scanned += n->scanned, vanished += n->vanished, rounds += n->rounds, notified += n->notified;
        reread += n->reread, deleted += n->deleted, chunked += n->chunked, cmds += n->chunk_cmds;
    }
    if (s->nn == 1)
        printf("  scan: %llu keys scanned in %d db(s) of %s:%d (%llu SCAN rounds), %llu gone before their DUMP\n",
               (unsigned long long)scanned, s->nodes[0]->ndb, s->nodes[0]->host, s->nodes[0]->port,
               (unsigned long long)rounds, (unsigned long long)vanished);
    else
        printf("  scan: %llu keys scanned on %d %s (%llu SCAN rounds), %llu gone before their DUMP\n",
               (unsigned long long)scanned, s->nn, r->farm ? r->farm_what : "masters", (unsigned long long)rounds,
               (unsigned long long)vanished);
    uint64_t moved = 0;
    for (int i = 0; i < s->nn; i++)
        moved += s->nodes[i]->moved;
    if (moved)
        printf("  %llu keys were on another master when read (their slot moved): that master's copy counts\n",
               (unsigned long long)moved);
    if (s->resumed)
        printf("  the scan resumed from the cursors in %s\n", s->state);
    if (chunked)
        printf("  %llu keys bigger than source.big_bytes were copied in chunks (%llu commands)\n",
               (unsigned long long)chunked, (unsigned long long)cmds);
    if (r->cmds)
        printf("  %llu commands (pieces of big keys, DELs of keys gone) were applied by the target\n",
               (unsigned long long)r->cmds);
    if (s->live)
        printf("  live: %llu notifications, %llu keys re-read, %llu deleted on the target (gone from the source)\n",
               (unsigned long long)notified, (unsigned long long)reread, (unsigned long long)deleted);
}

void rmig__scan_free(runner *r)
{
    rmig_scan *s = r->scan;
    if (!s)
        return;
    for (int i = 0; i < s->nn; i++) {
        snode *n = s->nodes[i];
        rmig__tail_restore(n); /* (a run that failed before it started: put notify-keyspace-events back) */
        rmig__big_free(n);
        while (n->tq_head) {
            tkey *k = n->tq_head;
            n->tq_head = k->next;
            free(k);
        }
        free(n->th);
        free(n->held);
        free(n);
    }
    free(s->nodes);
    free(s);
    r->scan = NULL;
}
