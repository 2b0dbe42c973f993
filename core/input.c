/* input.c - file and stdin input with transparent LZ4 frame decoding. */
#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SRC_CAP (256 << 10)

struct rmig_input {
    int fd;
    char path[256];
    uint64_t size;
    /* bytes read ahead to sniff the format, handed out first */
    uint8_t peek[4];
    size_t peek_len, peek_pos;
    /* LZ4 */
    LZ4F_dctx *dctx;
    uint8_t *src;
    size_t src_len, src_pos;
    uint64_t src_off; /* compressed bytes consumed */
    int src_eof;
    int frame_done;
};

static ssize_t raw_read(rmig_input *in, void *buf, size_t cap)
{
    for (;;) {
        ssize_t n = read(in->fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        return n;
    }
}

rmig_input *rmig_input_open(const char *path, char *err, size_t errlen)
{
    rmig_input *in = calloc(1, sizeof *in);
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(in->path, sizeof in->path, "%s", strcmp(path, "-") ? path : "stdin");
    if (!strcmp(path, "-")) {
        in->fd = 0;
    } else {
        in->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (in->fd < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            free(in);
            return NULL;
        }
    }
    struct stat st;
    if (fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode)) {
        in->size = (uint64_t)st.st_size;
#ifdef POSIX_FADV_SEQUENTIAL
        posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    } else if (fstat(in->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory, not an RDB file", in->path);
        rmig_input_close(in);
        return NULL;
    }
    /* sniff the first four bytes */
    while (in->peek_len < 4) {
        ssize_t n = raw_read(in, in->peek + in->peek_len, 4 - in->peek_len);
        if (n < 0) {
            snprintf(err, errlen, "%s: %s", in->path, strerror(errno));
            rmig_input_close(in);
            return NULL;
        }
        if (n == 0)
            break;
        in->peek_len += (size_t)n;
    }
    static const uint8_t lz4_magic[4] = {0x04, 0x22, 0x4D, 0x18};
    if (in->peek_len == 4 && !memcmp(in->peek, lz4_magic, 4)) {
        if (LZ4F_isError(LZ4F_createDecompressionContext(&in->dctx, LZ4F_VERSION)) ||
            !(in->src = malloc(SRC_CAP))) {
            snprintf(err, errlen, "out of memory");
            rmig_input_close(in);
            return NULL;
        }
        memcpy(in->src, in->peek, 4);
        in->src_len = 4;
        in->peek_len = 0;
        in->size = 0;
    }
    return in;
}

int rmig_input_lz4(const rmig_input *in) { return in->dctx != NULL; }
uint64_t rmig_input_size(const rmig_input *in) { return in->size; }

ssize_t rmig_input_pread(rmig_input *in, void *buf, size_t cap, uint64_t off)
{
    if (in->dctx || !in->size) /* LZ4, or not a regular file */
        return -1;
    for (;;) {
        ssize_t n = pread(in->fd, buf, cap, (off_t)off);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

static ssize_t lz4_read(rmig_input *in, uint8_t *buf, size_t cap, char *err, size_t errlen)
{
    size_t out = 0;
    while (out < cap) {
        if (in->src_pos == in->src_len && !in->src_eof) {
            ssize_t n = raw_read(in, in->src, SRC_CAP);
            if (n < 0) {
                snprintf(err, errlen, "%s: %s", in->path, strerror(errno));
                return -1;
            }
            in->src_len = (size_t)n;
            in->src_pos = 0;
            if (n == 0)
                in->src_eof = 1;
        }
        size_t src_n = in->src_len - in->src_pos, dst_n = cap - out;
        size_t hint = LZ4F_decompress(in->dctx, buf + out, &dst_n, in->src + in->src_pos, &src_n,
                                      NULL);
        if (LZ4F_isError(hint)) {
            snprintf(err, errlen, "%s: corrupt LZ4 frame near compressed offset %llu: %s", in->path,
                     (unsigned long long)in->src_off, LZ4F_getErrorName(hint));
            return -1;
        }
        in->src_pos += src_n;
        in->src_off += src_n;
        out += dst_n;
        /* a call that moved nothing (at the end of input) says nothing about the frame */
        if (src_n || dst_n)
            in->frame_done = hint == 0;
        if (in->src_eof && src_n == 0 && dst_n == 0) {
            if (!in->frame_done) {
                snprintf(err, errlen, "%s: the LZ4 frame ends early, at compressed offset %llu",
                         in->path, (unsigned long long)in->src_off);
                return -1;
            }
            break;
        }
        if (dst_n == 0 && src_n == 0 && out > 0)
            break;
    }
    return (ssize_t)out;
}

ssize_t rmig_input_read(rmig_input *in, void *buf, size_t cap, char *err, size_t errlen)
{
    if (in->dctx)
        return lz4_read(in, buf, cap, err, errlen);
    if (in->peek_pos < in->peek_len) {
        size_t n = in->peek_len - in->peek_pos;
        if (n > cap)
            n = cap;
        memcpy(buf, in->peek + in->peek_pos, n);
        in->peek_pos += n;
        return (ssize_t)n;
    }
    ssize_t n = raw_read(in, buf, cap);
    if (n < 0)
        snprintf(err, errlen, "%s: %s", in->path, strerror(errno));
    return n;
}

void rmig_input_close(rmig_input *in)
{
    if (!in)
        return;
    if (in->fd > 0)
        close(in->fd);
    if (in->dctx)
        LZ4F_freeDecompressionContext(in->dctx);
    free(in->src);
    free(in);
}
