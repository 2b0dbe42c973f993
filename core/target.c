/* target.c - asking a target server who it is (INFO server, INFO keyspace,
 * INFO memory, CONFIG GET proto-max-bulk-len): its version, mode, the RDB
 * version it reads (which decides RESTORE or native commands), how many keys
 * it holds, its memory limit and the biggest argument it takes. Managed
 * services often refuse CONFIG: then that one stays unknown. One
 * short-lived connection, with the same TLS and AUTH as the writer's. */
#include "target.h"

#include "resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rmig_target_rdb_version(const char *redis, const char *valkey)
{
    int a = 0, b = 0;
    if (valkey && *valkey && sscanf(valkey, "%d.%d", &a, &b) >= 1)
        return a >= 9 ? 80 : 11;
    if (!redis || sscanf(redis, "%d.%d", &a, &b) < 1)
        return 0;
    int v = a * 100 + b;
    return v >= 806 ? 13 : v >= 704 ? 12 : v >= 702 ? 11 : v >= 700 ? 10 : v >= 500 ? 9 : v >= 400 ? 8
         : v >= 302 ? 7 : v >= 206 ? 6 : 0;
}

typedef struct probe {
    rmig_target_info *info;
    int failed, answers;
    char *err;
    size_t errlen;
} probe;

void rmig_target_info_field(const char *info, const char *key, char *out, size_t cap)
{
    const char *p = strstr(info, key);
    if (!p)
        return;
    p += strlen(key);
    size_t n = strcspn(p, "\r\n");
    snprintf(out, cap, "%.*s", (int)(n < cap - 1 ? n : cap - 1), p);
}

/* "db0:keys=12,expires=..." lines: the keys of every database */
static uint64_t keyspace_keys(const char *s)
{
    uint64_t n = 0;
    for (const char *p = strstr(s, ":keys="); p; p = strstr(p + 1, ":keys="))
        n += strtoull(p + 6, NULL, 10);
    return n;
}

static void on_reply(rmig_redis *c, void *ud, uint64_t tag, const redisReply *r)
{
    probe *p = ud;
    if (tag == 2) {
        if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
            p->info->keys = keyspace_keys(r->str);
        else
            p->info->keys = UINT64_MAX; /* unknown: assume not empty */
    } else if (tag == 3) {
        if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
            char v[64] = "";
            rmig_target_info_field(r->str, "\nmaxmemory:", v, sizeof v);
            p->info->maxmemory = strtoull(v, NULL, 10);
            v[0] = 0;
            rmig_target_info_field(r->str, "used_memory:", v, sizeof v);
            p->info->used_memory = strtoull(v, NULL, 10);
        }
    } else if (tag == 4) {
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING)
            p->info->proto_max_bulk_len = strtoull(r->element[1]->str, NULL, 10);
    } else if (r->type == REDIS_REPLY_ERROR) {
        snprintf(p->err, p->errlen, "%s answered INFO with: %.*s", rmig_redis_name(c), (int)r->len, r->str);
        p->failed = 1;
    } else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(r->len < sizeof tmp - 1 ? r->len : sizeof tmp - 1), r->str);
        rmig_target_info_field(tmp, "redis_version:", p->info->redis, sizeof p->info->redis);
        rmig_target_info_field(tmp, "valkey_version:", p->info->valkey, sizeof p->info->valkey);
        rmig_target_info_field(tmp, "redis_mode:", p->info->mode, sizeof p->info->mode);
        p->info->rdb_version = rmig_target_rdb_version(p->info->redis, p->info->valkey);
    }
    if (++p->answers == 4 || p->failed)
        rmig_redis_close(c, NULL);
}

static void on_state(rmig_redis *c, void *ud, int state, const char *err, uint64_t unanswered)
{
    probe *p = ud;
    (void)unanswered;
    if (state == RMIG_REDIS_READY) {
        const char *argv[] = {"INFO", "server"}, *argv2[] = {"INFO", "keyspace"};
        rmig_resp_cmd(rmig_redis_out(c), 2, argv);
        rmig_redis_done(c, 1);
        rmig_resp_cmd(rmig_redis_out(c), 2, argv2);
        rmig_redis_done(c, 2);
        const char *argv3[] = {"INFO", "memory"}, *argv4[] = {"CONFIG", "GET", "proto-max-bulk-len"};
        rmig_resp_cmd(rmig_redis_out(c), 2, argv3);
        rmig_redis_done(c, 3);
        rmig_resp_cmd(rmig_redis_out(c), 3, argv4);
        rmig_redis_done(c, 4);
        return;
    }
    snprintf(p->err, p->errlen, "%s", err);
    p->failed = 1;
    rmig_redis_close(c, NULL);
}

/* A connection on a loop of its own, run until the callbacks close it:
 * answers before anything else happens. 0, or -1 (memory). */
static int on_own_loop(const char *host, int port, const char *user, const char *password, const rmig_tls_opts *tls,
                       rmig_redis_reply_cb reply_cb, rmig_redis_state_cb state_cb, void *ud, char *err, size_t errlen)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rmig_redis_opts o = {.host = host, .port = port, .user = user, .password = password, .window = 16, .tls = tls};
    rmig_redis *c = rmig_redis_new(&loop, &o, reply_cb, state_cb, ud);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        uv_loop_close(&loop);
        return -1;
    }
    rmig_redis_connect(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}

const char *rmig_target_addr(char *buf, size_t cap, const char *host, int port)
{
    if (host[0] == '/')
        snprintf(buf, cap, "%s", host);
    else
        snprintf(buf, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    return buf;
}

int rmig_target_split_addr(const char *addr, char *host, size_t cap, int *port)
{
    if (addr[0] == '/') {
        snprintf(host, cap, "%s", addr);
        *port = 0;
        return 0;
    }
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return -1;
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
        addr++;
        hl -= 2;
    }
    snprintf(host, cap, "%.*s", (int)hl, addr);
    *port = atoi(colon + 1);
    return 0;
}

int rmig_target_probe(const char *host, int port, const char *user, const char *password, const rmig_tls_opts *tls,
                      rmig_target_info *info, char *err, size_t errlen)
{
    memset(info, 0, sizeof *info);
    probe p = {info, 0, 0, err, errlen};
    if (on_own_loop(host, port, user, password, tls, on_reply, on_state, &p, err, errlen) < 0)
        return -1;
    if (!p.failed && !info->redis[0] && !info->valkey[0]) {
        snprintf(err, errlen, "no version in the answer to INFO server");
        return -1;
    }
    return p.failed ? -1 : 0;
}

int rmig_target_restores(int target_version, int file_version)
{
    if (file_version == 80)
        return target_version >= 80;
    return target_version >= file_version;
}

int rmig_target_has_pxat(const rmig_target_info *ti)
{
    int major = 0, minor = 0;
    if (ti->valkey[0])
        return 1;
    sscanf(ti->redis, "%d.%d", &major, &minor);
    return major > 6 || (major == 6 && minor >= 2);
}

/* ---- one command, answered before anything else runs ---- */

typedef struct call {
    int argc;
    const char *const *argv;
    rmig_target_reply_cb cb;
    void *ud;
    int failed;
    char *err;
    size_t errlen;
} call;

static void call_reply(rmig_redis *c, void *ud, uint64_t tag, const redisReply *r)
{
    call *k = ud;
    (void)tag;
    if (k->cb(r, k->ud, k->err, k->errlen) < 0)
        k->failed = 1;
    rmig_redis_close(c, NULL);
}

static void call_state(rmig_redis *c, void *ud, int state, const char *err, uint64_t unanswered)
{
    call *k = ud;
    (void)unanswered;
    if (state == RMIG_REDIS_READY) {
        rmig_resp_cmd(rmig_redis_out(c), (size_t)k->argc, k->argv);
        rmig_redis_done(c, 1);
        return;
    }
    snprintf(k->err, k->errlen, "%s", err);
    k->failed = 1;
    rmig_redis_close(c, NULL);
}

int rmig_target_call(const char *host, int port, const char *user, const char *password, const rmig_tls_opts *tls,
                     int argc, const char *const *argv, rmig_target_reply_cb cb, void *ud, char *err, size_t errlen)
{
    call k = {argc, argv, cb, ud, 0, err, errlen};
    if (on_own_loop(host, port, user, password, tls, call_reply, call_state, &k, err, errlen) < 0)
        return -1;
    return k.failed ? -1 : 0;
}
