/* crc64.h - CRC-64/Jones as Redis uses it for RDB files and DUMP payloads.
 *
 * Reflected polynomial 0xad93d23594c935a9, initial value 0, no final xor:
 * rmig_crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9ca. Updates chain, so a
 * stream can be checked piece by piece: crc = rmig_crc64(crc, next, n). */
#ifndef RMIG_CRC64_H
#define RMIG_CRC64_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc over len bytes at p and returns the new value. Thread-safe;
 * the tables are built on first use. */
uint64_t rmig_crc64(uint64_t crc, const void *p, size_t len);

#endif
