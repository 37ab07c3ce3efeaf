#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Hard links with the kernel's writeback cache, for tests/fuse/
hardlinks-wb.t.  Each command prints lines "case=result" that must be the
same on a local ext4 directory and on a writeback mount (probe), or that
the test compares with what it expects (the two-mount commands).

  probe DIR              one mount: dirty pages and several names
  two W R                two mounts of one instance: W and R are the same
                         directory seen through the writer's mount and
                         the reader's (another node)
  lock W R               a write under an fcntl lock on W, read under a
                         lock on R, the writer's file still open
"""
import errno
import fcntl
import os
import stat
import sys
import time


def rnd(n, seed):
    """n deterministic bytes (no two seeds alike)."""
    out = bytearray()
    x = seed * 2654435761 + 12345
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        out += (x >> 24).to_bytes(5, "little")
    return bytes(out[:n])


def get(path):
    with open(path, "rb") as f:
        return f.read()


def put(path, data):
    with open(path, "wb") as f:
        f.write(data)


def same(data, want):
    if data == want:
        return "ok"
    for i in range(min(len(data), len(want))):
        if data[i] != want[i]:
            return "differs@%d(len %d, want %d)" % (i, len(data), len(want))
    return "len %d, want %d" % (len(data), len(want))


def err(fn):
    try:
        fn()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def probe(d):
    out = []
    os.makedirs(d)
    a, b = d + "/a", d + "/b"

    # a write through one name, not closed: stat and read through another
    want = rnd(5000, 1)
    put(a, want)
    os.link(a, b)
    fd = os.open(a, os.O_RDWR)
    os.pwrite(fd, rnd(3000, 2), 10000)
    want = want + bytes(5000) + rnd(3000, 2)
    out.append("dirty_stat=%d,%s,nlink=%d" % (
        os.stat(b).st_size, same(get(b), want), os.fstat(fd).st_nlink))
    os.close(fd)
    out.append("after_close=%d,%s" % (os.stat(b).st_size, same(get(b), want)))

    # link() of a file with dirty pages: its size follows the new name
    c, e = d + "/c", d + "/e"
    fd = os.open(c, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
    os.write(fd, rnd(70000, 3))
    os.link(c, e)
    s1 = os.stat(e).st_size
    os.write(fd, rnd(5000, 4))
    s2 = os.stat(e).st_size
    os.close(fd)
    want = rnd(70000, 3) + rnd(5000, 4)
    out.append("link_dirty=%d,%d,%d,%d,%s" % (
        s1, s2, os.stat(c).st_size, os.stat(e).st_size, same(get(e), want)))

    # truncate through one name while the other is open and dirty
    fd = os.open(c, os.O_RDWR)
    os.pwrite(fd, rnd(1000, 5), 100000)
    os.truncate(e, 50000)
    s1 = os.fstat(fd).st_size
    os.pwrite(fd, b"q", 60000)
    os.close(fd)
    want = want[:50000] + bytes(10000) + b"q"
    out.append("truncate_other=%d,%d,%s" % (s1, os.stat(e).st_size,
                                            same(get(c), want)))

    # ftruncate through one name, stat through the other
    fd = os.open(e, os.O_RDWR)
    os.pwrite(fd, rnd(100, 6), 0)
    os.ftruncate(fd, 1234)
    s1 = os.stat(c).st_size
    os.close(fd)
    want = (rnd(100, 6) + want[100:])[:1234]
    out.append("ftruncate=%d,%d,%s" % (s1, os.stat(c).st_size,
                                       same(get(c), want)))

    # rename onto another link of the same inode, dirty: a no-op
    fd = os.open(e, os.O_RDWR)
    os.pwrite(fd, rnd(4096, 7), 1234)
    os.rename(c, e)
    s1 = os.stat(c).st_size
    os.close(fd)
    want = want + rnd(4096, 7)
    out.append("rename_same=%s,%s,%d,%d,%s" % (
        os.path.exists(c), os.path.exists(e), s1, os.stat(e).st_size,
        same(get(c), want)))

    # the last name unlinked while open and dirty: the data stays for
    # the descriptor, the names and the space go
    g, h = d + "/g", d + "/h"
    fd = os.open(g, os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, rnd(20000, 8))
    os.link(g, h)
    os.unlink(g)
    os.write(fd, rnd(10000, 9))
    os.unlink(h)
    st = os.fstat(fd)
    os.write(fd, rnd(3000, 10))
    data = os.pread(fd, 100000, 0)
    os.close(fd)
    out.append("orphan_dirty=%d,%d,%s,%s" % (
        st.st_nlink, st.st_size,
        same(data, rnd(20000, 8) + rnd(10000, 9) + rnd(3000, 10)),
        os.path.exists(g) or os.path.exists(h)))

    # nlink and ctime through the kernel's attributes, the file dirty
    i, j, k = d + "/i", d + "/j", d + "/k"
    fd = os.open(i, os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, b"x" * 100)
    c0 = os.stat(i).st_ctime_ns
    time.sleep(0.02)
    os.link(i, j)
    s1 = os.stat(i)
    os.write(fd, b"y" * 100)
    time.sleep(0.02)
    os.link(j, k)
    s2 = os.stat(j)
    time.sleep(0.02)
    os.unlink(i)
    s3 = os.stat(k)
    os.close(fd)
    out.append("nlink_ctime=%d,%d,%d,%s,%s,%s,%d" % (
        s1.st_nlink, s2.st_nlink, s3.st_nlink, s1.st_ctime_ns > c0,
        s2.st_ctime_ns > s1.st_ctime_ns, s3.st_ctime_ns > s2.st_ctime_ns,
        os.stat(j).st_size))

    # utimes through one name after writes through the other, still open
    fd = os.open(j, os.O_RDWR | os.O_APPEND)
    os.write(fd, b"z" * 5000)
    os.utime(k, ns=(1000000000123456789, 1000000000123456789))
    s1 = os.stat(j).st_mtime_ns
    os.close(fd)
    out.append("utimes_after_write=%d,%d,%d,%d" % (
        s1, os.stat(j).st_mtime_ns, os.stat(k).st_mtime_ns,
        os.stat(k).st_size))

    # fsync through one name
    fd = os.open(k, os.O_RDWR)
    os.pwrite(fd, b"F" * 10, 5195)
    os.fsync(fd)
    out.append("fsync=%d,%d" % (os.stat(j).st_size, get(j)[5190:5210].count(b"F")))
    os.close(fd)

    # xattrs through either name
    os.setxattr(j, "user.k", b"v1")
    s1 = os.getxattr(k, "user.k")
    os.setxattr(k, "user.k", b"v22")
    out.append("xattr=%s,%s,%s" % (s1.decode(), os.getxattr(j, "user.k").decode(),
                                   ",".join(sorted(os.listxattr(k)))))

    # an fcntl lock taken through one name conflicts with one taken
    # through the other (same inode), in another process
    fd = os.open(j, os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
    pid = os.fork()
    if pid == 0:
        fd2 = os.open(k, os.O_RDWR)
        try:
            fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
            os._exit(0)
        except OSError as ex:
            os._exit(1 if ex.errno in (errno.EAGAIN, errno.EACCES) else 2)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    out.append("lock_other_name=%s" % ("conflict" if os.WEXITSTATUS(status) == 1
                                       else "status %d" % os.WEXITSTATUS(status)))

    # FIFOs and mknod'ed regular files: linked, opened, written
    p, p2 = d + "/p", d + "/p2"
    os.mkfifo(p, 0o644)
    os.link(p, p2)
    s1 = os.stat(p2)
    r = os.open(p2, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(p, os.O_WRONLY)
    os.write(w, b"ping")
    got = os.read(r, 10)
    os.close(w)
    os.close(r)
    out.append("fifo=%s,%d,%s" % (stat.S_ISFIFO(s1.st_mode), s1.st_nlink,
                                  got.decode()))
    n, n2 = d + "/n", d + "/n2"
    os.mknod(n, stat.S_IFREG | 0o640)
    with open(n, "r+b") as f:
        f.write(rnd(9000, 11))
        os.link(n, n2)
        f.write(rnd(100, 12))
    out.append("mknod_reg=%d,%d,%s" % (os.stat(n2).st_size,
                                       os.stat(n).st_nlink,
                                       same(get(n2),
                                            rnd(9000, 11) + rnd(100, 12))))
    out.append("ls=" + ",".join(sorted(os.listdir(d))))
    print("\n".join(out))


def two(w, r):
    """W and R: one directory through two mounts (two nodes)."""
    out = []
    a, b = "a", "b"
    W = lambda n: os.path.join(w, n)
    R = lambda n: os.path.join(r, n)

    # the reader's kernel holds the inode (stat'ed and read through b)
    put(W(a), rnd(100000, 20))
    os.link(W(a), W(b))
    get(R(b))
    os.stat(R(a))
    # written through a on W, after close: read through b on R
    with open(W(a), "ab") as f:
        f.write(rnd(50000, 21))
    want = rnd(100000, 20) + rnd(50000, 21)
    out.append("write_close=%s" % same(get(R(b)), want))
    out.append("size_after_open=%d,%d" % (os.stat(R(b)).st_size,
                                          os.stat(R(a)).st_size))

    # link() of a dirty file on W, then more writes, close: R reads the
    # new name whole
    fd = os.open(W("c"), os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, rnd(200000, 22))
    os.link(W("c"), W("d"))
    os.write(fd, rnd(3333, 23))
    os.close(fd)
    want = rnd(200000, 22) + rnd(3333, 23)
    out.append("link_dirty=%s,%s" % (same(get(R("d")), want),
                                     same(get(R("c")), want)))
    # the same, closed right after the link (no write after it)
    fd = os.open(W("c2"), os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, rnd(99999, 29))
    os.link(W("c2"), W("d2"))
    os.close(fd)
    out.append("link_dirty_close=%d,%s" % (os.stat(R("d2")).st_size,
                                           same(get(R("d2")), rnd(99999, 29))))

    # fsync through one name on W: R reads it through the other, W's
    # descriptor still open
    fd = os.open(W("c"), os.O_RDWR)
    os.pwrite(fd, rnd(7000, 24), len(want))
    os.fsync(fd)
    want += rnd(7000, 24)
    out.append("fsync=%s" % same(get(R("d")), want))
    os.close(fd)

    # truncate through R's name, W (which holds the inode) reads the other
    get(W("c"))
    os.truncate(R("d"), 12345)
    want = want[:12345]
    out.append("truncate_other_node=%d,%s" % (len(get(W("c"))),
                                              os.stat(W("c")).st_size))

    # one name unlinked on R while W writes through the other: nothing lost
    c0 = os.stat(W("d")).st_ctime_ns
    fd = os.open(W("d"), os.O_RDWR)
    os.pwrite(fd, rnd(40000, 25), 12345)
    os.unlink(R("c"))
    os.pwrite(fd, rnd(1000, 26), 52345)
    os.close(fd)
    want += rnd(40000, 25) + rnd(1000, 26)
    time.sleep(1.1)  # R's attribute timeout: nlink asked again
    out.append("unlink_other_node=%s,%d,%d,%s,%s" % (
        same(get(R("d")), want), os.stat(R("d")).st_nlink,
        os.stat(W("d")).st_nlink, os.path.exists(W("c")),
        os.stat(W("d")).st_ctime_ns > c0))

    # nlink on the other node after a link (the inode held there)
    c0 = os.stat(R("d")).st_ctime_ns
    time.sleep(0.02)
    os.link(W("d"), W("e"))
    time.sleep(1.1)
    out.append("nlink_other_node=%d,%d,%s" % (
        os.stat(R("d")).st_nlink, os.stat(R("e")).st_nlink,
        os.stat(R("d")).st_ctime_ns > c0))

    # utimes through one name after writes through the other on W
    fd = os.open(W("e"), os.O_RDWR | os.O_APPEND)
    os.write(fd, b"u" * 777)
    os.utime(W("d"), ns=(1000000000123456789, 1000000000123456789))
    os.close(fd)
    want += b"u" * 777
    time.sleep(1.1)
    out.append("utimes_other_node=%d,%d,%s" % (
        os.stat(R("e")).st_mtime_ns, os.stat(R("d")).st_mtime_ns,
        same(get(R("d")), want)))

    # xattrs: set on W through one name, read on R through the other
    os.setxattr(W("d"), "user.wb", b"value")
    out.append("xattr_other_node=%s" % os.getxattr(R("e"), "user.wb").decode())

    # rename onto a link of the same inode on R while W has it dirty
    fd = os.open(W("d"), os.O_RDWR)
    os.pwrite(fd, b"R" * 100, 0)
    os.rename(R("d"), R("e"))
    os.close(fd)
    want = b"R" * 100 + want[100:]
    time.sleep(1.1)
    out.append("rename_same_other_node=%s,%s,%s" % (
        os.path.exists(R("d")), os.path.exists(R("e")), same(get(R("e")), want)))

    # the last name unlinked on W while open and dirty there
    fd = os.open(W("f"), os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, rnd(30000, 27))
    os.link(W("f"), W("g"))
    os.unlink(R("f"))
    os.write(fd, rnd(30000, 28))
    os.unlink(W("g"))
    data = os.pread(fd, 100000, 0)
    os.close(fd)
    out.append("orphan_dirty=%s,%s" % (
        same(data, rnd(30000, 27) + rnd(30000, 28)),
        os.path.exists(R("g")) or os.path.exists(R("f"))))

    # a FIFO linked on W: a FIFO with two names on R
    os.mkfifo(W("p"), 0o600)
    os.link(W("p"), W("p2"))
    st = os.stat(R("p2"))
    out.append("fifo_other_node=%s,%d" % (stat.S_ISFIFO(st.st_mode),
                                         st.st_nlink))
    print("\n".join(out))


def lock(w, r):
    """An overwrite (and an append) made under a write lock on W while the
    file stays open there, read under a read lock on R through another
    name, R's descriptor opened before the write."""
    out = []
    put(os.path.join(w, "l1"), rnd(20000, 30))
    os.link(os.path.join(w, "l1"), os.path.join(w, "l2"))
    put(os.path.join(w, "s"), rnd(20000, 30))
    for wn, rn in (("l1", "l2"), ("s", "s")):
        rfd = os.open(os.path.join(r, rn), os.O_RDONLY)
        os.pread(rfd, 20000, 0)
        wfd = os.open(os.path.join(w, wn), os.O_RDWR)
        want = bytearray(rnd(20000, 30))
        for i in range(3):
            fcntl.lockf(wfd, fcntl.LOCK_EX, 0, 0)
            os.pwrite(wfd, rnd(5000, 31 + i), 3000 * i)
            fcntl.lockf(wfd, fcntl.LOCK_UN, 0, 0)
            want[3000 * i:3000 * i + 5000] = rnd(5000, 31 + i)
            fcntl.lockf(rfd, fcntl.LOCK_SH, 0, 0)
            data = os.pread(rfd, 20000, 0)
            fcntl.lockf(rfd, fcntl.LOCK_UN, 0, 0)
            out.append("locked_%s%d=%s" % (wn, i, same(data, bytes(want))))
        # an append under the lock: the reader's descriptor, open since
        # before, reads up to the new end
        fcntl.lockf(wfd, fcntl.LOCK_EX, 0, 0)
        os.pwrite(wfd, rnd(3000, 40), 20000)
        fcntl.lockf(wfd, fcntl.LOCK_UN, 0, 0)
        want += rnd(3000, 40)
        fcntl.lockf(rfd, fcntl.LOCK_SH, 0, 0)
        data = os.pread(rfd, 30000, 0)
        fcntl.lockf(rfd, fcntl.LOCK_UN, 0, 0)
        out.append("locked_%s_append=%s" % (wn, same(data, bytes(want))))
        # cut under the lock: the reader's descriptor
        fcntl.lockf(wfd, fcntl.LOCK_EX, 0, 0)
        os.ftruncate(wfd, 10000)
        fcntl.lockf(wfd, fcntl.LOCK_UN, 0, 0)
        fcntl.lockf(rfd, fcntl.LOCK_SH, 0, 0)
        data = os.pread(rfd, 30000, 0)
        fcntl.lockf(rfd, fcntl.LOCK_UN, 0, 0)
        out.append("locked_%s_cut=%d,%s,%s" % (
            wn, len(data), same(data[:10000], bytes(want[:10000])),
            "zeros" if data[10000:] == bytes(len(data) - 10000) else "data"))
        os.close(wfd)
        os.close(rfd)
    print("\n".join(out))


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "probe":
    probe(args[0])
elif cmd == "two":
    two(args[0], args[1])
elif cmd == "lock":
    lock(args[0], args[1])
else:
    sys.exit("unknown command " + cmd)
