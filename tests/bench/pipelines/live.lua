-- rmig as a live replica of SRC_PORT applying into TGT_PORT (run_psync_vs_replica.sh,
-- run_psync_write_rate.sh); STATE, when set, is the state file (replid, offset, db, written every second).
local rmig = require "rmig"
return rmig.pipeline {
  source = rmig.source.psync { addr = "127.0.0.1:" .. (os.getenv("SRC_PORT") or "6379"), state = os.getenv("STATE") },
  sink = rmig.sink.redis { addr = "127.0.0.1:" .. (os.getenv("TGT_PORT") or "6380") },
}
