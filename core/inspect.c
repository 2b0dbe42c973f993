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
#include "stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK ((size_t)1 << 20)

enum { M_STATS, M_STATS_JSON, M_JSON, M_RAW, M_COUNT };

static const char usage[] =
    "usage: rmig inspect [--json | --stats | --stats-json | --raw | --count] [options] FILE\n"
    "\n"
    "Reads an RDB file (any Redis version 1.x-8.x, Valkey 7.2-9; '-' reads stdin; .lz4\n"
    "files are decompressed on the fly) and prints:\n"
    "  --stats        (default) keys per db and type, bytes per type, TTLs, the biggest\n"
    "                 keys and bytes by key prefix\n"
    "  --stats-json   the same report as one JSON object\n"
    "  --json         one JSON object per key: db, key, type, value, expire_ms\n"
    "  --raw          one JSON object per key with its DUMP payload in hex\n"
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

/* --raw: the payload of the current key, gathered from its raw pieces */
typedef struct rawkey {
    rmig_out hex;
    rmig_dump d;
} rawkey;

static void raw_event(rawkey *rk, rmig_out *o, const rmig_rdb_event *e)
{
    static const char hx[] = "0123456789abcdef";
    if (e->type == RMIG_RDB_EV_KEY) {
        rmig_dump_begin(&rk->d, e->rdb_type);
        rk->hex.len = 0;
        rmig_out_char(&rk->hex, hx[(e->rdb_type >> 4) & 15]);
        rmig_out_char(&rk->hex, hx[e->rdb_type & 15]);
    } else if (e->type == RMIG_RDB_EV_RAW) {
        rmig_dump_add(&rk->d, e->str, e->len);
        for (size_t i = 0; i < e->len; i++) {
            rmig_out_char(&rk->hex, hx[e->str[i] >> 4]);
            rmig_out_char(&rk->hex, hx[e->str[i] & 15]);
        }
    } else if (e->type == RMIG_RDB_EV_KEY_END) {
        uint8_t f[RMIG_DUMP_FOOTER];
        rmig_dump_end(&rk->d, e->version, f);
        rmig_jw_key_head(o, e);
        rmig_out_str(o, ",\"payload\":\"");
        rmig_out_mem(o, rk->hex.buf, rk->hex.len);
        for (int i = 0; i < RMIG_DUMP_FOOTER; i++) {
            rmig_out_char(o, hx[f[i] >> 4]);
            rmig_out_char(o, hx[f[i] & 15]);
        }
        rmig_out_str(o, "\"}\n");
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
    int mode = M_STATS;
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
    if (!path) {
        fprintf(stderr, "rmig inspect: which file? Give a path to an RDB file, or - for stdin\n\n%s", usage);
        return 2;
    }

    /* stats need element counts, not the elements: blobs are walked, strings skipped */
    /* --raw also walks encoded blobs (RMIG_RDB_COUNT), so a corrupt one is refused
     * rather than handed on as a payload; --count only walks the file's structure */
    ro.flags |= mode == M_RAW     ? RMIG_RDB_RAW | RMIG_RDB_COUNT
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
    rmig_out_init(&rk.hex, -1);

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
        else if (mode == M_RAW)
            raw_event(&rk, &out, &e);
    }
    progress_show(&pr, fed, keys, 1);
    if (rc == 0) {
        const uint8_t *tail;
        size_t tail_len;
        rmig_rdb_tail(p, &tail, &tail_len);
        if (tail_len && mode != M_JSON && mode != M_RAW)
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
    rmig_out_close(&rk.hex);
    rmig_stats_free(st);
    rmig_rdb_free(p);
    rmig_input_close(in);
    return rc;
}
