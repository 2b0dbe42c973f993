/* rdb_blob.c - walking listpacks, ziplists, intsets and zipmaps in place.
 *
 * Layouts are in shared/docs/RDB-FORMAT.md §8. Each step computes the size
 * of the entry from its header, checks that the whole entry (and its trailer:
 * a listpack's back-length) lies before the terminator, and only then reads
 * it. Counts in the headers are not trusted: a listpack or ziplist with 65535
 * elements is walked to the end, and a walk ends only at the terminator byte
 * placed exactly where the header said the blob ends. */
#include "rdb_blob.h"

#include <string.h>

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

size_t rmig_fmt_u64(char *buf, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

size_t rmig_fmt_i64(char *buf, int64_t v)
{
    if (v >= 0)
        return rmig_fmt_u64(buf, (uint64_t)v);
    buf[0] = '-';
    return 1 + rmig_fmt_u64(buf + 1, -(uint64_t)v);
}

static int set_int(rmig_blob_it *it, rmig_blob_val *v, int64_t x)
{
    v->is_int = 1;
    v->v = x;
    if (it->no_text) {
        v->len = 0;
        v->s = (const uint8_t *)it->num;
    } else {
        v->len = rmig_fmt_i64(it->num, x);
        v->s = (const uint8_t *)it->num;
    }
    it->count++;
    return 1;
}

static int set_str(rmig_blob_it *it, rmig_blob_val *v, const uint8_t *s, size_t len)
{
    v->is_int = 0;
    v->s = s;
    v->len = len;
    it->count++;
    return 1;
}

int rmig_blob_init(rmig_blob_it *it, int kind, const uint8_t *blob, size_t len)
{
    memset(it, 0, sizeof *it);
    it->kind = kind;
    switch (kind) {
    case RMIG_BLOB_LISTPACK:
        /* total_bytes(4) num_elements(2) entries 0xFF */
        if (len < 7 || le32(blob) != len || blob[len - 1] != 0xFF)
            return -1;
        it->p = blob + 6;
        it->end = blob + len - 1;
        return 0;
    case RMIG_BLOB_ZIPLIST:
        /* zlbytes(4) zltail(4) zllen(2) entries 0xFF */
        if (len < 11 || le32(blob) != len || blob[len - 1] != 0xFF || le32(blob + 4) > len - 1)
            return -1;
        it->p = blob + 10;
        it->end = blob + len - 1;
        return 0;
    case RMIG_BLOB_INTSET: {
        if (len < 8)
            return -1;
        uint32_t enc = le32(blob), n = le32(blob + 4);
        if ((enc != 2 && enc != 4 && enc != 8) || (uint64_t)enc * n + 8 != len)
            return -1;
        it->width = (int)enc;
        it->left = n;
        it->p = blob + 8;
        it->end = blob + len;
        return 0;
    }
    case RMIG_BLOB_ZIPMAP:
        /* zmlen(1) entries 0xFF; the terminator must be the last byte */
        if (len < 2 || blob[len - 1] != 0xFF)
            return -1;
        it->p = blob + 1;
        it->end = blob + len - 1;
        return 0;
    }
    return -1;
}

/* Bytes a listpack back-length takes for an entry of n bytes. The bounds are
 * Redis' own (lpEncodeBacklen): one less than the powers of 128, exclusive,
 * so an entry of exactly 16383 bytes has a 3-byte back-length. */
static size_t lp_backlen_size(size_t n)
{
    return n <= 127 ? 1 : n < 16383 ? 2 : n < 2097151 ? 3 : n < 268435455 ? 4 : 5;
}

static int lp_next(rmig_blob_it *it, rmig_blob_val *v)
{
    const uint8_t *p = it->p, *e = it->end;
    if (p == e)
        return 0;
    size_t room = (size_t)(e - p), hdr, dlen = 0;
    unsigned b = p[0];
    int64_t x = 0;
    int is_str = 0;

    if (b < 0x80) {
        hdr = 1;
        x = b;
    } else if ((b & 0xC0) == 0x80) {
        hdr = 1;
        dlen = b & 0x3F;
        is_str = 1;
    } else if ((b & 0xE0) == 0xC0) {
        if (room < 2)
            return -1;
        hdr = 2;
        uint64_t u = ((uint64_t)(b & 0x1F) << 8) | p[1];
        x = u >= 4096 ? (int64_t)u - 8192 : (int64_t)u;
    } else if ((b & 0xF0) == 0xE0) {
        if (room < 2)
            return -1;
        hdr = 2;
        dlen = ((size_t)(b & 0x0F) << 8) | p[1];
        is_str = 1;
    } else if (b == 0xF0) {
        if (room < 5)
            return -1;
        hdr = 5;
        dlen = le32(p + 1);
        is_str = 1;
    } else if (b >= 0xF1 && b <= 0xF4) {
        static const uint8_t w[] = {2, 3, 4, 8};
        size_t n = w[b - 0xF1];
        if (room < 1 + n)
            return -1;
        hdr = 1 + n;
        uint64_t u = 0;
        for (size_t i = 0; i < n; i++)
            u |= (uint64_t)p[1 + i] << (8 * i);
        if (n < 8) {
            uint64_t sign = 1ULL << (8 * n - 1);
            x = (int64_t)(u ^ sign) - (int64_t)sign;
        } else {
            x = (int64_t)u;
        }
    } else {
        return -1; /* 0xF5..0xFE are not entries; 0xFF only at the end */
    }
    if (dlen > room - hdr)
        return -1;
    size_t n = hdr + dlen, total = n + lp_backlen_size(n);
    if (total > room)
        return -1;
    it->p = p + total;
    if (is_str)
        return set_str(it, v, p + hdr, dlen);
    return set_int(it, v, x);
}

static int zl_next(rmig_blob_it *it, rmig_blob_val *v)
{
    const uint8_t *p = it->p, *e = it->end;
    if (p == e)
        return 0;
    size_t room = (size_t)(e - p);
    /* prevlen: one byte, or 0xFE and four bytes */
    size_t pl = p[0] == 0xFE ? 5 : 1;
    if (p[0] == 0xFF || room < pl + 1)
        return -1;
    p += pl;
    room -= pl;
    unsigned b = p[0];
    size_t hdr, dlen = 0;
    int64_t x = 0;
    int is_str = 0;

    switch (b >> 6) {
    case 0:
        hdr = 1;
        dlen = b & 0x3F;
        is_str = 1;
        break;
    case 1:
        if (room < 2)
            return -1;
        hdr = 2;
        dlen = ((size_t)(b & 0x3F) << 8) | p[1];
        is_str = 1;
        break;
    case 2:
        if (b != 0x80 || room < 5)
            return -1;
        hdr = 5;
        dlen = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        is_str = 1;
        break;
    default: {
        size_t n;
        switch (b) {
        case 0xC0: n = 2; break;
        case 0xD0: n = 4; break;
        case 0xE0: n = 8; break;
        case 0xF0: n = 3; break;
        case 0xFE: n = 1; break;
        default:
            if (b >= 0xF1 && b <= 0xFD) {
                it->p = p + 1;
                return set_int(it, v, (int64_t)(b & 0x0F) - 1);
            }
            return -1;
        }
        if (room < 1 + n)
            return -1;
        uint64_t u = 0;
        for (size_t i = 0; i < n; i++)
            u |= (uint64_t)p[1 + i] << (8 * i);
        uint64_t sign = n < 8 ? 1ULL << (8 * n - 1) : 0;
        x = n < 8 ? (int64_t)(u ^ sign) - (int64_t)sign : (int64_t)u;
        it->p = p + 1 + n;
        return set_int(it, v, x);
    }
    }
    if (dlen > room - hdr)
        return -1;
    it->p = p + hdr + dlen;
    (void)x;
    return is_str ? set_str(it, v, p + hdr, dlen) : -1;
}

static int is_next(rmig_blob_it *it, rmig_blob_val *v)
{
    if (!it->left)
        return 0;
    int64_t x;
    const uint8_t *p = it->p;
    if (it->width == 2)
        x = (int16_t)le16(p);
    else if (it->width == 4)
        x = (int32_t)le32(p);
    else
        x = (int64_t)le64(p);
    it->p += it->width;
    it->left--;
    return set_int(it, v, x);
}

/* zipmap length: one byte below 254, or 254 and a 4-byte little-endian length */
static int zm_len(const uint8_t **pp, const uint8_t *e, size_t *len)
{
    const uint8_t *p = *pp;
    if (p >= e)
        return -1;
    if (p[0] < 254) {
        *len = p[0];
        *pp = p + 1;
        return 0;
    }
    if (p[0] != 254 || e - p < 5)
        return -1;
    *len = le32(p + 1);
    *pp = p + 5;
    return 0;
}

static int zm_next(rmig_blob_it *it, rmig_blob_val *v)
{
    const uint8_t *p = it->p, *e = it->end;
    size_t len, free_bytes = 0;
    if (p == e) {
        return it->zm_value ? -1 : 0;
    }
    if (zm_len(&p, e, &len) < 0)
        return -1;
    if (it->zm_value) {
        if (p >= e)
            return -1;
        free_bytes = *p++;
    }
    if (len > (size_t)(e - p) || free_bytes > (size_t)(e - p) - len)
        return -1;
    it->p = p + len + free_bytes;
    it->zm_value = !it->zm_value;
    return set_str(it, v, p, len);
}

int rmig_blob_next(rmig_blob_it *it, rmig_blob_val *v)
{
    switch (it->kind) {
    case RMIG_BLOB_LISTPACK: return lp_next(it, v);
    case RMIG_BLOB_ZIPLIST: return zl_next(it, v);
    case RMIG_BLOB_INTSET: return is_next(it, v);
    case RMIG_BLOB_ZIPMAP: return zm_next(it, v);
    }
    return -1;
}

int rmig_blob_int(const rmig_blob_val *v, int64_t *out)
{
    if (v->is_int) {
        *out = v->v;
        return 0;
    }
    /* canonical decimal only, as Redis' string2ll */
    const uint8_t *s = v->s;
    size_t n = v->len, i = 0;
    int neg = 0;
    if (n == 0 || n > 20)
        return -1;
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1)
            return -1;
    }
    if (s[i] == '0' && n > i + 1)
        return -1;
    uint64_t u = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (u > (UINT64_MAX - d) / 10)
            return -1;
        u = u * 10 + d;
    }
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = (int64_t)(0 - u);
    } else {
        if (u > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)u;
    }
    return 0;
}
