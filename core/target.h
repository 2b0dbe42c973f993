/* target.h - who the target server is (see target.c). */
#ifndef RMIG_TARGET_H
#define RMIG_TARGET_H

#include "redis_conn.h"

typedef struct rmig_target_info {
    char redis[64];   /* redis_version */
    char valkey[64];  /* valkey_version, when a Valkey */
    char mode[32];    /* standalone, cluster, sentinel */
    int rdb_version;  /* the newest RDB version it reads (0: unknown) */
    uint64_t keys;    /* keys in all its databases (UINT64_MAX: unknown) */
    uint64_t proto_max_bulk_len; /* CONFIG GET proto-max-bulk-len; 0 when CONFIG is refused */
    uint64_t maxmemory, used_memory; /* INFO memory; maxmemory 0: no limit */
} rmig_target_info;

/* The RDB version a Redis (or Valkey) of this version reads (RDB-FORMAT.md §1). */
int rmig_target_rdb_version(const char *redis_version, const char *valkey_version);

/* 1 when a target reading RDB target_version takes RESTORE payloads of a
 * file of RDB file_version (Valkey's RDB 80 is not Redis 8's 12..). */
int rmig_target_restores(int target_version, int file_version);

/* 1 when a Redis (or Valkey) of this version has SET ... PXAT (6.2+). */
int rmig_target_has_pxat(const rmig_target_info *ti);

/* "host:port" or "[v6]:port" into its parts; -1 without a port. A unix
 * socket's path ("/...") is the host, with port 0. */
int rmig_target_split_addr(const char *addr, char *host, size_t cap, int *port);
/* The other way, into buf (returned): "host:port", "[v6]:port", or a unix
 * socket's path alone (a host starting with '/'). */
const char *rmig_target_addr(char *buf, size_t cap, const char *host, int port);

/* Connects (TLS, AUTH as given), asks INFO server; 0, or -1 with err naming the server. */
int rmig_target_probe(const char *host, int port, const char *user, const char *password, const rmig_tls_opts *tls,
                      rmig_target_info *info, char *err, size_t errlen);

/* The value of "key" (e.g. "redis_version:") in an INFO reply, into out;
 * out is left alone when the key is absent. */
void rmig_target_info_field(const char *info, const char *key, char *out, size_t cap);

/* One command on a connection of its own (TLS, AUTH as given), answered
 * before this returns: cb sees the reply and may fail (-1 with err). 0, or
 * -1 with err naming the server. */
typedef int (*rmig_target_reply_cb)(const redisReply *r, void *ud, char *err, size_t errlen);
int rmig_target_call(const char *host, int port, const char *user, const char *password, const rmig_tls_opts *tls,
                     int argc, const char *const *argv, rmig_target_reply_cb cb, void *ud, char *err, size_t errlen);

#endif
