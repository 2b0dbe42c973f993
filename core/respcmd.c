/* respcmd.c - RESP commands pulled from a byte buffer (see respcmd.h). */
#include "respcmd.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS (1024 * 1024)
#define INLINE_MAX (64 * 1024) /* Redis refuses longer inline requests too */
#define LINE_MAX_LEN 32        /* "$" or "*" and a 64-bit number */

void rmig_respcmd_init(rmig_respcmd *c, uint64_t max_bulk)
{
    memset(c, 0, sizeof *c);
    c->max_bulk = max_bulk ? max_bulk : (uint64_t)512 << 20;
}

void rmig_respcmd_free(rmig_respcmd *c)
{
    free(c->argv);
    free(c->lens);
    free(c->offs);
    memset(c, 0, sizeof *c);
}

const char *rmig_respcmd_error(const rmig_respcmd *c)
{
    return c->err;
}

static int fail(rmig_respcmd *c, size_t at, const char *what)
{
    snprintf(c->err, sizeof c->err, "%s at byte %zu of the command stream's unread part", what, at);
    c->pos = 0;
    c->want = c->got = 0;
    return -1;
}

static int room(rmig_respcmd *c, size_t need)
{
    if (need <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap : 16;
    while (cap < need)
        cap *= 2;
    const uint8_t **a = realloc(c->argv, cap * sizeof *a);
    if (a)
        c->argv = a;
    size_t *l = realloc(c->lens, cap * sizeof *l);
    if (l)
        c->lens = l;
    size_t *o = realloc(c->offs, cap * sizeof *o);
    if (o)
        c->offs = o;
    if (!a || !l || !o)
        return -1;
    c->cap = cap;
    return 0;
}

/* A "<prefix><number>\r\n" line at p[at..n): the number and the bytes
 * after the line in *next; 1 done, 0 incomplete, -1 malformed. */
static int number_line(const uint8_t *p, size_t n, size_t at, long long *v, size_t *next)
{
    size_t lim = n - at < LINE_MAX_LEN ? n - at : LINE_MAX_LEN;
    const uint8_t *cr = memchr(p + at, '\r', lim);
    if (!cr)
        return lim == LINE_MAX_LEN ? -1 : 0;
    size_t end = (size_t)(cr - p);
    if (end + 1 >= n)
        return 0;
    if (p[end + 1] != '\n')
        return -1;
    size_t i = at + 1;
    int neg = 0;
    if (i < end && p[i] == '-') {
        neg = 1;
        i++;
    }
    if (i == end)
        return -1;
    long long x = 0;
    for (; i < end; i++) {
        if (p[i] < '0' || p[i] > '9' || x > (LLONG_MAX - 9) / 10)
            return -1;
        x = x * 10 + (p[i] - '0');
    }
    *v = neg ? -x : x;
    *next = end + 2;
    return 1;
}

static long long parse_inline(rmig_respcmd *c, const uint8_t *p, size_t n)
{
    size_t lim = n < INLINE_MAX ? n : INLINE_MAX;
    const uint8_t *nl = memchr(p, '\n', lim);
    if (!nl) {
        if (lim == INLINE_MAX)
            return fail(c, 0, "an inline command longer than 64 KiB (not RESP?)");
        return 0;
    }
    size_t end = (size_t)(nl - p), len = end;
    if (len && p[len - 1] == '\r')
        len--;
    int argc = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && (p[i] == ' ' || p[i] == '\t'))
            i++;
        if (i == len)
            break;
        size_t s = i;
        while (i < len && p[i] != ' ' && p[i] != '\t')
            i++;
        if (room(c, (size_t)argc + 1) < 0)
            return fail(c, 0, "out of memory");
        c->argv[argc] = p + s;
        c->lens[argc] = i - s;
        argc++;
    }
    c->argc = argc;
    return (long long)end + 1;
}

long long rmig_respcmd_parse(rmig_respcmd *c, const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    if (c->pos == 0) {
        if (p[0] != '*')
            return parse_inline(c, p, n);
        long long want;
        size_t next;
        int rc = number_line(p, n, 0, &want, &next);
        if (rc < 0)
            return fail(c, 0, "a malformed array header");
        if (rc == 0)
            return 0;
        if (want > MAX_ARGS)
            return fail(c, 0, "more than 1M arguments in one command");
        if (want <= 0) { /* Redis takes "*0" and "*-1" as nothing */
            c->argc = 0;
            return (long long)next;
        }
        /* room as arguments arrive, not as announced: a header alone
         * allocates little, as in Redis */
        if (room(c, want < 1024 ? (size_t)want : 1024) < 0)
            return fail(c, 0, "out of memory");
        c->want = (int)want;
        c->got = 0;
        c->pos = next;
    }
    while (c->got < c->want) {
        size_t at = c->pos;
        if (at >= n)
            return 0;
        if (p[at] != '$')
            return fail(c, at, "expected a bulk string ('$')");
        long long len;
        size_t next;
        int rc = number_line(p, n, at, &len, &next);
        if (rc < 0)
            return fail(c, at, "a malformed bulk length");
        if (rc == 0)
            return 0;
        if (len < 0 || (uint64_t)len > c->max_bulk)
            return fail(c, at, "a bulk length out of range");
        if (n - next < (size_t)len + 2)
            return 0;
        if (p[next + (size_t)len] != '\r' || p[next + (size_t)len + 1] != '\n')
            return fail(c, next + (size_t)len, "a bulk string not followed by CRLF");
        if ((size_t)c->got >= c->cap && room(c, (size_t)c->got + 1) < 0)
            return fail(c, at, "out of memory");
        c->offs[c->got] = next;
        c->lens[c->got] = (size_t)len;
        c->got++;
        c->pos = next + (size_t)len + 2;
    }
    for (int i = 0; i < c->want; i++)
        c->argv[i] = p + c->offs[i];
    c->argc = c->want;
    long long used = (long long)c->pos;
    c->pos = 0;
    c->want = c->got = 0;
    return used;
}
