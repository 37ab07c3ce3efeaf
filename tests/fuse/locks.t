# SPDX-License-Identifier: GPL-2.0-or-later
# locks.t: fcntl and flock locks across nodes (docs/semantics.md "Locks").
# Two mounts of one instance stand for two nodes (m0 through bbd0, m1
# through bbd1; 3 bbd with a 2 s lock lease).  t_lock (t_lock.c) runs a
# lock script as ebbtest; holders run in the background and signal with
# marker files on local disk, so every check asserts an order, never a
# time.  What is checked:
# - a write lock on m0: F_SETLK of an overlapping range on m1 gets EAGAIN,
#   a disjoint range succeeds, F_GETLK on m1 reports the holder (type,
#   start, len, pid 0: a remote holder) and on m0 the holder's pid;
# - F_SETLKW on m1 blocks until m0 unlocks, and is then granted;
# - F_SETLKW interrupted by SIGALRM (no SA_RESTART) fails with EINTR, as
#   on ext4, and the interrupted request is not granted later;
# - kill -9 of the holder: the waiter on the other node gets the lock;
# - read locks on both nodes coexist, a write lock conflicts with them;
# - lock splitting: 0-100 locked, 40-60 unlocked: the other node takes
#   45-55 but not 10-20 nor 70-80, the same answers as ext4;
# - OFD locks between nodes (F_OFD_GETLK shows pid -1 as Linux does), and
#   their release at the last close of the file description;
# - flock(1) between the mounts (flock -n fails, flock waits), and flock
#   never conflicts with fcntl locks;
# - within one node, two processes answer as on ext4 (a conflict, F_GETLK's
#   pid, and the close of any descriptor of the holder releasing its
#   locks);
# - data under a lock: what m0 writes and unlocks (not closed) is read by
#   m1 once it takes the lock, through a descriptor that had read (and
#   cached) the old bytes: a lock drops cached pages, an unlock sends the
#   writes (as NFS does);
# - another local user who may open a file may lock it (a conflict with
#   the owner's lock on the other node, EBADF for a write lock through a
#   read-only descriptor, flock), as on ext4;
# - kill -9 of m0's ebb-fuse (a dead node): its lock goes at the lease's
#   end and the waiter on m1 gets it;
# - NODE_STATUS's "locks" counts (`ebbctl --json status`, summed over the
#   nodes): a held lock and a parked waiter show, and go; the dead node's
#   lease shows as expired with its lock dropped.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 3 --lock-lease 2s
T=$EBB_BUILDDIR/tests/fuse/t_lock
[ -x "$T" ] || bail "$T not built"
I=locks-$$
M0=$EBB_TEST_DIR/m0
M1=$EBB_TEST_DIR/m1
fuse_instance "$I" 1GiB || bail "instance create failed"
fixture_mount -n 0 "$I" "$M0" || bail "mount m0 failed"
fixture_mount -n 1 "$I" "$M1" || bail "mount m1 failed"
R=$L/r            # markers
E=$L/ext4         # the local reference
as_u mkdir -p "$R" "$E"
as_u sh -c ': >"$1/f"; : >"$1/g"; : >"$2/f"; : >"$2/g"' sh "$M0" "$E"

tl() { as_u timeout -k 5 120 "$T" "$@" 2>&1; }
# bg OUT ARGS...: t_lock in the background, output to $R/OUT; wait_bg
# waits for those (a bare `wait` would wait for the daemons too)
BG=()
bg() {
	local out=$1
	shift
	as_u timeout -k 5 120 "$T" "$@" >"$R/$out" 2>&1 &
	BG+=($!)
}
wait_bg() {
	local p
	for p in "${BG[@]}"; do
		wait "$p"
	done
	BG=()
}
# waitmark NAME: until $R/NAME exists (60 s at most)
# lockstat KEY...: "KEY=N ..." from `ebbctl --json status`, summed over
# the nodes; waitstat WANT KEY...: until lockstat KEY... prints WANT (the
# lock service answers a parked request "still waiting" every second, and
# the client sends it again: poll, never assume a moment)
lockstat() {
	fixture_ebbctl --json status 2>&1 | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
    print(" ".join("%s=%d" % (k, sum(n["locks"][k] for n in d)) for k in sys.argv[1:]))
except Exception as e:
    print("bad status: %s" % e)' "$@"
}
waitstat() {
	local want=$1 got k
	shift
	for ((k = 0; k < 300; k++)); do
		got=$(lockstat "$@")
		[ "$got" = "$want" ] && return 0
		sleep 0.1
	done
	diag "lock counts: $got, expected $want"
	return 1
}
waitmark() {
	local k
	for ((k = 0; k < 600; k++)); do
		[ -e "$R/$1" ] && return 0
		sleep 0.1
	done
	diag "marker $1 never came"
	return 1
}
# pidof_out OUT: the pid a t_lock printed ("pid=N")
pidof_out() { sed -n 's/^pid=//p' "$R/$1"; }

# ---- a write lock on m0 seen from m1 ----------------------------------------------------
bg a0 open "$M0/f" rw setlk w 10 20 pid touch "$R/a.ready" waitfor "$R/a.go"
waitmark a.ready
hpid=$(pidof_out a0)
is "$(tl open "$M1/f" rw setlk w 15 10)" "open=ok
setlk=EAGAIN" "m0 holds 10-29 for writing: F_SETLK of 15-24 on m1 gets EAGAIN"
is "$(tl open "$M1/f" rw setlk w 30 10 setlk r 0 10)" "open=ok
setlk=ok
setlk=ok" "disjoint ranges on m1 (30-39 write, 0-9 read): granted"
is "$(tl open "$M1/f" ro getlk r 0 0)" "open=ok
getlk=w 10 20 0" "F_GETLK on m1: the holder's write lock, start 10, len 20, pid 0 (remote)"
is "$(tl open "$M0/f" ro getlk r 0 0)" "open=ok
getlk=w 10 20 $hpid" "F_GETLK on m0 (the holder's node): its pid, as on ext4"
is "$(tl open "$M1/f" ro getlk r 30 10)" "open=ok
getlk=unlck" "F_GETLK of a free range: F_UNLCK"
touch "$R/a.go"
wait_bg

# ---- F_SETLKW waits for the unlock ----------------------------------------------------------
rm -f "$R"/*
bg b0 open "$M0/f" rw setlk w 0 100 touch "$R/b.ready" waitfor "$R/b.wready" \
	sleep 300 absent "$R/b.wmark" setlk u 0 100 waitfor "$R/b.wmark"
waitmark b.ready
bg b1 open "$M1/f" rw touch "$R/b.wready" setlkw w 50 10 touch "$R/b.wmark"
wait_bg
is "$(cat "$R/b0")" "open=ok
setlk=ok
absent=yes
setlk=ok" "holder on m0: the waiter on m1 had no lock before the unlock"
is "$(cat "$R/b1")" "open=ok
setlkw=ok" "F_SETLKW on m1: granted after m0's unlock"

# ---- EINTR -----------------------------------------------------------------------------------
rm -f "$R"/*
for where in "$M0" "$E"; do
	bg c0 open "$where/f" rw setlk w 0 0 touch "$R/c.ready" waitfor "$R/c.go"
	waitmark c.ready
	other=$M1
	[ "$where" = "$E" ] && other=$E
	out=$(tl open "$other/f" rw alarm 1 setlkw w 5 1)
	if [ "$where" = "$E" ]; then
		is "$out" "open=ok
setlkw=EINTR" "ext4: F_SETLKW interrupted by SIGALRM: EINTR"
	else
		is "$out" "open=ok
setlkw=EINTR" "m1: F_SETLKW interrupted by SIGALRM (no SA_RESTART): EINTR, as on ext4"
	fi
	touch "$R/c.go"
	wait_bg
	rm -f "$R"/*
done
# the interrupted request was withdrawn: it does not take the lock later
bg c2 open "$M0/f" rw setlk w 0 0 touch "$R/c.ready" waitfor "$R/c.go" setlk u 0 0 sleep 500 \
	touch "$R/c.unl" waitfor "$R/c.end"
waitmark c.ready
is "$(tl open "$M1/f" rw alarm 1 setlkw w 0 1)" "open=ok
setlkw=EINTR" "m1: a second interrupted F_SETLKW"
touch "$R/c.go"
waitmark c.unl
is "$(tl open "$M0/f" rw setlk w 0 0)" "open=ok
setlk=ok" "after the holder's unlock the whole file is free: the interrupted waiter got nothing"
touch "$R/c.end"
wait_bg

# ---- kill -9 of the holder ------------------------------------------------------------------
rm -f "$R"/*
bg d0 open "$M0/f" rw setlk w 0 0 pid touch "$R/d.ready" sleep 100000
waitmark d.ready
bg d1 open "$M1/f" rw touch "$R/d.wready" setlkw w 0 0 touch "$R/d.got"
waitmark d.wready
sleep 0.3
is "$(ls "$R" | grep -c d.got)" 0 "m1's F_SETLKW waits while the holder on m0 lives"
ok "ebbctl --json status: 1 lock held, 1 request waiting, 2 lease holders" \
	waitstat "held=1 waiting=1 clients=2" held waiting clients
kill -9 "$(pidof_out d0)"
wait_bg
is "$(cat "$R/d1")" "open=ok
setlkw=ok" "holder on m0 killed (-9): the waiter on m1 gets the lock (its close released it)"
ok "... and then nothing is held or waiting" waitstat "held=0 waiting=0" held waiting
like "$(lockstat granted refused expired)" '^granted=([1-9][0-9]+) refused=[1-9][0-9]* expired=0$' \
	"granted and refused (EAGAIN) counted since start; no lease expired yet"

# ---- read locks ------------------------------------------------------------------------------
rm -f "$R"/*
bg e0 open "$M0/f" ro setlk r 0 100 touch "$R/e.ready" waitfor "$R/e.go"
waitmark e.ready
is "$(tl open "$M1/f" rw setlk r 0 100 setlk w 50 1)" "open=ok
setlk=ok
setlk=EAGAIN" "a read lock on each node coexist; a write lock on m1 conflicts with m0's read lock"
touch "$R/e.go"
wait_bg

# ---- splitting, compared with ext4 --------------------------------------------------------------
for pair in "$M0 $M1" "$E $E"; do
	set -- $pair
	rm -f "$R"/*
	bg f0 open "$1/f" rw setlk w 0 101 setlk u 40 21 touch "$R/f.ready" waitfor "$R/f.go"
	waitmark f.ready
	out=$(tl open "$2/f" rw setlk w 45 11 setlk w 10 11 setlk w 70 11 getlk w 0 0)
	touch "$R/f.go"
	wait_bg
	out=$(printf '%s\n' "$out" | sed 's/^\(getlk=w [0-9]* [0-9]*\) .*/\1/')
	[ "$1" = "$E" ] && ref=$out || got=$out
done
is "$got" "open=ok
setlk=ok
setlk=EAGAIN
setlk=EAGAIN
getlk=w 0 40" "split: m0 locks 0-100, unlocks 40-60; m1 takes 45-55, not 10-20 nor 70-80"
is "$got" "$ref" "the same answers as two processes on ext4"

# ---- OFD locks --------------------------------------------------------------------------------
rm -f "$R"/*
bg g0 open "$M0/f" rw ofdsetlk w 0 10 touch "$R/g.ready" waitfor "$R/g.close" close \
	touch "$R/g.closed" waitfor "$R/g.go"
waitmark g.ready
is "$(tl open "$M1/f" rw ofdsetlk w 5 10 ofdsetlk w 20 5 ofdgetlk w 0 0)" "open=ok
ofdsetlk=EAGAIN
ofdsetlk=ok
ofdgetlk=w 0 10 -1" "OFD lock on m0: m1's overlapping F_OFD_SETLK EAGAIN, a disjoint one ok, F_OFD_GETLK pid -1"
touch "$R/g.close"
waitmark g.closed
is "$(tl open "$M1/f" rw ofdsetlk w 0 10)" "open=ok
ofdsetlk=ok" "the OFD lock went with the last close of its open file description"
touch "$R/g.go"
wait_bg

# ---- flock(1) -------------------------------------------------------------------------------
rm -f "$R"/*
as_u flock "$M0/g" sh -c 'touch "$1/h.ready"; while [ ! -e "$1/h.go" ]; do sleep 0.1; done' sh "$R" &
BG+=($!)
waitmark h.ready
st=0
as_u timeout -k 5 60 flock -n "$M1/g" true || st=$?
is "$st" 1 "flock -n on m1 while m0 holds the flock: fails (1)"
is "$(tl open "$M1/g" rw setlk w 0 0 flock shnb)" "open=ok
setlk=ok
flock=EAGAIN" "flock and fcntl locks do not conflict (as on Linux); flock LOCK_SH|LOCK_NB: EAGAIN"
as_u timeout -k 5 60 flock "$M1/g" touch "$R/h.got" &
BG+=($!)
sleep 0.3
is "$(ls "$R" | grep -c h.got)" 0 "flock (waiting) on m1 has not got it while m0 holds it"
touch "$R/h.go"
wait_bg
is "$(ls "$R" | grep -c h.got)" 1 "flock on m1 gets it once m0's flock ends"

# ---- within one node: as ext4 -------------------------------------------------------------------
for where in "$E" "$M0"; do
	rm -f "$R"/*
	bg i0 open "$where/f" rw setlk w 0 10 pid touch "$R/i.ready" waitfor "$R/i.go" \
		dup closedup touch "$R/i.closed" waitfor "$R/i.end"
	waitmark i.ready
	hpid=$(pidof_out i0)
	o1=$(tl open "$where/f" rw setlk w 5 5 getlk r 0 0)
	touch "$R/i.go"
	waitmark i.closed
	o2=$(tl open "$where/f" rw setlk w 0 10)
	touch "$R/i.end"
	wait_bg
	res="$o1
$o2"
	[ "$where" = "$E" ] && ref=$res || got=$res
done
is "$got" "open=ok
setlk=EAGAIN
getlk=w 0 10 $hpid
open=ok
setlk=ok" "two processes on m0: conflict, F_GETLK pid; closing a dup of the holder's fd releases its lock"
is "$(printf '%s\n' "$got" | sed '/^getlk/d')" "$(printf '%s\n' "$ref" | sed '/^getlk/d')" \
	"the same as two processes on ext4"

# ---- data under a lock ----------------------------------------------------------------------------
# (also in writeback mode: an unlock writes the kernel's dirty pages back,
# a granted lock raises the kernel's size: docs/internals/locks.md)
rm -f "$R"/*
as_u sh -c 'printf xxxxxxxx >"$1/d"' sh "$M0"
bg k1 open "$M1/d" rw pread 0 8 touch "$R/k.read" waitfor "$R/k.written" \
	setlkw w 0 0 pread 0 8 setlk u 0 0
waitmark k.read
is "$(tl open "$M0/d" rw setlk w 0 0 pwrite 2 AAAA setlk u 0 0 touch "$R/k.written" sleep 500)" "open=ok
setlk=ok
pwrite=ok
setlk=ok" "m0 locks, writes 4 bytes, unlocks (the descriptor stays open)"
wait_bg
is "$(cat "$R/k1")" "open=ok
pread=xxxxxxxx
setlkw=ok
pread=xxAAAAxx
setlk=ok" "m1 had read the old bytes; once it holds the lock the same descriptor reads m0's"
rm -f "$R"/*
bg k2 open "$M1/d" rw pread 0 20 touch "$R/k.read" waitfor "$R/k.written" \
	setlkw w 0 0 pread 0 20 setlk u 0 0
waitmark k.read
is "$(tl open "$M0/d" rw setlk w 0 0 pwrite 8 BBBB setlk u 0 0 touch "$R/k.written" sleep 500)" "open=ok
setlk=ok
pwrite=ok
setlk=ok" "m0 locks, appends 4 bytes past the end, unlocks"
wait_bg
is "$(cat "$R/k2")" "open=ok
pread=xxAAAAxx
setlkw=ok
pread=xxAAAAxxBBBB
setlk=ok" "m1, holding the lock, reads the bytes m0 appended (the new size)"

# ---- bench/ebb-bench lockpair (what bench/ runs), a short run -------------------------------------
B=$EBB_BUILDDIR/bench/ebb-bench
if [ -x "$B" ]; then
	out=$(as_u timeout -k 5 120 "$B" --instance "$I" --members "$EBB_NODES" \
		--munge-socket "$EBB_MUNGE_SOCKET" --files 200 lockpair /lp 2>&1)
	like "$out" "lock_pair=[0-9.]+ us" "ebb-bench lockpair prints the cost of an uncontended lock/unlock pair"
fi

# ---- another local user ----------------------------------------------------------------------
# POSIX permissions for every local user: a user who may open the file may
# lock it, as on ext4 (the kernel checks the descriptor's mode: a write
# lock needs it open for writing, EBADF otherwise).
rm -f "$R"/*
as_u chmod 755 "$M0"
as_u sh -c ': >"$1/shared"; chmod 666 "$1/shared"' sh "$M0"
to() { as_other timeout -k 5 120 "$T" "$@" 2>&1; }
is "$(to open "$M1/shared" rw setlk w 0 10 setlk u 0 10)" "open=ok
setlk=ok
setlk=ok" "$OTHER (not the owner) locks and unlocks a file it may write, on m1"
bg o0 open "$M0/shared" rw setlk w 0 10 touch "$R/o.ready" waitfor "$R/o.go"
waitmark o.ready
is "$(to open "$M1/shared" rw setlk w 5 1 getlk w 0 0)" "open=ok
setlk=EAGAIN
getlk=w 0 10 0" "... gets EAGAIN while $U holds it on m0, and F_GETLK shows that lock"
is "$(to open "$M1/shared" ro setlk w 20 1)" "open=ok
setlk=EBADF" "... a write lock through a read-only descriptor: EBADF, as on ext4"
touch "$R/o.go"
wait_bg
is "$(to open "$M1/shared" rw flock exnb)" "open=ok
flock=ok" "... and flock(2) once $U's lock is gone"
as_u chmod 700 "$M0"

# ---- a dead node: kill -9 of m0's ebb-fuse ---------------------------------------------------------
rm -f "$R"/*
bg j0 open "$M0/f" rw setlk w 0 0 pid touch "$R/j.ready" sleep 100000
waitmark j.ready
bg j1 open "$M1/f" rw touch "$R/j.wready" setlkw w 0 0 touch "$R/j.got"
waitmark j.wready
sleep 0.3
is "$(ls "$R" | grep -c j.got)" 0 "m1 waits for m0's lock"
fpid=
for i in "${!_fixture_mnt_points[@]}"; do
	[ "${_fixture_mnt_points[i]}" = "$M0" ] && fpid=${_fixture_mnt_pids[i]}
done
kill -9 "$fpid"
ok "m0's ebb-fuse killed (-9): m1's waiter gets the lock once the 2 s lease ends" waitmark j.got
like "$(lockstat expired dropped)" '^expired=1 dropped=1$' \
	"ebbctl --json status: m0's lease expired, its one lock dropped"
kill -9 "$(pidof_out j0)" 2>/dev/null
wait_bg
umount -l "$M0"

fuse_teardown "$I" "$M1"
done_testing
