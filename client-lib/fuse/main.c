/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb-fuse: mount one ebb instance (a job's burst buffer file system).
 *
 *   ebb-fuse [-f] [-d] [-o fuse-opts] --instance ID
 *            (--members H:P,H:P,... | --via H:P) [--munge-socket PATH]
 *            [--timeout MS] [--threads N] [--cache none|writeback]
 *            [--sync-writes] MOUNTPOINT
 *
 * --cache writeback (default: $EBB_FUSE_CACHE, else none) turns on the
 * kernel's writeback cache: small write(2) calls are gathered in the page
 * cache and sent in large WRITEs.  It is for files that one node writes:
 * docs/semantics.md, "The writeback cache", says what it changes.
 *
 * Writes use libebb's write-behind by default (a WRITE is answered once
 * gathered or sent; its error comes at close or fsync, as on NFS);
 * --sync-writes (or $EBB_FUSE_SYNC_WRITES=1) answers each WRITE once the
 * nodes have it, with its error.  --write-behind, the opt-in before
 * write-behind was the default, is accepted and changes nothing.
 *
 * DESIGN: two ways to be mounted.  bbd (root) opens /dev/fuse, mounts it
 * itself with allow_other,default_permissions,user_id=,group_id= and
 * passes the descriptor as MOUNTPOINT "/dev/fd/N" (libfuse adopts it); we
 * then stay in the foreground as bbd's child and bbd unmounts at teardown,
 * which ends our loop with status 0.  Given a directory we mount it
 * ourselves (as root, or through fusermount3 as a user) with
 * default_permissions (+ allow_other as root) and, without -f, go to the
 * background once mounted.  SIGTERM/SIGINT/SIGHUP end the session
 * (libfuse's handlers call fuse_session_exit) and we unmount what we
 * mounted and exit 0.  The operations are in ops.c.
 */
#include "config.h"

#include <errno.h>
#include <time.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuse_ops.h"

#define FZ_THREADS_DEFAULT 16
#define FZ_READAHEAD_KB 8192       /* 8 stripes of the default size */

struct fz_args {
	bool foreground;
	bool debug;
	char *fuse_opts;           /* -o, joined with commas */
	const char *instance;
	char *members;             /* --members, split in place */
	const char *via;
	const char *mountpoint;
	struct ebb_options eopts;
	unsigned threads;
	bool writeback;
	bool sync_writes;
	bool splice;
	bool local_locks;
};

static void _usage(FILE *f)
{
	fprintf(f,
		"usage: ebb-fuse [-f] [-d] [-o fuse-opts] --instance ID\n"
		"                (--members H:P,H:P,... | --via H:P)\n"
		"                [--munge-socket PATH] [--timeout MS] "
		"[--threads N]\n"
		"                [--cache none|writeback] [--sync-writes] "
		"[--splice]\n"
		"                [--local-locks] MOUNTPOINT\n"
		"MOUNTPOINT may be /dev/fd/N: an already mounted /dev/fuse "
		"descriptor.\n");
}

static int _add_opt(char **dst, const char *opt)
{
	size_t a = *dst ? strlen(*dst) : 0, b = strlen(opt);
	char *n = realloc(*dst, a + b + 2);

	if (!n)
		return -1;
	if (a)
		n[a++] = ',';
	memcpy(n + a, opt, b + 1);
	*dst = n;
	return 0;
}

static int _parse(int argc, char **argv, struct fz_args *a)
{
	static const struct option longs[] = {
		{"instance", required_argument, NULL, 'i'},
		{"members", required_argument, NULL, 'm'},
		{"via", required_argument, NULL, 'v'},
		{"munge-socket", required_argument, NULL, 's'},
		{"timeout", required_argument, NULL, 't'},
		{"threads", required_argument, NULL, 'T'},
		{"cache", required_argument, NULL, 'c'},
		{"sync-writes", no_argument, NULL, 'S'},
		{"splice", no_argument, NULL, 'P'},
		{"no-splice", no_argument, NULL, 'N'},
		/* for tests and comparisons only (man page) */
		{"local-locks", no_argument, NULL, 'L'},
		/* the default since 2026-12: kept for old command lines */
		{"write-behind", no_argument, NULL, 'W'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *cache = getenv("EBB_FUSE_CACHE");
	const char *sw = getenv("EBB_FUSE_SYNC_WRITES");
	const char *sp = getenv("EBB_FUSE_SPLICE");
	const char *ll = getenv("EBB_FUSE_LOCAL_LOCKS");
	int c;
	char *end;

	memset(a, 0, sizeof(*a));
	a->threads = FZ_THREADS_DEFAULT;
	a->sync_writes = sw && *sw && strcmp(sw, "0") != 0;
	a->splice = sp && *sp && strcmp(sp, "0") != 0;
	a->local_locks = ll && *ll && strcmp(ll, "0") != 0;
	if (cache && !*cache)
		cache = NULL;
	while ((c = getopt_long(argc, argv, "fdo:h", longs, NULL)) != -1) {
		switch (c) {
		case 'f':
			a->foreground = true;
			break;
		case 'd':
			a->debug = a->foreground = true;
			break;
		case 'o':
			if (_add_opt(&a->fuse_opts, optarg) != 0)
				return -1;
			break;
		case 'i':
			a->instance = optarg;
			break;
		case 'm':
			a->members = optarg;
			break;
		case 'v':
			a->via = optarg;
			break;
		case 's':
			a->eopts.munge_socket = optarg;
			break;
		case 't':
			a->eopts.timeout_ms = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !*optarg) {
				fprintf(stderr, "ebb-fuse: bad --timeout\n");
				return -1;
			}
			break;
		case 'T':
			a->threads = (unsigned)strtoul(optarg, &end, 10);
			if (*end || a->threads == 0 || a->threads > 1024) {
				fprintf(stderr, "ebb-fuse: bad --threads "
					"(1..1024)\n");
				return -1;
			}
			break;
		case 'c':
			cache = optarg;
			break;
		case 'S':
			a->sync_writes = true;
			break;
		case 'W':
			a->sync_writes = false;
			break;
		case 'P':
			a->splice = true;
			break;
		case 'N':
			a->splice = false;
			break;
		case 'L':
			a->local_locks = true;
			break;
		case 'h':
			_usage(stdout);
			exit(0);
		case 'V':
			printf("ebb-fuse %s (libfuse %s)\n", ebb_version(),
			       fuse_pkgversion());
			exit(0);
		default:
			_usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1 || !a->instance ||
	    (!a->members == !a->via)) {
		_usage(stderr);
		return -1;
	}
	a->mountpoint = argv[optind];
	if (cache && strcmp(cache, "writeback") == 0) {
		a->writeback = true;
	} else if (cache && strcmp(cache, "none") != 0) {
		fprintf(stderr, "ebb-fuse: --cache %s: give none or writeback\n",
			cache);
		return -1;
	}
	return 0;
}

/* Attach with the member list or through one member. */
static ebb_t *_attach(struct fz_args *a)
{
	const char **mem = NULL;
	unsigned n = 1;
	char *copy, *p, *save = NULL;
	ebb_t *h;

	if (a->via)
		return ebb_attach_via(a->via, a->instance, &a->eopts);
	for (p = a->members; *p; p++)
		n += *p == ',';
	if (!(copy = strdup(a->members)) || !(mem = calloc(n, sizeof(*mem)))) {
		free(copy);
		errno = ENOMEM;
		return NULL;
	}
	n = 0;
	for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
		mem[n++] = p;
	h = ebb_attach(a->instance, mem, n, &a->eopts);
	free(mem);
	free(copy);
	return h;
}

/* The first member's address (for INST_GET). */
static char *_first(const struct fz_args *a)
{
	const char *s = a->via ? a->via : a->members;
	size_t n = strcspn(s, ",");
	char *r = malloc(n + 1);

	if (r) {
		memcpy(r, s, n);
		r[n] = '\0';
	}
	return r;
}

/* Attach and check that the instance answers; learn its owner.
 *
 * The members of an instance are created in parallel (bbd mounts as soon
 * as its own member exists), so the member that holds the root, or the
 * first member, may not have it yet: ENOENT is retried for up to
 * START_WAIT_MS before it counts.  Other errors count at once. */
#define START_WAIT_MS 8000

static int _retry_enoent(struct timespec *t0, unsigned *delay_ms)
{
	struct timespec now;

	if (errno != ENOENT)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - t0->tv_sec) * 1000 +
	    (now.tv_nsec - t0->tv_nsec) / 1000000 >= START_WAIT_MS)
		return 0;
	usleep(*delay_ms * 1000);
	if (*delay_ms < 200)
		*delay_ms *= 2;
	return 1;
}

static int _connect(struct fz_args *a, struct fz *fz)
{
	struct ebb_instance_info info;
	struct ebb_stat st;
	struct timespec t0;
	unsigned delay_ms = 10;
	char *first = _first(a);
	int rc = -1;

	if (!first)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ebb_instance_get(first, a->instance, &a->eopts, &info) != 0) {
		if (_retry_enoent(&t0, &delay_ms))
			continue;
		fprintf(stderr, "ebb-fuse: instance %s on %s: %s\n",
			a->instance, first, strerror(errno));
		goto out;
	}
	fz->owner = info.uid;
	ebb_instance_info_free(&info);
	fz->self = getuid();
	if (!(fz->h = _attach(a))) {
		fprintf(stderr, "ebb-fuse: attach %s: %s\n", a->instance,
			strerror(errno));
		goto out;
	}
	while (ebb_lookupat(fz->h, 0, "", &st) != 0) {
		if (_retry_enoent(&t0, &delay_ms))
			continue;
		fprintf(stderr, "ebb-fuse: %s: root: %s\n", a->instance,
			strerror(errno));
		ebb_detach(fz->h);
		fz->h = NULL;
		goto out;
	}
	rc = 0;
out:
	free(first);
	return rc;
}

/* Raise the mount's read-ahead (the kernel's default, 128 KiB, caps a
 * sequential read at ~1/4 of what the nodes serve; FUSE's init reply can
 * only lower it).  Needs root: bbd does the same for the mounts it makes.
 * The bdi is found in mountinfo, not with stat(): a stat of the mount
 * point would wait for this very process to serve it. */
static void _set_readahead(const char *realmp)
{
	char line[4096], path[128];
	unsigned maj = 0, min = 0;
	bool found = false;
	FILE *f;

	if (getuid() != 0 || !(f = fopen("/proc/self/mountinfo", "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		char mp[PATH_MAX];
		unsigned a, b;

		/* id parent maj:min root mountpoint ...; the last one wins */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &a, &b, mp) == 3 &&
		    strcmp(mp, realmp) == 0) {
			maj = a;
			min = b;
			found = true;
		}
	}
	fclose(f);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj,
		 min);
	if ((f = fopen(path, "w"))) {
		fprintf(f, "%u\n", FZ_READAHEAD_KB);
		fclose(f);
	}
}

static bool _is_fd_mount(const char *mp)
{
	return strncmp(mp, "/dev/fd/", 8) == 0;
}

int main(int argc, char **argv)
{
	struct fz_args a;
	struct fz fz = {0};
	struct fuse_args fargs = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct fuse_loop_config *cfg = NULL;
	bool fdmount, mounted = false, have_realmp;
	char fsname[128], realmp[PATH_MAX];
	int rc = 1, ret;

	if (_parse(argc, argv, &a) != 0)
		return 2;
	fdmount = _is_fd_mount(a.mountpoint);
	fz.wb = a.writeback;
	fz.sync_writes = a.sync_writes;
	/* Off by default: measured 2-4x slower than the copy here
	 * (bench/RESULTS.md 2026-12-04 evening). */
	fz.splice = a.splice;
	fz.local_locks = a.local_locks;
	/* No read-ahead in libebb under the kernel's: the kernel already
	 * reads ahead (8 MiB) with many READs in flight on several FUSE
	 * threads, which libebb's per-handle stream then serialises
	 * (bench/RESULTS.md 2026-12-04: 1 MiB reads 256 MB/s with it, 1,040
	 * without).  $EBB_READ_AHEAD set by the caller still wins. */
	setenv("EBB_READ_AHEAD", "0", 0);
	fz_locks_init(&fz.locks);
	if (itab_init(&fz.itab) != 0) {
		fprintf(stderr, "ebb-fuse: out of memory\n");
		return 1;
	}
	/* Fail early, before mounting, if the instance cannot be reached.
	 * The connection threads would not survive the daemon's fork: with
	 * a fork ahead, detach and attach again in the child. */
	if (_connect(&a, &fz) != 0)
		goto out;
	snprintf(fsname, sizeof(fsname), "fsname=ebb:%s,subtype=ebb",
		 a.instance);
	if (fuse_opt_add_arg(&fargs, argv[0]) != 0 ||
	    (a.debug && fuse_opt_add_arg(&fargs, "-d") != 0) ||
	    (!fdmount &&
	     (_add_opt(&a.fuse_opts, "default_permissions") != 0 ||
	      _add_opt(&a.fuse_opts, fsname) != 0 ||
	      (getuid() == 0 && _add_opt(&a.fuse_opts, "allow_other") != 0))) ||
	    (a.fuse_opts && (fuse_opt_add_arg(&fargs, "-o") != 0 ||
			     fuse_opt_add_arg(&fargs, a.fuse_opts) != 0))) {
		fprintf(stderr, "ebb-fuse: out of memory\n");
		goto out;
	}
	if (!(se = fuse_session_new(&fargs, &fz_ops, sizeof(fz_ops), &fz))) {
		fprintf(stderr, "ebb-fuse: bad FUSE options\n");
		goto out;
	}
	fz.se = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	/* Before mounting: realpath() of a mount we serve would wait on us. */
	have_realmp = !fdmount && realpath(a.mountpoint, realmp);
	if (fuse_session_mount(se, a.mountpoint) != 0) {
		fprintf(stderr, "ebb-fuse: cannot mount %s\n", a.mountpoint);
		goto out;
	}
	mounted = true;
	/* One FUSE request less per write(2): killpriv.c */
	if ((rc = fz_killpriv_install(se)) != 0)
		fprintf(stderr, "ebb-fuse: cannot ask for FUSE_HANDLE_KILLPRIV_"
			"V2 (%s): a getxattr before every write\n",
			strerror(rc));
	rc = 1;
	if (have_realmp)
		_set_readahead(realmp);
	if (!fdmount && !a.foreground) {
		ebb_detach(fz.h);
		fz.h = NULL;
		if (fuse_daemonize(0) != 0)
			goto out;
		if (!(fz.h = _attach(&a)))
			goto out;
	}
	if (!(cfg = fuse_loop_cfg_create()))
		goto out;
	/* After the fork: the directory-times thread. */
	if (dt_start(&fz.dt, fz.h, &fz.itab) != 0) {
		fprintf(stderr, "ebb-fuse: cannot start a thread\n");
		goto out;
	}
	fuse_loop_cfg_set_max_threads(cfg, a.threads);
	/* Keep the workers: a thread per burst of requests is not free. */
	fuse_loop_cfg_set_idle_threads(cfg, a.threads);
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	ret = fuse_session_loop_mt(se, cfg);
	/* 0: unmounted; a signal number: SIGTERM & co asked us to stop. */
	rc = (ret == 0 || ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
		? 0 : 1;
	if (rc)
		fprintf(stderr, "ebb-fuse: session ended: %s\n",
			strerror(ret < 0 ? -ret : ret));
	fprintf(stderr, "ebb-fuse: %lu getxattr of security.* or system.* "
		"answered without an RPC (FUSE_HANDLE_KILLPRIV_V2 %s)\n",
		atomic_load(&fz_unstored_gets),
		fz_killpriv_granted() ? "granted" : "not granted");
out:
	/* Waiting lock requests end (EINTR) before the session goes. */
	fz_locks_stop(&fz);
	if (cfg)
		fuse_loop_cfg_destroy(cfg);
	if (se) {
		if (mounted)
			fuse_session_unmount(se); /* a no-op for /dev/fd/N */
		fuse_remove_signal_handlers(se);
		fuse_session_destroy(se);
	}
	fuse_opt_free_args(&fargs);
	free(a.fuse_opts);
	dt_stop(&fz.dt); /* sends the directory times still pending */
	if (fz.h)
		ebb_detach(fz.h);
	itab_fini(&fz.itab);
	fz_locks_fini(&fz.locks);
	return rc;
}
