/* batch.h - entries and batches: what flows through a pipeline.
 *
 * An entry is one unit of data (DESIGN.md §2): a KEY from a snapshot (its
 * db, name, type, expiry and raw serialized value), a CMD from a live stream,
 * or META. A batch is an array of entries plus one arena for bytes that
 * nodes rewrite (a renamed key lives there). Nodes work on whole batches:
 * C nodes in a loop, Lua nodes through FFI views of these same structs, one
 * crossing into Lua per batch.
 *
 * This header is cdef-clean on purpose (plain structs, enums, no macros):
 * the Lua side declares the same structs with ffi.cdef. Ownership: the
 * batch owns its arrays and arena; key and value pointers point into the
 * arena or into the source's buffer, valid until rmig_batch_reset. */
#ifndef RMIG_BATCH_H
#define RMIG_BATCH_H

#include "arena.h"

#include <stddef.h>
#include <stdint.h>

enum rmig_entry_kind { RMIG_ENTRY_KEY = 1, RMIG_ENTRY_CMD = 2, RMIG_ENTRY_META = 3 };

enum rmig_entry_flag {
    RMIG_ENTRY_DROPPED = 1,  /* a node dropped it: it goes no further */
    RMIG_ENTRY_CHANGED = 2,  /* a node changed its name, db or expiry */
    RMIG_ENTRY_STREAMED = 4, /* its value is too big for the batch: the sink reads it from the source */
};

/* One argument of a command: bytes in the source's buffer or the arena. */
typedef struct rmig_slice {
    const uint8_t *p;
    uint64_t n;
} rmig_slice;

typedef struct rmig_entry {
    int32_t kind;           /* enum rmig_entry_kind */
    uint32_t flags;         /* enum rmig_entry_flag bits */
    uint64_t db;
    const uint8_t *key;
    uint32_t key_len;
    int32_t type;           /* enum rmig_rdb_kind: string, list, ... */
    int32_t rdb_type;       /* the RDB type byte of the value */
    int32_t rdb_version;    /* RDB version the value is serialized in */
    int64_t expire_ms;      /* absolute unix ms, -1 for none */
    int64_t idle_s;         /* -1 when absent */
    int32_t freq;           /* -1 when absent */
    uint32_t dropped_by;    /* 1-based index of the node that dropped it, 0 if none */
    const uint8_t *value;   /* raw serialized value (no type byte, no footer) */
    uint64_t value_len;
    uint32_t from_node;     /* 1-based index of the node that emitted it (0: the source); it goes
                               only through the nodes after that one */
    /* CMD entries: the command's arguments (argv[0] is its name), the
     * indexes of its key arguments (key/key_len above are the first one),
     * for a command that may be split per key the arguments per key (1 for
     * DEL, 2 for MSET; else 0), and the replication offset it ends at */
    uint32_t argc;
    uint32_t nkeys;
    const rmig_slice *argv;
    const uint32_t *keys;
    uint32_t split_group;
    uint32_t cmd_flags;     /* enum rmig_cmd_flag (cmdtable.h) */
    int64_t offset;         /* > 0: where the stream may resume once this is applied (not inside MULTI) */
    uint64_t stream_db;     /* the source's db there (before any db node) */
} rmig_entry;

typedef struct rmig_batch {
    rmig_entry *e;
    uint32_t n, cap;
    rmig_arena arena;       /* bytes of keys, values and arguments the batch owns */
    uint64_t dropped;       /* entries dropped so far in this batch */
} rmig_batch;

/* Initializes an empty batch with room for cap entries. 0, or -1 (memory). */
int rmig_batch_init(rmig_batch *b, uint32_t cap);
void rmig_batch_free(rmig_batch *b);
/* Empties it for reuse (entries, arena). */
void rmig_batch_reset(rmig_batch *b);
/* A new zeroed entry at the end (kind KEY, no expiry), or NULL when full. */
rmig_entry *rmig_batch_add(rmig_batch *b);
/* Copies n bytes into the arena; NULL when out of memory. The arena grows by
 * adding blocks, never by moving one, so earlier copies stay valid until the
 * batch is reset. */
const uint8_t *rmig_batch_copy(rmig_batch *b, const void *p, size_t n);

/* The entry's name becomes s (copied into the arena); marks it changed.
 * 0, or -1 (memory). */
int rmig_batch_set_key(rmig_batch *b, rmig_entry *e, const void *s, size_t n);
/* A new entry emitted by node `node` (1-based): a copy of src (its value,
 * type, name, db and expiry), or, with src NULL, an empty string entry to
 * fill with rmig_batch_set_string. NULL when the batch is full (callers keep
 * room for emitted entries: see run.c). */
rmig_entry *rmig_batch_emit(rmig_batch *b, const rmig_entry *src, uint32_t node);
/* The entry's value becomes the string s, as an RDB string (type string). */
int rmig_batch_set_string(rmig_batch *b, rmig_entry *e, const void *s, size_t n);

/* A CMD entry's arguments become argv[0..argc) with keys at keys[0..nkeys)
 * (both copied into the arena, the bytes they point to are not); marks it
 * changed. 0, or -1 (memory). */
int rmig_batch_set_argv(rmig_batch *b, rmig_entry *e, const rmig_slice *argv, uint32_t argc, const uint32_t *keys,
                        uint32_t nkeys);

/* A CMD entry's key number i (0-based, of nkeys) becomes s, in its
 * arguments. 0, -1 (not a command, or no such key), -2 (memory). */
int rmig_batch_set_key_at(rmig_batch *b, rmig_entry *e, uint32_t i, const void *s, size_t n);

/* Marks an entry dropped by node `node` (1-based). */
void rmig_batch_drop(rmig_batch *b, rmig_entry *e, uint32_t node);

#endif
