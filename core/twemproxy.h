/* twemproxy.h - where Twemproxy (nutcracker 0.5.0) puts a key: its twelve
 * hash functions (twemproxy_hash.c), its ketama / modula / random
 * distributions over a pool's servers (twemproxy_pool.c), and the pools of a
 * nutcracker.yml (twemproxy_conf.c). A sink that writes straight to the
 * backends, or a check that a migration put every key where the proxy will
 * look for it, must agree with nutcracker bit for bit, quirks included; the
 * tests compare with a real nutcracker. Nothing here does I/O but
 * rmig_twem_conf_load(), which reads the file and hands it to the parser. */
#ifndef RMIG_TWEMPROXY_H
#define RMIG_TWEMPROXY_H

#include <stddef.h>
#include <stdint.h>

/* nutcracker's hash functions, in the order of its HASH_CODEC. */
typedef enum rmig_twem_hash {
    RMIG_TWEM_ONE_AT_A_TIME,
    RMIG_TWEM_MD5,
    RMIG_TWEM_CRC16,
    RMIG_TWEM_CRC32,
    RMIG_TWEM_CRC32A,
    RMIG_TWEM_FNV1_64,
    RMIG_TWEM_FNV1A_64,
    RMIG_TWEM_FNV1_32,
    RMIG_TWEM_FNV1A_32,
    RMIG_TWEM_HSIEH,
    RMIG_TWEM_MURMUR,
    RMIG_TWEM_JENKINS,
    RMIG_TWEM_NHASH
} rmig_twem_hash;

typedef enum rmig_twem_dist {
    RMIG_TWEM_KETAMA,
    RMIG_TWEM_MODULA,
    RMIG_TWEM_RANDOM,
    RMIG_TWEM_NDIST
} rmig_twem_dist;

/* ---- hash functions (twemproxy_hash.c) ---- */

/* The 32-bit hash nutcracker's function h gives the bytes key[0..len),
 * computed as its code does on x86-64 (see twemproxy_hash.c for the quirks:
 * sign-extended bytes, fnv1a_64 in 32 bits, the 15-bit crc32). */
uint32_t rmig_twem_hash_key(rmig_twem_hash h, const void *key, size_t len);

/* MD5 (RFC 1321) of p[0..n): the md5 hash and ketama's points use it. */
void rmig_twem_md5(const void *p, size_t n, uint8_t out[16]);

/* Names as nutcracker.yml spells them ("fnv1a_64", "ketama"); NULL for an
 * out-of-range value. find returns -1 for an unknown name (exact, case
 * sensitive, as nutcracker compares). */
const char *rmig_twem_hash_name(int h);
int rmig_twem_hash_find(const char *name, size_t len);
const char *rmig_twem_dist_name(int d);
int rmig_twem_dist_find(const char *name, size_t len);

/* ---- pools and placement (twemproxy_pool.c) ---- */

typedef struct rmig_twem_server {
    char *spec;      /* the servers: line as written, "host:port:weight [name]" */
    char *host;      /* host name or address, or the path of a unix socket */
    int port;        /* 0 for a unix socket */
    uint32_t weight; /* >= 1 */
    char *name;      /* what ketama hashes: the name given, else "host:port", "host" alone when
                        the port is 11211, "path:" for a socket (nutcracker keeps the ':') */
    int named;       /* 1 when the line gives a name */
    int line;        /* line in the config file, 0 when not read from one */
} rmig_twem_server;

/* One point of the ketama continuum. */
typedef struct rmig_twem_point {
    uint32_t value; /* position on the ring */
    uint32_t rank;  /* the server's index in nutcracker's own array (see order) */
} rmig_twem_point;

/* Pool settings that do not move keys are kept (as read; -1 when unset)
 * for the sources and sinks that connect to the backends. */
typedef struct rmig_twem_pool {
    char *name;
    int line;            /* where the pool starts in the file, 0 when not read from one */
    rmig_twem_hash hash; /* default fnv1a_64 */
    rmig_twem_dist dist; /* default ketama */
    char hash_tag[2];    /* valid when has_tag */
    int has_tag;
    int redis;        /* 1 redis, 0 memcached (nutcracker's default), -1 unset */
    char *redis_auth; /* NULL when unset */
    int redis_db;     /* -1 when unset (nutcracker then uses db 0) */
    char *listen;     /* NULL when unset */
    int timeout, backlog, client_connections, preconnect, auto_eject_hosts, server_connections,
        server_retry_timeout, server_failure_limit, tcpkeepalive; /* -1 when unset */

    rmig_twem_server *servers; /* in the order of the servers: list */
    size_t nservers, cap;

    /* Built by rmig_twem_pool_build(). nutcracker sorts a pool's servers by
     * name (shorter first, then bytewise) before it builds its ring, so its
     * index of a server is not the list's: order[rank] = list index. */
    uint32_t *order;
    rmig_twem_point *points; /* ketama: the continuum, sorted by value */
    size_t npoints;
    uint64_t *wsum; /* modula: wsum[rank] = weights of ranks 0..rank */
    uint32_t total_weight;
    int built;
    int err_line; /* after a failed build: the line of the server at fault, else 0 */
} rmig_twem_pool;

/* An empty pool with nutcracker's defaults. The caller owns it and frees it
 * with rmig_twem_pool_free() (which frees everything the pool points to). */
void rmig_twem_pool_init(rmig_twem_pool *p);
void rmig_twem_pool_free(rmig_twem_pool *p);

/* s[0..n) as a NUL-terminated copy (NULL when out of memory). */
char *rmig_twem_dup(const char *s, size_t n);

/* Adds a server from a servers: line: "host:port:weight [name]" or
 * "/path/to/socket:weight [name]", parsed from its end as nutcracker does.
 * 0, or -1 with err saying what is wrong with the line. */
int rmig_twem_pool_add_server(rmig_twem_pool *p, const char *spec, size_t len, int line, char *err,
                              size_t errlen);

/* hash_tag: exactly two bytes, e.g. "{}" (0, or -1 with err). */
int rmig_twem_pool_set_tag(rmig_twem_pool *p, const char *tag, size_t len, char *err, size_t errlen);

/* Checks what nutcracker checks once the pool is read (servers present,
 * names unique) and builds the ring. Call again after adding servers or
 * changing the distribution (the hash and the tag are read per key).
 * 0, or -1 with err naming the server at fault. */
int rmig_twem_pool_build(rmig_twem_pool *p, char *err, size_t errlen);

/* The db nutcracker 0.5.0 really keeps the pool's keys in on its backends:
 * redis_db, but 0 when redis_auth is set (its AUTH handshake takes the
 * place of the SELECT: twemproxy issues #457, #491) and on backends it
 * reaches by a unix socket (such a socket connects at once, and nutcracker
 * sends its SELECT only when a connection in progress completes). -1 for a
 * pool whose keys are in db redis_db of some backends and db 0 of others
 * (TCP and unix-socket backends, redis_db set, no redis_auth). */
int rmig_twem_pool_db(const rmig_twem_pool *p);

/* The bytes the pool hashes for a key: the text between the hash tag's two
 * characters when the tag is set, found, and not empty; else the whole key. */
void rmig_twem_pool_tag(const rmig_twem_pool *p, const void *key, size_t len, const uint8_t **part,
                        size_t *partlen);

/* The hash nutcracker dispatches a key on (0 for an empty key, as its
 * server_pool_hash says). */
uint32_t rmig_twem_pool_hash(const rmig_twem_pool *p, const void *key, size_t len);

/* The index in p->servers (the list's order) of the server nutcracker
 * sends the key to; -1 when the distribution is random (any server). The
 * pool must be built; a built pool is only read, so threads may route
 * through one pool at once. */
int rmig_twem_route(const rmig_twem_pool *p, const void *key, size_t len);

/* ---- nutcracker.yml (twemproxy_conf.c) ---- */

typedef struct rmig_twem_conf {
    char *path;            /* as given, for messages */
    rmig_twem_pool *pools; /* in the file's order, each built */
    size_t npools;
} rmig_twem_conf;

/* Reads and parses a nutcracker.yml: every pool with its servers, known
 * keys checked as nutcracker checks them, every pool built. On failure,
 * -1 with err as "FILE:LINE: what is wrong" and c left empty. The caller
 * frees c with rmig_twem_conf_free() either way. */
int rmig_twem_conf_load(rmig_twem_conf *c, const char *path, char *err, size_t errlen);
/* The same on text already in memory; name stands for the file in messages. */
int rmig_twem_conf_parse(rmig_twem_conf *c, const char *name, const void *text, size_t len, char *err,
                         size_t errlen);
void rmig_twem_conf_free(rmig_twem_conf *c);

/* The pool called name; with name NULL the only pool of the file. NULL with
 * err (listing the pools) when there is no such pool, or when name is NULL
 * and the file has several. */
rmig_twem_pool *rmig_twem_conf_pool(rmig_twem_conf *c, const char *name, char *err, size_t errlen);

#endif
