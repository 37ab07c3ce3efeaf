/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb inode-relative calls: (directory inode, name) instead of a path.
 *
 * DESIGN: ebb's namespace is keyed by (parent inode, name), so a caller
 * that already knows a directory's inode (FUSE: the kernel hands out inode
 * numbers and asks "name in directory N") needs no path walk at all: each
 * call here is at_dentry() (argument checks, no RPC) plus the same meta_*,
 * file_open_dentry or dir_open_ino that the path calls use after walk().
 * So every operation exists once, and a FUSE request costs exactly the
 * RPCs of the operation itself.
 *
 * What the at-calls leave to their caller: permission bits (w.nocheck; the
 * FUSE kernel checks them with default_permissions, against the real
 * caller rather than the mounting process), symlinks (never followed:
 * ELOOP on open, like O_NOFOLLOW; the kernel resolves them), and a rename's
 * subtree check, which needs the target directory's ancestry: the caller
 * passes it (ebb-fuse knows every ancestor of an inode it handed out).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ebb_int.h"

ebb_err at_dentry(uint64_t dir, const char *name, struct ebb_walk *w)
{
	size_t len;
	ebb_err err;

	memset(w, 0, sizeof(*w));
	if (!name)
		return EBB_EINVAL;
	len = strlen(name);
	w->nocheck = true;
	if (dir == PROTO_ROOT_PARENT) {
		if (len)
			return EBB_EINVAL;
		w->is_root = true;
		return EBB_OK;
	}
	if ((err = proto_check_name(name, len)) != EBB_OK)
		return err;
	w->parent = dir;
	w->namelen = len;
	memcpy(w->name, name, len + 1);
	return EBB_OK;
}

int ebb_lookupat(ebb_t *h, uint64_t dir, const char *name,
		 struct ebb_stat *st)
{
	struct ebb_walk w;
	struct ebb_attr at;
	ebb_err err;

	if (!h || !st)
		return fail_errno(EBB_EINVAL);
	if ((err = at_dentry(dir, name, &w)) != EBB_OK ||
	    (err = path_lookup(h, w.parent, w.name, w.namelen, &at)) != EBB_OK)
		return fail_errno(err);
	attr_to_stat_known(h, &at.a, st);
	return 0;
}

/* The *_owner calls: a new inode is uid:gid's (o NULL: the caller's). */
struct owner {
	uid_t uid;
	gid_t gid;
};

static void _set_owner(struct ebb_walk *w, const struct owner *o)
{
	if (!o)
		return;
	w->owner = true;
	w->ouid = (uint32_t)o->uid;
	w->ogid = (uint32_t)o->gid;
}

static ebb_file_t *_openat(ebb_t *h, uint64_t dir, const char *name,
			   int flags, mode_t mode, const struct owner *o,
			   struct ebb_stat *st)
{
	struct ebb_walk w;
	ebb_file_t *f = NULL;
	ebb_err err;

	if (!h) {
		fail_errno(EBB_EINVAL);
		return NULL;
	}
	if ((err = at_dentry(dir, name, &w)) == EBB_OK) {
		_set_owner(&w, o);
		err = file_open_dentry(h, &w, flags, mode, &f);
	}
	if (err != EBB_OK) {
		fail_errno(err);
		return NULL;
	}
	if (st)
		attr_to_stat_known(h, &w.attr.a, st);
	return f;
}

ebb_file_t *ebb_openat(ebb_t *h, uint64_t dir, const char *name, int flags,
		       mode_t mode, struct ebb_stat *st)
{
	return _openat(h, dir, name, flags, mode, NULL, st);
}

ebb_file_t *ebb_openat_owner(ebb_t *h, uint64_t dir, const char *name,
			     int flags, mode_t mode, uid_t uid, gid_t gid,
			     struct ebb_stat *st)
{
	struct owner o = {uid, gid};

	return _openat(h, dir, name, flags, mode, &o, st);
}

static int _mkdirat(ebb_t *h, uint64_t dir, const char *name, mode_t mode,
		    const struct owner *o, struct ebb_stat *st)
{
	struct ebb_walk w;
	struct ebb_attr at;
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	if ((err = at_dentry(dir, name, &w)) != EBB_OK)
		return fail_errno(err);
	_set_owner(&w, o);
	if ((err = meta_mkdir(h, &w, mode, &at)) != EBB_OK)
		return fail_errno(err);
	if (st)
		attr_to_stat(h, &at.a, st);
	return 0;
}

int ebb_mkdirat(ebb_t *h, uint64_t dir, const char *name, mode_t mode,
		struct ebb_stat *st)
{
	return _mkdirat(h, dir, name, mode, NULL, st);
}

int ebb_mkdirat_owner(ebb_t *h, uint64_t dir, const char *name, mode_t mode,
		      uid_t uid, gid_t gid, struct ebb_stat *st)
{
	struct owner o = {uid, gid};

	return _mkdirat(h, dir, name, mode, &o, st);
}

static int _symlinkat(ebb_t *h, const char *target, uint64_t dir,
		      const char *name, const struct owner *o,
		      struct ebb_stat *st)
{
	struct ebb_walk w;
	struct ebb_attr at;
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	if ((err = at_dentry(dir, name, &w)) != EBB_OK)
		return fail_errno(err);
	_set_owner(&w, o);
	if ((err = meta_symlink(h, &w, target, &at)) != EBB_OK)
		return fail_errno(err);
	if (st)
		attr_to_stat(h, &at.a, st);
	return 0;
}

int ebb_symlinkat(ebb_t *h, const char *target, uint64_t dir,
		  const char *name, struct ebb_stat *st)
{
	return _symlinkat(h, target, dir, name, NULL, st);
}

int ebb_symlinkat_owner(ebb_t *h, const char *target, uint64_t dir,
			const char *name, uid_t uid, gid_t gid,
			struct ebb_stat *st)
{
	struct owner o = {uid, gid};

	return _symlinkat(h, target, dir, name, &o, st);
}

static int _mknodat(ebb_t *h, uint64_t dir, const char *name, mode_t mode,
		    dev_t rdev, const struct owner *o, struct ebb_stat *st)
{
	struct ebb_walk w;
	struct ebb_attr at;
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	if ((err = at_dentry(dir, name, &w)) != EBB_OK)
		return fail_errno(err);
	_set_owner(&w, o);
	if ((err = meta_mknod(h, &w, mode, rdev, &at)) != EBB_OK)
		return fail_errno(err);
	if (st)
		attr_to_stat(h, &at.a, st);
	return 0;
}

int ebb_mknodat(ebb_t *h, uint64_t dir, const char *name, mode_t mode,
		dev_t rdev, struct ebb_stat *st)
{
	return _mknodat(h, dir, name, mode, rdev, NULL, st);
}

int ebb_mknodat_owner(ebb_t *h, uint64_t dir, const char *name, mode_t mode,
		      dev_t rdev, uid_t uid, gid_t gid, struct ebb_stat *st)
{
	struct owner o = {uid, gid};

	return _mknodat(h, dir, name, mode, rdev, &o, st);
}

int ebb_dirtouchat(ebb_t *h, uint64_t dir, const char *name, uint64_t ino,
		   const struct timespec *t, struct ebb_stat *st)
{
	struct ebb_walk w;
	struct ebb_attr at;
	ebb_err err;

	if (!h || !t || t->tv_nsec < 0 || t->tv_nsec >= 1000000000 || !ino)
		return fail_errno(EBB_EINVAL);
	if ((err = at_dentry(dir, name, &w)) != EBB_OK)
		return fail_errno(err);
	if ((err = meta_dir_touch(h, &w, ino, (int64_t)t->tv_sec * 1000000000 +
				  t->tv_nsec, &at)) != EBB_OK)
		return fail_errno(err);
	if (st)
		attr_to_stat(h, &at.a, st);
	return 0;
}

int ebb_unlinkat(ebb_t *h, uint64_t dir, const char *name)
{
	struct ebb_walk w;
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	if ((err = at_dentry(dir, name, &w)) != EBB_OK ||
	    (err = meta_unlink(h, &w)) != EBB_OK)
		return fail_errno(err);
	return 0;
}

int ebb_rmdirat(ebb_t *h, uint64_t dir, const char *name)
{
	struct ebb_walk w;
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	if ((err = at_dentry(dir, name, &w)) != EBB_OK ||
	    (err = meta_rmdir(h, &w)) != EBB_OK)
		return fail_errno(err);
	return 0;
}

int ebb_renameat(ebb_t *h, uint64_t odir, const char *oname, uint64_t ndir,
		 const char *nname, unsigned flags, const uint64_t *nanc,
		 unsigned nnanc)
{
	struct ebb_walk wf, wt;
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	if ((err = at_dentry(odir, oname, &wf)) != EBB_OK ||
	    (err = at_dentry(ndir, nname, &wt)) != EBB_OK)
		return fail_errno(err);
	/* Borrowed, never freed: at-walks are not walk_free()d. */
	wt.anc = (uint64_t *)nanc;
	wt.nanc = nanc ? nnanc : 0;
	if ((err = meta_rename(h, &wf, &wt, flags)) != EBB_OK)
		return fail_errno(err);
	return 0;
}

static int64_t _ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

int ebb_setattrat(ebb_t *h, uint64_t dir, const char *name, unsigned mask,
		  const struct ebb_stat *in, struct ebb_stat *out)
{
	struct ebb_walk w;
	struct ebb_attr at;
	ebb_err err;

	if (!h || !in || (mask & ~0xffu))
		return fail_errno(EBB_EINVAL);
	if ((mask & EBB_SET_ATIME && (in->atime.tv_nsec < 0 ||
				      in->atime.tv_nsec >= 1000000000)) ||
	    (mask & EBB_SET_MTIME && (in->mtime.tv_nsec < 0 ||
				      in->mtime.tv_nsec >= 1000000000)))
		return fail_errno(EBB_EINVAL);
	if ((err = at_dentry(dir, name, &w)) != EBB_OK)
		return fail_errno(err);
	err = meta_setattr(h, &w, mask, in->mode & 07777, in->uid, in->gid,
			   in->size, _ns(&in->atime), _ns(&in->mtime), &at);
	if (err != EBB_OK)
		return fail_errno(err);
	if (out)
		attr_to_stat_known(h, &at.a, out);
	return 0;
}

ssize_t ebb_readlinkat(ebb_t *h, uint64_t dir, const char *name, char *buf,
		       size_t size)
{
	struct ebb_walk w;
	struct ebb_attr at;
	size_t n;
	ebb_err err;

	if (!h || (!buf && size))
		return fail_errno(EBB_EINVAL);
	if ((err = at_dentry(dir, name, &w)) != EBB_OK ||
	    (err = path_lookup(h, w.parent, w.name, w.namelen, &at)) != EBB_OK)
		return fail_errno(err);
	if (!S_ISLNK(at.a.mode) || !at.a.target)
		return fail_errno(EBB_EINVAL);
	n = at.a.target_len < size ? at.a.target_len : size;
	memcpy(buf, at.target, n);
	return (ssize_t)n;
}

ebb_dir_t *ebb_opendir_ino(ebb_t *h, uint64_t dir)
{
	ebb_dir_t *d = NULL;
	ebb_err err;

	if (!h || dir == 0)
		err = EBB_EINVAL;
	else
		err = dir_open_ino(h, dir, &d);
	if (err != EBB_OK) {
		fail_errno(err);
		return NULL;
	}
	return d;
}
