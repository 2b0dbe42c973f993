/* testlib.c - test helpers: checks, seeds, files and parse digests. */
#include "testlib.h"

#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int rmig_t_passed, rmig_t_failed;

int rmig_t_done(void)
{
    printf("%d passed, %d failed\n", rmig_t_passed, rmig_t_failed);
    return rmig_t_failed ? 1 : 0;
}

uint64_t rmig_t_seed(void)
{
    static uint64_t seed;
    static int have;
    if (!have) {
        const char *s = getenv("RMIG_TEST_SEED");
        seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
        have = 1;
        printf("# RMIG_TEST_SEED=%llu\n", (unsigned long long)seed);
    }
    return seed;
}

uint64_t rmig_t_rand(uint64_t *x)
{
    /* splitmix64 */
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int rmig_t_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(s, (struct sockaddr *)&a, &l) < 0) {
        if (s >= 0)
            close(s);
        return 17000 + (int)(getpid() % 1000);
    }
    close(s);
    return ntohs(a.sin_port);
}

uint8_t *rmig_t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = n > 0 ? (size_t)n : 0;
    return b;
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static uint64_t mixu(uint64_t h, uint64_t v) { return mix(h, &v, sizeof v); }

uint64_t rmig_t_digest_event(uint64_t h, const rmig_rdb_event *e)
{
    h = mixu(h, (uint64_t)e->type);
    h = mixu(h, e->db);
    if (e->key)
        h = mix(h, e->key, e->key_len);
    h = mixu(h, (uint64_t)e->rdb_type);
    h = mixu(h, (uint64_t)e->expire_ms);
    h = mixu(h, (uint64_t)e->idle_s);
    h = mixu(h, (uint64_t)e->freq);
    switch (e->type) {
    case RMIG_RDB_EV_KEY:
        h = mixu(h, e->offset);
        break;
    case RMIG_RDB_EV_STR:
    case RMIG_RDB_EV_RAW:
        h = mixu(h, (uint64_t)e->role);
        h = mix(h, e->str, e->len);
        h = mixu(h, e->u.piece.off);
        h = mixu(h, (uint64_t)e->u.piece.last);
        break;
    case RMIG_RDB_EV_AUX:
        h = mix(h, e->str, e->len);
        h = mix(h, e->str2, e->len2);
        break;
    case RMIG_RDB_EV_FUNCTION:
        h = mix(h, e->str, e->len);
        if (e->str2)
            h = mix(h, e->str2, e->len2);
        if (e->u.func.engine)
            h = mix(h, e->u.func.engine, e->u.func.engine_len);
        h = mixu(h, (uint64_t)e->u.func.pre_ga);
        break;
    case RMIG_RDB_EV_STREAM_GROUP:
    case RMIG_RDB_EV_STREAM_CONSUMER:
    case RMIG_RDB_EV_STREAM_PRODUCER:
    case RMIG_RDB_EV_STREAM_IID:
    case RMIG_RDB_EV_SLOT_IMPORT:
        h = mix(h, e->str, e->len);
        h = mix(h, &e->u, sizeof e->u.idmp);
        break;
    case RMIG_RDB_EV_SCORE: {
        double d = rmig_rdb_score(e);
        if (e->str)
            h = mix(h, e->str, e->len);
        h = mix(h, &d, sizeof d);
        break;
    }
    case RMIG_RDB_EV_KEY_END:
        h = mixu(h, e->u.end.raw_len);
        h = mixu(h, e->u.end.elements);
        break;
    case RMIG_RDB_EV_EOF:
        h = mixu(h, (uint64_t)e->u.eof.checked);
        break;
    default:
        /* numeric payloads: ids, sizes; compare the largest union member used */
        h = mix(h, &e->u, sizeof e->u.meta);
        break;
    }
    return h;
}

static size_t piece_len(size_t left, size_t split, uint64_t *rng)
{
    size_t n = left;
    if (split == 1) {
        n = 1;
    } else if (split > 1) {
        size_t m = 1 + (size_t)(rmig_t_rand(rng) % split);
        if (m < n)
            n = m;
    }
    return n;
}

void rmig_t_parse(const uint8_t *data, size_t len, const rmig_rdb_opts *opts, size_t split,
                  uint64_t *rng, rmig_t_result *out)
{
    memset(out, 0, sizeof *out);
    out->digest = out->raw_digest = 1469598103934665603ULL;
    out->rc = 1; /* stays 1 if the parser stops with neither EOF nor an error: a bug */
    rmig_rdb *p = rmig_rdb_new(opts);
    size_t pos = 0;
    int finished = 0, eager = (split & RMIG_T_EAGER) != 0;
    split &= ~RMIG_T_EAGER;
    rmig_rdb_event e;
    for (;;) {
        memset(&e, 0, sizeof e);
        int r = rmig_rdb_next(p, &e);
        if (rmig_rdb_memory(p) > out->max_memory)
            out->max_memory = rmig_rdb_memory(p);
        if (r < 0) {
            out->rc = r;
            snprintf(out->err, sizeof out->err, "%s", rmig_rdb_error(p));
            break;
        }
        if (r > 0) {
            if (r == RMIG_RDB_EV_RAW) {
                out->raw_digest = rmig_t_digest_event(out->raw_digest, &e);
            } else {
                out->events++;
                out->digest = rmig_t_digest_event(out->digest, &e);
            }
            if (r == RMIG_RDB_EV_KEY_END) {
                out->keys++;
                out->elements += e.u.end.elements;
            }
            if (r == RMIG_RDB_EV_EOF) {
                out->rc = 0;
                break;
            }
            /* the event has been used: feeding now may move the buffer */
            if (eager && pos < len) {
                size_t n = piece_len(len - pos, split, rng);
                rmig_rdb_feed(p, data + pos, n);
                pos += n;
            }
            continue;
        }
        if (pos < len) {
            size_t n = piece_len(len - pos, split, rng);
            rmig_rdb_feed(p, data + pos, n);
            pos += n;
        } else if (!finished) {
            rmig_rdb_finish(p);
            finished = 1;
        } else {
            snprintf(out->err, sizeof out->err, "parser asked for more after finish");
            break;
        }
    }
    rmig_rdb_free(p);
}
