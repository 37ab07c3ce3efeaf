/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb admin calls: instance create/destroy on all members, node status,
 * instance list/get.
 *
 * DESIGN: these calls are made by ebbctl and the Slurm plugin's workers,
 * without an attached instance: each builds a short-lived net over the
 * addresses it is given, so they share the connection engine (parallel
 * connect + HELLO, timeouts) with the file system calls.  Creating an
 * instance sends INST_CREATE to every member at once; if any member fails,
 * the members that answered OK are sent INST_DESTROY (also at once) so
 * nothing is left half-created, and errmsg names the first member that
 * failed and why ("host:port: reason", the daemon's detail when it gave
 * one).  Destroy treats "no such instance" as done, so it can be retried.
 * With spec->mount every member answers only once its FUSE mount works
 * (bbd, docs/internals/mounts.md), so success means mounted everywhere;
 * EBB_MOUNT_WRITEBACK adds INST_CREATE's `cache` argument.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebb_int.h"

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

/* "host:port: reason" for request r that failed. */
static void _req_msg(const struct ebb_net *net, const struct ebb_req *r,
		     char *errmsg, size_t errlen)
{
	char detail[256];

	req_detail(r, detail, sizeof(detail));
	if (!detail[0] && !r->has_dec)
		/* No reply at all: say why the node could not be reached. */
		net_why(net, r->node, detail, sizeof(detail));
	_msg(errmsg, errlen, "%s: %s", net_addr(net, r->node),
	     detail[0] ? detail : ebb_strerror(r->status));
}

static ebb_err _net_open(struct ebb_net *net, const char *const *members,
			 unsigned n, const struct ebb_options *opts)
{
	struct ebb_cfg cfg;
	ebb_err err = cfg_init(&cfg, opts);

	if (err == EBB_OK)
		err = net_init(net, members, n, &cfg);
	cfg_fini(&cfg);
	return err;
}

static ebb_err _check_members(const char *const *members, unsigned n)
{
	if (!members || n == 0 || n > PROTO_MAX_MEMBERS)
		return EBB_EINVAL;
	for (unsigned i = 0; i < n; i++) {
		size_t len = members[i] ? strlen(members[i]) : 0;
		if (len == 0 || len > PROTO_MAX_MEMBER_LEN ||
		    !strchr(members[i], ':'))
			return EBB_EINVAL;
	}
	return EBB_OK;
}

/* INST_DESTROY to the nodes flagged in which[] (all if NULL). */
static ebb_err _destroy(struct ebb_net *net, const char *id,
			const bool *which, char *errmsg, size_t errlen)
{
	struct ebb_req *reqs = calloc(net->n, sizeof(*reqs));
	unsigned k = 0;
	ebb_err err = EBB_OK;

	if (!reqs)
		return EBB_ENOMEM;
	for (unsigned i = 0; i < net->n; i++) {
		struct proto_enc *e;

		if (which && !which[i])
			continue;
		e = req_begin(net, &reqs[k++], i, PROTO_OP_INST_DESTROY, 1);
		proto_put_cstr(e, id);
	}
	(void)net_run(net, reqs, k);
	for (unsigned i = 0; i < k; i++) {
		if (reqs[i].status != EBB_OK &&
		    reqs[i].status != EBB_E_NOINST && err == EBB_OK) {
			err = reqs[i].status;
			_req_msg(net, &reqs[i], errmsg, errlen);
		}
		req_release(&reqs[i]);
	}
	free(reqs);
	return err;
}

int ebb_instance_create(const struct ebb_instance_spec *spec,
			const struct ebb_options *opts, char *errmsg,
			size_t errlen)
{
	struct ebb_net net = {0};
	struct ebb_req *reqs = NULL;
	bool *made = NULL;
	uint64_t stripe;
	unsigned nargs;
	ebb_err err;

	_msg(errmsg, errlen, "%s", "");
	if (!spec || !spec->id ||
	    proto_check_inst_id(spec->id, strlen(spec->id)) != EBB_OK) {
		_msg(errmsg, errlen, "bad instance id (1..64 of [A-Za-z0-9._-], "
		     "not starting with '.')");
		return fail_errno(EBB_EINVAL);
	}
	if (_check_members(spec->members, spec->nmembers) != EBB_OK) {
		_msg(errmsg, errlen, "bad member list (1..%u \"host:port\")",
		     PROTO_MAX_MEMBERS);
		return fail_errno(EBB_EINVAL);
	}
	stripe = spec->stripe_size ? spec->stripe_size : 1024 * 1024;
	if (stripe < PROTO_MIN_STRIPE || stripe > PROTO_MAX_STRIPE ||
	    stripe % PROTO_MIN_STRIPE) {
		_msg(errmsg, errlen, "bad stripe size %llu (4 KiB..16 MiB, a "
		     "multiple of 4 KiB)", (unsigned long long)stripe);
		return fail_errno(EBB_EINVAL);
	}
	if (spec->capacity == 0) {
		_msg(errmsg, errlen, "capacity per node must not be 0");
		return fail_errno(EBB_EINVAL);
	}
	if ((err = _net_open(&net, spec->members, spec->nmembers, opts)) !=
	    EBB_OK)
		goto out;
	reqs = calloc(net.n, sizeof(*reqs));
	made = calloc(net.n, sizeof(*made));
	if (!reqs || !made) {
		err = EBB_ENOMEM;
		goto out;
	}
	/* The optional trailing arguments are sent only when they say
	 * something: daemons from before mounts take 7 arguments, from
	 * before the cache option 8, and fewer still mean "no mount", "no
	 * cache".  A daemon too old for what is asked refuses the request
	 * (too many arguments) instead of ignoring it. */
	nargs = !spec->mount ? 7 : (spec->mount & EBB_MOUNT_WRITEBACK) ? 9 : 8;
	for (unsigned i = 0; i < net.n; i++) {
		struct proto_enc *e = req_begin(&net, &reqs[i], i,
						PROTO_OP_INST_CREATE, nargs);
		proto_put_cstr(e, spec->id);
		proto_put_u64(e, i);
		proto_put_array(e, net.n);
		for (unsigned j = 0; j < net.n; j++)
			proto_put_cstr(e, spec->members[j]);
		proto_put_u64(e, stripe);
		proto_put_u64(e, spec->capacity);
		proto_put_u64(e, spec->uid);
		proto_put_u64(e, spec->gid);
		if (nargs >= 8)
			proto_put_bool(e, true);
		if (nargs >= 9)
			proto_put_cstr(e, "writeback");
	}
	(void)net_run(&net, reqs, net.n);
	err = EBB_OK;
	/* Report the cause, not its echo: members are created in parallel,
	 * so a member whose own creation worked can fail to mount because
	 * another member refused the instance (its root is missing there).
	 * A failure that is not a mount failure is reported first. */
	if (errmsg && errlen) {
		int cause = -1, any = -1;
		char buf[512];

		for (unsigned i = 0; i < net.n; i++) {
			if (reqs[i].status == EBB_OK)
				continue;
			buf[0] = 0;
			_req_msg(&net, &reqs[i], buf, sizeof(buf));
			if (any < 0)
				any = (int)i;
			if (cause < 0 && !strstr(buf, ": mount on "))
				cause = (int)i;
		}
		if (cause < 0)
			cause = any;
		if (cause >= 0)
			_req_msg(&net, &reqs[cause], errmsg, errlen);
	}
	for (unsigned i = 0; i < net.n; i++) {
		bool created = false;

		/* Roll back only what this call made: a member that already
		 * had the instance (a repeated create) keeps it and its data.
		 * A reply without the flag proves nothing: keep it too. */
		if (reqs[i].status == EBB_OK && reqs[i].has_dec &&
		    reqs[i].dec.pos < reqs[i].dec.n)
			(void)proto_get_bool(&reqs[i].dec, &created);
		made[i] = reqs[i].status == EBB_OK && created;
		if (reqs[i].status != EBB_OK && err == EBB_OK)
			err = reqs[i].status;
	}
	if (err != EBB_OK)
		/* Roll back; the first failure stays the one reported. */
		(void)_destroy(&net, spec->id, made, NULL, 0);
out:
	for (unsigned i = 0; reqs && i < net.n; i++)
		req_release(&reqs[i]);
	free(reqs);
	free(made);
	net_fini(&net);
	if (err != EBB_OK && errmsg && errlen && !errmsg[0])
		_msg(errmsg, errlen, "%s", ebb_strerror(err));
	return err == EBB_OK ? 0 : fail_errno(err);
}

int ebb_instance_destroy(const char *id, const char *const *members,
			 unsigned nmembers, const struct ebb_options *opts,
			 char *errmsg, size_t errlen)
{
	struct ebb_net net = {0};
	ebb_err err;

	_msg(errmsg, errlen, "%s", "");
	if (!id || proto_check_inst_id(id, strlen(id)) != EBB_OK ||
	    _check_members(members, nmembers) != EBB_OK) {
		_msg(errmsg, errlen, "bad instance id or member list");
		return fail_errno(EBB_EINVAL);
	}
	if ((err = _net_open(&net, members, nmembers, opts)) == EBB_OK)
		err = _destroy(&net, id, NULL, errmsg, errlen);
	net_fini(&net);
	if (err != EBB_OK && errmsg && errlen && !errmsg[0])
		_msg(errmsg, errlen, "%s", ebb_strerror(err));
	return err == EBB_OK ? 0 : fail_errno(err);
}

/* ---- one-node queries ----------------------------------------------------- */

/* Run one request with nargs args to addr; on success *map is its first
 * result (borrowed from r, which the caller releases). */
static ebb_err _query(struct ebb_net *net, struct ebb_req *r, const char *addr,
		      const struct ebb_options *opts, uint32_t op,
		      const char *inst, const msgpack_object **res)
{
	const char *members[1] = {addr};
	struct proto_enc *e;
	ebb_err err;

	memset(r, 0, sizeof(*r));
	if (!addr || _check_members(members, 1) != EBB_OK)
		return EBB_EINVAL;
	if ((err = _net_open(net, members, 1, opts)) != EBB_OK)
		return err;
	e = req_begin(net, r, 0, op, inst ? 1 : 0);
	if (inst)
		proto_put_cstr(e, inst);
	err = net_run(net, r, 1);
	if (err == EBB_OK && !proto_get_obj(&r->dec, res))
		err = EBB_EPROTO;
	return err;
}

static uint64_t _u64(const msgpack_object *map, const char *key)
{
	uint64_t v = 0;

	proto_map_u64(map, key, &v);
	return v;
}

static void _conns_from_map(const msgpack_object *map,
			    struct ebb_node_conns *nc)
{
	const msgpack_object *c = proto_map_get(map, "conns");
	const msgpack_object *l = proto_map_get(map, "limits");

	if (c && c->type == MSGPACK_OBJECT_MAP) {
		nc->unauth = (unsigned)_u64(c, "unauth");
		nc->authed = (unsigned)_u64(c, "authed");
		nc->busy = (unsigned)_u64(c, "busy");
		nc->idle = (unsigned)_u64(c, "idle");
		nc->in_frame = (unsigned)_u64(c, "in_frame");
		nc->closed_hello = _u64(c, "closed_hello");
		nc->closed_frame = _u64(c, "closed_frame");
		nc->closed_idle = _u64(c, "closed_idle");
		nc->shed = _u64(c, "shed");
		nc->busy_conns = _u64(c, "busy_conns");
		nc->busy_inflight = _u64(c, "busy_inflight");
		nc->emfile = _u64(c, "emfile");
	}
	if (l && l->type == MSGPACK_OBJECT_MAP) {
		nc->nofile = (unsigned)_u64(l, "nofile");
		nc->max_unauth_conns = (unsigned)_u64(l, "max_unauth_conns");
		nc->max_conns_per_uid = (unsigned)_u64(l, "max_conns_per_uid");
		nc->max_inflight_per_uid =
			(unsigned)_u64(l, "max_inflight_per_uid");
		nc->hello_timeout_ms = (unsigned)_u64(l, "hello_timeout_ms");
		nc->frame_timeout_ms = (unsigned)_u64(l, "frame_timeout_ms");
		nc->idle_timeout_ms = (unsigned)_u64(l, "idle_timeout_ms");
	}
}

static void _locks_from_map(const msgpack_object *map,
			    struct ebb_node_locks *nl)
{
	const msgpack_object *l = proto_map_get(map, "locks");

	if (!l || l->type != MSGPACK_OBJECT_MAP)
		return;
	nl->instances = _u64(l, "instances");
	nl->inodes = _u64(l, "inodes");
	nl->held = _u64(l, "held");
	nl->waiting = _u64(l, "waiting");
	nl->clients = _u64(l, "clients");
	nl->granted = _u64(l, "granted");
	nl->refused = _u64(l, "refused");
	nl->expired = _u64(l, "expired");
	nl->dropped = _u64(l, "dropped");
}

int ebb_node_status(const char *addr, const struct ebb_options *opts,
		    struct ebb_node_status *st)
{
	if (!st)
		return fail_errno(EBB_EINVAL);
	return ebb_node_status_conns(addr, opts, st, NULL);
}

/* NODE_STATUS of addr into whichever of st, nc, nl is not NULL. */
static int _node_status(const char *addr, const struct ebb_options *opts,
			struct ebb_node_status *st, struct ebb_node_conns *nc,
			struct ebb_node_locks *nl)
{
	struct ebb_net net = {0};
	struct ebb_req r;
	const msgpack_object *map = NULL;
	struct ebb_node_status junk;
	ebb_err err;

	if (!st)
		st = &junk;
	memset(st, 0, sizeof(*st));
	if (nc)
		memset(nc, 0, sizeof(*nc));
	if (nl)
		memset(nl, 0, sizeof(*nl));
	err = _query(&net, &r, addr, opts, PROTO_OP_NODE_STATUS, NULL, &map);
	if (err == EBB_OK && map->type != MSGPACK_OBJECT_MAP)
		err = EBB_EPROTO;
	if (err == EBB_OK && nc)
		_conns_from_map(map, nc);
	if (err == EBB_OK && nl)
		_locks_from_map(map, nl);
	if (err == EBB_OK) {
		proto_map_str(map, "node", st->node, sizeof(st->node));
		proto_map_str(map, "version", st->version, sizeof(st->version));
		st->proto_version = (unsigned)_u64(map, "proto");
		st->uptime_s = _u64(map, "uptime_s");
		st->capacity = _u64(map, "capacity");
		st->reserved = _u64(map, "reserved");
		st->used = _u64(map, "used");
		st->ninstances = (unsigned)_u64(map, "instances");
		st->nmounted = (unsigned)_u64(map, "mounts");
		st->nmount_failed = (unsigned)_u64(map, "mounts_failed");
	}
	req_release(&r);
	net_fini(&net);
	return err == EBB_OK ? 0 : fail_errno(err);
}

int ebb_node_status_conns(const char *addr, const struct ebb_options *opts,
			  struct ebb_node_status *st,
			  struct ebb_node_conns *nc)
{
	return _node_status(addr, opts, st, nc, NULL);
}

int ebb_node_status_locks(const char *addr, const struct ebb_options *opts,
			  struct ebb_node_locks *nl)
{
	if (!nl)
		return fail_errno(EBB_EINVAL);
	return _node_status(addr, opts, NULL, NULL, nl);
}

void ebb_instance_info_free(struct ebb_instance_info *info)
{
	if (!info)
		return;
	for (unsigned i = 0; info->members && i < info->nmembers; i++)
		free(info->members[i]);
	free(info->members);
	info->members = NULL;
	info->nmembers = 0;
	free(info->mount);
	info->mount = NULL;
}

void ebb_instance_list_free(struct ebb_instance_info *list, unsigned n)
{
	for (unsigned i = 0; list && i < n; i++)
		ebb_instance_info_free(&list[i]);
	free(list);
}

static ebb_err _info_from_map(const msgpack_object *map,
			      struct ebb_instance_info *info)
{
	const msgpack_object *mem;

	memset(info, 0, sizeof(*info));
	if (!map || map->type != MSGPACK_OBJECT_MAP ||
	    !proto_map_str(map, "id", info->id, sizeof(info->id)))
		return EBB_EPROTO;
	info->rank = (unsigned)_u64(map, "rank");
	info->stripe_size = _u64(map, "stripe_size");
	info->capacity = _u64(map, "capacity");
	info->used = _u64(map, "used");
	info->uid = (uid_t)_u64(map, "uid");
	info->gid = (gid_t)_u64(map, "gid");
	if (!proto_map_str(map, "state", info->state, sizeof(info->state)))
		strcpy(info->state, "?");
	/* Older daemons send no mount keys: "none". */
	if (!proto_map_str(map, "mount_state", info->mount_state,
			   sizeof(info->mount_state)))
		strcpy(info->mount_state, "none");
	proto_map_str(map, "mount_error", info->mount_error,
		      sizeof(info->mount_error));

	mem = proto_map_get(map, "members");
	if (!mem || mem->type != MSGPACK_OBJECT_ARRAY ||
	    mem->via.array.size == 0 ||
	    mem->via.array.size > PROTO_MAX_MEMBERS)
		return EBB_EPROTO;
	info->members = calloc(mem->via.array.size, sizeof(char *));
	if (!info->members)
		return EBB_ENOMEM;
	for (uint32_t i = 0; i < mem->via.array.size; i++) {
		const msgpack_object *s = &mem->via.array.ptr[i];
		if (s->type != MSGPACK_OBJECT_STR ||
		    s->via.str.size > PROTO_MAX_MEMBER_LEN ||
		    !(info->members[i] = strndup(s->via.str.ptr,
						 s->via.str.size))) {
			ebb_instance_info_free(info);
			return s->type == MSGPACK_OBJECT_STR ? EBB_ENOMEM :
							       EBB_EPROTO;
		}
		info->nmembers = i + 1;
	}
	mem = proto_map_get(map, "mount");
	if (mem && mem->type == MSGPACK_OBJECT_STR && mem->via.str.size &&
	    mem->via.str.size < 4096 &&
	    !memchr(mem->via.str.ptr, '\0', mem->via.str.size) &&
	    !(info->mount = strndup(mem->via.str.ptr, mem->via.str.size))) {
		ebb_instance_info_free(info);
		return EBB_ENOMEM;
	}
	return EBB_OK;
}

int ebb_instance_get(const char *addr, const char *id,
		     const struct ebb_options *opts,
		     struct ebb_instance_info *info)
{
	struct ebb_net net = {0};
	struct ebb_req r;
	const msgpack_object *map = NULL;
	ebb_err err;

	if (!info || !id || proto_check_inst_id(id, strlen(id)) != EBB_OK)
		return fail_errno(EBB_EINVAL);
	memset(info, 0, sizeof(*info));
	err = _query(&net, &r, addr, opts, PROTO_OP_INST_GET, id, &map);
	if (err == EBB_OK)
		err = _info_from_map(map, info);
	req_release(&r);
	net_fini(&net);
	return err == EBB_OK ? 0 : fail_errno(err);
}

int ebb_instance_list(const char *addr, const struct ebb_options *opts,
		      struct ebb_instance_info **list, unsigned *n)
{
	struct ebb_net net = {0};
	struct ebb_req r;
	const msgpack_object *arr = NULL;
	struct ebb_instance_info *l = NULL;
	unsigned k = 0;
	ebb_err err;

	if (!list || !n)
		return fail_errno(EBB_EINVAL);
	*list = NULL;
	*n = 0;
	err = _query(&net, &r, addr, opts, PROTO_OP_INST_LIST, NULL, &arr);
	if (err == EBB_OK && arr->type != MSGPACK_OBJECT_ARRAY)
		err = EBB_EPROTO;
	if (err == EBB_OK && arr->via.array.size &&
	    !(l = calloc(arr->via.array.size, sizeof(*l))))
		err = EBB_ENOMEM;
	for (uint32_t i = 0; err == EBB_OK && i < arr->via.array.size; i++) {
		err = _info_from_map(&arr->via.array.ptr[i], &l[i]);
		if (err == EBB_OK)
			k++;
	}
	req_release(&r);
	net_fini(&net);
	if (err != EBB_OK) {
		ebb_instance_list_free(l, k);
		return fail_errno(err);
	}
	*list = l;
	*n = k;
	return 0;
}
