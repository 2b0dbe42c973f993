/* route_codis.c - `rmig route --codis TOPOLOGY [--codis MORE] KEY...`: the
 * Codis slot of each key and the group the proxy sends it to, one
 * "KEY<TAB>SLOT<TAB>GROUP<TAB>MASTER" line per key, from a topology file
 * alone (codis-admin's JSON or a short YAML, codis.c) with the slot rule a
 * direct Codis sink uses. It tells before a migration which group master a
 * key is written to, and after one, whether a master holds keys the proxy
 * will never look for there. Keys can also come one a line from a file or
 * stdin, in the escaped form the KEY column prints. */
#include "route.h"

#include "codis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: rmig route --codis TOPOLOGY [--codis MORE]... [--keys-from FILE|-] [--] KEY...\n"
    "Prints, for each key, its Codis slot and the group the proxy sends it to:\n"
    "  KEY<TAB>SLOT<TAB>GROUP<TAB>MASTER\n"
    "SLOT is crc32(tag or key) % 1024; the tag is what lies between the first '{' and the\n"
    "first '}' after it, even when that is nothing (so \"{}x\" is in slot 0).\n"
    "TOPOLOGY is a YAML file, e.g.\n"
    "  groups: { 1: \"10.0.0.1:6379\", 2: \"10.0.0.2:6379\" }\n"
    "  slots: { \"0-511\": 1, \"512-1023\": 2 }\n"
    "or what codis-admin --dashboard=ADDR prints with --slots-status (the masters come\n"
    "with it), with `stats`, or with --list-group and `slots` (one --codis each).\n"
    "A slot under migration prints its target group, where the proxy sends its keys.\n"
    "--keys-from reads keys one a line (- for stdin); there, as in the KEY column, \\xNN\n"
    "stands for a byte and \\\\ for a backslash.\n";

#define MAX_FILES 16

typedef struct codis_args {
    const char *files[MAX_FILES];
    size_t nfiles;
    const char *keys_from;
    int first_key;
} codis_args;

static int take(void *ud, int which, const char *value)
{
    codis_args *a = ud;
    if (which == 1) {
        a->keys_from = value;
        return 0;
    }
    if (a->nfiles == MAX_FILES) {
        fprintf(stderr, "rmig route: more than %d --codis files\n", MAX_FILES);
        return 2;
    }
    a->files[a->nfiles++] = value;
    return 0;
}

/* -1 to go on, else the exit code (0 after --help, 2 for a usage error). */
static int parse_args(int argc, char **argv, codis_args *a)
{
    static const char *const values[] = {"--codis", "--keys-from", NULL};
    static const char *const others[] = {"--cluster", "--twemproxy", NULL};
    memset(a, 0, sizeof *a);
    int rc = rmig__route_options(argc, argv, usage, "--codis", values, others, take, a, &a->first_key);
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
    const rmig_codis_topo *t = ud;
    rmig__route_print_key(key, n);
    unsigned slot = rmig_codis_slot(key, n);
    const rmig_codis_group *g = &t->groups[t->slot[slot]];
    printf("\t%u\t%d\t%s\n", slot, g->id, g->addr);
}

/* One stderr line per run of consecutive slots moving between the same
 * two groups. */
static void note_migrations(const rmig_codis_topo *t)
{
    for (int s = 0; s < RMIG_CODIS_SLOTS; s++) {
        if (t->from[s] < 0)
            continue;
        int e = s;
        while (e + 1 < RMIG_CODIS_SLOTS && t->from[e + 1] == t->from[s] && t->slot[e + 1] == t->slot[s])
            e++;
        char range[32];
        snprintf(range, sizeof range, s == e ? "%d" : "%d-%d", s, e);
        fprintf(stderr,
                "rmig route: slot%s %s %s being migrated from group %d to group %d: printed with group %d, "
                "where the proxy sends their keys\n",
                s == e ? "" : "s", range, s == e ? "is" : "are", t->groups[t->from[s]].id,
                t->groups[t->slot[s]].id, t->groups[t->slot[s]].id);
        s = e;
    }
}

int rmig__route_codis_main(int argc, char **argv)
{
    codis_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    rmig_codis_topo t;
    char err[2048];
    if (rmig_codis_topo_load(&t, a.files, a.nfiles, err, sizeof err) < 0) {
        fprintf(stderr, "rmig route: %s\n", err);
        rmig_codis_topo_free(&t);
        return 2;
    }
    note_migrations(&t);
    for (int i = a.first_key; i < argc; i++)
        print_route(&t, argv[i], strlen(argv[i]));
    rc = a.keys_from ? rmig__route_lines(a.keys_from, print_route, &t) : 0;
    rmig_codis_topo_free(&t);
    return rc;
}
