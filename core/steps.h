/* steps.h - a pipeline's nodes, ready to run over batches: built-in nodes
 * in C, runs of consecutive Lua nodes as one call into Lua each. Used by
 * every command that moves entries through nodes (run, test). */
#ifndef RMIG_STEPS_H
#define RMIG_STEPS_H

#include "batch.h"
#include "vm.h"

#include <stdint.h>
#include <stdio.h>

typedef struct rmig_steps rmig_steps;

/* From the pipeline description on top of vm's stack (rmig_vm_load); path
 * names the file in messages. NULL with a message in err (which must stay
 * valid while the steps live: it is where later messages go too). */
rmig_steps *rmig_steps_build(rmig_vm *vm, const char *path, char *err, size_t errlen);

/* Runs every step over b in order; now_ms is the clock the ttl node uses.
 * 0, or -1 with a message (a Lua node aborted, memory). */
int rmig_steps_run(rmig_steps *s, rmig_batch *b, int64_t now_ms, char *err, size_t errlen);

/* A built-in filter the source itself needs (a Twemproxy pool's db mapped
 * to db 0, other dbs dropped), run over the source's entries before every
 * node; name heads its line in the report. 0, or -1 with err. */
struct rmig_filter_conf;
int rmig_steps_source_filter(rmig_steps *s, const struct rmig_filter_conf *conf, const char *name, char *err,
                             size_t errlen);

int rmig_steps_count(const rmig_steps *s);
/* One line per built-in node: what it saw, dropped and changed. */
void rmig_steps_report(const rmig_steps *s, FILE *f);
void rmig_steps_free(rmig_steps *s);

#endif
