/* SPDX-License-Identifier: GPL-2.0-or-later */
/* burst_buffer/ebb: a job's stage_in and stage_out lines, run by the job's
 * bbds (docs/stager.md, docs/internals/plugin.md).
 *
 * DESIGN: the plugin moves no data.  Once the file system is mounted it
 * starts every stage of the job on the instance's rank-0 bbd, the
 * stage_out lines "deferred" (checked and recorded, not run), so that every
 * node's Epilog can see that an export is coming before the job even runs.
 * Workers then poll rank 0 (one STAGE_STATUS per poll, no lock held) and
 * publish the outcome: stage-in done releases the job, a failed stage-in is
 * a failed creation (requeue, then hold); at the job's end the deferred
 * stages are set running, and a failed export keeps the data (EBB_A_KEPT)
 * until `ebbctl stage retry` finishes it or `ebbctl stage abandon` cancels
 * it.  Stage names are stable ("in-0", "out-1": the directive's index), and
 * starting a stage is idempotent on bbd, so after a slurmctld restart the
 * same calls simply resume.
 *
 * Everything here runs on worker threads.  ebb_stage_job() takes the job
 * read lock for a moment to copy what it needs from the job record; the
 * rest runs without any lock.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurm/slurm.h"
#include "src/common/xmalloc.h"
#include "src/common/xstring.h"
#include "src/slurmctld/locks.h"
#include "src/slurmctld/slurmctld.h"

#include "directive.h"
#include "ident.h"
#include "s3path.h"
#include "ebb/ebb.h"
#include "plugin.h"

static slurmctld_lock_t _job_read = {
	.conf = NO_LOCK, .job = READ_LOCK, .node = NO_LOCK,
	.part = NO_LOCK, .fed = NO_LOCK,
};

void ebb_stage_job_free(struct ebb_stage_job *j)
{
	if (!j)
		return;
	for (unsigned i = 0; i < j->n; i++) {
		free(j->st[i].src);
		free(j->st[i].dst);
	}
	free(j->st);
	for (unsigned i = 0; i < j->ngroups; i++)
		free(j->groups[i]);
	free(j->groups);
	free(j->user);
	free(j->account);
	memset(j, 0, sizeof(*j));
}

/* The user's name and its groups' names (NSS: no lock may be held). */
static int _identity(struct ebb_stage_job *j, char *err, size_t errlen)
{
	struct ident id;

	if (ident_uid(j->uid, &id, err, errlen))
		return -1;
	/* take over the names */
	j->user = id.user;
	j->groups = id.groups;
	j->ngroups = id.ngroups;
	id.user = NULL;
	id.groups = NULL;
	id.ngroups = 0;
	ident_free(&id);
	return 0;
}

int ebb_stage_job(uint32_t job_id, struct ebb_stage_job *j, char *err,
		  size_t errlen)
{
	struct bb_request req;
	struct bb_limits lim = {0};
	struct s3path_job sj = {0};
	char *bb = NULL, *prefix = NULL, why[256];
	unsigned nin = 0, nout = 0;
	job_record_t *job;
	int rc = -1;

	memset(j, 0, sizeof(*j));
	memset(&req, 0, sizeof(req));
	j->job_id = job_id;
	lock_slurmctld(_job_read);
	job = find_job_record(job_id);
	if (job) {
		bb = job->burst_buffer ? strdup(job->burst_buffer) : NULL;
		j->uid = job->user_id;
		j->gid = job->group_id;
		j->account = job->account ? strdup(job->account) : NULL;
		sj.array_job_id = job->array_job_id ? job->array_job_id :
				  job_id;
		sj.array_task_set = job->array_task_id != NO_VAL &&
				    job->array_job_id != 0;
		sj.array_task_id = sj.array_task_set ? job->array_task_id : 0;
	}
	unlock_slurmctld(_job_read);
	if (!job) {
		snprintf(err, errlen, "the job record is gone");
		goto out;
	}
	slurm_mutex_lock(&ebb_lock);
	prefix = strdup(ebb_directive ? ebb_directive : "BB");
	slurm_mutex_unlock(&ebb_lock);
	if (!bb || !prefix)
		goto nomem;
	if (bb_parse(NULL, bb, prefix, 1, &lim, &req, why, sizeof(why))) {
		snprintf(err, errlen, "stored directives no longer parse: %s",
			 why);
		goto out;
	}
	if (_identity(j, err, errlen))
		goto out;
	sj.job_id = job_id;
	sj.user = j->user;
	j->st = calloc(req.nstages ? req.nstages : 1, sizeof(*j->st));
	if (!j->st)
		goto nomem;
	for (unsigned i = 0; i < req.nstages; i++) {
		const struct bb_stage *s = &req.stages[i];
		struct ebb_stage_line *l = &j->st[j->n];
		int in = s->dir == BB_STAGE_IN;
		char **s3 = in ? &l->src : &l->dst;

		l->dir = in ? EBB_STAGE_IN : EBB_STAGE_OUT;
		snprintf(l->name, sizeof(l->name), "%s-%u", in ? "in" : "out",
			 in ? nin++ : nout++);
		l->type = s->type == BB_TYPE_FILE ? 1 :
			  s->type == BB_TYPE_DIRECTORY ? 2 : 0;
		if (s3path_expand(in ? s->source : s->destination, &sj, s3,
				  why, sizeof(why))) {
			snprintf(err, errlen, "%s: %s", l->name, why);
			j->n++;
			goto out;
		}
		if (!(in ? (l->dst = strdup(s->destination)) :
			   (l->src = strdup(s->source)))) {
			j->n++;
			goto nomem;
		}
		j->n++;
	}
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
out:
	if (req.ndirectives)
		bb_request_free(&req);
	free(bb);
	free(prefix);
	if (rc)
		ebb_stage_job_free(j);
	return rc;
}

static void _spec(const struct ebb_stage_job *j, const struct ebb_stage_line *l,
		  int deferred, struct ebb_stage_spec *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->name = l->name;
	sp->dir = l->dir;
	sp->source = l->src;
	sp->destination = l->dst;
	sp->type = l->type;
	sp->uid = j->uid;
	sp->gid = j->gid;
	sp->user = j->user;
	sp->groups = (const char *const *)j->groups;
	sp->ngroups = j->ngroups;
	sp->account = j->account;
	sp->job_id = j->job_id;
	sp->deferred = deferred;
}

int ebb_stage_register(const struct ebb_stage_job *j, const char *id,
		       const char *const *members, unsigned n,
		       const struct ebb_options *opts, char *err,
		       size_t errlen)
{
	for (unsigned i = 0; i < j->n; i++) {
		const struct ebb_stage_line *l = &j->st[i];
		struct ebb_stage_spec sp;
		char msg[512] = "";

		_spec(j, l, l->dir == EBB_STAGE_OUT, &sp);
		if (ebb_stage_start(id, members, n, &sp, opts, msg,
				    sizeof(msg))) {
			snprintf(err, errlen, "%s (%s %s): %s", l->name,
				 l->dir == EBB_STAGE_IN ? l->src : l->src,
				 l->dir == EBB_STAGE_IN ? l->dst : l->dst,
				 *msg ? msg : strerror(errno));
			return -1;
		}
	}
	return 0;
}

int ebb_stage_run_out(const struct ebb_stage_job *j, const char *id,
		      const char *const *members, unsigned n,
		      const struct ebb_options *opts, char *err, size_t errlen)
{
	for (unsigned i = 0; i < j->n; i++) {
		const struct ebb_stage_line *l = &j->st[i];
		char msg[512] = "";

		if (l->dir != EBB_STAGE_OUT)
			continue;
		if (ebb_stage_retry(id, members, n, l->name, opts, msg,
				    sizeof(msg))) {
			snprintf(err, errlen, "%s: %s", l->name,
				 *msg ? msg : strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* One line per failed stage: "out-0 (results -> s3://b/p/): 3 of 120 files
 * failed, report s3://b/p/ebb-report-7/failures.csv: <first errors>". */
static void _why(char *buf, size_t len, const struct ebb_stage_status *s)
{
	size_t at = strlen(buf);

	if (at >= len)
		return;
	if (!strcmp(s->state, "cancelled"))
		snprintf(buf + at, len - at, "%s%s was cancelled", at ? "; " : "",
			 s->name);
	else if (!s->files_failed)  /* the stage itself failed */
		snprintf(buf + at, len - at, "%s%s (%s -> %s): %s",
			 at ? "; " : "", s->name,
			 s->source ? s->source : "?",
			 s->destination ? s->destination : "?",
			 s->error ? s->error : "failed");
	else
		snprintf(buf + at, len - at,
			 "%s%s (%s -> %s): %llu of %llu files failed%s%s%s%s",
			 at ? "; " : "", s->name,
			 s->source ? s->source : "?",
			 s->destination ? s->destination : "?",
			 (unsigned long long)s->files_failed,
			 (unsigned long long)s->files_total,
			 s->report ? ", report " : "",
			 s->report ? s->report : "",
			 s->error ? ": " : "", s->error ? s->error : "");
	for (char *c = buf + at; *c; c++)
		if (*c == '\n')
			*c = ' ';
}

int ebb_stage_poll(const char *id, const char *const *members, unsigned n,
		   int dir, unsigned expected,
		   const struct ebb_options *opts,
		   struct ebb_aprogress *prog, char *why, size_t whylen)
{
	struct ebb_stage_status *list = NULL;
	unsigned cnt = 0, want = 0, done = 0, failed = 0, cancelled = 0;
	int rc;

	memset(prog, 0, sizeof(*prog));
	prog->eta_s = -1;
	why[0] = 0;
	if (ebb_stage_status(id, members, n, NULL, opts, &list, &cnt)) {
		int e = errno;

		snprintf(why, whylen, "asking %s for the stages' status: %s",
			 members[0], strerror(e));
		/* no instance on rank 0: its Epilog removed it once the
		 * export had ended (ebbctl epilog), or it never was */
		return e == ENOENT ? EBB_SP_GONE : EBB_SP_UNREACHABLE;
	}
	for (unsigned i = 0; i < cnt; i++) {
		const struct ebb_stage_status *s = &list[i];

		if (s->dir != dir)
			continue;
		want++;
		prog->files_done += s->files_done;
		prog->files_total += s->files_total;
		prog->files_failed += s->files_failed;
		prog->bytes_done += s->bytes_done;
		prog->bytes_total += s->bytes_total;
		prog->retries += s->retries;
		prog->rate_bps += s->rate_bps;
		if (s->eta_s > prog->eta_s)
			prog->eta_s = s->eta_s;
		if (!strcmp(s->state, "done")) {
			done++;
		} else if (!strcmp(s->state, "failed")) {
			failed++;
			_why(why, whylen, s);
		} else if (!strcmp(s->state, "cancelled")) {
			cancelled++;
			_why(why, whylen, s);
		}
	}
	ebb_stage_status_free(list, cnt);
	if (want < expected) {
		snprintf(why, whylen, "%u of the job's %u stages are unknown to %s",
			 expected - want, expected, members[0]);
		rc = EBB_SP_MISSING;
	} else if (cancelled)
		rc = EBB_SP_CANCELLED;
	else if (failed && failed + done == want)
		rc = EBB_SP_FAILED;
	else if (done == want)
		rc = EBB_SP_DONE;
	else
		rc = EBB_SP_RUNNING;
	return rc;
}
