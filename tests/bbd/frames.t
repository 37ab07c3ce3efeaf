#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# frames.t: one real bbd, then t_frames (the "Connection errors" table of
# docs/protocol.md and 1,000 random malformed frames) against it.
# t_frames prints the TAP stream; this wrapper only provides the daemon.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_init || bail "fixture_init failed"
fixture_munged || bail "no munged"
fixture_bbd 1 || bail "bbd did not start"
export EBB_NODES EBB_MUNGE_SOCKET
fixture_attached || export EBB_BBD_PID="${EBB_NODE_PIDS[0]}"
_tap_done=1   # the stream is t_frames'
"$EBB_BUILDDIR/tests/bbd/t_frames"
