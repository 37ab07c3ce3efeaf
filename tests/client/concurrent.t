# SPDX-License-Identifier: GPL-2.0-or-later
# concurrent.t: 4 bbd, 4 client processes writing at once (t_concurrent).
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_setup_nodes 4
fixture_exec_tap "$EBB_BUILDDIR/tests/client/t_concurrent"
