/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd_buf: a cache of the big buffers WRITE payloads are read into.
 *
 * DESIGN: a WRITE's payload (64 KiB to 16 MiB) is read from the socket
 * straight into one buffer of its size (bbd_net.c, PAYLOAD state), which
 * lives until the request is done.  With malloc/free per request, glibc
 * hands such sizes to mmap or trims them off a thread arena's top as soon
 * as they are freed, so the next buffer is fresh memory again: a page
 * fault and a zeroed page for every 4 KiB written.  Measured here
 * (bench/RESULTS.md 2026-12-05): 1 GiB written through one bbd took 500
 * to 7,900 faults in bbd when the memory stayed, 100,000 when it did not,
 * and bbd's system time went from 0.35 to 1.66 CPU-s (1,100 -> 500 MB/s).
 * In a VM whose free pages go back to the host, a fresh page costs even
 * more.  So freed payload buffers are kept, by size class (powers of two),
 * and handed out again last-in first-out (the most recently used is the
 * one still in the CPU's caches and the TLB).  At most BBD_BUF_CACHE_MAX
 * bytes stay mapped while idle; a buffer that does not fit is unmapped.
 *
 * The buffers are mmap'ed by us rather than malloc'ed, so that the cache,
 * not glibc's heuristics, decides what is kept, and so that they are page
 * aligned.  Any thread may get or put (a put happens where a request is
 * freed); one mutex, taken once per payload of at least 64 KiB, is cheap.
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

#include "bbd_int.h"

#define BUF_MIN_SHIFT 16 /* 64 KiB: BBD_CONN_DIRECT_MIN */
#define BUF_MAX_SHIFT 24 /* 16 MiB: PROTO_MAX_PAYLOAD */
#define BUF_CLASSES (BUF_MAX_SHIFT - BUF_MIN_SHIFT + 1)
#define BUF_SLOTS 64     /* cached buffers per class, at most */

static struct {
	pthread_mutex_t lock;
	void *free[BUF_CLASSES][BUF_SLOTS];
	unsigned nfree[BUF_CLASSES];
	size_t cached;         /* bytes in the free lists */
	uint64_t maps, reuses; /* for NODE_STATUS */
} _cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The class of a len-byte buffer, or -1 if it is not cached (too big). */
static int _class(size_t len)
{
	int k = 0;

	while (k < BUF_CLASSES && ((size_t)1 << (BUF_MIN_SHIFT + k)) < len)
		k++;
	return k < BUF_CLASSES ? k : -1;
}

static size_t _class_size(int k)
{
	return (size_t)1 << (BUF_MIN_SHIFT + k);
}

void *bbd_buf_get(size_t len)
{
	int k = _class(len);
	size_t size = k >= 0 ? _class_size(k) : len;
	void *p = NULL;

	if (len == 0)
		return NULL;
	if (k >= 0) {
		pthread_mutex_lock(&_cache.lock);
		if (_cache.nfree[k]) {
			p = _cache.free[k][--_cache.nfree[k]];
			_cache.cached -= size;
			_cache.reuses++;
		} else {
			_cache.maps++;
		}
		pthread_mutex_unlock(&_cache.lock);
		if (p)
			return p;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void bbd_buf_put(void *p, size_t len)
{
	int k = _class(len);
	size_t size = k >= 0 ? _class_size(k) : len;

	if (!p)
		return;
	if (k >= 0) {
		pthread_mutex_lock(&_cache.lock);
		if (_cache.nfree[k] < BUF_SLOTS &&
		    _cache.cached + size <= BBD_BUF_CACHE_MAX) {
			_cache.free[k][_cache.nfree[k]++] = p;
			_cache.cached += size;
			p = NULL;
		}
		pthread_mutex_unlock(&_cache.lock);
	}
	if (p)
		munmap(p, size);
}

void bbd_buf_stats(uint64_t *cached, uint64_t *maps, uint64_t *reuses)
{
	pthread_mutex_lock(&_cache.lock);
	*cached = _cache.cached;
	*maps = _cache.maps;
	*reuses = _cache.reuses;
	pthread_mutex_unlock(&_cache.lock);
}

void bbd_buf_fini(void)
{
	pthread_mutex_lock(&_cache.lock);
	for (int k = 0; k < BUF_CLASSES; k++) {
		while (_cache.nfree[k])
			munmap(_cache.free[k][--_cache.nfree[k]],
			       _class_size(k));
	}
	_cache.cached = 0;
	pthread_mutex_unlock(&_cache.lock);
}
