-- From a Twemproxy (nutcracker) farm into a Redis Cluster: every backend of
-- the pool is read as a replica (snapshot, then its command stream) until
-- you stop it (Ctrl-C, or SIGTERM) at cut-over. nutcracker itself cannot
-- be read through (no SYNC, PSYNC or SCAN): rmig needs to reach the
-- backends the file names. Each backend's position is saved in
-- twemproxy.state.<host>_<port>, so a run started again resumes.
--
--   build/rmig check examples/twemproxy.lua -s sink.addr=10.0.0.5:7000
--   build/rmig run   examples/twemproxy.lua -s sink.addr=10.0.0.5:7000
--   build/rmig verify examples/twemproxy.lua -s sink.addr=10.0.0.5:7000
--
-- mode = "scan" reads the backends by SCAN + DUMP instead (where PSYNC is
-- refused); rmig.sink.twemproxy { config = ..., direct = true } writes
-- into another pool, each key on the backend nutcracker will look in.
local rmig = require "rmig"

return rmig.pipeline {
  source = rmig.source.twemproxy {
    config = "examples/nutcracker.yml",
    pool = "alpha",
    mode = "psync",
    state = "twemproxy.state",
  },
  sink = rmig.sink.cluster { addr = "127.0.0.1:7000" },
}
