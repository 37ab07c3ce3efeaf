/* SPDX-License-Identifier: GPL-2.0-or-later */
/* burst_buffer/ebb: worker threads (creation, teardown) and the monitor
 * (node health, state saving, the orphan sweep).  See plugin.h for the
 * lock order: slurmctld's locks first, then ebb_lock; all I/O with neither
 * held. */
#define _GNU_SOURCE 1 /* dladdr, pthread_timedjoin_np */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurm/slurm.h"
#include "slurm/slurm_errno.h"
#include "src/common/bitstring.h"
#include "src/common/node_conf.h"
#include "src/common/xmalloc.h"
#include "src/common/xstring.h"
#include "src/slurmctld/job_scheduler.h"
#include "src/slurmctld/locks.h"
#include "src/slurmctld/node_scheduler.h"
#include "src/slurmctld/slurmctld.h"
#include "src/plugins/burst_buffer/common/burst_buffer_common.h"

#include "ebb/ebb.h"
#include "plugin.h"

static pthread_cond_t _wake = PTHREAD_COND_INITIALIZER;
static pthread_t *_threads;
static unsigned _nthreads;
static int _stop;

/* Job write for the job, node write for deallocate_nodes, fed read as
 * prolog_running_decr() and job_complete() require. */
static slurmctld_lock_t _job_write = {
	.conf = READ_LOCK, .job = WRITE_LOCK, .node = WRITE_LOCK,
	.part = NO_LOCK, .fed = READ_LOCK,
};
static slurmctld_lock_t _job_read = {
	.conf = NO_LOCK, .job = READ_LOCK, .node = NO_LOCK,
	.part = NO_LOCK, .fed = NO_LOCK,
};
static slurmctld_lock_t _node_read = {
	.conf = NO_LOCK, .job = NO_LOCK, .node = READ_LOCK,
	.part = NO_LOCK, .fed = NO_LOCK,
};

void ebb_workers_wake(void)
{
	pthread_cond_broadcast(&_wake);
}

/* A copy of what a worker needs, taken under ebb_lock. */
struct job_work {
	uint32_t job_id;
	enum ebb_astate state;
	unsigned n;
	char **members;
	uint64_t per_node, stripe;
	int writeback;
	uint32_t uid, gid;
	unsigned timeout_ms;
	char *munge;
	unsigned n_in, n_out;
	int registered, out_started;
};

static void _work_free(struct job_work *w)
{
	for (unsigned i = 0; i < w->n; i++)
		free(w->members[i]);
	free(w->members);
	free(w->munge);
}

static int _work_copy(struct job_work *w, const struct ebb_alloc *a)
{
	memset(w, 0, sizeof(*w));
	w->job_id = a->job_id;
	w->state = a->state;
	w->per_node = a->per_node;
	w->stripe = a->stripe_size;
	w->writeback = a->writeback;
	w->uid = a->uid;
	w->gid = a->gid;
	w->n_in = a->n_in;
	w->n_out = a->n_out;
	w->registered = a->stages_registered;
	w->out_started = a->out_started;
	w->timeout_ms = ebb_conf.create_timeout * 1000;
	w->munge = ebb_conf.munge_socket ? strdup(ebb_conf.munge_socket) :
		   NULL;
	w->members = calloc(a->nmembers ? a->nmembers : 1, sizeof(char *));
	if (!w->members)
		return -1;
	for (unsigned i = 0; i < a->nmembers; i++)
		if (!(w->members[i] = strdup(a->members[i])))
			return -1;
	w->n = a->nmembers;
	return 0;
}

/* Creation failed for a job held in CONFIGURING: requeue it (hold it
 * after max_create_attempts), the way Slurm's own plugins do.  Called with
 * the job write lock, without ebb_lock (job_completion_logger calls our
 * stage-out hook). */
static void _requeue(job_record_t *job, int hold, const char *msg)
{
	last_job_update = time(NULL);
	job->end_time = last_job_update;
	if (hold)
		job->priority = 0;
	build_cg_bitmap(job);
	job->exit_code = 1;
	job->state_reason = FAIL_BURST_BUFFER_OP;
	xfree(job->state_desc);
	job->state_desc = xstrdup_printf("ebb: %s%s", msg,
					 hold ? " (held after repeated failures)"
					      : "");
	job->job_state = JOB_REQUEUE;
	job_completion_logger(job, true);
	job->job_state = JOB_PENDING | JOB_COMPLETING;
	deallocate_nodes(job, false, false, false);
	if (!hold) {
		/* FAIL_BURST_BUFFER_OP would keep it pending forever
		 * (job_independent); it waits for the teardown instead. */
		job->state_reason = WAIT_BURST_BUFFER_STAGING;
	}
}

/* Whether slurmctld hears from every node of the job.  Right after a
 * slurmctld restart the nodes count as down for steps until they register
 * again; a job released then starts, but its first srun is refused
 * ("Requested nodes are busy") and waits in srun's back-off for minutes.  A job held in
 * CONFIGURING a few seconds longer starts cleanly.  A node is ready for
 * steps when it is in up_node_bitmap (after a restart, only once it has
 * registered again) and responding.  Needs the node lock. */
static int _nodes_responding(job_record_t *job)
{
	int first, last;

	if (!job->node_bitmap || (first = bit_ffs(job->node_bitmap)) < 0)
		return 1;
	last = bit_fls(job->node_bitmap);
	for (int i = first; i <= last; i++)
		if (bit_test(job->node_bitmap, i) &&
		    (!bit_test(up_node_bitmap, i) ||
		     IS_NODE_NO_RESPOND(node_record_table_ptr[i])))
			return 0;
	return 1;
}

/* Release the jobs whose file system is ready but which wait for their
 * nodes to answer slurmctld (the monitor calls this every 250 ms). */
static void _release_waiting(void)
{
	struct ebb_alloc *a;
	uint32_t *ids = NULL;
	unsigned n = 0;

	slurm_mutex_lock(&ebb_lock);
	for (a = ebb_allocs; a; a = a->next)
		if (a->state == EBB_A_READY && a->held) {
			uint32_t *m = realloc(ids, (n + 1) * sizeof(*ids));

			if (!m)
				break;
			ids = m;
			ids[n++] = a->job_id;
		}
	slurm_mutex_unlock(&ebb_lock);
	for (unsigned i = 0; i < n; i++) {
		job_record_t *job;
		int release = 0;

		lock_slurmctld(_job_write);
		job = find_job_record(ids[i]);
		slurm_mutex_lock(&ebb_lock);
		a = ebb_alloc_find(ids[i]);
		if (a && a->state == EBB_A_READY && a->held &&
		    (!job || _nodes_responding(job))) {
			a->held = 0;
			release = job != NULL;
		}
		slurm_mutex_unlock(&ebb_lock);
		if (release) {
			info("%s: JobId=%u its nodes answer again: released",
			     plugin_type, ids[i]);
			prolog_running_decr(job);
		}
		unlock_slurmctld(_job_write);
	}
	free(ids);
}

static void _publish_create_as(uint32_t job_id, int ok, const char *msg,
			       const char *phase, enum ebb_astate from)
{
	job_record_t *job;
	struct ebb_alloc *a;
	int held = 0, hold = 0, release = 0, staging = 0;
	unsigned attempts = 0;

	lock_slurmctld(_job_write);
	job = find_job_record(job_id);
	slurm_mutex_lock(&ebb_lock);
	a = ebb_alloc_find(job_id);
	if (!a || a->state != from) {
		/* cancelled meanwhile: the teardown takes it from here */
		if (a)
			a->create_ok = ok;
		slurm_mutex_unlock(&ebb_lock);
		unlock_slurmctld(_job_write);
		return;
	}
	if (ok && from == EBB_A_CREATING && (a->n_in || a->n_out)) {
		/* mounted: the stages come next (_publish_stage_in) */
		a->create_ok = 1;
		ebb_alloc_set_error(a, NULL);
		ebb_alloc_set_state(a, EBB_A_STAGING_IN);
		staging = 1;
	} else if (ok) {
		a->create_ok = 1;
		ebb_alloc_set_error(a, NULL);
		ebb_alloc_set_state(a, EBB_A_READY);
		/* the monitor releases it later if a node does not answer
		 * slurmctld yet (see _nodes_responding) */
		release = a->held && job && _nodes_responding(job);
		if (release)
			a->held = 0;
	} else {
		attempts = ++a->attempts;
		hold = attempts >= ebb_conf.max_create_attempts;
		ebb_alloc_set_error(a, msg);
		ebb_alloc_set_state(a, EBB_A_TEARDOWN);
		held = a->held;
		a->held = 0;
	}
	slurm_mutex_unlock(&ebb_lock);

	if (staging) {
		if (job)
			ebb_job_bb_state(job, BB_STATE_STAGING_IN);
		info("%s: JobId=%u file system mounted, staging in",
		     plugin_type, job_id);
	} else if (ok) {
		if (job) {
			ebb_job_bb_state(job, BB_STATE_RUNNING);
			if (release)
				prolog_running_decr(job);
		}
		info("%s: JobId=%u file system ready", plugin_type, job_id);
	} else {
		char *c = xstrdup_printf("%s (attempt %u of %u) failed: %s",
					 phase, attempts,
					 ebb_conf.max_create_attempts, msg);

		error("%s: JobId=%u %s", plugin_type, job_id, c);
		if (job) {
			bb_update_system_comment(job, "begin", c, 0);
			ebb_job_bb_state(job, BB_STATE_TEARDOWN);
			if (held) {
				job->job_state &= ~JOB_CONFIGURING;
				if (job->details &&
				    job->details->prolog_running)
					job->details->prolog_running--;
			}
			if (IS_JOB_RUNNING(job))
				_requeue(job, hold, c);
		}
		xfree(c);
	}
	unlock_slurmctld(_job_write);
	ebb_workers_wake();
}

static void _publish_create(uint32_t job_id, int ok, const char *msg)
{
	_publish_create_as(job_id, ok, msg, "creating the file system",
			   EBB_A_CREATING);
}

/* A poll of a job's stages, published.  Stage-in: done releases the job
 * (as a finished creation does), a failure is a failed creation (requeue,
 * hold after max_create_attempts).  Stage-out: done tears down, a failure
 * keeps the data (EBB_A_KEPT) and says so in the job.  Kept: a retried
 * export that is done, or an abandoned one, tears down. */
static void _publish_stage(uint32_t job_id, enum ebb_astate from, int sp,
			   const struct ebb_aprogress *prog, const char *why,
			   int registered, int out_started)
{
	job_record_t *job;
	struct ebb_alloc *a;
	time_t now = time(NULL);
	int kept = 0, teardown = 0, tell = 0, fail_in = 0;

	if (from == EBB_A_STAGING_IN &&
	    (sp == EBB_SP_DONE || sp == EBB_SP_FAILED ||
	     sp == EBB_SP_CANCELLED || sp == EBB_SP_GONE)) {
		slurm_mutex_lock(&ebb_lock);
		if ((a = ebb_alloc_find(job_id)))
			a->prog = *prog;
		slurm_mutex_unlock(&ebb_lock);
		if (sp == EBB_SP_DONE)
			_publish_create_as(job_id, 1, NULL, "staging in",
					   EBB_A_STAGING_IN);
		else
			_publish_create_as(job_id, 0, why, "staging in",
					   EBB_A_STAGING_IN);
		return;
	}
	lock_slurmctld(_job_write);
	job = find_job_record(job_id);
	slurm_mutex_lock(&ebb_lock);
	a = ebb_alloc_find(job_id);
	if (!a || a->state != from) {
		slurm_mutex_unlock(&ebb_lock);
		unlock_slurmctld(_job_write);
		return;
	}
	a->prog = *prog;
	a->stages_registered = registered;
	a->out_started = out_started;
	if ((from == EBB_A_STAGING_OUT || from == EBB_A_KEPT) &&
	    sp == EBB_SP_GONE) {
		/* the Epilogs remove a node's share only once the export
		 * has ended (done or abandoned): finish the teardown */
		if (out_started || from == EBB_A_KEPT)
			info("%s: JobId=%u export ended and the Epilogs removed the data",
			     plugin_type, job_id);
		else
			error("%s: JobId=%u the file system was gone before its export could start: %s",
			      plugin_type, job_id, why);
		ebb_alloc_set_error(a, NULL);
		ebb_alloc_set_state(a, EBB_A_TEARDOWN);
		teardown = 1;
	} else if (from == EBB_A_STAGING_OUT && sp == EBB_SP_DONE) {
		ebb_alloc_set_error(a, NULL);
		ebb_alloc_set_state(a, EBB_A_TEARDOWN);
		teardown = 1;
	} else if (from == EBB_A_STAGING_OUT &&
		   (sp == EBB_SP_FAILED || sp == EBB_SP_CANCELLED ||
		    (sp == EBB_SP_UNREACHABLE &&
		     now - a->since >= (time_t)ebb_conf.teardown_timeout))) {
		char *m = xstrdup_printf("export failed, the data is kept on the job's nodes (capacity stays reserved): %s; finish it with 'ebbctl stage retry %u' or give up with 'ebbctl stage abandon %u'",
					 why, job_id, job_id);

		ebb_alloc_set_error(a, m);
		ebb_alloc_set_state(a, EBB_A_KEPT);
		kept = 1;
		error("%s: JobId=%u %s", plugin_type, job_id, m);
		if (job)
			bb_update_system_comment(job, "stage_out", m, 0);
		xfree(m);
	} else if (from == EBB_A_KEPT &&
		   (sp == EBB_SP_DONE || sp == EBB_SP_CANCELLED)) {
		info("%s: JobId=%u kept data %s: removing it", plugin_type,
		     job_id, sp == EBB_SP_DONE ? "exported after a retry" :
		     "abandoned");
		ebb_alloc_set_error(a, NULL);
		ebb_alloc_set_state(a, EBB_A_TEARDOWN);
		teardown = 1;
	} else if (from == EBB_A_STAGING_IN && sp == EBB_SP_UNREACHABLE &&
		   now - a->since >= (time_t)ebb_conf.create_timeout) {
		fail_in = 1;
	} else {
		if (sp == EBB_SP_UNREACHABLE || sp == EBB_SP_MISSING)
			ebb_alloc_set_error(a, why);
		if (from == EBB_A_KEPT && !a->kept_told &&
		    now - a->since >= (time_t)ebb_conf.kept_retention) {
			a->kept_told = 1;
			tell = 1;
		}
		a->next_try = now + (from == EBB_A_KEPT ? 10 :
			      (ebb_conf.stage_poll_ms + 999) / 1000);
	}
	slurm_mutex_unlock(&ebb_lock);
	if (tell)
		error("%s: JobId=%u a failed export has kept its data on the nodes for more than %u s (export_retention): finish it with 'ebbctl stage retry %u' or remove it with 'ebbctl stage abandon %u'",
		      plugin_type, job_id, ebb_conf.kept_retention, job_id,
		      job_id);
	if (job && (kept || teardown)) {
		if (kept) {
			/* the job is done with its nodes: they return to
			 * service, the data stays */
			job->job_state &= ~JOB_STAGE_OUT;
			ebb_job_bb_state(job, BB_STATE_TEARDOWN_FAIL);
			last_job_update = now;
		} else if (from == EBB_A_STAGING_OUT) {
			ebb_job_bb_state(job, BB_STATE_TEARDOWN);
		}
	}
	unlock_slurmctld(_job_write);
	if (fail_in)
		_publish_create_as(job_id, 0, why, "staging in",
				   EBB_A_STAGING_IN);
	ebb_workers_wake();
}

/* One step of a job's stages: register them (stage_in running,
 * stage_out deferred), set the stage_out ones running at the job's end,
 * then one poll. */
static void _do_stage(struct job_work *w, const char *id,
		      const struct ebb_options *opts)
{
	const char *const *m = (const char *const *)w->members;
	struct ebb_aprogress prog = {0};
	struct ebb_stage_job j;
	char why[1024] = "";
	int sp, dir = w->state == EBB_A_STAGING_IN ? EBB_STAGE_IN :
		      EBB_STAGE_OUT;
	unsigned expected = dir == EBB_STAGE_IN ? w->n_in : w->n_out;

	prog.eta_s = -1;
	if (!w->registered ||
	    (w->state == EBB_A_STAGING_OUT && !w->out_started)) {
		if (ebb_stage_job(w->job_id, &j, why, sizeof(why))) {
			sp = w->state == EBB_A_KEPT ? EBB_SP_RUNNING :
			     EBB_SP_FAILED;
			goto publish;
		}
		if (!w->registered &&
		    ebb_stage_register(&j, id, m, w->n, opts, why,
				       sizeof(why))) {
			int e = errno;

			ebb_stage_job_free(&j);
			sp = e == ENOENT ? EBB_SP_GONE :
			     e == EIO || e == ETIMEDOUT || e == ECONNREFUSED ?
			     EBB_SP_UNREACHABLE : EBB_SP_FAILED;
			goto publish;
		}
		w->registered = 1;
		if (w->state == EBB_A_STAGING_OUT && !w->out_started) {
			if (ebb_stage_run_out(&j, id, m, w->n, opts, why,
					      sizeof(why))) {
				int e = errno;

				ebb_stage_job_free(&j);
				sp = e == ENOENT ? EBB_SP_GONE :
				     EBB_SP_UNREACHABLE;
				goto publish;
			}
			w->out_started = 1;
		}
		ebb_stage_job_free(&j);
	}
	sp = ebb_stage_poll(id, m, w->n, dir, expected, opts, &prog, why,
			    sizeof(why));
	if (sp == EBB_SP_MISSING) /* rank 0 lost them: register again */
		w->registered = w->out_started = 0;
publish:
	_publish_stage(w->job_id, w->state, sp, &prog, why, w->registered,
		       w->out_started);
}

static void _publish_teardown(uint32_t job_id, int ok, const char *msg)
{
	job_record_t *job;
	struct ebb_alloc *a;
	int done = 0;

	lock_slurmctld(_job_write);
	job = find_job_record(job_id);
	slurm_mutex_lock(&ebb_lock);
	a = ebb_alloc_find(job_id);
	if (a && a->state == EBB_A_TEARDOWN) {
		if (ok) {
			ebb_alloc_set_state(a, EBB_A_DONE);
			done = 1;
		} else if (time(NULL) - a->since >=
			   (time_t)ebb_conf.teardown_timeout) {
			char *m = NULL;

			xstrfmtcat(m, "gave up removing the file system after %u s: %s; the sweep removes it when the node answers again",
				   ebb_conf.teardown_timeout, msg);
			error("%s: JobId=%u %s", plugin_type, job_id, m);
			ebb_alloc_set_error(a, m);
			xfree(m);
			ebb_alloc_set_state(a, EBB_A_DONE);
			done = 1;
		} else {
			time_t wait = 1 + (time(NULL) - a->since) / 4;

			ebb_alloc_set_error(a, msg);
			a->next_try = time(NULL) + (wait > 30 ? 30 : wait);
		}
	}
	slurm_mutex_unlock(&ebb_lock);
	if (done && job) {
		job->job_state &= ~JOB_STAGE_OUT;
		if (!IS_JOB_PENDING(job))
			ebb_job_bb_state(job, BB_STATE_COMPLETE);
		last_job_update = time(NULL);
		info("%s: JobId=%u file system removed from every node",
		     plugin_type, job_id);
	}
	unlock_slurmctld(_job_write);
	ebb_workers_wake();
}

static void _do_work(struct job_work *w)
{
	struct ebb_options opts = {0};
	char id[64], msg[512] = "";
	int rc;

	ebb_instance_id(w->job_id, id, sizeof(id));
	opts.timeout_ms = w->timeout_ms;
	opts.munge_socket = w->munge;
	if (w->state == EBB_A_STAGING_IN || w->state == EBB_A_STAGING_OUT ||
	    w->state == EBB_A_KEPT) {
		_do_stage(w, id, &opts);
	} else if (w->state == EBB_A_CREATING) {
		struct ebb_instance_spec spec = {
			.id = id,
			.members = (const char *const *)w->members,
			.nmembers = w->n,
			.stripe_size = w->stripe,
			.capacity = w->per_node,
			.uid = w->uid,
			.gid = w->gid,
			.mount = EBB_MOUNT | (w->writeback ?
					      EBB_MOUNT_WRITEBACK : 0),
		};

		rc = ebb_instance_create(&spec, &opts, msg, sizeof(msg));
		if (rc && !*msg)
			snprintf(msg, sizeof(msg), "%s", strerror(errno));
		_publish_create(w->job_id, rc == 0, msg);
	} else {
		rc = ebb_instance_destroy(id, (const char *const *)w->members,
					  w->n, &opts, msg, sizeof(msg));
		if (rc && !*msg)
			snprintf(msg, sizeof(msg), "%s", strerror(errno));
		_publish_teardown(w->job_id, rc == 0, msg);
	}
}

static struct ebb_alloc *_pick(void)
{
	time_t now = time(NULL);

	for (struct ebb_alloc *a = ebb_allocs; a; a = a->next) {
		if (a->busy)
			continue;
		if (a->state == EBB_A_CREATING && !a->create_ok)
			return a;
		if ((a->state == EBB_A_TEARDOWN ||
		     a->state == EBB_A_STAGING_IN ||
		     a->state == EBB_A_STAGING_OUT ||
		     a->state == EBB_A_KEPT) && now >= a->next_try)
			return a;
	}
	return NULL;
}

static void *_worker(void *arg)
{
	slurm_mutex_lock(&ebb_lock);
	while (!_stop) {
		struct ebb_alloc *a = _pick();
		struct job_work w;
		struct timespec ts;

		if (!a) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&_wake, &ebb_lock, &ts);
			continue;
		}
		a->busy = 1;
		if (_work_copy(&w, a)) {
			a->busy = 0;
			_work_free(&w);
			continue;
		}
		slurm_mutex_unlock(&ebb_lock);
		_do_work(&w);
		slurm_mutex_lock(&ebb_lock);
		a = ebb_alloc_find(w.job_id);
		if (a)
			a->busy = 0;
		_work_free(&w);
	}
	slurm_mutex_unlock(&ebb_lock);
	return NULL;
}

/* ---- the monitor ------------------------------------------------------ */

struct node_poll {
	char *name, *addr;
	int up;
	char error[160];
	struct ebb_node_status st;
	struct ebb_instance_info *inst;
	unsigned ninst;
};

/* Slurm's nodes and their bbd addresses (node read lock, memory only). */
static struct node_poll *_slurm_nodes(unsigned *n)
{
	struct node_poll *p = NULL;
	node_record_t *node;
	unsigned cnt = 0;

	lock_slurmctld(_node_read);
	for (int i = 0; (node = next_node(&i)); i++) {
		struct node_poll *q = realloc(p, (cnt + 1) * sizeof(*p));

		if (!q)
			break;
		p = q;
		memset(&p[cnt], 0, sizeof(*p));
		p[cnt].name = strdup(node->name);
		p[cnt].addr = NULL;
		p[cnt].inst = NULL;
		p[cnt].error[0] = 0;
		p[cnt].up = 0;
		/* ebb_node_bbd_addr reads ebb_conf */
		slurm_mutex_lock(&ebb_lock);
		p[cnt].addr = ebb_node_bbd_addr(node->name, node->comm_name);
		slurm_mutex_unlock(&ebb_lock);
		cnt++;
	}
	unlock_slurmctld(_node_read);
	*n = cnt;
	return p;
}

struct poll_slice {
	struct node_poll *p;
	unsigned n, first, step;
	const char *munge;
};

static void *_poll_slice(void *arg)
{
	struct poll_slice *sl = arg;
	struct node_poll *p = sl->p;
	struct ebb_options opts = {0};

	opts.timeout_ms = 3000;
	opts.munge_socket = sl->munge;
	for (unsigned i = sl->first; i < sl->n; i += sl->step) {
		if (ebb_node_status(p[i].addr, &opts, &p[i].st) ||
		    ebb_instance_list(p[i].addr, &opts, &p[i].inst,
				      &p[i].ninst)) {
			snprintf(p[i].error, sizeof(p[i].error), "%s",
				 strerror(errno));
			p[i].up = 0;
			continue;
		}
		p[i].up = 1;
	}
	return NULL;
}

/* Poll every node, up to 16 at a time, so that a few dead nodes (3 s
 * each) do not hold up the health of the others. */
static void _poll_nodes(struct node_poll *p, unsigned n, const char *munge)
{
	enum { MAX_POLLERS = 16 };
	struct poll_slice sl[MAX_POLLERS];
	pthread_t tid[MAX_POLLERS];
	unsigned t = n < MAX_POLLERS ? n : MAX_POLLERS, started = 0;

	for (unsigned k = 0; k < t; k++) {
		sl[k] = (struct poll_slice){p, n, k, t, munge};
		if (k > 0 && pthread_create(&tid[k], NULL, _poll_slice, &sl[k]))
			break;
		started = k + 1;
	}
	if (started < t) {
		/* no more threads: the rest one by one, here */
		for (unsigned k = started; k < t; k++)
			_poll_slice(&sl[k]);
	}
	if (t)
		_poll_slice(&sl[0]);
	for (unsigned k = 1; k < started; k++)
		pthread_join(tid[k], NULL);
}

static void _polls_free(struct node_poll *p, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].addr);
		if (p[i].inst)
			ebb_instance_list_free(p[i].inst, p[i].ninst);
	}
	free(p);
}

static const struct ebb_instance_info *_poll_inst(const struct node_poll *p,
						  const char *id)
{
	for (unsigned i = 0; i < p->ninst; i++)
		if (!strcmp(p->inst[i].id, id))
			return &p->inst[i];
	return NULL;
}

static const struct node_poll *_poll_find(const struct node_poll *p,
					  unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(p[i].name, name))
			return &p[i];
	return NULL;
}

/* Keep the latest view for scontrol show burst/bbstat. */
static void _store_nodes(const struct node_poll *p, unsigned n)
{
	struct ebb_nodeinfo *old = ebb_nodes, *nw = calloc(n ? n : 1,
							   sizeof(*nw));
	unsigned nold = ebb_nnodes;

	if (!nw)
		return;
	for (unsigned i = 0; i < n; i++) {
		nw[i].name = strdup(p[i].name);
		nw[i].addr = strdup(p[i].addr);
		nw[i].up = p[i].up;
		snprintf(nw[i].error, sizeof(nw[i].error), "%s", p[i].error);
		if (p[i].up) {
			nw[i].capacity = p[i].st.capacity;
			nw[i].reserved = p[i].st.reserved;
			nw[i].used = p[i].st.used;
			nw[i].ninstances = p[i].st.ninstances;
			nw[i].seen = time(NULL);
		}
		for (unsigned j = 0; j < nold; j++) {
			if (strcmp(old[j].name, p[i].name))
				continue;
			if (!p[i].up) {
				/* keep the last known capacity */
				nw[i].capacity = old[j].capacity;
				nw[i].seen = old[j].seen;
				nw[i].misses = old[j].misses + 1;
			}
		}
	}
	for (unsigned j = 0; j < nold; j++) {
		free(old[j].name);
		free(old[j].addr);
	}
	free(old);
	ebb_nodes = nw;
	ebb_nnodes = n;
}

/* A job whose file system broke: end it with NODE_FAIL and the cause. */
static void _fail_job(uint32_t job_id, const char *msg)
{
	job_record_t *job;

	lock_slurmctld(_job_write);
	job = find_job_record(job_id);
	if (job && IS_JOB_RUNNING(job) && !IS_JOB_COMPLETING(job) &&
	    !IS_JOB_CONFIGURING(job)) {
		error("%s: %pJ fails: %s", plugin_type, job, msg);
		bb_update_system_comment(job, "health", (char *)msg, 0);
		job_complete(job_id, 0, false, true, 1);
		job->state_reason = FAIL_BURST_BUFFER_OP;
		xfree(job->state_desc);
		job->state_desc = xstrdup_printf("ebb: %s", msg);
		last_job_update = time(NULL);
	}
	unlock_slurmctld(_job_write);
}

struct failure {
	uint32_t job_id;
	char msg[256];
};

/* Health: every READY allocation's nodes must answer twice in a row and
 * hold a mounted instance. */
static void _check_health(const struct node_poll *p, unsigned n,
			  time_t polled)
{
	struct failure *f = NULL;
	unsigned nf = 0;

	slurm_mutex_lock(&ebb_lock);
	for (struct ebb_alloc *a = ebb_allocs; a; a = a->next) {
		char id[64], why[256] = "";

		/* only what was ready before the poll began: a file system
		 * that became ready during it may be missing from it */
		if (a->state != EBB_A_READY || a->failing || a->since >= polled)
			continue;
		ebb_instance_id(a->job_id, id, sizeof(id));
		for (unsigned i = 0; i < a->nmembers && !*why; i++) {
			const struct node_poll *q = _poll_find(p, n,
							       a->names[i]);
			const struct ebb_instance_info *in;
			unsigned misses = 0;

			for (unsigned j = 0; j < ebb_nnodes; j++)
				if (!strcmp(ebb_nodes[j].name, a->names[i]))
					misses = ebb_nodes[j].misses;
			if (!q)
				continue;
			if (!q->up) {
				if (misses >= 2)
					snprintf(why, sizeof(why),
						 "bbd on %s (%s) does not answer: %s",
						 a->names[i], a->members[i],
						 q->error);
				continue;
			}
			in = _poll_inst(q, id);
			if (!in)
				snprintf(why, sizeof(why),
					 "the job's file system is gone from %s (bbd %s restarted without it?)",
					 a->names[i], a->members[i]);
			else if (!strcmp(in->mount_state, "failed"))
				snprintf(why, sizeof(why),
					 "the mount on %s failed: %s",
					 a->names[i], in->mount_error);
		}
		if (*why) {
			struct failure *g = realloc(f, (nf + 1) * sizeof(*f));

			if (!g)
				break;
			f = g;
			f[nf].job_id = a->job_id;
			snprintf(f[nf].msg, sizeof(f[nf].msg), "%s", why);
			nf++;
			a->failing = 1;
			ebb_alloc_set_error(a, why);
		}
	}
	slurm_mutex_unlock(&ebb_lock);
	for (unsigned i = 0; i < nf; i++)
		_fail_job(f[i].job_id, f[i].msg);
	free(f);
}

/* Orphans: an instance "slurm-<id>" on a node whose job is gone or done
 * and which no allocation of ours is working on is destroyed there. */
static void _sweep(const struct node_poll *p, unsigned n, const char *munge)
{
	struct ebb_options opts = {0};

	opts.timeout_ms = 10000;
	opts.munge_socket = munge;
	for (unsigned i = 0; i < n; i++) {
		for (unsigned k = 0; p[i].up && k < p[i].ninst; k++) {
			const char *id = p[i].inst[k].id;
			char *end;
			unsigned long job_id;
			job_record_t *job;
			struct ebb_alloc *a;
			int orphan;
			char msg[256] = "";
			const char *member[1];

			if (strncmp(id, EBB_ID_PREFIX,
				    strlen(EBB_ID_PREFIX)))
				continue;
			job_id = strtoul(id + strlen(EBB_ID_PREFIX), &end, 10);
			if (*end || !job_id)
				continue;
			lock_slurmctld(_job_read);
			job = find_job_record((uint32_t)job_id);
			slurm_mutex_lock(&ebb_lock);
			a = ebb_alloc_find((uint32_t)job_id);
			orphan = (!a || a->state == EBB_A_DONE) &&
				 (!job || IS_JOB_FINISHED(job) ||
				  IS_JOB_PENDING(job));
			slurm_mutex_unlock(&ebb_lock);
			unlock_slurmctld(_job_read);
			if (!orphan)
				continue;
			member[0] = p[i].addr;
			if (ebb_instance_destroy(id, member, 1, &opts, msg,
						 sizeof(msg)))
				error("%s: sweep: removing %s from %s failed: %s",
				      plugin_type, id, p[i].name, msg);
			else
				info("%s: sweep: removed %s (job gone or done) from %s",
				     plugin_type, id, p[i].name);
		}
	}
	/* Forget allocations that are done and whose job is gone. */
	lock_slurmctld(_job_read);
	slurm_mutex_lock(&ebb_lock);
	for (struct ebb_alloc *a = ebb_allocs, *nx; a; a = nx) {
		job_record_t *job;

		nx = a->next;
		if (a->state != EBB_A_DONE || a->busy)
			continue;
		job = find_job_record(a->job_id);
		if (!job || (IS_JOB_FINISHED(job) && !IS_JOB_COMPLETING(job) &&
			     !a->attempts))
			ebb_alloc_remove(a);
	}
	slurm_mutex_unlock(&ebb_lock);
	unlock_slurmctld(_job_read);
}

static void *_monitor(void *arg)
{
	time_t next_health = 0, next_sweep = time(NULL) + 5;

	slurm_mutex_lock(&ebb_lock);
	while (!_stop) {
		time_t now = time(NULL);
		struct timespec ts;

		if (now >= next_health || now >= next_sweep) {
			int sweep = now >= next_sweep;
			char *munge = ebb_conf.munge_socket ?
				      strdup(ebb_conf.munge_socket) : NULL;
			unsigned interval = ebb_conf.health_interval;
			unsigned sweep_iv = ebb_conf.sweep_interval;
			struct node_poll *p;
			unsigned n;

			slurm_mutex_unlock(&ebb_lock);
			p = _slurm_nodes(&n);
			_poll_nodes(p, n, munge);
			slurm_mutex_lock(&ebb_lock);
			_store_nodes(p, n);
			slurm_mutex_unlock(&ebb_lock);
			_check_health(p, n, now);
			if (sweep)
				_sweep(p, n, munge);
			_polls_free(p, n);
			free(munge);
			slurm_mutex_lock(&ebb_lock);
			next_health = time(NULL) + interval;
			if (sweep)
				next_sweep = time(NULL) + sweep_iv;
		}
		slurm_mutex_unlock(&ebb_lock);
		_release_waiting();
		if (ebb_dirty)
			ebb_state_save();
		slurm_mutex_lock(&ebb_lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&_wake, &ebb_lock, &ts);
	}
	slurm_mutex_unlock(&ebb_lock);
	return NULL;
}

int ebb_workers_start(void)
{
	unsigned n = ebb_conf.workers;

	_stop = 0;
	_threads = calloc(n + 1, sizeof(pthread_t));
	if (!_threads)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&_threads[i], NULL, _worker, NULL))
			break;
		_nthreads++;
	}
	if (pthread_create(&_threads[_nthreads], NULL, _monitor, NULL))
		return -1;
	_nthreads++;
	return 0;
}

/* At slurmctld shutdown.  A worker may be waiting for a bbd that does not
 * answer (up to create_timeout): shutdown does not wait for it.  It keeps
 * running until the process exits, so the plugin's code must stay mapped
 * after slurmctld unloads us: RTLD_NODELETE pins the library.  Its work is
 * redone after the restart (creation and removal are idempotent). */
unsigned ebb_workers_stop(void)
{
	struct timespec deadline;
	unsigned left = 0;
	Dl_info self;

	slurm_mutex_lock(&ebb_lock);
	_stop = 1;
	pthread_cond_broadcast(&_wake);
	slurm_mutex_unlock(&ebb_lock);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 2;
	for (unsigned i = 0; i < _nthreads; i++) {
		if (pthread_timedjoin_np(_threads[i], NULL, &deadline)) {
			pthread_detach(_threads[i]);
			left++;
		}
	}
	if (left && dladdr((void *)ebb_workers_stop, &self) && self.dli_fname)
		(void)dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD |
			     RTLD_NODELETE);
	if (left)
		info("%s: %u worker(s) still waiting for a bbd at shutdown; their work is redone after the restart",
		     plugin_type, left);
	else
		free(_threads);
	_threads = NULL;
	_nthreads = 0;
	return left;
}
