# SPDX-License-Identifier: GPL-2.0-or-later
# cluster.t: the Slurm test cluster itself (tests/lib/slurm.sh), without the
# burst-buffer plugin: 3 nodes come up, each with its own hostname, address,
# /mnt/ebb and bbd; srun and a 3-node batch job as ebbtest work, and a job
# sees the ebb instance its node's bbd mounted; slurmctld restarts with its
# state; a bbd is killed and restarted inside its node; stopping leaves
# nothing.  Then three child tests start a cluster with a running job and
# a FUSE mount and die: by SIGTERM, by the watchdog, by SIGKILL (cleaned up
# by the next run's sweep); nothing of theirs may survive.
: "${EBB_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export EBB_SRCDIR
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"
. "$EBB_SRCDIR/tests/lib/slurm.sh"

fixture_init
slurm_require
fixture_user ebbtest || bail "no user ebbtest"
I=cl$$
# one lock for the whole test: its clusters and child tests run without
# another Slurm test in between (the children's watchdog times are short)
slurm_lock || bail "could not take the Slurm test lock"

ok "a 3-node cluster starts" slurm_cluster_start 3 --bb none || { slurm_logs; bail "no cluster"; }
start_s=$SLURM_START_SECONDS

# ---- nodes --------------------------------------------------------------------
is "$(sinfo -h -o '%D %t %N')" "3 idle n[1-3]" "sinfo: 3 idle nodes n[1-3]"
is "$(timeout 60 srun -N3 hostname 2>&1 | sort | tr '\n' ' ')" "n1 n2 n3 " "srun -N3 hostname prints n1 n2 n3"
for k in 1 2 3; do
	is "$(slurm_node_exec $k hostname)" "n$k" "node $k: hostname n$k in its UTS namespace"
	is "$(slurm_node_exec $k ip -4 -o addr show dev eth0 | awk '{ print $4 }')" \
		"${SLURM_NODE_ADDRS[k]}/24" "node $k: its own address on the bridge"
done

# every node has its own /mnt/ebb; the host's is not touched
mr=$SLURM_MOUNT_ROOT
ok "node 1 writes a marker into its $mr" slurm_node_exec 1 sh -c "echo 1 >'$mr/marker-$I'"
ok "node 1 sees it" slurm_node_exec 1 test -f "$mr/marker-$I"
not_ok "node 2 does not" slurm_node_exec 2 test -e "$mr/marker-$I"
not_ok "the host does not" test -e "$mr/marker-$I"
not_ok "the host's $mr is no mount point" mountpoint -q "$mr"

# ---- bbd in each node ------------------------------------------------------------
out=$(fixture_ebbctl status 2>&1)
ok_status $? "ebbctl status reaches the 3 bbd through the bridge" || diag "$out"
for k in 1 2 3; do
	like "$out" "(^|[^0-9])${SLURM_NODE_ADDRS[k]//./\\.}:$EBB_SLURM_BBD_PORT.*n$k" "bbd at ${SLURM_NODE_ADDRS[k]} is n$k" ||
		diag "$out"
done
out=$(fixture_ebbctl instance create "$I" --capacity 64MiB --owner ebbtest --mount 2>&1)
ok_status $? "instance $I created with a mount on every node" || diag "$out"
for k in 1 2 3; do
	ok "node $k: $mr/$I is a FUSE mount in the node" \
		slurm_node_exec $k sh -c "findmnt -rn -M '$mr/$I' -o FSTYPE | grep -q '^fuse'"
done
not_ok "the host has no $mr/$I" test -e "$mr/$I"

# ---- a 3-node batch job as ebbtest ---------------------------------------------
J=$SLURM_JOBS_DIR
cat >"$J/job3.sh" <<EOF
#!/bin/bash
#SBATCH -N3 -o $J/job3-%j.out
srun -N3 -l sh -c 'echo "\$(hostname) \$(id -un)" >"$mr/$I/from-\$(hostname)"; echo "\$(hostname) \$(id -un)"'
echo "batch on \$(hostname) sees: \$(cat $mr/$I/from-* | sort | tr '\n' ' ')"
EOF
chmod 644 "$J/job3.sh"
job=$(slurm_submit "$J/job3.sh")
ok_status $? "sbatch -N3 as ebbtest: job $job"
ok "job $job completes" slurm_wait_job "$job" COMPLETED 60
is "$(slurm_job_field "$job" ExitCode)" "0:0" "exit code 0:0"
is "$(slurm_job_field "$job" UserId)" "ebbtest($(id -u ebbtest))" "it ran as ebbtest"
is "$(slurm_job_field "$job" NodeList)" "n[1-3]" "on n[1-3]"
is "$(grep -v '^batch' "$J/job3-$job.out" | sed 's/^[0-9]*: //' | sort | tr '\n' ' ')" \
	"n1 ebbtest n2 ebbtest n3 ebbtest " "each step ran on its node as ebbtest"
is "$(grep '^batch' "$J/job3-$job.out")" "batch on n1 sees: n1 ebbtest n2 ebbtest n3 ebbtest " \
	"the files each node wrote into its own mount of the instance are all there on n1" ||
	diag_file "$J/job3-$job.out"
ok "the nodes are idle again (the Epilog did not drain them)" slurm_nodes_idle 30
for k in 1 2 3; do
	ok "the Epilog ran on n$k for job $job" grep -q "job $job " "$EBB_TEST_DIR/epilog-n$k.log"
done

# ---- slurmctld restart: the state persists ------------------------------------------
printf '#!/bin/sh\n#SBATCH -N2 -o /dev/null\nsrun -N2 sleep 300\n' >"$J/long.sh"
chmod 644 "$J/long.sh"
long=$(slurm_submit "$J/long.sh")
ok "a long 2-node job $long runs" slurm_wait_job "$long" RUNNING 30
ok "slurmctld restarts" slurm_ctld_restart
ok "the job is still RUNNING after the restart" slurm_wait_job "$long" RUNNING 10
is "$(slurm_job_field "$long" NodeList)" "n[1-2]" "on the same nodes"
ok "scancel" scancel "$long"
ok "it ends CANCELLED" slurm_wait_job "$long" CANCELLED 30
ok "the nodes are idle again" slurm_nodes_idle 30

# ---- a bbd killed and restarted in its node -----------------------------------------
ok "kill -9 the bbd of n2" slurm_node_bbd_kill 2 KILL
not_ok "n2's bbd does not answer" "$EBB_EBBCTL" -n "${SLURM_NODE_ADDRS[2]}:$EBB_SLURM_BBD_PORT" --timeout 2000 -q status
ok "it restarts in its node" slurm_node_bbd_restart 2
ok "n2 mounts $I again" sh -c "for i in \$(seq 100); do
	nsenter --mount='$SLURM_DIR/ns/n2.mnt' findmnt -rn -M '$mr/$I' -o FSTYPE | grep -q '^fuse' && exit 0
	sleep 0.1; done; exit 1"

# ---- stop: nothing is left ------------------------------------------------------------
slurm_cluster_info >"$EBB_TEST_DIR/registry.main"
ok "slurm_cluster_stop" slurm_cluster_stop
stop_s=$SLURM_STOP_SECONDS
out=$(slurm_leftovers "$EBB_TEST_DIR/registry.main")
ok_status $? "nothing left: no netns, links, daemons, processes in the node namespaces, mounts" || diag "$out"
ok "no mount under the test directory" sh -c "! grep -q ' $EBB_TEST_DIR' /proc/mounts"
diag "cluster start ${start_s} s, stop ${stop_s} s"

# ---- killed tests leave nothing either ---------------------------------------------------
# child MODE: a test that starts a 2-node cluster, mounts an instance on
# both nodes, runs a 2-node job, writes its registry (and the PIDs in the
# node namespaces) to $EBB_TEST_DIR/MODE.info, then waits to be killed.
cat >"$EBB_TEST_DIR/child.sh" <<'EOF'
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"
. "$EBB_SRCDIR/tests/lib/slurm.sh"
mode=$1 info=$2
slurm_cluster_start 2 || bail "no cluster"
fixture_ebbctl instance create "leak-$mode" --capacity 16MiB --owner ebbtest --mount >&2 || bail "no instance"
printf '#!/bin/sh\n#SBATCH -N2 -o /dev/null\nsrun -N2 sh -c "touch %s/step.\\$(hostname); exec sleep 300"\n' \
	"$SLURM_JOBS_DIR" >"$SLURM_JOBS_DIR/sleep.sh"
chmod 644 "$SLURM_JOBS_DIR/sleep.sh"
j=$(slurm_submit "$SLURM_JOBS_DIR/sleep.sh") || bail "no job"
slurm_wait_job "$j" RUNNING 30 || bail "job not running"
for ((i = 0; i < 300; i++)); do
	[ -e "$SLURM_JOBS_DIR/step.n1" ] && [ -e "$SLURM_JOBS_DIR/step.n2" ] && break
	sleep 0.1
done
# the process it waits on (the watchdog kills a foreground one itself)
[ "$mode" != watchdog ] && fixture_spawn sleeper sleep 300
{
	[ "$mode" != watchdog ] &&
		echo "sleeper $_fixture_last_pid $(_slurm_starttime "$_fixture_last_pid")"
	slurm_cluster_info
	links=$(awk '$1 == "netns" { print "net:[" $3 "]" } $1 == "mntns" { print "mnt:[" $3 "]" }' "$SLURM_REGISTRY")
	for p in $(_slurm_ns_pids $links); do
		echo "pid $p $(_slurm_starttime "$p") in-node:$(ps -o comm= -p "$p")"
	done
	echo "dir $EBB_TEST_DIR"
} >"$info.tmp"
mv "$info.tmp" "$info"
case $mode in
watchdog) sleep 300 ;;   # the watchdog kills it, then TERMs us
*) fixture_wait_pid "$_fixture_last_pid" ;;   # SIGTERM or SIGKILL comes
esac
ok "not reached" false
done_testing
EOF

# run_child MODE [env...]: start it, wait for its info file (it may wait
# for another Slurm test's lock first); its PID in $child
run_child() {
	local mode=$1 i
	shift
	rm -f "$EBB_TEST_DIR/$mode.info"
	env -u EBB_NODES -u EBB_MUNGE_SOCKET -u EBB_TEST_DIR -u SLURM_CONF -u EBB_CONF \
		-u EBB_KEEP TMPDIR="$EBB_TEST_DIR" "$@" bash "$EBB_TEST_DIR/child.sh" "$mode" "$EBB_TEST_DIR/$mode.info" \
		</dev/null >"$EBB_TEST_DIR/child-$mode.out" 2>&1 &
	child=$!
	_fixture_track "$child" "child-$mode"
	for ((i = 0; i < 18000; i++)); do
		[ -s "$EBB_TEST_DIR/$mode.info" ] && return 0
		kill -0 "$child" 2>/dev/null || break
		sleep 0.05
	done
	diag "child $mode did not get ready"
	diag_file "$EBB_TEST_DIR/child-$mode.out"
	return 1
}

# wait_child PID SECONDS: its exit status in $child_status (999: still runs)
wait_child() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[[ $(ps -o stat= -p "$1" 2>/dev/null) =~ ^(Z|$) ]] && break
		sleep 0.1
	done
	if ! [[ $(ps -o stat= -p "$1" 2>/dev/null) =~ ^(Z|$) ]]; then
		child_status=999
		return
	fi
	fixture_wait_pid "$1"
	child_status=$?
}

# gone_within SECONDS PID START: the process PID (started at START) ends
gone_within() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		_slurm_alive "$2" "$3" || return 0
		sleep 0.1
	done
	return 1
}

# kill_sleeper MODE: the orphan a SIGKILLed child leaves (its `sleep`)
kill_sleeper() {
	set -- $(grep '^sleeper' "$EBB_TEST_DIR/$1.info")
	_slurm_alive "$2" "$3" && kill -s KILL "$2"
	return 0
}

# check_child MODE: nothing of it is left
check_child() {
	local mode=$1 info out d n
	info=$EBB_TEST_DIR/$mode.info
	n=$(grep -c ' in-node:' "$info")
	d=$(awk '$1 == "dir" { print $2; exit }' "$info")
	out=$(slurm_leftovers --all "$info")
	ok_status $? "$mode: nothing left: no netns, links, daemons, munged, mounts, nor any of the $n processes that were in its nodes (slurmstepd, the job's, ebb-fuse)" ||
		diag "$out"
	ok "$mode: no mount under its directory" sh -c "! grep -q ' $d' /proc/mounts"
}

if run_child term; then
	kill -s TERM "$child"
	wait_child "$child" 60
	is "$child_status" 143 "SIGTERM to a test with a running cluster: exit status 143"
	check_child term
	ok "term: its directory was removed" test ! -e "$(awk '$1 == "dir" { print $2; exit }' "$EBB_TEST_DIR/term.info")"
else
	ok_status 1 "child term started"
fi

if run_child watchdog EBB_TEST_TIMEOUT=15; then
	wait_child "$child" 90
	is "$child_status" 143 "a test killed by its watchdog: exit status 143"
	grep -q 'watchdog' "$EBB_TEST_DIR/child-watchdog.out" ||
		diag_file "$EBB_TEST_DIR/child-watchdog.out"
	check_child watchdog
else
	ok_status 1 "child watchdog started"
fi

if run_child kill; then
	kill -s KILL "$child"
	wait_child "$child" 10
	is "$child_status" 137 "SIGKILL to a test with a running cluster"
	# no trap ran: its daemons are orphans now; the next start sweeps
	out=$(grep '^pid .* slurmctld$' "$EBB_TEST_DIR/kill.info")
	set -- $out
	ok "its slurmctld still runs (nothing cleaned up yet)" _slurm_alive "$2" "$3"
	ok "the next cluster start sweeps it away" slurm_cluster_start 1 --bb none
	ok "and stops" slurm_cluster_stop
	check_child kill
	kill_sleeper kill
	ok "kill: the sweep removed its directory" test ! -e "$(awk '$1 == "dir" { print $2; exit }' "$EBB_TEST_DIR/kill.info")"
else
	ok_status 1 "child kill started"
fi

# The lock dies with its test: a child that takes it, SIGKILLed while a
# command of its runs; its lock helper must end within 3 s.
slurm_unlock
cat >"$EBB_TEST_DIR/child.sh" <<'EOF'
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"
. "$EBB_SRCDIR/tests/lib/slurm.sh"
fixture_init
slurm_lock || bail "no lock"
fixture_spawn sleeper sleep 300
{
	echo "pid $_slurm_lock_pid $(_slurm_starttime "$_slurm_lock_pid") slurm-lock"
	echo "sleeper $_fixture_last_pid $(_slurm_starttime "$_fixture_last_pid")"
} >"$2.tmp"
mv "$2.tmp" "$2"
fixture_wait_pid "$_fixture_last_pid"
EOF
if run_child lock; then
	kill -s KILL "$child"
	wait_child "$child" 10
	is "$child_status" 137 "a test holding the lock, SIGKILLed"
	set -- $(grep '^pid' "$EBB_TEST_DIR/lock.info")
	ok "its lock helper ends within 3 s (the lock is free)" gone_within 3 "$2" "$3"
	kill_sleeper lock
else
	ok_status 1 "child lock started"
fi

done_testing
