/* verify_big.c - `rmig verify` for values bigger than sink.chunk_bytes:
 * never held whole on either side.
 *
 * The source's value arrives in pieces from the RDB parser (run_big.c's
 * path, as for `rmig run`); here each piece goes to a parser of its own
 * (a one-key stream, as chunked.c does) whose element events make the
 * fingerprint as they come. Then the target's copy is read in pieces too,
 * one at a time on the target connection among the other keys' reads:
 * TYPE and PTTL, then GETRANGE, LRANGE, ZRANGE by rank, HSCAN or SSCAN,
 * each piece's elements folded into the target's fingerprint (order-free
 * for sets, zsets and hashes, so SCAN's order does not matter). A zset is
 * read by rank rather than ZSCAN: ZSCAN formats every score as a long
 * double, which costs the target twice ZRANGE's work. A stream is read with
 * one DUMP: its entries, ids and groups come only whole.
 *
 * A hash or set being rehashed may give an element twice in a SCAN; on a
 * target that is not written to meanwhile that does not happen, and a key
 * that differs for such a reason is checked again by --rounds. */
#include "verify_internal.h"

#include "resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIECE 10000         /* elements asked per piece: one round trip each, among other keys' reads (at most 20000 elements held per reply) */
#define STR_PIECE (1 << 20) /* a string's bytes per GETRANGE */

static void finish_key(runner *r, vexp *x);

/* The expected state of a big value the nodes kept; in full mode the
 * target's copy is read meanwhile (its TYPE and PTTL now, then its pieces):
 * its reading (the target's work) and the source's (rmig's, or the
 * source server's) go side by side. NULL with r->err. */
static vexp *big_vexp(runner *r, const rmig_entry *e, uint64_t sdb, const void *skey, uint32_t slen)
{
    vexp *x = rmig__verify_vexp(r->vf, e, sdb, skey, slen);
    if (x && r->vf->full && !(x->tvd = malloc(sizeof *x->tvd))) {
        rmig__verify_vexp_free(r->vf, x);
        x = NULL;
    }
    if (!x) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return NULL;
    }
    x->tw = r->cw;
    if (r->vf->full) {
        rmig_vdigest_init(x->tvd, x->kind);
        snprintf(x->cursor, sizeof x->cursor, "0");
        const char *argv[2] = {"TYPE", x->key};
        size_t lens[2] = {4, x->len};
        rmig_redis_select(r->c, x->db);
        rmig__verify_cmd(r, 2, argv, lens);
        rmig__verify_push(r, x, V_BTYPE);
        argv[0] = "PTTL";
        rmig__verify_cmd(r, 2, argv, lens);
        rmig__verify_push(r, x, V_BPTTL);
    }
    return x;
}

int rmig__verify_big_begin(runner *r, const rmig_entry *e)
{
    rmig_verify *v = r->vf;
    vexp *x = big_vexp(r, e, v->nsrc ? v->src[0].db : e->db, v->nsrc ? v->src[0].key : e->key,
                       v->nsrc ? v->src[0].len : e->key_len);
    if (!x)
        return -1;
    v->bx = x;
    rmig_vdigest_init(&v->bd, e->type);
    if (!(v->bp = rmig_vdigest_parser(e->rdb_type, e->rdb_version))) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    return 0;
}

vexp *rmig__verify_big_scan_begin(runner *r, const rmig_entry *e, uint64_t sdb, const void *skey, size_t slen)
{
    vexp *x = big_vexp(r, e, sdb, skey, (uint32_t)slen);
    if (x && !(x->svd = malloc(sizeof *x->svd))) {
        snprintf(r->err, sizeof r->err, "out of memory");
        x->src_done = 1, x->skip = 1; /* (freed once the target's reads are answered) */
        if (!r->vf->full)
            rmig__verify_vexp_free(r->vf, x);
        return NULL;
    }
    if (x)
        rmig_vdigest_init(x->svd, e->type);
    return x;
}

/* The parser's events so far, into the source's fingerprint. */
static int drain(runner *r)
{
    rmig_verify *v = r->vf;
    for (;;) {
        rmig_rdb_event ev;
        int got = rmig_rdb_next(v->bp, &ev);
        if (got < 0) {
            snprintf(r->err, sizeof r->err, "verify: key '%.*s' (db %llu) of the source does not decode: %s",
                     (int)(v->bx->slen < 100 ? v->bx->slen : 100), v->bx->skey, (unsigned long long)v->bx->sdb,
                     rmig_rdb_error(v->bp));
            return -1;
        }
        if (got == RMIG_RDB_NEED_MORE || got == RMIG_RDB_EV_KEY_END)
            return 0;
        rmig_vdigest_event(&v->bd, &ev);
    }
}

int rmig__verify_big_piece(runner *r, const void *p, size_t n)
{
    if (rmig_rdb_feed(r->vf->bp, p, n) < 0) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    return drain(r);
}

/* Asks the target for the next piece of x's value. */
static void ask(runner *r, vexp *x)
{
    char a[32], b[32], count[16];
    snprintf(count, sizeof count, "%d", PIECE);
    const char *argv[6];
    size_t lens[6];
    int argc = 0;
#define ARG(s, l) (argv[argc] = (s), lens[argc++] = (l))
    switch (x->kind) {
    case RMIG_KIND_STRING:
        snprintf(a, sizeof a, "%llu", (unsigned long long)x->pos);
        snprintf(b, sizeof b, "%llu", (unsigned long long)(x->pos + STR_PIECE - 1));
        ARG("GETRANGE", 8), ARG(x->key, x->len), ARG(a, strlen(a)), ARG(b, strlen(b));
        break;
    case RMIG_KIND_LIST:
    case RMIG_KIND_ZSET:
        snprintf(a, sizeof a, "%llu", (unsigned long long)x->pos);
        snprintf(b, sizeof b, "%llu", (unsigned long long)(x->pos + PIECE - 1));
        if (x->kind == RMIG_KIND_LIST)
            ARG("LRANGE", 6), ARG(x->key, x->len), ARG(a, strlen(a)), ARG(b, strlen(b));
        else
            ARG("ZRANGE", 6), ARG(x->key, x->len), ARG(a, strlen(a)), ARG(b, strlen(b)), ARG("WITHSCORES", 10);
        break;
    default:
        ARG(x->kind == RMIG_KIND_HASH ? "HSCAN" : "SSCAN", 5);
        ARG(x->key, x->len), ARG(x->cursor, strlen(x->cursor)), ARG("COUNT", 5), ARG(count, strlen(count));
        break;
    }
#undef ARG
    rmig_redis_select(r->c, x->db);
    rmig__verify_cmd(r, argc, argv, lens);
    rmig__verify_push(r, x, V_BPIECE);
}

/* The source's side is read (digest: its fingerprint and count), or it
 * went meanwhile (gone): compared once the target's side is read too. */
static int source_end(runner *r, vexp *x, const rmig_vdigest *digest, int gone)
{
    rmig_verify *v = r->vf;
    rmig_vdigest_final(digest, x->digest);
    x->count = digest->count;
    int expired = gone || (x->expire_ms >= 0 && x->expire_ms <= rmig__run_now_ms());
    if (expired && rmig__verify_unchecked(r, x->db, x->key, x->len) < 0) {
        snprintf(r->err, sizeof r->err, "verify: cannot write a temporary file");
        return -1;
    }
    v->expired += expired && !gone;
    if (v->full) {
        x->src_done = 1;
        x->skip = expired;
        if (x->tgt_done)
            finish_key(r, x);
        return 0;
    }
    if (expired) {
        rmig__verify_vexp_free(r->vf, x);
        return 0;
    }
    /* outline: the element count is enough; the reads go where the key
     * is (other keys' writes may have moved r->cw since its start) */
    wconn *was = r->cw;
    if (x->tw)
        rmig__run_use(r, x->tw);
    int rc = rmig__verify_outline_reads(r, x);
    if (was)
        rmig__run_use(r, was);
    return rc;
}

int rmig__verify_big_end(runner *r)
{
    rmig_verify *v = r->vf;
    vexp *x = v->bx;
    int rc = drain(r);
    rmig_rdb_free(v->bp);
    v->bp = NULL;
    v->bx = NULL;
    if (rc < 0) {
        rmig__verify_vexp_free(r->vf, x);
        return -1;
    }
    return source_end(r, x, &v->bd, 0);
}

int rmig__verify_big_scan_end(runner *r, vexp *x, int gone)
{
    rmig_vdigest d = *x->svd;
    free(x->svd);
    x->svd = NULL;
    return source_end(r, x, &d, gone);
}

/* Both sides read: compared (unless it expired at the source), freed. */
static void finish_key(runner *r, vexp *x)
{
    if (!x->skip)
        rmig__verify_compare(r, x);
    rmig__verify_vexp_free(r->vf, x);
}

/* The target's side is read. */
static void done(runner *r, vexp *x)
{
    if (x->tvd) {
        rmig_vdigest_final(x->tvd, x->t_digest);
        x->t_count = x->tvd->count;
    }
    x->tgt_done = 1;
    if (x->src_done)
        finish_key(r, x);
}

void rmig__verify_big_reply(runner *r, keyrec *k, const redisReply *rep)
{
    vexp *x = k->vx;
    if (k->vpart == V_BTYPE) {
        x->t_kind = rep->type == REDIS_REPLY_STATUS ? rmig__verify_kind_of(rep->str) : -1;
        return;
    }
    if (k->vpart == V_BPTTL) {
        x->t_pttl = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
        if (x->t_kind != x->kind || x->kind == RMIG_KIND_MODULE) {
            done(r, x); /* missing, or another type: nothing to read */
        } else if (x->kind == RMIG_KIND_STREAM) {
            /* (a stream comes only whole) */
            const char *argv[2] = {"DUMP", x->key};
            size_t lens[2] = {4, x->len};
            rmig_redis_select(r->c, x->db);
            rmig__verify_cmd(r, 2, argv, lens);
            rmig__verify_push(r, x, V_BPIECE);
        } else {
            ask(r, x);
        }
        return;
    }
    /* a piece */
    int end = 0;
    if (rep->type == REDIS_REPLY_ERROR) {
        x->t_kind = -2; /* (changed type meanwhile, say): reported as differing */
        end = 1;
    } else if (x->kind == RMIG_KIND_STREAM) {
        rmig_vdigest d;
        char err[200] = "";
        const uint8_t *p = (const uint8_t *)rep->str;
        if (rep->type != REDIS_REPLY_STRING || rep->len < 11 ||
            rmig_vdigester_payload(r->vf->dg ? r->vf->dg : (r->vf->dg = rmig_vdigester_new()), p[0],
                                   p[rep->len - 10] | (p[rep->len - 9] << 8), p + 1, rep->len - 11, &d, err,
                                   sizeof err) < 0)
            x->t_kind = -2;
        else
            *x->tvd = d;
        end = 1;
    } else if (x->kind == RMIG_KIND_STRING) {
        if (rep->type == REDIS_REPLY_STRING)
            rmig_vdigest_string(x->tvd, rep->str, rep->len);
        x->pos += rep->len;
        end = rep->len < STR_PIECE;
    } else if (x->kind == RMIG_KIND_LIST) {
        for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
            rmig_vdigest_item(x->tvd, rep->element[i]->str, rep->element[i]->len);
        x->pos += rep->elements;
        end = rep->elements < PIECE;
    } else if (x->kind == RMIG_KIND_ZSET && rep->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < rep->elements; i += 2)
            rmig_vdigest_zmember_text(x->tvd, rep->element[i]->str, rep->element[i]->len,
                                      rep->element[i + 1]->str, rep->element[i + 1]->len);
        x->pos += rep->elements / 2;
        end = rep->elements < 2 * PIECE;
    } else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[1]->type == REDIS_REPLY_ARRAY) {
        const redisReply *els = rep->element[1];
        for (size_t i = 0; i < els->elements; i++) {
            const redisReply *a = els->element[i];
            if (x->kind == RMIG_KIND_SET) {
                rmig_vdigest_member(x->tvd, a->str, a->len);
            } else if (i + 1 < els->elements) {
                const redisReply *b = els->element[++i];
                rmig_vdigest_field(x->tvd, a->str, a->len, b->str, b->len);
            }
        }
        snprintf(x->cursor, sizeof x->cursor, "%.*s", (int)rep->element[0]->len, rep->element[0]->str);
        end = !strcmp(x->cursor, "0");
    } else {
        x->t_kind = -2;
        end = 1;
    }
    if (end)
        done(r, x);
    else
        ask(r, x);
}
