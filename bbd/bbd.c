/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd: the per-node ebb daemon: configuration, start-up, shutdown.
 *
 * DESIGN: main() reads the configuration (file, then flags over it),
 * daemonizes unless --foreground (the parent waits on a pipe until the
 * child is serving, so its exit status tells an init script whether the
 * daemon came up), reopens every instance found under --root, starts the
 * I/O pool, the syncer and the workers, binds, and only then writes the
 * --port-file (tmp + rename), so that a test fixture or an init system
 * that sees the file can connect at once.  SIGTERM/SIGINT stop the
 * listener, let the workers finish what is in flight, sync every LMDB
 * environment and exit 0.  docs/internals/threads.md describes the threads.
 * Mounts (bbd_mount.c): stale ones are cleaned before serving, instances
 * that asked for one are mounted again by a thread once the listener is
 * up, SIGCHLD reaps their ebb-fuse, and shutdown unmounts them first.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <event2/thread.h>

#include "auth.h"
#include "bbd_int.h"
#include "conf.h"
#include "log.h"
#include "units.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef BBD_FUSE_HELPER
#define BBD_FUSE_HELPER "/usr/local/bin/ebb-fuse"
#endif
#define BBD_MOUNT_ROOT "/mnt/ebb"
#define BBD_MOUNT_TIMEOUT_MS 10000
/* Flood protection defaults (docs/security.md "Limits").  A HELLO is one
 * small frame sent right after connect: 5 s is ample even on a loaded
 * node.  The largest frame (16 MiB + 64 KiB) at 30 s still passes at
 * 560 KB/s; a Slowloris that trickles bytes cannot hold a frame longer.
 * 256 connections per uid is ebb-fuse and libebb's 2 per node and thread
 * slot many times over; 4096 requests in flight is 16 connections at
 * their own limit of 256. */
#define BBD_HELLO_TIMEOUT_MS 5000
#define BBD_FRAME_TIMEOUT_MS 30000
#define BBD_IDLE_TIMEOUT_MS 600000
#define BBD_MAX_CONNS_PER_UID 256
#define BBD_MAX_INFLIGHT_PER_UID 4096

#define EXIT_CONFIG 2

/* ---- configuration ----------------------------------------------------------- */

static void _set_str(char **dst, const char *value)
{
	free(*dst);
	*dst = strdup(value);
}

/* A duration in ms for key: "N" or "Nms" is milliseconds, "Ns" seconds
 * (as mount_timeout); 0 = none if zero_ok, else min..max ms. */
static ebb_err _parse_ms(const char *key, const char *value, unsigned min,
			 unsigned max, bool zero_ok, unsigned *out, char *err,
			 size_t errlen)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(value, &end, 10);
	if (!errno && end != value && !strcmp(end, "s") && v <= max / 1000)
		v *= 1000;
	else if (errno || end == value || (*end && strcmp(end, "ms")))
		v = ULLONG_MAX;
	if (!(zero_ok && v == 0) && (v < min || v > max)) {
		snprintf(err, errlen, "%s: '%s' is not %s%ums..%us (a number is "
			 "milliseconds)", key, value, zero_ok ? "0 or " : "",
			 min, max / 1000);
		return EBB_E_CONFIG;
	}
	*out = (unsigned)v;
	return EBB_OK;
}

/* One setting, from the file or a flag: the keys are the same. */
static ebb_err _conf_set(void *ctx, const char *key, const char *value,
			 char *err, size_t errlen)
{
	struct bbd_conf *c = ctx;
	ebb_err rc = EBB_OK;

	if (!strcmp(key, "listen")) {
		if (!strchr(value, ':')) {
			snprintf(err, errlen, "listen: '%s' is not HOST:PORT",
				 value);
			return EBB_E_CONFIG;
		}
		_set_str(&c->listen, value);
	} else if (!strcmp(key, "root")) {
		if (!*value) {
			snprintf(err, errlen, "root: empty path");
			return EBB_E_CONFIG;
		}
		_set_str(&c->root, value);
	} else if (!strcmp(key, "port_file")) {
		_set_str(&c->port_file, value);
	} else if (!strcmp(key, "capacity")) {
		char why[256];

		rc = units_parse_size(value, &c->capacity, why, sizeof(why));
		if (rc != EBB_OK)
			snprintf(err, errlen, "capacity: %s", why);
		else if (c->capacity == 0) {
			snprintf(err, errlen, "capacity: must be above 0");
			rc = EBB_EINVAL;
		}
	} else if (!strcmp(key, "slurm_user")) {
		struct passwd *pw = getpwnam(value);
		unsigned uid;

		if (pw) {
			c->slurm_uid = pw->pw_uid;
		} else if (conf_parse_uint(value, 0, UINT_MAX - 1, &uid, err,
				       errlen) == EBB_OK) {
			c->slurm_uid = (uid_t)uid;
		} else {
			snprintf(err, errlen, "slurm_user: no user '%s'",
				 value);
			return EBB_E_CONFIG;
		}
		c->have_slurm_user = true;
	} else if (!strcmp(key, "munge_socket")) {
		_set_str(&c->munge_socket, value);
	} else if (!strcmp(key, "node_name")) {
		_set_str(&c->node_name, value);
	} else if (!strcmp(key, "workers")) {
		rc = conf_parse_uint(value, 1, 256, &c->workers, err, errlen);
	} else if (!strcmp(key, "io_threads")) {
		rc = conf_parse_uint(value, 1, 1024, &c->io_threads, err, errlen);
	} else if (!strcmp(key, "mount_root")) {
		if (!*value || strlen(value) > 1024) {
			snprintf(err, errlen, "mount_root: empty or too long");
			return EBB_E_CONFIG;
		}
		_set_str(&c->mount_root, value);
	} else if (!strcmp(key, "local_socket")) {
		/* "" or "none": no local reads (bbd_local.c) */
		if (!strcmp(value, "none"))
			value = "";
		if (*value && value[0] != '/') {
			snprintf(err, errlen, "local_socket: '%s' is not an "
				 "absolute path", value);
			return EBB_E_CONFIG;
		}
		_set_str(&c->local_socket, value);
	} else if (!strcmp(key, "local_writes")) {
		int on = 1;

		if (conf_parse_bool(value, &on) != EBB_OK) {
			snprintf(err, errlen, "local_writes: '%s' is not yes "
				 "or no", value);
			return EBB_E_CONFIG;
		}
		c->no_local_writes = !on;
	} else if (!strcmp(key, "fuse_helper")) {
		if (value[0] != '/') {
			snprintf(err, errlen, "fuse_helper: '%s' is not an "
				 "absolute path", value);
			return EBB_E_CONFIG;
		}
		_set_str(&c->fuse_helper, value);
	} else if (!strcmp(key, "mount_timeout")) {
		/* milliseconds, or seconds with an "s" */
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(value, &end, 10);
		if (!errno && end != value && !strcmp(end, "s") && v <= 3600)
			v *= 1000;
		else if (errno || end == value || (*end && strcmp(end, "ms")))
			v = 0;
		if (v < 100 || v > 3600000) {
			snprintf(err, errlen, "mount_timeout: '%s' is not "
				 "100ms..3600s (a number is milliseconds)",
				 value);
			return EBB_E_CONFIG;
		}
		c->mount_timeout_ms = (unsigned)v;
	} else if (!strcmp(key, "hello_timeout")) {
		c->limits_set.hello = true;
		rc = _parse_ms(key, value, 100, 3600000, true,
			       &c->hello_timeout_ms, err, errlen);
	} else if (!strcmp(key, "frame_timeout")) {
		c->limits_set.frame = true;
		rc = _parse_ms(key, value, 100, 3600000, true,
			       &c->frame_timeout_ms, err, errlen);
	} else if (!strcmp(key, "idle_timeout")) {
		c->limits_set.idle = true;
		rc = _parse_ms(key, value, 100, 86400000, true,
			       &c->idle_timeout_ms, err, errlen);
	} else if (!strcmp(key, "lock_lease")) {
		/* bbd_lock.c: a dead client's locks go after this */
		rc = _parse_ms(key, value, 100, 3600000, false,
			       &c->lock_lease_ms, err, errlen);
	} else if (!strcmp(key, "max_conns_per_uid")) {
		/* 0 = no limit */
		c->limits_set.conns = true;
		rc = conf_parse_uint(value, 0, 1000000, &c->max_conns_per_uid,
				     err, errlen);
	} else if (!strcmp(key, "max_inflight_per_uid")) {
		c->limits_set.inflight = true;
		rc = conf_parse_uint(value, 0, 100000000,
				     &c->max_inflight_per_uid, err, errlen);
	} else if (!strcmp(key, "max_unauth_conns")) {
		/* 0 = half the open files limit */
		rc = conf_parse_uint(value, 0, 10000000, &c->max_unauth_conns,
				     err, errlen);
	} else if (!strcmp(key, "log_level")) {
		c->log_level = log_level_parse(value);
		if (c->log_level < 0) {
			snprintf(err, errlen, "log_level: '%s' is not one of "
				 "error, warn, info, debug", value);
			return EBB_E_CONFIG;
		}
	} else if (!strcmp(key, "s3_allow")) {
		/* before conf_cluster_key(): the plugin reads it too */
		rc = s3path_allow_add(&c->s3_allow, value, 0, err, errlen);
	} else if (!strncmp(key, "s3_", 3)) {
		rc = stg_conf_set(&c->s3, key, value, err, errlen);
		if (rc == EBB_ENOENT) {
			snprintf(err, errlen, "unknown setting '%s'", key);
			return EBB_E_CONFIG;
		}
	} else if (conf_cluster_key(key)) {
		/* the Slurm plugin's or the Epilog's: same file, not ours */
	} else {
		snprintf(err, errlen, "unknown setting '%s'", key);
		return EBB_E_CONFIG;
	}
	return rc == EBB_OK ? EBB_OK : EBB_E_CONFIG;
}

static void _usage(FILE *f)
{
	fprintf(f,
"Usage: bbd [OPTION]...\n"
"The per-node daemon of the ebb burst-buffer file system.\n"
"\n"
"  -c, --config FILE       configuration file (default %s/ebb/ebb.conf;\n"
"                          optional when it is the default)\n"
"  -l, --listen HOST:PORT  address to serve (default 0.0.0.0:%d; port 0 = any)\n"
"  -p, --port-file FILE    write the bound port here once serving\n"
"  -r, --root DIR          data directory (default %s/lib/ebb)\n"
"  -f, --foreground        do not daemonize\n"
"  -C, --capacity SIZE     bytes offered (default: free space of --root)\n"
"  -u, --slurm-user NAME   user (or uid) allowed to create/destroy instances\n"
"  -m, --munge-socket PATH munged socket\n"
"  -n, --node-name NAME    name reported to clients (default: hostname)\n"
"  -w, --workers N         network worker threads (default: CPUs, max 8)\n"
"  -i, --io-threads N      disk I/O threads (default 8)\n"
"  -L, --log-level LEVEL   error, warn, info (default) or debug\n"
"      --mount-root DIR    where instances are mounted, as DIR/ID (default\n"
"                          %s; %%n = the node name)\n"
"      --fuse-helper PATH  the ebb-fuse program (default %s)\n"
"      --mount-timeout MS  how long a new mount may take to answer\n"
"                          (default %d; \"10s\" works too)\n"
"      --local-socket PATH the Unix socket local clients get object fds\n"
"                          from (default ROOT/bbd.sock; \"none\": off)\n"
"      --local-writes yes|no  writable object fds for local clients too\n"
"                          (default yes; no: they write over TCP)\n"
"      --hello-timeout MS  close a connection not authenticated by then\n"
"                          (default %d; 0 = never)\n"
"      --frame-timeout MS  close a connection whose frame is not complete\n"
"                          this long after its first byte (default %d)\n"
"      --idle-timeout MS   close an ordinary user's connection idle this\n"
"                          long (default %d; 0 = never)\n"
"      --lock-lease MS     drop the locks of a client (a node) silent this\n"
"                          long (default %d; a number is ms, or Ns)\n"
"      --max-conns-per-uid N     authenticated connections per uid\n"
"                          (default %d; 0 = no limit; root and\n"
"                          slurm_user are exempt)\n"
"      --max-inflight-per-uid N  requests in flight per uid (default %d)\n"
"      --max-unauth-conns N      unauthenticated connections before the\n"
"                          oldest is shed (default: half the open files\n"
"                          limit)\n"
"  -V, --version           print the version and exit\n"
"  -h, --help              print this help and exit\n"
"Configuration keys mirror the long options (listen, root, capacity,\n"
"slurm_user, munge_socket, node_name, workers, io_threads, log_level,\n"
"port_file, mount_root, fuse_helper, mount_timeout, local_socket,\n"
"local_writes, hello_timeout, frame_timeout, idle_timeout, lock_lease,\n"
"max_conns_per_uid, max_inflight_per_uid, max_unauth_conns);\n"
"options override\n"
"the file.\n",
		SYSCONFDIR, BBD_DEFAULT_PORT, LOCALSTATEDIR, BBD_MOUNT_ROOT,
		BBD_FUSE_HELPER, BBD_MOUNT_TIMEOUT_MS, BBD_HELLO_TIMEOUT_MS,
		BBD_FRAME_TIMEOUT_MS, BBD_IDLE_TIMEOUT_MS, BBD_LOCK_LEASE_MS,
		BBD_MAX_CONNS_PER_UID, BBD_MAX_INFLIGHT_PER_UID);
}

static void _conf_free(struct bbd_conf *c)
{
	stg_conf_free(&c->s3);
	s3path_allow_free(&c->s3_allow);
	free(c->config_path);
	free(c->listen);
	free(c->port_file);
	free(c->root);
	free(c->munge_socket);
	free(c->node_name);
	free(c->mount_root);
	free(c->fuse_helper);
	free(c->local_socket);
	memset(c, 0, sizeof(*c));
}

static const struct option _options[] = {
	{"config", required_argument, NULL, 'c'},
	{"listen", required_argument, NULL, 'l'},
	{"port-file", required_argument, NULL, 'p'},
	{"root", required_argument, NULL, 'r'},
	{"foreground", no_argument, NULL, 'f'},
	{"capacity", required_argument, NULL, 'C'},
	{"slurm-user", required_argument, NULL, 'u'},
	{"munge-socket", required_argument, NULL, 'm'},
	{"node-name", required_argument, NULL, 'n'},
	{"workers", required_argument, NULL, 'w'},
	{"io-threads", required_argument, NULL, 'i'},
	{"log-level", required_argument, NULL, 'L'},
	{"mount-root", required_argument, NULL, 1001},
	{"fuse-helper", required_argument, NULL, 1002},
	{"mount-timeout", required_argument, NULL, 1003},
	{"local-socket", required_argument, NULL, 1004},
	{"local-writes", required_argument, NULL, 1020},
	{"hello-timeout", required_argument, NULL, 1005},
	{"frame-timeout", required_argument, NULL, 1006},
	{"idle-timeout", required_argument, NULL, 1007},
	{"max-conns-per-uid", required_argument, NULL, 1008},
	{"max-inflight-per-uid", required_argument, NULL, 1009},
	{"max-unauth-conns", required_argument, NULL, 1010},
	{"lock-lease", required_argument, NULL, 1030},
	{"version", no_argument, NULL, 'V'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};
static const char _optstring[] = "c:l:p:r:fC:u:m:n:w:i:L:Vh";

static const char *_opt_key(int ch)
{
	switch (ch) {
	case 'l': return "listen";
	case 'p': return "port_file";
	case 'r': return "root";
	case 'C': return "capacity";
	case 'u': return "slurm_user";
	case 'm': return "munge_socket";
	case 'n': return "node_name";
	case 'w': return "workers";
	case 'i': return "io_threads";
	case 'L': return "log_level";
	case 1001: return "mount_root";
	case 1002: return "fuse_helper";
	case 1003: return "mount_timeout";
	case 1004: return "local_socket";
	case 1020: return "local_writes";
	case 1005: return "hello_timeout";
	case 1006: return "frame_timeout";
	case 1007: return "idle_timeout";
	case 1008: return "max_conns_per_uid";
	case 1009: return "max_inflight_per_uid";
	case 1010: return "max_unauth_conns";
	case 1030: return "lock_lease";
	}
	return NULL;
}

/* Make path absolute (we chdir("/") when daemonizing). */
static void _absolute(char **path)
{
	char cwd[PATH_MAX], *abs;

	if (!*path || (*path)[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return;
	if (asprintf(&abs, "%s/%s", cwd, *path) < 0)
		return;
	free(*path);
	*path = abs;
}

/* Parse everything; exits 0 for --help/--version, 2 on a bad setting. */
static void _configure(struct bbd_conf *c, int argc, char **argv)
{
	char err[1024];
	int ch, explicit_config = 0;
	long ncpu;

	memset(c, 0, sizeof(*c));
	c->log_level = LOG_INFO;
	/* Pass 1: only --config, --help and --version. */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, _optstring, _options, NULL)) != -1) {
		if (ch == 'c') {
			_set_str(&c->config_path, optarg);
			explicit_config = 1;
		} else if (ch == 'h') {
			_usage(stdout);
			exit(0);
		} else if (ch == 'V') {
			printf("bbd (ebb) %s, protocol %d\n", PACKAGE_VERSION,
			       PROTO_VERSION);
			exit(0);
		}
	}
	if (!c->config_path)
		c->config_path = strdup(SYSCONFDIR "/ebb/ebb.conf");
	if (conf_load(c->config_path, !explicit_config, _conf_set, c, err,
		      sizeof(err)) != EBB_OK) {
		fprintf(stderr, "bbd: %s\n", err);
		exit(EXIT_CONFIG);
	}
	/* Pass 2: the flags, over the file. */
	optind = 1;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, _optstring, _options, NULL)) != -1) {
		const char *key = _opt_key(ch);

		if (key) {
			err[0] = '\0';
			if (_conf_set(c, key, optarg, err, sizeof(err))) {
				fprintf(stderr, "bbd: bad option: %s\n", err);
				exit(EXIT_CONFIG);
			}
		} else if (ch == 'f') {
			c->foreground = true;
		} else if (ch != 'c' && ch != 'h' && ch != 'V') {
			fprintf(stderr, "Try 'bbd --help'.\n");
			exit(EXIT_CONFIG);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bbd: unexpected argument '%s'\n", argv[optind]);
		exit(EXIT_CONFIG);
	}
	if (!c->listen && asprintf(&c->listen, "0.0.0.0:%d",
				   BBD_DEFAULT_PORT) < 0)
		exit(1);
	if (!c->root)
		c->root = strdup(LOCALSTATEDIR "/lib/ebb");
	if (!c->node_name) {
		char host[256] = "localhost";

		gethostname(host, sizeof(host) - 1);
		c->node_name = strdup(host);
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (!c->workers)
		c->workers = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned)ncpu;
	if (!c->io_threads)
		c->io_threads = 8;
	if (!c->mount_root)
		c->mount_root = strdup(BBD_MOUNT_ROOT);
	if (!c->fuse_helper)
		c->fuse_helper = strdup(BBD_FUSE_HELPER);
	if (!c->mount_timeout_ms)
		c->mount_timeout_ms = BBD_MOUNT_TIMEOUT_MS;
	/* Limits left out of the file and the flags: the defaults (0 set
	 * explicitly means none, hence the separate "set" pass). */
	if (!c->limits_set.hello)
		c->hello_timeout_ms = BBD_HELLO_TIMEOUT_MS;
	if (!c->limits_set.frame)
		c->frame_timeout_ms = BBD_FRAME_TIMEOUT_MS;
	if (!c->limits_set.idle)
		c->idle_timeout_ms = BBD_IDLE_TIMEOUT_MS;
	if (!c->limits_set.conns)
		c->max_conns_per_uid = BBD_MAX_CONNS_PER_UID;
	if (!c->limits_set.inflight)
		c->max_inflight_per_uid = BBD_MAX_INFLIGHT_PER_UID;
	_absolute(&c->root);
	_absolute(&c->port_file);
}

/* ---- small jobs ---------------------------------------------------------------- */

int64_t bbd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

ebb_err bbd_op_ping(struct bbd_req *r)
{
	r->status = bbd_req_args(r);
	return r->status;
}

/* HELLO [version, cred, client]: runs on an I/O thread (munged blocks). */
ebb_err bbd_op_hello(struct bbd_req *r)
{
	struct bbd *b = r->bbd;
	const char *cred = NULL, *client = NULL;
	uint32_t version = 0, clen = 0, nlen = 0;
	char *copy = NULL, why[256] = "";
	uid_t uid;
	gid_t gid;
	ebb_err e;

	proto_get_u32(&r->dec, &version);
	proto_get_str(&r->dec, &cred, &clen, PROTO_MAX_CRED);
	proto_get_str(&r->dec, &client, &nlen, 255);
	if (bbd_req_args(r))
		goto out;
	if (version != PROTO_VERSION) {
		bbd_req_fail(r, EBB_E_VERSION, "protocol %u asked, %d spoken",
			     version, PROTO_VERSION);
		goto out;
	}
	if (clen == 0) {
		bbd_req_fail(r, EBB_E_AUTH, "no credential");
		goto out;
	}
	copy = strndup(cred, clen);
	if (!copy) {
		bbd_req_fail(r, EBB_ENOMEM, "out of memory");
		goto out;
	}
	e = auth_cred_decode(b->conf.munge_socket, copy, &uid, &gid, why,
			     sizeof(why));
	if (e == EBB_EIO)
		log_error("cannot reach munged: %s", why);
	if (e != EBB_OK) {
		bbd_req_fail(r, EBB_E_AUTH, "credential refused: %s", why);
		goto out;
	}
	r->auth_uid = uid;
	r->auth_gid = gid;
	log_debug("HELLO from client '%.*s' uid %u gid %u", (int)nlen, client,
		  (unsigned)uid, (unsigned)gid);
	proto_put_u64(&r->res, PROTO_VERSION);
	proto_put_cstr(&r->res, b->conf.node_name);
	r->nres = 2;
	{
		/* Optional third result (docs/protocol.md "Local reads"):
		 * older clients read two and ignore the rest. */
		const char *path, *token;

		if (bbd_local_info(b, &path, &token)) {
			proto_put_map(&r->res, 3);
			proto_put_cstr(&r->res, "sock");
			proto_put_cstr(&r->res, path);
			proto_put_cstr(&r->res, "token");
			proto_put_cstr(&r->res, token);
			proto_put_cstr(&r->res, "uid");
			proto_put_u64(&r->res, (uint64_t)geteuid());
		} else {
			proto_put_nil(&r->res);
		}
		r->nres = 3;
	}
	/* Optional fourth result: the connection's limits.  idle_timeout_ms
	 * lets libebb retire a connection it has left idle before bbd closes
	 * it, so that it never sends a request on a connection being closed
	 * (0: this connection is never closed as idle). */
	proto_put_map(&r->res, 1);
	proto_put_cstr(&r->res, "idle_timeout_ms");
	proto_put_u64(&r->res, bbd_limit_exempt(b, uid) ? 0 :
			       b->conf.idle_timeout_ms);
	r->nres = 4;
	r->status = EBB_OK;
out:
	free(copy);
	return r->status;
}

/* The syncer: LMDB commits are MDB_NOSYNC, so flush every second. */
static void *_syncer_main(void *arg)
{
	struct bbd *b = arg;
	struct timespec ts;
	bool stop = false;

	while (!stop) {
		pthread_mutex_lock(&b->sync_lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		while (!b->sync_stop &&
		       pthread_cond_timedwait(&b->sync_cond, &b->sync_lock,
					      &ts) == 0)
			;
		stop = b->sync_stop;
		pthread_mutex_unlock(&b->sync_lock);
		bbd_inst_sync_all(b);
	}
	return NULL;
}

static ebb_err _write_port_file(struct bbd *b)
{
	char tmp[PATH_MAX], line[16];
	int fd, n;

	if (!b->conf.port_file)
		return EBB_OK;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", b->conf.port_file,
		 (int)getpid());
	n = snprintf(line, sizeof(line), "%u\n", (unsigned)b->port);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n || fsync(fd) != 0 ||
	    close(fd) != 0 || rename(tmp, b->conf.port_file) != 0) {
		log_error("port file %s: %s", b->conf.port_file,
			  strerror(errno));
		if (fd >= 0)
			unlink(tmp);
		return EBB_EIO;
	}
	return EBB_OK;
}

/* Fork; the parent waits for the child's "ready" byte and exits with 0
 * if it came, 1 if the child died first.  Returns the write end in the
 * child. */
static int _daemonize(void)
{
	int pfd[2], fd;
	pid_t pid;
	char c;

	if (pipe(pfd) != 0) {
		perror("bbd: pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		perror("bbd: fork");
		exit(1);
	}
	if (pid > 0) {
		close(pfd[1]);
		exit(read(pfd[0], &c, 1) == 1 ? 0 : 1);
	}
	close(pfd[0]);
	setsid();
	if (chdir("/") != 0) {
		/* "/" always exists */
	}
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return pfd[1];
}

static void _signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct bbd *b = arg;

	(void)what;
	if (sig == SIGCHLD) {
		bbd_mount_reap(b); /* our ebb-fuse children, by PID */
		return;
	}
	if (sig == SIGHUP) {
		log_info("SIGHUP ignored (logs go to stderr; nothing to reopen)");
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopbreak(b->base);
}

int main(int argc, char **argv)
{
	struct bbd b;
	struct event *sigs[4] = {NULL, NULL, NULL, NULL};
	static const int signums[4] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};
	struct statvfs vfs;
	char err[512], cap[32];
	int ready_fd = -1, status = 1;

	memset(&b, 0, sizeof(b));
	b.instdirfd = -1;
	b.lockfd = -1;
	_configure(&b.conf, argc, argv);
	log_setup("bbd", (enum log_level)b.conf.log_level);
	signal(SIGPIPE, SIG_IGN);
	if (!b.conf.foreground)
		ready_fd = _daemonize();

	b.start_time = time(NULL);
	pthread_rwlock_init(&b.reg_lock, NULL);
	pthread_mutex_init(&b.admin_lock, NULL);
	pthread_mutex_init(&b.sync_lock, NULL);
	pthread_cond_init(&b.sync_cond, NULL);
	pthread_mutex_init(&b.mount_lock, NULL);
	pthread_cond_init(&b.mount_cond, NULL);
	evthread_use_pthreads();
	/* Before anything opens files: the descriptor limit and the reserve. */
	bbd_limit_init(&b);

	if (bbd_inst_init(&b, err, sizeof(err)) != EBB_OK) {
		log_error("%s", err);
		goto out;
	}
	if (!b.conf.capacity) {
		if (statvfs(b.conf.root, &vfs) != 0) {
			log_error("statvfs %s: %s", b.conf.root,
				  strerror(errno));
			goto out;
		}
		b.conf.capacity = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	}
	b.base = event_base_new();
	if (!b.base || bbd_io_start(&b, b.conf.io_threads) != EBB_OK) {
		log_error("cannot start the event loop or I/O threads");
		goto out;
	}
	if (pthread_create(&b.syncer, NULL, _syncer_main, &b) != 0) {
		log_error("cannot start the syncer thread");
		goto out;
	}
	if (bbd_stage_init(&b, err, sizeof(err)) != EBB_OK) {
		log_error("%s", err);
		goto stop;
	}
	bbd_local_start(&b);
	if (bbd_lock_init(&b) != EBB_OK) {
		log_error("cannot start the lock service");
		goto stop;
	}
	if (bbd_net_start(&b, err, sizeof(err)) != EBB_OK) {
		log_error("%s", err);
		goto stop;
	}
	for (int i = 0; i < 4; i++) {
		sigs[i] = evsignal_new(b.base, signums[i], _signal_cb, &b);
		if (sigs[i])
			evsignal_add(sigs[i], NULL);
	}
	/* Instances that asked for a mount get it again (after a restart),
	 * now that this node answers. */
	bbd_mount_start_thread(&b);
	/* Stages that did not finish go on, now that this node answers. */
	bbd_stage_resume(&b);
	if (_write_port_file(&b) != EBB_OK)
		goto stop;
	log_info("bbd %s serving on %s (port %u) as node '%s': root %s, "
		 "capacity %s, %u workers, %u I/O threads", PACKAGE_VERSION,
		 b.conf.listen, (unsigned)b.port, b.conf.node_name,
		 b.conf.root, units_format_size(b.conf.capacity, cap,
						sizeof(cap)),
		 b.conf.workers, b.conf.io_threads);
	if (ready_fd >= 0) {
		if (write(ready_fd, "1", 1) != 1)
			log_warn("cannot tell the parent we are ready");
		close(ready_fd);
		ready_fd = -1;
	}

	event_base_dispatch(b.base);
	status = 0;
stop:
	/* Mounts go while the nodes still answer; they come back at start. */
	bbd_mount_fini(&b);
	/* Stage threads talk to the nodes, this one included. */
	bbd_stage_fini(&b);
	/* Parked lock requests are answered "try again" first. */
	bbd_lock_stop(&b);
	bbd_net_stop(&b);
	bbd_io_stop(&b);
	bbd_net_free(&b);
	bbd_buf_fini(); /* every request is freed by now */
	/* After the I/O threads: no HELLO can still read b.local. */
	bbd_local_stop(&b);
	pthread_mutex_lock(&b.sync_lock);
	b.sync_stop = true;
	pthread_cond_signal(&b.sync_cond);
	pthread_mutex_unlock(&b.sync_lock);
	pthread_join(b.syncer, NULL);
	bbd_inst_sync_all(&b);
	if (status == 0 && b.conf.port_file)
		unlink(b.conf.port_file);
out:
	bbd_inst_fini(&b);
	bbd_lock_fini(&b);
	bbd_limit_fini(&b);
	for (int i = 0; i < 4; i++)
		if (sigs[i])
			event_free(sigs[i]);
	if (b.base)
		event_base_free(b.base);
	log_info("bbd stopped%s", status == 0 ? "" : " (error)");
	_conf_free(&b.conf);
	pthread_rwlock_destroy(&b.reg_lock);
	pthread_mutex_destroy(&b.admin_lock);
	free(b.mount_root);
	libevent_global_shutdown();
	return status;
}
