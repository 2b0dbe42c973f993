-- team_rename: the billing team moves to its own namespace and database. On
-- the old server its keys are "billing:..." plus legacy invoices "inv_<id>"
-- from before that rule; on the new one everything of billing's lives under
-- "bill:" in db 2, so one ACL rule and one SCAN cover it.
--
-- The prefix rewrite runs in C. The legacy rename (rename with fn) and the move
-- to db 2 are Lua nodes, run together in one loop per batch; fn sees every key
-- as a Lua string, which is affordable for a rename but not free, so rules
-- that a prefix can express stay prefixes.
--
-- In a pipeline:  nodes = { require("team_rename"), ... }
-- Its tests:      rmig test filters/team_rename_test.lua
local rmig = require "rmig"

local BILLING_DB = 2

return {
  rmig.filter.rename {
    name = "team_rename: billing: to bill:",
    prefix = { ["billing:"] = "bill:" },
  },
  rmig.filter.rename {
    name = "team_rename: legacy invoices",
    fn = function(key)
      local id = key:match("^inv_(%d+)$")
      if id then return "bill:invoice:" .. id end
    end,
  },
  rmig.node {
    name = "team_rename: bill: to db 2",
    fn = function(e)
      if e:has_prefix("bill:") then e.db = BILLING_DB end
    end,
  },
}
