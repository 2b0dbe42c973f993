/* check.c - `rmig check PIPELINE.lua`: load and validate a pipeline, look at
 * its source and connect to its target, and print the plan: the source's RDB
 * version, each node and whether it runs in C or in Lua, the target's
 * version, and whether values will go as RESTORE payloads or as native
 * commands. Nothing is written. Exit 0 when the plan is sound, 1 when the
 * source or the target cannot be reached, 2 when the pipeline is wrong. */
#include "check.h"

#include "input.h"
#include "rdb.h"
#include "redis_conn.h"
#include "resp.h"
#include "progress.h"
#include "target.h"
#include "vm.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] = "usage: rmig check PIPELINE.lua [-s path=value]...\n"
                            "Loads the pipeline, checks its options, connects to its target and prints\n"
                            "the plan; -s overrides an option, e.g. -s sink.addr=10.0.0.5:6379.\n";

/* ---- the source ---- */

static int source_version(const char *path, uint64_t *size, char *err, size_t errlen)
{
    rmig_input *in = rmig_input_open(path, err, errlen);
    if (!in)
        return -1;
    *size = rmig_input_size(in);
    uint8_t head[16];
    ssize_t n = 0, k;
    while (n < (ssize_t)sizeof head && (k = rmig_input_read(in, head + n, sizeof head - (size_t)n, err, errlen)) > 0)
        n += k;
    rmig_input_close(in);
    if (k < 0 && n == 0)
        return -1;
    rmig_rdb *p = rmig_rdb_new(NULL);
    rmig_rdb_feed(p, head, (size_t)n);
    rmig_rdb_event e;
    int r = rmig_rdb_next(p, &e), v = -1;
    if (r == RMIG_RDB_EV_BEGIN)
        v = e.version;
    else
        snprintf(err, errlen, "%s: %s", path, r < 0 ? rmig_rdb_error(p) : "too short to be an RDB file");
    rmig_rdb_free(p);
    return v;
}

int rmig_check_main(int argc, char **argv)
{
    const char *path = NULL;
    const char *overrides[64];
    int nover = 0;
    int ac = rmig_vm_args(argc, argv, "check", usage, &path, overrides, &nover, 64);
    if (ac >= 0)
        return ac;
    char err[1024];
    rmig_vm *vm = rmig_vm_new(err, sizeof err);
    if (!vm) {
        fprintf(stderr, "rmig check: %s\n", err);
        return 1;
    }
    if (rmig_vm_load(vm, path, overrides, nover, err, sizeof err) < 0) {
        fprintf(stderr, "rmig check: %s\n", err);
        rmig_vm_free(vm);
        return 2;
    }
    lua_State *L = rmig_vm_state(vm);
    int pipe = lua_gettop(L), rc = 0;
    printf("pipeline  %s\n", path);

    /* source */
    lua_getfield(L, pipe, "source");
    int src = lua_gettop(L);
    lua_getfield(L, src, "options");
    const char *rdb = rmig_vm_str(L, -1, "path");
    const char *ctor = rmig_vm_str(L, src, "constructor"), *where = rmig_vm_str(L, src, "where");
    int live = ctor && (!strcmp(ctor, "rmig.source.psync") || !strcmp(ctor, "rmig.source.cluster"));
    int scan = ctor && !strcmp(ctor, "rmig.source.scan");
    int twem = ctor && (!strcmp(ctor, "rmig.source.twemproxy") || !strcmp(ctor, "rmig.source.codis"));
    uint64_t size = 0;
    int sv = 0;
    if (twem) {
        int lrc = !strcmp(ctor, "rmig.source.codis") ? rmig_check_codis(L, lua_gettop(L), "source", where, &sv)
                                                       : rmig_check_twem(L, lua_gettop(L), "source", where, &sv);
        rc = lrc > rc ? lrc : rc;
        live = 1; /* (said above) */
    } else if (live || scan) {
        int lrc = scan ? rmig_check_scan_source(L, lua_gettop(L), where, &sv)
                       : rmig_check_live_source(L, lua_gettop(L), where, &sv);
        rc = lrc > rc ? lrc : rc;
    } else {
        sv = source_version(rdb, &size, err, sizeof err);
    }
    lua_pop(L, 1);
    if (live || scan) {
        /* said above */
    } else if (sv < 0) {
        printf("source    %s %s  [%s]\n          cannot be read: %s\n", ctor, rdb, where, err);
        rc = 1;
    } else {
        char sz[32];
        if (size >= (1u << 20))
            snprintf(sz, sizeof sz, "%.1f MiB", (double)size / 1048576.0);
        else
            snprintf(sz, sizeof sz, "%.1f KiB", (double)size / 1024.0);
        printf("source    %s %s  (RDB version %d, %s)  [%s]\n", ctor, rdb, sv, size ? sz : "size unknown", where);
    }
    lua_pop(L, 1);

    /* nodes */
    lua_getfield(L, pipe, "nodes");
    int nn = (int)lua_objlen(L, -1);
    if (!nn)
        printf("nodes     none: every key goes to the sink\n");
    for (int i = 1; i <= nn; i++) {
        lua_rawgeti(L, -1, i);
        int node = lua_gettop(L);
        const char *nc = rmig_vm_str(L, node, "constructor"), *nw = rmig_vm_str(L, node, "where"), *impl = rmig_vm_str(L, node, "impl");
        lua_getfield(L, node, "options");
        const char *name = rmig_vm_str(L, -1, "name");
        lua_pop(L, 1);
        printf("%s%d. %-20s runs in %-3s  [%s]\n", i == 1 ? "nodes     " : "          ", i,
               name ? name : nc, impl && !strcmp(impl, "c") ? "C" : "Lua", nw);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    /* sink */
    lua_getfield(L, pipe, "sink");
    const char *sink_ctor = rmig_vm_str(L, -1, "constructor");
    int cluster = sink_ctor && !strcmp(sink_ctor, "rmig.sink.cluster");
    lua_getfield(L, -1, "options");
    int so = lua_gettop(L);
    int twem_sink = sink_ctor && !strcmp(sink_ctor, "rmig.sink.twemproxy");
    int codis_sink = sink_ctor && !strcmp(sink_ctor, "rmig.sink.codis");
    const char *addr = rmig_vm_str(L, so, "addr"), *user = rmig_vm_str(L, so, "user"), *pw = rmig_vm_str(L, so, "password");
    const char *pw_env = rmig_vm_str(L, so, "password_env"), *restore = rmig_vm_str(L, so, "restore"),
               *mode = rmig_vm_str(L, so, "mode");
    if (pw_env) {
        pw = getenv(pw_env);
        if (!pw) {
            fprintf(stderr, "rmig check: sink.password_env names %s, which is not set in the environment\n", pw_env);
            rmig_vm_free(vm);
            return 2;
        }
    }
    rmig_tls_opts tls, *tlsp = rmig_vm_tls(L, so, &tls);
    char chunk[32];
    int64_t chunk_bytes = rmig_vm_int(L, so, "chunk_bytes", 8 << 20);
    rmig_progress_bytes(chunk, sizeof chunk, (double)chunk_bytes);
    const char *dl = rmig_vm_str(L, so, "dead_letter");
    if (!cluster && !twem_sink && !codis_sink)
        printf("sink      rmig.sink.redis %s  (%s%s, mode %s)\n", addr,
               tlsp ? (tls.no_verify ? "TLS without verification" : "TLS, verified") : "no TLS",
               pw ? (user ? ", ACL user and password" : ", password") : "", mode);
    rmig_target_info ti;
    char host[256];
    int port = 0;
    if (addr)
        rmig_target_split_addr(addr, host, sizeof host, &port);
    if (codis_sink) {
        int crc = rmig_check_codis(L, so, "sink", rmig_vm_str(L, so - 1, "where"), NULL);
        rc = crc > rc ? crc : rc;
    } else if (twem_sink) {
        /* check_twem.c: the pool and each backend */
        int trc = rmig_check_twem(L, so, "sink", rmig_vm_str(L, so - 1, "where"), NULL);
        rc = trc > rc ? trc : rc;
    } else if (cluster) {
        /* check_cluster.c: the slot layout, and how the file's keys spread over the masters */
        int rdb_source = ctor && !strcmp(ctor, "rmig.source.rdb") && sv > 0;
        int crc = rmig_check_cluster_target(L, so, rdb_source ? rdb : NULL, err, sizeof err);
        rc = crc > rc ? crc : rc;
        if (live && !twem) {
            lua_getfield(L, pipe, "source");
            lua_getfield(L, -1, "options");
            rmig_check_cross_slot(L, lua_gettop(L));
            lua_pop(L, 2);
        }
    } else if (rmig_target_probe(host, port, user, pw, tlsp, &ti, err, sizeof err) < 0) {
        printf("target    cannot be reached: %s\n", err);
        rc = 1;
    } else {
        int tv = ti.rdb_version;
        printf("target    %s %s%s%s (RDB %d)\n", ti.valkey[0] ? "Valkey" : "Redis", ti.valkey[0] ? ti.valkey : ti.redis,
               ti.mode[0] ? ", " : "", ti.mode, tv);
        if (!strcmp(restore, "never"))
            printf("values    as native commands (restore = \"never\")\n");
        else if (sv > 0 && rmig_target_restores(tv, sv))
            printf("values    as RESTORE payloads (the target reads RDB %d, the source RDB %d)%s\n", tv, sv,
                   strcmp(restore, "always") ? "; plain strings as SET" : "");
        else if (!strcmp(restore, "always"))
            printf("values    as RESTORE payloads (restore = \"always\"), though the target reads RDB %d and "
                   "the file is RDB %d: expect refusals\n", tv, sv);
        else if (sv > 0)
            printf("values    as native commands: the target reads RDB %d, older than the file's %d\n", tv, sv);
        if (ti.maxmemory) {
            /* a dump takes two to three times its file size in memory, more when LZF packed it */
            char mm[32], used[32], file[32];
            rmig_progress_bytes(mm, sizeof mm, (double)ti.maxmemory);
            rmig_progress_bytes(used, sizeof used, (double)ti.used_memory);
            rmig_progress_bytes(file, sizeof file, (double)size);
            if (ti.used_memory + 2 * size > ti.maxmemory)
                printf("risk      the target's maxmemory is %s with %s used; a %s file may not fit: keys refused "
                       "with OOM are reported (and go to sink.dead_letter when set)\n", mm, used, file);
        }
        if (ti.proto_max_bulk_len && (uint64_t)chunk_bytes * 2 > ti.proto_max_bulk_len)
            printf("note      sink.chunk_bytes is lowered to half the target's proto-max-bulk-len (%llu bytes)\n",
                   (unsigned long long)ti.proto_max_bulk_len);
        if (live && ti.keys && ti.keys != UINT64_MAX)
            printf("note      the target holds %llu keys: the snapshot's keys replace theirs (RESTORE ... REPLACE); "
                   "others stay\n", (unsigned long long)ti.keys);
        if (live && rmig_vm_bool(L, so, "exactly_once", 0))
            printf("stream    exactly once: MULTI/EXEC batches with the checkpoint key %s (db 0 of the target)\n",
                   rmig_vm_str(L, so, "checkpoint_key") ? rmig_vm_str(L, so, "checkpoint_key") : "rmig:checkpoint");
        else if (live)
            printf("stream    at least once: after a crash, commands since the last saved position run again "
                   "(sink.exactly_once avoids it)\n");
        int native = !strcmp(restore, "never") || (strcmp(restore, "always") && !rmig_target_restores(tv, sv));
        if (native && strcmp(mode, "replace")) {
            printf("problem   mode = \"%s\" needs RESTORE payloads: rmig run will refuse this pipeline\n", mode);
            rc = 2;
        }
    }
    printf("big keys  values over %s go out in chunks as native commands (sink.chunk_bytes)\n", chunk);
    printf("failures  a lost connection is retried for %lld s (sink.retry_deadline_s)%s%s\n",
           (long long)rmig_vm_int(L, so, "retry_deadline_s", 300), dl ? "; refused commands go to " : "",
           dl ? dl : "");
    rmig_vm_free(vm);
    return rc;
}
