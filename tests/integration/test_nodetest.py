#!/usr/bin/env python3
"""`rmig test NODE_TEST.lua`: cases run through built-in and Lua nodes as
`rmig run` runs them; a failing case exits 1 naming the case, its file:line,
the key and the db; a wrong test file exits 2 naming its file and line; and
`rmig check` shows a rename with fn as a Lua node. No server is needed.

usage: python3 test_nodetest.py /path/to/rmig
Exit code: 0 all passed, 1 something failed."""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import Reporter, make_tmpdir, run_rmig, write  # noqa: E402


# Every kind of assertion, passing: TTLs relative and absolute against a pinned
# clock, types, dbs, drops by position and by name, a Lua node's on_error, an
# expected error, a rename with fn, a node module beside the test file, and a
# pipeline's nodes.
PASSING = '''local rmig = require "rmig"
local t = rmig.test
return t.suite {
  name = "everything",
  now_ms = 1700000000000,
  nodes = {
    rmig.filter.keys { name = "no temp", deny = { "*:tmp" } },
    require("beside"),
    rmig.filter.ttl { max_ms = 60000 },
    rmig.filter.rename { fn = function(k) if k:find("^old:") then return "new:" .. k:sub(5) end end },
    rmig.node { name = "strict", fn = function(e) if e:key() == "fatal" then error("fatal key") end end },
    rmig.node { name = "lenient", on_error = "pass", fn = function(e, b)
      if e:key() == "odd" then b:set_key(e, "odd2"); error("odd") end end },
  },
  t.case "kept keys keep their db, type and TTL" {
    input = { { key = "user:1", db = 3, type = "hash", ttl_ms = 5000 }, { key = "user:2", expire_ms = 1700000001000 } },
    expect = { { key = "user:1", db = 3, type = "hash", ttl_ms = 5000 }, { key = "user:2", expire_ms = 1700000001000 } },
  },
  t.case "drops are named by position or by name" {
    input = { { key = "a:tmp" }, { key = "b", db = 1 }, { key = "beside:x" } },
    expect = { { key = "b", db = 1 } },
    dropped = { { key = "a:tmp", by = "no temp" }, { key = "beside:x", by = 2 } },
  },
  t.case "long TTLs are capped" {
    input = { { key = "c", ttl_ms = 3600000 } },
    expect = { { key = "c", ttl_ms = 60000 } },
  },
  t.case "rename with fn renames what it returns and keeps the rest" {
    input = { { key = "old:1" }, { key = "older" } },
    expect = { { key = "new:1" }, { key = "older" } },
  },
  t.case "on_error pass keeps the entry as the node left it" {
    input = { { key = "odd" } },
    expect = { { key = "odd2" } },
  },
  t.case "an aborting node's error can be expected" {
    input = { { key = "fatal" } },
    expect_error = "strict .* on the key \\"fatal\\" in db 0: .*fatal key",
  },
}
'''

BESIDE = '''local rmig = require "rmig"
return { function(e) if e:has_prefix("beside:") then return false end end }
'''

FAILING = '''local rmig = require "rmig"
local t = rmig.test
return t.suite {
  nodes = { rmig.filter.rename { prefix = { ["user:"] = "u:" } }, rmig.filter.db { map = { [1] = 5 } } },
  t.case "this one passes" { input = { { key = "user:1" } }, expect = { { key = "u:1" } } },
  t.case "this one is wrong on purpose" {
    input = { { key = "user:2", db = 1, ttl_ms = 1000 }, { key = "other" } },
    expect = { { key = "u:2", db = 1, ttl_ms = 1000 }, { key = "otter" } },
  },
}
'''

BAD_FILES = [
    ('an unknown field in an entry names the file, the line and a close match',
     '''local rmig = require "rmig"
local t = rmig.test
return t.suite {
  nodes = { rmig.filter.keys { deny = "x" } },
  t.case "ttl typo" {
    input = { { key = "a", tll_ms = 5 } }, expect = {} },
}''', ':5: case "ttl typo": input[1]: unknown option \'tll_ms\' (did you mean \'ttl_ms\'?)'),
    ('a case without expect or expect_error is refused',
     '''local rmig = require "rmig"
local t = rmig.test
return t.suite {
  nodes = { rmig.filter.keys { deny = "x" } },
  t.case "nothing expected" { input = {} },
}''', ':5: case "nothing expected": give expect'),
    ('dropped by a node that is not there names the nodes there are',
     '''local rmig = require "rmig"
local t = rmig.test
return t.suite {
  nodes = { rmig.filter.keys { deny = "x" } },
  t.case "by" { input = { { key = "x" } }, expect = {}, dropped = { { key = "x", by = "team_a" } } },
}''', ':5: case "by": dropped[1].by = "team_a" names no node; the nodes are: 1 rmig.filter.keys'),
    ('a syntax error names the file and line',
     '''local rmig = require "rmig"
local t = rmig.test
return t.suite {
  nodes = { rmig.filter.keys { deny = "x" } },
  t.case "x" { input = {}, expect = {}
''', '.lua:6:'),
    ('a file that returns something else says what it must return',
     'return 42\n', 'the file must return a suite'),
    ('a bad option of a node under test names its line',
     '''local rmig = require "rmig"
local t = rmig.test
return t.suite {
  nodes = { rmig.filter.rename { fn = function(k) return k end, prefix = { a = "b" } } },
  t.case "x" { input = {}, expect = {} },
}''', ':4: rmig.filter.rename: give fn or prefix/suffix, not both'),
    ('a regular expression that does not compile names the node\'s line',
     '''local rmig = require "rmig"
local t = rmig.test
return t.suite {
  nodes = { rmig.filter.keys { regex = "(" } },
  t.case "x" { input = {}, expect = {} },
}''', ':4: rmig.filter.keys: regular expression "("'),
]


def main():
    rmig = os.path.abspath(sys.argv[1])
    rep = Reporter()
    tmp = make_tmpdir('rmig-nodetest-')

    write(tmp, 'beside.lua', BESIDE)
    p = write(tmp, 'passing_test.lua', PASSING)
    rc, out, err = run_rmig(rmig, ['test', p])
    out = out.decode()
    rep.check(rc == 0 and 'everything in %s: 6 cases, 6 passed, 0 failed' % p in out,
              'a suite whose cases all pass exits 0 with a summary', out + err)
    rep.check(out.count('\nok     ') + out.startswith('ok     ') == 6 and 'FAILED' not in out,
              'each case gets its own line', out)

    p = write(tmp, 'failing_test.lua', FAILING)
    rc, out, err = run_rmig(rmig, ['test', p])
    out = out.decode()
    rep.check(rc == 1, 'a failing case exits 1', 'rc %d: %s%s' % (rc, out, err))
    rep.check('ok     this one passes' in out, 'the other cases still run and pass', out)
    rep.check('FAILED this one is wrong on purpose  [%s:6]' % p in out,
              'the failing case is named with its file:line', out)
    rep.check('key "u:2" db 5: expected in db 1' in out,
              'a difference names the key and db that came out', out)
    rep.check('key "otter" db 0 (expect[2]) did not come out' in out
              and 'key "other" db 0 (from input[2]) came out, not expected' in out,
              'a missing and an unexpected entry are both named', out)
    rep.check('out      key "u:2" db 5 string, ttl_ms 1000' in out,
              'what came out is shown under the failing case', out)
    rep.check('1 failed' in out, 'the summary counts the failure', out)

    for sentence, text, want in BAD_FILES:
        p = write(tmp, 'bad_test.lua', text)
        rc, out, err = run_rmig(rmig, ['test', p])
        rep.check(rc == 2 and p in err and want in err, sentence + ' (exit 2)',
                  'rc %d, want %r in: %s' % (rc, want, err))

    good = os.path.join(tmp, 'passing_test.lua')
    rc, out, err = run_rmig(rmig, ['test', os.path.join(tmp, 'bad_test.lua'), good])
    rep.check(rc == 2 and '6 passed' in out.decode(), 'one wrong file among several exits 2, the others still run',
              'rc %d %s %s' % (rc, out.decode(), err))
    rc, out, err = run_rmig(rmig, ['test'])
    rep.check(rc == 2 and 'which test file' in err, 'no file is a usage error (exit 2)', err)

    # the nodes of a pipeline file, from the test file's folder
    write(tmp, 'pipe.lua', '''local rmig = require "rmig"
return rmig.pipeline {
  source = rmig.source.rdb { path = "x.rdb" },
  nodes = { rmig.filter.keys { allow = "user:*" }, rmig.filter.rename { fn = string.upper } },
  sink = rmig.sink.redis { addr = "127.0.0.1:1" },
}
''')
    p = write(tmp, 'pipe_test.lua', '''local t = require("rmig").test
return t.suite {
  nodes = t.nodes_of("pipe.lua"),
  t.case "the pipeline keeps users, in capitals" {
    input = { { key = "user:1" }, { key = "cart:1" } },
    expect = { { key = "USER:1" } },
    dropped = { { key = "cart:1", by = "rmig.filter.keys" } },
  },
}
''')
    rc, out, err = run_rmig(rmig, ['test', p])
    rep.check(rc == 0, 't.nodes_of tests a pipeline\'s own nodes', out.decode() + err)

    # rmig check shows a rename with fn as a Lua node (the target is unreachable: exit 1, plan printed)
    rc, out, err = run_rmig(rmig, ['check', os.path.join(tmp, 'pipe.lua')])
    out = out.decode()
    rep.check(rc == 1 and any('rmig.filter.rename' in l and 'runs in Lua' in l for l in out.splitlines())
              and any('rmig.filter.keys' in l and 'runs in C' in l for l in out.splitlines()),
              'rmig check shows rename with fn as a Lua node', out + err)

    return rep.finish()


if __name__ == '__main__':
    sys.exit(main())
