-- The bundled sample dump into a Redis Cluster: every key goes to the master
-- of its slot (hash tags {...} respected), one pipelined connection per
-- master. A cluster has only db 0: the sample's db 1 is folded into it here
-- (without a db map or sink dbs = "merge"/"prefix", a key of db 1 stops the run).
--   build/rmig check examples/cluster.lua -s sink.addr=10.0.0.5:7000   (slot layout, spread of the keys)
--   build/rmig run   examples/cluster.lua -s sink.addr=10.0.0.5:7000
-- Any node of the cluster will do as addr; rmig reads the slot map from it.
local rmig = require "rmig"

return rmig.pipeline {
  source = rmig.source.rdb { path = os.getenv("RDB") or "examples/data/sample.rdb" },
  nodes = {
    rmig.filter.db { map = { [1] = 0 } },
  },
  sink = rmig.sink.cluster { addr = os.getenv("TARGET") or "127.0.0.1:7000" },
}
