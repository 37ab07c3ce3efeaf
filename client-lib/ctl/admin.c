/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebbctl admin commands: status and instance create/destroy/list/show.
 *
 * DESIGN: queries that go to many nodes (status, instance list, the
 * per-member part of instance show) run in parallel on a small pool of
 * threads, because on a cluster the slow case is a dead node and a serial
 * loop would wait one timeout per dead node.  Every node's answer (or its
 * error) is stored in its own slot, and all printing happens afterwards on
 * the main thread, in the order the nodes were given.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "units.h"
#include "ctl_int.h"

/* ---- running one query per node in parallel --------------------------- */

#define _MAX_THREADS 32

typedef void (*_node_fn)(void *arg, unsigned i);

struct _pool {
	_node_fn fn;
	void *arg;
	unsigned n;
	unsigned next;              /* protected by lock */
	pthread_mutex_t lock;
};

static void *_pool_worker(void *p)
{
	struct _pool *pool = p;

	for (;;) {
		unsigned i;

		pthread_mutex_lock(&pool->lock);
		i = pool->next++;
		pthread_mutex_unlock(&pool->lock);
		if (i >= pool->n)
			break;
		pool->fn(pool->arg, i);
	}
	return NULL;
}

/* Call fn(arg, i) for every i < n, on up to _MAX_THREADS threads.  If a
 * thread cannot be started the calling thread does the rest itself. */
static void _for_each_node(unsigned n, _node_fn fn, void *arg)
{
	struct _pool pool = {.fn = fn, .arg = arg, .n = n};
	pthread_t tids[_MAX_THREADS];
	unsigned nt = 0, want = n < _MAX_THREADS ? n : _MAX_THREADS;

	pthread_mutex_init(&pool.lock, NULL);
	/* One query needs no thread. */
	for (; want > 1 && nt < want; nt++)
		if (pthread_create(&tids[nt], NULL, _pool_worker, &pool) != 0)
			break;
	_pool_worker(&pool);
	for (unsigned k = 0; k < nt; k++)
		pthread_join(tids[k], NULL);
	pthread_mutex_destroy(&pool.lock);
}

static const char *_owner(uid_t uid, gid_t gid, char *buf, size_t len)
{
	char u[64], g[64];

	snprintf(buf, len, "%s:%s", ctl_user_name(uid, u, sizeof(u)),
		 ctl_group_name(gid, g, sizeof(g)));
	return buf;
}

/* The single operand of a command that takes one, or a usage error. */
static const char *_one_operand(struct ctl *c, struct ctl_opts *o,
				const char *what, int *status)
{
	if (optind >= o->argc) {
		*status = ctl_usage(c, "missing %s", what);
		return NULL;
	}
	if (optind + 1 < o->argc) {
		*status = ctl_usage(c, "unexpected argument '%s'",
				    o->argv[optind + 1]);
		return NULL;
	}
	return o->argv[optind];
}

/* ---- status ------------------------------------------------------------ */

struct _status_q {
	struct ctl *c;
	char **nodes;
	struct ebb_node_status *st;
	struct ebb_node_conns *nc;
	struct ebb_node_locks *nl;
	int *err;
};

static void _status_one(void *arg, unsigned i)
{
	struct _status_q *q = arg;

	q->err[i] = 0;
	if (ebb_node_status_conns(q->nodes[i], &q->c->opts, &q->st[i],
				  &q->nc[i]) < 0 ||
	    ebb_node_status_locks(q->nodes[i], &q->c->opts, &q->nl[i]) < 0)
		q->err[i] = errno ? errno : EIO;
}

/* "locks" object of status --json. */
static void _json_locks(struct ctl_json *j, const struct ebb_node_locks *nl)
{
	ctl_json_key(j, "locks");
	ctl_json_obj_begin(j);
	ctl_json_ku64(j, "instances", nl->instances);
	ctl_json_ku64(j, "inodes", nl->inodes);
	ctl_json_ku64(j, "held", nl->held);
	ctl_json_ku64(j, "waiting", nl->waiting);
	ctl_json_ku64(j, "clients", nl->clients);
	ctl_json_ku64(j, "granted", nl->granted);
	ctl_json_ku64(j, "refused", nl->refused);
	ctl_json_ku64(j, "expired", nl->expired);
	ctl_json_ku64(j, "dropped", nl->dropped);
	ctl_json_obj_end(j);
}

/* "conns" and "limits" objects of status --json. */
static void _json_conns(struct ctl_json *j, const struct ebb_node_conns *nc)
{
	ctl_json_key(j, "conns");
	ctl_json_obj_begin(j);
	ctl_json_ku64(j, "unauth", nc->unauth);
	ctl_json_ku64(j, "authed", nc->authed);
	ctl_json_ku64(j, "busy", nc->busy);
	ctl_json_ku64(j, "idle", nc->idle);
	ctl_json_ku64(j, "in_frame", nc->in_frame);
	ctl_json_ku64(j, "closed_hello", nc->closed_hello);
	ctl_json_ku64(j, "closed_frame", nc->closed_frame);
	ctl_json_ku64(j, "closed_idle", nc->closed_idle);
	ctl_json_ku64(j, "shed", nc->shed);
	ctl_json_ku64(j, "busy_conns", nc->busy_conns);
	ctl_json_ku64(j, "busy_inflight", nc->busy_inflight);
	ctl_json_ku64(j, "emfile", nc->emfile);
	ctl_json_obj_end(j);
	ctl_json_key(j, "limits");
	ctl_json_obj_begin(j);
	ctl_json_ku64(j, "nofile", nc->nofile);
	ctl_json_ku64(j, "max_unauth_conns", nc->max_unauth_conns);
	ctl_json_ku64(j, "max_conns_per_uid", nc->max_conns_per_uid);
	ctl_json_ku64(j, "max_inflight_per_uid", nc->max_inflight_per_uid);
	ctl_json_ku64(j, "hello_timeout_ms", nc->hello_timeout_ms);
	ctl_json_ku64(j, "frame_timeout_ms", nc->frame_timeout_ms);
	ctl_json_ku64(j, "idle_timeout_ms", nc->idle_timeout_ms);
	ctl_json_obj_end(j);
}

int ctl_cmd_status(struct ctl *c, int argc, char **argv)
{
	struct ctl_opts o;
	struct _status_q q = {.c = c};
	struct ctl_table t;
	static const char *const heads[] = {"NODE", "STATE", "NAME", "VERSION",
		"UPTIME", "CAPACITY", "RESERVED", "USED", "INSTANCES",
		"MOUNTS", "CONNECTIONS"};
	char b1[32], b2[32], b3[32], b4[32];
	unsigned n, i, ndown = 0;
	int status = CTL_EXIT_FAIL;

	static const struct option longopts[] = {
		{"cluster", no_argument, NULL, CTL_OPT_CMD},
		{NULL, 0, NULL, 0},
	};
	int cluster = 0;

	ctl_opt_init(&o, argc, argv, "", longopts);
	while (ctl_opt_next(c, &o) != -1)
		cluster = 1;
	if (o.stop)
		return o.status;
	if (optind < argc)
		return ctl_usage(c, "unexpected argument '%s'", argv[optind]);
	if (cluster)
		return ctl_cluster_status(c);

	n = ctl_nodes(c, &q.nodes);
	if (n == 0)
		return CTL_EXIT_USAGE;
	q.st = calloc(n, sizeof(*q.st));
	q.err = calloc(n, sizeof(*q.err));
	q.nc = calloc(n, sizeof(*q.nc));
	q.nl = calloc(n, sizeof(*q.nl));
	if (!q.st || !q.err || !q.nc || !q.nl) {
		ctl_err(c, NULL, ENOMEM);
		goto out;
	}
	_for_each_node(n, _status_one, &q);

	for (i = 0; i < n; i++)
		ndown += q.err[i] != 0;
	if (c->json) {
		struct ctl_json j;

		ctl_json_init(&j, stdout);
		ctl_json_arr_begin(&j);
		for (i = 0; i < n; i++) {
			ctl_json_obj_begin(&j);
			ctl_json_kstr(&j, "node", q.nodes[i]);
			ctl_json_kbool(&j, "reachable", !q.err[i]);
			if (q.err[i]) {
				ctl_json_kstr(&j, "error", strerror(q.err[i]));
			} else {
				struct ebb_node_status *s = &q.st[i];
				ctl_json_kstr(&j, "name", s->node);
				ctl_json_kstr(&j, "version", s->version);
				ctl_json_ku64(&j, "proto_version",
					      s->proto_version);
				ctl_json_ku64(&j, "uptime_s", s->uptime_s);
				ctl_json_ku64(&j, "capacity", s->capacity);
				ctl_json_ku64(&j, "reserved", s->reserved);
				ctl_json_ku64(&j, "used", s->used);
				ctl_json_ku64(&j, "instances", s->ninstances);
				ctl_json_ku64(&j, "mounted", s->nmounted);
				ctl_json_ku64(&j, "mounts_failed",
					      s->nmount_failed);
				_json_conns(&j, &q.nc[i]);
				_json_locks(&j, &q.nl[i]);
			}
			ctl_json_obj_end(&j);
		}
		ctl_json_arr_end(&j);
		ctl_json_finish(&j);
	} else {
		ctl_table_init(&t, 11, heads, "lllllrrrrll");
		for (i = 0; i < n; i++) {
			struct ebb_node_status *s = &q.st[i];
			ctl_table_add(&t, "%s", q.nodes[i]);
			if (q.err[i]) {
				ctl_table_add(&t, "down");
				for (int k = 0; k < 9; k++)
					ctl_table_add(&t, "-");
				continue;
			}
			ctl_table_add(&t, "up");
			ctl_table_add(&t, "%s", s->node);
			ctl_table_add(&t, "%s", s->version);
			ctl_table_add(&t, "%s",
				      ctl_duration(s->uptime_s, b1, sizeof(b1)));
			ctl_table_add(&t, "%s",
				      ctl_size(s->capacity, b2, sizeof(b2)));
			ctl_table_add(&t, "%s",
				      ctl_size(s->reserved, b3, sizeof(b3)));
			ctl_table_add(&t, "%s", ctl_size(s->used, b4, sizeof(b4)));
			ctl_table_add(&t, "%u", s->ninstances);
			if (s->nmount_failed)
				ctl_table_add(&t, "%u mounted, %u failed",
					      s->nmounted, s->nmount_failed);
			else
				ctl_table_add(&t, "%u mounted", s->nmounted);
			/* by state (docs/security.md "Limits") */
			ctl_table_add(&t, "%u busy, %u idle, %u unauth",
				      q.nc[i].busy, q.nc[i].idle,
				      q.nc[i].unauth);
		}
		ctl_table_print(&t, stdout, c->quiet);
	}
	/* The reasons go to stderr, in the usual error format, after the
	 * table so they are not lost in it. */
	for (i = 0; i < n; i++)
		if (q.err[i])
			ctl_err(c, q.nodes[i], q.err[i]);
	if (ndown)
		ctl_hint_default_node(c);
	status = ndown ? CTL_EXIT_FAIL : CTL_EXIT_OK;
out:
	free(q.st);
	free(q.err);
	free(q.nc);
	free(q.nl);
	return status;
}

/* ---- instance create --------------------------------------------------- */

static int _valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64 || id[0] == '.')
		return 0;
	return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789._-") == n;
}

/* "USER|UID[:GROUP|GID]" -> uid, gid.  0, or -1 with the reason in err. */
static int _parse_owner(const char *s, uid_t *uid, gid_t *gid, char *err,
			size_t errlen)
{
	char user[64], tmp[4096];
	const char *colon = strchr(s, ':');
	size_t ulen = colon ? (size_t)(colon - s) : strlen(s);
	struct passwd pw, *pwr = NULL;
	unsigned long long v;
	int have_gid = 0;

	if (ulen == 0 || ulen >= sizeof(user)) {
		snprintf(err, errlen, "'%.64s': expected USER|UID[:GROUP|GID]",
			 s);
		return -1;
	}
	memcpy(user, s, ulen);
	user[ulen] = '\0';
	if (ctl_parse_uint(user, (uid_t)-2, &v) == 0) {
		*uid = (uid_t)v;
		if (getpwuid_r(*uid, &pw, tmp, sizeof(tmp), &pwr) == 0 && pwr) {
			*gid = pwr->pw_gid;
			have_gid = 1;
		}
	} else {
		if (getpwnam_r(user, &pw, tmp, sizeof(tmp), &pwr) != 0 ||
		    !pwr) {
			snprintf(err, errlen, "no such user '%s'", user);
			return -1;
		}
		*uid = pwr->pw_uid;
		*gid = pwr->pw_gid;
		have_gid = 1;
	}
	if (colon && colon[1]) {
		struct group gr, *grr = NULL;
		if (ctl_parse_uint(colon + 1, (gid_t)-2, &v) == 0) {
			*gid = (gid_t)v;
		} else if (getgrnam_r(colon + 1, &gr, tmp, sizeof(tmp),
				      &grr) == 0 && grr) {
			*gid = grr->gr_gid;
		} else {
			snprintf(err, errlen, "no such group '%s'", colon + 1);
			return -1;
		}
		have_gid = 1;
	}
	if (!have_gid) {
		/* Guessing a group for an unknown uid would hand the files to
		 * whoever has that gid: ask instead. */
		snprintf(err, errlen, "uid %s has no passwd entry: give the "
			 "group too (--owner %s:GID)", user, user);
		return -1;
	}
	return 0;
}

enum {
	_OPT_CACHE = CTL_OPT_CMD,
};

int ctl_cmd_inst_create(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"members", required_argument, NULL, 'm'},
		{"capacity", required_argument, NULL, 'c'},
		{"stripe-size", required_argument, NULL, 's'},
		{"owner", required_argument, NULL, 'o'},
		{"mount", no_argument, NULL, 'M'},
		{"cache", required_argument, NULL, _OPT_CACHE},
		{NULL, 0, NULL, 0},
	};
	struct ctl_opts o;
	struct ebb_instance_spec spec;
	struct ebb_instance_info info;
	char **members = NULL, **nodes, err[512], b1[32], b2[32], b3[160];
	unsigned nmembers = 0, nnodes;
	const char *capacity = NULL, *stripe = NULL, *owner = NULL;
	const char *cache = NULL;
	int opt, status = CTL_EXIT_USAGE, have_info = 0, writeback = 0;

	memset(&spec, 0, sizeof(spec));
	memset(&info, 0, sizeof(info));
	ctl_opt_init(&o, argc, argv, "m:c:s:o:M", longopts);
	while ((opt = ctl_opt_next(c, &o)) != -1) {
		switch (opt) {
		case 'm':
			if (ctl_nodes_append(&members, &nmembers, optarg) < 0) {
				status = ctl_usage(c, "bad member list '%s' "
						   "(expected HOST[:PORT],...)",
						   optarg);
				goto out;
			}
			break;
		case 'c': capacity = optarg; break;
		case 's': stripe = optarg; break;
		case 'o': owner = optarg; break;
		case 'M': spec.mount = EBB_MOUNT; break;
		case _OPT_CACHE: cache = optarg; break;
		}
	}
	if (o.stop) {
		status = o.status;
		goto out;
	}
	spec.id = _one_operand(c, &o, "instance ID", &status);
	if (!spec.id)
		goto out;
	if (!_valid_id(spec.id)) {
		status = ctl_usage(c, "bad instance ID '%s': 1..64 of "
				   "[A-Za-z0-9._-], not starting with '.'",
				   spec.id);
		goto out;
	}
	if (!capacity) {
		status = ctl_usage(c, "--capacity SIZE is required (per "
				   "node, e.g. 400GiB)");
		goto out;
	}
	if (units_parse_size(capacity, &spec.capacity, err, sizeof(err))) {
		status = ctl_usage(c, "--capacity: %s", err);
		goto out;
	}
	if (spec.capacity == 0) {
		status = ctl_usage(c, "--capacity must be more than 0");
		goto out;
	}
	if (stripe && units_parse_size(stripe, &spec.stripe_size, err,
				       sizeof(err))) {
		status = ctl_usage(c, "--stripe-size: %s", err);
		goto out;
	}
	if (stripe && (spec.stripe_size < 4096 ||
		       spec.stripe_size > (16u << 20) ||
		       spec.stripe_size % 4096)) {
		status = ctl_usage(c, "--stripe-size must be a multiple of "
				   "4KiB between 4KiB and 16MiB");
		goto out;
	}
	if (cache && strcmp(cache, "writeback") == 0) {
		writeback = 1;
	} else if (cache && strcmp(cache, "none") != 0) {
		status = ctl_usage(c, "--cache %s: write --cache writeback "
				   "(the kernel's writeback cache on the mount) "
				   "or --cache none (the default)", cache);
		goto out;
	}
	if (writeback && !spec.mount) {
		status = ctl_usage(c, "--cache writeback is the mount's cache: "
				   "give --mount too");
		goto out;
	}
	if (writeback)
		spec.mount |= EBB_MOUNT_WRITEBACK;
	spec.uid = getuid();
	spec.gid = getgid();
	if (owner && _parse_owner(owner, &spec.uid, &spec.gid, err,
				  sizeof(err)) < 0) {
		status = ctl_usage(c, "--owner: %s", err);
		goto out;
	}
	if (nmembers) {
		spec.members = (const char *const *)members;
		spec.nmembers = nmembers;
	} else {
		nnodes = ctl_nodes(c, &nodes);
		if (nnodes == 0)
			goto out;   /* status is CTL_EXIT_USAGE */
		spec.members = (const char *const *)nodes;
		spec.nmembers = nnodes;
	}

	err[0] = '\0';
	if (ebb_instance_create(&spec, &c->opts, err, sizeof(err)) < 0) {
		int e = errno;
		if (err[0])
			ctl_errf(c, "%s: %s", spec.id, err);
		else
			ctl_err(c, spec.id, e);
		status = CTL_EXIT_FAIL;
		goto out;
	}
	status = CTL_EXIT_OK;
	/* Where it is mounted: the first member's view (the path is the same
	 * on every node unless their mount_root differ). */
	if (spec.mount &&
	    ebb_instance_get(spec.members[0], spec.id, &c->opts, &info) == 0)
		have_info = 1;
	if (c->json) {
		struct ctl_json j;
		ctl_json_init(&j, stdout);
		ctl_json_obj_begin(&j);
		ctl_json_kstr(&j, "id", spec.id);
		ctl_json_kbool(&j, "mount", spec.mount);
		if (spec.mount)
			ctl_json_kstr(&j, "cache",
				      writeback ? "writeback" : "none");
		if (have_info && info.mount)
			ctl_json_kstr(&j, "mount_point", info.mount);
		ctl_json_key(&j, "members");
		ctl_json_arr_begin(&j);
		for (unsigned i = 0; i < spec.nmembers; i++)
			ctl_json_str(&j, spec.members[i]);
		ctl_json_arr_end(&j);
		/* 0 asked the library for its default, which we do not
		 * know for sure: report what was asked. */
		ctl_json_ku64(&j, "stripe_size", spec.stripe_size);
		ctl_json_ku64(&j, "capacity", spec.capacity);
		ctl_json_ku64(&j, "uid", spec.uid);
		ctl_json_ku64(&j, "gid", spec.gid);
		ctl_json_obj_end(&j);
		ctl_json_finish(&j);
	} else {
		ctl_info(c, "created instance %s on %u node%s: %s per node, "
			 "%s in all, owner %s", spec.id, spec.nmembers,
			 spec.nmembers == 1 ? "" : "s",
			 ctl_size(spec.capacity, b1, sizeof(b1)),
			 ctl_size(spec.capacity * spec.nmembers, b2,
				  sizeof(b2)),
			 _owner(spec.uid, spec.gid, b3, sizeof(b3)));
		if (spec.mount)
			ctl_info(c, "mounted on every member%s%s%s%s%s%s",
				 have_info && info.mount ? " (" : "",
				 have_info && info.mount ? spec.members[0] : "",
				 have_info && info.mount ? ": " : "",
				 have_info && info.mount ? info.mount : "",
				 have_info && info.mount ? ")" : "",
				 writeback ? ", with the writeback cache" : "");
	}
out:
	if (have_info)
		ebb_instance_info_free(&info);
	ctl_strv_free(members, nmembers);
	return status;
}

/* ---- instance destroy -------------------------------------------------- */

int ctl_cmd_inst_destroy(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"members", required_argument, NULL, 'm'},
		{NULL, 0, NULL, 0},
	};
	struct ctl_opts o;
	struct ebb_instance_info info;
	char **members = NULL, **nodes, err[512];
	const char *const *mv;
	unsigned nmembers = 0, mn;
	const char *id;
	int opt, status = CTL_EXIT_USAGE, have_info = 0;

	memset(&info, 0, sizeof(info));
	ctl_opt_init(&o, argc, argv, "m:", longopts);
	while ((opt = ctl_opt_next(c, &o)) != -1) {
		if (opt == 'm' &&
		    ctl_nodes_append(&members, &nmembers, optarg) < 0) {
			status = ctl_usage(c, "bad member list '%s'", optarg);
			goto out;
		}
	}
	if (o.stop) {
		status = o.status;
		goto out;
	}
	id = _one_operand(c, &o, "instance ID", &status);
	if (!id)
		goto out;
	status = CTL_EXIT_FAIL;
	if (nmembers) {
		mv = (const char *const *)members;
		mn = nmembers;
	} else {
		if (!ctl_nodes(c, &nodes)) {
			status = CTL_EXIT_USAGE;
			goto out;
		}
		if (ebb_instance_get(nodes[0], id, &c->opts, &info) < 0) {
			int e = errno;
			if (e == ENOENT)
				ctl_errf(c, "%s: no such instance on %s (give "
					 "--members to destroy it elsewhere)",
					 id, nodes[0]);
			else
				ctl_errf(c, "%s: asking %s for the members: %s",
					 id, nodes[0], strerror(e));
			goto out;
		}
		have_info = 1;
		mv = (const char *const *)info.members;
		mn = info.nmembers;
	}
	err[0] = '\0';
	if (ebb_instance_destroy(id, mv, mn, &c->opts, err, sizeof(err)) < 0) {
		int e = errno;
		if (err[0])
			ctl_errf(c, "%s: %s", id, err);
		else
			ctl_err(c, id, e);
		goto out;
	}
	status = CTL_EXIT_OK;
	if (c->json) {
		struct ctl_json j;
		ctl_json_init(&j, stdout);
		ctl_json_obj_begin(&j);
		ctl_json_kstr(&j, "id", id);
		ctl_json_kbool(&j, "destroyed", 1);
		ctl_json_key(&j, "members");
		ctl_json_arr_begin(&j);
		for (unsigned i = 0; i < mn; i++)
			ctl_json_str(&j, mv[i]);
		ctl_json_arr_end(&j);
		ctl_json_obj_end(&j);
		ctl_json_finish(&j);
	} else {
		ctl_info(c, "destroyed instance %s on %u node%s", id, mn,
			 mn == 1 ? "" : "s");
	}
out:
	if (have_info)
		ebb_instance_info_free(&info);
	ctl_strv_free(members, nmembers);
	return status;
}

/* ---- instance list ----------------------------------------------------- */

struct _list_q {
	struct ctl *c;
	char **nodes;
	struct ebb_instance_info **list;
	unsigned *n;
	int *err;
};

/* Job ids as people read them: "j9" before "j10", 99 before 100. */
static int _info_cmp(const void *a, const void *b)
{
	return strverscmp(((const struct ebb_instance_info *)a)->id,
			  ((const struct ebb_instance_info *)b)->id);
}

static void _list_one(void *arg, unsigned i)
{
	struct _list_q *q = arg;

	q->err[i] = 0;
	if (ebb_instance_list(q->nodes[i], &q->c->opts, &q->list[i],
			      &q->n[i]) < 0) {
		q->err[i] = errno ? errno : EIO;
		q->list[i] = NULL;
		q->n[i] = 0;
		return;
	}
	if (q->n[i] > 1)
		qsort(q->list[i], q->n[i], sizeof(*q->list[i]), _info_cmp);
}

static void _json_info(struct ctl_json *j, const struct ebb_instance_info *in)
{
	char u[64], g[64];

	ctl_json_kstr(j, "id", in->id);
	ctl_json_ku64(j, "rank", in->rank);
	ctl_json_ku64(j, "nmembers", in->nmembers);
	ctl_json_key(j, "members");
	ctl_json_arr_begin(j);
	for (unsigned k = 0; k < in->nmembers; k++)
		ctl_json_str(j, in->members[k]);
	ctl_json_arr_end(j);
	ctl_json_ku64(j, "stripe_size", in->stripe_size);
	ctl_json_ku64(j, "capacity", in->capacity);
	ctl_json_ku64(j, "used", in->used);
	ctl_json_ku64(j, "uid", in->uid);
	ctl_json_ku64(j, "gid", in->gid);
	ctl_json_kstr(j, "owner", ctl_user_name(in->uid, u, sizeof(u)));
	ctl_json_kstr(j, "group", ctl_group_name(in->gid, g, sizeof(g)));
	ctl_json_kstr(j, "state", in->state);
	ctl_json_key(j, "mount");
	if (in->mount)
		ctl_json_str(j, in->mount);
	else
		ctl_json_null(j);
	ctl_json_kstr(j, "mount_state", in->mount_state);
	if (in->mount_error[0])
		ctl_json_kstr(j, "mount_error", in->mount_error);
}

int ctl_cmd_inst_list(struct ctl *c, int argc, char **argv)
{
	static const char *const heads[] = {"NODE", "ID", "RANK", "STRIPE",
		"CAPACITY", "USED", "OWNER", "STATE", "MOUNT"};
	struct ctl_opts o;
	struct _list_q q = {.c = c};
	struct ctl_table t;
	char b1[32], b2[32], b3[32], b4[160];
	unsigned n, i, k, nerr = 0;
	int status = CTL_EXIT_FAIL;

	static const struct option longopts[] = {
		{"cluster", no_argument, NULL, CTL_OPT_CMD},
		{NULL, 0, NULL, 0},
	};
	int cluster = 0;

	ctl_opt_init(&o, argc, argv, "", longopts);
	while (ctl_opt_next(c, &o) != -1)
		cluster = 1;
	if (o.stop)
		return o.status;
	if (optind < argc)
		return ctl_usage(c, "unexpected argument '%s'", argv[optind]);
	if (cluster)
		return ctl_cluster_status(c);

	n = ctl_nodes(c, &q.nodes);
	if (n == 0)
		return CTL_EXIT_USAGE;
	q.list = calloc(n, sizeof(*q.list));
	q.n = calloc(n, sizeof(*q.n));
	q.err = calloc(n, sizeof(*q.err));
	if (!q.list || !q.n || !q.err) {
		ctl_err(c, NULL, ENOMEM);
		goto out;
	}
	_for_each_node(n, _list_one, &q);

	if (c->json) {
		struct ctl_json j;
		ctl_json_init(&j, stdout);
		ctl_json_arr_begin(&j);
		for (i = 0; i < n; i++) {
			for (k = 0; k < q.n[i]; k++) {
				ctl_json_obj_begin(&j);
				ctl_json_kstr(&j, "node", q.nodes[i]);
				_json_info(&j, &q.list[i][k]);
				ctl_json_obj_end(&j);
			}
		}
		ctl_json_arr_end(&j);
		ctl_json_finish(&j);
	} else {
		/* The NODE column only says something with several nodes. */
		int skip = n == 1;
		ctl_table_init(&t, 9 - skip, heads + skip,
			       &"lllrrrlll"[skip]);
		for (i = 0; i < n; i++) {
			for (k = 0; k < q.n[i]; k++) {
				struct ebb_instance_info *in = &q.list[i][k];
				if (!skip)
					ctl_table_add(&t, "%s", q.nodes[i]);
				ctl_table_add(&t, "%s", in->id);
				ctl_table_add(&t, "%u/%u", in->rank,
					      in->nmembers);
				ctl_table_add(&t, "%s", ctl_size(in->stripe_size,
							 b1, sizeof(b1)));
				ctl_table_add(&t, "%s", ctl_size(in->capacity,
							 b2, sizeof(b2)));
				ctl_table_add(&t, "%s", ctl_size(in->used, b3,
							 sizeof(b3)));
				ctl_table_add(&t, "%s", _owner(in->uid, in->gid,
							 b4, sizeof(b4)));
				ctl_table_add(&t, "%s", in->state);
				ctl_table_add(&t, "%s", in->mount ?
					      in->mount_state : "-");
			}
		}
		ctl_table_print(&t, stdout, c->quiet);
	}
	for (i = 0; i < n; i++) {
		if (q.err[i]) {
			ctl_err(c, q.nodes[i], q.err[i]);
			nerr++;
		}
	}
	status = nerr ? CTL_EXIT_FAIL : CTL_EXIT_OK;
out:
	for (i = 0; q.list && i < n; i++)
		if (q.list[i])
			ebb_instance_list_free(q.list[i], q.n[i]);
	free(q.list);
	free(q.n);
	free(q.err);
	return status;
}

/* ---- instance show ----------------------------------------------------- */

struct _show_q {
	struct ctl *c;
	const char *id;
	char **members;
	struct ebb_instance_info *info;
	int *err;
};

static void _show_one(void *arg, unsigned i)
{
	struct _show_q *q = arg;

	q->err[i] = 0;
	if (ebb_instance_get(q->members[i], q->id, &q->c->opts,
			     &q->info[i]) < 0)
		q->err[i] = errno ? errno : EIO;
}

int ctl_cmd_inst_show(struct ctl *c, int argc, char **argv)
{
	static const char *const heads[] = {"RANK", "NODE", "STATE",
		"CAPACITY", "USED", "USE%", "MOUNT"};
	struct ctl_opts o;
	struct ebb_instance_info first;
	struct _show_q q = {.c = c};
	struct ctl_table t;
	char **nodes, b1[32], b2[32], b3[160];
	uint64_t cap = 0, used = 0;
	unsigned i, nerr = 0, nm = 0;
	int status = CTL_EXIT_USAGE, have_first = 0;

	memset(&first, 0, sizeof(first));
	ctl_opt_init(&o, argc, argv, "", NULL);
	while (ctl_opt_next(c, &o) != -1)
		;
	if (o.stop)
		return o.status;
	q.id = _one_operand(c, &o, "instance ID", &status);
	if (!q.id)
		return status;
	status = CTL_EXIT_FAIL;
	if (!ctl_nodes(c, &nodes))
		return CTL_EXIT_USAGE;
	if (ebb_instance_get(nodes[0], q.id, &c->opts, &first) < 0) {
		int e = errno;
		if (e == ENOENT)
			ctl_errf(c, "%s: no such instance on %s", q.id,
				 nodes[0]);
		else
			ctl_errf(c, "%s: %s: %s", q.id, nodes[0], strerror(e));
		goto out;
	}
	have_first = 1;
	nm = first.nmembers;
	q.members = first.members;
	q.info = calloc(nm ? nm : 1, sizeof(*q.info));
	q.err = calloc(nm ? nm : 1, sizeof(*q.err));
	if (!q.info || !q.err) {
		ctl_err(c, NULL, ENOMEM);
		goto out;
	}
	_for_each_node(nm, _show_one, &q);
	for (i = 0; i < nm; i++) {
		if (q.err[i]) {
			nerr++;
			continue;
		}
		cap += q.info[i].capacity;
		used += q.info[i].used;
	}

	if (c->json) {
		struct ctl_json j;
		ctl_json_init(&j, stdout);
		ctl_json_obj_begin(&j);
		_json_info(&j, &first);
		ctl_json_ku64(&j, "total_capacity", cap);
		ctl_json_ku64(&j, "total_used", used);
		ctl_json_key(&j, "nodes");
		ctl_json_arr_begin(&j);
		for (i = 0; i < nm; i++) {
			ctl_json_obj_begin(&j);
			ctl_json_ku64(&j, "rank", i);
			ctl_json_kstr(&j, "node", q.members[i]);
			ctl_json_kbool(&j, "reachable", !q.err[i]);
			if (q.err[i]) {
				ctl_json_kstr(&j, "error", strerror(q.err[i]));
			} else {
				ctl_json_kstr(&j, "state", q.info[i].state);
				ctl_json_ku64(&j, "capacity",
					      q.info[i].capacity);
				ctl_json_ku64(&j, "used", q.info[i].used);
				ctl_json_key(&j, "mount");
				if (q.info[i].mount)
					ctl_json_str(&j, q.info[i].mount);
				else
					ctl_json_null(&j);
				ctl_json_kstr(&j, "mount_state",
					      q.info[i].mount_state);
				if (q.info[i].mount_error[0])
					ctl_json_kstr(&j, "mount_error",
						      q.info[i].mount_error);
			}
			ctl_json_obj_end(&j);
		}
		ctl_json_arr_end(&j);
		ctl_json_obj_end(&j);
		ctl_json_finish(&j);
	} else {
		printf("Instance:     %s\n", first.id);
		printf("Owner:        %s (%lu:%lu)\n",
		       _owner(first.uid, first.gid, b3, sizeof(b3)),
		       (unsigned long)first.uid, (unsigned long)first.gid);
		printf("State:        %s\n", first.state);
		if (first.mount)
			printf("Mount:        %s\n", first.mount);
		printf("Members:      %u\n", nm);
		printf("Stripe size:  %s\n",
		       ctl_size(first.stripe_size, b1, sizeof(b1)));
		printf("Capacity:     %s", ctl_size(cap, b1, sizeof(b1)));
		printf(" (%s per node)\n",
		       ctl_size(first.capacity, b2, sizeof(b2)));
		printf("Used:         %s (%.1f%%)\n",
		       ctl_size(used, b1, sizeof(b1)),
		       cap ? 100.0 * (double)used / (double)cap : 0.0);
		if (nerr)
			printf("              (without %u unreachable node%s)\n",
			       nerr, nerr == 1 ? "" : "s");
		putchar('\n');
		ctl_table_init(&t, 7, heads, "rllrrrl");
		for (i = 0; i < nm; i++) {
			struct ebb_instance_info *in = &q.info[i];
			ctl_table_add(&t, "%u", i);
			ctl_table_add(&t, "%s", q.members[i]);
			if (q.err[i]) {
				ctl_table_add(&t, "down");
				ctl_table_add(&t, "-");
				ctl_table_add(&t, "-");
				ctl_table_add(&t, "-");
				ctl_table_add(&t, "-");
				continue;
			}
			ctl_table_add(&t, "%s", in->state);
			ctl_table_add(&t, "%s", ctl_size(in->capacity, b1,
							 sizeof(b1)));
			ctl_table_add(&t, "%s", ctl_size(in->used, b2,
							 sizeof(b2)));
			ctl_table_add(&t, "%.1f%%", in->capacity ?
				      100.0 * (double)in->used /
				      (double)in->capacity : 0.0);
			ctl_table_add(&t, "%s", in->mount ? in->mount_state :
					      "-");
		}
		ctl_table_print(&t, stdout, 0);
	}
	for (i = 0; i < nm; i++)
		if (q.err[i])
			ctl_err(c, q.members[i], q.err[i]);
	status = nerr ? CTL_EXIT_FAIL : CTL_EXIT_OK;
out:
	for (i = 0; q.info && q.err && i < nm; i++)
		if (!q.err[i])
			ebb_instance_info_free(&q.info[i]);
	free(q.info);
	free(q.err);
	if (have_first)
		ebb_instance_info_free(&first);
	return status;
}
