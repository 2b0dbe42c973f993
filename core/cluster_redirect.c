/* cluster_redirect.c - the cluster sink's answers that send a command on
 * (see run_cluster.c for the rules): MOVED and ASK, TRYAGAIN, CLUSTERDOWN
 * and LOADING retried with backoff, commands parked in order while they
 * wait, and a dead master's unanswered commands taken over by the master
 * that now serves its slots. */
#include "cluster_internal.h"

#include "resp.h"
#include "slot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- redirections ---- */

/* The slot of the first key in RESP bytes (past commands without one:
 * MULTI, ASKING), or -1. */
static int bytes_slot(const rmig_clus *c, const char *p, size_t n)
{
    const char *end = p + n;
    for (int cmd = 0; cmd < 64 && p < end && *p == '*'; cmd++) {
        long argc = strtol(p + 1, NULL, 10);
        const char *q = memchr(p, '\n', (size_t)(end - p));
        const char *args[2];
        long lens[2];
        int got = 0;
        for (long a = 0; q && a < argc && got < 2; a++) {
            q++;
            if (q >= end || *q != '$')
                return -1;
            long len = strtol(q + 1, NULL, 10);
            q = memchr(q, '\n', (size_t)(end - q));
            if (!q || len < 0 || q + 1 + len + 2 > end)
                return -1;
            args[got] = q + 1;
            lens[got++] = len;
            q += len + 2;
        }
        if (got == 2)
            return (int)rmig__clus_slot(c, args[1], (size_t)lens[1]);
        if (got == 1 && argc == 1 && q) {
            p = q + 1;
            continue;
        }
        return -1;
    }
    return -1;
}

/* "MOVED 3999 127.0.0.1:6381" / "ASK ..." / "TRYAGAIN ..." -> kind, slot, host, port. */
static int redirect_kind(const redisReply *rep, const wconn *w, int *slot, char *host, size_t cap, int *port)
{
    if (rep->type != REDIS_REPLY_ERROR)
        return R_NONE;
    const char *s = rep->str;
    int moved = !strncmp(s, "MOVED ", 6), ask = !strncmp(s, "ASK ", 4);
    if (moved || ask) {
        const char *a = strchr(s + (moved ? 6 : 4), ' ');
        const char *colon = a ? strrchr(a, ':') : NULL;
        if (!colon)
            return R_RETRY;
        *slot = atoi(s + (moved ? 6 : 4));
        if (*slot < 0 || *slot >= RMIG_SLOTS)
            return R_NONE; /* not a redirection of rmig's command (a script's error text, say) */
        size_t hl = (size_t)(colon - a - 1);
        if (hl == 0) /* "MOVED 3999 :6381": the host of the node that said it */
            snprintf(host, cap, "%s", w->host);
        else
            snprintf(host, cap, "%.*s", (int)(hl < cap - 1 ? hl : cap - 1), a + 1);
        *port = atoi(colon + 1);
        return moved ? R_MOVED : R_ASK;
    }
    if (!strncmp(s, "TRYAGAIN", 8) || !strncmp(s, "CLUSTERDOWN", 11) || !strncmp(s, "LOADING", 7) ||
        !strncmp(s, "READONLY", 8) || !strncmp(s, "MASTERDOWN", 10))
        return R_RETRY;
    return R_NONE;
}

static int park(runner *r, const parked *p)
{
    rmig_clus *c = r->clus;
    if (c->pk_len == c->pk_cap) {
        size_t cap = c->pk_cap ? c->pk_cap * 2 : 256;
        parked *q = malloc(cap * sizeof *q);
        if (!q)
            return -1;
        for (size_t i = 0; i < c->pk_len; i++)
            q[i] = c->pk[(c->pk_head + i) % c->pk_cap];
        free(c->pk);
        c->pk = q;
        c->pk_cap = cap;
        c->pk_head = 0;
    }
    c->pk[(c->pk_head + c->pk_len++) % c->pk_cap] = *p;
    if (!c->closing)
        uv_timer_start(&c->timer, rmig__cluster_on_timer, 10, 10);
    return 0;
}

/* The length of the first RESP command in p[0..n), or 0. */
static size_t cmd_len(const char *p, size_t n)
{
    const char *end = p + n, *q = n && *p == '*' ? memchr(p, '\n', n) : NULL;
    long argc = q ? strtol(p + 1, NULL, 10) : 0;
    for (long a = 0; q && a < argc; a++) {
        q++;
        if (q >= end || *q != '$')
            return 0;
        long len = strtol(q + 1, NULL, 10);
        q = memchr(q, '\n', (size_t)(end - q));
        if (!q || len < 0 || q + 1 + len + 2 > end)
            return 0;
        q += len + 2;
    }
    return q ? (size_t)(q + 1 - p) : 0;
}

static void send_to(runner *r, wconn *to, int asking, const char *bytes, size_t n, const keyrec *recs, size_t nrec);

/* A key's native commands sent on by ASK: ASKING holds for one command
 * only (outside MULTI), so each gets its own. 0 when the bytes do not
 * split into nrec commands (then they go as a unit). */
static int ask_each(runner *r, wconn *to, const char *bytes, size_t n, const keyrec *recs, size_t nrec)
{
    size_t at = 0, len[512];
    if (nrec > 512)
        return 0;
    for (size_t i = 0; i < nrec; i++) {
        if (!(len[i] = cmd_len(bytes + at, n - at)))
            return 0;
        at += len[i];
    }
    if (at != n)
        return 0;
    at = 0;
    for (size_t i = 0; i < nrec; i++) {
        send_to(r, to, 1, bytes + at, len[i], &recs[i], 1);
        at += len[i];
    }
    return 1;
}

/* Bytes (one command, or a unit's) with their records, to connection to. */
static void send_to(runner *r, wconn *to, int asking, const char *bytes, size_t n, const keyrec *recs, size_t nrec)
{
    if (asking && nrec > 1 && !recs[0].tx && ask_each(r, to, bytes, n, recs, nrec))
        return;
    wconn *was = r->cw;
    rmig__run_use(r, to);
    if (asking) {
        static const char *a[] = {"ASKING"};
        rmig_resp_cmd(rmig_redis_out(to->c), 1, a);
        rmig_redis_done(to->c, TAG_ASKING);
    }
    if (nrec > 1)
        rmig_redis_unit_begin(to->c);
    rmig_out_mem(rmig_redis_out(to->c), bytes, n);
    for (size_t i = 0; i < nrec; i++) {
        if (!rmig__run_rec_again(r, &recs[i])) {
            snprintf(r->err, sizeof r->err, "out of memory");
            r->failed = 1;
        }
        rmig_redis_done(to->c, r->tag++);
    }
    if (nrec > 1)
        rmig_redis_unit_end(to->c);
    rmig__run_use(r, was);
}

/* A redirected command (or unit) on its way: now when nothing is parked
 * and its master is connected, else parked. */
static void send_on(runner *r, wconn *from, int kind, int slot, const char *host, int port, const char *bytes,
                    size_t n, const keyrec *recs, size_t nrec, const char *why)
{
    rmig_clus *c = r->clus;
    parked p = {.kind = kind, .slot = slot, .to = -1, .from = -1, .first_ms = rmig__clus_now_ms()};
    for (int i = 0; i < c->nw; i++)
        if (c->w[i] == from)
            p.from = i;
    if (kind == R_MOVED || kind == R_ASK) {
        int nw = c->nw;
        p.to = rmig__clus_conn_for(r, host, port);
        if (p.to < 0) {
            snprintf(r->err, sizeof r->err, "out of memory");
            r->failed = 1;
            return;
        }
        if (c->nw > nw)
            c->new_nodes++;
        if (kind == R_MOVED) {
            c->moved++;
            from->draining = 1;
            c->slot_w[slot] = (int16_t)p.to;
            c->w[p.to]->master = 1;
            if (rmig__clus_now_ms() - c->last_say_ms > 5000) {
                c->last_say_ms = rmig__clus_now_ms();
                rmig__clus_say(r, "slot %d moved to %s:%d (MOVED): following it, and reading the slot map again", slot, host,
                    port);
            }
            rmig__clus_refresh(r, c->nw > nw);
        } else {
            c->asked++;
        }
        wconn *to = c->w[p.to];
        if (!c->pk_len && to->ready && !to->retrying && !rmig_redis_midway(to->c)) {
            send_to(r, to, kind == R_ASK, bytes, n, recs, nrec);
            return;
        }
    } else {
        /* backoff: 50 ms, growing with the time it has been refused */
        c->retried++;
        from->draining = 1;
        p.slot = bytes_slot(c, bytes, n);
        if (nrec && recs[0].retry_since)
            p.first_ms = recs[0].retry_since;
        uint64_t waited = p.first_ms < rmig__clus_now_ms() ? rmig__clus_now_ms() - p.first_ms : 0;
        p.due_ms = rmig__clus_now_ms() + 50 + (waited / 4 < 1000 ? waited / 4 : 1000);
        snprintf(p.why, sizeof p.why, "%s", why);
    }
    p.bytes = malloc(n ? n : 1);
    p.recs = malloc((nrec ? nrec : 1) * sizeof *p.recs);
    if (p.bytes && p.recs) {
        memcpy(p.bytes, bytes, n);
        memcpy(p.recs, recs, nrec * sizeof *recs);
        for (size_t i = 0; i < nrec; i++)
            p.recs[i].retry_since = kind == R_RETRY ? p.first_ms : 0;
        p.n = n;
        p.nrec = nrec;
    }
    if (!p.bytes || !p.recs || park(r, &p) < 0) {
        free(p.bytes);
        free(p.recs);
        snprintf(r->err, sizeof r->err, "out of memory");
        r->failed = 1;
    }
}

void rmig__clus_pop_parked(rmig_clus *c)
{
    parked *p = &c->pk[c->pk_head];
    free(p->bytes);
    free(p->recs);
    c->pk_head = (c->pk_head + 1) % c->pk_cap;
    c->pk_len--;
}

/* Parked commands go, in order, as their time comes and their master is
 * connected. */
void rmig__cluster_on_timer(uv_timer_t *t)
{
    runner *r = t->data;
    rmig_clus *c = r->clus;
    uint64_t now = rmig__clus_now_ms();
    while (c->pk_len && !r->failed) {
        parked *p = &c->pk[c->pk_head];
        if (p->due_ms > now)
            break;
        if (p->kind == R_RETRY && r->retry_deadline_s >= 0 &&
            now - p->first_ms > (uint64_t)r->retry_deadline_s * 1000) {
            snprintf(r->err, sizeof r->err, "the cluster kept answering \"%s\" for %d s (sink.retry_deadline_s): "
                     "is it healthy? (redis-cli --cluster check %s:%d)", p->why, r->retry_deadline_s, c->seed,
                     c->seed_port);
            r->failed = 1;
            rmig__run_finish(r);
            return;
        }
        int to = p->to;
        if (p->kind == R_MOVED || (p->kind == R_ASK && (to < 0 || !c->w[to]->c)))
            to = c->slot_w[p->slot]; /* where the slot is now (its master may have changed again) */
        if (p->kind == R_RETRY) {
            if (!strncmp(p->why, "CLUSTERDOWN", 11) || !strncmp(p->why, "READONLY", 8) || !strncmp(p->why, "MASTERDOWN", 10))
                rmig__clus_refresh(r, 0);
            to = p->slot >= 0 ? c->slot_w[p->slot] : p->from;
        }
        if (to < 0 || !c->w[to]->c || !c->w[to]->ready || c->w[to]->retrying || rmig_redis_midway(c->w[to]->c))
            break; /* not connected yet, or a streamed value or unit is being written to it */
        send_to(r, c->w[to], p->kind == R_ASK && to == p->to, p->bytes, p->n, p->recs, p->nrec);
        rmig__clus_pop_parked(c);
    }
    if (!c->pk_len)
        uv_timer_stop(t);
    if (rmig__run_room(r) && !r->eof)
        rmig__run_start_idle(r);
}

/* A master that was lost and serves no slots any more (its replica took
 * over): its unanswered commands go to the master of their slot now, in
 * order, with their records; the connection is closed. 1 when done. */
static int takeover(runner *r, wconn *w)
{
    rmig_clus *c = r->clus;
    size_t cap = w->rec_len + w->ur_len + 4096;
    rmig_redis_cmd *cmds = malloc(cap * sizeof *cmds);
    const char *bytes = NULL;
    size_t k = cmds && !rmig_redis_midway(w->c) && !(r->cw == w && (r->big || r->big_restore))
                   ? rmig_redis_unanswered(w->c, &bytes, cmds, cap)
                   : SIZE_MAX;
    size_t total = 0, recs = 0;
    for (size_t i = 0; k != SIZE_MAX && i < k && i < cap; i++) {
        total += cmds[i].len;
        recs += cmds[i].tag < TAG_ASKING;
    }
    int slot = k && k != SIZE_MAX && k <= cap ? bytes_slot(c, bytes, total) : -1;
    wconn *to = slot >= 0 ? c->w[c->slot_w[slot]] : NULL;
    if (k == SIZE_MAX || k > cap || recs != w->rec_len ||
        (k && (!to || to == w || !to->c || !to->ready || to->retrying || rmig_redis_midway(to->c)))) {
        free(cmds);
        return 0; /* not yet (or a value streamed in pieces was cut: the deadline decides) */
    }
    rmig__clus_say(r, "%s:%d serves no slots any more (its replica took over): its %zu unanswered commands go to %s:%d",
        w->host, w->port, w->rec_len, to ? to->host : "-", to ? to->port : 0);
    /* command by command, units kept as units, so that the new master's
     * connection can send them again or on as the old one would have */
    wconn *was = r->cw == w ? to : r->cw;
    const char *at = bytes;
    for (size_t i = 0; i < k; i++) {
        rmig__run_use(r, to);
        int unit = i + 1 < k && cmds[i + 1].unit == cmds[i].unit;
        if (unit && (i == 0 || cmds[i - 1].unit != cmds[i].unit))
            rmig_redis_unit_begin(to->c);
        rmig_out_mem(rmig_redis_out(to->c), at, cmds[i].len);
        at += cmds[i].len;
        if (cmds[i].tag == RMIG_REDIS_TAG_SKIP) {
            /* the answered start of a unit: its records wait in w->ur */
            for (uint32_t q = 0; q < cmds[i].count; q++) {
                if (q < w->ur_len) {
                    rmig__run_rec_again(r, &w->ur[q]);
                    rmig_redis_done(to->c, r->tag++);
                } else {
                    rmig_redis_done(to->c, TAG_ASKING);
                }
            }
            w->ur_len = 0;
            w->ur_redir = 0;
        } else if (cmds[i].tag < TAG_ASKING) {
            keyrec kr = rmig__run_rec_pop(w);
            rmig__run_rec_again(r, &kr);
            rmig_redis_done(to->c, r->tag++);
        } else {
            rmig_redis_done(to->c, TAG_ASKING); /* ASKING, FUNCTION LOAD: its reply goes nowhere */
        }
        if (i > 0 && cmds[i - 1].unit == cmds[i].unit && !unit)
            rmig_redis_unit_end(to->c);
    }
    rmig__run_use(r, was);
    free(cmds);
    c->moved++;
    rmig_redis_close(w->c, NULL);
    w->c = NULL;
    w->ready = w->retrying = w->draining = w->unit_failed = 0;
    return 1;
}

void rmig__cluster_on_watch(uv_timer_t *t)
{
    runner *r = t->data;
    rmig_clus *c = r->clus;
    int waiting = 0;
    for (int i = 0; i < c->nw; i++) {
        wconn *w = c->w[i];
        if (!w->retrying || !w->c)
            continue;
        rmig__clus_refresh(r, 0);
        if (w->master || !takeover(r, w))
            waiting = 1;
    }
    if (!waiting)
        uv_timer_stop(t);
    if (rmig__run_room(r) && !r->eof)
        rmig__run_start_idle(r);
}

static int reply_inner(runner *r, wconn *w, keyrec *k, const redisReply *rep)
{
    char host[256];
    int slot = -1, port = 0;
    int kind = redirect_kind(rep, w, &slot, host, sizeof host, &port);
    if (k->unit || k->tx) {
        /* a unit is sent on whole, from its first command */
        if (w->ur_len == w->ur_cap) {
            size_t cap = w->ur_cap ? w->ur_cap * 2 : 64;
            keyrec *q = realloc(w->ur, cap * sizeof *q);
            if (!q) {
                snprintf(r->err, sizeof r->err, "out of memory");
                r->failed = 1;
                return 1;
            }
            w->ur = q;
            w->ur_cap = cap;
        }
        w->ur[w->ur_len++] = *k;
        if (kind && !w->ur_redir) {
            w->ur_redir = kind;
            w->ur_slot = (unsigned)slot;
            snprintf(w->ur_to, sizeof w->ur_to, "%s:%d", host, port);
            if (kind == R_RETRY)
                snprintf(w->ur_to, sizeof w->ur_to, "%.*s", (int)(rep->len < 100 ? rep->len : 100), rep->str);
        }
        int redirected = w->ur_redir != 0;
        if (!rmig_redis_unit_last(w->c))
            return redirected || (k->tx && rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "EXECABORT", 9));
        if (redirected) {
            w->unit_failed = 0; /* its errors, if any, were the redirections */
            size_t n;
            const char *bytes = rmig_redis_unit_bytes(w->c, &n);
            if (!n) {
                static const char why[] = "its slot moved while it was written in chunks; run again for this key";
                rmig__run_report_key(r, k, why, (int)sizeof why - 1);
                r->failed_keys++;
                for (size_t i = 0; i < w->ur_len; i++)
                    rmig__run_answered(r, &w->ur[i]);
            } else {
                char uh[256] = "";
                int up = 0;
                const char *colon = strrchr(w->ur_to, ':');
                if (w->ur_redir != R_RETRY && colon) {
                    snprintf(uh, sizeof uh, "%.*s", (int)(colon - w->ur_to), w->ur_to);
                    up = atoi(colon + 1);
                }
                send_on(r, w, w->ur_redir, (int)w->ur_slot, uh, up, bytes, n, w->ur, w->ur_len, w->ur_to);
            }
        } else {
            for (size_t i = 0; i < w->ur_len; i++)
                rmig__run_answered(r, &w->ur[i]);
        }
        w->ur_len = 0;
        w->ur_redir = 0;
        return redirected;
    }
    if (!kind)
        return 0;
    size_t n;
    const char *bytes = rmig_redis_command(w->c, &n);
    if (!n)
        return 0; /* a RESTORE streamed in pieces is not kept: reported as the error it met */
    char why[120];
    snprintf(why, sizeof why, "%.*s", (int)(rep->len < 100 ? rep->len : 100), rep->str);
    send_on(r, w, kind, slot, host, port, bytes, n, k, 1, why);
    return 1;
}

int rmig__cluster_reply(runner *r, wconn *w, keyrec *k, const redisReply *rep)
{
    int rc = reply_inner(r, w, k, rep);
    if (w->draining && rmig_redis_pending(w->c) == 0)
        w->draining = 0;
    return rc;
}

/* A unit whose commands were all answered before it ended (a big key
 * written in pieces): no reply said it was the last, so its records are
 * settled here. 1 when it was redirected (the key is reported failed). */
int rmig__cluster_unit_settled(runner *r, wconn *w)
{
    int redirected = w->ur_redir != 0;
    if (redirected && w->ur_len) {
        static const char why[] = "its slot moved while it was written in pieces; run again for this key";
        rmig__run_report_key(r, &w->ur[0], why, (int)sizeof why - 1);
        r->failed_keys++;
    }
    for (size_t i = 0; i < w->ur_len; i++)
        rmig__run_answered(r, &w->ur[i]);
    w->ur_len = 0;
    w->ur_redir = 0;
    return redirected;
}

