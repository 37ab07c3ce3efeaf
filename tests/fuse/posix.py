#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""posix.py: the probes of posix.t, run on a mount and on a local ext4
directory (the reference) by the same user; posix.t compares the outputs.

Every probe prints one line per operation: what was done and its result,
"ok" or the errno name, so two runs compare line by line.

  special DIR        make a FIFO, a socket (bind), a char and a block device
                     (root only: EPERM for others, as on ext4), list their
                     types and modes, connect to the socket, rename, chmod
                     and remove each
  opendev PATH       open a device node: "ok" or the errno name
  setup DIR          (the owner) the files and directories of the
                     permission probes
  perm DIR TAG       (any user) read and write each file, create in the
                     open, sticky and setgid directories, the sticky rules,
                     chmod/chown/utimes of files that are not the caller's;
                     TAG names what the caller creates
  owners DIR         owner, group and mode of everything setup and perm made
  times DIR          the parent's mtime/ctime after each namespace change,
                     the inode's ctime after chmod and rename, UTIME_NOW and
                     UTIME_OMIT: "changed"/"same" per line
  dirtimes DIR       the directory's "mtime ctime" in ns
"""
import ctypes
import errno
import os
import socket
import stat
import sys
import time


def ename(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def tryit(fn, *a):
    try:
        r = fn(*a)
        return "ok" if r is None or not isinstance(r, str) else r
    except OSError as e:
        return ename(e)


def out(*words):
    print(" ".join(str(w) for w in words), flush=True)


def lsl(d):
    """ls -l's view: name, type letter, mode, rdev of devices."""
    for n in sorted(os.listdir(d)):
        st = os.lstat(os.path.join(d, n))
        t = stat.filemode(st.st_mode)
        dev = ""
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            dev = " %d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        out("  ", n, t, "size=%d" % (0 if dev else st.st_size) + dev)


def special(d):
    os.chdir(d)
    out("mkfifo", tryit(os.mkfifo, "fifo", 0o640))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    out("bind", tryit(s.bind, "sock"))
    out("mknod chr", tryit(os.mknod, "chr", stat.S_IFCHR | 0o600,
                           os.makedev(1, 3)))
    out("mknod blk", tryit(os.mknod, "blk", stat.S_IFBLK | 0o660,
                           os.makedev(7, 200)))
    out("mknod reg", tryit(os.mknod, "reg", stat.S_IFREG | 0o644))
    out("mkfifo again", tryit(os.mkfifo, "fifo", 0o640))
    out("listing:")
    lsl(".")
    s.listen(1)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    out("connect", tryit(c.connect, "sock"))
    a, _ = s.accept()
    c.sendall(b"ping")
    out("through the socket:", a.recv(4).decode())
    a.close()
    c.close()
    s.close()
    for n in ("fifo", "sock", "chr", "blk", "reg"):
        if not os.path.lexists(n):
            continue
        out("rename", n, tryit(os.rename, n, n + "2"))
        out("chmod", n + "2", tryit(os.chmod, n + "2", 0o604))
        out("mode", n + "2", oct(os.lstat(n + "2").st_mode))
    out("after rename and chmod:")
    lsl(".")
    for n in sorted(os.listdir(".")):
        out("unlink", n, tryit(os.unlink, n))
    out("left:", os.listdir("."))


def opendev(p):
    try:
        fd = os.open(p, os.O_RDONLY)
        os.close(fd)
        print("ok")
    except OSError as e:
        print(ename(e))


# ---- permissions ------------------------------------------------------------------
FILES = {"f600": 0o600, "f640": 0o640, "f604": 0o604, "f660": 0o660,
         "f666": 0o666, "f777": 0o777, "f644": 0o644}


def setup(d):
    """As the owner; root then gives fgrp and sgid the group (posix.t)."""
    os.chdir(d)
    for n, m in FILES.items():
        with open(n, "w") as f:
            f.write(n + "\n")
        os.chmod(n, m)
    with open("fgrp", "w") as f:
        f.write("fgrp\n")
    os.chmod("fgrp", 0o660)
    for n, m in (("pub", 0o777), ("sticky", 0o1777), ("sgid", 0o2777),
                 ("closed", 0o755)):
        os.mkdir(n)
        os.chmod(n, m)
    with open("sticky/victim", "w") as f:
        f.write("v\n")
    os.chmod("sticky/victim", 0o666)


def _read(p):
    with open(p) as f:
        f.read()


def _append(p):
    with open(p, "a") as f:
        f.write("x\n")


def _create(p):
    with open(p, "w") as f:
        f.write("new\n")


libc = ctypes.CDLL(None, use_errno=True)
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def utimens(p, t):
    """utimensat(AT_FDCWD, p, t or NULL, 0)"""
    arg = None
    if t is not None:
        arg = (Timespec * 2)(Timespec(*t[0]), Timespec(*t[1]))
    if libc.utimensat(-100, os.fsencode(p), arg, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def perm(d, tag):
    os.chdir(d)
    for n in sorted(FILES) + ["fgrp"]:
        out(n, "read=" + tryit(_read, n), "write=" + tryit(_append, n))
    for n in ("f644", "fgrp"):
        out("chmod", n, tryit(os.chmod, n, 0o666))
        out("chown", n, tryit(os.chown, n, os.getuid(), -1))
        out("chgrp", n, tryit(os.chown, n, -1, os.getgid()))
        out("utimes set", n, tryit(utimens, n, ((1, 0), (2, 0))))
    out("utimes now f666 (a writer)", tryit(utimens, "f666", None))
    out("utimes now f644 (not a writer)", tryit(utimens, "f644", None))
    out("create in 0755 dir", tryit(_create, "closed/" + tag))
    out("create in 0777 dir", tryit(_create, "pub/" + tag))
    out("mkdir in 0777 dir", tryit(os.mkdir, "pub/d-" + tag, 0o755))
    out("mkfifo in 0777 dir", tryit(os.mkfifo, "pub/p-" + tag, 0o644))
    out("create in sticky dir", tryit(_create, "sticky/" + tag))
    for n in sorted(os.listdir("sticky")):
        if n == tag:
            continue
        out("sticky: rename", n, tryit(os.rename, "sticky/" + n,
                                       "sticky/" + n + ".moved"))
        out("sticky: unlink", n, tryit(os.unlink, "sticky/" + n))
    out("sticky: write victim", tryit(_append, "sticky/victim"))
    out("create in setgid dir", tryit(_create, "sgid/" + tag))
    out("mkdir in setgid dir", tryit(os.mkdir, "sgid/d-" + tag, 0o755))
    out("mkdir in it", tryit(os.mkdir, "sgid/d-" + tag + "/sub", 0o755))
    out("unlink in 0777 dir", tryit(os.unlink, "pub/" + tag))
    out("rmdir in 0777 dir", tryit(os.rmdir, "pub/d-" + tag))


def owners(d):
    for root, dirs, files in os.walk(d):
        dirs.sort()
        for n in sorted(dirs + files):
            p = os.path.join(root, n)
            st = os.lstat(p)
            out(os.path.relpath(p, d), "%d:%d" % (st.st_uid, st.st_gid),
                oct(st.st_mode))


# ---- times ------------------------------------------------------------------------
def _dt(p):
    st = os.lstat(p)
    return (st.st_mtime_ns, st.st_ctime_ns)


def _cmp(what, before, after):
    out(what, "mtime=" + ("changed" if after[0] != before[0] else "same"),
        "ctime=" + ("changed" if after[1] != before[1] else "same"))


def times(d):
    os.chdir(d)
    os.mkdir("a")
    os.mkdir("b")
    steps = [
        ("create", "a", lambda: _create("a/f")),
        ("mkdir", "a", lambda: os.mkdir("a/sub")),
        ("mkfifo", "a", lambda: os.mkfifo("a/p")),
        ("symlink", "a", lambda: os.symlink("f", "a/l")),
        ("rename within", "a", lambda: os.rename("a/f", "a/g")),
        ("rename out: source", "a", lambda: os.rename("a/g", "b/g")),
        ("rename in: target", "a", lambda: os.rename("b/g", "a/h")),
        ("unlink", "a", lambda: os.unlink("a/h")),
        ("rmdir", "a", lambda: os.rmdir("a/sub")),
        ("write to a file (not a name)", "a", None),
    ]
    _create("a/w")
    for what, dd, fn in steps:
        time.sleep(0.02)
        before = _dt(dd)
        time.sleep(0.02)
        if fn is None:
            _append("a/w")
        else:
            fn()
        _cmp(what, before, _dt(dd))
    time.sleep(0.02)
    b0, a0 = _dt("b"), _dt("a")
    time.sleep(0.02)
    os.rename("a/w", "b/w")
    _cmp("rename between dirs: source dir", a0, _dt("a"))
    _cmp("rename between dirs: target dir", b0, _dt("b"))
    _create("b/i")
    for what, fn in (("chmod", lambda: os.chmod("b/i", 0o600)),
                     ("chown to self", lambda: os.chown("b/i", os.getuid(),
                                                        os.getgid())),
                     ("truncate", lambda: os.truncate("b/i", 100)),
                     ("utimes", lambda: utimens("b/i", ((5, 0), (6, 0)))),
                     ("rename", lambda: os.rename("b/i", "b/j")),
                     ("rename to another dir", lambda: os.rename("b/j",
                                                                 "a/i"))):
        time.sleep(0.02)
        p = "b/i" if os.path.lexists("b/i") else "b/j"
        st = os.lstat(p)
        time.sleep(0.02)
        fn()
        p = [q for q in ("b/i", "b/j", "a/i") if os.path.lexists(q)][0]
        st2 = os.lstat(p)
        out("inode ctime after", what,
            "changed" if st2.st_ctime_ns != st.st_ctime_ns else "same")
    os.rename("a/i", "b/i")
    utimens("b/i", ((1000, 5), (2000, 7)))
    st = os.lstat("b/i")
    out("utimens explicit:", st.st_atime_ns, st.st_mtime_ns)
    utimens("b/i", ((3000, 0), (0, UTIME_OMIT)))
    st = os.lstat("b/i")
    out("atime set, mtime UTIME_OMIT:", st.st_atime_ns, st.st_mtime_ns)
    t0 = time.time_ns()
    utimens("b/i", ((0, UTIME_OMIT), (0, UTIME_NOW)))
    st = os.lstat("b/i")
    out("atime UTIME_OMIT, mtime UTIME_NOW:", st.st_atime_ns,
        "now" if abs(st.st_mtime_ns - t0) < 5e9 else st.st_mtime_ns)
    utimens("b/i", ((0, UTIME_NOW), (0, UTIME_OMIT)))
    st2 = os.lstat("b/i")
    out("atime UTIME_NOW, mtime UTIME_OMIT:",
        "now" if abs(st2.st_atime_ns - t0) < 5e9 else st2.st_atime_ns,
        "same" if st2.st_mtime_ns == st.st_mtime_ns else "changed")
    utimens("b/i", ((0, UTIME_OMIT), (0, UTIME_OMIT)))
    st3 = os.lstat("b/i")
    out("both UTIME_OMIT: times",
        "same" if (st3.st_atime_ns, st3.st_mtime_ns) ==
        (st2.st_atime_ns, st2.st_mtime_ns) else "changed")


def dirtimes(d):
    m, c = _dt(d)
    print(m, c)


def main():
    cmd = sys.argv[1]
    if cmd == "special":
        special(sys.argv[2])
    elif cmd == "opendev":
        opendev(sys.argv[2])
    elif cmd == "setup":
        setup(sys.argv[2])
    elif cmd == "perm":
        perm(sys.argv[2], sys.argv[3])
    elif cmd == "owners":
        owners(sys.argv[2])
    elif cmd == "times":
        times(sys.argv[2])
    elif cmd == "dirtimes":
        dirtimes(sys.argv[2])
    else:
        sys.exit("unknown probe " + cmd)


if __name__ == "__main__":
    main()
