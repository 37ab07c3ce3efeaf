/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb-fuse operations: the FUSE low-level requests, each on libebb's
 * inode-relative calls.
 *
 * DESIGN: FUSE inode numbers are ebb inode numbers (root 1 = FUSE_ROOT_ID),
 * so "name in directory N" maps straight onto ebb_*at(N, name) with no
 * path walk; requests on an inode itself use the dentry key the inode
 * table keeps (itable.c).  Errors go from libebb's errno straight to
 * fuse_reply_err.
 *
 * Caching and cross-node consistency (docs/semantics.md is written from
 * this paragraph):
 *   - entry_timeout = attr_timeout = 1 s (FZ_TIMEOUT).  Within a node
 *     every change goes through this process, and the kernel invalidates
 *     what it changed itself; the timeouts only bound how long a change
 *     made on ANOTHER node (a rename, chmod, a new size after the writer's
 *     close) may stay unseen by stat() and path lookups here.  1 s matches
 *     libebb's directory cache, so the total staleness stays ~1-2 s, while
 *     a build or an untar does not pay a LOOKUP per path component per
 *     syscall.  Negative entries are not cached (ENOENT is replied as an
 *     error): a file another node creates is visible here at once.
 *   - Close-to-open: open replies keep_cache = 0, so the kernel drops the
 *     file's page cache at every open and reads what the nodes hold; the
 *     size used is the one LOOKUP returns at open.  close() sends FLUSH,
 *     which publishes the size (ebb_flush) before close() returns: a file
 *     opened on another node after this close sees all its data.
 *   - By default no writeback cache and no direct_io: every write(2) reaches
 *     ebb-fuse before it returns, and libebb's write-behind answers it
 *     once gathered or sent (consecutive small WRITEs of a descriptor go
 *     out as one request: byte-exact, so nodes sharing a file stay
 *     safe).  FLUSH (close) and FSYNC send what is gathered and wait for
 *     the nodes, so a node crash after close loses nothing that close
 *     reported written; write errors such as ENOSPC come back from
 *     close or fsync (or a later write), as on NFS, and a file cut short
 *     by a failed write may show zeros where the kernel's size says data
 *     is until its attributes time out.  --sync-writes opens the handles
 *     O_DSYNC in libebb instead (each WRITE waits, its error comes from
 *     write itself).  The page cache still serves re-reads and
 *     mmap (shared writable mmap works: dirty pages go out at msync or
 *     munmap/close).  FUSE_CAP_AUTO_INVAL_DATA drops cached pages when a
 *     getattr shows another size or mtime.
 *   - Writeback mode (--cache writeback, opt-in per job): the kernel's
 *     writeback cache gathers write(2) calls in pages and sends them at
 *     its pace, at the latest at FLUSH; it keeps its own size and mtime of
 *     a cached regular file and ignores ours.  So itable.c remembers the
 *     size the kernel's inode holds (from our entry replies, the WRITEs
 *     and truncates it sends), and when bbd says another size and no
 *     descriptor here holds the file, the entry reply carries a new
 *     generation: the kernel drops its inode and builds one from bbd's
 *     attributes.  An OPEN that finds the kernel's size out of date
 *     answers ESTALE; the kernel looks the name up again (LOOKUP_REVAL:
 *     the renewal) and retries once.  The kernel reads pages it fills
 *     partly, so write-only opens are made O_RDWR, and it places O_APPEND
 *     writes itself.  Pages are written back whole: two nodes writing
 *     one file at once can overwrite each other's bytes (docs/
 *     semantics.md), hence opt-in.  noflush is not used there: FLUSH is
 *     when the kernel writes dirty pages back.  A hard-linked file is
 *     also renewed when another node changed its link count (the kernel
 *     keeps its ctime too).  Locks: an unlock makes the kernel write the
 *     file's dirty pages back first, a granted lock raises the kernel's
 *     size of a file another node grew (locks.c).
 *   - Read-only descriptors reply noflush: their close sends no FLUSH.
 *   - Unlink (or rename over) a file that is open on this node: the name
 *     goes at once, the data stays until the last close here (libebb
 *     defers the REMOVE), and fstat() on it still answers (nlink 0).  If
 *     the file is open only on ANOTHER node, its data is removed at once
 *     and that node's reads see zeros past what its page cache holds.
 *   - Open racing a replacement on this node (write tmp; rename(tmp,
 *     name) while a reader opens name): the kernel resolves name to an
 *     inode from its dcache and only then sends OPEN(ino), so the name may
 *     hold a newer inode by the time OPEN arrives, and ino's data may be
 *     being removed.  OPEN therefore opens ino itself, never what the name
 *     holds now (ebb_open_ino): libebb counts ino as open BEFORE it looks
 *     the name up, so a rename/unlink here that removes the name later
 *     sees it open and defers the data removal.  If the lookup still finds
 *     ino, it is an ordinary open.  If the name went after the pin, ino is
 *     served as the orphan it now is (its attributes from the removal's
 *     reply, nlink 0, the whole old data): the open is ordered just before
 *     the rename.  If the name went before the pin (or on another node),
 *     ino's data may be gone: ESTALE, never a half-removed file.  The
 *     kernel retries an open that fails with ESTALE once, with
 *     LOOKUP_REVAL, which makes it LOOKUP the name afresh whatever
 *     entry_timeout says, and opens what the name holds now: the open is
 *     ordered after the rename.  Only a second replacement landing in the
 *     microseconds between that LOOKUP's reply and its OPEN can still make
 *     open(2) fail with ESTALE.  No notify_inval_entry is needed (nor
 *     possible from inside RENAME/UNLINK: the kernel holds the directory
 *     lock it would take): the kernel updates its own dcache when our
 *     reply to a local rename/unlink returns, and revalidates by itself on
 *     ESTALE.
 *   - utimens() after writes on a still-open file wins: libebb publishes
 *     the writes' size and mtime before the SETATTR, so the close that
 *     follows does not put the write time back.
 *   - Directory times: after a create, mkdir, mknod, symlink, unlink,
 *     rmdir or rename (both parents) the parent's mtime/ctime follow:
 *     _touch notes the change, dirtimes.c sends the directory's own dentry
 *     node a DIR_TOUCH later (coalesced per directory, off this request's
 *     path) and lays the time over this node's replies for the directory
 *     until then (dt_overlay); an explicit utimes of its mtime drops what
 *     is pending (dt_cancel).
 *   - Locks (fcntl POSIX and OFD, flock) are cluster-wide: held by the
 *     inode's home node (locks.c, bbd/bbd_lock.c); FLUSH and RELEASE give
 *     back what a closing process or file description held.
 *   - Extended attributes: user.* and trusted.* are stored with the inode
 *     on its home node (libebb's ebb_*xattr_ino, bbd_xattr.c), so they
 *     follow renames and links and are the same from every node at once
 *     (no cache).  The kernel checks who may set what (user.* on regular
 *     files and directories, trusted.* for CAP_SYS_ADMIN, read or write
 *     permission); a list shows trusted.* to root only, as ext4's.
 *     security.* and system.* are not stored: a get is ENODATA at once (the
 *     kernel asks for security.capability before every write), a set
 *     EOPNOTSUPP.
 *   - Hard links (docs/internals/hardlinks.md): LINK replies the entry
 *     (nlink from the inode record).  The inode table keeps one name per
 *     inode, the last one looked up; when that name goes, getattr and
 *     setattr go by number to the record (ebb_stat_ino, ebb_setattr_ino),
 *     open answers ESTALE and the kernel looks up the name it used again
 *     (which re-keys the inode).
 *   - mknod makes FIFOs, sockets (bind(2)), devices and regular files
 *     (ebb_mknodat); the kernel serves FIFO opens and socket connects
 *     itself, on this node only, and the mount is nodev (opening a device
 *     node gives EACCES).  A device's number travels in its size.
 *
 * Who may use the mount: every local user, as on a local file system.
 * bbd mounts with allow_other,default_permissions (and nosuid,nodev), so
 * the kernel checks every request against the real caller before it
 * reaches us: mode bits, owner, group and supplementary groups, the
 * sticky bit, chmod/chown/utimes's owner and root rules (EPERM vs
 * EACCES).  The job's privacy is the root directory's: bbd creates it
 * 0700, owned by the job's user, so nobody else gets in unless that user
 * opens it.  ebb-fuse runs as the instance's owner and so passes bbd's
 * checks for everything (bbd lets the owner name any owner and change any
 * attribute in its own instance: docs/security.md); each create names
 * its caller's uid and gid in the CREATE/MKDIR/SYMLINK itself (the
 * *at_owner calls, no SETATTR after it), with the group and S_ISGID of a
 * setgid parent directory (_new_owner), which needs the parent's mode and
 * group: the inode table keeps them from the attributes replied.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* RENAME_NOREPLACE (glibc >= 2.28) */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fuse_ops.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

#define FZ_TIMEOUT 1.0
#define FZ_DOTS 2                  /* "." and ".." lead every listing */
#define FZ_XATTR_LIST_MAX 65536    /* XATTR_LIST_MAX: the longest name list */

struct fz_dir {
	pthread_mutex_t lock;
	struct ebb_dirent *ents;   /* protected by lock; [0], [1] = . and .. */
	size_t n, cap;
	bool loaded;
};

static struct fz *_fz(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Directory dir had an entry created, removed or renamed just now: its
 * times follow (dirtimes.c; before the reply, so a stat after it sees
 * them). */
static void _touch(fuse_req_t req, uint64_t dir)
{
	dt_changed(&_fz(req)->dt, dir, dt_now_ns());
}

static int _err(void)
{
	return errno ? errno : EIO;
}

static void _to_stat(const struct ebb_stat *e, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = e->ino;
	st->st_mode = e->mode;
	st->st_nlink = e->nlink;
	st->st_uid = e->uid;
	st->st_gid = e->gid;
	st->st_size = (off_t)e->size;
	if (S_ISCHR(e->mode) || S_ISBLK(e->mode)) {
		st->st_rdev = ebb_stat_rdev(e);
		st->st_size = 0;
	}
	st->st_blocks = (blkcnt_t)e->blocks;
	st->st_blksize = e->blksize;
	st->st_atim = e->atime;
	st->st_mtim = e->mtime;
	st->st_ctim = e->ctime;
}

/* gen: 0 unless writeback mode renews the kernel's inode (itab_entry);
 * ebb never reuses an inode number. */
static void _entry(const struct ebb_stat *e, uint64_t gen,
		   struct fuse_entry_param *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->ino = e->ino;
	ep->generation = gen;
	ep->attr_timeout = FZ_TIMEOUT;
	ep->entry_timeout = FZ_TIMEOUT;
	_to_stat(e, &ep->attr);
}

/* Reply an entry and count the kernel's new reference. */
static void _reply_entry(fuse_req_t req, uint64_t parent, const char *name,
			 const struct ebb_stat *st)
{
	struct fuse_entry_param ep;
	struct ebb_stat o = *st;
	uint64_t gen;

	if (itab_entry(&_fz(req)->itab, parent, name, st, _fz(req)->wb,
		       &gen) != 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	dt_overlay(&_fz(req)->dt, &o);
	_entry(&o, gen, &ep);
	if (fuse_reply_entry(req, &ep) != 0)
		itab_forget(&_fz(req)->itab, st->ino, 1);
}

/* The owner of what req creates in directory parent: its caller's uid
 * and gid, named in the create itself (bbd lets the instance's owner, as
 * which ebb-fuse runs, name anyone; root too).  A directory with S_ISGID
 * passes its group, and to a new subdirectory (*mode's type) its S_ISGID
 * too, as the kernel does for local file systems.  The parent's mode and group
 * come from the attributes last replied for it (itable.c); only when
 * they are unknown does this cost a LOOKUP of the parent. */
static void _new_owner(fuse_req_t req, uint64_t parent, mode_t *mode,
		       uid_t *uid, gid_t *gid)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct fz *fz = _fz(req);
	char name[FZ_NAME_MAX + 1];
	struct ebb_stat pst;
	uint64_t pp;
	uint32_t pmode, pgid;

	*uid = c->uid;
	*gid = c->gid;
	if (itab_dirattr(&fz->itab, parent, &pmode, &pgid) != 0) {
		if (itab_key(&fz->itab, parent, &pp, name) != 0 ||
		    ebb_lookupat(fz->h, pp, name, &pst) != 0 ||
		    pst.ino != parent)
			return; /* the create will fail or race: plain owner */
		itab_attr(&fz->itab, &pst);
		pmode = pst.mode;
		pgid = pst.gid;
	}
	if (!(pmode & S_ISGID))
		return;
	*gid = pgid;
	if (S_ISDIR(*mode))
		*mode |= S_ISGID;
}

/* ebb_openat_owner for req's caller (_new_owner). */
static ebb_file_t *_openat_for(fuse_req_t req, uint64_t parent,
			       const char *name, int flags, mode_t mode,
			       struct ebb_stat *st)
{
	mode_t m = S_IFREG | mode;
	uid_t uid;
	gid_t gid;

	_new_owner(req, parent, &m, &uid, &gid);
	return ebb_openat_owner(_fz(req)->h, parent, name, flags, mode, uid,
				gid, st);
}

/* ---- the connection -------------------------------------------------------- */

static void _init(void *userdata, struct fuse_conn_info *conn)
{
	struct fz *fz = userdata;

	/* 1 MiB requests: one stripe per WRITE/READ with the default stripe
	 * size (libfuse turns max_write into the kernel's max_pages). */
	conn->max_write = FZ_MAX_IO;
	conn->max_read = 0;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* As much as the kernel offers (read_ahead_kb at mount time, which
	 * main.c raises when it may): INIT can only lower it. */
	conn->max_readahead = UINT_MAX;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Writeback mode (main.c --cache writeback; docs/semantics.md): the
	 * kernel gathers small writes into pages and sends them later, in
	 * large WRITEs. */
	if (!(conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		fz->wb = false;
	if (fz->wb) {
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
		fprintf(stderr, "ebb-fuse: the kernel's writeback cache is on\n");
	}
	else
		conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	/* READ replies straight from the object files of this node's bbd
	 * (_read): the pages go from the page cache to the kernel's FUSE
	 * request through a pipe, without ebb-fuse's pread + writev copies.
	 * Not SPLICE_MOVE: the kernel could then steal the object's page
	 * cache pages into this file's. */
	if (fz->splice && (conn->capable & FUSE_CAP_SPLICE_WRITE))
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	else
		fz->splice = false;
	/* Locks go to the inodes' home nodes (locks.c).  With --local-locks
	 * the kernel keeps them, per node, as before issue 10: libfuse asks
	 * for both by default once the lock ops exist, so clear them. */
	if (conn->capable & FUSE_CAP_POSIX_LOCKS)
		conn->want |= FUSE_CAP_POSIX_LOCKS;
	if (conn->capable & FUSE_CAP_FLOCK_LOCKS)
		conn->want |= FUSE_CAP_FLOCK_LOCKS;
	if (fz->local_locks)
		conn->want &= ~(unsigned)(FUSE_CAP_POSIX_LOCKS |
					  FUSE_CAP_FLOCK_LOCKS);
	/* Many reads in flight: every node serves its stripes at once. */
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->time_gran = 1;
}

/* ---- extended attributes ---------------------------------------------------- */

/* security.* and system.* are not stored (bbd_xattr.c): a get of one is
 * answered here, without a round trip.  The kernel asks for
 * security.capability before a write(2) to a file whose inode it has not
 * marked "no privileges to kill" (S_NOSEC): FUSE allows that mark only
 * with FUSE_HANDLE_KILLPRIV_V2, which killpriv.c negotiates, so it asks
 * once per inode; without it (an older kernel) it asks before EVERY
 * write, and that get must cost no more than the FUSE request.  POSIX
 * ACLs (system.posix_acl_*) are neither stored nor enforced: ebb-fuse does
 * not ask for FUSE_POSIX_ACL; the mode bits are the permissions. */
atomic_ulong fz_unstored_gets;

static bool _xattr_unstored(const char *name)
{
	return strncmp(name, "security.", 9) == 0 ||
	       strncmp(name, "system.", 7) == 0;
}

static void _setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		      const char *value, size_t size, int flags)
{
	if (ebb_setxattr_ino(_fz(req)->h, ino, name, value, size, flags) != 0)
		fuse_reply_err(req, _err());
	else
		fuse_reply_err(req, 0);
}

static void _getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		      size_t size)
{
	char *buf = NULL;
	ssize_t n;

	if (_xattr_unstored(name)) {
		atomic_fetch_add_explicit(&fz_unstored_gets, 1,
					  memory_order_relaxed);
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (size && !(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = ebb_getxattr_ino(_fz(req)->h, ino, name, buf, size);
	if (n < 0)
		fuse_reply_err(req, _err());
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/* The list as the caller may see it: trusted.* only for root, as ext4
 * lists them only to CAP_SYS_ADMIN (the kernel does not filter a FUSE
 * list).  So the whole list is fetched, then filtered and sized. */
static void _listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	bool root = fuse_req_ctx(req)->uid == 0;
	char *buf;
	size_t n = 0;
	ssize_t got;

	if (!(buf = malloc(FZ_XATTR_LIST_MAX))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	got = ebb_listxattr_ino(_fz(req)->h, ino, buf, FZ_XATTR_LIST_MAX);
	if (got < 0) {
		fuse_reply_err(req, _err());
		goto out;
	}
	for (size_t i = 0; i < (size_t)got;) {
		size_t l = strnlen(buf + i, (size_t)got - i) + 1;

		if (root || strncmp(buf + i, "trusted.", 8) != 0) {
			memmove(buf + n, buf + i, l);
			n += l;
		}
		i += l;
	}
	if (size == 0)
		fuse_reply_xattr(req, n);
	else if (n > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, n);
out:
	free(buf);
}

static void _removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	if (ebb_removexattr_ino(_fz(req)->h, ino, name) != 0)
		fuse_reply_err(req, _err());
	else
		fuse_reply_err(req, 0);
}

/* ---- names ------------------------------------------------------------------ */

static void _lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ebb_stat st;

	if (ebb_lookupat(_fz(req)->h, parent, name, &st) != 0) {
		fuse_reply_err(req, _err());
		return;
	}
	_reply_entry(req, parent, name, &st);
}

static void _forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	itab_forget(&_fz(req)->itab, ino, nlookup);
	fuse_reply_none(req);
}

static void _forget_multi(fuse_req_t req, size_t count,
			  struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		itab_forget(&_fz(req)->itab, forgets[i].ino,
			    forgets[i].nlookup);
	fuse_reply_none(req);
}

/* The dentry key of ino, or an errno. */
static int _key(fuse_req_t req, fuse_ino_t ino, uint64_t *parent,
		char name[FZ_NAME_MAX + 1])
{
	return itab_key(&_fz(req)->itab, ino, parent, name);
}

static void _getattr(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	char name[FZ_NAME_MAX + 1];
	struct ebb_stat es;
	struct stat st;
	uint64_t parent;
	int rc;

	if (fi && fi->fh) {
		rc = ebb_fstat((ebb_file_t *)(uintptr_t)fi->fh, &es) ? _err() : 0;
	} else if ((rc = _key(req, ino, &parent, name)) == 0) {
		if (ebb_lookupat(_fz(req)->h, parent, name, &es) != 0)
			rc = _err();
		else if (es.ino != ino)
			rc = ESTALE; /* another node replaced it */
	}
	/* fstat(2) comes without a file handle: an open file whose name was
	 * removed or replaced still has attributes through its handles; a
	 * hard-linked file whose name here went, through its record. */
	if ((rc == ENOENT || rc == ESTALE) &&
	    (ebb_fstat_ino(_fz(req)->h, ino, &es) == 0 ||
	     ebb_stat_ino(_fz(req)->h, ino, &es) == 0))
		rc = 0;
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	if (!_fz(req)->wb && S_ISREG(es.mode))
		itab_ksize(&_fz(req)->itab, ino, es.size);
	itab_attr(&_fz(req)->itab, &es);
	dt_overlay(&_fz(req)->dt, &es);
	_to_stat(&es, &st);
	fuse_reply_attr(req, &st, FZ_TIMEOUT);
}

/* With FUSE_HANDLE_KILLPRIV_V2 (killpriv.c) the kernel leaves killing
 * setuid/setgid to us: as Linux, a chown of a non-directory drops S_ISUID,
 * and S_ISGID if group-executable; so does a truncate the kernel flags
 * (FATTR_KILL_SUIDGID: a caller without CAP_FSETID).  *out is updated. */
static int _kill_suidgid(fuse_req_t req, fuse_ino_t ino, int to_set,
			 struct ebb_stat *out)
{
	char name[FZ_NAME_MAX + 1];
	struct ebb_stat in = {0};
	uint64_t parent;
	mode_t m = out->mode & 07777;

	if (!fz_killpriv_granted() || S_ISDIR(out->mode) ||
	    (to_set & FUSE_SET_ATTR_MODE) ||
	    !(to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
			FUSE_SET_ATTR_KILL_SUID)))
		return 0;
	m &= ~(mode_t)S_ISUID;
	if ((m & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		m &= ~(mode_t)S_ISGID;
	if (m == (out->mode & 07777) || _key(req, ino, &parent, name) != 0)
		return 0;
	in.mode = m;
	return ebb_setattrat(_fz(req)->h, parent, name, EBB_SET_MODE, &in, out)
		       ? _err() : 0;
}

static void _setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		     int to_set, struct fuse_file_info *fi)
{
	char name[FZ_NAME_MAX + 1];
	struct ebb_stat in = {0}, out;
	struct stat st;
	uint64_t parent;
	unsigned mask = 0;
	int rc = 0;

	if (to_set & FUSE_SET_ATTR_MODE)
		mask |= EBB_SET_MODE;
	if (to_set & FUSE_SET_ATTR_UID)
		mask |= EBB_SET_UID;
	if (to_set & FUSE_SET_ATTR_GID)
		mask |= EBB_SET_GID;
	if (to_set & FUSE_SET_ATTR_SIZE)
		mask |= EBB_SET_SIZE;
	if (to_set & FUSE_SET_ATTR_ATIME)
		mask |= (to_set & FUSE_SET_ATTR_ATIME_NOW) ? EBB_SET_ATIME_NOW :
			EBB_SET_ATIME;
	if (to_set & FUSE_SET_ATTR_MTIME)
		mask |= (to_set & FUSE_SET_ATTR_MTIME_NOW) ? EBB_SET_MTIME_NOW :
			EBB_SET_MTIME;
	in.mode = attr->st_mode;
	in.uid = attr->st_uid;
	in.gid = attr->st_gid;
	in.size = (uint64_t)attr->st_size;
	in.atime = attr->st_atim;
	in.mtime = attr->st_mtim;
	if ((mask & EBB_SET_SIZE) && fi && fi->fh) {
		/* ftruncate: through the handle, which knows the inode even
		 * if renamed and keeps its size in step. */
		if (ebb_ftruncate((ebb_file_t *)(uintptr_t)fi->fh,
				  (off_t)in.size) != 0) {
			fuse_reply_err(req, _err());
			return;
		}
		mask &= ~EBB_SET_SIZE;
	}
	/* An explicit mtime of a directory wins over the touches of its
	 * earlier changes still pending here (dirtimes.c). */
	if (mask & (EBB_SET_MTIME | EBB_SET_MTIME_NOW))
		dt_cancel(&_fz(req)->dt, ino);
	if (mask) {
		if ((rc = _key(req, ino, &parent, name)) == 0 &&
		    ebb_setattrat(_fz(req)->h, parent, name, mask, &in, &out))
			rc = _err();
		if (rc == 0 && out.ino != ino)
			rc = ESTALE;
		/* The name this table knows went; the inode may have others
		 * (hard links): by number, at its record. */
		if ((rc == ESTALE || rc == ENOENT) &&
		    ebb_setattr_ino(_fz(req)->h, ino, mask, &in, &out) == 0)
			rc = 0;
	}
	if (rc == 0 && fi && fi->fh)
		rc = ebb_fstat((ebb_file_t *)(uintptr_t)fi->fh, &out) ? _err()
								   : 0;
	else if (rc == 0 && !mask && (rc = _key(req, ino, &parent, name)) == 0
		 && ebb_lookupat(_fz(req)->h, parent, name, &out) != 0)
		rc = _err();
	/* Writeback mode: the kernel writes the times it keeps back by
	 * itself, also for a file whose name this node removed or replaced
	 * while it was open (at its close, after a rename over it).  Such a
	 * file has no name to set them on: they are dropped, not failed (a
	 * failed SETATTR makes close(2) fail with EIO). */
	if ((rc == ESTALE || rc == ENOENT) && _fz(req)->wb &&
	    !(mask & ~(unsigned)(EBB_SET_ATIME | EBB_SET_MTIME)) &&
	    (ebb_fstat_ino(_fz(req)->h, ino, &out) == 0 ||
	     itab_kstat(&_fz(req)->itab, ino, &out) == 0))
		rc = 0;
	if (rc == 0)
		rc = _kill_suidgid(req, ino, to_set, &out);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	if (_fz(req)->wb && (to_set & FUSE_SET_ATTR_SIZE))
		itab_sized(&_fz(req)->itab, ino, in.size, false);
	else if (!_fz(req)->wb && S_ISREG(out.mode))
		itab_ksize(&_fz(req)->itab, ino, out.size);
	itab_attr(&_fz(req)->itab, &out);
	dt_overlay(&_fz(req)->dt, &out);
	_to_stat(&out, &st);
	fuse_reply_attr(req, &st, FZ_TIMEOUT);
}

static void _readlink(fuse_req_t req, fuse_ino_t ino)
{
	char name[FZ_NAME_MAX + 1], buf[PATH_MAX];
	uint64_t parent;
	ssize_t n;
	int rc;

	if ((rc = _key(req, ino, &parent, name)) != 0) {
		fuse_reply_err(req, rc);
		return;
	}
	n = ebb_readlinkat(_fz(req)->h, parent, name, buf, sizeof(buf) - 1);
	if (n < 0) {
		fuse_reply_err(req, _err());
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

static void _mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		   mode_t mode)
{
	struct ebb_stat st;
	mode_t m = S_IFDIR | (mode & 07777);
	uid_t uid;
	gid_t gid;

	_new_owner(req, parent, &m, &uid, &gid);
	if (ebb_mkdirat_owner(_fz(req)->h, parent, name, m & 07777, uid, gid,
			      &st) != 0) {
		fuse_reply_err(req, _err());
		return;
	}
	_touch(req, parent);
	_reply_entry(req, parent, name, &st);
}

static void _symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		     const char *name)
{
	struct ebb_stat st;
	mode_t m = S_IFLNK | 0777;
	uid_t uid;
	gid_t gid;

	_new_owner(req, parent, &m, &uid, &gid);
	if (ebb_symlinkat_owner(_fz(req)->h, link, parent, name, uid, gid,
				&st) != 0) {
		fuse_reply_err(req, _err());
		return;
	}
	_touch(req, parent);
	_reply_entry(req, parent, name, &st);
}

/* mknod(2), FIFOs and sockets (bind(2) of a UNIX socket) included: the
 * node stores the type and a device's number; the kernel serves FIFOs and
 * sockets itself, and the mount's nodev keeps devices closed. */
static void _mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		   mode_t mode, dev_t rdev)
{
	struct ebb_stat st;
	uid_t uid;
	gid_t gid;

	_new_owner(req, parent, &mode, &uid, &gid);
	if (ebb_mknodat_owner(_fz(req)->h, parent, name, mode, rdev, uid, gid,
			      &st) != 0) {
		fuse_reply_err(req, _err());
		return;
	}
	_touch(req, parent);
	_reply_entry(req, parent, name, &st);
}

/* link(2): the kernel refused directories already.  The source is the
 * dentry the inode table knows for ino; if that name went (unlinked or
 * replaced here) while other names remain, by number (its record).  The
 * entry reply gives the kernel's inode the new nlink. */
static void _link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		  const char *newname)
{
	char name[FZ_NAME_MAX + 1];
	struct ebb_stat st;
	uint64_t parent;
	int rc;

	if ((rc = _key(req, ino, &parent, name)) == 0) {
		if (ebb_linkat(_fz(req)->h, parent, name, newparent, newname,
			       &st) != 0) {
			rc = _err();
		} else if (st.ino != ino) {
			/* Another node replaced the name: not our inode. */
			(void)ebb_unlinkat(_fz(req)->h, newparent, newname);
			rc = ESTALE;
		}
	}
	if ((rc == ESTALE || rc == ENOENT) &&
	    ebb_link_ino(_fz(req)->h, ino, newparent, newname, &st) == 0)
		rc = 0;
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	/* The kernel takes the new count from the reply and sets its own
	 * ctime: no renewal for this change of nlink (itable.c). */
	if (_fz(req)->wb)
		itab_knlink(&_fz(req)->itab, ino, st.nlink);
	_touch(req, newparent);
	_reply_entry(req, newparent, newname, &st);
}

static void _unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (ebb_unlinkat(_fz(req)->h, parent, name) != 0) {
		fuse_reply_err(req, _err());
		return;
	}
	itab_unlinked(&_fz(req)->itab, parent, name);
	_touch(req, parent);
	fuse_reply_err(req, 0);
}

static void _rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (ebb_rmdirat(_fz(req)->h, parent, name) != 0) {
		fuse_reply_err(req, _err());
		return;
	}
	itab_unlinked(&_fz(req)->itab, parent, name);
	_touch(req, parent);
	fuse_reply_err(req, 0);
}

static void _rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		    fuse_ino_t newparent, const char *newname,
		    unsigned int flags)
{
	struct fz *fz = _fz(req);
	uint64_t *anc = NULL;
	int n, rc = 0;

	if (flags & ~(unsigned)RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL); /* RENAME_EXCHANGE, WHITEOUT */
		return;
	}
	if ((n = itab_ancestry(&fz->itab, newparent, &anc)) < 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (ebb_renameat(fz->h, parent, name, newparent, newname,
			 (flags & RENAME_NOREPLACE) ? EBB_RENAME_NOREPLACE : 0,
			 anc, (unsigned)n) != 0)
		rc = _err();
	else {
		itab_renamed(&fz->itab, parent, name, newparent, newname);
		_touch(req, parent);
		if (newparent != parent)
			_touch(req, newparent);
	}
	free(anc);
	fuse_reply_err(req, rc);
}

/* ---- files ------------------------------------------------------------------ */

static void _open_reply(struct fz *fz, struct fuse_file_info *fi,
			ebb_file_t *f)
{
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->keep_cache = 0;        /* close-to-open: drop pages at open */
	fi->direct_io = 0;         /* page cache and mmap work */
	/* A read-only descriptor has nothing to publish at close: no FLUSH
	 * round trip (the kernel ignores this in writeback mode, where it
	 * writes dirty pages back at FLUSH). */
	fi->noflush = !fz->wb && (fi->flags & O_ACCMODE) == O_RDONLY &&
		      !fz_locks_used(&fz->locks); /* see locks.c */
}

/* The flags libebb opens with.  Writes go through libebb's write-behind,
 * which gathers a descriptor's consecutive small WRITEs into one request
 * (one RPC per 4 KiB write(2) capped the mount at 35-70 MB/s) and reports
 * errors at FLUSH/FSYNC, unless --sync-writes asks for O_DSYNC (a WRITE
 * is answered once the nodes have it, its error comes back from
 * write(2)); in writeback mode errors come at FLUSH/FSYNC anyway.  A
 * program's own O_DSYNC/O_SYNC open stays synchronous.  In
 * writeback mode the kernel reads pages it is about to fill partly (so a
 * write-only descriptor must read) and places O_APPEND writes itself, at
 * the size it knows (libfuse's advice; docs/semantics.md says what that
 * costs between nodes). */
static int _ebb_flags(const struct fz *fz, int flags)
{
	if (fz->sync_writes && !fz->wb)
		flags |= O_DSYNC;
	if (!fz->wb)
		return flags;
	flags &= ~O_APPEND;
	if ((flags & O_ACCMODE) == O_WRONLY)
		flags = (flags & ~O_ACCMODE) | O_RDWR;
	return flags;
}

/* _ebb_flags with the caller's own access mode: for a file the caller
 * may write but not read (mode 0200). */
static int _wo(const struct fz *fz, int flags)
{
	return (_ebb_flags(fz, flags) & ~O_ACCMODE) | (flags & O_ACCMODE);
}

/* _openat_for with _ebb_flags, then _wo if reading is not allowed. */
static ebb_file_t *_open_at(fuse_req_t req, uint64_t parent, const char *name,
			    int flags, mode_t mode, struct ebb_stat *st)
{
	struct fz *fz = _fz(req);
	ebb_file_t *f = _openat_for(req, parent, name, _ebb_flags(fz, flags),
				    mode, st);

	if (!f && errno == EACCES && _ebb_flags(fz, flags) != _wo(fz, flags))
		f = _openat_for(req, parent, name, _wo(fz, flags), mode, st);
	return f;
}

static void _open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fz *fz = _fz(req);
	char name[FZ_NAME_MAX + 1];
	struct ebb_stat st;
	uint64_t parent = 0;
	ebb_file_t *f;
	bool inval;
	int rc, flags;

	/* ESTALE: this node removed or replaced its name; it may still be
	 * open here (then it is served as the orphan it is). */
	if ((rc = _key(req, ino, &parent, name)) != 0 && rc != ESTALE) {
		fuse_reply_err(req, rc);
		return;
	}
	/* The kernel resolved the name to ino before this OPEN: open ino
	 * itself, never what the name holds now (see DESIGN). */
	flags = fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY);
	f = ebb_open_ino(fz->h, ino, parent, rc == 0 ? name : NULL,
			 _ebb_flags(fz, flags), &st);
	if (!f && errno == EACCES && _ebb_flags(fz, flags) != _wo(fz, flags))
		f = ebb_open_ino(fz->h, ino, parent, rc == 0 ? name : NULL,
				 _wo(fz, flags), &st);
	if (!f) {
		fuse_reply_err(req, _err());
		return;
	}
	if ((rc = itab_open(&fz->itab, ino, &st, fz->wb, &inval)) != 0) {
		/* Writeback mode: the kernel's inode is out of date; it
		 * looks the name up again (LOOKUP_REVAL) and opens anew. */
		ebb_close(f);
		fuse_reply_err(req, rc);
		return;
	}
	/* Close-to-open: another node changed the size within the kernel's
	 * attribute timeout; a read past the size the kernel holds would
	 * stop there (it asks again only once its attributes expire), so
	 * they expire now.  Attributes only (offset -1): no page is
	 * touched and no inode lock taken, so this is safe inside OPEN;
	 * the pages go anyway (no keep_cache). */
	if (inval)
		fuse_lowlevel_notify_inval_inode(fz->se, ino, -1, 0);
	_open_reply(fz, fi, f);
	if (fuse_reply_open(req, fi) != 0) {
		itab_release(&fz->itab, ino);
		ebb_close(f); /* interrupted: no release will come */
	}
}

static void _create(fuse_req_t req, fuse_ino_t parent, const char *name,
		    mode_t mode, struct fuse_file_info *fi)
{
	struct fz *fz = _fz(req);
	struct fuse_entry_param ep;
	struct ebb_stat st;
	uint64_t gen;
	ebb_file_t *f;
	bool inval;

	f = _open_at(req, parent, name, fi->flags | O_CREAT, mode & 07777,
		     &st);
	if (!f) {
		fuse_reply_err(req, _err());
		return;
	}
	if (itab_entry(&fz->itab, parent, name, &st, fz->wb, &gen) != 0) {
		ebb_close(f);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* O_CREAT of an existing file takes this path too: it is opened
	 * whatever the kernel had, as its inode is renewed (gen); the
	 * reply's attributes are the kernel's (nothing to invalidate). */
	(void)itab_open(&fz->itab, st.ino, &st, false, &inval);
	_touch(req, parent);
	_entry(&st, gen, &ep);
	_open_reply(fz, fi, f);
	if (fuse_reply_create(req, &ep, fi) != 0) {
		itab_release(&fz->itab, st.ino);
		itab_forget(&fz->itab, st.ino, 1);
		ebb_close(f);
	}
}

/* Answer a READ from the object files that hold the range, if bbds on
 * this node hold all of it (ebb_pread_fd, a piece per stripe): libfuse
 * splices them into the reply.  false: not answered, read the usual way.
 * The reply may only be short at the end of the file (the kernel takes a
 * short READ for the end). */
static bool _read_splice(fuse_req_t req, uint64_t fh, size_t size,
			 off_t off)
{
	ebb_file_t *f = (ebb_file_t *)(uintptr_t)fh;
	struct fuse_bufvec *bv;
	size_t done = 0;

	bv = malloc(sizeof(*bv) + (FZ_SPLICE_PIECES - 1) * sizeof(bv->buf[0]));
	if (!bv)
		return false;
	*bv = (struct fuse_bufvec)FUSE_BUFVEC_INIT(0);
	bv->count = 0;
	while (done < size) {
		struct fuse_buf *b = &bv->buf[bv->count];
		off_t pos;
		ssize_t n;
		int fd;

		if (bv->count == FZ_SPLICE_PIECES) {
			free(bv);
			return false;
		}
		n = ebb_pread_fd(f, size - done, off + (off_t)done, &fd, &pos);
		if (n < 0) {
			free(bv);
			return false;
		}
		if (n == 0)
			break; /* the end of the file */
		*b = (struct fuse_buf){
			.size = (size_t)n,
			.flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK,
			.fd = fd,
			.pos = pos,
		};
		bv->count++;
		done += (size_t)n;
	}
	/* Whatever happens (libfuse copies if it cannot splice), req is
	 * answered: an error is one a copied reply would have met too. */
	if (bv->count)
		fuse_reply_data(req, bv, 0);
	else
		fuse_reply_buf(req, NULL, 0);
	free(bv);
	return true;
}

static void _read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	char *buf;
	ssize_t n;

	(void)ino;
	if (_fz(req)->splice && size >= FZ_SPLICE_MIN &&
	    _read_splice(req, fi->fh, size, off))
		return;
	if (!(buf = malloc(size ? size : 1))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = ebb_pread((ebb_file_t *)(uintptr_t)fi->fh, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, _err());
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void _write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		   size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	n = ebb_pwrite((ebb_file_t *)(uintptr_t)fi->fh, buf, size, off);
	if (n < 0) {
		fuse_reply_err(req, _err());
		return;
	}
	/* The kernel's size is at least this now (itable.c). */
	itab_sized(&_fz(req)->itab, ino, (uint64_t)off + (uint64_t)n, true);
	fuse_reply_write(req, (size_t)n);
}

static void _flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int rc = 0;

	/* No _denied(): a close must always complete.  The data first,
	 * then the locks (another node's next lock reads it). */
	if (ebb_flush((ebb_file_t *)(uintptr_t)fi->fh) != 0)
		rc = _err();
	fz_locks_flush(_fz(req), ino, fi->lock_owner);
	fuse_reply_err(req, rc);
}

static void _release(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	itab_release(&_fz(req)->itab, ino);
	fz_locks_release(_fz(req), ino, fi->fh, fi->flock_release,
			 fi->lock_owner);
	/* The error, if any, was reported by flush; release has no one to
	 * tell. */
	(void)ebb_close((ebb_file_t *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void _fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		   struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	if (ebb_fsync((ebb_file_t *)(uintptr_t)fi->fh) != 0)
		fuse_reply_err(req, _err());
	else
		fuse_reply_err(req, 0);
}

/* ---- directories ------------------------------------------------------------ */

static void _dir_free(struct fz_dir *d)
{
	pthread_mutex_destroy(&d->lock);
	free(d->ents);
	free(d);
}

static int _dir_push_locked(struct fz_dir *d, const struct ebb_dirent *e)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct ebb_dirent *ne = realloc(d->ents, cap * sizeof(*ne));
		if (!ne)
			return ENOMEM;
		d->ents = ne;
		d->cap = cap;
	}
	d->ents[d->n++] = *e;
	return 0;
}

/* (Re)read the whole listing: offsets are indexes into it, stable for
 * this handle until the next rewind to 0. */
static int _dir_load_locked(struct fz *fz, struct fz_dir *d, fuse_ino_t ino)
{
	struct ebb_dirent e;
	ebb_dir_t *ed;
	int rc = 0, r;

	d->n = 0;
	d->loaded = false;
	memset(&e, 0, sizeof(e));
	e.mode = S_IFDIR;
	e.ino = ino;
	strcpy(e.name, ".");
	if ((rc = _dir_push_locked(d, &e)) != 0)
		return rc;
	e.ino = itab_parent(&fz->itab, ino);
	strcpy(e.name, "..");
	if ((rc = _dir_push_locked(d, &e)) != 0)
		return rc;
	if (!(ed = ebb_opendir_ino(fz->h, ino)))
		return _err();
	while ((r = ebb_readdir(ed, &e)) == 1)
		if ((rc = _dir_push_locked(d, &e)) != 0)
			break;
	if (r < 0 && rc == 0)
		rc = _err();
	ebb_closedir(ed);
	d->loaded = rc == 0;
	return rc;
}

static void _opendir(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	struct fz_dir *d;

	(void)ino;
	if (!(d = calloc(1, sizeof(*d)))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&d->lock, NULL);
	fi->fh = (uint64_t)(uintptr_t)d;
	fi->cache_readdir = 0;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) != 0)
		_dir_free(d);
}

static void _readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size,
			    off_t off, struct fuse_file_info *fi, bool plus)
{
	struct fz *fz = _fz(req);
	struct fz_dir *d = (struct fz_dir *)(uintptr_t)fi->fh;
	size_t pos = 0;
	char *buf;
	int rc = 0;

	if (!(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (off == 0 || !d->loaded)
		rc = _dir_load_locked(fz, d, ino);
	for (size_t i = (size_t)off; rc == 0 && i < d->n; i++) {
		const struct ebb_dirent *e = &d->ents[i];
		size_t need;

		if (plus) {
			struct fuse_entry_param ep;

			if (i < FZ_DOTS) {
				/* The kernel takes no reference for these:
				 * ino 0 = attributes not given. */
				memset(&ep, 0, sizeof(ep));
				ep.attr.st_ino = e->ino;
				ep.attr.st_mode = S_IFDIR;
			} else {
				uint64_t gen;

				struct ebb_stat o = e->st;

				if (itab_entry(&fz->itab, ino, e->name, &e->st,
					       fz->wb, &gen) != 0) {
					rc = ENOMEM;
					break;
				}
				dt_overlay(&fz->dt, &o);
				_entry(&o, gen, &ep);
			}
			need = fuse_add_direntry_plus(req, buf + pos,
						      size - pos, e->name, &ep,
						      (off_t)i + 1);
			if (need > size - pos) {
				if (i >= FZ_DOTS) /* not sent: no reference */
					itab_forget(&fz->itab, e->ino, 1);
				break;
			}
		} else {
			struct stat st;

			memset(&st, 0, sizeof(st));
			st.st_ino = e->ino;
			st.st_mode = e->mode;
			need = fuse_add_direntry(req, buf + pos, size - pos,
						 e->name, &st, (off_t)i + 1);
			if (need > size - pos)
				break;
		}
		pos += need;
	}
	pthread_mutex_unlock(&d->lock);
	if (rc && pos == 0)
		fuse_reply_err(req, rc);
	else
		fuse_reply_buf(req, buf, pos);
	free(buf);
}

static void _readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	_readdir_common(req, ino, size, off, fi, false);
}

static void _readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			 off_t off, struct fuse_file_info *fi)
{
	_readdir_common(req, ino, size, off, fi, true);
}

static void _releasedir(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	(void)ino;
	_dir_free((struct fz_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void _fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		      struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	/* Namespace changes are applied by the nodes before they reply. */
	fuse_reply_err(req, 0);
}

static void _statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct ebb_statfs es;
	struct statvfs sv;

	(void)ino;
	if (ebb_statfs(_fz(req)->h, &es) != 0) {
		fuse_reply_err(req, _err());
		return;
	}
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = es.bsize;
	sv.f_frsize = es.bsize;
	sv.f_blocks = es.capacity / es.bsize;
	sv.f_bfree = es.free / es.bsize;
	sv.f_bavail = sv.f_bfree;
	/* No inode limit: report the files plus a large free count. */
	sv.f_ffree = 1ull << 32;
	sv.f_files = es.files + sv.f_ffree;
	sv.f_favail = sv.f_ffree;
	sv.f_namemax = es.namemax;
	fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops fz_ops = {
	.init = _init,
	.lookup = _lookup,
	.forget = _forget,
	.forget_multi = _forget_multi,
	.getattr = _getattr,
	.setattr = _setattr,
	.readlink = _readlink,
	.mknod = _mknod,
	.mkdir = _mkdir,
	.unlink = _unlink,
	.rmdir = _rmdir,
	.symlink = _symlink,
	.rename = _rename,
	.link = _link,
	.open = _open,
	.create = _create,
	.read = _read,
	.write = _write,
	.flush = _flush,
	.release = _release,
	.getlk = fz_getlk,
	.setlk = fz_setlk,
	.flock = fz_flock,
	.fsync = _fsync,
	.opendir = _opendir,
	.readdir = _readdir,
	.readdirplus = _readdirplus,
	.releasedir = _releasedir,
	.fsyncdir = _fsyncdir,
	.statfs = _statfs,
	.setxattr = _setxattr,
	.getxattr = _getxattr,
	.listxattr = _listxattr,
	.removexattr = _removexattr,
};
