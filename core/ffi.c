/* ffi.c - the FFI leaves (see ffi.h). */
#include "ffi.h"

#include "glob.h"

#include <string.h>

int rmig_ffi_key_has_prefix(const rmig_entry *e, const char *s, size_t n)
{
    return n <= e->key_len && !memcmp(e->key, s, n);
}

int rmig_ffi_key_has_suffix(const rmig_entry *e, const char *s, size_t n)
{
    return n <= e->key_len && !memcmp(e->key + e->key_len - n, s, n);
}

int rmig_ffi_key_match(const rmig_entry *e, const char *pat, size_t n)
{
    return rmig_glob_match((const uint8_t *)pat, n, e->key, e->key_len, 0);
}

int rmig_ffi_entry_set_key(rmig_batch *b, rmig_entry *e, const char *s, size_t n)
{
    return rmig_batch_set_key(b, e, s, n);
}

int rmig_ffi_entry_set_key_at(rmig_batch *b, rmig_entry *e, uint32_t i, const char *s, size_t n)
{
    return rmig_batch_set_key_at(b, e, i, s, n);
}

void rmig_ffi_entry_drop(rmig_batch *b, rmig_entry *e, uint32_t node) { rmig_batch_drop(b, e, node); }

rmig_entry *rmig_ffi_entry_emit(rmig_batch *b, const rmig_entry *src, uint32_t node)
{
    return rmig_batch_emit(b, src, node);
}

int rmig_ffi_entry_set_string(rmig_batch *b, rmig_entry *e, const char *s, size_t n)
{
    return rmig_batch_set_string(b, e, s, n);
}

/* Taken by vm.c so that this file is linked into every program that runs Lua
 * nodes (nothing in C calls these functions; the FFI finds them by name). */
void *const rmig__ffi_symbols[] = {
    (void *)rmig_ffi_key_has_prefix, (void *)rmig_ffi_key_has_suffix, (void *)rmig_ffi_key_match,
    (void *)rmig_ffi_entry_set_key, (void *)rmig_ffi_entry_set_key_at, (void *)rmig_ffi_entry_drop, (void *)rmig_ffi_entry_emit,
    (void *)rmig_ffi_entry_set_string,
};
