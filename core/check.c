/* check.c - `rmig check PIPELINE.lua`: load and validate a pipeline, look at
 * its source and connect to its target, and print the plan: the source's RDB
 * version, each node and whether it runs in C or in Lua, the target's
 * version, and whether values will go as RESTORE payloads or as native
 * commands. Nothing is written. Exit 0 when the plan is sound, 1 when the
 * source or the target cannot be reached, 2 when the pipeline is wrong. */
#include "check.h"

#include "input.h"
#include "rdb.h"
#include "redis_conn.h"
#include "resp.h"
#include "vm.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] = "usage: rmig check PIPELINE.lua [-s path=value]...\n"
                            "Loads the pipeline, checks its options, connects to its target and prints\n"
                            "the plan; -s overrides an option, e.g. -s sink.addr=10.0.0.5:6379.\n";

/* t[k] as a string (NULL when absent) from the table on top of the stack */
static const char *field(lua_State *L, int idx, const char *k)
{
    lua_getfield(L, idx, k);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1); /* the string stays alive: it is referenced by the description */
    return s;
}

static int field_bool(lua_State *L, int idx, const char *k, int dflt)
{
    lua_getfield(L, idx, k);
    int v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* The RDB version a server of this version writes and reads (RDB-FORMAT.md §1). */
static int rdb_version_of(const char *redis, const char *valkey)
{
    int a = 0, b = 0;
    if (valkey && sscanf(valkey, "%d.%d", &a, &b) >= 1)
        return a >= 9 ? 80 : 11;
    if (!redis || sscanf(redis, "%d.%d", &a, &b) < 1)
        return 0;
    int v = a * 100 + b;
    return v >= 806 ? 13 : v >= 704 ? 12 : v >= 702 ? 11 : v >= 700 ? 10 : v >= 500 ? 9 : v >= 400 ? 8
         : v >= 302 ? 7 : v >= 206 ? 6 : 0;
}

/* ---- talking to the target ---- */

typedef struct probe {
    int done, failed;
    char err[512];
    char redis[64], valkey[64], mode[32];
    uint64_t used, maxmem;
} probe;

static void copy_info(const char *info, const char *key, char *out, size_t cap)
{
    const char *p = strstr(info, key);
    if (!p)
        return;
    p += strlen(key);
    size_t n = strcspn(p, "\r\n");
    snprintf(out, cap, "%.*s", (int)(n < cap - 1 ? n : cap - 1), p);
}

static void on_reply(rmig_redis *c, void *ud, uint64_t tag, const redisReply *r)
{
    probe *p = ud;
    (void)tag;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(p->err, sizeof p->err, "%s answered INFO with: %.*s", rmig_redis_name(c), (int)r->len, r->str);
        p->failed = 1;
    } else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(r->len < sizeof tmp - 1 ? r->len : sizeof tmp - 1), r->str);
        copy_info(tmp, "redis_version:", p->redis, sizeof p->redis);
        copy_info(tmp, "valkey_version:", p->valkey, sizeof p->valkey);
        copy_info(tmp, "redis_mode:", p->mode, sizeof p->mode);
    }
    p->done = 1;
    rmig_redis_close(c, NULL);
}

static void on_state(rmig_redis *c, void *ud, int state, const char *err, uint64_t unanswered)
{
    probe *p = ud;
    (void)unanswered;
    if (state == RMIG_REDIS_READY) {
        const char *argv[] = {"INFO", "server"};
        rmig_resp_cmd(rmig_redis_out(c), 2, argv);
        rmig_redis_done(c, 1);
        return;
    }
    snprintf(p->err, sizeof p->err, "%s", err);
    p->failed = 1;
    rmig_redis_close(c, NULL);
}

static int probe_target(const char *addr, const char *user, const char *password, const rmig_tls_opts *tls,
                        probe *p)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    size_t hl = (size_t)(colon - addr);
    if (hl && addr[0] == '[' && addr[hl - 1] == ']') {
        addr++;
        hl -= 2;
    }
    snprintf(host, sizeof host, "%.*s", (int)hl, addr);
    uv_loop_t loop;
    uv_loop_init(&loop);
    rmig_redis_opts o = {host, atoi(colon + 1), user, password, 5000, 16, 0, tls};
    rmig_redis *c = rmig_redis_new(&loop, &o, on_reply, on_state, p);
    if (!c) {
        snprintf(p->err, sizeof p->err, "out of memory");
        return -1;
    }
    rmig_redis_connect(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return p->failed ? -1 : 0;
}

/* ---- the source ---- */

static int source_version(const char *path, uint64_t *size, char *err, size_t errlen)
{
    rmig_input *in = rmig_input_open(path, err, errlen);
    if (!in)
        return -1;
    *size = rmig_input_size(in);
    uint8_t head[16];
    ssize_t n = 0, k;
    while (n < (ssize_t)sizeof head && (k = rmig_input_read(in, head + n, sizeof head - (size_t)n, err, errlen)) > 0)
        n += k;
    rmig_input_close(in);
    if (k < 0 && n == 0)
        return -1;
    rmig_rdb *p = rmig_rdb_new(NULL);
    rmig_rdb_feed(p, head, (size_t)n);
    rmig_rdb_event e;
    int r = rmig_rdb_next(p, &e), v = -1;
    if (r == RMIG_RDB_EV_BEGIN)
        v = e.version;
    else
        snprintf(err, errlen, "%s: %s", path, r < 0 ? rmig_rdb_error(p) : "too short to be an RDB file");
    rmig_rdb_free(p);
    return v;
}

int rmig_check_main(int argc, char **argv)
{
    const char *path = NULL;
    const char *overrides[64];
    int nover = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "-s") && i + 1 < argc && nover < 64) {
            overrides[nover++] = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "rmig check: unknown option %s\n\n%s", argv[i], usage);
            return 2;
        } else if (path) {
            fprintf(stderr, "rmig check: one pipeline at a time\n");
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "rmig check: which pipeline? e.g. rmig check examples/quickstart.lua\n\n%s", usage);
        return 2;
    }
    char err[1024];
    rmig_vm *vm = rmig_vm_new(err, sizeof err);
    if (!vm) {
        fprintf(stderr, "rmig check: %s\n", err);
        return 1;
    }
    if (rmig_vm_load(vm, path, overrides, nover, err, sizeof err) < 0) {
        fprintf(stderr, "rmig check: %s\n", err);
        rmig_vm_free(vm);
        return 2;
    }
    lua_State *L = rmig_vm_state(vm);
    int pipe = lua_gettop(L), rc = 0;
    printf("pipeline  %s\n", path);

    /* source */
    lua_getfield(L, pipe, "source");
    int src = lua_gettop(L);
    lua_getfield(L, src, "options");
    const char *rdb = field(L, -1, "path");
    const char *ctor = field(L, src, "constructor"), *where = field(L, src, "where");
    lua_pop(L, 1);
    uint64_t size = 0;
    int sv = source_version(rdb, &size, err, sizeof err);
    if (sv < 0) {
        printf("source    %s %s  [%s]\n          cannot be read: %s\n", ctor, rdb, where, err);
        rc = 1;
    } else {
        char sz[32];
        if (size >= (1u << 20))
            snprintf(sz, sizeof sz, "%.1f MiB", (double)size / 1048576.0);
        else
            snprintf(sz, sizeof sz, "%.1f KiB", (double)size / 1024.0);
        printf("source    %s %s  (RDB version %d, %s)  [%s]\n", ctor, rdb, sv, size ? sz : "size unknown", where);
    }
    lua_pop(L, 1);

    /* nodes */
    lua_getfield(L, pipe, "nodes");
    int nn = (int)lua_objlen(L, -1);
    if (!nn)
        printf("nodes     none: every key goes to the sink\n");
    for (int i = 1; i <= nn; i++) {
        lua_rawgeti(L, -1, i);
        int node = lua_gettop(L);
        const char *nc = field(L, node, "constructor"), *nw = field(L, node, "where"), *impl = field(L, node, "impl");
        lua_getfield(L, node, "options");
        const char *name = field(L, -1, "name");
        lua_pop(L, 1);
        printf("%s%d. %-20s runs in %-3s  [%s]\n", i == 1 ? "nodes     " : "          ", i,
               name ? name : nc, impl && !strcmp(impl, "c") ? "C" : "Lua", nw);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    /* sink */
    lua_getfield(L, pipe, "sink");
    lua_getfield(L, -1, "options");
    int so = lua_gettop(L);
    const char *addr = field(L, so, "addr"), *user = field(L, so, "user"), *pw = field(L, so, "password");
    const char *pw_env = field(L, so, "password_env"), *restore = field(L, so, "restore"),
               *mode = field(L, so, "mode");
    if (pw_env) {
        pw = getenv(pw_env);
        if (!pw) {
            fprintf(stderr, "rmig check: sink.password_env names %s, which is not set in the environment\n", pw_env);
            rmig_vm_free(vm);
            return 2;
        }
    }
    rmig_tls_opts tls = {0}, *tlsp = NULL;
    lua_getfield(L, so, "tls");
    if (lua_istable(L, -1)) {
        int t = lua_gettop(L);
        tls.ca_file = field(L, t, "ca_file");
        tls.cert_file = field(L, t, "cert_file");
        tls.key_file = field(L, t, "key_file");
        tls.server_name = field(L, t, "server_name");
        tls.no_verify = !field_bool(L, t, "verify", 1);
        tlsp = &tls;
    }
    lua_pop(L, 1);
    printf("sink      rmig.sink.redis %s  (%s%s, mode %s)\n", addr,
           tlsp ? (tls.no_verify ? "TLS without verification" : "TLS, verified") : "no TLS",
           pw ? (user ? ", ACL user and password" : ", password") : "", mode);
    probe p;
    memset(&p, 0, sizeof p);
    if (probe_target(addr, user, pw, tlsp, &p) < 0) {
        printf("target    cannot be reached: %s\n", p.err);
        rc = 1;
    } else {
        int tv = rdb_version_of(p.redis, p.valkey[0] ? p.valkey : NULL);
        printf("target    %s %s%s%s (RDB %d)\n", p.valkey[0] ? "Valkey" : "Redis", p.valkey[0] ? p.valkey : p.redis,
               p.mode[0] ? ", " : "", p.mode, tv);
        if (!strcmp(restore, "never"))
            printf("values    as native commands (restore = \"never\")\n");
        else if (sv > 0 && tv >= sv && !(tv >= 12 && tv < 80 && sv == 80))
            printf("values    as RESTORE payloads (the target reads RDB %d, the file is RDB %d)\n", tv, sv);
        else if (!strcmp(restore, "always"))
            printf("values    as RESTORE payloads (restore = \"always\"), though the target reads RDB %d and "
                   "the file is RDB %d: expect refusals\n", tv, sv);
        else if (sv > 0)
            printf("values    as native commands: the target reads RDB %d, older than the file's %d\n", tv, sv);
    }
    rmig_vm_free(vm);
    return rc;
}
