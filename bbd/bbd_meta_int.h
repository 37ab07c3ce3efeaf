/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What bbd_meta.c (dentries) and bbd_inode.c (hard links' inode records)
 * share: the stored attribute layout and the steps every metadata handler
 * takes (one LMDB transaction, errors as replies).  Private to those two
 * files; bbd_meta.c's DESIGN comment explains the layout. */
#ifndef EBB_BBD_META_INT_H
#define EBB_BBD_META_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bbd_int.h"

#define ATTR_VERSION 1
#define ATTR_FIXED (1 + 8 + 8 + 4 * 4 + 8 + 8 * 3 + 4)
/* A pointer dentry's value: version byte, ino, parent, S_IFMT bits.  Its
 * own version byte, apart from any attribute layout version. */
#define ATTR_POINTER 0x80
#define ATTR_POINTER_SIZE (1 + 8 + 8 + 4)
/* Names of one inode at most (ext4's limit): EMLINK beyond. */
#define BBD_MAX_NLINK 65000u

/* A dentry (or inode record) read out of LMDB, with its own copy of the
 * target so it survives deletes and the end of the transaction. */
struct dent {
	struct proto_attr a;
	char target[PROTO_MAX_TARGET + 1];
};

/* The stored layout: pack a into buf (ATTR_FIXED + PROTO_MAX_TARGET bytes
 * at most), returning its length; unpack v (an attribute value or a
 * pointer) into d, false if it is corrupt. */
size_t meta_attr_pack(uint8_t *buf, const struct proto_attr *a);
bool meta_attr_unpack(const MDB_val *v, struct dent *d);

/* An LMDB error rc of what, logged and set as r's reply (ENOSPC for a full
 * map, else EIO); returns the status. */
ebb_err meta_fail(struct bbd_req *r, int rc, const char *what);
/* Begin a transaction (flags MDB_RDONLY or 0; a write one makes sure the
 * file has room first) / commit it (*txn NULL after, whatever happens). */
ebb_err meta_txn(struct bbd_req *r, unsigned flags, MDB_txn **txn);
ebb_err meta_commit(struct bbd_req *r, MDB_txn **txn);
/* Dentry (parent, name): read (EBB_OK, ENOENT or EIO, status set) and
 * write. */
ebb_err meta_dent_get(struct bbd_req *r, MDB_txn *txn, uint64_t parent,
		      const char *name, size_t len, struct dent *d);
ebb_err meta_dent_put(struct bbd_req *r, MDB_txn *txn, uint64_t parent,
		      const char *name, size_t len,
		      const struct proto_attr *a);
/* A name from the wire; the root's (0, "") only if allow_root. */
ebb_err meta_check_name(struct bbd_req *r, uint64_t parent, const char *name,
			uint32_t len, bool allow_root);
/* Append a as the next result of r. */
void meta_put_attr(struct bbd_req *r, const struct proto_attr *a);
/* SETATTR's rules and changes applied to a (docs/protocol.md). */
ebb_err meta_setattr_apply(struct bbd_req *r, struct proto_attr *a,
			   uint32_t mask, uint32_t mode, uint32_t uid,
			   uint32_t gid, uint64_t size, int64_t atime,
			   int64_t mtime);
/* SIZE_UPDATE's max-merge into a: whether anything changed. */
bool meta_size_merge(struct proto_attr *a, uint64_t size, int64_t mtime);
/* Make the shard durable (SIZE_UPDATE's SYNC): EBB_OK or EIO set. */
ebb_err meta_sync(struct bbd_req *r);

#endif
