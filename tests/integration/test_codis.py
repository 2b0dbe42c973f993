#!/usr/bin/env python3
"""`rmig run`, `rmig verify`, `rmig check` and `rmig route --codis` with
rmig.source.codis and rmig.sink.codis. There is no codis-server here: the
group masters are redis-servers holding a real Codis layout (each key on the
master of its group: slot = crc32(tag or key) % 1024 with zlib's crc32 and
Codis's tag rule, then the topology's slot table; see codis_harness.py).
What only a codis-server's replication stream carries (SLOTSRESTORE,
SLOTSDEL) is test_codis_stream.py's. Every comparison is per key: type,
DEBUG DIGEST-VALUE, expire time (PEXPIRETIME, within 2 s) and a stream's
consumer groups. Scenarios:

  psync_to_cluster  3 group masters (groups 1, 3, 7; each owns two ranges of
                    slots) with ~2.5k keys of every type (binary names, hash
                    tags and empty tags, small and big hashes, lists, sets,
                    intsets, zsets, streams with consumer groups, TTLs) into a
                    3-master Redis Cluster, a writer on the masters (each key
                    on its group's master; hash-tagged MULTI/EXEC, short TTLs,
                    XADD) from before the start: source = { groups = {...} }
                    catches up with each master, the cluster converges to the
                    masters' union (combined DEBUG DIGEST), SIGINT exits 0,
                    every key equal and on its cluster slot's master, "1 full
                    and 0 partial syncs" and a state file STATE.<host>_<port>
                    per master; then keys of every type and writes while rmig
                    is stopped, and a second run with topology = a YAML file
                    and the same state: "resuming after offset" and "0 full
                    and 1 partial syncs" for each master (the masters' own
                    INFO stats agree), equal again; rmig verify of that
                    pipeline: no difference
  scan              mode = "scan" from the 3 masters (topology: codis-admin's
                    --slots-status JSON) into a standalone target: exit 0,
                    every key equal; rmig check lists each group master;
                    rmig verify: no difference; a hash changed on the target:
                    exit 1 naming it; a key deleted too: both named
  sink              an RDB file of every type -> rmig.sink.codis { topology }
                    with 3 group masters, the topology as YAML and then as
                    --slots-status JSON (other group ids and slots, a slot
                    under migration): every key on exactly the master the
                    formula gives and `rmig route --codis` names (slot, group,
                    master), values equal, nothing else on any master; rmig
                    verify: no difference; rmig check lists each group master
  errors            a topology with a bad line (source and sink: exit 2
                    naming FILE:LINE; a master without a port too); a source
                    topology with a slot under migration (run: exit 0 with a
                    warning naming slot and groups; check: a note); neither
                    groups nor topology, and both (exit 2); an unreachable
                    group master (psync, scan, sink: exit 1 naming it); a key
                    of source db 3 into rmig.sink.codis: the run stops naming
                    it with the rmig.filter.db hint, exit 2; with that filter
                    it arrives in db 0 of its group master

usage: python3 test_codis.py /path/to/rmig [--only NAME[,NAME...]]
environment: RMIG_TEST_SEED (data, topologies and writers; printed at the start)
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import os
import random
import re
import shutil
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import Cluster  # noqa: E402
from codis_harness import (MASTER, CodisWriter, Ctx, Farm, One, Topo, codis_sink, codis_slot, codis_source,  # noqa: E402
                           compare, fill, live_run, masters, pipeline, rdb_source, redis_sink, rmig_bg, route, server,
                           sync_counts, tail)
from redis_harness import closed_port, run_rmig, run_scenarios, short, write  # noqa: E402
from test_cluster import scan_keys, values  # noqa: E402
from test_psync import info, kill_running, lua_string  # noqa: E402
from test_verify import check_clean, check_only, verify  # noqa: E402


# --- psync_to_cluster --------------------------------------------------------------------

def scenario_psync_to_cluster(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed)
    topo = masters(ctx, d, rng)
    cl = Cluster(os.path.join(d, 'cluster'), masters=3, replicas=0)
    ctx.clusters.append(cl)
    farm = Farm(topo)
    t0 = time.time()
    keys = fill(farm, rng)
    by = farm.keys_by_master()
    per = {p: len(ks) for p, ks in by.items()}
    held = {k: p for p, ks in by.items() for k in ks}
    rep.check(len(per) == 3 and min(per.values()) > 100 and set(held) == keys and
              all(topo.port_of(k) == p for k, p in held.items()),
              'psync: the 3 group masters hold the %d keys written, each on its group\'s master (%.1f s)' % (
                  len(keys), time.time() - t0), '%r; %d held, %d written' % (per, len(held), len(keys)))
    names = ['127.0.0.1:%d' % p for p in topo.ports()]
    state = os.path.join(d, 'state')
    sink = 'rmig.sink.cluster { addr = "127.0.0.1:%d" }' % cl.masters()[0][1]

    what = 'psync (groups) -> cluster'
    w0 = CodisWriter(topo, ctx.seed + 1).start()   # writing before rmig starts, during its full syncs and after
    time.sleep(0.5)
    r = rmig_bg(ctx, d, pipeline(codis_source(groups=names, extra=', state = %s' % lua_string(state)), sink),
                'first')
    if not live_run(ctx, what, farm, cl, r, w0):
        return
    compare(rep, what, farm, cl)
    counts = sync_counts(r, names)
    rep.check(all(v == (1, 0) for v in counts.values()), '%s: "1 full and 0 partial syncs" for each master' % what,
              '%r; stdout: %s' % (counts, tail(r.stdout())))
    files = ['%s.%s' % (state, n.replace(':', '_')) for n in names]
    rep.check(all(os.path.isfile(f) and os.path.getsize(f) > 0 for f in files),
              '%s: a state file per master (%s)' % (what, ', '.join(os.path.basename(f) for f in files)),
              'present: %r' % sorted(os.listdir(d)))
    rep.check('Codis: 3 group masters' in r.stderr() + r.stdout(), '%s: rmig says it reads 3 group masters' % what,
              tail(r.stderr()))

    # written while rmig is stopped (only the masters' backlogs have it), then resumed from the same state
    what = 'psync (topology YAML), resumed'
    fill(farm, rng, prefix='gap:', n=500)
    w = CodisWriter(topo, ctx.seed + 3).start()
    time.sleep(1.5)
    w.stop()
    rep.check(not w.errors, '%s: written to the masters while rmig was stopped (%d ops)' % (what, w.ops),
              w.errors[:3])
    yml = write(d, 'topo.yml', topo.yaml())
    r = rmig_bg(ctx, d, pipeline(codis_source(topo=yml, extra=', state = %s' % lua_string(state)), sink), 'second')
    if not live_run(ctx, what, farm, cl, r, CodisWriter(topo, ctx.seed + 4), write_s=3):
        return
    err = r.stderr()
    resumed = [n for n in names if re.search(r'%s: resuming after offset \d+' % re.escape(n), err)]
    rep.check(len(resumed) == 3, '%s: stderr says it resumes each master after its saved offset' % what,
              'for %r of %r; %s' % (resumed, names, tail(err)))
    counts = sync_counts(r, names)
    rep.check(all(v == (0, 1) for v in counts.values()), '%s: "0 full and 1 partial syncs" for each master' % what,
              '%r; stdout: %s' % (counts, tail(r.stdout())))
    stats = {p: (int(info(c, 'stats')['sync_full']), int(info(c, 'stats')['sync_partial_ok']))
             for p, c in farm.conns.items()}
    rep.check(all(v == (1, 1) for v in stats.values()),
              '%s: each master counts 1 full sync and 1 partial resync (INFO stats)' % what, stats)
    compare(rep, what, farm, cl)
    v = verify(ctx, d, os.path.join(d, 'second.lua'))
    check_clean(rep, '%s: rmig verify of the psync pipeline (the masters read by SCAN)' % what, v,
                checked=sum(len(ks) for ks in farm.keys_by_master().values()))
    farm.close()


# --- scan ---------------------------------------------------------------------------

def scenario_scan(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed + 20)
    topo = masters(ctx, d, rng)
    farm = Farm(topo)
    fill(farm, rng, n=1500)
    n = sum(len(ks) for ks in farm.keys_by_master().values())
    tgt = server(ctx, d, 'target')
    t = tgt.conn()
    sj = write(d, 'slots.json', topo.slots_status())
    what = 'scan (--slots-status JSON)'
    p = write(d, 'scan.lua', pipeline(codis_source(topo=sj, extra=', mode = "scan"'), redis_sink(tgt.port)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=120)
    out = out.decode('utf-8', 'replace')
    rep.check(rc == 0, '%s: rmig run exits 0' % what, 'rc %d; %s; %s' % (rc, tail(out), tail(err)))
    m = re.search(r'read (\d+) keys, wrote (\d+)', out)
    rep.check(m and int(m.group(1)) == n and int(m.group(2)) == n, '%s: read and wrote the masters\' %d keys' % (
        what, n), tail(out))
    compare(rep, what, farm, t)
    rc, out, err = run_rmig(ctx.rmig, ['check', p], timeout=60)
    out = out.decode('utf-8', 'replace')
    listed = [g for g in topo.ids if re.search(r'group %d, %s: Redis [\d.]+, %d keys' % (
        g, re.escape(topo.addr(g)), len(farm.keys_by_master()[topo.groups[g]])), out)]
    rep.check(rc == 0 and len(listed) == 3 and 'rmig.source.codis: 3 group masters of %s' % sj in out,
              '%s: rmig check exits 0 and lists each group master with its keys' % what,
              'rc %d, listed %r; %s; %s' % (rc, listed, tail(out, 1200), tail(err)))
    v = verify(ctx, d, p)
    check_clean(rep, '%s: rmig verify' % what, v, checked=n)
    victim = b'{user3}:prefs'
    t.call('HSET', victim, 'lang', 'fr')
    v = verify(ctx, d, p)
    check_only(rep, '%s: rmig verify after a hash changed on the target' % what, v, 'value', 1, keys=[(0, victim)])
    t.call('DEL', b's:5')
    v = verify(ctx, d, p)
    rep.check(v.rc == 1 and (0, b's:5') in v.named('missing') and (0, victim) in v.named('value'),
              '%s: rmig verify after a key deleted too: exit 1 naming both' % what, v.details())
    farm.close()
    t.close()


# --- sink -----------------------------------------------------------------------------

def sink_check(ctx, d, what, topo, topo_file, rdb, src_conn):
    rep = ctx.rep
    farm = Farm(topo)
    try:
        p = write(d, 'sink-%s.lua' % os.path.basename(topo_file), pipeline(rdb_source(rdb), codis_sink(topo_file)))
        rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=120)
        out = out.decode('utf-8', 'replace')
        rep.check(rc == 0 and 'Codis: 3 group masters' in err + out, '%s: rmig run exits 0, writing to 3 group '
                  'masters' % what, 'rc %d; %s; %s' % (rc, tail(out), tail(err)))
        keys = scan_keys(src_conn)
        routes = route(ctx, [topo_file], keys)
        if not rep.check(isinstance(routes, dict), '%s: rmig route --codis prints a line per key' % what, routes):
            return
        bad_route = [(k, routes[k]) for k in keys
                     if routes[k] != (codis_slot(k), topo.group_of(k), topo.addr(topo.group_of(k)))]
        rep.check(not bad_route, '%s: rmig route --codis gives each of %d keys the slot crc32(tag or key) %% 1024 '
                  'and that slot\'s group and master' % (what, len(keys)),
                  '; '.join('%s: %r, want slot %d group %d' % (short(k), r_, codis_slot(k), topo.group_of(k))
                            for k, r_ in bad_route[:4]))
        if topo.moving:
            s, frm, to = topo.moving
            n_moving = sum(1 for k in keys if codis_slot(k) == s)
            rep.check(n_moving and all(routes[k][1] == to for k in keys if codis_slot(k) == s),
                      '%s: the %d keys of slot %d, under migration from group %d, go to group %d' % (
                          what, n_moving, s, frm, to))
        by = farm.keys_by_master()
        want = {}
        for k in keys:
            want.setdefault(topo.port_of(k), set()).add(k)
        wrong = []
        for port, ks in by.items():
            for k in set(ks) - want.get(port, set()):
                wrong.append('%s on %d (group %d), want %d' % (short(k), port, topo.group_of(k), topo.port_of(k)))
            for k in want.get(port, set()) - set(ks):
                wrong.append('%s missing on %d' % (short(k), port))
        rep.check(not wrong, '%s: every key on exactly the master of its group, nothing else on any master (%s)' % (
            what, ', '.join('%d' % len(by[p]) for p in topo.ports())), '; '.join(wrong[:6]))
        a = values(src_conn, keys)
        diff = []
        for port, ks in want.items():
            b = values(farm.conns[port], list(ks))
            for k in ks:
                (da, ta, ya), (db_, tb, yb) = a[k], b[k]
                if da != db_ or ya != yb or (ta < 0) != (tb < 0) or abs(ta - tb) > 2000:
                    diff.append('%s: %s %s %d, on its master %s %s %d' % (short(k), ya, da[:10], ta, yb,
                                                                          str(db_)[:10], tb))
        rep.check(not diff, '%s: type, DEBUG DIGEST-VALUE and expire time equal for all %d keys' % (
            what, len(keys)), '; '.join(diff[:6]))
        v = verify(ctx, d, p)
        check_clean(rep, '%s: rmig verify' % what, v, checked=len(keys))
        rc, out, err = run_rmig(ctx.rmig, ['check', p], timeout=60)
        out = out.decode('utf-8', 'replace')
        listed = [g for g in topo.ids if re.search(r'group %d, %s: Redis [\d.]+, %d keys' % (
            g, re.escape(topo.addr(g)), len(want.get(topo.groups[g], ()))), out)]
        rep.check(rc == 0 and len(listed) == 3 and 'rmig.sink.codis: 3 group masters of %s' % topo_file in out,
                  '%s: rmig check exits 0 and lists each group master with its keys' % what,
                  'rc %d, listed %r; %s; %s' % (rc, listed, tail(out, 1200), tail(err)))
    finally:
        for c in farm.conns.values():
            c.call('FLUSHALL')
        farm.close()


def scenario_sink(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed + 30)
    src = server(ctx, d, 'source')
    s = src.conn()
    fill(One(s), rng, n=2000)
    s.pipeline([['SET', b'{moving}:%d' % i, 'm%d' % i] for i in range(20)])
    s.call('SAVE')
    rdb = os.path.join(d, 'source.rdb')
    shutil.copy(os.path.join(src.dir, src.dbfilename), rdb)
    rep.check(s.call('DBSIZE') > 1500, 'sink: the source file holds %d keys of every type' % s.call('DBSIZE'))
    topo = masters(ctx, d, rng)
    yml = write(d, 'topo.yml', topo.yaml())
    sink_check(ctx, d, 'sink (YAML)', topo, yml, rdb, s)
    # the same masters as other groups with other slots, in codis-admin's JSON, one slot being migrated
    topo2 = Topo(topo.ports(), rng, ids=(2, 5, 9))
    slot = codis_slot(b'{moving}:1')
    topo2.move(slot, next(g for g in topo2.ids if g != topo2.slot_group[slot]))
    sj = write(d, 'slots.json', topo2.slots_status())
    sink_check(ctx, d, 'sink (--slots-status JSON)', topo2, sj, rdb, s)
    s.close()


# --- errors ----------------------------------------------------------------------------

def scenario_errors(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed + 40)
    g = server(ctx, d, 'group1', MASTER)
    gc = g.conn()
    gc.call('SET', 'k', 'v')
    tgt = server(ctx, d, 'target')
    t = tgt.conn()
    bad = write(d, 'bad.yml', 'groups:\n  1: "127.0.0.1:%d"\nslots:\n  "0-600": 1\n  "500-1023": 1\n' % g.port)
    p = write(d, 'bad-source.lua', pipeline(codis_source(topo=bad), redis_sink(tgt.port)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc == 2 and '%s:5:' % bad in err, 'errors: source.topology with slots given twice: exit 2 naming '
              'FILE:LINE', 'rc %d; %s' % (rc, tail(err)))
    # a source topology with a slot under migration: a warning, not a refusal
    g2 = server(ctx, d, 'group2', MASTER)
    mt = Topo([g.port, g2.port], rng, ids=(1, 2))
    mt.move(5, 2 if mt.slot_group[5] == 1 else 1)
    mj = write(d, 'moving.json', mt.slots_status())
    p = write(d, 'moving.lua', pipeline(codis_source(topo=mj, extra=', mode = "scan"'), redis_sink(tgt.port)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    warned = 'slot(s) are being migrated (slot 5 from group %d to group %d)' % (mt.moving[1], mt.moving[2])
    rep.check(rc == 0 and warned in err and t.call('GET', 'k') == b'v',
              'errors: a source topology with slot 5 under migration: exit 0, a warning naming the slot and groups',
              'rc %d; %s' % (rc, tail(err)))
    rc, out, err = run_rmig(ctx.rmig, ['check', p], timeout=60)
    rep.check(warned in out.decode('utf-8', 'replace'), 'errors: rmig check notes the slot under migration',
              tail(out.decode('utf-8', 'replace')))
    # small RDB files for the sinks: one key in db 0; and one more in db 3
    src = server(ctx, d, 'src')
    sc = src.conn()
    sc.pipeline([['SET', 'a', '1'], ['SAVE']])
    rdb = os.path.join(d, 'db0.rdb')
    shutil.copy(os.path.join(src.dir, src.dbfilename), rdb)
    sc.pipeline([['SELECT', 3], ['SET', 'in-db-3', 'x'], ['SELECT', 0], ['SAVE']])
    rdb3 = os.path.join(d, 'db3.rdb')
    shutil.copy(os.path.join(src.dir, src.dbfilename), rdb3)
    p = write(d, 'bad-sink.lua', pipeline(rdb_source(rdb), codis_sink(bad)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc == 2 and '%s:5:' % bad in err, 'errors: sink.topology with slots given twice: exit 2 naming '
              'FILE:LINE', 'rc %d; %s' % (rc, tail(err)))
    bad2 = write(d, 'bad2.yml', 'groups:\n  1: "127.0.0.1:%d"\n  2: "nowhere"\nslots:\n  "0-1023": 1\n' % g.port)
    p = write(d, 'bad2-source.lua', pipeline(codis_source(topo=bad2), redis_sink(tgt.port)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc == 2 and '%s:3:' % bad2 in err, 'errors: a group master without a port: exit 2 naming FILE:LINE',
              'rc %d; %s' % (rc, tail(err)))

    for label, src_text in (('neither groups nor topology', 'rmig.source.codis { }'),
                            ('both groups and topology', 'rmig.source.codis { groups = { "127.0.0.1:%d" }, '
                             'topology = %s }' % (g.port, lua_string(bad)))):
        p = write(d, 'usage.lua', pipeline(src_text, redis_sink(tgt.port)))
        rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
        rep.check(rc == 2 and 'groups' in err and 'topology' in err,
                  'errors: rmig.source.codis with %s: exit 2 saying to give one' % label, 'rc %d; %s' % (rc, tail(err)))

    hold, dead = closed_port()   # refuses connections until closed: no other test's server can take it
    gone = '127.0.0.1:%d' % dead
    for mode in ('psync', 'scan'):
        p = write(d, 'dead-%s.lua' % mode, pipeline(codis_source(groups=['127.0.0.1:%d' % g.port, gone],
                                                                 extra=', mode = "%s", state = %s' % (
                                                                     mode, lua_string(os.path.join(d, 'st')))),
                                                    redis_sink(tgt.port)))
        t0 = time.time()
        rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=90)
        rep.check(rc == 1 and gone in err, 'errors: an unreachable group master (%s): exit 1 naming it (%.1f s)' % (
            mode, time.time() - t0), 'rc %d; %s' % (rc, tail(err)))
    topo = Topo([g.port, dead], rng, ids=(1, 2))
    dy = write(d, 'dead.yml', topo.yaml())
    p = write(d, 'dead-sink.lua', pipeline(rdb_source(rdb), codis_sink(dy)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc == 1 and gone in err, 'errors: sink with an unreachable group master: exit 1 naming it',
              'rc %d; %s' % (rc, tail(err)))
    hold.close()

    one = Topo([g.port], rng, ids=(4,))
    oy = write(d, 'one.yml', one.yaml())
    gc.call('FLUSHALL')
    p = write(d, 'db3.lua', pipeline(rdb_source(rdb3), codis_sink(oy)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc != 0 and '"in-db-3" is in db 3' in err and 'rmig.filter.db { map = { [3] = 0 } }' in err and
              'dbs = "merge"' in err, 'errors: a key of db 3 into rmig.sink.codis: the run stops naming the key and '
              'db, with the hint (rmig.filter.db, dbs)', 'rc %d; %s' % (rc, tail(err)))
    rep.check(rc == 2, 'errors: a key of db 3 into rmig.sink.codis: exit 2 (a pipeline to change)',
              'rc %d; %s' % (rc, tail(err)))
    p = write(d, 'db3-map.lua', pipeline(rdb_source(rdb3), codis_sink(oy), 'rmig.filter.db { map = { [3] = 0 } }'))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc == 0 and gc.call('GET', 'in-db-3') == b'x' and gc.call('GET', 'a') == b'1',
              'errors: with rmig.filter.db { map = { [3] = 0 } } the key arrives in db 0 of its group master',
              'rc %d; %s' % (rc, tail(err)))
    sc.close()
    gc.close()
    t.close()


SCENARIOS = [('psync_to_cluster', scenario_psync_to_cluster), ('scan', scenario_scan), ('sink', scenario_sink),
             ('errors', scenario_errors)]


def main():
    return run_scenarios(sys.argv[1:], SCENARIOS, __doc__, 'rmig-codis-', Ctx(), on_end=kill_running)


if __name__ == '__main__':
    sys.exit(main())
