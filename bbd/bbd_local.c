/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd's local socket: object fds for clients on this node.
 *
 * DESIGN (issue 9; as HDFS short-circuit reads): a client on the same node
 * as a member reads that member's object files itself, from an fd bbd
 * passes over a Unix-domain socket (SCM_RIGHTS), instead of having every
 * byte copied through loopback TCP twice.  bbd binds conf.local_socket
 * (default <root>/bbd.sock, mode 0666: any local user may connect, the
 * requests are checked) and tells a client its path and a random token in
 * the reply to the TCP HELLO.  The client connects, sends LOCAL_HELLO
 * [version, token], and then LOCAL_OPEN [inst, ino] per object it reads;
 * docs/protocol.md "Local reads" is the spec, docs/security.md the
 * argument:
 *
 * - Who: the peer is SO_PEERCRED's uid (the kernel's word, taken at
 *   connect; no credential to forge).  LOCAL_OPEN applies READ's rule of
 *   the TCP side (bbd_net.c _req_inst): uid 0 or the instance's owner,
 *   else E_DENIED.
 * - What: the object file data/<ino in hex>, opened here relative to the
 *   instance's data directory fd with O_RDONLY|O_CLOEXEC|O_NOFOLLOW, and
 *   passed only if it is a regular file.  A read-only fd of one object:
 *   no write, no directory fd, no path from the client ever touches the
 *   file system (the inode number is formatted as hex).
 * - Which bbd: the token proves to bbd that the client got it from this
 *   process over TCP, and bbd confirms it, so a client never uses the
 *   socket of another bbd whose path happens to match (3 bbds on one test
 *   host, network namespaces); the client also checks the socket's peer
 *   uid is the uid HELLO said bbd runs as.  The token is no secret between
 *   users (any authenticated caller gets it): authorisation is the uid.
 *
 * Local writes (LOCAL_OPEN with the WRITE flag, LOCAL_RESERVE,
 * LOCAL_SETTLE): the same rule gets the object's own read-write fd (made
 * if absent) and a registration of it on the connection, which holds a
 * reference to the object, so bbd keeps the block count it last saw.  The
 * client reserves capacity before it writes (added to inst->used, WRITE's
 * check) and settles at close: bbd then counts the object's blocks
 * (_obj_account's fstat difference) and gives the reservation back.  The
 * connection's end settles whatever it still holds.  The kernel does not
 * enforce the reservation on a program that bypasses libebb: that is the
 * local_writes = no case of docs/security.md.
 *
 * One thread serves the socket with poll(): requests are tiny and an
 * open() is the only disk work, so it has no I/O-thread hop; the shared
 * workers never block on it.  Every bad frame gets an error reply (E_PROTO,
 * E_TOOBIG, E_AUTH, E_VERSION: then the connection closes; E_BADOP,
 * E_NOINST, E_DENIED, ENOENT...: it stays) and bbd keeps serving.  A peer
 * that does not read its replies is dropped (replies are sent without
 * blocking).  At most LOCAL_MAX_CONNS connections; one more is closed at
 * once.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "bbd_int.h"
#include "log.h"

#define LOCAL_MAX_CONNS 128
#define LOCAL_MAX_WREGS 4096       /* objects open for writing, per conn */

/* An object a connection writes through its fd (local writes): what it
 * holds on bbd's side until LOCAL_SETTLE or the connection's end. */
struct local_wreg {
	struct bbd_inst *inst;     /* a reference */
	struct bbd_obj *obj;       /* a reference (bbd_data_wget) */
	uint64_t ino;
	uint64_t reserved;         /* bytes added to inst->used for it */
	unsigned opens;            /* LOCAL_OPENs for writing not settled */
};

struct local_conn {
	int fd;
	uid_t uid;
	pid_t pid;
	bool authed;
	uint64_t since_ms;         /* accepted (hello_timeout) */
	uint32_t got;              /* bytes of prefix + header in buf */
	uint32_t hlen;             /* once the prefix is in */
	uint8_t buf[PROTO_PREFIX_LEN + PROTO_LOCAL_MAX_HEADER];
	struct local_wreg *wregs;  /* nwregs of them, unordered */
	unsigned nwregs, capwregs;
};

struct bbd_local {
	char *path;
	char token[PROTO_LOCAL_TOKEN_LEN + 1];
	int lfd;                   /* the listening socket */
	int stopfd;                /* eventfd: stop */
	pthread_t thread;
	struct local_conn *conns[LOCAL_MAX_CONNS]; /* the thread's own */
	unsigned nconns;
	uint64_t pause_until_ms;   /* accept paused at EMFILE until then */
};

/* ---- replies ------------------------------------------------------------- */

/* Send one reply frame [msgid, op|REPLY, status, detail?], with fd
 * attached if fd >= 0.  False if it could not go out whole (the peer does
 * not read: drop it). */
static bool _reply(struct local_conn *c, uint64_t msgid, uint32_t op,
		   ebb_err status, const char *detail, int fd)
{
	struct proto_enc e;
	uint8_t pre[PROTO_PREFIX_LEN];
	struct iovec iov[2];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	ssize_t k;
	bool ok;

	proto_enc_reply(&e, msgid, op, status, status == EBB_OK ? 0 : 1);
	if (status != EBB_OK)
		proto_put_cstr(&e, detail ? detail : "");
	proto_prefix_write(pre, (uint32_t)e.sb.size, 0);
	iov[0] = (struct iovec){pre, sizeof(pre)};
	iov[1] = (struct iovec){e.sb.data, e.sb.size};
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.h), &fd, sizeof(int));
	}
	do
		k = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
	ok = k == (ssize_t)(sizeof(pre) + e.sb.size);
	proto_enc_free(&e);
	return ok;
}

/* ---- requests -------------------------------------------------------------- */

/* LOCAL_HELLO [version, token]: false to close the connection. */
static bool _hello(struct bbd *b, struct local_conn *c, struct proto_dec *d,
		   uint64_t msgid)
{
	struct bbd_local *l = b->local;
	const char *tok = NULL;
	uint32_t version = 0, tlen = 0;
	unsigned char diff = 0;

	proto_get_u32(d, &version);
	proto_get_str(d, &tok, &tlen, 255);
	if (proto_dec_end(d) != EBB_OK) {
		_reply(c, msgid, PROTO_LOCAL_HELLO, EBB_E_PROTO, d->detail, -1);
		return false;
	}
	if (c->authed) {
		_reply(c, msgid, PROTO_LOCAL_HELLO, EBB_E_PROTO,
		       "already authenticated", -1);
		return false;
	}
	if (version != PROTO_VERSION) {
		char why[64];

		snprintf(why, sizeof(why), "protocol %u asked, %d spoken",
			 version, PROTO_VERSION);
		_reply(c, msgid, PROTO_LOCAL_HELLO, EBB_E_VERSION, why, -1);
		return false;
	}
	/* Not secret, but compared in constant time all the same. */
	if (tlen != PROTO_LOCAL_TOKEN_LEN)
		diff = 1;
	else
		for (uint32_t i = 0; i < tlen; i++)
			diff |= (unsigned char)(tok[i] ^ l->token[i]);
	if (diff) {
		atomic_fetch_add(&b->local_refused, 1);
		/* Debug, not warn: a client on a node of N members meets
		 * N - 1 of them here once (the same path on every node), and
		 * that is how it learns they are not this bbd. */
		log_debug("local socket: uid %u pid %ld: wrong token (a client "
			  "of another bbd)", (unsigned)c->uid, (long)c->pid);
		_reply(c, msgid, PROTO_LOCAL_HELLO, EBB_E_AUTH,
		       "wrong token: not the bbd you said HELLO to", -1);
		return false;
	}
	c->authed = true;
	return _reply(c, msgid, PROTO_LOCAL_HELLO, EBB_OK, NULL, -1);
}

/* ---- local writes ------------------------------------------------------------ */

static struct local_wreg *_wreg_find(struct local_conn *c,
				     const struct bbd_inst *inst, uint64_t ino)
{
	for (unsigned i = 0; i < c->nwregs; i++)
		if (c->wregs[i].inst == inst && c->wregs[i].ino == ino)
			return &c->wregs[i];
	return NULL;
}

/* Bring the instance's used bytes up to what the object holds now, give
 * back release bytes of the reservation, and with last drop it all. */
static void _wreg_settle(struct local_conn *c, struct local_wreg *w,
			 uint64_t release, bool last)
{
	if (last || release > w->reserved)
		release = w->reserved;
	bbd_data_waccount(w->inst, w->obj);
	atomic_fetch_sub(&w->inst->used, release);
	w->reserved -= release;
	if (!last)
		return;
	bbd_data_wput(w->inst, w->obj);
	bbd_inst_unref(w->inst);
	*w = c->wregs[--c->nwregs];
}

/* The connection ends: whatever it still holds is settled, so a client
 * that dies leaves neither a reservation nor unaccounted blocks. */
static void _conn_free(struct local_conn *c)
{
	while (c->nwregs)
		_wreg_settle(c, &c->wregs[c->nwregs - 1], 0, true);
	free(c->wregs);
	close(c->fd);
	free(c);
}

/* A writable fd for (inst, ino): the connection's registration of it,
 * made or counted once more.  st and why on failure. */
static int _open_write(struct bbd *b, struct local_conn *c,
		       struct bbd_inst **instp, uint64_t ino, ebb_err *st,
		       char *why, size_t whylen)
{
	struct bbd_inst *inst = *instp;
	struct local_wreg *w = _wreg_find(c, inst, ino);
	struct bbd_obj *o;
	int fd;

	if (b->conf.no_local_writes) {
		*st = EBB_E_BADOP;
		snprintf(why, whylen, "local writes are off (local_writes = "
			 "no): write over TCP");
		return -1;
	}
	if (!w && c->nwregs == LOCAL_MAX_WREGS) {
		*st = EBB_EBUSY;
		snprintf(why, whylen, "%u objects open for writing on this "
			 "connection (the limit)", LOCAL_MAX_WREGS);
		return -1;
	}
	if (!w && c->nwregs == c->capwregs) {
		unsigned n = c->capwregs ? 2 * c->capwregs : 8;
		struct local_wreg *nw = realloc(c->wregs, n * sizeof(*nw));

		if (!nw) {
			*st = EBB_ENOMEM;
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		c->wregs = nw;
		c->capwregs = n;
	}
	*st = bbd_data_wget(inst, ino, &o, &fd);
	if (*st != EBB_OK) {
		snprintf(why, whylen, "object %016" PRIx64 ": %s", ino,
			 ebb_strerror(*st));
		return -1;
	}
	if (w) {
		bbd_data_wput(inst, o); /* the registration holds one */
	} else {
		w = &c->wregs[c->nwregs++];
		*w = (struct local_wreg){.inst = inst, .obj = o, .ino = ino};
		*instp = NULL; /* its reference is the registration's now */
	}
	w->opens++;
	return fd;
}

/* The end of a request's [inst, ino, ...] arguments: all of them read
 * without error and a well-formed instance id.  False with why set. */
static bool _args_ok(struct proto_dec *d, const char *id, uint32_t idlen,
		     char *why, size_t whylen)
{
	if (proto_dec_end(d) != EBB_OK) {
		snprintf(why, whylen, "%s", d->detail);
		return false;
	}
	if (proto_check_inst_id(id, idlen) != EBB_OK) {
		snprintf(why, whylen, "bad instance id");
		return false;
	}
	return true;
}

/* LOCAL_OPEN [inst, ino, flags?]: false to close the connection. */
static bool _open(struct bbd *b, struct local_conn *c, struct proto_dec *d,
		  uint64_t msgid)
{
	const char *id = NULL;
	uint32_t idlen = 0, flags = 0;
	uint64_t ino = 0;
	struct bbd_inst *inst = NULL;
	char name[BBD_OBJ_NAME_MAX], why[160] = "";
	ebb_err st = EBB_E_PROTO;
	struct stat sb;
	int fd = -1;
	bool keep;

	proto_get_str(d, &id, &idlen, PROTO_MAX_INST_ID);
	proto_get_u64(d, &ino);
	if (d->pos < d->n)
		proto_get_u32(d, &flags);
	if (!_args_ok(d, id, idlen, why, sizeof(why)))
		goto out;
	if (flags & ~PROTO_LOCAL_WRITE) {
		snprintf(why, sizeof(why), "unknown flags 0x%x", flags);
		goto out;
	}
	if (ino == 0) {
		st = EBB_EINVAL;
		snprintf(why, sizeof(why), "inode 0");
		goto out;
	}
	inst = bbd_inst_get(b, id, idlen);
	if (!inst) {
		st = EBB_E_NOINST;
		snprintf(why, sizeof(why), "no instance '%.*s'", (int)idlen, id);
		goto out;
	}
	/* READ's rule (bbd_net.c _req_inst). */
	if (!bbd_inst_may_use(inst, c->uid)) {
		st = EBB_E_DENIED;
		snprintf(why, sizeof(why), "uid %u does not own instance %s",
			 (unsigned)c->uid, inst->id);
		goto out;
	}
	bbd_obj_name(name, sizeof(name), ino);
	if (flags & PROTO_LOCAL_WRITE) {
		fd = _open_write(b, c, &inst, ino, &st, why, sizeof(why));
		if (fd >= 0) {
			keep = _reply(c, msgid, PROTO_LOCAL_OPEN, EBB_OK, NULL,
				      fd);
			atomic_fetch_add(&b->local_fds, 1);
			log_debug("local socket: uid %u pid %ld: writable fd "
				  "of object %s", (unsigned)c->uid,
				  (long)c->pid, name);
			fd = -1; /* the object's own: not ours to close */
			goto done;
		}
		goto out;
	}
	fd = openat(inst->datafd, name,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		st = ebb_err_from_errno(errno);
		snprintf(why, sizeof(why), "object %s: %s", name,
			 strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		st = EBB_EIO;
		snprintf(why, sizeof(why), "object %s: not a regular file",
			 name);
		goto out;
	}
	st = EBB_OK;
out:
	if (st != EBB_OK && st != EBB_ENOENT) {
		atomic_fetch_add(&b->local_refused, 1);
		log_debug("local socket: uid %u pid %ld: LOCAL_OPEN refused: %s",
			  (unsigned)c->uid, (long)c->pid, why);
	}
	keep = _reply(c, msgid, PROTO_LOCAL_OPEN, st, why,
		      st == EBB_OK ? fd : -1);
	if (st == EBB_OK && keep) {
		atomic_fetch_add(&b->local_fds, 1);
		log_debug("local socket: uid %u pid %ld: fd of object %s of %s",
			  (unsigned)c->uid, (long)c->pid, name, inst->id);
	}
done:
	if (fd >= 0)
		close(fd);
	if (inst)
		bbd_inst_unref(inst);
	/* An argument error keeps the connection, as on TCP. */
	return keep;
}

/* LOCAL_RESERVE [inst, ino, bytes] and LOCAL_SETTLE [inst, ino, bytes],
 * on an object this connection opened for writing: reserve bytes of the
 * instance's capacity on this node (ENOSPC as WRITE's check gives it), or
 * account what was written and give back bytes of the reservation (with
 * the last open of the object settled, all of it, and the registration
 * goes).  False to close the connection. */
static bool _reserve_settle(struct bbd *b, struct local_conn *c,
			    struct proto_dec *d, uint64_t msgid, uint32_t op)
{
	const char *id = NULL;
	uint32_t idlen = 0;
	uint64_t ino = 0, bytes = 0, prev;
	struct bbd_inst *inst = NULL;
	struct local_wreg *w = NULL;
	ebb_err st = EBB_E_PROTO;
	char why[160] = "";

	proto_get_str(d, &id, &idlen, PROTO_MAX_INST_ID);
	proto_get_u64(d, &ino);
	proto_get_u64(d, &bytes);
	if (!_args_ok(d, id, idlen, why, sizeof(why)))
		goto out;
	if (op == PROTO_LOCAL_RESERVE && bytes > PROTO_LOCAL_MAX_RESERVE) {
		st = EBB_EINVAL;
		snprintf(why, sizeof(why), "%" PRIu64 " bytes: at most %llu "
			 "per LOCAL_RESERVE", bytes,
			 (unsigned long long)PROTO_LOCAL_MAX_RESERVE);
		goto out;
	}
	if ((inst = bbd_inst_get(b, id, idlen)))
		w = _wreg_find(c, inst, ino);
	if (!w) {
		st = EBB_ENOENT;
		snprintf(why, sizeof(why), "object %016" PRIx64 " of '%.*s' is "
			 "not open for writing on this connection", ino,
			 (int)idlen, id);
		goto out;
	}
	st = EBB_OK;
	if (op == PROTO_LOCAL_SETTLE) {
		w->opens--;
		_wreg_settle(c, w, bytes, w->opens == 0);
		goto out;
	}
	prev = atomic_fetch_add(&inst->used, bytes);
	if (prev + bytes > inst->capacity) {
		atomic_fetch_sub(&inst->used, bytes);
		st = EBB_ENOSPC;
		snprintf(why, sizeof(why), "instance %s: %" PRIu64 " of %" PRIu64
			 " bytes used on this node", inst->id, prev,
			 inst->capacity);
		goto out;
	}
	w->reserved += bytes;
out:
	if (inst)
		bbd_inst_unref(inst);
	if (st != EBB_OK && st != EBB_ENOSPC)
		atomic_fetch_add(&b->local_refused, 1);
	return _reply(c, msgid, op, st, why, -1);
}

/* A whole frame is in c->buf: serve it.  False to close. */
static bool _frame(struct bbd *b, struct local_conn *c)
{
	struct proto_dec d;
	uint64_t msgid = 0;
	uint32_t op = 0;
	bool keep;

	if (proto_dec_request(&d, c->buf + PROTO_PREFIX_LEN, c->hlen, &msgid,
			      &op) != EBB_OK) {
		_reply(c, 0, 0, EBB_E_PROTO, d.detail, -1);
		proto_dec_free(&d);
		return false;
	}
	if (op == PROTO_LOCAL_HELLO) {
		keep = _hello(b, c, &d, msgid);
	} else if (!c->authed) {
		_reply(c, msgid, op, EBB_E_AUTH, "LOCAL_HELLO must come first",
		       -1);
		keep = false;
	} else if (op == PROTO_LOCAL_OPEN) {
		keep = _open(b, c, &d, msgid);
	} else if (op == PROTO_LOCAL_RESERVE || op == PROTO_LOCAL_SETTLE) {
		keep = _reserve_settle(b, c, &d, msgid, op);
	} else {
		char why[64];

		snprintf(why, sizeof(why), "opcode %u is not served here", op);
		keep = _reply(c, msgid, op, EBB_E_BADOP, why, -1);
	}
	proto_dec_free(&d);
	return keep;
}

/* Read what the socket has, one frame at a time (a frame is read to its
 * end and no further, so pipelined frames wait in the kernel).  False to
 * close. */
static bool _readable(struct bbd *b, struct local_conn *c)
{
	for (;;) {
		uint32_t want = c->got < PROTO_PREFIX_LEN ?
					PROTO_PREFIX_LEN - c->got :
					PROTO_PREFIX_LEN + c->hlen - c->got;
		ssize_t k = recv(c->fd, c->buf + c->got, want, MSG_DONTWAIT);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (k <= 0)
			return false; /* EOF or reset: nothing to answer */
		c->got += (uint32_t)k;
		if (c->got == PROTO_PREFIX_LEN) {
			uint32_t plen = 0;
			ebb_err e = proto_prefix_parse(c->buf, &c->hlen, &plen);

			if (e == EBB_OK && c->hlen > PROTO_LOCAL_MAX_HEADER)
				e = EBB_E_TOOBIG;
			if (e == EBB_OK && plen != 0)
				e = EBB_E_PROTO;
			if (e != EBB_OK) {
				atomic_fetch_add(&b->local_refused, 1);
				_reply(c, 0, 0, e,
				       "bad frame prefix (local requests: "
				       "header <= 1 KiB, no payload)", -1);
				return false;
			}
		}
		if (c->got > PROTO_PREFIX_LEN &&
		    c->got == PROTO_PREFIX_LEN + c->hlen) {
			c->got = 0;
			if (!_frame(b, c))
				return false;
		}
	}
}

static void _accept(struct bbd *b)
{
	struct bbd_local *l = b->local;
	struct local_conn *c;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	int fd = accept4(l->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		/* Out of descriptors: the listener stays readable, so stop
		 * polling it for 100 ms rather than spin. */
		if (errno == EMFILE || errno == ENFILE) {
			log_warn("local socket: accept: %s", strerror(errno));
			l->pause_until_ms = bbd_mono_ms() + 100;
		}
		return;
	}
	if (l->nconns == LOCAL_MAX_CONNS ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0 ||
	    !(c = calloc(1, sizeof(*c)))) {
		log_warn("local socket: connection refused (%u open)",
			 l->nconns);
		close(fd);
		return;
	}
	c->fd = fd;
	c->uid = cr.uid;
	c->pid = cr.pid;
	c->since_ms = bbd_mono_ms();
	l->conns[l->nconns++] = c;
	log_debug("local socket: uid %u pid %ld connected", (unsigned)cr.uid,
		  (long)cr.pid);
}

static void *_local_main(void *arg)
{
	struct bbd *b = arg;
	struct bbd_local *l = b->local;
	struct pollfd pf[LOCAL_MAX_CONNS + 2];

	for (;;) {
		unsigned n = l->nconns, hello = b->conf.hello_timeout_ms;
		uint64_t now = bbd_mono_ms();
		int timeout = -1;

		/* hello_timeout as on TCP: a local connection that has not
		 * said LOCAL_HELLO in time holds one of LOCAL_MAX_CONNS. */
		for (unsigned i = n; hello && i-- > 0;) {
			struct local_conn *c = l->conns[i];

			if (c->authed)
				continue;
			if (now - c->since_ms >= hello) {
				log_debug("local socket: uid %u: no "
					  "LOCAL_HELLO within %u ms",
					  (unsigned)c->uid, hello);
				_conn_free(c);
				l->conns[i] = l->conns[--l->nconns];
			} else if (timeout < 0 ||
				   c->since_ms + hello - now < (uint64_t)timeout) {
				timeout = (int)(c->since_ms + hello - now);
			}
		}
		n = l->nconns;
		pf[0] = (struct pollfd){.fd = l->stopfd, .events = POLLIN};
		pf[1] = (struct pollfd){.fd = l->lfd, .events = POLLIN};
		if (now < l->pause_until_ms) {
			pf[1].fd = -1;
			if (timeout < 0 || l->pause_until_ms - now <
						   (uint64_t)timeout)
				timeout = (int)(l->pause_until_ms - now);
		}
		for (unsigned i = 0; i < n; i++)
			pf[2 + i] = (struct pollfd){.fd = l->conns[i]->fd,
						    .events = POLLIN};
		if (poll(pf, n + 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_error("local socket: poll: %s", strerror(errno));
			break;
		}
		if (pf[0].revents)
			break;
		/* Connections first, from the end, so removing one (the
		 * last takes its slot) never skips another. */
		for (unsigned i = n; i-- > 0;) {
			struct local_conn *c = l->conns[i];

			if (!pf[2 + i].revents)
				continue;
			if (!_readable(b, c)) {
				_conn_free(c);
				l->conns[i] = l->conns[--l->nconns];
			}
		}
		if (pf[1].revents)
			_accept(b);
	}
	return NULL;
}

/* ---- start, stop, HELLO ------------------------------------------------------ */

void bbd_local_start(struct bbd *b)
{
	struct bbd_local *l;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	unsigned char rnd[PROTO_LOCAL_TOKEN_LEN / 2];
	struct stat st;
	char *path = NULL;

	if (b->conf.local_socket && !*b->conf.local_socket) {
		log_info("local socket: none (clients read over TCP)");
		return;
	}
	if (b->conf.local_socket)
		path = strdup(b->conf.local_socket);
	else if (asprintf(&path, "%s/bbd.sock", b->conf.root) < 0)
		path = NULL;
	if (!path || !(l = calloc(1, sizeof(*l)))) {
		free(path);
		log_error("local socket: out of memory");
		return;
	}
	l->path = path;
	l->lfd = l->stopfd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_warn("local socket %s: path too long; clients read over "
			 "TCP", path);
		goto fail;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		log_warn("local socket: getrandom: %s", strerror(errno));
		goto fail;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(l->token + 2 * i, 3, "%02x", rnd[i]);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* A socket a previous bbd left (we hold the root's lock, so no
	 * other bbd of this root is running); never anything else. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	l->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->lfd < 0 ||
	    bind(l->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(path, 0666) != 0 || listen(l->lfd, 64) != 0) {
		log_warn("local socket %s: %s; clients read over TCP", path,
			 strerror(errno));
		goto fail;
	}
	l->stopfd = eventfd(0, EFD_CLOEXEC);
	b->local = l;
	if (l->stopfd < 0 ||
	    pthread_create(&l->thread, NULL, _local_main, b) != 0) {
		b->local = NULL;
		unlink(path);
		log_warn("local socket: cannot start its thread");
		goto fail;
	}
	log_info("local socket %s: local clients read object files directly",
		 path);
	return;
fail:
	if (l->lfd >= 0)
		close(l->lfd);
	if (l->stopfd >= 0)
		close(l->stopfd);
	free(l->path);
	free(l);
}

void bbd_local_stop(struct bbd *b)
{
	struct bbd_local *l = b->local;
	uint64_t one = 1;

	if (!l)
		return;
	if (write(l->stopfd, &one, sizeof(one)) != sizeof(one))
		log_error("local socket: cannot stop its thread");
	else
		pthread_join(l->thread, NULL);
	b->local = NULL;
	for (unsigned i = 0; i < l->nconns; i++)
		_conn_free(l->conns[i]); /* settles its local writes */
	close(l->lfd);
	close(l->stopfd);
	unlink(l->path);
	free(l->path);
	free(l);
}

bool bbd_local_info(struct bbd *b, const char **path, const char **token)
{
	if (!b->local)
		return false;
	*path = b->local->path;
	*token = b->local->token;
	return true;
}
