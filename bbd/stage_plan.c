/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd stage coordinator, the planning half (the running half is
 * stage_run.c): plans a stage on the instance's rank 0, hands the
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
#include <time.h>

#include <event2/event.h>

#include "ebb/ebb.h"
#include "log.h"
#include "placement.h"
#include "stage_int.h"
#include "stage_coord_int.h"

/* ---- small helpers -------------------------------------------------------------- */

int64_t coord_ms(void)
{
	return bbd_now_ns() / 1000000;
}

bool coord_stop(struct coord *c)
{
	return atomic_load(&c->st->halt) || atomic_load(&c->st->cancel) ||
	       c->inst->destroyed;
}

void coord_add_fail(struct coord *c, const char *path, enum stg_fail code,
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

struct stage_file *coord_add_file(struct coord *c)
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
char *coord_join(const char *dest, const char *rel)
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

ebb_t *coord_attach(struct coord *c)
{
	struct ebb_options o = {.munge_socket = c->b->conf.munge_socket};

	if (!c->h)
		c->h = ebb_attach(c->inst->id,
				  (const char *const *)c->inst->members,
				  c->inst->nmembers, &o);
	return c->h;
}

ebb_err coord_creds(struct coord *c)
{
	struct stg_cred fresh;
	char err[256];
	int64_t now = time(NULL);

	if (!c->have_cred) {
		if (stg_cred_resolve(&c->b->conf.s3, &c->cred, c->err,
				     sizeof(c->err)) != EBB_OK)
			return EBB_EACCES;
		c->have_cred = true;
		return EBB_OK;
	}
	/* expiring ones (IMDS role, session token): renew, at most once
	 * a minute; the old ones stay while renewing fails */
	if (!stg_cred_expiring(&c->cred, now, STG_CRED_REFRESH_S) ||
	    now < c->cred_retry_at)
		return EBB_OK;
	c->cred_retry_at = now + 60;
	if (stg_cred_resolve(&c->b->conf.s3, &fresh, err, sizeof(err)) ==
	    EBB_OK) {
		c->cred = fresh;
		log_info("stage %s: credentials renewed (%s)",
			 c->st->spec.name, fresh.source);
	} else {
		log_warn("stage %s: credentials expire in %lld s and could "
			 "not be renewed: %s", c->st->spec.name,
			 (long long)(c->cred.expires - now), err);
	}
	explicit_bzero(&fresh, sizeof(fresh));
	return EBB_OK;
}

/* One S3 call to its end; res freed by the caller. */
ebb_err coord_sync(struct coord *c, const struct stg_call *call,
		     struct stg_result *res)
{
	ebb_err e;

	memset(res, 0, sizeof(*res));
	(void)coord_creds(c);
	e = stg_s3_sync(&c->b->conf.s3, &c->cred, call, res);
	if (res->attempts > 1)
		c->retries += res->attempts - 1;
	return e;
}

/* mkdir -p of path's parents and path itself (dirs made 0755, owned by
 * the job's user).  Remembers the last one made. */
ebb_err coord_mkdirs(struct coord *c, const char *path, char **last)
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

char *coord_report_dir(struct coord *c)
{
	const struct stage_spec *sp = &c->st->spec;
	size_t dl = strlen(sp->destination), kl = strlen(c->key);
	bool one_file = sp->type == 1 ||
			(sp->type == 0 && kl && c->key[kl - 1] != '/');
	char *dest = coord_join(sp->destination, ""), *dir, *out;

	if (!dest)
		return NULL;
	if (one_file && !(dl && sp->destination[dl - 1] == '/')) {
		dir = _parent(dest);
		free(dest);
	} else {
		dir = dest;
	}
	if (!dir)
		return NULL;
	out = coord_join(dir, ".ebb");
	free(dir);
	return out;
}

/* ---- the plan on disk --------------------------------------------------------------- */

void coord_pk_str(msgpack_packer *pk, const char *s)
{
	if (!s) {
		msgpack_pack_nil(pk);
		return;
	}
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

void coord_pack_entry(msgpack_packer *pk, const struct stage_file *f)
{
	msgpack_pack_array(pk, 11);
	msgpack_pack_uint64(pk, f->ino);
	coord_pk_str(pk, f->key);
	coord_pk_str(pk, f->tag);
	msgpack_pack_uint64(pk, f->size);
	coord_pk_str(pk, f->path);
	msgpack_pack_uint64(pk, f->mode);
	msgpack_pack_uint64(pk, f->uid);
	msgpack_pack_uint64(pk, f->gid);
	msgpack_pack_int64(pk, f->atime_ns);
	msgpack_pack_int64(pk, f->mtime_ns);
	msgpack_pack_uint32(pk, f->flags);
}

ebb_err coord_save_plan(struct coord *c)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	coord_pk_str(&pk, "files");
	msgpack_pack_array(&pk, (uint32_t)c->nfiles);
	for (size_t i = 0; i < c->nfiles; i++)
		coord_pack_entry(&pk, &c->files[i]);
	coord_pk_str(&pk, "fails");
	msgpack_pack_array(&pk, (uint32_t)c->nfails);
	for (size_t i = 0; i < c->nfails; i++) {
		msgpack_pack_array(&pk, 3);
		coord_pk_str(&pk, c->fails[i].path);
		msgpack_pack_uint64(&pk, c->fails[i].code);
		coord_pk_str(&pk, c->fails[i].msg);
	}
	coord_pk_str(&pk, "skipped");
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
bool coord_load_plan(struct coord *c, int dirfd)
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
		    !(f = coord_add_file(c)))
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
		f->flags = a->via.array.size > 10 ?
				   (uint32_t)_oi64(&v[10]) : 0;
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
		coord_add_fail(c, p ? p : "?",
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
	bool meta_get;             /* no HEAD: see STAGE_F_META_GET */
	bool headed;               /* HEADed already (type auto's check) */
	/* regular files: made by _mkfiles_main() */
	bool mkfile;
	uint64_t ino;
	ebb_err cerr;
};

/* Threads that create the regular files of a stage-in. */
#define PLAN_FILE_THREADS 8

struct mkfiles {
	struct coord *c;
	struct obj *objs;
	size_t n;
	atomic_size_t next;
};

/* Create, size, own, chmod and date the next regular files (o->mkfile);
 * results in o->ino / o->cerr.  Any number of threads (ebb_t is shared).
 * Two round trips a file: CREATE in its parent, then one SETATTR with
 * size, mode, owner and times (the parent's inode is looked up once per
 * run of files in the same directory: the list is sorted by path). */
static void *_mkfiles_main(void *arg)
{
	struct mkfiles *mk = arg;
	struct coord *c = mk->c;
	char *pdir = NULL;          /* the parent looked up last */
	uint64_t pino = 0;
	size_t i;

	while ((i = atomic_fetch_add(&mk->next, 1)) < mk->n) {
		struct obj *o = &mk->objs[i];
		struct stg_attr *a = &o->attr;
		const char *slash = strrchr(o->path, '/');
		size_t plen = slash == o->path ? 1 : (size_t)(slash - o->path);
		struct ebb_stat fs, in = {0};
		ebb_file_t *f;

		if (!o->mkfile)
			continue;
		if (coord_stop(c)) {
			o->cerr = EBB_EAGAIN;
			continue;
		}
		if (!pdir || strlen(pdir) != plen ||
		    strncmp(pdir, o->path, plen) != 0) {
			struct ebb_stat ps;

			free(pdir);
			pdir = strndup(o->path, plen);
			if (!pdir || ebb_lstat(c->h, pdir, &ps) != 0) {
				o->cerr = pdir ? ebb_err_from_errno(errno) :
						 EBB_ENOMEM;
				free(pdir);
				pdir = NULL;
				continue;
			}
			pino = ps.ino;
		}
		f = ebb_openat(c->h, pino, slash + 1, O_CREAT | O_WRONLY,
			       a->mode & 07777, &fs);
		if (!f) {
			o->cerr = ebb_err_from_errno(errno);
			continue;
		}
		ebb_close(f);
		o->ino = fs.ino;
		in.size = o->size;
		in.mode = a->mode;
		in.uid = a->uid;
		in.gid = a->gid;
		in.atime.tv_sec = a->atime_ns / 1000000000;
		in.atime.tv_nsec = a->atime_ns % 1000000000;
		in.mtime.tv_sec = a->mtime_ns / 1000000000;
		in.mtime.tv_nsec = a->mtime_ns % 1000000000;
		if (ebb_setattrat(c->h, pino, slash + 1,
				  (fs.size != o->size ? EBB_SET_SIZE : 0) |
					  EBB_SET_MODE | EBB_SET_UID |
					  EBB_SET_GID | EBB_SET_ATIME |
					  EBB_SET_MTIME,
				  &in, NULL) != 0)
			o->cerr = ebb_err_from_errno(errno);
	}
	free(pdir);
	return NULL;
}

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

		if (o->meta_get || o->headed)
			continue;
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

/* What a HEAD of o said: its error, or its ETag, size, time and the
 * attributes its metadata gives. */
static void _head_apply(struct coord *c, struct obj *o,
			const struct stg_result *res)
{
	char warn[256] = "";

	o->err = res->err;
	if (res->err != EBB_OK) {
		o->fail = stg_fail_of(res);
		snprintf(o->msg, sizeof(o->msg), "%s", res->message);
		return;
	}
	snprintf(o->etag, sizeof(o->etag), "%s", res->etag);
	o->size = res->size;
	o->mtime_ns = res->mtime_ns;
	stg_attr_from_meta(res->meta, res->nmeta, o->kind, c->st->spec.uid,
			   c->st->spec.gid, res->mtime_ns, &o->attr, warn,
			   sizeof(warn));
	if (warn[0])
		log_warn("stage %s: %s: %s", c->st->spec.name, o->key, warn);
}

static void _head_done(const struct stg_result *res, void *arg)
{
	struct obj *o = arg;
	struct heads *hs = o->hs;

	if (res->attempts > 1)
		hs->c->retries += res->attempts - 1;
	_head_apply(hs->c, o, res);
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
	while (hs.pending > 0 && !coord_stop(c))
		event_base_loop(base, EVLOOP_ONCE);
	/* a stop: let what is in flight end */
	while (hs.pending > 0)
		event_base_loop(base, EVLOOP_ONCE);
	stg_s3_free(hs.s3);
	event_base_free(base);
	return coord_stop(c) ? EBB_EAGAIN : EBB_OK;
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

		e = coord_sync(c, &call, &res);
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
			snprintf(objs[n].etag, sizeof(objs[n].etag), "%s",
				 res.objects[i].etag);
			objs[n].mtime_ns = res.objects[i].mtime_ns;
			n++;
		}
		if (res.truncated && res.next_token)
			token = strdup(res.next_token);
		stg_result_free(&res);
	} while (token && e == EBB_OK && !coord_stop(c));
	free(token);
	if (e != EBB_OK) {
		_obj_free(objs, n);
		return e;
	}
	*out = objs;
	*nout = n;
	return EBB_OK;
}

ebb_err coord_plan_in(struct coord *c)
{
	const struct stage_spec *sp = &c->st->spec;
	struct obj *objs = NULL;
	size_t nobj = 0, plen = 0;
	char *lastdir = NULL, path[PROTO_MAX_PATH + 1], why[128];
	bool is_dir;
	ebb_err e;
	int64_t t0 = coord_ms(), t_list, t_head;
	size_t nhead = 0;

	if ((e = _list_in(c, &objs, &nobj, &is_dir)) != EBB_OK)
		return e;
	if (!is_dir && sp->type == 0) {
		/* type auto, no trailing slash: the object KEY, or if there
		 * is none, everything under KEY/ (as `aws s3 cp` users
		 * expect; docs/directives.md) */
		struct stg_call call = {
			.op = STG_HEAD, .bucket = c->bucket, .key = c->key,
		};
		struct stg_result res;
		size_t kl = strlen(c->key);

		e = coord_sync(c, &call, &res);
		if (e == EBB_OK && nobj == 1) {
			/* the object: this HEAD is the one _head_all()
			 * would make */
			_head_apply(c, &objs[0], &res);
			objs[0].headed = true;
		}
		stg_result_free(&res);
		if (e == EBB_ENOENT && kl + 1 < sizeof(c->key)) {
			_obj_free(objs, nobj);
			objs = NULL;
			c->key[kl] = '/';
			c->key[kl + 1] = '\0';
			if ((e = _list_in(c, &objs, &nobj, &is_dir)) != EBB_OK)
				return e;
			if (nobj == 0) {
				c->key[kl] = '\0';
				snprintf(c->err, sizeof(c->err),
					 "s3://%s/%s: no such object, and no "
					 "object under s3://%s/%s/",
					 c->bucket, c->key, c->bucket, c->key);
				coord_add_fail(c, c->key, STG_F_NOT_FOUND,
					       c->err);
				return EBB_ENOENT;
			}
			log_info("stage %s: no object s3://%s/%.*s: staging the "
				 "%zu objects under s3://%s/%s", sp->name,
				 c->bucket, (int)kl, c->key, nobj, c->bucket,
				 c->key);
		}
	}
	t_list = coord_ms();
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
				o->path = coord_join(sp->destination, base);
			else
				o->path = coord_join(sp->destination, "");
			continue;
		}
		if (stg_key_to_path(o->key + plen, path, sizeof(path), &d, why,
				    sizeof(why)) != EBB_OK) {
			char msg[200];

			snprintf(msg, sizeof(msg), "key '%s': %s", o->key, why);
			coord_add_fail(c, o->key, STG_F_NOT_POSIX, msg);
			c->skipped++;
			o->err = EBB_EINVAL;
			continue;
		}
		o->kind = d ? 'd' : 'f';
		o->path = coord_join(sp->destination, path);
		/* A one-stripe object too big to be a symlink's target is
		 * a regular file, unless its metadata says otherwise: its
		 * whole GET brings that metadata, so no HEAD (half the
		 * requests of a stage of small files).  Created now with the
		 * defaults; the member applies the metadata, if any. */
		if (!d && o->size > PROTO_MAX_TARGET &&
		    o->size <= c->inst->stripe_size && o->etag[0]) {
			char warn[8];

			o->meta_get = true;
			stg_attr_from_meta(NULL, 0, 'f', sp->uid, sp->gid,
					   o->mtime_ns, &o->attr, warn,
					   sizeof(warn));
		}
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
	for (size_t i = 0; i < nobj; i++)
		nhead += !objs[i].meta_get && !objs[i].headed;
	e = _head_all(c, objs, nobj);
	t_head = coord_ms();
	if (e != EBB_OK)
		goto out;
	if (!is_dir && objs[0].err != EBB_OK) {
		/* the one object is missing or refused: nothing to create */
		snprintf(c->err, sizeof(c->err), "%s", objs[0].msg);
		if (objs[0].fail == STG_F_NOT_FOUND)
			coord_add_fail(c, objs[0].key, objs[0].fail, objs[0].msg);
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
	if (!coord_attach(c)) {
		snprintf(c->err, sizeof(c->err), "attach: %s", strerror(errno));
		e = EBB_EIO;
		goto out;
	}
	{
		size_t dl = strlen(sp->destination);
		char *dest = coord_join(sp->destination, "");

		/* One object to a destination not ending in '/': that is the
		 * file's own path, so only its parent is a directory. */
		if (dest && !is_dir && !(dl && sp->destination[dl - 1] == '/')) {
			char *p = _parent(dest);

			free(dest);
			dest = p;
		}
		e = dest ? coord_mkdirs(c, dest, &lastdir) : EBB_ENOMEM;
		free(dest);
		if (e != EBB_OK) {
			snprintf(c->err, sizeof(c->err), "mkdir %s: %s",
				 sp->destination, ebb_strerror(e));
			goto out;
		}
	}
	for (size_t i = 0; i < nobj && !coord_stop(c); i++) {
		struct obj *o = &objs[i];
		struct stg_attr *a = &o->attr;
		struct timespec ts[2] = {
			{a->atime_ns / 1000000000, a->atime_ns % 1000000000},
			{a->mtime_ns / 1000000000, a->mtime_ns % 1000000000},
		};
		char *parent = _parent(o->path);
		ebb_err fe = EBB_OK;

		if (o->err != EBB_OK) {
			coord_add_fail(c, o->path, o->fail, o->msg);
			free(parent);
			continue;
		}
		if (o->kind == 'd') {
			fe = coord_mkdirs(c, o->path, &lastdir);
			if (fe == EBB_OK && strcmp(o->path, "/")) {
				(void)ebb_chmod(c->h, o->path, a->mode & 07777);
				(void)ebb_chown(c->h, o->path, a->uid, a->gid);
			}
			free(parent);
			if (fe != EBB_OK)
				coord_add_fail(c, o->path, STG_F_INTERNAL,
					  ebb_strerror(fe));
			continue;
		}
		fe = coord_mkdirs(c, parent, &lastdir);
		if (fe == EBB_OK && S_ISLNK(a->mode)) {
			struct stg_call call = {
				.op = STG_GET, .bucket = c->bucket,
				.key = o->key, .if_match = o->etag,
			};
			struct stg_result res;
			char target[PROTO_MAX_TARGET + 1];
			struct ebb_stat ps, in = {0};

			if (o->size > PROTO_MAX_TARGET || o->size == 0) {
				coord_add_fail(c, o->path, STG_F_UNSUPPORTED,
					  "symlink target size");
				free(parent);
				continue;
			}
			call.buf = target;
			call.len = o->size;
			if (coord_sync(c, &call, &res) != EBB_OK) {
				coord_add_fail(c, o->path, stg_fail_of(&res),
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
			coord_add_fail(c, o->path, STG_F_UNSUPPORTED,
				  "not a regular file, directory or symlink");
			free(parent);
			continue;
		} else if (fe == EBB_OK) {
			o->mkfile = true;   /* made below, in parallel */
		}
		if (fe != EBB_OK)
			coord_add_fail(c, o->path, STG_F_INTERNAL,
				  ebb_strerror(fe));
		free(parent);
	}
	/* regular files: their parents exist now; made by a few threads at
	 * once (each is several round trips), added to the plan in order */
	{
		struct mkfiles mk = {.c = c, .objs = objs, .n = nobj};
		pthread_t t[PLAN_FILE_THREADS];
		unsigned nt = 0;

		atomic_init(&mk.next, 0);
		for (; nt < PLAN_FILE_THREADS; nt++)
			if (pthread_create(&t[nt], NULL, _mkfiles_main, &mk))
				break;
		if (nt == 0)
			_mkfiles_main(&mk);
		for (unsigned k = 0; k < nt; k++)
			pthread_join(t[k], NULL);
	}
	for (size_t i = 0; i < nobj; i++) {
		struct obj *o = &objs[i];
		struct stage_file *pf;

		if (!o->mkfile)
			continue;
		if (o->cerr != EBB_OK) {
			coord_add_fail(c, o->path, STG_F_INTERNAL,
				       ebb_strerror(o->cerr));
			continue;
		}
		if (!(pf = coord_add_file(c)))
			continue;
		pf->ino = o->ino;
		pf->size = o->size;
		pf->key = strdup(o->key);
		pf->tag = strdup(o->etag);
		pf->path = strdup(o->path);
		pf->mode = o->attr.mode;
		pf->uid = o->attr.uid;
		pf->gid = o->attr.gid;
		pf->atime_ns = o->attr.atime_ns;
		pf->mtime_ns = o->attr.mtime_ns;
		pf->flags = o->meta_get ? STAGE_F_META_GET : 0;
		c->bytes += o->size;
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
	e = coord_stop(c) ? EBB_EAGAIN : EBB_OK;
	log_info("stage %s: planned %zu objects in %.2f s: list %.2f s, %zu "
		 "HEAD %.2f s, namespace %.2f s", sp->name, nobj,
		 (coord_ms() - t0) / 1e3, (t_list - t0) / 1e3, nhead,
		 (t_head - t_list) / 1e3, (coord_ms() - t_head) / 1e3);
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
		if (coord_load_plan(&tmp, fd)) {
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
	if (coord_sync(c, &call, &res) != EBB_OK)
		coord_add_fail(c, path, stg_fail_of(&res), res.message);
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
	while (e == EBB_OK && !coord_stop(c) && (rc = ebb_readdir(d, &ent)) == 1) {
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
				coord_add_fail(c, path, STG_F_INTERNAL,
					  strerror(errno));
			else
				_put_now(c, key, path, target, (size_t)n, &a);
			free(key);
		} else if (S_ISREG(ent.st.mode)) {
			struct stage_file *f;

			if (_unchanged(imp, &ent.st)) {
				c->skipped++;
			} else if ((f = coord_add_file(c))) {
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
			coord_add_fail(c, path, STG_F_UNSUPPORTED,
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

ebb_err coord_plan_out(struct coord *c)
{
	const struct stage_spec *sp = &c->st->spec;
	uint64_t threshold = c->b->conf.s3.multipart_threshold ?
				     c->b->conf.s3.multipart_threshold :
				     16ull << 20;
	struct imported imp;
	char *src;
	ebb_err e;

	if (!coord_attach(c)) {
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

		if ((e = coord_sync(c, &call, &res)) != EBB_OK) {
			snprintf(c->err, sizeof(c->err), "%s", res.message);
			stg_result_free(&res);
			return e;
		}
		stg_result_free(&res);
	}
	_load_imported(c, &imp);
	src = coord_join(sp->source, "");
	e = src ? _walk_out(c, src, "", &imp, 0) : EBB_ENOMEM;
	if (e != EBB_OK)
		snprintf(c->err, sizeof(c->err), "walk %s: %s", sp->source,
			 ebb_strerror(e));
	free(src);
	free(imp.ino);
	free(imp.size);
	free(imp.mtime);
	/* one multipart upload per large file */
	for (size_t i = 0; e == EBB_OK && i < c->nfiles && !coord_stop(c); i++) {
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
		if (coord_sync(c, &call, &res) != EBB_OK) {
			/* an empty tag would make it a PUT: fail it now */
			coord_add_fail(c, f->path, stg_fail_of(&res), res.message);
			f->tag = strdup("");
		} else {
			f->tag = strdup(res.upload_id);
		}
		stg_result_free(&res);
	}
	return e != EBB_OK ? e : coord_stop(c) ? EBB_EAGAIN : EBB_OK;
}

