/* inspect.h - `rmig inspect`: an RDB file as JSON lines, statistics, DUMP
 * payloads or a bare count. */
#ifndef RMIG_INSPECT_H
#define RMIG_INSPECT_H

#include "out.h"
#include "rdb.h"

#include <stdio.h>

/* The JSON-lines writer (inspect_json.c): feed it every event of a file. */
typedef struct rmig_jw {
    rmig_out *o;
    uint64_t n, n2;      /* elements written in the open array and in the inner one */
    int st;              /* stream nesting flags */
    uint8_t *acc;        /* a string arriving in pieces */
    size_t acc_len, acc_cap;
    uint8_t *lastf;      /* the last hash field, for its TTL */
    size_t lastf_len, lastf_cap;
    rmig_out ttl;        /* "field":ms pairs of the current hash */
    uint64_t nttl;
} rmig_jw;

void rmig_jw_init(rmig_jw *w, rmig_out *o);
void rmig_jw_event(rmig_jw *w, const rmig_rdb_event *e);
void rmig_jw_free(rmig_jw *w);
/* The fields every per-key line starts with: {"db", "key", "type", "rdb_type", and
 * "expire_ms", "lru_idle_s", "lfu_freq" when the key has them (no closing brace). */
void rmig_jw_key_head(rmig_out *o, const rmig_rdb_event *e);

/* The command: argv[0] is "inspect". Returns the exit code. */
int rmig_inspect_main(int argc, char **argv);

#endif
