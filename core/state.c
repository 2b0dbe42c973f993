/* state.c - the state file of a live run (see state.h). */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int rmig_state_save(const char *path, const rmig_state *st, const char *source, char *err, size_t errlen)
{
    char tmp[4200], text[400];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int n = snprintf(text, sizeof text, "{\"replid\": \"%s\", \"offset\": %lld, \"db\": %llu, \"source\": \"%.200s\"}\n",
                     st->replid, (long long)st->offset, (unsigned long long)st->db, source ? source : "");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, text, (size_t)n) != n || fsync(fd) < 0) {
        snprintf(err, errlen, "cannot save the state file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        snprintf(err, errlen, "cannot save the state file %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int rmig_state_load(const char *path, rmig_state *st, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read the state file %s: %s", path, strerror(errno));
        return -1;
    }
    char text[512];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    const char *a = strstr(text, "\"replid\""), *b = strstr(text, "\"offset\""), *c = strstr(text, "\"db\"");
    long long o;
    unsigned long long d = 0;
    if (!a || !b || sscanf(a, "\"replid\" : \"%40[0-9a-f]\"", st->replid) != 1 || strlen(st->replid) != 40 ||
        sscanf(b, "\"offset\" : %lld", &o) != 1 || o < 0 || (c && sscanf(c, "\"db\" : %llu", &d) != 1)) {
        snprintf(err, errlen, "the state file %s is not one rmig wrote (delete it for a full sync)", path);
        return -1;
    }
    st->offset = o;
    st->db = d;
    return 1;
}
