/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb's lock calls: fcntl and flock locks held by the inodes' home
 * nodes (bbd/bbd_lock.c), and the leases that keep them.
 *
 * DESIGN: a handle draws a random 64-bit client id at attach; every lock
 * request carries (client, owner, pid), so locks survive libebb moving a
 * caller to another connection.  A node keeps a client's locks while its
 * lease runs (the node's lock_lease, learnt from the replies): a thread,
 * started at the first lock call, sends LOCK_RENEW every lease/3 to each
 * node where this handle may hold locks, and forgets a node once it says
 * none are left (unless a lock call to it ran in between).  A waiting
 * lock (F_SETLKW) is parked by the node and answered "still waiting"
 * after at most 2 s: the call sends it again with the ticket the node
 * gave, which keeps its place in the node's queue, until it is granted,
 * fails, or the caller cancels (*cancel set, then LOCK_CANCEL wakes it).
 *
 * Data under a lock: a granted lock refreshes the size this handle knows
 * of the inode (if open here) and drops its read-ahead, so the bytes the
 * previous holder wrote and published are read; a writer publishes before
 * it unlocks (ebb_publish; ebb-fuse does it at every unlock).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ebb_int.h"

#define LOCK_LEASE_DEFAULT_MS 15000u

struct ebb_locks {
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* the renewer sleeps on it */
	uint64_t client;           /* immutable */
	unsigned lease_ms;         /* the shortest a node said; mu */
	bool *held;                /* per node: may hold locks there; mu */
	unsigned *busy;            /* lock calls in flight per node; mu */
	uint64_t *gen;             /* lock calls ended per node; mu */
	bool started, stop;        /* the renewer; mu */
	pthread_t thread;
};

ebb_err locks_init(ebb_t *h)
{
	struct ebb_locks *l = calloc(1, sizeof(*l));
	pthread_condattr_t ca;
	unsigned n = h->net.n;

	if (!l)
		return EBB_ENOMEM;
	l->held = calloc(n, sizeof(*l->held));
	l->busy = calloc(n, sizeof(*l->busy));
	l->gen = calloc(n, sizeof(*l->gen));
	if (!l->held || !l->busy || !l->gen) {
		free(l->held);
		free(l->busy);
		free(l->gen);
		free(l);
		return EBB_ENOMEM;
	}
	if (getrandom(&l->client, sizeof(l->client), 0) !=
	    (ssize_t)sizeof(l->client)) {
		struct timespec ts;

		/* no entropy source: time and pid still make it unique
		 * among a job's clients */
		clock_gettime(CLOCK_REALTIME, &ts);
		l->client = ((uint64_t)ts.tv_sec << 32) ^
			    (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 20);
	}
	if (!l->client)
		l->client = 1;
	l->lease_ms = LOCK_LEASE_DEFAULT_MS;
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	h->locks = l;
	return EBB_OK;
}

/* LOCK_RENEW to every node where h may hold locks; forget those that say
 * none is left and saw no lock call meanwhile. */
static void _renew(ebb_t *h)
{
	struct ebb_locks *l = h->locks;
	unsigned n = h->net.n, k = 0;
	struct ebb_req *reqs = calloc(n, sizeof(*reqs));
	uint64_t *gen = calloc(n, sizeof(*gen));

	if (!reqs || !gen)
		goto out;
	pthread_mutex_lock(&l->mu);
	for (unsigned i = 0; i < n; i++)
		if (l->held[i]) {
			struct proto_enc *e = req_begin(&h->net, &reqs[k], i,
						PROTO_OP_LOCK_RENEW, 2);

			proto_put_cstr(e, h->id);
			proto_put_u64(e, l->client);
			gen[k++] = l->gen[i];
		}
	pthread_mutex_unlock(&l->mu);
	if (!k)
		goto out;
	net_run(&h->net, reqs, k);
	pthread_mutex_lock(&l->mu);
	for (unsigned j = 0; j < k; j++) {
		unsigned i = reqs[j].node;
		uint64_t lease = 0, nlocks = 1;

		if (reqs[j].status != EBB_OK ||
		    !proto_get_u64(&reqs[j].dec, &lease) ||
		    !proto_get_u64(&reqs[j].dec, &nlocks))
			continue; /* a node down: try again next time */
		if (lease >= 100 && lease < l->lease_ms)
			l->lease_ms = (unsigned)lease;
		if (nlocks == 0 && l->busy[i] == 0 && l->gen[i] == gen[j])
			l->held[i] = false;
	}
	pthread_mutex_unlock(&l->mu);
out:
	for (unsigned j = 0; reqs && j < k; j++)
		req_release(&reqs[j]);
	free(reqs);
	free(gen);
}

static void *_renewer(void *arg)
{
	ebb_t *h = arg;
	struct ebb_locks *l = h->locks;

	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		struct timespec ts;
		unsigned ms = l->lease_ms / 3;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
		if (l->stop)
			break;
		pthread_mutex_unlock(&l->mu);
		_renew(h);
		pthread_mutex_lock(&l->mu);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

void locks_fini(ebb_t *h)
{
	struct ebb_locks *l = h->locks;
	struct ebb_req *reqs;
	unsigned k = 0;

	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	if (l->started)
		pthread_join(l->thread, NULL);
	/* Everything this handle holds goes now, not at the lease's end. */
	if ((reqs = calloc(h->net.n, sizeof(*reqs)))) {
		for (unsigned i = 0; i < h->net.n; i++) {
			struct proto_enc *e;

			if (!l->held[i])
				continue;
			e = req_begin(&h->net, &reqs[k++], i,
				      PROTO_OP_LOCK_RELEASE, 4);
			proto_put_cstr(e, h->id);
			proto_put_u64(e, 0);
			proto_put_u64(e, l->client);
			proto_put_nil(e);
		}
		if (k)
			net_run(&h->net, reqs, k);
		for (unsigned j = 0; j < k; j++)
			req_release(&reqs[j]);
		free(reqs);
	}
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l->held);
	free(l->busy);
	free(l->gen);
	free(l);
	h->locks = NULL;
}

/* A lock call to node begins: the node may hold locks of h from now on,
 * and the renewer runs. */
static void _call_begin(ebb_t *h, unsigned node)
{
	struct ebb_locks *l = h->locks;

	pthread_mutex_lock(&l->mu);
	l->held[node] = true;
	l->busy[node]++;
	if (!l->started && !l->stop &&
	    pthread_create(&l->thread, NULL, _renewer, h) == 0)
		l->started = true;
	pthread_mutex_unlock(&l->mu);
}

static void _call_end(ebb_t *h, unsigned node, uint64_t lease)
{
	struct ebb_locks *l = h->locks;

	pthread_mutex_lock(&l->mu);
	l->busy[node]--;
	l->gen[node]++;
	if (lease >= 100 && lease < l->lease_ms) {
		l->lease_ms = (unsigned)lease;
		pthread_cond_signal(&l->cv); /* renew at the new pace */
	}
	pthread_mutex_unlock(&l->mu);
}

/* fl -> (type, start, end) on the wire. */
static ebb_err _range(const struct flock *fl, int flags, uint64_t *type,
		      uint64_t *s, uint64_t *e)
{
	int64_t start = fl->l_start, len = fl->l_len;

	switch (fl->l_type) {
	case F_UNLCK: *type = PROTO_LOCK_UNLCK; break;
	case F_RDLCK: *type = PROTO_LOCK_RDLCK; break;
	case F_WRLCK: *type = PROTO_LOCK_WRLCK; break;
	default: return EBB_EINVAL;
	}
	if (flags & EBB_LOCK_FLOCK) {
		*s = 0;
		*e = UINT64_MAX;
		return EBB_OK;
	}
	if (fl->l_whence != SEEK_SET || start < 0)
		return EBB_EINVAL;
	if (len < 0) {
		if (start + len < 0)
			return EBB_EINVAL;
		*s = (uint64_t)(start + len);
		*e = (uint64_t)start - 1;
	} else if (len == 0) {
		*s = (uint64_t)start;
		*e = UINT64_MAX;
	} else {
		if (len - 1 > INT64_MAX - start)
			return EBB_EINVAL; /* EOVERFLOW in fcntl(2) */
		*s = (uint64_t)start;
		*e = (uint64_t)(start + len - 1);
	}
	return EBB_OK;
}

int ebb_lock_ino(ebb_t *h, uint64_t ino, uint64_t owner, pid_t pid,
		 const struct flock *fl, int flags, const volatile int *cancel)
{
	uint64_t type, s, e, ticket = 0, lease = 0;
	unsigned node;
	ebb_err err;

	if (!h || !fl || (flags & ~(EBB_LOCK_WAIT | EBB_LOCK_FLOCK)))
		return fail_errno(EBB_EINVAL);
	if ((err = inode_home(h, ino, &node)) != EBB_OK ||
	    (err = _range(fl, flags, &type, &s, &e)) != EBB_OK)
		return fail_errno(err);
	_call_begin(h, node);
	for (;;) {
		struct ebb_req r;
		struct proto_enc *enc;
		uint64_t state = PROTO_LOCK_GRANTED;

		if (cancel && *cancel) {
			err = EBB_EINTR;
			break;
		}
		enc = req_begin(&h->net, &r, node, PROTO_OP_LOCK, 10);
		proto_put_cstr(enc, h->id);
		proto_put_u64(enc, ino);
		proto_put_u64(enc, h->locks->client);
		proto_put_u64(enc, owner);
		proto_put_u64(enc, pid > 0 ? (uint64_t)pid : 0);
		proto_put_u64(enc, type);
		proto_put_u64(enc, s);
		proto_put_u64(enc, e);
		proto_put_u64(enc, (flags & EBB_LOCK_WAIT ? PROTO_LOCK_WAIT : 0) |
				   (flags & EBB_LOCK_FLOCK ? PROTO_LOCK_FLOCK :
							     0));
		proto_put_u64(enc, ticket);
		err = net_run(&h->net, &r, 1);
		if (err == EBB_OK && (!proto_get_u64(&r.dec, &state) ||
				      !proto_get_u64(&r.dec, &lease) ||
				      !proto_get_u64(&r.dec, &ticket)))
			err = EBB_EPROTO;
		req_release(&r);
		/* A cancelled wait (EINTR) that was not ours waits on.  A
		 * wait that timed out (a client timeout under the node's park
		 * time) is sent again: for the same owner a LOCK is
		 * idempotent, so a grant whose reply came too late is simply
		 * granted again. */
		if (err == EBB_EINTR && !(cancel && *cancel))
			continue;
		if (err == EBB_ETIMEDOUT && (flags & EBB_LOCK_WAIT) &&
		    !(cancel && *cancel))
			continue;
		if (err != EBB_OK || state == PROTO_LOCK_GRANTED)
			break;
	}
	_call_end(h, node, lease);
	/* What the previous holder wrote is read now (DESIGN). */
	if (err == EBB_OK && type != PROTO_LOCK_UNLCK)
		inode_refresh(h, ino);
	return err == EBB_OK ? 0 : fail_errno(err);
}

int ebb_lock_cancel_ino(ebb_t *h, uint64_t ino, uint64_t owner)
{
	struct ebb_req r;
	struct proto_enc *enc;
	unsigned node;
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	if ((err = inode_home(h, ino, &node)) != EBB_OK)
		return fail_errno(err);
	enc = req_begin(&h->net, &r, node, PROTO_OP_LOCK_CANCEL, 4);
	proto_put_cstr(enc, h->id);
	proto_put_u64(enc, ino);
	proto_put_u64(enc, h->locks->client);
	proto_put_u64(enc, owner);
	err = net_run(&h->net, &r, 1);
	req_release(&r);
	return err == EBB_OK ? 0 : fail_errno(err);
}

int ebb_getlk_ino(ebb_t *h, uint64_t ino, uint64_t owner, struct flock *fl,
		  int flags)
{
	uint64_t type, s, e, pid = 0, client = 0;
	struct ebb_req r;
	struct proto_enc *enc;
	unsigned node;
	ebb_err err;

	if (!h || !fl || (flags & ~EBB_LOCK_FLOCK))
		return fail_errno(EBB_EINVAL);
	if ((err = inode_home(h, ino, &node)) != EBB_OK ||
	    (err = _range(fl, flags, &type, &s, &e)) != EBB_OK)
		return fail_errno(err);
	if (type == PROTO_LOCK_UNLCK)
		return fail_errno(EBB_EINVAL);
	enc = req_begin(&h->net, &r, node, PROTO_OP_GETLK, 8);
	proto_put_cstr(enc, h->id);
	proto_put_u64(enc, ino);
	proto_put_u64(enc, h->locks->client);
	proto_put_u64(enc, owner);
	proto_put_u64(enc, type);
	proto_put_u64(enc, s);
	proto_put_u64(enc, e);
	proto_put_u64(enc, flags & EBB_LOCK_FLOCK ? PROTO_LOCK_FLOCK : 0);
	err = net_run(&h->net, &r, 1);
	if (err == EBB_OK && (!proto_get_u64(&r.dec, &type) ||
			      !proto_get_u64(&r.dec, &s) ||
			      !proto_get_u64(&r.dec, &e) ||
			      !proto_get_u64(&r.dec, &pid) ||
			      !proto_get_u64(&r.dec, &client)))
		err = EBB_EPROTO;
	req_release(&r);
	if (err != EBB_OK)
		return fail_errno(err);
	fl->l_whence = SEEK_SET;
	fl->l_pid = 0;
	if (type == PROTO_LOCK_UNLCK) {
		fl->l_type = F_UNLCK;
		return 0;
	}
	fl->l_type = type == PROTO_LOCK_RDLCK ? F_RDLCK : F_WRLCK;
	fl->l_start = s > INT64_MAX ? INT64_MAX : (off_t)s;
	/* to the end of file, as fcntl says it: l_len 0 */
	fl->l_len = e >= INT64_MAX ? 0 : (off_t)(e - s + 1);
	/* A pid means something only on the holder's node (this handle);
	 * a remote holder shows 0, as Linux's NFSv4 client does. */
	if (client == h->locks->client && pid <= INT_MAX)
		fl->l_pid = (pid_t)pid;
	return 0;
}

int ebb_unlock_owner_ino(ebb_t *h, uint64_t ino, uint64_t owner)
{
	struct ebb_req r;
	struct proto_enc *enc;
	unsigned node;
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	if ((err = inode_home(h, ino, &node)) != EBB_OK)
		return fail_errno(err);
	_call_begin(h, node);
	enc = req_begin(&h->net, &r, node, PROTO_OP_LOCK_RELEASE, 4);
	proto_put_cstr(enc, h->id);
	proto_put_u64(enc, ino);
	proto_put_u64(enc, h->locks->client);
	proto_put_u64(enc, owner);
	err = net_run(&h->net, &r, 1);
	req_release(&r);
	_call_end(h, node, 0);
	return err == EBB_OK ? 0 : fail_errno(err);
}
