/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb hard links: link(), and the inode records of linked inodes.
 *
 * DESIGN (docs/internals/hardlinks.md): a file with one name keeps its
 * attributes in its dentry; from the second name on they live in an inode
 * record on the inode's home node (rank ino >> PROTO_INO_RANK_SHIFT) and
 * every name holds a pointer (PROTO_MODE_LINKED in the mode of what the
 * dentry ops reply).  This file makes the records (meta_link) and is the
 * one place the rest of libebb goes through when a dentry op answers a
 * pointer: link_get (INODE_GET, for lookups and listings), link_setattr
 * (INODE_SETATTR), link_size_update (INODE_SIZE_UPDATE) and link_drop
 * (INODE_UNLINK, after a pointer's name went).  Inside libebb an attr
 * with PROTO_MODE_LINKED whose nlink is not 0 is a record's ("this inode is
 * linked: its attributes are by number at its home"); attr_to_stat strips
 * the bit, so callers never see it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ebb_int.h"
#include "placement.h"

ebb_err inode_home(const ebb_t *h, uint64_t ino, unsigned *node)
{
	uint64_t rank = ino >> PROTO_INO_RANK_SHIFT;

	if (ino == 0 || rank >= h->net.n)
		return EBB_EINVAL;
	*node = (unsigned)rank;
	return EBB_OK;
}

/* Run r (begun by the caller) and take its first result as an attr. */
static ebb_err _attr_reply(ebb_t *h, struct ebb_req *r, struct ebb_attr *out,
			   bool *flag)
{
	struct proto_attr a;
	ebb_err err = net_run(&h->net, r, 1);

	if (err == EBB_OK && !proto_get_attr(&r->dec, &a))
		err = EBB_EPROTO;
	if (err == EBB_OK && flag && !proto_get_bool(&r->dec, flag))
		err = EBB_EPROTO;
	if (err == EBB_OK && out)
		attr_own(out, &a);
	req_release(r);
	return err;
}

/* INODE_GET, INODE_LINK or INODE_UNLINK of ino at its home. */
static ebb_err _rec_op(ebb_t *h, uint32_t op, uint64_t ino,
		       struct ebb_attr *out, bool *deleted)
{
	struct ebb_req r;
	struct proto_enc *e;
	unsigned node;
	ebb_err err;

	if ((err = inode_home(h, ino, &node)) != EBB_OK)
		return err;
	e = req_begin(&h->net, &r, node, op, 2);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, ino);
	return _attr_reply(h, &r, out, deleted);
}

ebb_err link_get(ebb_t *h, uint64_t ino, struct ebb_attr *out)
{
	return _rec_op(h, PROTO_OP_INODE_GET, ino, out, NULL);
}

ebb_err link_resolve(ebb_t *h, struct ebb_attr *at)
{
	if (!(at->a.mode & PROTO_MODE_LINKED))
		return EBB_OK;
	return link_get(h, at->a.ino, at);
}

ebb_err link_setattr(ebb_t *h, uint64_t ino, uint32_t mask, uint32_t mode,
		     uint32_t uid, uint32_t gid, uint64_t size, int64_t atime,
		     int64_t mtime, struct ebb_attr *out)
{
	struct ebb_req r;
	struct proto_enc *e;
	unsigned node;
	ebb_err err;

	if ((err = inode_home(h, ino, &node)) != EBB_OK)
		return err;
	e = req_begin(&h->net, &r, node, PROTO_OP_INODE_SETATTR, 9);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, ino);
	proto_put_u64(e, mask);
	proto_put_u64(e, mode);
	proto_put_u64(e, uid);
	proto_put_u64(e, gid);
	proto_put_u64(e, size);
	proto_put_i64(e, atime);
	proto_put_i64(e, mtime);
	return _attr_reply(h, &r, out, NULL);
}

ebb_err link_size_update(ebb_t *h, uint64_t ino, uint64_t size,
			 int64_t mtime, bool sync)
{
	struct ebb_req r;
	struct proto_enc *e;
	unsigned node;
	ebb_err err;

	if ((err = inode_home(h, ino, &node)) != EBB_OK)
		return err;
	e = req_begin(&h->net, &r, node, PROTO_OP_INODE_SIZE_UPDATE, 5);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, ino);
	proto_put_u64(e, size);
	proto_put_i64(e, mtime);
	proto_put_u64(e, sync ? PROTO_SIZE_SYNC : 0);
	return _attr_reply(h, &r, NULL, NULL);
}

ebb_err link_drop(ebb_t *h, uint64_t ino)
{
	struct ebb_attr rec;
	bool deleted = false;
	ebb_err err;

	err = _rec_op(h, PROTO_OP_INODE_UNLINK, ino, &rec, &deleted);
	if (err != EBB_OK || !deleted)
		return err;
	/* The last name went: the data goes as a single-link file's does,
	 * at the last close if it is open here. */
	rec.a.mode &= ~PROTO_MODE_LINKED;
	if (S_ISREG(rec.a.mode) && !inode_orphan(h, &rec.a))
		(void)data_remove(h, ino, rec.a.size);
	return EBB_OK;
}

/* INODE_ADOPT of a at its home; flags PROTO_ADOPT_MERGE. */
static ebb_err _adopt(ebb_t *h, const struct proto_attr *a, uint32_t flags)
{
	struct ebb_req r;
	struct proto_enc *e;
	unsigned node;
	ebb_err err;

	if ((err = inode_home(h, a->ino, &node)) != EBB_OK)
		return err;
	e = req_begin(&h->net, &r, node, PROTO_OP_INODE_ADOPT, 3);
	proto_put_cstr(e, h->id);
	proto_put_attr(e, a);
	proto_put_u64(e, flags);
	return _attr_reply(h, &r, NULL, NULL);
}

/* Turn the source dentry (w's, holding ino inline) into a pointer with the
 * record made first: link's steps 1-3. */
static ebb_err _convert(ebb_t *h, const struct ebb_walk *w,
			const struct ebb_attr *snap)
{
	struct ebb_req r;
	struct proto_enc *e;
	struct ebb_attr held;
	bool converted = false;
	ebb_err err;

	if ((err = _adopt(h, &snap->a, 0)) != EBB_OK)
		return err;
	e = req_begin(&h->net, &r,
		      placement_dentry_node(w->parent, w->name, w->namelen,
					    h->net.n),
		      PROTO_OP_DENT_TO_PTR, 4);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, w->parent);
	proto_put_str(e, w->name, w->namelen);
	proto_put_u64(e, snap->a.ino);
	/* On failure (the name went or holds another inode meanwhile) the
	 * record stays unreached: harmless (hardlinks.md, crashes). */
	if ((err = _attr_reply(h, &r, &held, &converted)) != EBB_OK)
		return err;
	if (!converted)
		return EBB_OK; /* a concurrent link converted it */
	/* What the dentry held last: newer than the snapshot if a writer
	 * published between the LOOKUP and the conversion. */
	return _adopt(h, &held.a, PROTO_ADOPT_MERGE);
}

/* Link's last steps, for an inode that has its record: count the new name
 * (INODE_LINK), then insert its pointer at wt (LINK_INSERT, NOREPLACE),
 * the count taken back if that fails.  mode: the inode's type bits. */
static ebb_err _add_name(ebb_t *h, uint64_t ino, uint32_t mode,
			 const struct ebb_walk *wt, struct ebb_attr *out)
{
	struct ebb_attr rec;
	struct proto_attr ptr, rep;
	struct ebb_req r;
	struct proto_enc *e;
	bool have_rep = false;
	ebb_err err;

	/* Counted before the name appears: a crash in between leaves one
	 * count too many (data kept), never a name without its inode. */
	if ((err = _rec_op(h, PROTO_OP_INODE_LINK, ino, &rec, NULL)) != EBB_OK)
		return err;
	memset(&ptr, 0, sizeof(ptr));
	ptr.ino = ino;
	ptr.parent = wt->parent;
	ptr.mode = (mode & S_IFMT) | PROTO_MODE_LINKED;
	e = req_begin(&h->net, &r,
		      placement_dentry_node(wt->parent, wt->name, wt->namelen,
					    h->net.n),
		      PROTO_OP_LINK_INSERT, 5);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, wt->parent);
	proto_put_str(e, wt->name, wt->namelen);
	proto_put_attr(e, &ptr);
	proto_put_u64(e, PROTO_RENAME_NOREPLACE);
	err = net_run(&h->net, &r, 1);
	if (err == EBB_OK && !proto_get_attr_or_nil(&r.dec, &rep, &have_rep))
		err = EBB_EPROTO;
	req_release(&r);
	if (err == EBB_OK && have_rep)
		err = EBB_EEXIST; /* never replaces: NOREPLACE */
	if (err != EBB_OK) {
		(void)link_drop(h, ino); /* take the count back */
		return err;
	}
	if (out)
		attr_own(out, &rec.a);
	return EBB_OK;
}

ebb_err meta_link(ebb_t *h, const struct ebb_walk *wf,
		  const struct ebb_walk *wt, struct ebb_attr *out)
{
	struct ebb_attr src;
	ebb_err err;

	if (wf->is_root)
		return EBB_EPERM;
	if (wt->is_root)
		return EBB_EEXIST;
	if ((err = meta_dir_access(h, wt)) != EBB_OK)
		return err;
	if ((err = path_lookup(h, wf->parent, wf->name, wf->namelen, &src)) !=
	    EBB_OK)
		return err;
	if (S_ISDIR(src.a.mode))
		return EBB_EPERM; /* link(2) on a directory */
	if (wt->trailing_slash)
		return EBB_ENOENT;
	if (!(src.a.mode & PROTO_MODE_LINKED) &&
	    (err = _convert(h, wf, &src)) != EBB_OK)
		return err;
	return _add_name(h, src.a.ino, src.a.mode, wt, out);
}

/* ---- public calls ------------------------------------------------------- */

int ebb_link(ebb_t *h, const char *oldpath, const char *newpath)
{
	struct ebb_walk wf = {0}, wt = {0};
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	/* link(2) does not follow a symlink named by oldpath. */
	if ((err = walk(h, oldpath, WALK_PARENT, &wf)) == EBB_OK &&
	    (err = walk(h, newpath, WALK_PARENT, &wt)) == EBB_OK)
		err = meta_link(h, &wf, &wt, NULL);
	walk_free(&wf);
	walk_free(&wt);
	return err == EBB_OK ? 0 : fail_errno(err);
}

int ebb_linkat(ebb_t *h, uint64_t odir, const char *oname, uint64_t ndir,
	       const char *nname, struct ebb_stat *st)
{
	struct ebb_walk wf, wt;
	struct ebb_attr rec;
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	if ((err = at_dentry(odir, oname, &wf)) != EBB_OK ||
	    (err = at_dentry(ndir, nname, &wt)) != EBB_OK ||
	    (err = meta_link(h, &wf, &wt, &rec)) != EBB_OK)
		return fail_errno(err);
	if (st)
		attr_to_stat_known(h, &rec.a, st);
	return 0;
}

int ebb_link_ino(ebb_t *h, uint64_t ino, uint64_t ndir, const char *nname,
		 struct ebb_stat *st)
{
	struct ebb_walk wt;
	struct ebb_attr rec;
	ebb_err err;

	if (!h || ino == 0)
		return fail_errno(EBB_EINVAL);
	if ((err = at_dentry(ndir, nname, &wt)) != EBB_OK)
		return fail_errno(err);
	if (wt.is_root)
		return fail_errno(EBB_EEXIST);
	/* Without a record the inode has no name to link from (its one
	 * name went): ENOENT, as link(2) of an unlinked open file. */
	if ((err = link_get(h, ino, &rec)) != EBB_OK)
		return fail_errno(err == EBB_EINVAL ? EBB_ENOENT : err);
	if ((err = _add_name(h, ino, rec.a.mode, &wt, &rec)) != EBB_OK)
		return fail_errno(err);
	if (st)
		attr_to_stat_known(h, &rec.a, st);
	return 0;
}

int ebb_stat_ino(ebb_t *h, uint64_t ino, struct ebb_stat *st)
{
	struct ebb_attr rec;
	ebb_err err;

	if (!h || !st || ino == 0)
		return fail_errno(EBB_EINVAL);
	if ((err = link_get(h, ino, &rec)) != EBB_OK)
		return fail_errno(err == EBB_EINVAL ? EBB_ENOENT : err);
	attr_to_stat_known(h, &rec.a, st);
	return 0;
}

int ebb_setattr_ino(ebb_t *h, uint64_t ino, unsigned mask,
		    const struct ebb_stat *in, struct ebb_stat *out)
{
	struct ebb_attr rec;
	ebb_err err;

	if (!h || !in || ino == 0 || (mask & ~0xffu))
		return fail_errno(EBB_EINVAL);
	if (((mask & EBB_SET_ATIME) && (in->atime.tv_nsec < 0 ||
					in->atime.tv_nsec >= 1000000000)) ||
	    ((mask & EBB_SET_MTIME) && (in->mtime.tv_nsec < 0 ||
					in->mtime.tv_nsec >= 1000000000)))
		return fail_errno(EBB_EINVAL);
	if ((mask & EBB_SET_SIZE) && in->size > (1ull << 44))
		return fail_errno(EBB_EFBIG);
	if (mask & (EBB_SET_MTIME | EBB_SET_MTIME_NOW | EBB_SET_ATIME |
		    EBB_SET_ATIME_NOW))
		/* This handle's unpublished writes first, as meta_setattr. */
		inode_publish_ino(h, ino);
	if (mask & EBB_SET_SIZE)
		inode_drain(h, ino);
	err = link_setattr(h, ino, mask, in->mode & 07777, in->uid, in->gid, in->size,
			   (int64_t)in->atime.tv_sec * 1000000000 +
				   in->atime.tv_nsec,
			   (int64_t)in->mtime.tv_sec * 1000000000 +
				   in->mtime.tv_nsec, &rec);
	if (err == EBB_OK && (mask & EBB_SET_SIZE)) {
		inode_set_size(h, ino, in->size);
		err = data_truncate(h, ino, in->size);
	}
	if (err != EBB_OK)
		return fail_errno(err);
	if (out)
		attr_to_stat_known(h, &rec.a, out);
	return 0;
}
