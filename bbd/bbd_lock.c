/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd's lock service: fcntl byte-range locks and flock locks of the inodes
 * whose home is this node (docs/internals/locks.md).
 *
 * DESIGN: every inode's locks live on its home node (rank = ino >>
 * PROTO_INO_RANK_SHIFT), in memory only: a bbd restart loses them.  A lock
 * owner is (client, owner): client is a random 64-bit id each libebb handle
 * draws, owner the kernel's lock_owner (a process's file table for POSIX
 * locks, an open file description for OFD and flock locks).  Locks are
 * never tied to a TCP connection (libebb spreads its requests over several
 * and retires idle ones): a client's LOCK and LOCK_RENEW requests renew
 * its lease, and the service thread drops every lock of a client whose
 * lease expired (lock_lease, default 15 s): the bound for a dead node.
 *
 * POSIX locks follow Linux for one node: per-owner ranges that split and
 * merge, conflicts only between owners, F_UNLCK never fails.  flock locks
 * are a separate namespace (whole file) and never conflict with POSIX
 * locks.  A request that must wait (F_SETLKW, flock without LOCK_NB) is
 * parked on its inode's queue, ordered by a ticket the client keeps across
 * re-sends, and answered from whichever thread releases the conflicting
 * lock (bbd_req_done), or by the service thread after park_ms with "still
 * waiting": the client sends it again with its ticket, so a request never
 * outlives the client's timeout and the queue order holds.  LOCK_CANCEL
 * answers a parked request EINTR (a signal on the client).  No deadlock
 * detection.
 *
 * Locking: one mutex (lockd.mu) for every table; lock traffic is small
 * (one RPC per lock call) and it is a leaf lock: nothing else is taken
 * under it but a worker's done-queue lock (bbd_req_done).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bbd_int.h"
#include "log.h"

#define LK_BUCKETS 256
/* A parked request is answered "still waiting" after this long at most
 * (and at most half the lease): well under any client timeout. */
#define LK_PARK_MAX_MS 2000u
/* The service thread's tick bound. */
#define LK_TICK_MAX_MS 250u

struct lk_range {
	uint64_t client, owner;
	uint32_t pid;
	uint8_t type;              /* PROTO_LOCK_RDLCK or _WRLCK */
	uint64_t start, end;       /* inclusive */
	struct lk_range *next;
};

struct lk_inode;

struct lk_wait {
	struct bbd_req *r;
	uint64_t client, owner;
	uint32_t pid;
	uint8_t type;
	bool flock;
	uint64_t start, end;
	uint64_t ticket;
	uint64_t deadline_ms;
	struct lk_inode *in;
	struct lk_wait *prev, *next; /* the inode's queue, by ticket */
};

struct lk_inode {
	uint64_t ino;
	struct lk_range *posix;
	struct lk_range *flock;
	struct lk_wait *wh, *wt;
	struct lk_inode *next;     /* bucket chain */
};

struct lk_client {
	uint64_t client;
	uint64_t expires_ms;
	struct lk_client *next;
};

struct bbd_locktab {
	struct bbd_inst *inst;     /* not a reference: freed with inst */
	struct lk_inode *tab[LK_BUCKETS];
	struct lk_client *clients;
	uint64_t next_ticket;
	struct bbd_locktab *prev, *next; /* lockd.tabs */
};

struct bbd_lockd {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;                 /* mu */
	bool started;
	pthread_t thread;
	struct bbd_locktab *tabs;  /* mu */
	unsigned lease_ms;
	unsigned park_ms;
	/* since start, for NODE_STATUS (mu) */
	uint64_t granted;          /* lock requests granted (not unlocks) */
	uint64_t refused;          /* ... answered EAGAIN */
	uint64_t expired;          /* clients whose lease ran out with locks */
	uint64_t dropped;          /* ... the locks they lost then */
};

/* ---- replies ------------------------------------------------------------ */

/* LOCK's results: state (0 granted, 1 still waiting), lease_ms, ticket. */
static void _lock_ok(struct bbd_lockd *d, struct bbd_req *r, unsigned state,
		     uint64_t ticket)
{
	proto_put_u64(&r->res, state);
	proto_put_u64(&r->res, d->lease_ms);
	proto_put_u64(&r->res, ticket);
	r->nres = 3;
	r->status = EBB_OK;
}

/* Answer a parked request (off the queue already) from this thread. */
static void _wait_answer(struct bbd_lockd *d, struct lk_wait *w,
			 unsigned state, ebb_err err, const char *why)
{
	struct bbd_req *r = w->r;

	if (err == EBB_OK)
		_lock_ok(d, r, state, w->ticket);
	else
		bbd_req_fail(r, err, "%s", why);
	free(w);
	bbd_req_done(r);
}

/* ---- tables ------------------------------------------------------------- */

static struct bbd_locktab *_tab_locked(struct bbd_lockd *d,
				       struct bbd_inst *inst, bool create)
{
	struct bbd_locktab *t = inst->locks;

	if (t || !create)
		return t;
	if (!(t = calloc(1, sizeof(*t))))
		return NULL;
	t->inst = inst;
	t->next_ticket = 1;
	t->next = d->tabs;
	if (d->tabs)
		d->tabs->prev = t;
	d->tabs = t;
	inst->locks = t;
	return t;
}

static struct lk_inode *_inode_locked(struct bbd_locktab *t, uint64_t ino,
				      bool create)
{
	struct lk_inode **pp = &t->tab[(ino ^ (ino >> 17)) % LK_BUCKETS];
	struct lk_inode *in;

	for (in = *pp; in; in = in->next)
		if (in->ino == ino)
			return in;
	if (!create || !(in = calloc(1, sizeof(*in))))
		return NULL;
	in->ino = ino;
	in->next = *pp;
	*pp = in;
	return in;
}

/* Free in if nothing is left on it. */
static void _inode_gc_locked(struct bbd_locktab *t, struct lk_inode *in)
{
	struct lk_inode **pp = &t->tab[(in->ino ^ (in->ino >> 17)) %
				       LK_BUCKETS];

	if (in->posix || in->flock || in->wh)
		return;
	for (; *pp; pp = &(*pp)->next)
		if (*pp == in) {
			*pp = in->next;
			free(in);
			return;
		}
}

static void _client_touch_locked(struct bbd_lockd *d, struct bbd_locktab *t,
				 uint64_t client)
{
	struct lk_client *c;
	uint64_t exp = bbd_mono_ms() + d->lease_ms;

	for (c = t->clients; c; c = c->next)
		if (c->client == client) {
			c->expires_ms = exp;
			return;
		}
	if (!(c = calloc(1, sizeof(*c))))
		return; /* its locks then live until released */
	c->client = client;
	c->expires_ms = exp;
	c->next = t->clients;
	t->clients = c;
}

/* ---- POSIX and flock rules (Linux's, for one node) ----------------------- */

static bool _overlap(uint64_t s1, uint64_t e1, uint64_t s2, uint64_t e2)
{
	return s1 <= e2 && s2 <= e1;
}

static bool _same(const struct lk_range *l, uint64_t client, uint64_t owner)
{
	return l->client == client && l->owner == owner;
}

/* The lock of another owner that conflicts with (type, s, e) and starts
 * first (what GETLK reports), or NULL. */
static struct lk_range *_conflict(struct lk_range *list, uint64_t client,
				  uint64_t owner, uint8_t type, uint64_t s,
				  uint64_t e)
{
	struct lk_range *first = NULL;

	for (struct lk_range *l = list; l; l = l->next)
		if (!_same(l, client, owner) &&
		    (l->type == PROTO_LOCK_WRLCK || type == PROTO_LOCK_WRLCK) &&
		    _overlap(l->start, l->end, s, e) &&
		    (!first || l->start < first->start))
			first = l;
	return first;
}

/* Set (type, s, e) for an owner: its own locks over the range are
 * replaced (split where they stick out), touching ones of the same type
 * are merged.  F_UNLCK removes.  EBB_ENOMEM before any change. */
static ebb_err _posix_apply(struct lk_inode *in, uint64_t client,
			    uint64_t owner, uint32_t pid, uint8_t type,
			    uint64_t s, uint64_t e)
{
	struct lk_range *spare[2], **pp, *l;
	uint64_t ns = s, ne = e;
	unsigned nspare = 0;

	spare[0] = malloc(sizeof(*l));
	spare[1] = malloc(sizeof(*l));
	if (!spare[0] || !spare[1]) {
		free(spare[0]);
		free(spare[1]);
		return EBB_ENOMEM;
	}
	for (pp = &in->posix; (l = *pp);) {
		bool touch = _overlap(l->start, l->end, s, e) ||
			     (l->end != UINT64_MAX && l->end + 1 == s) ||
			     (e != UINT64_MAX && e + 1 == l->start);

		if (!_same(l, client, owner) || !touch) {
			pp = &l->next;
			continue;
		}
		if (type != PROTO_LOCK_UNLCK && l->type == type) {
			/* merge into the new range */
			if (l->start < ns)
				ns = l->start;
			if (l->end > ne)
				ne = l->end;
			*pp = l->next;
			free(l);
			continue;
		}
		if (!_overlap(l->start, l->end, s, e)) {
			pp = &l->next; /* touching, other type: stays */
			continue;
		}
		if (l->start < s && l->end > e) {
			/* the range is inside l: l keeps its left part, a
			 * spare takes the right one */
			struct lk_range *rt = spare[nspare++];

			*rt = *l;
			rt->start = e + 1;
			l->end = s - 1;
			rt->next = l->next;
			l->next = rt;
			pp = &rt->next;
		} else if (l->start < s) {
			l->end = s - 1;
			pp = &l->next;
		} else if (l->end > e) {
			l->start = e + 1;
			pp = &l->next;
		} else {
			*pp = l->next;
			free(l);
		}
	}
	if (type != PROTO_LOCK_UNLCK) {
		l = spare[nspare++];
		l->client = client;
		l->owner = owner;
		l->pid = pid;
		l->type = type;
		l->start = ns;
		l->end = ne;
		l->next = in->posix;
		in->posix = l;
	}
	while (nspare < 2)
		free(spare[nspare++]);
	return EBB_OK;
}

/* Drop the owner's flock lock, if any: true if there was one. */
static bool _flock_drop(struct lk_inode *in, uint64_t client, uint64_t owner)
{
	for (struct lk_range **pp = &in->flock; *pp; pp = &(*pp)->next)
		if (_same(*pp, client, owner)) {
			struct lk_range *l = *pp;

			*pp = l->next;
			free(l);
			return true;
		}
	return false;
}

static ebb_err _flock_add(struct lk_inode *in, uint64_t client,
			  uint64_t owner, uint32_t pid, uint8_t type)
{
	struct lk_range *l = calloc(1, sizeof(*l));

	if (!l)
		return EBB_ENOMEM;
	l->client = client;
	l->owner = owner;
	l->pid = pid;
	l->type = type;
	l->end = UINT64_MAX;
	l->next = in->flock;
	in->flock = l;
	return EBB_OK;
}

/* Try to take a lock: EBB_OK (taken), EBB_EAGAIN (conflict: *holder, if
 * not NULL, is the first conflicting lock) or EBB_ENOMEM. */
static ebb_err _try(struct lk_inode *in, uint64_t client, uint64_t owner,
		    uint32_t pid, uint8_t type, bool flock, uint64_t s,
		    uint64_t e)
{
	if (flock) {
		if (type == PROTO_LOCK_UNLCK)
			return EBB_OK;
		if (_conflict(in->flock, client, owner, type, 0, UINT64_MAX))
			return EBB_EAGAIN;
		return _flock_add(in, client, owner, pid, type);
	}
	if (type != PROTO_LOCK_UNLCK &&
	    _conflict(in->posix, client, owner, type, s, e))
		return EBB_EAGAIN;
	return _posix_apply(in, client, owner, pid, type, s, e);
}

/* ---- the wait queue ----------------------------------------------------- */

static void _queue_del(struct lk_wait *w)
{
	struct lk_inode *in = w->in;

	if (w->prev)
		w->prev->next = w->next;
	else
		in->wh = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		in->wt = w->prev;
	w->prev = w->next = NULL;
}

/* Insert by ticket (a re-sent request keeps its place). */
static void _queue_add(struct lk_inode *in, struct lk_wait *w)
{
	struct lk_wait *at = in->wt;

	while (at && at->ticket > w->ticket)
		at = at->prev;
	w->in = in;
	w->prev = at;
	w->next = at ? at->next : in->wh;
	if (w->next)
		w->next->prev = w;
	else
		in->wt = w;
	if (at)
		at->next = w;
	else
		in->wh = w;
}

/* Something was released on in: grant what can be granted, oldest
 * first, answering each from this thread. */
static void _wake_locked(struct bbd_lockd *d, struct bbd_locktab *t,
			 struct lk_inode *in)
{
	struct lk_wait *w, *next;

	for (w = in->wh; w; w = next) {
		ebb_err rc;

		next = w->next;
		rc = _try(in, w->client, w->owner, w->pid, w->type, w->flock,
			  w->start, w->end);
		if (rc == EBB_EAGAIN)
			continue;
		_queue_del(w);
		_client_touch_locked(d, t, w->client);
		d->granted += rc == EBB_OK;
		_wait_answer(d, w, 0, rc, "out of memory");
	}
	_inode_gc_locked(t, in);
}

/* ---- handlers ----------------------------------------------------------- */

/* The (ino) argument: its home must be this node. */
static ebb_err _check_home(struct bbd_req *r, uint64_t ino)
{
	uint64_t home = ino >> PROTO_INO_RANK_SHIFT;

	if (ino == 0)
		return bbd_req_fail(r, EBB_EINVAL, "ino 0");
	if (home != r->inst->rank)
		return bbd_req_fail(r, EBB_EINVAL, "ino %#llx: its home is "
				    "node %llu, not this node (%u)",
				    (unsigned long long)ino,
				    (unsigned long long)home,
				    (unsigned)r->inst->rank);
	return EBB_OK;
}

static ebb_err _check_lock(struct bbd_req *r, uint64_t type, uint64_t s,
			   uint64_t e, uint64_t flags, uint64_t okflags)
{
	if (type > PROTO_LOCK_WRLCK)
		return bbd_req_fail(r, EBB_EINVAL, "unknown lock type %llu",
				    (unsigned long long)type);
	if (s > e)
		return bbd_req_fail(r, EBB_EINVAL, "lock range start %llu > "
				    "end %llu", (unsigned long long)s,
				    (unsigned long long)e);
	if (flags & ~okflags)
		return bbd_req_fail(r, EBB_EINVAL, "unknown lock flags %#llx",
				    (unsigned long long)(flags & ~okflags));
	return EBB_OK;
}

ebb_err bbd_op_lock(struct bbd_req *r)
{
	struct bbd_lockd *d = r->bbd->lockd;
	uint64_t ino = 0, client = 0, owner = 0, type = 0, s = 0, e = 0;
	uint64_t flags = 0, ticket = 0;
	uint32_t pid = 0;
	struct bbd_locktab *t;
	struct lk_inode *in;
	struct lk_wait *w;
	bool flock, wait;
	ebb_err rc;

	proto_get_u64(&r->dec, &ino);
	proto_get_u64(&r->dec, &client);
	proto_get_u64(&r->dec, &owner);
	proto_get_u32(&r->dec, &pid);
	proto_get_u64(&r->dec, &type);
	proto_get_u64(&r->dec, &s);
	proto_get_u64(&r->dec, &e);
	proto_get_u64(&r->dec, &flags);
	proto_get_u64(&r->dec, &ticket);
	if (bbd_req_args(r) || _check_home(r, ino) ||
	    _check_lock(r, type, s, e, flags,
			PROTO_LOCK_WAIT | PROTO_LOCK_FLOCK))
		return r->status;
	flock = flags & PROTO_LOCK_FLOCK;
	wait = (flags & PROTO_LOCK_WAIT) && type != PROTO_LOCK_UNLCK;
	pthread_mutex_lock(&d->mu);
	if (!(t = _tab_locked(d, r->inst, true)) ||
	    !(in = _inode_locked(t, ino, true))) {
		bbd_req_fail(r, EBB_ENOMEM, "out of memory");
		goto unlock;
	}
	_client_touch_locked(d, t, client);
	if (flock) {
		/* Linux: the same type again is a no-op; a conversion drops
		 * the old lock first, even if the new one must wait. */
		for (struct lk_range *l = in->flock; l; l = l->next)
			if (_same(l, client, owner) && l->type == type) {
				_lock_ok(d, r, 0, 0);
				goto unlock;
			}
		if (_flock_drop(in, client, owner))
			_wake_locked(d, t, in);
		if (!(in = _inode_locked(t, ino, true))) {
			bbd_req_fail(r, EBB_ENOMEM, "out of memory");
			goto unlock;
		}
	}
	rc = _try(in, client, owner, pid, (uint8_t)type, flock, s, e);
	if (rc == EBB_OK) {
		d->granted += type != PROTO_LOCK_UNLCK;
		_lock_ok(d, r, 0, 0);
		if (type == PROTO_LOCK_UNLCK || !flock)
			_wake_locked(d, t, in); /* an unlock or a downgrade */
		else
			_inode_gc_locked(t, in);
		goto unlock;
	}
	if (rc != EBB_EAGAIN || !wait) {
		d->refused += rc == EBB_EAGAIN;
		bbd_req_fail(r, rc, rc == EBB_EAGAIN ?
			     "conflicting lock held" : "out of memory");
		_inode_gc_locked(t, in);
		goto unlock;
	}
	if (!ticket)
		ticket = t->next_ticket++;
	if (d->stop || !(w = calloc(1, sizeof(*w)))) {
		_lock_ok(d, r, 1, ticket); /* try again */
		goto unlock;
	}
	w->r = r;
	w->client = client;
	w->owner = owner;
	w->pid = pid;
	w->type = (uint8_t)type;
	w->flock = flock;
	w->start = s;
	w->end = e;
	w->ticket = ticket;
	w->deadline_ms = bbd_mono_ms() + d->park_ms;
	r->parked = true; /* from here on r belongs to the queue */
	_queue_add(in, w);
unlock:
	pthread_mutex_unlock(&d->mu);
	return EBB_OK;
}

ebb_err bbd_op_getlk(struct bbd_req *r)
{
	struct bbd_lockd *d = r->bbd->lockd;
	uint64_t ino = 0, client = 0, owner = 0, type = 0, s = 0, e = 0;
	uint64_t flags = 0;
	struct bbd_locktab *t;
	struct lk_inode *in;
	struct lk_range *l = NULL;

	proto_get_u64(&r->dec, &ino);
	proto_get_u64(&r->dec, &client);
	proto_get_u64(&r->dec, &owner);
	proto_get_u64(&r->dec, &type);
	proto_get_u64(&r->dec, &s);
	proto_get_u64(&r->dec, &e);
	proto_get_u64(&r->dec, &flags);
	if (bbd_req_args(r) || _check_home(r, ino) ||
	    _check_lock(r, type, s, e, flags, PROTO_LOCK_FLOCK))
		return r->status;
	if (type == PROTO_LOCK_UNLCK)
		return bbd_req_fail(r, EBB_EINVAL, "GETLK of type UNLCK");
	pthread_mutex_lock(&d->mu);
	if ((t = _tab_locked(d, r->inst, false)) &&
	    (in = _inode_locked(t, ino, false)))
		l = (flags & PROTO_LOCK_FLOCK) ?
			    _conflict(in->flock, client, owner, (uint8_t)type,
				      0, UINT64_MAX) :
			    _conflict(in->posix, client, owner, (uint8_t)type,
				      s, e);
	proto_put_u64(&r->res, l ? l->type : PROTO_LOCK_UNLCK);
	proto_put_u64(&r->res, l ? l->start : 0);
	proto_put_u64(&r->res, l ? l->end : 0);
	proto_put_u64(&r->res, l ? l->pid : 0);
	proto_put_u64(&r->res, l ? l->client : 0);
	r->nres = 5;
	r->status = EBB_OK;
	pthread_mutex_unlock(&d->mu);
	return EBB_OK;
}

ebb_err bbd_op_lock_cancel(struct bbd_req *r)
{
	struct bbd_lockd *d = r->bbd->lockd;
	uint64_t ino = 0, client = 0, owner = 0, n = 0;
	struct bbd_locktab *t;
	struct lk_inode *in;

	proto_get_u64(&r->dec, &ino);
	proto_get_u64(&r->dec, &client);
	proto_get_u64(&r->dec, &owner);
	if (bbd_req_args(r) || _check_home(r, ino))
		return r->status;
	pthread_mutex_lock(&d->mu);
	if ((t = _tab_locked(d, r->inst, false)) &&
	    (in = _inode_locked(t, ino, false))) {
		struct lk_wait *w, *next;

		for (w = in->wh; w; w = next) {
			next = w->next;
			if (w->client != client || w->owner != owner)
				continue;
			_queue_del(w);
			_wait_answer(d, w, 0, EBB_EINTR, "cancelled");
			n++;
		}
		_inode_gc_locked(t, in);
	}
	pthread_mutex_unlock(&d->mu);
	proto_put_u64(&r->res, n);
	r->nres = 1;
	r->status = EBB_OK;
	return EBB_OK;
}

/* How many locks client holds in t. */
static uint64_t _count_locked(struct bbd_locktab *t, uint64_t client)
{
	uint64_t n = 0;

	for (unsigned b = 0; b < LK_BUCKETS; b++)
		for (struct lk_inode *in = t->tab[b]; in; in = in->next) {
			for (struct lk_range *l = in->posix; l; l = l->next)
				n += l->client == client;
			for (struct lk_range *l = in->flock; l; l = l->next)
				n += l->client == client;
		}
	return n;
}

ebb_err bbd_op_lock_renew(struct bbd_req *r)
{
	struct bbd_lockd *d = r->bbd->lockd;
	struct bbd_locktab *t;
	uint64_t client = 0, n = 0;

	proto_get_u64(&r->dec, &client);
	if (bbd_req_args(r))
		return r->status;
	pthread_mutex_lock(&d->mu);
	if ((t = _tab_locked(d, r->inst, false))) {
		n = _count_locked(t, client);
		if (n)
			_client_touch_locked(d, t, client);
	}
	pthread_mutex_unlock(&d->mu);
	proto_put_u64(&r->res, d->lease_ms);
	proto_put_u64(&r->res, n);
	r->nres = 2;
	r->status = EBB_OK;
	return EBB_OK;
}

/* Drop client's locks on in (of owner only if any_owner is false), and
 * its parked requests too if waiters: how many locks went. */
static uint64_t _release_inode_locked(struct bbd_lockd *d,
				      struct bbd_locktab *t,
				      struct lk_inode *in, uint64_t client,
				      bool any_owner, uint64_t owner,
				      bool waiters)
{
	struct lk_range **lists[2] = {&in->posix, &in->flock};
	uint64_t n = 0;

	for (unsigned i = 0; i < 2; i++)
		for (struct lk_range **pp = lists[i]; *pp;) {
			struct lk_range *l = *pp;

			if (l->client == client &&
			    (any_owner || l->owner == owner)) {
				*pp = l->next;
				free(l);
				n++;
			} else {
				pp = &l->next;
			}
		}
	if (waiters) {
		struct lk_wait *w, *next;

		for (w = in->wh; w; w = next) {
			next = w->next;
			if (w->client == client) {
				_queue_del(w);
				_wait_answer(d, w, 1, EBB_OK, "");
			}
		}
	}
	_wake_locked(d, t, in); /* may free in */
	return n;
}

/* Drop client's locks in t (on ino only if ino != 0). */
static uint64_t _release_locked(struct bbd_lockd *d, struct bbd_locktab *t,
				uint64_t ino, uint64_t client, bool any_owner,
				uint64_t owner, bool waiters)
{
	uint64_t n = 0;

	if (ino) {
		struct lk_inode *in = _inode_locked(t, ino, false);

		return in ? _release_inode_locked(d, t, in, client, any_owner,
						  owner, waiters) : 0;
	}
	for (unsigned b = 0; b < LK_BUCKETS; b++) {
		struct lk_inode *in, *next;

		for (in = t->tab[b]; in; in = next) {
			next = in->next;
			n += _release_inode_locked(d, t, in, client,
						   any_owner, owner, waiters);
		}
	}
	return n;
}

ebb_err bbd_op_lock_release(struct bbd_req *r)
{
	struct bbd_lockd *d = r->bbd->lockd;
	uint64_t ino = 0, client = 0, owner = 0, n = 0;
	const msgpack_object *o = NULL;
	struct bbd_locktab *t;
	bool any_owner = false;

	proto_get_u64(&r->dec, &ino);
	proto_get_u64(&r->dec, &client);
	if (proto_get_obj(&r->dec, &o) && o->type == MSGPACK_OBJECT_NIL)
		any_owner = true;
	else if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		owner = o->via.u64;
	else if (o)
		return bbd_req_fail(r, EBB_E_PROTO, "LOCK_RELEASE: owner is "
				    "not an unsigned integer or nil");
	if (bbd_req_args(r) || (ino && _check_home(r, ino)))
		return r->status;
	pthread_mutex_lock(&d->mu);
	if ((t = _tab_locked(d, r->inst, false)))
		n = _release_locked(d, t, ino, client, any_owner, owner,
				    false);
	pthread_mutex_unlock(&d->mu);
	proto_put_u64(&r->res, n);
	r->nres = 1;
	r->status = EBB_OK;
	return EBB_OK;
}

/* ---- NODE_STATUS ---------------------------------------------------------- */

void bbd_lock_status(struct bbd *b, struct proto_enc *res)
{
	struct bbd_lockd *d = b->lockd;
	uint64_t tabs = 0, inodes = 0, held = 0, waiting = 0, clients = 0;
	uint64_t granted = 0, refused = 0, expired = 0, dropped = 0;

	if (d) {
		pthread_mutex_lock(&d->mu);
		for (struct bbd_locktab *t = d->tabs; t; t = t->next) {
			tabs++;
			for (struct lk_client *c = t->clients; c; c = c->next)
				clients++;
			for (unsigned k = 0; k < LK_BUCKETS; k++)
				for (struct lk_inode *in = t->tab[k]; in;
				     in = in->next) {
					inodes++;
					for (struct lk_range *l = in->posix; l;
					     l = l->next)
						held++;
					for (struct lk_range *l = in->flock; l;
					     l = l->next)
						held++;
					for (struct lk_wait *w = in->wh; w;
					     w = w->next)
						waiting++;
				}
		}
		granted = d->granted;
		refused = d->refused;
		expired = d->expired;
		dropped = d->dropped;
		pthread_mutex_unlock(&d->mu);
	}
	proto_put_cstr(res, "locks");
	proto_put_map(res, 9);
	proto_put_cstr(res, "instances");
	proto_put_u64(res, tabs);
	proto_put_cstr(res, "inodes");
	proto_put_u64(res, inodes);
	proto_put_cstr(res, "held");
	proto_put_u64(res, held);
	proto_put_cstr(res, "waiting");
	proto_put_u64(res, waiting);
	proto_put_cstr(res, "clients");
	proto_put_u64(res, clients);
	proto_put_cstr(res, "granted");
	proto_put_u64(res, granted);
	proto_put_cstr(res, "refused");
	proto_put_u64(res, refused);
	proto_put_cstr(res, "expired");
	proto_put_u64(res, expired);
	proto_put_cstr(res, "dropped");
	proto_put_u64(res, dropped);
}

/* ---- the service thread: park deadlines and leases ----------------------- */

static void _tick_locked(struct bbd_lockd *d, uint64_t now, bool all)
{
	for (struct bbd_locktab *t = d->tabs; t; t = t->next) {
		struct lk_client **cp = &t->clients, *c;
		uint64_t n;

		for (unsigned b = 0; b < LK_BUCKETS; b++) {
			struct lk_inode *in, *inext;

			for (in = t->tab[b]; in; in = inext) {
				struct lk_wait *w, *next;

				inext = in->next;
				for (w = in->wh; w; w = next) {
					next = w->next;
					if (!all && w->deadline_ms > now)
						continue;
					_queue_del(w);
					_wait_answer(d, w, 1, EBB_OK, "");
				}
				_inode_gc_locked(t, in);
			}
		}
		while ((c = *cp)) {
			if (c->expires_ms > now) {
				cp = &c->next;
				continue;
			}
			*cp = c->next;
			if ((n = _release_locked(d, t, 0, c->client, true, 0,
						 true))) {
				d->expired++;
				d->dropped += n;
				log_info("instance %s: lease of lock client "
					 "%016llx expired: its %llu locks are "
					 "dropped", t->inst->id,
					 (unsigned long long)c->client,
					 (unsigned long long)n);
			}
			free(c);
		}
	}
}

static void *_lockd_main(void *arg)
{
	struct bbd *b = arg;
	struct bbd_lockd *d = b->lockd;
	unsigned tick = d->park_ms / 4;

	if (tick > LK_TICK_MAX_MS)
		tick = LK_TICK_MAX_MS;
	if (tick < 20)
		tick = 20;
	pthread_mutex_lock(&d->mu);
	while (!d->stop) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)tick * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&d->cv, &d->mu, &ts);
		if (!d->stop)
			_tick_locked(d, bbd_mono_ms(), false);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

ebb_err bbd_lock_init(struct bbd *b)
{
	struct bbd_lockd *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;

	if (!d)
		return EBB_ENOMEM;
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	d->lease_ms = b->conf.lock_lease_ms ? b->conf.lock_lease_ms :
					      BBD_LOCK_LEASE_MS;
	d->park_ms = d->lease_ms / 2 < LK_PARK_MAX_MS ? d->lease_ms / 2 :
							LK_PARK_MAX_MS;
	b->lockd = d;
	if (pthread_create(&d->thread, NULL, _lockd_main, b) != 0)
		return EBB_ENOMEM;
	d->started = true;
	return EBB_OK;
}

void bbd_lock_stop(struct bbd *b)
{
	struct bbd_lockd *d = b->lockd;

	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = true;
	_tick_locked(d, bbd_mono_ms(), true); /* every waiter: try again */
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
	if (d->started)
		pthread_join(d->thread, NULL);
	d->started = false;
}

/* Free t's contents (no waiter may be left: they hold t->inst). */
static void _tab_free(struct bbd_locktab *t)
{
	for (unsigned b = 0; b < LK_BUCKETS; b++) {
		struct lk_inode *in, *next;

		for (in = t->tab[b]; in; in = next) {
			struct lk_range *lists[2] = {in->posix, in->flock};

			next = in->next;
			for (unsigned i = 0; i < 2; i++)
				while (lists[i]) {
					struct lk_range *l = lists[i];

					lists[i] = l->next;
					free(l);
				}
			free(in);
		}
	}
	while (t->clients) {
		struct lk_client *c = t->clients;

		t->clients = c->next;
		free(c);
	}
	free(t);
}

void bbd_lock_inst_gone(struct bbd_inst *inst)
{
	struct bbd_lockd *d = inst->bbd->lockd;
	struct bbd_locktab *t;

	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	if ((t = inst->locks)) {
		for (unsigned b = 0; b < LK_BUCKETS; b++)
			for (struct lk_inode *in = t->tab[b]; in;
			     in = in->next)
				while (in->wh) {
					struct lk_wait *w = in->wh;

					_queue_del(w);
					_wait_answer(d, w, 0, EBB_E_NOINST,
						     "instance destroyed");
				}
	}
	pthread_mutex_unlock(&d->mu);
}

void bbd_lock_inst_free(struct bbd_inst *inst)
{
	struct bbd_lockd *d = inst->bbd->lockd;
	struct bbd_locktab *t;

	if (!d) {
		return;
	}
	pthread_mutex_lock(&d->mu);
	if ((t = inst->locks)) {
		if (t->prev)
			t->prev->next = t->next;
		else
			d->tabs = t->next;
		if (t->next)
			t->next->prev = t->prev;
		inst->locks = NULL;
		_tab_free(t);
	}
	pthread_mutex_unlock(&d->mu);
}

void bbd_lock_fini(struct bbd *b)
{
	struct bbd_lockd *d = b->lockd;

	if (!d)
		return;
	bbd_lock_stop(b);
	while (d->tabs) {
		struct bbd_locktab *t = d->tabs;

		d->tabs = t->next;
		t->inst->locks = NULL;
		_tab_free(t);
	}
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	free(d);
	b->lockd = NULL;
}
