/* run_internal.h - what the parts of `rmig run` share: the runner's state
 * (run.c: reading, replies, the command; run_big.c: values too big to hold). */
#ifndef RMIG_RUN_INTERNAL_H
#define RMIG_RUN_INTERNAL_H

#include "batch.h"
#include "chunked.h"
#include "dump.h"
#include "input.h"
#include "progress.h"
#include "rdb.h"
#include "redis_conn.h"
#include "steps.h"
#include "vm.h"

#include <lua.h>

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#define BATCH_KEYS 1024
#define BATCH_BYTES ((size_t)8 << 20)
#define CHUNK ((size_t)1 << 20)
#define TAG_FUNCTION (UINT64_MAX - 2)
#define TAG_ASKING (UINT64_MAX - 8) /* cluster: the ASKING before a command an ASK sent on (redis_conn.c keeps -4..0) */
#define BIG_SLICE ((size_t)64 << 10)
#define MAX_SHOWN 20
/* Strings up to this size go as SET: Redis keeps them in one allocation
 * (embstr) and SET costs it less than RESTORE; longer ones cost it more
 * (dataset b: 3.4 us a SET against about 2.6 us a RESTORE) */
#define SET_MAX 44

typedef struct keyrec {
    uint64_t db;
    char key[80];          /* the key; for a command, its name and first key */
    uint32_t key_len;
    int unit;              /* one of a key's native commands: counted per key */
    int cmd;               /* a command of a live stream: any reply but an error is fine (1); with
                              exactly_once the EXEC of a batch (2), rmig's MULTI and checkpoint (3) */
    /* live sources: once this is answered, the stream is applied up to
     * offset (> 0), where the source's db was sdb */
    int64_t offset;
    uint64_t sdb;
    uint64_t epoch;        /* live sources: the stretch of the stream it belongs to (run.c) */
    int tx;                /* cluster sink: a command of one of the source's MULTI/EXEC blocks */
    uint64_t retry_since;  /* cluster sink: when it was first refused with TRYAGAIN, CLUSTERDOWN ... (ms) */
    void *vx;              /* rmig verify: what the key should be (verify.c) */
    int vpart;             /* rmig verify: which read of it this is */
} keyrec;

typedef struct rmig_live rmig_live;
typedef struct rmig_clus rmig_clus;
typedef struct rmig_scan rmig_scan;
typedef struct rmig_verify rmig_verify;
struct runner;

/* One connection to the target (every master of a cluster has one) and the
 * records of its commands in flight, in sending order: a queue, not a
 * table indexed by tag, because a batch or a big key may overshoot the
 * window. */
typedef struct wconn {
    struct runner *r;
    rmig_redis *c;
    char host[256];
    int port;
    int ready;
    int master;            /* cluster: serves slots in the current map */
    int retrying;          /* cluster: the connection was lost and is being opened again */
    int unit_failed;       /* native mode: the key being answered met an error */
    keyrec *recs;
    size_t rec_head, rec_len, rec_cap;
    /* cluster sink (run_cluster.c): a redirection was met, so no new
     * command goes anywhere until this connection's earlier ones are
     * answered (they may be redirected too, and must stay in order) */
    int draining;
    /* the records of the unit being answered, and where it was sent on to */
    keyrec *ur;
    size_t ur_len, ur_cap;
    int ur_redir;
    unsigned ur_slot;
    char ur_to[300];
} wconn;

/* A stretch of a live stream: the records written in it, and the offset
 * the stream is applied up to once they are all answered (run.c). */
typedef struct epoch {
    int src;               /* the source (runner.lvs) the offset is of */
    int64_t off;
    uint64_t sdb;
    uint64_t left;
} epoch;


/* Where keys of source dbs other than 0 go, for a target with one keyspace
 * (a cluster, a pool, Codis): sink.dbs "error" (the run stops, exit 2),
 * "merge" or "prefix" (db_prefix before each key); to_db is the db they are
 * written in (a pool's redis_db); what says why, in the error. */
enum { DBS_ERROR, DBS_MERGE, DBS_PREFIX };
typedef struct rmig_dbmap {
    int dbs;
    const char *db_prefix, *what;
    uint64_t to_db, merged, prefixed;
} rmig_dbmap;

/* A server of a farm read as one source (twem_source.c, codis_source.c). */
typedef struct rmig_farm_server {
    char host[256];
    int port;
    const char *password; /* NULL: the source's password option */
} rmig_farm_server;

typedef struct runner {
    uv_loop_t loop;
    uv_idle_t idle;
    rmig_vm *vm;
    rmig_steps *steps;
    rmig_redis *c;         /* the connection being written: cw's */
    wconn *cw;
    wconn w0;              /* rmig.sink.redis: the one connection */
    rmig_clus *clus;       /* rmig.sink.cluster: the masters' connections (run_cluster.c) */
    rmig_scan *scan;       /* rmig.source.scan: the source's connection and cursors (run_scan.c) */
    /* rmig.source.twemproxy: its nutcracker.yml and pool, whose backends
     * the psync or scan source reads (twem_source.c) */
    struct rmig_twem_conf *twem_conf;
    struct rmig_twem_pool *twem;
    /* a farm read as one source (a Twemproxy pool's backends, a Codis
     * deployment's group masters): its name in messages, the servers the
     * psync or scan source reads, what they are called, the one db a scan
     * reads (-1: every db); codis: their streams carry Codis's own commands
     * (codis_source.c) */
    char farm_label[600];
    rmig_farm_server *farm;
    size_t nfarm;
    const char *farm_what;
    int farm_db;
    int codis;
    struct rmig_codis_topo *codis_topo;
    struct rmig_codis_topo *codis_sink;    /* rmig.sink.codis's topology */
    struct rmig_twem_conf *twem_sink_conf; /* rmig.sink.twemproxy's file */
    char sink_label[300];                  /* a pool's or Codis's target in messages (or the proxy's address) */
    rmig_dbmap *proxy_dbm;                 /* a sink through a proxy (Twemproxy, Codis): its dbs (no SELECT there) */
    int slotsrestore;                      /* through a codis-proxy: SLOTSRESTORE for RESTORE (it refuses RESTORE) */
    uint64_t tx_unwrapped;                 /* the source's MULTIs a proxy sink sent command by command */
    rmig_verify *vf;       /* rmig verify: entries are compared with the target, not written (verify.c) */
    /* rmig run --verify (or the pipeline's verify = true): rmig verify
     * after a batch run, or started beside a live one once it caught up */
    int verify_after, verify_spawned;
    uv_process_t vproc;
    const char *pipeline_path;
    const char *const *ovr;
    int nover;
    int ready, failed, eof, idle_on, native, mode_replace, skip_existing;
    int optimistic;        /* replace mode into an empty target: RESTORE without REPLACE,
                              re-sent with REPLACE on BUSYKEY (REPLACE costs the target ~16 %) */
    int source_version, target_version;
    char err[1024];
    rmig_input *in;
    rmig_rdb *p;
    rmig_batch b;
    rmig_out value;        /* the current key's raw value */
    /* a value bigger than chunk_bytes: written as native commands while it
     * is read (chunked.h), or skipped when a node dropped it */
    size_t chunk_bytes;
    rmig_entry cur;        /* the current key, from its KEY event */
    rmig_out cur_key;
    rmig_chunked *big;
    const uint8_t *pend;   /* the big key's bytes not fed yet: of the held value, or of the last RAW event */
    size_t pend_n;
    int big_dropped;
    int big_verify;        /* rmig verify: the big value's fingerprint is being taken (verify_big.c) */
    int exit2;             /* the run stopped on something the pipeline must change: exit 2 */
    uint64_t streamed, reconnects, torn, sets, emitted;
    uint64_t cur_off;      /* where the current key's record starts in the file */
    /* a big value streamed as one RESTORE (its length read ahead) */
    int big_restore;
    rmig_dump dump;
    uint64_t big_len, big_sent;
    uint64_t restored_big;
    int use_set, pxat;     /* strings as SET (restore = "auto"); the target knows SET ... PXAT (6.2+) */
    uint64_t read, written, failed_keys, skipped, dropped, replies, tag, resent;
    uint64_t window;
    /* live sources: stretches of the stream in flight, oldest first; the
     * last one is open (records written now belong to it) */
    epoch *ep;
    size_t ep_head, ep_len, ep_cap;
    uint64_t ep_base;      /* the id of ep[ep_head] */
    uint64_t start_ns, bytes_in, bytes_total;
    rmig_progress progress;
    /* dead-letter file: refused commands (the connection keeps each until
     * it is answered), with SELECTs, for redis-cli --pipe */
    FILE *dl;
    uint64_t dl_db, dl_count;
    int dl_selected;
    int abort_on_error;    /* sink.on_error = "abort" */
    uint64_t shown;        /* refused keys shown on stderr */
    int retry_deadline_s;
    /* a live source (run_live.c): the snapshot then the command stream */
    int live, rdb_done;    /* live: 1 a psync source, 2 a cluster source */
    const char *restore_opt, *mode_opt; /* sink.restore, sink.mode (strings of the pipeline) */
    rmig_live *lv;         /* the source being read: one of lvs (a cluster source has one per master) */
    rmig_live **lvs;
    int nlv, lv_i;
    uint64_t cmds;         /* commands of a live stream applied */
} runner;

/* run.c */
/* `rmig run` (vf NULL) or `rmig verify` (vf: its options; freed here):
 * the pipeline's source through its nodes into (or against) its target. */
int rmig__run_pipeline(int argc, char **argv, const char *cmd, const char *usage, rmig_verify *vf);
void rmig__run_use(runner *r, wconn *w);
int rmig__run_room(const runner *r);
uint64_t rmig__run_pending(const runner *r);
void rmig__run_answered(runner *r, const keyrec *k);
void rmig__run_commit(runner *r, int64_t offset, uint64_t sdb);
void rmig__run_on_reply(rmig_redis *c, void *ud, uint64_t tag, const redisReply *rep);
void rmig__run_on_state(rmig_redis *c, void *ud, int state, const char *err, uint64_t unanswered);
void rmig__run_dead_letter(runner *r, uint64_t db, const char *p, size_t n);
void rmig__run_finish(runner *r);
void rmig__run_start_idle(runner *r);
void rmig__run_stop_idle(runner *r);
keyrec *rmig__run_rec_push(runner *r);
keyrec *rmig__run_rec_again(runner *r, const keyrec *k);
keyrec rmig__run_rec_pop(wconn *w);
void rmig__run_report_key(runner *r, const keyrec *k, const char *why, int why_len);
int rmig__run_rdb_pump(runner *r);
int64_t rmig__run_now_ms(void);
/* run_proxy.c: a RESTORE command of the stream (e) as SLOTSRESTORE, into
 * *out (argv and ttl its storage, used until it is written). 1 when it was
 * one, 0 to write e as it is. */
int rmig__run_slotsrestore_cmd(const rmig_entry *e, rmig_entry *out, rmig_slice argv[4], char ttl[24]);
/* An HSET of several fields as HMSET, into *out, for a target before Redis
 * 4.0 (its HSET takes one): the new arguments (the caller frees them once
 * it is written), or NULL to write e as it is. */
rmig_slice *rmig__run_hmset_cmd(const rmig_entry *e, rmig_entry *out);
void rmig__run_remember(runner *r, const rmig_entry *e, int unit);
void rmig__run_native_done(runner *r, const rmig_entry *e, uint64_t cmds);
void rmig__run_unit_answered(runner *r, uint64_t db, const char *cmd, size_t n);
int rmig__run_write_cmd_args(runner *r, const rmig_entry *e, const uint32_t *args, uint32_t nargs, int tx);
int rmig__run_write_entries(runner *r, uint32_t from);
int rmig__run_flush_batch(runner *r);

/* run_big.c: the current key's value passed chunk_bytes (start), its
 * next bytes (piece), its end (end for native chunks, restore_end for a
 * streamed RESTORE). 0, or -1 with r->err. */
int rmig__run_big_start(runner *r);
int rmig__run_big_piece(runner *r, const void *p, size_t n);
int rmig__run_big_end(runner *r);
int rmig__run_big_restore_end(runner *r);

/* run_live.c: a psync source. open reads its options (the pipeline's
 * source options at index src of the Lua stack) and prepares the spool and
 * the state; start connects; idle takes what arrived; replied sees each
 * answered record; finish stops the source and saves the state; summary
 * prints its part of the report. 0, or -1 with r->err. */
int rmig__live_open(runner *r, lua_State *L, int pipe, int src, int sink);
int rmig__live_start(runner *r);
void rmig__live_idle(runner *r);
void rmig__live_replied(runner *r, const keyrec *k);
void rmig__live_applied(runner *r, int src, int64_t offset, uint64_t sdb);
int rmig__live_write_cmd(runner *r, const rmig_entry *e);
void rmig__live_finish(runner *r);
void rmig__live_summary(runner *r);
void rmig__live_free(runner *r);

/* run_scan.c: rmig.source.scan (SCAN + DUMP). open reads the options at
 * index src and the source's dbs and RDB version; idle sends more SCANs
 * and ends the run when all are done. 0, or -1 (-2) with r->err. */
int rmig__scan_open(runner *r, lua_State *L, int src, int *source_version);
int rmig__scan_start(runner *r);
void rmig__scan_idle(runner *r);
void rmig__scan_finish(runner *r);
void rmig__scan_summary(const runner *r);
void rmig__scan_free(runner *r);
/* 1 when no read of the source is in flight (SCANs, keys, big copies). */
int rmig__scan_drained(const runner *r);

/* twem_source.c: rmig.source.twemproxy's pool, opened from the source's
 * options at src (the pool's db filter installed before the nodes): 0, -1,
 * or -2 (a usage error: the file, the pool); the db the pool uses on its
 * backends. */
int rmig__twem_open(runner *r, lua_State *L, int src);
int rmig__twem_db(const runner *r);
void rmig__twem_free(runner *r);
/* codis_source.c: rmig.source.codis's group masters into r->farm (from
 * its groups or its topology file): 0, -1, or -2 (a usage error). */
int rmig__codis_open(runner *r, lua_State *L, int src);
/* rmig.sink.codis's topology (the sink's options at so) into
 * r->codis_sink: 0, -1, or -2 (the file); group master i's host (and port). */
int rmig__codis_sink_open(runner *r, lua_State *L, int so, int verify);
const char *rmig__codis_master(const struct rmig_codis_topo *t, size_t i, int *port);
void rmig__codis_free(runner *r);
/* rmig.sink.twemproxy: its pool (from the sink's options at so); *addr
 * becomes the proxy's (the pool's listen) unless given, *password the
 * pool's redis_auth unless given. 0, -1, or -2 (the file, the pool). */
int rmig__twem_sink_open(runner *r, lua_State *L, int so, struct rmig_twem_pool **pool, const char **addr,
                         const char **password);
const char *rmig__twem_name(const struct rmig_twem_pool *p);
/* Backend i of a pool: its host, and its port in *port. */
const char *rmig__twem_backend(const struct rmig_twem_pool *p, size_t i, int *port);

/* verify.c: `rmig verify` in the runner. before_steps notes the batch's
 * source keys; entry compares an entry out of the nodes with the target
 * (its reads pipelined); reply takes their answers; more starts what
 * follows the end of a phase (1: the run goes on); report prints (and
 * writes the JSON) and gives the exit code; close closes its handles. */
void rmig__verify_before_steps(runner *r);
int rmig__verify_entry(runner *r, const rmig_entry *e);
void rmig__verify_reply(runner *r, keyrec *k, const redisReply *rep);
int rmig__verify_more(runner *r);
int rmig__verify_report(runner *r, const char *pipeline, double secs);
void rmig__verify_close(runner *r);
void rmig__verify_free(rmig_verify *v);
/* rmig run --verify: `rmig verify` of the same pipeline, in this process
 * after a batch run (its exit code), or beside a live run once it caught
 * up (spawn; spawn_close at the run's end). */
int rmig__verify_after(runner *r);
void rmig__verify_spawn(runner *r);
void rmig__verify_spawn_close(runner *r);
int rmig__verify_big_begin(runner *r, const rmig_entry *e);
int rmig__verify_big_piece(runner *r, const void *p, size_t n);
int rmig__verify_big_end(runner *r);
/* The same for a scan source's big key, read in pieces by scan_big.c: begin
 * after the nodes kept it (sdb/skey: its name at the source), its elements
 * folded into x->svd with vdigest.h's functions, then end (gone: the key
 * went, or changed type, while it was read). begin: NULL with r->err. */
struct vexp *rmig__verify_big_scan_begin(runner *r, const rmig_entry *e, uint64_t sdb, const void *skey, size_t slen);
int rmig__verify_big_scan_end(runner *r, struct vexp *x, int gone);

/* run_cluster.c: rmig.sink.cluster. open discovers the masters and opens a
 * connection to each (the sink's options at index so); route points the
 * runner at the master of an entry's slot, after the db policy (0, 1 when
 * the entry was reported and goes nowhere, -1 with r->err); write_cmd
 * writes a command of a live stream (split per slot, or broadcast when it
 * has no key); transaction writes a MULTI ... EXEC of the batch from entry
 * i and returns the index of its EXEC; reply sees an answer first (1 when
 * it was a redirection it took care of); room says whether new commands
 * may go; the rest close, count and report. */
int rmig__cluster_open(runner *r, lua_State *L, int so, const char *host, int port, const char *user, const char *password,
                       const rmig_tls_opts *tls, uint64_t *keys);
/* rmig.sink.twemproxy { direct = true }: the pool's backends as the masters
 * of a cluster whose slots are backends (run_cluster.c). */
struct rmig_twem_pool;
int rmig__cluster_open_pool(runner *r, lua_State *L, int so, const struct rmig_twem_pool *p, const char *user,
                            const char *password, const rmig_tls_opts *tls, uint64_t *keys);
int rmig__cluster_connect(runner *r, const rmig_redis_opts *o);
/* rmig.sink.codis: a Codis deployment's group masters the same way, each
 * key on the group of its slot (run_cluster.c). */
struct rmig_codis_topo;
int rmig__cluster_open_codis(runner *r, lua_State *L, int so, const struct rmig_codis_topo *t, const char *user,
                             const char *password, const rmig_tls_opts *tls, uint64_t *keys);
/* run_cluster.c: a dbmap from the sink's options at so; an entry through
 * it (0, or -1 with r->err); its line in the summary. */
void rmig__dbmap_init(rmig_dbmap *m, lua_State *L, int so, uint64_t to_db, const char *what);
int rmig__dbmap_apply(runner *r, rmig_dbmap *m, rmig_entry *e);
void rmig__dbmap_summary(const rmig_dbmap *m);
/* The pool's db on its backends (a Twemproxy pool), else -1. */
int64_t rmig__cluster_pool_db(const runner *r);
int rmig__cluster_route(runner *r, rmig_entry *e);
int rmig__cluster_write_cmd(runner *r, rmig_entry *e);
int rmig__cluster_transaction(runner *r, uint32_t i, uint32_t *end);
void rmig__cluster_function(runner *r, const void *code, size_t n);
int rmig__cluster_reply(runner *r, wconn *w, keyrec *k, const redisReply *rep);
int rmig__cluster_room(const runner *r);
int rmig__cluster_unit_settled(runner *r, wconn *w);
uint64_t rmig__cluster_pending(const runner *r);
int rmig__cluster_state(runner *r, wconn *w, int state, const char *err);
void rmig__cluster_close(runner *r);
void rmig__cluster_counts(const runner *r, uint64_t *reconnects, uint64_t *torn);
void rmig__cluster_summary(const runner *r);
void rmig__cluster_free(runner *r);

#endif
