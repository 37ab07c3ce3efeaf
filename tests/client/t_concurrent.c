/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Concurrent clients: 4 processes, each with its own ebb_t, write distinct
 * files and disjoint ranges of one shared file at the same time; then every
 * byte is checked.
 *
 * The ranges are not stripe-aligned, so two writers write different parts
 * of the same stripe object, and they all publish the size at close
 * (SIZE_UPDATE merges by max).  All four open the shared file with O_CREAT
 * at once: they must all get the same inode.  Meanwhile they create and
 * remove files in /stable while the parent lists it: its stable files must
 * each come back exactly once (ebb.h's readdir promise).  Run by
 * concurrent.t.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctest.h"
#include "tap.h"

#define NPROC 4
#define NFILES 20
#define REGION (8ULL * 1024 * 1024 + 4097)
#define CHUNK (256 * 1024 + 13)
#define NSTABLE 2000
#define NLIST 5

static uint64_t _flen(int k, int j)
{
	return (uint64_t)(k * 7 + j) * 100003 % (3 * 1024 * 1024);
}

/* The shared file's byte at offset o belongs to region o / REGION and is
 * byte o of stream 500 + region. */
static int _child(struct ctest *c, int k, int pipefd)
{
	ebb_t *h = ebb_attach(c->id, c->members, c->nmembers, &c->opts);
	unsigned char *buf = malloc(CHUNK);
	ebb_file_t *f;
	struct ebb_stat st;
	char p[64];
	int rc = 1, nchunks = (int)((REGION + CHUNK - 1) / CHUNK);
	ssize_t w;

	if (!h || !buf) {
		fprintf(stderr, "# child %d: attach: %s\n", k, strerror(errno));
		goto out;
	}
	snprintf(p, sizeof(p), "/p%d", k);
	if (ebb_mkdir(h, p, 0755) != 0) {
		fprintf(stderr, "# child %d: mkdir %s: %s\n", k, p, strerror(errno));
		goto out;
	}
	f = ebb_open(h, "/shared", O_CREAT | O_WRONLY, 0644);
	if (!f) {
		fprintf(stderr, "# child %d: open /shared: %s\n", k, strerror(errno));
		goto out;
	}
	if (ebb_fstat(f, &st) == 0 && write(pipefd, &st.ino, sizeof(st.ino)) < 0)
		fprintf(stderr, "# child %d: pipe: %s\n", k, strerror(errno));
	/* the region's chunks in a scrambled order, interleaved with the
	 * distinct files */
	for (int i = 0; i < nchunks; i++) {
		int ci = (i * 7 + k) % nchunks;   /* 7 is prime to nchunks */
		uint64_t off = (uint64_t)k * REGION + (uint64_t)ci * CHUNK;
		uint64_t end = (uint64_t)(k + 1) * REGION;
		size_t n = end - off < CHUNK ? (size_t)(end - off) : CHUNK;

		ct_fill(buf, n, 500 + (uint64_t)k, off);
		w = ebb_pwrite(f, buf, n, (off_t)off);
		if (w != (ssize_t)n) {
			fprintf(stderr, "# child %d: pwrite %zu at %llu: %zd %s\n",
				k, n, (unsigned long long)off, w, strerror(errno));
			ebb_close(f);
			goto out;
		}
		/* churn in /stable while the parent lists it: a file
		 * appears, the previous one goes */
		snprintf(p, sizeof(p), "/stable/churn%d_%d", k, i);
		if (ct_write_file(h, p, 10, 1, 10, 0) != 0) {
			ebb_close(f);
			goto out;
		}
		if (i > 0) {
			snprintf(p, sizeof(p), "/stable/churn%d_%d", k, i - 1);
			if (ebb_unlink(h, p) != 0) {
				fprintf(stderr, "# child %d: unlink %s: %s\n", k,
					p, strerror(errno));
				ebb_close(f);
				goto out;
			}
		}
		if (i < NFILES) {
			snprintf(p, sizeof(p), "/p%d/file%d", k, i);
			if (ct_write_file(h, p, _flen(k, i),
					  (uint64_t)(k * 100 + i), 65536, 0)) {
				ebb_close(f);
				goto out;
			}
		}
	}
	if (ebb_fsync(f) != 0 || ebb_close(f) != 0) {
		fprintf(stderr, "# child %d: fsync/close /shared: %s\n", k,
			strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (h)
		ebb_detach(h);
	free(buf);
	return rc;
}

/* Whether any child is still running (without reaping it). */
static int _running(const pid_t *pids)
{
	for (int k = 0; k < NPROC; k++) {
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pids[k], &si,
			   WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0)
			return 1;
	}
	return 0;
}

int main(void)
{
	struct ctest c;
	pid_t pids[NPROC];
	int fds[2], bad = 0;
	uint64_t inos[NPROC] = {0};
	struct ebb_stat st;

	plan_lazy();
	ct_setup(&c, "t-conc", 1024ULL * 1024 * 1024, 0, 0, 0);
	is_int(ebb_mkdir(c.h, "/stable", 0755), 0, "mkdir /stable");
	{
		int nbad = 0;
		for (unsigned i = 0; i < NSTABLE; i++) {
			char p[32];
			ebb_file_t *f;
			snprintf(p, sizeof(p), "/stable/s%u", i);
			f = ebb_open(c.h, p, O_CREAT | O_EXCL | O_WRONLY, 0644);
			if (!f || ebb_close(f) != 0)
				nbad++;
		}
		is_int(nbad, 0, "%d files in /stable", NSTABLE);
	}
	if (pipe(fds) != 0)
		sysbail("pipe");
	fflush(NULL);
	for (int k = 0; k < NPROC; k++) {
		pids[k] = fork();
		if (pids[k] < 0)
			sysbail("fork");
		if (pids[k] == 0) {
			close(fds[0]);
			_exit(_child(&c, k, fds[1]));
		}
	}
	close(fds[1]);
	/* each child reports its inode of /shared just before its loop */
	for (int k = 0; k < NPROC; k++)
		if (read(fds[0], &inos[k], sizeof(inos[k])) != sizeof(inos[k]))
			bad++;
	close(fds[0]);
	{
		/* list /stable while the children churn in it, until they are
		 * all done: every entry present for the whole listing comes
		 * back exactly once */
		unsigned bad_lists = 0, churned = 0;
		int round;
		for (round = 0; round < NLIST || _running(pids); round++) {
			static unsigned seen[NSTABLE];
			ebb_dir_t *d = ebb_opendir(c.h, "/stable");
			struct ebb_dirent ent;
			int r, wrong = 0;

			memset(seen, 0, sizeof(seen));
			while (d && (r = ebb_readdir(d, &ent)) == 1) {
				unsigned i;
				if (sscanf(ent.name, "s%u", &i) == 1 && i < NSTABLE)
					seen[i]++;
				else if (strncmp(ent.name, "churn", 5) == 0)
					churned++;
				else
					wrong++;
			}
			if (!d || r < 0) {
				diag("listing /stable: %s", strerror(errno));
				wrong++;
			}
			if (d)
				ebb_closedir(d);
			for (unsigned i = 0; i < NSTABLE; i++)
				if (seen[i] != 1) {
					if (wrong++ < 3)
						diag("round %d: s%u listed %u times",
						     round, i, seen[i]);
				}
			bad_lists += wrong != 0;
		}
		is_int(bad_lists, 0, "%d listings of /stable during the churn: "
		       "each of its %d stable files exactly once", round, NSTABLE);
		diag("%u churning entries seen in the listings", churned);
	}
	for (int k = 0; k < NPROC; k++) {
		int status = 0;
		if (waitpid(pids[k], &status, 0) < 0)
			sysbail("waitpid");
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "client process %d finished its writes (status 0x%x)", k,
		   status);
	}
	ok(!bad && inos[0] && inos[0] == inos[1] && inos[1] == inos[2] &&
	   inos[2] == inos[3], "concurrent O_CREAT of /shared gave all four "
	   "the same inode (%llu %llu %llu %llu)", (unsigned long long)inos[0],
	   (unsigned long long)inos[1], (unsigned long long)inos[2],
	   (unsigned long long)inos[3]);

	memset(&st, 0, sizeof(st));
	if (ebb_stat(c.h, "/shared", &st) != 0)
		diag("stat /shared: %s", strerror(errno));
	is_int((long long)st.size, (long long)(NPROC * REGION),
	       "/shared has the size of the 4 regions");
	{
		ebb_file_t *f = ebb_open(c.h, "/shared", O_RDONLY, 0);
		size_t n = 1024 * 1024;
		unsigned char *buf = tap_malloc(n);
		bad = f ? 0 : 1;
		for (uint64_t off = 0; f && off < NPROC * REGION && !bad;) {
			int k = (int)(off / REGION);
			uint64_t end = (uint64_t)(k + 1) * REGION;
			size_t len = end - off < n ? (size_t)(end - off) : n;
			size_t at;
			ssize_t r = ebb_pread(f, buf, len, (off_t)off);
			if (r != (ssize_t)len) {
				diag("pread %zu at %llu: %zd %s", len,
				     (unsigned long long)off, r, strerror(errno));
				bad++;
				break;
			}
			at = ct_check(buf, len, 500 + (uint64_t)k, off);
			if (at != (size_t)-1) {
				diag("/shared byte %llu (region of client %d) "
				     "differs", (unsigned long long)(off + at), k);
				bad++;
			}
			off += len;
		}
		if (f)
			ebb_close(f);
		free(buf);
		is_int(bad, 0, "every byte of /shared is its writer's");
	}
	bad = 0;
	for (int k = 0; k < NPROC; k++)
		for (int j = 0; j < NFILES; j++) {
			char p[64];
			snprintf(p, sizeof(p), "/p%d/file%d", k, j);
			if (ct_verify_file(c.h, p, _flen(k, j),
					   (uint64_t)(k * 100 + j), 1 << 20))
				bad++;
		}
	is_int(bad, 0, "the %d distinct files are intact", NPROC * NFILES);
	is_int(ct_teardown(&c), 0, "detach and destroy the instance");
	return tap_exit();
}
