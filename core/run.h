/* run.h - `rmig run PIPELINE.lua`: execute a pipeline (see run.c). */
#ifndef RMIG_RUN_H
#define RMIG_RUN_H

/* argv[0] is "run". Returns the exit code: 0 done, 1 failure, 2 configuration. */
int rmig_run_main(int argc, char **argv);

#endif
