/* route.h - `rmig route --cluster ADDR KEY...`: the slot and node of each key
 * (route.c); `rmig route --twemproxy FILE KEY...`: the backend of each key in
 * a Twemproxy pool (route_twem.c); `rmig route --codis TOPOLOGY KEY...`: the
 * slot and group of each key in a Codis deployment (route_codis.c). */
#ifndef RMIG_ROUTE_H
#define RMIG_ROUTE_H

#include <stddef.h>

/* argv[0] is "route". Returns the exit code: 0, 1 unreachable, 2 usage. */
int rmig_route_main(int argc, char **argv);

/* Internal to the route files. */
/* `rmig route --twemproxy ...`, argv as for rmig_route_main. */
int rmig__route_twem_main(int argc, char **argv);
/* `rmig route --codis ...`, argv as for rmig_route_main. */
int rmig__route_codis_main(int argc, char **argv);
/* The options before the keys, read as every form of rmig route reads
 * them: "--" ends them; --help or -h (also where a value goes) prints
 * usage. Each option in `values` (NULL-ended) takes the next argument:
 * take(ud, its index in values, the value) returns 0, or an exit code
 * after saying why. An option in `others` (NULL-ended, may be NULL)
 * belongs to another form: "does not go with" `self`. -1 with *first the
 * index of the first key; else the exit code (0 after --help, 2). */
int rmig__route_options(int argc, char **argv, const char *usage, const char *self, const char *const *values,
                        const char *const *others, int (*take)(void *ud, int which, const char *value), void *ud,
                        int *first);
/* A line as the KEY column writes it back into its bytes, in place (returns
 * the new length): "\xNN" is one byte, "\\" a backslash, any other
 * backslash itself. */
size_t rmig__route_unescape(char *s, size_t n);
/* A key as one field of a tab-separated line, readable whatever its bytes:
 * bytes below 0x20, from 0x7f, and the backslash as \xNN. */
void rmig__route_print_key(const void *key, size_t n);
/* --keys-from: every line of path ("-": stdin), unescaped, to print(ud,
 * key, len). 0, or 2 after saying why. */
int rmig__route_lines(const char *path, void (*print)(const void *ud, const void *key, size_t n), const void *ud);

#endif
