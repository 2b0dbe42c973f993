/* respcmd.h - a pull parser for RESP commands: the replication stream a
 * master sends its replicas (and any client's request stream).
 *
 * The parser does no I/O and copies nothing. The caller keeps the bytes
 * received in one buffer and calls rmig_respcmd_parse on what it has not
 * consumed yet; the answer is a whole command (its argv as slices of that
 * buffer and how many bytes it took), "need more", or an error naming the
 * offset. A command that arrives in pieces is not scanned again from its
 * start each time: the parser remembers how far it got, as offsets, so the
 * caller may move the buffer (realloc, compaction) between calls as long as
 * the unconsumed bytes stay in order at its start. Masters send only arrays
 * of bulk strings; inline commands (a line of words, and the bare "\n" a
 * master sends as a keep-alive) are taken too.
 *
 * Limits, as Redis's own: at most 1M arguments (1024*1024) and 512 MiB per
 * argument by default (max_bulk). */
#ifndef RMIG_RESPCMD_H
#define RMIG_RESPCMD_H

#include <stddef.h>
#include <stdint.h>

typedef struct rmig_respcmd {
    /* the last command parsed: argc slices of the caller's buffer */
    int argc;
    const uint8_t **argv;
    size_t *lens;
    /* internal: progress through a command that is not complete yet */
    size_t pos;        /* bytes of the command examined so far */
    int want, got;     /* arguments announced, arguments complete */
    size_t *offs;      /* argument offsets from the command's start */
    size_t cap;
    uint64_t max_bulk;
    char err[160];
} rmig_respcmd;

void rmig_respcmd_init(rmig_respcmd *c, uint64_t max_bulk);
void rmig_respcmd_free(rmig_respcmd *c);
/* Parses one command at p[0..n). > 0: a command of that many bytes, in
 * c->argc/argv/lens (valid while the buffer is); a bare newline or an empty
 * inline line gives argc 0. 0: the command is not complete; call again with
 * the same bytes and more after them. -1: not RESP (c->err says what, at
 * which byte from p), or out of memory. */
long long rmig_respcmd_parse(rmig_respcmd *c, const uint8_t *p, size_t n);
const char *rmig_respcmd_error(const rmig_respcmd *c);

#endif
