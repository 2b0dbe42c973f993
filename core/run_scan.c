/* run_scan.c - `rmig run` from a live server read by SCAN + DUMP
 * (rmig.source.scan), for sources that refuse SYNC/PSYNC (managed
 * services).
 *
 * One connection to the source (redis_conn.h). Per db of the source's
 * keyspace (or sink dbs listed in source.dbs): SCAN cursor MATCH COUNT,
 * then for every key returned a pipelined DUMP and PTTL. The replies come
 * in order: a DUMP payload (type byte, value, RDB version, CRC64) with its
 * PTTL makes the same KEY entry the RDB source makes (raw value, absolute
 * expiry), so every node and sink works unchanged. A key gone between SCAN
 * and DUMP (nil) is skipped and counted. New SCANs go out only while the
 * target has room and few source commands are waiting, so memory stays
 * bounded; source.rate (ops/s) spaces them further for a busy source.
 *
 * Not yet (issue 6): values too big for one DUMP copied in chunks, a
 * cluster source scanned master by master, the keyspace-notification tail
 * (live = true), scan cursors saved for resume. */
#include "run_internal.h"

#include "rdb.h"
#include "resp.h"
#include "target.h"
#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_INFLIGHT 4 /* SCAN rounds (with their DUMPs) waiting at most */

enum { T_SELECT = 1, T_SCAN, T_DUMP, T_PTTL };

struct rmig_scan {
    rmig_redis *c;
    char host[256];
    int port;
    const char *user, *password;
    rmig_tls_opts tls, *tlsp;
    uint64_t dbs[16];
    int ndb, dbi;              /* the db being scanned: dbs[dbi] */
    char cursor[32];           /* "0" at the start of a db */
    int scanning, db_done;     /* a SCAN is out; the db's cursor came back to 0 */
    const char *match;
    long count;
    double rate;               /* keys/s, 0: no limit */
    uint64_t start_ms;
    /* replies: the current key's DUMP waits for its PTTL */
    redisReply *dump, held;   /* the DUMP waiting for its PTTL (held: a copy) */
    char *held_buf;
    size_t held_cap;
    char key[512];
    size_t key_len;
    uint64_t outstanding;      /* DUMP+PTTL pairs sent, not answered */
    uint64_t vanished, scanned, rounds;
    int ready;
};

static uint64_t ms_now(void) { return uv_hrtime() / 1000000; }

static void source_fail(runner *r, const char *fmt, const char *a, const char *b)
{
    if (r->failed)
        return;
    snprintf(r->err, sizeof r->err, fmt, a, b);
    r->failed = 1;
    rmig__run_finish(r);
}

static void send_scan(runner *r)
{
    rmig_scan *s = r->scan;
    const char *argv[7] = {"SCAN", s->cursor, "COUNT", NULL, NULL, NULL, NULL};
    char count[24];
    snprintf(count, sizeof count, "%ld", s->count);
    argv[3] = count;
    int argc = 4;
    if (s->match) {
        argv[argc++] = "MATCH";
        argv[argc++] = s->match;
    }
    rmig_resp_cmd(rmig_redis_out(s->c), (size_t)argc, argv);
    rmig_redis_done(s->c, T_SCAN);
    s->scanning = 1;
    s->rounds++;
}

static void next_db(runner *r)
{
    rmig_scan *s = r->scan;
    s->dbi++;
    s->db_done = 0;
    snprintf(s->cursor, sizeof s->cursor, "0");
    if (s->dbi < s->ndb)
        rmig_redis_select(s->c, s->dbs[s->dbi]);
}

/* More SCANs while the target has room and the source is not far ahead. */
void rmig__scan_idle(runner *r)
{
    rmig_scan *s = r->scan;
    if (!s->ready || r->failed)
        return;
    if (!s->scanning && s->db_done && s->outstanding == 0)
        next_db(r); /* (the keys of this db all answered: an entry takes the db being scanned) */
    if (s->dbi >= s->ndb && !s->scanning && s->outstanding == 0) {
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
        rmig__run_stop_idle(r);
        return;
    }
    double elapsed = (double)(ms_now() - s->start_ms) / 1000.0;
    int slow = s->rate > 0 && (double)s->scanned > s->rate * (elapsed + 0.1);
    if (!s->scanning && !s->db_done && s->dbi < s->ndb && !slow && rmig__run_room(r) &&
        s->outstanding < (uint64_t)s->count * SCAN_INFLIGHT)
        send_scan(r);
    rmig__run_stop_idle(r); /* replies (source or target) start it again */
    if (slow)
        rmig__run_start_idle(r); /* (polls until the rate allows the next SCAN) */
}

/* A DUMP with its PTTL: a KEY entry of the batch. */
static int key_entry(runner *r, const redisReply *dump, long long pttl)
{
    rmig_scan *s = r->scan;
    const uint8_t *p = (const uint8_t *)dump->str;
    size_t n = dump->len;
    if (n < 11) {
        source_fail(r, "source %s: a DUMP payload too short (%s)", s->host, "under 11 bytes");
        return -1;
    }
    int version = p[n - 10] | (p[n - 9] << 8);
    int kind = rmig_rdb_type_kind(p[0]);
    if (kind < 0) {
        char t[16];
        snprintf(t, sizeof t, "%d", p[0]);
        source_fail(r, "source %s: a DUMP payload of unknown type %s", s->host, t);
        return -1;
    }
    rmig_entry *e = rmig_batch_add(&r->b);
    if (!e)
        return -2;
    e->kind = RMIG_ENTRY_KEY;
    e->db = s->dbs[s->dbi < s->ndb ? s->dbi : s->ndb - 1];
    e->key = rmig_batch_copy(&r->b, s->key, s->key_len);
    e->key_len = (uint32_t)s->key_len;
    e->type = kind;
    e->rdb_type = p[0];
    e->rdb_version = version;
    e->expire_ms = pttl >= 0 ? rmig__run_now_ms() + pttl : -1;
    e->idle_s = -1;
    e->freq = -1;
    e->value = rmig_batch_copy(&r->b, p + 1, n - 11);
    e->value_len = n - 11;
    if (!e->key || !e->value) {
        snprintf(r->err, sizeof r->err, "out of memory holding a batch");
        return -1;
    }
    r->read++;
    return 0;
}

static void on_source_reply(rmig_redis *c, void *ud, uint64_t tag, const redisReply *rep)
{
    runner *r = ud;
    rmig_scan *s = r->scan;
    (void)c;
    if (r->failed)
        return;
    if (rep->type == REDIS_REPLY_ERROR && tag != T_DUMP) {
        char why[300];
        snprintf(why, sizeof why, "%.*s", (int)(rep->len < 250 ? rep->len : 250), rep->str);
        source_fail(r, "source %s refused a command: %s", s->host, why);
        return;
    }
    if (tag == T_SCAN) {
        s->scanning = 0;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[1]->type != REDIS_REPLY_ARRAY) {
            source_fail(r, "source %s: %s", s->host, "an unexpected SCAN reply");
            return;
        }
        snprintf(s->cursor, sizeof s->cursor, "%.*s", (int)rep->element[0]->len, rep->element[0]->str);
        s->db_done = !strcmp(s->cursor, "0");
        const redisReply *keys = rep->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const redisReply *k = keys->element[i];
            rmig_out *o = rmig_redis_out(s->c);
            rmig_resp_array(o, 2);
            rmig_resp_bulk_str(o, "DUMP");
            rmig_resp_bulk(o, k->str, k->len);
            rmig_redis_done(s->c, T_DUMP);
            o = rmig_redis_out(s->c);
            rmig_resp_array(o, 2);
            rmig_resp_bulk_str(o, "PTTL");
            rmig_resp_bulk(o, k->str, k->len);
            rmig_redis_done(s->c, T_PTTL);
            s->outstanding++;
            s->scanned++;
        }
    } else if (tag == T_DUMP) {
        const char *cmd;
        size_t n;
        cmd = rmig_redis_command(s->c, &n);
        /* the key's name, from "*2\r\n$4\r\nDUMP\r\n$<len>\r\n<key>\r\n" */
        const char *d = cmd ? memchr(cmd + 4, '$', n > 4 ? n - 4 : 0) : NULL;
        d = d ? memchr(d + 1, '$', (size_t)(cmd + n - d - 1)) : NULL;
        long kl = d ? strtol(d + 1, NULL, 10) : -1;
        const char *kp = d ? memchr(d, '\n', (size_t)(cmd + n - d)) : NULL;
        if (kl < 0 || !kp || (size_t)kl > sizeof s->key) {
            source_fail(r, "source %s: %s", s->host, "a key name too long to hold (over 512 bytes)");
            return;
        }
        memcpy(s->key, kp + 1, (size_t)kl);
        s->key_len = (size_t)kl;
        s->dump = NULL;
        if (rep->type == REDIS_REPLY_STRING) {
            /* kept until its PTTL comes (the reply is freed after this call) */
            if (rep->len > s->held_cap) {
                free(s->held_buf);
                s->held_cap = rep->len;
                s->held_buf = malloc(s->held_cap);
            }
            if (!s->held_buf) {
                source_fail(r, "%s%s", "out of memory", "");
                return;
            }
            memcpy(s->held_buf, rep->str, rep->len);
            s->held = (redisReply){.type = REDIS_REPLY_STRING, .str = s->held_buf, .len = rep->len};
            s->dump = &s->held;
        }
    } else if (tag == T_PTTL) {
        s->outstanding--;
        if (!s->dump) {
            s->vanished++; /* gone between SCAN and DUMP */
        } else {
            int rc = key_entry(r, s->dump, rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1);
            if (rc == -2 || (rc == 0 && (r->b.n >= BATCH_KEYS || r->b.arena_len > BATCH_BYTES)))
                rc = rmig__run_flush_batch(r) < 0 ? -1 : (rc == -2 ? key_entry(r, s->dump, rep->integer) : 0);
            if (rc < 0) {
                r->failed = 1;
                rmig__run_finish(r);
                return;
            }
        }
    }
    rmig__run_start_idle(r);
}

static void on_source_state(rmig_redis *c, void *ud, int state, const char *err, uint64_t unanswered)
{
    runner *r = ud;
    (void)c, (void)unanswered;
    if (state == RMIG_REDIS_READY) {
        if (!r->scan->ready && r->scan->ndb)
            rmig_redis_select(r->scan->c, r->scan->dbs[0]);
        r->scan->ready = 1;
        rmig__run_start_idle(r);
    } else if (state == RMIG_REDIS_FAILED) {
        source_fail(r, "source: %s%s", err, "");
    }
}

/* Options (the pipeline's source options at index src), the source's dbs
 * (INFO keyspace, or source.dbs) and its RDB version. 0, -1 with r->err
 * (-2 for a configuration error). */
static int on_keyspace(const redisReply *rep, void *ud, char *err, size_t errlen)
{
    rmig_scan *s = ud;
    (void)err, (void)errlen;
    if (rep->type != REDIS_REPLY_STRING)
        return 0;
    for (const char *p = rep->str; (p = strstr(p, "\ndb")) != NULL && s->ndb < 16; p += 3) {
        unsigned long long db;
        if (sscanf(p + 3, "%llu:keys=", &db) == 1)
            s->dbs[s->ndb++] = db;
    }
    return 0;
}

int rmig__scan_open(runner *r, lua_State *L, int src, int *source_version)
{
    rmig_scan *s = r->scan = calloc(1, sizeof *s);
    if (!s) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    const char *addr = rmig_vm_str(L, src, "addr"), *user = rmig_vm_str(L, src, "user");
    const char *pw = rmig_vm_str(L, src, "password"), *pw_env = rmig_vm_str(L, src, "password_env");
    if (pw_env && !(pw = getenv(pw_env))) {
        snprintf(r->err, sizeof r->err, "source.password_env names %s, which is not set in the environment", pw_env);
        return -2;
    }
    rmig_tls_opts tls, *tlsp = rmig_vm_tls(L, src, &tls);
    rmig_target_split_addr(addr, s->host, sizeof s->host, &s->port);
    s->match = rmig_vm_str(L, src, "match");
    s->count = (long)rmig_vm_int(L, src, "count", 1000);
    s->rate = (double)rmig_vm_int(L, src, "rate", 0);
    snprintf(s->cursor, sizeof s->cursor, "0");
    rmig_target_info ti;
    char err[600];
    if (rmig_target_probe(s->host, s->port, user, pw, tlsp, &ti, err, sizeof err) < 0) {
        snprintf(r->err, sizeof r->err, "source: %s", err);
        return -1;
    }
    *source_version = ti.rdb_version;
    lua_getfield(L, src, "dbs");
    for (size_t i = 1; lua_istable(L, -1) && i <= lua_objlen(L, -1) && s->ndb < 16; i++) {
        lua_rawgeti(L, -1, (int)i);
        s->dbs[s->ndb++] = (uint64_t)lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    int listed = s->ndb > 0;
    lua_pop(L, 1);
    const char *info[] = {"INFO", "keyspace"};
    if (!listed &&
        rmig_target_call(s->host, s->port, user, pw, tlsp, 2, info, on_keyspace, s, err, sizeof err) < 0) {
        snprintf(r->err, sizeof r->err, "source: %s", err);
        return -1;
    }
    s->user = user;
    s->password = pw;
    if (tlsp) {
        s->tls = tls;
        s->tlsp = &s->tls;
    }
    return 0;
}

/* The source connection, on the runner's loop (made after open). */
int rmig__scan_start(runner *r)
{
    rmig_scan *s = r->scan;
    rmig_redis_opts o = {.host = s->host, .port = s->port, .user = s->user, .password = s->password,
                         .window = 8192, .window_bytes = 64u << 20, .tls = s->tlsp, .retry_deadline_ms = 60000};
    s->c = rmig_redis_new(&r->loop, &o, on_source_reply, on_source_state, r);
    if (!s->c) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    s->start_ms = ms_now();
    return rmig_redis_connect(s->c);
}

void rmig__scan_finish(runner *r)
{
    if (r->scan && r->scan->c) {
        rmig_redis_close(r->scan->c, NULL);
        r->scan->c = NULL;
    }
}

void rmig__scan_summary(const runner *r)
{
    const rmig_scan *s = r->scan;
    printf("  scan: %llu keys scanned in %d db(s) of %s:%d (%llu SCAN rounds), %llu gone before their DUMP\n",
           (unsigned long long)s->scanned, s->ndb, s->host, s->port, (unsigned long long)s->rounds,
           (unsigned long long)s->vanished);
}

void rmig__scan_free(runner *r)
{
    if (!r->scan)
        return;
    free(r->scan->held_buf);
    free(r->scan);
    r->scan = NULL;
}
