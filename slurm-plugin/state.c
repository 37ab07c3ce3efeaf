/* SPDX-License-Identifier: GPL-2.0-or-later */
/* burst_buffer/ebb: the allocations on disk.
 *
 * StateSaveLocation/burst_buffer_ebb_state is a text file, one allocation
 * a line, written whole to a temporary file, fsync'd and renamed over the
 * old one, so a crash leaves the old or the new file, never a torn one:
 *
 *   ebb-state 1
 *   job=12 uid=1001 gid=1001 state=ready capacity=1073741824 per_node=...
 *     stripe=0 cache=none attempts=0 created=... since=... nodes=n[1-3]
 *     names=n1,n2,n3 members=10.0.0.11:7070,... (one line)
 *
 * A key a file from an older plugin lacks takes its default (cache=none).
 *
 * What the file cannot know (the job's CONFIGURING count) is rebuilt:
 * slurmctld calls bb_p_job_begin again for jobs still CONFIGURING. */
#define _GNU_SOURCE 1 /* asprintf */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slurm/slurm.h"
#include "src/common/log.h"
#include "src/common/read_config.h"

#include "plugin.h"

#define STATE_NAME "burst_buffer_ebb_state"

static char *_path(const char *suffix)
{
	char *p;

	if (asprintf(&p, "%s/" STATE_NAME "%s",
		     slurm_conf.state_save_location ?
		     slurm_conf.state_save_location : ".", suffix) < 0)
		return NULL;
	return p;
}

static int _append(char **buf, size_t *len, size_t *cap, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));
static int _append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -1;
		if (*len + n < *cap)
			break;
		char *nb = realloc(*buf, *cap * 2 + n);

		if (!nb)
			return -1;
		*buf = nb;
		*cap = *cap * 2 + n;
	}
	*len += n;
	return 0;
}

static int _list(char **buf, size_t *len, size_t *cap, const char *key,
		 char **v, unsigned n)
{
	if (_append(buf, len, cap, " %s=", key))
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (_append(buf, len, cap, "%s%s", i ? "," : "", v[i]))
			return -1;
	return 0;
}

int ebb_state_save(void)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *tmp = _path(".new"), *path = _path("");
	int fd = -1, rc = -1, bad = 0;

	if (!buf || !tmp || !path)
		goto out;
	buf[0] = 0;
	slurm_mutex_lock(&ebb_lock);
	ebb_dirty = 0;
	bad |= _append(&buf, &len, &cap, "ebb-state 1\n");
	for (struct ebb_alloc *a = ebb_allocs; a && !bad; a = a->next) {
		bad |= _append(&buf, &len, &cap,
			       "job=%u uid=%u gid=%u state=%s capacity=%llu per_node=%llu stripe=%llu cache=%s attempts=%u created=%lld since=%lld stages_in=%u stages_out=%u nodes=%s",
			       a->job_id, a->uid, a->gid,
			       ebb_astate_name(a->state),
			       (unsigned long long)a->capacity,
			       (unsigned long long)a->per_node,
			       (unsigned long long)a->stripe_size,
			       a->writeback ? "writeback" : "none", a->attempts,
			       (long long)a->created, (long long)a->since,
			       a->n_in, a->n_out, a->nodes ? a->nodes : "");
		bad |= _list(&buf, &len, &cap, "names", a->names, a->nmembers);
		bad |= _list(&buf, &len, &cap, "members", a->members,
			     a->nmembers);
		bad |= _append(&buf, &len, &cap, "\n");
	}
	if (bad)
		ebb_dirty = 1;
	slurm_mutex_unlock(&ebb_lock);
	if (bad)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || fsync(fd) ||
	    close(fd) || rename(tmp, path)) {
		error("%s: saving %s: %m", plugin_type, path);
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		slurm_mutex_lock(&ebb_lock);
		ebb_dirty = 1;
		slurm_mutex_unlock(&ebb_lock);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	free(tmp);
	free(path);
	return rc;
}

static int _split(char *v, char ***out, unsigned *n)
{
	unsigned cnt = *v ? 1 : 0;
	char *save = NULL, *tok;

	for (char *c = v; *c; c++)
		cnt += *c == ',';
	*out = calloc(cnt ? cnt : 1, sizeof(char *));
	if (!*out)
		return -1;
	*n = 0;
	for (tok = strtok_r(v, ",", &save); tok && *n < cnt;
	     tok = strtok_r(NULL, ",", &save))
		(*out)[(*n)++] = strdup(tok);
	return 0;
}

static struct ebb_alloc *_parse_line(char *line)
{
	struct ebb_alloc *a = calloc(1, sizeof(*a));
	char *save = NULL, *tok, **names = NULL, **members = NULL;
	unsigned nn = 0, nm = 0;
	int have_job = 0;

	if (!a)
		return NULL;
	for (tok = strtok_r(line, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save)) {
		char *v = strchr(tok, '=');

		if (!v)
			continue;
		*v++ = 0;
		if (!strcmp(tok, "job"))
			have_job = (a->job_id = strtoul(v, NULL, 10)) != 0;
		else if (!strcmp(tok, "uid"))
			a->uid = strtoul(v, NULL, 10);
		else if (!strcmp(tok, "gid"))
			a->gid = strtoul(v, NULL, 10);
		else if (!strcmp(tok, "state")) {
			a->state = !strcmp(v, "ready") ? EBB_A_READY :
				   !strcmp(v, "staging-in") ? EBB_A_STAGING_IN :
				   !strcmp(v, "staging-out") ? EBB_A_STAGING_OUT :
				   !strcmp(v, "kept") ? EBB_A_KEPT :
				   !strcmp(v, "teardown") ? EBB_A_TEARDOWN :
				   !strcmp(v, "done") ? EBB_A_DONE :
				   EBB_A_CREATING;
		} else if (!strcmp(tok, "capacity"))
			a->capacity = strtoull(v, NULL, 10);
		else if (!strcmp(tok, "per_node"))
			a->per_node = strtoull(v, NULL, 10);
		else if (!strcmp(tok, "stripe"))
			a->stripe_size = strtoull(v, NULL, 10);
		else if (!strcmp(tok, "cache"))
			a->writeback = !strcmp(v, "writeback");
		else if (!strcmp(tok, "attempts"))
			a->attempts = strtoul(v, NULL, 10);
		else if (!strcmp(tok, "created"))
			a->created = strtoll(v, NULL, 10);
		else if (!strcmp(tok, "since"))
			a->since = strtoll(v, NULL, 10);
		else if (!strcmp(tok, "stages_in"))
			a->n_in = strtoul(v, NULL, 10);
		else if (!strcmp(tok, "stages_out"))
			a->n_out = strtoul(v, NULL, 10);
		else if (!strcmp(tok, "nodes"))
			a->nodes = *v ? strdup(v) : NULL;
		else if (!strcmp(tok, "names"))
			_split(v, &names, &nn);
		else if (!strcmp(tok, "members"))
			_split(v, &members, &nm);
	}
	a->names = names;
	a->members = members;
	a->nmembers = nn < nm ? nn : nm;
	for (unsigned i = a->nmembers; i < nn; i++)
		free(names[i]);
	for (unsigned i = a->nmembers; i < nm; i++)
		free(members[i]);
	if (!have_job || !a->nmembers) {
		ebb_alloc_free(a);
		return NULL;
	}
	return a;
}

int ebb_state_load(void)
{
	char *path = _path(""), *line = NULL;
	size_t cap = 0;
	unsigned n = 0;
	FILE *f;

	if (!path)
		return -1;
	f = fopen(path, "re");
	if (!f) {
		if (errno != ENOENT)
			error("%s: reading %s: %m", plugin_type, path);
		free(path);
		return errno == ENOENT ? 0 : -1;
	}
	if (getline(&line, &cap, f) < 0 || strncmp(line, "ebb-state 1", 11)) {
		error("%s: %s is not an ebb state file (version 1); ignored, the sweep will remove what it described",
		      plugin_type, path);
		goto done;
	}
	slurm_mutex_lock(&ebb_lock);
	while (getline(&line, &cap, f) > 0) {
		struct ebb_alloc *a = _parse_line(line);

		if (!a)
			continue;
		if (ebb_alloc_find(a->job_id)) {
			ebb_alloc_free(a);
			continue;
		}
		/* The process that held the counts is gone; begin takes
		 * them again.  A creation cut short is redone or torn down. */
		a->held = 0;
		a->busy = 0;
		a->next = ebb_allocs;
		ebb_allocs = a;
		n++;
	}
	slurm_mutex_unlock(&ebb_lock);
	info("%s: %u allocation(s) restored from %s", plugin_type, n, path);
done:
	free(line);
	fclose(f);
	free(path);
	return 0;
}
