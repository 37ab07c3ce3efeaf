# SPDX-License-Identifier: GPL-2.0-or-later
# rgw.sh: a real S3 server (a private Ceph RGW, scripts/ebb-rgw) for the
# stager's tests, and a fault-injecting proxy in front of it.
#
#   . "$EBB_SRCDIR/tests/tap/tap.sh"
#   . "$EBB_SRCDIR/tests/lib/fixture.sh"
#   . "$EBB_SRCDIR/tests/lib/rgw.sh"
#   fixture_init
#   rgw_start || bail "no RGW"      # skip_all if Ceph is not installed
#   s3_mb mybucket
#   s3_aws s3 cp file s3://mybucket/key
#   s3proxy_start '{"rules": [{"fault": "503", "rate": 0.2}]}'
#   ... ebb pointed at $EBB_S3_PROXY_ENDPOINT ...
#   done_testing                    # the EXIT trap stops RGW and the proxy
#
# DESIGN (the rules of fixture.sh hold: nothing races, nothing leaks,
# everything by PID, the watchdog bounds the test):
# - RGW's daemons (mon, OSD, radosgw) fork into the background: they are
#   not the test's children, so the fixture cannot reap them.  rgw_start
#   registers rgw_stop with fixture_on_cleanup (runs on EXIT, INT, TERM and
#   when the watchdog TERMs the test); rgw_stop stops them by the PIDs in
#   their pid files (scripts/ebb-rgw stop: radosgw first, TERM then KILL,
#   the command line checked first).
# - A SIGKILL to the test shell runs no trap.  So rgw_start also starts a
#   guard: a process outside the test's tree (double fork: the watchdog's
#   tree walk leaves it alone, and it survives the test shell), stdio on
#   /dev/null and no other fd, which sleeps in `read -t` on a fifo (no
#   child process) and checks twice a second that the test shell (PID and
#   start time; a zombie counts as dead) lives.  When it is gone, the guard
#   KILLs the daemons by PID (from the pid files, and the PIDs rgw_start
#   sent it) and removes their directory.  rgw_stop tells the guard
#   through the fifo to leave, and waits until it has.
# - rgw_stop also stops the daemons by the PIDs recorded at the start
#   (their command line checked) when their pid files are gone.
# - Readiness: ebb-rgw start returns once a SigV4-signed request answers.
#   Ports: ebb-rgw retries on a clash; the proxy binds port 0 and writes
#   its port to a file once it listens.
# - Attach mode: EBB_S3_ENDPOINT set in the environment (with
#   EBB_S3_ACCESS_KEY and EBB_S3_SECRET_KEY) makes rgw_start start nothing
#   and use that server (e.g. one started by hand with scripts/ebb-rgw, or
#   under gdb).  rgw_attached is then true; rgw_stop stops nothing.
# - Clients: /usr/bin/aws (Debian's awscli, not one on PATH: pyenv's or a
#   newer one sends aws-chunked uploads Ceph 16 refuses) with its own
#   config and credentials files (path-style addressing: no DNS names for
#   buckets), and rclone with a remote named `rgw`.  ~/.aws is never used.
#
# Interface (functions return nonzero after saying why as diagnostics):
#   rgw_start [ebb-rgw start args]  start RGW in $EBB_TEST_DIR/rgw (or
#                                   attach); skip_all if Ceph or awscli is
#                                   missing, but fail under CI=true.
#                                   Exports EBB_S3_ENDPOINT,
#                                   EBB_S3_ACCESS_KEY, EBB_S3_SECRET_KEY,
#                                   EBB_S3_REGION (us-east-1),
#                                   AWS_CONFIG_FILE,
#                                   AWS_SHARED_CREDENTIALS_FILE,
#                                   RCLONE_CONFIG (remote "rgw"); sets
#                                   EBB_RGW_DIR, EBB_RGW_PIDS (mon, OSD,
#                                   radosgw; empty when attached)
#   rgw_stop                        stop RGW (and its guard); idempotent
#   rgw_attached                    true when using a server from outside
#   s3_aws ARGS...                  /usr/bin/aws --endpoint-url $EBB_S3_ENDPOINT ARGS
#   s3_mb BUCKET                    create a bucket
#   s3_put_tree DIR s3://B/PREFIX/  upload a directory tree (aws s3 cp --recursive)
#   s3_tree_sha BUCKET [PREFIX]     prints "SHA256  KEY" per object under
#                                   PREFIX, sorted by key (listed, then
#                                   downloaded with one aws s3 cp and hashed)
#   tree_sha DIR [PREFIX]           the same listing for a local tree, keys
#                                   being PREFIX + relative paths, so that
#                                   `is "$(s3_tree_sha b p/)" "$(tree_sha d p/)"`
#   s3proxy_start [RULES_JSON]      the fault proxy (tests/lib/s3proxy.py)
#                                   in front of EBB_S3_ENDPOINT; exports
#                                   EBB_S3_PROXY_ENDPOINT; tracked and
#                                   reaped by the fixture
#   s3proxy_set RULES_JSON          replace the rules while it runs
#   s3proxy_stats                   prints the stats JSON
#   s3proxy_stat KEY                prints one counter ("requests",
#                                   "fault.503", ...) from the stats
#   s3proxy_keys METHOD PREFIX      "COUNT KEY" lines: requests per key
#   s3proxy_stop                    stop it (TERM, reaped)
#
# Knobs: EBB_RGW_SCRIPT (scripts/ebb-rgw), EBB_AWS (/usr/bin/aws).

EBB_RGW_SCRIPT=${EBB_RGW_SCRIPT:-$EBB_SRCDIR/scripts/ebb-rgw}
EBB_AWS=${EBB_AWS:-/usr/bin/aws}
EBB_S3PROXY=${EBB_S3PROXY:-$EBB_SRCDIR/tests/lib/s3proxy.py}

_rgw_attached=
_rgw_started=
_rgw_guard_pid=
_rgw_start_pid=
EBB_RGW_PIDS=
[ -n "${EBB_S3_ENDPOINT:-}" ] && _rgw_attached=1

rgw_attached() {
	[ -n "$_rgw_attached" ]
}

# _rgw_missing WHAT: skip, or fail under CI (which installs everything).
_rgw_missing() {
	if [ "${CI:-}" = true ]; then
		bail "$* (CI=true: CI installs everything; see scripts/install-deps)"
	fi
	skip_all "$* (scripts/install-deps installs it)"
}

# _rgw_clients: the aws and rclone configuration for the current server.
_rgw_clients() {
	local d=$EBB_TEST_DIR/s3-clients
	mkdir -p "$d" || return 1
	cat >"$d/aws-config" <<-EOF
	[default]
	region = $EBB_S3_REGION
	output = json
	cli_pager =
	s3 =
	    addressing_style = path
	EOF
	(
		umask 077
		cat >"$d/aws-credentials" <<-EOF
		[default]
		aws_access_key_id = $EBB_S3_ACCESS_KEY
		aws_secret_access_key = $EBB_S3_SECRET_KEY
		EOF
		cat >"$d/rclone.conf" <<-EOF
		[rgw]
		type = s3
		provider = Ceph
		env_auth = false
		access_key_id = $EBB_S3_ACCESS_KEY
		secret_access_key = $EBB_S3_SECRET_KEY
		endpoint = $EBB_S3_ENDPOINT
		region = $EBB_S3_REGION
		force_path_style = true
		EOF
	) || return 1
	export AWS_CONFIG_FILE=$d/aws-config
	export AWS_SHARED_CREDENTIALS_FILE=$d/aws-credentials
	export RCLONE_CONFIG=$d/rclone.conf
	export AWS_PAGER=
	export AWS_EC2_METADATA_DISABLED=true
	# A CA bundle from the environment is useless for http:// and breaks
	# rclone (LoadCustomCABundleError); a proxy must not see loopback.
	case $EBB_S3_ENDPOINT in http://*) unset AWS_CA_BUNDLE ;; esac
	export NO_PROXY=127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}
	export no_proxy=127.0.0.1,localhost${no_proxy:+,$no_proxy}
}

# _rgw_proc_start PID: the start time of PID (field 22 of its stat), or
# nothing if it is gone or a zombie.
_rgw_proc_start() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }   # after "PID (comm) "
	set -- $s
	[ "$1" != Z ] || return 1
	echo "${20}"
}

# _rgw_ours PID CONF: PID runs (not a zombie) with CONF on its command line.
_rgw_ours() {
	[ -e "/proc/$1" ] && ! [[ $(ps -o stat= -p "$1" 2>/dev/null) =~ ^(Z|$) ]] &&
		tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qxF -- "$2"
}

# _rgw_kill_recorded CONF PID...: the fallback when the pid files are gone
# (a test that removed the directory): TERM each in order (radosgw
# first), KILL what is left after 10 s.  True if none is left.
_rgw_kill_recorded() {
	local conf=$1 p i left
	shift
	for p in "$@"; do
		_rgw_ours "$p" "$conf" || continue
		kill -s TERM "$p" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			_rgw_ours "$p" "$conf" || break
			sleep 0.1
		done
		_rgw_ours "$p" "$conf" && kill -s KILL "$p" 2>/dev/null
	done
	sleep 0.2
	left=
	for p in "$@"; do
		_rgw_ours "$p" "$conf" && left+=" $p"
	done
	[ -z "$left" ]
}

# _rgw_guard DIR: the guard (see DESIGN); its PID in _rgw_guard_pid.
_rgw_guard() {
	local dir=$1 fifo=$EBB_TEST_DIR/.rgw-guard me=$$ t0
	t0=$(_rgw_proc_start $$) || return 1
	rm -f "$fifo" "$fifo.pid"
	mkfifo "$fifo" || return 1
	(
		(
			exec </dev/null >/dev/null 2>&1
			for fd in /proc/$BASHPID/fd/*; do
				fd=${fd##*/}
				[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
			done
			exec 3<>"$fifo"
			echo "$BASHPID" >"$fifo.pid"
			pids=
			while :; do
				if read -r -t 0.5 -u 3 msg arg; then
					[ "$msg" = leave ] && exit 0
					[ "$msg" = pids ] && pids=$arg
				fi
				[ "$(_rgw_proc_start "$me")" = "$t0" ] && continue
				# the test shell died without its trap
				"$EBB_RGW_SCRIPT" stop --kill --dir "$dir" >>"$dir.guard.log" 2>&1
				_rgw_kill_recorded "$dir/ceph.conf" $pids
				[ "${EBB_KEEP:-0}" = 1 ] || rm -rf -- "$dir" "$fifo" "$fifo.pid"
				exit 0
			done
		) &
	)
	for ((i = 0; i < 100; i++)); do
		[ -s "$fifo.pid" ] && break
		sleep 0.02
	done
	_rgw_guard_pid=$(cat "$fifo.pid" 2>/dev/null)
	[ -n "$_rgw_guard_pid" ] || { diag "rgw: the guard did not start"; return 1; }
}

# _rgw_guard_alive: whether the guard still runs (a zombie does not)
_rgw_guard_alive() {
	[ -e "/proc/$_rgw_guard_pid" ] &&
		! [[ $(ps -o stat= -p "$_rgw_guard_pid" 2>/dev/null) =~ ^(Z|$) ]]
}

# _rgw_guard_leave: tell the guard to go, wait (at least 10 s) until it
# has.  2 s was once too short on a loaded 2-core CI machine (the guard
# forks for every check of the test shell, and each of our checks forks
# ps).  The message is sent again every half second: bash's `read -t`
# drops a line it was reading when its timeout fires, which under load
# lost a single "leave" once (CI, stage.t).  A guard still there after
# that is ours (its fd 3 is our fifo): TERM it, so nothing outlives the
# test either way.
_rgw_guard_leave() {
	local fifo=$EBB_TEST_DIR/.rgw-guard i
	[ -n "$_rgw_guard_pid" ] || return 0
	for ((i = 0; i < 500; i++)); do
		# <> never blocks, even when nobody reads any more
		((i % 25 == 0)) && [ -p "$fifo" ] && echo leave 1<>"$fifo"
		_rgw_guard_alive || break
		sleep 0.02
	done
	if _rgw_guard_alive; then
		if [ "$(readlink "/proc/$_rgw_guard_pid/fd/3" 2>/dev/null)" = "$fifo" ]; then
			diag "rgw: the guard (pid $_rgw_guard_pid) did not leave when told: TERM"
			kill -TERM "$_rgw_guard_pid" 2>/dev/null
			for ((i = 0; i < 100; i++)); do
				_rgw_guard_alive || break
				sleep 0.05
			done
		fi
		if _rgw_guard_alive; then
			diag "rgw: the guard (pid $_rgw_guard_pid) did not leave"
			return 1
		fi
	fi
	_rgw_guard_pid=
	rm -f "$fifo" "$fifo.pid"
}

rgw_start() {
	local d st i p
	[ -n "${EBB_TEST_DIR:-}" ] || bail "rgw_start before fixture_init"
	[ -n "$_rgw_started" ] && return 0
	[ -x "$EBB_AWS" ] || _rgw_missing "$EBB_AWS not installed (apt-get install awscli)"
	command -v curl >/dev/null || _rgw_missing "curl not installed"
	export EBB_S3_REGION=${EBB_S3_REGION:-us-east-1}
	if rgw_attached; then
		if [ -z "${EBB_S3_ACCESS_KEY:-}" ] || [ -z "${EBB_S3_SECRET_KEY:-}" ]; then
			diag "rgw: EBB_S3_ENDPOINT is set (attach mode) but EBB_S3_ACCESS_KEY/EBB_S3_SECRET_KEY are not"
			return 1
		fi
		diag "rgw: attached to the S3 server at EBB_S3_ENDPOINT=$EBB_S3_ENDPOINT"
		export EBB_S3_ENDPOINT EBB_S3_ACCESS_KEY EBB_S3_SECRET_KEY
		_rgw_clients || return 1
		_rgw_started=1
		return 0
	fi
	for p in radosgw ceph-mon ceph-osd ceph-authtool radosgw-admin ceph uuidgen; do
		command -v "$p" >/dev/null ||
			_rgw_missing "$p not installed (apt-get install radosgw ceph-mon ceph-osd ceph-common uuid-runtime)"
	done
	[ "$(id -u)" = 0 ] || skip_all "needs root (ebb-rgw is only tried as root)"
	d=$EBB_TEST_DIR/rgw
	EBB_RGW_DIR=$d
	mkdir -p "$d" || return 1
	fixture_on_cleanup rgw_stop
	_rgw_started=1
	_rgw_guard "$d" || return 1
	# in the background so that the watchdog can end it (it is tracked
	# by the fixture while it runs)
	fixture_spawn rgw-start "$EBB_RGW_SCRIPT" start --dir "$d" --timeout 60 "$@"
	_rgw_start_pid=$_fixture_last_pid
	# the watchdog leaves its children alone: it stops them on SIGTERM
	_fixture_track_tree "$_rgw_start_pid"
	st=0
	fixture_wait_pid "$_rgw_start_pid" || st=$?
	_rgw_start_pid=
	EBB_RGW_PIDS=$("$EBB_RGW_SCRIPT" pids --dir "$d" | tr '\n' ' ')
	EBB_RGW_PIDS=${EBB_RGW_PIDS% }
	# the guard keeps them too, in case the directory goes
	echo "pids $EBB_RGW_PIDS" 1<>"$EBB_TEST_DIR/.rgw-guard"
	if [ "$st" -ne 0 ]; then
		diag "rgw: scripts/ebb-rgw start failed (status $st)"
		diag_file "$EBB_TEST_DIR/rgw-start.log" 30
		return 1
	fi
	# shellcheck disable=SC1091
	. "$d/s3.env" || return 1
	export EBB_S3_ENDPOINT EBB_S3_ACCESS_KEY EBB_S3_SECRET_KEY EBB_S3_REGION
	_rgw_clients || return 1
	return 0
}

rgw_stop() {
	local st=0 i
	if rgw_attached || [ -z "$_rgw_started" ]; then
		return 0
	fi
	s3proxy_stop || st=1
	if [ -n "$_rgw_start_pid" ]; then
		# interrupted during rgw_start (the watchdog, ^C): ebb-rgw
		# start stops what it started on SIGTERM
		_fixture_reap "$_rgw_start_pid" TERM
		_rgw_start_pid=
	fi
	if [ -n "${EBB_RGW_DIR:-}" ] && [ -f "$EBB_RGW_DIR/ceph.conf" ]; then
		# radosgw, OSD, mon: TERM, KILL after 10 s each
		if ! "$EBB_RGW_SCRIPT" stop --dir "$EBB_RGW_DIR" --timeout 10 >>"$EBB_TEST_DIR/rgw-stop.log" 2>&1; then
			diag "rgw: scripts/ebb-rgw stop failed"
			diag_file "$EBB_TEST_DIR/rgw-stop.log" 10
			st=1
		fi
		grep -q SIGKILL "$EBB_TEST_DIR/rgw-stop.log" 2>/dev/null &&
			diag "rgw: $(grep SIGKILL "$EBB_TEST_DIR/rgw-stop.log")"
	fi
	# by the PIDs recorded at the start: the pid files may be gone
	for i in $EBB_RGW_PIDS; do
		if _rgw_ours "$i" "$EBB_RGW_DIR/ceph.conf"; then
			diag "rgw: pid $i outlived scripts/ebb-rgw stop (no pid file?): stopping it by its recorded PID"
			_rgw_kill_recorded "$EBB_RGW_DIR/ceph.conf" $EBB_RGW_PIDS || {
				diag "rgw: cannot stop $EBB_RGW_PIDS"
				st=1
			}
			break
		fi
	done
	_rgw_guard_leave || st=1
	_rgw_started=
	EBB_RGW_PIDS=
	return "$st"
}

s3_aws() {
	"$EBB_AWS" --endpoint-url "$EBB_S3_ENDPOINT" "$@"
}

s3_mb() {
	s3_aws s3api create-bucket --bucket "$1" >/dev/null
}

# s3_put_tree DIR s3://BUCKET/PREFIX/
s3_put_tree() {
	s3_aws s3 cp --recursive --only-show-errors "$1" "$2"
}

# s3_tree_sha BUCKET [PREFIX]: "SHA256  KEY" lines sorted by key.  The
# keys come from ListObjectsV2; the data from one recursive download (a
# key that cannot be a file name, such as "d/" or "a//b", is fetched on its
# own).  Keys with a tab or a newline are not supported.
s3_tree_sha() {
	local b=$1 pfx=${2:-} key sum keys tmp st=0
	keys=$(s3_aws s3api list-objects-v2 --bucket "$b" --prefix "$pfx" \
		--query 'Contents[].Key' --output text) || return 1
	{ [ -z "$keys" ] || [ "$keys" = None ]; } && return 0
	tmp=$(mktemp -d "$EBB_TEST_DIR/s3sha.XXXXXX") || return 1
	s3_aws s3 cp --recursive --only-show-errors --exclude '*' --include "$pfx*" \
		"s3://$b/" "$tmp/" >&2 || st=1
	# (text output: keys separated by tabs, one line per page)
	while IFS= read -r key; do
		[ -n "$key" ] || continue
		if [[ $key != */ && $key != *//* && -f "$tmp/$key" ]]; then
			sum=$(sha256sum <"$tmp/$key")
		else
			sum=$(s3_aws s3 cp --only-show-errors "s3://$b/$key" - | sha256sum) || st=1
		fi
		printf '%s  %s\n' "${sum%% *}" "$key"
	done < <(printf '%s\n' "$keys" | tr '\t' '\n' | LC_ALL=C sort)
	rm -rf -- "$tmp"
	return "$st"
}

# tree_sha DIR [PREFIX]: the same listing for a local tree.
tree_sha() {
	local dir=$1 pfx=${2:-} f
	(cd "$dir" && find . -type f -print | sed 's|^\./||' | LC_ALL=C sort) |
	while IFS= read -r f; do
		printf '%s  %s\n' "$(sha256sum <"$dir/$f" | cut -d' ' -f1)" "$pfx$f"
	done
}

# ---- the fault proxy (tests/lib/s3proxy.py) ----------------------------------

_s3proxy_pid=
_s3proxy_ctl=

s3proxy_start() {
	local rules=${1:-} pf=$EBB_TEST_DIR/s3proxy.port i port args=()
	[ -n "${EBB_S3_ENDPOINT:-}" ] || { diag "s3proxy_start before rgw_start"; return 1; }
	[ -z "$_s3proxy_pid" ] || { diag "s3proxy_start: already running"; return 1; }
	command -v python3 >/dev/null || _rgw_missing "python3 not installed"
	rm -f "$pf"
	# S3PROXY_BIND: another address to listen on (tests/lib/slurm.sh puts
	# the proxy on its bridge, which the nodes' namespaces can reach)
	local bind=${S3PROXY_BIND:-127.0.0.1}
	args=(--upstream "$EBB_S3_ENDPOINT" --listen "$bind:0" --port-file "$pf")
	if [ -n "$rules" ]; then
		printf '%s\n' "$rules" >"$EBB_TEST_DIR/s3proxy.rules.json"
		args+=(--rules "$EBB_TEST_DIR/s3proxy.rules.json")
	fi
	fixture_spawn s3proxy python3 "$EBB_S3PROXY" "${args[@]}"
	_s3proxy_pid=$_fixture_last_pid
	# fixture_on_cleanup hooks run before the reaping: rgw_stop stops the
	# proxy first; the fixture reaps it anyway if rgw_stop did not run
	for ((i = 0; i < 200; i++)); do
		if [ -s "$pf" ]; then
			port=$(tr -d ' \t\r\n' <"$pf")
			if [[ $port =~ ^[0-9]+$ ]]; then
				export EBB_S3_PROXY_ENDPOINT=http://$bind:$port
				_s3proxy_ctl=$EBB_S3_PROXY_ENDPOINT/__proxy
				return 0
			fi
		fi
		if ! kill -0 "$_s3proxy_pid" 2>/dev/null; then
			fixture_wait_pid "$_s3proxy_pid"
			diag "s3proxy exited during start-up (status $?)"
			diag_file "$EBB_TEST_DIR/s3proxy.log"
			_s3proxy_pid=
			return 1
		fi
		sleep 0.05
	done
	diag "s3proxy wrote no port file in 10 s"
	diag_file "$EBB_TEST_DIR/s3proxy.log"
	return 1
}

s3proxy_set() {
	local code f=$EBB_TEST_DIR/s3proxy.set.out
	[ -n "$_s3proxy_ctl" ] || { diag "s3proxy_set: no proxy"; return 1; }
	code=$(curl -sS --max-time 10 -o "$f" -w '%{http_code}' -X PUT \
		-H 'Content-Type: application/json' --data-binary "$1" \
		"$_s3proxy_ctl/rules" 2>&1)
	[ "$code" = 200 ] || { diag "s3proxy_set: $code $(cat "$f" 2>/dev/null)"; return 1; }
}

s3proxy_stats() {
	[ -n "$_s3proxy_ctl" ] || { diag "s3proxy_stats: no proxy"; return 1; }
	curl -sS --max-time 10 -f "$_s3proxy_ctl/stats"
}

# s3proxy_stat KEY: one counter, 0 when absent ("requests", "fault.reset",
# "keys.PUT bkt/a.bin": the part after the first dot is one name)
s3proxy_stat() {
	s3proxy_stats | python3 -c '
import json, sys
d = json.load(sys.stdin)
for part in sys.argv[1].split(".", 1):
    d = d.get(part, 0) if isinstance(d, dict) else 0
print(d)' "$1"
}

# s3proxy_keys METHOD PREFIX: "COUNT KEY" for every key ("bkt/key", or
# "bkt/key part N" for UploadPart) under PREFIX that METHOD requests went
# to, sorted by key
s3proxy_keys() {
	s3proxy_stats | python3 -c '
import json, sys
m, pfx = sys.argv[1] + " ", sys.argv[2]
for k, n in sorted(json.load(sys.stdin)["keys"].items()):
    if k.startswith(m) and k[len(m):].startswith(pfx):
        print(n, k[len(m):])' "$1" "$2"
}

s3proxy_stop() {
	[ -n "$_s3proxy_pid" ] || return 0
	_fixture_reap "$_s3proxy_pid" TERM
	_s3proxy_pid=
	_s3proxy_ctl=
	unset EBB_S3_PROXY_ENDPOINT
	case $_fixture_status in
	0 | 143) return 0 ;;
	*) diag "s3proxy exited with status $_fixture_status"; diag_file "$EBB_TEST_DIR/s3proxy.log"; return 1 ;;
	esac
}
