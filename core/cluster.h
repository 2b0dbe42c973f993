/* cluster.h - a Redis Cluster's topology: which master serves which slot
 * (cluster.c). Read with CLUSTER SHARDS (Redis 7+), or CLUSTER SLOTS when
 * the server does not know SHARDS. Parsing is separate from fetching so
 * that it can be tested on recorded replies. */
#ifndef RMIG_CLUSTER_H
#define RMIG_CLUSTER_H

#include "slot.h"
#include "tls.h"

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rmig_cluster_node {
    char host[256];     /* the address clients use: endpoint, or ip when the endpoint is "?" or empty */
    int port;
    char id[41];        /* node id (40 hex), "" when the reply has none */
    int master;         /* 1: a master serving slots; 0: a replica */
    int master_of;      /* a replica: index of its master in nodes[], else -1 */
    unsigned nslots;    /* a master: slots it serves */
} rmig_cluster_node;

typedef struct rmig_cluster_map {
    rmig_cluster_node *nodes; /* masters first (index < nmasters), then replicas */
    int nnodes, nmasters;
    int16_t slot[RMIG_SLOTS]; /* index of the master serving each slot, -1: unassigned */
    unsigned unassigned;      /* slots no master serves */
} rmig_cluster_map;

/* A CLUSTER SHARDS / CLUSTER SLOTS reply into m (any earlier content is
 * freed first). Masters with no slots are left out; nodes whose health is
 * not "online" (SHARDS) are left out. 0, or -1 with err. */
int rmig_cluster_map_parse_shards(const redisReply *r, rmig_cluster_map *m, char *err, size_t errlen);
/* The same as parse_shards, taking each node's tls-port when tls is 1
 * (the port a TLS client must use) and its port when 0; a node that gives
 * only one of the two gets that one. */
int rmig_cluster_map_parse_shards_tls(const redisReply *r, int tls, rmig_cluster_map *m, char *err, size_t errlen);
int rmig_cluster_map_parse_slots(const redisReply *r, rmig_cluster_map *m, char *err, size_t errlen);

/* Connects to host:port (TLS, AUTH as given: target.c), asks CLUSTER SHARDS,
 * or CLUSTER SLOTS when SHARDS is unknown, and parses the reply. A server
 * that is not in cluster mode gives -1 with an err saying so ("... is not a
 * cluster node (cluster_enabled:0): use rmig.sink.redis"). 0, or -1 with
 * err naming the server. */
int rmig_cluster_map_fetch(const char *host, int port, const char *user, const char *password,
                           const rmig_tls_opts *tls, rmig_cluster_map *m, char *err, size_t errlen);

/* The index in m->nodes of the node at host:port, or -1. */
int rmig_cluster_map_find(const rmig_cluster_map *m, const char *host, int port);

/* Frees m's nodes; m can be parsed into again. */
void rmig_cluster_map_free(rmig_cluster_map *m);

#endif
