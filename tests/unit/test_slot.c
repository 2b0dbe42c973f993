/* test_slot.c - CRC16 and hash slots against values a cluster-enabled
 * redis-server 7.0.15 gave for CLUSTER KEYSLOT (recorded by hand, so that
 * this test needs no server), hash tag edge cases included. */
#include "slot.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>

/* The definition, one bit at a time: what the table must reproduce. */
static uint16_t crc16_bitwise(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

typedef struct vec {
    const char *key;
    size_t len;
    unsigned slot;
} vec;

/* clang-format off */
#define V(s, slot) {s, sizeof(s) - 1, slot}

/* CLUSTER KEYSLOT answers of redis-server 7.0.15 */
static const vec server[] = {
    V("foo", 12182),
    V("bar", 5061),
    V("user1000", 3443),
    V("{user1000}.following", 3443),
    V("{user1000}.followers", 3443),
    V("foo{}{bar}", 8363),          /* "{}" first: no tag, the whole key */
    V("{bar", 4015),
    V("foo{{bar}}zap", 4015),       /* the tag is "{bar" */
    V("foo{bar}{zap}", 5061),       /* the first tag only: "bar" */
    V("{}", 15257),
    V("", 0),
    V("123456789", 12739),
    V("\x80\x81\xfe\xff", 16236),
    V("k\0ey", 7340),
    V("\xff{\xe9t\xe9}x", 5690),    /* a tag of bytes >= 0x80 */
    V("{\xe9t\xe9}", 5690),
    V("\xe9t\xe9", 5690),
    V("a}b{c", 13587),              /* '}' before '{' closes nothing */
    V("}{", 12793),
    V("{", 4092),
    V("}", 12090),
    V("{a", 10276),
    V("user:\xc3\xa9\xc3\xa8", 5855),
};
/* clang-format on */

int main(void)
{
    CHECK("crc16 of \"123456789\" is the XMODEM check value 0x31c3",
          rmig_slot_crc16("123456789", 9) == 0x31c3, "got %04x", rmig_slot_crc16("123456789", 9));
    CHECK("crc16 of nothing is 0", rmig_slot_crc16("", 0) == 0, "not 0");

    for (size_t i = 0; i < sizeof server / sizeof server[0]; i++) {
        char name[96];
        snprintf(name, sizeof name, "the slot of key #%zu is the server's %u", i, server[i].slot);
        unsigned got = rmig_slot_of(server[i].key, server[i].len);
        CHECK(name, got == server[i].slot, "got %u", got);
    }

    /* every byte value 0..255 in order: the tag is "|" (between 0x7b and 0x7d) */
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    CHECK("a key holding every byte value hashes as the server does", rmig_slot_of(all, sizeof all) == 16155,
          "got %u", rmig_slot_of(all, sizeof all));
    CHECK("a key of every byte value hashes its tag \"|\"", rmig_slot_of(all, 256) == rmig_slot_of("|", 1),
          "differs");

    CHECK("keys with the tag {user1000} share the slot of user1000",
          rmig_slot_of("{user1000}.following", 20) == rmig_slot_of("user1000", 8) &&
              rmig_slot_of("{user1000}.followers", 20) == rmig_slot_of("user1000", 8),
          "differ");
    CHECK("foo{}{bar} hashes the whole key",
          rmig_slot_of("foo{}{bar}", 10) == (rmig_slot_crc16("foo{}{bar}", 10) & 16383), "does not");
    CHECK("foo{{bar}}zap hashes \"{bar\"", rmig_slot_of("foo{{bar}}zap", 13) == rmig_slot_of("{bar", 4),
          "does not");
    CHECK("foo{bar}{zap} hashes \"bar\"", rmig_slot_of("foo{bar}{zap}", 13) == rmig_slot_of("bar", 3),
          "does not");
    CHECK("{} hashes the whole key", rmig_slot_of("{}", 2) == (rmig_slot_crc16("{}", 2) & 16383), "does not");
    CHECK("the empty key is in slot 0", rmig_slot_of("", 0) == 0, "is not");

    /* the table against the bitwise definition, on random keys of random lengths */
    uint64_t st = rmig_t_seed();
    uint8_t buf[300];
    int same = 1;
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(rmig_t_rand(&st) % sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rmig_t_rand(&st);
        same &= rmig_slot_crc16(buf, n) == crc16_bitwise(buf, n);
        same &= rmig_slot_of(buf, n) < RMIG_SLOTS;
    }
    CHECK("crc16 by table equals crc16 bit by bit on random keys", same, "differs");
    return rmig_t_done();
}
