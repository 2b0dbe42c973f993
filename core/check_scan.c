/* check_scan.c - what `rmig check` says about a source read by SCAN
 * (rmig.source.scan), server by server (every master of a cluster):
 * its version and whether it would take rmig as a replica after all
 * (rmig.source.psync is faster and exact), whether its
 * notify-keyspace-events let source.live follow changes, whether MEMORY
 * USAGE answers (big-key detection), how many keys INFO keyspace counts,
 * and how long the scan would take at the rate the server gives in a short
 * read-only sample (SCAN + DUMP + PTTL, as the run reads). The sample
 * writes nothing and stays on one connection. */
#include "check.h"

#include "cluster.h"
#include "progress.h"
#include "redis_conn.h"
#include "resp.h"
#include "target.h"
#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MAX_DBS 64               /* dbs counted and sampled one by one */
#define SAMPLE_MS 500            /* how long the sample sends new SCAN rounds */
#define SAMPLE_DEADLINE 10000    /* then whatever is unanswered is given up */
#define NOTIFY_NEEDS "g$lshzxet" /* the event classes a live scan subscribes to ("A") */

/* The source options that matter here, read once. */
typedef struct scan_opts {
    const char *user, *password;
    rmig_tls_opts tls, *tlsp;
    uint64_t dbs[MAX_DBS]; /* source.dbs, when listed */
    int ndbs;
    const char *match, *notify;
    long count;
    int64_t rate, big_bytes;
    int live;
} scan_opts;

/* What one server gave, for the totals of a cluster. */
typedef struct server_report {
    uint64_t keys; /* INFO keyspace, within source.dbs */
    double rate;   /* keys/s the sample read, capped by source.rate; 0: not measured */
} server_report;

/* ---- single commands (target.h: a connection each) ---- */

static int on_command_info(const redisReply *r, void *ud, char *err, size_t errlen)
{
    int *known = ud;
    (void)err, (void)errlen;
    /* one element per name asked: nil when the server does not know it (renamed away) */
    *known = r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY ? 1
             : r->type == REDIS_REPLY_ERROR                                                               ? -1
                                                                                                          : 0;
    return 0;
}

typedef struct text_reply {
    int ok;        /* 1 answered, -1 refused (msg says how) */
    char val[128]; /* CONFIG GET's value */
    char msg[160]; /* the error */
} text_reply;

/* A server's error, without the arguments Redis echoes after ", with args". */
static void error_text(char *out, size_t cap, const redisReply *r)
{
    const char *args = strstr(r->str, ", with args");
    size_t n = args ? (size_t)(args - r->str) : r->len;
    snprintf(out, cap, "%.*s", (int)n, r->str);
}

static int on_config_get(const redisReply *r, void *ud, char *err, size_t errlen)
{
    text_reply *t = ud;
    (void)err, (void)errlen;
    if (r->type == REDIS_REPLY_ERROR) {
        t->ok = -1;
        error_text(t->msg, sizeof t->msg, r);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[1]->type == REDIS_REPLY_STRING) {
        t->ok = 1;
        snprintf(t->val, sizeof t->val, "%.*s", (int)r->element[1]->len, r->element[1]->str);
    }
    return 0;
}

static int on_memory_usage(const redisReply *r, void *ud, char *err, size_t errlen)
{
    text_reply *t = ud;
    (void)err, (void)errlen;
    /* nil (no such key) and a number both mean it runs; on a cluster node
     * the probe's name may live on another master, which MOVED says */
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "MOVED ", 6) && strncmp(r->str, "ASK ", 4)) {
        t->ok = -1;
        error_text(t->msg, sizeof t->msg, r);
    } else {
        t->ok = 1;
    }
    return 0;
}

/* INFO keyspace, restricted to source.dbs when it lists any. */
typedef struct keyspace {
    const scan_opts *o;
    uint64_t db[MAX_DBS], keys[MAX_DBS], total;
    int n, got;
} keyspace;

static int wanted_db(const scan_opts *o, uint64_t db)
{
    if (!o->ndbs)
        return 1;
    for (int i = 0; i < o->ndbs; i++)
        if (o->dbs[i] == db)
            return 1;
    return 0;
}

static int on_keyspace(const redisReply *r, void *ud, char *err, size_t errlen)
{
    keyspace *ks = ud;
    (void)err, (void)errlen;
    if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
        return 0;
    ks->got = 1;
    for (const char *p = r->str; (p = strstr(p, "db")) != NULL; p += 2) {
        unsigned long long db, keys;
        if ((p != r->str && p[-1] != '\n') || sscanf(p, "db%llu:keys=%llu", &db, &keys) != 2 ||
            !wanted_db(ks->o, db))
            continue;
        ks->total += keys;
        if (ks->n < MAX_DBS) {
            ks->db[ks->n] = db;
            ks->keys[ks->n++] = keys;
        }
    }
    return 0;
}

/* ---- the sample: SCAN, then DUMP + PTTL of what it returned ---- */

enum { T_SCAN = 1, T_MEM, T_DUMP, T_PTTL };

typedef struct sample {
    rmig_redis *c; /* NULL once closed */
    uv_timer_t deadline;
    const scan_opts *o;
    const uint64_t *dbs;    /* the dbs to walk, in order */
    int ndbs, dbi, use_mem; /* use_mem: MEMORY USAGE first, as the run does, so big keys are not DUMPed */
    char cursor[32];
    char *kbuf;          /* the names of the last SCAN round, awaiting their MEMORY USAGE */
    size_t *koff, nkeys; /* key i is kbuf[koff[i] .. koff[i + 1]) */
    size_t kcap, ocap, mem_left;
    uint64_t start, end; /* uv_hrtime(), ns */
    uint64_t read, bytes, big, gone;
    int failed, done;
    char err[256];
} sample;

static void sample_close(sample *s)
{
    if (s->c) {
        rmig_redis_close(s->c, NULL);
        s->c = NULL;
    }
    if (!uv_is_closing((uv_handle_t *)&s->deadline))
        uv_close((uv_handle_t *)&s->deadline, NULL);
}

/* The next SCAN round, or the end of the sample: past SAMPLE_MS, or every
 * db walked (a small source is read whole). */
static void next_round(sample *s)
{
    if (!strcmp(s->cursor, "0") && s->done) {
        if (++s->dbi >= s->ndbs)
            return;
        s->done = 0;
    }
    if ((uv_hrtime() - s->start) / 1000000 >= SAMPLE_MS || s->dbi >= s->ndbs)
        return;
    rmig_redis_select(s->c, s->dbs[s->dbi]);
    char count[24];
    snprintf(count, sizeof count, "%ld", s->o->count);
    /* no MATCH: every key is read, so the time found is an upper bound */
    const char *argv[] = {"SCAN", s->cursor, "COUNT", count};
    rmig_resp_cmd(rmig_redis_out(s->c), 4, argv);
    rmig_redis_done(s->c, T_SCAN);
}

static void send_key(sample *s, int cmd, const char *key, size_t len, uint64_t tag)
{
    rmig_out *o = rmig_redis_out(s->c);
    if (cmd == T_MEM) {
        rmig_resp_array(o, 3);
        rmig_resp_bulk_str(o, "MEMORY");
        rmig_resp_bulk_str(o, "USAGE");
    } else {
        rmig_resp_array(o, 2);
        rmig_resp_bulk_str(o, cmd == T_DUMP ? "DUMP" : "PTTL");
    }
    rmig_resp_bulk(o, key, len);
    rmig_redis_done(s->c, tag);
}

static void sample_fail(sample *s, const char *what, const redisReply *r)
{
    snprintf(s->err, sizeof s->err, "%s answered %s with: %.*s", rmig_redis_name(s->c), what, (int)r->len,
             r->str);
    s->failed = 1;
    sample_close(s);
}

/* Copies the names of a SCAN round into s (one buffer, reused). 0, or -1 having failed s. */
static int keep_keys(sample *s, const redisReply *ks)
{
    size_t need = 0;
    for (size_t i = 0; i < ks->elements; i++)
        need += ks->element[i]->len;
    char *b = need > s->kcap ? realloc(s->kbuf, need) : s->kbuf;
    size_t *o = ks->elements + 1 > s->ocap ? realloc(s->koff, (ks->elements + 1) * sizeof *o) : s->koff;
    if (b != s->kbuf && b) {
        s->kbuf = b;
        s->kcap = need;
    }
    if (o != s->koff && o) {
        s->koff = o;
        s->ocap = ks->elements + 1;
    }
    if ((need && !b) || !o) {
        snprintf(s->err, sizeof s->err, "out of memory");
        s->failed = 1;
        sample_close(s);
        return -1;
    }
    size_t off = 0;
    for (size_t i = 0; i < ks->elements; i++) {
        s->koff[i] = off;
        memcpy(s->kbuf + off, ks->element[i]->str, ks->element[i]->len);
        off += ks->element[i]->len;
    }
    s->koff[ks->elements] = off;
    s->nkeys = s->mem_left = ks->elements;
    return 0;
}

static void on_sample_reply(rmig_redis *c, void *ud, uint64_t tag, const redisReply *r)
{
    sample *s = ud;
    if (!s->c)
        return;
    s->end = uv_hrtime();
    if (tag == RMIG_REDIS_TAG_SELECT) {
        if (r->type == REDIS_REPLY_ERROR)
            sample_fail(s, "SELECT", r);
        return;
    }
    if (tag == T_SCAN) {
        if (r->type == REDIS_REPLY_ERROR)
            return sample_fail(s, "SCAN", r);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            snprintf(s->err, sizeof s->err, "%s answered SCAN with something else than [cursor, keys]",
                     rmig_redis_name(c));
            s->failed = 1;
            return sample_close(s);
        }
        snprintf(s->cursor, sizeof s->cursor, "%.*s", (int)r->element[0]->len, r->element[0]->str);
        s->done = !strcmp(s->cursor, "0");
        const redisReply *ks = r->element[1];
        if (s->use_mem && ks->elements) {
            /* the DUMPs go out as the sizes come back, after r is freed: keep the names */
            if (keep_keys(s, ks) < 0)
                return;
            for (size_t i = 0; i < ks->elements; i++)
                send_key(s, T_MEM, ks->element[i]->str, ks->element[i]->len, T_MEM);
            return;
        }
        for (size_t i = 0; i < ks->elements; i++) {
            send_key(s, T_DUMP, ks->element[i]->str, ks->element[i]->len, T_DUMP);
            send_key(s, T_PTTL, ks->element[i]->str, ks->element[i]->len, T_PTTL);
        }
        next_round(s);
    } else if (tag == T_MEM) {
        size_t i = s->nkeys - s->mem_left, off = s->koff[i], len = s->koff[i + 1] - off;
        if (r->type == REDIS_REPLY_INTEGER && r->integer > s->o->big_bytes) {
            s->big++; /* the run copies it in chunks: not DUMPed here */
        } else {
            send_key(s, T_DUMP, s->kbuf + off, len, T_DUMP);
            send_key(s, T_PTTL, s->kbuf + off, len, T_PTTL);
        }
        if (--s->mem_left == 0)
            next_round(s);
    } else if (tag == T_DUMP) {
        if (r->type == REDIS_REPLY_ERROR)
            return sample_fail(s, "DUMP", r);
        if (r->type == REDIS_REPLY_STRING)
            s->bytes += r->len;
        else
            s->gone++; /* deleted between SCAN and DUMP */
    } else if (tag == T_PTTL) {
        s->read++;
    }
    if (s->c && !rmig_redis_pending(c) && !s->mem_left)
        sample_close(s); /* every round answered, and no new one sent */
}

static void on_sample_state(rmig_redis *c, void *ud, int state, const char *err, uint64_t unanswered)
{
    sample *s = ud;
    (void)c, (void)unanswered;
    if (state == RMIG_REDIS_READY) {
        s->start = s->end = uv_hrtime();
        snprintf(s->cursor, sizeof s->cursor, "0");
        next_round(s);
        if (s->c && !rmig_redis_pending(s->c))
            sample_close(s); /* nothing to read */
    } else if (state == RMIG_REDIS_FAILED && s->c) {
        snprintf(s->err, sizeof s->err, "%s", err);
        s->failed = 1;
        sample_close(s);
    }
}

static void on_sample_deadline(uv_timer_t *t)
{
    sample *s = t->data;
    snprintf(s->err, sizeof s->err, "%s: the sample was not answered within %d s",
             s->c ? rmig_redis_name(s->c) : "", SAMPLE_DEADLINE / 1000);
    s->failed = s->read == 0;
    sample_close(s);
}

/* Reads for about SAMPLE_MS on a loop of its own. 0 with s filled, -1 with s->err. */
static int run_sample(const char *host, int port, sample *s)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rmig_redis_opts ro = {.host = host,
                          .port = port,
                          .user = s->o->user,
                          .password = s->o->password,
                          .window = 1u << 20,
                          .window_bytes = 1u << 30,
                          .tls = s->o->tlsp};
    s->c = rmig_redis_new(&loop, &ro, on_sample_reply, on_sample_state, s);
    if (!s->c) {
        uv_loop_close(&loop);
        snprintf(s->err, sizeof s->err, "out of memory");
        return -1;
    }
    uv_timer_init(&loop, &s->deadline);
    s->deadline.data = s;
    uv_timer_start(&s->deadline, on_sample_deadline, SAMPLE_DEADLINE, 0);
    rmig_redis_connect(s->c);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(s->kbuf);
    free(s->koff);
    return s->failed ? -1 : 0;
}

/* ---- the report ---- */

static void duration(char *buf, size_t cap, double s)
{
    if (s < 1)
        snprintf(buf, cap, "under a second");
    else if (s < 10)
        snprintf(buf, cap, "about %.1f s", s);
    else if (s < 120)
        snprintf(buf, cap, "about %.0f s", s);
    else if (s < 7200)
        snprintf(buf, cap, "about %.0f min", s / 60);
    else if (s < 172800)
        snprintf(buf, cap, "about %.1f h", s / 3600);
    else
        snprintf(buf, cap, "about %.1f days", s / 86400);
}

static void print_psync(int known, int cluster)
{
    if (known > 0)
        printf("psync     PSYNC is available: %s reads a consistent snapshot and every change; prefer it\n",
               cluster ? "rmig.source.cluster { mode = \"psync\" }" : "rmig.source.psync");
    else if (known == 0)
        printf("psync     PSYNC is refused/renamed: rmig.source.scan is the right source\n");
    else
        printf(
            "psync     whether PSYNC is available cannot be told (COMMAND INFO is refused): rmig.source.scan "
            "works either way\n");
}

/* notify-keyspace-events against what live = true needs. 0, or 1 when a
 * live run would stop at its start. */
static int print_notify(const char *addr, const scan_opts *o, const text_reply *cfg)
{
    if (cfg->ok != 1) {
        printf("notify    notify-keyspace-events cannot be read (CONFIG GET refused: %s): %s\n",
               cfg->ok < 0 ? cfg->msg : "no answer",
               o->live
                   ? "the live run probes them with a short-lived key write and stops when no event comes; "
                     "the source needs notify-keyspace-events \"KEA\" (on ElastiCache, set in the parameter "
                     "group)"
                   : "a live run (source.live) probes them with a short-lived key write");
        return 0;
    }
    char missing[16] = "";
    size_t m = 0;
    int all = strchr(cfg->val, 'A') != NULL;
    if (!strchr(cfg->val, 'E'))
        missing[m++] = 'E';
    for (const char *c = NOTIFY_NEEDS; *c && !all; c++)
        if (!strchr(cfg->val, *c))
            missing[m++] = *c;
    missing[m] = 0;
    if (!m) {
        printf("notify    notify-keyspace-events is \"%s\": live = true works as it is%s\n", cfg->val,
               o->live ? "" : " (source.live is off)");
        return 0;
    }
    if (!o->live) {
        printf("notify    notify-keyspace-events is \"%s\" (lacks %s): live = true would need \"KEA\"; "
               "notify = \"set\" turns them on for the run, notify = \"require\" would stop\n",
               cfg->val, missing);
        return 0;
    }
    if (strcmp(o->notify, "require")) {
        printf(
            "notify    notify-keyspace-events is \"%s\" (lacks %s): notify = \"set\" sets them for the run "
            "(CONFIG SET, the old value put back at the end)\n",
            cfg->val, missing);
        return 0;
    }
    printf("problem   %s: notify-keyspace-events is \"%s\" (lacks %s) and notify = \"require\": the live run "
           "will "
           "stop; set the parameter notify-keyspace-events to \"KEA\" on the source (on ElastiCache, in its "
           "parameter group), or use notify = \"set\"\n",
           addr, cfg->val, missing);
    return 1;
}

static void print_memory(const scan_opts *o, const text_reply *mem)
{
    char b[32];
    rmig_progress_bytes(b, sizeof b, (double)o->big_bytes);
    if (!o->big_bytes)
        printf("memory    source.big_bytes = 0: every key will be read with one DUMP\n");
    else if (mem->ok == 1)
        printf(
            "memory    MEMORY USAGE works: keys using more than %s (source.big_bytes) are copied in chunks\n",
            b);
    else
        printf("memory    MEMORY USAGE is refused (%s): every key will be read with one DUMP, however big\n",
               mem->ok < 0 ? mem->msg : "no answer");
}

static void print_keys(const scan_opts *o, const keyspace *ks)
{
    if (!ks->got) {
        printf("keys      unknown (INFO keyspace is refused)\n");
        return;
    }
    printf("keys      %llu", (unsigned long long)ks->total);
    for (int i = 0; i < ks->n; i++)
        printf("%sdb %llu: %llu", i ? ", " : " (", (unsigned long long)ks->db[i],
               (unsigned long long)ks->keys[i]);
    printf("%s%s", ks->n ? ")" : "", o->ndbs ? " in source.dbs" : "");
    if (o->match)
        printf("; source.match \"%s\" reads only the keys matching it: an upper bound", o->match);
    printf("\n");
}

/* One server: everything above. 0, 1 unreachable or unusable as configured. */
static int check_server(const char *label, const char *addr, const char *host, int port, const scan_opts *o,
                        int cluster, const char *where, int *rdb_version, server_report *rep)
{
    char err[1024];
    rmig_target_info ti;
    memset(rep, 0, sizeof *rep);
    if (rmig_target_probe(host, port, o->user, o->password, o->tlsp, &ti, err, sizeof err) < 0) {
        printf("%s %s  [%s]\n          cannot be reached: %s\n", label, addr, where, err);
        return 1;
    }
    *rdb_version = ti.rdb_version;
    printf("%s %s: %s %s, RDB %d%s%s%s\n", label, addr, ti.valkey[0] ? "Valkey" : "Redis",
           ti.valkey[0] ? ti.valkey : ti.redis, ti.rdb_version, where ? "  [" : "", where ? where : "",
           where ? "]" : "");

    int known = 0;
    const char *ci[] = {"COMMAND", "INFO", "PSYNC"};
    rmig_target_call(host, port, o->user, o->password, o->tlsp, 3, ci, on_command_info, &known, err,
                     sizeof err);
    print_psync(known, cluster);

    text_reply cfg = {0};
    const char *cg[] = {"CONFIG", "GET", "notify-keyspace-events"};
    rmig_target_call(host, port, o->user, o->password, o->tlsp, 3, cg, on_config_get, &cfg, err, sizeof err);
    int rc = print_notify(addr, o, &cfg);

    text_reply mem = {0};
    const char *mu[] = {"MEMORY", "USAGE", "rmig:check:probe"};
    if (o->big_bytes)
        rmig_target_call(host, port, o->user, o->password, o->tlsp, 3, mu, on_memory_usage, &mem, err,
                         sizeof err);
    print_memory(o, &mem);

    keyspace ks = {.o = o};
    const char *ik[] = {"INFO", "keyspace"};
    rmig_target_call(host, port, o->user, o->password, o->tlsp, 2, ik, on_keyspace, &ks, err, sizeof err);
    print_keys(o, &ks);
    rep->keys = ks.total;

    /* the sample walks the dbs the run would read (a cluster has db 0 only) */
    uint64_t zero = 0;
    sample s = {.o = o,
                .dbs = cluster   ? &zero
                       : o->ndbs ? o->dbs
                                 : ks.db,
                .ndbs = cluster   ? 1
                        : o->ndbs ? o->ndbs
                                  : ks.n,
                .use_mem = o->big_bytes && mem.ok == 1};
    if (!ks.total) {
        printf("estimate  %s\n",
               ks.got ? "nothing to scan" : "none: without a key count there is no time to tell");
        return rc;
    }
    if (run_sample(host, port, &s) < 0) {
        printf("estimate  none: the sample read failed: %s\n", s.err);
        return rc ? rc : 1;
    }
    double secs = (double)(s.end - s.start) / 1e9, rate = secs > 0 ? (double)(s.read + s.big) / secs : 0;
    if (!rate) {
        printf("estimate  none: the sample read no key\n");
        return rc;
    }
    char r[32], bps[32], t[32], total[32];
    rmig_progress_count(r, sizeof r, rate);
    rmig_progress_bytes(bps, sizeof bps, (double)s.bytes / secs);
    printf("estimate  the source gave %s keys/s (%s/s of DUMP payloads) in a %.0f ms sample of %llu keys%s "
           "(SCAN COUNT %ld, DUMP + PTTL, pipelined)",
           r, bps, secs * 1000, (unsigned long long)(s.read + s.big), s.dbi >= s.ndbs ? ", every one" : "",
           o->count);
    if (s.big)
        printf("; %llu of them over source.big_bytes (copied in chunks, slower)", (unsigned long long)s.big);
    printf("\n");
    if (o->rate && (double)o->rate < rate) {
        rate = (double)o->rate;
        printf("          source.rate caps it at %lld keys/s\n", (long long)o->rate);
    }
    duration(t, sizeof t, (double)ks.total / rate);
    rmig_progress_count(total, sizeof total, (double)ks.total);
    printf("          %s to scan %s keys%s: the source side only, the target may be slower\n", t, total,
           o->match ? " (at most: source.match reads fewer)" : "");
    rep->rate = rate;
    return rc;
}

int rmig_check_scan_source(lua_State *L, int opts, const char *where, int *rdb_version)
{
    scan_opts o;
    memset(&o, 0, sizeof o);
    const char *addr = rmig_vm_str(L, opts, "addr"), *pw_env = rmig_vm_str(L, opts, "password_env");
    o.user = rmig_vm_str(L, opts, "user");
    o.password = rmig_vm_str(L, opts, "password");
    o.match = rmig_vm_str(L, opts, "match");
    o.notify = rmig_vm_str(L, opts, "notify");
    o.notify = o.notify ? o.notify : "set";
    o.count = (long)rmig_vm_int(L, opts, "count", 1000);
    o.rate = rmig_vm_int(L, opts, "rate", 0);
    o.big_bytes = rmig_vm_int(L, opts, "big_bytes", 8 << 20);
    o.live = rmig_vm_bool(L, opts, "live", 0);
    int want_cluster = rmig_vm_bool(L, opts, "cluster", -1); /* -1: when addr is a cluster node */
    const char *ctor = "rmig.source.scan";
    if (pw_env && !(o.password = getenv(pw_env))) {
        printf("source    %s %s  [%s]\n          source.password_env names %s, which is not set\n", ctor,
               addr, where, pw_env);
        return 2;
    }
    o.tlsp = rmig_vm_tls(L, opts, &o.tls);
    lua_getfield(L, opts, "dbs");
    for (size_t i = 1; lua_istable(L, -1) && i <= lua_objlen(L, -1) && o.ndbs < MAX_DBS; i++) {
        lua_rawgeti(L, -1, (int)i);
        o.dbs[o.ndbs++] = (uint64_t)lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    char host[256], err[1024], label[300];
    int port = 0;
    rmig_target_split_addr(addr, host, sizeof host, &port);
    snprintf(label, sizeof label, "source    %s", ctor);
    rmig_target_info ti;
    if (rmig_target_probe(host, port, o.user, o.password, o.tlsp, &ti, err, sizeof err) < 0) {
        printf("source    %s %s  [%s]\n          cannot be reached: %s\n", ctor, addr, where, err);
        return 1;
    }
    int is_cluster = !strcmp(ti.mode, "cluster");
    server_report rep;
    if (want_cluster == 0 || (want_cluster < 0 && !is_cluster)) {
        int rc = check_server(label, addr, host, port, &o, 0, where, rdb_version, &rep);
        if (is_cluster)
            printf("note      %s is a cluster node and source.cluster = false: only its own keys are read\n",
                   addr);
        return rc;
    }
    if (!is_cluster) {
        printf("source    %s %s  [%s]\n          source.cluster = true, but %s is not a cluster node "
               "(cluster_enabled:0): leave source.cluster out to read it alone\n",
               ctor, addr, where, addr);
        return 2;
    }
    rmig_cluster_map m = {0};
    if (rmig_cluster_map_fetch(host, port, o.user, o.password, o.tlsp, &m, err, sizeof err) < 0) {
        printf("source    %s %s  [%s]\n          %s\n", ctor, addr, where, err);
        rmig_cluster_map_free(&m);
        return 1;
    }
    printf("source    %s %s: a cluster of %d masters, each scanned (db 0)  [%s]\n", ctor, addr, m.nmasters,
           where);
    if (o.ndbs && (o.ndbs > 1 || o.dbs[0] != 0))
        printf("note      a cluster has db 0 only: source.dbs reads nothing else\n");
    if (m.unassigned)
        printf("risk      %u slots of the source have no master: their keys are not read\n", m.unassigned);
    int rc = 0, measured = 1;
    uint64_t keys = 0;
    double slowest = 0, sum = 0;
    for (int i = 0; i < m.nmasters; i++) {
        const rmig_cluster_node *n = &m.nodes[i];
        char a[300];
        snprintf(a, sizeof a, strchr(n->host, ':') ? "[%s]:%d" : "%s:%d", n->host, n->port);
        int mrc = check_server("  master ", a, n->host, n->port, &o, 1, NULL, rdb_version, &rep);
        rc = mrc > rc ? mrc : rc;
        keys += rep.keys;
        if (rep.keys && !rep.rate) {
            measured = 0;
        } else if (rep.keys) {
            double t = (double)rep.keys / rep.rate;
            slowest = t > slowest ? t : slowest;
            sum += t;
        }
    }
    printf("keys      %llu over %d masters\n", (unsigned long long)keys, m.nmasters);
    rmig_cluster_map_free(&m);
    if (measured && keys) {
        /* the run reads every master at once: the slowest one sets the
         * time (the sum is what one connection would take) */
        char a[32];
        duration(a, sizeof a, slowest);
        printf("estimate  %s with the masters read in parallel, as the run does (the slowest master; %.0f s of "
               "source reading in all): the source side only\n",
               a, sum);
    }
    return rc;
}
