-- rmig test tests/lua/emit_test.lua: nodes that emit entries. An emitted
-- entry joins the batch after the entries it came with and goes through the
-- nodes after its emitter only (here the keys filter drops the copies of
-- temp keys, and the first node never sees what the second emitted).
local rmig = require "rmig"
local t = rmig.test

local seen_by_first = {}

return t.suite {
  nodes = {
    rmig.node { name = "first", fn = function(e) seen_by_first[#seen_by_first + 1] = e:key() end },
    rmig.node { name = "copier", fn = function(e, b)
      if e:has_prefix("order:") then
        b:emit(e, { key = "archive:" .. e:key(), db = 3 })
      elseif e:key() == "marker" then
        b:emit { key = "migrated-at", value = "2026-11-29", expire_ms = 4102444800000 }
      end
    end },
    rmig.filter.keys { deny = { "archive:order:tmp*" } },
    rmig.node { name = "last", fn = function(e, b)
      if e:key() == "migrated-at" and #seen_by_first ~= 3 then error("the first node saw an emitted entry") end
    end },
  },

  t.case "copies keep type and TTL, take their own name and db; later nodes see them" {
    input = {
      { key = "order:1", type = "hash", ttl_ms = 60000 },
      { key = "order:tmp9" },
      { key = "marker", db = 1 },
    },
    expect = {
      { key = "order:1", type = "hash", ttl_ms = 60000 },
      { key = "order:tmp9" },
      { key = "marker", db = 1 },
      { key = "archive:order:1", db = 3, type = "hash", ttl_ms = 60000 },
      { key = "migrated-at", type = "string", expire_ms = 4102444800000 },   -- a new key: db 0 unless given
    },
    dropped = { { key = "archive:order:tmp9", db = 3, by = 3, emitted = true } },                  -- an emitted entry, by its own name
  },
}
