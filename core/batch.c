/* batch.c - batches of entries and their arena (see batch.h).
 *
 * The arena is a chain of blocks: each block starts with a pointer to the
 * previous one, then bytes. A copy that does not fit starts a new block
 * (at least 64 KiB, or the copy's size), so pointers handed out earlier
 * never move. A reset keeps the newest block and frees the rest. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_MIN ((size_t)64 << 10)
#define HEADER sizeof(uint8_t *)

int rmig_batch_init(rmig_batch *b, uint32_t cap)
{
    memset(b, 0, sizeof *b);
    b->e = calloc(cap ? cap : 1, sizeof *b->e);
    if (!b->e)
        return -1;
    b->cap = cap ? cap : 1;
    return 0;
}

static void free_blocks(uint8_t *block, int keep_newest)
{
    uint8_t *prev;
    if (!block)
        return;
    memcpy(&prev, block, HEADER);
    if (keep_newest) {
        uint8_t *none = NULL;
        memcpy(block, &none, HEADER);
    } else {
        free(block);
    }
    while (prev) {
        uint8_t *p;
        memcpy(&p, prev, HEADER);
        free(prev);
        prev = p;
    }
}

void rmig_batch_free(rmig_batch *b)
{
    free(b->e);
    free_blocks(b->arena, 0);
    memset(b, 0, sizeof *b);
}

void rmig_batch_reset(rmig_batch *b)
{
    b->n = 0;
    b->dropped = 0;
    free_blocks(b->arena, 1);
    b->arena_len = b->arena ? HEADER : 0;
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

const uint8_t *rmig_batch_copy(rmig_batch *b, const void *p, size_t n)
{
    if (!b->arena || b->arena_cap - b->arena_len < n) {
        size_t cap = n + HEADER > BLOCK_MIN ? n + HEADER : BLOCK_MIN;
        uint8_t *block = malloc(cap);
        if (!block)
            return NULL;
        memcpy(block, &b->arena, HEADER); /* chain the previous block */
        b->arena = block;
        b->arena_cap = cap;
        b->arena_len = HEADER;
    }
    uint8_t *dst = b->arena + b->arena_len;
    if (n)
        memcpy(dst, p, n);
    b->arena_len += n;
    return dst;
}

int rmig_batch_set_key(rmig_batch *b, rmig_entry *e, const void *s, size_t n)
{
    const uint8_t *k = rmig_batch_copy(b, s, n);
    if (!k)
        return -1;
    e->key = k;
    e->key_len = (uint32_t)n;
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
