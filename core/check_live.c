/* check_live.c - what `rmig check` says about a live source
 * (rmig.source.psync): who it is, whether it takes rmig as a replica, and
 * where a run would start (a partial resync from the state file while the
 * source's backlog still holds that position, else a full sync). */
#include "check.h"

#include "cluster.h"
#include "cmdtable.h"
#include "state.h"
#include "target.h"
#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct repl_info {
    char role[16], replid[41];
    long long offset, backlog_first, backlog_size;
    int got, backlog;   /* backlog: the source has one (only once a replica has connected) */
} repl_info;

static int on_replication(const redisReply *r, void *ud, char *err, size_t errlen)
{
    repl_info *ri = ud;
    (void)err;
    (void)errlen;
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
        return 0;
    char v[64] = "";
    rmig_target_info_field(r->str, "role:", ri->role, sizeof ri->role);
    rmig_target_info_field(r->str, "master_replid:", ri->replid, sizeof ri->replid);
    rmig_target_info_field(r->str, "master_repl_offset:", v, sizeof v);
    ri->offset = atoll(v);
    v[0] = 0;
    rmig_target_info_field(r->str, "repl_backlog_first_byte_offset:", v, sizeof v);
    ri->backlog_first = atoll(v);
    v[0] = 0;
    rmig_target_info_field(r->str, "repl_backlog_active:", v, sizeof v);
    ri->backlog = atoi(v) == 1;
    v[0] = 0;
    rmig_target_info_field(r->str, "repl_backlog_size:", v, sizeof v);
    ri->backlog_size = atoll(v);
    ri->got = 1;
    return 0;
}

static int on_command_info(const redisReply *r, void *ud, char *err, size_t errlen)
{
    int *known = ud;
    (void)err;
    (void)errlen;
    /* an array with one element per name: nil when the server does not know it */
    *known = r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY ? 1
             : r->type == REDIS_REPLY_ERROR                                                               ? -1
                                                                                                          : 0;
    return 0;
}

/* One master: reachable, PSYNC known, its replication position, and
 * whether the state file (if any) allows a partial resync. */
static int check_master(const char *ctor, const char *addr, const char *host, int port, const char *user,
                        const char *pw, const rmig_tls_opts *tlsp, const char *psync, const char *state,
                        const char *where, int *rdb_version)
{
    char err[1024];
    rmig_target_info ti;
    if (rmig_target_probe(host, port, user, pw, tlsp, &ti, err, sizeof err) < 0) {
        printf("source    %s %s  [%s]\n          cannot be reached: %s\n", ctor, addr, where, err);
        return 1;
    }
    *rdb_version = ti.rdb_version;
    printf("source    %s %s: %s %s, RDB %d, %llu keys  [%s]\n", ctor, addr, ti.valkey[0] ? "Valkey" : "Redis",
           ti.valkey[0] ? ti.valkey : ti.redis, ti.rdb_version, (unsigned long long)ti.keys, where);
    repl_info ri = {0};
    const char *info[] = {"INFO", "replication"};
    rmig_target_call(host, port, user, pw, tlsp, 2, info, on_replication, &ri, err, sizeof err);
    int known = 0;
    const char *ci[] = {"COMMAND", "INFO", psync};
    rmig_target_call(host, port, user, pw, tlsp, 3, ci, on_command_info, &known, err, sizeof err);
    int rc = 0;
    if (known == 0) {
        printf("risk      the source does not know %s (renamed or refused, as managed services do): set "
               "source.psync_command to its name, or use a scan source\n", psync);
        rc = 1;
    } else if (ri.got) {
        char bl[32];
        snprintf(bl, sizeof bl, "%.1f MiB", (double)ri.backlog_size / 1048576.0);
        printf("          role %s, replication id %s, offset %lld; backlog %s (how far behind a resync can "
               "continue)\n", ri.role, ri.replid, ri.offset, bl);
    }
    if (state) {
        rmig_state st;
        int got = rmig_state_load(state, &st, err, sizeof err);
        if (got == 0) {
            printf("state     %s does not exist yet: the run starts with a full sync\n", state);
        } else if (got < 0) {
            printf("problem   %s\n", err);
            rc = 2;
        } else {
            int partial = ri.got && ri.backlog && !strcmp(st.replid, ri.replid) && st.offset + 1 >= ri.backlog_first &&
                          st.offset <= ri.offset;
            printf("state     %s: offset %lld of %s: %s\n", state, (long long)st.offset, st.replid,
                   partial ? "the source's backlog still has it: a partial resync"
                           : "the source cannot continue from there (another id, or beyond its backlog): a full "
                             "sync, announced");
        }
    } else {
        printf("state     none (source.state): a run that stops cannot resume; it starts again with a full sync\n");
    }
    return rc;
}

int rmig_check_live_source(lua_State *L, int opts, const char *where, int *rdb_version)
{
    const char *addr = rmig_vm_str(L, opts, "addr"), *user = rmig_vm_str(L, opts, "user");
    const char *pw = rmig_vm_str(L, opts, "password"), *pw_env = rmig_vm_str(L, opts, "password_env");
    const char *state = rmig_vm_str(L, opts, "state"), *psync = rmig_vm_str(L, opts, "psync_command");
    const char *mode = rmig_vm_str(L, opts, "mode");
    const char *ctor = mode ? "rmig.source.cluster" : "rmig.source.psync"; /* only the cluster source has a mode */
    if (!psync)
        psync = "PSYNC";
    if (pw_env && !(pw = getenv(pw_env))) {
        printf("source    %s %s  [%s]\n          source.password_env names %s, which is not set\n", ctor, addr, where,
               pw_env);
        return 2;
    }
    rmig_tls_opts tls, *tlsp = rmig_vm_tls(L, opts, &tls);
    char host[256], err[1024];
    int port = 0;
    rmig_target_split_addr(addr, host, sizeof host, &port);
    if (!mode)
        return check_master(ctor, addr, host, port, user, pw, tlsp, psync, state, where, rdb_version);
    rmig_cluster_map m = {0};
    if (rmig_cluster_map_fetch(host, port, user, pw, tlsp, &m, err, sizeof err) < 0) {
        printf("source    %s %s  [%s]\n          %s\n", ctor, addr, where, err);
        return strstr(err, "not a cluster") ? 2 : 1;
    }
    printf("source    %s %s: %d masters, %s  [%s]\n", ctor, addr, m.nmasters,
           strcmp(mode, "rdb-per-node") ? "each read like a replica (snapshot, then its stream), in turns"
                                        : "a snapshot of each, then the run ends", where);
    if (m.unassigned)
        printf("risk      %u slots of the source have no master\n", m.unassigned);
    int rc = 0;
    for (int i = 0; i < m.nmasters; i++) {
        const rmig_cluster_node *n = &m.nodes[i];
        char a[300], st[900];
        snprintf(a, sizeof a, "%s:%d", n->host, n->port);
        snprintf(st, sizeof st, "%s.%s_%d", state ? state : "", n->host, n->port);
        int mrc = check_master("  master", a, n->host, n->port, user, pw, tlsp, psync,
                               state && strcmp(mode, "rdb-per-node") ? st : NULL, where, rdb_version);
        rc = mrc > rc ? mrc : rc;
    }
    rmig_cluster_map_free(&m);
    return rc;
}

/* ---- commands a cluster target cannot always run ---- */

typedef struct stats_acc {
    rmig_cmdtable *t;
    char split[300], whole[600];
    unsigned long long split_calls, whole_calls;
} stats_acc;

/* INFO commandstats: the write commands the source ran that may take
 * several keys, split per slot by rmig (DEL, MSET ...) or not (RENAME ...). */
static int on_commandstats(const redisReply *r, void *ud, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    stats_acc *a = ud;
    if (r->type != REDIS_REPLY_STRING)
        return 0;
    for (const char *p = r->str; (p = strstr(p, "cmdstat_")) != NULL; p++) {
        char name[64];
        unsigned long long calls = 0;
        if (sscanf(p, "cmdstat_%63[^:]:calls=%llu", name, &calls) != 2 || !calls)
            continue;
        for (char *c = name; *c; c++)
            if (*c == '|')
                *c = ' '; /* a subcommand: "client|list" */
        const rmig_cmdinfo *ci = rmig_cmdtable_find(a->t, (const uint8_t *)name, strlen(name));
        if (!ci || !(ci->flags & RMIG_CMD_WRITE) || !strcmp(name, "migrate"))
            continue;
        int several = (ci->flags & RMIG_CMD_MOVABLE) || ci->last < 0 || ci->last > ci->first;
        if (!several)
            continue;
        char *list = (ci->flags & RMIG_CMD_SPLIT) ? a->split : a->whole;
        size_t cap = (ci->flags & RMIG_CMD_SPLIT) ? sizeof a->split : sizeof a->whole, n = strlen(list);
        if (n + strlen(name) + 32 < cap)
            snprintf(list + n, cap - n, "%s%s (%llu)", n ? ", " : "", name, calls);
        *((ci->flags & RMIG_CMD_SPLIT) ? &a->split_calls : &a->whole_calls) += calls;
    }
    return 0;
}

int rmig_check_cross_slot(lua_State *L, int opts)
{
    const char *addr = rmig_vm_str(L, opts, "addr"), *user = rmig_vm_str(L, opts, "user");
    const char *pw = rmig_vm_str(L, opts, "password"), *pw_env = rmig_vm_str(L, opts, "password_env");
    if (pw_env)
        pw = getenv(pw_env);
    rmig_tls_opts tls, *tlsp = rmig_vm_tls(L, opts, &tls);
    char host[256], err[512];
    int port = 0;
    rmig_target_split_addr(addr, host, sizeof host, &port);
    stats_acc a = {.t = rmig_cmdtable_new()};
    const char *cmd[] = {"INFO", "commandstats"};
    if (!a.t || rmig_target_call(host, port, user, pw, tlsp, 2, cmd, on_commandstats, &a, err, sizeof err) < 0) {
        rmig_cmdtable_free(a.t);
        return 0; /* said with the source above */
    }
    if (a.split[0])
        printf("multi-key the source ran %s since its start: split per slot on the cluster\n", a.split);
    if (a.whole[0])
        printf("risk      the source (%s) ran %s since its start: on a cluster such a command runs only when its "
               "keys share a slot (hash tags {...}); rmig reports the others, with their keys, as failed\n", addr,
               a.whole);
    else
        printf("multi-key no write command that a cluster may refuse (keys in several slots) in the source's "
               "INFO commandstats\n");
    rmig_cmdtable_free(a.t);
    return 0;
}
