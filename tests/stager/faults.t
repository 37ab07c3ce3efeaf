#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# faults.t: the stage engine through a faulty S3.  tests/lib/s3proxy.py sits
# between 3 bbd and a real Ceph RGW and spoils a share of the requests
# (503, SlowDown, 500, connection resets mid-body and mid-upload, truncated
# bodies, stalls longer than s3_stall_timeout).  A 1,000-object stage-in
# and the stage-out of the same tree must end done with every byte right
# and retries bounded; permanent faults on a few keys must fail exactly
# those files, in failures.csv, with an error that names S3's code.
#
# The test prepares and checks the bucket with awscli straight at RGW (not
# through the proxy), so every request the proxy sees is bbd's.  No check
# is about time: s3_stall_timeout and the backoff are short only so that
# the run is short.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"
T=$EBB_BUILDDIR/tests/stager/t_stage

fixture_init
fixture_attached && skip_all "needs its own daemons (ebb.conf with s3_* keys)"
fixture_require_root
. "$EBB_SRCDIR/tests/lib/rgw.sh"
rgw_start || bail "rgw_start failed"
s3proxy_start || bail "s3proxy_start failed"
work=$EBB_TEST_DIR/faults
mkdir -p "$work"

bucket=ebb-faults-$$
s3_cleanup() { s3_aws s3 rb --force "s3://$bucket" >/dev/null 2>&1 || true; }
rgw_attached && fixture_on_cleanup s3_cleanup
s3_mb "$bucket" || bail "create-bucket failed"

cred=$work/bbd-credentials
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	"$EBB_S3_ACCESS_KEY" "$EBB_S3_SECRET_KEY" >"$cred"
# Short stall detection and backoff keep the run short; 8 retries keep a
# transient fault rate of ~20% from ever exhausting them (0.2^9 per request).
cat >"$work/ebb.conf" <<CONF
s3_endpoint = $EBB_S3_PROXY_ENDPOINT
s3_region = $EBB_S3_REGION
s3_addressing = path
s3_credentials_file = $cred
s3_config_file = $work/none
s3_imds_endpoint =
s3_max_inflight = 16
s3_stall_timeout = 2s
s3_request_timeout = 60s
s3_connect_timeout = 5s
s3_retries = 8
s3_retry_base = 50ms
s3_retry_max = 1s
s3_retry_total = 120s
s3_part_size = 5MiB
s3_multipart_threshold = 8MiB
s3_allow = * s3://$bucket/ rw
CONF
fixture_munged || bail "munged"
fixture_bbd 3 --config "$work/ebb.conf" || bail "could not start 3 bbd"
export EBB_NODES EBB_MUNGE_SOCKET

# ---- helpers ---------------------------------------------------------------------
# proxy_snap: the proxy's counters into shell variables, with one curl and
# one python (each costs seconds on a loaded machine): P_requests,
# P_faults (all kinds), P_503, P_slowdown, P_500, P_reset, P_truncate,
# P_stall, and the array P_hits (per rule, in order).
proxy_snap() {
	local js
	js=$(s3proxy_stats) || return 1
	diag "proxy: $js"
	eval "$(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
f = s["fault"]
print("P_requests=%d P_faults=%d" % (s["requests"], sum(f.values())))
for k in ("503", "slowdown", "500", "reset", "truncate", "stall"):
    print("P_%s=%d" % (k, f.get(k, 0)))
print("P_hits=(%s)" % " ".join(str(h) for h in s["rule_hits"]))' "$js")"
}
# tree output -> "sha  path" of the regular files, .ebb left out
tree_sha() {
	while read -r t _ _ _ _ _ sha p; do
		[ "$t" = f ] && printf '%s  %s\n' "$sha" "$p"
	done <"$1" | grep -v '/\.ebb/' | LC_ALL=C sort -k2
}
# field NAME LINE: NAME=value out of a status line
field() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" <<<" $2" | head -1; }
# le A B DESC
le() { ok_status $([ "$1" -le "$2" ] && echo 0 || echo 1) "$3 ($1 <= $2)"; }
# check_retries WHAT BASE RETRIES: the proxy's counts (proxy_snap) against
# the engine's, for stage-out.  BASE is what a fault-free run asks at
# least.  Each injected fault costs at most one retry; two kinds may cost
# none: a reset that sent nothing back (curl silently sends the request
# again on a new connection when a reused one dies before any byte: a
# request the proxy counts, the engine does not), and a stall after a
# complete bodiless answer (a PUT's 200) when no request follows on that
# connection; when one does, that one times out unseen by the proxy (it
# is asleep) and is retried.  (Stage-in has neither, and exact checks.)
check_retries() {
	local what=$1 base=$2 r=$3 q=$P_requests f=$P_faults s=$P_stall
	local z=$((P_reset + P_truncate))
	diag "$what: $q requests (at least $base without faults), $f faults injected ($s stalls, $z resets and truncations), $r retries reported"
	le "$q" "$((base * 3 / 2))" "$what: requests bounded: at most 1.5 x a fault-free run's"
	le "$r" "$f" "$what: every retry has an injected fault behind it"
	ok_status $([ "$r" -ge $((f - z - s)) ] && echo 0 || echo 1) \
		"$what: faults are retried, not swallowed ($r >= $f - $z - $s)"
	le "$((q - base))" "$((r + z))" "$what: every extra request is a reported retry (or curl's resend)"
	le "$((r - s))" "$((q - base))" "$what: every reported retry reached S3 (but those behind a stall)"
}

# ---- 1,000 objects ------------------------------------------------------------------
# 20 directories of 49 small files (0 B .. 64 KiB, a few empty) and one
# multi-stripe file each: 16 of 3 MiB +- a little (3-4 ranged GETs over 3
# nodes) and 4 of 12 MiB (awscli uploads them multipart: no MD5 ETag).
src=$work/src
python3 - "$src" <<'PY' || bail "cannot make the source tree"
import os, random, sys
r = random.Random(1)
top = sys.argv[1]
for d in range(20):
    dd = os.path.join(top, "d%02d" % d)
    os.makedirs(dd)
    for i in range(49):
        n = 0 if (d * 49 + i) % 97 == 0 else r.randrange(1, 65536)
        with open(os.path.join(dd, "s-%03d" % i), "wb") as f:
            f.write(os.urandom(n))
    n = (12 << 20) if d % 5 == 4 else (3 << 20) + r.randrange(-4096, 4096)
    with open(os.path.join(dd, "big.bin"), "wb") as f:
        f.write(os.urandom(n))
PY
is "$(find "$src" -type f | wc -l)" 1000 "1,000 files in the source tree"
diag "t=${SECONDS}s: upload"
ok "upload them (awscli, straight to RGW)" s3_put_tree "$src" "s3://$bucket/in/"
(cd "$src" && find . -type f -print0 | xargs -0 sha256sum | sed 's| \./| /data/|') |
	LC_ALL=C sort -k2 >"$work/want.sha"
# What a stage-in must ask at least: one GET per stripe (1 MiB; an empty
# file needs none), one listing page, and a HEAD for the objects whose
# metadata does not come with their one whole GET: those that could be a
# symlink (up to 4095 bytes) and those of several stripes (docs/stager.md,
# "Small objects").
base_in=$(python3 - "$src" <<'PY'
import os, sys
n = 0
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        size = os.path.getsize(os.path.join(root, f))
        head = size <= 4095 or size > (1 << 20)
        n += head + (size + (1 << 20) - 1) // (1 << 20)
print(n + 1)
PY
)
diag "stage-in: at least $base_in requests without faults"

# ---- stage-in through transient faults ------------------------------------------------
# ~3% each of six faults: ~17% of the GETs and ~12% of the HEADs fail.
# Stalls last 20 s: longer than s3_stall_timeout plus the 5 s over which
# curl averages the speed it compares with 1 byte/s (a stall of 8 s was
# sometimes over before curl saw it).  Resets and truncations only
# hit GETs, where they cut the body: a HEAD's answer has none, so they
# would cut it before its first byte, and curl would send the request
# again by itself (see check_retries), which the exact checks below
# cannot tell from a request too many.  The seed fixes the draws, not
# which request gets them (requests race).
RULES_IN='{"seed": 11, "rules": [
	{"fault": "503", "rate": 0.03},
	{"fault": "slowdown", "rate": 0.03},
	{"fault": "500", "rate": 0.03},
	{"fault": "reset", "method": "GET", "rate": 0.03},
	{"fault": "truncate", "method": "GET", "rate": 0.03},
	{"fault": "stall", "seconds": 20, "rate": 0.03}]}'
ok "proxy: transient faults" s3proxy_set "$RULES_IN"
ok "reset the proxy's counters" curl -sf -X POST "$EBB_S3_PROXY_ENDPOINT/__proxy/reset-stats"
ok "instance j3 on 3 nodes (1 MiB stripes)" "$T" create j3
diag "t=${SECONDS}s: stage-in"
ok "stage-in of 1,000 objects accepted" "$T" start j3 fin in "s3://$bucket/in/" /data 0 1000 1000
out=$("$T" wait j3 fin 600); st=$?
diag "$out"
ok_status $st "stage-in through the faults is done"
line=$(head -1 <<<"$out")
like "$line" 'files=1000/1000 failed=0 skipped=0' "every file done, none failed"
diag "t=${SECONDS}s: stage-in ended"
ok "tree readable" sh -c "'$T' tree j3 /data >'$work/in.tree'"
tree_sha "$work/in.tree" >"$work/in.sha"
ok "every file byte-identical (sha256 through libebb)" diff "$work/want.sha" "$work/in.sha"
proxy_snap
for f in 503 slowdown 500 reset truncate stall; do
	v=P_$f
	ok_status $([ "${!v}" -gt 0 ] && echo 0 || echo 1) \
		"stage-in: faults of kind $f were injected (${!v})"
done
retries=$(field retries "$line")
like "$retries" '^[1-9][0-9]*$' "the status reports the retries"
diag "stage-in: $P_requests requests (at least $base_in without faults), $P_faults faults injected, $retries retries reported"
is "$retries" "$P_faults" "stage-in: every injected fault cost exactly one retry"
is "$P_requests" "$((base_in + retries))" "stage-in: and no request beyond the plan and the retries"
le "$P_requests" "$((base_in * 3 / 2))" "stage-in: requests bounded: at most 1.5 x a fault-free run's"


# ---- stage-out of the same tree through transient faults ----------------------------
# Every imported file touched (changed, so exported), one rewritten, and
# new files: two of 12 MiB (multipart: 3 parts of 5 MiB over 3 nodes), one
# of 7 MiB (one PUT, its stripes read from every node).
touched=$("$T" touch j3 /data)
is "$touched" 1000 "touch every imported file (stage-out exports changed files)"
ok "a rewritten file" "$T" put j3 /data/d03/s-004 4444 5
ok "mkdir /data/new" "$T" mkdir j3 /data/new
ok "a new 12 MiB file" "$T" put j3 /data/new/m1.bin $((12 << 20)) 7
ok "another new 12 MiB file" "$T" put j3 /data/new/m2.bin $((12 << 20)) 9
ok "a new 7 MiB file" "$T" put j3 /data/new/p7.bin $((7 << 20)) 11
ok "tree before stage-out" sh -c "'$T' tree j3 /data >'$work/out.tree'"
tree_sha "$work/out.tree" | sed 's|  /data/|  |' >"$work/out-want.sha"
is "$(wc -l <"$work/out-want.sha")" 1003 "1,003 files to export"
# PUT and UploadPart: one PUT per small file, one UploadPart per 5 MiB.
base_out=$(while read -r t _ _ _ size _ _ p; do
	[ "$t" = f ] || continue
	case $p in /data/.ebb/*) continue ;; esac
	if [ "$size" -ge $((8 << 20)) ]; then
		echo $(( (size + (5 << 20) - 1) / (5 << 20) + 2 ))  # + create, complete
	else
		echo 1
	fi
done <"$work/out.tree" | paste -sd+ | bc)
base_out=$((base_out + 1))   # the destination's first listing
diag "stage-out: at least $base_out requests without faults"
# The same faults on every request (answers cut before their first byte
# too), and uploads cut mid-body.
ok "proxy: transient faults, uploads cut too" s3proxy_set '{"seed": 12, "rules": [
	{"fault": "503", "rate": 0.03},
	{"fault": "slowdown", "rate": 0.03},
	{"fault": "500", "rate": 0.03},
	{"fault": "reset", "rate": 0.03},
	{"fault": "truncate", "rate": 0.03},
	{"fault": "stall", "seconds": 20, "rate": 0.03},
	{"fault": "reset", "phase": "request", "method": "PUT", "rate": 0.03}]}'
curl -sf -X POST "$EBB_S3_PROXY_ENDPOINT/__proxy/reset-stats" >/dev/null
diag "t=${SECONDS}s: stage-out"
ok "stage-out to out/ accepted" "$T" start j3 fout out /data "s3://$bucket/out/" 0 1000 1000
out=$("$T" wait j3 fout 600); st=$?
diag "$out"
diag "t=${SECONDS}s: stage-out ended"
ok_status $st "stage-out through the faults is done"
line=$(head -1 <<<"$out")
like "$line" 'files=1003/1003 failed=0' "every file exported, none failed"
proxy_snap
retries=$(field retries "$line")
for f in 503 slowdown 500 reset truncate stall; do
	v=P_$f
	ok_status $([ "${!v}" -gt 0 ] && echo 0 || echo 1) \
		"stage-out: faults of kind $f were injected (${!v})"
done
ok_status $([ "${P_hits[6]}" -gt 0 ] && echo 0 || echo 1) \
	"stage-out: uploads were cut mid-body (${P_hits[6]})"
like "$retries" '^[1-9][0-9]*$' "stage-out: the status reports the retries"
check_retries stage-out "$base_out" "${retries:-0}"
rm -rf "$work/down"
ok "download out/ (awscli, straight to RGW)" s3_aws s3 cp --quiet --recursive "s3://$bucket/out/" "$work/down/"
(cd "$work/down" && find . -type f -print0 | xargs -0 sha256sum | sed 's| \./| |') |
	LC_ALL=C sort -k2 >"$work/out-got.sha"
ok "every exported object byte-identical" diff "$work/out-want.sha" "$work/out-got.sha"
head=$(s3_aws s3api head-object --bucket "$bucket" --key out/new/m1.bin --query '[ETag, Metadata]' --output json)
like "$head" '"file-permissions": "0100644"' "out: a multipart object has file-permissions"
like "$head" '"file-mtime": "[0-9]{19}ns"' "out: and file-mtime in ns"
like "$head" '-3\\?"' "out: 12 MiB went up as 3 parts"
want_mtime=$(grep ' /data/d07/s-010$' "$work/out.tree" | cut -d' ' -f6)
meta=$(s3_aws s3api head-object --bucket "$bucket" --key out/d07/s-010 --query Metadata --output json)
like "$meta" "\"file-mtime\": \"${want_mtime}ns\"" "out: a small object carries the file's mtime"
like "$meta" '"file-owner": "1000"' "out: and its owner"
# A CreateMultipartUpload whose answer was lost (reset, truncated) may
# have made an upload the engine never learns of: left open, not asserted
# (docs/stager.md, Known limits).
uploads=$(s3_aws s3api list-multipart-uploads --bucket "$bucket" --prefix out/ --query 'length(Uploads || `[]`)' --output text)
diag "multipart uploads left open under out/: $uploads"
ok "ebbctl stage status shows the retries" sh -c \
	"'$EBB_EBBCTL' -n '$EBB_NODES' -i j3 stage status fout | grep -Eq '^retries: +$retries '"

# ---- permanent faults, stage-in -------------------------------------------------------
# Three objects of in/d01/ always fail their GETs (HEAD passes, so they are
# planned and created first): a multi-stripe one and a small one with 500
# InternalError (retried, then given up), a small one with 403
# AccessDenied (final at once).  The rest sees transient answered faults.
B=$bucket
RULES_PERM_IN='{"seed": 5, "rules": [
	{"fault": "500", "method": "GET", "key": "^'$B'/in/d01/big\\.bin$"},
	{"fault": "500", "method": "GET", "key": "^'$B'/in/d01/s-007$"},
	{"fault": "refuse-put", "method": "GET", "key": "^'$B'/in/d01/s-013$"},
	{"fault": "503", "rate": 0.05},
	{"fault": "slowdown", "rate": 0.05}]}'
ok "proxy: permanent faults on 3 keys of in/d01/" s3proxy_set "$RULES_PERM_IN"
diag "t=${SECONDS}s: permanent faults"
ok "stage-in of in/d01/ (50 objects) accepted" "$T" start j3 pin in "s3://$bucket/in/d01/" /perm 0 1000 1000
out=$("$T" wait j3 pin 300); st=$?
diag "$out"
is "$st" 1 "the stage ends (not a time-out) and fails"
line=$(head -1 <<<"$out")
like "$line" 'state=failed files=47/50 failed=3 ' "47 done, exactly 3 failed"
like "$line" "report=/perm/\\.ebb/failures-pin\\.csv " "the status says where the report is"
err=$(sed -n '/^error: /,$p' <<<"$out")
like "$err" 'InternalError' "the error names S3's code for the 500s"
like "$err" 'AccessDenied' "and for the 403"
like "$err" '/perm/s-007' "and the files"
proxy_snap
is "${P_hits[1]}" 9 "a 500 is tried 1 + s3_retries = 9 times, no more"
is "${P_hits[2]}" 1 "a 403 is not retried"
hits=${P_hits[0]}
ok_status $([ "$hits" -ge 9 ] && [ "$hits" -le 36 ] && echo 0 || echo 1) \
	"the multi-stripe file: 9 tries of each stripe started (9..36: $hits)"
csv=$("$T" cat j3 /perm/.ebb/failures-pin.csv 2>&1)
diag "$csv"
is "$(grep -c ',FAILED,' <<<"$csv")" 3 "failures.csv lists 3 files"
like "$csv" '/perm/big\.bin,FAILED,S3Error' "the multi-stripe file as S3Error"
like "$csv" '/perm/s-007,FAILED,S3Error' "the small one as S3Error"
like "$csv" '/perm/s-013,FAILED,S3AccessDenied' "the refused one as S3AccessDenied"
"$T" tree j3 /perm >"$work/perm.tree"
for p in big.bin s-007 s-013; do
	not_ok "failed /perm/$p was removed" grep -q " /perm/$p\$" "$work/perm.tree"
done
tree_sha "$work/perm.tree" | sed 's|  /perm/|  /data/d01/|' >"$work/perm.sha"
grep ' /data/d01/' "$work/want.sha" | grep -Ev ' /data/d01/(big\.bin|s-007|s-013)$' >"$work/perm-want.sha"
is "$(wc -l <"$work/perm.sha")" 47 "47 files in /perm"
ok "and they are byte-identical" diff "$work/perm-want.sha" "$work/perm.sha"

# ---- permanent faults, stage-out -------------------------------------------------------
# /perm touched (so exported) plus a new 12 MiB file: one small file's PUT
# refused (403), another's PUT failing with 500, and part 2 of the 12 MiB
# file failing with 500 (its upload must be aborted).  Only answered
# transient faults besides: a lost CreateMultipartUpload answer would
# leave an upload open and spoil the last check.
is "$("$T" touch j3 /perm)" 48 "touch /perm (47 files and the report)"
ok "a new 12 MiB file in /perm" "$T" put j3 /perm/mp.bin $((12 << 20)) 21
RULES_PERM_OUT='{"seed": 6, "rules": [
	{"fault": "refuse-put", "key": "^'$B'/pout/s-020$"},
	{"fault": "500", "method": "PUT", "key": "^'$B'/pout/s-021$"},
	{"fault": "500", "method": "PUT", "key": "^'$B'/pout/mp\\.bin$", "query": "partNumber=2(&|$)"},
	{"fault": "503", "rate": 0.05},
	{"fault": "slowdown", "rate": 0.05}]}'
ok "proxy: permanent faults on 3 keys under pout/" s3proxy_set "$RULES_PERM_OUT"
ok "stage-out of /perm to pout/ accepted" "$T" start j3 pout out /perm "s3://$bucket/pout/" 0 1000 1000
out=$("$T" wait j3 pout 300); st=$?
diag "$out"
is "$st" 1 "the stage-out ends and fails"
line=$(head -1 <<<"$out")
like "$line" 'state=failed files=45/48 failed=3 ' "45 exported, exactly 3 failed"
like "$line" "report=s3://$bucket/pout/ebb-report-42/failures\\.csv " "the report is in S3 next to the data"
err=$(sed -n '/^error: /,$p' <<<"$out")
like "$err" 'AccessDenied' "the error names S3's code for the 403"
like "$err" 'InternalError' "and for the 500s"
proxy_snap
is "${P_hits[0]}" 1 "a refused PUT is not retried"
is "${P_hits[1]}" 9 "a PUT failing with 500: 9 tries"
is "${P_hits[2]}" 9 "an UploadPart failing with 500: 9 tries"
csv=$(s3_aws s3 cp --only-show-errors "s3://$bucket/pout/ebb-report-42/failures.csv" - 2>&1)
diag "$csv"
is "$(grep -c ',FAILED,' <<<"$csv")" 3 "failures.csv in S3 lists 3 files"
like "$csv" '/perm/s-020,FAILED,S3AccessDenied' "the refused PUT as S3AccessDenied"
like "$csv" '/perm/s-021,FAILED,S3Error' "the failing PUT as S3Error"
like "$csv" '/perm/mp\.bin,FAILED,S3Error' "the multipart file as S3Error"
is "$(s3_aws s3api list-multipart-uploads --bucket "$bucket" --prefix pout/ --query 'length(Uploads || `[]`)' --output text)" \
	0 "the failed file's multipart upload was aborted"
"$T" tree j3 /perm >"$work/perm2.tree"
tree_sha "$work/perm2.tree" | sed 's|  /perm/|  |' |
	grep -Ev '  (s-020|s-021|mp\.bin|\.ebb/.*)$' >"$work/pout-want.sha"
rm -rf "$work/pdown"
ok "download pout/" s3_aws s3 cp --quiet --recursive --exclude 'ebb-report-*' "s3://$bucket/pout/" "$work/pdown/"
(cd "$work/pdown" && find . -type f -print0 | xargs -0 sha256sum | sed 's| \./| |') |
	LC_ALL=C sort -k2 >"$work/pout-got.sha"
is "$(wc -l <"$work/pout-got.sha")" 45 "45 objects under pout/ besides the report"
ok "the 45 exported files byte-identical, the 3 failed ones absent" \
	diff "$work/pout-want.sha" "$work/pout-got.sha"

diag "t=${SECONDS}s: end"
done_testing
