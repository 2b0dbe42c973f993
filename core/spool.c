/* spool.c - the replication spool: records in memory, then in lz4 segment files.
 *
 * Records live in three places, oldest first:
 *   memory  a list of chunks of encoded records, read in place, up to mem_cap;
 *   disk    segment files of compressed blocks, then wblk, the block the
 *           writer is filling;
 *   rblk    the block the reader takes records from: a block read back from
 *           a file, or wblk itself, handed over when the reader reaches it.
 * disk_active says that the disk part (files, wblk, rblk) holds records:
 * while it does, new records go behind them into wblk, and memory, which only
 * holds records older than all of them, is read first. It ends when the
 * reader has taken the last one, and pushes go to memory again.
 *
 * A record is [type u8][len u32 le][bytes], in memory and in blocks alike. A
 * block on disk is a 20-byte header, all little endian:
 *   magic "RMSP", XXH32 of everything after this field, raw length,
 *   compressed length, record count
 * then the lz4-compressed records. A record longer than a block is a block
 * of its own. A segment file is just blocks one after another; the sizes
 * kept in memory, not the file, say where its blocks end. Files are named
 * rmig-spool-<pid>-<n>.lz4 and created with O_EXCL, so two processes (or two
 * spools) sharing a directory never write the same file, even when a pid is
 * reused or two containers both run as pid 1. */
#include "spool.h"

#include <lz4.h>

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC_HDR 5
#define BLK_HDR 20
#define BLK_MAGIC 0x50534d52u /* "RMSP" */
#define DEF_BLOCK ((size_t)1 << 20)
#define MAX_BLOCK ((size_t)64 << 20)
#define MIN_BLOCK ((size_t)64)
#define DEF_SEGMENT ((uint64_t)64 << 20)

typedef struct chunk { /* memory part: encoded records, taken in place */
    struct chunk *next;
    size_t pos, len, cap; /* next record to read; bytes written; bytes allocated */
    uint8_t buf[];
} chunk;

typedef struct block { /* wblk and rblk */
    uint8_t *p;
    size_t pos, len, cap; /* as in chunk */
    uint32_t nrec;        /* wblk: records in it */
    uint64_t payload;     /* wblk: their lengths */
} block;

typedef struct segment {
    struct segment *next;
    int fd;          /* -1 while neither the writer nor the reader is at this file */
    uint64_t size;   /* bytes written: the blocks end here */
    uint64_t rd_off; /* where the next unread block starts */
    char path[];
} segment;

struct rmig_spool {
    char *dir;
    int made_dir; /* the spool created dir, and removes it when done */
    size_t mem_cap, chunk_cap, block_cap, zbuf_cap;
    uint64_t budget, seg_cap;

    chunk *mem_head, *mem_tail;
    chunk *spare;    /* one emptied chunk kept, so a steady flow does not malloc per chunk */
    size_t mem_used; /* encoded bytes waiting in chunks: what mem_cap bounds */

    int disk_active;
    block wblk, rblk;
    uint8_t *z; /* one compressed block with its header, for the writer or the reader */
    size_t zcap;
    segment *seg_head, *seg_tail; /* every listed segment still has unread blocks */
    segment *wseg;                /* the file blocks are appended to (the tail), NULL: start a new one */
    uint32_t nseg;

    uint64_t records, bytes; /* waiting, everywhere */
    uint64_t disk_raw;       /* record bytes waiting in blocks on disk */
    uint64_t disk_bytes, peak_disk, spilled;

    int rd_rc; /* the first read error, returned again by every later next */
    char rd_err[320];
};

/* The next segment file number, shared by all spools of the process. */
static unsigned long seg_counter;

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t rotl32(uint32_t x, int r)
{
    return x << r | x >> (32 - r);
}

#define XP1 2654435761u
#define XP2 2246822519u
#define XP3 3266489917u
#define XP4 668265263u
#define XP5 374761393u

static uint32_t xround(uint32_t acc, uint32_t in)
{
    return rotl32(acc + in * XP2, 13) * XP1;
}

/* XXH32 as the lz4 frame format specifies it: four lanes, so it runs at
 * several GB/s and adds little to compression and decompression. */
uint32_t rmig__spool_xxh32(const void *data, size_t n, uint32_t seed)
{
    const uint8_t *p = data, *end = p + n;
    uint32_t h;
    if (n >= 16) {
        uint32_t v1 = seed + XP1 + XP2, v2 = seed + XP2, v3 = seed, v4 = seed - XP1;
        do {
            v1 = xround(v1, get32(p));
            v2 = xround(v2, get32(p + 4));
            v3 = xround(v3, get32(p + 8));
            v4 = xround(v4, get32(p + 12));
            p += 16;
        } while (end - p >= 16);
        h = rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18);
    } else {
        h = seed + XP5;
    }
    h += (uint32_t)n;
    for (; end - p >= 4; p += 4)
        h = rotl32(h + get32(p) * XP3, 17) * XP4;
    for (; p < end; p++)
        h = rotl32(h + *p * XP5, 11) * XP1;
    h ^= h >> 15;
    h *= XP2;
    h ^= h >> 13;
    h *= XP3;
    h ^= h >> 16;
    return h;
}

/* Makes *buf hold at least need bytes. A buffer that grew for a big record
 * goes back to the normal size once a normal one is asked for, so one big
 * record does not pin its memory. keep: preserve the contents. */
static int fit(uint8_t **buf, size_t *cap, size_t need, size_t normal, int keep)
{
    if (*buf && *cap >= need && (*cap <= normal || need > normal))
        return 0;
    size_t want = need > normal ? need : normal;
    uint8_t *b;
    if (keep) {
        b = realloc(*buf, want);
    } else {
        free(*buf);
        *buf = NULL;
        b = malloc(want);
    }
    if (!b) {
        if (!keep)
            *cap = 0;
        return -1;
    }
    *buf = b;
    *cap = want;
    return 0;
}

static void encode(uint8_t *d, int type, const void *p, size_t n)
{
    d[0] = (uint8_t)type;
    put32(d + 1, (uint32_t)n);
    if (n)
        memcpy(d + REC_HDR, p, n);
}

/* Takes the record at b[*pos], trusted: written here or checked on load. */
static size_t take(const uint8_t *b, size_t *pos, int *type, const uint8_t **p, size_t *n)
{
    const uint8_t *h = b + *pos;
    *type = h[0];
    *n = get32(h + 1);
    *p = h + REC_HDR;
    *pos += REC_HDR + *n;
    return REC_HDR + *n;
}

/* mkdir -p, each new directory 0700. */
static int make_dir(rmig_spool *s, char *err, size_t errlen)
{
    struct stat st;
    if (stat(s->dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        return fail(err, errlen, RMIG_SPOOL_EIO, "spool directory %s: exists and is not a directory", s->dir);
    }
    for (char *c = s->dir + 1; *c; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        int r = mkdir(s->dir, 0700);
        *c = '/';
        if (r < 0 && errno != EEXIST)
            break; /* the last mkdir reports it */
    }
    if (mkdir(s->dir, 0700) < 0) {
        if (errno == EEXIST && stat(s->dir, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        return fail(err, errlen, RMIG_SPOOL_EIO, "spool directory %s: cannot create it: %s", s->dir,
                    strerror(errno));
    }
    s->made_dir = 1;
    return 0;
}

rmig_spool *rmig_spool_new(const rmig_spool_opts *o, char *err, size_t errlen)
{
    rmig_spool *s = calloc(1, sizeof *s);
    if (!s) {
        fail(err, errlen, RMIG_SPOOL_ENOMEM, "spool: out of memory");
        return NULL;
    }
    s->block_cap = o->block_bytes ? o->block_bytes : DEF_BLOCK;
    if (s->block_cap < MIN_BLOCK)
        s->block_cap = MIN_BLOCK;
    if (s->block_cap > MAX_BLOCK)
        s->block_cap = MAX_BLOCK;
    s->zbuf_cap = BLK_HDR + (size_t)LZ4_compressBound((int)s->block_cap);
    s->budget = o->disk_budget;
    s->seg_cap = o->segment_bytes;
    if (!s->seg_cap) {
        /* files are deleted whole, so under a budget they must be a small
         * part of it, or a half-read file would hold much of it */
        s->seg_cap = DEF_SEGMENT;
        if (s->budget && s->budget / 8 < s->seg_cap)
            s->seg_cap = s->budget / 8 > s->block_cap ? s->budget / 8 : s->block_cap;
    }
    s->mem_cap = o->mem_bytes;
    /* chunks no bigger than the memory bound, so a small bound is not
     * passed by a whole block's worth */
    s->chunk_cap = s->mem_cap < s->block_cap ? s->mem_cap : s->block_cap;
    if (s->chunk_cap < MIN_BLOCK)
        s->chunk_cap = MIN_BLOCK;
    if (o->dir) {
        s->dir = strdup(o->dir);
        if (!s->dir) {
            fail(err, errlen, RMIG_SPOOL_ENOMEM, "spool: out of memory");
            free(s);
            return NULL;
        }
        if (make_dir(s, err, errlen) < 0) {
            free(s->dir);
            free(s);
            return NULL;
        }
    }
    return s;
}

/* Closes and deletes the oldest segment: all its blocks have been read. */
static void seg_drop_head(rmig_spool *s)
{
    segment *g = s->seg_head;
    s->seg_head = g->next;
    if (!s->seg_head)
        s->seg_tail = NULL;
    if (s->wseg == g)
        s->wseg = NULL;
    if (g->fd >= 0)
        close(g->fd);
    unlink(g->path);
    s->disk_bytes -= g->size;
    s->nseg--;
    free(g);
}

static segment *seg_create(rmig_spool *s, char *err, size_t errlen, int *rc)
{
    size_t room = strlen(s->dir) + 64;
    segment *g = malloc(sizeof *g + room);
    if (!g) {
        *rc = fail(err, errlen, RMIG_SPOOL_ENOMEM, "spool: out of memory");
        return NULL;
    }
    g->next = NULL;
    g->size = g->rd_off = 0;
    for (int tries = 0;; tries++) {
        unsigned long k = __atomic_fetch_add(&seg_counter, 1, __ATOMIC_RELAXED);
        snprintf(g->path, room, "%s/rmig-spool-%ld-%lu.lz4", s->dir, (long)getpid(), k);
        g->fd = open(g->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (g->fd >= 0)
            return g;
        /* EEXIST: a file left behind by a process that had our pid */
        if (errno != EEXIST || tries >= 1000)
            break;
    }
    *rc = fail(err, errlen, RMIG_SPOOL_EIO, "spool file %s: cannot create it: %s", g->path, strerror(errno));
    free(g);
    return NULL;
}

static int write_at(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Bytes read, fewer than n only at the end of the file; -1 with errno. */
static ssize_t read_at(int fd, uint8_t *p, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Compresses raw[0..len) (nrec records, payload bytes of them) and appends
 * it to the current segment. The budget is checked against the compressed
 * size before anything is written; a failed write is cut off the file again,
 * so nothing changes unless it all succeeds. */
static int write_block(rmig_spool *s, const uint8_t *raw, size_t len, uint32_t nrec, uint64_t payload,
                       char *err, size_t errlen)
{
    size_t bound = (size_t)LZ4_compressBound((int)len);
    if (fit(&s->z, &s->zcap, BLK_HDR + bound, s->zbuf_cap, 0) < 0)
        return fail(err, errlen, RMIG_SPOOL_ENOMEM, "spool: out of memory for a block of %zu bytes", len);
    int zl = LZ4_compress_default((const char *)raw, (char *)s->z + BLK_HDR, (int)len, (int)bound);
    if (zl <= 0)
        return fail(err, errlen, RMIG_SPOOL_EIO, "spool: lz4 could not compress a block of %zu bytes", len);
    size_t total = BLK_HDR + (size_t)zl;
    put32(s->z, BLK_MAGIC);
    put32(s->z + 8, (uint32_t)len);
    put32(s->z + 12, (uint32_t)zl);
    put32(s->z + 16, nrec);
    put32(s->z + 4, rmig__spool_xxh32(s->z + 8, total - 8, 0));

    if (s->budget && s->disk_bytes + total > s->budget)
        return fail(
            err, errlen, RMIG_SPOOL_FULL,
            "spool disk budget of %llu bytes reached: %llu bytes in %u files in %s, and the next block "
            "needs %zu more; the target is slower than the source: give the spool a larger disk budget "
            "or the pipeline a faster target",
            (unsigned long long)s->budget, (unsigned long long)s->disk_bytes, s->nseg, s->dir, total);

    segment *g = s->wseg;
    int fresh = !g;
    if (fresh) {
        int rc = 0;
        g = seg_create(s, err, errlen, &rc);
        if (!g)
            return rc;
    }
    if (write_at(g->fd, s->z, total, g->size) < 0) {
        int e = errno;
        fail(err, errlen, RMIG_SPOOL_EIO, "spool file %s: cannot write %zu bytes at byte %llu: %s", g->path,
             total, (unsigned long long)g->size, strerror(e));
        if (fresh) {
            close(g->fd);
            unlink(g->path);
            free(g);
        } else if (ftruncate(g->fd, (off_t)g->size) < 0) {
            /* the tail is past g->size, where nothing reads it; it is
             * overwritten by the next block or deleted with the file */
        }
        return RMIG_SPOOL_EIO;
    }
    if (fresh) {
        if (s->seg_tail)
            s->seg_tail->next = g;
        else
            s->seg_head = g;
        s->seg_tail = g;
        s->wseg = g;
        s->nseg++;
    }
    g->size += total;
    s->disk_bytes += total;
    if (s->disk_bytes > s->peak_disk)
        s->peak_disk = s->disk_bytes;
    s->disk_raw += payload;
    s->spilled += payload;
    if (g->size >= s->seg_cap) {
        /* full: the next block starts a new file; the reader may be at this one */
        s->wseg = NULL;
        if (g != s->seg_head) {
            close(g->fd);
            g->fd = -1;
        }
    }
    return 0;
}

static int flush_wblk(rmig_spool *s, char *err, size_t errlen)
{
    int rc = write_block(s, s->wblk.p, s->wblk.len, s->wblk.nrec, s->wblk.payload, err, errlen);
    if (rc == 0) {
        s->wblk.len = 0;
        s->wblk.nrec = 0;
        s->wblk.payload = 0;
    }
    return rc;
}

static int push_disk(rmig_spool *s, int type, const void *p, size_t n, char *err, size_t errlen)
{
    size_t rec = REC_HDR + n;
    if (s->wblk.len == 0 && fit(&s->wblk.p, &s->wblk.cap, s->block_cap, s->block_cap, 0) < 0)
        return fail(err, errlen, RMIG_SPOOL_ENOMEM, "spool: out of memory");
    if (rec > s->block_cap) {
        if (s->wblk.len) {
            int rc = flush_wblk(s, err, errlen);
            if (rc)
                return rc;
        }
        uint8_t *t = malloc(rec);
        if (!t)
            return fail(err, errlen, RMIG_SPOOL_ENOMEM, "spool: out of memory for a record of %zu bytes", n);
        encode(t, type, p, n);
        int rc = write_block(s, t, rec, 1, n, err, errlen);
        free(t);
        if (rc)
            return rc;
    } else {
        if (s->wblk.len + rec > s->block_cap) {
            int rc = flush_wblk(s, err, errlen);
            if (rc)
                return rc;
        }
        encode(s->wblk.p + s->wblk.len, type, p, n);
        s->wblk.len += rec;
        s->wblk.nrec++;
        s->wblk.payload += n;
    }
    s->disk_active = 1;
    return 0;
}

static int push_mem(rmig_spool *s, int type, const void *p, size_t n, char *err, size_t errlen)
{
    size_t rec = REC_HDR + n;
    chunk *c = s->mem_tail;
    if (!c || c->cap - c->len < rec) {
        size_t cap = rec > s->chunk_cap ? rec : s->chunk_cap;
        if (cap == s->chunk_cap && s->spare) {
            c = s->spare;
            s->spare = NULL;
        } else {
            c = malloc(sizeof *c + cap);
            if (!c)
                return fail(err, errlen, RMIG_SPOOL_ENOMEM, "spool: out of memory for a record of %zu bytes",
                            n);
        }
        c->next = NULL;
        c->pos = c->len = 0;
        c->cap = cap;
        if (s->mem_tail)
            s->mem_tail->next = c;
        else
            s->mem_head = c;
        s->mem_tail = c;
    }
    encode(c->buf + c->len, type, p, n);
    c->len += rec;
    s->mem_used += rec;
    return 0;
}

int rmig_spool_push(rmig_spool *s, int type, const void *p, size_t n, char *err, size_t errlen)
{
    assert(type >= 0 && type <= 255);
    if (n > RMIG_SPOOL_MAX_RECORD)
        return fail(err, errlen, RMIG_SPOOL_TOOBIG,
                    "spool: a record of %zu bytes is longer than the %d the spool takes", n,
                    RMIG_SPOOL_MAX_RECORD);
    int rc;
    if (!s->disk_active && s->mem_used + REC_HDR + n <= s->mem_cap)
        rc = push_mem(s, type, p, n, err, errlen);
    else if (!s->dir)
        rc = fail(err, errlen, RMIG_SPOOL_FULL,
                  "spool memory bound of %zu bytes reached (%zu in use, a record of %zu more) and no spool "
                  "directory is set: set one, or give the pipeline a faster target",
                  s->mem_cap, s->mem_used, n);
    else
        rc = push_disk(s, type, p, n, err, errlen);
    if (rc == 0) {
        s->records++;
        s->bytes += n;
    }
    return rc;
}

/* Reads the oldest unread block on disk into rblk, checking everything about
 * it before a record is taken, and deletes its file when it was the last. */
static int load_block(rmig_spool *s)
{
    char *err = s->rd_err;
    size_t errlen = sizeof s->rd_err;
    segment *g = s->seg_head;
    uint64_t off = g->rd_off;
    if (g->fd < 0) {
        g->fd = open(g->path, O_RDONLY | O_CLOEXEC);
        if (g->fd < 0)
            return fail(err, errlen, RMIG_SPOOL_EIO, "spool file %s: cannot open it: %s", g->path,
                        strerror(errno));
    }
    if (fit(&s->z, &s->zcap, BLK_HDR, s->zbuf_cap, 0) < 0)
        return fail(err, errlen, RMIG_SPOOL_ENOMEM, "spool: out of memory");
    ssize_t r = read_at(g->fd, s->z, BLK_HDR, off);
    if (r < 0)
        return fail(err, errlen, RMIG_SPOOL_EIO, "spool file %s: cannot read at byte %llu: %s", g->path,
                    (unsigned long long)off, strerror(errno));
    const char *why = NULL;
    uint32_t zl = 0;
    if (r < BLK_HDR)
        why = "the file ends before the block header does (it was cut short)";
    else if (get32(s->z) != BLK_MAGIC)
        why = "no block starts here";
    else if ((zl = get32(s->z + 12)) > g->size - off - BLK_HDR)
        why = "the block runs past the bytes written to the file";
    if (why)
        goto corrupt;
    if (fit(&s->z, &s->zcap, BLK_HDR + zl, s->zbuf_cap, 1) < 0)
        return fail(err, errlen, RMIG_SPOOL_ENOMEM, "spool: out of memory");
    r = read_at(g->fd, s->z + BLK_HDR, zl, off + BLK_HDR);
    if (r < 0)
        return fail(err, errlen, RMIG_SPOOL_EIO, "spool file %s: cannot read at byte %llu: %s", g->path,
                    (unsigned long long)off, strerror(errno));
    uint32_t raw_len = get32(s->z + 8), nrec = get32(s->z + 16);
    if ((size_t)r < zl) {
        why = "the file ends inside the block (it was cut short)";
        goto corrupt;
    }
    if (rmig__spool_xxh32(s->z + 8, BLK_HDR - 8 + zl, 0) != get32(s->z + 4)) {
        why = "checksum mismatch (the file was changed on disk)";
        goto corrupt;
    }
    if (raw_len > REC_HDR + (uint32_t)RMIG_SPOOL_MAX_RECORD) {
        why = "the block is longer than any the spool writes";
        goto corrupt;
    }
    if (fit(&s->rblk.p, &s->rblk.cap, raw_len, s->block_cap, 0) < 0)
        return fail(err, errlen, RMIG_SPOOL_ENOMEM, "spool: out of memory for a block of %u bytes", raw_len);
    if (LZ4_decompress_safe((const char *)s->z + BLK_HDR, (char *)s->rblk.p, (int)zl, (int)raw_len) !=
        (int)raw_len) {
        why = "the lz4 data does not decode to the block's length";
        goto corrupt;
    }
    uint64_t payload = 0;
    uint32_t count = 0;
    for (size_t pos = 0; pos < raw_len; count++) {
        uint32_t n;
        if (raw_len - pos < REC_HDR || (n = get32(s->rblk.p + pos + 1)) > raw_len - pos - REC_HDR) {
            why = "a record runs past the end of the block";
            goto corrupt;
        }
        pos += REC_HDR + n;
        payload += n;
    }
    if (count != nrec) {
        why = "the block holds another number of records than its header says";
        goto corrupt;
    }
    s->rblk.pos = 0;
    s->rblk.len = raw_len;
    s->disk_raw -= payload;
    g->rd_off = off + BLK_HDR + zl;
    if (g->rd_off == g->size)
        seg_drop_head(s);
    return 0;
corrupt:
    return fail(err, errlen, RMIG_SPOOL_CORRUPT, "spool file %s: corrupt block at byte %llu: %s", g->path,
                (unsigned long long)off, why);
}

int rmig_spool_next(rmig_spool *s, int *type, const uint8_t **p, size_t *n, char *err, size_t errlen)
{
    if (s->rd_rc)
        return fail(err, errlen, s->rd_rc, "%s", s->rd_err);
    for (;;) {
        chunk *c = s->mem_head;
        if (c) {
            if (c->pos < c->len) {
                s->mem_used -= take(c->buf, &c->pos, type, p, n);
                break;
            }
            /* the record returned last lived here, and may go now */
            s->mem_head = c->next;
            if (!s->mem_head)
                s->mem_tail = NULL;
            if (c->cap == s->chunk_cap && !s->spare)
                s->spare = c;
            else
                free(c);
            continue;
        }
        if (s->rblk.pos < s->rblk.len) {
            take(s->rblk.p, &s->rblk.pos, type, p, n);
            /* the last record of the disk part: new ones may go to memory */
            if (s->rblk.pos == s->rblk.len && !s->seg_head && !s->wblk.len)
                s->disk_active = 0;
            break;
        }
        if (!s->disk_active)
            return 0;
        if (s->seg_head) {
            int rc = load_block(s);
            if (rc) {
                s->rd_rc = rc;
                return fail(err, errlen, rc, "%s", s->rd_err);
            }
            continue;
        }
        if (s->wblk.len) {
            /* the reader caught up with the writer: take its block as it is */
            block t = s->rblk;
            s->rblk = s->wblk;
            s->rblk.pos = 0;
            s->wblk = t;
            s->wblk.pos = s->wblk.len = 0;
            s->wblk.nrec = 0;
            s->wblk.payload = 0;
            continue;
        }
        s->disk_active = 0;
        return 0;
    }
    s->records--;
    s->bytes -= *n;
    return 1;
}

void rmig_spool_stats_get(const rmig_spool *s, rmig_spool_stats *st)
{
    memset(st, 0, sizeof *st);
    st->records = s->records;
    st->bytes = s->bytes;
    st->mem_bytes = s->bytes - s->disk_raw;
    st->disk_bytes = s->disk_bytes;
    st->disk_raw_bytes = s->disk_raw;
    st->peak_disk_bytes = s->peak_disk;
    st->total_spilled = s->spilled;
    st->segments = s->nseg;
}

void rmig_spool_free(rmig_spool *s)
{
    if (!s)
        return;
    while (s->seg_head)
        seg_drop_head(s);
    while (s->mem_head) {
        chunk *c = s->mem_head;
        s->mem_head = c->next;
        free(c);
    }
    free(s->spare);
    free(s->wblk.p);
    free(s->rblk.p);
    free(s->z);
    if (s->made_dir)
        rmdir(s->dir); /* fails, and should, when someone else put files there */
    free(s->dir);
    free(s);
}

/* Files a killed run left: their data is past (the state file says where
 * to resume) and the budget would count them. Files of a process that is
 * still running are left alone. */
unsigned rmig_spool_sweep(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *de;
    unsigned swept = 0;
    while ((de = readdir(d)) != NULL) {
        int pid;
        if (sscanf(de->d_name, "rmig-spool-%d-", &pid) != 1 || pid <= 0 || pid == (int)getpid())
            continue;
        if (kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        swept += unlink(path) == 0;
    }
    closedir(d);
    return swept;
}
