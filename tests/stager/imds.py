#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""imds.py: a stand-in for EC2's instance metadata service (IMDSv2) for
t_cred.  No real IMDS exists on a test machine, so this is the one emulator
the stager's tests allow: everything S3 itself is tested against a real
Ceph RGW (s3.t).

It listens on 127.0.0.1, port 0 (the kernel picks), writes the port to
PORTFILE once it listens (via a rename, so a reader never sees half of it)
and serves until killed or until LIFETIME seconds have passed (so a test
that dies cannot leak it).  Like IMDSv2, every GET needs the token that
PUT /latest/api/token hands out, and that PUT needs the TTL header.

A first path segment selects a behaviour, so one server serves every case:
  /ok/...       a role "ebb-role" with a session token and an Expiration
  /norole/...   no instance role (404 on the role list)
  /notoken/...  the token PUT is refused (403)
  /badjson/...  the role's credentials are not JSON
Usage: imds.py PORTFILE [LIFETIME]
"""
import http.server
import json
import os
import sys
import threading

TOKEN = "AQAEAEbbTestToken=="
ROLE = "ebb-role"
CREDS = {
    "Code": "Success",
    "LastUpdated": "2026-12-03T10:00:00Z",
    "Type": "AWS-HMAC",
    "AccessKeyId": "ASIAEBBTESTKEY000001",
    "SecretAccessKey": "imds/secret+key\\with\"escapes",
    "Token": "IQoJb3JpZ2luX2VjEBb/token+with/slashes==",
    "Expiration": "2030-01-02T03:04:05Z",
}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self, status, body=b"", ctype="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _split(self):
        parts = self.path.split("/", 2)
        if len(parts) < 3:
            return "", self.path
        return parts[1], "/" + parts[2]

    def do_PUT(self):
        mode, path = self._split()
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if path != "/latest/api/token":
            return self._reply(404)
        if mode == "notoken":
            return self._reply(403, b"Forbidden")
        if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self._reply(400, b"Missing TTL header")
        self._reply(200, TOKEN.encode())

    def do_GET(self):
        mode, path = self._split()
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            return self._reply(401, b"Unauthorized")
        base = "/latest/meta-data/iam/security-credentials/"
        if path == base:
            if mode == "norole":
                return self._reply(404, b"Not Found")
            return self._reply(200, (ROLE + "\n").encode())
        if path == base + ROLE:
            if mode == "badjson":
                return self._reply(200, b"<html>not json</html>")
            body = json.dumps(CREDS, indent=2).encode()
            return self._reply(200, body, "application/json")
        self._reply(404, b"Not Found")

    def log_message(self, fmt, *args):
        pass


def main():
    portfile = sys.argv[1]
    lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(portfile + ".tmp", portfile)
    threading.Timer(lifetime, srv.shutdown).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
