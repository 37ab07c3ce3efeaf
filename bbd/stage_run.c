/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd stage coordinator, the running half: sends the plan to the members,
 * polls them, counts finished files, completes or aborts multipart
 * uploads, writes failures.csv and publishes progress; and the thread's
 * body (stage_plan_main), which plans first (stage_plan.c) unless a saved
 * plan exists.  DESIGN: see stage_plan.c and docs/stager.md.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "placement.h"
#include "stage_coord_int.h"

/* ---- running: work, polls, tally ------------------------------------------------------- */

static ebb_err _send_work(struct coord *c, unsigned node, bool resync)
{
	size_t i = 0;
	ebb_err e = EBB_OK;

	do {
		msgpack_sbuffer sb;
		msgpack_packer pk;
		size_t j = i, bytes = 0;
		struct ebb_stage_msg m = {.node = node};

		while (j < c->nfiles && bytes < STAGE_WORK_BATCH_BYTES) {
			bytes += 64 + strlen(c->files[j].key) +
				 strlen(c->files[j].path) +
				 (c->files[j].tag ? strlen(c->files[j].tag) : 0);
			j++;
		}
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 9);
		coord_pk_str(&pk, "run");
		msgpack_pack_uint64(&pk, c->run_id);
		coord_pk_str(&pk, "dir");
		msgpack_pack_uint64(&pk, (uint64_t)c->st->spec.dir);
		coord_pk_str(&pk, "bucket");
		coord_pk_str(&pk, c->bucket);
		coord_pk_str(&pk, "total");
		msgpack_pack_uint64(&pk, c->nfiles);
		coord_pk_str(&pk, "first");
		msgpack_pack_uint64(&pk, i);
		coord_pk_str(&pk, "part_stripes");
		msgpack_pack_uint64(&pk, c->part_stripes);
		coord_pk_str(&pk, "last");
		msgpack_pack_uint64(&pk, j == c->nfiles);
		coord_pk_str(&pk, "resync");
		msgpack_pack_uint64(&pk, resync && j == c->nfiles);
		coord_pk_str(&pk, "files");
		msgpack_pack_array(&pk, (uint32_t)(j - i));
		for (size_t k = i; k < j; k++)
			coord_pack_entry(&pk, &c->files[k]);
		m.map = sb.data;
		m.maplen = sb.size;
		e = ebb_stage_link_call(c->link, PROTO_OP_STAGE_WORK,
					c->inst->id, c->st->spec.name, &m, 1);
		msgpack_sbuffer_destroy(&sb);
		if (e != EBB_OK) {
			log_warn("stage %s: work to rank %u: %s",
				 c->st->spec.name, node, m.detail);
			break;
		}
		i = j;
	} while (i < c->nfiles);
	return e;
}

/* A member's report on file idx. */
static void _tally(struct coord *c, unsigned node, uint64_t idx, bool ok,
		   enum stg_fail code, const char *msg,
		   const msgpack_object *parts, int64_t mtime_ns)
{
	uint64_t bit = idx * c->n + node;

	if (idx >= c->nfiles || c->finished[idx] ||
	    (c->seen[bit / 8] & (1u << (bit % 8))))
		return;
	c->seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
	if (!ok && !c->failed[idx]) {
		c->failed[idx] = true;
		c->fcode[idx] = code < STG_F_MAX ? code : STG_F_INTERNAL;
		c->fmsg[idx] = strdup(msg ? msg : "");
	}
	if (ok && mtime_ns && c->files[idx].mtime_ns != mtime_ns) {
		/* the member applied the object's metadata (STAGE_F_META_GET):
		 * what stage-out's "unchanged" test compares with */
		c->files[idx].mtime_ns = mtime_ns;
		c->plan_dirty = true;
	}
	for (uint32_t i = 0; parts && parts->type == MSGPACK_OBJECT_ARRAY &&
			     i < parts->via.array.size; i++) {
		const msgpack_object *p = &parts->via.array.ptr[i];
		struct stg_part *np;

		if (p->type != MSGPACK_OBJECT_ARRAY || p->via.array.size < 2 ||
		    p->via.array.ptr[1].type != MSGPACK_OBJECT_STR)
			continue;
		np = realloc(c->parts[idx], (c->nparts[idx] + 1) * sizeof(*np));
		if (!np)
			continue;
		c->parts[idx] = np;
		np[c->nparts[idx]].number =
			(unsigned)p->via.array.ptr[0].via.u64;
		snprintf(np[c->nparts[idx]].etag, sizeof(np->etag), "%.*s",
			 (int)p->via.array.ptr[1].via.str.size,
			 p->via.array.ptr[1].via.str.ptr);
		c->nparts[idx]++;
	}
	if (c->left[idx] > 0)
		c->left[idx]--;
}

static int _part_cmp(const void *a, const void *b)
{
	const struct stg_part *x = a, *y = b;

	return (x->number > y->number) - (x->number < y->number);
}

/* A file whose holders all reported: complete or abort its upload. */
static void _finish_file(struct coord *c, size_t idx)
{
	struct stage_file *f = &c->files[idx];

	c->finished[idx] = true;
	c->nfinished++;
	if (c->st->spec.dir == EBB_STAGE_OUT && f->tag && *f->tag) {
		struct stg_call call = {
			.bucket = c->bucket, .key = f->key, .upload_id = f->tag,
		};
		struct stg_result res;
		uint64_t np = stage_nparts(f->size, c->inst->stripe_size,
					   c->part_stripes);

		if (!c->failed[idx] && c->nparts[idx] != np) {
			c->failed[idx] = true;
			c->fcode[idx] = STG_F_INTERNAL;
			c->fmsg[idx] = strdup("parts missing");
		}
		call.op = c->failed[idx] ? STG_MPU_ABORT : STG_MPU_COMPLETE;
		if (!c->failed[idx]) {
			qsort(c->parts[idx], c->nparts[idx],
			      sizeof(struct stg_part), _part_cmp);
			call.parts = c->parts[idx];
			call.nparts = c->nparts[idx];
		}
		if (coord_sync(c, &call, &res) != EBB_OK && !c->failed[idx]) {
			c->failed[idx] = true;
			c->fcode[idx] = stg_fail_of(&res);
			c->fmsg[idx] = strdup(res.message);
		}
		stg_result_free(&res);
	}
	if (c->failed[idx]) {
		c->nfailed++;
		/* A file that failed to come in holds a mix of S3's bytes and
		 * holes: remove it (and give its space back), the report
		 * names it. */
		if (c->st->spec.dir == EBB_STAGE_IN && coord_attach(c) &&
		    ebb_unlink(c->h, f->path) != 0 && errno != ENOENT)
			log_warn("stage %s: remove %s: %s", c->st->spec.name,
				 f->path, strerror(errno));
	}
}

/* Abort the uploads of files not finished (cancel). */
static void _abort_open(struct coord *c)
{
	for (size_t i = 0; i < c->nfiles; i++) {
		struct stage_file *f = &c->files[i];
		struct stg_call call = {
			.op = STG_MPU_ABORT, .bucket = c->bucket,
			.key = f->key, .upload_id = f->tag,
		};
		struct stg_result res;

		if (c->finished[i] || c->st->spec.dir != EBB_STAGE_OUT ||
		    !f->tag || !*f->tag)
			continue;
		(void)coord_sync(c, &call, &res);
		stg_result_free(&res);
	}
}

static void _poll_once(struct coord *c, uint64_t *bytes_done)
{
	struct ebb_stage_msg *m = calloc(c->n, sizeof(*m));
	struct bbd_stages *ss = c->b->stages;

	if (!m)
		return;
	for (unsigned i = 0; i < c->n; i++)
		m[i].node = i;
	(void)ebb_stage_link_call(c->link, PROTO_OP_STAGE_POLL, c->inst->id,
				  c->st->spec.name, m, c->n);
	*bytes_done = 0;
	for (unsigned i = 0; i < c->n; i++) {
		msgpack_unpacked up;
		const msgpack_object *reps;
		struct stage_node_row row = {0};
		uint64_t run = 0, more = 0;

		if (m[i].status == EBB_E_NOINST) {
			if (!c->noinst_ms[i])
				c->noinst_ms[i] = coord_ms();
			free(m[i].reply);
			continue;
		}
		c->noinst_ms[i] = 0;
		if (m[i].status == EBB_ENOENT) {
			c->resend[i] = true;  /* the member lost the run */
			c->last_ok_ms[i] = coord_ms();
			continue;
		}
		if (m[i].status != EBB_OK) {
			c->resync[i] = true;  /* replies may be lost */
			continue;
		}
		c->last_ok_ms[i] = coord_ms();
		msgpack_unpacked_init(&up);
		if (msgpack_unpack_next(&up, m[i].reply, m[i].replylen, NULL) !=
		    MSGPACK_UNPACK_SUCCESS) {
			msgpack_unpacked_destroy(&up);
			free(m[i].reply);
			continue;
		}
		proto_map_u64(&up.data, "run", &run);
		if (run != c->run_id) {
			c->resend[i] = true;
			msgpack_unpacked_destroy(&up);
			free(m[i].reply);
			continue;
		}
		proto_map_u64(&up.data, "files_total", &row.files_total);
		proto_map_u64(&up.data, "files_done", &row.files_done);
		proto_map_u64(&up.data, "files_failed", &row.files_failed);
		proto_map_u64(&up.data, "bytes_total", &row.bytes_total);
		proto_map_u64(&up.data, "bytes_done", &row.bytes_done);
		proto_map_u64(&up.data, "retries", &row.retries);
		proto_map_str(&up.data, "state", row.state, sizeof(row.state));
		(void)more;
		*bytes_done += row.bytes_done;
		reps = proto_map_get(&up.data, "reports");
		for (uint32_t k = 0; reps && reps->type == MSGPACK_OBJECT_ARRAY &&
				     k < reps->via.array.size; k++) {
			const msgpack_object *r = &reps->via.array.ptr[k];
			char msg[400] = "";

			if (r->type != MSGPACK_OBJECT_ARRAY ||
			    r->via.array.size < 5)
				continue;
			if (r->via.array.ptr[3].type == MSGPACK_OBJECT_STR)
				snprintf(msg, sizeof(msg), "%.*s",
					 (int)r->via.array.ptr[3].via.str.size,
					 r->via.array.ptr[3].via.str.ptr);
			_tally(c, i, r->via.array.ptr[0].via.u64,
			       r->via.array.ptr[1].type ==
					       MSGPACK_OBJECT_BOOLEAN &&
				       r->via.array.ptr[1].via.boolean,
			       (enum stg_fail)r->via.array.ptr[2].via.u64, msg,
			       &r->via.array.ptr[4],
			       r->via.array.size > 5 &&
					       (r->via.array.ptr[5].type ==
							MSGPACK_OBJECT_POSITIVE_INTEGER ||
						r->via.array.ptr[5].type ==
							MSGPACK_OBJECT_NEGATIVE_INTEGER) ?
				       r->via.array.ptr[5].via.i64 : 0);
		}
		pthread_mutex_lock(&ss->lock);
		c->st->rows[i] = row;
		pthread_mutex_unlock(&ss->lock);
		msgpack_unpacked_destroy(&up);
		free(m[i].reply);
	}
	free(m);
}

/* ---- the report ------------------------------------------------------------------------ */

static char *_csv(struct coord *c, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	fputs(STG_CSV_HEADER, f);
	for (size_t i = 0; i < c->nfails; i++)
		stg_csv_write(f, c->fails[i].path, c->fails[i].code);
	for (size_t i = 0; i < c->nfiles; i++)
		if (c->failed && c->failed[i])
			stg_csv_write(f, c->files[i].path, c->fcode[i]);
	fclose(f);
	return buf;
}

static void _write_report(struct coord *c)
{
	const struct stage_spec *sp = &c->st->spec;
	struct bbd_stages *ss = c->b->stages;
	char *where = NULL, *csv;
	size_t len = 0;

	if (c->nfails == 0 && c->nfailed == 0)
		return;
	if (!(csv = _csv(c, &len)))
		return;
	if (sp->dir == EBB_STAGE_IN) {
		char *dir = coord_report_dir(c);
		ebb_file_t *f = NULL;

		char *last = NULL;

		if (dir && coord_attach(c) && coord_mkdirs(c, dir, &last) == EBB_OK) {
			if (asprintf(&where, "%s/failures-%s.csv", dir,
				     sp->name) > 0 &&
			    (f = ebb_open(c->h, where,
					  O_CREAT | O_TRUNC | O_WRONLY, 0644))) {
				if (ebb_pwrite(f, csv, len, 0) != (ssize_t)len)
					log_warn("stage %s: report write: %s",
						 sp->name, strerror(errno));
				ebb_close(f);
				(void)ebb_chown(c->h, where, sp->uid, sp->gid);
			}
		}
		free(last);
		free(dir);
	} else {
		char *key = NULL;
		struct stg_call call = {
			.op = STG_PUT, .bucket = c->bucket, .body = csv,
			.body_len = len, .content_type = "text/csv",
		};
		struct stg_result res;

		if (asprintf(&key, "%s%sebb-report-%u/failures.csv", c->key,
			     *c->key && c->key[strlen(c->key) - 1] != '/' ?
				     "/" : "", sp->job_id) > 0) {
			call.key = key;
			if (coord_sync(c, &call, &res) == EBB_OK)
				(void)asprintf(&where, "s3://%s/%s", c->bucket,
					       key);
			else
				log_warn("stage %s: report: %s", sp->name,
					 res.message);
			stg_result_free(&res);
		}
		free(key);
	}
	free(csv);
	pthread_mutex_lock(&ss->lock);
	free(c->st->report);
	c->st->report = where;
	pthread_mutex_unlock(&ss->lock);
}

/* Failures found while planning, not counting skipped (non-POSIX) keys. */
static uint64_t _plan_failures(const struct coord *c)
{
	uint64_t k = 0;

	for (size_t i = 0; i < c->nfails; i++)
		if (c->fails[i].code != STG_F_NOT_POSIX)
			k++;
	return k;
}

/* ---- the thread ----------------------------------------------------------------------- */

/* The stage's retries: the coordinator's and what the members reported.
 * Registry lock held. */
static void _sum_retries_locked(struct coord *c)
{
	uint64_t r = c->retries;

	for (unsigned i = 0; i < c->n; i++)
		r += c->st->rows[i].retries;
	c->st->retries = r;
}

static void _publish(struct coord *c, uint64_t bytes_done, int64_t *t0,
		     uint64_t *b0)
{
	struct bbd_stages *ss = c->b->stages;
	struct bbd_stage *st = c->st;
	int64_t now = coord_ms();
	uint64_t planfail = _plan_failures(c);

	pthread_mutex_lock(&ss->lock);
	st->files_total = c->nfiles + planfail;
	st->files_skipped = c->skipped;
	st->files_failed = c->nfailed + planfail;
	st->files_done = c->nfinished - c->nfailed;
	st->bytes_total = c->bytes;
	st->bytes_done = bytes_done;
	_sum_retries_locked(c);
	st->updated_ns = bbd_now_ns();
	if (now - *t0 >= 2000) {
		st->rate_bps = (bytes_done - *b0) * 1000 /
			       (uint64_t)(now - *t0);
		*t0 = now;
		*b0 = bytes_done;
		st->eta_s = st->rate_bps ?
			(int64_t)((c->bytes - bytes_done) / st->rate_bps) : -1;
	}
	pthread_mutex_unlock(&ss->lock);
}

static void _coord_free(struct coord *c)
{
	for (size_t i = 0; i < c->nfiles; i++) {
		stage_file_fini(&c->files[i]);
		if (c->fmsg)
			free(c->fmsg[i]);
		if (c->parts)
			free(c->parts[i]);
	}
	free(c->files);
	for (size_t i = 0; i < c->nfails; i++) {
		free(c->fails[i].path);
		free(c->fails[i].msg);
	}
	free(c->fails);
	free(c->left);
	free(c->seen);
	free(c->failed);
	free(c->finished);
	free(c->fcode);
	free(c->fmsg);
	free(c->parts);
	free(c->nparts);
	free(c->resync);
	free(c->resend);
	free(c->last_ok_ms);
	free(c->noinst_ms);
	if (c->link)
		ebb_stage_link_free(c->link);
	if (c->h)
		ebb_detach(c->h);
	free(c);
}

static ebb_err _run(struct coord *c)
{
	struct bbd_stage *st = c->st;
	uint64_t bytes_done = 0, b0 = 0;
	int64_t t0 = coord_ms();
	bool *holds;
	ebb_err e;

	c->link = ebb_stage_link_new((const char *const *)c->inst->members,
				     c->n, &(struct ebb_options){
					     .munge_socket =
						     c->b->conf.munge_socket});
	c->left = calloc(c->nfiles + 1, sizeof(*c->left));
	c->seen = calloc((c->nfiles * c->n) / 8 + 1, 1);
	c->failed = calloc(c->nfiles + 1, sizeof(bool));
	c->finished = calloc(c->nfiles + 1, sizeof(bool));
	c->fcode = calloc(c->nfiles + 1, sizeof(*c->fcode));
	c->fmsg = calloc(c->nfiles + 1, sizeof(char *));
	c->parts = calloc(c->nfiles + 1, sizeof(*c->parts));
	c->nparts = calloc(c->nfiles + 1, sizeof(unsigned));
	c->resync = calloc(c->n, sizeof(bool));
	c->resend = calloc(c->n, sizeof(bool));
	c->last_ok_ms = calloc(c->n, sizeof(int64_t));
	c->noinst_ms = calloc(c->n, sizeof(int64_t));
	holds = calloc(c->n, sizeof(bool));
	if (!c->link || !c->left || !c->seen || !c->failed || !c->finished ||
	    !c->fcode || !c->fmsg || !c->parts || !c->nparts || !c->resync ||
	    !c->resend || !c->last_ok_ms || !c->noinst_ms || !holds) {
		free(holds);
		snprintf(c->err, sizeof(c->err), "out of memory");
		return EBB_ENOMEM;
	}
	for (size_t i = 0; i < c->nfiles; i++) {
		c->left[i] = stage_holders(&c->files[i], st->spec.dir,
					   c->inst->stripe_size,
					   c->part_stripes, c->n, holds);
		if (c->files[i].tag && !*c->files[i].tag) {
			/* its upload could not be created: failed already */
			c->failed[i] = true;
			c->fcode[i] = STG_F_S3_ERROR;
			c->fmsg[i] = strdup("no upload");
			c->finished[i] = true;
			c->nfinished++;
			c->nfailed++;
			continue;
		}
		if (c->left[i] == 0)
			_finish_file(c, i);
	}
	free(holds);
	for (unsigned i = 0; i < c->n; i++) {
		c->resend[i] = true;
		c->last_ok_ms[i] = coord_ms();
	}
	stage_set_state(st, STAGE_RUNNING, NULL);
	while (c->nfinished < c->nfiles && !coord_stop(c)) {
		for (unsigned i = 0; i < c->n; i++) {
			if (c->resend[i] || c->resync[i]) {
				if (_send_work(c, i, c->resync[i]) == EBB_OK)
					c->resend[i] = c->resync[i] = false;
			}
			if (c->noinst_ms[i] &&
			    coord_ms() - c->noinst_ms[i] > MEMBER_NOINST_MS) {
				snprintf(c->err, sizeof(c->err),
					 "member rank %u (%s) no longer has the "
					 "instance: its share of the data is gone",
					 i, c->inst->members[i]);
				return EBB_EIO;
			}
			if (coord_ms() - c->last_ok_ms[i] > MEMBER_DEAD_MS) {
				snprintf(c->err, sizeof(c->err),
					 "member rank %u (%s) did not answer "
					 "for %d s", i, c->inst->members[i],
					 MEMBER_DEAD_MS / 1000);
				return EBB_ETIMEDOUT;
			}
		}
		usleep(STAGE_POLL_MS * 1000);
		_poll_once(c, &bytes_done);
		for (size_t i = 0; i < c->nfiles; i++)
			if (!c->finished[i] && c->left[i] == 0)
				_finish_file(c, i);
		_publish(c, bytes_done, &t0, &b0);
	}
	if (coord_stop(c))
		return EBB_EAGAIN;
	/* the last numbers, as the members saw them */
	_poll_once(c, &bytes_done);
	_publish(c, bytes_done, &t0, &b0);
	e = EBB_OK;
	return e;
}

void *stage_plan_main(void *arg)
{
	struct bbd_stage *st = arg;
	struct coord *c = calloc(1, sizeof(*c));
	const struct stage_spec *sp = &st->spec;
	const char *url = sp->dir == EBB_STAGE_IN ? sp->source :
						    sp->destination;
	char why[256];
	ebb_err e = EBB_OK;

	if (!c) {
		stage_set_state(st, STAGE_FAILED, "out of memory");
		stage_persist_state(st);
		return NULL;
	}
	c->st = st;
	c->b = st->b;
	c->inst = st->inst;
	c->n = st->inst->nmembers;
	c->run_id = (uint64_t)bbd_now_ns();
	c->part_stripes = stage_part_stripes(st->inst->stripe_size,
		c->b->conf.s3.part_size ? c->b->conf.s3.part_size : 8ull << 20);
	if (s3path_split(url, c->bucket, sizeof(c->bucket), c->key,
			 sizeof(c->key), why, sizeof(why)) != EBB_OK) {
		snprintf(c->err, sizeof(c->err), "%s", why);
		e = EBB_EINVAL;
		goto end;
	}
	if ((e = coord_creds(c)) != EBB_OK)
		goto end;
	if (coord_load_plan(c, st->dirfd)) {
		log_info("stage %s: plan found (%zu files), not planning again",
			 sp->name, c->nfiles);
	} else {
		stage_set_state(st, STAGE_PLANNING, NULL);
		e = sp->dir == EBB_STAGE_IN ? coord_plan_in(c) : coord_plan_out(c);
		if (e == EBB_OK)
			e = coord_save_plan(c);
		if (e != EBB_OK && !coord_stop(c))
			goto end;
	}
	if (e == EBB_OK && !coord_stop(c))
		e = _run(c);
	if (c->plan_dirty && coord_save_plan(c) != EBB_OK)
		log_warn("stage %s: cannot save the plan's new mtimes: stage-out "
			 "may export unchanged files", sp->name);
end:
	if (atomic_load(&st->halt) && !atomic_load(&st->cancel)) {
		/* shutdown: the saved state lets the next bbd resume */
		_coord_free(c);
		return NULL;
	}
	if (atomic_load(&st->cancel)) {
		struct ebb_stage_msg *m = calloc(c->n, sizeof(*m));

		if (m && c->link) {
			for (unsigned i = 0; i < c->n; i++)
				m[i].node = i;
			(void)ebb_stage_link_call(c->link, PROTO_OP_STAGE_CANCEL,
						  c->inst->id, sp->name, m,
						  c->n);
		}
		free(m);
		if (c->have_cred)
			_abort_open(c);
		stage_set_state(st, STAGE_CANCELLED, NULL);
	} else if (e != EBB_OK) {
		if (c->have_cred)
			_abort_open(c);
		if (e == EBB_ENOENT || c->nfails)
			_write_report(c);
		stage_set_state(st, STAGE_FAILED, c->err[0] ? c->err :
						    ebb_strerror(e));
	} else {
		uint64_t shown = 0;

		_write_report(c);
		for (size_t i = 0; i < c->nfiles && shown < 5; i++)
			if (c->failed[i]) {
				stage_add_error(st, "%s: %s: %s",
						c->files[i].path,
						stg_fail_code(c->fcode[i]),
						c->fmsg[i]);
				shown++;
			}
		for (size_t i = 0; i < c->nfails && shown < 5; i++)
			if (c->fails[i].code != STG_F_NOT_POSIX) {
				stage_add_error(st, "%s: %s: %s",
						c->fails[i].path,
						stg_fail_code(c->fails[i].code),
						c->fails[i].msg);
				shown++;
			}
		stage_set_state(st, c->nfailed || _plan_failures(c) ?
				STAGE_FAILED : STAGE_DONE, NULL);
	}
	pthread_mutex_lock(&st->b->stages->lock);
	_sum_retries_locked(c);
	pthread_mutex_unlock(&st->b->stages->lock);
	stage_persist_state(st);
	_coord_free(c);
	return NULL;
}

