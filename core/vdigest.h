/* vdigest.h - a fingerprint of a value's logical content, whatever its
 * encoding, for `rmig verify`.
 *
 * A hash kept as a listpack on one server and as a hashtable on another
 * holds the same fields: their fingerprints must be equal, while their DUMP
 * payloads are not. So the fingerprint is taken from decoded elements: the
 * RDB parser's element events (of a source file's value, or of a DUMP
 * payload fed to it as a one-key stream, see rmig_vdigest_payload), or
 * elements read from a server one by one (HSCAN, LRANGE ...). Lists and
 * streams are ordered; the members of sets, zsets and hashes are combined
 * in any order (XOR of per-element hashes, as Redis' own DEBUG DIGEST does),
 * so a value read in pieces in any order gives the same fingerprint.
 * Strings may arrive in pieces: the hash does not depend on where they are
 * cut. 128 bits: two 64-bit lanes with different seeds.
 *
 * A zset member's score is compared as a double (text scores in listpacks
 * and ZSCAN's replies are converted); a stream's fingerprint covers its
 * entries, last id, first id, max-deleted id, entries-added, and its groups
 * with their last-delivered id (not entries-read, which a replica counts
 * its own way, nor PELs or consumers, which a migration by native commands
 * cannot carry). */
#ifndef RMIG_VDIGEST_H
#define RMIG_VDIGEST_H

#include "rdb.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rmig_vhash {
    uint64_t h[2];        /* the lanes */
    uint8_t buf[8];       /* bytes of an unfinished 8-byte word */
    unsigned bl;
    uint64_t len;
} rmig_vhash;

typedef struct rmig_vdigest {
    int kind;             /* enum rmig_rdb_kind, -1 before the first element */
    uint64_t count;       /* elements (a string: its length) */
    uint64_t acc[2];      /* the combination so far */
    rmig_vhash el;        /* the element being hashed (a member with its score, a field with its value) */
    int in_el;
} rmig_vdigest;

void rmig_vdigest_init(rmig_vdigest *d, int kind);
/* One parser event of the value (STR, SCORE, FIELD_TTL, STREAM_*; others
 * are ignored). */
void rmig_vdigest_event(rmig_vdigest *d, const rmig_rdb_event *ev);
/* Elements read from a server: a string's bytes (in pieces, in order), a
 * list item, a set member, a zset member and its score, a hash field and
 * its value. */
void rmig_vdigest_string(rmig_vdigest *d, const void *p, size_t n);
void rmig_vdigest_item(rmig_vdigest *d, const void *p, size_t n);
void rmig_vdigest_member(rmig_vdigest *d, const void *p, size_t n);
void rmig_vdigest_zmember(rmig_vdigest *d, const void *p, size_t n, double score);
void rmig_vdigest_field(rmig_vdigest *d, const void *f, size_t fn, const void *v, size_t vn);
/* A zset member with its score as a server writes it (ZRANGE ...
 * WITHSCORES, ZSCAN: text that reads back as the same double). */
void rmig_vdigest_zmember_text(rmig_vdigest *d, const void *p, size_t n, const char *score, size_t slen);
/* The fingerprint: 16 bytes. */
void rmig_vdigest_final(const rmig_vdigest *d, uint8_t out[16]);

/* The fingerprint of a whole DUMP-style value: the raw serialized value
 * (type byte rdb_type, no footer) of RDB version `version`, decoded by a
 * parser of its own. 0, or -1 with err (a value that does not decode). */
int rmig_vdigest_payload(int rdb_type, int version, const uint8_t *raw, size_t n, rmig_vdigest *d, char *err,
                         size_t errlen);

/* A parser fed the start of a one-key stream (header, type, an empty
 * name): the value's raw bytes go in next, and its element events come out
 * (for a value fed in pieces). NULL when out of memory. */
rmig_rdb *rmig_vdigest_parser(int rdb_type, int version);

/* The same, with parsers kept from one value to the next (one per RDB
 * version met): what `rmig verify` uses for every key, as a parser's
 * set-up costs more than a small value's decoding. */
typedef struct rmig_vdigester rmig_vdigester;
rmig_vdigester *rmig_vdigester_new(void);
void rmig_vdigester_free(rmig_vdigester *g);
int rmig_vdigester_payload(rmig_vdigester *g, int rdb_type, int version, const uint8_t *raw, size_t n,
                           rmig_vdigest *d, char *err, size_t errlen);

/* A 64-bit hash of bytes (the key hashes of verify's sorted runs). */
uint64_t rmig_vhash64(const void *p, size_t n, uint64_t seed);

#endif
