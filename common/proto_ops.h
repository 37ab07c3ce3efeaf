/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The opcode table: the one list both bbd and libebb are built from.
 *
 * PROTO_OP(NAME, number, class, "args" -> "results")
 * class: AUTH (no credential needed), ADMIN (root or SlurmUser), NODE (any
 * authenticated user), META (instance metadata), DATA (instance data).
 * Argument and result lists are normative; docs/protocol.md explains them.
 * Numbers are part of the wire format: never reuse or renumber one.
 */
PROTO_OP(HELLO,        1, AUTH,  "version, cred, client", "version, node")
PROTO_OP(PING,         2, NODE,  "", "")
PROTO_OP(NODE_STATUS,  3, NODE,  "", "status-map")
PROTO_OP(INST_CREATE,  4, ADMIN, "inst, rank, members[], stripe_size, capacity, uid, gid, mount", "created")
PROTO_OP(INST_DESTROY, 5, ADMIN, "inst", "")
PROTO_OP(INST_LIST,    6, NODE,  "", "inst-map[]")
PROTO_OP(INST_GET,     7, NODE,  "inst", "inst-map")
PROTO_OP(LOOKUP,      10, META,  "inst, parent, name", "attr")
PROTO_OP(CREATE,      11, META,  "inst, parent, name, mode, flags[, uid, gid[, rdev]]", "attr, created")
PROTO_OP(MKDIR,       12, META,  "inst, parent, name, mode[, uid, gid]", "attr")
PROTO_OP(SYMLINK,     13, META,  "inst, parent, name, target[, uid, gid]", "attr")
PROTO_OP(UNLINK,      14, META,  "inst, parent, name, expect_ino, flags", "attr")
PROTO_OP(RMDIR,       15, META,  "inst, parent, name", "attr")
PROTO_OP(HAS_CHILDREN,16, META,  "inst, dir_ino", "bool")
PROTO_OP(READDIR,     17, META,  "inst, dir_ino, after, max", "[[name, attr]...], eof")
PROTO_OP(SETATTR,     18, META,  "inst, parent, name, mask, mode, uid, gid, size, atime_ns, mtime_ns", "attr")
PROTO_OP(SIZE_UPDATE, 19, META,  "inst, parent, name, ino, size, mtime_ns, flags", "attr")
PROTO_OP(RENAME_LOCAL,20, META,  "inst, oparent, oname, nparent, nname, flags", "attr, replaced-attr|nil")
PROTO_OP(LINK_INSERT, 21, META,  "inst, parent, name, attr, flags", "replaced-attr|nil")
PROTO_OP(STATFS,      22, META,  "inst", "capacity, used, files")
/* Extended attributes, on the inode's home node (rank = ino >> 48); values
 * and name lists travel as the raw payload. */
PROTO_OP(SETXATTR,    23, META,  "inst, ino, name, flags + payload", "")
PROTO_OP(GETXATTR,    24, META,  "inst, ino, name, size", "length + payload")
PROTO_OP(LISTXATTR,   25, META,  "inst, ino, size", "length + payload")
PROTO_OP(REMOVEXATTR, 26, META,  "inst, ino, name", "")
PROTO_OP(DIR_TOUCH,   27, META,  "inst, parent, name, ino, time_ns", "attr")
PROTO_OP(WRITE,       30, DATA,  "inst, ino, offset + payload", "written")
PROTO_OP(READ,        31, DATA,  "inst, ino, offset, length", "+ payload")
PROTO_OP(TRUNCATE,    32, DATA,  "inst, ino, size", "")
PROTO_OP(FSYNC,       33, DATA,  "inst, ino", "")
PROTO_OP(REMOVE,      34, DATA,  "inst, ino", "")
/* Hard links (docs/internals/hardlinks.md): INODE_* on the inode's home
 * node (rank ino >> PROTO_INO_RANK_SHIFT), DENT_TO_PTR on the dentry's. */
PROTO_OP(INODE_GET,   50, META,  "inst, ino", "attr")
PROTO_OP(INODE_SETATTR,51, META, "inst, ino, mask, mode, uid, gid, size, atime_ns, mtime_ns", "attr")
PROTO_OP(INODE_SIZE_UPDATE,52, META, "inst, ino, size, mtime_ns, flags", "attr")
PROTO_OP(INODE_ADOPT, 53, META,  "inst, attr, flags", "attr")
PROTO_OP(INODE_LINK,  54, META,  "inst, ino", "attr")
PROTO_OP(INODE_UNLINK,55, META,  "inst, ino", "attr, deleted")
PROTO_OP(DENT_TO_PTR, 56, META,  "inst, parent, name, ino", "attr, converted")
/* Stages (docs/stager.md): rank 0 coordinates, every member moves its own
 * stripes.  STAGE_WORK/STAGE_POLL are rank 0 <-> member traffic. */
PROTO_OP(STAGE_START, 40, ADMIN, "inst, spec-map", "created")
PROTO_OP(STAGE_STATUS,41, META,  "inst, name|nil", "[stage-map...]")
PROTO_OP(STAGE_RETRY, 42, ADMIN, "inst, name", "")
PROTO_OP(STAGE_CANCEL,43, ADMIN, "inst, name", "")
PROTO_OP(STAGE_WORK,  44, ADMIN, "inst, name, work-map", "")
PROTO_OP(STAGE_POLL,  45, ADMIN, "inst, name", "progress-map")
/* Locks (docs/protocol.md "Locks"): served by the inode's home node. */
PROTO_OP(LOCK,        60, META,  "inst, ino, client, owner, pid, type, start, end, flags, ticket", "state, lease_ms, ticket")
PROTO_OP(GETLK,       61, META,  "inst, ino, client, owner, type, start, end, flags", "type, start, end, pid, client")
PROTO_OP(LOCK_CANCEL, 62, META,  "inst, ino, client, owner", "cancelled")
PROTO_OP(LOCK_RENEW,  63, META,  "inst, client", "lease_ms, locks")
PROTO_OP(LOCK_RELEASE,64, META,  "inst, ino|0, client, owner|nil", "released")
