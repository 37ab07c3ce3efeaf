/* SPDX-License-Identifier: GPL-2.0-or-later */
/* t_mpiio: MPI-IO writes from several "nodes" into one shared file, then a
 * check of every byte (tests/fuse/mpiio.t compiles it with mpicc).
 *
 * t_mpiio MODE FILE_0 FILE_1 ...: rank r opens FILE_r (its node's mount of
 * the same file).  The file is NB rounds of NP blocks of B bytes: block r
 * of each round is rank r's (a vector file type: non-contiguous for every
 * rank).  MODE "indep": MPI_File_write with data sieving on (ROMIO reads a
 * whole extent, patches its blocks in and writes it back under an fcntl
 * lock of the extent: without locks across nodes the ranks undo each
 * other's blocks); "coll": MPI_File_write_all (two-phase, aggregators);
 * "check N FILE": rank 0 reads FILE, written by N ranks, and checks every
 * byte.  Prints one line.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B 333           /* block bytes: unaligned on purpose */
#define NB 600          /* rounds */

static unsigned char _byte(int rank, long blk, int i)
{
	return (unsigned char)(rank * 71 + blk * 13 + i * 7 + 1);
}

int main(int argc, char **argv)
{
	int rank, np, bad = 0, rc = 0;
	MPI_File fh;
	MPI_Info info;
	MPI_Datatype vec;
	unsigned char *buf;
	const char *mode;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &np);
	if (argc < 2 + np || (!strcmp(argv[1], "check") && argc < 4)) {
		if (!rank)
			fprintf(stderr, "usage: t_mpiio indep|coll|check FILE...\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	mode = argv[1];
	if (!strcmp(mode, "check"))
		np = atoi(argv[2]); /* the writers */
	buf = malloc((size_t)B * NB * np);
	MPI_Info_create(&info);
	MPI_Info_set(info, "romio_ds_write", "enable");
	MPI_Info_set(info, "romio_ds_read", "enable");
	MPI_Info_set(info, "ind_wr_buffer_size", "65536");
	if (!strcmp(mode, "check")) {
		if (rank == 0) {
			MPI_File_open(MPI_COMM_SELF, argv[3], MPI_MODE_RDONLY, info,
				      &fh);
			MPI_File_read_at(fh, 0, buf, B * NB * np, MPI_BYTE,
					 MPI_STATUS_IGNORE);
			MPI_File_close(&fh);
			for (long blk = 0; blk < (long)NB * np; blk++)
				for (int i = 0; i < B; i++)
					if (buf[blk * B + i] !=
					    _byte((int)(blk % np), blk / np, i))
						bad++;
			printf("bytes=%d bad=%d\n", B * NB * np, bad);
			rc = bad != 0;
		}
		goto out;
	}
	MPI_Type_vector(NB, B, B * np, MPI_BYTE, &vec);
	MPI_Type_commit(&vec);
	for (long k = 0; k < NB; k++)
		for (int i = 0; i < B; i++)
			buf[k * B + i] = _byte(rank, k, i);
	if (MPI_File_open(MPI_COMM_WORLD, argv[2 + rank],
			  MPI_MODE_WRONLY | MPI_MODE_CREATE, info, &fh) !=
	    MPI_SUCCESS)
		MPI_Abort(MPI_COMM_WORLD, 3);
	MPI_File_set_view(fh, (MPI_Offset)rank * B, MPI_BYTE, vec, "native",
			  info);
	if (!strcmp(mode, "coll"))
		rc = MPI_File_write_all(fh, buf, B * NB, MPI_BYTE,
					MPI_STATUS_IGNORE) != MPI_SUCCESS;
	else
		/* in pieces, so that the ranks' sieving extents interleave */
		for (int part = 0; part < 6 && !rc; part++)
			rc = MPI_File_write(fh, buf + (long)part * B * (NB / 6),
					    B * (NB / 6), MPI_BYTE,
					    MPI_STATUS_IGNORE) != MPI_SUCCESS;
	MPI_File_close(&fh);
	MPI_Type_free(&vec);
	if (!rank)
		printf("%s=%s\n", mode, rc ? "failed" : "ok");
out:
	MPI_Info_free(&info);
	free(buf);
	MPI_Finalize();
	return rc;
}
