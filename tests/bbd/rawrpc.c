/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rawrpc: a bare-hands client of the bbd protocol for the daemon's tests
 * (see rawrpc.h). */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "auth.h"
#include "rawrpc.h"
#include "tap.h"

#define TIMEOUT_MS 5000

char rr_host[256], rr_port[16];

int rr_target(void)
{
	const char *nodes = getenv("EBB_NODES"), *colon;
	int n;

	if (!nodes || !*nodes)
		return -1;
	n = (int)strcspn(nodes, ",");
	colon = memrchr(nodes, ':', (size_t)n);
	if (!colon)
		return -1;
	snprintf(rr_host, sizeof(rr_host), "%.*s", (int)(colon - nodes), nodes);
	snprintf(rr_port, sizeof(rr_port), "%.*s",
		 (int)(nodes + n - colon - 1), colon + 1);
	return 0;
}



int rr_connect(void)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	int fd;

	if (getaddrinfo(rr_host, rr_port, &hints, &ai) != 0)
		bail("cannot resolve %s:%s", rr_host, rr_port);
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		sysbail("connect %s:%s", rr_host, rr_port);
	freeaddrinfo(ai);
	return fd;
}

int rr_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One send per frame: separate small sends would meet Nagle and delayed
 * ACKs and make every round trip 40 ms. */
int rr_send_frame(int fd, const void *hdr, uint32_t hlen,
		       const void *payload, uint32_t plen)
{
	uint8_t *buf = malloc(PROTO_PREFIX_LEN + (size_t)hlen + plen);
	int rc;

	if (!buf)
		bail("out of memory");
	proto_prefix_write(buf, hlen, plen);
	memcpy(buf + PROTO_PREFIX_LEN, hdr, hlen);
	if (plen)
		memcpy(buf + PROTO_PREFIX_LEN + hlen, payload, plen);
	rc = rr_send_all(fd, buf, PROTO_PREFIX_LEN + (size_t)hlen + plen);
	free(buf);
	return rc;
}

/* Read exactly len bytes: 1 done, 0 EOF/reset, -1 timeout. */
int rr_recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, TIMEOUT_MS) <= 0)
			return -1;
		n = recv(fd, p, len, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		p += n;
		len -= (size_t)n;
	}
	return 1;
}


/* One reply: 1 got it, 0 connection closed, -1 timeout or garbage. */
int rr_recv_reply(int fd, struct rr_reply *r)
{
	uint8_t prefix[PROTO_PREFIX_LEN];
	struct proto_dec d;
	const char *s;
	uint32_t slen;
	uint8_t *pl;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = rr_recv_all(fd, prefix, sizeof(prefix));
	if (rc != 1)
		return rc;
	if (proto_prefix_parse(prefix, &r->hlen, &r->plen) != EBB_OK)
		return -1;
	r->hdr = malloc(r->hlen);
	pl = malloc(r->plen + 1);
	if (!r->hdr || !pl)
		bail("out of memory");
	if (rr_recv_all(fd, r->hdr, r->hlen) != 1 ||
	    rr_recv_all(fd, pl, r->plen) != 1) {
		free(pl);
		return -1;
	}
	r->payload = pl;
	if (proto_dec_reply(&d, r->hdr, r->hlen, &r->msgid, &r->op,
			    &r->status) != EBB_OK) {
		proto_dec_free(&d);
		return -1;
	}
	if (r->status != EBB_OK && proto_get_str(&d, &s, &slen, 4096))
		snprintf(r->detail, sizeof(r->detail), "%.*s", (int)slen, s);
	proto_dec_free(&d);
	return 1;
}

void rr_reply_free(struct rr_reply *r)
{
	free(r->hdr);
	free(r->payload);
	r->hdr = NULL;
	r->payload = NULL;
}

/* The daemon closed the connection (EOF or reset) within the timeout. */
int rr_closed(int fd)
{
	char buf[4096];

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, TIMEOUT_MS) <= 0)
			return 0;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0 && errno != EINTR)
			return 1;
	}
}

/* Send a request built from e and get its reply status; -1 if none. */
long rr_call(int fd, struct proto_enc *e, uint64_t msgid,
		  struct rr_reply *r)
{
	int rc = rr_send_frame(fd, e->sb.data, (uint32_t)e->sb.size, NULL, 0);

	proto_enc_free(e);
	if (rc != 0 || rr_recv_reply(fd, r) != 1 || r->msgid != msgid)
		return -1;
	return (long)r->status;
}

long rr_hello_with(int fd, uint32_t version, const char *cred)
{
	struct proto_enc e;
	struct rr_reply r;
	long st;

	proto_enc_request(&e, 1, PROTO_OP_HELLO, 3);
	proto_put_u64(&e, version);
	proto_put_cstr(&e, cred);
	proto_put_cstr(&e, "t_frames");
	st = rr_call(fd, &e, 1, &r);
	if (st > 0)
		diag("HELLO refused: %s: %s", ebb_errname((ebb_err)st),
		     r.detail);
	rr_reply_free(&r);
	return st;
}

char *rr_cred(void)
{
	char *cred, err[256];

	if (auth_cred_encode(NULL, &cred, err, sizeof(err)) != EBB_OK)
		bail("cannot make a MUNGE credential: %s", err);
	return cred;
}

int rr_hello(int fd)
{
	char *cred = rr_cred();
	long st = rr_hello_with(fd, PROTO_VERSION, cred);

	free(cred);
	return st == EBB_OK;
}

long rr_ping(int fd, uint64_t msgid)
{
	struct proto_enc e;
	struct rr_reply r;
	long st;

	proto_enc_request(&e, msgid, PROTO_OP_PING, 0);
	st = rr_call(fd, &e, msgid, &r);
	rr_reply_free(&r);
	return st;
}

