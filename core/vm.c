/* vm.c - a LuaJIT state for pipelines (see vm.h). */
#include "vm.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef RMIG_SOURCE_DIR
#define RMIG_SOURCE_DIR "."
#endif
#ifndef RMIG_INSTALL_DATADIR
#define RMIG_INSTALL_DATADIR "/usr/local/share/rmig"
#endif

struct rmig_vm {
    lua_State *L;
};

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

extern void *const rmig__ffi_symbols[];

rmig_vm *rmig_vm_new(char *err, size_t errlen)
{
    if (!rmig__ffi_symbols[0]) /* keeps ffi.c linked in: see there */
        return NULL;
    rmig_vm *vm = calloc(1, sizeof *vm);
    if (!vm || !(vm->L = luaL_newstate())) {
        snprintf(err, errlen, "LuaJIT could not start (out of memory)");
        free(vm);
        return NULL;
    }
    luaL_openlibs(vm->L);
    /* where rmig's Lua library lives: an explicit directory, the source tree, the install */
    const char *env = getenv("RMIG_LUA_PATH");
    char lua[1024], filters[1024];
    if (env && *env) {
        snprintf(lua, sizeof lua, "%s", env);
        snprintf(filters, sizeof filters, "%s/../filters", env);
    } else if (is_dir(RMIG_SOURCE_DIR "/lua/rmig")) {
        snprintf(lua, sizeof lua, "%s/lua", RMIG_SOURCE_DIR);
        snprintf(filters, sizeof filters, "%s/filters", RMIG_SOURCE_DIR);
    } else {
        snprintf(lua, sizeof lua, "%s/lua", RMIG_INSTALL_DATADIR);
        snprintf(filters, sizeof filters, "%s/filters", RMIG_INSTALL_DATADIR);
    }
    lua_getglobal(vm->L, "package");
    lua_pushfstring(vm->L, "%s/?.lua;%s/?/init.lua;%s/?.lua;./?.lua", lua, lua, filters);
    lua_setfield(vm->L, -2, "path");
    lua_pop(vm->L, 1);
    return vm;
}

void rmig_vm_free(rmig_vm *vm)
{
    if (!vm)
        return;
    lua_close(vm->L);
    free(vm);
}

lua_State *rmig_vm_state(rmig_vm *vm) { return vm->L; }

int rmig_vm_chain(rmig_vm *vm, int first, int last, char *err, size_t errlen)
{
    lua_State *L = vm->L;
    int desc = lua_gettop(L), top = desc;
    lua_getglobal(L, "require");
    lua_pushstring(L, "rmig.batch");
    if (lua_pcall(L, 1, 1, 0) != 0) {
        snprintf(err, errlen, "rmig.batch could not be loaded: %s", lua_tostring(L, -1));
        lua_settop(L, top);
        return -1;
    }
    lua_getfield(L, -1, "runner");
    lua_createtable(L, last - first + 1, 0); /* { {fn, index, name, where, on_error}, ... } */
    lua_getfield(L, desc, "nodes");
    for (int i = first; i <= last; i++) {
        lua_rawgeti(L, -1, i);
        int node = lua_gettop(L);
        lua_getfield(L, node, "options");
        int opts = lua_gettop(L);
        lua_createtable(L, 0, 5);
        lua_getfield(L, opts, "fn");
        if (!lua_isfunction(L, -1)) {
            snprintf(err, errlen, "node %d is not a Lua node", i);
            lua_settop(L, top);
            return -1;
        }
        lua_setfield(L, -2, "fn");
        lua_pushinteger(L, i);
        lua_setfield(L, -2, "index");
        lua_getfield(L, opts, "name");
        lua_setfield(L, -2, "name");
        lua_getfield(L, opts, "on_error");
        lua_setfield(L, -2, "on_error");
        lua_getfield(L, node, "where");
        lua_setfield(L, -2, "where");
        lua_rawseti(L, node - 2, i - first + 1);
        lua_settop(L, node - 1);
    }
    lua_pop(L, 1); /* nodes */
    if (lua_pcall(L, 1, 1, 0) != 0) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        lua_settop(L, top);
        return -1;
    }
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, top);
    return ref;
}

int rmig_vm_run_chain(rmig_vm *vm, int ref, struct rmig_batch *b, char *err, size_t errlen)
{
    lua_State *L = vm->L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_pushlightuserdata(L, b);
    if (lua_pcall(L, 1, 2, 0) != 0) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        lua_settop(L, top);
        return -1;
    }
    int ok = lua_toboolean(L, -2);
    if (!ok)
        snprintf(err, errlen, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "a Lua node failed");
    lua_settop(L, top);
    return ok ? 0 : -1;
}

/* module.load(path, overrides) -> description | nil, message: the loader of
 * pipeline files (rmig) and of test files (rmig.test). */
static int load_with(rmig_vm *vm, const char *module, const char *path, const char *const *overrides, int n,
                     char *err, size_t errlen)
{
    lua_State *L = vm->L;
    int top = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        snprintf(err, errlen, "rmig's Lua library could not be loaded: %s (set RMIG_LUA_PATH to its lua/ folder)",
                 lua_tostring(L, -1));
        lua_settop(L, top);
        return -1;
    }
    lua_getfield(L, -1, "load");
    lua_pushstring(L, path);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, overrides[i]);
        lua_rawseti(L, -2, i + 1);
    }
    if (lua_pcall(L, 2, 2, 0) != 0) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        lua_settop(L, top);
        return -1;
    }
    if (lua_isnil(L, -2)) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        lua_settop(L, top);
        return -1;
    }
    lua_pop(L, 1);         /* the nil error */
    lua_remove(L, -2);     /* the module */
    return 0;
}

int rmig_vm_load(rmig_vm *vm, const char *path, const char *const *overrides, int n, char *err, size_t errlen)
{
    return load_with(vm, "rmig", path, overrides, n, err, errlen);
}

int rmig_vm_load_test(rmig_vm *vm, const char *path, char *err, size_t errlen)
{
    return load_with(vm, "rmig.test", path, NULL, 0, err, errlen);
}

const char *rmig_vm_str(lua_State *L, int idx, const char *k)
{
    lua_getfield(L, idx, k);
    /* the string stays alive: the description table holds it */
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);
    return s;
}

int rmig_vm_bool(lua_State *L, int idx, const char *k, int dflt)
{
    lua_getfield(L, idx, k);
    int v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

int64_t rmig_vm_int(lua_State *L, int idx, const char *k, int64_t dflt)
{
    lua_getfield(L, idx, k);
    int64_t v = lua_isnumber(L, -1) ? (int64_t)lua_tonumber(L, -1) : dflt;
    lua_pop(L, 1);
    return v;
}

rmig_tls_opts *rmig_vm_tls(lua_State *L, int idx, rmig_tls_opts *out)
{
    memset(out, 0, sizeof *out);
    lua_getfield(L, idx, "tls");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    int t = lua_gettop(L);
    out->ca_file = rmig_vm_str(L, t, "ca_file");
    out->cert_file = rmig_vm_str(L, t, "cert_file");
    out->key_file = rmig_vm_str(L, t, "key_file");
    out->server_name = rmig_vm_str(L, t, "server_name");
    out->no_verify = !rmig_vm_bool(L, t, "verify", 1);
    lua_pop(L, 1);
    return out;
}

int rmig_vm_args(int argc, char **argv, const char *cmd, const char *usage, const char **path,
                 const char **overrides, int *nover, int max)
{
    *path = NULL;
    *nover = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            if (*nover == max) {
                fprintf(stderr, "rmig %s: at most %d -s overrides\n", cmd, max);
                return 2;
            }
            overrides[(*nover)++] = argv[++i];
        } else if (argv[i][0] == '-' || *path) {
            fprintf(stderr, "rmig %s: unexpected argument %s\n\n%s", cmd, argv[i], usage);
            return 2;
        } else {
            *path = argv[i];
        }
    }
    if (!*path) {
        fprintf(stderr, "rmig %s: which pipeline? e.g. rmig %s examples/quickstart.lua\n\n%s", cmd, cmd, usage);
        return 2;
    }
    return -1;
}
