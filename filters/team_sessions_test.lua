-- rmig test filters/team_sessions_test.lua
local rmig = require "rmig"
local t = rmig.test

return t.suite {
  nodes = { require("team_sessions") },

  t.case "session and cache keys stay behind" {
    input = {
      { key = "session:9f2c", ttl_ms = 3600 * 1000 },
      { key = "cache:home:en", type = "hash" },
      { key = "user:42:cache" },
      { key = "user:42", type = "hash" },
    },
    expect = { { key = "user:42", type = "hash" } },
    dropped = {
      { key = "session:9f2c", by = "team_sessions: no sessions or caches" },
      { key = "cache:home:en", by = 1 },
      { key = "user:42:cache", by = 1 },
    },
  },

  t.case "keys expiring within a minute stay behind; other TTLs are kept as they are" {
    input = {
      { key = "otp:42", ttl_ms = 30 * 1000 },
      { key = "gone:1", ttl_ms = -5 },
      { key = "user:42", ttl_ms = 86400 * 1000 },
      { key = "user:43" },
    },
    expect = { { key = "user:42", ttl_ms = 86400 * 1000 }, { key = "user:43" } },
    dropped = {
      { key = "otp:42", by = "team_sessions: no short TTLs" },
      { key = "gone:1", by = "team_sessions: no short TTLs" },
    },
  },

  t.case "names that only look like sessions pass, in every db" {
    input = {
      { key = "sessions_report", db = 3 },
      { key = "cached", db = 1, type = "set" },
      { key = "user:1:session" },
    },
    expect = {
      { key = "sessions_report", db = 3 },
      { key = "cached", db = 1, type = "set" },
      { key = "user:1:session" },
    },
  },
}
