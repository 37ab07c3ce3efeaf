/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd's I/O pool: threads that run the blocking disk work of requests.
 *
 * DESIGN: one FIFO (mutex + condition variable) feeds N threads (Redis
 * bio.c, memcached's io queues).  A thread runs the request's handler,
 * which may pwrite, fsync, mdb_env_sync or talk to munged, then hands the
 * request back to its connection's worker with bbd_req_done(); the worker
 * writes the reply.  An I/O thread never touches a connection.  At stop the
 * queue is drained before the threads exit, so every accepted request is
 * carried out.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>

#include "bbd_int.h"
#include "log.h"

struct bbd_iopool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct bbd_req *head, *tail; /* protected by lock */
	bool stop;                   /* protected by lock */
	unsigned nthreads;
	pthread_t *threads;
};

static void *_io_main(void *arg)
{
	struct bbd_iopool *p = arg;
	struct bbd_req *r;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		r = p->head;
		if (r) {
			p->head = r->next;
			if (!p->head)
				p->tail = NULL;
		}
		pthread_mutex_unlock(&p->lock);
		if (!r)
			break; /* stopping and the queue is empty */
		r->next = NULL;
		r->io_fn(r);
		bbd_req_done(r);
	}
	return NULL;
}

ebb_err bbd_io_start(struct bbd *b, unsigned nthreads)
{
	struct bbd_iopool *p = calloc(1, sizeof(*p));

	if (!p)
		return EBB_ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->threads = calloc(nthreads, sizeof(*p->threads));
	if (!p->threads) {
		free(p);
		return EBB_ENOMEM;
	}
	b->io = p;
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, _io_main, p) != 0) {
			log_error("I/O thread %u: pthread_create failed", i);
			return EBB_ENOMEM;
		}
		p->nthreads++;
	}
	return EBB_OK;
}

void bbd_io_submit(struct bbd *b, struct bbd_req *r, bbd_handler_fn fn)
{
	struct bbd_iopool *p = b->io;

	r->io_fn = fn;
	r->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = r;
	else
		p->head = r;
	p->tail = r;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void bbd_io_stop(struct bbd *b)
{
	struct bbd_iopool *p = b->io;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	free(p);
	b->io = NULL;
}
