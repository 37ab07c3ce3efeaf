# SPDX-License-Identifier: GPL-2.0-or-later
# twonodes-wb.t: twonodes.t, every check of it, with the kernel's writeback
# cache on both mounts (docs/semantics.md "The writeback cache": close-to-
# open between nodes holds in that mode too).
export EBB_FUSE_CACHE=writeback
exec bash "$EBB_SRCDIR/tests/fuse/twonodes.t"
