/* SPDX-License-Identifier: GPL-2.0-or-later */
/* MUNGE credentials for the hello exchange.
 *
 * The munged socket is taken from the argument, else EBB_MUNGE_SOCKET,
 * else libmunge's default.  Credentials carry no payload; their uid/gid
 * is what the daemon trusts.  munged itself rejects replays and expired
 * credentials. */
#ifndef EBB_AUTH_H
#define EBB_AUTH_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* Make a credential for the calling process.  The credential is malloc'd; caller
 * frees with free().  err gets munge's reason on failure.  Any thread. */
ebb_err auth_cred_encode(const char *socket, char **cred, char *err,
			 size_t errlen);

/* Check a credential; on success *uid and *gid are its owner.  Returns
 * EBB_E_AUTH (with munge's reason in err) for a bad, replayed or expired
 * credential, EBB_EIO if munged cannot be reached.  Any thread. */
ebb_err auth_cred_decode(const char *socket, const char *cred, uid_t *uid,
			 gid_t *gid, char *err, size_t errlen);

#endif
