/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stager: one request's HTTP exchange: what goes out (URL, query, headers,
 * body) and what comes back (headers, body into the sink, XML), and the
 * verdict on an attempt (s3.c runs the loop and the state machine).
 *
 * DESIGN: everything here works on one struct stg_req and its curl easy
 * handle and never touches the client's loop, so the checks S3 needs
 * (sizes, Content-Range, MD5 against the ETag, the 200-with-<Error> of
 * CompleteMultipartUpload) read in one place.  A GET keeps, across
 * attempts, how many bytes its sink accepted: the next attempt asks only
 * for the rest and pins the ETag the first bytes came from (If-Match).
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "s3_int.h"
#include "stg.h"
#include "stg_int.h"

#define RBUF_MAX_ERROR (1u << 20)        /* an error body: 1 MiB is plenty */
#define RBUF_MAX_XML (64u << 20)         /* a listing page of 1000 keys */
#define MAX_KEY_LEN 1024                 /* S3's own limit, in bytes */
/* curl's receive and send buffers for bodies bigger than this (default
 * 16 and 64 KiB): fewer sink calls (pwrites) and sends per stripe; one
 * of each per easy handle in flight (s3_max_inflight). */
#define STG_IO_BUFFER (256u << 10)

static const char *const _op_names[] = {
	[STG_HEAD] = "HEAD",
	[STG_GET] = "GET",
	[STG_PUT] = "PUT",
	[STG_LIST] = "LIST",
	[STG_MPU_CREATE] = "MPU-CREATE",
	[STG_MPU_PART] = "MPU-PART",
	[STG_MPU_COMPLETE] = "MPU-COMPLETE",
	[STG_MPU_ABORT] = "MPU-ABORT",
	[STG_DELETE] = "DELETE",
};

static void _meta_free(struct stg_meta *m, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		free(m[i].name);
		free(m[i].value);
	}
	free(m);
}

void stg_result_free(struct stg_result *res)
{
	unsigned i;

	if (!res)
		return;
	_meta_free(res->meta, res->nmeta);
	for (i = 0; i < res->nobjects; i++)
		free(res->objects[i].key);
	free(res->objects);
	for (i = 0; i < res->nprefixes; i++)
		free(res->prefixes[i]);
	free(res->prefixes);
	free(res->next_token);
	res->meta = NULL;
	res->nmeta = 0;
	res->objects = NULL;
	res->nobjects = 0;
	res->prefixes = NULL;
	res->nprefixes = 0;
	res->next_token = NULL;
}

static void _md5_hex(const void *data, size_t len, char hex[33],
		     char b64[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, i;

	EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL);
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (b64)
		EVP_EncodeBlock((unsigned char *)b64, md, 16);
}

/* Whether an ETag ("\"hex\"", any case) is the MD5 given in hex. */
static bool _etag_is_md5(const char *etag, const char *hex)
{
	size_t n = strlen(etag);

	if (n == 34 && etag[0] == '"' && etag[33] == '"')
		return strncasecmp(etag + 1, hex, 32) == 0;
	return n == 32 && strcasecmp(etag, hex) == 0;
}

/* A plain MD5 ETag: 32 hex digits in quotes, no "-N" part count. */
static bool _etag_plain(const char *etag)
{
	size_t n = strlen(etag), i;

	if (n != 34 || etag[0] != '"' || etag[33] != '"')
		return false;
	for (i = 1; i < 33; i++)
		if (!strchr("0123456789abcdefABCDEF", etag[i]))
			return false;
	return true;
}

/* The one-line message of a result: "<ctx>: <what>". */
void stg_req_msg(struct stg_req *req, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(req->res.message, sizeof(req->res.message), "%.120s: %.130s",
		 req->ctx, what);
}

/* ---- curl's callbacks ---------------------------------------------------------- */

static size_t _read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct stg_req *req = arg;
	size_t left = req->call.body_len - req->put_off;
	size_t n = size * nitems < left ? size * nitems : left;

	if (n)
		memcpy(buf, (const char *)req->call.body + req->put_off, n);
	req->put_off += n;
	return n;
}

static int _seek_cb(void *arg, curl_off_t off, int origin)
{
	struct stg_req *req = arg;

	if (origin != SEEK_SET || off < 0 ||
	    (uint64_t)off > req->call.body_len)
		return CURL_SEEKFUNC_FAIL;
	req->put_off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static bool _hdr_is(const char *line, size_t len, const char *name,
		    const char **val)
{
	size_t n = strlen(name);

	if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
		return false;
	*val = line + n + 1;
	return true;
}

/* Reset what one response says: a new status line starts a new one. */
static void _resp_reset(struct stg_req *req)
{
	req->have_clen = req->have_crange = false;
	req->clen = req->cr_start = req->cr_end = req->cr_total = 0;
	_meta_free(req->res.meta, req->res.nmeta);
	req->res.meta = NULL;
	req->res.nmeta = 0;
	req->res.etag[0] = '\0';
	req->rlen = 0;
}

static ebb_err _meta_add(struct stg_req *req, const char *name, size_t nlen,
			 const char *val)
{
	struct stg_meta *m = realloc(req->res.meta,
				     (req->res.nmeta + 1) * sizeof(*m));
	size_t i;

	if (!m)
		return EBB_ENOMEM;
	req->res.meta = m;
	m += req->res.nmeta;
	m->name = strndup(name, nlen);
	m->value = strdup(val);
	if (!m->name || !m->value) {
		free(m->name);
		free(m->value);
		return EBB_ENOMEM;
	}
	for (i = 0; i < nlen; i++)
		if (m->name[i] >= 'A' && m->name[i] <= 'Z')
			m->name[i] = (char)(m->name[i] - 'A' + 'a');
	req->res.nmeta++;
	return EBB_OK;
}

static size_t _header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct stg_req *req = arg;
	size_t len = size * nitems, vlen;
	char val[512];
	const char *v;

	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		const char *sp = memchr(buf, ' ', len);

		_resp_reset(req);
		req->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return size * nitems;
	}
	if (!memchr(buf, ':', len))
		return size * nitems;
	v = memchr(buf, ':', len) + 1;
	while (v < buf + len && (*v == ' ' || *v == '\t'))
		v++;
	vlen = (size_t)(buf + len - v);
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (vlen >= sizeof(val))
		vlen = sizeof(val) - 1;
	memcpy(val, v, vlen);
	val[vlen] = '\0';

	if (_hdr_is(buf, len, "ETag", &v)) {
		snprintf(req->res.etag, sizeof(req->res.etag), "%.79s", val);
	} else if (_hdr_is(buf, len, "Content-Length", &v)) {
		req->have_clen = true;
		req->clen = strtoull(val, NULL, 10);
	} else if (_hdr_is(buf, len, "Content-Range", &v)) {
		unsigned long long a, b, t;

		if (sscanf(val, "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
			req->have_crange = true;
			req->cr_start = a;
			req->cr_end = b;
			req->cr_total = t;
		}
	} else if (_hdr_is(buf, len, "Last-Modified", &v)) {
		time_t t = curl_getdate(val, NULL);

		if (t != (time_t)-1)
			req->res.mtime_ns = (int64_t)t * 1000000000;
	} else if (len > 11 && strncasecmp(buf, "x-amz-meta-", 11) == 0) {
		const char *colon = memchr(buf, ':', len);

		if (_meta_add(req, buf + 11, (size_t)(colon - buf - 11), val))
			return 0;     /* ENOMEM: curl fails the transfer */
	}
	return size * nitems;
}

static bool _ok_status(long st)
{
	return st >= 200 && st < 300;
}

/* GET, first body bytes of a 2xx answer: does it cover what we asked? */
static bool _get_check_headers(struct stg_req *req)
{
	uint64_t start = 0;

	req->body_checked = true;
	if (!req->pin_etag[0])
		snprintf(req->pin_etag, sizeof(req->pin_etag), "%s",
			 req->res.etag);
	if (req->have_crange) {
		start = req->cr_start;
		req->res.size = req->cr_total;
	} else {
		req->res.size = req->clen;
	}
	if (start > req->att_start) {
		req->abort_err = EBB_EPROTO;
		snprintf(req->abort_msg, sizeof(req->abort_msg), "asked for "
			 "bytes from %llu, got Content-Range from %llu",
			 (unsigned long long)req->att_start,
			 (unsigned long long)start);
		return false;
	}
	/* A server that ignores Range sends from 0: drop what we have. */
	req->skip = req->att_start - start;
	return true;
}

static size_t _write_cb(char *data, size_t size, size_t nitems, void *arg)
{
	struct stg_req *req = arg;
	size_t n = size * nitems;
	const struct stg_call *c = &req->call;

	if (c->op == STG_GET && _ok_status(req->status)) {
		uint64_t want, room;
		int rc;

		if (!req->body_checked && !_get_check_headers(req))
			return 0;
		req->att_bytes += n;
		if (req->skip) {
			size_t drop = req->skip < n ? (size_t)req->skip : n;

			data += drop;
			n -= drop;
			req->skip -= drop;
			if (!n)
				return size * nitems;
		}
		want = c->len ? c->len : UINT64_MAX;
		room = want - req->delivered;
		if (n > room) {
			req->abort_err = EBB_EPROTO;
			snprintf(req->abort_msg, sizeof(req->abort_msg),
				 "server sent more than the %llu bytes asked",
				 (unsigned long long)c->len);
			return 0;
		}
		if (c->sink) {
			rc = c->sink(c->sink_arg, c->off + req->delivered, data,
				     n);
			if (rc) {
				req->abort_err = ebb_err_from_errno(rc);
				snprintf(req->abort_msg, sizeof(req->abort_msg),
					 "sink failed at offset %llu: %s",
					 (unsigned long long)(c->off +
							      req->delivered),
					 strerror(rc));
				return 0;
			}
		} else {
			memcpy((char *)c->buf + req->delivered, data, n);
		}
		if (req->md5)
			EVP_DigestUpdate(req->md5, data, n);
		req->delivered += n;
		return size * nitems;
	}
	/* An XML answer, or an error body. */
	{
		size_t max = _ok_status(req->status) ? RBUF_MAX_XML
						     : RBUF_MAX_ERROR;
		size_t need = req->rlen + n + 1;

		if (need > max) {
			req->abort_err = EBB_EPROTO;
			snprintf(req->abort_msg, sizeof(req->abort_msg),
				 "answer body over %zu bytes", max);
			return 0;
		}
		if (need > req->rcap) {
			size_t cap = req->rcap ? req->rcap : 4096;
			char *p;

			while (cap < need)
				cap *= 2;
			p = realloc(req->rbuf, cap);
			if (!p) {
				req->abort_err = EBB_ENOMEM;
				snprintf(req->abort_msg, sizeof(req->abort_msg),
					 "out of memory");
				return 0;
			}
			req->rbuf = p;
			req->rcap = cap;
		}
		memcpy(req->rbuf + req->rlen, data, n);
		req->rlen += n;
		req->rbuf[req->rlen] = '\0';
	}
	return size * nitems;
}

/* ---- building one attempt ---------------------------------------------------------- */

static ebb_err _hdr(struct stg_req *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static ebb_err _hdr(struct stg_req *req, const char *fmt, ...)
{
	char line[2200];
	struct curl_slist *l;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	l = curl_slist_append(req->hdrs, line);
	if (!l)
		return EBB_ENOMEM;
	req->hdrs = l;
	return EBB_OK;
}

/* The query string of the request (malloc'd, "" for none). */
static char *_req_query(const struct stg_call *c)
{
	const char *n[8], *v[8];
	char num[24], part[16];
	unsigned k = 0;

	switch (c->op) {
	case STG_LIST:
		n[k] = "list-type"; v[k++] = "2";
		/* Keys may hold bytes XML 1.0 cannot (xml.c decodes). */
		n[k] = "encoding-type"; v[k++] = "url";
		if (c->prefix && *c->prefix) {
			n[k] = "prefix"; v[k++] = c->prefix;
		}
		if (c->delimiter && *c->delimiter) {
			n[k] = "delimiter"; v[k++] = c->delimiter;
		}
		if (c->token && *c->token) {
			n[k] = "continuation-token"; v[k++] = c->token;
		}
		if (c->start_after && *c->start_after) {
			n[k] = "start-after"; v[k++] = c->start_after;
		}
		if (c->max_keys) {
			snprintf(num, sizeof(num), "%u", c->max_keys);
			n[k] = "max-keys"; v[k++] = num;
		}
		break;
	case STG_MPU_CREATE:
		n[k] = "uploads"; v[k++] = NULL;
		break;
	case STG_MPU_PART:
		snprintf(part, sizeof(part), "%u", c->part_number);
		n[k] = "partNumber"; v[k++] = part;
		/* fall through */
	case STG_MPU_COMPLETE:
	case STG_MPU_ABORT:
		n[k] = "uploadId"; v[k++] = c->upload_id;
		break;
	default:
		break;
	}
	return stg_query(n, v, k);
}

static ebb_err _complete_body(struct stg_req *req)
{
	const struct stg_call *c = &req->call;
	/* Room for the worst case: every ETag byte escaped to 6 ("&quot;"),
	 * so no snprintf below can be cut short. */
	size_t cap = 128 + (size_t)c->nparts * (6 * sizeof(c->parts[0].etag)
						 + 64), off = 0;
	char *b = malloc(cap);
	unsigned i;

	if (!b)
		return EBB_ENOMEM;
	off += (size_t)snprintf(b + off, cap - off,
				"<CompleteMultipartUpload xmlns=\"http://s3."
				"amazonaws.com/doc/2006-03-01/\">");
	for (i = 0; i < c->nparts; i++) {
		char *e = stg_xml_escape(c->parts[i].etag);

		if (!e) {
			free(b);
			return EBB_ENOMEM;
		}
		off += (size_t)snprintf(b + off, cap - off, "<Part><PartNumber>"
					"%u</PartNumber><ETag>%s</ETag></Part>",
					c->parts[i].number, e);
		free(e);
	}
	snprintf(b + off, cap - off, "</CompleteMultipartUpload>");
	req->complete_xml = b;
	return EBB_OK;
}

ebb_err stg_req_setup(struct stg_req *req)
{
	struct stg_s3 *s3 = req->s3;
	const struct stg_conf *cf = &s3->conf;
	const struct stg_call *c = &req->call;
	CURL *e;
	char *q = NULL;
	ebb_err ret = EBB_ENOMEM;
	unsigned i;
	long stall_s;

	req->status = 0;
	req->rlen = 0;
	req->skip = 0;
	req->att_bytes = 0;
	req->body_checked = false;
	req->abort_err = EBB_OK;
	req->abort_msg[0] = req->errbuf[0] = '\0';
	req->put_off = 0;
	req->att_start = c->off + req->delivered;
	_resp_reset(req);

	e = req->easy;
	q = _req_query(c);
	if (!q)
		goto out;
	req->url = stg_url(cf, c->bucket, c->op == STG_LIST ? NULL : c->key,
			   q);
	if (!req->url)
		goto out;

	/* No "Expect:" to turn off 100-continue: curl 7.88 signs the
	 * emptied header it then does not send, and the signature fails. */
	if (_hdr(req, "x-amz-content-sha256: UNSIGNED-PAYLOAD"))
		goto out;
	if (s3->cred.session_token[0] && _hdr(req, "%s", s3->token_hdr))
		goto out;
	switch (c->op) {
	case STG_HEAD:
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
		if (c->if_match && _hdr(req, "If-Match: %s", c->if_match))
			goto out;
		break;
	case STG_GET: {
		const char *im = c->if_match;

		/* A resumed whole GET pins the version the first attempt
		 * began to read. */
		if (!im && req->delivered && req->pin_etag[0])
			im = req->pin_etag;
		if (c->len) {
			if (_hdr(req, "Range: bytes=%llu-%llu",
				 (unsigned long long)req->att_start,
				 (unsigned long long)(c->off + c->len - 1)))
				goto out;
		} else if (req->att_start) {
			if (_hdr(req, "Range: bytes=%llu-",
				 (unsigned long long)req->att_start))
				goto out;
		}
		if (im && _hdr(req, "If-Match: %s", im))
			goto out;
		/* Bytes reach the sink (a pwrite) in curl's receive
		 * buffer's pieces: 16 KiB by default, 64 calls a stripe. */
		if (c->len == 0 || c->len > STG_IO_BUFFER)
			curl_easy_setopt(e, CURLOPT_BUFFERSIZE,
					 (long)STG_IO_BUFFER);
		break;
	}
	case STG_PUT:
	case STG_MPU_PART:
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, _read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, req);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, _seek_cb);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, req);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)c->body_len);
		if (c->body_len > STG_IO_BUFFER)
			curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE,
					 (long)STG_IO_BUFFER);
		if (_hdr(req, "Content-MD5: %s", req->content_md5))
			goto out;
		break;
	case STG_LIST:
		break;
	case STG_MPU_CREATE:
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
		break;
	case STG_MPU_COMPLETE:
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->complete_xml);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
				 (long)strlen(req->complete_xml));
		if (_hdr(req, "Content-Type: application/xml"))
			goto out;
		break;
	case STG_MPU_ABORT:
	case STG_DELETE:
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
		break;
	}
	if (c->op == STG_PUT || c->op == STG_MPU_CREATE) {
		for (i = 0; i < c->nmeta; i++)
			if (_hdr(req, "x-amz-meta-%s: %s", c->meta[i].name,
				 c->meta[i].value))
				goto out;
		/* POST would otherwise say form-urlencoded, and that would
		 * become the object's type. */
		if (_hdr(req, "Content-Type: %s", c->content_type
			 ? c->content_type : "application/octet-stream"))
			goto out;
	}

	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->hdrs);
	curl_easy_setopt(e, CURLOPT_PRIVATE, req);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Keys are names, not paths: "a/../b" is a key of its own. */
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_AWS_SIGV4, s3->sigv4);
	curl_easy_setopt(e, CURLOPT_USERPWD, s3->userpwd);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, _header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, _write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)stg_conf_u(cf->connect_timeout_ms, 10000));
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
			 (long)stg_conf_u(cf->request_timeout_ms, 600000));
	/* Stalls: under 1 byte/s for the stall time (curl counts in s). */
	stall_s = (long)((stg_conf_u(cf->low_speed_ms, 30000) + 999) / 1000);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, stall_s);
	if (cf->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, cf->ca_file);
	if (cf->no_verify_tls) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (getenv("EBB_STG_CURL_VERBOSE"))
		curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
	ret = EBB_OK;
out:
	free(q);
	return ret;
}

/* An HTTP error answer into res: err, code, message. */
static void _http_error(struct stg_req *req)
{
	struct stg_result *r = &req->res;
	char msg[256] = "";
	const char *dflt = "";

	r->http_status = req->status;
	r->s3_code[0] = '\0';
	if (req->rlen)
		stg_xml_error(req->rbuf, req->rlen, r->s3_code,
			      sizeof(r->s3_code), msg, sizeof(msg));
	switch (req->status) {
	case 404:
		r->err = EBB_ENOENT;
		/* Codes from the status serve answers without a body to
		 * say which (HEAD's). */
		dflt = "NotFound";
		break;
	case 403:
		r->err = EBB_EACCES;
		dflt = "Forbidden";
		break;
	case 412:
		r->err = EBB_E_S3;
		dflt = "PreconditionFailed";
		break;
	case 500:
		r->err = EBB_E_S3;
		dflt = "InternalError";
		break;
	case 503:
		r->err = EBB_E_S3;
		dflt = "ServiceUnavailable";
		break;
	default:
		r->err = EBB_E_S3;
		break;
	}
	if (!r->s3_code[0])
		snprintf(r->s3_code, sizeof(r->s3_code), "%s", dflt);
	stg_req_msg(req, "%ld %s%s%s%s", req->status,
		 r->s3_code[0] ? r->s3_code : "(no S3 code)",
		 msg[0] ? " (" : "", msg, msg[0] ? ")" : "");
}

static ebb_err _transport_err(CURLcode cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return EBB_ETIMEDOUT;
	default:
		return EBB_EIO;
	}
}

/* A 2xx answer: the op's own checks and parsing. */
static enum stg_verdict _success(struct stg_req *req)
{
	struct stg_result *r = &req->res;
	const struct stg_call *c = &req->call;
	char why[200] = "", hex[33];
	ebb_err e;

	r->http_status = req->status;
	switch (c->op) {
	case STG_HEAD:
		r->size = req->clen;
		break;
	case STG_GET: {
		uint64_t want;

		if (!req->body_checked && !_get_check_headers(req)) {
			r->err = req->abort_err;
			stg_req_msg(req, "%s", req->abort_msg);
			return STG_V_FAIL;
		}
		if ((c->len && c->off + c->len > r->size) ||
		    (!c->len && c->off > r->size)) {
			r->err = EBB_ERANGE;
			stg_req_msg(req, "object is %llu bytes, the range goes "
				 "past its end", (unsigned long long)r->size);
			return STG_V_FAIL;
		}
		want = c->len ? c->len : r->size - c->off;
		if (req->delivered != want) {
			/* curl checks Content-Length; this catches a
			 * Content-Range that promised more than was sent. */
			r->err = EBB_EIO;
			stg_req_msg(req, "short body: %llu of %llu bytes",
				 (unsigned long long)req->delivered,
				 (unsigned long long)want);
			return STG_V_RETRY;
		}
		if (req->md5 && _etag_plain(r->etag)) {
			unsigned char md[EVP_MAX_MD_SIZE];
			unsigned mdlen = 0, i;

			EVP_DigestFinal_ex(req->md5, md, &mdlen);
			for (i = 0; i < 16; i++)
				snprintf(hex + 2 * i, 3, "%02x", md[i]);
			if (!_etag_is_md5(r->etag, hex)) {
				/* The bytes are delivered already: the caller
				 * must start again, so this is final. */
				r->err = EBB_EIO;
				stg_req_msg(req, "body MD5 %s does not match "
					 "ETag %s", hex, r->etag);
				return STG_V_FAIL;
			}
		}
		break;
	}
	case STG_PUT:
	case STG_MPU_PART:
		if (!_etag_is_md5(r->etag, req->body_md5_hex)) {
			r->err = EBB_EPROTO;
			stg_req_msg(req, "ETag %s is not the MD5 %s of the body "
				 "(an encrypted bucket?)",
				 r->etag[0] ? r->etag : "(none)",
				 req->body_md5_hex);
			return STG_V_FAIL;
		}
		break;
	case STG_LIST:
		stg_result_free(r);
		e = stg_xml_list(req->rbuf ? req->rbuf : "", req->rlen, r, why,
				 sizeof(why));
		if (e) {
			r->err = e;
			stg_req_msg(req, "%s", why);
			return STG_V_FAIL;
		}
		break;
	case STG_MPU_CREATE:
		e = stg_xml_upload_id(req->rbuf ? req->rbuf : "", req->rlen,
				      r->upload_id, sizeof(r->upload_id), why,
				      sizeof(why));
		if (e) {
			r->err = e;
			stg_req_msg(req, "%s", why);
			return STG_V_FAIL;
		}
		break;
	case STG_MPU_COMPLETE: {
		char msg[256];

		e = stg_xml_complete(req->rbuf ? req->rbuf : "", req->rlen,
				     r->etag, sizeof(r->etag), r->s3_code,
				     sizeof(r->s3_code), msg, sizeof(msg), why,
				     sizeof(why));
		if (e) {
			r->err = e;
			stg_req_msg(req, "%ld %s", req->status, why);
			return e == EBB_E_S3 && stg_retryable(req->status,
							      r->s3_code,
							      EBB_E_S3)
			       ? STG_V_RETRY : STG_V_FAIL;
		}
		break;
	}
	case STG_MPU_ABORT:
	case STG_DELETE:
		break;
	}
	return STG_V_DONE;
}

enum stg_verdict stg_req_verdict(struct stg_req *req, CURLcode cc)
{
	struct stg_result *r = &req->res;
	long status = req->status;

	r->s3_code[0] = '\0';
	if (req->abort_err) {
		/* Our own callback stopped the transfer: a sink's error or
		 * a protocol violation; neither gets better by retrying. */
		r->err = req->abort_err;
		r->http_status = status;
		stg_req_msg(req, "%s", req->abort_msg);
		return STG_V_FAIL;
	}
	if (cc != CURLE_OK) {
		r->err = _transport_err(cc);
		r->http_status = status;
		stg_req_msg(req, "%s%s%s", curl_easy_strerror(cc),
			    req->errbuf[0] ? ": " : "", req->errbuf);
		return STG_V_RETRY;
	}
	if (!_ok_status(status)) {
		_http_error(req);
		return stg_retryable(status, r->s3_code, EBB_E_S3)
		       ? STG_V_RETRY : STG_V_FAIL;
	}
	return _success(req);
}

static bool _header_safe(const char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n' || *s == '\0')
			return false;
	return true;
}

static bool _token_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		      *s == '.'))
			return false;
	return true;
}

/* Why call cannot be made, or NULL. */
const char *stg_call_invalid(const struct stg_call *c)
{
	unsigned i;

	if ((unsigned)c->op > STG_DELETE)
		return "unknown operation";
	if (!c->bucket || strlen(c->bucket) < 3 || strlen(c->bucket) > 63 ||
	    strchr(c->bucket, '/'))
		return "bucket name must have 3 to 63 characters and no '/'";
	if (c->op != STG_LIST) {
		if (!c->key || !*c->key)
			return "no object key";
		if (strlen(c->key) > MAX_KEY_LEN)
			return "object key over 1024 bytes";
	}
	if (c->if_match && !_header_safe(c->if_match))
		return "If-Match ETag has a line break";
	switch (c->op) {
	case STG_GET:
		if (!c->sink && !c->buf)
			return "GET needs a sink or a buffer";
		if (!c->sink && !c->len)
			return "GET into a buffer needs a length";
		if (c->len && c->off + c->len < c->off)
			return "range overflows";
		break;
	case STG_PUT:
	case STG_MPU_PART:
		if (!c->body && c->body_len)
			return "no body";
		if (c->op == STG_MPU_PART &&
		    (c->part_number < 1 || c->part_number > 10000))
			return "part number not in 1..10000";
		break;
	case STG_MPU_COMPLETE:
		if (!c->parts || c->nparts < 1 || c->nparts > 10000)
			return "complete needs 1 to 10000 parts";
		for (i = 0; i < c->nparts; i++)
			if (c->parts[i].number < 1 ||
			    (i && c->parts[i].number <= c->parts[i - 1].number))
				return "parts must be in increasing number "
				       "order";
		break;
	case STG_LIST:
		if (c->max_keys > 1000)
			return "max_keys over 1000";
		break;
	default:
		break;
	}
	if ((c->op == STG_MPU_PART || c->op == STG_MPU_COMPLETE ||
	     c->op == STG_MPU_ABORT) && (!c->upload_id || !*c->upload_id))
		return "no upload id";
	if (c->op == STG_PUT || c->op == STG_MPU_CREATE) {
		for (i = 0; i < c->nmeta; i++)
			if (!c->meta[i].name || !c->meta[i].value ||
			    !_token_ok(c->meta[i].name) ||
			    !_header_safe(c->meta[i].value))
				return "metadata name must be letters, digits,"
				       " '-', '_', '.' and its value one line";
		if (c->content_type && !_header_safe(c->content_type))
			return "content type has a line break";
	}
	return NULL;
}

static void _req_ctx(struct stg_req *req)
{
	const struct stg_call *c = &req->call;
	int n;

	n = snprintf(req->ctx, sizeof(req->ctx), "%s s3://%s/%s",
		     _op_names[c->op], c->bucket,
		     c->op == STG_LIST ? (c->prefix ? c->prefix : "")
				       : c->key);
	if (n < 0 || (size_t)n >= sizeof(req->ctx))
		return;
	if (c->op == STG_GET && (c->off || c->len)) {
		if (c->len)
			snprintf(req->ctx + n, sizeof(req->ctx) - (size_t)n,
				 " bytes=%llu-%llu", (unsigned long long)c->off,
				 (unsigned long long)(c->off + c->len - 1));
		else
			snprintf(req->ctx + n, sizeof(req->ctx) - (size_t)n,
				 " bytes=%llu-", (unsigned long long)c->off);
	} else if (c->op == STG_MPU_PART) {
		snprintf(req->ctx + n, sizeof(req->ctx) - (size_t)n,
			 " part %u", c->part_number);
	}
}


const char *stg_op_name(enum stg_op op)
{
	return (unsigned)op <= STG_DELETE ? _op_names[op] : "?";
}

ebb_err stg_req_prepare(struct stg_req *req)
{
	const struct stg_call *c = &req->call;
	char b64[32];

	_req_ctx(req);
	if (c->op == STG_PUT || c->op == STG_MPU_PART) {
		_md5_hex(c->body ? c->body : "", c->body_len,
			 req->body_md5_hex, b64);
		snprintf(req->content_md5, sizeof(req->content_md5), "%s", b64);
	}
	if (c->op == STG_MPU_COMPLETE && _complete_body(req))
		return EBB_ENOMEM;
	if (c->op == STG_GET && c->off == 0 && c->len == 0) {
		req->md5 = EVP_MD_CTX_new();
		if (!req->md5 || !EVP_DigestInit_ex(req->md5, EVP_md5(), NULL))
			return EBB_ENOMEM;
	}
	return EBB_OK;
}
