# SPDX-License-Identifier: GPL-2.0-or-later
# The TAP helpers' own test: tap.sh's output and exit status, and the C
# helper (tests/tap/libtap.la) through a shell script driving tap.sh.

. "$EBB_SRCDIR/tests/tap/tap.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/ebb-tap-t.XXXXXX") || bail "mktemp"
trap 'rm -rf "$work"' EXIT

# sub BODY: run a script that sources tap.sh; stdout in $out, status in $st.
sub() {
	printf '. "%s/tests/tap/tap.sh"\n%s\n' "$EBB_SRCDIR" "$1" >"$work/s.sh"
	out=$(bash "$work/s.sh" 2>"$work/err")
	st=$?
}

sub 'plan 2; ok "a" true; is x x "b"; done_testing'
is "$out" $'1..2\nok 1 - a\nok 2 - b' "passing script: plan and two oks"
is "$st" 0 "passing script exits 0"

sub 'ok "a" false; ok_status 0 "b"; done_testing'
is "$out" $'not ok 1 - a\nok 2 - b\n1..2' "a failure and a lazy plan"
is "$st" 1 "a failure exits 1"

sub 'plan 3; ok "a" true; done_testing'
is "$st" 1 "ran fewer than planned: exit 1"

sub 'ok "a" true'
is "$out" "ok 1 - a" "no done_testing: no plan printed (the harness sees a missing plan)"

sub 'is "x" "y" "differs"; done_testing'
ok "is: prints got and expected" grep -q "expected: 'y'" "$work/err"

sub 'skip_all "no widgets"; ok "never" true'
is "$out" "1..0 # SKIP no widgets" "skip_all"
is "$st" 0 "skip_all exits 0"

sub 'skip "later" 2; done_testing'
is "$out" $'ok 1 # skip later\nok 2 # skip later\n1..2' "skip N"

sub 'not_ok "fails" false; not_ok "succeeds" true; done_testing'
is "$out" $'ok 1 - fails\nnot ok 2 - succeeds\n1..2' "not_ok"

sub 'like "abc123" "^[a-z]+[0-9]+$" "re"; like "abc" "^[0-9]+$" "no"; done_testing'
is "$out" $'ok 1 - re\nnot ok 2 - no\n1..2' "like"

sub 'ok "cmd output does not pollute TAP" echo hello; done_testing'
is "$out" $'ok 1 - cmd output does not pollute TAP\n1..1' "command stdout goes to stderr"

sub 'bail "broken"; ok "never" true'
is "$out" "Bail out! broken" "bail"
is "$st" 255 "bail exits 255"

sub 'diag "two
lines"; done_testing'
is "$(cat "$work/err")" $'# two\n# lines' "diag prefixes every line"

# the C helper, through its test program
if [ -x "$EBB_BUILDDIR/tests/tap/t_tapc" ]; then
	for mode in pass fail short lazy noexit skipall; do
		"$EBB_BUILDDIR/tests/tap/t_tapc" "$mode" >"$work/c.$mode" 2>"$work/c.$mode.err"
		echo $? >"$work/c.$mode.st"
	done
	is "$(cat "$work/c.pass.st")" 0 "C: all passing -> exit 0"
	is "$(cat "$work/c.pass")" $'1..6\nok 1 - ok\nok 2 - is_int\nok 3 - is_str\nok 4 - is_str NULL\nok 5 - is_mem\nok 6 - is_errno' "C: TAP of the passing run"
	is "$(cat "$work/c.fail.st")" 1 "C: a failure -> exit 1"
	ok "C: is_int prints got/expected" grep -q 'expected: 4' "$work/c.fail.err"
	ok "C: is_str prints got/expected" grep -q "expected: 'b'" "$work/c.fail.err"
	ok "C: is_mem names the offset" grep -q 'byte 2' "$work/c.fail.err"
	ok "C: is_errno names both errnos" grep -q 'errno 2 .*expected 13' "$work/c.fail.err"
	is "$(cat "$work/c.short.st")" 1 "C: fewer checks than planned -> exit 1"
	is "$(tail -n 1 "$work/c.lazy")" "1..2" "C: lazy plan printed at the end"
	is "$(cat "$work/c.lazy.st")" 0 "C: lazy plan exit 0"
	ok "C: exit without tap_exit prints no lazy plan" sh -c "! grep -q '^1\.\.' '$work/c.noexit'"
	is "$(cat "$work/c.skipall")" "1..0 # SKIP nothing to do" "C: skip_all"
else
	skip "tests/tap/t_tapc not built" 12
fi

done_testing
