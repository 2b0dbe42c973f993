/* nodetest.c - `rmig test NODE_TEST.lua`: unit tests for a team's nodes.
 *
 * A test file (its format is in lua/rmig/test.lua) names the nodes under test
 * and lists cases: entries in, entries expected out. Each case's input becomes
 * one real batch (batch.h) that runs through the steps `rmig run` builds
 * (steps.h): built-in nodes in C, Lua nodes through FFI views, each node's
 * on_error as in a migration. So a case passes here exactly when the same
 * keys would take the same way in a run. What comes out is compared with the
 * case: the kept entries in order (key, db, type, TTL), the dropped ones and
 * the node that dropped them, or the error of a node that aborted. One line
 * per case, each FAILED one followed by what differs and what came out, then a
 * summary. Exit 0 when every case passes, 1 when one fails, 2 when a test file
 * is wrong (the message names its file and line). */
#include "nodetest.h"

#include "batch.h"
#include "steps.h"
#include "vm.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: rmig test NODE_TEST.lua...\n"
    "Runs each test file's cases through its nodes, as rmig run would, and compares what\n"
    "comes out with what the cases expect (the format is in lua/rmig/test.lua).\n"
    "Exit 0 when every case passes, 1 when one fails, 2 when a test file is wrong.\n";

/* The RDB type byte and version a key of each kind (rdb.h's order) gets, as
 * in a Redis 7.2 dump (small values as listpacks), for Lua nodes that read
 * e.rdb_type or e.rdb_version. Test entries carry no value. */
static const int32_t rdb_type_of[] = {0, 18, 20, 17, 16, 21, 7};
static const int32_t rdb_version = 11;

enum { TTL_NONE, TTL_RELATIVE, TTL_ABSOLUTE };

/* An entry of a case (input, expect or dropped), read from its Lua table,
 * which keeps key alive while the case runs. */
typedef struct want {
    const char *key;
    size_t key_len;
    uint64_t db;
    int kind;            /* enum rmig_rdb_kind; -1 when not given (expect) */
    int ttl;             /* TTL_* */
    int64_t ms;          /* ttl_ms or expire_ms */
    uint32_t by;         /* dropped: the dropping node's position; 0 when not given by number */
    const char *by_name; /* dropped: the dropping node's name, when given by name */
} want;

typedef struct list {
    want *v;
    int n; /* -1: the case does not give this list */
} list;

typedef struct suite {
    lua_State *L;
    int idx;              /* the suite table's index on L's stack */
    int64_t now_ms;       /* the clock every case runs at */
    int64_t tolerance_ms; /* how far a TTL may be off */
    FILE *p;              /* the current case's problems */
    int problems;
} suite;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- reading a case ---- */

static int read_list(lua_State *L, int c, const char *field, list *l)
{
    l->v = NULL;
    l->n = -1;
    lua_getfield(L, c, field);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    int t = lua_gettop(L), n = (int)lua_objlen(L, t);
    l->v = calloc(n ? (size_t)n : 1, sizeof *l->v);
    if (!l->v) {
        lua_pop(L, 1);
        return -1;
    }
    l->n = n;
    for (int i = 0; i < n; i++) {
        want *w = &l->v[i];
        lua_rawgeti(L, t, i + 1);
        int e = lua_gettop(L);
        lua_getfield(L, e, "key");
        w->key = lua_tolstring(L, -1, &w->key_len);
        lua_pop(L, 1);
        w->db = (uint64_t)rmig_vm_int(L, e, "db", 0);
        w->kind = (int)rmig_vm_int(L, e, "kind", -1);
        w->ms = rmig_vm_int(L, e, "ttl_ms", INT64_MIN);
        w->ttl = w->ms != INT64_MIN ? TTL_RELATIVE : TTL_NONE;
        if (w->ttl == TTL_NONE && (w->ms = rmig_vm_int(L, e, "expire_ms", -1)) >= 0)
            w->ttl = TTL_ABSOLUTE;
        w->by = (uint32_t)rmig_vm_int(L, e, "by", 0);
        w->by_name = rmig_vm_str(L, e, "by");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return 0;
}

/* ---- describing entries and nodes ---- */

/* A key as a quoted string; bytes that would garble a terminal escaped. */
static void put_key(FILE *f, const void *p, size_t n)
{
    const unsigned char *s = p;
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            fprintf(f, "\\%c", s[i]);
        else if (s[i] < 0x20 || s[i] == 0x7f)
            fprintf(f, "\\x%02x", s[i]);
        else
            fputc(s[i], f);
    }
    fputc('"', f);
}

static void put_entry(FILE *f, const void *key, size_t n, uint64_t db)
{
    fputs("key ", f);
    put_key(f, key, n);
    fprintf(f, " db %llu", (unsigned long long)db);
}

static void put_expiry(FILE *f, const suite *s, int64_t expire_ms, int absolute)
{
    if (expire_ms < 0)
        fputs("no TTL", f);
    else if (absolute)
        fprintf(f, "expire_ms %lld", (long long)expire_ms);
    else
        fprintf(f, "ttl_ms %lld", (long long)(expire_ms - s->now_ms));
}

/* "node 2 (team_a, filters/team_a.lua:7)": the suite's name and place of a node */
static void put_node(FILE *f, const suite *s, uint32_t k)
{
    lua_State *L = s->L;
    int top = lua_gettop(L);
    lua_getfield(L, s->idx, "names");
    lua_rawgeti(L, -1, (int)k);
    const char *name = lua_tostring(L, -1);
    lua_getfield(L, s->idx, "nodes");
    lua_rawgeti(L, -1, (int)k);
    const char *where = lua_istable(L, -1) ? rmig_vm_str(L, lua_gettop(L), "where") : NULL;
    if (name)
        fprintf(f, "node %u (%s, %s)", k, name, where ? where : "?");
    else
        fprintf(f, "node %u (not one of the suite's nodes: a batch:drop without a node number?)", k);
    lua_settop(L, top);
}

/* Starts a problem line of the current case. */
static FILE *problem(suite *s)
{
    s->problems++;
    fputs("       ", s->p);
    return s->p;
}

static const char *kind_name(int k)
{
    static const char *names[] = {"string", "list", "set", "zset", "hash", "stream", "module"};
    return k >= 0 && k < 7 ? names[k] : "?";
}

/* ---- comparing ---- */

static int same_key(const want *w, const rmig_entry *e)
{
    return w->key_len == e->key_len && !memcmp(w->key, e->key, e->key_len);
}

static void compare_fields(suite *s, const want *w, const rmig_entry *e)
{
    if (w->db != e->db) {
        put_entry(problem(s), e->key, e->key_len, e->db);
        fprintf(s->p, ": expected in db %llu\n", (unsigned long long)w->db);
    }
    if (w->kind >= 0 && w->kind != e->type) {
        put_entry(problem(s), e->key, e->key_len, e->db);
        fprintf(s->p, ": expected type %s, got %s\n", kind_name(w->kind), kind_name(e->type));
    }
    int64_t want_ms = w->ttl == TTL_RELATIVE ? s->now_ms + w->ms : w->ttl == TTL_ABSOLUTE ? w->ms : -1;
    int64_t off = e->expire_ms - want_ms;
    if (w->ttl == TTL_NONE ? e->expire_ms < 0
                           : e->expire_ms >= 0 && off <= s->tolerance_ms && -off <= s->tolerance_ms)
        return;
    put_entry(problem(s), e->key, e->key_len, e->db);
    fputs(": expected ", s->p);
    put_expiry(s->p, s, want_ms, w->ttl == TTL_ABSOLUTE);
    fputs(", got ", s->p);
    put_expiry(s->p, s, e->expire_ms, w->ttl == TTL_ABSOLUTE);
    fputc('\n', s->p);
}

/* The kept entries against expect, in order: pairs by key and db first, then
 * by key alone (an entry in the wrong db), then what is left over. */
static void compare_kept(suite *s, const rmig_batch *b, const list *expect)
{
    uint32_t nout = 0, *out = calloc(b->n ? b->n : 1, sizeof *out);
    int *match = calloc(expect->n ? (size_t)expect->n : 1, sizeof *match);
    char *used = calloc(b->n ? b->n : 1, 1);
    if (!out || !match || !used) {
        fprintf(problem(s), "out of memory comparing the output\n");
        goto done;
    }
    for (uint32_t i = 0; i < b->n; i++)
        if (b->e[i].kind == RMIG_ENTRY_KEY && !(b->e[i].flags & RMIG_ENTRY_DROPPED))
            out[nout++] = i;
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < expect->n; j++) {
            if (pass == 0)
                match[j] = -1;
            for (uint32_t k = 0; match[j] < 0 && k < nout; k++) {
                const rmig_entry *e = &b->e[out[k]];
                if (!used[k] && same_key(&expect->v[j], e) && (pass == 1 || expect->v[j].db == e->db)) {
                    used[k] = 1;
                    match[j] = (int)k;
                }
            }
        }
    int in_order = 1, last = -1;
    for (int j = 0; j < expect->n; j++) {
        const want *w = &expect->v[j];
        if (match[j] < 0) {
            put_entry(problem(s), w->key, w->key_len, w->db);
            fprintf(s->p, " (expect[%d]) did not come out\n", j + 1);
            continue;
        }
        compare_fields(s, w, &b->e[out[match[j]]]);
        in_order = in_order && match[j] > last;
        last = match[j];
    }
    for (uint32_t k = 0; k < nout; k++)
        if (!used[k]) {
            const rmig_entry *e = &b->e[out[k]];
            put_entry(problem(s), e->key, e->key_len, e->db);
            fprintf(s->p, " (from input[%u]) came out, not expected\n", out[k] + 1);
        }
    if (!in_order)
        fprintf(problem(s), "the expected entries came out in another order (see below)\n");
done:
    free(out);
    free(match);
    free(used);
}

static int dropped_by_wanted(const suite *s, const want *d, uint32_t node)
{
    if (!d->by_name)
        return !d->by || d->by == node;
    lua_State *L = s->L;
    lua_getfield(L, s->idx, "names");
    lua_rawgeti(L, -1, (int)node);
    int ok = lua_isstring(L, -1) && !strcmp(lua_tostring(L, -1), d->by_name);
    lua_pop(L, 2);
    return ok;
}

/* The name entry i is known by in reports: its input's key and db, or, for
 * an entry a node emitted (past the inputs), its own. */
typedef struct ident {
    const char *key;
    size_t key_len;
    uint64_t db;
} ident;

static ident ident_of(const rmig_batch *b, const list *input, uint32_t i)
{
    if ((int)i < input->n)
        return (ident){input->v[i].key, input->v[i].key_len, input->v[i].db};
    return (ident){(const char *)b->e[i].key, b->e[i].key_len, b->e[i].db};
}

/* The dropped entries against the case's dropped list (by input key and db):
 * every listed one dropped, by the node named, and no other dropped. */
static void compare_dropped(suite *s, const rmig_batch *b, const list *input, const list *dropped)
{
    char *claimed = calloc(b->n ? b->n : 1, 1);
    if (!claimed) {
        fprintf(problem(s), "out of memory comparing the output\n");
        return;
    }
    for (int j = 0; j < dropped->n; j++) {
        const want *d = &dropped->v[j];
        uint32_t i = 0;
        for (; i < b->n; i++) {
            ident id = ident_of(b, input, i);
            if (!claimed[i] && id.db == d->db && id.key_len == d->key_len && !memcmp(id.key, d->key, d->key_len))
                break;
        }
        if (i == b->n) /* the same entry listed twice: the test file checks the rest */
            continue;
        claimed[i] = 1;
        const rmig_entry *e = &b->e[i];
        if (!(e->flags & RMIG_ENTRY_DROPPED)) {
            put_entry(problem(s), d->key, d->key_len, d->db);
            fprintf(s->p, ": expected dropped (dropped[%d]), came out as ", j + 1);
            put_entry(s->p, e->key, e->key_len, e->db);
            fputc('\n', s->p);
        } else if (!dropped_by_wanted(s, d, e->dropped_by)) {
            put_entry(problem(s), d->key, d->key_len, d->db);
            fputs(": dropped by ", s->p);
            put_node(s->p, s, e->dropped_by);
            if (d->by_name)
                fprintf(s->p, ", expected by \"%s\"\n", d->by_name);
            else
                fprintf(s->p, ", expected by node %u\n", d->by);
        }
    }
    for (uint32_t i = 0; i < b->n; i++)
        if (!claimed[i] && (b->e[i].flags & RMIG_ENTRY_DROPPED)) {
            ident id = ident_of(b, input, i);
            put_entry(problem(s), id.key, id.key_len, id.db);
            fputs(": dropped by ", s->p);
            put_node(s->p, s, b->e[i].dropped_by);
            fprintf(s->p, ", which dropped does not list\n");
        }
    free(claimed);
}

/* Under a failed case: everything that came out and everything dropped. */
static void show_output(suite *s, const rmig_batch *b, const list *input)
{
    for (uint32_t i = 0; i < b->n; i++) {
        const rmig_entry *e = &b->e[i];
        if (e->flags & RMIG_ENTRY_DROPPED) {
            ident id = ident_of(b, input, i);
            if ((int)i < input->n)
                fprintf(s->p, "       dropped  input[%u] ", i + 1);
            else
                fputs("       dropped  emitted ", s->p);
            put_entry(s->p, id.key, id.key_len, id.db);
            fputs(" by ", s->p);
            put_node(s->p, s, e->dropped_by);
        } else {
            fputs("       out      ", s->p);
            put_entry(s->p, e->key, e->key_len, e->db);
            fprintf(s->p, " %s, ", kind_name(e->type));
            put_expiry(s->p, s, e->expire_ms, 0);
        }
        fputc('\n', s->p);
    }
}

static int matches(lua_State *L, const char *msg, const char *text)
{
    int top = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushstring(L, "rmig.test");
    int ok = lua_pcall(L, 1, 1, 0) == 0;
    if (ok) {
        lua_getfield(L, -1, "matches");
        lua_pushstring(L, msg);
        lua_pushstring(L, text);
        ok = lua_pcall(L, 2, 1, 0) == 0 && lua_toboolean(L, -1);
    }
    lua_settop(L, top);
    return ok;
}

/* ---- running ---- */

/* One case (its table at index c): 0 passed, 1 failed, -1 out of memory. */
static int run_case(suite *s, rmig_steps *steps, int c)
{
    lua_State *L = s->L;
    list in = {NULL, -1}, expect = {NULL, -1}, dropped = {NULL, -1};
    rmig_batch b;
    char *text = NULL;
    size_t text_len = 0;
    int rc = -1;
    memset(&b, 0, sizeof b);
    if (read_list(L, c, "input", &in) < 0 || read_list(L, c, "expect", &expect) < 0 ||
        read_list(L, c, "dropped", &dropped) < 0 || rmig_batch_init(&b, 2 * (uint32_t)in.n + 64) /* room to emit */ < 0 ||
        !(s->p = open_memstream(&text, &text_len)))
        goto out;
    for (int i = 0; i < in.n; i++) {
        rmig_entry *e = rmig_batch_add(&b);
        e->key = rmig_batch_copy(&b, in.v[i].key, in.v[i].key_len);
        if (!e->key)
            goto out;
        e->key_len = (uint32_t)in.v[i].key_len;
        e->db = in.v[i].db;
        e->type = in.v[i].kind;
        e->rdb_type = in.v[i].kind >= 0 && in.v[i].kind < 7 ? rdb_type_of[in.v[i].kind] : 0;
        e->rdb_version = rdb_version;
        e->expire_ms = in.v[i].ttl == TTL_RELATIVE   ? s->now_ms + in.v[i].ms
                       : in.v[i].ttl == TTL_ABSOLUTE ? in.v[i].ms
                                                     : -1;
    }
    s->problems = 0;
    char err[1024];
    int ran = rmig_steps_run(steps, &b, s->now_ms, err, sizeof err);
    const char *expect_error = rmig_vm_str(L, c, "expect_error");
    if (expect_error) {
        if (ran == 0)
            fprintf(problem(s), "expected an error containing \"%s\"; the nodes ran without one\n",
                    expect_error);
        else if (!matches(L, err, expect_error))
            fprintf(problem(s), "expected an error containing \"%s\", got: %s\n", expect_error, err);
    } else if (ran < 0) {
        fprintf(problem(s), "a node stopped the run: %s\n", err);
    } else {
        compare_kept(s, &b, &expect);
        if (dropped.n >= 0)
            compare_dropped(s, &b, &in, &dropped);
        if (s->problems)
            show_output(s, &b, &in);
    }
    fclose(s->p);
    s->p = NULL;
    const char *name = rmig_vm_str(L, c, "name"), *where = rmig_vm_str(L, c, "where");
    if (s->problems)
        printf("FAILED %s  [%s]\n%s", name, where, text);
    else
        printf("ok     %s\n", name);
    rc = s->problems ? 1 : 0;
out:
    if (s->p)
        fclose(s->p);
    s->p = NULL;
    free(text);
    free(in.v);
    free(expect.v);
    free(dropped.v);
    rmig_batch_free(&b);
    return rc;
}

/* One test file: 0 every case passed, 1 one failed (or rmig could not run), 2 the file is wrong. */
static int test_file(const char *path)
{
    char err[2048];
    rmig_vm *vm = rmig_vm_new(err, sizeof err);
    if (!vm) {
        fprintf(stderr, "rmig test: %s\n", err);
        return 1;
    }
    if (rmig_vm_load_test(vm, path, err, sizeof err) < 0) {
        fprintf(stderr, "rmig test: %s\n", err);
        rmig_vm_free(vm);
        return 2;
    }
    lua_State *L = rmig_vm_state(vm);
    suite s = {.L = L, .idx = lua_gettop(L)};
    /* err must outlive the steps: they keep it for their own messages */
    rmig_steps *steps = rmig_steps_build(vm, path, err, sizeof err);
    if (!steps) {
        fprintf(stderr, "rmig test: %s%s%s\n", strncmp(err, path, strlen(path)) ? path : "",
                strncmp(err, path, strlen(path)) ? ": " : "", err);
        rmig_vm_free(vm);
        return 2;
    }
    s.now_ms = rmig_vm_int(L, s.idx, "now_ms", -1);
    if (s.now_ms < 0)
        s.now_ms = wall_ms();
    s.tolerance_ms = rmig_vm_int(L, s.idx, "ttl_tolerance_ms", 1000);
    const char *name = rmig_vm_str(L, s.idx, "name");
    lua_getfield(L, s.idx, "cases");
    int cases = lua_gettop(L), n = (int)lua_objlen(L, cases), failed = 0, rc = 0;
    for (int i = 1; i <= n && rc == 0; i++) {
        lua_rawgeti(L, cases, i);
        int r = run_case(&s, steps, lua_gettop(L));
        lua_settop(L, cases);
        if (r < 0) {
            fprintf(stderr, "rmig test: %s: out of memory\n", path);
            rc = 1;
        }
        failed += r > 0;
    }
    if (rc == 0)
        printf("%s%s%s: %d case%s, %d passed, %d failed\n", name ? name : "", name ? " in " : "", path, n,
               n == 1 ? "" : "s", n - failed, failed);
    fflush(stdout);
    rmig_steps_free(steps);
    rmig_vm_free(vm);
    return rc ? rc : failed ? 1 : 0;
}

int rmig_nodetest_main(int argc, char **argv)
{
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (argv[i][0] == '-') {
            fprintf(stderr, "rmig test: unexpected argument %s\n\n%s", argv[i], usage);
            return 2;
        }
        nfiles++;
    }
    if (!nfiles) {
        fprintf(stderr, "rmig test: which test file? e.g. rmig test filters/team_sessions_test.lua\n\n%s",
                usage);
        return 2;
    }
    /* every file runs, so one bad file does not hide the others' results */
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        int r = test_file(argv[i]);
        rc = r == 2 || rc == 2 ? 2 : r > rc ? r : rc;
    }
    return rc;
}
