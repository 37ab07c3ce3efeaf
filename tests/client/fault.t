# SPDX-License-Identifier: GPL-2.0-or-later
# fault.t: one of 4 bbd is killed (-9) or stopped (SIGSTOP): calls that need
# it fail with EIO/ETIMEDOUT within the timeout, and after a restart every
# fsync'd byte is intact; a listing of hard links whose records are on a
# dead or stopped node gives its entries and then fails, never hangs.
# t_fault runs each phase; each phase is one check here (its own TAP lines
# are in the log).
#
# No timing is asserted: "did not hang" means the phase ended before
# `timeout` (generous: 40 round-trip timeouts) and the test's watchdog.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"

fixture_setup_nodes 4
fixture_attached && skip_all "kills and restarts daemons: not with EBB_NODES"
T=$EBB_BUILDDIR/tests/client/t_fault
[ -x "$T" ] || bail "$T not built"
export EBB_INSTANCE=fault-$$
# A short per-round-trip timeout only while a node is down; the other phases
# keep the default (30 s), so a slow disk under a parallel `make check`
# cannot fail them.
short_ms=3000
bound=$((short_ms * 40 / 1000))
D=$EBB_TEST_DIR

# phase DESC ARGS...: one check; a phase that hangs is killed by timeout
# (status 124).  The "down" phase runs with EBB_TIMEOUT_MS=$short_ms.
phase() {
	local desc=$1 st=0 ms=
	shift
	case $1 in down|linksdown) ms=$short_ms ;; esac
	EBB_TIMEOUT_MS=${ms:-${EBB_TIMEOUT_MS:-}} timeout -k 5 "$bound" "$T" "$@" >&2 || st=$?
	[ "$st" -eq 124 ] && diag "t_fault $1 did not finish within ${bound} s: a hang"
	ok_status "$st" "$desc"
}

phase "create the instance" create
phase "write and fsync files over all 4 nodes" write "$D"
K=$(cat "$D/victim")
pid=${EBB_NODE_PIDS[K]}

ok "kill -9 bbd$K" fixture_bbd_kill "$K" KILL
phase "with bbd$K dead: calls that need it fail with EIO/ETIMEDOUT, the others work" down "$D"
ok "restart bbd$K on the same port and root" fixture_bbd_restart "$K"
phase "after the restart: every fsync'd file has its SHA-256, new writes work" verify "$D"

# a node that hangs instead of dying: only the timeout can tell
pid=${EBB_NODE_PIDS[K]}
ok "SIGSTOP bbd$K" kill -STOP "$pid"
phase "with bbd$K stopped: the same calls time out instead of hanging" down "$D"
ok "SIGCONT bbd$K" kill -CONT "$pid"
phase "after SIGCONT: everything is back" verify "$D"

# a listing of hard links whose records are on a dead node (rank 2: the
# constant LINK_VICTIM of t_fault.c)
phase "hard links with their records on bbd2, listed from lower ranks" links "$D"
ok "kill -9 bbd2" fixture_bbd_kill 2 KILL
phase "with bbd2 dead: the listing gives its entries, then EIO, no hang" linksdown "$D"
ok "restart bbd2" fixture_bbd_restart 2
pid=${EBB_NODE_PIDS[2]}
ok "SIGSTOP bbd2" kill -STOP "$pid"
phase "with bbd2 stopped: the same, ETIMEDOUT" linksdown "$D"
ok "SIGCONT bbd2" kill -CONT "$pid"

phase "destroy the instance" destroy
done_testing
