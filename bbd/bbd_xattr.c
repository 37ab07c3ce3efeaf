/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd extended attributes: the "xattrs" database and its four handlers.
 *
 * DESIGN: an inode's extended attributes live on its home node (the rank
 * that created it, ino >> PROTO_INO_RANK_SHIFT, which also holds its stripe
 * 0), in the instance's LMDB environment, named database "xattrs": key =
 * the 8-byte big-endian inode followed by the attribute's full name
 * ("user.foo"), value = the raw bytes.  One inode's attributes are thus
 * contiguous and sorted by name, and they stay where they are when the
 * inode's names move (rename moves dentries, never inodes).  Values and
 * name lists travel as the frame's raw payload (up to 64 KiB each, more
 * than a msgpack header may hold).  The handlers run inline on the worker,
 * as the other metadata handlers do (one LMDB transaction each).
 *
 * Linux's rules (man 7 xattr), as ext4 applies them: a name needs the
 * "user." or "trusted." prefix and something after it (other known
 * namespaces "security.", "system.": EOPNOTSUPP, not stored; anything
 * else: EOPNOTSUPP as ext4 answers an unknown prefix); XATTR_CREATE on an
 * existing name EEXIST, XATTR_REPLACE or get/remove of a missing name
 * ENODATA, a reply buffer too small ERANGE, size 0 asks for the length.
 * Per inode at most BBD_XATTR_INODE_MAX bytes of names and values and a
 * name list of at most PROTO_XATTR_LIST_MAX bytes (ENOSPC beyond): ext4
 * without ea_inode holds ~4 KiB per inode, we hold any value up to
 * XATTR_SIZE_MAX (docs/semantics.md).  Who may set which namespace is the
 * kernel's business at the mount (trusted.* needs CAP_SYS_ADMIN there);
 * bbd serves only root and the instance owner, as for every request.
 *
 * An inode's attributes are dropped where its data is (bbd_xattr_drop):
 * UNLINK with DATA on the home node, REMOVE there, RMDIR there.  For a
 * directory or symlink removed on another node (renamed there) or
 * replaced by a rename, libebb sends REMOVE to the home node (meta.c
 * _xattrs_gone).  What a client dying in between leaves stays in the shard
 * until the instance is destroyed; inode numbers are never reused, so
 * nobody sees it again.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "bbd_int.h"
#include "bbd_meta_int.h"
#include "log.h"

#define XKEY_MAX (8 + PROTO_XATTR_NAME_MAX)

static size_t _xkey(uint8_t *k, uint64_t ino, const char *name, size_t len)
{
	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(ino >> (56 - 8 * i));
	memcpy(k + 8, name, len);
	return 8 + len;
}

static bool _same_ino(const MDB_val *k, uint64_t ino)
{
	uint8_t p[8];

	if (k->mv_size < 8)
		return false;
	_xkey(p, ino, "", 0);
	return memcmp(k->mv_data, p, 8) == 0;
}

/* The inode argument: not 0, and at home here. */
static ebb_err _ino_check(struct bbd_req *r, uint64_t ino)
{
	uint64_t home = ino >> PROTO_INO_RANK_SHIFT;

	if (ino == 0)
		return bbd_req_fail(r, EBB_E_PROTO, "%s: inode 0",
				    proto_op_name(r->op));
	if (home != r->inst->rank)
		return bbd_req_fail(r, EBB_EXDEV,
				    "%s: inode %llu lives on node %llu, this "
				    "is node %u", proto_op_name(r->op),
				    (unsigned long long)ino,
				    (unsigned long long)home, r->inst->rank);
	return EBB_OK;
}

/* A full attribute name: a namespace we store and a non-empty rest. */
static ebb_err _name_check(struct bbd_req *r, const char *name, size_t len)
{
	static const struct { const char *prefix; bool stored; } ns[] = {
		{"user.", true}, {"trusted.", true},
		{"security.", false}, {"system.", false},
	};

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		size_t pl = strlen(ns[i].prefix);

		if (len < pl || memcmp(name, ns[i].prefix, pl) != 0)
			continue;
		if (!ns[i].stored)
			return bbd_req_fail(r, EBB_EOPNOTSUPP,
					    "%s: the %s namespace is not "
					    "supported", proto_op_name(r->op),
					    ns[i].prefix);
		if (len == pl)
			return bbd_req_fail(r, EBB_EINVAL,
					    "%s: '%s' names no attribute",
					    proto_op_name(r->op), ns[i].prefix);
		return EBB_OK;
	}
	return bbd_req_fail(r, EBB_EOPNOTSUPP,
			    "%s: '%.*s' has no supported namespace prefix "
			    "(user., trusted.)", proto_op_name(r->op),
			    (int)(len > 64 ? 64 : len), name);
}

/* Read ino, name: the common start of SET/GET/REMOVEXATTR.  A name over
 * XATTR_NAME_MAX is a malformed frame (the kernel and libebb refuse it
 * with ERANGE before sending), said plainly. */
static void _get_ino_name(struct bbd_req *r, uint64_t *ino, const char **name,
			  uint32_t *len)
{
	const msgpack_object *o;

	proto_get_u64(&r->dec, ino);
	o = r->dec.err == EBB_OK && r->dec.pos < r->dec.n ?
		    &r->dec.items[r->dec.pos] : NULL;
	if (o && o->type == MSGPACK_OBJECT_STR &&
	    o->via.str.size > PROTO_XATTR_NAME_MAX) {
		r->dec.err = EBB_E_PROTO;
		snprintf(r->dec.detail, sizeof(r->dec.detail),
			 "a name of %u bytes (at most %u)",
			 o->via.str.size, PROTO_XATTR_NAME_MAX);
		return;
	}
	proto_get_str(&r->dec, name, len, PROTO_XATTR_NAME_MAX);
}

/* Sum of names and values (bytes) and of the name list of ino. */
static int _usage(MDB_txn *txn, MDB_dbi dbi, uint64_t ino, uint64_t *bytes,
		  uint64_t *list)
{
	uint8_t k[8];
	MDB_val key = {8, k}, val;
	MDB_cursor *cur;
	int rc;

	*bytes = *list = 0;
	_xkey(k, ino, "", 0);
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return rc;
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	while (rc == 0 && _same_ino(&key, ino)) {
		*bytes += key.mv_size - 8 + val.mv_size;
		*list += key.mv_size - 8 + 1;
		rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The payload as one contiguous block (NULL, 0 if none). */
static const void *_payload(struct bbd_req *r, size_t *len)
{
	*len = r->in ? evbuffer_get_length(r->in) : 0;
	if (*len == 0)
		return NULL;
	return evbuffer_pullup(r->in, -1);
}

/* inst, ino, name, flags + payload (the value) -> [] */
ebb_err bbd_op_setxattr(struct bbd_req *r)
{
	uint64_t ino = 0, bytes, list;
	const char *name = NULL;
	uint32_t len = 0, flags = 0;
	uint8_t k[XKEY_MAX];
	MDB_val key, val, old;
	MDB_txn *txn = NULL;
	const void *value;
	size_t vlen;
	bool exists;
	int rc;

	_get_ino_name(r, &ino, &name, &len);
	proto_get_u32(&r->dec, &flags);
	if (bbd_req_args(r) || _ino_check(r, ino) ||
	    _name_check(r, name, len))
		goto out;
	if (flags & ~(PROTO_XATTR_CREATE | PROTO_XATTR_REPLACE)) {
		bbd_req_fail(r, EBB_EINVAL, "SETXATTR: unknown flags 0x%x",
			     flags);
		goto out;
	}
	value = _payload(r, &vlen);
	if (vlen > PROTO_XATTR_SIZE_MAX) {
		bbd_req_fail(r, EBB_E2BIG, "SETXATTR: a value of %zu bytes "
			     "(at most %u)", vlen, PROTO_XATTR_SIZE_MAX);
		goto out;
	}
	if (vlen && !value) {
		bbd_req_fail(r, EBB_ENOMEM, "SETXATTR: no memory for the value");
		goto out;
	}
	key.mv_size = _xkey(k, ino, name, len);
	key.mv_data = k;
	if (meta_txn(r, 0, &txn))
		goto out;
	rc = mdb_get(txn, r->inst->dbi_xattrs, &key, &old);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		meta_fail(r, rc, "get");
		goto out;
	}
	exists = rc == 0;
	if (exists && (flags & PROTO_XATTR_CREATE)) {
		bbd_req_fail(r, EBB_EEXIST, "SETXATTR: '%.*s' exists",
			     (int)len, name);
		goto out;
	}
	if (!exists && (flags & PROTO_XATTR_REPLACE)) {
		bbd_req_fail(r, EBB_ENODATA, "SETXATTR: no '%.*s' to replace",
			     (int)len, name);
		goto out;
	}
	if ((rc = _usage(txn, r->inst->dbi_xattrs, ino, &bytes, &list)) != 0) {
		meta_fail(r, rc, "cursor");
		goto out;
	}
	if (exists) {
		bytes -= len + old.mv_size;
		list -= len + 1;
	}
	if (bytes + len + vlen > BBD_XATTR_INODE_MAX ||
	    list + len + 1 > PROTO_XATTR_LIST_MAX) {
		bbd_req_fail(r, EBB_ENOSPC, "SETXATTR: inode %llu would hold "
			     "more than %u bytes of attributes or a name list "
			     "over %u bytes", (unsigned long long)ino,
			     BBD_XATTR_INODE_MAX, PROTO_XATTR_LIST_MAX);
		goto out;
	}
	val.mv_size = vlen;
	val.mv_data = (void *)value;
	if ((rc = mdb_put(txn, r->inst->dbi_xattrs, &key, &val, 0)) != 0) {
		meta_fail(r, rc, "put");
		goto out;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		meta_fail(r, rc, "commit");
		goto out;
	}
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

/* Reply [length] and, if size > 0, the bytes as the payload; ERANGE if
 * size is too small. */
static ebb_err _reply_sized(struct bbd_req *r, const void *p, size_t len,
			    uint64_t size)
{
	if (size != 0 && len > size)
		return bbd_req_fail(r, EBB_ERANGE,
				    "%s: %zu bytes do not fit in %llu",
				    proto_op_name(r->op), len,
				    (unsigned long long)size);
	if (size != 0 && len != 0) {
		if (!(r->out = evbuffer_new()) ||
		    evbuffer_add(r->out, p, len) != 0)
			return bbd_req_fail(r, EBB_ENOMEM, "%s: no memory",
					    proto_op_name(r->op));
	}
	proto_put_u64(&r->res, len);
	r->nres++;
	r->status = EBB_OK;
	return r->status;
}

/* inst, ino, name, size -> length (+ the value as payload if size > 0) */
ebb_err bbd_op_getxattr(struct bbd_req *r)
{
	uint64_t ino = 0, size = 0;
	const char *name = NULL;
	uint32_t len = 0;
	uint8_t k[XKEY_MAX];
	MDB_val key, val;
	MDB_txn *txn = NULL;
	int rc;

	_get_ino_name(r, &ino, &name, &len);
	proto_get_u64(&r->dec, &size);
	if (bbd_req_args(r) || _ino_check(r, ino) ||
	    _name_check(r, name, len))
		goto out;
	key.mv_size = _xkey(k, ino, name, len);
	key.mv_data = k;
	if ((rc = mdb_txn_begin(r->inst->env, NULL, MDB_RDONLY, &txn)) != 0) {
		txn = NULL;
		meta_fail(r, rc, "txn_begin");
		goto out;
	}
	rc = mdb_get(txn, r->inst->dbi_xattrs, &key, &val);
	if (rc == MDB_NOTFOUND) {
		bbd_req_fail(r, EBB_ENODATA, "GETXATTR: no '%.*s'", (int)len,
			     name);
		goto out;
	}
	if (rc != 0) {
		meta_fail(r, rc, "get");
		goto out;
	}
	_reply_sized(r, val.mv_data, val.mv_size, size);
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

/* inst, ino, size -> length (+ the NUL-terminated names as payload if
 * size > 0) */
ebb_err bbd_op_listxattr(struct bbd_req *r)
{
	uint64_t ino = 0, size = 0;
	uint8_t k[8];
	MDB_val key = {8, k}, val;
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	char *list = NULL;
	size_t n = 0;
	int rc;

	proto_get_u64(&r->dec, &ino);
	proto_get_u64(&r->dec, &size);
	if (bbd_req_args(r) || _ino_check(r, ino))
		goto out;
	if (!(list = malloc(PROTO_XATTR_LIST_MAX))) {
		bbd_req_fail(r, EBB_ENOMEM, "LISTXATTR: no memory");
		goto out;
	}
	if ((rc = mdb_txn_begin(r->inst->env, NULL, MDB_RDONLY, &txn)) != 0 ||
	    (rc = mdb_cursor_open(txn, r->inst->dbi_xattrs, &cur)) != 0) {
		meta_fail(r, rc, "cursor");
		goto out;
	}
	_xkey(k, ino, "", 0);
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	while (rc == 0 && _same_ino(&key, ino)) {
		size_t nl = key.mv_size - 8;

		if (n + nl + 1 > PROTO_XATTR_LIST_MAX) {
			/* SETXATTR keeps lists below this: E2BIG as Linux
			 * says for a list over XATTR_LIST_MAX. */
			bbd_req_fail(r, EBB_E2BIG, "LISTXATTR: the list of "
				     "inode %llu is over %u bytes",
				     (unsigned long long)ino,
				     PROTO_XATTR_LIST_MAX);
			goto out;
		}
		memcpy(list + n, (const char *)key.mv_data + 8, nl);
		n += nl;
		list[n++] = '\0';
		rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		meta_fail(r, rc, "cursor_get");
		goto out;
	}
	_reply_sized(r, list, n, size);
out:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	free(list);
	return r->status;
}

/* inst, ino, name -> [] */
ebb_err bbd_op_removexattr(struct bbd_req *r)
{
	uint64_t ino = 0;
	const char *name = NULL;
	uint32_t len = 0;
	uint8_t k[XKEY_MAX];
	MDB_val key;
	MDB_txn *txn = NULL;
	int rc;

	_get_ino_name(r, &ino, &name, &len);
	if (bbd_req_args(r) || _ino_check(r, ino) ||
	    _name_check(r, name, len))
		goto out;
	key.mv_size = _xkey(k, ino, name, len);
	key.mv_data = k;
	if (meta_txn(r, 0, &txn))
		goto out;
	rc = mdb_del(txn, r->inst->dbi_xattrs, &key, NULL);
	if (rc == MDB_NOTFOUND) {
		bbd_req_fail(r, EBB_ENODATA, "REMOVEXATTR: no '%.*s'",
			     (int)len, name);
		goto out;
	}
	if (rc != 0) {
		meta_fail(r, rc, "del");
		goto out;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		meta_fail(r, rc, "commit");
		goto out;
	}
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

int bbd_xattr_drop(struct bbd_inst *inst, MDB_txn *txn, uint64_t ino)
{
	uint8_t k[8];
	MDB_val key = {8, k}, val;
	MDB_cursor *cur;
	MDB_txn *own = NULL;
	int rc;

	if (ino == 0 || (ino >> PROTO_INO_RANK_SHIFT) != inst->rank)
		return 0;
	_xkey(k, ino, "", 0);
	if (!txn) {
		/* Most inodes have none: look before taking the writer lock. */
		if ((rc = mdb_txn_begin(inst->env, NULL, MDB_RDONLY, &own)) != 0)
			return rc;
		rc = mdb_cursor_open(own, inst->dbi_xattrs, &cur);
		if (rc == 0) {
			rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
			if (rc == 0 && !_same_ino(&key, ino))
				rc = MDB_NOTFOUND;
			mdb_cursor_close(cur);
		}
		mdb_txn_abort(own);
		if (rc != 0)
			return rc == MDB_NOTFOUND ? 0 : rc;
		if ((rc = mdb_txn_begin(inst->env, NULL, 0, &own)) != 0)
			return rc;
		if ((rc = bbd_meta_prealloc(inst)) != 0) {
			mdb_txn_abort(own);
			return rc;
		}
		txn = own;
	}
	if ((rc = mdb_cursor_open(txn, inst->dbi_xattrs, &cur)) == 0) {
		for (;;) {
			key.mv_size = 8;
			key.mv_data = k;
			rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
			if (rc != 0 || !_same_ino(&key, ino) ||
			    (rc = mdb_cursor_del(cur, 0)) != 0)
				break;
		}
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND || rc == 0)
			rc = 0;
	}
	if (own) {
		if (rc == 0)
			rc = mdb_txn_commit(own);
		else
			mdb_txn_abort(own);
	}
	return rc;
}
