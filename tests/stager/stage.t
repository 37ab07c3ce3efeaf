#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# stage.t: the stage engine end to end: 3 bbd (and a 1-member instance on
# the first), a real Ceph RGW, libebb through t_stage, awscli to prepare
# and check the bucket.
#
# Uses tests/lib/rgw.sh (a private RGW, or the one you started if you export
# EBB_S3_ENDPOINT, EBB_S3_ACCESS_KEY, EBB_S3_SECRET_KEY, EBB_S3_REGION).
# bbd gets its credentials from a shared credentials file named in ebb.conf
# (s3_credentials_file), so a test can break and mend them.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

AWS_BIN=/usr/bin/aws
[ -x "$AWS_BIN" ] || skip_all "$AWS_BIN (Debian's awscli) is not installed"
T=$EBB_BUILDDIR/tests/stager/t_stage

fixture_init
fixture_attached && skip_all "needs its own daemons (ebb.conf with s3_* keys)"
fixture_require_root
work=$EBB_TEST_DIR/stage
mkdir -p "$work"

if [ -f "$EBB_SRCDIR/tests/lib/rgw.sh" ]; then
	# starts a private RGW, or attaches to $EBB_S3_ENDPOINT if set
	. "$EBB_SRCDIR/tests/lib/rgw.sh"
	rgw_start || bail "rgw_start failed"
elif [ -z "${EBB_S3_ENDPOINT:-}" ]; then
	skip_all "no RGW: tests/lib/rgw.sh is not in this tree and EBB_S3_ENDPOINT is unset"
fi
: "${EBB_S3_REGION:=us-east-1}"
export AWS_CONFIG_FILE=$work/aws-config
export AWS_SHARED_CREDENTIALS_FILE=$work/aws-credentials
export AWS_PAGER=""
printf '[default]\nregion = %s\ns3 =\n    addressing_style = path\n' \
	"$EBB_S3_REGION" >"$AWS_CONFIG_FILE"
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	"$EBB_S3_ACCESS_KEY" "$EBB_S3_SECRET_KEY" >"$AWS_SHARED_CREDENTIALS_FILE"
s3() { "$AWS_BIN" --endpoint-url "$EBB_S3_ENDPOINT" "$@"; }
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN

bucket=ebb-stage-$$
cred=$work/bbd-credentials
good_cred() {
	printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
		"$EBB_S3_ACCESS_KEY" "$EBB_S3_SECRET_KEY" >"$cred"
}
good_cred
cat >"$work/ebb.conf" <<CONF
s3_endpoint = $EBB_S3_ENDPOINT
s3_region = $EBB_S3_REGION
s3_addressing = path
s3_credentials_file = $cred
s3_config_file = $work/none
s3_imds_endpoint =
s3_max_inflight = 4
s3_allow = * s3://$bucket/ rw
s3_allow = * s3://ebb-missing-$$/ r
CONF

# (attach mode: remove the bucket; with our own RGW it may be stopped first)
s3_cleanup() { s3 s3 rb --force "s3://$bucket" >/dev/null 2>&1 || true; }
fixture_on_cleanup s3_cleanup
s3 s3api create-bucket --bucket "$bucket" >/dev/null || bail "create-bucket failed"

# bbd's test hook: members start no transfer while this file exists
export EBB_TEST_STAGE_PAUSE=$work/pause
fixture_munged || bail "munged"
fixture_bbd 3 --config "$work/ebb.conf" || bail "could not start 3 bbd"
export EBB_NODES EBB_MUNGE_SOCKET

# ---- the source tree ---------------------------------------------------------
src=$work/src
mkdir -p "$src/f" "$src/big" "$src/empty" "$src/odd"
for i in $(seq -w 1 200); do
	head -c $(( (10#$i * 997) % 20000 )) /dev/urandom >"$src/f/small-$i.txt"
done
# the issue's 4 files of 256 MiB (256 stripes each, ~85 per node)
for b in a b c d; do head -c $((256 << 20)) /dev/urandom >"$src/big/$b.bin"; done
: >"$src/empty/e1"
: >"$src/empty/e2"
for n in "a b.txt" "ünïcødé.txt" "a+b.txt" "50%.txt" "k=v.txt"; do
	echo "odd $n" >"$src/odd/$n"
done
ok "upload the tree" s3 s3 cp --quiet --recursive "$src" "s3://$bucket/in/"
echo "owned by 1234" >"$work/owned.txt"
ok "an object with FSx metadata" s3 s3api put-object --bucket "$bucket" \
	--key in/meta/owned.txt --body "$work/owned.txt" \
	--metadata file-permissions=0100640,file-owner=1234,file-group=5678,file-mtime=1600000000123456789ns
# bigger than a symlink target, one stripe: no HEAD, the metadata comes
# with the whole GET and the member holding it applies it
head -c 10000 /dev/urandom >"$work/owned-big.txt"
ok "a 10000-byte object with FSx metadata" s3 s3api put-object --bucket "$bucket" \
	--key in/meta/owned-big.txt --body "$work/owned-big.txt" \
	--metadata file-permissions=0100600,file-owner=4321,file-group=8765,file-mtime=1500000000987654321ns,file-atime=1500000001000000000ns
printf 'f/small-001.txt' >"$work/target"
ok "a symlink object" s3 s3api put-object --bucket "$bucket" --key in/link \
	--body "$work/target" --metadata file-permissions=0120777
ok "an empty directory marker" s3 s3api put-object --bucket "$bucket" \
	--key in/emptydir/
ok "a nested empty directory marker" s3 s3api put-object --bucket "$bucket" \
	--key in/nested/deep/ --metadata file-permissions=0040700
ok "a key that is no POSIX path" s3 s3api put-object --bucket "$bucket" \
	--key "in/bad//x.txt" --body "$work/target"

# expected "sha path" of every regular file under in/
(cd "$src" && find . -type f -print0 | sort -z | xargs -0 sha256sum |
	sed 's| \./| /data/|') >"$work/want.sha"
echo "$(sha256sum <"$work/owned.txt" | cut -d' ' -f1)  /data/meta/owned.txt" >>"$work/want.sha"
echo "$(sha256sum <"$work/owned-big.txt" | cut -d' ' -f1)  /data/meta/owned-big.txt" >>"$work/want.sha"
sort -k2 "$work/want.sha" -o "$work/want.sha"

# tree output -> "sha  path" of the regular files
tree_sha() { # the path is everything after the 7th field (it may hold spaces)
	while read -r t _ _ _ _ _ sha p; do
		[ "$t" = f ] && printf '%s  %s\n' "$sha" "$p"
	done <"$1" | grep -v "/\.ebb/" | sort -k2
}

check_in() { # ID: the checks of a finished stage-in into /data
	local id=$1 out line
	ok "$id: tree readable" sh -c "'$T' tree '$id' / >'$work/$id.tree'"
	tree_sha "$work/$id.tree" >"$work/$id.sha"
	ok "$id: every file byte-identical (sha256 through libebb)" \
		diff "$work/want.sha" "$work/$id.sha"
	line=$(grep ' /data/meta/owned.txt$' "$work/$id.tree")
	like "$line" '^f 0640 1234 5678 14 1600000000123456789 ' \
		"$id: mode, owner, group, mtime from FSx metadata"
	line=$(grep ' /data/meta/owned-big.txt$' "$work/$id.tree")
	like "$line" '^f 0600 4321 8765 10000 1500000000987654321 ' \
		"$id: a one-stripe object's metadata, from its GET (no HEAD)"
	line=$(grep ' /data/f/small-010.txt$' "$work/$id.tree")
	like "$line" '^f 0644 1000 1000 9970 1[0-9]{18} ' \
		"$id: a one-stripe object without metadata: the defaults"
	line=$(grep ' /data/f/small-002.txt$' "$work/$id.tree")
	like "$line" '^f 0644 1000 1000 1994 1[0-9]{18} ' \
		"$id: defaults without metadata (0644, the job's user, LastModified)"
	line=$(grep ' /data/link$' "$work/$id.tree")
	like "$line" '^l 0777 .* f/small-001.txt /data/link$' "$id: symlink from an S_IFLNK object"
	like "$(grep ' /data/emptydir$' "$work/$id.tree")" '^d 0755 ' "$id: empty directory"
	like "$(grep ' /data/nested/deep$' "$work/$id.tree")" '^d 0700 ' "$id: nested empty directory with its mode"
	like "$(grep ' /data/empty/e1$' "$work/$id.tree")" '^f 0644 1000 1000 0 ' "$id: empty file"
	like "$(grep -c '^f .* /data/odd/' "$work/$id.tree")" '^5$' "$id: keys with space, unicode, +, %, ="
	out=$("$T" cat "$id" /data/.ebb/failures-in0.csv 2>&1)
	like "$out" 'bad//x.txt,FAILED,S3ObjectPathNotPosixCompliant' \
		"$id: the non-POSIX key is in failures.csv"
}

planned() { # ID NAME: until planned (max 30 s)
	local i
	for ((i = 0; i < 300; i++)); do
		"$T" status "$1" "$2" 2>/dev/null | grep -q 'state=running' && return 0
		sleep 0.1
	done
	return 1
}

# ---- stage-in, 3 nodes -------------------------------------------------------
ok "instance on 3 nodes" "$T" create j3
ok "stage-in accepted" "$T" start j3 in0 in "s3://$bucket/in/" /data 0 1000 1000
out=$("$T" wait j3 in0 180); st=$?
diag "$out"
ok_status $st "stage-in on 3 nodes is done"
like "$out" 'files=21[0-9]/21[0-9] failed=0 skipped=1' "counts: files done, 1 skipped"
check_in j3
like "$out" 'node 2: done' "every node moved its share"
ok "same spec again: no-op" "$T" start j3 in0 in "s3://$bucket/in/" /data 0 1000 1000
out=$("$T" start j3 in0 in "s3://$bucket/other/" /data 0 1000 1000)
like "$out" 'exists with another spec' "another spec under the same name: EEXIST"

# ---- stage-out, 3 nodes -------------------------------------------------------
# New and changed files only: imported files that did not change stay out.
ok "mkdir /data/new" "$T" mkdir j3 /data/new
ok "a new 20 MiB file (multipart: 3 parts over 3 nodes)" "$T" put j3 /data/new/n1.bin $((20 << 20)) 7
ok "a new small file" "$T" put j3 /data/new/small.bin 5000 9
ok "a changed imported file" "$T" put j3 /data/f/small-003.txt 3333 11
ok "a new 40 MiB file (5 parts)" "$T" put j3 /data/new/n2.bin $((40 << 20)) 13
ok "stage-out accepted" "$T" start j3 out0 out /data "s3://$bucket/out/" 0 1000 1000
out=$("$T" wait j3 out0 180); st=$?
diag "$out"
ok_status $st "stage-out on 3 nodes is done"
like "$out" 'files=4/4 failed=0 skipped=212' "4 files exported, the unchanged imported ones skipped (owned-big.txt too: its applied mtime is in the plan)"
rm -rf "$work/down"
ok "download the exported prefix" s3 s3 cp --quiet --recursive "s3://$bucket/out/" "$work/down/"
"$T" tree j3 /data >"$work/j3b.tree"
for p in new/n1.bin new/small.bin f/small-003.txt new/n2.bin; do
	want=$(grep " /data/$p\$" "$work/j3b.tree" | cut -d' ' -f7)
	got=$(sha256sum <"$work/down/$p" | cut -d' ' -f1)
	is "$got" "$want" "out: $p byte-identical"
done
is "$(cd "$work/down" && find . -type f | sort | tr '\n' ' ')" \
	"./f/small-003.txt ./link ./new/n1.bin ./new/n2.bin ./new/small.bin " \
	"out: only the new and changed files, and the symlink"
is "$(cat "$work/down/link")" "f/small-001.txt" "out: a symlink's object body is its target"
meta=$(s3 s3api head-object --bucket "$bucket" --key out/link --query Metadata --output text)
like "$meta" '0120777' "out: the symlink object has S_IFLNK in file-permissions"
meta=$(s3 s3api head-object --bucket "$bucket" --key out/new/n2.bin --query Metadata --output text)
like "$meta" '0100644' "out: multipart object has file-permissions"
like "$meta" '[0-9]+ns' "out: and file-mtime in ns"
etag=$(s3 s3api head-object --bucket "$bucket" --key out/new/n2.bin --query ETag --output text)
like "$etag" '-5"?$' "out: 40 MiB went up as 5 parts"
meta=$(s3 s3api head-object --bucket "$bucket" --key out/new/small.bin --query Metadata --output text)
like "$meta" '0100644' "out: small object has file-permissions"
ok "out: empty directory marker" s3 s3api head-object --bucket "$bucket" --key out/emptydir/

# ---- stage-out with a member killed and restarted ---------------------------------
touch "$work/pause"
ok "stage-out out1 accepted (transfers paused)" "$T" start j3 out1 out /data/new "s3://$bucket/out1/" 0 1000 1000
ok "out1 is planned (uploads created)" planned j3 out1
ok "kill -9 rank 1" fixture_bbd_kill 1 KILL
ok "restart rank 1" fixture_bbd_restart 1
rm -f "$work/pause"
out=$("$T" wait j3 out1 180); st=$?
diag "$out"
ok_status $st "out1 is done (rank 1 got its work again)"
rm -rf "$work/down1"
ok "download out1" s3 s3 cp --quiet --recursive "s3://$bucket/out1/" "$work/down1/"
for p in n1.bin small.bin n2.bin; do
	want=$(grep " /data/new/$p\$" "$work/j3b.tree" | cut -d' ' -f7)
	got=$(sha256sum <"$work/down1/$p" | cut -d' ' -f1)
	is "$got" "$want" "out1: $p byte-identical"
done

# ---- a deferred stage waits for retry ---------------------------------------------
ok "deferred stage accepted" "$T" start j3 later in "s3://$bucket/in/odd/" /later 0 1000 1000 deferred
like "$("$T" status j3 later)" 'state=waiting' "it waits"
ok "retry starts it" "$T" retry j3 later
out=$("$T" wait j3 later 60); st=$?
ok_status $st "the deferred stage is done"
like "$out" 'files=5/5' "with its 5 files"

# ---- stage-in, 1 node --------------------------------------------------------
n0=${EBB_NODE_LIST[0]}
ok "instance on 1 node" env EBB_NODES="$n0" "$T" create j1
ok "stage-in accepted (1 node)" env EBB_NODES="$n0" "$T" start j1 in0 in "s3://$bucket/in/" /data 0 1000 1000
out=$(EBB_NODES="$n0" "$T" wait j1 in0 180); st=$?
diag "$out"
ok_status $st "stage-in on 1 node is done"
EBB_NODES=$n0 check_in j1

# ---- a file larger than one node's share ------------------------------------------
mkdir -p "$work/big2"
head -c $((64 << 20)) /dev/urandom >"$work/big2/fits.bin"
ok "upload a 64 MiB object" s3 s3 cp --quiet "$work/big2/fits.bin" "s3://$bucket/big2/fits.bin"
ok "instance js: 3 nodes of 40 MiB each" "$T" create js 1048576 $((40 << 20))
ok "stage-in of the 64 MiB file (larger than one node's 40 MiB)" "$T" start js fit in "s3://$bucket/big2/fits.bin" /fits.bin 1 1000 1000
out=$("$T" wait js fit 120); st=$?
diag "$out"
ok_status $st "it fits striped over the nodes"
"$T" tree js / >"$work/js.tree"
is "$(grep ' /fits.bin$' "$work/js.tree" | cut -d' ' -f7)" "$(sha256sum <"$work/big2/fits.bin" | cut -d' ' -f1)" \
	"the 64 MiB file is byte-identical"
head -c $((160 << 20)) /dev/urandom >"$work/big2/toobig.bin"
ok "upload a 160 MiB object" s3 s3 cp --quiet "$work/big2/toobig.bin" "s3://$bucket/big2/toobig.bin"
ok "stage-in of a file over the instance's space accepted" "$T" start js toobig in "s3://$bucket/big2/toobig.bin" /toobig.bin 1 1000 1000
out=$("$T" wait js toobig 120); st=$?
diag "$out"
isnt "$st" 0 "it fails (ENOSPC on the nodes), not silently"
like "$out" 'failed=1' "the file is counted failed"
not_ok "the half-imported file was removed" "$T" cat js /toobig.bin
like "$("$T" cat js /.ebb/failures-toobig.csv 2>&1)" '/toobig.bin,FAILED,InternalError' \
	"and listed in failures.csv (in .ebb beside the file)"

# ---- refusals and errors ------------------------------------------------------
out=$("$T" start j3 deny in "s3://not-allowed-$$/x/" /deny 0 1000 1000); st=$?
isnt "$st" 0 "a source outside s3_allow is refused at start"
like "$out" 'not allowed' "with a message naming the allow-list"
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = wrongsecret\n' \
	"$EBB_S3_ACCESS_KEY" >"$cred"
ok "wrong secret: accepted (checked when it runs)" "$T" start j3 badkey in "s3://$bucket/in/" /badkey 0 1000 1000
out=$("$T" wait j3 badkey 60); st=$?
good_cred
isnt "$st" 0 "wrong secret: the stage fails"
like "$out" 'error: .*SignatureDoesNotMatch' "wrong secret: the error says SignatureDoesNotMatch"
not_ok "wrong secret: nothing was created" "$T" tree j3 /badkey
ok "missing key: accepted" "$T" start j3 nokey in "s3://$bucket/in/no-such-file.txt" /nokey/ 1 1000 1000
out=$("$T" wait j3 nokey 60); st=$?
isnt "$st" 0 "missing key: the stage fails"
like "$out" 'error: .*(404|NoSuchKey|Not Found)' "missing key: the error says so"
out=$("$T" cat j3 /nokey/.ebb/failures-nokey.csv 2>&1)
like "$out" 'no-such-file.txt,FAILED,S3ObjectNotFound' "missing key: in failures.csv"
ok "missing bucket: accepted" "$T" start j3 nobucket in "s3://ebb-missing-$$/x/" /nobucket 0 1000 1000
out=$("$T" wait j3 nobucket 60); st=$?
isnt "$st" 0 "missing bucket: the stage fails"
like "$out" 'error: .*NoSuchBucket' "missing bucket: the error says NoSuchBucket"

# ---- kill -9 mid-stage, restart, resume -----------------------------------------
mkdir -p "$work/r"
for i in 1 2 3 4 5 6 7 8; do head -c $((16 << 20)) /dev/urandom >"$work/r/f$i.bin"; done
ok "upload 8 x 16 MiB" s3 s3 cp --quiet --recursive "$work/r" "s3://$bucket/r/"
(cd "$work/r" && sha256sum f*.bin | sed 's| f| /r/f|' | sort -k2) >"$work/r.sha"
wait_running() { # ID NAME: until some bytes moved (max 30 s)
	local i
	for ((i = 0; i < 300; i++)); do
		"$T" status "$1" "$2" 2>/dev/null | grep -Eq 'state=running .* bytes=[1-9]' && return 0
		sleep 0.1
	done
	return 1
}
ok "instance jr on 3 nodes" "$T" create jr
ok "stage-in rin accepted" "$T" start jr rin in "s3://$bucket/r/" /r 0 1000 1000
ok "rin is moving bytes" wait_running jr rin
touch "$work/pause"   # what is in flight ends, nothing more starts
sleep 1
diag "$("$T" status jr rin)"
like "$("$T" status jr rin)" 'state=running' "rin is stopped half-way"
ok "kill -9 rank 0 (coordinator and member)" fixture_bbd_kill 0 KILL
sleep 1
ok "restart rank 0" fixture_bbd_restart 0
rm -f "$work/pause"
out=$("$T" wait jr rin 180); st=$?
diag "$out"
ok_status $st "rin resumed and is done"
"$T" tree jr /r >"$work/jr.tree"
tree_sha "$work/jr.tree" | sed 's|^\(.*\)  /data/|\1  /r/|' >"$work/jr.sha"
ok "rin: every file byte-identical after the restart" diff "$work/r.sha" "$work/jr.sha"
# The run after the restart: the restarted coordinator's run id, the same on
# every member (a member that had finished its share before the kill also
# logged "finished" for the first run: not counted).
runid=$(cat "$EBB_TEST_DIR"/bbd*.log | grep 'stage rin run .* finished' | sort | tail -n 1 | sed -n 's/.* run \([0-9a-f]*\): .*/\1/p')
moved=$(cat "$EBB_TEST_DIR"/bbd*.log | grep "stage rin run ${runid:-none}: .* finished" | sed -n 's/.* \([0-9]*\) units moved.*/\1/p' | paste -sd+ | bc)
fromlog=$(cat "$EBB_TEST_DIR"/bbd*.log | grep "stage rin run ${runid:-none}: .* finished" | sed -n 's/.*, \([0-9]*\) files from the done-log.*/\1/p' | paste -sd+ | bc)
diag "after the restart: $moved stripes moved; $fromlog (file, node) pairs from done-logs (each holds >= 5 of a file's 16 stripes)"
ok_status $([ "${fromlog:-0}" -gt 0 ] && echo 0 || echo 1) "members skipped the files their done-logs list"
ok_status $([ "${moved:-999}" -le $((128 - 5 * ${fromlog:-0})) ] && echo 0 || echo 1) \
	"finished stripes were not moved again"

# ---- an object overwritten during stage-in --------------------------------------
ok "instance jw on 3 nodes" "$T" create jw
touch "$work/pause"
ok "stage-in win accepted (transfers paused)" "$T" start jw win in "s3://$bucket/r/" /w 0 1000 1000
ok "win is planned" planned jw win
ok "overwrite r/f8.bin after the plan took its ETag" s3 s3 cp --quiet "$work/r/f1.bin" "s3://$bucket/r/f8.bin"
rm -f "$work/pause"
out=$("$T" wait jw win 180); st=$?
diag "$out"
isnt "$st" 0 "win fails"
like "$out" 'files=7/8 failed=1' "only the overwritten file failed"
out=$("$T" cat jw /w/.ebb/failures-win.csv 2>&1)
like "$out" '/w/f8.bin,FAILED,S3ObjectChanged' "it is in failures.csv as S3ObjectChanged"
not_ok "the changed file is not left half-imported" "$T" cat jw /w/f8.bin
"$T" tree jw /w >"$work/jw.tree"
tree_sha "$work/jw.tree" | sed 's|  /data/|  /w/|' | grep -v f8.bin >"$work/jw.sha"
grep -v f8.bin "$work/r.sha" | sed 's|/r/|/w/|' >"$work/w.sha"
ok "the other files are byte-identical" diff "$work/w.sha" "$work/jw.sha"

# ---- cancel and retry -------------------------------------------------------------
ok "s3 object f8 back" s3 s3 cp --quiet "$work/r/f8.bin" "s3://$bucket/r/f8.bin"
ok "instance jc on 3 nodes" "$T" create jc
ok "stage-in cin accepted" "$T" start jc cin in "s3://$bucket/r/" /c 0 1000 1000
ok "cin is moving bytes" wait_running jc cin
ok "cancel cin" "$T" cancel jc cin
out=$("$T" wait jc cin 60)
like "$out" 'state=cancelled' "cin is cancelled"
ok "retry cin" "$T" retry jc cin
out=$("$T" wait jc cin 180); st=$?
diag "$out"
ok_status $st "cin is done after the retry"
"$T" tree jc /c >"$work/jc.tree"
tree_sha "$work/jc.tree" | sed 's|  /data/|  /c/|' >"$work/jc.sha"
sed 's|/r/|/c/|' "$work/r.sha" >"$work/c.sha"
ok "cin: every file byte-identical" diff "$work/c.sha" "$work/jc.sha"

# ---- a member that lost its share: the stage fails at once, saying so ---------------
ok "instance jl on 3 nodes" "$T" create jl
touch "$work/pause"
ok "stage-in lin accepted (transfers paused)" "$T" start jl lin in "s3://$bucket/r/" /l 0 1000 1000
ok "lin is planned" planned jl lin
ok "the instance is destroyed on rank 2 alone (its share is gone)" \
	"$EBB_EBBCTL" -n "$EBB_NODES" instance destroy jl --members "${EBB_NODE_LIST[2]}"
rm -f "$work/pause"
# well before the 300 s a silent member gets
out=$("$T" wait jl lin 120); st=$?
diag "$out"
isnt "$st" 0 "lin fails"
like "$out" 'state=failed' "... as failed, not waiting for a silent member"
like "$out" 'rank 2 .*no longer has the instance' "the error names the member and what happened"

done_testing
