# SPDX-License-Identifier: GPL-2.0-or-later
# mpiio.t: MPI-IO (Open MPI with ROMIO) writing one shared file from three
# mounts of one instance, which stand for three nodes (m0, m1, m2 through
# bbd0..2): rank r writes through mount r.  Non-contiguous independent
# writes with ROMIO's data sieving (read an extent, patch, write it back
# under an fcntl lock: it needs locks across nodes and data coherent under
# them) and collective writes; every byte checked afterwards.  mpirun here
# stands for srun on the Slurm cluster (tests/slurm), which is not used:
# the point is the file system's side.
. "$EBB_SRCDIR/tests/fuse/fuse.sh"

fuse_setup 3
command -v mpicc >/dev/null && command -v mpirun >/dev/null ||
	skip_all "no MPI (mpicc, mpirun: Debian's openmpi-bin, libopenmpi-dev)"
I=mpiio-$$
M=("$EBB_TEST_DIR/m0" "$EBB_TEST_DIR/m1" "$EBB_TEST_DIR/m2")
fuse_instance "$I" 1GiB --stripe-size 64KiB || bail "instance create failed"
for i in 0 1 2; do
	fixture_mount -n "$i" "$I" "${M[i]}" || bail "mount m$i failed"
done
P=$L/t_mpiio
as_u mpicc -O2 -o "$P" "$EBB_SRCDIR/tests/fuse/t_mpiio.c" ||
	bail "mpicc of t_mpiio.c failed"

# mpi MODE NAME: 3 ranks, ROMIO (not OMPIO), rank r on mount r
mpi() {
	as_u env TMPDIR="$L" HOME="$L" OMPI_MCA_plm_rsh_agent=false timeout -k 5 300 mpirun --oversubscribe -np 3 --mca io romio321 \
		--mca btl self,vader "$P" "$1" "${M[0]}/$2" "${M[1]}/$2" "${M[2]}/$2" 2>&1
}
check() {
	as_u env TMPDIR="$L" HOME="$L" OMPI_MCA_plm_rsh_agent=false timeout -k 5 300 mpirun -np 1 --mca io romio321 --mca btl self,vader \
		"$P" check 3 "${M[0]}/$1" 2>&1
}

for mode in indep coll; do
	out=$(mpi "$mode" "$mode")
	is "$(printf '%s\n' "$out" | grep -E "^$mode=")" "$mode=ok" \
		"MPI-IO $mode writes from 3 nodes into one file" || diag "$out"
	out=$(check "$mode")
	is "$(printf '%s\n' "$out" | grep -E '^bytes=')" "bytes=599400 bad=0" \
		"MPI-IO $mode: every byte right, read on m0" || diag "$out"
done

# The same independent writes with --local-locks (each node's kernel keeps
# its own locks, as before the lock service): ROMIO's read-modify-write
# cycles of different nodes may then overwrite each other.  How many bytes
# go wrong depends on how the cycles interleave, so this is a diagnostic,
# not a check (sqlite-nodes.t shows the same failure deterministically).
LM=("$EBB_TEST_DIR/l0" "$EBB_TEST_DIR/l1" "$EBB_TEST_DIR/l2")
for i in 0 1 2; do
	EBB_FUSE_LOCAL_LOCKS=1 fixture_mount -n "$i" "$I" "${LM[i]}" || bail "mount l$i (--local-locks) failed"
done
M=("${LM[@]}")
out=$(mpi indep local)
diag "with --local-locks: $(printf '%s\n' "$out" | grep -E '^indep=') $(check local | grep -E '^bytes=') (bad: bytes that are not what their rank wrote)"
M=("$EBB_TEST_DIR/m0" "$EBB_TEST_DIR/m1" "$EBB_TEST_DIR/m2")

fuse_teardown "$I" "${LM[2]}" "${LM[1]}" "${LM[0]}" "${M[2]}" "${M[1]}" "${M[0]}"
done_testing
