/* arena.c - a chain of blocks whose bytes never move (see arena.h). */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

#define HEADER sizeof(uint8_t *)

/* Frees the blocks behind the newest; the newest too unless keep. */
static void free_chain(uint8_t *block, int keep)
{
    if (!block)
        return;
    uint8_t *prev;
    memcpy(&prev, block, HEADER);
    if (keep) {
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

void *rmig_arena_alloc(rmig_arena *a, size_t n, size_t block_min, int align)
{
    /* (malloc's blocks are aligned, and the header is 8 bytes) */
    size_t pad = align && a->block ? (8 - ((uintptr_t)(a->block + a->len) & 7)) & 7 : 0;
    if (!a->block || a->cap - a->len < n + pad) {
        size_t cap = n + HEADER > block_min ? n + HEADER : block_min;
        uint8_t *b = malloc(cap);
        if (!b)
            return NULL;
        memcpy(b, &a->block, HEADER); /* chain the previous block */
        a->block = b;
        a->cap = cap;
        a->len = HEADER;
        pad = 0;
    }
    uint8_t *p = a->block + a->len + pad;
    a->len += pad + n;
    return p;
}

void rmig_arena_reset(rmig_arena *a)
{
    free_chain(a->block, 1);
    a->len = a->block ? HEADER : 0;
}

void rmig_arena_free(rmig_arena *a)
{
    free_chain(a->block, 0);
    memset(a, 0, sizeof *a);
}
