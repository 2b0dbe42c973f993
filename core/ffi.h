/* ffi.h - the C functions Lua nodes reach through LuaJIT's FFI.
 *
 * `grep _ffi_` lists the whole ABI. Each is a leaf: pointers and lengths in,
 * an int out, no Lua error and no call back into Lua (the OpenResty rule),
 * so the JIT compiles the loops that call them. The structs they take are
 * those of batch.h, declared identically in lua/rmig/batch.lua. */
#ifndef RMIG_FFI_H
#define RMIG_FFI_H

#include "batch.h"

#include <stddef.h>
#include <stdint.h>

/* 1 when the entry's key starts (ends) with s[0..n), else 0. */
int rmig_ffi_key_has_prefix(const rmig_entry *e, const char *s, size_t n);
int rmig_ffi_key_has_suffix(const rmig_entry *e, const char *s, size_t n);
/* 1 when the entry's key matches the Redis glob pattern. */
int rmig_ffi_key_match(const rmig_entry *e, const char *pat, size_t n);
/* The entry's key becomes s[0..n) (copied into the batch arena); 0, or -1 (memory). */
int rmig_ffi_entry_set_key(rmig_batch *b, rmig_entry *e, const char *s, size_t n);
int rmig_ffi_entry_set_key_at(rmig_batch *b, rmig_entry *e, uint32_t i, const char *s, size_t n);
/* Drops the entry, recording node (1-based) as the one that dropped it. */
void rmig_ffi_entry_drop(rmig_batch *b, rmig_entry *e, uint32_t node);
/* b:emit(...): a copy of src (or a new entry), emitted by node; NULL when
 * the batch has no room; a string value for a new entry. */
rmig_entry *rmig_ffi_entry_emit(rmig_batch *b, const rmig_entry *src, uint32_t node);
int rmig_ffi_entry_set_string(rmig_batch *b, rmig_entry *e, const char *s, size_t n);

#endif
