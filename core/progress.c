/* progress.c - a progress bar or status line (progress.h). */
#include "progress.h"

#include <string.h>
#include <time.h>

#define BAR 24

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void rmig_progress_init(rmig_progress *p, FILE *f, int tty)
{
    memset(p, 0, sizeof *p);
    p->f = f;
    p->tty = tty;
    p->start_ns = p->last_ns = mono_ns();
}

const char *rmig_progress_bytes(char *buf, size_t n, double v)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

const char *rmig_progress_count(char *buf, size_t n, double v)
{
    if (v >= 1e9)
        snprintf(buf, n, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, n, "%.1fk", v / 1e3);
    else
        snprintf(buf, n, "%.0f", v);
    return buf;
}

static void eta(char *buf, size_t n, double secs)
{
    if (secs < 0 || secs > 360000) {
        snprintf(buf, n, "--:--");
        return;
    }
    unsigned s = (unsigned)(secs + 0.5);
    if (s >= 3600)
        snprintf(buf, n, "%u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, n, "%u:%02u", s / 60, s % 60);
}

void rmig_progress_update(rmig_progress *p, const rmig_progress_counts *c)
{
    uint64_t t = mono_ns();
    if (t - p->last_ns < (p->tty ? 250000000ULL : 5000000000ULL))
        return;
    p->last_ns = t;
    double secs = (double)(t - p->start_ns) / 1e9;
    double frac = c->bytes_total ? (double)c->bytes / (double)c->bytes_total : -1;
    if (frac > 1)
        frac = 1;
    char keys[32], rate[32], done[32], total[32], left[32];
    rmig_progress_count(keys, sizeof keys, (double)c->keys);
    rmig_progress_count(rate, sizeof rate, secs > 0 ? (double)c->keys / secs : 0);
    rmig_progress_bytes(done, sizeof done, (double)c->bytes);
    rmig_progress_bytes(total, sizeof total, (double)c->bytes_total);
    /* the rate so far, over what is left of the file */
    eta(left, sizeof left, frac > 0.001 ? secs / frac - secs : -1);
    if (!p->tty) {
        if (frac >= 0)
            fprintf(p->f, "rmig: %3.0f%% (%s of %s), %s keys read, %llu written, %llu dropped, %llu failed, %s keys/s, "
                    "ETA %s\n", frac * 100, done, total, keys, (unsigned long long)c->written,
                    (unsigned long long)c->dropped, (unsigned long long)c->failed, rate, left);
        else
            fprintf(p->f, "rmig: %s read, %s keys, %llu written, %llu dropped, %llu failed, %s keys/s\n", done, keys,
                    (unsigned long long)c->written, (unsigned long long)c->dropped, (unsigned long long)c->failed,
                    rate);
        fflush(p->f);
        return;
    }
    char bar[BAR + 1];
    int fill = frac >= 0 ? (int)(frac * BAR + 0.5) : 0;
    for (int i = 0; i < BAR; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[BAR] = 0;
    char failed[48] = "";
    if (c->failed)
        snprintf(failed, sizeof failed, "  %llu FAILED", (unsigned long long)c->failed);
    if (frac >= 0)
        fprintf(p->f, "\r\033[K  [%s] %3.0f%%  %s of %s  %s keys  %s keys/s  ETA %s%s", bar, frac * 100, done, total,
                keys, rate, left, failed);
    else
        fprintf(p->f, "\r\033[K  %s read  %s keys  %s keys/s%s", done, keys, rate, failed);
    fflush(p->f);
    p->drawn = 1;
}

void rmig_progress_clear(rmig_progress *p)
{
    if (p->tty && p->drawn) {
        fputs("\r\033[K", p->f);
        fflush(p->f);
        p->drawn = 0;
    }
}

void rmig_progress_line(rmig_progress *p, const char *line)
{
    if (p->tty) {
        fprintf(p->f, "\r\033[K  %s", line);
        p->drawn = 1;
    } else {
        fprintf(p->f, "rmig: %s\n", line);
    }
    fflush(p->f);
}
