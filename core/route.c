/* route.c - `rmig route --cluster ADDR KEY...`: where each key lives in a
 * Redis Cluster, one "KEY<TAB>SLOT<TAB>HOST:PORT" line per key. It answers
 * "which master will rmig.sink.cluster write this key to?" with the same
 * slot function and slot map the sink uses, so a hash tag that does not do
 * what its author thought shows here before a run. `rmig route --twemproxy`
 * answers the same for a Twemproxy pool (route_twem.c), `rmig route --codis`
 * for a Codis deployment (route_codis.c). */
#include "route.h"

#include "cluster.h"
#include "target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: rmig route --cluster ADDR [--user U] [--password-env VAR] [--] KEY...\n"
    "       rmig route --twemproxy FILE [--pool NAME] ... (rmig route --twemproxy --help)\n"
    "       rmig route --codis TOPOLOGY ... (rmig route --codis --help)\n"
    "Prints, for each key, its hash slot and the master serving it:\n"
    "  KEY<TAB>SLOT<TAB>HOST:PORT   (\"unassigned\" when no master serves the slot)\n"
    "Bytes that are not printable, and backslashes, are written as \\xNN.\n";

typedef struct route_args {
    const char *addr, *user, *password_env;
    int first_key; /* index in argv of the first key */
} route_args;

int rmig__route_options(int argc, char **argv, const char *use, const char *self, const char *const *values,
                        const char *const *others, int (*take)(void *ud, int which, const char *value), void *ud,
                        int *first)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--")) {
            i++;
            break;
        }
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(use, stdout);
            return 0;
        }
        int which = -1, other = 0;
        for (int j = 0; values[j] && which < 0; j++)
            which = strcmp(o, values[j]) ? -1 : j;
        for (int j = 0; others && others[j] && !other; j++)
            other = !strcmp(o, others[j]);
        if (which < 0 || i + 1 == argc) {
            if (which >= 0)
                fprintf(stderr, "rmig route: %s needs a value\n%s", o, use);
            else if (other)
                fprintf(stderr, "rmig route: %s and %s do not go together\n%s", o, self, use);
            else
                fprintf(stderr, "rmig route: unknown option %s\n%s", o, use);
            return 2;
        }
        if (!strcmp(argv[i + 1], "--help")) {
            fputs(use, stdout);
            return 0;
        }
        int rc = take(ud, which, argv[++i]);
        if (rc)
            return rc;
    }
    *first = i;
    return -1;
}

static int take_cluster(void *ud, int which, const char *value)
{
    route_args *a = ud;
    *(which == 0 ? &a->addr : which == 1 ? &a->user : &a->password_env) = value;
    return 0;
}

/* -1 to go on, else the exit code (0 after --help, 2 for a usage error). */
static int parse_args(int argc, char **argv, route_args *a)
{
    static const char *const values[] = {"--cluster", "--user", "--password-env", NULL};
    memset(a, 0, sizeof *a);
    int rc = rmig__route_options(argc, argv, usage, "--cluster", values, NULL, take_cluster, a, &a->first_key);
    if (rc >= 0)
        return rc;
    int i = a->first_key;
    if (!a->addr || i == argc) {
        fprintf(stderr, "rmig route: %s\n%s", a->addr ? "no keys given" : "--cluster ADDR is required",
                usage);
        return 2;
    }
    return -1;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

size_t rmig__route_unescape(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x' && hexval((unsigned char)s[i + 2]) >= 0 &&
            hexval((unsigned char)s[i + 3]) >= 0) {
            s[o++] = (char)(hexval((unsigned char)s[i + 2]) << 4 | hexval((unsigned char)s[i + 3]));
            i += 3;
        } else if (s[i] == '\\' && i + 1 < n && s[i + 1] == '\\') {
            s[o++] = '\\';
            i++;
        } else {
            s[o++] = s[i];
        }
    }
    return o;
}

int rmig__route_lines(const char *path, void (*print)(const void *ud, const void *key, size_t n), const void *ud)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "rmig route: --keys-from %s: %s\n", path, strerror(errno));
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            n--;
        print(ud, line, rmig__route_unescape(line, (size_t)n));
    }
    int bad = ferror(f);
    free(line);
    if (f != stdin)
        fclose(f);
    if (bad) {
        fprintf(stderr, "rmig route: --keys-from %s: read error\n", path);
        return 2;
    }
    return 0;
}

void rmig__route_print_key(const void *key, size_t n)
{
    const unsigned char *k = key;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < 0x20 || k[i] >= 0x7f || k[i] == '\\')
            printf("\\x%02x", k[i]);
        else
            putchar(k[i]);
    }
}

int rmig_route_main(int argc, char **argv)
{
    /* --twemproxy among the options (not among the keys) picks the other form */
    for (int i = 1; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "--twemproxy"))
            return rmig__route_twem_main(argc, argv);
        if (!strcmp(argv[i], "--codis"))
            return rmig__route_codis_main(argc, argv);
        if (strcmp(argv[i], "--help") && strcmp(argv[i], "-h"))
            i++; /* every other option takes a value */
    }
    route_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    char host[256], err[1024];
    int port = 0;
    if (rmig_target_split_addr(a.addr, host, sizeof host, &port) < 0 || port <= 0) {
        fprintf(stderr, "rmig route: --cluster must be host:port, not '%s'\n", a.addr);
        return 2;
    }
    const char *pw = NULL;
    if (a.password_env && !(pw = getenv(a.password_env))) {
        fprintf(stderr, "rmig route: --password-env names %s, which is not set in the environment\n",
                a.password_env);
        return 2;
    }
    rmig_cluster_map m = {0};
    if (rmig_cluster_map_fetch(host, port, a.user, pw, NULL, &m, err, sizeof err) < 0) {
        fprintf(stderr,
                "rmig route: cannot read the slot map: %s\n"
                "  check that %s is up, is a node of the cluster, and takes --user/--password-env\n",
                err, a.addr);
        rmig_cluster_map_free(&m);
        return 1;
    }
    for (int i = a.first_key; i < argc; i++) {
        unsigned slot = rmig_slot_of(argv[i], strlen(argv[i]));
        rmig__route_print_key(argv[i], strlen(argv[i]));
        int n = m.slot[slot];
        if (n < 0)
            printf("\t%u\tunassigned\n", slot);
        else
            printf(strchr(m.nodes[n].host, ':') ? "\t%u\t[%s]:%d\n" : "\t%u\t%s:%d\n", slot, m.nodes[n].host,
                   m.nodes[n].port);
    }
    rmig_cluster_map_free(&m);
    return 0;
}
