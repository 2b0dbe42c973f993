-- rmig: the pipeline DSL. A pipeline file returns
--
--   local rmig = require "rmig"
--   return rmig.pipeline {
--     source = rmig.source.rdb { path = os.getenv("RDB") or "dump.rdb" },
--     nodes  = { rmig.filter.keys { allow = { "user:*" } }, require("team_a") },
--     sink   = rmig.sink.redis { addr = "127.0.0.1:6379" },
--   }
--
-- Every constructor checks its options at once against its declaration
-- (rmig.schema), so an unknown option, a wrong type or a missing required
-- value is an error naming the pipeline file and line before anything runs.
-- The result is a plain description; the C core reads it to build the
-- pipeline. Built-in filters are declared here and executed in C; custom
-- nodes are Lua functions over batches of entries (rmig.node).

local schema = require "rmig.schema"

local rmig = { version = "0.1.0", source = {}, filter = {}, sink = {} }

local on_error = { type = "enum", values = { "abort", "skip", "pass" }, default = "abort",
                   help = "what an error in this node does to the entry: abort the run, skip (drop) the entry, pass it on unchanged" }
local node_name = { type = "string", help = "shown in errors, counters, `rmig check` and `rmig test`" }

local function constructor(spec)
  return function(opts) return schema.build(spec, opts) end
end

-- Sources ------------------------------------------------------------------

rmig.source.rdb = constructor {
  name = "rmig.source.rdb", kind = "source", impl = "c",
  options = {
    path = { type = "string", required = true, help = "an RDB file, '-' for stdin; .lz4 files are read too" },
    verify_crc = { type = "boolean", default = true, help = "check the file's CRC64 trailer" },
    max_record = { type = "integer", min = 1024, help = "largest key, blob or string held whole (bytes)" },
  },
}

-- tls_options is shared by the sources and sinks that speak to servers
local tls_options = {
  ca_file = { type = "string", help = "CA certificates (PEM) to verify the server" },
  cert_file = { type = "string", help = "client certificate (PEM)" },
  key_file = { type = "string", help = "client key (PEM)" },
  server_name = { type = "string", help = "SNI and certificate name; default: the host of addr" },
  verify = { type = "boolean", default = true, help = "verify the server certificate" },
}

-- addr, password/password_env and tls, checked the same way for every endpoint
local function check_credentials(o)
  if o.password and o.password_env then return "give password or password_env, not both" end
  if o.tls then
    for k, v in pairs(o.tls) do
      local f = tls_options[k]
      if not f then return string.format("unknown tls option '%s'", tostring(k)) end
      local ok, what = schema.check_value(f, v)
      if not ok then return string.format("tls option '%s' must be %s", k, what) end
    end
    if o.tls.verify == nil then o.tls.verify = true end
  end
end

local function check_endpoint(o)
  if not o.addr:match("^%[?[%w%.%-:]+%]?:%d+$") then
    return string.format("option 'addr' must be host:port, not %q", o.addr)
  end
  return check_credentials(o)
end

-- The options of a server endpoint (addr, credentials, TLS) with a node's
-- own ones; check_endpoint checks them.
local function with_endpoint(what, own)
  own.addr = { type = "string", required = true, help = "host:port of the " .. what }
  own.user = { type = "string", help = "ACL user" }
  own.password = { type = "string", secret = true, help = "password (prefer password_env)" }
  own.password_env = { type = "string", help = "name of the environment variable holding the password" }
  own.tls = { type = "table", fields = tls_options, help = "TLS settings; present means TLS is on" }
  return own
end

-- rmig.source.psync: rmig joins a live master as its replica, applies the
-- snapshot, then the command stream until it is stopped (SIGINT/SIGTERM).
-- The options of a source read like a replica (rmig.source.psync, and each
-- master of rmig.source.cluster); `each` words the per-master ones.
local function replica_options(what, each, own)
  own.spool_memory = { type = "integer", min = 65536, default = 32 * 1024 * 1024,
                       help = "bytes of " .. each .. "stream held in memory before they are spooled to disk" }
  own.spool_budget = { type = "integer", min = 1048576, default = 16 * 1024 * 1024 * 1024,
                       help = "disk " .. each .. "spool may use (compressed bytes); past it the run stops rather than fall behind" }
  own.psync_command = { type = "string", default = "PSYNC", help = "the name of PSYNC on the source (managed services rename it)" }
  own.sync_command = { type = "string", default = "SYNC", help = "the name of SYNC on the source (for servers without PSYNC)" }
  own.timeout_s = { type = "integer", min = 1, default = 60, help = "silence from the source that counts as a lost connection" }
  own.retry_deadline_s = { type = "integer", min = 1, default = 300,
                           help = "how long a lost source connection is retried before the run fails" }
  return with_endpoint(what, own)
end

rmig.source.psync = constructor {
  name = "rmig.source.psync", kind = "source", impl = "c",
  options = replica_options("source master", "the ", {
    state = { type = "string",
              help = "state file (replication id, offset, db), saved as the stream is applied; a run started again with it resumes with a partial resync" },
    spool_dir = { type = "string", help = "where the spool's lz4 segments go (default: beside the state file, else ./rmig-spool)" },
  }),
  check = check_endpoint,
}

rmig.source.scan = constructor {
  name = "rmig.source.scan", kind = "source", impl = "c",
  options = with_endpoint("source server (of a cluster: any node, and every master is read)", {
    dbs = { type = "table", help = "the dbs to read (default: every db the source's INFO keyspace lists; with live, every db)" },
    match = { type = "string", help = "SCAN MATCH pattern: only keys matching it are read (and followed, with live)" },
    count = { type = "integer", min = 1, default = 1000, help = "SCAN COUNT, and the elements asked per chunk of a big key" },
    rate = { type = "integer", min = 0, default = 0, help = "keys per second at most from each source server (0: no limit), to spare a busy source" },
    live = { type = "boolean", default = false,
             help = "follow changes: keyspace notifications are subscribed before the scan, every notified key is read again (a key gone becomes a DEL), until SIGINT/SIGTERM" },
    notify = { type = "enum", values = { "set", "require" }, default = "set",
               help = "live: set turns on the notify-keyspace-events flags it needs (CONFIG SET) and puts the old value back at the end; require never changes the source and stops when they are off" },
    big_bytes = { type = "integer", min = 0, default = 8 * 1024 * 1024,
                  help = "a key using more memory than this on the source (MEMORY USAGE) is copied in chunks (HSCAN, SSCAN, ZSCAN, LRANGE, XRANGE, GETRANGE) rather than by one DUMP; 0: always DUMP" },
    cluster = { type = "boolean", help = "read every master of the cluster addr belongs to (default: when addr is a cluster node); false reads addr alone" },
    state = { type = "string",
              help = "state file: the scan cursors, saved every 5 s and when stopped; a run started again with it resumes the scan where it was (live runs scan again from the start: changes made meanwhile were not seen)" },
  }),
  check = check_endpoint,
}

rmig.source.cluster = constructor {
  name = "rmig.source.cluster", kind = "source", impl = "c",
  options = replica_options("source cluster (any node)", "each master's ", {
    mode = { type = "enum", values = { "psync", "rdb-per-node" }, default = "psync",
             help = "psync: every master's snapshot then its command stream, until stopped; rdb-per-node: every master's snapshot only, then the run ends" },
    state = { type = "string",
              help = "state file prefix: each master's position is saved in STATE.<host>_<port>, from which a run started again resumes" },
    spool_dir = { type = "string", help = "where the spools go, one directory per master (default: beside the state files, else ./rmig-spool)" },
  }),
  check = check_endpoint,
}

-- rmig.source.twemproxy: every backend of a nutcracker pool, read in
-- parallel as one source (a proxy cannot be read through: no SYNC, no SCAN).
-- The pool's redis_db on each backend is what its clients see: its keys
-- arrive as db 0, other dbs are not read (psync: dropped).
local twemproxy_options = replica_options("backends", "each backend's ", {
  config = { type = "string", required = true, help = "the nutcracker.yml to read the pool from" },
  pool = { type = "string", help = "the pool's name (may be left out when the file has one pool)" },
  mode = { type = "enum", values = { "psync", "scan" }, default = "psync",
           help = "psync: each backend's snapshot then its command stream (as rmig.source.psync), until stopped; scan: SCAN + DUMP of each backend (as rmig.source.scan)" },
  state = { type = "string",
            help = "state file prefix: each backend's position (psync) is saved in STATE.<host>_<port>; scan: the cursors of every backend" },
  spool_dir = { type = "string", help = "psync: where the spools go, one directory per backend" },
  match = { type = "string", help = "scan: SCAN MATCH pattern" },
  count = { type = "integer", min = 1, default = 1000, help = "scan: SCAN COUNT, and the elements asked per chunk of a big key" },
  rate = { type = "integer", min = 0, default = 0, help = "scan: keys per second at most from each backend (0: no limit)" },
  live = { type = "boolean", default = false, help = "scan: follow changes by keyspace notifications (see rmig.source.scan)" },
  notify = { type = "enum", values = { "set", "require" }, default = "set", help = "scan, live: as rmig.source.scan's notify" },
  big_bytes = { type = "integer", min = 0, default = 8 * 1024 * 1024, help = "scan: keys using more memory are copied in chunks (see rmig.source.scan)" },
})
twemproxy_options.addr = nil
twemproxy_options.password.help = "the backends' password (default: the pool's redis_auth)"

rmig.source.twemproxy = constructor {
  name = "rmig.source.twemproxy", kind = "source", impl = "c",
  options = twemproxy_options,
  check = check_credentials,
}

-- rmig.source.codis: every group master of a Codis deployment (each a
-- codis-server, replicating as Redis 3.2), read in parallel as one source;
-- Codis's own commands in their streams (SLOTSRESTORE ...) are translated.
local codis_options = replica_options("group masters", "each group master's ", {
  groups = { type = "table", help = "the group masters, { \"host:port\", ... } (or give topology)" },
  topology = { type = "string", help = "a topology file: a short YAML (groups:, slots:) or codis-admin's JSON (--slots-status, stats), which gives each group's master (and may give its password)" },
  mode = { type = "enum", values = { "psync", "scan" }, default = "psync",
           help = "psync: each master's snapshot then its command stream, until stopped; scan: SCAN + DUMP of each master" },
  state = { type = "string",
            help = "state file prefix: each master's position (psync) is saved in STATE.<host>_<port>; scan: the cursors" },
  spool_dir = { type = "string", help = "psync: where the spools go, one directory per master" },
  match = { type = "string", help = "scan: SCAN MATCH pattern" },
  count = { type = "integer", min = 1, default = 1000, help = "scan: SCAN COUNT" },
  rate = { type = "integer", min = 0, default = 0, help = "scan: keys per second at most from each master (0: no limit)" },
  big_bytes = { type = "integer", min = 0, default = 8 * 1024 * 1024, help = "scan: keys using more memory are copied in chunks" },
})
codis_options.addr = nil
codis_options.password.help = "the masters' password (default: the topology's, if any)"

rmig.source.codis = constructor {
  name = "rmig.source.codis", kind = "source", impl = "c",
  options = codis_options,
  check = function(o)
    if (o.groups == nil) == (o.topology == nil) then return "give groups = { \"host:port\", ... } or topology = FILE (one of them)" end
    for i, g in ipairs(o.groups or {}) do
      if type(g) ~= "string" or not g:match("^%[?[%w%.%-:]+%]?:%d+$") then
        return string.format("groups[%d] must be \"host:port\", not %s", i, tostring(g))
      end
    end
    return check_credentials(o)
  end,
}

-- Built-in filters (executed in C) -----------------------------------------

rmig.filter.keys = constructor {
  name = "rmig.filter.keys", kind = "filter", impl = "c",
  options = {
    allow = { type = "strings", help = "globs (Redis MATCH syntax): a key must match one" },
    deny = { type = "strings", help = "globs: a key matching one is dropped" },
    prefix = { type = "strings", help = "a key must start with one of these" },
    suffix = { type = "strings", help = "a key must end with one of these" },
    regex = { type = "strings", help = "POSIX extended regular expressions: a key must match one" },
    name = node_name,
    on_error = on_error,
  },
  check = function(o)
    if not (o.allow or o.deny or o.prefix or o.suffix or o.regex) then
      return "give at least one of allow, deny, prefix, suffix, regex"
    end
  end,
}

local rename_spec = {
  name = "rmig.filter.rename", kind = "filter", impl = "c",
  options = {
    prefix = { type = "string map", help = "old prefix -> new prefix, e.g. { [\"user:\"] = \"u:\" }" },
    suffix = { type = "string map", help = "old suffix -> new suffix" },
    fn = { type = "function", help = "function(key) returning the new name, or nil to keep it (runs in Lua)" },
    name = node_name,
    on_error = on_error,
  },
  check = function(o)
    if not (o.prefix or o.suffix or o.fn) then return "give prefix, suffix or fn" end
    if o.fn and (o.prefix or o.suffix) then
      return "give fn or prefix/suffix, not both (two rename nodes in a row do both)"
    end
  end,
}

-- rename { fn = ... } cannot run in C: it becomes a Lua node (the shape
-- rmig.node makes) that asks fn for each key's new name. Only a name that
-- differs is written, so keys fn leaves alone cost no arena copy.
local function rename_node(fn)
  return function(e, b)
    local key = e:key()
    local new = fn(key)
    if new == nil or new == false or new == key then return end
    if type(new) ~= "string" then
      error(string.format("fn returned %s (a %s); it must return the new name (a string), or nil to keep the key",
                          tostring(new), type(new)), 0)
    end
    b:set_key(e, new)
  end
end

function rmig.filter.rename(opts)
  local node = schema.build(rename_spec, opts)
  if node.options.fn then
    node.impl = "lua"
    node.options.fn = rename_node(node.options.fn)
    node.options.name = node.options.name or "rmig.filter.rename"
  end
  return node
end

rmig.filter.db = constructor {
  name = "rmig.filter.db", kind = "filter", impl = "c",
  options = {
    allow = { type = "table", help = "a list of database numbers to keep" },
    map = { type = "integer map", help = "source db -> target db, e.g. { [1] = 0 }" },
    name = node_name,
    on_error = on_error,
  },
  check = function(o)
    if not (o.allow or o.map) then return "give allow, map or both" end
    if o.allow then
      for i, db in pairs(o.allow) do
        if type(i) ~= "number" or not schema.check_value({ type = "integer" }, db) or db < 0 then
          return "option 'allow' must be a list of database numbers"
        end
      end
    end
  end,
}

local kinds = { "string", "list", "set", "zset", "hash", "stream", "module" }
rmig.types = kinds -- in the order of enum rmig_rdb_kind (rdb.h), from 0

rmig.filter.type = constructor {
  name = "rmig.filter.type", kind = "filter", impl = "c",
  options = {
    allow = { type = "strings", help = "types to keep: " .. table.concat(kinds, ", ") },
    deny = { type = "strings", help = "types to drop" },
    name = node_name,
    on_error = on_error,
  },
  check = function(o)
    if not (o.allow or o.deny) then return "give allow or deny" end
    for _, list in ipairs({ o.allow or {}, o.deny or {} }) do
      for _, t in ipairs(list) do
        local known = false
        for _, k in ipairs(kinds) do known = known or k == t end
        if not known then
          return string.format("unknown type %q (the types are %s)", t, table.concat(kinds, ", "))
        end
      end
    end
  end,
}

rmig.filter.ttl = constructor {
  name = "rmig.filter.ttl", kind = "filter", impl = "c",
  options = {
    drop_expired = { type = "boolean", default = true, help = "drop keys whose expiry has passed" },
    keys_without_ttl = { type = "enum", values = { "keep", "drop" }, default = "keep" },
    remove = { type = "boolean", default = false, help = "write every key without a TTL" },
    shift_ms = { type = "integer", help = "add this much to every expiry" },
    max_ms = { type = "integer", min = 1, help = "cap TTLs at this many ms from now" },
    default_ms = { type = "integer", min = 1, help = "give keys without a TTL this one" },
    min_ms = { type = "integer", min = 1,
               help = "drop keys that expire within this many ms from now (gone before anyone reads them)" },
    name = node_name,
    on_error = on_error,
  },
}

rmig.filter.commands = constructor {
  name = "rmig.filter.commands", kind = "filter", impl = "c",
  options = {
    allow = { type = "strings", help = "command names (any case): only these go on" },
    deny = { type = "strings", help = "command names dropped; a live source without a commands node drops FLUSHALL and FLUSHDB" },
    name = node_name,
    on_error = on_error,
  },
  check = function(o)
    if not (o.allow or o.deny) then return "give allow or deny (lists of command names)" end
  end,
}

-- Custom nodes -------------------------------------------------------------

-- rmig.node { name = "team_a", fn = function(batch) ... end }: a Lua node run
-- once per batch. A bare function in `nodes` is the same with its own name.
rmig.node = constructor {
  name = "rmig.node", kind = "filter", impl = "lua",
  options = {
    name = node_name,
    fn = { type = "function", required = true,
           help = "function(e, batch) over each entry; returning false drops it (see rmig.batch)" },
    on_error = on_error,
  },
}

-- Sinks --------------------------------------------------------------------


-- The options every Redis writer takes (rmig.sink.redis, rmig.sink.cluster),
-- with a sink's own ones; `per` says what window and window_bytes count.
local function writer_options(own, per, retried)
  own.mode = { type = "enum", values = { "replace", "skip-existing", "fail-on-existing" }, default = "replace" }
  own.restore = { type = "enum", values = { "auto", "always", "never" }, default = "auto",
                  help = "RESTORE payloads (auto: when the target's RDB version allows) or native commands" }
  own.window = { type = "integer", min = 1, default = 4096, help = "commands in flight at most" .. per }
  own.window_bytes = { type = "integer", min = 1024, default = 8 * 1024 * 1024,
                       help = "bytes in flight at most" .. per .. " (rmig holds about four times this)" }
  own.chunk_bytes = { type = "integer", min = 1024, default = 8 * 1024 * 1024,
                      help = "values bigger than this go out in chunks" }
  own.on_error = { type = "enum", values = { "abort", "continue" }, default = "continue",
                   help = "what a target error on one key does" }
  own.dead_letter = { type = "string", help = "file for the commands the target refused (RESP, replayable)" }
  own.retry_deadline_s = { type = "integer", min = 0, default = 300,
                           help = "how long " .. retried .. " is retried before the run fails" }
  return with_endpoint("target", own)
end

rmig.sink.redis = constructor {
  name = "rmig.sink.redis", kind = "sink", impl = "c",
  options = writer_options({
    exactly_once = { type = "boolean", default = false,
                     help = "live sources: apply the stream in MULTI/EXEC batches with a checkpoint key, so no command runs twice after a crash (standalone targets)" },
    checkpoint_key = { type = "string", default = "rmig:checkpoint",
                       help = "with exactly_once: the key (db 0 of the target) holding the applied position" },
  }, "", "a lost connection"),
  check = check_endpoint,
}

rmig.sink.cluster = constructor {
  name = "rmig.sink.cluster", kind = "sink", impl = "c",
  options = writer_options({
    dbs = { type = "enum", values = { "error", "merge", "prefix" }, default = "error",
            help = "keys of a source db other than 0 (a cluster has only db 0): an error unless a rmig.filter.db maps them, merged into db 0, or prefixed (db_prefix)" },
    db_prefix = { type = "string", default = "db%d:",
                  help = "with dbs = \"prefix\": the prefix of a key from db N (%d is N)" },
    multi = { type = "enum", values = { "split", "fail" }, default = "split",
              help = "live sources: a MULTI/EXEC whose keys span slots goes command by command (split) or is reported failed (fail)" },
  }, ", per master", "a lost connection, TRYAGAIN, CLUSTERDOWN or LOADING"),
  check = function(o)
    local why = check_endpoint(o)
    if why then return why end
    if o.dbs == "prefix" and not (o.db_prefix or "db%d:"):find("%%d") then
      return "db_prefix must contain %d (the source db), e.g. \"db%d:\""
    end
  end,
}

-- rmig.sink.twemproxy: a nutcracker pool, written through its proxy (plain
-- commands and RESTORE, which nutcracker forwards) or, with direct = true,
-- straight to its backends, each key on the backend nutcracker's own
-- placement gives it (its hash, distribution, hash_tag, weights and names),
-- in the pool's redis_db.
local twemproxy_sink_options = writer_options({
  config = { type = "string", required = true, help = "the nutcracker.yml to read the pool from" },
  pool = { type = "string", help = "the pool's name (may be left out when the file has one pool)" },
  direct = { type = "boolean", default = false,
             help = "write to the backends themselves, placing each key as nutcracker does (true), or through the proxy (false)" },
  dbs = { type = "enum", values = { "error", "merge", "prefix" }, default = "error",
          help = "keys of a source db other than 0 (a pool has one keyspace): an error unless a rmig.filter.db maps them, merged, or prefixed (db_prefix)" },
  db_prefix = { type = "string", default = "db%d:", help = "with dbs = \"prefix\": the prefix of a key from db N" },
}, ", per backend (direct) or to the proxy", "a lost connection")
twemproxy_sink_options.addr = { type = "string", help = "the proxy's host:port (default: the pool's listen address)" }
twemproxy_sink_options.password.help = "the password (default: the pool's redis_auth)"

rmig.sink.twemproxy = constructor {
  name = "rmig.sink.twemproxy", kind = "sink", impl = "c",
  options = twemproxy_sink_options,
  check = function(o)
    if o.addr and not o.addr:match("^%[?[%w%.%-:]+%]?:%d+$") then
      return string.format("option 'addr' must be host:port, not %q", o.addr)
    end
    if o.addr and o.direct then return "addr is the proxy's: give it only with direct = false" end
    return check_credentials(o)
  end,
}

-- rmig.sink.codis: a Codis deployment's group masters, each key written to
-- the group its slot belongs to (crc32 of its tag or name % 1024, then the
-- topology's slot table), as the proxy would route it; or, with proxy, its
-- codis-proxy (which refuses RESTORE: payloads go as SLOTSRESTORE).
local codis_sink_options = writer_options({
  topology = { type = "string", help = "a topology file: a short YAML (groups:, slots:) or codis-admin's JSON (--slots-status, stats); needed to write to the group masters and by rmig verify" },
  proxy = { type = "string", help = "a codis-proxy's host:port: write through it (SLOTSRESTORE and plain commands) instead of to the group masters" },
  dbs = { type = "enum", values = { "error", "merge", "prefix" }, default = "error",
          help = "keys of a source db other than 0 (Codis uses db 0): an error unless a rmig.filter.db maps them, merged, or prefixed (db_prefix)" },
  db_prefix = { type = "string", default = "db%d:", help = "with dbs = \"prefix\": the prefix of a key from db N" },
}, ", per group master", "a lost connection")
codis_sink_options.addr = nil
codis_sink_options.password.help = "the group masters' password (default: the topology's first group's), or with proxy the proxy's session_auth"

rmig.sink.codis = constructor {
  name = "rmig.sink.codis", kind = "sink", impl = "c",
  options = codis_sink_options,
  check = function(o)
    if not o.topology and not o.proxy then
      return "give topology = FILE (write to the group masters) or proxy = \"host:port\" (write through a codis-proxy)"
    end
    if o.proxy and not o.proxy:match("^%[?[%w%.%-:]+%]?:%d+$") then
      return string.format("option 'proxy' must be host:port, not %q", o.proxy)
    end
    if o.proxy and o.mode ~= "replace" then
      return "a codis-proxy takes SLOTSRESTORE, which always replaces a key: use mode = \"replace\" with proxy"
    end
    return check_credentials(o)
  end,
}

-- The pipeline -------------------------------------------------------------

local function is_node(x, kind)
  return type(x) == "table" and x.kind == kind and x.constructor ~= nil
end

-- A plain list: a table whose keys are all numbers (possibly none).
local function is_list(x)
  if type(x) ~= "table" or getmetatable(x) ~= nil then return false end
  for k in pairs(x) do
    if type(k) ~= "number" then return false end
  end
  return true
end

-- The nodes of a pipeline (or of a test suite) as one flat list. An item is
-- a node (rmig.filter.keys { ... }, rmig.node { ... }), a bare function (a
-- Lua node named by where it is defined), or a list of items: what a team's
-- module returns, so that `nodes = { require("team_a") }` works whether
-- team_a is one node or several. what names the caller in messages.
function rmig.node_list(items, where, what)
  local out = {}
  local function add(n, label)
    if type(n) == "function" then
      local info = debug.getinfo(n, "S")
      local at = string.format("%s:%d", (info.source or "?"):gsub("^@", ""), info.linedefined or 0)
      out[#out + 1] = { constructor = "rmig.node", kind = "filter", impl = "lua",
                        options = { fn = n, name = at, on_error = "abort" }, where = at }
    elseif is_node(n, "filter") then
      out[#out + 1] = n
    elseif is_list(n) then
      for i, x in ipairs(n) do add(x, string.format("%s[%d]", label, i)) end
    else
      local got = type(n) == "table" and n.constructor and string.format("%s (a %s)", n.constructor, tostring(n.kind))
      schema.fail(where, "%s: %s is not a node (a filter like rmig.filter.keys { ... }, "
                  .. "rmig.node { fn = ... }, a function, or a list of those); got %s", what, label, got or type(n))
    end
  end
  add(items, "nodes")
  return out
end

-- The name a node goes by in counters, `rmig check` and `rmig test`.
function rmig.node_label(n)
  return n.options and n.options.name or n.constructor
end

function rmig.pipeline(p)
  local where = schema.where()
  if type(p) ~= "table" then
    schema.fail(where, "rmig.pipeline takes a table: rmig.pipeline { source = ..., nodes = { ... }, sink = ... }")
  end
  for k in pairs(p) do
    if k ~= "source" and k ~= "nodes" and k ~= "sink" and k ~= "name" and k ~= "verify" then
      schema.fail(where, "rmig.pipeline: unknown field '%s' (it takes source, nodes, sink, name, verify)", tostring(k))
    end
  end
  if not is_node(p.source, "source") then
    schema.fail(where, "rmig.pipeline: 'source' must be a source, e.g. rmig.source.rdb { path = \"dump.rdb\" }")
  end
  if not is_node(p.sink, "sink") then
    schema.fail(where, "rmig.pipeline: 'sink' must be a sink, e.g. rmig.sink.redis { addr = \"127.0.0.1:6379\" }")
  end
  if p.nodes ~= nil and type(p.nodes) ~= "table" then
    schema.fail(where, "rmig.pipeline: 'nodes' must be a list of nodes")
  end
  local nodes = rmig.node_list(p.nodes or {}, where, "rmig.pipeline")
  if p.verify ~= nil and type(p.verify) ~= "boolean" then
    schema.fail(where, "rmig.pipeline: 'verify' must be true or false (true: rmig run checks the target afterwards, as rmig verify does)")
  end
  return { pipeline = true, name = p.name, source = p.source, nodes = nodes, sink = p.sink, where = where,
           verify = p.verify }
end

-- `-s path=value` overrides: "source.path=/tmp/x.rdb", "sink.addr=10.0.0.5:6379",
-- "sink.tls.ca_file=ca.pem". The value is converted to the option's type.
function rmig.override(pipeline, assignment)
  local path, text = assignment:match("^([%w_%.]+)=(.*)$")
  if not path then
    return nil, string.format("-s %s: expected path=value, e.g. -s sink.addr=10.0.0.5:6379", assignment)
  end
  local parts = {}
  for part in path:gmatch("[^%.]+") do parts[#parts + 1] = part end
  local node = pipeline[parts[1]]
  if parts[1] ~= "source" and parts[1] ~= "sink" or #parts < 2 then
    return nil, string.format("-s %s: the path starts with source. or sink.", assignment)
  end
  local opts, fields = node.options, node.spec.options
  for i = 2, #parts - 1 do
    local f = fields[parts[i]]
    if not f or not f.fields then
      return nil, string.format("-s %s: %s has no option group '%s'", assignment, node.constructor, parts[i])
    end
    opts[parts[i]] = opts[parts[i]] or {}
    opts, fields = opts[parts[i]], f.fields
  end
  local name = parts[#parts]
  local f = fields[name]
  if not f then
    return nil, string.format("-s %s: %s has no option '%s'%s", assignment, node.constructor, name, "")
  end
  local v, why = schema.convert(f, text)
  if v == nil then return nil, string.format("-s %s: '%s' must be %s", assignment, name, why) end
  local ok, what = schema.check_value(f, v)
  if not ok then return nil, string.format("-s %s: '%s' must be %s", assignment, name, what) end
  opts[name] = v
  if node.spec.check then
    local problem = node.spec.check(node.options)
    if problem then return nil, string.format("-s %s: %s: %s", assignment, node.constructor, problem) end
  end
  return true
end

-- Loads a pipeline file: its description, or nil and a message naming the
-- file and line (a syntax error, a bad option, a runtime error in the file, a
-- file that does not return a pipeline, a bad override).
function rmig.load(path, overrides)
  local ok, res = schema.run_file(path)
  if not ok then return nil, tostring(res) end
  if type(res) ~= "table" or not res.pipeline then
    return nil, string.format("%s: the file must return a pipeline: return rmig.pipeline { source = ..., sink = ... }",
                              path)
  end
  for _, o in ipairs(overrides or {}) do
    local applied, why = rmig.override(res, o)
    if not applied then return nil, why end
  end
  return res
end

-- rmig.test (the format of `rmig test` files) is loaded when first used:
-- pipelines never pay for it.
return setmetatable(rmig, {
  __index = function(t, k)
    if k == "test" then
      local m = require "rmig.test"
      rawset(t, "test", m)
      return m
    end
  end,
})
