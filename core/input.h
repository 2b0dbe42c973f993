/* input.h - reading a dump from a file or stdin, LZ4-framed or not.
 *
 * rmig_input_open("-") reads standard input. Whether the bytes are an LZ4
 * frame is decided by their first four bytes (the frame magic), not by the
 * file name, so "dump.rdb.lz4" and a piped "lz4 -c dump.rdb" both work.
 * Errors name the path and, for a broken LZ4 stream, the compressed offset. */
#ifndef RMIG_INPUT_H
#define RMIG_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct rmig_input rmig_input;

/* Opens path ("-" for stdin); NULL with a message in err on failure. */
rmig_input *rmig_input_open(const char *path, char *err, size_t errlen);

/* Reads up to cap bytes of the (decompressed) stream into buf: the count,
 * 0 at the end, -1 with a message in err. */
ssize_t rmig_input_read(rmig_input *in, void *buf, size_t cap, char *err, size_t errlen);

/* 1 when the input is LZ4-compressed. */
int rmig_input_lz4(const rmig_input *in);

/* Size of the file when known (a regular file, not compressed), else 0. */
uint64_t rmig_input_size(const rmig_input *in);

/* Reads at a position of the file, leaving the stream where it is: only a
 * regular, uncompressed file (else -1), for a look ahead. */
ssize_t rmig_input_pread(rmig_input *in, void *buf, size_t cap, uint64_t off);

void rmig_input_close(rmig_input *in);

#endif
