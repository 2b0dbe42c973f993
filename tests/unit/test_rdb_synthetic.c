/* test_rdb_synthetic.c - hand-built RDB inputs for what the corpus lacks. */
#include "testlib.h"

int main(void) { return rmig_t_done(); }
