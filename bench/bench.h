/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bench: the workload loops shared by ebb-bench (libebb) and local-bench (POSIX).
 *
 * DESIGN: a ratio against a baseline only means something if both sides run
 * the same loop.  So the loops live here once and call the file system
 * through struct bench_fs; ebb-bench fills it with ebb_* calls, local-bench
 * with open/pwrite/stat/unlink.  The timed part of every mode is exactly the
 * same sequence of calls on both sides.
 *
 * Output: key=value lines on stdout (one per line, no spaces around '='),
 * for bench/run to pick up with sed.  Errors go to stderr, exit status 1.
 */
#ifndef EBB_BENCH_H
#define EBB_BENCH_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The calls a workload needs.  Every function returns like its POSIX
 * namesake (-1 or NULL with errno set).  ctx is the file system's handle
 * (an ebb_t, or nothing); a file is whatever open returned.  All of them
 * may be called from several threads at once. */
struct bench_fs {
	const char *name;  /* "ebb", "local": printed as fs= */
	void *ctx;
	void *(*open)(void *ctx, const char *path, int flags, mode_t mode);
	ssize_t (*pwrite)(void *file, const void *buf, size_t n, off_t off);
	ssize_t (*pread)(void *file, void *buf, size_t n, off_t off);
	int (*fsync)(void *file);
	int (*close)(void *file);
	int (*stat)(void *ctx, const char *path);
	int (*unlink)(void *ctx, const char *path);
	int (*mkdir)(void *ctx, const char *path, mode_t mode);
	int (*rmdir)(void *ctx, const char *path);
	/* Optional: meta thread i uses thread_ctx[i % nthread_ctx] instead
	 * of ctx (ebb-bench --handles: one ebb_t, i.e. one set of
	 * connections, per thread).  NULL = everyone uses ctx. */
	void **thread_ctx;
	unsigned nthread_ctx;
};

struct bench_args {
	const char *mode;      /* seqwrite, seqread, meta, unlink */
	const char *path;      /* the file (seq*) or the parent directory (meta) */
	uint64_t size;         /* seq*: bytes; default 1 GiB */
	size_t bs;             /* seq*: bytes per call; default 1 MiB */
	unsigned threads;      /* meta: 1..64; default 1 */
	unsigned long files;   /* meta: files in total; default 10000 */
	bool per_thread_dirs;  /* meta: one directory per thread, else one shared */
	bool verify;           /* seqread: check the stamps seqwrite wrote */
};

/* Options every bench program takes (getopt_long codes 0x100 and up);
 * a program appends its own after them, ending with a zero entry. */
#define BENCH_COMMON_OPTIONS                                            \
	{ "size", required_argument, NULL, 0x100 },                     \
	{ "bs", required_argument, NULL, 0x101 },                       \
	{ "threads", required_argument, NULL, 0x102 },                  \
	{ "files", required_argument, NULL, 0x103 },                    \
	{ "per-thread-dirs", no_argument, NULL, 0x104 },                \
	{ "verify", no_argument, NULL, 0x105 }

#define BENCH_COMMON_USAGE                                              \
	"  --size SIZE        seq*: bytes to write/read (default 1GiB)\n"  \
	"  --bs SIZE          seq*: bytes per call (default 1MiB)\n"       \
	"  --threads T        meta: threads, 1..64 (default 1)\n"          \
	"  --files N          meta: files in total (default 10000)\n"      \
	"  --per-thread-dirs  meta: a directory per thread (default: one shared)\n" \
	"  --verify           seqread: check the data seqwrite wrote\n"

/* Defaults into a. */
void bench_args_init(struct bench_args *a);

/* Handle one of BENCH_COMMON_OPTIONS.  Returns 1 if opt was one of them
 * (and valid), 0 if it is not one of ours, -1 after printing why arg is
 * bad. */
int bench_common_opt(struct bench_args *a, int opt, const char *arg);

/* Parse a size with units ("1GiB", "4MiB", "1048576") or exit(2). */
uint64_t bench_parse_size(const char *what, const char *s);

/* Run a->mode on fs and print its key=value lines.  Returns 0, or 1 after
 * printing the error.  Thread: the caller's (it starts its own workers). */
int bench_run(const struct bench_fs *fs, const struct bench_args *a);

#endif
