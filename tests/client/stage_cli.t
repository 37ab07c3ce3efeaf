# SPDX-License-Identifier: GPL-2.0-or-later
# stage_cli.t: ebbctl's stage commands (import, export, stage status /
# retry / cancel / abandon) against 3 real bbd.
#  1. usage errors: exit 2 and a message saying what is wrong;
#  2. a stage on an instance that does not exist: exit 1, named clearly;
#     without the stage engine in libebb: exit 1, said so;
#  3. starting and following, with libebb's stage calls replaced by
#     tests/client/libfakestage.so (LD_PRELOAD; no S3): progress lines,
#     exit 0 done / 1 failed with the first failures and the report,
#     retry, --no-wait, status table / detail / --json, Ctrl-C (130, the
#     stage keeps running), cancel, abandon, the spec ebbctl sends (owner,
#     members, job id), a progress bar on a terminal;
#  4. an import/export round trip against a real Ceph RGW (tests/lib/rgw.sh)
#     once the stage engine is in the build; skipped otherwise.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_init
fixture_attached || fixture_require_root
[ -x "$EBB_EBBCTL" ] || bail "ebbctl not built ($EBB_EBBCTL)"
command -v python3 >/dev/null || skip_all "python3 is needed to parse --json"
D=$EBB_TEST_DIR
export EBB_TIMEOUT_MS=10000
FAKE=$EBB_BUILDDIR/tests/client/.libs/libfakestage.so
LIBEBB=$EBB_BUILDDIR/client-lib/.libs/libebb.so
ENGINE=
nm -D "$LIBEBB" 2>/dev/null | grep -Eq ' T ebb_stage_start(@|$)' && ENGINE=1

# The round trip needs the engine, the RGW fixture and its tools; bbd must
# get its s3_* keys at start, so the RGW comes first.
RT_SKIP=
if [ -z "$ENGINE" ]; then
	RT_SKIP="stage engine not in this build"
elif [ ! -r "$EBB_SRCDIR/tests/lib/rgw.sh" ]; then
	RT_SKIP="no RGW fixture (tests/lib/rgw.sh)"
elif fixture_attached; then
	RT_SKIP="needs bbd started with an ebb.conf for the RGW: not with EBB_NODES"
fi
BBD_ARGS=()
if [ -z "$RT_SKIP" ]; then
	. "$EBB_SRCDIR/tests/lib/rgw.sh"
	if rgw_start; then
		cat >"$D/ebb.conf" <<-EOF
		s3_endpoint = $EBB_S3_ENDPOINT
		s3_region = ${EBB_S3_REGION:-us-east-1}
		s3_addressing = path
		s3_credentials_file = $AWS_SHARED_CREDENTIALS_FILE
		s3_allow = * s3://ebb-stage-t/ rw
		EOF
		BBD_ARGS=(--config "$D/ebb.conf")
	else
		RT_SKIP="the RGW did not start"
	fi
fi
fixture_munged || bail "could not start munged"
fixture_bbd 3 "${BBD_ARGS[@]}" || bail "could not start 3 bbd"
N0=${EBB_NODE_LIST[0]}

# run ARGS...: ebbctl with the test's nodes; stdout in $out, stderr in
# $err, exit status in $st.
run() {
	out=$(fixture_ebbctl "$@" 2>"$D/err")
	st=$?
	err=$(cat "$D/err")
	return 0
}
# frun ARGS...: the same with the fake stage calls preloaded.
frun() {
	out=$(LD_PRELOAD=$FAKE EBB_FAKE_STAGE_DIR=$D/fake fixture_ebbctl "$@" 2>"$D/err")
	st=$?
	err=$(cat "$D/err")
	return 0
}
# wait_for FILE REGEX: until FILE has a line matching REGEX (20 s).
wait_for() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	diag "$1 never showed /$2/"
	return 1
}
json() {
	printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1" 2>&1
}

# ---- 1. usage errors ---------------------------------------------------------
usage() {   # REGEX ARGS...: exit 2 and the message
	local re=$1
	shift
	run "$@"
	is "$st" 2 "usage error: ebbctl $*" && like "$err" "$re" "  says: $re"
}
usage "expected s3://BUCKET/PREFIX PATH" -i x import
usage "expected s3://BUCKET/PREFIX PATH" -i x import s3://bkt/p/
usage "too many arguments" -i x import s3://bkt/p/ /a /b
usage "wrong order: import copies FROM S3.*s3://BUCKET/PREFIX first" -i x import /data s3://bkt/p/
usage "'b/p/' is not an S3 URL: write s3://BUCKET/PREFIX" -i x import b/p/ /data
usage "bucket name 'B_x'" -i x import s3://B_x/p/ /data
usage "'s3://' has no bucket name" -i x import s3:// /data
usage "wrong order: export copies from the instance TO S3: PATH first" -i x export s3://bkt/p/ /data
usage "not a path in the instance" -i x import s3://bkt/p/ s3://ckt/q/
usage "--type: 'blob' is not file or directory" -i x import --type blob s3://bkt/p/ /d
usage "--name: 'a/b' is not 1..32" -i x import --name a/b s3://bkt/p/ /d
usage "--name: '.{33}' is not 1..32" -i x export --name "$(printf 'n%.0s' {1..33})" /d s3://bkt/p/
usage "--interval: '0' is not a number of seconds" -i x import --interval 0 s3://bkt/p/ /d
usage "no instance: give -i ID or set EBB_INSTANCE" import s3://bkt/p/ /d
usage "stage: expected status, retry, cancel or abandon" stage
usage "unknown command 'stage frob'" stage frob
usage "missing stage NAME" -i x stage retry
usage "missing stage NAME" -i x stage cancel
usage "unexpected argument 'b'" -i x stage abandon a b
usage "'x/y' is not a stage name" -i x stage cancel x/y
usage "--follow needs a stage NAME" -i x stage status --follow
usage "--type and --name belong to import and export" -i x stage retry --name n n
usage "unknown option '--frob'" -i x stage status --frob
run import --help
is "$st" 0 "import --help exits 0"
like "$out" "Ctrl-C stops following, not the stage" "and explains following"
run stage --help
like "$out" "stage abandon" "stage --help lists the stage commands"
run stage abandon --help
like "$out" "stage abandon -i ID NAME \\| --job JOBID \\[NAME\\]" "abandon --help shows the JOB-id form"
usage "--job: 'abc' is not a Slurm job id" stage status --job abc
usage "--job 77 is instance slurm-77, -i says x: give one" -i x stage cancel --job 77 n

# ---- 2. missing instance, missing engine ---------------------------------------
run -i nosuch import s3://bkt/p/ /d
is "$st" 1 "import into a missing instance: exit 1"
like "$err" "no instance 'nosuch' on node $N0" "  names the instance and the node asked"
run -i nosuch stage status
is "$st" 1 "stage status of a missing instance: exit 1"
like "$err" "no instance 'nosuch'" "  same message"
I=st-$$
ok "instance $I on 3 bbd" fixture_ebbctl -q instance create "$I" --capacity 64MiB
if [ -z "$ENGINE" ]; then
	run -i "$I" import s3://bkt/p/ /d
	is "$st" 1 "libebb without the stage engine: exit 1"
	like "$err" "stage engine is not in this build.*nothing was done" "  and says so"
	run -i "$I" stage status
	is "$st" 1 "stage status without the engine: exit 1"
else
	skip "the stage engine is in this build" 3
fi

# ---- 3. following, with the fake stage calls ------------------------------------
if [ ! -r "$FAKE" ]; then
	skip "tests/client/libfakestage.so not built" 40
else
mkdir -p "$D/fake"
frun -i "$I" import s3://bkt/data/ /data
is "$st" 0 "import that ends done: exit 0"
like "$err" "^import in-[0-9a-f]{8}: s3://bkt/data/ -> /data \\(instance $I" "  names the stage it started"
like "$err" "import in-[0-9a-f]{8}: running: [0-9]+/10 files, .*MB/s, ETA" "  a progress line (not a tty)"
like "$err" "import in-[0-9a-f]{8}: done: 10 files, 10(\\.0)? MiB in 1\\.[0-9] s" "  and a summary"
NAME=$(printf '%s' "$err" | sed -n 's/^import \(in-[0-9a-f]*\): s3.*/\1/p' | head -1)
spec=$(cat "$D/fake/$I.$NAME.spec" 2>/dev/null)
like "$spec" "dir=0 type=0 uid=0 gid=0 user=root ngroups=[1-9][0-9]* job=0 members=3 rank0=$N0" \
	"  the spec: owner, groups, 3 members, rank 0 first"
frun -i "$I" import s3://bkt/data/ /data
is "$st" 0 "the same import again: exit 0 (resumes following the same stage)"
is "$(wc -l <"$D/fake/$I.$NAME.spec")" 1 "  no second stage was started"
like "$err" "import $NAME: done" "  same default name"
frun -i "$I" import --name "$NAME" s3://bkt/other/ /data
is "$st" 1 "that name with another spec: exit 1"
like "$err" "another source or destination.*give another --name" "  says why"
frun -i "$I" --json import --type directory --name j1 s3://bkt/j/ /j
is "$st" 0 "--json import: exit 0"
is "$(json 'd["state"], d["files_done"], d["direction"], len(d["nodes"]), d["nodes"][0]["node"]')" \
	"('done', 10, 'in', 3, '$N0')" "  prints the final status as JSON"
like "$(cat "$D/fake/$I.j1.spec")" "type=2" "  --type directory is sent as 2"

frun -i "$I" export --name ex1 /results s3://bkt/fail/
is "$st" 1 "export with failed files: exit 1"
like "$err" "export ex1: failed: 2 of 10 files failed" "  says how many failed"
like "$err" "first failures:" "  lists the first failures"
like "$err" "  data/a.bin: 403 AccessDenied" "  one per line"
like "$err" "report: s3://bucket/ebb-report-7/failures.csv" "  and where the report is"
like "$err" "retry what is not done: ebbctl -n $N0 -i $I stage retry ex1" "  and how to retry"
frun -i "$I" stage retry ex1
is "$st" 0 "stage retry follows the stage to done: exit 0"
like "$err" "export ex1: done" "  done"
frun -i "$I" import --name deny1 s3://deny/x/ /x
is "$st" 1 "a refused stage: exit 1"
like "$err" "start import deny1: s3://deny/x/: not allowed by any s3_allow rule" "  with bbd's reason"

frun -i "$I" import --no-wait --name w1 s3://bkt/defer/ /w
frun -i "$I" stage status w1
like "$out" "^state: +waiting" "a deferred stage is waiting"
LD_PRELOAD=$FAKE EBB_FAKE_STAGE_DIR=$D/fake timeout 20 "$EBB_EBBCTL" -n "$EBB_NODES" -i "$I" \
	stage status --follow w1 >"$D/w1.out" 2>&1 &
wpid=$!
wait_for "$D/w1.out" "w1: waiting"
frun -i "$I" stage retry --no-wait w1
is "$st" 0 "stage retry starts a waiting stage"
wait "$wpid"
is "$?" 0 "following a waiting stage lasts until it has run: exit 0"
wo=$(cat "$D/w1.out")
like "$wo" "import w1: waiting: deferred: it starts at .stage retry." "  it said why it waited"
like "$wo" "import w1: done" "  and then that it was done"
frun -i "$I" import --no-wait --name slow1 s3://bkt/slow/ /slow
is "$st" 0 "--no-wait: exit 0 at once"
like "$err" "follow it: ebbctl -n $N0 -i $I stage status --follow slow1" "  says how to follow it"
frun -i "$I" stage status
is "$st" 0 "stage status: exit 0"
like "$out" "^NAME +DIR +STATE +FILES" "  a table"
like "$out" "^slow1 +in +(planning|running) " "  with the running stage"
like "$out" "^ex1 +out +done +10/10 " "  and the finished one"
frun -i "$I" stage status --json slow1
is "$(json 'd["name"], d["state"] in ("planning", "running"), d["source"]')" \
	"('slow1', True, 's3://bkt/slow/')" "stage status --json NAME: one object"
frun -i "$I" stage status ex1
like "$out" "^state: +done" "stage status NAME: the details"
like "$out" "rank 2 +127\\.0\\.0\\.1:[0-9]+ +done" "  with every member's share"
frun -i "$I" stage status nosuch
is "$st" 1 "status of a missing stage: exit 1"
like "$err" "no stage 'nosuch' on instance $I" "  says so"

# Ctrl-C while following: exit 130, the stage keeps running.
LD_PRELOAD=$FAKE EBB_FAKE_STAGE_DIR=$D/fake "$EBB_EBBCTL" -n "$EBB_NODES" -i "$I" \
	stage status --follow slow1 >"$D/follow.out" 2>&1 &
fpid=$!
# Its handler is in place once it follows (it has printed a line).
wait_for "$D/follow.out" "slow1: (planning|running)"
kill -INT "$fpid"
wait "$fpid"
is "$?" 130 "Ctrl-C while following: exit 130"
fo=$(cat "$D/follow.out")
like "$fo" "stopped following slow1; the stage keeps running on instance $I" "  the stage keeps running"
like "$fo" "follow it again: ebbctl -n $N0 -i $I stage status --follow slow1" "  how to follow it again"
like "$fo" "cancel it: +ebbctl -n $N0 -i $I stage cancel slow1" "  how to cancel it"
frun -i "$I" stage status --json slow1
is "$(json 'd["state"]')" running "  and it is still running"

if command -v script >/dev/null; then
	# A terminal: the bar is redrawn in place (cursor up), per node with -v.
	LD_PRELOAD=$FAKE EBB_FAKE_STAGE_DIR=$D/fake EBB_NODES=$EBB_NODES \
		script -qfec "$EBB_EBBCTL -i $I import -v --name tty1 s3://bkt/tty/ /tty" /dev/null \
		</dev/null >"$D/tty.out" 2>&1
	is "$?" 0 "import on a terminal: exit 0"
	t=$(cat -v "$D/tty.out")
	like "$t" "import tty1 +running +\\[#*\\.*\\] " "  draws a progress bar"
	like "$t" '\^\[\[[0-9]+A' "  redrawn in place"
	like "$t" "rank 1 +127\\.0\\.0\\.1:[0-9]+ +running" "  with per-node lines (-v)"
else
	skip "no script(1) for a terminal" 4
fi

frun -i "$I" stage cancel slow1
is "$st" 0 "stage cancel: exit 0"
like "$err" "cancelled stage slow1 on instance $I" "  says so"
frun -i "$I" stage status --follow slow1
is "$st" 1 "following a cancelled stage: exit 1"
like "$err" "import slow1: cancelled" "  says it was cancelled"
frun -i "$I" export --no-wait --name slow2 /out s3://bkt/slow/
frun -i "$I" stage abandon slow2
is "$st" 0 "stage abandon: exit 0"
like "$err" "nothing more will be exported; its files stay in instance $I until it is destroyed" \
	"  says the data is kept until the instance is destroyed"
like "$err" "objects already uploaded stay in S3" "  and what happens to S3"
frun -i "$I" --json stage cancel nosuch
is "$st" 1 "cancel of a missing stage: exit 1"

J=slurm-77
ok "instance $J" fixture_ebbctl -q instance create "$J" --capacity 64MiB
frun -i "$J" -q import --name in-0 s3://bkt/x/ /x
is "$st" 0 "-q import: exit 0"
is "$err" "" "  and nothing on stderr"
like "$(cat "$D/fake/$J.in-0.spec")" "job=77" "a Slurm instance's job id goes into the spec (report name)"

# --job JOBID: the nodes from a fake scontrol, bbd's port from EBB_CONF.
mkdir -p "$D/bin"
cat >"$D/bin/scontrol" <<-'EOF'
	#!/bin/sh
	case "$*" in
	"show job -o 77") echo "JobId=77 JobName=t JobState=RUNNING NodeList=fake[0-1] BatchHost=fake0" ;;
	"show job -o 78") echo "JobId=78 JobName=t JobState=PENDING NodeList=(null)" ;;
	"show hostnames fake[0-1]") echo 127.0.0.1; echo 127.0.0.2 ;;
	*) echo "slurm_load_jobs error: Invalid job id specified"; exit 1 ;;
	esac
	EOF
chmod +x "$D/bin/scontrol"
printf 'bbd_port = %s\nmunge_socket = %s\n' "${EBB_NODE_PORTS[0]}" "$EBB_MUNGE_SOCKET" >"$D/job.conf"
jrun() {
	out=$(env -u EBB_NODES -u EBB_MUNGE_SOCKET PATH="$D/bin:$PATH" EBB_CONF="$D/job.conf" \
		LD_PRELOAD="$FAKE" EBB_FAKE_STAGE_DIR="$D/fake" "$EBB_EBBCTL" "$@" 2>"$D/err")
	st=$?
	err=$(cat "$D/err")
}
jrun stage status --job 77
is "$st" 0 "stage status --job 77: exit 0 (nodes from scontrol, port and munge from EBB_CONF)"
like "$out" "^in-0 +in +done" "  the stages of instance slurm-77"
jrun import --job 77 --no-wait --name j2 s3://bkt/slow/ /j2
is "$st" 0 "import --job 77 --no-wait: exit 0"
like "$err" "follow it: ebbctl stage status --job 77 --follow j2" "  the hint uses --job"
jrun stage abandon --job 77 j2
is "$st" 0 "stage abandon --job 77 j2: exit 0"
like "$err" "abandoned: nothing more will be imported; the files imported so far stay in instance slurm-77" "  says what is kept"
jrun stage status --job 78
is "$st" 1 "--job of a job without nodes: exit 1"
like "$err" "the job has no nodes .*give its nodes with -n" "  says so"
jrun stage status --job 79
is "$st" 1 "--job of an unknown job: exit 1"
like "$err" "scontrol show job: slurm_load_jobs error: Invalid job id" "  with scontrol's reason"
fi

# ---- 4. round trip against the RGW ----------------------------------------------------
if [ -n "$RT_SKIP" ]; then
	skip "$RT_SKIP" 11
else
	B=ebb-stage-t
	mkdir -p "$D/src/sub"
	head -c $((5 << 20)) /dev/urandom >"$D/src/big.bin"
	for i in $(seq 1 40); do head -c $((i * 1000)) /dev/urandom >"$D/src/sub/f$i"; done
	s3_aws s3 mb "s3://$B" >/dev/null
	s3_aws s3 cp --recursive --quiet "$D/src/" "s3://$B/in/"
	run -i "$I" import "s3://$B/in/" /data
	is "$st" 0 "import s3://$B/in/ into 3 bbd: exit 0"
	[ "$st" = 0 ] || diag "$err"
	mkdir -p "$D/back"
	run -i "$I" get -r /data "$D/back"
	is "$st" 0 "  ebbctl get -r of what was imported"
	ok "  same bytes as the source" diff -r "$D/src" "$D/back/data"
	run -i "$I" export /data "s3://$B/same/"
	is "$st" 0 "export of the imported, unchanged files: exit 0"
	like "$err" "done: 0 files, 0 B .*, 41 skipped" "  they are skipped (S3 has them)"
	mkdir -p "$D/res/d"
	head -c $((3 << 20)) /dev/urandom >"$D/res/r.bin"
	for i in $(seq 1 20); do head -c $((i * 777)) /dev/urandom >"$D/res/d/o$i"; done
	run -i "$I" put -r "$D/res" /results
	run -i "$I" export /results "s3://$B/out/"
	is "$st" 0 "export of new files /results to s3://$B/out/: exit 0"
	[ "$st" = 0 ] || diag "$err"
	like "$err" "export out-[0-9a-f]{8}: done: 21 files" "  all 21 files"
	s3_aws s3 cp --recursive --quiet "s3://$B/out/" "$D/out" >/dev/null
	ok "  same bytes in S3" diff -r "$D/res" "$D/out"
	run -i "$I" stage status --json
	is "$(json 'sorted(x["state"] for x in d)')" "['done', 'done', 'done']" "  the three stages listed as done"
	run -i "$I" import "s3://$B/nothing-here/" /none
	ok "  import of a prefix with no objects ends (exit $st)" test "$st" -le 1
	run -i "$I" import "s3://other-bucket/x/" /x
	is "$st" 1 "  a bucket not in s3_allow: refused (exit 1)"
fi

fixture_ebbctl -q instance destroy "$I" >/dev/null
done_testing
