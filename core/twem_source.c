/* twem_source.c - rmig.source.twemproxy in the runner: the pool read from
 * its nutcracker.yml, and what every backend shares.
 *
 * A proxy cannot be read through (nutcracker has no SYNC, PSYNC or SCAN),
 * so each backend of the pool is read as the psync or scan source reads a
 * server (live_open.c, run_scan.c take the backend list from here). Each
 * backend holds its part of the pool in the pool's redis_db; the proxy's
 * clients see it as the only keyspace there is. So the source's entries
 * pass a db filter before every node: redis_db becomes db 0, other dbs
 * (keys that are on a backend but not in the pool) are dropped and
 * counted. */
#include "run_internal.h"

#include "filter.h"
#include "twemproxy.h"
#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The db a pool's keys are in on its backends (rmig_twem_pool_db: not
 * always redis_db); a pool whose keys are in two dbs is refused. 0, or -2. */
static int pool_db_known(runner *r, const rmig_twem_pool *p, const char *path)
{
    if (rmig_twem_pool_db(p) >= 0)
        return 0;
    snprintf(r->err, sizeof r->err, "%s: pool '%s' has TCP and unix-socket backends and redis_db %d: nutcracker "
             "0.5.0 selects db %d only on the TCP ones (a unix socket connects before it can), so the pool's keys "
             "are in db %d of some backends and db 0 of others; give every backend the same kind of address",
             path, p->name, p->redis_db, p->redis_db, p->redis_db);
    return -2;
}

int rmig__twem_open(runner *r, lua_State *L, int src)
{
    const char *path = rmig_vm_str(L, src, "config"), *name = rmig_vm_str(L, src, "pool");
    char err[700];
    if (!(r->twem_conf = calloc(1, sizeof *r->twem_conf))) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    if (rmig_twem_conf_load(r->twem_conf, path, err, sizeof err) < 0) {
        snprintf(r->err, sizeof r->err, "source.config: %s", err);
        return -2;
    }
    rmig_twem_pool *p = rmig_twem_conf_pool(r->twem_conf, name, err, sizeof err);
    if (!p) {
        snprintf(r->err, sizeof r->err, "source.pool: %s", err);
        return -2;
    }
    if (p->redis != 1) {
        snprintf(r->err, sizeof r->err, "%s: pool '%s' is a memcached pool (redis: true is not set: nutcracker's "
                 "default is memcached): rmig reads Redis backends only", path, p->name);
        return -2;
    }
    if (pool_db_known(r, p, path) < 0)
        return -2;
    r->twem = p;
    if (!(r->farm = calloc(p->nservers, sizeof *r->farm))) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < p->nservers; i++) {
        snprintf(r->farm[i].host, sizeof r->farm[i].host, "%s", p->servers[i].host);
        r->farm[i].port = p->servers[i].port;
        r->farm[i].password = p->redis_auth;
    }
    r->nfarm = p->nservers;
    r->farm_what = "backends";
    r->farm_db = rmig__twem_db(r);
    snprintf(r->farm_label, sizeof r->farm_label, "Twemproxy pool '%s' of %s (%zu backends, db %d)", p->name, path,
             p->nservers, rmig__twem_db(r));
    uint64_t db = (uint64_t)rmig__twem_db(r), zero = 0;
    rmig_filter_conf c = {.type = RMIG_FILTER_DB, .db_allow = &db, .ndb_allow = 1, .map_from = &db, .map_to = &zero,
                          .nmap = 1};
    char name_buf[96];
    snprintf(name_buf, sizeof name_buf, "pool db %llu as db 0", (unsigned long long)db);
    if (rmig_steps_source_filter(r->steps, &c, name_buf, r->err, sizeof r->err) < 0)
        return -1;
    return 0;
}

int rmig__twem_db(const runner *r) { return r->twem ? rmig_twem_pool_db(r->twem) : 0; }

int rmig__twem_sink_open(runner *r, lua_State *L, int so, struct rmig_twem_pool **pool, const char **addr,
                         const char **password)
{
    const char *path = rmig_vm_str(L, so, "config"), *name = rmig_vm_str(L, so, "pool");
    char err[700];
    if (!(r->twem_sink_conf = calloc(1, sizeof *r->twem_sink_conf))) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    if (rmig_twem_conf_load(r->twem_sink_conf, path, err, sizeof err) < 0) {
        snprintf(r->err, sizeof r->err, "config: %s", err);
        return -2;
    }
    rmig_twem_pool *p = rmig_twem_conf_pool(r->twem_sink_conf, name, err, sizeof err);
    if (!p) {
        snprintf(r->err, sizeof r->err, "pool: %s", err);
        return -2;
    }
    if (p->redis != 1) {
        snprintf(r->err, sizeof r->err, "%s: pool '%s' is a memcached pool (redis: true is not set: nutcracker's "
                 "default is memcached)", path, p->name);
        return -2;
    }
    int direct = rmig_vm_bool(L, so, "direct", 0);
    if (!direct && !*addr) {
        /* the proxy: where the pool listens (a wildcard address means this host) */
        if (!p->listen || !strchr(p->listen, ':') || p->listen[0] == '/') {
            snprintf(r->err, sizeof r->err, "%s: pool '%s' has no TCP listen: address: give the proxy as sink.addr",
                     path, p->name);
            return -2;
        }
        const char *colon = strrchr(p->listen, ':');
        snprintf(r->sink_label, sizeof r->sink_label, "%s%s",
                 !strncmp(p->listen, "0.0.0.0:", 8) ? "127.0.0.1" : "", !strncmp(p->listen, "0.0.0.0:", 8) ? colon
                                                                                                        : p->listen);
        *addr = r->sink_label;
    }
    if (!*password)
        *password = p->redis_auth;
    *pool = p;
    return 0;
}

const char *rmig__twem_name(const struct rmig_twem_pool *p) { return p->name; }

const char *rmig__twem_backend(const struct rmig_twem_pool *p, size_t i, int *port)
{
    *port = p->servers[i].port;
    return p->servers[i].host;
}

void rmig__twem_free(runner *r)
{
    if (r->twem_conf)
        rmig_twem_conf_free(r->twem_conf);
    free(r->twem_conf);
    if (r->twem_sink_conf)
        rmig_twem_conf_free(r->twem_sink_conf);
    free(r->twem_sink_conf);
    r->twem_conf = r->twem_sink_conf = NULL;
    r->twem = NULL;
}
