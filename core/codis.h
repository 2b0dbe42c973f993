/* codis.h - Codis 3.x: where a key lives (codis.c: the slot rule and a
 * topology of groups and slots read from codis-admin's JSON or a short
 * YAML), and what a codis-server's replication stream means to a plain
 * Redis (codis_cmd.c: SLOTSRESTORE, SLOTSRESTORE-ASYNC and the other
 * Codis-only commands translated into RESTORE, DEL, PEXPIRE, RPUSH, ...,
 * or dropped with a reason). A Codis source reads one stream per group
 * master and translates it; a Codis sink writes straight to the group
 * masters by the slot rule. Nothing here does I/O but
 * rmig_codis_topo_load(), which reads the files and hands them to the
 * parser. */
#ifndef RMIG_CODIS_H
#define RMIG_CODIS_H

#include "arena.h"
#include "batch.h"

#include <stddef.h>
#include <stdint.h>

enum {
    RMIG_CODIS_SLOTS = 1024, /* Codis's MaxSlotNum (pkg/models/slots.go), HASH_SLOTS_SIZE in codis-server */
    RMIG_CODIS_MAX_GROUP = 9999 /* Codis's MaxGroupId (pkg/models/group.go); group ids are 1..9999 */
};

/* ---- the slot rule (codis.c) ---- */

/* CRC-32/IEEE (zlib's crc32, Go's crc32.ChecksumIEEE) of p[0..n). */
uint32_t rmig_codis_crc32(const void *p, size_t n);

/* The bytes Codis hashes for a key: between the first '{' and the first
 * '}' after it when there is such a '}' (possibly nothing: "{}" is a tag
 * whose content is empty), else the whole key. */
void rmig_codis_tag(const void *key, size_t len, const uint8_t **part, size_t *partlen);

/* The Codis slot of a key: crc32(tag or key) % 1024. The proxy
 * (pkg/proxy/mapper.go, Hash) and codis-server (slots.c, slots_num)
 * compute the same: an empty tag hashes the empty string, so every key
 * with "{}" before any other '}' is in slot 0. */
unsigned rmig_codis_slot(const void *key, size_t len);

/* ---- a topology: groups and the slot table (codis.c) ---- */

typedef struct rmig_codis_group {
    int id;         /* Codis group id, 1..9999 */
    char *addr;     /* the master as written, "host:port" (the first server of the group) */
    char *host;     /* without brackets for an IPv6 address */
    int port;       /* 1..65535 */
    char *password; /* NULL when none; never printed */
    char *where;    /* "FILE:LINE" where the group's master is given, for messages */
} rmig_codis_group;

/* Internal: where each slot was assigned, for messages. */
typedef struct rmig__codis_slot_src {
    uint32_t line; /* 0: not assigned */
    uint16_t file; /* index into rmig_codis_topo.files */
} rmig__codis_slot_src;

typedef struct rmig_codis_topo {
    rmig_codis_group *groups; /* sorted by id */
    size_t ngroups;
    /* For each slot, the index in groups of the group the proxy sends its
     * keys to (during a migration: the target), -1 when unassigned (only
     * before rmig_codis_topo_finish succeeds). */
    int16_t slot[RMIG_CODIS_SLOTS];
    /* During a Codis slot migration (action prepared or migrating), the
     * index of the group the slot is leaving; -1 otherwise. */
    int16_t from[RMIG_CODIS_SLOTS];
    /* internal: slot ids (not indexes) and sources while files are added */
    int slot_gid[RMIG_CODIS_SLOTS], from_gid[RMIG_CODIS_SLOTS];
    rmig__codis_slot_src src[RMIG_CODIS_SLOTS];
    char **files; /* the names given to rmig_codis_topo_add, in order */
    size_t nfiles;
    char *password; /* the default for groups without one: password: or password_env: at the top of
                       a YAML file (once for all the files) */
    int finished;
} rmig_codis_topo;

/* An empty topology. The caller owns it and frees it with
 * rmig_codis_topo_free(), whatever the calls in between returned. */
void rmig_codis_topo_init(rmig_codis_topo *t);
void rmig_codis_topo_free(rmig_codis_topo *t);

/* Adds what one file says (text[0..len), named name in messages); several
 * files may each give a part: groups in one, slots in another. A file is
 * YAML, so JSON is read too. It is one of:
 *   - a mapping with groups: and/or slots: (and optionally password: or
 *     password_env: for every group), where
 *       groups: maps ids to masters, 1: "10.0.0.1:6379", or to
 *               { master: "host:port", password: "...", password_env: VAR };
 *               or is the list `codis-admin --dashboard=ADDR --list-group`
 *               prints (the first of a group's "servers" is its master);
 *       slots:  maps slots or ranges to group ids, "0-511": 1, 512: 2; or
 *               is the list `codis-admin ... --slots-status` prints
 *               ({"id", "backend_addr", "backend_addr_group_id",
 *               "migrate_from_group_id", ...}: it also gives each group's
 *               master) or the slot mappings of `codis-admin ... slots`
 *               ({"id", "group_id", "action": {"state", "target_id"}});
 *   - one of those lists alone;
 *   - what `codis-admin --dashboard=ADDR stats` prints (its "slots" and
 *     "group": {"models"}), or the overview without a subcommand ("stats").
 * A slot is where the proxy sends its keys: during a migration (action
 * prepared or migrating) the target group, the group it leaves in from[].
 * 0, or -1 with err as "FILE:LINE: what is wrong" (a slot out of range or
 * given twice, a group id out of range, given twice with two masters, a
 * group with no master, an offline slot, a password_env naming an unset
 * variable). Passwords never appear in messages. */
int rmig_codis_topo_add(rmig_codis_topo *t, const char *name, const void *text, size_t len, char *err,
                        size_t errlen);
/* Checks the whole: every slot has a group, every group a slot names is
 * defined. 0, or -1 with err naming the file and line of a slot whose group
 * is unknown, or the slots no file assigns. */
int rmig_codis_topo_finish(rmig_codis_topo *t, char *err, size_t errlen);

/* The number of slots under migration in t, the first of them in *slot
 * (when any). */
int rmig_codis_topo_migrating(const rmig_codis_topo *t, int *slot);

/* init + add (each file read whole) + finish. */
int rmig_codis_topo_load(rmig_codis_topo *t, const char *const *paths, size_t npaths, char *err,
                         size_t errlen);
/* init + add + finish on text already in memory. */
int rmig_codis_topo_parse(rmig_codis_topo *t, const char *name, const void *text, size_t len, char *err,
                          size_t errlen);

/* The index in t->groups of the group the proxy sends the key to. The
 * topology must be finished; a finished one is only read, so threads may
 * route through it at once. */
int rmig_codis_route(const rmig_codis_topo *t, const void *key, size_t len);

/* The index in t->groups of group id, or -1. */
int rmig_codis_group_index(const rmig_codis_topo *t, int id);

/* ---- a codis-server's replication stream (codis_cmd.c) ---- */

/* What a command of the stream is. */
typedef enum rmig_codis_form {
    RMIG_CODIS_F_NONE,         /* not a Codis command: it goes on as it is */
    RMIG_CODIS_F_SLOTSRESTORE, /* SLOTSRESTORE key ttl payload [key ttl payload ...] */
    RMIG_CODIS_F_ASYNC_DELETE, /* SLOTSRESTORE-ASYNC delete key */
    RMIG_CODIS_F_ASYNC_EXPIRE, /* ... expire key ttl */
    RMIG_CODIS_F_ASYNC_STRING, /* ... string key ttl value */
    RMIG_CODIS_F_ASYNC_OBJECT, /* ... object key ttl payload */
    RMIG_CODIS_F_ASYNC_LIST,   /* ... list key ttl hint [elem ...] */
    RMIG_CODIS_F_ASYNC_HASH,   /* ... hash key ttl hint [field value ...] */
    RMIG_CODIS_F_ASYNC_DICT,   /* ... dict key ttl hint [member ...] */
    RMIG_CODIS_F_ASYNC_ZSET,   /* ... zset key ttl hint [member score-bits ...] */
    RMIG_CODIS_F_ASYNC_BAD,    /* SLOTSRESTORE-ASYNC with no or an unknown subcommand (malformed) */
    RMIG_CODIS_F_ASYNC_SELECT, /* SLOTSRESTORE-ASYNC-SELECT db (and early 3.2's SLOTSRESTORE-ASYNC select db)
                                */
    RMIG_CODIS_F_ASYNC_AUTH,   /* SLOTSRESTORE-ASYNC-AUTH password */
    RMIG_CODIS_F_ASYNC_ACK,    /* SLOTSRESTORE-ASYNC-ACK errno message */
    RMIG_CODIS_F_EXEC_WRAPPER, /* SLOTSMGRT-EXEC-WRAPPER hashkey command [arg ...] */
    RMIG_CODIS_F_MIGRATE,      /* SLOTSMGRT{SLOT,ONE,TAGSLOT,TAGONE}[-ASYNC], the -ASYNC-DUMP, -FENCE,
                                  -CANCEL, -STATUS commands */
    RMIG_CODIS_F_SLOTSDEL,     /* SLOTSDEL slot [slot ...] */
    RMIG_CODIS_F_READONLY,     /* SLOTSHASHKEY, SLOTSINFO, SLOTSSCAN, SLOTSCHECK */
    RMIG_CODIS_NFORMS
} rmig_codis_form;

/* What became of a command. */
typedef enum rmig_codis_outcome {
    RMIG_CODIS_TRANSLATED,   /* into one or more plain commands */
    RMIG_CODIS_CONTROL,      /* dropped: it changes no data on a replica (migration control, reads) */
    RMIG_CODIS_UNREPLAYABLE, /* dropped: it changed data in a way rmig cannot repeat (SLOTSDEL);
                                the target may now differ: report it */
    RMIG_CODIS_MALFORMED,    /* refused: codis-server would have refused it too, so it cannot be
                                in a real stream (wrong count, bad TTL, bad score, ...) */
    RMIG_CODIS_NOUTCOMES
} rmig_codis_outcome;

/* How chunks (list/hash/dict/zset) of a key rmig has not seen being
 * rebuilt are taken. */
typedef enum rmig_codis_chunks {
    /* As a codis-server replica takes them: appended to whatever the key
     * holds. codis-server sends "delete key" before an object's first chunk
     * and replicates it whenever the key existed, so on a target that holds
     * what the codis-server holds this is exact, also when the stream starts
     * (after a snapshot) in the middle of an object. The default. */
    RMIG_CODIS_CHUNKS_APPEND,
    /* The first chunk of a key that is not being rebuilt replaces the key
     * (DEL before it); later chunks append until its closing "expire", its
     * string/object form, or a "delete". For a target that may hold another
     * copy of the key (several groups written into one target, a replay
     * after a restart). Wrong for an object whose first chunks came in a
     * snapshot taken in the middle of its migration: those are deleted. */
    RMIG_CODIS_CHUNKS_REPLACE_FIRST
} rmig_codis_chunks;

/* One rebuild in progress (CHUNKS_REPLACE_FIRST). */
typedef struct rmig__codis_rebuild {
    uint64_t db;
    uint8_t *key;
    size_t len;
} rmig__codis_rebuild;

/* A translator: its output (the commands of the last translations), the
 * state of the rebuilds it follows, and counters. Output arguments are
 * slices of the input (keys, values, payloads), of static text (command
 * names) or of the translator's own blocks (numbers it formats), valid
 * until rmig_codis_xlate_reset() or _free() and as long as the input is. */
typedef struct rmig_codis_xlate {
    rmig_codis_chunks chunks;
    /* output: command i has argc[i] arguments from argv[start[i]] */
    rmig_slice *argv;
    uint32_t nargv, capargv;
    uint32_t *start, *argc;
    uint32_t ncmds, capcmds;
    rmig_arena block; /* the bytes it formats */
    /* the last command translated */
    rmig_codis_form form;
    rmig_codis_outcome outcome;
    /* counters since init: commands seen per form, and per outcome */
    uint64_t forms[RMIG_CODIS_NFORMS];
    uint64_t outcomes[RMIG_CODIS_NOUTCOMES];
    uint64_t rebuild_evicted; /* rebuilds forgotten because too many were open (see codis_cmd.c) */
    rmig__codis_rebuild *rebuilds;
    uint32_t nrebuilds, caprebuilds;
} rmig_codis_xlate;

void rmig_codis_xlate_init(rmig_codis_xlate *x, rmig_codis_chunks chunks);
void rmig_codis_xlate_free(rmig_codis_xlate *x);
/* Empties the output (keeps the rebuilds and counters). */
void rmig_codis_xlate_reset(rmig_codis_xlate *x);

/* 1 when a command of this name (any case) must go through
 * rmig_codis_translate (a Codis-only command), else 0. */
int rmig_codis_is_cmd(const void *name, size_t len);

/* The form of a command (RMIG_CODIS_F_NONE for a plain one). */
rmig_codis_form rmig_codis_form_of(const rmig_slice *argv, uint32_t argc);

/* Translates one command of a codis-server's replication stream, run in db
 * db, appending the plain commands it becomes to x's output. Returns how
 * many were appended (x->outcome TRANSLATED); 0 when the command is dropped
 * (x->outcome CONTROL or UNREPLAYABLE, why says what it was and why it goes
 * no further); -1 when it is malformed (why says what is wrong; nothing is
 * appended) or out of memory. A plain command (F_NONE) is appended as it
 * is. A SELECT among the output changes the stream's db, as a SELECT in the
 * stream does. Pure: no I/O; keys and values are not copied. */
int rmig_codis_translate(rmig_codis_xlate *x, uint64_t db, const rmig_slice *argv, uint32_t argc, char *why,
                         size_t whylen);

/* Command i of the output: its arguments, *argc of them. */
const rmig_slice *rmig_codis_xlate_cmd(const rmig_codis_xlate *x, uint32_t i, uint32_t *argc);

/* Names for messages and counters: "slotsrestore", "async-list", ...;
 * "translated", "control", ... */
const char *rmig_codis_form_name(rmig_codis_form f);
const char *rmig_codis_outcome_name(rmig_codis_outcome o);

#endif
