/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd's flood protection: descriptors, per-uid limits, connection counts.
 *
 * DESIGN: any user of the cluster can reach bbd's port, so one careless or
 * hostile client must not be able to stop every job's burst buffer on a
 * node (issue 11).  The deadlines (hello_timeout, frame_timeout,
 * idle_timeout) and the shedding of unauthenticated connections live with
 * the connections in bbd_net.c; this file holds what the workers share:
 * the table of authenticated uids (connections and requests in flight per
 * uid and client node, checked at HELLO and at each request), the descriptor limit, and
 * the counts NODE_STATUS reports.  The table is a small hash under one
 * leaf mutex taken at HELLO and at close only; requests in flight are an
 * atomic in the uid's entry, which a connection points to from HELLO on.
 * Entries are never freed (bounded by the users of the cluster times the
 * nodes they connect from), so that pointer stays valid without a
 * reference count.
 *
 * Per uid AND client node, not per uid: a job's ebb-fuse on each of its
 * nodes (running as the job's user) opens up to 8 connections to every
 * member's bbd, so a per-uid limit of 256 would refuse a 33-node job on
 * 8-CPU nodes; what the limit must stop is one node's processes of one
 * user holding a bbd's descriptors, and a job spread over many nodes is
 * bounded by its node count.  docs/security.md
 * "Limits" is the user's view.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include "bbd_int.h"
#include "log.h"

uint64_t bbd_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void bbd_limit_init(struct bbd *b)
{
	struct bbd_limits *l = &b->limits;
	struct rlimit rl;

	pthread_mutex_init(&l->lock, NULL);
	l->nofile = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t was = rl.rlim_cur;

		/* Every connection is a descriptor: take all we may have. */
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
				log_warn("cannot raise the open files limit "
					 "from %llu to %llu: %s",
					 (unsigned long long)was,
					 (unsigned long long)rl.rlim_max,
					 strerror(errno));
				rl.rlim_cur = was;
			}
		}
		l->nofile = rl.rlim_cur > UINT_MAX / 2 ? UINT_MAX / 2 :
			    (unsigned)rl.rlim_cur;
		log_info("open files limit %u (was %llu, hard limit %llu)",
			 l->nofile, (unsigned long long)was,
			 (unsigned long long)rl.rlim_max);
	}
	/* Unauthenticated connections get at most half the descriptors: the
	 * other half stays for authenticated clients, object files, LMDB and
	 * the local socket, whatever a flood does. */
	l->max_unauth = b->conf.max_unauth_conns ? b->conf.max_unauth_conns :
			l->nofile / 2;
	if (l->max_unauth < 1)
		l->max_unauth = 1;
	/* The reserve descriptor bbd_net.c gives up to accept at EMFILE. */
	b->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void bbd_limit_fini(struct bbd *b)
{
	struct bbd_limits *l = &b->limits;

	for (unsigned i = 0; i < BBD_UID_BUCKETS; i++) {
		struct bbd_uid *e, *next;

		for (e = l->tab[i]; e; e = next) {
			next = e->next;
			free(e);
		}
		l->tab[i] = NULL;
	}
	pthread_mutex_destroy(&l->lock);
	if (b->reserve_fd >= 0)
		close(b->reserve_fd);
	b->reserve_fd = -1;
}

bool bbd_limit_exempt(const struct bbd *b, uid_t uid)
{
	return uid == 0 || uid == geteuid() ||
	       (b->conf.have_slurm_user && uid == b->conf.slurm_uid);
}

ebb_err bbd_limit_conn_get(struct bbd *b, uid_t uid, const char *host,
			   struct bbd_uid **ue, char *why, size_t whylen)
{
	struct bbd_limits *l = &b->limits;
	unsigned max = b->conf.max_conns_per_uid;
	struct bbd_uid *e;
	ebb_err rc = EBB_OK;

	*ue = NULL;
	pthread_mutex_lock(&l->lock);
	for (e = l->tab[uid % BBD_UID_BUCKETS]; e; e = e->next)
		if (e->uid == uid && !strcmp(e->host, host))
			break;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			snprintf(why, whylen, "out of memory");
			rc = EBB_ENOMEM;
			goto out;
		}
		e->uid = uid;
		snprintf(e->host, sizeof(e->host), "%s", host);
		e->next = l->tab[uid % BBD_UID_BUCKETS];
		l->tab[uid % BBD_UID_BUCKETS] = e;
	}
	if (max && e->conns >= max && !bbd_limit_exempt(b, uid)) {
		snprintf(why, whylen, "uid %u has %u connections from %s to "
			 "this bbd, the limit (max_conns_per_uid %u)",
			 (unsigned)uid, e->conns, e->host, max);
		atomic_fetch_add(&l->busy_conns, 1);
		rc = EBB_EBUSY;
		goto out;
	}
	e->conns++;
	*ue = e;
out:
	pthread_mutex_unlock(&l->lock);
	return rc;
}

void bbd_limit_conn_put(struct bbd *b, struct bbd_uid *ue)
{
	pthread_mutex_lock(&b->limits.lock);
	ue->conns--;
	pthread_mutex_unlock(&b->limits.lock);
}

bool bbd_limit_req_get(struct bbd *b, struct bbd_uid *ue, char *why,
		       size_t whylen)
{
	unsigned max = b->conf.max_inflight_per_uid;
	unsigned n = atomic_fetch_add(&ue->inflight, 1);

	if (max && n >= max && !bbd_limit_exempt(b, ue->uid)) {
		atomic_fetch_sub(&ue->inflight, 1);
		atomic_fetch_add(&b->limits.busy_inflight, 1);
		snprintf(why, whylen, "uid %u has %u requests from %s in flight "
			 "on this bbd, the limit (max_inflight_per_uid %u)",
			 (unsigned)ue->uid, n, ue->host, max);
		return false;
	}
	return true;
}

void bbd_limit_req_put(struct bbd_uid *ue)
{
	atomic_fetch_sub(&ue->inflight, 1);
}

void bbd_limit_status(struct bbd *b, struct proto_enc *res)
{
	struct bbd_limits *l = &b->limits;
	unsigned authed = atomic_load(&l->conns_authed);
	unsigned busy = atomic_load(&l->conns_busy);

	proto_put_cstr(res, "conns");
	proto_put_map(res, 12);
	proto_put_cstr(res, "unauth");
	proto_put_u64(res, atomic_load(&l->conns_unauth));
	proto_put_cstr(res, "authed");
	proto_put_u64(res, authed);
	proto_put_cstr(res, "busy");
	proto_put_u64(res, busy);
	proto_put_cstr(res, "idle");
	proto_put_u64(res, authed > busy ? authed - busy : 0);
	proto_put_cstr(res, "in_frame");
	proto_put_u64(res, atomic_load(&l->conns_frame));
	proto_put_cstr(res, "closed_hello");
	proto_put_u64(res, atomic_load(&l->closed_hello));
	proto_put_cstr(res, "closed_frame");
	proto_put_u64(res, atomic_load(&l->closed_frame));
	proto_put_cstr(res, "closed_idle");
	proto_put_u64(res, atomic_load(&l->closed_idle));
	proto_put_cstr(res, "shed");
	proto_put_u64(res, atomic_load(&l->shed));
	proto_put_cstr(res, "busy_conns");
	proto_put_u64(res, atomic_load(&l->busy_conns));
	proto_put_cstr(res, "busy_inflight");
	proto_put_u64(res, atomic_load(&l->busy_inflight));
	proto_put_cstr(res, "emfile");
	proto_put_u64(res, atomic_load(&l->emfile));

	proto_put_cstr(res, "limits");
	proto_put_map(res, 7);
	proto_put_cstr(res, "nofile");
	proto_put_u64(res, l->nofile);
	proto_put_cstr(res, "max_unauth_conns");
	proto_put_u64(res, l->max_unauth);
	proto_put_cstr(res, "max_conns_per_uid");
	proto_put_u64(res, b->conf.max_conns_per_uid);
	proto_put_cstr(res, "max_inflight_per_uid");
	proto_put_u64(res, b->conf.max_inflight_per_uid);
	proto_put_cstr(res, "hello_timeout_ms");
	proto_put_u64(res, b->conf.hello_timeout_ms);
	proto_put_cstr(res, "frame_timeout_ms");
	proto_put_u64(res, b->conf.frame_timeout_ms);
	proto_put_cstr(res, "idle_timeout_ms");
	proto_put_u64(res, b->conf.idle_timeout_ms);
}
