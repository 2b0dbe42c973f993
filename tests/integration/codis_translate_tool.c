/* codis_translate_tool.c - a test-only filter around rmig_codis_translate,
 * for test_codis_translate.py: RESP commands (a codis-server's stream, as
 * the test forms it) on stdin; for each, one RESP array on stdout:
 *   [outcome, form, why, [arg, ...], [arg, ...], ...]
 * the translated commands last. A SELECT, in the input or in a
 * translation, moves the db the translator is told about, as a reader
 * would. Not part of rmig's command line.
 *
 * usage: codis_translate_tool [--replace-first] < stream.resp > out.resp */
#include "codis.h"
#include "respcmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bulk(const void *p, size_t n)
{
    printf("$%zu\r\n", n);
    fwrite(p, 1, n, stdout);
    fputs("\r\n", stdout);
}

static void bulk_str(const char *s)
{
    bulk(s, strlen(s));
}

/* A SELECT's db, or -1. */
static long long select_db(const rmig_slice *a, uint32_t argc)
{
    if (argc != 2 || a[0].n != 6 || strncasecmp((const char *)a[0].p, "select", 6))
        return -1;
    char buf[32];
    size_t n = a[1].n < sizeof buf - 1 ? a[1].n : sizeof buf - 1;
    memcpy(buf, a[1].p, n);
    buf[n] = 0;
    return strtoll(buf, NULL, 10);
}

int main(int argc, char **argv)
{
    rmig_codis_chunks mode = RMIG_CODIS_CHUNKS_APPEND;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--replace-first")) {
            mode = RMIG_CODIS_CHUNKS_REPLACE_FIRST;
        } else {
            fprintf(stderr, "usage: codis_translate_tool [--replace-first] < stream.resp\n");
            return 2;
        }
    }
    size_t cap = 1 << 20, len = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len, stdin)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *grown = realloc(buf, cap *= 2);
            if (!grown) {
                free(buf);
                buf = NULL;
            }
            buf = grown;
        }
    }
    if (!buf) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    rmig_respcmd rc;
    rmig_respcmd_init(&rc, 0);
    rmig_codis_xlate x;
    rmig_codis_xlate_init(&x, mode);
    rmig_slice *args = NULL;
    size_t pos = 0;
    uint64_t db = 0;
    int status = 0;
    while (pos < len) {
        long long used = rmig_respcmd_parse(&rc, buf + pos, len - pos);
        if (used <= 0) {
            fprintf(stderr, "input: %s\n", used < 0 ? rmig_respcmd_error(&rc) : "a command is cut short");
            status = 1;
            break;
        }
        pos += (size_t)used;
        if (rc.argc == 0)
            continue;
        rmig_slice *grown = realloc(args, (size_t)rc.argc * sizeof *args);
        if (!grown) {
            status = 1;
            break;
        }
        args = grown;
        for (int i = 0; i < rc.argc; i++)
            args[i] = (rmig_slice){rc.argv[i], rc.lens[i]};
        char why[1024];
        rmig_codis_xlate_reset(&x);
        int n = rmig_codis_translate(&x, db, args, (uint32_t)rc.argc, why, sizeof why);
        printf("*%d\r\n", 3 + (n > 0 ? n : 0));
        bulk_str(rmig_codis_outcome_name(x.outcome));
        bulk_str(rmig_codis_form_name(x.form));
        bulk_str(why);
        for (int c = 0; c < n; c++) {
            uint32_t cargc;
            const rmig_slice *a = rmig_codis_xlate_cmd(&x, (uint32_t)c, &cargc);
            printf("*%u\r\n", cargc);
            for (uint32_t i = 0; i < cargc; i++)
                bulk(a[i].p, a[i].n);
            long long d = select_db(a, cargc);
            if (d >= 0)
                db = (uint64_t)d;
        }
    }
    fflush(stdout);
    free(args);
    free(buf);
    rmig_codis_xlate_free(&x);
    rmig_respcmd_free(&rc);
    return status;
}
