/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The wire protocol: frame layout, limits, opcodes and the msgpack codec.
 *
 * DESIGN: a frame is an 8-byte prefix (header length, payload length, both
 * u32 big-endian), a msgpack array header and a raw payload.  Requests are
 * [msgid, opcode, args...]; replies are [msgid, opcode|PROTO_REPLY, status,
 * results...] with status an ebb_err.  Stripe data travels as the raw
 * payload and is never wrapped in msgpack.  Every limit is checked on the
 * prefix, before anything is allocated.  docs/protocol.md is the spec.
 */
#ifndef EBB_PROTO_H
#define EBB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "err.h"

#define PROTO_VERSION 2
/* bbd's TCP port unless configured otherwise. */
#define PROTO_DEFAULT_PORT 7070
#define PROTO_PREFIX_LEN 8
#define PROTO_REPLY 0x8000u

/* Limits, enforced by both sides. */
#define PROTO_MAX_HEADER (64u * 1024)          /* msgpack header bytes */
#define PROTO_MAX_PAYLOAD (16u * 1024 * 1024)  /* raw payload bytes */
#define PROTO_MAX_NAME 255                      /* one path component */
#define PROTO_MAX_PATH 4096                     /* a whole path, NUL excluded */
#define PROTO_MAX_TARGET 4095                   /* symlink target */
#define PROTO_MAX_INST_ID 64                    /* instance id */
#define PROTO_MAX_MEMBERS 4096                  /* nodes in one instance */
#define PROTO_MAX_MEMBER_LEN 255                /* "host:port" */
#define PROTO_MAX_CRED 4096                     /* MUNGE credential */
#define PROTO_MAX_READDIR 4096                  /* entries in one READDIR reply */
#define PROTO_MIN_STRIPE (4u * 1024)
#define PROTO_MAX_STRIPE PROTO_MAX_PAYLOAD

/* The root directory: inode 1, its dentry keyed (0, ""). */
#define PROTO_ROOT_INO 1
#define PROTO_ROOT_PARENT 0
/* Inode numbers: creator rank in the top 16 bits, a per-node counter below. */
#define PROTO_INO_RANK_SHIFT 48

/* LOCK/GETLK (docs/protocol.md "Locks"): lock types, flags, LOCK states. */
#define PROTO_LOCK_UNLCK 0
#define PROTO_LOCK_RDLCK 1
#define PROTO_LOCK_WRLCK 2
#define PROTO_LOCK_WAIT 1u         /* park until granted (F_SETLKW) */
#define PROTO_LOCK_FLOCK 2u        /* flock namespace (whole file) */
#define PROTO_LOCK_GRANTED 0       /* LOCK state: done */
#define PROTO_LOCK_WAITING 1       /* LOCK state: still blocked, send again */

enum proto_op {
#define PROTO_OP(name, num, cls, args, res) PROTO_OP_##name = num,
#include "proto_ops.h"
#undef PROTO_OP
};

enum proto_op_class {
	PROTO_CLASS_AUTH,
	PROTO_CLASS_NODE,
	PROTO_CLASS_ADMIN,
	PROTO_CLASS_META,
	PROTO_CLASS_DATA,
};

/* The local socket (bbd_local.c, docs/protocol.md "Local reads"): a
 * Unix-domain socket beside the TCP port where a client on bbd's own node
 * gets read-only fds of object files.  Its opcodes are not in
 * proto_ops.h: the TCP dispatcher never serves them (E_BADOP there), and
 * the local socket serves nothing else. */
#define PROTO_LOCAL_HELLO 100   /* [version, token] -> [] */
#define PROTO_LOCAL_OPEN 101    /* [inst, ino, flags?] -> [] + one fd
				 * (SCM_RIGHTS); flags PROTO_LOCAL_WRITE:
				 * a writable fd (local writes) */
#define PROTO_LOCAL_RESERVE 102 /* [inst, ino, bytes] -> [] */
#define PROTO_LOCAL_SETTLE 103  /* [inst, ino, bytes] -> [] */
#define PROTO_LOCAL_WRITE 1u
#define PROTO_LOCAL_MAX_RESERVE (1ull << 30) /* bytes per LOCAL_RESERVE */
#define PROTO_LOCAL_MAX_HEADER 1024
#define PROTO_LOCAL_TOKEN_LEN 32 /* hex characters */

/* CREATE flags */
#define PROTO_CREATE_EXCL 0x1u
/* UNLINK flags: ANY_TYPE removes a directory entry too (rename's 2nd step);
 * DATA: the dentry's node also removes a regular file's data if it holds
 * all of it (docs/protocol.md). */
#define PROTO_UNLINK_ANY_TYPE 0x1u
#define PROTO_UNLINK_DATA 0x2u
/* UNLINK's keep list (inodes the client has open): at most this many. */
#define PROTO_MAX_UNLINK_KEEP 64
/* RENAME_LOCAL / LINK_INSERT flags */
#define PROTO_RENAME_NOREPLACE 0x1u
/* INODE_ADOPT flags: MERGE only merges into an existing inode record
 * (ENOENT if there is none), never creates one. */
#define PROTO_ADOPT_MERGE 0x1u
/* SIZE_UPDATE flags: SYNC makes the metadata durable before the reply. */
#define PROTO_SIZE_SYNC 0x1u
/* Extended attributes (SETXATTR ... REMOVEXATTR): Linux's limits
 * (XATTR_NAME_MAX, XATTR_SIZE_MAX, XATTR_LIST_MAX) and setxattr's flags,
 * with Linux's values (XATTR_CREATE, XATTR_REPLACE). */
#define PROTO_XATTR_NAME_MAX 255
#define PROTO_XATTR_SIZE_MAX 65536u
#define PROTO_XATTR_LIST_MAX 65536u
#define PROTO_XATTR_CREATE 0x1u
#define PROTO_XATTR_REPLACE 0x2u
/* SETATTR mask */
#define PROTO_SET_MODE 0x01u
#define PROTO_SET_UID 0x02u
#define PROTO_SET_GID 0x04u
#define PROTO_SET_SIZE 0x08u
#define PROTO_SET_ATIME 0x10u
#define PROTO_SET_MTIME 0x20u
#define PROTO_SET_ATIME_NOW 0x40u
#define PROTO_SET_MTIME_NOW 0x80u

/* Attributes of one inode, stored inline with its dentry.  On the wire an
 * array of 11: [ino, parent, mode, uid, gid, nlink, size, atime_ns,
 * mtime_ns, ctime_ns, target|nil].  target is borrowed (points into the
 * decoder's buffer or the caller's string), not NUL-terminated.  A
 * character or block device (S_IFCHR/S_IFBLK) has no data: its size holds
 * its device number (Linux's dev_t encoding, CREATE's rdev); clients show
 * it as st_rdev with st_size 0 (docs/protocol.md CREATE). */
struct proto_attr {
	uint64_t ino;
	uint64_t parent;   /* parent directory inode (for "..") */
	uint32_t mode;     /* S_IFMT bits + permissions */
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint64_t size;
	int64_t atime_ns;
	int64_t mtime_ns;
	int64_t ctime_ns;
	const char *target; /* symlinks only, else NULL */
	uint32_t target_len;
};
#define PROTO_ATTR_FIELDS 11
/* In an attr's mode, above S_IFMT: the inode is hard-linked and its
 * attributes live in an inode record on its home node (rank ino >>
 * PROTO_INO_RANK_SHIFT; docs/internals/hardlinks.md).  In the replies of
 * dentry ops (LOOKUP, READDIR, UNLINK, SETATTR, SIZE_UPDATE, RENAME_LOCAL,
 * LINK_INSERT, CREATE of an existing name, DENT_TO_PTR's) it marks a
 * POINTER: only ino, parent and the S_IFMT bits are meaningful, ask
 * INODE_GET for the rest.  In INODE_* replies the attributes are the
 * record's.  Sent in LINK_INSERT's attr, it inserts a pointer. */
#define PROTO_MODE_LINKED 0x10000u

/* Opcode name ("LOOKUP") or NULL if op is unknown. */
const char *proto_op_name(uint32_t op);
/* Class of op; returns false if op is unknown. */
bool proto_op_class(uint32_t op, enum proto_op_class *cls);

/* Parse an 8-byte frame prefix.  Returns EBB_OK, or EBB_E_TOOBIG if either
 * length is over its limit, EBB_E_PROTO if the header length is 0. */
ebb_err proto_prefix_parse(const uint8_t prefix[PROTO_PREFIX_LEN],
			   uint32_t *hlen, uint32_t *plen);
void proto_prefix_write(uint8_t prefix[PROTO_PREFIX_LEN], uint32_t hlen,
			uint32_t plen);

/* ---- encoding ----------------------------------------------------------
 * struct proto_enc owns a growing buffer (msgpack_sbuffer).  Start with
 * proto_enc_request() or proto_enc_reply(), pack the declared number of
 * arguments with the proto_put_* helpers (or msgpack_pack_* on e->pk), then
 * take the bytes from e->sb.data / e->sb.size.  proto_enc_free() releases. */
struct proto_enc {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

void proto_enc_request(struct proto_enc *e, uint64_t msgid, uint32_t op,
		       unsigned nargs);
void proto_enc_reply(struct proto_enc *e, uint64_t msgid, uint32_t op,
		     ebb_err status, unsigned nresults);
void proto_enc_free(struct proto_enc *e);

void proto_put_u64(struct proto_enc *e, uint64_t v);
void proto_put_i64(struct proto_enc *e, int64_t v);
void proto_put_bool(struct proto_enc *e, bool v);
void proto_put_nil(struct proto_enc *e);
void proto_put_str(struct proto_enc *e, const char *s, size_t len);
void proto_put_cstr(struct proto_enc *e, const char *s); /* NULL -> nil */
void proto_put_array(struct proto_enc *e, uint32_t n);
void proto_put_map(struct proto_enc *e, uint32_t n);
void proto_put_attr(struct proto_enc *e, const struct proto_attr *a);

/* False if a msgpack buffer declares containers with more elements than it
 * has bytes left (msgpack-c would allocate them before checking: a 5-byte
 * header could ask for gigabytes).  proto_dec_* call it first. */
bool proto_msgpack_bounded(const void *buf, size_t len);

/* ---- decoding ----------------------------------------------------------
 * A cursor over the top-level array of one header.  Getters consume one
 * element each; the first type or range error is sticky in d->err, so a
 * handler reads all its arguments, then checks proto_dec_end().  Strings
 * are borrowed from the decoder and live until proto_dec_free(). */
struct proto_dec {
	msgpack_unpacked up;
	const msgpack_object *items;
	uint32_t n;
	uint32_t pos;
	ebb_err err;
	char detail[96];   /* what was wrong, for logs and error replies */
};

/* Decode one header of len bytes.  Returns EBB_OK or EBB_E_PROTO (not one
 * msgpack array of >= 2 items, trailing bytes).  On success the cursor is at
 * the first argument (requests) after reading msgid and op.  Always call
 * proto_dec_free(), whatever the result. */
ebb_err proto_dec_request(struct proto_dec *d, const void *buf, size_t len,
			  uint64_t *msgid, uint32_t *op);
/* The same for replies: reads msgid, op (with PROTO_REPLY cleared) and status. */
ebb_err proto_dec_reply(struct proto_dec *d, const void *buf, size_t len,
			uint64_t *msgid, uint32_t *op, ebb_err *status);
void proto_dec_free(struct proto_dec *d);

bool proto_get_u64(struct proto_dec *d, uint64_t *v);
bool proto_get_u32(struct proto_dec *d, uint32_t *v);   /* range-checked */
bool proto_get_i64(struct proto_dec *d, int64_t *v);
bool proto_get_bool(struct proto_dec *d, bool *v);
/* A string of at most max bytes with no NUL inside. */
bool proto_get_str(struct proto_dec *d, const char **s, uint32_t *len,
		   uint32_t max);
/* The same, or nil (then *s = NULL, *len = 0). */
bool proto_get_str_or_nil(struct proto_dec *d, const char **s, uint32_t *len,
			  uint32_t max);
/* An array header: *n elements follow, consumed by further getters via a
 * nested cursor (proto_get_array_begin/end). */
bool proto_get_array(struct proto_dec *d, const msgpack_object **items,
		     uint32_t *n, uint32_t max);
bool proto_get_attr(struct proto_dec *d, struct proto_attr *a);
bool proto_get_attr_or_nil(struct proto_dec *d, struct proto_attr *a,
			   bool *present);
/* A raw msgpack object (maps such as NODE_STATUS results). */
bool proto_get_obj(struct proto_dec *d, const msgpack_object **o);
/* A nested cursor over an array object, sharing d's buffer. */
void proto_dec_sub(struct proto_dec *sub, const struct proto_dec *d,
		   const msgpack_object *array);
/* EBB_OK if no error happened and every element was consumed. */
ebb_err proto_dec_end(struct proto_dec *d);

/* Map helpers for the status/instance maps: look up key in a msgpack map. */
const msgpack_object *proto_map_get(const msgpack_object *map, const char *key);
bool proto_map_u64(const msgpack_object *map, const char *key, uint64_t *v);
/* Copies a string value into buf (NUL-terminated); false if absent/too long. */
bool proto_map_str(const msgpack_object *map, const char *key, char *buf,
		   size_t size);

/* ---- validation shared by both sides ------------------------------------ */
/* A path component: 1..255 bytes, no '/', no NUL, not "." or "..". */
ebb_err proto_check_name(const char *name, size_t len);
/* An instance id: 1..64 of [A-Za-z0-9._-], not starting with '.'. */
ebb_err proto_check_inst_id(const char *id, size_t len);

#endif
