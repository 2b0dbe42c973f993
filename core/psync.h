/* psync.h - rmig as a replica of a Redis master: the source side of a live
 * migration.
 *
 * One connection on the libuv loop does what a Redis replica does: AUTH
 * (password or ACL user), REPLCONF listening-port, REPLCONF capa eof capa
 * psync2, then PSYNC replid offset (a partial resync from where it stopped)
 * or PSYNC ? -1, falling back to SYNC on servers that do not know PSYNC.
 * The snapshot arrives in either form (a "$<length>" bulk, or the diskless
 * "$EOF:<40-byte mark>" ... mark), then the command stream; REPLCONF ACK
 * goes back every second (and right after the snapshot: a master sending
 * diskless waits for it before it starts the stream). The command names are
 * configurable, since managed services rename PSYNC per node.
 *
 * Everything read goes straight into the spool (spool.h) as records, so the
 * socket is drained at line rate whatever the pipeline behind it does: the
 * master never sees a slow replica. The records, in order:
 *   FULL "replid offset"      a full resync starts: an RDB follows
 *   RDB bytes...              the snapshot, exactly the RDB file's bytes
 *   RDB_END                   the snapshot is complete
 *   RDB_ABORT                 the transfer was cut: the RDB is incomplete
 *   CONTINUE "replid offset"  a partial resync: the stream goes on after offset
 *   STREAM bytes...           the command stream, byte for byte as sent
 * The replication offset of a STREAM byte is the offset in the last FULL or
 * CONTINUE plus its position in the stream since then.
 *
 * A lost connection (closed, reset, or silent for timeout_ms) is opened
 * again with backoff and continues with PSYNC replid offset+1 of the last
 * byte received, until retry_deadline_ms; then it fails. Secrets are never
 * put in messages. */
#ifndef RMIG_PSYNC_H
#define RMIG_PSYNC_H

#include "spool.h"
#include "tls.h"

#include <stdint.h>
#include <uv.h>

enum rmig_psync_rec {
    RMIG_PSYNC_FULL = 1,
    RMIG_PSYNC_RDB,
    RMIG_PSYNC_RDB_END,
    RMIG_PSYNC_RDB_ABORT,
    RMIG_PSYNC_CONTINUE,
    RMIG_PSYNC_STREAM,
};

/* What the psync connection tells its owner. */
enum rmig_psync_ev {
    RMIG_PSYNC_EV_DATA = 1, /* records were pushed into the spool */
    RMIG_PSYNC_EV_INFO,     /* something worth a line on stderr (msg) */
    RMIG_PSYNC_EV_FAILED,   /* it gave up (msg says why); nothing more comes */
};

typedef struct rmig_psync rmig_psync;
typedef void (*rmig_psync_cb)(rmig_psync *ps, void *ud, int ev, const char *msg);

typedef struct rmig_psync_opts {
    const char *host;
    int port;
    const char *user, *password;
    const rmig_tls_opts *tls;
    const char *psync_cmd, *sync_cmd; /* NULL: "PSYNC", "SYNC" */
    const char *replid;               /* resume: the replication id and the offset of the last byte */
    int64_t offset;                   /* applied (-1, or replid NULL: a full sync) */
    int timeout_ms;                   /* silence that counts as a lost connection (default 60000) */
    int retry_deadline_ms;            /* reconnecting for this long after a loss (default 300000) */
    int connect_timeout_ms;           /* default 5000 */
} rmig_psync_opts;

rmig_psync *rmig_psync_new(uv_loop_t *loop, const rmig_psync_opts *o, rmig_spool *spool, rmig_psync_cb cb, void *ud);
int rmig_psync_start(rmig_psync *ps);
/* The offset applied by the sink: what REPLCONF ACK reports. */
void rmig_psync_set_acked(rmig_psync *ps, int64_t offset);
/* Sends REPLCONF ACK now (the master asked with REPLCONF GETACK). */
void rmig_psync_ack_now(rmig_psync *ps);
/* The offset of the last byte received, and the replication id. */
int64_t rmig_psync_received(const rmig_psync *ps);
const char *rmig_psync_replid(const rmig_psync *ps);
/* "host:port" */
const char *rmig_psync_name(const rmig_psync *ps);
uint64_t rmig_psync_reconnects(const rmig_psync *ps);
/* 1 while the snapshot is being received */
int rmig_psync_in_transfer(const rmig_psync *ps);
/* Closes the connection; the object is freed once libuv is done with it. */
void rmig_psync_close(rmig_psync *ps);

#endif
