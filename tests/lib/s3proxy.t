# SPDX-License-Identifier: GPL-2.0-or-later
# The fault proxy's own test (tests/lib/s3proxy.py) against a real RGW:
# signed requests pass through unchanged (awscli single and multipart,
# curl with Expect: 100-continue, keep-alive), every fault kind is seen by
# curl as intended, rules change while it runs, filters and seeds behave,
# and the stats count what happened.

. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"
. "$EBB_SRCDIR/tests/lib/rgw.sh"

fixture_init
rgw_start || bail "RGW did not start"
s3proxy_start || bail "s3proxy did not start"
d=$EBB_TEST_DIR/data
mkdir -p "$d"

like "$EBB_S3_PROXY_ENDPOINT" '^http://127\.0\.0\.1:[0-9]+$' "EBB_S3_PROXY_ENDPOINT is loopback"
isnt "$EBB_S3_PROXY_ENDPOINT" "$EBB_S3_ENDPOINT" "the proxy is not the server"

# px ARGS: awscli through the proxy
px() { "$EBB_AWS" --endpoint-url "$EBB_S3_PROXY_ENDPOINT" "$@"; }
# sc OUT URL [curl args]: a signed curl request; sets code (HTTP status)
# and rc (curl's exit status)
sc() {
	local out=$1 url=$2
	shift 2
	rc=0
	code=$(curl -s -o "$out" -w '%{http_code}' --max-time 60 --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$EBB_S3_ACCESS_KEY:$EBB_S3_SECRET_KEY" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" "$url") || rc=$?
}
stat_is() {  # KEY WANT DESC
	is "$(s3proxy_stat "$1")" "$2" "$3"
}
P=$EBB_S3_PROXY_ENDPOINT

# ---- pass-through ---------------------------------------------------------------
ok "create a bucket through the proxy" px s3api create-bucket --bucket px-bkt
head -c 5242881 /dev/urandom >"$d/obj"       # 5 MiB + 1
head -c 20971520 /dev/urandom >"$d/big"      # multipart in aws s3 cp
head -c 1048576 /dev/urandom >"$d/mib"
ok "signed PUT through the proxy (aws)" px s3api put-object --bucket px-bkt --key a/obj --body "$d/obj"
ok "GET through the proxy (aws)" px s3api get-object --bucket px-bkt --key a/obj "$d/obj.px"
ok "... byte-identical" cmp "$d/obj" "$d/obj.px"
ok "the server has the same bytes (direct GET)" sh -c \
	'"$0" --endpoint-url "$EBB_S3_ENDPOINT" s3 cp --only-show-errors s3://px-bkt/a/obj - | cmp - "$1"' "$EBB_AWS" "$d/obj"
ok "multipart upload through the proxy" px s3 cp --only-show-errors "$d/big" s3://px-bkt/a/big
etag=$(s3_aws s3api head-object --bucket px-bkt --key a/big --query ETag --output text)
like "$etag" '-[0-9]+"?$' "... it was multipart ($etag)"
ok "multipart download through the proxy" px s3 cp --only-show-errors s3://px-bkt/a/big "$d/big.px"
ok "... byte-identical" cmp "$d/big" "$d/big.px"
sc "$d/out" "$P/px-bkt/a/mib" -T "$d/mib" -H "Expect: 100-continue"
is "$code/$rc" 200/0 "curl PUT with Expect: 100-continue through the proxy"
sc "$d/mib.px" "$P/px-bkt/a/mib"
is "$code/$rc" 200/0 "curl GET through the proxy"
ok "... byte-identical" cmp "$d/mib" "$d/mib.px"
# chunked request body (curl -T - has no length): whatever RGW answers
# directly, it answers through the proxy, and the connection stays usable
sc "$d/out.direct" "$EBB_S3_ENDPOINT/px-bkt/a/chunked" -T - <"$d/mib"
direct=$code
sc "$d/out" "$P/px-bkt/a/chunked" -T - <"$d/mib"
is "$code/$rc" "$direct/0" "chunked PUT: the same answer as directly ($direct)"
if [ "$direct" = 200 ]; then
	sc "$d/chunked.back" "$P/px-bkt/a/chunked"
	ok "chunked PUT: the object is intact" cmp "$d/mib" "$d/chunked.back"
else
	# (Ceph 16: 411 MissingContentLength) the proxy read the whole
	# chunked body and serves on
	sc "$d/out" "$P/px-bkt/a/mib"
	is "$code" 200 "chunked PUT refused by RGW ($direct): the proxy serves on"
fi
code=$(curl -s -o "$d/out" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
	--user "$EBB_S3_ACCESS_KEY:wrong" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$P/px-bkt/a/mib")
is "$code" 403 "a wrong secret is still refused through the proxy"
ok "... SignatureDoesNotMatch" grep -q '<Code>SignatureDoesNotMatch</Code>' "$d/out"
# keep-alive: two requests in one curl, one connection to the proxy
before=$(s3proxy_stat connections)
n=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects}\n' --aws-sigv4 "aws:amz:us-east-1:s3" \
	--user "$EBB_S3_ACCESS_KEY:$EBB_S3_SECRET_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
	"$P/px-bkt/a/mib" "$P/px-bkt/a/obj" | paste -sd' ')
is "$n" "1 0" "keep-alive: the second request reuses the connection"
is "$(( $(s3proxy_stat connections) - before ))" 1 "... the proxy saw one connection"
stat_is forwarded "$(s3proxy_stat requests)" "no fault yet: every request was forwarded"
is "$(s3proxy_stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["fault"])')" "{}" "no fault counted"

# ---- answered faults -------------------------------------------------------
ok "reset the stats" curl -sf -X POST "$P/__proxy/reset-stats"
stat_is requests 0 "stats reset"
ok "rules: one 503" s3proxy_set '{"rules": [{"fault": "503", "count": 1}]}'
sc "$d/out" "$P/px-bkt/a/mib"
is "$code" 503 "503: status"
ok "503: S3 error body ServiceUnavailable" grep -q '<Code>ServiceUnavailable</Code>' "$d/out"
sc "$d/out" "$P/px-bkt/a/mib"
is "$code" 200 "count 1: the next request passes"
stat_is fault.503 1 "stats: fault.503 = 1"
stat_is requests 2 "stats: 2 requests"
stat_is forwarded 1 "stats: 1 forwarded"
# a HEAD's error has no body (S3 sends none; one would be read as the
# start of the next answer on the connection)
ok "rules: one 503 for HEAD" s3proxy_set '{"rules": [{"fault": "503", "method": "HEAD", "count": 1}]}'
# (raw: curl reads and drops bytes that come with the head in one packet)
port=${P##*:}
exec 5<>"/dev/tcp/127.0.0.1/$port"
printf 'HEAD /px-bkt/a/mib HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$port" >&5
raw=$(timeout 10 cat <&5 | tr -d '\r')
exec 5<&-
like "$raw" '^HTTP/1.1 503 ' "a 503 to a HEAD"
# ($(...) drops the newlines that end the head: an empty line is a body)
is "$(grep -c '^$' <<<"$raw")" 0 "... has a head and no body"
ok "rules: 500" s3proxy_set '{"rules": [{"fault": "500"}]}'
sc "$d/out" "$P/px-bkt/a/mib"
is "$code" 500 "500: status"
ok "500: InternalError" grep -q '<Code>InternalError</Code>' "$d/out"
ok "rules: slowdown" s3proxy_set '{"rules": [{"fault": "slowdown"}]}'
sc "$d/out" "$P/px-bkt/a/mib"
is "$code" 503 "SlowDown: 503"
ok "SlowDown: Code SlowDown" grep -q '<Code>SlowDown</Code>' "$d/out"
ok "rules: refuse-put" s3proxy_set '{"rules": [{"fault": "refuse-put"}]}'
sc "$d/out" "$P/px-bkt/a/refused" -T "$d/mib"
is "$code" 403 "refuse-put: PUT gets 403"
ok "refuse-put: AccessDenied" grep -q '<Code>AccessDenied</Code>' "$d/out"
not_ok "refuse-put: the object was not created" s3_aws s3api head-object --bucket px-bkt --key a/refused
sc "$d/out" "$P/px-bkt/a/refused" -T "$d/mib" -H "Expect: 100-continue"
is "$code" 403 "refuse-put: PUT with Expect: 100-continue gets 403 too"
not_ok "refuse-put: aws put-object fails (no retry helps)" px s3api put-object --bucket px-bkt --key a/refused2 --body "$d/mib"
sc "$d/out" "$P/px-bkt/a/mib"
is "$code" 200 "refuse-put: GET still works"
# filters: method and key
ok "rules: 503 for GET under only/" s3proxy_set '{"rules": [{"fault": "503", "method": "GET", "key": "^px-bkt/only/"}]}'
sc "$d/out" "$P/px-bkt/a/mib"
is "$code" 200 "filter: another key passes"
sc "$d/out" "$P/px-bkt/only/x" -T "$d/mib"
is "$code" 200 "filter: a PUT under only/ passes"
sc "$d/out" "$P/px-bkt/only/x"
is "$code" 503 "filter: a GET under only/ fails"
# skip
ok "rules: skip 1, count 1" s3proxy_set '{"rules": [{"fault": "500", "skip": 1, "count": 1}]}'
codes=
for i in 1 2 3; do sc "$d/out" "$P/px-bkt/a/mib"; codes+="$code "; done
is "$codes" "200 500 200 " "skip 1 count 1: pass, fail, pass"
# awscli retries through two 503s
ok "rules: two 503" s3proxy_set '{"rules": [{"fault": "503", "count": 2}]}'
ok "aws get-object succeeds after its retries" px s3api get-object --bucket px-bkt --key a/obj "$d/obj.retry"
ok "... byte-identical" cmp "$d/obj" "$d/obj.retry"
stat_is fault.503 5 "stats: 5 injected 503 in all (1 + 1 to a HEAD + 1 filtered + 2)"

# ---- spoiled responses --------------------------------------------------------
ok "rules: reset" s3proxy_set '{"rules": [{"fault": "reset", "method": "GET"}]}'
sc "$d/out" "$P/px-bkt/a/mib"
is "$rc" 56 "reset: curl sees a failure receiving (56)"
size=$(stat -c %s "$d/out" 2>/dev/null || echo 0)
ok "reset: it got part of the body ($size of 1048576 bytes)" test "$size" -gt 0 -a "$size" -lt 1048576
ok "rules: truncate after 1000 bytes" s3proxy_set '{"rules": [{"fault": "truncate", "after": 1000}]}'
sc "$d/out" "$P/px-bkt/a/mib"
is "$code/$rc" 200/18 "truncate: status 200, curl sees a partial file (18)"
is "$(stat -c %s "$d/out")" 1000 "truncate: exactly 1000 bytes came"
ok "rules: stall for 3 s" s3proxy_set '{"rules": [{"fault": "stall", "seconds": 3}]}'
sc "$d/out" "$P/px-bkt/a/mib" --max-time 1
is "$rc" 28 "stall: a client with a 1 s time-out gives up (28)"
ok "rules: stall for 1 s" s3proxy_set '{"rules": [{"fault": "stall", "seconds": 1, "count": 1}]}'
sc "$d/out" "$P/px-bkt/a/mib"
is "$code/$rc" 200/0 "stall: a patient client gets the object"
ok "stall: byte-identical" cmp "$d/mib" "$d/out"
ok "rules: reset of a PUT's response" s3proxy_set '{"rules": [{"fault": "reset", "method": "PUT", "count": 1}]}'
sc "$d/out" "$P/px-bkt/a/ambiguous" -T "$d/mib"
is "$rc" 56 "reset of a PUT: the client sees a reset"
ok "... though the server stored it" s3_aws s3api head-object --bucket px-bkt --key a/ambiguous
ok "rules: reset during the upload" s3proxy_set '{"rules": [{"fault": "reset", "method": "PUT", "phase": "request", "after": 65536}]}'
sc "$d/out" "$P/px-bkt/a/cut" -T "$d/mib"
like "$rc" '^(52|55|56)$' "reset during the upload: curl fails sending or receiving ($rc)"
not_ok "... and nothing was stored" s3_aws s3api head-object --bucket px-bkt --key a/cut
not_ok "phase request goes with reset only" s3proxy_set '{"rules": [{"fault": "503", "phase": "request"}]}'
stat_is fault.reset 3 "stats: 3 resets"
stat_is fault.truncate 1 "stats: 1 truncate"
stat_is fault.stall 2 "stats: 2 stalls"

# ---- hold: a gate the test opens --------------------------------------------------
ok "rules: hold PUTs under gate/" s3proxy_set '{"rules": [{"fault": "hold", "method": "PUT", "key": "^px-bkt/gate/", "seconds": 60}]}'
sc "$d/gate.out" "$P/px-bkt/gate/x" -T "$d/mib" &
held=$!
for ((i = 0; i < 200; i++)); do [ "$(s3proxy_stat holding)" = 1 ] && break; sleep 0.05; done
stat_is holding 1 "hold: the PUT waits in the proxy"
not_ok "... and has not reached the server" s3_aws s3api head-object --bucket px-bkt --key gate/x
sc "$d/out" "$P/px-bkt/a/mib"
is "$code" 200 "hold: other requests pass meanwhile"
ok "setting the rules opens the gate" s3proxy_set '{"rules": []}'
wait "$held"
is "$?" 0 "hold: the held PUT then succeeds"
stat_is holding 0 "... nothing is held any more"
ok "... and the object is stored" s3_aws s3api head-object --bucket px-bkt --key gate/x
ok "rules: hold for 1 s" s3proxy_set '{"rules": [{"fault": "hold", "seconds": 1, "count": 1}]}'
sc "$d/out" "$P/px-bkt/a/mib"
is "$code/$rc" 200/0 "hold with seconds: the request goes on by itself"
stat_is fault.hold 2 "stats: 2 holds"
stat_is "keys.PUT px-bkt/gate/x" 1 "stats: requests per key (PUT px-bkt/gate/x: 1)"
ok "awscli multipart through the proxy" px s3 cp --only-show-errors "$d/big" s3://px-bkt/gate/big
stat_is "keys.PUT px-bkt/gate/big part 2" 1 "stats: requests per part (PUT px-bkt/gate/big part 2: 1)"

# ---- rate and seed -------------------------------------------------------------
pattern() {
	local i p=
	s3proxy_set '{"seed": 7, "rules": [{"fault": "503", "rate": 0.5, "key": "^px-bkt/a/mib"}]}' || return 1
	for i in $(seq 1 16); do
		sc /dev/null "$P/px-bkt/a/mib"
		p+=${code:0:1}
	done
	echo "$p"
}
p1=$(pattern)
p2=$(pattern)
like "$p1" '^[25]{16}$' "rate 0.5: 16 answers ($p1)"
like "$p1" '2' "rate 0.5: some pass"
like "$p1" '5' "rate 0.5: some fail"
is "$p2" "$p1" "the same seed gives the same failures"

# ---- control errors -----------------------------------------------------------------
not_ok "a bad fault name is refused" s3proxy_set '{"rules": [{"fault": "explode"}]}'
not_ok "bad JSON is refused" s3proxy_set '{"rules": ['
not_ok "a misspelt rule field is refused (it would match everything)" \
	s3proxy_set '{"rules": [{"fault": "503", "methods": ["GET"]}]}'
like "$(cat "$EBB_TEST_DIR/s3proxy.set.out")" "methods" "... naming the field"
ok "rules: none" s3proxy_set '{"rules": []}'
sc "$d/out" "$P/px-bkt/a/mib"
is "$code" 200 "no rules: requests pass"
like "$(curl -s "$P/__proxy/rules")" '"rules": \[\]' "GET /__proxy/rules shows them"

ok "s3proxy_stop: clean exit" s3proxy_stop
done_testing
