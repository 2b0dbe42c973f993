/* native.h - a dump as native Redis commands (SET, RPUSH, SADD, ZADD, HSET,
 * XADD, XGROUP, XCLAIM, PEXPIREAT, ...), for targets that cannot RESTORE the
 * dump's payloads (an older Redis than the one that saved the file).
 *
 * Fed the parser's decoded events (RMIG_RDB_ELEMENTS), it writes RESP
 * commands to an rmig_out: for each key a DEL (so the key is replaced, as
 * RESTORE ... REPLACE would), then the elements in commands of at most
 * `batch` elements, then PEXPIREAT when the key has an expiry. Elements that
 * arrive in pieces are streamed into single-element commands, so memory stays
 * bounded by a batch plus one whole zset member or hash field; a stream's
 * consumer-group PEL is held per group until its consumers claim it.
 * Module values cannot be written natively: they are counted and reported. */
#ifndef RMIG_NATIVE_H
#define RMIG_NATIVE_H

#include "out.h"
#include "rdb.h"

#include <stdint.h>

typedef struct rmig_native rmig_native;

/* batch: elements per command (default 512). */
rmig_native *rmig_native_new(rmig_out *o, int batch);
void rmig_native_free(rmig_native *n);

/* The output already runs in db (its writer SELECTs): no SELECT until the
 * keys move to another db. */
void rmig_native_in_db(rmig_native *n, uint64_t db);
/* Hashes as HMSET: a target before Redis 4.0 (a codis-server, say) takes
 * one field per HSET. */
void rmig_native_hmset(rmig_native *n);

/* Feeds one parser event; returns 0, or -1 when the key cannot be written
 * natively (module values), with a message from rmig_native_error. */
int rmig_native_event(rmig_native *n, const rmig_rdb_event *e);
const char *rmig_native_error(const rmig_native *n);

/* Commands written so far. */
uint64_t rmig_native_commands(const rmig_native *n);

#endif
