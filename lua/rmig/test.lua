-- rmig.test: the file format of `rmig test NODE_TEST.lua`, the way a team
-- tests its nodes before shipping them. A test file returns a suite:
--
--   local rmig = require "rmig"
--   local t = rmig.test
--   return t.suite {
--     nodes = { require("team_a") },          -- or t.nodes_of("pipeline.lua")
--     t.case "keeps users, renamed" {
--       input   = { { key = "user:1", type = "hash", ttl_ms = 5000 }, { key = "tmp:1", db = 3 } },
--       expect  = { { key = "u:1", ttl_ms = 5000 } },   -- what comes out, in order
--       dropped = { { key = "tmp:1", db = 3, by = "team_a" } },   -- optional
--     },
--     t.case "a key without an id stops the run" { input = { { key = "user:" } }, expect_error = "no id" },
--   }
--
-- Each case's input becomes one batch that runs through the nodes by the code
-- `rmig run` uses (core/nodetest.c over core/steps.c), so built-in C nodes
-- and Lua nodes behave exactly as in a migration. This module only declares
-- and checks: a mistake in a test file is an error naming the file and line,
-- found before any case runs.
--
-- Entries (input, expect, dropped) are tables of key (required), db (0 when
-- left out), type (input: "string" when left out; expect: checked only when
-- given), and at most one of ttl_ms (from the case's clock, `now`; 0 or less
-- is already expired) or expire_ms (absolute unix ms). An expected entry with
-- neither must come out without a TTL. TTLs are compared within
-- ttl_tolerance_ms (default 1000), since a Lua node may read its own clock.
-- A dropped entry is named by its input key and db; by, when given, is the
-- node that must have dropped it: its position in nodes, or its name (the
-- node's name option, else its constructor, e.g. "rmig.filter.keys"). When a
-- case lists dropped, it must list every entry the nodes drop.

local rmig = require "rmig"
local schema = require "rmig.schema"

local M = {}

local Suite, Case = {}, {}

local kind_of = {}
for i, k in ipairs(rmig.types) do kind_of[k] = i - 1 end

local entry_options = {
  key = { type = "string", required = true, help = "the key's name" },
  db = { type = "integer", min = 0, default = 0, help = "its database" },
  type = { type = "enum", values = rmig.types, help = "its type" },
  ttl_ms = { type = "integer", help = "its TTL from the case's clock (0 or less: already expired)" },
  expire_ms = { type = "integer", min = 0, help = "its absolute expiry (unix ms)" },
}

local dropped_options = {
  key = entry_options.key,
  db = entry_options.db,
  by = { type = "any", help = "the node that drops it: its position in nodes, or its name" },
  emitted = { type = "boolean", help = "an entry a node emitted (named by its own key and db), not an input" },
}

local case_options = {
  input = { type = "table", required = true, help = "the entries that go in, in order" },
  expect = { type = "table", help = "the entries that come out, in order" },
  dropped = { type = "table", help = "the entries the nodes drop, named by input key and db" },
  expect_error = { type = "string", help = "text or Lua pattern the error of an aborting node must contain" },
}

local suite_options = {
  nodes = { type = "any", required = true, help = "the nodes under test: a node, a list, or t.nodes_of(file)" },
  name = { type = "string", help = "shown in the summary" },
  now_ms = { type = "integer", min = 0, help = "the clock every case runs at (default: the time the file is read)" },
  ttl_tolerance_ms = { type = "integer", min = 0, default = 1000, help = "how far a TTL may be off" },
}

local function build(name, options, fields, where)
  return schema.build({ name = name, options = options }, fields, where).options
end

-- A list of entries, checked and normalized: { key, db, kind, ttl_ms, expire_ms }.
local function entries(list, label, where, options, default_type)
  if type(list) ~= "table" then schema.fail(where, "%s must be a list of entries, e.g. { { key = \"user:1\" } }", label) end
  local out = {}
  for k, e in pairs(list) do
    if type(k) ~= "number" or k < 1 or k > #list or k ~= math.floor(k) then
      schema.fail(where, "%s must be a list of entries, e.g. { { key = \"user:1\" } }; it has a field %s", label,
                  schema.describe(k))
    end
    local name = string.format("%s[%d]", label, k)
    if type(e) ~= "table" then
      schema.fail(where, "%s must be an entry like { key = \"user:1\", db = 0 }, not %s", name, schema.describe(e))
    end
    local o = build(name, options, e, where)
    if o.ttl_ms and o.expire_ms then schema.fail(where, "%s: give ttl_ms or expire_ms, not both", name) end
    local t = o.type or default_type
    out[k] = { key = o.key, db = o.db, kind = t and kind_of[t], ttl_ms = o.ttl_ms, expire_ms = o.expire_ms,
               by = o.by, emitted = o.emitted }
  end
  return out
end

-- t.case "what it shows" { input = ..., expect = ... | expect_error = ..., dropped = ... }
function M.case(name)
  local where = schema.where()
  if type(name) ~= "string" or name == "" then
    schema.fail(where, "rmig.test.case takes a name first: t.case \"keeps users\" { input = ..., expect = ... }")
  end
  local label = string.format("case %q", name)
  return function(fields)
    local o = build(label, case_options, fields, where)
    if o.expect == nil and o.expect_error == nil then
      schema.fail(where, "%s: give expect (the entries that come out) or expect_error", label)
    end
    if o.expect ~= nil and o.expect_error ~= nil then
      schema.fail(where, "%s: give expect or expect_error, not both (a run that aborts has no output)", label)
    end
    local c = { name = name, where = where, expect_error = o.expect_error,
                input = entries(o.input, label .. ": input", where, entry_options, "string") }
    if o.expect then c.expect = entries(o.expect, label .. ": expect", where, entry_options) end
    if o.dropped then
      c.dropped = entries(o.dropped, label .. ": dropped", where, dropped_options)
      for i, d in ipairs(c.dropped) do
        local found = false
        for _, e in ipairs(c.input) do found = found or (e.key == d.key and e.db == d.db) end
        if not found and not d.emitted then
          schema.fail(where, "%s: dropped[%d] names %q in db %d, which is not in input (emitted = true if a node emits it)", label, i, d.key, d.db)
        end
      end
    end
    return setmetatable(c, Case)
  end
end

-- by = position or name: must name one of the suite's nodes.
local function check_by(c, names)
  for i, d in ipairs(c.dropped or {}) do
    local by, ok = d.by, d.by == nil
    if type(by) == "number" then
      ok = by == math.floor(by) and by >= 1 and by <= #names
    elseif type(by) == "string" then
      for _, n in ipairs(names) do ok = ok or n == by end
    end
    if not ok then
      local list = {}
      for k, n in ipairs(names) do list[k] = string.format("%d %s", k, n) end
      schema.fail(c.where, "case %q: dropped[%d].by = %s names no node; the nodes are: %s", c.name, i,
                  schema.describe(by), table.concat(list, ", "))
    end
  end
end

-- t.suite { nodes = ..., t.case "..." { ... }, ... }
function M.suite(s)
  local where = schema.where()
  if type(s) ~= "table" then
    schema.fail(where, "rmig.test.suite takes a table: t.suite { nodes = { ... }, t.case \"...\" { ... } }")
  end
  local named, cases = {}, {}
  for k, v in pairs(s) do
    if type(k) ~= "number" then named[k] = v end
  end
  for i = 1, #s do
    local c = s[i]
    if getmetatable(c) ~= Case then
      schema.fail(where, "rmig.test.suite: item %d is not a case (%s); write t.case \"what it shows\" { input = ..., "
                  .. "expect = ... }", i, type(c) == "function" and "a t.case without its { ... }?" or type(c))
    end
    cases[i] = c
  end
  local o = build("rmig.test.suite", suite_options, named, where)
  local nodes = rmig.node_list(o.nodes, where, "rmig.test.suite")
  if #nodes == 0 then schema.fail(where, "rmig.test.suite: 'nodes' has no node to test") end
  if #cases == 0 then schema.fail(where, "rmig.test.suite: no cases; add t.case \"...\" { input = ..., expect = ... }") end
  local names = {}
  for i, n in ipairs(nodes) do names[i] = rmig.node_label(n) end
  for _, c in ipairs(cases) do check_by(c, names) end
  return setmetatable({ name = o.name, nodes = nodes, names = names, cases = cases, now_ms = o.now_ms,
                        ttl_tolerance_ms = o.ttl_tolerance_ms }, Suite)
end

-- The nodes of a pipeline file, to test them as the pipeline runs them. A
-- relative path is taken from the test file's folder.
function M.nodes_of(path)
  local where = schema.where()
  if type(path) ~= "string" then schema.fail(where, "rmig.test.nodes_of takes a pipeline file's path") end
  if not path:match("^/") and M.dir then path = M.dir .. "/" .. path end
  local p, err = rmig.load(path)
  if not p then schema.fail(where, "rmig.test.nodes_of: %s", err) end
  return p.nodes
end

-- Loads a test file: the suite, or nil and a message naming the file and
-- line. The file's folder is searched first by require, so a team's node
-- beside its test is found without setting LUA_PATH.
function M.load(path)
  M.dir = path:match("^(.*)[/\\]") or "."
  package.path = M.dir .. "/?.lua;" .. package.path
  local ok, res = schema.run_file(path)
  if not ok then return nil, tostring(res) end
  if getmetatable(res) ~= Suite then
    return nil, string.format("%s: the file must return a suite: return rmig.test.suite { nodes = { ... }, "
                              .. "rmig.test.case \"...\" { input = ..., expect = ... } }", path)
  end
  return res
end

-- Whether an error message contains text, taken as it is or as a Lua pattern.
function M.matches(message, text)
  if message:find(text, 1, true) then return true end
  local ok, at = pcall(string.find, message, text)
  return ok and at ~= nil
end

return M
