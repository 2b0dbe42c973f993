/* live_internal.h - what the parts of a live source share (run_live.c:
 * the stream and the position; live_open.c: options, state, start, the
 * summary). One rmig_live per source master. */
#ifndef RMIG_LIVE_INTERNAL_H
#define RMIG_LIVE_INTERNAL_H

#include "run_internal.h"

#include "cmdtable.h"
#include "psync.h"
#include "respcmd.h"
#include "spool.h"

#include <time.h>

#define LAG_SAMPLES 256
#define MAX_KEYS 4096 /* key positions per command held on the stack; more are looked up again */

enum { PH_WAIT, PH_SNAPSHOT, PH_CATCHUP, PH_LIVE };

struct rmig_live {
    runner *r;
    int idx;                  /* in r->lvs: one per master of a cluster source */
    struct rmig_codis_xlate *xl; /* rmig.source.codis: the translator of this stream's Codis commands */
    int snapshot_only;        /* rmig.source.cluster mode rdb-per-node: the snapshot is all */
    int done;                 /* snapshot_only: applied; nothing more is taken from it */
    int blocked;              /* waits for another master's DEL of a key it got by migration */
    uint64_t blocked_ms, blocked_hash, migrated_in, migrate_waits;
    uint32_t mig_done;        /* Codis: keys of the command being taken that are past their wait */
    uint64_t mig_open[16];    /* Codis: big values arriving in chunks (each waited once), by key hash */
    unsigned mig_nopen;
    struct deleted {
        uint64_t hash, ms;
        int src;
    } *del_ring, *drop_ring;  /* the first source's: keys DEL'd lately by any source; keys restored
                                 before their DEL came, whose DEL is not to be applied */
    unsigned del_head, drop_head;
    uint64_t migrate_dropped; /* DELs of migrated keys left out (their restore went first) */
    uint64_t drop_overrun;    /* drop ring entries overwritten within their minute */
    uint64_t last_map_ms;     /* the first source's: when the source cluster's masters were last checked */
    /* options */
    char host[256];
    int port;
    const char *user, *password;
    rmig_tls_opts tls, *tlsp;
    char state_path[900], spool_dir[1024];
    const char *ckpt_key;
    int exactly_once, default_deny;
    /* parts */
    rmig_spool *spool;
    rmig_psync *ps;
    rmig_cmdtable *cmds;
    rmig_respcmd rc;
    rmig_out sbuf;            /* stream bytes not consumed yet, from sbuf_pos on */
    size_t sbuf_pos;
    uv_timer_t tick, unblock;  /* the first source's: for all of them */
    uv_signal_t sigint, sigterm;
    int handles_open, finished, stopping;
    /* position */
    int phase;
    char replid[41];
    int64_t stream_off;       /* offset of the last stream byte consumed */
    uint64_t sdb;             /* the stream's db there */
    int in_multi;
    int64_t full_off;         /* offset the last full sync's snapshot stands for */
    int64_t acked, saved;     /* applied (answered) position, and the one in the state file */
    uint64_t acked_db;
    int have_acked;
    int64_t resume_off;       /* where this run started (-1: a full sync) */
    uint64_t resume_db;
    /* counts */
    uint64_t full_syncs, partial_syncs, denied_flush, unknown, held;
    uint64_t snap_start_ms, snap_keys;
    double snap_applied_s;
    int snap_pending;         /* the snapshot was read; waiting for its last answers */
    /* lag: when stream offsets arrived */
    int64_t lag_off[LAG_SAMPLES];
    uint64_t lag_ms[LAG_SAMPLES];
    unsigned lag_head, lag_len;
    uint64_t last_status_ms, last_cmds;
    double cmd_rate;
    /* for the source connection */
    int psync_timeout_ms, psync_deadline_ms;
    const char *psync_cmd, *sync_cmd;
    char psync_name[64], sync_name[64];
};

static inline uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void rmig__live_say(runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rmig__live_on_psync(rmig_psync *ps, void *ud, int ev, const char *msg);
void rmig__live_on_tick(uv_timer_t *t);
void rmig__live_on_unblock(uv_timer_t *t);
void rmig__live_on_signal(uv_signal_t *s, int signum);

#endif
