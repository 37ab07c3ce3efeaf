/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd data: the sparse object files of an instance and the data handlers.
 *
 * DESIGN: each inode with stripes on this node has one sparse file,
 * data/<ino as 16 hex digits>, every byte at its own offset, so a stripe
 * is one pwrite/pread.  These handlers block and always run on I/O
 * threads.  Files are opened relative to the instance's data directory fd,
 * so a request still in flight when its instance is destroyed (the
 * directory renamed to trash) can never touch a new instance of the same
 * name.  A small per-instance cache keeps recently used files open.
 *
 * Capacity: inst->used is the sum of st_blocks * 512 over the object files,
 * scanned at open and kept up to date with the fstat difference after each
 * write, truncate and remove.  A WRITE first reserves its length against
 * the capacity (so concurrent writers cannot overshoot it together) and
 * gives the reservation back once the real block count is known; an
 * overwrite of allocated blocks may therefore be refused a little early
 * when an instance is within one write of full: documented, conservative.
 *
 * READ replies of BBD_CONN_DIRECT_MIN bytes or more are not copied: the
 * part inside the object file becomes a sendfile segment on a dup of the
 * file's fd (the worker's socket write sends it from the page cache), the
 * part past the end refers to a static block of zeros.  The length is fixed
 * here, from fstat.  A REMOVE meanwhile changes nothing (the dup keeps
 * the unlinked file open), but a TRUNCATE may shrink the file before the
 * worker has sent it all: sendfile then returns 0, libevent reports EOF on
 * the write side and the worker closes the connection (bbd_net.c), so a
 * peer never gets a frame shorter than its prefix says; libebb fails the
 * requests of a closed connection.  Zero-padding the rest instead would
 * need the worker to know where the segment stopped, which libevent does
 * not tell.  The I/O thread asks the kernel to read the range in
 * (WILLNEED), so the worker's sendfile mostly finds it cached; when it
 * does not, the worker waits for the disk, which the pread it replaces
 * did on an I/O thread.
 *
 * READs of at most BBD_READ_INLINE_MAX bytes are first tried on the worker
 * (bbd_read_try_inline): if the object is already open and preadv2 with
 * RWF_NOWAIT finds every byte in the page cache, the reply goes out without
 * the hop to an I/O thread and back (a mutex, a wake-up, an eventfd write:
 * on a loaded host more than the read itself); otherwise the READ goes to
 * the pool as before, so the worker never waits for the disk.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <event2/buffer.h>

#include "bbd_int.h"
#include "log.h"

#define OBJ_BUCKETS 512
/* Bytes past a big READ that bbd asks the kernel to read ahead. */
#define READ_AHEAD (8u * 1024 * 1024)

struct bbd_obj {
	uint64_t ino;
	int fd;
	unsigned refs;            /* protected by inst->obj_lock */
	bool intab;               /* protected by inst->obj_lock */
	pthread_mutex_t lock;     /* protects blocks and removed */
	/* Serialises WRITEs to this file.  The kernel does too (ext4 holds
	 * the inode lock across a buffered write), but by spinning on it:
	 * with 8 I/O threads on 2 cores that was 15% of bbd's CPU in a
	 * streaming write.  A pthread mutex sleeps instead. */
	pthread_mutex_t wlock;
	uint64_t blocks;          /* st_blocks already counted in used */
	uint64_t ra_end;          /* read ahead up to here; under lock */
	bool removed;
	struct bbd_obj *hnext;
	struct bbd_obj *lprev, *lnext;
};

void bbd_obj_name(char *buf, size_t size, uint64_t ino)
{
	snprintf(buf, size, "%016" PRIx64, ino);
}

static void _obj_close(struct bbd_obj *o)
{
	close(o->fd);
	pthread_mutex_destroy(&o->lock);
	pthread_mutex_destroy(&o->wlock);
	free(o);
}

static void _lru_unlink_locked(struct bbd_inst *inst, struct bbd_obj *o)
{
	if (o->lprev)
		o->lprev->lnext = o->lnext;
	else
		inst->lru_head = o->lnext;
	if (o->lnext)
		o->lnext->lprev = o->lprev;
	else
		inst->lru_tail = o->lprev;
	o->lprev = o->lnext = NULL;
}

static void _lru_front_locked(struct bbd_inst *inst, struct bbd_obj *o)
{
	o->lnext = inst->lru_head;
	o->lprev = NULL;
	if (inst->lru_head)
		inst->lru_head->lprev = o;
	inst->lru_head = o;
	if (!inst->lru_tail)
		inst->lru_tail = o;
}

/* Take o out of the table; the last reference closes it. */
static void _tab_remove_locked(struct bbd_inst *inst, struct bbd_obj *o)
{
	struct bbd_obj **pp = &inst->obj_tab[o->ino % inst->obj_tab_size];

	while (*pp && *pp != o)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = o->hnext;
	_lru_unlink_locked(inst, o);
	o->intab = false;
	inst->obj_count--;
}

static struct bbd_obj *_tab_find_locked(struct bbd_inst *inst, uint64_t ino)
{
	struct bbd_obj *o;

	if (!inst->obj_tab)
		return NULL;
	for (o = inst->obj_tab[ino % inst->obj_tab_size]; o; o = o->hnext)
		if (o->ino == ino)
			return o;
	return NULL;
}

static void _evict_locked(struct bbd_inst *inst)
{
	struct bbd_obj *o = inst->lru_tail, *prev;

	while (o && inst->obj_count > BBD_FD_CACHE_MAX) {
		prev = o->lprev;
		if (o->refs == 0) {
			_tab_remove_locked(inst, o);
			_obj_close(o);
		}
		o = prev;
	}
}

/* Find or open the object of ino.  With create, the file is made if
 * absent; without, a missing file gives EBB_ENOENT.  Release with
 * _obj_put().  I/O threads only (opens a file). */
static ebb_err _obj_get(struct bbd_inst *inst, uint64_t ino, bool create,
			struct bbd_obj **out)
{
	char name[BBD_OBJ_NAME_MAX];
	struct bbd_obj *o;
	struct stat st;
	ebb_err rc = EBB_OK;
	int fd;

	pthread_mutex_lock(&inst->obj_lock);
	if (!inst->obj_tab) {
		inst->obj_tab = calloc(OBJ_BUCKETS, sizeof(*inst->obj_tab));
		if (!inst->obj_tab) {
			rc = EBB_ENOMEM;
			goto out;
		}
		inst->obj_tab_size = OBJ_BUCKETS;
	}
	o = _tab_find_locked(inst, ino);
	if (o) {
		o->refs++;
		_lru_unlink_locked(inst, o);
		_lru_front_locked(inst, o);
		*out = o;
		goto out;
	}
	bbd_obj_name(name, sizeof(name), ino);
	fd = openat(inst->datafd, name,
		    O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd < 0) {
		rc = ebb_err_from_errno(errno);
		goto out;
	}
	if (fstat(fd, &st) != 0 || !(o = calloc(1, sizeof(*o)))) {
		rc = EBB_EIO;
		close(fd);
		goto out;
	}
	o->ino = ino;
	o->fd = fd;
	o->refs = 1;
	o->intab = true;
	o->blocks = (uint64_t)st.st_blocks;
	pthread_mutex_init(&o->lock, NULL);
	pthread_mutex_init(&o->wlock, NULL);
	o->hnext = inst->obj_tab[ino % inst->obj_tab_size];
	inst->obj_tab[ino % inst->obj_tab_size] = o;
	_lru_front_locked(inst, o);
	inst->obj_count++;
	_evict_locked(inst);
	*out = o;
out:
	pthread_mutex_unlock(&inst->obj_lock);
	return rc;
}

static void _obj_put(struct bbd_inst *inst, struct bbd_obj *o)
{
	bool close_it;

	pthread_mutex_lock(&inst->obj_lock);
	close_it = --o->refs == 0 && !o->intab;
	pthread_mutex_unlock(&inst->obj_lock);
	if (close_it)
		_obj_close(o);
}

/* Bring inst->used up to date with o's block count. */
static void _obj_account(struct bbd_inst *inst, struct bbd_obj *o)
{
	struct stat st;

	pthread_mutex_lock(&o->lock);
	if (!o->removed && fstat(o->fd, &st) == 0) {
		int64_t delta = (int64_t)st.st_blocks - (int64_t)o->blocks;

		o->blocks = (uint64_t)st.st_blocks;
		/* unsigned wrap-around makes this a subtraction if negative */
		atomic_fetch_add(&inst->used, (uint64_t)(delta * 512));
	}
	pthread_mutex_unlock(&o->lock);
}

ebb_err bbd_data_wget(struct bbd_inst *inst, uint64_t ino,
		      struct bbd_obj **o, int *fd)
{
	ebb_err e = _obj_get(inst, ino, true, o);

	*fd = e == EBB_OK ? (*o)->fd : -1;
	return e;
}

void bbd_data_waccount(struct bbd_inst *inst, struct bbd_obj *o)
{
	_obj_account(inst, o);
}

void bbd_data_wput(struct bbd_inst *inst, struct bbd_obj *o)
{
	_obj_put(inst, o);
}

ebb_err bbd_data_scan(struct bbd_inst *inst)
{
	struct dirent *de;
	struct stat st;
	uint64_t used = 0;
	int fd = dup(inst->datafd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return ebb_err_from_errno(errno);
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(inst->datafd, de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0)
			used += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	atomic_store(&inst->used, used);
	return EBB_OK;
}

void bbd_data_close_all(struct bbd_inst *inst)
{
	struct bbd_obj *o, *next;

	for (o = inst->lru_head; o; o = next) {
		next = o->lnext;
		_obj_close(o);
	}
	inst->lru_head = inst->lru_tail = NULL;
	free(inst->obj_tab);
	inst->obj_tab = NULL;
	inst->obj_count = 0;
}

/* ---- handlers ------------------------------------------------------------- */

static ebb_err _io_fail(struct bbd_req *r, int errnum, const char *what,
			uint64_t ino)
{
	ebb_err e = ebb_err_from_errno(errnum);

	if (e != EBB_ENOSPC)
		log_error("instance %s: %s of object %016" PRIx64 ": %s",
			  r->inst->id, what, ino, strerror(errnum));
	return bbd_req_fail(r, e, "%s: %s", what, strerror(errnum));
}

ebb_err bbd_op_write(struct bbd_req *r)
{
	struct bbd_inst *inst = r->inst;
	uint64_t ino = 0, off = 0, len, prev, done = 0;
	struct evbuffer_iovec vec[64];
	struct bbd_obj *o = NULL;
	bool reserved = false;
	ebb_err e;

	proto_get_u64(&r->dec, &ino);
	proto_get_u64(&r->dec, &off);
	if (bbd_req_args(r))
		goto out;
	len = r->in ? evbuffer_get_length(r->in) : 0;
	if (ino == 0) {
		bbd_req_fail(r, EBB_EINVAL, "inode 0");
		goto out;
	}
	if (off > BBD_MAX_FILE_SIZE || len > BBD_MAX_FILE_SIZE - off) {
		bbd_req_fail(r, EBB_EFBIG, "write past 2^44 bytes");
		goto out;
	}
	prev = atomic_fetch_add(&inst->used, len);
	reserved = true;
	if (prev + len > inst->capacity) {
		bbd_req_fail(r, EBB_ENOSPC,
			     "instance %s: %" PRIu64 " of %" PRIu64
			     " bytes used on this node",
			     inst->id, prev, inst->capacity);
		goto out;
	}
	e = _obj_get(inst, ino, true, &o);
	if (e != EBB_OK) {
		bbd_req_fail(r, e, "open object: %s", ebb_strerror(e));
		goto out;
	}
	/* pwritev the payload's chains in place, no copy (one chain when
	 * bbd_net.c read it straight from the socket). */
	pthread_mutex_lock(&o->wlock);
	while (done < len) {
		int n = evbuffer_peek(r->in, -1, NULL, vec, 64);
		ssize_t w;

		if (n > 64)
			n = 64;
		w = pwritev(o->fd, (struct iovec *)vec, n, (off_t)(off + done));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			_io_fail(r, errno, "write", ino);
			break;
		}
		evbuffer_drain(r->in, (size_t)w);
		done += (uint64_t)w;
	}
	pthread_mutex_unlock(&o->wlock);
	if (done < len)
		goto out;
	/* No sync_file_range(SYNC_FILE_RANGE_WRITE) here: tried, it made
	 * 1 GiB streaming writes 2-5x slower and cost 3-4x the CPU on the
	 * bench VM (write-back competing with the transfer, I/O threads
	 * blocking in the block layer), for a final FSYNC of ~0.5 s saved. */
	proto_put_u64(&r->res, done);
	r->nres = 1;
	r->status = EBB_OK;
out:
	if (reserved)
		atomic_fetch_sub(&inst->used, len);
	if (o) {
		_obj_account(inst, o);
		_obj_put(inst, o);
	}
	return r->status;
}

/* What READ replies refer to for bytes past an object's end. */
static const char _zeros[64 * 1024];

/* Append n zero bytes to buf without copying. */
static int _add_zeros(struct evbuffer *buf, uint64_t n)
{
	while (n > 0) {
		size_t k = n < sizeof(_zeros) ? (size_t)n : sizeof(_zeros);

		if (evbuffer_add_reference(buf, _zeros, k, NULL, NULL) != 0)
			return -1;
		n -= k;
	}
	return 0;
}

/* Start reading [off, off+len) and, for a reader that looks sequential,
 * the next READ_AHEAD bytes.  libebb reads a window of stripes, waits for
 * all of them, then asks for the next: the disk idles in between, and the
 * kernel's own read-ahead does not see a sequential reader in stripes that
 * arrive out of order.  "Sequential": the read starts at most
 * 2 * READ_AHEAD behind what was read ahead last, so random readers cost
 * no extra disk reads. */
static void _read_ahead(struct bbd_obj *o, uint64_t off, uint64_t len,
			uint64_t size)
{
	uint64_t from = off + len, to = off + len;

	pthread_mutex_lock(&o->lock);
	if (off <= o->ra_end && off + 2ull * READ_AHEAD >= o->ra_end) {
		if (o->ra_end > from)
			from = o->ra_end;
		to += READ_AHEAD;
	}
	if (to > size)
		to = size;
	if (to > o->ra_end)
		o->ra_end = to;
	pthread_mutex_unlock(&o->lock);
	/* Our own range always: cheap if an earlier READ asked already. */
	(void)posix_fadvise(o->fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
	if (from < to)
		(void)posix_fadvise(o->fd, (off_t)from, (off_t)(to - from),
				    POSIX_FADV_WILLNEED);
}

/* The big-READ reply: [off, off+len) of o (NULL: no file) as a sendfile
 * segment plus zeros, see DESIGN above. */
/* len bytes at off of fd into buf, zeros past the object's end (a hole
 * reads as zeros by itself).  flags are preadv2's: RWF_NOWAIT fails with
 * EAGAIN unless every byte is in the page cache.  0, or -1 and errno. */
static int _pread_zeros(int fd, char *buf, uint64_t len, uint64_t off,
			int flags)
{
	uint64_t done = 0;

	while (done < len) {
		struct iovec iov = {buf + done, (size_t)(len - done)};
		ssize_t n = preadv2(fd, &iov, 1, (off_t)(off + done), flags);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break; /* past the end */
		done += (uint64_t)n;
	}
	memset(buf + done, 0, (size_t)(len - done));
	return 0;
}

static ebb_err _read_direct(struct bbd_req *r, struct bbd_obj *o,
			    uint64_t ino, uint64_t off, uint64_t len)
{
	struct evbuffer_file_segment *seg;
	uint64_t flen = 0;
	struct stat st;
	int fd;

	if (o) {
		if (fstat(o->fd, &st) != 0)
			return _io_fail(r, errno, "fstat", ino);
		if ((uint64_t)st.st_size > off)
			flen = (uint64_t)st.st_size - off < len ?
				       (uint64_t)st.st_size - off : len;
	}
	if (flen) {
		_read_ahead(o, off, flen, (uint64_t)st.st_size);
		fd = fcntl(o->fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return _io_fail(r, errno, "dup", ino);
		seg = evbuffer_file_segment_new(fd, (ev_off_t)off,
						(ev_off_t)flen,
						EVBUF_FS_CLOSE_ON_FREE);
		if (!seg) {
			close(fd);
			return bbd_req_fail(r, EBB_ENOMEM, "file segment");
		}
		/* The chain takes its own reference to seg. */
		if (evbuffer_add_file_segment(r->out, seg, 0,
					      (ev_off_t)flen) != 0) {
			evbuffer_file_segment_free(seg);
			return bbd_req_fail(r, EBB_ENOMEM, "file segment");
		}
		evbuffer_file_segment_free(seg);
	}
	if (_add_zeros(r->out, len - flen) != 0)
		return bbd_req_fail(r, EBB_ENOMEM, "no memory for zeros");
	r->status = EBB_OK;
	return r->status;
}

ebb_err bbd_op_read(struct bbd_req *r)
{
	uint64_t ino = 0, off = 0, len = 0;
	struct evbuffer_iovec v;
	struct bbd_obj *o = NULL;
	ebb_err e;

	proto_get_u64(&r->dec, &ino);
	proto_get_u64(&r->dec, &off);
	proto_get_u64(&r->dec, &len);
	if (bbd_req_args(r))
		goto out;
	if (len > PROTO_MAX_PAYLOAD) {
		bbd_req_fail(r, EBB_E_PROTO, "READ of %" PRIu64 " bytes", len);
		goto out;
	}
	if (off > BBD_MAX_FILE_SIZE) {
		bbd_req_fail(r, EBB_EFBIG, "read past 2^44 bytes");
		goto out;
	}
	r->out = evbuffer_new();
	if (r->out && len >= BBD_CONN_DIRECT_MIN) {
		/* Lets the segment stay a sendfile chain (libevent only makes
		 * one in a buffer that drains to an fd). */
		evbuffer_set_flags(r->out, EVBUFFER_FLAG_DRAINS_TO_FD);
		e = _obj_get(r->inst, ino, false, &o);
		if (e != EBB_OK && e != EBB_ENOENT) {
			bbd_req_fail(r, e, "open object: %s",
				     ebb_strerror(e));
			goto out;
		}
		_read_direct(r, o, ino, off, len);
		goto out;
	}
	if (!r->out || (len && evbuffer_reserve_space(r->out, (ev_ssize_t)len,
						      &v, 1) < 1)) {
		bbd_req_fail(r, EBB_ENOMEM, "no memory for %" PRIu64 " bytes",
			     len);
		goto out;
	}
	if (len == 0)
		goto ok;
	e = _obj_get(r->inst, ino, false, &o);
	if (e != EBB_OK && e != EBB_ENOENT) {
		bbd_req_fail(r, e, "open object: %s", ebb_strerror(e));
		goto out;
	}
	if (!o)
		memset(v.iov_base, 0, (size_t)len);
	else if (_pread_zeros(o->fd, v.iov_base, len, off, 0) != 0) {
		_io_fail(r, errno, "read", ino);
		goto out;
	}
	v.iov_len = (size_t)len;
	evbuffer_commit_space(r->out, &v, 1);
ok:
	r->status = EBB_OK;
out:
	if (o)
		_obj_put(r->inst, o);
	return r->status;
}

/* Take a reference on ino's object only if it is already open. */
static struct bbd_obj *_obj_get_cached(struct bbd_inst *inst, uint64_t ino)
{
	struct bbd_obj *o = NULL;

	pthread_mutex_lock(&inst->obj_lock);
	if (inst->obj_tab && (o = _tab_find_locked(inst, ino))) {
		o->refs++;
		_lru_unlink_locked(inst, o);
		_lru_front_locked(inst, o);
	}
	pthread_mutex_unlock(&inst->obj_lock);
	return o;
}

bool bbd_read_try_inline(struct bbd_req *r)
{
	uint64_t ino = 0, off = 0, len = 0;
	uint32_t pos = r->dec.pos;
	struct evbuffer_iovec v;
	struct bbd_obj *o = NULL;
	bool served = false;

	proto_get_u64(&r->dec, &ino);
	proto_get_u64(&r->dec, &off);
	proto_get_u64(&r->dec, &len);
	/* Anything unusual (bad arguments included) takes the usual path. */
	if (proto_dec_end(&r->dec) != EBB_OK || len == 0 ||
	    len > BBD_READ_INLINE_MAX || off > BBD_MAX_FILE_SIZE ||
	    !(o = _obj_get_cached(r->inst, ino)) ||
	    !(r->out = evbuffer_new()))
		goto out;
	if (evbuffer_reserve_space(r->out, (ev_ssize_t)len, &v, 1) < 1)
		goto out;
	if (_pread_zeros(o->fd, v.iov_base, len, off, RWF_NOWAIT) != 0)
		goto out; /* EAGAIN: not all cached; or an error */
	v.iov_len = (size_t)len;
	evbuffer_commit_space(r->out, &v, 1);
	r->status = EBB_OK;
	served = true;
out:
	if (!served) {
		if (r->out)
			evbuffer_free(r->out);
		r->out = NULL;
		/* rewind: bbd_op_read reads the arguments again */
		r->dec.pos = pos;
		r->dec.err = EBB_OK;
		r->dec.detail[0] = '\0';
	}
	if (o)
		_obj_put(r->inst, o);
	return served;
}

ebb_err bbd_op_truncate(struct bbd_req *r)
{
	uint64_t ino = 0, size = 0;
	struct bbd_obj *o = NULL;
	struct stat st;
	ebb_err e;

	proto_get_u64(&r->dec, &ino);
	proto_get_u64(&r->dec, &size);
	if (bbd_req_args(r))
		goto out;
	e = _obj_get(r->inst, ino, false, &o);
	if (e == EBB_ENOENT)
		goto ok;
	if (e != EBB_OK) {
		bbd_req_fail(r, e, "open object: %s", ebb_strerror(e));
		goto out;
	}
	if (fstat(o->fd, &st) != 0) {
		_io_fail(r, errno, "fstat", ino);
		goto out;
	}
	if ((uint64_t)st.st_size > size && ftruncate(o->fd, (off_t)size) != 0) {
		_io_fail(r, errno, "truncate", ino);
		goto out;
	}
ok:
	r->status = EBB_OK;
out:
	if (o) {
		_obj_account(r->inst, o);
		_obj_put(r->inst, o);
	}
	return r->status;
}

ebb_err bbd_op_fsync(struct bbd_req *r)
{
	uint64_t ino = 0;
	struct bbd_obj *o = NULL;
	ebb_err e;
	int rc;

	proto_get_u64(&r->dec, &ino);
	if (bbd_req_args(r))
		goto out;
	e = _obj_get(r->inst, ino, false, &o);
	if (e != EBB_OK && e != EBB_ENOENT) {
		bbd_req_fail(r, e, "open object: %s", ebb_strerror(e));
		goto out;
	}
	if (o && fdatasync(o->fd) != 0) {
		_io_fail(r, errno, "fdatasync", ino);
		goto out;
	}
	/* The file's metadata travels with SIZE_UPDATE; syncing the shard
	 * here too means an fsync'ed create survives a crash as well. */
	rc = mdb_env_sync(r->inst->env, 1);
	if (rc != 0) {
		bbd_req_fail(r, EBB_EIO, "metadata sync: %s", mdb_strerror(rc));
		goto out;
	}
	r->status = EBB_OK;
out:
	if (o)
		_obj_put(r->inst, o);
	return r->status;
}

int bbd_data_remove(struct bbd_inst *inst, uint64_t ino)
{
	uint64_t blocks = 0;
	struct bbd_obj *o;
	struct stat st;
	char name[BBD_OBJ_NAME_MAX];
	int errnum = 0;

	bbd_obj_name(name, sizeof(name), ino);
	/* Under obj_lock so no open slips in between the stat and the unlink. */
	pthread_mutex_lock(&inst->obj_lock);
	o = _tab_find_locked(inst, ino);
	if (o) {
		pthread_mutex_lock(&o->lock);
		o->removed = true;
		blocks = o->blocks;
		pthread_mutex_unlock(&o->lock);
		_tab_remove_locked(inst, o);
		if (o->refs == 0)
			_obj_close(o);
	} else if (fstatat(inst->datafd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		blocks = (uint64_t)st.st_blocks;
	}
	if (unlinkat(inst->datafd, name, 0) != 0 && errno != ENOENT)
		errnum = errno;
	else
		atomic_fetch_sub(&inst->used, blocks * 512);
	pthread_mutex_unlock(&inst->obj_lock);
	return errnum;
}

ebb_err bbd_op_remove(struct bbd_req *r)
{
	uint64_t ino = 0;
	int errnum;

	proto_get_u64(&r->dec, &ino);
	if (bbd_req_args(r))
		return r->status;
	if ((errnum = bbd_data_remove(r->inst, ino)) != 0)
		return _io_fail(r, errnum, "unlink", ino);
	/* The inode is gone: its xattrs too if this is its home. */
	if ((errnum = bbd_xattr_drop(r->inst, NULL, ino)) != 0)
		return bbd_req_fail(r, EBB_EIO, "REMOVE: inode %llu: dropping "
				    "its xattrs: %s", (unsigned long long)ino,
				    mdb_strerror(errnum));
	r->status = EBB_OK;
	return r->status;
}

/* ---- direct access for the stager (bbd/stage_xfer.c) ---------------------- */

ebb_err bbd_data_pwrite(struct bbd_inst *inst, uint64_t ino, const void *buf,
			size_t len, uint64_t off)
{
	struct bbd_obj *o = NULL;
	uint64_t prev, done = 0;
	ebb_err rc = EBB_OK;

	if (ino == 0)
		return EBB_EINVAL;
	if (off > BBD_MAX_FILE_SIZE || len > BBD_MAX_FILE_SIZE - off)
		return EBB_EFBIG;
	/* The same reservation as a WRITE, so stage-in and the job's own
	 * writes share one capacity. */
	prev = atomic_fetch_add(&inst->used, len);
	if (prev + len > inst->capacity) {
		rc = EBB_ENOSPC;
		goto out;
	}
	if ((rc = _obj_get(inst, ino, true, &o)) != EBB_OK)
		goto out;
	pthread_mutex_lock(&o->wlock);
	while (done < len) {
		ssize_t w = pwrite(o->fd, (const char *)buf + done,
				   (size_t)(len - done), (off_t)(off + done));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = ebb_err_from_errno(errno);
			break;
		}
		done += (uint64_t)w;
	}
	pthread_mutex_unlock(&o->wlock);
out:
	atomic_fetch_sub(&inst->used, len);
	if (o) {
		_obj_account(inst, o);
		_obj_put(inst, o);
	}
	return rc;
}

ebb_err bbd_data_pread(struct bbd_inst *inst, uint64_t ino, void *buf,
		       size_t len, uint64_t off)
{
	struct bbd_obj *o = NULL;
	size_t done = 0;
	ebb_err rc;

	rc = _obj_get(inst, ino, false, &o);
	if (rc == EBB_ENOENT) {
		memset(buf, 0, len);
		return EBB_OK;
	}
	if (rc != EBB_OK)
		return rc;
	while (done < len) {
		ssize_t n = pread(o->fd, (char *)buf + done, len - done,
				  (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = ebb_err_from_errno(errno);
			break;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	if (rc == EBB_OK)
		memset((char *)buf + done, 0, len - done);
	_obj_put(inst, o);
	return rc;
}
