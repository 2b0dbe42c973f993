/* lzf.h - bounded LZF decompression for RDB strings and blobs.
 *
 * Redis compresses strings longer than 20 bytes with liblzf's format and
 * stores (compressed length, uncompressed length, data). This decoder never
 * reads past the input nor writes past the output, whatever the input holds:
 * it is fed bytes straight from untrusted files. */
#ifndef RMIG_LZF_H
#define RMIG_LZF_H

#include <stddef.h>
#include <stdint.h>

/* Decompresses in[0..in_len) into out, which has room for exactly out_len
 * bytes. Returns 0 when the data decodes to exactly out_len bytes, -1 when it
 * is malformed (a back-reference before the start, a literal or copy that
 * runs past either end) or decodes to another length. */
int rmig_lzf_decompress(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len);

#endif
