/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Data through libebb against real bbds: a big file round trip (SHA-256),
 * then the edges: stripe boundaries, holes, truncate, append, EOF.
 *
 * Run by data.t (4 bbd).  EBB_TEST_BIG_MB sets the big file's size
 * (default 1024 = 1 GiB).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctest.h"
#include "tap.h"

#define MiB (1024ULL * 1024)

static void test_big(struct ctest *c)
{
	const char *env = getenv("EBB_TEST_BIG_MB");
	uint64_t size = (env ? strtoull(env, NULL, 10) : 1024) * MiB;
	size_t wchunk = 8 * MiB, rchunk = 3 * MiB + 12345;
	unsigned char *buf = tap_malloc(wchunk > rchunk ? wchunk : rchunk);
	char whex[65], rhex[65];
	struct ct_sha *sha;
	struct ebb_stat st;
	ebb_file_t *f;
	uint64_t off;
	double t0, t1;
	int good;

	/* write in 8 MiB chunks, hashing what goes out */
	f = ebb_open(c->h, "/big", O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (!ok(f != NULL, "create /big"))
		bail("ebb_open(/big): %s", strerror(errno));
	sha = ct_sha_new();
	t0 = ct_now();
	good = 1;
	for (off = 0; off < size && good; off += wchunk) {
		size_t n = size - off < wchunk ? (size_t)(size - off) : wchunk;
		ssize_t w;
		ct_fill(buf, n, 1, off);
		ct_sha_update(sha, buf, n);
		w = ebb_pwrite(f, buf, n, (off_t)off);
		if (w != (ssize_t)n) {
			diag("pwrite at %llu: %zd (%s)", (unsigned long long)off,
			     w, strerror(errno));
			good = 0;
		}
	}
	ct_sha_final(sha, whex);
	ok(good, "wrote %llu MiB in 8 MiB chunks", (unsigned long long)(size / MiB));
	is_int(ebb_fsync(f), 0, "fsync /big");
	is_int(ebb_close(f), 0, "close /big");
	t1 = ct_now();
	diag("write: %.0f MiB/s (not a benchmark)", (double)size / MiB / (t1 - t0));

	memset(&st, 0, sizeof(st));
	if (ebb_stat(c->h, "/big", &st) != 0)
		diag("ebb_stat(/big): %s", strerror(errno));
	is_int((long long)st.size, (long long)size, "stat /big: its size");

	/* read back in chunks of another size, hashing what comes in */
	f = ebb_open(c->h, "/big", O_RDONLY, 0);
	if (!ok(f != NULL, "open /big for reading"))
		bail("ebb_open(/big, O_RDONLY): %s", strerror(errno));
	sha = ct_sha_new();
	good = 1;
	t0 = ct_now();
	for (off = 0; off < size && good; off += rchunk) {
		size_t n = size - off < rchunk ? (size_t)(size - off) : rchunk;
		ssize_t r = ebb_pread(f, buf, n, (off_t)off);
		if (r != (ssize_t)n) {
			diag("pread at %llu: %zd (%s)", (unsigned long long)off,
			     r, strerror(errno));
			good = 0;
			break;
		}
		ct_sha_update(sha, buf, n);
	}
	ct_sha_final(sha, rhex);
	t1 = ct_now();
	ok(good, "read it back in %zu-byte chunks", rchunk);
	diag("read: %.0f MiB/s (not a benchmark)", (double)size / MiB / (t1 - t0));
	is_str(rhex, whex, "SHA-256 of what was read equals what was written");
	is_int(ebb_close(f), 0, "close");
	free(buf);
	is_int(ebb_unlink(c->h, "/big"), 0, "unlink /big");
}

static ssize_t _pwrite_stream(ebb_file_t *f, size_t n, uint64_t seed,
			      uint64_t off)
{
	unsigned char *b = tap_malloc(n ? n : 1);
	ssize_t w;

	ct_fill(b, n, seed, off);
	w = ebb_pwrite(f, b, n, (off_t)off);
	free(b);
	return w;
}

/* Read [off, off+n) and compare with the stream (seed) or zeros (seed 0). */
static int _expect(ebb_file_t *f, uint64_t off, size_t n, uint64_t seed)
{
	unsigned char *b = tap_malloc(n ? n : 1), *w = tap_malloc(n ? n : 1);
	ssize_t r = ebb_pread(f, b, n, (off_t)off);
	int good = r == (ssize_t)n;

	if (!good)
		diag("pread(%zu at %llu) = %zd (%s)", n,
		     (unsigned long long)off, r, r < 0 ? strerror(errno) : "short");
	if (seed)
		ct_fill(w, n, seed, off);
	else
		memset(w, 0, n);
	if (good && memcmp(b, w, n) != 0) {
		size_t i = 0;
		while (b[i] == w[i])
			i++;
		diag("byte %llu differs: 0x%02x, expected 0x%02x",
		     (unsigned long long)(off + i), b[i], w[i]);
		good = 0;
	}
	free(b);
	free(w);
	return good;
}

static void test_edges(struct ctest *c)
{
	uint64_t S = ebb_stripe_size(c->h);
	struct ebb_stat st;
	struct ebb_statfs sfs;
	ebb_file_t *f, *g;
	unsigned char one;

	diag("stripe size %llu, %u members", (unsigned long long)S,
	     ebb_nmembers(c->h));
	ok(S >= 4096, "the instance has a stripe size");

	/* a write across every node's stripes, unaligned at both ends */
	f = ebb_open(c->h, "/edges", O_CREAT | O_RDWR, 0600);
	if (!ok(f != NULL, "create /edges"))
		bail("ebb_open(/edges): %s", strerror(errno));
	is_int(_pwrite_stream(f, (size_t)(5 * S + 333), 7, S - 111),
	       (long long)(5 * S + 333), "write 5 stripes + 333 bytes at "
	       "stripe - 111 (crosses 6 boundaries)");
	ok(_expect(f, S - 111, (size_t)(5 * S + 333), 7),
	   "read back from the same handle");
	ok(_expect(f, 0, (size_t)(S - 111), 0), "the hole before it reads as "
	   "zeros");
	ok(_expect(f, S - 1, 2, 7), "2 bytes straddling a boundary");
	memset(&st, 0, sizeof(st));
	ok(ebb_fstat(f, &st) == 0 && st.size == 6 * S + 222,
	   "fstat: size = 6 stripes + 222");
	is_int(ebb_pread(f, &one, 1, (off_t)(6 * S + 222)), 0,
	       "a read at EOF returns 0");
	{
		unsigned char b[100];
		is_int(ebb_pread(f, b, 100, (off_t)(6 * S + 200)), 22,
		       "a read across EOF is short (22 bytes)");
	}
	is_int(ebb_close(f), 0, "close /edges");

	/* another handle sees it (close-to-open) */
	ok(ebb_stat(c->h, "/edges", &st) == 0 && st.size == 6 * S + 222,
	   "stat after close shows the size");

	/* overwrite a middle range */
	f = ebb_open(c->h, "/edges", O_RDWR, 0);
	ok(f && _pwrite_stream(f, 1000, 8, 2 * S - 500) == 1000,
	   "overwrite 1000 bytes across a boundary");
	ok(f && _expect(f, 2 * S - 500, 1000, 8) && _expect(f, S - 111, 389, 7) &&
	   _expect(f, 2 * S + 500, 100, 7), "the overwrite and its neighbours");

	/* truncate down mid-stripe, then write beyond: the cut part is zeros */
	is_int(ebb_ftruncate(f, (off_t)(2 * S + 10)), 0, "ftruncate to 2 stripes + 10");
	ok(ebb_fstat(f, &st) == 0 && st.size == 2 * S + 10, "size after ftruncate");
	ok(_pwrite_stream(f, 10, 9, 5 * S) == 10, "write 10 bytes at 5 stripes");
	ok(_expect(f, 2 * S + 10, (size_t)(3 * S - 10), 0),
	   "bytes cut by the truncate read as zeros after the file grows again");
	ok(_expect(f, 2 * S - 500, 510, 8), "bytes before the cut survive");
	is_int(ebb_close(f), 0, "close");

	/* truncate up: zeros */
	is_int(ebb_truncate(c->h, "/edges", (off_t)(8 * S)), 0, "truncate up to 8 stripes");
	f = ebb_open(c->h, "/edges", O_RDONLY, 0);
	ok(f && ebb_fstat(f, &st) == 0 && st.size == 8 * S, "size 8 stripes");
	ok(f && _expect(f, 5 * S + 10, (size_t)(3 * S - 10), 0),
	   "the extension reads as zeros");
	if (f)
		ebb_close(f);

	/* O_TRUNC */
	f = ebb_open(c->h, "/edges", O_WRONLY | O_TRUNC, 0);
	ok(f && ebb_fstat(f, &st) == 0 && st.size == 0, "O_TRUNC empties it");
	if (f)
		ebb_close(f);
	f = ebb_open(c->h, "/edges", O_RDWR, 0);
	ok(f && _pwrite_stream(f, 5, 3, 3 * S) == 5 &&
	   _expect(f, 0, (size_t)(3 * S), 0),
	   "after O_TRUNC, old data does not come back under a new write");
	if (f)
		ebb_close(f);

	/* O_APPEND */
	f = ebb_open(c->h, "/log", O_CREAT | O_WRONLY | O_APPEND, 0644);
	ok(f != NULL, "create /log with O_APPEND");
	ok(f && _pwrite_stream(f, 100, 4, 0) == 100, "append 100 bytes");
	if (f)
		ebb_close(f);
	f = ebb_open(c->h, "/log", O_WRONLY | O_APPEND, 0);
	{
		unsigned char b[50];
		ct_fill(b, 50, 4, 100);
		ok(f && ebb_pwrite(f, b, 50, 0) == 50,
		   "append 50 more (offset ignored with O_APPEND)");
	}
	if (f)
		ebb_close(f);
	g = ebb_open(c->h, "/log", O_RDONLY, 0);
	ok(g && ebb_fstat(g, &st) == 0 && st.size == 150 && _expect(g, 0, 150, 4),
	   "/log holds the 150 appended bytes in order");
	if (g)
		ebb_close(g);

	/* empty and one-byte files */
	is_int(ct_write_file(c->h, "/empty", 0, 5, 4096, 1), 0, "empty file");
	ok(ebb_stat(c->h, "/empty", &st) == 0 && st.size == 0 &&
	   S_ISREG(st.mode), "it is a regular file of size 0");
	is_int(ct_write_file(c->h, "/one", 1, 5, 4096, 1), 0, "1-byte file");
	is_int(ct_verify_file(c->h, "/one", 1, 5, 4096), 0, "reads back");

	/* many small files of odd sizes */
	{
		int bad = 0;
		for (int i = 0; i < 40; i++) {
			char p[32];
			uint64_t len = (uint64_t)i * 7919 % (3 * S);
			snprintf(p, sizeof(p), "/small%d", i);
			if (ct_write_file(c->h, p, len, 100 + i, 65536, 0) != 0 ||
			    ct_verify_file(c->h, p, len, 100 + i, 4096 + i) != 0)
				bad++;
		}
		is_int(bad, 0, "40 files of odd sizes up to 3 stripes round trip");
	}

	/* errors */
	CT_ERRNO_P(ebb_open(c->h, "/", O_RDONLY, 0), EISDIR,
		   "opening / as a file -> EISDIR");
	CT_ERRNO_P(ebb_open(c->h, "/nope", O_RDONLY, 0), ENOENT,
		   "opening a missing file -> ENOENT");
	CT_ERRNO_P(ebb_open(c->h, "/one", O_CREAT | O_EXCL | O_WRONLY, 0644),
		   EEXIST, "O_CREAT|O_EXCL on an existing file -> EEXIST");
	CT_ERRNO_P(ebb_open(c->h, "/one/x", O_RDONLY, 0), ENOTDIR,
		   "a file used as a directory -> ENOTDIR");
	CT_ERRNO_P(ebb_open(c->h, "/nodir/x", O_CREAT | O_WRONLY, 0644), ENOENT,
		   "creating in a missing directory -> ENOENT");

	memset(&sfs, 0, sizeof(sfs));
	if (ebb_statfs(c->h, &sfs) != 0)
		diag("ebb_statfs: %s", strerror(errno));
	ok(sfs.nodes == ebb_nmembers(c->h) && sfs.capacity > 0 &&
	   sfs.used > 0 && sfs.used <= sfs.capacity && sfs.bsize == S,
	   "statfs: %u nodes, used %llu of %llu", sfs.nodes,
	   (unsigned long long)sfs.used, (unsigned long long)sfs.capacity);
}

int main(void)
{
	struct ctest c;

	plan_lazy();
	ct_setup(&c, "t-data", 2048 * MiB, 0, 0, 0);
	test_edges(&c);
	test_big(&c);
	is_int(ct_teardown(&c), 0, "detach and destroy the instance");
	return tap_exit();
}
