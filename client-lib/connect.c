/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb's connecting: non-blocking connects and HELLO, many nodes at once.
 *
 * DESIGN: the calling thread connects (conn.c's header says why): it starts
 * a non-blocking connect to every node it needs, then one poll loop takes
 * each through connect -> HELLO sent -> HELLO reply read, and hands a
 * ready connection to its receiver thread (conn.c).  Split from conn.c,
 * which keeps requests, readers and waiters.
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

/* ---- connecting ----------------------------------------------------------- */

enum cphase { CP_SKIP, CP_FAILED, CP_WAIT_OTHER, CP_CONNECT, CP_HELLO,
	      CP_DONE };

struct cprog {
	struct ebb_conn *c;
	enum cphase phase;
	int fd;
	ebb_err err;
	uint8_t pre[PROTO_PREFIX_LEN];
	size_t got;                /* bytes of prefix + header read */
	uint32_t hlen;
	uint8_t *hbuf;
	unsigned idle_ms;          /* HELLO's idle_timeout_ms, 0 if none */
	char why[128];             /* what went wrong, for messages */
};

static ebb_err _split_addr(const char *addr, char *host, size_t hsize,
			   const char **port)
{
	const char *colon;
	size_t hl;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (!end || end[1] != ':')
			return EBB_EINVAL;
		hl = (size_t)(end - addr - 1);
		addr++;
		colon = end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return EBB_EINVAL;
		hl = (size_t)(colon - addr);
	}
	if (hl == 0 || hl >= hsize || !colon[1])
		return EBB_EINVAL;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	*port = colon + 1;
	return EBB_OK;
}

static void _sock_opts(int fd, unsigned timeout_ms)
{
	int one = 1, buf = SOCK_BUF;
	struct timeval tv = {.tv_sec = timeout_ms / 1000,
			     .tv_usec = (timeout_ms % 1000) * 1000};

	int idle = 10, intvl = 5, cnt = 3;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* An idle connection to a host that died without a reset is found
	 * dead in ~25 s, so a later call reconnects instead of timing out. */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Start a non-blocking connect; p->phase becomes CP_CONNECT or CP_DONE. */
static void _start_connect(struct cprog *p, unsigned timeout_ms)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	char host[256];
	const char *port;
	int rc;

	p->phase = CP_DONE;
	p->err = _split_addr(p->c->addr, host, sizeof(host), &port);
	if (p->err != EBB_OK) {
		snprintf(p->why, sizeof(p->why), "not a host:port address");
		return;
	}
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0 || !ai) {
		snprintf(p->why, sizeof(p->why), "cannot resolve %.64s: %s", host,
			 gai_strerror(rc));
		p->err = EBB_EIO;
		return;
	}
	p->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       0);
	if (p->fd < 0) {
		snprintf(p->why, sizeof(p->why), "socket: %s", strerror(errno));
		p->err = EBB_EIO;
		goto out;
	}
	_sock_opts(p->fd, timeout_ms);
	if (connect(p->fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
	    errno == EINPROGRESS) {
		p->phase = CP_CONNECT;
		p->err = EBB_OK;
	} else {
		snprintf(p->why, sizeof(p->why), "connect: %s", strerror(errno));
		p->err = EBB_EIO;
	}
out:
	freeaddrinfo(ai);
}

/* The socket is connected: send HELLO (small: fits the socket buffer). */
static void _send_hello(struct cprog *p, const struct ebb_cfg *cfg)
{
	struct proto_enc e;
	char *cred = NULL, why[128] = "";
	uint8_t pre[PROTO_PREFIX_LEN];
	struct iovec iov[2];
	char client[64];

	p->phase = CP_DONE;
	p->err = auth_cred_encode(cfg->munge_socket, &cred, why, sizeof(why));
	if (p->err != EBB_OK) {
		snprintf(p->why, sizeof(p->why), "%s", why);
		return;
	}
	snprintf(client, sizeof(client), "libebb/%s pid %ld", PACKAGE_VERSION,
		 (long)getpid());
	proto_enc_request(&e, 0, PROTO_OP_HELLO, 3);
	proto_put_u64(&e, PROTO_VERSION);
	proto_put_cstr(&e, cred);
	proto_put_cstr(&e, client);
	proto_prefix_write(pre, (uint32_t)e.sb.size, 0);
	iov[0] = (struct iovec){pre, sizeof(pre)};
	iov[1] = (struct iovec){e.sb.data, e.sb.size};
	/* Non-blocking, but a fresh socket's buffer takes a few hundred
	 * bytes; a short write is treated as a failure. */
	{
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
		ssize_t k = sendmsg(p->fd, &mh, MSG_NOSIGNAL);
		if (k == (ssize_t)(sizeof(pre) + e.sb.size)) {
			p->phase = CP_HELLO;
			p->got = 0;
		} else {
			snprintf(p->why, sizeof(p->why), "sending HELLO: %s",
				 k < 0 ? strerror(errno) : "short write");
			p->err = EBB_EIO;
		}
	}
	proto_enc_free(&e);
	free(cred);
}

/* Read what is there of the HELLO reply; CP_DONE when complete or failed. */
static void _read_hello(struct cprog *p)
{
	for (;;) {
		uint8_t *dst;
		size_t want;
		ssize_t k;

		if (p->got < PROTO_PREFIX_LEN) {
			dst = p->pre + p->got;
			want = PROTO_PREFIX_LEN - p->got;
		} else {
			dst = p->hbuf + (p->got - PROTO_PREFIX_LEN);
			want = p->hlen - (p->got - PROTO_PREFIX_LEN);
		}
		k = recv(p->fd, dst, want, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (k <= 0) {
			snprintf(p->why, sizeof(p->why),
				 "connection closed during HELLO%s%s",
				 k < 0 ? ": " : "", k < 0 ? strerror(errno) : "");
			p->err = EBB_EIO;
			p->phase = CP_DONE;
			return;
		}
		p->got += (size_t)k;
		if (p->got == PROTO_PREFIX_LEN) {
			uint32_t plen;
			if (proto_prefix_parse(p->pre, &p->hlen, &plen) !=
				    EBB_OK || plen != 0 ||
			    !(p->hbuf = malloc(p->hlen))) {
				snprintf(p->why, sizeof(p->why),
					 "not a bbd (bad HELLO reply)");
				p->err = EBB_EPROTO;
				p->phase = CP_DONE;
				return;
			}
		}
		if (p->got > PROTO_PREFIX_LEN &&
		    p->got == PROTO_PREFIX_LEN + p->hlen)
			break;
	}
	/* The whole reply is in. */
	{
		struct proto_dec d;
		uint64_t msgid = 0, ver = 0;
		uint32_t op = 0;
		ebb_err st = EBB_OK;

		const char *s = NULL;
		uint32_t slen = 0;

		p->phase = CP_DONE;
		p->err = proto_dec_reply(&d, p->hbuf, p->hlen, &msgid, &op, &st);
		if (p->err == EBB_OK && op != PROTO_OP_HELLO) {
			p->err = EBB_EPROTO;
		} else if (p->err == EBB_OK && st != EBB_OK) {
			p->err = st;
			proto_get_str(&d, &s, &slen, 100);
			snprintf(p->why, sizeof(p->why), "HELLO refused: %s%s%.*s",
				 ebb_strerror(st), slen ? ": " : "", (int)slen,
				 s ? s : "");
		} else if (p->err == EBB_OK && (!proto_get_u64(&d, &ver) ||
						ver != PROTO_VERSION)) {
			p->err = EBB_E_VERSION;
			snprintf(p->why, sizeof(p->why),
				 "bbd speaks protocol %llu, we speak %u",
				 (unsigned long long)ver, PROTO_VERSION);
		} else if (p->err != EBB_OK) {
			p->err = EBB_EPROTO;
			snprintf(p->why, sizeof(p->why),
				 "not a bbd (bad HELLO reply)");
		} else {
			uint64_t v = 0;

			/* [msgid, op, status, version, node, local|nil,
			 * limits]: a bbd from before issue 11 sends no
			 * limits, one with nothing local a nil. */
			if (d.n > 6 && d.items[6].type == MSGPACK_OBJECT_MAP &&
			    proto_map_u64(&d.items[6], "idle_timeout_ms", &v))
				p->idle_ms = v > UINT_MAX ? UINT_MAX :
							    (unsigned)v;
			local_hello(p->c->net, p->c->node, &d);
		}
		proto_dec_free(&d);
	}
}

/* The connection is up: hand it to a receiver thread. */
static ebb_err _go_ready(struct cprog *p)
{
	struct ebb_conn *c = p->c;
	pthread_attr_t at;
	int fl = fcntl(p->fd, F_GETFL);
	ebb_err err = EBB_OK;

	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	fcntl(p->fd, F_SETFL, fl & ~O_NONBLOCK);
	if (!c->rb.b)
		c->rb.b = malloc(RX_BUF);
	if (efd < 0 || !c->rb.b) {
		if (efd >= 0)
			close(efd);
		snprintf(p->why, sizeof(p->why), "out of memory");
		return EBB_ENOMEM;
	}
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, RX_STACK);
	pthread_mutex_lock(&c->lock);
	c->fd = p->fd;
	c->efd = efd;
	c->idle_ms = p->idle_ms;
	c->last_ms = conn_now_ms();
	c->reader = RD_NONE;
	c->hup = false;
	c->npend = 0;
	c->followers = NULL;
	c->rb.r = c->rb.w = 0;
	if (pthread_create(&c->rx, &at, conn_rx_main, c) != 0) {
		c->fd = -1;
		c->efd = -1;
		close(efd);
		err = EBB_ENOMEM;
	} else {
		p->fd = -1; /* the receiver owns it (and efd) now */
		c->rx_joinable = true;
		c->state = CONN_READY;
	}
	pthread_mutex_unlock(&c->lock);
	pthread_attr_destroy(&at);
	return err;
}

ebb_err net_connect(struct ebb_net *net, const unsigned *nodes, unsigned k,
		    ebb_err *errs, uint64_t since_ms)
{
	struct cprog *ps = NULL;
	struct pollfd *pfd = NULL;
	unsigned *pidx = NULL;
	uint64_t start = conn_now_ms();
	uint64_t deadline = start + net->cfg.timeout_ms;
	ebb_err first = EBB_OK;
	unsigned active = 0;
	bool all_ready = true;

	if (!nodes)
		k = net->n;
	/* Fast path: everything already up. */
	for (unsigned i = 0; i < k && all_ready; i++) {
		struct ebb_conn *c = conn_for(net, nodes ? nodes[i] : i);
		pthread_mutex_lock(&c->lock);
		all_ready = c->state == CONN_READY;
		pthread_mutex_unlock(&c->lock);
	}
	if (all_ready) {
		for (unsigned i = 0; errs && i < k; i++)
			errs[i] = EBB_OK;
		return EBB_OK;
	}

	ps = calloc(k, sizeof(*ps));
	pfd = calloc(k, sizeof(*pfd));
	pidx = calloc(k, sizeof(*pidx));
	if (!ps || !pfd || !pidx) {
		first = EBB_ENOMEM;
		for (unsigned i = 0; errs && i < k; i++)
			errs[i] = EBB_ENOMEM;
		goto out;
	}
	/* Claim the connections that need connecting. */
	for (unsigned i = 0; i < k; i++) {
		struct cprog *p = &ps[i];
		struct ebb_conn *c = conn_for(net, nodes ? nodes[i] : i);
		bool join = false;

		p->c = c;
		p->fd = -1;
		pthread_mutex_lock(&c->lock);
		if (c->state == CONN_READY) {
			p->phase = CP_SKIP;
		} else if (c->state == CONN_CONNECTING) {
			p->phase = CP_WAIT_OTHER;
		} else if (c->state == CONN_DEAD && since_ms &&
			   c->fail_ms >= since_ms && c->fail_err != EBB_OK) {
			p->phase = CP_FAILED; /* tried during this call */
			p->err = c->fail_err;
		} else {
			join = c->rx_joinable;
			c->rx_joinable = false;
			c->state = CONN_CONNECTING;
			p->phase = CP_CONNECT;
		}
		pthread_mutex_unlock(&c->lock);
		if (join) /* the old receiver has set DEAD: it is leaving */
			pthread_join(c->rx, NULL);
		if (p->phase == CP_CONNECT) {
			_start_connect(p, net->cfg.timeout_ms);
			if (p->phase == CP_CONNECT)
				active++;
		}
	}
	/* One poll loop drives every claimed connection through HELLO. */
	while (active) {
		uint64_t now = conn_now_ms();
		unsigned np = 0;
		int rc;

		if (now >= deadline)
			break;
		for (unsigned i = 0; i < k; i++) {
			if (ps[i].phase != CP_CONNECT && ps[i].phase != CP_HELLO)
				continue;
			pfd[np].fd = ps[i].fd;
			pfd[np].events = ps[i].phase == CP_CONNECT ? POLLOUT :
								       POLLIN;
			pfd[np].revents = 0;
			pidx[np++] = i;
		}
		rc = poll(pfd, np, (int)(deadline - now));
		if (rc < 0 && errno != EINTR)
			break;
		for (unsigned j = 0; rc > 0 && j < np; j++) {
			struct cprog *p = &ps[pidx[j]];

			if (!pfd[j].revents)
				continue;
			if (p->phase == CP_CONNECT) {
				int soerr = 0;
				socklen_t sl = sizeof(soerr);
				getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr,
					   &sl);
				if (soerr) {
					snprintf(p->why, sizeof(p->why),
						 "connect: %s", strerror(soerr));
					p->err = EBB_EIO;
					p->phase = CP_DONE;
				} else {
					_send_hello(p, &net->cfg);
				}
			} else {
				_read_hello(p);
			}
			if (p->phase == CP_DONE)
				active--;
		}
	}
	/* Publish the results. */
	for (unsigned i = 0; i < k; i++) {
		struct cprog *p = &ps[i];
		struct ebb_conn *c = p->c;

		if (p->phase == CP_SKIP || p->phase == CP_WAIT_OTHER ||
		    p->phase == CP_FAILED)
			continue;
		if (p->phase != CP_DONE) {
			p->err = EBB_ETIMEDOUT;
			snprintf(p->why, sizeof(p->why),
				 "no answer to %s within %u ms",
				 p->phase == CP_CONNECT ? "connect" : "HELLO",
				 net->cfg.timeout_ms);
		}
		if (p->err == EBB_OK)
			p->err = _go_ready(p);
		if (p->fd >= 0)
			close(p->fd);
		free(p->hbuf);
		pthread_mutex_lock(&c->lock);
		if (p->err != EBB_OK) {
			c->state = CONN_DEAD;
			c->fail_ms = start;
			c->fail_err = p->err;
			snprintf(c->fail_why, sizeof(c->fail_why), "%s",
				 p->why[0] ? p->why : ebb_strerror(p->err));
		}
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->lock);
	}
	/* Connections another thread was connecting: wait for its outcome. */
	for (unsigned i = 0; i < k; i++) {
		struct cprog *p = &ps[i];
		struct ebb_conn *c = p->c;
		struct timespec ts;

		if (p->phase == CP_SKIP) {
			p->err = EBB_OK;
		} else if (p->phase == CP_WAIT_OTHER) {
			uint64_t now = conn_now_ms();
			ts = conn_abs_ms(deadline > now ? deadline - now : 0);
			pthread_mutex_lock(&c->lock);
			while (c->state == CONN_CONNECTING &&
			       pthread_cond_timedwait(&c->cv, &c->lock, &ts) !=
				       ETIMEDOUT)
				;
			p->err = c->state == CONN_READY ? EBB_OK :
				 c->state == CONN_CONNECTING ? EBB_ETIMEDOUT :
				 c->fail_err != EBB_OK ? c->fail_err : EBB_EIO;
			pthread_mutex_unlock(&c->lock);
		}
		if (errs)
			errs[i] = p->err;
		if (first == EBB_OK)
			first = p->err;
	}
out:
	free(ps);
	free(pfd);
	free(pidx);
	return first;
}
