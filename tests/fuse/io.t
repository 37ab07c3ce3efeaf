# SPDX-License-Identifier: GPL-2.0-or-later
# io.t: data integrity and namespace churn under load, with unmodified
# tools, as the instance's owner, 4 bbd on loopback (256 KiB stripes):
# - fio, 4 jobs, random writes of 4 KiB..1 MiB blocks then a verify pass
#   (crc32c in every block, --verify_fatal), and a sequential write+verify;
# - stress-ng's file stressors dir, rename and hdd (with --verify), bounded
#   in time, with no error (exit status 0);
# - after all of it: the instance's df counts what is left, and unmount.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 4
command -v fio >/dev/null || skip_all "fio not installed (scripts/install-deps)"
command -v stress-ng >/dev/null || skip_all "stress-ng not installed (scripts/install-deps)"
I=io-$$
M=$EBB_TEST_DIR/m0
fuse_instance "$I" 1GiB --stripe-size 256KiB || bail "instance create failed"
fixture_mount "$I" "$M" || bail "mount failed"
as_u mkdir "$M/fio" "$M/sng"

# fio: a nonzero exit status or any err= other than 0 is a failure; with
# --verify_fatal the first bad block stops the job with EILSEQ.
fio_check() {  # DESC ARGS...
	local desc=$1 st=0
	shift
	as_u timeout -k 10 300 fio --output-format=terse --terse-version=3 \
		--directory="$M/fio" --ioengine=psync --fallocate=none \
		--verify=crc32c --verify_fatal=1 --do_verify=1 "$@" \
		>"$EBB_TEST_DIR/fio.out" 2>&1 || st=$?
	if ! ok_status "$st" "$desc"; then
		diag "fio exit status $st"
		diag_file "$EBB_TEST_DIR/fio.out" 30
		return
	fi
	# terse v3: field 5 is each job's error code
	is "$(grep -c ';' "$EBB_TEST_DIR/fio.out")" 4 "$desc: 4 job reports"
	is "$(awk -F';' 'NF > 5 && $5 != 0' "$EBB_TEST_DIR/fio.out" | wc -l)" 0 \
		"$desc: every job's error field is 0"
}
fio_check "fio: 4 jobs, random writes 4K..1M, 24 MiB each, verify=crc32c" \
	--name=rand --numjobs=4 --size=24m --rw=randwrite --bsrange=4k-1m \
	--randrepeat=0 --verify_backlog=64 --verify_state_save=0
fio_check "fio: 4 jobs, sequential 1 MiB writes, 32 MiB each, verify=crc32c" \
	--name=seq --numjobs=4 --size=32m --rw=write --bs=1m --verify_state_save=0
fio_check "fio: 4 jobs on ONE shared file, disjoint offsets, 13 KiB blocks, verify=crc32c" \
	--name=shared --filename=shared.dat --numjobs=4 --size=16m \
	--offset_increment=16m --rw=randwrite --bs=13k --verify_state_save=0

# stress-ng: its own temp directory on the mount; --verify makes hdd
# check what it reads.  Exit status 0 means every stressor passed.
st=0
as_u sh -c 'cd "$1" && exec timeout -k 10 180 stress-ng --temp-path "$1" \
	--dir 2 --dir-dirs 2048 --rename 2 --hdd 2 --hdd-bytes 32M --hdd-write-size 64K \
	--verify --timeout 20s --metrics-brief' sh "$M/sng" >"$EBB_TEST_DIR/sng.out" 2>&1 || st=$?
if ! ok_status "$st" "stress-ng --dir 2 --rename 2 --hdd 2 --verify for 20 s: exit status 0"; then
	diag_file "$EBB_TEST_DIR/sng.out" 40
fi
like "$(cat "$EBB_TEST_DIR/sng.out")" '\] successful run completed' "stress-ng reports a successful run"
if grep -Eiq 'fail|error|verif' "$EBB_TEST_DIR/sng.out"; then
	ok_status 1 "stress-ng printed no failure, error or verification message"
	diag "$(grep -Ei 'fail|error|verif' "$EBB_TEST_DIR/sng.out" | head -n 20)"
else
	ok_status 0 "stress-ng printed no failure, error or verification message"
fi
is "$(as_u ls -A "$M/sng" 2>&1)" "" "stress-ng cleaned up after itself (its temp directory is empty)"

# df after the run: used = what fio left (3 x 4 x ... bytes, known here)
used=$(stat -f -c '%b %f %S' "$M" | awk '{ printf "%d", ($1 - $2) * $3 }')
fio_bytes=$(as_u du -s -B1 --apparent-size "$M/fio" | cut -f1)
diag "df used $used bytes, fio's files $fio_bytes bytes (apparent)"
ok "df's used space counts at least fio's files ($used >= $fio_bytes)" test "$used" -ge "$fio_bytes"
as_u rm -rf "$M/fio"
fuse_teardown "$I" "$M"
done_testing
