/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb-fuse locks: fcntl (POSIX and OFD) and flock locks across nodes, on
 * libebb's lock calls (the inode's home node holds them).
 *
 * DESIGN: the kernel sends GETLK/SETLK/SETLKW with a lock_owner (a
 * process's file table for POSIX locks, the open file description for OFD
 * locks) and flock(2) as SETLK(W) with the FLOCK flag (owner: the open
 * file description).  Releasing: a process's close(2) sends FLUSH with its
 * lock_owner (POSIX: every lock of the process on the file goes); the last
 * close of an open file description sends RELEASE, with the flock owner
 * when flock was used; OFD locks have no message of their own, they go at
 * that RELEASE.  So this module remembers, per inode, which (owner, file
 * handle) pairs may hold locks: FLUSH and RELEASE send a release RPC only
 * when an entry matches, and an ordinary close costs nothing.  A read-only
 * open replies noflush (no FLUSH at close) until the first lock request of
 * this mount: from then on FLUSH comes for every descriptor, as POSIX's
 * "any close releases" needs; RELEASE covers descriptors opened before.
 *
 * Data under a lock: as NFS does, a lock makes the file's data coherent
 * between nodes beyond close-to-open.  Taking a lock drops the kernel's
 * cached pages and attributes of the file (the next read asks the nodes),
 * and an unlock first sends what libebb's write-behind holds and
 * publishes the size (ebb_publish: a write error stays for close): what
 * one node wrote under a lock is read by the next node that takes it
 * (ROMIO's data sieving, HDF5).
 *
 * A waiting request (SETLKW, flock without LOCK_NB) never holds one of
 * libfuse's threads: after a first non-waiting try fails it goes to a
 * thread of its own, which waits in libebb and replies.  An INTERRUPT
 * (a signal; also SIGKILL of the waiter) cancels it: EINTR.
 *
 * Locks: lt.lock protects the table, a leaf; no RPC under it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "fuse_ops.h"

struct fz_lk_ent {
	uint64_t owner;
	uint64_t fh;
	struct fz_lk_ent *next;
};

struct fz_lk_ino {
	uint64_t ino;
	struct fz_lk_ent *ents;
	struct fz_lk_ino *next;
};

int fz_locks_init(struct fz_locks *lt)
{
	pthread_mutex_init(&lt->lock, NULL);
	pthread_cond_init(&lt->waits_cv, NULL);
	atomic_init(&lt->used, false);
	return 0;
}

void fz_locks_fini(struct fz_locks *lt)
{
	for (unsigned b = 0; b < FZ_LOCK_BUCKETS; b++)
		while (lt->tab[b]) {
			struct fz_lk_ino *li = lt->tab[b];

			lt->tab[b] = li->next;
			while (li->ents) {
				struct fz_lk_ent *e = li->ents;

				li->ents = e->next;
				free(e);
			}
			free(li);
		}
	pthread_mutex_destroy(&lt->lock);
	pthread_cond_destroy(&lt->waits_cv);
}

static struct fz_lk_ino **_slot_locked(struct fz_locks *lt, uint64_t ino)
{
	struct fz_lk_ino **pp = &lt->tab[(ino ^ (ino >> 13)) %
					 FZ_LOCK_BUCKETS];

	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

/* (owner, fh) may hold locks on ino from now on. */
static void _note(struct fz_locks *lt, uint64_t ino, uint64_t owner,
		  uint64_t fh)
{
	struct fz_lk_ino **pp, *li;
	struct fz_lk_ent *e;

	atomic_store(&lt->used, true);
	pthread_mutex_lock(&lt->lock);
	pp = _slot_locked(lt, ino);
	if (!(li = *pp)) {
		if (!(li = calloc(1, sizeof(*li))))
			goto out; /* then released at the lease's end */
		li->ino = ino;
		*pp = li;
	}
	for (e = li->ents; e; e = e->next)
		if (e->owner == owner && e->fh == fh)
			goto out;
	if ((e = calloc(1, sizeof(*e)))) {
		e->owner = owner;
		e->fh = fh;
		e->next = li->ents;
		li->ents = e;
	}
out:
	pthread_mutex_unlock(&lt->lock);
}

/* Forget ino's entries of owner (match_owner) or of fh: the owners they
 * had go to out[] (at most max, no duplicates); returns how many. */
static unsigned _forget(struct fz_locks *lt, uint64_t ino, bool match_owner,
			uint64_t key, uint64_t *out, unsigned max)
{
	struct fz_lk_ino **pp, *li;
	unsigned n = 0;

	pthread_mutex_lock(&lt->lock);
	pp = _slot_locked(lt, ino);
	if (!(li = *pp))
		goto out;
	for (struct fz_lk_ent **ep = &li->ents; *ep;) {
		struct fz_lk_ent *e = *ep;
		bool dup = false;

		if ((match_owner ? e->owner : e->fh) != key) {
			ep = &e->next;
			continue;
		}
		for (unsigned i = 0; i < n; i++)
			dup |= out[i] == e->owner;
		if (!dup && n < max)
			out[n++] = e->owner;
		*ep = e->next;
		free(e);
	}
	if (!li->ents) {
		*pp = li->next;
		free(li);
	}
out:
	pthread_mutex_unlock(&lt->lock);
	return n;
}

bool fz_locks_used(struct fz_locks *lt)
{
	return atomic_load(&lt->used);
}

void fz_locks_flush(struct fz *fz, uint64_t ino, uint64_t owner)
{
	uint64_t o;

	/* POSIX: a close by the owner releases all its locks on the file. */
	if (_forget(&fz->locks, ino, true, owner, &o, 1))
		ebb_unlock_owner_ino(fz->h, ino, owner);
}

void fz_locks_release(struct fz *fz, uint64_t ino, uint64_t fh,
		      bool flock_release, uint64_t flock_owner)
{
	uint64_t owners[16];
	unsigned n = _forget(&fz->locks, ino, false, fh, owners, 16);
	bool seen = false;

	/* OFD and flock locks of the open file description, and POSIX
	 * locks taken through it by a descriptor that sent no FLUSH. */
	for (unsigned i = 0; i < n; i++) {
		seen |= owners[i] == flock_owner;
		ebb_unlock_owner_ino(fz->h, ino, owners[i]);
	}
	if (flock_release && !seen && n)
		ebb_unlock_owner_ino(fz->h, ino, flock_owner);
}

/* ---- the operations ----------------------------------------------------------- */

void fz_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	      struct flock *lock)
{
	struct fz *fz = fuse_req_userdata(req);

	if (ebb_getlk_ino(fz->h, ino, fi->lock_owner, lock, 0) != 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lock(req, lock);
}

/* A request that waits, on its own thread. */
struct fz_lkwait {
	fuse_req_t req;
	struct fz *fz;
	uint64_t ino, owner;
	uint64_t fh;               /* the requester's ebb_file_t, or 0 */
	pid_t pid;
	struct flock fl;
	int flags;
	bool sleep;                /* may wait (SETLKW, flock without NB) */
	bool tried;                /* the first, non-waiting try failed */
	volatile int cancel;
	struct fz_lkwait *next;    /* fz->locks.waits */
};

void fz_locks_stop(struct fz *fz)
{
	struct fz_locks *lt = &fz->locks;

	pthread_mutex_lock(&lt->lock);
	for (struct fz_lkwait *w = lt->waits; w; w = w->next)
		w->cancel = 1;
	while (lt->nwaits) {
		/* libebb wakes within 2 s anyway; this is quicker */
		for (struct fz_lkwait *w = lt->waits; w; w = w->next) {
			uint64_t ino = w->ino, owner = w->owner;

			pthread_mutex_unlock(&lt->lock);
			ebb_lock_cancel_ino(fz->h, ino, owner);
			pthread_mutex_lock(&lt->lock);
			break; /* the list may have changed */
		}
		if (lt->nwaits)
			pthread_cond_wait(&lt->waits_cv, &lt->lock);
	}
	pthread_mutex_unlock(&lt->lock);
}

static void _interrupt(fuse_req_t req, void *data)
{
	struct fz_lkwait *w = data;

	(void)req;
	w->cancel = 1;
	ebb_lock_cancel_ino(w->fz->h, w->ino, w->owner);
}

/* Writeback mode: the kernel keeps its own size of a regular file and
 * takes none from us, so a descriptor open here since before another
 * node grew the file under the lock would read only to the old end (the
 * renewal of itable.c needs no descriptor open).  A store of the file's
 * last byte (FUSE_NOTIFY_STORE) is what raises the kernel's size: it
 * extends it to the end of what is stored.  fh's size is bbd's, asked
 * again by libebb when the lock was granted (inode_refresh).  The
 * invalidation just before wrote this node's dirty pages back, so the
 * byte stored lands in no dirty page.  Growth only: a file another node
 * cut keeps the kernel's size here until closed (docs/semantics.md). */
static void _wb_grown(struct fz *fz, uint64_t ino, uint64_t fh)
{
	ebb_file_t *f = (ebb_file_t *)(uintptr_t)fh;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(1);
	struct ebb_stat st, kst;
	char c;

	if (!f || ebb_fstat(f, &st) != 0 || !S_ISREG(st.mode) ||
	    st.size == 0 || itab_kstat(&fz->itab, ino, &kst) != 0 ||
	    st.size <= kst.size ||
	    ebb_pread(f, &c, 1, (off_t)st.size - 1) != 1)
		return;
	bv.buf[0].mem = &c;
	if (fuse_lowlevel_notify_store(fz->se, ino, (off_t)st.size - 1, &bv,
				       0) == 0)
		itab_sized(&fz->itab, ino, st.size, true);
}

/* A lock was granted on ino (through the open file fh): the next reads
 * ask the nodes. */
static void _granted(struct fz *fz, uint64_t ino, uint64_t fh,
		     const struct flock *fl)
{
	if (fl->l_type == F_UNLCK || !fz->se)
		return;
	fuse_lowlevel_notify_inval_inode(fz->se, ino, 0, 0);
	if (fz->wb)
		_wb_grown(fz, ino, fh);
}

/* A lock request's work (flags may hold EBB_LOCK_WAIT; cancel: for a
 * waiting one): an unlock first sends what was written under the lock
 * (see DESIGN; a write error stays for close), a granted lock drops the
 * node's cached data.  0 or an errno (EAGAIN: a conflict, not waiting). */
static int _lk_do(struct fz *fz, uint64_t ino, uint64_t fh, uint64_t owner,
		  pid_t pid, const struct flock *fl, int flags,
		  volatile int *cancel)
{
	if (fl->l_type == F_UNLCK && fh) {
		/* Writeback mode: what was written under the lock may still
		 * be dirty pages in the kernel, which would send them only at
		 * FLUSH.  Invalidating the file's pages makes the kernel
		 * write dirty ones back first (launder: WRITEs that the
		 * worker threads serve; this never runs on one, see
		 * _setlk) before it returns; then they are published with
		 * the rest. */
		if (fz->wb && fz->se)
			fuse_lowlevel_notify_inval_inode(fz->se, ino, 0, 0);
		ebb_publish((ebb_file_t *)(uintptr_t)fh);
	}
	if (ebb_lock_ino(fz->h, ino, owner, pid, fl, flags, cancel) != 0)
		return errno;
	_granted(fz, ino, fh, fl);
	return 0;
}

static void *_wait_main(void *arg)
{
	struct fz_lkwait *w = arg;
	int rc = EAGAIN;

	if (!w->tried)
		rc = _lk_do(w->fz, w->ino, w->fh, w->owner, w->pid, &w->fl,
			    w->flags, NULL);
	if (rc == EAGAIN && w->sleep)
		rc = _lk_do(w->fz, w->ino, w->fh, w->owner, w->pid, &w->fl,
			    w->flags | EBB_LOCK_WAIT, &w->cancel);
	/* No interrupt callback may run once we reply (it uses w): this
	 * waits for one in progress. */
	fuse_req_interrupt_func(w->req, NULL, NULL);
	fuse_reply_err(w->req, rc);
	pthread_mutex_lock(&w->fz->locks.lock);
	for (struct fz_lkwait **pp = &w->fz->locks.waits; *pp;
	     pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	w->fz->locks.nwaits--;
	pthread_cond_broadcast(&w->fz->locks.waits_cv);
	pthread_mutex_unlock(&w->fz->locks.lock);
	free(w);
	return NULL;
}

/* Set a lock (flags: EBB_LOCK_FLOCK or 0); sleep: wait for it.
 *
 * Threads: a waiting request never holds one of libfuse's worker
 * threads (after a first try fails it moves to a thread of its own).
 * In writeback mode no lock request runs on a worker at all: an unlock
 * or a grant there invalidates the file's pages, and the kernel writes
 * dirty ones back (WRITE requests) before that returns; were every
 * worker in such a call (16 MPI ranks of a node unlocking at once),
 * none would be left to serve those WRITEs. */
static void _setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		   const struct flock *lock, int flags, bool sleep)
{
	struct fz *fz = fuse_req_userdata(req);
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct fz_lkwait *w;
	pthread_attr_t attr;
	pthread_t t;
	pid_t pid = lock->l_pid > 0 ? lock->l_pid : c->pid;
	int rc;

	if (lock->l_type != F_UNLCK)
		_note(&fz->locks, ino, fi->lock_owner, fi->fh);
	if (!fz->wb) {
		rc = _lk_do(fz, ino, fi->fh, fi->lock_owner, pid, lock, flags,
			    NULL);
		if (rc != EAGAIN || !sleep) {
			fuse_reply_err(req, rc);
			return;
		}
	}
	if (!(w = calloc(1, sizeof(*w)))) {
		fuse_reply_err(req, fz->wb ? ENOMEM : EAGAIN);
		return;
	}
	w->req = req;
	w->fz = fz;
	w->ino = ino;
	w->owner = fi->lock_owner;
	w->fh = fi->fh;
	w->pid = pid;
	w->fl = *lock;
	w->flags = flags;
	w->sleep = sleep;
	w->tried = !fz->wb;
	/* Before the thread starts: it may reply at once.  A signal that
	 * came already calls _interrupt now. */
	fuse_req_interrupt_func(req, _interrupt, w);
	pthread_mutex_lock(&fz->locks.lock);
	w->next = fz->locks.waits;
	fz->locks.waits = w;
	fz->locks.nwaits++;
	pthread_mutex_unlock(&fz->locks.lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if (pthread_create(&t, &attr, _wait_main, w) != 0) {
		w->cancel = 1;
		_wait_main(w); /* here: a wait ends EINTR at once */
	}
	pthread_attr_destroy(&attr);
}

void fz_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	      struct flock *lock, int sleep)
{
	/* Who may: the kernel checked the descriptor (a write lock needs it
	 * open for writing), and opening it took permission (as on ext4,
	 * any user who may open the file may lock it). */
	_setlk(req, ino, fi, lock, 0, sleep);
}

void fz_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	      int op)
{
	struct flock fl = {0};

	switch (op & ~LOCK_NB) {
	case LOCK_SH: fl.l_type = F_RDLCK; break;
	case LOCK_EX: fl.l_type = F_WRLCK; break;
	case LOCK_UN: fl.l_type = F_UNLCK; break;
	default:
		fuse_reply_err(req, EINVAL);
		return;
	}
	fl.l_whence = SEEK_SET;
	_setlk(req, ino, fi, &fl, EBB_LOCK_FLOCK, !(op & LOCK_NB));
}
