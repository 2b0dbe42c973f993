-- rmig test filters/team_rename_test.lua
local rmig = require "rmig"
local t = rmig.test

return t.suite {
  nodes = { require("team_rename") },

  t.case "billing keys move to bill: in db 2, with their type and TTL" {
    input = {
      { key = "billing:acct:7", type = "hash", ttl_ms = 600 * 1000 },
      { key = "billing:plan:pro", db = 1 },
    },
    expect = {
      { key = "bill:acct:7", db = 2, type = "hash", ttl_ms = 600 * 1000 },
      { key = "bill:plan:pro", db = 2 },
    },
  },

  t.case "legacy invoices join the namespace; other inv_ keys do not" {
    input = { { key = "inv_1042", type = "list", expire_ms = 4102444800000 }, { key = "inv_draft" } },
    expect = {
      { key = "bill:invoice:1042", db = 2, type = "list", expire_ms = 4102444800000 },
      { key = "inv_draft" },
    },
  },

  t.case "other teams' keys are left alone, and nothing is dropped" {
    input = { { key = "user:1" }, { key = "billingreport", db = 4 }, { key = "x:billing:1", db = 1 } },
    expect = { { key = "user:1" }, { key = "billingreport", db = 4 }, { key = "x:billing:1", db = 1 } },
    dropped = {},
  },
}
