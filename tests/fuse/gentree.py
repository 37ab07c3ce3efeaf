#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""gentree.py DIR [NFILES]: a deterministic source-like tree for the FUSE tests.

The same arguments give the same tree, byte for byte, on every machine
(fixed seed, fixed mtimes), so a failure can be reproduced.  What a real
source tree has and a file system can get wrong:

- NFILES regular files (default 10000) in top directories d00..d09 of
  ~NFILES/10 files each, spread over subdirectories of varied depth;
- sizes mostly small (0 B .. 8 KiB, like source files), some 8..128 KiB,
  a few of 1..3 MiB (several stripes, odd lengths), and empty files;
- modes 0644, 0600, 0755, 0444, 0640; directories 0755, 0750, 0700;
- symlinks: relative to files and directories, dangling, absolute, to
  symlinks; names with spaces, UTF-8, leading dashes and dots, '#', '~',
  and one of 255 bytes; a directory chain 40 deep (edge/deep/...);
- mtimes and atimes fixed (whole seconds in 2001..2020) on files, links
  and directories (directories last, deepest first).
No hard links (tests/fuse/hardlinks.t makes trees with them).
Prints the number of regular files, directories and symlinks.
"""
import os
import random
import sys

root = sys.argv[1]
nfiles = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
rnd = random.Random(20261124)
T0 = 978307200  # 2001-01-01
files = dirs = links = 0
dirlist = []


def when():
    return T0 + rnd.randrange(0, 20 * 365 * 86400)


_words = [b"int", b"static", b"return", b"{", b"}", b"struct", b"0x1f",
          b"/* comment */", b"\n", b"\t", b"if (x)", b"#include <ebb.h>\n"]
_text = b" ".join(rnd.choice(_words) for _ in range(1 << 19))


def content(n):
    # text-like most of the time (a slice of one text), random bytes sometimes
    if rnd.random() < 0.8 and n <= len(_text):
        o = rnd.randrange(0, len(_text) - n + 1)
        return _text[o:o + n]
    return rnd.randbytes(n)


def size():
    r = rnd.random()
    if r < 0.03:
        return 0
    if r < 0.94:
        return rnd.randrange(1, 8192)
    if r < 0.999:
        return rnd.randrange(8192, 128 * 1024)
    return rnd.randrange(1 << 20, 3 << 20)


def mkfile(path, n=None, mode=None):
    global files
    with open(path, "wb") as f:
        f.write(content(size() if n is None else n))
    os.chmod(path, mode if mode is not None else
             rnd.choice([0o644] * 12 + [0o600, 0o755, 0o444, 0o640]))
    t = when()
    os.utime(path, (t, t))
    files += 1


def mkdir(path, mode=None):
    global dirs
    os.mkdir(path)
    dirlist.append((path, mode if mode is not None else
                    rnd.choice([0o755] * 8 + [0o750, 0o700])))
    dirs += 1


def symlink(target, path):
    global links
    os.symlink(target, path)
    t = when()
    os.utime(path, (t, t), follow_symlinks=False)
    links += 1


os.makedirs(root, exist_ok=True)
top = os.path.join(root, "src")
mkdir(top, 0o755)

# the edge cases first
edge = os.path.join(top, "edge")
mkdir(edge, 0o755)
for name in ["with space", "ünïcödé-файл-文件", "-leading-dash", ".hidden",
             "..dots..", "#hash#", "tilde~", "x" * 255, "a" * 200 + ".c"]:
    mkfile(os.path.join(edge, name))
mkfile(os.path.join(edge, "empty"), 0)
mkfile(os.path.join(edge, "one-stripe-exactly"), 1 << 20)
mkfile(os.path.join(edge, "stripe-plus-one"), (1 << 20) + 1)
mkfile(os.path.join(edge, "readonly"), 1000, 0o444)
mkfile(os.path.join(edge, "script.sh"), 500, 0o755)
symlink("with space", os.path.join(edge, "link-to-file"))
symlink("../edge", os.path.join(edge, "link-to-dir"))
symlink("no/such/target", os.path.join(edge, "dangling"))
symlink("/etc/hostname", os.path.join(edge, "absolute"))
symlink("link-to-file", os.path.join(edge, "link-to-link"))
symlink("y" * 1000, os.path.join(edge, "long-target"))
d = os.path.join(edge, "deep")
mkdir(d, 0o755)
for i in range(40):
    d = os.path.join(d, "level%02d" % i)
    mkdir(d, 0o755)
mkfile(os.path.join(d, "bottom.txt"), 100)
sub = os.path.join(edge, "private")
mkdir(sub, 0o700)
mkfile(os.path.join(sub, "secret"), 64, 0o600)

# the bulk: d00..d09
per_top = max(1, -(-(nfiles - files) // 10))
for t in range(10):
    tdir = os.path.join(top, "d%02d" % t)
    mkdir(tdir, 0o755)
    subdirs = [tdir]
    for i in range(per_top):
        if rnd.random() < 0.06:
            parent = rnd.choice(subdirs)
            if parent.count(os.sep) - tdir.count(os.sep) < 6:
                nd = os.path.join(parent, "sub%04d" % i)
                mkdir(nd)
                subdirs.append(nd)
        parent = rnd.choice(subdirs)
        name = "f%05d%s" % (i, rnd.choice([".c", ".h", ".txt", "", ".o", ".md"]))
        mkfile(os.path.join(parent, name))
        if rnd.random() < 0.01:
            symlink(name, os.path.join(parent, "l%05d" % i))

# directory modes and times last, deepest first (a 0500 parent would stop
# nothing here, but the times would change under later creates)
for path, mode in sorted(dirlist, key=lambda x: -x[0].count(os.sep)):
    os.chmod(path, mode)
    t = when()
    os.utime(path, (t, t))
print(files, dirs, links)
