#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ops.t: one real bbd, then t_ops (the semantics of every operation of
# docs/protocol.md) against it.  t_ops prints the TAP stream.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_init || bail "fixture_init failed"
fixture_require_root
fixture_munged || bail "no munged"
fixture_bbd 1 || bail "bbd did not start"
export EBB_NODES EBB_MUNGE_SOCKET
_tap_done=1   # the stream is t_ops'
"$EBB_BUILDDIR/tests/bbd/t_ops"
