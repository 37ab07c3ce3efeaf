/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd stages: the registry, the STAGE_* handlers and persistence.
 *
 * DESIGN: see stage_int.h and docs/stager.md.  The handlers only touch the
 * registry and the stage directory; the coordinator's work runs on its own
 * thread (stage_plan.c) and the member's on the stager thread
 * (stage_xfer.c).  STAGE_START persists the spec before it answers, so an
 * accepted stage survives a crash of this bbd; bbd_stage_resume() starts
 * the coordinators of unfinished stages again at start-up.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "ebb/ebb.h"
#include "log.h"
#include "placement.h"
#include "stage_int.h"

static const char *const _state_names[STAGE_NSTATES] = {
	EBB_STAGE_STATES
};

const char *stage_state_name(enum stage_state s)
{
	return s < STAGE_NSTATES ? _state_names[s] : "?";
}

/* ---- specs ------------------------------------------------------------------ */

void stage_spec_free(struct stage_spec *s)
{
	free(s->source);
	free(s->destination);
	free(s->user);
	for (unsigned i = 0; i < s->ngroups; i++)
		free(s->groups[i]);
	free(s->groups);
	free(s->account);
	memset(s, 0, sizeof(*s));
}

static void _pk_str(msgpack_packer *pk, const char *s)
{
	if (!s) {
		msgpack_pack_nil(pk);
		return;
	}
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

void stage_spec_pack(const struct stage_spec *s, msgpack_packer *pk)
{
	msgpack_pack_map(pk, 12);
	_pk_str(pk, "name");
	_pk_str(pk, s->name);
	_pk_str(pk, "dir");
	msgpack_pack_uint64(pk, (uint64_t)s->dir);
	_pk_str(pk, "source");
	_pk_str(pk, s->source);
	_pk_str(pk, "destination");
	_pk_str(pk, s->destination);
	_pk_str(pk, "type");
	msgpack_pack_uint64(pk, (uint64_t)s->type);
	_pk_str(pk, "uid");
	msgpack_pack_uint64(pk, s->uid);
	_pk_str(pk, "gid");
	msgpack_pack_uint64(pk, s->gid);
	_pk_str(pk, "user");
	_pk_str(pk, s->user);
	_pk_str(pk, "groups");
	msgpack_pack_array(pk, s->ngroups);
	for (unsigned i = 0; i < s->ngroups; i++)
		_pk_str(pk, s->groups[i]);
	_pk_str(pk, "account");
	_pk_str(pk, s->account);
	_pk_str(pk, "job_id");
	msgpack_pack_uint64(pk, s->job_id);
	_pk_str(pk, "deferred");
	msgpack_pack_uint64(pk, s->deferred);
}

static char *_mdup(const msgpack_object *m, const char *key, size_t max)
{
	const msgpack_object *o = proto_map_get(m, key);

	if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size > max ||
	    memchr(o->via.str.ptr, 0, o->via.str.size))
		return NULL;
	return strndup(o->via.str.ptr, o->via.str.size);
}

static bool _name_ok(const char *name, size_t n)
{
	if (n == 0 || n > STAGE_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-", name[i]) || !name[i])
			return false;
	return true;
}

ebb_err stage_spec_parse(const msgpack_object *m, struct stage_spec *s,
			 char *why, size_t whylen)
{
	const msgpack_object *g;
	uint64_t v;
	char *name;

	memset(s, 0, sizeof(*s));
	if (!m || m->type != MSGPACK_OBJECT_MAP) {
		snprintf(why, whylen, "spec is not a map");
		return EBB_E_PROTO;
	}
	name = _mdup(m, "name", STAGE_MAX_NAME);
	if (!name || !_name_ok(name, strlen(name))) {
		free(name);
		snprintf(why, whylen, "stage name: 1..32 of [A-Za-z0-9._-]");
		return EBB_EINVAL;
	}
	strcpy(s->name, name);
	free(name);
	s->dir = proto_map_u64(m, "dir", &v) && v == 1 ? EBB_STAGE_OUT :
							   EBB_STAGE_IN;
	s->type = proto_map_u64(m, "type", &v) && v <= 2 ? (int)v : 0;
	s->uid = proto_map_u64(m, "uid", &v) ? (uint32_t)v : 0;
	s->gid = proto_map_u64(m, "gid", &v) ? (uint32_t)v : 0;
	s->job_id = proto_map_u64(m, "job_id", &v) ? (uint32_t)v : 0;
	s->deferred = proto_map_u64(m, "deferred", &v) && v;
	s->source = _mdup(m, "source", PROTO_MAX_PATH);
	s->destination = _mdup(m, "destination", PROTO_MAX_PATH);
	s->user = _mdup(m, "user", 255);
	s->account = _mdup(m, "account", 255);
	if (!s->source || !s->destination || !s->user) {
		stage_spec_free(s);
		snprintf(why, whylen, "spec needs source, destination, user");
		return EBB_EINVAL;
	}
	g = proto_map_get(m, "groups");
	if (g && g->type == MSGPACK_OBJECT_ARRAY && g->via.array.size) {
		if (g->via.array.size > 1024 ||
		    !(s->groups = calloc(g->via.array.size, sizeof(char *)))) {
			stage_spec_free(s);
			snprintf(why, whylen, "too many groups");
			return EBB_EINVAL;
		}
		for (uint32_t i = 0; i < g->via.array.size; i++) {
			const msgpack_object *e = &g->via.array.ptr[i];

			if (e->type != MSGPACK_OBJECT_STR)
				continue;
			s->groups[s->ngroups++] =
				strndup(e->via.str.ptr, e->via.str.size);
		}
	}
	return EBB_OK;
}

void stage_file_fini(struct stage_file *f)
{
	free(f->key);
	free(f->tag);
	free(f->path);
	memset(f, 0, sizeof(*f));
}

/* ---- geometry ------------------------------------------------------------------ */

uint64_t stage_part_stripes(uint64_t stripe, uint64_t part_size)
{
	const uint64_t min_part = 5ull << 20;
	uint64_t ps = (part_size + stripe - 1) / stripe;

	if (ps == 0)
		ps = 1;
	while (ps * stripe < min_part)  /* S3's floor for all but the last */
		ps++;
	return ps;
}

uint64_t stage_nparts(uint64_t size, uint64_t stripe, uint64_t part_stripes)
{
	uint64_t nstripes = (size + stripe - 1) / stripe;

	return (nstripes + part_stripes - 1) / part_stripes;
}

uint32_t stage_part_node(uint64_t ino, uint64_t p, uint64_t part_stripes,
			 uint32_t n)
{
	return placement_stripe_node(ino, p * part_stripes, n);
}

unsigned stage_holders(const struct stage_file *f, int dir, uint64_t stripe,
		       uint64_t part_stripes, uint32_t n, bool *holds)
{
	uint64_t nstripes = (f->size + stripe - 1) / stripe, k;
	unsigned count = 0;

	memset(holds, 0, n * sizeof(*holds));
	if (dir == EBB_STAGE_IN) {
		for (k = 0; k < nstripes && count < n; k++) {
			uint32_t r = placement_stripe_node(f->ino, k, n);

			if (!holds[r]) {
				holds[r] = true;
				count++;
			}
		}
	} else if (!f->tag) {
		/* one PUT, by the node of stripe 0 (also for size 0) */
		holds[placement_stripe_node(f->ino, 0, n)] = true;
		count = 1;
	} else {
		uint64_t np = stage_nparts(f->size, stripe, part_stripes);

		for (k = 0; k < np && count < n; k++) {
			uint32_t r = stage_part_node(f->ino, k, part_stripes, n);

			if (!holds[r]) {
				holds[r] = true;
				count++;
			}
		}
	}
	return count;
}

/* ---- state ---------------------------------------------------------------------- */

void stage_set_state(struct bbd_stage *st, enum stage_state s,
		     const char *error)
{
	struct bbd_stages *ss = st->b->stages;

	pthread_mutex_lock(&ss->lock);
	if (st->state != s || error)
		log_info("instance %s stage %s: %s -> %s%s%s",
			 st->inst->id, st->spec.name,
			 stage_state_name(st->state), stage_state_name(s),
			 error ? ": " : "", error ? error : "");
	st->state = s;
	if (error && !st->error)
		st->error = strdup(error);
	if (s >= STAGE_DONE)
		st->ended_ns = bbd_now_ns();
	st->updated_ns = bbd_now_ns();
	pthread_mutex_unlock(&ss->lock);
}

void stage_add_error(struct bbd_stage *st, const char *fmt, ...)
{
	struct bbd_stages *ss = st->b->stages;
	char line[512];
	va_list ap;
	size_t old;
	char *n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_warn("instance %s stage %s: %s", st->inst->id, st->spec.name,
		 line);
	pthread_mutex_lock(&ss->lock);
	old = st->error ? strlen(st->error) : 0;
	if (old < 2048 && (n = realloc(st->error, old + strlen(line) + 2))) {
		if (old)
			n[old++] = '\n';
		strcpy(n + old, line);
		st->error = n;
	}
	pthread_mutex_unlock(&ss->lock);
}

/* See stage_int.h. */
int stage_write_file(int dirfd, const char *name, const void *data,
		       size_t len)
{
	char tmp[64];
	int fd, rc = -1;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -1;
	if (write(fd, data, len) == (ssize_t)len && fsync(fd) == 0 &&
	    renameat(dirfd, tmp, dirfd, name) == 0 && fsync(dirfd) == 0)
		rc = 0;
	close(fd);
	return rc;
}

void stage_persist_state(struct bbd_stage *st)
{
	struct bbd_stages *ss = st->b->stages;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	pthread_mutex_lock(&ss->lock);
	fprintf(f, "%s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		" %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64 " %" PRIu64
		"\n%s\n%s",
		stage_state_name(st->state), st->files_total, st->files_done,
		st->files_failed, st->files_skipped, st->bytes_total,
		st->bytes_done, st->started_ns, st->ended_ns, st->retries,
		st->report ? st->report : "", st->error ? st->error : "");
	pthread_mutex_unlock(&ss->lock);
	fclose(f);
	if (stage_write_file(st->dirfd, "state", buf, len) != 0)
		log_error("instance %s stage %s: cannot save its state: %s",
			  st->inst->id, st->spec.name, strerror(errno));
	free(buf);
}

/* Read a saved final state back (for STAGE_STATUS after a restart). */
static bool _load_state(struct bbd_stage *st)
{
	char buf[4096], state[16], *p, *q;
	ssize_t n;
	int fd = openat(st->dirfd, "state", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	/* (state files from before the retry count have 9 fields) */
	if (sscanf(buf, "%15s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		   " %" SCNu64 " %" SCNu64 " %" SCNd64 " %" SCNd64 " %" SCNu64,
		   state, &st->files_total, &st->files_done, &st->files_failed,
		   &st->files_skipped, &st->bytes_total, &st->bytes_done,
		   &st->started_ns, &st->ended_ns, &st->retries) < 9)
		return false;
	st->state = STAGE_FAILED;
	for (int s = 0; s < STAGE_NSTATES; s++)
		if (!strcmp(state, _state_names[s]))
			st->state = (enum stage_state)s;
	if ((p = strchr(buf, '\n'))) {
		p++;
		if ((q = strchr(p, '\n'))) {
			*q = 0;
			if (*p)
				st->report = strdup(p);
			if (q[1])
				st->error = strdup(q + 1);
		}
	}
	return true;
}

/* ---- the registry ------------------------------------------------------------------- */

static struct bbd_stage *_find_locked(struct bbd_stages *ss,
				      const char *inst, const char *name)
{
	for (struct bbd_stage *st = ss->list; st; st = st->next)
		if (!strcmp(st->inst->id, inst) && !strcmp(st->spec.name, name))
			return st;
	return NULL;
}

static void _stage_free(struct bbd_stage *st)
{
	if (st->dirfd >= 0)
		close(st->dirfd);
	stage_spec_free(&st->spec);
	free(st->error);
	free(st->report);
	free(st->rows);
	bbd_inst_unref(st->inst);
	free(st);
}

static struct bbd_stage *_stage_new(struct bbd *b, struct bbd_inst *inst,
				    struct stage_spec *spec, int dirfd)
{
	struct bbd_stage *st = calloc(1, sizeof(*st));

	if (!st || !(st->rows = calloc(inst->nmembers, sizeof(*st->rows)))) {
		free(st);
		return NULL;
	}
	st->b = b;
	st->inst = inst;
	atomic_fetch_add(&inst->refs, 1);
	st->spec = *spec;   /* takes it over */
	memset(spec, 0, sizeof(*spec));
	st->dirfd = dirfd;
	st->state = STAGE_PLANNING;
	st->eta_s = -1;
	st->started_ns = st->updated_ns = bbd_now_ns();
	return st;
}

/* Start (or restart) st's coordinator thread; registry lock held. */
static ebb_err _run_locked(struct bbd_stage *st)
{
	atomic_store(&st->cancel, false);
	atomic_store(&st->halt, false);
	if (pthread_create(&st->thread, NULL, stage_plan_main, st) != 0)
		return EBB_ENOMEM;
	st->running = true;
	return EBB_OK;
}

/* Open (creating) <instdir>/stage/<name>. */
static int _stage_dir(struct bbd_inst *inst, const char *name, bool create)
{
	int top, fd;

	if (create && mkdirat(inst->dirfd, "stage", 0700) != 0 &&
	    errno != EEXIST)
		return -1;
	top = openat(inst->dirfd, "stage", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		return -1;
	if (create && mkdirat(top, name, 0700) != 0 && errno != EEXIST) {
		close(top);
		return -1;
	}
	fd = openat(top, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(top);
	return fd;
}

/* Check the spec's paths and the allow-list.  EBB_OK or why. */
static ebb_err _check_spec(struct bbd *b, const struct stage_spec *s,
			   char *why, size_t whylen)
{
	char bucket[S3PATH_MAX_BUCKET + 1], key[S3PATH_MAX_KEY + 1];
	const char *url = s->dir == EBB_STAGE_IN ? s->source : s->destination;
	const char *path = s->dir == EBB_STAGE_IN ? s->destination : s->source;
	struct s3path_who who = {
		.user = s->user,
		.groups = (const char *const *)s->groups,
		.ngroups = s->ngroups,
		.account = s->account,
	};
	ebb_err e;

	e = s3path_split(url, bucket, sizeof(bucket), key, sizeof(key), why,
			 whylen);
	if (e != EBB_OK)
		return EBB_EINVAL;
	if (!*path || strstr(path, "/../") || !strcmp(path, "..") ||
	    !strncmp(path, "../", 3)) {
		snprintf(why, whylen, "bad path in the instance: '%s'", path);
		return EBB_EINVAL;
	}
	return s3path_allowed(&b->conf.s3_allow, &who, url,
			      s->dir == EBB_STAGE_IN ? S3PATH_READ :
						       S3PATH_WRITE,
			      why, whylen);
}

static void _pack_spec_bytes(const struct stage_spec *s, msgpack_sbuffer *sb)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	stage_spec_pack(s, &pk);
}

static bool _same_spec(const struct stage_spec *a, const struct stage_spec *b)
{
	msgpack_sbuffer x, y;
	bool same;

	_pack_spec_bytes(a, &x);
	_pack_spec_bytes(b, &y);
	same = x.size == y.size && !memcmp(x.data, y.data, x.size);
	msgpack_sbuffer_destroy(&x);
	msgpack_sbuffer_destroy(&y);
	return same;
}

/* The inst argument of an ADMIN stage op, and the stage name. */
static ebb_err _args(struct bbd_req *r, bool with_name, char *name)
{
	const char *id, *n;
	uint32_t len, nlen;

	if (!proto_get_str(&r->dec, &id, &len, PROTO_MAX_INST_ID))
		return bbd_req_args(r);
	if (proto_check_inst_id(id, len) != EBB_OK)
		return bbd_req_fail(r, EBB_E_PROTO, "bad instance id");
	if (!(r->inst = bbd_inst_get(r->bbd, id, len)))
		return bbd_req_fail(r, EBB_E_NOINST, "no instance '%.*s'",
				    (int)len, id);
	if (with_name) {
		if (!proto_get_str(&r->dec, &n, &nlen, STAGE_MAX_NAME))
			return bbd_req_args(r);
		if (!_name_ok(n, nlen))
			return bbd_req_fail(r, EBB_EINVAL, "bad stage name");
		memcpy(name, n, nlen);
		name[nlen] = 0;
	}
	return EBB_OK;
}

ebb_err bbd_op_stage_start(struct bbd_req *r)
{
	struct bbd_stages *ss = r->bbd->stages;
	struct stage_spec spec = {0};
	const msgpack_object *m;
	struct bbd_stage *st;
	msgpack_sbuffer sb = {0};
	char why[512];
	bool created = false;
	int dirfd = -1;
	ebb_err e;

	if (_args(r, false, NULL) != EBB_OK)
		goto out;
	if (!proto_get_obj(&r->dec, &m) || proto_dec_end(&r->dec) != EBB_OK) {
		bbd_req_args(r);
		goto out;
	}
	if (r->inst->rank != 0) {
		bbd_req_fail(r, EBB_EINVAL, "this node is rank %u of %s; "
			     "stages go to rank 0", r->inst->rank, r->inst->id);
		goto out;
	}
	if ((e = stage_spec_parse(m, &spec, why, sizeof(why))) != EBB_OK) {
		bbd_req_fail(r, e, "%s", why);
		goto out;
	}
	if ((e = _check_spec(r->bbd, &spec, why, sizeof(why))) != EBB_OK) {
		bbd_req_fail(r, e, "%s", why);
		goto out;
	}
	pthread_mutex_lock(&ss->lock);
	st = _find_locked(ss, r->inst->id, spec.name);
	if (st) {
		if (_same_spec(&st->spec, &spec))
			r->status = EBB_OK;
		else
			bbd_req_fail(r, EBB_EEXIST, "stage %s exists with "
				     "another spec", spec.name);
		pthread_mutex_unlock(&ss->lock);
		goto reply;
	}
	dirfd = _stage_dir(r->inst, spec.name, true);
	_pack_spec_bytes(&spec, &sb);
	if (dirfd < 0 || stage_write_file(dirfd, "spec", sb.data, sb.size) != 0) {
		pthread_mutex_unlock(&ss->lock);
		bbd_req_fail(r, EBB_EIO, "cannot save the stage: %s",
			     strerror(errno));
		goto out;
	}
	if (!(st = _stage_new(r->bbd, r->inst, &spec, dirfd))) {
		pthread_mutex_unlock(&ss->lock);
		bbd_req_fail(r, EBB_ENOMEM, "no memory");
		goto out;
	}
	dirfd = -1;
	st->next = ss->list;
	ss->list = st;
	if (st->spec.deferred)
		st->state = STAGE_WAITING;
	else if (_run_locked(st) != EBB_OK) {
		st->state = STAGE_FAILED;
		st->error = strdup("cannot start the coordinator thread");
	}
	pthread_mutex_unlock(&ss->lock);
	created = true;
	log_info("instance %s: stage %s accepted (%s -> %s)", r->inst->id,
		 st->spec.name, st->spec.source, st->spec.destination);
	r->status = EBB_OK;
reply:
	proto_put_bool(&r->res, created);
	r->nres = 1;
out:
	if (dirfd >= 0)
		close(dirfd);
	msgpack_sbuffer_destroy(&sb);
	stage_spec_free(&spec);
	return r->status;
}

/* One stage map of STAGE_STATUS; registry lock held. */
static void _pack_status_locked(struct bbd_stage *st, struct proto_enc *e)
{
	msgpack_packer *pk = &e->pk;

	msgpack_pack_map(pk, 22);
	_pk_str(pk, "name");
	_pk_str(pk, st->spec.name);
	_pk_str(pk, "dir");
	msgpack_pack_uint64(pk, (uint64_t)st->spec.dir);
	_pk_str(pk, "state");
	_pk_str(pk, stage_state_name(st->state));
	_pk_str(pk, "source");
	_pk_str(pk, st->spec.source);
	_pk_str(pk, "destination");
	_pk_str(pk, st->spec.destination);
	_pk_str(pk, "files_total");
	msgpack_pack_uint64(pk, st->files_total);
	_pk_str(pk, "files_done");
	msgpack_pack_uint64(pk, st->files_done);
	_pk_str(pk, "files_failed");
	msgpack_pack_uint64(pk, st->files_failed);
	_pk_str(pk, "files_skipped");
	msgpack_pack_uint64(pk, st->files_skipped);
	_pk_str(pk, "bytes_total");
	msgpack_pack_uint64(pk, st->bytes_total);
	_pk_str(pk, "bytes_done");
	msgpack_pack_uint64(pk, st->bytes_done);
	_pk_str(pk, "retries");
	msgpack_pack_uint64(pk, st->retries);
	_pk_str(pk, "started_ns");
	msgpack_pack_int64(pk, st->started_ns);
	_pk_str(pk, "updated_ns");
	msgpack_pack_int64(pk, st->updated_ns);
	_pk_str(pk, "ended_ns");
	msgpack_pack_int64(pk, st->ended_ns);
	_pk_str(pk, "rate_bps");
	msgpack_pack_uint64(pk, st->rate_bps);
	_pk_str(pk, "eta_s");
	msgpack_pack_int64(pk, st->eta_s);
	_pk_str(pk, "error");
	_pk_str(pk, st->error);
	_pk_str(pk, "report");
	_pk_str(pk, st->report);
	_pk_str(pk, "nodes");
	msgpack_pack_array(pk, st->inst->nmembers);
	for (uint32_t i = 0; i < st->inst->nmembers; i++) {
		struct stage_node_row *w = &st->rows[i];

		msgpack_pack_map(pk, 8);
		_pk_str(pk, "rank");
		msgpack_pack_uint64(pk, i);
		_pk_str(pk, "files_total");
		msgpack_pack_uint64(pk, w->files_total);
		_pk_str(pk, "files_done");
		msgpack_pack_uint64(pk, w->files_done);
		_pk_str(pk, "files_failed");
		msgpack_pack_uint64(pk, w->files_failed);
		_pk_str(pk, "bytes_total");
		msgpack_pack_uint64(pk, w->bytes_total);
		_pk_str(pk, "bytes_done");
		msgpack_pack_uint64(pk, w->bytes_done);
		_pk_str(pk, "retries");
		msgpack_pack_uint64(pk, w->retries);
		_pk_str(pk, "state");
		_pk_str(pk, w->state[0] ? w->state : "idle");
	}
	_pk_str(pk, "job_id");
	msgpack_pack_uint64(pk, st->spec.job_id);
	_pk_str(pk, "type");
	msgpack_pack_uint64(pk, (uint64_t)st->spec.type);
}

ebb_err bbd_op_stage_status(struct bbd_req *r)
{
	struct bbd_stages *ss = r->bbd->stages;
	const char *name;
	uint32_t nlen;
	unsigned k = 0;

	if (!proto_get_str_or_nil(&r->dec, &name, &nlen, STAGE_MAX_NAME) ||
	    proto_dec_end(&r->dec) != EBB_OK)
		return bbd_req_args(r);
	if (r->inst->rank != 0)
		return bbd_req_fail(r, EBB_EINVAL, "this node is rank %u of %s; "
				    "stages are on rank 0", r->inst->rank,
				    r->inst->id);
	pthread_mutex_lock(&ss->lock);
	for (struct bbd_stage *st = ss->list; st; st = st->next)
		if (st->inst == r->inst &&
		    (!name || (strlen(st->spec.name) == nlen &&
			       !memcmp(st->spec.name, name, nlen))))
			k++;
	proto_put_array(&r->res, k);
	for (struct bbd_stage *st = ss->list; st; st = st->next)
		if (st->inst == r->inst &&
		    (!name || (strlen(st->spec.name) == nlen &&
			       !memcmp(st->spec.name, name, nlen))))
			_pack_status_locked(st, &r->res);
	pthread_mutex_unlock(&ss->lock);
	r->nres = 1;
	if (name && k == 0)
		return bbd_req_fail(r, EBB_ENOENT, "no stage '%.*s'",
				    (int)nlen, name);
	r->status = EBB_OK;
	return r->status;
}

ebb_err bbd_op_stage_retry(struct bbd_req *r)
{
	struct bbd_stages *ss = r->bbd->stages;
	char name[STAGE_MAX_NAME + 1];
	struct bbd_stage *st;
	bool join = false, run = false;
	pthread_t t;

	if (_args(r, true, name) != EBB_OK ||
	    proto_dec_end(&r->dec) != EBB_OK)
		return r->status == EBB_OK ? bbd_req_args(r) : r->status;
	if (r->uid != 0 && r->uid != r->inst->uid &&
	    !(r->bbd->conf.have_slurm_user && r->uid == r->bbd->conf.slurm_uid))
		return bbd_req_fail(r, EBB_E_DENIED, "STAGE_RETRY needs root, "
				    "the Slurm user or the owner of %s",
				    r->inst->id);
	pthread_mutex_lock(&ss->lock);
	st = _find_locked(ss, r->inst->id, name);
	if (!st) {
		bbd_req_fail(r, EBB_ENOENT, "no stage '%s'", name);
	} else if (st->state == STAGE_WAITING ||
		   st->state == STAGE_FAILED || st->state == STAGE_CANCELLED) {
		if (st->state == STAGE_WAITING)
			(void)stage_write_file(st->dirfd, "started", "", 0);
		free(st->error);
		st->error = NULL;
		free(st->report);
		st->report = NULL;
		st->state = STAGE_PLANNING;  /* a second retry is a no-op */
		st->ended_ns = 0;
		(void)unlinkat(st->dirfd, "state", 0);
		if (st->running) {
			t = st->thread;
			st->running = false;
			join = true;
		}
		run = true;
		r->status = EBB_OK;
	} else {
		r->status = EBB_OK;  /* running or done: nothing to retry */
	}
	pthread_mutex_unlock(&ss->lock);
	/* The old thread ended (its state was final); join it unlocked, it
	 * may still be taking the lock on its way out. */
	if (join)
		pthread_join(t, NULL);
	if (run) {
		pthread_mutex_lock(&ss->lock);
		if (_run_locked(st) != EBB_OK)
			bbd_req_fail(r, EBB_ENOMEM, "no thread");
		pthread_mutex_unlock(&ss->lock);
	}
	return r->status;
}

ebb_err bbd_op_stage_cancel(struct bbd_req *r)
{
	struct bbd_stages *ss = r->bbd->stages;
	char name[STAGE_MAX_NAME + 1];
	struct bbd_stage *st;
	bool waiting = false;

	if (_args(r, true, name) != EBB_OK ||
	    proto_dec_end(&r->dec) != EBB_OK)
		return r->status == EBB_OK ? bbd_req_args(r) : r->status;
	pthread_mutex_lock(&ss->lock);
	st = _find_locked(ss, r->inst->id, name);
	if (st && (st->state == STAGE_WAITING || st->state == STAGE_FAILED)) {
		/* no thread runs it: a deferred stage, or a failed one given
		 * up (`ebbctl stage abandon`: the Slurm plugin then removes a
		 * kept export's data) */
		st->state = STAGE_CANCELLED;
		st->ended_ns = bbd_now_ns();
		waiting = true;
	} else if (st && st->state < STAGE_DONE) {
		atomic_store(&st->cancel, true);
	}
	pthread_mutex_unlock(&ss->lock);
	if (waiting)
		stage_persist_state(st);
	/* The member side of this node, whoever asked. */
	stage_xfer_cancel(ss->xfer, r->inst->id, name);
	r->status = EBB_OK;
	return r->status;
}

ebb_err bbd_op_stage_work(struct bbd_req *r)
{
	char name[STAGE_MAX_NAME + 1], why[256];
	const msgpack_object *m;
	ebb_err e;

	if (_args(r, true, name) != EBB_OK)
		return r->status;
	if (!proto_get_obj(&r->dec, &m) || proto_dec_end(&r->dec) != EBB_OK)
		return bbd_req_args(r);
	e = stage_xfer_work(r->bbd->stages->xfer, r->inst, name, m, why,
			    sizeof(why));
	if (e != EBB_OK)
		return bbd_req_fail(r, e, "%s", why);
	r->status = EBB_OK;
	return r->status;
}

ebb_err bbd_op_stage_poll(struct bbd_req *r)
{
	char name[STAGE_MAX_NAME + 1];
	ebb_err e;

	if (_args(r, true, name) != EBB_OK ||
	    proto_dec_end(&r->dec) != EBB_OK)
		return r->status == EBB_OK ? bbd_req_args(r) : r->status;
	e = stage_xfer_poll(r->bbd->stages->xfer, r->inst->id, name,
			    &r->res.pk);
	if (e != EBB_OK)
		return bbd_req_fail(r, e, "no work for stage '%s' here", name);
	r->nres = 1;
	r->status = EBB_OK;
	return r->status;
}

/* ---- start-up and shutdown ------------------------------------------------------------ */

ebb_err bbd_stage_init(struct bbd *b, char *err, size_t errlen)
{
	struct bbd_stages *ss = calloc(1, sizeof(*ss));

	if (!ss) {
		snprintf(err, errlen, "no memory");
		return EBB_ENOMEM;
	}
	pthread_mutex_init(&ss->lock, NULL);
	ss->s3conf = &b->conf.s3;
	b->stages = ss;
	if (stage_xfer_start(b, &ss->xfer) != EBB_OK) {
		snprintf(err, errlen, "cannot start the stager thread");
		return EBB_ENOMEM;
	}
	return EBB_OK;
}

/* Load the stages of inst (rank 0) from disk; resume unfinished ones. */
static void _resume_inst(struct bbd *b, struct bbd_inst *inst)
{
	struct bbd_stages *ss = b->stages;
	struct dirent *de;
	DIR *d;
	int top = openat(inst->dirfd, "stage",
			 O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (top < 0 || !(d = fdopendir(top))) {
		if (top >= 0)
			close(top);
		return;
	}
	while ((de = readdir(d))) {
		struct stage_spec spec;
		msgpack_unpacked up;
		struct bbd_stage *st;
		char buf[64 * 1024], why[256];
		ssize_t n;
		int dfd, fd;

		if (de->d_name[0] == '.' ||
		    (dfd = _stage_dir(inst, de->d_name, false)) < 0)
			continue;
		fd = openat(dfd, "spec", O_RDONLY | O_CLOEXEC);
		n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
		if (fd >= 0)
			close(fd);
		msgpack_unpacked_init(&up);
		if (n <= 0 ||
		    msgpack_unpack_next(&up, buf, (size_t)n, NULL) !=
			    MSGPACK_UNPACK_SUCCESS ||
		    stage_spec_parse(&up.data, &spec, why, sizeof(why)) !=
			    EBB_OK) {
			msgpack_unpacked_destroy(&up);
			close(dfd);
			continue;
		}
		msgpack_unpacked_destroy(&up);
		st = _stage_new(b, inst, &spec, dfd);
		if (!st) {
			stage_spec_free(&spec);
			close(dfd);
			continue;
		}
		pthread_mutex_lock(&ss->lock);
		st->next = ss->list;
		ss->list = st;
		if (st->spec.deferred &&
		    faccessat(dfd, "started", F_OK, 0) != 0) {
			st->state = STAGE_WAITING;
		} else if (!_load_state(st)) {
			log_info("instance %s: resuming stage %s", inst->id,
				 st->spec.name);
			(void)_run_locked(st);
		}
		pthread_mutex_unlock(&ss->lock);
	}
	closedir(d);
}

void bbd_stage_resume(struct bbd *b)
{
	struct bbd_inst **list = NULL;
	unsigned n = 0, cap = 0;

	pthread_rwlock_rdlock(&b->reg_lock);
	for (struct bbd_inst *i = b->insts; i; i = i->next) {
		if (i->rank != 0 || i->destroyed)
			continue;
		if (n == cap) {
			struct bbd_inst **nl;

			cap = cap ? 2 * cap : 8;
			if (!(nl = realloc(list, cap * sizeof(*list))))
				break;
			list = nl;
		}
		atomic_fetch_add(&i->refs, 1);
		list[n++] = i;
	}
	pthread_rwlock_unlock(&b->reg_lock);
	for (unsigned k = 0; k < n; k++) {
		_resume_inst(b, list[k]);
		bbd_inst_unref(list[k]);
	}
	free(list);
}

/* Stop the coordinators of inst (all if NULL) and join them; they keep
 * their persisted state, so they resume at the next start. */
static void _stop_coordinators(struct bbd *b, struct bbd_inst *inst,
			       bool forget)
{
	struct bbd_stages *ss = b->stages;
	struct bbd_stage **pp, *st;

	pthread_mutex_lock(&ss->lock);
	for (st = ss->list; st; st = st->next)
		if (!inst || st->inst == inst)
			atomic_store(&st->halt, true);
	pthread_mutex_unlock(&ss->lock);
	for (;;) {
		pthread_t t;
		bool found = false;

		pthread_mutex_lock(&ss->lock);
		for (st = ss->list; st; st = st->next)
			if ((!inst || st->inst == inst) && st->running) {
				t = st->thread;
				st->running = false;
				found = true;
				break;
			}
		pthread_mutex_unlock(&ss->lock);
		if (!found)
			break;
		pthread_join(t, NULL);
	}
	if (!forget)
		return;
	pthread_mutex_lock(&ss->lock);
	for (pp = &ss->list; (st = *pp);) {
		if (!inst || st->inst == inst) {
			*pp = st->next;
			_stage_free(st);
		} else {
			pp = &st->next;
		}
	}
	pthread_mutex_unlock(&ss->lock);
}

void bbd_stage_inst_gone(struct bbd *b, struct bbd_inst *inst)
{
	if (!b->stages)
		return;
	_stop_coordinators(b, inst, true);
	stage_xfer_cancel(b->stages->xfer, inst->id, NULL);
}

void bbd_stage_fini(struct bbd *b)
{
	struct bbd_stages *ss = b->stages;

	if (!ss)
		return;
	_stop_coordinators(b, NULL, true);
	stage_xfer_stop(ss->xfer);
	pthread_mutex_destroy(&ss->lock);
	free(ss);
	b->stages = NULL;
}
