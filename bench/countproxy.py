#!/usr/bin/env python3
"""A counting HTTP/1.1 relay for the benchmarks (Python 3 stdlib only).

    countproxy.py --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT --log FILE [--delay-ms MS]

Every client connection gets its own upstream connection; bytes are relayed unchanged (the Host
header too, so the registry builds Location URLs that point back at the proxy). Both directions
are parsed on the side (request/response heads, Content-Length and chunked bodies) to log one
JSON line per exchange to FILE on SIGTERM/SIGINT:

    {"m": "GET", "p": "/v2/ns/repo/blobs/sha256:…", "s": 200, "qb": 0, "rb": 123456,
     "t0": 1234.5, "t1": 1234.6, "c": 3}

qb = request body bytes (payload, chunk framing excluded), rb = response body bytes; t0, t1 =
CLOCK_MONOTONIC when the request head arrived and when the response ended; c = client connection.
It counts what cc-testkit's proxy counts (requests by method and path) plus the bytes, the times
and the exact path of each request, which the benchmark needs for "each unique blob fetched once"
and for where the time goes, for every tool.

--delay-ms MS makes it a WAN stand-in (issue 16): each new connection waits MS before it is opened
upstream (the TCP handshake's round trip) and each request waits MS before its head is forwarded
(its round trip), so every request takes at least MS more, as against a registry MS away. Bodies are
not slowed (bandwidth is not what a WAN costs a promotion; round trips are). Pipelined requests that
arrive in one read share one wait (registry clients do not pipeline).
"""

import argparse
import asyncio
import collections
import json
import os
import signal
import sys
import time

READ = 1 << 20


class Parser:
    """Incremental parser of a stream of HTTP/1.1 messages (one direction of a connection)."""

    def __init__(self, on_head, on_done, is_response, pending=None):
        self.on_head = on_head  # (head bytes) -> None; may set self.bodyless for responses
        self.on_done = on_done  # (body_bytes) -> None
        self.is_response = is_response
        self.pending = pending
        self.state = "head"
        self.buf = b""
        self.remaining = 0
        self.body = 0
        self.broken = False

    def feed(self, data):
        i, n = 0, len(data)
        while i < n and not self.broken:
            st = self.state
            if st in ("body", "chunk_data"):
                take = min(self.remaining, n - i)
                self.remaining -= take
                self.body += take
                i += take
                if self.remaining == 0:
                    if st == "body":
                        self._finish()
                    else:
                        self.state, self.remaining = "chunk_crlf", 2
                continue
            if st == "chunk_crlf":
                take = min(self.remaining, n - i)
                self.remaining -= take
                i += take
                if self.remaining == 0:
                    self.state = "chunk_size"
                continue
            if st == "eof":
                self.body += n - i
                return
            # line-oriented states (head, chunk_size, trailer): buffer, consume whole lines
            self.buf += data[i:]
            try:
                more = self._lines()
            except ValueError:
                self.broken = True
                return
            if not more:
                return
            # left the line states: what is still buffered is body data
            data, self.buf = self.buf, b""
            i, n = 0, len(data)

    def _lines(self):
        """Consume line-oriented input from self.buf. True if the state left the line states."""
        while True:
            if self.state == "head":
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > 1 << 20:
                        self.broken = True
                    return False
                head, self.buf = self.buf[:end], self.buf[end + 4:]
                self._head(head)
                if self.state == "head":
                    continue
            elif self.state == "chunk_size":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return False
                line, self.buf = self.buf[:end], self.buf[end + 2:]
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.state = "trailer"
                    continue
                self.state, self.remaining = "chunk_data", size
            elif self.state == "trailer":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return False
                line, self.buf = self.buf[:end], self.buf[end + 2:]
                if line == b"":
                    self._finish()
                continue
            return True

    def _head(self, head):
        lines = head.split(b"\r\n")
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            headers[k.strip().lower()] = v.strip()
        info = self.on_head(lines[0], headers)
        self.body = 0
        te = headers.get(b"transfer-encoding", b"").lower()
        if info == "interim":  # 1xx: no body, the final response follows
            self.state = "head"
            return
        if info == "bodyless":
            self._finish()
            return
        if b"chunked" in te:
            self.state = "chunk_size"
        elif b"content-length" in headers:
            self.remaining = int(headers[b"content-length"])
            if self.remaining == 0:
                self._finish()
            else:
                self.state = "body"
        elif self.is_response:
            self.state = "eof"  # read until close
        else:
            self._finish()

    def _finish(self):
        self.on_done(self.body)
        self.state = "head"
        self.body = 0

    def close(self):
        if self.state == "eof":
            self._finish()


class Conn:
    ids = 0

    def __init__(self, log):
        Conn.ids += 1
        self.id = Conn.ids
        self.log = log
        self.pending = collections.deque()  # requests sent, awaiting their response
        self.current = None
        self.requests = 0

    def req_head(self, line, headers):
        parts = line.split(b" ")
        rec = {"m": parts[0].decode("latin-1"), "p": parts[1].decode("latin-1") if len(parts) > 1 else "",
               "s": None, "qb": 0, "rb": 0, "t0": time.monotonic(), "t1": None, "c": self.id}
        self.current = rec
        self.requests += 1
        self.pending.append(rec)
        self.log.append(rec)
        return None

    def req_done(self, n):
        if self.current is not None:
            self.current["qb"] = n

    def resp_head(self, line, headers):
        parts = line.split(b" ")
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if 100 <= status < 200 and status != 101:
            return "interim"
        rec = self.pending[0] if self.pending else None
        if rec is not None:
            rec["s"] = status
        if status in (204, 304) or (rec is not None and rec["m"] == "HEAD"):
            return "bodyless"
        return None

    def resp_done(self, n):
        if self.pending:
            rec = self.pending.popleft()
            rec["rb"] = n
            rec["t1"] = time.monotonic()


async def pipe(reader, writer, parser, conn=None, delay=0.0):
    try:
        while True:
            data = await reader.read(READ)
            if not data:
                break
            before = conn.requests if conn else 0
            parser.feed(data)
            if delay and conn and conn.requests != before:
                await asyncio.sleep(delay)  # a new request head: its round trip
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        parser.close()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass


async def handle(creader, cwriter, upstream, log, delay):
    host, port = upstream
    if delay:
        await asyncio.sleep(delay)  # the TCP handshake's round trip
    try:
        ureader, uwriter = await asyncio.open_connection(host, port)
    except OSError:
        cwriter.close()
        return
    c = Conn(log)
    reqp = Parser(c.req_head, c.req_done, is_response=False)
    resp = Parser(c.resp_head, c.resp_done, is_response=True)
    t1 = asyncio.ensure_future(pipe(creader, uwriter, reqp, c, delay))
    t2 = asyncio.ensure_future(pipe(ureader, cwriter, resp))
    await asyncio.wait([t1, t2], return_when=asyncio.ALL_COMPLETED)
    for w in (uwriter, cwriter):
        try:
            w.close()
        except OSError:
            pass


def split_hostport(s):
    s = s.replace("http://", "").rstrip("/")
    h, _, p = s.rpartition(":")
    return h, int(p)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--delay-ms", type=float, default=0.0, help="added to every connection and request")
    a = ap.parse_args()
    lhost, lport = split_hostport(a.listen)
    if not lhost.startswith("127.") and lhost != "localhost":
        sys.exit("countproxy: --listen must be on loopback")
    log = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, split_hostport(a.upstream), log, a.delay_ms / 1000), lhost, lport, reuse_address=True)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    with open(a.log + ".tmp", "w") as f:
        for rec in log:
            f.write(json.dumps(rec) + "\n")
    os.replace(a.log + ".tmp", a.log)
    os._exit(0)  # without waiting for idle keep-alive connections


if __name__ == "__main__":
    asyncio.run(main())
