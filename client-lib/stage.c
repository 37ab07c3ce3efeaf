/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb stage calls: start, status, retry and cancel a stage on an
 * instance's rank 0, and the coordinator's STAGE_WORK/STAGE_POLL link.
 *
 * DESIGN: a stage is run by the bbds (bbd/stage*.c, docs/stager.md); these
 * calls only talk to rank 0 (members[0]), which coordinates.  Each call
 * builds a short-lived net like the admin calls (admin.c), so a caller
 * needs no attached instance.  The spec travels as one msgpack map (keys
 * in docs/protocol.md), so fields can be added without a new opcode.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebb_int.h"
#include "stagelink_int.h"

static void _msg(char *errmsg, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void _msg(char *errmsg, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errmsg || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(errmsg, errlen, fmt, ap);
	va_end(ap);
}

static bool _name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-", name[i]))
			return false;
	return true;
}

/* A net to rank 0 only. */
static ebb_err _open0(struct ebb_net *net, const char *id,
		      const char *const *members, unsigned n,
		      const struct ebb_options *opts)
{
	struct ebb_cfg cfg;
	ebb_err err;

	if (!id || proto_check_inst_id(id, strlen(id)) != EBB_OK ||
	    !members || n == 0 || !members[0] || !strchr(members[0], ':'))
		return EBB_EINVAL;
	if ((err = cfg_init(&cfg, opts)) == EBB_OK)
		err = net_init(net, members, 1, &cfg);
	cfg_fini(&cfg);
	return err;
}

static void _fail_msg(const struct ebb_net *net, const struct ebb_req *r,
		      ebb_err err, char *errmsg, size_t errlen)
{
	char detail[512];

	detail[0] = 0;
	if (r)
		req_detail(r, detail, sizeof(detail));
	if (!detail[0] && r && !r->has_dec)
		net_why(net, 0, detail, sizeof(detail));
	_msg(errmsg, errlen, "%s: %s", net_addr(net, 0),
	     detail[0] ? detail : ebb_strerror(err));
}

int ebb_stage_start(const char *id, const char *const *members,
		    unsigned nmembers, const struct ebb_stage_spec *spec,
		    const struct ebb_options *opts, char *errmsg,
		    size_t errlen)
{
	struct ebb_net net = {0};
	struct ebb_req r = {0};
	struct proto_enc *e;
	bool opened = false;
	ebb_err err;

	_msg(errmsg, errlen, "%s", "");
	if (!spec || !_name_ok(spec->name) || !spec->source ||
	    !spec->destination || spec->type < 0 || spec->type > 2 ||
	    (spec->dir != EBB_STAGE_IN && spec->dir != EBB_STAGE_OUT) ||
	    !spec->user || (spec->ngroups && !spec->groups)) {
		_msg(errmsg, errlen, "bad stage spec (name [A-Za-z0-9._-]{1,32}, "
		     "source, destination, user, type 0..2)");
		return fail_errno(EBB_EINVAL);
	}
	if ((err = _open0(&net, id, members, nmembers, opts)) != EBB_OK) {
		_msg(errmsg, errlen, "bad instance id or member list");
		return fail_errno(err);
	}
	opened = true;
	e = req_begin(&net, &r, 0, PROTO_OP_STAGE_START, 2);
	proto_put_cstr(e, id);
	proto_put_map(e, 12);
	proto_put_cstr(e, "name");
	proto_put_cstr(e, spec->name);
	proto_put_cstr(e, "dir");
	proto_put_u64(e, (uint64_t)spec->dir);
	proto_put_cstr(e, "source");
	proto_put_cstr(e, spec->source);
	proto_put_cstr(e, "destination");
	proto_put_cstr(e, spec->destination);
	proto_put_cstr(e, "type");
	proto_put_u64(e, (uint64_t)spec->type);
	proto_put_cstr(e, "uid");
	proto_put_u64(e, spec->uid);
	proto_put_cstr(e, "gid");
	proto_put_u64(e, spec->gid);
	proto_put_cstr(e, "user");
	proto_put_cstr(e, spec->user);
	proto_put_cstr(e, "groups");
	proto_put_array(e, spec->ngroups);
	for (unsigned i = 0; i < spec->ngroups; i++)
		proto_put_cstr(e, spec->groups[i] ? spec->groups[i] : "");
	proto_put_cstr(e, "account");
	proto_put_cstr(e, spec->account);
	proto_put_cstr(e, "job_id");
	proto_put_u64(e, spec->job_id);
	proto_put_cstr(e, "deferred");
	proto_put_u64(e, spec->deferred ? 1 : 0);
	err = net_run(&net, &r, 1);
	if (err != EBB_OK)
		_fail_msg(&net, &r, err, errmsg, errlen);
	req_release(&r);
	if (opened)
		net_fini(&net);
	return err == EBB_OK ? 0 : fail_errno(err);
}

/* RETRY and CANCEL: (inst, name), no result. */
static int _simple(uint32_t op, const char *id, const char *const *members,
		   unsigned nmembers, const char *name,
		   const struct ebb_options *opts, char *errmsg, size_t errlen)
{
	struct ebb_net net = {0};
	struct ebb_req r = {0};
	struct proto_enc *e;
	ebb_err err;

	_msg(errmsg, errlen, "%s", "");
	if (!_name_ok(name)) {
		_msg(errmsg, errlen, "bad stage name");
		return fail_errno(EBB_EINVAL);
	}
	if ((err = _open0(&net, id, members, nmembers, opts)) != EBB_OK) {
		_msg(errmsg, errlen, "bad instance id or member list");
		return fail_errno(err);
	}
	e = req_begin(&net, &r, 0, op, 2);
	proto_put_cstr(e, id);
	proto_put_cstr(e, name);
	err = net_run(&net, &r, 1);
	if (err != EBB_OK)
		_fail_msg(&net, &r, err, errmsg, errlen);
	req_release(&r);
	net_fini(&net);
	return err == EBB_OK ? 0 : fail_errno(err);
}

int ebb_stage_retry(const char *id, const char *const *members,
		    unsigned nmembers, const char *name,
		    const struct ebb_options *opts, char *errmsg,
		    size_t errlen)
{
	return _simple(PROTO_OP_STAGE_RETRY, id, members, nmembers, name,
		       opts, errmsg, errlen);
}

int ebb_stage_cancel(const char *id, const char *const *members,
		     unsigned nmembers, const char *name,
		     const struct ebb_options *opts, char *errmsg,
		     size_t errlen)
{
	return _simple(PROTO_OP_STAGE_CANCEL, id, members, nmembers, name,
		       opts, errmsg, errlen);
}

/* ---- status ---------------------------------------------------------------- */

static uint64_t _u64(const msgpack_object *map, const char *key)
{
	uint64_t v = 0;

	proto_map_u64(map, key, &v);
	return v;
}

static int64_t _i64(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = proto_map_get(map, key);

	if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (int64_t)o->via.u64;
	if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return o->via.i64;
	return 0;
}

/* A malloc'd copy of string key, or NULL (absent or nil). */
static char *_dup(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = proto_map_get(map, key);

	if (!o || o->type != MSGPACK_OBJECT_STR)
		return NULL;
	return strndup(o->via.str.ptr, o->via.str.size);
}

static void _status_fini(struct ebb_stage_status *s)
{
	free(s->source);
	free(s->destination);
	free(s->error);
	free(s->report);
	free(s->nodes);
}

void ebb_stage_status_free(struct ebb_stage_status *list, unsigned n)
{
	for (unsigned i = 0; list && i < n; i++)
		_status_fini(&list[i]);
	free(list);
}

static ebb_err _status_from_map(const msgpack_object *m,
				struct ebb_stage_status *s)
{
	const msgpack_object *nodes;

	memset(s, 0, sizeof(*s));
	if (m->type != MSGPACK_OBJECT_MAP ||
	    !proto_map_str(m, "name", s->name, sizeof(s->name)))
		return EBB_EPROTO;
	s->dir = _u64(m, "dir") ? EBB_STAGE_OUT : EBB_STAGE_IN;
	if (!proto_map_str(m, "state", s->state, sizeof(s->state)))
		strcpy(s->state, "?");
	s->source = _dup(m, "source");
	s->destination = _dup(m, "destination");
	s->error = _dup(m, "error");
	s->report = _dup(m, "report");
	s->files_total = _u64(m, "files_total");
	s->files_done = _u64(m, "files_done");
	s->files_failed = _u64(m, "files_failed");
	s->files_skipped = _u64(m, "files_skipped");
	s->bytes_total = _u64(m, "bytes_total");
	s->bytes_done = _u64(m, "bytes_done");
	s->retries = _u64(m, "retries");
	s->started_ns = _i64(m, "started_ns");
	s->updated_ns = _i64(m, "updated_ns");
	s->ended_ns = _i64(m, "ended_ns");
	s->rate_bps = (double)_u64(m, "rate_bps");
	s->eta_s = _i64(m, "eta_s");
	nodes = proto_map_get(m, "nodes");
	if (nodes && nodes->type == MSGPACK_OBJECT_ARRAY &&
	    nodes->via.array.size) {
		s->nodes = calloc(nodes->via.array.size, sizeof(*s->nodes));
		if (!s->nodes)
			return EBB_ENOMEM;
		for (uint32_t i = 0; i < nodes->via.array.size; i++) {
			const msgpack_object *n = &nodes->via.array.ptr[i];
			struct ebb_stage_node *d = &s->nodes[i];

			if (n->type != MSGPACK_OBJECT_MAP)
				continue;
			d->rank = (unsigned)_u64(n, "rank");
			d->files_total = _u64(n, "files_total");
			d->files_done = _u64(n, "files_done");
			d->files_failed = _u64(n, "files_failed");
			d->bytes_total = _u64(n, "bytes_total");
			d->bytes_done = _u64(n, "bytes_done");
			d->retries = _u64(n, "retries");
			if (!proto_map_str(n, "state", d->state,
					   sizeof(d->state)))
				strcpy(d->state, "?");
			s->nnodes = i + 1;
		}
	}
	return EBB_OK;
}

int ebb_stage_status(const char *id, const char *const *members,
		     unsigned nmembers, const char *name,
		     const struct ebb_options *opts,
		     struct ebb_stage_status **list, unsigned *n)
{
	struct ebb_net net = {0};
	struct ebb_req r = {0};
	const msgpack_object *arr = NULL;
	struct ebb_stage_status *l = NULL;
	struct proto_enc *e;
	unsigned k = 0;
	ebb_err err;

	if (!list || !n || (name && !_name_ok(name)))
		return fail_errno(EBB_EINVAL);
	*list = NULL;
	*n = 0;
	if ((err = _open0(&net, id, members, nmembers, opts)) != EBB_OK)
		return fail_errno(err);
	e = req_begin(&net, &r, 0, PROTO_OP_STAGE_STATUS, 2);
	proto_put_cstr(e, id);
	proto_put_cstr(e, name);
	err = net_run(&net, &r, 1);
	if (err == EBB_OK && (!proto_get_obj(&r.dec, &arr) ||
			      arr->type != MSGPACK_OBJECT_ARRAY))
		err = EBB_EPROTO;
	if (err == EBB_OK && arr->via.array.size &&
	    !(l = calloc(arr->via.array.size, sizeof(*l))))
		err = EBB_ENOMEM;
	for (uint32_t i = 0; err == EBB_OK && i < arr->via.array.size; i++) {
		err = _status_from_map(&arr->via.array.ptr[i], &l[i]);
		k++;
	}
	req_release(&r);
	net_fini(&net);
	if (err != EBB_OK) {
		ebb_stage_status_free(l, k);
		return fail_errno(err);
	}
	*list = l;
	*n = k;
	return 0;
}

/* ---- the coordinator's link (stage_int.h) -------------------------------------- */

struct ebb_stage_link {
	struct ebb_net net;
};

struct ebb_stage_link *ebb_stage_link_new(const char *const *members,
					  unsigned n,
					  const struct ebb_options *opts)
{
	struct ebb_stage_link *l = calloc(1, sizeof(*l));
	struct ebb_cfg cfg;
	ebb_err err;

	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	err = cfg_init(&cfg, opts);
	if (err == EBB_OK)
		err = net_init(&l->net, members, n, &cfg);
	cfg_fini(&cfg);
	if (err != EBB_OK) {
		free(l);
		fail_errno(err);
		return NULL;
	}
	return l;
}

void ebb_stage_link_free(struct ebb_stage_link *l)
{
	if (!l)
		return;
	net_fini(&l->net);
	free(l);
}

ebb_err ebb_stage_link_call(struct ebb_stage_link *l, uint32_t op,
			    const char *inst, const char *name,
			    struct ebb_stage_msg *msgs, unsigned n)
{
	struct ebb_req *reqs;
	ebb_err first = EBB_OK;

	if (n == 0)
		return EBB_OK;
	if (!(reqs = calloc(n, sizeof(*reqs))))
		return EBB_ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		bool work = op == PROTO_OP_STAGE_WORK;
		struct proto_enc *e = req_begin(&l->net, &reqs[i],
						msgs[i].node, op, work ? 3 : 2);

		proto_put_cstr(e, inst);
		proto_put_cstr(e, name);
		if (work)
			msgpack_sbuffer_write(&e->sb, msgs[i].map,
					      msgs[i].maplen);
		msgs[i].reply = NULL;
		msgs[i].replylen = 0;
		msgs[i].detail[0] = 0;
	}
	(void)net_run(&l->net, reqs, n);
	for (unsigned i = 0; i < n; i++) {
		struct ebb_req *r = &reqs[i];
		const msgpack_object *o;

		msgs[i].status = r->status;
		if (r->status == EBB_OK && op == PROTO_OP_STAGE_POLL) {
			if (proto_get_obj(&r->dec, &o)) {
				msgpack_sbuffer sb;
				msgpack_packer pk;

				msgpack_sbuffer_init(&sb);
				msgpack_packer_init(&pk, &sb,
						    msgpack_sbuffer_write);
				msgpack_pack_object(&pk, *o);
				msgs[i].reply = sb.data;
				msgs[i].replylen = sb.size;
			} else {
				msgs[i].status = EBB_EPROTO;
			}
		}
		if (msgs[i].status != EBB_OK) {
			char d[200];

			req_detail(r, d, sizeof(d));
			if (!d[0] && !r->has_dec)
				net_why(&l->net, r->node, d, sizeof(d));
			snprintf(msgs[i].detail, sizeof(msgs[i].detail),
				 "%s: %s", net_addr(&l->net, r->node),
				 d[0] ? d : ebb_strerror(msgs[i].status));
			if (first == EBB_OK)
				first = msgs[i].status;
		}
		req_release(r);
	}
	free(reqs);
	return first;
}
