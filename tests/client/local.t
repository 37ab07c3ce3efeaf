# SPDX-License-Identifier: GPL-2.0-or-later
# local.t: local reads (bbd passes read-only object fds over its Unix
# socket to clients on its node).  3 bbd on this host, each with its own
# socket and token; t_local checks the data paths against TCP, the socket's
# answers to bad requests, another user refused, and the TCP fallback once
# node 0's socket is gone.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_setup_nodes 3 --log-level debug
command -v setpriv >/dev/null || skip_all "setpriv not installed (apt-get install util-linux)"
T=$EBB_BUILDDIR/tests/client/t_local
[ -x "$T" ] || bail "$T not built"

# Each t_local phase is one check here; its own TAP lines go to the log.
for k in 0 1 2; do
	sock=${EBB_NODE_ROOTS[k]}/bbd.sock
	[ -S "$sock" ] || bail "bbd$k made no socket at $sock"
	is "$(stat -c %a "$sock")" 666 "bbd$k's socket $sock is mode 0666"
done

ok "t_local main: fd reads == TCP reads on 3 and 1 bbd, holes, EOF, truncate/unlink elsewhere, write-behind, bad requests" "$T" main

# Another user: the socket is reachable (the test directory is not, by
# default), the fd is not.
chmod o+x "$EBB_TEST_DIR" "${EBB_NODE_ROOTS[@]}"
id=t-local-sec-$$
ok "root makes an instance with a file" "$T" prep "$id"
ok "nobody: TCP refuses, the local socket gives no fd (E_DENIED)" \
	setpriv --reuid=65534 --regid=65534 --clear-groups "$T" nobody "$id"
ok "destroy it" "$T" destroy "$id"

grep -q "wrong token" "$EBB_TEST_DIR/bbd0.log"
ok_status $? "bbd0 logged the wrong token"

# node 0's socket disappears: libebb falls back to TCP and reads right
rm -f -- "${EBB_NODE_ROOTS[0]}/bbd.sock"
ok "t_local nosock: no socket -> TCP, same bytes" "$T" nosock
for k in 0 1 2; do
	kill -0 "${EBB_NODE_PIDS[k]}" 2>/dev/null
	ok_status $? "bbd$k still runs"
done
done_testing
