/* check_codis.c - `rmig check` of a Codis deployment as the source
 * (rmig.source.codis) or the sink (rmig.sink.codis): its group masters
 * (given, or from its topology file), each reachable, its version and its
 * keys. */
#include "check.h"

#include "codis.h"
#include "target.h"
#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int probe(const char *host, int port, const char *user, const char *pw, const rmig_tls_opts *tls,
                 const char *what, int *rdb_version)
{
    rmig_target_info ti;
    char err[600];
    if (rmig_target_probe(host, port, user, pw, tls, &ti, err, sizeof err) < 0) {
        printf("          %s: cannot be reached: %s\n", what, err);
        return 1;
    }
    printf("          %s: %s %s, %llu keys\n", what, ti.valkey[0] ? "Valkey" : "Redis",
           ti.valkey[0] ? ti.valkey : ti.redis, (unsigned long long)ti.keys);
    if (rdb_version && (!*rdb_version || ti.rdb_version < *rdb_version))
        *rdb_version = ti.rdb_version;
    return 0;
}

int rmig_check_codis(lua_State *L, int opts, const char *role, const char *where, int *rdb_version)
{
    const char *topo = rmig_vm_str(L, opts, "topology"), *user = rmig_vm_str(L, opts, "user");
    const char *pw = rmig_vm_str(L, opts, "password"), *pw_env = rmig_vm_str(L, opts, "password_env");
    if (pw_env && !(pw = getenv(pw_env))) {
        printf("%-9s %s.password_env names %s, which is not set in the environment\n", role, role, pw_env);
        return 2;
    }
    rmig_tls_opts tls, *tlsp = rmig_vm_tls(L, opts, &tls);
    int rc = 0;
    const char *proxy = rmig_vm_str(L, opts, "proxy");
    if (proxy) {
        /* the sink writes through it; the password is its session_auth
         * (the topology's, if any, are the masters') */
        char host[256], what[400];
        int port = 0;
        rmig_target_split_addr(proxy, host, sizeof host, &port);
        printf("%-9s rmig.%s.codis through the codis-proxy at %s%s  [%s]\n", role, role, proxy,
               topo ? " (the topology is read by rmig verify)" : "", where);
        snprintf(what, sizeof what, "proxy %s (INFO of the group master of slot 0)", proxy);
        rc = probe(host, port, user, pw, tlsp, what, rdb_version);
        pw = NULL;
    }
    if (topo) {
        rmig_codis_topo t;
        char err[700];
        if (rmig_codis_topo_load(&t, &topo, 1, err, sizeof err) < 0) {
            printf("%-9s rmig.%s.codis: %s  [%s]\n", role, role, err, where);
            rmig_codis_topo_free(&t);
            return 2;
        }
        printf("%-9s rmig.%s.codis: %zu group masters of %s  [%s]\n", role, role, t.ngroups, topo, where);
        int slot = 0, moving = rmig_codis_topo_migrating(&t, &slot);
        if (moving && !strcmp(role, "source"))
            printf("note      %d slot(s) are being migrated (slot %d from group %d to group %d): mode = \"psync\" "
                   "applies each moved key after the leaving group's DEL of it; mode = \"scan\" can miss a key "
                   "that moves while it is scanned\n", moving, slot, t.groups[t.from[slot]].id,
                   t.groups[t.slot[slot]].id);
        for (size_t i = 0; i < t.ngroups; i++) {
            char what[400];
            snprintf(what, sizeof what, "group %d, %s", t.groups[i].id, t.groups[i].addr);
            int prc = probe(t.groups[i].host, t.groups[i].port, user, pw ? pw : t.groups[i].password, tlsp, what,
                            rdb_version);
            rc = prc > rc ? prc : rc;
        }
        rmig_codis_topo_free(&t);
        return rc;
    }
    lua_getfield(L, opts, "groups");
    size_t n = lua_istable(L, -1) ? lua_objlen(L, -1) : 0;
    printf("%-9s rmig.%s.codis: %zu group masters  [%s]\n", role, role, n, where);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (int)i);
        const char *addr = lua_tostring(L, -1);
        char host[256];
        int port = 0;
        if (addr && rmig_target_split_addr(addr, host, sizeof host, &port) == 0) {
            int prc = probe(host, port, user, pw, tlsp, addr, rdb_version);
            rc = prc > rc ? prc : rc;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return rc;
}
