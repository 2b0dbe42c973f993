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

rmig_vm *rmig_vm_new(char *err, size_t errlen)
{
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

int rmig_vm_load(rmig_vm *vm, const char *path, const char *const *overrides, int n, char *err, size_t errlen)
{
    lua_State *L = vm->L;
    int top = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushstring(L, "rmig");
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
    lua_remove(L, -2);     /* the rmig module */
    return 0;
}
