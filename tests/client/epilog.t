# SPDX-License-Identifier: GPL-2.0-or-later
# epilog.t: `ebbctl epilog` (the compute-node Epilog) against a real bbd,
# outside Slurm, as slurmd runs it: SLURM_JOB_ID set, the port from
# EBB_CONF.  It removes instance slurm-<job id> from the local bbd and
# exits 0; again, or for a job that never had one, it exits 0 too; with no
# job it is a usage error; with the bbd down it waits for it until its
# bound, touching nothing (its share may belong to an export still running),
# then exits 1 with the reason and what slurmd will do (drain the node); a
# bbd back within the bound is waited for, and the instance removed.
# tests/slurm/ runs it as the real Epilog of a cluster.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_setup_nodes 1
fixture_attached && skip_all "kills its bbd: not with EBB_NODES"
D=$EBB_TEST_DIR
port=${EBB_NODE_PORTS[0]}
printf 'bbd_port = %s\nmunge_socket = %s\nepilog_timeout = 2\n' \
	"$port" "$EBB_MUNGE_SOCKET" >"$D/ebb.conf"

epilog() {   # JOBID|"" ARGS...: run it as slurmd would; $out, $st
	local job=$1
	shift
	out=$(env -u EBB_NODES -u EBB_INSTANCE ${job:+SLURM_JOB_ID=$job} \
		EBB_CONF="$D/ebb.conf" "$EBB_EBBCTL" epilog "$@" 2>&1)
	st=$?
}

ok "instance slurm-41 created" fixture_ebbctl instance create slurm-41 --capacity 64MiB
echo data | fixture_ebbctl -i slurm-41 put - /f
epilog 41
is "$st" 0 "epilog for job 41 exits 0"
like "$out" "job 41: slurm-41 is gone from this node" "and says so (stderr and syslog)"
like "$(fixture_ebbctl --json instance list)" '^\[\]$' "the bbd holds no instance any more"
is "$(ls -A "${EBB_NODE_ROOTS[0]}/instances")" "" "and no data of it is left on disk"
epilog 41
is "$st" 0 "again: still 0 (nothing to remove)"
epilog 42
is "$st" 0 "a job that never had a file system: 0"

epilog ""
is "$st" 2 "no SLURM_JOB_ID and no --job: usage error"
like "$out" "SLURM_JOB_ID is not set" "which says what is missing"
epilog "" --job abc
is "$st" 2 "--job that is not a job id: usage error"

ok "instance slurm-43 created" fixture_ebbctl instance create slurm-43 --capacity 64MiB
fixture_bbd_kill 0
t0=$(date +%s)
epilog 43
t=$(($(date +%s) - t0))
is "$st" 1 "with the bbd down: exits 1 (slurmd drains the node)"
like "$out" "the local bbd \\(127\\.0\\.0\\.1:$port\\) did not answer within 2 s: " \
	"the reason names the bbd and the error"
like "$out" "nothing was removed \\(slurmd will drain this node.*instance destroy slurm-43" \
	"and says what slurmd will do and how to clean up by hand"
ok "it gave up after epilog_timeout (took $t s)" test "$t" -ge 2 -a "$t" -le 10
ok "bbd restarted" fixture_bbd_restart 0
epilog 43
is "$st" 0 "with the bbd back: the leftover is removed"
like "$(fixture_ebbctl --json instance list)" '^\[\]$' "nothing is left"

# bbd down when the Epilog starts, back within epilog_timeout
ok "instance slurm-44 created" fixture_ebbctl instance create slurm-44 --capacity 64MiB
fixture_bbd_kill 0
env -u EBB_NODES -u EBB_INSTANCE SLURM_JOB_ID=44 EBB_CONF="$D/ebb.conf" \
	"$EBB_EBBCTL" epilog --wait 60 >"$D/ep44.out" 2>&1 &
ep=$!
for ((i = 0; i < 100; i++)); do grep -q "does not answer" "$D/ep44.out" && break; sleep 0.1; done
like "$(cat "$D/ep44.out")" "job 44: the local bbd .* does not answer: .*; waiting up to 60 s" \
	"with the bbd down the Epilog waits for it"
ok "bbd restarted" fixture_bbd_restart 0
wait "$ep"
is "$?" 0 "once it answers, the Epilog goes on and exits 0"
like "$(cat "$D/ep44.out")" "job 44: the local bbd answers again" "... says it answers again"
like "$(cat "$D/ep44.out")" "job 44: slurm-44 is gone from this node" "... and removed the instance"
like "$(fixture_ebbctl --json instance list)" '^\[\]$' "nothing is left"
done_testing
