/* check_twem.c - `rmig check` of a Twemproxy pool, as a source
 * (rmig.source.twemproxy) or a sink (rmig.sink.twemproxy): the pool as
 * nutcracker.yml describes it (hash, distribution, hash_tag, redis_db),
 * then each backend: reachable, its version, its keys. A proxy cannot be
 * read through, so every backend must be reachable from where rmig runs. */
#include "check.h"

#include "target.h"
#include "twemproxy.h"
#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rmig_check_twem(lua_State *L, int opts, const char *role, const char *where, int *rdb_version)
{
    const char *path = rmig_vm_str(L, opts, "config"), *name = rmig_vm_str(L, opts, "pool");
    const char *user = rmig_vm_str(L, opts, "user"), *pw = rmig_vm_str(L, opts, "password");
    const char *pw_env = rmig_vm_str(L, opts, "password_env");
    char err[700];
    rmig_twem_conf c = {0};
    int rc = 0;
    if (rmig_twem_conf_load(&c, path, err, sizeof err) < 0) {
        printf("%-9s rmig.%s.twemproxy: %s  [%s]\n", role, role, err, where);
        rmig_twem_conf_free(&c);
        return 2;
    }
    rmig_twem_pool *p = rmig_twem_conf_pool(&c, name, err, sizeof err);
    if (!p) {
        printf("%-9s rmig.%s.twemproxy: %s  [%s]\n", role, role, err, where);
        rmig_twem_conf_free(&c);
        return 2;
    }
    if (pw_env && !(pw = getenv(pw_env))) {
        printf("%-9s %s.password_env names %s, which is not set in the environment\n", role, role, pw_env);
        rmig_twem_conf_free(&c);
        return 2;
    }
    if (!pw)
        pw = p->redis_auth;
    /* (not always redis_db: see rmig_twem_pool_db) */
    int db = rmig_twem_pool_db(p);
    if (p->redis_db > 0 && p->redis_auth)
        printf("note      pool '%s' sets redis_auth and redis_db: nutcracker 0.5.0 then never selects db %d, so "
               "its keys are in db 0 of the backends, where rmig reads and writes them\n", p->name, p->redis_db);
    else if (p->redis_db > 0 && db == 0)
        printf("note      pool '%s' sets redis_db but its backends are unix sockets: nutcracker 0.5.0 then never "
               "selects db %d, so its keys are in db 0 of the backends, where rmig reads and writes them\n", p->name,
               p->redis_db);
    else if (db < 0) {
        /* (a sink through the proxy is fine: nutcracker places the keys) */
        int through = !strcmp(role, "sink") && !rmig_vm_bool(L, opts, "direct", 0);
        printf("%-9s pool '%s' has TCP and unix-socket backends and redis_db %d: nutcracker 0.5.0 selects db %d "
               "only on the TCP ones, so its keys are in two dbs; rmig %s  [%s]\n", through ? "note" : role,
               p->name, p->redis_db, p->redis_db,
               through ? "writes it through the proxy, but rmig verify cannot read it back"
                       : "reads and writes such a pool only through the proxy", where);
        rc = through ? 0 : 2;
        db = p->redis_db;
    }
    printf("%-9s rmig.%s.twemproxy pool '%s' of %s: %zu backends, hash %s, %s%s%.2s%s, db %d  [%s]\n", role, role,
           p->name, path, p->nservers, rmig_twem_hash_name(p->hash), rmig_twem_dist_name(p->dist),
           p->has_tag ? ", hash_tag \"" : "", p->has_tag ? p->hash_tag : "", p->has_tag ? "\"" : "", db, where);
    rmig_tls_opts tls, *tlsp = rmig_vm_tls(L, opts, &tls);
    for (size_t i = 0; i < p->nservers; i++) {
        const rmig_twem_server *s = &p->servers[i];
        char at[300];
        rmig_target_addr(at, sizeof at, s->host, s->port);
        rmig_target_info ti;
        if (rmig_target_probe(s->host, s->port, user, pw, tlsp, &ti, err, sizeof err) < 0) {
            printf("          %s (%s): cannot be reached: %s\n", at, s->name, err);
            rc = rc > 1 ? rc : 1;
            continue;
        }
        printf("          %s (%s, weight %u): %s %s, %llu keys in all its dbs\n", at, s->name,
               s->weight, ti.valkey[0] ? "Valkey" : "Redis", ti.valkey[0] ? ti.valkey : ti.redis,
               (unsigned long long)ti.keys);
        if (rdb_version && (!*rdb_version || ti.rdb_version < *rdb_version))
            *rdb_version = ti.rdb_version; /* (the oldest backend decides what payloads all can read) */
    }
    if (!strcmp(role, "sink") && p->dist == RMIG_TWEM_RANDOM && p->nservers > 1 && rmig_vm_bool(L, opts, "direct", 0))
        printf("          distribution random: a key has no backend of its own; direct = true is refused\n"), rc = 2;
    rmig_twem_conf_free(&c);
    return rc;
}
