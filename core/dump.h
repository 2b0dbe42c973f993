/* dump.h - DUMP/RESTORE payloads from raw RDB values.
 *
 * A payload is <type byte><value bytes as in an RDB file><RDB version, 2
 * bytes LE><CRC64 of everything before, 8 bytes LE> (RDB-FORMAT.md §12). The
 * parser hands out the value bytes (RMIG_RDB_EV_RAW) in pieces; these calls
 * build the footer over them without holding the value whole. */
#ifndef RMIG_DUMP_H
#define RMIG_DUMP_H

#include <stddef.h>
#include <stdint.h>

enum { RMIG_DUMP_FOOTER = 10 };

typedef struct rmig_dump {
    uint64_t crc;
} rmig_dump;

void rmig_dump_begin(rmig_dump *d, int rdb_type);
void rmig_dump_add(rmig_dump *d, const void *raw, size_t len);
/* Writes the 10-byte footer for a payload of the given RDB version. */
void rmig_dump_end(rmig_dump *d, int rdb_version, uint8_t footer[RMIG_DUMP_FOOTER]);

/* Checks a whole payload's footer: 0 with *version set, or -1 when it is too
 * short or its CRC64 does not match (a stored CRC of 0 is not accepted). */
int rmig_dump_verify(const uint8_t *payload, size_t len, int *version);

#endif
