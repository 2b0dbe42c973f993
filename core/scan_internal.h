/* scan_internal.h - what the parts of rmig.source.scan share: the source
 * (every server read: one, or each master of a cluster), the reads in
 * flight on each server's connection, the keys its keyspace notifications
 * named (scan_tail.c) and the key being copied in chunks (scan_big.c). */
#ifndef RMIG_SCAN_INTERNAL_H
#define RMIG_SCAN_INTERNAL_H

#include "run_internal.h"

/* Command tags on a server's data connection: the kind in the low byte,
 * flags above it, a big key's copy number in bits 16-23 (a late reply of
 * an abandoned copy is not taken for the next one's), and the db the
 * command ran in from bit 24 on (a reply says which db its key is of
 * without a table of what was sent). */
enum {
    T_SCAN = 1, T_SIZE, T_DUMP, T_PTTL,          /* the scan and the reads of single keys */
    T_BTYPE, T_BPTTL, T_BCHUNK, T_BXINFO, T_BXGROUPS, T_BEND, T_BLEN, /* a key copied in chunks */
    T_PROBE, T_ASKING,                         /* live: the notification probe; ASKING before a read an ASK sent on */
};
#define T_KIND(t) ((int)((t) & 0xff))
#define T_TAIL 0x100u /* a read of a notified key (or one sent on by a redirection): gone means DEL */
#define T_WHOLE 0x200u /* a read by one DUMP, whatever the key's size (rmig verify: a stream) */
#define T_GEN(t) ((unsigned)(((t) >> 16) & 0xff))
#define T_DB(t) ((uint64_t)(t) >> 24)
#define T_MAKE(kind, flags, db) ((uint64_t)(kind) | (uint64_t)(flags) | ((uint64_t)(db) << 24))

#define MAX_DBS 1024
#define SCAN_INFLIGHT 4 /* SCAN pages (with their reads) waiting at most, per server */

/* A key waiting to be read again (a notification named it), in a queue
 * that holds each key once. */
typedef struct tkey {
    struct tkey *next;   /* queue order */
    struct tkey *hnext;  /* hash chain */
    uint64_t db;
    uint32_t len;
    uint32_t hash;
    unsigned flags;      /* the big-key queue: T_TAIL */
    char key[];
} tkey;

/* A key copied in chunks: one at a time per server. */
typedef struct bigkey {
    uint64_t db;
    char *key;
    size_t len;
    unsigned flags;      /* T_TAIL */
    int type;            /* 0 until TYPE answered: 's' string, 'l' list, 'h' hash, 'S' set, 'z' zset, 'x' stream */
    int64_t pttl;
    char cursor[64];     /* HSCAN/SSCAN/ZSCAN cursor, XRANGE start */
    uint64_t pos;        /* GETRANGE / LRANGE position */
    uint64_t entries;    /* stream entries copied */
    int again;           /* a notification named it while it was copied: copy it again after */
    int active;
    unsigned gen;        /* copy number (low 8 bits go in the tags) */
    /* where the copy goes, after the pipeline's nodes (renamed, another db
     * or expiry): the target's key, db and absolute expiry (-1 none) */
    char *tkey;
    size_t tlen;
    uint64_t tdb;
    int64_t texpire;
    uint64_t reconnects; /* the target's reconnections when the copy began */
    struct vexp *vx;     /* rmig verify: the key's expected state, its pieces digested instead of copied */
} bigkey;

typedef struct snode {
    runner *r;
    struct rmig_scan *s;
    int idx;
    rmig_redis *c;           /* reads */
    rmig_redis *sub;         /* live: keyspace notifications */
    char host[256];
    int port;
    uint64_t dbs[MAX_DBS];
    int ndb, dbi;            /* the db being scanned: dbs[dbi] */
    char cursor[64];
    int scanning, db_done, scan_done;
    int ready, sub_ready, memory_ok;
    int probe_needed, probe_sent, probe_seen; /* live, CONFIG refused: a key written to see a notification come */
    uint64_t probe_ms;
    char probe[64];          /* its keys' names start so (never copied) */
    unsigned probe_seen_classes; /* notification classes the probe met (bits of need_classes) */
    int probe_step;
    char notify_orig[64];    /* live: notify-keyspace-events before rmig changed it ("" none) */
    int notify_changed;
    uint64_t outstanding;    /* reads sent (SIZE, DUMP+PTTL pairs), not answered */
    /* the DUMP waiting for its PTTL */
    char *held;
    size_t held_len, held_cap;
    int held_ok;             /* 1 a payload, 0 nil (gone), -1 redirected, -2 refused (held_err) */
    char held_err[208];
    /* notified keys to read again */
    tkey *tq_head, *tq_tail, **th;
    size_t tq_len, th_cap, tq_bytes;
    /* keys copied in chunks */
    bigkey big;
    tkey *bq_head, *bq_tail; /* waiting big keys (db, name, flags in hash) */
    uint64_t scanned, vanished, rounds, notified, reread, deleted, chunked, chunk_cmds;
    uint64_t moved;          /* reads redirected (MOVED, ASK) and sent on to the key's new master */
    uint64_t unfollowed;     /* redirected to a master rmig does not read */
    uint64_t keys_total;     /* INFO keyspace at the start, in the dbs read */
} snode;

struct rmig_scan {
    snode **nodes;
    int nn;
    const char *user, *password, *match, *state, *notify;
    rmig_tls_opts tls, *tlsp;
    uint64_t dbs[MAX_DBS];
    int ndb, dbs_listed;
    long count;
    double rate;                /* keys/s per server, 0: no limit */
    int live;
    uint64_t big_bytes;
    uint64_t start_ms, last_save_ms, scan_end_ms;
    int scan_over;              /* every server's scan is done */
    int stopping;               /* SIGINT/SIGTERM: finish what was read, save, end */
    int saving;                 /* waiting for everything in flight to be answered to save the cursors */
    int resumed;
    int cluster;                /* the masters of a cluster: the topology is checked every 10 s */
    uint64_t last_status_ms, last_read, last_topology_ms;
    double read_rate;
    uv_signal_t sigint, sigterm;
    uv_timer_t tick;
    int handles;
};

/* run_scan.c */
uint64_t rmig__scan_ms(void);
void rmig__scan_fail(runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reads key (db) on n: MEMORY USAGE first when big keys are looked for,
 * then DUMP + PTTL or a copy in chunks. flags: T_TAIL. */
void rmig__scan_read(snode *n, uint64_t db, const char *key, size_t len, unsigned flags);
/* A command entry for the batch (its arguments copied), its key at
 * argument key_at: DEL, RPUSH ... (1), XGROUP CREATE (2). 0, or -1 with
 * r->err. */
int rmig__scan_emit(runner *r, uint64_t db, uint32_t argc, const char *const *argv, const size_t *lens, uint32_t key_at);
/* A command of a big key's copy straight to the target (the nodes saw the
 * key already), after what the batch holds. 0, or -1 with r->err. */
int rmig__scan_write(runner *r, uint64_t db, uint32_t argc, const char *const *argv, const size_t *lens,
                     uint32_t key_at);
/* A read answered MOVED or ASK (err): sent on to the master named, when
 * rmig reads it (else counted as unfollowed). 1 when err was such a
 * redirection, 0 when not. */
int rmig__scan_redirect(snode *n, uint64_t db, const char *key, size_t len, unsigned flags, const char *err,
                        size_t errlen);
/* 1 when key is one of the notification probe's keys. */
int rmig__scan_is_probe(const snode *n, const char *key, size_t len);
/* The i-th argument (0-based) of the command being answered on c. */
const char *rmig__scan_arg(rmig_redis *c, int i, size_t *len);

/* scan_tail.c: live. open checks (or sets) the notification settings;
 * start subscribes; ready says the subscription (and the probe, when the
 * settings could not be read) is confirmed, so the scan may start; next
 * gives the next key to read again (NULL: none; free it); check_probe
 * sends the probe and times it out; close ends the subscription (queued
 * keys stay); restore puts the settings back. */
int rmig__tail_open(rmig_scan *s, snode *n, char *err, size_t errlen);
int rmig__tail_start(snode *n);
tkey *rmig__tail_next(snode *n);
int rmig__tail_ready(const snode *n);
void rmig__tail_probe_seen(snode *n, const char *event, size_t len);
void rmig__tail_check_probe(snode *n);
void rmig__tail_restore(snode *n);
void rmig__tail_close(snode *n);
/* A key (db, name) in a queue node of its own (malloc'd). */
tkey *rmig__tkey_new(uint64_t db, const char *key, size_t len);

/* scan_big.c: a key too big for one DUMP, copied in chunks. queue takes a
 * key (after its MEMORY USAGE); busy says whether a key is being copied (a
 * read of it must wait); pump starts the next one; reply takes the answers
 * of its commands. */
void rmig__big_queue(snode *n, uint64_t db, const char *key, size_t len, unsigned flags);
int rmig__big_busy(snode *n, uint64_t db, const char *key, size_t len);
void rmig__big_pump(snode *n);
void rmig__big_reply(snode *n, uint64_t tag, const redisReply *rep);
int rmig__big_idle(const snode *n);
void rmig__big_free(snode *n);

#endif
