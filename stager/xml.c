/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stager: S3's XML answers (ListObjectsV2, multipart, errors) with expat.
 *
 * DESIGN: one small driver turns expat's callbacks into "element ended"
 * events carrying the element's path from the root ("/ListBucketResult/
 * Contents/Key") and its text; each document type is then a flat handler
 * matching paths.  S3's documents are shallow and their text nodes short,
 * so the driver keeps the whole path and one text buffer and refuses
 * anything deeper or longer than S3 ever sends.  Namespaces are ignored
 * (a plain expat parser keeps "ListBucketResult" whatever xmlns says).
 */
#include "config.h"

#include <ctype.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stg.h"
#include "stg_int.h"

#define XP_MAX_PATH 512
#define XP_MAX_TEXT (64 * 1024)   /* a key is at most 1 KiB; tokens less */

struct _xp;
typedef void (*_xp_end_fn)(struct _xp *xp, const char *path,
			   const char *text);

struct _xp {
	XML_Parser parser;
	char path[XP_MAX_PATH];
	size_t pathlen;
	char root[64];            /* the document element's name */
	char *text;
	size_t tlen, tcap;
	_xp_end_fn end;
	void *ctx;
	ebb_err err;              /* first failure of a handler */
	char why[160];
};

static void _xp_fail(struct _xp *xp, ebb_err e, const char *why)
{
	if (xp->err)
		return;
	xp->err = e;
	snprintf(xp->why, sizeof(xp->why), "%s", why);
	XML_StopParser(xp->parser, XML_FALSE);
}

static void XMLCALL _xp_start(void *arg, const XML_Char *name,
			      const XML_Char **attrs)
{
	struct _xp *xp = arg;
	size_t n = strlen(name);

	(void)attrs;
	if (xp->pathlen == 0)
		snprintf(xp->root, sizeof(xp->root), "%s", name);
	if (xp->pathlen + n + 2 > sizeof(xp->path)) {
		_xp_fail(xp, EBB_EPROTO, "elements nested too deep");
		return;
	}
	xp->path[xp->pathlen++] = '/';
	memcpy(xp->path + xp->pathlen, name, n + 1);
	xp->pathlen += n;
	xp->tlen = 0;
}

static void XMLCALL _xp_text(void *arg, const XML_Char *s, int len)
{
	struct _xp *xp = arg;
	size_t need = xp->tlen + (size_t)len + 1;
	char *t;

	if (xp->err)
		return;
	if (need > XP_MAX_TEXT) {
		_xp_fail(xp, EBB_EPROTO, "a text node is over 64 KiB");
		return;
	}
	if (need > xp->tcap) {
		size_t cap = xp->tcap ? xp->tcap * 2 : 256;

		while (cap < need)
			cap *= 2;
		t = realloc(xp->text, cap);
		if (!t) {
			_xp_fail(xp, EBB_ENOMEM, "out of memory");
			return;
		}
		xp->text = t;
		xp->tcap = cap;
	}
	memcpy(xp->text + xp->tlen, s, (size_t)len);
	xp->tlen += (size_t)len;
}

static void XMLCALL _xp_endel(void *arg, const XML_Char *name)
{
	struct _xp *xp = arg;
	char *slash;

	(void)name;
	if (xp->err)
		return;
	if (xp->text)
		xp->text[xp->tlen] = '\0';
	xp->end(xp, xp->path, xp->text ? xp->text : "");
	slash = strrchr(xp->path, '/');
	xp->pathlen = slash ? (size_t)(slash - xp->path) : 0;
	xp->path[xp->pathlen] = '\0';
	xp->tlen = 0;
}

/* Parse body, calling end for every element.  expect is the document
 * element wanted; an <Error> document instead gives EBB_E_S3 (the caller's
 * handler has seen its Code and Message).  err gets the reason otherwise. */
static ebb_err _xp_run(struct _xp *xp, const char *body, size_t len,
		       const char *expect, char *err, size_t errlen)
{
	ebb_err ret = EBB_EPROTO;

	/* S3 may send whitespace before the document (it keeps a
	 * CompleteMultipartUpload connection alive that way); an XML
	 * declaration after it would be an error for expat. */
	while (len && (*body == ' ' || *body == '\t' || *body == '\r' ||
		       *body == '\n')) {
		body++;
		len--;
	}
	if (len == 0) {
		snprintf(err, errlen, "empty body where a %s document was "
			 "expected", expect);
		return EBB_EPROTO;
	}
	if (len > 64u * 1024 * 1024) {
		snprintf(err, errlen, "XML body of %zu bytes is too large",
			 len);
		return EBB_EPROTO;
	}
	xp->parser = XML_ParserCreate("UTF-8");
	if (!xp->parser) {
		snprintf(err, errlen, "out of memory");
		return EBB_ENOMEM;
	}
	XML_SetUserData(xp->parser, xp);
	XML_SetElementHandler(xp->parser, _xp_start, _xp_endel);
	XML_SetCharacterDataHandler(xp->parser, _xp_text);
	if (XML_Parse(xp->parser, body, (int)len, XML_TRUE) !=
	    XML_STATUS_OK) {
		if (xp->err) {
			ret = xp->err;
			snprintf(err, errlen, "%s document: %s", expect,
				 xp->why);
		} else {
			snprintf(err, errlen, "malformed XML at line %lu "
				 "column %lu: %s",
				 (unsigned long)XML_GetCurrentLineNumber(
					 xp->parser),
				 (unsigned long)XML_GetCurrentColumnNumber(
					 xp->parser),
				 XML_ErrorString(XML_GetErrorCode(xp->parser)));
		}
		goto out;
	}
	if (xp->err) {
		ret = xp->err;
		snprintf(err, errlen, "%s document: %s", expect, xp->why);
		goto out;
	}
	if (strcmp(xp->root, "Error") == 0) {
		snprintf(err, errlen, "S3 answered with an Error document");
		ret = EBB_E_S3;
		goto out;
	}
	if (strcmp(xp->root, expect) != 0) {
		snprintf(err, errlen, "expected a %s document, got <%.40s>",
			 expect, xp->root);
		goto out;
	}
	ret = EBB_OK;
out:
	XML_ParserFree(xp->parser);
	xp->parser = NULL;
	free(xp->text);
	xp->text = NULL;
	return ret;
}

/* ---- <Error> ------------------------------------------------------------- */

struct _err_ctx {
	char *code, *msg;
	size_t codelen, msglen;
};

static void _err_end(struct _xp *xp, const char *path, const char *text)
{
	struct _err_ctx *c = xp->ctx;

	if (strcmp(path, "/Error/Code") == 0)
		snprintf(c->code, c->codelen, "%s", text);
	else if (strcmp(path, "/Error/Message") == 0)
		snprintf(c->msg, c->msglen, "%s", text);
}

ebb_err stg_xml_error(const char *body, size_t len, char *code,
		      size_t codelen, char *msg, size_t msglen)
{
	struct _err_ctx c = {code, msg, codelen, msglen};
	struct _xp xp = {.end = _err_end, .ctx = &c};
	char why[200];
	ebb_err e;

	code[0] = msg[0] = '\0';
	e = _xp_run(&xp, body, len, "Error", why, sizeof(why));
	/* Our driver reports an <Error> root as EBB_E_S3: here that is what
	 * we wanted. */
	return e == EBB_E_S3 ? EBB_OK : EBB_EPROTO;
}

/* ---- ListObjectsV2 --------------------------------------------------------- */

struct _list_ctx {
	struct stg_result *res;
	bool url_encoded;         /* <EncodingType>url</EncodingType> */
	struct stg_object cur;
	unsigned cap_obj, cap_pfx;
	char code[64], msg[256];
	struct _err_ctx ec;       /* for an <Error> document instead */
};

static int _parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	*out = strtoull(s, &end, 10);
	return *end ? -1 : 0;
}

static void _list_end(struct _xp *xp, const char *path, const char *text)
{
	struct _list_ctx *c = xp->ctx;
	struct stg_result *res = c->res;
	static const char C[] = "/ListBucketResult/Contents";
	const size_t clen = sizeof(C) - 1;

	if (strncmp(path, C, clen) == 0) {
		const char *leaf = path + clen;

		if (strcmp(leaf, "/Key") == 0) {
			free(c->cur.key);
			c->cur.key = strdup(text);
			if (!c->cur.key)
				_xp_fail(xp, EBB_ENOMEM, "out of memory");
		} else if (strcmp(leaf, "/Size") == 0) {
			if (_parse_u64(text, &c->cur.size))
				_xp_fail(xp, EBB_EPROTO, "a Size is not a "
					 "number");
		} else if (strcmp(leaf, "/ETag") == 0) {
			snprintf(c->cur.etag, sizeof(c->cur.etag), "%s", text);
		} else if (strcmp(leaf, "/LastModified") == 0) {
			c->cur.mtime_ns = stg_iso8601_ns(text);
			if (c->cur.mtime_ns < 0)
				_xp_fail(xp, EBB_EPROTO, "a LastModified is "
					 "not an ISO-8601 time");
		} else if (*leaf == '\0') {
			if (!c->cur.key) {
				_xp_fail(xp, EBB_EPROTO, "Contents without "
					 "a Key");
				return;
			}
			if (res->nobjects == c->cap_obj) {
				unsigned cap = c->cap_obj ? c->cap_obj * 2 : 64;
				struct stg_object *o = realloc(res->objects,
							       cap * sizeof(*o));

				if (!o) {
					_xp_fail(xp, EBB_ENOMEM, "out of "
						 "memory");
					return;
				}
				res->objects = o;
				c->cap_obj = cap;
			}
			res->objects[res->nobjects++] = c->cur;
			memset(&c->cur, 0, sizeof(c->cur));
		}
	} else if (strcmp(path, "/ListBucketResult/CommonPrefixes/Prefix")
		   == 0) {
		if (res->nprefixes == c->cap_pfx) {
			unsigned cap = c->cap_pfx ? c->cap_pfx * 2 : 16;
			char **p = realloc(res->prefixes, cap * sizeof(*p));

			if (!p) {
				_xp_fail(xp, EBB_ENOMEM, "out of memory");
				return;
			}
			res->prefixes = p;
			c->cap_pfx = cap;
		}
		res->prefixes[res->nprefixes] = strdup(text);
		if (!res->prefixes[res->nprefixes])
			_xp_fail(xp, EBB_ENOMEM, "out of memory");
		else
			res->nprefixes++;
	} else if (strcmp(path, "/ListBucketResult/EncodingType") == 0) {
		c->url_encoded = strcmp(text, "url") == 0;
	} else if (strcmp(path, "/ListBucketResult/IsTruncated") == 0) {
		res->truncated = strcmp(text, "true") == 0;
	} else if (strcmp(path, "/ListBucketResult/NextContinuationToken")
		   == 0) {
		free(res->next_token);
		res->next_token = strdup(text);
		if (!res->next_token)
			_xp_fail(xp, EBB_ENOMEM, "out of memory");
	} else {
		xp->ctx = &c->ec;
		_err_end(xp, path, text);
		xp->ctx = c;
	}
}

/* Undo encoding-type=url in place: %XX is a byte, '+' a space (AWS
 * writes spaces so; RGW writes %20 and encodes '+' as %2B).  -1 on a bad
 * escape. */
static int _url_decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '+') {
			*o++ = ' ';
		} else if (*s == '%') {
			unsigned v;

			if (!isxdigit((unsigned char)s[1]) ||
			    !isxdigit((unsigned char)s[2]) ||
			    sscanf(s + 1, "%2x", &v) != 1 || v == 0)
				return -1;
			*o++ = (char)v;
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return 0;
}

ebb_err stg_xml_list(const char *body, size_t len, struct stg_result *res,
		     char *err, size_t errlen)
{
	struct _list_ctx c = {.res = res};
	struct _xp xp = {.end = _list_end, .ctx = &c};
	ebb_err e;

	c.ec = (struct _err_ctx){c.code, c.msg, sizeof(c.code), sizeof(c.msg)};
	e = _xp_run(&xp, body, len, "ListBucketResult", err, errlen);
	free(c.cur.key);
	if (e == EBB_E_S3)
		snprintf(err, errlen, "%s%s%s", *c.code ? c.code : "(no Code)",
			 *c.msg ? ": " : "", c.msg);
	if (e == EBB_OK && c.url_encoded) {
		/* We ask for encoding-type=url: XML 1.0 cannot carry every
		 * byte a key may hold (RGW writes &#x01; otherwise, which no
		 * conforming parser accepts). */
		unsigned i;

		for (i = 0; i < res->nobjects && e == EBB_OK; i++)
			if (_url_decode(res->objects[i].key)) {
				snprintf(err, errlen, "ListBucketResult: bad "
					 "URL encoding in a Key");
				e = EBB_EPROTO;
			}
		for (i = 0; i < res->nprefixes && e == EBB_OK; i++)
			if (_url_decode(res->prefixes[i])) {
				snprintf(err, errlen, "ListBucketResult: bad "
					 "URL encoding in a Prefix");
				e = EBB_EPROTO;
			}
	}
	else if (e == EBB_OK && res->truncated && !res->next_token) {
		snprintf(err, errlen, "ListBucketResult is truncated but has "
			 "no NextContinuationToken");
		e = EBB_EPROTO;
	}
	return e;
}

/* ---- multipart --------------------------------------------------------------- */

struct _one_ctx {
	const char *want;         /* the path whose text we keep */
	char *out;
	size_t outlen;
	bool seen;
	struct _err_ctx ec;
};

static void _one_end(struct _xp *xp, const char *path, const char *text)
{
	struct _one_ctx *c = xp->ctx;

	if (strcmp(path, c->want) == 0) {
		if (strlen(text) >= c->outlen) {
			_xp_fail(xp, EBB_EPROTO, "value too long");
			return;
		}
		snprintf(c->out, c->outlen, "%s", text);
		c->seen = true;
		return;
	}
	xp->ctx = &c->ec;
	_err_end(xp, path, text);
	xp->ctx = c;
}

ebb_err stg_xml_upload_id(const char *body, size_t len, char *out,
			  size_t outlen, char *err, size_t errlen)
{
	char code[64] = "", msg[256] = "";
	struct _one_ctx c = {"/InitiateMultipartUploadResult/UploadId", out,
			     outlen, false, {code, msg, sizeof(code),
					     sizeof(msg)}};
	struct _xp xp = {.end = _one_end, .ctx = &c};
	ebb_err e;

	out[0] = '\0';
	e = _xp_run(&xp, body, len, "InitiateMultipartUploadResult", err,
		    errlen);
	if (e == EBB_E_S3)
		snprintf(err, errlen, "%s: %s", code, msg);
	else if (e == EBB_OK && (!c.seen || !*out)) {
		snprintf(err, errlen, "InitiateMultipartUploadResult has no "
			 "UploadId");
		e = EBB_EPROTO;
	}
	return e;
}

ebb_err stg_xml_complete(const char *body, size_t len, char *etag,
			 size_t etaglen, char *code, size_t codelen,
			 char *msg, size_t msglen, char *err, size_t errlen)
{
	struct _one_ctx c = {"/CompleteMultipartUploadResult/ETag", etag,
			     etaglen, false, {code, msg, codelen, msglen}};
	struct _xp xp = {.end = _one_end, .ctx = &c};
	ebb_err e;

	etag[0] = code[0] = msg[0] = '\0';
	e = _xp_run(&xp, body, len, "CompleteMultipartUploadResult", err,
		    errlen);
	if (e == EBB_E_S3)
		snprintf(err, errlen, "200 with an Error document: %s%s%s",
			 *code ? code : "(no Code)", *msg ? ": " : "", msg);
	/* An empty or missing ETag is accepted: Ceph RGW 16 sends
	 * <ETag></ETag>; the root element is what says the upload is done. */
	return e;
}

/* ---- small helpers ------------------------------------------------------------- */

int64_t stg_iso8601_ns(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, n = 0;
	int64_t frac = 0, scale = 1000000000;
	const char *p;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
		   &n) != 6 || n != 19)
		return -1;
	p = s + n;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return (int64_t)t * 1000000000 + frac;
}

char *stg_xml_escape(const char *s)
{
	size_t n = 1;
	const char *p;
	char *out, *o;

	for (p = s; *p; p++)
		n += strchr("&<>\"'", *p) ? 6 : 1;
	out = malloc(n);
	if (!out)
		return NULL;
	for (p = s, o = out; *p; p++) {
		const char *rep = NULL;

		switch (*p) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		}
		if (rep) {
			strcpy(o, rep);
			o += strlen(rep);
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}
