# SPDX-License-Identifier: GPL-2.0-or-later
# The fixture's own test: start-up, kill/restart, reaping on every way out
# (normal end, a daemon that ignores SIGTERM, the watchdog, SIGTERM to the
# test), attach mode, EBB_KEEP.  Daemons are tests/lib/fake-bbd.sh, which
# has bbd's start-up contract only, so this runs before bbd exists.
# Each scenario is a child test script; this script checks from outside
# that nothing it started survives it.

. "$EBB_SRCDIR/tests/tap/tap.sh"

command -v python3 >/dev/null || skip_all "python3 is needed for the fake daemon"

work=$(mktemp -d "${TMPDIR:-/tmp}/ebb-fixture-t.XXXXXX") || bail "mktemp"
chmod 755 "$work"   # munged wants every directory above its socket searchable
trap 'rm -rf "$work"' EXIT
export TMPDIR=$work   # the children's private dirs are made in here
FAKE=$EBB_SRCDIR/tests/lib/fake-bbd.sh

# child NAME BODY: write a child test script that sources the helpers.
child() {
	{
		echo ". \"\$EBB_SRCDIR/tests/tap/tap.sh\""
		echo ". \"\$EBB_SRCDIR/tests/lib/fixture.sh\""
		echo "exec 3>\"$work/$1.info\""
		cat
	} >"$work/$1.sh"
}

# alive PID...: prints the PIDs that still exist (not zombies).
alive() {
	local p st
	for p in "$@"; do
		st=$(ps -o stat= -p "$p" 2>/dev/null)
		[ -n "$st" ] && [[ $st != Z* ]] && echo "$p"
	done
}

# run NAME [env...]: run a child, its TAP output in NAME.out.
run() {
	local name=$1
	shift
	env EBB_BBD="$FAKE" "$@" bash "$work/$name.sh" >"$work/$name.out" 2>"$work/$name.err"
}

# ---- 1. the normal path, with a real munged if there is one ---------------
child normal <<'EOF'
fixture_init
echo "dir $EBB_TEST_DIR" >&3
if command -v munged >/dev/null && [ "$(id -u)" = 0 ]; then
	fixture_munged || bail "munged"
	echo "munged $_fixture_munged_pid" >&3
	ok "munge credential round trip" sh -c "munge -n -S '$EBB_MUNGE_SOCKET' | unmunge -S '$EBB_MUNGE_SOCKET'"
else
	export EBB_MUNGE_SOCKET=/nonexistent
	skip "munged not available or not root"
fi
fixture_bbd 3 --some-arg 'with space' || bail "fixture_bbd"
echo "pids ${EBB_NODE_PIDS[*]}" >&3
echo "nodes $EBB_NODES" >&3
is "${#EBB_NODE_PORTS[@]}" 3 "3 ports"
like "$EBB_NODES" '^127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+$' "EBB_NODES format"
for k in 0 1 2; do
	ok "node $k accepts connections" python3 -c "import socket; socket.create_connection(('127.0.0.1', ${EBB_NODE_PORTS[k]}), 5).close()"
done
old=${EBB_NODE_PIDS[1]}
ok "kill -9 node 1" fixture_bbd_kill 1
not_ok "node 1 is gone" kill -0 "$old"
oldport=${EBB_NODE_PORTS[1]}
ok "restart node 1" fixture_bbd_restart 1
is "${EBB_NODE_PORTS[1]}" "$oldport" "same port after restart"
echo "pids ${EBB_NODE_PIDS[*]}" >&3
ok "restarted node accepts connections" python3 -c "import socket; socket.create_connection(('127.0.0.1', $oldport), 5).close()"
ok "clean stop of node 2" fixture_bbd_stop 2
ok "arguments with spaces reach the daemon" grep -q "node0 listening" "$EBB_TEST_DIR/bbd0.log"
done_testing
EOF
run normal
st=$?
is "$st" 0 "normal: the child test passes"
[ "$st" -eq 0 ] || { diag "$(cat "$work/normal.out" "$work/normal.err")"; }
ok "normal: its TAP has no failure" sh -c "! grep -q '^not ok' '$work/normal.out'"
pids=$(awk '$1 == "pids" || $1 == "munged" { $1 = ""; print }' "$work/normal.info" | tr '\n' ' ')
dir=$(awk '$1 == "dir" { print $2 }' "$work/normal.info")
isnt "$pids" "" "normal: daemons were started (${pids})"
is "$(alive $pids)" "" "normal: every daemon is gone after the test"
ok "normal: private dir removed" test ! -e "$dir"

# ---- 2. a daemon that ignores SIGTERM is KILLed ---------------------------
child stubborn <<'EOF'
fixture_init
export EBB_MUNGE_SOCKET=/nonexistent
fixture_bbd 1 --fake-ignore-term || bail "fixture_bbd"
echo "pids ${EBB_NODE_PIDS[*]}" >&3
ok "started" true
done_testing
EOF
run stubborn
st=$?
pids=$(awk '$1 == "pids" { $1 = ""; print }' "$work/stubborn.info")
isnt "$st" 0 "stubborn: a daemon that needs SIGKILL fails the test (status $st)"
ok "stubborn: the escalation is reported" grep -q 'SIGKILL' "$work/stubborn.err"
is "$(alive $pids)" "" "stubborn: the daemons are gone anyway"

# ---- 3. the watchdog ends a hung test and still reaps ---------------------
child hung <<'EOF'
fixture_init
export EBB_MUNGE_SOCKET=/nonexistent
fixture_bbd 2 || bail "fixture_bbd"
echo "pids ${EBB_NODE_PIDS[*]}" >&3
echo "dir $EBB_TEST_DIR" >&3
sleep 1000 &
echo "sleeper $!" >&3
wait $!
sleep 1000
ok "never reached" true
done_testing
EOF
run hung EBB_TEST_TIMEOUT=2
st=$?
pids=$(awk '$1 == "pids" || $1 == "sleeper" { $1 = ""; print }' "$work/hung.info" | tr '\n' ' ')
dir=$(awk '$1 == "dir" { print $2 }' "$work/hung.info")
isnt "$st" 0 "hung: the watchdog fails the test (status $st)"
# (killed processes may still be exiting for a moment under a loaded
# parallel `make check`: this failed twice in full CI runs, never alone)
for ((i = 0; i < 50; i++)); do [ -z "$(alive $pids)" ] && break; sleep 0.1; done
is "$(alive $pids)" "" "hung: daemons and the background sleeper are gone"
ok "hung: private dir removed" test ! -e "$dir"
ok "hung: the reason is in the log" grep -q 'terminated' "$work/hung.err"

# ---- 4. a daemon that dies at start-up ------------------------------------
child early <<'EOF'
fixture_init
export EBB_MUNGE_SOCKET=/nonexistent
if fixture_bbd 1 --fake-die-early; then
	ok "fixture_bbd should have failed" false
else
	ok "fixture_bbd reports the failure" true
fi
done_testing
EOF
run early
is "$?" 0 "early: fixture_bbd returns nonzero when bbd dies"
ok "early: the daemon's log is shown" grep -q 'dying on purpose' "$work/early.err"

# ---- 5. a daemon that never writes its port file (short bound) ------------
# (covered by the same loop as 4; the bound is 20 s, too long to wait here)

# ---- 6. SIGTERM to the test while it waits on a helper -------------------
child termed <<'EOF'
fixture_init
export EBB_MUNGE_SOCKET=/nonexistent
fixture_bbd 1 || bail "fixture_bbd"
echo "pids ${EBB_NODE_PIDS[*]}" >&3
fixture_spawn sleeper sleep 1000
echo "sleeper $_fixture_last_pid" >&3
echo "ready" >&3
fixture_wait_pid "$_fixture_last_pid"
done_testing
EOF
env EBB_BBD="$FAKE" bash "$work/termed.sh" >"$work/termed.out" 2>"$work/termed.err" &
cpid=$!
for ((i = 0; i < 200; i++)); do
	grep -q ready "$work/termed.info" 2>/dev/null && break
	sleep 0.1
done
kill -TERM "$cpid"
wait "$cpid"
st=$?
pids=$(awk '$1 == "pids" || $1 == "sleeper" { $1 = ""; print }' "$work/termed.info" | tr '\n' ' ')
isnt "$st" 0 "SIGTERM: the test fails (status $st)"
isnt "$pids" "" "SIGTERM: it had started processes"
is "$(alive $pids)" "" "SIGTERM: daemon and helper are gone"

# ---- 7. attach mode starts nothing ----------------------------------------
child attach <<'EOF'
fixture_init
fixture_bbd 2 || bail "fixture_bbd"
is "$EBB_NODES" "127.0.0.1:1111,127.0.0.1:2222" "EBB_NODES kept"
is "${EBB_NODE_PORTS[1]}" 2222 "ports taken from EBB_NODES"
is "${#EBB_NODE_PIDS[@]}" 0 "no daemon started"
ok "fixture_attached" fixture_attached
not_ok "kill refused when attached" fixture_bbd_kill 0
done_testing
EOF
run attach EBB_NODES=127.0.0.1:1111,127.0.0.1:2222 EBB_MUNGE_SOCKET=/nonexistent
st=$?
is "$st" 0 "attach: the child passes"
[ "$st" -eq 0 ] || diag "$(cat "$work/attach.out" "$work/attach.err")"

# ---- 8. EBB_KEEP=1 keeps the directory -------------------------------------
child keep <<'EOF'
fixture_init
echo "dir $EBB_TEST_DIR" >&3
ok "x" true
done_testing
EOF
run keep EBB_KEEP=1
dir=$(awk '$1 == "dir" { print $2 }' "$work/keep.info")
ok "EBB_KEEP=1 keeps $dir" test -d "$dir"

# ---- 9. a failing check makes the logs appear ------------------------------
child failing <<'EOF'
fixture_init
export EBB_MUNGE_SOCKET=/nonexistent
fixture_bbd 1 || bail "fixture_bbd"
ok "this fails" false
done_testing
EOF
run failing
isnt "$?" 0 "failing: exit status nonzero"
ok "failing: daemon log tail printed as diagnostics" grep -q '^#   fake-bbd: node0 listening' "$work/failing.err"

done_testing
