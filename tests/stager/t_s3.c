/* SPDX-License-Identifier: GPL-2.0-or-later */
/* t_s3: the S3 client against a real, signature-checking S3 server (Ceph
 * RGW from tests/lib/rgw.sh; s3.t starts it and creates the bucket).
 *
 * Environment: EBB_S3_ENDPOINT, EBB_S3_ACCESS_KEY, EBB_S3_SECRET_KEY,
 * EBB_S3_REGION (rgw.sh), EBB_S3_BUCKET (an empty bucket), EBB_S3_AWS (the
 * awscli command with its --endpoint-url, for the interop checks),
 * TMPDIR for scratch files.  Skips when they are missing.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stg.h"
#include "tap.h"

static struct stg_conf conf;
static struct stg_cred cred;
static const char *bucket;
static const char *aws;
static char tmpdir[256];

/* ---- helpers ------------------------------------------------------------ */

static ebb_err call_sync(struct stg_call *c, struct stg_result *r)
{
	c->bucket = c->bucket ? c->bucket : bucket;
	return stg_s3_sync(&conf, &cred, c, r);
}

static ebb_err put(const char *key, const void *body, size_t len,
		   char *etag, size_t etaglen)
{
	struct stg_call c = {.op = STG_PUT, .key = key, .body = body,
			     .body_len = len};
	struct stg_result r;
	ebb_err e = call_sync(&c, &r);

	if (e)
		diag("PUT %s: %s", key, r.message);
	if (etag)
		snprintf(etag, etaglen, "%s", r.etag);
	stg_result_free(&r);
	return e;
}

struct membuf {
	char *data;
	size_t len, cap;
	uint64_t next_off;    /* offsets must arrive in order */
	int fail_with;        /* errno to return from the sink, 0 = none */
	int bad_order;
};

static int sink_mem(void *arg, uint64_t off, const void *data, size_t len)
{
	struct membuf *m = arg;

	if (m->fail_with)
		return m->fail_with;
	if (off != m->next_off)
		m->bad_order = 1;
	if (m->len + len > m->cap) {
		m->cap = (m->len + len) * 2;
		m->data = realloc(m->data, m->cap);
		if (!m->data)
			return ENOMEM;
	}
	memcpy(m->data + m->len, data, len);
	m->len += len;
	m->next_off = off + len;
	return 0;
}

/* GET the whole object through a sink; malloc'd body in *out. */
static ebb_err get_all(const char *key, char **out, size_t *len,
		       struct stg_result *r)
{
	struct membuf m = {0};
	struct stg_call c = {.op = STG_GET, .key = key, .sink = sink_mem,
			     .sink_arg = &m};
	ebb_err e = call_sync(&c, r);

	if (m.bad_order)
		diag("GET %s: sink offsets out of order", key);
	*out = m.data;
	*len = m.len;
	return e;
}

static void fill_random(void *buf, size_t len, uint64_t seed)
{
	unsigned char *p = buf;
	uint64_t x = seed | 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok_ = f && fwrite(data, 1, len, f) == len;

	if (f)
		ok_ &= fclose(f) == 0;
	return ok_ ? 0 : -1;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = tap_malloc((size_t)n + 1);
		*len = fread(buf, 1, (size_t)n, f);
	}
	fclose(f);
	return buf;
}

static int run_aws(const char *args)
{
	char *cmd = tap_asprintf("%s %s >&2", aws, args);
	int rc = system(cmd);

	free(cmd);
	return rc;
}

/* ---- checks ------------------------------------------------------------- */

static void test_roundtrip(void)
{
	const struct stg_meta meta[] = {
		{(char *)"file-permissions", (char *)"0100644"},
		{(char *)"File-Mtime", (char *)"1796319354000000000ns"},
	};
	struct stg_call c = {.op = STG_PUT, .key = "rt/hello.txt",
			     .body = "hello, world\n", .body_len = 13,
			     .meta = meta, .nmeta = 2,
			     .content_type = "text/plain"};
	struct stg_result r;
	char etag[80], *body = NULL, buf[8];
	size_t len = 0;
	unsigned i, found = 0;

	is_int(call_sync(&c, &r), EBB_OK, "PUT with metadata: %s", r.message);
	/* md5("hello, world\n") */
	is_str(r.etag, "\"22c3683b094136c3398391ae71b20f04\"",
	       "PUT ETag is the body's MD5");
	snprintf(etag, sizeof(etag), "%s", r.etag);
	stg_result_free(&r);

	c = (struct stg_call){.op = STG_HEAD, .key = "rt/hello.txt"};
	is_int(call_sync(&c, &r), EBB_OK, "HEAD: %s", r.message);
	is_int((long long)r.size, 13, "HEAD size");
	is_str(r.etag, etag, "HEAD etag");
	ok(r.mtime_ns > 1600000000LL * 1000000000, "HEAD Last-Modified");
	for (i = 0; i < r.nmeta; i++) {
		if (strcmp(r.meta[i].name, "file-permissions") == 0 &&
		    strcmp(r.meta[i].value, "0100644") == 0)
			found++;
		if (strcmp(r.meta[i].name, "file-mtime") == 0 &&
		    strcmp(r.meta[i].value, "1796319354000000000ns") == 0)
			found++;
	}
	is_int(found, 2, "x-amz-meta-* back, names lower case, prefix "
	       "stripped (%u headers)", r.nmeta);
	stg_result_free(&r);

	is_int(get_all("rt/hello.txt", &body, &len, &r), EBB_OK,
	       "whole GET (MD5 checked against the ETag): %s", r.message);
	ok(len == 13 && memcmp(body, "hello, world\n", 13) == 0,
	   "whole GET body");
	is_int((long long)r.size, 13, "GET size");
	stg_result_free(&r);
	free(body);

	c = (struct stg_call){.op = STG_GET, .key = "rt/hello.txt", .off = 7,
			      .len = 5, .buf = buf, .if_match = etag};
	is_int(call_sync(&c, &r), EBB_OK, "ranged GET with If-Match: %s",
	       r.message);
	ok(memcmp(buf, "world", 5) == 0, "ranged GET bytes 7-11");
	is_int((long long)r.size, 13, "ranged GET knows the total size");
	stg_result_free(&r);

	c = (struct stg_call){.op = STG_GET, .key = "rt/hello.txt", .off = 10,
			      .len = 10, .buf = buf};
	{
		char big[10];

		c.buf = big;
		is_int(call_sync(&c, &r), EBB_ERANGE, "range past the end: "
		       "%s", r.message);
		stg_result_free(&r);
	}

	/* The object changes: the old ETag no longer matches. */
	ok(put("rt/hello.txt", "HELLO, WORLD\n", 13, NULL, 0) == EBB_OK,
	   "overwrite");
	c = (struct stg_call){.op = STG_GET, .key = "rt/hello.txt", .off = 0,
			      .len = 5, .buf = buf, .if_match = etag};
	is_int(call_sync(&c, &r), EBB_E_S3, "stale If-Match fails");
	is_int(r.http_status, 412, "412");
	is_str(r.s3_code, "PreconditionFailed", "code PreconditionFailed");
	ok(strstr(r.message, "GET s3://") && strstr(r.message, "rt/hello.txt")
	   && strstr(r.message, "bytes=0-4") &&
	   strstr(r.message, "412 PreconditionFailed"),
	   "message names op, object, range, status, code: %s", r.message);
	is_int(r.attempts, 1, "not retried");
	stg_result_free(&r);

	{
		struct membuf m = {.fail_with = ENOSPC};

		c = (struct stg_call){.op = STG_GET, .key = "rt/hello.txt",
				      .sink = sink_mem, .sink_arg = &m};
		is_int(call_sync(&c, &r), EBB_ENOSPC, "sink's errno is the "
		       "result: %s", r.message);
		is_int(r.attempts, 1, "a sink failure is not retried");
		stg_result_free(&r);
	}
	{
		/* Empty object. */
		ok(put("rt/empty", "", 0, NULL, 0) == EBB_OK, "PUT empty");
		body = NULL;
		is_int(get_all("rt/empty", &body, &len, &r), EBB_OK,
		       "GET empty: %s", r.message);
		is_int((long long)len, 0, "empty body");
		stg_result_free(&r);
		free(body);
	}
}

static const char *const odd_keys[] = {
	"odd/plain",
	"odd/with space",
	"odd/plus+sign",
	"odd/percent%20literal",
	"odd/equals=sign&amp",
	"odd/tilde~bang!quote'paren()star*",
	"odd/\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xe6\x97\xa5\xe6\x9c\xac",
	"odd/sub dir/deeper/file",
	"odd/a<b>c\"d",
	"odd/q?hash#colon:semi;comma,",
	"odd/back\\slash",
	"odd/dots/../x",
	"odd/ leading and trailing ",
	"odd/ctl\001x\ny\ttab",     /* not representable in XML 1.0 */
};
#define NODD (sizeof(odd_keys) / sizeof(odd_keys[0]))

static void test_odd_keys(void)
{
	unsigned seen[NODD] = {0}, i, pages = 0, total = 0, bad = 0;
	char *token = NULL;
	struct stg_result r;
	int err = 0;

	for (i = 0; i < NODD; i++) {
		char *body = NULL;
		size_t len = 0;

		if (put(odd_keys[i], odd_keys[i], strlen(odd_keys[i]), NULL, 0)) {
			err++;
			continue;
		}
		if (get_all(odd_keys[i], &body, &len, &r) ||
		    len != strlen(odd_keys[i]) ||
		    memcmp(body, odd_keys[i], len) != 0) {
			diag("round trip of '%s': %s", odd_keys[i], r.message);
			err++;
		}
		stg_result_free(&r);
		free(body);
	}
	is_int(err, 0, "PUT/GET of %u odd keys", (unsigned)NODD);

	do {
		struct stg_call c = {.op = STG_LIST, .prefix = "odd/",
				     .max_keys = 3, .token = token};

		if (call_sync(&c, &r)) {
			diag("LIST page %u: %s", pages, r.message);
			bad++;
			stg_result_free(&r);
			break;
		}
		pages++;
		for (i = 0; i < r.nobjects; i++) {
			unsigned k;

			for (k = 0; k < NODD; k++)
				if (strcmp(r.objects[i].key, odd_keys[k]) == 0)
					break;
			if (k == NODD) {
				diag("unexpected key '%s'", r.objects[i].key);
				bad++;
			} else {
				seen[k]++;
				if (r.objects[i].size != strlen(odd_keys[k]) ||
				    r.objects[i].mtime_ns <= 0 ||
				    r.objects[i].etag[0] != '"')
					bad++;
			}
			total++;
		}
		free(token);
		token = r.truncated && r.next_token ? strdup(r.next_token)
						    : NULL;
		if (r.nobjects > 3)
			bad++;
		stg_result_free(&r);
	} while (token && pages < 100);
	free(token);
	for (i = 0; i < NODD; i++)
		if (seen[i] != 1) {
			diag("'%s' listed %u times", odd_keys[i], seen[i]);
			bad++;
		}
	is_int(total, NODD, "LIST max_keys=3: %u keys in %u pages", total,
	       pages);
	ok(pages >= (NODD + 2) / 3, "continuation tokens followed");
	is_int(bad, 0, "each odd key listed exactly once, sizes and times");

	{
		struct stg_call c = {.op = STG_LIST, .prefix = "odd/",
				     .delimiter = "/"};
		unsigned p, subs = 0;

		is_int(call_sync(&c, &r), EBB_OK, "LIST with delimiter: %s",
		       r.message);
		for (p = 0; p < r.nprefixes; p++)
			subs += strcmp(r.prefixes[p], "odd/sub dir/") == 0 ||
				strcmp(r.prefixes[p], "odd/dots/") == 0;
		is_int(subs, 2, "CommonPrefixes (%u)", r.nprefixes);
		is_int(r.nobjects, NODD - 2, "objects beside them");
		stg_result_free(&r);
	}
	{
		struct stg_call c = {.op = STG_LIST, .prefix = "odd/",
				     .start_after = "odd/with space"};

		is_int(call_sync(&c, &r), EBB_OK, "LIST start_after: %s",
		       r.message);
		ok(r.nobjects == 1 && strcmp(r.objects[0].key,
			"odd/\xc3\xa9t\xc3\xa9 \xe2\x82\xac "
			"\xe6\x97\xa5\xe6\x9c\xac") == 0,
		   "only the key after it (%u)", r.nobjects);
		stg_result_free(&r);
	}
}

static void test_multipart(void)
{
	const size_t psz = 5u << 20, last = 1u << 20;
	const size_t total = 2 * psz + last;
	char *data = tap_malloc(total), *body = NULL, *path, *cmd, *dl;
	struct stg_part parts[3];
	struct stg_result r;
	char upload_id[256];
	size_t len = 0;
	unsigned i;
	const struct stg_meta meta[] = {{(char *)"file-owner",
					 (char *)"1000"}};

	fill_random(data, total, 42);
	{
		struct stg_call c = {.op = STG_MPU_CREATE, .key = "mpu/big.bin",
				     .meta = meta, .nmeta = 1};

		is_int(call_sync(&c, &r), EBB_OK, "MPU create: %s", r.message);
		ok(r.upload_id[0] != '\0', "upload id %s", r.upload_id);
		snprintf(upload_id, sizeof(upload_id), "%s", r.upload_id);
		stg_result_free(&r);
	}
	for (i = 0; i < 3; i++) {
		struct stg_call c = {.op = STG_MPU_PART, .key = "mpu/big.bin",
				     .upload_id = upload_id,
				     .part_number = i + 1,
				     .body = data + i * psz,
				     .body_len = i < 2 ? psz : last};

		is_int(call_sync(&c, &r), EBB_OK, "part %u: %s", i + 1,
		       r.message);
		parts[i].number = i + 1;
		snprintf(parts[i].etag, sizeof(parts[i].etag), "%s", r.etag);
		stg_result_free(&r);
	}
	{
		struct stg_call c = {.op = STG_MPU_COMPLETE,
				     .key = "mpu/big.bin",
				     .upload_id = upload_id, .parts = parts,
				     .nparts = 3};
		size_t n;

		is_int(call_sync(&c, &r), EBB_OK, "MPU complete: %s",
		       r.message);
		stg_result_free(&r);
		/* RGW 16 leaves the Complete answer's ETag empty: HEAD. */
		c = (struct stg_call){.op = STG_HEAD, .key = "mpu/big.bin"};
		call_sync(&c, &r);
		n = strlen(r.etag);
		ok(n > 4 && strcmp(r.etag + n - 3, "-3\"") == 0,
		   "multipart ETag %s ends in -3", r.etag);
		is_int((long long)r.size, (long long)total, "its size");
		stg_result_free(&r);
	}
	is_int(get_all("mpu/big.bin", &body, &len, &r), EBB_OK,
	       "GET the multipart object: %s", r.message);
	ok(len == total && memcmp(body, data, total) == 0,
	   "multipart object byte-identical through ebb");
	stg_result_free(&r);
	free(body);
	{
		struct stg_call c = {.op = STG_HEAD, .key = "mpu/big.bin"};

		call_sync(&c, &r);
		ok(r.nmeta == 1 && strcmp(r.meta[0].name, "file-owner") == 0,
		   "metadata given at create");
		stg_result_free(&r);
	}
	path = tap_asprintf("%s/mpu.dl", tmpdir);
	cmd = tap_asprintf("s3 cp --only-show-errors s3://%s/mpu/big.bin %s",
			   bucket, path);
	is_int(run_aws(cmd), 0, "aws s3 cp downloads it");
	dl = read_file(path, &len);
	ok(dl && len == total && memcmp(dl, data, total) == 0,
	   "aws's download is byte-identical");
	free(dl);
	free(cmd);
	unlink(path);
	free(path);

	/* Abort: the upload is gone, a later part is refused. */
	{
		struct stg_call c = {.op = STG_MPU_CREATE,
				     .key = "mpu/aborted"};

		call_sync(&c, &r);
		snprintf(upload_id, sizeof(upload_id), "%s", r.upload_id);
		stg_result_free(&r);
		c = (struct stg_call){.op = STG_MPU_PART, .key = "mpu/aborted",
				      .upload_id = upload_id,
				      .part_number = 1, .body = data,
				      .body_len = 1000};
		is_int(call_sync(&c, &r), EBB_OK, "part before abort");
		stg_result_free(&r);
		c = (struct stg_call){.op = STG_MPU_ABORT, .key = "mpu/aborted",
				      .upload_id = upload_id};
		is_int(call_sync(&c, &r), EBB_OK, "MPU abort: %s", r.message);
		stg_result_free(&r);
		c = (struct stg_call){.op = STG_MPU_PART, .key = "mpu/aborted",
				      .upload_id = upload_id,
				      .part_number = 2, .body = data,
				      .body_len = 1000};
		is_int(call_sync(&c, &r), EBB_ENOENT,
		       "part after abort refused: %s", r.message);
		is_str(r.s3_code, "NoSuchUpload", "NoSuchUpload");
		stg_result_free(&r);
		c = (struct stg_call){.op = STG_HEAD, .key = "mpu/aborted"};
		is_int(call_sync(&c, &r), EBB_ENOENT, "no object left");
		stg_result_free(&r);
	}
	free(data);
}

static void test_errors(void)
{
	struct stg_result r;
	struct stg_call c = {.op = STG_GET, .key = "no/such/key",
			     .sink = sink_mem};
	struct membuf m = {0};
	char err[256] = "";

	c.sink_arg = &m;
	is_int(call_sync(&c, &r), EBB_ENOENT, "GET missing key: ENOENT");
	is_str(r.s3_code, "NoSuchKey", "NoSuchKey");
	is_int(r.http_status, 404, "404");
	ok(strstr(r.message, "404 NoSuchKey") != NULL, "message: %s",
	   r.message);
	stg_result_free(&r);
	free(m.data);

	c = (struct stg_call){.op = STG_HEAD, .key = "no/such/key"};
	is_int(call_sync(&c, &r), EBB_ENOENT, "HEAD missing key: %s",
	       r.message);
	stg_result_free(&r);

	c = (struct stg_call){.op = STG_LIST, .bucket = "ebb-no-such-bucket"};
	is_int(call_sync(&c, &r), EBB_ENOENT, "LIST missing bucket: ENOENT");
	is_str(r.s3_code, "NoSuchBucket", "NoSuchBucket: %s", r.message);
	stg_result_free(&r);

	c = (struct stg_call){.op = STG_PUT, .bucket = "ebb-no-such-bucket",
			      .key = "k", .body = "x", .body_len = 1};
	is_int(call_sync(&c, &r), EBB_ENOENT, "PUT into missing bucket");
	is_str(r.s3_code, "NoSuchBucket", "NoSuchBucket");
	stg_result_free(&r);

	/* Wrong secret: RGW checks the signature and refuses. */
	{
		struct stg_cred bad = cred;

		snprintf(bad.secret_key, sizeof(bad.secret_key),
			 "wrongsecret0000000000000000000000000000");
		c = (struct stg_call){.op = STG_PUT, .bucket = bucket,
				      .key = "sig/never", .body = "x",
				      .body_len = 1};
		is_int(stg_s3_sync(&conf, &bad, &c, &r), EBB_EACCES,
		       "wrong secret: EACCES");
		is_str(r.s3_code, "SignatureDoesNotMatch",
		       "SignatureDoesNotMatch");
		ok(strstr(r.message, "PUT s3://") &&
		   strstr(r.message, "sig/never") &&
		   strstr(r.message, "403 SignatureDoesNotMatch"),
		   "clear message: %s", r.message);
		is_int(r.attempts, 1, "not retried");
		stg_result_free(&r);
		c = (struct stg_call){.op = STG_HEAD, .key = "sig/never"};
		is_int(call_sync(&c, &r), EBB_ENOENT, "object not created");
		stg_result_free(&r);
	}

	/* Calls that cannot be made. */
	{
		struct event_base *base = event_base_new();
		struct stg_s3 *s3 = stg_s3_new(base, &conf, &cred, err,
					       sizeof(err));
		struct stg_call bad1 = {.op = STG_GET, .bucket = bucket,
					.key = "k"};
		struct stg_call bad2 = {.op = STG_PUT, .bucket = "b",
					.key = "k"};
		struct stg_call bad3 = {.op = STG_MPU_PART, .bucket = bucket,
					.key = "k", .upload_id = "u",
					.part_number = 0};
		struct stg_meta mm = {(char *)"x", (char *)"a\r\nInjected: 1"};
		struct stg_call bad4 = {.op = STG_PUT, .bucket = bucket,
					.key = "k", .meta = &mm, .nmeta = 1};

		is_int(stg_s3_submit(s3, &bad1, NULL, NULL, err, sizeof(err)),
		       EBB_EINVAL, "GET without sink or buffer: %s", err);
		is_int(stg_s3_submit(s3, &bad2, NULL, NULL, err, sizeof(err)),
		       EBB_EINVAL, "short bucket name: %s", err);
		is_int(stg_s3_submit(s3, &bad3, NULL, NULL, err, sizeof(err)),
		       EBB_EINVAL, "part number 0: %s", err);
		is_int(stg_s3_submit(s3, &bad4, NULL, NULL, err, sizeof(err)),
		       EBB_EINVAL, "header injection in metadata: %s", err);
		is_int(stg_s3_pending(s3), 0, "nothing queued");
		stg_s3_free(s3);
		event_base_free(base);
	}

	/* Nothing listens: transport error, retried, then given up. */
	{
		struct stg_conf dead = conf;

		dead.endpoint = (char *)"http://127.0.0.1:1";
		dead.retries = 2;
		dead.retry_base_ms = 10;
		dead.retry_max_ms = 20;
		c = (struct stg_call){.op = STG_HEAD, .bucket = bucket,
				      .key = "k"};
		is_int(stg_s3_sync(&dead, &cred, &c, &r), EBB_EIO,
		       "connection refused: EIO");
		is_int(r.attempts, 3, "1 attempt + 2 retries");
		ok(strstr(r.message, "gave up after 3 attempts") != NULL,
		   "message: %s", r.message);
		stg_result_free(&r);
	}
}

struct many {
	unsigned done, failed;
	struct event_base *base;
	struct stg_s3 *s3;
};

static void many_done(const struct stg_result *res, void *arg)
{
	struct many *m = arg;

	m->done++;
	if (res->err) {
		if (m->failed++ < 3)
			diag("%s", res->message);
	}
	if (stg_s3_pending(m->s3) == 0)
		event_base_loopbreak(m->base);
}

struct many_one {
	int done;
	struct stg_result res;
};

/* Keep the scalar parts of a result (enough for the checks). */
static void one_done(const struct stg_result *res, void *arg)
{
	struct many_one *o = arg;

	o->res = *res;
	o->res.meta = NULL;
	o->res.nmeta = 0;
	o->res.objects = NULL;
	o->res.nobjects = 0;
	o->res.prefixes = NULL;
	o->res.nprefixes = 0;
	o->res.next_token = NULL;
	o->done = 1;
}

static void test_many(void)
{
	enum { N = 200 };
	static char bodies[N][64], back[N][64], keys[N][32];
	struct many m = {0};
	char err[256] = "";
	unsigned i, same = 0;
	unsigned long conns;
	struct stg_conf cf = conf;

	cf.max_inflight = N;       /* all 200 in flight at once */
	cf.max_host_conns = 8;
	m.base = event_base_new();
	m.s3 = stg_s3_new(m.base, &cf, &cred, err, sizeof(err));
	if (!ok(m.s3 != NULL, "client: %s", err))
		return;
	for (i = 0; i < N; i++) {
		struct stg_call c = {.op = STG_PUT, .bucket = bucket,
				     .key = keys[i], .body = bodies[i],
				     .body_len = sizeof(bodies[i])};

		snprintf(keys[i], sizeof(keys[i]), "many/%03u", i);
		fill_random(bodies[i], sizeof(bodies[i]), i + 1);
		if (stg_s3_submit(m.s3, &c, many_done, &m, err, sizeof(err)))
			diag("submit: %s", err);
	}
	is_int(stg_s3_pending(m.s3), N, "%d PUTs pending", N);
	is_int(m.done, 0, "no done() from inside submit()");
	event_base_dispatch(m.base);
	ok(m.done == N && m.failed == 0, "%u PUTs done, %u failed", m.done,
	   m.failed);
	m.done = m.failed = 0;
	for (i = 0; i < N; i++) {
		struct stg_call c = {.op = STG_GET, .bucket = bucket,
				     .key = keys[i], .buf = back[i],
				     .len = sizeof(back[i])};

		stg_s3_submit(m.s3, &c, many_done, &m, err, sizeof(err));
	}
	event_base_dispatch(m.base);
	ok(m.done == N && m.failed == 0, "%u GETs done, %u failed", m.done,
	   m.failed);
	for (i = 0; i < N; i++)
		same += memcmp(bodies[i], back[i], sizeof(back[i])) == 0;
	is_int(same, N, "every body came back");
	conns = stg_s3_connects(m.s3);
	ok(conns >= 1 && conns <= 2 * cf.max_host_conns,
	   "%d requests over %lu connections (keep-alive, at most %u at "
	   "once)", 2 * N, conns, cf.max_host_conns);
	/* Freeing the client with requests queued and in flight drops them
	 * without callbacks (and without leaks: valgrind runs this). */
	m.done = 0;
	for (i = 0; i < 20; i++) {
		struct stg_call c = {.op = STG_GET, .bucket = bucket,
				     .key = keys[i], .buf = back[i],
				     .len = sizeof(back[i])};

		stg_s3_submit(m.s3, &c, many_done, &m, err, sizeof(err));
	}
	event_base_loop(m.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	event_base_loop(m.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	ok(stg_s3_pending(m.s3) > 0, "%u requests still pending",
	   stg_s3_pending(m.s3));
	stg_s3_free(m.s3);
	ok(1, "client freed with requests in flight");
	event_base_free(m.base);
}

/* One request on client s3 to its end. */
static ebb_err run_one(struct event_base *base, struct stg_s3 *s3,
		       const struct stg_call *c, struct many_one *o)
{
	char err[256] = "";

	memset(o, 0, sizeof(*o));
	if (stg_s3_submit(s3, c, one_done, o, err, sizeof(err)) != EBB_OK) {
		diag("submit: %s", err);
		return EBB_EINVAL;
	}
	while (!o->done)
		event_base_loop(base, EVLOOP_ONCE);
	return o->res.err;
}

/* Renewed credentials: a client signs what it starts after
 * stg_s3_set_cred() with the new keys (bbd renews expiring ones). */
static void test_set_cred(void)
{
	struct event_base *base = event_base_new();
	struct stg_cred bad = cred, empty = {0};
	struct stg_s3 *s3;
	struct many_one o;
	struct stg_call c = {.op = STG_PUT, .bucket = bucket,
			     .key = "cred/renewed", .body = "renewed",
			     .body_len = 7};
	char err[256] = "";

	snprintf(bad.secret_key, sizeof(bad.secret_key),
		 "expiredsecret000000000000000000000000000");
	s3 = stg_s3_new(base, &conf, &bad, err, sizeof(err));
	if (!ok(s3 != NULL, "client with a stale secret: %s", err))
		return;
	is_int(run_one(base, s3, &c, &o), EBB_EACCES,
	       "stale secret: the PUT is refused");
	is_str(o.res.s3_code, "SignatureDoesNotMatch", "by RGW's signature check");
	is_int(stg_s3_set_cred(s3, &empty, err, sizeof(err)), EBB_EINVAL,
	       "credentials without keys are refused");
	ok(strstr(err, "no access key") != NULL, "message: %s", err);
	is_str(stg_s3_cred(s3)->secret_key, bad.secret_key,
	       "the client keeps its keys after a refused renewal");
	err[0] = '\0';
	is_int(stg_s3_set_cred(s3, &cred, err, sizeof(err)), EBB_OK,
	       "renewed credentials set%s%s", err[0] ? ": " : "", err);
	is_int(run_one(base, s3, &c, &o), EBB_OK,
	       "the next PUT is signed with them: %s", o.res.message);
	c = (struct stg_call){.op = STG_HEAD, .bucket = bucket,
			      .key = "cred/renewed"};
	is_int(run_one(base, s3, &c, &o), EBB_OK, "the object is there");
	is_int((int)o.res.size, 7, "with its 7 bytes");
	stg_s3_free(s3);
	event_base_free(base);
}

static void test_interop(void)
{
	const size_t n = 300000;
	char *data = tap_malloc(n), *body = NULL, *path, *cmd, *dl;
	struct stg_result r;
	size_t len = 0;

	fill_random(data, n, 7);
	path = tap_asprintf("%s/interop.bin", tmpdir);
	/* ebb writes, aws reads */
	ok(put("interop/by-ebb", data, n, NULL, 0) == EBB_OK, "ebb PUT");
	cmd = tap_asprintf("s3api get-object --bucket %s --key interop/by-ebb "
			   "%s --output text", bucket, path);
	is_int(run_aws(cmd), 0, "aws get-object");
	free(cmd);
	dl = read_file(path, &len);
	ok(dl && len == n && memcmp(dl, data, n) == 0,
	   "aws reads ebb's object byte-identical");
	free(dl);
	/* aws writes, ebb reads */
	fill_random(data, n, 8);
	write_file(path, data, n);
	cmd = tap_asprintf("s3api put-object --bucket %s --key 'interop/by "
			   "aws+1' --body %s --output text", bucket, path);
	is_int(run_aws(cmd), 0, "aws put-object (key with space and +)");
	free(cmd);
	is_int(get_all("interop/by aws+1", &body, &len, &r), EBB_OK,
	       "ebb GET: %s", r.message);
	ok(len == n && memcmp(body, data, n) == 0,
	   "ebb reads aws's object byte-identical");
	stg_result_free(&r);
	free(body);
	unlink(path);
	free(path);
	free(data);
}

/* ---- faults: tests/stager/cutproxy.py between us and RGW ---------------- */

static pid_t proxy_pid;

/* Start the proxy cutting the first ncut connections after down bytes to
 * us / up bytes to RGW; returns its port, or -1. */
static int proxy_start(int upstream, long down, long up, int ncut)
{
	const char *src = getenv("EBB_SRCDIR");
	char *script, *portfile, a1[16], a2[24], a3[24], a4[16];
	int port = -1, i, st;

	if (!src)
		return -1;
	script = tap_asprintf("%s/tests/stager/cutproxy.py", src);
	portfile = tap_asprintf("%s/cutproxy.port", tmpdir);
	unlink(portfile);
	snprintf(a1, sizeof(a1), "%d", upstream);
	snprintf(a2, sizeof(a2), "%ld", down);
	snprintf(a3, sizeof(a3), "%ld", up);
	snprintf(a4, sizeof(a4), "%d", ncut);
	proxy_pid = fork();
	if (proxy_pid < 0)
		sysbail("fork");
	if (proxy_pid == 0) {
		execlp("python3", "python3", script, portfile, a1, a2, a3, a4,
		       "120", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500 && port < 0; i++) {
		FILE *f = fopen(portfile, "r");

		if (f) {
			if (fscanf(f, "%d", &port) != 1)
				port = -1;
			fclose(f);
		}
		if (port < 0) {
			if (waitpid(proxy_pid, &st, WNOHANG) == proxy_pid) {
				proxy_pid = 0;
				break;
			}
			usleep(10000);
		}
	}
	unlink(portfile);
	free(portfile);
	free(script);
	return port;
}

static void proxy_stop(void)
{
	if (proxy_pid > 0) {
		kill(proxy_pid, SIGTERM);
		waitpid(proxy_pid, NULL, 0);
		proxy_pid = 0;
	}
}

static void test_faults(void)
{
	const size_t n = 300000;
	const char *colon = strrchr(conf.endpoint, ':');
	int upstream = colon ? atoi(colon + 1) : 0, port;
	char *data = tap_malloc(n), *back = tap_malloc(n), ep[64];
	struct stg_conf pc = conf;
	struct membuf m = {0};
	struct stg_result r;
	struct stg_call c;

	if (strncmp(conf.endpoint, "http://127.0.0.1:", 17) != 0 ||
	    upstream <= 0 || system("python3 -c '' 2>/dev/null") != 0) {
		skip_block(17, "fault checks need python3 and a local "
			   "http endpoint");
		goto out;
	}
	fill_random(data, n, 99);
	if (put("faults/obj", data, n, NULL, 0)) {
		skip_block(17, "cannot PUT the object");
		goto out;
	}
	pc.endpoint = ep;
	pc.retries = 5;
	pc.low_speed_ms = 5000;    /* a cut that is not seen is a stall */

	/* Whole GET, the first two connections cut after 100 kB: resumed
	 * twice after the last byte delivered, MD5 still checked. */
	port = proxy_start(upstream, 100000, 0, 2);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	c = (struct stg_call){.op = STG_GET, .bucket = bucket,
			      .key = "faults/obj", .sink = sink_mem,
			      .sink_arg = &m};
	is_int(stg_s3_sync(&pc, &cred, &c, &r), EBB_OK,
	       "whole GET through two cut connections: %s", r.message);
	is_int(r.attempts, 3, "3 attempts");
	ok(m.len == n && memcmp(m.data, data, n) == 0 && !m.bad_order,
	   "body byte-identical, offsets in order");
	is_int((long long)r.size, (long long)n, "size");
	stg_result_free(&r);
	proxy_stop();
	free(m.data);

	/* Ranged GET into a buffer, cut once. */
	port = proxy_start(upstream, 50000, 0, 1);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	c = (struct stg_call){.op = STG_GET, .bucket = bucket,
			      .key = "faults/obj", .off = 1000, .len = 200000,
			      .buf = back};
	is_int(stg_s3_sync(&pc, &cred, &c, &r), EBB_OK,
	       "ranged GET through a cut connection: %s", r.message);
	is_int(r.attempts, 2, "2 attempts");
	ok(memcmp(back, data + 1000, 200000) == 0, "range byte-identical");
	stg_result_free(&r);
	proxy_stop();

	/* PUT cut on its way to RGW: sent again whole. */
	fill_random(data, n, 100);
	port = proxy_start(upstream, 0, 100000, 1);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	c = (struct stg_call){.op = STG_PUT, .bucket = bucket,
			      .key = "faults/put", .body = data,
			      .body_len = n};
	is_int(stg_s3_sync(&pc, &cred, &c, &r), EBB_OK,
	       "PUT through a cut connection: %s", r.message);
	is_int(r.attempts, 2, "2 attempts");
	stg_result_free(&r);
	proxy_stop();
	memset(&m, 0, sizeof(m));
	c = (struct stg_call){.op = STG_GET, .bucket = bucket,
			      .key = "faults/put", .sink = sink_mem,
			      .sink_arg = &m};
	is_int(call_sync(&c, &r), EBB_OK, "GET it back directly");
	ok(m.len == n && memcmp(m.data, data, n) == 0,
	   "the retried PUT stored the whole body");
	stg_result_free(&r);
	free(m.data);
	memset(&m, 0, sizeof(m));

	/* Every connection cut: bounded retries, then a clear failure; the
	 * sink has what it accepted, no byte twice. */
	port = proxy_start(upstream, 30000, 0, 1000);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	pc.retries = 2;
	c = (struct stg_call){.op = STG_GET, .bucket = bucket,
			      .key = "faults/obj", .sink = sink_mem,
			      .sink_arg = &m};
	fill_random(data, n, 99);
	is_int(stg_s3_sync(&pc, &cred, &c, &r), EBB_EIO,
	       "always cut: EIO");
	is_int(r.attempts, 3, "1 + 2 retries");
	ok(strstr(r.message, "GET s3://") &&
	   strstr(r.message, "gave up after 3 attempts"), "message: %s",
	   r.message);
	ok(m.len > 0 && m.len < n && memcmp(m.data, data, m.len) == 0 &&
	   !m.bad_order, "partial delivery in order (%zu bytes)", m.len);
	stg_result_free(&r);
	proxy_stop();
	free(m.data);

	/* The object changes between two attempts of a resumed GET: the
	 * resumption's If-Match fails instead of mixing two versions. */
	memset(&m, 0, sizeof(m));
	port = proxy_start(upstream, 100000, 0, 1);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	pc.retries = 5;
	pc.retry_base_ms = 1000;   /* room to overwrite during the wait */
	pc.retry_max_ms = 1000;
	{
		struct event_base *base = event_base_new();
		struct stg_s3 *s3 = stg_s3_new(base, &pc, &cred, NULL, 0);
		struct many_one one = {0};
		unsigned spins = 0;

		c = (struct stg_call){.op = STG_GET, .bucket = bucket,
				      .key = "faults/obj", .sink = sink_mem,
				      .sink_arg = &m};
		stg_s3_submit(s3, &c, one_done, &one, NULL, 0);
		/* Run until the first bytes came and the cut happened. */
		while (!one.done && m.len == 0 && spins++ < 100000)
			event_base_loop(base, EVLOOP_ONCE);
		while (!one.done && spins++ < 100000 && stg_s3_pending(s3) &&
		       m.len < 90000)
			event_base_loop(base, EVLOOP_ONCE);
		ok(put("faults/obj", "changed", 7, NULL, 0) == EBB_OK,
		   "object overwritten mid-GET");
		while (!one.done)
			event_base_loop(base, EVLOOP_ONCE);
		is_int(one.res.err, EBB_E_S3, "resumed GET fails: %s",
		       one.res.message);
		is_str(one.res.s3_code, "PreconditionFailed",
		       "PreconditionFailed, not a mix of versions");
		stg_s3_free(s3);
		event_base_free(base);
	}
	proxy_stop();
	free(m.data);
out:
	free(data);
	free(back);
}

/* ---- faults from tests/lib/s3proxy.py (rgw.sh's fault proxy) ---------- */

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* Replace the proxy's rules (PUT /__proxy/rules); 0 on success. */
static int proxy_rules(const char *proxy, const char *json)
{
	char *url = tap_asprintf("%s/__proxy/rules", proxy);
	CURL *e = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL,
		"Content-Type: application/json");
	long status = 0;
	CURLcode cc;

	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	cc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	free(url);
	if (cc != CURLE_OK || status != 200) {
		diag("setting proxy rules: %s, HTTP %ld", curl_easy_strerror(cc),
		     status);
		return -1;
	}
	return 0;
}

static void test_proxy(void)
{
	const char *proxy = getenv("EBB_S3_PROXY_ENDPOINT");
	const size_t n = 200000;
	char *data = tap_malloc(n), *rules;
	struct stg_conf pc = conf;
	struct membuf m = {0};
	struct stg_result r;
	struct stg_call c;

	if (!proxy) {
		skip_block(22, "no EBB_S3_PROXY_ENDPOINT (tests/lib/s3proxy.py)");
		free(data);
		return;
	}
	pc.endpoint = (char *)proxy;
	pc.retries = 4;
	pc.low_speed_ms = 2000;
	fill_random(data, n, 5);

	/* 503 twice, then through. */
	proxy_rules(proxy, "{\"rules\": [{\"fault\": \"503\", \"count\": 2}]}");
	c = (struct stg_call){.op = STG_PUT, .bucket = bucket, .key = "px/a",
			      .body = data, .body_len = n};
	is_int(stg_s3_sync(&pc, &cred, &c, &r), EBB_OK,
	       "PUT after two 503s: %s", r.message);
	is_int(r.attempts, 3, "3 attempts");
	stg_result_free(&r);

	/* SlowDown on a GET. */
	proxy_rules(proxy, "{\"rules\": [{\"fault\": \"slowdown\", "
		    "\"method\": \"GET\", \"count\": 1}]}");
	c = (struct stg_call){.op = STG_GET, .bucket = bucket, .key = "px/a",
			      .sink = sink_mem, .sink_arg = &m};
	is_int(stg_s3_sync(&pc, &cred, &c, &r), EBB_OK,
	       "GET after SlowDown: %s", r.message);
	is_int(r.attempts, 2, "2 attempts");
	ok(m.len == n && memcmp(m.data, data, n) == 0, "body intact");
	stg_result_free(&r);
	free(m.data);
	memset(&m, 0, sizeof(m));

	/* Always 500: bounded, then a clear failure. */
	proxy_rules(proxy, "{\"rules\": [{\"fault\": \"500\"}]}");
	pc.retries = 2;
	c = (struct stg_call){.op = STG_GET, .bucket = bucket, .key = "px/a",
			      .sink = sink_mem, .sink_arg = &m};
	is_int(stg_s3_sync(&pc, &cred, &c, &r), EBB_E_S3, "always 500");
	is_int(r.attempts, 3, "1 + 2 retries");
	is_str(r.s3_code, "InternalError", "code kept");
	ok(strstr(r.message, "500 InternalError") &&
	   strstr(r.message, "gave up after 3 attempts"), "message: %s",
	   r.message);
	stg_result_free(&r);
	c = (struct stg_call){.op = STG_HEAD, .bucket = bucket, .key = "px/a"};
	stg_s3_sync(&pc, &cred, &c, &r);
	ok(r.err == EBB_E_S3 && strcmp(r.s3_code, "InternalError") == 0,
	   "HEAD (no body) gets a code from the status: %s", r.message);
	stg_result_free(&r);
	free(m.data);
	memset(&m, 0, sizeof(m));
	pc.retries = 4;

	/* 403 is final. */
	proxy_rules(proxy, "{\"rules\": [{\"fault\": \"refuse-put\"}]}");
	c = (struct stg_call){.op = STG_PUT, .bucket = bucket, .key = "px/b",
			      .body = "x", .body_len = 1};
	is_int(stg_s3_sync(&pc, &cred, &c, &r), EBB_EACCES,
	       "403 AccessDenied: %s", r.message);
	is_int(r.attempts, 1, "not retried");
	stg_result_free(&r);

	/* A stalled GET is aborted by the stall timeout and resumed. */
	proxy_rules(proxy, "{\"rules\": [{\"fault\": \"stall\", "
		    "\"method\": \"GET\", \"after\": 50000, "
		    "\"seconds\": 30, \"count\": 1}]}");
	c = (struct stg_call){.op = STG_GET, .bucket = bucket, .key = "px/a",
			      .sink = sink_mem, .sink_arg = &m};
	is_int(stg_s3_sync(&pc, &cred, &c, &r), EBB_OK,
	       "stalled GET resumed: %s", r.message);
	is_int(r.attempts, 2, "2 attempts");
	ok(m.len == n && memcmp(m.data, data, n) == 0 && !m.bad_order,
	   "body intact, in order");
	stg_result_free(&r);
	free(m.data);
	memset(&m, 0, sizeof(m));

	/* A truncated ranged GET (FIN with Content-Length unmet). */
	proxy_rules(proxy, "{\"rules\": [{\"fault\": \"truncate\", "
		    "\"method\": \"GET\", \"after\": 30000, "
		    "\"count\": 1}]}");
	{
		char *buf = tap_malloc(100000);

		c = (struct stg_call){.op = STG_GET, .bucket = bucket,
				      .key = "px/a", .off = 5000, .len = 100000,
				      .buf = buf};
		is_int(stg_s3_sync(&pc, &cred, &c, &r), EBB_OK,
		       "truncated ranged GET resumed: %s", r.message);
		is_int(r.attempts, 2, "2 attempts");
		ok(memcmp(buf, data + 5000, 100000) == 0, "range intact");
		stg_result_free(&r);
		free(buf);
	}

	/* CompleteMultipartUpload failing once with 500: retried. */
	{
		struct stg_part part = {.number = 1};
		char upload_id[256];

		proxy_rules(proxy, "{\"rules\": []}");
		c = (struct stg_call){.op = STG_MPU_CREATE, .bucket = bucket,
				      .key = "px/mpu"};
		stg_s3_sync(&pc, &cred, &c, &r);
		snprintf(upload_id, sizeof(upload_id), "%s", r.upload_id);
		stg_result_free(&r);
		c = (struct stg_call){.op = STG_MPU_PART, .bucket = bucket,
				      .key = "px/mpu", .upload_id = upload_id,
				      .part_number = 1, .body = data,
				      .body_len = n};
		stg_s3_sync(&pc, &cred, &c, &r);
		snprintf(part.etag, sizeof(part.etag), "%s", r.etag);
		stg_result_free(&r);
		proxy_rules(proxy, "{\"rules\": [{\"fault\": \"500\", "
			    "\"method\": \"POST\", \"count\": 1}]}");
		c = (struct stg_call){.op = STG_MPU_COMPLETE, .bucket = bucket,
				      .key = "px/mpu", .upload_id = upload_id,
				      .parts = &part, .nparts = 1};
		is_int(stg_s3_sync(&pc, &cred, &c, &r), EBB_OK,
		       "Complete after a 500: %s", r.message);
		is_int(r.attempts, 2, "2 attempts");
		stg_result_free(&r);
	}

	/* Many requests in flight with 30% 503s: all complete. */
	rules = tap_asprintf("{\"seed\": 7, \"rules\": [{\"fault\": "
			     "\"503\", \"rate\": 0.3}]}");
	proxy_rules(proxy, rules);
	free(rules);
	{
		enum { N = 60 };
		static char back[N][64];
		struct many mm = {0};
		char err[256];
		unsigned i, same = 0;

		pc.max_inflight = N;
		pc.retries = 8;
		pc.retry_base_ms = 5;
		pc.retry_max_ms = 50;
		mm.base = event_base_new();
		mm.s3 = stg_s3_new(mm.base, &pc, &cred, err, sizeof(err));
		for (i = 0; i < N; i++) {
			struct stg_call g = {.op = STG_GET, .bucket = bucket,
					     .key = "px/a", .off = 64 * i,
					     .len = 64, .buf = back[i]};

			stg_s3_submit(mm.s3, &g, many_done, &mm, err,
				      sizeof(err));
		}
		event_base_dispatch(mm.base);
		ok(mm.done == N && mm.failed == 0,
		   "%u ranged GETs through 30%% 503s, %u failed", mm.done,
		   mm.failed);
		for (i = 0; i < N; i++)
			same += memcmp(back[i], data + 64 * i, 64) == 0;
		is_int(same, N, "every range right");
		stg_s3_free(mm.s3);
		event_base_free(mm.base);
	}
	proxy_rules(proxy, "{\"rules\": []}");
	free(data);
}

int main(void)
{
	const char *ep = getenv("EBB_S3_ENDPOINT");
	const char *ak = getenv("EBB_S3_ACCESS_KEY");
	const char *sk = getenv("EBB_S3_SECRET_KEY");
	const char *region = getenv("EBB_S3_REGION");
	const char *t = getenv("TMPDIR");

	bucket = getenv("EBB_S3_BUCKET");
	aws = getenv("EBB_S3_AWS");
	if (!ep || !ak || !sk || !bucket || !aws)
		skip_all("needs EBB_S3_ENDPOINT, EBB_S3_ACCESS_KEY, "
			 "EBB_S3_SECRET_KEY, EBB_S3_BUCKET and EBB_S3_AWS "
			 "(tests/stager/s3.t sets them)");
	snprintf(tmpdir, sizeof(tmpdir), "%s", t && *t ? t : "/tmp");
	conf.endpoint = (char *)ep;
	conf.region = (char *)(region && *region ? region : "us-east-1");
	conf.addressing = STG_ADDR_PATH;
	conf.retry_base_ms = 20;
	conf.retry_max_ms = 200;
	conf.retries = 3;
	snprintf(cred.access_key, sizeof(cred.access_key), "%s", ak);
	snprintf(cred.secret_key, sizeof(cred.secret_key), "%s", sk);
	snprintf(cred.source, sizeof(cred.source), "environment");

	plan_lazy();
	test_roundtrip();
	test_odd_keys();
	test_multipart();
	test_errors();
	test_many();
	test_set_cred();
	test_interop();
	test_faults();
	proxy_stop();
	test_proxy();
	return tap_exit();
}
