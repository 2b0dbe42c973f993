/* test_respcmd.c - RESP commands pulled from a caller's buffer: the same
 * stream parsed whole, byte by byte, at every cut and in random pieces,
 * through a buffer that moves between calls as the real caller's does, gives
 * the same commands and byte counts; binary and empty arguments, "*0", inline
 * commands and the bare "\n" keep-alive; arguments of several MB arriving in
 * 64 KiB pieces without re-scanning; every error with the byte it names; the
 * parser reused after an error; and a real replication stream, read from a
 * redis-server by acting as its replica (skipped without
 * /usr/bin/redis-server, or RMIG_REDIS_SERVER when set). */
#include "respcmd.h"
#include "testlib.h"

#include <hiredis/hiredis.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- growing byte buffers ---- */

typedef struct bytes {
    uint8_t *b;
    size_t len, cap;
} bytes;

static void put(bytes *o, const void *p, size_t n)
{
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n)
            cap *= 2;
        uint8_t *b = realloc(o->b, cap);
        if (!b) {
            perror("realloc");
            exit(2);
        }
        o->b = b;
        o->cap = cap;
    }
    if (n)
        memcpy(o->b + o->len, p, n);
    o->len += n;
}

static void put_str(bytes *o, const char *s) { put(o, s, strlen(s)); }
static void put_u64(bytes *o, uint64_t v) { put(o, &v, sizeof v); }

static void put_bulk(bytes *o, const void *p, size_t n)
{
    char h[32];
    snprintf(h, sizeof h, "$%zu\r\n", n);
    put_str(o, h);
    put(o, p, n);
    put_str(o, "\r\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- transcripts: what a parse gave, byte for byte ----
 * 'C' used argc (len bytes)* per command, then 'E' and the error message, or
 * 'N' and the bytes left unconsumed ("need more"). Built by the generator for
 * what a stream must give, and by run() for what it gave. */

static void t_cmd(bytes *t, long long used, int argc, const uint8_t *const *argv, const size_t *lens)
{
    put(t, "C", 1);
    put_u64(t, (uint64_t)used);
    put_u64(t, (uint64_t)argc);
    for (int i = 0; i < argc; i++) {
        put_u64(t, lens[i]);
        put(t, argv[i], lens[i]);
    }
}

typedef struct outcome {
    bytes t;
    int bad_slice;        /* a returned slice outside the bytes its command took */
    size_t consumed;      /* the sum of what the commands took */
    size_t left;          /* unconsumed at the end (no error) */
    int error;            /* the parse ended in an error */
    char err[200];        /* and its message */
    size_t calls, zeroes; /* calls to rmig_respcmd_parse; those that said "need more" */
} outcome;

static void outcome_free(outcome *o)
{
    free(o->t.b);
    memset(o, 0, sizeof *o);
}

/* Feeds data in pieces of the given sizes (summing to len) as the real caller
 * does: the unconsumed bytes stay at the start of its buffer, which moves
 * between calls. fresh: every piece lands in a new allocation of exactly the
 * bytes held (the sanitizers then catch any pointer or read kept from a call
 * before); otherwise realloc with doubling and compaction, as core/run_live.c. */
static void run(const uint8_t *data, size_t len, const size_t *pieces, size_t np, int fresh, uint64_t max_bulk,
                outcome *o)
{
    rmig_respcmd c;
    rmig_respcmd_init(&c, max_bulk);
    memset(o, 0, sizeof *o);
    uint8_t *buf = NULL;
    size_t have = 0, cap = 0, fed = 0;
    for (size_t k = 0;; k++) {
        if (k < np) {
            size_t n = pieces[k];
            if (fresh) {
                uint8_t *nb = malloc(have + n ? have + n : 1);
                if (have)
                    memcpy(nb, buf, have);
                free(buf);
                buf = nb;
                cap = have + n;
            } else if (have + n > cap) {
                cap = cap ? cap : 64;
                while (cap < have + n)
                    cap *= 2;
                buf = realloc(buf, cap);
            }
            if (n)
                memcpy(buf + have, data + fed, n);
            have += n;
            fed += n;
        }
        long long rc = 0;
        size_t pos = 0;
        while (pos < have) {
            rc = rmig_respcmd_parse(&c, buf + pos, have - pos);
            o->calls++;
            if (rc == 0)
                o->zeroes++;
            if (rc <= 0)
                break;
            if ((size_t)rc > have - pos)
                o->bad_slice = 1;
            for (int i = 0; i < c.argc; i++)
                if (c.argv[i] < buf + pos || c.lens[i] > (size_t)rc || c.argv[i] + c.lens[i] > buf + pos + rc)
                    o->bad_slice = 1;
            t_cmd(&o->t, rc, c.argc, c.argv, c.lens);
            o->consumed += (size_t)rc;
            pos += (size_t)rc;
        }
        if (pos && have > pos)
            memmove(buf, buf + pos, have - pos);
        have -= pos;
        if (rc < 0) {
            put(&o->t, "E", 1);
            put_str(&o->t, rmig_respcmd_error(&c));
            snprintf(o->err, sizeof o->err, "%s", rmig_respcmd_error(&c));
            o->error = 1;
            break;
        }
        if (k + 1 >= np) {
            put(&o->t, "N", 1);
            put_u64(&o->t, have);
            o->left = have;
            break;
        }
    }
    free(buf);
    rmig_respcmd_free(&c);
    if (!o->error && fed != len) {
        fprintf(stderr, "test_respcmd: a piece plan of %zu bytes for %zu\n", fed, len);
        exit(2);
    }
}

/* piece plans */
static size_t *pieces_whole(size_t len, size_t *np)
{
    size_t *p = malloc(sizeof *p);
    p[0] = len;
    *np = len ? 1 : 0;
    return p;
}

static size_t *pieces_random(size_t len, size_t most, uint64_t *rng, size_t *np)
{
    size_t *p = malloc((len + 1) * sizeof *p), n = 0;
    for (size_t at = 0; at < len;) {
        size_t k = 1 + (size_t)(rmig_t_rand(rng) % most);
        if (k > len - at)
            k = len - at;
        p[n++] = k;
        at += k;
    }
    *np = n;
    return p;
}

static const char *first_diff(const outcome *a, const bytes *want, char *why, size_t whysz)
{
    size_t n = a->t.len < want->len ? a->t.len : want->len, i = 0;
    while (i < n && a->t.b[i] == want->b[i])
        i++;
    snprintf(why, whysz, "transcripts differ at byte %zu (lengths %zu and %zu)%s%s", i, a->t.len, want->len,
             a->error ? "; this parse ended with: " : "", a->error ? a->err : "");
    return why;
}

/* Parses data whole (the reference, or `want` when given) and then byte by
 * byte, in random pieces of several sizes and, with every_cut, cut in two at
 * every position, through both buffer policies. 0 when every way agrees, no
 * slice strays outside its command and the byte counts add up; else why. */
static int agree(const char *name, const uint8_t *data, size_t len, uint64_t max_bulk, const bytes *want,
                 uint64_t *rng, int every_cut, char *why, size_t whysz)
{
    outcome ref, o;
    size_t np;
    size_t *p = pieces_whole(len, &np);
    run(data, len, p, np, 1, max_bulk, &ref);
    free(p);
    int bad = 0;
    if (want && (ref.t.len != want->len || memcmp(ref.t.b, want->b, want->len))) {
        first_diff(&ref, want, why, whysz);
        bad = 1;
    }
    if (!bad && (ref.bad_slice || (!ref.error && ref.consumed + ref.left != len))) {
        snprintf(why, whysz, "whole: a slice outside its command, or %zu + %zu bytes != %zu", ref.consumed, ref.left,
                 len);
        bad = 1;
    }
    static const size_t sizes[] = {1, 2, 3, 7, 16, 64, 4096};
    for (size_t s = 0; !bad && s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int fresh = 0; !bad && fresh < 2; fresh++) {
            if (fresh && (len / sizes[s]) * (len / 64) > ((size_t)1 << 22))
                continue; /* copying all held bytes at every piece would take too long */
            p = pieces_random(len, sizes[s], rng, &np);
            run(data, len, p, np, fresh, max_bulk, &o);
            free(p);
            if (o.t.len != ref.t.len || memcmp(o.t.b, ref.t.b, ref.t.len)) {
                char d[200];
                snprintf(why, whysz, "pieces of 1..%zu (%s buffer): %s", sizes[s], fresh ? "fresh" : "realloc",
                         first_diff(&o, &ref.t, d, sizeof d));
                bad = 1;
            } else if (o.bad_slice) {
                snprintf(why, whysz, "pieces of 1..%zu: a slice outside its command", sizes[s]);
                bad = 1;
            }
            outcome_free(&o);
        }
    }
    for (size_t cut = 1; every_cut && !bad && cut < len; cut++) {
        size_t two[2] = {cut, len - cut};
        run(data, len, two, 2, (int)(cut & 1), max_bulk, &o);
        if (o.t.len != ref.t.len || memcmp(o.t.b, ref.t.b, ref.t.len) || o.bad_slice) {
            char d[200];
            snprintf(why, whysz, "cut at byte %zu: %s", cut, first_diff(&o, &ref.t, d, sizeof d));
            bad = 1;
        }
        outcome_free(&o);
    }
    outcome_free(&ref);
    if (bad)
        printf("# %s: %s\n", name, why);
    return bad;
}

/* ---- random streams whose parse is known ---- */

static const uint8_t alpha[] = {'a', 'b', '*', '$', ':', '+', '-', '\r', '\n', 0, ' ', '\t', '9', 0xff};

static void gen_cmd(uint64_t *rng, bytes *s, bytes *want)
{
    size_t start = s->len;
    unsigned r = (unsigned)(rmig_t_rand(rng) % 100);
    if (r < 70) {
        int argc = 1 + (int)(rmig_t_rand(rng) % 6);
        uint8_t argbuf[6][300];
        const uint8_t *argv[6];
        size_t lens[6];
        char h[32];
        snprintf(h, sizeof h, "*%d\r\n", argc);
        put_str(s, h);
        for (int i = 0; i < argc; i++) {
            uint64_t k = rmig_t_rand(rng);
            lens[i] = k % 16 == 0 ? (size_t)(k >> 8) % 300 : (size_t)(k >> 8) % 12;
            for (size_t j = 0; j < lens[i]; j++)
                argbuf[i][j] = alpha[rmig_t_rand(rng) % sizeof alpha];
            argv[i] = argbuf[i];
            put_bulk(s, argbuf[i], lens[i]);
        }
        t_cmd(want, (long long)(s->len - start), argc, argv, lens);
    } else if (r < 82) {
        /* an inline command: words of letters and digits between spaces and tabs */
        uint8_t words[5][8];
        const uint8_t *argv[5];
        size_t lens[5];
        int argc = (int)(rmig_t_rand(rng) % 5);
        if (rmig_t_rand(rng) % 2)
            put_str(s, rmig_t_rand(rng) % 2 ? " " : "\t ");
        for (int i = 0; i < argc; i++) {
            lens[i] = 1 + (size_t)(rmig_t_rand(rng) % 7);
            for (size_t j = 0; j < lens[i]; j++)
                words[i][j] = (uint8_t)("abcXYZ0123*$"[rmig_t_rand(rng) % 12]);
            if (i == 0 && words[0][0] == '*')
                words[0][0] = 'P'; /* a line starting with '*' is an array header */
            argv[i] = words[i];
            if (i)
                put_str(s, rmig_t_rand(rng) % 3 ? " " : " \t ");
            put(s, words[i], lens[i]);
        }
        if (argc && rmig_t_rand(rng) % 3 == 0)
            put_str(s, "  ");
        put_str(s, rmig_t_rand(rng) % 2 ? "\r\n" : "\n");
        t_cmd(want, (long long)(s->len - start), argc, argv, lens);
    } else if (r < 90) {
        put_str(s, "\n"); /* the master's keep-alive */
        t_cmd(want, 1, 0, NULL, NULL);
    } else if (r < 95) {
        put_str(s, "*0\r\n");
        t_cmd(want, 4, 0, NULL, NULL);
    } else {
        put_str(s, "*-1\r\n");
        t_cmd(want, 5, 0, NULL, NULL);
    }
}

static void want_end(bytes *want)
{
    put(want, "N", 1);
    put_u64(want, 0);
}

/* ---- a single whole parse, command after command ---- */

typedef struct whole {
    long long rc;    /* the last call's answer */
    int cmds;        /* commands parsed before it */
    char err[200];
} whole;

static whole parse_whole(const void *data, size_t len, uint64_t max_bulk)
{
    whole w = {0};
    rmig_respcmd c;
    rmig_respcmd_init(&c, max_bulk);
    const uint8_t *p = data;
    size_t at = 0;
    for (;;) {
        w.rc = rmig_respcmd_parse(&c, p + at, len - at);
        if (w.rc <= 0)
            break;
        at += (size_t)w.rc;
        w.cmds++;
    }
    snprintf(w.err, sizeof w.err, "%s", w.rc < 0 ? rmig_respcmd_error(&c) : "");
    rmig_respcmd_free(&c);
    return w;
}

/* The stream must end in an error whose message says `what` and names byte
 * `at` of the unread part, after `before` good commands, however it is split. */
static void check_error(const char *name, const void *data, size_t len, uint64_t max_bulk, int before,
                        const char *what, size_t at, uint64_t *rng)
{
    whole w = parse_whole(data, len, max_bulk);
    char where[64];
    snprintf(where, sizeof where, "at byte %zu of", at);
    CHECK(name, w.rc == -1 && w.cmds == before && strstr(w.err, what) && strstr(w.err, where),
          "rc %lld after %d commands, error \"%s\" (wanted \"%s\" %s)", w.rc, w.cmds, w.err, what, where);
    char why[400];
    char n2[300];
    snprintf(n2, sizeof n2, "%s, and the same error however the stream is split", name);
    int bad = agree(n2, data, len, max_bulk, NULL, rng, len <= 4096, why, sizeof why);
    CHECK(n2, !bad, "%s", why);
}

/* ---- the parts ---- */

static void test_basics(void)
{
    rmig_respcmd c;
    rmig_respcmd_init(&c, 0);
    static const char set[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
    const uint8_t *p = (const uint8_t *)set;
    long long rc = rmig_respcmd_parse(&c, p, sizeof set - 1);
    CHECK("an array of bulk strings is parsed whole, its arguments sliced from the caller's buffer",
          rc == (long long)sizeof set - 1 && c.argc == 3 && c.argv[0] == p + 8 && c.lens[0] == 3 &&
              c.argv[1] == p + 17 && c.lens[1] == 3 && c.argv[2] == p + 26 && c.lens[2] == 5 &&
              !memcmp(c.argv[2], "value", 5),
          "rc %lld argc %d", rc, c.argc);

    CHECK("no bytes is \"need more\"", rmig_respcmd_parse(&c, p, 0) == 0, "no");
    int early = 0;
    for (size_t n = 1; n < sizeof set - 1; n++) {
        rmig_respcmd d;
        rmig_respcmd_init(&d, 0);
        if (rmig_respcmd_parse(&d, p, n) != 0)
            early++;
        rmig_respcmd_free(&d);
    }
    CHECK("every proper prefix of a command is \"need more\"", early == 0, "%d prefixes were not", early);

    char two[128];
    size_t n = (size_t)snprintf(two, sizeof two, "%s*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", set);
    rc = rmig_respcmd_parse(&c, (const uint8_t *)two, n);
    long long rc2 = rmig_respcmd_parse(&c, (const uint8_t *)two + rc, n - (size_t)rc);
    CHECK("two commands back to back: each call takes exactly one",
          rc == (long long)sizeof set - 1 && rc2 == 22 && c.argc == 2 && !memcmp(c.argv[0], "GET", 3), "rc %lld %lld",
          rc, rc2);

    static const uint8_t bin[] = "a\r\nb\0c$3\r\n*1\r\n\xff";
    bytes s = {0};
    put_str(&s, "*3\r\n");
    put_bulk(&s, "SET", 3);
    put_bulk(&s, "k\0\r\n", 4);
    put_bulk(&s, bin, sizeof bin - 1);
    rc = rmig_respcmd_parse(&c, s.b, s.len);
    CHECK("binary arguments (NULs, CRLF, '$' and '*' inside a bulk) come back byte for byte",
          rc == (long long)s.len && c.argc == 3 && c.lens[1] == 4 && !memcmp(c.argv[1], "k\0\r\n", 4) &&
              c.lens[2] == sizeof bin - 1 && !memcmp(c.argv[2], bin, sizeof bin - 1),
          "rc %lld argc %d", rc, c.argc);
    free(s.b);

    static const char empty[] = "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$0\r\n\r\n";
    rc = rmig_respcmd_parse(&c, (const uint8_t *)empty, sizeof empty - 1);
    CHECK("empty bulk strings are arguments of length 0 inside the buffer",
          rc == (long long)sizeof empty - 1 && c.argc == 3 && c.lens[1] == 0 && c.lens[2] == 0 &&
              c.argv[1] == (const uint8_t *)empty + 17 && c.argv[2] == (const uint8_t *)empty + 23,
          "rc %lld argc %d", rc, c.argc);

    rc = rmig_respcmd_parse(&c, (const uint8_t *)"*0\r\n", 4);
    CHECK("\"*0\\r\\n\" is a command of no arguments, 4 bytes", rc == 4 && c.argc == 0, "rc %lld argc %d", rc,
          c.argc);
    rc = rmig_respcmd_parse(&c, (const uint8_t *)"*-1\r\n", 5);
    CHECK("\"*-1\\r\\n\" is taken as nothing too, as Redis does", rc == 5 && c.argc == 0, "rc %lld argc %d", rc,
          c.argc);

    rc = rmig_respcmd_parse(&c, (const uint8_t *)"\n", 1);
    CHECK("a bare \"\\n\" (the master's keep-alive) is one byte of no arguments", rc == 1 && c.argc == 0,
          "rc %lld argc %d", rc, c.argc);
    rc = rmig_respcmd_parse(&c, (const uint8_t *)"\r\n", 2);
    CHECK("an empty \"\\r\\n\" line is two bytes of no arguments", rc == 2 && c.argc == 0, "rc %lld argc %d", rc,
          c.argc);
    rc = rmig_respcmd_parse(&c, (const uint8_t *)"PING\r\n", 6);
    CHECK("an inline \"PING\\r\\n\" is PING, 6 bytes", rc == 6 && c.argc == 1 && c.lens[0] == 4 &&
                                                           !memcmp(c.argv[0], "PING", 4),
          "rc %lld argc %d", rc, c.argc);
    rc = rmig_respcmd_parse(&c, (const uint8_t *)"SET a b\n", 8);
    CHECK("an inline \"SET a b\\n\" is three words, 8 bytes",
          rc == 8 && c.argc == 3 && c.lens[0] == 3 && !memcmp(c.argv[1], "a", 1) && !memcmp(c.argv[2], "b", 1) &&
              c.lens[2] == 1,
          "rc %lld argc %d", rc, c.argc);
    rc = rmig_respcmd_parse(&c, (const uint8_t *)" \tGET\t  key  \r\n", 15);
    CHECK("inline words are split on runs of spaces and tabs, the ends trimmed",
          rc == 15 && c.argc == 2 && c.lens[0] == 3 && c.lens[1] == 3 && !memcmp(c.argv[1], "key", 3),
          "rc %lld argc %d", rc, c.argc);
    rc = rmig_respcmd_parse(&c, (const uint8_t *)"PING", 4);
    CHECK("an inline line without its newline is \"need more\"", rc == 0, "rc %lld", rc);
    rmig_respcmd_free(&c);
}

static void test_random_streams(uint64_t *rng)
{
    int bad = 0, streams = 60;
    char why[400] = "";
    for (int k = 0; k < streams && !bad; k++) {
        bytes s = {0}, want = {0};
        int ncmd = 1 + (int)(rmig_t_rand(rng) % 40);
        for (int i = 0; i < ncmd; i++)
            gen_cmd(rng, &s, &want);
        want_end(&want);
        bad = agree("random stream", s.b, s.len, 0, &want, rng, s.len <= 3000, why, sizeof why);
        free(s.b);
        free(want.b);
    }
    CHECK("random streams (arrays, inline lines, keep-alives, *0, *-1, binary and empty arguments) give the "
          "commands they were made of, whole, byte by byte, in random pieces and cut anywhere, with the same "
          "byte counts",
          !bad, "%s", why);

    /* every way of cutting a short mixed stream in three */
    static const char mixed[] = "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n\nPING\r\n*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n"
                                "$0\r\n\r\n*0\r\n*1\r\n$2\r\n\r\n\r\nSET a  b\n";
    bytes s = {0};
    put(&s, mixed, sizeof mixed - 1);
    outcome ref, o;
    size_t np;
    size_t *p = pieces_whole(s.len, &np);
    run(s.b, s.len, p, np, 1, 0, &ref);
    free(p);
    int wrong = 0;
    size_t at1 = 0, at2 = 0;
    for (size_t i = 1; i < s.len && !wrong; i++)
        for (size_t j = i + 1; j < s.len && !wrong; j++) {
            size_t three[3] = {i, j - i, s.len - j};
            run(s.b, s.len, three, 3, (int)((i + j) & 1), 0, &o);
            if (o.t.len != ref.t.len || memcmp(o.t.b, ref.t.b, ref.t.len) || o.bad_slice) {
                wrong = 1;
                at1 = i;
                at2 = j;
            }
            outcome_free(&o);
        }
    CHECK("a short mixed stream cut in three at every pair of places gives the same commands",
          !wrong && !ref.error && ref.left == 0 && ref.consumed == s.len, "cut at %zu and %zu", at1, at2);
    outcome_free(&ref);
    free(s.b);
}

static void test_big(void)
{
    /* one argument of 8 MiB, in 64 KiB pieces */
    size_t big = (size_t)8 << 20, piece = 64 << 10;
    bytes s = {0};
    put_str(&s, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n");
    char h[32];
    snprintf(h, sizeof h, "$%zu\r\n", big);
    put_str(&s, h);
    size_t val_at = s.len;
    for (size_t i = 0; i < big; i++) {
        uint8_t b = (uint8_t)(i * 131 + (i >> 13));
        put(&s, &b, 1);
    }
    put_str(&s, "\r\n");
    size_t np = (s.len + piece - 1) / piece;
    size_t *pieces = malloc(np * sizeof *pieces);
    for (size_t i = 0; i < np; i++)
        pieces[i] = i + 1 < np ? piece : s.len - i * piece;
    outcome o;
    double t0 = now_s();
    run(s.b, s.len, pieces, np, 0, 0, &o);
    double secs = now_s() - t0;
    /* the transcript holds the value as the parser sliced it */
    int same = !o.error && o.left == 0 && o.consumed == s.len && o.t.len > big &&
               !memcmp(o.t.b + o.t.len - 9 - big, s.b + val_at, big);
    CHECK("an 8 MiB argument in 64 KiB pieces comes back whole and exact", same && !o.bad_slice,
          "error %d left %zu consumed %zu of %zu", o.error, o.left, o.consumed, s.len);
    CHECK("... with one call per piece, each but the last saying \"need more\"",
          o.calls == np && o.zeroes == np - 1, "%zu calls (%zu need-more) for %zu pieces", o.calls, o.zeroes, np);
    CHECK("... in well under a second", secs < 2.0, "%.2f s", secs);
    printf("# 8 MiB argument in %zu pieces of 64 KiB: %.3f s\n", np, secs);
    outcome_free(&o);
    free(pieces);

    /* a command of 200,000 small arguments: re-scanning from its start at
     * every piece would parse it about a thousand times over */
    s.len = 0;
    int nargs = 200000;
    snprintf(h, sizeof h, "*%d\r\n", nargs);
    put_str(&s, h);
    for (int i = 0; i < nargs; i++) {
        char v[16];
        int n = snprintf(v, sizeof v, "v%d", i);
        put_bulk(&s, v, (size_t)n);
    }
    size_t small = 1024;
    np = (s.len + small - 1) / small;
    pieces = malloc(np * sizeof *pieces);
    for (size_t i = 0; i < np; i++)
        pieces[i] = i + 1 < np ? small : s.len - i * small;
    size_t one;
    size_t *w = pieces_whole(s.len, &one);
    t0 = now_s();
    run(s.b, s.len, w, one, 0, 0, &o);
    double whole_s = now_s() - t0;
    free(w);
    outcome o2;
    t0 = now_s();
    run(s.b, s.len, pieces, np, 0, 0, &o2);
    double split_s = now_s() - t0;
    CHECK("200,000 arguments in 1 KiB pieces give the same command as whole",
          !o.error && o.consumed == s.len && o2.t.len == o.t.len && !memcmp(o2.t.b, o.t.b, o.t.len),
          "error %d consumed %zu of %zu", o2.error, o2.consumed, s.len);
    CHECK("... and are not re-scanned from the command's start at each piece (loosely timed)",
          split_s < 1.5 + 20 * whole_s, "%.3f s in %zu pieces against %.3f s whole", split_s, np, whole_s);
    printf("# 200,000 arguments (%zu bytes): whole %.3f s, in %zu pieces of 1 KiB %.3f s\n", s.len, whole_s, np,
           split_s);
    outcome_free(&o);
    outcome_free(&o2);
    free(pieces);

    /* the same promise, exactly: once an argument has been taken, its bytes
     * are not looked at again, so spoiling them between calls goes unseen,
     * wherever the rest of the command is cut (in a bulk header or body) */
    static const char cmd3[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n";
    size_t clen = sizeof cmd3 - 1, taken2 = 20, bad_cut = 0;
    long long rc1 = 0, rc2 = 0;
    char perr[200] = "";
    for (size_t cut = taken2 + 1; cut < clen && !bad_cut; cut++) {
        rmig_respcmd c;
        rmig_respcmd_init(&c, 0);
        uint8_t *first = malloc(cut);
        memcpy(first, cmd3, cut);
        rc1 = rmig_respcmd_parse(&c, first, cut);
        free(first);
        uint8_t *moved = malloc(clen);
        memcpy(moved, cmd3, clen);
        memcpy(moved + 4, "#!", 2);  /* was "$3" */
        memcpy(moved + 11, "..", 2); /* was the CRLF after SET */
        rc2 = rmig_respcmd_parse(&c, moved, clen);
        if (rc1 != 0 || rc2 != (long long)clen || c.argc != 3 || c.argv[0] != moved + 8 || c.argv[2] != moved + 24 ||
            c.lens[2] != 5) {
            bad_cut = cut;
            snprintf(perr, sizeof perr, "%s", rc2 < 0 ? rmig_respcmd_error(&c) : "");
        }
        free(moved);
        rmig_respcmd_free(&c);
    }
    CHECK("a command arriving in pieces is not scanned again from its start: bytes of arguments already taken "
          "are not looked at again, only their offsets are kept",
          !bad_cut, "cut at byte %zu: rc %lld then %lld (%s)", bad_cut, rc1, rc2, perr);
    free(s.b);
}

static void test_errors(uint64_t *rng)
{
#define S(x) x, sizeof x - 1
    check_error("a bulk length that is not a number is an error naming the '$'", S("*1\r\n$x\r\nab\r\n"), 0, 0,
                "malformed bulk length", 4, rng);
    check_error("a bulk length with a stray byte after its digits is an error", S("*2\r\n$1\r\na\r\n$1x\r\nb\r\n"), 0,
                0, "malformed bulk length", 11, rng);
    check_error("an empty bulk length is an error", S("*1\r\n$\r\n"), 0, 0, "malformed bulk length", 4, rng);
    check_error("a bulk length that overflows 64 bits is an error, not a wrap", S("*1\r\n$99999999999999999999\r\n"),
                0, 0, "malformed bulk length", 4, rng);
    check_error("a bulk length line with no CR within 32 bytes is an error before the rest arrives",
                S("*1\r\n$1111111111111111111111111111111111111111"), 0, 0, "malformed bulk length", 4, rng);
    check_error("a negative bulk length ($-1, the null bulk) is out of range in a command", S("*1\r\n$-1\r\n"), 0, 0,
                "bulk length out of range", 4, rng);
    check_error("a bulk length of -5 is out of range", S("*2\r\n$1\r\na\r\n$-5\r\n"), 0, 0, "bulk length out of range",
                11, rng);
    check_error("a bulk length above max_bulk is out of range", S("*2\r\n$3\r\nSET\r\n$17\r\n01234567890123456\r\n"),
                16, 0, "bulk length out of range", 13, rng);
    whole w = parse_whole(S("*2\r\n$3\r\nSET\r\n$16\r\n0123456789012345\r\n"), 16);
    CHECK("a bulk of exactly max_bulk bytes is taken", w.rc == 0 && w.cmds == 1, "rc %lld cmds %d: %s", w.rc, w.cmds,
          w.err);
    w = parse_whole(S("*1\r\n$536870912\r\n"), 0);
    CHECK("max_bulk 0 means 512 MiB: a 512 MiB bulk is awaited", w.rc == 0, "rc %lld: %s", w.rc, w.err);
    check_error("max_bulk 0 means 512 MiB: one byte more is out of range", S("*1\r\n$536870913\r\n"), 0, 0,
                "bulk length out of range", 4, rng);
    check_error("a bulk string not followed by CRLF is an error naming where the CRLF should be",
                S("*1\r\n$3\r\nfooXY"), 0, 0, "not followed by CRLF", 11, rng);
    check_error("a bulk followed by CR and something else is an error", S("*1\r\n$3\r\nfoo\rX"), 0, 0,
                "not followed by CRLF", 11, rng);
    check_error("a bulk one byte longer than announced is an error", S("*2\r\n$1\r\nab\r\n$1\r\nc\r\n"), 0, 0,
                "not followed by CRLF", 9, rng);
    check_error("'$' expected but ':' found is an error naming that byte", S("*2\r\n$1\r\na\r\n:1\r\n"), 0, 0,
                "expected a bulk string ('$')", 11, rng);
    check_error("'$' expected but an inline word found", S("*1\r\nPING\r\n"), 0, 0, "expected a bulk string ('$')", 4,
                rng);
    check_error("'$' expected but a nested array found", S("*2\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n"), 0, 0,
                "expected a bulk string ('$')", 11, rng);
    check_error("a malformed array header is an error at byte 0", S("*x\r\n"), 0, 0, "malformed array header", 0, rng);
    check_error("an array header with CR but no LF is an error", S("*1\rX$1\r\na\r\n"), 0, 0, "malformed array header",
                0, rng);
    check_error("an array header with no CR within 32 bytes is an error", S("*11111111111111111111111111111111111"), 0,
                0, "malformed array header", 0, rng);
    check_error("more than 1M arguments is an error", S("*1048577\r\n$1\r\na\r\n"), 0, 0,
                "more than 1M arguments", 0, rng);
    check_error("the byte an error names counts from the unread part, after the commands before it",
                S("*1\r\n$4\r\nPING\r\n\n*2\r\n$3\r\nDEL\r\n$x\r\n"), 0, 2, "malformed bulk length", 13, rng);
#undef S

    /* exactly 1M arguments is allowed */
    bytes s = {0};
    put_str(&s, "*1048576\r\n");
    for (int i = 0; i < 1048576; i++)
        put_str(&s, "$0\r\n\r\n");
    rmig_respcmd c;
    rmig_respcmd_init(&c, 0);
    long long rc = rmig_respcmd_parse(&c, s.b, 10);
    long long rc2 = rmig_respcmd_parse(&c, s.b, s.len);
    CHECK("a command of exactly 1M arguments is taken", rc == 0 && rc2 == (long long)s.len && c.argc == 1048576,
          "rc %lld then %lld (%s), argc %d", rc, rc2, rc2 < 0 ? rmig_respcmd_error(&c) : "", c.argc);
    rmig_respcmd_free(&c);

    /* inline lines: 64 KiB in all, newline included */
    s.len = 0;
    for (int i = 0; i < 65535; i++)
        put(&s, "a", 1);
    put(&s, "\n", 1);
    w = parse_whole(s.b, s.len, 0);
    CHECK("an inline line of 64 KiB with its newline is taken", w.rc == 0 && w.cmds == 1, "rc %lld: %s", w.rc, w.err);
    s.b[s.len - 1] = 'a';
    put(&s, "\n", 1);
    check_error("an inline line longer than 64 KiB is an error", s.b, s.len, 0, 0, "longer than 64 KiB", 0, rng);
    s.len = 65535;
    w = parse_whole(s.b, s.len, 0);
    CHECK("an inline line not yet 64 KiB long and without its newline is awaited", w.rc == 0 && w.cmds == 0,
          "rc %lld: %s", w.rc, w.err);
    free(s.b);
}

static void test_after_error(void)
{
    static const char bad[] = "*1\r\n$x\r\n", good[] = "*1\r\n$4\r\nPING\r\n";
    rmig_respcmd c;
    rmig_respcmd_init(&c, 0);
    long long rc = rmig_respcmd_parse(&c, (const uint8_t *)bad, sizeof bad - 1);
    rmig_respcmd_free(&c);
    rmig_respcmd_init(&c, 0);
    long long rc2 = rmig_respcmd_parse(&c, (const uint8_t *)good, sizeof good - 1);
    CHECK("after an error the parser, freed and initialised again, parses a new stream",
          rc == -1 && rc2 == 14 && c.argc == 1 && !memcmp(c.argv[0], "PING", 4), "rc %lld then %lld", rc, rc2);

    /* an error in the middle of a command that arrived in pieces */
    static const char part[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n", spoilt[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n:1\r\n";
    long long a = rmig_respcmd_parse(&c, (const uint8_t *)part, sizeof part - 1);
    long long b = rmig_respcmd_parse(&c, (const uint8_t *)spoilt, sizeof spoilt - 1);
    char err[200];
    snprintf(err, sizeof err, "%s", rmig_respcmd_error(&c));
    long long d = rmig_respcmd_parse(&c, (const uint8_t *)good, sizeof good - 1);
    CHECK("an error in a command that arrived in pieces names its byte, and the same parser then starts afresh",
          a == 0 && b == -1 && strstr(err, "at byte 20 of") && d == 14 && c.argc == 1, "rc %lld, %lld (%s), %lld", a,
          b, err, d);

    /* a half command abandoned by a new stream (as after a full resync) */
    a = rmig_respcmd_parse(&c, (const uint8_t *)part, sizeof part - 1);
    rmig_respcmd_free(&c);
    rmig_respcmd_init(&c, 4);
    b = rmig_respcmd_parse(&c, (const uint8_t *)good, sizeof good - 1);
    d = rmig_respcmd_parse(&c, (const uint8_t *)"*1\r\n$5\r\nHELLO\r\n", 15);
    CHECK("a half command is forgotten by free and init, and the new max_bulk applies",
          a == 0 && b == 14 && c.argc == 1 && d == -1 && strstr(rmig_respcmd_error(&c), "out of range"),
          "rc %lld, %lld, %lld", a, b, d);
    rmig_respcmd_free(&c);
}

/* ---- a real replication stream ---- */

typedef struct sock {
    int fd;
    bytes in;
    size_t pos;
} sock;

static int fill(sock *k, double deadline)
{
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0)
            return -1;
        struct pollfd pf = {.fd = k->fd, .events = POLLIN};
        int r = poll(&pf, 1, (int)(left * 1000) + 1);
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        uint8_t b[65536];
        ssize_t n = recv(k->fd, b, sizeof b, 0);
        if (n <= 0)
            return -1;
        put(&k->in, b, (size_t)n);
        return 0;
    }
}

/* A "\r\n"-ended line into out; -1 on timeout or a closed socket. */
static int read_line(sock *k, char *out, size_t outsz, double deadline)
{
    for (;;) {
        uint8_t *s = k->in.b + k->pos;
        size_t n = k->in.len - k->pos;
        uint8_t *cr = n >= 2 ? memchr(s, '\r', n - 1) : NULL;
        if (cr && cr[1] == '\n') {
            size_t l = (size_t)(cr - s);
            snprintf(out, outsz, "%.*s", (int)(l < outsz ? l : outsz - 1), (const char *)s);
            k->pos += l + 2;
            return 0;
        }
        if (fill(k, deadline) < 0)
            return -1;
    }
}

static void send_cmd(int fd, int argc, const char *const *argv)
{
    bytes o = {0};
    char h[32];
    snprintf(h, sizeof h, "*%d\r\n", argc);
    put_str(&o, h);
    for (int i = 0; i < argc; i++)
        put_bulk(&o, argv[i], strlen(argv[i]));
    size_t at = 0;
    while (at < o.len) {
        ssize_t n = send(fd, o.b + at, o.len - at, 0);
        if (n <= 0)
            break;
        at += (size_t)n;
    }
    free(o.b);
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int ok_reply(redisReply *r)
{
    int ok = r && r->type != REDIS_REPLY_ERROR;
    freeReplyObject(r);
    return ok;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* one parsed command, copied out of the stream buffer */
typedef struct cmd {
    int argc;
    uint8_t **argv;
    size_t *lens;
} cmd;

static int arg_is(const cmd *m, int i, const char *s)
{
    return i < m->argc && m->lens[i] == strlen(s) && !strncasecmp((const char *)m->argv[i], s, m->lens[i]);
}

static void render(const cmd *m, char *out, size_t outsz)
{
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < m->argc && o + 1 < outsz; i++) {
        int n = snprintf(out + o, outsz - o, "%s", i ? " " : "");
        o += (size_t)n;
        for (size_t j = 0; j < m->lens[i] && j < 24 && o + 5 < outsz; j++) {
            uint8_t b = m->argv[i][j];
            o += (size_t)snprintf(out + o, outsz - o, b >= 33 && b < 127 ? "%c" : "\\x%02x", b);
        }
        if (m->lens[i] > 24 && o + 20 < outsz)
            o += (size_t)snprintf(out + o, outsz - o, "...(%zu bytes)", m->lens[i]);
    }
}

/* Does the command match "WORD WORD ...", where <ms> is a millisecond time in
 * [lo, hi] and <bin>/<big> stand for the given values? */
static int matches(const cmd *m, const char *want, int64_t lo, int64_t hi, const bytes *bin, const bytes *big)
{
    char w[256];
    snprintf(w, sizeof w, "%s", want);
    int i = 0;
    for (char *save = NULL, *t = strtok_r(w, " ", &save); t; t = strtok_r(NULL, " ", &save), i++) {
        if (i >= m->argc)
            return 0;
        if (!strcmp(t, "<ms>")) {
            char num[32];
            if (m->lens[i] >= sizeof num)
                return 0;
            snprintf(num, sizeof num, "%.*s", (int)m->lens[i], (const char *)m->argv[i]);
            long long v = strtoll(num, NULL, 10);
            if (v < lo || v > hi)
                return 0;
        } else if (!strcmp(t, "<bin>") || !strcmp(t, "<big>")) {
            const bytes *v = !strcmp(t, "<bin>") ? bin : big;
            if (m->lens[i] != v->len || memcmp(m->argv[i], v->b, v->len))
                return 0;
        } else if (m->lens[i] != strlen(t) || memcmp(m->argv[i], t, m->lens[i])) {
            return 0;
        }
    }
    return i == m->argc;
}

static int run_writes(redisContext *rc, const bytes *bin, const bytes *big, int64_t *exp_lo, int64_t *exp_hi)
{
    int ok = 1;
    ok &= ok_reply(redisCommand(rc, "SELECT 0"));
    ok &= ok_reply(redisCommand(rc, "SET a 1"));
    ok &= ok_reply(redisCommand(rc, "MSET k1 v1 k2 v2"));
    ok &= ok_reply(redisCommand(rc, "INCR n"));
    ok &= ok_reply(redisCommand(rc, "LPUSH l a b c"));
    ok &= ok_reply(redisCommand(rc, "MULTI"));
    ok &= ok_reply(redisCommand(rc, "SET x 1"));
    ok &= ok_reply(redisCommand(rc, "INCR n"));
    ok &= ok_reply(redisCommand(rc, "EXEC"));
    *exp_lo = wall_ms() + 100000;
    ok &= ok_reply(redisCommand(rc, "EXPIRE a 100"));
    *exp_hi = wall_ms() + 100000;
    ok &= ok_reply(redisCommand(rc, "SET bin %b", bin->b, bin->len));
    ok &= ok_reply(redisCommand(rc, "SET big %b", big->b, big->len));
    ok &= ok_reply(redisCommand(rc, "SELECT 3"));
    ok &= ok_reply(redisCommand(rc, "SET in3 v"));
    ok &= ok_reply(redisCommand(rc, "DEL in3"));
    return ok;
}

static void test_replication(uint64_t *rng)
{
    const char *exe = getenv("RMIG_REDIS_SERVER") ? getenv("RMIG_REDIS_SERVER") : "/usr/bin/redis-server";
    if (access(exe, X_OK) != 0) {
        printf("# %s is not there: the replication stream checks are skipped\n", exe);
        return;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/rmig-respcmd-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK("a temporary directory for redis-server", 0, "mkdtemp failed");
        return;
    }
    int port = rmig_t_free_port();
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    char *argv[] = {"redis-server", "--port", ps, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", dir, "--repl-diskless-sync", "no", "--logfile", "", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
    pid_t pid;
    int spawned = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (spawned != 0) {
        CHECK("redis-server starts", 0, "posix_spawn failed");
        remove_dir(dir);
        return;
    }
    redisContext *rc = NULL;
    for (int i = 0; i < 500 && !rc; i++) {
        rc = redisConnect("127.0.0.1", port);
        if (rc && rc->err) {
            redisFree(rc);
            rc = NULL;
            usleep(10000);
        }
    }
    sock rep = {.fd = -1};
    bytes bin = {0}, big = {0}, all = {0}, sbuf = {0};
    cmd *cmds = NULL;
    int ncmds = 0;
    if (!rc) {
        CHECK("redis-server comes up", 0, "no connection on port %d", port);
        goto out;
    }

    put(&bin, "a\r\nb\0c*1\r\n$3\r\n\xff", 16);
    for (int i = 0; i < (1 << 20) + 7; i++) {
        uint8_t b = (uint8_t)rmig_t_rand(rng);
        put(&big, &b, 1);
    }
    int64_t lo, hi;
    CHECK("the writes before the sync succeed", run_writes(rc, &bin, &big, &lo, &hi), "a command failed");

    /* the replica's side of the handshake */
    rep.fd = connect_port(port);
    double deadline = now_s() + 20;
    char line[256] = "";
    static const char *const ping[] = {"PING"}, *const lport[] = {"REPLCONF", "listening-port", "0"},
                             *const capa[] = {"REPLCONF", "capa", "eof", "capa", "psync2"},
                             *const psync[] = {"PSYNC", "?", "-1"};
    int hs = rep.fd >= 0;
    if (hs) {
        send_cmd(rep.fd, 1, ping);
        hs = read_line(&rep, line, sizeof line, deadline) == 0 && !strcmp(line, "+PONG");
    }
    if (hs) {
        send_cmd(rep.fd, 3, lport);
        hs = read_line(&rep, line, sizeof line, deadline) == 0 && !strcmp(line, "+OK");
    }
    if (hs) {
        send_cmd(rep.fd, 5, capa);
        hs = read_line(&rep, line, sizeof line, deadline) == 0 && !strcmp(line, "+OK");
    }
    long long start_off = -1;
    if (hs) {
        send_cmd(rep.fd, 3, psync);
        char id[64];
        hs = read_line(&rep, line, sizeof line, deadline) == 0 && sscanf(line, "+FULLRESYNC %63s %lld", id,
                                                                          &start_off) == 2;
    }
    /* newlines while the master saves, then the RDB as "$<len>\r\n" and the
     * bytes, or "$EOF:<40-byte mark>\r\n" ... mark */
    while (hs) {
        if (rep.pos == rep.in.len && fill(&rep, deadline) < 0) {
            hs = 0;
            break;
        }
        if (rep.in.b[rep.pos] != '\n')
            break;
        rep.pos++;
    }
    size_t rdb_len = 0;
    if (hs)
        hs = read_line(&rep, line, sizeof line, deadline) == 0 && line[0] == '$';
    if (hs && !strncmp(line, "$EOF:", 5) && strlen(line) == 45) {
        size_t from = rep.pos;
        for (;;) {
            uint8_t *m = NULL;
            for (size_t i = from; i + 40 <= rep.in.len && !m; i++)
                if (!memcmp(rep.in.b + i, line + 5, 40))
                    m = rep.in.b + i;
            if (m) {
                rdb_len = (size_t)(m - (rep.in.b + rep.pos));
                rep.pos += rdb_len + 40;
                break;
            }
            if (fill(&rep, deadline) < 0) {
                hs = 0;
                break;
            }
        }
    } else if (hs) {
        rdb_len = strtoull(line + 1, NULL, 10);
        while (hs && rep.in.len - rep.pos < rdb_len)
            hs = fill(&rep, deadline) == 0;
        hs = hs && rdb_len >= 9 && !memcmp(rep.in.b + rep.pos, "REDIS", 5);
        if (hs)
            rep.pos += rdb_len;
    }
    CHECK("a raw socket gets through the replica handshake and the RDB transfer", hs,
          "stopped at line \"%s\" (%zu bytes read)", line, rep.in.len);
    if (!hs)
        goto out;
    printf("# full sync from offset %lld, RDB of %zu bytes\n", start_off, rdb_len);

    CHECK("the writes after the sync succeed", run_writes(rc, &bin, &big, &lo, &hi) &&
                                                   ok_reply(redisCommand(rc, "SET end 1")),
          "a command failed");

    /* what the replica receives, parsed as the real caller does: append, parse
     * from the unconsumed start, compact before the next append */
    rmig_respcmd p;
    rmig_respcmd_init(&p, 0);
    size_t sbuf_pos = 0, taken = 0;
    int done = 0, bad_slice = 0, perr = 0;
    char errmsg[200] = "";
    const uint8_t *first = rep.in.b + rep.pos;
    size_t first_n = rep.in.len - rep.pos;
    put(&all, first, first_n);
    bytes chunk = {0};
    put(&chunk, first, first_n);
    long long master_off = -1;
    for (;;) {
        if (sbuf_pos) {
            memmove(sbuf.b, sbuf.b + sbuf_pos, sbuf.len - sbuf_pos);
            sbuf.len -= sbuf_pos;
            sbuf_pos = 0;
        }
        put(&sbuf, chunk.b, chunk.len);
        chunk.len = 0;
        for (;;) {
            const uint8_t *at = sbuf.b + sbuf_pos;
            long long used = sbuf.len > sbuf_pos ? rmig_respcmd_parse(&p, at, sbuf.len - sbuf_pos) : 0;
            if (used < 0) {
                perr = 1;
                snprintf(errmsg, sizeof errmsg, "%s", rmig_respcmd_error(&p));
                break;
            }
            if (used == 0)
                break;
            cmd m = {p.argc, malloc(((size_t)p.argc + 1) * sizeof(uint8_t *)),
                     malloc(((size_t)p.argc + 1) * sizeof(size_t))};
            for (int i = 0; i < p.argc; i++) {
                if (p.argv[i] < at || p.argv[i] + p.lens[i] > at + used)
                    bad_slice = 1;
                m.argv[i] = malloc(p.lens[i] + 1);
                memcpy(m.argv[i], p.argv[i], p.lens[i]);
                m.lens[i] = p.lens[i];
            }
            cmds = realloc(cmds, ((size_t)ncmds + 1) * sizeof *cmds);
            cmds[ncmds++] = m;
            sbuf_pos += (size_t)used;
            taken += (size_t)used;
            if (m.argc == 3 && arg_is(&m, 0, "SET") && arg_is(&m, 1, "end") && arg_is(&m, 2, "1")) {
                /* every write has reached the replica: ask where the master's offset is */
                redisReply *r = redisCommand(rc, "INFO replication");
                const char *o = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "master_repl_offset:") : NULL;
                if (o)
                    master_off = strtoll(o + 19, NULL, 10);
                freeReplyObject(r);
                done = 1;
            }
        }
        if (perr || (done && (master_off < 0 || (long long)taken >= master_off - start_off)))
            break;
        size_t before = rep.in.len;
        if (fill(&rep, deadline) < 0)
            break;
        put(&chunk, rep.in.b + before, rep.in.len - before);
        put(&all, rep.in.b + before, rep.in.len - before);
    }
    rmig_respcmd_free(&p);
    free(chunk.b);
    CHECK("the replication stream parses without error, every slice inside its command", !perr && !bad_slice,
          "%s", errmsg);
    CHECK("the stream reached the last write", done, "%d commands parsed in %zu bytes", ncmds, taken);
    CHECK("the bytes the parser took add up to the master's replication offset",
          master_off >= 0 && (long long)taken == master_off - start_off && sbuf.len == sbuf_pos,
          "took %zu bytes, the offset moved %lld (%zu left over)", taken, master_off - start_off,
          sbuf.len - sbuf_pos);

    static const char *const want[] = {"SELECT 0", "SET a 1", "MSET k1 v1 k2 v2", "INCR n", "LPUSH l a b c",
                                       "MULTI", "SET x 1", "INCR n", "EXEC", "PEXPIREAT a <ms>", "SET bin <bin>",
                                       "SET big <big>", "SELECT 3", "SET in3 v", "DEL in3", "SET end 1"};
    size_t nwant = sizeof want / sizeof want[0], k = 0;
    int mismatch = 0;
    char got[400] = "";
    for (int i = 0; i < ncmds && !mismatch; i++) {
        if (cmds[i].argc == 0 || (cmds[i].argc == 1 && arg_is(&cmds[i], 0, "PING")))
            continue; /* keep-alives, which the master sends every repl-ping-replica-period */
        if (k >= nwant || !matches(&cmds[i], want[k], lo - 2000, hi + 2000, &bin, &big)) {
            mismatch = 1;
            render(&cmds[i], got, sizeof got);
            break;
        }
        k++;
    }
    CHECK("the replica receives exactly the writes made, as Redis propagates them (SELECT first, MSET whole, "
          "MULTI/EXEC around the transaction, EXPIRE as PEXPIREAT, binary and 1 MiB values exact, SELECT 3)",
          !mismatch && k == nwant, "command %zu: wanted \"%s\", got \"%s\"", k, k < nwant ? want[k] : "(nothing)",
          mismatch ? got : "(nothing)");

    char why[400];
    int bad = agree("replication stream", all.b, all.len, 0, NULL, rng, 0, why, sizeof why);
    CHECK("the same replication stream parsed whole, byte by byte and in random pieces gives the same commands",
          !bad, "%s", why);

out:
    if (rep.fd >= 0)
        close(rep.fd); /* before SHUTDOWN, which would wait for a replica that never acknowledges */
    if (rc) {
        redisReply *r = redisCommand(rc, "SHUTDOWN NOSAVE");
        freeReplyObject(r);
        redisFree(rc);
    }
    int status, gone = 0;
    for (int i = 0; i < 500 && !gone; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            gone = 1;
        else
            usleep(10000);
    }
    if (!gone) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CHECK("redis-server stops on SHUTDOWN NOSAVE", gone, "killed after 5 s");
    remove_dir(dir);
    for (int i = 0; i < ncmds; i++) {
        for (int j = 0; j < cmds[i].argc; j++)
            free(cmds[i].argv[j]);
        free(cmds[i].argv);
        free(cmds[i].lens);
    }
    free(cmds);
    free(rep.in.b);
    free(bin.b);
    free(big.b);
    free(all.b);
    free(sbuf.b);
}

int main(void)
{
    uint64_t rng = rmig_t_seed();
    test_basics();
    test_random_streams(&rng);
    test_big();
    test_errors(&rng);
    test_after_error();
    test_replication(&rng);
    return rmig_t_done();
}
