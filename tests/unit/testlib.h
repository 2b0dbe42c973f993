/* testlib.h - helpers shared by the C unit tests and the fuzz targets.
 *
 * Tests print "ok - NAME" or "not ok - NAME: why" per check and end with the
 * plain "N passed, N failed" line; the exit code is 0 only when none failed.
 * Randomized tests take their seed from RMIG_TEST_SEED and print it. */
#ifndef RMIG_TESTLIB_H
#define RMIG_TESTLIB_H

#include "rdb.h"

#include <stddef.h>
#include <stdint.h>

extern int rmig_t_passed, rmig_t_failed;

#define CHECK(name, cond, ...)                                                                     \
    do {                                                                                           \
        if (cond) {                                                                                \
            rmig_t_passed++;                                                                       \
        } else {                                                                                   \
            rmig_t_failed++;                                                                       \
            printf("not ok - %s: ", name);                                                         \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

/* Prints the closing line and returns the exit code. */
int rmig_t_done(void);

/* The seed for this run (RMIG_TEST_SEED or the clock), printed once. */
uint64_t rmig_t_seed(void);
uint64_t rmig_t_rand(uint64_t *state);

/* A loopback TCP port that was free a moment ago (for test servers). */
int rmig_t_free_port(void);

/* Reads a whole file; NULL when it cannot. */
uint8_t *rmig_t_read_file(const char *path, size_t *len);

/* What a parse produced: a digest of every event (bytes and fields that do
 * not depend on how the input was split), the count of keys, and the result. */
typedef struct rmig_t_result {
    uint64_t digest;     /* every event but RAW, in order */
    uint64_t raw_digest; /* RAW events, in order among themselves (on an error, how many
                            pieces went out before it may depend on the split) */
    uint64_t events, keys; /* events: all but RAW */
    uint64_t elements;   /* the sum of KEY_END element counts */
    int rc;              /* 0 when RMIG_RDB_EV_EOF was reached, else the error code */
    size_t max_memory;   /* the most rmig_rdb_memory said during the parse */
    char err[400];
} rmig_t_result;

/* Parses data fed in pieces of the given sizes: split 0 = whole, 1 = byte by
 * byte, otherwise random pieces of 1..split bytes drawn from *rng. With
 * RMIG_T_EAGER or-ed in, a piece is also fed after every event, not only when
 * the parser asks, as a socket reader would (this moves the buffer while a
 * blob is being iterated). */
#define RMIG_T_EAGER ((size_t)1 << 62)
void rmig_t_parse(const uint8_t *data, size_t len, const rmig_rdb_opts *opts, size_t split,
                  uint64_t *rng, rmig_t_result *out);

/* Folds one event into a digest. */
uint64_t rmig_t_digest_event(uint64_t h, const rmig_rdb_event *e);

#endif
