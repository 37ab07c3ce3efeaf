/* SPDX-License-Identifier: GPL-2.0-or-later */
/* local-bench: the bench loops on a local file system with plain POSIX calls.
 *
 * The baseline side of bench/run: the same seqwrite/seqread/meta loops as
 * ebb-bench (bench.c), with pwrite/pread/fsync and open(O_CREAT|O_EXCL) +
 * close / stat / unlink on a local directory.  Buffered I/O, no O_DIRECT,
 * as fio's direct=0 and as bbd itself does.
 *
 * usage: local-bench [options] seqwrite|seqread|meta|unlink|posix PATH
 *
 * posix (this program only: it measures POSIX calls that libebb has no
 * bench loop for) times, in directory PATH with --files N:
 *   link      link(2) of N existing files to a second name each, in a
 *             subdirectory PATH/posix.PID/l
 *   lsl       what `ls -l` does with that directory of N second names:
 *             opendir + readdir of all, lstat(2) of each entry
 *             (lsl_ops: entries per second, lsl_us: microseconds each)
 *   unlink2   unlink(2) of those second names (the inodes stay linked
 *             to their first names until then)
 *   lockpair  N pairs fcntl(F_SETLK, F_WRLCK 0..4095) + fcntl(F_SETLK,
 *             F_UNLCK) on one open file, uncontended
 *   flockpair N pairs flock(LOCK_EX) + flock(LOCK_UN) on one open file
 * and prints PHASE_ops=... and PHASE_us=... (microseconds per call or
 * pair), or PHASE_err=ERRNO-TEXT for a phase the file system refuses
 * (then the phase's ops are not printed and the next phase still runs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* A file is its descriptor, carried in the pointer (+1 so that fd 0 is
 * not NULL). */
static void *_open(void *ctx, const char *path, int flags, mode_t mode)
{
	int fd = open(path, flags | O_CLOEXEC, mode);

	return fd < 0 ? NULL : (void *)(intptr_t)(fd + 1);
}

static int _fd(void *f)
{
	return (int)(intptr_t)f - 1;
}

static ssize_t _pwrite(void *f, const void *buf, size_t n, off_t off)
{
	return pwrite(_fd(f), buf, n, off);
}

static ssize_t _pread(void *f, void *buf, size_t n, off_t off)
{
	return pread(_fd(f), buf, n, off);
}

static int _fsync(void *f)
{
	return fsync(_fd(f));
}

static int _close(void *f)
{
	return close(_fd(f));
}

static int _stat(void *ctx, const char *path)
{
	struct stat st;

	return stat(path, &st);
}

static int _unlink(void *ctx, const char *path)
{
	return unlink(path);
}

static int _mkdir(void *ctx, const char *path, mode_t mode)
{
	return mkdir(path, mode);
}

static int _rmdir(void *ctx, const char *path)
{
	return rmdir(path);
}

/* ---- posix: link and lock costs ------------------------------------------ */

static double _now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void _phase_out(const char *ph, unsigned long n, double t0)
{
	double dt = _now() - t0;

	if (dt <= 0)
		dt = 1e-9;
	printf("%s_ops=%.0f\n%s_us=%.2f\n", ph, n / dt, ph, dt * 1e6 / n);
}

static void _phase_err(const char *ph, const char *what, int err)
{
	printf("%s_err=%s\n", ph, strerror(err));
	fprintf(stderr, "posix: %s: %s: %s\n", ph, what, strerror(err));
}

static int _lockpairs(int fd, unsigned long n)
{
	struct flock fl = { .l_whence = SEEK_SET, .l_start = 0, .l_len = 4096 };
	double t0 = _now();

	for (unsigned long i = 0; i < n; i++) {
		fl.l_type = F_WRLCK;
		if (fcntl(fd, F_SETLK, &fl) != 0)
			return errno;
		fl.l_type = F_UNLCK;
		if (fcntl(fd, F_SETLK, &fl) != 0)
			return errno;
	}
	_phase_out("lockpair", n, t0);
	return 0;
}

static int _flockpairs(int fd, unsigned long n)
{
	double t0 = _now();

	for (unsigned long i = 0; i < n; i++)
		if (flock(fd, LOCK_EX) != 0 || flock(fd, LOCK_UN) != 0)
			return errno;
	_phase_out("flockpair", n, t0);
	return 0;
}

/* `ls -l` of ldir, which must hold n entries: 0 or an errno. */
static int _lsl(const char *ldir, unsigned long n)
{
	char p[4200 + 1 + 256];
	struct dirent *e;
	struct stat st;
	unsigned long k = 0;
	double t0 = _now();
	DIR *d = opendir(ldir);
	int err = 0;

	if (!d)
		return errno;
	for (;;) {
		errno = 0;
		if (!(e = readdir(d))) {
			err = errno;
			break;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", ldir, e->d_name);
		if (lstat(p, &st) != 0) {
			err = errno;
			break;
		}
		k++;
	}
	closedir(d);
	if (err)
		return err;
	if (k != n) {
		fprintf(stderr, "posix: lsl: %lu entries listed, %lu expected\n",
			k, n);
		return EIO;
	}
	_phase_out("lsl", n, t0);
	return 0;
}

static int _posix(const struct bench_args *a)
{
	unsigned long n = a->files, i;
	char dir[4096], ldir[4200], p[4200], q[4300];
	int fd, err, rc = 0;
	double t0;

	snprintf(dir, sizeof(dir), "%s/posix.%ld", a->path, (long)getpid());
	if (mkdir(dir, 0755) != 0) {
		fprintf(stderr, "posix: mkdir %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(ldir, sizeof(ldir), "%s/l", dir);
	if (mkdir(ldir, 0755) != 0) {
		fprintf(stderr, "posix: mkdir %s: %s\n", ldir, strerror(errno));
		rmdir(dir);
		return 1;
	}
	printf("fs=local\nmode=posix\nfiles=%lu\n", n);
	for (i = 0; i < n; i++) { /* untimed: the files to link */
		snprintf(p, sizeof(p), "%s/f%lu", dir, i);
		if ((fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644)) < 0 ||
		    close(fd) != 0) {
			fprintf(stderr, "posix: create %s: %s\n", p,
				strerror(errno));
			rc = 1;
			goto out;
		}
	}
	err = 0;
	t0 = _now();
	for (i = 0; i < n && !err; i++) {
		snprintf(p, sizeof(p), "%s/f%lu", dir, i);
		snprintf(q, sizeof(q), "%s/l%lu", ldir, i);
		if (link(p, q) != 0)
			err = errno;
	}
	if (err) {
		_phase_err("link", "link", err);
	} else {
		_phase_out("link", n, t0);
		if ((err = _lsl(ldir, n)))
			_phase_err("lsl", "ls -l", err);
		err = 0;
		t0 = _now();
		for (i = 0; i < n && !err; i++) {
			snprintf(q, sizeof(q), "%s/l%lu", ldir, i);
			if (unlink(q) != 0)
				err = errno;
		}
		if (err)
			_phase_err("unlink2", "unlink", err);
		else
			_phase_out("unlink2", n, t0);
	}
	snprintf(p, sizeof(p), "%s/f0", dir);
	if ((fd = open(p, O_RDWR)) < 0) {
		fprintf(stderr, "posix: open %s: %s\n", p, strerror(errno));
		rc = 1;
		goto out;
	}
	if ((err = _lockpairs(fd, n)))
		_phase_err("lockpair", "fcntl", err);
	if ((err = _flockpairs(fd, n)))
		_phase_err("flockpair", "flock", err);
	close(fd);
out:
	for (i = 0; i < n; i++) { /* untimed clean-up */
		snprintf(p, sizeof(p), "%s/f%lu", dir, i);
		snprintf(q, sizeof(q), "%s/l%lu", ldir, i);
		unlink(p);
		unlink(q);
	}
	if ((rmdir(ldir) != 0 || rmdir(dir) != 0) && !rc) {
		fprintf(stderr, "posix: rmdir %s: %s\n", dir, strerror(errno));
		rc = 1;
	}
	fflush(stdout);
	return rc;
}

static void _usage(FILE *o)
{
	fprintf(o, "usage: local-bench [options] seqwrite|seqread|meta|unlink|posix PATH\n"
		   "  PATH is the file for seq*, the parent directory for meta and posix\n"
		   BENCH_COMMON_USAGE);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		BENCH_COMMON_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct bench_fs fs = {
		.name = "local",
		.open = _open, .pwrite = _pwrite, .pread = _pread,
		.fsync = _fsync, .close = _close, .stat = _stat,
		.unlink = _unlink, .mkdir = _mkdir, .rmdir = _rmdir,
	};
	struct bench_args a;
	int c;

	bench_args_init(&a);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			_usage(stdout);
			return 0;
		}
		switch (bench_common_opt(&a, c, optarg)) {
		case 1:
			continue;
		case 0:
			_usage(stderr);
			/* fall through */
		default:
			return 2;
		}
	}
	if (argc - optind != 2) {
		_usage(stderr);
		return 2;
	}
	a.mode = argv[optind];
	a.path = argv[optind + 1];
	if (!strcmp(a.mode, "posix"))
		return _posix(&a);
	return bench_run(&fs, &a);
}
