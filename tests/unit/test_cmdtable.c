/* test_cmdtable.c - the command table: key positions of plain and movable
 * commands and of arguments that do not fit, lookups, flags, and merging a
 * COMMAND reply built by hand. When /usr/bin/redis-server exists, a real
 * server's COMMAND reply is merged too, every non-movable command's
 * built-in positions are compared with the server's first/last/step, and
 * the key-position cases below are asked of the server's COMMAND GETKEYS;
 * without it that part is skipped. */
#include "cmdtable.h"
#include "testlib.h"

#include <dirent.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAXARGS 64

/* A command line split at spaces; "" stands for an empty argument. */
typedef struct line {
    int argc;
    const uint8_t *argv[MAXARGS];
    size_t lens[MAXARGS];
    char buf[512];
} line;

static void split(line *l, const char *s)
{
    snprintf(l->buf, sizeof l->buf, "%s", s);
    l->argc = 0;
    for (char *p = strtok(l->buf, " "); p && l->argc < MAXARGS; p = strtok(NULL, " ")) {
        if (strcmp(p, "\"\"") == 0)
            *p = 0;
        l->argv[l->argc] = (const uint8_t *)p;
        l->lens[l->argc++] = strlen(p);
    }
}

/* The key positions of a command line as "1 3 4", "" for none, "-1" when
 * the arguments do not fit, "unknown" when the command is not in t. */
static const char *keys_of(const rmig_cmdtable *t, const char *s, char *out, size_t outlen)
{
    line l;
    split(&l, s);
    const rmig_cmdinfo *ci = rmig_cmdtable_find(t, l.argv[0], l.lens[0]);
    if (!ci)
        return "unknown";
    uint32_t pos[MAXARGS];
    int n = rmig_cmdtable_keys(t, ci, l.argc, l.argv, l.lens, pos, MAXARGS);
    if (n < 0)
        return "-1";
    out[0] = 0;
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), outlen - strlen(out), "%s%u", i ? " " : "", pos[i]);
    return out;
}

static const struct keycase {
    const char *line, *want;
    int redis_differs; /* Redis' COMMAND GETKEYS answers otherwise, on purpose (see why) */
    const char *why;
} cases[] = {
    /* plain ranges */
    {"GET k", "1", 0, 0},
    {"SET k v EX 10 NX", "1", 0, 0},
    {"MSET a 1 b 2 c 3", "1 3 5", 0, 0},
    {"MSETNX a 1 b 2", "1 3", 0, 0},
    {"DEL a b c", "1 2 3", 0, 0},
    {"BLPOP a b 0", "1 2", 0, 0},
    {"BZPOPMIN z 1.5", "1", 0, 0},
    {"BITOP AND d a b", "2 3 4", 0, 0},
    {"RENAME a b", "1 2", 0, 0},
    {"COPY a b DB 2 REPLACE", "1 2", 0, 0},
    {"SMOVE a b m", "1 2", 0, 0},
    {"LMOVE a b LEFT RIGHT", "1 2", 0, 0},
    {"BLMOVE a b LEFT RIGHT 0", "1 2", 0, 0},
    {"RPOPLPUSH a b", "1 2", 0, 0},
    {"SUNIONSTORE d a b", "1 2 3", 0, 0},
    {"PFMERGE d a b", "1 2 3", 0, 0},
    {"GEOSEARCHSTORE d s FROMMEMBER m BYRADIUS 1 km", "1 2", 0, 0},
    {"ZRANGESTORE d s 0 -1", "1 2", 0, 0},
    {"LCS a b LEN", "1 2", 0, 0},
    {"RESTORE k 0 payload REPLACE", "1", 0, 0},
    {"RESTORE-ASKING k 0 payload", "1", 0, 0},
    {"PEXPIREAT k 1700000000000", "1", 0, 0},
    {"XADD s * f v", "1", 0, 0},
    {"WATCH a b", "1 2", 0, 0},
    {"PFDEBUG GETREG k", "2", 0, 0},
    {"HEXPIRE h 10 FIELDS 2 f g", "1", 0, 0},
    {"PING", "", 0, 0},
    {"SELECT 3", "", 0, 0},
    {"MULTI", "", 0, 0},
    {"FLUSHALL ASYNC", "", 0, 0},
    {"SWAPDB 0 1", "", 0, 0},
    {"PUBLISH ch m", "", 0, 0},
    {"SPUBLISH ch m", "", 0, 0},
    {"FUNCTION FLUSH", "", 0, 0},
    {"SCRIPT FLUSH", "", 0, 0},
    /* arity */
    {"GET", "-1", 0, 0},
    {"GET a b", "-1", 0, 0},
    {"SET k", "-1", 0, 0},
    {"MSET a 1 b", "-1", 1, "Redis' getkeys does not check pairs, MSET refuses a key without a value"},
    {"RENAME a", "-1", 0, 0},
    /* scripts: numkeys at 2, may be 0 */
    {"EVAL body 2 a b x y", "3 4", 0, 0},
    {"EVAL body 0 x", "", 0, 0},
    {"EVALSHA sha 1 a", "3", 0, 0},
    {"EVAL_RO body 1 a x", "3", 0, 0},
    {"EVALSHA_RO sha 2 a b", "3 4", 0, 0},
    {"FCALL fn 1 a x", "3", 0, 0},
    {"FCALL_RO fn 2 a b", "3 4", 0, 0},
    {"eval body 3 a b", "-1", 0, 0},
    {"EVAL body -1", "-1", 0, 0},
    {"EVAL body x", "-1", 0, 0},
    {"EVAL body 01 a", "-1", 1, "Redis' getkeys reads numkeys with atoi, EVAL itself refuses it"},
    /* destination, numkeys at 2 */
    {"ZUNIONSTORE d 2 a b WEIGHTS 1 2", "1 3 4", 0, 0},
    {"ZINTERSTORE d 1 a AGGREGATE MAX", "1 3", 0, 0},
    {"ZDIFFSTORE d 2 a b", "1 3 4", 0, 0},
    {"ZDIFFSTORE d 0 a", "-1", 0, 0},
    {"ZUNIONSTORE d 3 a b", "-1", 0, 0},
    /* numkeys at 1 */
    {"ZUNION 2 a b WITHSCORES", "2 3", 0, 0},
    {"ZINTER 1 a", "2", 0, 0},
    {"ZDIFF 2 a b", "2 3", 0, 0},
    {"ZINTERCARD 2 a b LIMIT 1", "2 3", 0, 0},
    {"SINTERCARD 1 a LIMIT 5", "2", 0, 0},
    {"LMPOP 2 a b LEFT COUNT 2", "2 3", 0, 0},
    {"ZMPOP 1 z MIN", "2", 0, 0},
    {"LMPOP 0 a LEFT", "-1", 0, 0},
    {"ZUNION 5 a b", "-1", 0, 0},
    /* timeout at 1, numkeys at 2 */
    {"BLMPOP 0 2 a b LEFT", "3 4", 0, 0},
    {"BZMPOP 1.5 1 z MAX COUNT 3", "3", 0, 0},
    {"BLMPOP 0 4 a b LEFT", "-1", 0, 0},
    /* STREAMS */
    {"XREAD COUNT 2 BLOCK 0 STREAMS a b 0 0", "6 7", 0, 0},
    {"xread streams a $", "2", 0, 0},
    {"XREADGROUP GROUP g c COUNT 1 NOACK STREAMS s >", "8", 0, 0},
    {"XREADGROUP GROUP g c STREAMS s1 s2 s3 > > >", "5 6 7", 0, 0},
    {"XREAD STREAMS a b 0", "-1", 1, "Redis' getkeys takes half of 3 as 1, XREAD refuses it as unbalanced"},
    {"XREAD COUNT 1 a 0", "-1", 0, 0},
    /* MIGRATE */
    {"MIGRATE h 6379 k 0 5000", "3", 0, 0},
    {"MIGRATE h 6379 k 0 5000 COPY REPLACE", "3", 0, 0},
    {"MIGRATE h 6379 \"\" 0 5000 COPY AUTH keys KEYS a b", "10 11", 0, 0},
    {"MIGRATE h 6379 \"\" 0 5000 AUTH2 u keys KEYS a", "10", 0, 0},
    {"MIGRATE h 6379 k 0 5000 KEYS a", "-1", 0, 0},
    /* SORT */
    {"SORT k BY w_* GET # GET o_* LIMIT 0 10 STORE d", "1 12", 0, 0},
    {"SORT k ALPHA DESC", "1", 0, 0},
    {"SORT k BY store", "1", 0, 0},
    {"sort k store a store b", "1 5", 0, 0},
    {"SORT k STORE", "-1", 1, "Redis' getkeys ignores a STORE without its destination, SORT refuses it"},
    {"SORT k LIMIT 0", "-1", 1, "Redis' getkeys ignores it, SORT refuses a LIMIT without its count"},
    {"SORT_RO k BY w_* GET o_*", "1", 0, 0},
    /* GEORADIUS */
    {"GEORADIUS k 0 0 1 km STORE d", "1 7", 0, 0},
    {"GEORADIUS k 0 0 1 km WITHDIST COUNT 3 ASC", "1", 0, 0},
    {"GEORADIUSBYMEMBER k m 1 km STOREDIST d", "1 6", 0, 0},
    {"GEORADIUSBYMEMBER k m 1 km STORE a STOREDIST b", "1 6 8", 0, 0},
    {"GEORADIUS k 0 0 1 km STORE", "-1", 1, "a STORE without its destination, as for SORT"},
    {"GEORADIUS_RO k 0 0 1 km", "1", 0, 0},
    /* containers */
    {"XGROUP CREATE s g $ MKSTREAM", "2", 0, 0},
    {"XGROUP SETID s g 0", "2", 0, 0},
    {"xgroup destroy s g", "2", 0, 0},
    {"XGROUP CREATECONSUMER s g c", "2", 0, 0},
    {"XGROUP DELCONSUMER s g c", "2", 0, 0},
    {"XGROUP HELP", "", 0, 0},
    {"XGROUP DESTROY s", "-1", 0, 0},
    {"XINFO STREAM s FULL", "2", 0, 0},
    {"XINFO GROUPS s", "2", 0, 0},
    {"XINFO CONSUMERS s g", "2", 0, 0},
    {"OBJECT ENCODING k", "2", 0, 0},
    {"OBJECT FREQ k", "2", 0, 0},
    {"OBJECT HELP", "", 0, 0},
    {"MEMORY USAGE k SAMPLES 5", "2", 0, 0},
    {"MEMORY STATS", "", 0, 0},
};

/* ---- redisReply trees built by hand ---- */

static redisReply *r_new(int type)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = type;
    return r;
}

static redisReply *r_str(int type, const char *s)
{
    redisReply *r = r_new(type);
    r->len = strlen(s);
    r->str = malloc(r->len + 1);
    memcpy(r->str, s, r->len + 1);
    return r;
}

static redisReply *r_int(long long v)
{
    redisReply *r = r_new(REDIS_REPLY_INTEGER);
    r->integer = v;
    return r;
}

static redisReply *r_arr(size_t n)
{
    redisReply *r = r_new(REDIS_REPLY_ARRAY);
    r->elements = n;
    r->element = calloc(n ? n : 1, sizeof *r->element);
    return r;
}

static void r_free(redisReply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->elements; i++)
        r_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

/* [name, arity, [flags...], first, last, step] as COMMAND answers; flags
 * separated by commas; extra adds Redis 7's trailing elements. */
static redisReply *r_cmd(const char *name, int arity, const char *flags, int first, int last, int step,
                         int extra)
{
    redisReply *c = r_arr(extra ? 10 : 6);
    c->element[0] = r_str(REDIS_REPLY_STRING, name);
    c->element[1] = r_int(arity);
    char buf[200];
    snprintf(buf, sizeof buf, "%s", flags);
    size_t nf = 0;
    const char *fl[16];
    for (char *p = strtok(buf, ","); p && nf < 16; p = strtok(NULL, ","))
        fl[nf++] = p;
    c->element[2] = r_arr(nf);
    for (size_t i = 0; i < nf; i++)
        c->element[2]->element[i] = r_str(REDIS_REPLY_STATUS, fl[i]);
    c->element[3] = r_int(first);
    c->element[4] = r_int(last);
    c->element[5] = r_int(step);
    for (int i = 6; extra && i < 10; i++)
        c->element[i] = r_arr(0);
    return c;
}

static const rmig_cmdinfo *find(const rmig_cmdtable *t, const char *name)
{
    return rmig_cmdtable_find(t, (const uint8_t *)name, strlen(name));
}

static void test_cases(const rmig_cmdtable *t)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[256];
        const char *g = keys_of(t, cases[i].line, got, sizeof got);
        if (strcmp(g, cases[i].want) != 0) {
            bad++;
            printf("not ok - key positions of '%s': got '%s', want '%s'\n", cases[i].line, g, cases[i].want);
        }
    }
    CHECK("key positions of plain, movable and container commands, and -1 for arguments that do not fit",
          bad == 0, "%d cases wrong", bad);
}

static void test_lookup_and_flags(const rmig_cmdtable *t)
{
    const rmig_cmdinfo *a = find(t, "zunionstore"), *b = find(t, "ZUnionStore");
    CHECK("lookups ignore case", a && a == b && strcmp(a->name, "zunionstore") == 0, "%p %p", (void *)a,
          (void *)b);
    CHECK("an unknown command is NULL",
          !find(t, "nosuchcommand") && !find(t, "") && !find(t, "ge") && !find(t, "gett") &&
              !rmig_cmdtable_find(t, (const uint8_t *)"get\0", 4),
          "found");
    CHECK("a name of 32 bytes or more is unknown, not truncated",
          !rmig_cmdtable_find(t, (const uint8_t *)"getxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 40), "found");
    const char *split1[] = {"del", "unlink", "exists", "touch"};
    int ok = 1;
    for (size_t i = 0; i < 4; i++) {
        const rmig_cmdinfo *c = find(t, split1[i]);
        ok &= c && (c->flags & RMIG_CMD_SPLIT) && c->group == 1;
    }
    CHECK("DEL, UNLINK, EXISTS and TOUCH split into groups of one key", ok, "no");
    const rmig_cmdinfo *mset = find(t, "mset"), *msetnx = find(t, "msetnx"), *mget = find(t, "mget");
    CHECK("MSET splits into key-value pairs; MSETNX, all or nothing, does not",
          mset && (mset->flags & RMIG_CMD_SPLIT) && mset->group == 2 && msetnx &&
              !(msetnx->flags & RMIG_CMD_SPLIT) && msetnx->group == 0 && mget &&
              !(mget->flags & RMIG_CMD_SPLIT),
          "no");
    const rmig_cmdinfo *set = find(t, "set"), *get = find(t, "get"), *fa = find(t, "flushall"),
                       *ping = find(t, "ping"), *eval = find(t, "eval"), *cfg = find(t, "config"),
                       *spub = find(t, "spublish");
    CHECK("SET writes, GET does not",
          set && (set->flags & RMIG_CMD_WRITE) && get && !(get->flags & RMIG_CMD_WRITE), "no");
    CHECK("FLUSHALL is a write, server-wide, without keys",
          fa && fa->flags == (RMIG_CMD_WRITE | RMIG_CMD_ADMIN | RMIG_CMD_NOKEY), "%u", fa ? fa->flags : 0);
    CHECK("PING has no key; CONFIG is server-wide",
          ping && ping->flags == RMIG_CMD_NOKEY && cfg && (cfg->flags & RMIG_CMD_ADMIN), "no");
    CHECK("EVAL's keys move with numkeys", eval && (eval->flags & RMIG_CMD_MOVABLE) && eval->arity == -3,
          "no");
    CHECK("SPUBLISH's shard channel is not a key", spub && (spub->flags & RMIG_CMD_NOKEY) && spub->first == 0,
          "no");
    CHECK("the built-in table knows Redis 7.2's commands", rmig_cmdtable_count(t) >= 240, "%zu",
          rmig_cmdtable_count(t));

    /* a caller with less room learns how much it needs */
    line l;
    split(&l, "DEL a b c d");
    uint32_t pos[4] = {0, 0, 99, 99};
    int n = rmig_cmdtable_keys(t, find(t, "del"), l.argc, l.argv, l.lens, pos, 2);
    CHECK("positions past cap are counted, not written", n == 4 && pos[0] == 1 && pos[1] == 2 && pos[2] == 99,
          "n=%d", n);
    n = rmig_cmdtable_keys(t, find(t, "del"), l.argc, l.argv, l.lens, NULL, 0);
    CHECK("cap 0 only counts", n == 4, "n=%d", n);
}

static void test_merge(void)
{
    rmig_cmdtable *t = rmig_cmdtable_new();
    size_t before = rmig_cmdtable_count(t);
    redisReply *r = r_arr(7);
    r->element[0] = r_cmd("mymod.set", -3, "write,denyoom", 1, 1, 1, 1);
    r->element[1] = r_cmd("ZRANK", 3, "readonly,fast", 1, 1, 1, 1);
    r->element[2] = r_cmd("eval", -3, "noscript,movablekeys", 0, 0, 0, 1);
    r->element[3] = r_cmd("spublish", 3, "pubsub,fast", 1, 1, 1, 1);
    r->element[4] = r_cmd("mymod.multi", -2, "write,movablekeys", 1, 1, 1, 0);
    r->element[5] = r_new(REDIS_REPLY_NIL);
    r->element[6] = r_cmd("mymod.info", 1, "admin", 0, 0, 0, 0);
    char err[128] = "";
    int n = rmig_cmdtable_merge(t, r, err, sizeof err);
    CHECK("a COMMAND reply is merged, nil elements skipped", n == 6 && rmig_cmdtable_count(t) == before + 3,
          "n=%d %s count %zu", n, err, rmig_cmdtable_count(t));
    const rmig_cmdinfo *c = find(t, "MYMOD.SET");
    CHECK("a command unknown to rmig is added with the server's facts",
          c && c->arity == -3 && c->first == 1 && c->last == 1 && c->step == 1 && c->flags == RMIG_CMD_WRITE,
          "no");
    CHECK("its keys are found by its range", strcmp(keys_of(t, "mymod.set k v", err, sizeof err), "1") == 0,
          "%s", err);
    c = find(t, "zrank");
    CHECK("a known command takes the server's arity",
          c && c->arity == 3 && strcmp(keys_of(t, "ZRANK z m WITHSCORE", err, 8), "-1") == 0, "no");
    c = find(t, "eval");
    CHECK("a known movable command keeps rmig's rule",
          c && (c->flags & RMIG_CMD_MOVABLE) && (c->flags & RMIG_CMD_WRITE) &&
              strcmp(keys_of(t, "EVAL s 2 a b", err, sizeof err), "3 4") == 0,
          "%s", err);
    c = find(t, "spublish");
    CHECK("a pubsub command has no keys even when the server gives it some",
          c && (c->flags & RMIG_CMD_NOKEY) && strcmp(keys_of(t, "SPUBLISH ch m", err, sizeof err), "") == 0,
          "%s", err);
    c = find(t, "mymod.multi");
    CHECK("a movable module command is marked partial",
          c && (c->flags & RMIG_CMD_MOVABLE) && (c->flags & RMIG_CMD_PARTIAL) &&
              strcmp(keys_of(t, "mymod.multi a b", err, sizeof err), "1") == 0,
          "no");
    c = find(t, "mymod.info");
    CHECK("a module command without keys is marked so", c && c->flags == (RMIG_CMD_ADMIN | RMIG_CMD_NOKEY),
          "no");
    r_free(r);

    /* enough commands to grow the table and its hash several times */
    r = r_arr(2000);
    for (int i = 0; i < 2000; i++) {
        char name[32];
        snprintf(name, sizeof name, "mod%d.cmd", i);
        r->element[i] = r_cmd(name, -2, "write", 1, -1, 1, 0);
    }
    n = rmig_cmdtable_merge(t, r, err, sizeof err);
    int found = 0;
    for (int i = 0; i < 2000; i++) {
        char name[32];
        snprintf(name, sizeof name, "MOD%d.CMD", i);
        const rmig_cmdinfo *m = find(t, name);
        found += m && m->last == -1;
    }
    CHECK("2000 merged commands are all found after the table grew",
          n == 2000 && found == 2000 && find(t, "get"), "n=%d found=%d", n, found);
    r_free(r);

    const char *what[4] = {"not an array", "element not an array", "too short", "integer flags"};
    redisReply *bad[4];
    bad[0] = r_int(3);
    bad[1] = r_arr(1);
    bad[1]->element[0] = r_int(1);
    bad[2] = r_arr(1);
    bad[2]->element[0] = r_arr(5);
    for (int i = 0; i < 5; i++)
        bad[2]->element[0]->element[i] = r_int(0);
    bad[3] = r_arr(1);
    bad[3]->element[0] = r_cmd("x", 1, "", 0, 0, 0, 0);
    r_free(bad[3]->element[0]->element[2]);
    bad[3]->element[0]->element[2] = r_int(0);
    for (int i = 0; i < 4; i++) {
        err[0] = 0;
        n = rmig_cmdtable_merge(t, bad[i], err, sizeof err);
        CHECK("a reply of the wrong shape is refused with a message", n == -1 && strstr(err, "COMMAND reply"),
              "%s: n=%d err=%s", what[i], n, err);
        r_free(bad[i]);
    }
    rmig_cmdtable_free(t);
}

/* ---- against a real server ---- */

static redisContext *connect_to(int port)
{
    for (int i = 0; i < 500; i++) {
        redisContext *c = redisConnect("127.0.0.1", port);
        if (c && !c->err)
            return c;
        redisFree(c);
        usleep(10000);
    }
    return NULL;
}

/* The key positions Redis' legacy range gives for argc arguments. */
static int legacy_keys(int first, int last, int step, int argc, uint32_t *pos)
{
    int n = 0;
    if (first <= 0)
        return 0;
    if (last < 0)
        last += argc;
    for (int j = first; j <= last && n < MAXARGS; j += step ? step : 1)
        pos[n++] = (uint32_t)j;
    return n;
}

static int has_flag(const redisReply *c, const char *flag)
{
    for (size_t i = 0; i < c->element[2]->elements; i++)
        if (strcmp(c->element[2]->element[i]->str, flag) == 0)
            return 1;
    return 0;
}

/* Compares rmig's positions for a synthetic argv of argc arguments (name,
 * then subcommand if any, then a2, a3, ...) with the server's range. */
static int agrees(const rmig_cmdtable *t, const char *name, const char *sub, int argc, int first, int last,
                  int step, char *why, size_t whylen)
{
    char args[MAXARGS][32];
    const uint8_t *argv[MAXARGS];
    size_t lens[MAXARGS];
    if (argc > MAXARGS)
        return 1;
    for (int i = 0; i < argc; i++) {
        snprintf(args[i], sizeof args[i], "%s", i == 0 ? name : i == 1 && sub ? sub : "");
        if (!args[i][0])
            snprintf(args[i], sizeof args[i], "a%d", i);
        argv[i] = (const uint8_t *)args[i];
        lens[i] = strlen(args[i]);
    }
    const rmig_cmdinfo *ci = rmig_cmdtable_find(t, argv[0], lens[0]);
    uint32_t want[MAXARGS], got[MAXARGS];
    int nw = legacy_keys(first, last, step, argc, want);
    int ng = ci ? rmig_cmdtable_keys(t, ci, argc, argv, lens, got, MAXARGS) : -2;
    int same = nw == ng && memcmp(want, got, (size_t)nw * sizeof want[0]) == 0;
    if (!same)
        snprintf(why, whylen, "%s%s%s with %d arguments: server %d keys from %u, rmig %d keys from %u", name,
                 sub ? " " : "", sub ? sub : "", argc, nw, nw > 0 ? want[0] : 0, ng, ng > 0 ? got[0] : 0);
    return same;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        char p[600];
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(dir);
}

static void compare_with_server(redisContext *c)
{
    redisReply *info = redisCommand(c, "INFO server");
    int major = 0, minor = 0;
    const char *v = info && info->type == REDIS_REPLY_STRING ? info->str : NULL;
    if (v && (v = strstr(v, "redis_version:")))
        sscanf(v, "redis_version:%d.%d", &major, &minor);
    freeReplyObject(info);
    printf("# comparing with redis-server %d.%d\n", major, minor);

    redisReply *all = redisCommand(c, "COMMAND");
    CHECK("the server answers COMMAND", all && all->type == REDIS_REPLY_ARRAY, "no");
    if (!all || all->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(all);
        return;
    }
    rmig_cmdtable *builtin = rmig_cmdtable_new(), *merged = rmig_cmdtable_new();
    char err[128] = "";
    int n = rmig_cmdtable_merge(merged, all, err, sizeof err);
    CHECK("the server's COMMAND reply merges whole", n == (int)all->elements, "n=%d of %zu: %s", n,
          all->elements, err);

    int compared = 0, disagree = 0, unknown = 0, arity_diff = 0;
    char first_why[300] = "", unknown_names[400] = "", arity_names[400] = "";
    for (size_t i = 0; i < all->elements; i++) {
        const redisReply *cmd = all->element[i];
        const char *name = cmd->element[0]->str;
        int arity = (int)cmd->element[1]->integer;
        const rmig_cmdinfo *ci = find(builtin, name);
        if (!ci) {
            unknown++;
            snprintf(unknown_names + strlen(unknown_names), sizeof unknown_names - strlen(unknown_names),
                     " %s", name);
            continue;
        }
        if (ci->arity != arity) {
            arity_diff++;
            snprintf(arity_names + strlen(arity_names), sizeof arity_names - strlen(arity_names),
                     " %s(%d/%d)", name, arity, ci->arity);
        }
        if (has_flag(cmd, "pubsub"))
            continue; /* channels are not keys to rmig */
        const redisReply *subs = cmd->elements > 9 ? cmd->element[9] : NULL;
        if (subs && subs->type == REDIS_REPLY_ARRAY && subs->elements) {
            for (size_t j = 0; j < subs->elements; j++) {
                const redisReply *s = subs->element[j];
                const char *bar = strchr(s->element[0]->str, '|');
                if (!bar || has_flag(s, "movablekeys"))
                    continue;
                int sa = (int)s->element[1]->integer, argc = sa < 0 ? -sa : sa;
                char why[300];
                for (int extra = 0; extra <= (sa < 0 ? 2 : 0); extra += 2) {
                    compared++;
                    if (!agrees(builtin, name, bar + 1, argc + extra, (int)s->element[3]->integer,
                                (int)s->element[4]->integer, (int)s->element[5]->integer, why, sizeof why) &&
                        !disagree++)
                        snprintf(first_why, sizeof first_why, "%s", why);
                }
            }
            continue;
        }
        if (has_flag(cmd, "movablekeys"))
            continue;
        int argc = arity < 0 ? -arity : arity, step = (int)cmd->element[5]->integer;
        char why[300];
        for (int extra = 0; extra <= (arity < 0 ? 2 * (step > 1 ? step : 1) : 0);
             extra += step > 1 ? step : 2) {
            compared++;
            if (!agrees(builtin, name, NULL, argc + extra, (int)cmd->element[3]->integer,
                        (int)cmd->element[4]->integer, step, why, sizeof why) &&
                !disagree++)
                snprintf(first_why, sizeof first_why, "%s", why);
        }
    }
    CHECK("for every command that is not movable, rmig's positions are the server's",
          disagree == 0 && compared > 200, "%d of %d disagree; first: %s", disagree, compared, first_why);
    if (unknown)
        printf("# not in the built-in table:%s\n", unknown_names);
    if (arity_diff)
        printf("# arity differs (server/rmig):%s\n", arity_names);
    if (major == 7 && minor == 2) {
        CHECK("the built-in table knows every command of this Redis 7.2", unknown == 0, "%s", unknown_names);
        CHECK("and has the same arities", arity_diff == 0, "%s", arity_names);
    } else if (major < 7 || (major == 7 && minor <= 2)) {
        CHECK("the built-in table knows every command of this older Redis", unknown == 0, "%s",
              unknown_names);
    }

    /* the key-position cases, asked of COMMAND GETKEYS */
    int asked = 0, wrong = 0;
    char wrong_why[300] = "";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].redis_differs)
            continue;
        line l;
        split(&l, cases[i].line);
        const rmig_cmdinfo *sci = rmig_cmdtable_find(merged, l.argv[0], l.lens[0]);
        redisReply *ri = redisCommand(c, "COMMAND INFO %b", l.argv[0], l.lens[0]);
        int server_knows = ri && ri->type == REDIS_REPLY_ARRAY && ri->elements == 1 &&
                           ri->element[0]->type == REDIS_REPLY_ARRAY;
        freeReplyObject(ri);
        if (!server_knows || !sci)
            continue;
        const char *argv[MAXARGS + 2];
        size_t lens[MAXARGS + 2];
        argv[0] = "COMMAND";
        lens[0] = 7;
        argv[1] = "GETKEYS";
        lens[1] = 7;
        for (int j = 0; j < l.argc; j++) {
            argv[j + 2] = (const char *)l.argv[j];
            lens[j + 2] = l.lens[j];
        }
        redisReply *gk = redisCommandArgv(c, l.argc + 2, argv, lens);
        uint32_t pos[MAXARGS];
        int ours = rmig_cmdtable_keys(merged, sci, l.argc, l.argv, l.lens, pos, MAXARGS);
        int same;
        if (!gk || gk->type != REDIS_REPLY_ARRAY || gk->elements == 0) {
            same = ours <= 0; /* Redis finds no keys, or refuses the arguments */
        } else {
            same = ours == (int)gk->elements;
            for (int j = 0; same && j < ours; j++)
                same = gk->element[j]->len == l.lens[pos[j]] &&
                       memcmp(gk->element[j]->str, l.argv[pos[j]], l.lens[pos[j]]) == 0;
        }
        asked++;
        if (!same && !wrong++)
            snprintf(wrong_why, sizeof wrong_why, "'%s': rmig %d keys, server %s", cases[i].line, ours,
                     gk && gk->type == REDIS_REPLY_ARRAY ? "other keys"
                     : gk && gk->str                     ? gk->str
                                                         : "no reply");
        freeReplyObject(gk);
    }
    CHECK("the key-position cases give the keys the server's COMMAND GETKEYS gives", wrong == 0 && asked > 50,
          "%d of %d differ; first: %s", wrong, asked, wrong_why);

    rmig_cmdtable_free(builtin);
    rmig_cmdtable_free(merged);
    freeReplyObject(all);
}

static void test_server(void)
{
    const char *exe = "/usr/bin/redis-server";
    if (access(exe, X_OK) != 0) {
        printf("# %s not found: the comparison with a real server is skipped\n", exe);
        return;
    }
    char dir[] = "/tmp/rmig-cmdtable-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK("a directory for the test server", 0, "mkdtemp failed");
        return;
    }
    int port = rmig_t_free_port();
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    char *argv[] = {"redis-server", "--port", ps,      "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no",     "--dir", dir,      "--logfile", "",       NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
    pid_t pid;
    int spawned = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    CHECK("redis-server starts", spawned == 0, "posix_spawn: %d", spawned);
    if (spawned != 0) {
        remove_dir(dir);
        return;
    }
    redisContext *c = connect_to(port);
    CHECK("redis-server answers", c != NULL, "port %d", port);
    if (c) {
        compare_with_server(c);
        freeReplyObject(redisCommand(c, "SHUTDOWN NOSAVE"));
        redisFree(c);
    }
    int status, gone = 0;
    for (int i = 0; i < 500 && !gone; i++) {
        gone = waitpid(pid, &status, WNOHANG) == pid;
        if (!gone)
            usleep(10000);
    }
    if (!gone) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    remove_dir(dir);
}

int main(void)
{
    rmig_cmdtable *t = rmig_cmdtable_new();
    CHECK("the built-in table is made", t != NULL, "out of memory");
    if (!t)
        return rmig_t_done();
    test_cases(t);
    test_lookup_and_flags(t);
    rmig_cmdtable_free(t);
    test_merge();
    test_server();
    return rmig_t_done();
}
