/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb_smoke: exercise every libebb call against running bbds (TAP output).
 *
 * Usage: EBB_NODES=host:port,... [EBB_MUNGE_SOCKET=...] ebb_smoke
 * Creates a private instance on the nodes (needs root or the SlurmUser),
 * runs the POSIX-like calls on it, and destroys it.  Without EBB_NODES it
 * prints "1..0 # SKIP".  Run as root it also checks permissions as uid
 * 65534 in a child; with EBB_SMOKE_STOP_PID=<pid of one of the bbds> it
 * stops that daemon (SIGSTOP, then SIGCONT) to check that calls time out
 * and recover.  The integration tests proper live in tests/client/; this is
 * the library author's quick end-to-end check.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ebb/ebb.h"

static int _n, _fails;

static void _ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!cond) {
		printf(" (errno %d %s)", errno, strerror(errno));
		_fails++;
	}
	printf("\n");
	fflush(stdout);
}

/* The condition is evaluated before the message's arguments. */
#define OK(expr, ...) \
	do { int c_ = (expr); _ok(c_, __VA_ARGS__); } while (0)
#define FAILS(expr, e, ...) \
	do { errno = 0; int r_ = (int)(expr); \
	     _ok(r_ == -1 && errno == (e), __VA_ARGS__); } while (0)

static void _fill(uint8_t *b, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (uint8_t)(x >> 16);
	}
}

struct thr {
	ebb_t *h;
	int id;
	int ok;
};

static void *_thread(void *arg)
{
	struct thr *t = arg;
	size_t len = 3 * 1024 * 1024 + 777;
	uint8_t *w = malloc(len), *r = malloc(len);
	char path[64];

	t->ok = 0;
	snprintf(path, sizeof(path), "/thr/f%d", t->id);
	_fill(w, len, 100 + t->id);
	for (int round = 0; round < 5 && w && r; round++) {
		ebb_file_t *f = ebb_open(t->h, path, O_CREAT | O_RDWR | O_TRUNC,
					 0644);
		if (!f || ebb_pwrite(f, w, len, 0) != (ssize_t)len ||
		    ebb_pread(f, r, len, 0) != (ssize_t)len ||
		    memcmp(w, r, len) != 0 || ebb_close(f) != 0)
			goto out;
	}
	t->ok = 1;
out:
	free(w);
	free(r);
	return NULL;
}

int main(void)
{
	const char *nodes = getenv("EBB_NODES");
	char *list, *save = NULL, errmsg[256];
	const char *members[64];
	unsigned n = 0;
	char id[32];
	struct ebb_instance_spec spec = {0};
	struct ebb_options opts = {.timeout_ms = 5000};
	ebb_t *h;
	ebb_file_t *f;
	struct ebb_stat st;
	struct ebb_statfs sfs;
	size_t big = 5 * 1024 * 1024 + 4321;
	uint8_t *wb, *rb;
	char buf[256];

	if (!nodes || !*nodes) {
		printf("1..0 # SKIP EBB_NODES not set\n");
		return 0;
	}
	list = strdup(nodes);
	for (char *t = strtok_r(list, ",", &save); t && n < 64;
	     t = strtok_r(NULL, ",", &save))
		members[n++] = t;
	snprintf(id, sizeof(id), "smoke%ld", (long)getpid());

	/* ---- admin ---- */
	for (unsigned i = 0; i < n; i++) {
		struct ebb_node_status ns;
		OK(ebb_node_status(members[i], &opts, &ns) == 0,
		   "node_status %s: node=%s version=%s cap=%llu", members[i],
		   ns.node, ns.version, (unsigned long long)ns.capacity);
	}
	spec.id = id;
	spec.members = members;
	spec.nmembers = n;
	spec.stripe_size = 64 * 1024;
	spec.capacity = 1ull << 30;
	spec.uid = geteuid();
	spec.gid = getegid();
	OK(ebb_instance_create(&spec, &opts, errmsg, sizeof(errmsg)) == 0,
	   "instance_create %s on %u nodes: %s", id, n, errmsg);
	OK(ebb_instance_create(&spec, &opts, errmsg, sizeof(errmsg)) == 0,
	   "instance_create again is idempotent");
	spec.capacity = 2ull << 30;
	FAILS(ebb_instance_create(&spec, &opts, errmsg, sizeof(errmsg)),
	      EEXIST, "instance_create with other parameters: EEXIST (%s)",
	      errmsg);
	spec.capacity = 1ull << 30;
	{
		struct ebb_instance_info info, *il = NULL;
		unsigned k = 0;
		int found = 0;
		OK(ebb_instance_get(members[0], id, &opts, &info) == 0 &&
			   info.nmembers == n && info.stripe_size == 65536,
		   "instance_get: %u members, stripe %llu, state %s",
		   info.nmembers, (unsigned long long)info.stripe_size,
		   info.state);
		ebb_instance_info_free(&info);
		OK(ebb_instance_list(members[n - 1], &opts, &il, &k) == 0,
		   "instance_list: %u", k);
		for (unsigned i = 0; i < k; i++)
			found |= strcmp(il[i].id, id) == 0;
		OK(found, "instance_list contains %s", id);
		ebb_instance_list_free(il, k);
		FAILS(ebb_instance_get(members[0], "nope-nope", &opts, &info),
		      ENOENT, "instance_get of an unknown instance: ENOENT");
	}

	/* ---- namespace ---- */
	h = ebb_attach_via(members[0], id, &opts);
	OK(h != NULL, "attach_via");
	if (!h)
		goto done;
	OK(ebb_nmembers(h) == n && ebb_stripe_size(h) == 65536,
	   "nmembers/stripe_size");
	OK(ebb_stat(h, "/", &st) == 0 && S_ISDIR(st.mode) && st.ino == 1,
	   "stat /");
	OK(ebb_mkdir(h, "/d", 0755) == 0, "mkdir /d");
	OK(ebb_mkdir(h, "d/e", 0700) == 0, "mkdir d/e (relative)");
	FAILS(ebb_mkdir(h, "/d", 0755), EEXIST, "mkdir /d again: EEXIST");
	FAILS(ebb_mkdir(h, "/nope/x", 0755), ENOENT, "mkdir /nope/x: ENOENT");
	OK(ebb_stat(h, "/d/e/", &st) == 0 && S_ISDIR(st.mode) &&
		   (st.mode & 07777) == 0700,
	   "stat /d/e/ mode %o", st.mode);
	OK(ebb_stat(h, "/d/./e/../e", &st) == 0 && S_ISDIR(st.mode),
	   "stat with . and ..");

	/* ---- data ---- */
	wb = malloc(big);
	rb = malloc(big + 100);
	_fill(wb, big, 1);
	f = ebb_open(h, "/d/f", O_CREAT | O_RDWR, 0644);
	OK(f != NULL, "open O_CREAT /d/f");
	OK(ebb_pwrite(f, wb, big, 0) == (ssize_t)big, "pwrite %zu bytes", big);
	memset(rb, 0, big);
	OK(ebb_pread(f, rb, big + 100, 0) == (ssize_t)big &&
		   memcmp(wb, rb, big) == 0,
	   "pread it back (clamped to size)");
	OK(ebb_pwrite(f, "tail", 4, 10 * 1024 * 1024 + 123) == 4,
	   "pwrite past a hole");
	OK(ebb_fstat(f, &st) == 0 && st.size == 10 * 1024 * 1024 + 127,
	   "fstat size %llu", (unsigned long long)st.size);
	OK(ebb_fsync(f) == 0, "fsync");
	OK(ebb_close(f) == 0, "close");
	OK(ebb_stat(h, "/d/f", &st) == 0 && st.size == 10 * 1024 * 1024 + 127 &&
		   S_ISREG(st.mode),
	   "stat after close: size published");
	f = ebb_open(h, "/d/f", O_RDONLY, 0);
	OK(f != NULL, "open O_RDONLY");
	{
		uint8_t hole[4096], zero[4096] = {0};
		OK(ebb_pread(f, hole, sizeof(hole), 8 * 1024 * 1024) == 4096 &&
			   memcmp(hole, zero, 4096) == 0,
		   "hole reads as zeros");
		OK(ebb_pread(f, buf, 100, 10 * 1024 * 1024 + 123) == 4 &&
			   memcmp(buf, "tail", 4) == 0,
		   "tail read");
		OK(ebb_pread(f, rb, 70000, 60000) == 70000 &&
			   memcmp(rb, wb + 60000, 70000) == 0,
		   "unaligned read across stripes");
	}
	FAILS(ebb_pwrite(f, "x", 1, 0), EBADF, "pwrite on O_RDONLY: EBADF");
	OK(ebb_close(f) == 0, "close");
	FAILS(ebb_open(h, "/d/f", O_CREAT | O_EXCL | O_WRONLY, 0644) ? 0 : -1,
	      EEXIST, "O_EXCL on existing: EEXIST");
	FAILS(ebb_open(h, "/d", O_WRONLY, 0) ? 0 : -1, EISDIR,
	      "open a directory: EISDIR");
	FAILS(ebb_open(h, "/d/none", O_RDONLY, 0) ? 0 : -1, ENOENT,
	      "open missing: ENOENT");
	f = ebb_open(h, "/d/f", O_WRONLY | O_TRUNC | O_APPEND, 0);
	OK(f != NULL, "open O_TRUNC|O_APPEND");
	OK(ebb_pwrite(f, "abc", 3, 999) == 3 && ebb_pwrite(f, "def", 3, 0) == 3,
	   "two appends");
	OK(ebb_close(f) == 0, "close");
	f = ebb_open(h, "/d/f", O_RDONLY, 0);
	OK(f && ebb_pread(f, buf, sizeof(buf), 0) == 6 &&
		   memcmp(buf, "abcdef", 6) == 0,
	   "O_TRUNC + O_APPEND content");
	ebb_close(f);
	OK(ebb_truncate(h, "/d/f", 200000) == 0 && ebb_stat(h, "/d/f", &st) == 0 &&
		   st.size == 200000,
	   "truncate up");
	OK(ebb_truncate(h, "/d/f", 2) == 0 && ebb_stat(h, "/d/f", &st) == 0 &&
		   st.size == 2,
	   "truncate down");
	f = ebb_open(h, "/d/f", O_RDWR, 0);
	OK(f && ebb_ftruncate(f, 100) == 0 &&
		   ebb_pread(f, buf, sizeof(buf), 0) == 100 && buf[0] == 'a' &&
		   buf[2] == 0,
	   "ftruncate up reads zeros");
	ebb_close(f);

	/* ---- symlinks ---- */
	OK(ebb_symlink(h, "e", "/d/l") == 0, "symlink /d/l -> e");
	OK(ebb_readlink(h, "/d/l", buf, sizeof(buf)) == 1 && buf[0] == 'e',
	   "readlink");
	OK(ebb_lstat(h, "/d/l", &st) == 0 && S_ISLNK(st.mode), "lstat");
	OK(ebb_stat(h, "/d/l", &st) == 0 && S_ISDIR(st.mode), "stat follows");
	OK(ebb_symlink(h, "/d/f", "/abs") == 0, "symlink /abs -> /d/f");
	f = ebb_open(h, "/abs", O_RDONLY, 0);
	OK(f != NULL, "open through absolute symlink");
	if (f)
		ebb_close(f);
	OK(ebb_mkdir(h, "/d/l/sub", 0755) == 0 &&
		   ebb_stat(h, "/d/e/sub", &st) == 0,
	   "mkdir through an intermediate symlink");
	OK(ebb_symlink(h, "loop2", "/loop1") == 0 &&
		   ebb_symlink(h, "loop1", "/loop2") == 0,
	   "symlink loop");
	FAILS(ebb_stat(h, "/loop1", &st), ELOOP, "stat loop: ELOOP");
	FAILS(ebb_open(h, "/abs", O_RDONLY | O_NOFOLLOW, 0) ? 0 : -1, ELOOP,
	      "O_NOFOLLOW on symlink: ELOOP");

	/* ---- rename ---- */
	OK(ebb_rename(h, "/d/f", "/d/g") == 0 && ebb_stat(h, "/d/g", &st) == 0,
	   "rename file");
	FAILS(ebb_stat(h, "/d/f", &st), ENOENT, "old name gone");
	for (int i = 0; i < 8; i++) {
		char a[32], b[32];
		snprintf(a, sizeof(a), "/r%d", i);
		snprintf(b, sizeof(b), "/d/e/r%d-moved", i);
		f = ebb_open(h, a, O_CREAT | O_WRONLY, 0600);
		if (f) {
			ebb_pwrite(f, a, strlen(a), 0);
			ebb_close(f);
		}
		OK(ebb_rename(h, a, b) == 0 && ebb_stat(h, b, &st) == 0 &&
			   st.size == strlen(a),
		   "rename %s -> %s (nodes differ or not)", a, b);
	}
	FAILS(ebb_rename(h, "/d", "/d/e/sub/d"), EINVAL,
	      "rename dir into own subtree: EINVAL");
	OK(ebb_mkdir(h, "/x", 0755) == 0 && ebb_mkdir(h, "/x2", 0755) == 0 &&
		   ebb_mkdir(h, "/x2/c", 0755) == 0,
	   "mkdir /x /x2 /x2/c");
	FAILS(ebb_rename(h, "/x", "/x2"), ENOTEMPTY,
	      "rename onto non-empty dir: ENOTEMPTY");
	OK(ebb_rename(h, "/x", "/d/e/sub") == 0, "rename onto an empty dir");
	OK(ebb_rename(h, "/x2", "/y") == 0 && ebb_stat(h, "/y/c", &st) == 0 &&
		   S_ISDIR(st.mode),
	   "rename dir with its subtree");
	FAILS(ebb_stat(h, "/x2/c", &st), ENOENT, "old dir path gone");
	f = ebb_open(h, "/z", O_CREAT | O_WRONLY, 0600);
	if (f) {
		ebb_pwrite(f, wb, 300000, 0);
		ebb_close(f);
	}
	OK(ebb_rename(h, "/z", "/d/g") == 0 && ebb_stat(h, "/d/g", &st) == 0 &&
		   st.size == 300000,
	   "rename replaces a file");

	/* ---- readdir ---- */
	OK(ebb_mkdir(h, "/many", 0755) == 0, "mkdir /many");
	for (int i = 0; i < 300; i++) {
		snprintf(buf, sizeof(buf), "/many/file-%03d", i);
		f = ebb_open(h, buf, O_CREAT | O_WRONLY | O_EXCL, 0600);
		if (f)
			ebb_close(f);
	}
	{
		ebb_dir_t *d = ebb_opendir(h, "/many");
		struct ebb_dirent de;
		int cnt = 0, bad = 0, r;
		char seen[300] = {0};
		while (d && (r = ebb_readdir(d, &de)) == 1) {
			int k = atoi(de.name + 5);
			if (k < 0 || k >= 300 || seen[k] || !S_ISREG(de.mode))
				bad++;
			else
				seen[k] = 1;
			cnt++;
		}
		OK(d && cnt == 300 && !bad, "readdir: %d entries, %d bad", cnt,
		   bad);
		if (d)
			ebb_closedir(d);
	}
	FAILS(ebb_rmdir(h, "/many"), ENOTEMPTY, "rmdir non-empty: ENOTEMPTY");
	for (int i = 0; i < 300; i++) {
		snprintf(buf, sizeof(buf), "/many/file-%03d", i);
		ebb_unlink(h, buf);
	}
	OK(ebb_rmdir(h, "/many") == 0, "rmdir after unlinking all");
	FAILS(ebb_unlink(h, "/d"), EISDIR, "unlink a dir: EISDIR");
	FAILS(ebb_rmdir(h, "/d/g"), ENOTDIR, "rmdir a file: ENOTDIR");
	FAILS(ebb_rmdir(h, "/"), EBUSY, "rmdir /: EBUSY");

	/* ---- attributes ---- */
	OK(ebb_chmod(h, "/d/g", 0600) == 0 && ebb_stat(h, "/d/g", &st) == 0 &&
		   (st.mode & 07777) == 0600,
	   "chmod");
	OK(ebb_chown(h, "/d/g", (uid_t)-1, getegid()) == 0, "chown gid");
	{
		struct timespec ts[2] = {{1000, 5}, {2000, 7}};
		OK(ebb_utimens(h, "/d/g", ts) == 0 && ebb_stat(h, "/d/g", &st) == 0 &&
			   st.mtime.tv_sec == 2000 && st.atime.tv_sec == 1000,
		   "utimens");
		OK(ebb_utimens(h, "/d/g", NULL) == 0, "utimens now");
	}
	OK(ebb_statfs(h, &sfs) == 0 && sfs.nodes == n &&
		   sfs.capacity == n * (1ull << 30),
	   "statfs: cap %llu used %llu files %llu",
	   (unsigned long long)sfs.capacity, (unsigned long long)sfs.used,
	   (unsigned long long)sfs.files);

	/* ---- threads ---- */
	{
		pthread_t t[4];
		struct thr a[4];
		int all = 1;
		ebb_mkdir(h, "/thr", 0755);
		for (int i = 0; i < 4; i++) {
			a[i] = (struct thr){h, i, 0};
			pthread_create(&t[i], NULL, _thread, &a[i]);
		}
		for (int i = 0; i < 4; i++) {
			pthread_join(t[i], NULL);
			all &= a[i].ok;
		}
		OK(all, "4 threads x 5 rounds of 3 MiB write+read");
	}
	/* ---- a stopped node: bounded calls, then recovery ---- */
	if (getenv("EBB_SMOKE_STOP_PID")) {
		pid_t pid = (pid_t)atol(getenv("EBB_SMOKE_STOP_PID"));
		struct ebb_options fast = {.timeout_ms = 1000};
		ebb_t *h2 = ebb_attach(id, members, n, &fast);
		struct timespec t0, t1;
		double dt;
		int r;

		f = h2 ? ebb_open(h2, "/d/g", O_RDONLY, 0) : NULL;
		OK(f != NULL, "open on a 1 s timeout handle");
		kill(pid, SIGSTOP);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		errno = 0;
		r = f ? (int)ebb_pread(f, rb, 300000, 0) : 0;
		if (r >= 0)
			r = ebb_statfs(h2, &sfs);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		dt = (double)(t1.tv_sec - t0.tv_sec) +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		OK(r == -1 && (errno == ETIMEDOUT || errno == EIO) && dt < 2.5,
		   "node stopped: fails in %.2f s", dt);
		kill(pid, SIGCONT);
		OK(f && ebb_pread(f, rb, 300000, 0) == 300000 &&
			   ebb_statfs(h2, &sfs) == 0,
		   "node continued: calls work again");
		if (f)
			ebb_close(f);
		if (h2)
			ebb_detach(h2);
	}
	OK(ebb_detach(h) == 0, "detach");
	free(wb);
	free(rb);

	/* ---- permissions, as another user ---- */
	if (geteuid() == 0) {
		pid_t pid;
		int status = -1;

		fflush(stdout);
		if ((pid = fork()) == 0) {
			/* The instance is root's: a user is refused outright
			 * (E_DENIED), whatever the file modes say. */
			struct ebb_stat ust;
			ebb_t *hu;

			if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
				_exit(2);
			hu = ebb_attach(id, members, n, &opts);
			FAILS(ebb_stat(hu, "/", &ust), EACCES,
			      "uid 65534 on root's instance: EACCES");
			FAILS(ebb_instance_create(&spec, &opts, errmsg,
						  sizeof(errmsg)),
			      EACCES, "uid 65534 creating an instance: EACCES");
			ebb_detach(hu);
			fflush(stdout);
			_exit(_fails ? 1 : 0);
		}
		waitpid(pid, &status, 0);
		_n += 2;
		OK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "(the child's checks above)");
	}
done:
	OK(ebb_instance_destroy(id, members, n, &opts, errmsg, sizeof(errmsg)) ==
		   0,
	   "instance_destroy: %s", errmsg);
	OK(ebb_instance_destroy(id, members, n, &opts, errmsg, sizeof(errmsg)) ==
		   0,
	   "instance_destroy again: absent counts as done");
	printf("1..%d\n", _n);
	free(list);
	return _fails ? 1 : 0;
}
