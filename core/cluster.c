/* cluster.c - a Redis Cluster's slot map, read from CLUSTER SHARDS (Redis 7+)
 * or CLUSTER SLOTS (older servers), so that a writer can send each key to
 * the master that serves its slot without first collecting MOVED replies.
 *
 * The parsers take a reply that is already read (hiredis' redisReply) and do
 * no I/O, so recorded replies test them. Both build the same map: masters
 * first, then replicas pointing at their master, and for every slot the
 * master serving it. A reply of the wrong shape is refused with an error
 * saying where in the reply it went wrong, never trusted. */
#include "cluster.h"

#include "target.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- small helpers over replies ---- */

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* rmig's connections speak RESP2, where CLUSTER SHARDS' maps are flat
 * key, value, ... arrays */
static int is_list(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY;
}

static int is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static int str_is(const redisReply *r, const char *s)
{
    return is_str(r) && r->len == strlen(s) && !memcmp(r->str, s, r->len);
}

/* An integer element: an integer reply, or a string of digits (proxies). */
static int int_of(const redisReply *r, long long *v)
{
    if (r && r->type == REDIS_REPLY_INTEGER) {
        *v = r->integer;
        return 0;
    }
    if (!is_str(r) || !r->len || r->len > 18)
        return -1;
    *v = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (!isdigit((unsigned char)r->str[i]))
            return -1;
        *v = *v * 10 + (r->str[i] - '0');
    }
    return 0;
}

/* The value after name in a flat key/value list, or NULL. */
static const redisReply *field(const redisReply *kv, const char *name)
{
    for (size_t i = 0; i + 1 < kv->elements; i += 2)
        if (str_is(kv->element[i], name))
            return kv->element[i + 1];
    return NULL;
}

/* Copies a string element into dst; -1 when it is not a string or does not fit. */
static int copy_str(char *dst, size_t cap, const redisReply *r)
{
    if (!is_str(r) || r->len >= cap)
        return -1;
    memcpy(dst, r->str, r->len);
    dst[r->len] = 0;
    return 0;
}

/* ---- building the map ---- */

static void map_reset(rmig_cluster_map *m)
{
    free(m->nodes);
    m->nodes = NULL;
    m->nnodes = m->nmasters = 0;
    for (int s = 0; s < RMIG_SLOTS; s++)
        m->slot[s] = -1;
    m->unassigned = RMIG_SLOTS;
}

/* Room for n nodes at once: both replies say how many nodes they can hold
 * at most, so the array never moves while it is filled. */
static int reserve(rmig_cluster_map *m, size_t n, char *err, size_t errlen)
{
    if (n > INT16_MAX)
        return fail(err, errlen, "%zu nodes: more than a cluster can have", n);
    m->nodes = calloc(n ? n : 1, sizeof *m->nodes);
    return m->nodes ? 0 : fail(err, errlen, "out of memory");
}

/* The index of a node already in nodes[from, to) that is n: the same id,
 * or the same host:port when either has no id. -1 when none. */
static int find_same(const rmig_cluster_map *m, int from, int to, const rmig_cluster_node *n)
{
    for (int i = from; i < to; i++) {
        const rmig_cluster_node *o = &m->nodes[i];
        if (n->id[0] && o->id[0] ? !strcmp(n->id, o->id) : o->port == n->port && !strcmp(o->host, n->host))
            return i;
    }
    return -1;
}

static int add_node(rmig_cluster_map *m, const rmig_cluster_node *n, int master_of)
{
    int i = m->nnodes++;
    m->nodes[i] = *n;
    m->nodes[i].master = master_of < 0;
    m->nodes[i].master_of = master_of;
    m->nodes[i].nslots = 0;
    if (master_of < 0)
        m->nmasters++;
    return i;
}

/* Slots start..end to master i; a range out of 0..16383 is a broken reply. */
static int assign(rmig_cluster_map *m, const redisReply *a, const redisReply *b, int i, char *err,
                  size_t errlen)
{
    long long start, end;
    if (int_of(a, &start) < 0 || int_of(b, &end) < 0)
        return fail(err, errlen, "a slot range that is not two integers");
    if (start < 0 || end >= RMIG_SLOTS || start > end)
        return fail(err, errlen, "slot range %lld-%lld is outside 0-16383", start, end);
    for (long long s = start; s <= end; s++)
        m->slot[s] = (int16_t)i;
    return 0;
}

/* Counts from slot[], so that overlapping ranges cannot be counted twice. */
static void count_slots(rmig_cluster_map *m)
{
    m->unassigned = 0;
    for (int s = 0; s < RMIG_SLOTS; s++) {
        if (m->slot[s] < 0)
            m->unassigned++;
        else
            m->nodes[m->slot[s]].nslots++;
    }
}

/* ---- CLUSTER SHARDS ---- */

typedef struct shard_node {
    rmig_cluster_node n;
    int master, online;
} shard_node;

/* One node of a shard: a flat list id, port, tls-port, ip, endpoint,
 * hostname, role, replication-offset, health. The endpoint is what the
 * cluster tells clients to use; "?" or "" means it has none to give. */
static int parse_shard_node(const redisReply *kv, int tls, shard_node *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!is_list(kv) || kv->elements % 2)
        return fail(err, errlen, "a node that is not a list of fields and values");
    const redisReply *id = field(kv, "id"), *ep = field(kv, "endpoint"), *ip = field(kv, "ip");
    const redisReply *health = field(kv, "health");
    if (id && copy_str(out->n.id, sizeof out->n.id, id) < 0)
        return fail(err, errlen, "a node whose id is not a string of 40 characters at most");
    const redisReply *host = ep && !str_is(ep, "?") && !str_is(ep, "") ? ep : ip;
    if (host && copy_str(out->n.host, sizeof out->n.host, host) < 0)
        return fail(err, errlen, "node %s: its endpoint is not a string of at most 255 bytes", out->n.id);
    long long port = 0, tls_port = 0;
    if (field(kv, "port") && int_of(field(kv, "port"), &port) < 0)
        return fail(err, errlen, "node %s: port is not an integer", out->n.id);
    if (field(kv, "tls-port") && int_of(field(kv, "tls-port"), &tls_port) < 0)
        return fail(err, errlen, "node %s: tls-port is not an integer", out->n.id);
    /* a node listening on one kind of port only gives that one */
    long long use = tls ? (tls_port ? tls_port : port) : (port ? port : tls_port);
    if (use <= 0 || use > 65535)
        return fail(err, errlen, "node %s: no usable port", out->n.id);
    out->n.port = (int)use;
    out->master = str_is(field(kv, "role"), "master");
    out->online = !health || str_is(health, "online"); /* 7.0 betas had no health */
    return 0;
}

/* A shard's "slots" (a flat start, end, ... list) and "nodes". */
static int shard_parts(const redisReply *sh, const redisReply **slots, const redisReply **nodes, char *err,
                       size_t errlen)
{
    if (!is_list(sh) || sh->elements % 2)
        return fail(err, errlen, "not a list of fields and values");
    *slots = field(sh, "slots");
    *nodes = field(sh, "nodes");
    if (!is_list(*slots) || (*slots)->elements % 2)
        return fail(err, errlen, "\"slots\" is missing or not a list of start, end pairs");
    if (!is_list(*nodes))
        return fail(err, errlen, "\"nodes\" is missing or not a list");
    return 0;
}

/* The online master of shard sh, added with its slots, into *idx; -1
 * there when the shard has none serving slots (a new empty master, a
 * failed one). Every node is checked here, so the replicas' pass cannot
 * meet a broken one. */
static int shard_master(rmig_cluster_map *m, const redisReply *sh, int tls, int *idx, char *err,
                        size_t errlen)
{
    const redisReply *slots = NULL, *nodes = NULL;
    *idx = -1;
    if (shard_parts(sh, &slots, &nodes, err, errlen) < 0)
        return -1;
    for (size_t j = 0; j < nodes->elements; j++) {
        shard_node sn;
        if (parse_shard_node(nodes->element[j], tls, &sn, err, errlen) < 0)
            return -1;
        if (sn.master && sn.online && slots->elements && *idx < 0)
            *idx = add_node(m, &sn.n, -1);
    }
    for (size_t k = 0; *idx >= 0 && k < slots->elements; k += 2)
        if (assign(m, slots->element[k], slots->element[k + 1], *idx, err, errlen) < 0)
            return -1;
    return 0;
}

/* The online replicas of a shard whose master is at index master. */
static void shard_replicas(rmig_cluster_map *m, const redisReply *sh, int tls, int master)
{
    const redisReply *nodes = field(sh, "nodes");
    char ignored[8];
    for (size_t j = 0; j < nodes->elements; j++) {
        shard_node sn;
        /* shard_master checked every node: no error can come here */
        if (parse_shard_node(nodes->element[j], tls, &sn, ignored, sizeof ignored) == 0 && !sn.master &&
            sn.online)
            add_node(m, &sn.n, master);
    }
}

/* How many nodes a SHARDS reply lists: the most the map can get from it. */
static long long shards_nodes(const redisReply *r)
{
    long long n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *sh = r->element[i], *nodes = is_list(sh) ? field(sh, "nodes") : NULL;
        n += is_list(nodes) ? (long long)nodes->elements : 0;
    }
    return n;
}

/* The same as rmig_cluster_map_parse_shards, taking each node's tls-port
 * when tls is 1 (a TLS client must use those), its port when 0. */
int rmig_cluster_map_parse_shards_tls(const redisReply *r, int tls, rmig_cluster_map *m, char *err,
                                      size_t errlen)
{
    map_reset(m);
    if (!is_list(r))
        return fail(err, errlen, "CLUSTER SHARDS: the reply is not a list of shards");
    if (reserve(m, (size_t)shards_nodes(r), err, errlen) < 0)
        return -1;
    int *masters = malloc((r->elements ? r->elements : 1) * sizeof *masters);
    if (!masters)
        return fail(err, errlen, "out of memory");
    char why[256];
    for (size_t i = 0; i < r->elements; i++) {
        if (shard_master(m, r->element[i], tls, &masters[i], why, sizeof why) < 0) {
            free(masters);
            map_reset(m);
            return fail(err, errlen, "CLUSTER SHARDS: shard %zu: %s", i + 1, why);
        }
    }
    for (size_t i = 0; i < r->elements; i++)
        if (masters[i] >= 0)
            shard_replicas(m, r->element[i], tls, masters[i]);
    free(masters);
    count_slots(m);
    return 0;
}

int rmig_cluster_map_parse_shards(const redisReply *r, rmig_cluster_map *m, char *err, size_t errlen)
{
    return rmig_cluster_map_parse_shards_tls(r, 0, m, err, errlen);
}

/* ---- CLUSTER SLOTS ---- */

/* A node of a SLOTS range: [host, port, id, {metadata}]; id since 4.0,
 * metadata since 7.0. A NULL or empty host means "the address you asked";
 * "?" means the preferred endpoint (a hostname) is unknown, and then the
 * metadata's ip is the address to use. Hosts left empty here are filled
 * in by the fetch. */
static int parse_slots_node(const redisReply *a, rmig_cluster_node *n, char *err, size_t errlen)
{
    memset(n, 0, sizeof *n);
    long long port;
    if (!is_list(a) || a->elements < 2)
        return fail(err, errlen, "a node that is not a list of host, port, ...");
    const redisReply *host = a->element[0];
    if (str_is(host, "?") && a->elements >= 4 && is_list(a->element[3]) && a->element[3]->elements % 2 == 0)
        host = field(a->element[3], "ip");
    if (host && host->type != REDIS_REPLY_NIL && !str_is(host, "?") &&
        copy_str(n->host, sizeof n->host, host) < 0)
        return fail(err, errlen, "a node whose host is not a string of at most 255 bytes");
    if (int_of(a->element[1], &port) < 0 || port <= 0 || port > 65535)
        return fail(err, errlen, "a node whose port is not a number from 1 to 65535");
    n->port = (int)port;
    if (a->elements >= 3 && copy_str(n->id, sizeof n->id, a->element[2]) < 0)
        return fail(err, errlen, "a node whose id is not a string of 40 characters at most");
    return 0;
}

/* A range [start, end, master, replica...]: its master, found or added,
 * and its slots. */
static int slots_range(rmig_cluster_map *m, const redisReply *rg, char *err, size_t errlen)
{
    rmig_cluster_node n;
    if (!is_list(rg) || rg->elements < 3)
        return fail(err, errlen, "not a list of start, end, master, replicas...");
    if (parse_slots_node(rg->element[2], &n, err, errlen) < 0)
        return -1;
    int i = find_same(m, 0, m->nmasters, &n);
    if (i < 0)
        i = add_node(m, &n, -1);
    return assign(m, rg->element[0], rg->element[1], i, err, errlen);
}

/* Its replicas, once each however many ranges list them. */
static int slots_replicas(rmig_cluster_map *m, const redisReply *rg, char *err, size_t errlen)
{
    rmig_cluster_node n;
    if (parse_slots_node(rg->element[2], &n, err, errlen) < 0)
        return -1;
    int master = find_same(m, 0, m->nmasters, &n);
    for (size_t k = 3; k < rg->elements; k++) {
        if (parse_slots_node(rg->element[k], &n, err, errlen) < 0)
            return -1;
        if (find_same(m, m->nmasters, m->nnodes, &n) < 0)
            add_node(m, &n, master);
    }
    return 0;
}

int rmig_cluster_map_parse_slots(const redisReply *r, rmig_cluster_map *m, char *err, size_t errlen)
{
    map_reset(m);
    if (!is_list(r))
        return fail(err, errlen, "CLUSTER SLOTS: the reply is not a list of slot ranges");
    size_t most = 0;
    for (size_t i = 0; i < r->elements; i++)
        most += is_list(r->element[i]) && r->element[i]->elements > 2 ? r->element[i]->elements - 2 : 0;
    if (reserve(m, most, err, errlen) < 0)
        return -1;
    char why[256];
    size_t i = 0;
    /* masters first, so that they take the first indexes */
    for (; i < r->elements; i++)
        if (slots_range(m, r->element[i], why, sizeof why) < 0)
            break;
    if (i == r->elements)
        for (i = 0; i < r->elements; i++)
            if (slots_replicas(m, r->element[i], why, sizeof why) < 0)
                break;
    if (i < r->elements) {
        map_reset(m);
        return fail(err, errlen, "CLUSTER SLOTS: range %zu: %s", i + 1, why);
    }
    count_slots(m);
    return 0;
}

/* ---- fetching ---- */

typedef struct fetch {
    const char *host;
    int port, tls, slots; /* slots: this is the CLUSTER SLOTS call */
    rmig_cluster_map *m;
    char refused[256]; /* the server's error reply, if it sent one */
} fetch;

static int contains_nocase(const char *s, const char *sub)
{
    size_t n = strlen(sub);
    for (; *s; s++)
        if (!strncasecmp(s, sub, n))
            return 1;
    return 0;
}

/* "host:port", or "[v6]:port" */
static void addr_of(char *buf, size_t cap, const char *host, int port)
{
    snprintf(buf, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

static int on_map(const redisReply *r, void *ud, char *err, size_t errlen)
{
    fetch *f = ud;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(f->refused, sizeof f->refused, "%.*s", (int)r->len, r->str);
        return 0;
    }
    char why[512], addr[300];
    int rc = f->slots ? rmig_cluster_map_parse_slots(r, f->m, why, sizeof why)
                      : rmig_cluster_map_parse_shards_tls(r, f->tls, f->m, why, sizeof why);
    if (rc < 0) {
        addr_of(addr, sizeof addr, f->host, f->port);
        return fail(err, errlen, "%s: %s", addr, why);
    }
    return 0;
}

/* Nodes the reply gave no address for are reached where we asked. */
static void fill_hosts(rmig_cluster_map *m, const char *host)
{
    for (int i = 0; i < m->nnodes; i++)
        if (!m->nodes[i].host[0])
            snprintf(m->nodes[i].host, sizeof m->nodes[i].host, "%s", host);
}

static int ask(fetch *f, const char *user, const char *password, const rmig_tls_opts *tls, char *err,
               size_t errlen)
{
    const char *argv[] = {"CLUSTER", f->slots ? "SLOTS" : "SHARDS"};
    f->refused[0] = 0;
    return rmig_target_call(f->host, f->port, user, password, tls, 2, argv, on_map, f, err, errlen);
}

int rmig_cluster_map_fetch(const char *host, int port, const char *user, const char *password,
                           const rmig_tls_opts *tls, rmig_cluster_map *m, char *err, size_t errlen)
{
    fetch f = {host, port, tls != NULL, 0, m, ""};
    char addr[300];
    addr_of(addr, sizeof addr, host, port);
    if (ask(&f, user, password, tls, err, errlen) < 0)
        return -1;
    /* SHARDS is 7.0+; older servers say "unknown subcommand" (or, 3.x, "Unknown") */
    if (f.refused[0] &&
        (contains_nocase(f.refused, "unknown command") || contains_nocase(f.refused, "unknown subcommand"))) {
        f.slots = 1;
        if (ask(&f, user, password, tls, err, errlen) < 0)
            return -1;
    }
    if (f.refused[0] && contains_nocase(f.refused, "cluster support disabled"))
        return fail(err, errlen, "%s is not a cluster node (cluster_enabled:0): use rmig.sink.redis", addr);
    if (f.refused[0])
        return fail(err, errlen, "%s refused CLUSTER %s: %s", addr, f.slots ? "SLOTS" : "SHARDS", f.refused);
    fill_hosts(m, host);
    return 0;
}

int rmig_cluster_map_find(const rmig_cluster_map *m, const char *host, int port)
{
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == port && !strcmp(m->nodes[i].host, host))
            return i;
    return -1;
}

void rmig_cluster_map_free(rmig_cluster_map *m)
{
    map_reset(m);
}
