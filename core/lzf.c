/* lzf.c - LZF decompression (the liblzf stream format), with every copy
 * checked against both buffers.
 *
 * A control byte below 32 announces a literal run of ctrl+1 bytes. Otherwise
 * its top three bits are a match length (7 means "add the next byte") and the
 * low five bits with the next byte give a back distance; the match copies
 * length+2 bytes from that far behind the output end, possibly overlapping
 * itself (which is how runs are encoded), so it is copied byte by byte when
 * the regions overlap. */
#include "lzf.h"

#include <string.h>

int rmig_lzf_decompress(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
    const uint8_t *ip = in, *ie = in + in_len;
    uint8_t *op = out, *oe = out + out_len;

    while (ip < ie) {
        unsigned ctrl = *ip++;
        if (ctrl < 32) {
            size_t n = ctrl + 1;
            if ((size_t)(ie - ip) < n || (size_t)(oe - op) < n)
                return -1;
            /* a fixed 32-byte copy is two moves; take it where both buffers have room */
            if ((size_t)(ie - ip) >= 32 && (size_t)(oe - op) >= 32)
                memcpy(op, ip, 32);
            else
                memcpy(op, ip, n);
            op += n;
            ip += n;
            continue;
        }
        size_t n = ctrl >> 5;
        if (n == 7) {
            if (ip >= ie)
                return -1;
            n += *ip++;
        }
        if (ip >= ie)
            return -1;
        size_t dist = ((size_t)(ctrl & 0x1f) << 8) + *ip++ + 1;
        n += 2;
        if (dist > (size_t)(op - out) || (size_t)(oe - op) < n)
            return -1;
        const uint8_t *ref = op - dist;
        if (dist >= 8 && (size_t)(oe - op) >= n + 8) {
            /* 8 bytes at a time: each read ends at or before the write, so
             * overlapping runs repeat correctly; up to 7 bytes past n are
             * scratch, overwritten by what follows */
            for (size_t k = 0; k < n; k += 8)
                memcpy(op + k, ref + k, 8);
            op += n;
        } else {
            while (n--)
                *op++ = *ref++;
        }
    }
    return op == oe ? 0 : -1;
}
