-- a built-in prefix filter that keeps every key of dataset a: its cost alone
local rmig = require "rmig"
return rmig.pipeline {
  source = rmig.source.rdb { path = "a.rdb" },
  nodes = { rmig.filter.keys { prefix = { "key:" } } },
  sink = rmig.sink.redis { addr = "127.0.0.1:6379" },
}
