# SPDX-License-Identifier: GPL-2.0-or-later
# hardlinks-wb.t: hard links with the kernel's writeback cache (--cache
# writeback; docs/semantics.md "The writeback cache", docs/internals/
# hardlinks.md), where the kernel keeps a file's data, size and times
# itself and writes them back later, while the inode's attributes live in
# its record on the home node.  hlwb.py runs the cases: on one mount (m0)
# the same probe as on a local ext4 directory ($L), line by line (dirty
# pages read and stat'ed through another name, link() of a file with dirty
# pages, truncate/ftruncate through another name, rename onto a link of
# the same inode, the last name unlinked while open and dirty, nlink and
# ctime, utimes after writes, fsync, xattrs, fcntl locks through two
# names, a FIFO and a mknod'ed file linked); on two mounts (m0 via bbd0,
# m1 via bbd1: two nodes) the same steps with the other node reading,
# byte-exact; and data written under an fcntl lock on one node, read under
# a lock on the other with both files held open.  hardlinks.t runs the
# general cases without the writeback cache.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 3
command -v python3 >/dev/null || skip_all "python3 not installed"
export EBB_FUSE_CACHE=writeback
I=hlwb-$$
M0=$EBB_TEST_DIR/m0
M1=$EBB_TEST_DIR/m1
H=$EBB_SRCDIR/tests/fuse/hlwb.py
fuse_instance "$I" 1GiB --stripe-size 64KiB || bail "instance create failed"
fixture_mount -n 0 "$I" "$M0" || bail "mount m0 failed"
fixture_mount -n 1 "$I" "$M1" || bail "mount m1 failed"
grep -q "writeback cache is on" "$EBB_TEST_DIR/fuse-m0.log" "$EBB_TEST_DIR/fuse-m1.log"
ok_status $? "ebb-fuse says the kernel's writeback cache is on" ||
	diag_file "$EBB_TEST_DIR/fuse-m0.log"
hl() { as_u timeout -k 5 180 python3 "$H" "$@" 2>&1; }
# line KEY TEXT: the line of TEXT that starts with KEY=
line() { grep "^$1=" <<<"$2"; }

# ---- one mount, as ext4 -----------------------------------------------------------
want=$(hl probe "$L/probe")
diag "ext4: $(tr '\n' ' ' <<<"$want")"
got=$(hl probe "$M0/probe")
for k in dirty_stat after_close link_dirty truncate_other ftruncate \
	rename_same orphan_dirty nlink_ctime utimes_after_write fsync xattr \
	lock_other_name fifo mknod_reg ls; do
	case $k in
	dirty_stat) d="a write through one name, not yet written back: size, bytes and nlink through the other" ;;
	after_close) d="... after close: size and bytes through the other name" ;;
	link_dirty) d="link() of a file with dirty pages: the new name's size before and after more writes, both names after close, the bytes" ;;
	truncate_other) d="truncate through one name while the other is open and dirty: fstat, size after close, bytes (zeros after the cut)" ;;
	ftruncate) d="ftruncate through one name: stat through the other before and after close, bytes" ;;
	rename_same) d="rename onto another link of the same inode while dirty: both names stay, sizes, bytes" ;;
	orphan_dirty) d="the last name unlinked while open and dirty: nlink 0, size, every byte through the descriptor, no name left" ;;
	nlink_ctime) d="nlink after link, link, unlink and ctime moving forward each time, the file dirty" ;;
	utimes_after_write) d="utimes through one name after writes through the other, still open: the mtime set stays after close" ;;
	fsync) d="fsync through one name: size and bytes through the other" ;;
	xattr) d="xattrs set through one name, read and listed through the other" ;;
	lock_other_name) d="an fcntl lock through one name conflicts with one through the other (another process)" ;;
	fifo) d="mkfifo, link it: a FIFO with nlink 2, written through one name, read through the other" ;;
	mknod_reg) d="mknod of a regular file, written, linked while open: size, nlink, bytes" ;;
	ls) d="the directory holds the same names" ;;
	esac
	is "$(line "$k" "$got")" "$(line "$k" "$want")" "one mount: $d: as ext4"
done

# ---- two mounts (two nodes) -------------------------------------------------------------
as_u mkdir "$M0/two"
got=$(hl two "$M0/two" "$M1/two")
check() { is "$(line "$1" "$got")" "$1=$2" "two nodes: $3"; }
check write_close ok "appended through one name on m0 (m1 held the inode through the other), after close: m1 reads every byte through the other"
check size_after_open 150000,150000 "... and stat on m1 through both names shows the new size"
check link_dirty ok,ok "link() on m0 of a file with dirty pages, more writes, close: m1 reads every byte through both names"
check link_dirty_close 99999,ok "link() on m0 of a file with dirty pages, closed right after: m1 stats and reads the new name whole"
check fsync ok "fsync through one name on m0 (still open): m1 reads every byte through the other"
check truncate_other_node 12345,12345 "truncate through a name on m1: m0 (holding the inode) reads and stats the new size through the other"
check unlink_other_node ok,1,1,False,True "one name unlinked on m1 while m0 writes through the other: nothing lost, nlink 1 on m1 and on m0, the name gone on m0, a newer ctime on m0 after its close"
check nlink_other_node 2,2,True "a link made on m0: nlink 2 and a newer ctime on m1 (which held the inode)"
check utimes_other_node 1000000000123456789,1000000000123456789,ok "utimes through one name on m0 after writes through the other: m1 sees the time set and every byte"
check xattr_other_node value "an xattr set through one name on m0: read through the other on m1"
check rename_same_other_node True,True,ok "rename on m1 onto another link of the same inode while m0 has it dirty: both names stay, every byte"
check orphan_dirty ok,False "the last name unlinked while open and dirty (one name on each node): every byte through the descriptor, no name left"
check fifo_other_node True,2 "a FIFO linked on m0: a FIFO with nlink 2 on m1"

# ---- locks: data written under a lock is read under the next one ---------------------------
as_u mkdir "$M0/lk"
got=$(hl lock "$M0/lk" "$M1/lk")
for f in l1 s; do
	for i in 0 1 2; do
		case $f in
		l1) d="a linked file, read on m1 through another name" ;;
		s) d="a file with one name" ;;
		esac
		is "$(line "locked_$f$i" "$got")" "locked_$f$i=ok" \
			"fcntl lock: overwrite $i under a write lock on m0, the file kept open there (dirty pages), read under a read lock on m1, kept open too: every byte ($d)"
	done
	is "$(line "locked_${f}_append" "$got")" "locked_${f}_append=ok" \
		"fcntl lock: 3,000 bytes appended under a write lock on m0, read under a read lock on m1 by the descriptor open since before: every byte up to the new end ($d)"
	# the departure (docs/semantics.md, Locks): ext4 reads 10000 bytes
	is "$(line "locked_${f}_cut" "$got")" "locked_${f}_cut=23000,ok,zeros" \
		"departure: cut to 10,000 bytes under a lock on m0; m1's descriptor open since before keeps its size: 23,000 bytes read, the first 10,000 right, zeros after ($d)"
done

fuse_teardown "$I" "$M0" "$M1"
done_testing
