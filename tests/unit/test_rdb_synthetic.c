/* test_rdb_synthetic.c - hand-built RDB inputs for what the corpus lacks:
 * Valkey 9's HASH_2 and SLOT_IMPORT, Redis 8.6's KEY_META, 64-bit lengths,
 * huge strings in pieces (plain, and LZF-compressed ones decoded as they
 * arrive, in bounded memory), limits, and every kind of broken input. */
#include "crc64.h"
#include "dump.h"
#include "lzf.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a tiny RDB writer ---- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void byte(buf *b, int c)
{
    uint8_t x = (uint8_t)c;
    put(b, &x, 1);
}

static void le(buf *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        byte(b, (int)(v >> (8 * i)));
}

/* a length in its shortest form, or forced to the 32/64-bit forms */
static void len_(buf *b, uint64_t v, int force)
{
    if (force == 64 || v > 0xFFFFFFFFULL) {
        byte(b, 0x81);
        for (int i = 7; i >= 0; i--)
            byte(b, (int)(v >> (8 * i)));
    } else if (force == 32 || v >= 16384) {
        byte(b, 0x80);
        for (int i = 3; i >= 0; i--)
            byte(b, (int)(v >> (8 * i)));
    } else if (v < 64) {
        byte(b, (int)v);
    } else {
        byte(b, 0x40 | (int)(v >> 8));
        byte(b, (int)(v & 0xff));
    }
}

static void len(buf *b, uint64_t v) { len_(b, v, 0); }

static void str(buf *b, const char *s)
{
    len(b, strlen(s));
    put(b, s, strlen(s));
}

static void header(buf *b, const char *magic)
{
    b->n = 0;
    put(b, magic, 9);
}

static void finish(buf *b, int version)
{
    byte(b, 0xFF);
    if (version >= 5)
        le(b, rmig_crc64(0, b->p, b->n), 8);
}

/* ---- running the parser over a buffer and collecting what it says ---- */

typedef struct seen {
    int rc;
    char err[400];
    int keys, strs, ttls, metas, imports, eofs, raws;
    char text[4096];     /* decoded strings joined by '|' */
    int64_t ttl[16];
    uint64_t raw_len;    /* sum of RAW bytes */
    uint64_t end_raw_len;
    int has_meta;
    int checked;
    size_t tail;
    uint64_t db;
    int64_t expire;
    double score[8];
    int nscore;
    uint64_t maxpiece;
    uint64_t crc, bytes, completed; /* over all STR pieces; strings completed */
    uint64_t next_off;   /* where the next piece of the current string must start */
    int disorder;        /* a piece out of place, or last set wrongly */
    size_t max_memory;   /* the most rmig_rdb_memory said */
} seen;

static void run(const buf *b, const rmig_rdb_opts *o, size_t chunk, seen *s)
{
    memset(s, 0, sizeof *s);
    s->expire = -2;
    rmig_rdb *p = rmig_rdb_new(o);
    size_t pos = 0, tl = 0;
    int fin = 0;
    rmig_rdb_event e;
    for (;;) {
        int r = rmig_rdb_next(p, &e);
        if (rmig_rdb_memory(p) > s->max_memory)
            s->max_memory = rmig_rdb_memory(p);
        if (r < 0) {
            s->rc = r;
            snprintf(s->err, sizeof s->err, "%s", rmig_rdb_error(p));
            break;
        }
        if (r == 0) {
            if (pos < b->n) {
                size_t n = chunk && chunk < b->n - pos ? chunk : b->n - pos;
                rmig_rdb_feed(p, b->p + pos, n);
                pos += n;
            } else if (!fin) {
                rmig_rdb_finish(p);
                fin = 1;
            } else {
                break;
            }
            continue;
        }
        switch (r) {
        case RMIG_RDB_EV_KEY:
            s->keys++;
            s->db = e.db;
            s->expire = e.expire_ms;
            break;
        case RMIG_RDB_EV_STR: {
            size_t l = strlen(s->text);
            if (e.len > s->maxpiece)
                s->maxpiece = e.len;
            if (l + e.len + 2 < sizeof s->text) {
                memcpy(s->text + l, e.str, e.len);
                s->text[l + e.len] = e.u.piece.last ? '|' : 0;
                s->text[l + e.len + 1] = 0;
            }
            s->strs++;
            s->crc = rmig_crc64(s->crc, e.str, e.len);
            s->bytes += e.len;
            if (e.u.piece.off != s->next_off || e.u.piece.off + e.len > e.u.piece.total ||
                (e.u.piece.last != 0) != (e.u.piece.off + e.len == e.u.piece.total))
                s->disorder = 1;
            s->next_off = e.u.piece.last ? 0 : e.u.piece.off + e.len;
            s->completed += e.u.piece.last != 0;
            break;
        }
        case RMIG_RDB_EV_FIELD_TTL:
            if (s->ttls < 16)
                s->ttl[s->ttls] = e.u.ttl_ms;
            s->ttls++;
            break;
        case RMIG_RDB_EV_SCORE:
            if (s->nscore < 8)
                s->score[s->nscore++] = rmig_rdb_score(&e);
            break;
        case RMIG_RDB_EV_SLOT_IMPORT: s->imports++; break;
        case RMIG_RDB_EV_RAW:
            s->raws++;
            s->raw_len += e.len;
            break;
        case RMIG_RDB_EV_KEY_END:
            s->end_raw_len = e.u.end.raw_len;
            s->has_meta |= e.u.end.has_meta;
            break;
        case RMIG_RDB_EV_EOF:
            s->eofs++;
            s->checked = e.u.eof.checked;
            break;
        }
        if (r == RMIG_RDB_EV_EOF) {
            const uint8_t *t;
            rmig_rdb_tail(p, &t, &tl);
            s->tail = tl + (b->n - pos);
            break;
        }
    }
    rmig_rdb_free(p);
}

static const rmig_rdb_opts elems = {RMIG_RDB_ELEMENTS, 0, 0, 0};

/* ---- long LZF strings ---- */

/* LZF data that decodes to total bytes (at least 8192): 8 KiB of literals
 * from *rng, then back-references of up to 264 bytes from anywhere in the
 * 8 KiB window; about 3 bytes of data per 264 of string. */
static void lzf_data(buf *d, uint64_t total, uint64_t *rng)
{
    uint64_t made = 0;
    d->n = 0;
    while (made < 8192) {
        byte(d, 31);
        for (int i = 0; i < 32; i++)
            byte(d, (int)rmig_t_rand(rng));
        made += 32;
    }
    while (made < total) {
        uint64_t r = rmig_t_rand(rng), left = total - made;
        unsigned dist = (unsigned)(r % 8192), l = left < 264 ? (unsigned)left : 264;
        if (l < 3) {
            byte(d, (int)l - 1);
            for (unsigned i = 0; i < l; i++)
                byte(d, 'z');
        } else if (l - 2 < 7) {
            byte(d, (int)((l - 2) << 5 | dist >> 8));
            byte(d, (int)(dist & 0xff));
        } else {
            byte(d, (int)(7 << 5 | dist >> 8));
            byte(d, (int)(l - 2 - 7));
            byte(d, (int)(dist & 0xff));
        }
        made += l;
    }
}

/* An LZF-encoded RDB string of data d decoding to ulen bytes. */
static void lzf_str(buf *b, const buf *d, uint64_t ulen)
{
    byte(b, 0xC3);
    len(b, d->n);
    len(b, ulen);
    put(b, d->p, d->n);
}

/* A 64 MiB LZF string (about 770 KB in the file) comes in pieces, decoded as
 * its bytes arrive: the pieces add up to the string and the parser holds a
 * few hundred KiB, not the string nor its compressed form. */
static void long_lzf(buf *b, uint64_t *rng)
{
    const uint64_t total = (uint64_t)64 << 20;
    buf d = {0};
    lzf_data(&d, total, rng);
    uint8_t *whole = malloc(total);
    int ok = whole && rmig_lzf_decompress(d.p, d.n, whole, total) == 0;
    uint64_t want = ok ? rmig_crc64(0, whole, total) : 0;
    free(whole);
    CHECK("the test's 64 MiB LZF data decodes whole", ok, "it does not");
    header(b, "REDIS0010");
    byte(b, 0);
    str(b, "huge");
    lzf_str(b, &d, total);
    finish(b, 10);

    seen st;
    rmig_rdb_opts o = {RMIG_RDB_ELEMENTS, 0, 0, 0};
    run(b, &o, 65536, &st);
    printf("# 64 MiB LZF string (%zu bytes of data): %llu pieces, at most %zu bytes held\n", d.n,
           (unsigned long long)st.strs, st.max_memory);
    CHECK("a 64 MiB LZF string comes in 256 KiB pieces that add up to it (CRC64)",
          st.rc == 0 && st.completed == 1 && st.bytes == total && st.crc == want && !st.disorder &&
              st.maxpiece == 256u << 10 && (uint64_t)st.strs == total / (256u << 10),
          "rc %d %s: %llu strings, %llu bytes, crc %s, in order %d, max piece %llu", st.rc, st.err,
          (unsigned long long)st.completed, (unsigned long long)st.bytes, st.crc == want ? "ok" : "wrong",
          !st.disorder, (unsigned long long)st.maxpiece);
    CHECK("decoding the 64 MiB LZF string holds under 1 MiB (64 KiB feeds)",
          st.max_memory < (1u << 20), "%zu bytes", st.max_memory);

    /* raw too: the raw parts pass through the buffer beside the pieces */
    rmig_rdb_opts both = {RMIG_RDB_RAW | RMIG_RDB_ELEMENTS, 0, 0, 0};
    run(b, &both, 65536, &st);
    CHECK("with raw values too, the 64 MiB LZF string decodes and its raw bytes all pass, in under 3 MiB",
          st.rc == 0 && st.bytes == total && st.crc == want && !st.disorder && st.raw_len == d.n + 1 + 5 + 5 &&
              st.max_memory < (3u << 20),
          "rc %d %s: %llu bytes, raw %llu, %zu bytes held", st.rc, st.err, (unsigned long long)st.bytes,
          (unsigned long long)st.raw_len, st.max_memory);

    /* held whole it would need max_record; decoded as it arrives it does not */
    rmig_rdb_opts limited = {RMIG_RDB_ELEMENTS, 1 << 20, 65536, 0};
    run(b, &limited, 4096, &st);
    CHECK("a 64 MiB LZF string is decoded under a 1 MiB record limit, in 64 KiB pieces",
          st.rc == 0 && st.bytes == total && st.crc == want && !st.disorder && st.maxpiece == 65536 &&
              st.max_memory < (256u << 10),
          "rc %d %s: %llu bytes, max piece %llu, %zu bytes held", st.rc, st.err, (unsigned long long)st.bytes,
          (unsigned long long)st.maxpiece, st.max_memory);
    free(d.p);
}

/* LZF strings as elements of every non-blob collection, long and short, the
 * same events however the input is split; and broken ones refused with the
 * offset and the key. */
static void lzf_elements(buf *b, uint64_t *rng)
{
    buf d = {0}, d2 = {0};
    lzf_data(&d, 20000, rng);
    lzf_data(&d2, 9000, rng);
    const uint8_t small[] = {0x02, 'a', 'b', 'c', (7 << 5) | 0, 18, 2}; /* "abc" x 10 */
    buf sm = {(uint8_t *)small, sizeof small, sizeof small};
    header(b, "REDIS0009");
    byte(b, 1); /* list: long, short, long */
    str(b, "l");
    len(b, 3);
    lzf_str(b, &d, 20000);
    lzf_str(b, &sm, 30);
    lzf_str(b, &d2, 9000);
    byte(b, 4); /* hash: long field, long value */
    str(b, "h");
    len(b, 1);
    lzf_str(b, &d2, 9000);
    lzf_str(b, &d, 20000);
    byte(b, 5); /* zset_2: long member */
    str(b, "z");
    len(b, 1);
    lzf_str(b, &d, 20000);
    le(b, 0, 8);
    byte(b, 2); /* set: long member */
    str(b, "s");
    len(b, 1);
    lzf_str(b, &d2, 9000);
    finish(b, 9);

    seen st;
    rmig_rdb_opts o = {RMIG_RDB_ELEMENTS, 0, 4096, 0};
    run(b, &o, 1000, &st);
    uint64_t n = 20000 + 30 + 9000 + 9000 + 20000 + 20000 + 9000;
    CHECK("LZF list items, hash fields and values, zset and set members longer than a piece come in pieces",
          st.rc == 0 && st.completed == 7 && st.bytes == n && !st.disorder && st.maxpiece == 4096 &&
              (uint64_t)st.strs == 5 + 1 + 3 + 3 + 5 + 5 + 3,
          "rc %d %s: %llu strings, %llu pieces, %llu bytes, max %llu", st.rc, st.err,
          (unsigned long long)st.completed, (unsigned long long)st.strs, (unsigned long long)st.bytes,
          (unsigned long long)st.maxpiece);
    int same = 1;
    static const int levels[] = {RMIG_RDB_ELEMENTS, RMIG_RDB_RAW | RMIG_RDB_ELEMENTS, RMIG_RDB_COUNT};
    for (int l = 0; l < 3; l++) {
        rmig_rdb_opts lo = {levels[l], 0, 4096, 2048};
        rmig_t_result whole, other;
        rmig_t_parse(b->p, b->n, &lo, 0, NULL, &whole);
        size_t splits[] = {1, 3, 5000, RMIG_T_EAGER | 64};
        for (int k = 0; k < 4; k++) {
            rmig_t_parse(b->p, b->n, &lo, splits[k], rng, &other);
            same &= whole.rc == 0 && other.rc == 0 && other.digest == whole.digest &&
                    other.raw_digest == whole.raw_digest && other.events == whole.events;
        }
    }
    CHECK("the LZF elements give the same events whole, byte by byte and in random pieces", same, "they differ");

    /* a broken token deep inside (the 21st back-reference turned into a
     * literal run that swallows ten more, so the data decodes to 17128 bytes): the error names the offset where the data
     * ends and the key, the same however the input arrives, after the same
     * pieces */
    header(b, "REDIS0009");
    byte(b, 0);
    str(b, "bad");
    lzf_str(b, &d, 20000);
    size_t data_at = b->n - d.n;
    b->p[data_at + 8448 + 3 * 20] = 0x1f;
    finish(b, 9);
    rmig_t_result whole, other;
    rmig_t_parse(b->p, b->n, &o, 0, NULL, &whole);
    char want[64];
    snprintf(want, sizeof want, "offset %zu:", data_at + d.n);
    int split_same = 1;
    for (size_t k = 1; k < 200; k += 37) {
        rmig_t_parse(b->p, b->n, &o, k, rng, &other);
        split_same &= other.rc == whole.rc && other.digest == whole.digest && other.events == whole.events &&
                      !strcmp(other.err, whole.err);
    }
    CHECK("a long LZF string whose data decodes short is refused with the offset and the key",
          whole.rc == RMIG_ECORRUPT && !strncmp(whole.err, want, strlen(want)) &&
              strstr(whole.err, "fewer bytes") && strstr(whole.err, "key \"bad\""),
          "rc %d %s (want %s)", whole.rc, whole.err, want);
    CHECK("that error, and the pieces before it, are the same however the input is split",
          split_same && whole.events == 2 + 17128 / 4096, "they differ (%llu events)", (unsigned long long)whole.events);

    /* a back-reference before the start, in the first token after the literals */
    header(b, "REDIS0009");
    byte(b, 0);
    str(b, "early");
    const uint8_t early[] = {0x00, 'a', (1 << 5) | 0, 5};
    byte(b, 0xC3);
    len(b, 20000);
    len(b, 100000);
    data_at = b->n;
    put(b, early, sizeof early);
    rmig_t_parse(b->p, b->n, &o, 0, NULL, &whole);
    snprintf(want, sizeof want, "offset %zu:", data_at + 2);
    CHECK("a back-reference before the start of a long LZF string is refused at its own offset",
          whole.rc == RMIG_ECORRUPT && !strncmp(whole.err, want, strlen(want)) && strstr(whole.err, "before the start") &&
              strstr(whole.err, "key \"early\""),
          "rc %d %s (want %s)", whole.rc, whole.err, want);

    /* cut short inside the compressed data: truncated, at the end of the input */
    header(b, "REDIS0009");
    byte(b, 0);
    str(b, "cut");
    lzf_str(b, &d, 20000);
    b->n -= 100;
    rmig_t_parse(b->p, b->n, &o, 0, NULL, &whole);
    rmig_t_parse(b->p, b->n, &o, 7, rng, &other);
    snprintf(want, sizeof want, "offset %zu:", b->n);
    CHECK("a long LZF string cut short is a truncation reported at the end of the input, however split",
          whole.rc == RMIG_ETRUNC && other.rc == RMIG_ETRUNC && !strcmp(whole.err, other.err) &&
              !strncmp(whole.err, want, strlen(want)) && whole.digest == other.digest,
          "rc %d/%d %s | %s", whole.rc, other.rc, whole.err, other.err);
    free(d.p);
    free(d2.p);
}

int main(void)
{
    buf b = {0};
    seen s;
    rmig_t_seed();

    /* RDB 1: EXPIRETIME in seconds, a plain list, a zset with ASCII and inf scores, a hash */
    header(&b, "REDIS0001");
    byte(&b, 253);
    le(&b, 2000000000, 4);
    byte(&b, 1);
    str(&b, "l");
    len(&b, 2);
    str(&b, "a");
    str(&b, "b");
    byte(&b, 3);
    str(&b, "z");
    len(&b, 3);
    str(&b, "m1");
    byte(&b, 3);
    put(&b, "2.5", 3);
    str(&b, "m2");
    byte(&b, 254);
    str(&b, "m3");
    byte(&b, 255);
    byte(&b, 4);
    str(&b, "h");
    len(&b, 1);
    str(&b, "f");
    str(&b, "v");
    finish(&b, 1);
    run(&b, &elems, 1, &s);
    CHECK("an RDB 1 file with seconds expiry, list, ASCII-score zset and hash decodes",
          s.rc == 0 && s.keys == 3 && !strcmp(s.text, "a|b|m1|m2|m3|f|v|") && s.checked == -1,
          "rc %d %s text %s", s.rc, s.err, s.text);
    CHECK("ASCII zset scores decode, with 254/255 as +inf/-inf",
          s.nscore == 3 && s.score[0] == 2.5 && isinf(s.score[1]) && s.score[1] > 0 && isinf(s.score[2]) &&
              s.score[2] < 0,
          "scores %g %g %g", s.score[0], s.score[1], s.score[2]);

    /* 32- and 64-bit lengths, a db number past 2^32 */
    header(&b, "REDIS0009");
    byte(&b, 254);
    len_(&b, 5000000000ULL, 64);
    byte(&b, 0);
    len_(&b, 1, 32);
    put(&b, "k", 1);
    len_(&b, 3, 64);
    put(&b, "val", 3);
    finish(&b, 9);
    run(&b, &elems, 0, &s);
    CHECK("32- and 64-bit lengths are read, and a large db number kept",
          s.rc == 0 && s.keys == 1 && s.db == 5000000000ULL && !strcmp(s.text, "val|"), "rc %d %s db %llu",
          s.rc, s.err, (unsigned long long)s.db);

    /* Valkey 9: HASH_2 field TTLs (-1 none, 0 a real time) and SLOT_IMPORT */
    header(&b, "VALKEY080");
    byte(&b, 243);
    str(&b, "job-0123456789012345678901234567890123456");
    len(&b, 2);
    len(&b, 0);
    len(&b, 100);
    len(&b, 200);
    len(&b, 16383);
    byte(&b, 22);
    str(&b, "vh");
    len(&b, 3);
    str(&b, "f1");
    str(&b, "v1");
    le(&b, (uint64_t)-1, 8);
    str(&b, "f2");
    str(&b, "v2");
    le(&b, 1700000000123ULL, 8);
    str(&b, "f3");
    str(&b, "v3");
    le(&b, 0, 8);
    finish(&b, 80);
    run(&b, &elems, 3, &s);
    CHECK("a VALKEY080 file with SLOT_IMPORT and a HASH_2 value decodes",
          s.rc == 0 && s.keys == 1 && s.imports == 1 && !strcmp(s.text, "f1|v1|f2|v2|f3|v3|"), "rc %d %s %s",
          s.rc, s.err, s.text);
    CHECK("HASH_2 field TTLs: -1 is none, other values (0 too) are expiry times",
          s.ttls == 2 && s.ttl[0] == 1700000000123LL && s.ttl[1] == 0, "ttls %d: %lld %lld", s.ttls,
          (long long)s.ttl[0], (long long)s.ttl[1]);

    /* the same bytes under a REDIS magic: 243 is not an opcode before RDB 13 */
    memcpy(b.p, "REDIS0011", 9);
    run(&b, &elems, 0, &s);
    CHECK("opcode 243 in an RDB 11 file is an error naming its offset",
          s.rc == RMIG_ECORRUPT && strstr(s.err, "offset 9:") && strstr(s.err, "243"), "rc %d %s", s.rc,
          s.err);

    /* Redis 8.6 KEY_META before a key, with every module opcode */
    header(&b, "REDIS0013");
    byte(&b, 243);
    len(&b, 2);
    le(&b, 7, 4);
    len(&b, 1);
    len(&b, 42);
    len(&b, 5);
    str(&b, "meta-string");
    len(&b, 0);
    le(&b, 9, 4);
    len(&b, 3);
    le(&b, 0, 4);
    len(&b, 4);
    le(&b, 0, 8);
    len(&b, 0);
    byte(&b, 0);
    str(&b, "mk");
    str(&b, "mv");
    finish(&b, 13);
    run(&b, &elems, 2, &s);
    CHECK("KEY_META classes are skipped and the key is marked as having metadata",
          s.rc == 0 && s.keys == 1 && s.has_meta && !strcmp(s.text, "mv|"), "rc %d %s meta %d", s.rc, s.err,
          s.has_meta);

    /* module type 6 cannot be read: the error names the module */
    header(&b, "REDIS0008");
    byte(&b, 6);
    str(&b, "m");
    uint64_t id = 0;
    const char *set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *name = "ReJSON-RL";
    for (int i = 0; i < 9; i++)
        id = id << 6 | (uint64_t)(strchr(set, name[i]) - set);
    len(&b, id << 10);
    put(&b, "\x01\x02\x03", 3);
    finish(&b, 8);
    run(&b, &elems, 0, &s);
    CHECK("a pre-release module value (type 6) is refused, naming the module and offset",
          s.rc == RMIG_EUNSUP && strstr(s.err, "ReJSON-RL") && strstr(s.err, "offset"), "rc %d %s", s.rc,
          s.err);

    /* a module type 7 value is skipped by its opcodes; its raw bytes are all delivered */
    header(&b, "REDIS0009");
    byte(&b, 7);
    str(&b, "m");
    len(&b, (id << 10) | 3);
    len(&b, 2);
    len(&b, 12345);
    len(&b, 5);
    str(&b, "module-private-bytes-module-private-bytes");
    len(&b, 4);
    le(&b, 0, 8);
    len(&b, 0);
    finish(&b, 9);
    rmig_rdb_opts both = {RMIG_RDB_RAW | RMIG_RDB_ELEMENTS, 0, 0, 0};
    run(&b, &both, 1, &s);
    CHECK("a module value (type 7) is walked by its opcodes and delivered raw",
          s.rc == 0 && s.keys == 1 && s.raw_len == s.end_raw_len && s.end_raw_len > 40, "rc %d %s raw %llu/%llu",
          s.rc, s.err, (unsigned long long)s.raw_len, (unsigned long long)s.end_raw_len);

    /* versions */
    header(&b, "REDIS0014");
    finish(&b, 14);
    run(&b, &elems, 0, &s);
    CHECK("RDB version 14 is refused as unsupported, up front", s.rc == RMIG_EUNSUP && strstr(s.err, "offset 5"),
          "rc %d %s", s.rc, s.err);
    header(&b, "VALKEY081");
    finish(&b, 81);
    run(&b, &elems, 0, &s);
    CHECK("VALKEY081 is refused as unsupported", s.rc == RMIG_EUNSUP, "rc %d %s", s.rc, s.err);
    header(&b, "REDIX0009");
    finish(&b, 9);
    run(&b, &elems, 0, &s);
    CHECK("a file that is not an RDB says so", s.rc == RMIG_ECORRUPT && strstr(s.err, "not an RDB"), "rc %d %s",
          s.rc, s.err);

    /* CRC: wrong, disabled (0), trailing bytes */
    header(&b, "REDIS0010");
    byte(&b, 0);
    str(&b, "k");
    str(&b, "v");
    finish(&b, 10);
    b.p[b.n - 3] ^= 1;
    run(&b, &elems, 0, &s);
    CHECK("a wrong CRC64 is an error naming the offset of the trailer",
          s.rc == RMIG_ECRC && strstr(s.err, "CRC64") && strstr(s.err, "offset 15"), "rc %d %s", s.rc, s.err);
    memset(b.p + b.n - 8, 0, 8);
    run(&b, &elems, 0, &s);
    CHECK("a stored CRC of 0 means the checksum is disabled", s.rc == 0 && s.checked == 0, "rc %d checked %d",
          s.rc, s.checked);
    put(&b, "*1\r\n$4\r\nPING\r\n", 14);
    run(&b, &elems, 0, &s);
    CHECK("bytes after the RDB are left for the caller", s.rc == 0 && s.tail == 14, "rc %d tail %zu", s.rc,
          s.tail);

    /* truncation anywhere: an error, never EOF, never a crash */
    header(&b, "REDIS0010");
    byte(&b, 250);
    str(&b, "redis-ver");
    str(&b, "7.0.15");
    byte(&b, 254);
    len(&b, 0);
    byte(&b, 252);
    le(&b, 1800000000000ULL, 8);
    byte(&b, 0);
    str(&b, "key");
    str(&b, "some value");
    byte(&b, 18);
    str(&b, "list");
    len(&b, 1);
    len(&b, 1);
    str(&b, "plain node");
    finish(&b, 10);
    run(&b, &elems, 0, &s);
    CHECK("the truncation sample parses whole", s.rc == 0 && s.keys == 2 && s.expire == -1 &&
                                                    !strcmp(s.text, "some value|plain node|"),
          "rc %d %s %s", s.rc, s.err, s.text);
    int all_trunc = 1;
    size_t full = b.n;
    for (size_t cut = 0; cut < full; cut++) {
        b.n = cut;
        run(&b, &both, 1, &s);
        if (s.rc != RMIG_ETRUNC && s.rc >= 0)
            all_trunc = 0;
        if (s.eofs)
            all_trunc = 0;
    }
    b.n = full;
    CHECK("a file cut at any byte ends in an error, never in EOF", all_trunc, "a cut parsed as complete");
    b.n = full - 4;
    run(&b, &elems, 0, &s);
    CHECK("a truncated file names the offset where the input ends", s.rc == RMIG_ETRUNC && strstr(s.err, "offset"),
          "%s", s.err);
    b.n = full;

    /* limits: a key longer than max_record is refused without waiting for its bytes */
    header(&b, "REDIS0010");
    byte(&b, 0);
    len(&b, 1u << 30);
    rmig_rdb_opts small = {RMIG_RDB_ELEMENTS, 1 << 20, 0, 0};
    run(&b, &small, 0, &s);
    CHECK("a 1 GiB key name over a 1 MiB limit is refused at once, not allocated",
          s.rc == RMIG_ELIMIT && strstr(s.err, "limit"), "rc %d %s", s.rc, s.err);
    header(&b, "REDIS0010");
    byte(&b, 0);
    str(&b, "k");
    byte(&b, 0xC3);
    len(&b, 10);
    len(&b, 1000000);
    run(&b, &elems, 0, &s);
    CHECK("an LZF string claiming an impossible expansion is refused", s.rc == RMIG_ECORRUPT && strstr(s.err, "LZF"),
          "rc %d %s", s.rc, s.err);

    /* a 3 MB string arrives in pieces of exactly opts.piece bytes, raw in raw_inline parts */
    header(&b, "REDIS0010");
    byte(&b, 0);
    str(&b, "big");
    size_t big = 3u << 20;
    len(&b, big);
    uint64_t rs = rmig_t_seed();
    for (size_t i = 0; i < big; i++)
        byte(&b, 'a' + (int)(rmig_t_rand(&rs) % 26));
    finish(&b, 10);
    rmig_rdb_opts pieces = {RMIG_RDB_RAW | RMIG_RDB_ELEMENTS, 0, 65536, 1 << 20};
    run(&b, &pieces, 100000, &s);
    CHECK("a 3 MiB string comes in 64 KiB pieces", s.rc == 0 && s.strs == 48 && s.maxpiece == 65536,
          "rc %d %s pieces %d max %llu", s.rc, s.err, s.strs, (unsigned long long)s.maxpiece);
    CHECK("its raw bytes come in 1 MiB parts that add up to the value",
          s.raws == 4 && s.raw_len == s.end_raw_len && s.raw_len == big + 5, "raws %d raw %llu end %llu", s.raws,
          (unsigned long long)s.raw_len, (unsigned long long)s.end_raw_len);

    /* a value that yields no element events for a long stretch (50000 empty listpack
       nodes) still hands its raw bytes on as it goes: memory stays bounded */
    header(&b, "REDIS0010");
    byte(&b, 18);
    str(&b, "empties");
    len(&b, 50000);
    for (int i = 0; i < 50000; i++) {
        byte(&b, 2);
        len(&b, 7);
        put(&b, "\x07\x00\x00\x00\x00\x00\xff", 7);
    }
    finish(&b, 10);
    rmig_rdb_opts tight = {RMIG_RDB_RAW | RMIG_RDB_ELEMENTS, 1 << 16, 4096, 4096};
    rmig_t_result tr;
    rmig_t_parse(b.p, b.n, &tight, 1000, &rs, &tr);
    CHECK("50000 empty list nodes (450 KB, no element events) are parsed in bounded memory",
          tr.rc == 0 && tr.max_memory < (200u << 10), "rc %d, %zu bytes held: %s", tr.rc, tr.max_memory,
          tr.err);

    long_lzf(&b, &rs);
    lzf_elements(&b, &rs);

    /* zset scores stored as text must be numbers */
    const char *bad_scores[] = {"ee", "1-1", "", "1e", "--1", "0x10", "1.2.3", "infx"};
    const char *good_scores[] = {"1", "-2.5", "+0.5", ".5", "5.", "1e+25", "-1.0000000000000001E-300", "inf",
                                 "-inf", "Infinity"};
    int bad_ok = 1, good_ok = 1;
    for (int k = 0; k < 18; k++) {
        const char *sc = k < 8 ? bad_scores[k] : good_scores[k - 8];
        header(&b, "REDIS0006");
        byte(&b, 3);
        str(&b, "z");
        len(&b, 1);
        str(&b, "m");
        byte(&b, (int)strlen(sc));
        put(&b, sc, strlen(sc));
        finish(&b, 6);
        run(&b, &elems, 0, &s);
        if (k < 8)
            bad_ok &= s.rc == RMIG_ECORRUPT;
        else
            good_ok &= s.rc == 0 && (k < 15 || isinf(s.score[0]));
    }
    CHECK("zset scores that are not numbers are refused as corrupt", bad_ok, "one was accepted");
    CHECK("zset scores in every form Redis writes are accepted", good_ok, "one was refused");

    /* DUMP footer: a known payload of Redis 7.0 ("DUMP k" after SET k bar) */
    rmig_dump d;
    uint8_t f[RMIG_DUMP_FOOTER];
    rmig_dump_begin(&d, 0);
    rmig_dump_add(&d, "\x03" "bar", 4);
    rmig_dump_end(&d, 10, f);
    uint8_t payload[15] = {0, 3, 'b', 'a', 'r'};
    memcpy(payload + 5, f, 10);
    int ver = 0;
    CHECK("a DUMP footer built from pieces verifies", rmig_dump_verify(payload, 15, &ver) == 0 && ver == 10,
          "ver %d", ver);
    payload[3] ^= 1;
    CHECK("a payload with a changed byte fails verification", rmig_dump_verify(payload, 15, &ver) == -1, "passed");

    free(b.p);
    return rmig_t_done();
}
