/* stats.h - what `rmig inspect --stats` reports about a dump.
 *
 * Fed one call per key, it keeps: keys per database and per type, serialized
 * bytes per type, keys with a TTL (and how many are already expired), the N
 * biggest keys by serialized size and by element count, and bytes by key
 * prefix. Its memory is bounded whatever the dump holds: the biggest-key lists
 * hold N entries, and the prefix table at most max_prefixes prefixes (keys
 * whose prefix does not fit are counted together as "(other prefixes)"). */
#ifndef RMIG_STATS_H
#define RMIG_STATS_H

#include "out.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rmig_stats rmig_stats;

typedef struct rmig_stats_opts {
    int top;              /* biggest keys to keep (default 20) */
    char sep;             /* prefix separator (default ':') */
    int depth;            /* separators a prefix spans (default 1) */
    size_t max_prefixes;  /* distinct prefixes tracked (default 10000) */
    int64_t now_ms;       /* "now" for expired keys (default: the clock) */
} rmig_stats_opts;

rmig_stats *rmig_stats_new(const rmig_stats_opts *opts);
void rmig_stats_free(rmig_stats *s);

/* One key: its db, name, kind (enum rmig_rdb_kind), serialized size (value
 * bytes without the type byte), element count and expiry (-1 none). */
void rmig_stats_key(rmig_stats *s, uint64_t db, const uint8_t *key, size_t key_len, int kind,
                    uint64_t raw_len, uint64_t elements, int64_t expire_ms);

/* Notes the file's version and size for the report. */
void rmig_stats_file(rmig_stats *s, const char *name, int version, uint64_t bytes);

void rmig_stats_print_text(const rmig_stats *s, rmig_out *o);
void rmig_stats_print_json(const rmig_stats *s, rmig_out *o);

#endif
