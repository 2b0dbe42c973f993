-- From a managed service (ElastiCache, MemoryStore, ...) where SYNC and
-- PSYNC are refused: SCAN + DUMP every key, then follow the keyspace
-- notifications until you stop it (Ctrl-C, or SIGTERM) at cut-over.
-- The source needs notify-keyspace-events = "KEA" (on ElastiCache: in the
-- parameter group); `rmig check` tells you whether it is set.
--
--   build/rmig check examples/managed.lua -s source.addr=my-cache:6379 -s sink.addr=10.0.0.2:6379
--   build/rmig run   examples/managed.lua -s source.addr=my-cache:6379 -s sink.addr=10.0.0.2:6379
local rmig = require "rmig"

return rmig.pipeline {
  source = rmig.source.scan {
    addr = "127.0.0.1:6379",
    password_env = os.getenv("SOURCE_PASSWORD") and "SOURCE_PASSWORD" or nil,
    live = true,
    rate = 50000,                   -- keys/s at most from each source server
    big_bytes = 8 * 1024 * 1024,    -- bigger keys are copied in pieces, not one DUMP
  },
  sink = rmig.sink.redis { addr = "127.0.0.1:6380" },
}
