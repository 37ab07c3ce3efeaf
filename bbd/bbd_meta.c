/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd metadata: the LMDB shard of an instance and the metadata handlers.
 *
 * DESIGN: one LMDB environment per instance, opened MDB_NOSYNC (a commit
 * reaches the page cache only; the syncer thread, FSYNC and SIZE_UPDATE
 * with SYNC call mdb_env_sync) and MDB_NOTLS (a read transaction may be
 * begun on one thread and a request may move between threads).  Two named
 * databases: "dentries", keyed by the 8-byte big-endian parent inode
 * followed by the name bytes, so one directory's entries are contiguous
 * and sorted by name (the READDIR cookie is simply the last name); and
 * "config", holding the instance parameters and the inode counter.  The
 * value of a dentry is the inode's attributes in a small fixed binary
 * layout (host byte order: the shard never leaves this node) followed by
 * the symlink target.  Each handler is one transaction; LMDB serialises
 * writers, so the inode counter and the checks-then-writes of rename need
 * no lock of ours.  Handlers run on worker threads (see
 * docs/internals/threads.md for why that is acceptable).
 *
 * A third database, "inodes", holds the inode records of hard-linked
 * files on their home node (docs/internals/hardlinks.md): keyed by the
 * 8-byte big-endian inode number, the value the same attribute layout with
 * the real nlink.  Each name of such an inode holds a POINTER value instead
 * of attributes (ATTR_POINTER: inode number, parent, type bits), which the
 * handlers reply with PROTO_MODE_LINKED in the mode.
 *
 * MDB_WRITEMAP: a commit writes the dirty pages in place through the map
 * instead of pwrite()ing each (3-4 syscalls a commit, ~10 us of a create
 * or unlink).  LMDB then sizes the file to the whole map, sparse; holes
 * fill as pages are first written, and a store into a hole on a full
 * disk raises SIGBUS instead of failing a write().  So every write
 * transaction first makes sure the file is allocated META_PREALLOC / 2
 * past LMDB's last page (fallocate, in META_PREALLOC steps): a full disk
 * then fails that request with ENOSPC, as a failed pwrite did before, and
 * the file only ever holds at most META_PREALLOC more blocks than used.
 * Durability is unchanged: commits never synced (MDB_NOSYNC), and
 * mdb_env_sync(env, 1) still flushes (msync + fsync of the map).  A
 * system crash between syncs may now also tear the last transactions
 * (LMDB's note on NOSYNC with WRITEMAP); a burst buffer's shard does not
 * outlive its job, and FSYNC and SIZE_UPDATE(SYNC) still sync.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bbd_int.h"
#include "bbd_meta_int.h"
#include "log.h"
#include "placement.h"

#define KEY_MAX (8 + PROTO_MAX_NAME)
/* READDIR stops adding entries before the reply header passes this. */
#define READDIR_MAX_BYTES (60u * 1024 - 256)
/* LMDB file space allocated ahead of use, see DESIGN. */
#define META_PREALLOC (2u * 1024 * 1024)

/* ---- encoding of keys and values ---------------------------------------- */

static size_t _key(uint8_t *k, uint64_t parent, const char *name, size_t len)
{
	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(parent >> (56 - 8 * i));
	if (len) /* an empty msgpack string may come with a NULL pointer */
		memcpy(k + 8, name, len);
	return 8 + len;
}

static uint64_t _key_parent(const MDB_val *k)
{
	const uint8_t *p = k->mv_data;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

#define PUT(p, v) (memcpy((p), &(v), sizeof(v)), (p) += sizeof(v))
#define GET(p, v) (memcpy(&(v), (p), sizeof(v)), (p) += sizeof(v))

size_t meta_attr_pack(uint8_t *buf, const struct proto_attr *a)
{
	uint8_t *p = buf;
	uint32_t tlen = a->target ? a->target_len : 0;

	if (a->mode & PROTO_MODE_LINKED) {
		uint32_t type = a->mode & S_IFMT;

		*p++ = ATTR_POINTER;
		PUT(p, a->ino);
		PUT(p, a->parent);
		PUT(p, type);
		return (size_t)(p - buf);
	}
	*p++ = ATTR_VERSION;
	PUT(p, a->ino);
	PUT(p, a->parent);
	PUT(p, a->mode);
	PUT(p, a->uid);
	PUT(p, a->gid);
	PUT(p, a->nlink);
	PUT(p, a->size);
	PUT(p, a->atime_ns);
	PUT(p, a->mtime_ns);
	PUT(p, a->ctime_ns);
	PUT(p, tlen);
	if (tlen)
		memcpy(p, a->target, tlen);
	return (size_t)(p - buf) + tlen;
}

bool meta_attr_unpack(const MDB_val *v, struct dent *d)
{
	const uint8_t *p = v->mv_data;
	struct proto_attr *a = &d->a;
	uint32_t tlen;

	if (v->mv_size == ATTR_POINTER_SIZE && p[0] == ATTR_POINTER) {
		memset(a, 0, sizeof(*a));
		p++;
		GET(p, a->ino);
		GET(p, a->parent);
		GET(p, a->mode);
		a->mode = (a->mode & S_IFMT) | PROTO_MODE_LINKED;
		d->target[0] = '\0';
		return true;
	}
	if (v->mv_size < ATTR_FIXED || p[0] != ATTR_VERSION)
		return false;
	p++;
	GET(p, a->ino);
	GET(p, a->parent);
	GET(p, a->mode);
	GET(p, a->uid);
	GET(p, a->gid);
	GET(p, a->nlink);
	GET(p, a->size);
	GET(p, a->atime_ns);
	GET(p, a->mtime_ns);
	GET(p, a->ctime_ns);
	GET(p, tlen);
	if (tlen > PROTO_MAX_TARGET || v->mv_size != ATTR_FIXED + tlen)
		return false;
	memcpy(d->target, p, tlen);
	d->target[tlen] = '\0';
	a->target = tlen ? d->target : NULL;
	a->target_len = tlen;
	return true;
}

/* ---- LMDB helpers --------------------------------------------------------- */

ebb_err meta_fail(struct bbd_req *r, int rc, const char *what)
{
	ebb_err e = rc == MDB_MAP_FULL ? EBB_ENOSPC : EBB_EIO;

	log_error("instance %s: %s: %s", r->inst->id, what, mdb_strerror(rc));
	return bbd_req_fail(r, e, "metadata %s: %s", what, mdb_strerror(rc));
}

/* Make sure the LMDB file is allocated to META_PREALLOC / 2 past its last
 * page.  Under LMDB's writer lock (in a write transaction, or at open).
 * Returns 0 or an errno. */
static int _meta_prealloc(struct bbd_inst *inst)
{
	MDB_envinfo info;
	MDB_stat st;
	uint64_t need, to;
	int fd, rc;

	if (mdb_env_info(inst->env, &info) != 0 ||
	    mdb_env_stat(inst->env, &st) != 0 ||
	    mdb_env_get_fd(inst->env, &fd) != 0)
		return EIO;
	need = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize +
	       META_PREALLOC / 2;
	if (need <= inst->meta_alloc)
		return 0;
	to = need + META_PREALLOC / 2;
	if (to > info.me_mapsize)
		to = info.me_mapsize;
	rc = posix_fallocate(fd, (off_t)inst->meta_alloc,
			     (off_t)(to - inst->meta_alloc));
	if (rc == EOPNOTSUPP || rc == EINVAL)
		rc = 0; /* no fallocate here: as good as we can do */
	if (rc == 0)
		inst->meta_alloc = to;
	return rc;
}

int bbd_meta_prealloc(struct bbd_inst *inst)
{
	return _meta_prealloc(inst);
}

ebb_err meta_txn(struct bbd_req *r, unsigned flags, MDB_txn **txn)
{
	int rc = mdb_txn_begin(r->inst->env, NULL, flags, txn);

	if (rc != 0) {
		*txn = NULL;
		return meta_fail(r, rc, "txn_begin");
	}
	if (!(flags & MDB_RDONLY) && (rc = _meta_prealloc(r->inst)) != 0) {
		mdb_txn_abort(*txn);
		*txn = NULL;
		if (rc == ENOSPC || rc == EDQUOT)
			return bbd_req_fail(r, EBB_ENOSPC,
					    "metadata: no space to grow");
		log_error("instance %s: metadata fallocate: %s",
			  r->inst->id, strerror(rc));
		return bbd_req_fail(r, EBB_EIO, "metadata fallocate: %s",
				    strerror(rc));
	}
	return EBB_OK;
}

ebb_err meta_commit(struct bbd_req *r, MDB_txn **txn)
{
	int rc = mdb_txn_commit(*txn);

	*txn = NULL;
	if (rc != 0)
		return meta_fail(r, rc, "commit");
	return EBB_OK;
}

/* Read dentry (parent, name): EBB_OK, ENOENT (status set) or EIO. */
ebb_err meta_dent_get(struct bbd_req *r, MDB_txn *txn, uint64_t parent,
		      const char *name, size_t len, struct dent *d)
{
	uint8_t kb[KEY_MAX];
	MDB_val k = {_key(kb, parent, name, len), kb}, v;
	int rc = mdb_get(txn, r->inst->dbi_dentries, &k, &v);

	if (rc == MDB_NOTFOUND)
		return bbd_req_fail(r, EBB_ENOENT, "no entry '%.*s' in %llu",
				    (int)len, name, (unsigned long long)parent);
	if (rc != 0)
		return meta_fail(r, rc, "get");
	if (!meta_attr_unpack(&v, d))
		return bbd_req_fail(r, EBB_EIO, "corrupt dentry '%.*s'",
				    (int)len, name);
	return EBB_OK;
}

ebb_err meta_dent_put(struct bbd_req *r, MDB_txn *txn, uint64_t parent,
		      const char *name, size_t len,
		      const struct proto_attr *a)
{
	uint8_t kb[KEY_MAX], vb[ATTR_FIXED + PROTO_MAX_TARGET];
	MDB_val k = {_key(kb, parent, name, len), kb};
	MDB_val v = {meta_attr_pack(vb, a), vb};
	int rc = mdb_put(txn, r->inst->dbi_dentries, &k, &v, 0);

	return rc ? meta_fail(r, rc, "put") : EBB_OK;
}

static ebb_err _dent_del(struct bbd_req *r, MDB_txn *txn, uint64_t parent,
			 const char *name, size_t len)
{
	uint8_t kb[KEY_MAX];
	MDB_val k = {_key(kb, parent, name, len), kb};
	int rc = mdb_del(txn, r->inst->dbi_dentries, &k, NULL);

	return rc ? meta_fail(r, rc, "del") : EBB_OK;
}

/* Does this node hold any dentry whose parent is dir? */
static ebb_err _has_children(struct bbd_req *r, MDB_txn *txn, uint64_t dir,
			     bool *yes)
{
	uint8_t kb[8];
	MDB_val k = {_key(kb, dir, NULL, 0), kb}, v;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, r->inst->dbi_dentries, &cur);

	if (rc != 0)
		return meta_fail(r, rc, "cursor");
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	*yes = false;
	/* Skip the root's own dentry (0, "") when asked about parent 0. */
	while (rc == 0 && k.mv_size >= 8 && _key_parent(&k) == dir &&
	       k.mv_size == 8)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	if (rc == 0 && k.mv_size > 8 && _key_parent(&k) == dir)
		*yes = true;
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return meta_fail(r, rc, "cursor_get");
	return EBB_OK;
}

/* Allocate an inode number: rank << 48 | counter, the counter persisted in
 * the same transaction as the dentry that uses it. */
static ebb_err _ino_alloc(struct bbd_req *r, MDB_txn *txn, uint64_t *ino)
{
	static const char key[] = "next_ino";
	MDB_val k = {sizeof(key) - 1, (void *)key}, v;
	uint64_t next = BBD_FIRST_INO;
	int rc = mdb_get(txn, r->inst->dbi_config, &k, &v);

	if (rc == 0 && v.mv_size == sizeof(next))
		memcpy(&next, v.mv_data, sizeof(next));
	else if (rc != MDB_NOTFOUND && rc != 0)
		return meta_fail(r, rc, "get next_ino");
	if (next >= (1ull << PROTO_INO_RANK_SHIFT))
		return bbd_req_fail(r, EBB_ENOSPC, "inode numbers exhausted");
	*ino = ((uint64_t)r->inst->rank << PROTO_INO_RANK_SHIFT) | next;
	next++;
	v.mv_size = sizeof(next);
	v.mv_data = &next;
	rc = mdb_put(txn, r->inst->dbi_config, &k, &v, 0);
	return rc ? meta_fail(r, rc, "put next_ino") : EBB_OK;
}

/* ---- argument helpers ----------------------------------------------------- */

/* A dentry name from the wire: the root's (0, "") only where allowed. */
ebb_err meta_check_name(struct bbd_req *r, uint64_t parent,
			const char *name, uint32_t len, bool allow_root)
{
	ebb_err rc;

	if (parent == PROTO_ROOT_PARENT && len == 0 && allow_root)
		return EBB_OK;
	if (parent == PROTO_ROOT_PARENT)
		return bbd_req_fail(r, EBB_EINVAL,
				    "parent 0 holds only the root");
	rc = proto_check_name(name, len);
	if (rc != EBB_OK)
		return bbd_req_fail(r, rc, "bad name '%.*s'",
				    (int)(len > 64 ? 64 : len), name);
	return EBB_OK;
}

void meta_put_attr(struct bbd_req *r, const struct proto_attr *a)
{
	proto_put_attr(&r->res, a);
	r->nres++;
}

static void _attr_new(struct bbd_req *r, struct proto_attr *a, uint64_t ino,
		      uint64_t parent, uint32_t mode)
{
	int64_t now = bbd_now_ns();

	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->parent = parent;
	a->mode = mode;
	a->uid = r->uid;
	a->gid = r->gid;
	a->nlink = 1;
	a->atime_ns = a->mtime_ns = a->ctime_ns = now;
}

/* ---- environment ------------------------------------------------------------ */

ebb_err bbd_meta_open(struct bbd_inst *inst, const char *path, bool create,
		      char *err, size_t errlen)
{
	MDB_txn *txn = NULL;
	unsigned dbflags = create ? MDB_CREATE : 0;
	int rc;

	rc = mdb_env_create(&inst->env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(inst->env, BBD_LMDB_MAPSIZE);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(inst->env, 8);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(inst->env, 512);
	if (rc == 0)
		rc = mdb_env_open(inst->env, path,
				  MDB_NOSYNC | MDB_NOTLS | MDB_WRITEMAP, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(inst->env, NULL, 0, &txn);
	if (rc == 0) {
		inst->meta_alloc = 0;
		rc = _meta_prealloc(inst);
	}
	if (rc == 0)
		rc = mdb_dbi_open(txn, "dentries", dbflags,
				  &inst->dbi_dentries);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "config", dbflags, &inst->dbi_config);
	if (rc == 0) /* made also in a shard from before xattrs */
		rc = mdb_dbi_open(txn, "xattrs", MDB_CREATE,
				  &inst->dbi_xattrs);
	if (rc == 0) /* created on demand: shards older than hard links */
		rc = mdb_dbi_open(txn, "inodes", MDB_CREATE,
				  &inst->dbi_inodes);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
		if (inst->env)
			mdb_env_close(inst->env);
		inst->env = NULL;
		return EBB_EIO;
	}
	return EBB_OK;
}

ebb_err bbd_meta_put_root(struct bbd_inst *inst, uint32_t uid, uint32_t gid)
{
	struct bbd_req r = {.inst = inst, .uid = uid, .gid = gid};
	struct proto_attr a;
	MDB_txn *txn = NULL;
	ebb_err rc;

	_attr_new(&r, &a, PROTO_ROOT_INO, PROTO_ROOT_INO, S_IFDIR | 0700);
	if ((rc = meta_txn(&r, 0, &txn)) != EBB_OK)
		return rc;
	rc = meta_dent_put(&r, txn, PROTO_ROOT_PARENT, "", 0, &a);
	if (rc != EBB_OK) {
		mdb_txn_abort(txn);
		return rc;
	}
	return meta_commit(&r, &txn);
}

uint64_t bbd_meta_files(struct bbd_inst *inst)
{
	MDB_txn *txn;
	MDB_stat st;
	uint64_t n = 0;

	if (mdb_txn_begin(inst->env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	if (mdb_stat(txn, inst->dbi_dentries, &st) == 0)
		n = st.ms_entries;
	mdb_txn_abort(txn);
	return n;
}

/* ---- handlers ------------------------------------------------------------------ */

ebb_err bbd_op_lookup(struct bbd_req *r)
{
	uint64_t parent = 0;
	const char *name = NULL;
	uint32_t len = 0;
	MDB_txn *txn = NULL;
	struct dent d;

	proto_get_u64(&r->dec, &parent);
	proto_get_str(&r->dec, &name, &len, PROTO_MAX_PATH);
	if (bbd_req_args(r) || meta_check_name(r, parent, name, len, true) ||
	    meta_txn(r, MDB_RDONLY, &txn) ||
	    meta_dent_get(r, txn, parent, name, len, &d))
		goto out;
	meta_put_attr(r, &d.a);
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

/* The optional owner arguments of CREATE, MKDIR and SYMLINK. */
struct owner {
	bool set;
	uint32_t uid, gid;
};

/* Read the optional trailing "uid, gid" of a request into o. */
static void _get_owner(struct bbd_req *r, struct owner *o)
{
	memset(o, 0, sizeof(*o));
	if (r->dec.err != EBB_OK || r->dec.pos >= r->dec.n)
		return;
	proto_get_u32(&r->dec, &o->uid);
	proto_get_u32(&r->dec, &o->gid);
	o->set = true;
}

/* May r's caller act as the kernel does for every local user: name any
 * owner in a create, chmod/chown/utimes anything?  Root, and the
 * instance's owner: ebb-fuse runs as the owner, and the kernel
 * (default_permissions) has already applied POSIX's rules to the real
 * caller before the request reaches us.  The owner can read and change
 * all of its instance through libebb anyway (docs/security.md).  Nobody
 * else gets here (bbd_inst_may_use), so the other rules below are
 * defence in depth. */
static bool _privileged(const struct bbd_req *r)
{
	return r->uid == 0 || r->uid == r->inst->uid;
}

/* A new inode's owner: the caller, or what it asked for (docs/protocol.md
 * CREATE).  Root and the instance's owner may name any uid and gid
 * (ebb-fuse creates on behalf of the requesting user); anyone else only
 * its own uid and primary gid.  EPERM otherwise. */
static ebb_err _owner_check(struct bbd_req *r, const struct owner *o)
{
	if (o->set && !_privileged(r) &&
	    (o->uid != r->uid || o->gid != r->gid))
		return bbd_req_fail(r, EBB_EPERM,
				    "only root or the instance's owner may "
				    "create for uid %u gid %u", o->uid, o->gid);
	return EBB_OK;
}

/* CREATE, MKDIR and SYMLINK: a new dentry holding a new inode.  rdev:
 * a device node's number, kept in its size (docs/protocol.md CREATE). */
static ebb_err _make(struct bbd_req *r, uint64_t parent, const char *name,
		     uint32_t len, uint32_t mode, uint32_t cflags,
		     const char *target, uint32_t tlen, const struct owner *o,
		     uint64_t rdev)
{
	MDB_txn *txn = NULL;
	struct dent d;
	struct proto_attr a;
	uint64_t ino = 0;
	ebb_err e;

	/* Checked before anything is read: a refused owner is refused
	 * whether or not the name exists. */
	if (meta_check_name(r, parent, name, len, false) ||
	    _owner_check(r, o) || meta_txn(r, 0, &txn))
		goto out;
	e = meta_dent_get(r, txn, parent, name, len, &d);
	if (e == EBB_OK) {
		if (!S_ISREG(mode) || (cflags & PROTO_CREATE_EXCL)) {
			bbd_req_fail(r, EBB_EEXIST, "'%.*s' exists", (int)len,
				     name);
		} else if (S_ISDIR(d.a.mode)) {
			bbd_req_fail(r, EBB_EISDIR, "'%.*s' is a directory",
				     (int)len, name);
		} else {
			meta_put_attr(r, &d.a);
			proto_put_bool(&r->res, false);
			r->nres++;
			r->status = EBB_OK;
		}
		goto out;
	}
	if (e != EBB_ENOENT || _ino_alloc(r, txn, &ino))
		goto out;
	_attr_new(r, &a, ino, parent, mode);
	if (o->set) {
		a.uid = o->uid;
		a.gid = o->gid;
	}
	if (target) {
		a.target = target;
		a.target_len = tlen;
		a.size = tlen;
	}
	if (S_ISCHR(mode) || S_ISBLK(mode))
		a.size = rdev;
	if (meta_dent_put(r, txn, parent, name, len, &a) ||
	    meta_commit(r, &txn))
		goto out;
	meta_put_attr(r, &a);
	if (!S_ISDIR(mode) && !S_ISLNK(mode)) {
		proto_put_bool(&r->res, true);
		r->nres++;
	}
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

ebb_err bbd_op_create(struct bbd_req *r)
{
	uint64_t parent = 0;
	const char *name = NULL;
	uint32_t len = 0, mode = 0, flags = 0;
	uint64_t rdev = 0;
	struct owner o;

	proto_get_u64(&r->dec, &parent);
	proto_get_str(&r->dec, &name, &len, PROTO_MAX_PATH);
	proto_get_u32(&r->dec, &mode);
	proto_get_u32(&r->dec, &flags);
	_get_owner(r, &o);
	if (r->dec.err == EBB_OK && r->dec.pos < r->dec.n)
		proto_get_u64(&r->dec, &rdev);
	if (bbd_req_args(r))
		return r->status;
	switch (mode & S_IFMT) {
	case 0:
		mode |= S_IFREG;
		break;
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		break;
	default:
		return bbd_req_fail(r, EBB_EINVAL,
				    "CREATE makes no type 0%o", mode & S_IFMT);
	}
	if (rdev && !S_ISCHR(mode) && !S_ISBLK(mode))
		return bbd_req_fail(r, EBB_EINVAL, "rdev of a non-device");
	return _make(r, parent, name, len, (mode & S_IFMT) | (mode & 07777),
		     flags, NULL, 0, &o, rdev);
}

ebb_err bbd_op_mkdir(struct bbd_req *r)
{
	uint64_t parent = 0;
	const char *name = NULL;
	uint32_t len = 0, mode = 0;
	struct owner o;

	proto_get_u64(&r->dec, &parent);
	proto_get_str(&r->dec, &name, &len, PROTO_MAX_PATH);
	proto_get_u32(&r->dec, &mode);
	_get_owner(r, &o);
	if (bbd_req_args(r))
		return r->status;
	return _make(r, parent, name, len, S_IFDIR | (mode & 07777), 0, NULL,
		     0, &o, 0);
}

ebb_err bbd_op_symlink(struct bbd_req *r)
{
	uint64_t parent = 0;
	const char *name = NULL, *target = NULL;
	uint32_t len = 0, tlen = 0;
	struct owner o;

	proto_get_u64(&r->dec, &parent);
	proto_get_str(&r->dec, &name, &len, PROTO_MAX_PATH);
	proto_get_str(&r->dec, &target, &tlen, PROTO_MAX_PATH);
	_get_owner(r, &o);
	if (bbd_req_args(r))
		return r->status;
	if (tlen == 0)
		return bbd_req_fail(r, EBB_EINVAL, "empty symlink target");
	if (tlen > PROTO_MAX_TARGET)
		return bbd_req_fail(r, EBB_ENAMETOOLONG,
				    "symlink target of %u bytes", tlen);
	return _make(r, parent, name, len, S_IFLNK | 0777, 0, target, tlen,
		     &o, 0);
}

/* UNLINK's DATA flag: may this node drop the data of the file it just
 * unlinked?  Only a regular file of at most one stripe whose stripe 0 is
 * here (then no other node holds any of it) and that the client does not
 * have open (keep).  Otherwise the client sends REMOVE as before. */
static bool _data_here(const struct bbd_req *r, const struct proto_attr *a,
		       const msgpack_object *keep, uint32_t nkeep)
{
	const struct bbd_inst *inst = r->inst;

	if (!S_ISREG(a->mode) || (a->mode & PROTO_MODE_LINKED) ||
	    a->size > inst->stripe_size ||
	    placement_stripe_node(a->ino, 0, inst->nmembers) != inst->rank)
		return false;
	for (uint32_t i = 0; i < nkeep; i++)
		if (keep[i].via.u64 == a->ino)
			return false;
	return true;
}

/* inst, parent, name, expect_ino, flags[, keep[]] -> attr[, data_removed]
 * (data_removed when flags has DATA).  Inline on the worker, also with DATA:
 * the object file it may remove holds at most one stripe, so its unlink is
 * a directory update and the freeing of a few extents and cached pages, the
 * same page-cache work as the LMDB commit beside it.  On an I/O thread the
 * hop there and back cost more than the whole unlink (bench/RESULTS.md:
 * 3,700-5,500 vs 13,800-15,200 unlinks/s through libebb, 1 thread). */
ebb_err bbd_op_unlink(struct bbd_req *r)
{
	uint64_t parent = 0, expect = 0;
	const char *name = NULL;
	uint32_t len = 0, flags = 0, nkeep = 0;
	const msgpack_object *keep = NULL;
	MDB_txn *txn = NULL;
	bool removed = false;
	struct dent d;
	int errnum;

	proto_get_u64(&r->dec, &parent);
	proto_get_str(&r->dec, &name, &len, PROTO_MAX_PATH);
	proto_get_u64(&r->dec, &expect);
	proto_get_u32(&r->dec, &flags);
	if (r->dec.err == EBB_OK && r->dec.pos < r->dec.n)
		proto_get_array(&r->dec, &keep, &nkeep, PROTO_MAX_UNLINK_KEEP);
	if (bbd_req_args(r))
		goto out;
	for (uint32_t i = 0; i < nkeep; i++)
		if (keep[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
			bbd_req_fail(r, EBB_E_PROTO,
				     "UNLINK: keep[%u] is not an inode number",
				     i);
			goto out;
		}
	if (meta_check_name(r, parent, name, len, false) ||
	    meta_txn(r, 0, &txn) ||
	    meta_dent_get(r, txn, parent, name, len, &d))
		goto out;
	if (expect != 0 && d.a.ino != expect) {
		bbd_req_fail(r, EBB_ESTALE, "'%.*s' holds inode %llu",
			     (int)len, name, (unsigned long long)d.a.ino);
		goto out;
	}
	if (S_ISDIR(d.a.mode) && !(flags & PROTO_UNLINK_ANY_TYPE)) {
		bbd_req_fail(r, EBB_EISDIR, "'%.*s' is a directory", (int)len,
			     name);
		goto out;
	}
	if (_dent_del(r, txn, parent, name, len))
		goto out;
	/* The inode goes with its data (or at once if it has none): its
	 * xattrs too, if this is its home (bbd_xattr.c); a pointer's stay
	 * with the record (INODE_UNLINK drops them with the last name). */
	if ((flags & PROTO_UNLINK_DATA) && !(d.a.mode & PROTO_MODE_LINKED) &&
	    (S_ISREG(d.a.mode) ? _data_here(r, &d.a, keep, nkeep) :
				 !S_ISDIR(d.a.mode)) &&
	    (errnum = bbd_xattr_drop(r->inst, txn, d.a.ino)) != 0) {
		meta_fail(r, errnum, "xattr drop");
		goto out;
	}
	if (meta_commit(r, &txn))
		goto out;
	/* After the commit: the name is gone whatever happens to the data,
	 * and the space is free before the reply (ENOSPC ordering: a write
	 * the client sends after this reply finds it free).  A failed
	 * removal is not an error: the client then sends REMOVE. */
	if ((flags & PROTO_UNLINK_DATA) && _data_here(r, &d.a, keep, nkeep)) {
		errnum = bbd_data_remove(r->inst, d.a.ino);

		if (errnum)
			log_warn("%s: inode %llu: removing its data at unlink: "
				 "%s", r->inst->id, (unsigned long long)d.a.ino,
				 strerror(errnum));
		removed = errnum == 0;
	}
	meta_put_attr(r, &d.a);
	if (flags & PROTO_UNLINK_DATA) {
		proto_put_bool(&r->res, removed);
		r->nres++;
	}
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

ebb_err bbd_op_rmdir(struct bbd_req *r)
{
	uint64_t parent = 0;
	const char *name = NULL;
	uint32_t len = 0;
	MDB_txn *txn = NULL;
	struct dent d;
	bool busy;
	int rc;

	proto_get_u64(&r->dec, &parent);
	proto_get_str(&r->dec, &name, &len, PROTO_MAX_PATH);
	if (bbd_req_args(r))
		goto out;
	if (parent == PROTO_ROOT_PARENT && len == 0) {
		bbd_req_fail(r, EBB_EBUSY, "the root cannot be removed");
		goto out;
	}
	if (meta_check_name(r, parent, name, len, false) ||
	    meta_txn(r, 0, &txn) ||
	    meta_dent_get(r, txn, parent, name, len, &d))
		goto out;
	if (!S_ISDIR(d.a.mode)) {
		bbd_req_fail(r, EBB_ENOTDIR, "'%.*s' is not a directory",
			     (int)len, name);
		goto out;
	}
	if (d.a.ino == PROTO_ROOT_INO) {
		bbd_req_fail(r, EBB_EBUSY, "the root cannot be removed");
		goto out;
	}
	if (_has_children(r, txn, d.a.ino, &busy))
		goto out;
	if (busy) {
		bbd_req_fail(r, EBB_ENOTEMPTY, "'%.*s' is not empty",
			     (int)len, name);
		goto out;
	}
	if (_dent_del(r, txn, parent, name, len))
		goto out;
	if ((rc = bbd_xattr_drop(r->inst, txn, d.a.ino)) != 0) {
		meta_fail(r, rc, "xattr drop"); /* home here: bbd_xattr.c */
		goto out;
	}
	if (meta_commit(r, &txn))
		goto out;
	meta_put_attr(r, &d.a);
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

ebb_err bbd_op_has_children(struct bbd_req *r)
{
	uint64_t dir = 0;
	MDB_txn *txn = NULL;
	bool yes;

	proto_get_u64(&r->dec, &dir);
	if (bbd_req_args(r) || meta_txn(r, MDB_RDONLY, &txn) ||
	    _has_children(r, txn, dir, &yes))
		goto out;
	proto_put_bool(&r->res, yes);
	r->nres = 1;
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

ebb_err bbd_op_readdir(struct bbd_req *r)
{
	uint64_t dir = 0;
	const char *after = NULL;
	uint32_t alen = 0, max = 0, count = 0;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	uint8_t kb[KEY_MAX];
	MDB_val k, v;
	struct proto_enc ents;
	struct dent d;
	bool eof = true;
	int rc;

	msgpack_sbuffer_init(&ents.sb);
	msgpack_packer_init(&ents.pk, &ents.sb, msgpack_sbuffer_write);
	proto_get_u64(&r->dec, &dir);
	proto_get_str_or_nil(&r->dec, &after, &alen, PROTO_MAX_NAME);
	proto_get_u32(&r->dec, &max);
	if (bbd_req_args(r))
		goto out;
	if (max == 0) {
		bbd_req_fail(r, EBB_EINVAL, "READDIR of 0 entries");
		goto out;
	}
	if (max > PROTO_MAX_READDIR)
		max = PROTO_MAX_READDIR;
	if (meta_txn(r, MDB_RDONLY, &txn))
		goto out;
	rc = mdb_cursor_open(txn, r->inst->dbi_dentries, &cur);
	if (rc != 0) {
		meta_fail(r, rc, "cursor");
		goto out;
	}
	k.mv_size = _key(kb, dir, after ? after : "", alen);
	k.mv_data = kb;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		size_t mark = ents.sb.size;
		size_t nlen = k.mv_size - 8;
		const char *name = (const char *)k.mv_data + 8;

		if (k.mv_size < 8 || _key_parent(&k) != dir)
			break;
		if (nlen == 0 || (after && nlen == alen &&
				  memcmp(name, after, alen) == 0))
			continue; /* the root's own key, or the cookie */
		if (count == max) {
			eof = false;
			break;
		}
		if (!meta_attr_unpack(&v, &d)) {
			bbd_req_fail(r, EBB_EIO, "corrupt dentry");
			goto out;
		}
		proto_put_array(&ents, 2);
		proto_put_str(&ents, name, nlen);
		proto_put_attr(&ents, &d.a);
		if (ents.sb.size > READDIR_MAX_BYTES) {
			ents.sb.size = mark; /* does not fit: next time */
			eof = false;
			break;
		}
		count++;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		meta_fail(r, rc, "cursor_get");
		goto out;
	}
	proto_put_array(&r->res, count);
	msgpack_sbuffer_write(&r->res.sb, ents.sb.data, ents.sb.size);
	proto_put_bool(&r->res, eof);
	r->nres = 2;
	r->status = EBB_OK;
out:
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
	proto_enc_free(&ents);
	return r->status;
}

static bool _may_write(const struct bbd_req *r, const struct proto_attr *a)
{
	if (_privileged(r))
		return true;
	if (r->uid == a->uid)
		return a->mode & S_IWUSR;
	if (r->gid == a->gid)
		return a->mode & S_IWGRP;
	return a->mode & S_IWOTH;
}

/* POSIX chmod/chown/truncate/utimes rules; see docs/protocol.md.  Root
 * and the instance's owner pass them all (_privileged: the kernel checked
 * the real caller), and then no set-id bit is cleared here either: the
 * kernel sends the mode it wants. */
ebb_err meta_setattr_apply(struct bbd_req *r, struct proto_attr *a,
			   uint32_t mask, uint32_t mode, uint32_t uid,
			   uint32_t gid, uint64_t size, int64_t atime,
			   int64_t mtime)
{
	bool root = _privileged(r), owner = r->uid == a->uid;
	int64_t now = bbd_now_ns();

	if ((mask & PROTO_SET_MODE) && !root && !owner)
		return bbd_req_fail(r, EBB_EPERM, "chmod by a non-owner");
	if ((mask & PROTO_SET_UID) && !root && uid != a->uid)
		return bbd_req_fail(r, EBB_EPERM, "only root may change the owner");
	if ((mask & PROTO_SET_GID) && !root && gid != a->gid &&
	    (!owner || gid != r->gid))
		return bbd_req_fail(r, EBB_EPERM,
				    "chgrp to a group the caller is not in");
	if ((mask & (PROTO_SET_ATIME | PROTO_SET_MTIME)) && !root && !owner)
		return bbd_req_fail(r, EBB_EPERM, "utimes by a non-owner");
	if ((mask & (PROTO_SET_ATIME_NOW | PROTO_SET_MTIME_NOW)) && !owner &&
	    !_may_write(r, a))
		return bbd_req_fail(r, EBB_EACCES, "utimes(NULL) needs write permission");
	if (mask & PROTO_SET_SIZE) {
		if (S_ISDIR(a->mode))
			return bbd_req_fail(r, EBB_EISDIR, "truncate of a directory");
		if (!S_ISREG(a->mode))
			return bbd_req_fail(r, EBB_EINVAL, "truncate of a non-file");
		if (!_may_write(r, a))
			return bbd_req_fail(r, EBB_EACCES, "truncate needs write permission");
		if (size > BBD_MAX_FILE_SIZE)
			return bbd_req_fail(r, EBB_EFBIG, "size past 2^44");
	}

	if (mask & PROTO_SET_MODE) {
		a->mode = (a->mode & S_IFMT) | (mode & 07777);
		if (!root && a->gid != r->gid)
			a->mode &= ~(uint32_t)S_ISGID;
	}
	if (mask & (PROTO_SET_UID | PROTO_SET_GID)) {
		if (mask & PROTO_SET_UID)
			a->uid = uid;
		if (mask & PROTO_SET_GID)
			a->gid = gid;
		/* chown clears set-id bits of files, as Linux does. */
		if (!S_ISDIR(a->mode) && !root)
			a->mode &= ~(uint32_t)(S_ISUID | S_ISGID);
	}
	if (mask & PROTO_SET_SIZE) {
		a->size = size;
		a->mtime_ns = now;
	}
	if (mask & PROTO_SET_ATIME)
		a->atime_ns = atime;
	if (mask & PROTO_SET_ATIME_NOW)
		a->atime_ns = now;
	if (mask & PROTO_SET_MTIME)
		a->mtime_ns = mtime;
	if (mask & PROTO_SET_MTIME_NOW)
		a->mtime_ns = now;
	a->ctime_ns = now;
	return EBB_OK;
}

ebb_err bbd_op_setattr(struct bbd_req *r)
{
	uint64_t parent = 0, size = 0;
	const char *name = NULL;
	uint32_t len = 0, mask = 0, mode = 0, uid = 0, gid = 0;
	int64_t atime = 0, mtime = 0;
	MDB_txn *txn = NULL;
	struct dent d;

	proto_get_u64(&r->dec, &parent);
	proto_get_str(&r->dec, &name, &len, PROTO_MAX_PATH);
	proto_get_u32(&r->dec, &mask);
	proto_get_u32(&r->dec, &mode);
	proto_get_u32(&r->dec, &uid);
	proto_get_u32(&r->dec, &gid);
	proto_get_u64(&r->dec, &size);
	proto_get_i64(&r->dec, &atime);
	proto_get_i64(&r->dec, &mtime);
	if (bbd_req_args(r) || meta_check_name(r, parent, name, len, true))
		goto out;
	if (mask & ~0xffu) {
		bbd_req_fail(r, EBB_EINVAL, "unknown SETATTR mask bits 0x%x",
			     mask & ~0xffu);
		goto out;
	}
	if (meta_txn(r, 0, &txn) ||
	    meta_dent_get(r, txn, parent, name, len, &d))
		goto out;
	if (d.a.mode & PROTO_MODE_LINKED)
		goto reply; /* the client sends INODE_SETATTR to its home */
	if (meta_setattr_apply(r, &d.a, mask, mode, uid, gid, size, atime,
			       mtime) ||
	    meta_dent_put(r, txn, parent, name, len, &d.a) ||
	    meta_commit(r, &txn))
		goto out;
reply:
	meta_put_attr(r, &d.a);
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

/* SIZE_UPDATE's max-merge of a writer's size and mtime into a (the ctime
 * follows the mtime forward): whether anything changed. */
bool meta_size_merge(struct proto_attr *a, uint64_t size, int64_t mtime)
{
	if (size <= a->size && mtime <= a->mtime_ns)
		return false;
	if (size > a->size)
		a->size = size;
	if (mtime > a->mtime_ns)
		a->mtime_ns = mtime;
	if (mtime > a->ctime_ns)
		a->ctime_ns = mtime;
	return true;
}

/* Make the shard durable (SIZE_UPDATE's SYNC flag): EBB_OK or EIO set. */
ebb_err meta_sync(struct bbd_req *r)
{
	int rc = mdb_env_sync(r->inst->env, 1);

	return rc ? meta_fail(r, rc, "env_sync") : EBB_OK;
}

ebb_err bbd_op_size_update(struct bbd_req *r)
{
	uint64_t parent = 0, ino = 0, size = 0;
	const char *name = NULL;
	uint32_t len = 0, flags = 0;
	int64_t mtime = 0;
	MDB_txn *txn = NULL;
	struct dent d;

	proto_get_u64(&r->dec, &parent);
	proto_get_str(&r->dec, &name, &len, PROTO_MAX_PATH);
	proto_get_u64(&r->dec, &ino);
	proto_get_u64(&r->dec, &size);
	proto_get_i64(&r->dec, &mtime);
	proto_get_u32(&r->dec, &flags);
	if (bbd_req_args(r) || meta_check_name(r, parent, name, len, false) ||
	    meta_txn(r, 0, &txn) ||
	    meta_dent_get(r, txn, parent, name, len, &d))
		goto out;
	if (d.a.ino != ino) {
		bbd_req_fail(r, EBB_ESTALE, "'%.*s' holds inode %llu",
			     (int)len, name, (unsigned long long)d.a.ino);
		goto out;
	}
	if (!S_ISREG(d.a.mode)) {
		bbd_req_fail(r, S_ISDIR(d.a.mode) ? EBB_EISDIR : EBB_EINVAL,
			     "size of a non-file");
		goto out;
	}
	if (d.a.mode & PROTO_MODE_LINKED) {
		/* The client sends INODE_SIZE_UPDATE to its home. */
		meta_put_attr(r, &d.a);
		r->status = EBB_OK;
		goto out;
	}
	if (meta_size_merge(&d.a, size, mtime) &&
	    (meta_dent_put(r, txn, parent, name, len, &d.a) ||
	     meta_commit(r, &txn)))
		goto out;
	/* This handler is on an I/O thread when SYNC is set. */
	if ((flags & PROTO_SIZE_SYNC) && meta_sync(r))
		goto out;
	meta_put_attr(r, &d.a);
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

/* The replace rules of rename for a target that exists. */
static ebb_err _replace_check(struct bbd_req *r, MDB_txn *txn,
			      const struct proto_attr *src,
			      const struct proto_attr *dst, uint32_t flags)
{
	bool busy;

	if (flags & PROTO_RENAME_NOREPLACE)
		return bbd_req_fail(r, EBB_EEXIST, "target exists");
	if (S_ISDIR(src->mode) && !S_ISDIR(dst->mode))
		return bbd_req_fail(r, EBB_ENOTDIR, "target is not a directory");
	if (!S_ISDIR(src->mode) && S_ISDIR(dst->mode))
		return bbd_req_fail(r, EBB_EISDIR, "target is a directory");
	if (S_ISDIR(dst->mode)) {
		if (_has_children(r, txn, dst->ino, &busy))
			return r->status;
		if (busy)
			return bbd_req_fail(r, EBB_ENOTEMPTY,
					    "target directory is not empty");
	}
	return EBB_OK;
}

static bool _here(const struct bbd_req *r, uint64_t parent, const char *name,
		  uint32_t len)
{
	return placement_dentry_node(parent, name, len, r->inst->nmembers) ==
	       r->inst->rank;
}

ebb_err bbd_op_rename_local(struct bbd_req *r)
{
	uint64_t op = 0, np = 0;
	const char *on = NULL, *nn = NULL;
	uint32_t olen = 0, nlen = 0, flags = 0;
	MDB_txn *txn = NULL;
	struct dent src, dst;
	bool replaced = false;
	ebb_err e;

	proto_get_u64(&r->dec, &op);
	proto_get_str(&r->dec, &on, &olen, PROTO_MAX_PATH);
	proto_get_u64(&r->dec, &np);
	proto_get_str(&r->dec, &nn, &nlen, PROTO_MAX_PATH);
	proto_get_u32(&r->dec, &flags);
	if (bbd_req_args(r) || meta_check_name(r, op, on, olen, false) ||
	    meta_check_name(r, np, nn, nlen, false))
		goto out;
	if (!_here(r, op, on, olen) || !_here(r, np, nn, nlen)) {
		bbd_req_fail(r, EBB_EXDEV, "the dentries are not both here");
		goto out;
	}
	if (meta_txn(r, 0, &txn) || meta_dent_get(r, txn, op, on, olen, &src))
		goto out;
	if (op == np && olen == nlen && memcmp(on, nn, olen) == 0) {
		meta_put_attr(r, &src.a);
		proto_put_nil(&r->res);
		r->nres++;
		r->status = EBB_OK;
		goto out;
	}
	e = meta_dent_get(r, txn, np, nn, nlen, &dst);
	if (e == EBB_OK && dst.a.ino == src.a.ino &&
	    !(flags & PROTO_RENAME_NOREPLACE)) {
		/* Two links of one inode: POSIX says do nothing. */
		meta_put_attr(r, &src.a);
		proto_put_nil(&r->res);
		r->nres++;
		r->status = EBB_OK;
		goto out;
	}
	if (e == EBB_OK) {
		if (_replace_check(r, txn, &src.a, &dst.a, flags))
			goto out;
		replaced = true;
	} else if (e != EBB_ENOENT) {
		goto out;
	}
	r->status = EBB_EIO;
	r->detail[0] = '\0';
	src.a.parent = np;
	src.a.ctime_ns = bbd_now_ns();
	if (_dent_del(r, txn, op, on, olen) ||
	    meta_dent_put(r, txn, np, nn, nlen, &src.a) || meta_commit(r, &txn))
		goto out;
	meta_put_attr(r, &src.a);
	if (replaced)
		proto_put_attr(&r->res, &dst.a);
	else
		proto_put_nil(&r->res);
	r->nres++;
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

ebb_err bbd_op_link_insert(struct bbd_req *r)
{
	uint64_t parent = 0;
	const char *name = NULL;
	uint32_t len = 0, flags = 0;
	struct proto_attr a;
	MDB_txn *txn = NULL;
	struct dent dst;
	bool replaced = false;
	ebb_err e;

	proto_get_u64(&r->dec, &parent);
	proto_get_str(&r->dec, &name, &len, PROTO_MAX_PATH);
	proto_get_attr(&r->dec, &a);
	proto_get_u32(&r->dec, &flags);
	if (bbd_req_args(r) || meta_check_name(r, parent, name, len, false))
		goto out;
	if (a.ino == 0 || a.ino == PROTO_ROOT_INO ||
	    (!(a.mode & PROTO_MODE_LINKED) &&
	     S_ISLNK(a.mode) != (a.target != NULL)) ||
	    ((a.mode & PROTO_MODE_LINKED) && S_ISDIR(a.mode)) ||
	    !(S_ISREG(a.mode) || S_ISDIR(a.mode) || S_ISLNK(a.mode) ||
	      S_ISFIFO(a.mode) || S_ISSOCK(a.mode) || S_ISCHR(a.mode) ||
	      S_ISBLK(a.mode))) {
		bbd_req_fail(r, EBB_EINVAL, "bad attributes to insert");
		goto out;
	}
	if (meta_txn(r, 0, &txn))
		goto out;
	e = meta_dent_get(r, txn, parent, name, len, &dst);
	if (e == EBB_OK) {
		if (dst.a.ino == a.ino &&
		    !((dst.a.mode & PROTO_MODE_LINKED) &&
		      (flags & PROTO_RENAME_NOREPLACE))) {
			/* A pointer: another link of the inode (rename onto
			 * it is a no-op: the client sees its inode come
			 * back; with NOREPLACE: EEXIST below); inline: a
			 * retried step. */
			if (dst.a.mode & PROTO_MODE_LINKED)
				proto_put_attr(&r->res, &dst.a);
			else
				proto_put_nil(&r->res);
			r->nres = 1;
			r->status = EBB_OK;
			goto out;
		}
		if (_replace_check(r, txn, &a, &dst.a, flags))
			goto out;
		replaced = true;
	} else if (e != EBB_ENOENT) {
		goto out;
	}
	r->status = EBB_EIO;
	r->detail[0] = '\0';
	a.parent = parent;
	a.ctime_ns = bbd_now_ns(); /* a rename changes the inode's ctime */
	if (meta_dent_put(r, txn, parent, name, len, &a) ||
	    meta_commit(r, &txn))
		goto out;
	if (replaced)
		proto_put_attr(&r->res, &dst.a);
	else
		proto_put_nil(&r->res);
	r->nres = 1;
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}

ebb_err bbd_op_statfs(struct bbd_req *r)
{
	if (bbd_req_args(r))
		return r->status;
	proto_put_u64(&r->res, r->inst->capacity);
	proto_put_u64(&r->res, atomic_load(&r->inst->used));
	proto_put_u64(&r->res, bbd_meta_files(r->inst));
	r->nres = 3;
	r->status = EBB_OK;
	return r->status;
}

/* inst, parent, name, ino, time_ns -> attr: a directory's entries changed
 * at time_ns (a create, unlink or rename in it, made through another
 * dentry's node): its mtime and ctime become max(theirs, time_ns), so a
 * late or repeated touch never moves them back.  ESTALE if the name holds
 * another inode (the directory was renamed or replaced meanwhile),
 * ENOTDIR if not a directory.  The root is (0, ""). */
ebb_err bbd_op_dir_touch(struct bbd_req *r)
{
	uint64_t parent = 0, ino = 0;
	const char *name = NULL;
	uint32_t len = 0;
	int64_t t = 0;
	MDB_txn *txn = NULL;
	struct dent d;

	proto_get_u64(&r->dec, &parent);
	proto_get_str(&r->dec, &name, &len, PROTO_MAX_PATH);
	proto_get_u64(&r->dec, &ino);
	proto_get_i64(&r->dec, &t);
	if (bbd_req_args(r) || meta_check_name(r, parent, name, len, true) ||
	    meta_txn(r, 0, &txn) ||
	    meta_dent_get(r, txn, parent, name, len, &d))
		goto out;
	if (d.a.ino != ino) {
		bbd_req_fail(r, EBB_ESTALE, "'%.*s' holds inode %llu", (int)len,
			     name, (unsigned long long)d.a.ino);
		goto out;
	}
	if (!S_ISDIR(d.a.mode)) {
		bbd_req_fail(r, EBB_ENOTDIR, "'%.*s' is not a directory",
			     (int)len, name);
		goto out;
	}
	/* A touch older than the directory's last change (its ctime: a
	 * later touch, or a utimes that came after the change it reports,
	 * as rsync sets a directory's times after deleting in it) changes
	 * nothing: the explicit time stays, as on a local file system. */
	if (t > d.a.ctime_ns) {
		d.a.mtime_ns = d.a.ctime_ns = t;
		if (meta_dent_put(r, txn, parent, name, len, &d.a) ||
		    meta_commit(r, &txn))
			goto out;
	}
	meta_put_attr(r, &d.a);
	r->status = EBB_OK;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r->status;
}
