/* inspect.c - the `rmig inspect` command.
 *
 * Reads one dump (a path, or - for stdin; LZ4 frames are decoded on the fly)
 * through the RDB parser and prints, as asked: JSON lines (--json), a report
 * (--stats, the default; --stats-json for the same as one JSON object), the
 * DUMP payload of every key (--raw), or only counts (--count). A corrupt or
 * truncated input ends with exit code 1 and one line on stderr naming the
 * file and the byte offset. */
#include "inspect.h"

#include "dump.h"
#include "input.h"
#include "native.h"
#include "resp.h"
#include "stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK ((size_t)1 << 20)

enum { M_STATS, M_STATS_JSON, M_JSON, M_RAW, M_RESP, M_COUNT };

static const char usage[] =
    "usage: rmig inspect [--json | --stats | --stats-json | --raw | --resp | --count] [options] FILE\n"
    "\n"
    "Reads an RDB file (any Redis version 1.x-8.x, Valkey 7.2-9; '-' reads stdin; .lz4\n"
    "files are decompressed on the fly) and prints:\n"
    "  --stats        (default) keys per db and type, bytes per type, TTLs, the biggest\n"
    "                 keys and bytes by key prefix\n"
    "  --stats-json   the same report as one JSON object\n"
    "  --json         one JSON object per key: db, key, type, value, expire_ms\n"
    "  --raw          one JSON object per key with its DUMP payload in hex\n"
    "  --resp         the dump as RESTORE (and FUNCTION LOAD) commands in RESP, for\n"
    "                 'redis-cli --pipe'; the payloads carry the file's RDB version\n"
    "  --resp --native  the same as native commands (SET, RPUSH, SADD, ZADD, HSET, XADD,\n"
    "                 XGROUP, XCLAIM, PEXPIREAT...), for targets older than the dump\n"
    "  --count        only the number of keys and bytes (fastest)\n"
    "options:\n"
    "  --big N        how many biggest keys to list (default 20)\n"
    "  --separator C  key prefix separator for --stats (default ':')\n"
    "  --prefix-depth N  separators a prefix spans (default 1)\n"
    "  --no-crc       do not verify the CRC64 trailer\n"
    "  --max-record BYTES  largest key, blob or string held whole (default 512 MiB)\n";

typedef struct progress {
    int on;
    uint64_t total, last_ns, start_ns;
} progress;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void progress_show(progress *pr, uint64_t done, uint64_t keys, int final)
{
    if (!pr->on)
        return;
    uint64_t t = now_ns();
    if (!final && t - pr->last_ns < 200000000ULL)
        return;
    pr->last_ns = t;
    double secs = (double)(t - pr->start_ns) / 1e9;
    double mbs = secs > 0 ? (double)done / 1048576.0 / secs : 0;
    if (pr->total)
        fprintf(stderr, "\r  %5.1f%%  %llu keys  %.0f / %.0f MiB  %.0f MiB/s   ",
                100.0 * (double)done / (double)pr->total, (unsigned long long)keys,
                (double)done / 1048576.0, (double)pr->total / 1048576.0, mbs);
    else
        fprintf(stderr, "\r  %llu keys  %.0f MiB  %.0f MiB/s   ", (unsigned long long)keys,
                (double)done / 1048576.0, mbs);
    if (final)
        fprintf(stderr, "\r%*s\r", 70, "");
}

/* --raw and --resp: the payload of the current key, gathered from its raw
 * pieces (so one key at a time is held, the largest bounding memory) */
typedef struct rawkey {
    rmig_out bytes;     /* type byte, value bytes, then the footer */
    rmig_dump d;
    uint64_t db;        /* --resp: the database last SELECTed */
    int selected;
} rawkey;

static void hex(rmig_out *o, const uint8_t *p, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        rmig_out_char(o, hx[p[i] >> 4]);
        rmig_out_char(o, hx[p[i] & 15]);
    }
}

/* FUNCTION LOAD REPLACE for a library; the 7.0-rc format (no shebang line)
 * gets the "#!<engine> name=<library>" line Redis 7.0 GA requires. */
static void resp_function(rmig_out *o, const rmig_rdb_event *e)
{
    rmig_resp_array(o, 4);
    rmig_resp_bulk_str(o, "FUNCTION");
    rmig_resp_bulk_str(o, "LOAD");
    rmig_resp_bulk_str(o, "REPLACE");
    if (!e->u.func.pre_ga) {
        rmig_resp_bulk(o, e->str, e->len);
        return;
    }
    char head[300];
    int n = snprintf(head, sizeof head, "#!%.*s name=%.*s\n", (int)(e->u.func.engine_len < 64 ? e->u.func.engine_len : 64),
                     (const char *)e->u.func.engine, (int)(e->len2 < 200 ? e->len2 : 200), (const char *)e->str2);
    for (int k = 2; k < n && head[k] != ' '; k++)
        head[k] = (char)(head[k] >= 'A' && head[k] <= 'Z' ? head[k] + 32 : head[k]);
    rmig_resp_bulk_begin(o, (size_t)n + e->len);
    rmig_out_mem(o, head, (size_t)n);
    rmig_out_mem(o, e->str, e->len);
    rmig_resp_bulk_end(o);
}

/* RESTORE key ttl payload REPLACE [ABSTTL] [IDLETIME s | FREQ f], after a
 * SELECT when the key's database is not the current one */
static void resp_restore(rawkey *rk, rmig_out *o, const rmig_rdb_event *e)
{
    if (!rk->selected || rk->db != e->db) {
        rmig_resp_array(o, 2);
        rmig_resp_bulk_str(o, "SELECT");
        rmig_resp_bulk_i64(o, (int64_t)e->db);
        rk->db = e->db;
        rk->selected = 1;
    }
    size_t argc = 4 + rmig_resp_restore_optc(1, e->expire_ms, e->idle_s, e->freq);
    rmig_resp_array(o, argc);
    rmig_resp_bulk_str(o, "RESTORE");
    rmig_resp_bulk(o, e->key, e->key_len);
    rmig_resp_bulk_i64(o, e->expire_ms >= 0 ? e->expire_ms : 0);
    rmig_resp_bulk(o, rk->bytes.buf, rk->bytes.len);
    rmig_resp_restore_opts(o, 1, e->expire_ms, e->idle_s, e->freq);
}

static void raw_event(rawkey *rk, rmig_out *o, const rmig_rdb_event *e, int resp)
{
    if (e->type == RMIG_RDB_EV_KEY) {
        uint8_t t = (uint8_t)e->rdb_type;
        rmig_dump_begin(&rk->d, e->rdb_type);
        rk->bytes.len = 0;
        rmig_out_mem(&rk->bytes, &t, 1);
    } else if (e->type == RMIG_RDB_EV_RAW) {
        rmig_dump_add(&rk->d, e->str, e->len);
        rmig_out_mem(&rk->bytes, e->str, e->len);
    } else if (e->type == RMIG_RDB_EV_KEY_END) {
        uint8_t f[RMIG_DUMP_FOOTER];
        rmig_dump_end(&rk->d, e->version, f);
        rmig_out_mem(&rk->bytes, f, sizeof f);
        if (resp) {
            resp_restore(rk, o, e);
            return;
        }
        rmig_jw_key_head(o, e);
        rmig_out_str(o, ",\"payload\":\"");
        hex(o, (const uint8_t *)rk->bytes.buf, rk->bytes.len);
        rmig_out_str(o, "\"}\n");
    } else if (e->type == RMIG_RDB_EV_FUNCTION && resp) {
        resp_function(o, e);
    }
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    if (*end == 'k' || *end == 'K')
        v <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        v <<= 20, end++;
    else if (*end == 'g' || *end == 'G')
        v <<= 30, end++;
    if (*end)
        return -1;
    *out = (size_t)v;
    return 0;
}

int rmig_inspect_main(int argc, char **argv)
{
    int mode = M_STATS, native = 0;
    const char *path = NULL;
    rmig_rdb_opts ro = {0};
    rmig_stats_opts so = {0};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json"))
            mode = M_JSON;
        else if (!strcmp(a, "--stats"))
            mode = M_STATS;
        else if (!strcmp(a, "--stats-json"))
            mode = M_STATS_JSON;
        else if (!strcmp(a, "--raw"))
            mode = M_RAW;
        else if (!strcmp(a, "--resp"))
            mode = M_RESP;
        else if (!strcmp(a, "--native"))
            native = 1;
        else if (!strcmp(a, "--count"))
            mode = M_COUNT;
        else if (!strcmp(a, "--no-crc"))
            ro.flags |= RMIG_RDB_NO_CRC;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--big") || !strcmp(a, "--top") || !strcmp(a, "--prefix-depth") ||
                   !strcmp(a, "--separator") || !strcmp(a, "--max-record")) {
            size_t v = 0;
            if (!val || (strcmp(a, "--separator") && (parse_size(val, &v) < 0 || v == 0)) ||
                (!strcmp(a, "--separator") && strlen(val) != 1)) {
                fprintf(stderr, "rmig inspect: %s needs %s\n", a,
                        !strcmp(a, "--separator") ? "one character" : "a positive number");
                return 2;
            }
            if (!strcmp(a, "--separator"))
                so.sep = val[0];
            else if (!strcmp(a, "--prefix-depth"))
                so.depth = (int)(v > 64 ? 64 : v);
            else if (!strcmp(a, "--max-record"))
                ro.max_record = v;
            else
                so.top = (int)(v > 100000 ? 100000 : v);
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "rmig inspect: unknown option %s\n\n%s", a, usage);
            return 2;
        } else if (path) {
            fprintf(stderr, "rmig inspect: one file at a time (got %s and %s)\n", path, a);
            return 2;
        } else {
            path = a;
        }
    }
    if (native && mode != M_RESP) {
        fprintf(stderr, "rmig inspect: --native goes with --resp\n");
        return 2;
    }
    if (!path) {
        fprintf(stderr, "rmig inspect: which file? Give a path to an RDB file, or - for stdin\n\n%s", usage);
        return 2;
    }

    /* stats need element counts, not the elements: blobs are walked, strings skipped */
    /* --raw also walks encoded blobs (RMIG_RDB_COUNT), so a corrupt one is refused
     * rather than handed on as a payload; --count only walks the file's structure */
    ro.flags |= native                          ? RMIG_RDB_ELEMENTS
                : mode == M_RAW || mode == M_RESP ? RMIG_RDB_RAW | RMIG_RDB_COUNT
                : mode == M_COUNT ? RMIG_RDB_KEYS
                : mode == M_JSON  ? RMIG_RDB_ELEMENTS
                                  : RMIG_RDB_COUNT;
    char err[512];
    rmig_input *in = rmig_input_open(path, err, sizeof err);
    if (!in) {
        fprintf(stderr, "rmig inspect: %s\n", err);
        return 1;
    }
    rmig_rdb *p = rmig_rdb_new(&ro);
    rmig_stats *st = mode == M_STATS || mode == M_STATS_JSON ? rmig_stats_new(&so) : NULL;
    rmig_out out;
    rmig_jw jw;
    rawkey rk;
    if (!p || rmig_out_init(&out, 1) < 0 || ((mode == M_STATS || mode == M_STATS_JSON) && !st)) {
        fprintf(stderr, "rmig inspect: out of memory\n");
        return 1;
    }
    rmig_jw_init(&jw, &out);
    rmig_native *nat = native ? rmig_native_new(&out, 0) : NULL;
    memset(&rk, 0, sizeof rk);
    rmig_out_init(&rk.bytes, -1);

    progress pr = {0};
    pr.on = (mode == M_STATS || mode == M_STATS_JSON || mode == M_COUNT) && isatty(2);
    pr.total = rmig_input_size(in);
    pr.start_ns = pr.last_ns = now_ns();

    int rc = 0, version = 0, eof = 0;
    uint64_t keys = 0, fed = 0, raw_bytes = 0;
    rmig_rdb_event e;
    while (!eof && !out.err) {
        int r = rmig_rdb_next(p, &e);
        if (r < 0) {
            progress_show(&pr, fed, keys, 1);
            rmig_out_flush(&out);
            fprintf(stderr, "rmig inspect: %s: %s\n", strcmp(path, "-") ? path : "stdin",
                    rmig_rdb_error(p));
            rc = 1;
            break;
        }
        if (r == RMIG_RDB_NEED_MORE) {
            uint8_t *dst = rmig_rdb_space(p, CHUNK);
            if (!dst) {
                fprintf(stderr, "rmig inspect: out of memory\n");
                rc = 1;
                break;
            }
            ssize_t n = rmig_input_read(in, dst, CHUNK, err, sizeof err);
            if (n < 0) {
                fprintf(stderr, "rmig inspect: %s\n", err);
                rc = 1;
                break;
            }
            if (n == 0)
                rmig_rdb_finish(p);
            else
                rmig_rdb_commit(p, (size_t)n);
            fed += (uint64_t)n;
            progress_show(&pr, fed, keys, 0);
            continue;
        }
        switch (r) {
        case RMIG_RDB_EV_BEGIN: version = e.version; break;
        case RMIG_RDB_EV_KEY_END:
            keys++;
            raw_bytes += e.u.end.raw_len;
            if (st)
                rmig_stats_key(st, e.db, e.key, e.key_len, e.kind, e.u.end.raw_len, e.u.end.elements,
                               e.expire_ms);
            break;
        case RMIG_RDB_EV_EOF: eof = 1; break;
        }
        if (mode == M_JSON)
            rmig_jw_event(&jw, &e);
        else if (nat) {
            if (r == RMIG_RDB_EV_FUNCTION)
                resp_function(&out, &e);
            if (rmig_native_event(nat, &e) < 0) {
                rmig_out_flush(&out);
                fprintf(stderr, "rmig inspect: %s: offset %llu: key \"%.*s\" (db %llu): %s\n",
                        strcmp(path, "-") ? path : "stdin", (unsigned long long)e.offset,
                        (int)(e.key_len < 200 ? e.key_len : 200), (const char *)e.key,
                        (unsigned long long)e.db, rmig_native_error(nat));
                rc = 1;
                break;
            }
        } else if (mode == M_RAW || mode == M_RESP)
            raw_event(&rk, &out, &e, mode == M_RESP);
    }
    progress_show(&pr, fed, keys, 1);
    if (rc == 0) {
        const uint8_t *tail;
        size_t tail_len;
        rmig_rdb_tail(p, &tail, &tail_len);
        if (tail_len && mode != M_JSON && mode != M_RAW && mode != M_RESP)
            fprintf(stderr, "rmig inspect: note: %zu bytes follow the end of the RDB data (an AOF "
                            "tail or a replication EOF mark); they were not read\n", tail_len);
        if (st) {
            rmig_stats_file(st, strcmp(path, "-") ? path : "stdin", version, fed);
            if (mode == M_STATS)
                rmig_stats_print_text(st, &out);
            else
                rmig_stats_print_json(st, &out);
        } else if (mode == M_COUNT) {
            rmig_out_printf(&out, "%llu keys, %llu bytes of values, RDB version %d\n",
                            (unsigned long long)keys, (unsigned long long)raw_bytes, version);
        }
    }
    int werr = rmig_out_close(&out);
    if (werr && werr != EPIPE) {
        fprintf(stderr, "rmig inspect: writing the output: %s\n", strerror(werr));
        rc = 1;
    }
    rmig_jw_free(&jw);
    rmig_native_free(nat);
    rmig_out_close(&rk.bytes);
    rmig_stats_free(st);
    rmig_rdb_free(p);
    rmig_input_close(in);
    return rc;
}
