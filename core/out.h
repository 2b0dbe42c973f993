/* out.h - a buffered output stream with JSON helpers.
 *
 * inspect writes millions of small pieces; they go into one buffer that is
 * flushed to the file descriptor in large writes. JSON strings are written
 * as JSON strings when the bytes are valid UTF-8, else as {"hex": "..."}, the
 * shape shared/corpus/README.md describes, so binary keys and values survive
 * the trip losslessly. The first write error is kept and reported by
 * rmig_out_close. */
#ifndef RMIG_OUT_H
#define RMIG_OUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct rmig_out {
    int fd;
    char *buf;
    size_t len, cap;
    int err; /* errno of the first failed write */
} rmig_out;

/* A buffer that flushes to fd (fd < 0: a memory buffer, never flushed). */
int rmig_out_init(rmig_out *o, int fd);
/* Flushes and frees; returns 0 or the errno of the first failed write. */
int rmig_out_close(rmig_out *o);
void rmig_out_flush(rmig_out *o);

void rmig_out_mem(rmig_out *o, const void *p, size_t n);
void rmig_out_str(rmig_out *o, const char *s);
void rmig_out_char(rmig_out *o, char c);
void rmig_out_printf(rmig_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rmig_out_u64(rmig_out *o, uint64_t v);
void rmig_out_i64(rmig_out *o, int64_t v);

/* A JSON string, or {"hex": …} when the bytes are not valid UTF-8. */
void rmig_out_json_bytes(rmig_out *o, const uint8_t *s, size_t n);
/* A double in its shortest exact form ("2.5", "inf", "-inf", "nan"), quoted. */
void rmig_out_json_score(rmig_out *o, double d);

/* 1 when s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
int rmig_utf8_valid(const uint8_t *s, size_t n);

#endif
