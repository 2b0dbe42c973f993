/* chunked.c - a raw value, piece by piece, as native commands (chunked.h). */
#include "chunked.h"

#include "native.h"
#include "rdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rmig_chunked {
    rmig_rdb *p;
    rmig_native *nat;
    char key[80];       /* the start of the name, for messages */
    size_t key_len;
};

static void put_be(uint8_t *d, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        d[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

rmig_chunked *rmig_chunked_new(const rmig_entry *e, rmig_out *o)
{
    rmig_chunked *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    /* the value alone is checked by nothing: no CRC in this made-up stream */
    k->p = rmig_rdb_new(&(rmig_rdb_opts){RMIG_RDB_ELEMENTS | RMIG_RDB_NO_CRC, 0, 0, 0});
    k->nat = rmig_native_new(o, 0);
    if (!k->p || !k->nat) {
        rmig_chunked_free(k);
        return NULL;
    }
    rmig_native_in_db(k->nat, e->db);
    k->key_len = e->key_len < sizeof k->key ? e->key_len : sizeof k->key;
    memcpy(k->key, e->key, k->key_len);
    uint8_t h[64];
    size_t n = (size_t)snprintf((char *)h, sizeof h, "REDIS%04d", e->rdb_version);
    h[n++] = 254; /* SELECTDB, as a 64-bit length */
    h[n++] = 0x81;
    put_be(h + n, e->db, 8);
    n += 8;
    if (e->expire_ms >= 0) {
        h[n++] = 252; /* EXPIRETIME_MS, little-endian */
        for (int i = 0; i < 8; i++)
            h[n++] = (uint8_t)((uint64_t)e->expire_ms >> (8 * i));
    }
    h[n++] = (uint8_t)e->rdb_type;
    h[n++] = 0x80; /* the name's length, 32-bit */
    put_be(h + n, e->key_len, 4);
    n += 4;
    if (rmig_rdb_feed(k->p, h, n) < 0 || rmig_rdb_feed(k->p, e->key, e->key_len) < 0) {
        rmig_chunked_free(k);
        return NULL;
    }
    return k;
}

/* Everything the parser can decode so far, into commands. */
static int drain(rmig_chunked *k, char *err, size_t errlen)
{
    rmig_rdb_event ev;
    int got;
    while ((got = rmig_rdb_next(k->p, &ev)) > 0 && got != RMIG_RDB_EV_EOF) {
        if (rmig_native_event(k->nat, &ev) < 0) {
            snprintf(err, errlen, "key \"%.*s\": %s", (int)k->key_len, k->key, rmig_native_error(k->nat));
            return -1;
        }
    }
    if (got < 0) {
        snprintf(err, errlen, "decoding key \"%.*s\": %s", (int)k->key_len, k->key, rmig_rdb_error(k->p));
        return -1;
    }
    return 0;
}

int rmig_chunked_feed(rmig_chunked *k, const void *p, size_t n, char *err, size_t errlen)
{
    if (rmig_rdb_feed(k->p, p, n) < 0) {
        snprintf(err, errlen, "out of memory decoding key \"%.*s\"", (int)k->key_len, k->key);
        return -1;
    }
    return drain(k, err, errlen);
}

int rmig_chunked_finish(rmig_chunked *k, char *err, size_t errlen)
{
    static const uint8_t tail[9] = {255}; /* EOF, then a CRC of 0: not checked */
    if (rmig_rdb_feed(k->p, tail, sizeof tail) < 0) {
        snprintf(err, errlen, "out of memory decoding key \"%.*s\"", (int)k->key_len, k->key);
        return -1;
    }
    rmig_rdb_finish(k->p);
    return drain(k, err, errlen);
}

uint64_t rmig_chunked_commands(const rmig_chunked *k) { return rmig_native_commands(k->nat); }

void rmig_chunked_free(rmig_chunked *k)
{
    if (!k)
        return;
    if (k->p)
        rmig_rdb_free(k->p);
    if (k->nat)
        rmig_native_free(k->nat);
    free(k);
}

void rmig_chunked_hmset(rmig_chunked *k) { rmig_native_hmset(k->nat); }
