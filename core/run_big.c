/* run_big.c - values bigger than sink.chunk_bytes in `rmig run`: never held
 * whole. Into a target that takes RESTORE, the value's length is read ahead
 * from the file and one RESTORE is written while the value is read (the
 * connection streams it, redis_conn.h); otherwise (stdin, LZ4, an older
 * target) the value goes as native commands while it is read (chunked.h).
 * Either way the key goes through the nodes first, as a STREAMED entry. */
#include "run_internal.h"

#include "resp.h"

#include <stdlib.h>
#include <string.h>

/* The raw length of the current key's value, which the parser knows only at
 * its end: read ahead from the file by a parser of its own, from the key's
 * record on (a one-key stream: header, SELECTDB, the record). -1 when the
 * input cannot be read twice (stdin, LZ4) or the look ahead fails. */
static int64_t value_length(runner *r)
{
    uint8_t *buf = malloc(CHUNK);
    rmig_rdb *p = rmig_rdb_new(&(rmig_rdb_opts){RMIG_RDB_RAW | RMIG_RDB_NO_CRC, 0, 0, 0});
    int64_t total = -1, sum = 0;
    char h[16];
    int hl = snprintf(h, sizeof h, "REDIS%04d", r->cur.rdb_version);
    const uint8_t sel[2] = {254, 0};
    uint64_t off = r->cur_off;
    if (!buf || !p || rmig_rdb_feed(p, h, (size_t)hl) < 0 || rmig_rdb_feed(p, sel, 2) < 0)
        goto out;
    for (;;) {
        rmig_rdb_event ev;
        int got = rmig_rdb_next(p, &ev);
        if (got < 0 || got == RMIG_RDB_EV_EOF)
            goto out;
        if (got == RMIG_RDB_EV_RAW) {
            sum += (int64_t)ev.len;
        } else if (got == RMIG_RDB_EV_KEY_END) {
            total = sum;
            goto out;
        } else if (got == RMIG_RDB_NEED_MORE) {
            ssize_t n = rmig_input_pread(r->in, buf, CHUNK, off);
            if (n <= 0)
                goto out;
            off += (uint64_t)n;
            if (rmig_rdb_feed(p, buf, (size_t)n) < 0)
                goto out;
        }
    }
out:
    if (p)
        rmig_rdb_free(p);
    free(buf);
    return total;
}

/* The big value as one RESTORE whose payload is written as it is read: its
 * header now (the length known from the look ahead), the bytes as they
 * come (rmig__run_big_piece), the footer at its end. Not kept for re-sending (the
 * connection reports it failed if it is lost meanwhile), so REPLACE is
 * sent whenever the mode replaces. */
static void begin_big_restore(runner *r, uint64_t len)
{
    const rmig_entry *e = &r->cur;
    r->big_restore = 1;
    r->big_len = len;
    r->big_sent = 0;
    rmig_redis_select(r->c, e->db);
    rmig_redis_stream_begin(r->c);
    rmig_out *o = rmig_redis_out(r->c);
    int abs = e->expire_ms >= 0;
    if (r->slotsrestore) {
        rmig_resp_slotsrestore_head(o, e->key, e->key_len, e->expire_ms, rmig__run_now_ms());
    } else {
        rmig_resp_array(o, 4 + rmig_resp_restore_optc(r->mode_replace, e->expire_ms, e->idle_s, e->freq));
        rmig_resp_bulk_str(o, "RESTORE");
        rmig_resp_bulk(o, e->key, e->key_len);
        rmig_resp_bulk_i64(o, abs ? e->expire_ms : 0);
    }
    rmig_resp_bulk_begin(o, 1 + len + RMIG_DUMP_FOOTER);
    uint8_t t = (uint8_t)e->rdb_type;
    rmig_out_mem(o, &t, 1);
    rmig_dump_begin(&r->dump, e->rdb_type);
}

int rmig__run_big_restore_end(runner *r)
{
    const rmig_entry *e = &r->cur;
    r->big_restore = 0;
    if (r->big_sent != r->big_len) {
        snprintf(r->err, sizeof r->err, "key \"%.*s\": the file changed while it was read (its value has %llu bytes, "
                 "the look ahead found %llu)", (int)(e->key_len < 200 ? e->key_len : 200), (const char *)e->key,
                 (unsigned long long)r->big_sent, (unsigned long long)r->big_len);
        return -1;
    }
    uint8_t f[RMIG_DUMP_FOOTER];
    rmig_dump_end(&r->dump, e->rdb_version, f);
    rmig_out *o = rmig_redis_out(r->c);
    rmig_out_mem(o, f, sizeof f);
    rmig_resp_bulk_end(o);
    if (!r->slotsrestore)
        rmig_resp_restore_opts(o, r->mode_replace, e->expire_ms, e->idle_s, e->freq);
    rmig__run_remember(r, e, 0);
    rmig_redis_done(r->c, r->tag++);
    r->restored_big++;
    return 0;
}

/* The current key's value passed chunk_bytes: the batch so far goes out,
 * then the key alone through the nodes (as a STREAMED entry, without its
 * value), then what was held of it and, as the source reads them, the rest
 * of its pieces, as native commands. */
int rmig__run_big_start(runner *r)
{
    if (rmig__run_flush_batch(r) < 0)
        return -1;
    rmig_entry *e = rmig_batch_add(&r->b);
    *e = r->cur;
    e->flags |= RMIG_ENTRY_STREAMED;
    e->key = rmig_batch_copy(&r->b, r->cur_key.buf, r->cur_key.len);
    if (r->vf)
        rmig__verify_before_steps(r); /* (its name before the nodes) */
    if (!e->key || rmig_steps_run(r->steps, &r->b, rmig__run_now_ms(), r->err, sizeof r->err) < 0)
        return -1;
    if (rmig__run_write_entries(r, 1) < 0) /* entries the nodes emitted */
        return -1;
    if (e->flags & RMIG_ENTRY_DROPPED) {
        r->dropped++;
        r->big_dropped = 1;
        rmig_batch_reset(&r->b);
        return 0;
    }
    if (r->proxy_dbm && rmig__dbmap_apply(r, r->proxy_dbm, e) < 0)
        return -1;
    if (r->clus) { /* the master of its slot takes all of it */
        int rc = rmig__cluster_route(r, e);
        if (rc != 0) {
            r->big_dropped = 1;
            rmig_batch_reset(&r->b);
            return rc < 0 ? -1 : 0;
        }
    }
    if (r->vf) {
        /* verify: its fingerprint is taken as it is read, then the
         * target's copy is read in pieces (verify_big.c) */
        if (rmig__verify_big_begin(r, e) < 0)
            return -1;
        rmig_batch_reset(&r->b);
        r->big_verify = 1;
        r->pend = (const uint8_t *)r->value.buf;
        r->pend_n = r->value.len;
        return 0;
    }
    r->cur = *e; /* renamed, moved or given another TTL by the nodes */
    r->cur_key.len = 0;
    rmig_out_mem(&r->cur_key, e->key, e->key_len);
    r->cur.key = (const uint8_t *)r->cur_key.buf;
    rmig_batch_reset(&r->b);
    /* what was held goes in slices, as the window allows (on_idle) */
    r->pend = (const uint8_t *)r->value.buf;
    r->pend_n = r->value.len;
    if (!r->native && r->in) { /* a live snapshot cannot be read ahead: native chunks */
        int64_t len = value_length(r);
        if (len >= 0) {
            begin_big_restore(r, (uint64_t)len);
            return 0;
        }
    }
    rmig_redis_unit_begin(r->c);
    rmig_redis_select(r->c, r->cur.db);
    r->big = rmig_chunked_new(&r->cur, rmig_redis_out(r->c));
    if (!r->big) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    if (r->target_version && r->target_version < 8)
        rmig_chunked_hmset(r->big); /* (before Redis 4.0: one field per HSET) */
    r->streamed++;
    return 0;
}

int rmig__run_big_piece(runner *r, const void *p, size_t n)
{
    if (r->big_verify)
        return rmig__verify_big_piece(r, p, n);
    if (r->big_restore) {
        rmig_out_mem(rmig_redis_out(r->c), p, n);
        rmig_dump_add(&r->dump, p, n);
        r->big_sent += n;
        return 0;
    }
    uint64_t before = rmig_chunked_commands(r->big);
    if (rmig_chunked_feed(r->big, p, n, r->err, sizeof r->err) < 0)
        return -1;
    rmig__run_native_done(r, &r->cur, rmig_chunked_commands(r->big) - before);
    return 0;
}

int rmig__run_big_end(runner *r)
{
    uint64_t before = rmig_chunked_commands(r->big);
    int rc = rmig_chunked_finish(r->big, r->err, sizeof r->err);
    if (rc == 0)
        rmig__run_native_done(r, &r->cur, rmig_chunked_commands(r->big) - before);
    rmig_chunked_free(r->big);
    r->big = NULL;
    if (!rmig_redis_unit_end(r->c) && !(r->clus && rmig__cluster_unit_settled(r, r->cw)))
        rmig__run_unit_answered(r, r->cur.db, NULL, 0);
    return rc;
}

