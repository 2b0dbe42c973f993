/* test_luanode.c - Lua nodes over batches: one call into Lua per batch,
 * entries seen through FFI views, renames and drops landing in the C batch,
 * on_error skip/pass/abort with messages naming node, line, key and db, and
 * the node loop compiled by the JIT (no trace aborts once warm). */
#include "batch.h"
#include "testlib.h"
#include "vm.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *pipeline =
    "local rmig = require 'rmig'\n"
    "return rmig.pipeline {\n"
    "  source = rmig.source.rdb { path = 'x.rdb' },\n"
    "  nodes = {\n"
    "    function(e) if e:has_prefix('tmp:') then return false end end,\n"
    "    rmig.node { name = 'rename', fn = function(e, b)\n"
    "      if e:has_prefix('user:') then b:set_key(e, 'u:' .. e:key():sub(6)) end end },\n"
    "    rmig.node { name = 'picky', on_error = 'skip', fn = function(e)\n"
    "      if e:key() == 'bad' then error('cannot handle this one') end end },\n"
    "    rmig.node { name = 'lenient', on_error = 'pass', fn = function(e)\n"
    "      if e:key() == 'odd' then error('odd') end end },\n"
    "    rmig.node { name = 'mover', fn = function(e) if e:match('u:*') then e.db = 3 end end },\n"
    "    rmig.node { name = 'strict', fn = function(e) if e:key() == 'fatal' then error('boom') end end },\n"
    "  },\n"
    "  sink = rmig.sink.redis { addr = '127.0.0.1:1' },\n"
    "}\n";

static void add(rmig_batch *b, const char *key, uint64_t db)
{
    rmig_entry *e = rmig_batch_add(b);
    e->key = (const uint8_t *)key;
    e->key_len = (uint32_t)strlen(key);
    e->db = db;
}

int main(void)
{
    char err[1024], path[] = "/tmp/rmig-luanode-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, pipeline, strlen(pipeline)) != (ssize_t)strlen(pipeline))
        return 1;
    close(fd);
    rmig_vm *vm = rmig_vm_new(err, sizeof err);
    int r = rmig_vm_load(vm, path, NULL, 0, err, sizeof err);
    CHECK("a pipeline with Lua nodes loads", r == 0, "%s", err);
    if (r)
        return rmig_t_done();
    int chain = rmig_vm_chain(vm, 1, 5, err, sizeof err);
    CHECK("consecutive Lua nodes make one chain", chain > 0, "%s", err);

    rmig_batch b;
    rmig_batch_init(&b, 16);
    add(&b, "user:1", 0);
    add(&b, "tmp:x", 0);
    add(&b, "bad", 1);
    add(&b, "odd", 2);
    add(&b, "order:9", 0);
    r = rmig_vm_run_chain(vm, chain, &b, err, sizeof err);
    CHECK("the chain runs over the batch in one call", r == 0, "%s", err);
    CHECK("a node returning false drops the entry", (b.e[1].flags & RMIG_ENTRY_DROPPED) && b.e[1].dropped_by == 1,
          "flags %u by %u", b.e[1].flags, b.e[1].dropped_by);
    CHECK("a rename lands in the C entry", b.e[0].key_len == 3 && !memcmp(b.e[0].key, "u:1", 3) &&
                                               (b.e[0].flags & RMIG_ENTRY_CHANGED),
          "%.*s", (int)b.e[0].key_len, (const char *)b.e[0].key);
    CHECK("later nodes see earlier nodes' changes", b.e[0].db == 3, "db %llu", (unsigned long long)b.e[0].db);
    CHECK("on_error = skip drops the entry that raised", (b.e[2].flags & RMIG_ENTRY_DROPPED) && b.e[2].dropped_by == 3,
          "flags %u", b.e[2].flags);
    CHECK("on_error = pass keeps the entry and runs the next nodes",
          !(b.e[3].flags & RMIG_ENTRY_DROPPED) && !(b.e[4].flags & RMIG_ENTRY_DROPPED), "flags %u", b.e[3].flags);

    int strict = rmig_vm_chain(vm, 6, 6, err, sizeof err);
    rmig_batch_reset(&b);
    add(&b, "fine", 0);
    add(&b, "fatal", 7);
    r = rmig_vm_run_chain(vm, strict, &b, err, sizeof err);
    char line[64];
    snprintf(line, sizeof line, "%s:13", path);
    CHECK("on_error = abort stops with the node, its line, the key and the db",
          r == -1 && strstr(err, "strict") && strstr(err, line) && strstr(err, "\"fatal\"") && strstr(err, "db 7") &&
              strstr(err, "boom"),
          "%s", err);

    /* the loop is compiled: count trace aborts while a hot chain runs */
    lua_State *L = rmig_vm_state(vm);
    luaL_dostring(L, "ABORTS = 0; CODES = {}; jit.attach(function(what, tr, func, pc, otr, oex) "
                    "if what == 'abort' then ABORTS = ABORTS + 1; CODES[#CODES + 1] = {otr, oex} end end, 'trace')");
    static char keys[4096][16];
    rmig_batch_free(&b);
    rmig_batch_init(&b, 4096);
    for (int round = 0; round < 30; round++) {
        rmig_batch_reset(&b);
        for (int i = 0; i < 4096; i++) {
            snprintf(keys[i], sizeof keys[i], i % 3 ? "user:%d" : "order:%d", i);
            add(&b, keys[i], 0);
        }
        int hot = rmig_vm_chain(vm, 1, 1, err, sizeof err);
        rmig_vm_run_chain(vm, hot, &b, err, sizeof err);
        luaL_unref(L, LUA_REGISTRYINDEX, hot);
        if (round == 4)
            luaL_dostring(L, "ABORTS = 0; CODES = {}");
    }
    luaL_dostring(L, "local vmdef = require 'jit.vmdef'; local r = {}; for _, c in ipairs(CODES) do "
                     "local m = vmdef.traceerr[c[1]] or tostring(c[1]); "
                     "r[#r + 1] = c[2] and m:format(c[2]) or m end; return ABORTS, table.concat(r, '; ')");
    int aborts = (int)lua_tointeger(L, -2);
    CHECK("the node loop is compiled by the JIT: no trace aborts once warm", aborts == 0, "%d aborts: %s", aborts,
          lua_tostring(L, -1));
    lua_pop(L, 2);
    rmig_batch_free(&b);
    rmig_vm_free(vm);
    unlink(path);
    return rmig_t_done();
}
