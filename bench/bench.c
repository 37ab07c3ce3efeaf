/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bench: the seqwrite, seqread and meta loops behind ebb-bench and local-bench.
 *
 * DESIGN: see bench.h.  What is timed:
 *  - seqwrite: open(O_CREAT|O_TRUNC) .. pwrite(bs)* .. fsync .. close; the
 *    old file is unlinked before the clock starts, so every run allocates
 *    fresh blocks (fio's file is removed by bench/run for the same reason).
 *  - seqread: open .. pread(bs)* .. close; the caller drops the caches first.
 *  - meta: three phases, each started for all threads at once by a barrier
 *    and ended when the last thread is done: create (open O_CREAT|O_EXCL +
 *    close), stat, unlink of N/T files per thread.
 * The data is a fixed pseudo-random pattern with the byte offset stamped in
 * the first 8 bytes of every 4 KiB block, so --verify can tell misplaced
 * blocks apart; the stamping costs 256 stores per MiB.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "units.h"

#define STAMP_BLOCK 4096u
#define MAX_THREADS 64u

void bench_args_init(struct bench_args *a)
{
	memset(a, 0, sizeof(*a));
	a->size = 1ull << 30;
	a->bs = 1u << 20;
	a->threads = 1;
	a->files = 10000;
}

uint64_t bench_parse_size(const char *what, const char *s)
{
	char err[128];
	uint64_t v;

	if (units_parse_size(s, &v, err, sizeof(err)) != EBB_OK) {
		fprintf(stderr, "bad %s '%s': %s\n", what, s, err);
		exit(2);
	}
	return v;
}

int bench_common_opt(struct bench_args *a, int opt, const char *arg)
{
	char *end;
	unsigned long v;

	switch (opt) {
	case 0x100:
		a->size = bench_parse_size("--size", arg);
		return 1;
	case 0x101:
		a->bs = bench_parse_size("--bs", arg);
		if (a->bs == 0 || a->bs > (64u << 20)) {
			fprintf(stderr, "--bs must be 1 B..64 MiB\n");
			return -1;
		}
		return 1;
	case 0x102:
		v = strtoul(arg, &end, 10);
		if (*end || v < 1 || v > MAX_THREADS) {
			fprintf(stderr, "--threads must be 1..%u\n", MAX_THREADS);
			return -1;
		}
		a->threads = v;
		return 1;
	case 0x103:
		v = strtoul(arg, &end, 10);
		if (*end || v < 1) {
			fprintf(stderr, "--files must be a positive number\n");
			return -1;
		}
		a->files = v;
		return 1;
	case 0x104:
		a->per_thread_dirs = true;
		return 1;
	case 0x105:
		a->verify = true;
		return 1;
	}
	return 0;
}

static double _now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of the whole process, all threads. */
static double _cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- sequential --------------------------------------------------------- */

/* Fill buf with a fixed xorshift pattern (the same in every program). */
static void _pattern(unsigned char *buf, size_t n)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, n - i < 8 ? n - i : 8);
	}
}

/* Stamp the file offset of every 4 KiB block that starts in this chunk. */
static void _stamp(unsigned char *buf, size_t n, uint64_t off)
{
	for (size_t i = 0; i + 8 <= n; i += STAMP_BLOCK) {
		uint64_t o = off + i;

		memcpy(buf + i, &o, 8);
	}
}

/* 0 if buf (file bytes [off, off+n)) is what seqwrite wrote there. */
static int _check(const unsigned char *buf, const unsigned char *pat,
		  size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i += STAMP_BLOCK) {
		size_t len = n - i < STAMP_BLOCK ? n - i : STAMP_BLOCK;
		uint64_t o;

		if (len >= 8) {
			memcpy(&o, buf + i, 8);
			if (o != off + i)
				return -1;
			if (memcmp(buf + i + 8, pat + i + 8, len - 8))
				return -1;
		} else if (memcmp(buf + i, pat + i, len)) {
			return -1;
		}
	}
	return 0;
}

static void _print_common(const struct bench_fs *fs, const struct bench_args *a)
{
	printf("mode=%s\nfs=%s\n", a->mode, fs->name);
}

static int _seqwrite(const struct bench_fs *fs, const struct bench_args *a,
		     unsigned char *buf)
{
	double t0, t1, t2, t3, c0;
	void *f = NULL;
	int rc = 1;

	if (fs->unlink(fs->ctx, a->path) < 0 && errno != ENOENT) {
		fprintf(stderr, "unlink %s: %s\n", a->path, strerror(errno));
		goto out;
	}
	c0 = _cpu();
	t0 = _now();
	f = fs->open(fs->ctx, a->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (!f) {
		fprintf(stderr, "open %s: %s\n", a->path, strerror(errno));
		goto out;
	}
	for (uint64_t off = 0; off < a->size;) {
		size_t n = a->size - off < a->bs ? a->size - off : a->bs;
		ssize_t w;

		_stamp(buf, n, off);
		w = fs->pwrite(f, buf, n, off);
		if (w <= 0) {
			fprintf(stderr, "pwrite %s at %" PRIu64 ": %s\n", a->path,
				off, w < 0 ? strerror(errno) : "wrote nothing");
			goto out;
		}
		off += w;
	}
	t1 = _now();
	if (fs->fsync(f) < 0) {
		fprintf(stderr, "fsync %s: %s\n", a->path, strerror(errno));
		goto out;
	}
	t2 = _now();
	rc = fs->close(f);
	f = NULL;
	if (rc < 0) {
		fprintf(stderr, "close %s: %s\n", a->path, strerror(errno));
		rc = 1;
		goto out;
	}
	t3 = _now();
	_print_common(fs, a);
	printf("bytes=%" PRIu64 "\nbs=%zu\nseconds=%.6f\nwrite_seconds=%.6f\n"
	       "fsync_seconds=%.6f\nclose_seconds=%.6f\ncpu_seconds=%.3f\n"
	       "mbps=%.1f\n",
	       a->size, a->bs, t3 - t0, t1 - t0, t2 - t1, t3 - t2, _cpu() - c0,
	       a->size / (t3 - t0) / 1e6);
	rc = 0;
out:
	if (f)
		fs->close(f);
	return rc;
}

static int _seqread(const struct bench_fs *fs, const struct bench_args *a,
		    unsigned char *buf, const unsigned char *pat)
{
	uint64_t off = 0;
	double t0, t1, c0;
	void *f;
	int rc = 1;

	c0 = _cpu();
	t0 = _now();
	f = fs->open(fs->ctx, a->path, O_RDONLY, 0);
	if (!f) {
		fprintf(stderr, "open %s: %s\n", a->path, strerror(errno));
		goto out;
	}
	while (off < a->size) {
		size_t n = a->size - off < a->bs ? a->size - off : a->bs;
		ssize_t r = fs->pread(f, buf, n, off);

		if (r <= 0) {
			fprintf(stderr, "pread %s at %" PRIu64 ": %s\n", a->path,
				off, r < 0 ? strerror(errno)
					   : "end of file before --size");
			goto out;
		}
		/* --verify compares whole blocks on the stamp grid, so it
		 * wants whole reads; neither libebb nor a local file
		 * returns short reads inside the file. */
		if (a->verify && (size_t)r != n) {
			fprintf(stderr, "%s: short read at %" PRIu64 "\n",
				a->path, off);
			goto out;
		}
		if (a->verify && _check(buf, pat, n, off)) {
			fprintf(stderr, "%s: wrong data at %" PRIu64 "\n",
				a->path, off);
			goto out;
		}
		off += r;
	}
	rc = fs->close(f);
	f = NULL;
	if (rc < 0) {
		fprintf(stderr, "close %s: %s\n", a->path, strerror(errno));
		rc = 1;
		goto out;
	}
	t1 = _now();
	_print_common(fs, a);
	printf("bytes=%" PRIu64 "\nbs=%zu\nseconds=%.6f\ncpu_seconds=%.3f\n"
	       "verified=%d\nmbps=%.1f\n",
	       a->size, a->bs, t1 - t0, _cpu() - c0, a->verify ? 1 : 0,
	       a->size / (t1 - t0) / 1e6);
	rc = 0;
out:
	if (f)
		fs->close(f);
	return rc;
}

static int _seq(const struct bench_fs *fs, const struct bench_args *a)
{
	unsigned char *buf = NULL, *pat = NULL;
	int rc = 1;

	if (posix_memalign((void **)&buf, 4096, a->bs) ||
	    posix_memalign((void **)&pat, 4096, a->bs)) {
		fprintf(stderr, "out of memory for --bs %zu\n", a->bs);
		goto out;
	}
	_pattern(pat, a->bs);
	memcpy(buf, pat, a->bs);
	if (!strcmp(a->mode, "seqwrite"))
		rc = _seqwrite(fs, a, buf);
	else
		rc = _seqread(fs, a, buf, pat);
out:
	free(buf);
	free(pat);
	return rc;
}

/* ---- metadata ------------------------------------------------------------ */

enum { PH_CREATE, PH_STAT, PH_UNLINK, PH_N };
static const char *const _phase_name[PH_N] = { "create", "stat", "unlink" };

struct meta_run {
	const struct bench_fs *fs;
	const struct bench_args *a;
	char dir[1024];
	pthread_barrier_t bar;
	pthread_mutex_t lock;
	int err;              /* first errno; protected by lock */
	char errpath[1200];   /* protected by lock */
};

struct meta_thread {
	struct meta_run *run;
	unsigned id;
	unsigned long first, count;  /* file numbers [first, first+count) */
	pthread_t tid;
};

static void _meta_path(const struct meta_run *r, unsigned tid,
		       unsigned long i, char *p, size_t len)
{
	if (r->a->per_thread_dirs)
		snprintf(p, len, "%s/t%u/f%07lu", r->dir, tid, i);
	else
		snprintf(p, len, "%s/f%07lu", r->dir, i);
}

static void _meta_fail(struct meta_run *r, const char *what, const char *p)
{
	int e = errno;

	pthread_mutex_lock(&r->lock);
	if (!r->err) {
		r->err = e ? e : EIO;
		snprintf(r->errpath, sizeof(r->errpath), "%s %s", what, p);
	}
	pthread_mutex_unlock(&r->lock);
}

static bool _meta_failed(struct meta_run *r)
{
	bool f;

	pthread_mutex_lock(&r->lock);
	f = r->err != 0;
	pthread_mutex_unlock(&r->lock);
	return f;
}

static void _meta_phase(struct meta_thread *t, int ph)
{
	struct meta_run *r = t->run;
	const struct bench_fs *fs = r->fs;
	void *ctx = fs->thread_ctx ? fs->thread_ctx[t->id % fs->nthread_ctx]
				   : fs->ctx;
	char p[1100];

	if (_meta_failed(r))
		return;
	for (unsigned long i = t->first; i < t->first + t->count; i++) {
		void *f;

		_meta_path(r, t->id, i, p, sizeof(p));
		switch (ph) {
		case PH_CREATE:
			f = fs->open(ctx, p, O_WRONLY | O_CREAT | O_EXCL,
				     0644);
			if (!f || fs->close(f) < 0) {
				_meta_fail(r, "create", p);
				return;
			}
			break;
		case PH_STAT:
			if (fs->stat(ctx, p) < 0) {
				_meta_fail(r, "stat", p);
				return;
			}
			break;
		case PH_UNLINK:
			if (fs->unlink(ctx, p) < 0) {
				_meta_fail(r, "unlink", p);
				return;
			}
			break;
		}
	}
}

static void *_meta_worker(void *arg)
{
	struct meta_thread *t = arg;

	for (int ph = 0; ph < PH_N; ph++) {
		pthread_barrier_wait(&t->run->bar);   /* start */
		_meta_phase(t, ph);
		pthread_barrier_wait(&t->run->bar);   /* done */
	}
	return NULL;
}

static int _meta(const struct bench_fs *fs, const struct bench_args *a)
{
	struct meta_run r;
	struct meta_thread th[MAX_THREADS];
	double sec[PH_N], cpu[PH_N];
	unsigned nt = a->threads, started = 0;
	char p[1100];
	int rc = 1;

	memset(&r, 0, sizeof(r));
	r.fs = fs;
	r.a = a;
	snprintf(r.dir, sizeof(r.dir), "%s/meta.%ld",
		 strcmp(a->path, "/") ? a->path : "", (long)getpid());
	/* Set-up errors leave the directory behind: it is under the
	 * caller's PATH, and bench/run removes the whole run directory. */
	if (fs->mkdir(fs->ctx, r.dir, 0755) < 0) {
		fprintf(stderr, "mkdir %s: %s\n", r.dir, strerror(errno));
		return 1;
	}
	for (unsigned i = 0; a->per_thread_dirs && i < nt; i++) {
		snprintf(p, sizeof(p), "%s/t%u", r.dir, i);
		if (fs->mkdir(fs->ctx, p, 0755) < 0) {
			fprintf(stderr, "mkdir %s: %s\n", p, strerror(errno));
			return 1;
		}
	}
	pthread_mutex_init(&r.lock, NULL);
	pthread_barrier_init(&r.bar, NULL, nt + 1);
	for (unsigned i = 0; i < nt; i++) {
		unsigned long base = a->files / nt, extra = a->files % nt;

		th[i].run = &r;
		th[i].id = i;
		th[i].count = base + (i < extra);
		th[i].first = i * base + (i < extra ? i : extra);
		if (pthread_create(&th[i].tid, NULL, _meta_worker, &th[i])) {
			fprintf(stderr, "cannot start thread %u\n", i);
			/* The barrier counts nt+1: without all threads it
			 * would hang, so give up at once. */
			exit(1);
		}
		started++;
	}
	for (int ph = 0; ph < PH_N; ph++) {
		double t0, c0;

		c0 = _cpu();
		t0 = _now();
		pthread_barrier_wait(&r.bar);
		pthread_barrier_wait(&r.bar);
		sec[ph] = _now() - t0;
		cpu[ph] = _cpu() - c0;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i].tid, NULL);
	if (r.err) {
		fprintf(stderr, "meta: %s: %s\n", r.errpath, strerror(r.err));
		goto out;
	}
	for (unsigned i = 0; a->per_thread_dirs && i < nt; i++) {
		snprintf(p, sizeof(p), "%s/t%u", r.dir, i);
		if (fs->rmdir(fs->ctx, p) < 0)
			fprintf(stderr, "rmdir %s: %s\n", p, strerror(errno));
	}
	if (fs->rmdir(fs->ctx, r.dir) < 0)
		fprintf(stderr, "rmdir %s: %s\n", r.dir, strerror(errno));
	_print_common(fs, a);
	printf("files=%lu\nthreads=%u\nlayout=%s\nhandles=%u\n", a->files, nt,
	       a->per_thread_dirs ? "per-thread-dirs" : "shared-dir",
	       fs->thread_ctx ? fs->nthread_ctx : 1);
	for (int ph = 0; ph < PH_N; ph++)
		printf("%s_seconds=%.6f\n%s_cpu_seconds=%.3f\n%s_ops=%.0f\n",
		       _phase_name[ph], sec[ph], _phase_name[ph], cpu[ph],
		       _phase_name[ph], a->files / sec[ph]);
	rc = 0;
out:
	pthread_barrier_destroy(&r.bar);
	pthread_mutex_destroy(&r.lock);
	return rc;
}

int bench_run(const struct bench_fs *fs, const struct bench_args *a)
{
	int rc;

	if (!a->mode || !a->path) {
		fprintf(stderr, "bench: no mode or path\n");
		return 1;
	}
	if (!strcmp(a->mode, "seqwrite") || !strcmp(a->mode, "seqread"))
		rc = _seq(fs, a);
	else if (!strcmp(a->mode, "meta"))
		rc = _meta(fs, a);
	else if (!strcmp(a->mode, "unlink")) {
		/* Untimed clean-up, so that bench/run can remove an old file
		 * before it syncs and drops the caches. */
		rc = fs->unlink(fs->ctx, a->path) < 0 && errno != ENOENT;
		if (rc)
			fprintf(stderr, "unlink %s: %s\n", a->path,
				strerror(errno));
	}
	else {
		fprintf(stderr, "bench: unknown mode '%s'\n", a->mode);
		rc = 1;
	}
	fflush(stdout);
	return rc;
}
