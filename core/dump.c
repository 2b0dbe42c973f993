/* dump.c - the DUMP payload footer: RDB version and CRC64. */
#include "dump.h"

#include "crc64.h"

void rmig_dump_begin(rmig_dump *d, int rdb_type)
{
    uint8_t t = (uint8_t)rdb_type;
    d->crc = rmig_crc64(0, &t, 1);
}

void rmig_dump_add(rmig_dump *d, const void *raw, size_t len) { d->crc = rmig_crc64(d->crc, raw, len); }

void rmig_dump_end(rmig_dump *d, int rdb_version, uint8_t footer[RMIG_DUMP_FOOTER])
{
    footer[0] = (uint8_t)(rdb_version & 0xff);
    footer[1] = (uint8_t)((rdb_version >> 8) & 0xff);
    uint64_t crc = rmig_crc64(d->crc, footer, 2);
    for (int i = 0; i < 8; i++)
        footer[2 + i] = (uint8_t)(crc >> (8 * i));
}

int rmig_dump_verify(const uint8_t *payload, size_t len, int *version)
{
    if (len < 1 + RMIG_DUMP_FOOTER)
        return -1;
    const uint8_t *f = payload + len - RMIG_DUMP_FOOTER;
    uint64_t stored = 0;
    for (int i = 7; i >= 0; i--)
        stored = stored << 8 | f[2 + i];
    if (rmig_crc64(0, payload, len - 8) != stored)
        return -1;
    *version = f[0] | f[1] << 8;
    return 0;
}
