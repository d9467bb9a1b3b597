#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (run from anywhere; rewrites them).

Written from SPEC.md (sections 2, 4 and 5) rather than from the server's code, so the
data files below are an independent encoding of the 168-byte format. File names carry
the verdict SPEC gives each seed (ok-/bad-/big-/partial-, valid-/bad-); fuzz/tests/seeds.rs
checks the server agrees.
"""

import os
import shutil
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
KEY = "fuzz-key-0123456789"  # must match fuzz/src/conn/menu.rs


def write(target, name, data):
    path = os.path.join(ROOT, target, name)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape"))


def reset(target):
    shutil.rmtree(os.path.join(ROOT, target), ignore_errors=True)
    os.makedirs(os.path.join(ROOT, target))


# ---------------------------------------------------------------- request_head
def request_head():
    t = "request_head"
    reset(t)
    body = '{"slots":[{"day":2,"time":"14:00","status":"available"}]}'
    ok = {
        "curl-week": "GET /availability?tz=Asia/Tokyo HTTP/1.1\r\nHost: avail.example\r\n"
        "User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
        "slot": "GET /availability/slot?day=2&time=14:00&tz=Europe/London HTTP/1.1\r\nHost: a\r\n\r\n",
        "csv-date": "GET /availability/csv?tz=America/New_York&date=2026-11-23 HTTP/1.1\r\nHost: a:8443\r\n\r\n",
        "head": "HEAD /availability HTTP/1.1\r\nHost: a\r\n\r\n",
        "http10-keepalive": "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "http10-plain": "GET /ready HTTP/1.0\r\n\r\n",
        "close": "GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "connection-list": "GET /health HTTP/1.1\r\nHost: a\r\nConnection: TE, Keep-Alive , close\r\n\r\n",
        "patch-length": f"PATCH /availability HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}",
        "patch-chunked": "PATCH /availability HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer k\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        "10;name=value\r\n" + body[:16] + "\r\n"
        f'{len(body) - 16:x};q="quoted \\" string"\r\n' + body[16:] + "\r\n"
        "0\r\nX-Trailer: yes\r\n\r\n",
        "te-case": "PATCH /availability HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n",
        "pipelined": "GET /health HTTP/1.1\r\nHost: a\r\n\r\n" * 3 + "HEAD /ready HTTP/1.1\r\nHost: a\r\n\r\n",
        "pipelined-partial": "GET /health HTTP/1.1\r\nHost: a\r\n\r\nGET /avail",
        "absolute-form": "GET http://avail.example/availability?tz=UTC HTTP/1.1\r\nHost: avail.example\r\n\r\n",
        "absolute-nopath": "GET HTTPS://avail.example?tz=UTC HTTP/1.1\r\nHost: x\r\n\r\n",
        "asterisk": "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        "leading-crlf": "\r\nGET /health HTTP/1.1\r\nHost: a\r\n\r\n",
        "browser": "GET /availability?tz=Europe%2FParis HTTP/1.1\r\nHost: a\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: text/html,application/json;q=0.9\r\n"
        "Accept-Language: fr-FR,fr;q=0.8\r\nAccept-Encoding: gzip, deflate, br\r\n"
        "Cookie: a=b; c=d\r\nCache-Control: no-cache\r\nIf-None-Match: \"x\"\r\n\r\n",
        "ows-tab": "PATCH /availability HTTP/1.1\r\nHost: a\r\nContent-Length:\t0 \r\n\r\n",
        "expect-continue": "PATCH /availability HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
        "Content-Length: 2\r\n\r\n{}",
        "ipv6-host": "GET /health HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    }
    bad = {
        "cl-te": "PATCH /availability HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX",
        "te-cl": "PATCH /availability HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX",
        "te-twice": "PATCH /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "te-list": "PATCH /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "te-identity": "PATCH /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
        "te-xchunked": "PATCH /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
        "te-space-colon": "PATCH /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
        "te-http10": "PATCH /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "cl-twice-same": "PATCH /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        "cl-twice-differ": "PATCH /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "cl-list": "PATCH /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
        "cl-plus": "PATCH /a HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
        "cl-hex": "PATCH /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc",
        "cl-huge": "PATCH /a HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "obs-fold": "GET /health HTTP/1.1\r\nHost: a\r\nX-Long: part one\r\n part two\r\n\r\n",
        "obs-fold-tab": "GET /health HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n\ttwo\r\n\r\n",
        "bare-lf": "GET /health HTTP/1.1\nHost: a\n\n",
        "bare-lf-mixed": "GET /health HTTP/1.1\r\nHost: a\n\r\n",
        "bare-cr": "GET /health HTTP/1.1\rHost: a\r\n\r\n",
        "bare-cr-value": "GET /health HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
        "two-leading-crlf": "\r\n\r\nGET /health HTTP/1.1\r\nHost: a\r\n\r\n",
        "no-host": "GET /health HTTP/1.1\r\n\r\n",
        "two-hosts": "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "bad-host": "GET /health HTTP/1.1\r\nHost: a b/c\r\n\r\n",
        "two-auth": "PATCH /availability HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n",
        "fragment": "GET /health#frag HTTP/1.1\r\nHost: a\r\n\r\n",
        "non-ascii-target": "GET /h\u00e9alth HTTP/1.1\r\nHost: a\r\n\r\n",
        "relative-target": "GET health HTTP/1.1\r\nHost: a\r\n\r\n",
        "http2-version": "GET /health HTTP/2.0\r\nHost: a\r\n\r\n",
        "http12-version": "GET /health HTTP/1.2\r\nHost: a\r\n\r\n",
        "nul-in-header": "GET /health HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
        "space-in-name": "GET /health HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
        "double-space": "GET  /health HTTP/1.1\r\nHost: a\r\n\r\n",
        "tls-client-hello": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)) + b"\x00\x00\x02\x13\x01",
        "h2-preface": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    }
    for name, text in ok.items():
        write(t, f"ok-{name}", text)
    for name, text in bad.items():
        write(t, f"bad-{name}", text)
    write(t, "big-long-target", "GET /" + "a" * 9000 + " HTTP/1.1\r\nHost: a\r\n\r\n")
    write(t, "big-many-headers", "GET / HTTP/1.1\r\nHost: a\r\n" + "X-A: b\r\n" * 70 + "\r\n")
    write(t, "partial-line", "GET /availability?tz=Asia/Tok")
    write(t, "partial-cr", "GET / HTTP/1.1\r\nHost: a\r\n\r")
    # Bare chunked bodies (not requests): the target decodes non-requests as a body.
    chunks_ok = {
        "simple": "5\r\nhello\r\n0\r\n\r\n",
        "ext-trailer": "3;a=b;c\r\nabc\r\n0;last\r\nX-T: 1\r\nY: 2\r\n\r\nNEXT",
        "upper-hex": "A\r\n0123456789\r\n00000000\r\n\r\n",
        "smuggle-inner": "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
    }
    chunks_bad = {
        "size-space": "5 \r\nhello\r\n0\r\n\r\n",
        "size-ws-ext": "5 ;a=b\r\nhello\r\n0\r\n\r\n",
        "size-negative": "-5\r\nhello\r\n0\r\n\r\n",
        "size-0x": "0x5\r\nhello\r\n0\r\n\r\n",
        "size-9-digits": "000000005\r\nhello\r\n0\r\n\r\n",
        "size-over-limit": "FFFFFFFF\r\nx\r\n",
        "data-no-crlf": "5\r\nhelloX0\r\n\r\n",
        "lf-only": "5\nhello\n0\n\n",
        "ext-bad-quote": '5;a="unterminated\r\nhello\r\n0\r\n\r\n',
        "trailer-fold": "0\r\nX: a\r\n b\r\n\r\n",
    }
    for name, text in chunks_ok.items():
        write(t, f"chunk-ok-{name}", text)
    for name, text in chunks_bad.items():
        write(t, f"chunk-bad-{name}", text)


# ---------------------------------------------------------------- query
def query():
    t = "query"
    reset(t)
    ok = [
        "tz=Asia/Tokyo", "tz=asia%2Ftokyo&date=2024-02-29", "day=6&time=23:30",
        "slot=47&day=0&tz=UTC", "tz=Etc/GMT+5", "tz=America/Argentina/ComodRivadavia",
        "_=1700000000&tz=UTC", "date=1900-01-01", "date=2099-12-31", "tz=%E6%9D%B1%E4%BA%AC",
        "&&tz=UTC&&", "t%7a=UTC", "day=0%36", "time=00:00&slot=0", "unknown=%41&x",
        "tz=" + "A" * 128,
    ]
    bad = [
        "tz=UTC&tz=UTC", "day=7", "day=+1", "day=", "time=12:15", "time=24:00", "time=1:30",
        "slot=48", "slot=048", "date=2026-02-29", "date=1899-12-31", "date=2100-01-01", "date=2200-12-31",
        "date=2026-1-01", "%zz", "x=%4", "tz=%FF", "tz=", "tz=" + "A" * 129,
    ]
    for i, text in enumerate(ok):
        write(t, f"ok-{i:02}", text)
    for i, text in enumerate(bad):
        write(t, f"bad-{i:02}", text)


# ---------------------------------------------------------------- patch_body
def patch_body():
    t = "patch_body"
    reset(t)

    def entry(day, status, time=None, slot=None):
        e = {"day": str(day)}
        if time is not None:
            e["time"] = f'"{time}"'
        if slot is not None:
            e["slot"] = str(slot)
        e["status"] = f'"{status}"'
        return "{" + ",".join(f'"{k}":{v}' for k, v in e.items()) + "}"

    def body(entries):
        return '{"slots":[' + ",".join(entries) + "]}"

    hundred = [entry(i // 48, ["available", "maybe", "unavailable"][i % 3], slot=i % 48) for i in range(100)]
    valid = {
        "spec-example": '{"slots":[{"day":2,"time":"14:00","status":"available"}, {"day":4,"slot":20,"status":"maybe"}]}',
        "one": body([entry(0, "unavailable", time="00:00")]),
        "last-cell": body([entry(6, "maybe", time="23:30")]),
        "hundred": body(hundred),
        "whitespace": ' \n{ "slots" : [ { "status" : "maybe" , "slot" : 1 , "day" : 3 } ] }\t',
        "unicode-escape": '{"slots":[{"day":1,"time":"\\u0031\\u0032:30","status":"avail\\u0061ble"}]}',
    }
    bad = {
        "empty": '{"slots":[]}',
        "hundred-one": body(hundred + [entry(6, "maybe", slot=47)]),
        "duplicate-cell": body([entry(1, "maybe", slot=3), entry(1, "available", time="01:30")]),
        "unknown-top": '{"slots":[{"day":1,"slot":1,"status":"maybe"}],"x":1}',
        "unknown-entry": body(['{"day":1,"slot":1,"status":"maybe","note":"x"}']),
        "day-7": body([entry(7, "maybe", slot=0)]),
        "day-negative": body([entry(-1, "maybe", slot=0)]),
        "day-float": body(['{"day":1.0,"slot":0,"status":"maybe"}']),
        "day-string": body(['{"day":"1","slot":0,"status":"maybe"}']),
        "time-quarter": body([entry(1, "maybe", time="14:15")]),
        "time-24": body([entry(1, "maybe", time="24:00")]),
        "time-short": body([entry(1, "maybe", time="1:30")]),
        "slot-48": body([entry(1, "maybe", slot=48)]),
        "slot-huge": body(['{"day":1,"slot":18446744073709551616,"status":"maybe"}']),
        "status-busy": body([entry(1, "busy", slot=3)]),
        "status-case": body([entry(1, "Maybe", slot=3)]),
        "status-number": body(['{"day":1,"slot":3,"status":1}']),
        "time-and-slot": body(['{"day":1,"slot":3,"time":"01:30","status":"maybe"}']),
        "neither": body(['{"day":1,"status":"maybe"}']),
        "no-day": body(['{"slot":1,"status":"maybe"}']),
        "entry-number": '{"slots":[5]}',
        "not-object": "[]",
        "slots-object": '{"slots":{"day":1}}',
        "truncated": '{"slots":[{"day":1,',
        "trailing-garbage": body([entry(1, "maybe", slot=3)]) + "x",
        "deep-nesting": "[" * 200 + "]" * 200,
        "empty-input": "",
        "bom": "\ufeff" + body([entry(1, "maybe", slot=3)]),
        "repeated-entry-key": body(['{"day":0,"slot":1,"status":"maybe","day":5}']),
        "repeated-slots": '{"slots":[{"day":1,"slot":1,"status":"maybe"}],"slots":[]}',
        "repeated-after-bad-entry": body(
            [entry(1, "busy", slot=3), '{"day":2,"slot":1,"status":"maybe","status":"available"}']
        ),
    }
    for name, text in valid.items():
        write(t, f"valid-{name}", text)
    for name, text in bad.items():
        write(t, f"bad-{name}", text)


# ---------------------------------------------------------------- data_file
def image(tz=b"UTC", week=bytes(84), generation=0, written_ms=1_790_000_000_000,
          magic=b"AVAILWK1", version=1, reserved=b"\0\0", crc=None):
    """The 168-byte file of SPEC section 2."""
    tail = struct.pack("<QQ", generation, written_ms) + tz.ljust(52, b"\0")[:52] + week
    assert len(tail) == 152
    if crc is None:
        crc = zlib.crc32(tail)
    return magic + struct.pack("<H", version) + reserved + struct.pack("<I", crc) + tail


def week_of(codes):
    """Packs 336 2-bit codes: slot i at bits 2*(i%4) of byte i/4."""
    out = bytearray(84)
    for i, code in enumerate(codes):
        out[i // 4] |= code << (2 * (i % 4))
    return bytes(out)


def data_file():
    t = "data_file"
    reset(t)
    pattern = week_of([(i * 7 + i // 48) % 3 for i in range(336)])
    valid = {
        "canonical-new-utc": image(),
        "canonical-tokyo": image(tz=b"Asia/Tokyo", week=pattern, generation=7),
        "canonical-longest-name": image(tz=b"America/Argentina/ComodRivadavia", week=pattern, generation=2**64 - 1),
        "canonical-all-maybe": image(tz=b"Etc/GMT+5", week=week_of([2] * 336), written_ms=0),
        "lowercase-zone": image(tz=b"asia/tokyo", week=pattern),
        "uppercase-zone": image(tz=b"EUROPE/LONDON"),
    }
    bad = {
        "magic": image(magic=b"AVAILWK2"),
        "version-2": image(version=2),
        "version-big-endian": image(version=256),
        "reserved": image(reserved=b"\0\x80"),
        "crc": image(crc=0xDEADBEEF),
        "crc-of-other": image(crc=zlib.crc32(b"")),
        "code-3-first": image(week=week_of([3] + [0] * 335)),
        "code-3-last": image(week=week_of([0] * 335 + [3])),
        "unknown-zone": image(tz=b"Mars/Olympus_Mons"),
        "empty-zone": image(tz=b""),
        "zone-padding": image(tz=b"UTC\0\0x"),
        "zone-not-utf8": image(tz=b"Asia/\xffokyo"),
        "zone-trailing-space": image(tz=b"UTC "),
        "zone-52-bytes": image(tz=b"A" * 52),
        "all-zero": bytes(168),
        "all-ff": b"\xff" * 168,
    }
    good = image(tz=b"Asia/Tokyo", week=pattern)
    bad["short-167"] = good[:167]
    bad["long-169"] = good + b"\0"
    bad["empty"] = b""
    for name, data in valid.items():
        write(t, f"valid-{name}.dat", data)
    for name, data in bad.items():
        write(t, f"bad-{name}.dat", data)


# ---------------------------------------------------------------- connection
def connection():
    """Scripts in the action format of fuzz/src/conn/actions.rs."""
    t = "connection"
    reset(t)

    def menu(item, arg=0, split=0):
        return bytes([1, item, arg, split])

    def raw(text):
        data = text.encode() if isinstance(text, str) else text
        assert len(data) < 256
        return bytes([0, len(data)]) + data

    def read(ms=40):
        return bytes([3, ms])

    def repeat(unit, count):
        return bytes([5, len(unit) - 1]) + unit + struct.pack("<H", count - 1)

    half_close, reconnect = bytes([4]), bytes([6])
    for item in range(16):
        write(t, f"menu-{item:02}", menu(item, 3) + read())
    write(t, "pipeline-reads", b"".join(menu(i, 5) for i in (0, 2, 3, 4, 5, 6, 7, 1)) + read())
    write(t, "write-then-read-all", menu(8, 1) + menu(9, 2) + raw("GET /availability HTTP/1.1\r\nHost: a\r\n\r\n") + menu(5) + read())
    write(t, "split-requests", menu(2, 9, 17) + menu(9, 4, 90) + menu(3, 2, 1) + read())
    write(t, "smuggle-then-menu", raw("GET /health HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") + menu(0) + read())
    write(t, "http10-keepalive", menu(13, 1) + menu(0) + menu(13, 0) + menu(0) + read())
    write(t, "close-mid-pipeline", menu(0) + menu(12) + menu(0) + read())
    write(t, "half-close", menu(0) + menu(2) + half_close + read())
    write(t, "reconnect", menu(8) + reconnect + menu(3) + menu(5) + reconnect + menu(10) + read())
    write(t, "raw-pieces", raw("GET /avail") + bytes([2, 5]) + raw("ability/slot?day=1&slot=2 HTTP/1.1\r\nHo") + raw("st: a\r\n\r\n") + read())
    write(t, "repeat-health", repeat(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n", 40) + read())
    write(t, "head-with-body", raw("HEAD /health HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab") + read())
    expect_body = '{"slots":[{"day":0,"slot":5,"status":"maybe"}]}'
    expect_head = (f"PATCH /availability HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {KEY}\r\n"
                   f"Expect: 100-continue\r\nContent-Length: {len(expect_body)}\r\n\r\n")
    write(t, "expect-continue", raw(expect_head) + read(30) + raw(expect_body) + read())
    write(t, "stall-partial-head", raw("GET /health HTTP/1.1\r\nHo") + bytes([2, 255]) + read())
    stall = bytes([2, 255])
    # Idle keep-alive connections outlive a stall; five in a row pass the idle timeout.
    write(t, "stall-after-request", menu(0) + stall + read() + menu(2) + read())
    write(t, "idle-timeout", menu(0) + stall * 5 + read())
    write(t, "stall-fresh", stall + read())
    # Week answers (~23 KB) into a small window: the server's writes block and resume.
    week = raw("GET /availability HTTP/1.1\r\nHost: a\r\n\r\n")
    write(t, "slow-reader", week * 3 + read(1) + read(1) + menu(0) + read())
    write(t, "slow-reader-small", week + read())
    # On TLS connections (every second one of a run; every one in the seed replay's
    # second pass), op 12 sends a record that cannot decrypt before the FIN.
    tamper = bytes([12])
    write(t, "tls-corrupt-record", menu(0) + menu(2) + tamper + read())
    write(t, "tls-corrupt-after-reconnect", menu(0) + reconnect + menu(2) + menu(3) + tamper + read())
    write(t, "tls-corrupt-behind-weeks", week * 2 + tamper + read(1) + read())

    # Reproducers of the two server findings (fixed in d326dda): a chunked encoding that
    # outgrows the worker's read buffer (the worker used to spin; now 413 and close), and
    # a HEAD refused for its body (the refusal used to carry a body).
    # Written next to the reproducers the fuzzer found (kept by hand), never over them.
    r = os.path.join(os.path.dirname(ROOT), "regressions", t)
    os.makedirs(r, exist_ok=True)
    spin = raw("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    spin += repeat(b"1;e=" + b"a" * 50 + b"\r\nx\r\n", 500) + read()
    with open(os.path.join(r, "chunked-encoding-fills-read-buffer"), "wb") as f:
        f.write(spin)
    with open(os.path.join(r, "head-refusal-has-no-body"), "wb") as f:
        f.write(raw("HEAD /health HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab") + read())


# ---------------------------------------------------------------- connection_cap
def connection_cap():
    """Scripts in the action format of fuzz/src/cap/actions.rs: clients 0-4 against a
    worker with 3 slots and 2 buffers. Windows go 64 KiB, 4 KiB, 333 B by (client +
    connects so far) % 3."""
    t = "connection_cap"
    reset(t)

    def op(client, kind):
        return bytes([client * 8 + kind])

    def connect(*clients):
        return b"".join(op(c, 0) for c in clients)

    def send(c, item, arg=0, cut=0):
        return op(c, 1) + bytes([item, arg, cut])

    def trickle(c, n):
        return op(c, 3) + bytes([n - 1])

    def read(*clients):
        return b"".join(op(c, 4) + bytes([255]) for c in clients)

    def read_some(c, sixteens):
        return op(c, 4) + bytes([sixteens])

    def close(c):
        return op(c, 6)

    # Codes of fuzz/src/cap/actions.rs `advance_ms`: below 200 the ms themselves.
    ms = {300: 200, 500: 201, 999: 202, 1000: 203, 1001: 204, 1100: 205, 2000: 206, 3000: 207}

    def advance(n):
        return op(0, 5) + bytes([ms.get(n, n)])

    settle = op(0, 7)
    full = connect(0, 1, 2)
    health = b"".join(send(c, 0) for c in (0, 1, 2)) + read(0, 1, 2)
    write(t, "quiet-reuse", full + health + advance(1100) + connect(3) + send(3, 3) + read(3))
    write(t, "quiet-too-soon", full + connect(3) + advance(999) + connect(3) + advance(1) + connect(3) + send(3, 0) + read(3))
    slow = b"".join(send(c, 0, 0, 5) for c in (0, 1, 2))
    drip = b"".join(trickle(c, 1) for c in (0, 1, 2))
    write(t, "slowloris", full + slow + (advance(300) + drip) * 3 + advance(300) + connect(3) + read(0, 1, 2) + connect(4))
    # Client 1 has the 333-byte window: its week answer blocks unread; the others are busy.
    busy = send(0, 2, 0, 10) + send(2, 2, 0, 10)
    write(t, "slow-reader", full + send(1, 2) + advance(1000) + busy + advance(100) + connect(3) + read(0, 1, 2, 3))
    write(t, "awaiting-writer", full + b"".join(send(c, 8, 1) for c in (0, 1, 2)) + advance(2000) + connect(3) + settle + read(0, 1, 2) + advance(1100) + connect(3) + send(3, 9, 2) + settle + read(3))
    write(t, "buffer-waiter", full + send(0, 0, 0, 5) + send(1, 3, 0, 5) + send(2, 0) + advance(1100) + read(2) + trickle(0, 20) + read(0))
    write(t, "pipelined-small-window", connect(1) + send(1, 2) * 3 + read_some(1, 40) + advance(500) + read_some(1, 2) + advance(1100) + connect(0, 2, 3) + read(1))
    write(t, "fin-with-answers-owed", full + send(0, 2) + close(0) + send(1, 8, 5) + close(1) + settle + read(0, 1) + connect(3))
    write(t, "connection-close", full + send(0, 12) + send(0, 0) + read(0) + connect(3) + send(3, 1) + read(3))
    write(t, "everyone-busy", full + b"".join(send(c, 2, c) for c in (0, 1, 2)) + advance(100) + connect(3) + connect(4) + read(0, 1, 2) + advance(2000) + connect(3))

    # Over TLS (Connect with op / 8 / 5 odd): the handshake goes as the client reads.
    def connect_tls(*clients):
        return b"".join(op(c + 5, 0) for c in clients)

    full_tls = connect_tls(0, 1, 2)
    handshake = read(0, 1, 2) * 4
    write(t, "tls-quiet-reuse", full_tls + handshake + health + read(0, 1, 2) + advance(1100) + connect(3) + send(3, 3) + read(3))
    # ClientHellos sent, the servers' flights never read: the 64 KiB and 4 KiB windows
    # hold them, so those two are quiet mid-handshake; the ~1.5 KB each sent counts
    # as a handshake arriving slowly until 1.5 s, and the listener looks within 1 s.
    write(t, "tls-handshake-unread", full_tls + advance(2000) + connect(3) + advance(1000) + connect(3) + connect(4) + send(3, 0) + read(3))
    slow_tls = b"".join(send(c, 0, 0, 5) for c in (0, 1, 2))
    write(t, "tls-slowloris", full_tls + handshake + slow_tls + (advance(300) + drip) * 3 + advance(1000) + connect(3) + advance(1000) + connect(4) + read(0, 1, 2, 3, 4))
    # Two TLS clients with 333-byte windows queue four chunked PATCHes (~3.5 KB) while
    # they handshake: sealed as one record when it ends, it goes 333 bytes a step, over
    # 1 KB/s, and a record arriving that fast is not a quiet connection; the third
    # waits for the writer. A newcomer at 1 s must wait.
    big = b"".join(send(c, 9, 32) * 4 for c in (1, 2))
    write(t, "tls-record-arriving-fast", connect_tls(2, 1) + connect(0) + send(0, 8, 1) + big + read(1, 2) * 7 + advance(150) * 7 + connect(3) + settle + read(0, 1, 2, 3))
    write(t, "tls-buffer-waiter", full_tls + handshake + send(0, 0, 0, 5) + send(1, 3, 0, 5) + send(2, 0) + advance(1100) + read(2) + trickle(0, 20) + read(0) + close(0) + close(1))


if __name__ == "__main__":
    request_head()
    query()
    patch_body()
    data_file()
    connection()
    connection_cap()
