-- team_pii: the privacy team's rule for copies leaving the EU servers. A key
-- whose name carries an e-mail address ("reset:ann@example.com") is personal
-- data and stays behind. Profile keys must be "profile:<numeric id>"; one that
-- is not was written by a bug upstream and may hold anything, so the node
-- raises for it, and on_error = "skip" drops that key alone (counted as an
-- error) instead of aborting the whole migration.
--
-- A Lua node: it reads keys through FFI views (e:match, e:has_prefix) and
-- makes a Lua string only for profile keys, so other keys cost almost nothing.
--
-- In a pipeline:  nodes = { require("team_pii"), ... }
-- Its tests:      rmig test filters/team_pii_test.lua
local rmig = require "rmig"

return rmig.node {
  name = "team_pii",
  on_error = "skip",
  fn = function(e)
    if e:match("*@*.*") then return false end
    if e:has_prefix("profile:") and not e:key():match("^profile:%d+$") then
      error("a profile key without a numeric user id")
    end
  end,
}
