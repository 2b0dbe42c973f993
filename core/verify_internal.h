/* verify_internal.h - what the parts of `rmig verify` share (verify.c: the
 * pass, the rounds, the extras; verify_big.c: values too big to hold,
 * compared piece by piece; verify_runs.c: key hashes in sorted runs on
 * disk; verify_report.c: the report, and `rmig run --verify`). */
#ifndef RMIG_VERIFY_INTERNAL_H
#define RMIG_VERIFY_INTERNAL_H

#include "run_internal.h"
#include "vdigest.h"

#include <stdio.h>

enum { D_MISSING, D_EXTRA, D_TYPE, D_VALUE, D_TTL, D_COUNT, D_KINDS };

enum { P_MAIN, P_ROUND, P_EXTRA, P_DONE };
enum { V_DUMP = 1, V_TYPE, V_COUNT, V_PTTL, V_SCAN, V_INFO, V_GET, V_WTYPE, V_BTYPE, V_BPTTL, V_BPIECE };

#define LRANGE_MAX 1024 /* a list of more elements is read by DUMP */
#define RAW_HELD_MAX ((uint64_t)8 << 20)  /* source values held for the byte comparison, at most */
#define RUN_HASHES (1u << 20) /* key hashes held before a sorted run goes to disk (8 MiB) */

/* What one key should be on the target, and what the target said. */
typedef struct vexp {
    /* the source's serialized value while the target's DUMP is awaited
     * (most migrated values come back byte for byte, and then need no
     * decoding); NULL once decoded into digest/count */
    uint8_t *raw;
    uint64_t raw_len;
    int rdb_type, rdb_version;
    int same;                 /* the target's DUMP equals raw byte for byte */
    uint64_t db;              /* the target's db (after the nodes) */
    uint64_t sdb;             /* the source's db and key (before them), to read it again */
    int kind;
    int64_t expire_ms;
    uint64_t count;
    uint8_t digest[16];
    int t_kind;               /* -1 missing, -2 a payload that does not decode */
    int64_t t_pttl;
    uint64_t t_count;
    uint8_t t_digest[16];
    /* a big value: the target's copy read in pieces into tvd */
    rmig_vdigest *tvd;
    /* a big value of a scan source: its pieces read into svd (NULL once done) */
    rmig_vdigest *svd;
    wconn *tw;                /* a big value: the target connection its reads go to (a cluster's master) */
    struct vexp *lprev, *lnext; /* the list of records not freed yet (rmig_verify.live) */
    int src_done, tgt_done, skip; /* both sides read (side by side); expired at the source */
    char cursor[64];
    uint64_t pos;
    uint32_t len, slen;
    char *skey;               /* into key[]: after the target key */
    char key[];
} vexp;

/* Sorted runs of 64-bit key hashes in a temporary file. */
typedef struct runs {
    FILE *f;
    uint64_t *buf;
    size_t n;
    long *starts;             /* each run's first hash, as a file position */
    size_t *lens;
    size_t nruns, cap;
} runs;

typedef struct shown {
    uint64_t db;
    char key[256];            /* its first bytes (len is the whole length) */
    uint32_t len;
    char why[160];
} shown;

struct rmig_verify {
    int full, extra, rounds, show;
    double delay_s, sample;
    int64_t ttl_tolerance_ms;
    const char *report;
    int phase, round;
    uint64_t diffs[D_KINDS], checked, expired, sampled_out;
    shown *first[D_KINDS];
    uint32_t nfirst[D_KINDS];
    /* differing keys of the pass, for the next round: (sdb, slen, skey, db, len, key) records */
    FILE *spill, *respill;
    uint64_t spilled;
    /* source keys of the batch before the nodes ran (index = entry) */
    struct {
        uint64_t db;
        const uint8_t *key;
        uint32_t len;
    } *src;
    uint32_t nsrc, capsrc;
    /* both directions: hashes of the keys found on the target, and of every key there */
    runs seen, there;
    uint64_t dbs[64];          /* what the target's keys are scanned in: (connection, db) pairs */
    wconn *tw[64];
    int ndb, dbi;
    char cursor[64];
    int scanning, naming, target_scan, scan_started, info_left;
    wconn *info_conn;         /* the connection whose INFO is being read */
    uint64_t target_keys;     /* the target's keys (INFO keyspace) */
    int64_t only_db;          /* >= 0: the one db of the target's to look at (a Twemproxy pool's) */
    uint64_t unchecked;       /* keys explained but not looked for (--sample, expired): the extras need a scan */
    void *owner;              /* the runner (the target's connections) */
    uint64_t extra_total;
    uint64_t *extra_h;        /* the extras to name (the first --show) */
    size_t nextra_h;
    uv_timer_t timer;
    int timer_on, waiting;
    rmig_vdigester *dg;       /* decodes both sides' values */
    /* the big source value being read, and its digest */
    vexp *bx;
    rmig_rdb *bp;
    rmig_vdigest bd;
    uint64_t raw_held;        /* bytes of source values held for the byte comparison */
    vexp *live;               /* every record not freed yet */
    uint64_t start_ns;
};


/* verify_runs.c: add a hash (a run goes to disk when RUN_HASHES are held),
 * flush the held ones as a run, free; distinct: the number of distinct
 * hashes; diff: each hash of b that a does not hold (as often as b holds
 * it). 0, or -1 (a temporary file). */
int rmig__vruns_add(runs *s, uint64_t h);
int rmig__vruns_flush(runs *s);
void rmig__vruns_free(runs *s);
int rmig__vruns_distinct(runs *s, uint64_t *out);
int rmig__vruns_diff(runs *a, runs *b, void (*each)(void *ud, uint64_t h), void *ud);

/* verify.c: a key's expected state (its target name, db, kind, expiry
 * from the entry out of the nodes; its source db and name); outline reads;
 * the kind of a TYPE reply (-1 none) */
vexp *rmig__verify_vexp(rmig_verify *v, const rmig_entry *e, uint64_t sdb, const uint8_t *skey, uint32_t slen);
/* A record freed (and off the list of records: rmig_verify.live). */
void rmig__verify_vexp_free(rmig_verify *v, vexp *x);
int rmig__verify_outline_reads(runner *r, vexp *x);
int rmig__verify_kind_of(const char *t);
void rmig__verify_compare(runner *r, vexp *x);
keyrec *rmig__verify_push(runner *r, vexp *x, int part);
void rmig__verify_cmd(runner *r, int argc, const char *const *argv, const size_t *lens);
/* A key explained but not looked for (expired at the source): 0, -1 (a
 * temporary file). */
int rmig__verify_unchecked(runner *r, uint64_t db, const void *key, size_t len);

/* verify_big.c: a source value bigger than sink.chunk_bytes, its digest
 * taken while it is read (begin after the nodes kept it, piece, end), then
 * the target's copy read in pieces; reply takes those reads' answers. */
void rmig__verify_big_reply(runner *r, keyrec *k, const redisReply *rep);

#endif
