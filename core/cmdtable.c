/* cmdtable.c - the Redis command table (see cmdtable.h).
 *
 * The built-in facts are one line per command: arity and legacy key range as
 * Redis 7.2 declares them, rmig's flags, and for commands whose keys move with
 * their arguments the rule that finds them. Lookups go through an
 * open-addressing hash of the lower-cased name, because every command of a
 * live replication stream is looked up. A server's COMMAND reply updates the
 * facts and adds what the built-in table lacks (module commands, newer
 * versions); the rules stay rmig's, since a legacy range cannot express them. */
#include "cmdtable.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How the keys of a command are found. */
enum rule {
    R_RANGE,        /* first/last/step */
    R_SCRIPT,       /* numkeys at `at`, keys after it; 0 keys is fine (EVAL, FCALL) */
    R_NUMKEYS,      /* numkeys at `at`, keys after it, at least one (ZUNION, LMPOP, BLMPOP) */
    R_DEST_NUMKEYS, /* destination at 1, numkeys at `at`, keys after it (ZUNIONSTORE) */
    R_STREAMS,      /* the first half of what follows STREAMS (XREAD, XREADGROUP) */
    R_MIGRATE,      /* 3, or what follows KEYS */
    R_SORT,         /* 1 and the STORE destination */
    R_GEORADIUS,    /* 1 and the STORE/STOREDIST destination, options from `at` */
    R_SUBCMD,       /* the subcommand decides; `at` names the container (enum container) */
};

enum container { C_XGROUP = 1, C_XINFO, C_OBJECT, C_MEMORY };

struct entry {
    rmig_cmdinfo info; /* first, so that a rmig_cmdinfo from find is its entry */
    uint8_t len;       /* of the name */
    uint8_t rule;      /* enum rule */
    uint8_t at;        /* the rule's argument */
};

struct rmig_cmdtable {
    struct entry *v;
    size_t n, cap;
    uint32_t *slots; /* index + 1 into v; 0 is empty */
    size_t mask;     /* slots - 1, a power of two minus one */
};

#define W RMIG_CMD_WRITE
#define M RMIG_CMD_MOVABLE
#define S RMIG_CMD_SPLIT
#define A RMIG_CMD_ADMIN
#define N RMIG_CMD_NOKEY

static const struct builtin {
    const char *name;
    short arity;
    signed char first, last, step;
    unsigned char flags, rule, at;
} builtin[] = {
    /* strings */
    {"append", 3, 1, 1, 1, W, R_RANGE, 0},
    {"decr", 2, 1, 1, 1, W, R_RANGE, 0},
    {"decrby", 3, 1, 1, 1, W, R_RANGE, 0},
    {"get", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"getdel", 2, 1, 1, 1, W, R_RANGE, 0},
    {"getex", -2, 1, 1, 1, W, R_RANGE, 0},
    {"getrange", 4, 1, 1, 1, 0, R_RANGE, 0},
    {"getset", 3, 1, 1, 1, W, R_RANGE, 0},
    {"incr", 2, 1, 1, 1, W, R_RANGE, 0},
    {"incrby", 3, 1, 1, 1, W, R_RANGE, 0},
    {"incrbyfloat", 3, 1, 1, 1, W, R_RANGE, 0},
    {"lcs", -3, 1, 2, 1, 0, R_RANGE, 0},
    {"mget", -2, 1, -1, 1, 0, R_RANGE, 0},
    {"mset", -3, 1, -1, 2, W | S, R_RANGE, 0},
    {"msetnx", -3, 1, -1, 2, W, R_RANGE, 0},
    {"psetex", 4, 1, 1, 1, W, R_RANGE, 0},
    {"set", -3, 1, 1, 1, W, R_RANGE, 0},
    {"setex", 4, 1, 1, 1, W, R_RANGE, 0},
    {"setnx", 3, 1, 1, 1, W, R_RANGE, 0},
    {"setrange", 4, 1, 1, 1, W, R_RANGE, 0},
    {"strlen", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"substr", 4, 1, 1, 1, 0, R_RANGE, 0},
    /* bitmaps */
    {"bitcount", -2, 1, 1, 1, 0, R_RANGE, 0},
    {"bitfield", -2, 1, 1, 1, W, R_RANGE, 0},
    {"bitfield_ro", -2, 1, 1, 1, 0, R_RANGE, 0},
    {"bitop", -4, 2, -1, 1, W, R_RANGE, 0},
    {"bitpos", -3, 1, 1, 1, 0, R_RANGE, 0},
    {"getbit", 3, 1, 1, 1, 0, R_RANGE, 0},
    {"setbit", 4, 1, 1, 1, W, R_RANGE, 0},
    /* lists */
    {"blmove", 6, 1, 2, 1, W, R_RANGE, 0},
    {"blmpop", -5, 0, 0, 0, W | M, R_NUMKEYS, 2},
    {"blpop", -3, 1, -2, 1, W, R_RANGE, 0},
    {"brpop", -3, 1, -2, 1, W, R_RANGE, 0},
    {"brpoplpush", 4, 1, 2, 1, W, R_RANGE, 0},
    {"lindex", 3, 1, 1, 1, 0, R_RANGE, 0},
    {"linsert", 5, 1, 1, 1, W, R_RANGE, 0},
    {"llen", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"lmove", 5, 1, 2, 1, W, R_RANGE, 0},
    {"lmpop", -4, 0, 0, 0, W | M, R_NUMKEYS, 1},
    {"lpop", -2, 1, 1, 1, W, R_RANGE, 0},
    {"lpos", -3, 1, 1, 1, 0, R_RANGE, 0},
    {"lpush", -3, 1, 1, 1, W, R_RANGE, 0},
    {"lpushx", -3, 1, 1, 1, W, R_RANGE, 0},
    {"lrange", 4, 1, 1, 1, 0, R_RANGE, 0},
    {"lrem", 4, 1, 1, 1, W, R_RANGE, 0},
    {"lset", 4, 1, 1, 1, W, R_RANGE, 0},
    {"ltrim", 4, 1, 1, 1, W, R_RANGE, 0},
    {"rpop", -2, 1, 1, 1, W, R_RANGE, 0},
    {"rpoplpush", 3, 1, 2, 1, W, R_RANGE, 0},
    {"rpush", -3, 1, 1, 1, W, R_RANGE, 0},
    {"rpushx", -3, 1, 1, 1, W, R_RANGE, 0},
    /* sets */
    {"sadd", -3, 1, 1, 1, W, R_RANGE, 0},
    {"scard", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"sdiff", -2, 1, -1, 1, 0, R_RANGE, 0},
    {"sdiffstore", -3, 1, -1, 1, W, R_RANGE, 0},
    {"sinter", -2, 1, -1, 1, 0, R_RANGE, 0},
    {"sintercard", -3, 0, 0, 0, M, R_NUMKEYS, 1},
    {"sinterstore", -3, 1, -1, 1, W, R_RANGE, 0},
    {"sismember", 3, 1, 1, 1, 0, R_RANGE, 0},
    {"smembers", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"smismember", -3, 1, 1, 1, 0, R_RANGE, 0},
    {"smove", 4, 1, 2, 1, W, R_RANGE, 0},
    {"spop", -2, 1, 1, 1, W, R_RANGE, 0},
    {"srandmember", -2, 1, 1, 1, 0, R_RANGE, 0},
    {"srem", -3, 1, 1, 1, W, R_RANGE, 0},
    {"sscan", -3, 1, 1, 1, 0, R_RANGE, 0},
    {"sunion", -2, 1, -1, 1, 0, R_RANGE, 0},
    {"sunionstore", -3, 1, -1, 1, W, R_RANGE, 0},
    /* sorted sets */
    {"bzmpop", -5, 0, 0, 0, W | M, R_NUMKEYS, 2},
    {"bzpopmax", -3, 1, -2, 1, W, R_RANGE, 0},
    {"bzpopmin", -3, 1, -2, 1, W, R_RANGE, 0},
    {"zadd", -4, 1, 1, 1, W, R_RANGE, 0},
    {"zcard", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"zcount", 4, 1, 1, 1, 0, R_RANGE, 0},
    {"zdiff", -3, 0, 0, 0, M, R_NUMKEYS, 1},
    {"zdiffstore", -4, 1, 1, 1, W | M, R_DEST_NUMKEYS, 2},
    {"zincrby", 4, 1, 1, 1, W, R_RANGE, 0},
    {"zinter", -3, 0, 0, 0, M, R_NUMKEYS, 1},
    {"zintercard", -3, 0, 0, 0, M, R_NUMKEYS, 1},
    {"zinterstore", -4, 1, 1, 1, W | M, R_DEST_NUMKEYS, 2},
    {"zlexcount", 4, 1, 1, 1, 0, R_RANGE, 0},
    {"zmpop", -4, 0, 0, 0, W | M, R_NUMKEYS, 1},
    {"zmscore", -3, 1, 1, 1, 0, R_RANGE, 0},
    {"zpopmax", -2, 1, 1, 1, W, R_RANGE, 0},
    {"zpopmin", -2, 1, 1, 1, W, R_RANGE, 0},
    {"zrandmember", -2, 1, 1, 1, 0, R_RANGE, 0},
    {"zrange", -4, 1, 1, 1, 0, R_RANGE, 0},
    {"zrangebylex", -4, 1, 1, 1, 0, R_RANGE, 0},
    {"zrangebyscore", -4, 1, 1, 1, 0, R_RANGE, 0},
    {"zrangestore", -5, 1, 2, 1, W, R_RANGE, 0},
    {"zrank", -3, 1, 1, 1, 0, R_RANGE, 0},
    {"zrem", -3, 1, 1, 1, W, R_RANGE, 0},
    {"zremrangebylex", 4, 1, 1, 1, W, R_RANGE, 0},
    {"zremrangebyrank", 4, 1, 1, 1, W, R_RANGE, 0},
    {"zremrangebyscore", 4, 1, 1, 1, W, R_RANGE, 0},
    {"zrevrange", -4, 1, 1, 1, 0, R_RANGE, 0},
    {"zrevrangebylex", -4, 1, 1, 1, 0, R_RANGE, 0},
    {"zrevrangebyscore", -4, 1, 1, 1, 0, R_RANGE, 0},
    {"zrevrank", -3, 1, 1, 1, 0, R_RANGE, 0},
    {"zscan", -3, 1, 1, 1, 0, R_RANGE, 0},
    {"zscore", 3, 1, 1, 1, 0, R_RANGE, 0},
    {"zunion", -3, 0, 0, 0, M, R_NUMKEYS, 1},
    {"zunionstore", -4, 1, 1, 1, W | M, R_DEST_NUMKEYS, 2},
    /* hashes (hexpire to hpexpiretime: Redis 7.4) */
    {"hdel", -3, 1, 1, 1, W, R_RANGE, 0},
    {"hexists", 3, 1, 1, 1, 0, R_RANGE, 0},
    {"hexpire", -6, 1, 1, 1, W, R_RANGE, 0},
    {"hexpireat", -6, 1, 1, 1, W, R_RANGE, 0},
    {"hexpiretime", -5, 1, 1, 1, 0, R_RANGE, 0},
    {"hget", 3, 1, 1, 1, 0, R_RANGE, 0},
    {"hgetall", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"hincrby", 4, 1, 1, 1, W, R_RANGE, 0},
    {"hincrbyfloat", 4, 1, 1, 1, W, R_RANGE, 0},
    {"hkeys", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"hlen", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"hmget", -3, 1, 1, 1, 0, R_RANGE, 0},
    {"hmset", -4, 1, 1, 1, W, R_RANGE, 0},
    {"hpersist", -5, 1, 1, 1, W, R_RANGE, 0},
    {"hpexpire", -6, 1, 1, 1, W, R_RANGE, 0},
    {"hpexpireat", -6, 1, 1, 1, W, R_RANGE, 0},
    {"hpexpiretime", -5, 1, 1, 1, 0, R_RANGE, 0},
    {"hpttl", -5, 1, 1, 1, 0, R_RANGE, 0},
    {"hrandfield", -2, 1, 1, 1, 0, R_RANGE, 0},
    {"hscan", -3, 1, 1, 1, 0, R_RANGE, 0},
    {"hset", -4, 1, 1, 1, W, R_RANGE, 0},
    {"hsetnx", 4, 1, 1, 1, W, R_RANGE, 0},
    {"hstrlen", 3, 1, 1, 1, 0, R_RANGE, 0},
    {"httl", -5, 1, 1, 1, 0, R_RANGE, 0},
    {"hvals", 2, 1, 1, 1, 0, R_RANGE, 0},
    /* streams */
    {"xack", -4, 1, 1, 1, W, R_RANGE, 0},
    {"xadd", -5, 1, 1, 1, W, R_RANGE, 0},
    {"xautoclaim", -6, 1, 1, 1, W, R_RANGE, 0},
    {"xclaim", -6, 1, 1, 1, W, R_RANGE, 0},
    {"xdel", -3, 1, 1, 1, W, R_RANGE, 0},
    {"xgroup", -2, 0, 0, 0, W | M, R_SUBCMD, C_XGROUP},
    {"xinfo", -2, 0, 0, 0, M, R_SUBCMD, C_XINFO},
    {"xlen", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"xpending", -3, 1, 1, 1, 0, R_RANGE, 0},
    {"xrange", -4, 1, 1, 1, 0, R_RANGE, 0},
    {"xread", -4, 0, 0, 0, M, R_STREAMS, 0},
    {"xreadgroup", -7, 0, 0, 0, W | M, R_STREAMS, 0},
    {"xrevrange", -4, 1, 1, 1, 0, R_RANGE, 0},
    {"xsetid", -3, 1, 1, 1, W, R_RANGE, 0},
    {"xtrim", -4, 1, 1, 1, W, R_RANGE, 0},
    /* HyperLogLog */
    {"pfadd", -2, 1, 1, 1, W, R_RANGE, 0},
    {"pfcount", -2, 1, -1, 1, 0, R_RANGE, 0},
    {"pfdebug", 3, 2, 2, 1, W | A, R_RANGE, 0},
    {"pfmerge", -2, 1, -1, 1, W, R_RANGE, 0},
    {"pfselftest", 1, 0, 0, 0, A | N, R_RANGE, 0},
    /* geo */
    {"geoadd", -5, 1, 1, 1, W, R_RANGE, 0},
    {"geodist", -4, 1, 1, 1, 0, R_RANGE, 0},
    {"geohash", -2, 1, 1, 1, 0, R_RANGE, 0},
    {"geopos", -2, 1, 1, 1, 0, R_RANGE, 0},
    {"georadius", -6, 1, 1, 1, W | M, R_GEORADIUS, 6},
    {"georadius_ro", -6, 1, 1, 1, 0, R_RANGE, 0},
    {"georadiusbymember", -5, 1, 1, 1, W | M, R_GEORADIUS, 5},
    {"georadiusbymember_ro", -5, 1, 1, 1, 0, R_RANGE, 0},
    {"geosearch", -7, 1, 1, 1, 0, R_RANGE, 0},
    {"geosearchstore", -8, 1, 2, 1, W, R_RANGE, 0},
    /* generic */
    {"copy", -3, 1, 2, 1, W, R_RANGE, 0},
    {"del", -2, 1, -1, 1, W | S, R_RANGE, 0},
    {"dump", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"exists", -2, 1, -1, 1, S, R_RANGE, 0},
    {"expire", -3, 1, 1, 1, W, R_RANGE, 0},
    {"expireat", -3, 1, 1, 1, W, R_RANGE, 0},
    {"expiretime", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"keys", 2, 0, 0, 0, N, R_RANGE, 0},
    {"migrate", -6, 3, 3, 1, W | M, R_MIGRATE, 0},
    {"move", 3, 1, 1, 1, W, R_RANGE, 0},
    {"object", -2, 0, 0, 0, M, R_SUBCMD, C_OBJECT},
    {"persist", 2, 1, 1, 1, W, R_RANGE, 0},
    {"pexpire", -3, 1, 1, 1, W, R_RANGE, 0},
    {"pexpireat", -3, 1, 1, 1, W, R_RANGE, 0},
    {"pexpiretime", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"pttl", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"randomkey", 1, 0, 0, 0, N, R_RANGE, 0},
    {"rename", 3, 1, 2, 1, W, R_RANGE, 0},
    {"renamenx", 3, 1, 2, 1, W, R_RANGE, 0},
    {"restore", -4, 1, 1, 1, W, R_RANGE, 0},
    {"restore-asking", -4, 1, 1, 1, W, R_RANGE, 0},
    {"scan", -2, 0, 0, 0, N, R_RANGE, 0},
    {"sort", -2, 1, 1, 1, W | M, R_SORT, 0},
    {"sort_ro", -2, 1, 1, 1, M, R_SORT, 0},
    {"touch", -2, 1, -1, 1, S, R_RANGE, 0},
    {"ttl", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"type", 2, 1, 1, 1, 0, R_RANGE, 0},
    {"unlink", -2, 1, -1, 1, W | S, R_RANGE, 0},
    {"wait", 3, 0, 0, 0, N, R_RANGE, 0},
    {"waitaof", 4, 0, 0, 0, N, R_RANGE, 0},
    /* scripting and functions */
    {"eval", -3, 0, 0, 0, W | M, R_SCRIPT, 2},
    {"eval_ro", -3, 0, 0, 0, M, R_SCRIPT, 2},
    {"evalsha", -3, 0, 0, 0, W | M, R_SCRIPT, 2},
    {"evalsha_ro", -3, 0, 0, 0, M, R_SCRIPT, 2},
    {"fcall", -3, 0, 0, 0, W | M, R_SCRIPT, 2},
    {"fcall_ro", -3, 0, 0, 0, M, R_SCRIPT, 2},
    {"function", -2, 0, 0, 0, W | A | N, R_RANGE, 0},
    {"script", -2, 0, 0, 0, A | N, R_RANGE, 0},
    /* transactions */
    {"discard", 1, 0, 0, 0, N, R_RANGE, 0},
    {"exec", 1, 0, 0, 0, N, R_RANGE, 0},
    {"multi", 1, 0, 0, 0, N, R_RANGE, 0},
    {"unwatch", 1, 0, 0, 0, N, R_RANGE, 0},
    {"watch", -2, 1, -1, 1, 0, R_RANGE, 0},
    /* pub/sub: channels, shard channels included, are not keys here */
    {"psubscribe", -2, 0, 0, 0, N, R_RANGE, 0},
    {"publish", 3, 0, 0, 0, N, R_RANGE, 0},
    {"pubsub", -2, 0, 0, 0, N, R_RANGE, 0},
    {"punsubscribe", -1, 0, 0, 0, N, R_RANGE, 0},
    {"spublish", 3, 0, 0, 0, N, R_RANGE, 0},
    {"ssubscribe", -2, 0, 0, 0, N, R_RANGE, 0},
    {"subscribe", -2, 0, 0, 0, N, R_RANGE, 0},
    {"sunsubscribe", -1, 0, 0, 0, N, R_RANGE, 0},
    {"unsubscribe", -1, 0, 0, 0, N, R_RANGE, 0},
    /* connection */
    {"asking", 1, 0, 0, 0, N, R_RANGE, 0},
    {"auth", -2, 0, 0, 0, N, R_RANGE, 0},
    {"client", -2, 0, 0, 0, N, R_RANGE, 0},
    {"echo", 2, 0, 0, 0, N, R_RANGE, 0},
    {"hello", -1, 0, 0, 0, N, R_RANGE, 0},
    {"ping", -1, 0, 0, 0, N, R_RANGE, 0},
    {"quit", -1, 0, 0, 0, N, R_RANGE, 0},
    {"readonly", 1, 0, 0, 0, N, R_RANGE, 0},
    {"readwrite", 1, 0, 0, 0, N, R_RANGE, 0},
    {"reset", 1, 0, 0, 0, N, R_RANGE, 0},
    {"select", 2, 0, 0, 0, N, R_RANGE, 0},
    /* server */
    {"acl", -2, 0, 0, 0, A | N, R_RANGE, 0},
    {"bgrewriteaof", 1, 0, 0, 0, A | N, R_RANGE, 0},
    {"bgsave", -1, 0, 0, 0, A | N, R_RANGE, 0},
    {"cluster", -2, 0, 0, 0, A | N, R_RANGE, 0},
    {"command", -1, 0, 0, 0, N, R_RANGE, 0},
    {"config", -2, 0, 0, 0, A | N, R_RANGE, 0},
    {"dbsize", 1, 0, 0, 0, N, R_RANGE, 0},
    {"debug", -2, 0, 0, 0, A | N, R_RANGE, 0},
    {"failover", -1, 0, 0, 0, A | N, R_RANGE, 0},
    {"flushall", -1, 0, 0, 0, W | A | N, R_RANGE, 0},
    {"flushdb", -1, 0, 0, 0, W | A | N, R_RANGE, 0},
    {"info", -1, 0, 0, 0, N, R_RANGE, 0},
    {"lastsave", 1, 0, 0, 0, N, R_RANGE, 0},
    {"latency", -2, 0, 0, 0, A | N, R_RANGE, 0},
    {"lolwut", -1, 0, 0, 0, N, R_RANGE, 0},
    {"memory", -2, 0, 0, 0, M, R_SUBCMD, C_MEMORY},
    {"module", -2, 0, 0, 0, A | N, R_RANGE, 0},
    {"monitor", 1, 0, 0, 0, A | N, R_RANGE, 0},
    {"psync", -3, 0, 0, 0, A | N, R_RANGE, 0},
    {"replconf", -1, 0, 0, 0, A | N, R_RANGE, 0},
    {"replicaof", 3, 0, 0, 0, A | N, R_RANGE, 0},
    {"role", 1, 0, 0, 0, N, R_RANGE, 0},
    {"save", 1, 0, 0, 0, A | N, R_RANGE, 0},
    {"shutdown", -1, 0, 0, 0, A | N, R_RANGE, 0},
    {"slaveof", 3, 0, 0, 0, A | N, R_RANGE, 0},
    {"slowlog", -2, 0, 0, 0, A | N, R_RANGE, 0},
    {"swapdb", 3, 0, 0, 0, W | A | N, R_RANGE, 0},
    {"sync", 1, 0, 0, 0, A | N, R_RANGE, 0},
    {"time", 1, 0, 0, 0, N, R_RANGE, 0},
};

#undef W
#undef M
#undef S
#undef A
#undef N

/* The subcommands of containers that take a key, always at 2; every other
 * subcommand of a container takes none. */
static const struct keyed_sub {
    unsigned char container;
    const char *name;
    short arity; /* of the whole command, as Redis counts it */
} keyed_subs[] = {
    {C_XGROUP, "create", -5},        {C_XGROUP, "setid", -5},      {C_XGROUP, "destroy", 4},
    {C_XGROUP, "createconsumer", 5}, {C_XGROUP, "delconsumer", 5}, {C_XINFO, "consumers", 4},
    {C_XINFO, "groups", 3},          {C_XINFO, "stream", -3},      {C_OBJECT, "encoding", 3},
    {C_OBJECT, "freq", 3},           {C_OBJECT, "idletime", 3},    {C_OBJECT, "refcount", 3},
    {C_MEMORY, "usage", -3},
};

static uint8_t fold(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Whether the n bytes at p are `lower` in any case. */
static int is_token(const uint8_t *p, size_t n, const char *lower)
{
    size_t i = 0;
    for (; i < n && lower[i]; i++)
        if (fold(p[i]) != (uint8_t)lower[i])
            return 0;
    return i == n && lower[i] == 0;
}

static uint32_t hash(const uint8_t *lower, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ lower[i]) * 16777619u;
    return h;
}

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The entry of a lower-case name, or NULL. */
static struct entry *lookup(const rmig_cmdtable *t, const uint8_t *lower, size_t n)
{
    for (size_t s = hash(lower, n) & t->mask;; s = (s + 1) & t->mask) {
        uint32_t ix = t->slots[s];
        if (!ix)
            return NULL;
        struct entry *e = &t->v[ix - 1];
        if (e->len == n && memcmp(e->info.name, lower, n) == 0)
            return e;
    }
}

static void slot_in(rmig_cmdtable *t, size_t ix)
{
    const struct entry *e = &t->v[ix];
    size_t s = hash((const uint8_t *)e->info.name, e->len) & t->mask;
    while (t->slots[s])
        s = (s + 1) & t->mask;
    t->slots[s] = (uint32_t)ix + 1;
}

/* Room for one more entry, keeping the hash at most half full. */
static int reserve(rmig_cmdtable *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct entry *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return -1;
        t->v = v;
        t->cap = cap;
    }
    if ((t->n + 1) * 2 > t->mask + 1) {
        size_t nslots = (t->mask + 1) * 2;
        uint32_t *slots = calloc(nslots, sizeof *slots);
        if (!slots)
            return -1;
        free(t->slots);
        t->slots = slots;
        t->mask = nslots - 1;
        for (size_t i = 0; i < t->n; i++)
            slot_in(t, i);
    }
    return 0;
}

/* Adds a command whose name (n < 32 bytes, lower case) is not in the table. */
static struct entry *add(rmig_cmdtable *t, const uint8_t *lower, size_t n)
{
    if (reserve(t) < 0)
        return NULL;
    struct entry *e = &t->v[t->n];
    memset(e, 0, sizeof *e);
    memcpy(e->info.name, lower, n);
    e->len = (uint8_t)n;
    slot_in(t, t->n++);
    return e;
}

rmig_cmdtable *rmig_cmdtable_new(void)
{
    rmig_cmdtable *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->mask = 511;
    t->slots = calloc(t->mask + 1, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
        const struct builtin *b = &builtin[i];
        struct entry *e = add(t, (const uint8_t *)b->name, strlen(b->name));
        if (!e) {
            rmig_cmdtable_free(t);
            return NULL;
        }
        e->info.arity = b->arity;
        e->info.first = b->first;
        e->info.last = b->last;
        e->info.step = b->step;
        e->info.flags = b->flags;
        e->info.group = b->flags & RMIG_CMD_SPLIT ? b->step : 0;
        e->rule = b->rule;
        e->at = b->at;
    }
    return t;
}

void rmig_cmdtable_free(rmig_cmdtable *t)
{
    if (!t)
        return;
    free(t->v);
    free(t->slots);
    free(t);
}

size_t rmig_cmdtable_count(const rmig_cmdtable *t)
{
    return t->n;
}

const rmig_cmdinfo *rmig_cmdtable_find(const rmig_cmdtable *t, const uint8_t *name, size_t n)
{
    uint8_t lower[sizeof(((rmig_cmdinfo *)0)->name)];
    if (n == 0 || n >= sizeof lower)
        return NULL;
    for (size_t i = 0; i < n; i++)
        lower[i] = fold(name[i]);
    struct entry *e = lookup(t, lower, n);
    return e ? &e->info : NULL;
}

/* ---- merging a COMMAND reply ---- */

/* RESP3 (hiredis 1.x) answers flags as a set; hiredis 0.14 has no sets. */
static int is_array(const redisReply *r)
{
#ifdef REDIS_REPLY_SET
    if (r && r->type == REDIS_REPLY_SET)
        return 1;
#endif
    return r && r->type == REDIS_REPLY_ARRAY;
}

static int is_string(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* Takes one element of the reply: 1 taken, 0 skipped, -1 wrong shape or out
 * of memory (err set). */
static int merge_one(rmig_cmdtable *t, const redisReply *c, size_t i, char *err, size_t errlen)
{
    if (c->type == REDIS_REPLY_NIL)
        return 0; /* COMMAND INFO of a name the server does not know */
    if (c->type != REDIS_REPLY_ARRAY || c->elements < 6) {
        errf(err, errlen, "COMMAND reply: element %zu is not an array of at least 6", i);
        return -1;
    }
    redisReply **f = c->element;
    for (int j = 0; j < 6; j++)
        if (!f[j]) {
            errf(err, errlen, "COMMAND reply: element %zu has a missing field", i);
            return -1;
        }
    if (!is_string(f[0]) || f[1]->type != REDIS_REPLY_INTEGER || !is_array(f[2]) ||
        f[3]->type != REDIS_REPLY_INTEGER || f[4]->type != REDIS_REPLY_INTEGER ||
        f[5]->type != REDIS_REPLY_INTEGER) {
        errf(err, errlen, "COMMAND reply: element %zu is not [name, arity, flags, first, last, step]", i);
        return -1;
    }
    uint32_t sflags = 0;
    int pubsub = 0;
    for (size_t j = 0; j < f[2]->elements; j++) {
        const redisReply *fl = f[2]->element[j];
        if (!is_string(fl)) {
            errf(err, errlen, "COMMAND reply: element %zu has a flag that is not a string", i);
            return -1;
        }
        const uint8_t *p = (const uint8_t *)fl->str;
        if (is_token(p, fl->len, "write"))
            sflags |= RMIG_CMD_WRITE;
        else if (is_token(p, fl->len, "admin"))
            sflags |= RMIG_CMD_ADMIN;
        else if (is_token(p, fl->len, "movablekeys"))
            sflags |= RMIG_CMD_MOVABLE;
        else if (is_token(p, fl->len, "pubsub"))
            pubsub = 1;
    }
    long long ar = f[1]->integer, first = f[3]->integer, last = f[4]->integer, step = f[5]->integer;
    if (ar < -1000000 || ar > 1000000 || first < 0 || first > 1000000 || last < -1000000 || last > 1000000 ||
        step < 0 || step > 1000000) {
        errf(err, errlen, "COMMAND reply: element %zu has an arity or key range out of bounds", i);
        return -1;
    }
    uint8_t lower[sizeof(((rmig_cmdinfo *)0)->name)];
    size_t n = f[0]->len;
    if (n == 0 || n >= sizeof lower)
        return 0;
    for (size_t j = 0; j < n; j++)
        lower[j] = fold((uint8_t)f[0]->str[j]);

    struct entry *e = lookup(t, lower, n);
    int known = e != NULL;
    if (!e && !(e = add(t, lower, n))) {
        errf(err, errlen, "COMMAND reply: out of memory");
        return -1;
    }
    rmig_cmdinfo *ci = &e->info;
    ci->arity = (int)ar;
    if (pubsub) {
        /* a channel is not a key to filter or rename, even a shard channel */
        ci->first = ci->last = ci->step = 0;
        ci->flags = (known ? ci->flags : sflags) | RMIG_CMD_NOKEY;
        ci->flags &= ~(uint32_t)(RMIG_CMD_MOVABLE | RMIG_CMD_PARTIAL);
        e->rule = R_RANGE;
        return 1;
    }
    ci->first = (int)first;
    ci->last = (int)last;
    ci->step = (int)step;
    if (!known) {
        ci->flags = sflags;
        if (sflags & RMIG_CMD_MOVABLE)
            ci->flags |= RMIG_CMD_PARTIAL;
    } else if (e->rule == R_RANGE && (sflags & RMIG_CMD_MOVABLE)) {
        /* the server moved keys where rmig has no rule for it */
        ci->flags |= RMIG_CMD_MOVABLE | RMIG_CMD_PARTIAL;
    }
    if (e->rule == R_RANGE) {
        if (first == 0 && !(ci->flags & RMIG_CMD_MOVABLE))
            ci->flags |= RMIG_CMD_NOKEY;
        else
            ci->flags &= ~(uint32_t)RMIG_CMD_NOKEY;
        ci->group = ci->flags & RMIG_CMD_SPLIT ? ci->step : 0;
    }
    return 1;
}

int rmig_cmdtable_merge(rmig_cmdtable *t, const redisReply *reply, char *err, size_t errlen)
{
    if (!is_array(reply)) {
        errf(err, errlen, "COMMAND reply: not an array");
        return -1;
    }
    int taken = 0;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *c = reply->element[i];
        if (!c) {
            errf(err, errlen, "COMMAND reply: element %zu is missing", i);
            return -1;
        }
        int r = merge_one(t, c, i, err, errlen);
        if (r < 0)
            return -1;
        taken += r;
    }
    return taken;
}

/* ---- key positions ---- */

/* A count as Redis reads one (string2ll): an optional '-', then "0" or
 * digits without a leading zero, nothing else. */
static int parse_count(const uint8_t *p, size_t n, long long *out)
{
    int neg = 0;
    if (n && p[0] == '-') {
        neg = 1;
        p++;
        n--;
    }
    if (n == 0 || n > 18 || p[0] < '0' || p[0] > '9' || (p[0] == '0' && n > 1))
        return 0;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = neg ? -v : v;
    return 1;
}

/* The positions found so far; counts past cap so the caller learns the size. */
struct found {
    uint32_t *pos;
    int cap, n;
};

static void put(struct found *k, int p)
{
    if (k->n < k->cap)
        k->pos[k->n] = (uint32_t)p;
    k->n++;
}

static int by_range(const rmig_cmdinfo *ci, int argc, struct found *k)
{
    if (ci->first <= 0)
        return 0;
    if (ci->first >= argc)
        return -1; /* only for merged commands: the built-in arities rule it out */
    int step = ci->step > 0 ? ci->step : 1;
    int last = ci->last < 0 ? argc + ci->last : ci->last;
    if (last >= argc)
        return -1;
    /* MSET k v k: a last group without its value */
    if (ci->last == -1 && step > 1 && (argc - ci->first) % step != 0)
        return -1;
    for (int j = ci->first; j <= last; j += step)
        put(k, j);
    return 0;
}

static int by_numkeys(const struct entry *e, int argc, const uint8_t *const *argv, const size_t *lens,
                      struct found *k)
{
    int at = e->at;
    long long nk;
    if (at >= argc || !parse_count(argv[at], lens[at], &nk) || nk < 0 || nk > argc - at - 1)
        return -1;
    if (nk == 0 && e->rule != R_SCRIPT)
        return -1; /* "at least 1 input key is needed" */
    if (e->rule == R_DEST_NUMKEYS)
        put(k, 1);
    for (int i = 0; i < (int)nk; i++)
        put(k, at + 1 + i);
    return 0;
}

/* XREAD [COUNT n] [BLOCK ms] STREAMS k... id..., XREADGROUP GROUP g c
 * [COUNT n] [BLOCK ms] [NOACK] STREAMS k... id... */
static int by_streams(int argc, const uint8_t *const *argv, const size_t *lens, struct found *k)
{
    int streams = -1;
    for (int i = 1; i < argc; i++) {
        const uint8_t *a = argv[i];
        size_t n = lens[i];
        if (is_token(a, n, "count") || is_token(a, n, "block"))
            i++;
        else if (is_token(a, n, "group"))
            i += 2;
        else if (is_token(a, n, "noack"))
            continue;
        else if (is_token(a, n, "streams")) {
            streams = i;
            break;
        } else
            return -1;
    }
    int rest = streams < 0 ? 0 : argc - streams - 1;
    if (rest == 0 || rest % 2)
        return -1;
    for (int i = 0; i < rest / 2; i++)
        put(k, streams + 1 + i);
    return 0;
}

/* MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS k...] */
static int by_migrate(int argc, const uint8_t *const *argv, const size_t *lens, struct found *k)
{
    for (int i = 6; i < argc; i++) {
        const uint8_t *a = argv[i];
        size_t n = lens[i];
        if (is_token(a, n, "keys")) {
            if (lens[3] > 0)
                return -1; /* a key and KEYS: Redis refuses it */
            for (int j = i + 1; j < argc; j++)
                put(k, j);
            return 0;
        }
        if (is_token(a, n, "auth"))
            i += 1;
        else if (is_token(a, n, "auth2"))
            i += 2;
    }
    put(k, 3);
    return 0;
}

/* SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC]
 * [ALPHA] [STORE destination]; the last STORE wins, as in Redis. */
static int by_sort(int argc, const uint8_t *const *argv, const size_t *lens, struct found *k)
{
    int dest = 0;
    for (int i = 2; i < argc; i++) {
        const uint8_t *a = argv[i];
        size_t n = lens[i];
        int skip = 0;
        if (is_token(a, n, "limit"))
            skip = 2;
        else if (is_token(a, n, "by") || is_token(a, n, "get"))
            skip = 1;
        else if (is_token(a, n, "store")) {
            skip = 1;
            dest = i + 1;
        }
        if (i + skip >= argc)
            return -1;
        i += skip;
    }
    put(k, 1);
    if (dest)
        put(k, dest);
    return 0;
}

/* GEORADIUS key lon lat radius unit [...] [STORE key] [STOREDIST key]:
 * every destination given, as COMMAND GETKEYS answers, although the command
 * itself only writes to the last one. */
static int by_georadius(const struct entry *e, int argc, const uint8_t *const *argv, const size_t *lens,
                        struct found *k)
{
    put(k, 1);
    for (int i = e->at; i < argc; i++) {
        if (is_token(argv[i], lens[i], "store") || is_token(argv[i], lens[i], "storedist")) {
            if (i + 1 >= argc)
                return -1;
            put(k, ++i);
        }
    }
    return 0;
}

static int by_subcommand(const struct entry *e, int argc, const uint8_t *const *argv, const size_t *lens,
                         struct found *k)
{
    if (argc < 2)
        return -1;
    for (size_t i = 0; i < sizeof keyed_subs / sizeof keyed_subs[0]; i++) {
        const struct keyed_sub *s = &keyed_subs[i];
        if (s->container != e->at || !is_token(argv[1], lens[1], s->name))
            continue;
        if (s->arity > 0 ? argc != s->arity : argc < -s->arity)
            return -1;
        put(k, 2);
        return 0;
    }
    return 0; /* HELP, XGROUP's unknown subcommands, MEMORY STATS ...: no key */
}

int rmig_cmdtable_keys(const rmig_cmdtable *t, const rmig_cmdinfo *ci, int argc, const uint8_t *const *argv,
                       const size_t *lens, uint32_t *pos, int cap)
{
    (void)t; /* the rules live in the entry; t is kept for what may need the table */
    const struct entry *e = (const struct entry *)ci;
    if (argc < 1 || (ci->arity > 0 ? argc != ci->arity : argc < -ci->arity))
        return -1;
    struct found k = {pos, cap < 0 ? 0 : cap, 0};
    int r;
    switch (e->rule) {
    case R_SCRIPT:
    case R_NUMKEYS:
    case R_DEST_NUMKEYS: r = by_numkeys(e, argc, argv, lens, &k); break;
    case R_STREAMS: r = by_streams(argc, argv, lens, &k); break;
    case R_MIGRATE: r = by_migrate(argc, argv, lens, &k); break;
    case R_SORT: r = by_sort(argc, argv, lens, &k); break;
    case R_GEORADIUS: r = by_georadius(e, argc, argv, lens, &k); break;
    case R_SUBCMD: r = by_subcommand(e, argc, argv, lens, &k); break;
    default: r = by_range(ci, argc, &k); break;
    }
    return r < 0 ? -1 : k.n;
}
