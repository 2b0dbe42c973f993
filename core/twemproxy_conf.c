/* twemproxy_conf.c - the pools of a nutcracker.yml, read with libyaml's
 * event parser. The file maps pool names to pools; a pool maps settings to
 * single values, except servers:, a list of "host:port:weight [name]" lines.
 * Values are checked as nutcracker 0.5.0 checks them (exact hash and
 * distribution names, digits-only numbers, true/false, a two-byte hash_tag,
 * no duplicate setting, no unknown one, unique pool and server names), so a
 * file rmig accepts is one the proxy would run with the same placement, and
 * a mistake is reported as FILE:LINE and what is wrong rather than found
 * later as keys on the wrong backend. listen: is not required (rmig never
 * listens), and settings that move no key are kept as read, unchecked
 * beyond their type. */
#include "twemproxy.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_FILE (16u << 20) /* a nutcracker.yml is a few kB; refuse anything absurd */

typedef struct parse {
    yaml_parser_t y;
    yaml_event_t ev;
    int have_ev;
    const char *file;
    rmig_twem_conf *c;
    char *err;
    size_t errlen;
} parse;

static int failf(parse *ps, size_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(parse *ps, size_t line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line)
        snprintf(ps->err, ps->errlen, "%s:%zu: %s", ps->file, line, msg);
    else
        snprintf(ps->err, ps->errlen, "%s: %s", ps->file, msg);
    return -1;
}

static size_t line_of(const parse *ps)
{
    return ps->ev.start_mark.line + 1;
}

/* The next event into ps->ev (the previous one freed); YAML syntax errors
 * come back with libyaml's own words and position. */
static int next(parse *ps)
{
    if (ps->have_ev) {
        yaml_event_delete(&ps->ev);
        ps->have_ev = 0;
    }
    if (!yaml_parser_parse(&ps->y, &ps->ev)) {
        const yaml_parser_t *y = &ps->y;
        /* (a quote never closed is found at the end of the file: the line
         * to name is where the quoted text began) */
        int open_quote = y->context && strstr(y->context, "quoted scalar") && y->problem &&
                         strstr(y->problem, "end of stream");
        return failf(ps, (open_quote ? y->context_mark.line : y->problem_mark.line) + 1, "not valid YAML: %s%s%s",
                     y->problem ? y->problem : "error", y->context ? " " : "", y->context ? y->context : "");
    }
    ps->have_ev = 1;
    if (ps->ev.type == YAML_ALIAS_EVENT)
        return failf(ps, line_of(ps), "YAML aliases (*%s) are not supported (nutcracker refuses them too)",
                     (const char *)ps->ev.data.alias.anchor);
    return 0;
}

static const char *scalar(const parse *ps, size_t *len)
{
    *len = ps->ev.data.scalar.length;
    return (const char *)ps->ev.data.scalar.value;
}

static int is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && !memcmp(s, word, n);
}

/* The settings of a pool; a bit each in `seen` to refuse duplicates. */
enum {
    K_LISTEN,
    K_HASH,
    K_HASH_TAG,
    K_DISTRIBUTION,
    K_TIMEOUT,
    K_BACKLOG,
    K_CLIENT_CONNECTIONS,
    K_REDIS,
    K_REDIS_AUTH,
    K_REDIS_DB,
    K_PRECONNECT,
    K_AUTO_EJECT_HOSTS,
    K_SERVER_CONNECTIONS,
    K_SERVER_RETRY_TIMEOUT,
    K_SERVER_FAILURE_LIMIT,
    K_TCPKEEPALIVE,
    K_SERVERS,
    K_COUNT
};
static const char *const keys[K_COUNT] = {
    "listen",
    "hash",
    "hash_tag",
    "distribution",
    "timeout",
    "backlog",
    "client_connections",
    "redis",
    "redis_auth",
    "redis_db",
    "preconnect",
    "auto_eject_hosts",
    "server_connections",
    "server_retry_timeout",
    "server_failure_limit",
    "tcpkeepalive",
    "servers",
};

static int find_key(const char *s, size_t n)
{
    for (int i = 0; i < K_COUNT; i++)
        if (is(s, n, keys[i]))
            return i;
    return -1;
}

static int *int_field(rmig_twem_pool *p, int k)
{
    switch (k) {
    case K_TIMEOUT: return &p->timeout;
    case K_BACKLOG: return &p->backlog;
    case K_CLIENT_CONNECTIONS: return &p->client_connections;
    case K_REDIS: return &p->redis;
    case K_REDIS_DB: return &p->redis_db;
    case K_PRECONNECT: return &p->preconnect;
    case K_AUTO_EJECT_HOSTS: return &p->auto_eject_hosts;
    case K_SERVER_CONNECTIONS: return &p->server_connections;
    case K_SERVER_RETRY_TIMEOUT: return &p->server_retry_timeout;
    case K_SERVER_FAILURE_LIMIT: return &p->server_failure_limit;
    case K_TCPKEEPALIVE: return &p->tcpkeepalive;
    default: return NULL;
    }
}

static int is_bool(int k)
{
    return k == K_REDIS || k == K_PRECONNECT || k == K_AUTO_EJECT_HOSTS || k == K_TCPKEEPALIVE;
}

/* One "key: value" of a pool, the value being the current scalar event. */
static int set_value(parse *ps, rmig_twem_pool *p, int k)
{
    size_t n, line = line_of(ps);
    const char *v = scalar(ps, &n);
    const char *key = keys[k];
    int shown = n > 200 ? 200 : (int)n;
    char why[600];
    switch (k) {
    case K_HASH: {
        int h = rmig_twem_hash_find(v, n);
        if (h < 0) {
            char names[300] = "";
            for (int i = 0; i < RMIG_TWEM_NHASH; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                         rmig_twem_hash_name(i));
            return failf(ps, line, "pool '%s': hash: '%.*s' is not a hash nutcracker knows (%s)", p->name,
                         shown, v, names);
        }
        p->hash = (rmig_twem_hash)h;
        return 0;
    }
    case K_DISTRIBUTION: {
        int d = rmig_twem_dist_find(v, n);
        if (d < 0)
            return failf(ps, line, "pool '%s': distribution: '%.*s' is not ketama, modula or random", p->name,
                         shown, v);
        p->dist = (rmig_twem_dist)d;
        return 0;
    }
    case K_HASH_TAG:
        if (rmig_twem_pool_set_tag(p, v, n, why, sizeof why) < 0)
            return failf(ps, line, "pool '%s': %s", p->name, why);
        return 0;
    case K_LISTEN: return (p->listen = rmig_twem_dup(v, n)) ? 0 : failf(ps, line, "out of memory");
    case K_REDIS_AUTH:
        if (n == 0) /* nutcracker refuses an empty password */
            return failf(ps, line, "pool '%s': redis_auth is empty", p->name);
        return (p->redis_auth = rmig_twem_dup(v, n)) ? 0 : failf(ps, line, "out of memory");
    default: break;
    }
    int *field = int_field(p, k);
    if (is_bool(k)) {
        if (!is(v, n, "true") && !is(v, n, "false"))
            return failf(ps, line, "pool '%s': %s: '%.*s' is not true or false", p->name, key, shown, v);
        *field = is(v, n, "true");
        return 0;
    }
    long long x = 0;
    for (size_t i = 0; i < n && x <= INT_MAX; i++) {
        if (v[i] < '0' || v[i] > '9') {
            x = -1;
            break;
        }
        x = x * 10 + (v[i] - '0');
    }
    if (n == 0 || x < 0)
        return failf(ps, line, "pool '%s': %s: '%.*s' is not a number (digits only)", p->name, key, shown, v);
    if (x > INT_MAX)
        return failf(ps, line, "pool '%s': %s: '%.*s' is too large", p->name, key, shown, v);
    *field = (int)x;
    return 0;
}

static int parse_servers(parse *ps, rmig_twem_pool *p)
{
    if (next(ps) < 0)
        return -1;
    if (ps->ev.type != YAML_SEQUENCE_START_EVENT)
        return failf(ps, line_of(ps),
                     "pool '%s': servers: must be a list, one \"- host:port:weight [name]\" a line", p->name);
    for (;;) {
        if (next(ps) < 0)
            return -1;
        if (ps->ev.type == YAML_SEQUENCE_END_EVENT)
            return 0;
        if (ps->ev.type != YAML_SCALAR_EVENT)
            return failf(ps, line_of(ps), "pool '%s': servers: each entry must be one line of text", p->name);
        size_t n;
        const char *v = scalar(ps, &n);
        char why[600];
        if (rmig_twem_pool_add_server(p, v, n, (int)line_of(ps), why, sizeof why) < 0)
            return failf(ps, line_of(ps), "pool '%s': %s", p->name, why);
    }
}

static int parse_pool(parse *ps, rmig_twem_pool *p)
{
    if (next(ps) < 0)
        return -1;
    if (ps->ev.type != YAML_MAPPING_START_EVENT)
        return failf(ps, line_of(ps),
                     "pool '%s' must be a mapping of settings (listen:, hash:, servers:, ...)", p->name);
    unsigned seen = 0;
    size_t auth_line = 0;
    for (;;) {
        if (next(ps) < 0)
            return -1;
        if (ps->ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (ps->ev.type != YAML_SCALAR_EVENT)
            return failf(ps, line_of(ps), "pool '%s': a setting's name must be plain text", p->name);
        size_t n, line = line_of(ps);
        const char *name = scalar(ps, &n);
        int k = find_key(name, n);
        if (k < 0) {
            char known[600] = "";
            for (int i = 0; i < K_COUNT; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", keys[i]);
            return failf(ps, line, "pool '%s': unknown setting '%.*s' (nutcracker 0.5.0 knows %s)", p->name,
                         n > 100 ? 100 : (int)n, name, known);
        }
        if (seen & (1u << k))
            return failf(ps, line, "pool '%s': %s: is a duplicate (set it once)", p->name, keys[k]);
        seen |= 1u << k;
        if (k == K_SERVERS) {
            if (parse_servers(ps, p) < 0)
                return -1;
            continue;
        }
        if (next(ps) < 0)
            return -1;
        if (ps->ev.type != YAML_SCALAR_EVENT)
            return failf(ps, line_of(ps), "pool '%s': %s: must be a single value%s", p->name, keys[k],
                         k == K_HASH_TAG ? " (quote it: hash_tag: \"{}\", or YAML reads {} as a mapping)"
                                         : "");
        if (k == K_REDIS_AUTH)
            auth_line = line_of(ps);
        if (set_value(ps, p, k) < 0)
            return -1;
    }
    if (p->redis_auth && p->redis != 1)
        return failf(ps, auth_line,
                     "pool '%s': redis_auth is set but redis: is not true (nutcracker refuses that)",
                     p->name);
    char why[1200];
    if (rmig_twem_pool_build(p, why, sizeof why) < 0)
        return failf(ps, (size_t)(p->err_line ? p->err_line : p->line), "%s", why);
    return 0;
}

static int parse_doc(parse *ps)
{
    rmig_twem_conf *c = ps->c;
    if (next(ps) < 0)
        return -1;
    if (ps->ev.type != YAML_STREAM_START_EVENT)
        return failf(ps, line_of(ps), "not a YAML stream");
    if (next(ps) < 0)
        return -1;
    if (ps->ev.type == YAML_STREAM_END_EVENT)
        return failf(ps, 0, "the file is empty: it defines no pool");
    if (next(ps) < 0) /* past DOCUMENT-START */
        return -1;
    if (ps->ev.type != YAML_MAPPING_START_EVENT)
        return failf(ps, line_of(ps), "the file must map pool names to pools (\"alpha:\" then its settings)");
    for (;;) {
        if (next(ps) < 0)
            return -1;
        if (ps->ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (ps->ev.type != YAML_SCALAR_EVENT)
            return failf(ps, line_of(ps), "a pool's name must be plain text");
        size_t n, line = line_of(ps);
        const char *name = scalar(ps, &n);
        for (size_t i = 0; i < c->npools; i++)
            if (strlen(c->pools[i].name) == n && !memcmp(c->pools[i].name, name, n))
                return failf(ps, line, "pool '%s' is defined twice (also on line %d)", c->pools[i].name,
                             c->pools[i].line);
        rmig_twem_pool *grown = realloc(c->pools, (c->npools + 1) * sizeof *grown);
        if (!grown)
            return failf(ps, line, "out of memory");
        c->pools = grown;
        rmig_twem_pool *p = &c->pools[c->npools++];
        rmig_twem_pool_init(p);
        p->line = (int)line;
        if (!(p->name = rmig_twem_dup(name, n)))
            return failf(ps, line, "out of memory");
        if (parse_pool(ps, p) < 0)
            return -1;
    }
    if (c->npools == 0)
        return failf(ps, line_of(ps), "the file defines no pool");
    if (next(ps) < 0) /* DOCUMENT-END */
        return -1;
    if (next(ps) < 0)
        return -1;
    if (ps->ev.type != YAML_STREAM_END_EVENT)
        return failf(ps, line_of(ps), "a second YAML document: nutcracker reads exactly one");
    return 0;
}

int rmig_twem_conf_parse(rmig_twem_conf *c, const char *name, const void *text, size_t len, char *err,
                         size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->path = rmig_twem_dup(name, strlen(name));
    parse ps = {.file = name, .c = c, .err = err, .errlen = errlen};
    if (!c->path || !yaml_parser_initialize(&ps.y)) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    yaml_parser_set_input_string(&ps.y, text, len);
    int rc = parse_doc(&ps);
    if (ps.have_ev)
        yaml_event_delete(&ps.ev);
    yaml_parser_delete(&ps.y);
    if (rc < 0)
        rmig_twem_conf_free(c);
    return rc;
}

int rmig_twem_conf_load(rmig_twem_conf *c, const char *path, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_FILE + 1, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad || n > MAX_FILE) {
        snprintf(err, errlen, "%s: %s", path,
                 !buf           ? "out of memory"
                 : n > MAX_FILE ? "larger than 16 MiB: not a nutcracker.yml"
                                : "read error");
        free(buf);
        return -1;
    }
    int rc = rmig_twem_conf_parse(c, path, buf, n, err, errlen);
    free(buf);
    return rc;
}

void rmig_twem_conf_free(rmig_twem_conf *c)
{
    for (size_t i = 0; i < c->npools; i++)
        rmig_twem_pool_free(&c->pools[i]);
    free(c->pools);
    free(c->path);
    memset(c, 0, sizeof *c);
}

rmig_twem_pool *rmig_twem_conf_pool(rmig_twem_conf *c, const char *name, char *err, size_t errlen)
{
    if (!name && c->npools == 1)
        return &c->pools[0];
    for (size_t i = 0; name && i < c->npools; i++)
        if (!strcmp(c->pools[i].name, name))
            return &c->pools[i];
    char list[600] = "";
    for (size_t i = 0; i < c->npools; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", i ? ", " : "", c->pools[i].name);
    if (name)
        snprintf(err, errlen, "%s: no pool '%s' (the file has %s)", c->path ? c->path : "", name, list);
    else
        snprintf(err, errlen, "%s: %zu pools (%s): name the one to use", c->path ? c->path : "", c->npools,
                 list);
    return NULL;
}
