/* codis_cmd.c - the Codis-only commands of a codis-server's replication
 * stream, as plain Redis commands.
 *
 * What reaches a replica is what codis-server 3.2 (Codis 3.2.x,
 * extern/redis-3.2.11; slots.c read in its 3.2.7 copy, which 3.2.11 keeps)
 * propagates: call() hands propagate() the command's argv after the command
 * ran, and only when it changed data (server.dirty moved; no Codis command
 * has the force-replication flag). So:
 *
 * - SLOTSRESTORE key ttl payload [...] (slots.c) runs on the group a
 *   synchronous migration moves keys to. It checks every triple first (TTL
 *   a number >= 0, payload version and CRC), then for each: dbDelete,
 *   dbAdd, and setExpire(now + ttl) when ttl != 0. The TTL is relative
 *   milliseconds, computed by the sending server as expireat - now and
 *   never below 1 for a key with an expiry (0: none). It is propagated as
 *   it is, so it becomes one RESTORE key ttl payload REPLACE per triple.
 *   A negative TTL is refused by codis-server and so never propagated:
 *   malformed here.
 * - SLOTSMGRTSLOT / SLOTSMGRTONE / SLOTSMGRTTAGSLOT / SLOTSMGRTTAGONE run on
 *   the group keys leave; once the target answered, slotsremove() deletes
 *   the keys and rewrites the command's argv to DEL key..., which is what
 *   the replicas see. The commands themselves never reach a stream: if one
 *   does, it carries no data and is dropped (CONTROL).
 * - The -ASYNC migrations (slots_async.c) change nothing when they run; the
 *   source deletes the moved keys when the target's last
 *   SLOTSRESTORE-ASYNC-ACK of a batch arrives, rewriting that ACK's argv to
 *   DEL key..., which is propagated. An ACK that deleted nothing is not
 *   propagated; one seen anyway is dropped (CONTROL). SLOTSMGRT-ASYNC-FENCE,
 *   -CANCEL, -STATUS and the -ASYNC-DUMP commands change no data: dropped.
 * - On the target group, each SLOTSRESTORE-ASYNC message is a command of
 *   the migration's connection, propagated when it changed data:
 *     delete KEY            when it deleted a key -> DEL KEY
 *     expire KEY TTL        always (the key must exist): TTL > 0 sets it,
 *                           0 removes it -> PEXPIRE KEY TTL / PERSIST KEY
 *     string KEY TTL VALUE  a whole string (the key must not exist)
 *                           -> SET KEY VALUE [PX TTL]
 *     object KEY TTL DUMP   a whole value (must not exist)
 *                           -> RESTORE KEY TTL DUMP REPLACE
 *     list|hash|dict|zset KEY TTL HINT [ARG ...]
 *                           a chunk of a big value: appended to the key
 *                           (created if absent; a wrong type is refused),
 *                           then TTL set as above -> RPUSH / HSET / SADD /
 *                           ZADD, then PEXPIRE or PERSIST. HINT is the whole
 *                           value's size (a dict presize), not an index.
 *                           zset ARGs are member, then the score's raw IEEE
 *                           754 bits as 8 little-endian bytes.
 *   A value sent in chunks goes: delete, chunk..., then expire with its
 *   real TTL; the chunks carry TTL = 3 x the migration timeout, so a
 *   half-built key vanishes if the migration dies. Those TTLs are kept: a
 *   replica has them too. How the first chunk meets an old key is the
 *   translator's mode (codis.h, rmig_codis_chunks).
 * - SLOTSRESTORE-ASYNC-AUTH and -SELECT change no data and are not
 *   propagated; a switch of db reaches replicas as the SELECT Redis puts
 *   before the next propagated command. A -SELECT (or early 3.2's
 *   "SLOTSRESTORE-ASYNC select DB") seen anyway becomes SELECT DB; an
 *   -AUTH is dropped, its password never repeated.
 * - SLOTSMGRT-EXEC-WRAPPER hashkey cmd args runs cmd itself (with its own
 *   propagation off) after putting cmd's argv in place of its own, so the
 *   wrapper's propagation sends cmd args: the stream shows the inner
 *   command. A wrapper seen anyway is unwrapped, the inner command
 *   translated in turn.
 * - SLOTSDEL slot... deletes every key of those slots without rewriting its
 *   argv, so it is propagated as it is. A plain Redis has no Codis slots to
 *   delete: UNREPLAYABLE, reported with its slots.
 * - SLOTSHASHKEY, SLOTSINFO, SLOTSSCAN, SLOTSCHECK only read: dropped. */
#include "codis.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_MIN ((size_t)4 << 10)
/* A target group has one migration connection per source group and db, each
 * rebuilding one key at a time: this many open at once means forgotten ones. */
#define MAX_REBUILDS 4096
#define MAX_DEPTH 2

void rmig_codis_xlate_init(rmig_codis_xlate *x, rmig_codis_chunks chunks)
{
    memset(x, 0, sizeof *x);
    x->chunks = chunks;
}

void rmig_codis_xlate_free(rmig_codis_xlate *x)
{
    free(x->argv);
    free(x->start);
    free(x->argc);
    rmig_arena_free(&x->block);
    for (uint32_t i = 0; i < x->nrebuilds; i++)
        free(x->rebuilds[i].key);
    free(x->rebuilds);
    memset(x, 0, sizeof *x);
}

void rmig_codis_xlate_reset(rmig_codis_xlate *x)
{
    x->nargv = x->ncmds = 0;
    rmig_arena_reset(&x->block);
}

const rmig_slice *rmig_codis_xlate_cmd(const rmig_codis_xlate *x, uint32_t i, uint32_t *argc)
{
    *argc = x->argc[i];
    return &x->argv[x->start[i]];
}

/* ---- output ---- */

static uint8_t *block_alloc(rmig_codis_xlate *x, size_t n) { return rmig_arena_alloc(&x->block, n, BLOCK_MIN, 0); }

static int begin(rmig_codis_xlate *x)
{
    if (x->ncmds == x->capcmds) {
        uint32_t cap = x->capcmds ? x->capcmds * 2 : 16;
        uint32_t *s = realloc(x->start, cap * sizeof *s);
        if (s)
            x->start = s;
        uint32_t *a = realloc(x->argc, cap * sizeof *a);
        if (a)
            x->argc = a;
        if (!s || !a)
            return -1;
        x->capcmds = cap;
    }
    x->start[x->ncmds] = x->nargv;
    x->argc[x->ncmds] = 0;
    x->ncmds++;
    return 0;
}

static int push(rmig_codis_xlate *x, const void *p, uint64_t n)
{
    if (x->nargv == x->capargv) {
        uint32_t cap = x->capargv ? x->capargv * 2 : 64;
        rmig_slice *a = realloc(x->argv, cap * sizeof *a);
        if (!a)
            return -1;
        x->argv = a;
        x->capargv = cap;
    }
    x->argv[x->nargv++] = (rmig_slice){p, n};
    x->argc[x->ncmds - 1]++;
    return 0;
}

static int push_str(rmig_codis_xlate *x, const char *s)
{
    return push(x, s, strlen(s));
}

static int push_slice(rmig_codis_xlate *x, const rmig_slice *s)
{
    return push(x, s->p, s->n);
}

static int push_fmt(rmig_codis_xlate *x, const char *text)
{
    size_t n = strlen(text);
    uint8_t *p = block_alloc(x, n ? n : 1);
    if (!p)
        return -1;
    memcpy(p, text, n);
    return push(x, p, n);
}

static int push_ll(rmig_codis_xlate *x, long long v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    return push_fmt(x, buf);
}

/* ---- reading arguments ---- */

static int ieq(const rmig_slice *a, const char *word)
{
    size_t n = strlen(word);
    if (a->n != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower(a->p[i]) != word[i])
            return 0;
    return 1;
}

/* An integer as codis-server 3.2 reads one (getLongLongFromObject: strtoll,
 * no leading blank, nothing after, in range), sign and leading zeros
 * allowed; empty refused (Redis would read 0, but it never writes that). */
static int get_ll(const rmig_slice *a, long long *v)
{
    size_t i = 0;
    int neg = 0;
    if (a->n && (a->p[0] == '-' || a->p[0] == '+')) {
        neg = a->p[0] == '-';
        i = 1;
    }
    if (i == a->n)
        return -1;
    unsigned long long x = 0, lim = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
    for (; i < a->n; i++) {
        if (a->p[i] < '0' || a->p[i] > '9')
            return -1;
        unsigned d = (unsigned)(a->p[i] - '0');
        if (x > (lim - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = neg ? (long long)(0 - x) : (long long)x;
    return 0;
}

/* A key or argument for a message: printable, \xNN for other bytes, cut. */
static const char *show(const rmig_slice *s, char *buf, size_t cap)
{
    size_t o = 0, i = 0;
    for (; i < s->n && o + 8 < cap && o < 80; i++) {
        uint8_t c = s->p[i];
        if (c < 0x20 || c >= 0x7f || c == '\\' || c == '\'')
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    if (i < s->n && o + 4 < cap)
        o += (size_t)snprintf(buf + o, cap - o, "...");
    buf[o] = 0;
    return buf;
}

static int bad(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A TTL argument: a number >= 0 (codis-server refuses a negative one). */
static int get_ttl(const rmig_slice *a, const char *cmd, const rmig_slice *key, long long *ttl, char *why,
                   size_t whylen)
{
    char k[100], t[100];
    if (get_ll(a, ttl) < 0)
        return bad(why, whylen, "%s: key '%s': the TTL '%s' is not a number", cmd, show(key, k, sizeof k),
                   show(a, t, sizeof t));
    if (*ttl < 0)
        return bad(why, whylen,
                   "%s: key '%s': the TTL %lld is negative (codis-server refuses it, so no stream "
                   "carries it)",
                   cmd, show(key, k, sizeof k), *ttl);
    return 0;
}

/* ---- forms ---- */

typedef struct name_form {
    const char *name;
    rmig_codis_form form;
} name_form;

static const name_form names[] = {
    {"slotsrestore", RMIG_CODIS_F_SLOTSRESTORE},
    {"slotsrestore-async", RMIG_CODIS_F_ASYNC_BAD}, /* refined by its subcommand */
    {"slotsrestore-async-select", RMIG_CODIS_F_ASYNC_SELECT},
    {"slotsrestore-async-auth", RMIG_CODIS_F_ASYNC_AUTH},
    {"slotsrestore-async-ack", RMIG_CODIS_F_ASYNC_ACK},
    {"slotsmgrt-exec-wrapper", RMIG_CODIS_F_EXEC_WRAPPER},
    {"slotsmgrtslot", RMIG_CODIS_F_MIGRATE},
    {"slotsmgrtone", RMIG_CODIS_F_MIGRATE},
    {"slotsmgrttagslot", RMIG_CODIS_F_MIGRATE},
    {"slotsmgrttagone", RMIG_CODIS_F_MIGRATE},
    {"slotsmgrtslot-async", RMIG_CODIS_F_MIGRATE},
    {"slotsmgrttagslot-async", RMIG_CODIS_F_MIGRATE},
    {"slotsmgrtone-async", RMIG_CODIS_F_MIGRATE},
    {"slotsmgrttagone-async", RMIG_CODIS_F_MIGRATE},
    {"slotsmgrtone-async-dump", RMIG_CODIS_F_MIGRATE},
    {"slotsmgrttagone-async-dump", RMIG_CODIS_F_MIGRATE},
    {"slotsmgrt-async-fence", RMIG_CODIS_F_MIGRATE},
    {"slotsmgrt-async-cancel", RMIG_CODIS_F_MIGRATE},
    {"slotsmgrt-async-status", RMIG_CODIS_F_MIGRATE},
    {"slotsdel", RMIG_CODIS_F_SLOTSDEL},
    {"slotshashkey", RMIG_CODIS_F_READONLY},
    {"slotsinfo", RMIG_CODIS_F_READONLY},
    {"slotsscan", RMIG_CODIS_F_READONLY},
    {"slotscheck", RMIG_CODIS_F_READONLY},
};

static const name_form async_subs[] = {
    {"delete", RMIG_CODIS_F_ASYNC_DELETE}, {"expire", RMIG_CODIS_F_ASYNC_EXPIRE},
    {"string", RMIG_CODIS_F_ASYNC_STRING}, {"object", RMIG_CODIS_F_ASYNC_OBJECT},
    {"list", RMIG_CODIS_F_ASYNC_LIST},     {"hash", RMIG_CODIS_F_ASYNC_HASH},
    {"dict", RMIG_CODIS_F_ASYNC_DICT},     {"zset", RMIG_CODIS_F_ASYNC_ZSET},
    {"select", RMIG_CODIS_F_ASYNC_SELECT},
};

static int find_name(const void *name, size_t len)
{
    rmig_slice s = {name, len};
    if (len < 5 || tolower(s.p[0]) != 's')
        return -1;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (ieq(&s, names[i].name))
            return (int)i;
    return -1;
}

int rmig_codis_is_cmd(const void *name, size_t len)
{
    return find_name(name, len) >= 0;
}

rmig_codis_form rmig_codis_form_of(const rmig_slice *argv, uint32_t argc)
{
    int i = argc ? find_name(argv[0].p, argv[0].n) : -1;
    if (i < 0)
        return RMIG_CODIS_F_NONE;
    if (names[i].form != RMIG_CODIS_F_ASYNC_BAD)
        return names[i].form;
    for (size_t j = 0; argc >= 2 && j < sizeof async_subs / sizeof *async_subs; j++)
        if (ieq(&argv[1], async_subs[j].name))
            return async_subs[j].form;
    return RMIG_CODIS_F_ASYNC_BAD;
}

const char *rmig_codis_form_name(rmig_codis_form f)
{
    static const char *const n[RMIG_CODIS_NFORMS] = {
        "plain",      "slotsrestore", "async-delete", "async-expire", "async-string", "async-object",
        "async-list", "async-hash",   "async-dict",   "async-zset",   "async-bad",    "async-select",
        "async-auth", "async-ack",    "exec-wrapper", "migrate",      "slotsdel",     "read-only",
    };
    return (unsigned)f < RMIG_CODIS_NFORMS ? n[f] : "?";
}

const char *rmig_codis_outcome_name(rmig_codis_outcome o)
{
    static const char *const n[RMIG_CODIS_NOUTCOMES] = {"translated", "control", "unreplayable", "malformed"};
    return (unsigned)o < RMIG_CODIS_NOUTCOMES ? n[o] : "?";
}

/* ---- rebuilds (RMIG_CODIS_CHUNKS_REPLACE_FIRST) ---- */

static int rebuild_find(const rmig_codis_xlate *x, uint64_t db, const rmig_slice *key)
{
    for (uint32_t i = 0; i < x->nrebuilds; i++) {
        const rmig__codis_rebuild *r = &x->rebuilds[i];
        if (r->db == db && r->len == key->n && !memcmp(r->key, key->p, key->n))
            return (int)i;
    }
    return -1;
}

static void rebuild_drop(rmig_codis_xlate *x, int i)
{
    free(x->rebuilds[i].key);
    memmove(&x->rebuilds[i], &x->rebuilds[i + 1], (x->nrebuilds - (uint32_t)i - 1) * sizeof *x->rebuilds);
    x->nrebuilds--;
}

static void rebuild_end(rmig_codis_xlate *x, uint64_t db, const rmig_slice *key)
{
    if (x->chunks != RMIG_CODIS_CHUNKS_REPLACE_FIRST)
        return;
    int i = rebuild_find(x, db, key);
    if (i >= 0)
        rebuild_drop(x, i);
}

/* Starts following key (no-op when it is followed already). The oldest
 * rebuild is forgotten when too many are open: a migration that died. */
static int rebuild_begin(rmig_codis_xlate *x, uint64_t db, const rmig_slice *key)
{
    if (rebuild_find(x, db, key) >= 0)
        return 0;
    if (x->nrebuilds == MAX_REBUILDS) {
        rebuild_drop(x, 0);
        x->rebuild_evicted++;
    }
    if (x->nrebuilds == x->caprebuilds) {
        uint32_t cap = x->caprebuilds ? x->caprebuilds * 2 : 16;
        rmig__codis_rebuild *r = realloc(x->rebuilds, cap * sizeof *r);
        if (!r)
            return -1;
        x->rebuilds = r;
        x->caprebuilds = cap;
    }
    uint8_t *k = malloc(key->n ? key->n : 1);
    if (!k)
        return -1;
    memcpy(k, key->p, key->n);
    x->rebuilds[x->nrebuilds++] = (rmig__codis_rebuild){db, k, key->n};
    return 0;
}

/* ---- translations (each checks everything before appending) ---- */

/* PEXPIRE key ttl, or PERSIST key for 0: what codis-server's success path
 * does (setExpire(now + ttl) / removeExpire). */
static int emit_expiry(rmig_codis_xlate *x, const rmig_slice *key, long long ttl)
{
    if (begin(x) < 0)
        return -1;
    if (ttl == 0)
        return push_str(x, "PERSIST") < 0 || push_slice(x, key) < 0 ? -1 : 0;
    return push_str(x, "PEXPIRE") < 0 || push_slice(x, key) < 0 || push_ll(x, ttl) < 0 ? -1 : 0;
}

static int emit_restore(rmig_codis_xlate *x, const rmig_slice *key, long long ttl, const rmig_slice *payload)
{
    if (begin(x) < 0 || push_str(x, "RESTORE") < 0 || push_slice(x, key) < 0 || push_ll(x, ttl) < 0 ||
        push_slice(x, payload) < 0 || push_str(x, "REPLACE") < 0)
        return -1;
    return 0;
}

/* A DUMP payload is at least its type byte and the 10-byte footer (the
 * target checks the CRC when it restores). */
static int check_payload(const rmig_slice *p, const char *cmd, const rmig_slice *key, char *why,
                         size_t whylen)
{
    char k[100];
    if (p->n < 11)
        return bad(why, whylen, "%s: key '%s': a payload of %llu bytes is no DUMP payload", cmd,
                   show(key, k, sizeof k), (unsigned long long)p->n);
    return 0;
}

static int slotsrestore(rmig_codis_xlate *x, const rmig_slice *argv, uint32_t argc, char *why, size_t whylen)
{
    if (argc < 4 || (argc - 1) % 3)
        return bad(why, whylen, "SLOTSRESTORE takes key ttl payload triples, not %u arguments", argc - 1);
    for (uint32_t i = 1; i < argc; i += 3) {
        long long ttl;
        if (get_ttl(&argv[i + 1], "SLOTSRESTORE", &argv[i], &ttl, why, whylen) < 0 ||
            check_payload(&argv[i + 2], "SLOTSRESTORE", &argv[i], why, whylen) < 0)
            return -1;
    }
    for (uint32_t i = 1; i < argc; i += 3) {
        long long ttl;
        get_ll(&argv[i + 1], &ttl);
        if (emit_restore(x, &argv[i], ttl, &argv[i + 2]) < 0)
            return -2;
    }
    return 0;
}

static int slotsdel(const rmig_slice *argv, uint32_t argc, char *why, size_t whylen)
{
    if (argc < 2)
        return bad(why, whylen, "SLOTSDEL takes one slot or more");
    char list[300] = "";
    for (uint32_t i = 1; i < argc; i++) {
        long long s;
        char b[100];
        if (get_ll(&argv[i], &s) < 0 || s < 0 || s >= RMIG_CODIS_SLOTS)
            return bad(why, whylen, "SLOTSDEL: '%s' is not a slot (0-%d)", show(&argv[i], b, sizeof b),
                       RMIG_CODIS_SLOTS - 1);
        size_t n = strlen(list);
        if (n + 16 < sizeof list)
            snprintf(list + n, sizeof list - n, "%s%lld", i > 1 ? " " : "", s);
        else if (!strstr(list, "..."))
            snprintf(list + n, sizeof list - n, " ...");
    }
    snprintf(
        why, whylen,
        "SLOTSDEL %s: codis-server deleted every key of these Codis slots in this db; a plain Redis has no "
        "Codis slots, so rmig cannot repeat it: such keys may remain on the target (a key's slot is "
        "crc32(tag or key) %% 1024; rmig route --codis prints it)",
        list);
    return 0;
}

static const char *async_cmd(rmig_codis_form f)
{
    switch (f) {
    case RMIG_CODIS_F_ASYNC_LIST: return "RPUSH";
    case RMIG_CODIS_F_ASYNC_HASH: return "HSET";
    case RMIG_CODIS_F_ASYNC_DICT: return "SADD";
    default: return "ZADD";
    }
}

/* list|hash|dict|zset KEY TTL HINT [ARG ...] */
static int async_chunk(rmig_codis_xlate *x, rmig_codis_form f, uint64_t db, const rmig_slice *argv,
                       uint32_t argc, char *why, size_t whylen)
{
    const char *sub = rmig_codis_form_name(f) + 6; /* past "async-" */
    char k[100], b[100];
    if (argc < 5)
        return bad(why, whylen, "SLOTSRESTORE-ASYNC %s takes key ttl hint [args], not %u arguments", sub,
                   argc - 2);
    const rmig_slice *key = &argv[2];
    long long ttl, hint;
    if (get_ttl(&argv[3], "SLOTSRESTORE-ASYNC", key, &ttl, why, whylen) < 0)
        return -1;
    if (get_ll(&argv[4], &hint) < 0 || hint < 0)
        return bad(why, whylen, "SLOTSRESTORE-ASYNC %s: key '%s': the hint '%s' is not a number >= 0", sub,
                   show(key, k, sizeof k), show(&argv[4], b, sizeof b));
    uint32_t nargs = argc - 5;
    int pairs = f == RMIG_CODIS_F_ASYNC_HASH || f == RMIG_CODIS_F_ASYNC_ZSET;
    if (pairs && nargs % 2)
        return bad(why, whylen, "SLOTSRESTORE-ASYNC %s: key '%s': %u arguments after the hint, not pairs",
                   sub, show(key, k, sizeof k), nargs);
    for (uint32_t i = 6; f == RMIG_CODIS_F_ASYNC_ZSET && i < argc; i += 2) {
        uint64_t bits = 0;
        double d;
        if (argv[i].n != 8)
            return bad(why, whylen,
                       "SLOTSRESTORE-ASYNC zset: key '%s': the score of member %u is %llu bytes, not "
                       "the 8 bytes of a double's bits",
                       show(key, k, sizeof k), (i - 5) / 2, (unsigned long long)argv[i].n);
        for (int j = 7; j >= 0; j--)
            bits = bits << 8 | argv[i].p[j];
        memcpy(&d, &bits, sizeof d);
        if (isnan(d))
            return bad(why, whylen, "SLOTSRESTORE-ASYNC zset: key '%s': the score of member %u is NaN",
                       show(key, k, sizeof k), (i - 5) / 2);
    }
    if (x->chunks == RMIG_CODIS_CHUNKS_REPLACE_FIRST && nargs) {
        if (rebuild_find(x, db, key) < 0) {
            if (begin(x) < 0 || push_str(x, "DEL") < 0 || push_slice(x, key) < 0 ||
                rebuild_begin(x, db, key) < 0)
                return -2;
        }
    }
    if (nargs) {
        if (begin(x) < 0 || push_str(x, async_cmd(f)) < 0 || push_slice(x, key) < 0)
            return -2;
        for (uint32_t i = 5; i < argc; i++) {
            if (f != RMIG_CODIS_F_ASYNC_ZSET) {
                if (push_slice(x, &argv[i]) < 0)
                    return -2;
                continue;
            }
            uint64_t bits = 0;
            double d;
            char num[40];
            for (int j = 7; j >= 0; j--)
                bits = bits << 8 | argv[i + 1].p[j];
            memcpy(&d, &bits, sizeof d);
            snprintf(num, sizeof num, "%.17g", d);
            if (push_fmt(x, num) < 0 || push_slice(x, &argv[i]) < 0)
                return -2;
            i++;
        }
    }
    return emit_expiry(x, key, ttl) < 0 ? -2 : 0;
}

static int async_form(rmig_codis_xlate *x, rmig_codis_form f, uint64_t db, const rmig_slice *argv,
                      uint32_t argc, char *why, size_t whylen)
{
    char b[100];
    const rmig_slice *key = argc > 2 ? &argv[2] : NULL;
    long long ttl = 0;
    switch (f) {
    case RMIG_CODIS_F_ASYNC_BAD:
        if (argc < 2)
            return bad(why, whylen, "SLOTSRESTORE-ASYNC without a subcommand");
        return bad(why, whylen,
                   "SLOTSRESTORE-ASYNC: unknown subcommand '%s' (delete, expire, string, object, "
                   "list, hash, dict, zset)",
                   show(&argv[1], b, sizeof b));
    case RMIG_CODIS_F_ASYNC_DELETE:
        if (argc != 3)
            return bad(why, whylen, "SLOTSRESTORE-ASYNC delete takes a key, not %u arguments", argc - 2);
        /* a migration of the key starts here: what follows rebuilds it */
        if (x->chunks == RMIG_CODIS_CHUNKS_REPLACE_FIRST && rebuild_begin(x, db, key) < 0)
            return -2;
        if (begin(x) < 0 || push_str(x, "DEL") < 0 || push_slice(x, key) < 0)
            return -2;
        return 0;
    case RMIG_CODIS_F_ASYNC_EXPIRE:
        if (argc != 4)
            return bad(why, whylen, "SLOTSRESTORE-ASYNC expire takes key ttl, not %u arguments", argc - 2);
        if (get_ttl(&argv[3], "SLOTSRESTORE-ASYNC expire", key, &ttl, why, whylen) < 0)
            return -1;
        rebuild_end(x, db, key);
        return emit_expiry(x, key, ttl) < 0 ? -2 : 0;
    case RMIG_CODIS_F_ASYNC_STRING:
    case RMIG_CODIS_F_ASYNC_OBJECT: {
        int obj = f == RMIG_CODIS_F_ASYNC_OBJECT;
        if (argc != 5)
            return bad(why, whylen, "SLOTSRESTORE-ASYNC %s takes key ttl %s, not %u arguments",
                       obj ? "object" : "string", obj ? "payload" : "value", argc - 2);
        if (get_ttl(&argv[3], "SLOTSRESTORE-ASYNC", key, &ttl, why, whylen) < 0 ||
            (obj && check_payload(&argv[4], "SLOTSRESTORE-ASYNC object", key, why, whylen) < 0))
            return -1;
        rebuild_end(x, db, key);
        if (obj)
            return emit_restore(x, key, ttl, &argv[4]) < 0 ? -2 : 0;
        /* SET without KEEPTTL drops any TTL, as codis-server's removeExpire for 0 */
        if (begin(x) < 0 || push_str(x, "SET") < 0 || push_slice(x, key) < 0 || push_slice(x, &argv[4]) < 0 ||
            (ttl && (push_str(x, "PX") < 0 || push_ll(x, ttl) < 0)))
            return -2;
        return 0;
    }
    case RMIG_CODIS_F_ASYNC_SELECT: { /* SLOTSRESTORE-ASYNC-SELECT db, or SLOTSRESTORE-ASYNC select db */
        const rmig_slice *a = argc == 2                                                  ? &argv[1]
                              : argc == 3 && !ieq(&argv[0], "slotsrestore-async-select") ? &argv[2]
                                                                                         : NULL;
        long long d;
        if (!a)
            return bad(why, whylen, "SLOTSRESTORE-ASYNC-SELECT takes a db, not %u arguments", argc - 1);
        if (get_ll(a, &d) < 0 || d < 0 || d > INT_MAX)
            return bad(why, whylen, "SLOTSRESTORE-ASYNC-SELECT: '%s' is not a db index",
                       show(a, b, sizeof b));
        if (begin(x) < 0 || push_str(x, "SELECT") < 0 || push_ll(x, d) < 0)
            return -2;
        return 0;
    }
    default: return async_chunk(x, f, db, argv, argc, why, whylen);
    }
}

/* SLOTSMGRT...-ASYNC: the asynchronous migrations */
static int is_async_migration(const rmig_slice *name)
{
    rmig_slice tail = {name->p + (name->n > 6 ? name->n - 6 : 0), name->n > 6 ? 6 : 0};
    return ieq(&tail, "-async");
}

static int translate(rmig_codis_xlate *x, uint64_t db, const rmig_slice *argv, uint32_t argc, char *why,
                     size_t whylen, int depth)
{
    char b[100];
    rmig_codis_form f = rmig_codis_form_of(argv, argc);
    x->forms[f]++;
    x->form = f;
    uint32_t mark = x->ncmds, mark_argv = x->nargv;
    int rc = 0;
    rmig_codis_outcome out = RMIG_CODIS_TRANSLATED;
    switch (f) {
    case RMIG_CODIS_F_NONE:
        if (begin(x) < 0)
            rc = -2;
        for (uint32_t i = 0; rc == 0 && i < argc; i++)
            if (push_slice(x, &argv[i]) < 0)
                rc = -2;
        break;
    case RMIG_CODIS_F_SLOTSRESTORE: rc = slotsrestore(x, argv, argc, why, whylen); break;
    case RMIG_CODIS_F_EXEC_WRAPPER:
        if (argc < 3) {
            rc = bad(why, whylen, "SLOTSMGRT-EXEC-WRAPPER takes hashkey command [args], not %u arguments",
                     argc - 1);
            break;
        }
        if (depth >= MAX_DEPTH) {
            rc = bad(why, whylen, "SLOTSMGRT-EXEC-WRAPPER inside another: not something codis-server sends");
            break;
        }
        /* codis-server propagates the wrapped command in place of the wrapper */
        rc = translate(x, db, argv + 2, argc - 2, why, whylen, depth + 1);
        out = x->outcome;
        x->form = f;
        if (rc > 0)
            rc = 0;
        break;
    case RMIG_CODIS_F_ASYNC_AUTH:
        if (argc != 2) {
            rc = bad(why, whylen, "SLOTSRESTORE-ASYNC-AUTH takes a password, not %u arguments", argc - 1);
            break;
        }
        out = RMIG_CODIS_CONTROL;
        snprintf(why, whylen,
                 "SLOTSRESTORE-ASYNC-AUTH: a migration's AUTH to its target (password not shown); "
                 "it changes no data");
        break;
    case RMIG_CODIS_F_ASYNC_ACK:
        if (argc != 3) {
            rc = bad(why, whylen, "SLOTSRESTORE-ASYNC-ACK takes errno message, not %u arguments", argc - 1);
            break;
        }
        out = RMIG_CODIS_CONTROL;
        snprintf(why, whylen,
                 "SLOTSRESTORE-ASYNC-ACK %s: a migration's acknowledgement; codis-server replicates "
                 "the keys it then deletes as DEL, not as this command",
                 show(&argv[1], b, sizeof b));
        break;
    case RMIG_CODIS_F_MIGRATE:
        out = RMIG_CODIS_CONTROL;
        snprintf(
            why, whylen, "%s: %s", show(&argv[0], b, sizeof b),
            ieq(&argv[0], "slotsmgrtslot") || ieq(&argv[0], "slotsmgrtone") ||
                    ieq(&argv[0], "slotsmgrttagslot") || ieq(&argv[0], "slotsmgrttagone")
                ? "a migration away from this group; codis-server replicates it as DEL of the keys it "
                  "moved (slots.c, slotsremove), so this command carries no data"
            : is_async_migration(&argv[0])
                ? "an asynchronous migration away from this group; codis-server replicates the moved keys "
                  "as DEL when the target acknowledges them (slots_async.c), so this command carries no "
                  "data"
                : "migration control; it changes no data");
        break;
    case RMIG_CODIS_F_SLOTSDEL:
        rc = slotsdel(argv, argc, why, whylen);
        out = RMIG_CODIS_UNREPLAYABLE;
        break;
    case RMIG_CODIS_F_READONLY:
        out = RMIG_CODIS_CONTROL;
        snprintf(why, whylen, "%s only reads: it changes no data", show(&argv[0], b, sizeof b));
        break;
    default: rc = async_form(x, f, db, argv, argc, why, whylen); break;
    }
    if (rc == -2)
        rc = bad(why, whylen, "out of memory");
    if (rc < 0) { /* nothing of it stays in the output */
        x->ncmds = mark;
        x->nargv = mark_argv;
        out = RMIG_CODIS_MALFORMED;
    }
    x->outcome = out;
    return rc < 0 ? -1 : (int)(x->ncmds - mark);
}

int rmig_codis_translate(rmig_codis_xlate *x, uint64_t db, const rmig_slice *argv, uint32_t argc, char *why,
                         size_t whylen)
{
    if (whylen)
        why[0] = 0;
    if (argc == 0) {
        x->outcome = RMIG_CODIS_MALFORMED;
        x->outcomes[RMIG_CODIS_MALFORMED]++;
        return bad(why, whylen, "an empty command");
    }
    int n = translate(x, db, argv, argc, why, whylen, 0);
    x->outcomes[x->outcome]++;
    return n;
}
