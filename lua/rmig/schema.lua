-- rmig.schema: option tables for pipeline constructors, checked at load time.
--
-- Every constructor (rmig.source.rdb, rmig.filter.keys, rmig.sink.redis, ...)
-- declares its options once: name, type, default, whether required, help.
-- build() checks what a pipeline file passed against that declaration and
-- raises an error that names the pipeline file and line of the call, the
-- constructor and the option ("pipeline.lua:7: rmig.filter.keys: unknown
-- option 'alow' (did you mean 'allow'?)"), so a mistake is found before any
-- byte moves. The same declarations type-check `-s path=value` overrides and
-- describe the options in `rmig check`.

local M = {}

-- The error raised for a bad pipeline: a table, so callers can tell it from a
-- Lua runtime error, with the message already carrying file:line.
local ConfigError = {}
ConfigError.__index = ConfigError
ConfigError.__tostring = function(e) return e.message end
M.ConfigError = ConfigError

function M.is_config_error(e)
  return getmetatable(e) == ConfigError
end

-- Where the constructor was called from: the first stack frame outside this
-- library. A call in tail position (`return rmig.pipeline { ... }`) leaves no
-- frame of its caller; then the line the loader last saw run in the pipeline
-- file is used (rmig.load tracks it with a line hook).
M.fallback = nil

function M.where()
  local level = 2
  while true do
    local info = debug.getinfo(level, "Sl")
    if not info or info.what == "C" or info.what == "tail" then
      return M.fallback and M.fallback() or "?"
    end
    local src = info.source or "?"
    if not src:find("rmig[/\\]schema%.lua$") and not src:find("rmig[/\\]init%.lua$")
        and not src:find("rmig[/\\]test%.lua$") then
      if src:sub(1, 1) == "@" then src = src:sub(2) end
      return string.format("%s:%d", src, info.currentline or 0)
    end
    level = level + 1
  end
end

function M.fail(where, fmt, ...)
  error(setmetatable({ message = where .. ": " .. string.format(fmt, ...) }, ConfigError), 0)
end

-- Edit distance, for "did you mean".
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

local function suggest(name, options)
  local best, bestd
  for k in pairs(options) do
    local d = distance(name, k)
    if d <= 2 and (not bestd or d < bestd or (d == bestd and k < best)) then best, bestd = k, d end
  end
  return best and string.format(" (did you mean '%s'?)", best) or ""
end

local function sorted_names(options)
  local names = {}
  for k in pairs(options) do names[#names + 1] = k end
  table.sort(names)
  return table.concat(names, ", ")
end

-- Types: "string", "integer", "number", "boolean", "function", "table",
-- "strings" (a string or a list of strings, kept as a list), "enum" (one of
-- spec.values), "map" (a table of key -> value), "integer map" (integer keys
-- and values), "string map", "any" (checked by the caller).
local checkers = {}

function checkers.any() return true end

function checkers.string(v) return type(v) == "string", "a string" end
function checkers.boolean(v) return type(v) == "boolean", "true or false" end
function checkers.number(v) return type(v) == "number", "a number" end
function checkers.integer(v)
  return type(v) == "number" and v == math.floor(v) and v > -2^53 and v < 2^53, "a whole number"
end
checkers["function"] = function(v) return type(v) == "function", "a function" end
function checkers.table(v) return type(v) == "table", "a table" end

function checkers.strings(v)
  if type(v) == "string" then return true end
  if type(v) ~= "table" then return false, "a string or a list of strings" end
  local n = 0
  for k, x in pairs(v) do
    n = n + 1
    if type(k) ~= "number" or type(x) ~= "string" then return false, "a list of strings" end
  end
  if n ~= #v then return false, "a list of strings (with no holes)" end
  return true
end

checkers["string map"] = function(v)
  if type(v) ~= "table" then return false, "a table of strings to strings" end
  for k, x in pairs(v) do
    if type(k) ~= "string" or type(x) ~= "string" then return false, "a table of strings to strings" end
  end
  return true
end

checkers["integer map"] = function(v)
  if type(v) ~= "table" then return false, "a table of numbers to numbers" end
  for k, x in pairs(v) do
    if not (checkers.integer(k) and checkers.integer(x)) then
      return false, "a table of whole numbers to whole numbers"
    end
  end
  return true
end

local function check_value(spec, v)
  if spec.type == "enum" then
    for _, allowed in ipairs(spec.values) do
      if v == allowed then return true end
    end
    local quoted = {}
    for i, allowed in ipairs(spec.values) do quoted[i] = string.format("%q", allowed) end
    return false, "one of " .. table.concat(quoted, ", ")
  end
  local ok, what = checkers[spec.type](v)
  if ok and spec.min and v < spec.min then return false, string.format("at least %s", spec.min) end
  if ok and spec.max and v > spec.max then return false, string.format("at most %s", spec.max) end
  return ok, what
end

local function describe(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

-- Checks opts against spec and returns a node description:
--   { constructor = spec.name, kind = spec.kind, impl = spec.impl,
--     options = {...checked, with defaults...}, where = "file:line" }
-- where defaults to the caller's place (M.where); rmig.test passes the line
-- of a case, which its nested tables have no line of their own to give.
function M.build(spec, opts, where)
  where = where or M.where()
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    M.fail(where, "%s takes a table of options, e.g. %s { ... }, not %s", spec.name, spec.name, type(opts))
  end
  local out = {}
  for k, v in pairs(opts) do
    if type(k) ~= "string" then
      M.fail(where, "%s: options are named (name = value); got a positional value %s", spec.name, describe(v))
    end
    local o = spec.options[k]
    if not o then
      M.fail(where, "%s: unknown option '%s'%s; its options are: %s", spec.name, k,
             suggest(k, spec.options), sorted_names(spec.options))
    end
    local ok, what = check_value(o, v)
    if not ok then
      M.fail(where, "%s: option '%s' must be %s, not %s", spec.name, k, what, describe(v))
    end
    if o.type == "strings" and type(v) == "string" then v = { v } end
    out[k] = v
  end
  for k, o in pairs(spec.options) do
    if out[k] == nil then
      if o.required then
        M.fail(where, "%s: option '%s' is required (%s)", spec.name, k, o.help or o.type)
      end
      if o.default ~= nil then out[k] = o.default end
    end
  end
  if spec.check then
    local problem = spec.check(out)
    if problem then M.fail(where, "%s: %s", spec.name, problem) end
  end
  return { constructor = spec.name, kind = spec.kind, impl = spec.impl, spec = spec, options = out,
           where = where }
end

-- Converts the text of a `-s path=value` override to the option's type.
function M.convert(spec_option, text)
  local t = spec_option.type
  if t == "string" or t == "enum" then return text end
  if t == "integer" or t == "number" then
    local n = tonumber(text)
    if n == nil then return nil, "a number" end
    return n
  end
  if t == "boolean" then
    if text == "true" or text == "yes" or text == "1" then return true end
    if text == "false" or text == "no" or text == "0" then return false end
    return nil, "true or false"
  end
  if t == "strings" then
    local list = {}
    for part in text:gmatch("[^,]+") do list[#list + 1] = part end
    return list
  end
  return nil, "set in the pipeline file (it is a " .. t .. ")"
end

-- Runs a Lua file (a pipeline, a test file) and returns true and what it
-- returned, or false and a message naming the file and line: a syntax error,
-- a bad option (a ConfigError, kept as it is), a runtime error (with a
-- traceback). A line hook tracks the last line run in the file, so a
-- constructor called in tail position still has a line (see M.where). The
-- caller's hook and fallback are put back afterwards, so one file may load
-- another (a test file loads a pipeline's nodes with rmig.test.nodes_of).
function M.run_file(path)
  local chunk, err = loadfile(path)
  if not chunk then return false, err end
  local src, last = "@" .. path, 0
  local old_hook, old_mask, old_count = debug.gethook()
  local old_fallback = M.fallback
  debug.sethook(function(_, line)
    if debug.getinfo(2, "S").source == src then last = line end
  end, "l")
  M.fallback = function() return string.format("%s:%d", path, last) end
  local ok, res = xpcall(chunk, function(e)
    if M.is_config_error(e) then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if old_hook then debug.sethook(old_hook, old_mask, old_count) else debug.sethook() end
  M.fallback = old_fallback
  return ok, res
end

M.check_value = check_value
M.describe = describe

return M
