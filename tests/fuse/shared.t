# SPDX-License-Identifier: GPL-2.0-or-later
# shared.t: three nodes write disjoint, unaligned records into one shared
# file at the same time; every byte lands, as read from every node after
# close (docs/semantics.md).  3 bbd, one instance (64 KiB stripes), mount mi
# attached through bbd i: three mounts stand for three nodes.
#
# The pattern is IOR's "hard" one: record k (R bytes at offset k * R)
# belongs to writer k mod 3, so the pages (and stripes) the records share
# hold bytes of two or three writers.  Anything that turns a write into a
# whole-page read-modify-write (the kernel's writeback cache, a
# write-behind buffer) writes back bytes the node never wrote and loses the
# other nodes' bytes: on kernel 6.18 three mounts of libfuse's passthrough_ll
# with -o writeback lose about 4% of the bytes of the ior-hard case and
# two thirds of the 1-byte-record case (NOTES.md, branch sharedtest); without
# writeback they lose none.
#
# t_records (tests/fuse/t_records.c) forks the three writers (writer i on
# mount mi), releases them together once each has its file open, and waits
# for all of them to close and exit (it reports, not asserts, how long all
# three were writing at once); then t_records check reads the file
# through each mount and compares every byte with the value it computes from
# (record, position): the first wrong offset names its record and writer.
# Cases: the ior-hard 47,008-byte records (200 per writer), 1-, 100- and
# 3,901-byte records (several records in a page, several writers in a page),
# 1 MiB + 13-byte records (each crosses 16 or 17 stripes, and is more than
# one 1 MiB FUSE WRITE), records written in 3 uneven pieces with pwrite and
# with lseek + write, and 100-byte records into a file first truncated to
# its full size (a page read-modify-write then reads zeros that are there
# rather than zero-filling past the end), and runs of 7 adjacent 100-byte
# records per writer in 4 pwrites each (consecutive writes that libebb's
# write-behind gathers into one WRITE, other writers' bytes on both sides
# of each run); each buffered and with O_DIRECT.  ebb-fuse takes
# O_DIRECT at any offset and length (the kernel sends such writes to it as
# they are, no page cache): the O_DIRECT cases use the same unaligned sizes.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 3
T=$EBB_BUILDDIR/tests/fuse/t_records
[ -x "$T" ] || bail "$T not built"
I=shared-$$
M=("$EBB_TEST_DIR/m0" "$EBB_TEST_DIR/m1" "$EBB_TEST_DIR/m2")
fuse_instance "$I" 1GiB --stripe-size 64KiB || bail "instance create failed"
for i in 0 1 2; do
	fixture_mount -n "$i" "$I" "${M[i]}" || bail "mount m$i failed"
done

# records NAME R N DESC [t_records write options]: 3 writers, N records of R
# bytes each, into NAME; then the check from every mount.
records() {
	local name=$1 r=$2 n=$3 desc=$4 out st=0 i bad=0
	shift 4
	out=$(as_u timeout -k 5 120 "$T" write "$@" "$r" "$n" \
		"${M[0]}/$name" "${M[1]}/$name" "${M[2]}/$name" 2>&1) || st=$?
	ok_status "$st" "$desc: 3 writers (m0, m1, m2 at once) wrote and closed"
	diag "$out" # on success: how long the 3 wrote at the same time
	for i in 0 1 2; do
		st=0
		out=$(as_u timeout -k 5 120 "$T" check "$r" "$n" 3 "${M[i]}/$name" 2>&1) || st=$?
		ok_status "$st" "$desc: every byte and the size right, read on m$i" ||
			{ diag "$out"; bad=1; }
	done
	[ "$bad" -eq 0 ] && as_u rm -f "${M[0]}/$name"
}

for mode in buffered direct; do
	o=()
	[ "$mode" = direct ] && o=(-d)
	records "hard-$mode" 47008 200 "$mode, 47,008-byte records (ior-hard), 600" "${o[@]}"
	records "r1-$mode" 1 2000 "$mode, 1-byte records, 6,000" "${o[@]}"
	records "r100-$mode" 100 1000 "$mode, 100-byte records, 3,000" "${o[@]}"
	records "r3901-$mode" 3901 300 "$mode, 3,901-byte records, 900" "${o[@]}"
	records "big-$mode" 1048589 4 "$mode, 1 MiB + 13-byte records, 12" "${o[@]}"
	records "pieces-$mode" 47008 100 "$mode, 47,008-byte records in 3 pwrites each, 300" \
		-p 3 "${o[@]}"
	records "seek-$mode" 3901 300 "$mode, 3,901-byte records in 3 lseek+writes each, 900" \
		-p 3 -s "${o[@]}"
	records "presized-$mode" 100 1000 "$mode, 100-byte records into a file truncated to its full size first, 3,000" \
		-t "${o[@]}"
	records "runs-$mode" 100 1050 "$mode, runs of 7 adjacent 100-byte records in 4 pwrites each, 3,150" \
		-b 7 -p 4 "${o[@]}"
done

fuse_teardown "$I" "${M[2]}" "${M[1]}" "${M[0]}"
done_testing
