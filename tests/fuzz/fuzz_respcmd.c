/* fuzz_respcmd.c - libFuzzer target for the RESP command parser. The first
 * byte says how the rest is cut into pieces (byte by byte, fixed sizes, or
 * random sizes drawn from it); the second whether every piece lands in a
 * fresh allocation of exactly the bytes held or in a buffer grown by realloc,
 * and the bulk limit (the default 512 MiB, or 1..64 bytes). The rest is fed
 * as the real caller feeds a socket: the unconsumed bytes kept at the start
 * of a buffer that moves between calls. Every command's slices must lie
 * inside the bytes it took, the byte counts must add up, an error must name a
 * byte inside what it was given, every command must have the shape its bytes
 * say (the arguments its header announces, the words of its line), and the
 * whole sequence (commands, counts and the error) must be exactly what one
 * parse of the whole input gives. */
#include "respcmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct trace {
    uint64_t h;      /* every command's size, argc and arguments, in order */
    size_t cmds;
    size_t consumed; /* the sum of the commands' sizes */
    size_t left;     /* unconsumed at the end */
    int error;
    char err[160];
} trace;

static _Noreturn void die(const char *why)
{
    fprintf(stderr, "fuzz_respcmd: %s\n", why);
    abort();
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

/* The number of a "<prefix><number>\r\n" line at q ("-0" is 0, as the
 * parser reads it); *after is the byte after its "\n". */
static long long line_number(const uint8_t *q, const uint8_t *end, const uint8_t **after)
{
    const uint8_t *nl = memchr(q, '\n', (size_t)(end - q));
    if (!nl || nl - q < 3 || nl[-1] != '\r')
        die("a command whose header line is not \"<prefix><number>\\r\\n\"");
    *after = nl + 1;
    int neg = q[1] == '-';
    long long v = 0;
    for (const uint8_t *d = q + 1 + neg; d < nl - 1; d++) {
        if (*d < '0' || *d > '9')
            die("a command whose header holds a non-digit");
        if (v < 100000000000LL) /* the parser took it, so it is small or a negative array count */
            v = v * 10 + (*d - '0');
    }
    return neg ? -v : v;
}

/* What a command must look like, from its bytes alone: an array is its
 * header and then, back to back up to its last byte, "$<len>\r\n" + the
 * argument + "\r\n" per argument announced; an inline command is one line,
 * its arguments the words between spaces and tabs, in order. */
static void shape(const rmig_respcmd *c, const uint8_t *p, size_t rc)
{
    const uint8_t *end = p + rc, *q;
    if (p[0] == '*') {
        long long want = line_number(p, end, &q);
        if (want <= 0 ? c->argc != 0 : c->argc != want)
            die("an array command whose argc is not the count its header announces");
        for (int i = 0; i < c->argc; i++) {
            if (q >= end || *q != '$')
                die("an array argument that does not start with '$'");
            long long len = line_number(q, end, &q);
            if (c->argv[i] != q || (long long)c->lens[i] != len)
                die("an argument slice that is not the bulk its header announces");
            q += c->lens[i];
            if (q + 2 > end || q[0] != '\r' || q[1] != '\n')
                die("an argument not followed by CRLF");
            q += 2;
        }
        if (q != end)
            die("an array command taking bytes beyond its last argument");
        return;
    }
    if (end[-1] != '\n' || memchr(p, '\n', rc - 1))
        die("an inline command that is not exactly one line");
    q = p;
    for (int i = 0; i < c->argc; i++) {
        if (c->argv[i] < q || c->lens[i] == 0)
            die("inline words out of order or empty");
        for (const uint8_t *b = q; b < c->argv[i]; b++)
            if (*b != ' ' && *b != '\t')
                die("an inline line with bytes between words that are not blanks");
        for (size_t j = 0; j < c->lens[i]; j++)
            if (c->argv[i][j] == ' ' || c->argv[i][j] == '\t' || c->argv[i][j] == '\n')
                die("an inline word holding a blank");
        q = c->argv[i] + c->lens[i];
        if (q < end - 1 && *q != ' ' && *q != '\t' && !(*q == '\r' && q + 2 == end))
            die("an inline word that stops before a blank");
    }
    for (; q < end - 1; q++)
        if (*q != ' ' && *q != '\t' && !(*q == '\r' && q + 2 == end))
            die("an inline line with bytes after its last word that are not blanks");
}

/* A command of rc bytes at p[0..n): checks its slices and folds it in. */
static void took(const rmig_respcmd *c, const uint8_t *p, size_t n, long long rc, trace *t)
{
    if ((size_t)rc > n)
        die("a command took more bytes than it was given");
    if (c->argc < 0 || (size_t)c->argc > (size_t)rc)
        die("more arguments than bytes");
    uint64_t v = (uint64_t)rc;
    t->h = mix(t->h, &v, sizeof v);
    v = (uint64_t)c->argc;
    t->h = mix(t->h, &v, sizeof v);
    for (int i = 0; i < c->argc; i++) {
        if (c->argv[i] < p || c->lens[i] > (size_t)rc || c->argv[i] + c->lens[i] > p + rc)
            die("an argument slice outside the bytes its command took");
        v = c->lens[i];
        t->h = mix(t->h, &v, sizeof v);
        t->h = mix(t->h, c->argv[i], c->lens[i]);
    }
    shape(c, p, (size_t)rc);
    t->cmds++;
    t->consumed += (size_t)rc;
}

/* An error on p[0..n): a message naming a byte inside it. */
static void failed(const rmig_respcmd *c, size_t n, trace *t)
{
    const char *e = rmig_respcmd_error(c);
    const char *at = strstr(e, " at byte ");
    unsigned long long b = 0;
    if (!at || sscanf(at, " at byte %llu", &b) != 1)
        die("an error message that names no byte");
    if (b >= n)
        die("an error naming a byte past what the parser was given");
    t->error = 1;
    snprintf(t->err, sizeof t->err, "%s", e);
}

static void parse_whole(const uint8_t *p, size_t n, uint64_t max_bulk, trace *t)
{
    rmig_respcmd c;
    rmig_respcmd_init(&c, max_bulk);
    size_t at = 0;
    for (;;) {
        long long rc = at < n ? rmig_respcmd_parse(&c, p + at, n - at) : 0;
        if (rc < -1)
            die("an answer below -1");
        if (rc < 0) {
            failed(&c, n - at, t);
            break;
        }
        if (rc == 0) {
            t->left = n - at;
            break;
        }
        took(&c, p + at, n - at, rc, t);
        at += (size_t)rc;
    }
    rmig_respcmd_free(&c);
}

static uint64_t next_rand(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void parse_split(const uint8_t *data, size_t n, uint8_t how, int fresh, uint64_t max_bulk, trace *t)
{
    rmig_respcmd c;
    rmig_respcmd_init(&c, max_bulk);
    uint64_t rng = how;
    unsigned mode = how & 3;
    if (mode == 0 && n > 16384)
        mode = 3; /* byte by byte over an inline line re-reads up to 64 KiB per byte */
    uint8_t *buf = NULL;
    size_t have = 0, cap = 0, fed = 0;
    for (;;) {
        size_t k = 0;
        if (fed < n) {
            switch (mode) {
            case 0: k = 1; break;
            case 1: k = 1 + (size_t)(how >> 2); break;
            case 2: k = 1 + (size_t)(next_rand(&rng) % 16); break;
            default: k = 1 + (size_t)(next_rand(&rng) % 512); break;
            }
            if (k > n - fed)
                k = n - fed;
            if (fresh) {
                uint8_t *nb = malloc(have + k);
                if (!nb)
                    die("out of memory");
                if (have)
                    memcpy(nb, buf, have);
                free(buf);
                buf = nb;
                cap = have + k;
            } else if (have + k > cap) {
                cap = cap ? cap : 16;
                while (cap < have + k)
                    cap *= 2;
                uint8_t *nb = realloc(buf, cap);
                if (!nb)
                    die("out of memory");
                buf = nb;
            }
            memcpy(buf + have, data + fed, k);
            have += k;
            fed += k;
        }
        long long rc = 0;
        size_t pos = 0;
        while (pos < have) {
            rc = rmig_respcmd_parse(&c, buf + pos, have - pos);
            if (rc < -1)
                die("an answer below -1");
            if (rc <= 0)
                break;
            took(&c, buf + pos, have - pos, rc, t);
            pos += (size_t)rc;
        }
        if (rc < 0) {
            failed(&c, have - pos, t);
            break;
        }
        if (pos && have > pos)
            memmove(buf, buf + pos, have - pos);
        have -= pos;
        if (fed == n) {
            t->left = have;
            break;
        }
    }
    free(buf);
    rmig_respcmd_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t how = data[0], opt = data[1];
    int fresh = opt & 1;
    unsigned mb = opt >> 1;
    uint64_t max_bulk = mb >= 64 ? (uint64_t)(mb - 63) : 0;
    const uint8_t *p = data + 2;
    size_t n = size - 2;

    trace whole = {0}, split = {0};
    parse_whole(p, n, max_bulk, &whole);
    if (!whole.error && whole.consumed + whole.left != n)
        die("the commands and the rest do not add up to the input");
    parse_split(p, n, how, fresh, max_bulk, &split);
    if (!split.error && split.consumed + split.left != n)
        die("fed in pieces, the commands and the rest do not add up to the input");
    if (whole.cmds != split.cmds || whole.h != split.h || whole.consumed != split.consumed)
        die("fed in pieces, the commands differ from a whole parse");
    if (whole.error != split.error || strcmp(whole.err, split.err))
        die("fed in pieces, the error differs from a whole parse");
    if (!whole.error && whole.left != split.left)
        die("fed in pieces, a different number of bytes is left over");
    return 0;
}
