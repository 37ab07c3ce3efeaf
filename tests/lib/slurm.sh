# SPDX-License-Identifier: GPL-2.0-or-later
# slurm.sh: a real local Slurm cluster for ebb's tests: slurmctld on the
# host, and per compute node n1..nN its own network, UTS and mount
# namespace with its own slurmd and its own bbd.
#
#   . "$EBB_SRCDIR/tests/tap/tap.sh"
#   . "$EBB_SRCDIR/tests/lib/fixture.sh"
#   . "$EBB_SRCDIR/tests/lib/slurm.sh"
#   slurm_require                        # skip_all unless root + Slurm + built
#   slurm_cluster_start 3 [--bb ebb] || bail ...   # 1 after saying why
#   j=$(slurm_submit -N3 "$SLURM_JOBS_DIR/job.sh")
#   slurm_wait_job "$j" COMPLETED
#   done_testing                         # the EXIT trap stops the cluster
#
# DESIGN (the rules of fixture.sh hold here too: nothing races, nothing
# leaks, everything by PID, the watchdog bounds the test):
# - Every daemon runs in the foreground (slurmctld -D, slurmd -D, bbd
#   --foreground) as a child of the test shell, tracked by the fixture;
#   in a node it is started with nsenter into the node's namespaces, which
#   execs (no extra process), so the PID we hold is the daemon's.
# - Readiness: slurmctld when `scontrol ping` says UP; bbd when it wrote
#   its port file and `ebbctl status` answers through the bridge; the
#   cluster when sinfo shows every node idle.  Polls are short and bounded.
# - Namespaces: node K's network namespace is `ip netns add`ed; its UTS
#   (hostname nK) and mount namespaces are made by unshare(1) and kept
#   alive by bind mounts of their ns files in $SLURM_DIR/ns, a directory
#   bind-mounted on itself with private propagation (the kernel wants
#   that for a mount namespace file).  The mount namespace is private: a
#   fresh tmpfs on the mount root (/mnt/ebb), so each node has its own
#   /mnt/ebb and bbd's FUSE mounts stay inside the node; the host's stays
#   empty.  `ip netns exec` is never used: its fresh /sys has no
#   /sys/fs/cgroup and slurmd 22.05 dies of that.  Right after unshare,
#   the node detaches its copies of mounts it must not pin: FUSE mounts of
#   other tests running at the same time (their ebb-fuse would never see
#   the unmount), nsfs bind mounts, /run/netns.
# - Names come from a per-run id (bridge ebb<id>br, veths ebb<id>h<K>,
#   netns ebb-<id>-n<K>, subnet 10.213.X.0/24 with X the first unused), so
#   a leftover never collides.  Slurm tests also never run at the same
#   time: slurm_cluster_start takes an flock on /run/ebb-test-slurm.lock
#   until slurm_cluster_stop; a helper holds it that ends within a second
#   of the test shell (see _slurm_lock), so a killed test cannot keep it.
# - Teardown is driven by a registry file, /run/ebb-test-slurm/<id>, in
#   which every resource is written down *before* it is created: daemon
#   PIDs with their start times, ns files, namespace inodes, links, the
#   private mount.  slurm_cluster_stop (also run first by the fixture's
#   EXIT/INT/TERM cleanup): scancel all, TERM (then KILL) slurmctld, the
#   slurmds and the bbds by PID; then TERM/KILL every process still in a
#   node's network or mount namespace (slurmstepd and job processes are
#   not our children: slurmd double-forks them), unmount what is left
#   under the node's mount root inside its namespace, unmount the ns
#   files, delete veths, netns and bridge, drop the registry file, release
#   the lock.  A run killed with SIGKILL (no trap) is cleaned up by the
#   next slurm_cluster_start, which tears down every registry file whose
#   owner (PID + start time) is gone, its daemons and its private
#   directory included.
# - Configuration lives in the test's private directory only: slurm.conf,
#   burst_buffer.conf (same directory, Slurm looks there), ebb.conf (the
#   plugin's, EBB_CONF), the Epilog wrapper; clients and daemons find it
#   through SLURM_CONF.  /etc/slurm is never written.
#
# Interface (nodes are numbered from 1, as their names n1..nN; every
# function returns nonzero after saying why as TAP diagnostics):
#   slurm_require [--bb ebb]        skip_all unless root, Slurm, nsenter...,
#                                   bbd/ebbctl/ebb-fuse built (and with
#                                   --bb ebb: the plugin .so built)
#   slurm_plugin_so                 prints the built burst_buffer_ebb.so
#   slurm_cluster_start N [--bb ebb|none] [--conf LINE]... [--ebb-conf LINE]...
#                       [--bbd-arg ARG]... [--bbd-conf LINE]... [--s3]
#                                   LINEs are appended to slurm.conf /
#                                   ebb.conf / bbd.conf, ARGs given to every
#                                   bbd.  --s3 (after rgw_start): an s3proxy
#                                   on the bridge to the test's RGW, and the
#                                   bbds' s3_* keys pointing at it
#                                   (SLURM_S3_ENDPOINT).
#                                   Exports SLURM_CONF, EBB_CONF,
#                                   EBB_MUNGE_SOCKET, EBB_NODES (the bbds,
#                                   ADDR:PORT through the bridge); sets
#                                   SLURM_N, SLURM_NODES (n[1-N]),
#                                   SLURM_DIR, SLURM_JOBS_DIR (1777),
#                                   SLURM_BRIDGE_ADDR, SLURM_NODE_ADDRS[K],
#                                   SLURM_NODE_NETNS[K], SLURM_SLURMD_PIDS[K],
#                                   SLURM_BBD_PIDS[K], SLURM_CTLD_PID,
#                                   EBB_SLURM_BBD_PORT, SLURM_MOUNT_ROOT,
#                                   SLURM_REGISTRY (the registry file),
#                                   SLURM_START_SECONDS (not counting
#                                   SLURM_LOCK_WAIT_SECONDS)
#   slurm_cluster_stop              everything above, idempotent; returns 1
#                                   if anything could not be removed
#   slurm_lock / slurm_unlock       hold the lock across several clusters
#                                   and child tests (which then skip it:
#                                   EBB_SLURM_LOCK_HELD); the EXIT trap
#                                   releases it
#   slurm_cluster_info              prints the registry (for leak checks)
#   slurm_leftovers FILE            prints what is left of the cluster that
#                                   a copy of its registry describes; true
#                                   if nothing is
#   slurm_node_exec K CMD...        CMD in node K's net, UTS and mount ns
#   slurm_node_as K USER CMD...     the same, as USER (fixture_as)
#   slurm_submit [--user U] [sbatch args] SCRIPT
#                                   sbatch --parsable as U (default ebbtest)
#                                   from $SLURM_JOBS_DIR; prints the job id
#   slurm_wait_job JOBID STATE... [TIMEOUT]
#                                   poll (50 ms) until JobState is one of
#                                   STATEs; fails at once on another final
#                                   state; TIMEOUT in s (default 60)
#   slurm_wait_bb JOBID BBSTATE... [TIMEOUT]
#                                   the same for BurstBufferState
#   slurm_job_field JOBID FIELD     a field of `scontrol show job -o`
#   slurm_nodes_idle [TIMEOUT]      wait until every node is idle
#   slurm_ctld_restart              TERM slurmctld, start it again (same
#                                   config and StateSaveLocation), wait
#   slurm_node_bbd_kill K [SIG]     default KILL; reaps it
#   slurm_node_bbd_restart K [ARGS...|--default]
#                                   same port and root; with ARGS, these
#                                   extra bbd arguments from now on (they
#                                   come last: --capacity 16MiB overrides),
#                                   --default: none; waits until it answers
#   slurm_logs [LINES]              tails of slurmctld, slurmd, bbd and
#                                   Epilog logs as diagnostics
#   $SLURM_DIR/epilog.hold          while this file exists, every
#                                   Epilog waits (up to 120 s) before it
#                                   runs `ebbctl epilog` and logs its start
#                                   in $EBB_TEST_DIR/epilog-nK.log
#
# Settings (environment): EBB_SLURM_MOUNT_ROOT (/mnt/ebb),
# EBB_SLURM_BBD_PORT (7070, inside each node), EBB_SLURM_CTLD_PORT
# (16817, on the host; below the ephemeral range), EBB_SLURM_CAPACITY
# (8GiB per bbd; TmpDisk follows), EBB_SLURM_PLUGIN_DIR (Debian's),
# EBB_SLURM_LOCK_TIMEOUT (900 s).

if [ -z "${BASH_VERSION:-}" ] || ! declare -F fixture_init >/dev/null; then
	echo "Bail out! tests/lib/slurm.sh needs bash and tests/lib/fixture.sh sourced first"
	exit 255
fi

SLURM_LOCK=/run/ebb-test-slurm.lock
SLURM_REGISTRY_DIR=/run/ebb-test-slurm
EBB_FUSE=${EBB_FUSE:-$EBB_BUILDDIR/client-lib/ebb-fuse}
EBB_SLURM_BBD_PORT=${EBB_SLURM_BBD_PORT:-7070}

_slurm_lock_pid=
_slurm_lock_loop=
_slurm_lock_explicit=
_slurm_up=
SLURM_REGISTRY=
SLURM_N=0
SLURM_NODE_ADDRS=()
SLURM_NODE_NETNS=()
SLURM_SLURMD_PIDS=()
SLURM_BBD_PIDS=()
SLURM_CTLD_PID=
_slurm_bbd_args=()

# ---- helpers ---------------------------------------------------------------

# _slurm_now: seconds since the epoch with microseconds (no fork)
_slurm_now() { echo "${EPOCHREALTIME/,/.}"; }

# _slurm_elapsed T0: seconds since T0, 2 decimals
_slurm_elapsed() { awk -v a="$(_slurm_now)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }

# _slurm_starttime PID: the process's start time (field 22 of stat), to
# tell a PID from a later process that reuses it
_slurm_starttime() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	set -- $s
	echo "${20}"
}

# _slurm_alive PID START: true if PID runs and is still the same process
# (a zombie counts as gone)
_slurm_alive() {
	local st
	[ "$(_slurm_starttime "$1")" = "$2" ] || return 1
	st=$(ps -o stat= -p "$1" 2>/dev/null)
	[ -n "$st" ] && [[ $st != Z* ]]
}

_slurm_reg() { echo "$*" >>"$SLURM_REGISTRY"; }

# _slurm_reg_pid PID NAME: write a daemon down (PID, start time, name)
_slurm_reg_pid() {
	local st
	st=$(_slurm_starttime "$1") || st=0
	_slurm_reg pid "$1" "$st" "$2"
}

# _slurm_ns_pids NSLINK...: PIDs whose ns/net or ns/mnt link is one of the
# given (e.g. net:[4026532288]); one find, not a readlink per process
_slurm_ns_pids() {
	local want=" $* " p l
	find /proc/[0-9]*/ns/net /proc/[0-9]*/ns/mnt -maxdepth 0 -printf '%p %l\n' 2>/dev/null |
	while read -r p l; do
		case $want in *" $l "*) p=${p#/proc/}; echo "${p%%/*}" ;; esac
	done | sort -un
}

# _slurm_kill_ns NSLINK...: TERM everything in those namespaces, 1 s, then
# KILL, until nothing is left (10 s); true if none is left
_slurm_kill_ns() {
	local pids i
	pids=$(_slurm_ns_pids "$@")
	[ -z "$pids" ] && return 0
	diag "cleanup: TERM to $(echo $pids | wc -w) process(es) left in the node namespaces: $(ps -o pid=,comm= -p "$(echo $pids | tr ' ' ,)" 2>/dev/null | tr -s ' \n' ' ')"
	kill -s TERM $pids 2>/dev/null
	kill -s CONT $pids 2>/dev/null
	for ((i = 0; i < 10; i++)); do
		sleep 0.1
		pids=$(_slurm_ns_pids "$@")
		[ -z "$pids" ] && return 0
	done
	for ((i = 0; i < 100; i++)); do
		kill -s KILL $pids 2>/dev/null
		sleep 0.1
		pids=$(_slurm_ns_pids "$@")
		[ -z "$pids" ] && return 0
	done
	diag "cleanup: processes in the node namespaces survive SIGKILL: $(ps -o pid=,stat=,wchan:32=,args= -p "$(echo $pids | tr ' ' ,)")"
	return 1
}

# _slurm_nsenter K: the command prefix entering node K, in _slurm_ns[]
_slurm_nsenter() {
	local k=$1 wd=/
	[ -d "$PWD" ] && wd=$PWD
	_slurm_ns=(nsenter --net="/run/netns/${SLURM_NODE_NETNS[k]}"
	           --uts="$SLURM_DIR/ns/n$k.uts" --mount="$SLURM_DIR/ns/n$k.mnt"
	           --wd="$wd" --)
}

_slurm_plugin_dir() {
	local d
	for d in ${EBB_SLURM_PLUGIN_DIR:-} /usr/lib/x86_64-linux-gnu/slurm-wlm \
		"/usr/lib/$(gcc -print-multiarch 2>/dev/null)/slurm-wlm" \
		/usr/lib64/slurm /usr/lib/slurm; do
		if [ -f "$d/select_cons_tres.so" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

slurm_plugin_so() {
	local f
	for f in "$EBB_BUILDDIR/slurm-plugin/.libs/burst_buffer_ebb.so" \
		"$EBB_BUILDDIR/slurm-plugin/burst_buffer_ebb.so"; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

slurm_require() {
	local c
	[ "$(id -u)" = 0 ] || skip_all "needs root (namespaces, bridge, slurmd, bbd mounts)"
	for c in slurmctld slurmd sinfo squeue scontrol sbatch srun scancel munged \
		nsenter unshare flock findmnt mountpoint setpriv ip; do
		command -v "$c" >/dev/null || skip_all "$c not installed (apt-get install slurmctld slurmd slurm-client munge util-linux iproute2)"
	done
	_slurm_plugin_dir >/dev/null || skip_all "no Slurm plugin directory found (set EBB_SLURM_PLUGIN_DIR)"
	[ -x "$EBB_BBD" ] || skip_all "bbd not built ($EBB_BBD)"
	[ -x "$EBB_EBBCTL" ] || skip_all "ebbctl not built ($EBB_EBBCTL)"
	[ -x "$EBB_FUSE" ] || skip_all "ebb-fuse not built ($EBB_FUSE)"
	[ -c /dev/fuse ] || skip_all "no /dev/fuse"
	if [ "${1:-}" = --bb ] && [ "${2:-}" = ebb ]; then
		slurm_plugin_so >/dev/null ||
			skip_all "burst_buffer_ebb.so not built (configure found no Slurm source)"
	fi
	return 0
}

# ---- lock and registry ----------------------------------------------------

# The lock is held by a helper, `flock -o LOCK sh -c LOOP`, a tracked child
# of the test shell: flock holds the lock (-o: its child does not), and
# its child, the loop, ends within a second of the test shell's death, so
# the lock can never outlive the test, whatever killed it; the test shell
# itself never opens the lock file, so nothing it starts inherits the lock.
# slurm_cluster_stop ends the loop (by its PID), flock exits and is reaped.
_slurm_lock() {
	local t=${EBB_SLURM_LOCK_TIMEOUT:-900} ok=$EBB_TEST_DIR/.slurm-lock i said=
	[ -n "$_slurm_lock_pid" ] && return 0
	if [ -n "${EBB_SLURM_LOCK_HELD:-}" ] && kill -0 "$EBB_SLURM_LOCK_HELD" 2>/dev/null; then
		return 0   # a test holding the lock runs us (slurm_lock)
	fi
	rm -f -- "$ok"
	flock -o -w "$t" "$SLURM_LOCK" sh -c '
		echo $$ >"$1.tmp" && mv "$1.tmp" "$1"
		while kill -0 "$2" 2>/dev/null; do sleep 1; done' sh "$ok" $$ \
		</dev/null >/dev/null 2>&1 &
	_slurm_lock_pid=$!
	_fixture_track $! slurm-lock
	_fixture_track_tree $!   # the watchdog leaves the loop to the trap
	for ((i = 0; ; i++)); do
		if [ -s "$ok" ]; then
			_slurm_lock_loop=$(cat "$ok")
			return 0
		fi
		if ! kill -0 "$_slurm_lock_pid" 2>/dev/null; then
			_fixture_reap "$_slurm_lock_pid"
			_slurm_lock_pid=
			diag "could not take $SLURM_LOCK in $t s (flock status $_fixture_status)"
			return 1
		fi
		if [ "$i" -eq 20 ] && [ -z "$said" ]; then
			diag "another Slurm test holds $SLURM_LOCK: waiting (up to $t s)"
			said=1
		fi
		sleep 0.05
	done
}

# slurm_lock: hold the lock for the whole test, clusters and child tests
# included (slurm_cluster_stop keeps it); the children, run with
# EBB_SLURM_LOCK_HELD=$$ (exported here), do not wait for it.
slurm_lock() {
	[ -n "${EBB_TEST_DIR:-}" ] || fixture_init
	_slurm_lock || return 1
	_slurm_lock_explicit=1
	export EBB_SLURM_LOCK_HELD=$$
}

slurm_unlock() {
	_slurm_lock_explicit=
	unset EBB_SLURM_LOCK_HELD
	[ -n "$_slurm_up" ] || _slurm_unlock
}

# _slurm_unlock_maybe: after a cluster: unlock, unless slurm_lock holds it
# for the test (and this is not the EXIT trap's cleanup)
_slurm_unlock_maybe() {
	[ -n "$_slurm_lock_explicit" ] && [ -z "${_fixture_cleaned:-}" ] && return 0
	_slurm_unlock
}

_slurm_unlock() {
	[ -n "$_slurm_lock_pid" ] || return 0
	[ -n "$_slurm_lock_loop" ] && kill -s TERM "$_slurm_lock_loop" 2>/dev/null
	_fixture_reap "$_slurm_lock_pid" TERM
	_slurm_lock_pid=
	_slurm_lock_loop=
}

# _slurm_teardown FILE [dead]: remove everything FILE lists (the registry
# of one run), in an order that cannot hang: processes, then mounts, then
# links.  On a live run the daemons were reaped by PID already (and munged
# is the fixture's); with "dead" (a killed run) its recorded daemons and
# munged are stopped too, if they are still the same processes.
_slurm_teardown() {
	local reg=$1 dead=${2:-} kind a b c nslinks=() nsfiles=() netns=() vethh=()
	local bridge= nsdir= mroot= tdir= pids=() f i bad=0 out
	[ -f "$reg" ] || return 0
	while read -r kind a b c; do
		case $kind in
		pid | helper) [ -n "$dead" ] && pids+=("$a $b $c") ;;
		netns) netns+=("$a"); [ -n "$b" ] && nslinks+=("net:[$b]") ;;
		mntns) nsfiles+=("$a"); [ -n "$b" ] && nslinks+=("mnt:[$b]") ;;
		utsns) nsfiles+=("$a") ;;
		nsdir) nsdir=$a ;;
		bridge) bridge=$a ;;
		veth) vethh+=("$a") ;;
		mountroot) mroot=$a ;;
		dir) tdir=$a ;;
		esac
	done <"$reg"
	# 1. daemons of a dead run (a live run reaped them already)
	for i in "${pids[@]}"; do
		set -- $i
		if _slurm_alive "$1" "$2"; then
			diag "cleanup: $3 (pid $1) still running: TERM"
			kill -s TERM "$1" 2>/dev/null
			kill -s CONT "$1" 2>/dev/null
		fi
	done
	for i in "${pids[@]}"; do
		set -- $i
		for ((c = 0; c < 50; c++)); do
			_slurm_alive "$1" "$2" || break
			sleep 0.1
		done
		if _slurm_alive "$1" "$2"; then
			diag "cleanup: $3 (pid $1) ignored SIGTERM for 5 s: SIGKILL"
			kill -s KILL "$1" 2>/dev/null
		fi
	done
	# 2. whatever still runs in a node: slurmstepd, job processes,
	# ebb-fuse, and daemons of a dead run
	[ ${#nslinks[@]} -gt 0 ] && { _slurm_kill_ns "${nslinks[@]}" || bad=1; }
	# 3. mounts left under each node's mount root, inside the node
	for f in "${nsfiles[@]}"; do
		[[ $f == *.mnt ]] || continue
		mountpoint -q "$f" 2>/dev/null || continue
		out=$(timeout -k 2 20 nsenter --mount="$f" -- sh -c '
			findmnt -rn -o TARGET | grep -E "^$1(/|\$)" | sort -r |
			while read -r t; do
				t=$(printf "%b" "$t")
				umount "$t" 2>/dev/null || umount -l "$t" || echo "cannot unmount $t"
			done' sh "$mroot" 2>&1) || bad=1
		[ -n "$out" ] && { diag "cleanup: node mounts ($f): $out"; bad=1; }
	done
	# 4. the persisted namespaces, then their directory
	for f in "${nsfiles[@]}"; do
		if mountpoint -q "$f" 2>/dev/null; then
			umount "$f" 2>/dev/null || umount -l "$f" || { diag "cleanup: cannot unmount $f"; bad=1; }
		fi
	done
	if [ -n "$nsdir" ] && mountpoint -q "$nsdir" 2>/dev/null; then
		umount "$nsdir" 2>/dev/null || umount -l "$nsdir" || { diag "cleanup: cannot unmount $nsdir"; bad=1; }
	fi
	# 5. network: the host end of each veth first (deleting a netns
	# removes its veth asynchronously), then the netns, then the bridge
	for f in "${vethh[@]}"; do
		ip link show "$f" >/dev/null 2>&1 && { ip link delete "$f" || bad=1; }
	done
	for f in "${netns[@]}"; do
		[ -e "/run/netns/$f" ] && { ip netns delete "$f" || bad=1; }
	done
	if [ -n "$bridge" ] && ip link show "$bridge" >/dev/null 2>&1; then
		ip link delete "$bridge" || bad=1
	fi
	for f in "${vethh[@]}" $bridge; do
		for ((c = 0; c < 50; c++)); do
			ip link show "$f" >/dev/null 2>&1 || break
			sleep 0.1
		done
		ip link show "$f" >/dev/null 2>&1 && { diag "cleanup: link $f still exists"; bad=1; }
	done
	# 6. a killed test's private directory (its trap did not remove it),
	# once nothing is mounted under it
	if [ -n "$dead" ] && [ "$bad" -eq 0 ] && [[ $tdir == */ebb-test.* ]] && [ -d "$tdir" ] &&
		! awk -v d="$tdir/" 'index($2, d) == 1 { f = 1 } END { exit !f }' /proc/mounts; then
		rm -rf -- "$tdir"
	fi
	if [ "$bad" -eq 0 ]; then
		rm -f -- "$reg"
	else
		diag "cleanup: left $reg for the next run to retry"
	fi
	return "$bad"
}

# _slurm_sweep: tear down what runs killed without their trap left (their
# owner, PID + start time, is gone).  Called with the lock held.
_slurm_sweep() {
	local reg owner pid st
	for reg in "$SLURM_REGISTRY_DIR"/*; do
		[ -f "$reg" ] || continue
		read -r owner pid st _ <"$reg"
		if [ "$owner" = owner ] && _slurm_alive "$pid" "$st"; then
			diag "warning: Slurm test $pid (registry $reg) runs without the lock?"
			continue
		fi
		diag "cleaning up after a killed Slurm test run: $reg"
		_slurm_teardown "$reg" dead || diag "could not clean up all of $reg"
	done
}

# slurm_leftovers [--all] FILE: what is left of the run FILE (a copy of
# its registry) described; prints it, true if nothing.  --all: the
# fixture's munged too (gone only once the test has exited).
slurm_leftovers() {
	local all= reg kind a b c left=() nslinks=() m
	[ "$1" = --all ] && { all=1; shift; }
	reg=$1
	while read -r kind a b c; do
		case $kind in
		pid) _slurm_alive "$a" "$b" && left+=("process $c (pid $a)") ;;
		helper) [ -n "$all" ] && _slurm_alive "$a" "$b" && left+=("process $c (pid $a)") ;;
		netns)
			ip netns list 2>/dev/null | grep -qE "^$a( |\$)" && left+=("netns $a")
			[ -n "$b" ] && nslinks+=("net:[$b]") ;;
		mntns)
			mountpoint -q "$a" 2>/dev/null && left+=("mount $a")
			[ -n "$b" ] && nslinks+=("mnt:[$b]") ;;
		utsns | nsdir) mountpoint -q "$a" 2>/dev/null && left+=("mount $a") ;;
		bridge | veth) ip link show "$a" >/dev/null 2>&1 && left+=("link $a") ;;
		dir)
			while read -r m; do
				left+=("mount $m")
			done < <(awk -v d="$a" 'index($2, d) == 1 { print $2 }' /proc/mounts) ;;
		registry) [ -e "$a" ] && left+=("registry file $a") ;;
		esac
	done <"$reg"
	if [ ${#nslinks[@]} -gt 0 ]; then
		for a in $(_slurm_ns_pids "${nslinks[@]}"); do
			left+=("process in a node namespace: $(ps -o pid=,args= -p "$a")")
		done
	fi
	[ ${#left[@]} -eq 0 ] && return 0
	printf '%s\n' "${left[@]}"
	return 1
}

slurm_cluster_info() {
	[ -n "$SLURM_REGISTRY" ] && [ -f "$SLURM_REGISTRY" ] && cat "$SLURM_REGISTRY"
}

# ---- configuration -----------------------------------------------------------

_slurm_write_conf() {
	local d=$SLURM_DIR bb=$1 k tmpdisk pdir so f
	shift
	tmpdisk=$(numfmt --from=iec --to-unit=1048576 "${EBB_SLURM_CAPACITY%iB}" 2>/dev/null) ||
		tmpdisk=8192
	# PluginDir: Debian's plugins plus ours, as symlinks
	pdir=$(_slurm_plugin_dir) || { diag "no Slurm plugin directory"; return 1; }
	mkdir -p "$d/plugins"
	for f in "$pdir"/*; do
		# (not mpi/pmix: libpmix is not installed, and every daemon
		# would log three errors about it)
		case $f in */mpi_pmix*) continue ;; esac
		ln -sf "$f" "$d/plugins/"
	done
	if so=$(slurm_plugin_so); then
		ln -sf "$so" "$d/plugins/burst_buffer_ebb.so"
	elif [ "$bb" = ebb ]; then
		diag "--bb ebb: burst_buffer_ebb.so is not built under $EBB_BUILDDIR/slurm-plugin"
		return 1
	fi
	{
		echo "# SPDX-License-Identifier: GPL-2.0-or-later"
		echo "# written by tests/lib/slurm.sh for one test run"
		echo "ClusterName=ebbtest"
		echo "SlurmctldHost=$(hostname -s)($SLURM_BRIDGE_ADDR)"
		echo "SlurmctldPort=$_slurm_ctld_port"
		echo "SlurmdPort=6818"
		echo "SlurmUser=root"
		echo "SlurmdUser=root"
		echo "AuthType=auth/munge"
		# cred_expire: Slurm holds a requeued batch job back for this long (default
		# 1200 s); the requeue tests need it short
		echo "AuthInfo=socket=$EBB_MUNGE_SOCKET,cred_expire=5"
		echo "CredType=cred/munge"
		echo "PluginDir=$d/plugins"
		echo "StateSaveLocation=$d/state"
		echo "SlurmdSpoolDir=$d/spool/%n"
		echo "SlurmctldPidFile=$d/run/slurmctld.pid"
		echo "SlurmdPidFile=$d/run/slurmd-%n.pid"
		echo "SlurmctldLogFile=$EBB_TEST_DIR/slurmctld.log"
		echo "SlurmdLogFile=$EBB_TEST_DIR/slurmd-%n.log"
		echo "SlurmctldDebug=info"
		echo "SlurmdDebug=info"
		echo "ProctrackType=proctrack/linuxproc"
		echo "TaskPlugin=task/none"
		echo "JobAcctGatherType=jobacct_gather/none"
		echo "AccountingStorageType=accounting_storage/none"
		echo "JobCompType=jobcomp/none"
		echo "MpiDefault=none"
		echo "SwitchType=switch/none"
		echo "SelectType=select/cons_tres"
		echo "SelectTypeParameters=CR_Core"
		echo "SchedulerType=sched/backfill"
		echo "SchedulerParameters=bf_interval=1,sched_min_interval=0"
		echo "SlurmdParameters=config_overrides"
		echo "ReturnToService=2"
		# slurmctld pings nodes every SlurmdTimeout/3 s, and after its restart
		# a job's steps wait until the nodes answered one: keep it short
		echo "SlurmdTimeout=30"
		echo "MessageTimeout=10"
		echo "KillWait=2"
		echo "MinJobAge=10"
		echo "InactiveLimit=0"
		echo "Waittime=0"
		echo "MailProg=/bin/true"
		echo "Epilog=$d/epilog"
		echo "DebugFlags=BurstBuffer"
		[ "$bb" = ebb ] && echo "BurstBufferType=burst_buffer/ebb"
		for ((k = 1; k <= SLURM_N; k++)); do
			echo "NodeName=n$k NodeHostname=n$k NodeAddr=${SLURM_NODE_ADDRS[k]} CPUs=2 RealMemory=1000 TmpDisk=$tmpdisk State=UNKNOWN"
		done
		echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
		printf '%s\n' "${_slurm_conf_extra[@]}"
	} >"$d/slurm.conf"
	# read from slurm.conf's directory by burst_buffer/* plugins
	printf '%s\n' "# SPDX-License-Identifier: GPL-2.0-or-later" "Directive=BB" >"$d/burst_buffer.conf"
	# the plugin's settings (EBB_CONF, exported to slurmctld)
	{
		echo "# SPDX-License-Identifier: GPL-2.0-or-later"
		echo "# ebb.conf of the burst_buffer/ebb plugin, written by tests/lib/slurm.sh"
		echo "bbd_port = $EBB_SLURM_BBD_PORT"
		echo "mount_root = $SLURM_MOUNT_ROOT"
		echo "munge_socket = $EBB_MUNGE_SOCKET"
		echo "create_timeout = 30"
		printf '%s\n' "${_slurm_ebb_conf_extra[@]}"
	} >"$d/ebb.conf"
	# bbd gets its settings as options; this empty file keeps it from
	# reading an installed /usr/local/etc/ebb/ebb.conf
	echo "# SPDX-License-Identifier: GPL-2.0-or-later" >"$d/bbd.conf"
	# The Epilog (run by slurmd as root in the node, after every job, with
	# a fresh environment): `ebbctl epilog` against the node's own bbd.
	# Its failures propagate: slurmd then drains the node, which is what a
	# failed Epilog must do (docs/slurm.md).
	cat >"$d/epilog" <<EOF
#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Epilog of the test cluster (tests/lib/slurm.sh)
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EBB_CONF='$d/ebb.conf'
EBB_MUNGE_SOCKET='$EBB_MUNGE_SOCKET'
EBB_NODES='127.0.0.1:$EBB_SLURM_BBD_PORT'
SLURM_CONF='$d/slurm.conf'
export PATH EBB_CONF EBB_MUNGE_SOCKET EBB_NODES SLURM_CONF
log='$EBB_TEST_DIR/epilog-'\$(hostname)'.log'
# a test holds every Epilog back while $d/epilog.hold exists (120 s at most)
i=0
while [ -e '$d/epilog.hold' ] && [ \$i -lt 1200 ]; do sleep 0.1; i=\$((i + 1)); done
echo "\$(date +%T.%N) job \$SLURM_JOB_ID user \$SLURM_JOB_USER: ebbctl epilog" >>"\$log"
'$EBB_EBBCTL' epilog >>"\$log" 2>&1
st=\$?
[ \$st -ne 0 ] && echo "  ebbctl epilog: exit status \$st" >>"\$log"
exit \$st
EOF
	chmod 755 "$d/epilog"
}

# ---- daemons -----------------------------------------------------------------

_slurm_bbd_start() {   # K
	local k=$1 d=$SLURM_DIR args=()
	eval "args=(${_slurm_bbd_args[k]:-})"
	rm -f -- "$d/n$k/bbd.port"
	_slurm_nsenter "$k"
	"${_slurm_ns[@]}" "$EBB_BBD" --foreground --config "$d/bbd.conf" \
		--listen "0.0.0.0:$EBB_SLURM_BBD_PORT" --port-file "$d/n$k/bbd.port" \
		--root "$d/n$k/bbd" --capacity "$EBB_SLURM_CAPACITY" --slurm-user root \
		--munge-socket "$EBB_MUNGE_SOCKET" --node-name "n$k" \
		--mount-root "$SLURM_MOUNT_ROOT" --fuse-helper "$EBB_FUSE" "${args[@]}" \
		</dev/null >>"$EBB_TEST_DIR/bbd-n$k.log" 2>&1 &
	SLURM_BBD_PIDS[k]=$!
	_fixture_track $! "bbd-n$k"
	_fixture_track_tree $!   # its children are its own (slurmscriptd, ebb-fuse)
	_slurm_reg_pid $! "bbd-n$k"
}

# _slurm_bbd_wait K: port file (20 s), then ebbctl status through the bridge
_slurm_bbd_wait() {
	local k=$1 pf i out
	pf=$SLURM_DIR/n$k/bbd.port
	for ((i = 0; i < 200; i++)); do
		[ -s "$pf" ] && break
		if ! kill -0 "${SLURM_BBD_PIDS[k]}" 2>/dev/null; then
			_fixture_reap "${SLURM_BBD_PIDS[k]}"
			diag "bbd on n$k exited during start-up (status $_fixture_status)"
			diag_file "$EBB_TEST_DIR/bbd-n$k.log"
			return 1
		fi
		sleep 0.05
	done
	[ -s "$pf" ] || { diag "bbd on n$k wrote no port file in 10 s"; diag_file "$EBB_TEST_DIR/bbd-n$k.log"; return 1; }
	for ((i = 0; i < 50; i++)); do
		if out=$("$EBB_EBBCTL" -n "${SLURM_NODE_ADDRS[k]}:$EBB_SLURM_BBD_PORT" \
			--munge-socket "$EBB_MUNGE_SOCKET" --timeout 2000 status 2>&1); then
			return 0
		fi
		sleep 0.1
	done
	diag "bbd on n$k does not answer ebbctl status at ${SLURM_NODE_ADDRS[k]}:$EBB_SLURM_BBD_PORT: $out"
	return 1
}

_slurm_ctld_start() {
	SLURM_CONF=$SLURM_DIR/slurm.conf EBB_CONF=$SLURM_DIR/ebb.conf \
		slurmctld -D </dev/null >>"$EBB_TEST_DIR/slurmctld.stderr" 2>&1 &
	SLURM_CTLD_PID=$!
	_fixture_track $! slurmctld
	_fixture_track_tree $!   # its children are its own (slurmscriptd, ebb-fuse)
	_slurm_reg_pid $! slurmctld
}

# _slurm_ctld_wait: `scontrol ping` says UP (30 s)
_slurm_ctld_wait() {
	local i
	for ((i = 0; i < 600; i++)); do
		[[ $(scontrol ping 2>/dev/null) == *" is UP"* ]] && return 0
		if ! kill -0 "$SLURM_CTLD_PID" 2>/dev/null; then
			_fixture_reap "$SLURM_CTLD_PID"
			diag "slurmctld exited during start-up (status $_fixture_status)"
			diag_file "$EBB_TEST_DIR/slurmctld.log"
			diag_file "$EBB_TEST_DIR/slurmctld.stderr"
			SLURM_CTLD_PID=
			return 1
		fi
		sleep 0.05
	done
	diag "slurmctld does not answer scontrol ping after 30 s"
	diag_file "$EBB_TEST_DIR/slurmctld.log"
	return 1
}

_slurm_slurmd_start() {   # K
	local k=$1
	_slurm_nsenter "$k"
	SLURM_CONF=$SLURM_DIR/slurm.conf "${_slurm_ns[@]}" slurmd -D -N "n$k" \
		</dev/null >>"$EBB_TEST_DIR/slurmd-n$k.stderr" 2>&1 &
	SLURM_SLURMD_PIDS[k]=$!
	_fixture_track $! "slurmd-n$k"
	_fixture_track_tree $!   # its children are its own (slurmscriptd, ebb-fuse)
	_slurm_reg_pid $! "slurmd-n$k"
}

# ---- public ------------------------------------------------------------------

slurm_cluster_start() {
	local n=$1 bb=none k x id d ns t0 t1 i used f st
	shift
	_slurm_conf_extra=()
	_slurm_ebb_conf_extra=()
	_slurm_bbd_conf_extra=()
	local bbd_extra=() s3=
	while [ $# -gt 0 ]; do
		case $1 in
		--bb) bb=$2; shift 2 ;;
		--conf) _slurm_conf_extra+=("$2"); shift 2 ;;
		--ebb-conf) _slurm_ebb_conf_extra+=("$2"); shift 2 ;;
		--bbd-arg) bbd_extra+=("$2"); shift 2 ;;
		--bbd-conf) _slurm_bbd_conf_extra+=("$2"); shift 2 ;;
		--s3) s3=1; shift ;;
		*) diag "slurm_cluster_start: unknown option $1"; return 2 ;;
		esac
	done
	case $bb in ebb | none) ;; *) diag "slurm_cluster_start: --bb ebb|none"; return 2 ;; esac
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] ||
		{ diag "slurm_cluster_start: 1..200 nodes, not '$n'"; return 2; }
	[ -n "$_slurm_up" ] && { diag "slurm_cluster_start: a cluster is up already"; return 1; }
	t0=$(_slurm_now)
	fixture_init
	slurm_require --bb "$bb"
	fixture_user ebbtest || return 1
	[ -n "${EBB_MUNGE_SOCKET:-}" ] || fixture_munged || return 1
	fixture_on_cleanup slurm_cluster_stop

	mkdir -p "$SLURM_REGISTRY_DIR" || return 1
	t1=$(_slurm_now)
	_slurm_lock || return 1
	SLURM_LOCK_WAIT_SECONDS=$(_slurm_elapsed "$t1")
	t0=$(_slurm_now)   # (the start time does not count the wait)
	_slurm_sweep

	# a run id no existing link or netns uses
	for ((i = 0; i < 100; i++)); do
		id=$(printf '%05x' $(((RANDOM << 15 | RANDOM) & 0xfffff)))
		ip link show "ebb${id}br" >/dev/null 2>&1 && continue
		[ -e "/run/netns/ebb-$id-n1" ] || [ -e "$SLURM_REGISTRY_DIR/$id" ] && continue
		break
	done
	# the first 10.213.X.0/24 nothing on the host uses
	used=$(ip -o -4 addr show 2>/dev/null; ip -4 route show 2>/dev/null)
	for ((x = 0; x < 255; x++)); do
		[[ $used == *"10.213.$x."* ]] || break
	done
	[ "$x" -lt 255 ] || { diag "no free 10.213.X.0/24"; _slurm_unlock; return 1; }

	SLURM_N=$n
	SLURM_NODES="n[1-$n]"
	[ "$n" -eq 1 ] && SLURM_NODES=n1
	SLURM_DIR=$EBB_TEST_DIR/slurm
	SLURM_JOBS_DIR=$EBB_TEST_DIR/jobs
	SLURM_BRIDGE_ADDR=10.213.$x.1
	SLURM_MOUNT_ROOT=${EBB_SLURM_MOUNT_ROOT:-/mnt/ebb}
	EBB_SLURM_CAPACITY=${EBB_SLURM_CAPACITY:-8GiB}
	_slurm_ctld_port=${EBB_SLURM_CTLD_PORT:-16817}
	_slurm_id=$id
	d=$SLURM_DIR
	SLURM_REGISTRY=$SLURM_REGISTRY_DIR/$id
	# the registry: every resource is written down before it exists
	: >"$SLURM_REGISTRY"
	_slurm_reg owner $$ "$(_slurm_starttime $$)"
	_slurm_reg registry "$SLURM_REGISTRY"
	_slurm_reg dir "$EBB_TEST_DIR"
	_slurm_reg mountroot "$SLURM_MOUNT_ROOT"
	# (a lock the test holds with slurm_lock is not this cluster's)
	[ -n "$_slurm_lock_pid" ] && [ -z "$_slurm_lock_explicit" ] &&
		_slurm_reg_pid "$_slurm_lock_pid" slurm-lock
	[ -n "${_fixture_munged_pid:-}" ] &&
		_slurm_reg helper "$_fixture_munged_pid" "$(_slurm_starttime "$_fixture_munged_pid")" munged
	_slurm_up=1

	# a second cluster in the same test starts from a clean state (the
	# logs go on)
	if mountpoint -q "$d/ns" 2>/dev/null; then
		diag "$d/ns is still mounted: the last cluster was not torn down"
		return 1
	fi
	rm -rf -- "$d"
	# the job directory must be reachable by ebbtest
	chmod 755 "$EBB_TEST_DIR"
	mkdir -p "$d"/{ns,state,run,plugins} "$SLURM_JOBS_DIR" || return 1
	chmod 1777 "$SLURM_JOBS_DIR"
	mkdir -p "$SLURM_MOUNT_ROOT" || return 1
	for ((k = 1; k <= n; k++)); do
		SLURM_NODE_ADDRS[k]=10.213.$x.$((10 + k))
		SLURM_NODE_NETNS[k]=ebb-$id-n$k
		mkdir -p "$d/n$k/bbd" "$d/spool/n$k"
		_slurm_bbd_args[k]=
		[ ${#bbd_extra[@]} -gt 0 ] && _slurm_bbd_args[k]=$(printf '%q ' "${bbd_extra[@]}")
	done
	_slurm_write_conf "$bb" || return 1
	export SLURM_CONF=$d/slurm.conf EBB_CONF=$d/ebb.conf EBB_MUNGE_SOCKET

	# UTS and mount namespaces first (persisted in $d/ns, a private mount)
	_slurm_reg nsdir "$d/ns"
	mount --bind "$d/ns" "$d/ns" && mount --make-private "$d/ns" ||
		{ diag "cannot make $d/ns a private mount"; return 1; }
	for ((k = 1; k <= n; k++)); do
		: >"$d/ns/n$k.uts" && : >"$d/ns/n$k.mnt" || return 1
		_slurm_reg utsns "$d/ns/n$k.uts"
		_slurm_reg mntns "$d/ns/n$k.mnt"
		if ! unshare --uts="$d/ns/n$k.uts" --mount="$d/ns/n$k.mnt" --propagation private \
			sh -c '
			set -e
			hostname "$1"
			# let go of mounts this copy must not pin: other tests FUSE
			# mounts, namespace files, /run/netns
			findmnt -rn -o TARGET,FSTYPE | awk "\$2 ~ /^(fuse|nsfs)/ || \$1 ~ /\\/ebb-test\\./ { print \$1 }" |
				sort -r | while read -r t; do umount -l "$(printf "%b" "$t")" 2>/dev/null || true; done
			if mountpoint -q /run/netns; then umount -l /run/netns; fi
			mount -t tmpfs -o mode=0755,size=64m "ebb-$1" "$2"' \
			sh "n$k" "$SLURM_MOUNT_ROOT" >>"$d/ns.log" 2>&1; then
			diag "cannot create the UTS and mount namespaces of n$k"
			diag_file "$d/ns.log"
			return 1
		fi
		# rewrite the line with the namespace's inode (for process scans)
		sed -i "s|^mntns $d/ns/n$k.mnt\$|mntns $d/ns/n$k.mnt $(stat -L -c %i "$d/ns/n$k.mnt")|" "$SLURM_REGISTRY"
	done

	# network: a bridge with the controller's address, one netns per node
	ns=ebb${id}br
	_slurm_reg bridge "$ns"
	{
		ip link add "$ns" type bridge &&
		ip addr add "$SLURM_BRIDGE_ADDR/24" dev "$ns" &&
		ip link set "$ns" up
	} >>"$d/net.log" 2>&1 || { diag "cannot create bridge $ns"; diag_file "$d/net.log"; return 1; }
	for ((k = 1; k <= n; k++)); do
		ns=${SLURM_NODE_NETNS[k]}
		_slurm_reg veth "ebb${id}h$k"
		_slurm_reg netns "$ns"
		{
			ip netns add "$ns" &&
			ip link add "ebb${id}h$k" type veth peer name "ebb${id}c$k" &&
			ip link set "ebb${id}h$k" master "ebb${id}br" &&
			ip link set "ebb${id}h$k" up &&
			ip link set "ebb${id}c$k" netns "$ns" &&
			ip -n "$ns" link set lo up &&
			ip -n "$ns" link set "ebb${id}c$k" name eth0 &&
			ip -n "$ns" addr add "${SLURM_NODE_ADDRS[k]}/24" dev eth0 &&
			ip -n "$ns" link set eth0 up &&
			ip -n "$ns" route add default via "$SLURM_BRIDGE_ADDR"
		} >>"$d/net.log" 2>&1 || { diag "cannot set up netns $ns"; diag_file "$d/net.log"; return 1; }
		sed -i "s|^netns $ns\$|netns $ns $(stat -L -c %i "/run/netns/$ns")|" "$SLURM_REGISTRY"
	done

	# S3 for the nodes: the test's RGW listens on the host's loopback,
	# which a node's network namespace cannot reach, so a pass-through
	# s3proxy (tests/lib/s3proxy.py, also the fault injector) listens on
	# the bridge; the bbds get it as their s3_endpoint
	if [ -n "$s3" ]; then
		[ -n "${EBB_S3_ENDPOINT:-}" ] ||
			{ diag "slurm_cluster_start --s3: call rgw_start first"; return 1; }
		S3PROXY_BIND=$SLURM_BRIDGE_ADDR s3proxy_start ||
			{ diag "cannot start the S3 proxy on the bridge"; return 1; }
		SLURM_S3_ENDPOINT=$EBB_S3_PROXY_ENDPOINT
		printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
			"$EBB_S3_ACCESS_KEY" "$EBB_S3_SECRET_KEY" >"$d/s3-credentials"
		chmod 600 "$d/s3-credentials"
		{
			echo "s3_endpoint = $SLURM_S3_ENDPOINT"
			echo "s3_region = ${EBB_S3_REGION:-us-east-1}"
			echo "s3_addressing = path"
			echo "s3_credentials_file = $d/s3-credentials"
			echo "s3_imds_endpoint = "
			# one ebb.conf per cluster in real life: bbd checks the
			# same allow-list as the plugin
			printf '%s\n' "${_slurm_ebb_conf_extra[@]}" | grep '^s3_allow' || true
		} >>"$d/bbd.conf"
	fi
	[ ${#_slurm_bbd_conf_extra[@]} -gt 0 ] &&
		printf '%s\n' "${_slurm_bbd_conf_extra[@]}" >>"$d/bbd.conf"

	# daemons: the bbds and slurmctld start together; slurmds once
	# slurmctld answers (they register at once)
	for ((k = 1; k <= n; k++)); do
		_slurm_bbd_start "$k"
	done
	_slurm_ctld_start
	_slurm_ctld_wait || return 1
	for ((k = 1; k <= n; k++)); do
		_slurm_slurmd_start "$k"
	done
	for ((k = 1; k <= n; k++)); do
		_slurm_bbd_wait "$k" || return 1
	done
	EBB_NODES=$(for ((k = 1; k <= n; k++)); do printf '%s:%s\n' "${SLURM_NODE_ADDRS[k]}" "$EBB_SLURM_BBD_PORT"; done | paste -sd,)
	export EBB_NODES
	slurm_nodes_idle 60 || return 1
	SLURM_START_SECONDS=$(_slurm_elapsed "$t0")
	diag "Slurm cluster of $n nodes (bb=$bb, 10.213.$x.0/24, id $id) up in $SLURM_START_SECONDS s"
	return 0
}

slurm_cluster_stop() {
	local k i ids bad=0 t0 st
	if [ -z "$_slurm_up" ]; then
		_slurm_unlock_maybe
		return 0
	fi
	t0=$(_slurm_now)
	# a test may have stopped a daemon (kill -STOP): SIGTERM must reach it
	for k in $SLURM_CTLD_PID "${SLURM_SLURMD_PIDS[@]}" "${SLURM_BBD_PIDS[@]}"; do
		[ -n "$k" ] && kill -s CONT "$k" 2>/dev/null
	done
	if [ -n "$SLURM_CTLD_PID" ] && kill -0 "$SLURM_CTLD_PID" 2>/dev/null; then
		ids=$(squeue -h -o %A 2>/dev/null)
		if [ -n "$ids" ]; then
			scancel $ids 2>/dev/null
			for ((i = 0; i < 100; i++)); do
				[ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
				sleep 0.05
			done
		fi
		_fixture_reap "$SLURM_CTLD_PID" TERM
		st=$_fixture_status
		if [ "$st" -ne 0 ] && [ "$st" -ne 143 ]; then
			diag "slurmctld exited with status $st on SIGTERM"
			bad=1
		fi
	fi
	SLURM_CTLD_PID=
	for k in "${!SLURM_SLURMD_PIDS[@]}"; do
		[ -n "${SLURM_SLURMD_PIDS[k]}" ] && kill -s TERM "${SLURM_SLURMD_PIDS[k]}" 2>/dev/null
	done
	for k in "${!SLURM_SLURMD_PIDS[@]}"; do
		[ -n "${SLURM_SLURMD_PIDS[k]}" ] && _fixture_reap "${SLURM_SLURMD_PIDS[k]}" TERM
	done
	SLURM_SLURMD_PIDS=()
	for k in "${!SLURM_BBD_PIDS[@]}"; do
		[ -n "${SLURM_BBD_PIDS[k]}" ] && kill -s TERM "${SLURM_BBD_PIDS[k]}" 2>/dev/null
	done
	for k in "${!SLURM_BBD_PIDS[@]}"; do
		[ -n "${SLURM_BBD_PIDS[k]}" ] || continue
		_fixture_reap "${SLURM_BBD_PIDS[k]}" TERM
		st=$_fixture_status
		if [ "$st" -ne 0 ] && [ "$st" -ne 143 ]; then
			diag "bbd on n$k exited with status $st, not 0, on SIGTERM"
			bad=1
		fi
	done
	SLURM_BBD_PIDS=()
	_slurm_teardown "$SLURM_REGISTRY" || bad=1
	_slurm_up=
	_slurm_unlock_maybe
	SLURM_STOP_SECONDS=$(_slurm_elapsed "$t0")
	diag "Slurm cluster stopped in $SLURM_STOP_SECONDS s"
	return "$bad"
}

slurm_node_exec() {
	local k=$1
	shift
	[ -n "${SLURM_NODE_NETNS[k]:-}" ] || { diag "slurm_node_exec: no node $k"; return 127; }
	_slurm_nsenter "$k"
	"${_slurm_ns[@]}" "$@"
}

slurm_node_as() {
	local k=$1 u=$2
	shift 2
	_fixture_as_cmd "$u" || return 127
	slurm_node_exec "$k" "${_fixture_as[@]}" SLURM_CONF="$SLURM_CONF" "$@"
}

slurm_submit() {
	local user=ebbtest out err st
	if [ "${1:-}" = --user ]; then
		user=$2
		shift 2
	fi
	_fixture_as_cmd "$user" || return 1
	err=$SLURM_DIR/sbatch.err
	# (TMPDIR: the job inherits this environment; fixture_as's TMPDIR,
	# the test directory, is not writable by the user)
	out=$(cd "$SLURM_JOBS_DIR" && "${_fixture_as[@]}" SLURM_CONF="$SLURM_CONF" \
		TMPDIR="$SLURM_JOBS_DIR" sbatch --parsable "$@" 2>"$err")
	st=$?
	if [ "$st" -ne 0 ] || ! [[ ${out%%;*} =~ ^[0-9]+$ ]]; then
		diag "sbatch $* (as $user) failed (status $st): $out $(cat "$err")"
		return 1
	fi
	echo "${out%%;*}"
}

# _slurm_job_line JOBID: `scontrol show job -o`, on one line, with a
# leading space (so every field is " Key=value")
_slurm_job_line() {
	local out
	out=$(scontrol show job -o "$1" 2>&1) || { echo "ERROR $out"; return 1; }
	echo " ${out//$'\n'/ }"
}

slurm_job_field() {
	local line
	line=$(_slurm_job_line "$1") || { diag "scontrol show job $1: ${line#ERROR }"; return 1; }
	case $line in *" $2="*) ;; *) return 1 ;; esac
	line=${line#* "$2"=}
	# up to the next " Key=" (values such as "#BB capacity=1GiB" hold
	# lower-case keys, which do not end the value)
	printf '%s\n' "$line" | sed -E 's/ [A-Z][A-Za-z0-9_:]*=.*$//'
}

# _slurm_wait FIELD JOBID WANT... [TIMEOUT]
_slurm_wait() {
	local field=$1 job=$2 t=60 want=() line cur last= i n
	shift 2
	want=("$@")
	if [[ ${want[-1]} =~ ^[0-9]+$ ]]; then
		t=${want[-1]}
		unset 'want[-1]'
	fi
	n=$((t * 20))
	for ((i = 0; i <= n; i++)); do
		line=$(_slurm_job_line "$job")
		if [[ $line == "ERROR "* ]]; then
			if [[ $line == *"Invalid job id"* ]]; then
				diag "job $job: ${line#ERROR } (waiting for $field ${want[*]})"
				return 1
			fi
			cur="?"
		elif [[ $line =~ \ $field=([^ ]*) ]]; then
			cur=${BASH_REMATCH[1]}
		else
			cur=
		fi
		case " ${want[*]} " in *" $cur "*) [ -n "$cur" ] && return 0 ;; esac
		last=$cur
		if [ "$field" = JobState ]; then
			case $cur in
			COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | PREEMPTED | BOOT_FAIL | DEADLINE | OUT_OF_MEMORY)
				diag "job $job ended $cur while waiting for ${want[*]}: reason $(slurm_job_field "$job" Reason)"
				return 1 ;;
			esac
		fi
		sleep 0.05
	done
	diag "job $job: $field is '$last', not ${want[*]}, after $t s (reason $(slurm_job_field "$job" Reason))"
	return 1
}

slurm_wait_job() { local j=$1; shift; _slurm_wait JobState "$j" "$@"; }
slurm_wait_bb() { local j=$1; shift; _slurm_wait BurstBufferState "$j" "$@"; }

# slurm_nodes_idle [TIMEOUT]: every node of ours "idle" in sinfo (no flag:
# not idle* (not responding), not drained, not completing)
slurm_nodes_idle() {
	local t=${1:-60} i out k ok
	for ((i = 0; i <= t * 20; i++)); do
		out=" $(sinfo -h -N -o '%N=%t' 2>/dev/null | tr '\n' ' ') "
		ok=1
		for ((k = 1; k <= SLURM_N; k++)); do
			[[ $out == *" n$k=idle "* ]] || { ok=; break; }
		done
		[ -n "$ok" ] && return 0
		for k in "${!SLURM_SLURMD_PIDS[@]}"; do
			[ -n "${SLURM_SLURMD_PIDS[k]}" ] || continue
			kill -0 "${SLURM_SLURMD_PIDS[k]}" 2>/dev/null && continue
			_fixture_reap "${SLURM_SLURMD_PIDS[k]}"
			SLURM_SLURMD_PIDS[k]=
			diag "slurmd of n$k exited (status $_fixture_status)"
			diag_file "$EBB_TEST_DIR/slurmd-n$k.log"
			diag_file "$EBB_TEST_DIR/slurmd-n$k.stderr"
			return 1
		done
		sleep 0.05
	done
	diag "nodes not all idle after $t s: $out"
	return 1
}

slurm_ctld_restart() {
	local st
	[ -n "$_slurm_up" ] || { diag "slurm_ctld_restart: no cluster"; return 1; }
	if [ -n "$SLURM_CTLD_PID" ]; then
		_fixture_reap "$SLURM_CTLD_PID" TERM
		st=$_fixture_status
		if [ "$st" -ne 0 ] && [ "$st" -ne 143 ]; then
			diag "slurmctld exited with status $st on SIGTERM"
		fi
	fi
	_slurm_ctld_start
	_slurm_ctld_wait
}

slurm_node_bbd_kill() {
	local k=$1 sig=${2:-KILL}
	[ -n "${SLURM_BBD_PIDS[k]:-}" ] || { diag "slurm_node_bbd_kill: no bbd on n$k"; return 1; }
	_fixture_reap "${SLURM_BBD_PIDS[k]}" "$sig"
	SLURM_BBD_PIDS[k]=
}

slurm_node_bbd_restart() {
	local k=$1
	shift
	[ -n "${SLURM_NODE_NETNS[k]:-}" ] || { diag "slurm_node_bbd_restart: no node $k"; return 1; }
	# new extra arguments for this node (--default: none), or the same
	if [ "${1:-}" = --default ]; then
		_slurm_bbd_args[k]=
	elif [ $# -gt 0 ]; then
		_slurm_bbd_args[k]=$(printf '%q ' "$@")
	fi
	[ -n "${SLURM_BBD_PIDS[k]:-}" ] && _fixture_reap "${SLURM_BBD_PIDS[k]}" TERM
	_slurm_bbd_start "$k"
	_slurm_bbd_wait "$k"
}

slurm_logs() {
	local n=${1:-30} f
	for f in "$EBB_TEST_DIR"/slurmctld.log "$EBB_TEST_DIR"/slurmd-*.log \
		"$EBB_TEST_DIR"/bbd-n*.log "$EBB_TEST_DIR"/epilog-*.log; do
		[ -s "$f" ] && diag_file "$f" "$n"
	done
	# the daemons' stderr repeats their log file, unless they died
	# before they opened it
	for f in "$EBB_TEST_DIR"/*.stderr; do
		[ -s "$f" ] && ! [ -s "${f%.stderr}.log" ] && diag_file "$f" "$n"
	done
	return 0
}
