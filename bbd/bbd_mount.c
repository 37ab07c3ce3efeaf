/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd mounts: one ebb-fuse per instance that asked for a mount, its
 * supervision, unmount at destroy, and cleaning up after a crash.
 *
 * DESIGN: bbd (root) makes <mount_root>/<id>, opens /dev/fuse and calls
 * mount(2) itself, then forks ebb-fuse with the /dev/fuse fd inherited
 * ("/dev/fd/N"), as the instance owner.  So ebb-fuse needs no privilege and
 * no fusermount, and bbd always knows the mount and the PID it owns.  A
 * mount is ready only when statfs() on it answers with FUSE's magic: that
 * goes through the kernel to ebb-fuse, to the members and back.  The
 * statfs runs on a small detached probe thread, because a FUSE request
 * blocks until the daemon answers; the caller waits for the probe, the
 * child's exit or the deadline, whichever comes first, and on failure
 * kills the child (which aborts the connection and frees the probe).
 *
 * Children are reaped by PID only (never waitpid(-1)): by whoever waits for
 * one, and by bbd_mount_reap() on SIGCHLD (main thread) and before every
 * status answer.  A child stays on bbd->children, holding a reference on its
 * instance, until it is reaped, so an unreaped PID can never be reused
 * under us and is the only thing we ever signal.
 *
 * A crash leaves mounts, mount point directories and ebb-fuse processes.
 * <root>/mounts/<id> records "pid starttime boot_id" of each ebb-fuse we
 * start; at start-up a process that still matches all three is ours from
 * before and gets SIGTERM, every fuse.ebb mount under mount_root is
 * detached, empty mount point directories are removed, and a thread mounts
 * again every instance that asked for a mount (once the listener is up:
 * ebb-fuse talks to this node too).  docs/internals/mounts.md has the rest.
 */
#include "config.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include "bbd_int.h"
#include "log.h"

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif
#define _FUSE_TYPE "fuse.ebb"
#define _POLL_MS 50
/* Read-ahead set on our mounts: 8 MiB, a few stripes per node in flight. */
#define BBD_FUSE_READ_AHEAD_KB 8192

static void _set_read_ahead(const char *mnt, unsigned kb);
static void _each_ebb_mount(bool (*fn)(void *ctx, char *mnt, const char *dev),
			    void *ctx);
#define _TERM_GRACE_MS 3000   /* SIGTERM to SIGKILL */
#define _KILL_GRACE_MS 2000   /* SIGKILL to giving up */

static const char *const _state_names[BBD_MOUNT_NSTATES] = {
	[BBD_MOUNT_NONE] = "none",
	[BBD_MOUNT_STARTING] = "starting",
	[BBD_MOUNT_MOUNTED] = "mounted",
	[BBD_MOUNT_FAILED] = "failed",
	[BBD_MOUNT_UNMOUNTING] = "unmounting",
};

const char *bbd_mount_state_name(enum bbd_mount_state s)
{
	return s < BBD_MOUNT_NSTATES ? _state_names[s] : "?";
}

/* The one place a mount changes state.  Caller holds mount_lock. */
static void _set_state_locked(struct bbd_mount *m, enum bbd_mount_state s)
{
	assert(s < BBD_MOUNT_NSTATES);
	if (m->state != s)
		log_debug("instance %s: mount %s -> %s", m->inst->id,
			  _state_names[m->state], _state_names[s]);
	m->state = s;
}

static int64_t _now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pthread_cond_timedwait on mount_cond (CLOCK_REALTIME) for up to ms. */
static void _wait_locked(struct bbd *b, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&b->mount_cond, &b->mount_lock, &ts);
}

static void _path(const struct bbd_inst *inst, char *buf, size_t len)
{
	const char *root = inst->bbd->mount_root;

	snprintf(buf, len, "%s/%s", root ? root : "/nonexistent", inst->id);
}

/* ---- children ------------------------------------------------------------ */

static void _describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "ended (wait status %#x)", (unsigned)st);
}

/* Reap what has exited; the reaped leave bbd->children and are chained on
 * *done (their instance reference is the caller's to drop, unlocked). */
static void _reap_locked(struct bbd *b, struct bbd_mount **done)
{
	struct bbd_mount **pp = &b->children, *m;
	bool any = false;

	while ((m = *pp)) {
		int st = 0;
		pid_t rc = waitpid(m->pid, &st, WNOHANG);

		if (rc == 0 || (rc < 0 && errno == EINTR)) {
			pp = &m->next;
			continue;
		}
		if (rc < 0) /* ECHILD: cannot happen, we reap by PID once */
			st = W_EXITCODE(255, 0);
		*pp = m->next;
		m->reaped = true;
		m->wstatus = st;
		any = true;
		if (m->state == BBD_MOUNT_MOUNTED) {
			char how[64];

			_describe_status(st, how, sizeof(how));
			snprintf(m->why, sizeof(m->why), "ebb-fuse (pid %d) %s",
				 (int)m->pid, how);
			log_error("instance %s: %s while mounted: the mount "
				  "point answers ENOTCONN until destroy",
				  m->inst->id, m->why);
			_set_state_locked(m, BBD_MOUNT_FAILED);
		}
		m->next = *done;
		*done = m;
	}
	if (any)
		pthread_cond_broadcast(&b->mount_cond);
}

static void _unref_done(struct bbd_mount *done)
{
	while (done) {
		struct bbd_mount *next = done->next;

		done->next = NULL;
		bbd_inst_unref(done->inst);
		done = next;
	}
}

void bbd_mount_reap(struct bbd *b)
{
	struct bbd_mount *done = NULL;

	pthread_mutex_lock(&b->mount_lock);
	_reap_locked(b, &done);
	pthread_mutex_unlock(&b->mount_lock);
	_unref_done(done);
}

/* Wait until m's child is reaped or ms pass.  Caller holds mount_lock;
 * reaped mounts go to *done.  Returns whether it was reaped. */
static bool _wait_child_locked(struct bbd *b, struct bbd_mount *m, int64_t ms,
			       struct bbd_mount **done)
{
	int64_t end = _now_ms() + ms;

	for (;;) {
		_reap_locked(b, done);
		if (m->reaped || !m->pid)
			return true;
		if (_now_ms() >= end)
			return false;
		_wait_locked(b, _POLL_MS);
	}
}

/* SIGTERM our child, SIGKILL it if it lingers, reap it.  The PID is ours
 * and unreaped, so it cannot name another process. */
static void _kill_child(struct bbd *b, struct bbd_mount *m)
{
	struct bbd_mount *done = NULL;

	pthread_mutex_lock(&b->mount_lock);
	if (m->pid && !m->reaped) {
		kill(m->pid, SIGTERM);
		if (!_wait_child_locked(b, m, _TERM_GRACE_MS, &done)) {
			log_warn("instance %s: ebb-fuse (pid %d) ignored "
				 "SIGTERM: SIGKILL", m->inst->id, (int)m->pid);
			kill(m->pid, SIGKILL);
			if (!_wait_child_locked(b, m, _KILL_GRACE_MS, &done))
				log_error("instance %s: ebb-fuse (pid %d) "
					  "survived SIGKILL", m->inst->id,
					  (int)m->pid);
		}
	}
	pthread_mutex_unlock(&b->mount_lock);
	_unref_done(done);
}

/* ---- run-state files: <root>/mounts/<id> ------------------------------------ */

static void _boot_id(char *buf, size_t len)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	buf[0] = '\0';
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
}

/* Start time (clock ticks after boot) and state letter of pid; 0 if gone. */
static unsigned long long _proc_start(pid_t pid, char *state)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	FILE *f;

	*state = '?';
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "re")))
		return 0;
	if (!fgets(buf, sizeof(buf), f) || !(p = strrchr(buf, ')'))) {
		fclose(f);
		return 0;
	}
	fclose(f);
	/* after "pid (comm)": state is field 3, starttime field 22 */
	if (sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u "
		   "%*u %*d %*d %*d %*d %*d %*d %llu", state, &start) != 2)
		return 0;
	return start;
}

static void _runstate_path(const struct bbd_inst *inst, char *buf, size_t len)
{
	snprintf(buf, len, "%s/mounts/%s", inst->bbd->conf.root, inst->id);
}

static void _runstate_write(struct bbd_inst *inst, pid_t pid)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16], boot[64], st;
	unsigned long long start = _proc_start(pid, &st);
	FILE *f;

	_boot_id(boot, sizeof(boot));
	_runstate_path(inst, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f || fprintf(f, "%d %llu %s\n", (int)pid, start, boot) < 0 ||
	    fclose(f) != 0 || rename(tmp, path) != 0) {
		log_warn("instance %s: cannot record ebb-fuse's pid in %s: %s",
			 inst->id, path, strerror(errno));
		unlink(tmp);
	}
}

static void _runstate_remove(struct bbd_inst *inst)
{
	char path[PATH_MAX];

	_runstate_path(inst, path, sizeof(path));
	unlink(path);
}

/* An ebb-fuse a previous bbd started, recorded in file: if that very
 * process (PID, start time and boot all match) still runs, stop it. */
static void _runstate_kill(const char *file, const char *name)
{
	char boot[64], fboot[64] = "", st;
	unsigned long long start, fstart = 0;
	int pid = 0;
	FILE *f = fopen(file, "re");

	if (!f)
		return;
	if (fscanf(f, "%d %llu %63s", &pid, &fstart, fboot) != 3)
		pid = 0;
	fclose(f);
	_boot_id(boot, sizeof(boot));
	if (pid <= 1 || strcmp(boot, fboot) != 0)
		return;
	start = _proc_start(pid, &st);
	if (start != fstart || st == 'Z')
		return;
	log_info("instance %s: stopping ebb-fuse pid %d left by a previous "
		 "bbd", name, pid);
	kill(pid, SIGTERM);
	for (int i = 0; i < (_TERM_GRACE_MS + _KILL_GRACE_MS) / _POLL_MS; i++) {
		if (_proc_start(pid, &st) != fstart || st == 'Z')
			return;
		if (i == _TERM_GRACE_MS / _POLL_MS) {
			log_warn("instance %s: ebb-fuse pid %d ignored SIGTERM: "
				 "SIGKILL", name, pid);
			kill(pid, SIGKILL);
		}
		usleep(_POLL_MS * 1000);
	}
}

/* ---- the mount root ------------------------------------------------------------ */

/* mkdir -p root (0755) and check that only root can change it: a mount
 * point under a directory others can write could be swapped for a
 * symlink between our mkdir and mount(2). */
static ebb_err _root_ready(struct bbd *b, char *why, size_t whylen)
{
	char tmp[PATH_MAX];
	struct stat st;

	snprintf(tmp, sizeof(tmp), "%s", b->mount_root);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
			snprintf(why, whylen, "mkdir %s: %s", tmp,
				 strerror(errno));
			return EBB_EIO;
		}
		*p = '/';
	}
	if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
		snprintf(why, whylen, "mkdir %s: %s", tmp, strerror(errno));
		return EBB_EIO;
	}
	if (lstat(b->mount_root, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "mount_root %s is not a directory",
			 b->mount_root);
		return EBB_EIO;
	}
	if (st.st_uid != 0 || (st.st_mode & 022)) {
		snprintf(why, whylen, "mount_root %s must be owned by root and "
			 "writable by nobody else", b->mount_root);
		return EBB_EPERM;
	}
	return EBB_OK;
}

/* ---- starting a mount ---------------------------------------------------------- */

/* What the child needs, all prepared before fork(): between fork and exec
 * a threaded process may only make async-signal-safe calls. */
struct _spawn {
	const char *helper;
	char *argv[16];
	char *envp[16];
	gid_t *groups;
	int ngroups;
	uid_t uid;
	gid_t gid;
	int fusefd, logfd, nullfd;
};

static void _child_fail(const char *what)
{
	static const char pre[] = "bbd: cannot start ebb-fuse: ";

	if (write(STDERR_FILENO, pre, sizeof(pre) - 1) < 0 ||
	    write(STDERR_FILENO, what, strlen(what)) < 0 ||
	    write(STDERR_FILENO, "\n", 1) < 0) {
		/* nothing left to tell */
	}
}

static void _child(const struct _spawn *s) __attribute__((noreturn));
static void _child(const struct _spawn *s)
{
	struct sigaction sa;
	sigset_t none;

	/* bbd's signal mask and ignored signals (SIGPIPE) are not ebb-fuse's. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid(); /* not in bbd's session: a ^C to bbd is bbd's to handle */
	if (dup2(s->nullfd, STDIN_FILENO) < 0 ||
	    dup2(s->logfd, STDOUT_FILENO) < 0 ||
	    dup2(s->logfd, STDERR_FILENO) < 0)
		_exit(126);
	/* The one fd we hand over; every other one is O_CLOEXEC. */
	if (fcntl(s->fusefd, F_SETFD, 0) != 0) {
		_child_fail("fcntl on the /dev/fuse fd");
		_exit(126);
	}
	if (setgroups((size_t)s->ngroups, s->groups) != 0 ||
	    setgid(s->gid) != 0 || setuid(s->uid) != 0) {
		_child_fail("cannot become the instance owner");
		_exit(126);
	}
	if (chdir("/") != 0) {
		/* "/" is there */
	}
	execve(s->helper, s->argv, s->envp);
	_child_fail(s->helper);
	_child_fail(strerror(errno));
	_exit(127);
}

/* Supplementary groups of uid (as initgroups would set them), or none if
 * uid has no passwd entry.  Caller frees *groups. */
static void _groups(uid_t uid, gid_t gid, gid_t **groups, int *n)
{
	struct passwd pw, *pwr = NULL;
	char buf[4096];
	int ng = 64;

	*groups = NULL;
	*n = 0;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwr) != 0 || !pwr)
		return;
	for (int tries = 0; tries < 4; tries++) {
		gid_t *g = realloc(*groups, (size_t)ng * sizeof(gid_t));
		int want = ng;

		if (!g)
			break;
		*groups = g;
		if (getgrouplist(pwr->pw_name, gid, g, &want) >= 0) {
			*n = want;
			return;
		}
		ng = want > ng ? want : ng * 2;
	}
	*n = 0;
}

/* "a,b,c" of the members.  Caller frees. */
static char *_members_list(const struct bbd_inst *inst)
{
	size_t len = 1;
	char *s, *p;

	for (uint32_t i = 0; i < inst->nmembers; i++)
		len += strlen(inst->members[i]) + 1;
	if (!(s = malloc(len)))
		return NULL;
	p = s;
	*p = '\0';
	for (uint32_t i = 0; i < inst->nmembers; i++)
		p += sprintf(p, "%s%s", i ? "," : "", inst->members[i]);
	return s;
}

/* The environment of ebb-fuse: a clean one, plus the variables that tune
 * sanitizers and libebb when someone debugs. */
static void _env(struct _spawn *s, char store[][256], unsigned max)
{
	static const char *const keep[] = {"EBB_TIMEOUT_MS", "ASAN_OPTIONS",
		"LSAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", NULL};
	unsigned n = 0;

	snprintf(store[n], 256, "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	s->envp[n] = store[n];
	n++;
	for (unsigned i = 0; keep[i] && n + 1 < max; i++) {
		const char *v = getenv(keep[i]);

		if (!v || snprintf(store[n], 256, "%s=%s", keep[i], v) >= 256)
			continue;
		s->envp[n] = store[n];
		n++;
	}
	s->envp[n] = NULL;
}

/* The last non-empty line of the instance's ebb-fuse.log, for a failure
 * detail. */
static void _log_tail(struct bbd_inst *inst, char *buf, size_t len)
{
	char tail[256];
	ssize_t n = 0;
	off_t size;
	int fd = openat(inst->dirfd, "ebb-fuse.log", O_RDONLY | O_CLOEXEC);

	buf[0] = '\0';
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > 0) {
		off_t from = size > (off_t)sizeof(tail) - 1 ?
				     size - (off_t)sizeof(tail) + 1 : 0;
		n = pread(fd, tail, sizeof(tail) - 1, from);
	}
	close(fd);
	if (n <= 0)
		return;
	tail[n] = '\0';
	while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == ' '))
		tail[--n] = '\0';
	{
		char *nl = strrchr(tail, '\n');

		/* our own banner is no reason */
		if (!strncmp(nl ? nl + 1 : tail, "--- ", 4))
			return;
		if (snprintf(buf, len, "%s", nl ? nl + 1 : tail) >= (int)len)
			buf[len - 1] = '\0'; /* cut: a detail, not a record */
	}
}

/* The readiness probe: statfs until it answers with FUSE's magic, the
 * connection is gone (ENOTCONN: ebb-fuse died) or the waiter gives up.
 * Detached; the last of the probe and its waiter frees it. */
struct _probe {
	struct bbd *b;
	char path[PATH_MAX];
	unsigned refs;             /* mount_lock */
	bool done, ok, stop;       /* mount_lock */
	int err;                   /* mount_lock: last errno */
};

static void _probe_put_locked(struct _probe *p)
{
	if (--p->refs == 0)
		free(p);
}

static void *_probe_main(void *arg)
{
	struct _probe *p = arg;
	struct bbd *b = p->b;

	for (;;) {
		struct statfs sf;
		int rc = statfs(p->path, &sf), e = errno;
		bool fin;

		pthread_mutex_lock(&b->mount_lock);
		if (rc == 0 && (unsigned long)sf.f_type == FUSE_SUPER_MAGIC) {
			p->ok = true;
		} else {
			p->err = rc == 0 ? EXDEV : e;
		}
		fin = p->ok || p->stop || (rc != 0 && e == ENOTCONN);
		if (fin) {
			p->done = true;
			pthread_cond_broadcast(&b->mount_cond);
			_probe_put_locked(p);
			pthread_mutex_unlock(&b->mount_lock);
			return NULL;
		}
		pthread_mutex_unlock(&b->mount_lock);
		usleep(_POLL_MS * 1000);
	}
}

/* Detach whatever is mounted on path (ours), best effort. */
static void _detach(const char *path)
{
	if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) != 0 &&
	    errno != EINVAL && errno != ENOENT)
		log_warn("umount -l %s: %s", path, strerror(errno));
}

ebb_err bbd_mount_start(struct bbd_inst *inst, char *why, size_t whylen)
{
	struct bbd *b = inst->bbd;
	struct bbd_mount *m = &inst->mnt;
	struct _spawn s;
	struct _probe *probe = NULL;
	struct bbd_mount *done = NULL;
	char path[PATH_MAX], opts[256], fdarg[32], *members = NULL;
	char envstore[8][256], how[96], tail[160];
	const char *sock;
	pthread_t tid;
	pthread_attr_t attr;
	struct stat st;
	bool mounted = false, ok = false;
	int64_t deadline;
	unsigned a = 0;
	ebb_err e = EBB_EIO;
	pid_t pid;

	memset(&s, 0, sizeof(s));
	s.fusefd = s.logfd = s.nullfd = -1;
	why[0] = '\0';
	_path(inst, path, sizeof(path));
	pthread_mutex_lock(&b->mount_lock);
	if (m->pid && !m->reaped) {
		/* A child that survived SIGKILL is still on the children
		 * list: its struct cannot take another one. */
		snprintf(why, whylen, "ebb-fuse pid %d of an earlier mount "
			 "has not exited", (int)m->pid);
		pthread_mutex_unlock(&b->mount_lock);
		return EBB_EBUSY;
	}
	m->inst = inst;
	m->pid = 0;
	m->reaped = false;
	m->why[0] = '\0';
	_set_state_locked(m, BBD_MOUNT_STARTING);
	pthread_mutex_unlock(&b->mount_lock);

	if (b->mounts_closed || !b->mount_root) {
		snprintf(why, whylen, "%s", b->mounts_closed ?
			 "bbd is shutting down" : "no mount_root");
		goto out;
	}
	if ((e = _root_ready(b, why, whylen)) != EBB_OK)
		goto out;
	e = EBB_EIO;
	/* A leftover mount on the path (a crash we did not see, an admin's
	 * mount) goes first: we never stack on one. */
	_detach(path);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		snprintf(why, whylen, "mkdir %s: %s", path, strerror(errno));
		goto out;
	}
	if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0) {
		snprintf(why, whylen, "%s is not a directory owned by root",
			 path);
		goto out;
	}
	s.fusefd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (s.fusefd >= 0 && s.fusefd <= STDERR_FILENO) {
		int fd = fcntl(s.fusefd, F_DUPFD_CLOEXEC, 3);

		close(s.fusefd);
		s.fusefd = fd;
	}
	if (s.fusefd < 0) {
		snprintf(why, whylen, "open /dev/fuse: %s", strerror(errno));
		goto out;
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=%u,"
		 "group_id=%u,allow_other,default_permissions,"
		 "max_read=1048576", s.fusefd, (unsigned)inst->uid,
		 (unsigned)inst->gid);
	{
		char source[PROTO_MAX_INST_ID + 8];

		snprintf(source, sizeof(source), "ebb:%s", inst->id);
		if (mount(source, path, _FUSE_TYPE, MS_NOSUID | MS_NODEV,
			  opts) != 0) {
			snprintf(why, whylen, "mount %s: %s", path,
				 strerror(errno));
			goto out;
		}
	}
	mounted = true;

	/* Everything the child needs, before fork. */
	s.helper = b->conf.fuse_helper;
	s.uid = inst->uid;
	s.gid = inst->gid;
	_groups(inst->uid, inst->gid, &s.groups, &s.ngroups);
	s.logfd = openat(inst->dirfd, "ebb-fuse.log",
			 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	s.nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	members = _members_list(inst);
	if (s.logfd < 0 || s.nullfd < 0 || !members) {
		snprintf(why, whylen, "ebb-fuse.log or /dev/null: %s",
			 strerror(errno));
		goto out;
	}
	snprintf(fdarg, sizeof(fdarg), "/dev/fd/%d", s.fusefd);
	sock = b->conf.munge_socket ? b->conf.munge_socket :
				      getenv("EBB_MUNGE_SOCKET");
	s.argv[a++] = (char *)s.helper;
	s.argv[a++] = (char *)"-f";
	s.argv[a++] = (char *)"--instance";
	s.argv[a++] = inst->id;
	s.argv[a++] = (char *)"--members";
	s.argv[a++] = members;
	if (sock && *sock) {
		s.argv[a++] = (char *)"--munge-socket";
		s.argv[a++] = (char *)sock;
	}
	if (inst->writeback) {
		/* (none is ebb-fuse's default; its environment is ours,
		 * without EBB_FUSE_CACHE: see _env) */
		s.argv[a++] = (char *)"--cache";
		s.argv[a++] = (char *)"writeback";
	}
	s.argv[a++] = fdarg;
	s.argv[a] = NULL;
	_env(&s, envstore, 8);
	{
		char stamp[64];
		time_t now = time(NULL);
		struct tm tm;

		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S",
			 localtime_r(&now, &tm));
		dprintf(s.logfd, "--- %s bbd: starting %s for %s on %s as "
			"%u:%u%s\n", stamp, s.helper, inst->id, path,
			(unsigned)inst->uid, (unsigned)inst->gid,
			inst->writeback ? ", writeback cache" : "");
	}

	/* fork under mount_lock, so the reaper cannot see the PID before it
	 * is on the children list. */
	pthread_mutex_lock(&b->mount_lock);
	pid = fork();
	if (pid == 0)
		_child(&s);
	if (pid < 0) {
		pthread_mutex_unlock(&b->mount_lock);
		snprintf(why, whylen, "fork: %s", strerror(errno));
		goto out;
	}
	m->pid = pid;
	m->reaped = false;
	atomic_fetch_add(&inst->refs, 1); /* the children list's */
	m->next = b->children;
	b->children = m;
	pthread_mutex_unlock(&b->mount_lock);
	/* Only the child keeps /dev/fuse open: when it dies, the kernel
	 * aborts the connection and every waiter on the mount wakes. */
	close(s.fusefd);
	s.fusefd = -1;
	_runstate_write(inst, pid);
	log_info("instance %s: mounting on %s, ebb-fuse pid %d", inst->id,
		 path, (int)pid);

	/* Wait for the mount to answer. */
	probe = calloc(1, sizeof(*probe));
	if (!probe) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	probe->b = b;
	probe->refs = 2;
	snprintf(probe->path, sizeof(probe->path), "%s", path);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&tid, &attr, _probe_main, probe) != 0) {
		pthread_attr_destroy(&attr);
		free(probe);
		probe = NULL;
		snprintf(why, whylen, "cannot start the probe thread");
		goto out;
	}
	pthread_attr_destroy(&attr);
	deadline = _now_ms() + b->conf.mount_timeout_ms;
	pthread_mutex_lock(&b->mount_lock);
	for (;;) {
		_reap_locked(b, &done);
		if (probe->ok) {
			ok = true;
			break;
		}
		if (m->reaped || probe->done) {
			if (m->reaped)
				_describe_status(m->wstatus, how, sizeof(how));
			else
				snprintf(how, sizeof(how), "mount lost: %s",
					 strerror(probe->err));
			break;
		}
		if (_now_ms() >= deadline) {
			snprintf(how, sizeof(how), "did not answer in %u ms%s%s",
				 b->conf.mount_timeout_ms,
				 probe->err ? ": statfs " : "",
				 probe->err ? strerror(probe->err) : "");
			break;
		}
		_wait_locked(b, _POLL_MS);
	}
	probe->stop = true;
	_probe_put_locked(probe);
	if (ok) {
		_set_state_locked(m, BBD_MOUNT_MOUNTED);
		pthread_mutex_unlock(&b->mount_lock);
		_unref_done(done);
		_set_read_ahead(path, BBD_FUSE_READ_AHEAD_KB);
		log_info("instance %s: mounted on %s (ebb-fuse pid %d)",
			 inst->id, path, (int)pid);
		e = EBB_OK;
		goto out;
	}
	pthread_mutex_unlock(&b->mount_lock);
	_unref_done(done);
	e = strstr(how, "did not answer") ? EBB_ETIMEDOUT : EBB_EIO;
	_kill_child(b, m);
	_log_tail(inst, tail, sizeof(tail));
	snprintf(why, whylen, "mount on %s: ebb-fuse %s%s%s", path, how,
		 tail[0] ? ": " : "", tail);
out:
	if (e != EBB_OK) {
		/* Take down what we built: child (only ours), mount, dir. */
		_kill_child(b, m);
		if (mounted)
			_detach(path);
		rmdir(path); /* ours, or not empty and kept */
		_runstate_remove(inst);
		pthread_mutex_lock(&b->mount_lock);
		snprintf(m->why, sizeof(m->why), "%s", why);
		_set_state_locked(m, BBD_MOUNT_FAILED);
		pthread_mutex_unlock(&b->mount_lock);
		log_error("instance %s: %s", inst->id, why);
	}
	if (s.fusefd >= 0)
		close(s.fusefd);
	if (s.logfd >= 0)
		close(s.logfd);
	if (s.nullfd >= 0)
		close(s.nullfd);
	free(s.groups);
	free(members);
	return e;
}

/* ---- stopping a mount -------------------------------------------------------------- */

void bbd_mount_stop(struct bbd_inst *inst)
{
	struct bbd *b = inst->bbd;
	struct bbd_mount *m = &inst->mnt;
	char path[PATH_MAX];
	bool lazy = false;

	pthread_mutex_lock(&b->mount_lock);
	if (!inst->mount && m->state == BBD_MOUNT_NONE) {
		pthread_mutex_unlock(&b->mount_lock);
		return;
	}
	m->inst = inst;
	_set_state_locked(m, BBD_MOUNT_UNMOUNTING);
	if (m->pid && !m->reaped)
		kill(m->pid, SIGTERM);
	pthread_mutex_unlock(&b->mount_lock);

	_path(inst, path, sizeof(path));
	if (umount2(path, UMOUNT_NOFOLLOW) != 0) {
		if (errno == EBUSY) {
			lazy = true;
			_detach(path);
		} else if (errno != EINVAL && errno != ENOENT) {
			log_warn("umount %s: %s", path, strerror(errno));
			_detach(path);
		}
	}
	_kill_child(b, m);
	if (rmdir(path) != 0 && errno != ENOENT)
		log_warn("rmdir %s: %s", path, strerror(errno));
	_runstate_remove(inst);
	pthread_mutex_lock(&b->mount_lock);
	_set_state_locked(m, BBD_MOUNT_NONE);
	pthread_mutex_unlock(&b->mount_lock);
	log_info("instance %s: unmounted %s%s", inst->id, path,
		 lazy ? " (lazily: it was busy)" : "");
}

/* ---- status ------------------------------------------------------------------------- */

void bbd_mount_info(struct bbd_inst *inst, enum bbd_mount_state *state,
		    char *path, size_t pathlen, char *why, size_t whylen)
{
	struct bbd *b = inst->bbd;

	pthread_mutex_lock(&b->mount_lock);
	*state = inst->mnt.state;
	snprintf(why, whylen, "%s",
		 inst->mnt.state == BBD_MOUNT_FAILED ? inst->mnt.why : "");
	pthread_mutex_unlock(&b->mount_lock);
	path[0] = '\0';
	if (inst->mount && b->mount_root)
		_path(inst, path, pathlen);
}

void bbd_mount_counts(struct bbd *b, unsigned *mounted, unsigned *failed)
{
	struct bbd_inst *inst;

	*mounted = *failed = 0;
	pthread_rwlock_rdlock(&b->reg_lock);
	pthread_mutex_lock(&b->mount_lock);
	for (inst = b->insts; inst; inst = inst->next) {
		*mounted += inst->mnt.state == BBD_MOUNT_MOUNTED;
		*failed += inst->mnt.state == BBD_MOUNT_FAILED;
	}
	pthread_mutex_unlock(&b->mount_lock);
	pthread_rwlock_unlock(&b->reg_lock);
}

/* ---- start-up and shutdown ------------------------------------------------------------ */

/* conf.mount_root with %n (node name) and %% expanded, made absolute. */
static char *_expand_root(const struct bbd_conf *c)
{
	char out[PATH_MAX], cwd[PATH_MAX];
	size_t n = 0;

	if (c->mount_root[0] != '/' && getcwd(cwd, sizeof(cwd)))
		n = (size_t)snprintf(out, sizeof(out), "%s/", cwd);
	for (const char *p = c->mount_root; *p && n + 1 < sizeof(out); p++) {
		const char *add = NULL;
		char one[2] = {*p, '\0'};

		if (p[0] == '%' && p[1] == 'n') {
			add = c->node_name;
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			add = "%";
			p++;
		} else {
			add = one;
		}
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s", add);
		if (n >= sizeof(out))
			return NULL;
	}
	out[n] = '\0';
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return strdup(out);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void _unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] &&
		    s[3]) {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* Detach every fuse.ebb mount directly under the mount root, newest
 * first (so stacked mounts all go). */
/* FUSE cannot raise a mount's read-ahead itself, and the kernel's 128 KiB
 * default holds streaming reads to a fraction of what the nodes deliver
 * (179 MB/s against 450-700 MB/s with 4-16 MiB, measured).  bbd mounted
 * it, so bbd sets it: /sys/class/bdi/<major:minor>/read_ahead_kb.  The
 * device number comes from mountinfo, not stat(), which would wait on
 * ebb-fuse. */
struct _ra {
	const char *mnt;
	char dev[32];
};

static bool _ra_find(void *ctx, char *mnt, const char *dev)
{
	struct _ra *ra = ctx;

	if (strcmp(mnt, ra->mnt) != 0)
		return true;
	snprintf(ra->dev, sizeof(ra->dev), "%s", dev);
	return false;
}

static void _set_read_ahead(const char *mnt, unsigned kb)
{
	struct _ra ra = {mnt, ""};
	char file[96], val[16];
	int fd, n;

	_each_ebb_mount(_ra_find, &ra);
	if (!ra.dev[0] || strchr(ra.dev, '/'))
		return;
	snprintf(file, sizeof(file), "/sys/class/bdi/%s/read_ahead_kb", ra.dev);
	n = snprintf(val, sizeof(val), "%u\n", kb);
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, (size_t)n) != n)
		log_warn("%s: read-ahead not set (%s): %s", mnt, file,
			 strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Call fn for every fuse.ebb mount in /proc/self/mountinfo with its
 * (unescaped) mount point and its "major:minor"; stops early when fn
 * returns false. */
static void _each_ebb_mount(bool (*fn)(void *ctx, char *mnt, const char *dev),
			    void *ctx)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f) {
		log_warn("/proc/self/mountinfo: %s", strerror(errno));
		return;
	}
	while (getline(&line, &cap, f) > 0) {
		char *fld[6], *save = NULL, fstype[64] = "";
		char *tok = strtok_r(line, " ", &save);
		unsigned i = 0;

		for (; tok && i < 6; tok = strtok_r(NULL, " ", &save))
			fld[i++] = tok;
		/* optional fields up to "-", then fstype */
		while (tok && strcmp(tok, "-") != 0)
			tok = strtok_r(NULL, " ", &save);
		if (tok && (tok = strtok_r(NULL, " ", &save)))
			snprintf(fstype, sizeof(fstype), "%s", tok);
		if (i < 5 || strcmp(fstype, _FUSE_TYPE) != 0)
			continue;
		_unescape(fld[4]);
		if (!fn(ctx, fld[4], fld[2]))
			break;
	}
	free(line);
	fclose(f);
}

struct _stale {
	const char *root;
	size_t rootlen;
	char **paths;
	unsigned n;
};

static bool _stale_add(void *ctx, char *mnt, const char *dev)
{
	struct _stale *st = ctx;
	char **np;

	(void)dev;
	if (strncmp(mnt, st->root, st->rootlen) != 0 ||
	    mnt[st->rootlen] != '/' || strchr(mnt + st->rootlen + 1, '/'))
		return true;
	np = realloc(st->paths, (st->n + 1) * sizeof(*np));
	if (!np)
		return false;
	st->paths = np;
	if ((st->paths[st->n] = strdup(mnt)))
		st->n++;
	return true;
}

static void _detach_stale(struct bbd *b)
{
	struct _stale st = {b->mount_root, strlen(b->mount_root), NULL, 0};

	_each_ebb_mount(_stale_add, &st);
	while (st.n--) {
		log_info("detaching stale mount %s", st.paths[st.n]);
		_detach(st.paths[st.n]);
		free(st.paths[st.n]);
	}
	free(st.paths);
}

ebb_err bbd_mount_recover(struct bbd *b, char *err, size_t errlen)
{
	char path[PATH_MAX], real[PATH_MAX];
	struct dirent *de;
	DIR *d;

	b->mount_root = _expand_root(&b->conf);
	if (!b->mount_root) {
		snprintf(err, errlen, "mount_root: path too long");
		return EBB_E_CONFIG;
	}
	if (realpath(b->mount_root, real)) {
		free(b->mount_root);
		b->mount_root = strdup(real);
		if (!b->mount_root) {
			snprintf(err, errlen, "out of memory");
			return EBB_ENOMEM;
		}
	}
	/* ebb-fuse processes of a previous bbd (their records). */
	snprintf(path, sizeof(path), "%s/mounts", b->conf.root);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return EBB_E_CONFIG;
	}
	if ((d = opendir(path))) {
		while ((de = readdir(d))) {
			char file[PATH_MAX];

			if (de->d_name[0] == '.')
				continue;
			if (snprintf(file, sizeof(file), "%s/%s", path,
				     de->d_name) >= (int)sizeof(file))
				continue;
			_runstate_kill(file, de->d_name);
			unlink(file);
		}
		closedir(d);
	}
	/* Their mounts, and the empty mount points. */
	_detach_stale(b);
	if ((d = opendir(b->mount_root))) {
		while ((de = readdir(d))) {
			char mp[PATH_MAX];

			if (proto_check_inst_id(de->d_name,
						strlen(de->d_name)) != EBB_OK)
				continue;
			if (snprintf(mp, sizeof(mp), "%s/%s", b->mount_root,
				     de->d_name) >= (int)sizeof(mp))
				continue;
			if (rmdir(mp) == 0)
				log_info("removed stale mount point %s", mp);
			else if (errno != ENOTDIR)
				log_warn("stale mount point %s: %s", mp,
					 strerror(errno));
		}
		closedir(d);
	}
	return EBB_OK;
}

static void *_mount_thread_main(void *arg)
{
	struct bbd *b = arg;
	struct bbd_inst *inst, **list = NULL;
	unsigned n = 0, k = 0;

	pthread_rwlock_rdlock(&b->reg_lock);
	for (inst = b->insts; inst; inst = inst->next)
		n += inst->mount;
	if (n)
		list = calloc(n, sizeof(*list));
	for (inst = b->insts; list && inst; inst = inst->next) {
		if (inst->mount) {
			atomic_fetch_add(&inst->refs, 1);
			list[k++] = inst;
		}
	}
	pthread_rwlock_unlock(&b->reg_lock);
	for (unsigned i = 0; i < k; i++) {
		char why[256];
		enum bbd_mount_state st;

		inst = list[i];
		pthread_mutex_lock(&b->admin_lock);
		pthread_mutex_lock(&b->mount_lock);
		st = inst->mnt.state;
		pthread_mutex_unlock(&b->mount_lock);
		if (!atomic_load(&b->mount_thread_stop) && !inst->destroyed &&
		    !b->mounts_closed &&
		    (st == BBD_MOUNT_NONE || st == BBD_MOUNT_FAILED))
			(void)bbd_mount_start(inst, why, sizeof(why));
		pthread_mutex_unlock(&b->admin_lock);
		bbd_inst_unref(inst);
	}
	free(list);
	return NULL;
}

void bbd_mount_start_thread(struct bbd *b)
{
	if (pthread_create(&b->mount_thread, NULL, _mount_thread_main, b) ==
	    0)
		b->mount_thread_started = true;
	else
		log_error("cannot start the mount thread: instances stay "
			  "unmounted");
}

void bbd_mount_fini(struct bbd *b)
{
	struct bbd_inst *inst, **list = NULL;
	unsigned n = 0, k = 0;

	if (b->mount_thread_started) {
		atomic_store(&b->mount_thread_stop, true);
		pthread_join(b->mount_thread, NULL);
		b->mount_thread_started = false;
	}
	pthread_mutex_lock(&b->admin_lock);
	b->mounts_closed = true;
	pthread_rwlock_rdlock(&b->reg_lock);
	for (inst = b->insts; inst; inst = inst->next)
		n++;
	if (n)
		list = calloc(n, sizeof(*list));
	for (inst = b->insts; list && inst; inst = inst->next) {
		atomic_fetch_add(&inst->refs, 1);
		list[k++] = inst;
	}
	pthread_rwlock_unlock(&b->reg_lock);
	for (unsigned i = 0; i < k; i++) {
		bbd_mount_stop(list[i]);
		bbd_inst_unref(list[i]);
	}
	pthread_mutex_unlock(&b->admin_lock);
	free(list);
	bbd_mount_reap(b);
}
