/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb-bench: the bench loops (bench.c) through libebb, plus instance set-up.
 *
 * usage: ebb-bench [options] seqwrite|seqread|meta|unlink|lockpair PATH
 *        ebb-bench [options] inst-create|inst-destroy
 *
 * PATH is inside the instance ("/big", or "/" as meta's parent).  The
 * instance is reached with --via HOST:PORT (ebb_attach_via: one member
 * tells the member list) or with --members / $EBB_NODES (ebb_attach).
 * inst-create/inst-destroy call ebb_instance_create/_destroy on --members,
 * so bench/run does not depend on ebbctl.
 *
 * lockpair: --files N (default 10000) F_SETLK write + F_UNLCK pairs on
 * PATH (created if absent) through ebb_lock_ino, one at a time: prints
 * lock_pair=<us> us, the mean of a pair (two RPCs to
 * the file's home node, docs/internals/locks.md).
 *
 * One ebb_t is shared by all meta threads, as one application process
 * would share it (ebb.h: an ebb_t may be used from any number of threads);
 * --handles N attaches N of them (thread i uses handle i % N), which gives
 * each its own connections, to see what one connection per node costs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ebb/ebb.h>

#include "bench.h"

#define MAX_MEMBERS 64
#define MAX_HANDLES 64

struct ebb_bench {
	const char *via;
	const char *instance;
	char *members_buf;
	const char *members[MAX_MEMBERS];
	unsigned nmembers;
	uint64_t stripe;
	uint64_t capacity;
	struct ebb_options opts;
};

static void *_open(void *ctx, const char *path, int flags, mode_t mode)
{
	return ebb_open(ctx, path, flags, mode);
}

static ssize_t _pwrite(void *f, const void *buf, size_t n, off_t off)
{
	return ebb_pwrite(f, buf, n, off);
}

static ssize_t _pread(void *f, void *buf, size_t n, off_t off)
{
	return ebb_pread(f, buf, n, off);
}

static int _fsync(void *f)
{
	return ebb_fsync(f);
}

static int _close(void *f)
{
	return ebb_close(f);
}

static int _stat(void *ctx, const char *path)
{
	struct ebb_stat st;

	return ebb_stat(ctx, path, &st);
}

static int _unlink(void *ctx, const char *path)
{
	return ebb_unlink(ctx, path);
}

static int _mkdir(void *ctx, const char *path, mode_t mode)
{
	return ebb_mkdir(ctx, path, mode);
}

static int _rmdir(void *ctx, const char *path)
{
	return ebb_rmdir(ctx, path);
}

/* Split "a:1,b:2" into b->members (b->members_buf owns the strings). */
static int _parse_members(struct ebb_bench *b, const char *list)
{
	char *save = NULL, *tok;

	free(b->members_buf);
	b->members_buf = strdup(list);
	b->nmembers = 0;
	if (!b->members_buf)
		return -1;
	for (tok = strtok_r(b->members_buf, ", ", &save); tok;
	     tok = strtok_r(NULL, ", ", &save)) {
		if (b->nmembers == MAX_MEMBERS) {
			fprintf(stderr, "more than %d members\n", MAX_MEMBERS);
			return -1;
		}
		b->members[b->nmembers++] = tok;
	}
	if (!b->nmembers) {
		fprintf(stderr, "empty member list\n");
		return -1;
	}
	return 0;
}

static int _inst_create(struct ebb_bench *b)
{
	struct ebb_instance_spec spec = {
		.id = b->instance,
		.members = b->members,
		.nmembers = b->nmembers,
		.stripe_size = b->stripe,
		.capacity = b->capacity,
		.uid = getuid(),
		.gid = getgid(),
	};
	char err[512] = "";

	if (ebb_instance_create(&spec, &b->opts, err, sizeof(err)) < 0) {
		fprintf(stderr, "instance create %s: %s (%s)\n", b->instance,
			strerror(errno), err);
		return 1;
	}
	printf("instance=%s\nnodes=%u\n", b->instance, b->nmembers);
	return 0;
}

static int _inst_destroy(struct ebb_bench *b)
{
	char err[512] = "";

	if (ebb_instance_destroy(b->instance, b->members, b->nmembers,
				 &b->opts, err, sizeof(err)) < 0) {
		fprintf(stderr, "instance destroy %s: %s (%s)\n", b->instance,
			strerror(errno), err);
		return 1;
	}
	return 0;
}

/* lockpair: uncontended lock + unlock pairs on one file, one at a time. */
static int _lockpair(ebb_t *h, const char *path, unsigned long n)
{
	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	struct flock un = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
	struct ebb_stat st;
	struct timespec t0, t1;
	ebb_file_t *f = ebb_open(h, path, O_RDWR | O_CREAT, 0644);
	double us;

	if (!f || ebb_fstat(f, &st) != 0) {
		fprintf(stderr, "lockpair: %s: %s\n", path, strerror(errno));
		if (f)
			ebb_close(f);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned long i = 0; i < n; i++)
		if (ebb_lock_ino(h, st.ino, 1, getpid(), &lk, 0, NULL) != 0 ||
		    ebb_lock_ino(h, st.ino, 1, getpid(), &un, 0, NULL) != 0) {
			fprintf(stderr, "lockpair: %s\n", strerror(errno));
			ebb_close(f);
			return 1;
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 +
	      (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / (double)n;
	printf("home=%llu\nlock_pair=%.1f us\n",
	       (unsigned long long)(st.ino >> 48), us);
	return ebb_close(f) == 0 ? 0 : 1;
}

static void _usage(FILE *o)
{
	fprintf(o,
		"usage: ebb-bench [options] seqwrite|seqread|meta|unlink|lockpair PATH\n"
		"       ebb-bench [options] inst-create|inst-destroy\n"
		"  --instance ID      instance id (default $EBB_INSTANCE)\n"
		"  --via HOST:PORT    attach through this member\n"
		"  --members LIST     host:port,... in rank order (default $EBB_NODES)\n"
		"  --munge-socket P   munged socket (default $EBB_MUNGE_SOCKET)\n"
		"  --timeout-ms MS    per round trip (default libebb's)\n"
		"  --window SIZE      bytes in flight per node (default libebb's)\n"
		"  --stripe SIZE      inst-create: stripe size (default 1MiB)\n"
		"  --capacity SIZE    inst-create: bytes per node (default 4GiB)\n"
		"  --handles N        meta: N ebb_t handles, thread i uses i %% N (default 1)\n"
		BENCH_COMMON_USAGE);
}

int main(int argc, char **argv)
{
	enum { O_VIA = 0x200, O_MEMBERS, O_INSTANCE, O_MUNGE, O_TIMEOUT,
	       O_WINDOW, O_STRIPE, O_CAPACITY, O_HANDLES };
	static const struct option opts[] = {
		BENCH_COMMON_OPTIONS,
		{ "via", required_argument, NULL, O_VIA },
		{ "members", required_argument, NULL, O_MEMBERS },
		{ "instance", required_argument, NULL, O_INSTANCE },
		{ "munge-socket", required_argument, NULL, O_MUNGE },
		{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
		{ "window", required_argument, NULL, O_WINDOW },
		{ "stripe", required_argument, NULL, O_STRIPE },
		{ "capacity", required_argument, NULL, O_CAPACITY },
		{ "handles", required_argument, NULL, O_HANDLES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ebb_bench b = {
		.instance = getenv("EBB_INSTANCE"),
		.stripe = 0,
		.capacity = 4ull << 30,
	};
	struct bench_fs fs = {
		.name = "ebb",
		.open = _open, .pwrite = _pwrite, .pread = _pread,
		.fsync = _fsync, .close = _close, .stat = _stat,
		.unlink = _unlink, .mkdir = _mkdir, .rmdir = _rmdir,
	};
	struct bench_args a;
	const char *env_nodes = getenv("EBB_NODES");
	void *hs[MAX_HANDLES] = { NULL };
	unsigned nh = 1;
	char *end;
	int c, rc = 2;

	bench_args_init(&a);
	if (env_nodes && *env_nodes && _parse_members(&b, env_nodes) < 0)
		goto out;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			_usage(stdout);
			rc = 0;
			goto out;
		case O_VIA:
			b.via = optarg;
			continue;
		case O_MEMBERS:
			if (_parse_members(&b, optarg) < 0)
				goto out;
			continue;
		case O_INSTANCE:
			b.instance = optarg;
			continue;
		case O_MUNGE:
			b.opts.munge_socket = optarg;
			continue;
		case O_TIMEOUT:
			b.opts.timeout_ms = strtoul(optarg, NULL, 10);
			continue;
		case O_WINDOW:
			b.opts.window_bytes = bench_parse_size("--window", optarg);
			continue;
		case O_STRIPE:
			b.stripe = bench_parse_size("--stripe", optarg);
			continue;
		case O_CAPACITY:
			b.capacity = bench_parse_size("--capacity", optarg);
			continue;
		case O_HANDLES:
			nh = strtoul(optarg, &end, 10);
			if (*end || nh < 1 || nh > MAX_HANDLES) {
				fprintf(stderr, "--handles must be 1..%d\n",
					MAX_HANDLES);
				goto out;
			}
			continue;
		}
		switch (bench_common_opt(&a, c, optarg)) {
		case 1:
			continue;
		case 0:
			_usage(stderr);
			/* fall through */
		default:
			goto out;
		}
	}
	if (optind >= argc || !b.instance) {
		_usage(stderr);
		goto out;
	}
	a.mode = argv[optind];
	if (!strcmp(a.mode, "inst-create") || !strcmp(a.mode, "inst-destroy")) {
		if (!b.nmembers) {
			fprintf(stderr, "%s needs --members or $EBB_NODES\n",
				a.mode);
			goto out;
		}
		rc = !strcmp(a.mode, "inst-create") ? _inst_create(&b)
						    : _inst_destroy(&b);
		goto out;
	}
	if (argc - optind != 2) {
		_usage(stderr);
		goto out;
	}
	a.path = argv[optind + 1];
	if (!b.via && !b.nmembers) {
		fprintf(stderr, "need --via, --members or $EBB_NODES\n");
		goto out;
	}
	for (unsigned i = 0; i < nh; i++) {
		hs[i] = b.via ? ebb_attach_via(b.via, b.instance, &b.opts)
			      : ebb_attach(b.instance, b.members, b.nmembers,
					   &b.opts);
		if (!hs[i]) {
			fprintf(stderr, "attach to %s: %s\n", b.instance,
				strerror(errno));
			rc = 1;
			goto out;
		}
	}
	fs.ctx = hs[0];
	if (nh > 1) {
		fs.thread_ctx = hs;
		fs.nthread_ctx = nh;
	}
	printf("nodes=%u\nstripe=%llu\n", ebb_nmembers(hs[0]),
	       (unsigned long long)ebb_stripe_size(hs[0]));
	if (!strcmp(a.mode, "lockpair"))
		rc = _lockpair(hs[0], a.path, a.files);
	else
		rc = bench_run(&fs, &a);
out:
	for (unsigned i = 0; i < nh; i++) {
		if (hs[i] && ebb_detach(hs[i]) < 0) {
			fprintf(stderr, "detach: %s\n", strerror(errno));
			rc = rc ? rc : 1;
		}
	}
	free(b.members_buf);
	return rc;
}
