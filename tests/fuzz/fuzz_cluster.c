/* fuzz_cluster.c - libFuzzer target for the slot map parsers (cluster.c):
 * the input is a server's reply in RESP (read by hiredis' reader, as the
 * fetch does), parsed as CLUSTER SHARDS and as CLUSTER SLOTS. Either parse
 * fails with a message, or the map it leaves is consistent: every slot's
 * master is a master of the map, replicas point at masters, slot counts add
 * up. */
#include "cluster.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const rmig_cluster_map *m, const char *what)
{
    unsigned served = 0, counted = 0;
    for (int s = 0; s < RMIG_SLOTS; s++) {
        if (m->slot[s] < -1 || m->slot[s] >= m->nmasters) {
            fprintf(stderr, "fuzz_cluster: %s: slot %d points at node %d of %d masters\n", what, s, m->slot[s],
                    m->nmasters);
            abort();
        }
        served += m->slot[s] >= 0;
    }
    for (int i = 0; i < m->nnodes; i++) {
        const rmig_cluster_node *n = &m->nodes[i];
        if ((i < m->nmasters) != (n->master != 0) || (!n->master && (n->master_of < 0 || n->master_of >= m->nmasters))) {
            fprintf(stderr, "fuzz_cluster: %s: node %d is out of place (master %d, master_of %d)\n", what, i,
                    n->master, n->master_of);
            abort();
        }
        if (n->master)
            counted += n->nslots;
    }
    if (served != counted || served + m->unassigned != RMIG_SLOTS) {
        fprintf(stderr, "fuzz_cluster: %s: %u slots served, %u counted, %u unassigned\n", what, served, counted,
                m->unassigned);
        abort();
    }
}

/* An array header of more than 6 digits: hiredis 0.14 (Debian 12's)
 * allocates whatever it says before the elements arrive. That is the
 * reader's limit, not the parsers' (a node that lies this way fails the
 * fetch with out of memory), so such inputs are left out. */
static int huge_array(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i] != '*')
            continue;
        size_t k = i + 1;
        while (k < n && d[k] >= '0' && d[k] <= '9')
            k++;
        if (k - i - 1 > 6)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (huge_array(data, size))
        return 0;
    redisReader *rd = redisReaderCreate();
    if (!rd)
        return 0;
    void *reply = NULL;
    if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK && redisReaderGetReply(rd, &reply) == REDIS_OK &&
        reply) {
        rmig_cluster_map m;
        char err[256];
        memset(&m, 0, sizeof m);
        if (rmig_cluster_map_parse_shards(reply, &m, err, sizeof err) == 0)
            check(&m, "CLUSTER SHARDS");
        if (rmig_cluster_map_parse_slots(reply, &m, err, sizeof err) == 0)
            check(&m, "CLUSTER SLOTS");
        rmig_cluster_map_free(&m);
        freeReplyObject(reply);
    }
    redisReaderFree(rd);
    return 0;
}
