#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# restart.t: what bbd acknowledged survives SIGTERM and kill -9.
# An instance, a directory and a file written over raw RPC (FSYNC, then
# SIZE_UPDATE with SYNC) must all be there after a restart on the same
# port and root.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_init || bail "fixture_init failed"
fixture_require_root
fixture_attached && skip_all "restarts daemons: not with EBB_NODES set"
fixture_munged || bail "no munged"
fixture_bbd 1 || bail "bbd did not start"
export EBB_NODES EBB_MUNGE_SOCKET
rpc=$EBB_BUILDDIR/tests/bbd/bbd_rpc

plan 8
ino_a=$("$rpc" write a)
ok_status $? "instance, directory and file a written (inode $ino_a)"
ok "file a reads back" "$rpc" check a
fixture_bbd_stop 0
ok_status $? "bbd exits 0 on SIGTERM"
fixture_bbd_restart 0 || bail "bbd did not restart"
ok "file a is back after SIGTERM" "$rpc" check a
ino_b=$("$rpc" write b)
ok_status $? "file b written after the restart (inode $ino_b)"
fixture_bbd_kill 0 KILL
fixture_bbd_restart 0 || bail "bbd did not restart after kill -9"
ok "file a is back after kill -9" "$rpc" check a
ok "file b (fsync'ed) is back after kill -9" "$rpc" check b
ino_c=$("$rpc" write c)
[ -n "$ino_c" ] && [ "$ino_c" != "$ino_a" ] && [ "$ino_c" != "$ino_b" ] && [ "$ino_b" != "$ino_a" ]
ok_status $? "inode numbers are never reused across restarts ($ino_a, $ino_b, $ino_c)"
done_testing
