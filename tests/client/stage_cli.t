# SPDX-License-Identifier: GPL-2.0-or-later
# stage_cli.t: ebbctl's stage commands (import, export, stage status /
# retry / cancel / abandon) against 3 real bbd with the stage engine and a
# real Ceph RGW (tests/lib/rgw.sh); nothing of ours is replaced.
#  1. usage errors: exit 2 and a message saying what is wrong;
#  2. a stage on an instance that does not exist: exit 1, named clearly;
#  3. real stages, started and followed: progress lines, exit 0 done / 1
#     failed with the first failures and the report, retry, --no-wait, a
#     deferred stage, status table / detail / --json, Ctrl-C (130, the
#     stage keeps running), cancel, abandon, what ebbctl puts in the spec
#     (owner and groups for s3_allow, rank 0, --type, the Slurm job id),
#     a progress bar on a terminal, --job JOBID;
#  4. an import/export round trip, the bytes checked with awscli.
# How real parts are made to do what a case needs:
# - bbd's test hook EBB_TEST_STAGE_PAUSE (bbd/stage_xfer.c): while $D/pause
#   exists members start no transfer, so a stage is planned and then stays
#   "running" for as long as the test needs (following, progress, Ctrl-C,
#   cancel, abandon); removing the file lets it finish.
# - bbd reaches the RGW through rgw.sh's s3proxy, which relays everything
#   until a "refuse-put" rule on chosen keys answers their uploads 403
#   AccessDenied: an export then really fails for those files, with a
#   real report in S3.
# - A deferred stage (state "waiting", which the Slurm plugin makes) is
#   started through libebb by tests/stager/t_stage: ebbctl has no option
#   for one.
# - `scontrol` for --job is a script on PATH (a stand-in for Slurm's
#   command, not for our code): the stage calls still go to the real bbds.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"
. "$EBB_SRCDIR/tests/lib/rgw.sh"

fixture_init
fixture_attached && skip_all "needs its own bbd (an ebb.conf for the test's RGW, EBB_TEST_STAGE_PAUSE): not with EBB_NODES"
fixture_require_root
[ -x "$EBB_EBBCTL" ] || bail "ebbctl not built ($EBB_EBBCTL)"
T=$EBB_BUILDDIR/tests/stager/t_stage
[ -x "$T" ] || bail "tests/stager/t_stage not built"
command -v python3 >/dev/null || bail "python3 is needed (--json, tests/lib/s3proxy.py)"
D=$EBB_TEST_DIR
export EBB_TIMEOUT_MS=10000

# The RGW and the proxy first: bbd gets its s3_* keys at start.
rgw_start || bail "rgw_start failed"
s3proxy_start || bail "s3proxy_start failed"
B=ebb-cli-$$          # every stage's bucket: s3_allow for everyone
BG=ebb-cli-g-$$       # only for the group ebbtest, under the user's name
fixture_user ebbtest || bail "no user ebbtest"
s3_cleanup() { s3_aws s3 rb --force "s3://$B" >/dev/null 2>&1; s3_aws s3 rb --force "s3://$BG" >/dev/null 2>&1; true; }
rgw_attached && fixture_on_cleanup s3_cleanup
s3_mb "$B" && s3_mb "$BG" || bail "cannot create the buckets"
cat >"$D/ebb.conf" <<-EOF
	s3_endpoint = $EBB_S3_PROXY_ENDPOINT
	s3_region = $EBB_S3_REGION
	s3_addressing = path
	s3_credentials_file = $AWS_SHARED_CREDENTIALS_FILE
	s3_config_file = $D/none
	s3_imds_endpoint =
	s3_allow = * s3://$B/ rw
	s3_allow = group:ebbtest s3://$BG/%u/ r
	EOF
export EBB_TEST_STAGE_PAUSE=$D/pause
fixture_munged || bail "could not start munged"
fixture_bbd 3 --config "$D/ebb.conf" || bail "could not start 3 bbd"
export EBB_MUNGE_SOCKET   # for t_stage
N0=${EBB_NODE_LIST[0]}
N1=${EBB_NODE_LIST[1]}
N2=${EBB_NODE_LIST[2]}

# What the stages copy: 10 x 1 MiB under data/, 3 small objects under j/,
# one under ebbtest's prefix of $BG; 10 files to export.
mkdir -p "$D/src/data" "$D/src/j/sub" "$D/res10"
for i in 0 1 2 3 4 5 6 7 8 9; do
	head -c $((1 << 20)) /dev/urandom >"$D/src/data/f$i.bin"
done
echo one >"$D/src/j/a.txt"
echo two >"$D/src/j/sub/b.txt"
echo three >"$D/src/j/c.txt"
for x in a b c d e f g h i j; do head -c 5000 /dev/urandom >"$D/res10/$x.bin"; done
echo owned >"$D/owned.txt"
s3_put_tree "$D/src/data" "s3://$B/data/" &&
	s3_put_tree "$D/src/j" "s3://$B/j/" &&
	s3_aws s3 cp --only-show-errors "$D/owned.txt" "s3://$BG/ebbtest/owned.txt" ||
	bail "cannot upload the test objects"

# run ARGS...: ebbctl with the test's nodes; stdout in $out, stderr in
# $err, exit status in $st.
run() {
	out=$(fixture_ebbctl "$@" 2>"$D/err")
	st=$?
	err=$(cat "$D/err")
	return 0
}
# spawn NAME ARGS...: ebbctl ARGS in the background, tracked and reaped by
# the fixture; stdout and stderr in $D/NAME.log, its PID in $bpid.
spawn() {
	local n=$1
	shift
	rm -f "$D/$n.log"
	fixture_spawn "$n" "$EBB_EBBCTL" -n "$EBB_NODES" "$@"
	bpid=$_fixture_last_pid
}
# reap PID: wait for a spawned process, its exit status in $st; one still
# running after 60 s gets TERM (and the check of $st fails).
reap() {
	local i
	for ((i = 0; i < 600; i++)); do
		[[ $(ps -o stat= -p "$1" 2>/dev/null) =~ ^[^Z] ]] || break
		sleep 0.1
	done
	if [[ $(ps -o stat= -p "$1" 2>/dev/null) =~ ^[^Z] ]]; then
		diag "pid $1 still runs after 60 s: TERM"
		kill -s TERM "$1"
	fi
	fixture_wait_pid "$1"
	st=$?
}
# wait_for FILE REGEX: until FILE has a line matching REGEX (30 s).
wait_for() {
	local i
	for ((i = 0; i < 300; i++)); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	diag "$1 never showed /$2/:"
	diag_file "$1"
	return 1
}
# json EXPR: a Python expression on the JSON in $out (as d).
json() {
	printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1" 2>&1
}
# state ID NAME: the stage's state, from ebbctl --json.
state() {
	fixture_ebbctl -i "$1" stage status --json "$2" 2>/dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])' 2>/dev/null
}
# wait_state ID NAME STATE: until the stage is in STATE (30 s).
wait_state() {
	local i s
	for ((i = 0; i < 300; i++)); do
		s=$(state "$1" "$2")
		[ "$s" = "$3" ] && return 0
		sleep 0.1
	done
	diag "stage $2 of $1 is '$s', never $3"
	return 1
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

# ---- 2. missing instance --------------------------------------------------------
run -i nosuch import "s3://$B/p/" /d
is "$st" 1 "import into a missing instance: exit 1"
like "$err" "no instance 'nosuch' on node $N0" "  names the instance and the node asked"
run -i nosuch stage status
is "$st" 1 "stage status of a missing instance: exit 1"
like "$err" "no instance 'nosuch'" "  same message"

# ---- 3. real stages -------------------------------------------------------------
I=st-$$
ok "instance $I on 3 bbd" fixture_ebbctl -q instance create "$I" --capacity 256MiB

# An import, held running by the pause while ebbctl follows it, then let go.
touch "$D/pause"
spawn imp -i "$I" import "s3://$B/data/" /data
ok "ebbctl follows an import held running" wait_for "$D/imp.log" ": running: "
rm -f "$D/pause"
reap "$bpid"
is "$st" 0 "import that ends done: exit 0"
err=$(cat "$D/imp.log")
like "$err" "^import in-[0-9a-f]{8}: s3://$B/data/ -> /data \\(instance $I" "  names the stage it started"
like "$err" "import in-[0-9a-f]{8}: running: 0/10 files, .*MB/s, ETA" "  a progress line (not a tty)"
like "$err" "import in-[0-9a-f]{8}: done: 10 files, 10(\\.0)? MiB in [0-9]+\\.[0-9] s" "  and a summary"
NAME=$(printf '%s' "$err" | sed -n 's/^import \(in-[0-9a-f]*\): s3.*/\1/p' | head -1)
mkdir -p "$D/back"
run -i "$I" get -r /data "$D/back"
ok "  the 10 files arrived, byte for byte" diff -r "$D/src/data" "$D/back/data"

# What ebbctl puts in the spec, seen in what bbd does with it.  Members:
# with -n in reverse order, the calls still reach rank 0 (rank 2 would
# refuse them) and status lists the members in rank order.
REV=$N2,$N1,$N0
rrun() { EBB_NODES=$REV run "$@"; }
run -i "$I" stage status --json
t0=$(json "[x['started_ns'] for x in d if x['name'] == '$NAME']")
rrun -i "$I" import "s3://$B/data/" /data
is "$st" 0 "the same import again, -n in reverse order: exit 0 (follows the same stage on rank 0)"
like "$err" "import $NAME: done" "  same default name"
run -i "$I" stage status --json
is "$(json 'len(d)') $(json "[x['started_ns'] for x in d if x['name'] == '$NAME']")" "1 $t0" \
	"  no second stage was started (one stage, the same start time)"
rrun -i "$I" stage status --json "$NAME"
is "$(json 'len(d["nodes"]), [n["node"] for n in d["nodes"]]')" "(3, ['$N0', '$N1', '$N2'])" \
	"  3 members, rank 0 first, whatever -n says"
run -i "$I" import --name "$NAME" "s3://$B/other/" /data
is "$st" 1 "that name with another spec: exit 1"
like "$err" "another source or destination.*give another --name" "  says why"
# Owner and groups: bbd checks s3_allow with the user and groups ebbctl
# sends ("group:ebbtest s3://$BG/%u/"); imported files get the uid/gid sent.
O=own-$$
ok "instance $O owned by ebbtest" fixture_ebbctl -q instance create "$O" --capacity 64MiB --owner ebbtest
run -i "$O" import "s3://$BG/ebbtest/" /in
is "$st" 0 "import for ebbtest's instance from a prefix allowed to group ebbtest and user ebbtest only: exit 0"
[ "$st" = 0 ] || diag "$err"
run -i "$O" ls -l /in
like "$out" " ebbtest +ebbtest .*owned\\.txt" "  the file belongs to the instance's owner"
run -i "$I" import --name g0 "s3://$BG/ebbtest/" /g
is "$st" 1 "the same prefix for root's instance is refused: exit 1 (the rule is about the owner)"
like "$err" "start import g0: .*not allowed" "  with bbd's reason"
# --type directory: what is under j/ (auto would first look for an object
# named j, then take the prefix j/: docs/directives.md).
run -i "$I" --json import --type directory --name j1 "s3://$B/j" /j
is "$st" 0 "--json import --type directory of s3://$B/j: exit 0"
is "$(json 'd["state"], d["files_done"], d["direction"], len(d["nodes"]), d["nodes"][0]["node"]')" \
	"('done', 3, 'in', 3, '$N0')" "  prints the final status as JSON"
run -i "$I" cat /j/sub/b.txt
is "$out" two "  j/sub/b.txt is /j/sub/b.txt: bbd got type directory"
run -i "$I" import --name j0 "s3://$B/j" /j0
is "$st" 0 "  the same without --type: no object 'j', so the prefix j/: exit 0"
run -i "$I" cat /j0/sub/b.txt
is "$out" two "  j/sub/b.txt is /j0/sub/b.txt"
run -i "$I" import --type file --name j2 "s3://$B/j" /j2
is "$st" 1 "  --type file of s3://$B/j: no such object: exit 1"
like "$err" "NoSuchKey|no such|404" "  saying the object does not exist"

# An export whose uploads of a.bin and b.bin S3 refuses (403 through the proxy).
run -i "$I" put -r "$D/res10" /results
s3proxy_set "{\"rules\": [{\"fault\": \"refuse-put\", \"key\": \"^$B/fail/[ab]\\\\.bin\$\"}]}" ||
	bail "s3proxy_set failed"
run -i "$I" export --name ex1 /results "s3://$B/fail/"
is "$st" 1 "export with failed files: exit 1"
like "$err" "export ex1: failed: 2 of 10 files failed" "  says how many failed"
like "$err" "first failures:" "  lists the first failures"
like "$err" "^  .*a\\.bin.*AccessDenied" "  one per line, with S3's error"
like "$err" "^  .*b\\.bin.*AccessDenied" "  both of them"
like "$err" "report: s3://$B/fail/ebb-report-0/failures.csv" "  and where the report is (no Slurm job: ebb-report-0)"
like "$(s3_aws s3 cp --only-show-errors "s3://$B/fail/ebb-report-0/failures.csv" - 2>&1)" "a\\.bin" \
	"  the report is in S3"
like "$err" "retry what is not done: ebbctl -n $N0 -i $I stage retry ex1" "  and how to retry"
s3proxy_set '{"rules": []}' || bail "s3proxy_set failed"
puts=$(s3proxy_stat method.PUT)
run -i "$I" stage retry ex1
is "$st" 0 "stage retry follows the stage to done: exit 0"
like "$err" "export ex1: done" "  done"
is "$(($(s3proxy_stat method.PUT) - puts))" 2 "  only the 2 failed files went up again"
is "$(s3_aws s3 ls "s3://$B/fail/" | grep -c '\.bin$')" 10 "  all 10 are in S3"

run -i "$I" import --name deny1 "s3://ebb-not-allowed-$$/x/" /x
is "$st" 1 "a refused stage: exit 1"
like "$err" "start import deny1: .*s3://ebb-not-allowed-$$/x/.*not allowed" "  with bbd's reason"

# A deferred stage: waiting until `stage retry`.
ok "a deferred stage w1 (libebb through t_stage)" "$T" start "$I" w1 in "s3://$B/data/" /w 0 0 0 deferred
run -i "$I" stage status w1
like "$out" "^state: +waiting" "a deferred stage is waiting"
spawn w1 -i "$I" stage status --follow w1
ok "  ebbctl follows it" wait_for "$D/w1.log" "w1: waiting"
run -i "$I" stage retry --no-wait w1
is "$st" 0 "stage retry starts a waiting stage"
reap "$bpid"
is "$st" 0 "following a waiting stage lasts until it has run: exit 0"
wo=$(cat "$D/w1.log")
like "$wo" "import w1: waiting: deferred: it starts at .stage retry." "  it said why it waited"
like "$wo" "import w1: done" "  and then that it was done"

# From here the pause holds every new stage running.
touch "$D/pause"
run -i "$I" import --no-wait --name slow1 "s3://$B/data/" /slow
is "$st" 0 "--no-wait: exit 0 while the stage cannot end"
like "$err" "follow it: ebbctl -n $N0 -i $I stage status --follow slow1" "  says how to follow it"
ok "  slow1 is planned and held running" wait_state "$I" slow1 running
run -i "$I" stage status
is "$st" 0 "stage status: exit 0"
like "$out" "^NAME +DIR +STATE +FILES" "  a table"
like "$out" "^slow1 +in +running +0/10 " "  with the running stage"
like "$out" "^ex1 +out +done +10/10 " "  and the finished one"
run -i "$I" stage status --json slow1
is "$(json 'd["name"], d["state"], d["source"], d["files_total"]')" \
	"('slow1', 'running', 's3://$B/data/', 10)" "stage status --json NAME: one object"
run -i "$I" stage status ex1
like "$out" "^state: +done" "stage status NAME: the details"
like "$out" "rank 2 +127\\.0\\.0\\.1:[0-9]+ +done" "  with every member's share"
run -i "$I" stage status nosuch
is "$st" 1 "status of a missing stage: exit 1"
like "$err" "no stage 'nosuch' on instance $I" "  says so"

# Ctrl-C while following: exit 130, the stage keeps running (ebbctl(1)).
spawn follow -i "$I" stage status --follow slow1
# its handler is in place once it follows (it has printed a line)
ok "ebbctl follows slow1" wait_for "$D/follow.log" "slow1: running"
kill -s INT "$bpid"
reap "$bpid"
is "$st" 130 "Ctrl-C while following: exit 130"
fo=$(cat "$D/follow.log")
like "$fo" "stopped following slow1; the stage keeps running on instance $I" "  the stage keeps running"
like "$fo" "follow it again: ebbctl -n $N0 -i $I stage status --follow slow1" "  how to follow it again"
like "$fo" "cancel it: +ebbctl -n $N0 -i $I stage cancel slow1" "  how to cancel it"
is "$(state "$I" slow1)" running "  and it is still running"

run -i "$I" stage cancel slow1
is "$st" 0 "stage cancel: exit 0"
like "$err" "cancelled stage slow1 on instance $I" "  says so"
run -i "$I" stage status --follow slow1
is "$st" 1 "following a cancelled stage: exit 1"
like "$err" "import slow1: cancelled" "  says it was cancelled"
run -i "$I" stage cancel slow1
is "$st" 0 "stage cancel of a cancelled stage: exit 0 (idempotent)"
run -i "$I" export --no-wait --name slow2 /results "s3://$B/slow2/"
ok "an export held running" wait_state "$I" slow2 running
run -i "$I" stage abandon slow2
is "$st" 0 "stage abandon: exit 0"
like "$err" "nothing more will be exported; its files stay in instance $I until it is destroyed" \
	"  says the data is kept until the instance is destroyed"
like "$err" "objects already uploaded stay in S3" "  and what happens to S3"
ok "  the stage ends cancelled" wait_state "$I" slow2 cancelled
run -i "$I" --json stage cancel nosuch
is "$st" 1 "cancel of a missing stage: exit 1"
like "$err" "no stage 'nosuch' on instance $I" "  says so"
run -i "$I" stage abandon nosuch
is "$st" 1 "abandon of a missing stage: exit 1"

if command -v script >/dev/null; then
	# A terminal: the bar is redrawn in place (cursor up), per node with
	# -v; held running by the pause until it has been drawn.
	rm -f "$D/tty.log"
	fixture_spawn tty script -qfec "$EBB_EBBCTL -i $I import -v --name tty1 s3://$B/data/ /tty" /dev/null
	bpid=$_fixture_last_pid
	ok "import on a terminal draws the running stage" wait_for "$D/tty.log" "tty1 +running"
	rm -f "$D/pause"
	reap "$bpid"
	is "$st" 0 "import on a terminal: exit 0"
	t=$(cat -v "$D/tty.log")
	like "$t" "import tty1 +running +\\[#*\\.*\\] " "  draws a progress bar"
	like "$t" '\^\[\[[0-9]+A' "  redrawn in place"
	like "$t" "rank 1 +127\\.0\\.0\\.1:[0-9]+ +running" "  with per-node lines (-v)"
	like "$t" "import tty1: done: 10 files" "  and the summary"
else
	rm -f "$D/pause"
	skip "no script(1) for a terminal" 6
fi

# A Slurm job's instance: its job id names the export report.
J=slurm-77
ok "instance $J" fixture_ebbctl -q instance create "$J" --capacity 64MiB
run -i "$J" -q import --name in-0 "s3://$B/data/" /x
is "$st" 0 "-q import: exit 0"
is "$err" "" "  and nothing on stderr"
mkdir -p "$D/res77"
echo a >"$D/res77/a.bin"
echo b >"$D/res77/b.bin"
run -i "$J" put -r "$D/res77" /res77
s3proxy_set "{\"rules\": [{\"fault\": \"refuse-put\", \"key\": \"^$B/out77/a\\\\.bin\$\"}]}" ||
	bail "s3proxy_set failed"
run -i "$J" export --name out77 /res77 "s3://$B/out77/"
is "$st" 1 "an export of $J with a refused file: exit 1"
like "$err" "report: s3://$B/out77/ebb-report-77/failures.csv" \
	"  the job id goes into the report's name"
ok "  and the report is there" s3_aws s3api head-object --bucket "$B" --key out77/ebb-report-77/failures.csv
s3proxy_set '{"rules": []}' || bail "s3proxy_set failed"

# --job JOBID: the nodes from a stand-in scontrol, bbd's port from EBB_CONF.
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
		"$EBB_EBBCTL" "$@" 2>"$D/err")
	st=$?
	err=$(cat "$D/err")
}
jrun stage status --job 77
is "$st" 0 "stage status --job 77: exit 0 (nodes from scontrol, port and munge from EBB_CONF)"
like "$out" "^in-0 +in +done" "  the stages of instance slurm-77"
touch "$D/pause"
jrun import --job 77 --no-wait --name j2 "s3://$B/data/" /j2
is "$st" 0 "import --job 77 --no-wait: exit 0"
like "$err" "follow it: ebbctl stage status --job 77 --follow j2" "  the hint uses --job"
jrun stage abandon --job 77 j2
is "$st" 0 "stage abandon --job 77 j2: exit 0"
like "$err" "abandoned: nothing more will be imported; the files imported so far stay in instance slurm-77" "  says what is kept"
ok "  the stage ends cancelled" wait_state "$J" j2 cancelled
rm -f "$D/pause"
jrun stage status --job 78
is "$st" 1 "--job of a job without nodes: exit 1"
like "$err" "the job has no nodes .*give its nodes with -n" "  says so"
jrun stage status --job 79
is "$st" 1 "--job of an unknown job: exit 1"
like "$err" "scontrol show job: slurm_load_jobs error: Invalid job id" "  with scontrol's reason"

# ---- 4. round trip ------------------------------------------------------------------
R=rt-$$
ok "instance $R on 3 bbd" fixture_ebbctl -q instance create "$R" --capacity 64MiB
mkdir -p "$D/src/in/sub"
head -c $((5 << 20)) /dev/urandom >"$D/src/in/big.bin"
for i in $(seq 1 40); do head -c $((i * 1000)) /dev/urandom >"$D/src/in/sub/f$i"; done
s3_put_tree "$D/src/in" "s3://$B/in/" || bail "upload failed"
run -i "$R" import "s3://$B/in/" /data
is "$st" 0 "import s3://$B/in/ into 3 bbd: exit 0"
[ "$st" = 0 ] || diag "$err"
mkdir -p "$D/rback"
run -i "$R" get -r /data "$D/rback"
is "$st" 0 "  ebbctl get -r of what was imported"
ok "  same bytes as the source" diff -r "$D/src/in" "$D/rback/data"
run -i "$R" export /data "s3://$B/same/"
is "$st" 0 "export of the imported, unchanged files: exit 0"
like "$err" "done: 0 files, 0 B .*, 41 skipped" "  they are skipped (S3 has them)"
mkdir -p "$D/res/d"
head -c $((3 << 20)) /dev/urandom >"$D/res/r.bin"
for i in $(seq 1 20); do head -c $((i * 777)) /dev/urandom >"$D/res/d/o$i"; done
run -i "$R" put -r "$D/res" /results
run -i "$R" export /results "s3://$B/out/"
is "$st" 0 "export of new files /results to s3://$B/out/: exit 0"
[ "$st" = 0 ] || diag "$err"
like "$err" "export out-[0-9a-f]{8}: done: 21 files" "  all 21 files"
s3_aws s3 cp --recursive --quiet "s3://$B/out/" "$D/out" >/dev/null
ok "  same bytes in S3" diff -r "$D/res" "$D/out"
run -i "$R" stage status --json
is "$(json 'sorted(x["state"] for x in d)')" "['done', 'done', 'done']" "  the three stages listed as done"
run -i "$R" import "s3://$B/nothing-here/" /none
ok "  import of a prefix with no objects ends (exit $st)" test "$st" -le 1
run -i "$R" import "s3://other-bucket/x/" /x
is "$st" 1 "  a bucket not in s3_allow: refused (exit 1)"

fixture_ebbctl -q instance destroy "$I" >/dev/null
done_testing
