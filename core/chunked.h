/* chunked.h - one key's raw RDB value as native commands, fed in pieces.
 *
 * RESTORE needs a value whole, so a value bigger than sink.chunk_bytes
 * cannot go that way without holding it all; and an older target cannot
 * take a newer file's payloads at all. Both write the key as native
 * commands instead (native.c): the raw value is fed here piece by piece as
 * the source reads it, decoded by a parser of its own (as a one-key RDB
 * stream: header, SELECTDB, expiry, type, name, value), and each complete
 * element becomes part of a command at once. Memory stays bounded by the
 * parser's window plus one element, however big the key. */
#ifndef RMIG_CHUNKED_H
#define RMIG_CHUNKED_H

#include "batch.h"
#include "out.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rmig_chunked rmig_chunked;

/* For entry e (its name, db, expiry, RDB type and version; e->value is not
 * read), writing into o, which already runs in e->db. NULL when out of
 * memory. */
rmig_chunked *rmig_chunked_new(const rmig_entry *e, rmig_out *o);
/* The next n bytes of the raw value. 0, or -1 with a message (a value that
 * does not decode, a module value). */
int rmig_chunked_feed(rmig_chunked *k, const void *p, size_t n, char *err, size_t errlen);
/* After the last byte. 0 or -1 as for feed. */
int rmig_chunked_finish(rmig_chunked *k, char *err, size_t errlen);
/* Commands written so far. */
uint64_t rmig_chunked_commands(const rmig_chunked *k);
void rmig_chunked_free(rmig_chunked *k);
/* Hashes as HMSET (rmig_native_hmset): for a target before Redis 4.0. */
void rmig_chunked_hmset(rmig_chunked *k);

#endif
