# SPDX-License-Identifier: GPL-2.0-or-later
# tap.sh: a small TAP producer for ebb's shell tests (the shape of C TAP
# Harness's libtap.sh).  Source it from bash:
#
#   . "$EBB_SRCDIR/tests/tap/tap.sh"
#   plan 3                          # or: no plan, and done_testing at the end
#   ok "true works" true            # runs the command; ok if it exits 0
#   ok_status 0 "true again" $?     # or give an exit status you already have
#   is "$(echo hi)" "hi" "echo"     # compares strings, prints both on failure
#   done_testing                    # prints a lazy plan, exits 0/1
#
# DESIGN: stdout is the TAP stream; diagnostics go to stderr as "# " lines
# (the automake TAP driver and prove both keep them in the log).  The exit
# status of done_testing is 0 only if every check passed and the plan
# matched, so a test script that dies early fails.

_tap_planned=
_tap_run=0
_tap_failed=0
_tap_done=

# plan N: announce N checks.
plan() {
	_tap_planned=$1
	echo "1..$1"
}

# skip_all "reason": nothing here can run; exits 0.
skip_all() {
	echo "1..0 # SKIP $*"
	_tap_done=1
	exit 0
}

# _tap_result STATUS DESC: STATUS 0 is ok.
_tap_result() {
	local st=$1
	shift
	_tap_run=$((_tap_run + 1))
	if [ "$st" -eq 0 ]; then
		echo "ok $_tap_run${1:+ - $*}"
		return 0
	fi
	_tap_failed=$((_tap_failed + 1))
	echo "not ok $_tap_run${1:+ - $*}"
	return 1
}

# ok "desc" cmd args...: runs the command (output to stderr as-is), ok if it
# exits 0.  Returns the check's result so a test may stop early.
ok() {
	local desc=$1 st=0
	shift
	if [ $# -eq 0 ]; then
		bail "ok \"$desc\": no command given (use ok_status for a status)"
	fi
	"$@" >&2 || st=$?
	_tap_result "$st" "$desc" || {
		diag "command failed with status $st: $*"
		return 1
	}
}

# ok_status STATUS "desc": a check from an exit status you already have
# (the "ok COND_EXIT_STATUS desc" form).
ok_status() {
	local st=$1
	shift
	_tap_result "$st" "$*"
}

# not_ok "desc" cmd args...: ok if the command FAILS (exit status nonzero).
not_ok() {
	local desc=$1 st=0
	shift
	"$@" >&2 || st=$?
	if [ "$st" -ne 0 ]; then
		_tap_result 0 "$desc"
	else
		_tap_result 1 "$desc"
		diag "command succeeded but should have failed: $*"
		return 1
	fi
}

# is "got" "want" "desc": string equality.
is() {
	local got=$1 want=$2
	shift 2
	if [ "$got" = "$want" ]; then
		_tap_result 0 "$*"
	else
		_tap_result 1 "$*"
		diag "     got: '$got'"
		diag "expected: '$want'"
		return 1
	fi
}

# isnt "got" "unwanted" "desc"
isnt() {
	local got=$1 want=$2
	shift 2
	if [ "$got" != "$want" ]; then
		_tap_result 0 "$*"
	else
		_tap_result 1 "$*"
		diag "got '$got', which it should not be"
		return 1
	fi
}

# like "got" "extended-regex" "desc"
like() {
	local got=$1 re=$2
	shift 2
	if printf '%s' "$got" | grep -Eq -- "$re"; then
		_tap_result 0 "$*"
	else
		_tap_result 1 "$*"
		diag "     got: '$got'"
		diag "expected to match: /$re/"
		return 1
	fi
}

# skip "reason" [N]: count N (default 1) checks as skipped.
skip() {
	local reason=$1 n=${2:-1} i
	for ((i = 0; i < n; i++)); do
		_tap_run=$((_tap_run + 1))
		echo "ok $_tap_run # skip $reason"
	done
}

# diag msg...: "# msg" on stderr, one per line of msg.
diag() {
	local line
	printf '%s\n' "$*" | while IFS= read -r line; do
		printf '# %s\n' "$line" >&2
	done
}

# diag_file FILE [LINES]: the tail of a file as diagnostics.
diag_file() {
	local f=$1 n=${2:-40}
	[ -r "$f" ] || { diag "($f: not readable)"; return 0; }
	diag "---- last $n lines of $f ----"
	tail -n "$n" -- "$f" | while IFS= read -r line; do
		printf '#   %s\n' "$line" >&2
	done
}

# bail "reason": stop the whole run.
bail() {
	echo "Bail out! $*"
	_tap_done=1
	exit 255
}

# done_testing: print the lazy plan if there was none, exit 0 if all passed.
done_testing() {
	_tap_done=1
	if [ -z "$_tap_planned" ]; then
		echo "1..$_tap_run"
	elif [ "$_tap_planned" -ne "$_tap_run" ]; then
		diag "planned $_tap_planned checks but ran $_tap_run"
		exit 1
	fi
	if [ "$_tap_failed" -ne 0 ]; then
		diag "failed $_tap_failed of $_tap_run checks"
		exit 1
	fi
	exit 0
}

# tap_failed: number of failed checks so far (for cleanup decisions).
tap_failed() {
	echo "$_tap_failed"
}
