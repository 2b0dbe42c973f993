/* cluster_internal.h - what the two halves of the cluster sink share
 * (run_cluster.c: the map, connections, routing, life cycle;
 * cluster_redirect.c: MOVED, ASK, retries, a dead master's takeover). */
#ifndef RMIG_CLUSTER_INTERNAL_H
#define RMIG_CLUSTER_INTERNAL_H

#include "run_internal.h"

#include "cluster.h"

enum { R_NONE, R_MOVED, R_ASK, R_RETRY };

/* A command (or a unit's commands) waiting to be sent on. */
typedef struct parked {
    char *bytes;
    size_t n;
    keyrec *recs;
    size_t nrec;
    int kind;              /* R_MOVED, R_ASK or R_RETRY */
    int to;                /* R_ASK: the connection to ask; else routed by slot (or `from`) */
    int from;
    int slot;              /* -1 when the bytes name no key */
    uint64_t due_ms, first_ms;
    char why[120];         /* R_RETRY: what the master said */
} parked;

struct rmig_clus {
    rmig_cluster_map map;
    wconn **w;
    int nw, wcap;
    int16_t slot_w[RMIG_SLOTS]; /* the connection of each slot's master */
    rmig_redis_opts o;          /* every connection's options but the address */
    const char *user, *password;
    rmig_tls_opts tls;
    int has_tls;
    char seed[300];
    int seed_port;
    int multi_fail;
    rmig_dbmap dbm;            /* keys of source dbs other than 0 (sink.dbs) */
    parked *pk;
    size_t pk_head, pk_len, pk_cap;
    uv_timer_t timer, watch;   /* parked commands; connections being opened again */
    int timer_init, closing;
    uint64_t last_refresh_ms, last_say_ms;
    uint64_t moved, asked, retried, refreshes, split, broadcast, tx_whole, tx_split, cross_slot, merged,
        prefixed, new_nodes;
    /* rmig.sink.twemproxy { direct = true }: the pool's backends stand for
     * the masters, a key's "slot" is its backend (the pool's placement),
     * keys go to the pool's db on each; no redirections, no map to read */
    const struct rmig_twem_pool *twem;
    /* rmig.sink.codis: the group masters as the masters, a key's "slot"
     * its group (Codis's slot rule, then the topology's table) */
    const struct rmig_codis_topo *codis;
};

/* The slot of key (a cluster), or its backend (a Twemproxy pool). */
unsigned rmig__clus_slot(const rmig_clus *c, const void *key, size_t len);

static inline uint64_t rmig__clus_now_ms(void) { return uv_hrtime() / 1000000; }
void rmig__clus_say(runner *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rmig__clus_conn_for(runner *r, const char *host, int port);
void rmig__clus_refresh(runner *r, int force);
void rmig__cluster_on_timer(uv_timer_t *t);
void rmig__clus_pop_parked(rmig_clus *c);
void rmig__cluster_on_watch(uv_timer_t *t);

#endif
