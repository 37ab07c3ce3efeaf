#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""cutproxy.py: a TCP forwarder on 127.0.0.1 that breaks connections, for
t_s3's retry and resume checks.  It is not an S3 emulator: every byte goes
to and comes from the real RGW unchanged; it only closes the first NCUT
connections after DOWN bytes towards the client (0 = no limit) or UP bytes
towards the server (0 = no limit), as a reset in the middle of a transfer
would.  Later connections pass through untouched.

It binds port 0, writes the port to PORTFILE (via a rename) once it
listens, and exits after LIFETIME seconds at the latest.
Usage: cutproxy.py PORTFILE UPSTREAM_PORT DOWN UP NCUT [LIFETIME]
"""
import os
import socket
import sys
import threading


def pump(src, dst, limit, done):
    sent = 0
    try:
        while True:
            want = 65536
            if limit:
                want = min(want, limit - sent)
                if want <= 0:
                    break
            data = src.recv(want)
            if not data:
                break
            dst.sendall(data)
            sent += len(data)
    except OSError:
        pass
    done.set()


def serve(client, upstream_port, down, up):
    try:
        server = socket.create_connection(("127.0.0.1", upstream_port))
    except OSError:
        client.close()
        return
    done = threading.Event()
    threading.Thread(target=pump, args=(client, server, up, done),
                     daemon=True).start()
    threading.Thread(target=pump, args=(server, client, down, done),
                     daemon=True).start()
    done.wait()
    # Either side ended (or hit its cut): end both connections.  shutdown()
    # first: close() alone would not wake the other pump's recv(), and the
    # kernel would keep the connection open under it.
    for s in (client, server):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def main():
    portfile, upstream = sys.argv[1], int(sys.argv[2])
    down, up, ncut = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    lifetime = float(sys.argv[6]) if len(sys.argv) > 6 else 120.0
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % lsock.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    timer = threading.Timer(lifetime, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    n = 0
    while True:
        client, _ = lsock.accept()
        n += 1
        cut = n <= ncut
        threading.Thread(target=serve,
                         args=(client, upstream, down if cut else 0,
                               up if cut else 0),
                         daemon=True).start()


if __name__ == "__main__":
    main()
