/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Capacity: an instance of 16 MiB per node fills up with ENOSPC, earlier
 * data stays intact, space comes back after unlink; an instance larger
 * than a node offers is refused and not left half-created.  Run by
 * enospc.t (4 bbd).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctest.h"
#include "tap.h"

#define MiB (1024ULL * 1024)
#define CAP (16 * MiB)

/* Write stream seed to path until an error; returns the errno seen (0 if
 * max bytes went in) and the bytes acknowledged in *written.  O_DSYNC: each
 * write waits for its replies, so what it acknowledged is on the nodes
 * (with write-behind a write returns before that, see _wb_full). */
static int _fill(ebb_t *h, const char *path, uint64_t max, uint64_t *written)
{
	unsigned char *buf = tap_malloc(MiB);
	ebb_file_t *f = ebb_open(h, path, O_CREAT | O_WRONLY | O_DSYNC, 0644);
	int e = 0;

	*written = 0;
	if (!f) {
		e = errno;
		free(buf);
		return e;
	}
	while (*written < max) {
		ssize_t w;
		ct_fill(buf, MiB, 9, *written);
		w = ebb_pwrite(f, buf, MiB, (off_t)*written);
		if (w < 0) {
			e = errno;
			break;
		}
		*written += (uint64_t)w;
		if (w < (ssize_t)MiB)
			break;
	}
	if (ebb_fsync(f) != 0 && !e)
		e = errno;
	if (ebb_close(f) != 0 && !e)
		e = errno;
	free(buf);
	return e;
}

/* A 4 MiB write-behind write into a full instance returns before the
 * replies, unless the ENOSPC of one of its own pieces came in while its
 * later pieces were being sent: then it fails itself (rather than claim
 * the bytes past the hole, stream.c).  Either way the error stays pending
 * for flush/close. */
static int _wb_returns(ebb_file_t *f, const unsigned char *buf)
{
	ssize_t w = ebb_pwrite(f, buf, 4 * MiB, 0);

	if (w < 0)
		diag("the write itself: %s", strerror(errno));
	return w == (ssize_t)(4 * MiB) || (w < 0 && errno == ENOSPC);
}

int main(void)
{
	struct ctest c;
	uint64_t n = 0, total;
	struct ebb_statfs sfs;
	int e;

	plan_lazy();
	ct_setup(&c, "t-nospc", CAP, 0, 0, 0);
	total = CAP * c.nmembers;

	is_int(ct_write_file(c.h, "/keep", 8 * MiB + 5, 1, MiB, 1), 0,
	       "write and fsync /keep (8 MiB)");
	e = _fill(c.h, "/fill", 2 * total, &n);
	is_int(e, ENOSPC, "filling the instance ends with ENOSPC (after %llu "
	       "MiB acknowledged)", (unsigned long long)(n / MiB));
	ok(n < total, "less than the capacity (%llu MiB) was acknowledged",
	   (unsigned long long)(total / MiB));
	memset(&sfs, 0, sizeof(sfs));
	if (ebb_statfs(c.h, &sfs) != 0)
		diag("statfs: %s", strerror(errno));
	ok(sfs.capacity == total && sfs.used <= sfs.capacity,
	   "statfs: used %llu <= capacity %llu", (unsigned long long)sfs.used,
	   (unsigned long long)sfs.capacity);
	is_int(ct_verify_file(c.h, "/keep", 8 * MiB + 5, 1, 3 * MiB), 0,
	       "/keep is intact");
	{
		/* what was acknowledged of /fill reads back */
		ebb_file_t *f = ebb_open(c.h, "/fill", O_RDONLY, 0);
		unsigned char *buf = tap_malloc(MiB);
		int good = f != NULL;
		for (uint64_t off = 0; good && off + MiB <= n; off += MiB)
			good = ebb_pread(f, buf, MiB, (off_t)off) == (ssize_t)MiB &&
			       ct_check(buf, MiB, 9, off) == (size_t)-1;
		if (f)
			ebb_close(f);
		free(buf);
		ok(good, "the acknowledged part of /fill reads back");
	}
	CT_ERRNO(ct_write_file(c.h, "/more", 4 * MiB, 2, MiB, 1), ENOSPC,
		 "another 4 MiB file -> ENOSPC");
	{
		/* Write-behind: the write returns before the nodes answer,
		 * the ENOSPC comes at flush (once), or at close. */
		unsigned char *buf = tap_malloc(4 * MiB);
		ebb_file_t *f;

		ct_fill(buf, 4 * MiB, 4, 0);
		f = ebb_open(c.h, "/wb1", O_CREAT | O_WRONLY, 0644);
		ok(f && _wb_returns(f, buf),
		   "write-behind: a 4 MiB write into the full instance returns "
		   "(or fails with ENOSPC)");
		CT_ERRNO(ebb_flush(f), ENOSPC, "ebb_flush reports its ENOSPC");
		is_int(ebb_close(f), 0, "ebb_close after: reported once");
		f = ebb_open(c.h, "/wb2", O_CREAT | O_RDWR, 0644);
		ok(f && _wb_returns(f, buf),
		   "write-behind: another 4 MiB write returns (or fails with "
		   "ENOSPC)");
		/* a read of the range waits for the writes in flight there */
		(void)ebb_pread(f, buf, 1, 0);
		CT_ERRNO(ebb_pwrite(f, buf, MiB, (off_t)(4 * MiB)), ENOSPC,
			 "once a read over it has waited for the failed write, "
			 "the next write of the handle fails with ENOSPC");
		CT_ERRNO(ebb_close(f), ENOSPC, "ebb_close reports it too");
		f = ebb_open(c.h, "/wb3", O_CREAT | O_WRONLY, 0644);
		ok(f && _wb_returns(f, buf),
		   "a third one returns (or fails with ENOSPC)");
		CT_ERRNO(ebb_close(f), ENOSPC,
			 "ebb_close without flush reports ENOSPC");
		f = ebb_open(c.h, "/wb4", O_CREAT | O_WRONLY | O_DSYNC, 0644);
		CT_ERRNO(f ? ebb_pwrite(f, buf, 4 * MiB, 0) : -1, ENOSPC,
			 "O_DSYNC: the write itself fails with ENOSPC");
		if (f)
			ebb_close(f);
		for (int i = 1; i <= 4; i++) {
			char p[8];
			snprintf(p, sizeof(p), "/wb%d", i);
			ebb_unlink(c.h, p);
		}
		free(buf);
		/* One 16 MiB write: the ENOSPC of its first pieces comes in
		 * while its later ones are sent.  It must not then grow the
		 * file over the hole they left (the file would claim zeros
		 * as data); 3 times, as it depends on timing. */
		buf = tap_malloc(16 * MiB);
		ct_fill(buf, 16 * MiB, 6, 0);
		for (int i = 0; i < 3; i++) {
			ebb_file_t *g = ebb_open(c.h, "/cut", O_CREAT | O_TRUNC |
						 O_WRONLY, 0644);
			ssize_t w = g ? ebb_pwrite(g, buf, 16 * MiB, 0) : -1;
			int we = errno, ce = 0;
			struct ebb_stat st;

			if (g && ebb_close(g) != 0)
				ce = errno;
			memset(&st, 0, sizeof(st));
			if (ebb_stat(c.h, "/cut", &st) != 0)
				diag("stat /cut: %s", strerror(errno));
			diag("16 MiB write into the full instance: %s, close: "
			     "%s, size %llu", w < 0 ? strerror(we) : "returned",
			     ce ? strerror(ce) : "ok",
			     (unsigned long long)st.size);
			is_int(ce, ENOSPC, "a 16 MiB write into the full "
			       "instance: close reports ENOSPC (%d)", i);
			is_int(ct_verify_file(c.h, "/cut", st.size, 6, MiB), 0,
			       "and every byte its size claims is written (%d)",
			       i);
		}
		ebb_unlink(c.h, "/cut");
		free(buf);
	}
	is_int(ebb_unlink(c.h, "/fill"), 0, "unlink /fill");
	ebb_unlink(c.h, "/more");
	is_int(ct_write_file(c.h, "/after", 8 * MiB, 3, MiB, 1), 0,
	       "after the unlink, 8 MiB fit again");
	is_int(ct_verify_file(c.h, "/after", 8 * MiB, 3, MiB), 0, "and read back");
	is_int(ct_verify_file(c.h, "/keep", 8 * MiB + 5, 1, MiB), 0,
	       "/keep still intact");
	is_int(ebb_unlink(c.h, "/after"), 0, "unlink /after");

	{
		/* Gathered small writes (stream.c) into a full instance:
		 * the ENOSPC of a gathered WRITE comes at close (or fails a
		 * later write of the handle), and the file then claims
		 * only bytes that are on the nodes, as written. */
		unsigned char *buf = tap_malloc(4096);
		ebb_file_t *f = ebb_open(c.h, "/g", O_CREAT | O_WRONLY, 0644);
		uint64_t off = 0, wrote;
		struct ebb_stat st;
		int we = 0, ce = 0;

		while (f && off < 2 * total) {
			ct_fill(buf, 4096, 5, off);
			if (ebb_pwrite(f, buf, 4096, (off_t)off) != 4096) {
				we = errno;
				break;
			}
			off += 4096;
		}
		wrote = off;
		if (f && ebb_close(f) != 0)
			ce = errno;
		diag("4 KiB writes: %llu MiB accepted, then %s; close: %s",
		     (unsigned long long)(wrote / MiB),
		     we ? strerror(we) : "no error", ce ? strerror(ce) : "ok");
		ok(we == 0 || we == ENOSPC, "gathered 4 KiB writes: a write "
		   "fails only with the ENOSPC of an earlier one");
		is_int(ce, ENOSPC, "ebb_close reports the gathered writes' "
		       "ENOSPC");
		memset(&st, 0, sizeof(st));
		if (ebb_stat(c.h, "/g", &st) != 0)
			diag("stat /g: %s", strerror(errno));
		ok(st.size > 0 && st.size < total && st.size <= wrote,
		   "its size (%llu) is below the capacity and what was "
		   "accepted", (unsigned long long)st.size);
		is_int(ct_verify_file(c.h, "/g", st.size, 5, MiB), 0,
		       "every byte it claims is the byte written (nothing "
		       "after the failure is claimed)");
		is_int(ct_verify_file(c.h, "/keep", 8 * MiB + 5, 1, MiB), 0,
		       "/keep still intact");
		is_int(ebb_unlink(c.h, "/g"), 0, "unlink /g");
		free(buf);
	}

	{
		/* Small files (one stripe each: their node drops the data
		 * with the name, UNLINK's DATA flag): fill up, delete them
		 * all, and every write right after the unlinks fits. */
		char p[32];
		unsigned k = 0, again = 0, gone = 0;

		for (; k < 2 * CAP / MiB * c.nmembers; k++) {
			snprintf(p, sizeof(p), "/s%u", k);
			if (ct_write_file(c.h, p, MiB, 4 + k, MiB, 0) != 0)
				break;
		}
		is_int(errno, ENOSPC, "1 MiB files until ENOSPC (%u fit)", k);
		for (unsigned i = 0; i <= k; i++) {
			snprintf(p, sizeof(p), "/s%u", i);
			gone += ebb_unlink(c.h, p) == 0;
		}
		is_int(gone, k + 1, "all of them unlinked");
		for (unsigned i = 0; i < k; i++) {
			snprintf(p, sizeof(p), "/s%u", i);
			if (ct_write_file(c.h, p, MiB, 40 + i, MiB, 0) != 0) {
				diag("%s: %s", p, strerror(errno));
				break;
			}
			again++;
		}
		is_int(again, k, "right after the unlinks, as many fit again");
		for (unsigned i = 0; i < k; i++) {
			snprintf(p, sizeof(p), "/s%u", i);
			ebb_unlink(c.h, p);
		}
	}

	{
		/* more than a node offers: refused, and nothing left behind */
		char id[80], err[512] = "";
		struct ebb_instance_spec spec = {
			.id = id, .members = c.members, .nmembers = c.nmembers,
			.capacity = 1ULL << 50,
		};
		struct ebb_instance_info *list = NULL;
		unsigned nl = 0, found = 0;

		snprintf(id, sizeof(id), "t-huge-%ld", (long)getpid());
		CT_ERRNO(ebb_instance_create(&spec, &c.opts, err, sizeof(err)),
			 ENOSPC, "an instance of 1 PiB per node -> ENOSPC");
		diag("message: %s", err);
		ok(err[0] != '\0', "with a message");
		for (unsigned k = 0; k < c.nmembers; k++) {
			if (ebb_instance_list(c.members[k], &c.opts, &list, &nl) != 0) {
				diag("instance list on %s: %s", c.members[k],
				     strerror(errno));
				found++;
				continue;
			}
			for (unsigned i = 0; i < nl; i++)
				if (strcmp(list[i].id, id) == 0)
					found++;
			ebb_instance_list_free(list, nl);
		}
		is_int(found, 0, "no node holds the refused instance");
	}
	is_int(ct_teardown(&c), 0, "detach and destroy the instance");
	return tap_exit();
}
