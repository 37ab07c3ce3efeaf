/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd_flood: the clients of flood.t (issue 11), against the first daemon
 * of $EBB_NODES.  Each prints "# " lines and a last line of results.
 *
 *   bbd_flood flood N SECS    open N connections that never send a byte
 *                             (raises its own open files limit), hold
 *                             them SECS s; prints "connected C closed X":
 *                             how many the daemon accepted and closed
 *   bbd_flood hello N MS      N times, MS ms apart: connect, HELLO, PING;
 *                             prints "answered A of N max_ms M"; exit 1
 *                             if one was not answered
 *   bbd_flood slow MODE       MODE prefix: a frame prefix one byte a
 *                             second; hello: a HELLO frame spread over
 *                             60 s; frame (authenticated first): a PING
 *                             frame one byte a second.  Prints
 *                             "closed_after S": exit 1 if all was sent
 *                             and the daemon kept the connection
 *   bbd_flood conns N SECS    N connections, each HELLO; prints
 *                             "accepted A refused R" and the first
 *                             refusal's "status NAME detail TEXT"; holds
 *                             them SECS s, then checks they still answer
 *   bbd_flood idle SECS       HELLO, then wait up to SECS s for the daemon
 *                             to close: prints "closed_after S" or exit 1
 *   bbd_flood inflight INST N one connection, N FSYNCs of INST's root sent
 *                             at once (each goes to an I/O thread, so the
 *                             worker has dispatched them all before any
 *                             reply); prints "ok A busy B" and the first
 *                             EBUSY's "detail TEXT"
 *   bbd_flood status KEY      NODE_STATUS's conns.KEY (or limits.KEY)
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "rawrpc.h"
#include "tap.h"

static void *_zalloc(size_t n)
{
	void *p = tap_malloc(n);

	memset(p, 0, n);
	return p;
}

static double _now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Whether the daemon closed fd within secs (EOF or reset). */
static bool _closed_within(int fd, double secs)
{
	double end = _now() + secs;
	char b[256];

	while (_now() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int ms = (int)((end - _now()) * 1000) + 1;

		if (poll(&p, 1, ms) <= 0)
			continue;
		ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
	return false;
}

static int _flood(unsigned n, unsigned secs)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	struct pollfd *p = _zalloc(n * sizeof(*p));
	bool *up = _zalloc(n * sizeof(*up)), *gone = _zalloc(n);
	struct rlimit rl;
	unsigned opened = 0, connected = 0, closed = 0;
	double end;

	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < n + 64)
		bail("open files limit %llu, %u needed",
		     (unsigned long long)rl.rlim_cur, n + 64);
	if (getaddrinfo(rr_host, rr_port, &hints, &ai) != 0)
		bail("cannot resolve %s:%s", rr_host, rr_port);
	for (unsigned i = 0; i < n; i++) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);

		if (fd < 0)
			sysbail("socket");
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
		    errno != EINPROGRESS)
			sysbail("connect");
		p[i] = (struct pollfd){.fd = fd, .events = POLLOUT};
		opened++;
	}
	freeaddrinfo(ai);
	end = _now() + secs;
	while (_now() < end) {
		if (poll(p, n, 200) < 0 && errno != EINTR)
			sysbail("poll");
		for (unsigned i = 0; i < n; i++) {
			char b[64];
			ssize_t k;

			if (gone[i] || !p[i].revents)
				continue;
			if (!up[i] && (p[i].revents & POLLOUT) &&
			    !(p[i].revents & (POLLERR | POLLHUP))) {
				up[i] = true;
				connected++;
				p[i].events = POLLIN | POLLRDHUP;
				continue;
			}
			k = recv(p[i].fd, b, sizeof(b), MSG_DONTWAIT);
			if (k > 0 || (k < 0 && errno == EAGAIN))
				continue;
			if (!up[i]) {
				/* refused or reset before it was up */
				up[i] = true;
				connected++;
			}
			gone[i] = true;
			closed++;
			close(p[i].fd);
			p[i].fd = -1;
		}
	}
	printf("connected %u closed %u\n", connected, closed);
	return 0;
}

static int _connect_hello(int *fdp)
{
	int fd = rr_connect();

	*fdp = fd;
	return rr_hello(fd);
}

static int _hello(unsigned n, unsigned ms)
{
	unsigned answered = 0;
	double max = 0;

	for (unsigned i = 0; i < n; i++) {
		double t0 = _now(), dt;
		int fd;

		if (_connect_hello(&fd) && rr_ping(fd, 2) == EBB_OK) {
			answered++;
			dt = _now() - t0;
			if (dt > max)
				max = dt;
		} else {
			diag("probe %u: not answered after %.3f s", i,
			     _now() - t0);
		}
		close(fd);
		usleep(ms * 1000);
	}
	printf("answered %u of %u max_ms %.0f\n", answered, n, max * 1000);
	return answered == n ? 0 : 1;
}

/* Send buf one byte every gap s; the seconds it took the daemon to close
 * the connection, or -1 if it was all sent and the connection is open. */
static double _trickle(int fd, const uint8_t *buf, size_t len, double gap)
{
	double t0 = _now();

	for (size_t i = 0; i < len; i++) {
		if (send(fd, buf + i, 1, MSG_NOSIGNAL) != 1)
			return _now() - t0;
		if (_closed_within(fd, gap))
			return _now() - t0;
	}
	return _closed_within(fd, 2) ? _now() - t0 : -1;
}

static int _slow(const char *mode)
{
	int fd = rr_connect();
	struct proto_enc e;
	uint8_t pre[PROTO_PREFIX_LEN], frame[4096];
	size_t len;
	double gap = 1.0, t;

	if (!strcmp(mode, "prefix")) {
		/* a header of 60 KiB announced: never complete */
		proto_prefix_write(frame, 60000, 0);
		len = PROTO_PREFIX_LEN;
	} else {
		char *cred = NULL;

		if (!strcmp(mode, "frame")) {
			if (!rr_hello(fd))
				bail("HELLO refused");
			proto_enc_request(&e, 7, PROTO_OP_PING, 0);
		} else {
			cred = rr_cred();
			proto_enc_request(&e, 1, PROTO_OP_HELLO, 3);
			proto_put_u64(&e, PROTO_VERSION);
			proto_put_cstr(&e, cred);
			proto_put_cstr(&e, "bbd_flood");
		}
		proto_prefix_write(pre, (uint32_t)e.sb.size, 0);
		memcpy(frame, pre, sizeof(pre));
		memcpy(frame + sizeof(pre), e.sb.data, e.sb.size);
		len = sizeof(pre) + e.sb.size;
		proto_enc_free(&e);
		free(cred);
		if (!strcmp(mode, "hello"))
			gap = 60.0 / (double)len;
	}
	t = _trickle(fd, frame, len, gap);
	close(fd);
	printf("closed_after %.1f\n", t);
	return t < 0 ? 1 : 0;
}

static int _conns(unsigned n, unsigned secs)
{
	int *fds = _zalloc(n * sizeof(int));
	unsigned accepted = 0, refused = 0, alive = 0;
	char first[200] = "";

	for (unsigned i = 0; i < n; i++) {
		struct proto_enc e;
		struct rr_reply r;
		char *cred = rr_cred();
		long st;

		fds[i] = rr_connect();
		proto_enc_request(&e, 1, PROTO_OP_HELLO, 3);
		proto_put_u64(&e, PROTO_VERSION);
		proto_put_cstr(&e, cred);
		proto_put_cstr(&e, "bbd_flood");
		free(cred);
		st = rr_call(fds[i], &e, 1, &r);
		if (st == EBB_OK) {
			accepted++;
		} else {
			if (!refused++)
				snprintf(first, sizeof(first),
					 "status %s detail %s",
					 st < 0 ? "none" :
						  ebb_errname((ebb_err)st),
					 r.detail);
			if (!_closed_within(fds[i], 5))
				diag("a refused connection stayed open");
			close(fds[i]);
			fds[i] = -1;
		}
		rr_reply_free(&r);
	}
	sleep(secs);
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0) {
			if (rr_ping(fds[i], 3) == EBB_OK)
				alive++;
			close(fds[i]);
		}
	printf("accepted %u refused %u alive %u\n", accepted, refused, alive);
	if (refused)
		printf("%s\n", first);
	return 0;
}

static int _idle(unsigned secs)
{
	int fd;
	double t0;

	if (!_connect_hello(&fd))
		bail("HELLO refused");
	t0 = _now();
	if (!_closed_within(fd, secs)) {
		printf("still open after %u s\n", secs);
		return 1;
	}
	printf("closed_after %.1f\n", _now() - t0);
	return 0;
}

static int _inflight(const char *inst, unsigned n)
{
	int fd;
	unsigned okc = 0, busy = 0, other = 0;
	char first[200] = "";
	struct proto_enc e;
	uint8_t pre[PROTO_PREFIX_LEN];
	char *all = NULL;
	size_t len = 0;

	if (!_connect_hello(&fd))
		bail("HELLO refused");
	for (unsigned i = 0; i < n; i++) {
		proto_enc_request(&e, 100 + i, PROTO_OP_FSYNC, 2);
		proto_put_cstr(&e, inst);
		proto_put_u64(&e, 1);
		proto_prefix_write(pre, (uint32_t)e.sb.size, 0);
		all = realloc(all, len + sizeof(pre) + e.sb.size);
		if (!all)
			bail("out of memory");
		memcpy(all + len, pre, sizeof(pre));
		memcpy(all + len + sizeof(pre), e.sb.data, e.sb.size);
		len += sizeof(pre) + e.sb.size;
		proto_enc_free(&e);
	}
	if (rr_send_all(fd, all, len) != 0)
		sysbail("send");
	free(all);
	for (unsigned i = 0; i < n; i++) {
		struct rr_reply r;

		if (rr_recv_reply(fd, &r) != 1)
			bail("reply %u of %u missing", i, n);
		if (r.status == EBB_OK) {
			okc++;
		} else if (r.status == EBB_EBUSY) {
			if (!busy++)
				snprintf(first, sizeof(first), "detail %s",
					 r.detail);
		} else {
			other++;
			diag("msgid %llu: %s: %s", (unsigned long long)r.msgid,
			     ebb_errname(r.status), r.detail);
		}
		rr_reply_free(&r);
	}
	/* the connection is still good */
	if (rr_ping(fd, 7) != EBB_OK)
		bail("PING after the burst failed");
	close(fd);
	printf("ok %u busy %u other %u\n", okc, busy, other);
	if (busy)
		printf("%s\n", first);
	return 0;
}

static int _status(const char *key)
{
	const msgpack_object *map, *sub;
	struct proto_enc e;
	struct rr_reply r;
	struct proto_dec d;
	uint64_t id, v;
	uint32_t op;
	ebb_err st;
	int fd;

	if (!_connect_hello(&fd))
		bail("HELLO refused");
	proto_enc_request(&e, 2, PROTO_OP_NODE_STATUS, 0);
	if (rr_call(fd, &e, 2, &r) != EBB_OK)
		bail("NODE_STATUS failed: %s", r.detail);
	proto_dec_reply(&d, r.hdr, r.hlen, &id, &op, &st);
	if (!proto_get_obj(&d, &map) || map->type != MSGPACK_OBJECT_MAP)
		bail("NODE_STATUS: no map");
	if (!((sub = proto_map_get(map, "conns")) &&
	      proto_map_u64(sub, key, &v)) &&
	    !((sub = proto_map_get(map, "limits")) &&
	      proto_map_u64(sub, key, &v)))
		bail("NODE_STATUS: no conns.%s or limits.%s", key, key);
	printf("%llu\n", (unsigned long long)v);
	proto_dec_free(&d);
	rr_reply_free(&r);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (rr_target() < 0)
		bail("EBB_NODES is not set");
	if (argc == 4 && !strcmp(argv[1], "flood"))
		return _flood((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "hello"))
		return _hello((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "slow"))
		return _slow(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "conns"))
		return _conns((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "idle"))
		return _idle((unsigned)atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "inflight"))
		return _inflight(argv[2], (unsigned)atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "status"))
		return _status(argv[2]);
	fprintf(stderr, "usage: see tests/bbd/bbd_flood.c\n");
	return 2;
}
