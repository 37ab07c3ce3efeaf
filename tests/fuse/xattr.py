#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""xattr.py: extended attribute probes, run the same on a local ext4
directory and on the mount by tests/fuse/xattr.t, which compares the two
outputs line by line (man 7 xattr's rules as Linux applies them).

    xattr.py make DIR      creates DIR/f, DIR/d, DIR/l -> f (as the caller)
    xattr.py owner DIR     the owner's cases
    xattr.py other DIR     another user's cases (no write permission)
    xattr.py root DIR      root's cases (trusted.*)
    xattr.py after DIR     the owner's view of root's trusted.*
    xattr.py big DIR       the values that ext4 without ea_inode refuses

One line per case: "case: result", the result being the value or list
read back (repr), "ok", or the errno's name.  Lists are sorted (ext4
lists in its own order; the set of names is what counts).
"""
import ctypes
import ctypes.util
import errno
import os
import sys

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p,
                          ctypes.c_size_t]
libc.getxattr.restype = ctypes.c_ssize_t
libc.listxattr.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
libc.listxattr.restype = ctypes.c_ssize_t


def res(fn, *args, **kw):
    try:
        r = fn(*args, **kw)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    if r is None:
        return "ok"
    if isinstance(r, list):
        return repr(sorted(r))
    return repr(r)


def raw_get(path, name, size):
    """getxattr(2) with a buffer of size bytes: the length or the errno."""
    buf = ctypes.create_string_buffer(max(size, 1))
    n = libc.getxattr(path.encode(), name.encode(), buf if size else None,
                      size)
    if n < 0:
        return errno.errorcode[ctypes.get_errno()]
    return "%d %r" % (n, buf.raw[:n] if size else b"")


def raw_list(path, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = libc.listxattr(path.encode(), buf if size else None, size)
    if n < 0:
        return errno.errorcode[ctypes.get_errno()]
    if size == 0:
        return "%d" % n
    return "%d %r" % (n, sorted(buf.raw[:n].split(b"\0")[:-1]))


def case(name, result):
    print("%s: %s" % (name, result))


def owner(d):
    f, dd, l = d + "/f", d + "/d", d + "/l"
    S, G, L, R = os.setxattr, os.getxattr, os.listxattr, os.removexattr
    case("empty list", res(L, f))
    case("set user.a", res(S, f, "user.a", b"v1"))
    case("get user.a", res(G, f, "user.a"))
    case("set binary with NULs", res(S, f, "user.bin", b"\0a\0\xff\0"))
    case("get binary", res(G, f, "user.bin"))
    case("set empty value", res(S, f, "user.empty", b""))
    case("get empty value", res(G, f, "user.empty"))
    case("list", res(L, f))
    case("CREATE on existing", res(S, f, "user.a", b"x", os.XATTR_CREATE))
    case("CREATE new", res(S, f, "user.c", b"c", os.XATTR_CREATE))
    case("REPLACE missing", res(S, f, "user.nope", b"x", os.XATTR_REPLACE))
    case("REPLACE existing", res(S, f, "user.a", b"v2", os.XATTR_REPLACE))
    case("get replaced", res(G, f, "user.a"))
    case("CREATE|REPLACE", res(S, f, "user.a", b"x",
                               os.XATTR_CREATE | os.XATTR_REPLACE))
    case("get missing", res(G, f, "user.nope"))
    case("remove missing", res(R, f, "user.nope"))
    case("remove user.c", res(R, f, "user.c"))
    case("get removed", res(G, f, "user.c"))
    case("list after remove", res(L, f))
    n255 = "user." + "n" * 250
    case("name of 255 bytes", res(S, f, n255, b"255"))
    case("get name of 255", res(G, f, n255))
    case("name of 256 bytes", res(S, f, n255 + "x", b"256"))
    case("get name of 256", res(G, f, n255 + "x"))
    case("remove name of 255", res(R, f, n255))
    case("value of 3000 bytes", res(S, f, "user.v3000", b"q" * 3000))
    case("get 3000", res(lambda: len(G(f, "user.v3000"))))
    case("value of 65,537 bytes", res(S, f, "user.toobig", b"z" * 65537))
    case("bare user. prefix", res(S, f, "user.", b"x"))
    case("get bare user.", res(G, f, "user."))
    case("empty name", res(S, f, "", b"x"))
    case("unknown namespace", res(S, f, "foo.bar", b"x"))
    case("get unknown namespace", res(G, f, "foo.bar"))
    case("no namespace", res(S, f, "plain", b"x"))
    case("set trusted.* as a user", res(S, f, "trusted.t", b"x"))
    case("get trusted.* as a user", res(G, f, "trusted.t"))
    case("set security.* as a user", res(S, f, "security.s", b"x"))
    case("get security.capability", res(G, f, "security.capability"))
    case("get system.posix_acl_access", res(G, f, "system.posix_acl_access"))
    # sizes: 0 asks for the length, a short buffer is ERANGE
    case("getxattr size 0", raw_get(f, "user.a", 0))
    case("getxattr size 1", raw_get(f, "user.a", 1))
    case("getxattr exact size", raw_get(f, "user.a", 2))
    case("getxattr size 0 of empty", raw_get(f, "user.empty", 0))
    case("listxattr size 0", raw_list(f, 0))
    case("listxattr size 3", raw_list(f, 3))
    case("listxattr size 4096", raw_list(f, 4096))
    # directories and symlinks
    case("set on a directory", res(S, dd, "user.dir", b"D"))
    case("get on a directory", res(G, dd, "user.dir"))
    case("list of a directory", res(L, dd))
    case("set user.* on a symlink itself",
         res(S, l, "user.s", b"x", follow_symlinks=False))
    case("get user.* of a symlink itself",
         res(G, l, "user.s", follow_symlinks=False))
    case("list of a symlink itself", res(L, l, follow_symlinks=False))
    case("set through a symlink", res(S, l, "user.via", b"V"))
    case("get through a symlink", res(G, f, "user.via"))
    case("remove through a symlink", res(R, l, "user.via"))
    case("final list", res(L, f))


def other(d):
    f = d + "/f"
    case("other sets on the owner's 0644 file",
         res(os.setxattr, f, "user.o", b"x"))
    case("other removes on the owner's 0644 file",
         res(os.removexattr, f, "user.a"))


def root(d):
    f = d + "/f"
    case("root sets trusted.t", res(os.setxattr, f, "trusted.t", b"T"))
    case("root gets trusted.t", res(os.getxattr, f, "trusted.t"))
    case("root lists trusted.t",
         res(lambda: [n for n in os.listxattr(f) if n.startswith("trusted.")]))
    case("root sets user.r", res(os.setxattr, f, "user.r", b"R"))


def after(d):
    """The owner again, once root has set trusted.t: not listed to it."""
    f = d + "/f"
    case("user lists after root set trusted.t", res(os.listxattr, f))
    case("user listxattr size 0", raw_list(f, 0))
    case("user gets root's trusted.t", res(os.getxattr, f, "trusted.t"))
    case("user removes root's trusted.t", res(os.removexattr, f, "trusted.t"))


def big(d):
    f = d + "/f"
    case("value of 65,536 bytes", res(os.setxattr, f, "user.max",
                                      bytes(range(256)) * 256))
    case("get 65,536", res(lambda: os.getxattr(f, "user.max") ==
                           bytes(range(256)) * 256))


def make(d):
    open(d + "/f", "w").close()
    os.chmod(d + "/f", 0o644)
    os.mkdir(d + "/d")
    os.symlink("f", d + "/l")


if __name__ == "__main__":
    {"make": make, "owner": owner, "other": other, "root": root,
     "after": after, "big": big}[sys.argv[1]](sys.argv[2])
