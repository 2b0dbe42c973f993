/* test_cluster_map.c - the slot map parsed from CLUSTER SHARDS and CLUSTER
 * SLOTS replies recorded from a real redis-server 7.0.15 cluster (3
 * masters on 7100-7102, a replica each on 7103-7105, captured as raw RESP),
 * in the states a migration meets: healthy, forming, after a slot move,
 * with a failed node, with each endpoint type; then hand-made old-style
 * and broken replies, and random corruptions of the recorded ones, which
 * must give an error or a consistent map, never a crash. */
#include "cluster.h"
#include "testlib.h"

#include <hiredis/read.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CLUSTER SHARDS of 3 masters (7100-7102), each with one replica (7103-7105) */
static const char shards_ok[] =
    "*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "42c1e332e0eb1dab843fa02d36f3fad84b2e9d0b\r\n$4\r\nport\r\n:7100\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:28\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "06b4192d0aaf2aff3628d92895af5d3996dc253d\r\n$4\r\nport\r\n:7103\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n"
    ":5461\r\n:10922\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "94e56c2a7696d5c0eeccd987593420b49d648470\r\n$4\r\nport\r\n:7101\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:28\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "20f3fe02d9bcfeb77398eba4f3c82ca7099f00cd\r\n$4\r\nport\r\n:7104\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:28\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n"
    ":10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "fddcc59e65a7d49a9a16f6c68f76dab483750a1e\r\n$4\r\nport\r\n:7102\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:28\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "23316461c069c9b4cdb028e4a6871d5ec85596c4\r\n$4\r\nport\r\n:7105\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";

/* CLUSTER SLOTS of the same cluster */
static const char slots_ok[] =
    "*3\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:7100\r\n$40\r\n"
    "42c1e332e0eb1dab843fa02d36f3fad84b2e9d0b\r\n*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:7103\r\n$40\r\n"
    "06b4192d0aaf2aff3628d92895af5d3996dc253d\r\n*0\r\n*4\r\n:5461\r\n:10922\r\n*4\r\n$9\r\n"
    "127.0.0.1\r\n:7101\r\n$40\r\n94e56c2a7696d5c0eeccd987593420b49d648470\r\n*0\r\n*4\r\n$9\r\n"
    "127.0.0.1\r\n:7104\r\n$40\r\n20f3fe02d9bcfeb77398eba4f3c82ca7099f00cd\r\n*0\r\n*4\r\n:10923\r\n"
    ":16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:7102\r\n$40\r\nfddcc59e65a7d49a9a16f6c68f76dab483750a1e\r\n"
    "*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:7105\r\n$40\r\n23316461c069c9b4cdb028e4a6871d5ec85596c4\r\n"
    "*0\r\n";

/* SHARDS while the cluster formed: 7104 still a master without slots, replicas loading */
static const char shards_joining[] =
    "*4\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "42c1e332e0eb1dab843fa02d36f3fad84b2e9d0b\r\n$4\r\nport\r\n:7100\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "06b4192d0aaf2aff3628d92895af5d3996dc253d\r\n$4\r\nport\r\n:7103\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:0\r\n$6\r\nhealth\r\n$7\r\nloading\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\n"
    "nodes\r\n*1\r\n*14\r\n$2\r\nid\r\n$40\r\n20f3fe02d9bcfeb77398eba4f3c82ca7099f00cd\r\n$4\r\n"
    "port\r\n:7104\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\n"
    "role\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    "*4\r\n$5\r\nslots\r\n*2\r\n:5461\r\n:10922\r\n$5\r\nnodes\r\n*1\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "94e56c2a7696d5c0eeccd987593420b49d648470\r\n$4\r\nport\r\n:7101\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n"
    ":10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "fddcc59e65a7d49a9a16f6c68f76dab483750a1e\r\n$4\r\nport\r\n:7102\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "23316461c069c9b4cdb028e4a6871d5ec85596c4\r\n$4\r\nport\r\n:7105\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:0\r\n$6\r\nhealth\r\n$7\r\nloading\r\n";

/* SHARDS after 10 slots moved 7102 -> 7100 and replica 7105 was killed (health fail) */
static const char shards_failed[] =
    "*3\r\n*4\r\n$5\r\nslots\r\n*4\r\n:0\r\n:5460\r\n:10923\r\n:10932\r\n$5\r\nnodes\r\n*2\r\n*14\r\n"
    "$2\r\nid\r\n$40\r\n42c1e332e0eb1dab843fa02d36f3fad84b2e9d0b\r\n$4\r\nport\r\n:7100\r\n$2\r\n"
    "ip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
    "$18\r\nreplication-offset\r\n:84\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "06b4192d0aaf2aff3628d92895af5d3996dc253d\r\n$4\r\nport\r\n:7103\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:84\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n"
    ":5461\r\n:10922\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "94e56c2a7696d5c0eeccd987593420b49d648470\r\n$4\r\nport\r\n:7101\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:84\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "20f3fe02d9bcfeb77398eba4f3c82ca7099f00cd\r\n$4\r\nport\r\n:7104\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:84\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n"
    ":10933\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "fddcc59e65a7d49a9a16f6c68f76dab483750a1e\r\n$4\r\nport\r\n:7102\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:70\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "23316461c069c9b4cdb028e4a6871d5ec85596c4\r\n$4\r\nport\r\n:7105\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:70\r\n$6\r\nhealth\r\n$4\r\nfail\r\n";

/* SLOTS after the move: 7100 (and its replica 7103) in two ranges */
static const char slots_two[] =
    "*4\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:7100\r\n$40\r\n"
    "42c1e332e0eb1dab843fa02d36f3fad84b2e9d0b\r\n*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:7103\r\n$40\r\n"
    "06b4192d0aaf2aff3628d92895af5d3996dc253d\r\n*0\r\n*4\r\n:5461\r\n:10922\r\n*4\r\n$9\r\n"
    "127.0.0.1\r\n:7101\r\n$40\r\n94e56c2a7696d5c0eeccd987593420b49d648470\r\n*0\r\n*4\r\n$9\r\n"
    "127.0.0.1\r\n:7104\r\n$40\r\n20f3fe02d9bcfeb77398eba4f3c82ca7099f00cd\r\n*0\r\n*4\r\n:10923\r\n"
    ":10932\r\n*4\r\n$9\r\n127.0.0.1\r\n:7100\r\n$40\r\n42c1e332e0eb1dab843fa02d36f3fad84b2e9d0b\r\n"
    "*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:7103\r\n$40\r\n06b4192d0aaf2aff3628d92895af5d3996dc253d\r\n"
    "*0\r\n*4\r\n:10933\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:7102\r\n$40\r\n"
    "fddcc59e65a7d49a9a16f6c68f76dab483750a1e\r\n*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:7105\r\n$40\r\n"
    "23316461c069c9b4cdb028e4a6871d5ec85596c4\r\n*0\r\n";

/* SHARDS with cluster-preferred-endpoint-type hostname on 7100 and no hostnames: endpoint "?" */
static const char shards_hostname[] =
    "*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "42c1e332e0eb1dab843fa02d36f3fad84b2e9d0b\r\n$4\r\nport\r\n:7100\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$1\r\n?\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:56\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "06b4192d0aaf2aff3628d92895af5d3996dc253d\r\n$4\r\nport\r\n:7103\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$1\r\n?\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:56\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n"
    ":5461\r\n:10922\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "94e56c2a7696d5c0eeccd987593420b49d648470\r\n$4\r\nport\r\n:7101\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$1\r\n?\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:56\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "20f3fe02d9bcfeb77398eba4f3c82ca7099f00cd\r\n$4\r\nport\r\n:7104\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$1\r\n?\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:56\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n"
    ":10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "fddcc59e65a7d49a9a16f6c68f76dab483750a1e\r\n$4\r\nport\r\n:7102\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$1\r\n?\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:56\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "23316461c069c9b4cdb028e4a6871d5ec85596c4\r\n$4\r\nport\r\n:7105\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$1\r\n?\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:56\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";

/* SHARDS with cluster-preferred-endpoint-type unknown-endpoint: endpoint "" */
static const char shards_unknown[] =
    "*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "42c1e332e0eb1dab843fa02d36f3fad84b2e9d0b\r\n$4\r\nport\r\n:7100\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$0\r\n\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:42\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "06b4192d0aaf2aff3628d92895af5d3996dc253d\r\n$4\r\nport\r\n:7103\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$0\r\n\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:42\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n"
    ":5461\r\n:10922\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "94e56c2a7696d5c0eeccd987593420b49d648470\r\n$4\r\nport\r\n:7101\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$0\r\n\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:42\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "20f3fe02d9bcfeb77398eba4f3c82ca7099f00cd\r\n$4\r\nport\r\n:7104\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$0\r\n\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:42\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n"
    ":10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "fddcc59e65a7d49a9a16f6c68f76dab483750a1e\r\n$4\r\nport\r\n:7102\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$0\r\n\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:42\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "23316461c069c9b4cdb028e4a6871d5ec85596c4\r\n$4\r\nport\r\n:7105\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n$8\r\nendpoint\r\n$0\r\n\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:42\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";

/* SLOTS with endpoint type hostname: host "?", the ip in the metadata */
static const char slots_hostname[] =
    "*3\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$1\r\n?\r\n:7100\r\n$40\r\n"
    "42c1e332e0eb1dab843fa02d36f3fad84b2e9d0b\r\n*2\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n*4\r\n$1\r\n"
    "?\r\n:7103\r\n$40\r\n06b4192d0aaf2aff3628d92895af5d3996dc253d\r\n*2\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n*4\r\n:5461\r\n:10922\r\n*4\r\n$1\r\n?\r\n:7101\r\n$40\r\n"
    "94e56c2a7696d5c0eeccd987593420b49d648470\r\n*2\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n*4\r\n$1\r\n"
    "?\r\n:7104\r\n$40\r\n20f3fe02d9bcfeb77398eba4f3c82ca7099f00cd\r\n*2\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n*4\r\n:10923\r\n:16383\r\n*4\r\n$1\r\n?\r\n:7102\r\n$40\r\n"
    "fddcc59e65a7d49a9a16f6c68f76dab483750a1e\r\n*2\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n*4\r\n$1\r\n"
    "?\r\n:7105\r\n$40\r\n23316461c069c9b4cdb028e4a6871d5ec85596c4\r\n*2\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n";

/* SLOTS with unknown-endpoint: host NULL (ask where you asked) */
static const char slots_unknown[] =
    "*3\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$-1\r\n:7100\r\n$40\r\n"
    "42c1e332e0eb1dab843fa02d36f3fad84b2e9d0b\r\n*2\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n*4\r\n$-1\r\n"
    ":7103\r\n$40\r\n06b4192d0aaf2aff3628d92895af5d3996dc253d\r\n*2\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n*4\r\n:5461\r\n:10922\r\n*4\r\n$-1\r\n:7101\r\n$40\r\n"
    "94e56c2a7696d5c0eeccd987593420b49d648470\r\n*2\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n*4\r\n$-1\r\n"
    ":7104\r\n$40\r\n20f3fe02d9bcfeb77398eba4f3c82ca7099f00cd\r\n*2\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n*4\r\n:10923\r\n:16383\r\n*4\r\n$-1\r\n:7102\r\n$40\r\n"
    "fddcc59e65a7d49a9a16f6c68f76dab483750a1e\r\n*2\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n*4\r\n$-1\r\n"
    ":7105\r\n$40\r\n23316461c069c9b4cdb028e4a6871d5ec85596c4\r\n*2\r\n$2\r\nip\r\n$9\r\n"
    "127.0.0.1\r\n";

#define M7100 "42c1e332e0eb1dab843fa02d36f3fad84b2e9d0b"

/* The reply the RESP bytes make, as hiredis reads it off a socket. */
static redisReply *reply_of(const char *resp, size_t len)
{
    redisReader *rd = redisReaderCreate();
    void *r = NULL;
    if (redisReaderFeed(rd, resp, len) != REDIS_OK || redisReaderGetReply(rd, &r) != REDIS_OK)
        r = NULL;
    redisReaderFree(rd);
    return r;
}

enum { SHARDS, SLOTS };

/* Parses resp with the parser `kind` into m: its return code; err filled. */
static int parse(int kind, const char *resp, size_t len, rmig_cluster_map *m, char *err, size_t errlen)
{
    redisReply *r = reply_of(resp, len);
    if (!r) {
        snprintf(err, errlen, "hiredis did not read the reply");
        return -2;
    }
    err[0] = 0;
    int rc = kind == SHARDS ? rmig_cluster_map_parse_shards(r, m, err, errlen)
                            : rmig_cluster_map_parse_slots(r, m, err, errlen);
    freeReplyObject(r);
    return rc;
}

static int port_of_slot(const rmig_cluster_map *m, int slot)
{
    return m->slot[slot] < 0 ? -1 : m->nodes[m->slot[slot]].port;
}

/* Every index in range, masters before replicas, counts adding up. */
static int consistent(const rmig_cluster_map *m)
{
    unsigned total = m->unassigned;
    for (int i = 0; i < m->nnodes; i++) {
        const rmig_cluster_node *n = &m->nodes[i];
        if (n->master != (i < m->nmasters) || (n->master ? n->master_of != -1 : n->master_of < 0) ||
            n->master_of >= m->nmasters || n->port <= 0)
            return 0;
        total += n->master ? n->nslots : 0;
    }
    for (int s = 0; s < RMIG_SLOTS; s++)
        if (m->slot[s] < -1 || m->slot[s] >= m->nmasters)
            return 0;
    return total == RMIG_SLOTS;
}

/* The healthy cluster, whichever command described it. */
static void check_three(const char *what, const rmig_cluster_map *m)
{
    char name[160];
#define NAME(s) (snprintf(name, sizeof name, "%s: %s", what, s), name)
    CHECK(NAME("3 masters and 3 replicas"), m->nmasters == 3 && m->nnodes == 6, "%d masters, %d nodes",
          m->nmasters, m->nnodes);
    if (m->nnodes != 6)
        return;
    CHECK(NAME("masters come first, in the reply's order"),
          m->nodes[0].port == 7100 && m->nodes[1].port == 7101 && m->nodes[2].port == 7102, "%d %d %d",
          m->nodes[0].port, m->nodes[1].port, m->nodes[2].port);
    int ok = 1;
    for (int r = 3; r < 6; r++)
        ok &= !m->nodes[r].master && m->nodes[m->nodes[r].master_of].port == m->nodes[r].port - 3;
    CHECK(NAME("each replica points at its master (7103 -> 7100, 7104 -> 7101, 7105 -> 7102)"), ok, "wrong");
    CHECK(NAME("slots 0 and 5460 are 7100's, 5461 is 7101's, 16383 is 7102's"),
          port_of_slot(m, 0) == 7100 && port_of_slot(m, 5460) == 7100 && port_of_slot(m, 5461) == 7101 &&
              port_of_slot(m, 16383) == 7102,
          "%d %d %d %d", port_of_slot(m, 0), port_of_slot(m, 5460), port_of_slot(m, 5461),
          port_of_slot(m, 16383));
    CHECK(NAME("the masters' slots add up to 16384, none unassigned"),
          m->nodes[0].nslots + m->nodes[1].nslots + m->nodes[2].nslots == 16384 && m->unassigned == 0,
          "%u + %u + %u, %u unassigned", m->nodes[0].nslots, m->nodes[1].nslots, m->nodes[2].nslots,
          m->unassigned);
    CHECK(NAME("node ids and hosts are read"),
          !strcmp(m->nodes[0].id, M7100) && !strcmp(m->nodes[5].host, "127.0.0.1"), "id %s host %s",
          m->nodes[0].id, m->nodes[5].host);
    CHECK(NAME("find gives 127.0.0.1:7104 as a replica, and -1 for an unknown node"),
          rmig_cluster_map_find(m, "127.0.0.1", 7104) >= 3 &&
              rmig_cluster_map_find(m, "127.0.0.1", 7199) == -1 &&
              rmig_cluster_map_find(m, "127.0.0.2", 7100) == -1,
          "wrong");
    CHECK(NAME("the map is consistent"), consistent(m), "it is not");
#undef NAME
}

static void recorded(void)
{
    rmig_cluster_map m = {0};
    char err[256];
    int rc = parse(SHARDS, shards_ok, sizeof shards_ok - 1, &m, err, sizeof err);
    CHECK("a healthy cluster's CLUSTER SHARDS parses", rc == 0, "%d: %s", rc, err);
    check_three("SHARDS", &m);

    /* the same map parsed into again: the earlier nodes are freed (ASan) */
    rc = parse(SLOTS, slots_ok, sizeof slots_ok - 1, &m, err, sizeof err);
    CHECK("the same cluster's CLUSTER SLOTS parses", rc == 0, "%d: %s", rc, err);
    check_three("SLOTS", &m);

    rc = parse(SHARDS, shards_joining, sizeof shards_joining - 1, &m, err, sizeof err);
    CHECK("SHARDS of a forming cluster parses", rc == 0, "%d: %s", rc, err);
    CHECK("a master without slots and replicas still loading are left out",
          rc == 0 && m.nmasters == 3 && m.nnodes == 3 && rmig_cluster_map_find(&m, "127.0.0.1", 7104) == -1 &&
              m.unassigned == 0,
          "%d masters, %d nodes", m.nmasters, m.nnodes);

    rc = parse(SHARDS, shards_failed, sizeof shards_failed - 1, &m, err, sizeof err);
    CHECK("SHARDS with a failed replica parses", rc == 0, "%d: %s", rc, err);
    CHECK("the replica whose health is \"fail\" is left out, the others kept",
          rc == 0 && m.nmasters == 3 && m.nnodes == 5 && rmig_cluster_map_find(&m, "127.0.0.1", 7105) == -1,
          "%d nodes", m.nnodes);
    CHECK("a master with two slot ranges serves both",
          port_of_slot(&m, 10923) == 7100 && port_of_slot(&m, 10932) == 7100 &&
              port_of_slot(&m, 10933) == 7102 && m.nodes[0].nslots == 5471 && m.nodes[2].nslots == 5451 &&
              consistent(&m),
          "%d %d %d, %u %u", port_of_slot(&m, 10923), port_of_slot(&m, 10932), port_of_slot(&m, 10933),
          m.nodes[0].nslots, m.nodes[2].nslots);

    rc = parse(SLOTS, slots_two, sizeof slots_two - 1, &m, err, sizeof err);
    CHECK("SLOTS listing a master in two ranges parses", rc == 0, "%d: %s", rc, err);
    CHECK("the master and its replica in two ranges are one node each",
          rc == 0 && m.nmasters == 3 && m.nnodes == 6 && m.nodes[0].nslots == 5471 &&
              port_of_slot(&m, 10930) == 7100 && m.nodes[m.nodes[3].master_of].port == 7100 && consistent(&m),
          "%d masters, %d nodes, %u slots", m.nmasters, m.nnodes, m.nodes[0].nslots);

    rc = parse(SHARDS, shards_hostname, sizeof shards_hostname - 1, &m, err, sizeof err);
    int ips = rc == 0 && m.nnodes == 6;
    for (int i = 0; ips && i < m.nnodes; i++)
        ips &= !strcmp(m.nodes[i].host, "127.0.0.1");
    CHECK("a SHARDS endpoint \"?\" gives way to the node's ip", ips, "%d: %s", rc, err);

    rc = parse(SHARDS, shards_unknown, sizeof shards_unknown - 1, &m, err, sizeof err);
    ips = rc == 0 && m.nnodes == 6;
    for (int i = 0; ips && i < m.nnodes; i++)
        ips &= !strcmp(m.nodes[i].host, "127.0.0.1");
    CHECK("an empty SHARDS endpoint gives way to the node's ip", ips, "%d: %s", rc, err);

    rc = parse(SLOTS, slots_hostname, sizeof slots_hostname - 1, &m, err, sizeof err);
    ips = rc == 0 && m.nnodes == 6;
    for (int i = 0; ips && i < m.nnodes; i++)
        ips &= !strcmp(m.nodes[i].host, "127.0.0.1");
    CHECK("a SLOTS host \"?\" gives way to the ip in the node's metadata", ips, "%d: %s", rc, err);

    rc = parse(SLOTS, slots_unknown, sizeof slots_unknown - 1, &m, err, sizeof err);
    int empty = rc == 0 && m.nnodes == 6;
    for (int i = 0; empty && i < m.nnodes; i++)
        empty &= !m.nodes[i].host[0];
    CHECK("a NULL SLOTS host is left empty, for the fetch to fill with the address it asked", empty, "%d: %s",
          rc, err);
    rmig_cluster_map_free(&m);
    rmig_cluster_map_free(&m);
}

static void hand_made(void)
{
    rmig_cluster_map m = {0};
    char err[256];
    /* Redis 3.x: [host, port] without ids; dedupe goes by host:port */
    static const char old[] =
        "*2\r\n"
        "*4\r\n:0\r\n:99\r\n*2\r\n$8\r\n10.0.0.1\r\n:6379\r\n*2\r\n$8\r\n10.0.0.2\r\n:6380\r\n"
        "*4\r\n:200\r\n:16383\r\n*2\r\n$8\r\n10.0.0.1\r\n:6379\r\n*2\r\n$8\r\n10.0.0.2\r\n:6380\r\n";
    int rc = parse(SLOTS, old, sizeof old - 1, &m, err, sizeof err);
    CHECK("SLOTS without node ids: a master in two ranges is one node, found by host:port",
          rc == 0 && m.nmasters == 1 && m.nnodes == 2 && m.nodes[1].master_of == 0 &&
              m.nodes[0].nslots == 16284 && !m.nodes[0].id[0],
          "%d: %s; %d masters, %d nodes", rc, err, m.nmasters, m.nnodes);
    CHECK("slots that no range names are counted unassigned",
          rc == 0 && m.unassigned == 100 && m.slot[100] == -1 && m.slot[199] == -1 && m.slot[99] == 0 &&
              consistent(&m),
          "%u unassigned", m.unassigned);

    static const char empty_host[] = "*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$0\r\n\r\n:7000\r\n$3\r\nabc\r\n";
    rc = parse(SLOTS, empty_host, sizeof empty_host - 1, &m, err, sizeof err);
    CHECK("an empty SLOTS host is left for the fetch to fill",
          rc == 0 && m.nnodes == 1 && !m.nodes[0].host[0] && m.nodes[0].port == 7000 &&
              !strcmp(m.nodes[0].id, "abc"),
          "%d: %s", rc, err);

    static const char none[] = "*0\r\n";
    rc = parse(SHARDS, none, sizeof none - 1, &m, err, sizeof err);
    CHECK("an empty SHARDS reply is a map with every slot unassigned",
          rc == 0 && m.nnodes == 0 && m.unassigned == RMIG_SLOTS && m.slot[0] == -1, "%d: %s", rc, err);

    /* a TLS cluster gives port and tls-port; only-TLS nodes give tls-port alone */
    static const char tls[] =
        "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n"
        "*10\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nport\r\n:6379\r\n$8\r\ntls-port\r\n:6380\r\n"
        "$2\r\nip\r\n$2\r\nh1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n";
    redisReply *r = reply_of(tls, sizeof tls - 1);
    rc = rmig_cluster_map_parse_shards_tls(r, 1, &m, err, sizeof err);
    int tls_port = rc == 0 && m.nnodes == 1 ? m.nodes[0].port : -1;
    rc = rmig_cluster_map_parse_shards(r, &m, err, sizeof err);
    CHECK("a TLS client takes tls-port, a plain one port (a node without health counts as online)",
          tls_port == 6380 && rc == 0 && m.nnodes == 1 && m.nodes[0].port == 6379, "%d and %d", tls_port,
          rc == 0 && m.nnodes ? m.nodes[0].port : -1);
    freeReplyObject(r);
    rmig_cluster_map_free(&m);
}

typedef struct bad_reply {
    int kind;
    const char *why, *resp;
} bad_reply;

static const bad_reply bads[] = {
    {SHARDS, "a status instead of an array", "+OK\r\n"},
    {SHARDS, "the error of a server without cluster support",
     "-ERR This instance has cluster support disabled\r\n"},
    {SLOTS, "an integer instead of an array", ":1\r\n"},
    {SLOTS, "a nil instead of an array", "*-1\r\n"},
    {SHARDS, "a shard that is an integer", "*1\r\n:1\r\n"},
    {SHARDS, "a shard with an odd number of fields", "*1\r\n*1\r\n$5\r\nslots\r\n"},
    {SHARDS, "a shard without nodes", "*1\r\n*2\r\n$5\r\nslots\r\n*0\r\n"},
    {SHARDS, "slots that are a string", "*1\r\n*4\r\n$5\r\nslots\r\n$1\r\nx\r\n$5\r\nnodes\r\n*0\r\n"},
    {SHARDS, "an odd slot list", "*1\r\n*4\r\n$5\r\nslots\r\n*1\r\n:0\r\n$5\r\nnodes\r\n*0\r\n"},
    {SHARDS, "a node that is a string", "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n$1\r\nx\r\n"},
    {SHARDS, "a node without a port",
     "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*2\r\n$2\r\nip\r\n$1\r\nh\r\n"},
    {SHARDS, "a port that is not a number",
     "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*2\r\n$4\r\nport\r\n$2\r\nab\r\n"},
    {SHARDS, "an id that is an integer",
     "*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*4\r\n$2\r\nid\r\n:5\r\n$4\r\nport\r\n:1\r\n"},
    {SHARDS, "a slot past 16383",
     "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16384\r\n$5\r\nnodes\r\n*1\r\n"
     "*4\r\n$4\r\nport\r\n:1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"},
    {SHARDS, "a range whose end is before its start",
     "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:9\r\n:3\r\n$5\r\nnodes\r\n*1\r\n"
     "*4\r\n$4\r\nport\r\n:1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"},
    {SHARDS, "a slot that is nil",
     "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n$-1\r\n:3\r\n$5\r\nnodes\r\n*1\r\n"
     "*4\r\n$4\r\nport\r\n:1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"},
    {SLOTS, "a range of two elements", "*1\r\n*2\r\n:0\r\n:1\r\n"},
    {SLOTS, "a range that is a string", "*1\r\n$3\r\nabc\r\n"},
    {SLOTS, "a master of one element", "*1\r\n*3\r\n:0\r\n:1\r\n*1\r\n$1\r\na\r\n"},
    {SLOTS, "a master whose port is a word", "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\na\r\n$1\r\nx\r\n"},
    {SLOTS, "a master whose port is 0", "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\na\r\n:0\r\n"},
    {SLOTS, "a master whose host is an array", "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n*0\r\n:1\r\n"},
    {SLOTS, "a negative slot", "*1\r\n*3\r\n:-1\r\n:1\r\n*2\r\n$1\r\na\r\n:1\r\n"},
    {SLOTS, "slots that are words", "*1\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$1\r\na\r\n:1\r\n"},
    {SLOTS, "a broken replica in the second range",
     "*2\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\na\r\n:1\r\n*4\r\n:2\r\n:3\r\n*2\r\n$1\r\na\r\n:1\r\n*1\r\n:7\r\n"},
    {SLOTS, "an id of 41 characters",
     "*1\r\n*3\r\n:0\r\n:1\r\n*3\r\n$1\r\na\r\n:1\r\n$41\r\n"
     "42c1e332e0eb1dab843fa02d36f3fad84b2e9d0b0\r\n"},
};

static void broken(void)
{
    rmig_cluster_map m = {0};
    char err[256], name[160];
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        /* the map holds a good parse first: a failed one must not leave half of it */
        parse(SHARDS, shards_ok, sizeof shards_ok - 1, &m, err, sizeof err);
        int rc = parse(bads[i].kind, bads[i].resp, strlen(bads[i].resp), &m, err, sizeof err);
        snprintf(name, sizeof name, "%s %s is refused with a reason",
                 bads[i].kind == SHARDS ? "SHARDS:" : "SLOTS:", bads[i].why);
        CHECK(name, rc == -1 && err[0] && m.nnodes == 0 && m.unassigned == RMIG_SLOTS,
              "rc %d, err \"%s\", %d nodes", rc, err, m.nnodes);
    }
    char host[400];
    memset(host, 'h', 300);
    int n = snprintf(host + 300, 100, "\r\n:1\r\n");
    char resp[500];
    n = snprintf(resp, sizeof resp, "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$300\r\n%.*s", 300 + n, host);
    int rc = parse(SLOTS, resp, (size_t)n, &m, err, sizeof err);
    CHECK("a host of 300 bytes is refused, not cut", rc == -1 && err[0], "rc %d", rc);
    rmig_cluster_map_free(&m);
}

/* Random bytes of the recorded replies changed: either an error or a
 * consistent map, whatever hiredis makes of them. */
static void corrupted(void)
{
    const char *src[] = {shards_ok, slots_ok, shards_failed, slots_two, slots_hostname};
    size_t len[] = {sizeof shards_ok - 1, sizeof slots_ok - 1, sizeof shards_failed - 1, sizeof slots_two - 1,
                    sizeof slots_hostname - 1};
    static const char alphabet[] = "*$:+-\r\n0123456789?{}x";
    uint64_t st = rmig_t_seed() ^ 0x5107;
    rmig_cluster_map m = {0};
    char buf[4096], err[256];
    int parsed = 0, refused = 0, wrong = 0;
    for (int round = 0; round < 5000; round++) {
        int k = (int)(rmig_t_rand(&st) % 5);
        memcpy(buf, src[k], len[k]);
        for (int f = 1 + (int)(rmig_t_rand(&st) % 3); f > 0; f--)
            buf[rmig_t_rand(&st) % len[k]] = alphabet[rmig_t_rand(&st) % (sizeof alphabet - 1)];
        for (int kind = SHARDS; kind <= SLOTS; kind++) {
            int rc = parse(kind, buf, len[k], &m, err, sizeof err);
            if (rc == 0) {
                parsed++;
                wrong += !consistent(&m);
            } else if (rc == -1) {
                refused++;
                wrong += !err[0];
            }
        }
    }
    CHECK("corrupted replies give an error with a reason or a consistent map",
          wrong == 0 && parsed && refused, "%d wrong (%d parsed, %d refused)", wrong, parsed, refused);
    rmig_cluster_map_free(&m);
}

int main(void)
{
    recorded();
    hand_made();
    broken();
    corrupted();
    return rmig_t_done();
}
