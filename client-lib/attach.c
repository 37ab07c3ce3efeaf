/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb handles: attach, detach, the instance's stripe size, the errno edge.
 *
 * DESIGN: ebb_attach() only checks its arguments and sets up the tables;
 * nothing touches the network until a call needs a node, so attaching to
 * a 1,000-node instance is instant and a dead node costs only the calls
 * that need it.  The stripe size is learnt on first need with INST_GET
 * (from rank 0, else the next rank that answers), which also checks that
 * the instance exists and has as many members as we were given.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebb_int.h"

int fail_errno(ebb_err err)
{
	errno = ebb_err_to_errno(err == EBB_OK ? EBB_EIO : err);
	return -1;
}

const char *ebb_version(void)
{
	return PACKAGE_VERSION;
}

unsigned ebb_nmembers(const ebb_t *h)
{
	return h ? h->net.n : 0;
}

uint64_t ebb_stripe_size(const ebb_t *h)
{
	uint64_t s = 0;

	/* Learning it lazily changes no observable state of h: the cast is
	 * the price of a const accessor over a lazily filled field. */
	if (!h || attach_stripe((ebb_t *)h, &s) != EBB_OK) {
		errno = h ? errno : EINVAL;
		return 0;
	}
	return s;
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

ebb_t *ebb_attach(const char *id, const char *const *members,
		  unsigned nmembers, const struct ebb_options *opts)
{
	struct ebb_cfg cfg = {0};
	ebb_t *h = NULL;
	ebb_err err;
	int ng;

	if (!id || proto_check_inst_id(id, strlen(id)) != EBB_OK ||
	    (err = _check_members(members, nmembers)) != EBB_OK) {
		err = EBB_EINVAL;
		goto out;
	}
	if ((err = cfg_init(&cfg, opts)) != EBB_OK)
		goto out;
	if (!(h = calloc(1, sizeof(*h)))) {
		err = EBB_ENOMEM;
		goto out;
	}
	strcpy(h->id, id);
	if ((err = net_init(&h->net, members, nmembers, &cfg)) != EBB_OK)
		goto out;
	h->uid = geteuid();
	h->gid = getegid();
	ng = getgroups(0, NULL);
	if (ng > 0 && (h->groups = calloc((size_t)ng, sizeof(gid_t))))
		h->ngroups = getgroups(ng, h->groups);
	if (h->ngroups < 0)
		h->ngroups = 0;
	pthread_mutex_init(&h->info_lock, NULL);
	pthread_mutex_init(&h->ino_lock, NULL);
	pthread_cond_init(&h->dunlink_cond, NULL);
	dcache_init(h);
	err = locks_init(h);
out:
	cfg_fini(&cfg); /* empty if net_init took it over */
	if (err != EBB_OK) {
		if (h)
			net_fini(&h->net);
		free(h);
		fail_errno(err);
		return NULL;
	}
	return h;
}

ebb_t *ebb_attach_via(const char *addr, const char *id,
		      const struct ebb_options *opts)
{
	struct ebb_instance_info info;
	ebb_t *h;
	int saved;

	if (ebb_instance_get(addr, id, opts, &info) != 0)
		return NULL;
	h = ebb_attach(id, (const char *const *)info.members, info.nmembers,
		       opts);
	saved = errno;
	if (h && info.stripe_size)
		h->stripe = info.stripe_size;
	ebb_instance_info_free(&info);
	errno = saved;
	return h;
}

int ebb_detach(ebb_t *h)
{
	if (!h)
		return fail_errno(EBB_EINVAL);
	locks_fini(h);
	net_fini(&h->net);
	dcache_fini(h);
	for (unsigned b = 0; b < INO_BUCKETS; b++) {
		/* Files left open: their handles are now dangling. */
		while (h->inodes[b]) {
			struct ebb_inode *in = h->inodes[b];
			h->inodes[b] = in->next;
			free(in);
		}
	}
	pthread_mutex_destroy(&h->ino_lock);
	pthread_cond_destroy(&h->dunlink_cond);
	pthread_mutex_destroy(&h->info_lock);
	free(h->groups);
	free(h);
	return 0;
}

/* INST_GET on one node: the stripe size and member count. */
static ebb_err _inst_get(ebb_t *h, unsigned node, uint64_t *stripe)
{
	struct ebb_req r;
	struct proto_enc *e;
	const msgpack_object *map, *mem;
	ebb_err err;

	e = req_begin(&h->net, &r, node, PROTO_OP_INST_GET, 1);
	proto_put_cstr(e, h->id);
	err = net_run(&h->net, &r, 1);
	if (err != EBB_OK)
		goto out;
	if (!proto_get_obj(&r.dec, &map) ||
	    !proto_map_u64(map, "stripe_size", stripe) || *stripe == 0) {
		err = EBB_EPROTO;
		goto out;
	}
	mem = proto_map_get(map, "members");
	if (mem && mem->type == MSGPACK_OBJECT_ARRAY &&
	    mem->via.array.size != h->net.n)
		err = EBB_EINVAL; /* attached with another member list */
out:
	req_release(&r);
	return err;
}

ebb_err attach_stripe(ebb_t *h, uint64_t *stripe)
{
	ebb_err err = EBB_OK;

	pthread_mutex_lock(&h->info_lock);
	if (!h->stripe) {
		for (unsigned i = 0; i < h->net.n; i++) {
			err = _inst_get(h, i, &h->stripe);
			/* A node that answers decides; a dead one does not. */
			if (err != EBB_EIO && err != EBB_ETIMEDOUT)
				break;
		}
		if (err != EBB_OK)
			h->stripe = 0;
	}
	*stripe = h->stripe;
	pthread_mutex_unlock(&h->info_lock);
	return err;
}
