/* verify_runs.c - sorted runs of 64-bit key hashes in a temporary file,
 * for `rmig verify`'s two directions: the hashes of the keys the source
 * found on the target, and of every key the target holds, each held in
 * memory RUN_HASHES at a time, sorted and written out as a run; then read
 * back merged, a buffer per run. Memory stays the same whatever the key
 * count. */
#include "verify_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sorts n hashes: LSD radix, 16 bits a pass (qsort's comparisons cost
 * more than the passes for millions of them); tmp holds n. */
static void radix_sort(uint64_t *a, uint64_t *tmp, size_t n)
{
    static size_t count[1 << 16];
    for (int pass = 0; pass < 4; pass++) {
        int sh = pass * 16;
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(a[i] >> sh) & 0xffff]++;
        size_t sum = 0;
        for (size_t i = 0; i < (1 << 16); i++) {
            size_t c = count[i];
            count[i] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i] >> sh) & 0xffff]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
}

int rmig__vruns_flush(runs *s)
{
    if (!s->n)
        return 0;
    if (!s->f && !(s->f = tmpfile()))
        return -1;
    if (s->nruns == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        long *st = realloc(s->starts, cap * sizeof *st);
        if (st)
            s->starts = st;
        size_t *ln = realloc(s->lens, cap * sizeof *ln);
        if (ln)
            s->lens = ln;
        if (!st || !ln)
            return -1;
        s->cap = cap;
    }
    uint64_t *tmp = malloc(s->n * sizeof *tmp);
    if (!tmp)
        return -1;
    radix_sort(s->buf, tmp, s->n);
    free(tmp);
    fseek(s->f, 0, SEEK_END);
    s->starts[s->nruns] = ftell(s->f);
    s->lens[s->nruns++] = s->n;
    if (fwrite(s->buf, sizeof *s->buf, s->n, s->f) != s->n)
        return -1;
    s->n = 0;
    return 0;
}

int rmig__vruns_add(runs *s, uint64_t h)
{
    if (!s->buf && !(s->buf = malloc(RUN_HASHES * sizeof *s->buf)))
        return -1;
    s->buf[s->n++] = h;
    return s->n == RUN_HASHES ? rmig__vruns_flush(s) : 0;
}

/* Reads a set of runs back in order, the smallest hash first, each run
 * through a buffer of its own. */
#define MERGE_BUF 4096

typedef struct merger {
    runs *s;
    size_t *pos;              /* per run: hashes taken */
    uint64_t *buf;            /* per run: MERGE_BUF hashes read ahead */
    size_t *have, *at;        /* per run: hashes in its buffer, the next one's index */
} merger;

static int merger_fill(merger *m, size_t i)
{
    size_t left = m->s->lens[i] - m->pos[i];
    size_t want = left < MERGE_BUF ? left : MERGE_BUF;
    m->at[i] = 0;
    m->have[i] = 0;
    if (!want)
        return 0;
    if (fseek(m->s->f, m->s->starts[i] + (long)(m->pos[i] * sizeof(uint64_t)), SEEK_SET) < 0 ||
        fread(m->buf + i * MERGE_BUF, sizeof(uint64_t), want, m->s->f) != want)
        return -1;
    m->have[i] = want;
    return 0;
}

static int merger_open(merger *m, runs *s)
{
    size_t k = s->nruns + 1;
    m->s = s;
    m->pos = calloc(k, sizeof *m->pos);
    m->have = calloc(k, sizeof *m->have);
    m->at = calloc(k, sizeof *m->at);
    m->buf = malloc(k * MERGE_BUF * sizeof *m->buf);
    if (!m->pos || !m->have || !m->at || !m->buf)
        return -1;
    for (size_t i = 0; i < s->nruns; i++)
        if (merger_fill(m, i) < 0)
            return -1;
    return 0;
}

/* The next hash, or 0 with *end set. */
static uint64_t merger_next(merger *m, int *end)
{
    size_t best = SIZE_MAX;
    uint64_t bh = 0;
    for (size_t i = 0; i < m->s->nruns; i++) {
        if (m->at[i] >= m->have[i])
            continue;
        uint64_t h = m->buf[i * MERGE_BUF + m->at[i]];
        if (best == SIZE_MAX || h < bh)
            best = i, bh = h;
    }
    if (best == SIZE_MAX) {
        *end = 1;
        return 0;
    }
    m->pos[best]++;
    if (++m->at[best] == m->have[best] && merger_fill(m, best) < 0)
        m->have[best] = 0; /* (a read error ends the run: reported as extras, never hidden) */
    return bh;
}

static void merger_close(merger *m)
{
    free(m->pos);
    free(m->have);
    free(m->at);
    free(m->buf);
}

void rmig__vruns_free(runs *s)
{
    if (s->f)
        fclose(s->f);
    free(s->buf);
    free(s->starts);
    free(s->lens);
    memset(s, 0, sizeof *s);
}

int rmig__vruns_distinct(runs *s, uint64_t *out)
{
    if (rmig__vruns_flush(s) < 0)
        return -1;
    merger m = {0};
    int end = 0, rc = merger_open(&m, s);
    uint64_t n = 0, last = 0;
    while (!rc) {
        uint64_t h = merger_next(&m, &end);
        if (end)
            break;
        n += !n || h != last;
        last = h;
    }
    merger_close(&m);
    *out = n;
    return rc;
}

int rmig__vruns_diff(runs *a, runs *b, void (*each)(void *ud, uint64_t h), void *ud)
{
    if (rmig__vruns_flush(a) < 0 || rmig__vruns_flush(b) < 0)
        return -1;
    merger ma = {0}, mb = {0};
    int rc = 0, ea = 0, eb = 0;
    if (merger_open(&ma, a) < 0 || merger_open(&mb, b) < 0)
        rc = -1;
    uint64_t x = rc ? 0 : merger_next(&ma, &ea), y = rc ? 0 : merger_next(&mb, &eb);
    while (!rc && !eb) {
        if (!ea && x < y) {
            x = merger_next(&ma, &ea);
        } else if (!ea && x == y) {
            y = merger_next(&mb, &eb);
        } else {
            each(ud, y);
            y = merger_next(&mb, &eb);
        }
    }
    merger_close(&ma);
    merger_close(&mb);
    return rc;
}
