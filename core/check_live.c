/* check_live.c - what `rmig check` says about a live source
 * (rmig.source.psync): who it is, whether it takes rmig as a replica, and
 * where a run would start (a partial resync from the state file while the
 * source's backlog still holds that position, else a full sync). */
#include "check.h"

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

int rmig_check_live_source(lua_State *L, int opts, const char *where, int *rdb_version)
{
    const char *addr = rmig_vm_str(L, opts, "addr"), *user = rmig_vm_str(L, opts, "user");
    const char *pw = rmig_vm_str(L, opts, "password"), *pw_env = rmig_vm_str(L, opts, "password_env");
    const char *state = rmig_vm_str(L, opts, "state"), *psync = rmig_vm_str(L, opts, "psync_command");
    if (!psync)
        psync = "PSYNC";
    if (pw_env && !(pw = getenv(pw_env))) {
        printf("source    rmig.source.psync %s  [%s]\n          source.password_env names %s, which is not set\n", addr,
               where, pw_env);
        return 2;
    }
    rmig_tls_opts tls, *tlsp = rmig_vm_tls(L, opts, &tls);
    char host[256], err[1024];
    int port = 0;
    rmig_target_split_addr(addr, host, sizeof host, &port);
    rmig_target_info ti;
    if (rmig_target_probe(host, port, user, pw, tlsp, &ti, err, sizeof err) < 0) {
        printf("source    rmig.source.psync %s  [%s]\n          cannot be reached: %s\n", addr, where, err);
        return 1;
    }
    *rdb_version = ti.rdb_version;
    printf("source    rmig.source.psync %s: %s %s, RDB %d, %llu keys  [%s]\n", addr, ti.valkey[0] ? "Valkey" : "Redis",
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
