/* rdb_blob.h - iterators over Redis' encoded blobs: listpack, ziplist,
 * intset and zipmap.
 *
 * A blob is one RDB string that holds many elements in Redis' in-memory
 * encoding. The iterator walks it in place (no copies, no allocation) and
 * checks every entry against the blob's bounds, so a corrupt blob yields -1,
 * never a read outside it. Integer entries are rendered as decimal text in
 * the iterator's own buffer, so every element comes out as bytes. */
#ifndef RMIG_RDB_BLOB_H
#define RMIG_RDB_BLOB_H

#include <stddef.h>
#include <stdint.h>

enum { RMIG_BLOB_LISTPACK = 1, RMIG_BLOB_ZIPLIST, RMIG_BLOB_INTSET, RMIG_BLOB_ZIPMAP };

typedef struct rmig_blob_val {
    const uint8_t *s; /* the element's bytes (for integers: their decimal text) */
    size_t len;
    int is_int;       /* the entry was stored as an integer */
    int64_t v;        /* its value when is_int */
} rmig_blob_val;

typedef struct rmig_blob_it {
    int kind;
    const uint8_t *p;    /* next entry */
    const uint8_t *end;  /* the terminator (listpack, ziplist, zipmap) or blob end */
    uint64_t left;       /* intset: members left */
    int width;           /* intset: bytes per member */
    int zm_value;        /* zipmap: the next entry is a value */
    uint64_t count;      /* entries returned so far */
    int no_text;         /* set to skip rendering integers (when only counting) */
    char num[24];        /* decimal text of the last integer entry */
} rmig_blob_it;

/* Checks the blob's header and sets the iterator at its first entry.
 * Returns 0, or -1 when the header does not fit the blob. */
int rmig_blob_init(rmig_blob_it *it, int kind, const uint8_t *blob, size_t len);

/* The next entry: 1 with *v set, 0 at the end, -1 when the blob is corrupt.
 * v->s may point into it->num: copy it before the next call if it must live. */
int rmig_blob_next(rmig_blob_it *it, rmig_blob_val *v);

/* An entry as a signed integer (stored as one, or as canonical decimal text);
 * returns 0, or -1 when it is not an integer. */
int rmig_blob_int(const rmig_blob_val *v, int64_t *out);

/* Writes the decimal form of v into buf (at least 21 bytes); returns its length. */
size_t rmig_fmt_i64(char *buf, int64_t v);
size_t rmig_fmt_u64(char *buf, uint64_t v);

#endif
