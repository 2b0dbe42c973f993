/* filter.c - the built-in nodes (see filter.h). */
#include "filter.h"

#include "glob.h"

#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct blist {
    uint8_t **p;
    size_t *n;
    size_t count;
} blist;

struct rmig_filter {
    int type;
    blist allow, deny, prefix, suffix, rfrom, rto, sfrom, sto;
    regex_t *re;
    size_t nre;
    uint64_t *db_allow, *map_from, *map_to;
    size_t ndb_allow, nmap;
    uint32_t type_allow, type_deny;
    int drop_expired, drop_without_ttl, remove_ttl;
    int64_t shift_ms, max_ms, default_ms, min_ms;
    rmig_filter_stats st;
};

static int copy_list(blist *d, rmig_list s)
{
    d->count = s.n;
    d->p = calloc(s.n ? s.n : 1, sizeof *d->p);
    d->n = calloc(s.n ? s.n : 1, sizeof *d->n);
    if (!d->p || !d->n)
        return -1;
    for (size_t i = 0; i < s.n; i++) {
        d->p[i] = malloc(s.v[i].n ? s.v[i].n : 1);
        if (!d->p[i])
            return -1;
        memcpy(d->p[i], s.v[i].p, s.v[i].n);
        d->n[i] = s.v[i].n;
    }
    return 0;
}

static void free_list(blist *l)
{
    for (size_t i = 0; l->p && i < l->count; i++)
        free(l->p[i]);
    free(l->p);
    free(l->n);
}

static uint64_t *copy_u64(const uint64_t *v, size_t n)
{
    uint64_t *d = malloc((n ? n : 1) * sizeof *d);
    if (d && n)
        memcpy(d, v, n * sizeof *d);
    return d;
}

void rmig_filter_free(rmig_filter *f)
{
    if (!f)
        return;
    blist *ls[] = {&f->allow, &f->deny, &f->prefix, &f->suffix, &f->rfrom, &f->rto, &f->sfrom, &f->sto};
    for (size_t i = 0; i < sizeof ls / sizeof *ls; i++)
        free_list(ls[i]);
    for (size_t i = 0; i < f->nre; i++)
        regfree(&f->re[i]);
    free(f->re);
    free(f->db_allow);
    free(f->map_from);
    free(f->map_to);
    free(f);
}

rmig_filter *rmig_filter_new(const rmig_filter_conf *c, char *err, size_t errlen)
{
    rmig_filter *f = calloc(1, sizeof *f);
    if (!f)
        goto oom;
    f->type = c->type;
    if (copy_list(&f->allow, c->allow) || copy_list(&f->deny, c->deny) || copy_list(&f->prefix, c->prefix) ||
        copy_list(&f->suffix, c->suffix) || copy_list(&f->rfrom, c->rename_from) ||
        copy_list(&f->rto, c->rename_to) || copy_list(&f->sfrom, c->suffix_from) ||
        copy_list(&f->sto, c->suffix_to))
        goto oom;
    if (f->rfrom.count != f->rto.count || f->sfrom.count != f->sto.count) {
        snprintf(err, errlen, "rename: as many new names as old ones are needed");
        rmig_filter_free(f);
        return NULL;
    }
    f->re = calloc(c->regex.n ? c->regex.n : 1, sizeof *f->re);
    if (!f->re)
        goto oom;
    for (size_t i = 0; i < c->regex.n; i++) {
        char pat[1024];
        size_t n = c->regex.v[i].n < sizeof pat - 1 ? c->regex.v[i].n : sizeof pat - 1;
        memcpy(pat, c->regex.v[i].p, n);
        pat[n] = '\0';
        int r = regcomp(&f->re[i], pat, REG_EXTENDED | REG_NOSUB);
        if (r) {
            char why[200];
            regerror(r, &f->re[i], why, sizeof why);
            snprintf(err, errlen, "regular expression \"%s\": %s", pat, why);
            rmig_filter_free(f);
            return NULL;
        }
        f->nre++;
    }
    f->db_allow = copy_u64(c->db_allow, c->ndb_allow);
    f->map_from = copy_u64(c->map_from, c->nmap);
    f->map_to = copy_u64(c->map_to, c->nmap);
    if (!f->db_allow || !f->map_from || !f->map_to)
        goto oom;
    f->ndb_allow = c->ndb_allow;
    f->nmap = c->nmap;
    f->type_allow = c->type_allow;
    f->type_deny = c->type_deny;
    f->drop_expired = c->drop_expired;
    f->drop_without_ttl = c->drop_without_ttl;
    f->remove_ttl = c->remove_ttl;
    f->shift_ms = c->shift_ms;
    f->max_ms = c->max_ms;
    f->default_ms = c->default_ms;
    f->min_ms = c->min_ms;
    return f;
oom:
    snprintf(err, errlen, "out of memory");
    rmig_filter_free(f);
    return NULL;
}

const rmig_filter_stats *rmig_filter_stats_of(const rmig_filter *f) { return &f->st; }

static int any_glob(const blist *l, const rmig_entry *e)
{
    for (size_t i = 0; i < l->count; i++)
        if (rmig_glob_match(l->p[i], l->n[i], e->key, e->key_len, 0))
            return 1;
    return 0;
}

static int any_prefix(const blist *l, const rmig_entry *e)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->n[i] <= e->key_len && !memcmp(e->key, l->p[i], l->n[i]))
            return 1;
    return 0;
}

static int any_suffix(const blist *l, const rmig_entry *e)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->n[i] <= e->key_len && !memcmp(e->key + e->key_len - l->n[i], l->p[i], l->n[i]))
            return 1;
    return 0;
}

static int any_regex(const rmig_filter *f, const rmig_entry *e)
{
    for (size_t i = 0; i < f->nre; i++) {
        /* REG_STARTEND: keys are bytes, NULs included */
        regmatch_t m = {0, (regoff_t)e->key_len};
        if (regexec(&f->re[i], (const char *)e->key, 1, &m, REG_STARTEND) == 0)
            return 1;
    }
    return 0;
}

static int keys_keep(const rmig_filter *f, const rmig_entry *e)
{
    int positive = f->allow.count || f->prefix.count || f->suffix.count || f->nre;
    if (positive && !(any_glob(&f->allow, e) || any_prefix(&f->prefix, e) || any_suffix(&f->suffix, e) ||
                      any_regex(f, e)))
        return 0;
    return !any_glob(&f->deny, e);
}

/* The longest matching old affix, or -1. */
static long longest(const blist *from, const rmig_entry *e, int suffix)
{
    long best = -1;
    for (size_t i = 0; i < from->count; i++) {
        size_t n = from->n[i];
        if (n > e->key_len)
            continue;
        const uint8_t *at = suffix ? e->key + e->key_len - n : e->key;
        if (!memcmp(at, from->p[i], n) && (best < 0 || n > from->n[best]))
            best = (long)i;
    }
    return best;
}

/* The new name of key k by the rename rules, in *out (small, or malloc'd
 * when bigger; the caller frees it when it is not small): its length, or 0
 * when no rule applies; -1 when out of memory. */
static long renamed(rmig_filter *f, const uint8_t *k, size_t len, uint8_t *small, size_t cap, uint8_t **out)
{
    rmig_entry v = {.key = k, .key_len = (uint32_t)len};
    long i = longest(&f->rfrom, &v, 0), j = longest(&f->sfrom, &v, 1);
    if (i < 0 && j < 0)
        return 0;
    size_t cut_front = i >= 0 ? f->rfrom.n[i] : 0, cut_back = j >= 0 ? f->sfrom.n[j] : 0;
    if (cut_front + cut_back > len) /* the affixes overlap: apply the prefix only */
        cut_back = 0, j = -1;
    size_t add_front = i >= 0 ? f->rto.n[i] : 0, add_back = j >= 0 ? f->sto.n[j] : 0;
    size_t mid = len - cut_front - cut_back, n = add_front + mid + add_back;
    uint8_t *tmp = n <= cap ? small : malloc(n ? n : 1);
    if (!tmp)
        return -1;
    if (add_front)
        memcpy(tmp, f->rto.p[i], add_front);
    memcpy(tmp + add_front, k + cut_front, mid);
    if (add_back)
        memcpy(tmp + add_front + mid, f->sto.p[j], add_back);
    *out = tmp;
    return n ? (long)n : LONG_MIN; /* an empty new name is still a rename */
}

static int rename_entry(rmig_filter *f, rmig_batch *b, rmig_entry *e)
{
    uint8_t small[512], *tmp = NULL;
    long n = renamed(f, e->key, e->key_len, small, sizeof small, &tmp);
    if (n == 0)
        return 0;
    if (n == -1)
        return -1;
    int r = rmig_batch_set_key(b, e, tmp, n == LONG_MIN ? 0 : (size_t)n);
    if (tmp != small)
        free(tmp);
    return r < 0 ? -1 : 1;
}

static int db_entry(rmig_filter *f, rmig_entry *e)
{
    if (f->ndb_allow) {
        int ok = 0;
        for (size_t i = 0; i < f->ndb_allow && !ok; i++)
            ok = f->db_allow[i] == e->db;
        if (!ok)
            return -1;
    }
    for (size_t i = 0; i < f->nmap; i++) {
        if (f->map_from[i] == e->db) {
            if (f->map_to[i] != e->db) {
                e->db = f->map_to[i];
                e->flags |= RMIG_ENTRY_CHANGED;
                return 1;
            }
            return 0;
        }
    }
    return 0;
}

static int ttl_entry(rmig_filter *f, rmig_entry *e, int64_t now)
{
    int64_t x = e->expire_ms, was = x;
    if (x >= 0 && f->drop_expired && x <= now)
        return -1;
    /* judged on the source's expiry: a shift or cap must not save a key about to vanish */
    if (x >= 0 && f->min_ms && x < now + f->min_ms)
        return -1;
    if (x < 0 && f->drop_without_ttl)
        return -1;
    if (f->remove_ttl)
        x = -1;
    if (x >= 0 && f->shift_ms)
        x += f->shift_ms;
    if (x < 0 && f->default_ms && !f->remove_ttl)
        x = now + f->default_ms;
    if (x >= 0 && f->max_ms && x > now + f->max_ms)
        x = now + f->max_ms;
    if (x == was)
        return 0;
    e->expire_ms = x;
    e->flags |= RMIG_ENTRY_CHANGED;
    return 1;
}

/* ---- commands from a live stream ---- */

static int name_in(const blist *l, const rmig_slice *name)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->n[i] == name->n && !strncasecmp((const char *)l->p[i], (const char *)name->p, name->n))
            return 1;
    return 0;
}

/* keys: a command whose keys are all kept is kept, one with none kept is
 * dropped; one with some of each is split when the command allows it (DEL,
 * MSET: one group of arguments per key) and otherwise dropped and counted
 * as `mixed` (a RENAME from a kept key to a dropped one has no right
 * answer; the run reports them). */
static int keys_cmd(rmig_filter *f, rmig_batch *b, rmig_entry *e)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < e->nkeys; i++) {
        rmig_entry v = {.key = e->argv[e->keys[i]].p, .key_len = (uint32_t)e->argv[e->keys[i]].n};
        kept += (uint32_t)keys_keep(f, &v);
    }
    if (kept == e->nkeys)
        return 0;
    if (kept == 0)
        return -1;
    uint32_t g = e->split_group;
    if (!g) {
        f->st.mixed++;
        return -1;
    }
    rmig_slice *a = malloc(e->argc * sizeof *a);
    uint32_t *k = malloc(e->nkeys * sizeof *k), argc = 1, nk = 0;
    if (!a || !k) {
        free(a);
        free(k);
        return -2;
    }
    a[0] = e->argv[0];
    for (uint32_t i = 0; i < e->nkeys; i++) {
        uint32_t at = e->keys[i];
        rmig_entry v = {.key = e->argv[at].p, .key_len = (uint32_t)e->argv[at].n};
        if (!keys_keep(f, &v) || at + g > e->argc)
            continue;
        k[nk++] = argc;
        for (uint32_t j = 0; j < g; j++)
            a[argc++] = e->argv[at + j];
    }
    int rc = rmig_batch_set_argv(b, e, a, argc, k, nk);
    free(a);
    free(k);
    f->st.split++;
    return rc < 0 ? -2 : 1;
}

static int rename_cmd(rmig_filter *f, rmig_batch *b, rmig_entry *e)
{
    rmig_slice *a = NULL;
    for (uint32_t i = 0; i < e->nkeys; i++) {
        const rmig_slice *arg = &e->argv[e->keys[i]];
        uint8_t small[512], *tmp = NULL;
        long n = renamed(f, arg->p, arg->n, small, sizeof small, &tmp);
        if (n == 0)
            continue;
        if (n == -1)
            goto oom;
        if (!a) {
            if (!(a = malloc(e->argc * sizeof *a))) {
                if (tmp != small)
                    free(tmp);
                goto oom;
            }
            memcpy(a, e->argv, e->argc * sizeof *a);
        }
        size_t len = n == LONG_MIN ? 0 : (size_t)n;
        const uint8_t *copy = rmig_batch_copy(b, tmp, len);
        if (tmp != small)
            free(tmp);
        if (!copy)
            goto oom;
        a[e->keys[i]] = (rmig_slice){copy, len};
    }
    if (!a)
        return 0;
    int rc = rmig_batch_set_argv(b, e, a, e->argc, e->keys, e->nkeys);
    free(a);
    return rc < 0 ? -2 : 1;
oom:
    free(a);
    return -2;
}

/* What a node does with a CMD entry: -1 drop, 0 keep, 1 changed, -2 out of
 * memory. Type and TTL nodes judge keys of a snapshot; commands pass. */
static int cmd_entry(rmig_filter *f, rmig_batch *b, rmig_entry *e)
{
    switch (f->type) {
    case RMIG_FILTER_KEYS: return keys_cmd(f, b, e);
    case RMIG_FILTER_RENAME: return rename_cmd(f, b, e);
    case RMIG_FILTER_DB: return db_entry(f, e);
    case RMIG_FILTER_COMMANDS:
        if (f->allow.count && !name_in(&f->allow, &e->argv[0]))
            return -1;
        return name_in(&f->deny, &e->argv[0]) ? -1 : 0;
    default: return 0;
    }
}

int rmig_filter_run(rmig_filter *f, uint32_t index, rmig_batch *b, int64_t now_ms)
{
    for (uint32_t k = 0; k < b->n; k++) {
        rmig_entry *e = &b->e[k];
        if (e->kind == RMIG_ENTRY_META || (e->flags & RMIG_ENTRY_DROPPED) || e->from_node >= index)
            continue; /* emitted entries go only through the nodes after their emitter */
        f->st.seen++;
        int r = 0;
        if (e->kind == RMIG_ENTRY_CMD) {
            r = e->argc ? cmd_entry(f, b, e) : 0;
            if (r == -2)
                return -1;
        } else switch (f->type) {
        case RMIG_FILTER_KEYS: r = keys_keep(f, e) ? 0 : -1; break;
        case RMIG_FILTER_RENAME:
            r = rename_entry(f, b, e);
            if (r < 0)
                return -1;
            break;
        case RMIG_FILTER_DB: r = db_entry(f, e); break;
        case RMIG_FILTER_TYPE: {
            uint32_t bit = 1u << (e->type & 31);
            r = (f->type_allow && !(f->type_allow & bit)) || (f->type_deny & bit) ? -1 : 0;
            break;
        }
        case RMIG_FILTER_TTL: r = ttl_entry(f, e, now_ms); break;
        default: break; /* commands: keys pass */
        }
        if (r < 0) {
            rmig_batch_drop(b, e, index);
            f->st.dropped++;
        } else if (r > 0) {
            f->st.changed++;
        }
    }
    return 0;
}
