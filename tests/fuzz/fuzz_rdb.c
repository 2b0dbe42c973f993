/* fuzz_rdb.c - libFuzzer target for the RDB parser.
 *
 * Each input is parsed three times: whole, in pieces whose sizes come from the
 * input itself, and with pieces fed after every event as well, with both raw values and decoded elements asked for and a
 * small record limit so the limit paths run too. Beyond "no crash, no hang,
 * no sanitizer report", the parses must agree event for event: the
 * parser promises the same events however the bytes arrive. */
#include "rdb.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rmig_rdb_opts o = {RMIG_RDB_RAW | RMIG_RDB_ELEMENTS, 1 << 16, 64, 256};
    rmig_t_result whole, split, eager;
    uint64_t rng = size ? data[size - 1] : 0;
    rmig_t_parse(data, size, &o, 0, NULL, &whole);
    rmig_t_parse(data, size, &o, 1 + (size ? data[0] % 97 : 0), &rng, &split);
    /* fed after every event too, as a socket reader would: the buffer moves under blobs */
    rmig_t_parse(data, size, &o, RMIG_T_EAGER | 16, &rng, &eager);
    if (eager.rc != whole.rc || eager.digest != whole.digest || eager.events != whole.events) {
        fprintf(stderr, "fuzz_rdb: whole and eagerly fed parses differ: rc %d/%d (%s | %s)\n", whole.rc,
                eager.rc, whole.err, eager.err);
        abort();
    }
    if (whole.rc != split.rc || whole.digest != split.digest || whole.events != split.events ||
        (whole.rc == 0 && whole.raw_digest != split.raw_digest)) {
        fprintf(stderr, "fuzz_rdb: whole and split parses differ: rc %d/%d, events %llu/%llu (%s | %s)\n",
                whole.rc, split.rc, (unsigned long long)whole.events,
                (unsigned long long)split.events, whole.err, split.err);
        abort();
    }
    /* fed in small pieces, the parser holds a bounded amount whatever the input says:
     * a few records of max_record (buffer, key, scratch, blob) and raw_inline */
    size_t bound = 8 * (size_t)o.max_record + 4 * (o.raw_inline + o.piece + 128) + 65536;
    if (split.max_memory > bound) {
        fprintf(stderr, "fuzz_rdb: %zu bytes held for a %zu-byte input (bound %zu)\n", split.max_memory,
                size, bound);
        abort();
    }
    /* every input ends with EOF or an error, never in between */
    if (whole.rc == 1) {
        fprintf(stderr, "fuzz_rdb: the parse stopped with neither EOF nor an error: %s\n", whole.err);
        abort();
    }
    return 0;
}
