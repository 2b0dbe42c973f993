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
#include "live_internal.h"

#include "cluster.h"
#include "cmdtable.h"
#include "codis.h"
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
#include <sys/stat.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *phase_names[] = {"connecting", "snapshot", "catching up", "live"};

void rmig__live_say(runner *r, const char *fmt, ...)
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

static int state_save(runner *r, rmig_live *lv)
{
    if (!lv->state_path[0] || !lv->have_acked || lv->acked == lv->saved || strlen(lv->replid) != 40)
        return 0; /* (a SYNC without PSYNC has no id to resume with) */
    rmig_state st = {.offset = lv->acked, .db = lv->acked_db};
    char source[300], err[1200];
    memcpy(st.replid, lv->replid, sizeof st.replid);
    rmig_target_addr(source, sizeof source, lv->host, lv->port);
    if (rmig_state_save(lv->state_path, &st, source, err, sizeof err) < 0) {
        rmig__live_say(r, "%s", err);
        return -1;
    }
    lv->saved = lv->acked;
    return 0;
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
    rmig_progress_line(&r->progress, line);
}

/* ---- the position ---- */

static void set_acked(runner *r, rmig_live *lv, int64_t off, uint64_t db)
{
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
        rmig__live_say(r, "snapshot applied: %llu keys in %.2f s; now applying the stream", (unsigned long long)lv->snap_keys,
            lv->snap_applied_s);
    }
    if (lv->phase == PH_CATCHUP && !lv->snap_pending && lag_seconds(lv) < 1.0 &&
        (!lv->ps || rmig_psync_received(lv->ps) - off < (1 << 20))) {
        lv->phase = PH_LIVE;
        rmig__live_say(r, "caught up with %s: live (lag under 1 s)", lv->ps ? rmig_psync_name(lv->ps) : lv->host);
        rmig__verify_spawn(r); /* (rmig run --verify) */
    }
}

/* The stream is applied up to offset (run.c: every record written before
 * that point is answered). */
void rmig__live_applied(runner *r, int src, int64_t offset, uint64_t sdb)
{
    if (src >= 0 && src < r->nlv)
        set_acked(r, r->lvs[src], offset, sdb);
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

/* ---- keys migrated between the masters of a cluster source ----
 *
 * MIGRATE moves a key from master A to master B: B's stream gets
 * RESTORE-ASKING key (B propagates it before it answers A), A's stream a
 * DEL key (once B has answered). The two streams reach rmig in either
 * order; applied as RESTORE then DEL, the key would be lost. So a
 * RESTORE-ASKING waits (its source stops there, the others go on) until
 * another master's DEL of that key has been taken, within 2 s before it
 * or any time after. Each DEL answers one RESTORE-ASKING: a key moved A to
 * B and back within the window pairs each move's restore with its own DEL.
 * When the other sources have nothing more to give for 0.5 s (two masters
 * trading keys both wait; a MIGRATE ... COPY has no DEL), the restore goes
 * first and the other master's DEL of that key, should it come within a
 * minute, is left out. */

#define DEL_RING 4096

static uint64_t key_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static struct deleted *ring_slot(struct deleted **ring, unsigned *head)
{
    if (!*ring && !(*ring = calloc(DEL_RING, sizeof **ring)))
        return NULL;
    return &(*ring)[(*head)++ % DEL_RING];
}

/* A DEL of key k taken from lv: 1 when it must be left out (the key's
 * restore from another master was applied first, see must_wait), else it
 * is noted for a RESTORE-ASKING still to come. */
static int note_deleted(runner *r, rmig_live *lv, const uint8_t *k, size_t n)
{
    rmig_live *z = r->lvs[0]; /* the first source keeps what all share */
    uint64_t h = key_hash(k, n), now = mono_ms();
    for (unsigned i = 0; z->drop_ring && i < DEL_RING; i++) {
        struct deleted *d = &z->drop_ring[i];
        if (d->hash == h && d->src != lv->idx && d->ms + 60000 >= now) {
            d->hash = 0;
            z->migrate_dropped++;
            return 1;
        }
    }
    struct deleted *d = ring_slot(&z->del_ring, &z->del_head);
    if (d)
        *d = (struct deleted){h, now, lv->idx};
    return 0;
}

/* The other sources cannot bring the DEL now: nothing waits in their
 * spools (or they wait themselves), and they are past their snapshots. */
static int others_idle(const runner *r, const rmig_live *lv)
{
    for (int i = 0; i < r->nlv; i++) {
        const rmig_live *o = r->lvs[i];
        rmig_spool_stats st;
        if (o == lv || o->done)
            continue;
        rmig_spool_stats_get(o->spool, &st);
        if ((st.records && !o->blocked) || o->phase < PH_CATCHUP)
            return 0;
    }
    return 1;
}

/* 1 when the key's restore must wait for another source's DEL of it, else
 * 0 (the DEL was taken, or it goes first and that DEL will be left out).
 * no_wait: 0 at once when no DEL was taken. */
static int must_wait(runner *r, rmig_live *lv, const uint8_t *k, size_t n, int no_wait)
{
    uint64_t h = key_hash(k, n), now = mono_ms();
    if (!lv->blocked || lv->blocked_hash != h) {
        lv->blocked_ms = now;
        lv->blocked_hash = h;
    }
    rmig_live *z = r->lvs[0];
    for (unsigned i = 0; z->del_ring && i < DEL_RING; i++) {
        struct deleted *d = &z->del_ring[i];
        if (d->hash == h && d->src != lv->idx && d->ms + 2000 >= lv->blocked_ms) {
            /* each DEL answers one move: the same key may move again
             * (A to B and back) within the window */
            d->hash = 0;
            lv->blocked = 0;
            return 0;
        }
    }
    if (no_wait || (now - lv->blocked_ms > 500 && others_idle(r, lv))) {
        /* the DEL has not come (two masters swapping keys wait for each
         * other; a MIGRATE ... COPY has none): the restore goes first, and
         * the other master's DEL of the key, when it comes, is left out */
        struct deleted *d = ring_slot(&z->drop_ring, &z->drop_head);
        if (d && d->hash && d->ms + 60000 >= now && !z->drop_overrun++)
            rmig__live_say(r, "over %d migrated keys went before the other %s's DEL of them within a minute: rmig "
                           "remembers that many, so a DEL arriving later may delete its key; check the target with "
                           "rmig verify once the run is over", DEL_RING, r->codis ? "group" : "master");
        if (d)
            *d = (struct deleted){h, now, lv->idx};
        lv->blocked = 0;
        lv->migrate_waits++;
        return 0;
    }
    lv->blocked = 1;
    return 1;
}

/* A command of the stream as a CMD entry: its keys read from the command
 * table; offset where the stream may resume once it is applied (0 inside a
 * transaction). The array of arguments is copied, not their bytes (those
 * of the stream's buffer stay until the batch is written). 0, or -1 with
 * r->err. */
static int cmd_entry(runner *r, const rmig_slice *a, uint32_t argc, int64_t offset, uint32_t flags)
{
    rmig_live *lv = r->lv;
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
    e->offset = offset;
    e->cmd_flags |= flags;
    const uint8_t *pp[64];
    size_t ll[64];
    uint32_t pos[64], *kp = pos;
    const uint8_t **argvp = argc <= 64 ? pp : malloc(argc * sizeof *argvp);
    size_t *lens = argc <= 64 ? ll : malloc(argc * sizeof *lens);
    if (!argvp || !lens) {
        if (argvp != pp)
            free((void *)argvp);
        if (lens != ll)
            free(lens);
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < argc; i++)
        argvp[i] = a[i].p, lens[i] = (size_t)a[i].n;
    const rmig_cmdinfo *ci = rmig_cmdtable_find(lv->cmds, a[0].p, (size_t)a[0].n);
    int nk = 0;
    if (ci) {
        e->cmd_flags |= ci->flags;
        e->split_group = (ci->flags & RMIG_CMD_SPLIT) ? (uint32_t)ci->group : 0;
        nk = rmig_cmdtable_keys(lv->cmds, ci, (int)argc, argvp, lens, pos, 64);
        if (nk > 64 && (kp = malloc((size_t)nk * sizeof *kp)) != NULL)
            nk = rmig_cmdtable_keys(lv->cmds, ci, (int)argc, argvp, lens, kp, nk);
        if (nk < 0 || !kp)
            nk = 0; /* arguments the table cannot read: the target will say */
    } else if (!lv->unknown++) {
        rmig__live_say(r, "the source sent %.*s, a command rmig does not know: forwarded as is (no key filter sees it)",
            (int)(a[0].n < 40 ? a[0].n : 40), a[0].p);
    }
    int rc = rmig_batch_set_argv(&r->b, e, a, argc, kp, (uint32_t)nk);
    e->flags &= ~(uint32_t)RMIG_ENTRY_CHANGED;
    if (argvp != pp)
        free((void *)argvp);
    if (lens != ll)
        free(lens);
    if (kp != pos)
        free(kp);
    if (rc < 0) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    return 0;
}

/* The arguments of entry e that are not bytes of the stream's buffer (the
 * translator's formatted TTLs, scores, command names: its blocks are reused
 * by the next command, before the batch is written) copied into the
 * batch's arena. 0, or -1 with r->err. */
static int own_bytes(runner *r, const rmig_live *lv, rmig_entry *e)
{
    const uint8_t *lo = (const uint8_t *)lv->sbuf.buf, *hi = lo + lv->sbuf.len;
    rmig_slice *a = (rmig_slice *)e->argv; /* (the batch's own copy of the array: rmig_batch_set_argv) */
    for (uint32_t i = 0; i < e->argc; i++) {
        if (a[i].p >= lo && a[i].p + a[i].n <= hi)
            continue;
        const uint8_t *p = rmig_batch_copy(&r->b, a[i].p, (size_t)a[i].n);
        if (!p && a[i].n) {
            snprintf(r->err, sizeof r->err, "out of memory");
            return -1;
        }
        a[i].p = p ? p : (const uint8_t *)"";
    }
    e->key = e->nkeys ? a[e->keys[0]].p : e->key;
    return 0;
}

/* A Codis slot migration moves keys between groups as MIGRATE does between
 * a cluster's masters (codis_cmd.c): the group they join gets them
 * (SLOTSRESTORE, or SLOTSRESTORE-ASYNC string, object or chunks), and the
 * group they leave DELs them once they are there. So an arriving key waits
 * for the leaving group's DEL as a RESTORE-ASKING does (must_wait). A
 * command of several keys waits once, for its first (lv->mig_done keys are
 * past): the leaving group DELs them all in one command, so the others'
 * DELs are there too, or the others go first. The chunks of a big value
 * wait once: its key is open (lv->mig_open) until its expire message; the
 * chunks of values from several groups come interleaved. A command the
 * translator will refuse as malformed does not wait. 1 when the stream
 * must wait. */
static int mig_open_at(const rmig_live *lv, uint64_t h)
{
    for (unsigned i = 0; i < lv->mig_nopen; i++)
        if (lv->mig_open[i] == h)
            return (int)i;
    return -1;
}

static int digits(const rmig_slice *s)
{
    if (!s->n || s->n > 19)
        return 0;
    for (uint64_t i = 0; i < s->n; i++)
        if (s->p[i] < '0' || s->p[i] > '9')
            return 0;
    return 1;
}

static int codis_arrivals(runner *r, rmig_live *lv, const rmig_slice *a, uint32_t argc)
{
    rmig_codis_form f = rmig_codis_form_of(a, argc);
    int chunk = f == RMIG_CODIS_F_ASYNC_LIST || f == RMIG_CODIS_F_ASYNC_HASH || f == RMIG_CODIS_F_ASYNC_DICT ||
                f == RMIG_CODIS_F_ASYNC_ZSET;
    if (f == RMIG_CODIS_F_ASYNC_EXPIRE && argc >= 3) {
        int i = mig_open_at(lv, key_hash(a[2].p, (size_t)a[2].n));
        if (i >= 0)
            lv->mig_open[i] = lv->mig_open[--lv->mig_nopen];
        return 0;
    }
    uint32_t nkeys = 0;
    if (f == RMIG_CODIS_F_SLOTSRESTORE && argc >= 4 && (argc - 1) % 3 == 0) {
        nkeys = (argc - 1) / 3;
        for (uint32_t i = 0; i < nkeys; i++)
            if (!digits(&a[2 + 3 * i]))
                return 0;
    } else if ((f == RMIG_CODIS_F_ASYNC_STRING || f == RMIG_CODIS_F_ASYNC_OBJECT) && argc == 5) {
        nkeys = 1;
    } else if (chunk && argc >= 5) {
        nkeys = 1;
    }
    for (; lv->mig_done < nkeys; lv->mig_done++) {
        const rmig_slice *k = &a[f == RMIG_CODIS_F_SLOTSRESTORE ? 1 + 3 * lv->mig_done : 2];
        uint64_t h = key_hash(k->p, (size_t)k->n);
        if (chunk && mig_open_at(lv, h) >= 0)
            continue;
        if (must_wait(r, lv, k->p, (size_t)k->n, lv->mig_done > 0))
            return 1;
        if (chunk) {
            if (lv->mig_nopen == sizeof lv->mig_open / sizeof *lv->mig_open)
                memmove(lv->mig_open, lv->mig_open + 1, --lv->mig_nopen * sizeof *lv->mig_open);
            lv->mig_open[lv->mig_nopen++] = h; /* (the oldest forgotten waits again: slower, not wrong) */
        }
        lv->migrated_in++;
    }
    lv->mig_done = 0;
    return 0;
}

/* A Codis-only command of a codis-server's stream (rmig.source.codis):
 * the plain commands it means (codis.h), each an entry, the last one
 * carrying the offset; dropped ones are counted, and those that changed
 * data rmig cannot repeat (SLOTSDEL) or that do not parse are reported.
 * 0; 1 when a key it brings by migration waits (codis_arrivals); or -1
 * with r->err. */
static int codis_command(runner *r, int64_t end)
{
    rmig_live *lv = r->lv;
    rmig_respcmd *c = &lv->rc;
    if (!lv->xl) {
        if (!(lv->xl = malloc(sizeof *lv->xl))) {
            snprintf(r->err, sizeof r->err, "out of memory");
            return -1;
        }
        rmig_codis_xlate_init(lv->xl, RMIG_CODIS_CHUNKS_APPEND);
    }
    rmig_slice small[16], *a = c->argc <= 16 ? small : malloc((size_t)c->argc * sizeof *a);
    if (!a) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    for (int i = 0; i < c->argc; i++)
        a[i] = (rmig_slice){c->argv[i], c->lens[i]};
    if (r->nlv > 1 && codis_arrivals(r, lv, a, (uint32_t)c->argc)) {
        if (a != small)
            free(a);
        return 1; /* parsed again when it may go */
    }
    char why[600];
    rmig_codis_xlate_reset(lv->xl);
    int n = rmig_codis_translate(lv->xl, lv->sdb, a, (uint32_t)c->argc, why, sizeof why);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        uint32_t argc;
        const rmig_slice *ca = rmig_codis_xlate_cmd(lv->xl, (uint32_t)i, &argc);
        if (argc == 2 && ca[0].n == 6 && !strncasecmp((const char *)ca[0].p, "select", 6)) {
            char db[24];
            snprintf(db, sizeof db, "%.*s", (int)(ca[1].n < 23 ? ca[1].n : 23), ca[1].p);
            lv->sdb = strtoull(db, NULL, 10);
            continue;
        }
        rc = cmd_entry(r, ca, argc, lv->in_multi || i + 1 < n ? 0 : end, 0);
        if (rc == 0 && own_bytes(r, lv, &r->b.e[r->b.n - 1]) < 0)
            rc = -1;
    }
    if (a != small)
        free(a);
    if (rc < 0)
        return -1;
    if (n <= 0 && lv->xl->outcome != RMIG_CODIS_CONTROL) {
        /* SLOTSDEL, or a command that does not parse: the target may differ now */
        r->failed_keys++;
        rmig__live_say(r, "%s: %s", rmig_psync_name(lv->ps), why);
    }
    if (n <= 0 && !lv->in_multi)
        rmig__run_commit(r, end, lv->sdb);
    return 0;
}

/* One command of the stream, ending at offset `end`: an entry, or handled
 * here (SELECT, PING, REPLCONF). 0; 1 when it must wait (lv->blocked); or
 * -1 with r->err. */
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
    if (r->codis && rmig_codis_is_cmd(c->argv[0], c->lens[0]))
        return codis_command(r, end); /* (0, 1 when it waits, -1) */
    int asking = c->argc >= 4 && is(c, 0, "restore-asking");
    if (asking && r->nlv > 1 && must_wait(r, lv, c->argv[1], c->lens[1], 0))
        return 1;
    if (r->nlv > 1 && (is(c, 0, "del") || is(c, 0, "unlink"))) {
        int kept = 1;
        for (int i = 1; i < c->argc; i++) {
            if (note_deleted(r, lv, c->argv[i], c->lens[i]))
                continue; /* a migrated key whose restore went first */
            c->argv[kept] = c->argv[i];
            c->lens[kept++] = c->lens[i];
        }
        c->argc = kept;
        if (kept == 1) {
            if (!lv->in_multi)
                rmig__run_commit(r, end, lv->sdb);
            return 0;
        }
    }
    int multi = is(c, 0, "multi"), exec = is(c, 0, "exec");
    if (multi)
        lv->in_multi = 1;
    if (exec)
        lv->in_multi = 0;
    if (lv->default_deny && (is(c, 0, "flushall") || is(c, 0, "flushdb"))) {
        if (!lv->denied_flush++)
            rmig__live_say(r, "the source ran %.*s: not forwarded (add rmig.filter.commands { deny = {} } to forward it)",
                (int)c->lens[0], c->argv[0]);
        if (!lv->in_multi)
            rmig__run_commit(r, end, lv->sdb);
        return 0;
    }
    rmig_slice small[17], *a = c->argc < 16 ? small : malloc((size_t)(c->argc + 1) * sizeof *a);
    if (!a) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    for (int i = 0; i < c->argc; i++)
        a[i] = (rmig_slice){c->argv[i], c->lens[i]};
    int argc = c->argc;
    if (asking) {
        /* a key migrated in from another master: RESTORE ... REPLACE here */
        static const char restore[] = "RESTORE", replace[] = "REPLACE";
        a[0] = (rmig_slice){(const uint8_t *)restore, 7};
        int has = 0;
        for (int i = 4; i < c->argc; i++)
            has = has || is(c, i, "replace");
        if (!has)
            a[argc++] = (rmig_slice){(const uint8_t *)replace, 7};
        lv->migrated_in++;
    }
    int rc = cmd_entry(r, a, (uint32_t)argc, lv->in_multi ? 0 : end, multi || exec ? RMIG_CMD_TX_MARK : 0);
    if (a != small)
        free(a);
    return rc;
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
        int rc = stream_command(r, lv->stream_off + used);
        if (rc < 0)
            return -1;
        if (rc > 0)
            break; /* it waits (lv->blocked); parsed again when it may go */
        lv->sbuf_pos += (size_t)used;
        lv->stream_off += used;
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
        rmig__live_say(r, "%s: full sync (replication id %s, offset %lld)", rmig_psync_name(lv->ps), id, (long long)off);
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
        rmig__live_say(r, "the snapshot transfer was cut; a new full sync follows");
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

/* Whether the current source must stay current: its snapshot is being
 * read (the runner has one RDB parser), or a transaction of it is held in
 * the batch. */
static int pinned(const runner *r, const rmig_live *lv)
{
    return (lv->phase == PH_SNAPSHOT && r->p && !r->rdb_done) || lv->in_multi || r->b.n > 0;
}

static int has_records(const rmig_live *lv)
{
    rmig_spool_stats st;
    rmig_spool_stats_get(lv->spool, &st);
    return st.records > 0;
}

/* The next source with something to take, round robin; -1 when none. */
static int next_source(const runner *r)
{
    for (int i = 1; i <= r->nlv; i++) {
        int j = (r->lv_i + i) % r->nlv;
        const rmig_live *c = r->lvs[j];
        if (!c->done && (has_records(c) || c->blocked))
            return j;
    }
    return -1;
}

static int all_done(const runner *r)
{
    for (int i = 0; i < r->nlv; i++)
        if (!r->lvs[i]->done)
            return 0;
    return 1;
}

/* A snapshot was read to its end: it counts as applied once every key of
 * it is answered. In rdb-per-node mode nothing more is taken from it. */
static void snapshot_read(runner *r, rmig_live *lv)
{
    lv->snap_keys = r->read - lv->snap_keys;
    lv->snap_pending = 1;
    lv->phase = PH_CATCHUP;
    rmig__run_commit(r, lv->full_off, 0);
    if (lv->snapshot_only) {
        lv->done = 1;
        if (lv->ps)
            rmig_psync_close(lv->ps);
        lv->ps = NULL;
        char at[300];
        rmig__live_say(r, "%s: snapshot read (%llu keys)", rmig_target_addr(at, sizeof at, lv->host, lv->port),
                       (unsigned long long)lv->snap_keys);
    }
}

void rmig__live_idle(runner *r)
{
    char err[400];
    int took = 0; /* records taken from the current source in this turn */
    while (rmig__run_room(r) && !r->eof && !r->failed) {
        rmig_live *lv = r->lv;
        if (r->p && !r->rdb_done && lv->phase == PH_SNAPSHOT) {
            int rc = rmig__run_rdb_pump(r);
            if (rc < 0) {
                fail_as_is(r);
                return;
            }
            if (r->rdb_done) {
                snapshot_read(r, lv);
                continue;
            }
            if (rc == 1)
                break;
        }
        if ((lv->stopping && !lv->in_multi) || (r->nlv && all_done(r))) {
            if (flush_cmds(r) < 0) {
                fail_as_is(r);
                return;
            }
            r->eof = 1;
            break;
        }
        if (lv->blocked && stream_bytes(r, NULL, 0) < 0) { /* still waiting? */
            fail_as_is(r);
            return;
        }
        if ((lv->done || lv->blocked || took >= 64 || !has_records(lv)) && !pinned(r, lv)) {
            /* several sources (a cluster's masters) take turns between
             * records, never inside a snapshot or a transaction */
            int j = next_source(r);
            if (j >= 0 && j != r->lv_i) {
                r->lv_i = j;
                r->lv = r->lvs[j];
                took = 0;
                continue;
            }
            if (lv->done || lv->blocked)
                break;
        }
        int type;
        const uint8_t *p;
        size_t n;
        int got = rmig_spool_next(lv->spool, &type, &p, &n, err, sizeof err);
        if (got < 0) {
            char at[300];
            fail(r, "spool of %s: %s", rmig_target_addr(at, sizeof at, lv->host, lv->port), err);
            return;
        }
        if (got == 0)
            break;
        took++;
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
    if (r->lv->blocked)
        uv_timer_start(&r->lvs[0]->unblock, rmig__live_on_unblock, 100, 0); /* its deadline, or the others' records */
    rmig__run_stop_idle(r); /* new records or replies start it again */
}

/* ---- the source's events, time, signals ---- */

void rmig__live_on_psync(rmig_psync *ps, void *ud, int ev, const char *msg)
{
    rmig_live *lv = ud;
    runner *r = lv->r;
    if (ev == RMIG_PSYNC_EV_DATA) {
        lag_note(lv, rmig_psync_received(ps));
        if (!r->eof && rmig__run_room(r) && r->ready)
            rmig__run_start_idle(r);
    } else if (ev == RMIG_PSYNC_EV_INFO) {
        rmig__live_say(r, "%s", msg);
    } else {
        fail(r, "source: %s%s", msg,
             strstr(msg, "budget") ? " (source.spool_budget; the state file keeps what was applied: run again to "
                                     "resume)" : "");
    }
}

/* A cluster source's masters, every 10 s: a master that is new (a
 * failover, or slots resharded to a new node) would not be read, so the
 * run stops and says to run it again (every master resumes from its state
 * file; a new one starts with its snapshot). */
static void check_masters(runner *r)
{
    rmig_live *z = r->lvs[0];
    uint64_t now = mono_ms();
    if (r->live != 2 || r->farm || z->snapshot_only || now - z->last_map_ms < 10000)
        return; /* (a farm's servers are not a cluster: its list is the file's) */
    z->last_map_ms = now;
    rmig_cluster_map m = {0};
    char err[512];
    for (int i = 0; i < r->nlv; i++) {
        const rmig_live *lv = r->lvs[i];
        if (rmig_cluster_map_fetch(lv->host, lv->port, z->user, z->password, z->tlsp, &m, err, sizeof err) < 0)
            continue;
        for (int k = 0; k < m.nmasters; k++) {
            int known = 0;
            for (int j = 0; j < r->nlv; j++)
                known |= r->lvs[j]->port == m.nodes[k].port && !strcmp(r->lvs[j]->host, m.nodes[k].host);
            if (!known) {
                fail(r, "the source cluster has a master rmig does not read, %s:%d (a failover, or slots moved to a "
                     "new node): run again; every master resumes from its state file, the new one starts with its "
                     "snapshot", m.nodes[k].host, m.nodes[k].port);
                break;
            }
        }
        break;
    }
    rmig_cluster_map_free(&m);
}

void rmig__live_on_tick(uv_timer_t *t)
{
    runner *r = t->data;
    check_masters(r);
    if (r->failed)
        return;
    for (int i = 0; i < r->nlv; i++) {
        rmig_live *lv = r->lvs[i];
        state_save(r, lv);
        if (lv->phase == PH_CATCHUP && !lv->done)
            set_acked(r, lv, lv->acked, lv->acked_db); /* re-judges catching up vs live */
    }
    live_status(r, 0);
}

void rmig__live_on_unblock(uv_timer_t *t)
{
    rmig__run_start_idle(t->data);
}

void rmig__live_on_signal(uv_signal_t *s, int signum)
{
    runner *r = s->data;
    if (r->lv->stopping) {
        fail(r, "stopped by a second %s before the target answered; the state file holds what was applied",
             signum == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
    for (int i = 0; i < r->nlv; i++)
        r->lvs[i]->stopping = 1;
    rmig__live_say(r, "%s: stopping at the next command boundary once the target has answered (again to stop at once)",
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
    for (int i = 0; i < r->nlv; i++) {
        rmig_live *lv = r->lvs[i];
        if (lv->finished)
            continue;
        lv->finished = 1;
        state_save(r, lv);
        if (lv->ps)
            rmig_psync_close(lv->ps);
        lv->ps = NULL;
        if (lv->handles_open) {
            uv_close((uv_handle_t *)&lv->tick, on_handle_closed);
            uv_close((uv_handle_t *)&lv->unblock, on_handle_closed);
            uv_close((uv_handle_t *)&lv->sigint, on_handle_closed);
            uv_close((uv_handle_t *)&lv->sigterm, on_handle_closed);
            lv->handles_open = 0;
        }
    }
}

