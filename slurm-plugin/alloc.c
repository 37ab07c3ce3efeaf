/* SPDX-License-Identifier: GPL-2.0-or-later */
/* burst_buffer/ebb: the allocation table and ebb.conf (see plugin.h).
 * Plain C, no Slurm headers: these helpers are also what the unit test of
 * the plugin's state file links. */
#define _GNU_SOURCE 1 /* asprintf */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "units.h"
#include "plugin.h"

struct ebb_alloc *ebb_alloc_find(uint32_t job_id)
{
	for (struct ebb_alloc *a = ebb_allocs; a; a = a->next)
		if (a->job_id == job_id)
			return a;
	return NULL;
}

struct ebb_alloc *ebb_alloc_add(uint32_t job_id)
{
	struct ebb_alloc *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->job_id = job_id;
	a->created = a->since = time(NULL);
	a->next = ebb_allocs;
	ebb_allocs = a;
	ebb_dirty = 1;
	return a;
}

void ebb_alloc_free(struct ebb_alloc *a)
{
	if (!a)
		return;
	for (unsigned i = 0; i < a->nmembers; i++) {
		free(a->names ? a->names[i] : NULL);
		free(a->members ? a->members[i] : NULL);
	}
	free(a->names);
	free(a->members);
	free(a->nodes);
	free(a->error);
	free(a);
}

void ebb_alloc_remove(struct ebb_alloc *a)
{
	for (struct ebb_alloc **p = &ebb_allocs; *p; p = &(*p)->next) {
		if (*p == a) {
			*p = a->next;
			ebb_alloc_free(a);
			ebb_dirty = 1;
			return;
		}
	}
}

void ebb_alloc_set_state(struct ebb_alloc *a, enum ebb_astate s)
{
	if (a->state != s) {
		a->state = s;
		a->since = time(NULL);
		a->next_try = 0;
		ebb_dirty = 1;
	}
}

void ebb_alloc_set_error(struct ebb_alloc *a, const char *msg)
{
	free(a->error);
	a->error = msg && *msg ? strdup(msg) : NULL;
	ebb_dirty = 1;
}

const char *ebb_astate_name(enum ebb_astate s)
{
	switch (s) {
	case EBB_A_CREATING: return "creating";
	case EBB_A_STAGING_IN: return "staging-in";
	case EBB_A_READY: return "ready";
	case EBB_A_STAGING_OUT: return "staging-out";
	case EBB_A_KEPT: return "kept";
	case EBB_A_TEARDOWN: return "teardown";
	case EBB_A_DONE: return "done";
	}
	return "?";
}

void ebb_instance_id(uint32_t job_id, char *buf, size_t len)
{
	snprintf(buf, len, EBB_ID_PREFIX "%u", job_id);
}

void ebb_job_dir(uint32_t job_id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/" EBB_ID_PREFIX "%u", ebb_conf.mount_root,
		 job_id);
}

/* ---- ebb.conf ------------------------------------------------------- */

static ebb_err _str(const char *value, char **out)
{
	char *s = strdup(value);

	if (!s)
		return EBB_ENOMEM;
	free(*out);
	*out = s;
	return EBB_OK;
}

static ebb_err _set(void *ctx, const char *key, const char *value,
		    unsigned line, char *err, size_t errlen)
{
	struct ebb_pconf *c = ctx;

	if (!strcmp(key, "bbd_port"))
		return conf_parse_uint(value, 1, 65535, &c->bbd_port, err, errlen);
	if (!strcmp(key, "listen")) {
		/* bbd's own address: its port is the default bbd_port */
		const char *colon = strrchr(value, ':');
		unsigned port;

		if (colon && !c->bbd_port &&
		    conf_parse_uint(colon + 1, 1, 65535, &port, err, errlen) == EBB_OK)
			c->listen_port = port;
		return EBB_OK;
	}
	if (!strcmp(key, "mount_root"))
		return _str(value, &c->mount_root);
	if (!strcmp(key, "munge_socket"))
		return _str(value, &c->munge_socket);
	if (!strcmp(key, "pool"))
		return _str(value, &c->pool);
	if (!strcmp(key, "create_timeout"))
		return conf_parse_uint(value, 1, 86400, &c->create_timeout, err, errlen);
	if (!strcmp(key, "health_interval"))
		return conf_parse_uint(value, 1, 3600, &c->health_interval, err, errlen);
	if (!strcmp(key, "sweep_interval"))
		return conf_parse_uint(value, 1, 86400, &c->sweep_interval, err, errlen);
	if (!strcmp(key, "teardown_timeout"))
		return conf_parse_uint(value, 1, 86400 * 7, &c->teardown_timeout, err,
			     errlen);
	if (!strcmp(key, "stage_poll_interval")) /* ms */
		return conf_parse_uint(value, 50, 60000, &c->stage_poll_ms, err,
				       errlen);
	if (!strcmp(key, "export_retention")) /* s */
		return conf_parse_uint(value, 60, 365u * 86400,
				       &c->kept_retention, err, errlen);
	if (!strcmp(key, "max_create_attempts"))
		return conf_parse_uint(value, 1, 100, &c->max_create_attempts, err,
			     errlen);
	if (!strcmp(key, "plugin_workers"))
		return conf_parse_uint(value, 1, 64, &c->workers, err, errlen);
	if (!strcmp(key, "max_capacity"))
		return units_parse_size(value, &c->max_capacity, err, errlen);
	if (!strcmp(key, "max_capacity_per_node"))
		return units_parse_size(value, &c->max_per_node, err, errlen);
	if (!strcmp(key, "min_stripe_size"))
		return units_parse_size(value, &c->min_stripe, err, errlen);
	if (!strcmp(key, "max_stripe_size"))
		return units_parse_size(value, &c->max_stripe, err, errlen);
	if (!strcmp(key, "s3_allow"))
		return s3path_allow_add(&c->allow, value, line, err, errlen);
	if (!strncmp(key, "node.", 5) && key[5]) {
		char **n = realloc(c->override_node,
				   (c->noverrides + 1) * sizeof(*n));
		char **a;

		if (!n)
			return EBB_ENOMEM;
		c->override_node = n;
		a = realloc(c->override_addr, (c->noverrides + 1) * sizeof(*a));
		if (!a)
			return EBB_ENOMEM;
		c->override_addr = a;
		n[c->noverrides] = strdup(key + 5);
		a[c->noverrides] = strdup(value);
		c->noverrides++;
		return EBB_OK;
	}
	/* Everything else belongs to bbd or ebbctl (one file per cluster). */
	return EBB_OK;
}

void ebb_pconf_free(struct ebb_pconf *c)
{
	for (unsigned i = 0; i < c->noverrides; i++) {
		free(c->override_node[i]);
		free(c->override_addr[i]);
	}
	free(c->override_node);
	free(c->override_addr);
	free(c->path);
	free(c->mount_root);
	free(c->munge_socket);
	free(c->pool);
	s3path_allow_free(&c->allow);
	memset(c, 0, sizeof(*c));
}

int ebb_pconf_load(struct ebb_pconf *c, char *err, size_t errlen)
{
	const char *env = getenv("EBB_CONF");
	int explicit = env && *env;
	ebb_err e;

	memset(c, 0, sizeof(*c));
	c->path = strdup(explicit ? env : SYSCONFDIR "/ebb/ebb.conf");
	e = conf_load_lines(c->path, !explicit, _set, c, err, errlen);
	if (!c->bbd_port)
		c->bbd_port = c->listen_port ? c->listen_port : 7070;
	if (!c->mount_root)
		c->mount_root = strdup("/mnt/ebb");
	if (!c->pool)
		c->pool = strdup("nvme");
	if (!c->create_timeout)
		c->create_timeout = 60;
	if (!c->health_interval)
		c->health_interval = 10;
	if (!c->sweep_interval)
		c->sweep_interval = 60;
	if (!c->teardown_timeout)
		c->teardown_timeout = 600;
	if (!c->stage_poll_ms)
		c->stage_poll_ms = 1000;
	if (!c->kept_retention)
		c->kept_retention = 7 * 86400;
	if (!c->max_create_attempts)
		c->max_create_attempts = 3;
	if (!c->workers)
		c->workers = 4;
	return e == EBB_OK ? 0 : -1;
}

char *ebb_node_bbd_addr(const char *name, const char *addr)
{
	char *out;

	for (unsigned i = 0; i < ebb_conf.noverrides; i++)
		if (!strcmp(ebb_conf.override_node[i], name))
			return strdup(ebb_conf.override_addr[i]);
	if (!addr || !*addr)
		addr = name;
	if (asprintf(&out, strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr,
		     ebb_conf.bbd_port) < 0)
		return NULL;
	return out;
}
