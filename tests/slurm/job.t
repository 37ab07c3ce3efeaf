# SPDX-License-Identifier: GPL-2.0-or-later
# job.t: a 3-node #BB job end to end on a real cluster (3 namespaced nodes,
# each with its own slurmd, bbd and /mnt/ebb).  Every node writes its own
# file into $EBB_JOB_DIR and every node reads all three back; while the job
# runs, scontrol shows the allocation; after it, nothing is left anywhere.
# A job without #BB lines is not touched; sbatch --bb works like #BB.
. "$EBB_SRCDIR/tests/slurm/bb.sh"

bb_setup
J=$SLURM_JOBS_DIR

bb_job three.sh <<EOF
#!/bin/bash
#SBATCH -N 3 -o $J/three.out -e $J/three.err
#BB capacity=300MiB
set -e
echo "dir=\$EBB_JOB_DIR instance=\$EBB_INSTANCE nodes=\$EBB_NODES"
# every node writes 8 MiB of its own and its checksum
srun -N3 -n3 bash -c 'h=\$(hostname); head -c 8388608 /dev/urandom >"\$EBB_JOB_DIR/data.\$h"
	cd "\$EBB_JOB_DIR" && sha256sum "data.\$h" >"sum.\$h"'
# every node checks all three
srun -N3 -n3 bash -c 'cd "\$EBB_JOB_DIR" && cat sum.* | sha256sum -c --quiet && echo "\$(hostname) read 3 files ok"' >$J/three.check
df -B1M --output=size "\$EBB_JOB_DIR" | tail -1 >$J/three.df
# hold the job so the test can look at it
for i in \$(seq 600); do [ -e $J/three.go ] && break; sleep 0.1; done
EOF

j=$(slurm_submit three.sh)
ok "sbatch of a 3-node #BB job" test -n "$j"
slurm_wait_job "$j" RUNNING 60
ok "the job runs" test $? -eq 0
is "$(slurm_job_field "$j" BurstBufferState)" running "BurstBufferState=running"
like "$(slurm_job_field "$j" BurstBuffer)" '#BB capacity=300MiB' "BurstBuffer= shows the directive"
for ((i = 0; i < 300; i++)); do [ -s "$J/three.df" ] && break; sleep 0.1; done
burst=$(scontrol show burst)
like "$burst" "JobID=$j .*Size=300MiB State=allocated UserID=ebbtest" \
	"scontrol show burst lists the allocation (size, state, user)"
like "$burst" "PoolName\[0\]=nvme .*TotalSpace=24GiB" \
	"scontrol show burst shows the pool summed over the 3 nodes"
like "$(scontrol show bbstat)" "$j +[0-9]+ +ready" "scontrol show bbstat lists the job as ready"
like "$("$EBB_EBBCTL" status --cluster)" "n2 +${SLURM_NODE_ADDRS[2]}:$EBB_SLURM_BBD_PORT +yes" \
	"ebbctl status --cluster shows every node's bbd"
is "$(sed -n 's/.*dir=\([^ ]*\).*/\1/p' "$J/three.out")" "$SLURM_MOUNT_ROOT/slurm-$j" \
	"EBB_JOB_DIR is <mount_root>/slurm-<job id>"
for k in 1 2 3; do
	ok "n$k: the job's file system is mounted in the node" \
		slurm_node_exec "$k" mountpoint -q "$SLURM_MOUNT_ROOT/slurm-$j"
done
ok "the host's $SLURM_MOUNT_ROOT does not show it" test ! -e "$SLURM_MOUNT_ROOT/slurm-$j"
is "$(sort "$J/three.check" | tr '\n' ' ')" "n1 read 3 files ok n2 read 3 files ok n3 read 3 files ok " \
	"each node read the files of all three with matching checksums"
is "$(tr -d ' ' <"$J/three.df")" 300 "df in the job shows the capacity asked for (300 MiB)"
touch "$J/three.go"
slurm_wait_bb "$j" complete 60
ok "BurstBufferState=complete after the job" test $? -eq 0
slurm_wait_job "$j" COMPLETED 30
ok "the job COMPLETED" test $? -eq 0
bb_clean "after the job"
ok "all nodes idle again" slurm_nodes_idle 30
case $(scontrol show burst) in
*"JobID=$j "*) not_ok "the allocation is gone from scontrol show burst" true ;;
*) ok "the allocation is gone from scontrol show burst" true ;;
esac

# a job without #BB lines is not touched: no BurstBuffer, no file system
bb_job plain.sh <<EOF
#!/bin/bash
#SBATCH -N 2 -o $J/plain.out -e $J/plain.err
echo "EBB_JOB_DIR=[\${EBB_JOB_DIR:-}]"
EOF
j=$(slurm_submit plain.sh)
slurm_wait_job "$j" COMPLETED 60
ok "a job without #BB lines completes" test $? -eq 0
is "$(slurm_job_field "$j" BurstBuffer)" "" "it has no BurstBuffer"
is "$(cat "$J/plain.out")" "EBB_JOB_DIR=[]" "and no EBB_JOB_DIR"
ok "and no instance was made for it" bb_no_instances

# sbatch --bb instead of #BB lines, with cache=writeback: the node's
# ebb-fuse for the job runs with --cache writeback
bb_job bbopt.sh <<EOF
#!/bin/bash
#SBATCH -N 1 -o $J/bbopt.out -e $J/bbopt.err
df -B1M --output=size "\$EBB_JOB_DIR" | tail -1
for p in \$(pgrep -x ebb-fuse); do tr '\\0' ' ' </proc/\$p/cmdline; echo; done |
	grep -c -- "--instance \$EBB_INSTANCE .*--cache writeback" >$J/bbopt.wb
EOF
j=$(slurm_submit --bb "capacity=64MiB cache=writeback" bbopt.sh)
slurm_wait_bb "$j" complete 60
ok "a job with sbatch --bb \"capacity=64MiB cache=writeback\" runs and is torn down" test $? -eq 0
is "$(tr -d ' ' <"$J/bbopt.out")" 64 "its file system has 64 MiB"
is "$(cat "$J/bbopt.wb")" 1 "its ebb-fuse ran with --cache writeback"
bb_clean "after the --bb job"
done_testing
