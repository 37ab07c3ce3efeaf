/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebbctl put and get: copying files and trees in and out of an instance.
 *
 * DESIGN: a large file is copied by the main thread in I/Os of one or
 * more whole rows of stripes (stripe size x members, kept within 4..16
 * MiB), so that every ebb_pwrite/ebb_pread fans out to all nodes at once
 * and the library's per-node window does the parallelism; a helper thread
 * reads the source into one buffer while the main thread writes the other
 * (a two-slot pipeline), so the copy takes about as long as its slower
 * side, not the sum of both.  Local reads are filled to the full I/O size
 * even from pipes, so remote writes stay stripe-aligned.
 *
 * Small files are bound by round trips (open, write, fsync, close), not by
 * bandwidth: with -r they go to a pool of worker threads, each with one
 * small buffer, so that many are in flight at once.  The tree walk stays
 * on the main thread and creates each directory before queueing its
 * files.  Directories are created writable and get their real mode once
 * everything is copied, so that read-only source trees can be copied.
 *
 * Each file is fsync'ed at the end by default (--no-fsync to skip):
 * burst-buffer users copy data in just before a job step reads it, and a
 * reported success should mean the data is there.  A failed copy is
 * removed rather than left truncated.  Progress goes to stderr at most 4
 * times a second: bytes, percent, MB/s, ETA.  Errors and progress share
 * one lock (struct _xfer.mu) so lines never interleave.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl_int.h"

#define _IO_MIN (4u << 20)
#define _IO_MAX (16u << 20)
#define _PROGRESS_NS 250000000LL
/* Files up to this size go to the worker pool with -r. */
#define _SMALL_MAX (1u << 20)
#define _NWORKERS 8
/* Jobs queued at most: bounds memory on huge trees. */
#define _QUEUE_MAX 256

/* One file to copy, queued for a worker. */
struct _job {
	struct _job *next;
	char *src, *dst;
	mode_t mode;
};

/* A directory whose real mode is set once the copy is over. */
struct _chmod {
	struct _chmod *next;
	char *path;
	mode_t mode;
};

/* Buffers for copying one file: two for the pipeline (main thread), or
 * one for a worker's serial copy. */
struct _io {
	char *buf[2];
	size_t size;
	int pipelined;
};

struct _xfer;
/* Copy one regular file src -> dst (put or get); 0 or -1 (printed). */
typedef int (*_file_fn)(struct _xfer *x, const char *src, const char *dst,
			mode_t mode, struct _io *io);

struct _pool {
	pthread_t tids[_NWORKERS];
	unsigned n;
	pthread_mutex_t mu;
	pthread_cond_t cv;          /* a job was queued, taken, or closing */
	struct _job *head, *tail;   /* protected by mu */
	unsigned queued;            /* protected by mu */
	int closing;                /* protected by mu */
	int failed;                 /* a job failed; protected by mu */
};

struct _xfer {
	struct ctl *c;
	ebb_t *h;
	int recursive;
	int fsync;
	int progress;               /* show the progress line */
	struct _io io;              /* the main thread's (pipelined) */
	_file_fn copy_file;         /* _put_one or _get_one */
	struct _pool *pool;         /* workers for small files, or NULL */
	struct _chmod *chmods, **chmods_tail;  /* main thread only */

	pthread_mutex_t mu;         /* the fields below and stderr */
	uint64_t total;             /* bytes expected; 0 = unknown */
	uint64_t done;              /* bytes copied so far */
	uint64_t files;             /* regular files copied */
	int64_t start_ns, last_ns;  /* CLOCK_MONOTONIC */
	size_t last_len;            /* length of the last progress line */
	int shown;                  /* a progress line was printed */
	char cur[256];              /* file being copied (for the line) */
};

static int64_t _now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The I/O size: whole rows of stripes within [_IO_MIN, _IO_MAX]. */
static size_t _io_size(ebb_t *h)
{
	uint64_t stripe = ebb_stripe_size(h), row, io;
	unsigned n = ebb_nmembers(h);

	if (stripe == 0 || stripe > _IO_MAX)
		stripe = 1u << 20;
	if (n == 0)
		n = 1;
	row = stripe * n;
	if (row > _IO_MAX)
		io = _IO_MAX / stripe * stripe;     /* part of a row */
	else
		io = (_IO_MIN + row - 1) / row * row;  /* whole rows */
	if (io > _IO_MAX)
		io = _IO_MAX / row * row;
	if (io == 0)
		io = _IO_MIN;
	return (size_t)io;
}

/* ---- progress and messages --------------------------------------------- */

static unsigned _term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return 80;
}

static void _progress_locked(struct _xfer *x, int final)
{
	char line[512], b1[32], b2[32], eta[32] = "", files[64];
	int64_t now = _now_ns();
	double secs, rate;
	size_t len, width;

	if (!x->progress)
		return;
	if (!final && now - x->last_ns < _PROGRESS_NS)
		return;
	/* A copy that was over before the first update needs no summary:
	 * small files should copy as quietly as cp copies them. */
	if (final && !x->shown)
		return;
	x->shown = 1;
	x->last_ns = now;
	secs = (double)(now - x->start_ns) / 1e9;
	rate = secs > 0 ? (double)x->done / secs : 0;
	/* Trees of small files move few bytes: files/s says more there. */
	files[0] = '\0';
	if (x->recursive)
		snprintf(files, sizeof(files), "%s%llu file%s (%.0f/s)",
			 final ? ", " : "  ", (unsigned long long)x->files,
			 x->files == 1 ? "" : "s",
			 secs > 0 ? (double)x->files / secs : 0.0);
	if (final) {
		snprintf(line, sizeof(line), "%s in %.1f s, %.1f MB/s%s",
			 ctl_size(x->done, b1, sizeof(b1)), secs, rate / 1e6,
			 files);
	} else if (x->total) {
		if (rate > 0 && x->done <= x->total)
			ctl_duration((uint64_t)((double)(x->total - x->done) /
						rate), eta, sizeof(eta));
		snprintf(line, sizeof(line),
			 "%10s / %s  %3u%%  %7.1f MB/s%s  ETA %-6s  %s",
			 ctl_size(x->done, b1, sizeof(b1)),
			 ctl_size(x->total, b2, sizeof(b2)),
			 (unsigned)(x->done > x->total ? 100 :
				    x->done * 100 / x->total), rate / 1e6,
			 files, eta[0] ? eta : "-", x->cur);
	} else {
		snprintf(line, sizeof(line), "%10s  %7.1f MB/s%s  %s",
			 ctl_size(x->done, b1, sizeof(b1)), rate / 1e6, files,
			 x->cur);
	}
	/* Longer than the terminal, \r would no longer return to the start
	 * of the line: cut it. */
	width = _term_width() - 1;
	len = strlen(line);
	if (len > width) {
		line[width] = '\0';
		len = width;
	}
	fprintf(stderr, "\r%s%*s", line,
		x->last_len > len ? (int)(x->last_len - len) : 0, "");
	x->last_len = len;
	if (final) {
		fputc('\n', stderr);
		x->last_len = 0;
	}
	fflush(stderr);
}

/* Count n more bytes copied (any thread). */
static void _account(struct _xfer *x, uint64_t n)
{
	pthread_mutex_lock(&x->mu);
	x->done += n;
	_progress_locked(x, 0);
	pthread_mutex_unlock(&x->mu);
}

static void _file_started(struct _xfer *x, const char *name)
{
	pthread_mutex_lock(&x->mu);
	snprintf(x->cur, sizeof(x->cur), "%s", name);
	pthread_mutex_unlock(&x->mu);
}

static void _file_done(struct _xfer *x)
{
	pthread_mutex_lock(&x->mu);
	x->files++;
	pthread_mutex_unlock(&x->mu);
}

/* Clear the progress line before printing an error under it. */
static void _progress_clear_locked(struct _xfer *x)
{
	if (x->progress && x->last_len) {
		fprintf(stderr, "\r%*s\r", (int)x->last_len, "");
		x->last_len = 0;
	}
}

/* "ebbctl: CMD WHAT: reason" below any progress (any thread); returns -1. */
static int _xerr(struct _xfer *x, const char *what, int errnum)
{
	pthread_mutex_lock(&x->mu);
	_progress_clear_locked(x);
	ctl_err(x->c, what, errnum);
	pthread_mutex_unlock(&x->mu);
	return -1;
}

static int _xerrf(struct _xfer *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int _xerrf(struct _xfer *x, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&x->mu);
	_progress_clear_locked(x);
	ctl_errf(x->c, "%s", msg);
	pthread_mutex_unlock(&x->mu);
	return -1;
}

/* ---- local helpers ----------------------------------------------------- */

/* Read up to n bytes, stopping only at EOF or an error. */
static ssize_t _read_full(int fd, char *b, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int _write_full(int fd, const char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sum of regular file sizes under a local path (for % and ETA). */
static uint64_t _local_size(const char *path)
{
	struct stat st;
	uint64_t sum = 0;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISREG(st.st_mode))
		return (uint64_t)st.st_size;
	if (!S_ISDIR(st.st_mode))
		return 0;
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *p;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		p = ctl_path_join(path, de->d_name);
		if (p)
			sum += _local_size(p);
		free(p);
	}
	closedir(d);
	return sum;
}

/* ---- copying one stream ------------------------------------------------ */

typedef ssize_t (*_read_fn)(void *ctx, char *buf, size_t n, off_t off);
typedef int (*_write_fn)(void *ctx, const char *buf, size_t n, off_t off);

struct _slot {
	char *buf;
	size_t len;
	off_t off;
	int full;                   /* protected by _pipe.mu */
};

struct _pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct _slot slot[2];
	size_t size;
	_read_fn rd;
	void *rctx;
	int eof;                    /* protected by mu */
	int rerr;                   /* reader's errno; protected by mu */
	int stop;                   /* the writer gave up; protected by mu */
};

/* The reader thread: fills the slots in turn until EOF, an error or stop.
 * Slots are filled and emptied in the same order, so when the writer
 * finds its next slot empty and eof or rerr set, it has had everything. */
static void *_reader(void *arg)
{
	struct _pipe *p = arg;
	off_t off = 0;
	unsigned k = 0;

	for (;;) {
		struct _slot *s = &p->slot[k];
		ssize_t r;
		int stop;

		pthread_mutex_lock(&p->mu);
		while (s->full && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		r = p->rd(p->rctx, s->buf, p->size, off);
		pthread_mutex_lock(&p->mu);
		if (r < 0) {
			p->rerr = errno ? errno : EIO;
		} else if (r == 0) {
			p->eof = 1;
		} else {
			s->len = (size_t)r;
			s->off = off;
			s->full = 1;
		}
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		if (r <= 0)
			break;
		off += r;
		k ^= 1;
	}
	return NULL;
}

/* One buffer, read then write: for workers (small files) and as the
 * fallback when no reader thread can be started. */
static int _copy_serial(struct _xfer *x, char *buf, size_t size,
			_read_fn rd, void *rctx, _write_fn wr, void *wctx,
			char *side)
{
	off_t off = 0;
	ssize_t r;

	while ((r = rd(rctx, buf, size, off)) > 0) {
		if (wr(wctx, buf, (size_t)r, off) < 0) {
			*side = 'w';
			return -1;
		}
		off += r;
		_account(x, (uint64_t)r);
	}
	if (r < 0) {
		*side = 'r';
		return -1;
	}
	return 0;
}

/* Copy all that rd gives to wr, counting progress.  0, or -1 with errno
 * and *side set to 'r' or 'w' (whose path to name in the message). */
static int _copy(struct _xfer *x, struct _io *io, _read_fn rd, void *rctx,
		 _write_fn wr, void *wctx, char *side)
{
	struct _pipe p;
	pthread_t tid;
	unsigned k = 0;
	int err = 0;

	if (!io->pipelined)
		return _copy_serial(x, io->buf[0], io->size, rd, rctx, wr,
				    wctx, side);
	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	p.slot[0].buf = io->buf[0];
	p.slot[1].buf = io->buf[1];
	p.size = io->size;
	p.rd = rd;
	p.rctx = rctx;
	if (pthread_create(&tid, NULL, _reader, &p) != 0) {
		pthread_cond_destroy(&p.cv);
		pthread_mutex_destroy(&p.mu);
		return _copy_serial(x, io->buf[0], io->size, rd, rctx, wr,
				    wctx, side);
	}
	for (;;) {
		struct _slot *s = &p.slot[k];

		pthread_mutex_lock(&p.mu);
		while (!s->full && !p.eof && !p.rerr)
			pthread_cond_wait(&p.cv, &p.mu);
		if (!s->full) {
			err = p.rerr;
			*side = 'r';
			pthread_mutex_unlock(&p.mu);
			break;
		}
		pthread_mutex_unlock(&p.mu);
		if (wr(wctx, s->buf, s->len, s->off) < 0) {
			err = errno ? errno : EIO;
			*side = 'w';
			pthread_mutex_lock(&p.mu);
			p.stop = 1;
			pthread_cond_broadcast(&p.cv);
			pthread_mutex_unlock(&p.mu);
			break;
		}
		_account(x, s->len);
		pthread_mutex_lock(&p.mu);
		s->full = 0;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		k ^= 1;
	}
	pthread_join(tid, NULL);
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.mu);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/* The four ends of a copy. */
static ssize_t _rd_local(void *ctx, char *buf, size_t n, off_t off)
{
	(void)off;                  /* streams (stdin) have no offsets */
	return _read_full(*(int *)ctx, buf, n);
}

static int _wr_local(void *ctx, const char *buf, size_t n, off_t off)
{
	(void)off;
	return _write_full(*(int *)ctx, buf, n);
}

static ssize_t _rd_remote(void *ctx, char *buf, size_t n, off_t off)
{
	return ebb_pread(ctx, buf, n, off);
}

static int _wr_remote(void *ctx, const char *buf, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t w = ebb_pwrite(ctx, buf, n, off);
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		buf += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* ---- copying one file -------------------------------------------------- */

/* Local fd -> remote path (created or truncated with mode). */
static int _put_fd(struct _xfer *x, struct _io *io, int fd,
		   const char *local, const char *remote, mode_t mode)
{
	ebb_file_t *f;
	char side = 'w';
	int ret = -1;

	_file_started(x, local);
	f = ebb_open(x->h, remote, O_WRONLY | O_CREAT | O_TRUNC, mode & 07777);
	if (!f)
		return _xerr(x, remote, errno);
	if (_copy(x, io, _rd_local, &fd, _wr_remote, f, &side) < 0) {
		_xerr(x, side == 'r' ? local : remote, errno);
		goto out;
	}
	if (x->fsync && ebb_fsync(f) < 0) {
		_xerr(x, remote, errno);
		goto out;
	}
	ret = 0;
out:
	/* close publishes the size and reports a pending write error: its
	 * failure is a failed copy even when the loop went well. */
	if (ebb_close(f) < 0 && ret == 0)
		ret = _xerr(x, remote, errno);
	/* A partial copy is of no use and holds on to capacity, which is
	 * often why the copy failed: remove it. */
	if (ret < 0)
		ebb_unlink(x->h, remote);
	else
		_file_done(x);
	return ret;
}

static int _put_one(struct _xfer *x, const char *local, const char *remote,
		    mode_t mode, struct _io *io)
{
	int fd, ret;

	fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return _xerr(x, local, errno);
	ret = _put_fd(x, io, fd, local, remote, mode);
	close(fd);
	return ret;
}

/* Remote path -> local fd. */
static int _get_fd(struct _xfer *x, struct _io *io, const char *remote,
		   int fd, const char *local)
{
	ebb_file_t *f;
	char side = 'r';
	int ret = -1;

	_file_started(x, remote);
	f = ebb_open(x->h, remote, O_RDONLY, 0);
	if (!f)
		return _xerr(x, remote, errno);
	if (_copy(x, io, _rd_remote, f, _wr_local, &fd, &side) < 0) {
		_xerr(x, side == 'r' ? remote : local, errno);
		goto out;
	}
	/* fsync of a pipe or terminal is EINVAL: nothing to make durable. */
	if (x->fsync && fsync(fd) < 0 && errno != EINVAL && errno != EROFS) {
		_xerr(x, local, errno);
		goto out;
	}
	ret = 0;
out:
	if (ebb_close(f) < 0 && ret == 0)
		ret = _xerr(x, remote, errno);
	if (ret == 0)
		_file_done(x);
	return ret;
}

static int _get_one(struct _xfer *x, const char *remote, const char *local,
		    mode_t mode, struct _io *io)
{
	int fd, ret;

	fd = open(local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		  mode & 07777);
	if (fd < 0)
		return _xerr(x, local, errno);
	ret = _get_fd(x, io, remote, fd, local);
	if (close(fd) < 0 && ret == 0)
		ret = _xerr(x, local, errno);
	if (ret < 0)
		unlink(local);      /* as for put: no partial copies */
	return ret;
}

/* ---- the worker pool (small files with -r) ----------------------------- */

static void _job_free(struct _job *j)
{
	free(j->src);
	free(j->dst);
	free(j);
}

static void *_worker(void *arg)
{
	struct _xfer *x = arg;
	struct _pool *pool = x->pool;
	struct _io io = {.size = _SMALL_MAX};

	io.buf[0] = malloc(_SMALL_MAX);
	for (;;) {
		struct _job *j;
		int r;

		pthread_mutex_lock(&pool->mu);
		while (!pool->head && !pool->closing)
			pthread_cond_wait(&pool->cv, &pool->mu);
		j = pool->head;
		if (j) {
			pool->head = j->next;
			if (!pool->head)
				pool->tail = NULL;
			pool->queued--;
			pthread_cond_broadcast(&pool->cv);
		}
		pthread_mutex_unlock(&pool->mu);
		if (!j)
			break;          /* closing and drained */
		if (io.buf[0])
			r = x->copy_file(x, j->src, j->dst, j->mode, &io);
		else
			r = _xerr(x, j->src, ENOMEM);
		if (r < 0) {
			pthread_mutex_lock(&pool->mu);
			pool->failed = 1;
			pthread_mutex_unlock(&pool->mu);
		}
		_job_free(j);
	}
	free(io.buf[0]);
	return NULL;
}

/* Start the pool; without it (no threads) files are copied in line. */
static void _pool_start(struct _xfer *x)
{
	struct _pool *pool = calloc(1, sizeof(*pool));

	if (!pool)
		return;
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->cv, NULL);
	x->pool = pool;
	for (; pool->n < _NWORKERS; pool->n++)
		if (pthread_create(&pool->tids[pool->n], NULL, _worker, x))
			break;
	if (pool->n == 0) {
		pthread_cond_destroy(&pool->cv);
		pthread_mutex_destroy(&pool->mu);
		free(pool);
		x->pool = NULL;
	}
}

/* Wait for every queued file; returns -1 if any of them failed. */
static int _pool_stop(struct _xfer *x)
{
	struct _pool *pool = x->pool;
	int failed;

	if (!pool)
		return 0;
	pthread_mutex_lock(&pool->mu);
	pool->closing = 1;
	pthread_cond_broadcast(&pool->cv);
	pthread_mutex_unlock(&pool->mu);
	for (unsigned k = 0; k < pool->n; k++)
		pthread_join(pool->tids[k], NULL);
	failed = pool->failed;
	pthread_cond_destroy(&pool->cv);
	pthread_mutex_destroy(&pool->mu);
	free(pool);
	x->pool = NULL;
	return failed ? -1 : 0;
}

/* Copy a regular file: queued if small and there is a pool, else now. */
static int _file(struct _xfer *x, const char *src, const char *dst,
		 mode_t mode, uint64_t size)
{
	struct _pool *pool = x->pool;
	struct _job *j;

	if (!pool || size > _SMALL_MAX)
		return x->copy_file(x, src, dst, mode, &x->io);
	j = calloc(1, sizeof(*j));
	if (j) {
		j->src = strdup(src);
		j->dst = strdup(dst);
		j->mode = mode;
	}
	if (!j || !j->src || !j->dst) {
		if (j)
			_job_free(j);
		return x->copy_file(x, src, dst, mode, &x->io);
	}
	pthread_mutex_lock(&pool->mu);
	while (pool->queued >= _QUEUE_MAX)
		pthread_cond_wait(&pool->cv, &pool->mu);
	if (pool->tail)
		pool->tail->next = j;
	else
		pool->head = j;
	pool->tail = j;
	pool->queued++;
	pthread_cond_broadcast(&pool->cv);
	pthread_mutex_unlock(&pool->mu);
	return 0;
}

/* Remember to give a directory its real mode at the end (in the order
 * seen, children before parents: a parent without x would stop us). */
static void _defer_chmod(struct _xfer *x, const char *path, mode_t mode)
{
	struct _chmod *m = calloc(1, sizeof(*m));

	if (!m || !(m->path = strdup(path))) {
		free(m);
		_xerr(x, path, ENOMEM);
		return;
	}
	m->mode = mode;
	*x->chmods_tail = m;
	x->chmods_tail = &m->next;
}

/* Wait for the pool, then apply the deferred modes; -1 if anything
 * failed.  remote says on which side the directories are. */
static int _finish(struct _xfer *x, int ret, int remote)
{
	struct _chmod *m, *next;

	if (_pool_stop(x) < 0)
		ret = -1;
	for (m = x->chmods; m; m = next) {
		next = m->next;
		if ((remote ? ebb_chmod(x->h, m->path, m->mode)
			    : chmod(m->path, m->mode)) < 0)
			ret = _xerr(x, m->path, errno);
		free(m->path);
		free(m);
	}
	x->chmods = NULL;
	x->chmods_tail = &x->chmods;
	return ret;
}

/* ---- trees --------------------------------------------------------------- */

static int _put_tree(struct _xfer *x, const char *local, const char *remote)
{
	struct stat st;
	struct ebb_stat rst;
	DIR *d;
	struct dirent *de;
	int ret = 0;

	if (lstat(local, &st) < 0)
		return _xerr(x, local, errno);
	if (S_ISREG(st.st_mode))
		return _file(x, local, remote, st.st_mode,
			     (uint64_t)st.st_size);
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(local, target, sizeof(target) - 1);
		if (n < 0)
			return _xerr(x, local, errno);
		target[n] = '\0';
		/* Replace what is there, as cp does for a link. */
		if (ebb_symlink(x->h, target, remote) < 0 &&
		    (errno != EEXIST || ebb_unlink(x->h, remote) < 0 ||
		     ebb_symlink(x->h, target, remote) < 0))
			return _xerr(x, remote, errno);
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return _xerrf(x, "%s: skipping %s", local,
			      ctl_type_name(st.st_mode));
	if (ebb_mkdir(x->h, remote, (st.st_mode & 07777) | 0700) < 0) {
		if (errno != EEXIST)
			return _xerr(x, remote, errno);
		if (ebb_stat(x->h, remote, &rst) < 0)
			return _xerr(x, remote, errno);
		if (!S_ISDIR(rst.mode))
			return _xerr(x, remote, ENOTDIR);
	}
	d = opendir(local);
	if (!d)
		return _xerr(x, local, errno);
	while ((errno = 0, de = readdir(d))) {
		char *lp, *rp;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		lp = ctl_path_join(local, de->d_name);
		rp = ctl_path_join(remote, de->d_name);
		if (!lp || !rp)
			ret = _xerr(x, local, ENOMEM);
		else if (_put_tree(x, lp, rp) < 0)
			ret = -1;
		free(lp);
		free(rp);
	}
	if (errno)
		ret = _xerr(x, local, errno);
	closedir(d);
	if ((st.st_mode & 0700) != 0700)
		_defer_chmod(x, remote, st.st_mode & 07777);
	return ret;
}

static int _get_tree(struct _xfer *x, const char *remote, const char *local,
		     const struct ebb_stat *rst)
{
	struct ctl_ent *v = NULL;
	struct stat st;
	size_t n = 0;
	int ret = 0;

	if (S_ISREG(rst->mode))
		return _file(x, remote, local, rst->mode, rst->size);
	if (S_ISLNK(rst->mode)) {
		char target[4096];
		ssize_t tl = ebb_readlink(x->h, remote, target,
					  sizeof(target) - 1);
		if (tl < 0)
			return _xerr(x, remote, errno);
		target[tl] = '\0';
		if (symlink(target, local) < 0 &&
		    (errno != EEXIST || unlink(local) < 0 ||
		     symlink(target, local) < 0))
			return _xerr(x, local, errno);
		return 0;
	}
	if (!S_ISDIR(rst->mode))
		return _xerrf(x, "%s: skipping %s", remote,
			      ctl_type_name(rst->mode));
	if (mkdir(local, (rst->mode & 07777) | 0700) < 0) {
		if (errno != EEXIST)
			return _xerr(x, local, errno);
		if (stat(local, &st) < 0)
			return _xerr(x, local, errno);
		if (!S_ISDIR(st.st_mode))
			return _xerr(x, local, ENOTDIR);
	}
	if (ctl_read_dir(x->h, remote, &v, &n) < 0)
		return _xerr(x, remote, errno);
	for (size_t i = 0; i < n; i++) {
		char *lp = ctl_path_join(local, v[i].name);
		if (!lp)
			ret = _xerr(x, local, ENOMEM);
		else if (_get_tree(x, v[i].path, lp, &v[i].st) < 0)
			ret = -1;
		free(lp);
	}
	ctl_ents_free(v, n);
	if ((rst->mode & 0700) != 0700)
		_defer_chmod(x, local, rst->mode & 07777 & ~x->c->umask);
	return ret;
}

/* ---- the commands -------------------------------------------------------- */

/* Where a copy goes: into `dst` under src's name if dst is a directory
 * (or ends in '/'), else dst itself.  Caller frees. */
static char *_target(const char *src, const char *dst, int dst_is_dir)
{
	char base[NAME_MAX + 1];

	if (dst_is_dir || dst[strlen(dst) - 1] == '/')
		return ctl_path_join(dst, ctl_basename(src, base,
						       sizeof(base)));
	return strdup(dst);
}

enum {
	_OPT_PROGRESS = CTL_OPT_CMD,
	_OPT_NO_PROGRESS,
	_OPT_NO_FSYNC,
};

static const struct option _xfer_longopts[] = {
	{"recursive", no_argument, NULL, 'r'},
	{"progress", no_argument, NULL, _OPT_PROGRESS},
	{"no-progress", no_argument, NULL, _OPT_NO_PROGRESS},
	{"no-fsync", no_argument, NULL, _OPT_NO_FSYNC},
	{NULL, 0, NULL, 0},
};

/* Parse put/get options; returns -1 to go on, else an exit status. */
static int _xfer_opts(struct ctl *c, struct _xfer *x, int argc, char **argv)
{
	struct ctl_opts o;
	int opt, progress = -1;

	x->c = c;
	x->fsync = 1;
	ctl_opt_init(&o, argc, argv, "rR", _xfer_longopts);
	while ((opt = ctl_opt_next(c, &o)) != -1) {
		switch (opt) {
		case 'r': case 'R': x->recursive = 1; break;
		case _OPT_PROGRESS: progress = 1; break;
		case _OPT_NO_PROGRESS: progress = 0; break;
		case _OPT_NO_FSYNC: x->fsync = 0; break;
		}
	}
	if (o.stop)
		return o.status;
	if (argc - optind != 2)
		return ctl_usage(c, argc - optind < 2 ? "expected %s"
				 : "expected only %s", c->cmd->fn == ctl_cmd_put
				 ? "LOCAL and REMOTE" : "REMOTE and LOCAL");
	if (!argv[optind][0] || !argv[optind + 1][0])
		return ctl_usage(c, "empty path");
	/* --progress wins; else a terminal gets it unless -q or --json. */
	x->progress = progress >= 0 ? progress
		: isatty(STDERR_FILENO) && !c->quiet && !c->json;
	return -1;
}

/* Attach and allocate; returns -1 to go on, else an exit status. */
static int _xfer_begin(struct _xfer *x)
{
	x->h = ctl_attach(x->c);
	if (!x->h)
		return ctl_fail_status(x->c);
	x->io.size = _io_size(x->h);
	x->io.pipelined = 1;
	x->io.buf[0] = malloc(x->io.size);
	x->io.buf[1] = malloc(x->io.size);
	if (!x->io.buf[0] || !x->io.buf[1]) {
		free(x->io.buf[0]);
		free(x->io.buf[1]);
		ctl_detach(x->c, x->h);
		return ctl_err(x->c, NULL, ENOMEM);
	}
	pthread_mutex_init(&x->mu, NULL);
	x->chmods_tail = &x->chmods;
	x->start_ns = x->last_ns = _now_ns();
	return -1;
}

/* The summary line or JSON object, then free everything. */
static int _xfer_end(struct _xfer *x, int ret)
{
	pthread_mutex_lock(&x->mu);
	if (ret == 0)
		_progress_locked(x, 1);
	else
		_progress_clear_locked(x);
	pthread_mutex_unlock(&x->mu);
	if (x->c->json) {
		struct ctl_json j;
		double secs = (double)(_now_ns() - x->start_ns) / 1e9;
		ctl_json_init(&j, stdout);
		ctl_json_obj_begin(&j);
		ctl_json_kbool(&j, "ok", ret == 0);
		ctl_json_ku64(&j, "bytes", x->done);
		ctl_json_ku64(&j, "files", x->files);
		ctl_json_ku64(&j, "ms", (uint64_t)(secs * 1000));
		ctl_json_obj_end(&j);
		ctl_json_finish(&j);
	}
	free(x->io.buf[0]);
	free(x->io.buf[1]);
	pthread_mutex_destroy(&x->mu);
	ctl_detach(x->c, x->h);
	return ret == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

int ctl_cmd_put(struct ctl *c, int argc, char **argv)
{
	struct _xfer x;
	struct stat st;
	struct ebb_stat rst;
	const char *local, *remote;
	char *dst = NULL;
	int r, stdin_src, is_dir;

	memset(&x, 0, sizeof(x));
	x.copy_file = _put_one;
	r = _xfer_opts(c, &x, argc, argv);
	if (r >= 0)
		return r;
	local = argv[optind];
	remote = argv[optind + 1];
	stdin_src = strcmp(local, "-") == 0;
	if (stdin_src ? fstat(STDIN_FILENO, &st) : stat(local, &st))
		return ctl_err(c, local, errno);
	if (S_ISDIR(st.st_mode) && !stdin_src && !x.recursive) {
		ctl_errf(c, "%s: is a directory (use -r)", local);
		return CTL_EXIT_FAIL;
	}
	if ((r = _xfer_begin(&x)) >= 0)
		return r;
	is_dir = ebb_stat(x.h, remote, &rst) == 0 && S_ISDIR(rst.mode);
	if (stdin_src && (is_dir || remote[strlen(remote) - 1] == '/')) {
		ctl_errf(c, "%s: is a directory: name the file to write "
			 "standard input to", remote);
		r = -1;
		goto out;
	}
	dst = _target(local, remote, is_dir);
	if (!dst) {
		r = _xerr(&x, NULL, ENOMEM);
		goto out;
	}
	if (x.progress)
		x.total = stdin_src ? (S_ISREG(st.st_mode) ?
				       (uint64_t)st.st_size : 0)
			: _local_size(local);
	if (stdin_src) {
		r = _put_fd(&x, &x.io, STDIN_FILENO, "standard input", dst,
			    0666 & ~c->umask);
	} else if (x.recursive && S_ISDIR(st.st_mode)) {
		_pool_start(&x);
		r = _finish(&x, _put_tree(&x, local, dst), 1);
	} else {
		r = _put_one(&x, local, dst, st.st_mode, &x.io);
	}
out:
	free(dst);
	return _xfer_end(&x, r);
}

int ctl_cmd_get(struct ctl *c, int argc, char **argv)
{
	struct _xfer x;
	struct ebb_stat rst;
	struct stat st;
	const char *local, *remote;
	char *dst = NULL;
	int r, stdout_dst;

	memset(&x, 0, sizeof(x));
	x.copy_file = _get_one;
	r = _xfer_opts(c, &x, argc, argv);
	if (r >= 0)
		return r;
	remote = argv[optind];
	local = argv[optind + 1];
	stdout_dst = strcmp(local, "-") == 0;
	if (stdout_dst && c->json)
		return ctl_usage(c, "--json and LOCAL '-' both want standard "
				 "output");
	if ((r = _xfer_begin(&x)) >= 0)
		return r;
	if (ebb_stat(x.h, remote, &rst) < 0) {
		r = _xerr(&x, remote, errno);
		goto out;
	}
	if (S_ISDIR(rst.mode) && (!x.recursive || stdout_dst)) {
		r = _xerrf(&x, "%s: is a directory%s", remote,
			   stdout_dst ? "" : " (use -r)");
		goto out;
	}
	if (stdout_dst) {
		x.total = rst.size;
		fflush(stdout);
		r = _get_fd(&x, &x.io, remote, STDOUT_FILENO,
			    "standard output");
		goto out;
	}
	dst = _target(remote, local, stat(local, &st) == 0 &&
		      S_ISDIR(st.st_mode));
	if (!dst) {
		r = _xerr(&x, NULL, ENOMEM);
		goto out;
	}
	if (S_ISDIR(rst.mode)) {
		/* A remote total would cost a second walk of the tree: the
		 * line shows bytes, rate and files only. */
		_pool_start(&x);
		r = _finish(&x, _get_tree(&x, remote, dst, &rst), 0);
	} else {
		x.total = rst.size;
		r = _get_one(&x, remote, dst, rst.mode, &x.io);
	}
out:
	free(dst);
	return _xfer_end(&x, r);
}
