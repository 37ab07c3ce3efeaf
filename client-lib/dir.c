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
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ebb_int.h"

#define READDIR_BATCH 1024

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
	return EBB_OK;
}

int ebb_readdir(ebb_dir_t *d, struct ebb_dirent *ent)
{
	ebb_err err = EBB_OK;

	if (!d || !ent)
		return fail_errno(EBB_EINVAL);
	for (;;) {
		struct proto_dec sub;
		struct proto_attr a;
		struct ebb_attr rec;
		const char *name;
		uint32_t len;

		if (d->have_reply && d->pos < d->nitems) {
			proto_dec_sub(&sub, &d->r.dec, &d->items[d->pos++]);
			proto_get_str(&sub, &name, &len, PROTO_MAX_NAME);
			proto_get_attr(&sub, &a);
			if (proto_dec_end(&sub) != EBB_OK || len == 0) {
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
			ent->mode = a.mode & ~PROTO_MODE_LINKED;
			if ((a.mode & PROTO_MODE_LINKED) &&
			    link_get(d->h, a.ino, &rec) == EBB_OK)
				/* A pointer: its attributes from the home
				 * node (else: the type only, the name is
				 * going away). */
				a = rec.a;
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
	free(d);
	return 0;
}
