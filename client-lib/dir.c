/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb directory listing: READDIR on every node, one after the other.
 *
 * DESIGN: a directory's entries are spread over all nodes (a dentry lives
 * where hash(parent, name) says), so a listing asks node 0, then node 1,
 * and so on, each in batches of READDIR_BATCH entries continued with the
 * last name returned as cookie.  A name lives on exactly one node and each
 * node lists its names in byte order strictly after the cookie, so an
 * entry present for the whole listing is returned exactly once, whatever is
 * created or removed meanwhile.  Only one batch is held at a time (the
 * reply's decoder is kept and entries are decoded as they are read), so a
 * directory of a million entries costs one batch of memory.
 *
 * Hard-linked entries (docs/internals/hardlinks.md): READDIR answers a
 * pointer for them (type bits only), the attributes are in the inode's
 * record on its home node.  As soon as a batch arrives its pointers' records
 * are fetched all together (_links_fetch: the INODE_GETs of up to
 * LINK_WINDOW entries sent before any reply is awaited, to all the home
 * nodes at once, each node's frames in one sendmsg), so linked entries
 * cost about one round trip per window, not one per entry; ebb_readdir
 * then hands them out in order.  A record
 * that is gone (ENOENT: the name is going away) leaves the entry with its
 * type only, as before, and so does a window that timed out (one timeout,
 * not one per entry); any other failure of the batched request (EBUSY,
 * say) is asked again alone when the entry is handed out.  Memory: one
 * struct dir_rec per linked entry of the batch held.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ebb_int.h"

#define READDIR_BATCH 1024
/* INODE_GETs in flight at once for one listing: well under bbd's
 * max_inflight_per_uid (4096), which every listing and I/O of an ebb-fuse
 * mount share. */
#define LINK_WINDOW 256

enum rec_state {
	REC_ASK,                   /* not fetched: link_get when handed out */
	REC_OK,                    /* a holds the record */
	REC_GONE,                  /* no record: the type only */
};

/* The record of the linked entry at index pos of the batch held. */
struct dir_rec {
	uint32_t pos;
	enum rec_state state;
	struct proto_attr a;       /* target NULL (ebb_dirent has none) */
};

struct ebb_dir {
	ebb_t *h;
	uint64_t ino;
	unsigned node;             /* node being listed */
	bool have_after;           /* cookie for the next batch of node */
	char after[PROTO_MAX_NAME + 1];
	uint32_t afterlen;
	bool have_reply;           /* r holds a batch */
	struct ebb_req r;
	const msgpack_object *items;
	uint32_t nitems, pos;
	bool eof;                  /* the batch in r was node's last */
	struct dir_rec *recs;      /* the batch's linked entries, in order */
	uint32_t nrecs, rcap, rpos;
};

ebb_err dir_open_ino(ebb_t *h, uint64_t ino, ebb_dir_t **dp)
{
	struct ebb_dir *d = calloc(1, sizeof(*d));

	if (!d)
		return EBB_ENOMEM;
	d->h = h;
	d->ino = ino;
	*dp = d;
	return EBB_OK;
}

ebb_dir_t *ebb_opendir(ebb_t *h, const char *path)
{
	struct ebb_walk w;
	struct ebb_dir *d = NULL;
	ebb_err err;

	if (!h) {
		fail_errno(EBB_EINVAL);
		return NULL;
	}
	if ((err = walk(h, path, WALK_FOLLOW, &w)) != EBB_OK)
		goto out;
	if (!S_ISDIR(w.attr.a.mode))
		err = EBB_ENOTDIR;
	else if ((err = path_access(h, &w.attr.a, R_OK)) == EBB_OK)
		err = dir_open_ino(h, w.attr.a.ino, &d);
	walk_free(&w);
out:
	if (err != EBB_OK) {
		fail_errno(err);
		return NULL;
	}
	return d;
}

/* Decode the batch's entry i; false if it is malformed. */
static bool _item(struct ebb_dir *d, uint32_t i, const char **name,
		  uint32_t *len, struct proto_attr *a)
{
	struct proto_dec sub;

	proto_dec_sub(&sub, &d->r.dec, &d->items[i]);
	proto_get_str(&sub, name, len, PROTO_MAX_NAME);
	proto_get_attr(&sub, a);
	return proto_dec_end(&sub) == EBB_OK && *len != 0;
}

static int _cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* The records of the linked entries of the batch just fetched, LINK_WINDOW
 * INODE_GETs at a time, all of a window in flight together.  Whatever
 * cannot be fetched here stays REC_ASK. */
static void _links_fetch(struct ebb_dir *d)
{
	ebb_t *h = d->h;
	struct ebb_req *reqs;
	uint64_t *keys;
	struct proto_attr a;
	const char *name;
	uint32_t len, n = 0;

	d->nrecs = d->rpos = 0;
	for (uint32_t i = 0; i < d->nitems; i++) {
		if (!_item(d, i, &name, &len, &a))
			break; /* ebb_readdir fails there */
		n += (a.mode & PROTO_MODE_LINKED) != 0;
	}
	if (n == 0)
		return;
	if (n > d->rcap) {
		struct dir_rec *nr = realloc(d->recs, n * sizeof(*nr));
		if (!nr)
			return; /* each asked alone, as before */
		d->recs = nr;
		d->rcap = n;
	}
	for (uint32_t i = 0; i < d->nitems && d->nrecs < n; i++) {
		if (!_item(d, i, &name, &len, &a))
			break;
		if (a.mode & PROTO_MODE_LINKED)
			d->recs[d->nrecs++] = (struct dir_rec){
				.pos = i, .state = REC_ASK, .a = a};
	}
	reqs = calloc(n < LINK_WINDOW ? n : LINK_WINDOW, sizeof(*reqs));
	keys = calloc(n < LINK_WINDOW ? n : LINK_WINDOW, sizeof(*keys));
	if (!reqs || !keys)
		goto out;
	for (uint32_t base = 0; base < d->nrecs; base += LINK_WINDOW) {
		uint32_t end = d->nrecs - base < LINK_WINDOW ?
				       d->nrecs : base + LINK_WINDOW;
		unsigned k = 0, nk = 0;

		/* Sorted by home node: net_run sends each node's frames
		 * together. */
		for (uint32_t j = base; j < end; j++) {
			unsigned node;

			if (inode_home(h, d->recs[j].a.ino, &node) != EBB_OK)
				d->recs[j].state = REC_GONE;
			else
				keys[nk++] = (uint64_t)node << 32 | j;
		}
		qsort(keys, nk, sizeof(*keys), _cmp_u64);
		for (unsigned q = 0; q < nk; q++) {
			uint32_t j = (uint32_t)keys[q];
			struct proto_enc *e;

			e = req_begin(&h->net, &reqs[k],
				      (unsigned)(keys[q] >> 32),
				      PROTO_OP_INODE_GET, 2);
			reqs[k++].tag = j;
			proto_put_cstr(e, h->id);
			proto_put_u64(e, d->recs[j].a.ino);
		}
		if (k)
			(void)net_run(&h->net, reqs, k); /* each: its status */
		for (unsigned q = 0; q < k; q++) {
			struct dir_rec *rec = &d->recs[reqs[q].tag];

			if (reqs[q].status == EBB_OK &&
			    proto_get_attr(&reqs[q].dec, &a)) {
				rec->a = a;
				rec->a.target = NULL;
				rec->state = REC_OK;
			} else if (reqs[q].status == EBB_ENOENT ||
				   reqs[q].status == EBB_ESTALE ||
				   reqs[q].status == EBB_ETIMEDOUT) {
				/* Gone; or a window timed out: the type
				 * only, rather than a timeout per entry. */
				rec->state = REC_GONE;
			}
			req_release(&reqs[q]);
		}
	}
out:
	free(keys);
	free(reqs);
}

/* Fetch the next batch from d->node. */
static ebb_err _fetch(struct ebb_dir *d)
{
	ebb_t *h = d->h;
	struct proto_enc *e;
	ebb_err err;

	e = req_begin(&h->net, &d->r, d->node, PROTO_OP_READDIR, 4);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, d->ino);
	if (d->have_after)
		proto_put_str(e, d->after, d->afterlen);
	else
		proto_put_nil(e);
	proto_put_u64(e, READDIR_BATCH);
	err = net_run(&h->net, &d->r, 1);
	if (err == EBB_OK &&
	    (!proto_get_array(&d->r.dec, &d->items, &d->nitems,
			      PROTO_MAX_READDIR) ||
	     !proto_get_bool(&d->r.dec, &d->eof)))
		err = EBB_EPROTO;
	if (err != EBB_OK) {
		req_release(&d->r);
		return err;
	}
	if (d->nitems == 0)
		d->eof = true; /* guards against a node that never ends */
	d->pos = 0;
	d->have_reply = true;
	_links_fetch(d);
	return EBB_OK;
}

int ebb_readdir(ebb_dir_t *d, struct ebb_dirent *ent)
{
	ebb_err err = EBB_OK;

	if (!d || !ent)
		return fail_errno(EBB_EINVAL);
	for (;;) {
		struct proto_attr a;
		struct ebb_attr one;
		const char *name;
		uint32_t len;

		if (d->have_reply && d->pos < d->nitems) {
			uint32_t pos = d->pos++;

			if (!_item(d, pos, &name, &len, &a)) {
				err = EBB_EPROTO;
				break;
			}
			memset(ent, 0, sizeof(*ent));
			memcpy(ent->name, name, len);
			ent->name[len] = '\0';
			memcpy(d->after, name, len);
			d->after[len] = '\0';
			d->afterlen = len;
			d->have_after = true;
			ent->ino = a.ino;
			if (a.mode & PROTO_MODE_LINKED) {
				/* A pointer: its attributes from the home
				 * node's record (else: the type only, the
				 * name is going away). */
				struct dir_rec *rec = NULL;

				while (d->rpos < d->nrecs &&
				       d->recs[d->rpos].pos < pos)
					d->rpos++;
				if (d->rpos < d->nrecs &&
				    d->recs[d->rpos].pos == pos)
					rec = &d->recs[d->rpos];
				if (rec && rec->state == REC_OK)
					a = rec->a;
				else if ((!rec || rec->state == REC_ASK) &&
					 link_get(d->h, a.ino, &one) == EBB_OK)
					a = one.a;
			}
			ent->mode = a.mode & ~PROTO_MODE_LINKED;
			attr_to_stat_known(d->h, &a, &ent->st);
			return 1;
		}
		if (d->have_reply) {
			bool eof = d->eof;
			req_release(&d->r);
			d->have_reply = false;
			if (eof) {
				d->node++;
				d->have_after = false;
			}
		}
		if (d->node >= d->h->net.n)
			return 0;
		if ((err = _fetch(d)) != EBB_OK)
			break;
	}
	return fail_errno(err);
}

int ebb_closedir(ebb_dir_t *d)
{
	if (!d)
		return fail_errno(EBB_EINVAL);
	if (d->have_reply)
		req_release(&d->r);
	free(d->recs);
	free(d);
	return 0;
}
