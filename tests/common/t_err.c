/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of ebb_err (common/err.c): names, texts, errno mapping. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "err.h"
#include "tap.h"

int main(void)
{
	static const struct { ebb_err e; int errnum; const char *name; } map[] = {
		{EBB_EPERM, EPERM, "EPERM"}, {EBB_ENOENT, ENOENT, "ENOENT"},
		{EBB_EIO, EIO, "EIO"}, {EBB_EACCES, EACCES, "EACCES"},
		{EBB_EEXIST, EEXIST, "EEXIST"}, {EBB_ENOTDIR, ENOTDIR, "ENOTDIR"},
		{EBB_EISDIR, EISDIR, "EISDIR"}, {EBB_EINVAL, EINVAL, "EINVAL"},
		{EBB_ENOSPC, ENOSPC, "ENOSPC"}, {EBB_ERANGE, ERANGE, "ERANGE"},
		{EBB_ENAMETOOLONG, ENAMETOOLONG, "ENAMETOOLONG"},
		{EBB_ENOTEMPTY, ENOTEMPTY, "ENOTEMPTY"},
		{EBB_ETIMEDOUT, ETIMEDOUT, "ETIMEDOUT"},
		{EBB_ESTALE, ESTALE, "ESTALE"}, {EBB_EXDEV, EXDEV, "EXDEV"},
		{EBB_EFBIG, EFBIG, "EFBIG"}, {EBB_EPROTO, EPROTO, "EPROTO"},
		{EBB_ECONNREFUSED, ECONNREFUSED, "ECONNREFUSED"},
		{EBB_E2BIG, E2BIG, "E2BIG"}, {EBB_ENODATA, ENODATA, "ENODATA"},
	};
	unsigned bad = 0;

	plan_lazy();
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if ((int)map[i].e != map[i].errnum) {
			diag("%s: ebb value %d, Linux %d", map[i].name,
			     (int)map[i].e, map[i].errnum);
			bad++;
		}
		if (ebb_err_to_errno(map[i].e) != map[i].errnum ||
		    ebb_err_from_errno(map[i].errnum) != map[i].e) {
			diag("%s does not map both ways", map[i].name);
			bad++;
		}
		if (strcmp(ebb_errname(map[i].e), map[i].name) != 0) {
			diag("name of %d is %s", (int)map[i].e,
			     ebb_errname(map[i].e));
			bad++;
		}
	}
	is_int(bad, 0, "errno-like codes carry Linux numbers, map both ways "
	       "and have their names");
	is_int(EBB_E_PROTO, 1000, "E_PROTO is 1000 on the wire");
	is_int(EBB_E_TOOBIG, 1001, "E_TOOBIG is 1001");
	is_int(EBB_E_AUTH, 1002, "E_AUTH is 1002");
	is_int(EBB_E_VERSION, 1003, "E_VERSION is 1003");
	is_int(EBB_E_NOINST, 1004, "E_NOINST is 1004");
	is_int(EBB_E_BADOP, 1005, "E_BADOP is 1005");
	is_int(EBB_E_DENIED, 1006, "E_DENIED is 1006");
	is_int(ebb_err_to_errno(EBB_OK), 0, "OK -> 0");
	is_int(ebb_err_from_errno(0), EBB_OK, "0 -> OK");
	is_int(ebb_err_to_errno(EBB_E_AUTH), EACCES, "E_AUTH -> EACCES");
	is_int(ebb_err_to_errno(EBB_E_DENIED), EACCES, "E_DENIED -> EACCES");
	is_int(ebb_err_to_errno(EBB_E_PROTO), EPROTO, "E_PROTO -> EPROTO");
	is_int(ebb_err_to_errno(EBB_E_NOINST), ENOENT, "E_NOINST -> ENOENT");
	is_int(ebb_err_from_errno(12345), EBB_EIO, "unknown errno -> EIO");
	ok(ebb_err_to_errno((ebb_err)4321) != 0,
	   "an unknown ebb_err never maps to success");
	for (int e = 0; e < EBB_E_MAX; e++) {
		const char *t = ebb_strerror((ebb_err)e);
		const char *n = ebb_errname((ebb_err)e);
		if (!t || !*t || !n || !*n) {
			diag("empty text or name for %d", e);
			bad++;
		}
	}
	for (int e = EBB_E_PROTO; e < EBB_E_MAX; e++)
		if (strcmp(ebb_strerror((ebb_err)e), ebb_strerror(EBB_EIO)) == 0 ||
		    strncmp(ebb_errname((ebb_err)e), "E_", 2) != 0) {
			diag("own code %d has no own text or name (%s: %s)", e,
			     ebb_errname((ebb_err)e), ebb_strerror((ebb_err)e));
			bad++;
		}
	is_int(bad, 0, "every code (and unknown ones) has a non-empty text "
	       "and name; ebb's own codes have their own");
	ok(ebb_strerror((ebb_err)-7) != NULL && ebb_errname((ebb_err)99999) != NULL,
	   "out-of-range codes give text, not NULL");
	return tap_exit();
}
