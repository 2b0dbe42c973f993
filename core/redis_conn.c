/* redis_conn.c - a pipelined Redis connection on libuv (see redis_conn.h).
 *
 * Two output buffers alternate: `out` collects commands while `wbuf` is being
 * written. A prepare handle (run once per loop turn, before libuv waits for
 * I/O) hands whatever `out` holds to the kernel in one write, so commands
 * produced in one turn leave together. Tags and sizes of commands awaiting a
 * reply sit in a ring, in sending order, which is the order Redis answers. */
#include "redis_conn.h"

#include "resp.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_AUTH UINT64_MAX /* the AUTH this connection sends itself */
#define READ_CHUNK (64 * 1024)

enum { C_NEW, C_CONNECTING, C_TLS, C_AUTH, C_READY, C_FAILED, C_CLOSING };

typedef struct pending {
    uint64_t tag;
    size_t bytes;
} pending;

struct rmig_redis {
    uv_loop_t *loop;
    uv_tcp_t tcp;
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

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

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
    if (!c->host || !c->reader || !c->ring || rmig_out_init(&c->out, -1) < 0 || rmig_out_init(&c->wbuf, -1) < 0) {
        rmig_out_close(&c->out);
        rmig_out_close(&c->wbuf);
        if (c->reader)
            redisReaderFree(c->reader);
        free(c->ring);
        free(c->host);
        free(c->user);
        free(c->password);
        free(c);
        return NULL;
    }
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    uv_prepare_init(loop, &c->prepare);
    c->tcp.data = c->timer.data = c->prepare.data = c;
    c->open_handles = 3;
    return c;
}

const char *rmig_redis_name(const rmig_redis *c) { return c->name; }
uint64_t rmig_redis_pending(const rmig_redis *c) { return c->ring_len; }

int rmig_redis_room(const rmig_redis *c)
{
    return c->ring_len < c->window && c->inflight_bytes < c->window_bytes;
}

static void fail(rmig_redis *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(rmig_redis *c, const char *fmt, ...)
{
    if (c->state == C_FAILED || c->state == C_CLOSING)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->state = C_FAILED;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_stop(&c->timer);
    uint64_t unanswered = c->ring_len;
    for (size_t i = 0; i < c->ring_len; i++)
        if (c->ring[(c->ring_head + i) % c->ring_cap].tag == TAG_AUTH)
            unanswered--;
    if (c->on_state)
        c->on_state(c, c->ud, RMIG_REDIS_FAILED, msg, unanswered);
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
    pending p = {tag, bytes};
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
    if (status < 0) {
        fail(c, "writing to %s: %s", c->name, uv_strerror(status));
        return;
    }
    flush(c);
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
    uv_buf_t b = uv_buf_init(c->wbuf.buf, (unsigned)c->wbuf.len);
    c->write_req.data = c;
    int r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (r < 0) {
        fail(c, "writing to %s: %s", c->name, uv_strerror(r));
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
    c->cmd_start = c->out.len;
    return &c->out;
}

void rmig_redis_done(rmig_redis *c, uint64_t tag)
{
    if (ring_push(c, tag, c->out.len - c->cmd_start, 0) < 0) {
        fail(c, "out of memory queueing a command for %s", c->name);
        return;
    }
    c->cmd_start = c->out.len; /* several commands written at once: the next done counts none twice */
    uv_prepare_start(&c->prepare, on_prepare);
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

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    rmig_redis *c = s->data;
    if (n < 0) {
        fail(c, n == UV_EOF ? "%s closed the connection%s" : "reading from %s: %s", c->name,
             n == UV_EOF ? (c->state == C_TLS ? " during the TLS handshake (does it speak TLS on this port?)" : "")
                         : uv_strerror((int)n));
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
                fail(c, "%s refused the password%s%s: %s", c->name, c->user ? " of user " : "",
                     c->user ? c->user : "", why);
                return;
            }
            freeReplyObject(r);
            ready(c);
        } else if (c->on_reply) {
            c->on_reply(c, c->ud, p.tag, r);
            freeReplyObject(r);
        } else {
            freeReplyObject(r);
        }
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
        fail(c, "writing to %s: %s", c->name, uv_strerror(status));
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
    int r = uv_write(&f->req, (uv_stream_t *)&c->tcp, &b, 1, on_flight_written);
    if (r < 0) {
        free(f);
        fail(c, "writing to %s: %s", c->name, uv_strerror(r));
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
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 60);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
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

/* The transport is up (TCP, and TLS when asked): authenticate, or be ready. */
static void after_transport(rmig_redis *c)
{
    uv_timer_stop(&c->timer);
    if (!c->password) {
        ready(c);
        return;
    }
    /* AUTH goes first, before anything the caller queued meanwhile */
    rmig_out auth;
    rmig_out_init(&auth, -1);
    rmig_resp_array(&auth, c->user ? 3 : 2);
    rmig_resp_bulk_str(&auth, "AUTH");
    if (c->user)
        rmig_resp_bulk_str(&auth, c->user);
    rmig_resp_bulk_str(&auth, c->password);
    size_t n = auth.len;
    rmig_out_mem(&auth, c->out.buf, c->out.len);
    rmig_out_close(&c->out);
    c->out = auth;
    ring_push(c, TAG_AUTH, n, 1);
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
    int r = uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connect);
    if (r < 0)
        fail(c, "cannot connect to %s: %s", c->name, uv_strerror(r));
}

static void free_conn(rmig_redis *c)
{
    rmig_redis_close_cb cb = c->on_close;
    void *ud = c->ud;
    rmig_out_close(&c->out);
    rmig_out_close(&c->wbuf);
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

int rmig_redis_connect(rmig_redis *c)
{
    if (c->state != C_NEW)
        return -1;
    c->state = C_CONNECTING;
    uv_timer_start(&c->timer, on_timeout, (uint64_t)c->timeout_ms, 0);
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
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->prepare, on_handle_closed);
}
