-- a Lua node that makes every key's name a Lua string: the cost of a team's node
local rmig = require "rmig"
local n = 0
return rmig.pipeline {
  source = rmig.source.rdb { path = "a.rdb" },
  nodes = { rmig.node { name = "reads-names", fn = function(e) if #e:key() == 0 then n = n + 1 end end } },
  sink = rmig.sink.redis { addr = "127.0.0.1:6379" },
}
