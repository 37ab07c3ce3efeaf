/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb files: open, striped parallel pread/pwrite, fsync, truncate, close.
 *
 * DESIGN: a read or write is cut at stripe boundaries; stripe k of the
 * inode goes to node placement_stripe_node(ino, k, n).  All the pieces are
 * issued before any reply is awaited, with at most cfg.window bytes in
 * flight per node (16 MiB by default): every node works at once and a
 * 1 GiB write keeps each node's socket full without holding 1 GiB of
 * requests.  READ payloads land directly in the caller's buffer.  A piece
 * that fails fails the whole call (the server's status: EIO, ENOSPC...),
 * never a silent short count; the rest of what was in flight is still
 * awaited so no reply can write into the buffer after we return.
 *
 * Sizes: close-to-open.  A handle remembers the size the file had at open;
 * the handles of one ebb_t that have the same inode open share a struct
 * ebb_inode (inode.c: the table and the size's publication) whose size is
 * the largest end written through any of them (or exactly what ftruncate
 * set), so reads through one see writes through another at once.  The
 * size reaches the dentry's node (SIZE_UPDATE, max merge) at fsync and
 * close, which is when other clients can see it.
 *
 * Removal: an unlink or rename through this ebb_t that removes the name of
 * an inode open through it only marks it orphan; its data goes at the last
 * close.  ebb_open_ino (FUSE's OPEN of an inode the kernel resolved
 * earlier) puts the inode in the table BEFORE it looks its name up (a
 * "pin": known = false until found), so no removal through this ebb_t can
 * slip between that LOOKUP and the open: either the LOOKUP finds the
 * inode, or the removal came after the pin (orphan: the open is served
 * from the attributes the removal returned) or before it (ESTALE).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ebb_int.h"
#include "placement.h"

int64_t file_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- data on all nodes ---------------------------------------------------- */

/* One opcode with (inst, ino[, size]) to a set of nodes in parallel. */
static ebb_err _data_all(ebb_t *h, uint32_t op, uint64_t ino, uint64_t size,
			 const uint8_t *only)
{
	struct ebb_req *reqs = calloc(h->net.n, sizeof(*reqs));
	unsigned k = 0;
	ebb_err err;

	if (!reqs)
		return EBB_ENOMEM;
	for (unsigned i = 0; i < h->net.n; i++) {
		struct proto_enc *e;

		if (only && !(only[i / 8] & (1u << (i % 8))))
			continue;
		e = req_begin(&h->net, &reqs[k++], i, op,
			      op == PROTO_OP_TRUNCATE ? 3 : 2);
		proto_put_cstr(e, h->id);
		proto_put_u64(e, ino);
		if (op == PROTO_OP_TRUNCATE)
			proto_put_u64(e, size);
	}
	err = net_run(&h->net, reqs, k);
	for (unsigned i = 0; i < k; i++)
		req_release(&reqs[i]);
	free(reqs);
	return err;
}

ebb_err data_remove(ebb_t *h, uint64_t ino, uint64_t size)
{
	uint64_t stripe, known;
	uint8_t *only = NULL;
	ebb_err err;

	if (inode_known_size(h, ino, &known) && known > size)
		size = known;
	if ((err = attach_stripe(h, &stripe)) != EBB_OK)
		return err;
	if (size <= stripe) {
		/* One stripe: only its node can hold data. */
		unsigned node = placement_stripe_node(ino, 0, h->net.n);
		if (!(only = calloc((h->net.n + 7) / 8, 1)))
			return EBB_ENOMEM;
		only[node / 8] |= (uint8_t)(1u << (node % 8));
	}
	err = _data_all(h, PROTO_OP_REMOVE, ino, 0, only);
	free(only);
	return err;
}

ebb_err data_truncate(ebb_t *h, uint64_t ino, uint64_t size)
{
	return _data_all(h, PROTO_OP_TRUNCATE, ino, size, NULL);
}

ebb_err file_truncate(ebb_t *h, uint64_t parent, const char *name,
			size_t len, uint64_t ino, uint64_t size,
			struct ebb_attr *out)
{
	struct ebb_req r;
	struct proto_enc *e;
	struct proto_attr a;
	ebb_err err;

	e = req_begin(&h->net, &r, placement_dentry_node(parent, name, len,
							 h->net.n),
		      PROTO_OP_SETATTR, 10);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, parent);
	proto_put_str(e, name, len);
	proto_put_u64(e, PROTO_SET_SIZE | PROTO_SET_MTIME_NOW);
	proto_put_u64(e, 0);
	proto_put_u64(e, 0);
	proto_put_u64(e, 0);
	proto_put_u64(e, size);
	proto_put_i64(e, 0);
	proto_put_i64(e, 0);
	err = net_run(&h->net, &r, 1);
	if (err == EBB_OK && !proto_get_attr(&r.dec, &a))
		err = EBB_EPROTO;
	else if (err == EBB_OK && ino && a.ino != ino)
		err = EBB_ESTALE; /* the name now holds another inode */
	if (err == EBB_OK) {
		ino = a.ino;
		if (out)
			attr_own(out, &a);
	}
	if (err == EBB_OK && (a.mode & PROTO_MODE_LINKED))
		/* A pointer: the size is the record's, at its home. */
		err = link_setattr(h, ino, PROTO_SET_SIZE | PROTO_SET_MTIME_NOW,
				   0, 0, 0, size, 0, 0, out);
	else if ((err == EBB_ENOENT || err == EBB_ESTALE) && ino &&
		 link_setattr(h, ino, PROTO_SET_SIZE | PROTO_SET_MTIME_NOW, 0,
			      0, 0, size, 0, 0, out) == EBB_OK)
		/* The name went, another link holds the inode (an open
		 * file's ftruncate). */
		err = EBB_OK;
	req_release(&r);
	if (err != EBB_OK)
		return err;
	/* Writes still in flight from here must not land after the
	 * TRUNCATE (bbd runs them in parallel). */
	inode_drain(h, ino);
	inode_set_size(h, ino, size);
	return data_truncate(h, ino, size);
}

/* ---- local reads (local.c) ------------------------------------------------ */

void file_local_stats(ebb_t *h, uint64_t *bytes, uint64_t *opens,
		      uint64_t *fallbacks)
{
	*bytes = __atomic_load_n(&h->net.local_bytes, __ATOMIC_RELAXED);
	*opens = __atomic_load_n(&h->net.local_opens, __ATOMIC_RELAXED);
	*fallbacks = __atomic_load_n(&h->net.local_fallbacks, __ATOMIC_RELAXED);
}

/* f's fd of ino's object on member node: >= 0, FD_ASK (no object yet:
 * a hole, asked again next time) or FD_TCP (read over TCP). */
static int _local_fd(struct ebb_file *f, unsigned node)
{
	ebb_t *h = f->h;
	int fd, cur;
	ebb_err st;

	pthread_mutex_lock(&f->lock);
	if (!f->lfd && (f->lfd = malloc(h->net.n * sizeof(*f->lfd))))
		for (unsigned i = 0; i < h->net.n; i++)
			f->lfd[i] = FD_ASK;
	cur = f->lfd ? f->lfd[node] : FD_TCP;
	pthread_mutex_unlock(&f->lock);
	if (cur != FD_ASK)
		return cur;
	st = local_open(&h->net, node, h->id, f->in->ino, &fd);
	if (st == EBB_ENOENT)
		return FD_ASK;
	if (st != EBB_OK)
		fd = FD_TCP;
	pthread_mutex_lock(&f->lock);
	if (f->lfd[node] == FD_ASK) {
		f->lfd[node] = fd;
	} else {
		/* Another thread of this handle asked at the same time. */
		if (fd >= 0)
			close(fd);
		fd = f->lfd[node];
	}
	pthread_mutex_unlock(&f->lock);
	return fd;
}

/* Read [off, off+len) of an object from fd (FD_ASK: none, all zeros);
 * past its end reads as zeros, as READ does. */
static ebb_err _local_pread(ebb_t *h, int fd, uint8_t *p, size_t len,
			    uint64_t off)
{
	size_t done = 0;

	while (fd >= 0 && done < len) {
		ssize_t k = pread(fd, p + done, len - done,
				  (off_t)(off + done));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return ebb_err_from_errno(errno);
		if (k == 0)
			break;
		done += (size_t)k;
	}
	__atomic_fetch_add(&h->net.local_bytes, done, __ATOMIC_RELAXED);
	memset(p + done, 0, len - done);
	return EBB_OK;
}

bool file_local_ok(struct ebb_file *f, unsigned node)
{
	return f->h->net.cfg.short_circuit && _local_fd(f, node) != FD_TCP;
}

ebb_err file_local_pread(struct ebb_file *f, unsigned node, uint8_t *p,
			 size_t len, uint64_t off)
{
	int fd = f->h->net.cfg.short_circuit ? _local_fd(f, node) : FD_TCP;

	return fd == FD_TCP ? EBB_E_BADOP : _local_pread(f->h, fd, p, len, off);
}

/* Capacity reserved at a time for a handle's local writes to one member:
 * one LOCAL_RESERVE round trip (~20 us) per 8 MiB written.  What is left
 * of it at close is given back; meanwhile bbd counts it as used, so an
 * instance within a few reservations of full says ENOSPC a little early
 * (never late). */
#define LW_CHUNK (8ull << 20)

/* The writable fd of f's object on node, asked once per handle (and again
 * if the local connection was renewed: bbd settled the old one). */
static int _local_wfd(struct ebb_file *f, unsigned node)
{
	ebb_t *h = f->h;
	struct file_lw *w;

	if (!f->lw) {
		if (!(f->lw = malloc(h->net.n * sizeof(*f->lw))))
			return FD_TCP;
		for (unsigned i = 0; i < h->net.n; i++)
			f->lw[i] = (struct file_lw){.fd = FD_ASK};
	}
	w = &f->lw[node];
	if (w->fd == FD_ASK) {
		if (local_open_write(&h->net, node, h->id, f->in->ino, &w->fd,
				     &w->gen) != EBB_OK)
			w->fd = FD_TCP;
		w->avail = w->total = 0;
	}
	return w->fd;
}

ebb_err file_local_write(struct ebb_file *f, unsigned node,
			 const uint8_t *p, size_t len, uint64_t off)
{
	ebb_t *h = f->h;
	struct file_lw *w;
	size_t done = 0;
	ebb_err st;

	if (!h->net.cfg.short_circuit || !h->net.cfg.local_writes ||
	    _local_wfd(f, node) < 0)
		return EBB_E_BADOP;
	w = &f->lw[node];
	if (w->avail < len) {
		uint64_t want = len > LW_CHUNK ? len : LW_CHUNK;

		st = local_reserve(&h->net, node, h->id, f->in->ino, want,
				   w->gen);
		if (st == EBB_ENOSPC && want > len) /* the exact figure */
			st = local_reserve(&h->net, node, h->id, f->in->ino,
					   want = len, w->gen);
		if (st == EBB_ESTALE) {
			/* bbd settled the old connection: ask anew, once */
			close(w->fd);
			w->fd = FD_ASK;
			if (_local_wfd(f, node) < 0)
				return EBB_E_BADOP;
			st = local_reserve(&h->net, node, h->id, f->in->ino,
					   want, w->gen);
		}
		if (st == EBB_ENOSPC)
			return st;
		if (st != EBB_OK)
			return EBB_E_BADOP; /* TCP tells the same story */
		w->avail += want;
		w->total += want;
	}
	while (done < len) {
		ssize_t k = pwrite(w->fd, p + done, len - done,
				   (off_t)(off + done));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return ebb_err_from_errno(errno);
		done += (size_t)k;
	}
	w->avail -= len;
	__atomic_fetch_add(&h->net.local_wbytes, len, __ATOMIC_RELAXED);
	return EBB_OK;
}

void file_local_close(struct ebb_file *f)
{
	ebb_t *h = f->h;

	for (unsigned i = 0; f->lw && i < h->net.n; i++) {
		if (f->lw[i].fd < 0)
			continue;
		local_settle(&h->net, i, h->id, f->in->ino, f->lw[i].total,
			     f->lw[i].gen);
		close(f->lw[i].fd);
	}
	free(f->lw);
	f->lw = NULL;
	if (!f->lfd)
		return;
	for (unsigned i = 0; i < h->net.n; i++)
		if (f->lfd[i] >= 0)
			close(f->lfd[i]);
	free(f->lfd);
	f->lfd = NULL;
}

/* Every member is local: the whole read is preads, without the request
 * machinery (no allocation, no waiter).  An error if a piece cannot be
 * read so (its member turned out not to serve): the caller reads it all
 * again the general way. */
static ebb_err _local_read(struct ebb_file *lf, uint64_t ino, uint8_t *buf,
			   size_t count, uint64_t off, uint64_t stripe)
{
	ebb_t *h = lf->h;

	for (uint64_t s = off, end = off + count; s < end;) {
		uint64_t k = s / stripe, e = (k + 1) * stripe;
		int fd;

		if (e > end)
			e = end;
		fd = _local_fd(lf, placement_stripe_node(ino, k, h->net.n));
		if (fd == FD_TCP ||
		    _local_pread(h, fd, buf + (s - off), (size_t)(e - s), s) !=
			    EBB_OK)
			return EBB_EIO;
		s = e;
	}
	return EBB_OK;
}

ebb_err file_stripe_io(ebb_t *h, uint64_t ino, bool write, uint8_t *buf,
		       size_t count, uint64_t off, uint8_t *nodes,
		       struct ebb_file *lf)
{
	struct ebb_net *net = &h->net;
	struct ebb_waiter w;
	struct ebb_req *reqs = NULL;
	uint64_t *inflight = NULL;
	uint64_t stripe, k0, k1, nreq;
	ebb_err err = EBB_OK;
	unsigned issued = 0;
	bool to = false;

	if (count == 0)
		return EBB_OK;
	if ((err = attach_stripe(h, &stripe)) != EBB_OK)
		return err;
	if (!write && lf && net->cfg.short_circuit && local_all(net) &&
	    _local_read(lf, ino, buf, count, off, stripe) == EBB_OK)
		return EBB_OK;
	k0 = off / stripe;
	k1 = (off + count - 1) / stripe;
	nreq = k1 - k0 + 1;
	reqs = calloc(nreq, sizeof(*reqs));
	inflight = calloc(net->n, sizeof(*inflight));
	if (!reqs || !inflight) {
		free(reqs);
		free(inflight);
		return EBB_ENOMEM;
	}
	waiter_init(&w);
	if (nreq > 1) {
		/* Bring up every node this call touches in parallel. */
		unsigned nn = nreq < net->n ? (unsigned)nreq : net->n;
		unsigned *nl = malloc(nn * sizeof(*nl));
		if (nl) {
			for (unsigned i = 0; i < nn; i++)
				nl[i] = placement_stripe_node(ino, k0 + i,
							      net->n);
			net_connect(net, nl, nn, NULL, w.start_ms);
			free(nl);
		}
	}
	if (write || !net->cfg.short_circuit)
		lf = NULL;
	for (uint64_t k = k0; k <= k1 && err == EBB_OK; k++) {
		struct ebb_req *r = &reqs[issued];
		uint64_t s = k == k0 ? off : k * stripe;
		uint64_t e = k == k1 ? off + count : (k + 1) * stripe;
		size_t len = (size_t)(e - s);
		uint8_t *p = buf + (s - off);
		unsigned node = placement_stripe_node(ino, k, net->n);
		struct proto_enc *enc;

		if (lf) {
			/* The member's bbd is on this node: its object file
			 * holds the piece at the same offset as READ reads
			 * it (docs/protocol.md "Local reads").  While the
			 * TCP pieces issued so far are in flight. */
			int fd = _local_fd(lf, node);

			if (fd != FD_TCP && _local_pread(h, fd, p, len, s) ==
						    EBB_OK)
				continue;
		}

		/* Respect the window: wait for replies from anywhere. */
		while (inflight[node] && inflight[node] + len > net->cfg.window) {
			struct ebb_req *d = waiter_next(&w, net->cfg.timeout_ms,
							&to);
			if (!d) {
				/* Timed out: withdraw everything now rather
				 * than wait a second timeout below. */
				waiter_cancel(&w, reqs, issued);
				err = EBB_ETIMEDOUT;
				break;
			}
			inflight[d->node] -= d->tag;
			if (d->status != EBB_OK && err == EBB_OK)
				err = d->status;
		}
		if (err != EBB_OK)
			break;
		enc = req_begin(net, r, node,
				write ? PROTO_OP_WRITE : PROTO_OP_READ,
				write ? 3 : 4);
		proto_put_cstr(enc, h->id);
		proto_put_u64(enc, ino);
		proto_put_u64(enc, s);
		if (!write) {
			proto_put_u64(enc, len);
			r->rbuf = p;
			r->rcap = len;
		}
		r->tag = len;
		inflight[node] += len;
		if (nodes)
			nodes[node / 8] |= (uint8_t)(1u << (node % 8));
		net_issue(net, &w, r, write ? p : NULL, write ? len : 0);
		issued++;
	}
	/* Collect everything still in flight. */
	for (;;) {
		struct ebb_req *d = waiter_next(&w, net->cfg.timeout_ms, &to);
		if (!d) {
			if (to) {
				waiter_cancel(&w, reqs, issued);
				if (err == EBB_OK)
					err = EBB_ETIMEDOUT;
			}
			break;
		}
		if (d->status != EBB_OK && err == EBB_OK)
			err = d->status;
	}
	/* Check each piece's result. */
	for (unsigned i = 0; i < issued && err == EBB_OK; i++) {
		struct ebb_req *r = &reqs[i];
		uint64_t written = 0;

		if (r->status != EBB_OK)
			err = r->status;
		else if (write && (!proto_get_u64(&r->dec, &written) ||
				   written != r->tag))
			err = EBB_EIO;
		else if (!write && r->plen != r->tag)
			err = EBB_EPROTO;
	}
	for (unsigned i = 0; i < issued; i++)
		req_release(&reqs[i]);
	waiter_fini(&w);
	free(reqs);
	free(inflight);
	return err;
}

/* ---- open/close ----------------------------------------------------------- */

static ebb_err _create(ebb_t *h, struct ebb_walk *w, mode_t mode, bool excl,
		       bool *created)
{
	struct ebb_req r;
	struct proto_enc *e;
	struct proto_attr a;
	bool c = false;
	ebb_err err;

	if (!w->nocheck && path_access(h, &w->pattr, W_OK | X_OK) != EBB_OK) {
		/* May not create here, but an existing file may be opened. */
		err = path_lookup(h, w->parent, w->name, w->namelen, &w->attr);
		if (err == EBB_OK && excl)
			err = EBB_EEXIST;
		else if (err == EBB_ENOENT)
			err = EBB_EACCES;
		w->exists = err == EBB_OK;
		*created = false;
		return err;
	}
	e = req_begin(&h->net, &r,
		      placement_dentry_node(w->parent, w->name, w->namelen,
					    h->net.n),
		      PROTO_OP_CREATE, 5 + meta_owner_nargs(w));
	proto_put_cstr(e, h->id);
	proto_put_u64(e, w->parent);
	proto_put_str(e, w->name, w->namelen);
	proto_put_u64(e, S_IFREG | (mode & 07777));
	proto_put_u64(e, excl ? PROTO_CREATE_EXCL : 0);
	meta_put_owner(e, w);
	err = net_run(&h->net, &r, 1);
	if (err == EBB_OK &&
	    (!proto_get_attr(&r.dec, &a) || !proto_get_bool(&r.dec, &c)))
		err = EBB_EPROTO;
	if (err == EBB_OK) {
		attr_own(&w->attr, &a);
		w->exists = true;
		*created = c;
	}
	req_release(&r);
	if (err == EBB_OK)
		err = link_resolve(h, &w->attr); /* an existing linked file */
	return err;
}

/* What every open does once the dentry is known (w->exists): type and
 * permission checks, O_TRUNC, the handle. */
static ebb_err _open_tail(ebb_t *h, struct ebb_walk *w, int flags,
			  bool created, struct ebb_inode *pinned,
			  ebb_file_t **fp)
{
	struct ebb_file *f;
	int acc = flags & O_ACCMODE;
	ebb_err err;

	if (S_ISDIR(w->attr.a.mode))
		return EBB_EISDIR;
	if (S_ISLNK(w->attr.a.mode))
		return EBB_ELOOP; /* O_NOFOLLOW (or an at-call) on a symlink */
	if (!S_ISREG(w->attr.a.mode))
		return EBB_EOPNOTSUPP;
	if (!created && !w->nocheck) {
		int want = (acc == O_RDONLY ? R_OK : acc == O_WRONLY ? W_OK :
			    R_OK | W_OK);
		if ((err = path_access(h, &w->attr.a, want)) != EBB_OK)
			return err;
	}
	if ((flags & O_TRUNC) && acc != O_RDONLY && !created) {
		err = file_truncate(h, w->parent, w->name, w->namelen,
				    w->attr.a.ino, 0, NULL);
		if (err != EBB_OK)
			return err;
		w->attr.a.size = 0;
	}
	if (!(f = calloc(1, sizeof(*f))))
		return EBB_ENOMEM;
	f->h = h;
	f->flags = flags;
	f->attr0 = w->attr;
	if (w->attr.a.target)
		f->attr0.a.target = f->attr0.target;
	pthread_mutex_init(&f->lock, NULL);
	ra_init(&f->ra);
	if (pinned) {
		/* Its reference becomes the handle's. */
		pthread_mutex_lock(&h->ino_lock);
		inode_fill_locked(pinned, w, w->attr.a.size);
		pthread_mutex_unlock(&h->ino_lock);
		f->in = pinned;
	} else if (!(f->in = inode_get(h, w, w->attr.a.size))) {
		ra_fini(f->h, &f->ra);
		pthread_mutex_destroy(&f->lock);
		free(f);
		return EBB_ENOMEM;
	}
	if (flags & O_TRUNC && acc != O_RDONLY)
		inode_set_size(h, w->attr.a.ino, 0);
	*fp = f;
	return EBB_OK;
}

static bool _bad_flags(int flags)
{
	return (flags & O_ACCMODE) == O_ACCMODE || (flags & O_DIRECTORY);
}

ebb_err file_open_dentry(ebb_t *h, struct ebb_walk *w, int flags,
			 mode_t mode, ebb_file_t **fp)
{
	bool created = false;
	ebb_err err;

	if (_bad_flags(flags))
		return EBB_EINVAL;
	if (w->is_root)
		return EBB_EISDIR;
	if (flags & O_CREAT)
		err = _create(h, w, mode, flags & O_EXCL, &created);
	else if (!w->exists &&
		 (err = path_lookup(h, w->parent, w->name, w->namelen,
				    &w->attr)) == EBB_OK)
		w->exists = true;
	else
		err = EBB_OK;
	if (err != EBB_OK)
		return err;
	return _open_tail(h, w, flags, created, NULL, fp);
}

/* ebb_open_ino's first step: from here on ino counts as open through h,
 * so a rename or unlink through h that removes its name defers the data
 * removal to its last close (inode_orphan).  key: the dentry the caller
 * knows it by (NULL: none; then only an inode already open here can be
 * found, ESTALE otherwise). */
static ebb_err _inode_pin(ebb_t *h, uint64_t ino, const struct ebb_walk *key,
			  struct ebb_inode **inp)
{
	struct ebb_inode *in;
	ebb_err err = EBB_OK;

	pthread_mutex_lock(&h->ino_lock);
	/* An UNLINK with DATA in flight did not list ino in its keep list:
	 * pin after its node has answered (inode_unlink_begin). */
	if (h->dunlinks) {
		h->dpins++;
		while (h->dunlinks)
			pthread_cond_wait(&h->dunlink_cond, &h->ino_lock);
		h->dpins--;
	}
	if ((in = inode_find_locked(h, ino))) {
		in->refs++;
	} else if (!key) {
		err = EBB_ESTALE;
	} else if ((in = inode_new_locked(h, ino))) {
		in->parent = key->parent;
		memcpy(in->name, key->name, key->namelen + 1);
	} else {
		err = EBB_ENOMEM;
	}
	pthread_mutex_unlock(&h->ino_lock);
	*inp = in;
	return err;
}

/* Open pinned inode in, whose name went (through h) after the pin: it is
 * an orphan, its data stays until its last close. */
static ebb_err _open_orphan(ebb_t *h, struct ebb_inode *in, int flags,
			    ebb_file_t **fp, struct ebb_stat *st)
{
	struct ebb_file *f;
	struct proto_attr a;

	/* Truncating at open: the open is ordered after the replacement
	 * instead (ESTALE: the kernel looks the name up again and opens, and
	 * truncates, what it holds now). */
	if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY)
		return EBB_ESTALE;
	if (!(f = calloc(1, sizeof(*f))))
		return EBB_ENOMEM;
	pthread_mutex_lock(&h->ino_lock);
	a = in->attr0;
	a.size = in->size;
	pthread_mutex_unlock(&h->ino_lock);
	a.target = NULL;
	a.target_len = 0;
	f->h = h;
	f->flags = flags;
	f->attr0.a = a;
	pthread_mutex_init(&f->lock, NULL);
	ra_init(&f->ra);
	f->in = in; /* the pin's reference becomes the handle's */
	if (st) {
		attr_to_stat(h, &a, st);
		st->nlink = 0;
	}
	*fp = f;
	return EBB_OK;
}

ebb_file_t *ebb_open_ino(ebb_t *h, uint64_t ino, uint64_t dir,
			 const char *name, int flags, struct ebb_stat *st)
{
	struct ebb_inode *in = NULL;
	struct ebb_walk w;
	ebb_file_t *f = NULL;
	bool have = name != NULL, orphan, moved;
	ebb_err err;

	flags &= ~(O_CREAT | O_EXCL);
	memset(&w, 0, sizeof(w));
	if (!h || ino == 0 || _bad_flags(flags))
		err = EBB_EINVAL;
	else if (name && (err = at_dentry(dir, name, &w)) != EBB_OK)
		;
	else if (w.is_root)
		err = EBB_EISDIR;
	else
		err = _inode_pin(h, ino, name ? &w : NULL, &in);
	/* Pinned before the LOOKUP: if the LOOKUP finds ino, a later
	 * replacement through h sees it open; if it finds another inode (or
	 * none), either the replacement saw the pin (orphan: serve ino, its
	 * data stays) or ino's data may be gone already (ESTALE). */
	for (unsigned tries = 0; err == EBB_OK; tries++) {
		if (have) {
			err = path_lookup(h, w.parent, w.name, w.namelen,
					  &w.attr);
			if (err == EBB_OK && w.attr.a.ino == ino) {
				w.exists = true;
				err = _open_tail(h, &w, flags, false, in, &f);
				if (err == EBB_OK && st)
					attr_to_stat_known(h, &w.attr.a, st);
				break;
			}
			if (err != EBB_OK && err != EBB_ENOENT)
				break;
			err = EBB_OK;
		}
		pthread_mutex_lock(&h->ino_lock);
		orphan = in->orphan;
		/* Renamed through h meanwhile (or the caller knew no name):
		 * look again where h last put it. */
		moved = have ? in->parent != w.parent ||
			       strcmp(in->name, w.name) != 0
			     : in->known;
		if (moved) {
			w.parent = in->parent;
			w.namelen = strlen(in->name);
			memcpy(w.name, in->name, w.namelen + 1);
		}
		pthread_mutex_unlock(&h->ino_lock);
		if (orphan) {
			err = _open_orphan(h, in, flags, &f, st);
			break;
		}
		if (!moved || tries >= 2) {
			err = EBB_ESTALE;
			break;
		}
		have = true;
	}
	if (err != EBB_OK) {
		if (in)
			inode_put(h, in);
		fail_errno(err);
		return NULL;
	}
	return f;
}

ebb_file_t *ebb_open(ebb_t *h, const char *path, int flags, mode_t mode)
{
	struct ebb_walk w = {0};
	struct ebb_file *f = NULL;
	bool created = false;
	ebb_err err = EBB_OK;

	if (!h || !path || _bad_flags(flags)) {
		err = EBB_EINVAL;
		goto out;
	}
	if (flags & O_CREAT) {
		/* Try CREATE straight in the parent: one RPC for a new file. */
		err = walk(h, path, WALK_PARENT, &w);
		if (err == EBB_OK && (w.is_root || w.trailing_slash))
			err = EBB_EISDIR; /* as Linux: "f/" cannot be a file */
		if (err == EBB_OK)
			err = _create(h, &w, mode, flags & O_EXCL, &created);
		if (err == EBB_OK && S_ISLNK(w.attr.a.mode)) {
			/* An existing symlink: follow it (creating the
			 * target if it dangles), unless told not to. */
			if (flags & O_NOFOLLOW) {
				err = EBB_ELOOP;
				goto out;
			}
			walk_free(&w);
			err = walk(h, path, WALK_FOLLOW | WALK_MISSING_OK, &w);
			if (err == EBB_OK && !w.exists)
				err = _create(h, &w, mode, false, &created);
		}
	} else {
		err = walk(h, path, (flags & O_NOFOLLOW) ? 0 : WALK_FOLLOW, &w);
	}
	if (err == EBB_OK)
		err = _open_tail(h, &w, flags, created, NULL, &f);
out:
	walk_free(&w);
	if (err != EBB_OK) {
		fail_errno(err);
		return NULL;
	}
	return f;
}

/* ebb_flush, and ebb_publish (keep = true: a pending write error stays
 * for the next ebb_flush or ebb_close). */
static int _flush(ebb_file_t *f, bool keep)
{
	bool wrote, unpublished;
	ebb_err err = EBB_OK;

	if (!f)
		return fail_errno(EBB_EBADF);
	/* Write-behind: every write of the inode acknowledged (or failed,
	 * into its handle's pending error) before the size goes out. */
	wb_drain(f->h, f->in);
	pthread_mutex_lock(&f->lock);
	wrote = f->wrote;
	pthread_mutex_unlock(&f->lock);
	unpublished = inode_unpublished(f->h, f->in);
	if (wrote && unpublished)
		err = inode_publish(f->h, f->in, false);
	if (err == EBB_OK && !keep) {
		pthread_mutex_lock(&f->lock);
		err = f->pending;
		f->pending = EBB_OK; /* reported once, like fsync(2) */
		pthread_mutex_unlock(&f->lock);
	}
	return err == EBB_OK ? 0 : fail_errno(err);
}

int ebb_flush(ebb_file_t *f)
{
	return _flush(f, false);
}

int ebb_publish(ebb_file_t *f)
{
	return _flush(f, true);
}

int ebb_close(ebb_file_t *f)
{
	ebb_err err = EBB_OK, e2 = EBB_OK;

	if (!f)
		return fail_errno(EBB_EBADF);
	ra_fini(f->h, &f->ra);
	file_local_close(f);
	/* f's writes in flight report into f->pending: all of them first. */
	wb_drain(f->h, f->in);
	/* Nothing unpublished (an earlier flush, fsync or another handle
	 * did it): no RPC, and no stale mtime over a later utimens(). */
	if (f->wrote && inode_unpublished(f->h, f->in))
		e2 = inode_publish(f->h, f->in, false);
	err = f->pending != EBB_OK ? f->pending : e2;
	inode_put(f->h, f->in);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return err == EBB_OK ? 0 : fail_errno(err);
}

/* ---- I/O ------------------------------------------------------------------ */

ssize_t ebb_pread(ebb_file_t *f, void *buf, size_t count, off_t offset)
{
	uint64_t size, off = (uint64_t)offset;
	ebb_err err;

	if (!f || (!buf && count))
		return fail_errno(EBB_EINVAL);
	if ((f->flags & O_ACCMODE) == O_WRONLY)
		return fail_errno(EBB_EBADF);
	if (offset < 0)
		return fail_errno(EBB_EINVAL);
	if (count > SSIZE_MAX)
		count = SSIZE_MAX;
	size = inode_size(f->h, f->in);
	if (off >= size || count == 0)
		return 0;
	if (count > size - off)
		count = (size_t)(size - off);
	err = ra_read(f, buf, count, off);
	return err == EBB_OK ? (ssize_t)count : fail_errno(err);
}

ssize_t ebb_pread_fd(ebb_file_t *f, size_t count, off_t offset, int *fd,
		     off_t *pos)
{
	ebb_t *h = f ? f->h : NULL;
	uint64_t size, off = (uint64_t)offset, stripe, k;
	struct stat st;
	int lfd;

	if (!f || !fd || !pos || offset < 0)
		return fail_errno(EBB_EINVAL);
	if ((f->flags & O_ACCMODE) == O_WRONLY)
		return fail_errno(EBB_EBADF);
	size = inode_size(h, f->in);
	if (off >= size || count == 0)
		return 0;
	if (count > size - off)
		count = (size_t)(size - off);
	if (!h->net.cfg.short_circuit || attach_stripe(h, &stripe) != EBB_OK)
		return fail_errno(EBB_EOPNOTSUPP);
	k = off / stripe;
	if (count > (k + 1) * stripe - off)
		count = (size_t)((k + 1) * stripe - off); /* this object's */
	lfd = _local_fd(f, placement_stripe_node(f->in->ino, k, h->net.n));
	if (lfd < 0)
		return fail_errno(EBB_EOPNOTSUPP); /* over TCP, or a hole */
	/* What this handle wrote must be in the object first, as for a
	 * read; and the object must hold every byte (past its end READ gives
	 * zeros, which a reader of the fd would not get). */
	wb_wait_range(h, f->in, off, off + count);
	if (fstat(lfd, &st) != 0 || (uint64_t)st.st_size < off + count)
		return fail_errno(EBB_EOPNOTSUPP);
	__atomic_fetch_add(&h->net.local_bytes, count, __ATOMIC_RELAXED);
	*fd = lfd;
	*pos = (off_t)off; /* objects hold a stripe at its file offset */
	return (ssize_t)count;
}

ssize_t ebb_pwrite(ebb_file_t *f, const void *buf, size_t count,
		   off_t offset)
{
	ebb_t *h;
	uint64_t off = (uint64_t)offset;
	uint8_t *nodes;
	ebb_err err;

	if (!f || (!buf && count))
		return fail_errno(EBB_EINVAL);
	h = f->h;
	if ((f->flags & O_ACCMODE) == O_RDONLY)
		return fail_errno(EBB_EBADF);
	if (offset < 0)
		return fail_errno(EBB_EINVAL);
	if (count > SSIZE_MAX)
		count = SSIZE_MAX;
	if (count == 0)
		return 0;
	if (h->net.cfg.write_behind && !(f->flags & O_DSYNC)) {
		err = wb_write(f, buf, count, off, f->flags & O_APPEND, &off);
		return err == EBB_OK ? (ssize_t)count : fail_errno(err);
	}
	/* Synchronous (O_DSYNC, O_SYNC or $EBB_WRITE_BEHIND=0): the reply
	 * of every piece before we return, as before write-behind. */
	if (f->flags & O_APPEND)
		off = inode_size(h, f->in);
	if (off + count < off || off + count > (1ull << 44))
		return fail_errno(EBB_EFBIG);
	if (!(nodes = calloc((h->net.n + 7) / 8, 1)))
		return fail_errno(EBB_ENOMEM);
	/* Another handle's writes in flight there apply first. */
	wb_wait_range(h, f->in, off, off + count);
	err = file_stripe_io(h, f->in->ino, true, (uint8_t *)buf, count, off,
			     nodes, NULL);
	pthread_mutex_lock(&h->ino_lock);
	for (unsigned i = 0; i < (h->net.n + 7) / 8; i++)
		f->in->wrote_nodes[i] |= nodes[i];
	pthread_mutex_unlock(&h->ino_lock);
	pthread_mutex_lock(&f->lock);
	f->wrote = true;
	f->mtime_ns = file_now_ns();
	if (err != EBB_OK && f->pending == EBB_OK)
		f->pending = err;
	pthread_mutex_unlock(&f->lock);
	free(nodes);
	if (err != EBB_OK)
		return fail_errno(err);
	inode_grow(h, f->in, off + count);
	return (ssize_t)count;
}

int ebb_fsync(ebb_file_t *f)
{
	uint8_t *nodes = NULL;
	size_t nb;
	ebb_err err = EBB_OK;

	if (!f)
		return fail_errno(EBB_EBADF);
	wb_drain(f->h, f->in); /* before its set of nodes is taken */
	nb = (f->h->net.n + 7) / 8;
	if (!(nodes = malloc(nb)))
		return fail_errno(EBB_ENOMEM);
	/* Every node any handle of this inode wrote to: fsync(2) flushes the
	 * file, not one descriptor's writes (FUSE writeback may use any). */
	pthread_mutex_lock(&f->h->ino_lock);
	memcpy(nodes, f->in->wrote_nodes, nb);
	pthread_mutex_unlock(&f->h->ino_lock);
	for (size_t i = 0; i < nb; i++)
		if (nodes[i]) {
			err = _data_all(f->h, PROTO_OP_FSYNC, f->in->ino, 0,
					nodes);
			break;
		}
	if (err == EBB_OK && (f->flags & O_ACCMODE) != O_RDONLY)
		err = inode_publish(f->h, f->in, true);
	free(nodes);
	if (err == EBB_OK) {
		pthread_mutex_lock(&f->lock);
		err = f->pending;
		f->pending = EBB_OK; /* reported once, like fsync(2) */
		pthread_mutex_unlock(&f->lock);
	}
	return err == EBB_OK ? 0 : fail_errno(err);
}

int ebb_ftruncate(ebb_file_t *f, off_t length)
{
	char name[PROTO_MAX_NAME + 1];
	uint64_t parent;
	ebb_err err;

	if (!f)
		return fail_errno(EBB_EBADF);
	if (length < 0 || (f->flags & O_ACCMODE) == O_RDONLY)
		return fail_errno(EBB_EINVAL);
	if ((uint64_t)length > (1ull << 44))
		return fail_errno(EBB_EFBIG);
	inode_key(f->h, f->in, &parent, name);
	err = file_truncate(f->h, parent, name, strlen(name), f->in->ino,
			    (uint64_t)length, NULL);
	return err == EBB_OK ? 0 : fail_errno(err);
}

/* Attributes of an open inode: its dentry's, or (unlinked or replaced
 * while open) what it had at first open with nlink 0; the size and mtime
 * of writes not yet published win. */
static ebb_err _inode_stat(ebb_t *h, struct ebb_inode *in, int64_t mtime,
			   struct ebb_stat *st)
{
	char name[PROTO_MAX_NAME + 1];
	struct ebb_attr at;
	uint64_t parent, size;
	ebb_err err;

	inode_key(h, in, &parent, name);
	err = path_lookup(h, parent, name, strlen(name), &at);
	if (err == EBB_OK && at.a.ino != in->ino)
		err = EBB_ESTALE;
	if ((err == EBB_ENOENT || err == EBB_ESTALE) &&
	    link_get(h, in->ino, &at) == EBB_OK)
		err = EBB_OK; /* its name went, another link holds it */
	if (err == EBB_ENOENT || err == EBB_ESTALE) {
		pthread_mutex_lock(&h->ino_lock);
		at.a = in->attr0;
		pthread_mutex_unlock(&h->ino_lock);
		at.a.nlink = 0;
		err = EBB_OK;
	}
	if (err != EBB_OK)
		return err;
	size = inode_size(h, in);
	if (size > at.a.size)
		at.a.size = size;
	if (mtime > at.a.mtime_ns)
		at.a.mtime_ns = mtime;
	attr_to_stat(h, &at.a, st);
	if (at.a.nlink == 0)
		st->nlink = 0;
	return EBB_OK;
}

int ebb_fstat(ebb_file_t *f, struct ebb_stat *st)
{
	int64_t mtime;
	ebb_err err;

	if (!f || !st)
		return fail_errno(EBB_EINVAL);
	pthread_mutex_lock(&f->lock);
	mtime = f->mtime_ns;
	pthread_mutex_unlock(&f->lock);
	err = _inode_stat(f->h, f->in, mtime, st);
	return err == EBB_OK ? 0 : fail_errno(err);
}

int ebb_fstat_ino(ebb_t *h, uint64_t ino, struct ebb_stat *st)
{
	struct ebb_inode *in;
	int64_t mtime = 0;
	ebb_err err;

	if (!h || !st)
		return fail_errno(EBB_EINVAL);
	pthread_mutex_lock(&h->ino_lock);
	if ((in = inode_find_locked(h, ino)) && !in->known)
		in = NULL; /* only pinned by an open in progress */
	if (in) {
		in->refs++;
		if (in->wgen != in->pubgen)
			mtime = in->mtime_ns;
	}
	pthread_mutex_unlock(&h->ino_lock);
	if (!in)
		return fail_errno(EBB_ENOENT);
	err = _inode_stat(h, in, mtime, st);
	inode_put(h, in);
	return err == EBB_OK ? 0 : fail_errno(err);
}
