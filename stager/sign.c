/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stager: the pure pieces of a request: encoding, query, URL, backoff,
 * retry table (see stg.h).
 *
 * DESIGN: curl 7.88's SigV4 signs the path and query exactly as it gets
 * them and does not sort the query (curl issue 9717), so what we hand it
 * must already be canonical: every component RFC 3986-encoded with upper
 * case hex, parameters sorted by encoded name then encoded value.  Sorting
 * the encoded forms is what SigV4 specifies (it sorts the canonical query
 * string's pairs byte-wise after encoding).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "stg.h"
#include "stg_int.h"

unsigned stg_conf_u(unsigned v, unsigned def)
{
	return v ? v : def;
}

static bool _unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

char *stg_uri_encode(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *o = out;
	const unsigned char *p;

	if (!out)
		return NULL;
	for (p = (const unsigned char *)s; *p; p++) {
		if (_unreserved(*p) || (keep_slash && *p == '/')) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

struct _qpair {
	char *name, *value;
};

static int _qpair_cmp(const void *a, const void *b)
{
	const struct _qpair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

char *stg_query(const char *const *names, const char *const *values,
		unsigned n)
{
	struct _qpair *q = calloc(n ? n : 1, sizeof(*q));
	char *out = NULL;
	size_t len = 1, off = 0;
	unsigned i;

	if (!q)
		return NULL;
	for (i = 0; i < n; i++) {
		q[i].name = stg_uri_encode(names[i], false);
		q[i].value = stg_uri_encode(values[i] ? values[i] : "", false);
		if (!q[i].name || !q[i].value)
			goto out;
		len += strlen(q[i].name) + strlen(q[i].value) + 2;
	}
	qsort(q, n, sizeof(*q), _qpair_cmp);
	out = malloc(len);
	if (!out)
		goto out;
	out[0] = '\0';
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s=%s",
					i ? "&" : "", q[i].name, q[i].value);
out:
	for (i = 0; i < n; i++) {
		free(q[i].name);
		free(q[i].value);
	}
	free(q);
	return out;
}

/* A bucket name usable as a DNS label under TLS: lower case letters,
 * digits and '-' (a '.' would break the *.s3 wildcard certificate). */
static bool _dns_bucket(const char *b)
{
	size_t n = strlen(b);
	const char *p;

	if (n < 3 || n > 63 || b[0] == '-' || b[n - 1] == '-')
		return false;
	for (p = b; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-'))
			return false;
	return true;
}

/* AUTO: virtual-hosted when the endpoint is AWS's own (path style is
 * deprecated there) and the bucket can be a host name; path style
 * elsewhere, since RGW, MinIO and most private stores have no wildcard DNS. */
static bool _virtual(const struct stg_conf *conf, const char *host,
		     size_t hostlen, const char *bucket)
{
	static const char aws[] = ".amazonaws.com";
	size_t alen = sizeof(aws) - 1;

	switch (conf->addressing) {
	case STG_ADDR_PATH:
		return false;
	case STG_ADDR_VIRTUAL:
		return true;
	case STG_ADDR_AUTO:
	default:
		return hostlen > alen &&
		       strncasecmp(host + hostlen - alen, aws, alen) == 0 &&
		       _dns_bucket(bucket);
	}
}

char *stg_url(const struct stg_conf *conf, const char *bucket, const char *key,
	      const char *query)
{
	char defep[128];
	const char *ep = conf->endpoint, *host, *hend;
	char *ekey = NULL, *ebucket = NULL, *url = NULL;
	size_t schemelen, hostlen, len;
	bool virt;

	if (!ep || !*ep) {
		snprintf(defep, sizeof(defep), "https://s3.%s.amazonaws.com",
			 conf->region && *conf->region ? conf->region
						       : STG_DEF_REGION);
		ep = defep;
	}
	host = strstr(ep, "://");
	host = host ? host + 3 : ep;
	schemelen = (size_t)(host - ep);
	/* The host (and port) end at the first '/'; a trailing path on the
	 * endpoint is ignored. */
	hend = strchr(host, '/');
	hostlen = hend ? (size_t)(hend - host) : strlen(host);
	{
		/* Compare the host without its port for the AWS test. */
		const char *colon = memchr(host, ':', hostlen);
		size_t bare = colon ? (size_t)(colon - host) : hostlen;

		virt = _virtual(conf, host, bare, bucket);
	}
	ekey = stg_uri_encode(key ? key : "", true);
	ebucket = stg_uri_encode(bucket, false);
	if (!ekey || !ebucket)
		goto out;
	len = schemelen + hostlen + strlen(ebucket) + strlen(ekey) +
	      (query ? strlen(query) : 0) + 8;
	url = malloc(len);
	if (!url)
		goto out;
	if (virt)
		snprintf(url, len, "%.*s%s.%.*s/%s%s%s", (int)schemelen, ep,
			 ebucket, (int)hostlen, host, ekey,
			 query && *query ? "?" : "", query ? query : "");
	else
		snprintf(url, len, "%.*s%.*s/%s%s%s%s%s", (int)schemelen, ep,
			 (int)hostlen, host, ebucket, key ? "/" : "", ekey,
			 query && *query ? "?" : "", query ? query : "");
out:
	free(ekey);
	free(ebucket);
	return url;
}

unsigned stg_backoff_ms(const struct stg_conf *conf, unsigned n, uint64_t rnd)
{
	uint64_t base = stg_conf_u(conf->retry_base_ms, 100);
	uint64_t max = stg_conf_u(conf->retry_max_ms, 20000);
	uint64_t ceil = base;

	if (n == 0)
		return 0;
	/* Double n-1 times, stopping at max (and before any overflow). */
	while (--n && ceil < max)
		ceil <<= 1;
	if (ceil > max)
		ceil = max;
	return (unsigned)(rnd % (ceil + 1));
}

bool stg_retryable(long http_status, const char *s3_code, ebb_err transport)
{
	static const char *const codes[] = {
		"SlowDown", "RequestTimeout", "InternalError",
		"RequestTimeTooSkewed", "ServiceUnavailable",
	};
	unsigned i;

	switch (transport) {
	case EBB_OK:
	case EBB_E_S3:
		break;
	case EBB_EIO:        /* reset, short body, TLS hiccup */
	case EBB_ETIMEDOUT:
	case EBB_ECONNREFUSED:
	case EBB_EAGAIN:
		return true;
	default:             /* a sink's errno, bad arguments: final */
		return false;
	}
	if (http_status == 429 || http_status == 500 || http_status == 502 ||
	    http_status == 503 || http_status == 504)
		return true;
	if (s3_code)
		for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
			if (strcmp(s3_code, codes[i]) == 0)
				return true;
	return false;
}
