/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A stand-in for libebb's stage calls, LD_PRELOADed into ebbctl by
 * stage_cli.t to test how ebbctl starts and follows stages (progress,
 * failures, exit status, Ctrl-C) without S3 or the stage engine.
 *
 * DESIGN: the state of each stage is one small file in $EBB_FAKE_STAGE_DIR
 * ("<instance>.<name>"), so that separate ebbctl runs see the same stage.
 * A stage's course is a function of the time since it was started and of
 * words in its S3 URL: "defer" waits (state "waiting", as a deferred stage
 * does) until a retry starts it, "fail" ends failed (2 of 10 files), "slow" runs for
 * 60 s, "deny" is refused at start (EACCES, as s3_allow would), otherwise
 * 10 files / 10 MiB are done 1.5 s after the start.  A retry clears the
 * failure.  What start was given is appended to "<instance>.<name>.spec"
 * for the test to check.  Preloaded symbols win over libebb's, so this
 * works before and after the real engine is in the build.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ebb/ebb.h>

#define _FILES 10u
#define _BYTES (10ull << 20)

struct _fs {
	int dir, type, cancelled, retried;
	long long start_ns;
	char source[512], destination[512];
};

static long long _now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int _path(const char *id, const char *name, const char *sfx,
		 char *buf, size_t len)
{
	const char *d = getenv("EBB_FAKE_STAGE_DIR");

	if (!d || !*d) {
		errno = ENOSYS;
		return -1;
	}
	snprintf(buf, len, "%s/%s.%s%s", d, id, name, sfx);
	return 0;
}

static int _load(const char *id, const char *name, struct _fs *s)
{
	char p[1024];
	FILE *f;
	int n;

	if (_path(id, name, "", p, sizeof(p)) < 0)
		return -1;
	f = fopen(p, "r");
	if (!f)
		return -1;
	n = fscanf(f, "%d %d %d %d %lld %511s %511s", &s->dir, &s->type,
		   &s->cancelled, &s->retried, &s->start_ns, s->source,
		   s->destination);
	fclose(f);
	if (n != 7) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static int _save(const char *id, const char *name, const struct _fs *s)
{
	char p[1024];
	FILE *f;

	if (_path(id, name, "", p, sizeof(p)) < 0)
		return -1;
	f = fopen(p, "w");
	if (!f)
		return -1;
	fprintf(f, "%d %d %d %d %lld %s %s\n", s->dir, s->type, s->cancelled,
		s->retried, s->start_ns, s->source, s->destination);
	return fclose(f);
}

int ebb_stage_start(const char *id, const char *const *members,
		    unsigned nmembers, const struct ebb_stage_spec *spec,
		    const struct ebb_options *opts, char *errmsg,
		    size_t errlen)
{
	struct _fs s, old;
	char p[1024];
	FILE *f;
	const char *s3 = spec->dir == EBB_STAGE_IN ? spec->source
		: spec->destination;

	(void)opts;
	if (strstr(s3, "deny")) {
		snprintf(errmsg, errlen, "%s: not allowed by any s3_allow rule "
			 "for user %s", s3, spec->user);
		errno = EACCES;
		return -1;
	}
	memset(&s, 0, sizeof(s));
	s.dir = spec->dir;
	s.type = spec->type;
	s.start_ns = _now();
	snprintf(s.source, sizeof(s.source), "%s", spec->source);
	snprintf(s.destination, sizeof(s.destination), "%s",
		 spec->destination);
	if (_load(id, spec->name, &old) == 0) {
		/* The same spec again: a no-op, as bbd does. */
		if (old.dir == s.dir && !strcmp(old.source, s.source) &&
		    !strcmp(old.destination, s.destination))
			return 0;
		errno = EEXIST;
		return -1;
	}
	if (_path(id, spec->name, ".spec", p, sizeof(p)) < 0)
		return -1;
	f = fopen(p, "a");
	if (f) {
		fprintf(f, "name=%s dir=%d type=%d uid=%u gid=%u user=%s "
			"ngroups=%u job=%u members=%u rank0=%s\n", spec->name,
			spec->dir, spec->type, (unsigned)spec->uid,
			(unsigned)spec->gid, spec->user ? spec->user : "-",
			spec->ngroups, (unsigned)spec->job_id, nmembers,
			nmembers ? members[0] : "-");
		fclose(f);
	}
	return _save(id, spec->name, &s);
}

static int _is_end(const char *state)
{
	return !strcmp(state, "done") || !strcmp(state, "failed") ||
	       !strcmp(state, "cancelled");
}

/* Fill st from the stored state and the time. */
static void _fill(const char *name, const struct _fs *s, unsigned nmembers,
		  struct ebb_stage_status *st)
{
	long long el = _now() - s->start_ns, dur = 1500000000LL;
	int fail = !s->retried && (strstr(s->source, "fail") ||
				   strstr(s->destination, "fail"));
	double x;

	if (strstr(s->source, "slow") || strstr(s->destination, "slow"))
		dur = 60000000000LL;
	memset(st, 0, sizeof(*st));
	if (!s->retried && !s->cancelled && (strstr(s->source, "defer") ||
					     strstr(s->destination, "defer")))
		el = -1;   /* waiting */
	snprintf(st->name, sizeof(st->name), "%s", name);
	st->dir = (enum ebb_stage_dir)s->dir;
	st->source = strdup(s->source);
	st->destination = strdup(s->destination);
	st->started_ns = s->start_ns;
	st->updated_ns = _now();
	st->eta_s = -1;
	x = el < 200000000LL ? 0 : el >= dur ? 1 : (double)el / (double)dur;
	if (el < 0) {
		snprintf(st->state, sizeof(st->state), "waiting");
	} else if (el < 200000000LL && !s->cancelled) {
		snprintf(st->state, sizeof(st->state), "planning");
		st->files_total = 3;
		st->bytes_total = 3 << 20;
	} else {
		st->files_total = _FILES;
		st->bytes_total = _BYTES;
		st->files_done = (uint64_t)(x * (fail ? _FILES - 2 : _FILES));
		st->bytes_done = (uint64_t)(x * (double)_BYTES);
		st->rate_bps = x < 1 ? (double)_BYTES / ((double)dur / 1e9) : 0;
		st->eta_s = x < 1 ? (dur - el) / 1000000000LL : 0;
		if (s->cancelled)
			snprintf(st->state, sizeof(st->state), "cancelled");
		else if (x < 1)
			snprintf(st->state, sizeof(st->state), "running");
		else if (fail)
			snprintf(st->state, sizeof(st->state), "failed");
		else
			snprintf(st->state, sizeof(st->state), "done");
		if (!strcmp(st->state, "failed")) {
			st->files_failed = 2;
			st->error = strdup("data/a.bin: 403 AccessDenied\n"
					   "data/b.bin: 404 NoSuchKey");
			st->report = strdup("s3://bucket/ebb-report-7/"
					    "failures.csv");
		}
		if (_is_end(st->state))
			st->ended_ns = s->start_ns + (el < dur ? el : dur);
	}
	st->nnodes = nmembers ? nmembers : 1;
	st->nodes = calloc(st->nnodes, sizeof(*st->nodes));
	for (unsigned k = 0; st->nodes && k < st->nnodes; k++) {
		struct ebb_stage_node *nd = &st->nodes[k];
		nd->rank = k;
		nd->files_total = st->files_total / st->nnodes;
		nd->files_done = st->files_done / st->nnodes;
		nd->bytes_total = st->bytes_total / st->nnodes;
		nd->bytes_done = st->bytes_done / st->nnodes;
		snprintf(nd->state, sizeof(nd->state), "%s", st->state);
	}
}

int ebb_stage_status(const char *id, const char *const *members,
		     unsigned nmembers, const char *name,
		     const struct ebb_options *opts,
		     struct ebb_stage_status **list, unsigned *n)
{
	struct _fs s;
	char cmd[1200], line[256], p[1024];
	size_t idlen = strlen(id);
	FILE *ls;

	(void)members;
	(void)opts;
	*list = NULL;
	*n = 0;
	if (name) {
		if (_load(id, name, &s) < 0)
			return -1;     /* ENOENT: no such stage */
		*list = calloc(1, sizeof(**list));
		if (!*list)
			return -1;
		_fill(name, &s, nmembers, *list);
		*n = 1;
		return 0;
	}
	if (_path(id, "", "", p, sizeof(p)) < 0)
		return -1;
	/* Every "<id>.<name>" file (not .spec), in name order. */
	snprintf(cmd, sizeof(cmd), "ls -1 '%.*s' 2>/dev/null",
		 (int)(strlen(p) - idlen - 2), p);
	ls = popen(cmd, "r");
	if (!ls)
		return -1;
	while (fgets(line, sizeof(line), ls)) {
		struct ebb_stage_status *nl;
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, id, idlen) || line[idlen] != '.' ||
		    strstr(line, ".spec"))
			continue;
		if (_load(id, line + idlen + 1, &s) < 0)
			continue;
		nl = realloc(*list, (*n + 1) * sizeof(*nl));
		if (!nl)
			break;
		*list = nl;
		_fill(line + idlen + 1, &s, nmembers, &nl[*n]);
		(*n)++;
	}
	pclose(ls);
	return 0;
}

void ebb_stage_status_free(struct ebb_stage_status *list, unsigned n)
{
	for (unsigned k = 0; list && k < n; k++) {
		free(list[k].source);
		free(list[k].destination);
		free(list[k].error);
		free(list[k].report);
		free(list[k].nodes);
	}
	free(list);
}

int ebb_stage_retry(const char *id, const char *const *members,
		    unsigned nmembers, const char *name,
		    const struct ebb_options *opts, char *errmsg,
		    size_t errlen)
{
	struct _fs s;

	(void)members;
	(void)nmembers;
	(void)opts;
	(void)errmsg;
	(void)errlen;
	if (_load(id, name, &s) < 0)
		return -1;
	s.retried = 1;
	s.cancelled = 0;
	s.start_ns = _now();
	return _save(id, name, &s);
}

int ebb_stage_cancel(const char *id, const char *const *members,
		     unsigned nmembers, const char *name,
		     const struct ebb_options *opts, char *errmsg,
		     size_t errlen)
{
	struct _fs s;

	(void)members;
	(void)nmembers;
	(void)opts;
	(void)errmsg;
	(void)errlen;
	if (_load(id, name, &s) < 0)
		return -1;
	s.cancelled = 1;
	return _save(id, name, &s);
}
