#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Hard-link probes for tests/fuse/hardlinks.t.  Each prints one line that
must be the same on a local ext4 directory and on the mount.

  probe DIR          link/stat/unlink/rename cases in DIR (made empty)
  lock DIR ID N      N times: take DIR/lock with os.link (the lock-file
                     idiom), add 1 to DIR/counter (8 digits), release;
                     prints "held=N" (run two at once on two mounts)
  groups DIR         regular files as "path nlink group" lines, group =
                     the first path (sorted) of those sharing its st_ino
"""
import errno
import os
import sys
import time


def err(fn):
    try:
        fn()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def write(path, data):
    with open(path, "w") as f:
        f.write(data)


def read(path):
    with open(path) as f:
        return f.read()


def probe(d):
    out = []
    os.makedirs(d + "/sub")
    f, g, h = d + "/f", d + "/sub/g", d + "/h"
    write(f, "hello")
    out.append("link=" + err(lambda: os.link(f, g)))
    sf, sg = os.stat(f), os.stat(g)
    out.append("same_ino=%s" % (sf.st_ino == sg.st_ino))
    out.append("nlink=%d,%d" % (sf.st_nlink, sg.st_nlink))
    out.append("eexist=" + err(lambda: os.link(f, g)))
    out.append("dir=" + err(lambda: os.link(d + "/sub", d + "/sub2")))
    out.append("missing=" + err(lambda: os.link(d + "/nope", d + "/x")))
    out.append("nodir=" + err(lambda: os.link(f, d + "/nope/x")))
    # data and attributes through either name
    with open(g, "a") as fh:
        fh.write(" world")
    out.append("data=" + read(f))
    os.chmod(g, 0o600)
    out.append("mode=%o" % (os.stat(f).st_mode & 0o7777))
    ct0 = os.stat(f).st_ctime_ns
    time.sleep(0.01)
    os.link(g, h)
    out.append("link_ctime=%s" % (os.stat(f).st_ctime_ns > ct0))
    out.append("nlink3=%d" % os.stat(h).st_nlink)
    # rename onto another link of the same inode: nothing happens
    os.rename(g, h)
    out.append("rename_same=%s,%s" % (os.path.exists(g), os.path.exists(h)))
    # rename of another file over a link: one name less
    write(d + "/other", "x")
    os.rename(d + "/other", h)
    out.append("over=%d" % os.stat(f).st_nlink)
    # symlinks link themselves (not followed)
    os.symlink("f", d + "/sl")
    os.link(d + "/sl", d + "/sl2", follow_symlinks=False)
    out.append("symlink=%s,%d" % (os.readlink(d + "/sl2"),
                                  os.lstat(d + "/sl").st_nlink))
    # unlink one name: the data stays for the other
    os.unlink(f)
    out.append("after_unlink=%d,%s" % (os.stat(g).st_nlink, read(g)))
    # an open file keeps its data when its last name goes
    fd = os.open(g, os.O_RDONLY)
    os.unlink(g)
    out.append("open_after=%s,%d" % (os.pread(fd, 20, 0).decode(),
                                    os.fstat(fd).st_nlink))
    os.close(fd)
    out.append("ls=" + ",".join(sorted(os.listdir(d))))
    print(" ".join(out))


def lock(d, ident, n):
    lk, tmp, ctr = d + "/lock", "%s/lock.%s.%d" % (d, ident, os.getpid()), \
        d + "/counter"
    held = 0
    deadline = time.time() + 120
    while held < n and time.time() < deadline:
        write(tmp, ident)
        try:
            os.link(tmp, lk)
            got = True
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
            # the NFS idiom: a link whose reply was lost still counts
            got = os.stat(tmp).st_nlink == 2
        if not got:
            os.unlink(tmp)
            time.sleep(0.002)
            continue
        try:
            v = int(read(ctr))
            write(ctr, "%08d" % (v + 1))
            held += 1
        finally:
            os.unlink(lk)
            os.unlink(tmp)
    print("held=%d" % held)


def groups(d):
    first = {}
    rows = []
    for root, dirs, files in os.walk(d):
        for name in files:
            p = os.path.join(root, name)
            st = os.lstat(p)
            if not os.path.isfile(p) or os.path.islink(p):
                continue
            rel = os.path.relpath(p, d)
            rows.append((rel, st.st_ino, st.st_nlink))
    rows.sort()
    for rel, ino, nlink in rows:
        first.setdefault(ino, rel)
    for rel, ino, nlink in rows:
        print("%s %d %s" % (rel, nlink, first[ino]))


cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "probe":
    probe(a[0])
elif cmd == "lock":
    lock(a[0], a[1], int(a[2]))
elif cmd == "groups":
    groups(a[0])
else:
    sys.exit("unknown command " + cmd)
