# SPDX-License-Identifier: GPL-2.0-or-later
# faults.t: what happens to a #BB job when things go wrong, on a real
# cluster, with real daemons stopped or killed (docs/slurm.md, "When
# things go wrong", promises each outcome checked here):
# - scancel while the file system is being created (CONFIGURING): the job
#   is CANCELLED, every node is cleaned and goes back to idle;
# - creation fails (a node's bbd is down): the job is requeued with a
#   SystemComment naming the cause, then held after max_create_attempts;
#   released once the bbd is back, it runs;
# - a node's bbd is killed while the job runs: the job ends NODE_FAIL with
#   a reason naming the node, the other nodes are cleaned, and the killed
#   node's share is removed once its bbd is back; a requeued job waits for
#   Slurm's credential window (cred_expire, 5 s here) before it runs again.
. "$EBB_SRCDIR/tests/slurm/bb.sh"

bb_setup --ebb-conf "max_create_attempts = 2"
J=$SLURM_JOBS_DIR

# ---- scancel during CONFIGURING ----------------------------------------------
bb_job quick.sh <<EOF
#!/bin/bash
#SBATCH -N 3 -o /dev/null -e /dev/null
#BB capacity=96MiB
true
EOF
# n3's bbd stopped: creation waits for it, so the job stays CONFIGURING
kill -STOP "${SLURM_BBD_PIDS[3]}"
j=$(slurm_submit quick.sh)
slurm_wait_job "$j" CONFIGURING 30
ok "with n3's bbd stopped the job waits in CONFIGURING" test $? -eq 0
is "$(slurm_job_field "$j" BurstBufferState)" allocating "BurstBufferState=allocating"
ok "scancel during CONFIGURING" scancel "$j"
# the teardown waits for n3 too: it is STAGE_OUT until n3 answers
sleep 1
is "$(slurm_job_field "$j" BurstBufferState)" teardown "BurstBufferState=teardown while n3 is stopped"
kill -CONT "${SLURM_BBD_PIDS[3]}"
slurm_wait_job "$j" CANCELLED 40
ok "the job is CANCELLED once n3 answers" test $? -eq 0
bb_clean "after scancel during CONFIGURING" 40
ok "the nodes are idle again" slurm_nodes_idle 40

# ---- creation fails: requeued, then held -------------------------------------
# n3's bbd offers less than Slurm believes (TmpDisk): creating the job's
# share there fails with ENOSPC, every time, while the bbd stays up (so the
# Epilog works and no node is drained).
_slurm_bbd_args[3]="--capacity 16MiB"
ok "n3's bbd restarted offering only 16 MiB (the share is 32 MiB)" slurm_node_bbd_restart 3
j=$(slurm_submit quick.sh)
# (a requeued job waits for Slurm's next scheduling of requeued jobs, up to
# a minute here)
for ((i = 0; i < 1500; i++)); do
	[ "$(slurm_job_field "$j" Priority)" = 0 ] && break
	sleep 0.1
done
is "$(slurm_job_field "$j" Priority)" 0 "after 2 failed creations the job is held (Priority=0)"
# (COMPLETING until the nodes' Epilogs of the last attempt are done)
slurm_wait_job "$j" PENDING 30
ok "and PENDING" test $? -eq 0
like "$(slurm_job_field "$j" Reason)" "^ebb:_creating_the_file_system_.*held_after_repeated_failures" \
	"Reason says why and that it was held"
like "$(slurm_job_field "$j" SystemComment)" "attempt 1 of 2\) failed: ${SLURM_NODE_ADDRS[3]}:$EBB_SLURM_BBD_PORT: not enough space on this node: 32 MiB asked, 16 MiB offered .*attempt 2 of 2\) failed: ${SLURM_NODE_ADDRS[3]}" \
	"SystemComment has both attempts, each naming the node that refused and why"
bb_clean "after the failed creations"
ok "the nodes are idle (none drained)" slurm_nodes_idle 30
_slurm_bbd_args[3]=
ok "n3's bbd restarted with its full capacity" slurm_node_bbd_restart 3
ok "scontrol release of the held job" scontrol release "$j"
slurm_wait_bb "$j" complete 60
ok "released, the job runs and its file system is removed" test $? -eq 0
slurm_wait_job "$j" COMPLETED 30
ok "it COMPLETED" test $? -eq 0
bb_clean "after the released job"

# ---- a bbd killed during the job ---------------------------------------------
bb_job hold.sh <<EOF
#!/bin/bash
#SBATCH -N 3 -o $J/hold.out -e $J/hold.err
#BB capacity=96MiB
srun -N3 -n3 bash -c 'echo x >"\$EBB_JOB_DIR/f.\$(hostname)"'
for i in \$(seq 600); do [ -e $J/hold.go ] && break; sleep 0.1; done
EOF
j=$(slurm_submit hold.sh)
slurm_wait_job "$j" RUNNING 60
ok "the job runs" test $? -eq 0
for ((i = 0; i < 100; i++)); do [ -s "$J/hold.out" ] || [ -n "$(slurm_node_exec 1 ls "$SLURM_MOUNT_ROOT/slurm-$j" 2>/dev/null)" ] && break; sleep 0.1; done
slurm_node_bbd_kill 2
# the plugin notices within two health polls (1 s each here)
for ((i = 0; i < 200; i++)); do
	[[ $(slurm_job_field "$j" Reason) == *n2* ]] && break
	sleep 0.1
done
like "$(slurm_job_field "$j" Reason)" "ebb:_bbd_on_n2_.*does_not_answer" "the job's Reason names n2's bbd"
like "$(slurm_job_field "$j" SystemComment)" "bbd on n2 .* does not answer" "so does its SystemComment"
is "$(slurm_job_field "$j" BurstBufferState)" teardown "its file system is being torn down"
# n1 and n3 are cleaned at once; the job stays STAGE_OUT until n2 is too
for k in 1 3; do
	for ((i = 0; i < 200; i++)); do
		[ "$("$EBB_EBBCTL" -n "${SLURM_NODE_ADDRS[k]}:$EBB_SLURM_BBD_PORT" --json instance list 2>&1)" = "[]" ] && break
		sleep 0.1
	done
	is "$("$EBB_EBBCTL" -n "${SLURM_NODE_ADDRS[k]}:$EBB_SLURM_BBD_PORT" --json instance list 2>&1)" "[]" \
		"n$k holds nothing of the failed job"
done
ok "n2's bbd is back" slurm_node_bbd_restart 2
slurm_wait_job "$j" NODE_FAIL 30
ok "the job ends NODE_FAIL" test $? -eq 0
bb_clean "after the node failure, once n2's bbd is back" 40
ok "the nodes are idle again" slurm_nodes_idle 40
touch "$J/hold.go"
done_testing
