/* test_glob_redis.c - rmig's glob matching agrees with Redis' own: random
 * keys and random patterns over a small alphabet full of special bytes
 * (* ? [ ] ^ - \), each pattern asked of a live redis-server with KEYS and
 * of rmig_glob_match over the same keys. Exit 77 without redis-server. */
#include "glob.h"
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

#define NKEYS 1500
#define NPATTERNS 3000

int main(void)
{
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        printf("redis-server is not installed: skipped\n");
        return 77;
    }
    int port = rmig_t_free_port();
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    char *argv[] = {"redis-server", "--port", ps, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", "/tmp", "--logfile", "", NULL};
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
    int spawned = posix_spawnp(&pid, "redis-server", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (spawned != 0) {
        printf("cannot start redis-server\n");
        return 1;
    }
    redisContext *c = NULL;
    for (int i = 0; i < 500; i++) {
        c = redisConnect("127.0.0.1", port);
        if (c && !c->err)
            break;
        if (c)
            redisFree(c);
        c = NULL;
        usleep(10000);
    }
    if (!c) {
        kill(pid, SIGKILL);
        printf("redis-server did not come up\n");
        return 1;
    }

    uint64_t rng = rmig_t_seed();
    static const char alpha[] = "ab*?[]^-\\c";
    static char keys[NKEYS][8];
    static size_t klen[NKEYS];
    for (int i = 0; i < NKEYS; i++) {
        klen[i] = 1 + rmig_t_rand(&rng) % 6;
        for (size_t j = 0; j < klen[i]; j++)
            keys[i][j] = alpha[rmig_t_rand(&rng) % (sizeof alpha - 1)];
        redisReply *r = redisCommand(c, "SET %b 1", keys[i], klen[i]);
        freeReplyObject(r);
    }
    redisReply *r = redisCommand(c, "DBSIZE");
    long long distinct = r->integer;
    freeReplyObject(r);

    int disagree = 0;
    char first[200] = "";
    for (int n = 0; n < NPATTERNS; n++) {
        char pat[12];
        size_t plen = 1 + rmig_t_rand(&rng) % 8;
        for (size_t j = 0; j < plen; j++)
            pat[j] = alpha[rmig_t_rand(&rng) % (sizeof alpha - 1)];
        if (plen == 1 && pat[0] == '*')
            continue;
        r = redisCommand(c, "KEYS %b", pat, plen);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            printf("KEYS failed\n");
            return 1;
        }
        /* count what rmig matches among the distinct keys Redis holds */
        long long ours = 0, in_both = 0;
        for (size_t k = 0; k < r->elements; k++)
            in_both += rmig_glob_match((const uint8_t *)pat, plen, (const uint8_t *)r->element[k]->str,
                                       r->element[k]->len, 0);
        redisReply *all = redisCommand(c, "KEYS *");
        for (size_t k = 0; k < all->elements; k++)
            ours += rmig_glob_match((const uint8_t *)pat, plen, (const uint8_t *)all->element[k]->str,
                                    all->element[k]->len, 0);
        if (ours != (long long)r->elements || in_both != (long long)r->elements) {
            if (!disagree++)
                snprintf(first, sizeof first, "pattern '%.*s': Redis %zu keys, rmig %lld", (int)plen, pat,
                         r->elements, ours);
        }
        freeReplyObject(all);
        freeReplyObject(r);
    }
    CHECK("rmig's glob matches exactly the keys Redis' KEYS matches, for 3000 random patterns", disagree == 0,
          "%d patterns disagree; first: %s (over %lld keys)", disagree, first, distinct);
    redisFree(c);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return rmig_t_done();
}
