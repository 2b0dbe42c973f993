/* verify.c - `rmig verify` (verify.h): the comparison, in the runner.
 *
 * run.c reads the source and runs the nodes as for `rmig run`; each entry
 * that comes out of them arrives here (rmig__verify_entry) instead of being
 * written. Its expected state (target key and db, kind, expiry, element
 * count, value fingerprint) is kept in a record that travels with the
 * pipelined reads of the target (DUMP + PTTL, or TYPE + PTTL + a count) and
 * is compared when the last of them is answered. Differences are counted
 * by kind; the first --show of each kind are kept for the report, and
 * (for --rounds) every differing key goes to a spill file to be checked
 * again. After the pass: the rounds, then the target's keys, scanned, for
 * keys nothing in the source explains. */
#include "run_internal.h"

#include "cluster_internal.h"
#include "resp.h"
#include "scan_internal.h"
#include "vdigest.h"
#include "verify.h"
#include "verify_internal.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const dnames[D_KINDS] = {"missing", "extra", "type", "value", "ttl", "count"};

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

/* ---- sorted runs of key hashes ---- */

/* Sorts n hashes: LSD radix, 16 bits a pass (qsort's comparisons cost
 * more than the passes for millions of them); tmp holds n. */
static void radix_sort(uint64_t *a, uint64_t *tmp, size_t n)
{
    static size_t count[1 << 16];
    for (int pass = 0; pass < 4; pass++) {
        int sh = pass * 16;
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(a[i] >> sh) & 0xffff]++;
        size_t sum = 0;
        for (size_t i = 0; i < (1 << 16); i++) {
            size_t c = count[i];
            count[i] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i] >> sh) & 0xffff]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
}

static int runs_flush(runs *s)
{
    if (!s->n)
        return 0;
    if (!s->f && !(s->f = tmpfile()))
        return -1;
    if (s->nruns == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        long *st = realloc(s->starts, cap * sizeof *st);
        if (st)
            s->starts = st;
        size_t *ln = realloc(s->lens, cap * sizeof *ln);
        if (ln)
            s->lens = ln;
        if (!st || !ln)
            return -1;
        s->cap = cap;
    }
    uint64_t *tmp = malloc(s->n * sizeof *tmp);
    if (!tmp)
        return -1;
    radix_sort(s->buf, tmp, s->n);
    free(tmp);
    fseek(s->f, 0, SEEK_END);
    s->starts[s->nruns] = ftell(s->f);
    s->lens[s->nruns++] = s->n;
    if (fwrite(s->buf, sizeof *s->buf, s->n, s->f) != s->n)
        return -1;
    s->n = 0;
    return 0;
}

static int runs_add(runs *s, uint64_t h)
{
    if (!s->buf && !(s->buf = malloc(RUN_HASHES * sizeof *s->buf)))
        return -1;
    s->buf[s->n++] = h;
    return s->n == RUN_HASHES ? runs_flush(s) : 0;
}

/* Reads a set of runs back in order, the smallest hash first, each run
 * through a buffer of its own. */
#define MERGE_BUF 4096

typedef struct merger {
    runs *s;
    size_t *pos;              /* per run: hashes taken */
    uint64_t *buf;            /* per run: MERGE_BUF hashes read ahead */
    size_t *have, *at;        /* per run: hashes in its buffer, the next one's index */
} merger;

static int merger_fill(merger *m, size_t i)
{
    size_t left = m->s->lens[i] - m->pos[i];
    size_t want = left < MERGE_BUF ? left : MERGE_BUF;
    m->at[i] = 0;
    m->have[i] = 0;
    if (!want)
        return 0;
    if (fseek(m->s->f, m->s->starts[i] + (long)(m->pos[i] * sizeof(uint64_t)), SEEK_SET) < 0 ||
        fread(m->buf + i * MERGE_BUF, sizeof(uint64_t), want, m->s->f) != want)
        return -1;
    m->have[i] = want;
    return 0;
}

static int merger_open(merger *m, runs *s)
{
    size_t k = s->nruns + 1;
    m->s = s;
    m->pos = calloc(k, sizeof *m->pos);
    m->have = calloc(k, sizeof *m->have);
    m->at = calloc(k, sizeof *m->at);
    m->buf = malloc(k * MERGE_BUF * sizeof *m->buf);
    if (!m->pos || !m->have || !m->at || !m->buf)
        return -1;
    for (size_t i = 0; i < s->nruns; i++)
        if (merger_fill(m, i) < 0)
            return -1;
    return 0;
}

/* The next hash, or 0 with *end set. */
static uint64_t merger_next(merger *m, int *end)
{
    size_t best = SIZE_MAX;
    uint64_t bh = 0;
    for (size_t i = 0; i < m->s->nruns; i++) {
        if (m->at[i] >= m->have[i])
            continue;
        uint64_t h = m->buf[i * MERGE_BUF + m->at[i]];
        if (best == SIZE_MAX || h < bh)
            best = i, bh = h;
    }
    if (best == SIZE_MAX) {
        *end = 1;
        return 0;
    }
    m->pos[best]++;
    if (++m->at[best] == m->have[best] && merger_fill(m, best) < 0)
        m->have[best] = 0; /* (a read error ends the run: reported as extras, never hidden) */
    return bh;
}

static void merger_close(merger *m)
{
    free(m->pos);
    free(m->have);
    free(m->at);
    free(m->buf);
}

static void runs_free(runs *s)
{
    if (s->f)
        fclose(s->f);
    free(s->buf);
    free(s->starts);
    free(s->lens);
    memset(s, 0, sizeof *s);
}

static uint64_t key_hash(uint64_t db, const void *key, size_t len) { return rmig_vhash64(key, len, db * 0x9E3779B97F4A7C15ULL + 1); }

int rmig__verify_unchecked(runner *r, uint64_t db, const void *key, size_t len)
{
    r->vf->unchecked++;
    return runs_add(&r->vf->seen, key_hash(db, key, len));
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
        int64_t want = x->expire_ms >= 0 ? x->expire_ms - now : -1;
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
    if (x->t_kind >= 0 && runs_add(&v->seen, key_hash(x->db, x->key, x->len)) < 0) {
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

vexp *rmig__verify_vexp(const rmig_entry *e, uint64_t sdb, const uint8_t *skey, uint32_t slen)
{
    vexp *x = calloc(1, sizeof *x + e->key_len + slen);
    if (!x)
        return NULL;
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
        if (runs_add(&v->seen, kh) < 0) {
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
    vexp *x = rmig__verify_vexp(e, own ? v->src[i].db : e->db, sk, sl);
    if (!x) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    rmig_vdigest d;
    char err[300] = "";
    if (!v->dg && !(v->dg = rmig_vdigester_new())) {
        snprintf(r->err, sizeof r->err, "out of memory");
        free(x);
        return -1;
    }
    x->rdb_type = e->rdb_type;
    x->rdb_version = e->rdb_version;
    int get = v->full && e->type == RMIG_KIND_STRING; /* GET costs the target less than DUMP */
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
        free(x);
        return -1;
    }
    rmig_redis_select(r->c, e->db);
    if (get) {
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
    case V_GET:
        if (rep->type == REDIS_REPLY_STRING) {
            rmig_vdigest d;
            rmig_vdigest_init(&d, RMIG_KIND_STRING);
            rmig_vdigest_string(&d, rep->str, rep->len);
            rmig_vdigest_final(&d, x->t_digest);
            x->t_count = d.count;
            x->t_kind = RMIG_KIND_STRING;
        } else {
            x->t_kind = rep->type == REDIS_REPLY_ERROR ? -3 : -1; /* WRONGTYPE: another type */
        }
        return;
    case V_TYPE:
        x->t_kind = rep->type == REDIS_REPLY_STATUS ? rmig__verify_kind_of(rep->str) : -1;
        return;
    case V_COUNT:
        x->t_count = rep->type == REDIS_REPLY_INTEGER ? (uint64_t)rep->integer : 0;
        return;
    case V_PTTL:
        x->t_pttl = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
        if (x->t_pttl == -2)
            x->t_kind = -1; /* (gone between the two reads) */
        if (x->raw && x->t_kind >= 0 && !x->same && source_digest(r, x) < 0) {
            free(x);
            return;
        }
        drop_raw(r, x);
        rmig__verify_compare(r, x);
        free(x);
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
        } else if (runs_add(&v->there, h) < 0) {
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
        if (sscanf(p + 3, "%llu:keys=%llu", &db, &keys) == 2) {
            v->tw[v->ndb] = v->info_conn;
            v->dbs[v->ndb++] = db;
            v->target_keys += keys;
        }
    }
    return 0;
}

/* Hashes on the target that the source's keys found there do not match:
 * the extras. Counted; the first --show kept to be named. */
static int compare_runs(runner *r)
{
    rmig_verify *v = r->vf;
    if (runs_flush(&v->seen) < 0 || runs_flush(&v->there) < 0)
        return -1;
    merger a = {0}, b = {0};
    int rc = 0, ea = 0, eb = 0;
    if (merger_open(&a, &v->seen) < 0 || merger_open(&b, &v->there) < 0)
        rc = -1;
    uint64_t x = rc ? 0 : merger_next(&a, &ea), y = rc ? 0 : merger_next(&b, &eb);
    while (!rc && !eb) {
        if (!ea && x < y) {
            x = merger_next(&a, &ea);
        } else if (!ea && x == y) {
            y = merger_next(&b, &eb);
        } else {
            v->extra_total++;
            if (v->extra && v->nextra_h < (size_t)v->show) {
                uint64_t *q = realloc(v->extra_h, (v->nextra_h + 1) * sizeof *q);
                if (q) {
                    v->extra_h = q;
                    v->extra_h[v->nextra_h++] = y;
                }
            }
            y = merger_next(&b, &eb);
        }
    }
    merger_close(&a);
    merger_close(&b);
    return rc;
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

/* Distinct hashes in the runs of keys found on the target. */
static int count_distinct(runs *s, uint64_t *out)
{
    if (runs_flush(s) < 0)
        return -1;
    merger m = {0};
    int end = 0, rc = merger_open(&m, s);
    uint64_t n = 0, last = 0;
    while (!rc) {
        uint64_t h = merger_next(&m, &end);
        if (end)
            break;
        n += !n || h != last;
        last = h;
    }
    merger_close(&m);
    *out = n;
    return rc;
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
        if (count_distinct(&v->seen, &distinct) < 0) {
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
        if (compare_runs(r) < 0) {
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

/* ---- the report ---- */

static void json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c); /* (a byte, as the code point of the same value) */
        else
            fputc(c, f);
    }
    fputc('"', f);
}

int rmig__verify_report(runner *r, const char *pipeline, double secs)
{
    rmig_verify *v = r->vf;
    uint64_t total = 0;
    for (int k = 0; k < D_KINDS; k++)
        total += v->diffs[k];
    printf("verify %s (%s): %llu keys checked in %.2f s", pipeline, v->full ? "full" : "outline",
           (unsigned long long)v->checked, secs);
    if (v->expired)
        printf(", %llu expired at the source (not looked for)", (unsigned long long)v->expired);
    if (v->sampled_out)
        printf(", %llu left out by --sample", (unsigned long long)v->sampled_out);
    if (r->dropped)
        printf(", %llu dropped by the nodes (not looked for)", (unsigned long long)r->dropped);
    printf("\n");
    if (r->failed) {
        printf("  the check did not complete: %s\n", r->err);
    } else if (!total) {
        printf("  no difference: the target holds what the source holds, through the pipeline\n");
    } else {
        printf("  differences:");
        for (int k = 0; k < D_KINDS; k++)
            printf(" %s %llu%s", dnames[k], (unsigned long long)v->diffs[k], k + 1 < D_KINDS ? "," : "\n");
        for (int k = 0; k < D_KINDS; k++) {
            if (!v->diffs[k])
                continue;
            printf("  %s (%llu%s):\n", dnames[k], (unsigned long long)v->diffs[k],
                   v->diffs[k] > v->nfirst[k] ? ", the first shown" : "");
            for (uint32_t i = 0; i < v->nfirst[k]; i++) {
                const shown *s = &v->first[k][i];
                printf("    db %llu \"", (unsigned long long)s->db);
                uint32_t kl = s->len < sizeof s->key ? s->len : (uint32_t)sizeof s->key;
                for (uint32_t j = 0; j < kl; j++) {
                    unsigned char c = (unsigned char)s->key[j];
                    printf(c == '"' || c == '\\' ? "\\%c" : isprint(c) ? "%c" : "\\x%02x", c);
                }
                printf("\"%s: %s\n", s->len > kl ? "... (cut)" : "", s->why);
            }
            if (k == D_EXTRA && !v->extra && v->diffs[k])
                printf("    (--extra names them)\n");
        }
    }
    if (v->report) {
        FILE *f = fopen(v->report, "w");
        if (!f) {
            fprintf(stderr, "rmig verify: --report: cannot write %s: %s\n", v->report, strerror(errno));
            return 1;
        }
        fprintf(f, "{\"pipeline\":");
        json_str(f, pipeline, strlen(pipeline));
        fprintf(f, ",\"mode\":\"%s\",\"ok\":%s,\"complete\":%s,\"checked\":%llu,\"expired\":%llu,\"sampled_out\":%llu,"
                "\"dropped\":%llu,\"rounds\":%d,\"seconds\":%.3f,\"differences\":{",
                v->full ? "full" : "outline", !total && !r->failed ? "true" : "false", r->failed ? "false" : "true",
                (unsigned long long)v->checked, (unsigned long long)v->expired, (unsigned long long)v->sampled_out,
                (unsigned long long)r->dropped, v->round + 1, secs);
        for (int k = 0; k < D_KINDS; k++)
            fprintf(f, "%s\"%s\":%llu", k ? "," : "", dnames[k], (unsigned long long)v->diffs[k]);
        fprintf(f, "},\"keys\":{");
        for (int k = 0; k < D_KINDS; k++) {
            fprintf(f, "%s\"%s\":[", k ? "," : "", dnames[k]);
            for (uint32_t i = 0; i < v->nfirst[k]; i++) {
                const shown *s = &v->first[k][i];
                fprintf(f, "%s{\"db\":%llu,\"key\":", i ? "," : "", (unsigned long long)s->db);
                json_str(f, s->key, s->len < sizeof s->key ? s->len : sizeof s->key);
                if (s->len > sizeof s->key)
                    fprintf(f, ",\"key_bytes\":%u,\"key_cut\":true", s->len);
                fprintf(f, ",\"why\":");
                json_str(f, s->why, strlen(s->why));
                fprintf(f, "}");
            }
            fprintf(f, "]");
        }
        fprintf(f, "}");
        if (r->failed) {
            fprintf(f, ",\"error\":");
            json_str(f, r->err, strlen(r->err));
        }
        fprintf(f, "}\n");
        if (fclose(f) != 0) {
            fprintf(stderr, "rmig verify: --report: cannot write %s: %s\n", v->report, strerror(errno));
            return 1;
        }
    }
    return total || r->failed ? 1 : 0;
}

void rmig__verify_close(runner *r)
{
    rmig_verify *v = r->vf;
    if (v && v->timer_on) {
        v->timer_on = 0;
        uv_close((uv_handle_t *)&v->timer, NULL);
    }
}

void rmig__verify_free(rmig_verify *v)
{
    if (!v)
        return;
    for (int k = 0; k < D_KINDS; k++)
        free(v->first[k]);
    if (v->spill)
        fclose(v->spill);
    if (v->respill)
        fclose(v->respill);
    runs_free(&v->seen);
    runs_free(&v->there);
    free(v->extra_h);
    free(v->src);
    rmig_vdigester_free(v->dg);
    if (v->bp)
        rmig_rdb_free(v->bp);
    rmig__verify_big_free(v->bx);
    free(v);
}

/* ---- rmig run --verify ---- */

/* The arguments of `rmig verify` for the run's pipeline (argv[0] "verify"),
 * with extra ones after; NULL-terminated, malloc'd. */
static char **verify_args(const runner *r, const char *const *extra, int nextra, int *argc)
{
    char **a = calloc((size_t)(2 + 2 * r->nover + nextra + 1), sizeof *a);
    if (!a)
        return NULL;
    int n = 0;
    a[n++] = "verify";
    a[n++] = (char *)r->pipeline_path;
    for (int i = 0; i < r->nover; i++) {
        a[n++] = "-s";
        a[n++] = (char *)r->ovr[i];
    }
    for (int i = 0; i < nextra; i++)
        a[n++] = (char *)extra[i];
    *argc = n;
    return a;
}

int rmig__verify_after(runner *r)
{
    int argc;
    char **argv = verify_args(r, NULL, 0, &argc);
    if (!argv) {
        fprintf(stderr, "rmig run: out of memory\n");
        return 1;
    }
    fprintf(stderr, "rmig run: verifying the target (rmig verify %s)\n", r->pipeline_path);
    int rc = rmig_verify_main(argc, argv);
    free(argv);
    return rc;
}

static void on_verify_exit(uv_process_t *p, int64_t status, int sig)
{
    runner *r = p->data;
    rmig_progress_clear(&r->progress);
    if (sig)
        fprintf(stderr, "rmig run: the verification beside the live run was stopped (signal %d)\n", sig);
    else
        fprintf(stderr, "rmig run: the verification beside the live run ended: %s (exit %lld; its report is above)\n",
                status == 0 ? "no difference" : "differences, or it could not check", (long long)status);
    uv_close((uv_handle_t *)p, NULL);
    r->verify_spawned = 2; /* (closed) */
}

void rmig__verify_spawn(runner *r)
{
    if (!r->verify_after || r->verify_spawned)
        return;
    /* keys still changing are checked again (rounds): a live source does
     * not stand still */
    static const char *const extra[] = {"--rounds", "5", "--delay", "2"};
    int argc;
    char **argv = verify_args(r, extra, 4, &argc);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (!argv || n <= 0) {
        free(argv);
        fprintf(stderr, "rmig run: cannot start the verification (rmig's own path is unknown)\n");
        r->verify_spawned = 2;
        return;
    }
    self[n] = 0;
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args) {
        free(argv);
        return;
    }
    args[0] = self;
    for (int i = 0; i < argc; i++)
        args[i + 1] = argv[i];
    uv_stdio_container_t io[3] = {{.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD, .data.fd = 1},
                                  {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t o = {.exit_cb = on_verify_exit, .file = self, .args = args, .stdio_count = 3, .stdio = io};
    r->vproc.data = r;
    int rc = uv_spawn(&r->loop, &r->vproc, &o);
    free(args);
    free(argv);
    if (rc < 0) {
        fprintf(stderr, "rmig run: cannot start the verification: %s\n", uv_strerror(rc));
        uv_close((uv_handle_t *)&r->vproc, NULL);
        r->verify_spawned = 2;
        return;
    }
    r->verify_spawned = 1;
    rmig_progress_clear(&r->progress);
    fprintf(stderr, "rmig run: caught up: verifying the target beside the live run (rmig verify, 5 rounds)\n");
}

void rmig__verify_spawn_close(runner *r)
{
    if (r->verify_spawned != 1)
        return;
    /* the run ends first: its verification would compare a target no
     * longer followed */
    uv_process_kill(&r->vproc, SIGTERM);
    uv_close((uv_handle_t *)&r->vproc, NULL);
    r->verify_spawned = 2;
}
