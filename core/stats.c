/* stats.c - counters, biggest-key heaps and the prefix table behind
 * `rmig inspect --stats`.
 *
 * The per-key path is a handful of additions, two heap checks that almost
 * always fail at the first comparison, and one hash-table probe for the
 * prefix, so stats cost little next to parsing itself. */
#include "stats.h"

#include "rdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DBS 4096
#define PREFIX_MAX_LEN 128

typedef struct big {
    uint64_t weight;    /* what the heap orders by */
    uint64_t db, bytes, elements;
    int kind;
    uint8_t *key;
    size_t key_len;
} big;

typedef struct heap {
    big *v;
    int n, cap;
} heap;

typedef struct prefix {
    uint8_t *name;      /* NULL: empty slot */
    size_t len;
    uint64_t keys, bytes;
} prefix;

typedef struct dbstat {
    uint64_t db, keys[RMIG_KIND_COUNT], ttl;
} dbstat;

struct rmig_stats {
    rmig_stats_opts o;
    char file[256];
    int version;
    uint64_t file_bytes;
    uint64_t keys, ttl, expired;
    uint64_t kind_keys[RMIG_KIND_COUNT], kind_bytes[RMIG_KIND_COUNT], kind_elems[RMIG_KIND_COUNT];
    dbstat *dbs;
    int ndbs;
    uint64_t other_db_keys;
    heap by_size, by_elems;
    prefix *pt;
    size_t pt_cap, pt_used;
    uint64_t other_keys, other_bytes;
};

rmig_stats *rmig_stats_new(const rmig_stats_opts *opts)
{
    rmig_stats *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (opts)
        s->o = *opts;
    if (s->o.top <= 0)
        s->o.top = 20;
    if (!s->o.sep)
        s->o.sep = ':';
    if (s->o.depth <= 0)
        s->o.depth = 1;
    if (!s->o.max_prefixes)
        s->o.max_prefixes = 10000;
    if (!s->o.now_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s->o.now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    s->pt_cap = 1;
    while (s->pt_cap < s->o.max_prefixes * 2)
        s->pt_cap *= 2;
    s->pt = calloc(s->pt_cap, sizeof *s->pt);
    s->by_size.cap = s->by_elems.cap = s->o.top;
    s->by_size.v = calloc((size_t)s->o.top, sizeof(big));
    s->by_elems.v = calloc((size_t)s->o.top, sizeof(big));
    s->dbs = calloc(16, sizeof(dbstat));
    if (!s->pt || !s->by_size.v || !s->by_elems.v || !s->dbs) {
        rmig_stats_free(s);
        return NULL;
    }
    return s;
}

void rmig_stats_free(rmig_stats *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->by_size.n; i++)
        free(s->by_size.v[i].key);
    for (int i = 0; i < s->by_elems.n; i++)
        free(s->by_elems.v[i].key);
    free(s->by_size.v);
    free(s->by_elems.v);
    if (s->pt)
        for (size_t i = 0; i < s->pt_cap; i++)
            free(s->pt[i].name);
    free(s->pt);
    free(s->dbs);
    free(s);
}

void rmig_stats_file(rmig_stats *s, const char *name, int version, uint64_t bytes)
{
    snprintf(s->file, sizeof s->file, "%s", name);
    s->version = version;
    s->file_bytes = bytes;
}

/* A min-heap of the N heaviest keys seen: the root is the lightest kept. */
static void heap_sift_down(heap *h, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->v[l].weight < h->v[m].weight)
            m = l;
        if (r < h->n && h->v[r].weight < h->v[m].weight)
            m = r;
        if (m == i)
            return;
        big t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
}

static void heap_offer(heap *h, uint64_t weight, const big *b)
{
    if (h->n == h->cap && weight <= h->v[0].weight)
        return;
    uint8_t *k = malloc(b->key_len ? b->key_len : 1);
    if (!k)
        return;
    memcpy(k, b->key, b->key_len);
    big e = *b;
    e.weight = weight;
    e.key = k;
    if (h->n < h->cap) {
        int i = h->n++;
        h->v[i] = e;
        while (i > 0 && h->v[(i - 1) / 2].weight > h->v[i].weight) {
            big t = h->v[i];
            h->v[i] = h->v[(i - 1) / 2];
            h->v[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
        return;
    }
    free(h->v[0].key);
    h->v[0] = e;
    heap_sift_down(h, 0);
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static void count_prefix(rmig_stats *s, const uint8_t *key, size_t len, uint64_t bytes)
{
    size_t n = 0;
    int seps = 0;
    for (; n < len && n < PREFIX_MAX_LEN; n++) {
        if (key[n] == (uint8_t)s->o.sep && ++seps == s->o.depth)
            break;
    }
    if (seps < s->o.depth)
        n = len < PREFIX_MAX_LEN ? len : PREFIX_MAX_LEN; /* no separator: the key is its prefix */
    size_t mask = s->pt_cap - 1, i = hash_bytes(key, n) & mask;
    while (s->pt[i].name) {
        if (s->pt[i].len == n && !memcmp(s->pt[i].name, key, n)) {
            s->pt[i].keys++;
            s->pt[i].bytes += bytes;
            return;
        }
        i = (i + 1) & mask;
    }
    uint8_t *name = s->pt_used < s->o.max_prefixes ? malloc(n ? n : 1) : NULL;
    if (!name) {
        s->other_keys++;
        s->other_bytes += bytes;
        return;
    }
    memcpy(name, key, n);
    s->pt[i].name = name;
    s->pt[i].len = n;
    s->pt[i].keys = 1;
    s->pt[i].bytes = bytes;
    s->pt_used++;
}

static dbstat *db_of(rmig_stats *s, uint64_t db)
{
    for (int i = 0; i < s->ndbs; i++)
        if (s->dbs[i].db == db)
            return &s->dbs[i];
    if (s->ndbs == MAX_DBS)
        return NULL;
    if (s->ndbs >= 16 && (s->ndbs & (s->ndbs - 1)) == 0) {
        dbstat *d = realloc(s->dbs, (size_t)s->ndbs * 2 * sizeof *d);
        if (!d)
            return NULL;
        s->dbs = d;
    }
    dbstat *d = &s->dbs[s->ndbs++];
    memset(d, 0, sizeof *d);
    d->db = db;
    return d;
}

void rmig_stats_key(rmig_stats *s, uint64_t db, const uint8_t *key, size_t key_len, int kind,
                    uint64_t raw_len, uint64_t elements, int64_t expire_ms)
{
    if (kind < 0 || kind >= RMIG_KIND_COUNT)
        kind = RMIG_KIND_MODULE;
    uint64_t bytes = raw_len + key_len;
    s->keys++;
    s->kind_keys[kind]++;
    s->kind_bytes[kind] += bytes;
    s->kind_elems[kind] += elements;
    dbstat *d = db_of(s, db);
    if (d)
        d->keys[kind]++;
    else
        s->other_db_keys++;
    if (expire_ms >= 0) {
        s->ttl++;
        if (d)
            d->ttl++;
        if (expire_ms <= s->o.now_ms)
            s->expired++;
    }
    big b = {0, db, bytes, elements, kind, (uint8_t *)key, key_len};
    if (s->by_size.n < s->by_size.cap || bytes > s->by_size.v[0].weight)
        heap_offer(&s->by_size, bytes, &b);
    if (s->by_elems.n < s->by_elems.cap || elements > s->by_elems.v[0].weight)
        heap_offer(&s->by_elems, elements, &b);
    count_prefix(s, key, key_len, bytes);
}

/* ---- reports ---- */

/* heaviest first; ties by db and key, so the report does not depend on heap order */
static int cmp_big(const void *a, const void *b)
{
    const big *x = a, *y = b;
    if (x->weight != y->weight)
        return x->weight < y->weight ? 1 : -1;
    if (x->db != y->db)
        return x->db < y->db ? -1 : 1;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static int cmp_prefix(const void *a, const void *b)
{
    const prefix *x = *(prefix *const *)a, *y = *(prefix *const *)b;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

static big *sorted_heap(const heap *h)
{
    big *v = malloc(((size_t)h->n + 1) * sizeof *v);
    if (!v)
        return NULL;
    memcpy(v, h->v, (size_t)h->n * sizeof *v);
    qsort(v, (size_t)h->n, sizeof *v, cmp_big);
    return v;
}

static prefix **sorted_prefixes(const rmig_stats *s, size_t *n)
{
    prefix **v = malloc((s->pt_used + 1) * sizeof *v);
    *n = 0;
    if (!v)
        return NULL;
    for (size_t i = 0; i < s->pt_cap; i++)
        if (s->pt[i].name)
            v[(*n)++] = &s->pt[i];
    qsort(v, *n, sizeof *v, cmp_prefix);
    return v;
}

static void human(char *b, size_t cap, uint64_t n)
{
    static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double d = (double)n;
    int i = 0;
    while (d >= 1024 && i < 4) {
        d /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(b, cap, "%llu B", (unsigned long long)n);
    else
        snprintf(b, cap, "%.1f %s", d, u[i]);
}

static void text_key(rmig_out *o, const uint8_t *k, size_t n)
{
    for (size_t i = 0; i < n && i < 80; i++) {
        if (k[i] >= 32 && k[i] < 127)
            rmig_out_char(o, (char)k[i]);
        else
            rmig_out_printf(o, "\\x%02x", k[i]);
    }
    if (n > 80)
        rmig_out_str(o, "...");
}

void rmig_stats_print_text(const rmig_stats *s, rmig_out *o)
{
    char h[32];
    human(h, sizeof h, s->file_bytes);
    rmig_out_printf(o, "file        %s (RDB version %d, %s)\n", s->file, s->version, h);
    rmig_out_printf(o, "keys        %llu (with TTL %llu, already expired %llu)\n",
                    (unsigned long long)s->keys, (unsigned long long)s->ttl,
                    (unsigned long long)s->expired);
    rmig_out_str(o, "\nby database\n  db        keys         string     list      set       zset      hash      stream    module\n");
    for (int i = 0; i < s->ndbs; i++) {
        const dbstat *d = &s->dbs[i];
        uint64_t t = 0;
        for (int k = 0; k < RMIG_KIND_COUNT; k++)
            t += d->keys[k];
        rmig_out_printf(o, "  %-9llu %-12llu", (unsigned long long)d->db, (unsigned long long)t);
        for (int k = 0; k < RMIG_KIND_COUNT; k++)
            rmig_out_printf(o, " %-9llu", (unsigned long long)d->keys[k]);
        rmig_out_char(o, '\n');
    }
    if (s->other_db_keys)
        rmig_out_printf(o, "  (%llu keys in further databases)\n", (unsigned long long)s->other_db_keys);
    rmig_out_str(o, "\nby type     keys         elements       serialized bytes\n");
    for (int k = 0; k < RMIG_KIND_COUNT; k++) {
        if (!s->kind_keys[k])
            continue;
        human(h, sizeof h, s->kind_bytes[k]);
        rmig_out_printf(o, "  %-9s %-12llu %-14llu %s\n", rmig_rdb_kind_name(k),
                        (unsigned long long)s->kind_keys[k], (unsigned long long)s->kind_elems[k], h);
    }
    const heap *hs[2] = {&s->by_size, &s->by_elems};
    const char *titles[2] = {"biggest keys by serialized size", "biggest keys by element count"};
    for (int j = 0; j < 2; j++) {
        big *v = sorted_heap(hs[j]);
        if (!v)
            continue;
        rmig_out_printf(o, "\n%s\n", titles[j]);
        for (int i = 0; i < hs[j]->n; i++) {
            human(h, sizeof h, v[i].bytes);
            rmig_out_printf(o, "  %-10s %-14llu %-6s db %-3llu ", h, (unsigned long long)v[i].elements,
                            rmig_rdb_kind_name(v[i].kind), (unsigned long long)v[i].db);
            text_key(o, v[i].key, v[i].key_len);
            rmig_out_char(o, '\n');
        }
        free(v);
    }
    size_t n;
    prefix **pv = sorted_prefixes(s, &n);
    if (pv) {
        rmig_out_printf(o, "\nbytes by key prefix (separator '%c', top %d)\n", s->o.sep,
                        n < 30 ? (int)n : 30);
        for (size_t i = 0; i < n && i < 30; i++) {
            human(h, sizeof h, pv[i]->bytes);
            rmig_out_printf(o, "  %-10s %-12llu ", h, (unsigned long long)pv[i]->keys);
            text_key(o, pv[i]->name, pv[i]->len);
            rmig_out_char(o, '\n');
        }
        if (s->other_keys) {
            human(h, sizeof h, s->other_bytes);
            rmig_out_printf(o, "  %-10s %-12llu (other prefixes, past the first %zu)\n", h,
                            (unsigned long long)s->other_keys, s->o.max_prefixes);
        }
        free(pv);
    }
}

static void json_big(rmig_out *o, const heap *h)
{
    big *v = sorted_heap(h);
    rmig_out_char(o, '[');
    for (int i = 0; v && i < h->n; i++) {
        rmig_out_printf(o, "%s{\"db\":%llu,\"key\":", i ? "," : "", (unsigned long long)v[i].db);
        rmig_out_json_bytes(o, v[i].key, v[i].key_len);
        rmig_out_printf(o, ",\"type\":\"%s\",\"bytes\":%llu,\"elements\":%llu}",
                        rmig_rdb_kind_name(v[i].kind), (unsigned long long)v[i].bytes,
                        (unsigned long long)v[i].elements);
    }
    rmig_out_char(o, ']');
    free(v);
}

void rmig_stats_print_json(const rmig_stats *s, rmig_out *o)
{
    rmig_out_str(o, "{\"file\":");
    rmig_out_json_bytes(o, (const uint8_t *)s->file, strlen(s->file));
    rmig_out_printf(o, ",\"version\":%d,\"file_bytes\":%llu,\"keys\":%llu,\"keys_with_ttl\":%llu,"
                       "\"keys_expired\":%llu,\"dbs\":{",
                    s->version, (unsigned long long)s->file_bytes, (unsigned long long)s->keys,
                    (unsigned long long)s->ttl, (unsigned long long)s->expired);
    for (int i = 0; i < s->ndbs; i++) {
        rmig_out_printf(o, "%s\"%llu\":{", i ? "," : "", (unsigned long long)s->dbs[i].db);
        for (int k = 0; k < RMIG_KIND_COUNT; k++)
            rmig_out_printf(o, "%s\"%s\":%llu", k ? "," : "", rmig_rdb_kind_name(k),
                            (unsigned long long)s->dbs[i].keys[k]);
        rmig_out_printf(o, ",\"ttl\":%llu}", (unsigned long long)s->dbs[i].ttl);
    }
    rmig_out_str(o, "},\"types\":{");
    for (int k = 0, first = 1; k < RMIG_KIND_COUNT; k++) {
        if (!s->kind_keys[k])
            continue;
        rmig_out_printf(o, "%s\"%s\":{\"keys\":%llu,\"elements\":%llu,\"bytes\":%llu}",
                        first ? "" : ",", rmig_rdb_kind_name(k), (unsigned long long)s->kind_keys[k],
                        (unsigned long long)s->kind_elems[k], (unsigned long long)s->kind_bytes[k]);
        first = 0;
    }
    rmig_out_str(o, "},\"biggest_by_bytes\":");
    json_big(o, &s->by_size);
    rmig_out_str(o, ",\"biggest_by_elements\":");
    json_big(o, &s->by_elems);
    rmig_out_str(o, ",\"prefixes\":[");
    size_t n;
    prefix **pv = sorted_prefixes(s, &n);
    for (size_t i = 0; pv && i < n; i++) {
        rmig_out_str(o, i ? ",{\"prefix\":" : "{\"prefix\":");
        rmig_out_json_bytes(o, pv[i]->name, pv[i]->len);
        rmig_out_printf(o, ",\"keys\":%llu,\"bytes\":%llu}", (unsigned long long)pv[i]->keys,
                        (unsigned long long)pv[i]->bytes);
    }
    free(pv);
    rmig_out_printf(o, "],\"other_prefixes\":{\"keys\":%llu,\"bytes\":%llu}}\n",
                    (unsigned long long)s->other_keys, (unsigned long long)s->other_bytes);
}
