/* spool.h - a FIFO of records that overflows from memory into lz4 files.
 *
 * As a replica, rmig must drain the socket from the source master at line
 * rate however slow the target behind the pipeline is: a master that sees a
 * slow replica drops it once its output buffer limit is hit. So everything
 * read from the socket is pushed here, and the pipeline pulls it out when it
 * can take more. Records stay in memory up to a bound; past it they are
 * gathered into blocks, lz4-compressed and appended to segment files in a
 * directory, read back in order and deleted as soon as they are read. A disk
 * budget bounds the files; when it would be passed push fails, and the caller
 * stops the run with that message rather than let the source drop the link.
 *
 * Order is strict FIFO over all records. While nothing is on disk, records go
 * to memory until the bound; from the first record that goes to disk, every
 * new record goes to disk too, behind it, until the reader has taken
 * everything back; then memory again. The block the writer is still filling
 * is handed to the reader directly when the reader reaches it, so no record
 * ever waits for a block to fill.
 *
 * Memory is bounded by mem_bytes plus a few blocks (the chunk being filled,
 * the chunk or block being read, the writer's block and one compressed
 * block), plus, for a moment, a copy of a record bigger than a block. Nothing
 * grows with the data that passed through. Disk writes are plain synchronous
 * write(2)s of whole blocks, meant for the event loop thread. A spool is used
 * by one thread; it owns its buffers and files, the caller nothing of it. */
#ifndef RMIG_SPOOL_H
#define RMIG_SPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct rmig_spool rmig_spool;

typedef struct rmig_spool_opts {
    const char *dir;        /* segment files go here; created (mode 0700, parents too) when
                               missing. NULL: memory only, and a push past mem_bytes fails */
    size_t mem_bytes;       /* records held in memory before any goes to disk; each record costs
                               its length plus 5 bytes. 0: everything goes to disk */
    uint64_t disk_budget;   /* bytes of segment files at most; 0: no limit. A file goes only
                               when all its blocks are read, so the files hold up to a
                               segment more than the data waiting */
    size_t block_bytes;     /* records are gathered into blocks of about this many raw bytes,
                               each compressed alone (0: 1 MiB; at most 64 MiB) */
    uint64_t segment_bytes; /* a segment file takes no more blocks past this size (0: 64 MiB,
                               or an eighth of the disk budget when that is less) */
} rmig_spool_opts;

enum {
    RMIG_SPOOL_FULL = -1,    /* push: the disk budget (or, without a dir, mem_bytes) would be passed */
    RMIG_SPOOL_EIO = -2,     /* a file could not be created, written or read */
    RMIG_SPOOL_CORRUPT = -3, /* next: a segment file does not hold what was written to it */
    RMIG_SPOOL_ENOMEM = -4,  /* an allocation failed */
    RMIG_SPOOL_TOOBIG = -5,  /* push: a record longer than RMIG_SPOOL_MAX_RECORD */
};

/* The longest record (1 GiB): lengths are 32-bit on disk, and lz4 takes
 * blocks below 2 GiB. */
enum { RMIG_SPOOL_MAX_RECORD = 1 << 30 };

/* A new, empty spool, or NULL with a message (the directory cannot be
 * created or is not a directory, out of memory). The dir string is copied. */
rmig_spool *rmig_spool_new(const rmig_spool_opts *o, char *err, size_t errlen);

/* Appends one record: a type code 0..255 chosen by the caller, and n bytes
 * (n may be 0), which are copied. Returns 0, or
 *   RMIG_SPOOL_FULL    the record would pass the disk budget (err names the
 *                      budget, the bytes and files on disk, the directory, and
 *                      says what to do: a larger budget or a faster target);
 *                      reading frees space, and push works again then;
 *   RMIG_SPOOL_EIO     err names the file and the system's reason;
 *   RMIG_SPOOL_ENOMEM, RMIG_SPOOL_TOOBIG.
 * A failed push stores nothing and changes nothing: records pushed before it
 * are all still read back, in order. Pointers returned by rmig_spool_next stay
 * valid across pushes. */
int rmig_spool_push(rmig_spool *s, int type, const void *p, size_t n, char *err, size_t errlen);

/* Takes the oldest record: 1 with *type, *p and *n set (*p stays valid until
 * the next rmig_spool_next or rmig_spool_free), 0 when the spool is empty, or
 * RMIG_SPOOL_EIO / RMIG_SPOOL_CORRUPT / RMIG_SPOOL_ENOMEM with err naming the
 * file and the byte offset of the block. A read error is kept: every later
 * call returns it again, since the records after it cannot be trusted to
 * follow on. */
int rmig_spool_next(rmig_spool *s, int *type, const uint8_t **p, size_t *n, char *err, size_t errlen);

typedef struct rmig_spool_stats {
    uint64_t records, bytes;  /* waiting now: records and their bytes (record lengths, as pushed) */
    uint64_t mem_bytes;       /* of those bytes, the ones in memory */
    uint64_t disk_bytes;      /* bytes of the segment files now (what the budget counts) */
    uint64_t disk_raw_bytes;  /* of the waiting bytes, the ones in blocks on disk */
    uint64_t peak_disk_bytes; /* the largest disk_bytes so far */
    uint64_t total_spilled;   /* record bytes that were ever written to disk */
    uint32_t segments;        /* segment files now */
} rmig_spool_stats;

void rmig_spool_stats_get(const rmig_spool *s, rmig_spool_stats *st);

/* Frees the spool and deletes its remaining files, and the directory when
 * the spool created it and it is empty. NULL is fine. */
void rmig_spool_free(rmig_spool *s);

/* XXH32 (the lz4 frame checksum), which liblz4 does not export; each block
 * on disk carries one. For the unit test. */
uint32_t rmig__spool_xxh32(const void *p, size_t n, uint32_t seed);

/* Deletes the segment files in dir that belong to processes no longer
 * running (a run that was killed); how many. */
unsigned rmig_spool_sweep(const char *dir);

#endif
