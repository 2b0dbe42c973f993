/* filter.h - the built-in nodes, executed in C over batches: keys
 * (allow/deny globs with Redis MATCH semantics, prefixes, suffixes, regular
 * expressions), rename (prefix/suffix rewrites), db (allow list and remap),
 * type (allow/deny by kind) and ttl (drop expired or soon expiring, drop or
 * give TTLs, shift, cap). They are declared in Lua (lua/rmig/init.lua) with
 * the same options.
 *
 * A node looks at KEY and CMD entries that are not dropped yet (a command
 * is judged by all its keys: see filter.c); it counts what it saw, dropped
 * and changed. Configurations are copied at creation, so the
 * caller's strings may go away. */
#ifndef RMIG_FILTER_H
#define RMIG_FILTER_H

#include "batch.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rmig_bytes {
    const void *p;
    size_t n;
} rmig_bytes;

typedef struct rmig_list {
    const rmig_bytes *v;
    size_t n;
} rmig_list;

typedef struct rmig_filter_conf {
    int type;                    /* enum rmig_filter_type */
    /* keys: a key is kept when it matches one of allow/prefix/suffix/regex
     * (or none of those is given) and matches no deny glob */
    rmig_list allow, deny, prefix, suffix, regex;
    /* rename: the longest matching old prefix (suffix) is replaced */
    rmig_list rename_from, rename_to, suffix_from, suffix_to;
    /* db */
    const uint64_t *db_allow;
    size_t ndb_allow;
    const uint64_t *map_from, *map_to;
    size_t nmap;
    /* type: bit (1 << kind) */
    uint32_t type_allow, type_deny;
    /* ttl */
    int drop_expired, drop_without_ttl, remove_ttl;
    int64_t shift_ms, max_ms, default_ms; /* 0: not set */
    int64_t min_ms;              /* drop keys expiring sooner than this (judged before shift/cap); 0: not set */
} rmig_filter_conf;

enum rmig_filter_type {
    RMIG_FILTER_KEYS = 1,
    RMIG_FILTER_RENAME,
    RMIG_FILTER_DB,
    RMIG_FILTER_TYPE,
    RMIG_FILTER_TTL,
    RMIG_FILTER_COMMANDS, /* live streams: commands by name (allow/deny lists, any case) */
};

typedef struct rmig_filter rmig_filter;

typedef struct rmig_filter_stats {
    uint64_t seen, dropped, changed;
    uint64_t split;   /* commands cut down to their kept keys (DEL, MSET) */
    uint64_t mixed;   /* commands dropped because some of their keys were kept and some not (counted in dropped) */
} rmig_filter_stats;

/* A node from a configuration; NULL with a message in err (a regular
 * expression that does not compile, out of memory). */
rmig_filter *rmig_filter_new(const rmig_filter_conf *conf, char *err, size_t errlen);
void rmig_filter_free(rmig_filter *f);

/* Runs over a batch as node number `index` (1-based, for drop records);
 * now_ms is "now" for TTL decisions. 0, or -1 when out of memory. */
int rmig_filter_run(rmig_filter *f, uint32_t index, rmig_batch *b, int64_t now_ms);
const rmig_filter_stats *rmig_filter_stats_of(const rmig_filter *f);

#endif
