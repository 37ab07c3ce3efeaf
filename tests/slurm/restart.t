# SPDX-License-Identifier: GPL-2.0-or-later
# restart.t: slurmctld restarted at each step of a #BB job's life; every
# case ends as docs/slurm.md ("State and restarts") promises, with nothing
# left on any node:
# (a) while CONFIGURING (creation held up by a stopped bbd): after the
#     restart the creation is redone, the job is released once its nodes
#     have registered again, and it runs (srun on every node) and completes;
# (b) while RUNNING: the job keeps its file system and completes; its
#     cache=writeback is still in bbstat (kept in the state file);
# (c) during teardown (removal held up by a stopped bbd): after the
#     restart the removal is finished and the job completes;
# (d) slurmctld killed and the plugin's state file destroyed while a job
#     runs: the plugin says so in slurmctld's log, and once the job is over
#     its file system is still removed (Epilog and the orphan sweep).
. "$EBB_SRCDIR/tests/slurm/bb.sh"

bb_setup
J=$SLURM_JOBS_DIR

# a job that proves its file system works from every node (an srun step:
# right after a restart, slurmctld refuses steps on nodes that have not
# registered again, so the plugin holds the job in CONFIGURING until they
# have) and waits for a go file
job() {   # NAME [CAPACITY-LINE-OPTIONS]
	local write="srun -N3 -n3 bash -c 'echo \"\$(hostname)\" >\"\$EBB_JOB_DIR/\$(hostname)\"'"
	bb_job "$1.sh" <<EOF
#!/bin/bash
#SBATCH -N 3 -o $J/$1.out -e $J/$1.err
#BB capacity=96MiB${2:-}
$write
cat "\$EBB_JOB_DIR"/n1 "\$EBB_JOB_DIR"/n2 "\$EBB_JOB_DIR"/n3 | tr '\n' ' '
for i in \$(seq 900); do [ -e $J/$1.go ] && break; sleep 0.1; done
EOF
}

finish() {   # NAME JOBID
	slurm_wait_bb "$2" complete 60
	ok "($1) the job's file system is removed" test $? -eq 0
	slurm_wait_job "$2" COMPLETED 30
	ok "($1) the job COMPLETED" test $? -eq 0
	is "$(cat "$J/$1.out")" "n1 n2 n3 " "($1) every node wrote into the shared file system"
	bb_clean "($1)"
	ok "($1) all nodes idle" slurm_nodes_idle 30
}

# ---- (a) while CONFIGURING ---------------------------------------------------
job a
touch "$J/a.go"
kill -STOP "${SLURM_BBD_PIDS[3]}"
j=$(slurm_submit a.sh)
slurm_wait_job "$j" CONFIGURING 30
ok "(a) the job is CONFIGURING (n3's bbd stopped)" test $? -eq 0
ok "(a) slurmctld restarted" slurm_ctld_restart
kill -CONT "${SLURM_BBD_PIDS[3]}"
like "$(slurm_job_field "$j" JobState)" "CONFIGURING|RUNNING|COMPLETING|COMPLETED" \
	"(a) after the restart the job is still alive"
finish a "$j"

# ---- (b) while RUNNING -------------------------------------------------------
job b " cache=writeback"
j=$(slurm_submit b.sh)
slurm_wait_job "$j" RUNNING 60
ok "(b) the job runs" test $? -eq 0
for ((i = 0; i < 100; i++)); do [ -s "$J/b.out" ] && break; sleep 0.1; done
ok "(b) slurmctld restarted" slurm_ctld_restart
is "$(slurm_job_field "$j" JobState)" RUNNING "(b) the job still runs"
for ((i = 0; i < 50; i++)); do
	[[ $(scontrol show bbstat) =~ $j\ +[0-9]+\ +ready ]] && break
	sleep 0.1
done
like "$(scontrol show bbstat)" "$j +[0-9]+ +ready" "(b) the plugin restored its allocation"
like "$(scontrol show burst)" "JobID=$j .*State=allocated" "(b) scontrol show burst still lists it"
like "$(scontrol show bbstat)" "$j +[0-9]+ +ready .*writeback cache;" \
	"(b) with its cache=writeback (from the state file)"
touch "$J/b.go"
finish b "$j"

# ---- (c) during teardown -----------------------------------------------------
job c
j=$(slurm_submit c.sh)
slurm_wait_job "$j" RUNNING 60
for ((i = 0; i < 100; i++)); do [ -s "$J/c.out" ] && break; sleep 0.1; done
kill -STOP "${SLURM_BBD_PIDS[2]}"
touch "$J/c.go"
slurm_wait_bb "$j" teardown 30
ok "(c) the job ended and its teardown waits for n2's stopped bbd" test $? -eq 0
ok "(c) slurmctld restarted during the teardown" slurm_ctld_restart
kill -CONT "${SLURM_BBD_PIDS[2]}"
finish c "$j"

# ---- (d) state file destroyed ------------------------------------------------
job d
j=$(slurm_submit d.sh)
slurm_wait_job "$j" RUNNING 60
ok "(d) the job runs" test $? -eq 0
for ((i = 0; i < 100; i++)); do [ -s "$J/d.out" ] && break; sleep 0.1; done
state=$SLURM_DIR/state/burst_buffer_ebb_state
ok "(d) the plugin's state file exists" test -s "$state"
# slurmctld crashes (SIGKILL: no state saved at exit) and the file is lost
kill -KILL "$SLURM_CTLD_PID"
for ((i = 0; i < 50; i++)); do kill -0 "$SLURM_CTLD_PID" 2>/dev/null || break; sleep 0.1; done
printf 'not a state file\n\x00\xff\n' >"$state"
ok "(d) slurmctld restarted over a garbage state file" slurm_ctld_restart
like "$(grep 'burst_buffer/ebb' "$EBB_TEST_DIR/slurmctld.log" | tail -5)" \
	"is not an ebb state file \(version 1\); ignored, the sweep will remove what it described" \
	"(d) slurmctld's log says the state file was ignored and why"
# What Slurm itself makes of the job after losing up to a few seconds of
# its own state is Slurm's business (here it is often requeued and held:
# "launch failed requeued held"); whatever it is, once the job is over,
# nothing of its file system may be left.
touch "$J/d.go"
scancel "$j" 2>/dev/null
for ((i = 0; i < 600; i++)); do
	case $(slurm_job_field "$j" JobState) in
	COMPLETED | CANCELLED | FAILED | NODE_FAIL | "") break ;;
	esac
	sleep 0.1
done
st=$(slurm_job_field "$j" JobState)
case $st in
COMPLETED | CANCELLED | FAILED | "") ok "(d) the job is over (${st:-its record was lost with the state of slurmctld})" true ;;
*) not_ok "(d) the job is over (it is $st)" true ;;
esac
bb_clean "(d) after the job whose allocation the plugin had lost" 40
ok "(d) all nodes idle" slurm_nodes_idle 40
done_testing
