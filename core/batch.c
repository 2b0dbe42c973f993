/* batch.c - batches of entries and their arena (see batch.h; the arena's
 * blocks are at least 64 KiB). */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_MIN ((size_t)64 << 10)

int rmig_batch_init(rmig_batch *b, uint32_t cap)
{
    memset(b, 0, sizeof *b);
    b->e = calloc(cap ? cap : 1, sizeof *b->e);
    if (!b->e)
        return -1;
    b->cap = cap ? cap : 1;
    return 0;
}

void rmig_batch_free(rmig_batch *b)
{
    free(b->e);
    rmig_arena_free(&b->arena);
    memset(b, 0, sizeof *b);
}

void rmig_batch_reset(rmig_batch *b)
{
    b->n = 0;
    b->dropped = 0;
    rmig_arena_reset(&b->arena);
}

rmig_entry *rmig_batch_add(rmig_batch *b)
{
    if (b->n == b->cap)
        return NULL;
    rmig_entry *e = &b->e[b->n++];
    memset(e, 0, sizeof *e);
    e->kind = RMIG_ENTRY_KEY;
    e->expire_ms = -1;
    e->idle_s = -1;
    e->freq = -1;
    return e;
}

/* n bytes of arena, contiguous; NULL when out of memory. */
static uint8_t *arena_alloc(rmig_batch *b, size_t n) { return rmig_arena_alloc(&b->arena, n, BLOCK_MIN, 0); }

const uint8_t *rmig_batch_copy(rmig_batch *b, const void *p, size_t n)
{
    uint8_t *dst = arena_alloc(b, n);
    if (dst && n)
        memcpy(dst, p, n);
    return dst;
}

/* Arrays of slices and indexes want 8-byte alignment in the arena. */
static void *arena_copy_aligned(rmig_batch *b, const void *p, size_t n)
{
    uint8_t *dst = rmig_arena_alloc(&b->arena, n, BLOCK_MIN, 1);
    if (dst && n)
        memcpy(dst, p, n);
    return dst;
}

int rmig_batch_set_argv(rmig_batch *b, rmig_entry *e, const rmig_slice *argv, uint32_t argc, const uint32_t *keys,
                        uint32_t nkeys)
{
    rmig_slice *a = arena_copy_aligned(b, argv, argc * sizeof *argv);
    uint32_t *k = nkeys ? arena_copy_aligned(b, keys, nkeys * sizeof *keys) : NULL;
    if (!a || (nkeys && !k))
        return -1;
    e->argv = a;
    e->argc = argc;
    e->keys = k;
    e->nkeys = nkeys;
    e->key = nkeys ? a[k[0]].p : NULL;
    e->key_len = nkeys ? (uint32_t)a[k[0]].n : 0;
    e->flags |= RMIG_ENTRY_CHANGED;
    return 0;
}

int rmig_batch_set_key_at(rmig_batch *b, rmig_entry *e, uint32_t i, const void *s, size_t n)
{
    if (e->kind != RMIG_ENTRY_CMD || i >= e->nkeys)
        return -1;
    const uint8_t *k = rmig_batch_copy(b, s, n);
    rmig_slice small[16], *a = e->argc <= 16 ? small : malloc(e->argc * sizeof *a);
    if (!k || !a)
        return -2;
    memcpy(a, e->argv, e->argc * sizeof *a);
    a[e->keys[i]] = (rmig_slice){k, n};
    int rc = rmig_batch_set_argv(b, e, a, e->argc, e->keys, e->nkeys);
    if (a != small)
        free(a);
    return rc < 0 ? -2 : 0;
}

int rmig_batch_set_key(rmig_batch *b, rmig_entry *e, const void *s, size_t n)
{
    const uint8_t *k = rmig_batch_copy(b, s, n);
    if (!k)
        return -1;
    if (e->kind == RMIG_ENTRY_CMD && e->nkeys) {
        /* a command's first key is renamed in its arguments too */
        rmig_slice small[16], *a = e->argc <= 16 ? small : malloc(e->argc * sizeof *a);
        if (!a)
            return -1;
        memcpy(a, e->argv, e->argc * sizeof *a);
        a[e->keys[0]] = (rmig_slice){k, n};
        int rc = rmig_batch_set_argv(b, e, a, e->argc, e->keys, e->nkeys);
        if (a != small)
            free(a);
        return rc;
    }
    e->key = k;
    e->key_len = (uint32_t)n;
    e->flags |= RMIG_ENTRY_CHANGED;
    return 0;
}

rmig_entry *rmig_batch_emit(rmig_batch *b, const rmig_entry *src, uint32_t node)
{
    rmig_entry *e = rmig_batch_add(b);
    if (!e)
        return NULL;
    if (src) {
        *e = *src;
        e->flags &= ~(uint32_t)(RMIG_ENTRY_DROPPED | RMIG_ENTRY_STREAMED);
        e->dropped_by = 0;
    }
    e->flags |= RMIG_ENTRY_CHANGED;
    e->from_node = node;
    return e;
}

int rmig_batch_set_string(rmig_batch *b, rmig_entry *e, const void *s, size_t n)
{
    /* an RDB string: its length (6-, 14- or 32-bit form), then the bytes */
    uint8_t h[5];
    size_t hl;
    if (n < 64) {
        h[0] = (uint8_t)n, hl = 1;
    } else if (n < 16384) {
        h[0] = (uint8_t)(0x40 | (n >> 8)), h[1] = (uint8_t)n, hl = 2;
    } else if (n <= UINT32_MAX) {
        h[0] = 0x80, h[1] = (uint8_t)(n >> 24), h[2] = (uint8_t)(n >> 16), h[3] = (uint8_t)(n >> 8), h[4] = (uint8_t)n;
        hl = 5;
    } else {
        return -1;
    }
    uint8_t *v = arena_alloc(b, hl + n);
    if (!v)
        return -1;
    memcpy(v, h, hl);
    if (n)
        memcpy(v + hl, s, n);
    e->value = v;
    e->value_len = hl + n;
    e->rdb_type = 0;
    e->type = 0;
    if (e->rdb_version <= 0)
        e->rdb_version = 6; /* any DUMP version a Redis of 2.6 or later takes */
    e->idle_s = -1;
    e->freq = -1;
    e->flags |= RMIG_ENTRY_CHANGED;
    return 0;
}

void rmig_batch_drop(rmig_batch *b, rmig_entry *e, uint32_t node)
{
    if (e->flags & RMIG_ENTRY_DROPPED)
        return;
    e->flags |= RMIG_ENTRY_DROPPED;
    e->dropped_by = node;
    b->dropped++;
}
