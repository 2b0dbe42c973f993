/* check.h - `rmig check PIPELINE.lua`: validate a pipeline and print its plan. */
#ifndef RMIG_CHECK_H
#define RMIG_CHECK_H

/* argv[0] is "check". Returns the exit code (0, 1 unreachable, 2 invalid). */
int rmig_check_main(int argc, char **argv);

/* check_live.c: prints what it finds about a psync source (its options at
 * index opts of L); its RDB version into *rdb_version. 0 fine, 1 not
 * reachable or not usable, 2 misconfigured. */
#include <lua.h>
#include <stddef.h>
int rmig_check_live_source(lua_State *L, int opts, const char *where, int *rdb_version);

/* check_scan.c: prints what it finds about a rmig.source.scan source (its
 * options at index opts of L), each master of a cluster source: version and
 * whether PSYNC would work instead, notify-keyspace-events against
 * source.live, MEMORY USAGE, INFO keyspace's key count and a scan time from
 * a short read-only sample. Its RDB version (that of its DUMP payloads) into
 * *rdb_version. 0 fine, 1 not reachable or a live run would stop, 2
 * misconfigured. */
int rmig_check_scan_source(lua_State *L, int opts, const char *where, int *rdb_version);

/* check_cluster.c: prints what it finds about a rmig.sink.cluster target
 * (its options at index sink_opts of L): the slot layout, the masters'
 * version and proto-max-bulk-len, and, when rdb_path is the source file,
 * how its keys spread over the masters, its dbs other than 0 and its
 * values too big for one argument. 0 fine, 1 not reachable (or the file
 * cannot be read), 2 misconfigured (not a cluster node, ...); on 1 and 2
 * err holds the reason, already printed. */
int rmig_check_cluster_target(lua_State *L, int sink_opts, const char *rdb_path, char *err, size_t errlen);

/* A live source feeding a cluster target: the multi-key write commands its
 * INFO commandstats shows, split per slot by rmig or refused when their
 * keys span slots. Always 0 (a finding, not a failure). */
int rmig_check_cross_slot(lua_State *L, int opts);

/* check_twem.c: a Twemproxy pool as the pipeline's source or sink (role
 * "source" or "sink"; its options at opts): the pool, then each backend.
 * rdb_version (may be NULL) gets the oldest backend's RDB version. 0 fine,
 * 1 a backend not reachable, 2 misconfigured. */
int rmig_check_twem(lua_State *L, int opts, const char *role, const char *where, int *rdb_version);

/* check_codis.c: a Codis deployment as the source or sink (role; its
 * options at opts): each group master. 0 fine, 1 one not reachable, 2
 * misconfigured. */
int rmig_check_codis(lua_State *L, int opts, const char *role, const char *where, int *rdb_version);

#endif
