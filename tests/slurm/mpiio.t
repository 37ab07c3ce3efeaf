# SPDX-License-Identifier: GPL-2.0-or-later
# mpiio.t: MPI-IO on the Slurm test cluster (tests/lib/slurm.sh): an
# instance mounted on 3 nodes, a 3-node batch job whose mpirun (Open MPI,
# ROMIO; its orted daemons started with srun: this Open MPI has no Slurm
# PMI, so srun cannot start the ranks directly) writes one shared file from
# one rank per node through each node's own mount: non-contiguous
# independent writes with data sieving (fcntl range locks across nodes)
# and collective writes; then every byte checked (t_mpiio.c, compiled here
# with mpicc).  docs/semantics.md "Locks: across nodes".
: "${EBB_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export EBB_SRCDIR
. "$EBB_SRCDIR/tests/tap/tap.sh"
. "$EBB_SRCDIR/tests/lib/fixture.sh"
. "$EBB_SRCDIR/tests/lib/slurm.sh"

fixture_init
slurm_require
command -v mpicc >/dev/null && command -v mpirun >/dev/null ||
	skip_all "no MPI (mpicc, mpirun: Debian's openmpi-bin, libopenmpi-dev)"
fixture_user ebbtest || bail "no user ebbtest"
I=mpi$$
slurm_lock || bail "could not take the Slurm test lock"
ok "a 3-node cluster starts" slurm_cluster_start 3 --bb none || { slurm_logs; bail "no cluster"; }
mr=$SLURM_MOUNT_ROOT
J=$SLURM_JOBS_DIR
out=$(fixture_ebbctl instance create "$I" --capacity 256MiB --stripe-size 64KiB --owner ebbtest --mount 2>&1)
ok_status $? "instance $I created with a mount on every node" || diag "$out"
out=$(fixture_as ebbtest mpicc -O2 -o "$J/t_mpiio" "$EBB_SRCDIR/tests/fuse/t_mpiio.c" 2>&1)
ok_status $? "mpicc t_mpiio.c" || diag "$out"

MPI="mpirun --mca io romio321 --mca plm slurm --mca btl self,vader,tcp --mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0"
{
	echo '#!/bin/bash'
	echo "#SBATCH -N3 --ntasks-per-node=1 -o $J/mpi-%j.out"
	echo "export HOME=$J TMPDIR=$J"
	echo 'for m in indep coll; do'
	echo "	$MPI -np 3 --map-by node $J/t_mpiio \$m $mr/$I/\$m $mr/$I/\$m $mr/$I/\$m"
	echo "	$MPI -np 1 --host n2 $J/t_mpiio check 3 $mr/$I/\$m"
	echo 'done'
} >"$J/mpi.sh"
chmod 644 "$J/mpi.sh"
job=$(slurm_submit "$J/mpi.sh")
ok_status $? "sbatch -N3: job $job"
ok "job $job completes" slurm_wait_job "$job" COMPLETED 300
for m in indep coll; do
	is "$(grep -c "^$m=ok" "$J/mpi-$job.out")" 1 "MPI-IO $m writes, one rank on each of 3 nodes" ||
		diag_file "$J/mpi-$job.out"
done
is "$(grep -c '^bytes=599400 bad=0' "$J/mpi-$job.out")" 2 \
	"every byte of both files right, read on n2 (independent with data sieving, collective)" ||
	diag_file "$J/mpi-$job.out"
ok "slurm_cluster_stop" slurm_cluster_stop
done_testing
