# SPDX-License-Identifier: GPL-2.0-or-later
# auth.t: an instance owned by uid 1 (daemon).  As root and as daemon every
# call works; as nobody every instance call is refused with EACCES (node
# status still works: the credential is good, the caller is not allowed);
# without munged nothing works; raw connections without a valid HELLO are
# refused and closed (tests/bbd/ goes deeper into raw frames).
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_setup_nodes 4
command -v setpriv >/dev/null || skip_all "setpriv not installed (apt-get install util-linux)"
T=$EBB_BUILDDIR/tests/client/t_auth
[ -x "$T" ] || bail "$T not built"
export EBB_INSTANCE=auth-$$

# as USER PHASE DESC: one check, t_auth run as USER (root, daemon, nobody).
as() {
	local user=$1 mode=$2 st=0
	shift 2
	case $user in
	root) "$T" "$mode" >&2 || st=$? ;;
	daemon) setpriv --reuid=1 --regid=1 --clear-groups "$T" "$mode" >&2 || st=$? ;;
	nobody) setpriv --reuid=65534 --regid=65534 --clear-groups "$T" "$mode" >&2 || st=$? ;;
	esac
	ok_status "$st" "$*"
}

as root create "root creates an instance owned by uid 1"
as root owner "root: every data and metadata call works"
as daemon owner "daemon (the owner): every data and metadata call works"
as nobody denied "nobody: every instance call -> EACCES, node status works"
EBB_MUNGE_SOCKET=$EBB_TEST_DIR/no-such-socket as root nocred "root without a munged: calls fail"
as root raw "raw connections: no HELLO, bad or replayed credential -> E_AUTH, closed"
as root destroy "destroy the instance"
done_testing
