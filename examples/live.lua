-- Live migration: rmig joins the source as a replica (PSYNC), copies its
-- snapshot into the target, then applies every write the source takes,
-- until you stop it (Ctrl-C, or SIGTERM) at cut-over. Started again with
-- the same state file, it resumes where it stopped (a partial resync).
--
--   build/rmig check examples/live.lua -s source.addr=10.0.0.1:6379 -s sink.addr=10.0.0.2:6379
--   build/rmig run   examples/live.lua -s source.addr=10.0.0.1:6379 -s sink.addr=10.0.0.2:6379
local rmig = require "rmig"

return rmig.pipeline {
  source = rmig.source.psync {
    addr = "127.0.0.1:6379",
    password_env = os.getenv("SOURCE_PASSWORD") and "SOURCE_PASSWORD" or nil,
    state = "rmig-live.state",      -- the applied position; its spool goes to rmig-live.state.spool/
    spool_budget = 8 * 1024 ^ 3,    -- disk the spool may use while the target lags
  },
  nodes = {
    -- FLUSHALL and FLUSHDB are not forwarded unless a commands node says so;
    -- this one keeps that default and also leaves out PUBLISH
    rmig.filter.commands { deny = { "FLUSHALL", "FLUSHDB", "PUBLISH" } },
  },
  sink = rmig.sink.redis {
    addr = "127.0.0.1:6380",
    exactly_once = true,            -- INCR/LPUSH never applied twice after a crash
  },
}
