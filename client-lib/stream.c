/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb streaming: write-behind per inode, read-ahead per handle.
 *
 * DESIGN: write-behind.  ebb_pwrite sends its stripe pieces as WRITE
 * requests on the inode's async waiter (conn_int.h) and returns once they
 * are sent, without waiting for the replies: net_issue() has copied the
 * payload into the socket by then, so no buffer is held and the caller's
 * is free at once.  Up to cfg.write_behind bytes (and WB_MAX_OPS requests)
 * stay unacknowledged per inode; a write beyond that first collects
 * replies.  Replies are collected by whoever next takes the inode's wb
 * lock (a later write, a read over the range, a drain); a failed one
 * becomes its handle's pending error, which ebb_flush, ebb_fsync and
 * ebb_close report (and clear), and which fails every later write of that
 * handle at once (NFS does the same), so a writer into a full instance
 * stops within one window.  bbd runs the WRITEs of one connection on
 * several I/O threads, so two writes in flight to one range could apply
 * in either order: a write overlapping one still in flight waits for it
 * first (a sequential writer never overlaps).  A read through any handle
 * of this ebb_t waits for the writes in flight over what it reads;
 * flush, fsync, close, truncate and the size publication wait for all of
 * the inode's.  The size grows when the write is issued, so a reader sees
 * it at once.  O_DSYNC/O_SYNC handles and $EBB_WRITE_BEHIND=0 keep the
 * synchronous path of file.c.
 *
 * Gathering.  One WRITE per 4 KiB write(2) costs a request and a reply
 * each (the mount's 4 KiB writes ran at 70 MB/s that way), so small
 * writes are gathered: a write piece smaller than cfg.write_gather (1 MiB
 * by default, at most a stripe) is copied into the inode's gather buffer
 * when the buffer is empty or the piece goes on exactly where it ends,
 * from the same handle and within the same stripe.  The buffer goes out
 * as one WRITE when it is full, when it reaches the stripe's end, when
 * any other write of the inode comes (non-contiguous, another handle, a
 * large one: order is kept), and wherever write-behind drains or waits:
 * flush, fsync, close, truncate, the size publication, and a read of its
 * range (or a synchronous write over it) through any handle of this
 * ebb_t.  There is no timer: bytes sit in the buffer until one of these,
 * and a process that dies before it loses them (as it would lose a stdio
 * buffer); what fsync or close returned for is on the nodes.  Only the
 * bytes written are sent, never a page read back and rewritten, so
 * writers on other nodes of unaligned records next to ours are never
 * overwritten.  Its failure is its handle's pending error like any
 * write-behind failure (the size is cut back to before the buffer's first
 * call).  A cut also drops gathered bytes past it, and fails the write
 * being accepted when it came if that write reaches past it (else that
 * write would grow the file again over the hole the failure left: a
 * reader would see zeros as data; access.t's fill showed it).  Memory: at most cfg.write_gather bytes per inode being written
 * through this ebb_t (grown by doubling from 64 KiB), freed when the
 * inode drains.
 *
 * Read-ahead.  A handle whose preads follow each other (the next starts
 * where the last ended; the first at offset 0 counts) streams: besides
 * what the call asks, it keeps READs in flight for the next `win` bytes,
 * in stripe-sized chunks with buffers of the handle's own, and serves the
 * next calls from them (one copy).  The window starts at twice the call
 * (at least a stripe) and doubles per sequential call up to
 * cfg.read_ahead.  Chunks are refilled one by one as they are consumed,
 * so the pipe never drains between calls.  A call of cfg.read_ahead bytes
 * or more reads straight into the caller's buffer and nothing ahead: it
 * keeps that much in flight by itself, and a chunk would cost a copy.  A pread elsewhere drops the
 * chunks and their buffers (random access reads nothing ahead), except
 * one within a window of the stream, which FUSE's parallel READs may
 * reorder: it is read directly and the stream goes on.  Any write or
 * truncate of the inode made through this ebb_t bumps its dgen, which
 * drops every handle's chunks at its next pread; another client's writes
 * are only promised after its close and our open (close-to-open), and an
 * open starts with no chunks.  Local reads (local.c): with every member
 * on this node nothing is read ahead (the kernel reads the object files
 * ahead); in a mixed instance a chunk whose member is local issues nothing
 * and is read from the handle's fd into the caller's buffer when served.
 *
 * Locks: wb->lock (per inode) is taken after ra->lock (per handle), before
 * f->lock and h->ino_lock; the waiters' own locks are innermost.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ebb_int.h"
#include "placement.h"

#define WB_MAX_OPS 1024            /* requests in flight per inode */
#define LW_MIN (1024u * 1024)      /* local writes once a handle has
				    * written this much, or in such a call */

struct wb_op {
	struct ebb_req req;        /* first: the waiter gives &op->req */
	struct ebb_file *f;        /* whose write (pending error) */
	uint64_t off, end;
	uint64_t size0;            /* the inode's size before its call */
	uint64_t call_off;         /* where its call began */
	struct wb_op *prev, *next;
};

struct ra_chunk {
	struct ebb_req req;        /* first */
	uint8_t *buf;              /* a stripe, kept while streaming */
	uint64_t off;
	size_t len;
	bool busy;                 /* in flight */
	bool local;                /* its member serves local reads: nothing
				    * in flight, read from the handle's fd
				    * straight into the caller's buffer when
				    * served (local.c) */
	unsigned node;             /* its member, if local */
};

/* ---- write-behind --------------------------------------------------------- */

void wb_init(struct ebb_wb *wb)
{
	memset(wb, 0, sizeof(*wb));
	wb->cut_lo = UINT64_MAX;
	pthread_mutex_init(&wb->lock, NULL);
	waiter_init_async(&wb->w);
}

void wb_fini(struct ebb_wb *wb)
{
	free(wb->gbuf); /* empty: its last handle drained it at close */
	waiter_fini(&wb->w);
	pthread_mutex_destroy(&wb->lock);
}

/* A write that extended the file from size0 failed at [off, ..): the file
 * ends where the failure begins, as a local file ends after the last
 * write that succeeded (the size grew when it was issued): at size0 if it
 * was the call's first piece (a failed write(2) does not extend a file),
 * else after the pieces before it (a short write).  The data other
 * pieces put past it goes at the publication (wb->cut). */
static void _wb_cut(ebb_t *h, struct ebb_inode *in, const struct wb_op *op,
		    ebb_err err)
{
	struct ebb_wb *wb = &in->wb;
	uint64_t cut = op->off > op->call_off && op->off > op->size0 ?
		       op->off : op->size0;

	/* The write being accepted now (wb_write holds wb->lock for the
	 * whole call) must not grow the file past the cut again: it fails
	 * with err if it reaches past it. */
	if (cut < wb->cut_lo) {
		wb->cut_lo = cut;
		wb->cut_err = err;
	}
	/* Gathered bytes past the cut are no longer the file's: never
	 * sent (the calls that gave them were answered before the error
	 * came; close reports it). */
	if (wb->glen && wb->goff + wb->glen > cut) {
		wb->glen = cut > wb->goff ? (size_t)(cut - wb->goff) : 0;
		if (!wb->glen)
			wb->gf = NULL;
	}
	pthread_mutex_lock(&h->ino_lock);
	if (in->size > cut) {
		in->size = cut;
		in->dgen++;
		in->wb.cut = true;
	}
	pthread_mutex_unlock(&h->ino_lock);
}

/* op completed (or was withdrawn): its result to its handle, then gone. */
static void _wb_done_locked(ebb_t *h, struct ebb_inode *in,
			    struct ebb_wb *wb, struct wb_op *op)
{
	ebb_err err = op->req.status;
	uint64_t written = 0;

	if (err == EBB_OK && (!proto_get_u64(&op->req.dec, &written) ||
			      written != op->end - op->off))
		err = EBB_EIO;
	if (err != EBB_OK) {
		pthread_mutex_lock(&op->f->lock);
		if (op->f->pending == EBB_OK)
			op->f->pending = err;
		pthread_mutex_unlock(&op->f->lock);
		if (op->end > op->size0)
			_wb_cut(h, in, op, err);
	}
	if (op->prev)
		op->prev->next = op->next;
	else
		wb->head = op->next;
	if (op->next)
		op->next->prev = op->prev;
	else
		wb->tail = op->prev;
	wb->bytes -= op->end - op->off;
	wb->n--;
	req_release(&op->req);
	free(op);
}

/* Take the replies that are in; if block and some write is still in
 * flight, wait for one more.  A whole timeout without any reply withdraws
 * everything in flight (ETIMEDOUT), so nothing waits longer than that. */
static void _wb_collect_locked(ebb_t *h, struct ebb_inode *in, bool block)
{
	struct ebb_wb *wb = &in->wb;
	struct ebb_req *r;
	bool to = false;

	while ((r = waiter_poll(&wb->w)))
		_wb_done_locked(h, in, wb, (struct wb_op *)r);
	if (!block || !wb->head)
		return;
	if ((r = waiter_next(&wb->w, h->net.cfg.timeout_ms, &to))) {
		_wb_done_locked(h, in, wb, (struct wb_op *)r);
		return;
	}
	for (struct wb_op *op = wb->head; op; op = op->next)
		req_withdraw(&wb->w, &op->req);
	waiter_cancel_wait(&wb->w); /* empties the done list too */
	while (wb->head)
		_wb_done_locked(h, in, wb, wb->head);
}

static bool _wb_overlaps_locked(const struct ebb_wb *wb, uint64_t off,
				uint64_t end)
{
	for (const struct wb_op *op = wb->head; op; op = op->next)
		if (op->off < end && off < op->end)
			return true;
	return false;
}

static void _wb_wait_range_locked(ebb_t *h, struct ebb_inode *in,
				  uint64_t off, uint64_t end)
{
	struct ebb_wb *wb = &in->wb;

	_wb_collect_locked(h, in, false);
	while (wb->head && _wb_overlaps_locked(wb, off, end))
		_wb_collect_locked(h, in, true);
}

/* Wait until [s, e) may be issued: the writes in flight over it have
 * applied (bbd would run them in parallel) and the window has room.
 * Collecting replies may cut the size (_wb_cut), which trims the gather
 * buffer: callers look at it again afterwards. */
static void _wb_room_locked(ebb_t *h, struct ebb_inode *in, uint64_t s,
			    uint64_t e)
{
	struct ebb_wb *wb = &in->wb;

	_wb_wait_range_locked(h, in, s, e);
	while (wb->head && (wb->bytes + (e - s) > h->net.cfg.write_behind ||
			    wb->n >= WB_MAX_OPS))
		_wb_collect_locked(h, in, true);
}

/* Send [s, e) (within one stripe) of f's writes from buf as one WRITE,
 * now (after _wb_room_locked).  size0 and call_off are what _wb_cut needs
 * if it fails. */
static ebb_err _wb_issue_locked(ebb_t *h, struct ebb_inode *in,
				struct ebb_file *f, const uint8_t *buf,
				uint64_t s, uint64_t e, uint64_t size0,
				uint64_t call_off, uint64_t stripe)
{
	struct ebb_net *net = &h->net;
	struct ebb_wb *wb = &in->wb;
	size_t len = (size_t)(e - s);
	unsigned node = placement_stripe_node(in->ino, s / stripe, net->n);
	struct proto_enc *enc;
	struct wb_op *op;

	if (!(op = calloc(1, sizeof(*op))))
		return EBB_ENOMEM; /* what was issued stays in flight */
	op->f = f;
	op->size0 = size0;
	op->call_off = call_off;
	op->off = s;
	op->end = e;
	op->prev = wb->tail;
	if (wb->tail)
		wb->tail->next = op;
	else
		wb->head = op;
	wb->tail = op;
	wb->bytes += len;
	wb->n++;
	wb->issued++;
	pthread_mutex_lock(&h->ino_lock);
	in->wrote_nodes[node / 8] |= (uint8_t)(1u << (node % 8));
	pthread_mutex_unlock(&h->ino_lock);
	enc = req_begin(net, &op->req, node, PROTO_OP_WRITE, 3);
	proto_put_cstr(enc, h->id);
	proto_put_u64(enc, in->ino);
	proto_put_u64(enc, s);
	op->req.tag = len;
	net_issue(net, &wb->w, &op->req, buf, len);
	return EBB_OK;
}

/* Send what the gather buffer holds (net_issue copies it: the buffer is
 * free again at once).  A failure to send is its owner's pending error,
 * as a failed reply would be, and cuts the size the same way. */
static void _wb_gflush_locked(ebb_t *h, struct ebb_inode *in)
{
	struct ebb_wb *wb = &in->wb;
	uint64_t stripe;
	ebb_err err;

	if (!wb->glen)
		return;
	err = attach_stripe(h, &stripe); /* known: wb_write learnt it */
	if (err == EBB_OK) {
		_wb_room_locked(h, in, wb->goff, wb->goff + wb->glen);
		if (!wb->glen)
			return; /* a failure cut it all away meanwhile */
		err = _wb_issue_locked(h, in, wb->gf, wb->gbuf, wb->goff,
				       wb->goff + wb->glen, wb->gsize0,
				       wb->gcall_off, stripe);
	}
	if (err != EBB_OK) {
		struct wb_op op = { .off = wb->goff,
				    .end = wb->goff + wb->glen,
				    .size0 = wb->gsize0,
				    .call_off = wb->gcall_off };

		pthread_mutex_lock(&wb->gf->lock);
		if (wb->gf->pending == EBB_OK)
			wb->gf->pending = err;
		pthread_mutex_unlock(&wb->gf->lock);
		if (op.end > op.size0)
			_wb_cut(h, in, &op, err);
	}
	wb->glen = 0;
	wb->gf = NULL;
}

/* Append [s, e) of the call (off, size0) to the gather buffer (which is
 * empty or ends at s, with f's writes), growing it by doubling up to
 * cap.  false: no memory (nothing appended). */
static bool _wb_gather_locked(struct ebb_wb *wb, struct ebb_file *f,
			      const uint8_t *p, uint64_t s, uint64_t e,
			      uint64_t size0, uint64_t off, size_t cap)
{
	size_t len = (size_t)(e - s);

	if (wb->glen + len > wb->gcap) {
		size_t n = wb->gcap ? wb->gcap : 64 * 1024;
		uint8_t *b;

		while (n < wb->glen + len)
			n *= 2;
		if (n > cap)
			n = cap;
		if (!(b = realloc(wb->gbuf, n)))
			return false;
		wb->gbuf = b;
		wb->gcap = n;
	}
	if (!wb->glen) {
		wb->goff = s;
		wb->gf = f;
		wb->gsize0 = size0;
		wb->gcall_off = off;
	}
	memcpy(wb->gbuf + wb->glen, p, len);
	wb->glen += len;
	return true;
}

void wb_wait_range(ebb_t *h, struct ebb_inode *in, uint64_t off,
		   uint64_t end)
{
	struct ebb_wb *wb = &in->wb;

	pthread_mutex_lock(&wb->lock);
	if (wb->glen && wb->goff < end && off < wb->goff + wb->glen)
		_wb_gflush_locked(h, in);
	if (wb->head)
		_wb_wait_range_locked(h, in, off, end);
	pthread_mutex_unlock(&wb->lock);
}

void wb_drain(ebb_t *h, struct ebb_inode *in)
{
	struct ebb_wb *wb = &in->wb;

	pthread_mutex_lock(&wb->lock);
	_wb_gflush_locked(h, in);
	while (wb->head)
		_wb_collect_locked(h, in, true);
	/* Only a file being written holds a buffer. */
	free(wb->gbuf);
	wb->gbuf = NULL;
	wb->gcap = 0;
	pthread_mutex_unlock(&wb->lock);
}

/* Local writes: [s, e) (within one stripe) straight into the object file
 * of a member on this node, through f's writable fd (file.c).  Once the
 * writes in flight over the range have applied (and the gathered bytes
 * over it are sent), so that none lands after it.  True if done (*err:
 * the outcome, synchronous: the caller's write fails with it, and it is
 * the handle's pending error too); false if this member cannot, and the
 * piece goes over TCP as before. */
static bool _wb_local_locked(ebb_t *h, struct ebb_inode *in,
			     struct ebb_file *f, const uint8_t *p, uint64_t s,
			     uint64_t e, uint64_t stripe, ebb_err *err)
{
	struct ebb_wb *wb = &in->wb;
	unsigned node = placement_stripe_node(in->ino, s / stripe, h->net.n);
	ebb_err st;

	if (wb->glen && wb->goff < e && s < wb->goff + wb->glen)
		_wb_gflush_locked(h, in);
	if (wb->head)
		_wb_wait_range_locked(h, in, s, e);
	if (wb->cut_lo < e)
		return false; /* the caller stops at the cut */
	st = file_local_write(f, node, p, (size_t)(e - s), s);
	if (st == EBB_E_BADOP)
		return false;
	if (st != EBB_OK) {
		/* Reported by this write and, as a write-behind failure
		 * would be, by the handle's next flush, fsync or close and
		 * every later write: a program that checks only close(2)
		 * learns it too. */
		pthread_mutex_lock(&f->lock);
		if (f->pending == EBB_OK)
			f->pending = st;
		pthread_mutex_unlock(&f->lock);
	}
	pthread_mutex_lock(&h->ino_lock);
	in->wrote_nodes[node / 8] |= (uint8_t)(1u << (node % 8));
	pthread_mutex_unlock(&h->ino_lock);
	*err = st;
	return true;
}

ebb_err wb_write(struct ebb_file *f, const uint8_t *buf, size_t count,
		 uint64_t off, bool append, uint64_t *offp)
{
	ebb_t *h = f->h;
	struct ebb_inode *in = f->in;
	struct ebb_wb *wb = &in->wb;
	size_t gmax = h->net.cfg.write_gather;
	uint64_t stripe, k0, k1, size0;
	bool local;
	ebb_err err;

	if ((err = attach_stripe(h, &stripe)) != EBB_OK)
		return err;
	if (gmax > stripe)
		gmax = (size_t)stripe;
	pthread_mutex_lock(&wb->lock);
	waiter_restart(&wb->w);
	_wb_collect_locked(h, in, false);
	pthread_mutex_lock(&f->lock);
	err = f->pending;
	pthread_mutex_unlock(&f->lock);
	if (err != EBB_OK)
		goto out;
	if (append)
		off = inode_size(h, in); /* no other write issues meanwhile */
	if (off + count < off || off + count > (1ull << 44)) {
		err = EBB_EFBIG;
		goto out;
	}
	/* Only a write of the same handle that goes on where the buffer
	 * ends joins it; anything else sends it first (in order). */
	wb->cut_lo = UINT64_MAX;
	if (wb->glen && (wb->gf != f || off != wb->goff + wb->glen))
		_wb_gflush_locked(h, in);
	size0 = inode_size(h, in);
	/* Local writes cost three round trips on the local socket per handle
	 * and member (open, reserve, settle): worth it for a stream, not for
	 * a small file, which one gathered WRITE serves better. */
	local = h->net.cfg.local_writes &&
		(f->wbytes >= LW_MIN || count >= LW_MIN);
	f->wbytes += count;
	k0 = off / stripe;
	k1 = (off + count - 1) / stripe;
	for (uint64_t k = k0; k <= k1 && err == EBB_OK; k++) {
		uint64_t s = k == k0 ? off : k * stripe;
		uint64_t e = k == k1 ? off + count : (k + 1) * stripe;
		const uint8_t *p = buf + (s - off);

		if (wb->glen && wb->glen + (e - s) > gmax)
			_wb_gflush_locked(h, in);
		if (wb->cut_lo < e)
			break; /* a failure cut the file below this piece */
		if (local && _wb_local_locked(h, in, f, p, s, e, stripe, &err))
			continue;
		if (e - s < gmax &&
		    _wb_gather_locked(wb, f, p, s, e, size0, off, gmax)) {
			/* Full, or at the stripe's end: one WRITE. */
			if (wb->glen >= gmax || e == (k + 1) * stripe)
				_wb_gflush_locked(h, in);
			continue;
		}
		_wb_gflush_locked(h, in);
		_wb_room_locked(h, in, s, e);
		if (wb->cut_lo < e)
			break;
		err = _wb_issue_locked(h, in, f, p, s, e, size0, off, stripe);
	}
	/* A write that failed while this one was being accepted cut the
	 * file below its end: this one fails too rather than grow the file
	 * over the hole (its pieces past the cut go at the publication). */
	if (err == EBB_OK && wb->cut_lo < off + count)
		err = wb->cut_err;
	pthread_mutex_lock(&f->lock);
	f->wrote = true;
	f->mtime_ns = file_now_ns();
	pthread_mutex_unlock(&f->lock);
	if (err == EBB_OK)
		inode_grow(h, in, off + count); /* before an O_APPEND next */
out:
	pthread_mutex_unlock(&wb->lock);
	*offp = off;
	return err;
}

/* ---- read-ahead ------------------------------------------------------------ */

void ra_init(struct ebb_ra *ra)
{
	memset(ra, 0, sizeof(*ra));
	pthread_mutex_init(&ra->lock, NULL);
	waiter_init_async(&ra->w);
}

static struct ra_chunk *_ra_at(struct ebb_ra *ra, unsigned i)
{
	return &ra->ring[(ra->first + i) % ra->cap];
}

/* Wait until chunk c is no longer in flight.  A whole timeout without a
 * reply withdraws every chunk in flight (they fail: read again directly,
 * which reports the error). */
static void _ra_wait(ebb_t *h, struct ebb_ra *ra, struct ra_chunk *c)
{
	struct ebb_req *r;
	bool to = false;

	while (c->busy) {
		if ((r = waiter_next(&ra->w, h->net.cfg.timeout_ms, &to))) {
			((struct ra_chunk *)r)->busy = false;
			continue;
		}
		for (unsigned i = 0; i < ra->n; i++)
			if (_ra_at(ra, i)->busy)
				req_withdraw(&ra->w, &_ra_at(ra, i)->req);
		waiter_cancel_wait(&ra->w);
		for (unsigned i = 0; i < ra->n; i++)
			_ra_at(ra, i)->busy = false;
	}
}

/* Forget the oldest chunk (waiting for it if in flight). */
static void _ra_pop(ebb_t *h, struct ebb_ra *ra)
{
	struct ra_chunk *c = _ra_at(ra, 0);

	_ra_wait(h, ra, c);
	req_release(&c->req);
	ra->first = (ra->first + 1) % ra->cap;
	ra->n--;
}

/* Forget every chunk; free the buffers too if the stream ended. */
static void _ra_drop(ebb_t *h, struct ebb_ra *ra, bool free_bufs)
{
	while (ra->n)
		_ra_pop(h, ra);
	ra->first = 0;
	if (free_bufs && ra->ring) {
		for (unsigned i = 0; i < ra->cap; i++)
			free(ra->ring[i].buf);
		free(ra->ring);
		ra->ring = NULL;
		ra->cap = 0;
	}
}

void ra_fini(ebb_t *h, struct ebb_ra *ra)
{
	_ra_drop(h, ra, true);
	waiter_fini(&ra->w);
	pthread_mutex_destroy(&ra->lock);
}

/* Issue chunks after the last one (or from `from` if there is none) up to
 * limit, while the ring has room. */
static void _ra_fill(struct ebb_file *f, uint64_t stripe, uint64_t from,
		     uint64_t limit)
{
	ebb_t *h = f->h;
	struct ebb_ra *ra = &f->ra;
	struct ebb_net *net = &h->net;

	if (ra->n) {
		struct ra_chunk *l = _ra_at(ra, ra->n - 1);
		from = l->off + l->len;
	}
	waiter_restart(&ra->w);
	while (from < limit && ra->n < ra->cap) {
		uint64_t k = from / stripe, e = (k + 1) * stripe;
		struct ra_chunk *c;
		struct proto_enc *enc;

		unsigned node = placement_stripe_node(f->in->ino, k, net->n);

		if (e > limit)
			e = limit;
		c = &ra->ring[(ra->first + ra->n) % ra->cap];
		if (file_local_ok(f, node)) {
			/* A mixed instance: this member is on our node. */
			memset(&c->req, 0, sizeof(c->req));
			c->off = from;
			c->len = (size_t)(e - from);
			c->busy = false;
			c->local = true;
			c->node = node;
			ra->n++;
			from = e;
			continue;
		}
		if (!c->buf && !(c->buf = malloc(stripe)))
			return; /* no memory: read less ahead */
		c->off = from;
		c->len = (size_t)(e - from);
		c->busy = true;
		c->local = false;
		ra->n++;
		ra->issued++;
		enc = req_begin(net, &c->req, node, PROTO_OP_READ, 4);
		proto_put_cstr(enc, h->id);
		proto_put_u64(enc, f->in->ino);
		proto_put_u64(enc, from);
		proto_put_u64(enc, c->len);
		c->req.rbuf = c->buf;
		c->req.rcap = c->len;
		c->req.tag = c->len;
		net_issue(net, &ra->w, &c->req, NULL, 0);
		from = e;
	}
}

ebb_err ra_read(struct ebb_file *f, uint8_t *buf, size_t count, uint64_t off)
{
	ebb_t *h = f->h;
	struct ebb_ra *ra = &f->ra;
	uint64_t max = h->net.cfg.read_ahead, end = off + count, pos = off;
	uint64_t stripe, size, gen, limit;
	bool seq;
	ebb_err err;

	if (max == 0 || attach_stripe(h, &stripe) != EBB_OK)
		goto direct;
	/* Every member on this node serves local reads: each piece is a
	 * pread of the page cache (the kernel reads the object files ahead
	 * itself), so chunks would only add a copy. */
	if (local_all(&h->net))
		goto direct;
	pthread_mutex_lock(&ra->lock);
	gen = inode_dgen(h, f->in);
	if (gen != ra->gen) {
		/* Written or truncated here since: the chunks may be old. */
		_ra_drop(h, ra, false);
		ra->gen = gen;
	}
	if (ra->n) {
		struct ra_chunk *l = _ra_at(ra, ra->n - 1);
		seq = off >= _ra_at(ra, 0)->off && off <= l->off + l->len;
	} else {
		seq = off == ra->next;
	}
	if (!seq) {
		if (ra->win && off + ra->win >= ra->next &&
		    off <= ra->next + ra->win) {
			/* Near the stream (FUSE's READs may come out of
			 * order): read it directly, keep streaming. */
			pthread_mutex_unlock(&ra->lock);
			goto direct;
		}
		_ra_drop(h, ra, true);
		ra->win = 0;
		ra->next = end;
		pthread_mutex_unlock(&ra->lock);
		goto direct;
	}
	if (count >= max) {
		/* A call as large as the window keeps enough in flight by
		 * itself, straight into the caller's buffer: reading ahead
		 * would only add a copy. */
		_ra_drop(h, ra, true);
		ra->win = 0;
		ra->next = end;
		pthread_mutex_unlock(&ra->lock);
		goto direct;
	}
	if (!ra->ring) {
		ra->cap = (unsigned)((max + stripe - 1) / stripe) + 1;
		if (!(ra->ring = calloc(ra->cap, sizeof(*ra->ring)))) {
			ra->cap = 0;
			pthread_mutex_unlock(&ra->lock);
			goto direct;
		}
	}
	ra->win = ra->win ? ra->win * 2 : 2 * (count > stripe ? count : stripe);
	if (ra->win > max)
		ra->win = max;
	size = inode_size(h, f->in);
	limit = end + ra->win < size ? end + ra->win : size;
	/* Writes of ours in flight over what we read, or read ahead, first
	 * (after this, a new write bumps dgen). */
	wb_wait_range(h, f->in, off, limit);
	/* Skipped chunks go; the chunks in front of the call serve it, each
	 * one's slot refilled at the far end as soon as it is consumed. */
	while (ra->n && _ra_at(ra, 0)->off + _ra_at(ra, 0)->len <= off)
		_ra_pop(h, ra);
	while (pos < end && ra->n) {
		struct ra_chunk *c = _ra_at(ra, 0);
		uint64_t ce = c->off + c->len, n;

		if (c->off > pos)
			break; /* refilled from end on: read the gap directly */
		_ra_wait(h, ra, c);
		if (c->local) {
			n = (ce < end ? ce : end) - pos;
			if (file_local_pread(f, c->node, buf + (pos - off),
					     (size_t)n, pos) != EBB_OK) {
				_ra_drop(h, ra, false);
				break;
			}
			pos += n;
			if (ce <= end) {
				_ra_pop(h, ra);
				_ra_fill(f, stripe, end, limit);
			}
			continue;
		}
		if (c->req.status != EBB_OK || c->req.plen != c->len) {
			/* Read it again directly (its error), start over
			 * at end. */
			_ra_drop(h, ra, false);
			break;
		}
		n = (ce < end ? ce : end) - pos;
		memcpy(buf + (pos - off), c->buf + (pos - c->off), n);
		pos += n;
		if (ce <= end) {
			_ra_pop(h, ra);
			_ra_fill(f, stripe, end, limit);
		}
	}
	_ra_fill(f, stripe, end, limit);
	ra->next = end;
	err = pos < end ? file_stripe_io(h, f->in->ino, false, buf + (pos - off),
					 (size_t)(end - pos), pos, NULL, f)
			: EBB_OK;
	pthread_mutex_unlock(&ra->lock);
	return err;
direct:
	wb_wait_range(h, f->in, off, end);
	return file_stripe_io(h, f->in->ino, false, buf, count, off, NULL, f);
}

uint64_t file_wb_issued(ebb_file_t *f)
{
	uint64_t n;

	pthread_mutex_lock(&f->in->wb.lock);
	n = f->in->wb.issued;
	pthread_mutex_unlock(&f->in->wb.lock);
	return n;
}

uint64_t file_ra_issued(ebb_file_t *f)
{
	uint64_t n;

	pthread_mutex_lock(&f->ra.lock);
	n = f->ra.issued;
	pthread_mutex_unlock(&f->ra.lock);
	return n;
}
