/* redis_conn.c - a pipelined Redis connection on libuv (see redis_conn.h).
 *
 * Two output buffers alternate: `out` collects commands while `wbuf` is being
 * written. A prepare handle (run once per loop turn, before libuv waits for
 * I/O) hands whatever `out` holds to the kernel in one write, so commands
 * produced in one turn leave together. Tags and sizes of commands awaiting a
 * reply sit in a ring, in sending order, which is the order Redis answers.
 *
 * Every command is also appended to a replay log, which keeps the bytes from
 * the first command of the oldest unanswered unit on; positions in it are
 * absolute (log_base is the position of its first byte), so trimming it
 * moves no ring entry. After a lost connection the log from that unit's
 * start is the new connection's first write, after AUTH and a SELECT. */
#include "redis_conn.h"

#include "resp.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_AUTH UINT64_MAX /* the AUTH this connection sends itself */
#define TAG_SKIP (UINT64_MAX - 3) /* a re-sent command whose reply was delivered already */
#define TAG_PING (UINT64_MAX - 4) /* the PING that says the server takes commands (not LOADING) */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define READ_CHUNK (64 * 1024)

enum { C_NEW, C_CONNECTING, C_TLS, C_AUTH, C_READY, C_FAILED, C_CLOSING, C_RETRY };

typedef struct pending {
    uint64_t tag;
    size_t bytes;
    uint64_t pos;       /* where its bytes start in the log */
    uint64_t unit_pos;  /* where its unit starts */
    uint64_t unit_db;   /* the db in effect before its unit's first command */
    uint32_t unit_idx;  /* commands of its unit before it */
    uint8_t unit_last;  /* the last of its unit */
    uint8_t torn;       /* its unit was too big to keep whole */
    uint8_t nolog;      /* streamed: not in the log, cannot be sent again */
    uint8_t broken;     /* a PING sent in place of a streamed command lost with a connection */
} pending;

struct rmig_redis {
    uv_loop_t *loop;
    uint64_t answered;      /* commands answered since the connection was last ready */
    int fruitless;          /* losses in a row with no command answered between them */
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe;   /* a unix socket: the host is its path */
    } sock;
    int unix_path;
    uv_timer_t timer;
    uv_prepare_t prepare;
    uv_connect_t connect_req;
    uv_getaddrinfo_t gai;
    uv_write_t write_req;
    int state, writing, gai_active, open_handles;
    rmig_out out, wbuf;
    size_t cmd_start;            /* where the command being written began in out */
    pending *ring;
    size_t ring_head, ring_len, ring_cap;
    uint64_t inflight_bytes;
    /* replay log and units */
    rmig_out log;
    uint64_t log_base;
    uint64_t db;                 /* the db the commands being written run in */
    int in_unit, unit_torn;
    uint64_t unit_pos, unit_db;
    uint32_t unit_n;
    const pending *answering;    /* the command whose reply is being delivered */
    uint64_t torn, reconnects;
    /* reconnecting */
    int retry_deadline_ms, was_ready, tcp_closing;
    int replied;                 /* a reply came on this connection */
    int streaming, stream_broken; /* a streamed command is being written; the connection was lost meanwhile */
    rmig_out sink;               /* where a broken streamed command's pieces go */
    int loading;                 /* the server said LOADING: wait for it, even on a first connection */
    int subscriber;              /* published messages come as RMIG_REDIS_TAG_PUSH */
    uint64_t retry_started, backoff_ms;
    char retry_err[700];
    redisReader *reader;
    char rbuf[READ_CHUNK];
    char name[280];
    char *host, *user, *password;
    int port, timeout_ms;
    uint64_t window;
    size_t window_bytes;
    rmig_redis_reply_cb on_reply;
    rmig_redis_state_cb on_state;
    rmig_redis_close_cb on_close;
    void *ud;
    /* TLS */
    int use_tls;
    rmig_tls_opts tls_opts;
    char *ca_file, *cert_file, *key_file, *server_name;
    rmig_tls *tls;
    char plain[READ_CHUNK];
    int handshake_writes;        /* handshake flights in flight */
};

typedef struct flight {
    uv_write_t req;
    rmig_redis *c;
    char data[];
} flight;

/* The connection's own commands, never the caller's. */
static int internal(uint64_t tag) { return tag == TAG_AUTH || tag == TAG_SKIP || tag == TAG_PING; }

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* The connection's socket, TCP or (a host starting with '/') unix. */
static void sock_init(rmig_redis *c)
{
    if (c->unix_path) {
        uv_pipe_init(c->loop, &c->sock.pipe, 0);
        c->sock.pipe.data = c;
    } else {
        uv_tcp_init(c->loop, &c->sock.tcp);
        c->sock.tcp.data = c;
    }
}

rmig_redis *rmig_redis_new(uv_loop_t *loop, const rmig_redis_opts *o, rmig_redis_reply_cb on_reply,
                           rmig_redis_state_cb on_state, void *ud)
{
    rmig_redis *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    c->host = strdup(o->host ? o->host : "127.0.0.1");
    c->user = dup_or_null(o->user);
    c->password = dup_or_null(o->password);
    c->port = o->port;
    c->timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    c->window = o->window ? o->window : 4096;
    c->window_bytes = o->window_bytes ? o->window_bytes : ((size_t)16 << 20);
    c->on_reply = on_reply;
    c->on_state = on_state;
    c->ud = ud;
    c->retry_deadline_ms = o->retry_deadline_ms;
    c->unix_path = c->host[0] == '/';
    if (c->unix_path)
        snprintf(c->name, sizeof c->name, "%s", c->host);
    else
        snprintf(c->name, sizeof c->name, strchr(c->host, ':') ? "[%s]:%d" : "%s:%d", c->host, c->port);
    if (o->tls) {
        c->use_tls = 1;
        c->tls_opts = *o->tls;
        c->tls_opts.ca_file = c->ca_file = dup_or_null(o->tls->ca_file);
        c->tls_opts.cert_file = c->cert_file = dup_or_null(o->tls->cert_file);
        c->tls_opts.key_file = c->key_file = dup_or_null(o->tls->key_file);
        c->tls_opts.server_name = c->server_name = dup_or_null(o->tls->server_name);
    }
    c->reader = redisReaderCreate();
    c->ring_cap = 1024;
    c->ring = malloc(c->ring_cap * sizeof *c->ring);
    if (!c->host || !c->reader || !c->ring || rmig_out_init(&c->out, -1) < 0 || rmig_out_init(&c->wbuf, -1) < 0 ||
        rmig_out_init(&c->log, -1) < 0 || rmig_out_init(&c->sink, -1) < 0) {
        rmig_out_close(&c->out);
        rmig_out_close(&c->wbuf);
        rmig_out_close(&c->log);
        rmig_out_close(&c->sink);
        if (c->reader)
            redisReaderFree(c->reader);
        free(c->ring);
        free(c->host);
        free(c->user);
        free(c->password);
        free(c);
        return NULL;
    }
    sock_init(c);
    uv_timer_init(loop, &c->timer);
    uv_prepare_init(loop, &c->prepare);
    c->timer.data = c->prepare.data = c;
    c->open_handles = 3;
    return c;
}

const char *rmig_redis_name(const rmig_redis *c) { return c->name; }
uint64_t rmig_redis_pending(const rmig_redis *c) { return c->ring_len; }
int rmig_redis_midway(const rmig_redis *c) { return c->streaming || c->in_unit; }

int rmig_redis_room(const rmig_redis *c)
{
    /* out's own size too: a streamed command is counted only once done */
    return c->ring_len < c->window && c->inflight_bytes < c->window_bytes && c->out.len < c->window_bytes;
}

static void fail(rmig_redis *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_hard(rmig_redis *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_with(rmig_redis *c, int hard, const char *msg);

static uint64_t clock_ms(void) { return uv_hrtime() / 1000000; }

static void vfail(rmig_redis *c, int hard, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fail_with(c, hard, msg);
}

static void fail(rmig_redis *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, 0, fmt, ap);
    va_end(ap);
}

/* Not worth retrying: the server refused the password. */
static void fail_hard(rmig_redis *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, 1, fmt, ap);
    va_end(ap);
}

static void begin_retry(rmig_redis *c, const char *msg);

/* The name of the first command not answered yet ("" when unknown). */
static void first_unanswered(const rmig_redis *c, char *out, size_t cap)
{
    out[0] = 0;
    for (size_t i = 0; i < c->ring_len; i++) {
        const pending *p = &c->ring[(c->ring_head + i) % c->ring_cap];
        if (internal(p->tag) || p->nolog || p->pos < c->log_base)
            continue;
        const char *b = c->log.buf + (p->pos - c->log_base), *end = b + p->bytes, *q = memchr(b, '$', p->bytes);
        long len = q ? strtol(q + 1, NULL, 10) : -1;
        const char *name = q ? memchr(q, '\n', (size_t)(end - q)) : NULL;
        if (name && len > 0 && name + 1 + len <= end)
            snprintf(out, cap, "%.*s", (int)(len < 40 ? len : 40), name + 1);
        return;
    }
}

static void fail_with(rmig_redis *c, int hard, const char *msg_in)
{
    if (c->state == C_FAILED || c->state == C_CLOSING || (c->state == C_RETRY && c->tcp_closing))
        return;
    char msg[700];
    snprintf(msg, sizeof msg, "%s", msg_in);
    if (!hard && c->state == C_READY) {
        /* a server that closes the connection each time it is sent the
         * same commands, answering none, refuses them (Twemproxy does so
         * with a command it does not support): after 3 such losses in a
         * row the connection fails rather than sending them forever */
        c->fruitless = c->answered ? 0 : c->fruitless + 1;
        if (c->fruitless >= 3) {
            char name[48];
            first_unanswered(c, name, sizeof name);
            snprintf(msg, sizeof msg, "%s closed the connection 3 times in a row, each time before answering %s%s%s: "
                     "it refuses it (Twemproxy closes the connection on a command it does not support)", c->name,
                     name[0] ? "the command " : "any command", name, "");
            hard = 1;
        }
    }
    if (!hard && (c->was_ready || c->loading) && c->retry_deadline_ms > 0) {
        uint64_t now = clock_ms();
        if (!c->retry_started)
            c->retry_started = now;
        if (now - c->retry_started < (uint64_t)c->retry_deadline_ms) {
            begin_retry(c, msg);
            return;
        }
        snprintf(msg, sizeof msg, "%.300s; no connection could be made again within %d s (sink.retry_deadline_s): %.300s",
                 c->retry_err[0] ? c->retry_err : msg_in, c->retry_deadline_ms / 1000, msg_in);
    }
    c->state = C_FAILED;
    uv_read_stop((uv_stream_t *)&c->sock);
    uv_timer_stop(&c->timer);
    uint64_t unanswered = 0;
    for (size_t i = 0; i < c->ring_len; i++)
        unanswered += !internal(c->ring[(c->ring_head + i) % c->ring_cap].tag);
    if (c->on_state)
        c->on_state(c, c->ud, RMIG_REDIS_FAILED, msg, unanswered);
}

/* A TLS 1.3 server that wants a client certificate checks for it after the
 * client has finished its handshake, then sends an alert and closes: what
 * rmig sees first may be a bare reset. Say what that most likely means. */
static const char *tls_hint(const rmig_redis *c)
{
    if (!c->tls || c->replied || c->cert_file)
        return "";
    return " (the server ended the TLS session before answering: if it requires client certificates "
           "(tls-auth-clients), give the sink tls.cert_file and tls.key_file)";
}

static int ring_push(rmig_redis *c, uint64_t tag, size_t bytes, int front)
{
    if (c->ring_len == c->ring_cap) {
        size_t cap = c->ring_cap * 2;
        pending *r = malloc(cap * sizeof *r);
        if (!r)
            return -1;
        for (size_t i = 0; i < c->ring_len; i++)
            r[i] = c->ring[(c->ring_head + i) % c->ring_cap];
        free(c->ring);
        c->ring = r;
        c->ring_cap = cap;
        c->ring_head = 0;
    }
    pending p = {.tag = tag, .bytes = bytes};
    if (front) {
        c->ring_head = (c->ring_head + c->ring_cap - 1) % c->ring_cap;
        c->ring[c->ring_head] = p;
    } else {
        c->ring[(c->ring_head + c->ring_len) % c->ring_cap] = p;
    }
    c->ring_len++;
    c->inflight_bytes += bytes;
    return 0;
}

/* ---- writing ---- */

static void flush(rmig_redis *c);

static void on_written(uv_write_t *req, int status)
{
    rmig_redis *c = req->data;
    c->writing = 0;
    c->wbuf.len = 0;
    if (c->state == C_RETRY || c->state == C_CLOSING)
        return; /* a write cut by the connection's loss: the log has it */
    if (status < 0) {
        fail(c, "writing to %s: %s%s", c->name, uv_strerror(status), tls_hint(c));
        return;
    }
    flush(c);
    if (c->streaming && c->on_state && rmig_redis_room(c))
        c->on_state(c, c->ud, RMIG_REDIS_DRAINED, NULL, 0);
}

static void flush(rmig_redis *c)
{
    if (c->writing || c->out.len == 0 || (c->state != C_AUTH && c->state != C_READY))
        return;
    if (c->tls) {
        /* encrypt what was gathered; wbuf takes the ciphertext */
        char err[300];
        if (rmig_tls_write(c->tls, c->out.buf, c->out.len, err, sizeof err) < 0) {
            fail(c, "%s: %s", c->name, err);
            return;
        }
        c->out.len = 0;
        c->wbuf.len = 0;
        size_t n;
        char chunk[16384];
        while ((n = rmig_tls_take(c->tls, chunk, sizeof chunk)) > 0)
            rmig_out_mem(&c->wbuf, chunk, n);
    } else {
        rmig_out t = c->wbuf;
        c->wbuf = c->out;
        c->out = t;
        c->out.len = 0;
    }
    c->cmd_start = 0; /* a writer holding &c->out (chunked.c) goes on in the emptied buffer */
    uv_buf_t b = uv_buf_init(c->wbuf.buf, (unsigned)c->wbuf.len);
    c->write_req.data = c;
    int r = uv_write(&c->write_req, (uv_stream_t *)&c->sock, &b, 1, on_written);
    if (r < 0) {
        fail(c, "writing to %s: %s%s", c->name, uv_strerror(r), tls_hint(c));
        return;
    }
    c->writing = 1;
}

static void on_prepare(uv_prepare_t *h)
{
    rmig_redis *c = h->data;
    uv_prepare_stop(h);
    flush(c);
}

rmig_out *rmig_redis_out(rmig_redis *c)
{
    if (c->streaming && c->stream_broken) {
        c->sink.len = 0;
        return &c->sink;
    }
    if (c->streaming && (c->state == C_READY || c->state == C_AUTH))
        uv_prepare_start(&c->prepare, on_prepare); /* the pieces leave without waiting for its end */
    c->cmd_start = c->out.len;
    return &c->out;
}

void rmig_redis_stream_begin(rmig_redis *c)
{
    c->streaming = 1;
    c->stream_broken = 0;
    c->cmd_start = c->out.len;
}

static void stream_done(rmig_redis *c, uint64_t tag);

void rmig_redis_done(rmig_redis *c, uint64_t tag)
{
    if (c->streaming) {
        stream_done(c, tag);
        return;
    }
    size_t n = c->out.len - c->cmd_start;
    uint64_t pos = c->log_base + c->log.len;
    rmig_out_mem(&c->log, c->out.buf + c->cmd_start, n);
    if (ring_push(c, tag, n, 0) < 0 || c->log.err) {
        fail_hard(c, "out of memory queueing a command for %s", c->name);
        return;
    }
    pending *p = &c->ring[(c->ring_head + c->ring_len - 1) % c->ring_cap];
    p->pos = pos;
    if (c->in_unit && !c->unit_torn && pos + n - c->unit_pos > (uint64_t)c->window_bytes) {
        /* too big to keep whole (a key streamed in chunks): from here on
         * its commands are kept one by one */
        c->unit_torn = 1;
    }
    if (c->in_unit && !c->unit_torn) {
        p->unit_pos = c->unit_pos;
        p->unit_db = c->unit_db;
        p->unit_idx = c->unit_n++;
    } else {
        p->unit_pos = pos;
        p->unit_db = tag == RMIG_REDIS_TAG_SELECT ? UINT64_MAX : c->db; /* a SELECT sets its own db */
        p->unit_idx = 0;
        p->unit_last = !c->in_unit;
        p->torn = (uint8_t)c->unit_torn;
    }
    c->cmd_start = c->out.len; /* several commands written at once: the next done counts none twice */
    if (c->state == C_READY || c->state == C_AUTH)
        uv_prepare_start(&c->prepare, on_prepare);
}

static const char ping_cmd[] = "*1\r\n$4\r\nPING\r\n";

/* The end of a streamed command: in the ring, not in the log. One whose
 * connection was lost on the way becomes a PING, answered with an error. */
static void stream_done(rmig_redis *c, uint64_t tag)
{
    c->streaming = 0;
    if (c->stream_broken) {
        c->cmd_start = c->out.len; /* its pieces went to the sink, none to out */
        rmig_out_mem(&c->out, ping_cmd, sizeof ping_cmd - 1);
        rmig_redis_done(c, tag);
        c->ring[(c->ring_head + c->ring_len - 1) % c->ring_cap].broken = 1;
        return;
    }
    uint64_t pos = c->log_base + c->log.len;
    if (ring_push(c, tag, 0, 0) < 0) {
        fail_hard(c, "out of memory queueing a command for %s", c->name);
        return;
    }
    pending *p = &c->ring[(c->ring_head + c->ring_len - 1) % c->ring_cap];
    p->pos = p->unit_pos = pos;
    p->unit_db = c->db;
    p->unit_last = 1;
    p->nolog = 1;
    c->cmd_start = c->out.len;
    if (c->state == C_READY || c->state == C_AUTH)
        uv_prepare_start(&c->prepare, on_prepare);
}

void rmig_redis_select(rmig_redis *c, uint64_t db)
{
    if (c->db == db)
        return;
    rmig_out *o = rmig_redis_out(c);
    rmig_resp_array(o, 2);
    rmig_resp_bulk_str(o, "SELECT");
    rmig_resp_bulk_i64(o, (int64_t)db);
    c->db = db;
    rmig_redis_done(c, RMIG_REDIS_TAG_SELECT);
}

void rmig_redis_unit_begin(rmig_redis *c)
{
    c->in_unit = 1;
    c->unit_torn = 0;
    c->unit_pos = c->log_base + c->log.len;
    c->unit_db = c->db;
    c->unit_n = 0;
}

int rmig_redis_unit_end(rmig_redis *c)
{
    int marked = 0;
    if (c->in_unit && c->ring_len) {
        pending *p = &c->ring[(c->ring_head + c->ring_len - 1) % c->ring_cap];
        if (p->pos >= c->unit_pos && !internal(p->tag))
            marked = p->unit_last = 1;
    }
    c->in_unit = 0;
    return marked;
}

const char *rmig_redis_command(const rmig_redis *c, size_t *n)
{
    const pending *p = c->answering;
    if (!p || p->nolog || p->broken || p->pos < c->log_base) {
        *n = 0;
        return NULL;
    }
    *n = p->bytes;
    return c->log.buf + (p->pos - c->log_base);
}

const char *rmig_redis_unit_bytes(const rmig_redis *c, size_t *n)
{
    const pending *p = c->answering;
    if (!p || !p->unit_last || p->torn || p->nolog || p->broken || p->unit_pos < c->log_base) {
        *n = 0;
        return NULL;
    }
    *n = (size_t)(p->pos + p->bytes - p->unit_pos);
    return c->log.buf + (p->unit_pos - c->log_base);
}

int rmig_redis_unit_last(const rmig_redis *c) { return c->answering && c->answering->unit_last; }

uint64_t rmig_redis_torn(const rmig_redis *c) { return c->torn; }
uint64_t rmig_redis_reconnects(const rmig_redis *c) { return c->reconnects; }

/* Drops the log's bytes that no unanswered unit needs, in big steps. */
static void log_trim(rmig_redis *c)
{
    uint64_t keep = c->log_base + c->log.len;
    for (size_t i = 0; i < c->ring_len; i++) {
        const pending *p = &c->ring[(c->ring_head + i) % c->ring_cap];
        if (!internal(p->tag)) {
            keep = p->unit_pos;
            break;
        }
    }
    /* a unit still being written keeps its start even when every command of
     * it so far was answered: its next commands may have to be sent again
     * from there */
    if (c->in_unit && !c->unit_torn && c->unit_pos < keep)
        keep = c->unit_pos;
    if (keep < c->log_base)
        keep = c->log_base;
    size_t drop = (size_t)(keep - c->log_base);
    if (drop == c->log.len) {
        c->log_base += drop;
        c->log.len = 0;
    } else if (drop >= ((size_t)256 << 10) && drop >= c->log.len / 4) {
        memmove(c->log.buf, c->log.buf + drop, c->log.len - drop);
        c->log.len -= drop;
        c->log_base += drop;
    }
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    rmig_redis *c = h->data;
    (void)hint;
    *b = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void ready(rmig_redis *c)
{
    c->state = C_READY;
    if (c->on_state)
        c->on_state(c, c->ud, RMIG_REDIS_READY, NULL, 0);
    flush(c);
}

static void after_transport(rmig_redis *c);
static void tls_send(rmig_redis *c);

static void replies(rmig_redis *c, const char *data, size_t n);
static void replay(rmig_redis *c);

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    rmig_redis *c = s->data;
    if (n < 0) {
        if (n == UV_EOF)
            fail(c, "%s closed the connection%s", c->name,
                 c->state == C_TLS ? " during the TLS handshake (does it speak TLS on this port?)" : tls_hint(c));
        else
            fail(c, "reading from %s: %s%s", c->name, uv_strerror((int)n), tls_hint(c));
        return;
    }
    if (n == 0)
        return;
    if (!c->tls) {
        replies(c, b->base, (size_t)n);
        return;
    }
    char err[300];
    rmig_tls_feed(c->tls, b->base, (size_t)n);
    if (c->state == C_TLS) {
        int r = rmig_tls_handshake(c->tls, err, sizeof err);
        tls_send(c);
        if (r < 0) {
            fail(c, "%s: %s", c->name, err);
            return;
        }
        if (r == 0)
            return;
        after_transport(c);
    }
    while (c->state == C_AUTH || c->state == C_READY) {
        ssize_t k = rmig_tls_read(c->tls, c->plain, sizeof c->plain, err, sizeof err);
        if (k < 0) {
            fail(c, "%s: %s", c->name, err);
            return;
        }
        if (k == 0)
            break;
        replies(c, c->plain, (size_t)k);
    }
}

/* A published message: ["message", channel, payload] or ["pmessage",
 * pattern, channel, payload]. */
static int is_message(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    const redisReply *k = r->element[0];
    return (k->len == 7 && !memcmp(k->str, "message", 7)) || (k->len == 8 && !memcmp(k->str, "pmessage", 8));
}

void rmig_redis_subscriber(rmig_redis *c) { c->subscriber = 1; }

static void replies(rmig_redis *c, const char *data, size_t n)
{
    if (redisReaderFeed(c->reader, data, n) != REDIS_OK) {
        fail(c, "protocol error from %s: %s", c->name, c->reader->errstr);
        return;
    }
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            fail(c, "protocol error from %s: %s", c->name, c->reader->errstr);
            return;
        }
        if (!reply)
            return;
        redisReply *r = reply;
        c->replied = 1;
        if (c->subscriber && is_message(r)) {
            if (c->on_reply)
                c->on_reply(c, c->ud, RMIG_REDIS_TAG_PUSH, r);
            freeReplyObject(r);
            if (c->state != C_READY)
                return; /* (closed by the callback) */
            continue;
        }
        if (c->ring_len == 0) {
            freeReplyObject(r);
            fail(c, "%s sent a reply to no command", c->name);
            return;
        }
        pending p = c->ring[c->ring_head];
        c->ring_head = (c->ring_head + 1) % c->ring_cap;
        c->ring_len--;
        c->inflight_bytes -= p.bytes;
        if (p.tag == TAG_AUTH) {
            if (r->type == REDIS_REPLY_ERROR) {
                char why[200];
                snprintf(why, sizeof why, "%.*s", (int)(r->len < 150 ? r->len : 150), r->str);
                freeReplyObject(r);
                fail_hard(c, "%s refused the password%s%s: %s", c->name, c->user ? " of user " : "",
                     c->user ? c->user : "", why);
                return;
            }
            freeReplyObject(r);
        } else if (p.tag == TAG_PING) {
            if (r->type == REDIS_REPLY_ERROR) {
                char why[200];
                snprintf(why, sizeof why, "%.*s", (int)(r->len < 150 ? r->len : 150), r->str);
                freeReplyObject(r);
                if (!strncmp(why, "LOADING", 7)) {
                    if (!c->loading)
                        c->loading = 1;
                    fail(c, "%s is loading its dataset into memory; waiting for it", c->name);
                } else if (!strncmp(why, "NOAUTH", 6)) {
                    fail_hard(c, "%s wants a password (%s): give the sink password_env (or password)", c->name,
                              why);
                } else {
                    fail_hard(c, "%s answered PING with: %s", c->name, why);
                }
                return;
            }
            freeReplyObject(r);
            /* the server takes commands: from now on a loss is worth
             * reconnecting for, and a new deadline starts */
            int again = c->was_ready;
            c->was_ready = 1;
            c->answered = 0;
            c->loading = 0;
            c->retry_started = 0;
            c->backoff_ms = 0;
            replay(c);
            if (again)
                c->reconnects++;
            ready(c);
        } else if (p.tag == TAG_SKIP) {
            freeReplyObject(r);
        } else if (c->on_reply) {
            c->answering = &p;
            if (p.broken) {
                /* the PING in place of a streamed command the connection lost */
                static char why[] = "ERR rmig: the connection was lost while this command was being written in "
                                    "pieces; it could not be sent again";
                redisReply e = {.type = REDIS_REPLY_ERROR, .str = why, .len = sizeof why - 1};
                c->on_reply(c, c->ud, p.tag, &e);
            } else {
                c->answered++;
                c->on_reply(c, c->ud, p.tag, r);
            }
            c->answering = NULL;
            freeReplyObject(r);
        } else {
            freeReplyObject(r);
        }
        log_trim(c);
        if (c->state != C_READY && c->state != C_AUTH)
            return; /* failed or closed from a callback */
    }
}

/* ---- connecting ---- */

static void on_flight_written(uv_write_t *req, int status)
{
    flight *f = (flight *)req;
    rmig_redis *c = f->c;
    c->handshake_writes--;
    free(f);
    if (status < 0 && status != UV_ECANCELED)
        fail(c, "writing to %s: %s%s", c->name, uv_strerror(status), tls_hint(c));
}

/* Handshake bytes go out in writes of their own (the command buffers are
 * not in use yet). */
static void tls_send(rmig_redis *c)
{
    size_t n = rmig_tls_pending(c->tls);
    if (!n)
        return;
    flight *f = malloc(sizeof *f + n);
    if (!f) {
        fail(c, "out of memory for the TLS handshake with %s", c->name);
        return;
    }
    f->c = c;
    n = rmig_tls_take(c->tls, f->data, n);
    uv_buf_t b = uv_buf_init(f->data, (unsigned)n);
    int r = uv_write(&f->req, (uv_stream_t *)&c->sock, &b, 1, on_flight_written);
    if (r < 0) {
        free(f);
        fail(c, "writing to %s: %s%s", c->name, uv_strerror(r), tls_hint(c));
        return;
    }
    c->handshake_writes++;
}

static void on_connect(uv_connect_t *req, int status)
{
    rmig_redis *c = req->data;
    if (c->state != C_CONNECTING)
        return;
    if (status < 0) {
        uv_timer_stop(&c->timer);
        fail(c, "cannot connect to %s: %s", c->name, uv_strerror(status));
        return;
    }
    c->replied = 0;
    if (!c->unix_path) {
        uv_tcp_nodelay(&c->sock.tcp, 1);
        uv_tcp_keepalive(&c->sock.tcp, 1, 60);
    }
    uv_read_start((uv_stream_t *)&c->sock, on_alloc, on_read);
    if (c->use_tls) {
        /* the connect timer keeps running through the handshake */
        char err[400];
        c->tls = rmig_tls_new(&c->tls_opts, c->host, err, sizeof err);
        if (!c->tls) {
            uv_timer_stop(&c->timer);
            fail(c, "%s: %s", c->name, err);
            return;
        }
        c->state = C_TLS;
        int r = rmig_tls_handshake(c->tls, err, sizeof err);
        tls_send(c);
        if (r < 0)
            fail(c, "%s: %s", c->name, err);
        return;
    }
    after_transport(c);
}

/* A new connection after a loss: what it must send first is a SELECT of
 * the db the oldest unanswered unit began in, then the log from that unit's
 * first command on. Replies to the part of the unit that was answered
 * before are skipped. */
size_t rmig_redis_unanswered(const rmig_redis *c, const char **bytes, rmig_redis_cmd *cmds, size_t cap)
{
    /* as replay() would send them: from the unit of the first unanswered
     * command, whose answered commands come first as one RMIG_REDIS_TAG_SKIP
     * entry holding their bytes, then one entry per command */
    size_t k = 0, first = SIZE_MAX;
    uint64_t start = 0;
    for (size_t i = 0; i < c->ring_len; i++) {
        const pending *p = &c->ring[(c->ring_head + i) % c->ring_cap];
        if (internal(p->tag))
            continue;
        if (p->nolog || p->broken)
            return SIZE_MAX; /* a streamed command: its bytes are gone */
        if (first == SIZE_MAX) {
            first = i;
            start = p->unit_pos;
            *bytes = c->log.buf + (start - c->log_base);
            if (p->unit_idx && k < cap)
                cmds[k] = (rmig_redis_cmd){RMIG_REDIS_TAG_SKIP, (size_t)(p->pos - start), p->unit_idx, p->unit_pos};
            k += p->unit_idx != 0;
        }
        if (k < cap)
            cmds[k] = (rmig_redis_cmd){p->tag, p->bytes, 1, p->unit_pos};
        k++;
    }
    if (first == SIZE_MAX)
        *bytes = NULL;
    return k;
}

static void replay(rmig_redis *c)
{
    pending *keep = malloc((c->ring_len + 2) * sizeof *keep);
    size_t n = 0;
    for (size_t i = 0; keep && i < c->ring_len; i++) {
        const pending *p = &c->ring[(c->ring_head + i) % c->ring_cap];
        if (!internal(p->tag))
            keep[n++] = *p;
    }
    if (!keep) {
        fail_hard(c, "out of memory reconnecting to %s", c->name);
        return;
    }
    c->ring_len = 0;
    c->ring_head = 0;
    c->inflight_bytes = 0;
    c->out.len = 0;
    c->wbuf.len = 0;
    uint64_t start = c->log_base + c->log.len, db = c->db;
    uint32_t skip = 0;
    if (n) {
        start = keep[0].unit_pos;
        db = keep[0].unit_db;
        skip = keep[0].unit_idx;
        if (keep[0].torn)
            c->torn++;
    }
    if (db != 0 && db != UINT64_MAX) {
        rmig_resp_array(&c->out, 2);
        rmig_resp_bulk_str(&c->out, "SELECT");
        rmig_resp_bulk_i64(&c->out, (int64_t)db);
        ring_push(c, TAG_SKIP, c->out.len, 0);
    }
    for (uint32_t i = 0; i < skip; i++)
        ring_push(c, TAG_SKIP, i == 0 && n ? (size_t)(keep[0].pos - start) : 0, 0);
    for (size_t i = 0; i < n; i++) {
        if (ring_push(c, keep[i].tag, keep[i].bytes, 0) < 0)
            break;
        c->ring[(c->ring_head + c->ring_len - 1) % c->ring_cap] = keep[i];
    }
    free(keep);
    /* the log from start, with a PING where each streamed command was */
    uint64_t at = start;
    for (size_t i = 0; i < c->ring_len; i++) {
        pending *p = &c->ring[(c->ring_head + i) % c->ring_cap];
        if (!p->nolog)
            continue;
        rmig_out_mem(&c->out, c->log.buf + (at - c->log_base), (size_t)(p->pos - at));
        rmig_out_mem(&c->out, ping_cmd, sizeof ping_cmd - 1);
        at = p->pos;
        p->nolog = 0;
        p->broken = 1;
    }
    rmig_out_mem(&c->out, c->log.buf + (at - c->log_base), (size_t)(c->log_base + c->log.len - at));
    c->cmd_start = c->out.len;
}

/* The transport is up (TCP, and TLS when asked): authenticate, or be ready. */
static void after_transport(rmig_redis *c)
{
    uv_timer_stop(&c->timer);
    /* AUTH and a PING go alone: the caller's commands (all in the log) go
     * once the PING is answered, so that a server still loading its data
     * (a restarted one) refuses none of them with LOADING */
    c->out.len = 0;
    if (c->password) {
        rmig_resp_array(&c->out, c->user ? 3 : 2);
        rmig_resp_bulk_str(&c->out, "AUTH");
        if (c->user)
            rmig_resp_bulk_str(&c->out, c->user);
        rmig_resp_bulk_str(&c->out, c->password);
    }
    size_t auth = c->out.len;
    rmig_resp_array(&c->out, 1);
    rmig_resp_bulk_str(&c->out, "PING");
    c->cmd_start = c->out.len;
    ring_push(c, TAG_PING, c->out.len - auth, 1);
    if (auth)
        ring_push(c, TAG_AUTH, auth, 1);
    c->state = C_AUTH;
    flush(c);
}

static void on_timeout(uv_timer_t *t)
{
    rmig_redis *c = t->data;
    fail(c, "connecting to %s timed out after %d ms%s", c->name, c->timeout_ms,
         c->state == C_TLS ? " (in the TLS handshake)" : "");
}

static void start_connect(rmig_redis *c, const struct sockaddr *addr)
{
    c->connect_req.data = c;
    int r = uv_tcp_connect(&c->connect_req, &c->sock.tcp, addr, on_connect);
    if (r < 0)
        fail(c, "cannot connect to %s: %s", c->name, uv_strerror(r));
}

static void free_conn(rmig_redis *c)
{
    rmig_redis_close_cb cb = c->on_close;
    void *ud = c->ud;
    rmig_out_close(&c->out);
    rmig_out_close(&c->wbuf);
    rmig_out_close(&c->log);
    rmig_out_close(&c->sink);
    redisReaderFree(c->reader);
    free(c->ring);
    free(c->host);
    free(c->user);
    rmig_tls_free(c->tls);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->server_name);
    if (c->password) {
        memset(c->password, 0, strlen(c->password));
        free(c->password);
    }
    free(c);
    if (cb)
        cb(ud);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    rmig_redis *c = req->data;
    c->gai_active = 0;
    if (c->state == C_CLOSING) {
        uv_freeaddrinfo(res);
        if (c->open_handles == 0)
            free_conn(c);
        return;
    }
    if (status < 0) {
        fail(c, "cannot resolve %s: %s", c->name, uv_strerror(status));
        uv_freeaddrinfo(res);
        return;
    }
    start_connect(c, res->ai_addr);
    uv_freeaddrinfo(res);
}

static void on_backoff(uv_timer_t *t)
{
    rmig_redis *c = t->data;
    c->state = C_NEW;
    rmig_redis_connect(c);
}

static void on_handle_closed(uv_handle_t *h);

static void on_retry_closed(uv_handle_t *h)
{
    rmig_redis *c = h->data;
    c->tcp_closing = 0;
    if (c->state == C_CLOSING) {
        on_handle_closed(h);
        return;
    }
    sock_init(c);
    uv_timer_start(&c->timer, on_backoff, c->backoff_ms, 0);
}

/* The connection is lost (or an attempt to open it again failed): close
 * the socket and try again after a growing pause. */
static void begin_retry(rmig_redis *c, const char *msg)
{
    /* said once: the loss of a connection that was ready, and a server that
     * is loading (not every attempt while it loads) */
    int lost = c->state == C_READY || (c->state == C_AUTH && !c->loading) || (c->loading == 1);
    if (c->loading == 1)
        c->loading = 2;
    if (lost) {
        snprintf(c->retry_err, sizeof c->retry_err, "%s", msg);
        uint64_t unanswered = 0;
        for (size_t i = 0; i < c->ring_len; i++) {
            unanswered += !internal(c->ring[(c->ring_head + i) % c->ring_cap].tag);
        }
        if (c->on_state)
            c->on_state(c, c->ud, RMIG_REDIS_RETRYING, msg, unanswered);
        if (c->state == C_CLOSING)
            return;
    }
    c->state = C_RETRY;
    if (c->streaming)
        c->stream_broken = 1;
    uv_read_stop((uv_stream_t *)&c->sock);
    uv_timer_stop(&c->timer);
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (c->backoff_ms > BACKOFF_MAX_MS)
        c->backoff_ms = BACKOFF_MAX_MS;
    rmig_tls_free(c->tls);
    c->tls = NULL;
    redisReaderFree(c->reader);
    c->reader = redisReaderCreate();
    c->tcp_closing = 1;
    uv_close((uv_handle_t *)&c->sock, on_retry_closed);
}

int rmig_redis_connect(rmig_redis *c)
{
    if (c->state != C_NEW)
        return -1;
    c->state = C_CONNECTING;
    uv_timer_start(&c->timer, on_timeout, (uint64_t)c->timeout_ms, 0);
    if (c->unix_path) {
        c->connect_req.data = c;
        uv_pipe_connect(&c->connect_req, &c->sock.pipe, c->host, on_connect); /* (errors come to on_connect) */
        return 0;
    }
    struct sockaddr_storage ss;
    if (uv_ip4_addr(c->host, c->port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(c->host, c->port, (struct sockaddr_in6 *)&ss) == 0) {
        start_connect(c, (const struct sockaddr *)&ss);
        return 0;
    }
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    c->gai.data = c;
    int r = uv_getaddrinfo(c->loop, &c->gai, on_resolved, c->host, port, &hints);
    if (r < 0) {
        fail(c, "cannot resolve %s: %s", c->name, uv_strerror(r));
        return 0;
    }
    c->gai_active = 1;
    return 0;
}

/* ---- closing ---- */

static void on_handle_closed(uv_handle_t *h)
{
    rmig_redis *c = h->data;
    /* handshake writes are cancelled before the tcp handle's close callback */
    if (--c->open_handles == 0 && !c->gai_active)
        free_conn(c);
}

void rmig_redis_close(rmig_redis *c, rmig_redis_close_cb on_close)
{
    if (c->state == C_CLOSING)
        return;
    c->state = C_CLOSING;
    c->on_close = on_close;
    if (c->gai_active)
        uv_cancel((uv_req_t *)&c->gai);
    if (!c->tcp_closing) /* else on_retry_closed finishes it */
        uv_close((uv_handle_t *)&c->sock, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->prepare, on_handle_closed);
}
