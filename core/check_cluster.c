/* check_cluster.c - what `rmig check` says about a Redis Cluster target
 * (rmig.sink.cluster): who serves which slots, which server version and
 * argument limit the masters have, and, when the source is an RDB file,
 * how its keys would spread over the masters, which of its databases a
 * cluster (db 0 only) cannot take as they are, and which values exceed the
 * largest argument the target takes. The file is read once with counters
 * only (one small array per master and per database seen), so checking a
 * 100 GB dump needs no more memory than checking a small one. */
#include "check.h"

#include "cluster.h"
#include "input.h"
#include "progress.h"
#include "rdb.h"
#include "target.h"
#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DBS 64  /* databases counted one by one; more are summed */
#define BIG_NAMES 5 /* names of oversized keys kept for the report */
#define NAME_MAX_LEN 64
#define CHUNK (1 << 20)

typedef struct dbcount {
    uint64_t db, keys;
} dbcount;

/* What one pass over the file found. */
typedef struct spread {
    int version;
    uint64_t keys, bytes;
    uint64_t *mkeys, *mbytes; /* per master */
    uint64_t lost_keys;       /* keys whose slot no master serves */
    dbcount dbs[MAX_DBS];     /* dbs other than 0 */
    int ndbs;
    uint64_t more_db_keys; /* in dbs past the first MAX_DBS */
    uint64_t big, limit;   /* values over limit bytes */
    char big_names[BIG_NAMES][NAME_MAX_LEN * 4 + 4];
    uint8_t *kbuf; /* a prefixed key, reused */
    size_t kcap;
} spread;

/* The key as a printable name, cut at NAME_MAX_LEN bytes. */
static void printable(char *out, size_t cap, const uint8_t *k, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < NAME_MAX_LEN && o + 5 < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, k[i] >= 32 && k[i] < 127 && k[i] != '\\' ? "%c" : "\\x%02x",
                              k[i]);
    snprintf(out + o, cap - o, "%s", n > NAME_MAX_LEN ? "..." : "");
}

/* "0-5460,10923-10932" for the slots of master i (-1: the unassigned
 * ones), the first few ranges only; the count of ranges is returned. */
static int slot_ranges(const rmig_cluster_map *m, int i, char *buf, size_t cap)
{
    int n = 0;
    size_t o = 0;
    buf[0] = 0;
    for (int s = 0; s < RMIG_SLOTS; s++) {
        if (m->slot[s] != i)
            continue;
        int e = s;
        while (e + 1 < RMIG_SLOTS && m->slot[e + 1] == i)
            e++;
        if (n++ < 8 && o < cap)
            o += (size_t)snprintf(buf + o, cap - o, e > s ? "%s%d-%d" : "%s%d", n > 1 ? "," : "", s, e);
        s = e;
    }
    if (n > 8 && o < cap)
        snprintf(buf + o, cap - o, ",... (%d ranges)", n);
    return n;
}

static void addr_of(char *buf, size_t cap, const rmig_cluster_node *n)
{
    snprintf(buf, cap, strchr(n->host, ':') ? "[%s]:%d" : "%s:%d", n->host, n->port);
}

static void print_layout(const rmig_cluster_map *m)
{
    char ranges[256], addr[300];
    printf("slots     %d masters, %d replicas, %u of %d slots served\n", m->nmasters, m->nnodes - m->nmasters,
           RMIG_SLOTS - m->unassigned, RMIG_SLOTS);
    for (int i = 0; i < m->nmasters; i++) {
        slot_ranges(m, i, ranges, sizeof ranges);
        addr_of(addr, sizeof addr, &m->nodes[i]);
        printf("          %-21s %s  (%u slots)\n", addr, ranges, m->nodes[i].nslots);
        for (int r = m->nmasters; r < m->nnodes; r++) {
            addr_of(addr, sizeof addr, &m->nodes[r]);
            if (m->nodes[r].master_of == i)
                printf("            replica %s\n", addr);
        }
    }
    if (m->unassigned) {
        slot_ranges(m, -1, ranges, sizeof ranges);
        printf("risk      %u slots are served by no master (%s): writes of keys there fail with "
               "CLUSTERDOWN until they are assigned\n",
               m->unassigned, ranges);
    }
}

/* ---- the source file ---- */

/* "db%d:" with the db number in place of %d (the option is checked to hold one). */
static size_t db_prefix(char *out, size_t cap, const char *fmt, uint64_t db)
{
    const char *d = strstr(fmt, "%d");
    if (!d)
        return (size_t)snprintf(out, cap, "%s", fmt);
    return (size_t)snprintf(out, cap, "%.*s%llu%s", (int)(d - fmt), fmt, (unsigned long long)db, d + 2);
}

/* The slot of a key as the sink would write it: with dbs = "prefix", a key
 * of db N > 0 is renamed, and the new name decides the slot. */
static unsigned written_slot(spread *sp, const rmig_rdb_event *e, const char *prefix_fmt)
{
    if (!prefix_fmt || e->db == 0)
        return rmig_slot_of(e->key, e->key_len);
    char pre[128];
    size_t pl = db_prefix(pre, sizeof pre, prefix_fmt, e->db);
    pl = pl < sizeof pre ? pl : sizeof pre - 1;
    if (pl + e->key_len > sp->kcap) {
        uint8_t *b = realloc(sp->kbuf, pl + e->key_len);
        if (!b)
            return rmig_slot_of(e->key, e->key_len); /* only a report: approximate */
        sp->kbuf = b;
        sp->kcap = pl + e->key_len;
    }
    memcpy(sp->kbuf, pre, pl);
    memcpy(sp->kbuf + pl, e->key, e->key_len);
    return rmig_slot_of(sp->kbuf, pl + e->key_len);
}

static void count_db(spread *sp, uint64_t db)
{
    for (int i = 0; i < sp->ndbs; i++)
        if (sp->dbs[i].db == db) {
            sp->dbs[i].keys++;
            return;
        }
    if (sp->ndbs == MAX_DBS) {
        sp->more_db_keys++;
        return;
    }
    sp->dbs[sp->ndbs++] = (dbcount){db, 1};
}

static void count_key(spread *sp, const rmig_cluster_map *m, const rmig_rdb_event *e, const char *prefix_fmt)
{
    uint64_t bytes = e->key_len + e->u.end.raw_len;
    int i = m->slot[written_slot(sp, e, prefix_fmt)];
    sp->keys++;
    sp->bytes += bytes;
    if (i < 0)
        sp->lost_keys++;
    else {
        sp->mkeys[i]++;
        sp->mbytes[i] += bytes;
    }
    if (e->db)
        count_db(sp, e->db);
    if (e->u.end.raw_len > sp->limit && sp->big++ < BIG_NAMES)
        printable(sp->big_names[sp->big - 1], sizeof sp->big_names[0], e->key, e->key_len);
}

/* Reads the whole file, keys only (values are skipped by their structure). 0, or -1 with err. */
static int read_source(const char *path, spread *sp, const rmig_cluster_map *m, const char *prefix_fmt,
                       char *err, size_t errlen)
{
    rmig_input *in = rmig_input_open(path, err, errlen);
    if (!in)
        return -1;
    rmig_rdb_opts ro = {.flags = RMIG_RDB_KEYS};
    rmig_rdb *p = rmig_rdb_new(&ro);
    int rc = p ? 0 : -1, done = 0;
    if (!p)
        snprintf(err, errlen, "out of memory");
    while (!rc && !done) {
        rmig_rdb_event e;
        int r = rmig_rdb_next(p, &e);
        if (r < 0) {
            snprintf(err, errlen, "%s: %s", path, rmig_rdb_error(p));
            rc = -1;
        } else if (r == RMIG_RDB_NEED_MORE) {
            uint8_t *dst = rmig_rdb_space(p, CHUNK);
            ssize_t n = dst ? rmig_input_read(in, dst, CHUNK, err, errlen) : -1;
            if (!dst)
                snprintf(err, errlen, "out of memory");
            if (n < 0)
                rc = -1;
            else if (n == 0)
                rmig_rdb_finish(p);
            else
                rmig_rdb_commit(p, (size_t)n);
        } else if (r == RMIG_RDB_EV_BEGIN) {
            sp->version = e.version;
        } else if (r == RMIG_RDB_EV_KEY_END) {
            count_key(sp, m, &e, prefix_fmt);
        } else if (r == RMIG_RDB_EV_EOF) {
            done = 1;
        }
    }
    rmig_rdb_free(p);
    rmig_input_close(in);
    return rc;
}

/* ---- the report ---- */

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void print_spread(const spread *sp, const rmig_cluster_map *m)
{
    char addr[300], b[32];
    printf("spread    %llu keys of the file over %d masters:\n", (unsigned long long)sp->keys, m->nmasters);
    for (int i = 0; i < m->nmasters; i++) {
        addr_of(addr, sizeof addr, &m->nodes[i]);
        rmig_progress_bytes(b, sizeof b, (double)sp->mbytes[i]);
        printf("          %-21s %12llu keys (%5.1f%%) %12s (%5.1f%%)\n", addr,
               (unsigned long long)sp->mkeys[i], pct(sp->mkeys[i], sp->keys), b,
               pct(sp->mbytes[i], sp->bytes));
    }
    if (sp->lost_keys)
        printf("risk      %llu keys hash to slots no master serves: they will fail\n",
               (unsigned long long)sp->lost_keys);
}

/* What the sink's dbs option does with keys of databases other than 0. */
static void print_dbs(const spread *sp, const char *dbs, const char *prefix_fmt)
{
    if (!sp->ndbs)
        return;
    printf("dbs       the file has keys outside db 0, and a cluster has only db 0:");
    for (int i = 0; i < sp->ndbs; i++)
        printf("%s db %llu (%llu keys)", i ? "," : "", (unsigned long long)sp->dbs[i].db,
               (unsigned long long)sp->dbs[i].keys);
    if (sp->more_db_keys)
        printf(", and %llu keys in further dbs", (unsigned long long)sp->more_db_keys);
    printf("\n");
    if (!strcmp(dbs, "merge")) {
        printf("          dbs = \"merge\": they go into db 0 under their own names; a name found in two dbs "
               "ends up with the value written last\n");
    } else if (!strcmp(dbs, "prefix")) {
        char ex[128];
        db_prefix(ex, sizeof ex, prefix_fmt, sp->dbs[0].db);
        printf(
            "          dbs = \"prefix\": they go into db 0 renamed, e.g. %sKEY (db_prefix); the spread above "
            "counts the new names\n",
            ex);
    } else {
        printf(
            "risk      dbs = \"error\": the run stops at the first of them unless a node maps them; map them "
            "with rmig.filter.db { map = { [%llu] = 0 } }, or set dbs = \"merge\" or \"prefix\"\n",
            (unsigned long long)sp->dbs[0].db);
    }
}

static void print_big(const spread *sp, int assumed)
{
    char lim[32];
    if (!sp->big)
        return;
    rmig_progress_bytes(lim, sizeof lim, (double)sp->limit);
    printf(
        "note      %llu keys are bigger serialized than the target's proto-max-bulk-len (%s%s): they cannot "
        "go as one RESTORE payload and go out in chunks as native commands:",
        (unsigned long long)sp->big, lim, assumed ? ", assumed: CONFIG GET was refused" : "");
    for (uint64_t i = 0; i < sp->big && i < BIG_NAMES; i++)
        printf("%s %s", i ? "," : "", sp->big_names[i]);
    printf("%s\n", sp->big > BIG_NAMES ? ", ..." : "");
}

/* RESTORE payloads or native commands, as check.c says it for rmig.sink.redis. */
static int print_values(const char *restore, const char *mode, int tv, int sv)
{
    int native = !strcmp(restore, "never") || (strcmp(restore, "always") && !rmig_target_restores(tv, sv));
    if (!native)
        printf("values    as RESTORE payloads (the target reads RDB %d, the file is RDB %d)\n", tv, sv);
    else
        printf("values    as native commands: %s\n", !strcmp(restore, "never")
                                                         ? "restore = \"never\""
                                                         : "the target reads an older RDB than the file's");
    if (native && strcmp(mode, "replace")) {
        printf("problem   mode = \"%s\" needs RESTORE payloads: rmig run will refuse this pipeline\n", mode);
        return 2;
    }
    return 0;
}

/* The file against the map: spread, databases, big values. 0, 1 when the file cannot be read. */
static int check_source(lua_State *L, int so, const char *path, const rmig_cluster_map *m,
                        const rmig_target_info *ti)
{
    const char *dbs = rmig_vm_str(L, so, "dbs"), *prefix_fmt = rmig_vm_str(L, so, "db_prefix");
    dbs = dbs ? dbs : "error";
    prefix_fmt = prefix_fmt ? prefix_fmt : "db%d:";
    spread sp;
    memset(&sp, 0, sizeof sp);
    /* 512 MiB is Redis' default when CONFIG GET is refused */
    sp.limit = ti->proto_max_bulk_len ? ti->proto_max_bulk_len : 512ull << 20;
    sp.mkeys = calloc((size_t)m->nmasters + 1, sizeof *sp.mkeys);
    sp.mbytes = calloc((size_t)m->nmasters + 1, sizeof *sp.mbytes);
    char err[1024] = "out of memory";
    int rc = 0;
    if (!sp.mkeys || !sp.mbytes ||
        read_source(path, &sp, m, !strcmp(dbs, "prefix") ? prefix_fmt : NULL, err, sizeof err) < 0) {
        printf("source    cannot be read to the end: %s\n", err);
        rc = 1;
    } else {
        const char *restore = rmig_vm_str(L, so, "restore"), *mode = rmig_vm_str(L, so, "mode");
        print_spread(&sp, m);
        print_dbs(&sp, dbs, prefix_fmt);
        print_big(&sp, !ti->proto_max_bulk_len);
        rc = print_values(restore ? restore : "auto", mode ? mode : "replace", ti->rdb_version, sp.version);
    }
    free(sp.mkeys);
    free(sp.mbytes);
    free(sp.kbuf);
    return rc;
}

/* The target could not give its map: a server outside cluster mode is a
 * configuration mistake (2), anything else is not reachable (1). */
static int map_failed(const char *host, int port, const char *user, const char *pw, const rmig_tls_opts *tls,
                      const char *why, char *err, size_t errlen)
{
    rmig_target_info ti;
    char perr[512];
    int standalone = rmig_target_probe(host, port, user, pw, tls, &ti, perr, sizeof perr) == 0 &&
                     strcmp(ti.mode, "cluster") != 0;
    snprintf(err, errlen, "%s", why);
    printf("%s%s\n", standalone ? "problem   " : "target    cannot be reached: ", why);
    return standalone ? 2 : 1;
}

int rmig_check_cluster_target(lua_State *L, int sink_opts, const char *rdb_path, char *err, size_t errlen)
{
    const char *addr = rmig_vm_str(L, sink_opts, "addr"), *user = rmig_vm_str(L, sink_opts, "user");
    const char *pw = rmig_vm_str(L, sink_opts, "password"),
               *pw_env = rmig_vm_str(L, sink_opts, "password_env");
    const char *mode = rmig_vm_str(L, sink_opts, "mode");
    rmig_tls_opts tls, *tlsp = rmig_vm_tls(L, sink_opts, &tls);
    printf("sink      rmig.sink.cluster %s  (%s%s, mode %s)\n", addr,
           tlsp ? (tls.no_verify ? "TLS without verification" : "TLS, verified") : "no TLS",
           pw || pw_env ? (user ? ", ACL user and password" : ", password") : "", mode ? mode : "replace");
    if (pw_env && !(pw = getenv(pw_env))) {
        snprintf(err, errlen, "sink.password_env names %s, which is not set in the environment", pw_env);
        printf("problem   %s\n", err);
        return 2;
    }
    char host[256];
    int port = 0;
    rmig_target_split_addr(addr, host, sizeof host, &port);
    rmig_cluster_map m = {0};
    if (rmig_cluster_map_fetch(host, port, user, pw, tlsp, &m, err, errlen) < 0) {
        char why[1024];
        snprintf(why, sizeof why, "%s", err);
        rmig_cluster_map_free(&m);
        return map_failed(host, port, user, pw, tlsp, why, err, errlen);
    }
    print_layout(&m);
    int rc = 0;
    rmig_target_info ti;
    if (!m.nmasters) {
        snprintf(err, errlen, "%s: no master serves any slot", addr);
        printf("problem   %s: the cluster has no slots assigned yet\n", addr);
        rc = 2;
    } else if (rmig_target_probe(m.nodes[0].host, m.nodes[0].port, user, pw, tlsp, &ti, err, errlen) < 0) {
        printf("target    cannot be reached: %s\n", err);
        rc = 1;
    } else {
        char lim[32];
        rmig_progress_bytes(lim, sizeof lim, (double)ti.proto_max_bulk_len);
        printf("target    %s %s (RDB %d), proto-max-bulk-len %s  (asked %s:%d)\n",
               ti.valkey[0] ? "Valkey" : "Redis", ti.valkey[0] ? ti.valkey : ti.redis, ti.rdb_version,
               ti.proto_max_bulk_len ? lim : "unknown (CONFIG refused)", m.nodes[0].host, m.nodes[0].port);
        if (rdb_path)
            rc = check_source(L, sink_opts, rdb_path, &m, &ti);
        if (rc)
            snprintf(err, errlen,
                     rc == 1 ? "%s cannot be read" : "%s: the sink's mode needs RESTORE payloads", rdb_path);
    }
    rmig_cluster_map_free(&m);
    return rc;
}
