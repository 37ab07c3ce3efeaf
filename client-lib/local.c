/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb local reads and writes: object fds from the bbd on this node.
 *
 * DESIGN (issue 9; bbd/bbd_local.c is the other side, docs/protocol.md
 * "Local reads" the spec): a member's bbd offers, in its TCP HELLO reply,
 * the path of its Unix socket, a random per-process token and the uid it
 * runs as.  When a read needs an object of that member, we connect to the
 * socket (once per member and ebb_t), check that the peer runs as the uid
 * HELLO named (SO_PEERCRED), say LOCAL_HELLO with the token (bbd confirms
 * it is the process we said HELLO to over TCP: three bbds on one test host,
 * network namespaces where a path names another daemon's socket), and ask
 * LOCAL_OPEN [inst, ino] for a read-only fd of the object file.  The file
 * layer (file.c) caches the fd per open handle, preads the member's
 * stripes from it at their file offsets (the layout of READ: every byte at
 * its own offset of the object) and closes it at ebb_close, so a handle
 * opened after a truncate or unlink elsewhere asks again.
 *
 * Anything that does not work (no offer: an older bbd or local_socket
 * none; no socket at the path; EACCES; another uid behind it; a refused
 * token or open) turns local reads of that member off for this ebb_t
 * (until its bbd offers again: a restarted bbd has a new token) and the
 * reads go over TCP as before.  A refused open (E_DENIED...) is not
 * special: TCP then gives the same refusal.  EBB_SHORT_CIRCUIT=0 turns the
 * whole thing off; =debug says every fallback on stderr; the net's
 * counters (local_bytes, local_opens, local_fallbacks) show which path
 * reads took.
 *
 * Local writes (file.c, stream.c) use the same connection: LOCAL_OPEN
 * with the WRITE flag gives the object's read-write fd, LOCAL_RESERVE
 * capacity before writing, LOCAL_SETTLE at the handle's close.  bbd
 * settles a connection's writes when it ends, so a reservation holds only
 * within one generation of the connection (l->gen); a handle whose
 * generation is gone opens and reserves again.
 *
 * Locks: each member's struct net_local has its mutex, held across one
 * round trip on its Unix connection (requests are tiny and rare: one per
 * open handle and member), never while calling into conn.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "conn_int.h"

enum local_state {
	LOCAL_NONE,    /* no offer (yet) */
	LOCAL_OFFERED, /* offered, not connected */
	LOCAL_UP,      /* connected, token accepted */
	LOCAL_OFF,     /* tried and failed: TCP until a new offer */
};

struct net_local {
	pthread_mutex_t mu;
	enum local_state state;    /* mu */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* mu */
	char token[PROTO_LOCAL_TOKEN_LEN + 1];                   /* mu */
	uid_t uid;                 /* bbd's; mu */
	int sock;                  /* LOCAL_UP; mu */
	uint64_t msgid;            /* mu */
	uint64_t gen;              /* connections made so far; mu.  bbd
				    * settles a connection's local writes
				    * when it ends, so what a handle reserved
				    * holds only within one generation */
};

struct net_local *local_new(unsigned n)
{
	struct net_local *l = calloc(n, sizeof(*l));

	for (unsigned i = 0; l && i < n; i++) {
		pthread_mutex_init(&l[i].mu, NULL);
		l[i].sock = -1;
	}
	return l;
}

void local_free(struct net_local *l, unsigned n)
{
	if (!l)
		return;
	for (unsigned i = 0; i < n; i++) {
		if (l[i].sock >= 0)
			close(l[i].sock);
		pthread_mutex_destroy(&l[i].mu);
	}
	free(l);
}

/* Member node cannot serve local reads: say why (debug), count it. */
static void _off_locked(struct ebb_net *net, unsigned node,
			struct net_local *l, const char *why)
{
	if (l->sock >= 0)
		close(l->sock);
	l->sock = -1;
	l->state = LOCAL_OFF;
	atomic_store(&net->local_all, 2);
	atomic_fetch_add(&net->local_fallbacks, 1);
	if (net->cfg.short_circuit == 2) {
		fprintf(stderr, "libebb: local reads from %s off (TCP): %s\n",
			net_addr(net, node), why);
	}
}

static void _offer(struct ebb_net *net, unsigned node, const char *path,
		   size_t plen, const char *token, size_t tlen, uint64_t uid)
{
	struct net_local *l = &net->local[node];

	if (plen == 0 || plen >= sizeof(l->path) ||
	    tlen != PROTO_LOCAL_TOKEN_LEN)
		return; /* nothing we could use: no offer */
	pthread_mutex_lock(&l->mu);
	if (l->state == LOCAL_NONE || memcmp(l->token, token, tlen) != 0 ||
	    strlen(l->path) != plen || memcmp(l->path, path, plen) != 0) {
		if (l->sock >= 0)
			close(l->sock);
		l->sock = -1;
		memcpy(l->path, path, plen);
		l->path[plen] = '\0';
		memcpy(l->token, token, tlen);
		l->token[tlen] = '\0';
		l->uid = (uid_t)uid;
		l->state = LOCAL_OFFERED;
		atomic_store(&net->local_all, 0);
	}
	pthread_mutex_unlock(&l->mu);
}

void local_hello(struct ebb_net *net, unsigned node, struct proto_dec *d)
{
	const msgpack_object *m = NULL, *sock, *token;
	const char *name = NULL;
	uint32_t nlen = 0;
	uint64_t uid = 0;

	if (!proto_get_str(d, &name, &nlen, 255) || d->pos >= d->n ||
	    !proto_get_obj(d, &m) || m->type != MSGPACK_OBJECT_MAP ||
	    !proto_map_u64(m, "uid", &uid))
		return;
	sock = proto_map_get(m, "sock");
	token = proto_map_get(m, "token");
	if (!sock || !token || sock->type != MSGPACK_OBJECT_STR ||
	    token->type != MSGPACK_OBJECT_STR)
		return;
	_offer(net, node, sock->via.str.ptr, sock->via.str.size,
	       token->via.str.ptr, token->via.str.size, uid);
}

bool local_offered(struct ebb_net *net, unsigned node, char *path,
		   size_t psize, char *token, size_t tsize)
{
	struct net_local *l = &net->local[node];
	bool ok;

	pthread_mutex_lock(&l->mu);
	ok = l->state != LOCAL_NONE;
	if (ok) {
		snprintf(path, psize, "%s", l->path);
		snprintf(token, tsize, "%s", l->token);
	}
	pthread_mutex_unlock(&l->mu);
	return ok;
}

/* One request and its reply on l->sock: status, and the passed fd in *fd
 * (-1 if none).  Transport errors come back as EBB_EIO with why. */
static ebb_err _call_locked(struct net_local *l, uint32_t op,
			    const char *s, uint64_t u, const char *inst,
			    const uint64_t *u2, int *fd, char *why,
			    size_t whylen)
{
	struct proto_enc e;
	uint8_t pre[PROTO_PREFIX_LEN], hdr[PROTO_LOCAL_MAX_HEADER];
	struct iovec iov[2];
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	uint32_t hlen = 0, plen = 0, got = 0;
	struct proto_dec d;
	uint64_t msgid = 0;
	uint32_t rop = 0;
	ebb_err st = EBB_EIO;
	ssize_t k;

	*fd = -1;
	proto_enc_request(&e, ++l->msgid, op, u2 ? 3 : 2);
	if (op == PROTO_LOCAL_HELLO) {
		proto_put_u64(&e, PROTO_VERSION);
		proto_put_cstr(&e, s);
	} else {
		proto_put_cstr(&e, inst);
		proto_put_u64(&e, u);
		if (u2)
			proto_put_u64(&e, *u2);
	}
	proto_prefix_write(pre, (uint32_t)e.sb.size, 0);
	iov[0] = (struct iovec){pre, sizeof(pre)};
	iov[1] = (struct iovec){e.sb.data, e.sb.size};
	do
		k = sendmsg(l->sock, &mh, MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
	if (k != (ssize_t)(sizeof(pre) + e.sb.size)) {
		snprintf(why, whylen, "send: %s",
			 k < 0 ? strerror(errno) : "short");
		proto_enc_free(&e);
		return EBB_EIO;
	}
	proto_enc_free(&e);
	/* The reply: prefix, then header; the fd rides on its first bytes. */
	while (got < PROTO_PREFIX_LEN + hlen || got < PROTO_PREFIX_LEN) {
		uint8_t *dst = got < PROTO_PREFIX_LEN ? pre + got :
							hdr + (got - PROTO_PREFIX_LEN);
		size_t want = got < PROTO_PREFIX_LEN ? PROTO_PREFIX_LEN - got :
						       PROTO_PREFIX_LEN + hlen - got;
		struct iovec v = {dst, want};
		struct msghdr rm = {.msg_iov = &v, .msg_iovlen = 1,
				    .msg_control = cm.buf,
				    .msg_controllen = sizeof(cm.buf)};
		struct cmsghdr *c;

		k = recvmsg(l->sock, &rm, MSG_CMSG_CLOEXEC);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			snprintf(why, whylen, "reply: %s",
				 k < 0 ? strerror(errno) : "connection closed");
			goto fail;
		}
		for (c = CMSG_FIRSTHDR(&rm); c; c = CMSG_NXTHDR(&rm, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_RIGHTS &&
			    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
				int nfd;

				memcpy(&nfd, CMSG_DATA(c), sizeof(int));
				if (*fd >= 0)
					close(*fd); /* one fd per reply */
				*fd = nfd;
			}
		got += (uint32_t)k;
		if (got == PROTO_PREFIX_LEN &&
		    (proto_prefix_parse(pre, &hlen, &plen) != EBB_OK ||
		     plen != 0 || hlen > sizeof(hdr))) {
			snprintf(why, whylen, "bad reply frame");
			goto fail;
		}
	}
	{
		ebb_err rs = EBB_OK;

		if (proto_dec_reply(&d, hdr, hlen, &msgid, &rop, &rs) !=
			    EBB_OK ||
		    msgid != l->msgid || rop != op)
			st = EBB_EPROTO;
		else
			st = rs;
	}
	if (st != EBB_OK) {
		const char *det = NULL;
		uint32_t dlen = 0;

		proto_get_str(&d, &det, &dlen, 200);
		snprintf(why, whylen, "%s%s%.*s", ebb_strerror(st),
			 dlen ? ": " : "", (int)dlen, det ? det : "");
	}
	proto_dec_free(&d);
	if (st != EBB_OK && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return st;
fail:
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return EBB_EIO;
}

/* Connect to l's socket and say LOCAL_HELLO; false (and OFF) if not. */
static bool _connect_locked(struct ebb_net *net, unsigned node,
			    struct net_local *l)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = net->cfg.timeout_ms / 1000,
			     .tv_usec = (net->cfg.timeout_ms % 1000) * 1000};
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	char why[256];
	int fd;
	ebb_err st;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, sizeof(why), "socket: %s", strerror(errno));
		_off_locked(net, node, l, why);
		return false;
	}
	memcpy(sa.sun_path, l->path, strlen(l->path) + 1);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(why, sizeof(why), "connect %s: %s", l->path,
			 strerror(errno));
		close(fd);
		_off_locked(net, node, l, why);
		return false;
	}
	/* Only bbd's uid may answer for bbd: a socket someone else bound
	 * at that path must not feed us data. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0 ||
	    cr.uid != l->uid) {
		close(fd);
		snprintf(why, sizeof(why), "%s is not served by bbd's uid",
			 l->path);
		_off_locked(net, node, l, why);
		return false;
	}
	l->sock = fd;
	{
		int nfd;

		st = _call_locked(l, PROTO_LOCAL_HELLO, l->token, 0, NULL,
				  NULL, &nfd, why, sizeof(why));
		if (nfd >= 0)
			close(nfd);
	}
	if (st != EBB_OK) {
		char w2[300];

		snprintf(w2, sizeof(w2), "LOCAL_HELLO: %s", why);
		_off_locked(net, node, l, w2);
		return false;
	}
	l->state = LOCAL_UP;
	l->gen++;
	return true;
}

/* Make sure member node has said HELLO over TCP (so we know its offer). */
static void _hello_first(struct ebb_net *net, unsigned node)
{
	struct net_local *l = &net->local[node];
	bool none;

	pthread_mutex_lock(&l->mu);
	none = l->state == LOCAL_NONE;
	pthread_mutex_unlock(&l->mu);
	if (none)
		net_connect(net, &node, 1, NULL, 0);
}

/* One request on member node's local socket, connecting first if
 * needed: LOCAL_OPEN (fd, flags in *u2) or LOCAL_RESERVE/SETTLE (bytes in
 * *u2; with gen, only on that generation of the connection, else
 * EBB_ESTALE).  EBB_E_BADOP if this member cannot serve locally. */
static ebb_err _local_call(struct ebb_net *net, unsigned node, uint32_t op,
			   const char *id, uint64_t ino, const uint64_t *u2,
			   int *fd, uint64_t *gen)
{
	struct net_local *l = &net->local[node];
	char why[256];
	ebb_err st;

	*fd = -1;
	if (!net->cfg.short_circuit)
		return EBB_E_BADOP;
	_hello_first(net, node);
	pthread_mutex_lock(&l->mu);
	if (l->state == LOCAL_NONE) {
		_off_locked(net, node, l, "no local socket offered (an "
			    "older bbd, local_socket none, or no HELLO)");
		st = EBB_E_BADOP;
		goto out;
	}
	if (op != PROTO_LOCAL_OPEN && (l->state != LOCAL_UP || l->gen != *gen)) {
		st = EBB_ESTALE; /* bbd settled that connection's writes */
		goto out;
	}
	if (l->state == LOCAL_OFF ||
	    (l->state == LOCAL_OFFERED && !_connect_locked(net, node, l))) {
		st = EBB_E_BADOP;
		goto out;
	}
	st = _call_locked(l, op, NULL, ino, id, u2, fd, why, sizeof(why));
	if (op == PROTO_LOCAL_OPEN && st == EBB_OK && *fd < 0)
		st = EBB_EPROTO;
	if (gen)
		*gen = l->gen;
	if (st == EBB_OK) {
		if (op == PROTO_LOCAL_OPEN)
			atomic_fetch_add(&net->local_opens, 1);
	} else if (st == EBB_EIO || st == EBB_EPROTO) {
		/* The connection is broken: reconnect at the next open. */
		close(l->sock);
		l->sock = -1;
		l->state = LOCAL_OFFERED;
		atomic_fetch_add(&net->local_fallbacks, 1);
		if (net->cfg.short_circuit == 2)
			fprintf(stderr, "libebb: local request on %s: %s\n",
				net_addr(net, node), why);
	} else if (st != EBB_ENOENT && st != EBB_ENOSPC &&
		   net->cfg.short_circuit == 2) {
		fprintf(stderr, "libebb: local request on %s refused (TCP): "
			"%s\n", net_addr(net, node), why);
	}
out:
	pthread_mutex_unlock(&l->mu);
	return st;
}

ebb_err local_open(struct ebb_net *net, unsigned node, const char *id,
		   uint64_t ino, int *fd)
{
	return _local_call(net, node, PROTO_LOCAL_OPEN, id, ino, NULL, fd,
			   NULL);
}

ebb_err local_open_write(struct ebb_net *net, unsigned node,
			 const char *id, uint64_t ino, int *fd, uint64_t *gen)
{
	uint64_t flags = PROTO_LOCAL_WRITE;

	if (!net->cfg.local_writes) {
		*fd = -1;
		return EBB_E_BADOP;
	}
	return _local_call(net, node, PROTO_LOCAL_OPEN, id, ino, &flags, fd,
			   gen);
}

ebb_err local_reserve(struct ebb_net *net, unsigned node, const char *id,
		      uint64_t ino, uint64_t bytes, uint64_t gen)
{
	int fd;

	return _local_call(net, node, PROTO_LOCAL_RESERVE, id, ino, &bytes,
			   &fd, &gen);
}

void local_settle(struct ebb_net *net, unsigned node, const char *id,
		  uint64_t ino, uint64_t bytes, uint64_t gen)
{
	int fd;

	/* ESTALE: that connection ended and bbd settled it already. */
	(void)_local_call(net, node, PROTO_LOCAL_SETTLE, id, ino, &bytes,
			  &fd, &gen);
}

bool local_all(struct ebb_net *net)
{
	int v = atomic_load(&net->local_all);

	if (v)
		return v == 1;
	if (!net->cfg.short_circuit) {
		atomic_store(&net->local_all, 2);
		return false;
	}
	net_connect(net, NULL, net->n, NULL, 0);
	for (unsigned i = 0; i < net->n; i++) {
		struct net_local *l = &net->local[i];
		bool up;

		pthread_mutex_lock(&l->mu);
		if (l->state == LOCAL_NONE)
			_off_locked(net, i, l, "no local socket offered");
		if (l->state == LOCAL_OFFERED)
			_connect_locked(net, i, l);
		up = l->state == LOCAL_UP;
		pthread_mutex_unlock(&l->mu);
		if (!up) {
			atomic_store(&net->local_all, 2);
			return false;
		}
	}
	atomic_store(&net->local_all, 1);
	return true;
}
