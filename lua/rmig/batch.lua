-- rmig.batch: Lua nodes over batches, through FFI views of the C structs.
--
-- A Lua node is a function over one entry: fn(e, batch). It reads e.db,
-- e.type, e.expire_ms, e:key() (a Lua string, made only when asked),
-- e:has_prefix(s), e:has_suffix(s), e:match(glob), and changes the entry with
-- batch:set_key(e, s), e.db = n, e.expire_ms = ms; returning false drops it.
-- batch:emit(e, {key=, db=, expire_ms=}) adds a copy of e (its value too)
-- under another name, db or expiry; batch:emit{key=, value=, db=,
-- expire_ms=} adds a new string key. Emitted entries go through the nodes
-- after the one that emitted them, then to the sink.
-- A live source (rmig.source.psync) also brings commands: e:is_command()
-- is true, e:key() is the command's first key, e:keys() all of them,
-- e:command() its name in lower case, e:arg(i) its arguments (0 is the
-- name); batch:set_key(e, s) renames its first key, batch:set_key_at(e, i,
-- s) its i-th (as numbered in e:keys()). Only commands with keys
-- reach Lua nodes: a node that judges a key should judge every key of a
-- command (e:keys()), as the built-in keys node does.
-- Consecutive Lua nodes run in one loop per batch, entered once from C
-- (runner). The loop has no pcall inside, so the JIT compiles it; an error
-- escapes to the runner, which knows from the cursor which entry and node
-- raised it, applies that node's on_error (abort; skip: drop the entry;
-- pass: keep it as the node left it and go on with the next node) and
-- resumes the loop there.

local ffi = require "ffi"

ffi.cdef [[
typedef struct rmig_slice {
    const uint8_t *p;
    uint64_t n;
} rmig_slice;

typedef struct rmig_entry {
    int32_t kind;
    uint32_t flags;
    uint64_t db;
    const uint8_t *key_ptr;    /* "key" in batch.h: renamed so that e:key() is the method */
    uint32_t key_len;
    int32_t type;
    int32_t rdb_type;
    int32_t rdb_version;
    int64_t expire_ms;
    int64_t idle_s;
    int32_t freq;
    uint32_t dropped_by;
    const uint8_t *value;
    uint64_t value_len;
    uint32_t from_node;
    uint32_t argc;
    uint32_t nkeys;
    const rmig_slice *argv;
    const uint32_t *keys_ptr;  /* "keys" in batch.h: renamed so that e:keys() is the method */
    uint32_t split_group;
    uint32_t cmd_flags;
    int64_t offset;
    uint64_t stream_db;
} rmig_entry;

typedef struct rmig_batch {
    rmig_entry *e;
    uint32_t n, cap;
    struct { uint8_t *block; size_t len, cap; } arena;
    uint64_t dropped;
} rmig_batch;

int rmig_ffi_key_has_prefix(const rmig_entry *e, const char *s, size_t n);
int rmig_ffi_key_has_suffix(const rmig_entry *e, const char *s, size_t n);
int rmig_ffi_key_match(const rmig_entry *e, const char *pat, size_t n);
int rmig_ffi_entry_set_key(rmig_batch *b, rmig_entry *e, const char *s, size_t n);
int rmig_ffi_entry_set_key_at(rmig_batch *b, rmig_entry *e, uint32_t i, const char *s, size_t n);
void rmig_ffi_entry_drop(rmig_batch *b, rmig_entry *e, uint32_t node);
rmig_entry *rmig_ffi_entry_emit(rmig_batch *b, const rmig_entry *src, uint32_t node);
int rmig_ffi_entry_set_string(rmig_batch *b, rmig_entry *e, const char *s, size_t n);
]]

local C = ffi.C
local DROPPED, CHANGED, KEY, CMD = 1, 2, 1, 2

local kinds = { [0] = "string", "list", "set", "zset", "hash", "stream", "module" }

local entry_mt = {
  __index = {
    key = function(e) return ffi.string(e.key_ptr, e.key_len) end,
    has_prefix = function(e, s) return C.rmig_ffi_key_has_prefix(e, s, #s) == 1 end,
    has_suffix = function(e, s) return C.rmig_ffi_key_has_suffix(e, s, #s) == 1 end,
    match = function(e, pat) return C.rmig_ffi_key_match(e, pat, #pat) == 1 end,
    kind = function(e) return kinds[e.type] end,
    dropped = function(e) return bit.band(e.flags, DROPPED) ~= 0 end,
    -- commands of a live stream (e.kind == 2): e:key() is their first key
    is_command = function(e) return e.kind == CMD end,
    command = function(e)
      if e.kind ~= CMD then return nil end
      return ffi.string(e.argv[0].p, e.argv[0].n):lower()
    end,
    arg = function(e, i)
      if e.kind ~= CMD or i < 0 or i >= e.argc then return nil end
      return ffi.string(e.argv[i].p, e.argv[i].n)
    end,
    keys = function(e)
      if e.kind ~= CMD then return { ffi.string(e.key_ptr, e.key_len) } end
      local t = {}
      for i = 0, e.nkeys - 1 do
        local a = e.argv[e.keys_ptr[i]]
        t[i + 1] = ffi.string(a.p, a.n)
      end
      return t
    end,
  },
}
ffi.metatype("rmig_entry", entry_mt)

-- the node running now (its 1-based position in the pipeline), for emit
local current = { 0 }

local function emit(b, src, opts)
  if opts == nil and type(src) == "table" then src, opts = nil, src end
  opts = opts or {}
  if src == nil and (type(opts.key) ~= "string" or type(opts.value) ~= "string") then
    error("batch:emit{...} of a new key needs key and value, both strings", 2)
  end
  local e = C.rmig_ffi_entry_emit(b, src, current[1])
  if e == nil then error("a node emitted more entries than a batch has room for (one per entry it holds)", 2) end
  if src == nil and C.rmig_ffi_entry_set_string(b, e, opts.value, #opts.value) ~= 0 then
    error("out of memory emitting a key", 2)
  end
  if opts.key then
    if C.rmig_ffi_entry_set_key(b, e, opts.key, #opts.key) ~= 0 then error("out of memory emitting a key", 2) end
  end
  if opts.db then e.db = opts.db end
  if opts.expire_ms then e.expire_ms = opts.expire_ms end
  return e
end

local batch_mt = {
  __index = {
    emit = emit,
    set_key = function(b, e, s)
      if C.rmig_ffi_entry_set_key(b, e, s, #s) ~= 0 then error("out of memory renaming a key", 2) end
    end,
    -- a command's i-th key (1-based, as in e:keys()) becomes s
    set_key_at = function(b, e, i, s)
      local rc = C.rmig_ffi_entry_set_key_at(b, e, i - 1, s, #s)
      if rc == -1 then error("set_key_at: the entry is not a command with a key number " .. tostring(i), 2) end
      if rc ~= 0 then error("out of memory renaming a key", 2) end
    end,
    drop = function(b, e, node) C.rmig_ffi_entry_drop(b, e, node or 0) end,
  },
}
ffi.metatype("rmig_batch", batch_mt)

local batch_ptr = ffi.typeof("rmig_batch *")
local M = {}

-- The loop over a batch for a chain of nodes {fn, index} from entry `from`:
-- cursor[1], cursor[2] say where it is, for error reports.
-- Entries emitted meanwhile join the end of the batch (b.n grows) and go
-- through the nodes after their emitter.
local function chain_loop(b, fns, idx, from, first_k, cursor)
  local e = b.e
  local count = #fns
  local i = from
  while i < b.n do
    local en = e[i]
    -- snapshot keys, and live commands that have keys (a node judges keys;
    -- FLUSHALL, PUBLISH and the like pass: rmig.filter.commands judges those)
    if (en.kind == KEY or (en.kind == CMD and en.nkeys > 0)) and bit.band(en.flags, DROPPED) == 0 then
      cursor[1] = i
      local k0 = i == from and first_k or 1
      local origin = en.from_node
      for k = k0, count do
        local node = idx[k]
        if node > origin then
          cursor[2] = k
          current[1] = node
          if fns[k](en, b) == false then
            C.rmig_ffi_entry_drop(b, en, node)
            break
          end
        end
      end
    end
    i = i + 1
  end
end

-- runner(nodes): nodes = { {fn=, index=, name=, where=, on_error=}, ... }.
-- Returns function(lightuserdata batch) -> true | nil, message.
function M.runner(nodes)
  local fns, idx = {}, {}
  for k, n in ipairs(nodes) do fns[k], idx[k] = n.fn, n.index end
  local cursor = { 0, 0 }
  return function(lud)
    local b = ffi.cast(batch_ptr, lud)
    local from, first_k = 0, 1
    while true do
      local ok, err = pcall(chain_loop, b, fns, idx, from, first_k, cursor)
      if ok then return true end
      local i, k = cursor[1], cursor[2]
      local node, en = nodes[k], b.e[i]
      local where = string.format("node %s (%s) on the key %q in db %d: %s", node.name or ("#" .. node.index),
                                  node.where or "?", ffi.string(en.key_ptr, en.key_len), tonumber(en.db),
                                  tostring(err))
      M.errors = (M.errors or 0) + 1
      if node.on_error == "skip" then
        C.rmig_ffi_entry_drop(b, en, node.index)
        from, first_k = i + 1, 1
      elseif node.on_error == "pass" then
        from, first_k = i, k + 1
      else
        return nil, where
      end
    end
  end
end

return M
