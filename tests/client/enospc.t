# SPDX-License-Identifier: GPL-2.0-or-later
# enospc.t: 4 bbd, a 16 MiB-per-node instance filled to ENOSPC (t_enospc).
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_setup_nodes 4
fixture_exec_tap "$EBB_BUILDDIR/tests/client/t_enospc"
