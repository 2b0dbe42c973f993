/* run.c - `rmig run PIPELINE.lua`: an RDB file through the pipeline's nodes
 * into a Redis server.
 *
 * One libuv loop. An idle handle reads the RDB (RMIG_RDB_RAW), gathers keys
 * into a batch (name and raw value copied into the batch arena), runs the
 * nodes over it in order (built-in ones in C, consecutive Lua ones in one
 * call), and writes every kept entry to the target: RESTORE ... ABSTTL with
 * the raw value and a DUMP footer, or, when the target's RDB version is
 * older than the file's (or restore = "never"), native commands made by
 * decoding the value again (native.c). The idle handle stops while the
 * connection's window is full and starts again as replies free it. Every
 * reply is counted; an error reply is reported with its key and db.
 *
 * Plain strings go as SET key value [PXAT] (cheaper for the target). Values
 * bigger than sink.chunk_bytes are never held whole (run_big.c).
 *
 * The connection keeps every command until it is answered (redis_conn.h):
 * a lost connection is opened again and the unanswered commands sent again
 * (a native key's commands as one unit, from its DEL), until
 * sink.retry_deadline_s; refused commands go to sink.dead_letter, a file
 * redis-cli --pipe can replay (a native key as its whole unit). */
#include "run.h"
#include "run_internal.h"

#include "batch.h"
#include "chunked.h"
#include "cmdtable.h"
#include "codis.h"
#include "dump.h"
#include "input.h"
#include "progress.h"
#include "rdb.h"
#include "redis_conn.h"
#include "resp.h"
#include "steps.h"
#include "target.h"
#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] = "usage: rmig run PIPELINE.lua [--verify] [-s path=value]...\n"
                            "Runs the pipeline: reads its source, applies its nodes, writes its sink.\n"
                            "  --verify  then checks the target as rmig verify does (a live run: once it has caught up,\n"
                            "            beside it); the pipeline's verify = true does the same\n";

static int verify_flag; /* rmig run --verify */


/* A refused command (or a native key's whole unit) into the dead-letter
 * file, after a SELECT of its db when that changes, for redis-cli --pipe. */
void rmig__run_dead_letter(runner *r, uint64_t db, const char *p, size_t n)
{
    if (!r->dl || !p)
        return;
    if (!r->dl_selected || r->dl_db != db) {
        char sel[64];
        int k = snprintf(sel, sizeof sel, "*2\r\n$6\r\nSELECT\r\n$%d\r\n%llu\r\n",
                         snprintf(NULL, 0, "%llu", (unsigned long long)db), (unsigned long long)db);
        fwrite(sel, 1, (size_t)k, r->dl);
        r->dl_db = db;
        r->dl_selected = 1;
    }
    fwrite(p, 1, n, r->dl);
    r->dl_count++;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int64_t rmig__run_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- writing ---- */

void rmig__run_stop_idle(runner *r)
{
    if (r->idle_on) {
        uv_idle_stop(&r->idle);
        r->idle_on = 0;
    }
}


void rmig__run_use(runner *r, wconn *w)
{
    r->cw = w;
    r->c = w->c;
}

int rmig__run_room(const runner *r)
{
    return r->clus ? rmig__cluster_room(r) : rmig_redis_room(r->c);
}

uint64_t rmig__run_pending(const runner *r)
{
    return r->clus ? rmig__cluster_pending(r) : rmig_redis_pending(r->w0.c);
}


void rmig__run_remember(runner *r, const rmig_entry *e, int unit)
{
    keyrec *k = rmig__run_rec_push(r);
    if (!k) {
        snprintf(r->err, sizeof r->err, "out of memory");
        r->failed = 1;
        return;
    }
    k->unit = unit;
    k->db = e->db;
    k->key_len = e->key_len < sizeof k->key ? e->key_len : (uint32_t)sizeof k->key;
    memcpy(k->key, e->key, k->key_len);
}

/* A string value's bytes when its RDB encoding is plain or an integer (an
 * LZF-compressed one stays a RESTORE: smaller on the wire). 1, or 0. */
static int plain_string(const rmig_entry *e, const uint8_t **s, size_t *n, char *ibuf, size_t icap)
{
    const uint8_t *v = e->value;
    size_t len = e->value_len, hdr, sz;
    if (e->rdb_type != 0 || len < 1)
        return 0;
    switch (v[0] >> 6) {
    case 0:
        hdr = 1, sz = v[0] & 0x3f;
        break;
    case 1:
        if (len < 2)
            return 0;
        hdr = 2, sz = ((size_t)(v[0] & 0x3f) << 8) | v[1];
        break;
    case 2:
        if (v[0] != 0x80 || len < 5)
            return 0;
        hdr = 5, sz = ((size_t)v[1] << 24) | ((size_t)v[2] << 16) | ((size_t)v[3] << 8) | v[4];
        break;
    default: {
        int64_t x;
        if (v[0] == 0xc0 && len == 2)
            x = (int8_t)v[1];
        else if (v[0] == 0xc1 && len == 3)
            x = (int16_t)(v[1] | (v[2] << 8));
        else if (v[0] == 0xc2 && len == 5)
            x = (int32_t)((uint32_t)v[1] | ((uint32_t)v[2] << 8) | ((uint32_t)v[3] << 16) | ((uint32_t)v[4] << 24));
        else
            return 0;
        *n = (size_t)snprintf(ibuf, icap, "%lld", (long long)x);
        *s = (const uint8_t *)ibuf;
        return 1;
    }
    }
    if (hdr + sz != len)
        return 0;
    *s = v + hdr;
    *n = sz;
    return 1;
}

/* A string as SET key value [PXAT ms] [NX]: less work for the target than
 * RESTORE (no payload check, no CRC). Only where nothing would be lost: no
 * LRU/LFU hints to carry, and PXAT known to the target when needed. */
static int write_set(runner *r, const rmig_entry *e)
{
    const uint8_t *s;
    size_t n;
    char ibuf[32];
    if (!r->use_set || e->idle_s >= 0 || e->freq >= 0 || (e->expire_ms >= 0 && !r->pxat) ||
        !plain_string(e, &s, &n, ibuf, sizeof ibuf) || n > SET_MAX)
        return 0;
    rmig_redis_select(r->c, e->db);
    rmig_out *o = rmig_redis_out(r->c);
    int nx = !r->mode_replace;
    rmig_resp_array(o, 3 + (e->expire_ms >= 0 ? 2 : 0) + (size_t)nx);
    rmig_resp_bulk_str(o, "SET");
    rmig_resp_bulk(o, e->key, e->key_len);
    rmig_resp_bulk(o, s, n);
    if (e->expire_ms >= 0) {
        rmig_resp_bulk_str(o, "PXAT");
        rmig_resp_bulk_i64(o, e->expire_ms);
    }
    if (nx)
        rmig_resp_bulk_str(o, "NX");
    rmig__run_remember(r, e, 0);
    r->sets++;
    rmig_redis_done(r->c, r->tag++);
    return 1;
}

static void write_restore(runner *r, const rmig_entry *e)
{
    if (write_set(r, e))
        return;
    rmig_redis_select(r->c, e->db);
    rmig_out *o = rmig_redis_out(r->c);
    int abs = e->expire_ms >= 0;
    int replace = r->mode_replace && !r->optimistic;
    if (r->slotsrestore) {
        rmig_resp_slotsrestore_head(o, e->key, e->key_len, e->expire_ms, rmig__run_now_ms());
    } else {
        rmig_resp_array(o, 4 + rmig_resp_restore_optc(replace, e->expire_ms, e->idle_s, e->freq));
        rmig_resp_bulk_str(o, "RESTORE");
        rmig_resp_bulk(o, e->key, e->key_len);
        rmig_resp_bulk_i64(o, abs ? e->expire_ms : 0);
    }
    rmig_dump d;
    uint8_t t = (uint8_t)e->rdb_type, f[RMIG_DUMP_FOOTER];
    rmig_dump_begin(&d, e->rdb_type);
    rmig_dump_add(&d, e->value, e->value_len);
    rmig_dump_end(&d, e->rdb_version, f);
    rmig_resp_bulk_begin(o, 1 + e->value_len + RMIG_DUMP_FOOTER);
    rmig_out_mem(o, &t, 1);
    rmig_out_mem(o, e->value, e->value_len);
    rmig_out_mem(o, f, sizeof f);
    rmig_resp_bulk_end(o);
    if (!r->slotsrestore)
        rmig_resp_restore_opts(o, replace, e->expire_ms, e->idle_s, e->freq);
    rmig__run_remember(r, e, 0);
    rmig_redis_done(r->c, r->tag++);
}

/* Native commands for the commands chunked.c wrote since `before`. */
void rmig__run_native_done(runner *r, const rmig_entry *e, uint64_t cmds)
{
    for (uint64_t i = 0; i < cmds; i++) {
        rmig__run_remember(r, e, 1);
        rmig_redis_done(r->c, r->tag++);
    }
}

/* Native mode: the key's commands (DEL, elements, PEXPIREAT) form one unit:
 * after a lost connection they are sent again from its DEL on, and refused,
 * they go to the dead letters together. */
static int write_native(runner *r, const rmig_entry *e)
{
    rmig_redis_unit_begin(r->c);
    rmig_redis_select(r->c, e->db);
    rmig_chunked *k = rmig_chunked_new(e, rmig_redis_out(r->c));
    if (!k) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    if (r->target_version && r->target_version < 8)
        rmig_chunked_hmset(k); /* (before Redis 4.0: one field per HSET) */
    int rc = rmig_chunked_feed(k, e->value, e->value_len, r->err, sizeof r->err);
    if (rc == 0)
        rc = rmig_chunked_finish(k, r->err, sizeof r->err);
    if (rc == 0)
        rmig__run_native_done(r, e, rmig_chunked_commands(k));
    rmig_chunked_free(k);
    if (!rmig_redis_unit_end(r->c) && rc == 0)
        rmig__run_unit_answered(r, e->db, NULL, 0);
    return rc;
}

/* The batch's entries from `from` on, after the nodes ran, to the target
 * (or counted as dropped). */
int rmig__run_write_entries(runner *r, uint32_t from)
{
    for (uint32_t i = from; i < r->b.n; i++) {
        rmig_entry *e = &r->b.e[i];
        if (e->from_node)
            r->emitted++;
        if (e->flags & RMIG_ENTRY_DROPPED) {
            r->dropped++;
            if (e->kind == RMIG_ENTRY_CMD && e->offset > 0)
                rmig__run_commit(r, e->offset, e->stream_db);
            continue;
        }
        if (e->kind == RMIG_ENTRY_CMD && r->clus && (e->cmd_flags & RMIG_CMD_TX_MARK) && e->argc &&
            (e->argv[0].p[0] | 0x20) == 'm') {
            /* the source's MULTI: the block goes to one master or is split */
            uint32_t end;
            if (rmig__cluster_transaction(r, i, &end) < 0)
                return -1;
            i = end;
            continue;
        }
        if (e->kind == RMIG_ENTRY_CMD && r->vf)
            continue; /* (a scan source's commands: verify changes nothing) */
        if (e->kind == RMIG_ENTRY_CMD && r->proxy_dbm && (e->cmd_flags & RMIG_CMD_TX_MARK)) {
            /* neither proxy has transactions (nutcracker closes the
             * connection on MULTI, codis-proxy refuses it): the source's
             * MULTI/EXEC blocks go command by command */
            r->tx_unwrapped += (e->argv[0].p[0] | 0x20) == 'm';
            if (e->offset > 0)
                rmig__run_commit(r, e->offset, e->stream_db);
            continue;
        }
        if (r->proxy_dbm && rmig__dbmap_apply(r, r->proxy_dbm, e) < 0)
            return -1; /* (a proxy takes no SELECT: every key goes to its one keyspace) */
        rmig_entry slots;
        rmig_slice sargv[4];
        char sttl[24];
        if (e->kind == RMIG_ENTRY_CMD && r->slotsrestore && rmig__run_slotsrestore_cmd(e, &slots, sargv, sttl))
            e = &slots; /* the stream's RESTORE as codis-proxy takes it */
        if (e->kind == RMIG_ENTRY_CMD) {
            rmig_entry hme;
            rmig_slice *hm = r->target_version && r->target_version < 8 ? rmig__run_hmset_cmd(e, &hme) : NULL;
            if (hm)
                e = &hme; /* (before Redis 4.0: one field per HSET) */
            int wrc = r->clus ? rmig__cluster_write_cmd(r, e)
                      : r->lv ? rmig__live_write_cmd(r, e)
                              : rmig__run_write_cmd_args(r, e, NULL, 0, 0); /* (a scan source's DEL, HSET ...) */
            free(hm);
            if (wrc < 0)
                return -1;
            continue;
        }
        if (r->clus) {
            int rc = rmig__cluster_route(r, e);
            if (rc < 0)
                return -1;
            if (rc > 0)
                continue;
        }
        if (r->vf) {
            if (rmig__verify_entry(r, e) < 0)
                return -1;
            continue;
        }
        if (!e->value && e->type != 0) {
            /* a copy of a key written in chunks: its value is not held */
            static const char why[] = "a node emitted a copy of a key too big to hold (written in chunks); "
                                      "copies of such keys are not supported";
            keyrec k = {.db = e->db, .key_len = e->key_len < 80 ? e->key_len : 80};
            memcpy(k.key, e->key, k.key_len);
            rmig__run_report_key(r, &k, why, (int)sizeof why - 1);
            r->failed_keys++;
            continue;
        }
        if (r->native) {
            if (write_native(r, e) < 0)
                return -1;
        } else {
            write_restore(r, e);
        }
    }
    return 0;
}

int rmig__run_flush_batch(runner *r)
{
    if (r->vf)
        rmig__verify_before_steps(r);
    if (rmig_steps_run(r->steps, &r->b, rmig__run_now_ms(), r->err, sizeof r->err) < 0 || rmig__run_write_entries(r, 0) < 0)
        return -1;
    rmig_batch_reset(&r->b);
    return 0;
}

/* ---- reading ---- */

static void status(runner *r)
{
    rmig_progress_counts pc = {r->bytes_in, r->bytes_total, r->read, r->written, r->dropped, r->failed_keys};
    rmig_progress_update(&r->progress, &pc);
}

void rmig__run_finish(runner *r)
{
    if (r->vf && !r->failed && rmig__verify_more(r))
        return; /* verify: the next phase */
    if (r->vf)
        rmig__verify_close(r);
    rmig__verify_spawn_close(r);
    rmig__run_stop_idle(r);
    if (r->live)
        rmig__live_finish(r);
    rmig__scan_finish(r);
    if (r->clus) {
        rmig__cluster_counts(r, &r->reconnects, &r->torn);
        rmig__cluster_close(r);
        return;
    }
    if (!r->w0.c)
        return;
    r->reconnects = rmig_redis_reconnects(r->w0.c);
    r->torn = rmig_redis_torn(r->w0.c);
    rmig_redis_close(r->w0.c, NULL);
    r->w0.c = r->c = NULL;
}

/* Handles the parser's events until it needs bytes (0), the window is
 * full (1) or the run failed (-1). The snapshot's end sets r->rdb_done. */
int rmig__run_rdb_pump(runner *r)
{
    rmig_rdb_event e;
    while (rmig__run_room(r) && !r->rdb_done && !r->failed) {
        if (r->pend_n) {
            /* a big key's bytes, a slice at a time so that the window is
             * checked between slices; the event they belong to stays valid
             * until the parser is called again */
            size_t n = r->pend_n < BIG_SLICE ? r->pend_n : BIG_SLICE;
            const uint8_t *p = r->pend;
            r->pend += n;
            r->pend_n -= n;
            if (rmig__run_big_piece(r, p, n) < 0)
                return -1;
            continue;
        }
        int ev = rmig_rdb_next(r->p, &e);
        if (ev < 0) {
            snprintf(r->err, sizeof r->err, "source: %s", rmig_rdb_error(r->p));
            return -1;
        }
        if (ev == RMIG_RDB_NEED_MORE)
            return 0;
        if (ev == RMIG_RDB_EV_BEGIN && r->live) {
            /* a live snapshot: its version decides RESTORE or native now */
            r->source_version = e.version;
            r->native = !strcmp(r->restore_opt, "never") ||
                        (strcmp(r->restore_opt, "always") &&
                         !rmig_target_restores(r->target_version, r->source_version));
            if (r->native && strcmp(r->mode_opt, "replace")) {
                snprintf(r->err, sizeof r->err, "sink.mode = \"%s\" needs RESTORE payloads, but the target (RDB %d) is "
                         "older than the source's snapshot (RDB %d): use mode = \"replace\"", r->mode_opt,
                         r->target_version, r->source_version);
                return -1;
            }
        } else if (ev == RMIG_RDB_EV_KEY) {
            r->value.len = 0;
            r->big_dropped = 0;
            memset(&r->cur, 0, sizeof r->cur);
            r->cur.kind = RMIG_ENTRY_KEY;
            r->cur.db = e.db;
            r->cur.key_len = (uint32_t)e.key_len;
            r->cur.type = e.kind;
            r->cur.rdb_type = e.rdb_type;
            r->cur.rdb_version = e.version;
            r->cur.expire_ms = e.expire_ms;
            r->cur.idle_s = e.idle_s;
            r->cur.freq = e.freq;
            r->cur_key.len = 0;
            rmig_out_mem(&r->cur_key, e.key, e.key_len);
            r->cur_off = e.offset;
        } else if (ev == RMIG_RDB_EV_RAW) {
            if (r->big || r->big_restore || r->big_verify) {
                r->pend = e.str;
                r->pend_n = e.len;
            } else if (!r->big_dropped) {
                rmig_out_mem(&r->value, e.str, e.len);
                /* module values cannot be written natively: held whole
                 * unless a RESTORE can carry them in pieces */
                if (r->value.len > r->chunk_bytes &&
                    (e.kind != RMIG_KIND_MODULE || (!r->native && r->in && rmig_input_size(r->in))) &&
                    rmig__run_big_start(r) < 0)
                    return -1;
            }
        } else if (ev == RMIG_RDB_EV_KEY_END && (r->big || r->big_restore || r->big_dropped || r->big_verify)) {
            r->read++;
            r->value.len = 0;
            if ((r->big && rmig__run_big_end(r) < 0) || (r->big_restore && rmig__run_big_restore_end(r) < 0) ||
                (r->big_verify && rmig__verify_big_end(r) < 0))
                return -1;
            r->big_dropped = 0;
            r->big_verify = 0;
        } else if (ev == RMIG_RDB_EV_KEY_END) {
            r->read++;
            rmig_entry *en = rmig_batch_add(&r->b);
            en->db = e.db;
            en->key = rmig_batch_copy(&r->b, e.key, e.key_len);
            en->key_len = (uint32_t)e.key_len;
            en->type = e.kind;
            en->rdb_type = e.rdb_type;
            en->rdb_version = e.version;
            en->expire_ms = e.expire_ms;
            en->idle_s = e.idle_s;
            en->freq = e.freq;
            en->value = rmig_batch_copy(&r->b, r->value.buf, r->value.len);
            en->value_len = r->value.len;
            if (!en->key || !en->value) {
                snprintf(r->err, sizeof r->err, "out of memory holding a batch");
                return -1;
            }
            if ((r->b.n >= BATCH_KEYS || r->b.arena.len > BATCH_BYTES) && rmig__run_flush_batch(r) < 0)
                return -1;
        } else if (ev == RMIG_RDB_EV_FUNCTION) {
            /* libraries go as FUNCTION LOAD REPLACE (to every master of a cluster) */
            if (r->clus) {
                rmig__cluster_function(r, e.str, e.len);
                continue;
            }
            rmig_out *o = rmig_redis_out(r->c);
            rmig_resp_array(o, 4);
            rmig_resp_bulk_str(o, "FUNCTION");
            rmig_resp_bulk_str(o, "LOAD");
            rmig_resp_bulk_str(o, "REPLACE");
            rmig_resp_bulk(o, e.str, e.len);
            rmig_redis_done(r->c, TAG_FUNCTION);
        } else if (ev == RMIG_RDB_EV_EOF) {
            if (rmig__run_flush_batch(r) < 0)
                return -1;
            r->rdb_done = 1;
        }
    }
    return r->failed ? -1 : 1;
}

static void on_idle(uv_idle_t *h)
{
    runner *r = h->data;
    if (r->live) {
        rmig__live_idle(r);
        return;
    }
    if (r->scan) {
        rmig__scan_idle(r);
        return;
    }
    while (rmig__run_room(r) && !r->eof && !r->failed) {
        int rc = rmig__run_rdb_pump(r);
        if (rc < 0) {
            r->failed = 1;
            rmig__run_finish(r);
            return;
        }
        if (r->rdb_done) {
            r->eof = 1;
            break;
        }
        if (rc == 1)
            break;
        uint8_t *dst = rmig_rdb_space(r->p, CHUNK);
        ssize_t n = dst ? rmig_input_read(r->in, dst, CHUNK, r->err, sizeof r->err) : -1;
        if (n < 0) {
            r->failed = 1;
            rmig__run_finish(r);
            return;
        }
        if (n == 0)
            rmig_rdb_finish(r->p);
        else
            rmig_rdb_commit(r->p, (size_t)n);
        r->bytes_in += n > 0 ? (uint64_t)n : 0;
    }
    status(r);
    if (r->eof && rmig__run_pending(r) == 0) {
        rmig__run_finish(r);
        return;
    }
    if (!rmig__run_room(r) || r->eof)
        rmig__run_stop_idle(r); /* replies start it again */
}

void rmig__run_start_idle(runner *r)
{
    if (!r->idle_on && !r->failed) {
        uv_idle_start(&r->idle, on_idle);
        r->idle_on = 1;
    }
}

/* A RESTORE sent without REPLACE met an existing key: the same command
 * again with REPLACE ("*N" becomes "*N+1", REPLACE appended). */
static void resend_replace(runner *r, const keyrec *k, uint64_t db, const char *p, size_t n)
{
    const char *nl = p ? memchr(p, '\n', n) : NULL;
    if (!nl || p[0] != '*')
        return;
    long argc = strtol(p + 1, NULL, 10);
    /* p is in the connection's log, which the SELECT may move: a copy */
    size_t rest = n - (size_t)(nl + 1 - p);
    char *copy = malloc(rest ? rest : 1);
    if (!copy)
        return;
    memcpy(copy, nl + 1, rest);
    rmig_redis_select(r->c, db);
    rmig_out *o = rmig_redis_out(r->c);
    rmig_resp_array(o, (size_t)argc + 1);
    rmig_out_mem(o, copy, rest);
    free(copy);
    rmig_resp_bulk_str(o, "REPLACE");
    rmig__run_rec_again(r, k);
    rmig_redis_done(r->c, r->tag++);
}

/* A key's commands are all answered: the key is written, or failed as a
 * whole (its unit, when kept, goes to the dead letters). */
void rmig__run_unit_answered(runner *r, uint64_t db, const char *cmd, size_t n)
{
    if (r->cw->unit_failed) {
        r->failed_keys++;
        rmig__run_dead_letter(r, db, cmd, n);
    } else {
        r->written++;
    }
    r->cw->unit_failed = 0;
}

/* One refused key on stderr; past the first MAX_SHOWN they are only counted
 * (a full target refuses every key: a million lines help nobody). */
void rmig__run_report_key(runner *r, const keyrec *k, const char *why, int why_len)
{
    if (r->shown++ == MAX_SHOWN) {
        fprintf(stderr, "rmig run: more refused keys are counted but not shown%s\n",
                r->dl ? "; the dead-letter file has them all" : " (sink.dead_letter keeps them all)");
    }
    if (r->shown > MAX_SHOWN)
        return;
    rmig_progress_clear(&r->progress);
    fprintf(stderr, "rmig run: %s \"%.*s\" (db %llu): %.*s\n", k->cmd ? "command" : "key", (int)k->key_len, k->key,
            (unsigned long long)k->db, why_len, why);
}

void rmig__run_on_reply(rmig_redis *c, void *ud, uint64_t tag, const redisReply *rep)
{
    wconn *w = ud;
    runner *r = w->r;
    wconn *was = r->cw;
    rmig__run_use(r, w); /* what follows writes to the connection answering */
    r->replies++;
    if (tag == TAG_ASKING) {
        /* the ASKING before a command sent on by an ASK redirection */
    } else if (tag == RMIG_REDIS_TAG_SELECT || tag == TAG_FUNCTION) {
        if (rep->type == REDIS_REPLY_ERROR) {
            rmig_progress_clear(&r->progress);
            fprintf(stderr, "rmig run: the target refused %s: %.*s\n",
                    tag == RMIG_REDIS_TAG_SELECT ? "SELECT" : "FUNCTION LOAD", (int)rep->len, rep->str);
            r->failed_keys++;
        }
    } else {
        keyrec kr = rmig__run_rec_pop(w);
        const keyrec *k = &kr;
        size_t n;
        const char *cmd = rmig_redis_command(c, &n);
        int sent_on = r->clus && rmig__cluster_reply(r, w, &kr, rep);
        if (sent_on) {
            /* sent on to another master, or to be retried */
        } else if (r->vf && kr.vpart) {
            rmig__verify_reply(r, &kr, rep);
        } else if (k->cmd == 2 && rep->type == REDIS_REPLY_ARRAY) {
            /* exactly_once: EXEC answers for the whole batch */
            for (size_t i = 0; i < rep->elements; i++) {
                const redisReply *el = rep->element[i];
                if (el->type == REDIS_REPLY_ERROR) {
                    char why[300];
                    int wn = snprintf(why, sizeof why, "command %zu of the transaction: %.*s", i + 1, (int)el->len,
                                      el->str);
                    rmig__run_report_key(r, k, why, wn < (int)sizeof why ? wn : (int)sizeof why - 1);
                    r->failed_keys++;
                }
            }
        } else if (k->cmd == 3 && rep->type != REDIS_REPLY_ERROR) {
            /* rmig's own MULTI and checkpoint */
        } else if (k->cmd) {
            /* a command of a live stream: nil, numbers, arrays are all fine */
            if (rep->type == REDIS_REPLY_ERROR) {
                rmig__run_report_key(r, k, rep->str, (int)rep->len);
                r->failed_keys++;
                rmig__run_dead_letter(r, k->db, cmd, n);
            } else {
                r->cmds++;
            }
        } else if (rep->type == REDIS_REPLY_ERROR) {
            if (r->optimistic && !k->unit && !strncmp(rep->str, "BUSYKEY", 7)) {
                r->resent++;
                resend_replace(r, k, k->db, cmd, n);
            } else if (r->skip_existing && !strncmp(rep->str, "BUSYKEY", 7)) {
                r->skipped++;
            } else if (!k->unit || !w->unit_failed) {
                rmig__run_report_key(r, k, rep->str, (int)rep->len);
                if (k->unit) {
                    w->unit_failed = 1;
                } else {
                    r->failed_keys++;
                    rmig__run_dead_letter(r, k->db, cmd, n);
                }
            }
        } else if (rep->type == REDIS_REPLY_NIL && !k->unit) {
            /* SET ... NX met an existing key */
            if (r->skip_existing) {
                r->skipped++;
            } else {
                static const char why[] = "exists on the target (mode fail-on-existing)";
                rmig__run_report_key(r, k, why, (int)sizeof why - 1);
                r->failed_keys++;
                rmig__run_dead_letter(r, k->db, cmd, n);
            }
        } else if (!k->unit) {
            r->written++;
        }
        if (k->unit && !sent_on && rmig_redis_unit_last(c)) {
            cmd = rmig_redis_unit_bytes(c, &n);
            rmig__run_unit_answered(r, k->db, cmd, n);
        }
        /* a cluster answers for a unit's records at its end (run_cluster.c) */
        if (!sent_on && (!r->clus || !(k->unit || k->tx)))
            rmig__run_answered(r, k);
    }
    if (was)
        rmig__run_use(r, was);
    if (r->vf && r->failed) {
        rmig__run_finish(r); /* (verify cannot go on: a read the target refused, say) */
        return;
    }
    if (r->clus && w->draining && w->c && rmig_redis_pending(w->c) == 0)
        w->draining = 0; /* (whatever tag its last reply had) */
    if (r->abort_on_error && r->failed_keys && !r->failed) {
        snprintf(r->err, sizeof r->err, "stopped at the first refused key, as sink.on_error = \"abort\" asks "
                 "(with \"continue\", refused keys are counted and the run goes on)");
        r->failed = 1;
        rmig__run_finish(r);
        return;
    }
    if (r->eof && rmig__run_pending(r) == 0 && !r->failed) {
        rmig__run_finish(r);
        return;
    }
    if (rmig__run_room(r) && !r->eof)
        rmig__run_start_idle(r);
}

void rmig__run_on_state(rmig_redis *c, void *ud, int state, const char *err, uint64_t unanswered)
{
    wconn *w = ud;
    runner *r = w->r;
    if (r->clus && rmig__cluster_state(r, w, state, err))
        return;
    if (state == RMIG_REDIS_READY) {
        w->ready = 1;
        rmig_progress_clear(&r->progress);
        if (r->ready)
            fprintf(stderr, "rmig run: connected to %s again; the unanswered commands were sent again\n",
                    rmig_redis_name(c));
        r->ready = 1;
        rmig__run_start_idle(r);
        return;
    }
    if (state == RMIG_REDIS_DRAINED) { /* a streamed value's pieces can go on */
        if (rmig__run_room(r))
            rmig__run_start_idle(r);
        return;
    }
    if (state == RMIG_REDIS_RETRYING) {
        rmig_progress_clear(&r->progress);
        fprintf(stderr, "rmig run: %s (%llu commands unanswered); reconnecting for up to %d s\n", err,
                (unsigned long long)unanswered, r->retry_deadline_s);
        return;
    }
    snprintf(r->err, sizeof r->err, "target: %s (%llu commands unanswered)%s", err, (unsigned long long)unanswered,
             r->live ? "; rmig run again resumes from what the target applied" : "");
    r->failed = 1;
    rmig__run_finish(r);
}

int rmig_run_main(int argc, char **argv)
{
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--verify"))
            verify_flag = 1;
        else
            argv[n++] = argv[i];
    }
    return rmig__run_pipeline(n, argv, "run", usage, NULL);
}

int rmig__run_pipeline(int argc, char **argv, const char *cmd, const char *usage_text, rmig_verify *vf)
{
    const char *path = NULL, *overrides[64];
    int nover = 0;
    int ac = rmig_vm_args(argc, argv, cmd, usage_text, &path, overrides, &nover, 64);
    if (ac >= 0) {
        rmig__verify_free(vf);
        return ac;
    }
    runner *r = calloc(1, sizeof *r);
    if (!r || !(r->vm = rmig_vm_new(r->err, sizeof r->err))) {
        fprintf(stderr, "rmig %s: %s\n", cmd, r ? r->err : "out of memory");
        rmig__verify_free(vf);
        free(r);
        return 1;
    }
    r->vf = vf;
    int rc = 2;
    if (rmig_vm_load(r->vm, path, overrides, nover, r->err, sizeof r->err) < 0 || !(r->steps = rmig_steps_build(r->vm, path, r->err, sizeof r->err))) {
        fprintf(stderr, "rmig run: %s\n", r->err);
        goto out;
    }
    lua_State *L = rmig_vm_state(r->vm);
    int pipe = lua_gettop(L);
    lua_getfield(L, pipe, "verify");
    r->verify_after = !vf && (verify_flag || lua_toboolean(L, -1));
    lua_pop(L, 1);
    r->pipeline_path = path;
    r->ovr = overrides;
    r->nover = nover;
    lua_getfield(L, pipe, "source");
    const char *sctor = rmig_vm_str(L, -1, "constructor");
    r->live = sctor && !strcmp(sctor, "rmig.source.psync") ? 1 : sctor && !strcmp(sctor, "rmig.source.cluster") ? 2 : 0;
    int scan = sctor && !strcmp(sctor, "rmig.source.scan");
    int twem = sctor && !strcmp(sctor, "rmig.source.twemproxy"), codis = sctor && !strcmp(sctor, "rmig.source.codis");
    lua_getfield(L, -1, "options");
    int src = lua_gettop(L);
    if (twem || codis) {
        /* every backend of the pool, every group master, by PSYNC (as a
         * cluster's masters) or SCAN */
        int trc = twem ? rmig__twem_open(r, L, src) : rmig__codis_open(r, L, src);
        if (trc < 0) {
            fprintf(stderr, "rmig %s: %s\n", cmd, r->err);
            rc = trc == -2 ? 2 : 1;
            goto out;
        }
        const char *tmode = rmig_vm_str(L, src, "mode");
        scan = tmode && !strcmp(tmode, "scan");
        r->live = scan ? 0 : 2;
    }
    if (vf && r->live) {
        /* verify reads a live source (a master, a cluster's masters, a
         * pool's backends) by SCAN + DUMP */
        r->live = 0;
        scan = 1;
    }
    const char *rdb = r->live ? rmig_vm_str(L, src, "addr") : rmig_vm_str(L, src, "path");
    int verify_crc = rmig_vm_bool(L, src, "verify_crc", 1);
    if (scan)
        rdb = rmig_vm_str(L, src, "addr");
    if (twem || codis)
        rdb = r->farm_label;
    lua_getfield(L, pipe, "sink");
    const char *kctor = rmig_vm_str(L, -1, "constructor");
    int cluster = kctor && !strcmp(kctor, "rmig.sink.cluster");
    lua_getfield(L, -1, "options");
    int so = lua_gettop(L);
    const char *addr = rmig_vm_str(L, so, "addr"), *user = rmig_vm_str(L, so, "user"), *pw = rmig_vm_str(L, so, "password");
    struct rmig_twem_pool *tpool = NULL;
    int proxy = 0, codis_px_pw = 0;
    if (kctor && !strcmp(kctor, "rmig.sink.twemproxy")) {
        /* a pool's backends, each key where nutcracker looks for it (as a
         * cluster's masters), or its proxy */
        int trc = rmig__twem_sink_open(r, L, so, &tpool, &addr, &pw);
        if (trc < 0) {
            fprintf(stderr, "rmig %s: sink: %s\n", cmd, r->err);
            rc = trc == -2 ? 2 : 1;
            goto out;
        }
        /* (verify reads the backends: a proxy lists no keys, and the
         * placement is the same) */
        cluster = rmig_vm_bool(L, so, "direct", 0) || vf;
        proxy = !cluster;
        if (proxy && (r->proxy_dbm = calloc(1, sizeof *r->proxy_dbm)))
            rmig__dbmap_init(r->proxy_dbm, L, so, 0, "a Twemproxy pool has one keyspace (nutcracker takes no SELECT)");
        if (proxy && !r->proxy_dbm) {
            fprintf(stderr, "rmig %s: out of memory\n", cmd);
            goto out;
        }
        if (cluster) {
            snprintf(r->sink_label, sizeof r->sink_label, "the backends of pool '%s'", rmig__twem_name(tpool));
            addr = r->sink_label;
        }
    }
    if (kctor && !strcmp(kctor, "rmig.sink.codis")) {
        /* the group masters, each key on its slot's group, or a
         * codis-proxy (verify reads the masters: a proxy lists no keys) */
        int crc = rmig__codis_sink_open(r, L, so, vf != NULL);
        if (crc < 0) {
            fprintf(stderr, "rmig %s: sink: %s\n", cmd, r->err);
            rc = crc == -2 ? 2 : 1;
            goto out;
        }
        const char *px = rmig_vm_str(L, so, "proxy");
        /* (the password is the proxy's: verify's masters take the topology's) */
        codis_px_pw = px && vf;
        px = vf ? NULL : px;
        if (px && !r->codis_sink && r->verify_after) {
            fprintf(stderr, "rmig %s: sink: the run is to be verified, and rmig verify reads every key from its group "
                    "master (a codis-proxy lists no keys): give the sink topology = FILE as well as proxy\n", cmd);
            rc = 2;
            goto out;
        }
        if (px) {
            proxy = 1;
            r->slotsrestore = 1;
            addr = px;
            if ((r->proxy_dbm = calloc(1, sizeof *r->proxy_dbm)))
                rmig__dbmap_init(r->proxy_dbm, L, so, 0, "Codis keeps its keys in db 0");
            else {
                fprintf(stderr, "rmig %s: out of memory\n", cmd);
                goto out;
            }
        } else {
            cluster = 1;
            addr = r->sink_label;
        }
    }
    const char *pw_env = rmig_vm_str(L, so, "password_env"), *restore = rmig_vm_str(L, so, "restore");
    const char *mode = rmig_vm_str(L, so, "mode"), *on_error = rmig_vm_str(L, so, "on_error");
    r->abort_on_error = on_error && !strcmp(on_error, "abort");
    /* verify's reads are small commands with large answers: more of them
     * in flight keep the target busy while rmig digests a batch */
    r->window = (uint64_t)rmig_vm_int(L, so, "window", r->vf ? 16384 : 4096);
    r->retry_deadline_s = (int)rmig_vm_int(L, so, "retry_deadline_s", 300);
    r->chunk_bytes = (size_t)rmig_vm_int(L, so, "chunk_bytes", 8 << 20);
    size_t window_bytes = (size_t)rmig_vm_int(L, so, "window_bytes", 8 << 20);
    if (pw_env && !(pw = getenv(pw_env))) {
        fprintf(stderr, "rmig run: sink.password_env names %s, which is not set in the environment\n", pw_env);
        goto out;
    }
    if (codis_px_pw)
        pw = r->codis_sink->groups[0].password; /* (the sink's is the proxy's) */
    rmig_tls_opts tls, *tlsp = rmig_vm_tls(L, so, &tls);
    const char *dl = rmig_vm_str(L, so, "dead_letter");
    if (dl && !(r->dl = fopen(dl, "w"))) {
        fprintf(stderr, "rmig run: sink.dead_letter: cannot write %s\n", dl);
        goto out;
    }
    r->mode_replace = !strcmp(mode, "replace");
    r->skip_existing = !strcmp(mode, "skip-existing");

    rc = 1;
    char host[256];
    int port = 0;
    if (tpool && !proxy)
        snprintf(host, sizeof host, "%s", rmig__twem_backend(tpool, 0, &port)); /* (direct: it stands for the pool) */
    else if (r->codis_sink && !proxy)
        snprintf(host, sizeof host, "%s", rmig__codis_master(r->codis_sink, 0, &port)); /* (and the group masters) */
    else
        rmig_target_split_addr(addr, host, sizeof host, &port);
    rmig_target_info ti;
    /* (nutcracker answers no INFO: a proxied pool is known by a backend;
     * codis-proxy sends INFO to a group master) */
    int pport = port;
    const char *phost = tpool && proxy ? rmig__twem_backend(tpool, 0, &pport) : host;
    if (rmig_target_probe(phost, pport, user, pw, tlsp, &ti, r->err, sizeof r->err) < 0) {
        fprintf(stderr, "rmig run: target: %s%s\n", tpool && proxy ? "a backend of the pool: " : "", r->err);
        goto out;
    }
    if (proxy)
        ti.keys = 1; /* (its keys are unknown: every RESTORE says REPLACE) */
    if (cluster) {
        uint64_t keys = 0;
        if ((tpool             ? rmig__cluster_open_pool(r, L, so, tpool, user, pw, tlsp, &keys)
             : r->codis_sink ? rmig__cluster_open_codis(r, L, so, r->codis_sink, user, pw, tlsp, &keys)
                             : rmig__cluster_open(r, L, so, host, port, user, pw, tlsp, &keys)) < 0) {
            fprintf(stderr, "rmig run: target: %s\n", r->err);
            rc = r->failed == 2 ? 2 : 1;
            goto out;
        }
        ti.keys = keys;
    }
    r->target_version = ti.rdb_version;
    r->pxat = rmig_target_has_pxat(&ti);
    if (ti.proto_max_bulk_len && r->chunk_bytes > ti.proto_max_bulk_len / 2)
        r->chunk_bytes = (size_t)(ti.proto_max_bulk_len / 2); /* a RESTORE payload must stay under it */
    r->optimistic = ti.keys == 0;
    r->restore_opt = restore;
    r->mode_opt = mode;
    if (r->live) {
        /* the snapshot's RDB version is known when it begins (the pump
         * decides RESTORE or native then); a full resync may come later on
         * a target that is not empty, so every RESTORE says REPLACE */
        r->optimistic = 0;
        r->use_set = strcmp(restore, "always") != 0;
        int lrc = rmig__live_open(r, L, pipe, src, so);
        if (lrc < 0) {
            fprintf(stderr, "rmig run: %s\n", r->err);
            rc = lrc == -2 ? 2 : 1;
            goto out;
        }
        goto connect;
    }
    if (scan) {
        int src_rc = rmig__scan_open(r, L, src, &r->source_version);
        if (src_rc < 0) {
            fprintf(stderr, "rmig run: %s\n", r->err);
            rc = src_rc == -2 ? 2 : 1;
            goto out;
        }
        goto decided;
    }
    r->in = rmig_input_open(rdb, r->err, sizeof r->err);
    if (!r->in) {
        fprintf(stderr, "rmig run: source: %s\n", r->err);
        goto out;
    }
    r->p = rmig_rdb_new(&(rmig_rdb_opts){RMIG_RDB_RAW | RMIG_RDB_COUNT | (verify_crc ? 0 : RMIG_RDB_NO_CRC), 0, 0,
                                         0});
    /* the source's version decides RESTORE or native; peek at the header */
    {
        rmig_rdb_event e;
        int ev;
        while ((ev = rmig_rdb_next(r->p, &e)) == RMIG_RDB_NEED_MORE) {
            uint8_t *dst = rmig_rdb_space(r->p, CHUNK);
            ssize_t n = dst ? rmig_input_read(r->in, dst, CHUNK, r->err, sizeof r->err) : -1;
            if (n < 0) {
                fprintf(stderr, "rmig run: source: %s\n", r->err);
                goto out;
            }
            if (n == 0)
                rmig_rdb_finish(r->p);
            else
                rmig_rdb_commit(r->p, (size_t)n);
            r->bytes_in += n > 0 ? (uint64_t)n : 0;
        }
        if (ev != RMIG_RDB_EV_BEGIN) {
            fprintf(stderr, "rmig run: source %s: %s\n", rdb, rmig_rdb_error(r->p));
            goto out;
        }
        r->source_version = e.version;
    }
decided:
    r->optimistic = r->optimistic && !strcmp(mode, "replace");
    r->native = !strcmp(restore, "never") ||
                (strcmp(restore, "always") && !rmig_target_restores(r->target_version, r->source_version));
    if (r->native && strcmp(mode, "replace")) {
        /* native commands replace a key (DEL first); they cannot leave an
         * existing one alone without a script per key */
        fprintf(stderr, "rmig run: sink.mode = \"%s\" needs RESTORE payloads, but the target (RDB %d) is older than "
                "the file (RDB %d)%s: use mode = \"replace\", or a newer target\n", mode, r->target_version,
                r->source_version, strcmp(restore, "never") ? "" : " or sink.restore = \"never\"");
        rc = 2;
        goto out;
    }
    r->use_set = strcmp(restore, "always") != 0;
connect:
    rmig_batch_init(&r->b, 2 * BATCH_KEYS); /* half of it is room for entries nodes emit */
    rmig_out_init(&r->value, -1);
    rmig_out_init(&r->cur_key, -1);
    uv_loop_init(&r->loop);
    uv_idle_init(&r->loop, &r->idle);
    r->idle.data = r;
    rmig_redis_opts o = {.host = host, .port = port, .user = user, .password = pw, .window = r->window,
                         .window_bytes = window_bytes, .tls = tlsp,
                         .retry_deadline_ms = r->retry_deadline_s > 0 ? r->retry_deadline_s * 1000 : 0};
    if (cluster) {
        if (rmig__cluster_connect(r, &o) < 0) {
            fprintf(stderr, "rmig run: %s\n", r->err);
            goto out;
        }
    } else {
        r->w0.r = r;
        r->w0.c = rmig_redis_new(&r->loop, &o, rmig__run_on_reply, rmig__run_on_state, &r->w0);
        snprintf(r->w0.host, sizeof r->w0.host, "%s", host);
        r->w0.port = port;
        rmig__run_use(r, &r->w0);
    }
    rmig_progress_init(&r->progress, stderr, isatty(2));
    r->bytes_total = r->in ? rmig_input_size(r->in) : 0;
    r->start_ns = now_ns();
    if (r->live) {
        fprintf(stderr, "rmig run: live from %s -> %s (target RDB %d), %d node step(s)\n", rdb, addr,
                r->target_version, rmig_steps_count(r->steps));
        if (rmig__live_start(r) < 0) {
            fprintf(stderr, "rmig run: %s\n", r->err);
            goto out;
        }
    } else if (vf) {
        fprintf(stderr, "rmig verify: %s (%s) against %s, through %d node step(s)\n", rdb, scan ? "by SCAN" : "RDB file",
                addr, rmig_steps_count(r->steps));
        if (scan && rmig__scan_start(r) < 0) {
            fprintf(stderr, "rmig verify: %s\n", r->err);
            goto out;
        }
    } else if (scan) {
        fprintf(stderr, "rmig run: SCAN of %s -> %s as %s (source RDB %d, target RDB %d), %d node step(s)\n", rdb,
                addr, r->native ? "native commands" : r->slotsrestore ? "SLOTSRESTORE payloads (a codis-proxy)"
                                                                      : "RESTORE payloads",
                r->source_version, r->target_version, rmig_steps_count(r->steps));
        if (rmig__scan_start(r) < 0) {
            fprintf(stderr, "rmig run: %s\n", r->err);
            goto out;
        }
    } else {
        fprintf(stderr, "rmig run: %s -> %s as %s (file RDB %d, target RDB %d), %d node step(s)\n", rdb, addr,
                r->native      ? "native commands"
                : r->slotsrestore ? "SLOTSRESTORE payloads (a codis-proxy)"
                : r->optimistic ? "RESTORE payloads (the target is empty: REPLACE only where a key exists)"
                                : "RESTORE payloads",
                r->source_version, r->target_version, rmig_steps_count(r->steps));
    }
    if (!cluster)
        rmig_redis_connect(r->c);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&r->idle, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
    rmig_progress_clear(&r->progress);
    double secs = (double)(now_ns() - r->start_ns) / 1e9;
    if (vf) {
        rc = rmig__verify_report(r, path, secs);
        goto out;
    }
    printf("read %llu keys, wrote %llu, dropped %llu, skipped %llu (existing), failed %llu, in %.2f s\n",
           (unsigned long long)r->read, (unsigned long long)r->written, (unsigned long long)r->dropped,
           (unsigned long long)r->skipped, (unsigned long long)r->failed_keys, secs);
    if (r->emitted)
        printf("  %llu entries were emitted by nodes (counted in written, dropped or failed)\n",
               (unsigned long long)r->emitted);
    if (r->sets)
        printf("  %llu strings went as SET (less work for the target than RESTORE)\n", (unsigned long long)r->sets);
    if (r->restored_big)
        printf("  %llu keys bigger than sink.chunk_bytes went as RESTOREs written while they were read\n",
               (unsigned long long)r->restored_big);
    if (r->streamed)
        printf("  %llu keys bigger than sink.chunk_bytes went out in chunks, as native commands\n",
               (unsigned long long)r->streamed);
    if (r->reconnects)
        printf("  the connection was lost and opened again %llu times\n", (unsigned long long)r->reconnects);
    if (r->torn) {
        fprintf(stderr, "rmig run: %llu keys being written in chunks were cut by a lost connection; the part "
                "sent before the cut may have been applied twice (list elements doubled): run again for them\n",
                (unsigned long long)r->torn);
        r->failed_keys += r->torn;
    }
    if (r->resent)
        printf("  %llu keys existed on the target and were re-sent with REPLACE\n", (unsigned long long)r->resent);
    if (r->clus)
        rmig__cluster_summary(r);
    if (r->proxy_dbm)
        rmig__dbmap_summary(r->proxy_dbm);
    if (r->tx_unwrapped)
        fprintf(stderr, "rmig run: %llu MULTI/EXEC blocks of the source went command by command: the proxy has no "
                "transactions\n", (unsigned long long)r->tx_unwrapped);
    if (r->scan)
        rmig__scan_summary(r);
    if (r->live)
        rmig__live_summary(r);
    fflush(stdout);
    rmig_steps_report(r->steps, stdout);
    if (r->dl && r->dl_count)
        printf("the %llu refused commands are in %s: replay them with redis-cli --pipe < %s\n",
               (unsigned long long)r->dl_count, dl, dl);
    if (r->failed) {
        fprintf(stderr, "rmig run: %s\n", r->err);
        rc = r->failed == 2 || r->exit2 ? 2 : 1; /* (2: the pipeline must change, a key of a db the target lacks) */
    } else {
        rc = r->failed_keys ? 1 : 0;
    }
    if (r->verify_after && rc == 0 && !r->live && !(r->scan && r->verify_spawned)) {
        fflush(stdout);
        rc = rmig__verify_after(r);
    } else if (r->verify_after && rc != 0 && !r->verify_spawned) {
        fprintf(stderr, "rmig run: not verified: the run did not succeed\n");
    }
out:
    if (r->live)
        rmig__live_free(r);
    rmig_steps_free(r->steps);
    if (r->p)
        rmig_rdb_free(r->p);
    rmig_input_close(r->in);
    rmig_batch_free(&r->b);
    rmig_out_close(&r->value);
    rmig_out_close(&r->cur_key);
    rmig_chunked_free(r->big);
    free(r->w0.recs);
    free(r->w0.ur);
    free(r->ep);
    rmig__cluster_free(r);
    rmig__scan_free(r);
    rmig__twem_free(r);
    rmig__codis_free(r);
    free(r->farm);
    free(r->proxy_dbm);
    rmig__verify_free(r->vf);
    if (r->dl)
        fclose(r->dl);
    rmig_vm_free(r->vm);
    free(r);
    return rc;
}

