#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# bbd-nofile.sh: bbd with an open files limit of $EBB_BBD_NOFILE (soft and
# hard), as on a node with the usual 1,024; exec keeps the fixture's pid.
exec prlimit --nofile="${EBB_BBD_NOFILE:-1024}:${EBB_BBD_NOFILE:-1024}" -- \
	"$EBB_BUILDDIR/bbd/bbd" "$@"
