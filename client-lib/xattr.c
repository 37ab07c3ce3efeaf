/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb extended attributes: ebb_{set,get,list,remove}xattr[_ino].
 *
 * DESIGN: an inode's xattrs live on its home node (the rank in its top
 * bits, bbd/bbd_xattr.c), so each call is one request to that node, found
 * from the inode number alone: no dentry is involved, and a rename or a
 * second name changes nothing.  Values and name lists travel as the
 * frame's raw payload; a get or list reply lands straight in the caller's
 * buffer.  The checks Linux's system calls make before a file system sees
 * the call (name length, value size, flags) are made here too, with the
 * same errno values, so that a raw libebb caller gets what setxattr(2)
 * would give; the namespace rules are bbd's.
 */
#include "config.h"

#include <string.h>

#include "ebb_int.h"

/* One request with an optional payload; waits for it (as net_run). */
static ebb_err _run1(ebb_t *h, struct ebb_req *r, const void *payload,
		     size_t plen)
{
	struct ebb_waiter w;
	bool to = false;
	ebb_err err;

	waiter_init(&w);
	net_issue(&h->net, &w, r, payload, plen);
	if (!waiter_next(&w, h->net.cfg.timeout_ms, &to) && to)
		waiter_cancel(&w, r, 1);
	err = r->status;
	if (err == EBB_OK && to)
		err = EBB_ETIMEDOUT;
	waiter_fini(&w);
	return err;
}

/* The checks on a name. */
static ebb_err _name(const char *name, size_t *len)
{
	if (!name)
		return EBB_EINVAL;
	*len = strlen(name);
	/* as setxattr(2): empty or longer than XATTR_NAME_MAX */
	if (*len == 0 || *len > PROTO_XATTR_NAME_MAX)
		return EBB_ERANGE;
	return EBB_OK;
}

static ebb_err _set(ebb_t *h, uint64_t ino, const char *name,
		    const void *value, size_t size, int flags)
{
	struct ebb_req r;
	struct proto_enc *e;
	unsigned node;
	size_t len;
	ebb_err err;

	if ((err = inode_home(h, ino, &node)) || (err = _name(name, &len)))
		return err;
	if (flags & ~(int)(PROTO_XATTR_CREATE | PROTO_XATTR_REPLACE))
		return EBB_EINVAL;
	if (size > PROTO_XATTR_SIZE_MAX)
		return EBB_E2BIG;
	if (size && !value)
		return EBB_EINVAL;
	e = req_begin(&h->net, &r, node, PROTO_OP_SETXATTR, 4);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, ino);
	proto_put_str(e, name, len);
	proto_put_u64(e, (uint64_t)flags);
	err = _run1(h, &r, value, size);
	req_release(&r);
	return err;
}

/* GETXATTR (name) or LISTXATTR (name NULL): the length, the bytes in buf. */
static ebb_err _get(ebb_t *h, uint64_t ino, const char *name, void *buf,
		    size_t size, size_t *out)
{
	struct ebb_req r;
	struct proto_enc *e;
	uint64_t n = 0;
	unsigned node;
	size_t len = 0;
	ebb_err err;

	if ((err = inode_home(h, ino, &node)) ||
	    (name && (err = _name(name, &len))))
		return err;
	/* as getxattr(2)/listxattr(2): no larger buffer is ever needed */
	if (size > PROTO_XATTR_SIZE_MAX)
		size = PROTO_XATTR_SIZE_MAX;
	if (size && !buf)
		return EBB_EINVAL;
	e = req_begin(&h->net, &r, node,
		      name ? PROTO_OP_GETXATTR : PROTO_OP_LISTXATTR,
		      name ? 4 : 3);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, ino);
	if (name)
		proto_put_str(e, name, len);
	proto_put_u64(e, size);
	r.rbuf = buf;
	r.rcap = size;
	err = _run1(h, &r, NULL, 0);
	if (err == EBB_OK && !proto_get_u64(&r.dec, &n))
		err = EBB_EPROTO;
	/* a good reply carries the bytes it announces, or none if size 0 */
	if (err == EBB_OK && (n > PROTO_XATTR_SIZE_MAX ||
			      (size ? n > size || r.plen != n : r.plen != 0)))
		err = EBB_EPROTO;
	req_release(&r);
	if (err == EBB_OK)
		*out = (size_t)n;
	return err;
}

static ebb_err _remove(ebb_t *h, uint64_t ino, const char *name)
{
	struct ebb_req r;
	struct proto_enc *e;
	unsigned node;
	size_t len;
	ebb_err err;

	if ((err = inode_home(h, ino, &node)) || (err = _name(name, &len)))
		return err;
	e = req_begin(&h->net, &r, node, PROTO_OP_REMOVEXATTR, 3);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, ino);
	proto_put_str(e, name, len);
	err = _run1(h, &r, NULL, 0);
	req_release(&r);
	return err;
}

/* ---- inode calls -------------------------------------------------------- */

int ebb_setxattr_ino(ebb_t *h, uint64_t ino, const char *name,
		     const void *value, size_t size, int flags)
{
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	err = _set(h, ino, name, value, size, flags);
	return err == EBB_OK ? 0 : fail_errno(err);
}

ssize_t ebb_getxattr_ino(ebb_t *h, uint64_t ino, const char *name, void *buf,
			 size_t size)
{
	size_t n = 0;
	ebb_err err;

	if (!h || !name)
		return fail_errno(EBB_EINVAL);
	err = _get(h, ino, name, buf, size, &n);
	return err == EBB_OK ? (ssize_t)n : fail_errno(err);
}

ssize_t ebb_listxattr_ino(ebb_t *h, uint64_t ino, char *list, size_t size)
{
	size_t n = 0;
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	err = _get(h, ino, NULL, list, size, &n);
	return err == EBB_OK ? (ssize_t)n : fail_errno(err);
}

int ebb_removexattr_ino(ebb_t *h, uint64_t ino, const char *name)
{
	ebb_err err;

	if (!h)
		return fail_errno(EBB_EINVAL);
	err = _remove(h, ino, name);
	return err == EBB_OK ? 0 : fail_errno(err);
}

/* ---- path calls (symlinks followed, as setxattr(2) ...) ------------------ */

static ebb_err _path_ino(ebb_t *h, const char *path, uint64_t *ino)
{
	struct ebb_walk w;
	ebb_err err;

	if (!h)
		return EBB_EINVAL;
	if ((err = walk(h, path, WALK_FOLLOW, &w)) != EBB_OK)
		return err;
	*ino = w.attr.a.ino;
	walk_free(&w);
	return EBB_OK;
}

int ebb_setxattr(ebb_t *h, const char *path, const char *name,
		 const void *value, size_t size, int flags)
{
	uint64_t ino = 0;
	ebb_err err = _path_ino(h, path, &ino);

	if (err == EBB_OK)
		err = _set(h, ino, name, value, size, flags);
	return err == EBB_OK ? 0 : fail_errno(err);
}

ssize_t ebb_getxattr(ebb_t *h, const char *path, const char *name, void *buf,
		     size_t size)
{
	uint64_t ino = 0;
	size_t n = 0;
	ebb_err err = name ? _path_ino(h, path, &ino) : EBB_EINVAL;

	if (err == EBB_OK)
		err = _get(h, ino, name, buf, size, &n);
	return err == EBB_OK ? (ssize_t)n : fail_errno(err);
}

ssize_t ebb_listxattr(ebb_t *h, const char *path, char *list, size_t size)
{
	uint64_t ino = 0;
	size_t n = 0;
	ebb_err err = _path_ino(h, path, &ino);

	if (err == EBB_OK)
		err = _get(h, ino, NULL, list, size, &n);
	return err == EBB_OK ? (ssize_t)n : fail_errno(err);
}

int ebb_removexattr(ebb_t *h, const char *path, const char *name)
{
	uint64_t ino = 0;
	ebb_err err = _path_ino(h, path, &ino);

	if (err == EBB_OK)
		err = _remove(h, ino, name);
	return err == EBB_OK ? 0 : fail_errno(err);
}
