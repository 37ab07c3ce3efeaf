/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb-fuse's directory times: a directory's mtime and ctime follow the
 * creates, removes and renames made in it through this mount.
 *
 * DESIGN: a directory's attributes live in ITS dentry, on the node of
 * (grandparent, name), usually not the node that changed an entry in it.
 * So after a namespace change in directory D (ops.c: create, mkdir,
 * mknod, symlink, unlink, rmdir, rename: both parents) ebb-fuse notes
 * "D changed at t" here, and one thread sends D's dentry node a DIR_TOUCH
 * (mtime = ctime = max(theirs, t)) later, off the create's own path:
 *   - coalesced per directory: a touch waits FZ_DT_WINDOW_MS after the
 *     first change it carries, at most one is in flight per directory
 *     (one thread sends them all, one after another), and the latest time
 *     goes in the next one, so an untar of thousands of files into one
 *     directory sends a touch per window, not one per file;
 *   - a stat on this node sees the new times at once: every attribute
 *     reply for a directory (getattr, lookup, readdirplus, setattr) is
 *     raised to the latest time noted for it (dt_overlay), until the touch
 *     has landed and for FZ_DT_KEEP_MS after (libebb's directory cache
 *     may hold attributes looked up just before the touch for up to 1 s);
 *     the kernel invalidates the parent's attributes itself after a
 *     create, unlink or rename, so its next stat comes here;
 *   - another node sees them once the touch has landed and its kernel's
 *     attributes of D time out (1 s): within about FZ_DT_WINDOW_MS + a
 *     round trip + 1 s (docs/semantics.md).
 * The key sent is the one the inode table has for D at send time (a
 * rename of D on this node is followed); if D is forgotten meanwhile, the
 * key it had when noted.  A touch that finds D gone (ENOENT) or replaced
 * (ESTALE) is dropped: the directory it was for is not there any more.
 * An explicit utimes of a directory's mtime (setattr) waits for a touch
 * in flight and drops what is pending (dt_cancel), so the time set
 * explicitly stays, as on a local file system.  A touch whose node does
 * not answer is not retried (the entries are safe, only the directory's
 * times stay behind).  At unmount what is pending goes out at once; once
 * a node does not answer, the rest is dropped, so an unmount never waits
 * a timeout per directory.
 *
 * Lock: dt.lock, a leaf like the inode table's (never held with it, never
 * over an RPC).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fuse_int.h"

#define FZ_DT_WINDOW_MS 50
#define FZ_DT_KEEP_MS 2000

struct fz_dt_ent {
	uint64_t ino;
	uint64_t parent;           /* its key when last noted (fallback) */
	char name[FZ_NAME_MAX + 1];
	int64_t want_ns;           /* latest change not sent yet (0 none) */
	int64_t sent_ns;           /* in flight (0 none) */
	int64_t floor_ns;          /* latest landed: the overlay after it */
	int64_t due_ms;            /* send want_ns from then on */
	int64_t landed_ms;         /* when floor_ns landed */
	bool queued;
	struct fz_dt_ent *next;    /* hash chain */
	struct fz_dt_ent *qnext;   /* send queue */
};

static int64_t _mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t dt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct fz_dt_ent **_slot_locked(struct fz_dt *dt, uint64_t ino)
{
	struct fz_dt_ent **pp = &dt->bucket[(ino * 0x9e3779b97f4a7c15ULL) >>
					    (64 - FZ_DT_BITS)];

	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

/* Drop e (not queued, nothing in flight) from the hash. */
static void _drop_locked(struct fz_dt *dt, struct fz_dt_ent **pp)
{
	struct fz_dt_ent *e = *pp;

	*pp = e->next;
	free(e);
	dt->n--;
}

static void _enqueue_locked(struct fz_dt *dt, struct fz_dt_ent *e,
			    int64_t due_ms)
{
	e->due_ms = due_ms;
	e->queued = true;
	e->qnext = NULL;
	if (dt->qtail)
		dt->qtail->qnext = e;
	else
		dt->qhead = e;
	dt->qtail = e;
	pthread_cond_broadcast(&dt->cond);
}

void dt_changed(struct fz_dt *dt, uint64_t dir, int64_t time_ns)
{
	struct fz_dt_ent **pp, *e;
	uint64_t parent;
	char name[FZ_NAME_MAX + 1];

	/* The key now, while the kernel holds the directory (outside our
	 * lock: the table's is a leaf too). */
	if (itab_key(dt->itab, dir, &parent, name) != 0)
		return; /* removed meanwhile: nothing to touch */
	pthread_mutex_lock(&dt->lock);
	pp = _slot_locked(dt, dir);
	if (!(e = *pp)) {
		if (!(e = calloc(1, sizeof(*e)))) {
			pthread_mutex_unlock(&dt->lock);
			return; /* the times stay behind: no worse than before */
		}
		e->ino = dir;
		*pp = e;
		dt->n++;
	}
	e->parent = parent;
	snprintf(e->name, sizeof(e->name), "%s", name);
	if (time_ns > e->want_ns)
		e->want_ns = time_ns;
	dt->noted++;
	/* In flight: the thread queues it again when that one lands. */
	if (!e->queued && !e->sent_ns)
		_enqueue_locked(dt, e, _mono_ms() + FZ_DT_WINDOW_MS);
	pthread_mutex_unlock(&dt->lock);
}

void dt_overlay(struct fz_dt *dt, struct ebb_stat *st)
{
	struct fz_dt_ent **pp, *e;
	int64_t t, m, c;

	if (!S_ISDIR(st->mode))
		return;
	pthread_mutex_lock(&dt->lock);
	pp = _slot_locked(dt, st->ino);
	if ((e = *pp)) {
		t = e->want_ns > e->sent_ns ? e->want_ns : e->sent_ns;
		if (e->floor_ns > t)
			t = e->floor_ns;
		m = (int64_t)st->mtime.tv_sec * 1000000000 + st->mtime.tv_nsec;
		c = (int64_t)st->ctime.tv_sec * 1000000000 + st->ctime.tv_nsec;
		if (t > m) {
			st->mtime.tv_sec = t / 1000000000;
			st->mtime.tv_nsec = t % 1000000000;
		}
		if (t > c) {
			st->ctime.tv_sec = t / 1000000000;
			st->ctime.tv_nsec = t % 1000000000;
		}
		if (!e->queued && !e->sent_ns &&
		    _mono_ms() > e->landed_ms + FZ_DT_KEEP_MS)
			_drop_locked(dt, pp);
	}
	pthread_mutex_unlock(&dt->lock);
}

void dt_cancel(struct fz_dt *dt, uint64_t dir)
{
	struct fz_dt_ent **pp, *e, **qp;

	pthread_mutex_lock(&dt->lock);
	while ((e = *_slot_locked(dt, dir)) && e->sent_ns)
		pthread_cond_wait(&dt->cond, &dt->lock);
	pp = _slot_locked(dt, dir);
	if ((e = *pp)) {
		if (e->queued) {
			struct fz_dt_ent *prev = NULL;

			for (qp = &dt->qhead; *qp != e; qp = &(*qp)->qnext)
				prev = *qp;
			*qp = e->qnext;
			if (dt->qtail == e)
				dt->qtail = prev;
		}
		_drop_locked(dt, pp);
	}
	pthread_mutex_unlock(&dt->lock);
}

/* Forget the directories whose last touch landed FZ_DT_KEEP_MS ago and
 * that have nothing pending: the table holds only recent ones. */
static void _sweep_locked(struct fz_dt *dt, int64_t now)
{
	if (dt->n == 0 || now < dt->swept_ms + 1000)
		return;
	dt->swept_ms = now;
	for (size_t b = 0; b < (1u << FZ_DT_BITS); b++) {
		struct fz_dt_ent **pp = &dt->bucket[b];

		while (*pp) {
			struct fz_dt_ent *e = *pp;

			if (!e->queued && !e->sent_ns &&
			    now > e->landed_ms + FZ_DT_KEEP_MS)
				_drop_locked(dt, pp);
			else
				pp = &e->next;
		}
	}
}

/* Returns false if the node did not answer (not for a directory gone). */
static bool _send(struct fz_dt *dt, struct fz_dt_ent *e, int64_t t,
		  uint64_t parent, const char *name)
{
	struct timespec ts = {t / 1000000000, t % 1000000000};
	uint64_t p;
	char n[FZ_NAME_MAX + 1];
	int rc = 0;

	/* The current key if the table still has one (a rename of the
	 * directory here moved it), else the noted one. */
	if (itab_key(dt->itab, e->ino, &p, n) != 0) {
		p = parent;
		snprintf(n, sizeof(n), "%s", name);
	}
	if (ebb_dirtouchat(dt->h, p, n, e->ino, &ts, NULL) != 0)
		rc = errno;
	pthread_mutex_lock(&dt->lock);
	dt->sent++;
	if (rc && rc != ENOENT && rc != ESTALE && rc != ENOTDIR)
		dt->failed++;
	pthread_mutex_unlock(&dt->lock);
	return !rc || rc == ENOENT || rc == ESTALE || rc == ENOTDIR;
}

static void *_thread(void *arg)
{
	struct fz_dt *dt = arg;

	pthread_mutex_lock(&dt->lock);
	for (;;) {
		struct fz_dt_ent *e = dt->qhead;
		uint64_t parent;
		char name[FZ_NAME_MAX + 1];
		int64_t t, now = _mono_ms();
		bool answered;

		_sweep_locked(dt, now); /* at most once a second */
		if (!e) {
			struct timespec until;

			if (dt->stop)
				break;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&dt->cond, &dt->lock, &until);
			continue;
		}
		if (!dt->stop && e->due_ms > now) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += (long)(e->due_ms - now) * 1000000;
			until.tv_sec += until.tv_nsec / 1000000000;
			until.tv_nsec %= 1000000000;
			pthread_cond_timedwait(&dt->cond, &dt->lock, &until);
			continue;
		}
		dt->qhead = e->qnext;
		if (!dt->qhead)
			dt->qtail = NULL;
		e->queued = false;
		t = e->want_ns;
		e->want_ns = 0;
		e->sent_ns = t;
		parent = e->parent;
		memcpy(name, e->name, sizeof(name));
		pthread_mutex_unlock(&dt->lock);
		answered = _send(dt, e, t, parent, name);
		pthread_mutex_lock(&dt->lock);
		/* Stopping and a node does not answer: do not make the
		 * unmount wait a timeout per directory still pending. */
		if (dt->stop && !answered) {
			while (dt->qhead) {
				dt->qhead->queued = false;
				dt->qhead = dt->qhead->qnext;
			}
			dt->qtail = NULL;
			e->want_ns = 0;
		}
		e->sent_ns = 0;
		if (t > e->floor_ns)
			e->floor_ns = t;
		e->landed_ms = _mono_ms();
		if (e->want_ns)
			_enqueue_locked(dt, e, e->landed_ms + FZ_DT_WINDOW_MS);
		pthread_cond_broadcast(&dt->cond); /* dt_cancel waiters */
	}
	pthread_mutex_unlock(&dt->lock);
	return NULL;
}

int dt_start(struct fz_dt *dt, ebb_t *h, struct fz_itab *itab)
{
	pthread_condattr_t ca;

	memset(dt, 0, sizeof(*dt));
	dt->h = h;
	dt->itab = itab;
	pthread_mutex_init(&dt->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_cond_init(&dt->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&dt->thread, NULL, _thread, dt) != 0)
		return -1;
	dt->started = true;
	return 0;
}

void dt_stop(struct fz_dt *dt)
{
	if (!dt->started)
		return;
	/* What is pending goes out now, without waiting for its window. */
	pthread_mutex_lock(&dt->lock);
	dt->stop = true;
	pthread_cond_broadcast(&dt->cond);
	pthread_mutex_unlock(&dt->lock);
	pthread_join(dt->thread, NULL);
	/* For measurements (posix.t, the lead's benchmarks). */
	if (getenv("EBB_FUSE_DT_STATS"))
		fprintf(stderr, "ebb-fuse: directory times: %llu changes, %llu "
			"DIR_TOUCH sent, %llu failed\n",
			(unsigned long long)dt->noted,
			(unsigned long long)dt->sent,
			(unsigned long long)dt->failed);
	for (size_t b = 0; b < (1u << FZ_DT_BITS); b++)
		while (dt->bucket[b])
			_drop_locked(dt, &dt->bucket[b]);
	pthread_cond_destroy(&dt->cond);
	pthread_mutex_destroy(&dt->lock);
	dt->started = false;
}
