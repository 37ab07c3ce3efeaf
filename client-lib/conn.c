/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb's RPC engine: connections, HELLO, pending table, readers.
 *
 * DESIGN: see conn_int.h for the model (a few connections per member, one
 * reader at a time per connection: a waiting caller or the receiver
 * thread, requests matched by msgid, completions on the caller's waiter).
 * Connecting (connect.c) is done by the calling thread, for many nodes at once:
 * non-blocking connects are started on all of them, then one poll loop
 * takes each through connect -> HELLO sent -> HELLO reply read, so an admin
 * call to 1,000 nodes costs one round trip, not 1,000, and a dead node
 * costs at most the timeout.  Each connection gets its own fresh MUNGE
 * credential (munged refuses a replayed one).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "conn_priv.h"

/* ---- time ---------------------------------------------------------------- */

uint64_t conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct timespec conn_abs_ms(uint64_t ms_from_now)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms_from_now / 1000);
	ts.tv_nsec += (long)(ms_from_now % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

/* ---- net ------------------------------------------------------------------ */

/* The calling thread's slot: 1, 2, 3... in the order threads first issue a
 * request, for the life of the thread.  A per-thread slot (rather than a
 * per-request round robin) keeps one thread's requests to a node on one
 * connection, hence in order, and each connection's pending table warm. */
static unsigned _thread_slot(void)
{
	static unsigned next;           /* atomic */
	static __thread unsigned slot;  /* 0: not assigned yet */

	if (!slot)
		slot = __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
	return slot;
}

/* The connection the calling thread uses to talk to node. */
struct ebb_conn *conn_for(const struct ebb_net *net, unsigned node)
{
	unsigned j = net->per > 1 ? _thread_slot() % net->per : 0;

	return net->conns[node * net->per + j];
}

static void _conn_free(struct ebb_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->state == CONN_READY && c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&c->lock);
	/* The receiver sees EOF, fails what is pending, closes fd, exits. */
	if (c->rx_joinable)
		pthread_join(c->rx, NULL);
	if (c->fd >= 0)
		close(c->fd);
	free(c->rb.b);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->send_lock);
	free(c->addr);
	free(c);
}

ebb_err net_init(struct ebb_net *net, const char *const *members,
		 unsigned n, struct ebb_cfg *cfg)
{
	pthread_condattr_t ca;
	unsigned per = cfg->conns_per_node ? cfg->conns_per_node : 1;

	memset(net, 0, sizeof(*net));
	if (n == 0 || n > PROTO_MAX_MEMBERS || !members)
		return EBB_EINVAL;
	net->conns = calloc((size_t)n * per, sizeof(*net->conns));
	net->local = net->conns ? local_new(n) : NULL;
	if (!net->local) {
		free(net->conns);
		net->conns = NULL;
		return EBB_ENOMEM;
	}
	net->cfg = *cfg;
	net->n = n;
	net->per = per;
	net->next_msgid = 1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (unsigned i = 0; i < n * per; i++) {
		struct ebb_conn *c = calloc(1, sizeof(*c));

		if (!c || !members[i / per] ||
		    !(c->addr = strdup(members[i / per]))) {
			free(c);
			goto fail;
		}
		c->cfg = &net->cfg;
		c->net = net;
		c->node = i / per;
		c->fd = -1;
		c->efd = -1;
		pthread_mutex_init(&c->send_lock, NULL);
		pthread_mutex_init(&c->lock, NULL);
		pthread_cond_init(&c->cv, &ca);
		net->conns[i] = c;
	}
	pthread_condattr_destroy(&ca);
	memset(cfg, 0, sizeof(*cfg)); /* taken over */
	return EBB_OK;
fail:
	pthread_condattr_destroy(&ca);
	for (unsigned i = 0; i < n * per; i++)
		_conn_free(net->conns[i]);
	free(net->conns);
	local_free(net->local, n);
	net->local = NULL;
	memset(&net->cfg, 0, sizeof(net->cfg));
	net->conns = NULL;
	net->n = 0;
	return members ? EBB_ENOMEM : EBB_EINVAL;
}

void net_fini(struct ebb_net *net)
{
	if (!net->conns)
		return;
	for (unsigned i = 0; i < net->n * net->per; i++)
		_conn_free(net->conns[i]);
	free(net->conns);
	net->conns = NULL;
	local_free(net->local, net->n);
	net->local = NULL;
	cfg_fini(&net->cfg);
}

const char *net_addr(const struct ebb_net *net, unsigned node)
{
	return node < net->n ? net->conns[node * net->per]->addr : "?";
}

void net_why(const struct ebb_net *net, unsigned node, char *buf,
	     size_t size)
{
	struct ebb_conn *c;

	if (!size)
		return;
	buf[0] = '\0';
	if (node >= net->n)
		return;
	c = conn_for(net, node);
	pthread_mutex_lock(&c->lock);
	if (c->state == CONN_DEAD)
		snprintf(buf, size, "%s", c->fail_why);
	pthread_mutex_unlock(&c->lock);
}

/* ---- waiters and requests ------------------------------------------------- */

void waiter_init(struct ebb_waiter *w)
{
	pthread_condattr_t ca;

	memset(w, 0, sizeof(*w));
	w->start_ms = conn_now_ms();
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
}

void waiter_init_async(struct ebb_waiter *w)
{
	waiter_init(w);
	w->async = true;
	w->bulk = true;
}

void waiter_restart(struct ebb_waiter *w)
{
	w->start_ms = conn_now_ms();
}

void waiter_fini(struct ebb_waiter *w)
{
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

/* Hand r to its waiter.  Caller holds r->conn->lock if r was issued (the
 * lock order is conn -> waiter). */
static void _complete(struct ebb_req *r, ebb_err status)
{
	struct ebb_waiter *w = r->w;

	if (status != EBB_OK)
		r->status = status;
	pthread_mutex_lock(&w->mu);
	r->done = true;
	r->dnext = NULL;
	if (w->tail)
		w->tail->dnext = r;
	else
		w->head = r;
	w->tail = r;
	w->busy--;
	pthread_cond_signal(&w->cv); /* only its owner waits on it */
	pthread_mutex_unlock(&w->mu);
}

struct proto_enc *req_begin(struct ebb_net *net, struct ebb_req *r,
			    unsigned node, uint32_t op, unsigned nargs)
{
	memset(r, 0, sizeof(*r));
	r->node = node;
	r->op = op;
	r->msgid = __atomic_fetch_add(&net->next_msgid, 1, __ATOMIC_RELAXED);
	proto_enc_request(&r->enc, r->msgid, op, nargs);
	r->has_enc = true;
	return &r->enc;
}

void req_release(struct ebb_req *r)
{
	if (r->has_enc) {
		proto_enc_free(&r->enc);
		r->has_enc = false;
	}
	if (r->has_dec) {
		proto_dec_free(&r->dec);
		r->has_dec = false;
	}
	free(r->hbuf);
	r->hbuf = NULL;
}

void req_detail(const struct ebb_req *r, char *buf, size_t size)
{
	struct proto_dec d;
	const char *s = NULL;
	uint32_t len = 0;

	if (!size)
		return;
	buf[0] = '\0';
	if (!r->has_dec || r->status == EBB_OK)
		return;
	d = r->dec; /* a private cursor: the request's stays untouched */
	if (proto_get_str(&d, &s, &len, 4096) && len) {
		if (len >= size)
			len = (uint32_t)size - 1;
		memcpy(buf, s, len);
		buf[len] = '\0';
	}
}

/* ---- pending table (conn->lock held) -------------------------------------- */

static void _pend_add_locked(struct ebb_conn *c, struct ebb_req *r)
{
	unsigned b = (unsigned)(r->msgid % PEND_BUCKETS);

	r->hnext = c->pend[b];
	c->pend[b] = r;
	r->state = REQ_PENDING;
	c->npend++;
}

static struct ebb_req *_pend_take_locked(struct ebb_conn *c, uint64_t msgid)
{
	struct ebb_req **pp = &c->pend[msgid % PEND_BUCKETS];

	for (; *pp; pp = &(*pp)->hnext) {
		struct ebb_req *r = *pp;
		if (r->msgid == msgid) {
			*pp = r->hnext;
			r->hnext = NULL;
			r->state = REQ_OFF;
			c->npend--;
			return r;
		}
	}
	return NULL;
}

static void _pend_fail_all_locked(struct ebb_conn *c, ebb_err err)
{
	for (unsigned b = 0; b < PEND_BUCKETS; b++) {
		while (c->pend[b]) {
			struct ebb_req *r = c->pend[b];
			c->pend[b] = r->hnext;
			r->hnext = NULL;
			r->state = REQ_OFF;
			_complete(r, err);
		}
	}
	c->npend = 0;
}

/* ---- socket helpers ------------------------------------------------------- */

/* Wait until fd has something to read, or deadline (CLOCK_MONOTONIC ms)
 * passes: false then. */
static bool _wait_in(int fd, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = conn_now_ms();
		int rc;

		if (now >= deadline)
			return false;
		rc = poll(&p, 1, deadline - now > INT_MAX ? INT_MAX :
						      (int)(deadline - now));
		if (rc > 0 || (rc < 0 && errno != EINTR))
			return true; /* recv tells what it was */
	}
}

/* Read exactly len bytes of the stream into dst, or drop them if dst is
 * NULL.  What the connection's buffer holds is copied; a large rest goes
 * straight from the socket into dst.  One recv() takes in whatever the
 * socket holds (often several small replies), so a small reply costs one
 * system call, not one for its prefix and one for its header.  deadline 0:
 * block (the receiver); else give up when it passes.  1 done, 0 deadline,
 * -1 EOF or error. */
static int _rx_take(int fd, struct rxbuf *rb, void *dst, size_t len,
		    uint64_t deadline)
{
	uint8_t *p = dst;
	int fl = deadline ? MSG_DONTWAIT : 0;

	while (len) {
		size_t have = rb->w - rb->r;
		bool direct;
		ssize_t k;

		if (have) {
			size_t n = have < len ? have : len;
			if (p) {
				memcpy(p, rb->b + rb->r, n);
				p += n;
			}
			rb->r += n;
			len -= n;
			continue;
		}
		rb->r = rb->w = 0;
		direct = p && len >= RX_BUF;
		k = direct ? recv(fd, p, len, fl ? fl : MSG_WAITALL) :
			     recv(fd, rb->b, RX_BUF, fl);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && deadline &&
		    (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!_wait_in(fd, deadline))
				return 0;
			continue;
		}
		if (k <= 0)
			return -1;
		if (direct) {
			p += k;
			len -= (size_t)k;
		} else {
			rb->w = (size_t)k;
		}
	}
	return 1;
}

/* Write a whole frame (iov is modified).  SO_SNDTIMEO bounds each wait. */
static ebb_err _send_iov(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
		ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return (errno == EAGAIN || errno == EWOULDBLOCK) ?
			       EBB_ETIMEDOUT : EBB_EIO;
		while (iovcnt > 0 && (size_t)k >= iov->iov_len) {
			k -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	return EBB_OK;
}

/* ---- the read side -------------------------------------------------------- */

/* Wake the receiver thread (it re-reads reader, hup and state). */
static void _kick_locked(struct ebb_conn *c)
{
	uint64_t one = 1;

	if (c->efd >= 0)
		(void)!write(c->efd, &one, sizeof(one));
}

/* The reader lets go of the read side: to a follower that still waits for
 * a reply (it is woken anyway when its reply comes, and reads that reply
 * itself), else to the receiver if replies are still due. */
static void _release_locked(struct ebb_conn *c)
{
	c->reader = RD_NONE;
	if (c->state != CONN_READY)
		return;
	while (c->followers) {
		struct ebb_waiter *f = c->followers;
		bool take;

		c->followers = f->fnext;
		f->fnext = NULL;
		f->following = false;
		pthread_mutex_lock(&f->mu);
		take = !f->head && f->busy;
		if (take) {
			f->offered = true;
			pthread_cond_signal(&f->cv);
		}
		pthread_mutex_unlock(&f->mu);
		if (take) {
			c->reader = RD_CALLER;
			return;
		}
	}
	if (c->npend || c->hup) {
		c->reader = RD_RX;
		_kick_locked(c);
	}
}

/* The reader found the stream broken: fail everything pending, mark c dead
 * (the next request reconnects) and tell the receiver, which closes fd.
 * Shut the socket first so that a sender blocked in sendmsg fails now and
 * lets go of send_lock. */
static void _conn_die(struct ebb_conn *c, int fd)
{
	shutdown(fd, SHUT_RDWR);
	pthread_mutex_lock(&c->send_lock);
	pthread_mutex_lock(&c->lock);
	c->state = CONN_DEAD;
	c->fd = -1;
	_pend_fail_all_locked(c, EBB_EIO);
	while (c->followers) {
		struct ebb_waiter *f = c->followers;
		c->followers = f->fnext;
		f->fnext = NULL;
		f->following = false;
	}
	c->reader = RD_NONE;
	_kick_locked(c);
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&c->send_lock);
}

enum rd_result { RD_FRAME, RD_IDLE, RD_BROKEN };

/* Read one reply frame from c (the caller holds its read side) and
 * complete its request.  deadline 0: wait as long as it takes (the
 * receiver); else RD_IDLE if no frame began by then.  A frame that began is
 * read to its end, bounded by a fresh timeout: a node that stalls mid-frame
 * is broken (RD_BROKEN, as on EOF). */
static enum rd_result _read_frame(struct ebb_conn *c, int fd,
				  uint64_t deadline)
{
	struct rxbuf *rb = &c->rb;
	uint8_t pre[PROTO_PREFIX_LEN];
	uint32_t hlen, plen, op = 0;
	uint64_t msgid = 0;
	ebb_err status = EBB_OK;
	struct proto_dec d;
	struct ebb_req *r;
	void *hbuf;
	int ok;

	if (deadline && rb->r == rb->w) {
		/* Between frames: see whether one begins in time. */
		ssize_t k;

		rb->r = rb->w = 0;
		for (;;) {
			k = recv(fd, rb->b, RX_BUF, MSG_DONTWAIT);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				if (!_wait_in(fd, deadline))
					return RD_IDLE;
				continue;
			}
			break;
		}
		if (k <= 0)
			return RD_BROKEN;
		rb->w = (size_t)k;
	}
	if (deadline) {
		uint64_t mid = conn_now_ms() + c->cfg->timeout_ms;
		if (mid > deadline)
			deadline = mid;
	}
	if (_rx_take(fd, rb, pre, sizeof(pre), deadline) != 1)
		return RD_BROKEN;
	if (proto_prefix_parse(pre, &hlen, &plen) != EBB_OK)
		return RD_BROKEN;
	if (!(hbuf = malloc(hlen)))
		return RD_BROKEN;
	if (_rx_take(fd, rb, hbuf, hlen, deadline) != 1) {
		free(hbuf);
		return RD_BROKEN;
	}
	if (proto_dec_reply(&d, hbuf, hlen, &msgid, &op, &status) != EBB_OK) {
		/* Not a reply we can read: the stream is unusable. */
		proto_dec_free(&d);
		free(hbuf);
		return RD_BROKEN;
	}
	pthread_mutex_lock(&c->lock);
	r = _pend_take_locked(c, msgid);
	if (r)
		r->state = REQ_CLAIMED;
	pthread_mutex_unlock(&c->lock);

	if (!r) {
		/* A late reply to a withdrawn request, or the daemon's
		 * frame-level error (msgid 0) just before it closes. */
		proto_dec_free(&d);
		free(hbuf);
		return _rx_take(fd, rb, NULL, plen, deadline) == 1 ? RD_FRAME :
								     RD_BROKEN;
	}
	if (op != r->op)
		status = EBB_E_PROTO;
	ok = 1;
	if (plen) {
		ok = _rx_take(fd, rb,
			      status == EBB_OK && r->rbuf && plen <= r->rcap ?
				      r->rbuf : NULL,
			      plen, deadline);
		r->plen = plen;
	}
	r->dec = d;
	r->hbuf = hbuf;
	r->has_dec = true;
	r->status = status;
	pthread_mutex_lock(&c->lock);
	r->state = REQ_OFF;
	c->last_ms = conn_now_ms();
	_complete(r, ok == 1 ? EBB_OK : EBB_EIO);
	pthread_mutex_unlock(&c->lock);
	return ok == 1 ? RD_FRAME : RD_BROKEN;
}

/* The receiver: reads for callers that do not (several requests in flight,
 * or nobody waiting yet), and watches an idle connection for the peer
 * closing it (POLLRDHUP only: data arriving for a caller that reads itself
 * does not wake it). */
void *conn_rx_main(void *arg)
{
	struct ebb_conn *c = arg;
	int fd, efd;

	pthread_mutex_lock(&c->lock);
	fd = c->fd;
	efd = c->efd;
	pthread_mutex_unlock(&c->lock);

	for (;;) {
		struct pollfd p[2];
		uint64_t junk;
		bool hup;

		pthread_mutex_lock(&c->lock);
		if (c->state != CONN_READY) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		if (c->reader == RD_NONE && c->hup)
			c->reader = RD_RX;
		if (c->reader == RD_RX) {
			pthread_mutex_unlock(&c->lock);
			for (;;) {
				bool done;

				if (_read_frame(c, fd, 0) != RD_FRAME) {
					_conn_die(c, fd);
					break;
				}
				/* A caller waiting to read its own reply
				 * takes over as soon as there is one. */
				pthread_mutex_lock(&c->lock);
				done = c->followers || (!c->npend && !c->hup);
				if (done)
					_release_locked(c);
				pthread_mutex_unlock(&c->lock);
				if (done)
					break;
			}
			continue;
		}
		hup = c->hup;
		pthread_mutex_unlock(&c->lock);
		p[0] = (struct pollfd){.fd = efd, .events = POLLIN};
		p[1] = (struct pollfd){.fd = fd, .events = POLLRDHUP};
		if (poll(p, hup ? 1 : 2, -1) < 0)
			continue;
		if (p[0].revents & POLLIN)
			(void)!read(efd, &junk, sizeof(junk));
		if (!hup && p[1].revents) {
			pthread_mutex_lock(&c->lock);
			c->hup = true;
			pthread_mutex_unlock(&c->lock);
		}
	}
	pthread_mutex_lock(&c->lock);
	c->efd = -1;
	pthread_mutex_unlock(&c->lock);
	close(efd);
	close(fd);
	return NULL;
}

/* w waits for its only request, on c, and holds c's read side: read until
 * its reply is in, the deadline passes or c breaks; then let go. */
static void _lead(struct ebb_conn *c, struct ebb_waiter *w, uint64_t deadline)
{
	int fd;

	pthread_mutex_lock(&c->lock);
	fd = c->fd; /* stable: only the reader (us) ends the connection */
	pthread_mutex_unlock(&c->lock);
	for (;;) {
		enum rd_result res;
		bool mine;

		pthread_mutex_lock(&w->mu);
		mine = w->head || !w->busy;
		pthread_mutex_unlock(&w->mu);
		if (mine)
			break;
		res = _read_frame(c, fd, deadline);
		if (res == RD_BROKEN) {
			_conn_die(c, fd);
			return;
		}
		if (res == RD_IDLE)
			break;
	}
	pthread_mutex_lock(&c->lock);
	_release_locked(c);
	pthread_mutex_unlock(&c->lock);
}

/* ---- issuing and waiting -------------------------------------------------- */

/* Send r's frame on c; if track, r goes into the pending table first so
 * that its reply finds it; need_rx: its caller will not read replies
 * itself, so the receiver must if nobody does.  EIO if c is not up; a send
 * that fails midway returns OK: it kills the connection, whose reader then
 * fails r. */
/* The start of a send on c: its send lock taken (the caller sends, then
 * releases it), reqs[0..n) in the pending table, a reader made sure of if
 * need_rx; *fd the socket.  EBB_EIO (nothing held) if c died between
 * connect and now. */
static ebb_err _send_begin(struct ebb_conn *c, struct ebb_req *reqs,
			   unsigned n, bool need_rx, int *fd)
{
	pthread_mutex_lock(&c->send_lock);
	pthread_mutex_lock(&c->lock);
	if (c->state != CONN_READY) {
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_unlock(&c->send_lock);
		return EBB_EIO;
	}
	*fd = c->fd;
	c->last_ms = conn_now_ms();
	for (unsigned i = 0; i < n; i++)
		_pend_add_locked(c, &reqs[i]);
	if (need_rx && c->reader == RD_NONE) {
		/* Its caller will not read: someone must. */
		c->reader = RD_RX;
		_kick_locked(c);
	}
	pthread_mutex_unlock(&c->lock);
	return EBB_OK;
}

static ebb_err _send_req(struct ebb_conn *c, struct ebb_req *r,
			 const void *payload, size_t plen, bool track,
			 bool need_rx)
{
	uint8_t pre[PROTO_PREFIX_LEN];
	struct iovec iov[3];
	ebb_err err;
	int fd;

	if (_send_begin(c, r, track ? 1 : 0, need_rx, &fd) != EBB_OK)
		return EBB_EIO;
	proto_prefix_write(pre, (uint32_t)r->enc.sb.size, (uint32_t)plen);
	iov[0] = (struct iovec){pre, sizeof(pre)};
	iov[1] = (struct iovec){r->enc.sb.data, r->enc.sb.size};
	iov[2] = (struct iovec){(void *)payload, plen};
	err = _send_iov(fd, iov, plen ? 3 : 2);
	if (err != EBB_OK)
		/* A partial frame poisons the stream: kill it, and the
		 * receiver fails everything pending, r included. */
		shutdown(fd, SHUT_RDWR);
	pthread_mutex_unlock(&c->send_lock);
	return EBB_OK;
}

/* A caller that meant to read c itself will not: if c's replies are due
 * and nobody reads them, the receiver does. */
static void _ensure_reader(struct ebb_conn *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->state == CONN_READY && c->reader == RD_NONE && c->npend) {
		c->reader = RD_RX;
		_kick_locked(c);
	}
	pthread_mutex_unlock(&c->lock);
}

/* bbd closes an ordinary user's connection that has been idle for its
 * idle_timeout (docs/protocol.md "Limits").  A request sent just as it
 * closes would fail with EIO, and a CREATE must never be sent twice, so
 * we close our side first: a connection idle for all but a margin of the
 * timeout (a quarter, at most 2 s: bbd counts from its last reply, which
 * is before we read it) is retired here and the caller's net_connect()
 * opens a new one.  Only when nothing is pending and no one reads it:
 * then its receiver is in poll() and just leaves, as after a failed
 * connect. */
static void _retire_idle(struct ebb_conn *c)
{
	uint64_t now = conn_now_ms(), margin;

	pthread_mutex_lock(&c->send_lock);
	pthread_mutex_lock(&c->lock);
	margin = c->idle_ms / 4 < 2000 ? c->idle_ms / 4 : 2000;
	if (c->state == CONN_READY && c->idle_ms && c->npend == 0 &&
	    c->reader == RD_NONE && !c->followers &&
	    now - c->last_ms + margin >= c->idle_ms) {
		shutdown(c->fd, SHUT_RDWR);
		c->state = CONN_DEAD;
		c->fd = -1;
		c->fail_err = EBB_OK;
		_kick_locked(c);
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&c->send_lock);
}

void net_issue(struct ebb_net *net, struct ebb_waiter *w, struct ebb_req *r,
	       const void *payload, size_t plen)
{
	struct ebb_conn *c = conn_for(net, r->node);
	struct ebb_conn *prev = NULL;
	ebb_err err;
	bool bulk;

	r->w = w;
	r->conn = c;
	r->done = false;
	pthread_mutex_lock(&w->mu);
	w->busy++;
	if (w->async) {
		/* Its owner may not wait for a long time: the receiver
		 * reads for it from the first request on. */
	} else if (w->busy == 1) {
		w->conn = c;
		w->bulk = false;
	} else if (!w->bulk) {
		w->bulk = true; /* from now on the receiver reads for w */
		prev = w->conn;
	}
	bulk = w->bulk;
	pthread_mutex_unlock(&w->mu);
	if (prev)
		_ensure_reader(prev);

	_retire_idle(c);
	err = net_connect(net, &r->node, 1, NULL, w->start_ms);
	if (err == EBB_OK)
		err = _send_req(c, r, payload, plen, true, bulk);
	if (err != EBB_OK)
		_complete(r, err);
	if (r->has_enc) {
		proto_enc_free(&r->enc);
		r->has_enc = false;
	}
}

/* Send the frames of reqs[0..n) (no payloads) on c, as many per sendmsg as
 * the iovec limit allows; the pending table and the reader as _send_req. */
static ebb_err _send_run(struct ebb_conn *c, struct ebb_req *reqs,
			 unsigned n, uint8_t (*pre)[PROTO_PREFIX_LEN],
			 struct iovec *iov, unsigned per_call, bool need_rx)
{
	ebb_err err = EBB_OK;
	int fd;

	if (_send_begin(c, reqs, n, need_rx, &fd) != EBB_OK)
		return EBB_EIO;
	for (unsigned i = 0, k; i < n && err == EBB_OK; i += k) {
		k = n - i < per_call ? n - i : per_call;
		for (unsigned j = 0; j < k; j++) {
			struct ebb_req *r = &reqs[i + j];

			proto_prefix_write(pre[j], (uint32_t)r->enc.sb.size, 0);
			iov[2 * j] = (struct iovec){pre[j], PROTO_PREFIX_LEN};
			iov[2 * j + 1] = (struct iovec){r->enc.sb.data,
							r->enc.sb.size};
		}
		err = _send_iov(fd, iov, (int)(2 * k));
	}
	if (err != EBB_OK)
		/* As _send_req: the receiver fails everything pending. */
		shutdown(fd, SHUT_RDWR);
	pthread_mutex_unlock(&c->send_lock);
	return EBB_OK;
}

/* net_issue of reqs[0..n), n >= 2, all to one node and without payloads,
 * their frames written together: one sendmsg per request costs a system
 * call each, and on a loopback connection the receiving side's work too
 * (dir.c's INODE_GETs of a listing, sorted by node). */
static void _issue_run(struct ebb_net *net, struct ebb_waiter *w,
		       struct ebb_req *reqs, unsigned n)
{
	struct ebb_conn *c = conn_for(net, reqs[0].node);
	struct ebb_conn *prev = NULL;
	unsigned per_call = n < IOV_MAX / 2 ? n : IOV_MAX / 2;
	uint8_t (*pre)[PROTO_PREFIX_LEN] = malloc(per_call * sizeof(*pre));
	struct iovec *iov = malloc(2 * per_call * sizeof(*iov));
	ebb_err err;
	bool bulk;

	if (!pre || !iov) {
		for (unsigned i = 0; i < n; i++)
			net_issue(net, w, &reqs[i], NULL, 0);
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		reqs[i].w = w;
		reqs[i].conn = c;
		reqs[i].done = false;
	}
	pthread_mutex_lock(&w->mu);
	if (!w->async && !w->bulk) {
		/* As net_issue's second request: the receiver reads for w
		 * from now on, also on the first request's connection. */
		if (w->busy)
			prev = w->conn;
		w->bulk = true;
	}
	w->busy += n;
	bulk = w->bulk;
	pthread_mutex_unlock(&w->mu);
	if (prev)
		_ensure_reader(prev);

	_retire_idle(c);
	err = net_connect(net, &reqs[0].node, 1, NULL, w->start_ms);
	if (err == EBB_OK)
		err = _send_run(c, reqs, n, pre, iov, per_call, bulk);
	for (unsigned i = 0; i < n; i++) {
		if (err != EBB_OK)
			_complete(&reqs[i], err);
		if (reqs[i].has_enc) {
			proto_enc_free(&reqs[i].enc);
			reqs[i].has_enc = false;
		}
	}
out:
	free(pre);
	free(iov);
}

/* w's requests are all on c and it leads or follows there: make sure it
 * is off c's follower list and, if it was handed the read side, that the
 * read side goes on to someone else. */
static void _unfollow(struct ebb_conn *c, struct ebb_waiter *w, bool offered)
{
	pthread_mutex_lock(&c->lock);
	if (w->following) {
		struct ebb_waiter **pp = &c->followers;
		while (*pp && *pp != w)
			pp = &(*pp)->fnext;
		if (*pp)
			*pp = w->fnext;
		w->fnext = NULL;
		w->following = false;
	}
	if (offered && c->reader == RD_CALLER)
		_release_locked(c);
	pthread_mutex_unlock(&c->lock);
}

/* The first finished request of w, or NULL; w->mu held. */
static struct ebb_req *_pop_locked(struct ebb_waiter *w)
{
	struct ebb_req *r = w->head;

	if (r) {
		w->head = r->dnext;
		if (!w->head)
			w->tail = NULL;
		r->dnext = NULL;
	}
	return r;
}

struct ebb_req *waiter_next(struct ebb_waiter *w, unsigned timeout_ms,
			    bool *timed_out)
{
	struct ebb_req *r = NULL;
	struct timespec ts = conn_abs_ms(timeout_ms);
	uint64_t deadline = conn_now_ms() + timeout_ms;

	*timed_out = false;
	for (;;) {
		struct ebb_conn *c;
		bool lead = false, offered, more, expired = false;

		pthread_mutex_lock(&w->mu);
		if (w->head || !w->busy)
			break; /* with mu */
		c = w->bulk ? NULL : w->conn;
		pthread_mutex_unlock(&w->mu);
		if (c) {
			/* One request, on c: read it ourselves if nobody
			 * reads c, else wait to be handed the read side. */
			pthread_mutex_lock(&c->lock);
			if (c->state == CONN_READY && c->reader == RD_NONE) {
				c->reader = RD_CALLER;
				lead = true;
			} else if (c->state == CONN_READY && !w->following) {
				w->fnext = c->followers;
				c->followers = w;
				w->following = true;
			}
			pthread_mutex_unlock(&c->lock);
			if (lead) {
				_lead(c, w, deadline);
				if (conn_now_ms() >= deadline) {
					pthread_mutex_lock(&w->mu);
					if (w->head || !w->busy)
						break;
					*timed_out = true;
					pthread_mutex_unlock(&w->mu);
					return NULL;
				}
				continue;
			}
		}
		pthread_mutex_lock(&w->mu);
		while (!w->head && w->busy && !w->offered) {
			if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) ==
			    ETIMEDOUT) {
				expired = true;
				break;
			}
		}
		offered = w->offered;
		w->offered = false;
		more = !w->head && w->busy;
		pthread_mutex_unlock(&w->mu);
		if (c) {
			if (offered && more && !expired) {
				_lead(c, w, deadline);
				/* _lead released the read side; we may
				 * still be on the list from before */
				offered = false;
			}
			_unfollow(c, w, offered);
		}
		if (expired || conn_now_ms() >= deadline) {
			pthread_mutex_lock(&w->mu);
			if (w->head || !w->busy)
				break;
			*timed_out = true;
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
	}
	/* w->mu held */
	r = _pop_locked(w);
	pthread_mutex_unlock(&w->mu);
	return r;
}

struct ebb_req *waiter_poll(struct ebb_waiter *w)
{
	struct ebb_req *r;

	pthread_mutex_lock(&w->mu);
	r = _pop_locked(w);
	pthread_mutex_unlock(&w->mu);
	return r;
}

void req_withdraw(struct ebb_waiter *w, struct ebb_req *r)
{
	struct ebb_conn *c = r->conn;

	if (!c || r->w != w)
		return; /* never issued */
	pthread_mutex_lock(&c->lock);
	if (r->state == REQ_PENDING) {
		struct ebb_req *t = _pend_take_locked(c, r->msgid);
		if (t)
			_complete(t, EBB_ETIMEDOUT);
	} else if (r->state == REQ_CLAIMED && c->fd >= 0) {
		/* Its payload is being read into the caller's buffer: only
		 * ending the connection stops that. */
		shutdown(c->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&c->lock);
}

void waiter_cancel(struct ebb_waiter *w, struct ebb_req *reqs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		req_withdraw(w, &reqs[i]);
	waiter_cancel_wait(w);
}

void waiter_cancel_wait(struct ebb_waiter *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	w->head = w->tail = NULL;
	pthread_mutex_unlock(&w->mu);
}

ebb_err net_run(struct ebb_net *net, struct ebb_req *reqs, unsigned n)
{
	struct ebb_waiter w;
	ebb_err err = EBB_OK;
	unsigned left = n;
	bool to = false;

	__atomic_add_fetch(&net->runs, 1, __ATOMIC_RELAXED);
	waiter_init(&w);
	if (n > 1) {
		/* Connect to all the nodes involved in parallel first. */
		unsigned *nodes = malloc(n * sizeof(*nodes));
		if (nodes) {
			for (unsigned i = 0; i < n; i++)
				nodes[i] = reqs[i].node;
			net_connect(net, nodes, n, NULL, w.start_ms);
			free(nodes);
		}
	}
	for (unsigned i = 0, k; i < n; i += k) {
		/* A run of requests to one node goes out together. */
		for (k = 1; i + k < n && reqs[i + k].node == reqs[i].node; k++)
			;
		if (k > 1)
			_issue_run(net, &w, &reqs[i], k);
		else
			net_issue(net, &w, &reqs[i], NULL, 0);
	}
	while (left) {
		if (!waiter_next(&w, net->cfg.timeout_ms, &to)) {
			if (to)
				waiter_cancel(&w, reqs, n);
			break;
		}
		left--;
	}
	for (unsigned i = 0; i < n && err == EBB_OK; i++)
		err = reqs[i].status;
	if (err == EBB_OK && to)
		err = EBB_ETIMEDOUT;
	waiter_fini(&w);
	return err;
}
