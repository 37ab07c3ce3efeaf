/* SPDX-License-Identifier: GPL-2.0-or-later */
/* local-bench: the bench loops on a local file system with plain POSIX calls.
 *
 * The baseline side of bench/run: the same seqwrite/seqread/meta loops as
 * ebb-bench (bench.c), with pwrite/pread/fsync and open(O_CREAT|O_EXCL) +
 * close / stat / unlink on a local directory.  Buffered I/O, no O_DIRECT,
 * as fio's direct=0 and as bbd itself does.
 *
 * usage: local-bench [options] seqwrite|seqread|meta|unlink PATH
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static void _usage(FILE *o)
{
	fprintf(o, "usage: local-bench [options] seqwrite|seqread|meta|unlink PATH\n"
		   "  PATH is the file for seq*, the parent directory for meta\n"
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
	return bench_run(&fs, &a);
}
