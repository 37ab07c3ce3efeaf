# SPDX-License-Identifier: GPL-2.0-or-later
# fault.t: one of 4 bbd is killed (-9) while tools do I/O on the mount.
# - a dd writer, a cat reader and an `ls -lR` lister loop on the mount (as
#   the owner), each until its tool fails; bbd2 is killed (the mount is
#   attached through bbd0, which lives);
# - every loop ends by itself with its tool's error, EIO ("Input/output
#   error"; ETIMEDOUT also allowed: design §3), well before its bound, and
#   no process is left in D state;
# - new calls that need the dead node fail the same way; the mount can be
#   unmounted, ebb-fuse exits; after a restart of bbd2 the instance is
#   destroyed.
# No timing is asserted: "no hang" means before `timeout` (60 round-trip
# timeouts) and the watchdog.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 4
I=flt-$$
M=$EBB_TEST_DIR/m0
MS=3000                   # ebb-fuse's per-round-trip timeout
BOUND=$((MS * 60 / 1000))
K=2                       # the victim (not node 0, through which we attach)
fuse_instance "$I" 1GiB --stripe-size 64KiB || bail "instance create failed"
fixture_mount -t "$MS" -n 0 "$I" "$M" || bail "mount failed"

# data on every node: a 16 MiB file (256 stripes over 4 nodes), a tree
as_u sh -c 'head -c $((16 << 20)) /dev/urandom >"$1/src"' sh "$L"
as_u cp "$L/src" "$M/big"
as_u sh -c 'mkdir -p "$1/tree" && for i in $(seq 200); do echo $i >"$1/tree/f$i"; done' sh "$M"
is "$(sha "$M/big")" "$(sha "$L/src")" "before the kill: the 16 MiB file reads back"

# the loops: each runs its tool until it fails, then prints the tool's
# status and last message
loop() {  # NAME CMD (sh -c text)
	local name=$1 cmd=$2
	_fixture_as_cmd "$U"
	fixture_spawn "loop-$name" timeout -k 10 "$BOUND" "${_fixture_as[@]}" sh -c '
		n=0
		while :; do
			n=$((n + 1))
			'"$cmd"' 2>"$0.err" || { st=$?; echo "status=$st after $n rounds"; tail -n 2 "$0.err"; exit 0; }
			[ $n -ge 100000 ] && { echo "never failed"; exit 1; }
		done' "$L/loop-$name"
	eval "pid_$name=$_fixture_last_pid"
}
loop writer 'dd if=/dev/zero of="'"$M"'/w" bs=1M count=16 conv=fsync status=none'
loop reader 'cat "'"$M"'/big" >/dev/null'
loop lister 'ls -lR "'"$M"'/tree" >/dev/null'
sleep 1   # (not a bound: lets the loops start their I/O before the kill)
ok "kill -9 bbd$K during the I/O" fixture_bbd_kill "$K" KILL

for name in writer reader lister; do
	eval "pid=\$pid_$name"
	fixture_wait_pid "$pid"
	st=$?
	out=$(cat "$EBB_TEST_DIR/loop-$name.log")
	if [ "$st" -eq 124 ] || [ "$st" -eq 137 ]; then
		ok_status 1 "$name: its tool failed instead of hanging"
		diag "$name hung: killed by timeout after $BOUND s: $out"
		skip "no message" 1
		continue
	fi
	ok_status "$st" "$name: its tool failed instead of hanging ($(head -n 1 <<<"$out"))"
	like "$out" 'Input/output error|Connection timed out' "$name: with EIO (or ETIMEDOUT): $(tail -n 1 <<<"$out")"
done
ok "no process left in D state" fixture_dstate

# new calls after the kill: fail, do not hang
st=0
out=$(as_u timeout -k 5 "$BOUND" cat "$M/big" 2>&1 >/dev/null) || st=$?
isnt "$st" 0 "cat of the file now fails (status $st)"
isnt "$st" 124 "and does not hang"
like "$out" 'Input/output error|Connection timed out' "with EIO: $out"
st=0
out=$(as_u timeout -k 5 "$BOUND" sh -c 'for i in $(seq 50); do echo x >"$1/new$i" || exit 1; done' sh "$M" 2>&1) || st=$?
isnt "$st" 0 "creating 50 files fails on some (their dentries live on bbd$K; status $st)"
isnt "$st" 124 "and does not hang"
ok "still no process in D state" fixture_dstate

fixture_umount "$M"
st=$?
ok_status "$st" "unmount succeeds with bbd$K dead; ebb-fuse exits with status 0 (status $st)"
ok "the mount is gone" test -z "$(findmnt -rn -M "$M")"
ok "restart bbd$K" fixture_bbd_restart "$K"
out=$(fixture_ebbctl instance destroy "$I" 2>&1)
ok_status $? "instance destroy" || diag "$out"
done_testing
