/* steps.c - a pipeline's nodes as steps to run over each batch (steps.h).
 *
 * Built-in nodes (impl "c") become filters (filter.c) made from their
 * options; a run of consecutive Lua nodes becomes one chain (vm.c), so a
 * batch crosses into Lua once per run of Lua nodes, not once per node. */
#include "steps.h"

#include "filter.h"
#include "vm.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 64

enum { STEP_C = 1, STEP_LUA };

typedef struct step {
    int kind;
    rmig_filter *f;   /* STEP_C */
    int ref;          /* STEP_LUA: chain reference */
    int first, last;  /* node positions */
    char name[96];
} step;

struct rmig_steps {
    rmig_vm *vm;
    step steps[MAX_STEPS];
    int nsteps;
    rmig_filter *pre;     /* the source's own filter, before every node (rmig_steps_source_filter) */
    char pre_name[96];
    char *err;
    size_t errlen;
};

/* a Lua list of strings (or nil) as rmig_list; storage in *mem */
static rmig_list strlist(lua_State *L, int idx, const char *k, rmig_bytes *mem, size_t cap)
{
    rmig_list l = {mem, 0};
    lua_getfield(L, idx, k);
    if (lua_istable(L, -1)) {
        for (size_t i = 1; i <= lua_objlen(L, -1) && l.n < cap; i++) {
            lua_rawgeti(L, -1, (int)i);
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            mem[l.n].p = s;
            mem[l.n].n = n;
            l.n++;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return l;
}

static int kind_bits(lua_State *L, int idx, const char *k)
{
    static const char *kinds[] = {"string", "list", "set", "zset", "hash", "stream", "module"};
    int bits = 0;
    lua_getfield(L, idx, k);
    for (size_t i = 1; lua_istable(L, -1) && i <= lua_objlen(L, -1); i++) {
        lua_rawgeti(L, -1, (int)i);
        const char *s = lua_tostring(L, -1);
        for (int j = 0; s && j < 7; j++)
            if (!strcmp(s, kinds[j]))
                bits |= 1 << j;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return bits;
}

/* a Lua map string -> string as two lists */
static void strmap(lua_State *L, int idx, const char *k, rmig_bytes *from, rmig_bytes *to, size_t cap,
                   rmig_list *lf, rmig_list *lt)
{
    lf->v = from;
    lt->v = to;
    lf->n = lt->n = 0;
    lua_getfield(L, idx, k);
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2) && lf->n < cap) {
            size_t a, b;
            const char *ks = lua_tolstring(L, -2, &a), *vs = lua_tolstring(L, -1, &b);
            from[lf->n] = (rmig_bytes){ks, a};
            to[lt->n] = (rmig_bytes){vs, b};
            lf->n++;
            lt->n++;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

static int build_c_step(rmig_steps *r, lua_State *L, int node, const char *ctor, step *s)
{
    lua_getfield(L, node, "options");
    int o = lua_gettop(L);
    rmig_filter_conf c;
    memset(&c, 0, sizeof c);
    rmig_bytes a[64], d[64], pf[64], sf[64], rx[64], rf[64], rt[64], xf[64], xt[64];
    uint64_t dball[64], mf[64], mt[64];
    if (!strcmp(ctor, "rmig.filter.keys")) {
        c.type = RMIG_FILTER_KEYS;
        c.allow = strlist(L, o, "allow", a, 64);
        c.deny = strlist(L, o, "deny", d, 64);
        c.prefix = strlist(L, o, "prefix", pf, 64);
        c.suffix = strlist(L, o, "suffix", sf, 64);
        c.regex = strlist(L, o, "regex", rx, 64);
    } else if (!strcmp(ctor, "rmig.filter.rename")) {
        /* rename { fn = ... } is a Lua node (lua/rmig/init.lua) and never comes here */
        c.type = RMIG_FILTER_RENAME;
        strmap(L, o, "prefix", rf, rt, 64, &c.rename_from, &c.rename_to);
        strmap(L, o, "suffix", xf, xt, 64, &c.suffix_from, &c.suffix_to);
    } else if (!strcmp(ctor, "rmig.filter.db")) {
        c.type = RMIG_FILTER_DB;
        lua_getfield(L, o, "allow");
        for (size_t i = 1; lua_istable(L, -1) && i <= lua_objlen(L, -1) && c.ndb_allow < 64; i++) {
            lua_rawgeti(L, -1, (int)i);
            dball[c.ndb_allow++] = (uint64_t)lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        c.db_allow = dball;
        lua_getfield(L, o, "map");
        if (lua_istable(L, -1)) {
            lua_pushnil(L);
            while (lua_next(L, -2) && c.nmap < 64) {
                mf[c.nmap] = (uint64_t)lua_tonumber(L, -2);
                mt[c.nmap] = (uint64_t)lua_tonumber(L, -1);
                c.nmap++;
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
        c.map_from = mf;
        c.map_to = mt;
    } else if (!strcmp(ctor, "rmig.filter.type")) {
        c.type = RMIG_FILTER_TYPE;
        c.type_allow = (uint32_t)kind_bits(L, o, "allow");
        c.type_deny = (uint32_t)kind_bits(L, o, "deny");
    } else if (!strcmp(ctor, "rmig.filter.ttl")) {
        c.type = RMIG_FILTER_TTL;
        c.drop_expired = rmig_vm_bool(L, o, "drop_expired", 1);
        const char *kw = rmig_vm_str(L, o, "keys_without_ttl");
        c.drop_without_ttl = kw && !strcmp(kw, "drop");
        c.remove_ttl = rmig_vm_bool(L, o, "remove", 0);
        c.shift_ms = rmig_vm_int(L, o, "shift_ms", 0);
        c.max_ms = rmig_vm_int(L, o, "max_ms", 0);
        c.default_ms = rmig_vm_int(L, o, "default_ms", 0);
        c.min_ms = rmig_vm_int(L, o, "min_ms", 0);
    } else if (!strcmp(ctor, "rmig.filter.commands")) {
        c.type = RMIG_FILTER_COMMANDS;
        c.allow = strlist(L, o, "allow", a, 64);
        c.deny = strlist(L, o, "deny", d, 64);
    } else {
        snprintf(r->err, r->errlen, "not a node rmig run knows");
        lua_pop(L, 1);
        return -1;
    }
    s->kind = STEP_C;
    s->f = rmig_filter_new(&c, r->err, r->errlen);
    lua_pop(L, 1);
    return s->f ? 0 : -1;
}

static int build_steps(rmig_steps *r, const char *path)
{
    lua_State *L = rmig_vm_state(r->vm);
    int pipe = lua_gettop(L);
    lua_getfield(L, pipe, "nodes");
    int nodes = lua_gettop(L), n = (int)lua_objlen(L, nodes);
    for (int i = 1; i <= n && r->nsteps < 64; i++) {
        lua_rawgeti(L, nodes, i);
        int node = lua_gettop(L);
        const char *impl = rmig_vm_str(L, node, "impl"), *ctor = rmig_vm_str(L, node, "constructor"),
                   *where = rmig_vm_str(L, node, "where");
        step *s = &r->steps[r->nsteps];
        memset(s, 0, sizeof *s);
        s->first = s->last = i;
        lua_getfield(L, node, "options");
        const char *name = rmig_vm_str(L, lua_gettop(L), "name");
        snprintf(s->name, sizeof s->name, "%s [%s]", name ? name : ctor, where ? where : path);
        lua_pop(L, 1);
        if (impl && !strcmp(impl, "c")) {
            if (build_c_step(r, L, node, ctor, s) < 0) {
                /* filter.c does not know where the node was declared; the user needs it */
                char why[512];
                snprintf(why, sizeof why, "%s", r->err);
                snprintf(r->err, r->errlen, "%s: %s: %s", where ? where : path, ctor, why);
                lua_settop(L, pipe);
                return -1;
            }
            r->nsteps++;
        } else {
            /* consecutive Lua nodes share one chain */
            int last = i;
            while (last < n) {
                lua_rawgeti(L, nodes, last + 1);
                const char *im = rmig_vm_str(L, lua_gettop(L), "impl");
                int lua_node = im && strcmp(im, "c");
                lua_pop(L, 1);
                if (!lua_node)
                    break;
                last++;
            }
            lua_settop(L, pipe);
            s->kind = STEP_LUA;
            s->last = last;
            s->ref = rmig_vm_chain(r->vm, i, last, r->err, r->errlen);
            if (s->ref < 0)
                return -1;
            snprintf(s->name, sizeof s->name, "Lua nodes %d-%d", i, last);
            r->nsteps++;
            i = last;
            lua_getfield(L, pipe, "nodes");
            nodes = lua_gettop(L);
            continue;
        }
        lua_settop(L, nodes);
    }
    lua_settop(L, pipe);
    return 0;
}


rmig_steps *rmig_steps_build(rmig_vm *vm, const char *path, char *err, size_t errlen)
{
    rmig_steps *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->vm = vm;
    s->err = err;
    s->errlen = errlen;
    lua_State *L = rmig_vm_state(vm);
    lua_getfield(L, -1, "nodes");
    int n = (int)lua_objlen(L, -1);
    lua_pop(L, 1);
    if (n > MAX_STEPS) {
        snprintf(err, errlen, "%s: %d nodes; a pipeline has at most %d", path, n, MAX_STEPS);
        free(s);
        return NULL;
    }
    if (build_steps(s, path) < 0) {
        rmig_steps_free(s);
        return NULL;
    }
    return s;
}

int rmig_steps_source_filter(rmig_steps *s, const rmig_filter_conf *conf, const char *name, char *err, size_t errlen)
{
    rmig_filter_free(s->pre);
    s->pre = rmig_filter_new(conf, err, errlen);
    snprintf(s->pre_name, sizeof s->pre_name, "%s", name);
    return s->pre ? 0 : -1;
}

int rmig_steps_run(rmig_steps *s, rmig_batch *b, int64_t now_ms, char *err, size_t errlen)
{
    /* (at node position 1: it sees the source's entries only, and what it
     * drops is counted as its own) */
    if (s->pre && rmig_filter_run(s->pre, 1, b, now_ms) < 0) {
        snprintf(err, errlen, "out of memory in %s", s->pre_name);
        return -1;
    }
    for (int i = 0; i < s->nsteps; i++) {
        step *st = &s->steps[i];
        if (st->kind == STEP_C) {
            if (rmig_filter_run(st->f, (uint32_t)st->first, b, now_ms) < 0) {
                snprintf(err, errlen, "out of memory in %s", st->name);
                return -1;
            }
        } else if (rmig_vm_run_chain(s->vm, st->ref, b, err, errlen) < 0) {
            return -1;
        }
    }
    return 0;
}

int rmig_steps_count(const rmig_steps *s) { return s ? s->nsteps : 0; }

void rmig_steps_report(const rmig_steps *s, FILE *f)
{
    if (s && s->pre) {
        const rmig_filter_stats *st = rmig_filter_stats_of(s->pre);
        fprintf(f, "  %s: saw %llu, dropped %llu, changed %llu\n", s->pre_name, (unsigned long long)st->seen,
                (unsigned long long)st->dropped, (unsigned long long)st->changed);
    }
    for (int i = 0; s && i < s->nsteps; i++)
        if (s->steps[i].kind == STEP_C) {
            const rmig_filter_stats *st = rmig_filter_stats_of(s->steps[i].f);
            fprintf(f, "  node %s: saw %llu, dropped %llu, changed %llu\n", s->steps[i].name,
                    (unsigned long long)st->seen, (unsigned long long)st->dropped, (unsigned long long)st->changed);
            if (st->split)
                fprintf(f, "    %llu commands were cut down to the keys this node keeps\n",
                        (unsigned long long)st->split);
            if (st->mixed)
                fprintf(f, "    %llu commands touched keys this node keeps and keys it drops, and cannot be split: "
                        "dropped (the kept keys may differ on the target: check them with rmig verify)\n",
                        (unsigned long long)st->mixed);
        }
}

void rmig_steps_free(rmig_steps *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nsteps; i++)
        rmig_filter_free(s->steps[i].f);
    rmig_filter_free(s->pre);
    free(s);
}
