/* psync.c - a replica's connection to its master (see psync.h). */
#include "psync.h"

#include "out.h"
#include "resp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define MARK 40 /* the diskless transfer's end mark */

enum { P_NEW, P_CONNECTING, P_TLS, P_HANDSHAKE, P_BULKHDR, P_RDB_LEN, P_RDB_EOF, P_STREAM, P_RETRY, P_FAILED, P_CLOSING };

/* what each handshake reply answers, in the order they were sent */
enum { R_AUTH, R_PING, R_PORT, R_CAPA, R_PSYNC, R_SYNC };

typedef struct wreq {
    uv_write_t req;
    size_t n;
    char data[];
} wreq;

struct rmig_psync {
    uv_loop_t *loop;
    union {
        uv_tcp_t tcp;
        uv_pipe_t pipe; /* a unix socket: the host is its path */
    } sock;
    int unix_path;
    uv_timer_t timer;   /* connect timeout, then silence, then backoff */
    uv_timer_t ack;     /* REPLCONF ACK every second */
    uv_connect_t creq;
    rmig_spool *spool;
    rmig_psync_cb cb;
    void *ud;
    int state, handles, tcp_open;
    char *host, *user, *password;
    int port, use_tls;
    rmig_tls_opts tls_opts;
    rmig_tls *tls;
    char name[300];
    char psync_cmd[64], sync_cmd[64];
    int timeout_ms, retry_deadline_ms, connect_timeout_ms, backoff_ms;
    uint64_t lost_at_ms, reconnects;
    char lost_why[600];
    /* handshake */
    int expect[6], nexpect, next_reply;
    char line[512];
    size_t line_len;
    /* replication position: replid and the offset of the last byte
     * received (valid when have_pos) */
    char replid[41];
    int64_t recv_off, acked;
    int have_pos, synced_once;
    int retry_ok;
    int psync_sent;       /* the master said "not now" (loading): worth retrying even before a first sync */
    /* snapshot transfer */
    uint64_t rdb_left;
    uint8_t mark[MARK], tail[MARK];
    size_t tail_len;
    uint64_t last_data_ms;
    char rbuf[64 * 1024], plain[64 * 1024];
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void emit(rmig_psync *ps, int ev, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ps->cb)
        ps->cb(ps, ps->ud, ev, msg);
}

static void lost(rmig_psync *ps, const char *fmt, ...);

static void fatal(rmig_psync *ps, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ps->state == P_FAILED || ps->state == P_CLOSING)
        return;
    ps->state = P_FAILED;
    uv_timer_stop(&ps->timer);
    uv_timer_stop(&ps->ack);
    if (ps->tcp_open)
        uv_read_stop((uv_stream_t *)&ps->sock);
    if (ps->cb)
        ps->cb(ps, ps->ud, RMIG_PSYNC_EV_FAILED, msg);
}

static int push(rmig_psync *ps, int type, const void *p, size_t n)
{
    char err[400];
    int rc = rmig_spool_push(ps->spool, type, p, n, err, sizeof err);
    if (rc < 0) {
        fatal(ps, "%s", err);
        return -1;
    }
    return 0;
}

/* ---- writing ---- */

static void on_written(uv_write_t *req, int status)
{
    rmig_psync *ps = req->data;
    free(req);
    if (status < 0 && status != UV_ECANCELED && ps->state != P_CLOSING && ps->state != P_FAILED)
        lost(ps, "writing to %s: %s", ps->name, uv_strerror(status));
}

static void send_raw(rmig_psync *ps, const void *p, size_t n)
{
    if (!ps->tcp_open || !n)
        return;
    wreq *w = malloc(sizeof *w + n);
    if (!w) {
        fatal(ps, "out of memory writing to %s", ps->name);
        return;
    }
    memcpy(w->data, p, n);
    w->n = n;
    w->req.data = ps;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    int r = uv_write(&w->req, (uv_stream_t *)&ps->sock, &b, 1, on_written);
    if (r < 0) {
        free(w);
        lost(ps, "writing to %s: %s", ps->name, uv_strerror(r));
    }
}

static void tls_flush(rmig_psync *ps)
{
    char buf[16384];
    size_t n;
    while (ps->tls && (n = rmig_tls_take(ps->tls, buf, sizeof buf)) > 0)
        send_raw(ps, buf, n);
}

static void send_bytes(rmig_psync *ps, const void *p, size_t n)
{
    if (!ps->tls) {
        send_raw(ps, p, n);
        return;
    }
    char err[300];
    if (rmig_tls_write(ps->tls, p, n, err, sizeof err) < 0) {
        lost(ps, "%s: %s", ps->name, err);
        return;
    }
    tls_flush(ps);
}

static void send_cmd(rmig_psync *ps, int argc, const char *const *argv)
{
    rmig_out o;
    rmig_out_init(&o, -1);
    rmig_resp_cmd(&o, (size_t)argc, argv);
    send_bytes(ps, o.buf, o.len);
    rmig_out_close(&o);
}

static void send_ack(rmig_psync *ps)
{
    char off[32];
    snprintf(off, sizeof off, "%lld", (long long)(ps->acked >= 0 ? ps->acked : 0));
    const char *argv[] = {"REPLCONF", "ACK", off};
    send_cmd(ps, 3, argv);
}

static void on_ack_timer(uv_timer_t *t)
{
    rmig_psync *ps = t->data;
    if (ps->state == P_STREAM)
        send_ack(ps);
}

/* ---- the handshake ---- */

static void send_psync(rmig_psync *ps)
{
    char off[32];
    const char *argv[3] = {ps->psync_cmd, "?", "-1"};
    if (ps->have_pos) {
        snprintf(off, sizeof off, "%lld", (long long)ps->recv_off + 1);
        argv[1] = ps->replid;
        argv[2] = off;
    }
    send_cmd(ps, 3, argv);
}

static void start_handshake(rmig_psync *ps)
{
    ps->state = P_HANDSHAKE;
    ps->nexpect = ps->next_reply = 0;
    ps->line_len = 0;
    if (ps->password) {
        const char *a[] = {"AUTH", ps->user ? ps->user : ps->password, ps->password};
        send_cmd(ps, ps->user ? 3 : 2, a);
        ps->expect[ps->nexpect++] = R_AUTH;
    }
    const char *ping[] = {"PING"};
    send_cmd(ps, 1, ping);
    ps->expect[ps->nexpect++] = R_PING;
    /* a replica tells the port it listens on (shown in INFO); rmig
     * listens on none, so it gives its own end of this connection's */
    struct sockaddr_storage ss;
    int len = sizeof ss, port = 0;
    if (!ps->unix_path && uv_tcp_getsockname(&ps->sock.tcp, (struct sockaddr *)&ss, &len) == 0)
        port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    const char *lp[] = {"REPLCONF", "listening-port", p};
    send_cmd(ps, 3, lp);
    ps->expect[ps->nexpect++] = R_PORT;
    const char *capa[] = {"REPLCONF", "capa", "eof", "capa", "psync2"};
    send_cmd(ps, 5, capa);
    ps->expect[ps->nexpect++] = R_CAPA;
    /* PSYNC waits for the answers before it: a master refuses it while
     * it still has replies to send ("pending output") */
    ps->expect[ps->nexpect++] = R_PSYNC;
    ps->psync_sent = 0;
}

static void begin_full(rmig_psync *ps, const char *replid, long long off)
{
    char rec[80];
    snprintf(ps->replid, sizeof ps->replid, "%s", replid);
    ps->recv_off = off;
    ps->have_pos = replid[0] != '?';
    int n = snprintf(rec, sizeof rec, "%s %lld", replid, off);
    ps->lost_at_ms = 0; /* the master answers: the reconnection worked */
    ps->backoff_ms = 0;
    push(ps, RMIG_PSYNC_FULL, rec, (size_t)n);
    ps->state = P_BULKHDR;
}

/* One line of the handshake's replies. 0 to go on, -1 when it changed the
 * state (failed, or the transfer began). */
static int handshake_reply(rmig_psync *ps, const char *l)
{
    int what = ps->expect[ps->next_reply++];
    int err = l[0] == '-';
    if (what == R_AUTH && err) {
        fatal(ps, "%s refused the source's credentials: %s (check source.password / source.user)", ps->name, l + 1);
        return -1;
    }
    if (what == R_PING && err) {
        if (!strncmp(l + 1, "NOAUTH", 6))
            fatal(ps, "%s needs a password: give source.password or source.password_env", ps->name);
        else
            lost(ps, "%s answered PING with %s", ps->name, l + 1);
        return -1;
    }
    if ((what == R_PORT || what == R_CAPA) && err) {
        /* servers older than 4.0 know no capa; SYNC still works */
        emit(ps, RMIG_PSYNC_EV_INFO, "%s refused REPLCONF (%s); going on", ps->name, l + 1);
        return 0;
    }
    if (what == R_PSYNC) {
        if (!strncmp(l, "+FULLRESYNC ", 12)) {
            char id[64];
            long long off;
            if (sscanf(l + 12, "%63s %lld", id, &off) != 2 || strlen(id) != 40) {
                fatal(ps, "%s answered %s with an unexpected line: %.100s", ps->name, ps->psync_cmd, l);
                return -1;
            }
            if (ps->have_pos)
                emit(ps, RMIG_PSYNC_EV_INFO,
                     "%s cannot continue from offset %lld of %s (its backlog no longer has it, or the id changed): "
                     "a full resync follows; keys deleted on the source meanwhile are not deleted on the target",
                     ps->name, (long long)ps->recv_off + 1, ps->replid);
            begin_full(ps, id, off);
            return -1;
        }
        if (!strncmp(l, "+CONTINUE", 9)) {
            char id[64] = "";
            if (sscanf(l + 9, " %63s", id) == 1 && strlen(id) == 40)
                memcpy(ps->replid, id, 41); /* (40 hex digits and the NUL: snprintf from a 64-byte buffer warns) */
            char rec[80];
            int n = snprintf(rec, sizeof rec, "%s %lld", ps->replid, (long long)ps->recv_off);
            if (push(ps, RMIG_PSYNC_CONTINUE, rec, (size_t)n) < 0)
                return -1;
            ps->state = P_STREAM;
            ps->synced_once = 1;
            ps->lost_at_ms = 0;
            ps->backoff_ms = 0;
            emit(ps, RMIG_PSYNC_EV_INFO, "%s: partial resync, continuing after offset %lld", ps->name,
                 (long long)ps->recv_off);
            emit(ps, RMIG_PSYNC_EV_DATA, "");
            return -1;
        }
        if (err && (!strncmp(l + 1, "ERR unknown command", 19) || !strncmp(l + 1, "ERR unknown", 11))) {
            emit(ps, RMIG_PSYNC_EV_INFO, "%s does not know %s; using %s (no partial resync possible)", ps->name,
                 ps->psync_cmd, ps->sync_cmd);
            const char *a[] = {ps->sync_cmd};
            send_cmd(ps, 1, a);
            ps->expect[ps->nexpect++] = R_SYNC;
            ps->have_pos = 0;
            begin_full(ps, "?", 0);
            return -1;
        }
        if (err && (!strncmp(l + 1, "LOADING", 7) || !strncmp(l + 1, "NOMASTERLINK", 12) ||
                    !strncmp(l + 1, "MASTERDOWN", 10))) {
            ps->retry_ok = 1;
            lost(ps, "%s is not ready to serve a replica: %s", ps->name, l + 1);
            return -1;
        }
        fatal(ps, "%s refused %s: %s%s", ps->name, ps->psync_cmd, l[0] == '-' ? l + 1 : l,
              err && strstr(l, "unknown") ? " (managed services rename it: set source.psync_command)" : "");
        return -1;
    }
    return 0;
}

/* ---- reading ---- */

/* Handshake replies are lines; returns how many bytes it used. */
static size_t handshake_bytes(rmig_psync *ps, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && ps->state == P_HANDSHAKE) {
        uint8_t ch = p[i++];
        if (ch == '\n') {
            if (ps->line_len && ps->line[ps->line_len - 1] == '\r')
                ps->line_len--;
            ps->line[ps->line_len] = 0;
            ps->line_len = 0;
            if (ps->line[0] == 0)
                continue; /* a keep-alive newline */
            if (handshake_reply(ps, ps->line) < 0)
                break;
            if (!ps->psync_sent && ps->next_reply == ps->nexpect - 1 && ps->expect[ps->next_reply] == R_PSYNC) {
                ps->psync_sent = 1;
                send_psync(ps);
            }
        } else if (ps->line_len < sizeof ps->line - 1) {
            ps->line[ps->line_len++] = (char)ch;
        }
    }
    return i;
}

/* The snapshot's header: newlines while the master prepares it, then
 * "$<len>\r\n" or "$EOF:<mark>\r\n". */
static size_t bulkhdr_bytes(rmig_psync *ps, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && ps->state == P_BULKHDR) {
        uint8_t ch = p[i++];
        if (ch != '\n') {
            if (ps->line_len < sizeof ps->line - 1)
                ps->line[ps->line_len++] = (char)ch;
            continue;
        }
        if (ps->line_len && ps->line[ps->line_len - 1] == '\r')
            ps->line_len--;
        ps->line[ps->line_len] = 0;
        size_t len = ps->line_len;
        ps->line_len = 0;
        if (len == 0)
            continue;
        if (ps->line[0] == '-') {
            lost(ps, "%s could not send its snapshot: %s", ps->name, ps->line + 1);
            return i;
        }
        if (!strncmp(ps->line, "$EOF:", 5) && len == 5 + MARK) {
            memcpy(ps->mark, ps->line + 5, MARK);
            ps->tail_len = 0;
            ps->state = P_RDB_EOF;
        } else if (ps->line[0] == '$') {
            char *end;
            long long v = strtoll(ps->line + 1, &end, 10);
            if (*end || v < 0) {
                fatal(ps, "%s sent a snapshot header rmig does not understand: %.80s", ps->name, ps->line);
                return i;
            }
            ps->rdb_left = (uint64_t)v;
            ps->state = P_RDB_LEN;
        } else {
            fatal(ps, "%s sent %.80s where a snapshot was expected", ps->name, ps->line);
        }
    }
    return i;
}

static void snapshot_done(rmig_psync *ps)
{
    if (push(ps, RMIG_PSYNC_RDB_END, NULL, 0) < 0)
        return;
    ps->state = P_STREAM;
    ps->synced_once = 1;
    /* a master sending diskless starts the stream only after this */
    send_ack(ps);
}

static void data(rmig_psync *ps, const uint8_t *p, size_t n)
{
    ps->last_data_ms = mono_ms();
    int pushed = 0;
    while (n) {
        size_t used = n;
        switch (ps->state) {
        case P_HANDSHAKE:
            used = handshake_bytes(ps, p, n);
            break;
        case P_BULKHDR:
            used = bulkhdr_bytes(ps, p, n);
            break;
        case P_RDB_LEN:
            used = n < ps->rdb_left ? n : (size_t)ps->rdb_left;
            if (push(ps, RMIG_PSYNC_RDB, p, used) < 0)
                return;
            ps->rdb_left -= used;
            pushed = 1;
            if (ps->rdb_left == 0)
                snapshot_done(ps);
            break;
        case P_RDB_EOF: {
            /* the last MARK bytes seen may be the end mark: hold them back */
            uint8_t buf[MARK * 2];
            size_t k = n < MARK ? n : MARK;
            memcpy(buf, ps->tail, ps->tail_len);
            memcpy(buf + ps->tail_len, p, k);
            size_t have = ps->tail_len + k;
            if (n > MARK) {
                /* held bytes and all but the last MARK of these go on */
                if (push(ps, RMIG_PSYNC_RDB, ps->tail, ps->tail_len) < 0 ||
                    push(ps, RMIG_PSYNC_RDB, p, n - MARK) < 0)
                    return;
                memcpy(ps->tail, p + n - MARK, MARK);
                ps->tail_len = MARK;
            } else if (have > MARK) {
                if (push(ps, RMIG_PSYNC_RDB, buf, have - MARK) < 0)
                    return;
                memcpy(ps->tail, buf + have - MARK, MARK);
                ps->tail_len = MARK;
            } else {
                memcpy(ps->tail, buf, have);
                ps->tail_len = have;
            }
            pushed = 1;
            if (ps->tail_len == MARK && !memcmp(ps->tail, ps->mark, MARK))
                snapshot_done(ps);
            break;
        }
        case P_STREAM:
            if (push(ps, RMIG_PSYNC_STREAM, p, n) < 0)
                return;
            ps->recv_off += (int64_t)n;
            pushed = 1;
            break;
        default:
            return;
        }
        p += used;
        n -= used;
        if (ps->state == P_FAILED || ps->state == P_RETRY || ps->state == P_CLOSING)
            break;
    }
    if (pushed)
        emit(ps, RMIG_PSYNC_EV_DATA, "");
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    rmig_psync *ps = h->data;
    (void)hint;
    *b = uv_buf_init(ps->rbuf, sizeof ps->rbuf);
}

static void after_transport(rmig_psync *ps)
{
    uv_timer_stop(&ps->timer);
    start_handshake(ps);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    rmig_psync *ps = s->data;
    if (n < 0) {
        lost(ps, n == UV_EOF ? "%s closed the replication connection" : "reading from %s: %s", ps->name,
             uv_strerror((int)n));
        return;
    }
    if (n == 0)
        return;
    if (!ps->tls) {
        data(ps, (const uint8_t *)b->base, (size_t)n);
        return;
    }
    char err[300];
    rmig_tls_feed(ps->tls, b->base, (size_t)n);
    if (ps->state == P_TLS) {
        int r = rmig_tls_handshake(ps->tls, err, sizeof err);
        tls_flush(ps);
        if (r < 0) {
            fatal(ps, "%s: %s", ps->name, err);
            return;
        }
        if (r == 0)
            return;
        after_transport(ps);
    }
    for (;;) {
        ssize_t k = rmig_tls_read(ps->tls, ps->plain, sizeof ps->plain, err, sizeof err);
        if (k < 0) {
            lost(ps, "%s: %s", ps->name, err);
            return;
        }
        if (k == 0)
            break;
        data(ps, (const uint8_t *)ps->plain, (size_t)k);
        if (ps->state == P_FAILED || ps->state == P_RETRY || ps->state == P_CLOSING)
            return;
    }
}

/* ---- connecting, losing, closing ---- */

static void on_silence(uv_timer_t *t);
static void on_closed(uv_handle_t *h);

static void on_connect(uv_connect_t *req, int status)
{
    rmig_psync *ps = req->data;
    if (ps->state != P_CONNECTING)
        return;
    if (status < 0) {
        lost(ps, "cannot connect to %s: %s", ps->name, uv_strerror(status));
        return;
    }
    if (!ps->unix_path) {
        uv_tcp_nodelay(&ps->sock.tcp, 1);
        uv_tcp_keepalive(&ps->sock.tcp, 1, 60);
    }
    uv_read_start((uv_stream_t *)&ps->sock, on_alloc, on_read);
    ps->last_data_ms = mono_ms();
    uv_timer_start(&ps->timer, on_silence, 1000, 1000);
    if (ps->use_tls) {
        char err[400];
        ps->tls = rmig_tls_new(&ps->tls_opts, ps->host, err, sizeof err);
        if (!ps->tls) {
            fatal(ps, "%s: %s", ps->name, err);
            return;
        }
        ps->state = P_TLS;
        int r = rmig_tls_handshake(ps->tls, err, sizeof err);
        tls_flush(ps);
        if (r < 0)
            fatal(ps, "%s: %s", ps->name, err);
        return;
    }
    after_transport(ps);
}

static void on_silence(uv_timer_t *t)
{
    rmig_psync *ps = t->data;
    uint64_t quiet = mono_ms() - ps->last_data_ms;
    int limit = ps->state == P_CONNECTING || ps->state == P_TLS || ps->state == P_HANDSHAKE ? ps->connect_timeout_ms
                                                                                            : ps->timeout_ms;
    if (quiet > (uint64_t)limit)
        lost(ps, "%s sent nothing for %llu ms", ps->name, (unsigned long long)quiet);
}

static void connect_now(rmig_psync *ps);

static void on_backoff(uv_timer_t *t)
{
    connect_now(t->data);
}

static void on_tcp_closed_retry(uv_handle_t *h)
{
    rmig_psync *ps = h->data;
    if (ps->state == P_CLOSING) {
        on_closed(h);
        return;
    }
    ps->handles--;
    uv_timer_start(&ps->timer, on_backoff, (uint64_t)ps->backoff_ms, 0);
}

/* The connection is lost: open it again after a pause, with a partial
 * resync when the stream had begun, until the deadline. */
static void lost(rmig_psync *ps, const char *fmt, ...)
{
    if (ps->state == P_FAILED || ps->state == P_CLOSING || ps->state == P_RETRY)
        return;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint64_t now = mono_ms();
    if (!ps->lost_at_ms) {
        ps->lost_at_ms = now;
        snprintf(ps->lost_why, sizeof ps->lost_why, "%s", msg);
        if (ps->synced_once || ps->state > P_HANDSHAKE)
            emit(ps, RMIG_PSYNC_EV_INFO, "%s; reconnecting", msg);
    }
    if (!ps->synced_once && ps->state <= P_HANDSHAKE && !ps->reconnects && !ps->retry_ok) {
        /* never connected: an address or a server that is wrong, said at once */
        fatal(ps, "%s", msg);
        return;
    }
    if (now - ps->lost_at_ms > (uint64_t)ps->retry_deadline_ms) {
        fatal(ps, "%s (and reconnecting failed for %d s: %s)", ps->lost_why, ps->retry_deadline_ms / 1000, msg);
        return;
    }
    if (ps->state == P_RDB_LEN || ps->state == P_RDB_EOF || ps->state == P_BULKHDR) {
        /* an incomplete snapshot is worth nothing: the next sync is full */
        push(ps, RMIG_PSYNC_RDB_ABORT, NULL, 0);
        ps->have_pos = 0;
    }
    ps->state = P_RETRY;
    uv_timer_stop(&ps->timer);
    uv_timer_stop(&ps->ack);
    ps->backoff_ms = ps->backoff_ms ? ps->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (ps->backoff_ms > BACKOFF_MAX_MS)
        ps->backoff_ms = BACKOFF_MAX_MS;
    rmig_tls_free(ps->tls);
    ps->tls = NULL;
    if (ps->tcp_open) {
        ps->tcp_open = 0;
        uv_read_stop((uv_stream_t *)&ps->sock);
        uv_close((uv_handle_t *)&ps->sock, on_tcp_closed_retry);
    } else {
        ps->handles++;
        on_tcp_closed_retry((uv_handle_t *)&ps->sock);
    }
}

static void on_connect_timeout(uv_timer_t *t)
{
    rmig_psync *ps = t->data;
    lost(ps, "connecting to %s timed out after %d ms", ps->name, ps->connect_timeout_ms);
}

static void connect_now(rmig_psync *ps)
{
    if (ps->state == P_CLOSING || ps->state == P_FAILED)
        return;
    if (ps->state == P_RETRY)
        ps->reconnects++;
    ps->state = P_CONNECTING;
    if (ps->unix_path) {
        uv_pipe_init(ps->loop, &ps->sock.pipe, 0);
        ps->sock.pipe.data = ps;
    } else {
        uv_tcp_init(ps->loop, &ps->sock.tcp);
        ps->sock.tcp.data = ps;
    }
    ps->tcp_open = 1;
    ps->handles++;
    ps->creq.data = ps;
    if (ps->unix_path) {
        uv_timer_start(&ps->timer, on_connect_timeout, (uint64_t)ps->connect_timeout_ms, 0);
        uv_pipe_connect(&ps->creq, &ps->sock.pipe, ps->host, on_connect); /* (errors come to on_connect) */
        return;
    }
    struct sockaddr_storage ss;
    if (uv_ip4_addr(ps->host, ps->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(ps->host, ps->port, (struct sockaddr_in6 *)&ss) != 0) {
        /* a name: resolved here, blocking, once per connection (rare) */
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        char port[16];
        snprintf(port, sizeof port, "%d", ps->port);
        int r = getaddrinfo(ps->host, port, &hints, &res);
        if (r != 0 || !res) {
            lost(ps, "cannot resolve %s: %s", ps->name, gai_strerror(r));
            return;
        }
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        freeaddrinfo(res);
    }
    ps->creq.data = ps;
    uv_timer_start(&ps->timer, on_connect_timeout, (uint64_t)ps->connect_timeout_ms, 0);
    int r = uv_tcp_connect(&ps->creq, &ps->sock.tcp, (const struct sockaddr *)&ss, on_connect);
    if (r < 0)
        lost(ps, "cannot connect to %s: %s", ps->name, uv_strerror(r));
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

rmig_psync *rmig_psync_new(uv_loop_t *loop, const rmig_psync_opts *o, rmig_spool *spool, rmig_psync_cb cb, void *ud)
{
    rmig_psync *ps = calloc(1, sizeof *ps);
    if (!ps)
        return NULL;
    ps->loop = loop;
    ps->spool = spool;
    ps->cb = cb;
    ps->ud = ud;
    ps->host = strdup(o->host);
    ps->port = o->port;
    ps->user = dup_or_null(o->user);
    ps->password = dup_or_null(o->password);
    if (o->tls) {
        ps->use_tls = 1;
        ps->tls_opts = *o->tls; /* its strings belong to the pipeline, which outlives the run */
    }
    ps->unix_path = o->host[0] == '/';
    if (ps->unix_path)
        snprintf(ps->name, sizeof ps->name, "%s", o->host);
    else
        snprintf(ps->name, sizeof ps->name, "%s:%d", o->host, o->port);
    snprintf(ps->psync_cmd, sizeof ps->psync_cmd, "%s", o->psync_cmd ? o->psync_cmd : "PSYNC");
    snprintf(ps->sync_cmd, sizeof ps->sync_cmd, "%s", o->sync_cmd ? o->sync_cmd : "SYNC");
    ps->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 60000;
    ps->retry_deadline_ms = o->retry_deadline_ms > 0 ? o->retry_deadline_ms : 300000;
    ps->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    ps->acked = -1;
    if (o->replid && strlen(o->replid) == 40 && o->offset >= 0) {
        snprintf(ps->replid, sizeof ps->replid, "%s", o->replid);
        ps->recv_off = o->offset;
        ps->acked = o->offset;
        ps->have_pos = 1;
    }
    uv_timer_init(loop, &ps->timer);
    uv_timer_init(loop, &ps->ack);
    ps->timer.data = ps->ack.data = ps;
    ps->handles = 2;
    return ps;
}

int rmig_psync_start(rmig_psync *ps)
{
    uv_timer_start(&ps->ack, on_ack_timer, 1000, 1000);
    connect_now(ps);
    return 0;
}

void rmig_psync_set_acked(rmig_psync *ps, int64_t offset)
{
    ps->acked = offset;
}

void rmig_psync_ack_now(rmig_psync *ps)
{
    if (ps->state == P_STREAM)
        send_ack(ps);
}

int64_t rmig_psync_received(const rmig_psync *ps)
{
    return ps->recv_off;
}

const char *rmig_psync_replid(const rmig_psync *ps)
{
    return ps->replid;
}

const char *rmig_psync_name(const rmig_psync *ps)
{
    return ps->name;
}

uint64_t rmig_psync_reconnects(const rmig_psync *ps)
{
    return ps->reconnects;
}

int rmig_psync_in_transfer(const rmig_psync *ps)
{
    return ps->state == P_BULKHDR || ps->state == P_RDB_LEN || ps->state == P_RDB_EOF;
}

static void on_closed(uv_handle_t *h)
{
    rmig_psync *ps = h->data;
    if (--ps->handles == 0) {
        rmig_tls_free(ps->tls);
        free(ps->host);
        free(ps->user);
        if (ps->password) {
            memset(ps->password, 0, strlen(ps->password));
            free(ps->password);
        }
        free(ps);
    }
}

void rmig_psync_close(rmig_psync *ps)
{
    if (!ps || ps->state == P_CLOSING)
        return;
    int was_retry = ps->state == P_RETRY && !ps->tcp_open;
    ps->state = P_CLOSING;
    uv_close((uv_handle_t *)&ps->timer, on_closed);
    uv_close((uv_handle_t *)&ps->ack, on_closed);
    if (ps->tcp_open) {
        ps->tcp_open = 0;
        uv_read_stop((uv_stream_t *)&ps->sock);
        uv_close((uv_handle_t *)&ps->sock, on_closed);
    } else if (!was_retry) {
        /* never connected */
    }
}
