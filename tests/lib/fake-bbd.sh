#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# fake-bbd.sh: a stand-in for bbd with its start-up contract only, for the
# fixture's own tests (tests/lib/fixture.t): takes bbd's arguments, binds
# --listen (port 0 = any), writes the port to --port-file once listening
# (atomically), accepts and closes connections, exits 0 on SIGTERM.
# Extra switches to misbehave: --fake-ignore-term, --fake-die-early,
# --fake-no-port-file.
exec python3 -c '
import os, signal, socket, sys, time
args = sys.argv[1:]
opt = {}
flags = set()
i = 0
while i < len(args):
    a = args[i]
    if a in ("--foreground",) or a.startswith("--fake-"):
        flags.add(a); i += 1
    else:
        opt[a] = args[i + 1]; i += 2
if "--fake-die-early" in flags:
    print("fake-bbd: dying on purpose", file=sys.stderr); sys.exit(3)
if "--fake-ignore-term" in flags:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
host, port = opt["--listen"].rsplit(":", 1)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, int(port)))
s.listen(16)
os.makedirs(opt["--root"], exist_ok=True)
if "--fake-no-port-file" not in flags:
    pf = opt["--port-file"]
    with open(pf + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    os.rename(pf + ".tmp", pf)
print("fake-bbd: %s listening on %d" % (opt.get("--node-name"), s.getsockname()[1]), file=sys.stderr, flush=True)
while True:
    c, _ = s.accept()
    c.close()
' "$@"
