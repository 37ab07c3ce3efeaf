/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd networking: the listener, worker threads, connections and frames.
 *
 * DESIGN: the main thread accepts (evconnlistener) and hands each socket to
 * a worker, round robin, through the worker's queue and eventfd (memcached
 * thread.c).  A worker owns its connections outright: reading frames,
 * dispatching requests and writing replies all happen on its thread, so a
 * connection needs no lock.  A request either runs inline (metadata: LMDB
 * with MDB_NOSYNC only touches the page cache) or goes to the I/O pool and
 * comes back through the same eventfd.  Every request ends in _req_reply(),
 * the one place a reply is written; a connection that closed meanwhile is
 * kept alive by the request's reference and the reply is dropped.
 * docs/protocol.md "Connection errors" is the table _dispatch() follows.
 *
 * Big payloads (WRITE) skip the bufferevent: libevent 2.1 reads a socket
 * at most 4 KiB per call whatever set_max_single_read says, which cost the
 * worker a readv + FIONREAD + epoll_wait per 4 KiB (~1 CPU-s per GiB).  Once
 * a frame's prefix and header are in the input buffer and its payload is at
 * least BBD_CONN_DIRECT_MIN, the connection enters PAYLOAD: the bufferevent's
 * read side is disabled (it has nothing buffered past the header that we do
 * not move out), and a plain EV_READ event read()s the rest straight into
 * one buffer of the payload's size (bbd_buf.c keeps them for reuse), which becomes the request's
 * r->in without a copy.  The prefix was checked exactly as before, and the
 * frame is dispatched exactly as before once complete.
 *
 * Floods (issue 11, docs/security.md "Limits"): each worker sweeps its
 * connections a few times a second against three deadlines: no HELLO by
 * hello_timeout after accept, a frame not complete frame_timeout after its
 * first byte (a deadline per frame, not a minimum rate: a Slowloris sends
 * a byte now and then and would pass any "bytes arrived recently" test),
 * and, for ordinary users, idle_timeout with nothing in flight.  A worker
 * keeps its unauthenticated connections in age order and closes the oldest
 * when it holds more than its share of max_unauth_conns, so a flood of
 * connections that never speak can take at most half the descriptors and
 * a new client is always accepted.  If accept() still fails for want of
 * descriptors, the listener gives up its reserve descriptor to accept one
 * connection and asks that connection's worker to shed its oldest
 * unauthenticated one (workers own their connections: the listener never
 * touches them); with no reserve left it asks a worker to shed and pauses
 * 100 ms, never spinning.  Per-uid limits are counted in bbd_limit.c.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "bbd_int.h"
#include "log.h"

/* Where a request runs.  ROUTE_IO_IF_FLAG: on an I/O thread if the flags
 * argument at header item flag_item has a bit of flag_bits set (SIZE_UPDATE
 * with SIZE_SYNC fsyncs). */
enum route { ROUTE_INLINE, ROUTE_IO, ROUTE_IO_IF_FLAG };

struct op_route {
	bbd_handler_fn fn;
	enum route where;
	uint32_t flag_item;        /* ROUTE_IO_IF_FLAG: 2 + argument index */
	uint64_t flag_bits;
	/* ROUTE_IO: tried first on the worker; true if it served the request
	 * without blocking, false to queue fn to the I/O pool as usual. */
	bool (*try_inline)(struct bbd_req *r);
};

static const struct op_route *_route(uint32_t op)
{
	static const struct op_route
		hello = {bbd_op_hello, ROUTE_IO},   /* munge_decode blocks */
		ping = {bbd_op_ping, ROUTE_INLINE},
		status = {bbd_op_node_status, ROUTE_INLINE},
		icreate = {bbd_op_inst_create, ROUTE_IO},
		idestroy = {bbd_op_inst_destroy, ROUTE_IO},
		ilist = {bbd_op_inst_list, ROUTE_INLINE},
		iget = {bbd_op_inst_get, ROUTE_INLINE},
		lookup = {bbd_op_lookup, ROUTE_INLINE},
		create = {bbd_op_create, ROUTE_INLINE},
		mkdir_ = {bbd_op_mkdir, ROUTE_INLINE},
		symlink_ = {bbd_op_symlink, ROUTE_INLINE},
		/* inline even with DATA: bbd_meta.c */
		unlink_ = {bbd_op_unlink, ROUTE_INLINE},
		rmdir_ = {bbd_op_rmdir, ROUTE_INLINE},
		haschild = {bbd_op_has_children, ROUTE_INLINE},
		readdir_ = {bbd_op_readdir, ROUTE_INLINE},
		setattr = {bbd_op_setattr, ROUTE_INLINE},
		sizeup = {bbd_op_size_update, ROUTE_IO_IF_FLAG, 2 + 6,
			  PROTO_SIZE_SYNC},
		rename_ = {bbd_op_rename_local, ROUTE_INLINE},
		linkins = {bbd_op_link_insert, ROUTE_INLINE},
		statfs_ = {bbd_op_statfs, ROUTE_INLINE},
		setx = {bbd_op_setxattr, ROUTE_INLINE},
		getx = {bbd_op_getxattr, ROUTE_INLINE},
		listx = {bbd_op_listxattr, ROUTE_INLINE},
		removex = {bbd_op_removexattr, ROUTE_INLINE},
		iget_ = {bbd_op_inode_get, ROUTE_INLINE},
		iset = {bbd_op_inode_setattr, ROUTE_INLINE},
		isize = {bbd_op_inode_size_update, ROUTE_IO_IF_FLAG, 2 + 4,
			 PROTO_SIZE_SYNC},
		iadopt = {bbd_op_inode_adopt, ROUTE_INLINE},
		ilink = {bbd_op_inode_link, ROUTE_INLINE},
		iunlink = {bbd_op_inode_unlink, ROUTE_INLINE},
		toptr = {bbd_op_dent_to_ptr, ROUTE_INLINE},
		dtouch = {bbd_op_dir_touch, ROUTE_INLINE},
		write_ = {bbd_op_write, ROUTE_IO},
		read_ = {bbd_op_read, ROUTE_IO, 0, 0, bbd_read_try_inline},
		trunc = {bbd_op_truncate, ROUTE_IO},
		fsync_ = {bbd_op_fsync, ROUTE_IO},
		remove_ = {bbd_op_remove, ROUTE_IO},
		/* these write and fsync the stage directory or join threads */
		sstart = {bbd_op_stage_start, ROUTE_IO},
		sstatus = {bbd_op_stage_status, ROUTE_INLINE},
		sretry = {bbd_op_stage_retry, ROUTE_IO},
		scancel = {bbd_op_stage_cancel, ROUTE_IO},
		swork = {bbd_op_stage_work, ROUTE_IO},
		spoll = {bbd_op_stage_poll, ROUTE_INLINE},
		/* bbd_lock.c: LOCK may park (r->parked) */
		lock_ = {bbd_op_lock, ROUTE_INLINE},
		getlk = {bbd_op_getlk, ROUTE_INLINE},
		lcancel = {bbd_op_lock_cancel, ROUTE_INLINE},
		lrenew = {bbd_op_lock_renew, ROUTE_INLINE},
		lrelease = {bbd_op_lock_release, ROUTE_INLINE};

	switch (op) {
	case PROTO_OP_HELLO: return &hello;
	case PROTO_OP_PING: return &ping;
	case PROTO_OP_NODE_STATUS: return &status;
	case PROTO_OP_INST_CREATE: return &icreate;
	case PROTO_OP_INST_DESTROY: return &idestroy;
	case PROTO_OP_INST_LIST: return &ilist;
	case PROTO_OP_INST_GET: return &iget;
	case PROTO_OP_LOOKUP: return &lookup;
	case PROTO_OP_CREATE: return &create;
	case PROTO_OP_MKDIR: return &mkdir_;
	case PROTO_OP_SYMLINK: return &symlink_;
	case PROTO_OP_UNLINK: return &unlink_;
	case PROTO_OP_RMDIR: return &rmdir_;
	case PROTO_OP_HAS_CHILDREN: return &haschild;
	case PROTO_OP_READDIR: return &readdir_;
	case PROTO_OP_SETATTR: return &setattr;
	case PROTO_OP_SIZE_UPDATE: return &sizeup;
	case PROTO_OP_RENAME_LOCAL: return &rename_;
	case PROTO_OP_LINK_INSERT: return &linkins;
	case PROTO_OP_STATFS: return &statfs_;
	case PROTO_OP_SETXATTR: return &setx;
	case PROTO_OP_GETXATTR: return &getx;
	case PROTO_OP_LISTXATTR: return &listx;
	case PROTO_OP_REMOVEXATTR: return &removex;
	case PROTO_OP_INODE_GET: return &iget_;
	case PROTO_OP_INODE_SETATTR: return &iset;
	case PROTO_OP_INODE_SIZE_UPDATE: return &isize;
	case PROTO_OP_INODE_ADOPT: return &iadopt;
	case PROTO_OP_INODE_LINK: return &ilink;
	case PROTO_OP_INODE_UNLINK: return &iunlink;
	case PROTO_OP_DENT_TO_PTR: return &toptr;
	case PROTO_OP_DIR_TOUCH: return &dtouch;
	case PROTO_OP_WRITE: return &write_;
	case PROTO_OP_READ: return &read_;
	case PROTO_OP_TRUNCATE: return &trunc;
	case PROTO_OP_FSYNC: return &fsync_;
	case PROTO_OP_REMOVE: return &remove_;
	case PROTO_OP_STAGE_START: return &sstart;
	case PROTO_OP_STAGE_STATUS: return &sstatus;
	case PROTO_OP_STAGE_RETRY: return &sretry;
	case PROTO_OP_STAGE_CANCEL: return &scancel;
	case PROTO_OP_STAGE_WORK: return &swork;
	case PROTO_OP_STAGE_POLL: return &spoll;
	case PROTO_OP_LOCK: return &lock_;
	case PROTO_OP_GETLK: return &getlk;
	case PROTO_OP_LOCK_CANCEL: return &lcancel;
	case PROTO_OP_LOCK_RENEW: return &lrenew;
	case PROTO_OP_LOCK_RELEASE: return &lrelease;
	}
	return NULL;
}

struct bbd_newconn {
	int fd;
	char peer[64];
	uint64_t accepted_ms;
	struct bbd_newconn *next;
};

static const char *const _state_names[BBD_CONN_NSTATES] = {
	[BBD_CONN_PREFIX] = "PREFIX",
	[BBD_CONN_BODY] = "BODY",
	[BBD_CONN_PAYLOAD] = "PAYLOAD",
	[BBD_CONN_AUTH] = "AUTH",
	[BBD_CONN_DRAIN] = "DRAIN",
	[BBD_CONN_CLOSED] = "CLOSED",
};

static void _conn_read_cb(struct bufferevent *bev, void *arg);
static void _conn_fill_start(struct bbd_conn *c);
static void _conn_close(struct bbd_conn *c, const char *why);

/* The one place a connection changes state. */
static void _conn_set_state(struct bbd_conn *c, enum bbd_conn_state s)
{
	bool framing = (c->state == BBD_CONN_PREFIX && s == BBD_CONN_BODY) ||
		       (c->state == BBD_CONN_BODY && s == BBD_CONN_PREFIX) ||
		       (c->state == BBD_CONN_BODY && s == BBD_CONN_PAYLOAD) ||
		       (c->state == BBD_CONN_PAYLOAD && s == BBD_CONN_PREFIX);

	assert(s < BBD_CONN_NSTATES);
	assert(c->state != BBD_CONN_CLOSED);
	/* Framing happens twice a frame: not worth a log line. */
	if (c->state != s && !framing)
		log_debug("conn %s: %s -> %s", c->peer, _state_names[c->state],
			  _state_names[s]);
	c->state = s;
}

static void _conn_unref(struct bbd_conn *c)
{
	assert(c->refs > 0);
	if (--c->refs > 0)
		return;
	assert(c->state == BBD_CONN_CLOSED);
	c->w->nconns--;
	if (c->w->stopping && c->w->nconns == 0)
		event_base_loopexit(c->w->base, NULL);
	free(c);
}

static bool _conn_throttled(const struct bbd_conn *c)
{
	return c->inflight >= BBD_CONN_MAX_INFLIGHT ||
	       c->inbytes >= BBD_CONN_MAX_INBYTES ||
	       evbuffer_get_length(bufferevent_get_output(c->bev)) >=
		       BBD_CONN_MAX_OUTBYTES;
}

/* Read again after a pause: the data already buffered gets no new read
 * event, so run the read callback (deferred, never recursively). */
static void _conn_resume(struct bbd_conn *c)
{
	if ((c->state != BBD_CONN_PREFIX && c->state != BBD_CONN_BODY) ||
	    _conn_throttled(c) || c->w->stopping)
		return;
	if (bufferevent_get_enabled(c->bev) & EV_READ)
		return;
	bufferevent_enable(c->bev, EV_READ);
	bufferevent_trigger(c->bev, EV_READ,
			    BEV_TRIG_IGNORE_WATERMARKS |
				    BEV_TRIG_DEFER_CALLBACKS);
}

/* DRAIN ends once the fatal reply and any pending replies are out. */
static void _conn_maybe_finish(struct bbd_conn *c)
{
	if (c->state == BBD_CONN_DRAIN && c->inflight == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		_conn_close(c, NULL);
}

/* Forget a payload being read straight from the socket. */
static void _conn_fill_stop(struct bbd_conn *c)
{
	if (c->fill_ev)
		event_del(c->fill_ev);
	free(c->fill_hdr);
	bbd_buf_put(c->fill_buf, c->plen);
	c->fill_hdr = c->fill_buf = NULL;
	c->fill_done = 0;
}

static void _conn_drain(struct bbd_conn *c)
{
	if (c->state == BBD_CONN_CLOSED || c->state == BBD_CONN_DRAIN)
		return;
	_conn_fill_stop(c);
	_conn_set_state(c, BBD_CONN_DRAIN);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	_conn_maybe_finish(c);
}

/* Off the worker's list of unauthenticated connections. */
static void _conn_ulist_del(struct bbd_conn *c)
{
	struct bbd_worker *w = c->w;

	if (!c->on_ulist)
		return;
	if (c->uprev)
		c->uprev->unext = c->unext;
	else
		w->uhead = c->unext;
	if (c->unext)
		c->unext->uprev = c->uprev;
	else
		w->utail = c->uprev;
	c->uprev = c->unext = NULL;
	c->on_ulist = false;
	w->nunauth--;
	atomic_fetch_sub(&w->bbd->limits.conns_unauth, 1);
}

/* The connection is gone: out of every count (its uid entry stays
 * pointed to, for the requests still in flight). */
static void _conn_uncount(struct bbd_conn *c)
{
	struct bbd_limits *l = &c->w->bbd->limits;

	_conn_ulist_del(c);
	if (c->ue && c->authed) {
		bbd_limit_conn_put(c->w->bbd, c->ue);
		atomic_fetch_sub(&l->conns_authed, 1);
	}
	if (c->busy_counted) {
		c->busy_counted = false;
		atomic_fetch_sub(&l->conns_busy, 1);
	}
}

/* Close c; why, if any, is logged at info, unless quiet (a flood's
 * closes are counted and summed up by _worker_sweep_cb instead: one log
 * line per connection would let the flood fill the disk). */
static void _conn_close_q(struct bbd_conn *c, const char *why, bool quiet)
{
	struct bbd_worker *w = c->w;

	if (c->state == BBD_CONN_CLOSED)
		return;
	if (why && !quiet)
		log_info("connection from %s closed: %s", c->peer, why);
	else
		log_debug("connection from %s closed%s%s", c->peer,
			  why ? ": " : "", why ? why : "");
	_conn_set_state(c, BBD_CONN_CLOSED);
	_conn_uncount(c);
	_conn_fill_stop(c);
	if (c->fill_ev) {
		event_free(c->fill_ev);
		c->fill_ev = NULL;
	}
	bufferevent_free(c->bev);
	c->bev = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	_conn_unref(c);
}

static void _conn_close(struct bbd_conn *c, const char *why)
{
	_conn_close_q(c, why, false);
}

/* ---- requests ------------------------------------------------------------ */

static struct bbd_req *_req_new(struct bbd_conn *c)
{
	struct bbd_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->conn = c;
	r->bbd = c->w->bbd;
	r->uid = c->uid;
	r->gid = c->gid;
	r->status = EBB_EIO; /* pessimistic: a handler must say OK */
	msgpack_sbuffer_init(&r->res.sb);
	msgpack_packer_init(&r->res.pk, &r->res.sb, msgpack_sbuffer_write);
	msgpack_unpacked_init(&r->dec.up);
	c->refs++;
	c->inflight++;
	if (c->authed && !c->busy_counted && c->state != BBD_CONN_CLOSED) {
		c->busy_counted = true;
		atomic_fetch_add(&c->w->bbd->limits.conns_busy, 1);
	}
	return r;
}

static void _req_free(struct bbd_req *r)
{
	proto_dec_free(&r->dec);
	free(r->hdr);
	if (r->in)
		evbuffer_free(r->in);
	if (r->out)
		evbuffer_free(r->out);
	if (r->inst)
		bbd_inst_unref(r->inst);
	proto_enc_free(&r->res);
	free(r);
}

ebb_err bbd_req_fail(struct bbd_req *r, ebb_err status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	r->status = status;
	return status;
}

ebb_err bbd_req_args(struct bbd_req *r)
{
	if (proto_dec_end(&r->dec) == EBB_OK)
		return EBB_OK;
	return bbd_req_fail(r, EBB_E_PROTO, "%s: %s",
			    proto_op_name(r->op) ? proto_op_name(r->op) : "?",
			    r->dec.detail);
}

/* The one reply helper: every request ends here, on its worker's thread. */
/* The client node's address, numeric, without the port: what the per-uid
 * limits count by (bbd_limit.c). */
static void _peer_host(struct bbd_conn *c, char *host, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(bufferevent_getfd(c->bev), (struct sockaddr *)&ss,
			&len) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, (socklen_t)size,
			NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(host, size, "?");
}

static void _req_reply(struct bbd_req *r)
{
	struct bbd_conn *c = r->conn;
	struct proto_enc e;
	uint8_t prefix[PROTO_PREFIX_LEN];
	struct evbuffer *out;
	bool ok = r->status == EBB_OK;
	size_t plen;

	c->inflight--;
	c->inbytes -= r->inlen;
	if (r->uid_counted)
		bbd_limit_req_put(c->ue);
	if (c->inflight == 0 && c->busy_counted) {
		c->busy_counted = false;
		atomic_fetch_sub(&c->w->bbd->limits.conns_busy, 1);
	}
	c->active_ms = bbd_mono_ms();
	if (c->state == BBD_CONN_CLOSED) {
		log_debug("%s: reply to msgid %llu dropped (connection closed)",
			  c->peer, (unsigned long long)r->msgid);
		goto out;
	}
	if (ok && r->res.sb.size + 32 > PROTO_MAX_HEADER) {
		ok = false;
		bbd_req_fail(r, EBB_E_TOOBIG, "reply header of %zu bytes",
			     r->res.sb.size);
	}
	if (ok && r->op == PROTO_OP_HELLO && c->state == BBD_CONN_AUTH) {
		/* The credential is good: is its uid over its limit? */
		char why[sizeof(r->detail)], host[48];
		ebb_err rc;

		_peer_host(c, host, sizeof(host));
		rc = bbd_limit_conn_get(r->bbd, r->auth_uid, host, &c->ue, why,
					sizeof(why));

		if (rc != EBB_OK) {
			ok = false;
			bbd_req_fail(r, rc, "%s", why);
		}
	}
	if (!ok && r->detail[0] == '\0')
		snprintf(r->detail, sizeof(r->detail), "%s",
			 ebb_strerror(r->status));
	proto_enc_reply(&e, r->msgid, r->op, r->status, ok ? r->nres : 1);
	if (ok)
		msgpack_sbuffer_write(&e.sb, r->res.sb.data, r->res.sb.size);
	else
		proto_put_cstr(&e, r->detail);
	plen = ok && r->out ? evbuffer_get_length(r->out) : 0;
	proto_prefix_write(prefix, (uint32_t)e.sb.size, (uint32_t)plen);
	out = bufferevent_get_output(c->bev);
	evbuffer_add(out, prefix, sizeof(prefix));
	evbuffer_add(out, e.sb.data, e.sb.size);
	if (plen)
		evbuffer_add_buffer(out, r->out);
	proto_enc_free(&e);
	if (!ok)
		log_debug("%s: %s msgid %llu -> %s: %s", c->peer,
			  proto_op_name(r->op) ? proto_op_name(r->op) : "?",
			  (unsigned long long)r->msgid,
			  ebb_errname(r->status), r->detail);

	if (r->op == PROTO_OP_HELLO && c->state == BBD_CONN_AUTH) {
		if (ok) {
			c->authed = true;
			c->uid = r->auth_uid;
			c->gid = r->auth_gid;
			_conn_ulist_del(c);
			atomic_fetch_add(&c->w->bbd->limits.conns_authed, 1);
			if (c->inflight > 0 && !c->busy_counted) {
				c->busy_counted = true;
				atomic_fetch_add(&c->w->bbd->limits.conns_busy,
						 1);
			}
			log_debug("%s: authenticated as uid %u gid %u",
				  c->peer, (unsigned)c->uid,
				  (unsigned)c->gid);
			_conn_set_state(c, BBD_CONN_PREFIX);
		} else {
			r->close_after = true;
		}
	}
	if (r->close_after) {
		log_info("%s connection from %s: %s: %s",
			 c->authed ? "closing" : "refusing", c->peer,
			 ebb_errname(r->status), r->detail);
		_conn_drain(c);
	}
	_conn_maybe_finish(c);
	if (c->state != BBD_CONN_CLOSED)
		_conn_resume(c);
out:
	_req_free(r);
	_conn_unref(c);
}

void bbd_req_done(struct bbd_req *r)
{
	struct bbd_worker *w = r->conn->w;
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	r->next = NULL;
	if (w->done_tail)
		w->done_tail->next = r;
	else
		w->done_head = r;
	w->done_tail = r;
	pthread_mutex_unlock(&w->lock);
	if (write(w->notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error("worker %u: eventfd write: %s", w->id,
			  strerror(errno));
}

/* Take the instance argument (the first of every META/DATA op), find the
 * instance and check the caller is root or its owner. */
static ebb_err _req_inst(struct bbd_req *r)
{
	const char *id;
	uint32_t len;

	if (!proto_get_str(&r->dec, &id, &len, PROTO_MAX_INST_ID))
		return bbd_req_args(r);
	if (proto_check_inst_id(id, len) != EBB_OK)
		return bbd_req_fail(r, EBB_E_PROTO, "bad instance id");
	r->inst = bbd_inst_get(r->bbd, id, len);
	if (!r->inst)
		return bbd_req_fail(r, EBB_E_NOINST, "no instance '%.*s'",
				    (int)len, id);
	if (!bbd_inst_may_use(r->inst, r->uid))
		return bbd_req_fail(r, EBB_E_DENIED,
				    "uid %u does not own instance %s",
				    (unsigned)r->uid, r->inst->id);
	return EBB_OK;
}

/* Whether a SIZE_UPDATE asks for SYNC: peek at its flags argument (the
 * handler validates it properly). */
static bool _flag_set(const struct bbd_req *r, const struct op_route *rt)
{
	return r->dec.n > rt->flag_item &&
	       r->dec.items[rt->flag_item].type ==
		       MSGPACK_OBJECT_POSITIVE_INTEGER &&
	       (r->dec.items[rt->flag_item].via.u64 & rt->flag_bits);
}

/* Check a decoded frame against docs/protocol.md and run or queue it. */
static void _dispatch(struct bbd_req *r, uint32_t hlen)
{
	struct bbd_conn *c = r->conn;
	struct bbd *b = r->bbd;
	enum proto_op_class cls;
	const struct op_route *rt;

	if (proto_dec_request(&r->dec, r->hdr, hlen, &r->msgid, &r->op) !=
	    EBB_OK) {
		r->msgid = 0;
		r->op = 0;
		r->close_after = true;
		bbd_req_fail(r, EBB_E_PROTO, "%s", r->dec.detail);
		goto reply;
	}
	if (!c->authed && r->op != PROTO_OP_HELLO) {
		r->close_after = true;
		bbd_req_fail(r, EBB_E_AUTH, "HELLO must come first");
		goto reply;
	}
	if (!proto_op_class(r->op, &cls) || !(rt = _route(r->op))) {
		bbd_req_fail(r, EBB_E_BADOP, "unknown opcode %u", r->op);
		goto reply;
	}
	if (r->op < BBD_OP_SLOTS)
		__atomic_fetch_add(&b->op_count[r->op], 1, __ATOMIC_RELAXED);
	if (r->op == PROTO_OP_HELLO && c->authed) {
		bbd_req_fail(r, EBB_E_PROTO, "already authenticated");
		goto reply;
	}
	if (c->ue && c->authed) {
		char why[sizeof(r->detail)];

		if (!bbd_limit_req_get(b, c->ue, why, sizeof(why))) {
			bbd_req_fail(r, EBB_EBUSY, "%s", why);
			goto reply;
		}
		r->uid_counted = true;
	}
	if (r->in && r->op != PROTO_OP_WRITE && r->op != PROTO_OP_SETXATTR) {
		bbd_req_fail(r, EBB_E_PROTO, "%s takes no payload",
			     proto_op_name(r->op));
		goto reply;
	}
	switch (cls) {
	case PROTO_CLASS_ADMIN:
		/* The instance's owner may retry its own stages (ebb.h): the
		 * handler checks, once it has the instance. */
		if (r->op == PROTO_OP_STAGE_RETRY)
			break;
		if (r->uid != 0 &&
		    !(b->conf.have_slurm_user && r->uid == b->conf.slurm_uid)) {
			bbd_req_fail(r, EBB_E_DENIED,
				     "%s needs root or the Slurm user",
				     proto_op_name(r->op));
			goto reply;
		}
		break;
	case PROTO_CLASS_META:
	case PROTO_CLASS_DATA:
		if (_req_inst(r) != EBB_OK)
			goto reply;
		break;
	case PROTO_CLASS_AUTH:
	case PROTO_CLASS_NODE:
		break;
	}
	if (r->op == PROTO_OP_HELLO) {
		/* Nothing more is read until the credential is checked. */
		_conn_set_state(c, BBD_CONN_AUTH);
		bufferevent_disable(c->bev, EV_READ);
	}
	if (rt->where == ROUTE_IO && rt->try_inline && rt->try_inline(r))
		goto reply;
	if (rt->where == ROUTE_IO ||
	    (rt->where == ROUTE_IO_IF_FLAG && _flag_set(r, rt))) {
		bbd_io_submit(b, r, rt->fn);
		return;
	}
	rt->fn(r);
	if (r->parked)
		return; /* answered later, from another thread */
reply:
	_req_reply(r);
}

/* A fatal frame error before any header could be decoded. */
static void _conn_fatal(struct bbd_conn *c, ebb_err status, const char *what)
{
	struct bbd_req *r = _req_new(c);

	if (!r) {
		_conn_close(c, "out of memory");
		return;
	}
	r->close_after = true;
	bbd_req_fail(r, status, "%s", what);
	_req_reply(r);
}

static void _payload_free(const void *data, size_t len, void *extra)
{
	(void)extra;
	bbd_buf_put((void *)data, len);
}

/* Read a PAYLOAD frame's bytes straight into fill_buf; dispatch the frame
 * once it is whole, then give reading back to the bufferevent. */
static void _conn_fill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bbd_conn *c = arg;
	struct bbd_req *r;
	char why[96];
	ssize_t n;

	(void)what;
	if (c->state != BBD_CONN_PAYLOAD)
		return;
	c->refs++;
	while (c->fill_done < c->plen) {
		size_t want = c->plen - c->fill_done;

		n = read(fd, c->fill_buf + c->fill_done, want);
		if (n > 0) {
			c->fill_done += (uint32_t)n;
			if ((size_t)n < want)
				goto out; /* socket drained: back to epoll */
			continue;
		}
		if (n == 0) {
			_conn_close(c, "EOF in the middle of a frame");
			goto out;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			goto out;
		snprintf(why, sizeof(why), "%s", strerror(errno));
		_conn_close(c, why);
		goto out;
	}
	event_del(c->fill_ev);
	r = _req_new(c);
	if (!r || !(r->in = evbuffer_new()) ||
	    evbuffer_add_reference(r->in, c->fill_buf, c->plen,
				   _payload_free, NULL) != 0) {
		_conn_close(c, "out of memory");
		if (r)
			_req_reply(r); /* dropped: the connection is closed */
		goto out;
	}
	c->fill_buf = NULL; /* r->in owns it now */
	r->hdr = c->fill_hdr;
	c->fill_hdr = NULL;
	c->fill_done = 0;
	r->inlen = c->plen;
	c->inbytes += c->plen;
	c->frame_ms = 0;
	c->active_ms = bbd_mono_ms();
	_conn_set_state(c, BBD_CONN_PREFIX);
	_dispatch(r, c->hlen);
	/* The bufferevent's read side is off: turn it back on and look at
	 * what it may already hold (normally nothing). */
	if (c->state != BBD_CONN_CLOSED)
		_conn_resume(c);
out:
	_conn_unref(c);
}

/* BODY -> PAYLOAD: the header and any payload bytes already buffered move
 * out of the input evbuffer, which is left empty, and reading switches to
 * _conn_fill_cb() until the payload is complete. */
static void _conn_fill_start(struct bbd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t have;

	assert(c->state == BBD_CONN_BODY);
	c->fill_hdr = malloc(c->hlen ? c->hlen : 1);
	c->fill_buf = bbd_buf_get(c->plen);
	if (!c->fill_ev)
		c->fill_ev = event_new(c->w->base, bufferevent_getfd(c->bev),
				       EV_READ | EV_PERSIST, _conn_fill_cb, c);
	if (!c->fill_hdr || !c->fill_buf || !c->fill_ev) {
		_conn_close(c, "out of memory");
		return;
	}
	evbuffer_remove(in, c->fill_hdr, c->hlen);
	have = evbuffer_get_length(in);
	assert(have < c->plen);
	evbuffer_remove(in, c->fill_buf, have);
	c->fill_done = (uint32_t)have;
	bufferevent_disable(c->bev, EV_READ);
	_conn_set_state(c, BBD_CONN_PAYLOAD);
	if (event_add(c->fill_ev, NULL) != 0) {
		_conn_close(c, "event_add failed");
		return;
	}
	/* The rest is usually on its way already: try before epoll. */
	_conn_fill_cb(bufferevent_getfd(c->bev), EV_READ, c);
}

static void _conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct bbd_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t prefix[PROTO_PREFIX_LEN];
	char why[96];
	ebb_err rc;

	c->refs++; /* a reply below may close the connection */
	while (c->state == BBD_CONN_PREFIX || c->state == BBD_CONN_BODY) {
		if (_conn_throttled(c)) {
			bufferevent_disable(c->bev, EV_READ);
			break;
		}
		if (c->state == BBD_CONN_PREFIX) {
			if (evbuffer_get_length(in) < PROTO_PREFIX_LEN)
				break;
			evbuffer_remove(in, prefix, sizeof(prefix));
			rc = proto_prefix_parse(prefix, &c->hlen, &c->plen);
			if (rc != EBB_OK) {
				snprintf(why, sizeof(why),
					 "bad frame prefix (header %u, payload %u bytes)",
					 c->hlen, c->plen);
				_conn_fatal(c, rc, why);
				break;
			}
			_conn_set_state(c, BBD_CONN_BODY);
			continue;
		}
		if (evbuffer_get_length(in) < (size_t)c->hlen + c->plen) {
			if (c->plen >= BBD_CONN_DIRECT_MIN &&
			    evbuffer_get_length(in) >= c->hlen)
				_conn_fill_start(c);
			break;
		}
		struct bbd_req *r = _req_new(c);
		if (!r) {
			_conn_close(c, "out of memory");
			break;
		}
		r->hdr = malloc(c->hlen);
		if (c->plen)
			r->in = evbuffer_new();
		if (!r->hdr || (c->plen && !r->in)) {
			_conn_close(c, "out of memory");
			_req_reply(r); /* dropped: the connection is closed */
			break;
		}
		evbuffer_remove(in, r->hdr, c->hlen);
		if (c->plen) {
			evbuffer_remove_buffer(in, r->in, c->plen);
			r->inlen = c->plen;
			c->inbytes += c->plen;
		}
		c->frame_ms = 0;
		c->active_ms = bbd_mono_ms();
		_conn_set_state(c, BBD_CONN_PREFIX);
		_dispatch(r, c->hlen);
	}
	/* frame_timeout runs from the first byte of a frame. */
	if (c->state == BBD_CONN_BODY || c->state == BBD_CONN_PAYLOAD ||
	    (c->state == BBD_CONN_PREFIX && evbuffer_get_length(in) > 0)) {
		if (!c->frame_ms)
			c->frame_ms = bbd_mono_ms();
	} else if (c->state == BBD_CONN_PREFIX) {
		c->frame_ms = 0;
	}
	_conn_unref(c);
}

static void _conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct bbd_conn *c = arg;

	(void)bev;
	c->refs++;
	_conn_maybe_finish(c);
	if (c->state != BBD_CONN_CLOSED)
		_conn_resume(c);
	_conn_unref(c);
}

static void _conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct bbd_conn *c = arg;
	char why[128];

	(void)bev;
	if ((what & BEV_EVENT_WRITING) && (what & BEV_EVENT_EOF)) {
		/* A write that moved 0 bytes: only sendfile does that, at the
		 * end of an object file that shrank after a READ sized its
		 * reply (bbd_op_read).  The frame cannot be finished. */
		_conn_close(c, "object file shrank under a READ reply");
	} else if (what & BEV_EVENT_EOF) {
		if (c->state == BBD_CONN_BODY ||
		    evbuffer_get_length(bufferevent_get_input(c->bev)))
			_conn_close(c, "EOF in the middle of a frame");
		else
			_conn_close(c, NULL);
	} else if (what & BEV_EVENT_ERROR) {
		snprintf(why, sizeof(why), "%s",
			 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		_conn_close(c, why);
	}
}

/* Close the worker's oldest unauthenticated connection that is not
 * having its HELLO checked (that one has spoken: likely a real client).
 * False if there is none. */
static bool _worker_shed_one(struct bbd_worker *w, const char *why)
{
	struct bbd_conn *c;

	for (c = w->uhead; c; c = c->unext)
		if (c->state != BBD_CONN_AUTH && c->state != BBD_CONN_CLOSED &&
		    c->state != BBD_CONN_DRAIN)
			break;
	if (!c)
		return false;
	atomic_fetch_add(&w->bbd->limits.shed, 1);
	w->nshed++;
	_conn_close_q(c, why, true);
	return true;
}

static void _conn_new(struct bbd_worker *w, struct bbd_newconn *nc)
{
	struct bbd_conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c) {
		log_error("connection from %s refused: out of memory",
			  nc->peer);
		close(nc->fd);
		return;
	}
	c->w = w;
	c->refs = 1;
	snprintf(c->peer, sizeof(c->peer), "%s", nc->peer);
	setsockopt(nc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bev = bufferevent_socket_new(w->base, nc->fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		log_error("connection from %s refused: bufferevent failed",
			  nc->peer);
		close(nc->fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, _conn_read_cb, _conn_write_cb,
			  _conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, BBD_CONN_MAX_OUTBYTES / 2,
				 0);
	/* libevent moves 16 KiB per callback by default: a 16 MiB stripe
	 * would take a thousand trips round the loop. */
	bufferevent_set_max_single_read(c->bev, BBD_CONN_MAX_SINGLE_IO);
	bufferevent_set_max_single_write(c->bev, BBD_CONN_MAX_SINGLE_IO);
	c->state = BBD_CONN_PREFIX;
	c->accepted_ms = nc->accepted_ms;
	c->active_ms = nc->accepted_ms;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	/* Its share of max_unauth_conns full: the oldest one goes. */
	{
		struct bbd *b = w->bbd;
		unsigned cap = (b->limits.max_unauth + b->conf.workers - 1) /
			       b->conf.workers;

		while (w->nunauth >= cap &&
		       _worker_shed_one(w, "shed: too many unauthenticated "
					   "connections (max_unauth_conns)"))
			;
	}
	c->uprev = w->utail;
	if (w->utail)
		w->utail->unext = c;
	else
		w->uhead = c;
	w->utail = c;
	c->on_ulist = true;
	w->nunauth++;
	atomic_fetch_add(&w->bbd->limits.conns_unauth, 1);
	bufferevent_enable(c->bev, EV_READ);
	log_debug("worker %u: connection from %s", w->id, c->peer);
}

/* ---- workers ------------------------------------------------------------- */

static void _worker_force_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bbd_worker *w = arg;

	(void)fd;
	(void)what;
	log_warn("worker %u: %u connections still busy after 10 s, closing",
		 w->id, w->nconns);
	event_base_loopbreak(w->base);
}

/* Stop reading new requests; close each connection once it is idle. */
static void _worker_begin_stop(struct bbd_worker *w)
{
	struct timeval tv = {10, 0};
	struct bbd_conn *c, *next;

	if (w->stopping)
		return;
	w->stopping = true;
	for (c = w->conns; c; c = next) {
		next = c->next;
		c->refs++;
		if (c->state != BBD_CONN_CLOSED)
			_conn_drain(c);
		_conn_unref(c);
	}
	if (w->nconns == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	w->stop_timer = evtimer_new(w->base, _worker_force_cb, w);
	if (w->stop_timer)
		evtimer_add(w->stop_timer, &tv);
}

static void _worker_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bbd_worker *w = arg;
	struct bbd_newconn *nc, *ncnext;
	struct bbd_req *r, *rnext;
	uint64_t n;
	unsigned shed;
	bool stop;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error("worker %u: eventfd read: %s", w->id,
			  strerror(errno));
	pthread_mutex_lock(&w->lock);
	nc = w->newconns;
	w->newconns = NULL;
	r = w->done_head;
	w->done_head = w->done_tail = NULL;
	stop = w->stop;
	shed = w->shed;
	w->shed = 0;
	pthread_mutex_unlock(&w->lock);

	/* The listener is out of descriptors: free some. */
	while (shed-- > 0 &&
	       _worker_shed_one(w, "shed: out of descriptors"))
		;
	/* newconns is newest first: take them in accept order, so that the
	 * age order of the unauthenticated list holds. */
	{
		struct bbd_newconn *rev = NULL;

		for (; nc; nc = ncnext) {
			ncnext = nc->next;
			nc->next = rev;
			rev = nc;
		}
		nc = rev;
	}
	for (; nc; nc = ncnext) {
		ncnext = nc->next;
		if (stop || w->stopping)
			close(nc->fd);
		else
			_conn_new(w, nc);
		free(nc);
	}
	for (; r; r = rnext) {
		rnext = r->next;
		_req_reply(r);
	}
	if (stop)
		_worker_begin_stop(w);
}

/* The deadlines of every connection of w (see DESIGN above). */
static void _worker_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bbd_worker *w = arg;
	struct bbd *b = w->bbd;
	struct bbd_limits *l = &b->limits;
	const struct bbd_conf *cf = &b->conf;
	uint64_t now = bbd_mono_ms();
	struct bbd_conn *c, *next;
	unsigned in_frame = 0;
	char why[96];

	(void)fd;
	(void)what;
	for (c = w->conns; c; c = next) {
		next = c->next;
		if (c->state == BBD_CONN_CLOSED || c->state == BBD_CONN_DRAIN)
			continue;
		/* Waiting on our own flow control is not the client's stall
		 * (a PAYLOAD is read whatever the flow control says). */
		if (_conn_throttled(c) && c->state != BBD_CONN_PAYLOAD)
			c->frame_ms = 0;
		if (c->frame_ms)
			in_frame++;
		if (!c->authed && c->state != BBD_CONN_AUTH &&
		    cf->hello_timeout_ms &&
		    now - c->accepted_ms >= cf->hello_timeout_ms) {
			snprintf(why, sizeof(why), "no HELLO within %u ms "
				 "(hello_timeout)", cf->hello_timeout_ms);
			atomic_fetch_add(&l->closed_hello, 1);
			w->nhello++;
			_conn_close_q(c, why, true);
		} else if (c->frame_ms && cf->frame_timeout_ms &&
			   now - c->frame_ms >= cf->frame_timeout_ms) {
			snprintf(why, sizeof(why), "frame not complete %u ms "
				 "after its first byte (frame_timeout)",
				 cf->frame_timeout_ms);
			atomic_fetch_add(&l->closed_frame, 1);
			_conn_close(c, why);
		} else if (c->authed && cf->idle_timeout_ms &&
			   c->inflight == 0 && !c->frame_ms &&
			   c->state == BBD_CONN_PREFIX &&
			   evbuffer_get_length(bufferevent_get_output(c->bev)) ==
				   0 &&
			   now - c->active_ms >= cf->idle_timeout_ms &&
			   !bbd_limit_exempt(b, c->uid)) {
			/* libebb retires its connection before this
			 * (HELLO's idle_timeout_ms): this is enforcement. */
			log_debug("connection from %s closed: idle for %u ms",
				  c->peer, (unsigned)(now - c->active_ms));
			atomic_fetch_add(&l->closed_idle, 1);
			_conn_close(c, NULL);
		}
	}
	atomic_fetch_add(&l->conns_frame, in_frame - w->in_frame);
	w->in_frame = in_frame;
	/* The flood's closes, summed up at most every 10 s. */
	if ((w->nhello || w->nshed) && now - w->flood_log_ms >= 10000) {
		log_warn("worker %u: closed %u connections that sent no HELLO "
			 "within %u ms and shed %u unauthenticated ones "
			 "(max_unauth_conns %u) since the last report",
			 w->id, w->nhello, cf->hello_timeout_ms, w->nshed,
			 l->max_unauth);
		w->nhello = w->nshed = 0;
		w->flood_log_ms = now;
	}
}

static void *_worker_main(void *arg)
{
	struct bbd_worker *w = arg;

	log_debug("worker %u running", w->id);
	event_base_dispatch(w->base);
	log_debug("worker %u stopped", w->id);
	return NULL;
}

static void _worker_post(struct bbd_worker *w)
{
	uint64_t one = 1;

	if (write(w->notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error("worker %u: eventfd write: %s", w->id,
			  strerror(errno));
}

/* ---- listener ------------------------------------------------------------- */

static void _peer_name(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(buf, size, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(buf, size, "[%s]:%u", host, port);
	} else {
		snprintf(buf, size, "?");
	}
}

/* Take back the reserve descriptor once one is free again. */
static void _reserve_refill(struct bbd *b)
{
	if (b->reserve_fd < 0)
		b->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Hand fd to the next worker; shed: it first closes its oldest
 * unauthenticated connection (we are out of descriptors). */
static void _hand_over(struct bbd *b, int fd, const struct sockaddr *sa,
		       bool shed)
{
	struct bbd_worker *w = &b->workers[b->next_worker++ % b->conf.workers];
	struct bbd_newconn *nc = calloc(1, sizeof(*nc));

	if (!nc) {
		log_error("accept: out of memory, connection dropped");
		close(fd);
		return;
	}
	nc->fd = fd;
	nc->accepted_ms = bbd_mono_ms();
	_peer_name(sa, nc->peer, sizeof(nc->peer));
	pthread_mutex_lock(&w->lock);
	nc->next = w->newconns;
	w->newconns = nc;
	if (shed)
		w->shed++;
	pthread_mutex_unlock(&w->lock);
	_worker_post(w);
}

static void _accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		       struct sockaddr *sa, int salen, void *arg)
{
	struct bbd *b = arg;

	(void)l;
	(void)salen;
	_reserve_refill(b);
	_hand_over(b, fd, sa, false);
}

static void _accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bbd *b = arg;

	(void)fd;
	(void)what;
	_reserve_refill(b);
	if (b->listener)
		evconnlistener_enable(b->listener);
}

static void _accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct bbd *b = arg;
	struct timeval tv = {0, 100 * 1000};
	int e = EVUTIL_SOCKET_ERROR();

	bool fds = e == EMFILE || e == ENFILE;

	if (fds)
		atomic_fetch_add(&b->limits.emfile, 1);
	if (fds)
		_reserve_refill(b); /* a worker may have shed one by now */
	if (fds && b->reserve_fd >= 0) {
		/* Give up the reserve for this one connection; its worker
		 * sheds its oldest unauthenticated one, which gives the
		 * descriptor back (refilled at the next accept). */
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		int fd;

		close(b->reserve_fd);
		b->reserve_fd = -1;
		fd = accept4(evconnlistener_get_fd(l), (struct sockaddr *)&ss,
			     &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			log_warn("accept: out of descriptors: shedding the "
				 "oldest unauthenticated connection");
			_hand_over(b, fd, (struct sockaddr *)&ss, true);
			return; /* the listener calls again if there is more */
		}
		_reserve_refill(b);
		e = errno;
	}
	log_error("accept: %s", evutil_socket_error_to_string(e));
	/* Out of descriptors and no reserve: ask a worker to shed one and
	 * pause accepting for 100 ms rather than spin on a listener that
	 * stays readable (memcached does the same). */
	if (fds) {
		struct bbd_worker *w =
			&b->workers[b->next_worker++ % b->conf.workers];

		pthread_mutex_lock(&w->lock);
		w->shed++;
		pthread_mutex_unlock(&w->lock);
		_worker_post(w);
	}
	if ((fds || e == ENOBUFS || e == ENOMEM) && b->accept_retry) {
		evconnlistener_disable(l);
		evtimer_add(b->accept_retry, &tv);
	}
}

/* "host:port", "[v6]:port" or ":port" into host and port strings. */
static ebb_err _split_listen(const char *s, char *host, size_t hsize,
			     char *port, size_t psize)
{
	const char *colon;

	if (s[0] == '[') {
		const char *close_br = strchr(s, ']');
		if (!close_br || close_br[1] != ':')
			return EBB_EINVAL;
		snprintf(host, hsize, "%.*s", (int)(close_br - s - 1), s + 1);
		colon = close_br + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return EBB_EINVAL;
		snprintf(host, hsize, "%.*s", (int)(colon - s), s);
	}
	snprintf(port, psize, "%s", colon + 1);
	if (!port[0])
		return EBB_EINVAL;
	return EBB_OK;
}

ebb_err bbd_net_start(struct bbd *b, char *err, size_t errlen)
{
	char host[256], port[32];
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	ebb_err rc = EBB_EIO;
	int gai;
	/* Sweep often enough that a deadline is late by a quarter of the
	 * shortest one at most, and at least once a second. */
	unsigned tick = 1000;
	struct timeval sweep;

	if (b->conf.hello_timeout_ms && b->conf.hello_timeout_ms / 4 < tick)
		tick = b->conf.hello_timeout_ms / 4;
	if (b->conf.frame_timeout_ms && b->conf.frame_timeout_ms / 4 < tick)
		tick = b->conf.frame_timeout_ms / 4;
	if (b->conf.idle_timeout_ms && b->conf.idle_timeout_ms / 4 < tick)
		tick = b->conf.idle_timeout_ms / 4;
	if (tick < 25)
		tick = 25;
	sweep.tv_sec = tick / 1000;
	sweep.tv_usec = (tick % 1000) * 1000;

	b->workers = calloc(b->conf.workers, sizeof(*b->workers));
	if (!b->workers) {
		snprintf(err, errlen, "out of memory");
		return EBB_ENOMEM;
	}
	for (unsigned i = 0; i < b->conf.workers; i++) {
		struct bbd_worker *w = &b->workers[i];

		w->bbd = b;
		w->id = i;
		pthread_mutex_init(&w->lock, NULL);
		w->base = event_base_new();
		w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (!w->base || w->notify_fd < 0) {
			snprintf(err, errlen, "worker %u: %s", i,
				 strerror(errno));
			goto out;
		}
		w->notify_ev = event_new(w->base, w->notify_fd,
					 EV_READ | EV_PERSIST,
					 _worker_notify_cb, w);
		if (!w->notify_ev || event_add(w->notify_ev, NULL) != 0) {
			snprintf(err, errlen, "worker %u: event_add failed", i);
			goto out;
		}
		w->sweep_ev = event_new(w->base, -1, EV_PERSIST,
					_worker_sweep_cb, w);
		if (!w->sweep_ev || event_add(w->sweep_ev, &sweep) != 0) {
			snprintf(err, errlen, "worker %u: event_add failed", i);
			goto out;
		}
		if (pthread_create(&w->thread, NULL, _worker_main, w) != 0) {
			snprintf(err, errlen, "worker %u: pthread_create", i);
			goto out;
		}
	}

	if (_split_listen(b->conf.listen, host, sizeof(host), port,
			  sizeof(port)) != EBB_OK) {
		snprintf(err, errlen, "listen: '%s' is not HOST:PORT",
			 b->conf.listen);
		rc = EBB_E_CONFIG;
		goto out;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	gai = getaddrinfo(host[0] && strcmp(host, "*") ? host : NULL, port,
			  &hints, &ai);
	if (gai != 0) {
		snprintf(err, errlen, "listen %s: %s", b->conf.listen,
			 gai_strerror(gai));
		rc = EBB_E_CONFIG;
		goto out;
	}
	b->listener = evconnlistener_new_bind(
		b->base, _accept_cb, b,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
			LEV_OPT_CLOSE_ON_EXEC,
		1024, ai->ai_addr, (int)ai->ai_addrlen);
	if (!b->listener) {
		snprintf(err, errlen, "listen %s: %s", b->conf.listen,
			 strerror(errno));
		goto out;
	}
	evconnlistener_set_error_cb(b->listener, _accept_error_cb);
	b->accept_retry = evtimer_new(b->base, _accept_retry_cb, b);
	if (getsockname(evconnlistener_get_fd(b->listener),
			(struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET)
			b->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			b->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	rc = EBB_OK;
out:
	if (ai)
		freeaddrinfo(ai);
	return rc;
}

void bbd_net_stop(struct bbd *b)
{
	if (b->accept_retry) {
		event_free(b->accept_retry);
		b->accept_retry = NULL;
	}
	if (b->listener) {
		evconnlistener_free(b->listener);
		b->listener = NULL;
	}
	if (!b->workers)
		return;
	for (unsigned i = 0; i < b->conf.workers; i++) {
		struct bbd_worker *w = &b->workers[i];

		if (!w->base || !w->notify_ev)
			continue;
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_mutex_unlock(&w->lock);
		_worker_post(w);
	}
	for (unsigned i = 0; i < b->conf.workers; i++) {
		struct bbd_worker *w = &b->workers[i];

		if (w->thread)
			pthread_join(w->thread, NULL);
	}
}

void bbd_net_free(struct bbd *b)
{
	if (!b->workers)
		return;
	/* Free what the workers owned.  Connections still open here (the
	 * 10 s limit passed) are left to process exit. */
	for (unsigned i = 0; i < b->conf.workers; i++) {
		struct bbd_worker *w = &b->workers[i];

		if (w->stop_timer)
			event_free(w->stop_timer);
		if (w->sweep_ev)
			event_free(w->sweep_ev);
		if (w->notify_ev)
			event_free(w->notify_ev);
		if (w->nconns == 0 && w->base)
			event_base_free(w->base);
		if (w->notify_fd > 0)
			close(w->notify_fd);
		pthread_mutex_destroy(&w->lock);
	}
	free(b->workers);
	b->workers = NULL;
}
