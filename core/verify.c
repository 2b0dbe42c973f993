/* verify.c - `rmig verify` (verify.h): the comparison, in the runner.
 *
 * run.c reads the source and runs the nodes as for `rmig run`; each entry
 * that comes out of them arrives here (rmig__verify_entry) instead of being
 * written. Its expected state (target key and db, kind, expiry, element
 * count, value fingerprint) is kept in a record that travels with the
 * pipelined reads of the target (GET, LRANGE or DUMP, then PTTL; or TYPE +
 * PTTL + a count) and is compared when the last of them is answered.
 * Differences are counted by kind; the first --show of each kind are kept
 * for the report, and (for --rounds) every differing key goes to a spill
 * file to be checked again. After the pass: the rounds, then the target's
 * keys, scanned, for keys nothing in the source explains (their hashes in
 * sorted runs, verify_runs.c). The report, and `rmig run --verify`, are in
 * verify_report.c; values too big to hold in verify_big.c. */
#include "run_internal.h"

#include "cluster_internal.h"
#include "resp.h"
#include "scan_internal.h"
#include "vdigest.h"
#include "verify.h"
#include "verify_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_name(int k)
{
    return k == -1 ? "none" : k == -2 ? "(undecodable)" : k == -3 ? "value of another type" : rmig_rdb_kind_name(k);
}

/* ---- options ---- */

static const char usage[] =
    "usage: rmig verify PIPELINE.lua [--mode outline|full] [--rounds N] [--delay S] [--sample RATE]\n"
    "                   [--ttl-tolerance MS] [--extra] [--show N] [--report FILE] [-s path=value]...\n"
    "  compares the pipeline's target with its source, through the pipeline's nodes:\n"
    "  --mode outline   existence, type, TTL and element count\n"
    "  --mode full      the values too, by content (the default)\n"
    "  --rounds N       check differing keys again, N rounds in all (default 1), --delay S apart (default 2)\n"
    "  --sample RATE    check only this fraction of the keys (0 < RATE <= 1)\n"
    "  --ttl-tolerance  TTLs may differ by this much (ms, default 5000)\n"
    "  --extra          list the target's keys that the source does not explain (they are counted anyway)\n"
    "  --show N         keys listed per kind of difference (default 10)\n"
    "  --report FILE    the report as JSON too\n"
    "exit code: 0 no difference, 1 differences (or the check failed), 2 usage\n";

int rmig_verify_main(int argc, char **argv)
{
    rmig_verify *v = calloc(1, sizeof *v);
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!v || !rest) {
        free(v);
        free(rest);
        fprintf(stderr, "rmig verify: out of memory\n");
        return 1;
    }
    v->full = 1;
    v->rounds = 1;
    v->delay_s = 2;
    v->sample = 1;
    v->show = 10;
    v->ttl_tolerance_ms = 5000;
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--extra")) {
            v->extra = 1;
        } else if (!strcmp(a, "--mode") && val && (!strcmp(val, "full") || !strcmp(val, "outline"))) {
            v->full = !strcmp(val, "full"), i++;
        } else if (!strcmp(a, "--rounds") && val && (v->rounds = (int)strtol(val, &end, 10)) >= 1 && !*end) {
            i++;
        } else if (!strcmp(a, "--delay") && val && (v->delay_s = strtod(val, &end)) >= 0 && !*end) {
            i++;
        } else if (!strcmp(a, "--sample") && val && (v->sample = strtod(val, &end)) > 0 && v->sample <= 1 && !*end) {
            i++;
        } else if (!strcmp(a, "--ttl-tolerance") && val && (v->ttl_tolerance_ms = strtoll(val, &end, 10)) >= 0 &&
                   !*end) {
            i++;
        } else if (!strcmp(a, "--show") && val && (v->show = (int)strtol(val, &end, 10)) >= 0 && !*end) {
            i++;
        } else if (!strcmp(a, "--report") && val) {
            v->report = val, i++;
        } else if (!strncmp(a, "--", 2) && strcmp(a, "--help")) {
            fprintf(stderr, "rmig verify: %s%s%s: not understood\n\n%s", a, val ? " " : "", val && a[2] ? val : "",
                    usage);
            free(v);
            free(rest);
            return 2;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    int rc = rmig__run_pipeline(nrest, rest, "verify", usage, v);
    free(rest);
    return rc;
}

static uint64_t key_hash(uint64_t db, const void *key, size_t len) { return rmig_vhash64(key, len, db * 0x9E3779B97F4A7C15ULL + 1); }

int rmig__verify_unchecked(runner *r, uint64_t db, const void *key, size_t len)
{
    r->vf->unchecked++;
    return rmig__vruns_add(&r->vf->seen, key_hash(db, key, len));
}

static void send_scan(runner *r);
static void start_target_scan(runner *r);

/* ---- differences ---- */

static void differ(runner *r, int kind, uint64_t db, const char *key, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void differ(runner *r, int kind, uint64_t db, const char *key, size_t len, const char *fmt, ...)
{
    rmig_verify *v = r->vf;
    v->diffs[kind]++;
    if (v->nfirst[kind] >= (uint32_t)v->show)
        return;
    if (!v->first[kind] && !(v->first[kind] = calloc((size_t)v->show, sizeof(shown))))
        return;
    shown *s = &v->first[kind][v->nfirst[kind]++];
    s->db = db;
    s->len = (uint32_t)len;
    memcpy(s->key, key, len < sizeof s->key ? len : sizeof s->key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
}

/* The key differs in this round: kept for the next one (or reported now,
 * in the last). */
static void spill(runner *r, const vexp *x)
{
    rmig_verify *v = r->vf;
    if (!v->respill && !(v->respill = tmpfile()))
        return;
    uint64_t hdr[4] = {x->sdb, x->slen, x->db, x->len};
    if (fwrite(hdr, sizeof hdr, 1, v->respill) != 1 || fwrite(x->skey, 1, x->slen, v->respill) != x->slen ||
        fwrite(x->key, 1, x->len, v->respill) != x->len)
        return;
    v->spilled++;
}

void rmig__verify_compare(runner *r, vexp *x)
{
    rmig_verify *v = r->vf;
    int64_t now = rmig__run_now_ms();
    if (x->t_kind == -1 && x->expire_ms >= 0 && x->expire_ms <= now + v->ttl_tolerance_ms) {
        /* it expired at the source (or is about to, within the tolerance)
         * while it was being checked: its absence is no difference */
        v->expired++;
        return;
    }
    v->checked++;
    int last = v->round + 1 >= v->rounds;
    int kind = -1;
    char why[160] = "";
    if (x->t_kind == -1) {
        kind = D_MISSING;
        snprintf(why, sizeof why, "a %s on the source, absent on the target", kind_name(x->kind));
    } else if (x->t_kind != x->kind) {
        kind = D_TYPE;
        snprintf(why, sizeof why, "a %s on the source, a %s on the target", kind_name(x->kind), kind_name(x->t_kind));
    } else if (v->full && !x->same && memcmp(x->digest, x->t_digest, 16)) {
        kind = D_VALUE;
        snprintf(why, sizeof why, "values differ (%llu %s on the source, %llu on the target)",
                 (unsigned long long)x->count, x->kind == RMIG_KIND_STRING ? "bytes" : "elements",
                 (unsigned long long)x->t_count);
    } else if (!v->full && x->count != x->t_count) {
        kind = D_COUNT;
        snprintf(why, sizeof why, "%llu elements on the source, %llu on the target", (unsigned long long)x->count,
                 (unsigned long long)x->t_count);
    } else {
        /* (a key whose expiry passed meanwhile has 0 left, not none) */
        int64_t want = x->expire_ms >= 0 ? (x->expire_ms > now ? x->expire_ms - now : 0) : -1;
        int has = x->t_pttl >= 0;
        if ((want >= 0) != has || (has && llabs(want - x->t_pttl) > v->ttl_tolerance_ms)) {
            kind = D_TTL;
            if (want < 0)
                snprintf(why, sizeof why, "no TTL on the source, %lld ms left on the target", (long long)x->t_pttl);
            else if (!has)
                snprintf(why, sizeof why, "%lld ms left on the source, no TTL on the target", (long long)want);
            else
                snprintf(why, sizeof why, "%lld ms left on the source, %lld on the target", (long long)want,
                         (long long)x->t_pttl);
        }
    }
    /* found on the target: explained (the extras are the keys there that no
     * source key was found as) */
    if (x->t_kind >= 0 && rmig__vruns_add(&v->seen, key_hash(x->db, x->key, x->len)) < 0) {
        snprintf(r->err, sizeof r->err, "verify: cannot write a temporary file: %s", strerror(errno));
        r->failed = 1;
    }
    if (kind < 0)
        return;
    if (last || !r->scan)
        differ(r, kind, x->db, x->key, x->len, "%s", why);
    else
        spill(r, x);
}

/* ---- the pass: entries out of the nodes, the target's answers ---- */

void rmig__verify_before_steps(runner *r)
{
    rmig_verify *v = r->vf;
    if (r->b.n > v->capsrc) {
        free(v->src);
        v->capsrc = r->b.cap;
        v->src = malloc(v->capsrc * sizeof *v->src);
        if (!v->src)
            v->capsrc = 0;
    }
    v->nsrc = v->src ? r->b.n : 0;
    for (uint32_t i = 0; i < v->nsrc; i++) {
        v->src[i].db = r->b.e[i].db;
        v->src[i].key = r->b.e[i].key;
        v->src[i].len = r->b.e[i].key_len;
    }
}

static void drop_raw(runner *r, vexp *x)
{
    if (!x->raw)
        return;
    r->vf->raw_held -= x->raw_len;
    free(x->raw);
    x->raw = NULL;
}

vexp *rmig__verify_vexp(rmig_verify *v, const rmig_entry *e, uint64_t sdb, const uint8_t *skey, uint32_t slen)
{
    vexp *x = calloc(1, sizeof *x + e->key_len + slen);
    if (!x)
        return NULL;
    /* (every record is on the list until freed: a check that stops early
     * frees those still awaiting answers) */
    x->lnext = v->live;
    if (v->live)
        v->live->lprev = x;
    v->live = x;
    x->db = e->db;
    x->sdb = sdb;
    x->kind = e->type;
    x->expire_ms = e->expire_ms;
    x->len = e->key_len;
    x->slen = slen;
    memcpy(x->key, e->key, e->key_len);
    x->skey = x->key + e->key_len;
    memcpy(x->skey, skey, slen);
    return x;
}

void rmig__verify_vexp_free(rmig_verify *v, vexp *x)
{
    if (!x)
        return;
    if (x->lprev)
        x->lprev->lnext = x->lnext;
    else if (v->live == x)
        v->live = x->lnext;
    if (x->lnext)
        x->lnext->lprev = x->lprev;
    if (x->raw)
        v->raw_held -= x->raw_len;
    free(x->raw);
    free(x->tvd);
    free(x->svd);
    free(x);
}

/* Outline: TYPE, the count command of the source's type, PTTL. 0, or -1. */
int rmig__verify_outline_reads(runner *r, vexp *x)
{
    static const char *counts[] = {[RMIG_KIND_STRING] = "STRLEN", [RMIG_KIND_LIST] = "LLEN",
                                   [RMIG_KIND_SET] = "SCARD",     [RMIG_KIND_ZSET] = "ZCARD",
                                   [RMIG_KIND_HASH] = "HLEN",     [RMIG_KIND_STREAM] = "XLEN"};
    const char *names[3] = {"TYPE", x->kind < RMIG_KIND_MODULE ? counts[x->kind] : "TYPE", "PTTL"};
    static const int parts[3] = {V_TYPE, V_COUNT, V_PTTL};
    rmig_redis_select(r->c, x->db);
    for (int i = 0; i < 3; i++) {
        const char *argv[2] = {names[i], x->key};
        size_t lens[2] = {strlen(names[i]), x->len};
        rmig__verify_cmd(r, 2, argv, lens);
        if (!rmig__verify_push(r, x, parts[i]))
            return -1;
    }
    return 0;
}

keyrec *rmig__verify_push(runner *r, vexp *x, int part)
{
    keyrec *k = rmig__run_rec_push(r);
    if (!k)
        return NULL;
    k->db = x->db;
    k->key_len = x->len < sizeof k->key ? x->len : (uint32_t)sizeof k->key;
    memcpy(k->key, x->key, k->key_len);
    k->vx = x;
    k->vpart = part;
    rmig_redis_done(r->c, r->tag++);
    return k;
}

void rmig__verify_cmd(runner *r, int argc, const char *const *argv, const size_t *lens)
{
    rmig_out *o = rmig_redis_out(r->c);
    rmig_resp_array(o, (size_t)argc);
    for (int i = 0; i < argc; i++)
        rmig_resp_bulk(o, argv[i], lens[i]);
}

static void cmd2(runner *r, const char *name, const char *key, size_t len)
{
    rmig_out *o = rmig_redis_out(r->c);
    rmig_resp_array(o, 2);
    rmig_resp_bulk_str(o, name);
    rmig_resp_bulk(o, key, len);
}

int rmig__verify_entry(runner *r, const rmig_entry *e)
{
    rmig_verify *v = r->vf;
    uint64_t kh = key_hash(e->db, e->key, e->key_len);
    int out = v->sample < 1 && (double)(kh >> 11) / 9007199254740992.0 >= v->sample;
    int expired = !out && e->expire_ms >= 0 && e->expire_ms <= rmig__run_now_ms();
    if (out || expired) {
        /* not looked for, but explained should the target hold it (an
         * expired key the target has not dropped yet) */
        if (rmig__vruns_add(&v->seen, kh) < 0) {
            snprintf(r->err, sizeof r->err, "verify: cannot write a temporary file: %s", strerror(errno));
            return -1;
        }
        v->sampled_out += out;
        v->expired += expired;
        v->unchecked++;
        return 0;
    }
    uint32_t i = (uint32_t)(e - r->b.e);
    int own = i < v->nsrc && !e->from_node; /* (an entry a node emitted has no source key of its own) */
    const uint8_t *sk = own ? v->src[i].key : e->key;
    uint32_t sl = own ? v->src[i].len : e->key_len;
    vexp *x = rmig__verify_vexp(v, e, own ? v->src[i].db : e->db, sk, sl);
    if (!x) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    rmig_vdigest d;
    char err[300] = "";
    if (!v->dg && !(v->dg = rmig_vdigester_new())) {
        snprintf(r->err, sizeof r->err, "out of memory");
        rmig__verify_vexp_free(v, x);
        return -1;
    }
    x->rdb_type = e->rdb_type;
    x->rdb_version = e->rdb_version;
    /* a string by GET and a short list by LRANGE cost the target less than
     * DUMP (which compresses); other types' replies cost it more */
    int get = v->full && (e->type == RMIG_KIND_STRING || e->type == RMIG_KIND_LIST);
    if (v->full && !get && e->value && v->raw_held + e->value_len <= RAW_HELD_MAX &&
        (x->raw = malloc(e->value_len + 1))) {
        /* decoded only if the target's copy is not the same bytes */
        memcpy(x->raw, e->value, e->value_len);
        x->raw_len = e->value_len;
        v->raw_held += e->value_len;
    } else if (e->value && rmig_vdigester_payload(v->dg, e->rdb_type, e->rdb_version, e->value, (size_t)e->value_len,
                                                  &d, err, sizeof err) == 0) {
        rmig_vdigest_final(&d, x->digest);
        x->count = d.count;
    } else {
        snprintf(r->err, sizeof r->err, "verify: key '%.*s' (db %llu) of the source: %s", (int)(sl < 100 ? sl : 100), sk,
                 (unsigned long long)x->sdb, err[0] ? err : "its value is not held (a value over the limit)");
        rmig__verify_vexp_free(v, x);
        return -1;
    }
    if (get && e->type == RMIG_KIND_LIST && x->count > LRANGE_MAX)
        get = 0; /* a long list: DUMP (LRANGE's reply would cost the target far more than its payload) */
    rmig_redis_select(r->c, e->db);
    if (get && e->type == RMIG_KIND_LIST) {
        const char *argv[4] = {"LRANGE", x->key, "0", "-1"};
        size_t lens[4] = {6, x->len, 1, 2};
        rmig__verify_cmd(r, 4, argv, lens);
        if (!rmig__verify_push(r, x, V_GET))
            return -1;
    } else if (get) {
        cmd2(r, "GET", x->key, x->len);
        if (!rmig__verify_push(r, x, V_GET))
            return -1;
    } else if (v->full) {
        cmd2(r, "DUMP", x->key, x->len);
        if (!rmig__verify_push(r, x, V_DUMP))
            return -1;
    } else {
        return rmig__verify_outline_reads(r, x);
    }
    cmd2(r, "PTTL", x->key, x->len);
    return rmig__verify_push(r, x, V_PTTL) ? 0 : -1;
}

/* The source's value, held raw, decoded after all (the target's copy is
 * not the same bytes). 0, or -1 with the run failed. */
static int source_digest(runner *r, vexp *x)
{
    rmig_vdigest d;
    char err[300] = "";
    int rc = rmig_vdigester_payload(r->vf->dg, x->rdb_type, x->rdb_version, x->raw, (size_t)x->raw_len, &d, err,
                                    sizeof err);
    drop_raw(r, x);
    if (rc < 0) {
        snprintf(r->err, sizeof r->err, "verify: key '%.*s' (db %llu) of the source: %s",
                 (int)(x->slen < 100 ? x->slen : 100), x->skey, (unsigned long long)x->sdb, err);
        r->failed = 1;
        return -1;
    }
    rmig_vdigest_final(&d, x->digest);
    x->count = d.count;
    return 0;
}

int rmig__verify_kind_of(const char *t)
{
    static const char *names[] = {"string", "list", "set", "zset", "hash", "stream"};
    for (int i = 0; i < 6; i++)
        if (!strcmp(t, names[i]))
            return i;
    return !strcmp(t, "none") ? -1 : RMIG_KIND_MODULE;
}

static void scan_reply(runner *r, const redisReply *rep);
static int on_keyspace(const redisReply *rep, void *ud, char *err, size_t errlen);

void rmig__verify_reply(runner *r, keyrec *k, const redisReply *rep)
{
    rmig_verify *v = r->vf;
    if (k->vpart == V_SCAN) {
        scan_reply(r, rep);
        return;
    }
    if (k->vpart == V_INFO) {
        /* a connection's INFO keyspace: its dbs and keys */
        char err[8];
        v->info_conn = r->cw;
        /* (a Twemproxy pool's backends: only its db is the pool) */
        v->only_db = r->clus ? rmig__cluster_pool_db(r) : -1;
        on_keyspace(rep, v, err, sizeof err);
        if (--v->info_left == 0)
            v->scanning = 0; /* (rmig__verify_more decides: counts equal, or a scan) */
        return;
    }
    vexp *x = k->vx;
    if (k->vpart >= V_BTYPE) {
        rmig__verify_big_reply(r, k, rep);
        return;
    }
    switch (k->vpart) {
    case V_DUMP:
        if (rep->type != REDIS_REPLY_STRING) {
            x->t_kind = -1;
        } else if (rep->len < 11) {
            x->t_kind = -2;
        } else if (x->raw && (uint8_t)rep->str[0] == x->rdb_type && rep->len - 11 == x->raw_len &&
                   ((const uint8_t *)rep->str)[rep->len - 10] == (x->rdb_version & 0xff) &&
                   !memcmp(rep->str + 1, x->raw, x->raw_len)) {
            x->same = 1;
            x->t_kind = x->kind;
        } else {
            const uint8_t *p = (const uint8_t *)rep->str;
            rmig_vdigest d;
            char err[200];
            if (x->raw && source_digest(r, x) < 0)
                return;
            int kind = rmig_rdb_type_kind(p[0]);
            err[0] = 0;
            if (kind < 0 || rmig_vdigester_payload(v->dg, p[0], p[rep->len - 10] | (p[rep->len - 9] << 8), p + 1,
                                                   rep->len - 11, &d, err, sizeof err) < 0) {
                x->t_kind = -2;
            } else {
                x->t_kind = kind;
                x->t_count = d.count;
                rmig_vdigest_final(&d, x->t_digest);
            }
        }
        return;
    case V_GET: /* GET of a string, LRANGE 0 -1 of a list */
        if (rep->type == REDIS_REPLY_STRING || (rep->type == REDIS_REPLY_ARRAY && rep->elements)) {
            rmig_vdigest d;
            rmig_vdigest_init(&d, x->kind);
            if (rep->type == REDIS_REPLY_STRING)
                rmig_vdigest_string(&d, rep->str, rep->len);
            for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
                rmig_vdigest_item(&d, rep->element[i]->str, rep->element[i]->len);
            rmig_vdigest_final(&d, x->t_digest);
            x->t_count = d.count;
            x->t_kind = x->kind;
        } else {
            x->t_kind = -1;
            if (rep->type == REDIS_REPLY_ERROR && (rep->len < 9 || memcmp(rep->str, "WRONGTYPE", 9))) {
                /* (NOPERM, say): the check cannot be made */
                snprintf(r->err, sizeof r->err, "verify: the target refused %s of key '%.*s' (db %llu): %.*s",
                         x->kind == RMIG_KIND_LIST ? "LRANGE" : "GET", (int)(x->len < 100 ? x->len : 100), x->key,
                         (unsigned long long)x->db, (int)(rep->len < 200 ? rep->len : 200), rep->str);
                r->failed = 1; /* (run.c ends the run after this answer) */
                x->t_kind = -2;
            } else if (rep->type == REDIS_REPLY_ERROR) {
                /* WRONGTYPE: which type is asked after the PTTL, for the report */
                x->t_kind = -3;
                rmig_redis_select(r->c, x->db);
                cmd2(r, "TYPE", x->key, x->len);
                if (!rmig__verify_push(r, x, V_WTYPE))
                    r->failed = 1;
            }
        }
        return;
    case V_WTYPE:
        x->t_kind = rep->type == REDIS_REPLY_STATUS ? rmig__verify_kind_of(rep->str) : -3;
        rmig__verify_compare(r, x);
        rmig__verify_vexp_free(v, x);
        return;
    case V_TYPE:
        x->t_kind = rep->type == REDIS_REPLY_STATUS ? rmig__verify_kind_of(rep->str) : -1;
        return;
    case V_COUNT:
        x->t_count = rep->type == REDIS_REPLY_INTEGER ? (uint64_t)rep->integer : 0;
        return;
    case V_PTTL:
        x->t_pttl = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
        if (x->t_kind == -3)
            return; /* (compared once TYPE has said which type) */
        if (x->t_pttl == -2)
            x->t_kind = -1; /* (gone between the two reads) */
        if (x->raw && x->t_kind >= 0 && !x->same && source_digest(r, x) < 0) {
            rmig__verify_vexp_free(v, x);
            return;
        }
        drop_raw(r, x);
        rmig__verify_compare(r, x);
        rmig__verify_vexp_free(v, x);
        (void)v;
        return;
    }
}

/* ---- after the pass: rounds, then the target's keys ---- */

static void on_timer(uv_timer_t *t)
{
    runner *r = t->data;
    r->vf->waiting = 0;
    rmig__run_finish(r); /* (which asks rmig__verify_more what is next) */
}

/* The keys that differed, read again from the source (and so compared
 * again): a round. */
static int start_round(runner *r)
{
    rmig_verify *v = r->vf;
    FILE *f = v->spill;
    rewind(f);
    uint64_t hdr[4];
    char *buf = NULL;
    size_t cap = 0;
    while (fread(hdr, sizeof hdr, 1, f) == 1) {
        size_t need = (size_t)(hdr[1] + hdr[3]);
        if (need > cap) {
            free(buf);
            cap = need;
            buf = malloc(cap ? cap : 1);
            if (!buf)
                return -1;
        }
        if (fread(buf, 1, need, f) != need)
            break;
        snode *n = r->scan->nodes[0];
        rmig__scan_read(n, hdr[0], buf, (size_t)hdr[1], 0); /* (a cluster: MOVED sends it on) */
    }
    free(buf);
    fclose(f);
    v->spill = NULL;
    return 0;
}

static void send_scan(runner *r)
{
    rmig_verify *v = r->vf;
    const char *argv[4] = {"SCAN", v->cursor, "COUNT", "10000"};
    rmig__run_use(r, v->tw[v->dbi]);
    rmig_redis_select(r->c, v->dbs[v->dbi]);
    rmig_resp_cmd(rmig_redis_out(r->c), 4, argv);
    keyrec *k = rmig__run_rec_push(r);
    if (k) {
        k->db = v->dbs[v->dbi];
        k->vpart = V_SCAN;
        k->vx = NULL;
    }
    rmig_redis_done(r->c, r->tag++);
    v->scanning = 1;
}

static void scan_reply(runner *r, const redisReply *rep)
{
    rmig_verify *v = r->vf;
    v->scanning = 0;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[1]->type != REDIS_REPLY_ARRAY) {
        snprintf(r->err, sizeof r->err, "verify: the target answered SCAN with %.*s",
                 rep->type == REDIS_REPLY_ERROR ? (int)rep->len : 22,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "something not a cursor");
        r->failed = 1;
        return;
    }
    snprintf(v->cursor, sizeof v->cursor, "%.*s", (int)rep->element[0]->len, rep->element[0]->str);
    const redisReply *keys = rep->element[1];
    uint64_t db = v->dbs[v->dbi];
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        uint64_t h = key_hash(db, k->str, k->len);
        if (v->naming) {
            for (size_t j = 0; j < v->nextra_h; j++)
                if (v->extra_h[j] == h)
                    differ(r, D_EXTRA, db, k->str, k->len, "on the target; nothing in the source explains it");
        } else if (rmig__vruns_add(&v->there, h) < 0) {
            snprintf(r->err, sizeof r->err, "verify: cannot write a temporary file: %s", strerror(errno));
            r->failed = 1;
            return;
        }
    }
    if (!strcmp(v->cursor, "0")) {
        v->dbi++;
        snprintf(v->cursor, sizeof v->cursor, "0");
    }
    if (v->dbi < v->ndb)
        send_scan(r);
}

static int on_keyspace(const redisReply *rep, void *ud, char *err, size_t errlen)
{
    rmig_verify *v = ud;
    (void)err, (void)errlen;
    for (const char *p = rep->type == REDIS_REPLY_STRING ? rep->str : ""; (p = strstr(p, "\ndb")) && v->ndb < 64; p += 3) {
        unsigned long long db;
        unsigned long long keys;
        if (sscanf(p + 3, "%llu:keys=%llu", &db, &keys) == 2 && (v->only_db < 0 || db == (unsigned long long)v->only_db)) {
            v->tw[v->ndb] = v->info_conn;
            v->dbs[v->ndb++] = db;
            v->target_keys += keys;
        }
    }
    return 0;
}

/* A hash on the target that the source's keys found there do not match:
 * an extra. Counted; the first --show kept to be named. */
static void on_extra(void *ud, uint64_t h)
{
    rmig_verify *v = ud;
    v->extra_total++;
    if (v->extra && v->nextra_h < (size_t)v->show) {
        uint64_t *q = realloc(v->extra_h, (v->nextra_h + 1) * sizeof *q);
        if (q) {
            v->extra_h = q;
            v->extra_h[v->nextra_h++] = h;
        }
    }
}

/* The target's keys per db: INFO keyspace on its connection (every
 * master of a cluster). When the keys found there are as many, distinct,
 * as it holds, nothing can be extra and no scan is needed; else its keys
 * are scanned (scan_reply). The connection the pass was writing to stays
 * its current one. */
static void start_target_scan(runner *r)
{
    rmig_verify *v = r->vf;
    wconn *was = r->cw;
    v->target_scan = 1;
    v->owner = r;
    wconn *conns[64];
    int n = 0;
    if (r->clus) {
        for (int i = 0; i < r->clus->nw && n < 64; i++)
            if (r->clus->w[i]->master && r->clus->w[i]->c)
                conns[n++] = r->clus->w[i];
    } else {
        conns[n++] = &r->w0;
    }
    for (int i = 0; i < n; i++) {
        rmig__run_use(r, conns[i]);
        const char *info[] = {"INFO", "keyspace"};
        rmig_resp_cmd(rmig_redis_out(r->c), 2, info);
        keyrec *k = rmig__run_rec_push(r);
        if (k) {
            k->vpart = V_INFO;
            k->vx = NULL;
        }
        rmig_redis_done(r->c, r->tag++);
    }
    v->info_left = n;
    v->scanning = n > 0;
    if (was)
        rmig__run_use(r, was);
}

int rmig__verify_more(runner *r)
{
    rmig_verify *v = r->vf;
    if (r->failed || v->phase == P_DONE)
        return 0;
    if (v->waiting || v->scanning || rmig__run_pending(r) || (r->scan && !rmig__scan_drained(r)))
        return 1; /* (this phase still has work in flight) */
    if (r->b.n) {
        if (rmig__run_flush_batch(r) < 0) {
            r->failed = 1;
            return 0;
        }
        return 1;
    }
    if (v->phase == P_MAIN || v->phase == P_ROUND) {
        if (v->respill && r->scan && v->round + 1 < v->rounds) {
            v->round++;
            v->spill = v->respill;
            v->respill = NULL;
            fprintf(stderr, "rmig verify: %llu keys differ; checking them again in %.1f s (round %d of %d)\n",
                    (unsigned long long)v->spilled, v->delay_s, v->round + 1, v->rounds);
            v->spilled = 0;
            v->phase = P_ROUND;
            if (!v->timer_on) {
                uv_timer_init(&r->loop, &v->timer);
                v->timer.data = r;
                v->timer_on = 1;
            }
            v->waiting = 1;
            uv_timer_start(&v->timer, on_timer, (uint64_t)(v->delay_s * 1000), 0);
            return 1;
        }
        if (v->phase == P_ROUND && v->spill) {
            if (start_round(r) < 0) {
                snprintf(r->err, sizeof r->err, "verify: out of memory");
                r->failed = 1;
                return 0;
            }
            return 1;
        }
        /* the last round: what still differs is reported (compare did);
         * the target's keys were scanned meanwhile (or are now) */
        v->phase = P_EXTRA;
        if (!v->target_scan) {
            start_target_scan(r);
            return v->scanning;
        }
    }
    if (v->phase == P_EXTRA && !v->scan_started && !v->naming) {
        uint64_t distinct = 0;
        if (rmig__vruns_distinct(&v->seen, &distinct) < 0) {
            snprintf(r->err, sizeof r->err, "verify: cannot read a temporary file: %s", strerror(errno));
            r->failed = 1;
            return 0;
        }
        v->scan_started = 1;
        if (!v->unchecked && distinct == v->target_keys) {
            v->phase = P_DONE; /* every key the target holds was found as a source key's */
            return 0;
        }
        /* some keys there are not accounted for: which (by hash) */
        v->dbi = 0;
        snprintf(v->cursor, sizeof v->cursor, "0");
        if (v->ndb) {
            send_scan(r);
            return 1;
        }
    }
    if (v->phase == P_EXTRA && !v->naming) {
        if (rmig__vruns_diff(&r->vf->seen, &r->vf->there, on_extra, r->vf) < 0) {
            snprintf(r->err, sizeof r->err, "verify: cannot read a temporary file: %s", strerror(errno));
            r->failed = 1;
            return 0;
        }
        if (v->nextra_h) {
            /* the target's keys once more, to name the first extras */
            v->naming = 1;
            v->dbi = 0;
            snprintf(v->cursor, sizeof v->cursor, "0");
            send_scan(r);
            return 1;
        }
    }
    if (v->phase == P_EXTRA && v->extra_total > v->diffs[D_EXTRA])
        v->diffs[D_EXTRA] = v->extra_total; /* (counted, the first --show named) */
    v->phase = P_DONE;
    return 0;
}
