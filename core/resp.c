/* resp.c - RESP encoding of commands (see resp.h). */
#include "resp.h"

#include "rdb_blob.h"

#include <string.h>

static void header(rmig_out *o, char kind, uint64_t n)
{
    char b[32];
    b[0] = kind;
    size_t k = 1 + rmig_fmt_u64(b + 1, n);
    b[k++] = '\r';
    b[k++] = '\n';
    rmig_out_mem(o, b, k);
}

void rmig_resp_array(rmig_out *o, size_t argc) { header(o, '*', argc); }

void rmig_resp_bulk_begin(rmig_out *o, size_t len) { header(o, '$', len); }

void rmig_resp_bulk_end(rmig_out *o) { rmig_out_mem(o, "\r\n", 2); }

void rmig_resp_bulk(rmig_out *o, const void *p, size_t len)
{
    header(o, '$', len);
    rmig_out_mem(o, p, len);
    rmig_out_mem(o, "\r\n", 2);
}

void rmig_resp_bulk_str(rmig_out *o, const char *s) { rmig_resp_bulk(o, s, strlen(s)); }

void rmig_resp_bulk_i64(rmig_out *o, int64_t v)
{
    char b[24];
    rmig_resp_bulk(o, b, rmig_fmt_i64(b, v));
}

void rmig_resp_cmd(rmig_out *o, size_t argc, const char *const *argv)
{
    rmig_resp_array(o, argc);
    for (size_t i = 0; i < argc; i++)
        rmig_resp_bulk_str(o, argv[i]);
}

void rmig_resp_restore_opts(rmig_out *o, int replace, int64_t expire_ms, int64_t idle_s, int freq)
{
    if (replace)
        rmig_resp_bulk_str(o, "REPLACE");
    if (expire_ms >= 0)
        rmig_resp_bulk_str(o, "ABSTTL");
    if (idle_s >= 0) {
        rmig_resp_bulk_str(o, "IDLETIME");
        rmig_resp_bulk_i64(o, idle_s);
    } else if (freq >= 0) {
        rmig_resp_bulk_str(o, "FREQ");
        rmig_resp_bulk_i64(o, freq);
    }
}

size_t rmig_resp_restore_optc(int replace, int64_t expire_ms, int64_t idle_s, int freq)
{
    return (size_t)(replace != 0) + (expire_ms >= 0) + 2 * (idle_s >= 0 || freq >= 0);
}

/* codis-server's SLOTSRESTORE takes a relative TTL where 0 means none, so a
 * key whose time has come still needs one: 1 ms, and it expires there. */
int64_t rmig_resp_slotsrestore_ttl(int64_t expire_ms, int64_t now_ms)
{
    return expire_ms < 0 ? 0 : expire_ms > now_ms ? expire_ms - now_ms : 1;
}

/* One key per command: the proxy routes a command by its first key, and
 * codis-server replaces an existing key, so there is no REPLACE; nor are
 * there LRU/LFU hints. */
void rmig_resp_slotsrestore_head(rmig_out *o, const void *key, size_t klen, int64_t expire_ms, int64_t now_ms)
{
    rmig_resp_array(o, 4);
    rmig_resp_bulk_str(o, "SLOTSRESTORE");
    rmig_resp_bulk(o, key, klen);
    rmig_resp_bulk_i64(o, rmig_resp_slotsrestore_ttl(expire_ms, now_ms));
}
