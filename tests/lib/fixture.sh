# SPDX-License-Identifier: GPL-2.0-or-later
# fixture.sh: real daemons (munged + N bbd on loopback) for ebb's shell tests.
#
#   . "$EBB_SRCDIR/tests/tap/tap.sh"
#   . "$EBB_SRCDIR/tests/lib/fixture.sh"
#   fixture_init                 # private dir, cleanup trap, watchdog
#   fixture_munged               # private munged; exports EBB_MUNGE_SOCKET
#   fixture_bbd 4                # 4 bbd; exports EBB_NODES=127.0.0.1:p0,...
#   fixture_ebbctl instance create ...
#   done_testing                 # the EXIT trap stops and reaps everything
#
# DESIGN: nothing here can race or leak.
# - Readiness: bbd binds port 0 and writes its port to a file once it
#   listens; munged is ready when a credential round-trips.  We never pick
#   a "free" port and never scrape logs.
# - Reaping: every process the fixture starts runs in the foreground mode
#   of its daemon, as a child of the test shell, with its PID recorded.  The
#   EXIT/INT/TERM trap sends TERM to each by PID, waits up to 5 s, then
#   KILLs, reaps it, and removes the private directory (unless EBB_KEEP=1).
#   Nothing is ever killed by name.
# - Time bound: a watchdog kills the test's process tree after
#   EBB_TEST_TIMEOUT seconds (default 600).  It walks the tree from the test
#   shell instead of killing the process group: under `make check` the test
#   shares make's process group, and killing it would kill make.
# - No held pipes: daemons and the watchdog have their stdio on files or
#   /dev/null, so the TAP driver never waits for a stray process to close
#   the test's stdout.
# - Attaching: with EBB_NODES set in the environment (daemons started by
#   hand, e.g. under gdb), fixture_bbd starts nothing and uses them;
#   EBB_MUNGE_SOCKET likewise makes fixture_munged use that munged.  Tests
#   that kill or restart daemons skip those checks (fixture_attached).
# - Debugging: EBB_VALGRIND=1 runs bbd under valgrind (errors fail the
#   test); a bbd built with --enable-asan reports into its log, which is
#   scanned at the end; EBB_KEEP=1 keeps the directory with every log.
#
# Interface for tests (all functions return nonzero on failure, after
# printing why as TAP diagnostics):
#   fixture_init                    EBB_TEST_DIR = the private directory
#   fixture_munged                  EBB_MUNGE_SOCKET
#   fixture_bbd N [bbd args...]     EBB_NODES, EBB_NODE_PIDS[], EBB_NODE_PORTS[],
#                                   EBB_NODE_ROOTS[], EBB_NODE_LIST[] (host:port)
#   fixture_bbd_kill K [SIG]        default SIG=KILL; reaps it
#   fixture_bbd_restart K           same port, same root, same arguments
#   fixture_bbd_stop K              TERM, reaped; returns bbd's exit status
#   fixture_ebbctl ARGS...          ebbctl -n "$EBB_NODES" ARGS...
#   fixture_attached                true if using hand-started daemons
#   fixture_logs [LINES]            tail of every daemon log as diagnostics
#   fixture_require_root            skip_all unless uid 0
#   fixture_spawn NAME CMD...       start a helper in the background, tracked
#                                   and reaped like the daemons
#   fixture_wait_pid PID            wait for such a helper, return its status
#   fixture_setup_nodes N [args]    init + root check + munged + N bbd, bails
#   fixture_exec_tap PROG ARGS...   PROG's TAP stream is the test's; exits
#                                   with its status (daemons still reaped)
#   fixture_on_cleanup FUNC         the EXIT/INT/TERM cleanup runs FUNC first,
#                                   before it reaps anything (tests/lib/slurm.sh
#                                   stops its cluster there); FUNC failing
#                                   fails the test
#
# Tests should not use `set -e`: the functions report failures by status.
# munged and bbd run in the foreground (munged -F), so their PIDs are known
# at once and no pid file can be stale or raced.

if [ -z "${BASH_VERSION:-}" ]; then
	echo "Bail out! tests/lib/fixture.sh needs bash"
	exit 255
fi

: "${EBB_BUILDDIR:=$(pwd)}"
: "${EBB_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export EBB_BUILDDIR EBB_SRCDIR

EBB_BBD=${EBB_BBD:-$EBB_BUILDDIR/bbd/bbd}
EBB_EBBCTL=${EBB_EBBCTL:-$EBB_BUILDDIR/client-lib/ebbctl}

_fixture_pids=()      # every PID we started and have not reaped yet
_fixture_names=()     # parallel to _fixture_pids: what it is, for messages
_fixture_attached=
_fixture_watchdog=
_fixture_failed_daemon=
_fixture_cleaned=
EBB_NODE_PIDS=()
EBB_NODE_PORTS=()
EBB_NODE_ROOTS=()
EBB_NODE_LIST=()
_fixture_bbd_args=()  # per node: extra arguments, one string (%q-quoted)
_fixture_cleanup_hooks=()  # fixture_on_cleanup: run first by the cleanup

# ---- process bookkeeping --------------------------------------------------

_fixture_track() {   # PID NAME
	_fixture_pids+=("$1")
	_fixture_names+=("$2")
	# the watchdog (a subshell forked earlier) learns our PIDs from here
	if [ -n "${EBB_TEST_DIR:-}" ]; then echo "$1" >>"$EBB_TEST_DIR/.tracked"; fi
}

_fixture_untrack() { # PID
	local i
	for i in "${!_fixture_pids[@]}"; do
		if [ "${_fixture_pids[$i]}" = "$1" ]; then
			unset '_fixture_pids[i]' '_fixture_names[i]'
		fi
	done
}

_fixture_name_of() { # PID
	local i
	for i in "${!_fixture_pids[@]}"; do
		[ "${_fixture_pids[$i]}" = "$1" ] && { echo "${_fixture_names[$i]}"; return; }
	done
	echo "pid $1"
}

# _fixture_reap PID [SIG]: signal (default TERM), wait up to 5 s, then KILL.
# Sets _fixture_status to the exit status (128+n for a signal).  The PID is
# always one of our children, so `wait` reaps it and cannot hit a reused PID.
_fixture_reap() {
	local pid=$1 sig=${2:-TERM} i
	_fixture_status=0
	if kill -0 "$pid" 2>/dev/null; then
		kill -s "$sig" "$pid" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			# a zombie still answers kill -0; ps tells the states apart
			case $(ps -o stat= -p "$pid" 2>/dev/null) in
			'' | Z*) break ;;
			esac
			sleep 0.1
		done
		if ! [[ $(ps -o stat= -p "$pid" 2>/dev/null) =~ ^(Z|$) ]]; then
			diag "$(_fixture_name_of "$pid") (pid $pid) ignored SIG$sig for 5 s: SIGKILL"
			kill -s KILL "$pid" 2>/dev/null
		fi
	fi
	# (braces: bash's "Killed" job notice goes to /dev/null too)
	{ wait "$pid"; } 2>/dev/null
	_fixture_status=$?
	_fixture_untrack "$pid"
	return 0
}

# _fixture_descendants PID: every descendant PID, deepest first.
_fixture_descendants() {
	local child
	for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		_fixture_descendants "$child"
		echo "$child"
	done
}

# _fixture_watchdog_victims PID " TRACKED " " TREES ": the descendants the
# watchdog kills: not the tracked processes (the trap TERMs them), and not
# the descendants of a process in TREES (_fixture_track_tree: a daemon
# whose children are its own to stop, such as slurmctld's slurmscriptd).
_fixture_watchdog_victims() {
	local child
	for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		case $3 in *" $child "*) continue ;; esac
		_fixture_watchdog_victims "$child" "$2" "$3"
		case $2 in *" $child "*) continue ;; esac
		echo "$child"
	done
}

# _fixture_track_tree PID: a tracked daemon whose children the watchdog
# leaves alone, for the daemon to stop when the trap TERMs it.
_fixture_track_tree() {
	if [ -n "${EBB_TEST_DIR:-}" ]; then echo "$1" >>"$EBB_TEST_DIR/.tracked-trees"; fi
}

# ---- cleanup ---------------------------------------------------------------

_fixture_cleanup() {
	local rc=$1 pid name i st bad=0 f
	[ -n "$_fixture_cleaned" ] && return
	_fixture_cleaned=1
	trap - EXIT INT TERM
	if [ -n "$_fixture_watchdog" ]; then
		kill "$_fixture_watchdog" 2>/dev/null
		wait "$_fixture_watchdog" 2>/dev/null
	fi
	if [ -z "${_tap_done:-}" ] && [ "$rc" -eq 0 ]; then
		diag "test script exited without done_testing"
	fi
	for f in "${_fixture_cleanup_hooks[@]}"; do
		"$f" || { diag "cleanup: $f failed"; _fixture_failed_daemon=1; }
	done
	# bbd first (they talk to munged): TERM them all, then reap each.
	# (The arrays are sparse once a daemon was killed: walk the indices.)
	for i in "${!_fixture_pids[@]}"; do
		[[ ${_fixture_names[$i]} == bbd* ]] &&
			kill -s TERM "${_fixture_pids[$i]}" 2>/dev/null
	done
	for i in "${!_fixture_pids[@]}"; do
		pid=${_fixture_pids[$i]}
		name=${_fixture_names[$i]}
		[[ $name == bbd* ]] || continue
		_fixture_reap "$pid" TERM
		st=$_fixture_status
		if [ "$st" -ne 0 ] && [ "$st" -ne 143 ]; then
			diag "$name (pid $pid) exited with status $st, not 0, on SIGTERM"
			_fixture_failed_daemon=1
		fi
	done
	for pid in "${_fixture_pids[@]}"; do
		_fixture_reap "$pid" TERM
	done
	# sanitizer and valgrind reports make the test fail
	if [ -n "${EBB_TEST_DIR:-}" ] && [ -d "$EBB_TEST_DIR" ]; then
		for f in "$EBB_TEST_DIR"/bbd*.log; do
			[ -f "$f" ] || continue
			if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:' "$f"; then
				diag "sanitizer report in $f"
				diag_file "$f" 60
				bad=1
			fi
		done
		# valgrind runs with --quiet: anything in its log is an error
		# or a definite leak
		for f in "$EBB_TEST_DIR"/bbd*.vg.*; do
			[ -f "$f" ] || continue
			if [ -s "$f" ]; then
				diag "valgrind report in $f"
				diag_file "$f" 80
				bad=1
			fi
		done
	fi
	if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ] || [ -n "$_fixture_failed_daemon" ] ||
	   [ "${_tap_failed:-0}" -ne 0 ]; then
		fixture_logs 30
		[ "$bad" -ne 0 ] && [ "$rc" -eq 0 ] && rc=1
		[ -n "$_fixture_failed_daemon" ] && [ "$rc" -eq 0 ] && rc=1
		if [ -n "${EBB_TEST_DIR:-}" ] && [ -d "$EBB_TEST_DIR" ] && [ "${EBB_KEEP:-0}" != 1 ]; then
			diag "(set EBB_KEEP=1 to keep $EBB_TEST_DIR)"
		fi
	fi
	if [ -n "${EBB_TEST_DIR:-}" ] && [ -d "$EBB_TEST_DIR" ]; then
		if [ "${EBB_KEEP:-0}" = 1 ]; then
			diag "kept $EBB_TEST_DIR"
		else
			rm -rf -- "$EBB_TEST_DIR"
		fi
	fi
	exit "$rc"
}

# ---- public ----------------------------------------------------------------

fixture_init() {
	local t=${EBB_TEST_TIMEOUT:-600} me=$$
	if [ -n "${EBB_TEST_DIR:-}" ] && [ -n "${_fixture_inited:-}" ]; then
		return 0
	fi
	_fixture_inited=1
	EBB_TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ebb-test.XXXXXX") ||
		bail "cannot create a temporary directory under ${TMPDIR:-/tmp}"
	# 0755: a client run as another user (the credential tests) must reach
	# the munged socket inside it.
	chmod 755 "$EBB_TEST_DIR"
	export EBB_TEST_DIR
	trap '_fixture_cleanup $?' EXIT
	trap 'diag "interrupted (SIGINT)"; _fixture_cleanup 130' INT
	trap 'diag "terminated (SIGTERM; the watchdog after ${EBB_TEST_TIMEOUT:-600} s?)"; _fixture_cleanup 143' TERM
	if [ -n "${EBB_NODES:-}" ]; then
		_fixture_attached=1
		diag "attached to hand-started daemons: EBB_NODES=$EBB_NODES"
	fi
	# The watchdog: a subshell polling once a second, so it goes away by
	# itself within a second of the test; stdio on /dev/null.
	(
		exec </dev/null >/dev/null 2>&1
		for ((i = 0; i < t; i++)); do
			sleep 1
			kill -0 "$me" 2>/dev/null || exit 0
		done
		echo "# watchdog: EBB_TEST_TIMEOUT=${t}s passed, killing the test" >>"$EBB_TEST_DIR/watchdog.log"
		# Kill the test's foreground commands (a shell waiting on one
		# defers its traps until it ends), then TERM the shell, whose
		# trap reaps the daemons and kills this watchdog.  Repeat: the
		# shell may have gone on to its next command in between.
		for ((round = 0; round < 10; round++)); do
			tracked=" $(tr '\n' ' ' <"$EBB_TEST_DIR/.tracked" 2>/dev/null) "
			trees=" $(tr '\n' ' ' <"$EBB_TEST_DIR/.tracked-trees" 2>/dev/null) "
			# the daemons are left to the trap (a clean TERM)
			for p in $(_fixture_watchdog_victims "$me" "$tracked" "$trees"); do
				[ "$p" = "$BASHPID" ] && continue
				kill -s KILL "$p" 2>/dev/null
			done
			kill -s TERM "$me" 2>/dev/null || exit 0
			sleep 1
		done
		# the shell did not react in 10 s: kill everything
		for p in $(_fixture_descendants "$me"); do
			[ "$p" = "$BASHPID" ] || kill -s KILL "$p" 2>/dev/null
		done
		kill -s KILL "$me" 2>/dev/null
	) &
	_fixture_watchdog=$!
}

# fixture_on_cleanup FUNC: FUNC runs at the start of the cleanup (once,
# whatever the way out), while every tracked daemon still runs.
fixture_on_cleanup() {
	local f
	for f in "${_fixture_cleanup_hooks[@]}"; do
		[ "$f" = "$1" ] && return 0
	done
	_fixture_cleanup_hooks+=("$1")
}

fixture_attached() {
	[ -n "$_fixture_attached" ]
}

fixture_require_root() {
	[ "$(id -u)" = 0 ] || skip_all "needs root (${1:-to start munged and bbd})"
}

# fixture_spawn NAME CMD...: a helper process, tracked and reaped like the
# daemons; its PID in _fixture_last_pid, its output in $EBB_TEST_DIR/NAME.log.
fixture_spawn() {
	local name=$1
	shift
	"$@" </dev/null >>"$EBB_TEST_DIR/$name.log" 2>&1 &
	_fixture_last_pid=$!
	_fixture_track "$_fixture_last_pid" "$name"
}

# fixture_wait_pid PID: wait for a fixture_spawn'ed helper, return its status.
fixture_wait_pid() {
	local st=0
	wait "$1" || st=$?
	_fixture_untrack "$1"
	return "$st"
}

fixture_munged() {
	local d=$EBB_TEST_DIR i sock
	[ -n "${EBB_TEST_DIR:-}" ] || bail "fixture_munged before fixture_init"
	if [ -n "${EBB_MUNGE_SOCKET:-}" ] && [ -z "${_fixture_munged_ours:-}" ]; then
		diag "using the munged at EBB_MUNGE_SOCKET=$EBB_MUNGE_SOCKET"
		return 0
	fi
	command -v munged >/dev/null || skip_all "munged not installed (apt-get install munge)"
	command -v munge >/dev/null || skip_all "munge not installed (apt-get install munge)"
	# munged checks ownership and modes: the key directory private, the
	# socket directory 0755 (not writable by others).
	mkdir -m 700 "$d/munge-key"
	mkdir -m 755 "$d/munge"
	if command -v mungekey >/dev/null; then
		mungekey --create --bits=1024 --keyfile="$d/munge-key/munge.key" >/dev/null 2>&1 ||
			{ diag "mungekey failed"; return 1; }
	else
		dd if=/dev/urandom of="$d/munge-key/munge.key" bs=128 count=1 2>/dev/null
		chmod 600 "$d/munge-key/munge.key"
	fi
	sock=$d/munge/munge.socket
	munged --foreground --socket="$sock" \
		--key-file="$d/munge-key/munge.key" \
		--pid-file="$d/munge/munged.pid" \
		--log-file="$d/munged.log" \
		--seed-file="$d/munge-key/munged.seed" \
		--num-threads=4 \
		</dev/null >>"$d/munged.log" 2>&1 &
	_fixture_track $! munged
	_fixture_munged_pid=$!
	_fixture_munged_ours=1
	for ((i = 0; i < 200; i++)); do
		if [ -S "$sock" ] && munge -n -S "$sock" 2>/dev/null | unmunge -S "$sock" >/dev/null 2>&1; then
			export EBB_MUNGE_SOCKET=$sock
			return 0
		fi
		if ! kill -0 "$_fixture_munged_pid" 2>/dev/null; then
			diag "munged exited during start-up"
			diag_file "$d/munged.log"
			return 1
		fi
		sleep 0.1
	done
	diag "munged not ready after 20 s"
	diag_file "$d/munged.log"
	return 1
}

# _fixture_bbd_start K: start node K from _fixture_bbd_args[K] on the
# listen address in $2 (127.0.0.1:0 first, 127.0.0.1:PORT on restart).
_fixture_bbd_start() {
	local k=$1 listen=$2 d=$EBB_TEST_DIR pf vg=() args=()
	pf=$d/bbd$k.port
	rm -f -- "$pf"
	eval "args=(${_fixture_bbd_args[$k]})"
	if [ "${EBB_VALGRIND:-0}" = 1 ]; then
		command -v valgrind >/dev/null || skip_all "EBB_VALGRIND=1 but valgrind is not installed"
		vg=(valgrind --quiet --error-exitcode=99 --leak-check=full
		    --show-leak-kinds=definite --errors-for-leak-kinds=definite
		    --track-fds=no --log-file="$d/bbd$k.vg.%p")
	fi
	"${vg[@]}" "$EBB_BBD" --foreground --listen "$listen" --port-file "$pf" \
		--root "$d/node$k" --munge-socket "$EBB_MUNGE_SOCKET" \
		--node-name "node$k" "${args[@]}" \
		</dev/null >>"$d/bbd$k.log" 2>&1 &
	EBB_NODE_PIDS[k]=$!
	_fixture_track $! "bbd$k"
}

# _fixture_bbd_wait K: wait (20 s, or 120 s under valgrind) for the port file.
_fixture_bbd_wait() {
	local k=$1 pf=$EBB_TEST_DIR/bbd$k.port i n=200 port
	[ "${EBB_VALGRIND:-0}" = 1 ] && n=1200
	for ((i = 0; i < n; i++)); do
		if [ -s "$pf" ]; then
			port=$(tr -d ' \t\r\n' <"$pf")
			port=${port##*:}   # "port" or "host:port"
			if [[ $port =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ]; then
				EBB_NODE_PORTS[k]=$port
				return 0
			fi
		fi
		if ! kill -0 "${EBB_NODE_PIDS[k]}" 2>/dev/null; then
			_fixture_reap "${EBB_NODE_PIDS[k]}"
			diag "bbd$k exited during start-up (status $_fixture_status)"
			diag_file "$EBB_TEST_DIR/bbd$k.log"
			return 1
		fi
		sleep 0.1
	done
	diag "bbd$k wrote no port file ($pf) in $((n / 10)) s"
	diag_file "$EBB_TEST_DIR/bbd$k.log"
	return 1
}

_fixture_export_nodes() {
	local k list=()
	for k in "${!EBB_NODE_PORTS[@]}"; do
		list+=("127.0.0.1:${EBB_NODE_PORTS[k]}")
	done
	EBB_NODE_LIST=("${list[@]}")
	EBB_NODES=$(IFS=,; echo "${list[*]}")
	export EBB_NODES
	export EBB_NODE_PORTS_STR="${EBB_NODE_PORTS[*]}"
	export EBB_NODE_PIDS_STR="${EBB_NODE_PIDS[*]}"
}

fixture_bbd() {
	local n=$1 k q
	shift
	[ -n "${EBB_TEST_DIR:-}" ] || bail "fixture_bbd before fixture_init"
	if fixture_attached; then
		IFS=, read -r -a EBB_NODE_LIST <<<"$EBB_NODES"
		if [ "${#EBB_NODE_LIST[@]}" -lt "$n" ]; then
			skip_all "EBB_NODES has ${#EBB_NODE_LIST[@]} nodes, this test needs $n"
		fi
		for k in "${!EBB_NODE_LIST[@]}"; do
			EBB_NODE_PORTS[k]=${EBB_NODE_LIST[k]##*:}
		done
		return 0
	fi
	[ -x "$EBB_BBD" ] || skip_all "bbd not built ($EBB_BBD)"
	[ -n "${EBB_MUNGE_SOCKET:-}" ] || fixture_munged || return 1
	q=
	[ $# -gt 0 ] && q=$(printf '%q ' "$@")
	for ((k = 0; k < n; k++)); do
		mkdir -p "$EBB_TEST_DIR/node$k"
		EBB_NODE_ROOTS[k]=$EBB_TEST_DIR/node$k
		_fixture_bbd_args[k]=$q
		_fixture_bbd_start "$k" 127.0.0.1:0
	done
	for ((k = 0; k < n; k++)); do
		_fixture_bbd_wait "$k" || return 1
	done
	_fixture_export_nodes
	return 0
}

fixture_bbd_kill() {
	local k=$1 sig=${2:-KILL}
	fixture_attached && { diag "fixture_bbd_kill: attached to hand-started daemons"; return 1; }
	[ -n "${EBB_NODE_PIDS[k]:-}" ] || { diag "fixture_bbd_kill: no bbd$k"; return 1; }
	_fixture_reap "${EBB_NODE_PIDS[k]}" "$sig"
	EBB_NODE_PIDS[k]=
	return 0
}

# fixture_bbd_stop K: a clean stop; returns bbd's exit status (0 expected).
fixture_bbd_stop() {
	local k=$1
	fixture_attached && { diag "fixture_bbd_stop: attached"; return 1; }
	[ -n "${EBB_NODE_PIDS[k]:-}" ] || { diag "fixture_bbd_stop: no bbd$k"; return 1; }
	_fixture_reap "${EBB_NODE_PIDS[k]}" TERM
	EBB_NODE_PIDS[k]=
	[ "$_fixture_status" -eq 0 ] || [ "$_fixture_status" -eq 143 ]
}

fixture_bbd_restart() {
	local k=$1 port
	fixture_attached && { diag "fixture_bbd_restart: attached"; return 1; }
	port=${EBB_NODE_PORTS[k]}
	if [ -n "${EBB_NODE_PIDS[k]:-}" ]; then
		_fixture_reap "${EBB_NODE_PIDS[k]}" TERM
	fi
	_fixture_bbd_start "$k" "127.0.0.1:$port"
	_fixture_bbd_wait "$k" || return 1
	if [ "${EBB_NODE_PORTS[k]}" != "$port" ]; then
		diag "bbd$k restarted on port ${EBB_NODE_PORTS[k]}, not $port"
		return 1
	fi
	_fixture_export_nodes
}

fixture_ebbctl() {
	[ -x "$EBB_EBBCTL" ] || { diag "ebbctl not built ($EBB_EBBCTL)"; return 127; }
	"$EBB_EBBCTL" -n "$EBB_NODES" "$@"
}

# fixture_logs [LINES]: tail of every log in the test directory.
fixture_logs() {
	local n=${1:-30} f
	[ -n "${EBB_TEST_DIR:-}" ] && [ -d "$EBB_TEST_DIR" ] || return 0
	for f in "$EBB_TEST_DIR"/*.log "$EBB_TEST_DIR"/bbd*.vg.*; do
		[ -s "$f" ] && diag_file "$f" "$n"
	done
	return 0
}

# fixture_exec_tap PROG ARGS...: PROG's TAP stream is the test's.  Runs it
# and exits with its status; the EXIT trap still stops and reaps the
# daemons, and a daemon that crashed or leaked still fails the test.
fixture_exec_tap() {
	local st=0
	_tap_done=1
	if [ ! -x "$1" ]; then
		echo "Bail out! $1 not built"
		exit 255
	fi
	"$@" || st=$?
	exit "$st"
}

# fixture_setup_nodes N: the usual start of an integration test: root,
# munged, N bbd, the environment the C programs read.  Bails on failure.
fixture_setup_nodes() {
	fixture_init
	fixture_attached || fixture_require_root
	fixture_munged || bail "could not start munged"
	fixture_bbd "$@" || bail "could not start $1 bbd"
	export EBB_NODES EBB_MUNGE_SOCKET
}

# ---- users and FUSE mounts (tests/fuse/) -------------------------------------
#
#   fixture_user [NAME]             NAME (default ebbtest) exists: created
#                                   with a home directory if missing (root)
#   fixture_as USER CMD...          CMD as USER (setpriv: uid, gid, groups;
#                                   HOME, USER, LOGNAME set), same umask
#   fixture_fuse_check              skip_all unless ebb-fuse is built and
#                                   /dev/fuse, mount, findmnt, setpriv exist
#   fixture_mount [-n K] [-t MS] ID MOUNTPOINT [USER]
#                                   mount instance ID at MOUNTPOINT (created,
#                                   owned by USER, default ebbtest) the way
#                                   bbd does, and serve it with ebb-fuse run
#                                   as USER, attached through node K's bbd
#                                   (--via; default 0), --timeout MS if
#                                   given; returns once a statfs through the
#                                   mount answers.  ebb-fuse is tracked and
#                                   reaped like the daemons; the EXIT trap
#                                   unmounts whatever is still mounted first.
#   fixture_umount MOUNTPOINT       umount (not lazy: a busy mount fails),
#                                   then wait (20 s) for its ebb-fuse to
#                                   exit; returns ebb-fuse's status (0)
#   fixture_mounted MOUNTPOINT      true if a FUSE file system is mounted there
#   fixture_dstate                  prints the test's descendants (and any
#                                   process with a cwd or fd on a fixture
#                                   mount) in D state; true if there is none
#
# How: as bbd does (bbd/bbd_mount.c), root opens /dev/fuse, mounts it with
# allow_other,default_permissions,user_id=,group_id= (mount -i -t fuse.ebb
# -o fd=N,...) and starts ebb-fuse as the owner with the descriptor as its
# mount point (/dev/fd/N); umount ends it.  So the test mounts are the
# production ones, ebb-fuse runs unprivileged, and nothing depends on
# /dev/fuse's mode (0600 where no udev runs) or on user_allow_other in
# /etc/fuse.conf, which a user's fusermount3 mount with allow_other needs.
# Files created through the mount belong to the owner because bbd gives
# them the uid of the caller, the owner's ebb-fuse.

EBB_FUSE=${EBB_FUSE:-$EBB_BUILDDIR/client-lib/ebb-fuse}
_fixture_mnt_points=()  # mounted by fixture_mount, not yet unmounted
_fixture_mnt_pids=()    # parallel: ebb-fuse's PID
_fixture_mnt_users=()   # parallel: the user it runs as

fixture_user() {
	local u=${1:-ebbtest}
	getent passwd "$u" >/dev/null && return 0
	if [ "$(id -u)" != 0 ]; then
		diag "user $u does not exist and only root can create it (scripts/install-deps does)"
		return 1
	fi
	useradd --create-home --shell /bin/bash --user-group "$u" >&2 || {
		diag "useradd $u failed"
		return 1
	}
}

# fixture_group GROUP USER...: GROUP exists and the USERs are supplementary
# members of it (scripts/install-deps makes ebbgrp so; root can here).
fixture_group() {
	local g=$1 u
	shift
	if ! getent group "$g" >/dev/null; then
		[ "$(id -u)" = 0 ] && groupadd "$g" >&2 || { diag "no group $g"; return 1; }
	fi
	for u; do
		id -nG "$u" 2>/dev/null | grep -qw "$g" && continue
		[ "$(id -u)" = 0 ] && usermod -a -G "$g" "$u" >&2 || {
			diag "cannot add $u to $g"
			return 1
		}
	done
}

# _fixture_as_cmd USER: the command prefix that runs as USER, in _fixture_as[].
_fixture_as_cmd() {
	local u=$1 uid gid home
	uid=$(id -u "$u" 2>/dev/null) || { diag "no user $u"; return 1; }
	gid=$(id -g "$u")
	home=$(getent passwd "$u" | cut -d: -f6)
	if [ "$(id -u)" = "$uid" ]; then
		_fixture_as=(env)
	else
		_fixture_as=(setpriv --reuid="$uid" --regid="$gid" --init-groups
		             --reset-env env)
	fi
	# --reset-env keeps only TERM and a default PATH: put back what the
	# tests need
	_fixture_as+=(HOME="$home" USER="$u" LOGNAME="$u" LANG=C.UTF-8
	              PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
	              TMPDIR="${EBB_TEST_DIR:-/tmp}"
	              EBB_TEST_DIR="${EBB_TEST_DIR:-}" EBB_NODES="${EBB_NODES:-}"
	              EBB_MUNGE_SOCKET="${EBB_MUNGE_SOCKET:-}"
	              EBB_BUILDDIR="$EBB_BUILDDIR" EBB_SRCDIR="$EBB_SRCDIR")
	[ -n "${EBB_INSTANCE:-}" ] && _fixture_as+=(EBB_INSTANCE="$EBB_INSTANCE")
	[ -n "${EBB_TIMEOUT_MS:-}" ] && _fixture_as+=(EBB_TIMEOUT_MS="$EBB_TIMEOUT_MS")
	return 0
}

fixture_as() {
	local u=$1
	shift
	_fixture_as_cmd "$u" || return 127
	"${_fixture_as[@]}" "$@"
}

fixture_fuse_check() {
	[ -x "$EBB_FUSE" ] || skip_all "ebb-fuse not built ($EBB_FUSE)"
	[ -c /dev/fuse ] || skip_all "no /dev/fuse"
	[ "$(id -u)" = 0 ] || skip_all "mounting needs root"
	command -v findmnt >/dev/null || skip_all "findmnt not installed (util-linux)"
	command -v setpriv >/dev/null || skip_all "setpriv not installed (util-linux)"
}

fixture_mounted() {
	local t
	t=$(findmnt -rn -M "$1" -o FSTYPE 2>/dev/null | tail -n 1)
	[[ $t == fuse* ]]
}

# the EXIT/INT/TERM traps once a mount exists: unmount first (lazily, so
# that rm -rf of the test directory can never walk into a live mount),
# then the usual cleanup
_fixture_mnt_exit() {
	local rc=$1 i mp
	trap - EXIT INT TERM
	for i in "${!_fixture_mnt_points[@]}"; do
		mp=${_fixture_mnt_points[i]}
		if fixture_mounted "$mp"; then
			diag "cleanup: $mp still mounted: lazy unmount"
			umount -l "$mp" 2>/dev/null || diag "cleanup: cannot unmount $mp"
		fi
	done
	_fixture_cleanup "$rc"
}

fixture_mount() {
	local k=0 ms= OPTIND=1 o id mp user uid gid pid i log fd st args=()
	while getopts n:t: o; do
		case $o in
		n) k=$OPTARG ;;
		t) ms=$OPTARG ;;
		*) diag "fixture_mount: bad option"; return 2 ;;
		esac
	done
	shift $((OPTIND - 1))
	id=$1 mp=$2 user=${3:-ebbtest}
	[ -n "$id" ] && [ -n "$mp" ] || { diag "fixture_mount ID MOUNTPOINT [USER]"; return 2; }
	[ -n "${EBB_NODE_LIST[k]:-}" ] || { diag "fixture_mount: no node $k"; return 1; }
	fixture_fuse_check
	uid=$(id -u "$user") && gid=$(id -g "$user") || { diag "no user $user"; return 1; }
	mkdir -p "$mp" && chown "$user:" "$mp" || return 1
	log=$EBB_TEST_DIR/fuse-$(basename "$mp").log
	exec {fd}<>/dev/fuse || { diag "cannot open /dev/fuse"; return 1; }
	if ! mount -i -t fuse.ebb -o "nosuid,nodev,fd=$fd,rootmode=40000,user_id=$uid,group_id=$gid,allow_other,default_permissions" \
		"ebb:$id" "$mp" >>"$log" 2>&1; then
		exec {fd}>&-
		diag "mount of /dev/fuse at $mp failed"
		diag_file "$log"
		return 1
	fi
	if [ ${#_fixture_mnt_points[@]} -eq 0 ]; then
		trap '_fixture_mnt_exit $?' EXIT
		trap 'diag "interrupted (SIGINT)"; _fixture_mnt_exit 130' INT
		trap 'diag "terminated (SIGTERM; the watchdog after ${EBB_TEST_TIMEOUT:-600} s?)"; _fixture_mnt_exit 143' TERM
	fi
	args=(--instance "$id" --via "${EBB_NODE_LIST[k]}" --munge-socket "$EBB_MUNGE_SOCKET")
	[ -n "$ms" ] && args+=(--timeout "$ms")
	# EBB_FUSE_CACHE=writeback runs a suite with the writeback cache
	[ -n "${EBB_FUSE_CACHE:-}" ] && args+=(--cache "$EBB_FUSE_CACHE")
	# EBB_FUSE_SYNC_WRITES=1: every WRITE waits for the nodes (the
	# default before write-behind; errors from write(2) itself)
	[ -n "${EBB_FUSE_SYNC_WRITES:-}" ] && [ "$EBB_FUSE_SYNC_WRITES" != 0 ] &&
		args+=(--sync-writes)
	# EBB_FUSE_SPLICE=1: READ replies spliced where they can be
	[ -n "${EBB_FUSE_SPLICE:-}" ] && [ "$EBB_FUSE_SPLICE" != 0 ] &&
		args+=(--splice)
	# EBB_FUSE_LOCAL_LOCKS=1: locks per node, as before the lock service
	# (sqlite-nodes.t shows what that breaks)
	[ -n "${EBB_FUSE_LOCAL_LOCKS:-}" ] && [ "$EBB_FUSE_LOCAL_LOCKS" != 0 ] &&
		args+=(--local-locks)
	_fixture_as_cmd "$user" || { exec {fd}>&-; return 1; }
	"${_fixture_as[@]}" "$EBB_FUSE" "${args[@]}" "/dev/fd/$fd" </dev/null >>"$log" 2>&1 &
	pid=$!
	exec {fd}>&-   # ebb-fuse holds the connection now
	_fixture_track "$pid" "ebb-fuse:$mp"
	_fixture_mnt_points+=("$mp")
	_fixture_mnt_pids+=("$pid")
	_fixture_mnt_users+=("$user")
	# ready when a statfs goes through the kernel to ebb-fuse and back
	# (a request waits until ebb-fuse reads it; if ebb-fuse exits, the
	# connection is aborted and the statfs fails)
	st=0
	timeout -k 2 60 setpriv --reuid="$uid" --regid="$gid" --init-groups \
		stat -f -c %T "$mp" >>"$log" 2>&1 || st=$?
	if [ "$st" -ne 0 ] || ! kill -0 "$pid" 2>/dev/null; then
		diag "ebb-fuse for $mp did not answer a statfs (status $st): ${args[*]}"
		diag_file "$log"
		return 1
	fi
	return 0
}

fixture_umount() {
	local mp=$1 i j pid= st=0 err
	for i in "${!_fixture_mnt_points[@]}"; do
		if [ "${_fixture_mnt_points[i]}" = "$mp" ]; then
			pid=${_fixture_mnt_pids[i]}
			break
		fi
	done
	[ -n "$pid" ] || { diag "fixture_umount: $mp was not mounted by fixture_mount"; return 1; }
	if fixture_mounted "$mp"; then
		if ! err=$(timeout -k 5 60 umount "$mp" 2>&1); then
			diag "umount $mp: $err"
			return 1
		fi
	fi
	for ((j = 0; j < 200; j++)); do
		case $(ps -o stat= -p "$pid" 2>/dev/null) in
		'' | Z*) break ;;
		esac
		sleep 0.1
	done
	if ! [[ $(ps -o stat= -p "$pid" 2>/dev/null) =~ ^(Z|$) ]]; then
		diag "ebb-fuse (pid $pid) still running 20 s after $mp was unmounted"
		st=1
	fi
	_fixture_reap "$pid"
	[ "$st" -eq 0 ] && st=$_fixture_status
	[ "$st" -ne 0 ] && diag "ebb-fuse for $mp: exit status $st"
	unset '_fixture_mnt_points[i]' '_fixture_mnt_pids[i]' '_fixture_mnt_users[i]'
	return "$st"
}

fixture_dstate() {
	local p mp bad=0 st l seen=" "
	for p in $(_fixture_descendants $$); do
		st=$(ps -o stat= -p "$p" 2>/dev/null)
		if [[ $st == D* ]]; then
			diag "pid $p in D state: $(ps -o pid=,stat=,wchan:32=,args= -p "$p")"
			bad=1
		fi
		seen+="$p "
	done
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		case $seen in *" $p "*) continue ;; esac
		for mp in "${_fixture_mnt_points[@]}"; do
			for l in /proc/"$p"/cwd /proc/"$p"/fd/*; do
				case $(readlink "$l" 2>/dev/null) in
				"$mp" | "$mp"/*)
					st=$(ps -o stat= -p "$p" 2>/dev/null)
					if [[ $st == D* ]]; then
						diag "pid $p (on $mp) in D state: $(ps -o pid=,stat=,wchan:32=,args= -p "$p")"
						bad=1
					fi
					break 2 ;;
				esac
			done
		done
	done
	[ "$bad" -eq 0 ]
}
