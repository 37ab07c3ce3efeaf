# SPDX-License-Identifier: GPL-2.0-or-later
# xattr.t: 4 bbd, then t_xattr (extended attributes through libebb).
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_setup_nodes 4
fixture_exec_tap "$EBB_BUILDDIR/tests/client/t_xattr"
