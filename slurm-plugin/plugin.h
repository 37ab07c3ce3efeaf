/* SPDX-License-Identifier: GPL-2.0-or-later */
/* burst_buffer/ebb: what the plugin's files share.
 *
 * DESIGN (docs/slurm.md has the user's view, docs/internals/plugin.md the
 * lifecycle with the Slurm facts behind it):
 * - Hooks (bb_p_*) run under slurmctld's locks and only look at memory:
 *   they change an allocation's state and wake the workers.  No network or
 *   disk I/O happens in a hook.
 * - Workers do the I/O (libebb calls to the job's bbds) with no slurmctld
 *   lock held, then publish: lock_slurmctld(job write, node write, fed
 *   read), then ebb_lock; never the other order.  Hooks are entered with
 *   slurmctld locks held and take ebb_lock, so the order is the same
 *   everywhere.  ebb_lock is never held across a call into slurmctld that
 *   can call back into a hook (job_completion_logger, job_complete...).
 * - Every allocation is saved to StateSaveLocation/burst_buffer_ebb_state
 *   by the monitor thread when it changed; after a restart the allocations
 *   are reloaded, bb_p_job_begin (called again by slurmctld for jobs still
 *   CONFIGURING) resumes creation, teardowns resume, and a sweep destroys
 *   any instance on any node whose job is gone.
 */
#ifndef EBB_SLURM_PLUGIN_H
#define EBB_SLURM_PLUGIN_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "s3path.h"

/* Instance ids are "slurm-<job id>"; the sweep only touches these. */
#define EBB_ID_PREFIX "slurm-"

enum ebb_astate {
	EBB_A_CREATING,  /* begin seen; instance being created and mounted */
	EBB_A_STAGING_IN,/* mounted; the job's stage_in lines are running */
	EBB_A_READY,     /* mounted (and staged in) on every node; job runs */
	EBB_A_STAGING_OUT,/* job ended; its stage_out lines are running */
	EBB_A_KEPT,      /* an export failed: the data stays on the nodes
	                  * until `ebbctl stage retry` finishes it or
	                  * `ebbctl stage abandon` gives up (docs/stager.md) */
	EBB_A_TEARDOWN,  /* job ended (or creation failed): destroying */
	EBB_A_DONE,      /* destroyed everywhere; kept for the retry count */
};

/* Stage progress as the last poll of rank 0 saw it (bbstat). */
struct ebb_aprogress {
	uint64_t files_done, files_total, files_failed;
	uint64_t bytes_done, bytes_total;
	uint64_t retries;        /* S3 requests retried (bbd's count) */
	double rate_bps;
	int64_t eta_s;
};

struct ebb_alloc {
	uint32_t job_id;
	uint32_t uid, gid;
	char *nodes;             /* Slurm node list, "n[1-3]" */
	unsigned nmembers;
	char **names;            /* node names, rank order */
	char **members;          /* bbd "host:port", rank order */
	uint64_t capacity;       /* the job's request: total bytes */
	uint64_t per_node;       /* each node's share */
	uint64_t stripe_size;    /* 0 = bbd's default */
	int writeback;           /* #BB cache=writeback: mounted with the
	                          * kernel's writeback cache */
	enum ebb_astate state;
	time_t since;            /* when state was entered */
	time_t created;          /* when the allocation was recorded */
	unsigned attempts;       /* creations that failed */
	int held;                /* we hold one details->prolog_running */
	int busy;                /* a worker is working on it */
	int create_ok;           /* the instance exists on every node */
	int publish_failed;      /* creation failed, job not yet requeued */
	int failing;             /* the monitor is failing the job */
	time_t next_try;         /* teardown retry back-off */
	char *error;             /* last error, for bbstat and comments */
	/* stages (stagerun.c) */
	unsigned n_in, n_out;    /* stage_in / stage_out lines of the job */
	int stages_registered;   /* every stage started (out ones deferred)
	                          * since this slurmctld started */
	int out_started;         /* the stage_out lines were set running */
	int kept_told;           /* retention passed: the admin was told */
	struct ebb_aprogress prog;
	struct ebb_alloc *next;
};

/* ebb.conf, as the plugin reads it (bbd's keys are ignored here). */
struct ebb_pconf {
	char *path;
	unsigned bbd_port;
	unsigned listen_port;     /* from bbd's "listen", the default */
	char *mount_root;
	char *munge_socket;
	char *pool;
	unsigned create_timeout;     /* s, per creation attempt */
	unsigned health_interval;    /* s */
	unsigned sweep_interval;     /* s */
	unsigned teardown_timeout;   /* s, then give up (the sweep retries) */
	unsigned max_create_attempts;
	unsigned stage_poll_ms;      /* how often stages are polled */
	unsigned kept_retention;     /* s a failed export keeps its data
	                              * before an admin is told */
	unsigned workers;
	uint64_t max_capacity, max_per_node, min_stripe, max_stripe;
	unsigned noverrides;
	char **override_node, **override_addr;  /* node.<name> = host:port */
	struct s3path_allow allow;   /* s3_allow lines, in file order */
};

/* Node health as the monitor last saw it. */
struct ebb_nodeinfo {
	char *name;
	char *addr;              /* host:port */
	int up;                  /* bbd answered the last poll */
	char error[160];
	uint64_t capacity, reserved, used;
	unsigned ninstances;
	unsigned misses;          /* polls in a row without an answer */
	time_t seen;             /* last answer */
};

/* ---- plugin.c: globals ---- */
extern pthread_mutex_t ebb_lock;
extern struct ebb_pconf ebb_conf;
extern struct ebb_alloc *ebb_allocs;
extern char *ebb_directive;      /* "BB", from burst_buffer.conf */
extern struct ebb_nodeinfo *ebb_nodes;
extern unsigned ebb_nnodes;
extern int ebb_dirty;            /* allocations changed since last save */
extern const char plugin_type[];

/* Set the job's BurstBufferState= to Slurm's name of BB_STATE_* st
 * (plugin.c; the caller holds the job write lock). */
struct job_record;
void ebb_job_bb_state(struct job_record *job, int st);

/* ---- alloc.c (callers hold ebb_lock) ---- */
struct ebb_alloc *ebb_alloc_find(uint32_t job_id);
struct ebb_alloc *ebb_alloc_add(uint32_t job_id);
void ebb_alloc_remove(struct ebb_alloc *a);
void ebb_alloc_free(struct ebb_alloc *a);
void ebb_alloc_set_state(struct ebb_alloc *a, enum ebb_astate s);
void ebb_alloc_set_error(struct ebb_alloc *a, const char *msg);
const char *ebb_astate_name(enum ebb_astate s);
void ebb_instance_id(uint32_t job_id, char *buf, size_t len);
/* Job directory on every node: <mount_root>/slurm-<id>. */
void ebb_job_dir(uint32_t job_id, char *buf, size_t len);

/* ---- conf ---- */
int ebb_pconf_load(struct ebb_pconf *c, char *err, size_t errlen);
void ebb_pconf_free(struct ebb_pconf *c);
/* "host:port" of node `name` whose NodeAddr is `addr` (malloc'd). */
char *ebb_node_bbd_addr(const char *name, const char *addr);

/* ---- stage.c: the sbatch-time checks of stage lines ---- */
struct bb_request;
struct job_descriptor;
/* Check r's stage lines for the job's user, groups and account against
 * ebb_conf.allow (NSS lookups first, then ebb_lock is taken).  0, or
 * ESLURM_INVALID_BURST_BUFFER_REQUEST with *err_msg set (xmalloc'd). */
int ebb_stage_validate(struct job_descriptor *job_desc,
		       const struct bb_request *r, char **err_msg);

/* ---- worker.c ---- */
int ebb_workers_start(void);
/* Returns the number of workers that did not stop in time (see worker.c). */
unsigned ebb_workers_stop(void);
void ebb_workers_wake(void);

/* ---- status.c ---- */
/* "slurm-JOB addr,addr,...\n" or "error: ...\n" (xmalloc'd). */
char *ebb_status_members(const char *job);

/* ---- state.c ---- */
int ebb_state_save(void);        /* takes ebb_lock itself; I/O outside */
int ebb_state_load(void);        /* at init, before any hook */

/* ---- status.c ---- */
char *ebb_status_text(int json); /* xmalloc'd, for scontrol show bbstat */

/* ---- stagerun.c (worker threads, no lock held) ---- */
struct ebb_options;
struct ebb_stage_line {
	char name[16];           /* "in-0", "out-1" */
	int dir;                 /* EBB_STAGE_IN / EBB_STAGE_OUT */
	char *src, *dst;         /* S3 side expanded (%j %u %A %a) */
	int type;                /* 0 auto, 1 file, 2 directory */
};
struct ebb_stage_job {
	uint32_t job_id;
	uid_t uid;
	gid_t gid;
	char *user, *account;
	char **groups;
	unsigned ngroups;
	struct ebb_stage_line *st;
	unsigned n;
};
/* Copy the job's stage lines (expanded) and identity; takes the job read
 * lock for a moment.  0, or -1 with err. */
int ebb_stage_job(uint32_t job_id, struct ebb_stage_job *j, char *err,
		  size_t errlen);
void ebb_stage_job_free(struct ebb_stage_job *j);
/* Start every stage on rank 0 (stage_out ones deferred); idempotent. */
int ebb_stage_register(const struct ebb_stage_job *j, const char *id,
		       const char *const *members, unsigned n,
		       const struct ebb_options *opts, char *err,
		       size_t errlen);
/* Set the deferred stage_out stages running (or retry failed ones). */
int ebb_stage_run_out(const struct ebb_stage_job *j, const char *id,
		      const char *const *members, unsigned n,
		      const struct ebb_options *opts, char *err,
		      size_t errlen);
enum {
	EBB_SP_RUNNING, EBB_SP_DONE, EBB_SP_FAILED, EBB_SP_CANCELLED,
	EBB_SP_MISSING, EBB_SP_UNREACHABLE,
	EBB_SP_GONE,     /* rank 0 has no such instance (any more) */
};
/* Poll the stages of one direction on rank 0: EBB_SP_*, the summed
 * progress, and why (failures, one clause per failed stage). */
int ebb_stage_poll(const char *id, const char *const *members, unsigned n,
		   int dir, unsigned expected, const struct ebb_options *opts,
		   struct ebb_aprogress *prog, char *why, size_t whylen);

#endif
