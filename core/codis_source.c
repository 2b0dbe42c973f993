/* codis_source.c - rmig.source.codis in the runner: a Codis deployment's
 * group masters, read as one source.
 *
 * Codis's proxy cannot be read through, so each group's master (a
 * codis-server, which replicates as Redis 3.2 does) is read as the psync or
 * scan source reads a server (live_open.c, run_scan.c take the list from
 * here). The masters come from the source's `groups` ("host:port" each) or
 * from a topology file (codis.h: a short YAML, or codis-admin's JSON),
 * which may carry a password per group. A codis-server's stream carries
 * Codis's own commands (SLOTSRESTORE ...): run_live.c translates them. */
#include "run_internal.h"

#include "codis.h"
#include "target.h"
#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rmig__codis_open(runner *r, lua_State *L, int src)
{
    const char *topo = rmig_vm_str(L, src, "topology");
    char err[700];
    size_t n = 0;
    if (topo) {
        if (!(r->codis_topo = calloc(1, sizeof *r->codis_topo))) {
            snprintf(r->err, sizeof r->err, "out of memory");
            return -1;
        }
        if (rmig_codis_topo_load(r->codis_topo, &topo, 1, err, sizeof err) < 0) {
            snprintf(r->err, sizeof r->err, "source.topology: %s", err);
            return -2;
        }
        n = r->codis_topo->ngroups;
        int slot = 0, moving = rmig_codis_topo_migrating(r->codis_topo, &slot);
        const char *mode = rmig_vm_str(L, src, "mode");
        if (moving && mode && !strcmp(mode, "scan"))
            /* (psync pairs each moved key with the leaving group's DEL:
             * run_live.c; a scan may read the leaving group after the key
             * left and the joining one before it came) */
            fprintf(stderr, "rmig: warning: %s: %d slot(s) are being migrated (slot %d from group %d to group %d): a "
                    "key that moves while it is scanned can be missed; use mode = \"psync\", or run again (or "
                    "rmig verify) once no slot migrates (codis-admin --slots-status)\n", topo, moving, slot,
                    r->codis_topo->groups[r->codis_topo->from[slot]].id,
                    r->codis_topo->groups[r->codis_topo->slot[slot]].id);
    } else {
        lua_getfield(L, src, "groups");
        n = lua_istable(L, -1) ? lua_objlen(L, -1) : 0;
        lua_pop(L, 1);
    }
    if (!n) {
        snprintf(r->err, sizeof r->err, "source: no group master to read (give groups = { \"host:port\", ... } or "
                 "topology = FILE)");
        return -2;
    }
    if (!(r->farm = calloc(n, sizeof *r->farm))) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        rmig_farm_server *f = &r->farm[i];
        if (topo) {
            const rmig_codis_group *g = &r->codis_topo->groups[i];
            snprintf(f->host, sizeof f->host, "%s", g->host);
            f->port = g->port;
            f->password = g->password;
            continue;
        }
        lua_getfield(L, src, "groups");
        lua_rawgeti(L, -1, (int)i + 1);
        const char *addr = lua_tostring(L, -1);
        int bad = !addr || rmig_target_split_addr(addr, f->host, sizeof f->host, &f->port) < 0;
        lua_pop(L, 2);
        if (bad) {
            snprintf(r->err, sizeof r->err, "source.groups[%zu] must be \"host:port\", not %s", i + 1,
                     addr ? addr : "a value of another type");
            return -2;
        }
    }
    r->nfarm = n;
    r->farm_what = "group masters";
    r->farm_db = -1;
    r->codis = 1;
    snprintf(r->farm_label, sizeof r->farm_label, "Codis: %zu group masters%s%s", n, topo ? " of " : "",
             topo ? topo : "");
    return 0;
}

int rmig__codis_sink_open(runner *r, lua_State *L, int so, int verify)
{
    const char *topo = rmig_vm_str(L, so, "topology");
    char err[700];
    if (!topo) {
        /* through a codis-proxy only (the schema wants one of the two) */
        if (verify) {
            snprintf(r->err, sizeof r->err, "rmig verify reads every key from its group master, and a codis-proxy "
                     "lists no keys: give the sink topology = FILE as well as proxy");
            return -2;
        }
        return 0;
    }
    if (!(r->codis_sink = calloc(1, sizeof *r->codis_sink))) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    if (rmig_codis_topo_load(r->codis_sink, &topo, 1, err, sizeof err) < 0) {
        snprintf(r->err, sizeof r->err, "topology: %s", err);
        return -2;
    }
    snprintf(r->sink_label, sizeof r->sink_label, "the %zu group masters of %s", r->codis_sink->ngroups,
             topo);
    return 0;
}

const char *rmig__codis_master(const struct rmig_codis_topo *t, size_t i, int *port)
{
    *port = t->groups[i].port;
    return t->groups[i].host;
}

void rmig__codis_free(runner *r)
{
    if (r->codis_topo)
        rmig_codis_topo_free(r->codis_topo);
    free(r->codis_topo);
    if (r->codis_sink)
        rmig_codis_topo_free(r->codis_sink);
    free(r->codis_sink);
    r->codis_topo = r->codis_sink = NULL;
}
