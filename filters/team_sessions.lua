-- team_sessions: what the web team leaves behind in a migration. Session and
-- cache keys are rebuilt by the application on first use, so copying them
-- costs time and target memory for nothing; and a key that expires within a
-- minute of the copy would be gone before anyone read it on the target.
-- Both nodes are built-in, so they run in C at no cost worth measuring.
--
-- In a pipeline:  nodes = { require("team_sessions"), ... }
-- Its tests:      rmig test filters/team_sessions_test.lua
local rmig = require "rmig"

return {
  rmig.filter.keys {
    name = "team_sessions: no sessions or caches",
    deny = { "session:*", "sess:*", "cache:*", "*:cache" },
  },
  rmig.filter.ttl {
    name = "team_sessions: no short TTLs",
    drop_expired = true,
    min_ms = 60 * 1000,
  },
}
