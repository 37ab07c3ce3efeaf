/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stager: ebb's S3 client (libcurl multi interface driven by libevent).
 *
 * DESIGN: one struct stg_s3 per event_base (bbd's stager thread, or a
 * private base for ebbctl and tests).  Every S3 request is a struct stg_req
 * with an explicit state (planned -> in flight -> retry wait -> done or
 * failed), its attempt count and last error; libcurl's socket and timer
 * callbacks feed the event_base (curl's multi-event.c shape), so hundreds of
 * transfers share a few connections kept alive by curl's connection cache.
 *
 * Signing: SigV4 by libcurl (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3").  curl
 * 7.88 neither sends x-amz-content-sha256 nor sorts the query, so we build
 * the query string already sorted and RFC 3986-encoded and add the header
 * ourselves (UNSIGNED-PAYLOAD; bodies are protected by Content-MD5).
 *
 * Integrity: every PUT and part carries Content-MD5; a ranged GET carries
 * If-Match with the ETag the caller knows, so an object changed during a
 * stage fails with STG_PRECONDITION instead of mixing versions; a whole,
 * non-multipart GET checks the body's MD5 against the ETag; sizes always.
 *
 * Retries: 5xx, 429, SlowDown, connection resets, time-outs and short
 * bodies are retried with exponential backoff and full jitter, bounded in
 * count (conf.retries) and in total time (conf.retry_max_ms).  A GET resumes
 * after the last byte it handed to the sink.  Other 4xx are final.
 *
 * Threads: a struct stg_s3 and its requests belong to the thread running
 * its event_base; stg_s3_sync() runs a private base on the calling thread.
 */
#ifndef EBB_STG_H
#define EBB_STG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct event_base;

/* ---- configuration ------------------------------------------------------- */

enum stg_addressing {
	STG_ADDR_AUTO,     /* virtual-hosted for AWS endpoints, else path */
	STG_ADDR_PATH,     /* http://endpoint/bucket/key */
	STG_ADDR_VIRTUAL,  /* http://bucket.endpoint/key */
};

/* What ebb.conf's s3_* keys give (docs/stager.md lists them); strings are
 * owned by the struct and freed by stg_conf_free(). */
struct stg_conf {
	char *endpoint;          /* "http://127.0.0.1:7480"; NULL = AWS's
	                          * https://s3.<region>.amazonaws.com */
	char *region;            /* NULL = "us-east-1" */
	enum stg_addressing addressing;
	char *profile;           /* shared credentials profile; NULL =
	                          * $AWS_PROFILE or "default" */
	char *credentials_file;  /* NULL = $AWS_SHARED_CREDENTIALS_FILE or
	                          * ~/.aws/credentials of the running user */
	char *config_file;       /* NULL = $AWS_CONFIG_FILE or ~/.aws/config */
	char *imds_endpoint;     /* NULL = http://169.254.169.254; "" = off */
	char *ca_file;           /* NULL = system CAs */
	bool no_verify_tls;
	unsigned max_inflight;   /* requests in flight per struct stg_s3; 0=32 */
	unsigned max_host_conns; /* connections to the endpoint; 0 = 16 */
	unsigned connect_timeout_ms; /* 0 = 10000 */
	unsigned low_speed_ms;   /* abort a transfer stalled this long; 0=30000 */
	unsigned request_timeout_ms; /* whole request; 0 = 600000 */
	unsigned retries;        /* attempts after the first; 0 = 8 */
	unsigned retry_base_ms;  /* first backoff ceiling; 0 = 100 */
	unsigned retry_max_ms;   /* one backoff's ceiling; 0 = 20000 */
	unsigned retry_total_ms; /* give up after this long; 0 = 300000 */
	uint64_t part_size;      /* multipart part size; 0 = 8 MiB (>= 5 MiB) */
	uint64_t multipart_threshold; /* files from this size: multipart;
	                          * 0 = 16 MiB */
};

/* Fill conf from ebb.conf-style key/value pairs: s3_endpoint, s3_region,
 * s3_addressing (auto|path|virtual), s3_profile, s3_credentials_file,
 * s3_config_file, s3_imds_endpoint, s3_ca_file, s3_verify_tls (yes|no),
 * s3_max_inflight, s3_max_connections, s3_connect_timeout, s3_stall_timeout,
 * s3_request_timeout, s3_retries, s3_retry_base, s3_retry_max,
 * s3_retry_total, s3_part_size, s3_multipart_threshold.  Returns EBB_OK,
 * EBB_ENOENT if key is not one of these (the caller tries its own keys),
 * or EBB_E_CONFIG with err set ("s3_retries: not a number: 'x'"). */
ebb_err stg_conf_set(struct stg_conf *conf, const char *key,
		     const char *value, char *err, size_t errlen);
void stg_conf_free(struct stg_conf *conf);

/* ---- credentials ------------------------------------------------------------ */

struct stg_cred {
	char access_key[128];
	char secret_key[128];
	char session_token[2048];  /* "" if none */
	char source[64];           /* "environment", "profile default", "imds" */
	int64_t expires;           /* unix seconds; 0 = never */
};

/* Resolve credentials in the order AWS tools use: AWS_ACCESS_KEY_ID +
 * AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), then the shared credentials
 * file (and the config file's [profile X]) for the profile, then the EC2
 * instance role through IMDSv2 (PUT token first, then the role's
 * credentials).  Blocking (IMDS has a 1 s connect timeout).  On failure
 * err says what was tried ("no credentials: environment unset; profile
 * 'x' not in /root/.aws/credentials; IMDS: connection refused"). */
ebb_err stg_cred_resolve(const struct stg_conf *conf, struct stg_cred *out,
			 char *err, size_t errlen);

/* Whether cred expires within margin_s seconds after now (unix seconds);
 * never for expires 0 (keys from the environment or a file). */
bool stg_cred_expiring(const struct stg_cred *cred, int64_t now,
		       int64_t margin_s);

/* Margin before expiry at which long-lived users (bbd's stager thread and
 * stage coordinators) resolve credentials again: IMDS hands out role
 * credentials 5 minutes or more before the old ones expire. */
#define STG_CRED_REFRESH_S 600

/* ---- requests ---------------------------------------------------------------- */

enum stg_op {
	STG_HEAD,          /* HeadObject */
	STG_GET,           /* GetObject, whole or ranged */
	STG_PUT,           /* PutObject from a memory buffer */
	STG_LIST,          /* ListObjectsV2, one page */
	STG_MPU_CREATE,    /* CreateMultipartUpload */
	STG_MPU_PART,      /* UploadPart from a memory buffer */
	STG_MPU_COMPLETE,  /* CompleteMultipartUpload */
	STG_MPU_ABORT,     /* AbortMultipartUpload */
	STG_DELETE,        /* DeleteObject (tests, abandon) */
};

/* One x-amz-meta-* header (name without the prefix, lower case). */
struct stg_meta {
	char *name;
	char *value;
};

struct stg_part {
	unsigned number;       /* 1..10000 */
	char etag[80];         /* as S3 returned it, with its quotes */
};

/* What to do.  All pointers are borrowed until the done callback. */
struct stg_call {
	enum stg_op op;
	const char *bucket;
	const char *key;       /* object key, raw (not URL-encoded) */
	/* GET: the range [off, off+len); len 0 = to the end of the object. */
	uint64_t off, len;
	const char *if_match;  /* GET/HEAD: ETag the object must still have */
	/* GET: bytes are handed to sink as they arrive, at their object
	 * offset; it returns 0, or an errno value to fail the request (not
	 * retried).  On a retry, delivery resumes after the last byte the sink
	 * accepted. */
	int (*sink)(void *arg, uint64_t off, const void *data, size_t len);
	void *sink_arg;
	/* GET into a buffer instead (when sink is NULL): buf of len bytes. */
	void *buf;
	/* PUT / MPU_PART: the body. */
	const void *body;
	size_t body_len;
	/* PUT / MPU_CREATE: metadata and content type (NULL = none). */
	const struct stg_meta *meta;
	unsigned nmeta;
	const char *content_type;
	/* LIST: prefix, delimiter (NULL = none), continuation token
	 * (NULL = first page), start_after, max_keys (0 = 1000). */
	const char *prefix;
	const char *delimiter;
	const char *token;
	const char *start_after;
	unsigned max_keys;
	/* MPU_PART / MPU_COMPLETE / MPU_ABORT */
	const char *upload_id;
	unsigned part_number;
	const struct stg_part *parts;  /* COMPLETE: in part-number order */
	unsigned nparts;
};

struct stg_object {            /* one ListObjectsV2 <Contents> */
	char *key;
	uint64_t size;
	char etag[80];
	int64_t mtime_ns;          /* LastModified */
};

/* The outcome.  Owned by the library; valid only during the callback
 * (copy what you keep).  For stg_s3_sync() the caller owns it and frees it
 * with stg_result_free(). */
struct stg_result {
	ebb_err err;           /* EBB_OK, EBB_E_S3 (HTTP error: see
	                        * http_status/s3_code), EBB_ETIMEDOUT,
	                        * EBB_EIO (transport), EBB_ENOENT (404),
	                        * EBB_EACCES (403), or the sink's errno */
	long http_status;      /* last attempt's status, 0 = none */
	char s3_code[64];      /* "NoSuchKey", "SignatureDoesNotMatch",
	                        * "PreconditionFailed", "BadDigest", ... */
	char message[256];     /* one line: "GET s3://b/k bytes=0-1048575:
	                        * 412 PreconditionFailed (object changed)" */
	unsigned attempts;
	/* HEAD/GET/PUT/MPU_PART/MPU_COMPLETE (COMPLETE: may be "", Ceph
	 * RGW 16 sends an empty ETag; HEAD the object for it) */
	char etag[80];
	uint64_t size;         /* HEAD/GET: the object's total size */
	int64_t mtime_ns;      /* HEAD/GET: Last-Modified */
	struct stg_meta *meta; /* HEAD/GET: x-amz-meta-* */
	unsigned nmeta;
	/* LIST */
	struct stg_object *objects;
	unsigned nobjects;
	char **prefixes;       /* CommonPrefixes */
	unsigned nprefixes;
	bool truncated;
	char *next_token;
	/* MPU_CREATE */
	char upload_id[256];
};

void stg_result_free(struct stg_result *res);

struct stg_s3;
typedef void (*stg_done_fn)(const struct stg_result *res, void *arg);

/* A client on base with credentials cred (copied).  NULL on failure, err
 * set.  Free with stg_s3_free() on base's thread once no request is in
 * flight (or all are cancelled). */
struct stg_s3 *stg_s3_new(struct event_base *base, const struct stg_conf *conf,
			  const struct stg_cred *cred, char *err, size_t errlen);
void stg_s3_free(struct stg_s3 *s3);

/* Replace s3's credentials (refreshed ones): requests and retry attempts
 * started from now on are signed with them.  EBB_EINVAL with err if cred
 * lacks a key pair (s3 keeps the old ones).  On base's thread. */
ebb_err stg_s3_set_cred(struct stg_s3 *s3, const struct stg_cred *cred,
			char *err, size_t errlen);
/* The credentials s3 signs with. */
const struct stg_cred *stg_s3_cred(const struct stg_s3 *s3);

/* Start a request; done(res, arg) is called exactly once, later, on the
 * base's thread (never from inside stg_s3_submit).  Requests over
 * conf.max_inflight wait in a queue.  Returns EBB_OK, or EBB_EINVAL for a
 * call that cannot be made (err set; done is not called). */
ebb_err stg_s3_submit(struct stg_s3 *s3, const struct stg_call *call,
		      stg_done_fn done, void *arg, char *err, size_t errlen);

/* Requests queued or in flight. */
unsigned stg_s3_pending(const struct stg_s3 *s3);

/* Connections opened so far by s3's transfers (CURLINFO_NUM_CONNECTS
 * summed): far fewer than requests when keep-alive works. */
unsigned long stg_s3_connects(const struct stg_s3 *s3);

/* Run one call to its end on a private event_base (ebbctl, tests, and the
 * few one-off calls of a plan).  *res must be freed with stg_result_free().
 * Returns res->err. */
ebb_err stg_s3_sync(const struct stg_conf *conf, const struct stg_cred *cred,
		    const struct stg_call *call, struct stg_result *res);

/* ---- pure helpers (tested on their own) --------------------------------------- */

/* RFC 3986 encoding as SigV4 wants it: unreserved A-Za-z0-9-._~ kept, every
 * other byte %XX (upper case); '/' kept when keep_slash.  Returns a malloc'd
 * string. */
char *stg_uri_encode(const char *s, bool keep_slash);

/* The query string of a request, parameters sorted by name (then value),
 * each name and value encoded by stg_uri_encode (so curl's SigV4, which
 * signs the query as given, signs the canonical form).  n pairs of
 * names[i]=values[i] (values[i] NULL = "name="); malloc'd. */
char *stg_query(const char *const *names, const char *const *values,
		unsigned n);

/* The request URL for bucket/key (key NULL = the bucket) and query (may be
 * NULL or ""), path-style or virtual-hosted per conf; malloc'd. */
char *stg_url(const struct stg_conf *conf, const char *bucket, const char *key,
	      const char *query);

/* Backoff before attempt n (1 = first retry): uniform in [0, min(max,
 * base * 2^(n-1))] ms ("full jitter"); rnd is a uniform 64-bit draw. */
unsigned stg_backoff_ms(const struct stg_conf *conf, unsigned n, uint64_t rnd);

/* Whether a failed attempt is worth another: transport errors, time-outs,
 * short bodies, 500/502/503/504, 429, and 4xx codes SlowDown,
 * RequestTimeout, InternalError, RequestTimeTooSkewed. */
bool stg_retryable(long http_status, const char *s3_code, ebb_err transport);

#endif
