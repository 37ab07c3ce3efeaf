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
	pthread_mutex_init(&wb->lock, NULL);
	waiter_init_async(&wb->w);
}

void wb_fini(struct ebb_wb *wb)
{
	waiter_fini(&wb->w);
	pthread_mutex_destroy(&wb->lock);
}

/* A write that extended the file from size0 failed at [off, ..): the file
 * ends where the failure begins, as a local file ends after the last
 * write that succeeded (the size grew when it was issued): at size0 if it
 * was the call's first piece (a failed write(2) does not extend a file),
 * else after the pieces before it (a short write).  The data other
 * pieces put past it goes at the publication (wb->cut). */
static void _wb_cut(ebb_t *h, struct ebb_inode *in, const struct wb_op *op)
{
	uint64_t cut = op->off > op->call_off && op->off > op->size0 ?
		       op->off : op->size0;

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
			_wb_cut(h, in, op);
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

void wb_wait_range(ebb_t *h, struct ebb_inode *in, uint64_t off,
		   uint64_t end)
{
	struct ebb_wb *wb = &in->wb;

	pthread_mutex_lock(&wb->lock);
	if (wb->head)
		_wb_wait_range_locked(h, in, off, end);
	pthread_mutex_unlock(&wb->lock);
}

void wb_drain(ebb_t *h, struct ebb_inode *in)
{
	struct ebb_wb *wb = &in->wb;

	pthread_mutex_lock(&wb->lock);
	while (wb->head)
		_wb_collect_locked(h, in, true);
	pthread_mutex_unlock(&wb->lock);
}

ebb_err wb_write(struct ebb_file *f, const uint8_t *buf, size_t count,
		 uint64_t off, bool append, uint64_t *offp)
{
	ebb_t *h = f->h;
	struct ebb_net *net = &h->net;
	struct ebb_inode *in = f->in;
	struct ebb_wb *wb = &in->wb;
	size_t limit = net->cfg.write_behind, nb = (net->n + 7) / 8;
	uint64_t stripe, k0, k1, size0;
	uint8_t *nodes;
	ebb_err err;

	if ((err = attach_stripe(h, &stripe)) != EBB_OK)
		return err;
	if (!(nodes = calloc(nb, 1)))
		return EBB_ENOMEM;
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
	size0 = inode_size(h, in);
	k0 = off / stripe;
	k1 = (off + count - 1) / stripe;
	for (uint64_t k = k0; k <= k1; k++) {
		uint64_t s = k == k0 ? off : k * stripe;
		uint64_t e = k == k1 ? off + count : (k + 1) * stripe;
		size_t len = (size_t)(e - s);
		unsigned node = placement_stripe_node(in->ino, k, net->n);
		struct proto_enc *enc;
		struct wb_op *op;

		_wb_wait_range_locked(h, in, s, e);
		while (wb->head &&
		       (wb->bytes + len > limit || wb->n >= WB_MAX_OPS))
			_wb_collect_locked(h, in, true);
		if (!(op = calloc(1, sizeof(*op)))) {
			err = EBB_ENOMEM; /* what was issued stays in flight */
			break;
		}
		op->f = f;
		op->size0 = size0;
		op->call_off = off;
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
		enc = req_begin(net, &op->req, node, PROTO_OP_WRITE, 3);
		proto_put_cstr(enc, h->id);
		proto_put_u64(enc, in->ino);
		proto_put_u64(enc, s);
		op->req.tag = len;
		nodes[node / 8] |= (uint8_t)(1u << (node % 8));
		net_issue(net, &wb->w, &op->req, buf + (s - off), len);
	}
	pthread_mutex_lock(&h->ino_lock);
	for (size_t i = 0; i < nb; i++)
		in->wrote_nodes[i] |= nodes[i];
	pthread_mutex_unlock(&h->ino_lock);
	pthread_mutex_lock(&f->lock);
	f->wrote = true;
	f->mtime_ns = file_now_ns();
	pthread_mutex_unlock(&f->lock);
	if (err == EBB_OK)
		inode_grow(h, in, off + count); /* before an O_APPEND next */
out:
	pthread_mutex_unlock(&wb->lock);
	free(nodes);
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

uint64_t file_ra_issued(ebb_file_t *f)
{
	uint64_t n;

	pthread_mutex_lock(&f->ra.lock);
	n = f->ra.issued;
	pthread_mutex_unlock(&f->ra.lock);
	return n;
}
