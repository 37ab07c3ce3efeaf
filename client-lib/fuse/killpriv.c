/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb-fuse: negotiate FUSE_HANDLE_KILLPRIV_V2, which libfuse 3.14 cannot.
 *
 * DESIGN: once a FUSE file system implements getxattr, the kernel asks it
 * for security.capability before EVERY write(2) (file_remove_privs ->
 * cap_inode_need_killpriv): FUSE clears SB_NOSEC, so the kernel never
 * marks an inode "no privileges to kill" (S_NOSEC).  Measured here: a
 * GETXATTR per 4 KiB write, dd of 20,000 writes 1.1 s -> 1.55 s even with
 * ebb-fuse answering at once (ops.c).  With FUSE_HANDLE_KILLPRIV_V2 the
 * kernel sets SB_NOSEC: it asks once per inode, then remembers (until the
 * inode's mode gets a setuid/setgid bit).  In exchange the file system
 * kills setuid/setgid itself where Linux would: ops.c does it on chown and
 * on a truncate the kernel flags (FATTR_KILL_SUIDGID); a write does not
 * (POSIX lets write and truncate leave them: "may be cleared"; the mount is
 * nosuid, so the bits grant nothing here; docs/semantics.md).
 *
 * libfuse 3.14 knows no such flag (3.16 does: FUSE_CAP_HANDLE_KILLPRIV_V2),
 * so it would never ask.  We give the session a custom I/O (libfuse's
 * fuse_session_custom_io, the same read/writev on the same fd) that notes
 * the kernel's INIT request and adds the flag to libfuse's INIT reply if
 * the kernel offered it.  Nothing else is touched.  Once libfuse >= 3.16
 * is the minimum, ask for FUSE_CAP_HANDLE_KILLPRIV_V2 in _init instead and
 * delete this file.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#include <linux/fuse.h>
#include <sys/uio.h>

#include "fuse_ops.h"

/* The INIT request's unique id and whether the kernel offered the flag;
 * INIT is the first request and is answered before any other comes. */
static _Atomic uint64_t _init_unique = UINT64_MAX;
static atomic_bool _offered;
static atomic_bool _granted;

static ssize_t _read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	(void)userdata;
	if (n >= (ssize_t)(sizeof(*in) + 16) && in->opcode == FUSE_INIT) {
		const struct fuse_init_in *ii = (const void *)(in + 1);

		atomic_store(&_offered,
			     (ii->flags & FUSE_HANDLE_KILLPRIV_V2) != 0);
		atomic_store(&_init_unique, in->unique);
	}
	return n;
}

static ssize_t _writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fuse_out_header *oh = iov[0].iov_base;

	(void)userdata;
	if (count >= 2 && iov[0].iov_len >= sizeof(*oh) &&
	    oh->unique == atomic_load(&_init_unique) && oh->error == 0 &&
	    iov[1].iov_len >= 16 && atomic_load(&_offered)) {
		struct fuse_init_out *io = iov[1].iov_base;

		io->flags |= FUSE_HANDLE_KILLPRIV_V2;
		atomic_store(&_granted, true);
		atomic_store(&_init_unique, UINT64_MAX);
	}
	return writev(fd, iov, count);
}

static ssize_t _splice_send(int fdin, off_t *offin, int fdout, off_t *offout,
			    size_t len, unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

int fz_killpriv_install(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = _read,
		.writev = _writev,
		.splice_send = _splice_send,
	};
	int rc = fuse_session_custom_io(se, &io, fuse_session_fd(se));

	return rc < 0 ? -rc : rc;
}

bool fz_killpriv_granted(void)
{
	return atomic_load(&_granted);
}
