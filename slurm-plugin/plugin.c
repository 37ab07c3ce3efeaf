/* SPDX-License-Identifier: GPL-2.0-or-later */
/* burst_buffer/ebb: the Slurm hooks (see plugin.h for the design).
 *
 * Every bb_p_* function runs inside slurmctld with its locks held: it reads
 * and changes memory only, and leaves the I/O to worker.c. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurm/slurm.h"
#include "slurm/slurm_errno.h"
#include "src/common/hostlist.h"
#include "src/common/node_conf.h"
#include "src/common/run_in_daemon.h"
#include "src/common/xmalloc.h"
#include "src/common/xstring.h"
#include "src/slurmctld/job_scheduler.h"
#include "src/slurmctld/locks.h"
#include "src/slurmctld/slurmctld.h"
#include "src/plugins/burst_buffer/common/burst_buffer_common.h"

#include "directive.h"
#include "plugin.h"

const char plugin_name[] = "burst buffer ebb plugin (per-job file systems "
			   "on the job's nodes)";
const char plugin_type[] = "burst_buffer/ebb";
const uint32_t plugin_version = SLURM_VERSION_NUMBER;

pthread_mutex_t ebb_lock = PTHREAD_MUTEX_INITIALIZER;
struct ebb_pconf ebb_conf;
struct ebb_alloc *ebb_allocs;
char *ebb_directive;
struct ebb_nodeinfo *ebb_nodes;
unsigned ebb_nnodes;
int ebb_dirty;

/* burst_buffer.conf, read with Slurm's own reader: only what Slurm knows
 * (Directive, AllowUsers, DenyUsers, Flags, timeouts). */
static bb_state_t _bb_state;
static int _in_ctld;

static void _load_configs(void)
{
	char err[256] = "";

	bb_load_config(&_bb_state, (char *)plugin_type);
	free(ebb_directive);
	ebb_directive = strdup(_bb_state.bb_config.directive_str &&
			       *_bb_state.bb_config.directive_str ?
			       _bb_state.bb_config.directive_str : "BB");
	ebb_pconf_free(&ebb_conf);
	if (ebb_pconf_load(&ebb_conf, err, sizeof(err)))
		error("%s: %s (using defaults for what is not set)",
		      plugin_type, err);
}

extern int init(void)
{
	slurm_mutex_init(&_bb_state.bb_mutex);
	slurm_mutex_lock(&ebb_lock);
	_load_configs();
	slurm_mutex_unlock(&ebb_lock);
	/* slurmscriptd loads the plugin too: no threads, no state there. */
	_in_ctld = running_in_slurmctld();
	if (!_in_ctld)
		return SLURM_SUCCESS;
	ebb_state_load();
	info("%s: loaded; directive #%s, bbd port %u, mount root %s, "
	     "config %s", plugin_type, ebb_directive, ebb_conf.bbd_port,
	     ebb_conf.mount_root, ebb_conf.path);
	return ebb_workers_start() ? SLURM_ERROR : SLURM_SUCCESS;
}

extern int fini(void)
{
	if (_in_ctld) {
		unsigned left = ebb_workers_stop();

		ebb_state_save();
		if (left)
			return SLURM_SUCCESS; /* they still use our memory */
	}
	slurm_mutex_lock(&ebb_lock);
	while (ebb_allocs)
		ebb_alloc_remove(ebb_allocs);
	for (unsigned i = 0; i < ebb_nnodes; i++) {
		free(ebb_nodes[i].name);
		free(ebb_nodes[i].addr);
	}
	free(ebb_nodes);
	ebb_nodes = NULL;
	ebb_nnodes = 0;
	ebb_pconf_free(&ebb_conf);
	free(ebb_directive);
	ebb_directive = NULL;
	slurm_mutex_unlock(&ebb_lock);
	bb_clear_config(&_bb_state.bb_config, true);
	xfree(_bb_state.name);
	return SLURM_SUCCESS;
}

static int _has_bb(const char *bb)
{
	return bb && *bb;
}

static void _limits(struct bb_limits *lim)
{
	lim->max_capacity = ebb_conf.max_capacity;
	lim->max_per_node = ebb_conf.max_per_node;
	lim->min_stripe_size = ebb_conf.min_stripe;
	lim->max_stripe_size = ebb_conf.max_stripe;
}

extern uint64_t bb_p_get_system_size(void)
{
	uint64_t total = 0;

	slurm_mutex_lock(&ebb_lock);
	for (unsigned i = 0; i < ebb_nnodes; i++)
		total += ebb_nodes[i].capacity;
	slurm_mutex_unlock(&ebb_lock);
	return total / (1024 * 1024);   /* MB, as Slurm counts bb TRES */
}

extern int bb_p_load_state(bool init_config)
{
	return SLURM_SUCCESS;
}

/* `scontrol show bbstat [json]`, and `scontrol show bbstat members JOB`:
 * "slurm-JOB host:port,host:port,...\n", the job's instance and its bbds in
 * rank order, which `ebbctl stage retry|abandon|status JOB` use. */
extern char *bb_p_get_status(uint32_t argc, char **argv)
{
	int json = argc > 0 && argv && argv[0] && !strcmp(argv[0], "json");

	if (argc == 2 && argv && argv[0] && argv[1] &&
	    !strcmp(argv[0], "members"))
		return ebb_status_members(argv[1]);
	return ebb_status_text(json);
}

/* Write record count n over the placeholder packed at offset off. */
static void _pack_count(buf_t *buffer, int off, uint32_t n)
{
	int eof = get_buf_offset(buffer);

	set_buf_offset(buffer, off);
	pack32(n, buffer);
	set_buf_offset(buffer, eof);
}

/* Pack the pool and the allocations in the format of Slurm's own plugins,
 * so that `scontrol show burst` prints them. */
extern int bb_p_state_pack(uid_t uid, buf_t *buffer,
			   uint16_t protocol_version)
{
	burst_buffer_pool_t pool = {0};
	uint64_t total = 0, used = 0;
	uint32_t n = 0;
	int off;

	if (protocol_version < SLURM_MIN_PROTOCOL_VERSION)
		return SLURM_SUCCESS;
	slurm_mutex_lock(&ebb_lock);
	for (unsigned i = 0; i < ebb_nnodes; i++)
		total += ebb_nodes[i].capacity;
	for (struct ebb_alloc *a = ebb_allocs; a; a = a->next)
		if (a->state != EBB_A_DONE)
			used += a->per_node * a->nmembers;
	pool.name = ebb_conf.pool;
	pool.granularity = 1;
	pool.total_space = total;
	pool.used_space = used;
	pool.unfree_space = used;
	_bb_state.bb_config.pool_cnt = 1;
	_bb_state.bb_config.pool_ptr = &pool;
	_bb_state.bb_config.granularity = 1;
	_bb_state.total_space = total;
	_bb_state.used_space = used;
	_bb_state.unfree_space = used;
	packstr(_bb_state.name, buffer);
	bb_pack_state(&_bb_state, buffer, protocol_version);
	_bb_state.bb_config.pool_ptr = NULL;
	_bb_state.bb_config.pool_cnt = 0;

	if (!(_bb_state.bb_config.flags & BB_FLAG_PRIVATE_DATA) ||
	    validate_operator(uid))
		uid = 0;
	off = get_buf_offset(buffer);
	pack32(n, buffer);
	for (struct ebb_alloc *a = ebb_allocs; a; a = a->next) {
		char name[32];
		uint16_t st;

		if (a->state == EBB_A_DONE || (uid && uid != a->uid))
			continue;
		switch (a->state) {
		case EBB_A_CREATING: st = BB_STATE_ALLOCATING; break;
		case EBB_A_STAGING_IN: st = BB_STATE_STAGING_IN; break;
		case EBB_A_READY: st = BB_STATE_ALLOCATED; break;
		case EBB_A_STAGING_OUT: st = BB_STATE_STAGING_OUT; break;
		case EBB_A_KEPT: st = BB_STATE_TEARDOWN_FAIL; break;
		default: st = BB_STATE_TEARDOWN; break;
		}
		snprintf(name, sizeof(name), EBB_ID_PREFIX "%u", a->job_id);
		packstr(NULL, buffer);             /* account */
		pack32(0, buffer);                 /* array job id */
		pack32(NO_VAL, buffer);            /* array task id */
		pack_time(a->created, buffer);
		pack32(a->job_id, buffer);
		packstr(name, buffer);
		packstr(NULL, buffer);             /* partition */
		packstr(ebb_conf.pool, buffer);
		packstr(NULL, buffer);             /* qos */
		pack64(a->per_node * a->nmembers, buffer);
		pack16(st, buffer);
		pack32(a->uid, buffer);
		n++;
	}
	_pack_count(buffer, off, n);
	/* per-user usage: one record per user with allocations */
	off = get_buf_offset(buffer);
	n = 0;
	pack32(n, buffer);
	for (struct ebb_alloc *a = ebb_allocs; a; a = a->next) {
		uint64_t sum = 0;
		int first = 1;

		if (a->state == EBB_A_DONE || (uid && uid != a->uid))
			continue;
		for (struct ebb_alloc *b = ebb_allocs; b != a; b = b->next)
			if (b->uid == a->uid && b->state != EBB_A_DONE)
				first = 0;
		if (!first)
			continue;
		for (struct ebb_alloc *b = a; b; b = b->next)
			if (b->uid == a->uid && b->state != EBB_A_DONE)
				sum += b->per_node * b->nmembers;
		pack64(sum, buffer);
		pack32(a->uid, buffer);
		n++;
	}
	_pack_count(buffer, off, n);
	slurm_mutex_unlock(&ebb_lock);
	return SLURM_SUCCESS;
}

extern int bb_p_reconfig(void)
{
	slurm_mutex_lock(&ebb_lock);
	_load_configs();
	slurm_mutex_unlock(&ebb_lock);
	ebb_workers_wake();
	return SLURM_SUCCESS;
}

/* sbatch time: parse, check, store the canonical directives in the job
 * and ask Slurm for nodes with enough temporary disk.  Nothing is created
 * here, so a refused job leaves nothing behind. */
extern int bb_p_job_validate(job_desc_msg_t *job_desc, uid_t submit_uid,
			     char **err_msg)
{
	struct bb_request req;
	struct bb_limits lim = {0};
	char err[512];
	unsigned min_nodes;
	uint64_t per_node_mb;
	ebb_err e;
	int rc;

	min_nodes = (job_desc->min_nodes == NO_VAL ||
		     job_desc->min_nodes == 0) ? 1 : job_desc->min_nodes;
	slurm_mutex_lock(&ebb_lock);
	_limits(&lim);
	e = bb_parse(job_desc->script, job_desc->burst_buffer, ebb_directive,
		     min_nodes, &lim, &req, err, sizeof(err));
	slurm_mutex_unlock(&ebb_lock);
	if (e != EBB_OK) {
		if (err_msg)
			*err_msg = xstrdup_printf("%s: %s", plugin_type, err);
		return ESLURM_INVALID_BURST_BUFFER_REQUEST;
	}
	if (req.ndirectives == 0) {
		/* No #BB line: the job is not ours.  A --bb that held only
		 * blanks is dropped so that nothing waits for us. */
		xfree(job_desc->burst_buffer);
		bb_request_free(&req);
		return SLURM_SUCCESS;
	}
	rc = ebb_stage_validate(job_desc, &req, err_msg);
	if (rc != SLURM_SUCCESS) {
		bb_request_free(&req);
		return rc;
	}
	xfree(job_desc->burst_buffer);
	job_desc->burst_buffer = xstrdup(req.canonical);
	per_node_mb = (req.capacity + min_nodes - 1) / min_nodes;
	per_node_mb = (per_node_mb + (1 << 20) - 1) >> 20;
	if (job_desc->pn_min_tmp_disk == NO_VAL ||
	    job_desc->pn_min_tmp_disk < per_node_mb)
		job_desc->pn_min_tmp_disk = (uint32_t)per_node_mb;
	bb_request_free(&req);
	return SLURM_SUCCESS;
}

extern int bb_p_job_validate2(job_record_t *job_ptr, char **err_msg)
{
	if (!_has_bb(job_ptr->burst_buffer))
		return SLURM_SUCCESS;
	if (!job_ptr->burst_buffer_state) {
		xfree(job_ptr->burst_buffer_state);
		job_ptr->burst_buffer_state =
			xstrdup(bb_state_string(BB_STATE_PENDING));
	}
	return SLURM_SUCCESS;
}

extern void bb_p_job_set_tres_cnt(job_record_t *job_ptr, uint64_t *tres_cnt,
				  bool locked)
{
}

extern time_t bb_p_job_get_est_start(job_record_t *job_ptr)
{
	return time(NULL);
}

extern int bb_p_job_try_stage_in(List job_queue)
{
	return SLURM_SUCCESS;
}

/* 1: ready to start.  Nothing is staged before the nodes are known, but a
 * requeued job waits until the file system of its previous attempt is
 * gone (0: Slurm shows Reason=BurstBufferStageIn). */
extern int bb_p_job_test_stage_in(job_record_t *job_ptr, bool test_only)
{
	struct ebb_alloc *a;
	int rc = 1;

	if (!_has_bb(job_ptr->burst_buffer))
		return 1;
	slurm_mutex_lock(&ebb_lock);
	a = ebb_alloc_find(job_ptr->job_id);
	if (a && a->state == EBB_A_TEARDOWN)
		rc = 0;
	slurm_mutex_unlock(&ebb_lock);
	return rc;
}

static void _env_set(job_record_t *job_ptr, const char *name,
		     const char *value)
{
	struct job_details *d = job_ptr->details;
	size_t len = strlen(name);

	for (unsigned i = 0; i < d->env_cnt; i++) {
		if (!strncmp(d->env_sup[i], name, len) &&
		    d->env_sup[i][len] == '=') {
			xfree(d->env_sup[i]);
			d->env_sup[i] = xstrdup_printf("%s=%s", name, value);
			return;
		}
	}
	xrecalloc(d->env_sup, d->env_cnt + 1, sizeof(char *));
	d->env_sup[d->env_cnt++] = xstrdup_printf("%s=%s", name, value);
}

void ebb_job_bb_state(struct job_record *job_ptr, int st)
{
	xfree(job_ptr->burst_buffer_state);
	job_ptr->burst_buffer_state = xstrdup(bb_state_string(st));
}

/* Fill a's node lists from the job's allocation (memory only). */
static int _alloc_nodes(struct ebb_alloc *a, const char *nodes)
{
	hostlist_t hl = hostlist_create(nodes);
	char *host;
	unsigned n, i = 0;

	if (!hl)
		return -1;
	n = hostlist_count(hl);
	a->names = calloc(n, sizeof(char *));
	a->members = calloc(n, sizeof(char *));
	if (!a->names || !a->members) {
		hostlist_destroy(hl);
		return -1;
	}
	while (i < n && (host = hostlist_shift(hl))) {
		node_record_t *node = find_node_record(host);

		a->names[i] = strdup(host);
		a->members[i] = ebb_node_bbd_addr(
			host, node && node->comm_name ? node->comm_name : host);
		free(host);
		i++;
	}
	a->nmembers = i;
	a->nodes = strdup(nodes);
	hostlist_destroy(hl);
	return i == n ? 0 : -1;
}

/* The nodes are known: record the allocation, hold the job in CONFIGURING
 * (one prolog_running count) and let a worker create the file system.
 * slurmctld calls this again for a job still CONFIGURING after a restart,
 * so it resumes an allocation it finds instead of starting over. */
extern int bb_p_job_begin(job_record_t *job_ptr)
{
	struct bb_request req;
	struct bb_limits lim = {0};
	struct ebb_alloc *a;
	char err[512], dir[4096], id[64];
	const char *nodes;
	ebb_err e;

	if (!_has_bb(job_ptr->burst_buffer))
		return SLURM_SUCCESS;
	nodes = job_ptr->job_resrcs ? job_ptr->job_resrcs->nodes : NULL;
	if (!nodes || !job_ptr->details) {
		error("%s: %pJ has no node allocation", plugin_type, job_ptr);
		return SLURM_ERROR;
	}
	/* The canonical directives were checked at submission; the limits
	 * may have changed since, so only the grammar is checked again. */
	slurm_mutex_lock(&ebb_lock);
	e = bb_parse(NULL, job_ptr->burst_buffer, ebb_directive, 1, &lim, &req,
		     err, sizeof(err));
	slurm_mutex_unlock(&ebb_lock);
	if (e != EBB_OK || req.ndirectives == 0) {
		error("%s: %pJ: stored directives no longer parse: %s",
		      plugin_type, job_ptr, err);
		if (e == EBB_OK)
			bb_request_free(&req);
		return SLURM_ERROR;
	}

	slurm_mutex_lock(&ebb_lock);
	a = ebb_alloc_find(job_ptr->job_id);
	if (a && (a->state == EBB_A_TEARDOWN ||
		  (a->state != EBB_A_DONE && a->nodes &&
		   strcmp(a->nodes, nodes)))) {
		/* still tearing down an earlier attempt (test_stage_in
		 * keeps the job pending until it is done), or a live
		 * allocation on other nodes */
		error("%s: %pJ begins on %s while its file system on %s is "
		      "not yet removed", plugin_type, job_ptr, nodes,
		      a->nodes ? a->nodes : "?");
		slurm_mutex_unlock(&ebb_lock);
		bb_request_free(&req);
		return SLURM_ERROR;
	}
	if (a && a->state == EBB_A_DONE) {
		/* requeued after a failed attempt: a fresh allocation that
		 * remembers the attempts; a job that was held for them can
		 * only begin again after `scontrol release`, which starts
		 * the count afresh */
		unsigned attempts = a->attempts >= ebb_conf.max_create_attempts ?
				    0 : a->attempts;

		ebb_alloc_remove(a);
		a = ebb_alloc_add(job_ptr->job_id);
		if (a)
			a->attempts = attempts;
	} else if (!a) {
		a = ebb_alloc_add(job_ptr->job_id);
	}
	if (!a || (!a->nodes && _alloc_nodes(a, nodes))) {
		if (a)
			ebb_alloc_remove(a);
		slurm_mutex_unlock(&ebb_lock);
		bb_request_free(&req);
		return SLURM_ERROR;
	}
	a->uid = job_ptr->user_id;
	a->gid = job_ptr->group_id;
	a->n_in = a->n_out = 0;
	for (unsigned i = 0; i < req.nstages; i++) {
		if (req.stages[i].dir == BB_STAGE_IN)
			a->n_in++;
		else
			a->n_out++;
	}
	a->stages_registered = a->out_started = 0;
	a->capacity = req.capacity;
	a->stripe_size = req.stripe_size;
	a->writeback = req.cache == BB_CACHE_WRITEBACK;
	a->per_node = (req.capacity + a->nmembers - 1) / a->nmembers;
	a->per_node = (a->per_node + (1 << 20) - 1) & ~(uint64_t)((1 << 20) - 1);
	/* Even an allocation saved as ready is created again (idempotent):
	 * the job is CONFIGURING, so someone must release it. */
	ebb_alloc_set_state(a, EBB_A_CREATING);
	a->create_ok = 0;
	a->failing = 0;
	if (!a->held) {
		a->held = 1;
		job_ptr->details->prolog_running++;
	}
	job_ptr->job_state |= JOB_CONFIGURING;
	ebb_dirty = 1;
	ebb_job_dir(job_ptr->job_id, dir, sizeof(dir));
	ebb_instance_id(job_ptr->job_id, id, sizeof(id));
	{
		char *list = NULL;

		for (unsigned i = 0; i < a->nmembers; i++)
			xstrfmtcat(list, "%s%s", i ? "," : "", a->members[i]);
		_env_set(job_ptr, "EBB_NODES", list);
		xfree(list);
	}
	slurm_mutex_unlock(&ebb_lock);
	_env_set(job_ptr, "EBB_JOB_DIR", dir);
	_env_set(job_ptr, "EBB_INSTANCE", id);
	ebb_job_bb_state(job_ptr, BB_STATE_ALLOCATING);
	bb_request_free(&req);
	ebb_workers_wake();
	return SLURM_SUCCESS;
}

/* The job ended, was cancelled or never started: tear down.  If we still
 * hold the job in CONFIGURING, give the count back without launching, so
 * that slurmctld sends the terminate request and the Epilog runs. */
static void _teardown(job_record_t *job_ptr, int stage_out)
{
	struct ebb_alloc *a;
	int tearing = 0;

	slurm_mutex_lock(&ebb_lock);
	a = ebb_alloc_find(job_ptr->job_id);
	if (a && a->held) {
		a->held = 0;
		if (job_ptr->details && job_ptr->details->prolog_running)
			job_ptr->details->prolog_running--;
	}
	if (a && (a->state == EBB_A_STAGING_OUT || a->state == EBB_A_KEPT)) {
		/* an export is running or failed: its data is never
		 * dropped here (retry or abandon decide) */
	} else if (a && a->state != EBB_A_DONE) {
		ebb_alloc_set_state(a, EBB_A_TEARDOWN);
		tearing = 1;
	}
	slurm_mutex_unlock(&ebb_lock);
	if (tearing) {
		if (stage_out)
			job_ptr->job_state |= JOB_STAGE_OUT;
		ebb_job_bb_state(job_ptr, BB_STATE_TEARDOWN);
		ebb_workers_wake();
	}
}

extern int bb_p_job_revoke_alloc(job_record_t *job_ptr)
{
	if (_has_bb(job_ptr->burst_buffer))
		_teardown(job_ptr, 0);
	return SLURM_SUCCESS;
}

/* The job ended: its stage_out lines run (workers), or the file system
 * goes at once when it has none or never became ready.  The nodes are
 * released when this returns; each node's Epilog waits for the export
 * (ebbctl epilog). */
extern int bb_p_job_start_stage_out(job_record_t *job_ptr)
{
	struct ebb_alloc *a;
	int staging = 0;

	if (!_has_bb(job_ptr->burst_buffer))
		return SLURM_SUCCESS;
	slurm_mutex_lock(&ebb_lock);
	a = ebb_alloc_find(job_ptr->job_id);
	if (a && a->state == EBB_A_READY && a->n_out) {
		ebb_alloc_set_state(a, EBB_A_STAGING_OUT);
		a->out_started = 0;
		staging = 1;
	}
	slurm_mutex_unlock(&ebb_lock);
	if (!staging) {
		_teardown(job_ptr, 1);
		return SLURM_SUCCESS;
	}
	job_ptr->job_state |= JOB_STAGE_OUT;
	ebb_job_bb_state(job_ptr, BB_STATE_STAGING_OUT);
	info("%s: %pJ ended: staging out", plugin_type, job_ptr);
	ebb_workers_wake();
	return SLURM_SUCCESS;
}

extern int bb_p_job_test_post_run(job_record_t *job_ptr)
{
	return 1;
}

/* 1 once the job's file system is exported and gone from every node, or
 * kept after a failed export. */
extern int bb_p_job_test_stage_out(job_record_t *job_ptr)
{
	struct ebb_alloc *a;
	int rc = 1;

	if (!_has_bb(job_ptr->burst_buffer))
		return 1;
	slurm_mutex_lock(&ebb_lock);
	a = ebb_alloc_find(job_ptr->job_id);
	/* a failed export keeps its data without keeping the job */
	if (a && a->state != EBB_A_DONE && a->state != EBB_A_KEPT)
		rc = 0;
	slurm_mutex_unlock(&ebb_lock);
	return rc;
}

extern int bb_p_job_cancel(job_record_t *job_ptr)
{
	if (_has_bb(job_ptr->burst_buffer))
		_teardown(job_ptr, 0);
	return SLURM_SUCCESS;
}

extern int bb_p_run_script(char *func, uint32_t job_id, uint32_t argc,
			   char **argv, char **resp_msg)
{
	if (resp_msg)
		*resp_msg = xstrdup_printf("%s runs no scripts", plugin_type);
	return SLURM_ERROR;
}

extern char *bb_p_xlate_bb_2_tres_str(char *burst_buffer)
{
	return NULL;
}
