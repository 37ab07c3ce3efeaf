/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Write-behind and read-ahead (client-lib/stream.c): what a write that
 * returned before its replies must still promise, and that read-ahead
 * serves sequential readers and nobody else.  Run by stream.t (4 bbd).
 * Links libebb-internal for file_ra_issued(), the read-ahead counter, and
 * file_wb_issued(), the WRITEs write-behind sent (gathering).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctest.h"
#include "ebb_int.h"
#include "tap.h"

#define MiB (1024ULL * 1024)

/* A second ebb_t (no shared inode table): what the nodes hold. */
static ebb_t *_other(struct ctest *c)
{
	ebb_t *h = ebb_attach(c->id, c->members, c->nmembers, &c->opts);

	if (!h)
		sysbail("attach a second handle");
	return h;
}

static void _read_after_write(struct ctest *c)
{
	unsigned char *buf = tap_malloc(5 * MiB), *rd = tap_malloc(5 * MiB);
	ebb_file_t *w = ebb_open(c->h, "/raw", O_CREAT | O_RDWR, 0644), *r;
	size_t n = 3 * MiB + 12345;
	struct ebb_stat st;
	int good = 1;

	ct_fill(buf, n, 11, 777);
	ok(w && ebb_pwrite(w, buf, n, 777) == (ssize_t)n,
	   "write-behind: 3 MiB at an odd offset");
	ok(ebb_pread(w, rd, n, 777) == (ssize_t)n && ct_same(rd, n, 11, 777,
							    "same handle"),
	   "read at once through the same handle: the bytes written");
	r = ebb_open(c->h, "/raw", O_RDONLY, 0);
	ok(r && ebb_pread(r, rd, n, 777) == (ssize_t)n &&
	   ct_same(rd, n, 11, 777, "other handle"),
	   "and through another handle of the same ebb_t");
	ok(r && ebb_fstat(r, &st) == 0 && st.size == 777 + n,
	   "fstat sees the size at once");
	/* many small writes in flight, each read back at once */
	for (uint64_t off = 0; off < 2 * MiB && good; off += 65536) {
		ct_fill(buf, 65536, 12, off);
		good = ebb_pwrite(w, buf, 65536, (off_t)off) == 65536 &&
		       ebb_pread(r, rd, 65536, (off_t)off) == 65536 &&
		       ct_same(rd, 65536, 12, off, "64 KiB");
	}
	ok(good, "32 small rewrites, each read back at once by the reader");
	is_int(ebb_close(r), 0, "close the reader");
	is_int(ebb_close(w), 0, "close the writer");
	free(buf);
	free(rd);
}

static void _overlap_in_order(struct ctest *c)
{
	unsigned char *buf = tap_malloc(4 * MiB);
	ebb_file_t *f = ebb_open(c->h, "/ovl", O_CREAT | O_WRONLY, 0644);
	ebb_t *h2;
	int good = f != NULL;

	/* the same range rewritten 64 times (one stripe on one node, and a
	 * range across 3 stripes): the last write must win */
	for (uint64_t i = 0; i < 64 && good; i++) {
		ct_fill(buf, 4 * MiB, 100 + i, 0);
		good = ebb_pwrite(f, buf, 4 * MiB, 0) == (ssize_t)(4 * MiB);
		ct_fill(buf, 300000, 200 + i, MiB - 1000);
		good = good && ebb_pwrite(f, buf, 300000, (off_t)(MiB - 1000)) ==
				       300000;
	}
	ok(good, "64 rounds of overlapping writes returned");
	is_int(f ? ebb_close(f) : -1, 0, "close");
	h2 = _other(c);
	f = ebb_open(h2, "/ovl", O_RDONLY, 0);
	good = f && ebb_pread(f, buf, 4 * MiB, 0) == (ssize_t)(4 * MiB);
	ok(good && ct_same(buf, MiB - 1000, 163, 0, "head") &&
	   ct_same(buf + MiB - 1000, 300000, 263, MiB - 1000, "middle") &&
	   ct_same(buf + MiB - 1000 + 300000, 3 * MiB + 1000 - 300000, 163,
		 MiB - 1000 + 300000, "tail"),
	   "another client reads the last round only: they applied in order");
	if (f)
		ebb_close(f);
	ebb_detach(h2);
	free(buf);
}

static void _truncate_after_writes(struct ctest *c)
{
	unsigned char *buf = tap_malloc(8 * MiB);
	ebb_file_t *f = ebb_open(c->h, "/trunc", O_CREAT | O_RDWR, 0644);
	struct ebb_stat st;
	ebb_t *h2;
	int good;

	ct_fill(buf, 8 * MiB, 21, 0);
	ok(f && ebb_pwrite(f, buf, 8 * MiB, 0) == (ssize_t)(8 * MiB),
	   "8 MiB written behind");
	is_int(ebb_ftruncate(f, (off_t)(MiB + 5)), 0,
	       "ftruncate to 1 MiB + 5 right after");
	ok(ebb_pwrite(f, buf, 10, (off_t)(3 * MiB)) == 10,
	   "10 bytes at 3 MiB (a hole between)");
	is_int(ebb_close(f), 0, "close");
	h2 = _other(c);
	ok(ebb_stat(h2, "/trunc", &st) == 0 && st.size == 3 * MiB + 10,
	   "another client: size 3 MiB + 10");
	f = ebb_open(h2, "/trunc", O_RDONLY, 0);
	good = f && ebb_pread(f, buf, 3 * MiB + 10, 0) ==
			    (ssize_t)(3 * MiB + 10);
	ok(good && ct_same(buf, MiB + 5, 21, 0, "kept"),
	   "the bytes before the cut survive");
	ok(good && ct_same(buf + 3 * MiB, 10, 21, 0, "after the hole"),
	   "the 10 bytes written after it");
	{
		int zeros = good;
		for (uint64_t i = MiB + 5; i < 3 * MiB && zeros; i++)
			zeros = buf[i] == 0;
		ok(zeros, "the cut bytes read as zeros: no write in flight "
		   "landed after the truncate");
	}
	if (f)
		ebb_close(f);
	ebb_detach(h2);
	free(buf);
}

static void _append(struct ctest *c)
{
	unsigned char *buf = tap_malloc(MiB), *rd = tap_malloc(4 * MiB);
	ebb_file_t *f = ebb_open(c->h, "/app", O_CREAT | O_WRONLY | O_APPEND,
				 0644), *r;
	int good = f != NULL;

	for (uint64_t i = 0; i < 4 && good; i++) {
		ct_fill(buf, MiB, 31, i * MiB);
		good = ebb_pwrite(f, buf, MiB, 0) == (ssize_t)MiB;
	}
	r = ebb_open(c->h, "/app", O_RDONLY, 0);
	ok(good && r && ebb_pread(r, rd, 4 * MiB, 0) == (ssize_t)(4 * MiB) &&
	   ct_same(rd, 4 * MiB, 31, 0, "append"),
	   "O_APPEND with write-behind: 4 appends in order, read at once");
	if (r)
		ebb_close(r);
	if (f)
		ebb_close(f);
	free(buf);
	free(rd);
}

static void _readahead(struct ctest *c)
{
	size_t chunk = 256 * 1024;
	uint64_t total = 12 * MiB;
	unsigned char *buf = tap_malloc(MiB);
	ebb_file_t *w = ebb_open(c->h, "/grow", O_CREAT | O_WRONLY, 0644), *r;
	uint64_t pos = 0, a;
	int good = w != NULL;

	r = ebb_open(c->h, "/grow", O_RDONLY, 0);
	good = good && r;
	/* the writer stays up to 3 MiB ahead of a sequential reader: every
	 * read must see what was written, never a stale read-ahead */
	for (uint64_t off = 0; off < total && good; off += chunk) {
		ct_fill(buf, chunk, 41, off);
		good = ebb_pwrite(w, buf, chunk, (off_t)off) == (ssize_t)chunk;
		if (off >= 3 * MiB) {
			good = good && ebb_pread(r, buf, chunk, (off_t)pos) ==
					       (ssize_t)chunk &&
			       ct_same(buf, chunk, 41, pos, "growing");
			pos += chunk;
		}
		if (off == 6 * MiB) {
			/* rewrite what the reader may have read ahead */
			ct_fill(buf, chunk, 42, pos + chunk);
			good = good && ebb_pwrite(w, buf, chunk,
						  (off_t)(pos + chunk)) ==
					       (ssize_t)chunk;
			good = good && ebb_pread(r, buf, chunk, (off_t)pos) ==
					       (ssize_t)chunk &&
			       ct_same(buf, chunk, 41, pos, "before rewrite");
			pos += chunk;
			good = good && ebb_pread(r, buf, chunk, (off_t)pos) ==
					       (ssize_t)chunk &&
			       ct_same(buf, chunk, 42, pos, "rewritten");
			pos += chunk;
			ct_fill(buf, chunk, 41, pos - chunk);
			good = good && ebb_pwrite(w, buf, chunk,
						  (off_t)(pos - chunk)) ==
					       (ssize_t)chunk;
		}
	}
	ok(good, "a sequential reader of a file being written through another "
	   "handle reads every byte as written (also a rewrite just ahead)");
	a = r ? file_ra_issued(r) : 0;
	ok(a > 0, "it read ahead (%llu chunks)", (unsigned long long)a);
	is_int(w ? ebb_close(w) : -1, 0, "close the writer");
	if (r)
		ebb_close(r);

	/* sequential from 0 on a fresh handle, to the end */
	r = ebb_open(c->h, "/grow", O_RDONLY, 0);
	good = r != NULL;
	for (uint64_t off = 0; off < total && good; off += MiB)
		good = ebb_pread(r, buf, MiB, (off_t)off) == (ssize_t)MiB &&
		       ct_same(buf, MiB, 41, off, "seq");
	a = r ? file_ra_issued(r) : 0;
	ok(good && a > 0, "a sequential reader reads ahead (%llu chunks) and "
	   "reads right", (unsigned long long)a);
	ok(r && ebb_pread(r, buf, MiB, (off_t)total) == 0,
	   "and gets 0 at the end");
	if (r)
		ebb_close(r);

	/* random: never sequential, never at 0 */
	r = ebb_open(c->h, "/grow", O_RDONLY, 0);
	good = r != NULL;
	for (int i = 0; i < 40 && good; i++) {
		uint64_t off = (uint64_t)((i * 7919) % 40 + 1) * 262144 + 4096;
		good = ebb_pread(r, buf, 4096, (off_t)off) == 4096;
	}
	a = r ? file_ra_issued(r) : 0;
	ok(good && a == 0, "random reads read nothing ahead (%llu chunks)",
	   (unsigned long long)a);
	if (r)
		ebb_close(r);
	free(buf);
}

static void _sync_handle(struct ctest *c)
{
	unsigned char *buf = tap_malloc(MiB);
	ebb_file_t *f = ebb_open(c->h, "/sync", O_CREAT | O_WRONLY | O_DSYNC,
				 0644);

	ct_fill(buf, MiB, 51, 0);
	ok(f && ebb_pwrite(f, buf, MiB, 0) == (ssize_t)MiB,
	   "an O_DSYNC handle writes synchronously");
	is_int(f ? ebb_close(f) : -1, 0, "close");
	is_int(ct_verify_file(c->h, "/sync", MiB, 51, MiB), 0, "reads back");
	free(buf);
}

/* Small consecutive writes are gathered (stream.c): far fewer WRITEs than
 * calls, and every promise of write-behind still holds. */
static void _gather(struct ctest *c)
{
	unsigned char *buf = tap_malloc(MiB), *rd = tap_malloc(4 * MiB);
	ebb_file_t *w = ebb_open(c->h, "/gath", O_CREAT | O_WRONLY, 0644), *r;
	uint64_t n = 3 * MiB + 1000, off = 0, i0, i1, i2;
	struct ebb_stat st;
	int good = w != NULL;
	ebb_t *h2;

	i0 = w ? file_wb_issued(w) : 0;
	/* 4 KiB, then odd sizes: the calls never line up with anything */
	while (good && off < n) {
		size_t len = off < MiB ? 4096 : 100 + off % 3001;
		if (len > n - off)
			len = (size_t)(n - off);
		ct_fill(buf, len, 61, off);
		good = ebb_pwrite(w, buf, len, (off_t)off) == (ssize_t)len;
		off += len;
	}
	i1 = w ? file_wb_issued(w) : 0;
	ok(good, "3 MiB + 1000 written in 4 KiB and odd-sized calls");
	ok(i1 - i0 <= 4, "gathered: %llu WRITEs sent so far for ~1,600 calls",
	   (unsigned long long)(i1 - i0));
	r = ebb_open(c->h, "/gath", O_RDONLY, 0);
	ok(r && ebb_fstat(r, &st) == 0 && st.size == n,
	   "another handle of the same ebb_t: the size counts gathered bytes");
	ok(r && ebb_pread(r, rd, 1000, (off_t)(n - 1000)) == 1000 &&
	   ct_same(rd, 1000, 61, n - 1000, "gathered tail"),
	   "and reads the gathered tail at once, byte-exact");
	i2 = w ? file_wb_issued(w) : 0;
	ok(i2 > i1, "the read sent the gather buffer first (%llu -> %llu)",
	   (unsigned long long)i1, (unsigned long long)i2);
	/* a write somewhere else sends what is gathered (order kept) */
	ct_fill(buf, 10, 62, 5);
	good = ebb_pwrite(w, buf, 100, (off_t)n) == 100 &&
	       ebb_pwrite(w, buf, 10, 5) == 10;
	ct_fill(buf, 100, 61, n);
	good = good && ebb_pwrite(w, buf, 100, (off_t)n) == 100;
	ok(good && r && ebb_pread(r, rd, 100, (off_t)n) == 100 &&
	   ct_same(rd, 100, 61, n, "rewrite"),
	   "a gathered rewrite of a range, broken by another write, "
	   "applies last");
	if (r)
		ebb_close(r);
	is_int(w ? ebb_close(w) : -1, 0, "close the writer");
	h2 = _other(c);
	r = ebb_open(h2, "/gath", O_RDONLY, 0);
	good = r && ebb_pread(r, rd, n + 100, 0) == (ssize_t)(n + 100);
	ok(good && ct_same(rd, 5, 61, 0, "head") &&
	   ct_same(rd + 5, 10, 62, 5, "10 bytes") &&
	   ct_same(rd + 15, n + 100 - 15, 61, 15, "rest"),
	   "another ebb_t reads every byte as written");
	if (r)
		ebb_close(r);

	/* 3 writers (3 ebb_t, as 3 nodes), 100-byte records interleaved
	 * (record i by writer i % 3), each record written as 4 calls of
	 * 25 bytes: what one gathers must never cover another's bytes. */
	{
		ebb_t *hs[3] = { c->h, h2, _other(c) };
		ebb_file_t *fs[3];
		unsigned nrec = 3000;

		good = 1;
		for (int j = 0; j < 3; j++)
			good = good && (fs[j] = ebb_open(hs[j], "/recs",
					O_CREAT | O_WRONLY, 0644)) != NULL;
		for (unsigned i = 0; i < nrec && good; i++) {
			ebb_file_t *f = fs[i % 3];
			ct_fill(buf, 100, 70 + i % 3, (uint64_t)i * 100);
			for (int q = 0; q < 4 && good; q++)
				good = ebb_pwrite(f, buf + 25 * q, 25,
					(off_t)(i * 100 + 25 * q)) == 25;
		}
		for (int j = 0; j < 3; j++)
			good = fs[j] && ebb_close(fs[j]) == 0 && good;
		ok(good, "3 clients wrote %u interleaved 100-byte records in "
		   "25-byte calls", nrec);
		r = ebb_open(h2, "/recs", O_RDONLY, 0);
		good = r && ebb_pread(r, rd, nrec * 100, 0) == nrec * 100;
		for (unsigned i = 0; i < nrec && good; i++)
			good = ct_same(rd + i * 100, 100, 70 + i % 3,
				     (uint64_t)i * 100, "record");
		ok(good, "every record is its writer's, byte-exact");
		if (r)
			ebb_close(r);
		ebb_detach(hs[2]);
	}
	ebb_detach(h2);
	free(buf);
	free(rd);
}

/* kill -9 of a writer: what it fsynced is on the nodes.  The child
 * attaches its own ebb_t (libebb's threads do not cross fork). */
static void _crash(struct ctest *c)
{
	uint64_t synced = MiB + 3000;
	int p[2];
	pid_t pid;
	char x = 0;
	struct ebb_stat st;

	if (pipe(p) != 0)
		sysbail("pipe");
	fflush(NULL);
	if ((pid = fork()) < 0)
		sysbail("fork");
	if (pid == 0) {
		ebb_t *h = ebb_attach(c->id, c->members, c->nmembers, &c->opts);
		ebb_file_t *f = h ? ebb_open(h, "/crash", O_CREAT | O_WRONLY,
					     0644) : NULL;
		unsigned char b[4096];
		uint64_t off = 0;
		int good = f != NULL;

		while (good && off < synced) {
			size_t len = synced - off < 4096 ? synced - off : 4096;
			ct_fill(b, len, 81, off);
			good = ebb_pwrite(f, b, len, (off_t)off) ==
			       (ssize_t)len;
			off += len;
		}
		good = good && ebb_fsync(f) == 0;
		for (int i = 0; i < 100 && good; i++, off += 4096) {
			ct_fill(b, 4096, 81, off);
			good = ebb_pwrite(f, b, 4096, (off_t)off) == 4096;
		}
		x = good ? 'y' : 'n';
		if (write(p[1], &x, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &x, 1) != 1)
		x = 0;
	close(p[0]);
	is_int(x, 'y', "a child wrote 1 MiB + 3000 in 4 KiB calls, fsynced, "
	       "wrote 400 KiB more");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	memset(&st, 0, sizeof(st));
	if (ebb_stat(c->h, "/crash", &st) != 0)
		diag("stat /crash: %s", strerror(errno));
	ok(st.size >= synced,
	   "after kill -9: the size covers what was fsynced (%llu)",
	   (unsigned long long)st.size);
	{
		unsigned char *rd = tap_malloc(synced);
		ebb_file_t *f = ebb_open(c->h, "/crash", O_RDONLY, 0);

		ok(f && ebb_pread(f, rd, synced, 0) == (ssize_t)synced &&
		   ct_same(rd, synced, 81, 0, "fsynced"),
		   "and those bytes read back");
		if (f)
			ebb_close(f);
		free(rd);
	}
}

int main(void)
{
	struct ctest c;

	plan_lazy();
	/* Read-ahead is the TCP read path: with every bbd on this host,
	 * local reads (client-lib/local.c) would take its place.  Write-behind
	 * with local reads is local.t's. */
	setenv("EBB_SHORT_CIRCUIT", "0", 1);
	ct_setup(&c, "t-stream", 1024 * MiB, 0, 0, 0);
	_read_after_write(&c);
	_overlap_in_order(&c);
	_truncate_after_writes(&c);
	_append(&c);
	_readahead(&c);
	_sync_handle(&c);
	_gather(&c);
	_crash(&c);
	is_int(ct_teardown(&c), 0, "detach and destroy the instance");
	return tap_exit();
}
