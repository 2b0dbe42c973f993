/* check.h - `rmig check PIPELINE.lua`: validate a pipeline and print its plan. */
#ifndef RMIG_CHECK_H
#define RMIG_CHECK_H

/* argv[0] is "check". Returns the exit code (0, 1 unreachable, 2 invalid). */
int rmig_check_main(int argc, char **argv);

/* check_live.c: prints what it finds about a psync source (its options at
 * index opts of L); its RDB version into *rdb_version. 0 fine, 1 not
 * reachable or not usable, 2 misconfigured. */
#include <lua.h>
int rmig_check_live_source(lua_State *L, int opts, const char *where, int *rdb_version);

#endif
