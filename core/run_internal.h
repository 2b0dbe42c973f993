/* run_internal.h - what the parts of `rmig run` share: the runner's state
 * (run.c: reading, replies, the command; run_big.c: values too big to hold). */
#ifndef RMIG_RUN_INTERNAL_H
#define RMIG_RUN_INTERNAL_H

#include "batch.h"
#include "chunked.h"
#include "dump.h"
#include "input.h"
#include "progress.h"
#include "rdb.h"
#include "redis_conn.h"
#include "steps.h"
#include "vm.h"

#include <lua.h>

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#define BATCH_KEYS 1024
#define BATCH_BYTES ((size_t)8 << 20)
#define CHUNK ((size_t)1 << 20)
#define TAG_FUNCTION (UINT64_MAX - 2)
#define BIG_SLICE ((size_t)64 << 10)
#define MAX_SHOWN 20
/* Strings up to this size go as SET: Redis keeps them in one allocation
 * (embstr) and SET costs it less than RESTORE; longer ones cost it more
 * (dataset b: 3.4 us a SET against about 2.6 us a RESTORE) */
#define SET_MAX 44

typedef struct keyrec {
    uint64_t db;
    char key[80];          /* the key; for a command, its name and first key */
    uint32_t key_len;
    int unit;              /* one of a key's native commands: counted per key */
    int cmd;               /* a command of a live stream: any reply but an error is fine (1); with
                              exactly_once the EXEC of a batch (2), rmig's MULTI and checkpoint (3) */
    /* live sources: once this is answered, the stream is applied up to
     * offset (> 0), where the source's db was sdb */
    int64_t offset;
    uint64_t sdb;
} keyrec;

typedef struct rmig_live rmig_live;

typedef struct runner {
    uv_loop_t loop;
    uv_idle_t idle;
    rmig_vm *vm;
    rmig_steps *steps;
    rmig_redis *c;
    int ready, failed, eof, idle_on, native, mode_replace, skip_existing;
    int optimistic;        /* replace mode into an empty target: RESTORE without REPLACE,
                              re-sent with REPLACE on BUSYKEY (REPLACE costs the target ~16 %) */
    int source_version, target_version;
    char err[1024];
    rmig_input *in;
    rmig_rdb *p;
    rmig_batch b;
    rmig_out value;        /* the current key's raw value */
    /* a value bigger than chunk_bytes: written as native commands while it
     * is read (chunked.h), or skipped when a node dropped it */
    size_t chunk_bytes;
    rmig_entry cur;        /* the current key, from its KEY event */
    rmig_out cur_key;
    rmig_chunked *big;
    const uint8_t *pend;   /* the big key's bytes not fed yet: of the held value, or of the last RAW event */
    size_t pend_n;
    int big_dropped;
    uint64_t streamed, reconnects, torn, sets, emitted;
    uint64_t cur_off;      /* where the current key's record starts in the file */
    /* a big value streamed as one RESTORE (its length read ahead) */
    int big_restore;
    rmig_dump dump;
    uint64_t big_len, big_sent;
    uint64_t restored_big;
    int use_set, pxat;     /* strings as SET (restore = "auto"); the target knows SET ... PXAT (6.2+) */
    uint64_t read, written, failed_keys, skipped, dropped, replies, tag, resent;
    /* one record per key command in flight, in sending order (the order of
     * the replies): a queue, not a table indexed by tag, because a batch
     * or a big key may overshoot the window */
    keyrec *recs;
    size_t rec_head, rec_len, rec_cap;
    uint64_t window;
    uint64_t start_ns, bytes_in, bytes_total;
    rmig_progress progress;
    /* dead-letter file: refused commands (the connection keeps each until
     * it is answered), with SELECTs, for redis-cli --pipe */
    FILE *dl;
    uint64_t dl_db, dl_count;
    int dl_selected;
    int unit_failed;       /* native mode: the key being answered met an error */
    int abort_on_error;    /* sink.on_error = "abort" */
    uint64_t shown;        /* refused keys shown on stderr */
    int retry_deadline_s;
    /* a live source (run_live.c): the snapshot then the command stream */
    int live, rdb_done;
    const char *restore_opt, *mode_opt; /* sink.restore, sink.mode (strings of the pipeline) */
    rmig_live *lv;
    uint64_t cmds;         /* commands of a live stream applied */
} runner;

/* run.c */
void rmig__run_finish(runner *r);
void rmig__run_start_idle(runner *r);
void rmig__run_stop_idle(runner *r);
keyrec *rmig__run_rec_push(runner *r);
void rmig__run_report_key(runner *r, const keyrec *k, const char *why, int why_len);
int rmig__run_rdb_pump(runner *r);
int64_t rmig__run_now_ms(void);
void rmig__run_remember(runner *r, const rmig_entry *e, int unit);
void rmig__run_native_done(runner *r, const rmig_entry *e, uint64_t cmds);
void rmig__run_unit_answered(runner *r, uint64_t db, const char *cmd, size_t n);
int rmig__run_write_entries(runner *r, uint32_t from);
int rmig__run_flush_batch(runner *r);

/* run_big.c: the current key's value passed chunk_bytes (start), its
 * next bytes (piece), its end (end for native chunks, restore_end for a
 * streamed RESTORE). 0, or -1 with r->err. */
int rmig__run_big_start(runner *r);
int rmig__run_big_piece(runner *r, const void *p, size_t n);
int rmig__run_big_end(runner *r);
int rmig__run_big_restore_end(runner *r);

/* run_live.c: a psync source. open reads its options (the pipeline's
 * source options at index src of the Lua stack) and prepares the spool and
 * the state; start connects; idle takes what arrived; replied sees each
 * answered record; finish stops the source and saves the state; summary
 * prints its part of the report. 0, or -1 with r->err. */
int rmig__live_open(runner *r, lua_State *L, int pipe, int src, int sink);
int rmig__live_start(runner *r);
void rmig__live_idle(runner *r);
void rmig__live_replied(runner *r, const keyrec *k);
void rmig__live_commit(runner *r, int64_t offset, uint64_t sdb);
int rmig__live_write_cmd(runner *r, const rmig_entry *e);
void rmig__live_finish(runner *r);
void rmig__live_summary(runner *r);
void rmig__live_free(runner *r);

#endif
