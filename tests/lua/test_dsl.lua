-- test_dsl.lua - the pipeline DSL checks its options at load time and names
-- the pipeline file and line in every complaint.
--
-- run: LUA_PATH="lua/?.lua;lua/?/init.lua" luajit tests/lua/test_dsl.lua
local rmig = require "rmig"
local schema = require "rmig.schema"

local passed, failed = 0, 0
local function check(name, cond, detail)
  if cond then
    passed = passed + 1
  else
    failed = failed + 1
    print(string.format("not ok - %s: %s", name, tostring(detail)))
  end
end

local tmpdir = os.getenv("TMPDIR") or "/tmp"
local counter = 0

-- Writes a pipeline file and loads it the way rmig does; returns the
-- description, or nil and the error message.
local function load_pipeline(text)
  counter = counter + 1
  local path = string.format("%s/rmig-dsl-%d-%d.lua", tmpdir, os.time(), counter)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  local res, err = rmig.load(path)
  os.remove(path)
  return res, err, path
end

local good = [[
local rmig = require "rmig"
return rmig.pipeline {
  source = rmig.source.rdb { path = "dump.rdb" },
  nodes = {
    rmig.filter.keys { allow = { "user:*", "order:*" }, deny = "*:tmp" },
    rmig.filter.rename { prefix = { ["user:"] = "u:" } },
    rmig.filter.db { map = { [1] = 0 } },
    function(batch) return batch end,
  },
  sink = rmig.sink.redis { addr = "127.0.0.1:6379", tls = { ca_file = "ca.pem" } },
}
]]
local p, err = load_pipeline(good)
check("a valid pipeline loads", p and p.pipeline, err)
if p then
  check("defaults are filled in", p.sink.options.window == 4096 and p.sink.options.mode == "replace",
        p.sink.options.window)
  check("a single string where a list is expected becomes a list", p.nodes[1].options.deny[1] == "*:tmp")
  check("a bare function becomes a Lua node named by its place", p.nodes[4].impl == "lua" and
        p.nodes[4].options.name:match(":8$"), p.nodes[4].options.name)
  check("built-in filters are marked for C", p.nodes[1].impl == "c" and p.nodes[3].impl == "c")
  check("TLS verification is on unless switched off", p.sink.options.tls.verify == true)
  check("each node knows the line it was declared on", p.nodes[2].where:match(":6$"), p.nodes[2].where)
end

local cases = {
  { "a file that returns no pipeline says what it must return",
    [[local rmig = require "rmig"
return 42]],
    "the file must return a pipeline" },
  { "a runtime error in the file names its line",
    [[local rmig = require "rmig"
local x = nil
return x.y]],
    ":3: attempt to index" },
  { "an unknown option names the file, the line and a close match",
    [[local rmig = require "rmig"
return rmig.pipeline {
  source = rmig.source.rdb { path = "x" },
  nodes = { rmig.filter.keys { alow = { "a*" } } },
  sink = rmig.sink.redis { addr = "h:1" } }]],
    ":4: rmig.filter.keys: unknown option 'alow' %(did you mean 'allow'%?%)" },
  { "a wrong type says what was expected",
    [[local rmig = require "rmig"
local s = rmig.sink.redis { addr = "h:1", window = "lots" }]],
    ":2: rmig.sink.redis: option 'window' must be a whole number, not \"lots\"" },
  { "a missing required option is named",
    [[local rmig = require "rmig"
local s = rmig.source.rdb { }]],
    ":2: rmig.source.rdb: option 'path' is required" },
  { "an enum lists its values",
    [[local rmig = require "rmig"
local s = rmig.sink.redis { addr = "h:1", mode = "overwrite" }]],
    "option 'mode' must be one of \"replace\", \"skip%-existing\", \"fail%-on%-existing\"" },
  { "a filter with nothing to do is refused",
    [[local rmig = require "rmig"
local f = rmig.filter.keys { on_error = "skip" }]],
    ":2: rmig.filter.keys: give at least one of allow" },
  { "an address without a port is refused",
    [[local rmig = require "rmig"
local s = rmig.sink.redis { addr = "localhost" }]],
    "option 'addr' must be host:port" },
  { "an unknown type name is refused",
    [[local rmig = require "rmig"
local f = rmig.filter.type { allow = { "strin" } }]],
    "unknown type \"strin\"" },
  { "a pipeline without a sink says what a sink looks like",
    [[local rmig = require "rmig"
return rmig.pipeline { source = rmig.source.rdb { path = "x" } }]],
    ":2: rmig.pipeline: 'sink' must be a sink, e.g. rmig.sink.redis" },
  { "a node that is not a node is named by position",
    [[local rmig = require "rmig"
return rmig.pipeline { source = rmig.source.rdb { path = "x" }, nodes = { 42 },
  sink = rmig.sink.redis { addr = "h:1" } }]],
    "nodes%[1%] is not a node" },
  { "positional options are refused",
    [[local rmig = require "rmig"
local s = rmig.source.rdb { "dump.rdb" }]],
    "options are named %(name = value%)" },
  { "an unknown tls option is refused",
    [[local rmig = require "rmig"
local s = rmig.sink.redis { addr = "h:1", tls = { ca = "x" } }]],
    "unknown tls option 'ca'" },
}
for _, c in ipairs(cases) do
  local res, e = load_pipeline(c[2])
  check(c[1], res == nil and e and e:match(c[3]), e or "loaded without an error")
end

-- a Lua syntax error is reported by loadfile with file:line
local _, e = load_pipeline("local rmig = require 'rmig'\nreturn rmig.pipeline {\n  source = ,\n}\n")
check("a syntax error names the file and line", e and e:match("%.lua:3:"), e)

-- errors are ConfigError values, which callers tell apart from runtime errors
local ok, ce = pcall(rmig.source.rdb, { bogus = 1 })
check("configuration errors are recognisable", not ok and schema.is_config_error(ce), ce)

-- overrides
p = load_pipeline(good)
local r, why = rmig.override(p, "sink.addr=10.0.0.5:6380")
check("-s sink.addr overrides the address", r and p.sink.options.addr == "10.0.0.5:6380", why)
r, why = rmig.override(p, "sink.window=100")
check("-s converts numbers", r and p.sink.options.window == 100, why)
r, why = rmig.override(p, "sink.tls.verify=false")
check("-s reaches into option groups", r and p.sink.options.tls.verify == false, why)
r, why = rmig.override(p, "sink.windw=1")
check("-s with an unknown option says so", not r and why:match("has no option 'windw'"), why)
r, why = rmig.override(p, "sink.window=many")
check("-s with a bad value says what it must be", not r and why:match("must be a number"), why)
r, why = rmig.override(p, "sink.addr=nohostport")
check("-s values are checked like the file's", not r and why:match("host:port"), why)
r, why = rmig.override(p, "nodes=1")
check("-s paths start with source. or sink.", not r and why:match("starts with source"), why)

-- rename with fn: a Lua node (impl "lua") over entries, as rmig.node makes
p, err = load_pipeline([[
local rmig = require "rmig"
local team = { rmig.filter.keys { name = "team keys", allow = "t:*" }, { function(e) end } }
return rmig.pipeline {
  source = rmig.source.rdb { path = "x" },
  nodes = { rmig.filter.rename { fn = function(k) return k:upper() end }, team },
  sink = rmig.sink.redis { addr = "h:1" } }
]])
check("a pipeline with rename fn and a team's list of nodes loads", p, err)
if p then
  local r = p.nodes[1]
  check("rename with fn becomes a Lua node named after its constructor",
        r.impl == "lua" and r.constructor == "rmig.filter.rename" and r.options.name == "rmig.filter.rename"
        and type(r.options.fn) == "function" and r.where:match(":5$"), r.where)
  check("a list of nodes in nodes is flattened in place", #p.nodes == 3 and p.nodes[2].options.name == "team keys"
        and p.nodes[3].impl == "lua", #p.nodes)
  check("built-in nodes take a name", rmig.node_label(p.nodes[2]) == "team keys"
        and rmig.node_label(rmig.filter.db { map = { [1] = 0 } }) == "rmig.filter.db")
  -- the Lua node over stand-ins for an entry and a batch
  local function rename(fn, key)
    local set
    local e = { key = function() return key end }
    local b = { set_key = function(_, _, s) set = s end }
    local ok, why = pcall(rmig.filter.rename { fn = fn }.options.fn, e, b)
    return ok, set, why
  end
  local ok, set = rename(function(k) return "u:" .. k end, "a")
  check("rename fn's result becomes the key", ok and set == "u:a", set)
  ok, set = rename(function() return nil end, "a")
  check("rename fn returning nil keeps the key untouched", ok and set == nil, set)
  ok, set = rename(function(k) return k end, "a")
  check("rename fn returning the same name writes nothing", ok and set == nil, set)
  local why
  ok, set, why = rename(function() return 7 end, "a")
  check("rename fn returning a non-string is an error saying what it must return",
        not ok and tostring(why):match("fn returned 7 %(a number%); it must return the new name"), why)
end
local _, e2 = load_pipeline([[
local rmig = require "rmig"
local r = rmig.filter.rename { fn = function(k) return k end, suffix = { a = "b" } }]])
check("rename with fn and prefix/suffix together is refused, naming the line",
      e2 and e2:match(":2: rmig.filter.rename: give fn or prefix/suffix, not both"), e2)
check("rmig.test is there when asked for", type(rmig.test) == "table" and type(rmig.test.suite) == "function")

print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
