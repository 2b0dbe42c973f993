-- A live Redis Cluster into another one (any number of masters on either
-- side): rmig reads every source master like a replica (PSYNC: its snapshot,
-- then its command stream), in parallel, and writes each key to the target
-- master of its slot. Stop it at cut-over with Ctrl-C (or SIGTERM); started
-- again, each master resumes from its state file (state.<host>_<port>).
--   build/rmig check examples/cluster_to_cluster.lua -s source.addr=10.0.0.1:7000 -s sink.addr=10.0.0.9:7000
--   build/rmig run   examples/cluster_to_cluster.lua -s source.addr=10.0.0.1:7000 -s sink.addr=10.0.0.9:7000
-- mode = "rdb-per-node" copies each master's snapshot only, and the run ends.
local rmig = require "rmig"

return rmig.pipeline {
  source = rmig.source.cluster {
    addr = os.getenv("SOURCE") or "127.0.0.1:7000",
    mode = "psync",
    state = "cluster-state", -- cluster-state.<host>_<port>, one per source master
  },
  sink = rmig.sink.cluster { addr = os.getenv("TARGET") or "127.0.0.1:7100" },
}
