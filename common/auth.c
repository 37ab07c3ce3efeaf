/* SPDX-License-Identifier: GPL-2.0-or-later */
/* MUNGE credential encode/decode (see auth.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <munge.h>

#include "auth.h"

static munge_ctx_t _ctx(const char *socket)
{
	munge_ctx_t ctx = munge_ctx_create();

	if (!socket)
		socket = getenv("EBB_MUNGE_SOCKET");
	if (ctx && socket && *socket)
		munge_ctx_set(ctx, MUNGE_OPT_SOCKET, socket);
	return ctx;
}

ebb_err auth_cred_encode(const char *socket, char **cred, char *err,
			 size_t errlen)
{
	munge_ctx_t ctx = _ctx(socket);
	munge_err_t e;
	ebb_err rc = EBB_OK;

	*cred = NULL;
	if (!ctx)
		return EBB_ENOMEM;
	e = munge_encode(cred, ctx, NULL, 0);
	if (e != EMUNGE_SUCCESS) {
		snprintf(err, errlen, "munge: %s", munge_ctx_strerror(ctx));
		rc = (e == EMUNGE_SOCKET) ? EBB_EIO : EBB_E_AUTH;
		free(*cred);
		*cred = NULL;
	}
	munge_ctx_destroy(ctx);
	return rc;
}

ebb_err auth_cred_decode(const char *socket, const char *cred, uid_t *uid,
			 gid_t *gid, char *err, size_t errlen)
{
	munge_ctx_t ctx = _ctx(socket);
	munge_err_t e;
	ebb_err rc = EBB_OK;

	if (!ctx)
		return EBB_ENOMEM;
	e = munge_decode(cred, ctx, NULL, NULL, uid, gid);
	if (e != EMUNGE_SUCCESS) {
		snprintf(err, errlen, "munge: %s", munge_ctx_strerror(ctx));
		rc = (e == EMUNGE_SOCKET) ? EBB_EIO : EBB_E_AUTH;
	}
	munge_ctx_destroy(ctx);
	return rc;
}
