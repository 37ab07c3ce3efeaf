# SPDX-License-Identifier: GPL-2.0-or-later
# xattr.t: extended attributes through the mount, compared with a local
# ext4 directory (docs/semantics.md "Extended attributes").  3 bbd, two
# mounts (m0 via node 0, m1 via node 1) standing for two nodes.
# - xattr.py's probes (set/get/list/remove, XATTR_CREATE/REPLACE, missing
#   names, name and value limits, binary values, short buffers, size 0,
#   namespaces, directories and symlinks) as the owner, another user and
#   root give the same result and errno on both, line by line; the two
#   documented differences: a value of 65,536 bytes (ext4 without ea_inode
#   holds ~4 KiB per inode: ENOSPC; ebb stores it) and security.* set by
#   root (ext4 stores it; ebb: EOPNOTSUPP);
# - the attributes follow the inode through renames within a directory and
#   across directories (12 names in 2 directories: dentries on all nodes),
#   are read at once from the other mount, and a name re-created after rm
#   has none;
# - setfattr/getfattr, cp -a and rsync -aX of a tree with xattrs from ext4
#   into the mount and back, tar --xattrs both ways: getfattr -R -d lists
#   the same attributes everywhere;
# - the kernel asks ebb-fuse for security.capability once per file, not
#   before every write (FUSE_HANDLE_KILLPRIV_V2, killpriv.c): a getxattr
#   per write would make 4 KiB writes through the mount ~40% slower.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 3
command -v python3 >/dev/null || skip_all "python3 not installed"
for t in setfattr getfattr rsync tar; do
	command -v $t >/dev/null || skip_all "$t not installed (scripts/install-deps: attr, rsync, tar)"
done
I=xattr-$$
M0=$EBB_TEST_DIR/m0
M1=$EBB_TEST_DIR/m1
PY=$EBB_SRCDIR/tests/fuse/xattr.py
fuse_instance "$I" 1GiB || bail "instance create failed"
fixture_mount -n 0 "$I" "$M0" || bail "mount m0 failed"
fixture_mount -n 1 "$I" "$M1" || bail "mount m1 failed"
E=$L/p        # ext4 reference
B=$M0/p       # the same on ebb
as_u mkdir "$E" "$B" && as_u chmod 755 "$E" "$B" "$M0" || bail "mkdir p"

# compare MODE USER...: xattr.py MODE on ext4 and on ebb as USER, one check
# per case line
compare() {
	local mode=$1 who=$2 e b n i
	if [ "$who" = root ]; then
		e=$(python3 "$PY" "$mode" "$E" 2>&1)
		b=$(python3 "$PY" "$mode" "$B" 2>&1)
	else
		e=$(fixture_as "$who" python3 "$PY" "$mode" "$E" 2>&1)
		b=$(fixture_as "$who" python3 "$PY" "$mode" "$B" 2>&1)
	fi
	n=$(printf '%s\n' "$e" | wc -l)
	[ "$n" -ge 2 ] || diag "$mode on ext4 said: $e"
	for ((i = 1; i <= n; i++)); do
		le=$(printf '%s\n' "$e" | sed -n "${i}p")
		lb=$(printf '%s\n' "$b" | sed -n "${i}p")
		is "$lb" "$le" "$mode as $who: ${le%%: *} (ext4: ${le#*: })"
	done
	is "$(printf '%s\n' "$b" | wc -l)" "$n" "$mode as $who: as many cases on ebb as on ext4"
}

as_u python3 "$PY" make "$E" && as_u python3 "$PY" make "$B" || bail "xattr.py make"
compare owner "$U"
compare other "$OTHER"
compare root root
compare after "$U"

# the documented difference: values past ext4's in-inode block
out=$(as_u python3 "$PY" big "$E" 2>&1)
is "$out" "value of 65,536 bytes: ENOSPC
get 65,536: ENODATA" "ext4 (no ea_inode) refuses a value of 65,536 bytes: ENOSPC"
out=$(as_u python3 "$PY" big "$B" 2>&1)
is "$out" "value of 65,536 bytes: ok
get 65,536: True" "ebb stores a value of 65,536 bytes (XATTR_SIZE_MAX) and reads it back whole"
out=$(as_u python3 -c 'import os, sys
v = bytes(range(256)) * 256
print(os.getxattr(sys.argv[1], "user.max") == v)' "$M1/p/f" 2>&1)
is "$out" True "the 65,536-byte value read from the other mount"

# the other documented difference: security.* is not stored, also for root
e=$(python3 -c 'import os, sys
try: os.setxattr(sys.argv[1], "security.ebb", b"s"); print("ok")
except OSError as e: print(os.strerror(e.errno))' "$E/f" 2>&1)
b=$(python3 -c 'import os, sys
try: os.setxattr(sys.argv[1], "security.ebb", b"s"); print("ok")
except OSError as e: print(os.strerror(e.errno))' "$B/f" 2>&1)
is "$e/$b" "ok/Operation not supported" "root sets security.ebb: ext4 stores it, ebb says EOPNOTSUPP"

# ---- the inode keeps them: renames, the other node, removal ------------------
as_u mkdir "$M0/r" "$M0/s" || bail "mkdir r s"
as_u sh -c 'echo data >"$1/r/n0" && setfattr -n user.k -v kept "$1/r/n0" &&
	setfattr -n user.bin -v 0x00ff00 "$1/r/n0"' sh "$M0" || bail "setfattr"
prev=$M0/r/n0
fails=0
for i in $(seq 1 12); do
	if [ $((i % 2)) = 0 ]; then next=$M0/r/n$i; else next=$M0/s/n$i; fi
	as_u mv "$prev" "$next" || fails=$((fails + 1))
	v=$(as_u getfattr --absolute-names --only-values -n user.k "${next/$M0/$M1}" 2>&1)
	[ "$v" = kept ] || { fails=$((fails + 1)); diag "after mv to $next: m1 reads '$v'"; }
	prev=$next
done
is "$fails" 0 "user.k follows the file through 12 renames (within r, between r and s), read on m1 after each"
is "$(as_u getfattr --absolute-names -e hex -n user.bin "$M1/r/n12" 2>&1 | sed -n 's/^user.bin=//p')" 0x00ff00 \
	"the binary value with NULs, after the renames, from m1"
as_u setfattr -n user.k -v changed "$M1/r/n12"
is "$(as_u getfattr --absolute-names --only-values -n user.k "$M0/r/n12" 2>&1)" changed \
	"set on m1: m0 reads the new value at once"
as_u setfattr -x user.k "$M1/r/n12"
like "$(as_u getfattr --absolute-names -n user.k "$M0/r/n12" 2>&1)" "No such attribute" \
	"removed on m1: m0 finds no user.k at once"
as_u rm "$M0/r/n12" && as_u touch "$M0/r/n12"
is "$(as_u getfattr --absolute-names -d "$M1/r/n12" 2>&1)" "" "a file re-created under the removed name has no attributes"
as_u sh -c 'mkdir "$1/r/dd" && setfattr -n user.d -v dir "$1/r/dd" && mv "$1/r/dd" "$1/s/dd2"' sh "$M0"
is "$(as_u getfattr --absolute-names --only-values -n user.d "$M1/s/dd2" 2>&1)" dir "a directory's attribute follows its rename to another directory"

# ---- real tools -------------------------------------------------------------------
# a tree with xattrs on files and directories, binary values, long names
T=$L/tree
as_u sh -c 'set -e; mkdir -p "$1/a/b" "$1/c"; cd "$1"
	for f in x a/y a/b/z c/w; do echo "$f" >"$f"; done
	setfattr -n user.mime -v text/plain x
	setfattr -n user.bin -v 0x000102fffe00 a/y
	setfattr -n user.empty a/b/z
	setfattr -n "user.$(printf "%0200d" 7)" -v long a/b/z
	setfattr -n user.dir -v "top dir" a
	setfattr -n user.nested -v deep a/b
	ln -s x link
	printf "%03000d" 1 >big; setfattr -n user.big -v "$(printf "%03000d" 2)" big' sh "$T" ||
	bail "making the local tree"
# xattrs DIR: every user.* attribute under DIR, one sorted line each
xattrs() {
	as_u sh -c 'cd "$1" && getfattr -R -d -e hex -m "^user\\." . 2>&1' sh "$1" |
		awk '/^# file: /{f=substr($0, 9); next} NF{print f, $0}' | LC_ALL=C sort
}
want=$(xattrs "$T")
is "$(printf '%s\n' "$want" | wc -l)" 8 "getfattr -R -d lists the 8 attributes of the local tree (link: those of x)"

run_u 60 "cp -a of the tree into the mount" cp -a "$T" "$M0/cpa"
is "$(xattrs "$M0/cpa")" "$want" "cp -a into the mount: getfattr -R -d lists the same attributes"
is "$(xattrs "$M1/cpa")" "$want" "... and so does the other mount"
run_u 60 "rsync -aX of the tree into the mount" rsync -aX "$T/" "$M0/rs/"
is "$(xattrs "$M0/rs")" "$want" "rsync -aX into the mount: the same attributes"
run_u 60 "rsync -aX back from the mount (m1) to ext4" rsync -aX "$M1/rs/" "$L/back-rs/"
is "$(xattrs "$L/back-rs")" "$want" "rsync -aX back to ext4: the same attributes"
run_u 60 "cp -a back from the mount to ext4" cp -a "$M1/cpa" "$L/back-cpa"
is "$(xattrs "$L/back-cpa")" "$want" "cp -a back to ext4: the same attributes"
run_u 60 "tar --xattrs -c of the tree on the mount" tar --xattrs -C "$M0/cpa" -cf "$L/t.tar" .
as_u mkdir "$L/back-tar" "$M0/untar"
run_u 60 "tar --xattrs -x on ext4" tar --xattrs --xattrs-include='user.*' -C "$L/back-tar" -xf "$L/t.tar"
is "$(xattrs "$L/back-tar")" "$want" "tar --xattrs from the mount to ext4: the same attributes"
run_u 60 "tar --xattrs -x into the mount" tar --xattrs --xattrs-include='user.*' -C "$M0/untar" -xf "$L/t.tar"
is "$(xattrs "$M1/untar")" "$want" "tar --xattrs into the mount: the same attributes"
out=$(as_u rsync -aX "$T/" "$M0/rs/" 2>&1)
is "$out" "" "rsync -aX again onto the copy: no warning"

# ---- the cost of having xattrs: security.capability once per file ----------------
# Without FUSE_HANDLE_KILLPRIV_V2 the kernel sends a GETXATTR of
# security.capability before every write(2) to a FUSE file; ebb-fuse
# answers it without an RPC and counts it (printed at exit).  20,000
# writes to 2 files must cause a handful, not 20,000.
t0=$(date +%s.%N)
as_u dd if=/dev/zero of="$M0/w" bs=4k count=20000 status=none
ok_status $? "20,000 writes of 4 KiB through the mount"
t1=$(date +%s.%N)
as_u dd if=/dev/zero of="$M0/w2" bs=4k count=2000 status=none
diag "dd bs=4k count=20000: $(echo "$t1 - $t0" | bc 2>/dev/null || echo "?") s"

fuse_teardown "$I" "$M0" "$M1"
n=$(sed -n 's/^ebb-fuse: \([0-9]*\) getxattr of security.*/\1/p' "$EBB_TEST_DIR/fuse-m0.log" | tail -1)
ok "the kernel asked m0's ebb-fuse for security.* ${n:-?} times over 22,000 writes and the tests above (FUSE_HANDLE_KILLPRIV_V2: once per file, not per write)" \
	sh -c '[ -n "$1" ] && [ "$1" -lt 1000 ]' sh "$n"
done_testing
