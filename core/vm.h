/* vm.h - the LuaJIT state that loads pipeline files.
 *
 * A pipeline file is Lua that returns a description (lua/rmig/init.lua);
 * this module makes the state, points `require` at rmig's Lua library and
 * at filters/, and loads a file through rmig.load, which checks every
 * constructor's options and applies `-s path=value` overrides. The
 * description stays in the state for the caller to read. */
#ifndef RMIG_VM_H
#define RMIG_VM_H

#include "tls.h"

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rmig_vm rmig_vm;

/* A state with the standard libraries and rmig's paths: $RMIG_LUA_PATH (a
 * directory) when set, else the source tree's lua/ and filters/, else the
 * installed share/rmig. NULL with a message when LuaJIT cannot start. */
rmig_vm *rmig_vm_new(char *err, size_t errlen);
void rmig_vm_free(rmig_vm *vm);
lua_State *rmig_vm_state(rmig_vm *vm);

/* Loads a pipeline file with overrides ("sink.addr=..."). On success the
 * description is on top of the stack and 0 is returned; else -1 and err
 * names the file and line. */
int rmig_vm_load(rmig_vm *vm, const char *path, const char *const *overrides, int n, char *err,
                 size_t errlen);
/* The same for a test file of `rmig test` (lua/rmig/test.lua): the suite,
 * whose nodes list is read like a pipeline's, on top of the stack. */
int rmig_vm_load_test(rmig_vm *vm, const char *path, char *err, size_t errlen);

/* With a pipeline description on top of the stack (rmig_vm_load), makes
 * the loop that runs its Lua nodes first..last (1-based positions in its
 * nodes list, all Lua) over a batch. Returns a reference (> 0), or -1 with
 * a message. */
struct rmig_batch;
int rmig_vm_chain(rmig_vm *vm, int first, int last, char *err, size_t errlen);

/* Runs a chain over a batch: one call into Lua. 0, or -1 when a node with
 * on_error = "abort" raised (err names the node, its file:line, the key and
 * its db). */
int rmig_vm_run_chain(rmig_vm *vm, int ref, struct rmig_batch *b, char *err, size_t errlen);

/* The command line of a pipeline command (run, check): PIPELINE.lua and
 * -s path=value overrides. -1 to go on, else the exit code (0 after --help,
 * 2 for a usage error, with the message printed). */
int rmig_vm_args(int argc, char **argv, const char *cmd, const char *usage, const char **path,
                 const char **overrides, int *nover, int max);

/* Fields of a description table at idx: a string (NULL when absent or not a
 * string; it lives as long as the table), a boolean, a number. */
const char *rmig_vm_str(lua_State *L, int idx, const char *k);
int rmig_vm_bool(lua_State *L, int idx, const char *k, int dflt);
int64_t rmig_vm_int(lua_State *L, int idx, const char *k, int64_t dflt);
/* The sink's tls = {...} at idx into *out (its strings live with the
 * table): out, or NULL when the sink has no tls table. */
rmig_tls_opts *rmig_vm_tls(lua_State *L, int idx, rmig_tls_opts *out);

#endif
