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

# ebb-fuse (run as the instance's owner) gets it through libebb: a file
# written and read back through a mount is read from fds bbd passed to
# ebb-fuse's uid (bbd's debug log says so; the instance is this test's).
if [ -x "$EBB_FUSE" ] && [ -c /dev/fuse ] && command -v findmnt >/dev/null &&
	fixture_user ebbtest; then
	fid=t-local-fuse-$$ m=$EBB_TEST_DIR/m0 u=$(id -u ebbtest)
	fixture_ebbctl instance create "$fid" --capacity 256MiB --owner ebbtest \
		>/dev/null 2>&1 || bail "instance create $fid failed"
	fixture_mount "$fid" "$m" ebbtest || bail "mount failed"
	head -c 12345678 /dev/urandom >"$EBB_TEST_DIR/orig" && chmod 644 "$EBB_TEST_DIR/orig"
	fixture_as ebbtest cp "$EBB_TEST_DIR/orig" "$m/f" && sync
	echo 3 >/proc/sys/vm/drop_caches
	ok "ebb-fuse: 12 MB read back through the mount are the bytes written" \
		fixture_as ebbtest cmp "$EBB_TEST_DIR/orig" "$m/f"
	n=0
	for k in 0 1 2; do
		c=$(grep -c "local socket: uid $u pid [0-9]*: fd of object .* of $fid\$" \
			"$EBB_TEST_DIR/bbd$k.log")
		n=$((n + c))
	done
	[ "$n" -ge 3 ]
	ok_status $? "ebb-fuse (uid $u) read from fds the 3 bbd passed ($n)"
	ok "unmount" fixture_umount "$m"
	fixture_ebbctl instance destroy "$fid" >/dev/null 2>&1
else
	skip "ebb-fuse, /dev/fuse, findmnt or user ebbtest missing"
	skip "(ebb-fuse reads)"
	skip "(unmount)"
fi

# node 0's socket disappears: libebb falls back to TCP and reads right
rm -f -- "${EBB_NODE_ROOTS[0]}/bbd.sock"
ok "t_local nosock: no socket -> TCP, same bytes" "$T" nosock
for k in 0 1 2; do
	kill -0 "${EBB_NODE_PIDS[k]}" 2>/dev/null
	ok_status $? "bbd$k still runs"
done
done_testing
