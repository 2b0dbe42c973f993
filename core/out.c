/* out.c - buffered output and the JSON encodings inspect uses. */
#include "out.h"

#include "rdb_blob.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUT_CHUNK (1 << 16)

int rmig_out_init(rmig_out *o, int fd)
{
    memset(o, 0, sizeof *o);
    o->fd = fd;
    /* a memory buffer starts small and grows: some are made per key
     * (native.c), and big first allocations would each be an mmap */
    o->cap = fd >= 0 ? OUT_CHUNK * 2 : 4096;
    o->buf = malloc(o->cap);
    return o->buf ? 0 : -1;
}

void rmig_out_flush(rmig_out *o)
{
    size_t done = 0;
    if (o->fd < 0)
        return;
    while (done < o->len && !o->err) {
        ssize_t n = write(o->fd, o->buf + done, o->len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            o->err = errno;
            break;
        }
        done += (size_t)n;
    }
    o->len = 0;
}

int rmig_out_close(rmig_out *o)
{
    rmig_out_flush(o);
    free(o->buf);
    o->buf = NULL;
    return o->err;
}

static void reserve(rmig_out *o, size_t n)
{
    if (o->len + n <= o->cap)
        return;
    if (o->fd >= 0) {
        rmig_out_flush(o);
        if (n <= o->cap)
            return;
    }
    size_t cap = o->cap;
    while (cap < o->len + n)
        cap *= 2;
    char *b = realloc(o->buf, cap);
    if (!b) {
        fprintf(stderr, "rmig: out of memory for output\n");
        exit(1);
    }
    o->buf = b;
    o->cap = cap;
}

void rmig_out_mem(rmig_out *o, const void *p, size_t n)
{
    if (n == 0)
        return; /* p may be NULL then (memcpy must not see it) */
    reserve(o, n);
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    if (o->fd >= 0 && o->len >= OUT_CHUNK)
        rmig_out_flush(o);
}

void rmig_out_str(rmig_out *o, const char *s) { rmig_out_mem(o, s, strlen(s)); }

void rmig_out_char(rmig_out *o, char c)
{
    reserve(o, 1);
    o->buf[o->len++] = c;
}

void rmig_out_printf(rmig_out *o, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        rmig_out_mem(o, tmp, (size_t)n);
        return;
    }
    reserve(o, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(o->buf + o->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

void rmig_out_u64(rmig_out *o, uint64_t v)
{
    char b[24];
    rmig_out_mem(o, b, rmig_fmt_u64(b, v));
}

void rmig_out_i64(rmig_out *o, int64_t v)
{
    char b[24];
    rmig_out_mem(o, b, rmig_fmt_i64(b, v));
}

int rmig_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* fast path over ASCII, eight bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

void rmig_out_json_bytes(rmig_out *o, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (!rmig_utf8_valid(s, n)) {
        reserve(o, 10 + 2 * n);
        char *d = o->buf + o->len;
        memcpy(d, "{\"hex\":\"", 8);
        d += 8;
        for (size_t i = 0; i < n; i++) {
            *d++ = hex[s[i] >> 4];
            *d++ = hex[s[i] & 15];
        }
        *d++ = '"';
        *d++ = '}';
        o->len = (size_t)(d - o->buf);
        return;
    }
    reserve(o, 2 + 6 * n);
    char *d = o->buf + o->len;
    *d++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *d++ = (char)c;
            continue;
        }
        *d++ = '\\';
        switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        default:
            *d++ = 'u';
            *d++ = '0';
            *d++ = '0';
            *d++ = hex[c >> 4];
            *d++ = hex[c & 15];
        }
    }
    *d++ = '"';
    o->len = (size_t)(d - o->buf);
    if (o->fd >= 0 && o->len >= OUT_CHUNK)
        rmig_out_flush(o);
}

void rmig_out_json_score(rmig_out *o, double d)
{
    if (isnan(d)) {
        rmig_out_str(o, "\"nan\"");
        return;
    }
    if (isinf(d)) {
        rmig_out_str(o, d > 0 ? "\"inf\"" : "\"-inf\"");
        return;
    }
    if (d == 0)
        d = 0; /* -0 reads back from Redis as 0 */
    char b[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, d);
        if (strtod(b, NULL) == d)
            break;
    }
    rmig_out_printf(o, "\"%s\"", b);
}
