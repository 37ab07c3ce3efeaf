/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb-fuse: the mount's context and the FUSE operation table. */
#ifndef EBB_FUSE_OPS_H
#define EBB_FUSE_OPS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <stdatomic.h>

#include "fuse_int.h"

#define FZ_MAX_IO (1024 * 1024)    /* max_write and read size */
/* READ replies from this size on are spliced when they can be (ops.c). */
#define FZ_SPLICE_MIN (32 * 1024)
/* ... from at most this many object pieces (stripes), else copied. */
#define FZ_SPLICE_PIECES 16

/* locks.c: which (owner, file handle) pairs may hold locks, per inode. */
#define FZ_LOCK_BUCKETS 256
struct fz_lk_ino;
struct fz_locks {
	pthread_mutex_t lock;      /* leaf: the table */
	struct fz_lk_ino *tab[FZ_LOCK_BUCKETS];
	atomic_bool used;          /* a lock was asked for on this mount */
	struct fz_lkwait *waits;   /* waiting requests (their threads); lock */
	unsigned nwaits;           /* lock */
	pthread_cond_t waits_cv;   /* nwaits went down */
};

/* One mount: set up by main before the session starts, read-only after
 * (the table has its own lock). */
struct fz {
	ebb_t *h;
	uid_t owner;               /* the instance's owner */
	uid_t self;                /* the uid ebb-fuse runs as */
	bool wb;                   /* the kernel's writeback cache is on */
	struct fz_itab itab;
	struct fz_dt dt;           /* directory times (dirtimes.c) */
	bool sync_writes;          /* --sync-writes: every open O_DSYNC (each
				    * WRITE answers once the nodes have it);
				    * else libebb's write-behind, gathering */
	bool splice;               /* READ replies spliced from the object
				    * files of this node's bbd (--splice,
				    * $EBB_FUSE_SPLICE=1; off by default);
				    * cleared at INIT if the kernel cannot */
	bool local_locks;          /* --local-locks: the kernel's per-node
				    * locks, as before issue 10 (tests and
				    * comparisons only) */
	struct fuse_session *se;   /* for notifications (set before the loop) */
	struct fz_locks locks;     /* locks.c */
};

extern const struct fuse_lowlevel_ops fz_ops;
/* getxattr of security.* and system.* answered without an RPC (ops.c);
 * printed at exit: tests/fuse/xattr.t checks the kernel does not send
 * one per write. */
extern atomic_ulong fz_unstored_gets;

/* killpriv.c: give se (mounted) a custom I/O that asks the kernel for
 * FUSE_HANDLE_KILLPRIV_V2 in libfuse's INIT reply.  0 or an errno.  Main
 * thread, before the loop. */
int fz_killpriv_install(struct fuse_session *se);
/* Whether INIT granted it (then ops.c kills setuid/setgid itself). */
bool fz_killpriv_granted(void);

/* ---- locks.c: fcntl and flock locks across nodes ---- */
int fz_locks_init(struct fz_locks *lt);
void fz_locks_fini(struct fz_locks *lt);
/* Cancel the waiting requests and wait for their threads (EINTR
 * replies): at exit, before the session and the libebb handle go. */
void fz_locks_stop(struct fz *fz);
/* Whether any lock was asked for on this mount (read-only opens then
 * stop replying noflush). */
bool fz_locks_used(struct fz_locks *lt);
/* FLUSH by owner: its locks on ino go (an RPC only if it may hold some). */
void fz_locks_flush(struct fz *fz, uint64_t ino, uint64_t owner);
/* RELEASE of fh: the locks taken through it go (OFD, flock, POSIX locks
 * of descriptors that sent no FLUSH). */
void fz_locks_release(struct fz *fz, uint64_t ino, uint64_t fh,
		      bool flock_release, uint64_t flock_owner);
void fz_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	      struct flock *lock);
void fz_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	      struct flock *lock, int sleep);
void fz_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	      int op);

#endif
