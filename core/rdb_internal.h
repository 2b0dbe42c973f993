/* rdb_internal.h - the parser's state, shared by rdb.c (buffer, header,
 * opcodes), rdb_value.c (key values) and rdb_stream.c (stream values).
 *
 * Reading model: every record is read "atomically" from the buffer with a
 * local cursor; if the buffer ends first, nothing is consumed and the step
 * answers R_SHORT, to be retried once more bytes arrived (p->need says how
 * many are needed when that is known, so a retry is not attempted early).
 * The only things read in several steps are strings longer than opts.piece,
 * which are consumed as they arrive (p->pc; LZF ones through an incremental
 * decoder, p->lz), and blobs and value sequences, whose position lives in the
 * state fields below. */
#ifndef RMIG_RDB_INTERNAL_H
#define RMIG_RDB_INTERNAL_H

#include "lzf.h"
#include "rdb.h"
#include "rdb_blob.h"

/* Step results besides events (> 0) and errors (RMIG_E*, -1..-7). */
#define R_AGAIN 0    /* progress without an event: step again */
#define R_SHORT -100 /* not enough bytes buffered */

/* Top-level states. */
enum { S_HEADER, S_TOP, S_VALUE, S_MODOPS, S_SLOT_IMPORT, S_CRC, S_DONE };

/* A cursor over the unread bytes; readers return 0, R_SHORT or an error. */
typedef struct cur {
    const uint8_t *p, *e;
} cur;

struct rmig_rdb {
    rmig_rdb_opts o;
    int want_raw, want_elems, want_count;

    /* input buffer: [rd, wr) unread; [keep, rd) still referenced */
    uint8_t *buf;
    size_t cap, rd, wr;
    uint64_t base;        /* input offset of buf[0] */
    size_t need;          /* bytes needed at rd before retrying; 0 unknown */
    int finished;

    int err;
    char errmsg[400];

    int version;
    int valkey;
    uint64_t slot_ranges; /* S_SLOT_IMPORT: ranges left */
    int state;
    uint64_t db;

    /* checksum over [0, crc_done) of the input */
    int crc_on;
    uint64_t crc, crc_done, eof_end;

    /* per-key prefixes, reset after each key */
    int64_t expire_ms, idle_s;
    int freq, has_meta;

    /* the current key and the prefixes that came with it */
    int64_t k_expire, k_idle;
    int k_freq, k_meta;
    uint64_t val_start;   /* input offset of its value */
    uint8_t *key;
    size_t key_len, key_cap;
    int type, kind;
    uint64_t key_off;
    uint64_t elements;

    /* value walk: phase and counters per nesting level */
    int ph;
    uint64_t n[4];
    int64_t ttl, min_expire;
    int has_ttl;
    int container;

    /* raw tracking: [raw_mark, rd) not yet delivered; raw_sent already delivered */
    int raw_active;
    int value_done;       /* the value walk ended; raw and KEY_END remain */
    size_t raw_mark;
    uint64_t raw_sent;

    /* a long string consumed piece by piece */
    struct {
        int active, emit, role;
        int lzf;          /* LZF-compressed: decoded through lz into scratch[0] */
        uint64_t left;    /* input bytes of the string still to consume */
        uint64_t total;   /* its length as delivered (decoded length for LZF) */
        uint64_t off;     /* bytes already delivered */
        size_t fill;      /* LZF: decoded bytes waiting in scratch[0] */
        uint64_t data_off; /* LZF: input offset of the compressed data */
    } pc;
    /* the decoder of a long LZF string (8 KiB of history, kept inside the
     * parser so rmig_rdb_memory counts it and nothing is allocated for it) */
    rmig_lzf_stream lz;
    int str_done; /* set by rdb_str when a string element completed */

    /* a blob being iterated: its bytes are pinned at buf[hold] or in blobbuf */
    size_t hold;
    int holding;          /* 1: pinned at buf[hold]; 2: in blobbuf */
    size_t blob_len;
    uint64_t blob_off;
    rmig_blob_it it;
    int bph;              /* component within a blob record (field, value, ttl) */
    uint8_t *blobbuf;
    size_t blobbuf_cap;

    /* module opcode stream (module values, MODULE_AUX, KEY_META) */
    struct {
        int ctx;          /* MOD_VALUE, MOD_AUX, MOD_META */
        uint64_t classes; /* KEY_META classes left after this one */
        int need_spec;    /* KEY_META: a 4-byte class spec comes next */
        int in_str;       /* inside a STRING opcode's string */
    } mod;

    /* streams */
    rmig_rdb_id master;
    rmig_blob_it mf_start; /* the master entry's first field */
    rmig_blob_it mfields;  /* walking the master fields for a SAMEFIELDS entry */
    uint64_t mf_n, ent_fields, ent_flags;
    rmig_rdb_id ent_id;
    uint64_t idmp_duration, idmp_max;

    /* scratch for decompressed strings and integer text, one per string of a record */
    uint8_t *scratch[3];
    size_t scratch_cap[3];
    char num[3][24];
};

enum { MOD_VALUE = 1, MOD_AUX, MOD_META };

/* rdb_read.c */
int rmig__rdb_grow(uint8_t **b, size_t *cap, size_t want);

/* rdb.c */
int rmig__rdb_fail(rmig_rdb *p, int code, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int rmig__rdb_len(rmig_rdb *p, cur *c, uint64_t *v);
int rmig__rdb_fixed(rmig_rdb *p, cur *c, size_t n, const uint8_t **out);
int rmig__rdb_whole_str(rmig_rdb *p, cur *c, int slot, const uint8_t **s, size_t *len);
int rmig__rdb_str(rmig_rdb *p, rmig_rdb_event *ev, int role, int emit);
int rmig__rdb_blob(rmig_rdb *p, int kind);
int rmig__rdb_modops(rmig_rdb *p, rmig_rdb_event *ev);
void rmig__rdb_blob_done(rmig_rdb *p);
int rmig__rdb_blob_corrupt(rmig_rdb *p, const char *what);
uint64_t rmig__rdb_off(const rmig_rdb *p);

/* rdb_value.c */
void rmig__rdb_module_name(uint64_t id, char name[10], int *encver);
int rmig__rdb_value_begin(rmig_rdb *p);
int rmig__rdb_value_step(rmig_rdb *p, rmig_rdb_event *ev);

/* rdb_stream.c */
int rmig__rdb_stream_step(rmig_rdb *p, rmig_rdb_event *ev);

static inline uint64_t rmig__le64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static inline uint64_t rmig__be64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* Commits the cursor: everything before c->p is consumed. */
static inline void rmig__rdb_take(rmig_rdb *p, const cur *c)
{
    p->rd = (size_t)(c->p - p->buf);
}

static inline cur rmig__rdb_cur(const rmig_rdb *p)
{
    cur c = {p->buf + p->rd, p->buf + p->wr};
    return c;
}

#endif
