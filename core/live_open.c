/* live_open.c - a live source's life cycle in `rmig run`: its options,
 * where it starts (the state file, or the target's checkpoint with
 * exactly_once), its start and its summary. rmig.source.psync is one
 * source; rmig.source.cluster one per master of the source cluster, each
 * with its own state file (STATE.<host>_<port>) and spool. */
#include "live_internal.h"

#include "cluster.h"
#include "codis.h"
#include "state.h"
#include "target.h"
#include "twemproxy.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* One source, the master at host:port, with its options (the pipeline's
 * source options at src), its state file and spool directory; -2 for a
 * configuration error. */
static int live_source(runner *r, lua_State *L, int pipe, int src, int sink, const char *host, int port,
                       const char *password, const char *state, const char *sdir)
{
    rmig_live *lv = calloc(1, sizeof *lv);
    rmig_live **q = realloc(r->lvs, (size_t)(r->nlv + 1) * sizeof *q);
    if (!lv || !q) {
        free(lv);
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    r->lvs = q;
    lv->r = r;
    lv->idx = r->nlv;
    r->lvs[r->nlv++] = lv;
    if (!r->lv)
        r->lv = lv;
    lv->acked = lv->saved = -1;
    lv->resume_off = -1;
    rmig_respcmd_init(&lv->rc, 0);
    rmig_out_init(&lv->sbuf, -1);
    const char *pw_env = rmig_vm_str(L, src, "password_env");
    snprintf(lv->host, sizeof lv->host, "%s", host);
    lv->port = port;
    lv->user = rmig_vm_str(L, src, "user");
    lv->password = rmig_vm_str(L, src, "password");
    if (!lv->password)
        lv->password = password; /* (a farm's own: a pool's redis_auth, a Codis group's) */
    if (pw_env && !(lv->password = getenv(pw_env))) {
        snprintf(r->err, sizeof r->err, "source.password_env names %s, which is not set in the environment", pw_env);
        return -2;
    }
    lv->tlsp = rmig_vm_tls(L, src, &lv->tls);
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
                rmig__live_say(r, "the target's checkpoint (%s %lld) and the state file (%s %lld) differ: the checkpoint, "
                    "written with the data, wins", k.replid, k.off, replid, (long long)off);
            snprintf(replid, sizeof replid, "%s", k.replid);
            off = k.off;
            db = k.db;
        } else if (off >= 0) {
            rmig__live_say(r, "exactly_once: the target has no checkpoint key %s; a full sync makes one", lv->ckpt_key);
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
        rmig__live_say(r, "removed %u spool files an earlier run left in %s", swept, lv->spool_dir);
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

/* The spool directory of one of several sources (a cluster's masters, a
 * pool's backends): 0, or -1 with r->err. */
static int spool_dirs(runner *r, const char *state, const char *sdir)
{
    if (!sdir && !state && mkdir("rmig-spool", 0700) < 0 && errno != EEXIST) {
        snprintf(r->err, sizeof r->err, "cannot make the spool directory rmig-spool: %s", strerror(errno));
        return -1;
    }
    if (sdir && mkdir(sdir, 0700) < 0 && errno != EEXIST) {
        snprintf(r->err, sizeof r->err, "cannot make source.spool_dir %s: %s", sdir, strerror(errno));
        return -1;
    }
    return 0;
}

/* One of several sources at host:port, its state STATE.<host>_<port> and
 * its spool in a directory of its own. */
static int one_of_many(runner *r, lua_State *L, int pipe, int src, int sink, const char *host, int port,
                       const char *password, const char *state, const char *sdir)
{
    char st[900], sd[1024], id[300];
    /* a unix socket's path names its files: its slashes made '_', and, as
     * that is not one to one ("/a_b", "/a/b"), a hash of the path after it */
    if (host[0] == '/') {
        uint32_t h = 2166136261u;
        for (const char *p = host; *p; p++)
            h = (h ^ (uint8_t)*p) * 16777619u;
        snprintf(id, sizeof id, "%.270s-%08x", host + 1, h);
        for (char *p = id; *p; p++)
            *p = *p == '/' ? '_' : *p;
    } else {
        snprintf(id, sizeof id, "%s_%d", host, port);
    }
    snprintf(st, sizeof st, "%s.%s", state ? state : "", id);
    if (sdir)
        snprintf(sd, sizeof sd, "%s/%s", sdir, id);
    else if (state)
        snprintf(sd, sizeof sd, "%s.spool", st);
    else
        snprintf(sd, sizeof sd, "rmig-spool/%s", id);
    return live_source(r, L, pipe, src, sink, host, port, password, state ? st : NULL, sd);
}

/* rmig.source.cluster: a source per master of the cluster at addr, each
 * with its own state file (STATE.<host>_<port>) and spool. */
static int cluster_sources(runner *r, lua_State *L, int pipe, int src, int sink)
{
    const char *addr = rmig_vm_str(L, src, "addr"), *pw = rmig_vm_str(L, src, "password");
    const char *pw_env = rmig_vm_str(L, src, "password_env"), *mode = rmig_vm_str(L, src, "mode");
    const char *state = rmig_vm_str(L, src, "state"), *sdir = rmig_vm_str(L, src, "spool_dir");
    if (rmig_vm_bool(L, sink, "exactly_once", 0)) {
        snprintf(r->err, sizeof r->err, "sink.exactly_once keeps one checkpoint: it is for one source master, not a "
                 "cluster source");
        return -2;
    }
    if (pw_env && !(pw = getenv(pw_env))) {
        snprintf(r->err, sizeof r->err, "source.password_env names %s, which is not set in the environment", pw_env);
        return -2;
    }
    char host[256], err[600];
    int port;
    rmig_target_split_addr(addr, host, sizeof host, &port);
    rmig_tls_opts tls, *tlsp = rmig_vm_tls(L, src, &tls);
    rmig_cluster_map m = {0};
    if (rmig_cluster_map_fetch(host, port, rmig_vm_str(L, src, "user"), pw, tlsp, &m, err, sizeof err) < 0) {
        snprintf(r->err, sizeof r->err, "source: %s", err);
        return -1;
    }
    int rc = 0;
    if (m.unassigned)
        rmig__live_say(r, "source: %u slots have no master; their keys (if any) are not read", m.unassigned);
    if (spool_dirs(r, state, sdir) < 0)
        rc = -1;
    for (int i = 0; i < m.nmasters && rc == 0; i++) {
        const rmig_cluster_node *n = &m.nodes[i];
        rc = one_of_many(r, L, pipe, src, sink, n->host, n->port, NULL, state, sdir);
        if (rc == 0)
            r->lvs[r->nlv - 1]->snapshot_only = mode && !strcmp(mode, "rdb-per-node");
    }
    if (rc == 0)
        rmig__live_say(r, "source: %d masters%s", m.nmasters, mode && !strcmp(mode, "rdb-per-node") ? ", a snapshot of each" : "");
    rmig_cluster_map_free(&m);
    return rc;
}

/* A farm (a Twemproxy pool's backends, a Codis deployment's group masters:
 * r->farm), mode psync: a replica of each. */
static int farm_sources(runner *r, lua_State *L, int pipe, int src, int sink)
{
    const char *state = rmig_vm_str(L, src, "state"), *sdir = rmig_vm_str(L, src, "spool_dir");
    if (rmig_vm_bool(L, sink, "exactly_once", 0)) {
        snprintf(r->err, sizeof r->err, "sink.exactly_once keeps one checkpoint: it is for one source master, not "
                 "%zu %s", r->nfarm, r->farm_what);
        return -2;
    }
    int rc = spool_dirs(r, state, sdir);
    for (size_t i = 0; i < r->nfarm && rc == 0; i++)
        rc = one_of_many(r, L, pipe, src, sink, r->farm[i].host, r->farm[i].port, r->farm[i].password, state, sdir);
    if (rc == 0)
        rmig__live_say(r, "source: %s", r->farm_label);
    return rc;
}

int rmig__live_open(runner *r, lua_State *L, int pipe, int src, int sink)
{
    if (r->live == 2 && r->farm)
        return farm_sources(r, L, pipe, src, sink);
    if (r->live == 2)
        return cluster_sources(r, L, pipe, src, sink);
    char host[256];
    int port;
    rmig_target_split_addr(rmig_vm_str(L, src, "addr"), host, sizeof host, &port);
    return live_source(r, L, pipe, src, sink, host, port, NULL, rmig_vm_str(L, src, "state"),
                       rmig_vm_str(L, src, "spool_dir"));
}

static int live_start(runner *r, rmig_live *lv)
{
    rmig_psync_opts o = {.host = lv->host, .port = lv->port, .user = lv->user, .password = lv->password,
                         .tls = lv->tlsp, .psync_cmd = lv->psync_cmd, .sync_cmd = lv->sync_cmd,
                         .replid = lv->resume_off >= 0 ? lv->replid : NULL, .offset = lv->resume_off,
                         .timeout_ms = lv->psync_timeout_ms, .retry_deadline_ms = lv->psync_deadline_ms};
    lv->ps = rmig_psync_new(&r->loop, &o, lv->spool, rmig__live_on_psync, lv);
    if (!lv->ps) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    char at[300];
    if (lv->resume_off >= 0)
        rmig__live_say(r, "%s: resuming after offset %lld of %s (db %llu)%s",
            rmig_target_addr(at, sizeof at, lv->host, lv->port), (long long)lv->resume_off,
            lv->replid, (unsigned long long)lv->resume_db, lv->exactly_once ? ", from the target's checkpoint" : "");
    return rmig_psync_start(lv->ps);
}

int rmig__live_start(runner *r)
{
    rmig_live *lv = r->lvs[0];
    uv_timer_init(&r->loop, &lv->tick);
    uv_timer_init(&r->loop, &lv->unblock);
    lv->unblock.data = r;
    uv_signal_init(&r->loop, &lv->sigint);
    uv_signal_init(&r->loop, &lv->sigterm);
    lv->tick.data = lv->sigint.data = lv->sigterm.data = r;
    uv_timer_start(&lv->tick, rmig__live_on_tick, 1000, 1000);
    uv_signal_start(&lv->sigint, rmig__live_on_signal, SIGINT);
    uv_signal_start(&lv->sigterm, rmig__live_on_signal, SIGTERM);
    lv->handles_open = 1;
    for (int i = 0; i < r->nlv; i++)
        if (live_start(r, r->lvs[i]) < 0)
            return -1;
    return 0;
}

static void source_summary(runner *r, rmig_live *lv)
{
    char who[300] = "", at[290];
    if (r->nlv > 1)
        snprintf(who, sizeof who, " %s", rmig_target_addr(at, sizeof at, lv->host, lv->port));
    if (lv->snapshot_only)
        printf("  source%s: snapshot of %llu keys%s\n", who, (unsigned long long)lv->snap_keys,
               lv->done ? "" : " (not read to its end)");
    else
        printf("  live%s: %llu full and %llu partial syncs; applied up to offset %lld of %s\n", who,
               (unsigned long long)lv->full_syncs, (unsigned long long)lv->partial_syncs, (long long)lv->acked,
               lv->replid[0] ? lv->replid : "-");
    if (lv->snap_applied_s > 0)
        printf("  the snapshot%s was applied in %.2f s\n", who, lv->snap_applied_s);
    if (lv->snapshot_only)
        ;
    else if (lv->state_path[0] && lv->saved >= 0 && strlen(lv->replid) == 40)
        printf("  state saved in %s: rmig run again resumes from there\n", lv->state_path);
    else if (lv->state_path[0])
        printf("  no state saved%s: %s\n", who, strlen(lv->replid) == 40 ? "the snapshot was not applied yet"
                                                                         : "the source gives no replication id (SYNC)");
    if (lv->denied_flush)
        printf("  %llu FLUSHALL/FLUSHDB from the source were not forwarded\n", (unsigned long long)lv->denied_flush);
    if (lv->unknown)
        printf("  %llu commands unknown to rmig's table were forwarded as they were\n", (unsigned long long)lv->unknown);
    if (lv->held)
        printf("  %llu transactions of the source were too big for one exactly-once batch (applied at-least-once)\n",
               (unsigned long long)lv->held);
    if (lv->migrated_in)
        printf("  %llu keys migrated in from another %s%s (%s, applied after the other's DEL%s)\n",
               (unsigned long long)lv->migrated_in, r->codis ? "group" : "master", who,
               r->codis ? "SLOTSRESTORE" : "RESTORE-ASKING",
               lv->migrate_waits ? "; some went before it, and that DEL was left out" : "");
    if (lv->idx == 0 && lv->migrate_dropped)
        printf("  %llu DELs of migrated keys left out (their restore had gone first)\n",
               (unsigned long long)lv->migrate_dropped);
    rmig_spool_stats st;
    rmig_spool_stats_get(lv->spool, &st);
    if (st.peak_disk_bytes) {
        char b[32];
        printf("  the spool%s used up to %s of disk\n", who, rmig_progress_bytes(b, sizeof b, (double)st.peak_disk_bytes));
    }
}

void rmig__live_summary(runner *r)
{
    printf("  live: %llu commands applied from %d source master%s\n", (unsigned long long)r->cmds, r->nlv,
           r->nlv == 1 ? "" : "s");
    for (int i = 0; i < r->nlv; i++)
        source_summary(r, r->lvs[i]);
}

void rmig__live_free(runner *r)
{
    for (int i = 0; i < r->nlv; i++) {
        rmig_live *lv = r->lvs[i];
        rmig_spool_free(lv->spool);
        rmig_cmdtable_free(lv->cmds);
        rmig_respcmd_free(&lv->rc);
        rmig_out_close(&lv->sbuf);
        free(lv->del_ring);
        free(lv->drop_ring);
        if (lv->xl)
            rmig_codis_xlate_free(lv->xl);
        free(lv->xl);
        free(lv);
    }
    free(r->lvs);
    r->lvs = NULL;
    r->nlv = 0;
    r->lv = NULL;
}
