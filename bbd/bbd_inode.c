/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd hard links: inode records on the inode's home node and the handlers
 * of INODE_* and DENT_TO_PTR (docs/internals/hardlinks.md has the design,
 * docs/protocol.md the operations).
 *
 * DESIGN: a file with one name keeps its attributes inline in its dentry
 * (bbd_meta.c).  From its second name they live here, in the instance's
 * LMDB database "inodes" on its home node (rank ino >> 48), keyed by the
 * 8-byte big-endian inode number, in the same layout as a dentry's value;
 * its names then hold pointers.  Each handler is one transaction of the
 * same environment as the dentries, so LMDB serialises them with every
 * other metadata change on this node.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bbd_int.h"
#include "bbd_meta_int.h"
#include "log.h"

/* ---- hard links: inode records on the home node ----------------------------
 * docs/internals/hardlinks.md.  A record is the inode's attributes with
 * the real nlink, stored without PROTO_MODE_LINKED and replied with it. */

/* Is ino an inode this node may hold a record of?  EXDEV: its home is
 * another node; EINVAL: no inode a record is ever made for. */
static ebb_err _rec_ino_check(struct bbd_req *r, uint64_t ino)
{
	uint64_t rank = ino >> PROTO_INO_RANK_SHIFT;

	if ((ino & ((1ull << PROTO_INO_RANK_SHIFT) - 1)) < BBD_FIRST_INO)
		return bbd_req_fail(r, EBB_EINVAL, "inode %llu has no record",
				    (unsigned long long)ino);
	if (rank != r->inst->rank)
		return bbd_req_fail(r, EBB_EXDEV,
				    "inode %llu lives on node %llu, not %u",
				    (unsigned long long)ino,
				    (unsigned long long)rank, r->inst->rank);
	return EBB_OK;
}

static size_t _rec_key(uint8_t k[8], uint64_t ino)
{
	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(ino >> (56 - 8 * i));
	return 8;
}

/* The record of ino: EBB_OK, ENOENT (status set) or EIO. */
static ebb_err _rec_get(struct bbd_req *r, MDB_txn *txn, uint64_t ino,
			struct dent *d)
{
	uint8_t kb[8];
	MDB_val k = {_rec_key(kb, ino), kb}, v;
	int rc = mdb_get(txn, r->inst->dbi_inodes, &k, &v);

	if (rc == MDB_NOTFOUND)
		return bbd_req_fail(r, EBB_ENOENT, "no inode record %llu",
				    (unsigned long long)ino);
	if (rc != 0)
		return meta_fail(r, rc, "get inode");
	if (!meta_attr_unpack(&v, d) || (d->a.mode & PROTO_MODE_LINKED) ||
	    d->a.ino != ino)
		return bbd_req_fail(r, EBB_EIO, "corrupt inode record %llu",
				    (unsigned long long)ino);
	return EBB_OK;
}

static ebb_err _rec_put(struct bbd_req *r, MDB_txn *txn, struct proto_attr *a)
{
	uint8_t kb[8], vb[ATTR_FIXED + PROTO_MAX_TARGET];
	MDB_val k = {_rec_key(kb, a->ino), kb}, v;
	int rc;

	a->mode &= ~PROTO_MODE_LINKED;
	v.mv_size = meta_attr_pack(vb, a);
	v.mv_data = vb;
	rc = mdb_put(txn, r->inst->dbi_inodes, &k, &v, 0);
	return rc ? meta_fail(r, rc, "put inode") : EBB_OK;
}

static ebb_err _rec_del(struct bbd_req *r, MDB_txn *txn, uint64_t ino)
{
	uint8_t kb[8];
	MDB_val k = {_rec_key(kb, ino), kb};
	int rc = mdb_del(txn, r->inst->dbi_inodes, &k, NULL);

	return rc ? meta_fail(r, rc, "del inode") : EBB_OK;
}

/* Reply a record's attributes, marked linked. */
static void _put_rec(struct bbd_req *r, const struct proto_attr *a)
{
	struct proto_attr m = *a;

	m.mode |= PROTO_MODE_LINKED;
	meta_put_attr(r, &m);
}

ebb_err bbd_op_inode_get(struct bbd_req *r)
{
	uint64_t ino = 0;
	MDB_txn *txn = NULL;
	struct dent d;

	proto_get_u64(&r->dec, &ino);
	if (bbd_req_args(r) || _rec_ino_check(r, ino) ||
	    meta_txn(r, MDB_RDONLY, &txn) || _rec_get(r, txn, ino, &d))
		goto out;
	_put_rec(r, &d.a);
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

ebb_err bbd_op_inode_setattr(struct bbd_req *r)
{
	uint64_t ino = 0, size = 0;
	uint32_t mask = 0, mode = 0, uid = 0, gid = 0;
	int64_t atime = 0, mtime = 0;
	MDB_txn *txn = NULL;
	struct dent d;

	proto_get_u64(&r->dec, &ino);
	proto_get_u32(&r->dec, &mask);
	proto_get_u32(&r->dec, &mode);
	proto_get_u32(&r->dec, &uid);
	proto_get_u32(&r->dec, &gid);
	proto_get_u64(&r->dec, &size);
	proto_get_i64(&r->dec, &atime);
	proto_get_i64(&r->dec, &mtime);
	if (bbd_req_args(r) || _rec_ino_check(r, ino))
		goto out;
	if (mask & ~0xffu) {
		bbd_req_fail(r, EBB_EINVAL,
			     "unknown INODE_SETATTR mask bits 0x%x",
			     mask & ~0xffu);
		goto out;
	}
	if (meta_txn(r, 0, &txn) || _rec_get(r, txn, ino, &d) ||
	    meta_setattr_apply(r, &d.a, mask, mode, uid, gid, size, atime,
			       mtime) ||
	    _rec_put(r, txn, &d.a) || meta_commit(r, &txn))
		goto out;
	_put_rec(r, &d.a);
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

ebb_err bbd_op_inode_size_update(struct bbd_req *r)
{
	uint64_t ino = 0, size = 0;
	uint32_t flags = 0;
	int64_t mtime = 0;
	MDB_txn *txn = NULL;
	struct dent d;

	proto_get_u64(&r->dec, &ino);
	proto_get_u64(&r->dec, &size);
	proto_get_i64(&r->dec, &mtime);
	proto_get_u32(&r->dec, &flags);
	if (bbd_req_args(r) || _rec_ino_check(r, ino) || meta_txn(r, 0, &txn) ||
	    _rec_get(r, txn, ino, &d))
		goto out;
	if (!S_ISREG(d.a.mode)) {
		bbd_req_fail(r, EBB_EINVAL, "size of a non-file");
		goto out;
	}
	if (meta_size_merge(&d.a, size, mtime) &&
	    (_rec_put(r, txn, &d.a) || meta_commit(r, &txn)))
		goto out;
	/* On an I/O thread when SYNC is set, as SIZE_UPDATE. */
	if ((flags & PROTO_SIZE_SYNC) && meta_sync(r))
		goto out;
	_put_rec(r, &d.a);
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

/* inst, attr, flags -> attr.  No record: create it from attr with nlink 1
 * (the name about to become the first pointer), unless MERGE (ENOENT).  A
 * record: the attribute set with the newer ctime wins whole, the nlink
 * stays (docs/internals/hardlinks.md "Merge rule"). */
ebb_err bbd_op_inode_adopt(struct bbd_req *r)
{
	struct proto_attr a;
	uint32_t flags = 0;
	MDB_txn *txn = NULL;
	struct dent d;
	ebb_err e;

	memset(&a, 0, sizeof(a));
	proto_get_attr(&r->dec, &a);
	proto_get_u32(&r->dec, &flags);
	if (bbd_req_args(r) || _rec_ino_check(r, a.ino))
		goto out;
	a.mode &= ~PROTO_MODE_LINKED;
	if (flags & ~PROTO_ADOPT_MERGE) {
		bbd_req_fail(r, EBB_EINVAL, "unknown INODE_ADOPT flags 0x%x",
			     flags & ~PROTO_ADOPT_MERGE);
		goto out;
	}
	if ((a.mode & ~(uint32_t)(S_IFMT | 07777)) ||
	    (a.mode & S_IFMT) == 0 || S_ISDIR(a.mode) ||
	    S_ISLNK(a.mode) != (a.target != NULL)) {
		bbd_req_fail(r, EBB_EINVAL, "INODE_ADOPT of a %s",
			     S_ISDIR(a.mode) ? "directory" : "bad attr");
		goto out;
	}
	if (meta_txn(r, 0, &txn))
		goto out;
	e = _rec_get(r, txn, a.ino, &d);
	if (e == EBB_OK) {
		if (a.ctime_ns > d.a.ctime_ns) {
			uint32_t nlink = d.a.nlink;

			a.parent = d.a.parent;
			d.a = a;
			d.a.nlink = nlink;
			if (a.target) {
				memcpy(d.target, a.target, a.target_len);
				d.a.target = d.target;
			}
		}
	} else if (e == EBB_ENOENT && !(flags & PROTO_ADOPT_MERGE)) {
		d.a = a;
		d.a.nlink = 1;
	} else {
		goto out;
	}
	r->status = EBB_EIO;
	r->detail[0] = '\0';
	if (_rec_put(r, txn, &d.a) || meta_commit(r, &txn))
		goto out;
	_put_rec(r, &d.a);
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

/* INODE_LINK (delta +1) and INODE_UNLINK (-1): nlink and ctime. */
static ebb_err _rec_nlink(struct bbd_req *r, int delta)
{
	uint64_t ino = 0;
	MDB_txn *txn = NULL;
	bool deleted = false;
	struct dent d;
	int errnum;

	proto_get_u64(&r->dec, &ino);
	if (bbd_req_args(r) || _rec_ino_check(r, ino) || meta_txn(r, 0, &txn) ||
	    _rec_get(r, txn, ino, &d))
		goto out;
	if (delta > 0 && d.a.nlink >= BBD_MAX_NLINK) {
		bbd_req_fail(r, EBB_EMLINK, "inode %llu has %u links",
			     (unsigned long long)ino, d.a.nlink);
		goto out;
	}
	d.a.nlink = delta > 0 ? d.a.nlink + 1 : d.a.nlink ? d.a.nlink - 1 : 0;
	d.a.ctime_ns = bbd_now_ns();
	deleted = d.a.nlink == 0;
	if (deleted ? _rec_del(r, txn, ino) : _rec_put(r, txn, &d.a))
		goto out;
	/* The last name of a symlink or special file went: nothing else
	 * will drop its xattrs (a regular file's go with its data, at the
	 * REMOVE the client sends, maybe after the last close). */
	if (deleted && !S_ISREG(d.a.mode) &&
	    (errnum = bbd_xattr_drop(r->inst, txn, ino)) != 0) {
		meta_fail(r, errnum, "xattr drop");
		goto out;
	}
	if (meta_commit(r, &txn))
		goto out;
	_put_rec(r, &d.a);
	if (delta < 0) {
		proto_put_bool(&r->res, deleted);
		r->nres++;
	}
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

ebb_err bbd_op_inode_link(struct bbd_req *r)
{
	return _rec_nlink(r, 1);
}

ebb_err bbd_op_inode_unlink(struct bbd_req *r)
{
	return _rec_nlink(r, -1);
}

/* inst, parent, name, ino -> attr, converted.  The dentry holding ino
 * inline becomes a pointer, in one transaction; the reply has what it
 * held (converted) or, already a pointer, the pointer (not converted). */
ebb_err bbd_op_dent_to_ptr(struct bbd_req *r)
{
	uint64_t parent = 0, ino = 0;
	const char *name = NULL;
	uint32_t len = 0;
	MDB_txn *txn = NULL;
	struct proto_attr p;
	struct dent d;
	bool conv = false;

	proto_get_u64(&r->dec, &parent);
	proto_get_str(&r->dec, &name, &len, PROTO_MAX_PATH);
	proto_get_u64(&r->dec, &ino);
	if (bbd_req_args(r) || meta_check_name(r, parent, name, len, false) ||
	    meta_txn(r, 0, &txn) ||
	    meta_dent_get(r, txn, parent, name, len, &d))
		goto out;
	if (d.a.ino != ino) {
		bbd_req_fail(r, EBB_ESTALE, "'%.*s' holds inode %llu",
			     (int)len, name, (unsigned long long)d.a.ino);
		goto out;
	}
	if (S_ISDIR(d.a.mode)) {
		bbd_req_fail(r, EBB_EPERM, "'%.*s' is a directory", (int)len,
			     name);
		goto out;
	}
	if (!(d.a.mode & PROTO_MODE_LINKED)) {
		memset(&p, 0, sizeof(p));
		p.ino = d.a.ino;
		p.parent = parent;
		p.mode = (d.a.mode & S_IFMT) | PROTO_MODE_LINKED;
		if (meta_dent_put(r, txn, parent, name, len, &p) ||
		    meta_commit(r, &txn))
			goto out;
		conv = true;
	}
	meta_put_attr(r, &d.a);
	proto_put_bool(&r->res, conv);
	r->nres++;
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}
