/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd stage transfers: every member moves the stripes (stage-in) or the
 * parts (stage-out) it stores, on one stager thread per bbd.
 *
 * DESIGN: the stager thread runs its own event_base, which also drives the
 * S3 client (one struct stg_s3, made on first use with the credentials
 * stg_cred_resolve() finds and the s3_* keys of ebb.conf).  STAGE_WORK
 * (an I/O thread) adds the coordinator's file list to a struct stage_run
 * and wakes the thread; the thread cuts each file into units it owns by
 * placement (stage-in: its stripes, a ranged GET each with If-Match, or one
 * whole GET with its MD5 checked for a one-stripe file; stage-out: its
 * parts, or the one PUT of a small file if it holds stripe 0) and keeps at
 * most max_inflight units in flight.  A unit is an explicit state machine:
 * planned -> (reading, stage-out) -> in flight -> done | failed; retries
 * with backoff (the retry-wait state) happen inside the S3 client, which
 * keeps the attempt count and the last error.  A file's first failed unit
 * fails the file (the rest of its units are not started).
 *
 * Small objects (STAGE_F_META_GET): the coordinator made no HEAD, so the
 * whole GET's x-amz-meta-* are checked here; if they differ from what the
 * plan gave the file, a reader thread applies them through libebb (state
 * "setattr") before the file counts as done, and the mtime applied goes
 * into the done-log line ("idx m<ns>") and the report, so the plan the
 * coordinator keeps for stage-out's "unchanged" test stays right.
 *
 * Writes: a GET's bytes are pwrite'd into the object file from the S3
 * client's sink, on the stager thread.  That is blocking disk I/O on an
 * event loop, accepted for now: the writes land in the page cache, and the
 * loop only serves this node's transfers (not clients).  Reads for
 * stage-out (own stripes with bbd_data_pread, other nodes' through
 * libebb) run on STAGE_READERS reader threads, never on the loop.
 *
 * Done-log: a finished file appends "idx[ part:etag...]" to
 * <instdir>/stage/<name>/done at once (survives a crash of bbd) and the
 * file is fdatasync'ed once a second while it changes (survives a power
 * loss up to the last second).  A new run (another coordinator run id)
 * starts from the done-log, so finished files are never moved again.
 *
 * Locks: x->lock protects the run list and everything in a run that
 * STAGE_WORK/POLL touch (files, counters, reports).  It is taken after
 * bbd->stages->lock and never held across disk or network I/O other than
 * a non-blocking stg_s3_submit().
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "ebb/ebb.h"
#include "log.h"
#include "placement.h"
#include "stage_int.h"

/* Reader threads per bbd: a part body is read one stripe after another,
 * so several readers keep several parts (and nodes) busy. */
#define STAGE_READERS 4

enum unit_state {
	UNIT_PLANNED,
	UNIT_READING,    /* stage-out: the reader thread fills the body */
	UNIT_INFLIGHT,   /* the S3 request runs (retry-waits included) */
	UNIT_SETATTR,    /* stage-in: a reader applies the GET's metadata */
	UNIT_DONE,
	UNIT_FAILED,
	UNIT_NSTATES
};

static const char *const _unit_names[UNIT_NSTATES] = {
	"planned", "reading", "in flight", "setattr", "done", "failed"
};

enum file_state { XF_WAIT, XF_ACTIVE, XF_DONE, XF_FAILED };

struct xfer_file {
	struct stage_file f;
	bool present;              /* its batch arrived */
	enum file_state state;
	unsigned nunits;           /* units this node owns */
	unsigned next_unit;        /* the next to start */
	unsigned left;             /* not finished */
	uint64_t bytes;            /* this node's bytes of it */
	enum stg_fail fail;
	char *failmsg;
	struct stg_part *parts;    /* stage-out: etags of our parts */
	unsigned nparts;
	int64_t applied_mtime;     /* stage-in: mtime from the GET's metadata
	                            * (STAGE_F_META_GET), 0 = none applied */
};

struct report {
	uint64_t idx;
	bool ok;
	enum stg_fail fail;
	char *msg;
	struct stg_part *parts;
	unsigned nparts;
	int64_t mtime_ns;          /* xfer_file.applied_mtime */
	struct report *next;
};

struct stage_run {
	struct stage_xfer *x;
	struct bbd_inst *inst;     /* reference held */
	char name[STAGE_MAX_NAME + 1];
	uint64_t run_id;
	int dir;
	char *bucket;
	uint64_t stripe, part_stripes;
	uint32_t n, rank;
	uint64_t total;            /* files in the plan */
	struct xfer_file *files;   /* total */
	bool have_all;             /* the last batch arrived */
	uint8_t *done_bits;        /* from the done-log, total bits */
	char **done_lines;         /* the rest of a done idx's line: part
	                            * etags (out), "m<ns>" (in) */
	int dirfd, donefd;
	bool done_dirty;
	uint64_t cursor;           /* first file that may have units left */
	uint64_t units_moved;      /* units finished by this run */
	uint64_t from_log;         /* files the done-log had */
	bool logged_end;
	unsigned inflight;         /* units started, not finished */
	bool abandoned;            /* replaced or cancelled */
	ebb_t *h;                  /* readers only; made under x->lock */
	/* progress */
	uint64_t files_total, files_done, files_failed;
	uint64_t bytes_total, bytes_done;
	uint64_t retries;          /* attempts after the first, summed */
	struct report *rhead, *rtail;
	struct stage_run *next;
};

struct xfer_unit {
	struct stage_run *run;
	uint64_t idx;
	unsigned part;             /* stage-out multipart: number (1..) */
	uint64_t off, len;
	bool whole;                /* stage-in: whole-object GET */
	enum unit_state state;
	void *body;
	ebb_err read_err;
	char read_msg[160];
	struct stg_meta meta[5];
	char metabuf[256];
	struct stg_attr attr;      /* UNIT_SETATTR: to apply */
	struct xfer_unit *next;
};

struct stage_xfer {
	struct bbd *b;
	pthread_t thread, reader[STAGE_READERS];
	unsigned nreaders;
	struct event_base *base;
	struct event *wake, *tick;
	pthread_mutex_t lock;
	pthread_cond_t rcond;      /* reader: work queued or stop */
	struct stage_run *runs;    /* lock */
	struct stage_run *dead;    /* abandoned, waiting for inflight 0 */
	struct xfer_unit *rq_head, *rq_tail;   /* to read; lock */
	struct xfer_unit *rd_head;             /* read; lock */
	bool stop;                 /* lock */
	unsigned inflight;         /* lock */
	unsigned max_inflight;
	/* stager thread only */
	struct stg_s3 *s3;
	char s3_err[256];
	bool s3_failed;
	int64_t cred_retry_at;     /* unix s: no renewal before */
};

static void _unit_set_state(struct xfer_unit *u, enum unit_state s)
{
	log_debug("stage %s file %" PRIu64 " unit @%" PRIu64 ": %s -> %s",
		  u->run->name, u->idx, u->off, _unit_names[u->state],
		  _unit_names[s]);
	u->state = s;
}

/* ---- runs ------------------------------------------------------------------ */

static void _report_free(struct report *r)
{
	free(r->msg);
	free(r->parts);
	free(r);
}

static void _run_free(struct stage_run *run)
{
	for (uint64_t i = 0; run->files && i < run->total; i++) {
		stage_file_fini(&run->files[i].f);
		free(run->files[i].failmsg);
		free(run->files[i].parts);
	}
	free(run->files);
	for (uint64_t i = 0; run->done_lines && i < run->total; i++)
		free(run->done_lines[i]);
	free(run->done_lines);
	free(run->done_bits);
	while (run->rhead) {
		struct report *r = run->rhead;

		run->rhead = r->next;
		_report_free(r);
	}
	if (run->h)
		ebb_detach(run->h);
	if (run->donefd >= 0)
		close(run->donefd);
	if (run->dirfd >= 0)
		close(run->dirfd);
	free(run->bucket);
	bbd_inst_unref(run->inst);
	free(run);
}

/* Take run off the list; it is freed once nothing of it is in flight. */
static void _abandon_locked(struct stage_xfer *x, struct stage_run *run)
{
	struct stage_run **pp;

	for (pp = &x->runs; *pp && *pp != run; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = run->next;
	if (!run->logged_end)
		log_info("instance %s stage %s run %" PRIx64 ": this node "
			 "stopped: %" PRIu64 " units moved, %" PRIu64
			 " files from the done-log", run->inst->id, run->name,
			 run->run_id, run->units_moved, run->from_log);
	run->abandoned = true;
	run->next = x->dead;
	x->dead = run;
}

static void _reap_dead_locked(struct stage_xfer *x)
{
	struct stage_run **pp = &x->dead, *run;

	while ((run = *pp)) {
		if (run->inflight == 0) {
			*pp = run->next;
			_run_free(run);
		} else {
			pp = &run->next;
		}
	}
}

static struct stage_run *_find_locked(struct stage_xfer *x, const char *inst,
				      const char *name)
{
	for (struct stage_run *r = x->runs; r; r = r->next)
		if (!strcmp(r->inst->id, inst) && !strcmp(r->name, name))
			return r;
	return NULL;
}

/* Read the done-log of a new run. */
static void _load_done(struct stage_run *run)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	int fd = openat(run->dirfd, "done", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !(f = fdopen(fd, "r"))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while (getline(&line, &cap, f) > 0) {
		char *end;
		uint64_t idx = strtoull(line, &end, 10);

		if (end == line || idx >= run->total)
			continue;
		run->done_bits[idx / 8] |= (uint8_t)(1u << (idx % 8));
		if (*end == ' ') {
			free(run->done_lines[idx]);
			run->done_lines[idx] = strdup(end + 1);
		}
	}
	free(line);
	fclose(f);
}

static struct stage_run *_run_new(struct stage_xfer *x, struct bbd_inst *inst,
				  const char *name, uint64_t run_id,
				  uint64_t total)
{
	struct stage_run *run = calloc(1, sizeof(*run));
	int top;

	if (!run)
		return NULL;
	run->x = x;
	run->inst = inst;
	atomic_fetch_add(&inst->refs, 1);
	snprintf(run->name, sizeof(run->name), "%s", name);
	run->run_id = run_id;
	run->total = total;
	run->n = inst->nmembers;
	run->rank = inst->rank;
	run->stripe = inst->stripe_size;
	run->dirfd = run->donefd = -1;
	run->files = calloc(total ? total : 1, sizeof(*run->files));
	run->done_bits = calloc(total / 8 + 1, 1);
	run->done_lines = calloc(total ? total : 1, sizeof(char *));
	if (mkdirat(inst->dirfd, "stage", 0700) != 0 && errno != EEXIST)
		goto fail;
	top = openat(inst->dirfd, "stage", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top >= 0) {
		if (mkdirat(top, name, 0700) == 0 || errno == EEXIST)
			run->dirfd = openat(top, name, O_RDONLY | O_DIRECTORY |
						       O_CLOEXEC);
		close(top);
	}
	if (!run->files || !run->done_bits || !run->done_lines ||
	    run->dirfd < 0)
		goto fail;
	_load_done(run);
	run->donefd = openat(run->dirfd, "done",
			     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (run->donefd < 0)
		goto fail;
	return run;
fail:
	_run_free(run);
	return NULL;
}

/* ---- progress -------------------------------------------------------------------- */

static void _report_locked(struct stage_run *run, struct xfer_file *xf,
			   uint64_t idx, bool ok)
{
	struct report *r = calloc(1, sizeof(*r));

	if (!r)
		return;
	r->idx = idx;
	r->ok = ok;
	r->fail = xf->fail;
	r->msg = xf->failmsg ? strdup(xf->failmsg) : NULL;
	r->mtime_ns = ok ? xf->applied_mtime : 0;
	if (ok && xf->nparts) {
		r->parts = malloc(xf->nparts * sizeof(*r->parts));
		if (r->parts) {
			memcpy(r->parts, xf->parts,
			       xf->nparts * sizeof(*r->parts));
			r->nparts = xf->nparts;
		}
	}
	if (run->rtail)
		run->rtail->next = r;
	else
		run->rhead = r;
	run->rtail = r;
}

/* A file of this node is finished (all its units ended). */
static void _file_end_locked(struct stage_run *run, uint64_t idx)
{
	struct xfer_file *xf = &run->files[idx];
	char line[64];

	if (xf->state == XF_FAILED || xf->fail != STG_F_MAX) {
		xf->state = XF_FAILED;
		run->files_failed++;
		_report_locked(run, xf, idx, false);
		return;
	}
	xf->state = XF_DONE;
	run->files_done++;
	/* The done-log line (one write(2): atomic with O_APPEND). */
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		if (f) {
			snprintf(line, sizeof(line), "%" PRIu64, idx);
			fputs(line, f);
			for (unsigned i = 0; i < xf->nparts; i++)
				fprintf(f, " %u:%s", xf->parts[i].number,
					xf->parts[i].etag);
			if (xf->applied_mtime)
				fprintf(f, " m%" PRId64, xf->applied_mtime);
			fputc('\n', f);
			fclose(f);
			if (write(run->donefd, buf, len) != (ssize_t)len)
				log_warn("stage %s: done-log write: %s",
					 run->name, strerror(errno));
			free(buf);
		}
		run->done_dirty = true;
	}
	_report_locked(run, xf, idx, true);
}

static void _unit_end_locked(struct xfer_unit *u, bool ok, enum stg_fail fail,
			     const char *msg)
{
	struct stage_run *run = u->run;
	struct stage_xfer *x = run->x;
	struct xfer_file *xf = &run->files[u->idx];

	_unit_set_state(u, ok ? UNIT_DONE : UNIT_FAILED);
	x->inflight--;
	run->inflight--;
	if (run->abandoned)
		return;
	if (ok) {
		run->bytes_done += u->len;
		run->units_moved++;
	} else if (xf->fail == STG_F_MAX) {
		xf->fail = fail;
		xf->failmsg = strdup(msg ? msg : "failed");
		/* no more units of it */
		xf->left -= xf->nunits - xf->next_unit;
		xf->next_unit = xf->nunits;
	}
	if (--xf->left == 0)
		_file_end_locked(run, u->idx);
}

/* ---- units --------------------------------------------------------------------------- */

/* Stage-in units of a file on this node: its stripes (n > 1), or groups
 * of up to 8 MiB of them (n == 1, where every stripe is local). */
static uint64_t _in_group(const struct stage_run *run)
{
	uint64_t g = (8ull << 20) / run->stripe;

	return run->n == 1 && g > 1 ? g : 1;
}

static unsigned _count_units(struct stage_run *run, struct xfer_file *xf,
			     uint64_t *bytes)
{
	const struct stage_file *f = &xf->f;
	uint64_t nstripes = (f->size + run->stripe - 1) / run->stripe;
	unsigned k = 0;

	*bytes = 0;
	if (run->dir == EBB_STAGE_IN) {
		uint64_t g = _in_group(run);

		if (run->n == 1) {
			*bytes = f->size;
			return (unsigned)((nstripes + g - 1) / g);
		}
		for (uint64_t s = 0; s < nstripes; s++)
			if (placement_stripe_node(f->ino, s, run->n) ==
			    run->rank) {
				uint64_t end = (s + 1) * run->stripe;

				*bytes += (end > f->size ? f->size : end) -
					  s * run->stripe;
				k++;
			}
		return k;
	}
	if (!f->tag) {
		if (placement_stripe_node(f->ino, 0, run->n) != run->rank)
			return 0;
		*bytes = f->size;
		return 1;
	}
	for (uint64_t p = 0;
	     p < stage_nparts(f->size, run->stripe, run->part_stripes); p++)
		if (stage_part_node(f->ino, p, run->part_stripes, run->n) ==
		    run->rank) {
			uint64_t len = run->part_stripes * run->stripe,
				 off = p * len;

			*bytes += off + len > f->size ? f->size - off : len;
			k++;
		}
	return k;
}

/* The u-th unit of xf on this node: its byte range (and part number). */
static void _unit_range(struct stage_run *run, struct xfer_file *xf,
			unsigned u, struct xfer_unit *out)
{
	const struct stage_file *f = &xf->f;
	uint64_t nstripes = (f->size + run->stripe - 1) / run->stripe;
	unsigned k = 0;

	if (run->dir == EBB_STAGE_IN) {
		uint64_t g = _in_group(run), s0 = 0, cnt = 1;

		if (run->n == 1) {
			s0 = (uint64_t)u * g;
			cnt = s0 + g > nstripes ? nstripes - s0 : g;
		} else {
			for (uint64_t s = 0; s < nstripes; s++)
				if (placement_stripe_node(f->ino, s, run->n) ==
				    run->rank && k++ == u) {
					s0 = s;
					break;
				}
		}
		out->off = s0 * run->stripe;
		out->len = (s0 + cnt) * run->stripe > f->size ?
				   f->size - out->off :
				   cnt * run->stripe;
		out->whole = nstripes == 1;
		return;
	}
	if (!f->tag) {
		out->off = 0;
		out->len = f->size;
		return;
	}
	for (uint64_t p = 0;; p++)
		if (stage_part_node(f->ino, p, run->part_stripes, run->n) ==
		    run->rank && k++ == u) {
			uint64_t plen = run->part_stripes * run->stripe;

			out->part = (unsigned)p + 1;
			out->off = p * plen;
			out->len = out->off + plen > f->size ?
					   f->size - out->off : plen;
			return;
		}
}

static int _sink(void *arg, uint64_t off, const void *data, size_t len)
{
	struct xfer_unit *u = arg;
	struct stage_run *run = u->run;
	ebb_err e;

	if (run->abandoned)
		return ECANCELED;
	/* Blocking pwrite on the loop thread: see DESIGN. */
	e = bbd_data_pwrite(run->inst, run->files[u->idx].f.ino, data, len,
			    off);
	return e == EBB_OK ? 0 : ebb_err_to_errno(e);
}

/* Queue u for a reader thread in state s (UNIT_READING: fill its body;
 * UNIT_SETATTR: apply u->attr).  Lock held. */
static void _to_readers_locked(struct stage_xfer *x, struct xfer_unit *u,
			       enum unit_state s)
{
	_unit_set_state(u, s);
	if (x->rq_tail)
		x->rq_tail->next = u;
	else
		x->rq_head = u;
	x->rq_tail = u;
	pthread_cond_signal(&x->rcond);
}

/* Stage-in of a STAGE_F_META_GET object, read whole: does its metadata
 * change what the plan gave the file?  If so, hand u to a reader thread
 * (UNIT_SETATTR) and return true.  Metadata of a symlink or a device on
 * an object too big to be a symlink's target: u is marked failed (state
 * UNIT_FAILED, why in u->read_msg), false.  Lock held. */
static bool _meta_check_locked(struct stage_xfer *x, struct xfer_unit *u,
			       const struct stg_result *res)
{
	struct stage_run *run = u->run;
	const struct stage_file *f = &run->files[u->idx].f;
	struct stg_attr a;
	char warn[256];

	if (run->dir != EBB_STAGE_IN || !u->whole || run->abandoned ||
	    !(f->flags & STAGE_F_META_GET))
		return false;
	if (!stg_attr_from_meta(res->meta, res->nmeta, 'f', f->uid, f->gid,
				f->mtime_ns, &a, warn, sizeof(warn)))
		return false;   /* no metadata: the plan's defaults stand */
	if (warn[0])
		log_warn("stage %s: %s: %s", run->name, f->key, warn);
	if (!S_ISREG(a.mode)) {
		snprintf(u->read_msg, sizeof(u->read_msg),
			 "metadata gives mode 0%o to an object of %" PRIu64
			 " bytes (a symlink target is at most %u)", a.mode,
			 f->size, (unsigned)PROTO_MAX_TARGET);
		u->state = UNIT_FAILED;
		return false;
	}
	if (a.mode == f->mode && a.uid == f->uid && a.gid == f->gid &&
	    a.atime_ns == f->atime_ns && a.mtime_ns == f->mtime_ns)
		return false;
	u->attr = a;
	_to_readers_locked(x, u, UNIT_SETATTR);
	return true;
}

static void _s3_done(const struct stg_result *res, void *arg)
{
	struct xfer_unit *u = arg;
	struct stage_run *run = u->run;
	struct stage_xfer *x = run->x;
	char msg[400];

	pthread_mutex_lock(&x->lock);
	if (res->attempts > 1)
		run->retries += res->attempts - 1;
	if (res->err == EBB_OK && _meta_check_locked(x, u, res))
		goto queued;   /* a reader applies the metadata */
	if (res->err == EBB_OK && u->state == UNIT_FAILED) {
		/* _meta_check_locked() refused it */
		_unit_end_locked(u, false, STG_F_UNSUPPORTED, u->read_msg);
	} else if (res->err == EBB_OK) {
		struct xfer_file *xf = &run->files[u->idx];

		if (u->part && !run->abandoned) {
			struct stg_part *np = realloc(xf->parts,
				(xf->nparts + 1) * sizeof(*np));

			if (np) {
				xf->parts = np;
				np[xf->nparts].number = u->part;
				snprintf(np[xf->nparts].etag,
					 sizeof(np->etag), "%s", res->etag);
				xf->nparts++;
			}
		}
		_unit_end_locked(u, true, STG_F_MAX, NULL);
	} else {
		enum stg_fail f = stg_fail_of(res);

		if (res->err != EBB_E_S3 && res->err != EBB_EIO &&
		    res->err != EBB_ETIMEDOUT && res->err != EBB_ENOENT &&
		    res->err != EBB_EACCES && !res->http_status)
			f = STG_F_INTERNAL;   /* the sink's own error */
		snprintf(msg, sizeof(msg), "%s%s%s", res->message,
			 f == STG_F_INTERNAL ? ": " : "",
			 f == STG_F_INTERNAL ? ebb_strerror(res->err) : "");
		_unit_end_locked(u, false, f, msg);
	}
	pthread_mutex_unlock(&x->lock);
	free(u->body);
	free(u);
	event_active(x->wake, EV_READ, 0);
	return;
queued:
	pthread_mutex_unlock(&x->lock);
}

/* Make sure the S3 client exists.  Stager thread. */
static bool _s3(struct stage_xfer *x)
{
	struct stg_cred cred;

	if (x->s3)
		return true;
	if (x->s3_failed)
		return false;
	if (stg_cred_resolve(&x->b->conf.s3, &cred, x->s3_err,
			     sizeof(x->s3_err)) != EBB_OK ||
	    !(x->s3 = stg_s3_new(x->base, &x->b->conf.s3, &cred, x->s3_err,
				 sizeof(x->s3_err)))) {
		log_error("stager: %s", x->s3_err);
		x->s3_failed = true;   /* until a new run asks again */
		return false;
	}
	return true;
}

/* Start the S3 request of u (its body read if stage-out).  Lock held. */
static void _submit_locked(struct stage_xfer *x, struct xfer_unit *u)
{
	struct stage_run *run = u->run;
	struct xfer_file *xf = &run->files[u->idx];
	struct stg_call c = {0};
	char err[256];

	c.bucket = run->bucket;
	c.key = xf->f.key;
	if (run->dir == EBB_STAGE_IN) {
		c.op = STG_GET;
		c.off = u->whole ? 0 : u->off;
		c.len = u->whole ? 0 : u->len;
		c.if_match = xf->f.tag;
		c.sink = _sink;
		c.sink_arg = u;
	} else {
		struct stg_attr a = {
			.mode = xf->f.mode, .uid = xf->f.uid, .gid = xf->f.gid,
			.atime_ns = xf->f.atime_ns, .mtime_ns = xf->f.mtime_ns,
		};

		c.body = u->body;
		c.body_len = (size_t)u->len;
		if (u->part) {
			c.op = STG_MPU_PART;
			c.upload_id = xf->f.tag;
			c.part_number = u->part;
		} else {
			c.op = STG_PUT;
			c.nmeta = stg_attr_to_meta(&a, u->meta, u->metabuf,
						   sizeof(u->metabuf));
			c.meta = u->meta;
		}
	}
	_unit_set_state(u, UNIT_INFLIGHT);
	if (stg_s3_submit(x->s3, &c, _s3_done, u, err, sizeof(err)) !=
	    EBB_OK) {
		_unit_end_locked(u, false, STG_F_INTERNAL, err);
		free(u->body);
		free(u);
	}
}

/* Start what may start.  Stager thread. */
static void _pump(struct stage_xfer *x)
{
	bool have_s3 = true;
	const char *pause = getenv("EBB_TEST_STAGE_PAUSE");

	/* Test hook (tests/stager/stage.t): no new unit starts while this
	 * file exists, so a test can change S3 between plan and transfer.
	 * The tick re-checks it every second. */
	if (pause && *pause && access(pause, F_OK) == 0)
		return;
	/* The S3 client first, with no lock held: making it may block
	 * (credentials from IMDS).  Only this thread touches x->s3. */
	pthread_mutex_lock(&x->lock);
	if (x->runs && !x->s3) {
		pthread_mutex_unlock(&x->lock);
		have_s3 = _s3(x);
		pthread_mutex_lock(&x->lock);
	} else {
		have_s3 = x->s3 != NULL;
	}
	_reap_dead_locked(x);
	/* bodies the reader finished */
	while (x->rd_head) {
		struct xfer_unit *u = x->rd_head;

		x->rd_head = u->next;
		u->next = NULL;
		if (u->state == UNIT_SETATTR && !u->run->abandoned &&
		    u->read_err == EBB_OK) {
			u->run->files[u->idx].applied_mtime = u->attr.mtime_ns;
			_unit_end_locked(u, true, STG_F_MAX, NULL);
			free(u);
			continue;
		}
		if (u->run->abandoned || u->read_err != EBB_OK) {
			_unit_end_locked(u, false, STG_F_INTERNAL,
					 u->read_msg);
			free(u->body);
			free(u);
			continue;
		}
		_submit_locked(x, u);
	}
	for (struct stage_run *run = x->runs; run; run = run->next) {
		while (x->inflight < x->max_inflight &&
		       run->cursor < run->total) {
			struct xfer_file *xf = &run->files[run->cursor];
			struct xfer_unit *u;

			if (!xf->present)
				break;
			if (xf->state != XF_ACTIVE ||
			    xf->next_unit >= xf->nunits) {
				run->cursor++;
				continue;
			}
			if (!(u = calloc(1, sizeof(*u))))
				break;
			u->run = run;
			u->idx = run->cursor;
			_unit_range(run, xf, xf->next_unit++, u);
			x->inflight++;
			run->inflight++;
			if (!have_s3) {
				_unit_end_locked(u, false, STG_F_ACCESS_DENIED,
						 x->s3_err);
				free(u);
				continue;
			}
			if (run->dir == EBB_STAGE_OUT) {
				_to_readers_locked(x, u, UNIT_READING);
				continue;
			}
			_submit_locked(x, u);
		}
	}
	pthread_mutex_unlock(&x->lock);
}

/* ---- the reader thread (stage-out bodies) --------------------------------------------- */

/* The run's libebb handle (as root), made on first use.  Reader thread. */
static ebb_t *_run_handle(struct stage_xfer *x, struct stage_run *run)
{
	ebb_t *h;

	pthread_mutex_lock(&x->lock);
	if (!run->h) {
		struct ebb_options o = {
			.munge_socket = x->b->conf.munge_socket,
		};

		run->h = ebb_attach(run->inst->id,
				    (const char *const *)run->inst->members,
				    run->inst->nmembers, &o);
	}
	h = run->h;
	pthread_mutex_unlock(&x->lock);
	return h;
}

/* UNIT_SETATTR: give the file the mode, owner and times of its object's
 * metadata (one SETATTR on its parent's entry).  Reader thread. */
static ebb_err _apply_attr(struct stage_xfer *x, struct xfer_unit *u)
{
	struct stage_run *run = u->run;
	const struct stage_file *f = &run->files[u->idx].f;
	const char *slash = strrchr(f->path, '/');
	struct ebb_stat ps, in = {0};
	char *parent;
	ebb_t *h = _run_handle(x, run);
	int rc;

	if (!h || !slash)
		return h ? EBB_EINVAL : ebb_err_from_errno(errno);
	parent = strndup(f->path, slash == f->path ? 1 : (size_t)(slash - f->path));
	if (!parent)
		return EBB_ENOMEM;
	in.mode = u->attr.mode;
	in.uid = u->attr.uid;
	in.gid = u->attr.gid;
	in.atime.tv_sec = u->attr.atime_ns / 1000000000;
	in.atime.tv_nsec = u->attr.atime_ns % 1000000000;
	in.mtime.tv_sec = u->attr.mtime_ns / 1000000000;
	in.mtime.tv_nsec = u->attr.mtime_ns % 1000000000;
	rc = ebb_lstat(h, parent, &ps);
	if (rc == 0)
		rc = ebb_setattrat(h, ps.ino, slash + 1,
				   EBB_SET_MODE | EBB_SET_UID | EBB_SET_GID |
				   EBB_SET_ATIME | EBB_SET_MTIME, &in, NULL);
	free(parent);
	if (rc != 0) {
		ebb_err e = ebb_err_from_errno(errno);

		snprintf(u->read_msg, sizeof(u->read_msg),
			 "set the metadata of %s: %s", f->path,
			 ebb_strerror(e));
		return e;
	}
	return EBB_OK;
}

static ebb_err _read_body(struct stage_xfer *x, struct xfer_unit *u)
{
	struct stage_run *run = u->run;
	const struct stage_file *f = &run->files[u->idx].f;
	ebb_file_t *fh = NULL;
	uint64_t pos = u->off, end = u->off + u->len;
	ebb_err e = EBB_OK;

	if (!(u->body = malloc(u->len ? u->len : 1)))
		return EBB_ENOMEM;
	while (pos < end) {
		uint64_t s = pos / run->stripe,
			 send = (s + 1) * run->stripe;
		size_t n = (size_t)((send < end ? send : end) - pos);

		if (placement_stripe_node(f->ino, s, run->n) == run->rank) {
			/* our own stripe: straight from the object file */
			e = bbd_data_pread(run->inst, f->ino,
					   (char *)u->body + (pos - u->off), n,
					   pos);
		} else {
			if (!_run_handle(x, run)) {
				e = ebb_err_from_errno(errno);
				break;
			}
			if (!fh && !(fh = ebb_open(run->h, f->path, O_RDONLY,
						   0))) {
				e = ebb_err_from_errno(errno);
				break;
			}
			if (ebb_pread(fh, (char *)u->body + (pos - u->off), n,
				      (off_t)pos) != (ssize_t)n) {
				e = ebb_err_from_errno(errno ? errno : EIO);
				break;
			}
		}
		if (e != EBB_OK)
			break;
		pos += n;
	}
	if (fh)
		ebb_close(fh);
	if (e != EBB_OK)
		snprintf(u->read_msg, sizeof(u->read_msg), "read %s: %s",
			 f->path, ebb_strerror(e));
	return e;
}

static void *_reader_main(void *arg)
{
	struct stage_xfer *x = arg;

	pthread_mutex_lock(&x->lock);
	for (;;) {
		struct xfer_unit *u;

		while (!x->rq_head && !x->stop)
			pthread_cond_wait(&x->rcond, &x->lock);
		if (!x->rq_head)
			break;
		u = x->rq_head;
		if (!(x->rq_head = u->next))
			x->rq_tail = NULL;
		u->next = NULL;
		pthread_mutex_unlock(&x->lock);
		u->read_err = u->run->abandoned ? EBB_EIO :
			      u->state == UNIT_SETATTR ? _apply_attr(x, u) :
							 _read_body(x, u);
		pthread_mutex_lock(&x->lock);
		u->next = x->rd_head;
		x->rd_head = u;
		event_active(x->wake, EV_READ, 0);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* ---- the stager thread --------------------------------------------------------------- */

static void _wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stage_xfer *x = arg;
	bool stop;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&x->lock);
	stop = x->stop;
	pthread_mutex_unlock(&x->lock);
	if (stop && (!x->s3 || stg_s3_pending(x->s3) == 0)) {
		event_base_loopbreak(x->base);
		return;
	}
	_pump(x);
}

/* Credentials that expire (IMDS role, session token) are resolved again
 * STG_CRED_REFRESH_S before they do, at most once a minute; the S3
 * client signs what starts afterwards with the new ones.  Blocking (IMDS)
 * on the stager thread: a second at worst, every few hours.  Stager
 * thread. */
static void _cred_refresh(struct stage_xfer *x)
{
	struct stg_cred cred;
	char err[256];
	int64_t now = time(NULL), left;

	if (!x->s3 || now < x->cred_retry_at ||
	    !stg_cred_expiring(stg_s3_cred(x->s3), now, STG_CRED_REFRESH_S))
		return;
	x->cred_retry_at = now + 60;
	left = stg_s3_cred(x->s3)->expires - now;
	if (stg_cred_resolve(&x->b->conf.s3, &cred, err, sizeof(err)) ==
		    EBB_OK &&
	    stg_s3_set_cred(x->s3, &cred, err, sizeof(err)) == EBB_OK)
		log_info("stager: credentials renewed (%s), %lld s before the "
			 "old ones expire", cred.source, (long long)left);
	else
		log_warn("stager: credentials expire in %lld s and could not "
			 "be renewed: %s", (long long)left, err);
	explicit_bzero(&cred, sizeof(cred));
}

/* Once a second: fdatasync the done-logs that changed. */
static void _tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stage_xfer *x = arg;
	int fds[64];
	unsigned k = 0;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&x->lock);
	for (struct stage_run *r = x->runs; r && k < 64; r = r->next)
		if (r->done_dirty) {
			r->done_dirty = false;
			if ((fds[k] = dup(r->donefd)) >= 0)
				k++;
		}
	pthread_mutex_unlock(&x->lock);
	for (unsigned i = 0; i < k; i++) {
		(void)fdatasync(fds[i]);
		close(fds[i]);
	}
	_cred_refresh(x);
	_wake_cb(-1, 0, x);
}

static void *_xfer_main(void *arg)
{
	struct stage_xfer *x = arg;

	event_base_dispatch(x->base);
	return NULL;
}

ebb_err stage_xfer_start(struct bbd *b, struct stage_xfer **out)
{
	struct stage_xfer *x = calloc(1, sizeof(*x));
	struct timeval one = {1, 0};

	if (!x)
		return EBB_ENOMEM;
	x->b = b;
	x->max_inflight = b->conf.s3.max_inflight ? b->conf.s3.max_inflight : 32;
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->rcond, NULL);
	x->base = event_base_new();
	if (!x->base)
		goto fail;
	x->wake = event_new(x->base, -1, EV_PERSIST, _wake_cb, x);
	x->tick = event_new(x->base, -1, EV_PERSIST, _tick_cb, x);
	if (!x->wake || !x->tick || event_add(x->wake, NULL) != 0 ||
	    event_add(x->tick, &one) != 0)
		goto fail;
	if (pthread_create(&x->thread, NULL, _xfer_main, x) != 0)
		goto fail;
	for (; x->nreaders < STAGE_READERS; x->nreaders++)
		if (pthread_create(&x->reader[x->nreaders], NULL, _reader_main,
				   x) != 0)
			break;
	if (x->nreaders == 0) {
		event_base_loopbreak(x->base);
		pthread_join(x->thread, NULL);
		goto fail;
	}
	*out = x;
	return EBB_OK;
fail:
	if (x->wake)
		event_free(x->wake);
	if (x->tick)
		event_free(x->tick);
	if (x->base)
		event_base_free(x->base);
	free(x);
	return EBB_ENOMEM;
}

void stage_xfer_stop(struct stage_xfer *x)
{
	if (!x)
		return;
	pthread_mutex_lock(&x->lock);
	x->stop = true;
	while (x->runs)
		_abandon_locked(x, x->runs);
	pthread_cond_broadcast(&x->rcond);
	pthread_mutex_unlock(&x->lock);
	for (unsigned i = 0; i < x->nreaders; i++)
		pthread_join(x->reader[i], NULL);
	/* Requests in flight end (their sinks refuse more bytes) before the
	 * loop stops; the tick re-checks every second. */
	event_active(x->wake, EV_READ, 0);
	pthread_join(x->thread, NULL);
	pthread_mutex_lock(&x->lock);
	while (x->rd_head) {
		struct xfer_unit *u = x->rd_head;

		x->rd_head = u->next;
		u->run->inflight--;
		free(u->body);
		free(u);
	}
	for (struct stage_run *r = x->dead; r; r = r->next)
		r->inflight = 0;
	_reap_dead_locked(x);
	pthread_mutex_unlock(&x->lock);
	if (x->s3)
		stg_s3_free(x->s3);
	event_free(x->wake);
	event_free(x->tick);
	event_base_free(x->base);
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->rcond);
	free(x);
}

/* ---- STAGE_WORK / STAGE_POLL / STAGE_CANCEL -------------------------------------------- */

static char *_ostr(const msgpack_object *o)
{
	if (!o || o->type != MSGPACK_OBJECT_STR ||
	    memchr(o->via.str.ptr, 0, o->via.str.size))
		return NULL;
	return strndup(o->via.str.ptr, o->via.str.size);
}

static uint64_t _ou64(const msgpack_object *o)
{
	return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 :
								0;
}

static int64_t _oi64(const msgpack_object *o)
{
	if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return o->via.i64;
	return (int64_t)_ou64(o);
}

/* Parse stage-out part etags "1:"etag" 3:"etag"" of a done-log line. */
static void _parse_parts(struct xfer_file *xf, const char *line)
{
	while (line && *line) {
		char *end;
		unsigned long num = strtoul(line, &end, 10);
		const char *sp;
		struct stg_part *np;

		if (end == line || *end != ':')
			break;
		sp = strpbrk(end + 1, " \n");
		if (!sp)
			sp = end + 1 + strlen(end + 1);
		np = realloc(xf->parts, (xf->nparts + 1) * sizeof(*np));
		if (!np)
			break;
		xf->parts = np;
		np[xf->nparts].number = (unsigned)num;
		snprintf(np[xf->nparts].etag, sizeof(np->etag), "%.*s",
			 (int)(sp - end - 1), end + 1);
		xf->nparts++;
		line = *sp == ' ' ? sp + 1 : NULL;
	}
}

ebb_err stage_xfer_work(struct stage_xfer *x, struct bbd_inst *inst,
			const char *name, const msgpack_object *m,
			char *why, size_t whylen)
{
	const msgpack_object *files = proto_map_get(m, "files");
	uint64_t run_id = _ou64(proto_map_get(m, "run")),
		 total = _ou64(proto_map_get(m, "total")),
		 first = _ou64(proto_map_get(m, "first"));
	struct stage_run *run;
	ebb_err e = EBB_OK;

	if (m->type != MSGPACK_OBJECT_MAP || !files ||
	    files->type != MSGPACK_OBJECT_ARRAY || total > (1ull << 32) ||
	    first > total || files->via.array.size > total - first) {
		snprintf(why, whylen, "bad work map");
		return EBB_E_PROTO;
	}
	pthread_mutex_lock(&x->lock);
	if (x->stop) {
		pthread_mutex_unlock(&x->lock);
		snprintf(why, whylen, "shutting down");
		return EBB_EAGAIN;
	}
	run = _find_locked(x, inst->id, name);
	if (run && (run->run_id != run_id || run->total != total)) {
		_abandon_locked(x, run);   /* a new coordinator run */
		run = NULL;
	}
	if (!run) {
		run = _run_new(x, inst, name, run_id, total);
		if (!run) {
			pthread_mutex_unlock(&x->lock);
			snprintf(why, whylen, "cannot set up the stage: %s",
				 strerror(errno));
			return EBB_EIO;
		}
		run->dir = _ou64(proto_map_get(m, "dir")) ? EBB_STAGE_OUT :
							    EBB_STAGE_IN;
		run->bucket = _ostr(proto_map_get(m, "bucket"));
		run->part_stripes = _ou64(proto_map_get(m, "part_stripes"));
		if (!run->part_stripes)
			run->part_stripes = 1;
		run->next = x->runs;
		x->runs = run;
		x->s3_failed = false;   /* credentials may be fixed now */
	}
	for (uint32_t i = 0; i < files->via.array.size; i++) {
		const msgpack_object *a = &files->via.array.ptr[i];
		uint64_t idx = first + i;
		struct xfer_file *xf = &run->files[idx];
		const msgpack_object *v;

		if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size < 10) {
			e = EBB_E_PROTO;
			break;
		}
		if (xf->present)
			continue;   /* a repeated batch */
		v = a->via.array.ptr;
		xf->f.ino = _ou64(&v[0]);
		xf->f.key = _ostr(&v[1]);
		xf->f.tag = _ostr(&v[2]);
		xf->f.size = _ou64(&v[3]);
		xf->f.path = _ostr(&v[4]);
		xf->f.mode = (uint32_t)_ou64(&v[5]);
		xf->f.uid = (uint32_t)_ou64(&v[6]);
		xf->f.gid = (uint32_t)_ou64(&v[7]);
		xf->f.atime_ns = _oi64(&v[8]);
		xf->f.mtime_ns = _oi64(&v[9]);
		xf->f.flags = a->via.array.size > 10 ?
				      (uint32_t)_ou64(&v[10]) : 0;
		xf->fail = STG_F_MAX;
		xf->present = true;
		if (!xf->f.key || !xf->f.path) {
			e = EBB_E_PROTO;
			break;
		}
		xf->nunits = _count_units(run, xf, &xf->bytes);
		if (xf->nunits == 0) {
			xf->state = XF_DONE;    /* nothing here */
			continue;
		}
		run->files_total++;
		run->bytes_total += xf->bytes;
		if (run->done_bits[idx / 8] & (1u << (idx % 8))) {
			/* finished by an earlier run: report, do not redo */
			xf->state = XF_DONE;
			if (run->dir == EBB_STAGE_OUT)
				_parse_parts(xf, run->done_lines[idx]);
			else if (run->done_lines[idx] &&
				 run->done_lines[idx][0] == 'm')
				xf->applied_mtime = strtoll(
					run->done_lines[idx] + 1, NULL, 10);
			run->files_done++;
			run->bytes_done += xf->bytes;
			run->from_log++;
			_report_locked(run, xf, idx, true);
			continue;
		}
		xf->state = XF_ACTIVE;
		xf->left = xf->nunits;
	}
	if (_ou64(proto_map_get(m, "resync"))) {
		/* the coordinator may have lost replies: report again */
		for (uint64_t i = 0; i < run->total; i++) {
			struct xfer_file *xf = &run->files[i];

			if (xf->present && xf->nunits &&
			    (xf->state == XF_DONE || xf->state == XF_FAILED))
				_report_locked(run, xf, i,
					       xf->state == XF_DONE);
		}
	}
	if (_ou64(proto_map_get(m, "last")) ||
	    (proto_map_get(m, "last") &&
	     proto_map_get(m, "last")->type == MSGPACK_OBJECT_BOOLEAN &&
	     proto_map_get(m, "last")->via.boolean))
		run->have_all = true;
	pthread_mutex_unlock(&x->lock);
	if (e != EBB_OK)
		snprintf(why, whylen, "bad file entry in the work map");
	event_active(x->wake, EV_READ, 0);
	return e;
}

static void _pk_str(msgpack_packer *pk, const char *s)
{
	if (!s) {
		msgpack_pack_nil(pk);
		return;
	}
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

ebb_err stage_xfer_poll(struct stage_xfer *x, const char *inst,
			const char *name, msgpack_packer *pk)
{
	struct stage_run *run;
	struct report *r, *last = NULL;
	size_t bytes = 0;
	unsigned k = 0;
	bool finished;

	pthread_mutex_lock(&x->lock);
	run = _find_locked(x, inst, name);
	if (!run) {
		pthread_mutex_unlock(&x->lock);
		return EBB_ENOENT;
	}
	for (r = run->rhead; r && bytes < STAGE_POLL_BYTES; r = r->next) {
		bytes += 24 + (r->msg ? strlen(r->msg) : 0) + r->nparts * 90;
		last = r;
		k++;
	}
	finished = run->have_all &&
		   run->files_done + run->files_failed == run->files_total &&
		   (!last || !last->next);
	if (finished && !run->logged_end) {
		run->logged_end = true;
		log_info("instance %s stage %s run %" PRIx64 ": this node "
			 "finished: %" PRIu64 " units moved, %" PRIu64
			 " files from the done-log, %" PRIu64 " failed",
			 inst, name, run->run_id, run->units_moved,
			 run->from_log, run->files_failed);
	}
	msgpack_pack_map(pk, 10);
	_pk_str(pk, "run");
	msgpack_pack_uint64(pk, run->run_id);
	_pk_str(pk, "state");
	_pk_str(pk, finished ? (run->files_failed ? "failed" : "done") :
			       "running");
	_pk_str(pk, "files_total");
	msgpack_pack_uint64(pk, run->files_total);
	_pk_str(pk, "files_done");
	msgpack_pack_uint64(pk, run->files_done);
	_pk_str(pk, "files_failed");
	msgpack_pack_uint64(pk, run->files_failed);
	_pk_str(pk, "bytes_total");
	msgpack_pack_uint64(pk, run->bytes_total);
	_pk_str(pk, "bytes_done");
	msgpack_pack_uint64(pk, run->bytes_done);
	_pk_str(pk, "retries");
	msgpack_pack_uint64(pk, run->retries);
	_pk_str(pk, "more");
	if (last && last->next)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	_pk_str(pk, "reports");
	msgpack_pack_array(pk, k);
	while (k--) {
		r = run->rhead;
		run->rhead = r->next;
		if (!run->rhead)
			run->rtail = NULL;
		msgpack_pack_array(pk, 6);
		msgpack_pack_uint64(pk, r->idx);
		if (r->ok)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		msgpack_pack_uint64(pk, (uint64_t)r->fail);
		_pk_str(pk, r->msg);
		msgpack_pack_array(pk, r->nparts);
		for (unsigned i = 0; i < r->nparts; i++) {
			msgpack_pack_array(pk, 2);
			msgpack_pack_uint64(pk, r->parts[i].number);
			_pk_str(pk, r->parts[i].etag);
		}
		msgpack_pack_int64(pk, r->mtime_ns);
		_report_free(r);
	}
	pthread_mutex_unlock(&x->lock);
	return EBB_OK;
}

void stage_xfer_cancel(struct stage_xfer *x, const char *inst,
		       const char *name)
{
	struct stage_run *run, *next;

	if (!x)
		return;
	pthread_mutex_lock(&x->lock);
	for (run = x->runs; run; run = next) {
		next = run->next;
		if (!strcmp(run->inst->id, inst) &&
		    (!name || !strcmp(run->name, name)))
			_abandon_locked(x, run);
	}
	pthread_mutex_unlock(&x->lock);
	event_active(x->wake, EV_READ, 0);
}
