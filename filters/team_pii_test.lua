-- rmig test filters/team_pii_test.lua
local rmig = require "rmig"
local t = rmig.test

return t.suite {
  nodes = { require("team_pii") },

  t.case "keys naming an e-mail address stay behind" {
    input = {
      { key = "reset:ann@example.com", ttl_ms = 900 * 1000 },
      { key = "newsletter:bob@example.org", type = "set", db = 2 },
      { key = "user:42", type = "hash" },
    },
    expect = { { key = "user:42", type = "hash" } },
    dropped = {
      { key = "reset:ann@example.com", by = "team_pii" },
      { key = "newsletter:bob@example.org", db = 2, by = "team_pii" },
    },
  },

  t.case "an @ alone is not an address" {
    input = { { key = "mention:@ann" }, { key = "tag:a@b" } },
    expect = { { key = "mention:@ann" }, { key = "tag:a@b" } },
  },

  t.case "a malformed profile key is skipped, not the run" {
    input = {
      { key = "profile:17", type = "hash" },
      { key = "profile:ann", type = "hash" },
      { key = "profile:18", type = "hash" },
    },
    expect = { { key = "profile:17", type = "hash" }, { key = "profile:18", type = "hash" } },
    dropped = { { key = "profile:ann", by = "team_pii" } },
  },
}
