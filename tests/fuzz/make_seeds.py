#!/usr/bin/env python3
"""make_seeds.py - writes the seed corpus of the RDB fuzz target.

Two kinds of seeds go to tests/fuzz/seeds/rdb/ (or --out DIR):

  r7_*.rdb  saved by a real redis-server 7.0 that this script starts on a
            free loopback port in its own temporary directory (--save '',
            --appendonly no, --enable-debug-command yes) and stops again.
            They cover everything 7.0 writes: strings (raw/int/LZF), lists
            (quicklist 2 with packed, LZF-compressed and plain nodes), sets
            (intset, hashtable), zsets (listpack, skiplist), hashes
            (listpack, hashtable), streams with groups, PELs, consumers and
            deleted entries, functions, expiries, several dbs, LFU and LRU,
            and files saved with rdbcompression/rdbchecksum off. They carry
            a ctime AUX field, so they change from run to run.
  h_*.rdb   written byte by byte below, for what 7.0 cannot write: RDB 1-6
            encodings (zipmap, ziplists, EXPIRETIME in seconds, ASCII zset
            scores with the inf/nan markers), 32/64-bit length encodings,
            quicklist 1, streams 15/21/26, hash field TTL types 22-25,
            modules (type 7, MODULE_AUX, KEY_META), SLOT_INFO, FUNCTION
            pre-GA, the Redis Enterprise opcode 107, and a VALKEY080 file
            (HASH_2 and SLOT_IMPORT). These bytes are the same on every run.

Every seed is small (under 4 KB) and parses cleanly: invalid inputs are the
mutations' job. Redis 7.0.15 itself loads the hand-crafted files it can read
(versions up to 10; checked with sanitize-dump-payload yes), except for what
is there on purpose: a NaN ZSET score (v1), empty collections (refused or
skipped by Redis), modules and the Enterprise opcodes. The format is
described in shared/docs/RDB-FORMAT.md.

usage: make_seeds.py [--out DIR] [--no-redis] [--redis-server PATH]
                     [--check RMIG]   (runs 'RMIG inspect --json' on each seed)
Python 3 standard library only.
"""
import argparse
import glob
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "seeds", "rdb")
MAX_SEED = 4096

# ---------------------------------------------------------------------------
# CRC64 (Jones polynomial, reflected, init 0, no final xor) - RDB-FORMAT §11

_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x95AC9329AC4BC9B5 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc64(data, crc=0):
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA

# ---------------------------------------------------------------------------
# LZF (liblzf stream format): a small greedy compressor


def lzf_compress(data):
    out = bytearray()
    lit = bytearray()
    i, n = 0, len(data)
    heads = {}

    def flush():
        while lit:
            chunk = lit[:32]
            del lit[:32]
            out.append(len(chunk) - 1)
            out.extend(chunk)

    while i < n:
        best_len, best_off = 0, 0
        if i + 3 <= n:
            for j in reversed(heads.get(data[i:i + 3], [])[-16:]):
                off = i - j
                if off > 8192:
                    break
                m = 0
                while i + m < n and m < 264 and data[j + m] == data[i + m]:
                    m += 1
                if m > best_len:
                    best_len, best_off = m, off
        if best_len >= 3:
            flush()
            ln, off = best_len - 2, best_off - 1
            if ln < 7:
                out.append((ln << 5) | (off >> 8))
            else:
                out.append((7 << 5) | (off >> 8))
                out.append(ln - 7)
            out.append(off & 0xFF)
            for k in range(i, i + best_len):
                if k + 3 <= n:
                    heads.setdefault(data[k:k + 3], []).append(k)
            i += best_len
        else:
            if i + 3 <= n:
                heads.setdefault(data[i:i + 3], []).append(i)
            lit.append(data[i])
            i += 1
    flush()
    return bytes(out)


def lzf_decompress(data, ulen):
    out = bytearray()
    i = 0
    while i < len(data):
        c = data[i]
        i += 1
        if c < 32:
            out += data[i:i + c + 1]
            i += c + 1
        else:
            ln = c >> 5
            if ln == 7:
                ln += data[i]
                i += 1
            ref = len(out) - ((c & 0x1F) << 8) - data[i] - 1
            i += 1
            for _ in range(ln + 2):
                out.append(out[ref])
                ref += 1
    assert len(out) == ulen
    return bytes(out)


# ---------------------------------------------------------------------------
# RDB primitives (RDB-FORMAT §4-§6)


def length(n, form=None):
    """A length; form forces 'b14', 'b32' or 'b64' (all legal to loaders)."""
    if form is None:
        form = "b6" if n < 64 else "b14" if n < 16384 else "b32" if n < 2 ** 32 else "b64"
    if form == "b6":
        return bytes([n])
    if form == "b14":
        return bytes([0x40 | (n >> 8), n & 0xFF])
    if form == "b32":
        return b"\x80" + struct.pack(">I", n)
    return b"\x81" + struct.pack(">Q", n)


def raw(s, form=None):
    if isinstance(s, str):
        s = s.encode()
    return length(len(s), form) + s


def intstr(v):
    """A string in the INT8/16/32 encodings."""
    if -128 <= v <= 127:
        return b"\xc0" + struct.pack("<b", v)
    if -32768 <= v <= 32767:
        return b"\xc1" + struct.pack("<h", v)
    return b"\xc2" + struct.pack("<i", v)


def lzfstr(s):
    if isinstance(s, str):
        s = s.encode()
    c = lzf_compress(s)
    assert lzf_decompress(c, len(s)) == s
    return b"\xc3" + length(len(c)) + length(len(s)) + c


def rstr(s):
    """A string as Redis would save it with compression on: int, LZF or raw."""
    if isinstance(s, str):
        s = s.encode()
    try:
        v = int(s)
        if str(v).encode() == s and -(2 ** 31) <= v < 2 ** 31:
            return intstr(v)
    except ValueError:
        pass
    if len(s) > 20:
        c = lzf_compress(s)
        if len(c) + 4 < len(s):
            return lzfstr(s)
    return raw(s)


def ms(t):
    return struct.pack("<q", t)


def bin_double(d):
    return struct.pack("<d", d)


def legacy_double(d):
    if d != d:
        return b"\xfd"
    if d == float("inf"):
        return b"\xfe"
    if d == float("-inf"):
        return b"\xff"
    s = (b"%.17g" % d)
    return bytes([len(s)]) + s


def sid(ms_, seq):
    """A stream ID in its 16-byte big-endian rax form."""
    return struct.pack(">QQ", ms_, seq)


# opcodes
EOF, SELECTDB, EXPIRETIME, EXPIRETIME_MS, RESIZEDB, AUX = 255, 254, 253, 252, 251, 250
FREQ, IDLE, MODULE_AUX, FUNCTION_PRE_GA, FUNCTION2, SLOT_INFO, OP243 = 249, 248, 247, 246, 245, 244, 243


def op(code, *parts):
    return bytes([code]) + b"".join(parts)


def aux(k, v):
    return op(AUX, rstr(k), rstr(v))


def key(t, name, value):
    """A key record: type byte, key name (saved as Redis would), value."""
    return bytes([t]) + rstr(name) + value


def rdb(version, body, magic=b"REDIS", crc=True, tail=b""):
    head = magic + (b"%04d" % version if magic == b"REDIS" else b"%03d" % version)
    data = head + body + bytes([EOF])
    if version >= 5 or magic != b"REDIS":
        data += struct.pack("<Q", crc64(data) if crc else 0)
    return data + tail


# ---------------------------------------------------------------------------
# Encoded blobs (RDB-FORMAT §8)


def ziplist(items):
    """items: bytes (strings) or ints; each encoded the way Redis would."""
    entries = []
    prevlen = 0
    for it in items:
        prev = bytes([prevlen]) if prevlen < 254 else b"\xfe" + struct.pack("<I", prevlen)
        if isinstance(it, int):
            if 0 <= it <= 12:
                enc = bytes([0xF1 + it])
            elif -128 <= it <= 127:
                enc = b"\xfe" + struct.pack("<b", it)
            elif -32768 <= it <= 32767:
                enc = b"\xc0" + struct.pack("<h", it)
            elif -(2 ** 23) <= it < 2 ** 23:
                enc = b"\xf0" + struct.pack("<i", it)[:3]
            elif -(2 ** 31) <= it < 2 ** 31:
                enc = b"\xd0" + struct.pack("<i", it)
            else:
                enc = b"\xe0" + struct.pack("<q", it)
        else:
            n = len(it)
            if n < 64:
                enc = bytes([n]) + it
            elif n < 16384:
                enc = bytes([0x40 | (n >> 8), n & 0xFF]) + it
            else:
                enc = b"\x80" + struct.pack(">I", n) + it
        e = prev + enc
        entries.append(e)
        prevlen = len(e)
    body = b"".join(entries)
    tail = 10 + len(body) - len(entries[-1]) if entries else 10
    total = 10 + len(body) + 1
    count = len(items) if len(items) < 65535 else 65535
    return struct.pack("<IIH", total, tail, count) + body + b"\xff"


def _lp_backlen(n):
    """Exactly as Redis' lpEncodeBacklen (note its bounds: 16383 takes 3 bytes)."""
    if n <= 127:
        return bytes([n])
    if n < 16383:
        return bytes([n >> 7, (n & 127) | 128])
    if n < 2097151:
        return bytes([n >> 14, ((n >> 7) & 127) | 128, (n & 127) | 128])
    if n < 268435455:
        return bytes([n >> 21, ((n >> 14) & 127) | 128, ((n >> 7) & 127) | 128, (n & 127) | 128])
    return bytes([n >> 28, ((n >> 21) & 127) | 128, ((n >> 14) & 127) | 128,
                  ((n >> 7) & 127) | 128, (n & 127) | 128])


def listpack(items, count=None):
    body = bytearray()
    for it in items:
        if isinstance(it, int):
            if 0 <= it <= 127:
                e = bytes([it])
            elif -4096 <= it <= 4095:
                u = it & 0x1FFF
                e = bytes([0xC0 | (u >> 8), u & 0xFF])
            elif -32768 <= it <= 32767:
                e = b"\xf1" + struct.pack("<h", it)
            elif -(2 ** 23) <= it < 2 ** 23:
                e = b"\xf2" + struct.pack("<i", it)[:3]
            elif -(2 ** 31) <= it < 2 ** 31:
                e = b"\xf3" + struct.pack("<i", it)
            else:
                e = b"\xf4" + struct.pack("<q", it)
        else:
            n = len(it)
            if n < 64:
                e = bytes([0x80 | n]) + it
            elif n < 4096:
                e = bytes([0xE0 | (n >> 8), n & 0xFF]) + it
            else:
                e = b"\xf0" + struct.pack("<I", n) + it
        body += e + _lp_backlen(len(e))
    if count is None:
        count = len(items) if len(items) < 65535 else 65535
    total = 6 + len(body) + 1
    return struct.pack("<IH", total, count) + bytes(body) + b"\xff"


def intset(values, width=None):
    if width is None:
        width = 2
        for v in values:
            if not -32768 <= v <= 32767:
                width = 4
            if not -(2 ** 31) <= v < 2 ** 31:
                width = 8
                break
    fmt = {2: "<h", 4: "<i", 8: "<q"}[width]
    return struct.pack("<II", width, len(values)) + b"".join(struct.pack(fmt, v) for v in sorted(values))


def zipmap(pairs, free=None, zmlen=None):
    """pairs of bytes; free: extra free bytes per value (list)."""
    out = bytearray([zmlen if zmlen is not None else min(len(pairs), 254)])

    def zl(n):
        return bytes([n]) if n < 254 else b"\xfe" + struct.pack("<I", n)

    for i, (k, v) in enumerate(pairs):
        f = free[i] if free else 0
        out += zl(len(k)) + k + zl(len(v)) + bytes([f]) + v + b"\x00" * f
    out += b"\xff"
    return bytes(out)


# ---------------------------------------------------------------------------
# Modules (RDB-FORMAT §9)

_MOD_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def module_id(name, encver):
    assert len(name) == 9
    v = 0
    for ch in name:
        v = (v << 6) | _MOD_CHARS.index(ch)
    return (v << 10) | encver


def modops(*ops):
    """ops: ('sint'|'uint', n) ('float', f) ('double', d) ('str', bytes-encoded-string)."""
    out = bytearray()
    for kind, val in ops:
        if kind in ("sint", "uint"):
            out += length(1 if kind == "sint" else 2) + length(val)
        elif kind == "float":
            out += length(3) + struct.pack("<f", val)
        elif kind == "double":
            out += length(4) + struct.pack("<d", val)
        else:
            out += length(5) + val
    return bytes(out + length(0))


# ---------------------------------------------------------------------------
# Streams (RDB-FORMAT §8.6)


def stream_listpack(master, entries, master_fields):
    """A stream node's listpack. entries: (ms, seq, [(field, value)...],
    deleted); an entry whose field names equal master_fields is stored with
    SAMEFIELDS."""
    live = sum(1 for e in entries if not e[3])
    dead = len(entries) - live
    items = [live, dead, len(master_fields)] + list(master_fields) + [0]
    for ms_, seq, fv, deleted in entries:
        flags = 1 if deleted else 0
        fields = [f for f, _ in fv]
        same = fields == list(master_fields)
        if same:
            flags |= 2
        rec = [flags, ms_ - master[0], seq - master[1]]
        if same:
            rec += [v for _, v in fv]
        else:
            rec += [len(fv)]
            for f, v in fv:
                rec += [f, v]
        rec.append(len(rec))  # lp-count: the record's entries before it
        items += rec
    return listpack([_lpitem(x) for x in items])


def _lpitem(x):
    if isinstance(x, int):
        return x
    if isinstance(x, str):
        x = x.encode()
    try:
        v = int(x)
        if str(v).encode() == x:
            return v
    except ValueError:
        pass
    return x


def stream_value(t, nodes, length_, last, first=(0, 0), maxdel=(0, 0), added=0, groups=(),
                 idmp=None, lzf_nodes=()):
    """nodes: list of (master_id, listpack bytes). groups: (name, last_id,
    entries_read, pel[(id, delivery_ms, count)], consumers[(name, seen, active, [ids])])."""
    out = bytearray(length(len(nodes)))
    for i, (mid, lp) in enumerate(nodes):
        out += raw(sid(*mid))
        out += lzfstr(lp) if i in lzf_nodes else raw(lp)
    out += length(length_) + length(last[0]) + length(last[1])
    if t >= 19:
        out += length(first[0]) + length(first[1]) + length(maxdel[0]) + length(maxdel[1])
        out += length(added)
    out += length(len(groups))
    for name, glast, read, pel, consumers in groups:
        out += rstr(name) + length(glast[0]) + length(glast[1])
        if t >= 19:
            out += length(read)
        out += length(len(pel))
        for pid, dms, cnt in pel:
            out += sid(*pid) + ms(dms) + length(cnt)
        out += length(len(consumers))
        for cname, seen, active, ids in consumers:
            out += rstr(cname) + ms(seen)
            if t >= 21:
                out += ms(active)
            out += length(len(ids))
            for cid in ids:
                out += sid(*cid)
    if t >= 26:
        duration, maxent, producers, iadded, idups = idmp
        out += length(duration) + length(maxent) + length(len(producers))
        for pid, iids in producers:
            out += rstr(pid) + length(len(iids))
            for iid, (ims, iseq) in iids:
                out += rstr(iid) + length(ims) + length(iseq)
        out += length(iadded) + length(idups)
    return bytes(out)


# ---------------------------------------------------------------------------
# The hand-crafted seeds

T0 = 1700000000000  # a fixed unix time in ms (2023-11-14)
FUTURE = 4102444800000  # 2100-01-01


def h_v1_plain():
    """RDB 1: the five plain types, ASCII zset scores with the inf/nan
    markers, EXPIRETIME in seconds, two dbs, no checksum."""
    b = bytearray()
    b += op(SELECTDB, length(0))
    b += op(EXPIRETIME, struct.pack("<i", 2000000000))
    b += key(0, "str:expire-seconds", rstr("hello"))
    b += key(0, "str:int", intstr(-5))
    b += key(0, "str:int16", intstr(12345))
    b += key(0, "str:int32", intstr(-2000000000))
    b += key(0, "str:empty", raw(b""))
    b += key(1, "list", length(4) + rstr("a") + rstr("1000") + raw(b"\x00\xff bin") + raw(b""))
    b += key(2, "set", length(3) + rstr("x") + rstr("y") + rstr("42"))
    z = [("m1", 1.5), ("m2", -3.0), ("inf", float("inf")), ("-inf", float("-inf")),
         ("nan", float("nan")), ("big", 1e300), ("tiny", 2.5e-10)]
    b += key(3, "zset", length(len(z)) + b"".join(rstr(m) + legacy_double(s) for m, s in z))
    b += key(4, "hash", length(2) + rstr("f1") + rstr("v1") + rstr("f2") + rstr("17"))
    b += op(SELECTDB, length(3))
    b += op(EXPIRETIME, struct.pack("<i", 1))  # long past
    b += key(0, "db3:old", rstr("x"))
    b += key(0, "", raw(b"empty key"))
    return rdb(1, bytes(b))


def h_v2_zipmap_ziplist():
    """RDB 2 (Redis 2.4): zipmap hashes (free bytes, 5-byte lengths, unknown
    count), ziplist lists and zsets, intsets of the three widths."""
    b = bytearray()
    b += op(SELECTDB, length(0))
    zm1 = zipmap([(b"name", b"redis"), (b"n", b"7"), (b"empty", b"")], free=[2, 0, 1])
    b += key(9, "zipmap:small", raw(zm1))
    big = bytes(range(256)) + b"tail"
    zm2 = zipmap([(b"big", big), (b"k" * 254, b"v")], zmlen=254)
    b += key(9, "zipmap:big", raw(zm2))
    zm3 = zipmap([(b"x" * 30, b"y" * 40), (b"compress", b"me" * 30)])
    b += key(9, "zipmap:lzf", lzfstr(zm3))
    zl = ziplist([b"a", 0, 5, 12, 13, -1, 127, -128, 300, -30000, 70000, -8000000,
                  2 ** 31 - 1, -(2 ** 31), 2 ** 40, -(2 ** 62), b"x" * 100])
    b += key(10, "ziplist:list", raw(zl))
    b += key(10, "ziplist:lzf", lzfstr(ziplist([b"abcabcabc" * 5, b"abcabcabc" * 6, 1, 2])))
    b += key(11, "intset:16", raw(intset([-3, 1, 2, 32767, -32768])))
    b += key(11, "intset:32", raw(intset([-3, 70000, -2 ** 31])))
    b += key(11, "intset:64", raw(intset([1, 2 ** 40, -(2 ** 63), 2 ** 63 - 1])))
    zz = ziplist([b"one", 1, b"half", b"0.5", b"neg", -7, b"big", b"1.5e+20", b"inf", b"inf"])
    b += key(12, "ziplist:zset", raw(zz))
    b += op(EXPIRETIME, struct.pack("<i", 1900000000))
    b += key(0, "expiring", rstr("1"))
    return rdb(2, bytes(b))


def h_v3_v4():
    """RDB 3 (EXPIRETIME_MS) with a ziplist hash in an RDB 4 file."""
    b = bytearray()
    b += op(SELECTDB, length(0))
    b += op(EXPIRETIME_MS, ms(FUTURE))
    b += key(13, "hash:ziplist", raw(ziplist([b"f1", b"v1", b"f2", 2, b"f3", b"x" * 70, b"n", -100000])))
    b += op(EXPIRETIME_MS, ms(T0))
    b += key(13, "hash:ziplist:lzf", lzfstr(ziplist([b"field" * 5, b"value" * 8, b"field2" * 4, 1])))
    b += key(0, "plain", rstr("v4"))
    b += op(SELECTDB, length(2))
    b += op(EXPIRETIME, struct.pack("<i", 1800000000))
    b += key(12, "zset:zl", raw(ziplist([b"a", 1, b"b", b"2.25"])))
    v3 = op(SELECTDB, length(0)) + op(EXPIRETIME_MS, ms(T0)) + key(10, "l", raw(ziplist([b"1", 2])))
    v3 += key(0, "s", rstr("x" * 30))
    return rdb(4, bytes(b)), rdb(3, v3)


def h_v5_nocrc():
    """RDB 5: the first version with a CRC64 trailer, here 0 (disabled)."""
    b = op(SELECTDB, length(0)) + key(0, "k", rstr("v")) + key(1, "l", length(1) + rstr("x"))
    return rdb(5, b, crc=False)


def h_v6_lengths():
    """RDB 6: 32-bit (0x80) lengths and non-shortest length forms, ziplist
    int24, 5-byte prevlens and 14-bit string lengths, a 32-bit-length
    string inside an LZF ziplist."""
    b = bytearray()
    b += op(SELECTDB, length(0, "b32"))
    b += bytes([0]) + raw("key32", "b32") + raw(b"value with a 32-bit length", "b32")
    b += bytes([0]) + raw("key14", "b14") + raw(b"v", "b14")
    b += bytes([1]) + raw("list32", "b32") + length(3, "b32") + raw("a", "b32") + intstr(7) + raw(b"", "b14")
    b += bytes([2]) + rstr("set") + length(2, "b14") + rstr("m1") + raw("m2", "b32")
    b += key(0, "str:300", raw(bytes((i * 7 + 3) & 0xFF for i in range(300))))
    zl = ziplist([b"p" * 300, 8000000, -8388608, b"q" * 20, b"r" * 5000])
    b += key(10, "ziplist:prevlen5", lzfstr(zl))
    zl32 = ziplist([b"head", b"z" * 16500, b"end"])
    b += key(10, "ziplist:str32", lzfstr(zl32))
    b += key(4, "hash", length(1, "b32") + raw("f", "b32") + raw("v", "b32"))
    b += op(EXPIRETIME_MS, ms(FUTURE))
    b += key(3, "zset", length(2) + rstr("a") + legacy_double(0.1) + rstr("b") + legacy_double(-2.0))
    return rdb(6, bytes(b))


def h_v7_quicklist():
    """RDB 7 (Redis 3.2): quicklist 1 of ziplists, one LZF-compressed; AUX,
    RESIZEDB."""
    b = bytearray()
    b += aux("redis-ver", "3.2.0") + aux("redis-bits", "64") + aux("ctime", "1700000000")
    b += op(SELECTDB, length(0)) + op(RESIZEDB, length(3), length(1))
    nodes = [ziplist([b"a", b"b", 1]), ziplist([b"hello world " * 8, b"hello world " * 9, 2, 3]),
             ziplist([b"tail", -1])]
    b += key(14, "quicklist", length(3) + raw(nodes[0]) + lzfstr(nodes[1]) + raw(nodes[2]))
    b += key(14, "quicklist:empty-node", length(2) + raw(ziplist([])) + raw(ziplist([b"only"])))
    b += op(EXPIRETIME_MS, ms(FUTURE))
    b += key(13, "hash", raw(ziplist([b"a", b"1", b"b", 2])))
    b += op(SELECTDB, length(1)) + op(RESIZEDB, length(1), length(0))
    b += key(11, "intset", raw(intset([5, 6, 7])))
    return rdb(7, bytes(b))


def h_v8_modules():
    """RDB 8 (Redis 4.0): 64-bit (0x81) lengths, ZSET_2 binary scores, a
    module type 7 value with every module opcode."""
    b = bytearray()
    b += aux("redis-ver", "4.0.14") + aux("redis-bits", "64")
    b += op(SELECTDB, length(0, "b64")) + op(RESIZEDB, length(4, "b64"), length(0, "b64"))
    b += bytes([0]) + raw("key64", "b64") + raw(b"value64", "b64")
    b += bytes([1]) + rstr("list64") + length(2, "b64") + raw("x", "b64") + rstr("y")
    z = [("hi", 3.25), ("lo", -1e-5), ("pinf", float("inf")), ("ninf", float("-inf")), ("zero", 0.0)]
    b += key(5, "zset2", length(len(z)) + b"".join(rstr(m) + bin_double(s) for m, s in z))
    mid = module_id("hellotype", 0)
    b += key(7, "module:hello", length(mid) + modops(("uint", 3), ("sint", 2 ** 63 + 5), ("str", rstr("abc")),
                                                       ("str", intstr(-7)), ("str", lzfstr("m" * 60)),
                                                       ("float", 1.5), ("double", -2.25),
                                                       ("str", raw(bytes(range(100)))), ("uint", 2 ** 64 - 1)))
    b += key(7, "module:empty", length(module_id("MBbloom--", 3)) + modops())
    return rdb(8, bytes(b))


def h_v9_stream_modaux():
    """RDB 9 (Redis 5/6): stream type 15, MODULE_AUX before and after the
    keys, IDLE and FREQ, Redis Enterprise opcodes 107 and 121."""
    b = bytearray()
    b += aux("redis-ver", "6.2.6") + aux("redis-bits", "64") + aux("aof-preamble", "0")
    b += aux("lua", "return 1")
    rj = module_id("ReJSON-RL", 3)
    b += op(MODULE_AUX, length(rj), length(2), length(1)) + modops(("uint", 1), ("str", rstr("before")))
    b += op(SELECTDB, length(0)) + op(RESIZEDB, length(3), length(0))
    b += op(107, length(12345))
    b += op(IDLE, length(3600))
    b += key(0, "idle", rstr("i"))
    b += op(FREQ, b"\xff")
    b += key(0, "freq", rstr("f"))
    b += op(121, length(77))
    m = (1600000000000, 0)
    entries = [(1600000000000, 0, [("name", "a"), ("n", "1")], False),
               (1600000000000, 1, [("name", "b"), ("n", "2")], True),
               (1600000000005, 0, [("other", "x" * 70)], False),
               (1600000000005, 1, [("name", "c"), ("n", "-12345678901")], False)]
    lp = stream_listpack(m, entries, ["name", "n"])
    groups = [("g1", (1600000000000, 0), 0, [((1600000000000, 0), T0, 2)],
               [("alice", T0, 0, [(1600000000000, 0)]), ("bob", T0 + 5, 0, [])]),
              ("g2", (0, 0), 0, [], [])]
    b += key(15, "stream:v1", stream_value(15, [(m, lp)], 3, (1600000000005, 1), groups=groups))
    b += key(15, "stream:empty", stream_value(15, [], 0, (5, 5), groups=[("g", (0, 0), 0, [], [])]))
    b += op(MODULE_AUX, length(rj), length(2), length(2)) + modops(("double", 0.5), ("str", lzfstr("after" * 10)))
    return rdb(9, bytes(b))


def h_v10_functions():
    """RDB 10 (Redis 7.0): FUNCTION_PRE_GA (246, with and without a
    description), FUNCTION2 (245), a type 19 stream with two nodes (one
    LZF), an empty quicklist node list."""
    b = bytearray()
    b += aux("redis-ver", "7.0.0") + aux("redis-bits", "64")
    b += op(FUNCTION_PRE_GA, rstr("f1"), rstr("LUA"), length(1), rstr("a description"),
            rstr("return 'f1'"))
    b += op(FUNCTION_PRE_GA, rstr("f2"), rstr("LUA"), length(0), lzfstr("return " + "'x'.." * 20 + "'x'"))
    b += op(FUNCTION2, rstr("#!lua name=lib\nredis.register_function('f', function() return 1 end)"))
    b += op(SELECTDB, length(0))
    m1, m2 = (1700000000000, 0), (1700000000100, 3)
    lp1 = stream_listpack(m1, [(1700000000000, 0, [("a", "1")], False),
                               (1700000000000, 1, [("a", "2")], True),
                               (1700000000001, 0, [("b", "bb"), ("c", "cc")], False)], ["a"])
    lp2 = stream_listpack(m2, [(1700000000100, 3, [("k", "v" * 40), ("k2", "w" * 40)], False),
                               (1700000000100, 4, [("k", "v" * 40), ("k2", "w" * 40)], False)],
                          ["k", "k2"])
    groups = [("grp", (1700000000100, 3), 3,
               [((1700000000000, 0), T0, 1), ((1700000000100, 3), T0 + 1, 7)],
               [("c1", T0, 0, [(1700000000000, 0)]), ("c2", T0 + 2, 0, [(1700000000100, 3)])])]
    b += key(19, "stream:v2", stream_value(19, [(m1, lp1), (m2, lp2)], 4, (1700000000100, 4),
                                           first=(1700000000000, 0), maxdel=(1700000000000, 1),
                                           added=5, groups=groups, lzf_nodes=(1,)))
    b += key(18, "quicklist2:none", length(0))
    return rdb(10, bytes(b))


def h_v11_listpacks():
    """RDB 11 (Redis 7.2): SET_LISTPACK, STREAM_LISTPACKS_3 (consumer active
    time), quicklist 2 with plain, packed and LZF nodes, listpack integer and
    string encodings of every size."""
    b = bytearray()
    b += aux("redis-ver", "7.2.4") + aux("redis-bits", "64")
    b += op(SELECTDB, length(0)) + op(RESIZEDB, length(6), length(1))
    b += key(20, "set:lp", raw(listpack([b"a", b"b", 1, -1, 5000, b"long" * 20])))
    ql = (length(4) + length(2) + raw(listpack([b"x", 1, 2])) + length(1) + raw(b"P" * 100)
          + length(1) + lzfstr(b"plain compressed " * 10)
          + length(2) + lzfstr(listpack([b"yy" * 40, b"yy" * 41, 3])))
    b += key(18, "list:ql2", ql)
    ints = [0, 127, 128, -1, 4095, -4096, 4096, -4097, 32767, -32768, 32768, 2 ** 23 - 1, -(2 ** 23),
            2 ** 23, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 63 - 1, -(2 ** 63)]
    b += key(18, "list:ints", length(1) + length(2) + raw(listpack(ints)))
    strs = [b"", b"s" * 63, b"t" * 64, b"u" * 4095, b"v" * 4096]
    b += key(18, "list:strs", length(1) + length(2) + lzfstr(listpack(strs)))
    b += key(16, "hash:lp", raw(listpack([b"f", b"v", b"n", 12, b"neg", -300])))
    b += key(17, "zset:lp", raw(listpack([b"a", 1, b"b", b"1.5", b"c", b"inf", b"d", b"-inf", b"e", -4097])))
    m = (1710000000000, 0)
    lp = stream_listpack(m, [(1710000000000, 0, [("f", "1")], False),
                             (1710000000000, 1, [("f", "2")], False)], ["f"])
    groups = [("g", (1710000000000, 1), 2, [((1710000000000, 1), T0, 1)],
               [("c", T0, T0 - 10, [(1710000000000, 1)]), ("idle", T0, T0, [])])]
    b += op(EXPIRETIME_MS, ms(FUTURE))
    b += key(21, "stream:v3", stream_value(21, [(m, lp)], 2, (1710000000000, 1), first=m,
                                           added=2, groups=groups))
    b += key(21, "stream:v3:empty", stream_value(21, [], 0, (0, 0)))
    return rdb(11, bytes(b))


def h_v12_hfe():
    """RDB 12 (Redis 7.4): hash field TTL types 22 and 23 (pre-GA, absolute
    TTLs), 24 (relative to minExpire, plus one) and 25 (listpack triplets),
    SLOT_INFO."""
    b = bytearray()
    b += aux("redis-ver", "7.4.0") + aux("redis-bits", "64")
    b += op(SELECTDB, length(0)) + op(RESIZEDB, length(4), length(0))
    b += op(SLOT_INFO, length(1234), length(4), length(0))
    h22 = length(3) + length(0) + rstr("nottl") + rstr("v") + length(FUTURE) + rstr("ttl") + rstr("w")
    h22 += length(T0) + rstr("past") + rstr("x" * 30)
    b += key(22, "hash:22", h22)
    b += key(23, "hash:23", raw(listpack([b"a", b"1", FUTURE, b"b", b"2", 0])))
    mn = T0
    h24 = ms(mn) + length(3) + length(0) + rstr("none") + rstr("1") + length(1) + rstr("min") + rstr("2")
    h24 += length(FUTURE - mn + 1) + rstr("later") + rstr("3")
    b += op(SLOT_INFO, length(16383), length(1), length(1))
    b += key(24, "hash:24", h24)
    b += key(25, "hash:25", ms(T0) + raw(listpack([b"f1", b"v1", T0, b"f2", 7, 0, b"f3", b"v" * 70, FUTURE])))
    b += key(25, "hash:25:nomin", ms(0) + lzfstr(listpack([b"field" * 6, b"value" * 6, 0])))
    return rdb(12, bytes(b))


def h_v13_keymeta():
    """RDB 13 (Redis 8.6): KEY_META before keys (classes with module opcode
    streams, and an empty one), STREAM_LISTPACKS_4 with the IDMP tables,
    MODULE_AUX and a module value."""
    b = bytearray()
    b += aux("redis-ver", "8.6.0") + aux("redis-bits", "64")
    mid = module_id("TSDB-TYPE", 1)
    b += op(MODULE_AUX, length(mid), length(2), length(1)) + modops(("uint", 0))
    b += op(SELECTDB, length(0)) + op(RESIZEDB, length(4), length(0))
    meta = length(2) + struct.pack("<I", 0x00010001) + modops(("uint", 5), ("str", rstr("meta")))
    meta += struct.pack("<I", 0x80000002) + modops(("double", 1.0), ("float", 2.0), ("sint", 9))
    b += op(OP243, meta)
    b += key(0, "with-meta", rstr("v"))
    b += op(OP243, length(0))
    b += op(EXPIRETIME_MS, ms(FUTURE))
    b += key(0, "with-empty-meta", rstr("w"))
    m = (1760000000000, 0)
    lp = stream_listpack(m, [(1760000000000, 0, [("f", "1")], False),
                             (1760000000000, 1, [("f", "2")], False)], ["f"])
    groups = [("g", (1760000000000, 0), 1, [((1760000000000, 0), T0, 1)],
               [("c", T0, T0, [(1760000000000, 0)])])]
    idmp = (100, 1000, [("producer-1", [("iid-a", (1760000000000, 0)), ("iid-b", (1760000000000, 1))]),
                        ("p2", [])], 2, 1)
    b += key(26, "stream:v4", stream_value(26, [(m, lp)], 2, (1760000000000, 1), first=m, added=2,
                                           groups=groups, idmp=idmp))
    b += key(26, "stream:v4:empty", stream_value(26, [], 0, (0, 0), idmp=(0, 0, [], 0, 0)))
    b += op(OP243, length(1) + struct.pack("<I", 7) + modops(("uint", 1)))
    b += key(7, "module", length(mid) + modops(("sint", 1), ("str", rstr("sample"))))
    b += op(MODULE_AUX, length(mid), length(2), length(2)) + modops()
    return rdb(13, bytes(b))


def h_valkey80():
    """VALKEY080 (Valkey 9): HASH_2 (type 22: field, value, int64 LE expire,
    -1 none) and SLOT_IMPORT (opcode 243)."""
    b = bytearray()
    b += aux("valkey-ver", "9.0.0") + aux("redis-ver", "7.2.4") + aux("redis-bits", "64")
    b += op(OP243, rstr("0123456789abcdef0123456789abcdef01234567"), length(2),
            length(0), length(100), length(5000), length(16383))
    b += op(OP243, rstr("job-empty"), length(0))
    b += op(SELECTDB, length(0)) + op(RESIZEDB, length(3), length(1))
    h2 = length(4)
    h2 += rstr("none") + rstr("1") + struct.pack("<q", -1)
    h2 += rstr("zero") + rstr("2") + struct.pack("<q", 0)
    h2 += rstr("future") + rstr("x" * 40) + struct.pack("<q", FUTURE)
    h2 += rstr("12") + rstr("34") + struct.pack("<q", T0)
    b += key(22, "hash2", h2)
    b += op(EXPIRETIME_MS, ms(FUTURE))
    b += key(20, "set:lp", raw(listpack([b"a", 1])))
    b += key(16, "hash:lp", raw(listpack([b"f", b"v"])))
    b += op(SELECTDB, length(9))
    b += key(0, "s", rstr("x"))
    return rdb(80, bytes(b), magic=b"VALKEY")


def h_strings_edge():
    """RDB 9: string edge cases - an empty key, binary keys, int-encoded and
    LZF keys, long strings (pieces in the fuzz target), an LZF string with a
    long back-reference run, an AOF tail after the trailer."""
    b = bytearray()
    b += op(SELECTDB, length(0))
    b += bytes([0]) + raw(b"") + raw(b"empty key name")
    b += bytes([0]) + raw(b"\x00\xff\xfe\r\n") + raw(b"binary key")
    b += bytes([0]) + intstr(1234) + raw(b"int-encoded key")
    b += bytes([0]) + lzfstr(b"k" * 80) + raw(b"LZF-encoded key")
    b += bytes([0]) + rstr("k" * 100) + raw(bytes((i * 131 + 7) & 0xFF for i in range(700)))
    b += key(0, "lzf:runs", lzfstr(b"a" * 5000))
    b += key(0, "lzf:text", lzfstr(b"The quick brown fox jumps over the lazy dog. " * 20))
    for v in ["0", "-1", "127", "128", "-129", "32767", "-32769", "2147483647", "-2147483648"]:
        b += key(0, "int:" + v, rstr(v))
    for v in ["007", "-0", "+1", " 1", "2147483648", "9223372036854775807"]:
        b += key(0, "notint:" + v, raw(v))
    return rdb(9, bytes(b), tail=b"*1\r\n$4\r\nPING\r\n")


def h_old_collections():
    """RDB 9: plain list/set/hash/zset types with empty collections, long
    members and LZF members (what 2.x-era big collections look like)."""
    b = bytearray()
    b += op(SELECTDB, length(0))
    b += key(1, "list:empty", length(0))
    b += key(2, "set:empty", length(0))
    b += key(4, "hash:empty", length(0))
    b += key(5, "zset2:empty", length(0))
    b += key(1, "list:mixed", length(5) + rstr("short") + rstr("x" * 200) + lzfstr(b"y" * 300) + intstr(5)
              + raw(bytes(range(150))))
    b += key(4, "hash:mixed", length(2) + lzfstr(b"f" * 50) + raw(b"z" * 129) + intstr(-1) + raw(b""))
    b += key(3, "zset:legacy", length(2) + rstr("a") + legacy_double(1e-300) + rstr("b") + b"\x03-12")
    return rdb(9, bytes(b))


HANDMADE = [
    ("h_v01_plain.rdb", h_v1_plain),
    ("h_v02_zipmap_ziplist.rdb", h_v2_zipmap_ziplist),
    (("h_v04_hash_ziplist.rdb", "h_v03_expire_ms.rdb"), h_v3_v4),
    ("h_v05_crc_disabled.rdb", h_v5_nocrc),
    ("h_v06_lengths.rdb", h_v6_lengths),
    ("h_v07_quicklist.rdb", h_v7_quicklist),
    ("h_v08_modules.rdb", h_v8_modules),
    ("h_v09_stream_modaux.rdb", h_v9_stream_modaux),
    ("h_v09_strings_tail.rdb", h_strings_edge),
    ("h_v09_old_collections.rdb", h_old_collections),
    ("h_v10_functions_stream.rdb", h_v10_functions),
    ("h_v11_listpacks.rdb", h_v11_listpacks),
    ("h_v12_hash_ttl.rdb", h_v12_hfe),
    ("h_v13_key_meta.rdb", h_v13_keymeta),
    ("h_valkey080.rdb", h_valkey80),
]


def write_handmade(out):
    written = []
    for names, fn in HANDMADE:
        data = fn()
        if isinstance(names, str):
            names, data = (names,), (data,)
        for name, d in zip(names, data):
            path = os.path.join(out, name)
            with open(path, "wb") as f:
                f.write(d)
            written.append(path)
    return written


# ---------------------------------------------------------------------------
# A real redis-server 7.0


class Resp:
    """A minimal RESP2 client."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def close(self):
        self.s.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise ConnectionError("redis closed the connection")
                self.buf += chunk
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)

    def __call__(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(out))
        return self._read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, exe, extra=()):
        self.r = None
        self.dir = tempfile.mkdtemp(prefix="rmig-seeds-")
        self.port = free_port()
        try:
            self.proc = subprocess.Popen(
                [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                 "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no",
                 "--enable-debug-command", "yes", "--daemonize", "no", "--logfile", "",
                 "--databases", "16"] + list(extra),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        deadline = time.time() + 20
        while True:
            try:
                self.r = Resp(self.port)
                self.r("PING")
                break
            except (OSError, RuntimeError):
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
        self.defaults = {}

    def config(self, name, value):
        if name not in self.defaults:
            self.defaults[name] = self.r("CONFIG", "GET", name)[1]
        self.r("CONFIG", "SET", name, value)

    def reset(self):
        self.r("FLUSHALL")
        self.r("FUNCTION", "FLUSH")
        for name, value in self.defaults.items():
            self.r("CONFIG", "SET", name, value)
        self.defaults = {}
        self.r("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1073741824")
        self.r("SELECT", 0)

    def save_to(self, path):
        self.r("SAVE")
        shutil.copyfile(os.path.join(self.dir, "dump.rdb"), path)

    def stop(self):
        try:
            if self.r:
                try:
                    self.r("SHUTDOWN", "NOSAVE")
                except (OSError, RuntimeError, ConnectionError):
                    pass
                self.r.close()
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def pseudo_random_bytes(n, seed):
    out = bytearray()
    x = seed
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) & (2 ** 64 - 1)
        out.append(x >> 56)
    return bytes(out)


def r7_strings(r):
    r("SET", "str:raw", "hello world")
    r("SET", "str:int", "12345")
    r("SET", "str:neg", "-7")
    r("SET", "str:bigint", "2147483648")
    r("SET", "str:longint", "-9223372036854775808")
    r("SET", "str:lead0", "007")
    r("SET", "str:empty", "")
    r("SET", "str:lzf", "abcdefgh" * 40)
    r("SET", "str:uncompressible", pseudo_random_bytes(300, 1))
    r("SET", b"bin\x00key\xff", b"\x00\x01\x02\xff")
    r("SET", "1234", "int-encoded key")
    r("SET", "k" * 90, "LZF-compressed key")
    r("SET", "\u00fcn\u00efc\u00f6d\u00e9", "\u2603")
    r("SET", "str:px", "v", "PX", "100000000")
    r("SET", "str:exat", "v", "EXAT", "4102444800")
    r("SETBIT", "bitmap", 1000, 1)
    r("PFADD", "hll", *["e%d" % i for i in range(50)])


def r7_lists(r, s):
    r("RPUSH", "list:small", "a", "b", "1", "-2", "300", "70000", "x" * 70)
    s.config("list-max-listpack-size", "4")
    r("RPUSH", "list:nodes", *["item-%d" % i for i in range(14)])
    r("RPUSH", "list:ints", *[str(v) for v in (0, 127, 128, -1, 4095, -4096, 32767, -32768, 8388607,
                                                 -8388608, 2147483647, -2147483648, 2 ** 62, -(2 ** 63))])


def r7_list_compressed(r, s):
    s.config("list-max-listpack-size", "3")
    s.config("list-compress-depth", "1")
    r("RPUSH", "list:lzf", *[("compressible-" * 4) + str(i) for i in range(12)])
    r("RPUSH", "list:short", "a", "b", "c", "d", "e", "f", "g")


def r7_list_plain(r, s):
    s.r("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100")
    s.config("list-compress-depth", "1")
    s.config("list-max-listpack-size", "3")
    big = "P" * 150
    r("RPUSH", "list:plain", "a", "b", big, "c", ("Q" * 120) + "z", "d", "e", "f", pseudo_random_bytes(130, 2), "g")
    r("RPUSH", "list:only-plain", "R" * 200)


def r7_sets(r, s):
    r("SADD", "set:intset16", "1", "2", "3", "-5", "32767")
    r("SADD", "set:intset32", "1", "70000", "-2147483648")
    r("SADD", "set:intset64", "1", str(2 ** 40), str(-(2 ** 63)), str(2 ** 63 - 1))
    r("SADD", "set:ht", "apple", "banana", "cherry", "1")
    s.config("set-max-intset-entries", "4")
    r("SADD", "set:ints-ht", *[str(i) for i in range(10)])


def r7_zsets(r, s):
    r("ZADD", "zset:lp", "1", "one", "2.5", "two.five", "-3", "neg", "inf", "pinf", "-inf", "ninf",
      "1e100", "huge", "0", "zero", "5000", "int5000")
    s.config("zset-max-listpack-entries", "4")
    r("ZADD", "zset:skiplist", "1", "a", "2", "b", "3.25", "c", "-1e-7", "d", "inf", "e", "-inf", "f")
    r("ZADD", "zset:long-member", "1", "m" * 80)
    r("GEOADD", "geo", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")


def r7_hashes(r, s):
    r("HSET", "hash:lp", "f1", "v1", "n", "17", "neg", "-300", "big", "x" * 40)
    s.config("hash-max-listpack-entries", "3")
    r("HSET", "hash:ht", "a", "1", "b", "2", "c", "3", "d", "hello", "e", "")
    s.config("hash-max-listpack-entries", "100")
    s.config("hash-max-listpack-value", "10")
    r("HSET", "hash:longval", "k", "v" * 30)
    r("HSET", "hash:lzf", *sum([["field-%02d" % i, "value-value-%02d" % i] for i in range(8)], []))


def r7_streams(r, s):
    s.config("stream-node-max-entries", "4")
    for i in range(10):
        r("XADD", "stream", "1700000000000-%d" % i, "name", "n%d" % i, "val", str(i * 1000))
    r("XADD", "stream", "1700000000500-0", "other", "field", "x", "y" * 30)
    r("XADD", "stream", "1700000000600-0", "name", "last", "val", "-1")
    r("XDEL", "stream", "1700000000000-1", "1700000000000-5")
    r("XGROUP", "CREATE", "stream", "g1", "0")
    r("XGROUP", "CREATE", "stream", "g2", "$")
    r("XGROUP", "CREATECONSUMER", "stream", "g2", "idle-consumer")
    r("XREADGROUP", "GROUP", "g1", "alice", "COUNT", "3", "STREAMS", "stream", ">")
    r("XREADGROUP", "GROUP", "g1", "bob", "COUNT", "2", "STREAMS", "stream", ">")
    r("XACK", "stream", "g1", "1700000000000-0")
    r("XCLAIM", "stream", "g1", "carol", "0", "1700000000000-2")
    r("XADD", "stream:empty", "1-1", "f", "v")
    r("XDEL", "stream:empty", "1-1")
    r("XGROUP", "CREATE", "stream:empty", "g", "$")
    r("XGROUP", "CREATE", "stream:mk", "g", "$", "MKSTREAM")
    for i in range(1, 5):
        r("XADD", "stream:trim", "MAXLEN", "=", "2", "%d-0" % i, "a", str(i))


def r7_functions(r):
    r("FUNCTION", "LOAD", "#!lua name=mylib\n"
      "redis.register_function('myfunc', function(keys, args) return args[1] end)\n"
      "redis.register_function{function_name='ro', callback=function() return 1 end, flags={'no-writes'}}")
    r("FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('f2', function() return 2 end)")
    r("SET", "k", "v")


def r7_expiry_dbs(r):
    for db in (0, 1, 5, 15):
        r("SELECT", db)
        r("SET", "db%d:plain" % db, "v")
        r("SET", "db%d:ttl" % db, "v", "PXAT", "4102444800000")
        r("RPUSH", "db%d:list" % db, "a", "b")
        r("EXPIRE", "db%d:list" % db, "100000")
        r("HSET", "db%d:hash" % db, "f", "v")
        r("PEXPIREAT", "db%d:hash" % db, "4102444800123")
    r("SELECT", 0)


def r7_mix(r):
    r("SET", "s", "value")
    r("SET", "n", "42")
    r("RPUSH", "l", "a", "b", "c")
    r("SADD", "si", "1", "2")
    r("SADD", "ss", "a", "b")
    r("ZADD", "z", "1", "a", "2", "b")
    r("HSET", "h", "f", "v")
    r("XADD", "x", "1-1", "f", "v")
    r("XGROUP", "CREATE", "x", "g", "0")
    r("XREADGROUP", "GROUP", "g", "c", "STREAMS", "x", ">")
    r("SET", "e", "v", "PXAT", "4102444800000")


def r7_lfu(r, s):
    s.config("maxmemory-policy", "allkeys-lfu")
    r7_mix(r)
    for _ in range(20):
        r("GET", "s")


def r7_lru(r, s):
    s.config("maxmemory-policy", "allkeys-lru")
    r7_mix(r)


def r7_nocompress_nocrc(r, s):
    s.config("rdbcompression", "no")
    r7_mix(r)
    r("SET", "long", "abc" * 50)
    r("RPUSH", "biglist", *["element-%d" % i for i in range(30)])


def r7_nocompress(r, s):
    s.config("rdbcompression", "no")
    r("SET", "long", "abc" * 50)
    r("HSET", "h", *sum([["field-%02d" % i, "value-value-%02d" % i] for i in range(8)], []))


def r7_nochecksum(r, s):
    r7_mix(r)


def r7_empty(r):
    pass


# (file, function, server arguments): rdbchecksum cannot change at run time
NOCRC = ("--rdbchecksum", "no")
REDIS_SEEDS = [
    ("r7_empty.rdb", lambda r, s: r7_empty(r)),
    ("r7_strings.rdb", lambda r, s: r7_strings(r)),
    ("r7_lists.rdb", r7_lists),
    ("r7_list_compressed.rdb", r7_list_compressed),
    ("r7_list_plain.rdb", r7_list_plain),
    ("r7_sets.rdb", r7_sets),
    ("r7_zsets.rdb", r7_zsets),
    ("r7_hashes.rdb", r7_hashes),
    ("r7_streams.rdb", r7_streams),
    ("r7_functions.rdb", lambda r, s: r7_functions(r)),
    ("r7_expiry_dbs.rdb", lambda r, s: r7_expiry_dbs(r)),
    ("r7_lfu.rdb", r7_lfu),
    ("r7_lru.rdb", r7_lru),
    ("r7_nocompress.rdb", r7_nocompress),
    ("r7_nocompress_nochecksum.rdb", r7_nocompress_nocrc, NOCRC),
    ("r7_nochecksum.rdb", r7_nochecksum, NOCRC),
]


def write_redis(out, exe):
    written = []
    groups = []
    for seed in REDIS_SEEDS:
        args = seed[2] if len(seed) > 2 else ()
        if not groups or groups[-1][0] != args:
            groups.append((args, []))
        groups[-1][1].append(seed[:2])
    for args, seeds in groups:
        srv = Server(exe, args)
        try:
            ver = srv.r("INFO", "server").decode()
            if "redis_version:7.0" not in ver:
                print("warning: %s is not Redis 7.0" % exe, file=sys.stderr)
            for name, fn in seeds:
                srv.reset()
                fn(srv.r, srv)
                path = os.path.join(out, name)
                srv.save_to(path)
                written.append(path)
        finally:
            srv.stop()
    return written


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--no-redis", action="store_true", help="only the hand-crafted seeds")
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--check", metavar="RMIG", help="run 'RMIG inspect --json' on every seed")
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    # write everything to a staging directory first, so that a failure (no
    # redis-server, say) leaves the existing seeds alone
    stage = tempfile.mkdtemp(prefix="rmig-seeds-out-")
    try:
        staged = write_handmade(stage)
        if not a.no_redis:
            try:
                staged += write_redis(stage, a.redis_server)
            except (OSError, RuntimeError) as e:
                print("make_seeds: cannot run %s (%s); use --no-redis for the hand-crafted seeds only"
                      % (a.redis_server, e), file=sys.stderr)
                return 2
        prefixes = ["h_"] + ([] if a.no_redis else ["r7_"])
        for p in prefixes:
            for old in glob.glob(os.path.join(a.out, p + "*.rdb")):
                os.remove(old)
        written = []
        for path in staged:
            dest = os.path.join(a.out, os.path.basename(path))
            shutil.move(path, dest)
            written.append(dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)

    bad = 0
    total = 0
    for path in sorted(written):
        size = os.path.getsize(path)
        total += size
        note = ""
        if size > MAX_SEED:
            note = "  TOO BIG (over %d bytes)" % MAX_SEED
            bad += 1
        if a.check:
            p = subprocess.run([a.check, "inspect", "--json", path], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            if p.returncode != 0:
                note += "  INSPECT FAILED: " + p.stderr.decode(errors="replace").strip()
                bad += 1
        print("%6d  %s%s" % (size, os.path.relpath(path), note))
    print("%d seeds, %d bytes" % (len(written), total))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
