/* lzf.h - bounded LZF decompression for RDB strings and blobs.
 *
 * Redis compresses strings longer than 20 bytes with liblzf's format and
 * stores (compressed length, uncompressed length, data). These decoders never
 * read past the input nor write past the output, whatever the input holds:
 * they are fed bytes straight from untrusted files.
 *
 * Two forms with the same strictness: rmig_lzf_decompress for data held
 * whole, and rmig_lzf_stream for data that arrives, and is handed on, in
 * slices (a long string decoded piece by piece in bounded memory). Both
 * accept exactly the same inputs. */
#ifndef RMIG_LZF_H
#define RMIG_LZF_H

#include <stddef.h>
#include <stdint.h>

/* How far back a back-reference can reach: ((ctrl & 0x1f) << 8) + byte + 1. */
#define RMIG_LZF_WINDOW 8192

/* Decompresses in[0..in_len) into out, which has room for exactly out_len
 * bytes. Returns 0 when the data decodes to exactly out_len bytes, -1 when it
 * is malformed (a back-reference before the start, a literal or copy that
 * runs past either end) or decodes to another length. */
int rmig_lzf_decompress(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len);

/* An incremental decoder. It keeps the last RMIG_LZF_WINDOW bytes of output
 * as history, and a token cut between two slices (a literal run in progress,
 * a back-reference whose length or distance byte has not arrived, a copy
 * waiting for output room). The caller owns the struct (about 8 KiB, no
 * allocation inside); it needs no cleanup. */
typedef struct rmig_lzf_stream {
    uint64_t out_len;  /* the declared decoded length */
    uint64_t out_done; /* bytes produced so far */
    uint64_t in_done;  /* bytes consumed so far */
    uint64_t tok_at;   /* input offset of the current token's control byte */
    uint64_t err_at;   /* input offset the error refers to */
    const char *err;   /* what went wrong (static text), NULL while none */
    int state;         /* where inside a token the input stopped */
    unsigned ctrl;     /* the current token's control byte */
    size_t n;          /* literal or match bytes still to produce */
    size_t dist;       /* the match's distance */
    uint8_t hist[RMIG_LZF_WINDOW]; /* output byte k is at hist[k % RMIG_LZF_WINDOW] */
} rmig_lzf_stream;

/* Starts decoding data announced to decode to out_len bytes. */
void rmig_lzf_stream_init(rmig_lzf_stream *s, uint64_t out_len);

/* Decodes from in[0..in_len) into out[0..out_cap): sets *consumed and
 * *produced and returns 0, having stopped when the input was used up or when
 * out is full. When out is full it does not look at the next token, so where
 * it stops, and what it refuses, does not depend on how the input was cut,
 * only on the output room given; once out_len bytes are produced, any
 * further input is refused at once. Returns -1 on malformed data (a
 * back-reference before the start of the output, a token that goes past
 * out_len): see rmig_lzf_stream_error. Errors stick. */
int rmig_lzf_stream_run(rmig_lzf_stream *s, const uint8_t *in, size_t in_len, size_t *consumed,
                        uint8_t *out, size_t out_cap, size_t *produced);

/* Says that the input is over (call it after a run that consumed the last
 * byte and left output room). Returns 0 when the data decoded to exactly
 * out_len bytes and ended on a token boundary, else -1. */
int rmig_lzf_stream_end(rmig_lzf_stream *s);

/* The error in words ("" when none), and the input offset it refers to. */
const char *rmig_lzf_stream_error(const rmig_lzf_stream *s);
uint64_t rmig_lzf_stream_error_at(const rmig_lzf_stream *s);

#endif
