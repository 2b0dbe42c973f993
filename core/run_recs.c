/* run_recs.c - the records of `rmig run`'s commands in flight, one queue
 * per target connection in sending order (the order of its replies), and,
 * for live sources, the stretches of the stream they belong to: the stream
 * counts as applied up to a point once every record written before it is
 * answered, on whichever connection. */
#include "run_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- where a live stream is applied up to ----
 *
 * Records are written in stretches; a stretch ends at a point the stream
 * may resume from (its offset). The stream is applied up to that offset
 * once every record of the stretch and of the ones before it is answered,
 * whichever connection it went to (a cluster has several, answering at
 * their own pace). */

static epoch *ep_at(runner *r, size_t i) { return &r->ep[(r->ep_head + i) % r->ep_cap]; }

static int ep_push(runner *r)
{
    if (r->ep_len == r->ep_cap) {
        size_t cap = r->ep_cap ? r->ep_cap * 2 : 64;
        epoch *q = malloc(cap * sizeof *q);
        if (!q)
            return -1;
        for (size_t i = 0; i < r->ep_len; i++)
            q[i] = *ep_at(r, i);
        free(r->ep);
        r->ep = q;
        r->ep_cap = cap;
        r->ep_head = 0;
    }
    r->ep_len++;
    *ep_at(r, r->ep_len - 1) = (epoch){.src = r->lv_i};
    return 0;
}

/* Closed stretches whose records are all answered, oldest first. */
static void ep_advance(runner *r)
{
    while (r->ep_len > 1 && ep_at(r, 0)->left == 0) {
        epoch e = *ep_at(r, 0);
        r->ep_head = (r->ep_head + 1) % r->ep_cap;
        r->ep_len--;
        r->ep_base++;
        if (e.off > 0)
            rmig__live_applied(r, e.src, e.off, e.sdb);
    }
}

void rmig__run_commit(runner *r, int64_t offset, uint64_t sdb)
{
    if (!r->ep_len && ep_push(r) < 0)
        return;
    epoch *open = ep_at(r, r->ep_len - 1);
    if (open->left == 0) {
        /* nothing written since the last point: it is reached with the
         * stretch before, or now when none is in flight */
        if (r->ep_len == 1) {
            rmig__live_applied(r, r->lv_i, offset, sdb);
        } else if (ep_at(r, r->ep_len - 2)->src == r->lv_i) {
            ep_at(r, r->ep_len - 2)->off = offset;
            ep_at(r, r->ep_len - 2)->sdb = sdb;
        } else {
            /* the stretch before is another source's: this one's point
             * closes an empty stretch of its own behind it */
            open->off = offset;
            open->sdb = sdb;
            open->src = r->lv_i;
            open->left = 0;
            if (ep_push(r) < 0) {
                snprintf(r->err, sizeof r->err, "out of memory");
                r->failed = 1;
            }
        }
        return;
    }
    open->off = offset;
    open->sdb = sdb;
    open->src = r->lv_i;
    if (ep_push(r) < 0) {
        snprintf(r->err, sizeof r->err, "out of memory");
        r->failed = 1;
    }
}

/* A record's command is answered for good (not sent on elsewhere). */
void rmig__run_answered(runner *r, const keyrec *k)
{
    if (!r->live)
        return;
    if (k->offset > 0)
        rmig__live_applied(r, 0, k->offset, k->sdb); /* exactly_once: the EXEC of a batch */
    if (k->epoch < r->ep_base || k->epoch - r->ep_base >= r->ep_len)
        return;
    epoch *e = ep_at(r, (size_t)(k->epoch - r->ep_base));
    if (e->left)
        e->left--;
    ep_advance(r);
}

keyrec *rmig__run_rec_push(runner *r)
{
    wconn *w = r->cw;
    if (w->rec_len == w->rec_cap) {
        size_t cap = w->rec_cap ? w->rec_cap * 2 : 4096;
        keyrec *q = malloc(cap * sizeof *q);
        if (!q)
            return NULL;
        for (size_t i = 0; i < w->rec_len; i++)
            q[i] = w->recs[(w->rec_head + i) % w->rec_cap];
        free(w->recs);
        w->recs = q;
        w->rec_cap = cap;
        w->rec_head = 0;
    }
    keyrec *k = &w->recs[(w->rec_head + w->rec_len++) % w->rec_cap];
    /* a slot used before: no stale flags or offset (the key bytes past
     * key_len are never read) */
    k->unit = k->cmd = k->tx = 0;
    k->key_len = 0;
    k->offset = 0;
    k->sdb = 0;
    k->db = 0;
    k->epoch = 0;
    k->retry_since = 0;
    k->vx = NULL;
    k->vpart = 0;
    if (r->live) {
        if (!r->ep_len && ep_push(r) < 0)
            return NULL;
        k->epoch = r->ep_base + r->ep_len - 1;
        ep_at(r, r->ep_len - 1)->left++;
    }
    return k;
}

/* A record sent on again (a redirection, a retry): a copy of k on the
 * current connection, still in k's stretch of the stream. */
keyrec *rmig__run_rec_again(runner *r, const keyrec *k)
{
    uint64_t live = (uint64_t)r->live;
    r->live = 0;
    keyrec *nk = rmig__run_rec_push(r);
    r->live = (int)live;
    if (nk)
        *nk = *k;
    return nk;
}

keyrec rmig__run_rec_pop(wconn *w)
{
    keyrec k = {0};
    if (w->rec_len) {
        k = w->recs[w->rec_head];
        w->rec_head = (w->rec_head + 1) % w->rec_cap;
        w->rec_len--;
    }
    return k;
}
