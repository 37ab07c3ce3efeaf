# SPDX-License-Identifier: GPL-2.0-or-later
# ebbctl.t: ebbctl end to end against 4 bbd: status, instance create / list
# / destroy, put / get / ls / stat / rm / mkdir / mv / cat / df, --json
# parsed with python3, SHA-256 of what goes in and comes out, the errors a
# user makes (exit 1 for a failure, 2 for a usage error, as ebbctl(1) says)
# and, after destroy, no trace of the instance under any node's root.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_setup_nodes 4
fixture_attached && skip_all "inspects the nodes' roots: not with EBB_NODES"
command -v python3 >/dev/null || skip_all "python3 is needed to parse --json"
[ -x "$EBB_EBBCTL" ] || bail "ebbctl not built ($EBB_EBBCTL)"
D=$EBB_TEST_DIR
I=e2e-$$
export EBB_TIMEOUT_MS=10000

# run ARGS...: ebbctl with the test's nodes; stdout in $out, stderr in
# $err, exit status in $st.  Never fails by itself.
run() {
	out=$(fixture_ebbctl "$@" 2>"$D/err")
	st=$?
	err=$(cat "$D/err")
	[ -n "$err" ] && diag "ebbctl $*: $err"
	return 0
}

# json EXPR: evaluate a Python expression on the JSON in $out (as d).
json() {
	printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1" 2>&1
}

sha() { sha256sum <"$1" | cut -d' ' -f1; }

# snapshot: every path under the nodes' roots (what bbd keeps for itself
# and for instances), to compare before and after an instance's life.
snapshot() {
	local k
	for k in "${!EBB_NODE_ROOTS[@]}"; do
		(cd "${EBB_NODE_ROOTS[k]}" && find . -mindepth 1 | sed "s|^|node$k/|")
	done | sort
}

# ---- nodes ------------------------------------------------------------------
run status
is "$st" 0 "status: exit 0 with 4 nodes up"
is "$(printf '%s\n' "$out" | grep -c ' up ')" 4 "status: 4 nodes up"
run --json status
is "$st" 0 "status --json: exit 0"
is "$(json 'len(d)')" 4 "status --json: 4 entries"
is "$(json '",".join(sorted(x["name"] for x in d))')" "node0,node1,node2,node3" \
	"status --json: the node names"
is "$(json 'all(x["reachable"] and x["capacity"] > 0 and x["instances"] == 0 for x in d)')" \
	True "status --json: reachable, capacity offered, no instances yet"
out=$("$EBB_EBBCTL" -n "$EBB_NODES,127.0.0.1:1" --timeout 2000 status 2>"$D/err")
is "$?" 1 "status with an unreachable node: exit 1"
like "$(grep 127.0.0.1:1 <<<"$out")" 'down' "the unreachable node is shown down"

snapshot >"$D/before"

# ---- instance create / list ---------------------------------------------------
run instance create "$I" --capacity 10G
is "$st" 2 "instance create --capacity 10G: usage error (exit 2)"
like "$err" 'GiB' "the message names GiB"
like "$err" 'GB' "and GB"
run instance create "$I" --capacity 1GiB --stripe-size 3000
isnt "$st" 0 "a 3000-byte stripe size is refused (exit $st)"
run instance create 'bad/id' --capacity 1GiB
is "$st" 2 "a bad instance id: usage error (exit 2)"
like "$err" 'bad/id' "the message quotes the id"
run instance create "$I" --capacity 1GiB --cache writeback
is "$st" 2 "--cache writeback without --mount: usage error (exit 2)"
like "$err" 'give --mount too' "the message says --mount is needed"
run instance create "$I" --capacity 1GiB --mount --cache back
is "$st" 2 "--cache back: usage error (exit 2)"
like "$err" '--cache writeback.*--cache none' "the message names both values"
run instance create "$I" --capacity 1GiB --stripe-size 256KiB
is "$st" 0 "instance create $I --capacity 1GiB --stripe-size 256KiB"
run instance create "$I" --capacity 1GiB --stripe-size 256KiB
is "$st" 0 "creating the same instance again succeeds (idempotent)"
run instance create "$I" --capacity 2GiB --stripe-size 256KiB
is "$st" 1 "the same id with another capacity: exit 1"
like "$err" "$I" "the message names the instance"
run --json instance list
is "$st" 0 "instance list --json"
is "$(json "sorted((x['rank'], x['node']) for x in d if x['id'] == '$I') == sorted(enumerate('$EBB_NODES'.split(',')))")" \
	True "each node holds $I at its rank"
is "$(json "all(x['members'] == '$EBB_NODES'.split(',') and x['stripe_size'] == 262144 and x['capacity'] == 1 << 30 for x in d if x['id'] == '$I')")" \
	True "with the member list, stripe size and capacity given"
export EBB_INSTANCE=$I

# ---- files in and out ------------------------------------------------------
mkdir "$D/in" "$D/out"
: >"$D/in/empty"
printf x >"$D/in/one"
head -c $((5 * 1024 * 1024 + 3)) /dev/urandom >"$D/in/five"
head -c $((40 * 1024 * 1024)) /dev/urandom >"$D/in/forty"
for f in empty one five forty; do
	run put "$D/in/$f" "/$f"
	is "$st" 0 "put $f"
done
for f in empty one five forty; do
	run get "/$f" "$D/out/$f"
	is "$st" 0 "get $f"
	is "$(sha "$D/out/$f")" "$(sha "$D/in/$f")" "SHA-256 of $f out = in"
done
is "$(fixture_ebbctl cat /five | sha256sum | cut -d' ' -f1)" "$(sha "$D/in/five")" \
	"cat /five: the same bytes"
fixture_ebbctl put - /stdin <"$D/in/five" >&2
is "$?" 0 "put from stdin"
is "$(fixture_ebbctl get /stdin - | sha256sum | cut -d' ' -f1)" "$(sha "$D/in/five")" \
	"get to stdout: the same bytes"

run --json stat /forty
is "$st" 0 "stat --json /forty"
is "$(json 'd["size"], d["type"], d["blksize"]')" "(41943040, 'file', 262144)" \
	"size, type and block size (the stripe size)"
run --json ls -l /
is "$st" 0 "ls -l --json /"
is "$(json '" ".join(x["name"] for x in d)')" "empty five forty one stdin" \
	"ls lists the 5 files, sorted"
is "$(json 'sum(x["size"] for x in d)')" $((2 * (5 * 1024 * 1024 + 3) + 40 * 1024 * 1024 + 1)) \
	"their sizes add up"
run ls -l /
is "$st" 0 "ls -l (text)"
like "$out" 'forty' "lists forty"

# ---- directories, mv, rm ---------------------------------------------------
run mkdir -p /a/b/c
is "$st" 0 "mkdir -p /a/b/c"
run mkdir /a
is "$st" 1 "mkdir of an existing directory: exit 1"
like "$err" '[Ee]xists' "says it exists"
run mv /five /a/b/c/
is "$st" 0 "mv /five into /a/b/c/"
run mv /a /z
is "$st" 0 "mv /a /z (a populated directory)"
run get /z/b/c/five "$D/out/five2"
is "$st" 0 "get /z/b/c/five"
is "$(sha "$D/out/five2")" "$(sha "$D/in/five")" "it kept its bytes through two moves"
run stat /a
is "$st" 1 "the old name /a is gone (exit 1)"
like "$err" 'No such file' "ENOENT in words"

mkdir -p "$D/tree/sub/deeper"
for i in 1 2 3; do head -c $((i * 100000)) /dev/urandom >"$D/tree/sub/f$i"; done
head -c 7 /dev/urandom >"$D/tree/sub/deeper/tiny"
ln -s sub/f1 "$D/tree/link"
run put -r "$D/tree" /tree
is "$st" 0 "put -r a local tree (files, subdirectories, a symlink)"
run get -r /tree "$D/tree.out"
is "$st" 0 "get -r it back"
ok "the trees are identical (diff -r, symlink included)" diff -r --no-dereference "$D/tree" "$D/tree.out"
run rm /tree
is "$st" 1 "rm of a directory without -r: exit 1"
run rm -r /tree /z
is "$st" 0 "rm -r /tree /z"
run rm /nonexistent
is "$st" 1 "rm of a missing file: exit 1"
like "$err" 'nonexistent' "the message names it"
run rm -f /nonexistent
is "$st" 0 "rm -f of a missing file: exit 0"

# ---- df --------------------------------------------------------------------
run --json df
is "$st" 0 "df --json"
is "$(json 'd["capacity"], d["nodes"]')" "($((4 << 30)), 4)" "df: 4 GiB over 4 nodes"
is "$(json 'd["used"] >= 45 * 1024 * 1024 and d["used"] + d["free"] == d["capacity"]')" True \
	"df: used counts the data, used + free = capacity"

# ---- user errors -----------------------------------------------------------
run put "$D/no-such-file" /x
is "$st" 1 "put of a missing local file: exit 1"
like "$err" 'no-such-file' "the message names the file"
run get /no-such-file "$D/out/x"
is "$st" 1 "get of a missing remote file: exit 1"
ok "and creates no local file" test ! -e "$D/out/x"
run -i no-such-instance ls /
is "$st" 1 "an unknown instance: exit 1"
like "$err" 'no-such-instance' "the message names the instance"
run bogus-command
is "$st" 2 "an unknown command: exit 2"
run put /only-one-arg
is "$st" 2 "put with one argument: exit 2"

# ---- destroy ---------------------------------------------------------------
run instance destroy "$I"
is "$st" 0 "instance destroy $I"
run --json instance list
is "$(json "[x for x in d if x['id'] == '$I']")" "[]" "no node lists $I any more"
run ls /
is "$st" 1 "file commands on the destroyed instance: exit 1"
snapshot >"$D/after"
if ! ok "after destroy, the nodes' roots hold exactly what they held before" \
	cmp -s "$D/before" "$D/after"; then
	diag "$(diff "$D/before" "$D/after")"
fi
run --json status
is "$(json 'sum(x["instances"] + x["reserved"] for x in d)')" 0 \
	"status: no instance, nothing reserved"
run instance destroy "$I"
is "$st" 1 "destroying it again: exit 1"

done_testing
