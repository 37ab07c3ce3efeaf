/* SPDX-License-Identifier: GPL-2.0-or-later */
/* t_sign: the stager's pure helpers: RFC 3986 encoding, the canonical
 * query, URLs in both addressings, backoff bounds, the retry table, and
 * the s3_* configuration keys. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "stg.h"
#include "tap.h"

static void enc(const char *in, bool slash, const char *want)
{
	char *got = stg_uri_encode(in, slash);

	/* Described by the expected form: the input may be raw bytes. */
	is_str(got, want, "encode -> '%s'%s", want, slash ? " (keep /)" : "");
	free(got);
}

static void query(const char *const *n, const char *const *v, unsigned cnt,
		  const char *want, const char *what)
{
	char *got = stg_query(n, v, cnt);

	is_str(got, want, "query: %s", what);
	free(got);
}

static void url(const char *ep, enum stg_addressing a, const char *bucket,
		const char *key, const char *q, const char *want)
{
	struct stg_conf c = {0};
	char *got;

	c.endpoint = (char *)ep;
	c.addressing = a;
	got = stg_url(&c, bucket, key, q);
	is_str(got, want, "url -> %s", want);
	free(got);
}

static void test_encode(void)
{
	enc("", false, "");
	enc("AZaz09-._~", false, "AZaz09-._~");
	enc("a b", false, "a%20b");
	enc("a+b=c%d", false, "a%2Bb%3Dc%25d");
	enc("!'()*", false, "%21%27%28%29%2A");
	enc("dir/sub dir/f.txt", true, "dir/sub%20dir/f.txt");
	enc("dir/f", false, "dir%2Ff");
	enc("\xc3\xa9t\xc3\xa9", false, "%C3%A9t%C3%A9");       /* été */
	enc("\x01\x7f\xff", false, "%01%7F%FF");
	enc("a?b#c&d", true, "a%3Fb%23c%26d");
}

static void test_query(void)
{
	const char *n1[] = {"prefix", "max-keys"}, *v1[] = {"J", "2"};
	/* AWS S3 API reference, "Signature Calculations for the
	 * Authorization Header", example GET Bucket: the canonical query
	 * of ?max-keys=2&prefix=J is "max-keys=2&prefix=J"; and GET
	 * ?lifecycle gives "lifecycle=". */
	const char *n2[] = {"lifecycle"}, *v2[] = {NULL};
	/* The presigned-URL example of the same reference: parameters come
	 * out sorted with '/' in the credential encoded. */
	const char *n3[] = {"X-Amz-SignedHeaders", "X-Amz-Expires",
			    "X-Amz-Date", "X-Amz-Credential",
			    "X-Amz-Algorithm"};
	const char *v3[] = {"host", "86400", "20130524T000000Z",
			    "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
			    "aws4_request", "AWS4-HMAC-SHA256"};
	const char *n4[] = {"b", "a", "b", "a"}, *v4[] = {"2", "z", "1", ""};
	const char *n5[] = {"list-type", "continuation-token", "prefix"};
	const char *v5[] = {"2", "1/aB+cd=e==", "dir one/"};
	const char *n6[] = {"uploadId", "partNumber"};
	const char *v6[] = {"2~abc.def_GH", "10"};
	/* Sorting is on the encoded bytes: upper case before lower case,
	 * '%' (0x25) before letters. */
	const char *n7[] = {"a", "B", "%"}, *v7[] = {"", "", ""};

	query(n1, v1, 2, "max-keys=2&prefix=J", "AWS example GET Bucket");
	query(n2, v2, 1, "lifecycle=", "AWS example ?lifecycle");
	query(n3, v3, 5,
	      "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
	      "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
	      "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
	      "&X-Amz-SignedHeaders=host", "AWS presigned example");
	query(n4, v4, 4, "a=&a=z&b=1&b=2", "equal names sorted by value");
	query(n5, v5, 3, "continuation-token=1%2FaB%2Bcd%3De%3D%3D&"
	      "list-type=2&prefix=dir%20one%2F", "continuation token +/=");
	query(n6, v6, 2, "partNumber=10&uploadId=2~abc.def_GH", "upload id");
	query(n7, v7, 3, "%25=&B=&a=", "byte order of encoded names");
	query(NULL, NULL, 0, "", "no parameters");
}

static void test_url(void)
{
	url("http://127.0.0.1:7480", STG_ADDR_AUTO, "bkt", "a b/c+d", NULL,
	    "http://127.0.0.1:7480/bkt/a%20b/c%2Bd");
	url("http://127.0.0.1:7480/", STG_ADDR_PATH, "bkt", NULL,
	    "list-type=2", "http://127.0.0.1:7480/bkt?list-type=2");
	url("http://minio.local", STG_ADDR_VIRTUAL, "bkt", "k", "",
	    "http://bkt.minio.local/k");
	url("http://minio.local:9000", STG_ADDR_VIRTUAL, "bkt", NULL,
	    "list-type=2", "http://bkt.minio.local:9000/?list-type=2");
	url(NULL, STG_ADDR_AUTO, "my-bucket", "x/y z", NULL,
	    "https://my-bucket.s3.us-east-1.amazonaws.com/x/y%20z");
	url("https://s3.eu-west-1.amazonaws.com:443", STG_ADDR_AUTO, "bkt",
	    "k", "uploads=", "https://bkt.s3.eu-west-1.amazonaws.com:443/k"
	    "?uploads=");
	/* A dotted bucket cannot match AWS's wildcard certificate. */
	url("https://s3.eu-west-1.amazonaws.com", STG_ADDR_AUTO, "a.b.c", "k",
	    NULL, "https://s3.eu-west-1.amazonaws.com/a.b.c/k");
	url("https://s3.eu-west-1.amazonaws.com", STG_ADDR_PATH, "bkt", "k",
	    NULL, "https://s3.eu-west-1.amazonaws.com/bkt/k");
	url("http://h:1", STG_ADDR_PATH, "bkt", "\xe2\x82\xac%=~!'()*", NULL,
	    "http://h:1/bkt/%E2%82%AC%25%3D~%21%27%28%29%2A");
	{
		struct stg_conf c = {0};
		char *got;

		c.region = (char *)"ap-south-2";
		got = stg_url(&c, "bkt", "k", NULL);
		is_str(got, "https://bkt.s3.ap-south-2.amazonaws.com/k",
		       "default endpoint follows the region");
		free(got);
	}
}

static void test_backoff(void)
{
	struct stg_conf c = {0};
	unsigned n, i, max_seen, over = 0, zero_seen = 0;
	uint64_t x = 88172645463325252ULL;

	for (n = 1; n <= 20; n++) {
		unsigned ceil = 100u << (n - 1 > 10 ? 10 : n - 1);

		if (ceil > 20000)
			ceil = 20000;
		max_seen = 0;
		for (i = 0; i < 2000; i++) {
			unsigned b;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			b = stg_backoff_ms(&c, n, x);
			if (b > ceil)
				over++;
			if (b > max_seen)
				max_seen = b;
			zero_seen += b == 0;
		}
		if (n == 1 || n == 3 || n == 20)
			ok(max_seen > ceil / 2 && max_seen <= ceil,
			   "backoff %u: max of 2000 draws %u in (%u, %u]", n,
			   max_seen, ceil / 2, ceil);
	}
	is_int(over, 0, "no draw above min(max, base*2^(n-1))");
	is_int(stg_backoff_ms(&c, 1, UINT64_MAX), UINT64_MAX % 101,
	       "rnd is reduced into [0, ceiling]");
	is_int(stg_backoff_ms(&c, 1, 0), 0, "full jitter reaches 0");
	c.retry_base_ms = 7;
	c.retry_max_ms = 50;
	is_int(stg_backoff_ms(&c, 100, 50), 50, "configured max is the cap");
	is_int(stg_backoff_ms(&c, 100, 51), 0, "51 mod 51");
	is_int(stg_backoff_ms(&c, 1000000, ~0ULL) <= 50, 1,
	       "huge attempt numbers do not overflow");
}

static void test_retryable(void)
{
	ok(stg_retryable(500, "InternalError", EBB_E_S3), "500 InternalError");
	ok(stg_retryable(503, "SlowDown", EBB_E_S3), "503 SlowDown");
	ok(stg_retryable(502, "", EBB_E_S3), "502");
	ok(stg_retryable(504, NULL, EBB_E_S3), "504");
	ok(stg_retryable(429, "", EBB_E_S3), "429");
	ok(stg_retryable(400, "RequestTimeout", EBB_E_S3),
	   "400 RequestTimeout");
	ok(stg_retryable(403, "RequestTimeTooSkewed", EBB_E_S3),
	   "403 RequestTimeTooSkewed");
	ok(stg_retryable(0, NULL, EBB_EIO), "transport error (reset)");
	ok(stg_retryable(0, NULL, EBB_ETIMEDOUT), "time-out");
	ok(stg_retryable(200, NULL, EBB_EIO), "short body after 200");
	ok(!stg_retryable(404, "NoSuchKey", EBB_ENOENT), "404 final");
	ok(!stg_retryable(403, "SignatureDoesNotMatch", EBB_EACCES),
	   "403 SignatureDoesNotMatch final");
	ok(!stg_retryable(412, "PreconditionFailed", EBB_E_S3), "412 final");
	ok(!stg_retryable(400, "BadDigest", EBB_E_S3), "400 BadDigest final");
	ok(!stg_retryable(501, "NotImplemented", EBB_E_S3), "501 final");
	ok(!stg_retryable(0, NULL, EBB_ENOSPC), "sink's ENOSPC is final");
}

static void conf_bad(const char *key, const char *value, const char *needle)
{
	struct stg_conf c = {0};
	char err[256] = "";
	ebb_err e = stg_conf_set(&c, key, value, err, sizeof(err));

	ok(e == EBB_E_CONFIG && strstr(err, needle) && strstr(err, key),
	   "conf %s='%s' refused: %s", key, value, err);
	stg_conf_free(&c);
}

static void test_conf(void)
{
	struct stg_conf c = {0};
	char err[256] = "";
	ebb_err e = EBB_OK;

	e |= stg_conf_set(&c, "s3_endpoint", "http://127.0.0.1:7480", err,
			  sizeof(err));
	e |= stg_conf_set(&c, "s3_region", "eu-west-3", err, sizeof(err));
	e |= stg_conf_set(&c, "s3_addressing", "path", err, sizeof(err));
	e |= stg_conf_set(&c, "s3_imds_endpoint", "", err, sizeof(err));
	e |= stg_conf_set(&c, "s3_verify_tls", "no", err, sizeof(err));
	e |= stg_conf_set(&c, "s3_connect_timeout", "3s", err, sizeof(err));
	e |= stg_conf_set(&c, "s3_stall_timeout", "1500ms", err, sizeof(err));
	e |= stg_conf_set(&c, "s3_retry_base", "250", err, sizeof(err));
	e |= stg_conf_set(&c, "s3_retries", "3", err, sizeof(err));
	e |= stg_conf_set(&c, "s3_part_size", "16MiB", err, sizeof(err));
	e |= stg_conf_set(&c, "s3_region", "us-west-2", err, sizeof(err));
	is_int(e, EBB_OK, "good settings accepted (%s)", err);
	is_str(c.endpoint, "http://127.0.0.1:7480", "endpoint");
	is_str(c.region, "us-west-2", "the last setting wins");
	ok(c.addressing == STG_ADDR_PATH, "addressing path");
	is_str(c.imds_endpoint, "", "imds \"\" = off");
	ok(c.no_verify_tls, "verify_tls no");
	is_int(c.connect_timeout_ms, 3000, "3s = 3000 ms");
	is_int(c.low_speed_ms, 1500, "1500ms");
	is_int(c.retry_base_ms, 250, "bare number = ms");
	is_int(c.retries, 3, "retries");
	is_int((long long)c.part_size, 16 << 20, "part size 16MiB");
	stg_conf_free(&c);
	ok(c.endpoint == NULL && c.region == NULL, "free NULLs the strings");
	is_int(stg_conf_set(&c, "bbd_port", "1", err, sizeof(err)), EBB_ENOENT,
	       "unknown key -> ENOENT for the caller");
	conf_bad("s3_retries", "x", "not a number");
	conf_bad("s3_endpoint", "127.0.0.1:7480", "http");
	conf_bad("s3_addressing", "dns", "auto, path or virtual");
	conf_bad("s3_connect_timeout", "5m", "not a duration");
	conf_bad("s3_connect_timeout", "s", "not a duration");
	conf_bad("s3_connect_timeout", "0", "not a duration");
	conf_bad("s3_retries", "0", "not a number");
	conf_bad("s3_part_size", "1MiB", "out of range");
	conf_bad("s3_part_size", "8M", "s3_part_size");
	conf_bad("s3_region", "us:east", "region");
	conf_bad("s3_verify_tls", "maybe", "yes or no");
	conf_bad("s3_imds_endpoint", "169.254.169.254", "http://");
}

int main(void)
{
	plan_lazy();
	test_encode();
	test_query();
	test_url();
	test_backoff();
	test_retryable();
	test_conf();
	return tap_exit();
}
