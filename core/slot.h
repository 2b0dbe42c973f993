/* slot.h - a key's Redis Cluster hash slot (slot.c). */
#ifndef RMIG_SLOT_H
#define RMIG_SLOT_H

#include <stddef.h>
#include <stdint.h>

#define RMIG_SLOTS 16384

/* CRC16-CCITT (XMODEM: poly 0x1021, init 0, no reflection), as Redis
 * Cluster computes it. */
uint16_t rmig_slot_crc16(const void *p, size_t n);

/* The slot of a key: CRC16 of its hash tag when it has one (the bytes
 * between the first '{' and the first '}' after it, when there is at least
 * one byte between them; "{}" means the whole key), else of the whole key,
 * mod 16384. */
unsigned rmig_slot_of(const void *key, size_t n);

#endif
