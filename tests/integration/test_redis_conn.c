/* test_redis_conn.c - the pipelined connection against real redis-server
 * processes this test starts on free loopback ports: replies come back in
 * order with their tags and within the window, errors go to the command
 * that caused them, AUTH works and a wrong password is refused without the
 * password in the message, and refused connections and servers that go away
 * are reported naming the server; a command streamed in pieces and cut by a
 * lost connection is answered with an error in its place while the others
 * are sent again. Exit 77 when redis-server is missing. */
#include "redis_conn.h"
#include "resp.h"
#include "testlib.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int free_port(void) { return rmig_t_free_port(); }

static pid_t start_server_tls(int port, const char *password, const char *tlsdir, int auth_clients)
{
    char p[16], cert[300], key[300], ca[300];
    snprintf(p, sizeof p, "%d", port);
    char *argv[32] = {"redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                      "--dir", "/tmp", "--logfile", "", NULL};
    int k = 13;
    if (password) {
        argv[k++] = "--requirepass";
        argv[k++] = (char *)password;
    }
    if (tlsdir) {
        snprintf(cert, sizeof cert, "%s/server.crt", tlsdir);
        snprintf(key, sizeof key, "%s/server.key", tlsdir);
        snprintf(ca, sizeof ca, "%s/ca.crt", tlsdir);
        argv[1] = "--tls-port";
        argv[k++] = "--port";
        argv[k++] = "0";
        argv[k++] = "--tls-cert-file";
        argv[k++] = cert;
        argv[k++] = "--tls-key-file";
        argv[k++] = key;
        argv[k++] = "--tls-ca-cert-file";
        argv[k++] = ca;
        argv[k++] = "--tls-auth-clients";
        argv[k++] = auth_clients ? "yes" : "no";
    }
    argv[k] = NULL;
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
    int spawned = posix_spawnp(&pid, "redis-server", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (spawned != 0)
        return -1;
    /* wait until it accepts connections */
    for (int i = 0; i < 500; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        close(s);
        if (ok)
            return pid;
        usleep(10000);
    }
    return pid;
}

static pid_t start_server(int port, const char *password) { return start_server_tls(port, password, NULL, 0); }

static void stop_server(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

/* ---- a driver: N SETs, then DBSIZE, checking order and replies ---- */

typedef struct run {
    uv_loop_t *loop;
    rmig_redis *c;
    uv_idle_t idle;
    uint64_t n, sent, next_reply, errors, max_pending, wrongtype_tag, dbsize;
    int ready, failed, order_ok, closed, window_ok;
    char err[512];
    uint64_t unanswered;
    pid_t kill_at_pid;
    uint64_t kill_after;
    uint64_t window;
} run;

static void on_state(rmig_redis *c, void *ud, int state, const char *err, uint64_t unanswered)
{
    run *r = ud;
    (void)c;
    if (state == RMIG_REDIS_READY) {
        r->ready = 1;
        return;
    }
    r->failed = 1;
    r->unanswered = unanswered;
    snprintf(r->err, sizeof r->err, "%s", err);
    uv_idle_stop(&r->idle);
    rmig_redis_close(r->c, NULL);
}

static void on_reply(rmig_redis *c, void *ud, uint64_t tag, const redisReply *rep)
{
    run *r = ud;
    if (tag != r->next_reply)
        r->order_ok = 0;
    r->next_reply++;
    if (rep->type == REDIS_REPLY_ERROR) {
        r->errors++;
        if (!strncmp(rep->str, "WRONGTYPE", 9))
            r->wrongtype_tag = tag;
    }
    if (rep->type == REDIS_REPLY_INTEGER && tag == r->n)
        r->dbsize = (uint64_t)rep->integer;
    if (r->kill_after && r->next_reply == r->kill_after && r->kill_at_pid) {
        kill(r->kill_at_pid, SIGKILL);
        r->kill_at_pid = 0;
    }
    if (tag == r->n) {
        uv_idle_stop(&r->idle);
        rmig_redis_close(c, NULL);
        r->closed = 1;
    }
}

static void on_idle(uv_idle_t *h)
{
    run *r = h->data;
    if (!r->ready)
        return;
    while (r->sent < r->n && rmig_redis_room(r->c)) {
        rmig_out *o = rmig_redis_out(r->c);
        char key[32];
        int kl = snprintf(key, sizeof key, "key:%llu", (unsigned long long)(r->sent % 1000000));
        if (r->sent == 10) {
            /* a command that fails on its own: LPUSH on the string key:9 */
            rmig_resp_array(o, 3);
            rmig_resp_bulk_str(o, "LPUSH");
            rmig_resp_bulk_str(o, "key:9");
            rmig_resp_bulk_str(o, "x");
        } else {
            rmig_resp_array(o, 3);
            rmig_resp_bulk_str(o, "SET");
            rmig_resp_bulk(o, key, (size_t)kl);
            rmig_resp_bulk_str(o, "value-value-value");
        }
        rmig_redis_done(r->c, r->sent++);
    }
    if (rmig_redis_pending(r->c) > r->max_pending)
        r->max_pending = rmig_redis_pending(r->c);
    if (rmig_redis_pending(r->c) > r->window)
        r->window_ok = 0;
    if (r->sent == r->n) {
        const char *argv[] = {"DBSIZE"};
        rmig_resp_cmd(rmig_redis_out(r->c), 1, argv);
        rmig_redis_done(r->c, r->sent++);
        uv_idle_stop(h);
    }
}

static const rmig_tls_opts *tls_opts; /* set by the TLS part */

static void drive(run *r, int port, const char *password, uint64_t n, uint64_t window)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    memset(r, 0, sizeof *r);
    r->loop = &loop;
    r->n = n;
    r->order_ok = 1;
    r->window_ok = 1;
    r->window = window;
    r->wrongtype_tag = UINT64_MAX;
    rmig_redis_opts o = {.host = "127.0.0.1", .port = port, .password = password, .connect_timeout_ms = 2000,
                         .window = window, .tls = tls_opts};
    r->c = rmig_redis_new(&loop, &o, on_reply, on_state, r);
    uv_idle_init(&loop, &r->idle);
    r->idle.data = r;
    uv_idle_start(&r->idle, on_idle);
    rmig_redis_connect(r->c);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&r->idle, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

/* ---- a streamed command cut by a lost connection ---- */

typedef struct cut {
    rmig_redis *c;
    uv_timer_t timer;
    int port, step, readies, reconnected;
    uint64_t replies;
    int first_ok, streamed_err, last_ok;
    char err[300];
} cut;

#define CUT_LEN (1 << 20)

static void cut_step(uv_timer_t *t)
{
    cut *k = t->data;
    if (k->step == 1) {
        /* kill every normal client but the killer: rmig's connection */
        redisContext *h = redisConnect("127.0.0.1", k->port);
        redisReply *rep = h && !h->err ? redisCommand(h, "CLIENT KILL TYPE normal") : NULL;
        if (rep)
            freeReplyObject(rep);
        if (h)
            redisFree(h);
        k->step = 2;
        uv_timer_start(&k->timer, cut_step, 200, 0);
        return;
    }
    /* the rest of the streamed value, its end, and one more command */
    rmig_out *o = rmig_redis_out(k->c);
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < CUT_LEN / 2 / (int)sizeof chunk; i++) {
        o = rmig_redis_out(k->c);
        rmig_out_mem(o, chunk, sizeof chunk);
    }
    o = rmig_redis_out(k->c);
    rmig_resp_bulk_end(o);
    rmig_redis_done(k->c, 2);
    const char *argv[] = {"SET", "cut:c", "3"};
    rmig_resp_cmd(rmig_redis_out(k->c), 3, argv);
    rmig_redis_done(k->c, 3);
}

static void cut_state(rmig_redis *c, void *ud, int state, const char *err, uint64_t unanswered)
{
    cut *k = ud;
    (void)unanswered;
    if (state == RMIG_REDIS_READY && k->readies++ == 0) {
        const char *argv[] = {"SET", "cut:a", "1"};
        rmig_resp_cmd(rmig_redis_out(c), 3, argv);
        rmig_redis_done(c, 1);
        /* SET cut:b <1 MiB>, of which half is written now */
        rmig_redis_stream_begin(c);
        rmig_out *o = rmig_redis_out(c);
        rmig_resp_array(o, 3);
        rmig_resp_bulk_str(o, "SET");
        rmig_resp_bulk_str(o, "cut:b");
        rmig_resp_bulk_begin(o, CUT_LEN);
        char chunk[4096];
        memset(chunk, 'x', sizeof chunk);
        for (int i = 0; i < CUT_LEN / 2 / (int)sizeof chunk; i++) {
            o = rmig_redis_out(c);
            rmig_out_mem(o, chunk, sizeof chunk);
        }
        k->step = 1;
        uv_timer_start(&k->timer, cut_step, 200, 0);
    } else if (state == RMIG_REDIS_READY) {
        k->reconnected = 1;
    } else if (state == RMIG_REDIS_FAILED) {
        snprintf(k->err, sizeof k->err, "%s", err);
        rmig_redis_close(c, NULL);
        uv_close((uv_handle_t *)&k->timer, NULL);
    }
}

static void cut_reply(rmig_redis *c, void *ud, uint64_t tag, const redisReply *rep)
{
    cut *k = ud;
    k->replies++;
    if (tag == 1)
        k->first_ok = rep->type == REDIS_REPLY_STATUS;
    if (tag == 2) {
        k->streamed_err = rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "lost");
        snprintf(k->err, sizeof k->err, "%.*s", (int)rep->len, rep->str ? rep->str : "");
    }
    if (tag == 3) {
        k->last_ok = rep->type == REDIS_REPLY_STATUS;
        rmig_redis_close(c, NULL);
        uv_close((uv_handle_t *)&k->timer, NULL);
    }
}

int main(void)
{
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        printf("redis-server is not installed: skipped\n");
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    run r;

    int port = free_port();
    pid_t pid = start_server(port, NULL);
    drive(&r, port, NULL, 200000, 1000);
    CHECK("200000 pipelined commands are all answered, in order, with their tags",
          !r.failed && r.next_reply == 200001 && r.order_ok, "failed %d (%s), replies %llu", r.failed, r.err,
          (unsigned long long)r.next_reply);
    CHECK("an error reply goes to the command that caused it", r.errors == 1 && r.wrongtype_tag == 10,
          "errors %llu, WRONGTYPE on tag %llu", (unsigned long long)r.errors, (unsigned long long)r.wrongtype_tag);
    CHECK("the target holds what was written", r.dbsize == 199999, "DBSIZE %llu", (unsigned long long)r.dbsize);
    CHECK("no more commands are in flight than the window allows", r.window_ok && r.max_pending <= 1000,
          "max %llu", (unsigned long long)r.max_pending);
    stop_server(pid);

    drive(&r, port, NULL, 10, 100);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    CHECK("a refused connection is reported naming the server", r.failed && strstr(r.err, want) &&
                                                                     strstr(r.err, "refused"),
          "%s", r.err);

    int port2 = free_port();
    pid = start_server(port2, "s3cret-pass");
    drive(&r, port2, "wrong-pass", 10, 100);
    snprintf(want, sizeof want, "127.0.0.1:%d", port2);
    CHECK("a wrong password is refused, naming the server but not the password",
          r.failed && strstr(r.err, want) && strstr(r.err, "password") && !strstr(r.err, "wrong-pass"), "%s",
          r.err);
    drive(&r, port2, "s3cret-pass", 1000, 100);
    CHECK("the right password gets in and commands are answered", !r.failed && r.next_reply == 1001,
          "%s, replies %llu", r.err, (unsigned long long)r.next_reply);

    /* the server goes away in the middle of the run */
    memset(&r, 0, sizeof r);
    {
        uv_loop_t loop;
        uv_loop_init(&loop);
        r.loop = &loop;
        r.n = 100000;
        r.order_ok = 1;
        r.window = 500;
        r.kill_at_pid = pid;
        r.kill_after = 5000;
        rmig_redis_opts o = {.host = "localhost", .port = port2, .password = "s3cret-pass", .connect_timeout_ms = 2000,
                             .window = 500};
        r.c = rmig_redis_new(&loop, &o, on_reply, on_state, &r);
        uv_idle_init(&loop, &r.idle);
        r.idle.data = &r;
        uv_idle_start(&r.idle, on_idle);
        rmig_redis_connect(r.c);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_close((uv_handle_t *)&r.idle, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    snprintf(want, sizeof want, "localhost:%d", port2);
    CHECK("a server that goes away mid-run is reported, with the commands left unanswered",
          r.failed && strstr(r.err, want) && r.unanswered > 0 && r.next_reply >= 5000, "%s (unanswered %llu)",
          r.err, (unsigned long long)r.unanswered);
    stop_server(pid);

    /* a command streamed in pieces when the connection is lost: its reply is
     * an error in its place, and the others are sent again and answered */
    {
        int cport = free_port();
        pid = start_server(cport, NULL);
        cut k;
        memset(&k, 0, sizeof k);
        k.port = cport;
        uv_loop_t loop;
        uv_loop_init(&loop);
        uv_timer_init(&loop, &k.timer);
        k.timer.data = &k;
        rmig_redis_opts o = {.host = "127.0.0.1", .port = cport, .connect_timeout_ms = 2000, .window = 100,
                             .retry_deadline_ms = 10000};
        k.c = rmig_redis_new(&loop, &o, cut_reply, cut_state, &k);
        rmig_redis_connect(k.c);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        redisContext *h = redisConnect("127.0.0.1", cport);
        redisReply *b = h && !h->err ? redisCommand(h, "EXISTS cut:b") : NULL;
        redisReply *cc = h && !h->err ? redisCommand(h, "GET cut:c") : NULL;
        CHECK("a command streamed in pieces and cut by a lost connection is answered with an error in its place",
              k.reconnected && k.streamed_err && k.first_ok && k.replies == 3, "reconnected %d, replies %llu: %s",
              k.reconnected, (unsigned long long)k.replies, k.err);
        CHECK("... the commands around it are sent again and applied; it is not applied in part",
              k.last_ok && b && b->integer == 0 && cc && cc->str && !strcmp(cc->str, "3"), "last %d", k.last_ok);
        if (b)
            freeReplyObject(b);
        if (cc)
            freeReplyObject(cc);
        if (h)
            redisFree(h);
        stop_server(pid);
    }

    /* TLS: certificates made here with the openssl tool */
    char dir[] = "/tmp/rmig-tls-XXXXXX", cmd[4096];
    if (!mkdtemp(dir) || system("command -v openssl >/dev/null 2>&1") != 0) {
        printf("# no openssl tool: TLS checks skipped\n");
        return rmig_t_done();
    }
    snprintf(cmd, sizeof cmd,
             "cd %s && exec >/dev/null 2>&1 && "
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=rmig-test-ca && "
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 2 -subj /CN=other-ca && "
             "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost && "
             "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > san.ext && "
             "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 "
             "-extfile san.ext && "
             "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=rmig-client && "
             "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2",
             dir);
    if (system(cmd) != 0) {
        printf("# making test certificates failed: TLS checks skipped\n");
        return rmig_t_done();
    }
    char ca[300], other[300], ccert[300], ckey[300];
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    snprintf(other, sizeof other, "%s/other.crt", dir);
    snprintf(ccert, sizeof ccert, "%s/client.crt", dir);
    snprintf(ckey, sizeof ckey, "%s/client.key", dir);
    int tport = free_port();
    pid = start_server_tls(tport, "tls-pass", dir, 0);
    rmig_tls_opts good = {ca, NULL, NULL, NULL, 0};
    tls_opts = &good;
    drive(&r, tport, "tls-pass", 50000, 1000);
    CHECK("over TLS with the server's certificate verified, commands are answered in order",
          !r.failed && r.next_reply == 50001 && r.order_ok && r.dbsize == 49999, "%s, replies %llu", r.err,
          (unsigned long long)r.next_reply);
    rmig_tls_opts wrong = {other, NULL, NULL, NULL, 0};
    tls_opts = &wrong;
    drive(&r, tport, "tls-pass", 10, 100);
    CHECK("a server whose certificate the CA did not sign is refused with a certificate error",
          r.failed && strstr(r.err, "certificate verify failed"), "%s", r.err);
    rmig_tls_opts named = {ca, NULL, NULL, "redis.example.com", 0};
    tls_opts = &named;
    drive(&r, tport, "tls-pass", 10, 100);
    CHECK("a certificate for another name is refused", r.failed && strstr(r.err, "certificate verify failed"), "%s",
          r.err);
    rmig_tls_opts unverified = {other, NULL, NULL, NULL, 1};
    tls_opts = &unverified;
    drive(&r, tport, "tls-pass", 100, 100);
    CHECK("with verification switched off the connection works", !r.failed && r.next_reply == 101, "%s", r.err);
    tls_opts = NULL;
    drive(&r, tport, "tls-pass", 10, 100);
    CHECK("plain text against a TLS port fails with a message, not a hang", r.failed && strstr(r.err, "127.0.0.1"),
          "%s", r.err);
    stop_server(pid);

    pid = start_server_tls(tport, NULL, dir, 1);
    tls_opts = &good;
    drive(&r, tport, NULL, 10, 100);
    CHECK("a server that wants client certificates refuses a client without one", r.failed, "%s", r.err);
    rmig_tls_opts client = {ca, ccert, ckey, NULL, 0};
    tls_opts = &client;
    drive(&r, tport, NULL, 1000, 100);
    CHECK("with a client certificate signed by its CA the client gets in", !r.failed && r.next_reply == 1001,
          "%s", r.err);
    rmig_tls_opts badkey = {ca, ccert, "/nonexistent/client.key", NULL, 0};
    tls_opts = &badkey;
    drive(&r, tport, NULL, 10, 100);
    CHECK("a missing key file is named in the error", r.failed && strstr(r.err, "/nonexistent/client.key"), "%s",
          r.err);
    tls_opts = NULL;
    stop_server(pid);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return rmig_t_done();
}
