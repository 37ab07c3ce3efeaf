#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# flood.t: bbd keeps serving every job when one client floods it (issue 11;
# docs/security.md "Limits").  One bbd limited to 1,024 descriptors, with
# short deadlines so that this runs in seconds: 5,000 connections that
# never speak, opened by one user, while another user's HELLOs and a
# mount's I/O keep being answered; a Slowloris and a HELLO spread over a
# minute closed at the deadline; the per-uid connection limit (E_BUSY with
# the limit in the detail; other users and root unaffected); idle closes
# that a mount and libebb (tests/client/ebb_idle.c) ride over.  Times are
# printed, never asserted beyond generous bounds: this machine is noisy.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

FLOODER=$OTHER      # the user who floods
EBB_BBD=$EBB_SRCDIR/tests/bbd/bbd-nofile.sh
export EBB_BBD_NOFILE=1024 EBB_BUILDDIR
FLOOD=$EBB_BUILDDIR/tests/bbd/bbd_flood
fuse_setup 1 --hello-timeout 2s --frame-timeout 4s --idle-timeout 3s \
	--max-conns-per-uid 8
I=flood-$$
M=$EBB_TEST_DIR/m
fuse_instance "$I" 1GiB || bail "cannot create the instance"
fixture_mount "$I" "$M" || bail "cannot mount $M"

status() { "$FLOOD" status "$1"; }
now_ms() { date +%s%3N; }
alive() { kill -0 "${EBB_NODE_PIDS[0]}" 2>/dev/null; }

is "$(status nofile)" 1024 "bbd sees the open files limit of 1,024"
is "$(status max_unauth_conns)" 512 "unauthenticated connections: half of it"

# ---- the flood -------------------------------------------------------------
_fixture_as_cmd "$FLOODER" || bail "no user $FLOODER"
prlimit --nofile=8192:8192 -- "${_fixture_as[@]}" "$FLOOD" flood 5000 16 \
	>"$EBB_TEST_DIR/flood.out" 2>"$EBB_TEST_DIR/flood.err" &
fpid=$!
_fixture_track "$fpid" "bbd_flood flood"
sleep 0.5
hello_bad=0 hello_max=0 io_bad=0 io_max=0
for ((i = 0; i < 12; i++)); do
	out=$(as_u "$FLOOD" hello 1 0 2>&1) || hello_bad=$((hello_bad + 1))
	ms=$(sed -n 's/.*max_ms \([0-9]*\).*/\1/p' <<<"$out" | tail -n 1)
	[ -n "$ms" ] && [ "$ms" -gt "$hello_max" ] && hello_max=$ms
	[ -n "$ms" ] && [ "$ms" -gt 5000 ] && hello_bad=$((hello_bad + 1))
	t0=$(now_ms)
	if as_u sh -c "echo round $i >'$M/f$i' && cat '$M/f$i'" \
		>"$EBB_TEST_DIR/io.out" 2>&1 &&
	   [ "$(cat "$EBB_TEST_DIR/io.out")" = "round $i" ]; then
		t=$(($(now_ms) - t0))
		[ "$t" -gt "$io_max" ] && io_max=$t
		[ "$t" -gt 5000 ] && io_bad=$((io_bad + 1))
	else
		io_bad=$((io_bad + 1))
		diag "mount I/O round $i failed: $(cat "$EBB_TEST_DIR/io.out")"
	fi
	sleep 0.7
done
diag "during the flood: slowest HELLO+PING ${hello_max} ms, slowest mount write+read ${io_max} ms"
is "$hello_bad" 0 "another user's HELLO answered every time during the flood (within 5 s)"
is "$io_bad" 0 "the mount's I/O answered every time during the flood (within 5 s)"
fixture_wait_pid "$fpid"
res=$(tail -n 1 "$EBB_TEST_DIR/flood.out")
diag "flood: $res ($(tr '\n' ' ' <"$EBB_TEST_DIR/flood.err" | cut -c1-300))"
conn=$(sed -n 's/^connected \([0-9]*\) closed .*/\1/p' <<<"$res")
closed=$(sed -n 's/.* closed \([0-9]*\)$/\1/p' <<<"$res")
ok_status "$([ "${conn:-0}" -gt 1024 ]; echo $?)" \
	"the flood got more connections up than bbd has descriptors (${conn:-none})"
is "${closed:-none}" "${conn:-0}" "bbd closed every connection of the flood"
h=$(status closed_hello) s=$(status shed)
diag "closed at the HELLO deadline: $h, shed: $s, EMFILE: $(status emfile)"
ok_status "$([ "$((h + s))" -ge "${conn:-1}" ]; echo $?)" \
	"bbd's counters agree: closed_hello + shed >= $conn"
ok "bbd is alive" alive
is "$(status unauth)" 0 "no unauthenticated connection is left"

# ---- Slowloris --------------------------------------------------------------
for mode in prefix hello; do
	out=$(as_other "$FLOOD" slow "$mode" 2>&1)
	ok_status $? "a $mode sent a byte at a time is closed before it is complete" ||
		diag "$out"
	diag "$mode: $(tail -n 1 <<<"$out") s"
done
n0=$(status closed_frame)
out=$(as_other "$FLOOD" slow frame 2>&1)
ok_status $? "an authenticated frame sent a byte a second is closed at frame_timeout" ||
	diag "$out"
diag "frame: $(tail -n 1 <<<"$out") s"
ok_status "$([ "$(status closed_frame)" -gt "$n0" ]; echo $?)" "counted in closed_frame"

# ---- connections per uid -------------------------------------------------------
as_other "$FLOOD" conns 9 1 >"$EBB_TEST_DIR/conns.out" 2>&1 &
cpid=$!
_fixture_track "$cpid" "bbd_flood conns"
sleep 0.3
out=$(as_u "$FLOOD" hello 3 100 2>&1)
ok_status $? "another uid is unaffected while one is at its limit" || diag "$out"
fixture_wait_pid "$cpid"
res=$(cat "$EBB_TEST_DIR/conns.out")
like "$res" "accepted 8 refused 1 alive 8" "uid $(id -u "$OTHER"): 8 connections, the 9th refused" ||
	diag "$res"
like "$res" "status EBUSY detail uid [0-9]+ has 8 connections from 127\\.0\\.0\\.1 to this bbd, the limit \(max_conns_per_uid 8\)" \
	"the refusal is E_BUSY and names the limit"
res=$("$FLOOD" conns 12 0 2>&1)
like "$res" "accepted 12 refused 0" "root is not limited" || diag "$res"

# ---- idle connections ------------------------------------------------------------
out=$(as_u "$FLOOD" idle 20 2>&1)
ok_status $? "an ordinary user's idle connection is closed" || diag "$out"
diag "idle: $(tail -n 1 <<<"$out") s"
not_ok "root's idle connection is not" "$FLOOD" idle 5

# the mount rides over idle closes: a write and a read after each idle
# period, some longer than the timeout (bbd closes), some just under it
# (libebb retires the connection itself before it sends)
n0=$(status closed_idle)
bad=0
for p in 4 2.4 2.8 3.2 4; do
	sleep "$p"
	if ! as_u sh -c "echo after $p >'$M/idle' && cat '$M/idle'" \
		>"$EBB_TEST_DIR/io.out" 2>&1 ||
	   [ "$(cat "$EBB_TEST_DIR/io.out")" != "after $p" ]; then
		bad=$((bad + 1))
		diag "after $p s idle: $(cat "$EBB_TEST_DIR/io.out")"
	fi
done
is "$bad" 0 "the mount wrote and read after every idle period"
n1=$(status closed_idle)
diag "closed_idle: $n0 -> $n1"
ok_status "$([ "$n1" -gt "$n0" ]; echo $?)" "bbd did close the mount's idle connections"
# libebb itself, with creates (which must never be sent twice) after
# pauses on both sides of the timeout and of its own margin
n0=$(status closed_idle)
hellos() { "$EBB_BUILDDIR/tests/bbd/bbd_ops" | sed -n 's/^HELLO //p'; }
h0=$(hellos)
out=$(as_u "$EBB_BUILDDIR/tests/client/ebb_idle" "${EBB_NODE_LIST[0]}" "$I" 3000 2>&1)
ok_status $? "libebb creates, writes and reads after every idle period" ||
	diag "$out"
h1=$(hellos)
diag "ebb_idle: $(tail -n 1 <<<"$out"); closed_idle $n0 -> $(status closed_idle); HELLOs $h0 -> $h1"
# 5 of its pauses are past libebb's margin (75% of the timeout): it
# reconnects after each, 3 of them before bbd would have closed (without
# the retiring, only after the 2 pauses past the timeout); +1 for the
# attach, +1 for our own bbd_ops
ok_status "$([ "$((h1 - h0))" -ge 7 ]; echo $?)" \
	"libebb retired its idle connection before bbd closed it ($((h1 - h0)) HELLOs)"

out=$(fixture_ebbctl status 2>&1)
like "$out" "[0-9]+ busy, [0-9]+ idle, [0-9]+ unauth" \
	"ebbctl status shows connections by state" || diag "$out"
out=$(fixture_ebbctl --json status 2>&1)
like "$out" '"closed_idle": ?[1-9]' "ebbctl --json status has the counters" || diag "$out"
like "$out" '"max_conns_per_uid": ?8' "... and the limits" || diag "$out"

fuse_teardown "$I" "$M"
ok "bbd is alive" alive

# ---- requests in flight per uid ---------------------------------------------------
# (last: a limit of 16 would refuse a mount's write-behind burst)
_fixture_bbd_args[0]+=" --max-inflight-per-uid 16"
fixture_bbd_restart 0 || bail "bbd did not restart"
I2=flood2-$$
fuse_instance "$I2" 1GiB || bail "cannot create $I2"
res=$(as_u "$FLOOD" inflight "$I2" 100 2>&1)
# all 100 arrive in one read, so normally exactly 16 are served; if TCP
# split them, replies to the first part may make room for more
nbusy=$(sed -n 's/^ok [0-9]* busy \([0-9]*\) other 0$/\1/p' <<<"$res")
ok_status "$([ "${nbusy:-0}" -ge 1 ] && [ "$nbusy" -le 84 ]; echo $?)" \
	"100 requests at once: the ones past 16 refused with EBUSY, connection kept" ||
	diag "$res"
diag "$(head -n 1 <<<"$res")"
like "$res" "detail uid [0-9]+ has 16 requests from 127\\.0\\.0\\.1 in flight on this bbd, the limit \(max_inflight_per_uid 16\)" \
	"the refusal names the limit"
res=$("$FLOOD" inflight "$I2" 100 2>&1)
like "$res" "^ok 100 busy 0" "root is not limited" || diag "$res"
is "$(status busy_inflight)" "${nbusy:-none}" "counted in busy_inflight"
ok "instance destroy" fixture_ebbctl instance destroy "$I2"
ok "bbd is alive" alive
done_testing
