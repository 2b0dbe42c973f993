/* cmdtable.h - the Redis command table: for each command a master can
 * propagate to its replicas (and the read-only ones a client may send), its
 * arity, where its key arguments are, and what kind of command it is. Key
 * filters, renames and cluster slot routing run on live commands through it.
 *
 * The built-in table covers Redis 7.2 (and the hash field expiration
 * commands of 7.4). A server's own `COMMAND` reply can be merged in, so that
 * module commands and commands of newer versions are known too. Positions
 * are found without I/O and without allocating: argv in, indexes out. */
#ifndef RMIG_CMDTABLE_H
#define RMIG_CMDTABLE_H

#include <stddef.h>
#include <stdint.h>

struct redisReply;

typedef struct rmig_cmdtable rmig_cmdtable;

enum rmig_cmd_flag {
    RMIG_CMD_WRITE = 1,    /* changes data (EVAL, EVALSHA and FCALL count as writes) */
    RMIG_CMD_MOVABLE = 2,  /* key positions depend on the arguments (numkeys, STREAMS, KEYS, STORE,
                              a subcommand): first/last/step do not describe them */
    RMIG_CMD_SPLIT = 4,    /* may be split into one command per key group (of `group` arguments)
                              without changing what it does to the data: DEL, UNLINK, EXISTS, TOUCH
                              (groups of 1), MSET (groups of 2); not MSETNX, which is all-or-nothing */
    RMIG_CMD_ADMIN = 8,    /* server-wide: FLUSHALL, FLUSHDB, SWAPDB, SCRIPT, FUNCTION, CONFIG, ... */
    RMIG_CMD_NOKEY = 16,   /* no key arguments at all (PING, SELECT, MULTI, EXEC, PUBLISH, FLUSHALL,
                              and the shard channel commands: a channel is not a key to filter) */
    RMIG_CMD_PARTIAL = 32, /* movable, and rmig knows no rule for it (a module command taken from a
                              server): the positions given are only the server's first/last/step
                              and may miss keys */
    RMIG_CMD_TX_MARK = 0x40000000, /* an entry's flag: the source's own MULTI or EXEC (run_live.c) */
};

typedef struct rmig_cmdinfo {
    char name[32];         /* lower case */
    int arity;             /* Redis' convention: N exact, -N at least N (argv[0] counts) */
    int first, last, step; /* the legacy key range; last < 0 counts from the end (-1: the last
                              argument); first 0: none (or movable) */
    uint32_t flags;        /* enum rmig_cmd_flag */
    int group;             /* for RMIG_CMD_SPLIT: arguments per key group (1 or 2), else 0 */
} rmig_cmdinfo;

/* The built-in table; NULL when out of memory. Freed with rmig_cmdtable_free
 * (NULL is fine). */
rmig_cmdtable *rmig_cmdtable_new(void);
void rmig_cmdtable_free(rmig_cmdtable *t);

/* Merges a `COMMAND` or `COMMAND INFO ...` reply (hiredis' redisReply, owned
 * by the caller): an array whose elements are arrays [name, arity, flags,
 * first, last, step, ...]; what Redis 7 adds after step (ACL categories,
 * tips, key specs, subcommands) is ignored, and so are nil elements (COMMAND
 * INFO of an unknown name) and names of 32 bytes or more.
 *
 * A command the table does not know is added with the server's facts (its
 * "write", "admin" and "movablekeys" flags; a movable one is PARTIAL). A
 * known one takes the server's arity and first/last/step, keeping rmig's own
 * rules for movable, split and admin commands. Commands the server flags
 * "pubsub" keep no keys (SPUBLISH's channel is not a key here).
 *
 * Returns how many commands were taken, or -1 with a message in err for a
 * reply of the wrong shape (the table may then hold the elements before the
 * bad one), or when out of memory. Merging may move entries: pointers from
 * rmig_cmdtable_find are valid until the next merge. */
int rmig_cmdtable_merge(rmig_cmdtable *t, const struct redisReply *reply, char *err, size_t errlen);

/* The command named argv[0] (n bytes, any case); NULL when unknown. A hash
 * lookup: it runs for every command of a live stream. */
const rmig_cmdinfo *rmig_cmdtable_find(const rmig_cmdtable *t, const uint8_t *name, size_t n);

/* The positions (indexes into argv, in argument order) of the keys of a
 * command found in this same table. Writes at most cap of them to pos and
 * returns how many there are, which may be more than cap (call again with
 * more room); 0 for a command without keys. -1 when the arguments do not fit
 * the command, so that its keys cannot be told: a count that does not match
 * its arity (or its subcommand's), a numkeys that is not a number, negative,
 * 0 where the command needs keys, or larger than the arguments; XREAD without
 * STREAMS or with an odd number of arguments after it; MSET with a key and
 * no value; a STORE without its destination; MIGRATE with both a key and
 * KEYS.
 *
 * Movable commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, FCALL, FCALL_RO
 * (numkeys at 2, may be 0); ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE (destination
 * 1, numkeys 2); ZUNION, ZINTER, ZDIFF, ZINTERCARD, SINTERCARD, LMPOP, ZMPOP
 * (numkeys 1); BLMPOP, BZMPOP (numkeys 2); XREAD, XREADGROUP (the first half
 * of what follows STREAMS); MIGRATE (3, or what follows KEYS when 3 is
 * empty); SORT, SORT_RO (1 and the destination of the last STORE, the one
 * SORT writes; BY and GET patterns are not keys); GEORADIUS,
 * GEORADIUSBYMEMBER (1 and every STORE or STOREDIST destination, as COMMAND
 * GETKEYS answers, though only the last is written). Containers: the key is
 * at 2 for XGROUP CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER; XINFO
 * CONSUMERS, GROUPS, STREAM; OBJECT ENCODING, FREQ, IDLETIME, REFCOUNT;
 * MEMORY USAGE; other subcommands have none. Tokens are compared without
 * regard to case. The pointer ci must come from rmig_cmdtable_find on t. */
int rmig_cmdtable_keys(const rmig_cmdtable *t, const rmig_cmdinfo *ci, int argc, const uint8_t *const *argv,
                       const size_t *lens, uint32_t *pos, int cap);

/* How many commands the table knows. */
size_t rmig_cmdtable_count(const rmig_cmdtable *t);

#endif
