/* run_cluster.c - rmig.sink.cluster: the runner's writes spread over the
 * masters of a Redis Cluster.
 *
 * The slot map is read once at the start (cluster.h) and every master gets
 * a connection of its own (redis_conn.h, the writer rmig.sink.redis uses);
 * each entry goes to the master serving its key's slot. The runner's
 * window is the tightest of them: a slow master holds the others back
 * rather than letting memory grow.
 *
 * Redirections are followed as a cluster client must:
 * - MOVED: the slot has a new master (a slot moved, a failover). The map
 *   learns the slot at once, the command is sent on, and the connection that
 *   said MOVED drains: nothing new goes anywhere until its earlier commands
 *   are answered, because they may be redirected too and a key's commands
 *   must reach its new master in order. A master not seen before gets a
 *   connection, and the whole map is read again (at most once a second).
 * - ASK: the slot is being migrated and this key is already on the
 *   importing master: ASKING, then the command, there; the map stays.
 * - TRYAGAIN, CLUSTERDOWN, LOADING, READONLY: sent again after a backoff,
 *   to the master of its slot then, until sink.retry_deadline_s.
 * - A master lost: its connection is opened again (redis_conn.h) while
 *   nothing new is sent; if it died and its replica took over its slots
 *   (the map, read every second, says so), its unanswered commands go to
 *   the new master, in order, and the old connection is closed.
 * A unit (a key's native commands, a transaction of the source) is sent on
 * whole, from its first command, when any of its commands is redirected.
 * Commands waiting to be sent on are parked in order; new commands wait
 * behind them.
 *
 * Databases: a cluster has only db 0. A key of another db is an error
 * (sink.dbs = "error": the run stops and says how to map it), goes to db 0
 * ("merge"), or gets the prefix sink.db_prefix ("prefix").
 *
 * Commands of a live stream: one whose keys share a slot goes to its
 * master; one without keys (FLUSHALL, FUNCTION ...) to every master; DEL,
 * UNLINK, MSET and the like, whose keys span slots, are split into one
 * command per slot; any other command whose keys span slots cannot run on
 * a cluster and is reported failed with its keys. A MULTI/EXEC block of the
 * source goes whole to one master when its keys share a slot; otherwise
 * sink.multi decides: "split" (command by command, counted) or "fail"
 * (reported failed with its keys). */
#include "cluster_internal.h"

#include "cmdtable.h"
#include "codis.h"
#include "resp.h"
#include "slot.h"
#include "target.h"
#include "twemproxy.h"
#include "vm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rmig__clus_say(runner *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rmig_progress_clear(&r->progress);
    fputs("rmig run: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- connections and the map ---- */

static int find_conn(const rmig_clus *c, const char *host, int port)
{
    for (int i = 0; i < c->nw; i++)
        if (c->w[i]->c && c->w[i]->port == port && !strcmp(c->w[i]->host, host))
            return i;
    return -1; /* (a closed one is not used again: a new connection is opened) */
}

/* A connection to host:port, opened now unless it exists. -1 (memory). */
int rmig__clus_conn_for(runner *r, const char *host, int port)
{
    rmig_clus *c = r->clus;
    int i = find_conn(c, host, port);
    if (i >= 0)
        return i;
    if (c->nw == c->wcap) {
        int cap = c->wcap ? c->wcap * 2 : 8;
        wconn **q = realloc(c->w, (size_t)cap * sizeof *q);
        if (!q)
            return -1;
        c->w = q;
        c->wcap = cap;
    }
    wconn *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->r = r;
    snprintf(w->host, sizeof w->host, "%s", host);
    w->port = port;
    rmig_redis_opts o = c->o;
    o.host = w->host;
    o.port = port;
    w->c = rmig_redis_new(&r->loop, &o, rmig__run_on_reply, rmig__run_on_state, w);
    if (!w->c) {
        free(w);
        return -1;
    }
    c->w[c->nw] = w;
    rmig_redis_connect(w->c);
    return c->nw++;
}

/* The map's masters into connections and slot_w; a slot the map leaves
 * unassigned (a failover under way) keeps its last master. */
static int apply_map(runner *r)
{
    rmig_clus *c = r->clus;
    int idx[512];
    if (c->map.nmasters > 512)
        return -1;
    for (int m = 0; m < c->map.nmasters; m++)
        if ((idx[m] = rmig__clus_conn_for(r, c->map.nodes[m].host, c->map.nodes[m].port)) < 0)
            return -1;
    for (int i = 0; i < c->nw; i++)
        c->w[i]->master = 0;
    for (int m = 0; m < c->map.nmasters; m++)
        c->w[idx[m]]->master = 1;
    for (int s = 0; s < RMIG_SLOTS; s++) {
        if (c->map.slot[s] < 0)
            continue;
        int16_t was = c->slot_w[s], now = (int16_t)idx[c->map.slot[s]];
        /* commands in flight to the slot's old master may come back MOVED:
         * nothing new goes out until they are answered (order per key) */
        if (was >= 0 && was != now && c->w[was]->c && rmig_redis_pending(c->w[was]->c))
            c->w[was]->draining = 1;
        c->slot_w[s] = now;
    }
    return 0;
}

/* The map read again from a master we know (or the seed address), at most
 * once a second unless forced. */
void rmig__clus_refresh(runner *r, int force)
{
    rmig_clus *c = r->clus;
    if (c->twem)
        return; /* (a pool's placement is its config file's) */
    uint64_t now = rmig__clus_now_ms();
    if (!force && now - c->last_refresh_ms < 1000)
        return;
    c->last_refresh_ms = now;
    char err[512];
    for (int i = 0; i <= c->nw; i++) {
        const char *host = i == c->nw ? c->seed : c->w[i]->host;
        int port = i == c->nw ? c->seed_port : c->w[i]->port;
        if (i < c->nw && (!c->w[i]->master || !c->w[i]->c || c->w[i]->retrying))
            continue; /* (a lost master would only make the loop wait for its timeout) */
        if (rmig_cluster_map_fetch(host, port, c->user, c->password, c->has_tls ? &c->tls : NULL, &c->map, err,
                                   sizeof err) == 0) {
            c->refreshes++;
            if (apply_map(r) < 0) {
                snprintf(r->err, sizeof r->err, "out of memory");
                r->failed = 1;
            }
            return;
        }
    }
}

int rmig__cluster_open(runner *r, lua_State *L, int so, const char *host, int port, const char *user,
                       const char *password, const rmig_tls_opts *tls, uint64_t *keys)
{
    rmig_clus *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    r->clus = c;
    c->user = user;
    c->password = password;
    if (tls) {
        c->tls = *tls;
        c->has_tls = 1;
    }
    snprintf(c->seed, sizeof c->seed, "%s", host);
    c->seed_port = port;
    const char *multi = rmig_vm_str(L, so, "multi");
    rmig__dbmap_init(&c->dbm, L, so, 0, "a cluster has only db 0");
    c->multi_fail = multi && !strcmp(multi, "fail");
    for (int s = 0; s < RMIG_SLOTS; s++)
        c->slot_w[s] = -1;
    char err[512];
    if (rmig_cluster_map_fetch(host, port, user, password, tls, &c->map, err, sizeof err) < 0) {
        snprintf(r->err, sizeof r->err, "%s", err);
        if (strstr(err, "not a cluster"))
            r->failed = 2;
        return -1;
    }
    if (c->map.unassigned) {
        snprintf(r->err, sizeof r->err, "%u of the cluster's 16384 slots have no master (asked %s:%d): fix the "
                 "cluster first (redis-cli --cluster check %s:%d tells what is wrong)", c->map.unassigned, host, port,
                 host, port);
        r->failed = 2;
        return -1;
    }
    /* an empty cluster lets RESTORE skip REPLACE (run.c): every master counts */
    *keys = 0;
    for (int m = 0; m < c->map.nmasters; m++) {
        rmig_target_info ti;
        const rmig_cluster_node *n = &c->map.nodes[m];
        if (rmig_target_probe(n->host, n->port, user, password, tls, &ti, err, sizeof err) < 0) {
            snprintf(r->err, sizeof r->err, "master %s:%d: %s", n->host, n->port, err);
            return -1;
        }
        *keys += ti.keys;
    }
    c->last_refresh_ms = rmig__clus_now_ms();
    return 0;
}

/* A farm written as a cluster whose "slots" are its servers (server i
 * serves slot i): a Twemproxy pool's backends, a Codis deployment's group
 * masters; rmig__clus_slot places keys on them. 0, or -1 with r->err. */
static int open_farm(runner *r, lua_State *L, int so, const rmig_farm_server *sv, size_t n, const char *user,
                     const char *password, const rmig_tls_opts *tls, uint64_t *keys, const char *what)
{
    rmig_clus *c = calloc(1, sizeof *c);
    if (!c || n > 512 || !(c->map.nodes = calloc(n, sizeof *c->map.nodes))) {
        free(c);
        snprintf(r->err, sizeof r->err, n > 512 ? "more than 512 %s" : "out of memory", what);
        return -1;
    }
    r->clus = c;
    c->user = user;
    c->password = password;
    if (tls) {
        c->tls = *tls;
        c->has_tls = 1;
    }
    rmig__dbmap_init(&c->dbm, L, so, 0, "it has one keyspace"); /* (the callers say which) */
    c->multi_fail = 1; /* (a transaction whose keys are on several servers cannot run as one) */
    c->map.nnodes = c->map.nmasters = (int)n;
    for (int s = 0; s < RMIG_SLOTS; s++)
        c->slot_w[s] = -1, c->map.slot[s] = s < (int)n ? (int16_t)s : -1;
    *keys = 0;
    for (size_t i = 0; i < n; i++) {
        rmig_cluster_node *nd = &c->map.nodes[i];
        snprintf(nd->host, sizeof nd->host, "%s", sv[i].host);
        nd->port = sv[i].port;
        nd->master = 1;
        nd->master_of = -1;
        rmig_target_info ti;
        char err[512];
        if (rmig_target_probe(nd->host, nd->port, user, password, tls, &ti, err, sizeof err) < 0) {
            char at[300];
            snprintf(r->err, sizeof r->err, "%s %s: %s", what, rmig_target_addr(at, sizeof at, nd->host, nd->port),
                     err);
            return -1;
        }
        *keys += ti.keys;
    }
    c->last_refresh_ms = rmig__clus_now_ms();
    return 0;
}

int rmig__cluster_open_pool(runner *r, lua_State *L, int so, const rmig_twem_pool *p, const char *user,
                            const char *password, const rmig_tls_opts *tls, uint64_t *keys)
{
    if (p->dist == RMIG_TWEM_RANDOM && p->nservers > 1) {
        snprintf(r->err, sizeof r->err, "pool '%s' has distribution: random, so a key has no backend of its own: "
                 "write through the proxy (direct = false)", p->name);
        r->failed = 2;
        return -1;
    }
    if (rmig_twem_pool_db(p) < 0) {
        snprintf(r->err, sizeof r->err, "pool '%s' has TCP and unix-socket backends and redis_db %d: nutcracker 0.5.0 "
                 "selects db %d only on the TCP ones (a unix socket connects before it can), so the pool's keys are "
                 "in db %d of some backends and db 0 of others: %s", p->name, p->redis_db, p->redis_db, p->redis_db,
                 r->vf ? "rmig verify cannot read such a pool back (give every backend the same kind of address)"
                       : "write through the proxy (direct = false), or give every backend the same kind of address");
        r->failed = 2;
        return -1;
    }
    rmig_farm_server *sv = calloc(p->nservers ? p->nservers : 1, sizeof *sv);
    if (!sv) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < p->nservers; i++) {
        snprintf(sv[i].host, sizeof sv[i].host, "%s", p->servers[i].host);
        sv[i].port = p->servers[i].port;
    }
    char what[300];
    snprintf(what, sizeof what, "backend of pool '%s'", p->name);
    int rc = open_farm(r, L, so, sv, p->nservers, user, password, tls, keys, what);
    free(sv);
    if (rc == 0) {
        r->clus->twem = p;
        /* (not always redis_db: see rmig_twem_pool_db; rmig__twem_sink_open
         * refused a pool of two dbs) */
        r->clus->dbm.to_db = (uint64_t)rmig_twem_pool_db(p);
        r->clus->dbm.what = "a Twemproxy pool has one keyspace";
    }
    return rc;
}

int rmig__cluster_open_codis(runner *r, lua_State *L, int so, const rmig_codis_topo *t, const char *user,
                             const char *password, const rmig_tls_opts *tls, uint64_t *keys)
{
    rmig_farm_server *sv = calloc(t->ngroups ? t->ngroups : 1, sizeof *sv);
    if (!sv) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < t->ngroups; i++) {
        snprintf(sv[i].host, sizeof sv[i].host, "%s", t->groups[i].host);
        sv[i].port = t->groups[i].port;
    }
    /* (one password for every master: the sink's, else the first group's) */
    int rc = open_farm(r, L, so, sv, t->ngroups, user, password ? password : t->groups[0].password, tls, keys,
                       "group master");
    free(sv);
    if (rc == 0) {
        r->clus->codis = t;
        r->clus->dbm.what = "Codis keeps every key in db 0";
    }
    return rc;
}

int rmig__cluster_connect(runner *r, const rmig_redis_opts *o)
{
    rmig_clus *c = r->clus;
    c->o = *o;
    uv_timer_init(&r->loop, &c->timer);
    uv_timer_init(&r->loop, &c->watch);
    c->timer.data = c->watch.data = r;
    c->timer_init = 1;
    if (apply_map(r) < 0) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return -1;
    }
    rmig__run_use(r, c->w[0]);
    if (c->codis) {
        fprintf(stderr, "rmig run: Codis: %d group masters, each key on its slot's group (crc32 %% 1024)\n",
                c->map.nmasters);
        return 0;
    }
    if (c->twem) {
        fprintf(stderr, "rmig run: pool '%s': %d backends, each key where nutcracker looks for it (%s, %s), in db "
                "%llu\n", c->twem->name, c->map.nmasters, rmig_twem_hash_name(c->twem->hash),
                rmig_twem_dist_name(c->twem->dist), (unsigned long long)c->dbm.to_db);
        return 0;
    }
    fprintf(stderr, "rmig run: the cluster has %d masters:", c->map.nmasters);
    for (int m = 0; m < c->map.nmasters; m++)
        fprintf(stderr, " %s:%d (%u slots)", c->map.nodes[m].host, c->map.nodes[m].port, c->map.nodes[m].nslots);
    fputc('\n', stderr);
    return 0;
}

/* ---- databases and routing ---- */

void rmig__dbmap_init(rmig_dbmap *m, lua_State *L, int so, uint64_t to_db, const char *what)
{
    const char *dbs = rmig_vm_str(L, so, "dbs");
    memset(m, 0, sizeof *m);
    m->dbs = dbs && !strcmp(dbs, "merge") ? DBS_MERGE : dbs && !strcmp(dbs, "prefix") ? DBS_PREFIX : DBS_ERROR;
    m->db_prefix = rmig_vm_str(L, so, "db_prefix");
    if (!m->db_prefix)
        m->db_prefix = "db%d:";
    m->to_db = to_db;
    m->what = what;
}

static int db_error(runner *r, const rmig_dbmap *m, const void *key, size_t n, uint64_t db)
{
    snprintf(r->err, sizeof r->err, "key \"%.*s\" is in db %llu, and %s: map it in the pipeline's nodes with "
             "rmig.filter.db { map = { [%llu] = 0 } }, or set the sink's dbs = \"merge\" (all into db 0) or dbs = "
             "\"prefix\" (db_prefix before each key)", (int)(n < 100 ? n : 100), (const char *)key,
             (unsigned long long)db, m->what, (unsigned long long)db);
    r->exit2 = 1; /* (the pipeline must change: exit 2, whatever stops the run then) */
    return -1;
}

/* The prefix of db's keys into buf; its length. */
static size_t db_prefix(const rmig_dbmap *m, uint64_t db, char *buf, size_t cap)
{
    char fmt[128];
    snprintf(fmt, sizeof fmt, "%s", m->db_prefix);
    char *d = strstr(fmt, "%d");
    if (!d)
        return 0;
    d[1] = 's'; /* printed as text: the format is the user's, the number ours */
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)db);
    int k = snprintf(buf, cap, fmt, num);
    return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}

/* The entry's name (at < 0) or its command key number `at` with the prefix
 * of the entry's db. 0, or -1 (memory). */
static int prefix_one(runner *r, const rmig_dbmap *m, rmig_entry *e, int at)
{
    const uint8_t *key = at < 0 ? e->key : e->argv[e->keys[at]].p;
    size_t n = at < 0 ? e->key_len : (size_t)e->argv[e->keys[at]].n;
    char pre[160];
    size_t pn = db_prefix(m, e->db, pre, sizeof pre);
    uint8_t *buf = malloc(pn + n + 1);
    int rc = -1;
    if (buf) {
        memcpy(buf, pre, pn);
        memcpy(buf + pn, key, n);
        rc = at < 0 ? rmig_batch_set_key(&r->b, e, buf, pn + n) : rmig_batch_set_key_at(&r->b, e, (uint32_t)at, buf, pn + n);
        free(buf);
    }
    if (rc < 0)
        snprintf(r->err, sizeof r->err, "out of memory");
    return rc < 0 ? -1 : 0;
}

int rmig__dbmap_apply(runner *r, rmig_dbmap *m, rmig_entry *e)
{
    int cmd = e->kind == RMIG_ENTRY_CMD;
    if (e->db == 0) {
        e->db = m->to_db; /* (a pool's db 0 is its redis_db on the backends) */
        return 0;
    }
    if (m->dbs == DBS_ERROR) {
        const rmig_slice *a = cmd ? &e->argv[e->argc > 1 ? 1 : 0] : NULL;
        return db_error(r, m, cmd ? a->p : e->key, cmd ? (size_t)a->n : e->key_len, e->db);
    }
    if (m->dbs == DBS_PREFIX) {
        if (!cmd && prefix_one(r, m, e, -1) < 0)
            return -1;
        for (uint32_t i = 0; cmd && i < e->nkeys; i++)
            if (prefix_one(r, m, e, (int)i) < 0)
                return -1;
        m->prefixed++;
    } else {
        m->merged++;
    }
    e->db = m->to_db;
    return 0;
}

/* An entry (a key, or a command and its keys) of a db other than 0 into db
 * 0 by sink.dbs. 0, or -1 with r->err. */
static int db_zero(runner *r, rmig_entry *e) { return rmig__dbmap_apply(r, &r->clus->dbm, e); }

int64_t rmig__cluster_pool_db(const runner *r) { return r->clus->twem ? (int64_t)r->clus->dbm.to_db : -1; }

unsigned rmig__clus_slot(const rmig_clus *c, const void *key, size_t len)
{
    if (c->codis)
        return (unsigned)c->codis->slot[rmig_codis_slot(key, len)];
    return c->twem ? (unsigned)rmig_twem_route(c->twem, key, len) : rmig_slot_of(key, len);
}

int rmig__cluster_route(runner *r, rmig_entry *e)
{
    if (db_zero(r, e) < 0)
        return -1;
    rmig__run_use(r, r->clus->w[r->clus->slot_w[rmig__clus_slot(r->clus, e->key, e->key_len)]]);
    return 0;
}

static unsigned key_slot(const rmig_clus *c, const rmig_entry *e, uint32_t i)
{
    const rmig_slice *a = &e->argv[e->keys[i]];
    return rmig__clus_slot(c, a->p, a->n);
}

/* A command that cannot run on a cluster: reported with its keys and slots. */
static void cross_slot(runner *r, const rmig_entry *e, const char *what)
{
    char why[600];
    int n = snprintf(why, sizeof why, "%s: its keys are in different slots (", what);
    for (uint32_t i = 0; i < e->nkeys && n < (int)sizeof why - 80; i++) {
        const rmig_slice *a = &e->argv[e->keys[i]];
        n += snprintf(why + n, sizeof why - (size_t)n, "%s\"%.*s\" %u", i ? ", " : "", (int)(a->n < 40 ? a->n : 40),
                      (const char *)a->p, key_slot(r->clus, e, i));
    }
    n += snprintf(why + n, sizeof why - (size_t)n, "); a cluster cannot run it, so it was not applied");
    keyrec k = {.db = e->db, .cmd = 1};
    k.key_len = (uint32_t)(e->argv[0].n < 60 ? e->argv[0].n : 60);
    memcpy(k.key, e->argv[0].p, k.key_len);
    rmig__run_report_key(r, &k, why, n < (int)sizeof why ? n : (int)sizeof why - 1);
    r->failed_keys++;
    r->clus->cross_slot++;
}

/* One command to the master(s) of its keys; 0, or -1 with r->err. */
static int write_one(runner *r, rmig_entry *e, int tx)
{
    rmig_clus *c = r->clus;
    if (e->nkeys == 0) {
        /* FLUSHALL, FUNCTION LOAD, SCRIPT FLUSH ...: every master */
        for (int i = 0; i < c->nw; i++) {
            if (!c->w[i]->master)
                continue;
            rmig__run_use(r, c->w[i]);
            if (rmig__run_write_cmd_args(r, e, NULL, 0, tx) < 0)
                return -1;
        }
        c->broadcast++;
        return 0;
    }
    unsigned s0 = key_slot(r->clus, e, 0);
    uint32_t i;
    for (i = 1; i < e->nkeys && key_slot(r->clus, e, i) == s0; i++)
        ;
    if (i == e->nkeys) {
        rmig__run_use(r, c->w[c->slot_w[s0]]);
        return rmig__run_write_cmd_args(r, e, NULL, 0, tx);
    }
    if (!e->split_group) {
        char what[80];
        snprintf(what, sizeof what, "%.*s", (int)(e->argv[0].n < 40 ? e->argv[0].n : 40), (const char *)e->argv[0].p);
        cross_slot(r, e, what);
        return 0;
    }
    /* DEL k1 k2 ..., MSET k1 v1 k2 v2 ...: one command per slot, in the
     * order the slots first appear */
    uint32_t *args = malloc(((size_t)e->nkeys * e->split_group + 1) * sizeof *args);
    uint8_t *done = calloc(e->nkeys, 1);
    int rc = 0;
    for (uint32_t a = 0; args && done && a < e->nkeys && rc == 0; a++) {
        if (done[a])
            continue;
        unsigned s = key_slot(r->clus, e, a);
        uint32_t na = 0;
        args[na++] = 0;
        for (uint32_t b = a; b < e->nkeys; b++) {
            if (done[b] || key_slot(r->clus, e, b) != s)
                continue;
            done[b] = 1;
            for (uint32_t g = 0; g < e->split_group && e->keys[b] + g < e->argc; g++)
                args[na++] = e->keys[b] + g;
        }
        rmig__run_use(r, c->w[c->slot_w[s]]);
        rc = rmig__run_write_cmd_args(r, e, args, na, tx);
    }
    if (!args || !done) {
        snprintf(r->err, sizeof r->err, "out of memory");
        rc = -1;
    }
    free(args);
    free(done);
    c->split++;
    return rc;
}

int rmig__cluster_write_cmd(runner *r, rmig_entry *e)
{
    int rc = 0;
    /* a MULTI or EXEC whose block a full batch cut: its commands went one by one */
    if (!(e->cmd_flags & RMIG_CMD_TX_MARK))
        rc = db_zero(r, e) < 0 ? -1 : write_one(r, e, 0);
    if (rc == 0 && e->offset > 0)
        rmig__run_commit(r, e->offset, e->stream_db);
    return rc;
}

static int is_exec(const rmig_entry *e)
{
    return (e->cmd_flags & RMIG_CMD_TX_MARK) && e->argc && (e->argv[0].p[0] | 0x20) == 'e';
}

int rmig__cluster_transaction(runner *r, uint32_t i, uint32_t *end)
{
    rmig_clus *c = r->clus;
    uint32_t j = i + 1;
    while (j < r->b.n && !is_exec(&r->b.e[j]))
        j++;
    *end = i;
    if (j == r->b.n)
        return 0; /* cut by a full batch: command by command */
    *end = j;
    int slot = -1, many = 0, kept = 0;
    for (uint32_t k = i + 1; k < j; k++) {
        rmig_entry *e = &r->b.e[k];
        if (e->flags & RMIG_ENTRY_DROPPED)
            continue;
        if (db_zero(r, e) < 0)
            return -1;
        kept++;
        if (e->nkeys == 0)
            many = 1;
        for (uint32_t q = 0; q < e->nkeys; q++) {
            int s = (int)key_slot(r->clus, e, q);
            if (slot >= 0 && s != slot)
                many = 1;
            slot = s;
        }
    }
    int rc = 0;
    r->b.e[i].db = r->b.e[j].db = 0; /* (a cluster has db 0 only: no SELECT inside the block) */
    if (kept && !many) {
        rmig__run_use(r, c->w[slot >= 0 ? c->slot_w[slot] : 0]);
        rmig_redis_unit_begin(r->c);
        for (uint32_t k = i; k <= j && rc == 0; k++)
            if (!(r->b.e[k].flags & RMIG_ENTRY_DROPPED))
                rc = rmig__run_write_cmd_args(r, &r->b.e[k], NULL, 0, 1);
        rmig_redis_unit_end(r->c);
        c->tx_whole++;
    } else if (kept && c->multi_fail) {
        static const char why[] = "a MULTI/EXEC block of the source whose keys span slots (sink.multi = \"fail\"); "
                                  "not applied";
        keyrec k = {.db = r->b.e[i].db, .cmd = 1};
        k.key_len = (uint32_t)snprintf(k.key, sizeof k.key, "MULTI");
        rmig__run_report_key(r, &k, why, (int)sizeof why - 1);
        r->failed_keys++;
        c->tx_split++;
    } else if (kept) {
        if (!c->tx_split++)
            rmig__clus_say(r, "a MULTI/EXEC block of the source has keys in several slots: its commands go one by one "
                   "(sink.multi = \"split\"; \"fail\" reports such blocks instead)");
        for (uint32_t k = i + 1; k < j && rc == 0; k++)
            if (!(r->b.e[k].flags & RMIG_ENTRY_DROPPED))
                rc = write_one(r, &r->b.e[k], 0);
    }
    for (uint32_t k = i + 1; k < j; k++)
        if (r->b.e[k].flags & RMIG_ENTRY_DROPPED)
            r->dropped++;
    if (rc == 0 && r->b.e[j].offset > 0)
        rmig__run_commit(r, r->b.e[j].offset, r->b.e[j].stream_db);
    return rc;
}

void rmig__cluster_function(runner *r, const void *code, size_t n)
{
    rmig_clus *c = r->clus;
    wconn *was = r->cw;
    for (int i = 0; i < c->nw; i++) {
        if (!c->w[i]->master)
            continue;
        rmig_out *o = rmig_redis_out(c->w[i]->c);
        rmig_resp_array(o, 4);
        rmig_resp_bulk_str(o, "FUNCTION");
        rmig_resp_bulk_str(o, "LOAD");
        rmig_resp_bulk_str(o, "REPLACE");
        rmig_resp_bulk(o, code, n);
        rmig_redis_done(c->w[i]->c, TAG_FUNCTION);
    }
    rmig__run_use(r, was);
}

int rmig__cluster_room(const runner *r)
{
    const rmig_clus *c = r->clus;
    if (r->big || r->big_restore)
        return rmig_redis_room(r->c); /* a big value's pieces go on, whatever waits behind it */
    if (c->pk_len)
        return 0;
    for (int i = 0; i < c->nw; i++) {
        const wconn *w = c->w[i];
        if (w->draining || (w->master && (!w->c || !w->ready || w->retrying || !rmig_redis_room(w->c))))
            return 0;
    }
    return 1;
}

uint64_t rmig__cluster_pending(const runner *r)
{
    const rmig_clus *c = r->clus;
    uint64_t n = c->pk_len;
    for (int i = 0; i < c->nw; i++)
        if (c->w[i]->c)
            n += rmig_redis_pending(c->w[i]->c);
    return n;
}

int rmig__cluster_state(runner *r, wconn *w, int state, const char *err)
{
    rmig_clus *c = r->clus;
    if (state == RMIG_REDIS_READY) {
        int again = w->ready;
        w->ready = 1;
        w->retrying = 0;
        if (again) {
            rmig__clus_say(r, "connected to %s:%d again; its unanswered commands were sent again", w->host, w->port);
        } else if (r->ready) {
            rmig__clus_say(r, "connected to %s:%d, a master new to the run", w->host, w->port);
        } else {
            int all = 1;
            for (int i = 0; i < c->nw; i++)
                all = all && (!c->w[i]->master || c->w[i]->ready);
            r->ready = all;
        }
        if (c->pk_len)
            uv_timer_start(&c->timer, rmig__cluster_on_timer, 0, 10);
        if (r->ready && rmig__run_room(r))
            rmig__run_start_idle(r);
        return 1;
    }
    if (state == RMIG_REDIS_RETRYING) {
        /* a master lost: if it died, its replica takes over its slots
         * (watch, every second) */
        w->retrying = 1;
        uv_timer_start(&c->watch, rmig__cluster_on_watch, 1000, 1000);
        return 0;
    }
    if (state == RMIG_REDIS_FAILED && !w->master && rmig_redis_pending(w->c) == 0) {
        rmig__clus_say(r, "%s; it serves no slots any more, so the run goes on without it", err);
        rmig_redis_close(w->c, NULL);
        w->c = NULL;
        w->ready = w->retrying = w->draining = 0;
        return 1;
    }
    return 0;
}

static void on_timer_closed(uv_handle_t *h) { (void)h; }

void rmig__cluster_close(runner *r)
{
    rmig_clus *c = r->clus;
    if (c->closing)
        return;
    c->closing = 1;
    for (int i = 0; i < c->nw; i++) {
        if (c->w[i]->c)
            rmig_redis_close(c->w[i]->c, NULL);
        c->w[i]->c = NULL;
    }
    r->c = NULL;
    if (c->timer_init) {
        uv_close((uv_handle_t *)&c->timer, on_timer_closed);
        uv_close((uv_handle_t *)&c->watch, on_timer_closed);
    }
}

void rmig__cluster_counts(const runner *r, uint64_t *reconnects, uint64_t *torn)
{
    const rmig_clus *c = r->clus;
    for (int i = 0; i < c->nw; i++) {
        if (!c->w[i]->c)
            continue;
        *reconnects += rmig_redis_reconnects(c->w[i]->c);
        *torn += rmig_redis_torn(c->w[i]->c);
    }
}

void rmig__dbmap_summary(const rmig_dbmap *m)
{
    if (m->merged || m->prefixed)
        printf("  %llu entries of dbs other than 0 went to db 0 %s\n", (unsigned long long)(m->merged + m->prefixed),
               m->prefixed ? "with the db prefix" : "(merged)");
}

void rmig__cluster_summary(const runner *r)
{
    const rmig_clus *c = r->clus;
    if (c->codis)
        printf("  Codis: %d group masters", c->map.nmasters);
    else if (c->twem)
        printf("  pool '%s': %d backends", c->twem->name, c->map.nmasters);
    else
        printf("  cluster: %d masters at the end", c->map.nmasters);
    if (c->moved || c->asked || c->retried)
        printf("; %llu MOVED and %llu ASK redirections followed, %llu commands retried (TRYAGAIN, CLUSTERDOWN, "
               "LOADING), the slot map read %llu more times",
               (unsigned long long)c->moved, (unsigned long long)c->asked, (unsigned long long)c->retried,
               (unsigned long long)c->refreshes);
    printf("\n");
    rmig__dbmap_summary(&c->dbm);
    if (c->split || c->broadcast)
        printf("  %llu commands split per slot, %llu without keys sent to every master\n", (unsigned long long)c->split,
               (unsigned long long)c->broadcast);
    if (c->tx_whole || c->tx_split)
        printf("  %llu MULTI/EXEC blocks went whole to one master, %llu spanned slots (%s)\n",
               (unsigned long long)c->tx_whole, (unsigned long long)c->tx_split,
               c->multi_fail ? "reported failed" : "split");
    if (c->cross_slot)
        printf("  %llu commands with keys in several slots could not run on a cluster (reported above)\n",
               (unsigned long long)c->cross_slot);
}

void rmig__cluster_free(runner *r)
{
    rmig_clus *c = r->clus;
    if (!c)
        return;
    for (int i = 0; i < c->nw; i++) {
        free(c->w[i]->recs);
        free(c->w[i]->ur);
        free(c->w[i]);
    }
    while (c->pk_len)
        rmig__clus_pop_parked(c);
    free(c->pk);
    free(c->w);
    rmig_cluster_map_free(&c->map);
    free(c);
    r->clus = NULL;
}
