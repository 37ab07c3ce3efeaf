/* SPDX-License-Identifier: GPL-2.0-or-later */
/* t_locks: libebb's lock calls (EBB_0.4) against 3 real bbd.
 *
 * Two handles stand for two clients (each draws its own client id): POSIX
 * conflicts between them and none within one owner, owners of one handle
 * conflicting as two processes do, F_GETLK's pid (the holder's for an
 * owner of the same handle, 0 for another handle), flock apart from
 * POSIX, a release by owner, a waiting lock granted once the other handle
 * unlocks (a thread), a waiting lock cancelled (EINTR), ebb_detach
 * releasing what a handle held, and every bad argument refused (EINVAL).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctest.h"
#include "tap.h"

/* The call first, then errno (is_errno's arguments have no order). */
#define IS_ERRNO(call, want, ...)                                       \
	do {                                                            \
		long long _r = (call);                                  \
		int _e = errno;                                         \
		is_errno(_r, _e, want, __VA_ARGS__);                    \
	} while (0)

static struct flock _fl(short type, off_t start, off_t len)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = start;
	fl.l_len = len;
	return fl;
}

struct waiter {
	ebb_t *h;
	uint64_t ino;
	volatile int cancel;
	volatile int done;
	int rc, err;
};

static void *_wait(void *arg)
{
	struct waiter *w = arg;
	struct flock fl = _fl(F_WRLCK, 0, 0);

	w->rc = ebb_lock_ino(w->h, w->ino, 7, 4242, &fl, EBB_LOCK_WAIT,
			     &w->cancel);
	w->err = errno;
	w->done = 1;
	return NULL;
}

int main(void)
{
	struct ctest c;
	struct ebb_stat st;
	struct flock fl;
	struct waiter w;
	pthread_t t;
	ebb_file_t *f;
	ebb_t *h2;
	uint64_t ino;

	plan_lazy();
	ct_setup(&c, "t-lk", 64ULL * 1024 * 1024, 0, 0, 0);
	h2 = ebb_attach(c.id, c.members, c.nmembers, &c.opts);
	if (!h2)
		bail("second attach: %s", strerror(errno));
	f = ebb_open(c.h, "/lk", O_RDWR | O_CREAT, 0644);
	if (!f || ebb_fstat(f, &st) != 0)
		bail("create /lk: %s", strerror(errno));
	ino = st.ino;

	fl = _fl(F_WRLCK, 10, 20);
	is_int(ebb_lock_ino(c.h, ino, 1, 111, &fl, 0, NULL), 0,
	       "handle 1, owner 1: write lock 10-29");
	fl = _fl(F_WRLCK, 15, 5);
	IS_ERRNO(ebb_lock_ino(h2, ino, 1, 222, &fl, 0, NULL), EAGAIN,
		 "handle 2 (same owner number, another client): EAGAIN");
	{
		struct ebb_node_locks nl;
		const char *home = c.members[ino >> 48];

		is_int(ebb_node_status_locks(home, &c.opts, &nl), 0,
		       "ebb_node_status_locks of the file's home node");
		ok(nl.held == 1 && nl.inodes == 1 && nl.clients == 2 &&
		   nl.granted == 1 && nl.refused == 1 && nl.waiting == 0,
		   "... 1 lock held on 1 inode, 2 clients, 1 granted, 1 "
		   "refused (held %llu inodes %llu clients %llu granted %llu "
		   "refused %llu)", (unsigned long long)nl.held,
		   (unsigned long long)nl.inodes,
		   (unsigned long long)nl.clients,
		   (unsigned long long)nl.granted,
		   (unsigned long long)nl.refused);
		IS_ERRNO(ebb_node_status_locks(home, &c.opts, NULL), EINVAL,
			 "ebb_node_status_locks without a struct: EINVAL");
		IS_ERRNO(ebb_node_status_locks("no-port", &c.opts, &nl),
			 EINVAL, "... of a bad address: EINVAL");
	}
	fl = _fl(F_RDLCK, 12, 3);
	is_int(ebb_lock_ino(c.h, ino, 1, 111, &fl, 0, NULL), 0,
	       "the same owner never conflicts with itself (a downgrade "
	       "of 12-14)");
	fl = _fl(F_WRLCK, 15, 1);
	IS_ERRNO(ebb_lock_ino(c.h, ino, 2, 112, &fl, 0, NULL), EAGAIN,
		 "another owner of handle 1: EAGAIN (owners are processes)");
	fl = _fl(F_WRLCK, 0, 0);
	is_int(ebb_getlk_ino(c.h, ino, 2, &fl, 0), 0, "GETLK by owner 2");
	ok(fl.l_type == F_WRLCK && fl.l_start == 10 && fl.l_len == 2 &&
		   fl.l_pid == 111,
	   "... the conflicting lock that starts first: write 10-11, pid 111 "
	   "(same handle) "
	   "(got %d %lld %lld %d)", fl.l_type, (long long)fl.l_start,
	   (long long)fl.l_len, (int)fl.l_pid);
	fl = _fl(F_WRLCK, 20, 0);
	is_int(ebb_getlk_ino(h2, ino, 9, &fl, 0), 0, "GETLK by handle 2");
	ok(fl.l_type == F_WRLCK && fl.l_start == 15 && fl.l_len == 15 &&
		   fl.l_pid == 0,
	   "... write 15-29, pid 0 (another client's holder) (got %d %lld "
	   "%lld %d)", fl.l_type, (long long)fl.l_start, (long long)fl.l_len,
	   (int)fl.l_pid);
	fl = _fl(F_WRLCK, 100, 10);
	is_int(ebb_getlk_ino(h2, ino, 9, &fl, 0), 0, "GETLK of a free range");
	ok(fl.l_type == F_UNLCK, "... F_UNLCK");
	fl = _fl(F_WRLCK, 0, 0);
	is_int(ebb_lock_ino(h2, ino, 3, 222, &fl, EBB_LOCK_FLOCK, NULL), 0,
	       "flock exclusive by handle 2 while handle 1 holds POSIX locks");
	IS_ERRNO(ebb_lock_ino(c.h, ino, 4, 111, &fl, EBB_LOCK_FLOCK, NULL),
		 EAGAIN, "flock exclusive by handle 1: EAGAIN");
	is_int(ebb_unlock_owner_ino(h2, ino, 3), 0,
	       "handle 2 releases owner 3 (its flock)");
	is_int(ebb_lock_ino(c.h, ino, 4, 111, &fl, EBB_LOCK_FLOCK, NULL), 0,
	       "... then handle 1's flock is granted");

	/* a waiting lock, granted when handle 1 lets go */
	memset(&w, 0, sizeof(w));
	w.h = h2;
	w.ino = ino;
	if (pthread_create(&t, NULL, _wait, &w) != 0)
		bail("pthread_create");
	usleep(300 * 1000);
	ok(!w.done, "handle 2's waiting write lock of the whole file waits");
	is_int(ebb_unlock_owner_ino(c.h, ino, 1), 0,
	       "handle 1 releases owner 1's locks");
	pthread_join(t, NULL);
	is_int(w.rc, 0, "... the waiting lock is granted (%s)",
	       w.rc ? strerror(w.err) : "ok");

	/* a waiting lock cancelled */
	memset(&w, 0, sizeof(w));
	w.h = c.h;
	w.ino = ino;
	if (pthread_create(&t, NULL, _wait, &w) != 0)
		bail("pthread_create");
	usleep(300 * 1000);
	ok(!w.done, "handle 1's waiting lock waits for handle 2's");
	w.cancel = 1;
	is_int(ebb_lock_cancel_ino(c.h, ino, 7), 0, "ebb_lock_cancel_ino");
	pthread_join(t, NULL);
	is_errno(w.rc, w.err, EINTR, "... the waiting call ends with EINTR");

	/* detach releases */
	is_int(ebb_detach(h2), 0, "handle 2 detaches (holding the whole file)");
	fl = _fl(F_WRLCK, 0, 0);
	is_int(ebb_lock_ino(c.h, ino, 1, 111, &fl, 0, NULL), 0,
	       "... its locks went with it: handle 1 locks the whole file");

	/* bad arguments */
	fl = _fl(F_WRLCK, 0, 1);
	fl.l_whence = SEEK_CUR;
	IS_ERRNO(ebb_lock_ino(c.h, ino, 1, 1, &fl, 0, NULL), EINVAL,
		 "l_whence SEEK_CUR: EINVAL");
	fl = _fl(99, 0, 1);
	IS_ERRNO(ebb_lock_ino(c.h, ino, 1, 1, &fl, 0, NULL), EINVAL,
		 "an unknown l_type: EINVAL");
	fl = _fl(F_WRLCK, -1, 1);
	IS_ERRNO(ebb_lock_ino(c.h, ino, 1, 1, &fl, 0, NULL), EINVAL,
		 "a negative start: EINVAL");
	fl = _fl(F_WRLCK, 5, -10);
	IS_ERRNO(ebb_lock_ino(c.h, ino, 1, 1, &fl, 0, NULL), EINVAL,
		 "a negative length reaching before 0: EINVAL");
	fl = _fl(F_WRLCK, 10, -5);
	is_int(ebb_lock_ino(c.h, ino, 1, 1, &fl, 0, NULL), 0,
	       "a negative length (5-9) by the holder of the whole file: fine");
	fl = _fl(F_WRLCK, INT64_MAX, 2);
	IS_ERRNO(ebb_lock_ino(c.h, ino, 1, 1, &fl, 0, NULL), EINVAL,
		 "a range past 2^63: EINVAL");
	fl = _fl(F_WRLCK, 0, 1);
	IS_ERRNO(ebb_lock_ino(c.h, ino, 1, 1, &fl, 8, NULL), EINVAL,
		 "unknown flags: EINVAL");
	IS_ERRNO(ebb_lock_ino(c.h, 0, 1, 1, &fl, 0, NULL), EINVAL,
		 "ino 0: EINVAL");
	IS_ERRNO(ebb_lock_ino(c.h, (64ull << 48) | 16, 1, 1, &fl, 0, NULL),
		 EINVAL, "an inode of rank 64 (no such member): EINVAL");
	fl = _fl(F_UNLCK, 0, 1);
	IS_ERRNO(ebb_getlk_ino(c.h, ino, 1, &fl, 0), EINVAL,
		 "GETLK of F_UNLCK: EINVAL");
	IS_ERRNO(ebb_lock_ino(NULL, ino, 1, 1, &fl, 0, NULL), EINVAL,
		 "no handle: EINVAL");

	ebb_close(f);
	is_int(ct_teardown(&c), 0, "detach and destroy the instance");
	return tap_exit();
}
