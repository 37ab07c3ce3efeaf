# SPDX-License-Identifier: GPL-2.0-or-later
# locks-wb.t: locks with the kernel's writeback cache (--cache writeback),
# many processes of one node at once.  In writeback mode an unlock (and a
# grant) invalidates the file's cached pages, and the kernel writes the
# dirty ones back (WRITE requests to ebb-fuse) before that call returns:
# if those calls ran on libfuse's worker threads (16), 16 processes
# unlocking at once would leave no thread to serve the WRITEs and the
# mount would hang (client-lib/fuse/locks.c _setlk).  What is checked:
# - 24 processes on m0 (more than the worker threads) each lock their own
#   4 KiB range of one file, write it, unlock, 25 times, all at once: all
#   finish (a hang is a timeout here);
# - every byte is the last round's, read on m1 (another node) under a
#   read lock of the whole file.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

command -v python3 >/dev/null || skip_all "python3 not installed"
fuse_setup 2
export EBB_FUSE_CACHE=writeback
I=lkwb-$$
M0=$EBB_TEST_DIR/m0
M1=$EBB_TEST_DIR/m1
fuse_instance "$I" 1GiB || bail "instance create failed"
fixture_mount -n 0 "$I" "$M0" || bail "mount m0 failed"
fixture_mount -n 1 "$I" "$M1" || bail "mount m1 failed"
grep -q "writeback cache is on" "$EBB_TEST_DIR/fuse-m0.log"
ok_status $? "ebb-fuse says the kernel's writeback cache is on" ||
	diag_file "$EBB_TEST_DIR/fuse-m0.log"
P=24
ROUNDS=25

S=$L/lkwb.py
cat >"$S" <<'EOF'
import fcntl, os, sys
path, me, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_RDWR)
for r in range(rounds):
    fcntl.lockf(fd, fcntl.LOCK_EX, 4096, me * 4096)
    os.pwrite(fd, bytes([(me * 7 + r) % 251]) * 4096, me * 4096)
    fcntl.lockf(fd, fcntl.LOCK_UN, 4096, me * 4096)
os.close(fd)
print("done")
EOF
chmod 644 "$S"
as_u sh -c ': >"$1/f"' sh "$M0"
pids=()
for ((i = 0; i < P; i++)); do
	as_u timeout -k 5 180 python3 "$S" "$M0/f" "$i" "$ROUNDS" >"$L/p$i.out" 2>&1 &
	pids+=($!)
done
# A hang leaves the processes (and ebb-fuse's stuck threads) in
# uninterruptible waits that no signal ends: after 120 s, abort m0's FUSE
# connection (fusectl) so that the test ends and nothing is left behind.
abort_m0() {
	local mm own=0
	mm=$(findmnt -rn -T "$M0" -o MAJ:MIN | tail -n 1)
	if [ ! -e /sys/fs/fuse/connections/"${mm##*:}" ]; then
		mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null && own=1
	fi
	echo 1 >/sys/fs/fuse/connections/"${mm##*:}"/abort 2>/dev/null
	[ "$own" = 0 ] || umount /sys/fs/fuse/connections
}
for ((k = 0; k < 1200; k++)); do
	left=0
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
	[ "$left" = 0 ] && break
	sleep 0.1
done
[ "$left" = 0 ] || { diag "$left processes still running after 120 s: a hang; aborting m0's connection"; abort_m0; }
bad=0
for ((i = 0; i < P; i++)); do
	wait "${pids[i]}" && [ "$(cat "$L/p$i.out")" = done ] || { bad=$((bad + 1)); diag "process $i: $(cat "$L/p$i.out")"; }
done
is "$bad" 0 "$P processes on m0 locked, wrote and unlocked their ranges $ROUNDS times at once: all finished"

out=$(as_u python3 - "$M1/f" "$P" "$ROUNDS" <<'EOF' 2>&1
import fcntl, os, sys
path, p, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_SH)
data = os.pread(fd, p * 4096 + 1, 0)
wrong = sum(1 for me in range(p)
            if data[me * 4096:(me + 1) * 4096] != bytes([(me * 7 + rounds - 1) % 251]) * 4096)
print("size=%d wrong=%d" % (len(data), wrong))
EOF
)
is "$out" "size=$((P * 4096)) wrong=0" "read on m1 under a read lock: every range holds its last round"

fuse_teardown "$I" "$M0" "$M1"
done_testing
