/* check.h - `rmig check PIPELINE.lua`: validate a pipeline and print its plan. */
#ifndef RMIG_CHECK_H
#define RMIG_CHECK_H

/* argv[0] is "check". Returns the exit code (0, 1 unreachable, 2 invalid). */
int rmig_check_main(int argc, char **argv);

#endif
