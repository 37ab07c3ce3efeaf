# SPDX-License-Identifier: GPL-2.0-or-later
# hardlinks.t: hard links through the mount (docs/internals/hardlinks.md),
# each case against the same operations on a local ext4 directory ($L),
# run as the instance's owner: link/stat/unlink/rename probes (hl.py),
# `ln`, `cp -l`, a lock-file program taking its lock with os.link from two
# mounts at once, a link made on one node seen on the other, data written
# through one name read through another on the other node, and `cp -a` /
# `rsync -aH` of a tree with hard links into the mount and back (and a tar
# extraction), compared by inode groups; `ls -l` and `find -printf` of a
# directory of hard links (each entry's nlink, size, mode, owner, as ext4);
# hlwb.py's two-node steps (dirty writes, link, fsync, truncate, unlink,
# utimes, xattrs, rename between links, through different names on two
# nodes) as on ext4; the RPCs a stat and a link cost.  Two mounts stand
# for two nodes (m0 via bbd0, m1 via
# bbd1; 3 bbd).
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 3
command -v python3 >/dev/null || skip_all "python3 not installed"
command -v rsync >/dev/null || skip_all "rsync not installed"
I=hl-$$
M0=$EBB_TEST_DIR/m0
M1=$EBB_TEST_DIR/m1
H=$EBB_SRCDIR/tests/fuse/hl.py
fuse_instance "$I" 1GiB --stripe-size 64KiB || bail "instance create failed"
fixture_mount -n 0 "$I" "$M0" || bail "mount m0 failed"
fixture_mount -n 1 "$I" "$M1" || bail "mount m1 failed"
hl() { as_u timeout -k 5 180 python3 "$H" "$@" 2>&1; }
errmsg() { as_u timeout -k 5 60 "$@" 2>&1 >/dev/null; }

# ---- the probes, ext4 vs the mount --------------------------------------------
want=$(hl probe "$L/probe")
diag "ext4: $want"
is "$(hl probe "$M0/probe")" "$want" \
	"hard links: link, nlink, EEXIST/EPERM/ENOENT, data and chmod through either name, ctime, rename between links (a no-op), rename over a link, symlinks, unlink keeps the data, open file after the last unlink: as ext4"

# ---- ln, cp -l ----------------------------------------------------------------
as_u sh -c 'printf "%s" "some data" >"$1/a"' sh "$M0"
ok "ln: makes a second name" as_u ln "$M0/a" "$M0/b"
is "$(as_u stat -c '%i %h' "$M0/a")" "$(as_u stat -c '%i %h' "$M0/b")" \
	"ln: both names show the same inode and nlink"
is "$(as_u stat -c %h "$M0/a")" 2 "ln: st_nlink is 2"
like "$(errmsg ln "$M0/a" "$M0/b")" 'File exists' "ln onto an existing name: EEXIST"
as_u mkdir "$M0/d"
like "$(errmsg ln "$M0/d" "$M0/d2")" 'not allowed|Operation not permitted' \
	"ln of a directory: refused (hard link not allowed for directory)"
as_u mkdir -p "$M0/cpl/x/y" "$L/cpl/x/y"
for t in "$M0" "$L"; do
	as_u sh -c 'for i in 1 2 3; do echo "file $i" >"$1/cpl/x/f$i"; done; echo deep >"$1/cpl/x/y/g"' sh "$t"
	as_u cp -rl "$t/cpl/x" "$t/cpl/z"
done
is "$(hl groups "$M0/cpl")" "$(hl groups "$L/cpl")" "cp -l: the same inode groups and link counts as on ext4"
is "$(as_u cat "$M0/cpl/z/y/g")" deep "cp -l: the data through the linked copy"

# ---- two nodes -------------------------------------------------------------------
as_u sh -c 'printf "%s" "from m0" >"$1/n0"' sh "$M0"
ok "a link made on m0" as_u ln "$M0/n0" "$M0/d/n1"
is "$(as_u stat -c '%i %h' "$M1/d/n1")" "$(as_u stat -c '%i %h' "$M0/n0")" \
	"... seen on m1 with the same inode and nlink"
is "$(as_u stat -c '%i %h' "$M1/n0")" "$(as_u stat -c '%i' "$M0/n0") 2" \
	"... and m1's stat of the old name says nlink 2"
as_u sh -c 'head -c 300000 /dev/urandom >"$1/big"' sh "$L"
as_u cp "$L/big" "$M0/d/n1"
is "$(sha "$M1/n0")" "$(sha "$L/big")" \
	"data written through one name on m0 (300 KB, 5 stripes), after close: read whole through the other name on m1"
is "$(as_u stat -c %s "$M1/n0")" 300000 "... and its size"
ok "unlink of one name on m1" as_u rm "$M1/n0"
is "$(sha "$M0/d/n1")" "$(sha "$L/big")" "... the data stays for the other name (read on m0)"
is "$(as_u stat -c %h "$M0/d/n1")" 1 "... nlink 1 on m0"
ok "unlink of the last name" as_u rm "$M0/d/n1"
ok "... gone on both" sh -c "! test -e '$M0/d/n1' && ! test -e '$M1/n0'"

# the name m0's kernel knows goes on m0; another name still works there
as_u sh -c 'printf "%s" 12345 >"$1/k1"' sh "$M0"
as_u ln "$M0/k1" "$M0/k2"
as_u stat "$M0/k2" >/dev/null
out=$(as_u python3 -c '
import os, sys
d = sys.argv[1]
fd = os.open(d + "/k2", os.O_RDWR)
os.unlink(d + "/k2")          # the name the inode table holds now
os.pwrite(fd, b"abcdefgh", 0)
st = os.fstat(fd)
os.fchmod(fd, 0o640)
os.close(fd)
st2 = os.stat(d + "/k1")
print(st.st_nlink, st2.st_nlink, oct(st2.st_mode & 0o777), open(d + "/k1").read())
' "$M0" 2>&1)
is "$out" "1 1 0o640 abcdefgh" \
	"unlink of the name m0's kernel knew while open: fstat, fchmod and the data through the handle reach the other name"

# ---- hlwb.py's two-node steps without the writeback cache (hardlinks-wb.t runs
# them with it): each line as the same steps on ext4 (one directory twice)
W=$EBB_SRCDIR/tests/fuse/hlwb.py
as_u mkdir "$M0/two" "$L/two"
want=$(as_u timeout -k 5 180 python3 "$W" two "$L/two" "$L/two" 2>&1)
got=$(as_u timeout -k 5 180 python3 "$W" two "$M0/two" "$M1/two" 2>&1)
for k in $(sed 's/=.*//' <<<"$want"); do
	is "$(grep "^$k=" <<<"$got")" "$(grep "^$k=" <<<"$want")" \
		"two nodes, hlwb.py step $k: as ext4 (tests/fuse/hardlinks-wb.t says what each step is)"
done

# ---- a lock file taken with link(), two nodes at once -------------------------------
as_u sh -c 'printf %08d 0 >"$1/counter"' sh "$M0"
hl lock "$M0" m0 40 >"$EBB_TEST_DIR/lock0" &
p0=$!
hl lock "$M1" m1 40 >"$EBB_TEST_DIR/lock1"
wait $p0
is "$(cat "$EBB_TEST_DIR/lock0") $(cat "$EBB_TEST_DIR/lock1")" "held=40 held=40" \
	"lock file: two mounts take a link() lock 40 times each"
is "$(as_u cat "$M1/counter")" 00000080 \
	"lock file: the counter guarded by it is 80 (no update lost: mutual exclusion across nodes)"
is "$(as_u sh -c 'ls "$1" | grep -c "^lock"' sh "$M0")" 0 "lock file: no lock left behind"

# ---- cp -a and rsync -aH of a tree with hard links ----------------------------------
S=$L/src
as_u sh -c '
mkdir -p "$1/a/b" "$1/c"
for i in 1 2 3 4 5; do head -c $((i * 20000)) /dev/urandom >"$1/a/f$i"; done
ln "$1/a/f1" "$1/a/b/f1b"; ln "$1/a/f1" "$1/c/f1c"
ln "$1/a/f2" "$1/c/f2c"
ln "$1/a/f3" "$1/a/f3x"; ln "$1/a/f3" "$1/a/b/f3y"; ln "$1/a/f3" "$1/c/f3z"
echo single >"$1/c/single"
ln -s ../a/f1 "$1/c/sym"; ln "$1/c/sym" "$1/c/sym2"
' sh "$S"
# An old time of their own: rsync sets a directory's or symlink's time only
# when it differs in whole seconds from the copy's (new) one, so a tree made
# in the same second as the copy would keep the copy's times.
as_u find "$S" -exec touch -h -d "2001-02-03 04:05:06.123456789" {} +
g_src=$(hl groups "$S")
ok "cp -a of the tree into the mount" as_u cp -a "$S" "$M0/cpa"
is "$(hl groups "$M0/cpa")" "$g_src" "cp -a into the mount: the same inode groups and link counts"
same_tree "$S" "$M0/cpa" "cp -a into the mount"
ok "rsync -aH of the tree into the mount" as_u rsync -aH "$S/" "$M0/rs/"
is "$(hl groups "$M0/rs")" "$g_src" "rsync -aH into the mount: the same inode groups and link counts"
same_tree "$S" "$M0/rs" "rsync -aH into the mount"
is "$(hl groups "$M1/rs")" "$g_src" "rsync -aH: m1 sees the same groups"
ok "rsync -aH back out (from m1)" as_u rsync -aH "$M1/rs/" "$L/back/"
is "$(hl groups "$L/back")" "$g_src" "rsync -aH back: the same inode groups and link counts"
same_tree "$S" "$L/back" "rsync -aH back"
ok "cp -a back out (from m1)" as_u cp -a "$M1/cpa" "$L/cpback"
is "$(hl groups "$L/cpback")" "$g_src" "cp -a back: the same inode groups and link counts"
as_u mkdir "$M0/tar"
ok "tar of the tree extracted into the mount" as_u sh -c 'tar -C "$1" -cf - . | tar -C "$2" -xf -' sh "$S" "$M0/tar"
is "$(hl groups "$M0/tar")" "$g_src" "tar x into the mount: the same inode groups and link counts (hard link members)"

# ---- ls -l of a directory of hard links ---------------------------------------------
# A listing (READDIRPLUS) resolves its linked entries' records in batches
# (client-lib/dir.c); m1 has never seen the directory, so what it shows
# comes from that listing and the lstats after it.
for t in "$M0" "$L"; do
	as_u sh -c 'mkdir "$1/ll" "$1/ll/o" "$1/ll/n"; i=0
	while [ $i -lt 40 ]; do
		head -c $((i * 7)) /dev/zero >"$1/ll/o/f$i"
		case $((i % 4)) in 0) m=600 ;; 1) m=640 ;; 2) m=644 ;; *) m=755 ;; esac
		chmod $m "$1/ll/o/f$i"
		ln "$1/ll/o/f$i" "$1/ll/n/g$i"
		[ $((i % 5)) -eq 0 ] && ln "$1/ll/o/f$i" "$1/ll/o/h$i"
		i=$((i + 1))
	done; echo plain >"$1/ll/n/p"' sh "$t"
done
lsl() { as_u ls -ln "$1" | awk 'NR > 1 { print $1, $2, $3, $4, $5, $NF }'; }
want=$(lsl "$L/ll/n")
diag "ext4 ls -ln (first lines): $(echo "$want" | head -n 3 | tr '\n' ';')"
is "$(lsl "$M1/ll/n")" "$want" \
	"ls -l of a directory of 40 hard links (on m1, never listed there): mode, nlink 2 or 3, owner, size as ext4"
FINDP='%P %y %n %m %U %G %s\n'
is "$(as_u find "$M1/ll" -type f -printf "$FINDP" | LC_ALL=C sort)" \
	"$(as_u find "$L/ll" -type f -printf "$FINDP" | LC_ALL=C sort)" \
	"find -printf of the tree's files (every name of each): as ext4"
as_u rm -rf "$M0/ll"

# ---- the data goes with the last name ------------------------------------------------
used() { df -B1 --output=used "$M0" | tail -n 1 | tr -d ' '; }
before=$(used)
ok "rm -r the copies" as_u rm -rf "$M0/cpa" "$M0/rs" "$M0/tar"
after=$(used)
ok "... the space of every linked file is freed ($before -> $after bytes used)" \
	test "$after" -le $((before - 500000))

# ---- RPCs: a file with one name costs what it did, a linked one one more --------
OPS=$EBB_BUILDDIR/tests/bbd/bbd_ops
[ -x "$OPS" ] || bail "$OPS not built"
# rpcs NAME CMD...: run CMD as $U; RPC_<OPCODE> = requests it cost the
# daemons (bbd_ops' own HELLO and NODE_STATUS left out)
rpcs() {
	local name=$1 b=$EBB_TEST_DIR/ops.before a=$EBB_TEST_DIR/ops.after op n
	shift
	"$OPS" | sort >"$b" || bail "bbd_ops failed"
	as_u "$@" || diag "$name: $* failed with status $?"
	"$OPS" | sort >"$a" || bail "bbd_ops failed"
	for op in LOOKUP INODE_GET INODE_ADOPT DENT_TO_PTR INODE_LINK LINK_INSERT; do
		eval "RPC_$op=0"
	done
	while read -r op n; do
		case $op in HELLO|NODE_STATUS) continue ;; esac
		eval "RPC_$op=$n"
	done < <(join -a 2 -e 0 -o 0,1.2,2.2 "$b" "$a" | awk '$3 - $2 > 0 { print $1, $3 - $2 }')
	diag "$name: $(join -a 2 -e 0 -o 0,1.2,2.2 "$b" "$a" |
		awk '$3 - $2 > 0 && $1 != "HELLO" && $1 != "NODE_STATUS" { printf "%s %d ", $1, $3 - $2 }')"
}
N=50
as_u mkdir "$M0/r"
as_u sh -c 'i=0; while [ $i -lt $2 ]; do echo $i >"$1/f$i"; i=$((i + 1)); done' sh "$M0/r" "$N"
as_u ls "$M1/r" >/dev/null
sleep 1.1 # m1's attribute and entry timeouts
STATALL='import os, sys
for i in range(int(sys.argv[2])):
    os.stat("%s/%s%d" % (sys.argv[1], sys.argv[3], i))'
rpcs "stat of $N files with one name (m1)" python3 -c "$STATALL" "$M1/r" "$N" f
ok "stat of a file with one name: 1 LOOKUP ($RPC_LOOKUP for $N), no INODE_GET" \
	test "$RPC_LOOKUP" -ge "$N" -a "$RPC_LOOKUP" -le $((N + N / 10)) -a "$RPC_INODE_GET" -eq 0
rpcs "link of $N files with one name (m0)" python3 -c 'import os, sys
for i in range(int(sys.argv[2])):
    os.link("%s/f%d" % (sys.argv[1], i), "%s/g%d" % (sys.argv[1], i))' "$M0/r" "$N"
is "$RPC_INODE_ADOPT $RPC_DENT_TO_PTR $RPC_INODE_LINK $RPC_LINK_INSERT" "$((2 * N)) $N $N $N" \
	"link (first): 2 INODE_ADOPT, 1 DENT_TO_PTR, 1 INODE_LINK, 1 LINK_INSERT per file"
sleep 1.1
rpcs "stat of $N linked files (m1)" python3 -c "$STATALL" "$M1/r" "$N" f
ok "stat of a linked file: 1 LOOKUP and 1 INODE_GET ($RPC_LOOKUP, $RPC_INODE_GET for $N)" \
	test "$RPC_LOOKUP" -ge "$N" -a "$RPC_LOOKUP" -le $((N + N / 10)) -a "$RPC_INODE_GET" -ge "$N" -a "$RPC_INODE_GET" -le $((N + N / 10))

fuse_teardown "$I" "$M0" "$M1"
done_testing
