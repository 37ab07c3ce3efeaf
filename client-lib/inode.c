/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb's inode table: what the handles of one ebb_t know of the files
 * open through them, and the publication of their sizes.
 *
 * DESIGN: the handles of one ebb_t that have the same inode open share a
 * struct ebb_inode (h->inodes, hashed by number, h->ino_lock, a leaf: no
 * RPC under it).  Its size is the largest end written through any of them
 * (or exactly what ftruncate set), so reads through one see writes through
 * another at once; wgen counts writes, pubgen the last one published, dgen
 * changes whenever cached data may be stale (read-ahead checks it).  The
 * size reaches the dentry's node (SIZE_UPDATE, max merge) at fsync and
 * close: inode_publish, also before a SETATTR of the file's times
 * (file_publish_dentry, inode_publish_ino) so that a later publication
 * cannot undo an explicit utimens.  A hard-linked file's size goes to its
 * inode record at its home node instead (link.c).  An entry lives while a
 * handle, a pin (ebb_open_ino) or a drain holds a reference; an orphan's
 * data (its name removed while open) goes at the last inode_put.  The
 * open/close logic that fills and empties the table is in file.c.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ebb_int.h"
#include "placement.h"

/* A new entry for ino (refs 1, not known), linked in; NULL: no memory. */
struct ebb_inode *inode_new_locked(ebb_t *h, uint64_t ino)
{
	unsigned b = (unsigned)(ino % INO_BUCKETS);
	struct ebb_inode *in = calloc(1, sizeof(*in) + (h->net.n + 7) / 8);

	if (!in)
		return NULL;
	in->wrote_nodes = (uint8_t *)(in + 1);
	in->ino = ino;
	in->refs = 1;
	wb_init(&in->wb);
	in->next = h->inodes[b];
	h->inodes[b] = in;
	return in;
}

/* in has just been found at w's dentry, with size. */
void inode_fill_locked(struct ebb_inode *in, const struct ebb_walk *w,
		       uint64_t size)
{
	if (!in->known) {
		in->known = true;
		in->size = size;
		in->parent = w->parent;
		memcpy(in->name, w->name, w->namelen + 1);
		in->attr0 = w->attr.a;
		in->attr0.target = NULL; /* a regular file: none */
		in->attr0.target_len = 0;
	} else if (size > in->size || in->wgen == in->pubgen) {
		/* Nothing unpublished here: the server's size is newer than
		 * ours (another client may have truncated the file). */
		in->size = size;
	}
}

struct ebb_inode *inode_get(ebb_t *h, const struct ebb_walk *w,
			    uint64_t size)
{
	struct ebb_inode *in;

	pthread_mutex_lock(&h->ino_lock);
	if ((in = inode_find_locked(h, w->attr.a.ino)))
		in->refs++;
	else
		in = inode_new_locked(h, w->attr.a.ino);
	if (in)
		inode_fill_locked(in, w, size);
	pthread_mutex_unlock(&h->ino_lock);
	return in;
}

void inode_put(ebb_t *h, struct ebb_inode *in)
{
	struct ebb_inode **pp = &h->inodes[in->ino % INO_BUCKETS];
	uint64_t ino = in->ino, size = in->size;
	bool orphan = false;

	pthread_mutex_lock(&h->ino_lock);
	if (--in->refs == 0) {
		for (; *pp; pp = &(*pp)->next)
			if (*pp == in) {
				*pp = in->next;
				break;
			}
		orphan = in->orphan;
		size = in->size;
		wb_fini(&in->wb); /* its last handle drained it at close */
		free(in);
	}
	pthread_mutex_unlock(&h->ino_lock);
	if (orphan)
		/* Its name went while it was open: the data goes now. */
		(void)data_remove(h, ino, size);
}

bool inode_unlink_begin(ebb_t *h, uint64_t *keep, unsigned max, unsigned *n)
{
	bool ok = true;

	*n = 0;
	pthread_mutex_lock(&h->ino_lock);
	if (h->dpins)
		ok = false;
	for (unsigned b = 0; ok && b < INO_BUCKETS; b++)
		for (struct ebb_inode *in = h->inodes[b]; ok && in;
		     in = in->next) {
			if (*n == max)
				ok = false;
			else
				keep[(*n)++] = in->ino;
		}
	if (ok)
		h->dunlinks++;
	pthread_mutex_unlock(&h->ino_lock);
	return ok;
}

void inode_unlink_done(ebb_t *h)
{
	pthread_mutex_lock(&h->ino_lock);
	if (--h->dunlinks == 0)
		pthread_cond_broadcast(&h->dunlink_cond);
	pthread_mutex_unlock(&h->ino_lock);
}

bool inode_orphan(ebb_t *h, const struct proto_attr *a)
{
	struct ebb_inode *in;

	pthread_mutex_lock(&h->ino_lock);
	if ((in = inode_find_locked(h, a->ino))) {
		in->orphan = true;
		if (!in->known) {
			/* Pinned by ebb_open_ino, which will find another
			 * inode (or none) at the name: these are the
			 * attributes it will serve the open file from. */
			in->known = true;
			in->size = a->size;
			in->attr0 = *a;
			in->attr0.target = NULL;
			in->attr0.target_len = 0;
		}
	}
	pthread_mutex_unlock(&h->ino_lock);
	return in != NULL;
}

struct ebb_inode *inode_find_locked(ebb_t *h, uint64_t ino)
{
	struct ebb_inode *in = h->inodes[ino % INO_BUCKETS];

	while (in && in->ino != ino)
		in = in->next;
	return in;
}

bool inode_known_size(ebb_t *h, uint64_t ino, uint64_t *size)
{
	struct ebb_inode *in;

	pthread_mutex_lock(&h->ino_lock);
	if ((in = inode_find_locked(h, ino)) && !in->known)
		in = NULL; /* only pinned: knows nothing yet */
	if (in)
		*size = in->size;
	pthread_mutex_unlock(&h->ino_lock);
	return in != NULL;
}

void inode_set_size(ebb_t *h, uint64_t ino, uint64_t size)
{
	struct ebb_inode *in;

	pthread_mutex_lock(&h->ino_lock);
	if ((in = inode_find_locked(h, ino))) {
		in->size = size;
		in->dgen++;
	}
	pthread_mutex_unlock(&h->ino_lock);
}

void inode_drain(ebb_t *h, uint64_t ino)
{
	struct ebb_inode *in;

	pthread_mutex_lock(&h->ino_lock);
	if ((in = inode_find_locked(h, ino)))
		in->refs++;
	pthread_mutex_unlock(&h->ino_lock);
	if (!in)
		return;
	wb_drain(h, in);
	inode_put(h, in);
}

void inode_moved(ebb_t *h, uint64_t ino, uint64_t parent, const char *name,
		 size_t len)
{
	struct ebb_inode *in;

	pthread_mutex_lock(&h->ino_lock);
	if ((in = inode_find_locked(h, ino))) {
		in->parent = parent;
		memcpy(in->name, name, len);
		in->name[len] = '\0';
	}
	pthread_mutex_unlock(&h->ino_lock);
}

void inode_refresh(ebb_t *h, uint64_t ino)
{
	char name[PROTO_MAX_NAME + 1];
	struct ebb_inode *in;
	struct ebb_attr at;
	uint64_t parent;

	pthread_mutex_lock(&h->ino_lock);
	if ((in = inode_find_locked(h, ino)) && in->known)
		in->refs++;
	else
		in = NULL;
	pthread_mutex_unlock(&h->ino_lock);
	if (!in)
		return;
	inode_key(h, in, &parent, name);
	dcache_forget(h, parent, name, strlen(name));
	if (path_lookup(h, parent, name, strlen(name), &at) == EBB_OK &&
	    at.a.ino == ino) {
		pthread_mutex_lock(&h->ino_lock);
		if (at.a.size > in->size || in->wgen == in->pubgen)
			in->size = at.a.size;
		in->dgen++; /* read-ahead of before the lock goes */
		pthread_mutex_unlock(&h->ino_lock);
	}
	inode_put(h, in);
}

void inode_key(ebb_t *h, struct ebb_inode *in, uint64_t *parent,
	       char name[PROTO_MAX_NAME + 1])
{
	pthread_mutex_lock(&h->ino_lock);
	*parent = in->parent;
	memcpy(name, in->name, strlen(in->name) + 1);
	pthread_mutex_unlock(&h->ino_lock);
}

uint64_t inode_size(ebb_t *h, struct ebb_inode *in)
{
	uint64_t s;

	pthread_mutex_lock(&h->ino_lock);
	s = in->size;
	pthread_mutex_unlock(&h->ino_lock);
	return s;
}

uint64_t inode_dgen(ebb_t *h, struct ebb_inode *in)
{
	uint64_t g;

	pthread_mutex_lock(&h->ino_lock);
	g = in->dgen;
	pthread_mutex_unlock(&h->ino_lock);
	return g;
}

void inode_grow(ebb_t *h, struct ebb_inode *in, uint64_t end)
{
	pthread_mutex_lock(&h->ino_lock);
	if (end > in->size)
		in->size = end;
	in->wgen++;
	in->dgen++;
	in->mtime_ns = file_now_ns();
	pthread_mutex_unlock(&h->ino_lock);
}

/* ---- publication ----------------------------------------------------------- */

/* SIZE_UPDATE of the inode's size to its dentry.  The mtime sent is the
 * last write's only while some write is unpublished: once published, a
 * later utimens() (or nothing) decides, and 0 leaves the node's alone
 * (SIZE_UPDATE merges by max). */
ebb_err inode_publish(ebb_t *h, struct ebb_inode *in, bool sync)
{
	struct ebb_req r;
	struct proto_enc *e;
	struct proto_attr a;
	char name[PROTO_MAX_NAME + 1];
	uint64_t parent, size, gen;
	int64_t mtime;
	ebb_err err;
	bool cut, linked;

	/* The size published must be on the nodes: writes first. */
	wb_drain(h, in);
	pthread_mutex_lock(&h->ino_lock);
	cut = in->wb.cut;
	in->wb.cut = false;
	size = in->size;
	pthread_mutex_unlock(&h->ino_lock);
	if (cut)
		/* A failed write cut the size (stream.c): what later pieces
		 * wrote past it must not show if the file grows again.  Best
		 * effort: the write's error is what the caller hears. */
		(void)data_truncate(h, in->ino, size);
	inode_key(h, in, &parent, name);
	pthread_mutex_lock(&h->ino_lock);
	size = in->size;
	gen = in->wgen;
	mtime = in->wgen != in->pubgen ? in->mtime_ns : 0;
	/* Linked when opened: its record holds the size (and stays while
	 * any name does), one RPC there instead of two via a name. */
	linked = in->known && (in->attr0.mode & PROTO_MODE_LINKED);
	pthread_mutex_unlock(&h->ino_lock);
	if (linked) {
		err = link_size_update(h, in->ino, size, mtime, sync);
		goto published;
	}
	e = req_begin(&h->net, &r,
		      placement_dentry_node(parent, name, strlen(name),
					    h->net.n),
		      PROTO_OP_SIZE_UPDATE, 7);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, parent);
	proto_put_cstr(e, name);
	proto_put_u64(e, in->ino);
	proto_put_u64(e, size);
	proto_put_i64(e, mtime);
	proto_put_u64(e, sync ? PROTO_SIZE_SYNC : 0);
	err = net_run(&h->net, &r, 1);
	if (err == EBB_OK && !proto_get_attr(&r.dec, &a))
		err = EBB_EPROTO;
	req_release(&r);
	/* A pointer: the size goes to the record at the inode's home.  The
	 * name gone or replaced: another name may still hold the inode (a
	 * hard link), whose record is at its home, if it has one. */
	if (err == EBB_OK && (a.mode & PROTO_MODE_LINKED))
		err = link_size_update(h, in->ino, size, mtime, sync);
	else if (err == EBB_ENOENT || err == EBB_ESTALE)
		err = link_size_update(h, in->ino, size, mtime, sync);
published:
	if (err == EBB_OK) {
		pthread_mutex_lock(&h->ino_lock);
		if (gen > in->pubgen)
			in->pubgen = gen;
		pthread_mutex_unlock(&h->ino_lock);
	}
	/* Removed or replaced while open (and no record): the size has
	 * nowhere to go, as with an unlinked file on a local disk. */
	if (err == EBB_ENOENT || err == EBB_ESTALE || err == EBB_EINVAL)
		err = EBB_OK;
	return err;
}

bool inode_unpublished(ebb_t *h, struct ebb_inode *in)
{
	bool u;

	pthread_mutex_lock(&h->ino_lock);
	u = in->wgen != in->pubgen;
	pthread_mutex_unlock(&h->ino_lock);
	return u;
}

ebb_err file_publish_dentry(ebb_t *h, uint64_t parent, const char *name,
			    size_t len)
{
	struct ebb_inode *in = NULL;
	ebb_err err;

	pthread_mutex_lock(&h->ino_lock);
	for (unsigned b = 0; b < INO_BUCKETS && !in; b++)
		for (in = h->inodes[b]; in; in = in->next)
			if (in->parent == parent && in->wgen != in->pubgen &&
			    strlen(in->name) == len &&
			    memcmp(in->name, name, len) == 0)
				break;
	if (in)
		in->refs++;
	pthread_mutex_unlock(&h->ino_lock);
	if (!in)
		return EBB_OK;
	err = inode_publish(h, in, false);
	inode_put(h, in);
	return err;
}

void inode_publish_ino(ebb_t *h, uint64_t ino)
{
	struct ebb_inode *in;

	pthread_mutex_lock(&h->ino_lock);
	if ((in = inode_find_locked(h, ino)) &&
	    (!in->known || in->wgen == in->pubgen))
		in = NULL;
	if (in)
		in->refs++;
	pthread_mutex_unlock(&h->ino_lock);
	if (!in)
		return;
	(void)inode_publish(h, in, false);
	inode_put(h, in);
}

