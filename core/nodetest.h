/* nodetest.h - `rmig test NODE_TEST.lua`: a team's nodes, tested the way they
 * run (see nodetest.c; the file format is in lua/rmig/test.lua). */
#ifndef RMIG_NODETEST_H
#define RMIG_NODETEST_H

/* argv[0] is "test". Exit code: 0 every case passed, 1 a case failed (or
 * rmig could not run), 2 a usage error or a test file that is wrong. */
int rmig_nodetest_main(int argc, char **argv);

#endif
