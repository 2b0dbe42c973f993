/* main.c - the rmig command line: dispatch to a subcommand.
 *
 * Exit codes (shared/docs/DESIGN.md §7): 0 done, 1 runtime or input failure,
 * 2 usage or configuration error. */
#include "check.h"
#include "inspect.h"
#include "nodetest.h"
#include "route.h"
#include "run.h"
#include "verify.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#ifndef RMIG_VERSION
#define RMIG_VERSION "0.1.0"
#endif

static const char usage[] =
    "rmig " RMIG_VERSION " - moves Redis data, shaped by Lua pipelines\n"
    "\n"
    "usage: rmig COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  inspect FILE    read an RDB file: --stats (default), --json, --raw, --resp, --count\n"
    "  run PIPELINE    run a pipeline: an RDB file through its nodes into Redis\n"
    "  check PIPELINE  validate a pipeline, connect to its target, print the plan\n"
    "  verify PIPELINE compare the pipeline's target with its source, key by key\n"
    "  test NODE_TEST  run a node test file: entries in, expected entries out\n"
    "  route --cluster ADDR KEY...  the slot and master of each key\n"
    "  route --twemproxy FILE KEY...  the Twemproxy backend of each key\n"
    "  route --codis TOPOLOGY KEY...  the Codis slot and group of each key\n"
    "  version         print the version\n"
    "  help            this text\n"
    "\n"
    "'rmig COMMAND --help' tells more about a command.\n";

int main(int argc, char **argv)
{
    /* a closed pipe (rmig inspect --json | head) ends the run quietly */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "inspect"))
        return rmig_inspect_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "check"))
        return rmig_check_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "run"))
        return rmig_run_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "verify"))
        return rmig_verify_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "test"))
        return rmig_nodetest_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "route"))
        return rmig_route_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("rmig %s\n", RMIG_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "rmig: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
