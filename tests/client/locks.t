# SPDX-License-Identifier: GPL-2.0-or-later
# locks.t: 3 bbd, then t_locks (libebb's lock calls between two handles).
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_setup_nodes 3
fixture_exec_tap "$EBB_BUILDDIR/tests/client/t_locks"
