/* replay.c - runs a fuzz target without libFuzzer, so its corpus (and
 * mutations of it) run under ctest with any compiler and the sanitizers.
 *
 * usage: fuzz_X_replay [--mutate N] [--skip-missing] PATH...
 * Every file (or every file in a directory) is passed to the target; with
 * --mutate N each is also passed N times with one byte changed (or the
 * input cut short), positions and values drawn from RMIG_TEST_SEED. A crash
 * or sanitizer report fails the run; the seed is printed to replay it. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng;
static unsigned long mutate, runs, files;

static uint64_t next_rand(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    size_t len = (size_t)n;
    files++;
    if (getenv("RMIG_REPLAY_VERBOSE"))
        fprintf(stderr, "replay: %s\n", path);
    LLVMFuzzerTestOneInput(buf, len);
    runs++;
    if (len == 0) {
        free(buf);
        return;
    }
    uint8_t *m = malloc(len);
    /* big files get fewer mutations, so a run costs about the same per file */
    unsigned long count = mutate;
    if (len > 65536) {
        count = (unsigned long)((double)mutate * 65536.0 / (double)len);
        if (count < 20 && mutate >= 20)
            count = 20;
    }
    for (unsigned long i = 0; i < count; i++) {
        memcpy(m, buf, len);
        uint64_t r = next_rand();
        size_t pos = (size_t)(r % len), mlen = len;
        switch ((r >> 32) % 8) {
        case 0: mlen = pos; break;                             /* cut short */
        case 1: m[pos] ^= (uint8_t)(1u << ((r >> 40) % 8)); break; /* flip a bit */
        case 2: m[pos] = 0xFF; break;
        case 3: m[pos] = 0x00; break;
        case 4: m[pos] = (uint8_t)(m[pos] + 1); break;
        default: m[pos] = (uint8_t)(r >> 48); break;           /* any byte */
        }
        LLVMFuzzerTestOneInput(m, mlen);
        runs++;
    }
    free(m);
    free(buf);
}

static int run_path(const char *path, int skip_missing)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (skip_missing)
            return 77;
        fprintf(stderr, "replay: %s does not exist\n", path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path);
        return 0;
    }
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char full[4096];
            snprintf(full, sizeof full, "%s/%s", path, names[i]->d_name);
            if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
                run_file(full);
        }
        free(names[i]);
    }
    free(names);
    return 0;
}

int main(int argc, char **argv)
{
    int skip_missing = 0, rc = 0, any = 0;
    const char *s = getenv("RMIG_TEST_SEED");
    rng = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
    printf("# RMIG_TEST_SEED=%llu\n", (unsigned long long)rng);
    fflush(stdout);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mutate") && i + 1 < argc) {
            mutate = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--skip-missing")) {
            skip_missing = 1;
        } else {
            int r = run_path(argv[i], skip_missing);
            if (r == 77) {
                printf("skipped: %s is not there\n", argv[i]);
                continue;
            }
            any = 1;
            rc |= r;
        }
    }
    if (!any && skip_missing)
        return 77;
    printf("%lu inputs from %lu files, no crash\n", runs, files);
    printf("%lu passed, 0 failed\n", runs);
    return rc;
}
