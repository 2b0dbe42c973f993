/* progress.h - what a long command shows while it works: on a terminal a
 * bar redrawn in place (done of total, rate, ETA), otherwise a plain status
 * line every few seconds, so logs of runs under CI or systemd stay short
 * and readable. */
#ifndef RMIG_PROGRESS_H
#define RMIG_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct rmig_progress {
    FILE *f;
    int tty;
    uint64_t start_ns, last_ns;
    int drawn;             /* a bar is on the terminal's last line */
} rmig_progress;

typedef struct rmig_progress_counts {
    uint64_t bytes, bytes_total;  /* of the source; total 0 when unknown */
    uint64_t keys;                /* read */
    uint64_t written, dropped, failed;
} rmig_progress_counts;

void rmig_progress_init(rmig_progress *p, FILE *f, int tty);
/* Draws when it is time (every 250 ms on a terminal, 5 s otherwise). */
void rmig_progress_update(rmig_progress *p, const rmig_progress_counts *c);
/* A status line of one's own (a live run's lag, a scan's keys): redrawn
 * in place on a terminal, else one "rmig: ..." line; the caller paces it. */
void rmig_progress_line(rmig_progress *p, const char *line);
/* Clears the bar before other output (a message, the summary). */
void rmig_progress_clear(rmig_progress *p);

/* "1.5 GiB", "312 B"; "2.3M", "999" into buf. */
const char *rmig_progress_bytes(char *buf, size_t n, double v);
const char *rmig_progress_count(char *buf, size_t n, double v);

#endif
