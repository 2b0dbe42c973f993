/* verify_report.c - `rmig verify`'s report (counts by kind, the first
 * keys of each, as text and as JSON), the end of a verify, and `rmig run
 * --verify`: a verify run after the migration, or beside a live one once it
 * has caught up. */
#include "run_internal.h"

#include "verify.h"
#include "verify_internal.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const dnames[D_KINDS] = {"missing", "extra", "type", "value", "ttl", "count"};

static void json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c); /* (a byte, as the code point of the same value) */
        else
            fputc(c, f);
    }
    fputc('"', f);
}

int rmig__verify_report(runner *r, const char *pipeline, double secs)
{
    rmig_verify *v = r->vf;
    uint64_t total = 0;
    for (int k = 0; k < D_KINDS; k++)
        total += v->diffs[k];
    printf("verify %s (%s): %llu keys checked in %.2f s", pipeline, v->full ? "full" : "outline",
           (unsigned long long)v->checked, secs);
    if (v->expired)
        printf(", %llu expired at the source (not looked for)", (unsigned long long)v->expired);
    if (v->sampled_out)
        printf(", %llu left out by --sample", (unsigned long long)v->sampled_out);
    if (r->dropped)
        printf(", %llu dropped by the nodes (not looked for)", (unsigned long long)r->dropped);
    printf("\n");
    if (r->failed) {
        printf("  the check did not complete: %s\n", r->err);
    } else if (!total) {
        printf("  no difference: the target holds what the source holds, through the pipeline\n");
    } else {
        printf("  differences:");
        for (int k = 0; k < D_KINDS; k++)
            printf(" %s %llu%s", dnames[k], (unsigned long long)v->diffs[k], k + 1 < D_KINDS ? "," : "\n");
        for (int k = 0; k < D_KINDS; k++) {
            if (!v->diffs[k])
                continue;
            printf("  %s (%llu%s):\n", dnames[k], (unsigned long long)v->diffs[k],
                   v->diffs[k] > v->nfirst[k] ? ", the first shown" : "");
            for (uint32_t i = 0; i < v->nfirst[k]; i++) {
                const shown *s = &v->first[k][i];
                printf("    db %llu \"", (unsigned long long)s->db);
                uint32_t kl = s->len < sizeof s->key ? s->len : (uint32_t)sizeof s->key;
                for (uint32_t j = 0; j < kl; j++) {
                    unsigned char c = (unsigned char)s->key[j];
                    printf(c == '"' || c == '\\' ? "\\%c" : isprint(c) ? "%c" : "\\x%02x", c);
                }
                printf("\"%s: %s\n", s->len > kl ? "... (cut)" : "", s->why);
            }
            if (k == D_EXTRA && !v->extra && v->diffs[k])
                printf("    (--extra names them)\n");
        }
    }
    if (v->report) {
        FILE *f = fopen(v->report, "w");
        if (!f) {
            fprintf(stderr, "rmig verify: --report: cannot write %s: %s\n", v->report, strerror(errno));
            return 1;
        }
        fprintf(f, "{\"pipeline\":");
        json_str(f, pipeline, strlen(pipeline));
        fprintf(f, ",\"mode\":\"%s\",\"ok\":%s,\"complete\":%s,\"checked\":%llu,\"expired\":%llu,\"sampled_out\":%llu,"
                "\"dropped\":%llu,\"rounds\":%d,\"seconds\":%.3f,\"differences\":{",
                v->full ? "full" : "outline", !total && !r->failed ? "true" : "false", r->failed ? "false" : "true",
                (unsigned long long)v->checked, (unsigned long long)v->expired, (unsigned long long)v->sampled_out,
                (unsigned long long)r->dropped, v->round + 1, secs);
        for (int k = 0; k < D_KINDS; k++)
            fprintf(f, "%s\"%s\":%llu", k ? "," : "", dnames[k], (unsigned long long)v->diffs[k]);
        fprintf(f, "},\"keys\":{");
        for (int k = 0; k < D_KINDS; k++) {
            fprintf(f, "%s\"%s\":[", k ? "," : "", dnames[k]);
            for (uint32_t i = 0; i < v->nfirst[k]; i++) {
                const shown *s = &v->first[k][i];
                fprintf(f, "%s{\"db\":%llu,\"key\":", i ? "," : "", (unsigned long long)s->db);
                json_str(f, s->key, s->len < sizeof s->key ? s->len : sizeof s->key);
                if (s->len > sizeof s->key)
                    fprintf(f, ",\"key_bytes\":%u,\"key_cut\":true", s->len);
                fprintf(f, ",\"why\":");
                json_str(f, s->why, strlen(s->why));
                fprintf(f, "}");
            }
            fprintf(f, "]");
        }
        fprintf(f, "}");
        if (r->failed) {
            fprintf(f, ",\"error\":");
            json_str(f, r->err, strlen(r->err));
        }
        fprintf(f, "}\n");
        if (fclose(f) != 0) {
            fprintf(stderr, "rmig verify: --report: cannot write %s: %s\n", v->report, strerror(errno));
            return 1;
        }
    }
    return total || r->failed ? 1 : 0;
}

void rmig__verify_close(runner *r)
{
    rmig_verify *v = r->vf;
    if (v && v->timer_on) {
        v->timer_on = 0;
        uv_close((uv_handle_t *)&v->timer, NULL);
    }
}

void rmig__verify_free(rmig_verify *v)
{
    if (!v)
        return;
    for (int k = 0; k < D_KINDS; k++)
        free(v->first[k]);
    if (v->spill)
        fclose(v->spill);
    if (v->respill)
        fclose(v->respill);
    rmig__vruns_free(&v->seen);
    rmig__vruns_free(&v->there);
    free(v->extra_h);
    free(v->src);
    rmig_vdigester_free(v->dg);
    if (v->bp)
        rmig_rdb_free(v->bp);
    while (v->live)
        rmig__verify_vexp_free(v, v->live); /* (a check stopped before every answer came) */
    free(v);
}

/* ---- rmig run --verify ---- */

/* The arguments of `rmig verify` for the run's pipeline (argv[0] "verify"),
 * with extra ones after; NULL-terminated, malloc'd. */
static char **verify_args(const runner *r, const char *const *extra, int nextra, int *argc)
{
    char **a = calloc((size_t)(2 + 2 * r->nover + nextra + 1), sizeof *a);
    if (!a)
        return NULL;
    int n = 0;
    a[n++] = "verify";
    a[n++] = (char *)r->pipeline_path;
    for (int i = 0; i < r->nover; i++) {
        a[n++] = "-s";
        a[n++] = (char *)r->ovr[i];
    }
    for (int i = 0; i < nextra; i++)
        a[n++] = (char *)extra[i];
    *argc = n;
    return a;
}

int rmig__verify_after(runner *r)
{
    int argc;
    char **argv = verify_args(r, NULL, 0, &argc);
    if (!argv) {
        fprintf(stderr, "rmig run: out of memory\n");
        return 1;
    }
    fprintf(stderr, "rmig run: verifying the target (rmig verify %s)\n", r->pipeline_path);
    int rc = rmig_verify_main(argc, argv);
    free(argv);
    return rc;
}

static void on_verify_exit(uv_process_t *p, int64_t status, int sig)
{
    runner *r = p->data;
    rmig_progress_clear(&r->progress);
    if (sig)
        fprintf(stderr, "rmig run: the verification beside the live run was stopped (signal %d)\n", sig);
    else
        fprintf(stderr, "rmig run: the verification beside the live run ended: %s (exit %lld; its report is above)\n",
                status == 0 ? "no difference" : "differences, or it could not check", (long long)status);
    uv_close((uv_handle_t *)p, NULL);
    r->verify_spawned = 2; /* (closed) */
}

void rmig__verify_spawn(runner *r)
{
    if (!r->verify_after || r->verify_spawned)
        return;
    /* keys still changing are checked again (rounds): a live source does
     * not stand still */
    static const char *const extra[] = {"--rounds", "5", "--delay", "2"};
    int argc;
    char **argv = verify_args(r, extra, 4, &argc);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (!argv || n <= 0) {
        free(argv);
        fprintf(stderr, "rmig run: cannot start the verification (rmig's own path is unknown)\n");
        r->verify_spawned = 2;
        return;
    }
    self[n] = 0;
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args) {
        free(argv);
        return;
    }
    args[0] = self;
    for (int i = 0; i < argc; i++)
        args[i + 1] = argv[i];
    uv_stdio_container_t io[3] = {{.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD, .data.fd = 1},
                                  {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t o = {.exit_cb = on_verify_exit, .file = self, .args = args, .stdio_count = 3, .stdio = io};
    r->vproc.data = r;
    int rc = uv_spawn(&r->loop, &r->vproc, &o);
    free(args);
    free(argv);
    if (rc < 0) {
        fprintf(stderr, "rmig run: cannot start the verification: %s\n", uv_strerror(rc));
        uv_close((uv_handle_t *)&r->vproc, NULL);
        r->verify_spawned = 2;
        return;
    }
    r->verify_spawned = 1;
    rmig_progress_clear(&r->progress);
    fprintf(stderr, "rmig run: caught up: verifying the target beside the live run (rmig verify, 5 rounds)\n");
}

void rmig__verify_spawn_close(runner *r)
{
    if (r->verify_spawned != 1)
        return;
    /* the run ends first: its verification would compare a target no
     * longer followed */
    uv_process_kill(&r->vproc, SIGTERM);
    uv_close((uv_handle_t *)&r->vproc, NULL);
    r->verify_spawned = 2;
}
