# SPDX-License-Identifier: GPL-2.0-or-later
# namespace.t: 4 bbd, then t_namespace (10 k files, readdir, rename...).
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_setup_nodes 4
fixture_exec_tap "$EBB_BUILDDIR/tests/client/t_namespace"
