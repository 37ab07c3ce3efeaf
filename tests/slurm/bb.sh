# SPDX-License-Identifier: GPL-2.0-or-later
# bb.sh: what the burst_buffer/ebb tests share (sourced by tests/slurm/*.t
# except cluster.t): a 3-node cluster with the plugin, and the check that
# nothing of a job is left anywhere.
#
#   . "$EBB_SRCDIR/tests/slurm/bb.sh"
#   bb_setup [slurm_cluster_start options...]
#   bb_job NAME <<'EOF' ... EOF     a job script in $SLURM_JOBS_DIR
#   bb_clean "after job 3"          ok: no instance, mount or data anywhere
#
# The plugin polls every bbd each second here (health_interval = 1), sweeps
# orphans every 2 s, and the Epilog waits up to 20 s for its bbd, so that
# the fault tests finish in seconds; the defaults are in docs/slurm.md.
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"
. "$EBB_SRCDIR/tests/lib/slurm.sh"

bb_setup() {
	fixture_init
	slurm_require --bb ebb
	slurm_cluster_start 3 --bb ebb --ebb-conf "health_interval = 1" \
		--ebb-conf "sweep_interval = 2" --ebb-conf "epilog_timeout = 20" \
		"$@" || { slurm_logs; bail "the Slurm cluster did not start"; }
}

# bb_job NAME: write stdin to $SLURM_JOBS_DIR/NAME (readable by ebbtest).
bb_job() {
	cat >"$SLURM_JOBS_DIR/$1" && chmod 644 "$SLURM_JOBS_DIR/$1"
}

# _bb_leftovers: print what is left of any job on any node: instances a
# bbd reports, FUSE mounts in the node, instance directories on its disk.
_bb_leftovers() {
	local k addr out
	for ((k = 1; k <= SLURM_N; k++)); do
		addr=${SLURM_NODE_ADDRS[k]}:$EBB_SLURM_BBD_PORT
		out=$("$EBB_EBBCTL" -n "$addr" --json instance list 2>&1) ||
			{ echo "n$k: instance list failed: $out"; continue; }
		[ "$out" = "[]" ] || echo "n$k: bbd holds instances: $out"
		out=$(slurm_node_exec "$k" awk '$3 ~ /^fuse/ {print $2}' /proc/mounts)
		[ -z "$out" ] || echo "n$k: FUSE mounts left: $out"
		out=$(ls -A "$SLURM_DIR/n$k/bbd/instances" 2>&1)
		[ -z "$out" ] || echo "n$k: instance data left: $out"
		out=$(slurm_node_exec "$k" ls -A "$SLURM_MOUNT_ROOT")
		[ -z "$out" ] || echo "n$k: $SLURM_MOUNT_ROOT not empty: $out"
	done
}

# bb_clean DESC [TIMEOUT]: ok once nothing is left (teardown is
# asynchronous: wait up to TIMEOUT s, default 20).
bb_clean() {
	local desc=$1 t=${2:-20} i left
	for ((i = 0; i <= t * 10; i++)); do
		left=$(_bb_leftovers)
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -n "$left" ]; then
		not_ok "$desc: nothing left on any node" false
		diag "$left"
		slurm_logs 20
		return 1
	fi
	ok "$desc: nothing left on any node" true
}

# bb_no_instances: no bbd holds any instance right now (no waiting).
bb_no_instances() {
	[ -z "$(_bb_leftovers)" ]
}
