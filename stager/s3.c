/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stager: the S3 request engine: libcurl's multi interface on libevent.
 *
 * DESIGN: one CURLM per struct stg_s3.  curl tells us which sockets to
 * watch (CURLMOPT_SOCKETFUNCTION) and when to wake it (TIMERFUNCTION); we
 * turn those into libevent events on the caller's base and answer them
 * with curl_multi_socket_action(), as curl's docs/examples/multi-event.c
 * does.  curl's connection cache, bounded by CURLMOPT_MAX_HOST_CONNECTIONS,
 * keeps HTTP/1.1 connections alive between requests; easy handles are kept
 * on a free list so their TLS session and DNS caches are reused too.
 *
 * Each request is a struct stg_req with an explicit state:
 *
 *   PLANNED --start--> INFLIGHT --ok / final error--> DONE / FAILED
 *      ^                  |
 *      +--timer-- RETRY_WAIT <--retryable error, budget left
 *
 * PLANNED requests wait in a FIFO until fewer than conf.max_inflight are in
 * flight; a request coming back from RETRY_WAIT goes to the head of it.
 * Every transition goes through _req_set_state().  Completion is always
 * reported from an event callback, so done() never runs inside submit().
 * What one attempt sends and how its answer is judged is req.c's business;
 * this file only runs the loop and acts on req.c's verdict.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "s3_int.h"
#include "stg.h"
#include "stg_int.h"

static const char *const _rstate_names[RS__COUNT] = {
	[RS_PLANNED] = "planned",
	[RS_INFLIGHT] = "in flight",
	[RS_RETRY_WAIT] = "retry wait",
	[RS_DONE] = "done",
	[RS_FAILED] = "failed",
};

static void _pump(struct stg_s3 *s3);
static void _attempt_end(struct stg_req *req, CURLcode cc);

/* ---- small helpers ---------------------------------------------------------- */

static uint64_t _now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t _rand64(struct stg_s3 *s3)
{
	/* xorshift64*: backoff jitter only, no need for more. */
	s3->rng ^= s3->rng >> 12;
	s3->rng ^= s3->rng << 25;
	s3->rng ^= s3->rng >> 27;
	return s3->rng * 2685821657736338717ULL;
}

static void _req_set_state(struct stg_req *req, enum stg_rstate st)
{
	static const bool ok[RS__COUNT][RS__COUNT] = {
		[RS_PLANNED] = {[RS_INFLIGHT] = true, [RS_FAILED] = true},
		[RS_INFLIGHT] = {[RS_RETRY_WAIT] = true, [RS_DONE] = true,
				 [RS_FAILED] = true},
		[RS_RETRY_WAIT] = {[RS_PLANNED] = true, [RS_FAILED] = true},
	};

	if (!ok[req->state][st]) {
		/* A bug of ours: say so loudly, keep going (the request then
		 * ends as failed rather than hanging). */
		fprintf(stderr, "stager: %s: bad transition %s -> %s\n",
			req->ctx, _rstate_names[req->state], _rstate_names[st]);
	}
	if (getenv("EBB_STG_TRACE"))
		fprintf(stderr, "stager: %s: %s -> %s (attempt %u)%s%s\n",
			req->ctx, _rstate_names[req->state], _rstate_names[st],
			req->attempts,
			st == RS_RETRY_WAIT || st == RS_FAILED ? ": " : "",
			st == RS_RETRY_WAIT || st == RS_FAILED ?
				req->res.message : "");
	req->state = st;
}

/* ---- the event loop glue (multi-event.c's shape) ------------------------------- */

static void _check_done(struct stg_s3 *s3)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(s3->multi, &left))) {
		struct stg_req *req = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
				  (char **)&req);
		if (req)
			_attempt_end(req, msg->data.result);
	}
}

static void _sock_ev(evutil_socket_t fd, short what, void *arg)
{
	struct stg_s3 *s3 = arg;
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(s3->multi, fd, flags, &running);
	_check_done(s3);
}

static void _timer_ev(evutil_socket_t fd, short what, void *arg)
{
	struct stg_s3 *s3 = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(s3->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	_check_done(s3);
}

static int _socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
		      void *socketp)
{
	struct stg_s3 *s3 = userp;
	struct event *ev = socketp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (ev)
			event_free(ev);
		curl_multi_assign(s3->multi, s, NULL);
		return 0;
	}
	kind = (short)(EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
		       ((what & CURL_POLL_OUT) ? EV_WRITE : 0));
	if (ev) {
		event_del(ev);
		event_assign(ev, s3->base, s, kind, _sock_ev, s3);
	} else {
		ev = event_new(s3->base, s, kind, _sock_ev, s3);
		if (!ev)
			return -1;
		curl_multi_assign(s3->multi, s, ev);
	}
	event_add(ev, NULL);
	return 0;
}

static int _timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct stg_s3 *s3 = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(s3->timer);
		return 0;
	}
	/* 0 means "call me at once": a zero timeout does that from the
	 * loop, never from inside curl. */
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(s3->timer, &tv);
	return 0;
}

static void _kick_ev(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	_pump(arg);
}

static void _kick(struct stg_s3 *s3)
{
	struct timeval zero = {0, 0};

	evtimer_add(s3->kick, &zero);
}

static CURL *_easy_get(struct stg_s3 *s3)
{
	CURL *e;

	if (s3->nfree) {
		e = s3->free_easy[--s3->nfree];
		curl_easy_reset(e);
		return e;
	}
	return curl_easy_init();
}

static void _easy_put(struct stg_s3 *s3, CURL *e)
{
	if (s3->nfree < s3->capfree)
		s3->free_easy[s3->nfree++] = e;
	else
		curl_easy_cleanup(e);
}

/* Undo one attempt's transfer: the easy handle goes back to the pool, the
 * connections it had to open are counted. */
static void _attempt_clear(struct stg_req *req)
{
	struct stg_s3 *s3 = req->s3;

	if (req->easy) {
		long nc = 0;

		if (curl_easy_getinfo(req->easy, CURLINFO_NUM_CONNECTS, &nc) ==
		    CURLE_OK && nc > 0)
			s3->connects += (unsigned long)nc;
		curl_multi_remove_handle(s3->multi, req->easy);
		_easy_put(s3, req->easy);
		req->easy = NULL;
	}
	curl_slist_free_all(req->hdrs);
	req->hdrs = NULL;
	STG_FREE(req->url);
}

static void _req_free(struct stg_req *req)
{
	if (!req)
		return;
	if (req->timer)
		event_free(req->timer);
	curl_slist_free_all(req->hdrs);
	free(req->url);
	free(req->rbuf);
	free(req->complete_xml);
	if (req->md5)
		EVP_MD_CTX_free(req->md5);
	stg_result_free(&req->res);
	free(req);
}

/* The end of a request: report it, then forget it.  s3 is not touched
 * after done() (which may submit more requests). */
static void _req_finish(struct stg_req *req, enum stg_rstate st)
{
	struct stg_s3 *s3 = req->s3;

	_req_set_state(req, st);
	req->res.attempts = req->attempts;
	if (st == RS_DONE) {
		req->res.err = EBB_OK;
		req->res.message[0] = '\0';
	}
	s3->pending--;
	if (req->lprev)
		req->lprev->lnext = req->lnext;
	else
		s3->live = req->lnext;
	if (req->lnext)
		req->lnext->lprev = req->lprev;
	_kick(s3);
	req->done(&req->res, req->arg);
	_req_free(req);
}

static void _retry_ev(evutil_socket_t fd, short what, void *arg)
{
	struct stg_req *req = arg;
	struct stg_s3 *s3 = req->s3;

	(void)fd;
	(void)what;
	_req_set_state(req, RS_PLANNED);
	/* At the head: it has waited its turn already. */
	req->next = s3->q_head;
	s3->q_head = req;
	if (!s3->q_tail)
		s3->q_tail = req;
	_pump(s3);
}

/* An attempt failed with res.err/http_status/s3_code/message set: retry
 * if it is worth it and the budget allows, else fail the request. */
static void _attempt_failed(struct stg_req *req, bool retryable)
{
	struct stg_s3 *s3 = req->s3;
	const struct stg_conf *cf = &s3->conf;
	unsigned max_retries = cf->retries ? cf->retries : 8;
	uint64_t total = stg_conf_u(cf->retry_total_ms, 300000);
	unsigned wait;
	struct timeval tv;

	if (!retryable || req->attempts > max_retries) {
		if (retryable) {
			size_t n = strlen(req->res.message);

			snprintf(req->res.message + n,
				 sizeof(req->res.message) - n,
				 " (gave up after %u attempts)", req->attempts);
		}
		_req_finish(req, RS_FAILED);
		return;
	}
	wait = stg_backoff_ms(cf, req->attempts, _rand64(s3));
	if (_now_ms() + wait - req->t0_ms > total) {
		size_t n = strlen(req->res.message);

		snprintf(req->res.message + n, sizeof(req->res.message) - n,
			 " (gave up after %u attempts, %llu ms)",
			 req->attempts,
			 (unsigned long long)(_now_ms() - req->t0_ms));
		_req_finish(req, RS_FAILED);
		return;
	}
	_req_set_state(req, RS_RETRY_WAIT);
	if (!req->timer)
		req->timer = evtimer_new(s3->base, _retry_ev, req);
	if (!req->timer) {
		_req_finish(req, RS_FAILED);
		return;
	}
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	evtimer_add(req->timer, &tv);
}

static void _attempt_end(struct stg_req *req, CURLcode cc)
{
	long status = 0;

	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	req->status = status;
	_attempt_clear(req);
	req->s3->inflight--;
	switch (stg_req_verdict(req, cc)) {
	case STG_V_DONE:
		_req_finish(req, RS_DONE);
		break;
	case STG_V_RETRY:
		_attempt_failed(req, true);
		break;
	case STG_V_FAIL:
		_attempt_failed(req, false);
		break;
	}
}

/* Start planned requests while there is room. */
static void _pump(struct stg_s3 *s3)
{
	unsigned max = stg_conf_u(s3->conf.max_inflight, 32);

	while (s3->q_head && s3->inflight < max) {
		struct stg_req *req = s3->q_head;

		s3->q_head = req->next;
		if (!s3->q_head)
			s3->q_tail = NULL;
		req->next = NULL;
		req->attempts++;
		if (!req->t0_ms)
			req->t0_ms = _now_ms();
		_req_set_state(req, RS_INFLIGHT);
		s3->inflight++;
		req->easy = _easy_get(s3);
		if (!req->easy || stg_req_setup(req) ||
		    curl_multi_add_handle(s3->multi, req->easy) != CURLM_OK) {
			_attempt_clear(req);
			s3->inflight--;
			req->res.err = EBB_ENOMEM;
			stg_req_msg(req, "cannot set up the transfer (out of "
				    "memory)");
			_req_finish(req, RS_FAILED);
		}
	}
}

/* ---- the public calls ---------------------------------------------------------------- */

static pthread_once_t _curl_once = PTHREAD_ONCE_INIT;

static void _curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void stg_curl_init(void)
{
	pthread_once(&_curl_once, _curl_init);
}

static char *_dup_or_null(const char *s, bool *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

ebb_err stg_s3_set_cred(struct stg_s3 *s3, const struct stg_cred *cred,
			char *err, size_t errlen)
{
	if (!cred->access_key[0] || !cred->secret_key[0]) {
		snprintf(err, errlen, "S3 client: no access key or secret key "
			 "in the credentials");
		return EBB_EINVAL;
	}
	if (strchr(cred->access_key, ':')) {
		snprintf(err, errlen, "S3 client: access key contains ':'");
		return EBB_EINVAL;
	}
	explicit_bzero(&s3->cred, sizeof(s3->cred));
	s3->cred = *cred;
	snprintf(s3->userpwd, sizeof(s3->userpwd), "%s:%s", cred->access_key,
		 cred->secret_key);
	snprintf(s3->token_hdr, sizeof(s3->token_hdr),
		 "x-amz-security-token: %s", cred->session_token);
	return EBB_OK;
}

const struct stg_cred *stg_s3_cred(const struct stg_s3 *s3)
{
	return &s3->cred;
}

struct stg_s3 *stg_s3_new(struct event_base *base, const struct stg_conf *conf,
			  const struct stg_cred *cred, char *err, size_t errlen)
{
	struct stg_s3 *s3 = calloc(1, sizeof(*s3));
	bool fail = false;
	uint64_t seed = 0;

	stg_curl_init();
	if (!s3)
		goto nomem;
	s3->base = base;
	s3->conf = *conf;
	s3->conf.endpoint = _dup_or_null(conf->endpoint, &fail);
	s3->conf.region = _dup_or_null(conf->region, &fail);
	s3->conf.profile = _dup_or_null(conf->profile, &fail);
	s3->conf.credentials_file = _dup_or_null(conf->credentials_file,
						 &fail);
	s3->conf.config_file = _dup_or_null(conf->config_file, &fail);
	s3->conf.imds_endpoint = _dup_or_null(conf->imds_endpoint, &fail);
	s3->conf.ca_file = _dup_or_null(conf->ca_file, &fail);
	if (fail)
		goto nomem;
	if (stg_s3_set_cred(s3, cred, err, errlen) != EBB_OK)
		goto fail;
	snprintf(s3->sigv4, sizeof(s3->sigv4), "aws:amz:%s:s3",
		 conf->region && *conf->region ? conf->region : STG_DEF_REGION);
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)_now_ms() ^ (uint64_t)(uintptr_t)s3;
	s3->rng = seed | 1;
	s3->capfree = stg_conf_u(conf->max_inflight, 32);
	s3->free_easy = calloc(s3->capfree, sizeof(*s3->free_easy));
	s3->multi = curl_multi_init();
	s3->timer = evtimer_new(base, _timer_ev, s3);
	s3->kick = evtimer_new(base, _kick_ev, s3);
	if (!s3->free_easy || !s3->multi || !s3->timer || !s3->kick)
		goto nomem;
	curl_multi_setopt(s3->multi, CURLMOPT_SOCKETFUNCTION, _socket_cb);
	curl_multi_setopt(s3->multi, CURLMOPT_SOCKETDATA, s3);
	curl_multi_setopt(s3->multi, CURLMOPT_TIMERFUNCTION, _timer_cb);
	curl_multi_setopt(s3->multi, CURLMOPT_TIMERDATA, s3);
	curl_multi_setopt(s3->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)stg_conf_u(conf->max_host_conns, 16));
	/* Keep as many idle connections as we may use at once. */
	curl_multi_setopt(s3->multi, CURLMOPT_MAXCONNECTS,
			  (long)stg_conf_u(conf->max_host_conns, 16));
	return s3;
nomem:
	snprintf(err, errlen, "S3 client: out of memory");
fail:
	stg_s3_free(s3);
	return NULL;
}

void stg_s3_free(struct stg_s3 *s3)
{
	struct stg_req *req;
	unsigned i;

	if (!s3)
		return;
	/* Requests still live (queued, in flight, waiting to retry) are
	 * dropped without a callback: the owner frees the client only when
	 * it no longer waits for any. */
	while ((req = s3->live)) {
		s3->live = req->lnext;
		if (req->easy) {
			curl_multi_remove_handle(s3->multi, req->easy);
			curl_easy_cleanup(req->easy);
		}
		_req_free(req);
	}
	for (i = 0; i < s3->nfree; i++)
		curl_easy_cleanup(s3->free_easy[i]);
	free(s3->free_easy);
	if (s3->multi)
		curl_multi_cleanup(s3->multi);
	if (s3->timer)
		event_free(s3->timer);
	if (s3->kick)
		event_free(s3->kick);
	stg_conf_free(&s3->conf);
	explicit_bzero(&s3->cred, sizeof(s3->cred));
	explicit_bzero(s3->userpwd, sizeof(s3->userpwd));
	free(s3);
}

ebb_err stg_s3_submit(struct stg_s3 *s3, const struct stg_call *call,
		      stg_done_fn done, void *arg, char *err, size_t errlen)
{
	const char *why = stg_call_invalid(call);
	struct stg_req *req = NULL;

	if (why) {
		snprintf(err, errlen, "%s s3://%s/%s: %s",
			 stg_op_name(call->op),
			 call->bucket ? call->bucket : "",
			 call->key ? call->key : "", why);
		return EBB_EINVAL;
	}
	req = calloc(1, sizeof(*req));
	if (!req)
		goto nomem;
	req->s3 = s3;
	req->call = *call;
	req->done = done;
	req->arg = arg;
	req->state = RS_PLANNED;
	if (stg_req_prepare(req))
		goto nomem;
	if (s3->q_tail)
		s3->q_tail->next = req;
	else
		s3->q_head = req;
	s3->q_tail = req;
	req->lnext = s3->live;
	if (s3->live)
		s3->live->lprev = req;
	s3->live = req;
	s3->pending++;
	/* Started from the loop, so done() cannot run on our stack. */
	_kick(s3);
	return EBB_OK;
nomem:
	_req_free(req);
	snprintf(err, errlen, "out of memory");
	return EBB_ENOMEM;
}

unsigned stg_s3_pending(const struct stg_s3 *s3)
{
	return s3->pending;
}

unsigned long stg_s3_connects(const struct stg_s3 *s3)
{
	return s3->connects;
}

struct _sync {
	struct stg_result *res;
	struct event_base *base;
	bool done;
};

static void _sync_done(const struct stg_result *res, void *arg)
{
	struct _sync *s = arg;
	/* The result is ours (the request's) until this returns; for a sync
	 * call we move its allocations to the caller's struct instead of
	 * copying them, leaving an empty result to be freed. */
	struct stg_result *src = (struct stg_result *)res;

	*s->res = *src;
	memset(src, 0, sizeof(*src));
	s->done = true;
	event_base_loopbreak(s->base);
}

ebb_err stg_s3_sync(const struct stg_conf *conf, const struct stg_cred *cred,
		    const struct stg_call *call, struct stg_result *res)
{
	struct _sync s = {.res = res};
	struct stg_s3 *s3 = NULL;
	char err[256] = "";

	memset(res, 0, sizeof(*res));
	s.base = event_base_new();
	if (!s.base) {
		res->err = EBB_ENOMEM;
		snprintf(res->message, sizeof(res->message), "out of memory");
		goto out;
	}
	s3 = stg_s3_new(s.base, conf, cred, err, sizeof(err));
	if (!s3) {
		res->err = EBB_EINVAL;
		snprintf(res->message, sizeof(res->message), "%s", err);
		goto out;
	}
	res->err = stg_s3_submit(s3, call, _sync_done, &s, err, sizeof(err));
	if (res->err) {
		snprintf(res->message, sizeof(res->message), "%s", err);
		goto out;
	}
	while (!s.done)
		if (event_base_dispatch(s.base) < 0)
			break;
	if (!s.done) {
		res->err = EBB_EIO;
		snprintf(res->message, sizeof(res->message), "event loop "
			 "failed before the request ended");
	}
out:
	stg_s3_free(s3);
	if (s.base)
		event_base_free(s.base);
	return res->err;
}

