/* test_filter.c - the built-in nodes on batches: which keys stay, what they
 * become, what each node counts; and the batch arena keeping its copies. */
#include "filter.h"
#include "rdb.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>

static rmig_bytes B(const char *s) { return (rmig_bytes){s, strlen(s)}; }

static void fill(rmig_batch *b)
{
    static const struct {
        const char *key;
        uint64_t db;
        int kind;
        int64_t exp;
    } rows[] = {
        {"user:1", 0, RMIG_KIND_HASH, -1},     {"user:2:tmp", 0, RMIG_KIND_STRING, 5000},
        {"order:7", 1, RMIG_KIND_LIST, 900},   {"session:x", 2, RMIG_KIND_STRING, 2000},
        {"users", 0, RMIG_KIND_SET, -1},       {"user:3", 1, RMIG_KIND_STREAM, 100000},
    };
    rmig_batch_reset(b);
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        rmig_entry *e = rmig_batch_add(b);
        e->key = (const uint8_t *)rows[i].key;
        e->key_len = (uint32_t)strlen(rows[i].key);
        e->db = rows[i].db;
        e->type = rows[i].kind;
        e->expire_ms = rows[i].exp;
    }
}

/* the kept keys, space-separated, as "db/key" */
static const char *kept(const rmig_batch *b)
{
    static char out[512];
    size_t o = 0;
    out[0] = 0;
    for (uint32_t i = 0; i < b->n; i++)
        if (!(b->e[i].flags & RMIG_ENTRY_DROPPED))
            o += (size_t)snprintf(out + o, sizeof out - o, "%s%llu/%.*s", o ? " " : "",
                                  (unsigned long long)b->e[i].db, (int)b->e[i].key_len, (const char *)b->e[i].key);
    return out;
}

static const char *run1(rmig_batch *b, const rmig_filter_conf *c, int64_t now)
{
    static char err[200];
    fill(b);
    rmig_filter *f = rmig_filter_new(c, err, sizeof err);
    if (!f)
        return err;
    rmig_filter_run(f, 1, b, now);
    rmig_filter_free(f);
    return kept(b);
}

int main(void)
{
    rmig_batch b;
    rmig_batch_init(&b, 64);
    const char *r;

    rmig_bytes allow[] = {B("user:*"), B("order:*")}, deny[] = {B("*:tmp")};
    rmig_filter_conf keys = {.type = RMIG_FILTER_KEYS, .allow = {allow, 2}, .deny = {deny, 1}};
    r = run1(&b, &keys, 0);
    CHECK("keys: allow globs keep, deny globs drop, deny wins", !strcmp(r, "0/user:1 1/order:7 1/user:3"), "%s", r);

    rmig_bytes pre[] = {B("sess")}, suf[] = {B("s")};
    rmig_filter_conf ps = {.type = RMIG_FILTER_KEYS, .prefix = {pre, 1}, .suffix = {suf, 1}};
    r = run1(&b, &ps, 0);
    CHECK("keys: prefixes and suffixes are either-or", !strcmp(r, "2/session:x 0/users"), "%s", r);

    rmig_bytes re[] = {B("^user:[0-9]+$")};
    rmig_filter_conf rx = {.type = RMIG_FILTER_KEYS, .regex = {re, 1}};
    r = run1(&b, &rx, 0);
    CHECK("keys: regular expressions match whole keys when anchored", !strcmp(r, "0/user:1 1/user:3"), "%s", r);
    rmig_bytes bad[] = {B("(unclosed")};
    rmig_filter_conf rxbad = {.type = RMIG_FILTER_KEYS, .regex = {bad, 1}};
    char err[200];
    CHECK("keys: a bad regular expression is refused, quoting it", !rmig_filter_new(&rxbad, err, sizeof err) &&
                                                                      strstr(err, "(unclosed"),
          "%s", err);

    rmig_bytes from[] = {B("user:"), B("user:2:")}, to[] = {B("u:"), B("u2:")};
    rmig_bytes sfrom[] = {B(":tmp")}, sto[] = {B(":t")};
    rmig_filter_conf ren = {.type = RMIG_FILTER_RENAME, .rename_from = {from, 2}, .rename_to = {to, 2},
                            .suffix_from = {sfrom, 1}, .suffix_to = {sto, 1}};
    r = run1(&b, &ren, 0);
    CHECK("rename: the longest matching prefix wins; a suffix overlapping it is left alone",
          !strcmp(r, "0/u:1 0/u2:tmp 1/order:7 2/session:x 0/users 1/u:3"), "%s", r);
    CHECK("rename: renamed entries are marked changed", (b.e[0].flags & RMIG_ENTRY_CHANGED) &&
                                                            !(b.e[2].flags & RMIG_ENTRY_CHANGED),
          "flags");

    uint64_t dballow[] = {0, 1}, mf[] = {1}, mt[] = {0};
    rmig_filter_conf db = {.type = RMIG_FILTER_DB, .db_allow = dballow, .ndb_allow = 2, .map_from = mf,
                           .map_to = mt, .nmap = 1};
    r = run1(&b, &db, 0);
    CHECK("db: only allowed databases stay, and 1 is mapped to 0",
          !strcmp(r, "0/user:1 0/user:2:tmp 0/order:7 0/users 0/user:3"), "%s", r);

    rmig_filter_conf ty = {.type = RMIG_FILTER_TYPE, .type_deny = 1u << RMIG_KIND_STRING | 1u << RMIG_KIND_STREAM};
    r = run1(&b, &ty, 0);
    CHECK("type: denied kinds are dropped", !strcmp(r, "0/user:1 1/order:7 0/users"), "%s", r);

    rmig_filter_conf ttl = {.type = RMIG_FILTER_TTL, .drop_expired = 1, .max_ms = 10000};
    fill(&b);
    rmig_filter *f = rmig_filter_new(&ttl, err, sizeof err);
    rmig_filter_run(f, 3, &b, 1000);
    r = kept(&b);
    CHECK("ttl: keys already expired are dropped", !strcmp(r, "0/user:1 0/user:2:tmp 2/session:x 0/users 1/user:3"),
          "%s", r);
    CHECK("ttl: long TTLs are capped, short ones kept", b.e[5].expire_ms == 11000 && b.e[1].expire_ms == 5000 &&
                                                            b.e[0].expire_ms == -1,
          "%lld %lld", (long long)b.e[5].expire_ms, (long long)b.e[1].expire_ms);
    CHECK("a dropped entry records which node dropped it", b.e[2].dropped_by == 3, "%u", b.e[2].dropped_by);
    const rmig_filter_stats *st = rmig_filter_stats_of(f);
    CHECK("nodes count what they saw, dropped and changed", st->seen == 6 && st->dropped == 1 && st->changed == 1,
          "%llu %llu %llu", (unsigned long long)st->seen, (unsigned long long)st->dropped,
          (unsigned long long)st->changed);
    rmig_filter_free(f);

    rmig_filter_conf give = {.type = RMIG_FILTER_TTL, .default_ms = 60000, .shift_ms = 5};
    fill(&b);
    f = rmig_filter_new(&give, err, sizeof err);
    rmig_filter_run(f, 1, &b, 1000);
    CHECK("ttl: keys without a TTL get the default, others are shifted",
          b.e[0].expire_ms == 61000 && b.e[1].expire_ms == 5005, "%lld %lld", (long long)b.e[0].expire_ms,
          (long long)b.e[1].expire_ms);
    rmig_filter_free(f);

    /* at now = 1000 the TTLs left are 4000 (user:2:tmp), 1000 (session:x), 99000 (user:3) */
    rmig_filter_conf soon = {.type = RMIG_FILTER_TTL, .min_ms = 4000, .shift_ms = 10000};
    r = run1(&b, &soon, 1000);
    CHECK("ttl: keys expiring sooner than min_ms are dropped, judged before the shift",
          !strcmp(r, "0/user:1 0/user:2:tmp 0/users 1/user:3"), "%s", r);

    /* the arena keeps every copy in place while it grows */
    rmig_batch_reset(&b);
    const uint8_t *first = rmig_batch_copy(&b, "first-copy", 10);
    for (int i = 0; i < 20000; i++)
        rmig_batch_copy(&b, "0123456789abcdef", 16);
    const uint8_t *big = rmig_batch_copy(&b, NULL, 0);
    static uint8_t huge[300000];
    memset(huge, 'h', sizeof huge);
    const uint8_t *h = rmig_batch_copy(&b, huge, sizeof huge);
    CHECK("arena copies stay valid as the arena grows", !memcmp(first, "first-copy", 10) && big && h &&
                                                            h[sizeof huge - 1] == 'h',
          "moved");
    rmig_batch_reset(&b);
    CHECK("a reset arena is reused", rmig_batch_copy(&b, "x", 1) != NULL, "no");
    rmig_batch_free(&b);
    return rmig_t_done();
}
