/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd stage coordinator internals, shared by the planning half
 * (stage_plan.c) and the running half (stage_run.c) of rank 0's thread.
 * Everything here belongs to the one coordinator thread of a stage. */
#ifndef EBB_BBD_STAGE_COORD_INT_H
#define EBB_BBD_STAGE_COORD_INT_H

#include "stage_int.h"
#include "stagelink_int.h"
#include "ebb/ebb.h"

#define MEMBER_DEAD_MS (300 * 1000)
/* A member that answers "no such instance" this long lost its share (a
 * bbd that restarts reopens its instances before it listens): the stage
 * fails then, not after MEMBER_DEAD_MS. */
#define MEMBER_NOINST_MS (5 * 1000)

struct pfail {
	char *path;
	enum stg_fail code;
	char *msg;
};

struct coord {
	struct bbd_stage *st;
	struct bbd *b;
	struct bbd_inst *inst;
	uint32_t n;
	char bucket[S3PATH_MAX_BUCKET + 1];
	char key[S3PATH_MAX_KEY + 1];
	struct stg_cred cred;
	bool have_cred;
	int64_t cred_retry_at;     /* unix s: no renewal before */
	ebb_t *h;
	struct ebb_stage_link *link;
	uint64_t run_id, part_stripes;
	/* the plan */
	struct stage_file *files;
	size_t nfiles, capfiles;
	struct pfail *fails;
	size_t nfails, capfails;
	uint64_t skipped;
	uint64_t bytes;
	/* the tally */
	uint32_t *left;            /* holders not reported yet */
	uint8_t *seen;             /* bit (file * n + member) */
	bool *failed, *finished;
	enum stg_fail *fcode;
	char **fmsg;
	struct stg_part **parts;
	unsigned *nparts;
	uint64_t nfinished, nfailed;
	bool plan_dirty;           /* files[].mtime_ns changed: save again */
	uint64_t retries;          /* of the coordinator's own S3 requests */
	bool *resync, *resend;
	int64_t *last_ok_ms;
	int64_t *noinst_ms;        /* since when a member says "no instance" */
	char err[1024];
};

/* stage_plan.c */
int64_t coord_ms(void);
/* Halt, cancel, or the instance is being destroyed. */
bool coord_stop(struct coord *c);
/* A failure found while planning (copied). */
void coord_add_fail(struct coord *c, const char *path, enum stg_fail code,
		    const char *msg);
/* A new zeroed plan entry, or NULL (no memory). */
struct stage_file *coord_add_file(struct coord *c);
/* dest + "/" + rel as one absolute path; malloc'd. */
char *coord_join(const char *dest, const char *rel);
/* libebb attached to the instance as root (once). */
ebb_t *coord_attach(struct coord *c);
ebb_err coord_creds(struct coord *c);
/* One S3 call to its end (its retries counted); res freed by the
 * caller. */
ebb_err coord_sync(struct coord *c, const struct stg_call *call,
		   struct stg_result *res);
/* mkdir -p (0755, the job's user); *last remembers the last one made. */
ebb_err coord_mkdirs(struct coord *c, const char *path, char **last);
void coord_pk_str(msgpack_packer *pk, const char *s);
/* A plan entry as STAGE_WORK and the plan file carry it. */
void coord_pack_entry(msgpack_packer *pk, const struct stage_file *f);
ebb_err coord_save_plan(struct coord *c);
/* Where a stage-in's report goes: <destination>/.ebb, or the .ebb beside
 * the file when one object went to a file path; malloc'd. */
char *coord_report_dir(struct coord *c);
/* Read dirfd's plan file into c; false if there is none. */
bool coord_load_plan(struct coord *c, int dirfd);
/* Plan a stage-in / stage-out (docs/stager.md); fatal errors in c->err. */
ebb_err coord_plan_in(struct coord *c);
ebb_err coord_plan_out(struct coord *c);

#endif
