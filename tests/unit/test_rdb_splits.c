/* test_rdb_splits.c - the parser gives the same events however its input is
 * split: whole, byte by byte, and in random pieces, for every file of the
 * shared corpus and of our fuzz seeds, and for the three output levels (raw
 * only, elements only, both). Corrupt files must fail the same way each time,
 * with the same message and offset. */
#include "testlib.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int files;

static void check_file(const char *path, const char *name)
{
    size_t len;
    uint8_t *d = rmig_t_read_file(path, &len);
    if (!d)
        return;
    files++;
    static const int levels[] = {RMIG_RDB_RAW, RMIG_RDB_ELEMENTS, RMIG_RDB_RAW | RMIG_RDB_ELEMENTS,
                                 RMIG_RDB_COUNT, RMIG_RDB_KEYS};
    uint64_t keys[5] = {0}, elements[5] = {0};
    int rcs[5] = {0};
    for (int l = 0; l < 5; l++) {
        /* small pieces and raw parts, so that the piecewise paths run on real data */
        rmig_rdb_opts o = {levels[l], 0, 100, 300};
        rmig_t_result whole, other;
        uint64_t rng = rmig_t_seed() ^ (uint64_t)len;
        rmig_t_parse(d, len, &o, 0, NULL, &whole);
        keys[l] = whole.keys;
        elements[l] = whole.elements;
        rcs[l] = whole.rc;
        char what[600];
        size_t splits[] = {1, 7, 4096, RMIG_T_EAGER | 64};
        for (int s = 0; s < 4; s++) {
            if (splits[s] == 1 && len > (1 << 20))
                continue; /* byte by byte on the multi-megabyte files is slow under ASan */
            rmig_t_parse(d, len, &o, splits[s], &rng, &other);
            snprintf(what, sizeof what, "%s, level %d, pieces of up to %zu bytes%s: same events as whole",
                     name, levels[l], splits[s] & ~RMIG_T_EAGER,
                     splits[s] & RMIG_T_EAGER ? ", fed after every event" : "");
            CHECK(what,
                  other.rc == whole.rc && other.digest == whole.digest &&
                      (whole.rc || other.raw_digest == whole.raw_digest) && other.events == whole.events && !strcmp(other.err, whole.err),
                  "rc %d/%d events %llu/%llu err '%s' / '%s'", whole.rc, other.rc,
                  (unsigned long long)whole.events, (unsigned long long)other.events, whole.err,
                  other.err);
        }
        snprintf(what, sizeof what, "%s, level %d: ends with EOF or an error naming an offset", name,
                 levels[l]);
        CHECK(what, whole.rc == 0 || (whole.rc < 0 && !strncmp(whole.err, "offset ", 7)), "rc %d: %s",
              whole.rc, whole.err);
    }
    char what[600];
    /* (a corrupt blob is only seen when decoding, so compare valid files) */
    snprintf(what, sizeof what, "%s: raw-only and decoded parses see the same keys", name);
    CHECK(what, rcs[0] || rcs[1] || rcs[2] || rcs[4] || (keys[0] == keys[1] && keys[1] == keys[2] && keys[2] == keys[3] &&
                                            keys[3] == keys[4]), "%llu/%llu/%llu", (unsigned long long)keys[0],
          (unsigned long long)keys[1], (unsigned long long)keys[2]);
    snprintf(what, sizeof what, "%s: counting finds as many elements as decoding", name);
    CHECK(what, rcs[1] || (rcs[3] == 0 && elements[1] == elements[3]), "%llu / %llu (rc %d)",
          (unsigned long long)elements[1], (unsigned long long)elements[3], rcs[3]);
    free(d);
}

static void check_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        printf("# %s is not there; skipped\n", dir);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            check_file(path, names[i]->d_name);
        }
        free(names[i]);
    }
    free(names);
}

int main(void)
{
    char dir[4096];
    const char *corpus = getenv("RMIG_CORPUS"), *seeds = getenv("RMIG_SEEDS");
    rmig_t_seed();
    if (corpus) {
        snprintf(dir, sizeof dir, "%s/rdb", corpus);
        check_dir(dir);
    }
    if (seeds) {
        snprintf(dir, sizeof dir, "%s/rdb", seeds);
        check_dir(dir);
    }
    printf("# %d files\n", files);
    if (!files) {
        printf("no input files (RMIG_CORPUS, RMIG_SEEDS): skipped\n");
        return 77;
    }
    return rmig_t_done();
}
