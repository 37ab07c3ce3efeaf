#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""sem.py: small POSIX probes for semantics.t, one per subcommand.

Each prints one line that semantics.t compares with what
docs/semantics.md says; errors are printed by errno name.

  lock flock|fcntl HELD_PATH TRY_PATH   a child takes an exclusive lock on
                 HELD_PATH and holds it; the parent tries a non-blocking
                 exclusive lock on TRY_PATH: "blocked" or "acquired"
  xattr PATH     setxattr, getxattr, listxattr, removexattr: "set=E get=E
                 list=E|[] remove=E"
  rename-race DIR N   a writer renames N complete versions over DIR/target
                 while a reader opens and reads DIR/target in a loop:
                 "missing=M torn=T errors=none last=ok" (M and T 0, no
                 other errno; the first torn read is described)
  unlink-open PATH    write, open, unlink by name, read and write through
                 the open fd: "read=ok write=ok gone=ENOENT" under POSIX
  reopen-unlinked PATH   write, open, unlink, then open the file again
                 through /proc/self/fd (the kernel opens the inode, which
                 has no name any more) and read it: "reopen=ok"
  mmap-write PATH N   create N bytes through a MAP_SHARED mapping (msync,
                 munmap, close); prints the SHA-256 of what was mapped
  mmap-read PATH     SHA-256 of the file read through a mapping
  append PATH WRITERS RECORDS   WRITERS processes each append RECORDS
                 100-byte records with O_APPEND: "records=N intact=N"
  write-at PATH OFFSET   one byte at OFFSET: "ok" or the errno name (and
                 " close=ERRNO" if close fails)
  name PATH         create PATH: "ok" or the errno name
  odirect PATH N    write N bytes (1 MiB aligned buffers) with O_DIRECT,
                 then read them back with O_DIRECT: the SHA-256, or an errno
"""
import errno
import fcntl
import hashlib
import mmap
import os
import sys
import time


def ename(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def lock(kind, held, tryp):
    r, w = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.close(w2)
        fd = os.open(held, os.O_RDWR | os.O_CREAT, 0o644)
        if kind == "flock":
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            fcntl.lockf(fd, fcntl.LOCK_EX)
        os.write(w, b"L")
        os.read(r2, 1)          # hold until the parent is done
        os._exit(0)
    os.close(w)
    os.close(r2)
    if os.read(r, 1) != b"L":
        print("child failed to lock")
        return
    fd = os.open(tryp, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if kind == "flock":
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print("acquired")
    except OSError as e:
        print("blocked" if e.errno in (errno.EAGAIN, errno.EACCES) else ename(e))
    os.close(fd)
    os.write(w2, b"x")
    os.waitpid(pid, 0)


def xattr(path):
    out = []
    for what, f in (("set", lambda: os.setxattr(path, "user.ebb", b"v")),
                    ("get", lambda: os.getxattr(path, "user.ebb")),
                    ("list", lambda: os.listxattr(path)),
                    ("remove", lambda: os.removexattr(path, "user.ebb"))):
        try:
            v = f()
            out.append("%s=%s" % (what, "ok" if v is None else repr(v)))
        except OSError as e:
            out.append("%s=%s" % (what, ename(e)))
    print(" ".join(out))


def rename_race(d, n):
    size = 200000
    target = os.path.join(d, "target")
    with open(target, "wb") as f:
        f.write(b"%08d" % 0 * (size // 8))
    pid = os.fork()
    if pid == 0:
        for i in range(1, n + 1):
            tmp = os.path.join(d, "tmp.%d" % i)
            with open(tmp, "wb") as f:
                f.write(b"%08d" % i * (size // 8))
            os.rename(tmp, target)
        os._exit(0)
    missing = torn = reads = 0
    example = ""
    errs = {}
    while True:
        done = os.waitpid(pid, os.WNOHANG)[0] != 0
        try:
            with open(target, "rb") as f:
                data = f.read()
            reads += 1
            if len(data) != size or data != data[:8] * (size // 8):
                torn += 1
                if not example:
                    nz = len(data) - data.count(0)
                    example = " (first: %d bytes, %d not zero, starts %r)" % (
                        len(data), nz, data[:8])
        except FileNotFoundError:
            missing += 1
        except OSError as e:
            errs[ename(e)] = errs.get(ename(e), 0) + 1
        if done:
            break
    with open(target, "rb") as f:
        data = f.read()
    print("missing=%d torn=%d errors=%s last=%s%s" % (
        missing, torn,
        ",".join("%s:%d" % kv for kv in sorted(errs.items())) or "none",
        "ok" if data == b"%08d" % n * (size // 8) else "bad", example))


def unlink_open(path):
    data = os.urandom(300000)
    with open(path, "wb") as f:
        f.write(data)
    fd = os.open(path, os.O_RDWR)
    pid = os.fork()                  # another process removes the name
    if pid == 0:
        os.unlink(path)
        os._exit(0)
    os.waitpid(pid, 0)
    out = []
    got = os.pread(fd, len(data) + 10, 0)
    out.append("read=" + ("ok" if got == data else "bad(%d bytes, %d not zero)" % (
        len(got), len(got) - got.count(0))))
    try:
        os.pwrite(fd, b"NEW", 1000)
        got = os.pread(fd, 3, 1000)
        out.append("write=" + ("ok" if got == b"NEW" else "bad"))
    except OSError as e:
        out.append("write=" + ename(e))
    try:
        os.stat(path)
        out.append("gone=no")
    except OSError as e:
        out.append("gone=" + ename(e))
    os.close(fd)
    print(" ".join(out))


def reopen_unlinked(path):
    data = os.urandom(300000)
    with open(path, "wb") as f:
        f.write(data)
    fd = os.open(path, os.O_RDONLY)
    os.unlink(path)
    try:
        with open("/proc/self/fd/%d" % fd, "rb") as f:
            got = f.read()
        print("reopen=" + ("ok" if got == data else "bad(%d bytes, %d not zero)" % (
            len(got), len(got) - got.count(0))))
    except OSError as e:
        print("reopen=" + ename(e))
    os.close(fd)


def mmap_write(path, n):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, n)
    m = mmap.mmap(fd, n, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    data = bytes((i * 7 + i // 4096) & 0xff for i in range(n))
    m[:] = data
    m.flush()
    m.close()
    os.close(fd)
    print(hashlib.sha256(data).hexdigest())


def mmap_read(path):
    fd = os.open(path, os.O_RDONLY)
    n = os.fstat(fd).st_size
    m = mmap.mmap(fd, n, mmap.MAP_SHARED, mmap.PROT_READ)
    print(hashlib.sha256(m[:]).hexdigest())
    m.close()
    os.close(fd)


def append(path, writers, records):
    pids = []
    for w in range(writers):
        pid = os.fork()
        if pid == 0:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            for i in range(records):
                rec = ("w%02d r%06d " % (w, i)).encode()
                rec += b"." * (99 - len(rec)) + b"\n"
                os.write(fd, rec)
            os.close(fd)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    with open(path, "rb") as f:
        data = f.read()
    recs = [data[i:i + 100] for i in range(0, len(data), 100)]
    seen = set()
    intact = 0
    for r in recs:
        if len(r) == 100 and r.endswith(b".\n") and r.startswith(b"w"):
            seen.add(r[:12])
            intact += 1
    print("records=%d intact=%d distinct=%d" % (len(recs), intact, len(seen)))


def write_at(path, off):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"z", off)
        out = "ok"
    except OSError as e:
        out = ename(e)
    try:
        os.close(fd)
    except OSError as e:
        out += " close=" + ename(e)
    print(out)


def name(path):
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
        print("ok")
    except OSError as e:
        print(ename(e))


def odirect(path, n):
    buf = mmap.mmap(-1, n)            # page-aligned
    buf[:] = bytes((i * 13 + i // 65536) & 0xff for i in range(n))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
        os.write(fd, buf)
        os.close(fd)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        rb = mmap.mmap(-1, n)
        got = os.readv(fd, [rb])
        os.close(fd)
        print(hashlib.sha256(rb[:got]).hexdigest(), hashlib.sha256(buf).hexdigest())
    except OSError as e:
        print(ename(e))


cmd = sys.argv[1]
a = sys.argv[2:]
if cmd == "lock":
    lock(a[0], a[1], a[2])
elif cmd == "xattr":
    xattr(a[0])
elif cmd == "rename-race":
    rename_race(a[0], int(a[1]))
elif cmd == "unlink-open":
    unlink_open(a[0])
elif cmd == "reopen-unlinked":
    reopen_unlinked(a[0])
elif cmd == "mmap-write":
    mmap_write(a[0], int(a[1]))
elif cmd == "mmap-read":
    mmap_read(a[0])
elif cmd == "append":
    append(a[0], int(a[1]), int(a[2]))
elif cmd == "write-at":
    write_at(a[0], int(a[1]))
elif cmd == "name":
    name(a[0])
elif cmd == "odirect":
    odirect(a[0], int(a[1]))
else:
    sys.exit("unknown command " + cmd)
