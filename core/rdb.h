/* rdb.h - a resumable, pull-style RDB parser: feed bytes, pull events.
 *
 * The parser does no I/O. A caller hands it bytes (rmig_rdb_feed, or
 * rmig_rdb_space + rmig_rdb_commit to read straight into its buffer), then
 * calls rmig_rdb_next until it answers RMIG_RDB_NEED_MORE, and repeats; after
 * the last byte it calls rmig_rdb_finish, so that a file that stops early is
 * reported as truncated. The same events come out whether the input arrives
 * whole, byte by byte or in random pieces.
 *
 * It reads RDB versions 1 to 13 ("REDIS0001".."REDIS0013") and Valkey 9's
 * "VALKEY080" (see shared/docs/RDB-FORMAT.md), every opcode and
 * every object type 0..26 plus Valkey's HASH_2. For each key it gives, as the
 * caller asks:
 *   - the raw serialized value (RMIG_RDB_RAW): the value's bytes exactly as in
 *     the file, which behind the type byte and before a 10-byte footer form a
 *     DUMP/RESTORE payload (see dump.h) without being decoded;
 *   - the decoded elements (RMIG_RDB_ELEMENTS): strings, list items, set
 *     members, hash fields and values with their TTLs, zset members with
 *     scores, stream entries, groups, PELs and consumers.
 * Elements arrive one event at a time and large strings arrive in pieces, so a
 * key with millions of elements, or a 1 GB string, is never held whole.
 * Element events and their pieces do not depend on how the input was split;
 * raw pieces are cut at fixed offsets too, but where they fall among element
 * events may.
 *
 * Memory: the buffer holds one record at a time (a key name, one element, one
 * encoded blob such as a listpack, or up to raw_inline bytes of raw value),
 * grows only as bytes actually arrive, and never beyond max_record; a length
 * field in the file never causes an allocation by itself.
 *
 * Ownership: the caller owns the rmig_rdb (rmig_rdb_new / rmig_rdb_free).
 * Pointers inside an event stay valid until the next rmig_rdb_next,
 * rmig_rdb_feed, rmig_rdb_commit or rmig_rdb_finish call, except ev->key,
 * which stays valid from RMIG_RDB_EV_KEY to its RMIG_RDB_EV_KEY_END. */
#ifndef RMIG_RDB_H
#define RMIG_RDB_H

#include <stddef.h>
#include <stdint.h>

enum {
    RMIG_OK = 0,
    RMIG_ENOMEM = -1,   /* allocation failed */
    RMIG_ECORRUPT = -2, /* the input is not a valid RDB stream */
    RMIG_EUNSUP = -3,   /* valid but not supported (version, module type 6) */
    RMIG_ETRUNC = -4,   /* the input ended inside a record */
    RMIG_ELIMIT = -5,   /* a record is larger than max_record */
    RMIG_ECRC = -6,     /* the CRC64 trailer does not match */
    RMIG_EUSAGE = -7,   /* the caller broke the contract */
};

/* What rmig_rdb_next returns: an event (> 0), RMIG_RDB_NEED_MORE (0) or an
 * error (< 0; rmig_rdb_error says what and where). */
enum rmig_rdb_ev {
    RMIG_RDB_NEED_MORE = 0,
    RMIG_RDB_EV_BEGIN = 1,        /* header read: version, magic */
    RMIG_RDB_EV_AUX,              /* name (str) = value (str2) */
    RMIG_RDB_EV_DB,               /* SELECTDB: db */
    RMIG_RDB_EV_RESIZEDB,         /* u.resize */
    RMIG_RDB_EV_SLOT_INFO,        /* u.slot */
    RMIG_RDB_EV_SLOT_IMPORT,      /* Valkey 9: job name (str), u.slot_import */
    RMIG_RDB_EV_MODULE_AUX,       /* u.module: module aux data (skipped, reported) */
    RMIG_RDB_EV_FUNCTION,         /* library code (str); pre-GA: name (str2), u.func */
    RMIG_RDB_EV_KEY,              /* a key begins: db, key, rdb_type, expire_ms, idle_s, freq */
    RMIG_RDB_EV_STR,              /* a string element or a piece of one: role, str, u.piece */
    RMIG_RDB_EV_SCORE,            /* the score of the zset member just given: rmig_rdb_score() */
    RMIG_RDB_EV_FIELD_TTL,        /* the expiry (ms) of the hash field just given: u.ttl_ms */
    RMIG_RDB_EV_MODULE,           /* the module of a type-7 value: u.module */
    RMIG_RDB_EV_STREAM_ENTRY,     /* u.entry; STREAM_FIELD / STREAM_VALUE strings follow */
    RMIG_RDB_EV_STREAM_META,      /* u.meta, after the entries */
    RMIG_RDB_EV_STREAM_GROUP,     /* name (str), u.group */
    RMIG_RDB_EV_STREAM_PEL,       /* an entry of the last group's PEL: u.pel */
    RMIG_RDB_EV_STREAM_CONSUMER,  /* name (str), u.consumer */
    RMIG_RDB_EV_STREAM_CPEL,      /* an id of the last consumer's PEL: u.pel.id */
    RMIG_RDB_EV_STREAM_IDMP,      /* RDB 13 idempotent-producer settings: u.idmp */
    RMIG_RDB_EV_STREAM_PRODUCER,  /* producer id (str) */
    RMIG_RDB_EV_STREAM_IID,       /* iid (str) of the last producer, u.pel.id its entry */
    RMIG_RDB_EV_RAW,              /* raw value bytes: str, u.piece (offset within the value) */
    RMIG_RDB_EV_KEY_END,          /* the value is complete: u.end */
    RMIG_RDB_EV_EOF,              /* EOF opcode and checksum read: u.eof; nothing follows */
};

/* What a RMIG_RDB_EV_STR string is. */
enum rmig_rdb_role {
    RMIG_RDB_STRING = 1, /* the value of a string key */
    RMIG_RDB_ITEM,       /* a list item */
    RMIG_RDB_MEMBER,     /* a set member */
    RMIG_RDB_ZMEMBER,    /* a zset member (RMIG_RDB_EV_SCORE follows) */
    RMIG_RDB_FIELD,      /* a hash field */
    RMIG_RDB_VALUE,      /* a hash value (RMIG_RDB_EV_FIELD_TTL may follow) */
    RMIG_RDB_STREAM_FIELD,
    RMIG_RDB_STREAM_VALUE,
};

/* Value types as stored in the type byte. */
enum rmig_rdb_type {
    RMIG_RDB_TYPE_STRING = 0,
    RMIG_RDB_TYPE_LIST = 1,
    RMIG_RDB_TYPE_SET = 2,
    RMIG_RDB_TYPE_ZSET = 3,
    RMIG_RDB_TYPE_HASH = 4,
    RMIG_RDB_TYPE_ZSET_2 = 5,
    RMIG_RDB_TYPE_MODULE_PRE_GA = 6,
    RMIG_RDB_TYPE_MODULE_2 = 7,
    RMIG_RDB_TYPE_HASH_ZIPMAP = 9,
    RMIG_RDB_TYPE_LIST_ZIPLIST = 10,
    RMIG_RDB_TYPE_SET_INTSET = 11,
    RMIG_RDB_TYPE_ZSET_ZIPLIST = 12,
    RMIG_RDB_TYPE_HASH_ZIPLIST = 13,
    RMIG_RDB_TYPE_LIST_QUICKLIST = 14,
    RMIG_RDB_TYPE_STREAM_LISTPACKS = 15,
    RMIG_RDB_TYPE_HASH_LISTPACK = 16,
    RMIG_RDB_TYPE_ZSET_LISTPACK = 17,
    RMIG_RDB_TYPE_LIST_QUICKLIST_2 = 18,
    RMIG_RDB_TYPE_STREAM_LISTPACKS_2 = 19,
    RMIG_RDB_TYPE_SET_LISTPACK = 20,
    RMIG_RDB_TYPE_STREAM_LISTPACKS_3 = 21,
    RMIG_RDB_TYPE_HASH_METADATA_PRE_GA = 22, /* Valkey >= 80: HASH_2 */
    RMIG_RDB_TYPE_HASH_LISTPACK_EX_PRE_GA = 23,
    RMIG_RDB_TYPE_HASH_METADATA = 24,
    RMIG_RDB_TYPE_HASH_LISTPACK_EX = 25,
    RMIG_RDB_TYPE_STREAM_LISTPACKS_4 = 26,
};

/* The logical kind of a value, whatever its encoding. */
enum rmig_rdb_kind {
    RMIG_KIND_STRING = 0,
    RMIG_KIND_LIST,
    RMIG_KIND_SET,
    RMIG_KIND_ZSET,
    RMIG_KIND_HASH,
    RMIG_KIND_STREAM,
    RMIG_KIND_MODULE,
    RMIG_KIND_COUNT
};

/* Parser options; zero means the default. */
enum {
    RMIG_RDB_RAW = 1,      /* deliver RMIG_RDB_EV_RAW */
    RMIG_RDB_ELEMENTS = 2, /* deliver decoded elements */
    RMIG_RDB_NO_CRC = 4,   /* do not verify the CRC64 trailer */
    RMIG_RDB_COUNT = 8,    /* without ELEMENTS: no element events, but encoded blobs
                              and stream nodes are still walked (and checked), so
                              KEY_END counts elements */
    RMIG_RDB_KEYS = 16,    /* alone: keys only (KEY and KEY_END); values are walked
                              by their structure and skipped */
};

typedef struct rmig_rdb_opts {
    int flags;            /* RMIG_RDB_RAW | RMIG_RDB_ELEMENTS | RMIG_RDB_COUNT | RMIG_RDB_KEYS,
                             and RMIG_RDB_NO_CRC; none of the first four means
                             RMIG_RDB_ELEMENTS */
    size_t max_record;    /* largest key, blob or whole string held (default 512 MiB) */
    size_t piece;         /* strings longer than this may come in pieces (default 256 KiB) */
    size_t raw_inline;    /* raw values up to this size come as one piece (default 1 MiB) */
} rmig_rdb_opts;

typedef struct rmig_rdb_id {
    uint64_t ms, seq;
} rmig_rdb_id;

typedef struct rmig_rdb_event {
    int type;              /* enum rmig_rdb_ev */
    uint64_t offset;       /* byte offset of the record in the input */
    int version;           /* RDB version of the input */
    uint64_t db;           /* current database */
    /* The current key, from RMIG_RDB_EV_KEY to RMIG_RDB_EV_KEY_END. */
    const uint8_t *key;
    size_t key_len;
    int rdb_type;          /* enum rmig_rdb_type */
    int kind;              /* enum rmig_rdb_kind */
    int64_t expire_ms;     /* absolute unix ms, -1 when the key has none */
    int64_t idle_s;        /* LRU idle seconds, -1 when absent */
    int freq;              /* LFU counter 0..255, -1 when absent */
    int role;              /* enum rmig_rdb_role, for RMIG_RDB_EV_STR */
    const uint8_t *str;    /* string payload of the event */
    size_t len;
    const uint8_t *str2;   /* second string (AUX value, function name) */
    size_t len2;
    union {
        struct {
            uint64_t off, total; /* this piece's offset in the whole, and its whole length */
            int last;            /* 1 on the piece that completes it */
        } piece;
        double score;            /* RMIG_RDB_EV_SCORE without text: see rmig_rdb_score */
        int64_t ttl_ms;
        struct {
            char magic[8];       /* "REDIS" or "VALKEY" */
        } begin;
        struct {
            uint64_t db_size, expires_size;
        } resize;
        struct {
            uint64_t slot, size, expires;
        } slot;
        struct {
            uint64_t ranges;     /* slot ranges in the job (the ranges are skipped) */
        } slot_import;
        struct {
            uint64_t id;         /* the 64-bit module type id */
            char name[10];       /* its 9-character name */
            int encver;          /* its 10-bit encoding version */
            uint64_t when;       /* MODULE_AUX: 1 before keys, 2 after */
        } module;
        struct {
            int pre_ga;          /* 1 for the 7.0-rc FUNCTION record */
            const uint8_t *engine;
            size_t engine_len;
        } func;
        struct {
            rmig_rdb_id id;
            uint64_t nfields;
        } entry;
        struct {
            uint64_t length;
            rmig_rdb_id last_id, first_id, max_deleted_id;
            uint64_t entries_added;
            int v2;              /* first_id .. entries_added present (type >= 19) */
        } meta;
        struct {
            rmig_rdb_id last_id;
            uint64_t entries_read;
            int has_entries_read;
        } group;
        struct {
            rmig_rdb_id id;
            uint64_t delivery_ms, delivery_count;
        } pel;
        struct {
            uint64_t seen_ms, active_ms;
            int has_active;
        } consumer;
        struct {
            uint64_t duration, max_entries, iids_added, iids_duplicates;
        } idmp;
        struct {
            uint64_t raw_len;    /* bytes of the serialized value (without the type byte) */
            uint64_t elements;   /* elements (list items, set/zset members, hash fields,
                                    stream entries); exact with RMIG_RDB_ELEMENTS or
                                    RMIG_RDB_COUNT, else only those outside blobs */
            int has_meta;        /* RDB 13 KEY_META preceded the key (not in the raw bytes) */
        } end;
        struct {
            int checked;         /* 1 verified, 0 disabled (stored 0), -1 none (version < 5), -2 not asked */
            uint64_t crc;
        } eof;
    } u;
} rmig_rdb_event;

typedef struct rmig_rdb rmig_rdb;

/* Creates a parser; opts may be NULL. Returns NULL when out of memory. */
rmig_rdb *rmig_rdb_new(const rmig_rdb_opts *opts);
void rmig_rdb_free(rmig_rdb *p);

/* Copies len bytes into the parser. */
int rmig_rdb_feed(rmig_rdb *p, const void *data, size_t len);

/* Zero-copy input: rmig_rdb_space returns a place for at least want bytes
 * (NULL when out of memory); write into it, then rmig_rdb_commit what was
 * written. */
uint8_t *rmig_rdb_space(rmig_rdb *p, size_t want);
int rmig_rdb_commit(rmig_rdb *p, size_t len);

/* Says that no more bytes will come. */
void rmig_rdb_finish(rmig_rdb *p);

/* Pulls the next event into ev: > 0 an event, 0 need more bytes, < 0 error.
 * After RMIG_RDB_EV_EOF it returns RMIG_RDB_NEED_MORE forever. */
int rmig_rdb_next(rmig_rdb *p, rmig_rdb_event *ev);

/* The first error, as "offset N: what" (empty when none); and its code. */
const char *rmig_rdb_error(const rmig_rdb *p);
int rmig_rdb_errcode(const rmig_rdb *p);

/* After RMIG_RDB_EV_EOF: the bytes fed beyond the RDB (an AOF tail, a
 * diskless-sync EOF mark), so the caller can hand them on. */
void rmig_rdb_tail(const rmig_rdb *p, const uint8_t **data, size_t *len);

/* Bytes the parser holds allocated (buffer, key, scratch). Bounded by a small
 * multiple of max_record + raw_inline + the largest single feed, whatever
 * the input. */
size_t rmig_rdb_memory(const rmig_rdb *p);

/* Bytes consumed so far (the offset of the next unread byte). */
uint64_t rmig_rdb_offset(const rmig_rdb *p);

/* The value of a RMIG_RDB_EV_SCORE. Scores stored as text (in listpacks,
 * ziplists, and pre-RDB-8 files) come as that text in ev->str/len, verbatim,
 * so a writer can pass them on as Redis wrote them; the conversion to a
 * double is done here, when asked. Binary scores have ev->str NULL and the
 * value in ev->u.score. */
double rmig_rdb_score(const rmig_rdb_event *ev);

/* Names: "string", "list", … for a kind; "HASH_LISTPACK"… for a type byte. */
const char *rmig_rdb_kind_name(int kind);
/* The kind (enum rmig_rdb_kind) of an RDB type byte, or -1 for an unknown one. */
int rmig_rdb_type_kind(int rdb_type);
const char *rmig_rdb_type_name(int rdb_type, int version);

#endif
