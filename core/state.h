/* state.h - the state file of a live run: where the stream was applied up
 * to (replication id, offset, the source's db there), so that a later run
 * resumes with PSYNC replid offset+1. One small JSON object, written
 * atomically (a temporary file, fsync, rename): a crash leaves the old
 * state or the new one, never half of one. */
#ifndef RMIG_STATE_H
#define RMIG_STATE_H

#include <stddef.h>
#include <stdint.h>

typedef struct rmig_state {
    char replid[41];   /* 40 hex digits */
    int64_t offset;    /* of the last byte applied */
    uint64_t db;
} rmig_state;

/* 0, or -1 with err (naming the file and the system's reason). `source`
 * ("host:port") is written for people reading the file. */
int rmig_state_save(const char *path, const rmig_state *st, const char *source, char *err, size_t errlen);
/* 1 read, 0 no such file, -1 unreadable or not a state file (err says
 * which, and what to do). */
int rmig_state_load(const char *path, rmig_state *st, char *err, size_t errlen);

#endif
