/* run_live.c - `rmig run` from a live master (rmig.source.psync).
 *
 * The source connection (psync.c) puts everything it reads into the spool
 * (spool.c) at line rate; this side takes records from the spool as fast
 * as the target answers. A snapshot goes through the RDB pump that file
 * sources use (run.c); the command stream after it is cut into commands
 * (respcmd.c), each a CMD entry with its db, its arguments as slices of the
 * stream buffer and its keys' positions (cmdtable.c), through the same
 * nodes, and written in the source's order on the one target connection.
 *
 * Position: every command carries the replication offset it ends at, and
 * a command outside MULTI marks a point the stream may resume from. Once
 * the target has answered everything up to such a point, it is the
 * applied position: reported to the source with REPLCONF ACK and saved to
 * the state file (atomically, every second and at the end), from which a
 * later run resumes with PSYNC replid offset+1. Delivery is at-least-once:
 * after a crash the commands between the saved position and the crash run
 * again. With sink.exactly_once the stream goes in MULTI/EXEC batches that
 * also set a checkpoint key on the target, and a run starts from that key,
 * so no command is applied twice.
 *
 * SIGINT or SIGTERM stops taking records at the next resume point, waits
 * for the target's answers, saves the state and exits 0. */
#include "run_internal.h"

#include "cmdtable.h"
#include "psync.h"
#include "respcmd.h"
#include "resp.h"
#include "spool.h"
#include "state.h"
#include "target.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LAG_SAMPLES 256
#define MAX_KEYS 4096 /* key positions per command held on the stack; more are looked up again */

enum { PH_WAIT, PH_SNAPSHOT, PH_CATCHUP, PH_LIVE };
static const char *phase_names[] = {"connecting", "snapshot", "catching up", "live"};

struct rmig_live {
    /* options */
    char host[256];
    int port;
    const char *user, *password;
    rmig_tls_opts tls, *tlsp;
    char state_path[900], spool_dir[1024];
    const char *ckpt_key;
    int exactly_once, default_deny;
    /* parts */
    rmig_spool *spool;
    rmig_psync *ps;
    rmig_cmdtable *cmds;
    rmig_respcmd rc;
    rmig_out sbuf;            /* stream bytes not consumed yet, from sbuf_pos on */
    size_t sbuf_pos;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm;
    int handles_open, finished, stopping;
    /* position */
    int phase;
    char replid[41];
    int64_t stream_off;       /* offset of the last stream byte consumed */
    uint64_t sdb;             /* the stream's db there */
    int in_multi;
    int64_t full_off;         /* offset the last full sync's snapshot stands for */
    int64_t acked, saved;     /* applied (answered) position, and the one in the state file */
    uint64_t acked_db;
    int have_acked;
    int64_t resume_off;       /* where this run started (-1: a full sync) */
    uint64_t resume_db;
    /* counts */
    uint64_t full_syncs, partial_syncs, denied_flush, unknown, held;
    uint64_t snap_start_ms, snap_keys;
    double snap_applied_s;
    int snap_pending;         /* the snapshot was read; waiting for its last answers */
    /* lag: when stream offsets arrived */
    int64_t lag_off[LAG_SAMPLES];
    uint64_t lag_ms[LAG_SAMPLES];
    unsigned lag_head, lag_len;
    uint64_t last_status_ms, last_cmds;
    double cmd_rate;
    /* for the source connection */
    int psync_timeout_ms, psync_deadline_ms;
    const char *psync_cmd, *sync_cmd;
    char psync_name[64], sync_name[64];
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void say(runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(runner *r, const char *fmt, ...)
{
    rmig_progress_clear(&r->progress);
    va_list ap;
    va_start(ap, fmt);
    fputs("rmig run: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void fail(runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(runner *r, const char *fmt, ...)
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

/* The run fails with the message already in r->err. */
static void fail_as_is(runner *r)
{
    if (r->failed)
        return;
    r->failed = 1;
    rmig__run_finish(r);
}

/* ---- the state file ---- */

static int state_save(runner *r)
{
    rmig_live *lv = r->lv;
    if (!lv->state_path[0] || !lv->have_acked || lv->acked == lv->saved || strlen(lv->replid) != 40)
        return 0; /* (a SYNC without PSYNC has no id to resume with) */
    rmig_state st = {.offset = lv->acked, .db = lv->acked_db};
    char source[300], err[1200];
    memcpy(st.replid, lv->replid, sizeof st.replid);
    snprintf(source, sizeof source, "%s:%d", lv->host, lv->port);
    if (rmig_state_save(lv->state_path, &st, source, err, sizeof err) < 0) {
        say(r, "%s", err);
        return -1;
    }
    lv->saved = lv->acked;
    return 0;
}

/* exactly_once: the target's checkpoint, "replid offset db" */
typedef struct ckpt {
    char replid[41];
    long long off;
    unsigned long long db;
    int found;
} ckpt;

static int ckpt_reply(const redisReply *rep, void *ud, char *err, size_t errlen)
{
    ckpt *k = ud;
    if (rep->type == REDIS_REPLY_NIL)
        return 0;
    if (rep->type != REDIS_REPLY_STRING || sscanf(rep->str, "%40s %lld %llu", k->replid, &k->off, &k->db) != 3) {
        snprintf(err, errlen, "the target's checkpoint key does not hold \"replid offset db\": %.*s",
                 rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_ERROR ? (int)rep->len : 0, rep->str);
        return -1;
    }
    k->found = 1;
    return 0;
}

static int command_reply(const redisReply *rep, void *ud, char *err, size_t errlen)
{
    rmig_cmdtable *t = ud;
    if (rep->type == REDIS_REPLY_ERROR)
        return 0; /* COMMAND refused (renamed away): the built-in table it is */
    return rmig_cmdtable_merge(t, rep, err, errlen) < 0 ? -1 : 0;
}

/* ---- lag ---- */

static void lag_note(rmig_live *lv, int64_t off)
{
    uint64_t now = mono_ms();
    if (lv->lag_len) {
        unsigned last = (lv->lag_head + lv->lag_len - 1) % LAG_SAMPLES;
        if (now - lv->lag_ms[last] < 100 || lv->lag_off[last] == off) {
            if (lv->lag_off[last] < off && lv->lag_len == 1)
                lv->lag_off[last] = off;
            return;
        }
    }
    if (lv->lag_len == LAG_SAMPLES)
        return; /* coarser for a while; the oldest samples are what matters */
    unsigned at = (lv->lag_head + lv->lag_len++) % LAG_SAMPLES;
    lv->lag_off[at] = off;
    lv->lag_ms[at] = now;
}

/* Seconds since the oldest byte not applied yet arrived. */
static double lag_seconds(rmig_live *lv)
{
    while (lv->lag_len && lv->lag_off[lv->lag_head] <= lv->acked) {
        lv->lag_head = (lv->lag_head + 1) % LAG_SAMPLES;
        lv->lag_len--;
    }
    if (!lv->lag_len)
        return 0;
    return (double)(mono_ms() - lv->lag_ms[lv->lag_head]) / 1000.0;
}

static void live_status(runner *r, int force)
{
    rmig_live *lv = r->lv;
    uint64_t now = mono_ms();
    if (!force && now - lv->last_status_ms < (r->progress.tty ? 250u : 5000u))
        return;
    double dt = lv->last_status_ms ? (double)(now - lv->last_status_ms) / 1000.0 : 0;
    if (dt > 0)
        lv->cmd_rate = (double)(r->cmds - lv->last_cmds) / dt;
    lv->last_status_ms = now;
    lv->last_cmds = r->cmds;
    rmig_spool_stats st;
    rmig_spool_stats_get(lv->spool, &st);
    char spool[32], lag[32], rate[32], keys[32];
    rmig_progress_bytes(spool, sizeof spool, (double)st.bytes);
    int64_t recv = lv->ps ? rmig_psync_received(lv->ps) : 0;
    rmig_progress_bytes(lag, sizeof lag, lv->have_acked && recv > lv->acked ? (double)(recv - lv->acked) : 0);
    rmig_progress_count(rate, sizeof rate, lv->cmd_rate);
    rmig_progress_count(keys, sizeof keys, (double)r->read);
    char line[400];
    if (lv->phase == PH_SNAPSHOT || lv->phase == PH_WAIT)
        snprintf(line, sizeof line, "%s: %s keys read, %llu written, %llu failed, spool %s", phase_names[lv->phase], keys,
                 (unsigned long long)r->written, (unsigned long long)r->failed_keys, spool);
    else
        snprintf(line, sizeof line, "%s: lag %s / %.1f s, %s cmds/s, %llu commands applied, spool %s, %llu failed",
                 phase_names[lv->phase], lag, lag_seconds(lv), rate, (unsigned long long)r->cmds, spool,
                 (unsigned long long)r->failed_keys);
    if (r->progress.tty) {
        fprintf(stderr, "\r\033[K  %s", line);
        r->progress.drawn = 1;
    } else {
        fprintf(stderr, "rmig: %s\n", line);
    }
    fflush(stderr);
}

/* ---- the position ---- */

static void set_acked(runner *r, int64_t off, uint64_t db)
{
    rmig_live *lv = r->lv;
    if (lv->have_acked && off <= lv->acked)
        return;
    lv->acked = off;
    lv->acked_db = db;
    lv->have_acked = 1;
    if (lv->ps)
        rmig_psync_set_acked(lv->ps, off);
    if (lv->snap_pending && off >= lv->full_off) {
        lv->snap_pending = 0;
        lv->snap_applied_s = (double)(mono_ms() - lv->snap_start_ms) / 1000.0;
        say(r, "snapshot applied: %llu keys in %.2f s; now applying the stream", (unsigned long long)lv->snap_keys,
            lv->snap_applied_s);
    }
    if (lv->phase == PH_CATCHUP && !lv->snap_pending && lag_seconds(lv) < 1.0 &&
        (!lv->ps || rmig_psync_received(lv->ps) - off < (1 << 20))) {
        lv->phase = PH_LIVE;
        say(r, "caught up with %s: live (lag under 1 s)", lv->ps ? rmig_psync_name(lv->ps) : lv->host);
    }
}

/* The stream is applied up to offset (run.c: every record written before
 * that point is answered). */
void rmig__live_applied(runner *r, int64_t offset, uint64_t sdb)
{
    set_acked(r, offset, sdb);
}

/* ---- writing commands ---- */

/* A command of the stream to the current connection: its arguments
 * args[0..nargs) (indexes into e->argv; all of them when args is NULL),
 * with a record naming it and its first key for messages. */
int rmig__run_write_cmd_args(runner *r, const rmig_entry *e, const uint32_t *args, uint32_t nargs, int tx)
{
    rmig_redis_select(r->c, e->db);
    rmig_out *o = rmig_redis_out(r->c);
    uint32_t n = args ? nargs : e->argc;
    rmig_resp_array(o, n);
    for (uint32_t i = 0; i < n; i++) {
        const rmig_slice *a = &e->argv[args ? args[i] : i];
        rmig_resp_bulk(o, a->p, (size_t)a->n);
    }
    keyrec *k = rmig__run_rec_push(r);
    if (!k) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    k->cmd = 1;
    k->tx = tx;
    k->db = e->db;
    /* "NAME key" for messages */
    size_t nl = e->argv[0].n < 24 ? (size_t)e->argv[0].n : 24;
    memcpy(k->key, e->argv[0].p, nl);
    k->key_len = (uint32_t)nl;
    const rmig_slice *first = n > 1 ? &e->argv[args ? args[1] : 1] : NULL;
    if (e->nkeys && first) {
        size_t kl = first->n < sizeof k->key - nl - 1 ? (size_t)first->n : sizeof k->key - nl - 1;
        k->key[nl] = ' ';
        memcpy(k->key + nl + 1, first->p, kl);
        k->key_len = (uint32_t)(nl + 1 + kl);
    }
    rmig_redis_done(r->c, r->tag++);
    return 0;
}

int rmig__live_write_cmd(runner *r, const rmig_entry *e)
{
    rmig_live *lv = r->lv;
    if (lv->exactly_once && (e->cmd_flags & RMIG_CMD_TX_MARK))
        return 0; /* the source's MULTI/EXEC: the batch's own transaction holds them */
    if (rmig__run_write_cmd_args(r, e, NULL, 0, 0) < 0)
        return -1;
    if (e->offset > 0 && !lv->exactly_once)
        rmig__run_commit(r, e->offset, e->stream_db);
    return 0;
}

/* One of rmig's own commands (argv) with its record: kind 3, or 2 for
 * the EXEC that carries the batch's position. 0, or -1 (memory). */
static int own_cmd(runner *r, int argc, const char *const *argv, int kind, int64_t off, uint64_t sdb)
{
    rmig_resp_cmd(rmig_redis_out(r->c), (size_t)argc, argv);
    keyrec *k = rmig__run_rec_push(r);
    if (!k)
        return -1;
    k->cmd = kind;
    k->key_len = (uint32_t)snprintf(k->key, sizeof k->key, "%s", argv[0]);
    k->offset = off;
    k->sdb = sdb;
    rmig_redis_done(r->c, r->tag++);
    return 0;
}

/* exactly_once: the batch's commands between MULTI and a SET of the
 * checkpoint, then EXEC, as one unit; its EXEC carries the position. */
static int flush_exactly_once(runner *r, int64_t off, uint64_t sdb)
{
    rmig_live *lv = r->lv;
    static const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
    char val[128];
    snprintf(val, sizeof val, "%s %lld %llu", lv->replid, (long long)off, (unsigned long long)sdb);
    const char *set[] = {"SET", lv->ckpt_key, val};
    rmig_redis_unit_begin(r->c);
    if (own_cmd(r, 1, multi, 3, 0, 0) < 0 || rmig__run_write_entries(r, 0) < 0)
        return -1;
    rmig_redis_select(r->c, 0);
    if (own_cmd(r, 3, set, 3, 0, 0) < 0 || own_cmd(r, 1, exec, 2, off, sdb) < 0)
        return -1;
    rmig_redis_unit_end(r->c);
    return 0;
}

/* The batch of commands to the nodes and the target. */
static int flush_cmds(runner *r)
{
    rmig_live *lv = r->lv;
    if (!r->b.n)
        return 0;
    if ((lv->exactly_once || r->clus) && lv->in_multi && r->b.n < BATCH_KEYS)
        return 1; /* a transaction of the source is never cut (the caller keeps its bytes) */
    if (rmig_steps_run(r->steps, &r->b, rmig__run_now_ms(), r->err, sizeof r->err) < 0)
        return -1;
    int rc;
    if (lv->exactly_once) {
        /* the checkpoint is the last resume point in the batch */
        int64_t off = 0;
        uint64_t sdb = 0;
        for (uint32_t i = 0; i < r->b.n; i++)
            if (r->b.e[i].offset > 0) {
                off = r->b.e[i].offset;
                sdb = r->b.e[i].stream_db;
            }
        if (lv->in_multi)
            lv->held++; /* too big to hold: this part is at-least-once */
        rc = off > 0 ? flush_exactly_once(r, off, sdb) : rmig__run_write_entries(r, 0);
    } else {
        rc = rmig__run_write_entries(r, 0);
    }
    rmig_batch_reset(&r->b);
    return rc;
}

/* Entries of a batch held across records point into the stream buffer,
 * which the next record may move: their arguments move to the arena. */
static int hold_batch(runner *r)
{
    for (uint32_t i = 0; i < r->b.n; i++) {
        rmig_entry *e = &r->b.e[i];
        rmig_slice a[64], *v = e->argc <= 64 ? a : malloc(e->argc * sizeof *v);
        if (!v)
            return -1;
        for (uint32_t j = 0; j < e->argc; j++) {
            v[j].p = rmig_batch_copy(&r->b, e->argv[j].p, (size_t)e->argv[j].n);
            v[j].n = e->argv[j].n;
        }
        uint32_t fl = e->flags;
        int rc = rmig_batch_set_argv(&r->b, e, v, e->argc, e->keys, e->nkeys);
        e->flags = fl;
        if (v != a)
            free(v);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- reading the stream ---- */

static int is(const rmig_respcmd *c, int i, const char *s)
{
    size_t n = strlen(s);
    return c->lens[i] == n && !strncasecmp((const char *)c->argv[i], s, n);
}

/* One command of the stream, ending at offset `end`: an entry, or handled
 * here (SELECT, PING, REPLCONF). 0, or -1 with r->err. */
static int stream_command(runner *r, int64_t end)
{
    rmig_live *lv = r->lv;
    rmig_respcmd *c = &lv->rc;
    if (c->argc == 0) { /* a bare newline: nothing but bytes */
        if (!lv->in_multi)
            rmig__run_commit(r, end, lv->sdb);
        return 0;
    }
    if (is(c, 0, "select") && c->argc == 2) {
        lv->sdb = strtoull((const char *)c->argv[1], NULL, 10);
        if (!lv->in_multi)
            rmig__run_commit(r, end, lv->sdb);
        return 0;
    }
    if (is(c, 0, "ping") || (is(c, 0, "replconf") && c->argc >= 2)) {
        if (c->argc >= 2 && is(c, 1, "getack") && lv->ps)
            rmig_psync_ack_now(lv->ps);
        if (!lv->in_multi)
            rmig__run_commit(r, end, lv->sdb);
        return 0;
    }
    int multi = is(c, 0, "multi"), exec = is(c, 0, "exec");
    if (multi)
        lv->in_multi = 1;
    if (exec)
        lv->in_multi = 0;
    if (lv->default_deny && (is(c, 0, "flushall") || is(c, 0, "flushdb"))) {
        if (!lv->denied_flush++)
            say(r, "the source ran %.*s: not forwarded (add rmig.filter.commands { deny = {} } to forward it)",
                (int)c->lens[0], c->argv[0]);
        if (!lv->in_multi)
            rmig__run_commit(r, end, lv->sdb);
        return 0;
    }
    if (r->b.n >= r->b.cap / 2 && flush_cmds(r) < 0)
        return -1;
    rmig_entry *e = rmig_batch_add(&r->b);
    if (!e) {
        snprintf(r->err, sizeof r->err, "a transaction of the source too big to hold");
        return -1;
    }
    e->kind = RMIG_ENTRY_CMD;
    e->db = lv->sdb;
    e->stream_db = lv->sdb;
    e->offset = lv->in_multi ? 0 : end;
    if (multi || exec)
        e->cmd_flags |= RMIG_CMD_TX_MARK; /* the source's own transaction markers */
    rmig_slice small[16], *a = c->argc <= 16 ? small : malloc((size_t)c->argc * sizeof *a);
    uint32_t pos[64], *kp = pos;
    if (!a) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    for (int i = 0; i < c->argc; i++)
        a[i] = (rmig_slice){c->argv[i], c->lens[i]};
    const rmig_cmdinfo *ci = rmig_cmdtable_find(lv->cmds, c->argv[0], c->lens[0]);
    int nk = 0;
    if (ci) {
        e->cmd_flags |= ci->flags;
        e->split_group = (ci->flags & RMIG_CMD_SPLIT) ? (uint32_t)ci->group : 0;
        nk = rmig_cmdtable_keys(lv->cmds, ci, c->argc, c->argv, c->lens, pos, 64);
        if (nk > 64 && (kp = malloc((size_t)nk * sizeof *kp)) != NULL)
            nk = rmig_cmdtable_keys(lv->cmds, ci, c->argc, c->argv, c->lens, kp, nk);
        if (nk < 0 || !kp)
            nk = 0; /* arguments the table cannot read: the target will say */
    } else if (!lv->unknown++) {
        say(r, "the source sent %.*s, a command rmig does not know: forwarded as is (no key filter sees it)",
            (int)(c->lens[0] < 40 ? c->lens[0] : 40), c->argv[0]);
    }
    int rc = rmig_batch_set_argv(&r->b, e, a, (uint32_t)c->argc, kp, (uint32_t)nk);
    e->flags &= ~(uint32_t)RMIG_ENTRY_CHANGED;
    if (a != small)
        free(a);
    if (kp != pos)
        free(kp);
    if (rc < 0) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    return 0;
}

static int stream_bytes(runner *r, const uint8_t *p, size_t n)
{
    rmig_live *lv = r->lv;
    /* consumed bytes go first, so the buffer holds one partial command at most */
    if (lv->sbuf_pos && !r->b.n) {
        memmove(lv->sbuf.buf, lv->sbuf.buf + lv->sbuf_pos, lv->sbuf.len - lv->sbuf_pos);
        lv->sbuf.len -= lv->sbuf_pos;
        lv->sbuf_pos = 0;
    }
    if (r->b.n && hold_batch(r) < 0) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    rmig_out_mem(&lv->sbuf, p, n);
    for (;;) {
        const uint8_t *at = (const uint8_t *)lv->sbuf.buf + lv->sbuf_pos;
        long long used = rmig_respcmd_parse(&lv->rc, at, lv->sbuf.len - lv->sbuf_pos);
        if (used < 0) {
            snprintf(r->err, sizeof r->err, "the command stream from %s at offset %lld: %s", rmig_psync_name(lv->ps),
                     (long long)lv->stream_off + 1, rmig_respcmd_error(&lv->rc));
            return -1;
        }
        if (used == 0)
            break;
        lv->sbuf_pos += (size_t)used;
        lv->stream_off += used;
        if (stream_command(r, lv->stream_off) < 0)
            return -1;
    }
    int rc = flush_cmds(r);
    return rc < 0 ? -1 : 0;
}

/* ---- records from the spool ---- */

static int parse_pos(const uint8_t *p, size_t n, char *replid, int64_t *off)
{
    char text[96];
    long long o;
    snprintf(text, sizeof text, "%.*s", (int)(n < 95 ? n : 95), p);
    if (sscanf(text, "%40s %lld", replid, &o) != 2)
        return -1;
    *off = o;
    return 0;
}

static void new_parser(runner *r)
{
    if (r->p)
        rmig_rdb_free(r->p);
    r->p = rmig_rdb_new(&(rmig_rdb_opts){RMIG_RDB_RAW | RMIG_RDB_COUNT, 0, 0, 0});
    r->rdb_done = 0;
    r->value.len = 0;
    r->pend_n = 0;
}

static int record(runner *r, int type, const uint8_t *p, size_t n)
{
    rmig_live *lv = r->lv;
    switch (type) {
    case RMIG_PSYNC_FULL: {
        char id[64];
        int64_t off;
        if (parse_pos(p, n, id, &off) < 0)
            return 0;
        snprintf(lv->replid, sizeof lv->replid, "%.40s", id);
        lv->full_off = lv->stream_off = off;
        lv->sdb = 0;
        lv->in_multi = 0;
        lv->sbuf.len = lv->sbuf_pos = 0;
        rmig_respcmd_free(&lv->rc);
        rmig_respcmd_init(&lv->rc, 0);
        lv->full_syncs++;
        lv->phase = PH_SNAPSHOT;
        lv->snap_start_ms = mono_ms();
        lv->snap_keys = r->read;
        new_parser(r);
        if (!r->p) {
            snprintf(r->err, sizeof r->err, "out of memory");
            return -1;
        }
        say(r, "%s: full sync (replication id %s, offset %lld)", rmig_psync_name(lv->ps), id, (long long)off);
        return 0;
    }
    case RMIG_PSYNC_RDB:
        if (r->p && rmig_rdb_feed(r->p, p, n) < 0) {
            snprintf(r->err, sizeof r->err, "the snapshot from %s: %s", rmig_psync_name(lv->ps), rmig_rdb_error(r->p));
            return -1;
        }
        return 0;
    case RMIG_PSYNC_RDB_END:
        if (r->p)
            rmig_rdb_finish(r->p);
        return 0;
    case RMIG_PSYNC_RDB_ABORT:
        say(r, "the snapshot transfer was cut; a new full sync follows");
        if (r->p)
            rmig_rdb_free(r->p);
        r->p = NULL;
        r->rdb_done = 0;
        lv->phase = PH_WAIT;
        return 0;
    case RMIG_PSYNC_CONTINUE: {
        char id[64];
        int64_t off;
        if (parse_pos(p, n, id, &off) < 0)
            return 0;
        snprintf(lv->replid, sizeof lv->replid, "%.40s", id);
        int64_t have = lv->stream_off + (int64_t)(lv->sbuf.len - lv->sbuf_pos);
        if (off != have) {
            /* resumed from a saved position: nothing partial is kept */
            lv->sbuf.len = lv->sbuf_pos = 0;
            rmig_respcmd_free(&lv->rc);
            rmig_respcmd_init(&lv->rc, 0);
            lv->stream_off = off;
        }
        lv->partial_syncs++;
        if (lv->phase < PH_CATCHUP)
            lv->phase = PH_CATCHUP;
        return 0;
    }
    case RMIG_PSYNC_STREAM:
        return stream_bytes(r, p, n);
    }
    return 0;
}

void rmig__live_idle(runner *r)
{
    rmig_live *lv = r->lv;
    char err[400];
    while (rmig__run_room(r) && !r->eof && !r->failed) {
        if (r->p && !r->rdb_done && lv->phase == PH_SNAPSHOT) {
            int rc = rmig__run_rdb_pump(r);
            if (rc < 0) {
                fail_as_is(r);
                return;
            }
            if (r->rdb_done) {
                /* the snapshot is read; it counts as applied once every
                 * key of it is answered */
                lv->snap_keys = r->read - lv->snap_keys;
                lv->snap_pending = 1;
                lv->phase = PH_CATCHUP;
                rmig__run_commit(r, lv->full_off, 0);
                continue;
            }
            if (rc == 1)
                break;
        }
        if (lv->stopping && !lv->in_multi) {
            if (flush_cmds(r) < 0) {
                fail_as_is(r);
                return;
            }
            r->eof = 1;
            break;
        }
        int type;
        const uint8_t *p;
        size_t n;
        int got = rmig_spool_next(lv->spool, &type, &p, &n, err, sizeof err);
        if (got < 0) {
            fail(r, "spool: %s", err);
            return;
        }
        if (got == 0)
            break;
        if (record(r, type, p, n) < 0) {
            fail_as_is(r);
            return;
        }
    }
    live_status(r, 0);
    if (r->eof && rmig__run_pending(r) == 0) {
        rmig__run_finish(r);
        return;
    }
    rmig__run_stop_idle(r); /* new records or replies start it again */
}

/* ---- the source's events, time, signals ---- */

static void on_psync(rmig_psync *ps, void *ud, int ev, const char *msg)
{
    runner *r = ud;
    (void)ps;
    if (ev == RMIG_PSYNC_EV_DATA) {
        lag_note(r->lv, rmig_psync_received(ps));
        if (!r->eof && rmig__run_room(r) && r->ready)
            rmig__run_start_idle(r);
    } else if (ev == RMIG_PSYNC_EV_INFO) {
        say(r, "%s", msg);
    } else {
        fail(r, "source: %s%s", msg,
             strstr(msg, "budget") ? " (source.spool_budget; the state file keeps what was applied: run again to "
                                     "resume)" : "");
    }
}

static void on_tick(uv_timer_t *t)
{
    runner *r = t->data;
    state_save(r);
    live_status(r, 0);
    if (r->lv->phase == PH_CATCHUP)
        set_acked(r, r->lv->acked, r->lv->acked_db); /* re-judges catching up vs live */
}

static void on_signal(uv_signal_t *s, int signum)
{
    runner *r = s->data;
    rmig_live *lv = r->lv;
    if (lv->stopping) {
        fail(r, "stopped by a second %s before the target answered; the state file holds what was applied",
             signum == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
    lv->stopping = 1;
    say(r, "%s: stopping at the next command boundary once the target has answered (again to stop at once)",
        signum == SIGINT ? "SIGINT" : "SIGTERM");
    rmig__run_start_idle(r);
}

/* ---- the life cycle ---- */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

void rmig__live_finish(runner *r)
{
    rmig_live *lv = r->lv;
    if (!lv || lv->finished)
        return;
    lv->finished = 1;
    state_save(r);
    if (lv->ps)
        rmig_psync_close(lv->ps);
    lv->ps = NULL;
    if (lv->handles_open) {
        uv_close((uv_handle_t *)&lv->tick, on_handle_closed);
        uv_close((uv_handle_t *)&lv->sigint, on_handle_closed);
        uv_close((uv_handle_t *)&lv->sigterm, on_handle_closed);
        lv->handles_open = 0;
    }
}

/* Options, state and checkpoint; -2 for a configuration error. */
int rmig__live_open(runner *r, lua_State *L, int pipe, int src, int sink)
{
    rmig_live *lv = r->lv = calloc(1, sizeof *lv);
    if (!lv) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    lv->acked = lv->saved = -1;
    lv->resume_off = -1;
    rmig_respcmd_init(&lv->rc, 0);
    rmig_out_init(&lv->sbuf, -1);
    const char *addr = rmig_vm_str(L, src, "addr"), *pw_env = rmig_vm_str(L, src, "password_env");
    rmig_target_split_addr(addr, lv->host, sizeof lv->host, &lv->port);
    lv->user = rmig_vm_str(L, src, "user");
    lv->password = rmig_vm_str(L, src, "password");
    if (pw_env && !(lv->password = getenv(pw_env))) {
        snprintf(r->err, sizeof r->err, "source.password_env names %s, which is not set in the environment", pw_env);
        return -2;
    }
    lv->tlsp = rmig_vm_tls(L, src, &lv->tls);
    const char *state = rmig_vm_str(L, src, "state"), *sdir = rmig_vm_str(L, src, "spool_dir");
    if (state)
        snprintf(lv->state_path, sizeof lv->state_path, "%s", state);
    if (sdir)
        snprintf(lv->spool_dir, sizeof lv->spool_dir, "%s", sdir);
    else if (state)
        snprintf(lv->spool_dir, sizeof lv->spool_dir, "%s.spool", state);
    else
        snprintf(lv->spool_dir, sizeof lv->spool_dir, "rmig-spool");
    lv->exactly_once = rmig_vm_bool(L, sink, "exactly_once", 0);
    lv->ckpt_key = rmig_vm_str(L, sink, "checkpoint_key");
    if (!lv->ckpt_key)
        lv->ckpt_key = "rmig:checkpoint";
    /* FLUSHALL/FLUSHDB are not forwarded unless a commands node decides */
    lv->default_deny = 1;
    lua_getfield(L, pipe, "nodes");
    for (size_t j = 1; lua_istable(L, -1) && j <= lua_objlen(L, -1); j++) {
        lua_rawgeti(L, -1, (int)j);
        const char *ctor = lua_istable(L, -1) ? rmig_vm_str(L, lua_gettop(L), "constructor") : NULL;
        if (ctor && !strcmp(ctor, "rmig.filter.commands"))
            lv->default_deny = 0;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    /* where to start: the target's checkpoint (exactly_once), else the
     * state file, else a full sync */
    char replid[41] = "";
    int64_t off = -1;
    uint64_t db = 0;
    if (lv->state_path[0]) {
        rmig_state st;
        int got = rmig_state_load(lv->state_path, &st, r->err, sizeof r->err);
        if (got < 0)
            return -1;
        if (got) {
            memcpy(replid, st.replid, sizeof replid);
            off = st.offset;
            db = st.db;
        }
    }
    if (lv->exactly_once) {
        char thost[256];
        int tport;
        const char *taddr = rmig_vm_str(L, sink, "addr"), *tpw = rmig_vm_str(L, sink, "password");
        const char *tpw_env = rmig_vm_str(L, sink, "password_env");
        if (tpw_env)
            tpw = getenv(tpw_env);
        rmig_tls_opts ttls, *ttlsp = rmig_vm_tls(L, sink, &ttls);
        rmig_target_split_addr(taddr, thost, sizeof thost, &tport);
        ckpt k = {0};
        const char *get[] = {"GET", lv->ckpt_key};
        if (rmig_target_call(thost, tport, rmig_vm_str(L, sink, "user"), tpw, ttlsp, 2, get, ckpt_reply, &k, r->err,
                             sizeof r->err) < 0)
            return -1;
        if (k.found) {
            if (off >= 0 && (strcmp(k.replid, replid) || k.off != off))
                say(r, "the target's checkpoint (%s %lld) and the state file (%s %lld) differ: the checkpoint, "
                    "written with the data, wins", k.replid, k.off, replid, (long long)off);
            snprintf(replid, sizeof replid, "%s", k.replid);
            off = k.off;
            db = k.db;
        } else if (off >= 0) {
            say(r, "exactly_once: the target has no checkpoint key %s; a full sync makes one", lv->ckpt_key);
            off = -1;
        }
    }
    if (off >= 0) {
        snprintf(lv->replid, sizeof lv->replid, "%s", replid);
        lv->resume_off = lv->stream_off = lv->acked = lv->saved = off;
        lv->resume_db = lv->sdb = lv->acked_db = db;
        lv->have_acked = 1;
        lv->phase = PH_CATCHUP;
    }

    lv->cmds = rmig_cmdtable_new();
    if (!lv->cmds) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    /* the source's own command table, when it answers COMMAND */
    const char *cmd[] = {"COMMAND"};
    char err[512];
    if (rmig_target_call(lv->host, lv->port, lv->user, lv->password, lv->tlsp, 1, cmd, command_reply, lv->cmds, err,
                         sizeof err) < 0) {
        snprintf(r->err, sizeof r->err, "source: %s", err);
        return -1;
    }
    unsigned swept = rmig_spool_sweep(lv->spool_dir);
    if (swept)
        say(r, "removed %u spool files an earlier run left in %s", swept, lv->spool_dir);
    rmig_spool_opts so = {.dir = lv->spool_dir,
                          .mem_bytes = (size_t)rmig_vm_int(L, src, "spool_memory", 32 << 20),
                          .disk_budget = (uint64_t)rmig_vm_int(L, src, "spool_budget", 0)};
    lv->spool = rmig_spool_new(&so, err, sizeof err);
    if (!lv->spool) {
        snprintf(r->err, sizeof r->err, "spool: %s", err);
        return -2;
    }
    const char *pc = rmig_vm_str(L, src, "psync_command"), *sc = rmig_vm_str(L, src, "sync_command");
    snprintf(lv->psync_name, sizeof lv->psync_name, "%s", pc ? pc : "PSYNC");
    snprintf(lv->sync_name, sizeof lv->sync_name, "%s", sc ? sc : "SYNC");
    lv->psync_cmd = lv->psync_name;
    lv->sync_cmd = lv->sync_name;
    lv->snap_start_ms = mono_ms();
    lv->psync_timeout_ms = (int)rmig_vm_int(L, src, "timeout_s", 60) * 1000;
    lv->psync_deadline_ms = (int)rmig_vm_int(L, src, "retry_deadline_s", 300) * 1000;
    if (lv->exactly_once)
        r->retry_deadline_s = 0; /* a lost target is not replayed blindly: the checkpoint decides (see on_state) */
    return 0;
}

int rmig__live_start(runner *r)
{
    rmig_live *lv = r->lv;
    rmig_psync_opts o = {.host = lv->host, .port = lv->port, .user = lv->user, .password = lv->password,
                         .tls = lv->tlsp, .psync_cmd = lv->psync_cmd, .sync_cmd = lv->sync_cmd,
                         .replid = lv->resume_off >= 0 ? lv->replid : NULL, .offset = lv->resume_off,
                         .timeout_ms = lv->psync_timeout_ms, .retry_deadline_ms = lv->psync_deadline_ms};
    lv->ps = rmig_psync_new(&r->loop, &o, lv->spool, on_psync, r);
    if (!lv->ps) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    uv_timer_init(&r->loop, &lv->tick);
    uv_signal_init(&r->loop, &lv->sigint);
    uv_signal_init(&r->loop, &lv->sigterm);
    lv->tick.data = lv->sigint.data = lv->sigterm.data = r;
    uv_timer_start(&lv->tick, on_tick, 1000, 1000);
    uv_signal_start(&lv->sigint, on_signal, SIGINT);
    uv_signal_start(&lv->sigterm, on_signal, SIGTERM);
    lv->handles_open = 1;
    if (lv->resume_off >= 0)
        say(r, "resuming after offset %lld of %s (db %llu)%s", (long long)lv->resume_off, lv->replid,
            (unsigned long long)lv->resume_db, lv->exactly_once ? ", from the target's checkpoint" : "");
    return rmig_psync_start(lv->ps);
}

void rmig__live_summary(runner *r)
{
    rmig_live *lv = r->lv;
    printf("  live: %llu commands applied; %llu full and %llu partial syncs; applied up to offset %lld of %s\n",
           (unsigned long long)r->cmds, (unsigned long long)lv->full_syncs, (unsigned long long)lv->partial_syncs,
           (long long)lv->acked, lv->replid[0] ? lv->replid : "-");
    if (lv->snap_applied_s > 0)
        printf("  the snapshot was applied in %.2f s\n", lv->snap_applied_s);
    if (lv->state_path[0] && lv->saved >= 0 && strlen(lv->replid) == 40)
        printf("  state saved in %s: rmig run again resumes from there\n", lv->state_path);
    else if (lv->state_path[0])
        printf("  no state saved: %s\n", strlen(lv->replid) == 40 ? "the snapshot was not applied yet"
                                                                  : "the source gives no replication id (SYNC)");
    if (lv->denied_flush)
        printf("  %llu FLUSHALL/FLUSHDB from the source were not forwarded\n", (unsigned long long)lv->denied_flush);
    if (lv->unknown)
        printf("  %llu commands unknown to rmig's table were forwarded as they were\n", (unsigned long long)lv->unknown);
    if (lv->held)
        printf("  %llu transactions of the source were too big for one exactly-once batch (applied at-least-once)\n",
               (unsigned long long)lv->held);
    rmig_spool_stats st;
    rmig_spool_stats_get(lv->spool, &st);
    if (st.peak_disk_bytes) {
        char b[32];
        printf("  the spool used up to %s of disk\n", rmig_progress_bytes(b, sizeof b, (double)st.peak_disk_bytes));
    }
}

void rmig__live_free(runner *r)
{
    rmig_live *lv = r->lv;
    if (!lv)
        return;
    rmig_spool_free(lv->spool);
    rmig_cmdtable_free(lv->cmds);
    rmig_respcmd_free(&lv->rc);
    rmig_out_close(&lv->sbuf);
    free(lv);
    r->lv = NULL;
}
