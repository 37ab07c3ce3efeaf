/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stager: where S3 credentials come from (see stg_cred_resolve in stg.h).
 *
 * DESIGN: the AWS tools' order, each source noted in a "tried" list so the
 * final error says everything that was looked at: the environment, then
 * the profile in the shared credentials file and in the config file
 * ("[profile x]", or "[default]"), then the EC2 instance role through
 * IMDSv2.  Only static keys are read from files; a profile that relies on
 * role_arn, credential_process or SSO is reported as unsupported rather
 * than skipped in silence.  IMDS is asked with short time-outs (it is
 * either on the link or absent) and v1 is not used: v2's PUT token makes
 * the answer come from the host, not from a forwarded request.
 */
#include "config.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "stg.h"
#include "stg_int.h"

#define IMDS_CONNECT_MS 1000
#define IMDS_TOTAL_MS 3000
#define IMDS_MAX_BODY 16384

/* What was tried, "; "-separated, for the final message. */
struct _tried {
	char buf[768];
	size_t len;
};

static void _tried_add(struct _tried *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void _tried_add(struct _tried *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->len && t->len + 2 < sizeof(t->buf)) {
		memcpy(t->buf + t->len, "; ", 3);
		t->len += 2;
	}
	if (t->len >= sizeof(t->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n < sizeof(t->buf) - t->len
				  ? (size_t)n : sizeof(t->buf) - t->len - 1;
}

static ebb_err _copy(char *dst, size_t dstlen, const char *src,
		     const char *what, char *err, size_t errlen)
{
	if (strlen(src) >= dstlen) {
		snprintf(err, errlen, "%s is too long (%zu bytes, at most "
			 "%zu)", what, strlen(src), dstlen - 1);
		return EBB_E_CONFIG;
	}
	snprintf(dst, dstlen, "%s", src);
	return EBB_OK;
}

/* ---- environment ---------------------------------------------------------- */

static ebb_err _from_env(struct stg_cred *out, struct _tried *t, bool *found,
			 char *err, size_t errlen)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID");
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *tok = getenv("AWS_SESSION_TOKEN");
	ebb_err e;

	*found = false;
	if ((!ak || !*ak) && (!sk || !*sk)) {
		_tried_add(t, "environment: AWS_ACCESS_KEY_ID unset");
		return EBB_OK;
	}
	if (!ak || !*ak || !sk || !*sk) {
		_tried_add(t, "environment: %s set without %s",
			   ak && *ak ? "AWS_ACCESS_KEY_ID"
				     : "AWS_SECRET_ACCESS_KEY",
			   ak && *ak ? "AWS_SECRET_ACCESS_KEY"
				     : "AWS_ACCESS_KEY_ID");
		return EBB_OK;
	}
	if ((e = _copy(out->access_key, sizeof(out->access_key), ak,
		       "AWS_ACCESS_KEY_ID", err, errlen)) ||
	    (e = _copy(out->secret_key, sizeof(out->secret_key), sk,
		       "AWS_SECRET_ACCESS_KEY", err, errlen)) ||
	    (e = _copy(out->session_token, sizeof(out->session_token),
		       tok ? tok : "", "AWS_SESSION_TOKEN", err, errlen)))
		return e;
	snprintf(out->source, sizeof(out->source), "environment");
	*found = true;
	return EBB_OK;
}

/* ---- shared credentials and config files --------------------------------------- */

struct _prof {
	char ak[128], sk[128], tok[2048];
	bool section_seen;
	char unsupported[32];         /* "role_arn", ... */
};

static char *_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Read section `section` of an INI file into p.  ENOENT if the file does
 * not exist (not an error for the caller: it tries the next source). */
static ebb_err _ini_read(const char *path, const char *section,
			 struct _prof *p, char *err, size_t errlen)
{
	static const char *const unsup[] = {
		"role_arn", "credential_process", "sso_start_url",
		"sso_session", "web_identity_token_file",
	};
	FILE *f = fopen(path, "r");
	char line[4096];
	bool in = false;
	unsigned i;

	if (!f)
		return errno == ENOENT ? EBB_ENOENT : ebb_err_from_errno(errno);
	while (fgets(line, sizeof(line), f)) {
		char *s = _trim(line), *eq, *k, *v;

		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');

			if (end) {
				*end = '\0';
				in = strcmp(_trim(s + 1), section) == 0;
				if (in)
					p->section_seen = true;
			}
			continue;
		}
		if (!in || !(eq = strchr(s, '=')))
			continue;
		*eq = '\0';
		k = _trim(s);
		v = _trim(eq + 1);
		if (strcasecmp(k, "aws_access_key_id") == 0)
			snprintf(p->ak, sizeof(p->ak), "%s", v);
		else if (strcasecmp(k, "aws_secret_access_key") == 0)
			snprintf(p->sk, sizeof(p->sk), "%s", v);
		else if (strcasecmp(k, "aws_session_token") == 0 ||
			 strcasecmp(k, "aws_security_token") == 0)
			snprintf(p->tok, sizeof(p->tok), "%s", v);
		else
			for (i = 0; i < sizeof(unsup) / sizeof(unsup[0]); i++)
				if (strcasecmp(k, unsup[i]) == 0)
					snprintf(p->unsupported,
						 sizeof(p->unsupported), "%s",
						 unsup[i]);
	}
	fclose(f);
	(void)err;
	(void)errlen;
	return EBB_OK;
}

static const char *_home(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && *h)
		return h;
	pw = getpwuid(getuid());
	return pw && pw->pw_dir ? pw->pw_dir : "/";
}

/* One file: EBB_OK with *found, or an error for a broken profile. */
static ebb_err _from_file(const char *path, const char *section,
			  const char *profile, const char *kind,
			  struct stg_cred *out, struct _tried *t, bool *found,
			  char *err, size_t errlen)
{
	struct _prof p;
	ebb_err e;

	memset(&p, 0, sizeof(p));
	*found = false;
	e = _ini_read(path, section, &p, err, errlen);
	if (e == EBB_ENOENT) {
		_tried_add(t, "%s %s does not exist", kind, path);
		return EBB_OK;
	}
	if (e) {
		_tried_add(t, "%s %s: %s", kind, path, ebb_strerror(e));
		return EBB_OK;
	}
	if (!p.section_seen) {
		_tried_add(t, "profile '%s' not in %s", profile, path);
		return EBB_OK;
	}
	if (!p.ak[0] && !p.sk[0]) {
		if (p.unsupported[0])
			_tried_add(t, "profile '%s' in %s uses %s (not "
				   "supported: give static keys)", profile,
				   path, p.unsupported);
		else
			_tried_add(t, "profile '%s' in %s has no keys",
				   profile, path);
		return EBB_OK;
	}
	if (!p.ak[0] || !p.sk[0]) {
		snprintf(err, errlen, "profile '%s' in %s has %s but no %s",
			 profile, path,
			 p.ak[0] ? "aws_access_key_id" : "aws_secret_access_key",
			 p.ak[0] ? "aws_secret_access_key" : "aws_access_key_id");
		return EBB_E_CONFIG;
	}
	snprintf(out->access_key, sizeof(out->access_key), "%s", p.ak);
	snprintf(out->secret_key, sizeof(out->secret_key), "%s", p.sk);
	snprintf(out->session_token, sizeof(out->session_token), "%s", p.tok);
	snprintf(out->source, sizeof(out->source), "profile %.40s%s", profile,
		 strcmp(kind, "config") == 0 ? " (config)" : "");
	explicit_bzero(&p, sizeof(p));
	*found = true;
	return EBB_OK;
}

static ebb_err _from_profile(const struct stg_conf *conf,
			     struct stg_cred *out, struct _tried *t,
			     bool *found, char *err, size_t errlen)
{
	const char *profile = conf->profile;
	const char *cf = conf->credentials_file, *cfg = conf->config_file;
	char cpath[1024], gpath[1024], section[300];
	ebb_err e;

	if (!profile || !*profile)
		profile = getenv("AWS_PROFILE");
	if (!profile || !*profile)
		profile = "default";
	if (!cf || !*cf)
		cf = getenv("AWS_SHARED_CREDENTIALS_FILE");
	if (!cf || !*cf) {
		snprintf(cpath, sizeof(cpath), "%s/.aws/credentials", _home());
		cf = cpath;
	}
	e = _from_file(cf, profile, profile, "credentials file", out, t,
		       found, err, errlen);
	if (e || *found)
		return e;
	if (!cfg || !*cfg)
		cfg = getenv("AWS_CONFIG_FILE");
	if (!cfg || !*cfg) {
		snprintf(gpath, sizeof(gpath), "%s/.aws/config", _home());
		cfg = gpath;
	}
	/* The config file names profiles "[profile x]", except default. */
	if (strcmp(profile, "default") == 0)
		snprintf(section, sizeof(section), "default");
	else
		snprintf(section, sizeof(section), "profile %s", profile);
	return _from_file(cfg, section, profile, "config", out, t, found, err,
			  errlen);
}

/* ---- IMDSv2 ------------------------------------------------------------------------ */

struct _body {
	char buf[IMDS_MAX_BODY];
	size_t len;
};

static size_t _body_cb(char *data, size_t size, size_t n, void *arg)
{
	struct _body *b = arg;
	size_t len = size * n;

	if (b->len + len >= sizeof(b->buf))
		return 0;
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return len;
}

/* One IMDS request; 0 with the body, or -1 with why set. */
static int _imds_req(const char *base, const char *path, const char *token,
		     struct _body *b, char *why, size_t whylen)
{
	CURL *e = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[600], hdr[300], ebuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	long status = 0;
	int ret = -1;

	if (!e) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	b->len = 0;
	b->buf[0] = '\0';
	snprintf(url, sizeof(url), "%s%s", base, path);
	if (token) {
		snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s",
			 token);
	} else {
		snprintf(hdr, sizeof(hdr),
			 "X-aws-ec2-metadata-token-ttl-seconds: 21600");
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
	}
	h = curl_slist_append(h, hdr);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");  /* link-local, never proxied */
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)IMDS_CONNECT_MS);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)IMDS_TOTAL_MS);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, _body_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ebuf);
	cc = curl_easy_perform(e);
	if (cc != CURLE_OK) {
		snprintf(why, whylen, "%s %s: %s", token ? "GET" : "PUT", path,
			 ebuf[0] ? ebuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		snprintf(why, whylen, "%s %s: HTTP %ld%s", token ? "GET" : "PUT",
			 path, status, status == 404 && token
			 ? " (no instance role)" : "");
		goto out;
	}
	ret = 0;
out:
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return ret;
}

/* A JSON string at *p (after the quote) into out; advances *p. */
static int _json_string(const char **pp, char *out, size_t outlen)
{
	const char *p = *pp;
	size_t n = 0;

	for (; *p && *p != '"'; p++) {
		char c = *p;

		if (c == '\\') {
			p++;
			switch (*p) {
			case '"': case '\\': case '/': c = *p; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u': {
				unsigned v;

				/* Only ASCII escapes: credentials are
				 * base64 and dates. */
				if (sscanf(p + 1, "%4x", &v) != 1 || v > 0x7f)
					return -1;
				c = (char)v;
				p += 4;
				break;
			}
			default:
				return -1;
			}
		}
		if (n + 1 < outlen)
			out[n++] = c;
		else
			return -1;
	}
	if (*p != '"')
		return -1;
	out[n] = '\0';
	*pp = p + 1;
	return 0;
}

/* The flat JSON object IMDS returns for a role: string values by name;
 * other values (numbers, true/false/null) are skipped.  -1 if the text is
 * not a flat JSON object. */
static int _json_get(const char *json, const char *name, char *out,
		     size_t outlen)
{
	const char *p = json;
	char key[64], val[2048];
	int found = 0;

	while (isspace((unsigned char)*p))
		p++;
	if (*p++ != '{')
		return -1;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '}')
			break;
		if (*p++ != '"' || _json_string(&p, key, sizeof(key)))
			return -1;
		while (isspace((unsigned char)*p))
			p++;
		if (*p++ != ':')
			return -1;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '"') {
			p++;
			if (_json_string(&p, val, sizeof(val)))
				return -1;
			if (strcmp(key, name) == 0) {
				snprintf(out, outlen, "%s", val);
				found = 1;
			}
		} else {
			while (*p && (isalnum((unsigned char)*p) ||
				      strchr("+-.", *p)))
				p++;
		}
		while (isspace((unsigned char)*p))
			p++;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p != '}')
			return -1;
		break;
	}
	return found ? 1 : 0;
}

static ebb_err _from_imds(const struct stg_conf *conf, struct stg_cred *out,
			  struct _tried *t, bool *found, char *err,
			  size_t errlen)
{
	const char *ep = conf->imds_endpoint ? conf->imds_endpoint
					     : STG_DEF_IMDS;
	const char *off = getenv("AWS_EC2_METADATA_DISABLED");
	struct _body *b = NULL;
	char token[256], role[256], path[400], why[400], code[64];
	char ak[128] = "", sk[128] = "", tok[2048] = "", exp[64] = "";
	char *nl;
	ebb_err ret = EBB_OK;

	*found = false;
	if (!*ep) {
		_tried_add(t, "IMDS: off (s3_imds_endpoint is \"\")");
		return EBB_OK;
	}
	if (off && strcasecmp(off, "true") == 0) {
		_tried_add(t, "IMDS: off (AWS_EC2_METADATA_DISABLED=true)");
		return EBB_OK;
	}
	b = malloc(sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return EBB_ENOMEM;
	}
	if (_imds_req(ep, "/latest/api/token", NULL, b, why, sizeof(why)))
		goto tried;
	snprintf(token, sizeof(token), "%s", _trim(b->buf));
	if (!token[0]) {
		snprintf(why, sizeof(why), "empty session token");
		goto tried;
	}
	if (_imds_req(ep, "/latest/meta-data/iam/security-credentials/",
		      token, b, why, sizeof(why)))
		goto tried;
	nl = strchr(b->buf, '\n');
	if (nl)
		*nl = '\0';
	snprintf(role, sizeof(role), "%s", _trim(b->buf));
	if (!role[0] || strchr(role, '/')) {
		snprintf(why, sizeof(why), "no instance role");
		goto tried;
	}
	snprintf(path, sizeof(path),
		 "/latest/meta-data/iam/security-credentials/%s", role);
	if (_imds_req(ep, path, token, b, why, sizeof(why)))
		goto tried;
	if (_json_get(b->buf, "Code", code, sizeof(code)) < 0) {
		snprintf(why, sizeof(why), "role %s: the answer is not a JSON "
			 "object", role);
		goto tried;
	}
	if (_json_get(b->buf, "Code", code, sizeof(code)) == 1 &&
	    strcmp(code, "Success") != 0) {
		snprintf(why, sizeof(why), "role %s: Code %s", role, code);
		goto tried;
	}
	if (_json_get(b->buf, "AccessKeyId", ak, sizeof(ak)) != 1 ||
	    _json_get(b->buf, "SecretAccessKey", sk, sizeof(sk)) != 1) {
		snprintf(why, sizeof(why), "role %s: no AccessKeyId or "
			 "SecretAccessKey", role);
		goto tried;
	}
	_json_get(b->buf, "Token", tok, sizeof(tok));
	_json_get(b->buf, "Expiration", exp, sizeof(exp));
	snprintf(out->access_key, sizeof(out->access_key), "%s", ak);
	snprintf(out->secret_key, sizeof(out->secret_key), "%s", sk);
	snprintf(out->session_token, sizeof(out->session_token), "%s", tok);
	snprintf(out->source, sizeof(out->source), "imds role %.50s", role);
	out->expires = 0;
	if (exp[0]) {
		int64_t ns = stg_iso8601_ns(exp);

		out->expires = ns > 0 ? ns / 1000000000 : 0;
	}
	*found = true;
	goto out;
tried:
	_tried_add(t, "IMDS %s: %s", ep, why);
out:
	explicit_bzero(b, sizeof(*b));
	explicit_bzero(sk, sizeof(sk));
	free(b);
	return ret;
}

ebb_err stg_cred_resolve(const struct stg_conf *conf, struct stg_cred *out,
			 char *err, size_t errlen)
{
	struct _tried t = {.len = 0};
	bool found = false;
	ebb_err e;

	memset(out, 0, sizeof(*out));
	stg_curl_init();
	e = _from_env(out, &t, &found, err, errlen);
	if (e || found)
		goto out;
	e = _from_profile(conf, out, &t, &found, err, errlen);
	if (e || found)
		goto out;
	e = _from_imds(conf, out, &t, &found, err, errlen);
	if (e || found)
		goto out;
	snprintf(err, errlen, "no credentials: %s", t.buf);
	e = EBB_ENOENT;
out:
	if (e)
		explicit_bzero(out, sizeof(*out));
	return e;
}

bool stg_cred_expiring(const struct stg_cred *cred, int64_t now,
		       int64_t margin_s)
{
	return cred->expires > 0 && cred->expires - now < margin_s;
}
