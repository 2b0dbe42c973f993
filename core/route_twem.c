/* route_twem.c - `rmig route --twemproxy nutcracker.yml [--pool P] KEY...`:
 * the backend Twemproxy (nutcracker 0.5.0) sends each key to, one
 * "KEY<TAB>INDEX<TAB>ADDRESS<TAB>NAME" line per key, computed from the
 * config file alone with the placement code a direct twemproxy sink uses
 * (twemproxy_pool.c). It tells before a migration which backend a key will
 * land on, and after one, whether a backend holds keys the proxy will never
 * look for there. Keys can also come one a line from a file or stdin, in the
 * same escaped form the KEY column prints, so a `redis-cli --scan` of a
 * backend can be checked whole. */
#include "route.h"

#include "twemproxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: rmig route --twemproxy FILE [--pool NAME] [--keys-from FILE|-] [--] KEY...\n"
    "Prints, for each key, the server of the pool that nutcracker (0.5.0) sends it to:\n"
    "  KEY<TAB>INDEX<TAB>ADDRESS<TAB>NAME\n"
    "INDEX is the server's place in the pool's servers: list (from 0), ADDRESS its host:port\n"
    "or socket path, NAME the name the line gives it, or - when it gives none.\n"
    "A pool with distribution: random prints KEY<TAB>-<TAB>random<TAB>-: nutcracker sends\n"
    "each request to any of its servers.\n"
    "--pool may be left out when the file has one pool. --keys-from reads keys one a line\n"
    "(- for stdin); there, as in the KEY column, \\xNN stands for a byte and \\\\ for a backslash.\n"
    "Bytes that are not printable, and backslashes, are written as \\xNN.\n";

typedef struct twem_args {
    const char *file, *pool, *keys_from;
    int first_key;
} twem_args;

static int take(void *ud, int which, const char *value)
{
    twem_args *a = ud;
    *(which == 0 ? &a->file : which == 1 ? &a->pool : &a->keys_from) = value;
    return 0;
}

/* -1 to go on, else the exit code (0 after --help, 2 for a usage error). */
static int parse_args(int argc, char **argv, twem_args *a)
{
    static const char *const values[] = {"--twemproxy", "--pool", "--keys-from", NULL};
    static const char *const others[] = {"--cluster", "--codis", NULL};
    memset(a, 0, sizeof *a);
    int rc = rmig__route_options(argc, argv, usage, "--twemproxy", values, others, take, a, &a->first_key);
    if (rc >= 0)
        return rc;
    int i = a->first_key;
    if (i == argc && !a->keys_from) {
        fprintf(stderr, "rmig route: no keys given (on the command line or with --keys-from)\n%s", usage);
        return 2;
    }
    return -1;
}

static void print_route(const void *ud, const void *key, size_t n)
{
    const rmig_twem_pool *p = ud;
    rmig__route_print_key(key, n);
    int i = rmig_twem_route(p, key, n);
    if (i < 0) {
        fputs("\t-\trandom\t-\n", stdout);
        return;
    }
    const rmig_twem_server *s = &p->servers[i];
    if (s->port == 0)
        printf("\t%d\t%s", i, s->host);
    else
        printf(strchr(s->host, ':') ? "\t%d\t[%s]:%d" : "\t%d\t%s:%d", i, s->host, s->port);
    putchar('\t');
    if (s->named)
        rmig__route_print_key(s->name, strlen(s->name));
    else
        putchar('-');
    putchar('\n');
}

int rmig__route_twem_main(int argc, char **argv)
{
    twem_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    rmig_twem_conf conf;
    char err[2048];
    if (rmig_twem_conf_load(&conf, a.file, err, sizeof err) < 0) {
        fprintf(stderr, "rmig route: %s\n", err);
        rmig_twem_conf_free(&conf);
        return 2;
    }
    rmig_twem_pool *p = rmig_twem_conf_pool(&conf, a.pool, err, sizeof err);
    if (!p) {
        fprintf(stderr, "rmig route: %s%s\n", err, a.pool ? "" : " (--pool NAME)");
        rmig_twem_conf_free(&conf);
        return 2;
    }
    if (p->dist == RMIG_TWEM_RANDOM && p->nservers > 1)
        fprintf(
            stderr,
            "rmig route: pool '%s' uses distribution random: nutcracker sends each request to any of its %zu "
            "servers, so no key has a server of its own\n",
            p->name, p->nservers);
    for (int i = a.first_key; i < argc; i++)
        print_route(p, argv[i], strlen(argv[i]));
    rc = a.keys_from ? rmig__route_lines(a.keys_from, print_route, p) : 0;
    rmig_twem_conf_free(&conf);
    return rc;
}
