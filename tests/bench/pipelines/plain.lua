-- rmig run with no nodes (source and sink given by -s on the command line)
local rmig = require "rmig"
return rmig.pipeline {
  source = rmig.source.rdb { path = "a.rdb" },
  sink = rmig.sink.redis { addr = "127.0.0.1:6379" },
}
