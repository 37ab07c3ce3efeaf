/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stager: what the engine (s3.c) and one request's HTTP exchange (req.c)
 * share: the request and client structs, the verdict of an attempt. */
#ifndef EBB_STG_S3_INT_H
#define EBB_STG_S3_INT_H

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "stg.h"
#include "stg_int.h"

/* A request's state (s3.c's DESIGN draws the machine). */
enum stg_rstate {
	RS_PLANNED,
	RS_INFLIGHT,
	RS_RETRY_WAIT,
	RS_DONE,
	RS_FAILED,
	RS__COUNT
};


struct stg_req {
	struct stg_s3 *s3;
	enum stg_rstate state;
	struct stg_call call;           /* pointers borrowed from the caller */
	stg_done_fn done;
	void *arg;
	struct stg_req *next;           /* in s3's planned FIFO */
	struct stg_req *lprev, *lnext;  /* in s3's list of live requests */
	struct event *timer;            /* backoff */
	uint64_t t0_ms;                 /* first attempt started */
	unsigned attempts;
	struct stg_result res;          /* what done() will see */
	char ctx[192];                  /* "GET s3://b/k bytes=0-9" */
	char *complete_xml;             /* MPU_COMPLETE body */
	char content_md5[32];           /* PUT/MPU_PART */
	char body_md5_hex[33];

	/* one attempt */
	CURL *easy;
	struct curl_slist *hdrs;
	char *url;
	char errbuf[CURL_ERROR_SIZE];
	long status;                    /* from the status line */
	bool have_clen, have_crange;
	uint64_t clen, cr_start, cr_end, cr_total;
	char *rbuf;                     /* XML or error body */
	size_t rlen, rcap;
	size_t put_off;
	uint64_t att_start;             /* object offset this attempt asked */
	uint64_t skip;                  /* bytes to drop (server gave more) */
	uint64_t att_bytes;             /* body bytes this attempt */
	bool body_checked;              /* GET: headers validated */
	ebb_err abort_err;              /* why our callback stopped curl */
	char abort_msg[160];

	/* GET, across attempts */
	uint64_t delivered;             /* bytes the sink/buf accepted */
	char pin_etag[80];              /* ETag of the version being read */
	EVP_MD_CTX *md5;                /* whole GET: checked if not MPU */
};

struct stg_s3 {
	struct event_base *base;
	struct stg_conf conf;           /* strings owned (copied) */
	struct stg_cred cred;
	CURLM *multi;
	struct event *timer;            /* curl's timeout */
	struct event *kick;             /* start planned requests */
	CURL **free_easy;
	unsigned nfree, capfree;
	struct stg_req *q_head, *q_tail;
	struct stg_req *live;           /* every request not yet finished */
	unsigned inflight, pending;
	unsigned long connects;
	uint64_t rng;
	char sigv4[96];
	char userpwd[300];
	char token_hdr[2100];
};

/* ---- req.c: one HTTP exchange ------------------------------------------- */

/* What an ended attempt calls for; res is filled for all three. */
enum stg_verdict {
	STG_V_DONE,     /* success */
	STG_V_RETRY,    /* failed, worth another attempt */
	STG_V_FAIL,     /* failed for good */
};

/* Why call cannot be made (static text), or NULL. */
const char *stg_call_invalid(const struct stg_call *call);
/* "GET" ... for messages; never NULL. */
const char *stg_op_name(enum stg_op op);
/* Per-request work done once at submit: the message context, the body's
 * MD5, the Complete body, the whole-GET digest.  EBB_ENOMEM. */
ebb_err stg_req_prepare(struct stg_req *req);
/* Set up req->easy (a fresh or reset handle) for the next attempt.
 * EBB_ENOMEM. */
ebb_err stg_req_setup(struct stg_req *req);
/* The outcome of the attempt that just ended with cc (status is in
 * req->status): fills req->res and says what to do next. */
enum stg_verdict stg_req_verdict(struct stg_req *req, CURLcode cc);
/* res.message = "<ctx>: <fmt...>". */
void stg_req_msg(struct stg_req *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
