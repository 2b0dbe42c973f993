-- The bundled sample dump into a local Redis, keeping users and carts, with
-- db 1 folded into db 0. Check it with:  build/rmig check examples/quickstart.lua
-- (and aim it elsewhere with -s sink.addr=HOST:PORT, -s source.path=FILE).
local rmig = require "rmig"

return rmig.pipeline {
  source = rmig.source.rdb { path = os.getenv("RDB") or "examples/data/sample.rdb" },
  nodes = {
    rmig.filter.keys { allow = { "user:*", "cart:*", "flag:*" } },
    rmig.filter.db { map = { [1] = 0 } },
  },
  sink = rmig.sink.redis { addr = os.getenv("TARGET") or "127.0.0.1:6379" },
}
