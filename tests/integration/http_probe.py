#!/usr/bin/env python3
"""Raw-socket probes of a running bzzz node's HTTP API (Python 3 standard library only).

    http_probe.py --port PORT [--data DIR] [options] SCENARIO

Each scenario sends requests byte by byte as written here (malformed ones included),
reads the answers with its own small HTTP/1.1 response parser and checks them. It
prints one "ok:" line per check and exits 0, or prints "FAIL: ..." (what was sent, what
came back) and exits 1. api_bad_input_test.sh starts the node and runs the scenarios.

Timeouts are generous (a loaded 2-core machine): a socket waits up to --wait seconds
for an answer before the probe calls the node unresponsive.
"""

import argparse
import json
import os
import random
import re
import select
import socket
import sys
import threading
import time

# --------------------------------------------------------------------------------------
# plumbing


class ProbeFailure(Exception):
    pass


def fail(msg):
    raise ProbeFailure(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def ok(msg):
    print(f"ok: {msg}", flush=True)


ARGS = None  # the parsed command line


def short(b, n=400):
    """A readable excerpt of bytes for failure messages."""
    if b is None:
        return "None"
    text = repr(b[:n])
    return text + (f" ... ({len(b)} bytes)" if len(b) > n else "")


class Response:
    def __init__(self, method, status, reason, headers, body, head):
        self.method = method
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lower-case name, value)
        self.body = body
        self.head = head  # the raw status line and header

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            fail(f"response to {self.method} is not JSON ({e}): {self.describe()}")

    def describe(self):
        return f"{self.status} {self.reason}; header {short(self.head, 600)}; body {short(self.body)}"


class PeerClosed(Exception):
    """The node closed the connection (EOF or reset) before a whole response arrived."""

    def __init__(self, got):
        super().__init__(f"connection closed after {len(got)} bytes: {short(got)}")
        self.got = got


class Conn:
    """One client connection with a read buffer, so several responses can be read in order."""

    def __init__(self, port=None, timeout=None):
        self.port = port or ARGS.port
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout or ARGS.wait)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def send_tolerant(self, data):
        """Sends; returns False if the node had already closed or reset the connection."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def half_close(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        if self.eof:
            raise PeerClosed(self.buf)
        try:
            chunk = self.sock.recv(1 << 16)
        except ConnectionResetError:
            chunk = b""
        except socket.timeout:
            fail(f"no answer from the node within {self.sock.gettimeout()} s "
                 f"(have {short(self.buf)})")
        if not chunk:
            self.eof = True
            raise PeerClosed(self.buf)
        self.buf += chunk

    def _take_until(self, sep, limit=1 << 20):
        while sep not in self.buf:
            if len(self.buf) > limit:
                fail(f"no {sep!r} within {limit} bytes: {short(self.buf)}")
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, method="GET"):
        head = self._take_until(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3})(?: (.*))?$", lines[0])
        check(m is not None, f"not an HTTP/1.x status line: {short(head)}")
        status = int(m.group(1))
        reason = (m.group(2) or b"").decode("latin-1")
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            check(sep == b":" and name and name == name.strip(),
                  f"malformed response header line {line!r} in {short(head)}")
            headers.append((name.decode("latin-1").lower(), value.strip().decode("latin-1")))
        resp = Response(method, status, reason, headers, b"", head)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return resp
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header_all("content-length")
        if "chunked" in te:
            body = b""
            while True:
                size_line = self._take_until(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._take_until(b"\r\n") != b"\r\n":
                        pass
                    break
                body += self._take(size)
                check(self._take(2) == b"\r\n", "chunk not followed by CRLF")
            resp.body = body
        elif cl:
            check(len(set(cl)) == 1, f"several Content-Length values: {cl}")
            resp.body = self._take(int(cl[0]))
        else:
            while not self.eof:
                try:
                    self._fill()
                except PeerClosed:
                    break
            resp.body, self.buf = self.buf, b""
        return resp

    def expect_closed(self, within):
        """Waits until the node closes the connection; returns the bytes that came first.
        Fails if it is still open after `within` seconds."""
        deadline = time.monotonic() + within
        got = self.buf
        self.buf = b""
        if self.eof:
            return got
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail(f"the node kept the connection open for {within} s (got {short(got)})")
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                chunk = self.sock.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                return got
            got += chunk


def req(method, target, headers=(), body=b"", length=True, host=True):
    """Raw request bytes. `headers` is a list of "Name: value" strings (or bytes)."""
    lines = [f"{method} {target} HTTP/1.1".encode("latin-1")]
    if host:
        lines.append(b"Host: 127.0.0.1")
    for h in headers:
        lines.append(h if isinstance(h, bytes) else h.encode("latin-1"))
    if length and (body or method in ("POST", "PUT")):
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def one(raw, method=None, port=None):
    """Sends one raw request on a fresh connection and reads one response."""
    if method is None:
        method = raw.split(b" ", 1)[0].decode("latin-1")
    c = Conn(port)
    try:
        c.send(raw)
        return c.read_response(method)
    finally:
        c.close()


def describe_req(raw):
    return short(raw, 200)


def expect_status(resp, status, what):
    want = status if isinstance(status, (tuple, list, set)) else (status,)
    check(resp.status in want, f"{what}: expected {'/'.join(map(str, want))}, got {resp.describe()}")


def expect_error(resp, status, code, what):
    """A JSON error: the status, Content-Type application/json and {"error":{code,message}}."""
    expect_status(resp, status, what)
    ct = resp.header("content-type") or ""
    check(ct.startswith("application/json"), f"{what}: error Content-Type is '{ct}', not application/json")
    if resp.method == "HEAD":
        check(resp.body == b"", f"{what}: a HEAD response carried a body")
        return None
    doc = resp.json()
    err = doc.get("error") if isinstance(doc, dict) else None
    check(isinstance(err, dict), f"{what}: error body is not {{\"error\":{{...}}}}: {short(resp.body)}")
    check(isinstance(err.get("message"), str) and err["message"],
          f"{what}: error has no message: {short(resp.body)}")
    if code is not None:
        check(err.get("code") == code,
              f"{what}: error code is {err.get('code')!r}, expected {code!r}: {short(resp.body)}")
    else:
        check(isinstance(err.get("code"), str) and err["code"], f"{what}: error has no code")
    return err


def blob_bytes(seed, size, text=False):
    rnd = random.Random(seed)
    if not text:
        return rnd.randbytes(size)
    out = bytearray()
    i = 0
    while len(out) < size:
        out += f"{i:09d} INFO seed={seed} GET /api/items status={rnd.choice((200, 404))}\n".encode()
        i += 1
    return bytes(out[:size])


def put(data, what="put"):
    resp = one(req("POST", "/v1/blobs", ["Content-Type: application/octet-stream"], data))
    expect_status(resp, 201, what)
    doc = resp.json()
    check(re.fullmatch(r"[0-9a-f]{64}", doc.get("hash", "")), f"{what}: no hash in {short(resp.body)}")
    check(doc.get("size") == len(data), f"{what}: size {doc.get('size')} != {len(data)}")
    return doc


def get_ok(h, data, what):
    resp = one(req("GET", f"/v1/blobs/{h}"))
    expect_status(resp, 200, what)
    check(resp.body == data, f"{what}: GET returned {len(resp.body)} bytes that differ from the "
                             f"{len(data)} put")


def stats():
    resp = one(req("GET", "/v1/stats"))
    expect_status(resp, 200, "GET /v1/stats")
    return resp.json()


def node_alive(what):
    resp = one(req("GET", "/health/live"))
    expect_status(resp, 200, f"{what}: /health/live afterwards")


def temp_leftovers():
    """Files in the data dir's blobs/temp, other than the health check's probe file."""
    if not ARGS.data:
        return []
    d = os.path.join(ARGS.data, "blobs", "temp")
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return []
    return [n for n in names if not n.startswith("health-probe")]


def expect_no_temp(what):
    deadline = time.monotonic() + 10
    while True:
        left = temp_leftovers()
        if not left:
            return
        if time.monotonic() > deadline:
            fail(f"{what}: blobs/temp still holds {left}")
        time.sleep(0.2)


def chunk_spans(wire):
    """(data offset, data length) of each non-final chunk of a chunked body."""
    spans, pos = [], 0
    while True:
        eol = wire.index(b"\r\n", pos)
        n = int(wire[pos:eol].split(b";")[0], 16)
        if n == 0:
            return spans
        spans.append((eol + 2, n))
        pos = eol + 2 + n + 2


def chunked(data, piece=4096):
    out = bytearray()
    for i in range(0, len(data), piece):
        part = data[i:i + piece]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return bytes(out) + b"0\r\n\r\n"


# --------------------------------------------------------------------------------------
# scenarios

HASH_OF_NOTHING_STORED = "0123456789abcdef" * 4  # valid form, not in the store


def scenario_bad_hashes():
    doc = put(blob_bytes("fixture-small", 1000), "fixture put")
    good, cid = doc["hash"], doc["cid"]
    bad = {
        "too short": "abc",
        "63 hex digits": good[:63],
        "65 hex digits": good + "0",
        "66 hex digits": good + "00",
        "128 hex digits": good * 2,
        "64 non-hex letters": "g" * 64,
        "64 chars, last two non-hex": good[:62] + "zz",
        "64 chars with a dash": good[:32] + "-" + good[33:],
        "CID garbage (not base32)": "bafkr4ih!!!!",
        "CID garbage (base32, too short)": "bafy",
        "CID with a char outside base32": cid[:-1] + "1",
        "CID of a sha2-256 raw block": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        "CID truncated": cid[:-4],
        "CID with extra chars": cid + "aaaa",
        "CIDv0": "Qm" + "a" * 44,
        "single char": "x",
        "0x-prefixed hex": "0x" + good[:62],
    }
    for what, h in bad.items():
        for method, target in (("GET", f"/v1/blobs/{h}"), ("HEAD", f"/v1/blobs/{h}"),
                               ("GET", f"/v1/blobs/{h}/meta"), ("POST", f"/v1/pins/{h}"),
                               ("DELETE", f"/v1/pins/{h}")):
            resp = one(req(method, target))
            expect_error(resp, 400, "bad_hash", f"{method} {target} ({what})")
    ok(f"{len(bad)} malformed hashes get 400 bad_hash on GET, HEAD, /meta and both pin routes")

    for target, code in (("/v1/blobs?after=zz", "bad_hash"), ("/v1/blobs?limit=0", "bad_limit"),
                         ("/v1/blobs?limit=abc", "bad_limit"), ("/v1/blobs?limit=100001", "bad_limit"),
                         ("/v1/gc?grace=forever", "bad_grace"), ("/v1/gc?dry_run=perhaps", "bad_dry_run")):
        method = "POST" if target.startswith("/v1/gc") else "GET"
        expect_error(one(req(method, target)), 400, code, f"{method} {target}")
    ok("bad query parameters (after, limit, grace, dry_run) get 400 with their own codes")

    for method, target in (("GET", f"/v1/blobs/{HASH_OF_NOTHING_STORED}"),
                           ("HEAD", f"/v1/blobs/{HASH_OF_NOTHING_STORED}"),
                           ("GET", f"/v1/blobs/{HASH_OF_NOTHING_STORED}/meta"),
                           ("POST", f"/v1/pins/{HASH_OF_NOTHING_STORED}")):
        expect_error(one(req(method, target)), 404, "not_found", f"{method} {target} (absent blob)")
    ok("a well-formed hash that is not stored gets 404 not_found")

    get_ok(cid, blob_bytes("fixture-small", 1000), "GET by CID")
    resp = one(req("GET", f"/v1/blobs/{cid}/meta"))
    expect_status(resp, 200, "GET /meta by CID")
    check(resp.json().get("hash") == good, f"/meta by CID names another hash: {short(resp.body)}")
    ok("the CID form of a stored blob reads it (control)")


def scenario_bad_paths():
    data = blob_bytes("fixture-small", 1000)
    good = put(data, "fixture put")["hash"]
    for target in ("/v1/blobs/ab%2Fcd", "/v1/blobs/%2F", "/v1%2Fblobs", "/v1/blobs/%2f" + good[3:],
                   "/v1/blobs/%zz", "/v1/blobs/%4", "/v1/blobs/%", "/v1/blobs/abc%", "/v1/blobs/%g0",
                   "/v1/blobs/abc%00", "/v1/blobs/%00" + good[3:], "/v1/blobs/%2e%2e%2F%2e%2e%2Fetc%2Fpasswd"):
        expect_error(one(req("GET", target)), 400, "malformed_request", f"GET {target}")
    ok("paths with %2F, %00 or broken %-escapes get 400 malformed_request")

    # Escaped hex digits are just hex digits.
    escaped = "".join(f"%{ord(c):02x}" for c in good[:4]) + good[4:]
    get_ok(escaped, data, f"GET /v1/blobs/{escaped[:20]}... (escaped hex digits)")
    get_ok(f"{good}?unused=1&x=%zz", data, "GET with an unrelated query string")
    ok("%-escaped hex digits and an unrelated query string still read the blob (control)")

    # Odd request targets: answered with a 4xx, never a 5xx or a dead node.
    odd = [b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
           b"GET http://127.0.0.1/v1/stats/../../etc HTTP/1.1\r\nHost: x\r\n\r\n",
           b"GET /v1/blobs/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
           b"GET /v1/blobs/.. HTTP/1.1\r\nHost: x\r\n\r\n",
           b"GET /v1/blobs/%2e%2e HTTP/1.1\r\nHost: x\r\n\r\n",
           b"GET /../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
           b"GET /v1/blobs/" + b"a" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
           b"GET /v1/blobs/a b HTTP/1.1\r\nHost: x\r\n\r\n",
           b"GET /v1/stats HTTP/9.9\r\nHost: x\r\n\r\n",
           b"GET\r\n\r\n",
           b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)) + b"\r\n\r\n",  # TLS hello
           b"NOT HTTP AT ALL\r\n\r\n"]
    for raw in odd:
        c = Conn()
        try:
            c.send_tolerant(raw)
            try:
                resp = c.read_response("GET")
            except PeerClosed:
                resp = None  # closing on garbage is fine
            if resp is not None:
                check(400 <= resp.status < 500, f"{describe_req(raw)}: expected a 4xx, got {resp.describe()}")
                if resp.status != 404:
                    expect_error(resp, resp.status, None, describe_req(raw))
        finally:
            c.close()
        node_alive(describe_req(raw))
    ok(f"{len(odd)} odd request targets and non-HTTP bytes get a 4xx or a close; the node stays up")


def scenario_routes():
    data = blob_bytes("fixture-small", 1000)
    good = put(data, "fixture put")["hash"]
    for target in ("/", "/v2/blobs", "/v1", "/v1/", "/v1/blob", f"/v1/blobs/{good}/extra/more",
                   f"/v1/blobs/{good}/metadata", "/healthz", "/v1/stats/more", "/metrics/x",
                   "/V1/STATS"):
        resp = one(req("GET", target))
        err = expect_error(resp, 404, "not_found", f"GET {target}")
        check(err["message"], "404 without a message")
    ok("unknown paths get 404 not_found (JSON)")

    cases = [
        ("PUT", "/v1/blobs", {"GET", "HEAD", "POST"}),
        ("DELETE", "/v1/blobs", {"GET", "HEAD", "POST"}),
        ("DELETE", f"/v1/blobs/{good}", {"GET", "HEAD"}),
        ("POST", f"/v1/blobs/{good}", {"GET", "HEAD"}),
        ("PUT", f"/v1/blobs/{good}", {"GET", "HEAD"}),
        ("GET", f"/v1/pins/{good}", {"POST", "DELETE"}),
        ("PATCH", f"/v1/pins/{good}", {"POST", "DELETE"}),
        ("POST", "/v1/pins", {"GET", "HEAD"}),
        ("GET", "/v1/gc", {"POST"}),
        ("DELETE", "/v1/gc", {"POST"}),
        ("POST", "/v1/stats", {"GET", "HEAD"}),
        ("POST", "/metrics", {"GET", "HEAD"}),
        ("POST", "/health/ready", {"GET", "HEAD"}),
        ("DELETE", "/health", {"GET", "HEAD"}),
        ("OPTIONS", "/v1/blobs", {"GET", "HEAD", "POST"}),
    ]
    for method, target, allowed in cases:
        # No body: a request whose body the node leaves unread ends its connection.
        resp = one(req(method, target, length=False))
        expect_error(resp, 405, "method_not_allowed", f"{method} {target}")
        allow = resp.header("allow")
        check(allow is not None, f"{method} {target}: 405 without an Allow header: {resp.describe()}")
        got = {m.strip() for m in allow.split(",") if m.strip()}
        check(got == allowed, f"{method} {target}: Allow is '{allow}', expected {sorted(allowed)}")
        check(method not in got, f"{method} {target}: Allow lists the refused method")
    ok(f"{len(cases)} wrong methods get 405 with an Allow header naming exactly the route's methods")

    # A 405 with a body the node does not read: answered, then the connection may close.
    resp = one(req("PUT", "/v1/blobs", body=b"x" * 5000))
    expect_error(resp, 405, "method_not_allowed", "PUT /v1/blobs with a body")

    # An unknown method token.
    c = Conn()
    try:
        c.send_tolerant(b"BREW /v1/stats HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            resp = c.read_response("BREW")
            check(resp.status in (400, 405, 501), f"BREW /v1/stats: expected 400/405/501, got {resp.describe()}")
        except PeerClosed:
            pass
    finally:
        c.close()
    node_alive("unknown method")
    ok("a 405 with an unread body and an unknown method token are answered; the node stays up")


def range_fixtures():
    return [("small packed blob", blob_bytes("range-small", 1000)),
            ("large raw blob", blob_bytes("range-large", 200_000)),
            ("large compressible blob", blob_bytes("range-text", 300_000, text=True))]


def scenario_ranges():
    for what, data in range_fixtures():
        size = len(data)
        h = put(data, f"{what}: put")["hash"]
        bad = ["bytes=abc", "bytes=10-5", "bytes=999999999-", f"bytes={size}-", f"bytes={size}-{size + 10}",
               "bytes=0-1,5-6", "bytes=0-1, 5-6", "items=0-1", "bytes=-0", "bytes=", "bytes=-", "bytes=--5",
               "bytes=1-2-3", "bytes=18446744073709551616-", "bytes=0-18446744073709551616",
               "bytes=-18446744073709551616", "bytes=+1-2", "bytes=0x10-0x20", "0-10", "bytes 0-10",
               "bytes=5"]
        for r in bad:
            for method in ("GET", "HEAD"):
                resp = one(req(method, f"/v1/blobs/{h}", [f"Range: {r}"]))
                expect_error(resp, 416, "bad_range", f"{what}: {method} with Range: {r}")
                cr = resp.header("content-range")
                check(cr == f"bytes */{size}",
                      f"{what}: Range: {r}: Content-Range is {cr!r}, expected 'bytes */{size}'")
        good = [("bytes=10-19", 10, 20), ("bytes=0-0", 0, 1), ("bytes=-10", size - 10, size),
                (f"bytes={size - 5}-", size - 5, size), (f"bytes=0-{size * 10}", 0, size),
                ("bytes=100-", 100, size), (f"bytes=-{size * 3}", 0, size),
                (f"bytes={size - 1}-{size - 1}", size - 1, size), ("bytes= 10 - 19 ", 10, 20),
                (f"bytes={size // 2}-{size // 2 + 70000}", size // 2, min(size, size // 2 + 70001))]
        for r, start, end in good:
            resp = one(req("GET", f"/v1/blobs/{h}", [f"Range: {r}"]))
            expect_status(resp, 206, f"{what}: Range: {r}")
            want_cr = f"bytes {start}-{end - 1}/{size}"
            check(resp.header("content-range") == want_cr,
                  f"{what}: Range: {r}: Content-Range {resp.header('content-range')!r}, expected {want_cr!r}")
            check(resp.header("content-length") == str(end - start),
                  f"{what}: Range: {r}: Content-Length {resp.header('content-length')}, expected {end - start}")
            check(resp.body == data[start:end],
                  f"{what}: Range: {r}: {len(resp.body)} bytes that differ from bytes {start}..{end - 1}")
            resp = one(req("HEAD", f"/v1/blobs/{h}", [f"Range: {r}"]))
            expect_status(resp, 206, f"{what}: HEAD with Range: {r}")
            check(resp.header("content-range") == want_cr and resp.header("content-length") == str(end - start),
                  f"{what}: HEAD with Range: {r}: {resp.describe()}")
        resp = one(req("GET", f"/v1/blobs/{h}"))
        expect_status(resp, 200, f"{what}: GET without Range")
        check(resp.body == data, f"{what}: GET without Range returned different bytes")
        check(resp.header("accept-ranges") == "bytes", f"{what}: no 'Accept-Ranges: bytes': {resp.describe()}")
        check(resp.header("content-range") is None, f"{what}: a 200 carried Content-Range")
        ok(f"{what} ({size} bytes): {len(bad)} bad ranges get 416 bad_range with 'bytes */{size}'; "
           f"{len(good)} good ranges get 206 with the exact bytes")


def scenario_conditional():
    for what, data in range_fixtures():
        h = put(data, f"{what}: put")["hash"]
        etag = f'"{h}"'
        resp = one(req("GET", f"/v1/blobs/{h}"))
        expect_status(resp, 200, f"{what}: plain GET")
        check(resp.header("etag") == etag, f"{what}: ETag is {resp.header('etag')!r}, expected {etag!r}")
        for inm in (etag, f"W/{etag}", f'"nope", {etag}', f'  {etag}  ', "*"):
            for method in ("GET", "HEAD"):
                c = Conn()
                try:
                    c.send(req(method, f"/v1/blobs/{h}", [f"If-None-Match: {inm}"]) +
                           req("GET", "/health/live"))
                    resp = c.read_response(method)
                    expect_status(resp, 304, f"{what}: {method} with If-None-Match: {inm}")
                    check(resp.header("etag") == etag, f"{what}: 304 without the ETag: {resp.describe()}")
                    cl = resp.header("content-length")
                    check(cl in (None, "0"), f"{what}: 304 with Content-Length {cl}")
                    # The next pipelined response follows at once: the 304 carried no body.
                    nxt = c.read_response("GET")
                    expect_status(nxt, 200, f"{what}: the request after a 304 on the same connection")
                finally:
                    c.close()
        for inm in ('"0000"', f'"{h[:-1]}0"' if h[-1] != "0" else f'"{h[:-1]}1"', f'{h}', 'W/"x"'):
            resp = one(req("GET", f"/v1/blobs/{h}", [f"If-None-Match: {inm}"]))
            expect_status(resp, 200, f"{what}: If-None-Match: {inm} (no match)")
            check(resp.body == data, f"{what}: If-None-Match: {inm}: body differs")
        # Range and a matching If-None-Match: not modified wins.
        resp = one(req("GET", f"/v1/blobs/{h}", [f"If-None-Match: {etag}", "Range: bytes=0-9"]))
        expect_status(resp, 304, f"{what}: If-None-Match with a Range")
    expect_error(one(req("GET", f"/v1/blobs/{HASH_OF_NOTHING_STORED}", ["If-None-Match: *"])), 404,
                 "not_found", "If-None-Match: * on an absent blob")
    ok("ETag is the quoted hex hash; If-None-Match (strong, weak, list, *) gives 304 without a body; "
       "other tags give 200")


def scenario_head():
    for what, data in range_fixtures():
        h = put(data, f"{what}: put")["hash"]
        c = Conn()
        try:
            # HEAD then GET pipelined: the GET's status line must follow the HEAD's header
            # immediately, which proves the HEAD response had no body.
            c.send(req("HEAD", f"/v1/blobs/{h}") + req("GET", "/health/live"))
            resp = c.read_response("HEAD")
            expect_status(resp, 200, f"{what}: HEAD")
            check(resp.header("content-length") == str(len(data)),
                  f"{what}: HEAD Content-Length {resp.header('content-length')}, expected {len(data)}")
            check(resp.header("etag") == f'"{h}"', f"{what}: HEAD without the ETag")
            check(c.buf == b"" or c.buf.startswith(b"HTTP/1.1 "),
                  f"{what}: bytes after the HEAD response header: {short(c.buf)}")
            nxt = c.read_response("GET")
            expect_status(nxt, 200, f"{what}: GET after HEAD on one connection")
            check(b"status" in nxt.body, f"{what}: the response after HEAD is not /health/live's: {nxt.describe()}")
        finally:
            c.close()
    for target, status in ((f"/v1/blobs/{HASH_OF_NOTHING_STORED}", 404), ("/v1/blobs/abc", 400),
                           ("/v1/stats", 200), ("/health/ready", 200), ("/v1/nothing", 404),
                           ("/metrics", 200)):
        c = Conn()
        try:
            c.send(req("HEAD", target) + req("GET", "/health/live"))
            resp = c.read_response("HEAD")
            expect_status(resp, status, f"HEAD {target}")
            cl = resp.header("content-length")
            check(cl is not None and cl.isdigit() and int(cl) > 0,
                  f"HEAD {target}: Content-Length should be the GET body's size, got {cl}")
            nxt = c.read_response("GET")
            expect_status(nxt, 200, f"HEAD {target}: the pipelined GET after it")
            check(b"status" in nxt.body, f"HEAD {target} was followed by body bytes: {nxt.describe()}")
        finally:
            c.close()
    ok("HEAD answers carry Content-Length (and ETag for blobs) and no body; errors too")


def scenario_header_limit():
    limit = ARGS.max_header
    cases = {
        "one huge header": req("GET", "/v1/stats", [f"X-Pad: {'a' * (limit * 2)}"]),
        "many headers": req("GET", "/v1/stats", [f"X-Pad-{i}: {'b' * 100}" for i in range(limit // 50)]),
        "a huge request target": req("GET", "/v1/blobs/" + "a" * (limit + 4096)),
        "a huge header on a POST": req("POST", "/v1/blobs", [f"X-Pad: {'c' * (limit * 2)}"], b"hello"),
    }
    for what, raw in cases.items():
        c = Conn()
        try:
            c.send_tolerant(raw)
            try:
                resp = c.read_response(raw.split(b" ", 1)[0].decode())
            except PeerClosed as e:
                fail(f"{what} ({len(raw)} bytes, limit {limit}): closed without a 431 (got {short(e.got)})")
            expect_error(resp, 431, "header_too_large", f"{what} ({len(raw)} bytes)")
            c.expect_closed(ARGS.wait)
        finally:
            c.close()
        node_alive(what)
    ok(f"headers over {limit} bytes get 431 header_too_large and a closed connection")
    # Control: a header well under the limit works, on a kept-alive connection.
    c = Conn()
    try:
        for _ in range(3):
            c.send(req("GET", "/v1/stats", [f"X-Pad: {'d' * (limit // 2)}"]))
            expect_status(c.read_response(), 200, f"a {limit // 2}-byte header (under the limit)")
    finally:
        c.close()
    ok("a header half the limit is served, three times on one connection (control)")


def stream_upload(head, pieces):
    """Sends a request header, then body pieces while the node reads them; stops sending
    as soon as an answer arrives or the connection breaks. Returns (response or None,
    body bytes sent)."""
    c = Conn()
    sent = 0
    try:
        if not c.send_tolerant(head):
            pieces = []
        for piece in pieces:
            r, _, _ = select.select([c.sock], [], [], 0)
            if r:
                break  # the node answered early
            if not c.send_tolerant(piece):
                break
            sent += len(piece)
        try:
            return c.read_response("POST"), sent
        except PeerClosed as e:
            fail(f"upload: the node closed the connection without an answer after {sent} body bytes "
                 f"(got {short(e.got)})")
    finally:
        c.close()


def scenario_body_limit_length():
    limit = ARGS.max_body
    before = stats()["blobs"]
    big = blob_bytes("over-limit", 2 * limit + 12345)

    # Declared too large by Content-Length.
    for declared in (limit + 1, 2 * limit + 12345, 10 ** 15):
        head = req("POST", "/v1/blobs", [f"Content-Length: {declared}"], length=False)
        body = big[:declared] if declared <= len(big) else big
        pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
        resp, sent = stream_upload(head, pieces)
        expect_error(resp, 413, "too_large", f"POST /v1/blobs with Content-Length: {declared} (limit {limit})")
        node_alive(f"Content-Length {declared}")
    ok(f"bodies declared over the {limit}-byte limit by Content-Length get 413 too_large")
    expect_no_temp("after refused oversized uploads")
    check(stats()["blobs"] == before, "an oversized upload left a blob in the store")
    ok("nothing was stored and blobs/temp is empty")


def scenario_body_limit_chunked():
    limit = ARGS.max_body
    before = stats()["blobs"]
    big = blob_bytes("over-limit", 2 * limit + 12345)

    # Too large as a chunked stream.
    for piece in (65536, 1000):
        head = req("POST", "/v1/blobs", ["Transfer-Encoding: chunked"], length=False)
        body = big[:limit + 3 * piece]
        pieces = [f"{piece:x}\r\n".encode() + body[i:i + piece] + b"\r\n" for i in range(0, len(body), piece)]
        pieces.append(b"0\r\n\r\n")
        resp, sent = stream_upload(head, pieces)
        expect_error(resp, 413, "too_large", f"a chunked upload of {len(body)} bytes in {piece}-byte chunks "
                                             f"(limit {limit})")
        node_alive(f"chunked {piece}")
    ok(f"chunked uploads running over the {limit}-byte limit get 413 too_large")

    expect_no_temp("after refused oversized uploads")
    check(stats()["blobs"] == before, "an oversized upload left a blob in the store")
    ok("nothing was stored and blobs/temp is empty")

    # Controls: exactly the limit, by Content-Length and chunked, is accepted.
    exact = blob_bytes("exact-limit", limit)
    doc = put(exact, f"a body of exactly {limit} bytes")
    get_ok(doc["hash"], exact, "the exact-limit blob")
    exact2 = blob_bytes("exact-limit-chunked", limit)
    resp = one(req("POST", "/v1/blobs", ["Transfer-Encoding: chunked"], chunked(exact2, 65536), length=False))
    expect_status(resp, 201, f"a chunked body of exactly {limit} bytes")
    get_ok(resp.json()["hash"], exact2, "the exact-limit chunked blob")
    ok(f"bodies of exactly {limit} bytes are stored, by Content-Length and chunked (control)")


def truncated_case(name, head, tail, mode):
    """Sends head + tail (the body as far as it goes), then closes (mode 'half': shutdown(WR) and read
    the answer; 'close': close at once; 'stall': keep the connection open and wait for
    the node's io timeout). Returns the response or None."""
    c = Conn()
    try:
        c.send(head + tail)
        if mode == "close":
            return None
        if mode == "half":
            c.half_close()
            try:
                resp = c.read_response("POST")
            except PeerClosed as e:
                fail(f"{name}: after a half-close the node closed without an answer (got {short(e.got)})")
            expect_error(resp, 400, None, f"{name}: answer to a body cut short")
            return resp
        # The node gives up after io_timeout: with a 408, or (when its timer has already
        # closed the socket) with a plain close. Either way promptly, and not before.
        t0 = time.monotonic()
        try:
            resp = c.read_response("POST")
        except PeerClosed as e:
            check(e.got == b"", f"{name}: a partial answer to a stalled body: {short(e.got)}")
            resp = None
        took = time.monotonic() - t0
        if resp is not None:
            expect_error(resp, 408, "timeout", f"{name}: answer to a stalled body")
            c.expect_closed(ARGS.wait)
        else:
            print(f"note: {name}: the node closed the stalled upload without an answer (no 408)", flush=True)
        check(took >= 0.5 * ARGS.io_timeout,
              f"{name}: the stalled body was cut after {took:.1f} s, well before io_timeout {ARGS.io_timeout} s")
        check(took < ARGS.io_timeout + ARGS.margin,
              f"{name}: the stalled body was cut only after {took:.1f} s (io_timeout {ARGS.io_timeout} s)")
        return resp
    finally:
        c.close()


def scenario_truncated():
    before = stats()["blobs"]
    checks = []  # (what, content that must not be stored)
    cases = []
    for i, (mode, size) in enumerate((("half", 1000), ("half", 200_000), ("close", 1000),
                                      ("close", 300_000), ("stall", 1000), ("stall", 200_000))):
        full = blob_bytes(f"cut-cl-{i}", size)
        part = full[:size // 2]
        cases.append((f"Content-Length {size}, {len(part)} bytes sent, {mode}",
                      req("POST", "/v1/blobs", [f"Content-Length: {size}"], length=False), part, part, mode, full))
    for i, (mode, size, cut) in enumerate((("half", 1000, "mid-chunk"), ("half", 200_000, "mid-chunk"),
                                           ("half", 200_000, "no-last-chunk"), ("close", 1000, "mid-chunk"),
                                           ("close", 300_000, "mid-chunk"), ("close", 200_000, "in-size-line"),
                                           ("stall", 200_000, "mid-chunk"), ("stall", 1000, "no-last-chunk"))):
        full = blob_bytes(f"cut-chunked-{i}", size)
        wire = chunked(full, 16384)
        spans = chunk_spans(wire)  # (data start, data length) of each chunk
        mid = len(spans) // 2
        if cut == "mid-chunk":
            cut_at = spans[mid][0] + spans[mid][1] // 2
        elif cut == "no-last-chunk":
            cut_at = len(wire) - len(b"0\r\n\r\n")
        else:  # one hex digit of the next chunk's size line
            cut_at = spans[mid][0] + spans[mid][1] + 2 + 1
        tail = wire[:cut_at]
        # What a node that committed the partial stream would have stored: the data bytes sent.
        sent = b"".join(wire[start:min(start + n, cut_at)] for start, n in spans if start < cut_at)
        cases.append((f"chunked {size} bytes, cut {cut} after {len(sent)} data bytes, {mode}",
                      req("POST", "/v1/blobs", ["Transfer-Encoding: chunked"], length=False), bytes(sent),
                      tail, mode, full))
    # A chunk size line that is not hex, a chunk longer than announced, a negative size,
    # a size that overflows 64 bits.
    for i in range(4):
        p = f"malformed-chunked-{i}-{random.random()}".encode()
        bad_wire = (b"zz\r\n" + p + b"\r\n0\r\n\r\n",
                    b"%x\r\n" % len(p) + p + b"EXTRA\r\n0\r\n\r\n",
                    b"-%x\r\n" % len(p) + p + b"\r\n0\r\n\r\n",
                    b"ffffffffffffffffffff\r\n" + p + b"\r\n0\r\n\r\n")[i]
        c = Conn()
        try:
            c.send_tolerant(req("POST", "/v1/blobs", ["Transfer-Encoding: chunked"], length=False) + bad_wire)
            try:
                resp = c.read_response("POST")
                check(resp.status in (400, 413), f"malformed chunked body {bad_wire[:24]!r}: expected 400, got "
                                                 f"{resp.describe()}")
                expect_error(resp, resp.status, None, f"malformed chunked body {bad_wire[:24]!r}")
            except PeerClosed:
                fail(f"malformed chunked body {bad_wire[:24]!r}: closed without an answer")
        finally:
            c.close()
        checks.append((f"malformed chunked body #{i}", p))
    for name, head, part, tail, mode, full in cases:
        truncated_case(name, head, tail, mode)
        node_alive(name)
        checks.append((f"{name}: the part sent", part))
        checks.append((f"{name}: the whole content", full))
        ok(f"{name}: answered {'400' if mode == 'half' else '408 or a close' if mode == 'stall' else '(closed)'}; "
           "node serving")
    expect_no_temp("after cut-short uploads")
    after = stats()["blobs"]
    check(after == before, f"cut-short uploads changed the blob count from {before} to {after}")
    # None of those contents is in the store: putting each now is not a deduplicated put.
    seen = set()
    for what, content in checks:
        if content in seen:
            continue  # e.g. a stream cut only before its last chunk sent the whole content
        seen.add(content)
        doc = put(content, f"re-put of {what}")
        check(doc.get("deduplicated") is False, f"{what}: the store already held it: a cut-short upload "
                                                f"was committed ({doc})")
    ok(f"{len(cases)} cut-short uploads stored nothing (blob count unchanged; re-puts of the partial and "
       f"whole contents are new) and left blobs/temp empty")


def scenario_length_required():
    before = stats()["blobs"]
    resp = one(req("POST", "/v1/blobs", length=False))
    expect_error(resp, 411, "length_required", "POST /v1/blobs without Content-Length or chunked")
    resp = one(req("POST", "/v1/blobs", ["Content-Type: application/octet-stream"], length=False, host=False))
    expect_error(resp, (400, 411), None, "POST /v1/blobs without Host or length")
    ok("a POST with neither Content-Length nor chunked gets 411 length_required")

    bad = {
        "both Content-Length and chunked": (["Content-Length: 5", "Transfer-Encoding: chunked"],
                                            b"5\r\nhello\r\n0\r\n\r\n", (400,)),
        "Content-Length: -5": (["Content-Length: -5"], b"hello", (400,)),
        "Content-Length: abc": (["Content-Length: abc"], b"hello", (400,)),
        "Content-Length: 5 5": (["Content-Length: 5 5"], b"hello", (400,)),
        "two different Content-Lengths": (["Content-Length: 5", "Content-Length: 6"], b"hello!", (400,)),
        "Content-Length: 99999999999999999999999": (["Content-Length: 99999999999999999999999"], b"hello",
                                                    (400, 413)),
    }
    for what, (headers, body, statuses) in bad.items():
        c = Conn()
        try:
            c.send_tolerant(req("POST", "/v1/blobs", headers, body, length=False))
            try:
                resp = c.read_response("POST")
            except PeerClosed as e:
                fail(f"POST with {what}: closed without an answer (got {short(e.got)})")
            expect_error(resp, statuses, None, f"POST with {what}")
        finally:
            c.close()
        node_alive(what)
    check(stats()["blobs"] == before, "a refused POST stored a blob")
    ok(f"{len(bad)} bad or conflicting length headers get a 4xx error and store nothing")

    # Controls: an empty body by Content-Length: 0, and a chunked body with an extension and a trailer.
    resp = one(req("POST", "/v1/blobs", ["Content-Length: 0"], length=False))
    expect_status(resp, 201, "POST with Content-Length: 0")
    check(resp.json().get("size") == 0, f"the empty put has size {resp.json().get('size')}")
    resp = one(req("POST", "/v1/blobs", ["Transfer-Encoding: chunked"],
                   b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n", length=False))
    expect_status(resp, 201, "a chunked POST with a chunk extension and a trailer")
    get_ok(resp.json()["hash"], b"hello world", "the chunked blob")
    ok("Content-Length: 0 stores the empty blob; chunked with an extension and a trailer works (controls)")


def scenario_transfer_encoding():
    """A Transfer-Encoding other than a final "chunked" leaves the body length unknown:
    RFC 9112 6.3 says answer 400 and close (501 for a coding not understood). Above all the
    body must not be read as the next request (request smuggling)."""
    hidden = b"GET /v1/blobs/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    problems = []
    for te in ("identity", "gzip", "chunked, identity", "gzip, chunked, identity", "xchunked", "chunked;x=1"):
        c = Conn()
        t0 = time.monotonic()
        try:
            c.send_tolerant(req("POST", "/v1/blobs", [f"Transfer-Encoding: {te}"], hidden, length=False))
            try:
                resp = c.read_response("POST")
            except PeerClosed as e:
                problems.append(f"TE '{te}': closed without an answer (got {short(e.got)})")
                continue
            if resp.status == 201:
                problems.append(f"TE '{te}': the body was stored: {resp.describe()}")
                continue
            expect_error(resp, resp.status, None, f"POST with Transfer-Encoding: {te}")
            rest = c.expect_closed(ARGS.idle_timeout + ARGS.margin)
            took = time.monotonic() - t0
            if b"HTTP/1.1" in rest:
                problems.append(f"TE '{te}': answered {resp.status}, then ran the body as a request "
                                f"(smuggling): {short(rest)}")
            elif resp.status not in (400, 501):
                problems.append(f"TE '{te}': answered {resp.status} {resp.reason}, expected 400 or 501")
            elif took >= ARGS.idle_timeout:
                problems.append(f"TE '{te}': answered {resp.status} but kept the connection open")
        finally:
            c.close()
        node_alive(f"TE {te}")
    if problems:
        fail("unknown or non-final transfer codings:\n  " + "\n  ".join(problems))
    ok("non-final or unknown Transfer-Encodings get 400/501 and a closed connection; nothing smuggled")


def scenario_slowloris():
    n, n_silent = ARGS.slow_conns, 5
    ht, it, margin = ARGS.header_timeout, ARGS.idle_timeout, ARGS.margin
    data = blob_bytes("fixture-small", 1000)
    h = put(data, "fixture put")["hash"]
    payload = (b"GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100000)
    conns = []  # dicts: sock, first (time of the first byte), pos, closed, got
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", ARGS.port), timeout=ARGS.wait)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        conns.append({"sock": s, "first": None, "pos": 0, "closed": None, "got": b"", "silent": False})
    for i in range(n_silent):
        s = socket.create_connection(("127.0.0.1", ARGS.port), timeout=ARGS.wait)
        s.setblocking(False)
        conns.append({"sock": s, "first": time.monotonic(), "pos": 0, "closed": None, "got": b"",
                      "silent": True})
    t_start = time.monotonic()

    # Meanwhile, ordinary requests on fresh connections must be served promptly.
    normal = []  # (what, seconds or an error string)

    def ordinary():
        for k in range(6):
            time.sleep(0.6)
            for what, raw in (("GET /health/ready", req("GET", "/health/ready")),
                              ("GET blob", req("GET", f"/v1/blobs/{h}")),
                              ("POST blob", req("POST", "/v1/blobs", body=blob_bytes(f"during-slow-{k}", 3000)))):
                t0 = time.monotonic()
                try:
                    resp = one(raw)
                    good = resp.status in (200, 201) and (what != "GET blob" or resp.body == data)
                    normal.append((what, time.monotonic() - t0 if good else f"got {resp.describe()}"))
                except (ProbeFailure, OSError) as e:
                    normal.append((what, f"failed: {e}"))

    worker = threading.Thread(target=ordinary, daemon=True)
    worker.start()

    next_drip = time.monotonic()
    deadline = t_start + max(ht, it) + margin
    while True:
        now = time.monotonic()
        live = [c for c in conns if c["closed"] is None]
        if not live or now > deadline:
            break
        if now >= next_drip:
            for c in live:
                if c["silent"]:
                    continue
                try:
                    c["sock"].send(payload[c["pos"]:c["pos"] + 1])
                    if c["first"] is None:
                        c["first"] = time.monotonic()
                    c["pos"] += 1
                except (BlockingIOError, InterruptedError):
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    c["closed"] = time.monotonic()
            next_drip = now + ARGS.drip
        live = [c for c in conns if c["closed"] is None]
        if not live:
            break
        r, _, _ = select.select([c["sock"] for c in live], [], [], max(0.0, min(next_drip, deadline) - time.monotonic()))
        for c in live:
            if c["sock"] in r:
                try:
                    chunk = c["sock"].recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    c["got"] += chunk
                else:
                    c["closed"] = time.monotonic()
    worker.join(timeout=ARGS.wait * 3)
    for c in conns:
        c["sock"].close()

    still = [c for c in conns if c["closed"] is None]
    if still:
        fail(f"{len(still)} of {n + n_silent} connections still open {max(ht, it) + margin:.0f} s after they "
             f"started (header_timeout {ht} s, idle_timeout {it} s); e.g. one that sent {still[0]['pos']} bytes "
             f"and got {short(still[0]['got'])}")
    slow = [c for c in conns if not c["silent"]]
    cut = sorted(c["closed"] - c["first"] for c in slow)
    answered = 0
    for c in slow:
        if c["got"]:
            answered += 1
            m = re.match(rb"HTTP/1\.1 (\d{3})", c["got"])
            check(m and m.group(1) == b"408", f"a slow header was answered with {short(c['got'])}, expected 408 "
                                              "or a plain close")
            check(b'"timeout"' in c["got"], f"a 408 without the timeout code: {short(c['got'])}")
    check(cut[0] >= 0.5 * ht, f"a slow header was cut {cut[0]:.2f} s after its first byte, before half of the "
                              f"{ht} s header_timeout")
    check(cut[-1] <= ht + margin, f"a slow header was cut only {cut[-1]:.1f} s after its first byte "
                                  f"(header_timeout {ht} s)")
    ok(f"{n} slowloris connections (a header byte every {ARGS.drip} s) were cut {cut[0]:.1f}..{cut[-1]:.1f} s "
       f"after their first byte (header_timeout {ht} s); {answered} got a 408 first, the rest a plain close")
    for c in conns:
        if c["silent"]:
            check(c["got"] == b"", f"a silent connection was sent {short(c['got'])}")
            took = c["closed"] - c["first"]
            check(took <= it + margin, f"a silent connection lived {took:.1f} s (idle_timeout {it} s)")
    ok(f"{n_silent} silent connections were closed within idle_timeout ({it} s) + margin, without an answer")

    check(len(normal) == 18, f"only {len(normal)} of 18 ordinary requests finished: {normal}")
    bad = [(w, r) for w, r in normal if isinstance(r, str)]
    check(not bad, f"ordinary requests failed during the slowloris attack: {bad}")
    worst = max(r for _, r in normal)
    check(worst < ARGS.prompt, f"an ordinary request took {worst:.2f} s during the attack (limit {ARGS.prompt} s): "
                               f"{normal}")
    ok(f"18 ordinary requests during the attack all succeeded, the slowest in {worst:.2f} s")


def scenario_pipelining():
    blobs = [blob_bytes(f"pipe-{i}", size) for i, size in enumerate((100, 5000, 70000))]
    hashes = [put(b, "fixture put")["hash"] for b in blobs]
    c = Conn()
    try:
        raw = (req("GET", f"/v1/blobs/{hashes[0]}") + req("HEAD", f"/v1/blobs/{hashes[1]}") +
               req("GET", f"/v1/blobs/{hashes[1]}") + req("GET", f"/v1/blobs/{HASH_OF_NOTHING_STORED}") +
               req("GET", "/v1/blobs/nothex") + req("GET", f"/v1/blobs/{hashes[2]}", ["Range: bytes=5-9"]) +
               req("GET", f"/v1/blobs/{hashes[2]}"))
        c.send(raw)
        r = c.read_response("GET")
        expect_status(r, 200, "pipelined #1")
        check(r.body == blobs[0], "pipelined #1: wrong bytes")
        r = c.read_response("HEAD")
        expect_status(r, 200, "pipelined #2 (HEAD)")
        check(r.header("content-length") == str(len(blobs[1])), f"pipelined #2: {r.describe()}")
        r = c.read_response("GET")
        expect_status(r, 200, "pipelined #3")
        check(r.body == blobs[1], "pipelined #3: wrong bytes")
        expect_error(c.read_response("GET"), 404, "not_found", "pipelined #4")
        expect_error(c.read_response("GET"), 400, "bad_hash", "pipelined #5")
        r = c.read_response("GET")
        expect_status(r, 206, "pipelined #6")
        check(r.body == blobs[2][5:10], "pipelined #6: wrong bytes")
        r = c.read_response("GET")
        expect_status(r, 200, "pipelined #7")
        check(r.body == blobs[2], "pipelined #7: wrong bytes")
    finally:
        c.close()
    ok("7 requests written back to back on one connection got 7 responses in order, bodies exact")

    # An upload followed by reads in the same write.
    new = blob_bytes("pipe-upload", 2000)
    c = Conn()
    try:
        c.send(req("POST", "/v1/blobs", body=new) + req("GET", f"/v1/blobs/{hashes[0]}") + req("GET", "/v1/stats"))
        r = c.read_response("POST")
        expect_status(r, 201, "pipelined upload")
        h_new = r.json()["hash"]
        r = c.read_response("GET")
        expect_status(r, 200, "GET pipelined after an upload")
        check(r.body == blobs[0], "GET pipelined after an upload: wrong bytes")
        expect_status(c.read_response("GET"), 200, "stats pipelined after an upload")
    finally:
        c.close()
    get_ok(h_new, new, "the pipelined upload")
    ok("a POST with a body pipelined before two GETs: three responses in order")

    # Twenty at once, alternating two blobs.
    c = Conn()
    try:
        c.send(b"".join(req("GET", f"/v1/blobs/{hashes[i % 2]}") for i in range(20)))
        for i in range(20):
            r = c.read_response("GET")
            expect_status(r, 200, f"pipelined burst #{i + 1}")
            check(r.body == blobs[i % 2], f"pipelined burst #{i + 1}: the bytes of the wrong blob")
    finally:
        c.close()
    ok("20 pipelined GETs alternating two blobs came back in order")


def scenario_keepalive():
    blobs = [blob_bytes(f"ka-{i}", size) for i, size in enumerate((300, 40000))]
    hashes = [put(b, "fixture put")["hash"] for b in blobs]
    c = Conn()
    rounds = 40
    try:
        port = c.sock.getsockname()[1]
        for i in range(rounds):
            steps = [
                (req("GET", f"/v1/blobs/{hashes[i % 2]}"), "GET", 200, blobs[i % 2]),
                (req("HEAD", f"/v1/blobs/{hashes[0]}"), "HEAD", 200, None),
                (req("GET", "/v1/stats"), "GET", 200, None),
                (req("GET", f"/v1/blobs/{HASH_OF_NOTHING_STORED}"), "GET", 404, None),
                (req("GET", "/v1/blobs/zz"), "GET", 400, None),
                (req("GET", "/v1/gc"), "GET", 405, None),
                (req("GET", "/nowhere"), "GET", 404, None),
                (req("GET", f"/v1/blobs/{hashes[1]}", ["Range: bytes=7-"]), "GET", 206, blobs[1][7:]),
                (req("GET", f"/v1/blobs/{hashes[1]}", ["Range: bytes=9-1"]), "GET", 416, None),
                (req("POST", "/v1/blobs", body=b"keep-alive %d" % i), "POST", 201, None),
                (req("GET", "/health/ready"), "GET", 200, None),
            ]
            for raw, method, status, body in steps:
                try:
                    c.send(raw)
                    r = c.read_response(method)
                except (PeerClosed, BrokenPipeError, ConnectionResetError) as e:
                    fail(f"keep-alive round {i + 1}: the node closed the connection at {describe_req(raw)}: {e}")
                expect_status(r, status, f"keep-alive round {i + 1}: {describe_req(raw)}")
                if body is not None:
                    check(r.body == body, f"keep-alive round {i + 1}: {describe_req(raw)}: wrong bytes")
                check((r.header("connection") or "").lower() != "close",
                      f"keep-alive round {i + 1}: {describe_req(raw)} answered with Connection: close")
        check(c.sock.getsockname()[1] == port, "the connection changed")
    finally:
        c.close()
    ok(f"{rounds * 11} requests (gets, heads, ranges, puts, 400/404/405/416 errors) on one connection")
    # Connection: close is honoured.
    c = Conn()
    try:
        c.send(req("GET", "/v1/stats", ["Connection: close"]))
        expect_status(c.read_response(), 200, "GET with Connection: close")
        c.expect_closed(ARGS.wait)
    finally:
        c.close()
    # HTTP/1.0 without keep-alive: one response, then close.
    c = Conn()
    try:
        c.send(b"GET /v1/stats HTTP/1.0\r\n\r\n")
        expect_status(c.read_response(), 200, "an HTTP/1.0 GET")
        c.expect_closed(ARGS.wait)
    finally:
        c.close()
    ok("Connection: close and HTTP/1.0 get one response and a closed connection")


def scenario_conn_cap():
    cap = ARGS.cap
    held = []
    try:
        for i in range(cap):
            c = Conn()
            c.send(req("GET", "/health/live"))
            expect_status(c.read_response(), 200, f"held connection #{i + 1}")
            held.append(c)
        # One more: the node answers 503 by itself, without waiting for a request.
        extra = Conn()
        try:
            try:
                resp = extra.read_response("GET")
            except PeerClosed as e:
                fail(f"connection #{cap + 1} over a cap of {cap}: closed without a 503 (got {short(e.got)})")
            expect_error(resp, 503, "too_many_connections", f"connection #{cap + 1} over a cap of {cap}")
            check(resp.header("retry-after") is not None, f"the 503 has no Retry-After: {resp.describe()}")
            extra.expect_closed(ARGS.wait)
        finally:
            extra.close()
        # The held ones still work.
        for i, c in enumerate(held):
            c.send(req("GET", "/v1/stats"))
            expect_status(c.read_response(), 200, f"held connection #{i + 1} after the refusal")
        ok(f"with {cap} connections open (the cap), another gets 503 too_many_connections with Retry-After; "
           "the open ones keep working")
        held.pop().close()
        deadline = time.monotonic() + ARGS.wait
        while True:
            try:
                resp = one(req("GET", "/metrics"))
            except (ProbeFailure, OSError):
                resp = None
            if resp is not None and resp.status == 200:
                break
            if time.monotonic() > deadline:
                fail(f"after one of {cap} connections closed, a new one still is refused: "
                     f"{resp.describe() if resp else 'no answer'}")
            time.sleep(0.2)
        m = re.search(rb'^bzzz_http_rejected_connections_total\{[^}]*\} (\S+)$', resp.body, re.M)
        check(m and float(m.group(1)) >= 1, "bzzz_http_rejected_connections_total did not count the refusal")
        ok("after one closed, a new connection is served; the refusal was counted in the metrics")
    finally:
        for c in held:
            c.close()


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data", help="the node's data dir (to look into blobs/temp)")
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for any one answer")
    p.add_argument("--max-body", type=int, default=1 << 20, help="the node's api.max_body in bytes")
    p.add_argument("--max-header", type=int, default=8192, help="the node's api.max_header in bytes")
    p.add_argument("--header-timeout", type=float, default=2.0)
    p.add_argument("--idle-timeout", type=float, default=5.0)
    p.add_argument("--io-timeout", type=float, default=2.0)
    p.add_argument("--margin", type=float, default=10.0, help="slack added to every timeout bound")
    p.add_argument("--slow-conns", type=int, default=50)
    p.add_argument("--drip", type=float, default=0.5, help="seconds between a slow client's bytes")
    p.add_argument("--prompt", type=float, default=5.0, help="an ordinary request under attack takes less")
    p.add_argument("--cap", type=int, default=4, help="the node's api.max_connections (conn_cap)")
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    ARGS = p.parse_args()
    try:
        SCENARIOS[ARGS.scenario]()
    except ProbeFailure as e:
        print(f"FAIL: {ARGS.scenario}: {e}", file=sys.stderr, flush=True)
        return 1
    except PeerClosed as e:
        print(f"FAIL: {ARGS.scenario}: the node closed a connection unexpectedly: {e}", file=sys.stderr, flush=True)
        return 1
    except (OSError, socket.timeout) as e:
        print(f"FAIL: {ARGS.scenario}: socket error: {e!r}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
