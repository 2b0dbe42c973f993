/* codis.c - where Codis 3.x puts a key, and a topology of its groups and
 * slots read from what an operator has at hand.
 *
 * The slot rule is the same on both sides of Codis, read from its source:
 * the proxy (pkg/proxy/mapper.go, Hash) takes the bytes between the first
 * '{' and the first '}' after it when both are there, else the whole key,
 * and slots them as crc32.ChecksumIEEE(...) % MaxSlotNum (1024);
 * codis-server (extern/redis-3.2.x/src/slots.c, slots_tag and slots_num)
 * finds the tag the same way and masks its own crc32_checksum (crc32.c: the
 * reflected IEEE polynomial 0xedb88320, initial and final inversion, i.e.
 * zlib's crc32) with HASH_SLOTS_MASK 0x3ff. They agree byte for byte; the
 * only cases worth a note are that "{}" is a tag (its empty content hashes
 * to crc32("") = 0, slot 0), and that '{' with no '}' after it is not one.
 * Redis Cluster differs on the first: there "{}" does not count.
 *
 * A topology maps the 1024 slots to groups and each group to its master.
 * Files are read as YAML with libyaml's document loader, so the JSON
 * codis-admin prints is read as it is (JSON is YAML's flow style); the
 * shapes accepted are listed in codis.h. Errors name the file and line. */
#include "codis.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_FILE (64u << 20) /* codis-admin's whole overview is well below this */

/* ---- the slot rule ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int j = 0; j < 8; j++)
            c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t rmig_codis_crc32(const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *b = p;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

void rmig_codis_tag(const void *key, size_t len, const uint8_t **part, size_t *partlen)
{
    const uint8_t *k = key;
    *part = k;
    *partlen = len;
    const uint8_t *open = len ? memchr(k, '{', len) : NULL;
    if (!open)
        return;
    size_t start = (size_t)(open - k) + 1;
    const uint8_t *close = memchr(k + start, '}', len - start);
    if (!close)
        return;
    *part = k + start;
    *partlen = (size_t)(close - (k + start));
}

unsigned rmig_codis_slot(const void *key, size_t len)
{
    const uint8_t *part;
    size_t n;
    rmig_codis_tag(key, len, &part, &n);
    return rmig_codis_crc32(part, n) % RMIG_CODIS_SLOTS;
}

/* ---- topology ---- */

void rmig_codis_topo_init(rmig_codis_topo *t)
{
    memset(t, 0, sizeof *t);
    for (int s = 0; s < RMIG_CODIS_SLOTS; s++)
        t->slot[s] = t->from[s] = -1;
}

static void free_secret(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

void rmig_codis_topo_free(rmig_codis_topo *t)
{
    for (size_t i = 0; i < t->ngroups; i++) {
        free(t->groups[i].addr);
        free(t->groups[i].host);
        free_secret(t->groups[i].password);
        free(t->groups[i].where);
    }
    free(t->groups);
    for (size_t i = 0; i < t->nfiles; i++)
        free(t->files[i]);
    free(t->files);
    free_secret(t->password);
    rmig_codis_topo_init(t);
}

int rmig_codis_group_index(const rmig_codis_topo *t, int id)
{
    size_t lo = 0, hi = t->ngroups;
    if (!t->finished) { /* not sorted yet */
        for (size_t i = 0; i < t->ngroups; i++)
            if (t->groups[i].id == id)
                return (int)i;
        return -1;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->groups[mid].id == id)
            return (int)mid;
        if (t->groups[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int rmig_codis_route(const rmig_codis_topo *t, const void *key, size_t len)
{
    return t->slot[rmig_codis_slot(key, len)];
}

/* One file being read. */
typedef struct parse {
    rmig_codis_topo *t;
    yaml_document_t doc;
    const char *file;
    uint16_t fileno;
    char *err;
    size_t errlen;
} parse;

static int failf(parse *ps, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int failf(parse *ps, const yaml_node_t *at, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at)
        snprintf(ps->err, ps->errlen, "%s:%zu: %s", ps->file, at->start_mark.line + 1, msg);
    else
        snprintf(ps->err, ps->errlen, "%s: %s", ps->file, msg);
    return -1;
}

static size_t line_of(const yaml_node_t *n)
{
    return n->start_mark.line + 1;
}

static yaml_node_t *node(parse *ps, int i)
{
    return yaml_document_get_node(&ps->doc, i);
}

static int is_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE;
}

/* A scalar's text, shortened for a message. */
static const char *shown(const yaml_node_t *n, char *buf, size_t cap)
{
    if (!is_scalar(n))
        return n && n->type == YAML_MAPPING_NODE ? "a mapping" : "a list";
    size_t len = n->data.scalar.length;
    snprintf(buf, cap, "'%.*s%s'", len > 60 ? 60 : (int)len, (const char *)n->data.scalar.value,
             len > 60 ? "..." : "");
    return buf;
}

static int scalar_is(const yaml_node_t *n, const char *word)
{
    return is_scalar(n) && n->data.scalar.length == strlen(word) &&
           !memcmp(n->data.scalar.value, word, n->data.scalar.length);
}

/* Digits only (optionally around by blanks), into *v; -1 when not that
 * or above max. */
static int parse_uint(const char *s, size_t n, long max, long *v)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0)
        return -1;
    long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
        if (x > max)
            return -1;
    }
    *v = x;
    return 0;
}

/* A node that must be a number in [lo, hi]. */
static int number(parse *ps, const yaml_node_t *n, const char *what, long lo, long hi, long *v)
{
    char b[80];
    if (!is_scalar(n) || parse_uint((const char *)n->data.scalar.value, n->data.scalar.length, hi, v) < 0 ||
        *v < lo)
        return failf(ps, n, "%s must be a number from %ld to %ld, not %s", what, lo, hi,
                     shown(n, b, sizeof b));
    return 0;
}

static char *dup_scalar(const yaml_node_t *n)
{
    char *s = malloc(n->data.scalar.length + 1);
    if (s) {
        memcpy(s, n->data.scalar.value, n->data.scalar.length);
        s[n->data.scalar.length] = 0;
    }
    return s;
}

/* The value of key in a mapping node, or NULL. */
static yaml_node_t *get(parse *ps, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        if (scalar_is(node(ps, p->key), key))
            return node(ps, p->value);
    return NULL;
}

/* "host:port" or "[v6]:port" into host and port. */
static int split_addr(const char *a, char **host, int *port)
{
    const char *colon = strrchr(a, ':');
    long p = 0;
    if (!colon || colon == a || !colon[1])
        return -1;
    for (const char *d = colon + 1; *d; d++) {
        if (*d < '0' || *d > '9' || (p = p * 10 + (*d - '0')) > 65535)
            return -1;
    }
    if (p == 0)
        return -1;
    const char *h = a;
    size_t hn = (size_t)(colon - a);
    if (h[0] == '[') {
        if (hn < 3 || h[hn - 1] != ']')
            return -1;
        h++;
        hn -= 2;
    } else if (memchr(h, ':', hn)) {
        return -1; /* an IPv6 address needs brackets */
    }
    if (memchr(h, ' ', hn) || memchr(h, '/', hn))
        return -1;
    *host = malloc(hn + 1);
    if (!*host)
        return -1;
    memcpy(*host, h, hn);
    (*host)[hn] = 0;
    *port = (int)p;
    return 0;
}

static char *where_of(parse *ps, const yaml_node_t *n)
{
    char buf[600];
    snprintf(buf, sizeof buf, "%s:%zu", ps->file, line_of(n));
    return strdup(buf);
}

/* Defines group id with master addr (a scalar node), or checks that an
 * earlier definition names the same master. password (owned, may be NULL)
 * is taken either way. */
static int define_group(parse *ps, long id, const yaml_node_t *addr, char *password)
{
    rmig_codis_topo *t = ps->t;
    char b[80];
    if (!is_scalar(addr) || addr->data.scalar.length == 0) {
        free_secret(password);
        return failf(ps, addr, "group %ld has no master (its address is %s)", id,
                     is_scalar(addr) ? "empty" : shown(addr, b, sizeof b));
    }
    char *a = dup_scalar(addr);
    if (!a) {
        free_secret(password);
        return failf(ps, addr, "out of memory");
    }
    int i = rmig_codis_group_index(t, (int)id);
    if (i >= 0) {
        rmig_codis_group *g = &t->groups[i];
        if (strcmp(g->addr, a)) {
            failf(ps, addr, "group %ld's master is given as %s here and as '%s' at %s", id,
                  shown(addr, b, sizeof b), g->addr, g->where);
            free(a);
            free_secret(password);
            return -1;
        }
        free(a);
        if (password) {
            free_secret(g->password);
            g->password = password;
        }
        return 0;
    }
    char *host = NULL;
    int port = 0;
    if (split_addr(a, &host, &port) < 0) {
        failf(ps, addr,
              "group %ld: the master %s is not host:port (a port from 1 to 65535; [addr]:port for "
              "IPv6)",
              id, shown(addr, b, sizeof b));
        free(a);
        free_secret(password);
        return -1;
    }
    rmig_codis_group *grown = realloc(t->groups, (t->ngroups + 1) * sizeof *grown);
    if (!grown) {
        free(a);
        free(host);
        free_secret(password);
        return failf(ps, addr, "out of memory");
    }
    t->groups = grown;
    rmig_codis_group *g = &t->groups[t->ngroups++];
    g->id = (int)id;
    g->addr = a;
    g->host = host;
    g->port = port;
    g->password = password;
    g->where = where_of(ps, addr);
    return g->where ? 0 : failf(ps, addr, "out of memory");
}

/* A password from password: or password_env: (the value node). */
static int read_password(parse *ps, const yaml_node_t *v, int from_env, char **out)
{
    if (!is_scalar(v))
        return failf(ps, v, "%s must be a single value", from_env ? "password_env" : "password");
    char *s = dup_scalar(v);
    if (!s)
        return failf(ps, v, "out of memory");
    if (!from_env) {
        *out = s;
        return 0;
    }
    const char *e = getenv(s);
    if (!e) {
        failf(ps, v, "password_env: the environment variable %s is not set", s);
        free(s);
        return -1;
    }
    free(s);
    *out = strdup(e);
    return *out ? 0 : failf(ps, v, "out of memory");
}

/* groups: as a mapping of ids to masters (or to {master, password, password_env}). */
static int groups_map(parse *ps, const yaml_node_t *map)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(ps, p->key), *v = node(ps, p->value);
        long id;
        if (number(ps, k, "a group id", 1, RMIG_CODIS_MAX_GROUP, &id) < 0)
            return -1;
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *qk = node(ps, q->key);
            long other;
            if (parse_uint((const char *)qk->data.scalar.value, qk->data.scalar.length, RMIG_CODIS_MAX_GROUP,
                           &other) == 0 &&
                other == id)
                return failf(ps, k, "group %ld is given twice (also on line %zu)", id, line_of(qk));
        }
        if (is_scalar(v)) {
            if (define_group(ps, id, v, NULL) < 0)
                return -1;
            continue;
        }
        if (v->type != YAML_MAPPING_NODE)
            return failf(
                ps, v, "group %ld must be \"host:port\" or { master: \"host:port\", password_env: VAR }", id);
        yaml_node_t *master = NULL;
        char *pw = NULL;
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
            yaml_node_t *qk = node(ps, q->key), *qv = node(ps, q->value);
            int env = scalar_is(qk, "password_env");
            if (scalar_is(qk, "master")) {
                master = qv;
            } else if (env || scalar_is(qk, "password")) {
                free_secret(pw);
                pw = NULL;
                if (read_password(ps, qv, env, &pw) < 0)
                    return -1;
            } else {
                char b[80];
                free_secret(pw);
                return failf(ps, qk, "group %ld: unknown setting %s (master, password, password_env)", id,
                             shown(qk, b, sizeof b));
            }
        }
        if (!master) {
            free_secret(pw);
            return failf(ps, v, "group %ld has no master: (its address, \"host:port\")", id);
        }
        if (define_group(ps, id, master, pw) < 0)
            return -1;
    }
    return 0;
}

/* One element of codis-admin --list-group: {"id": N, "servers": [{"server": "host:port", ...}, ...]}. */
static int group_model(parse *ps, const yaml_node_t *g)
{
    if (g->type != YAML_MAPPING_NODE)
        return failf(ps, g,
                     "a group must be a mapping with \"id\" and \"servers\" (as codis-admin --list-group "
                     "prints)");
    yaml_node_t *idn = get(ps, g, "id"), *servers = get(ps, g, "servers");
    long id;
    if (!idn)
        return failf(ps, g, "a group without \"id\"");
    if (number(ps, idn, "a group's \"id\"", 1, RMIG_CODIS_MAX_GROUP, &id) < 0)
        return -1;
    if (!servers || servers->type != YAML_SEQUENCE_NODE)
        return failf(ps, servers ? servers : g,
                     "group %ld: \"servers\" must be a list (its first is the master)", id);
    if (servers->data.sequence.items.top == servers->data.sequence.items.start)
        return failf(ps, servers, "group %ld has no master: its \"servers\" list is empty", id);
    yaml_node_t *first = node(ps, *servers->data.sequence.items.start);
    yaml_node_t *addr = first;
    if (first->type == YAML_MAPPING_NODE) {
        addr = get(ps, first, "server");
        if (!addr)
            return failf(ps, first, "group %ld: its first server has no \"server\" (its address)", id);
    }
    return define_group(ps, id, addr, NULL);
}

static int groups_list(parse *ps, const yaml_node_t *seq)
{
    for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++)
        if (group_model(ps, node(ps, *i)) < 0)
            return -1;
    return 0;
}

/* Slot s goes to group gid (and is leaving group from, or 0), said at n. */
static int assign(parse *ps, const yaml_node_t *n, long s, long gid, long from)
{
    rmig_codis_topo *t = ps->t;
    rmig__codis_slot_src *src = &t->src[s];
    if (src->line) {
        if (src->file == ps->fileno)
            return failf(ps, n, "slot %ld is given twice (also on line %u)", s, src->line);
        if (t->slot_gid[s] != gid || t->from_gid[s] != from)
            return failf(ps, n, "slot %ld goes to group %ld here and to group %d in %s (line %u)", s, gid,
                         t->slot_gid[s], t->files[src->file], src->line);
        return 0;
    }
    t->slot_gid[s] = (int)gid;
    t->from_gid[s] = (int)from;
    src->line = (uint32_t)line_of(n);
    src->file = ps->fileno;
    return 0;
}

/* slots: as a mapping of "N" or "A-B" to group ids. */
static int slots_map(parse *ps, const yaml_node_t *map)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(ps, p->key), *v = node(ps, p->value);
        char b[80];
        if (!is_scalar(k))
            return failf(ps, k, "a slot must be a number or a range \"A-B\", not %s", shown(k, b, sizeof b));
        const char *s = (const char *)k->data.scalar.value;
        size_t n = k->data.scalar.length;
        const char *dash = memchr(s, '-', n);
        long lo, hi, gid;
        int bad = dash ? parse_uint(s, (size_t)(dash - s), LONG_MAX / 2, &lo) < 0 ||
                             parse_uint(dash + 1, n - (size_t)(dash - s) - 1, LONG_MAX / 2, &hi) < 0
                       : parse_uint(s, n, LONG_MAX / 2, &lo) < 0;
        if (!dash)
            hi = lo;
        if (bad)
            return failf(ps, k, "a slot must be a number or a range \"A-B\", not %s", shown(k, b, sizeof b));
        if (lo > hi)
            return failf(ps, k, "slots %s: a range goes from the lower slot to the higher",
                         shown(k, b, sizeof b));
        if (hi >= RMIG_CODIS_SLOTS)
            return failf(ps, k, "slots %s: Codis has slots 0 to %d", shown(k, b, sizeof b),
                         RMIG_CODIS_SLOTS - 1);
        if (number(ps, v, "a slot's group id", 1, RMIG_CODIS_MAX_GROUP, &gid) < 0)
            return -1;
        for (long x = lo; x <= hi; x++)
            if (assign(ps, k, x, gid, 0) < 0)
                return -1;
    }
    return 0;
}

/* An optional number field of a mapping (0 when absent). */
static int opt_number(parse *ps, const yaml_node_t *map, const char *key, long hi, long *v)
{
    yaml_node_t *n = get(ps, map, key);
    *v = 0;
    if (!n || (is_scalar(n) && n->data.scalar.length == 0))
        return 0;
    char what[80];
    snprintf(what, sizeof what, "\"%s\"", key);
    return number(ps, n, what, 0, hi, v);
}

/* One element of codis-admin --slots-status (models.Slot): where the proxy
 * sends the slot's keys, with the masters' addresses. */
static int slot_status(parse *ps, const yaml_node_t *e)
{
    long id, gid, from;
    yaml_node_t *idn = get(ps, e, "id");
    if (!idn)
        return failf(ps, e, "a slot without \"id\"");
    if (number(ps, idn, "a slot's \"id\"", 0, RMIG_CODIS_SLOTS - 1, &id) < 0 ||
        opt_number(ps, e, "backend_addr_group_id", RMIG_CODIS_MAX_GROUP, &gid) < 0 ||
        opt_number(ps, e, "migrate_from_group_id", RMIG_CODIS_MAX_GROUP, &from) < 0)
        return -1;
    if (gid == 0)
        return failf(ps, e,
                     "slot %ld has no group (no \"backend_addr_group_id\": the slot is offline in Codis, "
                     "which serves none of its keys)",
                     id);
    yaml_node_t *addr = get(ps, e, "backend_addr");
    if (addr && is_scalar(addr) && addr->data.scalar.length && define_group(ps, gid, addr, NULL) < 0)
        return -1;
    yaml_node_t *faddr = get(ps, e, "migrate_from");
    if (from && faddr && is_scalar(faddr) && faddr->data.scalar.length &&
        define_group(ps, from, faddr, NULL) < 0)
        return -1;
    return assign(ps, idn, id, gid, from);
}

/* One element of codis-admin slots (models.SlotMapping): the slot's group
 * and the migration under way. The proxy's slot is the target from the
 * "prepared" state on (pkg/topom/topom_context.go, toSlot). */
static int slot_mapping(parse *ps, const yaml_node_t *e)
{
    long id, gid, target = 0;
    yaml_node_t *idn = get(ps, e, "id");
    if (!idn)
        return failf(ps, e, "a slot without \"id\"");
    if (number(ps, idn, "a slot's \"id\"", 0, RMIG_CODIS_SLOTS - 1, &id) < 0 ||
        opt_number(ps, e, "group_id", RMIG_CODIS_MAX_GROUP, &gid) < 0)
        return -1;
    yaml_node_t *action = get(ps, e, "action");
    yaml_node_t *state = NULL;
    if (action && action->type == YAML_MAPPING_NODE) {
        state = get(ps, action, "state");
        if (opt_number(ps, action, "target_id", RMIG_CODIS_MAX_GROUP, &target) < 0)
            return -1;
    }
    char b[80];
    const yaml_node_t *at = state ? state : idn;
    if (!state || scalar_is(state, "") || scalar_is(state, "pending") || scalar_is(state, "preparing")) {
        if (gid == 0)
            return failf(ps, e, "slot %ld has no group (\"group_id\" 0: the slot is offline in Codis)", id);
        return assign(ps, at, id, gid, 0);
    }
    int moving = scalar_is(state, "prepared") || scalar_is(state, "migrating");
    if (!moving && !scalar_is(state, "finished"))
        return failf(ps, state,
                     "slot %ld: unknown action state %s (pending, preparing, prepared, migrating, "
                     "finished)",
                     id, shown(state, b, sizeof b));
    if (target == 0)
        return failf(ps, action, "slot %ld is %s but its action has no \"target_id\"", id,
                     (const char *)state->data.scalar.value);
    return assign(ps, at, id, target, moving ? gid : 0);
}

/* A list of slots: --slots-status's models.Slot or the slot mappings. */
static int slots_list(parse *ps, const yaml_node_t *seq)
{
    for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top; i++) {
        yaml_node_t *e = node(ps, *i);
        if (e->type != YAML_MAPPING_NODE)
            return failf(ps, e,
                         "a slot must be a mapping with \"id\" (as codis-admin --slots-status prints)");
        int rc = get(ps, e, "group_id") || get(ps, e, "action") ? slot_mapping(ps, e) : slot_status(ps, e);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* A list whose kind is told by its first element: groups have "servers". */
static int any_list(parse *ps, const yaml_node_t *seq, const char *what)
{
    if (seq->data.sequence.items.top == seq->data.sequence.items.start)
        return failf(ps, seq, "%s is an empty list", what);
    yaml_node_t *first = node(ps, *seq->data.sequence.items.start);
    if (first->type == YAML_MAPPING_NODE && get(ps, first, "servers"))
        return groups_list(ps, seq);
    return slots_list(ps, seq);
}

/* Keys of codis-admin's overview and stats objects that say nothing about
 * placement. */
static const char *const ignored[] = {"closed",    "online",           "proxy",   "slot_action",
                                      "sentinels", "version",          "compile", "config",
                                      "model",     "read_cross_cloud", "action",  "group_sync_stats"};

static int top_map(parse *ps, const yaml_node_t *map, int depth)
{
    int any = 0;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(ps, p->key), *v = node(ps, p->value);
        char b[80];
        int rc = 0, known = 1, env = scalar_is(k, "password_env");
        if (scalar_is(k, "groups")) {
            if (v->type == YAML_MAPPING_NODE)
                rc = groups_map(ps, v);
            else if (v->type == YAML_SEQUENCE_NODE)
                rc = any_list(ps, v, "groups");
            else
                rc = failf(ps, v,
                           "groups: must map group ids to masters (1: \"host:port\") or be "
                           "codis-admin --list-group's list");
            any = 1;
        } else if (scalar_is(k, "slots")) {
            if (v->type == YAML_MAPPING_NODE)
                rc = slots_map(ps, v);
            else if (v->type == YAML_SEQUENCE_NODE)
                rc = any_list(ps, v, "slots");
            else
                rc = failf(ps, v,
                           "slots: must map slots to group ids (\"0-511\": 1) or be codis-admin "
                           "--slots-status's list");
            any = 1;
        } else if (scalar_is(k, "group") && v->type == YAML_MAPPING_NODE) { /* codis-admin stats */
            yaml_node_t *models = get(ps, v, "models");
            if (models && models->type == YAML_SEQUENCE_NODE)
                rc = groups_list(ps, models);
            else if (models && models->type == YAML_MAPPING_NODE) /* early 3.x: a map of id to group */
                for (yaml_node_pair_t *q = models->data.mapping.pairs.start;
                     rc == 0 && q < models->data.mapping.pairs.top; q++)
                    rc = group_model(ps, node(ps, q->value));
            any = 1;
        } else if (scalar_is(k, "stats") && v->type == YAML_MAPPING_NODE && depth == 0) { /* the overview */
            int r = top_map(ps, v, 1);
            rc = r < 0 ? -1 : 0;
            any |= r > 0;
        } else if (env || scalar_is(k, "password")) {
            if (ps->t->password)
                return failf(ps, k,
                             "a default password is given twice (password: or password_env:, once for "
                             "all the files)");
            rc = read_password(ps, v, env, &ps->t->password);
        } else {
            known = 0;
            for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++)
                known |= scalar_is(k, ignored[i]);
        }
        if (!known)
            return failf(ps, k,
                         "unknown key %s (a topology has groups:, slots:, password: or password_env:, "
                         "or is codis-admin's JSON)",
                         shown(k, b, sizeof b));
        if (rc < 0)
            return -1;
    }
    return any;
}

static int parse_doc(parse *ps)
{
    yaml_node_t *root = yaml_document_get_root_node(&ps->doc);
    if (!root)
        return failf(ps, NULL, "the file is empty: it defines no groups or slots");
    if (root->type == YAML_SEQUENCE_NODE)
        return any_list(ps, root, "the file");
    if (root->type != YAML_MAPPING_NODE)
        return failf(ps, root, "a topology is a mapping (groups:, slots:) or a list from codis-admin, not %s",
                     "a single value");
    int any = top_map(ps, root, 0);
    if (any < 0)
        return -1;
    if (!any)
        return failf(ps, root, "the file defines neither groups: nor slots:");
    return 0;
}

int rmig_codis_topo_add(rmig_codis_topo *t, const char *name, const void *text, size_t len, char *err,
                        size_t errlen)
{
    if (t->nfiles >= UINT16_MAX) {
        snprintf(err, errlen, "%s: too many topology files", name);
        return -1;
    }
    char **grown = realloc(t->files, (t->nfiles + 1) * sizeof *grown);
    if (!grown || !(grown[t->nfiles] = strdup(name))) {
        if (grown)
            t->files = grown;
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    t->files = grown;
    parse ps = {.t = t, .file = name, .fileno = (uint16_t)t->nfiles++, .err = err, .errlen = errlen};
    yaml_parser_t y;
    if (!yaml_parser_initialize(&y)) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    yaml_parser_set_input_string(&y, text, len);
    int rc;
    if (!yaml_parser_load(&y, &ps.doc)) {
        snprintf(err, errlen, "%s:%zu: not valid YAML or JSON: %s%s%s", name, y.problem_mark.line + 1,
                 y.problem ? y.problem : "error", y.context ? " " : "", y.context ? y.context : "");
        rc = -1;
    } else {
        rc = parse_doc(&ps);
        yaml_document_delete(&ps.doc);
        /* a second document would be ignored silently: refuse it */
        yaml_document_t more;
        if (rc == 0 && yaml_parser_load(&y, &more)) {
            if (yaml_document_get_root_node(&more)) {
                snprintf(err, errlen, "%s:%zu: a second YAML document: a topology is one", name,
                         yaml_document_get_root_node(&more)->start_mark.line + 1);
                rc = -1;
            }
            yaml_document_delete(&more);
        }
    }
    yaml_parser_delete(&y);
    return rc;
}

static int cmp_group(const void *a, const void *b)
{
    const rmig_codis_group *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* Slots [lo, hi] as "lo" or "lo-hi", after a comma when not first. */
static void add_range(char *buf, size_t cap, int lo, int hi, int first)
{
    size_t n = strlen(buf);
    if (n + 24 >= cap) {
        if (n + 5 < cap && strcmp(buf + n - 3, "..."))
            snprintf(buf + n, cap - n, ", ...");
        return;
    }
    if (lo == hi)
        snprintf(buf + n, cap - n, "%s%d", first ? "" : ", ", lo);
    else
        snprintf(buf + n, cap - n, "%s%d-%d", first ? "" : ", ", lo, hi);
}

int rmig_codis_topo_finish(rmig_codis_topo *t, char *err, size_t errlen)
{
    const char *names = t->nfiles == 1 ? t->files[0] : "the topology";
    if (t->ngroups == 0) {
        snprintf(err, errlen,
                 "%s: no group is defined (groups:, or codis-admin --list-group / --slots-status)", names);
        return -1;
    }
    qsort(t->groups, t->ngroups, sizeof *t->groups, cmp_group);
    t->finished = 1;
    for (size_t i = 0; t->password && i < t->ngroups; i++)
        if (!t->groups[i].password && !(t->groups[i].password = strdup(t->password))) {
            snprintf(err, errlen, "%s: out of memory", names);
            return -1;
        }
    char missing[400] = "";
    int nmissing = 0;
    for (int s = 0; s < RMIG_CODIS_SLOTS; s++) {
        if (!t->src[s].line) {
            int e = s;
            while (e + 1 < RMIG_CODIS_SLOTS && !t->src[e + 1].line)
                e++;
            add_range(missing, sizeof missing, s, e, nmissing == 0);
            nmissing += e - s + 1;
            s = e;
            continue;
        }
        int g = rmig_codis_group_index(t, t->slot_gid[s]);
        int f = t->from_gid[s] ? rmig_codis_group_index(t, t->from_gid[s]) : -1;
        int bad = g < 0 ? t->slot_gid[s] : t->from_gid[s] && f < 0 ? t->from_gid[s] : 0;
        if (bad) {
            char known[300] = "";
            for (size_t i = 0; i < t->ngroups; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%d", i ? ", " : "",
                         t->groups[i].id);
            snprintf(err, errlen, "%s:%u: slot %d names group %d, which is not defined (groups: %s)",
                     t->files[t->src[s].file], t->src[s].line, s, bad, known);
            t->finished = 0;
            return -1;
        }
        t->slot[s] = (int16_t)g;
        t->from[s] = (int16_t)f;
    }
    if (nmissing) {
        snprintf(err, errlen, "%s: %d slot%s no group: %s (Codis has slots 0-%d and each needs one)", names,
                 nmissing, nmissing == 1 ? " has" : "s have", missing, RMIG_CODIS_SLOTS - 1);
        t->finished = 0;
        return -1;
    }
    return 0;
}

int rmig_codis_topo_parse(rmig_codis_topo *t, const char *name, const void *text, size_t len, char *err,
                          size_t errlen)
{
    rmig_codis_topo_init(t);
    if (rmig_codis_topo_add(t, name, text, len, err, errlen) < 0)
        return -1;
    return rmig_codis_topo_finish(t, err, errlen);
}

int rmig_codis_topo_load(rmig_codis_topo *t, const char *const *paths, size_t npaths, char *err,
                         size_t errlen)
{
    rmig_codis_topo_init(t);
    for (size_t i = 0; i < npaths; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            snprintf(err, errlen, "%s: cannot open: %s", paths[i], strerror(errno));
            return -1;
        }
        char *buf = malloc(MAX_FILE + 1);
        size_t n = buf ? fread(buf, 1, MAX_FILE + 1, f) : 0;
        int bad = !buf || ferror(f);
        fclose(f);
        if (bad || n > MAX_FILE) {
            snprintf(err, errlen, "%s: %s", paths[i],
                     !buf           ? "out of memory"
                     : n > MAX_FILE ? "larger than 64 MiB: not a Codis topology"
                                    : "read error");
            free(buf);
            return -1;
        }
        int rc = rmig_codis_topo_add(t, paths[i], buf, n, err, errlen);
        free(buf);
        if (rc < 0)
            return -1;
    }
    return rmig_codis_topo_finish(t, err, errlen);
}

int rmig_codis_topo_migrating(const rmig_codis_topo *t, int *slot)
{
    int n = 0;
    for (int s = RMIG_CODIS_SLOTS - 1; s >= 0; s--)
        if (t->from[s] >= 0) {
            n++;
            *slot = s;
        }
    return n;
}
