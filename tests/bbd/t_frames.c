/* SPDX-License-Identifier: GPL-2.0-or-later */
/* t_frames: bbd's frame handling and its "Connection errors" table, over a
 * raw socket, then 1,000 random malformed frames.
 *
 * DESIGN: speaks the protocol by hand (common/proto.h for the codec,
 * common/auth.h for credentials) so that it can send what no client
 * library would.  The daemon comes from the fixture: EBB_NODES (first
 * entry) and EBB_MUNGE_SOCKET; EBB_BBD_PID, if set, is checked alive at the
 * end.  The random part is seeded from EBB_SEED or the clock; the seed is
 * printed so a failure can be replayed.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "auth.h"
#include "proto.h"
#include "rawrpc.h"
#include "tap.h"

/* Send raw bytes as a whole frame body; expect an error reply with msgid 0
 * and the given status, then a close. */
static void _fatal_case(const char *what, const uint8_t *prefix,
			const void *body, size_t blen, bool hello_first,
			ebb_err want)
{
	int fd = rr_connect();
	struct rr_reply r;
	int rc;

	if (hello_first && !rr_hello(fd))
		bail("HELLO failed");
	rr_send_all(fd, prefix, PROTO_PREFIX_LEN);
	if (blen)
		rr_send_all(fd, body, blen);
	rc = rr_recv_reply(fd, &r);
	ok(rc == 1 && r.msgid == 0 && r.op == 0 && r.status == want,
	   "%s: reply [0, 0x8000, %s] (got rc %d, msgid %llu, %s: %s)", what,
	   ebb_errname(want), rc, (unsigned long long)r.msgid,
	   ebb_errname(r.status), r.detail);
	ok(rr_closed(fd), "%s: connection closed", what);
	rr_reply_free(&r);
	close(fd);
}

/* ---- random frames ---------------------------------------------------- */

static unsigned _rand(unsigned n)
{
	return (unsigned)random() % n;
}

static void _rand_obj(msgpack_packer *pk, int depth)
{
	char buf[64];
	unsigned n;

	switch (_rand(depth > 0 ? 9 : 7)) {
	case 0: msgpack_pack_nil(pk); break;
	case 1: msgpack_pack_true(pk); break;
	case 2: msgpack_pack_uint64(pk, (uint64_t)random() << _rand(40)); break;
	case 3: msgpack_pack_int64(pk, -(int64_t)_rand(1u << 30) - 1); break;
	case 4: msgpack_pack_double(pk, 1.5); break;
	case 5:
		n = _rand(sizeof(buf));
		for (unsigned i = 0; i < n; i++)
			buf[i] = (char)_rand(256);
		msgpack_pack_str(pk, n);
		msgpack_pack_str_body(pk, buf, n);
		break;
	case 6:
		n = _rand(16);
		msgpack_pack_bin(pk, n);
		msgpack_pack_bin_body(pk, buf, n);
		break;
	case 7:
		n = _rand(4);
		msgpack_pack_array(pk, n);
		while (n--)
			_rand_obj(pk, depth - 1);
		break;
	default:
		n = _rand(3);
		msgpack_pack_map(pk, n);
		while (n--) {
			_rand_obj(pk, depth - 1);
			_rand_obj(pk, depth - 1);
		}
		break;
	}
}

/* A first argument that is never a string: every op with arguments then
 * fails its first getter, and an op without arguments has one too many. */
static void _rand_nonstr(msgpack_packer *pk)
{
	switch (_rand(4)) {
	case 0: msgpack_pack_nil(pk); break;
	case 1: msgpack_pack_uint64(pk, random()); break;
	case 2: msgpack_pack_array(pk, 0); break;
	default: msgpack_pack_false(pk); break;
	}
}

static const uint32_t _known_ops[] = {
#define PROTO_OP(name, num, cls, args, res) num,
#include "proto_ops.h"
#undef PROTO_OP
};

struct fuzz_stats {
	unsigned keep_sent, keep_ok, close_sent, close_ok, reconnects;
};

static void _fuzz(unsigned count, struct fuzz_stats *st)
{
	int fd = -1;
	uint64_t msgid = 100;

	for (unsigned i = 0; i < count; i++) {
		unsigned kind = _rand(6);
		uint8_t prefix[PROTO_PREFIX_LEN], junk[256];
		struct proto_enc e;
		struct rr_reply r;
		uint32_t op;
		int rc;

		if (fd < 0) {
			fd = rr_connect();
			st->reconnects++;
			if (!rr_hello(fd))
				bail("HELLO failed during fuzzing");
		}
		switch (kind) {
		case 0: /* wrong argument types: E_PROTO, connection kept */
		case 1: /* unknown opcode: E_BADOP, connection kept */
		case 2: /* payload on a request that takes none: E_PROTO */
			do
				op = _known_ops[_rand(sizeof(_known_ops) /
						      sizeof(_known_ops[0]))];
			while (op == PROTO_OP_HELLO || op == PROTO_OP_WRITE ||
			       op == PROTO_OP_INST_CREATE ||
			       op == PROTO_OP_INST_DESTROY);
			/* Unknown: not any opcode proto_ops.h defines (the
			 * opcodes past 34 once drew STAGE_WORK, 44). */
			while (kind == 1 && proto_op_name(op = 35 + _rand(0x7000)))
				;
			msgid++;
			if (kind == 0) {
				unsigned extra = _rand(4);

				proto_enc_request(&e, msgid, op, 1 + extra);
				_rand_nonstr(&e.pk);
				while (extra--)
					_rand_obj(&e.pk, 2);
			} else {
				unsigned nargs = _rand(3);

				proto_enc_request(&e, msgid, op, nargs);
				while (nargs--)
					_rand_obj(&e.pk, 2);
			}
			st->keep_sent++;
			rc = rr_send_frame(fd, e.sb.data, (uint32_t)e.sb.size,
					 junk, kind == 2 ? 1 + _rand(64) : 0);
			proto_enc_free(&e);
			if (rc == 0 && rr_recv_reply(fd, &r) == 1 &&
			    r.msgid == msgid && r.op == op &&
			    r.status == (kind == 1 ? EBB_E_BADOP : EBB_E_PROTO))
				st->keep_ok++;
			else
				diag("frame %u (kind %u, op %u): rc %d status %s: %s",
				     i, kind, op, rc, ebb_errname(r.status),
				     r.detail);
			rr_reply_free(&r);
			break;
		case 3: /* random prefix and bytes, then close */
			for (unsigned j = 0; j < sizeof(junk); j++)
				junk[j] = (uint8_t)_rand(256);
			rr_send_all(fd, junk, PROTO_PREFIX_LEN + _rand(200));
			close(fd);
			fd = -1;
			break;
		case 4: /* random bytes as a header: E_PROTO + close, or an
			 * answer if they happen to decode */
			for (unsigned j = 0; j < sizeof(junk); j++)
				junk[j] = (uint8_t)_rand(256);
			st->close_sent++;
			rr_send_frame(fd, junk, 1 + _rand(200), NULL, 0);
			rc = rr_recv_reply(fd, &r);
			if (rc == 1 && r.status == EBB_E_PROTO && r.msgid == 0 &&
			    rr_closed(fd))
				st->close_ok++;
			else if (rc == 1 && r.msgid != 0)
				st->close_ok++; /* decoded into some request */
			else if (rc == 0)
				st->close_ok++;
			else
				diag("frame %u (random header): rc %d", i, rc);
			rr_reply_free(&r);
			close(fd);
			fd = -1;
			break;
		default: /* a truncated frame, then close */
			proto_prefix_write(prefix, 100 + _rand(1000), _rand(5000));
			rr_send_all(fd, prefix, sizeof(prefix));
			rr_send_all(fd, junk, _rand(100));
			close(fd);
			fd = -1;
			break;
		}
	}
	if (fd >= 0)
		close(fd);
}

/* One frame (prefix, header in e, freed, and plen payload bytes) into buf. */
static void _frame(msgpack_sbuffer *buf, struct proto_enc *e,
		   const void *payload, uint32_t plen)
{
	uint8_t prefix[PROTO_PREFIX_LEN];

	proto_prefix_write(prefix, (uint32_t)e->sb.size, plen);
	msgpack_sbuffer_write(buf, (const char *)prefix, sizeof(prefix));
	msgpack_sbuffer_write(buf, e->sb.data, e->sb.size);
	if (plen)
		msgpack_sbuffer_write(buf, payload, plen);
	proto_enc_free(e);
}

#define BIG (512u * 1024)

/* Big payloads, which bbd reads straight from the socket rather than
 * through its bufferevent, and big READ replies, which it sends with
 * sendfile: the same framing, errors and bytes as small ones.  Needs the
 * t_frames instance (capacity 1 MiB, so BIG fits once). */
static void _big_frames(void)
{
	struct proto_enc e;
	struct rr_reply r;
	msgpack_sbuffer all;
	uint8_t *data = malloc(BIG), *want = calloc(1, 2 * BIG);
	unsigned good = 0;
	int fd;

	if (!data || !want)
		bail("out of memory");
	for (unsigned i = 0; i < BIG; i++)
		data[i] = (uint8_t)(i * 7 + i / 4096);
	fd = rr_connect();
	if (!rr_hello(fd))
		bail("HELLO failed");
	/* WRITE of BIG bytes and a PING in one stream, sent in dribbles so
	 * the payload arrives over many reads. */
	msgpack_sbuffer_init(&all);
	proto_enc_request(&e, 2000, PROTO_OP_WRITE, 3);
	proto_put_cstr(&e, "t_frames");
	proto_put_u64(&e, 99);
	proto_put_u64(&e, 0);
	_frame(&all, &e, data, BIG);
	proto_enc_request(&e, 2001, PROTO_OP_PING, 0);
	_frame(&all, &e, NULL, 0);
	for (size_t at = 0; at < all.size;) {
		size_t n = all.size - at < 100000 ? all.size - at : 100000;

		rr_send_all(fd, all.data + at, n);
		at += n;
		usleep(2000);
	}
	msgpack_sbuffer_destroy(&all);
	/* Replies may come in either order: the PING runs inline, the WRITE
	 * on an I/O thread. */
	for (unsigned i = 0; i < 2; i++) {
		if (rr_recv_reply(fd, &r) == 1 && r.status == EBB_OK &&
		    (r.msgid == 2000 || r.msgid == 2001))
			good += r.msgid == 2000 ? 1 : 2;
		rr_reply_free(&r);
	}
	is_int(good, 3, "a %u KiB WRITE sent in pieces, then a PING: both OK",
	       BIG / 1024);
	/* READ across the end: data, then zeros, exactly 2 * BIG bytes. */
	memcpy(want, data + BIG / 2, BIG / 2);
	proto_enc_request(&e, 2002, PROTO_OP_READ, 4);
	proto_put_cstr(&e, "t_frames");
	proto_put_u64(&e, 99);
	proto_put_u64(&e, BIG / 2);
	proto_put_u64(&e, 2 * BIG);
	ok(rr_call(fd, &e, 2002, &r) == EBB_OK && r.plen == 2 * BIG &&
		   !memcmp(r.payload, want, 2 * BIG),
	   "a %u KiB READ over the end: the data, then zeros", 2 * BIG / 1024);
	rr_reply_free(&r);
	/* A big payload on an op that takes none: E_PROTO, connection kept. */
	proto_enc_request(&e, 2003, PROTO_OP_PING, 0);
	rr_send_frame(fd, e.sb.data, (uint32_t)e.sb.size, data, BIG);
	proto_enc_free(&e);
	ok(rr_recv_reply(fd, &r) == 1 && r.msgid == 2003 &&
		   r.status == EBB_E_PROTO,
	   "PING with a %u KiB payload: E_PROTO", BIG / 1024);
	rr_reply_free(&r);
	is_int(rr_ping(fd, 2004), EBB_OK, "... and the connection still answers");
	/* EOF half way through a big payload: the daemon just closes. */
	msgpack_sbuffer_init(&all);
	proto_enc_request(&e, 2005, PROTO_OP_WRITE, 3);
	proto_put_cstr(&e, "t_frames");
	proto_put_u64(&e, 98);
	proto_put_u64(&e, 0);
	_frame(&all, &e, data, BIG);
	rr_send_all(fd, all.data, all.size / 2);
	msgpack_sbuffer_destroy(&all);
	shutdown(fd, SHUT_WR);
	ok(rr_closed(fd), "EOF inside a big payload: the connection is closed");
	close(fd);
	free(data);
	free(want);
}

int main(void)
{
	const char *pid = getenv("EBB_BBD_PID");
	const char *seed_env = getenv("EBB_SEED");
	uint8_t prefix[PROTO_PREFIX_LEN];
	static const uint8_t garbage[] = {0xc1, 0xc1, 0xc1, 0xc1};
	struct fuzz_stats fs = {0};
	struct proto_enc e;
	struct rr_reply r;
	unsigned seed;
	char *cred;
	int fd;
	long st;

	if (rr_target() != 0)
		skip_all("EBB_NODES is not set (run through tests/bbd/frames.t)");
	signal(SIGPIPE, SIG_IGN);
	seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 10)
			: (unsigned)time(NULL);
	srandom(seed);
	plan(39);
	diag("bbd at %s:%s, EBB_SEED=%u", rr_host, rr_port, seed);

	/* HELLO refusals: each closes the connection. */
	fd = rr_connect();
	is_int(rr_hello_with(fd, PROTO_VERSION, ""), EBB_E_AUTH,
	       "HELLO with an empty credential: E_AUTH");
	ok(rr_closed(fd), "... and the connection is closed");
	close(fd);
	fd = rr_connect();
	is_int(rr_hello_with(fd, PROTO_VERSION, "MUNGE:garbage:"), EBB_E_AUTH,
	       "HELLO with a garbage credential: E_AUTH");
	ok(rr_closed(fd), "... and the connection is closed");
	close(fd);
	fd = rr_connect();
	cred = rr_cred();
	is_int(rr_hello_with(fd, PROTO_VERSION + 98, cred), EBB_E_VERSION,
	       "HELLO of another protocol version: E_VERSION");
	free(cred);
	ok(rr_closed(fd), "... and the connection is closed");
	close(fd);
	fd = rr_connect();
	proto_enc_request(&e, 7, PROTO_OP_HELLO, 1);
	proto_put_u64(&e, PROTO_VERSION);
	st = rr_call(fd, &e, 7, &r);
	rr_reply_free(&r);
	is_int(st, EBB_E_PROTO, "HELLO without a credential: E_PROTO");
	ok(rr_closed(fd), "... and the connection is closed");
	close(fd);

	/* Requests before HELLO. */
	fd = rr_connect();
	is_int(rr_ping(fd, 9), EBB_E_AUTH, "PING before HELLO: E_AUTH");
	ok(rr_closed(fd), "... and the connection is closed");
	close(fd);

	/* Bad prefixes and headers: [0, 0x8000, status, detail], close. */
	proto_prefix_write(prefix, 0, 0);
	_fatal_case("header length 0", prefix, NULL, 0, false, EBB_E_PROTO);
	proto_prefix_write(prefix, PROTO_MAX_HEADER + 1, 0);
	_fatal_case("header over 64 KiB", prefix, NULL, 0, true, EBB_E_TOOBIG);
	proto_prefix_write(prefix, 10, PROTO_MAX_PAYLOAD + 1);
	_fatal_case("payload over 16 MiB", prefix, NULL, 0, true,
		    EBB_E_TOOBIG);
	proto_prefix_write(prefix, sizeof(garbage), 0);
	_fatal_case("undecodable header", prefix, garbage, sizeof(garbage),
		    true, EBB_E_PROTO);
	{
		uint8_t one[2] = {0x91, 0x05}; /* [5] */

		proto_prefix_write(prefix, sizeof(one), 0);
		_fatal_case("header array of one item", prefix, one,
			    sizeof(one), true, EBB_E_PROTO);
	}

	/* Errors that keep the connection. */
	fd = rr_connect();
	if (!rr_hello(fd))
		bail("HELLO with a good credential failed");
	proto_enc_request(&e, 20, 0x7abc, 0);
	is_int(rr_call(fd, &e, 20, &r), EBB_E_BADOP, "unknown opcode: E_BADOP");
	rr_reply_free(&r);
	is_int(rr_ping(fd, 21), EBB_OK, "... and the connection still answers");
	proto_enc_request(&e, 22, PROTO_OP_LOOKUP, 3);
	proto_put_u64(&e, 5);
	proto_put_u64(&e, 1);
	proto_put_cstr(&e, "x");
	is_int(rr_call(fd, &e, 22, &r), EBB_E_PROTO,
	       "LOOKUP with an integer instance: E_PROTO");
	rr_reply_free(&r);
	is_int(rr_ping(fd, 23), EBB_OK, "... and the connection still answers");
	proto_enc_request(&e, 24, PROTO_OP_PING, 0);
	rr_send_frame(fd, e.sb.data, (uint32_t)e.sb.size, "abc", 3);
	proto_enc_free(&e);
	st = rr_recv_reply(fd, &r) == 1 && r.msgid == 24 ? (long)r.status : -1;
	rr_reply_free(&r);
	is_int(st, EBB_E_PROTO, "PING with a payload: E_PROTO");
	is_int(rr_ping(fd, 25), EBB_OK, "... and the connection still answers");
	{
		/* Ten pipelined PINGs in one write, ten replies. */
		struct proto_enc all;
		unsigned got = 0;

		msgpack_sbuffer_init(&all.sb);
		for (unsigned i = 0; i < 10; i++) {
			proto_enc_request(&e, 100 + i, PROTO_OP_PING, 0);
			proto_prefix_write(prefix, (uint32_t)e.sb.size, 0);
			msgpack_sbuffer_write(&all.sb, (const char *)prefix,
					      sizeof(prefix));
			msgpack_sbuffer_write(&all.sb, e.sb.data, e.sb.size);
			proto_enc_free(&e);
		}
		rr_send_all(fd, all.sb.data, all.sb.size);
		msgpack_sbuffer_destroy(&all.sb);
		for (unsigned i = 0; i < 10; i++) {
			if (rr_recv_reply(fd, &r) == 1 && r.status == EBB_OK &&
			    r.msgid >= 100 && r.msgid < 110)
				got++;
			rr_reply_free(&r);
		}
		is_int(got, 10, "ten pipelined PINGs get ten replies");
	}
	close(fd);

	/* 1,000 random malformed frames. */
	_fuzz(1000, &fs);
	diag("fuzz: %u kept-connection frames, %u closing, %u connections",
	     fs.keep_sent, fs.close_sent, fs.reconnects);
	is_int(fs.keep_ok, fs.keep_sent,
	       "every recoverable bad frame got its own error reply");
	is_int(fs.close_ok, fs.close_sent,
	       "every undecodable header got E_PROTO and a close");

	/* The daemon is still fine. */
	fd = rr_connect();
	ok(rr_hello(fd), "a fresh connection authenticates");
	is_int(rr_ping(fd, 1000), EBB_OK, "PING answers");
	proto_enc_request(&e, 1001, PROTO_OP_NODE_STATUS, 0);
	is_int(rr_call(fd, &e, 1001, &r), EBB_OK, "NODE_STATUS answers");
	rr_reply_free(&r);
	if (getuid() == 0) {
		char member[300];

		snprintf(member, sizeof(member), "%s:%s", rr_host, rr_port);
		proto_enc_request(&e, 1002, PROTO_OP_INST_CREATE, 7);
		proto_put_cstr(&e, "t_frames");
		proto_put_u64(&e, 0);
		proto_put_array(&e, 1);
		proto_put_cstr(&e, member);
		proto_put_u64(&e, 1 << 20);
		proto_put_u64(&e, 1 << 20);
		proto_put_u64(&e, 0);
		proto_put_u64(&e, 0);
		st = rr_call(fd, &e, 1002, &r);
		rr_reply_free(&r);
		if (st != EBB_OK)
			diag("INST_CREATE: %s", ebb_errname((ebb_err)st));
		proto_enc_request(&e, 1003, PROTO_OP_LOOKUP, 3);
		proto_put_cstr(&e, "t_frames");
		proto_put_u64(&e, PROTO_ROOT_PARENT);
		proto_put_str(&e, "", 0);
		is_int(rr_call(fd, &e, 1003, &r), EBB_OK,
		       "LOOKUP of the root of a new instance answers");
		rr_reply_free(&r);
		_big_frames();
	} else {
		for (unsigned i = 0; i < 5; i++)
			skip("big frames need the t_frames instance (root)");
		proto_enc_request(&e, 1003, PROTO_OP_LOOKUP, 3);
		proto_put_cstr(&e, "t_frames_absent");
		proto_put_u64(&e, PROTO_ROOT_PARENT);
		proto_put_str(&e, "", 0);
		is_int(rr_call(fd, &e, 1003, &r), EBB_E_NOINST,
		       "LOOKUP in an absent instance: E_NOINST");
		rr_reply_free(&r);
	}
	close(fd);
	if (pid)
		ok(kill((pid_t)atoi(pid), 0) == 0, "bbd (pid %s) is alive", pid);
	else
		skip("EBB_BBD_PID is not set");
	return tap_exit();
}
