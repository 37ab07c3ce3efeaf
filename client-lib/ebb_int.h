/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb internals shared by its modules: the handle, open files, path walk.
 *
 * DESIGN: an ebb_t is a net (conn_int.h) over the instance's members plus
 * three small shared tables, each under its own mutex:
 *   - the instance's stripe size, learnt lazily with INST_GET (info_lock);
 *   - a directory-lookup cache (dcache_lock; path.c);
 *   - the inodes this handle has open or is opening (ino_lock; file.c,
 *     which also says how removals wait for them): every open file
 *     of one inode shares its known size and dentry key, so that writes,
 *     truncates and renames made through one ebb_t are seen at once by its
 *     other handles ("full POSIX within one client", docs/semantics.md).
 * Every function here returns an ebb_err; errno is set only by the public
 * entry points (ebb_* in the .c files) through fail_errno().
 */
#ifndef EBB_EBB_INT_H
#define EBB_EBB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "conn_int.h"
#include "ebb/ebb.h"
#include "err.h"
#include "proto.h"

#define DCACHE_BUCKETS 1024
#define INO_BUCKETS 256
#define MAX_SYMLINK_HOPS 40

struct dcache_ent;
struct ebb_inode;
struct ebb_locks;

struct ebb {
	char id[PROTO_MAX_INST_ID + 1];
	struct ebb_net net;
	uid_t uid;                 /* the caller's credentials for access */
	gid_t gid;                 /* checks, taken at attach */
	gid_t *groups;
	int ngroups;

	pthread_mutex_t info_lock;
	uint64_t stripe;           /* 0 until known; protected by info_lock */

	pthread_mutex_t dcache_lock;
	unsigned dcache_ms;        /* 0: no cache */
	struct dcache_ent *dcache[DCACHE_BUCKETS]; /* protected by dcache_lock */

	pthread_mutex_t ino_lock;
	struct ebb_inode *inodes[INO_BUCKETS];     /* protected by ino_lock */
	unsigned dunlinks;         /* UNLINKs with DATA in flight; ino_lock */
	unsigned dpins;            /* pins waiting for them; ino_lock */
	pthread_cond_t dunlink_cond; /* dunlinks reached 0 (ino_lock) */

	struct ebb_locks *locks;   /* lock.c: the client id, leases */
};

/* An attribute record with its symlink target owned (proto_attr borrows). */
struct ebb_attr {
	struct proto_attr a;       /* a.target points at target[] or NULL */
	char target[PROTO_MAX_TARGET + 1];
};

/* ---- write-behind and read-ahead (stream.c) ------------------------------- */

struct wb_op;
struct ra_chunk;

/* An inode's writes in flight (write-behind).  Per inode, not per handle:
 * a read, truncate or size publication through any handle of this ebb_t
 * waits for the writes it must see. */
struct ebb_wb {
	pthread_mutex_t lock;      /* held while issuing or collecting */
	struct ebb_waiter w;       /* async: the receivers complete them */
	struct wb_op *head, *tail; /* in flight, oldest first; lock */
	size_t bytes;              /* their payload bytes; lock */
	unsigned n;                /* how many; lock */
	bool cut;                  /* a failed write cut the size: truncate
				    * the data at the publication; ino_lock */
	/* The gather buffer (stream.c): bytes accepted, not yet sent; all
	 * protected by lock. */
	uint8_t *gbuf;             /* gcap bytes, NULL when none */
	size_t gcap, glen;         /* allocated, held */
	uint64_t goff;             /* file offset of gbuf[0] */
	struct ebb_file *gf;       /* whose writes (pending error), or NULL */
	uint64_t gsize0;           /* the inode's size before its first call */
	uint64_t gcall_off;        /* where that call began */
	uint64_t issued;           /* WRITEs ever issued (tests) */
	uint64_t cut_lo;           /* the lowest cut made during the wb_write
				    * in progress, and the error that made */
	ebb_err cut_err;           /* it; lock */
};

/* A handle's read-ahead: chunks (stripe pieces, contiguous in file order)
 * read while the caller consumes the ones before. */
struct ebb_ra {
	pthread_mutex_t lock;      /* held by a streaming pread throughout */
	struct ebb_waiter w;       /* async */
	uint64_t next;             /* where a sequential reader reads next */
	uint64_t win;              /* bytes to read ahead, 0: not streaming */
	uint64_t gen;              /* the inode's dgen the chunks are of */
	struct ra_chunk *ring;     /* cap slots, NULL until streaming */
	unsigned cap, first, n;    /* the chunks: ring[first..first+n) */
	uint64_t issued;           /* chunks ever issued (tests) */
};

/* An open file. */
struct ebb_file {
	ebb_t *h;
	struct ebb_inode *in;      /* shared with other handles of the inode */
	int flags;
	struct ebb_attr attr0;     /* attributes at open */
	pthread_mutex_t lock;
	bool wrote;                /* protected by lock */
	int64_t mtime_ns;          /* time of the last write; lock */
	ebb_err pending;           /* first write error; lock */
	struct ebb_ra ra;
	/* local reads (local.c): per member, an fd of the inode's object
	 * passed by its bbd (>= 0), FD_ASK (not asked, or no object yet) or
	 * FD_TCP (that member cannot); NULL until the first read; lock.
	 * Closed at ebb_close: a later open asks again. */
	int *lfd;
	/* local writes (file.c): per member, NULL until the first write. */
	struct file_lw *lw;
	uint64_t wbytes;           /* written through this handle (the inode's
				    * wb lock): local writes from LW_MIN on */
};
/* A handle's local writes to one member: the writable fd of the object
 * (FD_ASK, FD_TCP or >= 0), the local connection's generation it belongs
 * to, and the capacity reserved for it: avail still unwritten, total in
 * all (given back at close). */
struct file_lw {
	int fd;
	uint64_t gen;
	uint64_t avail, total;
};
#define FD_ASK (-1)
#define FD_TCP (-2)

/* One inode open through this handle; refcounted by its ebb_file_t's. */
struct ebb_inode {
	uint64_t ino;
	unsigned refs;             /* protected by h->ino_lock */
	uint64_t size;             /* largest known size; protected by ino_lock */
	int64_t mtime_ns;          /* time of the last write; ino_lock */
	struct proto_attr attr0;   /* at first open (target NULL); ino_lock */
	bool known;                /* attr0 and size are set: false only while
				    * ebb_open_ino has pinned the number and
				    * not yet found the inode; ino_lock */
	bool orphan;               /* its name was removed while open: remove
				    * the data at the last close; ino_lock */
	uint64_t wgen, pubgen;     /* writes made / published; ino_lock.  When
				    * equal, the server's size is the truth. */
	uint64_t dgen;             /* bumped by every write or truncate made
				    * here: read-ahead older than it is
				    * dropped; ino_lock */
	struct ebb_wb wb;          /* writes in flight */
	uint8_t *wrote_nodes;      /* bitmap: nodes written through any handle
				    * (fsync's set); protected by ino_lock */
	uint64_t parent;           /* dentry key, updated by our renames; */
	char name[PROTO_MAX_NAME + 1]; /* protected by ino_lock */
	struct ebb_inode *next;
};

/* ---- locks (lock.c) -------------------------------------------------------- */
/* Set up h->locks (a random client id; no thread yet).  At attach. */
ebb_err locks_init(ebb_t *h);
/* Release h's locks on every node that may hold some, stop the renewing
 * thread, free.  At detach, before net_fini. */
void locks_fini(ebb_t *h);

/* ---- path walk (path.c) --------------------------------------------------- */

enum walk_flags {
	WALK_FOLLOW = 1,           /* follow a symlink in the last component */
	WALK_PARENT = 2,           /* resolve the parent only, not the last */
	WALK_MISSING_OK = 4,       /* last component may be absent (exists=0) */
};

struct ebb_walk {
	bool is_root;              /* the path named the root itself */
	bool exists;               /* attr is valid */
	bool trailing_slash;
	uint64_t parent;           /* dentry key of the result: */
	char name[PROTO_MAX_NAME + 1]; /* (0, "") for the root */
	size_t namelen;
	struct proto_attr pattr;   /* the parent directory's attributes */
	struct ebb_attr attr;      /* the result (exists) */
	uint64_t *anc;             /* root .. parent inode numbers (malloc'd */
	unsigned nanc;             /* by walk(); borrowed from at-callers) */
	bool nocheck;              /* at-calls: permission bits are the
				    * caller's business (FUSE's kernel with
				    * default_permissions checks them) */
	bool owner;                /* *at_owner calls: a new inode is */
	uint32_t ouid, ogid;       /* ouid:ogid's (CREATE/MKDIR/SYMLINK) */
};

/* Resolve path (see walk_flags).  Fills w; walk_free() releases it.
 * ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EACCES (search permission) or a
 * node's error.  With WALK_PARENT the last component is neither looked up
 * nor followed ("." and ".." as last component give EINVAL). */
ebb_err walk(ebb_t *h, const char *path, int flags, struct ebb_walk *w);
void walk_free(struct ebb_walk *w);

/* ---- dentry-relative operations (at.c, meta.c, file.c, dir.c) ----------
 *
 * One implementation of each operation, on a resolved dentry: the path
 * calls get it from walk(), the *at calls from at_dentry().  Permission
 * bits are checked from w->pattr / w->attr unless w->nocheck. */

/* w for (dir, name) without any RPC: EINVAL/ENAMETOOLONG for a bad name.
 * (0, "") names the root's dentry.  Nothing to free. */
ebb_err at_dentry(uint64_t dir, const char *name, struct ebb_walk *w);
/* The optional "uid, gid" of CREATE/MKDIR/SYMLINK (docs/protocol.md) if w
 * asks for an owner: the count of arguments they add (0 or 2), and their
 * encoding (after the request's other arguments). */
unsigned meta_owner_nargs(const struct ebb_walk *w);
void meta_put_owner(struct proto_enc *e, const struct ebb_walk *w);
/* Write + search permission on the directory holding w (or w->nocheck). */
ebb_err meta_dir_access(const ebb_t *h, const struct ebb_walk *w);
ebb_err meta_mkdir(ebb_t *h, const struct ebb_walk *w, mode_t mode,
		   struct ebb_attr *out);
ebb_err meta_symlink(ebb_t *h, const struct ebb_walk *w, const char *target,
		     struct ebb_attr *out);
/* mknod(2): a FIFO, socket, device (rdev) or empty regular file; EEXIST
 * if the name exists. */
ebb_err meta_mknod(ebb_t *h, const struct ebb_walk *w, mode_t mode,
		   dev_t rdev, struct ebb_attr *out);
/* DIR_TOUCH: directory w (inode ino) changed at time_ns. */
ebb_err meta_dir_touch(ebb_t *h, const struct ebb_walk *w, uint64_t ino,
			int64_t time_ns, struct ebb_attr *out);
ebb_err meta_unlink(ebb_t *h, const struct ebb_walk *w);
ebb_err meta_rmdir(ebb_t *h, const struct ebb_walk *w);
/* flags: PROTO_RENAME_NOREPLACE.  A directory is never moved below itself:
 * wt->anc (root .. target's parent) and wt->parent are checked. */
ebb_err meta_rename(ebb_t *h, const struct ebb_walk *wf,
		    const struct ebb_walk *wt, unsigned flags);
/* SETATTR on w's dentry; PROTO_SET_SIZE truncates the data too (needs a
 * regular file).  out (may be NULL) gets the attributes after it. */
ebb_err meta_setattr(ebb_t *h, const struct ebb_walk *w, uint32_t mask,
		     uint32_t mode, uint32_t uid, uint32_t gid, uint64_t size,
		     int64_t atime, int64_t mtime, struct ebb_attr *out);
/* Open what w names (w->exists: w->attr is it; else CREATE needs O_CREAT).
 * Symlinks are not followed here (ELOOP).  *fp owned by the caller. */
ebb_err file_open_dentry(ebb_t *h, struct ebb_walk *w, int flags,
			 mode_t mode, ebb_file_t **fp);
/* A listing of directory ino (no access check: the caller did it). */
ebb_err dir_open_ino(ebb_t *h, uint64_t ino, ebb_dir_t **dp);
/* st from attributes, with the larger size this handle's writers know. */
void attr_to_stat_known(ebb_t *h, struct proto_attr *a, struct ebb_stat *st);

/* LOOKUP (parent, name) on its node, through the directory cache. */
ebb_err path_lookup(ebb_t *h, uint64_t parent, const char *name, size_t len,
		   struct ebb_attr *out);
/* Forget a cached directory entry (after our rename/rmdir/chmod...). */
void dcache_forget(ebb_t *h, uint64_t parent, const char *name, size_t len);
void dcache_init(ebb_t *h);
void dcache_fini(ebb_t *h);

/* Access check of the caller against attr: want is a mix of R_OK, W_OK,
 * X_OK.  EACCES when denied; root passes read/write always and execute
 * if any x bit is set (or for directories). */
ebb_err path_access(const ebb_t *h, const struct proto_attr *a, int want);

/* Copy a decoded attr (borrowing the decoder) into an owned ebb_attr. */
void attr_own(struct ebb_attr *dst, const struct proto_attr *src);
/* ebb_stat from attributes; blksize is the stripe size (learnt on first
 * need, 1 MiB if no node answers). */
void attr_to_stat(ebb_t *h, const struct proto_attr *a, struct ebb_stat *st);

/* ---- hard links (link.c; docs/internals/hardlinks.md) ---------------------
 * A dentry op that answers a pointer (PROTO_MODE_LINKED) sends the by-inode
 * op to the inode's home node through these.  Their attributes keep
 * PROTO_MODE_LINKED: "linked, go by number" inside libebb. */

/* link(2): w's name (must exist, not a directory: EPERM) gets the second
 * name wt (EEXIST if it exists).  out (may be NULL): the record after. */
ebb_err meta_link(ebb_t *h, const struct ebb_walk *wf,
		  const struct ebb_walk *wt, struct ebb_attr *out);
/* The home node of inode ino (its creator's rank, where its record, xattrs
 * and locks live): EBB_EINVAL for 0 or a rank the instance does not have. */
ebb_err inode_home(const ebb_t *h, uint64_t ino, unsigned *node);
/* INODE_GET: the record of ino (ENOENT: none). */
ebb_err link_get(ebb_t *h, uint64_t ino, struct ebb_attr *out);
/* at in place: a pointer becomes its record's attributes. */
ebb_err link_resolve(ebb_t *h, struct ebb_attr *at);
/* INODE_SETATTR (SETATTR's arguments); out may be NULL. */
ebb_err link_setattr(ebb_t *h, uint64_t ino, uint32_t mask, uint32_t mode,
		     uint32_t uid, uint32_t gid, uint64_t size, int64_t atime,
		     int64_t mtime, struct ebb_attr *out);
/* INODE_SIZE_UPDATE. */
ebb_err link_size_update(ebb_t *h, uint64_t ino, uint64_t size,
			 int64_t mtime, bool sync);
/* INODE_UNLINK after a pointer's name went; at nlink 0 the data goes (or
 * at the last close if open through h). */
ebb_err link_drop(ebb_t *h, uint64_t ino);

/* ---- helpers (attach.c, file.c, meta.c) ------------------------------------ */

/* errno from err, then -1: the one way out of a public call. */
int fail_errno(ebb_err err);

/* The instance's stripe size (INST_GET on first use). */
ebb_err attach_stripe(ebb_t *h, uint64_t *stripe);
int64_t file_now_ns(void);

/* Remove inode ino's data (size bytes known): REMOVE on every node that
 * can hold one of its stripes. */
ebb_err data_remove(ebb_t *h, uint64_t ino, uint64_t size);
/* TRUNCATE the inode's objects to size on every node. */
ebb_err data_truncate(ebb_t *h, uint64_t ino, uint64_t size);
/* SETATTR(SIZE) on (parent, name) then data_truncate.  ESTALE if the
 * name holds another inode than ino (0: any).  out (may be NULL) gets the
 * attributes after it. */
ebb_err file_truncate(ebb_t *h, uint64_t parent, const char *name,
			size_t len, uint64_t ino, uint64_t size,
			struct ebb_attr *out);

/* Publish (SIZE_UPDATE) what this handle's writers wrote to the inode
 * open at (parent, name), if anything is unpublished: before a SETATTR of
 * its times, so the writes' later publication cannot undo it. */
ebb_err file_publish_dentry(ebb_t *h, uint64_t parent, const char *name,
			    size_t len);
/* The same for inode ino, if open through h (by-number SETATTR). */
void inode_publish_ino(ebb_t *h, uint64_t ino);
/* If the inode a (a regular file whose name was just removed or replaced
 * through h) is open or pinned (ebb_open_ino) through h, mark it so that
 * its data is removed at its last close instead of now (POSIX: an
 * unlinked open file keeps its data for whoever has it open) and return
 * true.  A pinned inode not yet found gets a's attributes. */
bool inode_orphan(ebb_t *h, const struct proto_attr *a);
/* UNLINK with the DATA flag (the dentry's node drops a small file's data
 * itself, no REMOVE round trip) is only safe for an inode that nothing
 * opens through h before the node has done it.  inode_unlink_begin() puts
 * the inodes open or pinned through h into keep[0..*n) (the node keeps
 * their data) and counts the unlink in flight; ebb_open_ino's pin waits
 * while any is, so no open can slip between building keep and the node's
 * removal.  Returns false (use the plain UNLINK + REMOVE) if more than max
 * are open or a pin is waiting (so a stream of unlinks cannot starve an
 * open).  After true, call inode_unlink_done() once the reply is handled. */
bool inode_unlink_begin(ebb_t *h, uint64_t *keep, unsigned max, unsigned *n);
void inode_unlink_done(ebb_t *h);
/* The inode table: the size others opened through h know about. */
bool inode_known_size(ebb_t *h, uint64_t ino, uint64_t *size);
void inode_set_size(ebb_t *h, uint64_t ino, uint64_t size);
void inode_moved(ebb_t *h, uint64_t ino, uint64_t parent, const char *name,
		 size_t len);
/* The table's entries (inode.c; the *_locked ones under h->ino_lock): find
 * one; link in a new one (refs 1, not known; NULL: no memory); fill one
 * just found at w's dentry with size; get one for w (a reference; found
 * or new, filled); drop a reference (the last one frees it, and an
 * orphan's data goes then); (parent, name) of its dentry as h last knew
 * it. */
struct ebb_inode *inode_find_locked(ebb_t *h, uint64_t ino);
struct ebb_inode *inode_new_locked(ebb_t *h, uint64_t ino);
void inode_fill_locked(struct ebb_inode *in, const struct ebb_walk *w,
		       uint64_t size);
struct ebb_inode *inode_get(ebb_t *h, const struct ebb_walk *w,
			    uint64_t size);
void inode_put(ebb_t *h, struct ebb_inode *in);
void inode_key(ebb_t *h, struct ebb_inode *in, uint64_t *parent,
	       char name[PROTO_MAX_NAME + 1]);
/* SIZE_UPDATE of in's size (its writes drained first) to its dentry, or
 * to its inode record if linked; sync: the node syncs it.  The name gone
 * with no record left is not an error (nowhere to publish). */
ebb_err inode_publish(ebb_t *h, struct ebb_inode *in, bool sync);
/* Whether writes through h to in are not published yet. */
bool inode_unpublished(ebb_t *h, struct ebb_inode *in);

/* ---- stream.c --------------------------------------------------------------- */

void wb_init(struct ebb_wb *wb);
void wb_fini(struct ebb_wb *wb);
/* Write buf[0..count) at off (append: at the inode's size, chosen while
 * no other write of the inode is being issued) without waiting for the
 * replies: on return the payload is sent or gathered into the inode's
 * buffer (buf is free again) and the inode's size covers it.  At most cfg.write_behind bytes stay
 * unacknowledged per inode; a write overlapping one in flight waits for
 * it first (bbd runs a connection's writes in parallel).  A failure comes
 * back later as f's pending error; an error already pending fails this
 * call at once (not cleared). *offp gets the offset written. */
ebb_err wb_write(struct ebb_file *f, const uint8_t *buf, size_t count,
		 uint64_t off, bool append, uint64_t *offp);
/* Wait until no write of in overlapping [off, end) is gathered or in
 * flight (the gather buffer is sent first if it overlaps). */
void wb_wait_range(ebb_t *h, struct ebb_inode *in, uint64_t off,
		   uint64_t end);
/* Send the gather buffer and wait until no write of in is in flight
 * (flush, fsync, close, truncate, size publication). */
void wb_drain(ebb_t *h, struct ebb_inode *in);
/* wb_drain of inode ino if it is open through h. */
void inode_drain(ebb_t *h, uint64_t ino);

void ra_init(struct ebb_ra *ra);
/* Wait for its reads in flight and free its buffers. */
void ra_fini(ebb_t *h, struct ebb_ra *ra);
/* Read [off, off+count) of f (within the size: the caller clamped it),
 * all or nothing, through f's read-ahead: a sequential reader gets the
 * next window read ahead while it consumes this one. */
ebb_err ra_read(struct ebb_file *f, uint8_t *buf, size_t count, uint64_t off);
/* Chunks f's read-ahead has issued so far (tests: libebb-internal). */
uint64_t file_ra_issued(ebb_file_t *f);
/* WRITEs f's inode has issued through write-behind so far (tests). */
uint64_t file_wb_issued(ebb_file_t *f);

/* ---- file.c internals used by stream.c --------------------------------------- */

/* Striped I/O of [off, off+count) of ino, waiting for every piece.  nodes
 * (bitmap, may be NULL) gets the nodes touched.  All or nothing.  A read
 * with lf (the handle reading; NULL: none) preads the pieces of members
 * that serve local reads from lf's object fds instead of READ over TCP. */
ebb_err file_stripe_io(ebb_t *h, uint64_t ino, bool write, uint8_t *buf,
		       size_t count, uint64_t off, uint8_t *nodes,
		       struct ebb_file *lf);
/* Whether member node serves f's local reads (asks it once per handle). */
bool file_local_ok(struct ebb_file *f, unsigned node);
/* Read [off, off+len) of f's inode from member node's object through f's
 * fd (zeros past its end; no object: zeros); an error if that member does
 * not serve local reads. */
ebb_err file_local_pread(struct ebb_file *f, unsigned node, uint8_t *p,
			 size_t len, uint64_t off);
/* Write [off, off+len) of f's inode to member node's object through a
 * writable fd its bbd passed, after reserving capacity for it (local
 * writes): EBB_OK, a write error (EBB_ENOSPC: the instance is full on that
 * node), or EBB_E_BADOP if that member cannot take local writes (write
 * over TCP).  Caller holds the inode's wb lock (stream.c). */
ebb_err file_local_write(struct ebb_file *f, unsigned node,
			 const uint8_t *p, size_t len, uint64_t off);
/* Close f's object fds, settling its local writes (ebb_close). */
void file_local_close(struct ebb_file *f);
/* Local-read counters of h's net (tests: libebb-internal). */
void file_local_stats(ebb_t *h, uint64_t *bytes, uint64_t *opens,
		      uint64_t *fallbacks);
/* The inode's size and data generation, under ino_lock. */
uint64_t inode_size(ebb_t *h, struct ebb_inode *in);
/* A lock on ino was just granted (lock.c): if h has ino open, its size
 * and read-ahead become what the nodes hold now (another client may have
 * written under the lock before). */
void inode_refresh(ebb_t *h, uint64_t ino);
uint64_t inode_dgen(ebb_t *h, struct ebb_inode *in);
/* A write to [.., end) was made: grow, note it unpublished, bump dgen. */
void inode_grow(ebb_t *h, struct ebb_inode *in, uint64_t end);

#endif
