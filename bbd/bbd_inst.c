/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd instances: the registry, create/destroy, start-up recovery, status.
 *
 * DESIGN: an instance lives in <root>/instances/<id>/ (meta/ = its LMDB
 * environment, data/ = its object files).  The directory name is the
 * commit point of both create and destroy, so a crash never leaves
 * something half made that looks live:
 *   create:  build everything in .new-<id>-<n>/, fsync it (the parameters
 *            in LMDB, the directories), rename to <id>, fsync instances/;
 *   destroy: rename <id> to .trash-<id>-<n>, fsync instances/, then remove
 *            the tree once the last request using the instance is done.
 * At start-up .new-* and .trash-* leftovers are removed and every <id> is
 * reopened.  Create and destroy run on I/O threads and are serialised by
 * bbd->admin_lock; lookups from any thread take bbd->reg_lock for reading
 * and a reference (struct bbd_inst.refs) that keeps the instance open.
 * An instance created with `mount` is registered, then mounted
 * (bbd_mount.c); if the mount does not come up the create is undone.
 * Destroy unmounts before the rename.  `mount` (and its `cache`) is
 * stored with the other parameters, so a restarted bbd mounts it again,
 * the same way.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "bbd_int.h"
#include "log.h"
#include "placement.h"
#include "units.h"

#define PARAMS_VERSION 1
static const char _params_key[] = "params";

struct params {
	const char *id;
	uint32_t idlen;
	uint32_t rank;
	uint32_t nmembers;
	const msgpack_object *members;
	uint32_t stripe_size;
	uint64_t capacity;
	uint32_t uid, gid;
	bool mount;
	bool writeback;    /* cache "writeback" (else "none") */
};

/* ---- small file-system helpers ------------------------------------------ */

/* rm -rf name (relative to dirfd).  Best effort; logs what it cannot do. */
static void _rm_rf_at(int parentfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (unlinkat(parentfd, name, 0) == 0 || errno == ENOENT)
		return;
	fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		log_error("cannot remove %s: %s", name, strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		_rm_rf_at(dirfd(d), de->d_name);
	}
	closedir(d);
	if (unlinkat(parentfd, name, AT_REMOVEDIR) != 0)
		log_error("cannot remove %s: %s", name, strerror(errno));
}

static int _fsync_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* ---- instance objects ------------------------------------------------------ */

static void _inst_free(struct bbd_inst *inst)
{
	bbd_lock_inst_free(inst);
	bbd_data_close_all(inst);
	if (inst->env) {
		if (!inst->destroyed)
			mdb_env_sync(inst->env, 1);
		mdb_env_close(inst->env);
	}
	if (inst->datafd >= 0)
		close(inst->datafd);
	if (inst->dirfd >= 0)
		close(inst->dirfd);
	if (inst->destroyed && inst->trash[0]) {
		_rm_rf_at(inst->bbd->instdirfd, inst->trash);
		log_info("instance %s: data removed", inst->id);
	}
	for (uint32_t i = 0; i < inst->nmembers; i++)
		free(inst->members ? inst->members[i] : NULL);
	free(inst->members);
	pthread_mutex_destroy(&inst->obj_lock);
	free(inst);
}

void bbd_inst_unref(struct bbd_inst *inst)
{
	/* The last reference of a destroyed instance removes its tree: on an
	 * I/O thread normally (INST_DESTROY drops the registry's reference),
	 * on a worker only if a metadata request raced with the destroy. */
	if (atomic_fetch_sub(&inst->refs, 1) == 1)
		_inst_free(inst);
}

static struct bbd_inst *_inst_alloc(struct bbd *b)
{
	struct bbd_inst *inst = calloc(1, sizeof(*inst));

	if (!inst)
		return NULL;
	inst->bbd = b;
	atomic_init(&inst->refs, 1);
	inst->dirfd = inst->datafd = -1;
	inst->mnt.inst = inst;
	pthread_mutex_init(&inst->obj_lock, NULL);
	return inst;
}

/* Fill inst's parameters from p (copies everything). */
static ebb_err _inst_set_params(struct bbd_inst *inst, const struct params *p)
{
	snprintf(inst->id, sizeof(inst->id), "%.*s", (int)p->idlen, p->id);
	inst->rank = p->rank;
	inst->stripe_size = p->stripe_size;
	inst->capacity = p->capacity;
	inst->uid = p->uid;
	inst->gid = p->gid;
	inst->mount = p->mount;
	inst->writeback = p->writeback;
	inst->members = calloc(p->nmembers, sizeof(char *));
	if (!inst->members)
		return EBB_ENOMEM;
	inst->nmembers = p->nmembers;
	for (uint32_t i = 0; i < p->nmembers; i++) {
		const msgpack_object_str *s = &p->members[i].via.str;

		inst->members[i] = strndup(s->ptr, s->size);
		if (!inst->members[i])
			return EBB_ENOMEM;
	}
	return EBB_OK;
}

static bool _inst_same(const struct bbd_inst *inst, const struct params *p)
{
	if (inst->rank != p->rank || inst->stripe_size != p->stripe_size ||
	    inst->capacity != p->capacity || inst->uid != p->uid ||
	    inst->gid != p->gid || inst->nmembers != p->nmembers ||
	    inst->mount != p->mount || inst->writeback != p->writeback)
		return false;
	for (uint32_t i = 0; i < p->nmembers; i++) {
		const msgpack_object_str *s = &p->members[i].via.str;

		if (strlen(inst->members[i]) != s->size ||
		    memcmp(inst->members[i], s->ptr, s->size) != 0)
			return false;
	}
	return true;
}

/* Parse the parameter list shared by INST_CREATE and the stored record:
 * inst, rank, members[], stripe_size, capacity, uid, gid[, mount[,
 * cache]].  mount and cache are optional: older clients and records made
 * before mounts mean false, before the cache option "none". */
static ebb_err _params_get(struct proto_dec *d, struct params *p, char *why,
			   size_t whylen)
{
	const char *cache = NULL;
	uint32_t cachelen = 0;

	memset(p, 0, sizeof(*p));
	proto_get_str(d, &p->id, &p->idlen, PROTO_MAX_INST_ID);
	proto_get_u32(d, &p->rank);
	proto_get_array(d, &p->members, &p->nmembers, PROTO_MAX_MEMBERS);
	proto_get_u32(d, &p->stripe_size);
	proto_get_u64(d, &p->capacity);
	proto_get_u32(d, &p->uid);
	proto_get_u32(d, &p->gid);
	if (d->err == EBB_OK && d->pos < d->n)
		proto_get_bool(d, &p->mount);
	if (d->err == EBB_OK && d->pos < d->n)
		proto_get_str(d, &cache, &cachelen, 16);
	if (proto_dec_end(d) != EBB_OK) {
		snprintf(why, whylen, "%s", d->detail);
		return EBB_E_PROTO;
	}
	if (proto_check_inst_id(p->id, p->idlen) != EBB_OK) {
		snprintf(why, whylen, "bad instance id");
		return EBB_E_PROTO;
	}
	for (uint32_t i = 0; i < p->nmembers; i++) {
		const msgpack_object *m = &p->members[i];

		if (m->type != MSGPACK_OBJECT_STR ||
		    m->via.str.size > PROTO_MAX_MEMBER_LEN ||
		    memchr(m->via.str.ptr, '\0', m->via.str.size)) {
			snprintf(why, whylen, "member %u is not a host:port string", i);
			return EBB_E_PROTO;
		}
		if (m->via.str.size == 0) {
			snprintf(why, whylen, "member %u is empty", i);
			return EBB_EINVAL;
		}
	}
	if (p->nmembers == 0 || p->rank >= p->nmembers) {
		snprintf(why, whylen, "rank %u of %u members", p->rank,
			 p->nmembers);
		return EBB_EINVAL;
	}
	if (p->stripe_size < PROTO_MIN_STRIPE ||
	    p->stripe_size > PROTO_MAX_STRIPE ||
	    p->stripe_size % PROTO_MIN_STRIPE) {
		snprintf(why, whylen, "stripe size %u is not a multiple of "
			 "4 KiB in 4 KiB..16 MiB", p->stripe_size);
		return EBB_EINVAL;
	}
	if (p->capacity == 0) {
		snprintf(why, whylen, "capacity 0");
		return EBB_EINVAL;
	}
	if (cache && cachelen == 9 && memcmp(cache, "writeback", 9) == 0) {
		p->writeback = true;
	} else if (cache && !(cachelen == 4 && memcmp(cache, "none", 4) == 0)) {
		snprintf(why, whylen, "cache '%.*s' is not none or writeback",
			 (int)cachelen, cache);
		return EBB_EINVAL;
	}
	if (p->writeback && !p->mount) {
		snprintf(why, whylen, "cache writeback without mount (it is "
			 "the mount's cache)");
		return EBB_EINVAL;
	}
	return EBB_OK;
}

/* Store the parameters in the instance's "config" database. */
static ebb_err _params_store(struct bbd_inst *inst, char *why, size_t whylen)
{
	struct proto_enc e;
	MDB_txn *txn = NULL;
	MDB_val k = {sizeof(_params_key) - 1, (void *)_params_key}, v;
	int rc;

	/* cache only when it is not "none": a bbd from before it can still
	 * read every record that does not need it. */
	proto_enc_request(&e, PARAMS_VERSION, 0, inst->writeback ? 9 : 8);
	proto_put_cstr(&e, inst->id);
	proto_put_u64(&e, inst->rank);
	proto_put_array(&e, inst->nmembers);
	for (uint32_t i = 0; i < inst->nmembers; i++)
		proto_put_cstr(&e, inst->members[i]);
	proto_put_u64(&e, inst->stripe_size);
	proto_put_u64(&e, inst->capacity);
	proto_put_u64(&e, inst->uid);
	proto_put_u64(&e, inst->gid);
	proto_put_bool(&e, inst->mount);
	if (inst->writeback)
		proto_put_cstr(&e, "writeback");
	v.mv_size = e.sb.size;
	v.mv_data = e.sb.data;
	rc = mdb_txn_begin(inst->env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_put(txn, inst->dbi_config, &k, &v, 0);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else if (txn)
		mdb_txn_abort(txn);
	proto_enc_free(&e);
	if (rc != 0) {
		snprintf(why, whylen, "store parameters: %s", mdb_strerror(rc));
		return rc == MDB_MAP_FULL ? EBB_ENOSPC : EBB_EIO;
	}
	return EBB_OK;
}

/* Read the parameters back (start-up). */
static ebb_err _params_load(struct bbd_inst *inst, char *why, size_t whylen)
{
	MDB_txn *txn = NULL;
	MDB_val k = {sizeof(_params_key) - 1, (void *)_params_key}, v;
	struct proto_dec d;
	struct params p;
	uint64_t version = 0;
	uint32_t op = 0;
	ebb_err e = EBB_EIO;
	int rc;

	memset(&d, 0, sizeof(d));
	msgpack_unpacked_init(&d.up);
	rc = mdb_txn_begin(inst->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_get(txn, inst->dbi_config, &k, &v);
	if (rc != 0) {
		snprintf(why, whylen, "no parameters: %s", mdb_strerror(rc));
		goto out;
	}
	proto_dec_free(&d);
	if (proto_dec_request(&d, v.mv_data, v.mv_size, &version, &op) !=
		    EBB_OK ||
	    version != PARAMS_VERSION) {
		snprintf(why, whylen, "unreadable parameters");
		goto out;
	}
	e = _params_get(&d, &p, why, whylen);
	if (e == EBB_OK)
		e = _inst_set_params(inst, &p);
out:
	proto_dec_free(&d);
	if (txn)
		mdb_txn_abort(txn);
	return e;
}

static void _inst_register(struct bbd *b, struct bbd_inst *inst)
{
	pthread_rwlock_wrlock(&b->reg_lock);
	inst->next = b->insts;
	b->insts = inst;
	pthread_rwlock_unlock(&b->reg_lock);
}

static bool _inst_unregister(struct bbd *b, struct bbd_inst *inst)
{
	struct bbd_inst **pp;
	bool found = false;

	pthread_rwlock_wrlock(&b->reg_lock);
	for (pp = &b->insts; *pp; pp = &(*pp)->next) {
		if (*pp == inst) {
			*pp = inst->next;
			found = true;
			break;
		}
	}
	pthread_rwlock_unlock(&b->reg_lock);
	return found;
}

bool bbd_inst_may_use(const struct bbd_inst *inst, uid_t uid)
{
	return uid == 0 || uid == inst->uid;
}

struct bbd_inst *bbd_inst_get(struct bbd *b, const char *id, size_t len)
{
	struct bbd_inst *inst;

	pthread_rwlock_rdlock(&b->reg_lock);
	for (inst = b->insts; inst; inst = inst->next)
		if (strlen(inst->id) == len && memcmp(inst->id, id, len) == 0)
			break;
	if (inst)
		atomic_fetch_add(&inst->refs, 1);
	pthread_rwlock_unlock(&b->reg_lock);
	return inst;
}

void bbd_inst_totals(struct bbd *b, uint64_t *reserved, uint64_t *used,
		     unsigned *count)
{
	struct bbd_inst *inst;

	*reserved = *used = 0;
	*count = 0;
	pthread_rwlock_rdlock(&b->reg_lock);
	for (inst = b->insts; inst; inst = inst->next) {
		*reserved += inst->capacity;
		*used += atomic_load(&inst->used);
		(*count)++;
	}
	pthread_rwlock_unlock(&b->reg_lock);
}

/* Open the instance directory `name` under instances/ (start-up, and the
 * end of create).  Takes no lock; the caller registers it. */
static ebb_err _inst_open(struct bbd *b, const char *name, bool create,
			  struct bbd_inst *inst, char *why, size_t whylen)
{
	char path[4096];

	inst->dirfd = openat(b->instdirfd, name,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (inst->dirfd >= 0)
		inst->datafd = openat(inst->dirfd, "data",
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (inst->dirfd < 0 || inst->datafd < 0) {
		snprintf(why, whylen, "%s: %s", name, strerror(errno));
		return EBB_EIO;
	}
	snprintf(path, sizeof(path), "%s/instances/%s/meta", b->conf.root,
		 name);
	if (bbd_meta_open(inst, path, create, why, whylen) != EBB_OK)
		return EBB_EIO;
	return EBB_OK;
}

/* Destroy's commit: rename the directory to trash, forget the instance.
 * Its tree goes when the last reference does.  admin_lock held. */
static ebb_err _inst_remove_locked(struct bbd *b, struct bbd_inst *inst,
				   char *why, size_t whylen)
{
	char trash[64];

	snprintf(trash, sizeof(trash), ".trash-%u-%ld",
		 atomic_fetch_add(&b->trash_seq, 1), (long)time(NULL));
	if (renameat(b->instdirfd, inst->id, b->instdirfd, trash) != 0 ||
	    fsync(b->instdirfd) != 0) {
		snprintf(why, whylen, "rename %s: %s", inst->id,
			 strerror(errno));
		return ebb_err_from_errno(errno);
	}
	snprintf(inst->trash, sizeof(inst->trash), "%s", trash);
	inst->destroyed = true;
	if (_inst_unregister(b, inst))
		bbd_inst_unref(inst); /* the registry's reference */
	return EBB_OK;
}

/* ---- handlers ---------------------------------------------------------------- */

ebb_err bbd_op_inst_create(struct bbd_req *r)
{
	struct bbd *b = r->bbd;
	struct bbd_inst *old = NULL, *inst = NULL;
	uint64_t reserved, used;
	unsigned count;
	struct params p;
	char tmp[96], why[160];
	bool made = false;
	ebb_err e;

	e = _params_get(&r->dec, &p, why, sizeof(why));
	if (e != EBB_OK)
		return bbd_req_fail(r, e, "INST_CREATE: %s", why);

	pthread_mutex_lock(&b->admin_lock);
	old = bbd_inst_get(b, p.id, p.idlen);
	if (old) {
		enum bbd_mount_state ms;
		char path[8];

		if (!_inst_same(old, &p)) {
			bbd_req_fail(r, EBB_EEXIST, "instance %s exists with "
				     "other parameters", old->id);
			goto out;
		}
		/* Identical: never a second mount, but one that failed (or
		 * that start-up has not remounted yet) is started again. */
		bbd_mount_info(old, &ms, path, sizeof(path), why, sizeof(why));
		if (old->mount && (ms == BBD_MOUNT_NONE ||
				   ms == BBD_MOUNT_FAILED)) {
			e = bbd_mount_start(old, why, sizeof(why));
			if (e != EBB_OK) {
				bbd_req_fail(r, e, "%s", why);
				goto out;
			}
		}
		/* created = false: a caller rolling back a failed create on
		 * other members must not destroy this one, which it did not
		 * make and which may hold data. */
		proto_put_bool(&r->res, false);
		r->nres = 1;
		r->status = EBB_OK;
		goto out;
	}
	bbd_inst_totals(b, &reserved, &used, &count);
	if (reserved + p.capacity > b->conf.capacity ||
	    reserved + p.capacity < reserved) {
		char cap[32], res[32], ask[32];

		bbd_req_fail(r, EBB_ENOSPC, "not enough space on this node: "
			     "%s asked, %s offered (bbd --capacity), of which "
			     "%s is reserved by other instances",
			     units_format_size(p.capacity, ask, sizeof(ask)),
			     units_format_size(b->conf.capacity, cap,
					       sizeof(cap)),
			     units_format_size(reserved, res, sizeof(res)));
		goto out;
	}
	inst = _inst_alloc(b);
	if (!inst || _inst_set_params(inst, &p) != EBB_OK) {
		bbd_req_fail(r, EBB_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(tmp, sizeof(tmp), ".new-%s-%u", inst->id,
		 atomic_fetch_add(&b->trash_seq, 1));
	_rm_rf_at(b->instdirfd, tmp);
	if (mkdirat(b->instdirfd, tmp, 0700) != 0) {
		bbd_req_fail(r, ebb_err_from_errno(errno), "mkdir %s: %s", tmp,
			     strerror(errno));
		goto out;
	}
	made = true;
	{
		int fd = openat(b->instdirfd, tmp,
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int rc = fd < 0 ? -1 : mkdirat(fd, "meta", 0700);

		if (rc == 0)
			rc = mkdirat(fd, "data", 0700);
		if (fd >= 0)
			close(fd);
		if (rc != 0) {
			bbd_req_fail(r, ebb_err_from_errno(errno),
				     "mkdir in %s: %s", tmp, strerror(errno));
			goto out;
		}
	}
	if (_inst_open(b, tmp, true, inst, why, sizeof(why)) != EBB_OK ||
	    _params_store(inst, why, sizeof(why)) != EBB_OK) {
		bbd_req_fail(r, EBB_EIO, "%s", why);
		goto out;
	}
	if (placement_dentry_node(PROTO_ROOT_PARENT, "", 0, inst->nmembers) ==
		    inst->rank &&
	    bbd_meta_put_root(inst, inst->uid, inst->gid) != EBB_OK) {
		bbd_req_fail(r, EBB_EIO, "cannot write the root directory");
		goto out;
	}
	/* Durable before we answer: the shard, both directories, the name. */
	if (mdb_env_sync(inst->env, 1) != 0 || fsync(inst->datafd) != 0 ||
	    _fsync_at(inst->dirfd, "meta") != 0 || fsync(inst->dirfd) != 0 ||
	    renameat(b->instdirfd, tmp, b->instdirfd, inst->id) != 0 ||
	    fsync(b->instdirfd) != 0) {
		bbd_req_fail(r, ebb_err_from_errno(errno), "commit %s: %s",
			     inst->id, strerror(errno));
		goto out;
	}
	made = false;
	_inst_register(b, inst);
	log_info("instance %s created: rank %u of %u, stripe %u, capacity %"
		 PRIu64 ", owner %u:%u%s", inst->id, inst->rank, inst->nmembers,
		 inst->stripe_size, inst->capacity, inst->uid, inst->gid,
		 inst->mount ? (inst->writeback ? ", mounting (writeback "
						  "cache)" : ", mounting") : "");
	/* Registered first: the other members' ebb-fuse need it too.  A
	 * mount that does not come up undoes this create. */
	if (inst->mount &&
	    (e = bbd_mount_start(inst, why, sizeof(why))) != EBB_OK) {
		char why2[160];

		/* (bbd_mount_start took down what it had built.) */
		bbd_req_fail(r, e, "%s", why);
		log_info("instance %s: mount failed, create rolled back",
			 inst->id);
		if (_inst_remove_locked(b, inst, why2, sizeof(why2)) != EBB_OK)
			log_error("instance %.*s: rollback: %s", (int)p.idlen,
				  p.id, why2);
		inst = NULL; /* the registry's reference went with it */
		goto out;
	}
	inst = NULL;
	proto_put_bool(&r->res, true); /* created by this call */
	r->nres = 1;
	r->status = EBB_OK;
out:
	if (inst)
		_inst_free(inst);
	if (made)
		_rm_rf_at(b->instdirfd, tmp);
	if (old)
		bbd_inst_unref(old);
	pthread_mutex_unlock(&b->admin_lock);
	if (r->status != EBB_OK && r->status != EBB_EEXIST &&
	    r->status != EBB_ENOSPC)
		log_error("INST_CREATE %.*s failed: %s", (int)p.idlen, p.id,
			  r->detail);
	return r->status;
}

ebb_err bbd_op_inst_destroy(struct bbd_req *r)
{
	struct bbd *b = r->bbd;
	struct bbd_inst *inst = NULL;
	const char *id = NULL;
	uint32_t len = 0;
	char why[160];
	ebb_err e;

	proto_get_str(&r->dec, &id, &len, PROTO_MAX_INST_ID);
	if (bbd_req_args(r))
		return r->status;
	if (proto_check_inst_id(id, len) != EBB_OK)
		return bbd_req_fail(r, EBB_E_PROTO, "bad instance id");

	pthread_mutex_lock(&b->admin_lock);
	inst = bbd_inst_get(b, id, len);
	if (!inst) {
		bbd_req_fail(r, EBB_E_NOINST, "no instance '%.*s'", (int)len,
			     id);
		goto out;
	}
	/* Its stages stop first (they use the mount's namespace). */
	bbd_stage_inst_gone(b, inst);
	bbd_lock_inst_gone(inst); /* parked lock requests hold inst */
	/* The mount first: nothing may use the instance through it once
	 * its data starts to go. */
	bbd_mount_stop(inst);
	if ((e = _inst_remove_locked(b, inst, why, sizeof(why))) != EBB_OK) {
		bbd_req_fail(r, e, "%s", why);
		goto out;
	}
	log_info("instance %s destroyed", inst->id);
	r->status = EBB_OK;
out:
	if (inst)
		bbd_inst_unref(inst);
	pthread_mutex_unlock(&b->admin_lock);
	return r->status;
}

static void _put_inst_map(struct proto_enc *e, struct bbd_inst *inst)
{
	enum bbd_mount_state ms;
	char path[4096], why[160];

	bbd_mount_info(inst, &ms, path, sizeof(path), why, sizeof(why));
	proto_put_map(e, 14);
	proto_put_cstr(e, "id");
	proto_put_cstr(e, inst->id);
	proto_put_cstr(e, "rank");
	proto_put_u64(e, inst->rank);
	proto_put_cstr(e, "members");
	proto_put_array(e, inst->nmembers);
	for (uint32_t i = 0; i < inst->nmembers; i++)
		proto_put_cstr(e, inst->members[i]);
	proto_put_cstr(e, "stripe_size");
	proto_put_u64(e, inst->stripe_size);
	proto_put_cstr(e, "capacity");
	proto_put_u64(e, inst->capacity);
	proto_put_cstr(e, "used");
	proto_put_u64(e, atomic_load(&inst->used));
	proto_put_cstr(e, "uid");
	proto_put_u64(e, inst->uid);
	proto_put_cstr(e, "gid");
	proto_put_u64(e, inst->gid);
	proto_put_cstr(e, "state");
	proto_put_cstr(e, "active");
	proto_put_cstr(e, "files");
	proto_put_u64(e, bbd_meta_files(inst));
	proto_put_cstr(e, "mount");
	proto_put_cstr(e, path[0] ? path : NULL);
	proto_put_cstr(e, "mount_state");
	proto_put_cstr(e, bbd_mount_state_name(ms));
	proto_put_cstr(e, "mount_error");
	proto_put_cstr(e, why[0] ? why : NULL);
	proto_put_cstr(e, "cache");
	proto_put_cstr(e, inst->writeback ? "writeback" : "none");
}

ebb_err bbd_op_inst_list(struct bbd_req *r)
{
	struct bbd *b = r->bbd;
	struct bbd_inst *inst;
	uint32_t n = 0;

	if (bbd_req_args(r))
		return r->status;
	bbd_mount_reap(b);
	pthread_rwlock_rdlock(&b->reg_lock);
	for (inst = b->insts; inst; inst = inst->next)
		n++;
	proto_put_array(&r->res, n);
	for (inst = b->insts; inst; inst = inst->next)
		_put_inst_map(&r->res, inst);
	pthread_rwlock_unlock(&b->reg_lock);
	r->nres = 1;
	r->status = EBB_OK;
	return r->status;
}

ebb_err bbd_op_inst_get(struct bbd_req *r)
{
	const char *id = NULL;
	uint32_t len = 0;

	proto_get_str(&r->dec, &id, &len, PROTO_MAX_INST_ID);
	if (bbd_req_args(r))
		return r->status;
	if (proto_check_inst_id(id, len) != EBB_OK)
		return bbd_req_fail(r, EBB_E_PROTO, "bad instance id");
	bbd_mount_reap(r->bbd);
	r->inst = bbd_inst_get(r->bbd, id, len);
	if (!r->inst)
		return bbd_req_fail(r, EBB_E_NOINST, "no instance '%.*s'",
				    (int)len, id);
	_put_inst_map(&r->res, r->inst);
	r->nres = 1;
	r->status = EBB_OK;
	return r->status;
}

ebb_err bbd_op_node_status(struct bbd_req *r)
{
	struct bbd *b = r->bbd;
	uint64_t reserved, used;
	unsigned count, mounted, failed, nops = 0;
	uint64_t ops[BBD_OP_SLOTS], buf_cached, buf_maps, buf_reuses;

	if (bbd_req_args(r))
		return r->status;
	bbd_mount_reap(b);
	bbd_inst_totals(b, &reserved, &used, &count);
	bbd_mount_counts(b, &mounted, &failed);
	bbd_buf_stats(&buf_cached, &buf_maps, &buf_reuses);
	for (unsigned i = 0; i < BBD_OP_SLOTS; i++)
		if ((ops[i] = __atomic_load_n(&b->op_count[i],
					      __ATOMIC_RELAXED)) != 0)
			nops++;
	proto_put_map(&r->res, 19);
	proto_put_cstr(&r->res, "node");
	proto_put_cstr(&r->res, b->conf.node_name);
	proto_put_cstr(&r->res, "version");
	proto_put_cstr(&r->res, PACKAGE_VERSION);
	proto_put_cstr(&r->res, "proto");
	proto_put_u64(&r->res, PROTO_VERSION);
	proto_put_cstr(&r->res, "uptime_s");
	proto_put_u64(&r->res, (uint64_t)(time(NULL) - b->start_time));
	proto_put_cstr(&r->res, "capacity");
	proto_put_u64(&r->res, b->conf.capacity);
	proto_put_cstr(&r->res, "reserved");
	proto_put_u64(&r->res, reserved);
	proto_put_cstr(&r->res, "used");
	proto_put_u64(&r->res, used);
	proto_put_cstr(&r->res, "instances");
	proto_put_u64(&r->res, count);
	proto_put_cstr(&r->res, "mounts");
	proto_put_u64(&r->res, mounted);
	proto_put_cstr(&r->res, "mounts_failed");
	proto_put_u64(&r->res, failed);
	/* local reads (bbd_local.c): object fds passed, requests refused */
	proto_put_cstr(&r->res, "local_fds");
	proto_put_u64(&r->res, atomic_load(&b->local_fds));
	proto_put_cstr(&r->res, "local_refused");
	proto_put_u64(&r->res, atomic_load(&b->local_refused));
	/* WRITE payload buffers (bbd_buf.c): bytes kept, mapped, reused */
	proto_put_cstr(&r->res, "payload_cached");
	proto_put_u64(&r->res, buf_cached);
	proto_put_cstr(&r->res, "payload_maps");
	proto_put_u64(&r->res, buf_maps);
	proto_put_cstr(&r->res, "payload_reuses");
	proto_put_u64(&r->res, buf_reuses);
	/* connections by state and the limits (bbd_limit.c) */
	bbd_limit_status(b, &r->res);
	/* locks this node holds as home (bbd_lock.c) */
	bbd_lock_status(b, &r->res);
	proto_put_cstr(&r->res, "ops");
	proto_put_map(&r->res, nops);
	for (unsigned i = 0; i < BBD_OP_SLOTS; i++)
		if (ops[i]) {
			proto_put_cstr(&r->res, proto_op_name(i));
			proto_put_u64(&r->res, ops[i]);
		}
	r->nres = 1;
	r->status = EBB_OK;
	return r->status;
}

/* ---- start-up and shutdown ----------------------------------------------------- */

ebb_err bbd_inst_init(struct bbd *b, char *err, size_t errlen)
{
	char path[4096], why[256];
	struct dirent *de;
	DIR *d;
	int fd;

	snprintf(path, sizeof(path), "%s/instances", b->conf.root);
	if (mkdir(b->conf.root, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", b->conf.root, strerror(errno));
		return EBB_E_CONFIG;
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return EBB_E_CONFIG;
	}
	/* One daemon per root: two would each count capacity on their own
	 * and race on the same instances.  The kernel drops the lock when
	 * the process dies, kill -9 included. */
	snprintf(path, sizeof(path), "%s/.bbd.lock", b->conf.root);
	b->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (b->lockfd < 0 || flock(b->lockfd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "%s: %s", path,
			 errno == EWOULDBLOCK ? "another bbd uses this root"
					      : strerror(errno));
		return EBB_E_CONFIG;
	}
	snprintf(path, sizeof(path), "%s/instances", b->conf.root);
	b->instdirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b->instdirfd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return EBB_E_CONFIG;
	}
	fd = dup(b->instdirfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return EBB_EIO;
	}
	while ((de = readdir(d))) {
		struct bbd_inst *inst;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!strncmp(de->d_name, ".trash-", 7) ||
		    !strncmp(de->d_name, ".new-", 5)) {
			log_info("removing leftover %s/%s", path, de->d_name);
			_rm_rf_at(b->instdirfd, de->d_name);
			continue;
		}
		if (proto_check_inst_id(de->d_name, strlen(de->d_name)) !=
		    EBB_OK) {
			log_warn("ignoring %s/%s: not an instance id", path,
				 de->d_name);
			continue;
		}
		inst = _inst_alloc(b);
		if (!inst) {
			closedir(d);
			snprintf(err, errlen, "out of memory");
			return EBB_ENOMEM;
		}
		if (_inst_open(b, de->d_name, false, inst, why, sizeof(why)) ||
		    _params_load(inst, why, sizeof(why)) ||
		    strcmp(inst->id, de->d_name) != 0 ||
		    bbd_data_scan(inst) != EBB_OK) {
			log_error("instance %s not reopened: %s", de->d_name,
				  why);
			_inst_free(inst);
			continue;
		}
		_inst_register(b, inst);
		log_info("instance %s reopened: rank %u of %u, %" PRIu64
			 " of %" PRIu64 " bytes used, %" PRIu64 " dentries%s",
			 inst->id, inst->rank, inst->nmembers,
			 (uint64_t)atomic_load(&inst->used), inst->capacity,
			 bbd_meta_files(inst),
			 inst->mount ? ", to be mounted again" : "");
	}
	closedir(d);
	return bbd_mount_recover(b, err, errlen);
}

void bbd_inst_sync_all(struct bbd *b)
{
	struct bbd_inst *inst, **list = NULL;
	unsigned n = 0, i = 0;

	/* Take references under the lock, sync outside it. */
	pthread_rwlock_rdlock(&b->reg_lock);
	for (inst = b->insts; inst; inst = inst->next)
		n++;
	if (n)
		list = calloc(n, sizeof(*list));
	for (inst = b->insts; list && inst; inst = inst->next) {
		atomic_fetch_add(&inst->refs, 1);
		list[i++] = inst;
	}
	pthread_rwlock_unlock(&b->reg_lock);
	for (unsigned j = 0; j < i; j++) {
		int rc = mdb_env_sync(list[j]->env, 1);

		if (rc != 0)
			log_error("instance %s: sync: %s", list[j]->id,
				  mdb_strerror(rc));
		bbd_inst_unref(list[j]);
	}
	free(list);
}

void bbd_inst_fini(struct bbd *b)
{
	struct bbd_inst *inst;

	while ((inst = b->insts)) {
		b->insts = inst->next;
		bbd_inst_unref(inst);
	}
	if (b->instdirfd >= 0)
		close(b->instdirfd);
	b->instdirfd = -1;
}
