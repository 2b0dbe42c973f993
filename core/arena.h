/* arena.h - bytes that stay where they are until a reset: a chain of
 * blocks, each starting with a pointer to the previous one. An allocation
 * that does not fit starts a new block (at least the arena's minimum, or
 * the allocation's size), so pointers handed out earlier never move; a
 * reset keeps the newest block and frees the rest. Batches (batch.c) and
 * the Codis translator (codis_cmd.c) keep their bytes in one. */
#ifndef RMIG_ARENA_H
#define RMIG_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct rmig_arena {
    uint8_t *block;   /* the newest block (NULL before the first allocation) */
    size_t len, cap;  /* used and allocated bytes of it, its header included */
} rmig_arena;

/* n contiguous bytes (n may be 0), 8-byte aligned when align is set (a
 * new block starts aligned); NULL when out of memory. block_min is the
 * size of a new block at least. */
void *rmig_arena_alloc(rmig_arena *a, size_t n, size_t block_min, int align);
/* Keeps the newest block, emptied; frees the others. */
void rmig_arena_reset(rmig_arena *a);
void rmig_arena_free(rmig_arena *a);

#endif
