# SPDX-License-Identifier: GPL-2.0-or-later
# stage.t: #BB stage_in / stage_out on a real cluster with a real S3 (Ceph
# RGW, reached from the nodes through the test's s3proxy on the bridge).
#  (a) a 3-node job: data from S3 is in $EBB_JOB_DIR when it starts, every
#      node computes, the results are in S3 afterwards with FSx metadata,
#      and nothing is left on the nodes;
#  (b) a job array of 4 writes s3://.../%a/ without collisions;
#  (c) a stage_in of a missing object: requeued, then held, with the cause;
#  (d) a stage_out refused by S3 (the proxy answers 403 to every PUT): the
#      job ends, the data stays on the nodes (state kept), the nodes are
#      idle; `ebbctl stage retry` after the fault is gone finishes it and
#      the file system goes; a second such job is given up with
#      `ebbctl stage abandon`;
#  (e) slurmctld restarted during stage-in: the job runs with its whole
#      input and exports only what is new;
#  (f) slurmctld restarted during stage-out (its uploads held in the proxy
#      across the restart): the export finishes, every file is in S3
#      byte-identical, none was uploaded twice, nothing is left;
#  (g) a member's bbd killed (-9) during stage-out, its Epilog run while it
#      is down, then restarted: the export finishes by itself (no retry:
#      the member resumes from its done-log), every file is in S3, the
#      files finished before the kill were not uploaded again;
#  (h) the same with rank 0's bbd (the coordinator: it resumes from its
#      plan, the members from their done-logs).
. "$EBB_SRCDIR/tests/slurm/bb.sh"
. "$EBB_SRCDIR/tests/lib/rgw.sh"

fixture_init
slurm_require --bb ebb
rgw_start || bail "no S3 server"
s3_mb ebb-in && s3_mb ebb-out || bail "cannot create the buckets"
bb_setup --s3 --ebb-conf "stage_poll_interval = 200" \
	--ebb-conf "s3_allow = * s3://ebb-in/ r" \
	--ebb-conf "s3_allow = * s3://ebb-out/ rw" \
	--ebb-conf "max_create_attempts = 2" \
	--bbd-conf "s3_stall_timeout = 120s"
# ((f), (g) and (h) hold uploads in the proxy for a while: the S3 client
# must not give them up as stalled meanwhile, 30 s by default)
J=$SLURM_JOBS_DIR
uid=$(id -u ebbtest)

# the input: 40 small files, 2 of 12 MiB, an empty one, in a tree
src=$EBB_TEST_DIR/input
mkdir -p "$src/sub/deeper"
for i in $(seq 40); do head -c $((i * 1000)) /dev/urandom >"$src/small$i"; done
head -c 12582912 /dev/urandom >"$src/sub/big1"
head -c 12582913 /dev/urandom >"$src/sub/deeper/big2"
: >"$src/empty"
s3_aws s3 cp --quiet --recursive "$src" s3://ebb-in/data/ || bail "cannot upload the input"
(cd "$src" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$EBB_TEST_DIR/input.sums"

# ---- (a) stage in, compute on every node, stage out --------------------------
bb_job job.sh <<EOF
#!/bin/bash
#SBATCH -N 3 -o $J/job.out -e $J/job.err
#BB capacity=600MiB
#BB stage_in source=s3://ebb-in/data/ destination=input
#BB stage_out source=results destination=s3://ebb-out/run-%j/
set -e
cd "\$EBB_JOB_DIR"
(cd input && find . -type f -print0 | sort -z | xargs -0 sha256sum) >$J/job.sums
mkdir -p results
srun -N3 -n3 bash -c 'cd "\$EBB_JOB_DIR" && h=\$(hostname) &&
	cat input/small* input/sub/big1 | sha256sum >results/\$h.sum &&
	head -c 7000000 /dev/urandom >results/\$h.bin && chmod 640 results/\$h.bin'
EOF
j=$(slurm_submit job.sh)
ok "sbatch of a job with stage_in and stage_out" test -n "$j"
slurm_wait_job "$j" COMPLETED 180
ok "(a) the job COMPLETED" test $? -eq 0 || { diag_file "$J/job.err"; slurm_logs 30; }
is "$(cat "$J/job.sums" 2>/dev/null)" "$(cat "$EBB_TEST_DIR/input.sums")" \
	"(a) the input was in \$EBB_JOB_DIR when the job started, byte-identical"
out=$(s3_aws s3 ls --recursive "s3://ebb-out/run-$j/" | awk '{print $4}' | sort | tr '\n' ' ')
is "$out" "run-$j/n1.bin run-$j/n1.sum run-$j/n2.bin run-$j/n2.sum run-$j/n3.bin run-$j/n3.sum " \
	"(a) every node's results are in S3 under run-<job id>/"
s3_aws s3 cp --quiet "s3://ebb-out/run-$j/n1.sum" "$EBB_TEST_DIR/n1.sum"
is "$(cat "$EBB_TEST_DIR/n1.sum")" "$(cd "$src" && cat small* sub/big1 | sha256sum)" \
	"(a) a result computed from the staged input is right"
meta=$(s3_aws s3api head-object --bucket ebb-out --key "run-$j/n2.bin" --output json)
like "$meta" "\"file-owner\": \"$uid\"" "(a) the exported file carries its owner (x-amz-meta-file-owner)"
like "$meta" '"file-permissions": "0100640"' "(a) ... and its mode (x-amz-meta-file-permissions)"
like "$meta" '"file-mtime": "[0-9]+ns"' "(a) ... and its mtime in ns"
is "$(printf '%s' "$meta" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ContentLength"])')" 7000000 \
	"(a) ... and its size (a multipart upload of 7 MB)"
bb_clean "(a) after the job"
ok "(a) all nodes idle again" slurm_nodes_idle 30

# ---- (b) a job array writes %a prefixes --------------------------------------
bb_job arr.sh <<EOF
#!/bin/bash
#SBATCH -N 1 -o $J/arr-%a.out
#BB capacity=100MiB
#BB stage_out source=out destination=s3://ebb-out/arr-%A/%a/
mkdir -p "\$EBB_JOB_DIR/out" && echo "task \$SLURM_ARRAY_TASK_ID" >"\$EBB_JOB_DIR/out/task.txt"
EOF
j=$(slurm_submit --array=0-3 arr.sh)
ok "(b) sbatch of a job array of 4" test -n "$j"
for t in 0 1 2 3; do slurm_wait_job "${j}_$t" COMPLETED 180; done
for t in 0 1 2 3; do
	s3_aws s3 cp --quiet "s3://ebb-out/arr-$j/$t/task.txt" "$EBB_TEST_DIR/task$t.txt"
	is "$(cat "$EBB_TEST_DIR/task$t.txt" 2>/dev/null)" "task $t" "(b) task $t wrote arr-$j/$t/task.txt"
done
bb_clean "(b) after the array"

# ---- (c) stage-in failure: requeue, then hold with the cause -----------------
bb_job missing.sh <<EOF
#!/bin/bash
#SBATCH -N 2 -o $J/missing.out
#BB capacity=100MiB
#BB stage_in source=s3://ebb-in/no-such-object destination=x type=file
true
EOF
j=$(slurm_submit missing.sh)
for ((i = 0; i < 1200; i++)); do
	r=$(slurm_job_field "$j" Reason)
	[ "$(slurm_job_field "$j" Priority)" = 0 ] && [ "$(slurm_job_field "$j" JobState)" = PENDING ] && break
	sleep 0.1
done
is "$(slurm_job_field "$j" Priority)" 0 "(c) a job whose stage_in fails is held after max_create_attempts"
like "$(scontrol show job "$j")" "staging in .*no-such-object" \
	"(c) the job shows the stage-in failure and the object"
like "$(scontrol show job "$j")" "S3ObjectNotFound|NoSuchKey|404 NotFound" \
	"(c) ... and the cause"
scancel "$j"
bb_clean "(c) after the failed stage-in"

# ---- (d) stage-out failure keeps the data; retry / abandon -------------------
bb_job keep.sh <<EOF
#!/bin/bash
#SBATCH -N 3 -o $J/keep.out
#BB capacity=300MiB
#BB stage_out source=res destination=s3://ebb-out/keep-%j/
mkdir -p "\$EBB_JOB_DIR/res" && head -c 3000000 /dev/urandom >"\$EBB_JOB_DIR/res/r.bin"
sha256sum <"\$EBB_JOB_DIR/res/r.bin" >$J/keep.sum
EOF
# wait_kept JOB: until bbstat shows the job's allocation kept (max 180 s)
wait_kept() {
	local i
	for ((i = 0; i < 1800; i++)); do
		[[ $(scontrol show bbstat) =~ $1\ +[0-9]+\ +kept ]] && return 0
		sleep 0.1
	done
	return 1
}
s3proxy_set '{"rules":[{"fault":"refuse-put","rate":1.0}]}'
jk=$(slurm_submit keep.sh)
wait_kept "$jk"
like "$(scontrol show bbstat)" "$jk +[0-9]+ +kept" "(d) a refused export leaves the job's data kept"
like "$(scontrol show job "$jk")" "export failed" "(d) the job says the export failed"
ok "(d) the job's nodes return to service" slurm_nodes_idle 60
ok "(d) the data is still on the nodes" test -n "$(_bb_leftovers)"
s3proxy_set '{"rules":[]}'
ok "(d) ebbctl stage retry --job <job> (by the job's user) is accepted" \
	fixture_as ebbtest env SLURM_CONF="$SLURM_CONF" EBB_CONF="$EBB_CONF" "$EBB_EBBCTL" stage retry --job "$jk" --no-wait
for ((i = 0; i < 600; i++)); do bb_no_instances && break; sleep 0.2; done
s3_aws s3 cp --quiet "s3://ebb-out/keep-$jk/r.bin" "$EBB_TEST_DIR/keep.bin"
is "$(sha256sum <"$EBB_TEST_DIR/keep.bin" 2>/dev/null)" "$(cat "$J/keep.sum")" \
	"(d) after the retry the result is in S3, byte-identical"
bb_clean "(d) after the retried export"

# the first 3 PUTs answered 503 (retried), then every one refused
s3proxy_set '{"rules":[{"fault":"503","method":"PUT","count":3},{"fault":"refuse-put","rate":1.0}]}'
jk=$(slurm_submit keep.sh)
wait_kept "$jk"
like "$(scontrol show bbstat)" "$jk +[0-9]+ +kept" "(d) a second refused export is kept"
like "$(scontrol show bbstat)" "$jk +[0-9]+ +kept .*S3 retries [0-9]" \
	"(d) bbstat shows the export's S3 retries (3 answered 503)"
like "$(scontrol show bbstat json)" "\"retries\":[1-9]" \
	"(d) and its JSON has them"
ok "(d) ebbctl stage abandon --job <job> gives up" "$EBB_EBBCTL" stage abandon --job "$jk"
bb_clean "(d) after the abandoned export" 60
s3proxy_set '{"rules":[]}'

# ---- (e) slurmctld restarts during stage-in and stage-out --------------------
bb_job restart.sh <<EOF
#!/bin/bash
#SBATCH -N 3 -o $J/restart.out
#BB capacity=600MiB
#BB stage_in source=s3://ebb-in/data/ destination=input
#BB stage_out source=input destination=s3://ebb-out/restart-%j/
(cd "\$EBB_JOB_DIR/input" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >$J/restart.sums
touch "\$EBB_JOB_DIR/input/new-file"
EOF
s3proxy_set '{"rules":[{"fault":"stall","seconds":2,"rate":0.3,"method":["GET"]}]}'
j=$(slurm_submit restart.sh)
slurm_wait_bb "$j" staging-in 120
ok "(e) the job is staging in" test $? -eq 0
slurm_ctld_restart || bail "slurmctld did not come back"
slurm_wait_job "$j" COMPLETED 300
ok "(e) after a restart during stage-in the job completes" test $? -eq 0
is "$(cat "$J/restart.sums" 2>/dev/null)" "$(cat "$EBB_TEST_DIR/input.sums")" \
	"(e) ... with its whole input"
s3proxy_set '{"rules":[]}'
# only new or changed files are exported: new-file
out=$(s3_aws s3 ls --recursive "s3://ebb-out/restart-$j/" | awk '{print $4}' | tr '\n' ' ')
is "$out" "restart-$j/new-file " "(e) only the file that is new since stage-in is exported"
bb_clean "(e) after the restart"

# out_done JOB: files the job's stage out-0 has exported (rank 0's count: a
# file counts once its done-log line is written)
out_done() {
	"$EBB_EBBCTL" --json stage status --job "$1" out-0 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["files_done"])' 2>/dev/null
}

# exported_sums JOB PREFIX: "SHA256  ./FILE" of everything under
# s3://ebb-out/PREFIX-JOB/, downloaded with aws s3 cp --recursive
exported_sums() {
	local d=$EBB_TEST_DIR/dl-$2-$1
	rm -rf -- "$d"
	s3_aws s3 cp --quiet --recursive "s3://ebb-out/$2-$1/" "$d/" || return 1
	(cd "$d" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}

# ---- (f) slurmctld restarted during stage-out --------------------------------
# every node writes 8 files of 50..400 kB, n1 also one of 20 MB (a
# multipart upload)
bb_job ctld.sh <<EOF
#!/bin/bash
#SBATCH -N 3 -o $J/ctld.out -e $J/ctld.err
#BB capacity=600MiB
#BB stage_out source=res destination=s3://ebb-out/ctld-%j/
set -e
mkdir -p "\$EBB_JOB_DIR/res"
srun -N3 -n3 bash -c 'cd "\$EBB_JOB_DIR/res" && h=\$(hostname) &&
	for i in 1 2 3 4 5 6 7 8; do head -c \$((i * 50000)) /dev/urandom >\$h-\$i; done &&
	if [ \$h = n1 ]; then head -c 20000000 /dev/urandom >big; fi'
(cd "\$EBB_JOB_DIR/res" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >$J/ctld.sums
EOF
# the uploads wait in the proxy until the rules change: the export cannot
# end before slurmctld is back
s3proxy_set '{"rules":[{"fault":"hold","method":"PUT","key":"^ebb-out/ctld-","seconds":100}]}'
j=$(slurm_submit ctld.sh)
slurm_wait_bb "$j" staging-out 180
ok "(f) the job ended and is staging out" test $? -eq 0
for ((i = 0; i < 600; i++)); do [ "$(s3proxy_stat holding)" -gt 0 ] && break; sleep 0.1; done
ok "(f) its uploads are in flight (held by the proxy)" test "$(s3proxy_stat holding)" -gt 0
slurm_ctld_restart || bail "slurmctld did not come back"
is "$(slurm_job_field "$j" BurstBufferState)" staging-out "(f) after the restart the job is still staging out"
s3proxy_set '{"rules":[]}'
slurm_wait_bb "$j" complete 300
ok "(f) the export finished and the file system was removed (not kept)" test $? -eq 0 ||
	{ diag "$(scontrol show bbstat)"; slurm_logs 30; }
slurm_wait_job "$j" COMPLETED 60
ok "(f) the job COMPLETED" test $? -eq 0
is "$(wc -l <"$J/ctld.sums")" 25 "(f) the job wrote 25 files"
is "$(exported_sums "$j" ctld)" "$(cat "$J/ctld.sums")" \
	"(f) every file is in S3 (aws s3 cp --recursive), byte-identical"
puts=$(s3proxy_keys PUT "ebb-out/ctld-$j/")
is "$(printf '%s\n' "$puts" | grep -vc ' part ')" 24 "(f) the 24 small files were PUT"
like "$(printf '%s\n' "$puts" | grep -c ' part ')" '^[2-9]$' "(f) the big one in parts"
is "$(printf '%s\n' "$puts" | awk '$1 != 1')" "" "(f) no file or part was uploaded twice"
bb_clean "(f) after the restart during stage-out"
ok "(f) all nodes idle" slurm_nodes_idle 30

# ---- (g), (h) a bbd killed during stage-out ----------------------------------
# free-* files go out at once; held-* ones (4 small per node, a 20 MB one
# on n1) wait in the proxy while one node's bbd is killed and restarted
bb_job kill.sh <<EOF
#!/bin/bash
#SBATCH -N 3 -o $J/kill-%j.out -e $J/kill-%j.err
#BB capacity=600MiB
#BB stage_out source=res destination=s3://ebb-out/kill-%j/
set -e
mkdir -p "\$EBB_JOB_DIR/res"
srun -N3 -n3 bash -c 'cd "\$EBB_JOB_DIR/res" && h=\$(hostname) &&
	for i in 1 2 3 4 5 6 7 8; do head -c \$((i * 40000)) /dev/urandom >free-\$h-\$i; done &&
	for i in 1 2 3 4; do head -c \$((i * 60000)) /dev/urandom >held-\$h-\$i; done &&
	if [ \$h = n1 ]; then head -c 20000000 /dev/urandom >held-big; fi'
(cd "\$EBB_JOB_DIR/res" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >$J/kill-\$SLURM_JOB_ID.sums
EOF

# kill_during_stage_out PART K WHAT: kill.sh's export, node K's bbd killed
# (-9) while it runs, every Epilog held until then so that K's runs with
# its bbd down; then bbd restarts and the held uploads go on
kill_during_stage_out() {
	local p=$1 k=$2 what=$3 j i puts max
	touch "$SLURM_DIR/epilog.hold"
	s3proxy_set '{"rules":[{"fault":"hold","method":"PUT","key":"^ebb-out/kill-[0-9]+/held-","seconds":100}]}'
	j=$(slurm_submit kill.sh)
	slurm_wait_bb "$j" staging-out 180
	ok "($p) the job ended and is staging out" test $? -eq 0
	# 24 free files done (in the members' done-logs: rank 0 counts a file
	# once they reported it); 12 small held ones and the 3 parts of the
	# big one in flight
	for ((i = 0; i < 1200; i++)); do
		[ "$(out_done "$j")" = 24 ] && [ "$(s3proxy_stat holding)" = 15 ] && break
		sleep 0.1
	done
	is "$(out_done "$j")" 24 "($p) the 24 free files are exported"
	is "$(s3proxy_stat holding)" 15 "($p) the 12 small held files and the 3 parts of the big one are in flight"
	ok "($p) n$k's bbd ($what) killed (-9)" slurm_node_bbd_kill "$k" KILL
	# the Epilogs run now; n$k's finds its bbd down
	rm -f "$SLURM_DIR/epilog.hold"
	for ((i = 0; i < 600; i++)); do
		grep -q "^ebbctl epilog: job $j:" "$EBB_TEST_DIR/epilog-n$k.log" 2>/dev/null && break
		sleep 0.1
	done
	like "$(grep "^ebbctl epilog: job $j:" "$EBB_TEST_DIR/epilog-n$k.log" 2>/dev/null)" "." \
		"($p) n$k's Epilog ran while its bbd was down"
	diag "n$k's Epilog: $(grep "^ebbctl epilog: job $j:" "$EBB_TEST_DIR/epilog-n$k.log" | head -1)"
	ok "($p) n$k's bbd restarted" slurm_node_bbd_restart "$k"
	s3proxy_set '{"rules":[]}'
	slurm_wait_bb "$j" complete 300
	ok "($p) the export finished by itself and the file system was removed (not kept)" test $? -eq 0 ||
		{ diag "$(scontrol show bbstat)"; slurm_logs 30; }
	slurm_wait_job "$j" COMPLETED 60
	ok "($p) the job COMPLETED" test $? -eq 0
	is "$(wc -l <"$J/kill-$j.sums")" 37 "($p) the job wrote 37 files"
	is "$(exported_sums "$j" kill)" "$(cat "$J/kill-$j.sums")" \
		"($p) every file is in S3 (aws s3 cp --recursive), byte-identical"
	puts=$(s3proxy_keys PUT "ebb-out/kill-$j/")
	is "$(printf '%s\n' "$puts" | grep -c "/free-")" 24 "($p) the 24 free files were PUT"
	is "$(printf '%s\n' "$puts" | grep "/free-" | awk '$1 != 1')" "" \
		"($p) ... once each: files finished before the kill were not uploaded again"
	# in flight at the kill: once more; when rank 0 is the one killed, a
	# unit restarted by the new coordinator run whose own request was still
	# held can go once more again (seen once in CI since stripe 0 lives on
	# the creating node: 3 PUTs of a part; NOTES.md, next steps)
	max=2; [ "$k" = 1 ] && max=3
	is "$(printf '%s\n' "$puts" | grep "/held-" | awk -v m=$max '$1 > m')" "" \
		"($p) a held file or part was uploaded at most $max times (in flight at the kill: once more)"
	diag "held files or parts uploaded twice (in flight at the kill): $(printf '%s\n' "$puts" | grep "/held-" | awk '$1 == 2' | wc -l)"
	bb_clean "($p) after the bbd kill during stage-out" 40
	ok "($p) all nodes idle (none drained)" slurm_nodes_idle 30
}

kill_during_stage_out g 2 "a member"
kill_during_stage_out h 1 "rank 0, the coordinator"

done_testing
