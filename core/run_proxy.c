/* run_proxy.c - what the target changes in a command of the source's
 * stream: a codis-proxy's SLOTSRESTORE, a pre-4.0 server's HMSET.
 *
 * codis-proxy refuses RESTORE (mapper.go marks it FlagNotAllow) and takes
 * SLOTSRESTORE key ttl payload, which codis-server applies replacing the
 * key, its TTL relative (0: none). A RESTORE the source ran (a client's, or
 * a MIGRATE's arriving key) becomes that; the payloads rmig writes itself
 * are formatted so from the start (rmig_resp_slotsrestore_head). */
#include "run_internal.h"

#include "rdb_blob.h"
#include "resp.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int arg_is(const rmig_slice *a, const char *s)
{
    size_t n = strlen(s);
    return a->n == n && !strncasecmp((const char *)a->p, s, n);
}

int rmig__run_slotsrestore_cmd(const rmig_entry *e, rmig_entry *out, rmig_slice argv[4], char ttl[24])
{
    /* RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f] */
    if (e->argc < 4 || !arg_is(&e->argv[0], "restore"))
        return 0;
    char num[24];
    size_t tn = e->argv[2].n < sizeof num - 1 ? (size_t)e->argv[2].n : sizeof num - 1;
    memcpy(num, e->argv[2].p, tn);
    num[tn] = 0;
    char *end;
    long long t = strtoll(num, &end, 10);
    if (*end || t < 0)
        return 0; /* (the source accepted it, so this does not happen; codis-server's answer would say) */
    int abs = 0;
    for (uint32_t i = 4; i < e->argc; i++)
        abs = abs || arg_is(&e->argv[i], "absttl");
    int64_t rel = abs && t ? rmig_resp_slotsrestore_ttl(t, rmig__run_now_ms()) : t;
    static const char name[] = "SLOTSRESTORE";
    argv[0] = (rmig_slice){(const uint8_t *)name, sizeof name - 1};
    argv[1] = e->argv[1];
    argv[2] = (rmig_slice){(const uint8_t *)ttl, (uint64_t)rmig_fmt_i64(ttl, rel)};
    argv[3] = e->argv[3];
    *out = *e;
    out->argv = argv;
    out->argc = 4;
    return 1;
}

rmig_slice *rmig__run_hmset_cmd(const rmig_entry *e, rmig_entry *out)
{
    /* (a Redis 4.0+ source's HSET k f v f v ..., or a Codis hash chunk's) */
    if (e->argc <= 4 || !arg_is(&e->argv[0], "hset"))
        return NULL;
    rmig_slice *argv = malloc(e->argc * sizeof *argv);
    if (!argv)
        return NULL; /* (written as it is: the target's refusal names it) */
    static const char name[] = "HMSET";
    memcpy(argv, e->argv, e->argc * sizeof *argv);
    argv[0] = (rmig_slice){(const uint8_t *)name, sizeof name - 1};
    *out = *e;
    out->argv = argv;
    return argv;
}
