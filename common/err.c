/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb_err names, texts and the conversion to and from errno. */
#include "config.h"

#include <errno.h>

#include "err.h"

struct err_info {
	ebb_err err;
	const char *name;
	const char *text;
	int errnum;
};

static const struct err_info _errs[] = {
	{EBB_OK, "OK", "success", 0},
	{EBB_EPERM, "EPERM", "operation not permitted", EPERM},
	{EBB_ENOENT, "ENOENT", "no such file or directory", ENOENT},
	{EBB_EINTR, "EINTR", "interrupted", EINTR},
	{EBB_EIO, "EIO", "input/output error", EIO},
	{EBB_E2BIG, "E2BIG", "argument list too long", E2BIG},
	{EBB_EBADF, "EBADF", "bad file handle", EBADF},
	{EBB_EAGAIN, "EAGAIN", "resource temporarily unavailable", EAGAIN},
	{EBB_ENOMEM, "ENOMEM", "out of memory", ENOMEM},
	{EBB_EACCES, "EACCES", "permission denied", EACCES},
	{EBB_EBUSY, "EBUSY", "device or resource busy", EBUSY},
	{EBB_EEXIST, "EEXIST", "file exists", EEXIST},
	{EBB_EXDEV, "EXDEV", "cross-device link", EXDEV},
	{EBB_ENOTDIR, "ENOTDIR", "not a directory", ENOTDIR},
	{EBB_EISDIR, "EISDIR", "is a directory", EISDIR},
	{EBB_EINVAL, "EINVAL", "invalid argument", EINVAL},
	{EBB_EFBIG, "EFBIG", "file too large", EFBIG},
	{EBB_ENOSPC, "ENOSPC", "no space left on the instance", ENOSPC},
	{EBB_EROFS, "EROFS", "read-only file system", EROFS},
	{EBB_EMLINK, "EMLINK", "too many links", EMLINK},
	{EBB_ERANGE, "ERANGE", "result out of range", ERANGE},
	{EBB_ENAMETOOLONG, "ENAMETOOLONG", "file name too long", ENAMETOOLONG},
	{EBB_ENOSYS, "ENOSYS", "function not implemented", ENOSYS},
	{EBB_ENOTEMPTY, "ENOTEMPTY", "directory not empty", ENOTEMPTY},
	{EBB_ELOOP, "ELOOP", "too many levels of symbolic links", ELOOP},
	{EBB_ENODATA, "ENODATA", "no data available", ENODATA},
	{EBB_EPROTO, "EPROTO", "protocol error", EPROTO},
	{EBB_EMSGSIZE, "EMSGSIZE", "message too long", EMSGSIZE},
	{EBB_EOPNOTSUPP, "EOPNOTSUPP", "operation not supported", EOPNOTSUPP},
	{EBB_ECONNREFUSED, "ECONNREFUSED", "connection refused", ECONNREFUSED},
	{EBB_ETIMEDOUT, "ETIMEDOUT", "timed out", ETIMEDOUT},
	{EBB_ESTALE, "ESTALE", "stale file handle", ESTALE},
	{EBB_E_PROTO, "E_PROTO", "malformed frame or arguments", EPROTO},
	{EBB_E_TOOBIG, "E_TOOBIG", "frame over a protocol limit", EMSGSIZE},
	{EBB_E_AUTH, "E_AUTH", "no valid MUNGE credential", EACCES},
	{EBB_E_VERSION, "E_VERSION", "protocol version not supported", EPROTONOSUPPORT},
	{EBB_E_NOINST, "E_NOINST", "no such instance", ENOENT},
	{EBB_E_BADOP, "E_BADOP", "unknown operation", EOPNOTSUPP},
	{EBB_E_DENIED, "E_DENIED", "caller is not allowed to do this", EACCES},
	{EBB_E_CONFIG, "E_CONFIG", "bad configuration", EINVAL},
	{EBB_E_CLOSED, "E_CLOSED", "connection closed by peer", EIO},
	{EBB_E_S3, "E_S3", "S3 request failed", EIO},
	{EBB_E_STAGE, "E_STAGE", "stage finished with failed files", EIO},
};

static const struct err_info *_find(ebb_err err)
{
	for (size_t i = 0; i < sizeof(_errs) / sizeof(_errs[0]); i++)
		if (_errs[i].err == err)
			return &_errs[i];
	return NULL;
}

const char *ebb_strerror(ebb_err err)
{
	const struct err_info *e = _find(err);
	return e ? e->text : "unknown error";
}

const char *ebb_errname(ebb_err err)
{
	const struct err_info *e = _find(err);
	return e ? e->name : "E_UNKNOWN";
}

int ebb_err_to_errno(ebb_err err)
{
	const struct err_info *e = _find(err);
	return e ? e->errnum : EIO;
}

ebb_err ebb_err_from_errno(int errnum)
{
	if (errnum == 0)
		return EBB_OK;
	for (size_t i = 0; i < sizeof(_errs) / sizeof(_errs[0]); i++)
		if (_errs[i].err < 1000 && _errs[i].errnum == errnum)
			return _errs[i].err;
	return EBB_EIO;
}
