/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stager: S3 object <-> POSIX file mapping, FSx for Lustre's way (see
 * stg_map.h).
 *
 * DESIGN: everything here is a pure function of its arguments so that the
 * stager's state machines (and tests/stager/t_map) can call it from any
 * thread.  Two rules shape the code:
 * - Metadata written by someone else is untrusted: a value that does not
 *   parse is dropped whole (the default is used) and named in a warning,
 *   never half-used; setuid, setgid and sticky are never imported, as FSx
 *   does not import them either.
 * - A key that cannot be a POSIX path is refused with a reason, never
 *   rewritten: a mangled name could collide with a real one, and FSx
 *   reports such keys as S3ObjectPathNotPosixCompliant too.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "stg_map.h"

#define _NAME_MAX 255
#define _PATH_MAX 4095
#define _SHOW_MAX 40          /* bytes of a bad value quoted in a warning */

/* ---- attributes from metadata ------------------------------------------- */

/* Append "; "-separated text to warn (which may be NULL or full). */
static void _warn(char *warn, size_t warnlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void _warn(char *warn, size_t warnlen, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	if (!warn || !warnlen)
		return;
	n = strnlen(warn, warnlen);
	if (n >= warnlen - 1)
		return;
	if (n > 0) {
		snprintf(warn + n, warnlen - n, "; ");
		n = strnlen(warn, warnlen);
	}
	va_start(ap, fmt);
	vsnprintf(warn + n, warnlen - n, fmt, ap);
	va_end(ap);
}

/* v shown safely in a message: at most _SHOW_MAX bytes, control bytes and
 * quotes as \xNN, "..." when cut. */
static const char *_show(const char *v, char *buf, size_t len)
{
	size_t o = 0, i;

	for (i = 0; v[i] && i < _SHOW_MAX && o + 5 < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c == 0x7f || c == '\'')
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	if (v[i] && o + 4 < len)
		memcpy(buf + o, "...", 4);
	return buf;
}

/* A whole unsigned decimal in 0..max (no sign, no blanks). */
static int _parse_dec(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* st_mode from octal text; -1 with why. */
static int _parse_mode(const char *s, char kind, uint32_t *out,
		       const char **why)
{
	uint32_t v = 0, type;
	const char *p;

	if (!*s) {
		*why = "empty";
		return -1;
	}
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '7') {
			*why = "not octal";
			return -1;
		}
		if (v > 0177777u >> 3) {
			*why = "out of range";
			return -1;
		}
		v = (v << 3) | (uint32_t)(*p - '0');
	}
	type = v & S_IFMT;
	if (type == 0) {
		/* bare permissions ("644"): the key says what it is */
		type = kind == 'd' ? S_IFDIR : S_IFREG;
	} else if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK &&
		   type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
		   type != S_IFBLK) {
		*why = "unknown file type";
		return -1;
	}
	if (kind == 'd' && type != S_IFDIR) {
		*why = "not a directory, but the key ends in '/'";
		return -1;
	}
	if (kind != 'd' && type == S_IFDIR) {
		*why = "a directory, but the key does not end in '/'";
		return -1;
	}
	/* never setuid, setgid or sticky */
	*out = type | (v & 0777);
	return 0;
}

/* "<ns>ns" or milliseconds; an optional '-' for times before 1970. */
static int _parse_time(const char *s, int64_t *out)
{
	size_t n = strlen(s);
	int neg = 0, ns = 0;
	uint64_t v, max;
	char digits[32];

	if (n >= 2 && strcmp(s + n - 2, "ns") == 0) {
		ns = 1;
		n -= 2;
	}
	if (n > 0 && s[0] == '-') {
		neg = 1;
		s++;
		n--;
	}
	if (n == 0 || n >= sizeof(digits))
		return -1;
	memcpy(digits, s, n);
	digits[n] = '\0';
	max = ns ? (uint64_t)INT64_MAX : (uint64_t)INT64_MAX / 1000000u;
	if (_parse_dec(digits, max, &v) < 0)
		return -1;
	if (!ns)
		v *= 1000000u;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

unsigned stg_attr_from_meta(const struct stg_meta *meta, unsigned nmeta,
			    char kind, uint32_t def_uid, uint32_t def_gid,
			    int64_t obj_mtime_ns, struct stg_attr *out,
			    char *warn, size_t warnlen)
{
	unsigned have = 0;
	char show[_SHOW_MAX * 4 + 8];

	if (warn && warnlen)
		warn[0] = '\0';
	out->mode = kind == 'd' ? (S_IFDIR | 0755) : (S_IFREG | 0644);
	out->uid = def_uid;
	out->gid = def_gid;
	out->mtime_ns = obj_mtime_ns;
	out->atime_ns = obj_mtime_ns;
	for (unsigned i = 0; i < nmeta; i++) {
		const char *name = meta[i].name, *v = meta[i].value;
		const char *why = NULL;
		uint64_t id;
		int64_t t;

		if (!name || !v)
			continue;
		if (strcmp(name, "file-permissions") == 0) {
			uint32_t mode;

			if (_parse_mode(v, kind, &mode, &why) == 0) {
				out->mode = mode;
				have |= STG_HAVE_MODE;
			} else {
				_warn(warn, warnlen, "file-permissions: %s: '%s'",
				      why, _show(v, show, sizeof(show)));
			}
		} else if (strcmp(name, "file-owner") == 0 ||
			   strcmp(name, "file-group") == 0) {
			int owner = name[5] == 'o';

			/* (uid_t)-1 means "no change" to chown(): not an id */
			if (_parse_dec(v, UINT32_MAX - 1, &id) == 0) {
				if (owner)
					out->uid = (uint32_t)id;
				else
					out->gid = (uint32_t)id;
				have |= owner ? STG_HAVE_UID : STG_HAVE_GID;
			} else {
				_warn(warn, warnlen, "%s: not a numeric id: "
				      "'%s'", name, _show(v, show, sizeof(show)));
			}
		} else if (strcmp(name, "file-atime") == 0 ||
			   strcmp(name, "file-mtime") == 0) {
			int m = name[5] == 'm';

			if (_parse_time(v, &t) == 0) {
				if (m)
					out->mtime_ns = t;
				else
					out->atime_ns = t;
				have |= m ? STG_HAVE_MTIME : STG_HAVE_ATIME;
			} else {
				_warn(warn, warnlen, "%s: not a time "
				      "(<ns>ns or milliseconds): '%s'", name,
				      _show(v, show, sizeof(show)));
			}
		}
	}
	if (!(have & STG_HAVE_ATIME))
		out->atime_ns = out->mtime_ns;
	return have;
}

unsigned stg_attr_to_meta(const struct stg_attr *attr, struct stg_meta meta[5],
			  char *buf, size_t buflen)
{
	static const char *const names[5] = {
		"file-permissions", "file-owner", "file-group", "file-atime",
		"file-mtime",
	};
	char vals[5][32];
	size_t o = 0;

	snprintf(vals[0], sizeof(vals[0]), "0%" PRIo32, attr->mode);
	snprintf(vals[1], sizeof(vals[1]), "%" PRIu32, attr->uid);
	snprintf(vals[2], sizeof(vals[2]), "%" PRIu32, attr->gid);
	snprintf(vals[3], sizeof(vals[3]), "%" PRId64 "ns", attr->atime_ns);
	snprintf(vals[4], sizeof(vals[4]), "%" PRId64 "ns", attr->mtime_ns);
	for (unsigned i = 0; i < 5; i++) {
		size_t nl = strlen(names[i]) + 1, vl = strlen(vals[i]) + 1;

		if (o + nl + vl > buflen)
			return 0;
		meta[i].name = memcpy(buf + o, names[i], nl);
		o += nl;
		meta[i].value = memcpy(buf + o, vals[i], vl);
		o += vl;
	}
	return 5;
}

/* ---- keys and paths ---------------------------------------------------- */

ebb_err stg_key_to_path_n(const char *rel, size_t rellen, char *path,
			  size_t pathlen, bool *is_dir, char *why,
			  size_t whylen)
{
	size_t i = 0, n;
	const char *reason = NULL;

	*is_dir = rellen > 0 && rel[rellen - 1] == '/';
	n = *is_dir ? rellen - 1 : rellen;
	if (why && whylen)
		why[0] = '\0';
	if (memchr(rel, '\0', rellen)) {
		reason = "NUL byte";
		goto out;
	}
	if (n > _PATH_MAX) {
		reason = "path over 4095 bytes";
		goto out;
	}
	/* "" is the listed key itself; "/" would be an empty name */
	if (n == 0 && *is_dir) {
		reason = "empty path segment";
		goto out;
	}
	while (i < n) {
		const char *seg = rel + i;
		const char *sl = memchr(seg, '/', n - i);
		size_t sn = sl ? (size_t)(sl - seg) : n - i;

		if (sn == 0 || (sl && sl + 1 == rel + n)) {
			/* "a//b", "/a", or "a//" (n stops before the last
			 * '/', so a '/' at n-1 is an empty last name) */
			reason = "empty path segment";
			goto out;
		}
		if (sn == 1 && seg[0] == '.') {
			reason = "'.' segment";
			goto out;
		}
		if (sn == 2 && seg[0] == '.' && seg[1] == '.') {
			reason = "'..' segment";
			goto out;
		}
		if (sn > _NAME_MAX) {
			reason = "name over 255 bytes";
			goto out;
		}
		i += sn + 1;
	}
	if (n + 1 > pathlen) {
		if (why && whylen)
			snprintf(why, whylen, "path buffer too small");
		return EBB_ERANGE;
	}
	memcpy(path, rel, n);
	path[n] = '\0';
	return EBB_OK;
out:
	if (why && whylen)
		snprintf(why, whylen, "%s", reason);
	return EBB_EINVAL;
}

ebb_err stg_key_to_path(const char *rel, char *path, size_t pathlen,
			bool *is_dir, char *why, size_t whylen)
{
	return stg_key_to_path_n(rel, strlen(rel), path, pathlen, is_dir, why,
				 whylen);
}

char *stg_path_to_key(const char *prefix, const char *rel, bool is_dir)
{
	size_t pl = strlen(prefix), rl = strlen(rel);
	bool open_prefix = pl > 0 && prefix[pl - 1] != '/';
	/* "data" + "x" is "data/x"; a directory at the prefix itself is
	 * "data/" (the bucket's root, prefix "", has no marker) */
	bool sep = open_prefix && rl > 0;
	bool slash = is_dir && (rl > 0 ? rel[rl - 1] != '/' : open_prefix);
	char *k = malloc(pl + rl + 3);

	if (!k)
		return NULL;
	memcpy(k, prefix, pl);
	if (sep)
		k[pl++] = '/';
	memcpy(k + pl, rel, rl);
	if (slash)
		k[pl + rl++] = '/';
	k[pl + rl] = '\0';
	return k;
}

/* ---- failures ---------------------------------------------------------- */

static const char *const _fail_codes[STG_F_MAX] = {
	[STG_F_ACCESS_DENIED] = "S3AccessDenied",
	[STG_F_NOT_FOUND] = "S3ObjectNotFound",
	[STG_F_NOT_POSIX] = "S3ObjectPathNotPosixCompliant",
	[STG_F_CHANGED] = "S3ObjectChanged",
	[STG_F_S3_ERROR] = "S3Error",
	[STG_F_NETWORK] = "NetworkError",
	[STG_F_INTERNAL] = "InternalError",
	[STG_F_UNSUPPORTED] = "UnsupportedFileType",
};

const char *stg_fail_code(enum stg_fail f)
{
	return (unsigned)f < STG_F_MAX ? _fail_codes[f] : "InternalError";
}

enum stg_fail stg_fail_of(const struct stg_result *res)
{
	static const struct {
		const char *code;
		enum stg_fail f;
	} codes[] = {
		{"AccessDenied", STG_F_ACCESS_DENIED},
		{"AllAccessDisabled", STG_F_ACCESS_DENIED},
		{"AccountProblem", STG_F_ACCESS_DENIED},
		{"InvalidAccessKeyId", STG_F_ACCESS_DENIED},
		{"SignatureDoesNotMatch", STG_F_ACCESS_DENIED},
		{"ExpiredToken", STG_F_ACCESS_DENIED},
		{"NoSuchKey", STG_F_NOT_FOUND},
		{"NoSuchBucket", STG_F_NOT_FOUND},
		{"NoSuchUpload", STG_F_NOT_FOUND},
		{"PreconditionFailed", STG_F_CHANGED},
	};

	if (!res)
		return STG_F_INTERNAL;
	/* S3's own word first: it is more precise than the status */
	for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(res->s3_code, codes[i].code) == 0)
			return codes[i].f;
	switch (res->http_status) {
	case 403:
		return STG_F_ACCESS_DENIED;
	case 404:
		return STG_F_NOT_FOUND;
	case 412:
		return STG_F_CHANGED;
	default:
		break;
	}
	if (res->http_status >= 300 || res->err == EBB_E_S3)
		return STG_F_S3_ERROR;
	switch (res->err) {
	case EBB_EACCES:
		return STG_F_ACCESS_DENIED;
	case EBB_ENOENT:
		return STG_F_NOT_FOUND;
	case EBB_ETIMEDOUT:
	case EBB_ECONNREFUSED:
		return STG_F_NETWORK;
	case EBB_EIO:
		/* stg.h: EIO without an HTTP status is the transport (a sink
		 * error would come with the status of the GET it failed) */
		return res->http_status == 0 ? STG_F_NETWORK : STG_F_INTERNAL;
	default:
		return STG_F_INTERNAL;
	}
}

/* ---- the CSV report ---------------------------------------------------- */

size_t stg_csv_field(char *buf, size_t buflen, const char *field)
{
	size_t need = 0, o = 0;
	int quote;

	if (!field)
		field = "";
	quote = strpbrk(field, ",\"\r\n") != NULL;
	for (const char *p = field; *p; p++)
		need += *p == '"' && quote ? 2 : 1;
	if (quote)
		need += 2;
	if (need + 1 > buflen) {
		if (buflen)
			buf[0] = '\0';
		return need;
	}
	if (quote)
		buf[o++] = '"';
	for (const char *p = field; *p; p++) {
		if (*p == '"' && quote)
			buf[o++] = '"';
		buf[o++] = *p;
	}
	if (quote)
		buf[o++] = '"';
	buf[o] = '\0';
	return o;
}

int stg_csv_write(FILE *f, const char *path, enum stg_fail code)
{
	char small[512], *b = small;
	size_t n = stg_csv_field(small, sizeof(small), path);
	int rc;

	if (n >= sizeof(small)) {
		b = malloc(n + 1);
		if (!b) {
			errno = ENOMEM;
			return -1;
		}
		stg_csv_field(b, n + 1, path);
	}
	rc = fprintf(f, "%s,FAILED,%s\r\n", b, stg_fail_code(code)) < 0 ? -1 : 0;
	if (b != small)
		free(b);
	return rc;
}
