/* redis_conn.h - one pipelined connection to a Redis server, on a libuv loop.
 *
 * The caller writes commands (RESP, see resp.h) into the connection's output
 * buffer, each with a 64-bit tag; everything written during one turn of the
 * loop goes to the kernel in one uv_write, on a socket with TCP_NODELAY (a
 * connection that writes each command on its own, or waits on Nagle, is what
 * makes slow loaders slow: DESIGN.md §8). Replies are read with hiredis'
 * reader and handed back in order, each with the tag of its command. The
 * window (commands and bytes sent but not yet answered) is the caller's to
 * respect: rmig_redis_room says whether there is room. With opts.tls the
 * same happens through a TLS session (tls.h) after its handshake.
 *
 * Life cycle, as libuv's: rmig_redis_new, rmig_redis_connect (the state
 * callback says RMIG_REDIS_READY once connected, authenticated and answering
 * PING, so that a server loading its data refuses no command; or
 * RMIG_REDIS_FAILED with a message naming the server), commands, then
 * rmig_redis_close; the object is freed in its close callback. Secrets
 * (password) are sent, never put in messages.
 *
 * Every command stays in a replay log until it is answered. With
 * opts.retry_deadline_ms, a connection lost after it was once ready is
 * opened again with backoff (the state callback says RMIG_REDIS_RETRYING,
 * then RMIG_REDIS_READY), and the unanswered commands are sent again in
 * order, after a SELECT of the db they ran in. Commands grouped into a unit
 * (rmig_redis_unit_begin/end: one key's DEL, RPUSHes and PEXPIREAT, say)
 * are sent again from the unit's first command, so a unit must be safe to
 * repeat as a whole; the replies of the part that was already answered are
 * not delivered twice. Only when the deadline passes does the connection
 * fail. A unit too big to keep (more than window_bytes) is kept per
 * command instead, and rmig_redis_torn says when such a unit was cut by a
 * reconnection. */
#ifndef RMIG_REDIS_CONN_H
#define RMIG_REDIS_CONN_H

#include "out.h"
#include "tls.h"

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct rmig_redis rmig_redis;

enum { RMIG_REDIS_READY = 1, RMIG_REDIS_FAILED = 2, RMIG_REDIS_RETRYING = 3, RMIG_REDIS_DRAINED = 4 };

/* The tag of the SELECTs rmig_redis_select writes; their replies come to
 * the reply callback like any other. */
#define RMIG_REDIS_TAG_SELECT (UINT64_MAX - 1)
/* The tag rmig_redis_unanswered gives a command of a unit answered already. */
#define RMIG_REDIS_TAG_SKIP (UINT64_MAX - 3)

/* The tag a subscriber connection's published messages come with (see
 * rmig_redis_subscriber). */
#define RMIG_REDIS_TAG_PUSH (UINT64_MAX - 16)

/* A reply to the command tagged tag (r is freed after the call returns). */
typedef void (*rmig_redis_reply_cb)(rmig_redis *c, void *ud, uint64_t tag, const redisReply *r);
/* Connected and ready, or failed (err says why: refused, timed out, AUTH
 * refused, closed by the server, a protocol error); after a failure no
 * more replies come, and `unanswered` commands got none. RETRYING: the
 * connection was lost (err says how) and is being opened again; the
 * `unanswered` commands will be sent again. */
typedef void (*rmig_redis_state_cb)(rmig_redis *c, void *ud, int state, const char *err, uint64_t unanswered);
typedef void (*rmig_redis_close_cb)(void *ud);

typedef struct rmig_redis_opts {
    const char *host;        /* name or address */
    int port;
    const char *user;        /* ACL user, or NULL */
    const char *password;    /* or NULL: no AUTH */
    int connect_timeout_ms;  /* default 5000 */
    uint64_t window;         /* commands in flight (default 4096) */
    size_t window_bytes;     /* bytes in flight (default 16 MiB) */
    const rmig_tls_opts *tls; /* non-NULL: TLS, verified unless tls->no_verify */
    int retry_deadline_ms;   /* > 0: reconnect after a loss for this long, then fail */
} rmig_redis_opts;

rmig_redis *rmig_redis_new(uv_loop_t *loop, const rmig_redis_opts *o, rmig_redis_reply_cb on_reply,
                           rmig_redis_state_cb on_state, void *ud);
int rmig_redis_connect(rmig_redis *c);

/* Writing a command: rmig_redis_out gives the buffer to write one command
 * into; rmig_redis_done records it under tag and schedules the write. When
 * several commands were written at once, call rmig_redis_done once per
 * command (the bytes are counted with the first). */
rmig_out *rmig_redis_out(rmig_redis *c);
void rmig_redis_done(rmig_redis *c, uint64_t tag);

/* SELECT db, written only when the connection is not in db already. */
void rmig_redis_select(rmig_redis *c, uint64_t db);

/* Commands done between begin and end form one unit for re-sending (see
 * above). Outside a unit each command is one. */
void rmig_redis_unit_begin(rmig_redis *c);
/* 1 when the unit's last command awaits its reply (which then says it is
 * the last, rmig_redis_unit_last); 0 when every command of the unit was
 * answered already (a unit written over several turns of the loop). */
int rmig_redis_unit_end(rmig_redis *c);

/* Inside the reply callback: the bytes of the command being answered (for
 * commands written several at once, the first holds them all), and, when
 * it is the last of its unit, the whole unit's bytes (else *n = 0). Valid
 * until the callback returns. */
const char *rmig_redis_command(const rmig_redis *c, size_t *n);
const char *rmig_redis_unit_bytes(const rmig_redis *c, size_t *n);
/* Inside the reply callback: 1 when the command is the last of its unit. */
int rmig_redis_unit_last(const rmig_redis *c);

/* A command too big to hold (a RESTORE of a huge value), written in pieces
 * as they come: rmig_redis_stream_begin, then the pieces into
 * rmig_redis_out (called again for each: rmig_redis_room says when to pause,
 * the state callback's RMIG_REDIS_DRAINED when to go on), then
 * rmig_redis_done. It is not kept for re-sending: if the connection is lost
 * before its reply, its reply is an error saying so (the rest of its pieces
 * go nowhere meanwhile), in its place among the others. */
void rmig_redis_stream_begin(rmig_redis *c);

/* Units cut by a reconnection because they were too big to keep whole
 * (their commands before the cut may run twice). */
uint64_t rmig_redis_torn(const rmig_redis *c);
/* Times the connection was opened again after a loss. */
uint64_t rmig_redis_reconnects(const rmig_redis *c);

/* 1 while the window has room for more commands. */
int rmig_redis_room(const rmig_redis *c);

/* 1 while a streamed command or a unit is being written: another
 * command written now would land inside it. */
int rmig_redis_midway(const rmig_redis *c);

/* The commands that have no reply yet, as they would be sent again after
 * a reconnection, to send them elsewhere (a cluster master that died and
 * whose replica took over). *bytes points at them (valid until the
 * connection is used again); each entry of cmds is one command in order:
 * its tag, its length (0 for the later commands written at once with the
 * first, which holds their bytes), how many commands it stands for (the
 * first entry may be RMIG_REDIS_TAG_SKIP: the commands of the first unit
 * that were answered), and the start of its unit (equal for the commands
 * of one unit). Returns how many entries (beyond cap not written), or
 * SIZE_MAX when a streamed command is among them (its bytes were never
 * kept). */
typedef struct rmig_redis_cmd {
    uint64_t tag;
    size_t len;
    uint32_t count;
    uint64_t unit;
} rmig_redis_cmd;
size_t rmig_redis_unanswered(const rmig_redis *c, const char **bytes, rmig_redis_cmd *cmds, size_t cap);

/* Commands sent or queued that have no reply yet. */
uint64_t rmig_redis_pending(const rmig_redis *c);
/* "host:port", for messages. */
const char *rmig_redis_name(const rmig_redis *c);

/* Makes c a subscriber connection: a published message (a "message" or
 * "pmessage" array, which answers no command and may come before the reply
 * to a command sent after SUBSCRIBE) goes to the reply callback with tag
 * RMIG_REDIS_TAG_PUSH instead of being taken for a reply. */
void rmig_redis_subscriber(rmig_redis *c);
/* Closes the connection; on_close (may be NULL) runs once it is freed. */
void rmig_redis_close(rmig_redis *c, rmig_redis_close_cb on_close);

#endif
