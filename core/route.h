/* route.h - `rmig route --cluster ADDR KEY...`: the slot and node of each key (route.c). */
#ifndef RMIG_ROUTE_H
#define RMIG_ROUTE_H

/* argv[0] is "route". Returns the exit code: 0, 1 unreachable, 2 usage. */
int rmig_route_main(int argc, char **argv);

#endif
