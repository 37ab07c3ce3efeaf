/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb_err: the one error type used inside ebb and on the wire.
 *
 * DESIGN: the errno-like codes carry the Linux errno numbers, fixed here by
 * value so that every node agrees whatever its libc; codes of our own start
 * at 1000.  Inside ebb every function returns an ebb_err; it becomes errno
 * only at the edges (libebb's public calls, FUSE) via ebb_err_to_errno().
 */
#ifndef EBB_ERR_H
#define EBB_ERR_H

#include <stddef.h>

typedef enum ebb_err {
	EBB_OK = 0,
	EBB_EPERM = 1,
	EBB_ENOENT = 2,
	EBB_EINTR = 4,
	EBB_EIO = 5,
	EBB_E2BIG = 7,
	EBB_EBADF = 9,
	EBB_EAGAIN = 11,
	EBB_ENOMEM = 12,
	EBB_EACCES = 13,
	EBB_EBUSY = 16,
	EBB_EEXIST = 17,
	EBB_EXDEV = 18,
	EBB_ENOTDIR = 20,
	EBB_EISDIR = 21,
	EBB_EINVAL = 22,
	EBB_EFBIG = 27,
	EBB_ENOSPC = 28,
	EBB_EROFS = 30,
	EBB_EMLINK = 31,
	EBB_ERANGE = 34,
	EBB_ENAMETOOLONG = 36,
	EBB_ENOSYS = 38,
	EBB_ENOTEMPTY = 39,
	EBB_ELOOP = 40,
	EBB_ENODATA = 61,
	EBB_EPROTO = 71,
	EBB_EMSGSIZE = 90,
	EBB_EOPNOTSUPP = 95,
	EBB_ECONNREFUSED = 111,
	EBB_ETIMEDOUT = 110,
	EBB_ESTALE = 116,

	/* ebb's own codes */
	EBB_E_PROTO = 1000,   /* malformed frame or arguments */
	EBB_E_TOOBIG,         /* frame, header or payload over a protocol limit */
	EBB_E_AUTH,           /* no or invalid MUNGE credential */
	EBB_E_VERSION,        /* protocol version not supported */
	EBB_E_NOINST,         /* no such instance on this node */
	EBB_E_BADOP,          /* unknown opcode */
	EBB_E_DENIED,         /* caller may not do this (not root/owner/SlurmUser) */
	EBB_E_CONFIG,         /* bad configuration */
	EBB_E_CLOSED,         /* connection closed by the peer */
	EBB_E_S3,             /* S3 refused or failed a request (the S3 code is kept apart) */
	EBB_E_STAGE,          /* a stage finished with failed files (see its report) */
	EBB_E_MAX
} ebb_err;

/* Short human text for err ("no such file or directory", "malformed frame");
 * never NULL, static storage.  Any thread. */
const char *ebb_strerror(ebb_err err);

/* Symbolic name ("ENOENT", "E_PROTO"); never NULL, static storage. */
const char *ebb_errname(ebb_err err);

/* errno for err, for the public API and FUSE (E_AUTH/E_DENIED -> EACCES,
 * E_PROTO -> EPROTO, E_NOINST -> ENOENT, ...). */
int ebb_err_to_errno(ebb_err err);

/* ebb_err for a Linux errno value (unknown values -> EBB_EIO). */
ebb_err ebb_err_from_errno(int errnum);

#endif
