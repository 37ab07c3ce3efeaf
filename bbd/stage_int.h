/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd stages: what the registry (stage.c), the coordinator (stage_plan.c)
 * and the member transfers (stage_xfer.c) share.
 *
 * DESIGN (docs/stager.md): a stage is coordinated by the instance's rank 0
 * (a struct bbd_stage with a coordinator pthread) and run by every member
 * (a struct stage_run on the bbd's one stager thread).  The coordinator
 * plans, then sends every member the same file list (STAGE_WORK) and polls
 * them (STAGE_POLL); each member derives from placement which stripes (in)
 * or parts (out) are its own.  Persistence, in <instdir>/stage/<name>/:
 *   spec   the spec map (msgpack), written before STAGE_START is answered;
 *   plan   the coordinator's file list (msgpack), once the namespace exists;
 *   state  the final state and error (text), once the stage ended;
 *   done   a member's done-log: one plan index per line, fsync'd in batches.
 * A restarted coordinator with a plan skips planning and sends the work
 * again; a member skips what its done-log lists and reports it done.
 *
 * Locks: bbd->stages->lock (the registry, every struct bbd_stage's
 * fields marked so) comes before stage_run locks, is never held across
 * I/O or an RPC, and is after no other bbd lock (docs/internals/threads.md).
 */
#ifndef EBB_BBD_STAGE_INT_H
#define EBB_BBD_STAGE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <msgpack.h>

#include "bbd_int.h"
#include "stg.h"
#include "stg_map.h"
#include "s3path.h"

#define STAGE_MAX_NAME 32
/* Work entries per STAGE_WORK message (the header is at most 64 KiB). */
#define STAGE_WORK_BATCH_BYTES (40u * 1024)
/* Finished-file reports per STAGE_POLL reply, by encoded size. */
#define STAGE_POLL_BYTES (40u * 1024)
#define STAGE_POLL_MS 250

enum stage_state {
	STAGE_WAITING,             /* deferred: runs at STAGE_RETRY */
	STAGE_PLANNING,
	STAGE_RUNNING,
	STAGE_DONE,
	STAGE_FAILED,
	STAGE_CANCELLED,
	STAGE_NSTATES
};
const char *stage_state_name(enum stage_state s);

struct stage_spec {
	char name[STAGE_MAX_NAME + 1];
	int dir;                   /* EBB_STAGE_IN / EBB_STAGE_OUT */
	char *source, *destination;
	int type;                  /* 0 auto, 1 file, 2 directory */
	uint32_t uid, gid;
	char *user;
	char **groups;
	unsigned ngroups;
	char *account;             /* may be NULL */
	uint32_t job_id;
	bool deferred;
};
void stage_spec_free(struct stage_spec *s);
/* Pack spec as the STAGE_START map (docs/protocol.md). */
void stage_spec_pack(const struct stage_spec *s, msgpack_packer *pk);
/* Read a spec map; EBB_E_PROTO with why. */
ebb_err stage_spec_parse(const msgpack_object *m, struct stage_spec *s,
			 char *why, size_t whylen);

/* One entry of a plan: what STAGE_WORK carries for each file. */
struct stage_file {
	uint64_t ino;
	uint64_t size;
	char *key;                 /* the S3 key */
	char *tag;                 /* in: ETag; out: upload id or NULL (PUT) */
	char *path;                /* in the instance, absolute */
	uint32_t mode, uid, gid;   /* out: for the object's metadata;
	                            * in: what the plan gave the file */
	int64_t mtime_ns, atime_ns;
	uint32_t flags;            /* STAGE_F_* */
};

/* Stage-in: no HEAD was made for this one-stripe object (LIST gave its
 * size, ETag and LastModified); its x-amz-meta-* come with the whole GET
 * and the member holding it applies them (docs/stager.md "Small objects"). */
#define STAGE_F_META_GET 0x1u
void stage_file_fini(struct stage_file *f);

/* Part geometry of stage-out (docs/stager.md "Parts and stripes"): a part
 * is part_stripes whole stripes; nparts of a file of size bytes. */
uint64_t stage_part_stripes(uint64_t stripe, uint64_t part_size);
uint64_t stage_nparts(uint64_t size, uint64_t stripe, uint64_t part_stripes);
/* Which member moves what: the rank holding stripe 0 (a one-request file),
 * or the rank holding part p's first stripe. */
uint32_t stage_part_node(uint64_t ino, uint64_t p, uint64_t part_stripes,
			 uint32_t n);
/* Members that have work for file f: bit per rank in a caller's array of
 * n bools; returns how many. */
unsigned stage_holders(const struct stage_file *f, int dir, uint64_t stripe,
		       uint64_t part_stripes, uint32_t n, bool *holds);

/* ---- the coordinator (stage.c registry, stage_plan.c thread) ------------ */

struct stage_node_row {
	uint64_t files_total, files_done, files_failed;
	uint64_t bytes_total, bytes_done;
	uint64_t retries;          /* its S3 requests' retries, this run */
	char state[16];
};

struct bbd_stage {
	struct bbd *b;
	struct bbd_inst *inst;     /* reference held */
	struct stage_spec spec;
	int dirfd;                 /* <instdir>/stage/<name> */
	/* protected by bbd->stages->lock */
	enum stage_state state;
	char *error;               /* first errors, one per line */
	char *report;              /* where failures.csv went */
	uint64_t files_total, files_done, files_failed, files_skipped;
	uint64_t bytes_total, bytes_done;
	uint64_t retries;          /* S3 retries: the coordinator's and the
	                            * members' (this run) */
	int64_t started_ns, updated_ns, ended_ns;
	uint64_t rate_bps;
	int64_t eta_s;
	struct stage_node_row *rows; /* nmembers */
	bool running;              /* a thread runs it (joined by the next) */
	pthread_t thread;
	atomic_bool cancel;         /* STAGE_CANCEL: stop, abort, CANCELLED */
	atomic_bool halt;           /* shutdown: stop, keep the saved state */
	struct bbd_stage *next;
};

struct bbd_stages {
	pthread_mutex_t lock;
	struct bbd_stage *list;
	/* the stager thread (stage_xfer.c) */
	struct stage_xfer *xfer;
	struct stg_conf *s3conf;   /* bbd->conf.s3, borrowed */
};

/* stage.c */
void stage_set_state(struct bbd_stage *st, enum stage_state s,
		     const char *error);
/* Write the final state file (fsync'd).  Coordinator thread. */
void stage_persist_state(struct bbd_stage *st);
/* Write name in dirfd atomically and durably (tmp, fsync, rename). */
int stage_write_file(int dirfd, const char *name, const void *data,
		     size_t len);
/* Append a line to st->error (kept to the first few). */
void stage_add_error(struct bbd_stage *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* stage_plan.c: the coordinator thread's body. */
void *stage_plan_main(void *arg);

/* ---- member transfers (stage_xfer.c) --------------------------------------- */

struct stage_xfer;
ebb_err stage_xfer_start(struct bbd *b, struct stage_xfer **out);
void stage_xfer_stop(struct stage_xfer *x);
/* STAGE_WORK: queue a batch for this node (parsed into a copy).  Worker
 * or I/O thread. */
ebb_err stage_xfer_work(struct stage_xfer *x, struct bbd_inst *inst,
			const char *name, const msgpack_object *work,
			char *why, size_t whylen);
/* STAGE_POLL: this node's progress map packed into pk (drains the queue
 * of finished-file reports).  EBB_ENOENT if the stage is unknown here. */
ebb_err stage_xfer_poll(struct stage_xfer *x, const char *inst,
			const char *name, msgpack_packer *pk);
/* STAGE_CANCEL on a member: stop and forget the stage's work. */
void stage_xfer_cancel(struct stage_xfer *x, const char *inst,
		       const char *name);

#endif
