# SPDX-License-Identifier: GPL-2.0-or-later
# many.t: 20 #BB jobs submitted at once on the 3 nodes (1, 2 and 3 nodes
# each, so they queue, share nodes and reuse them as others end).  Each
# writes a file with a known checksum through its own file system and
# reads it back from every node; all complete and nothing is left.
. "$EBB_SRCDIR/tests/slurm/bb.sh"

bb_setup
J=$SLURM_JOBS_DIR
N=20
jobs=()
for ((i = 1; i <= N; i++)); do
	n=$(( (i - 1) % 3 + 1 ))
	bb_job "m$i.sh" <<EOF
#!/bin/bash
#SBATCH -N $n -n $n -o $J/m$i.out -e $J/m$i.err
#BB capacity=$((32 * n))MiB
set -e
yes "job $i" | head -c 1048576 >"\$EBB_JOB_DIR/data"
sum=\$(sha256sum <"\$EBB_JOB_DIR/data")
srun bash -c 'sha256sum <"\$EBB_JOB_DIR/data"' | sort -u | while read -r s _; do
	[ "\$s  -" = "\$sum" ] || [ "\$s" = "\${sum%% *}" ] || { echo "mismatch \$s"; exit 1; }
done
ls "\$EBB_JOB_DIR" | tr '\n' ' '
echo "$i ok"
EOF
done
for ((i = 1; i <= N; i++)); do
	j=$(slurm_submit "m$i.sh") || break
	jobs+=("$j")
done
is "${#jobs[@]}" "$N" "$N jobs submitted at once"
# Wait for all of them at once (a finished job's record is purged after
# MinJobAge, 10 s here, so waiting for one after another could miss some):
# done = its output is complete; the teardowns are checked by bb_clean.
done_ok=0
for ((t = 0; t < 1800 && done_ok < N; t++)); do
	done_ok=0
	for ((i = 1; i <= N; i++)); do
		[ "$(cat "$J/m$i.out" 2>/dev/null)" = "data $i ok" ] && done_ok=$((done_ok + 1))
	done
	[ "$done_ok" -lt "$N" ] && sleep 0.1
done
for ((i = 1; i <= N; i++)); do
	[ "$(cat "$J/m$i.out" 2>/dev/null)" = "data $i ok" ] ||
		diag "job ${jobs[i - 1]} (m$i): $(cat "$J/m$i.out" "$J/m$i.err" 2>&1)"
done
is "$done_ok" "$N" "all $N jobs completed, each read back its own data on every node"
bb_clean "after $N jobs" 60
ok "all nodes idle" slurm_nodes_idle 30
for ((i = 0; i < 100; i++)); do
	[ "$(scontrol show burst | grep -c 'JobID=')" = 0 ] && break
	sleep 0.1
done
is "$(scontrol show burst | grep -c 'JobID=')" 0 "no allocation left in scontrol show burst"
done_testing
