# SPDX-License-Identifier: GPL-2.0-or-later
# fuse.sh: what the FUSE tests share.  Source it after nothing else:
#
#   . "$EBB_SRCDIR/tests/fuse/fuse.sh"
#   fuse_setup 4                     # root, munged, 4 bbd, user ebbtest
#   fuse_instance "$I" 1GiB          # owned by ebbtest
#   fixture_mount "$I" "$M0"         # ebb-fuse as ebbtest, via node 0
#   as_u cmd...                      # run as ebbtest (the instance owner)
#
# Every tool runs as ebbtest, the instance's owner, as a job's processes
# would; the test shell (root) only starts daemons and mounts, and looks.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

U=ebbtest
OTHER=ebbother
THIRD=ebbthird   # with OTHER, a supplementary member of the group ebbgrp

# fuse_setup N [bbd args]: the usual start; bails on failure.
fuse_setup() {
	fixture_init
	fixture_require_root "to create users, start munged and bbd, mount as another user"
	fixture_fuse_check
	fixture_user "$U" || bail "no user $U"
	fixture_user "$OTHER" || bail "no user $OTHER"
	fixture_user "$THIRD" || bail "no user $THIRD"
	fixture_group ebbgrp "$OTHER" "$THIRD" || bail "no group ebbgrp with $OTHER and $THIRD"
	fixture_munged || bail "could not start munged"
	fixture_bbd "$@" || bail "could not start $1 bbd"
	export EBB_NODES EBB_MUNGE_SOCKET
	# a directory of the test user's on local disk: originals, copies
	L=$EBB_TEST_DIR/local
	mkdir -p "$L" && chown "$U:" "$L"
}

# fuse_instance ID CAPACITY [ebbctl instance create options]: owned by $U.
fuse_instance() {
	local id=$1 cap=$2 out
	shift 2
	out=$(fixture_ebbctl instance create "$id" --capacity "$cap" --owner "$U" "$@" 2>&1) || {
		diag "ebbctl instance create $id --capacity $cap --owner $U $*: $out"
		return 1
	}
}

# fuse_teardown ID MOUNT...: unmounts each mount in turn (a check each:
# ebb-fuse exits 0), then destroys instance ID (a check).
fuse_teardown() {
	local id=$1 m out
	shift
	for m; do
		fixture_umount "$m"
		ok_status $? "unmount $(basename "$m"): ebb-fuse exits with status 0"
	done
	out=$(fixture_ebbctl instance destroy "$id" 2>&1)
	ok_status $? "instance destroy" || diag "$out"
}

as_u() { fixture_as "$U" "$@"; }
as_other() { fixture_as "$OTHER" "$@"; }
as_third() { fixture_as "$THIRD" "$@"; }

# sha FILE: SHA-256 of a file, opened as the test user
sha() { as_u sh -c 'sha256sum <"$1"' sh "$1" | cut -d' ' -f1; }

# listing DIR: everything tar and cp -a must keep, one line per entry,
# sorted by path: path, type, mode, owner, mtime, size (not for
# directories), symlink target.
listing() {
	as_u sh -c 'cd "$1" && find . -mindepth 1 \( -type d -printf "%p %y %m %u:%g %TY-%Tm-%Td.%TT -\n" \) \
		-o -printf "%p %y %m %u:%g %TY-%Tm-%Td.%TT %s -> %l\n"' sh "$1" | LC_ALL=C sort
}

# same_tree A B DESC: diff -r (contents, symlink targets), then the listings.
same_tree() {
	local a=$1 b=$2 desc=$3 out
	out=$(as_u diff -r --no-dereference "$a" "$b" 2>&1)
	if ! ok_status $? "$desc: diff -r finds no difference"; then
		diag "$(printf '%s\n' "$out" | head -n 20)"
	fi
	listing "$a" >"$EBB_TEST_DIR/list.a"
	listing "$b" >"$EBB_TEST_DIR/list.b"
	if ! ok "$desc: same types, modes, owners, mtimes, sizes, link targets ($(wc -l <"$EBB_TEST_DIR/list.a") entries)" \
		cmp -s "$EBB_TEST_DIR/list.a" "$EBB_TEST_DIR/list.b"; then
		diag "$(diff "$EBB_TEST_DIR/list.a" "$EBB_TEST_DIR/list.b" | grep -c '^>') entries differ; the first (< $a, > $b):"
		diag "$(diff "$EBB_TEST_DIR/list.a" "$EBB_TEST_DIR/list.b" | grep '^[<>]' | head -n 16)"
	fi
}

# run_u BOUND DESC CMD...: one check: CMD as $U under `timeout BOUND`;
# its output goes to the log; 124 means it hung.
run_u() {
	local bound=$1 desc=$2 st=0
	shift 2
	_fixture_as_cmd "$U"
	timeout -k 10 "$bound" "${_fixture_as[@]}" "$@" >>"$EBB_TEST_DIR/tools.out" 2>&1 || st=$?
	if ! ok_status "$st" "$desc"; then
		[ "$st" -eq 124 ] && diag "did not finish within $bound s"
		diag "status $st: $*"
		diag_file "$EBB_TEST_DIR/tools.out" 25
	fi
	: >"$EBB_TEST_DIR/tools.out"
	return "$st"
}
