# SPDX-License-Identifier: GPL-2.0-or-later
# The S3 fixture's own test (tests/lib/rgw.sh, scripts/ebb-rgw): a real
# RGW comes up and checks signatures; objects round-trip byte for byte
# through awscli, curl and rclone; and nothing it starts outlives the test,
# whatever the way out: a normal end, SIGTERM, the watchdog in the middle
# of the start, SIGKILL of the test shell (no trap runs: the guard stops
# RGW).  Each scenario is a child test script, checked from outside as in
# fixture.t.  The parent runs an RGW of its own too, which a child in
# attach mode uses.

. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"
. "$EBB_SRCDIR/tests/lib/rgw.sh"

fixture_init
rgw_start || bail "the parent's RGW did not start"
work=$EBB_TEST_DIR/children
mkdir -p "$work" && chmod 755 "$work"
parent_endpoint=$EBB_S3_ENDPOINT parent_ak=$EBB_S3_ACCESS_KEY parent_sk=$EBB_S3_SECRET_KEY

# child NAME: a child test script (body on stdin) that sources the helpers;
# it writes facts for the parent on fd 3 (NAME.info).
child() {
	{
		echo ". \"\$EBB_SRCDIR/tests/tap/tap.sh\""
		echo ". \"\$EBB_SRCDIR/tests/lib/fixture.sh\""
		echo ". \"\$EBB_SRCDIR/tests/lib/rgw.sh\""
		echo "exec 3>\"$work/$1.info\""
		cat
	} >"$work/$1.sh"
}

# run NAME [env...]: run a child (never attached: the parent's S3
# variables are removed), its TAP output in NAME.out.
run() {
	local name=$1
	shift
	env -u EBB_S3_ENDPOINT -u EBB_S3_ACCESS_KEY -u EBB_S3_SECRET_KEY \
		TMPDIR="$work" "$@" bash "$work/$name.sh" >"$work/$name.out" 2>"$work/$name.err"
}
# start NAME [env...]: the same in the background; the child's shell is $!
start() {
	local name=$1
	shift
	env -u EBB_S3_ENDPOINT -u EBB_S3_ACCESS_KEY -u EBB_S3_SECRET_KEY \
		TMPDIR="$work" "$@" bash "$work/$name.sh" >"$work/$name.out" 2>"$work/$name.err" &
}

# alive PID...: the PIDs that still exist and are not zombies.
alive() {
	local p st
	for p in "$@"; do
		st=$(ps -o stat= -p "$p" 2>/dev/null)
		[ -n "$st" ] && [[ $st != Z* ]] && echo "$p"
	done
}

# gone_within S PID...: true once none of PIDs runs (polls 0.1 s, S seconds).
gone_within() {
	local s=$1 i
	shift
	for ((i = 0; i < s * 10; i++)); do
		[ -z "$(alive "$@")" ] && return 0
		sleep 0.1
	done
	diag "still running after ${s}s: $(ps -o pid=,stat=,args= -p "$(alive "$@" | paste -sd,)")"
	return 1
}

info() {  # NAME KEY: the values the child wrote for KEY
	awk -v k="$2" '$1 == k { $1 = ""; print }' "$work/$1.info" 2>/dev/null | tr '\n' ' '
}

# wait_ready NAME CPID: the child printed "ready" (60 s) or died.
wait_ready() {
	local i
	for ((i = 0; i < 600; i++)); do
		grep -q '^ready' "$work/$1.info" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

show() {  # NAME: the child's output as diagnostics
	diag "---- $1: stdout ----"
	diag "$(cat "$work/$1.out" 2>/dev/null)"
	diag "---- $1: stderr ----"
	diag "$(tail -n 60 "$work/$1.err" 2>/dev/null)"
}

# ---- 1. the normal path: signatures, round trips, clean end -----------------
child normal <<'EOF'
fixture_init
echo "dir $EBB_TEST_DIR" >&3
rgw_start || bail "rgw_start"
echo "pids $EBB_RGW_PIDS" >&3
echo "guard $_rgw_guard_pid" >&3
is "$(echo $EBB_RGW_PIDS | wc -w)" 3 "three daemons (mon, OSD, radosgw)"
like "$EBB_S3_ENDPOINT" '^http://127\.0\.0\.1:[0-9]+$' "EBB_S3_ENDPOINT is loopback"
is "$EBB_S3_REGION" us-east-1 "EBB_S3_REGION"
ok "aws config is path-style" grep -q 'addressing_style = path' "$AWS_CONFIG_FILE"
ok "rclone has a remote named rgw" grep -qx '\[rgw\]' "$RCLONE_CONFIG"
ok "s3_mb" s3_mb fixture-bkt
d=$EBB_TEST_DIR/data
mkdir -p "$d/tree/sub"
head -c 7340033 /dev/urandom >"$d/blob"    # 7 MiB + 1: one PUT
head -c 20971520 /dev/urandom >"$d/big"    # 20 MiB: multipart in aws s3 cp
ok "aws put-object" s3_aws s3api put-object --bucket fixture-bkt --key dir/blob --body "$d/blob"
ok "aws get-object" s3_aws s3api get-object --bucket fixture-bkt --key dir/blob "$d/blob.back"
ok "the object comes back byte-identical" cmp "$d/blob" "$d/blob.back"
ok "aws s3 cp up (multipart)" s3_aws s3 cp --only-show-errors "$d/big" s3://fixture-bkt/big
etag=$(s3_aws s3api head-object --bucket fixture-bkt --key big --query ETag --output text)
like "$etag" '-[0-9]+"?$' "it was a multipart upload (ETag $etag)"
ok "aws s3 cp down" s3_aws s3 cp --only-show-errors s3://fixture-bkt/big "$d/big.back"
ok "multipart object byte-identical" cmp "$d/big" "$d/big.back"
sig=(--aws-sigv4 "aws:amz:us-east-1:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
code=$(curl -s -o "$d/curl.back" -w '%{http_code}' "${sig[@]}" \
	--user "$EBB_S3_ACCESS_KEY:$EBB_S3_SECRET_KEY" "$EBB_S3_ENDPOINT/fixture-bkt/dir/blob")
is "$code" 200 "curl GET with the right secret: 200"
ok "curl reads the same bytes" cmp "$d/blob" "$d/curl.back"
code=$(curl -s -o "$d/curl.err" -w '%{http_code}' "${sig[@]}" \
	--user "$EBB_S3_ACCESS_KEY:wrong$EBB_S3_SECRET_KEY" "$EBB_S3_ENDPOINT/fixture-bkt/dir/blob")
is "$code" 403 "curl GET with a wrong secret: 403"
ok "... SignatureDoesNotMatch" grep -q '<Code>SignatureDoesNotMatch</Code>' "$d/curl.err"
code=$(curl -s -o "$d/curl.err" -w '%{http_code}' "${sig[@]}" -T "$d/blob" \
	--user "$EBB_S3_ACCESS_KEY:wrong$EBB_S3_SECRET_KEY" "$EBB_S3_ENDPOINT/fixture-bkt/forged")
is "$code" 403 "curl PUT with a wrong secret: 403"
not_ok "... and the object was not created" s3_aws s3api head-object --bucket fixture-bkt --key forged
code=$(curl -s -o /dev/null -w '%{http_code}' "$EBB_S3_ENDPOINT/fixture-bkt/dir/blob")
is "$code" 403 "anonymous GET: 403"
is "$(rclone lsf rgw:fixture-bkt/dir 2>&1)" blob "rclone lists through remote rgw"
echo a >"$d/tree/a"; echo b >"$d/tree/sub/b"; head -c 100000 /dev/urandom >"$d/tree/sub/c"
ok "s3_put_tree" s3_put_tree "$d/tree" s3://fixture-bkt/t/
is "$(s3_tree_sha fixture-bkt t/)" "$(tree_sha "$d/tree" t/)" "s3_tree_sha = tree_sha of the local tree"
is "$(s3_tree_sha fixture-bkt nothing/)" "" "s3_tree_sha of an empty prefix is empty"
ok "a key that is no file name (t2/d/)" s3_aws s3api put-object --bucket fixture-bkt --key t2/d/
ok "... and a plain one (t2/a)" s3_aws s3api put-object --bucket fixture-bkt --key t2/a --body "$d/tree/a"
is "$(s3_tree_sha fixture-bkt t2/)" "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7  t2/a
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  t2/d/" "s3_tree_sha: pinned sums, the d/ key too"
ok "rgw_stop" rgw_stop
is "$(for p in $EBB_RGW_PIDS; do [ -e /proc/$p ] && ps -o stat= -p $p | grep -v Z; done)" "" "rgw_stop: the daemons are gone"
ok "rgw_stop again is a no-op" rgw_stop
done_testing
EOF
run normal
st=$?
is "$st" 0 "normal: the child test passes"
[ "$st" -eq 0 ] || show normal
ok "normal: no failed check" sh -c "! grep -q '^not ok' '$work/normal.out'"
pids=$(info normal pids)
is "$(echo $pids | wc -w)" 3 "normal: 3 daemon PIDs ($pids)"
is "$(alive $pids)" "" "normal: every daemon is gone"
ok "normal: the guard is gone" gone_within 3 $(info normal guard)
ok "normal: private dir removed" test ! -e "$(info normal dir | tr -d ' ')"

# ---- 1b. the test removed the pid files: stopped by the recorded PIDs -------
child nopidfiles <<'EOF'
fixture_init
rgw_start || bail "rgw_start"
echo "pids $EBB_RGW_PIDS" >&3
rm -rf "$EBB_RGW_DIR/run"
ok "pid files removed" test ! -e "$EBB_RGW_DIR/run"
done_testing
EOF
run nopidfiles
st=$?
is "$st" 0 "no pid files: the child passes"
[ "$st" -eq 0 ] || show nopidfiles
pids=$(info nopidfiles pids)
is "$(echo $pids | wc -w)" 3 "no pid files: it had started 3 daemons"
is "$(alive $pids)" "" "no pid files: the daemons are gone all the same"

# ---- 2. SIGTERM to the test while it waits -----------------------------------
child termed <<'EOF'
fixture_init
echo "dir $EBB_TEST_DIR" >&3
rgw_start || bail "rgw_start"
echo "pids $EBB_RGW_PIDS" >&3
echo "guard $_rgw_guard_pid" >&3
fixture_spawn sleeper sleep 1000
echo "sleeper $_fixture_last_pid" >&3
echo "ready" >&3
fixture_wait_pid "$_fixture_last_pid"
done_testing
EOF
start termed
cpid=$!
if wait_ready termed "$cpid"; then
	kill -TERM "$cpid"
	wait "$cpid"
	st=$?
	isnt "$st" 0 "SIGTERM: the test fails (status $st)"
	pids="$(info termed pids) $(info termed sleeper)"
	is "$(echo $pids | wc -w)" 4 "SIGTERM: it had started 3 daemons and a helper"
	is "$(alive $pids)" "" "SIGTERM: all gone when the test has ended"
	ok "SIGTERM: the guard is gone" gone_within 3 $(info termed guard)
	ok "SIGTERM: private dir removed" test ! -e "$(info termed dir | tr -d ' ')"
else
	wait "$cpid"
	ok "SIGTERM: the child got ready" false
	show termed
	skip "child not ready" 4
fi

# ---- 3. SIGKILL of the test shell: no trap runs, the guard stops RGW --------
child killed <<'EOF'
fixture_init
echo "dir $EBB_TEST_DIR" >&3
rgw_start || bail "rgw_start"
echo "pids $EBB_RGW_PIDS" >&3
echo "guard $_rgw_guard_pid" >&3
echo "rgwdir $EBB_RGW_DIR" >&3
sleep 1000 &
echo "sleeper $!" >&3
echo "ready" >&3
wait
done_testing
EOF
start killed
cpid=$!
if wait_ready killed "$cpid"; then
	kill -KILL "$cpid"   # (env execs bash: this is the test shell)
	wait "$cpid"
	pids=$(info killed pids)
	is "$(echo $pids | wc -w)" 3 "SIGKILL: it had started 3 daemons"
	ok "SIGKILL: the daemons are stopped anyway (by the guard)" gone_within 20 $pids
	ok "SIGKILL: the guard is gone after" gone_within 5 $(info killed guard)
	ok "SIGKILL: RGW's directory removed" test ! -e "$(info killed rgwdir | tr -d ' ')"
	# what the fixture itself leaves after a SIGKILL (not RGW's): the
	# test's foreground sleep and its directory
	sl=$(info killed sleeper)
	[ -n "$sl" ] && kill $sl 2>/dev/null
	d=$(info killed dir | tr -d ' ')
	[ -n "$d" ] && rm -rf -- "$d"
else
	wait "$cpid"
	ok "SIGKILL: the child got ready" false
	show killed
	skip "child not ready" 3
fi

# ---- 4. the watchdog fires during rgw_start ------------------------------------
child hung <<'EOF'
fixture_init
echo "dir $EBB_TEST_DIR" >&3
echo "rgwdir $EBB_TEST_DIR/rgw" >&3
rgw_start
echo "pids $EBB_RGW_PIDS" >&3
sleep 1000
done_testing
EOF
run hung EBB_TEST_TIMEOUT=2
st=$?
isnt "$st" 0 "watchdog: the test fails (status $st)"
ok "watchdog: the reason is in the log" grep -q 'terminated' "$work/hung.err"
d=$(info hung rgwdir | tr -d ' ')
left=$(ps -eo pid=,args= | grep -F -- "$d/ceph.conf" | grep -v grep)
is "$left" "" "watchdog: no RGW daemon of the child runs"
ok "watchdog: private dir removed" test ! -e "$(info hung dir | tr -d ' ')"

# ---- 5. attach mode: uses the server it is given, starts nothing -----------
child attach <<'EOF'
fixture_init
rgw_start || bail "rgw_start"
ok "rgw_attached" rgw_attached
is "$EBB_RGW_PIDS" "" "no daemon started"
ok "no RGW directory" test ! -e "$EBB_TEST_DIR/rgw"
ok "s3_mb on the given server" s3_mb attached-bkt
ok "the bucket is listed" sh -c '/usr/bin/aws --endpoint-url "$EBB_S3_ENDPOINT" s3 ls | grep -q attached-bkt'
done_testing
EOF
env EBB_S3_ENDPOINT="$parent_endpoint" EBB_S3_ACCESS_KEY="$parent_ak" \
	EBB_S3_SECRET_KEY="$parent_sk" TMPDIR="$work" \
	bash "$work/attach.sh" >"$work/attach.out" 2>"$work/attach.err"
st=$?
is "$st" 0 "attach: the child passes"
[ "$st" -eq 0 ] || show attach
ok "attach: the bucket is on the parent's server" s3_aws s3api head-bucket --bucket attached-bkt
ok "attach: the parent's server still answers" s3_aws s3 ls

# ---- 6. a taken port: radosgw moves to another ----------------------------------
fixture_spawn busy python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
time.sleep(1000)' "$EBB_TEST_DIR/busy.port"
busy_pid=$_fixture_last_pid
for ((i = 0; i < 100; i++)); do [ -s "$EBB_TEST_DIR/busy.port" ] && break; sleep 0.05; done
busy=$(cat "$EBB_TEST_DIR/busy.port")
child clash <<'EOF'
fixture_init
rgw_start || bail "rgw_start"
echo "endpoint $EBB_S3_ENDPOINT" >&3
ok "S3 answers" s3_aws s3 ls
ok "ebb-rgw said why it moved" grep -q "port clash" "$EBB_TEST_DIR/rgw-start.log"
done_testing
EOF
# (the mon's port is a guess: if it is taken too, ebb-rgw tries again)
run clash EBB_RGW_FIRST_PORTS="$((20000 + RANDOM % 12000)) $busy"
st=$?
is "$st" 0 "clash: RGW starts although its first port was taken"
[ "$st" -eq 0 ] || show clash
isnt "$(info clash endpoint | tr -d ' ')" "http://127.0.0.1:$busy" "clash: on another port"
_fixture_reap "$busy_pid" TERM

done_testing
