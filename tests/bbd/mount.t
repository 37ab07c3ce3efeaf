#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# mount.t: bbd's mount lifecycle (docs/internals/mounts.md).  Three bbd on
# loopback, each with its own mount root ($EBB_TEST_DIR/mnt/nodeK, from
# --mount-root .../%n): `instance create --mount` mounts on every node as
# the owner and answers once the mounts work; a file written through one
# node's mount reads back through another's; destroy unmounts (lazily when
# a shell sits inside) and leaves no process, mount point or data; kill -9
# of a bbd and a restart cleans the stale mount and mounts again, as does a
# clean stop and start; a killed ebb-fuse shows as "failed" and destroy
# still cleans up.  `--cache writeback` runs every node's ebb-fuse with
# --cache writeback, is part of the instance's identity and is kept
# across a bbd restart.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_init || bail "fixture_init failed"
fixture_require_root "to mount"
fixture_attached && skip_all "restarts daemons and looks at their mounts: not with EBB_NODES set"
helper=${EBB_FUSE_HELPER:-$EBB_BUILDDIR/client-lib/ebb-fuse}
[ -x "$helper" ] || skip_all "ebb-fuse not built ($helper)"
[ -c /dev/fuse ] || skip_all "no /dev/fuse"
command -v findmnt >/dev/null || skip_all "findmnt not installed (util-linux)"
command -v python3 >/dev/null || skip_all "python3 is needed to parse --json"
command -v setpriv >/dev/null || skip_all "setpriv not installed (util-linux)"

# The owner: a real user (fixture_user makes ebbtest), else nobody.
owner=nobody
if declare -F fixture_user >/dev/null && fixture_user ebbtest 2>/dev/null; then
	owner=ebbtest
fi
getent passwd "$owner" >/dev/null || skip_all "no user $owner"
# as USER CMD...: CMD with USER's uid, gid and groups.
as() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"
}

M=$EBB_TEST_DIR/mnt
fixture_munged || bail "no munged"
fixture_bbd 3 --mount-root "$M/%n" --fuse-helper "$helper" ||
	bail "bbd did not start"

run() {
	out=$(fixture_ebbctl "$@" 2>"$EBB_TEST_DIR/err")
	st=$?
	[ -s "$EBB_TEST_DIR/err" ] && diag "ebbctl $*: $(cat "$EBB_TEST_DIR/err")"
	return 0
}
json() {
	printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1" 2>&1
}
# nfuse ID: how many ebb-fuse processes serve instance ID of these nodes
# (other tests may run ebb-fuse for instances of the same name)
nfuse() {
	ps -eo args= | grep -F -- "--instance $1 --members $EBB_NODES " |
		grep -c ebb-fuse
}
# fstype PATH: the type of the file system mounted exactly at PATH
fstype() {
	findmnt -rn -M "$1" -o FSTYPE,SOURCE 2>/dev/null | tail -n 1
}
# wait_state ID NODE STATE: until NODE's view of ID's mount is STATE (20 s)
wait_state() {
	local i
	for ((i = 0; i < 200; i++)); do
		out=$("$EBB_EBBCTL" -n "${EBB_NODE_LIST[$2]}" --json instance show "$1" 2>/dev/null)
		[ "$(json "d['mount_state']")" = "$3" ] && return 0
		sleep 0.1
	done
	diag "node $2: instance $1: mount_state $(json "d['mount_state']"), not $3"
	return 1
}

# wbfuse ID: on how many nodes the ebb-fuse serving ID runs with --cache
# writeback (its command line, from the PID bbd recorded)
wbfuse() {
	local k pid n=0
	for k in 0 1 2; do
		pid=$(cut -d' ' -f1 "$EBB_TEST_DIR/node$k/mounts/$1" 2>/dev/null)
		[ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
			grep -q -- ' --cache writeback ' && n=$((n + 1))
	done
	echo "$n"
}
plan 38

# ---- create --mount ---------------------------------------------------------
run instance create j1 --capacity 64MiB --owner "$owner" --mount
is "$st" 0 "instance create --mount: exit 0"
good=0
for k in 0 1 2; do
	t=$(fstype "$M/node$k/j1")
	[ "$t" = "fuse.ebb ebb:j1" ] && good=$((good + 1)) || diag "node$k: '$t'"
done
is "$good" 3 "every node's mount point is a fuse.ebb mount of ebb:j1"
good=0
for k in 0 1 2; do
	t=$(stat -c '%U %a' "$M/node$k/j1")
	[ "$t" = "$owner 700" ] && good=$((good + 1)) || diag "node$k: '$t'"
done
is "$good" 3 "each mount's root is owned by $owner, mode 700"
run --json instance show j1
is "$(json "[n['mount_state'] for n in d['nodes']]")" "['mounted', 'mounted', 'mounted']" \
	"instance show --json: mounted on every node"
is "$(json "d['mount']")" "$M/node0/j1" "instance show --json: the mount point"
run --json status
is "$(json "sum(n['mounted'] for n in d)")" 3 "status --json: 3 mounts"
run status
like "$out" "1 mounted" "status: the MOUNTS column"
is "$(nfuse j1)" 3 "one ebb-fuse per node"
run instance create j1 --capacity 64MiB --owner "$owner" --mount
is "$st" 0 "an identical create again: exit 0"
is "$(nfuse j1)" 3 "... and no second mount"
dev=$(findmnt -rn -M "$M/node0/j1" -o MAJ:MIN | tail -n 1)
is "$(cat "/sys/class/bdi/$dev/read_ahead_kb" 2>&1)" 8192 \
	"bbd set the mount's read-ahead to 8 MiB"

# ---- data through the mounts --------------------------------------------------
as "$owner" sh -c "echo 'hello through node 0' >'$M/node0/j1/f'"
ok_status $? "$owner writes a file through node 0's mount"
is "$(as "$owner" cat "$M/node2/j1/f" 2>&1)" "hello through node 0" \
	"... and reads it through node 2's"
if [ "$owner" != nobody ]; then
	as nobody ls "$M/node1/j1" >/dev/null 2>&1
	isnt "$?" 0 "another user cannot list the instance (root mode 0700)"
else
	skip "needs an owner other than nobody"
fi

# ---- destroy while busy ----------------------------------------------------------
fixture_spawn busy as "$owner" bash -c "cd '$M/node1/j1' && touch here && exec sleep 300"
busy=$_fixture_last_pid
for ((i = 0; i < 100; i++)); do [ -e "$M/node1/j1/here" ] && break; sleep 0.1; done
run instance destroy j1
is "$st" 0 "destroy while a shell sits in node 1's mount: exit 0"
left=0
for k in 0 1 2; do
	[ -e "$M/node$k/j1" ] && { left=$((left + 1)); diag "node$k: $(fstype "$M/node$k/j1")"; }
	[ -e "$EBB_TEST_DIR/node$k/instances/j1" ] && left=$((left + 1))
done
is "$left" 0 "no mount point and no data left on any node"
is "$(nfuse j1)" 0 "no ebb-fuse left"
like "$(grep -h 'unmounted' "$EBB_TEST_DIR/bbd1.log")" "lazily" "node 1 unmounted lazily"
kill "$busy" 2>/dev/null
fixture_wait_pid "$busy"

# ---- kill -9 of bbd while mounted ----------------------------------------------
run instance create j2 --capacity 64MiB --owner "$owner" --mount
is "$st" 0 "create j2 --mount"
is "$(wbfuse j2)" 0 "without --cache, no ebb-fuse runs with --cache writeback"

# ---- the writeback cache ------------------------------------------------------------
run instance create j3 --capacity 64MiB --owner "$owner" --mount --cache writeback
is "$st" 0 "create j3 --mount --cache writeback"
is "$(wbfuse j3)" 3 "every node's ebb-fuse for j3 runs with --cache writeback"
as "$owner" dd if=/dev/urandom of="$M/node0/j3/small" bs=4k count=300 2>/dev/null
ok_status $? "$owner writes 300 x 4 KiB through node 0's writeback mount"
as "$owner" cmp "$M/node0/j3/small" "$M/node2/j3/small"
ok_status $? "... and node 2 reads the same bytes (close-to-open)"
run instance create j3 --capacity 64MiB --owner "$owner" --mount --cache writeback
is "$st $(nfuse j3)" "0 3" "an identical create again: exit 0, no second mount"
run instance create j3 --capacity 64MiB --owner "$owner" --mount
is "$st" 1 "the same instance without --cache writeback: exit 1"
as "$owner" sh -c "echo 'before the crash' >'$M/node0/j2/g'"
cp "$EBB_TEST_DIR/node1/mounts/j2" "$EBB_TEST_DIR/j2.fuse-before" 2>/dev/null
fixture_bbd_kill 1 KILL
fixture_bbd_restart 1 || bail "bbd1 did not restart"
wait_state j2 1 mounted
ok_status $? "after kill -9 and a restart, node 1 mounts j2 again"
is "$(findmnt -rn -M "$M/node1/j2" | wc -l)" 1 "exactly one mount on node 1's mount point"
# (killed by the restarted bbd; under load it may take a moment to exit).
# The record holds the pid and its start time: pid_max is 32,768 here, so
# the pid alone may already name another process.
read -r old oldstart _ <"$EBB_TEST_DIR/j2.fuse-before" 2>/dev/null
alive_old() {
	local f
	[ -n "$old" ] && f=$(cat "/proc/$old/stat" 2>/dev/null) || return 1
	f=${f##*) }
	set -- $f
	[ "$1" != Z ] && [ "${20}" = "$oldstart" ]
}
for ((i = 0; i < 100; i++)); do
	alive_old || break
	sleep 0.1
done
if alive_old; then
	ok_status 1 "the old ebb-fuse ($old) is gone"
	diag "$(ps -o pid,stat,wchan:32,lstart,args -p "$old")"
	diag "$(cat "/proc/$old/stack" 2>/dev/null)"
	diag "$(grep -h "ebb-fuse" "$EBB_TEST_DIR/bbd1.log" | tail -5)"
else
	ok "the old ebb-fuse (${old:-?}) is gone" [ -n "$oldstart" ]
fi
is "$(as "$owner" cat "$M/node1/j2/g" 2>&1)" "before the crash" "the data is intact through node 1's new mount"
wait_state j3 1 mounted && [ "$(wbfuse j3)" = 3 ]
ok_status $? "node 1 mounts j3 again with --cache writeback (stored with the instance)"

# ---- a clean stop and start ------------------------------------------------------
fixture_bbd_stop 0
ok_status $? "bbd0 exits 0 on SIGTERM with a mount"
[ ! -e "$M/node0/j2" ] && [ -z "$(fstype "$M/node0/j2")" ]
ok_status $? "... having unmounted it and removed the mount point"
fixture_bbd_restart 0 || bail "bbd0 did not restart"
wait_state j2 0 mounted &&
	[ "$(as "$owner" cat "$M/node0/j2/g" 2>&1)" = "before the crash" ]
ok_status $? "the restarted bbd0 mounts j2 again, data intact"

# ---- ebb-fuse dies -------------------------------------------------------------------
pid=$(cut -d' ' -f1 "$EBB_TEST_DIR/node2/mounts/j2" 2>/dev/null)
[ -n "$pid" ] && kill -KILL "$pid"
wait_state j2 2 failed
ok_status $? "ebb-fuse of node 2 killed: its mount shows failed"
run status
like "$out" "1 failed" "status shows the failed mount"
run instance destroy j2
left=0
for k in 0 1 2; do
	[ -e "$M/node$k/j2" ] && left=$((left + 1))
	[ -e "$EBB_TEST_DIR/node$k/instances/j2" ] && left=$((left + 1))
done
fixture_ebbctl instance destroy j3 >/dev/null
is "$st $left $(nfuse j2)" "0 0 0" "destroy after the failure: exit 0, no mount point, data or ebb-fuse left"
is "$(findmnt -rn -t fuse.ebb -o TARGET | grep -c "^$M/")" 0 "no fuse.ebb mount left under the mount roots"

done_testing
