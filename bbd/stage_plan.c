/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd stage coordinator: plans a stage on the instance's rank 0, hands the
 * file list to every member and follows them to the end.
 *
 * DESIGN (docs/stager.md): one pthread per running stage; blocking calls
 * are fine here.  Stage-in: list (or HEAD one object), HEAD every object
 * with many requests in flight on a private event_base (x-amz-meta-* is
 * only in HEAD), map keys to paths (non-POSIX keys are skipped and
 * reported), create the namespace through libebb as root (directories,
 * implied parents, files with their final size, symlinks, owners, modes,
 * times), then save the plan.  Stage-out: walk the source through libebb,
 * keep the files that are new or changed since this instance's stage-ins
 * (same inode, size and mtime = unchanged), PUT symlinks and empty
 * directories at once, create one multipart upload per large file, then
 * save the plan.  Either way every member gets the same file list
 * (STAGE_WORK, in batches) and derives its own share by placement; the
 * coordinator polls them (STAGE_POLL), counts a file finished when every
 * member holding a part of it reported, completes multipart uploads (or
 * aborts them on failure or cancel) and writes failures.csv.
 *
 * A restarted coordinator with a saved plan skips planning; members skip
 * what their done-logs list.  A member that does not know the run
 * (restarted) gets the work again; one whose poll failed is asked to
 * report everything again ("resync"); duplicates are ignored (a bit per
 * file and member).
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

#include <event2/event.h>

#include "ebb/ebb.h"
#include "log.h"
#include "placement.h"
#include "stage_int.h"
#include "stagelink_int.h"

#define MEMBER_DEAD_MS (300 * 1000)

struct pfail {
	char *path;
	enum stg_fail code;
	char *msg;
};

struct coord {
	struct bbd_stage *st;
	struct bbd *b;
	struct bbd_inst *inst;
	uint32_t n;
	char bucket[S3PATH_MAX_BUCKET + 1];
	char key[S3PATH_MAX_KEY + 1];
	struct stg_cred cred;
	bool have_cred;
	ebb_t *h;
	struct ebb_stage_link *link;
	uint64_t run_id, part_stripes;
	/* the plan */
	struct stage_file *files;
	size_t nfiles, capfiles;
	struct pfail *fails;
	size_t nfails, capfails;
	uint64_t skipped;
	uint64_t bytes;
	/* the tally */
	uint32_t *left;            /* holders not reported yet */
	uint8_t *seen;             /* bit (file * n + member) */
	bool *failed, *finished;
	enum stg_fail *fcode;
	char **fmsg;
	struct stg_part **parts;
	unsigned *nparts;
	uint64_t nfinished, nfailed;
	bool *resync, *resend;
	int64_t *last_ok_ms;
	char err[1024];
};

/* ---- small helpers -------------------------------------------------------------- */

static int64_t _ms(void)
{
	return bbd_now_ns() / 1000000;
}

static bool _stop(struct coord *c)
{
	return atomic_load(&c->st->halt) || atomic_load(&c->st->cancel) ||
	       c->inst->destroyed;
}

static void _add_fail(struct coord *c, const char *path, enum stg_fail code,
		      const char *msg)
{
	if (c->nfails == c->capfails) {
		size_t cap = c->capfails ? 2 * c->capfails : 16;
		struct pfail *n = realloc(c->fails, cap * sizeof(*n));

		if (!n)
			return;
		c->fails = n;
		c->capfails = cap;
	}
	c->fails[c->nfails].path = strdup(path);
	c->fails[c->nfails].code = code;
	c->fails[c->nfails].msg = strdup(msg ? msg : "");
	c->nfails++;
}

static struct stage_file *_add_file(struct coord *c)
{
	if (c->nfiles == c->capfiles) {
		size_t cap = c->capfiles ? 2 * c->capfiles : 64;
		struct stage_file *n = realloc(c->files, cap * sizeof(*n));

		if (!n)
			return NULL;
		c->files = n;
		c->capfiles = cap;
	}
	memset(&c->files[c->nfiles], 0, sizeof(*c->files));
	return &c->files[c->nfiles++];
}

/* "dest" + "/" + rel, normalised to one absolute path. */
static char *_join(const char *dest, const char *rel)
{
	char *out;
	size_t dl;

	while (*dest == '/')
		dest++;
	dl = strlen(dest);
	while (dl && dest[dl - 1] == '/')
		dl--;
	if (asprintf(&out, "/%.*s%s%s", (int)dl, dest,
		     dl && *rel ? "/" : "", rel) < 0)
		return NULL;
	return out;
}

static ebb_t *_attach(struct coord *c)
{
	struct ebb_options o = {.munge_socket = c->b->conf.munge_socket};

	if (!c->h)
		c->h = ebb_attach(c->inst->id,
				  (const char *const *)c->inst->members,
				  c->inst->nmembers, &o);
	return c->h;
}

static ebb_err _creds(struct coord *c)
{
	if (c->have_cred)
		return EBB_OK;
	if (stg_cred_resolve(&c->b->conf.s3, &c->cred, c->err,
			     sizeof(c->err)) != EBB_OK)
		return EBB_EACCES;
	c->have_cred = true;
	return EBB_OK;
}

/* One S3 call to its end; res freed by the caller. */
static ebb_err _sync(struct coord *c, const struct stg_call *call,
		     struct stg_result *res)
{
	memset(res, 0, sizeof(*res));
	return stg_s3_sync(&c->b->conf.s3, &c->cred, call, res);
}

/* mkdir -p of path's parents and path itself (dirs made 0755, owned by
 * the job's user).  Remembers the last one made. */
static ebb_err _mkdirs(struct coord *c, const char *path, char **last)
{
	char buf[PROTO_MAX_PATH + 1];
	size_t len = strlen(path);

	if (*last && !strcmp(*last, path))
		return EBB_OK;
	if (len >= sizeof(buf))
		return EBB_ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || !*p) {
			char save = *p;

			*p = 0;
			if (ebb_mkdir(c->h, buf, 0755) == 0)
				(void)ebb_chown(c->h, buf, c->st->spec.uid,
						c->st->spec.gid);
			else if (errno != EEXIST)
				return ebb_err_from_errno(errno);
			*p = save;
			if (!save)
				break;
		}
	}
	free(*last);
	*last = strdup(path);
	return EBB_OK;
}

static char *_parent(const char *path)
{
	const char *s = strrchr(path, '/');

	if (!s || s == path)
		return strdup("/");
	return strndup(path, (size_t)(s - path));
}

/* ---- the plan on disk --------------------------------------------------------------- */

static void _pk_str(msgpack_packer *pk, const char *s)
{
	if (!s) {
		msgpack_pack_nil(pk);
		return;
	}
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

static void _pack_entry(msgpack_packer *pk, const struct stage_file *f)
{
	msgpack_pack_array(pk, 10);
	msgpack_pack_uint64(pk, f->ino);
	_pk_str(pk, f->key);
	_pk_str(pk, f->tag);
	msgpack_pack_uint64(pk, f->size);
	_pk_str(pk, f->path);
	msgpack_pack_uint64(pk, f->mode);
	msgpack_pack_uint64(pk, f->uid);
	msgpack_pack_uint64(pk, f->gid);
	msgpack_pack_int64(pk, f->atime_ns);
	msgpack_pack_int64(pk, f->mtime_ns);
}

static ebb_err _save_plan(struct coord *c)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	_pk_str(&pk, "files");
	msgpack_pack_array(&pk, (uint32_t)c->nfiles);
	for (size_t i = 0; i < c->nfiles; i++)
		_pack_entry(&pk, &c->files[i]);
	_pk_str(&pk, "fails");
	msgpack_pack_array(&pk, (uint32_t)c->nfails);
	for (size_t i = 0; i < c->nfails; i++) {
		msgpack_pack_array(&pk, 3);
		_pk_str(&pk, c->fails[i].path);
		msgpack_pack_uint64(&pk, c->fails[i].code);
		_pk_str(&pk, c->fails[i].msg);
	}
	_pk_str(&pk, "skipped");
	msgpack_pack_uint64(&pk, c->skipped);
	rc = stage_write_file(c->st->dirfd, "plan", sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc == 0 ? EBB_OK : EBB_EIO;
}

static char *_ostr(const msgpack_object *o)
{
	if (!o || o->type != MSGPACK_OBJECT_STR)
		return NULL;
	return strndup(o->via.str.ptr, o->via.str.size);
}

static int64_t _oi64(const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return o->via.i64;
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ?
		       (int64_t)o->via.u64 : 0;
}

/* Read a plan file of dirfd into c (files, fails, skipped).  false if
 * there is none. */
static bool _load_plan_from(struct coord *c, int dirfd)
{
	struct stat sb;
	msgpack_unpacked up;
	const msgpack_object *fl, *fa;
	char *buf;
	bool ok = false;
	int fd = openat(dirfd, "plan", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (fstat(fd, &sb) != 0 || !(buf = malloc((size_t)sb.st_size + 1))) {
		close(fd);
		return false;
	}
	if (read(fd, buf, (size_t)sb.st_size) != sb.st_size) {
		close(fd);
		free(buf);
		return false;
	}
	close(fd);
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, buf, (size_t)sb.st_size, NULL) !=
	    MSGPACK_UNPACK_SUCCESS)
		goto out;
	fl = proto_map_get(&up.data, "files");
	fa = proto_map_get(&up.data, "fails");
	if (!fl || fl->type != MSGPACK_OBJECT_ARRAY)
		goto out;
	for (uint32_t i = 0; i < fl->via.array.size; i++) {
		const msgpack_object *a = &fl->via.array.ptr[i], *v;
		struct stage_file *f;

		if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size < 10 ||
		    !(f = _add_file(c)))
			goto out;
		v = a->via.array.ptr;
		f->ino = v[0].via.u64;
		f->key = _ostr(&v[1]);
		f->tag = _ostr(&v[2]);
		f->size = v[3].via.u64;
		f->path = _ostr(&v[4]);
		f->mode = (uint32_t)v[5].via.u64;
		f->uid = (uint32_t)v[6].via.u64;
		f->gid = (uint32_t)v[7].via.u64;
		f->atime_ns = _oi64(&v[8]);
		f->mtime_ns = _oi64(&v[9]);
		c->bytes += f->size;
	}
	for (uint32_t i = 0; fa && fa->type == MSGPACK_OBJECT_ARRAY &&
			     i < fa->via.array.size; i++) {
		const msgpack_object *a = &fa->via.array.ptr[i];
		char *p, *m;

		if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size < 3)
			continue;
		p = _ostr(&a->via.array.ptr[0]);
		m = _ostr(&a->via.array.ptr[2]);
		_add_fail(c, p ? p : "?",
			  (enum stg_fail)a->via.array.ptr[1].via.u64, m);
		free(p);
		free(m);
	}
	proto_map_u64(&up.data, "skipped", &c->skipped);
	ok = true;
out:
	msgpack_unpacked_destroy(&up);
	free(buf);
	return ok;
}

/* ---- stage-in planning ------------------------------------------------------------- */

struct obj {
	char *key;
	char *path;
	char kind;                 /* 'f' or 'd' */
	uint64_t size;
	char etag[80];
	int64_t mtime_ns;
	struct stg_attr attr;
	ebb_err err;
	enum stg_fail fail;
	char msg[300];
	struct heads *hs;
};

struct heads {
	struct obj *objs;
	size_t n, next, pending;
	struct stg_s3 *s3;
	struct coord *c;
};

static void _head_done(const struct stg_result *res, void *arg);

static void _head_submit(struct heads *hs)
{
	while (hs->next < hs->n && hs->pending < 256) {
		struct obj *o = &hs->objs[hs->next++];
		struct stg_call call = {
			.op = STG_HEAD, .bucket = hs->c->bucket, .key = o->key,
		};
		char err[256];

		o->hs = hs;
		if (stg_s3_submit(hs->s3, &call, _head_done, o, err,
				  sizeof(err)) != EBB_OK) {
			o->err = EBB_EINVAL;
			o->fail = STG_F_INTERNAL;
			snprintf(o->msg, sizeof(o->msg), "%s", err);
			continue;
		}
		hs->pending++;
	}
}

static void _head_done(const struct stg_result *res, void *arg)
{
	struct obj *o = arg;
	struct heads *hs = o->hs;
	char warn[256] = "";

	o->err = res->err;
	if (res->err != EBB_OK) {
		o->fail = stg_fail_of(res);
		snprintf(o->msg, sizeof(o->msg), "%s", res->message);
	} else {
		snprintf(o->etag, sizeof(o->etag), "%s", res->etag);
		o->size = res->size;
		o->mtime_ns = res->mtime_ns;
		stg_attr_from_meta(res->meta, res->nmeta, o->kind,
				   hs->c->st->spec.uid, hs->c->st->spec.gid,
				   res->mtime_ns, &o->attr, warn,
				   sizeof(warn));
		if (warn[0])
			log_warn("stage %s: %s: %s", hs->c->st->spec.name,
				 o->key, warn);
	}
	hs->pending--;
	_head_submit(hs);
}

/* HEAD every object, many in flight, on a private event_base. */
static ebb_err _head_all(struct coord *c, struct obj *objs, size_t n)
{
	struct event_base *base = event_base_new();
	struct heads hs = {.objs = objs, .n = n, .c = c};

	if (!base)
		return EBB_ENOMEM;
	hs.s3 = stg_s3_new(base, &c->b->conf.s3, &c->cred, c->err,
			   sizeof(c->err));
	if (!hs.s3) {
		event_base_free(base);
		return EBB_EINVAL;
	}
	_head_submit(&hs);
	while (hs.pending > 0 && !_stop(c))
		event_base_loop(base, EVLOOP_ONCE);
	/* a stop: let what is in flight end */
	while (hs.pending > 0)
		event_base_loop(base, EVLOOP_ONCE);
	stg_s3_free(hs.s3);
	event_base_free(base);
	return _stop(c) ? EBB_EAGAIN : EBB_OK;
}

static void _obj_free(struct obj *o, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(o[i].key);
		free(o[i].path);
	}
	free(o);
}

static int _obj_cmp(const void *a, const void *b)
{
	const struct obj *x = a, *y = b;

	return strcmp(x->path ? x->path : "", y->path ? y->path : "");
}

/* List or HEAD the source; fill objs.  Fatal errors in c->err. */
static ebb_err _list_in(struct coord *c, struct obj **out, size_t *nout,
			bool *is_dir)
{
	const struct stage_spec *sp = &c->st->spec;
	size_t klen = strlen(c->key), n = 0, cap = 0;
	struct obj *objs = NULL;
	char *token = NULL, prefix[S3PATH_MAX_KEY + 2];
	ebb_err e = EBB_OK;

	*is_dir = sp->type == 2 ||
		  (sp->type == 0 && (klen == 0 || c->key[klen - 1] == '/'));
	if (!*is_dir) {
		if (!(objs = calloc(1, sizeof(*objs))))
			return EBB_ENOMEM;
		objs[0].key = strdup(c->key);
		objs[0].kind = 'f';
		*out = objs;
		*nout = 1;
		return EBB_OK;
	}
	snprintf(prefix, sizeof(prefix), "%s%s", c->key,
		 klen && c->key[klen - 1] != '/' ? "/" : "");
	do {
		struct stg_call call = {
			.op = STG_LIST, .bucket = c->bucket, .prefix = prefix,
			.token = token,
		};
		struct stg_result res;

		e = _sync(c, &call, &res);
		free(token);
		token = NULL;
		if (e != EBB_OK) {
			snprintf(c->err, sizeof(c->err), "%s", res.message);
			stg_result_free(&res);
			break;
		}
		for (unsigned i = 0; i < res.nobjects; i++) {
			if (n == cap) {
				struct obj *no;

				cap = cap ? 2 * cap : 256;
				if (!(no = realloc(objs, cap * sizeof(*no)))) {
					e = EBB_ENOMEM;
					break;
				}
				objs = no;
			}
			memset(&objs[n], 0, sizeof(*objs));
			objs[n].key = strdup(res.objects[i].key);
			objs[n].size = res.objects[i].size;
			n++;
		}
		if (res.truncated && res.next_token)
			token = strdup(res.next_token);
		stg_result_free(&res);
	} while (token && e == EBB_OK && !_stop(c));
	free(token);
	if (e != EBB_OK) {
		_obj_free(objs, n);
		return e;
	}
	*out = objs;
	*nout = n;
	return EBB_OK;
}

static ebb_err _plan_in(struct coord *c)
{
	const struct stage_spec *sp = &c->st->spec;
	struct obj *objs = NULL;
	size_t nobj = 0, plen = 0;
	char *lastdir = NULL, path[PROTO_MAX_PATH + 1], why[128];
	bool is_dir;
	ebb_err e;

	if ((e = _list_in(c, &objs, &nobj, &is_dir)) != EBB_OK)
		return e;
	if (is_dir) {
		size_t kl = strlen(c->key);

		plen = kl + (kl && c->key[kl - 1] != '/');
	}
	/* key -> path; the refused ones are skipped and reported */
	for (size_t i = 0; i < nobj; i++) {
		struct obj *o = &objs[i];
		bool d = false;

		if (!is_dir) {
			const char *base = strrchr(o->key, '/');
			size_t dl = strlen(sp->destination);

			base = base ? base + 1 : o->key;
			if (dl && sp->destination[dl - 1] == '/')
				o->path = _join(sp->destination, base);
			else
				o->path = _join(sp->destination, "");
			continue;
		}
		if (stg_key_to_path(o->key + plen, path, sizeof(path), &d, why,
				    sizeof(why)) != EBB_OK) {
			char msg[200];

			snprintf(msg, sizeof(msg), "key '%s': %s", o->key, why);
			_add_fail(c, o->key, STG_F_NOT_POSIX, msg);
			c->skipped++;
			o->err = EBB_EINVAL;
			continue;
		}
		o->kind = d ? 'd' : 'f';
		o->path = _join(sp->destination, path);
	}
	/* HEAD for metadata (and a fresh ETag) */
	{
		size_t k = 0;
		struct obj *live = calloc(nobj ? nobj : 1, sizeof(*live));

		if (!live) {
			_obj_free(objs, nobj);
			return EBB_ENOMEM;
		}
		for (size_t i = 0; i < nobj; i++)
			if (objs[i].err == EBB_OK && objs[i].path)
				live[k++] = objs[i];
			else {
				free(objs[i].key);
				free(objs[i].path);
			}
		free(objs);
		objs = live;
		nobj = k;
	}
	e = _head_all(c, objs, nobj);
	if (e != EBB_OK)
		goto out;
	if (!is_dir && objs[0].err != EBB_OK) {
		/* the one object is missing or refused: nothing to create */
		snprintf(c->err, sizeof(c->err), "%s", objs[0].msg);
		if (objs[0].fail == STG_F_NOT_FOUND)
			_add_fail(c, objs[0].key, objs[0].fail, objs[0].msg);
		e = objs[0].fail == STG_F_NOT_FOUND ? EBB_ENOENT : EBB_E_S3;
		goto out;
	}
	for (size_t i = 0; i < nobj; i++)
		if (objs[i].err == EBB_EACCES ||
		    (objs[i].err == EBB_E_S3 &&
		     objs[i].fail == STG_F_ACCESS_DENIED)) {
			/* refused credentials: stop before creating anything */
			snprintf(c->err, sizeof(c->err), "%s", objs[i].msg);
			e = EBB_EACCES;
			goto out;
		}
	qsort(objs, nobj, sizeof(*objs), _obj_cmp);
	/* the namespace */
	if (!_attach(c)) {
		snprintf(c->err, sizeof(c->err), "attach: %s", strerror(errno));
		e = EBB_EIO;
		goto out;
	}
	{
		char *dest = _join(sp->destination, "");

		e = dest ? _mkdirs(c, dest, &lastdir) : EBB_ENOMEM;
		free(dest);
		if (e != EBB_OK) {
			snprintf(c->err, sizeof(c->err), "mkdir %s: %s",
				 sp->destination, ebb_strerror(e));
			goto out;
		}
	}
	for (size_t i = 0; i < nobj && !_stop(c); i++) {
		struct obj *o = &objs[i];
		struct stg_attr *a = &o->attr;
		struct timespec ts[2] = {
			{a->atime_ns / 1000000000, a->atime_ns % 1000000000},
			{a->mtime_ns / 1000000000, a->mtime_ns % 1000000000},
		};
		char *parent = _parent(o->path);
		ebb_err fe = EBB_OK;

		if (o->err != EBB_OK) {
			_add_fail(c, o->path, o->fail, o->msg);
			free(parent);
			continue;
		}
		if (o->kind == 'd') {
			fe = _mkdirs(c, o->path, &lastdir);
			if (fe == EBB_OK && strcmp(o->path, "/")) {
				(void)ebb_chmod(c->h, o->path, a->mode & 07777);
				(void)ebb_chown(c->h, o->path, a->uid, a->gid);
			}
			free(parent);
			if (fe != EBB_OK)
				_add_fail(c, o->path, STG_F_INTERNAL,
					  ebb_strerror(fe));
			continue;
		}
		fe = _mkdirs(c, parent, &lastdir);
		if (fe == EBB_OK && S_ISLNK(a->mode)) {
			struct stg_call call = {
				.op = STG_GET, .bucket = c->bucket,
				.key = o->key, .if_match = o->etag,
			};
			struct stg_result res;
			char target[PROTO_MAX_TARGET + 1];
			struct ebb_stat ps, in = {0};

			if (o->size > PROTO_MAX_TARGET || o->size == 0) {
				_add_fail(c, o->path, STG_F_UNSUPPORTED,
					  "symlink target size");
				free(parent);
				continue;
			}
			call.buf = target;
			call.len = o->size;
			if (_sync(c, &call, &res) != EBB_OK) {
				_add_fail(c, o->path, stg_fail_of(&res),
					  res.message);
				stg_result_free(&res);
				free(parent);
				continue;
			}
			stg_result_free(&res);
			target[o->size] = 0;
			if (ebb_symlink(c->h, target, o->path) != 0 &&
			    errno != EEXIST)
				fe = ebb_err_from_errno(errno);
			else if (ebb_stat(c->h, parent, &ps) == 0) {
				in.uid = a->uid;
				in.gid = a->gid;
				in.mtime = ts[1];
				in.atime = ts[0];
				(void)ebb_setattrat(c->h, ps.ino,
					strrchr(o->path, '/') + 1,
					EBB_SET_UID | EBB_SET_GID |
					EBB_SET_ATIME | EBB_SET_MTIME, &in,
					NULL);
			}
		} else if (fe == EBB_OK && !S_ISREG(a->mode)) {
			_add_fail(c, o->path, STG_F_UNSUPPORTED,
				  "not a regular file, directory or symlink");
			free(parent);
			continue;
		} else if (fe == EBB_OK) {
			struct ebb_stat fs;
			ebb_file_t *f = ebb_open(c->h, o->path,
						 O_CREAT | O_WRONLY,
						 a->mode & 07777);
			struct stage_file *pf;

			if (!f || ebb_fstat(f, &fs) != 0) {
				fe = ebb_err_from_errno(errno);
				if (f)
					ebb_close(f);
			} else {
				ebb_close(f);
				if (fs.size != o->size &&
				    ebb_truncate(c->h, o->path,
						 (off_t)o->size) != 0)
					fe = ebb_err_from_errno(errno);
				else if (ebb_chown(c->h, o->path, a->uid,
						   a->gid) != 0 ||
					 ebb_chmod(c->h, o->path,
						   a->mode & 07777) != 0 ||
					 ebb_utimens(c->h, o->path, ts) != 0)
					fe = ebb_err_from_errno(errno);
			}
			if (fe == EBB_OK && (pf = _add_file(c))) {
				pf->ino = fs.ino;
				pf->size = o->size;
				pf->key = strdup(o->key);
				pf->tag = strdup(o->etag);
				pf->path = strdup(o->path);
				pf->mode = a->mode;
				pf->uid = a->uid;
				pf->gid = a->gid;
				pf->atime_ns = a->atime_ns;
				pf->mtime_ns = a->mtime_ns;
				c->bytes += o->size;
			}
		}
		if (fe != EBB_OK)
			_add_fail(c, o->path, STG_F_INTERNAL,
				  ebb_strerror(fe));
		free(parent);
	}
	/* directory times last: creating entries changed nothing in ebb
	 * (no directory mtime updates), but keep the order FSx uses */
	for (size_t i = 0; i < nobj; i++) {
		struct obj *o = &objs[i];
		struct timespec ts[2] = {
			{o->attr.atime_ns / 1000000000,
			 o->attr.atime_ns % 1000000000},
			{o->attr.mtime_ns / 1000000000,
			 o->attr.mtime_ns % 1000000000},
		};

		if (o->err == EBB_OK && o->kind == 'd')
			(void)ebb_utimens(c->h, o->path, ts);
	}
	e = _stop(c) ? EBB_EAGAIN : EBB_OK;
out:
	free(lastdir);
	_obj_free(objs, nobj);
	return e;
}

/* ---- stage-out planning --------------------------------------------------------------- */

struct imported {
	uint64_t *ino, *size;
	int64_t *mtime;
	size_t n;
};

/* ino -> (size, mtime) of every stage-in plan of this instance. */
static void _load_imported(struct coord *c, struct imported *imp)
{
	int top = openat(c->inst->dirfd, "stage",
			 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	memset(imp, 0, sizeof(*imp));
	if (top < 0 || !(d = fdopendir(top))) {
		if (top >= 0)
			close(top);
		return;
	}
	while ((de = readdir(d))) {
		struct coord tmp = {0};
		int fd;

		if (de->d_name[0] == '.' ||
		    !strcmp(de->d_name, c->st->spec.name))
			continue;
		fd = openat(dirfd(d), de->d_name,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (_load_plan_from(&tmp, fd)) {
			for (size_t i = 0; i < tmp.nfiles; i++) {
				/* only stage-in plans carry ETags */
				if (!tmp.files[i].tag ||
				    tmp.files[i].tag[0] != '"')
					continue;
				imp->ino = realloc(imp->ino,
					(imp->n + 1) * sizeof(uint64_t));
				imp->size = realloc(imp->size,
					(imp->n + 1) * sizeof(uint64_t));
				imp->mtime = realloc(imp->mtime,
					(imp->n + 1) * sizeof(int64_t));
				if (!imp->ino || !imp->size || !imp->mtime)
					break;
				imp->ino[imp->n] = tmp.files[i].ino;
				imp->size[imp->n] = tmp.files[i].size;
				imp->mtime[imp->n] = tmp.files[i].mtime_ns;
				imp->n++;
			}
		}
		for (size_t i = 0; i < tmp.nfiles; i++)
			stage_file_fini(&tmp.files[i]);
		free(tmp.files);
		for (size_t i = 0; i < tmp.nfails; i++) {
			free(tmp.fails[i].path);
			free(tmp.fails[i].msg);
		}
		free(tmp.fails);
		close(fd);
	}
	closedir(d);
}

static bool _unchanged(const struct imported *imp, const struct ebb_stat *s)
{
	int64_t m = (int64_t)s->mtime.tv_sec * 1000000000 + s->mtime.tv_nsec;

	for (size_t i = 0; i < imp->n; i++)
		if (imp->ino[i] == s->ino)
			return imp->size[i] == s->size && imp->mtime[i] == m;
	return false;
}

static void _attr_of(const struct ebb_stat *s, struct stg_attr *a)
{
	a->mode = s->mode;
	a->uid = s->uid;
	a->gid = s->gid;
	a->atime_ns = (int64_t)s->atime.tv_sec * 1000000000 + s->atime.tv_nsec;
	a->mtime_ns = (int64_t)s->mtime.tv_sec * 1000000000 + s->mtime.tv_nsec;
}

/* PUT a small body (symlink target, directory marker) right away. */
static void _put_now(struct coord *c, const char *key, const char *path,
		     const void *body, size_t len, const struct stg_attr *a)
{
	struct stg_meta meta[5];
	char mbuf[256];
	struct stg_call call = {
		.op = STG_PUT, .bucket = c->bucket, .key = key,
		.body = body, .body_len = len, .meta = meta,
	};
	struct stg_result res;

	call.nmeta = stg_attr_to_meta(a, meta, mbuf, sizeof(mbuf));
	if (_sync(c, &call, &res) != EBB_OK)
		_add_fail(c, path, stg_fail_of(&res), res.message);
	stg_result_free(&res);
}

static ebb_err _walk_out(struct coord *c, const char *dir, const char *rel,
			 const struct imported *imp, unsigned depth)
{
	struct ebb_dirent ent;
	ebb_dir_t *d;
	unsigned count = 0;
	ebb_err e = EBB_OK;
	int rc;

	if (depth > 256)
		return EBB_ELOOP;
	if (!(d = ebb_opendir(c->h, dir)))
		return ebb_err_from_errno(errno);
	while (e == EBB_OK && !_stop(c) && (rc = ebb_readdir(d, &ent)) == 1) {
		char *path = NULL, *r = NULL, *key;
		struct stg_attr a;

		count++;
		if (depth == 0 && !strcmp(ent.name, ".ebb"))
			continue;   /* stage-in reports */
		if (asprintf(&path, "%s%s%s", dir,
			     strcmp(dir, "/") ? "/" : "", ent.name) < 0 ||
		    asprintf(&r, "%s%s%s", rel, *rel ? "/" : "",
			     ent.name) < 0) {
			free(path);
			e = EBB_ENOMEM;
			break;
		}
		_attr_of(&ent.st, &a);
		if (S_ISDIR(ent.st.mode)) {
			e = _walk_out(c, path, r, imp, depth + 1);
		} else if (S_ISLNK(ent.st.mode)) {
			char target[PROTO_MAX_TARGET + 1];
			ssize_t n = ebb_readlink(c->h, path, target,
						 sizeof(target));

			key = stg_path_to_key(c->key, r, false);
			if (n < 0 || !key)
				_add_fail(c, path, STG_F_INTERNAL,
					  strerror(errno));
			else
				_put_now(c, key, path, target, (size_t)n, &a);
			free(key);
		} else if (S_ISREG(ent.st.mode)) {
			struct stage_file *f;

			if (_unchanged(imp, &ent.st)) {
				c->skipped++;
			} else if ((f = _add_file(c))) {
				f->ino = ent.st.ino;
				f->size = ent.st.size;
				f->key = stg_path_to_key(c->key, r, false);
				f->path = strdup(path);
				f->mode = a.mode;
				f->uid = a.uid;
				f->gid = a.gid;
				f->atime_ns = a.atime_ns;
				f->mtime_ns = a.mtime_ns;
				c->bytes += f->size;
			}
		} else {
			_add_fail(c, path, STG_F_UNSUPPORTED,
				  "not a regular file, directory or symlink");
		}
		free(path);
		free(r);
	}
	ebb_closedir(d);
	if (e == EBB_OK && count == 0 && depth > 0) {
		/* an empty directory: its marker */
		struct ebb_stat s;
		struct stg_attr a;
		char *key = stg_path_to_key(c->key, rel, true);

		if (key && ebb_lstat(c->h, dir, &s) == 0) {
			_attr_of(&s, &a);
			_put_now(c, key, dir, "", 0, &a);
		}
		free(key);
	}
	return e;
}

static ebb_err _plan_out(struct coord *c)
{
	const struct stage_spec *sp = &c->st->spec;
	uint64_t threshold = c->b->conf.s3.multipart_threshold ?
				     c->b->conf.s3.multipart_threshold :
				     16ull << 20;
	struct imported imp;
	char *src;
	ebb_err e;

	if (!_attach(c)) {
		snprintf(c->err, sizeof(c->err), "attach: %s", strerror(errno));
		return EBB_EIO;
	}
	/* a refused credential shows before anything is written */
	{
		struct stg_call call = {
			.op = STG_LIST, .bucket = c->bucket, .prefix = c->key,
			.max_keys = 1,
		};
		struct stg_result res;

		if ((e = _sync(c, &call, &res)) != EBB_OK) {
			snprintf(c->err, sizeof(c->err), "%s", res.message);
			stg_result_free(&res);
			return e;
		}
		stg_result_free(&res);
	}
	_load_imported(c, &imp);
	src = _join(sp->source, "");
	e = src ? _walk_out(c, src, "", &imp, 0) : EBB_ENOMEM;
	if (e != EBB_OK)
		snprintf(c->err, sizeof(c->err), "walk %s: %s", sp->source,
			 ebb_strerror(e));
	free(src);
	free(imp.ino);
	free(imp.size);
	free(imp.mtime);
	/* one multipart upload per large file */
	for (size_t i = 0; e == EBB_OK && i < c->nfiles && !_stop(c); i++) {
		struct stage_file *f = &c->files[i];
		struct stg_attr a = {
			.mode = f->mode, .uid = f->uid, .gid = f->gid,
			.atime_ns = f->atime_ns, .mtime_ns = f->mtime_ns,
		};
		struct stg_meta meta[5];
		char mbuf[256];
		struct stg_call call = {
			.op = STG_MPU_CREATE, .bucket = c->bucket,
			.key = f->key, .meta = meta,
		};
		struct stg_result res;

		if (f->size < threshold)
			continue;
		call.nmeta = stg_attr_to_meta(&a, meta, mbuf, sizeof(mbuf));
		if (_sync(c, &call, &res) != EBB_OK) {
			/* an empty tag would make it a PUT: fail it now */
			_add_fail(c, f->path, stg_fail_of(&res), res.message);
			f->tag = strdup("");
		} else {
			f->tag = strdup(res.upload_id);
		}
		stg_result_free(&res);
	}
	return e != EBB_OK ? e : _stop(c) ? EBB_EAGAIN : EBB_OK;
}

/* ---- running: work, polls, tally ------------------------------------------------------- */

static ebb_err _send_work(struct coord *c, unsigned node, bool resync)
{
	size_t i = 0;
	ebb_err e = EBB_OK;

	do {
		msgpack_sbuffer sb;
		msgpack_packer pk;
		size_t j = i, bytes = 0;
		struct ebb_stage_msg m = {.node = node};

		while (j < c->nfiles && bytes < STAGE_WORK_BATCH_BYTES) {
			bytes += 64 + strlen(c->files[j].key) +
				 strlen(c->files[j].path) +
				 (c->files[j].tag ? strlen(c->files[j].tag) : 0);
			j++;
		}
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 9);
		_pk_str(&pk, "run");
		msgpack_pack_uint64(&pk, c->run_id);
		_pk_str(&pk, "dir");
		msgpack_pack_uint64(&pk, (uint64_t)c->st->spec.dir);
		_pk_str(&pk, "bucket");
		_pk_str(&pk, c->bucket);
		_pk_str(&pk, "total");
		msgpack_pack_uint64(&pk, c->nfiles);
		_pk_str(&pk, "first");
		msgpack_pack_uint64(&pk, i);
		_pk_str(&pk, "part_stripes");
		msgpack_pack_uint64(&pk, c->part_stripes);
		_pk_str(&pk, "last");
		msgpack_pack_uint64(&pk, j == c->nfiles);
		_pk_str(&pk, "resync");
		msgpack_pack_uint64(&pk, resync && j == c->nfiles);
		_pk_str(&pk, "files");
		msgpack_pack_array(&pk, (uint32_t)(j - i));
		for (size_t k = i; k < j; k++)
			_pack_entry(&pk, &c->files[k]);
		m.map = sb.data;
		m.maplen = sb.size;
		e = ebb_stage_link_call(c->link, PROTO_OP_STAGE_WORK,
					c->inst->id, c->st->spec.name, &m, 1);
		msgpack_sbuffer_destroy(&sb);
		if (e != EBB_OK) {
			log_warn("stage %s: work to rank %u: %s",
				 c->st->spec.name, node, m.detail);
			break;
		}
		i = j;
	} while (i < c->nfiles);
	return e;
}

/* A member's report on file idx. */
static void _tally(struct coord *c, unsigned node, uint64_t idx, bool ok,
		   enum stg_fail code, const char *msg,
		   const msgpack_object *parts)
{
	uint64_t bit = idx * c->n + node;

	if (idx >= c->nfiles || c->finished[idx] ||
	    (c->seen[bit / 8] & (1u << (bit % 8))))
		return;
	c->seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
	if (!ok && !c->failed[idx]) {
		c->failed[idx] = true;
		c->fcode[idx] = code < STG_F_MAX ? code : STG_F_INTERNAL;
		c->fmsg[idx] = strdup(msg ? msg : "");
	}
	for (uint32_t i = 0; parts && parts->type == MSGPACK_OBJECT_ARRAY &&
			     i < parts->via.array.size; i++) {
		const msgpack_object *p = &parts->via.array.ptr[i];
		struct stg_part *np;

		if (p->type != MSGPACK_OBJECT_ARRAY || p->via.array.size < 2 ||
		    p->via.array.ptr[1].type != MSGPACK_OBJECT_STR)
			continue;
		np = realloc(c->parts[idx], (c->nparts[idx] + 1) * sizeof(*np));
		if (!np)
			continue;
		c->parts[idx] = np;
		np[c->nparts[idx]].number =
			(unsigned)p->via.array.ptr[0].via.u64;
		snprintf(np[c->nparts[idx]].etag, sizeof(np->etag), "%.*s",
			 (int)p->via.array.ptr[1].via.str.size,
			 p->via.array.ptr[1].via.str.ptr);
		c->nparts[idx]++;
	}
	if (c->left[idx] > 0)
		c->left[idx]--;
}

static int _part_cmp(const void *a, const void *b)
{
	const struct stg_part *x = a, *y = b;

	return (x->number > y->number) - (x->number < y->number);
}

/* A file whose holders all reported: complete or abort its upload. */
static void _finish_file(struct coord *c, size_t idx)
{
	struct stage_file *f = &c->files[idx];

	c->finished[idx] = true;
	c->nfinished++;
	if (c->st->spec.dir == EBB_STAGE_OUT && f->tag && *f->tag) {
		struct stg_call call = {
			.bucket = c->bucket, .key = f->key, .upload_id = f->tag,
		};
		struct stg_result res;
		uint64_t np = stage_nparts(f->size, c->inst->stripe_size,
					   c->part_stripes);

		if (!c->failed[idx] && c->nparts[idx] != np) {
			c->failed[idx] = true;
			c->fcode[idx] = STG_F_INTERNAL;
			c->fmsg[idx] = strdup("parts missing");
		}
		call.op = c->failed[idx] ? STG_MPU_ABORT : STG_MPU_COMPLETE;
		if (!c->failed[idx]) {
			qsort(c->parts[idx], c->nparts[idx],
			      sizeof(struct stg_part), _part_cmp);
			call.parts = c->parts[idx];
			call.nparts = c->nparts[idx];
		}
		if (_sync(c, &call, &res) != EBB_OK && !c->failed[idx]) {
			c->failed[idx] = true;
			c->fcode[idx] = stg_fail_of(&res);
			c->fmsg[idx] = strdup(res.message);
		}
		stg_result_free(&res);
	}
	if (c->failed[idx])
		c->nfailed++;
}

/* Abort the uploads of files not finished (cancel). */
static void _abort_open(struct coord *c)
{
	for (size_t i = 0; i < c->nfiles; i++) {
		struct stage_file *f = &c->files[i];
		struct stg_call call = {
			.op = STG_MPU_ABORT, .bucket = c->bucket,
			.key = f->key, .upload_id = f->tag,
		};
		struct stg_result res;

		if (c->finished[i] || c->st->spec.dir != EBB_STAGE_OUT ||
		    !f->tag || !*f->tag)
			continue;
		(void)_sync(c, &call, &res);
		stg_result_free(&res);
	}
}

static void _poll_once(struct coord *c, uint64_t *bytes_done)
{
	struct ebb_stage_msg *m = calloc(c->n, sizeof(*m));
	struct bbd_stages *ss = c->b->stages;

	if (!m)
		return;
	for (unsigned i = 0; i < c->n; i++)
		m[i].node = i;
	(void)ebb_stage_link_call(c->link, PROTO_OP_STAGE_POLL, c->inst->id,
				  c->st->spec.name, m, c->n);
	*bytes_done = 0;
	for (unsigned i = 0; i < c->n; i++) {
		msgpack_unpacked up;
		const msgpack_object *reps;
		struct stage_node_row row = {0};
		uint64_t run = 0, more = 0;

		if (m[i].status == EBB_ENOENT) {
			c->resend[i] = true;  /* the member lost the run */
			c->last_ok_ms[i] = _ms();
			continue;
		}
		if (m[i].status != EBB_OK) {
			c->resync[i] = true;  /* replies may be lost */
			continue;
		}
		c->last_ok_ms[i] = _ms();
		msgpack_unpacked_init(&up);
		if (msgpack_unpack_next(&up, m[i].reply, m[i].replylen, NULL) !=
		    MSGPACK_UNPACK_SUCCESS) {
			msgpack_unpacked_destroy(&up);
			free(m[i].reply);
			continue;
		}
		proto_map_u64(&up.data, "run", &run);
		if (run != c->run_id) {
			c->resend[i] = true;
			msgpack_unpacked_destroy(&up);
			free(m[i].reply);
			continue;
		}
		proto_map_u64(&up.data, "files_total", &row.files_total);
		proto_map_u64(&up.data, "files_done", &row.files_done);
		proto_map_u64(&up.data, "files_failed", &row.files_failed);
		proto_map_u64(&up.data, "bytes_total", &row.bytes_total);
		proto_map_u64(&up.data, "bytes_done", &row.bytes_done);
		proto_map_str(&up.data, "state", row.state, sizeof(row.state));
		(void)more;
		*bytes_done += row.bytes_done;
		reps = proto_map_get(&up.data, "reports");
		for (uint32_t k = 0; reps && reps->type == MSGPACK_OBJECT_ARRAY &&
				     k < reps->via.array.size; k++) {
			const msgpack_object *r = &reps->via.array.ptr[k];
			char msg[400] = "";

			if (r->type != MSGPACK_OBJECT_ARRAY ||
			    r->via.array.size < 5)
				continue;
			if (r->via.array.ptr[3].type == MSGPACK_OBJECT_STR)
				snprintf(msg, sizeof(msg), "%.*s",
					 (int)r->via.array.ptr[3].via.str.size,
					 r->via.array.ptr[3].via.str.ptr);
			_tally(c, i, r->via.array.ptr[0].via.u64,
			       r->via.array.ptr[1].type ==
					       MSGPACK_OBJECT_BOOLEAN &&
				       r->via.array.ptr[1].via.boolean,
			       (enum stg_fail)r->via.array.ptr[2].via.u64, msg,
			       &r->via.array.ptr[4]);
		}
		pthread_mutex_lock(&ss->lock);
		c->st->rows[i] = row;
		pthread_mutex_unlock(&ss->lock);
		msgpack_unpacked_destroy(&up);
		free(m[i].reply);
	}
	free(m);
}

/* ---- the report ------------------------------------------------------------------------ */

static char *_csv(struct coord *c, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	fputs(STG_CSV_HEADER, f);
	for (size_t i = 0; i < c->nfails; i++)
		stg_csv_write(f, c->fails[i].path, c->fails[i].code);
	for (size_t i = 0; i < c->nfiles; i++)
		if (c->failed && c->failed[i])
			stg_csv_write(f, c->files[i].path, c->fcode[i]);
	fclose(f);
	return buf;
}

static void _write_report(struct coord *c)
{
	const struct stage_spec *sp = &c->st->spec;
	struct bbd_stages *ss = c->b->stages;
	char *where = NULL, *csv;
	size_t len = 0;

	if (c->nfails == 0 && c->nfailed == 0)
		return;
	if (!(csv = _csv(c, &len)))
		return;
	if (sp->dir == EBB_STAGE_IN) {
		char *dir = _join(sp->destination, ".ebb");
		ebb_file_t *f = NULL;

		char *last = NULL;

		if (dir && _attach(c) && _mkdirs(c, dir, &last) == EBB_OK) {
			if (asprintf(&where, "%s/failures-%s.csv", dir,
				     sp->name) > 0 &&
			    (f = ebb_open(c->h, where,
					  O_CREAT | O_TRUNC | O_WRONLY, 0644))) {
				if (ebb_pwrite(f, csv, len, 0) != (ssize_t)len)
					log_warn("stage %s: report write: %s",
						 sp->name, strerror(errno));
				ebb_close(f);
				(void)ebb_chown(c->h, where, sp->uid, sp->gid);
			}
		}
		free(last);
		free(dir);
	} else {
		char *key = NULL;
		struct stg_call call = {
			.op = STG_PUT, .bucket = c->bucket, .body = csv,
			.body_len = len, .content_type = "text/csv",
		};
		struct stg_result res;

		if (asprintf(&key, "%s%sebb-report-%u/failures.csv", c->key,
			     *c->key && c->key[strlen(c->key) - 1] != '/' ?
				     "/" : "", sp->job_id) > 0) {
			call.key = key;
			if (_sync(c, &call, &res) == EBB_OK)
				(void)asprintf(&where, "s3://%s/%s", c->bucket,
					       key);
			else
				log_warn("stage %s: report: %s", sp->name,
					 res.message);
			stg_result_free(&res);
		}
		free(key);
	}
	free(csv);
	pthread_mutex_lock(&ss->lock);
	free(c->st->report);
	c->st->report = where;
	pthread_mutex_unlock(&ss->lock);
}

/* Failures found while planning, not counting skipped (non-POSIX) keys. */
static uint64_t _plan_failures(const struct coord *c)
{
	uint64_t k = 0;

	for (size_t i = 0; i < c->nfails; i++)
		if (c->fails[i].code != STG_F_NOT_POSIX)
			k++;
	return k;
}

/* ---- the thread ----------------------------------------------------------------------- */

static void _publish(struct coord *c, uint64_t bytes_done, int64_t *t0,
		     uint64_t *b0)
{
	struct bbd_stages *ss = c->b->stages;
	struct bbd_stage *st = c->st;
	int64_t now = _ms();
	uint64_t planfail = _plan_failures(c);

	pthread_mutex_lock(&ss->lock);
	st->files_total = c->nfiles + planfail;
	st->files_skipped = c->skipped;
	st->files_failed = c->nfailed + planfail;
	st->files_done = c->nfinished - c->nfailed;
	st->bytes_total = c->bytes;
	st->bytes_done = bytes_done;
	st->updated_ns = bbd_now_ns();
	if (now - *t0 >= 2000) {
		st->rate_bps = (bytes_done - *b0) * 1000 /
			       (uint64_t)(now - *t0);
		*t0 = now;
		*b0 = bytes_done;
		st->eta_s = st->rate_bps ?
			(int64_t)((c->bytes - bytes_done) / st->rate_bps) : -1;
	}
	pthread_mutex_unlock(&ss->lock);
}

static void _coord_free(struct coord *c)
{
	for (size_t i = 0; i < c->nfiles; i++) {
		stage_file_fini(&c->files[i]);
		if (c->fmsg)
			free(c->fmsg[i]);
		if (c->parts)
			free(c->parts[i]);
	}
	free(c->files);
	for (size_t i = 0; i < c->nfails; i++) {
		free(c->fails[i].path);
		free(c->fails[i].msg);
	}
	free(c->fails);
	free(c->left);
	free(c->seen);
	free(c->failed);
	free(c->finished);
	free(c->fcode);
	free(c->fmsg);
	free(c->parts);
	free(c->nparts);
	free(c->resync);
	free(c->resend);
	free(c->last_ok_ms);
	if (c->link)
		ebb_stage_link_free(c->link);
	if (c->h)
		ebb_detach(c->h);
	free(c);
}

static ebb_err _run(struct coord *c)
{
	struct bbd_stage *st = c->st;
	uint64_t bytes_done = 0, b0 = 0;
	int64_t t0 = _ms();
	bool *holds;
	ebb_err e;

	c->link = ebb_stage_link_new((const char *const *)c->inst->members,
				     c->n, &(struct ebb_options){
					     .munge_socket =
						     c->b->conf.munge_socket});
	c->left = calloc(c->nfiles + 1, sizeof(*c->left));
	c->seen = calloc((c->nfiles * c->n) / 8 + 1, 1);
	c->failed = calloc(c->nfiles + 1, sizeof(bool));
	c->finished = calloc(c->nfiles + 1, sizeof(bool));
	c->fcode = calloc(c->nfiles + 1, sizeof(*c->fcode));
	c->fmsg = calloc(c->nfiles + 1, sizeof(char *));
	c->parts = calloc(c->nfiles + 1, sizeof(*c->parts));
	c->nparts = calloc(c->nfiles + 1, sizeof(unsigned));
	c->resync = calloc(c->n, sizeof(bool));
	c->resend = calloc(c->n, sizeof(bool));
	c->last_ok_ms = calloc(c->n, sizeof(int64_t));
	holds = calloc(c->n, sizeof(bool));
	if (!c->link || !c->left || !c->seen || !c->failed || !c->finished ||
	    !c->fcode || !c->fmsg || !c->parts || !c->nparts || !c->resync ||
	    !c->resend || !c->last_ok_ms || !holds) {
		free(holds);
		snprintf(c->err, sizeof(c->err), "out of memory");
		return EBB_ENOMEM;
	}
	for (size_t i = 0; i < c->nfiles; i++) {
		c->left[i] = stage_holders(&c->files[i], st->spec.dir,
					   c->inst->stripe_size,
					   c->part_stripes, c->n, holds);
		if (c->files[i].tag && !*c->files[i].tag) {
			/* its upload could not be created: failed already */
			c->failed[i] = true;
			c->fcode[i] = STG_F_S3_ERROR;
			c->fmsg[i] = strdup("no upload");
			c->finished[i] = true;
			c->nfinished++;
			c->nfailed++;
			continue;
		}
		if (c->left[i] == 0)
			_finish_file(c, i);
	}
	free(holds);
	for (unsigned i = 0; i < c->n; i++) {
		c->resend[i] = true;
		c->last_ok_ms[i] = _ms();
	}
	stage_set_state(st, STAGE_RUNNING, NULL);
	while (c->nfinished < c->nfiles && !_stop(c)) {
		for (unsigned i = 0; i < c->n; i++) {
			if (c->resend[i] || c->resync[i]) {
				if (_send_work(c, i, c->resync[i]) == EBB_OK)
					c->resend[i] = c->resync[i] = false;
			}
			if (_ms() - c->last_ok_ms[i] > MEMBER_DEAD_MS) {
				snprintf(c->err, sizeof(c->err),
					 "member rank %u (%s) did not answer "
					 "for %d s", i, c->inst->members[i],
					 MEMBER_DEAD_MS / 1000);
				return EBB_ETIMEDOUT;
			}
		}
		usleep(STAGE_POLL_MS * 1000);
		_poll_once(c, &bytes_done);
		for (size_t i = 0; i < c->nfiles; i++)
			if (!c->finished[i] && c->left[i] == 0)
				_finish_file(c, i);
		_publish(c, bytes_done, &t0, &b0);
	}
	if (_stop(c))
		return EBB_EAGAIN;
	/* the last numbers, as the members saw them */
	_poll_once(c, &bytes_done);
	_publish(c, bytes_done, &t0, &b0);
	e = EBB_OK;
	return e;
}

void *stage_plan_main(void *arg)
{
	struct bbd_stage *st = arg;
	struct coord *c = calloc(1, sizeof(*c));
	const struct stage_spec *sp = &st->spec;
	const char *url = sp->dir == EBB_STAGE_IN ? sp->source :
						    sp->destination;
	char why[256];
	ebb_err e = EBB_OK;

	if (!c) {
		stage_set_state(st, STAGE_FAILED, "out of memory");
		stage_persist_state(st);
		return NULL;
	}
	c->st = st;
	c->b = st->b;
	c->inst = st->inst;
	c->n = st->inst->nmembers;
	c->run_id = (uint64_t)bbd_now_ns();
	c->part_stripes = stage_part_stripes(st->inst->stripe_size,
		c->b->conf.s3.part_size ? c->b->conf.s3.part_size : 8ull << 20);
	if (s3path_split(url, c->bucket, sizeof(c->bucket), c->key,
			 sizeof(c->key), why, sizeof(why)) != EBB_OK) {
		snprintf(c->err, sizeof(c->err), "%s", why);
		e = EBB_EINVAL;
		goto end;
	}
	if ((e = _creds(c)) != EBB_OK)
		goto end;
	if (_load_plan_from(c, st->dirfd)) {
		log_info("stage %s: plan found (%zu files), not planning again",
			 sp->name, c->nfiles);
	} else {
		stage_set_state(st, STAGE_PLANNING, NULL);
		e = sp->dir == EBB_STAGE_IN ? _plan_in(c) : _plan_out(c);
		if (e == EBB_OK)
			e = _save_plan(c);
		if (e != EBB_OK && !_stop(c))
			goto end;
	}
	if (e == EBB_OK && !_stop(c))
		e = _run(c);
end:
	if (atomic_load(&st->halt) && !atomic_load(&st->cancel)) {
		/* shutdown: the saved state lets the next bbd resume */
		_coord_free(c);
		return NULL;
	}
	if (atomic_load(&st->cancel)) {
		struct ebb_stage_msg *m = calloc(c->n, sizeof(*m));

		if (m && c->link) {
			for (unsigned i = 0; i < c->n; i++)
				m[i].node = i;
			(void)ebb_stage_link_call(c->link, PROTO_OP_STAGE_CANCEL,
						  c->inst->id, sp->name, m,
						  c->n);
		}
		free(m);
		if (c->have_cred)
			_abort_open(c);
		stage_set_state(st, STAGE_CANCELLED, NULL);
	} else if (e != EBB_OK) {
		if (c->have_cred)
			_abort_open(c);
		if (e == EBB_ENOENT || c->nfails)
			_write_report(c);
		stage_set_state(st, STAGE_FAILED, c->err[0] ? c->err :
						    ebb_strerror(e));
	} else {
		uint64_t shown = 0;

		_write_report(c);
		for (size_t i = 0; i < c->nfiles && shown < 5; i++)
			if (c->failed[i]) {
				stage_add_error(st, "%s: %s: %s",
						c->files[i].path,
						stg_fail_code(c->fcode[i]),
						c->fmsg[i]);
				shown++;
			}
		for (size_t i = 0; i < c->nfails && shown < 5; i++)
			if (c->fails[i].code != STG_F_NOT_POSIX) {
				stage_add_error(st, "%s: %s: %s",
						c->fails[i].path,
						stg_fail_code(c->fails[i].code),
						c->fails[i].msg);
				shown++;
			}
		stage_set_state(st, c->nfailed || _plan_failures(c) ?
				STAGE_FAILED : STAGE_DONE, NULL);
	}
	stage_persist_state(st);
	_coord_free(c);
	return NULL;
}
