# SPDX-License-Identifier: GPL-2.0-or-later
# semantics.t: each POSIX behaviour (or departure) that docs/semantics.md
# states, shown on real mounts: two mounts of one instance stand for two
# nodes (m0 through bbd0, m1 through bbd1; 3 bbd).  The probes are small
# Python programs (sem.py) and coreutils, run as the instance's owner.
# The check descriptions are what docs/semantics.md links to: change one,
# change the other.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 3
command -v python3 >/dev/null || skip_all "python3 not installed"
I=sem-$$
M0=$EBB_TEST_DIR/m0
M1=$EBB_TEST_DIR/m1
P=$EBB_SRCDIR/tests/fuse/sem.py
fuse_instance "$I" 1GiB --stripe-size 64KiB || bail "instance create failed"
fixture_mount -n 0 "$I" "$M0" || bail "mount m0 failed"
fixture_mount -n 1 "$I" "$M1" || bail "mount m1 failed"
sem() { as_u timeout -k 5 120 python3 "$P" "$@" 2>&1; }
errmsg() { as_u timeout -k 5 60 "$@" 2>&1 >/dev/null; }

# ---- hard links -------------------------------------------------------------------
# (the full set is tests/fuse/hardlinks.t)
as_u sh -c 'echo data >"$1/hl"' sh "$M0"
is "$(as_u stat -c %h "$M0/hl")" 1 "hard links: st_nlink of a file with one name is 1"
ok "hard links: link() makes a second name" as_u ln "$M0/hl" "$M0/hl2"
is "$(as_u stat -c '%i %h' "$M1/hl2")" "$(as_u stat -c '%i' "$M0/hl") 2" \
	"hard links: the other node sees the same inode, st_nlink 2"
as_u mkdir "$M0/dir"
is "$(as_u stat -c %h "$M0/dir")" 1 "directories: st_nlink is 1 (not 2 + subdirectories)"

# ---- special files ----------------------------------------------------------------
ok "special files: mkfifo works (posix.t has the rest)" as_u mkfifo "$M0/fifo"
is "$(as_u stat -c %F "$M1/fifo")" fifo "special files: the other node sees a FIFO"

# ---- xattrs -------------------------------------------------------------------------
# (the details against ext4: xattr.t)
is "$(sem xattr "$M0/hl")" "set=ok get=b'v' list=['user.ebb'] remove=ok" \
	"xattrs: user.* set, get, listed and removed"

# ---- locks ------------------------------------------------------------------------
is "$(sem lock flock "$M0/lk" "$M0/lk")" blocked "flock: a lock held on a node blocks another process on that node"
is "$(sem lock fcntl "$M0/lk" "$M0/lk")" blocked "fcntl locks: a lock held on a node blocks another process on that node"
is "$(sem lock flock "$M0/lk" "$M1/lk")" blocked "flock: cluster-wide: a lock held on one node blocks another node"
is "$(sem lock fcntl "$M0/lk" "$M1/lk")" blocked "fcntl locks: cluster-wide: a lock held on one node blocks another node"

# ---- rename -----------------------------------------------------------------------
as_u mkdir "$M0/rr"
is "$(sem rename-race "$M0/rr" 300)" "missing=0 torn=0 errors=none last=ok" \
	"rename: on one node, a reader never misses the target nor sees a mix while it is replaced 300 times"
is "$(as_u head -c 8 "$M1/rr/target")" 00000300 "rename: after the renames, the other node reads the last version"
as_u sh -c 'mkdir -p "$1/ra/x/y" && echo deep >"$1/ra/x/y/f"' sh "$M0"
as_u mv "$M0/ra" "$M0/rb"
is "$(as_u cat "$M1/rb/x/y/f" 2>&1)" deep "rename of a populated directory: one step, the tree follows it"
like "$(errmsg python3 -c 'import os,sys; os.rename(sys.argv[1], sys.argv[1] + "/x/inside")' "$M0/rb")" \
	'Invalid argument' "rename of a directory into itself: EINVAL"

# ---- unlink of an open file ---------------------------------------------------------
is "$(sem unlink-open "$M0/uo")" "read=ok write=ok gone=ENOENT" \
	"unlink of an open file on the same node: the open file keeps its data (read and write), the name is gone"
is "$(sem reopen-unlinked "$M0/ru")" "reopen=ok" \
	"unlink of an open file on the same node: it can still be opened again (/proc/self/fd) and read whole"

# ---- mmap -------------------------------------------------------------------------
h=$(sem mmap-write "$M0/mm" 3000000)
is "$(sha "$M1/mm")" "$h" "mmap: MAP_SHARED writes on one node (msync, close) are read by another node"
is "$(sem mmap-read "$M1/mm")" "$h" "mmap: a read-only mapping on another node sees the same bytes"

# ---- O_DIRECT ---------------------------------------------------------------------
out=$(sem odirect "$M0/od" 4194304)
is "$(awk '$1 == $2 { print "same" }' <<<"$out")" same "O_DIRECT: aligned writes and reads work and return the data ($out)"
want=$(awk '{ print $2 }' <<<"$out")
is "$(sha "$M1/od")" "$want" "O_DIRECT: the data written is read by another node"

# ---- O_APPEND ---------------------------------------------------------------------
is "$(sem append "$M0/ap" 2 2000)" "records=4000 intact=4000 distinct=4000" \
	"O_APPEND: two processes on one node appending 2000 records each lose and tear none"

# ---- times ------------------------------------------------------------------------
# (each node is asked about a file it has not looked at before, or through
# ls -l, which lists fresh attributes: stat(2) of a path looked at less
# than 1 s before may show older ones, docs/semantics.md)
as_u sh -c 'echo t >"$1"' sh "$M0/times"
as_u touch -a -d '2001-02-03 04:05:06 UTC' "$M0/times"
as_u touch -m -d '2002-03-04 05:06:07 UTC' "$M0/times"
is "$(as_u stat -c '%X %Y' "$M0/times")" "981173106 1015218367" \
	"times: atime and mtime set explicitly (utimensat) are stored"
is "$(as_u stat -c '%X %Y' "$M1/times")" "981173106 1015218367" \
	"times: and shown on the other node"
as_u cat "$M0/times" "$M1/times" >/dev/null
is "$(as_u stat -c '%X' "$M0/times")" 981173106 "atime: reading a file does not change its atime (noatime)"
as_u sh -c 'echo more >>"$1"' sh "$M1/times"
isnt "$(as_u stat -c '%Y' "$M1/times")" 1015218367 "mtime: a write changes the mtime"
is "$(as_u ls -l --time-style=+%s "$M0" | awk '$7 == "times" { print $6 }')" \
	"$(as_u stat -c '%Y' "$M1/times")" "mtime: ls -l on the other node shows the new mtime after close"

# ---- sparse files -----------------------------------------------------------------
used() { as_u stat -f -c '%S %b %f' "$1" | awk '{ printf "%d", ($2 - $3) * $1 }'; }
u0=$(used "$M0")
as_u truncate -s $((512 << 20)) "$M0/sparse"
as_u sh -c 'printf "middle" | dd of="$1" bs=1 seek=$((300 << 20)) conv=notrunc status=none' sh "$M0/sparse"
is "$(as_u stat -c %s "$M1/sparse")" $((512 << 20)) "sparse files: truncate -s 512M gives the size on both nodes"
want=$(python3 -c 'import hashlib,sys
h = hashlib.sha256(); z = bytes(1 << 20)
for i in range(512):
    if i == 300: h.update(b"middle" + z[6:])
    else: h.update(z)
print(h.hexdigest())')
is "$(sha "$M1/sparse")" "$want" "sparse files: holes read as zeros, the written bytes where they were written"
u1=$(used "$M0")
ok "sparse files: holes take no space (used grew by $((u1 - u0)) bytes for a 512 MiB file)" \
	test $((u1 - u0)) -lt $((8 << 20))

# ---- limits -----------------------------------------------------------------------
n255=$(printf 'n%.0s' $(seq 255))
is "$(sem name "$M0/$n255")" ok "names: 255 bytes work"
is "$(as_u ls "$M1" | grep -c "^$n255\$")" 1 "names: the other node lists the 255-byte name"
is "$(sem name "$M0/${n255}x")" ENAMETOOLONG "names: 256 bytes fail with ENAMETOOLONG"
t4095=$(printf 't%.0s' $(seq 4095))
ok "symlinks: a 4095-byte target works" as_u ln -s "$t4095" "$M0/longlink"
is "$(as_u readlink "$M1/longlink" | wc -c)" 4096 "symlinks: the other node reads the 4095-byte target"
is "$(sem write-at "$M0/huge" $(((1 << 44) - 4097)))" ok \
	"file size: a byte at offset 2^44 - 4097 can be written (16 TiB - 4 KiB, ext4's limit on the nodes)"
is "$(as_u stat -c %s "$M1/huge")" $(((1 << 44) - 4096)) "file size: the other node sees the size 2^44 - 4096"
like "$(sem write-at "$M0/huge2" $((1 << 44)))" '^EFBIG' "file size: a byte at offset 2^44 fails with EFBIG"
ok "and the 16 TiB sparse file can be removed" as_u rm -f "$M0/huge" "$M0/huge2"

# ---- permissions ------------------------------------------------------------------
as_u sh -c 'echo p >"$1"' sh "$M0/perm"
like "$(errmsg chown root "$M0/perm")" 'Operation not permitted' "chown to another user: EPERM (only root may)"
ok "chmod by the owner works" as_u chmod 600 "$M0/perm"
is "$(as_u stat -c %a "$M1/perm")" 600 "and the other node sees the mode after it"

fuse_teardown "$I" "$M1" "$M0"
done_testing
