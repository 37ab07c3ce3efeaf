#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# s3proxy.py: a fault-injecting HTTP/1.1 reverse proxy for ebb's stager
# tests, between the S3 client under test and a real S3 server (RGW).
#
#   s3proxy.py --upstream http://127.0.0.1:PORT [--listen 127.0.0.1:0]
#              [--port-file FILE] [--rules FILE.json] [--seed N]
#
# DESIGN
# - Byte-exact: request and response heads and bodies are relayed as they
#   came (the Host header too), so a SigV4 signature made for the proxy's
#   address verifies at the server.  Bodies are framed by Content-Length or
#   chunked encoding (relayed raw, parsed only to find the end), so both
#   sides keep their connections alive: one upstream connection per client
#   connection, reopened when the server closes it.  Expect: 100-continue
#   goes through (the server's 100 is relayed).
# - Readiness: binds (port 0 by default), then writes the port to
#   --port-file (tmp + rename): no port is picked in advance.
# - Faults come from rules, tried in order for each request; the first
#   that fires wins:
#     {"seed": 1, "rules": [
#       {"fault": "503", "method": "GET", "key": "^bkt/data/",
#        "rate": 0.3},                 # probability, from a seeded RNG
#       {"fault": "reset", "count": 2}  # the first 2 matching requests
#     ]}
#   Match fields: "method" (a name or a list; default any), "key" (regex
#   searched in the decoded path without its leading "/", i.e.
#   "bucket/key"), "query" (regex searched in the query string), "skip"
#   (let the first N matches through).  "count" N fires on the next N
#   matches; "rate" P with probability P; neither: always.
#   Kinds: "503" (503 ServiceUnavailable), "500" (500 InternalError),
#   "slowdown" (503 SlowDown), "refuse-put" (403 AccessDenied; matches
#   only PUT and POST unless "method" says otherwise) are answered by the
#   proxy with an S3 XML error body (a HEAD gets the head alone, as from
#   S3), the request never reaching the server.  "reset", "stall" and
#   "truncate" forward the request and spoil the response: "reset" sends
#   the head and "after" bytes of the body (default: half) and then
#   resets the connection (RST); "stall" sends the head and "after" bytes
#   and then nothing for "seconds" (default 30), then the rest;
#   "truncate" sends the head (Content-Length intact) and "after" bytes,
#   then closes (FIN).  "hold" keeps the request from the server (not
#   forwarded, its body unread) until the rules are set again or
#   "seconds" (default 30) pass, then lets it through as if no rule had
#   fired: a gate a test opens when it is ready (stats "holding" says how
#   many wait now).  For a response without a body (a PUT's 200),
#   reset and truncate close before any byte of the response: the server
#   did the work, the client cannot know.  "reset" with "phase":
#   "request" cuts the upload instead: it reads "after" bytes of the
#   request body (default: half), then resets; the server sees nothing.
#   Determinism: with the same seed, rules and order of requests, the
#   same requests fail.  A rule with a field not named here is refused
#   (a misspelt filter would match every request).
# - Control, on the same port (no bucket can be named "__proxy"):
#   PUT /__proxy/rules (JSON above; resets the counts of the rules),
#   GET /__proxy/rules, GET /__proxy/stats, POST /__proxy/reset-stats.
#   Stats: {"requests": n (proxied, not control), "forwarded": n,
#   "connections": n (that carried a proxied request), "fault": {"503": n, ...}, "method": {"GET": n},
#   "status": {"200": n} (what the client got), "rule_hits": [n per rule],
#   "holding": n (requests a "hold" keeps now), "keys": {"PUT bkt/key": n,
#   "PUT bkt/big part 2": n, ...} (requests per method and key, and part
#   number for UploadPart: whether an object was sent twice)}.
# - Logs one line per request on stderr.  SIGTERM/SIGINT: exits 0.
# python3 standard library only (asyncio).

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import struct
import sys
import traceback
import urllib.parse

FAULTS = ("503", "500", "slowdown", "refuse-put", "reset", "stall", "truncate",
          "hold")
RULE_FIELDS = {"fault", "method", "key", "query", "rate", "count", "skip",
               "seconds", "after", "phase"}
ANSWERED = {  # fault -> (status, reason, S3 code, message)
    "503": (503, "Service Unavailable", "ServiceUnavailable",
            "Please reduce your request rate. (injected by s3proxy)"),
    "500": (500, "Internal Server Error", "InternalError",
            "We encountered an internal error. Please try again. (injected by s3proxy)"),
    "slowdown": (503, "Slow Down", "SlowDown",
                 "Please reduce your request rate. (injected by s3proxy)"),
    "refuse-put": (403, "Forbidden", "AccessDenied",
                   "Access Denied (injected by s3proxy)"),
}
MAX_HEAD = 64 * 1024
CHUNK = 64 * 1024


class BadRequest(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Rules:
    """The current rule set, its RNG and its per-rule counters."""

    def __init__(self, spec=None):
        self.set(spec or {"rules": []})

    def set(self, spec):
        if isinstance(spec, list):
            spec = {"rules": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("rules", []), list) \
                or set(spec) - {"seed", "rules"}:
            raise ValueError('rules: {"seed": N, "rules": [...]}')
        rules = []
        for r in spec.get("rules", []):
            if not isinstance(r, dict):
                raise ValueError("each rule is an object")
            if set(r) - RULE_FIELDS:
                raise ValueError("rule field(s) %s: none of %s"
                                 % (", ".join(sorted(set(r) - RULE_FIELDS)),
                                    ", ".join(sorted(RULE_FIELDS))))
            if r.get("phase", "response") not in ("response", "request") or \
                    (r.get("phase") == "request" and r.get("fault") != "reset"):
                raise ValueError('"phase": "request" goes with "reset" only')
            f = str(r.get("fault", ""))
            if f not in FAULTS:
                raise ValueError("fault %r: one of %s" % (f, ", ".join(FAULTS)))
            m = r.get("method")
            if m is None:
                methods = {"PUT", "POST"} if f == "refuse-put" else None
            else:
                methods = {x.upper() for x in ([m] if isinstance(m, str) else m)}
            rules.append({
                "fault": f,
                "methods": methods,
                "key": re.compile(r["key"]) if r.get("key") else None,
                "query": re.compile(r["query"]) if r.get("query") else None,
                "rate": float(r["rate"]) if "rate" in r else None,
                "count": int(r["count"]) if "count" in r else None,
                "skip": int(r.get("skip", 0)),
                "seconds": float(r.get("seconds", 30)),
                "after": int(r["after"]) if "after" in r else None,
                "phase": str(r.get("phase", "response")),
                "matches": 0, "hits": 0,
            })
        self.spec = spec
        self.rules = rules
        self.rng = random.Random(spec.get("seed", 0))

    def pick(self, method, key, query):
        """The rule that fires for this request, or None."""
        for r in self.rules:
            if r["methods"] is not None and method not in r["methods"]:
                continue
            if r["key"] is not None and not r["key"].search(key):
                continue
            if r["query"] is not None and not r["query"].search(query):
                continue
            r["matches"] += 1
            if r["matches"] <= r["skip"]:
                continue
            if r["count"] is not None:
                if r["hits"] >= r["count"]:
                    continue
            elif r["rate"] is not None and self.rng.random() >= r["rate"]:
                continue
            r["hits"] += 1
            return r
        return None


class Proxy:
    def __init__(self, upstream, rules):
        u = urllib.parse.urlsplit(upstream)
        if u.scheme != "http" or not u.hostname:
            raise SystemExit("s3proxy: --upstream must be http://HOST:PORT")
        self.up_host, self.up_port = u.hostname, u.port or 80
        self.rules = rules
        # set, and replaced, whenever the rules are: what a "hold" waits for
        self.rules_changed = asyncio.Event()
        self.holding = 0
        self.reset_stats()

    def reset_stats(self):
        self.stats = {"requests": 0, "forwarded": 0, "connections": 0,
                      "fault": {}, "method": {}, "status": {}, "keys": {}}

    def count(self, group, name):
        d = self.stats[group]
        d[name] = d.get(name, 0) + 1

    def stats_json(self):
        s = dict(self.stats)
        s["rule_hits"] = [r["hits"] for r in self.rules.rules]
        s["holding"] = self.holding
        return s

    # ---- one client connection ----------------------------------------

    async def client(self, creader, cwriter):
        up = [None, None, False]  # upstream reader, writer; counted
        try:
            while True:
                keep = await self.one_request(creader, cwriter, up)
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, BadRequest) as e:
            if not isinstance(e, asyncio.IncompleteReadError) or e.partial:
                log("s3proxy: connection: %s" % (e,))
        except asyncio.CancelledError:
            pass
        except Exception:  # a bug here: say so, lose only this connection
            log("s3proxy: internal error:\n" + traceback.format_exc())
        finally:
            for w in (cwriter, up[1]):
                if w is not None:
                    try:
                        w.close()
                    except Exception:
                        pass

    async def one_request(self, creader, cwriter, up):
        """Serve one request; False when the client connection is done."""
        try:
            head = await creader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            if e.partial:
                raise
            return False  # clean close between requests
        except asyncio.LimitOverrunError:
            raise BadRequest("request head too long")
        line, headers = parse_head(head)
        try:
            method, target, version = line.split(" ", 2)
        except ValueError:
            raise BadRequest("bad request line %r" % line)
        method = method.upper()
        url = urllib.parse.urlsplit(target)
        path, query = url.path, url.query
        if path.startswith("/__proxy/"):
            return await self.control(method, path, headers, creader, cwriter)

        self.stats["requests"] += 1
        if not up[2]:  # (connections for control requests do not count)
            up[2] = True
            self.stats["connections"] += 1
        self.count("method", method)
        key = urllib.parse.unquote(path.lstrip("/"))
        part = urllib.parse.parse_qs(query).get("partNumber")
        self.count("keys", "%s %s%s" % (method, key, " part %s" % part[0] if part else ""))
        rule = self.rules.pick(method, key, query)
        client_close = (hget(headers, "connection") or "").lower() == "close" \
            or version == "HTTP/1.0"
        expect = (hget(headers, "expect") or "").lower() == "100-continue"

        if rule is not None:
            self.count("fault", rule["fault"])
        if rule is not None and rule["fault"] == "hold":
            changed = self.rules_changed
            self.holding += 1
            log("s3proxy: %s %s -> held" % (method, target))
            try:
                await asyncio.wait_for(changed.wait(), rule["seconds"])
            except asyncio.TimeoutError:
                pass
            finally:
                self.holding -= 1
            rule = None
        if rule is not None and rule["fault"] == "reset" and rule["phase"] == "request":
            # an upload cut off: read "after" bytes of the body (default
            # half), then RST; the server never sees the request
            length = int(hget(headers, "content-length") or 0)
            after = rule["after"] if rule["after"] is not None else length // 2
            if expect:
                cwriter.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await relay_bytes(creader, None, min(after, length))
            log("s3proxy: %s %s -> injected reset after %d request bytes"
                % (method, target, min(after, length)))
            await abort(cwriter, rst=True)
            return False
        if rule is not None and rule["fault"] in ANSWERED:
            st, reason, code, msg = ANSWERED[rule["fault"]]
            if expect:
                # the client waits for our word before its body: refuse
                # it, and close, as the body may follow anyway
                close = True
            else:
                await relay_body(creader, None, headers, is_request=True)
                close = client_close
            self.count("status", str(st))
            log("s3proxy: %s %s -> injected %s" % (method, target, rule["fault"]))
            await send_error(cwriter, st, reason, code, msg, key, close,
                             head_only=(method == "HEAD"))
            return not close

        # forward
        if up[1] is None or up[0].at_eof():
            if up[1] is not None:
                up[1].close()
            up[0], up[1] = await asyncio.open_connection(self.up_host, self.up_port)
        ureader, uwriter = up[0], up[1]
        self.stats["forwarded"] += 1
        uwriter.write(head)
        await uwriter.drain()
        body_task = None
        if not expect:
            await relay_body(creader, uwriter, headers, is_request=True)
        # the response (after any 1xx)
        while True:
            try:
                rhead = await ureader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                up[1].close()
                up[0] = up[1] = None
                log("s3proxy: %s %s -> upstream closed without a response" % (method, target))
                return False
            rline, rheaders = parse_head(rhead)
            status = int(rline.split(" ", 2)[1])
            if 100 <= status < 200:
                cwriter.write(rhead)
                await cwriter.drain()
                if status == 100 and expect and body_task is None:
                    body_task = asyncio.ensure_future(
                        relay_body(creader, uwriter, headers, is_request=True))
                continue
            break
        # a server that answered an Expect: 100-continue without a 100
        # did not get the body, which the client may send all the same:
        # this connection cannot be trusted any more
        early = expect and body_task is None
        self.count("status", str(status))
        up_close = (hget(rheaders, "connection") or "").lower() == "close"
        no_body = method == "HEAD" or status in (204, 304)
        length = hget(rheaders, "content-length")
        chunked = "chunked" in (hget(rheaders, "transfer-encoding") or "").lower()
        if not no_body and length is None and not chunked:
            up_close = True  # body until EOF

        fault = rule["fault"] if rule is not None else None
        log("s3proxy: %s %s -> %d%s" % (method, target, status,
                                        " (%s)" % fault if fault else ""))
        if fault in ("reset", "truncate", "stall"):
            total = 0 if no_body else (int(length) if length is not None else None)
            after = rule["after"]
            if after is None:
                after = (total // 2) if total else 0
            if fault != "stall" and not total:
                # nothing of the response reaches the client
                await self.finish_upstream(ureader, rheaders, no_body, up, body_task)
                await abort(cwriter, rst=(fault == "reset"))
                return False
            if fault == "stall" and no_body:
                await asyncio.sleep(rule["seconds"])  # before the head
            cwriter.write(rhead)
            sent = await relay_bytes(ureader, cwriter, after)
            if fault == "stall":
                await cwriter.drain()
                if not no_body:
                    await asyncio.sleep(rule["seconds"])
                if total is not None:
                    await relay_bytes(ureader, cwriter, total - sent)
                else:
                    await relay_response_body(ureader, cwriter, rheaders, no_body)
                await cwriter.drain()
                if body_task is not None:
                    await body_task
                if up_close:
                    up[1].close()
                    up[0] = up[1] = None
                return not (client_close or up_close or early)
            up[1].close()
            up[0] = up[1] = None
            if body_task is not None:
                body_task.cancel()
            await abort(cwriter, rst=(fault == "reset"))
            return False

        cwriter.write(rhead)
        await relay_response_body(ureader, cwriter, rheaders, no_body)
        await cwriter.drain()
        if body_task is not None:
            await body_task
        if up_close:
            up[1].close()
            up[0] = up[1] = None
            if length is None and not chunked and not no_body:
                return False  # the client reads until EOF
        return not (client_close or early)

    async def finish_upstream(self, ureader, rheaders, no_body, up, body_task):
        """Read the rest of a response we drop, to keep the upstream
        connection usable; simpler: close it."""
        if body_task is not None:
            body_task.cancel()
        up[1].close()
        up[0] = up[1] = None

    async def control(self, method, path, headers, creader, cwriter):
        body = await read_body(creader, headers)
        close = (hget(headers, "connection") or "").lower() == "close"
        what = path[len("/__proxy/"):]
        try:
            if what == "rules" and method == "PUT":
                self.rules.set(json.loads(body.decode() or "{}"))
                self.rules_changed.set()
                self.rules_changed = asyncio.Event()
                out = {"ok": True, "rules": len(self.rules.rules)}
            elif what == "rules" and method == "GET":
                out = self.rules.spec
            elif what == "stats" and method == "GET":
                out = self.stats_json()
            elif what == "reset-stats" and method in ("POST", "PUT"):
                self.reset_stats()
                out = {"ok": True}
            else:
                await send_json(cwriter, 404, {"error": "no such control %s %s" % (method, path)}, close)
                return not close
        except (ValueError, re.error, TypeError) as e:
            await send_json(cwriter, 400, {"error": str(e)}, close)
            return not close
        await send_json(cwriter, 200, out, close)
        return not close


# ---- HTTP helpers -----------------------------------------------------------

def parse_head(head):
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    headers = []
    for h in lines[1:]:
        if not h:
            continue
        if ":" not in h:
            raise BadRequest("bad header line %r" % h)
        k, v = h.split(":", 1)
        headers.append((k.strip().lower(), v.strip()))
    return lines[0], headers


def hget(headers, name):
    for k, v in headers:
        if k == name:
            return v
    return None


async def relay_bytes(reader, writer, n):
    """Copy n bytes (fewer at EOF); returns how many."""
    done = 0
    while done < n:
        b = await reader.read(min(CHUNK, n - done))
        if not b:
            break
        if writer is not None:
            writer.write(b)
            await writer.drain()
        done += len(b)
    return done


async def relay_chunked(reader, writer):
    """Copy a chunked body raw, up to its end."""
    while True:
        line = await reader.readuntil(b"\r\n")
        if writer is not None:
            writer.write(line)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequest("bad chunk size line %r" % line)
        if size == 0:
            while True:  # trailers, then an empty line
                t = await reader.readuntil(b"\r\n")
                if writer is not None:
                    writer.write(t)
                if t == b"\r\n":
                    break
            if writer is not None:
                await writer.drain()
            return
        got = await relay_bytes(reader, writer, size + 2)
        if got < size + 2:
            raise asyncio.IncompleteReadError(b"x", size + 2)


async def relay_body(reader, writer, headers, is_request):
    """Copy (or, with writer None, drain) a message body."""
    if "chunked" in (hget(headers, "transfer-encoding") or "").lower():
        await relay_chunked(reader, writer)
        return
    n = int(hget(headers, "content-length") or 0)
    got = await relay_bytes(reader, writer, n)
    if got < n:
        raise asyncio.IncompleteReadError(b"x", n)


async def relay_response_body(reader, writer, headers, no_body):
    if no_body:
        return
    if "chunked" in (hget(headers, "transfer-encoding") or "").lower():
        await relay_chunked(reader, writer)
    elif hget(headers, "content-length") is not None:
        await relay_body(reader, writer, headers, False)
    else:
        while True:
            b = await reader.read(CHUNK)
            if not b:
                break
            writer.write(b)
            await writer.drain()


async def read_body(reader, headers):
    n = int(hget(headers, "content-length") or 0)
    if n > 1 << 20:
        raise BadRequest("control body too large")
    return await reader.readexactly(n) if n else b""


async def send(writer, status, reason, ctype, body, close, head_only=False):
    """An answer; head_only (to a HEAD): its head alone, as S3 does (the
    body would be read as the start of the next answer)."""
    head = ("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
            "x-amz-request-id: s3proxy\r\n%s\r\n"
            % (status, reason, ctype, len(body), "Connection: close\r\n" if close else ""))
    writer.write(head.encode("latin-1") + (b"" if head_only else body))
    await writer.drain()


async def send_error(writer, status, reason, code, msg, key, close, head_only=False):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
            "<Message>%s</Message><Resource>/%s</Resource>"
            "<RequestId>s3proxy</RequestId></Error>"
            % (code, msg, xml_escape(key))).encode()
    await send(writer, status, reason, "application/xml", body, close, head_only)


async def send_json(writer, status, obj, close):
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "?")
    await send(writer, status, reason, "application/json",
               (json.dumps(obj, sort_keys=True) + "\n").encode(), close)


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def abort(writer, rst):
    """Close the client connection: RST (SO_LINGER 0) or a plain FIN."""
    try:
        await writer.drain()
    except ConnectionError:
        pass
    # drain() only waits for the buffer to go below its high-water mark:
    # let what was written reach the kernel before the RST (5 s at most)
    for _ in range(500):
        if writer.transport.is_closing() or writer.transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.01)
    sock = writer.get_extra_info("socket")
    if rst and sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    else:
        writer.close()


# ---- main --------------------------------------------------------------------

async def main():
    ap = argparse.ArgumentParser(description="fault-injecting S3 reverse proxy")
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--port-file")
    ap.add_argument("--rules", help="JSON file with the initial rules")
    ap.add_argument("--seed", type=int)
    a = ap.parse_args()

    spec = {"rules": []}
    if a.rules:
        with open(a.rules) as f:
            spec = json.load(f)
        if isinstance(spec, list):
            spec = {"rules": spec}
    if a.seed is not None:
        spec["seed"] = a.seed
    proxy = Proxy(a.upstream, Rules(spec))

    host, _, port = a.listen.rpartition(":")
    server = await asyncio.start_server(proxy.client, host or "127.0.0.1", int(port),
                                        limit=MAX_HEAD)
    port = server.sockets[0].getsockname()[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, a.port_file)
    log("s3proxy: listening on %s:%d, upstream %s" % (host, port, a.upstream))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # (not wait_closed: from Python 3.12 it waits for every connection)
    server.close()
    log("s3proxy: stopping")


if __name__ == "__main__":
    asyncio.run(main())
