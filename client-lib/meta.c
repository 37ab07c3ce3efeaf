/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb namespace calls: stat, mkdir, rmdir, unlink, rename, symlink, ...
 *
 * DESIGN: each call is composed from the per-dentry operations exactly as
 * docs/protocol.md "How the client composes operations" says; the ones
 * that touch several nodes (rmdir's HAS_CHILDREN, a replaced file's data
 * removal, truncate's TRUNCATE, statfs) ask all nodes in parallel.
 * Permission bits of the parent directory (write + search for creating and
 * removing names) are checked here from the attributes the path walk
 * returned; the sticky bit is not enforced (only root and the instance's
 * owner are served, and bbd lets the owner change anything in its own
 * instance: docs/security.md; through a mount the kernel enforces it).  Modes are taken as given: no umask is applied (the
 * FUSE layer passes modes already masked).
 *
 * Each operation is written once, as meta_*() on a resolved dentry (struct
 * ebb_walk); the path calls here are walk() + meta_*(), the inode-relative
 * calls in at.c are at_dentry() + the same meta_*().
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ebb_int.h"
#include "placement.h"

static unsigned _dnode(const ebb_t *h, uint64_t parent, const char *name,
		       size_t len)
{
	return placement_dentry_node(parent, name, len, h->net.n);
}

/* One request on the dentry's node whose only result is an attr. */
static ebb_err _attr_call(ebb_t *h, struct ebb_req *r, struct ebb_attr *out)
{
	struct proto_attr a;
	ebb_err err = net_run(&h->net, r, 1);

	if (err == EBB_OK && !proto_get_attr(&r->dec, &a))
		err = EBB_EPROTO;
	if (err == EBB_OK && out)
		attr_own(out, &a);
	req_release(r);
	return err;
}

/* A directory's or symlink's name is gone (regular files go with their
 * data: data_remove, UNLINK's DATA).  Its xattrs live on its home node
 * (bbd/bbd_xattr.c), which dropped them itself if it removed the name
 * (RMDIR; UNLINK with DATA): dnode, or -1 if it did not.  Otherwise a
 * REMOVE there drops them (there is no data): one RPC, only for a name
 * that moved off its home node, or a rename over such an inode. */
static void _xattrs_gone(ebb_t *h, const struct proto_attr *a, int dnode)
{
	if (S_ISREG(a->mode) || (a->mode & PROTO_MODE_LINKED) ||
	    (int)(a->ino >> PROTO_INO_RANK_SHIFT) == dnode)
		return; /* a linked inode's go with its record (INODE_UNLINK) */
	(void)data_remove(h, a->ino, 0);
}

/* ---- stat ----------------------------------------------------------------- */

void attr_to_stat_known(ebb_t *h, struct proto_attr *a, struct ebb_stat *st)
{
	uint64_t known;

	if (S_ISREG(a->mode) && inode_known_size(h, a->ino, &known) &&
	    known > a->size)
		a->size = known;
	attr_to_stat(h, a, st);
}

static int _stat(ebb_t *h, const char *path, struct ebb_stat *st, int flags)
{
	struct ebb_walk w;
	ebb_err err;

	if (!h || !st)
		return fail_errno(EBB_EINVAL);
	if ((err = walk(h, path, flags, &w)) != EBB_OK)
		return fail_errno(err);
	attr_to_stat_known(h, &w.attr.a, st);
	walk_free(&w);
	return 0;
}

int ebb_stat(ebb_t *h, const char *path, struct ebb_stat *st)
{
	return _stat(h, path, st, WALK_FOLLOW);
}

int ebb_lstat(ebb_t *h, const char *path, struct ebb_stat *st)
{
	return _stat(h, path, st, 0);
}

ebb_err meta_dir_access(const ebb_t *h, const struct ebb_walk *w)
{
	return w->nocheck ? EBB_OK : path_access(h, &w->pattr, W_OK | X_OK);
}

/* ---- creating names ------------------------------------------------------- */

unsigned meta_owner_nargs(const struct ebb_walk *w)
{
	return w->owner ? 2 : 0;
}

void meta_put_owner(struct proto_enc *e, const struct ebb_walk *w)
{
	if (!w->owner)
		return;
	proto_put_u64(e, w->ouid);
	proto_put_u64(e, w->ogid);
}

ebb_err meta_mkdir(ebb_t *h, const struct ebb_walk *w, mode_t mode,
		   struct ebb_attr *out)
{
	struct ebb_req r;
	struct proto_enc *e;
	ebb_err err;

	if (w->is_root)
		return EBB_EEXIST;
	if ((err = meta_dir_access(h, w)) != EBB_OK)
		return err;
	e = req_begin(&h->net, &r, _dnode(h, w->parent, w->name, w->namelen),
		      PROTO_OP_MKDIR, 4 + meta_owner_nargs(w));
	proto_put_cstr(e, h->id);
	proto_put_u64(e, w->parent);
	proto_put_str(e, w->name, w->namelen);
	proto_put_u64(e, S_IFDIR | (mode & 07777));
	meta_put_owner(e, w);
	return _attr_call(h, &r, out);
}

/* CREATE of a special file (or an empty regular file), EXCL: mknod(2).
 * A device's number rides after the owner arguments, so a device made
 * without an owner names the caller's own uid and gid (allowed to all). */
ebb_err meta_mknod(ebb_t *h, const struct ebb_walk *w, mode_t mode,
		   dev_t rdev, struct ebb_attr *out)
{
	struct ebb_walk wo = *w;
	struct ebb_req r;
	struct proto_enc *e;
	struct proto_attr a;
	bool created = false, dev;
	ebb_err err;

	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK:
		break;
	default:
		return EBB_EINVAL; /* mkdir, symlink have their own calls */
	}
	dev = S_ISCHR(mode) || S_ISBLK(mode);
	if (w->is_root)
		return EBB_EEXIST;
	if ((err = meta_dir_access(h, w)) != EBB_OK)
		return err;
	if (dev && !wo.owner) {
		wo.owner = true;
		wo.ouid = (uint32_t)h->uid;
		wo.ogid = (uint32_t)h->gid;
	}
	e = req_begin(&h->net, &r, _dnode(h, w->parent, w->name, w->namelen),
		      PROTO_OP_CREATE, 5 + meta_owner_nargs(&wo) + (dev ? 1 : 0));
	proto_put_cstr(e, h->id);
	proto_put_u64(e, w->parent);
	proto_put_str(e, w->name, w->namelen);
	proto_put_u64(e, (mode & S_IFMT) | (mode & 07777));
	proto_put_u64(e, PROTO_CREATE_EXCL);
	meta_put_owner(e, &wo);
	if (dev)
		proto_put_u64(e, (uint64_t)rdev);
	err = net_run(&h->net, &r, 1);
	if (err == EBB_OK &&
	    (!proto_get_attr(&r.dec, &a) || !proto_get_bool(&r.dec, &created)))
		err = EBB_EPROTO;
	if (err == EBB_OK && out)
		attr_own(out, &a);
	req_release(&r);
	return err;
}

int ebb_mkdir(ebb_t *h, const char *path, mode_t mode)
{
	struct ebb_walk w;
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	if ((err = walk(h, path, WALK_PARENT, &w)) != EBB_OK)
		return fail_errno(err);
	err = meta_mkdir(h, &w, mode, NULL);
	walk_free(&w);
	return err == EBB_OK ? 0 : fail_errno(err);
}

ebb_err meta_symlink(ebb_t *h, const struct ebb_walk *w, const char *target,
		     struct ebb_attr *out)
{
	struct ebb_req r;
	struct proto_enc *e;
	size_t tlen;
	ebb_err err;

	if (!target)
		return EBB_EINVAL;
	tlen = strlen(target);
	if (tlen == 0)
		return EBB_ENOENT;
	if (tlen > PROTO_MAX_TARGET)
		return EBB_ENAMETOOLONG;
	if (w->is_root)
		return EBB_EEXIST;
	if ((err = meta_dir_access(h, w)) != EBB_OK)
		return err;
	e = req_begin(&h->net, &r, _dnode(h, w->parent, w->name, w->namelen),
		      PROTO_OP_SYMLINK, 4 + meta_owner_nargs(w));
	proto_put_cstr(e, h->id);
	proto_put_u64(e, w->parent);
	proto_put_str(e, w->name, w->namelen);
	proto_put_str(e, target, tlen);
	meta_put_owner(e, w);
	return _attr_call(h, &r, out);
}

int ebb_symlink(ebb_t *h, const char *target, const char *linkpath)
{
	struct ebb_walk w;
	size_t tlen;
	ebb_err err;

	if (!h || !target)
		return fail_errno(EBB_EINVAL);
	/* Argument errors before the walk, as before the split. */
	tlen = strlen(target);
	if (tlen == 0)
		return fail_errno(EBB_ENOENT);
	if (tlen > PROTO_MAX_TARGET)
		return fail_errno(EBB_ENAMETOOLONG);
	if ((err = walk(h, linkpath, WALK_PARENT, &w)) != EBB_OK)
		return fail_errno(err);
	err = meta_symlink(h, &w, target, NULL);
	walk_free(&w);
	return err == EBB_OK ? 0 : fail_errno(err);
}

ssize_t ebb_readlink(ebb_t *h, const char *path, char *buf, size_t size)
{
	struct ebb_walk w;
	size_t n;
	ebb_err err;

	if (!h || (!buf && size))
		return fail_errno(EBB_EINVAL);
	if ((err = walk(h, path, 0, &w)) != EBB_OK)
		return fail_errno(err);
	if (!S_ISLNK(w.attr.a.mode) || !w.attr.a.target) {
		walk_free(&w);
		return fail_errno(EBB_EINVAL);
	}
	n = w.attr.a.target_len < size ? w.attr.a.target_len : size;
	memcpy(buf, w.attr.target, n);
	walk_free(&w);
	return (ssize_t)n;
}

/* ---- removing names ------------------------------------------------------- */

/* HAS_CHILDREN of dir on every node: ENOTEMPTY if any holds one. */
static ebb_err _check_empty(ebb_t *h, uint64_t dir)
{
	struct ebb_req *reqs = calloc(h->net.n, sizeof(*reqs));
	ebb_err err;

	if (!reqs)
		return EBB_ENOMEM;
	for (unsigned i = 0; i < h->net.n; i++) {
		struct proto_enc *e = req_begin(&h->net, &reqs[i], i,
						PROTO_OP_HAS_CHILDREN, 2);
		proto_put_cstr(e, h->id);
		proto_put_u64(e, dir);
	}
	err = net_run(&h->net, reqs, h->net.n);
	for (unsigned i = 0; i < h->net.n; i++) {
		bool any = false;

		if (err == EBB_OK && !proto_get_bool(&reqs[i].dec, &any))
			err = EBB_EPROTO;
		if (err == EBB_OK && any)
			err = EBB_ENOTEMPTY;
		req_release(&reqs[i]);
	}
	free(reqs);
	return err;
}

ebb_err meta_unlink(ebb_t *h, const struct ebb_walk *w)
{
	uint64_t keep[PROTO_MAX_UNLINK_KEEP];
	struct ebb_req r;
	struct proto_enc *e;
	struct ebb_attr old;
	struct proto_attr a;
	unsigned nkeep = 0;
	bool data, removed = false;
	ebb_err err;

	if (w->is_root)
		return EBB_EISDIR;
	if ((err = meta_dir_access(h, w)) != EBB_OK)
		return err;
	if (w->trailing_slash) {
		/* "f/" names a directory: never a file to unlink. */
		err = path_lookup(h, w->parent, w->name, w->namelen, &old);
		if (err == EBB_OK)
			err = S_ISDIR(old.a.mode) ? EBB_EISDIR : EBB_ENOTDIR;
		return err;
	}
	/* One round trip when the dentry's node holds all of the data: it
	 * removes it with the name (DATA), except for what is open here. */
	data = inode_unlink_begin(h, keep, PROTO_MAX_UNLINK_KEEP, &nkeep);
	e = req_begin(&h->net, &r, _dnode(h, w->parent, w->name, w->namelen),
		      PROTO_OP_UNLINK, data ? 6 : 5);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, w->parent);
	proto_put_str(e, w->name, w->namelen);
	proto_put_u64(e, 0);
	proto_put_u64(e, data ? PROTO_UNLINK_DATA : 0);
	if (data) {
		proto_put_array(e, nkeep);
		for (unsigned i = 0; i < nkeep; i++)
			proto_put_u64(e, keep[i]);
	}
	err = net_run(&h->net, &r, 1);
	if (err == EBB_OK && !proto_get_attr(&r.dec, &a))
		err = EBB_EPROTO;
	if (err == EBB_OK && data && !proto_get_bool(&r.dec, &removed))
		err = EBB_EPROTO;
	if (err == EBB_OK)
		attr_own(&old, &a);
	req_release(&r);
	if (data)
		inode_unlink_done(h);
	if (err != EBB_OK)
		return err;
	if (old.a.mode & PROTO_MODE_LINKED)
		/* A pointer went: one name less on the record (the data
		 * goes with the last). */
		return link_drop(h, old.a.ino);
	if (S_ISREG(old.a.mode) && !removed && !inode_orphan(h, &old.a))
		/* The name is gone whatever happens to the data now. */
		(void)data_remove(h, old.a.ino, old.a.size);
	_xattrs_gone(h, &old.a,
		     data ? (int)_dnode(h, w->parent, w->name, w->namelen) : -1);
	return EBB_OK;
}

int ebb_unlink(ebb_t *h, const char *path)
{
	struct ebb_walk w;
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	if ((err = walk(h, path, WALK_PARENT, &w)) != EBB_OK)
		return fail_errno(err);
	err = meta_unlink(h, &w);
	walk_free(&w);
	return err == EBB_OK ? 0 : fail_errno(err);
}

ebb_err meta_rmdir(ebb_t *h, const struct ebb_walk *w)
{
	struct ebb_attr at;
	struct ebb_req r;
	struct proto_enc *e;
	ebb_err err;

	if (w->is_root)
		return EBB_EBUSY;
	if ((err = meta_dir_access(h, w)) != EBB_OK)
		return err;
	if ((err = path_lookup(h, w->parent, w->name, w->namelen, &at)) !=
	    EBB_OK)
		return err;
	if (!S_ISDIR(at.a.mode))
		return EBB_ENOTDIR;
	if ((err = _check_empty(h, at.a.ino)) != EBB_OK)
		return err;
	dcache_forget(h, w->parent, w->name, w->namelen);
	e = req_begin(&h->net, &r, _dnode(h, w->parent, w->name, w->namelen),
		      PROTO_OP_RMDIR, 3);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, w->parent);
	proto_put_str(e, w->name, w->namelen);
	if ((err = _attr_call(h, &r, NULL)) == EBB_OK)
		_xattrs_gone(h, &at.a,
			     (int)_dnode(h, w->parent, w->name, w->namelen));
	return err;
}

int ebb_rmdir(ebb_t *h, const char *path)
{
	struct ebb_walk w;
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	if ((err = walk(h, path, WALK_PARENT, &w)) != EBB_OK)
		return fail_errno(err);
	err = meta_rmdir(h, &w);
	walk_free(&w);
	return err == EBB_OK ? 0 : fail_errno(err);
}

/* ---- rename --------------------------------------------------------------- */

/* Undo rename's LINK_INSERT of src at w's name on node: remove it and put
 * back what it replaced (rep, may be NULL). */
static void _undo_insert(ebb_t *h, unsigned node, const struct ebb_walk *w,
			 const struct proto_attr *src,
			 const struct proto_attr *rep)
{
	struct ebb_req r;
	struct proto_enc *e;

	e = req_begin(&h->net, &r, node, PROTO_OP_UNLINK, 5);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, w->parent);
	proto_put_str(e, w->name, w->namelen);
	proto_put_u64(e, src->ino);
	proto_put_u64(e, PROTO_UNLINK_ANY_TYPE);
	if (_attr_call(h, &r, NULL) != EBB_OK || !rep)
		return;
	e = req_begin(&h->net, &r, node, PROTO_OP_LINK_INSERT, 5);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, w->parent);
	proto_put_str(e, w->name, w->namelen);
	proto_put_attr(e, rep);
	proto_put_u64(e, PROTO_RENAME_NOREPLACE);
	(void)net_run(&h->net, &r, 1);
	req_release(&r);
}

static bool _in_ancestry(const struct ebb_walk *w, uint64_t ino)
{
	for (unsigned i = 0; w->anc && i < w->nanc; i++)
		if (w->anc[i] == ino)
			return true;
	return w->parent == ino;
}

ebb_err meta_rename(ebb_t *h, const struct ebb_walk *wf,
		    const struct ebb_walk *wt, unsigned flags)
{
	struct ebb_attr src, dst;
	struct proto_attr rep;
	struct ebb_req r;
	struct proto_enc *e;
	bool have_rep = false;
	unsigned nf, nt;
	ebb_err err;

	if (flags & ~PROTO_RENAME_NOREPLACE)
		return EBB_EINVAL; /* RENAME_EXCHANGE, RENAME_WHITEOUT */
	if (wf->is_root || wt->is_root)
		return EBB_EBUSY;
	if ((err = meta_dir_access(h, wf)) != EBB_OK ||
	    (err = meta_dir_access(h, wt)) != EBB_OK)
		return err;
	if ((err = path_lookup(h, wf->parent, wf->name, wf->namelen, &src)) !=
	    EBB_OK)
		return err;
	if ((wf->trailing_slash || wt->trailing_slash) && !S_ISDIR(src.a.mode))
		return EBB_ENOTDIR;
	if (wf->parent == wt->parent && wf->namelen == wt->namelen &&
	    memcmp(wf->name, wt->name, wf->namelen) == 0)
		/* Onto itself: nothing to do (NOREPLACE: it exists). */
		return (flags & PROTO_RENAME_NOREPLACE) ? EBB_EEXIST : EBB_OK;
	if (S_ISDIR(src.a.mode)) {
		if (_in_ancestry(wt, src.a.ino))
			return EBB_EINVAL; /* into its own subtree */
		err = path_lookup(h, wt->parent, wt->name, wt->namelen, &dst);
		if (err == EBB_OK) {
			if (flags & PROTO_RENAME_NOREPLACE)
				err = EBB_EEXIST;
			else if (!S_ISDIR(dst.a.mode))
				err = EBB_ENOTDIR;
			else if (dst.a.ino != src.a.ino)
				err = _check_empty(h, dst.a.ino);
		} else if (err == EBB_ENOENT) {
			err = EBB_OK;
		}
		if (err != EBB_OK)
			return err;
	}
	nf = _dnode(h, wf->parent, wf->name, wf->namelen);
	nt = _dnode(h, wt->parent, wt->name, wt->namelen);
	dcache_forget(h, wf->parent, wf->name, wf->namelen);
	dcache_forget(h, wt->parent, wt->name, wt->namelen);
	if (nf == nt) {
		struct proto_attr moved;

		e = req_begin(&h->net, &r, nf, PROTO_OP_RENAME_LOCAL, 6);
		proto_put_cstr(e, h->id);
		proto_put_u64(e, wf->parent);
		proto_put_str(e, wf->name, wf->namelen);
		proto_put_u64(e, wt->parent);
		proto_put_str(e, wt->name, wt->namelen);
		proto_put_u64(e, flags);
		err = net_run(&h->net, &r, 1);
		if (err == EBB_OK && (!proto_get_attr(&r.dec, &moved) ||
				      !proto_get_attr_or_nil(&r.dec, &rep,
							     &have_rep)))
			err = EBB_EPROTO;
		if (err == EBB_OK)
			src.a.ino = moved.ino;
		if (have_rep)
			attr_own(&dst, &rep);
		req_release(&r);
		if (err != EBB_OK)
			return err;
	} else {
		/* Insert at the target first: a crash between the steps
		 * leaves two names, never none. */
		e = req_begin(&h->net, &r, nt, PROTO_OP_LINK_INSERT, 5);
		proto_put_cstr(e, h->id);
		proto_put_u64(e, wt->parent);
		proto_put_str(e, wt->name, wt->namelen);
		proto_put_attr(e, &src.a);
		proto_put_u64(e, flags);
		err = net_run(&h->net, &r, 1);
		if (err == EBB_OK &&
		    !proto_get_attr_or_nil(&r.dec, &rep, &have_rep))
			err = EBB_EPROTO;
		if (have_rep)
			attr_own(&dst, &rep);
		req_release(&r);
		if (err != EBB_OK)
			return err;
		if (have_rep && dst.a.ino == src.a.ino)
			/* The target is another link of the same inode:
			 * POSIX says do nothing, both names stay. */
			return EBB_OK;
		e = req_begin(&h->net, &r, nf, PROTO_OP_UNLINK, 5);
		proto_put_cstr(e, h->id);
		proto_put_u64(e, wf->parent);
		proto_put_str(e, wf->name, wf->namelen);
		proto_put_u64(e, src.a.ino);
		proto_put_u64(e, PROTO_UNLINK_ANY_TYPE);
		err = _attr_call(h, &r, NULL);
		if (err == EBB_ESTALE) {
			/* A concurrent rename replaced the source name after
			 * our LOOKUP: our inode is gone from there already
			 * and lives at the target, as if ours came first. */
			err = EBB_OK;
		} else if (err != EBB_OK) {
			/* The source vanished meanwhile (or its node failed):
			 * take the inserted name back, best effort. */
			_undo_insert(h, nt, wt, &src.a,
				     have_rep ? &dst.a : NULL);
			return err;
		}
	}
	inode_moved(h, src.a.ino, wt->parent, wt->name, wt->namelen);
	if (src.a.mode & PROTO_MODE_LINKED)
		/* The pointer moved; the inode's ctime is in its record
		 * (SETATTR with no mask bit sets only ctime). */
		(void)link_setattr(h, src.a.ino, 0, 0, 0, 0, 0, 0, 0, NULL);
	if (have_rep && dst.a.ino != src.a.ino &&
	    (dst.a.mode & PROTO_MODE_LINKED))
		/* It replaced a name of a linked inode. */
		(void)link_drop(h, dst.a.ino);
	else if (have_rep && dst.a.ino != src.a.ino && S_ISREG(dst.a.mode) &&
		 !inode_orphan(h, &dst.a))
		(void)data_remove(h, dst.a.ino, dst.a.size);
	if (have_rep && dst.a.ino != src.a.ino)
		_xattrs_gone(h, &dst.a, -1);
	return EBB_OK;
}

int ebb_rename(ebb_t *h, const char *from, const char *to)
{
	struct ebb_walk wf = {0}, wt = {0};
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	if ((err = walk(h, from, WALK_PARENT, &wf)) == EBB_OK &&
	    (err = walk(h, to, WALK_PARENT, &wt)) == EBB_OK)
		err = meta_rename(h, &wf, &wt, 0);
	walk_free(&wf);
	walk_free(&wt);
	return err == EBB_OK ? 0 : fail_errno(err);
}

/* ---- attributes ----------------------------------------------------------- */

ebb_err meta_setattr(ebb_t *h, const struct ebb_walk *w, uint32_t mask,
		     uint32_t mode, uint32_t uid, uint32_t gid, uint64_t size,
		     int64_t atime, int64_t mtime, struct ebb_attr *out)
{
	struct ebb_req r;
	struct proto_enc *e;
	struct ebb_attr at;
	ebb_err err;

	if (mask & PROTO_SET_SIZE) {
		/* Data first: a chmod in the same call may take away the
		 * write permission the truncate needs. */
		if (w->exists && S_ISDIR(w->attr.a.mode))
			return EBB_EISDIR;
		if (w->exists && !S_ISREG(w->attr.a.mode))
			return EBB_EINVAL;
		if (size > (1ull << 44))
			return EBB_EFBIG;
		if (!w->nocheck && w->exists &&
		    (err = path_access(h, &w->attr.a, W_OK)) != EBB_OK)
			return err;
		err = file_truncate(h, w->parent, w->name, w->namelen,
				    w->exists ? w->attr.a.ino : 0, size, &at);
		if (err != EBB_OK)
			return err;
		mask &= ~PROTO_SET_SIZE;
		if (!mask) {
			if (out)
				attr_own(out, &at.a);
			return EBB_OK;
		}
	}
	if ((mask & (PROTO_SET_ATIME | PROTO_SET_MTIME | PROTO_SET_ATIME_NOW |
		     PROTO_SET_MTIME_NOW)) &&
	    (err = file_publish_dentry(h, w->parent, w->name, w->namelen)) !=
	    EBB_OK)
		return err;
	if (!w->exists || S_ISDIR(w->attr.a.mode))
		dcache_forget(h, w->parent, w->name, w->namelen);
	e = req_begin(&h->net, &r, _dnode(h, w->parent, w->name, w->namelen),
		      PROTO_OP_SETATTR, 10);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, w->parent);
	proto_put_str(e, w->name, w->namelen);
	proto_put_u64(e, mask);
	proto_put_u64(e, mode);
	proto_put_u64(e, uid);
	proto_put_u64(e, gid);
	proto_put_u64(e, 0);
	proto_put_i64(e, atime);
	proto_put_i64(e, mtime);
	if ((err = _attr_call(h, &r, &at)) == EBB_OK &&
	    (at.a.mode & PROTO_MODE_LINKED)) {
		/* A pointer: the attributes are the record's at its home.
		 * The file may be open and written here under another of its
		 * names, which file_publish_dentry did not match: those
		 * writes are published first, by number, else the close
		 * after this would put the write time back over a time set
		 * here (the record's size update merges by max). */
		if (mask & (PROTO_SET_ATIME | PROTO_SET_MTIME |
			    PROTO_SET_ATIME_NOW | PROTO_SET_MTIME_NOW))
			inode_publish_ino(h, at.a.ino);
		err = link_setattr(h, at.a.ino, mask, mode, uid, gid, 0, atime,
				   mtime, &at);
	}
	if (err == EBB_OK && out)
		attr_own(out, &at.a);
	return err;
}

ebb_err meta_dir_touch(ebb_t *h, const struct ebb_walk *w, uint64_t ino,
			int64_t time_ns, struct ebb_attr *out)
{
	struct ebb_req r;
	struct proto_enc *e;
	ebb_err err;

	e = req_begin(&h->net, &r, _dnode(h, w->parent, w->name, w->namelen),
		      PROTO_OP_DIR_TOUCH, 5);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, w->parent);
	proto_put_str(e, w->name, w->namelen);
	proto_put_u64(e, ino);
	proto_put_i64(e, time_ns);
	err = _attr_call(h, &r, out);
	/* The directory cache must not keep the times from before. */
	dcache_forget(h, w->parent, w->name, w->namelen);
	return err;
}

/* SETATTR on what path names (following symlinks). */
static ebb_err _setattr(ebb_t *h, const char *path, uint32_t mask,
			uint32_t mode, uint32_t uid, uint32_t gid,
			int64_t atime, int64_t mtime)
{
	struct ebb_walk w;
	ebb_err err;

	if (!h)
		return EBB_EINVAL;
	if ((err = walk(h, path, WALK_FOLLOW, &w)) != EBB_OK)
		return err;
	err = meta_setattr(h, &w, mask, mode, uid, gid, 0, atime, mtime, NULL);
	walk_free(&w);
	return err;
}

int ebb_chmod(ebb_t *h, const char *path, mode_t mode)
{
	ebb_err err = _setattr(h, path, PROTO_SET_MODE, mode & 07777, 0, 0, 0,
			       0);
	return err == EBB_OK ? 0 : fail_errno(err);
}

int ebb_chown(ebb_t *h, const char *path, uid_t uid, gid_t gid)
{
	uint32_t mask = 0;
	ebb_err err;

	if (uid != (uid_t)-1)
		mask |= PROTO_SET_UID;
	if (gid != (gid_t)-1)
		mask |= PROTO_SET_GID;
	err = _setattr(h, path, mask, 0, mask & PROTO_SET_UID ? uid : 0,
		       mask & PROTO_SET_GID ? gid : 0, 0, 0);
	return err == EBB_OK ? 0 : fail_errno(err);
}

static bool _time_arg(const struct timespec *t, uint32_t set, uint32_t now,
		      uint32_t *mask, int64_t *ns)
{
	if (!t || t->tv_nsec == UTIME_NOW) {
		*mask |= now;
		return true;
	}
	if (t->tv_nsec == UTIME_OMIT)
		return true;
	if (t->tv_nsec < 0 || t->tv_nsec >= 1000000000)
		return false;
	*mask |= set;
	*ns = (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
	return true;
}

int ebb_utimens(ebb_t *h, const char *path, const struct timespec times[2])
{
	uint32_t mask = 0;
	int64_t at = 0, mt = 0;
	ebb_err err;

	if (!_time_arg(times ? &times[0] : NULL, PROTO_SET_ATIME,
		       PROTO_SET_ATIME_NOW, &mask, &at) ||
	    !_time_arg(times ? &times[1] : NULL, PROTO_SET_MTIME,
		       PROTO_SET_MTIME_NOW, &mask, &mt))
		return fail_errno(EBB_EINVAL);
	err = _setattr(h, path, mask, 0, 0, 0, at, mt);
	return err == EBB_OK ? 0 : fail_errno(err);
}

int ebb_truncate(ebb_t *h, const char *path, off_t length)
{
	struct ebb_walk w;
	ebb_err err;

	if (!h || length < 0)
		return fail_errno(EBB_EINVAL);
	if ((uint64_t)length > (1ull << 44))
		return fail_errno(EBB_EFBIG);
	if ((err = walk(h, path, WALK_FOLLOW, &w)) != EBB_OK)
		return fail_errno(err);
	err = meta_setattr(h, &w, PROTO_SET_SIZE, 0, 0, 0, (uint64_t)length, 0,
			   0, NULL);
	walk_free(&w);
	return err == EBB_OK ? 0 : fail_errno(err);
}

/* ---- statfs --------------------------------------------------------------- */

int ebb_statfs(ebb_t *h, struct ebb_statfs *st)
{
	struct ebb_req *reqs;
	uint64_t stripe = 0;
	ebb_err err;

	if (!h || !st)
		return fail_errno(EBB_EINVAL);
	if (!(reqs = calloc(h->net.n, sizeof(*reqs))))
		return fail_errno(EBB_ENOMEM);
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < h->net.n; i++) {
		struct proto_enc *e = req_begin(&h->net, &reqs[i], i,
						PROTO_OP_STATFS, 1);
		proto_put_cstr(e, h->id);
	}
	err = net_run(&h->net, reqs, h->net.n);
	for (unsigned i = 0; i < h->net.n; i++) {
		uint64_t cap = 0, used = 0, files = 0;

		if (err == EBB_OK && (!proto_get_u64(&reqs[i].dec, &cap) ||
				      !proto_get_u64(&reqs[i].dec, &used) ||
				      !proto_get_u64(&reqs[i].dec, &files)))
			err = EBB_EPROTO;
		st->capacity += cap;
		st->used += used;
		st->files += files;
		req_release(&reqs[i]);
	}
	free(reqs);
	if (err == EBB_OK)
		err = attach_stripe(h, &stripe);
	if (err != EBB_OK)
		return fail_errno(err);
	st->free = st->capacity > st->used ? st->capacity - st->used : 0;
	st->bsize = (uint32_t)stripe;
	st->namemax = PROTO_MAX_NAME;
	st->nodes = h->net.n;
	return 0;
}
