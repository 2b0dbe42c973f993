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
 * callback says RMIG_REDIS_READY once connected and authenticated, or
 * RMIG_REDIS_FAILED with a message naming the server), commands, then
 * rmig_redis_close; the object is freed in its close callback. Secrets
 * (password) are sent, never put in messages. */
#ifndef RMIG_REDIS_CONN_H
#define RMIG_REDIS_CONN_H

#include "out.h"
#include "tls.h"

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct rmig_redis rmig_redis;

enum { RMIG_REDIS_READY = 1, RMIG_REDIS_FAILED = 2 };

/* A reply to the command tagged tag (r is freed after the call returns). */
typedef void (*rmig_redis_reply_cb)(rmig_redis *c, void *ud, uint64_t tag, const redisReply *r);
/* Connected and ready, or failed (err says why: refused, timed out, AUTH
 * refused, closed by the server, a protocol error); after a failure no
 * more replies come, and `unanswered` commands got none. */
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

/* 1 while the window has room for more commands. */
int rmig_redis_room(const rmig_redis *c);
/* Commands sent or queued that have no reply yet. */
uint64_t rmig_redis_pending(const rmig_redis *c);
/* "host:port", for messages. */
const char *rmig_redis_name(const rmig_redis *c);

/* Closes the connection; on_close (may be NULL) runs once it is freed. */
void rmig_redis_close(rmig_redis *c, rmig_redis_close_cb on_close);

#endif
