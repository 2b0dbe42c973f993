/* twemproxy_pool.c - a Twemproxy pool's servers and the server nutcracker
 * 0.5.0 picks for a key, as its conf_add_server, conf_validate_server,
 * ketama_update / modula_update and server_pool_idx do it:
 *
 * - A servers: line is parsed from its end: the name after the last space,
 *   the weight after the last ':', then the port after the ':' before it
 *   (a line starting with '/' is a unix socket and has no port). Without a
 *   name, the server's name is "host:port" as written, or "host" when the
 *   port is 11211 (libmemcached's habit), or "path:" for a socket.
 * - nutcracker sorts the servers by name (shorter first, then bytewise) when
 *   it checks for duplicates, and keeps that order: its ring and its modula
 *   table follow it, so a modula pool places keys by the sorted order, not
 *   by the order of the file.
 * - ketama: each server gets floor(w / W * 40 * n) * 4 points in float
 *   arithmetic (w its weight, W the sum, n the servers), which is 156 instead
 *   of 160 for equal weights in a pool of 25, 47, 50, 55, 61... servers; the
 *   points are md5("NAME-i") cut in four little-endian words, sorted (ties
 *   kept in insertion order, as glibc's merge sort keeps them); a key goes to
 *   the first point >= its hash, or to the first point when none is.
 * - modula: one table entry per unit of weight, in server order; a key goes
 *   to entry hash % W.
 * - A pool of one server sends everything to it without hashing; an empty
 *   key hashes to 0; the hash tag counts only when both characters are found
 *   and something is between them.
 * Ejected hosts (auto_eject_hosts) change nutcracker's placement while they
 * are out; this file places keys as when every server is up. */
#include "twemproxy.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define KETAMA_POINTS 160  /* per server of average weight: 40 md5 digests of 4 points */
#define KETAMA_MAX_HOST 86 /* nutcracker's buffer for "NAME-i", its NUL included */
#define DEFAULT_PORT 11211 /* the port nutcracker leaves out of a server's ketama name */
#define MAX_WEIGHT 2147483647

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void rmig_twem_pool_init(rmig_twem_pool *p)
{
    memset(p, 0, sizeof *p);
    p->hash = RMIG_TWEM_FNV1A_64;
    p->dist = RMIG_TWEM_KETAMA;
    p->redis = p->redis_db = -1;
    p->timeout = p->backlog = p->client_connections = p->preconnect = p->auto_eject_hosts = -1;
    p->server_connections = p->server_retry_timeout = p->server_failure_limit = p->tcpkeepalive = -1;
}

static void unbuild(rmig_twem_pool *p)
{
    free(p->order);
    free(p->points);
    free(p->wsum);
    p->order = NULL;
    p->points = NULL;
    p->wsum = NULL;
    p->npoints = 0;
    p->total_weight = 0;
    p->built = 0;
}

void rmig_twem_pool_free(rmig_twem_pool *p)
{
    unbuild(p);
    for (size_t i = 0; i < p->nservers; i++) {
        free(p->servers[i].spec);
        free(p->servers[i].host);
        free(p->servers[i].name);
    }
    free(p->servers);
    free(p->name);
    free(p->redis_auth);
    free(p->listen);
    rmig_twem_pool_init(p);
}

int rmig_twem_pool_set_tag(rmig_twem_pool *p, const char *tag, size_t len, char *err, size_t errlen)
{
    if (len != 2)
        return fail(err, errlen,
                    "hash_tag must be exactly two characters (bytes), like \"{}\", not a string of %zu", len);
    memcpy(p->hash_tag, tag, 2); /* read per key: the ring does not depend on it */
    p->has_tag = 1;
    return 0;
}

/* The last c in s[0..n), or NULL: how nutcracker's nc_strrchr scans. */
static const char *last(const char *s, size_t n, char c)
{
    for (size_t i = n; i > 0; i--)
        if (s[i - 1] == c)
            return s + i - 1;
    return NULL;
}

/* digits only, as nc_atoi takes them; -1 when not a number, -2 when above max */
static long long number(const char *s, size_t n, long long max)
{
    if (n == 0)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > max)
            return -2;
    }
    return v;
}

char *rmig_twem_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

#define SUN_PATH_MAX ((int)sizeof(((struct sockaddr_un *)0)->sun_path))
#define FORMS "\"host:port:weight [name]\" or \"/path/to/socket:weight [name]\""

int rmig_twem_pool_add_server(rmig_twem_pool *p, const char *spec, size_t len, int line, char *err,
                              size_t errlen)
{
    int shown = len > 200 ? 200 : (int)len;
    if (memchr(spec, 0, len))
        return fail(err, errlen, "server '%.*s' holds a NUL byte", shown, spec);
    int unix_socket = len > 0 && spec[0] == '/';
    const char *name = NULL, *weight, *port = NULL;
    size_t rest = len, namelen = 0, weightlen, portlen = 0;

    const char *q = last(spec, rest, ' ');
    if (q) {
        name = q + 1;
        namelen = (size_t)(spec + rest - name);
        rest = (size_t)(q - spec);
    }
    q = last(spec, rest, ':');
    if (!q)
        return fail(err, errlen, "server '%.*s' has no ':weight': write it as " FORMS, shown, spec);
    weight = q + 1;
    weightlen = (size_t)(spec + rest - weight);
    rest = (size_t)(q - spec);
    if (!unix_socket) {
        q = last(spec, rest, ':');
        if (!q)
            return fail(err, errlen, "server '%.*s' has no ':port' before its weight: write it as " FORMS,
                        shown, spec);
        port = q + 1;
        portlen = (size_t)(spec + rest - port);
        rest = (size_t)(q - spec);
    } else if (last(spec, rest, ':')) {
        return fail(err, errlen, "server '%.*s': nutcracker cannot take a socket path with ':' in it", shown,
                    spec);
    } else if (rest >= SUN_PATH_MAX) {
        /* (sockaddr_un's sun_path: a longer one cannot be connected to) */
        return fail(err, errlen, "server '%.*s': a socket path must be under %d bytes", shown, spec, SUN_PATH_MAX);
    }

    long long w = number(weight, weightlen, MAX_WEIGHT);
    if (w == -2)
        return fail(err, errlen, "server '%.*s': the weight is above %d", shown, spec, MAX_WEIGHT);
    if (w < 0)
        return fail(err, errlen, "server '%.*s': the weight '%.*s' is not a number%s", shown, spec,
                    (int)weightlen, weight,
                    memchr(weight, ' ', weightlen)
                        ? " (a name cannot contain spaces: nutcracker takes what follows the last space)"
                        : "");
    if (w == 0)
        return fail(err, errlen, "server '%.*s': the weight is 0 (nutcracker refuses a zero weight)", shown,
                    spec);
    long long pn = 0;
    if (!unix_socket) {
        pn = number(port, portlen, 65535);
        if (pn < 1)
            return fail(err, errlen, "server '%.*s': the port '%.*s' is not a number from 1 to 65535", shown,
                        spec, (int)portlen, port);
    }

    if (p->nservers == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        rmig_twem_server *s = realloc(p->servers, cap * sizeof *s);
        if (!s)
            return fail(err, errlen, "out of memory");
        p->servers = s;
        p->cap = cap;
    }
    rmig_twem_server *s = &p->servers[p->nservers];
    memset(s, 0, sizeof *s);
    s->spec = rmig_twem_dup(spec, len);
    s->host = rmig_twem_dup(spec, rest);
    s->port = (int)pn;
    s->weight = (uint32_t)w;
    s->line = line;
    s->named = name != NULL;
    if (name)
        s->name = rmig_twem_dup(name, namelen);
    else if (!unix_socket && pn == DEFAULT_PORT)
        s->name = rmig_twem_dup(spec, rest);
    else /* "host:port" as written, or "path:" (the ':' before an empty port) */
        s->name = rmig_twem_dup(spec, rest + 1 + portlen);
    if (!s->spec || !s->host || !s->name) {
        free(s->spec);
        free(s->host);
        free(s->name);
        return fail(err, errlen, "out of memory");
    }
    p->nservers++;
    unbuild(p);
    return 0;
}

/* nutcracker's string_compare: the shorter string first, then bytes. */
static int name_cmp(const rmig_twem_server *a, const rmig_twem_server *b)
{
    size_t la = strlen(a->name), lb = strlen(b->name);
    if (la != lb)
        return la < lb ? -1 : 1;
    return memcmp(a->name, b->name, la);
}

/* qsort has no context argument: the servers being sorted */
static _Thread_local const rmig_twem_server *sort_servers;

static int order_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    int c = name_cmp(&sort_servers[a], &sort_servers[b]);
    return c ? c : (a > b) - (a < b);
}

static int point_cmp(const void *x, const void *y)
{
    const rmig_twem_point *a = x, *b = y;
    if (a->value != b->value)
        return a->value < b->value ? -1 : 1;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

static void where(const rmig_twem_server *s, char *buf, size_t n)
{
    if (s->line)
        snprintf(buf, n, "'%s' (line %d)", s->spec, s->line);
    else
        snprintf(buf, n, "'%s'", s->spec);
}

static int build_ketama(rmig_twem_pool *p, char *err, size_t errlen)
{
    uint32_t n = (uint32_t)p->nservers;
    size_t cap = 0;
    /* how many points each server gets, with nutcracker's float arithmetic
     * step for step (float products, the tiny double sum cast back) */
    for (uint32_t r = 0; r < n; r++) {
        const rmig_twem_server *s = &p->servers[p->order[r]];
        float pct = (float)s->weight / (float)p->total_weight;
        uint32_t pts = (uint32_t)((floorf((float)(pct * KETAMA_POINTS / 4 * (float)n + 0.0000000001))) * 4);
        size_t need = strlen(s->name) + 1 + (size_t)snprintf(NULL, 0, "%u", pts ? pts / 4 - 1 : 0);
        if (pts && need >= KETAMA_MAX_HOST) {
            char w[300];
            p->err_line = s->line;
            where(s, w, sizeof w);
            return fail(
                err, errlen,
                "server %s: its name is too long for ketama: nutcracker hashes \"NAME-%u\" in a buffer of "
                "%d bytes and reads past it; give the server a shorter name",
                w, pts / 4 - 1, KETAMA_MAX_HOST);
        }
        cap += pts;
    }
    p->points = malloc((cap ? cap : 1) * sizeof *p->points);
    if (!p->points)
        return fail(err, errlen, "out of memory");
    size_t k = 0;
    for (uint32_t r = 0; r < n; r++) {
        const rmig_twem_server *s = &p->servers[p->order[r]];
        float pct = (float)s->weight / (float)p->total_weight;
        uint32_t pts = (uint32_t)((floorf((float)(pct * KETAMA_POINTS / 4 * (float)n + 0.0000000001))) * 4);
        for (uint32_t i = 0; i < pts / 4; i++) {
            char host[KETAMA_MAX_HOST];
            int hl = snprintf(host, sizeof host, "%s-%u", s->name, i);
            uint8_t d[16];
            rmig_twem_md5(host, (size_t)hl, d);
            for (int x = 0; x < 4; x++) {
                const uint8_t *b = d + 4 * x;
                p->points[k].value =
                    (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
                p->points[k++].rank = r;
            }
        }
    }
    p->npoints = k;
    qsort(p->points, p->npoints, sizeof *p->points, point_cmp);
    return 0;
}

int rmig_twem_pool_db(const rmig_twem_pool *p)
{
    if (p->redis_db <= 0 || p->redis_auth)
        return 0;
    size_t unix_sockets = 0;
    for (size_t i = 0; i < p->nservers; i++)
        unix_sockets += !p->servers[i].port;
    return unix_sockets == p->nservers ? 0 : unix_sockets ? -1 : p->redis_db;
}

int rmig_twem_pool_build(rmig_twem_pool *p, char *err, size_t errlen)
{
    unbuild(p);
    p->err_line = 0;
    const char *pool = p->name ? p->name : "";
    if (p->nservers == 0)
        return fail(err, errlen, "pool '%s' has no servers", pool);
    if (p->nservers > UINT32_MAX / 4)
        return fail(err, errlen, "pool '%s' has too many servers", pool);
    p->order = malloc(p->nservers * sizeof *p->order);
    if (!p->order)
        return fail(err, errlen, "out of memory");
    for (size_t i = 0; i < p->nservers; i++)
        p->order[i] = (uint32_t)i;
    sort_servers = p->servers;
    qsort(p->order, p->nservers, sizeof *p->order, order_cmp);
    uint64_t total = 0;
    for (size_t r = 0; r < p->nservers; r++) {
        const rmig_twem_server *s = &p->servers[p->order[r]];
        const rmig_twem_server *prev = r > 0 ? &p->servers[p->order[r - 1]] : NULL;
        if (prev && !name_cmp(prev, s)) {
            char a[300], b[300];
            where(prev, a, sizeof a);
            where(s, b, sizeof b);
            int at = s->line > prev->line ? s->line : prev->line; /* the later of the two */
            unbuild(p);
            p->err_line = at;
            return fail(
                err, errlen,
                "pool '%s': servers %s and %s have the same name '%s' (nutcracker refuses that; name them "
                "apart)",
                pool, a, b, s->name);
        }
        total += s->weight;
    }
    if (total > UINT32_MAX) {
        unbuild(p);
        return fail(err, errlen, "pool '%s': the weights add up to more than %u", pool, UINT32_MAX);
    }
    p->total_weight = (uint32_t)total;
    if (p->dist == RMIG_TWEM_KETAMA && build_ketama(p, err, errlen) < 0) {
        unbuild(p);
        return -1;
    }
    if (p->dist == RMIG_TWEM_MODULA) {
        p->wsum = malloc(p->nservers * sizeof *p->wsum);
        if (!p->wsum) {
            unbuild(p);
            return fail(err, errlen, "out of memory");
        }
        uint64_t sum = 0;
        for (size_t r = 0; r < p->nservers; r++)
            p->wsum[r] = sum += p->servers[p->order[r]].weight;
    }
    p->built = 1;
    return 0;
}

void rmig_twem_pool_tag(const rmig_twem_pool *p, const void *key, size_t len, const uint8_t **part,
                        size_t *partlen)
{
    const uint8_t *k = key;
    *part = k;
    *partlen = len;
    if (!p->has_tag || len == 0)
        return;
    const uint8_t *open = memchr(k, (uint8_t)p->hash_tag[0], len);
    if (!open)
        return;
    const uint8_t *from = open + 1, *end = k + len;
    const uint8_t *close = from < end ? memchr(from, (uint8_t)p->hash_tag[1], (size_t)(end - from)) : NULL;
    if (close && close - open > 1) {
        *part = from;
        *partlen = (size_t)(close - from);
    }
}

uint32_t rmig_twem_pool_hash(const rmig_twem_pool *p, const void *key, size_t len)
{
    const uint8_t *part;
    size_t n;
    rmig_twem_pool_tag(p, key, len, &part, &n);
    return n ? rmig_twem_hash_key(p->hash, part, n) : 0;
}

int rmig_twem_route(const rmig_twem_pool *p, const void *key, size_t len)
{
    if (p->nservers == 1)
        return 0; /* nutcracker skips hashing and the distribution for one server */
    switch (p->dist) {
    case RMIG_TWEM_KETAMA: {
        uint32_t h = rmig_twem_pool_hash(p, key, len);
        /* the first point at or after h; past the last one, the ring wraps */
        size_t lo = 0, hi = p->npoints;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (p->points[mid].value < h)
                lo = mid + 1;
            else
                hi = mid;
        }
        return (int)p->order[p->points[lo == p->npoints ? 0 : lo].rank];
    }
    case RMIG_TWEM_MODULA: {
        uint64_t slot = rmig_twem_pool_hash(p, key, len) % p->total_weight;
        /* the server whose run of weight units holds the slot */
        size_t lo = 0, hi = p->nservers - 1;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (p->wsum[mid] <= slot)
                lo = mid + 1;
            else
                hi = mid;
        }
        return (int)p->order[lo];
    }
    default: return -1;
    }
}
