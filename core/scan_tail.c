/* scan_tail.c - rmig.source.scan with live = true: the keys a server's
 * keyspace notifications name, read again.
 *
 * Each server gets a second connection subscribed to __keyevent@*__:*
 * before its scan starts, so a change made during the scan is not missed:
 * the key it names is queued (once, however often it is named) and read
 * again on the server's read connection, after whatever was sent there
 * before, so the newest read of a key reaches the target last. A key gone
 * by then (deleted, expired, evicted, renamed or moved away) becomes a DEL.
 * Notifications carry no values, so nothing is lost by reading late: the
 * read sees the key as it is then.
 *
 * Notifications need notify-keyspace-events to hold E (keyevent channels)
 * and every class of A (g$lshzxet). When they are off, rmig turns them on
 * for the run (notify = "set") and puts the old value back at the end; a
 * server that refuses CONFIG (a managed service) cannot be read or
 * changed, so rmig writes a short-lived probe key and waits for its
 * notification: none means they are off, and the run stops naming the
 * parameter to set. A lost subscription loses notifications: the run
 * stops, saying to run again. */
#include "scan_internal.h"

#include "glob.h"
#include "resp.h"
#include "target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_WAIT_MS 3000
#define TAIL_MAX_BYTES ((size_t)256 << 20) /* keys waiting to be read again, at most */

static const char need_classes[] = "g$lshzxet"; /* what "A" stands for (e, evictions, is not probed) */

/* 1 when flags give rmig every notification it needs. */
static int flags_enough(const char *f)
{
    if (!strchr(f, 'E'))
        return 0;
    if (strchr(f, 'A'))
        return 1;
    for (const char *c = need_classes; *c; c++)
        if (!strchr(f, *c))
            return 0;
    return 1;
}

typedef struct conf {
    char value[64];
    int refused;
    char why[200];
} conf;

static int on_config(const redisReply *rep, void *ud, char *err, size_t errlen)
{
    conf *k = ud;
    (void)err, (void)errlen;
    if (rep->type == REDIS_REPLY_ERROR) {
        k->refused = 1;
        snprintf(k->why, sizeof k->why, "%.*s", (int)(rep->len < 150 ? rep->len : 150), rep->str);
    } else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[1]->type == REDIS_REPLY_STRING) {
        snprintf(k->value, sizeof k->value, "%.*s", (int)rep->element[1]->len, rep->element[1]->str);
    } else if (rep->type == REDIS_REPLY_STATUS || rep->type == REDIS_REPLY_STRING) {
        snprintf(k->value, sizeof k->value, "%.*s", (int)rep->len, rep->str);
    }
    return 0;
}

int rmig__tail_open(rmig_scan *s, snode *n, char *err, size_t errlen)
{
    const char *get[] = {"CONFIG", "GET", "notify-keyspace-events"};
    conf k = {0};
    char e[700];
    if (rmig_target_call(n->host, n->port, s->user, s->password, s->tlsp, 3, get, on_config, &k, e, sizeof e) < 0) {
        snprintf(err, errlen, "source: %s", e);
        return -1;
    }
    if (k.refused) {
        /* (a managed service): the settings cannot be read, a probe will tell */
        n->probe_needed = 1;
        return 0;
    }
    if (flags_enough(k.value))
        return 0;
    if (s->notify && !strcmp(s->notify, "require")) {
        snprintf(err, errlen, "source %s:%d: keyspace notifications are off for live (notify-keyspace-events is \"%s\"); "
                 "set notify-keyspace-events to \"KEA\" (or add E and A to it) on the source (CONFIG SET, redis.conf, "
                 "or a managed service's parameter group), or let rmig set it for the run with source.notify = \"set\"",
                 n->host, n->port, k.value);
        return -1;
    }
    char want[80];
    snprintf(want, sizeof want, "%sEA", k.value);
    const char *set[] = {"CONFIG", "SET", "notify-keyspace-events", want};
    conf w = {0};
    if (rmig_target_call(n->host, n->port, s->user, s->password, s->tlsp, 4, set, on_config, &w, e, sizeof e) < 0) {
        snprintf(err, errlen, "source: %s", e);
        return -1;
    }
    if (w.refused) {
        snprintf(err, errlen, "source %s:%d: keyspace notifications are off (notify-keyspace-events is \"%s\") and the "
                 "source refused to turn them on (%s): set notify-keyspace-events to \"KEA\" on the source (redis.conf, "
                 "or a managed service's parameter group), then run again", n->host, n->port, k.value, w.why);
        return -1;
    }
    snprintf(n->notify_orig, sizeof n->notify_orig, "%s", k.value);
    n->notify_changed = 1;
    fprintf(stderr, "rmig run: source %s:%d: notify-keyspace-events was \"%s\"; set to \"%s\" for this run (put back "
            "at its end)\n", n->host, n->port, k.value, want);
    return 0;
}

void rmig__tail_restore(snode *n)
{
    if (!n->notify_changed)
        return;
    n->notify_changed = 0;
    const char *set[] = {"CONFIG", "SET", "notify-keyspace-events", n->notify_orig};
    conf w = {0};
    char e[700];
    if (rmig_target_call(n->host, n->port, n->s->user, n->s->password, n->s->tlsp, 4, set, on_config, &w, e, sizeof e) <
            0 || w.refused)
        fprintf(stderr, "rmig run: source %s:%d: could not put notify-keyspace-events back to \"%s\" (%s): set it by "
                "hand\n", n->host, n->port, n->notify_orig, w.refused ? w.why : e);
}

/* ---- the queue of keys to read again ---- */

static uint32_t hash_of(uint64_t db, const char *key, size_t len)
{
    uint32_t h = 2166136261u ^ (uint32_t)db;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)key[i]) * 16777619u;
    return h;
}

tkey *rmig__tkey_new(uint64_t db, const char *key, size_t len)
{
    tkey *k = malloc(sizeof *k + len + 1);
    if (!k)
        return NULL;
    memset(k, 0, sizeof *k);
    k->db = db;
    k->len = (uint32_t)len;
    memcpy(k->key, key, len);
    k->key[len] = 0;
    k->hash = hash_of(db, key, len);
    return k;
}

static int grow(snode *n)
{
    size_t cap = n->th_cap ? n->th_cap * 2 : 1024;
    tkey **t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < n->th_cap; i++)
        for (tkey *k = n->th[i], *next; k; k = next) {
            next = k->hnext;
            k->hnext = t[k->hash & (cap - 1)];
            t[k->hash & (cap - 1)] = k;
        }
    free(n->th);
    n->th = t;
    n->th_cap = cap;
    return 0;
}

/* Queues (db, key) unless it waits already. 0, or -1 (memory). */
static int enqueue(snode *n, uint64_t db, const char *key, size_t len)
{
    uint32_t h = hash_of(db, key, len);
    if (n->th_cap)
        for (tkey *k = n->th[h & (n->th_cap - 1)]; k; k = k->hnext)
            if (k->hash == h && k->db == db && k->len == len && !memcmp(k->key, key, len))
                return 0;
    if (n->tq_len >= n->th_cap && grow(n) < 0)
        return -1;
    tkey *k = rmig__tkey_new(db, key, len);
    if (!k)
        return -1;
    k->hnext = n->th[h & (n->th_cap - 1)];
    n->th[h & (n->th_cap - 1)] = k;
    if (n->tq_tail)
        n->tq_tail->next = k;
    else
        n->tq_head = k;
    n->tq_tail = k;
    n->tq_len++;
    n->tq_bytes += sizeof *k + len;
    return 0;
}

tkey *rmig__tail_next(snode *n)
{
    tkey *k = n->tq_head;
    if (!k)
        return NULL;
    n->tq_head = k->next;
    if (!n->tq_head)
        n->tq_tail = NULL;
    for (tkey **p = &n->th[k->hash & (n->th_cap - 1)]; *p; p = &(*p)->hnext)
        if (*p == k) {
            *p = k->hnext;
            break;
        }
    n->tq_len--;
    n->tq_bytes -= sizeof *k + k->len;
    k->next = k->hnext = NULL;
    return k;
}

/* ---- the subscription ---- */

/* A published message: ["pmessage", pattern, "__keyevent@<db>__:<event>", key]. */
static void on_message(snode *n, const redisReply *rep)
{
    runner *r = n->r;
    rmig_scan *s = n->s;
    if (rep->elements != 4 || rep->element[2]->type != REDIS_REPLY_STRING || rep->element[3]->type != REDIS_REPLY_STRING)
        return;
    const redisReply *ch = rep->element[2], *key = rep->element[3];
    unsigned long long db = 0;
    if (ch->len < 12 || memcmp(ch->str, "__keyevent@", 11) || sscanf(ch->str + 11, "%llu", &db) != 1)
        return;
    if (rmig__scan_is_probe(n, key->str, key->len)) {
        const char *ev = memchr(ch->str + 11, ':', ch->len - 11);
        if (ev)
            rmig__tail_probe_seen(n, ev + 1, (size_t)(ch->str + ch->len - ev - 1));
        return;
    }
    n->notified++;
    if (s->dbs_listed) {
        int want = 0;
        for (int i = 0; i < s->ndb; i++)
            want |= s->dbs[i] == db;
        if (!want)
            return;
    }
    if (s->match && !rmig_glob_match((const uint8_t *)s->match, strlen(s->match), (const uint8_t *)key->str, key->len, 0))
        return;
    if (enqueue(n, db, key->str, key->len) < 0) {
        rmig__scan_fail(r, "out of memory queueing notified keys");
        return;
    }
    if (n->tq_bytes > TAIL_MAX_BYTES) {
        rmig__scan_fail(r, "source %s:%d: %zu changed keys wait to be read again (%zu MiB): the changes come faster than "
                        "rmig copies them (is the target slow?); run again when the source is less busy",
                        n->host, n->port, n->tq_len, n->tq_bytes >> 20);
        return;
    }
    rmig__run_start_idle(r);
}

static void sub_reply(rmig_redis *c, void *ud, uint64_t tag, const redisReply *rep)
{
    snode *n = ud;
    (void)c;
    if (n->r->failed)
        return;
    if (tag == RMIG_REDIS_TAG_PUSH) {
        on_message(n, rep);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        rmig__scan_fail(n->r, "source %s:%d refused PSUBSCRIBE, which live needs for keyspace notifications: %.*s",
                        n->host, n->port, (int)(rep->len < 300 ? rep->len : 300), rep->str);
        return;
    }
    n->sub_ready = 1; /* ["psubscribe", pattern, 1]: subscribed before the scan starts */
    rmig__run_start_idle(n->r);
}

static void sub_state(rmig_redis *c, void *ud, int state, const char *err, uint64_t unanswered)
{
    snode *n = ud;
    (void)unanswered;
    if (state == RMIG_REDIS_READY) {
        const char *ps[] = {"PSUBSCRIBE", "__keyevent@*__:*"};
        rmig_resp_cmd(rmig_redis_out(c), 2, ps);
        rmig_redis_done(c, 1);
    } else if (state == RMIG_REDIS_FAILED || state == RMIG_REDIS_RETRYING) {
        if (n->s->stopping)
            return;
        rmig__scan_fail(n->r, "source %s:%d: the keyspace notification connection was lost (%s): changes made since may "
                        "have been missed; run again (a live run scans again from the start)", n->host, n->port, err);
    }
}

int rmig__tail_start(snode *n)
{
    rmig_scan *s = n->s;
    rmig_redis_opts o = {.host = n->host, .port = n->port, .user = s->user, .password = s->password,
                         .window = 16, .tls = s->tlsp};
    n->sub = rmig_redis_new(&n->r->loop, &o, sub_reply, sub_state, n);
    if (!n->sub) {
        snprintf(n->r->err, sizeof n->r->err, "out of memory");
        return -1;
    }
    rmig_redis_subscriber(n->sub);
    return rmig_redis_connect(n->sub);
}

int rmig__tail_ready(const snode *n) { return n->sub_ready && (!n->probe_needed || n->probe_seen); }

/* ---- the probe: where CONFIG is refused, one change of every class live
 * needs, each of which must be notified ---- */

static const struct {
    const char *suffix, *event;
    char cls;
} probes[] = {
    {"", "set", '$'},  {":l", "rpush", 'l'}, {":s", "sadd", 's'}, {":h", "hset", 'h'},
    {":z", "zadd", 'z'}, {":x", "xadd", 't'}, {"", "del", 'g'},   {":e", "expired", 'x'},
};
#define NPROBES (sizeof probes / sizeof probes[0])

void rmig__tail_probe_seen(snode *n, const char *event, size_t len)
{
    for (size_t i = 0; i < NPROBES; i++)
        if (strlen(probes[i].event) == len && !memcmp(probes[i].event, event, len))
            n->probe_seen_classes |= 1u << i;
    if (n->probe_seen_classes == (1u << NPROBES) - 1 && !n->probe_seen) {
        n->probe_seen = 1;
        rmig__run_start_idle(n->r);
    }
}

static void probe_cmd(snode *n, int argc, const char **argv)
{
    rmig_resp_cmd(rmig_redis_out(n->c), (size_t)argc, argv);
    rmig_redis_done(n->c, T_MAKE(T_PROBE, 0, 0));
}

/* The probe's keys, deleted when it failed (when it works they are
 * deleted, or expired, by the probe itself). */
static void probe_clean(snode *n)
{
    char k[7][96];
    const char *del[8] = {"DEL"};
    for (int i = 0; i < 7; i++) {
        static const char *sfx[7] = {"", ":l", ":s", ":h", ":z", ":x", ":e"};
        snprintf(k[i], sizeof k[i], "%s%s", n->probe, sfx[i]);
        del[i + 1] = k[i];
    }
    conf w = {0};
    char e[700];
    if (rmig_target_call(n->host, n->port, n->s->user, n->s->password, n->s->tlsp, 8, del, on_config, &w, e,
                         sizeof e) < 0)
        fprintf(stderr, "rmig run: source %s:%d: could not delete the probe keys %s* (%s); they expire within a "
                "minute\n", n->host, n->port, n->probe, e);
}

void rmig__tail_check_probe(snode *n)
{
    if (!n->probe_needed || n->probe_seen || !n->sub_ready || !n->ready || n->s->stopping)
        return;
    char k[7][96];
    const char *sfx[7] = {"", ":l", ":s", ":h", ":z", ":x", ":e"};
    for (int i = 0; i < 7; i++)
        snprintf(k[i], sizeof k[i], "%s%s", n->probe, sfx[i]);
    if (n->probe_step == 0) {
        /* one change of each class, on keys that expire within a minute
         * should rmig die before it deletes them */
        const char *set[] = {"SET", k[0], "1", "PX", "60000"}, *rpush[] = {"RPUSH", k[1], "x"};
        const char *sadd[] = {"SADD", k[2], "x"}, *hset[] = {"HSET", k[3], "f", "v"};
        const char *zadd[] = {"ZADD", k[4], "1", "m"}, *xadd[] = {"XADD", k[5], "*", "f", "v"};
        const char *exp[] = {"SET", k[6], "1", "PX", "1"};
        const char *del[] = {"DEL", k[0], k[1], k[2], k[3], k[4], k[5]};
        probe_cmd(n, 5, set), probe_cmd(n, 3, rpush), probe_cmd(n, 3, sadd), probe_cmd(n, 4, hset);
        probe_cmd(n, 4, zadd), probe_cmd(n, 5, xadd), probe_cmd(n, 5, exp), probe_cmd(n, 7, del);
        n->probe_step = 1;
        n->probe_ms = rmig__scan_ms();
        return;
    }
    if (n->probe_step == 1 && rmig__scan_ms() - n->probe_ms >= 20) {
        const char *exists[] = {"EXISTS", k[6]}; /* expires it (lazily) if the server has not yet */
        probe_cmd(n, 2, exists);
        n->probe_step = 2;
        return;
    }
    if (rmig__scan_ms() - n->probe_ms > PROBE_WAIT_MS) {
        char missing[16] = "";
        size_t m = 0;
        for (size_t i = 0; i < NPROBES; i++)
            if (!(n->probe_seen_classes & (1u << i)) && !strchr(missing, probes[i].cls))
                missing[m++] = probes[i].cls;
        missing[m] = 0;
        probe_clean(n);
        rmig__scan_fail(n->r, "source %s:%d: keyspace notifications are %s: rmig changed keys %s* and no notification "
                        "came in %d s for the classes \"%s\" (the source refuses CONFIG, so the setting cannot be "
                        "read). Set notify-keyspace-events to \"KEA\" on the source (on a managed service such as "
                        "ElastiCache: in its parameter group), then run again",
                        n->host, n->port, m == strlen("$lshztgx") ? "off" : "incomplete", n->probe, PROBE_WAIT_MS / 1000,
                        missing);
    }
}

void rmig__tail_close(snode *n)
{
    if (n->sub) {
        rmig_redis_close(n->sub, NULL);
        n->sub = NULL;
    }
}
