/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebbctl stage commands: import, export, stage status/retry/cancel/abandon.
 *
 * DESIGN: a stage runs in the bbds of the instance (rank 0 plans it, every
 * member moves its own stripes), never in ebbctl: import and export only
 * start it (ebb_stage_start, idempotent for the same name and spec) and
 * then *follow* it by polling ebb_stage_status, so Ctrl-C, a lost terminal
 * or a killed ebbctl never stop the data movement.  The members come from
 * the instance itself (ebb_instance_get on the first -n node), so rank 0 is
 * right whatever order -n gives, and a missing instance is reported before
 * anything else.  A stage started without --name gets one derived from its
 * spec ("in-" or "out-" and 8 hex digits of a hash of direction, type,
 * source and destination): running the same command again resumes
 * following the same stage instead of starting a second one.
 * Following draws a progress display on a terminal (stderr, redrawn in
 * place twice a second) and prints one line every --interval seconds
 * otherwise (logs, batch scripts).  Exit status: 0 done, 1 failed or
 * cancelled (the first failures and the report's place are printed),
 * 2 usage, 130 after Ctrl-C (the stage keeps running; we say how to follow
 * it again or cancel it).
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "ctl_int.h"
#include "ident.h"
#include "s3path.h"

#define _NAME_MAX 32
#define _TICK_MS 500               /* poll period while following */
#define _STATUS_TRIES 20           /* failed polls in a row before giving up */
#define _MAX_ERRLINES 10           /* failures printed at the end */
/* A deferred stage (the Slurm plugin registers a job's stage_out lines
 * before the job runs): following it waits until it is started. */
#define _WAITING "deferred: it starts at `stage retry` (for a Slurm job's " \
	"stage-out, when the job ends)"

enum {
	_OPT_TYPE = CTL_OPT_CMD,
	_OPT_NAME,
	_OPT_NO_WAIT,
	_OPT_INTERVAL,
	_OPT_FOLLOW,
	_OPT_JOB,
};

static volatile sig_atomic_t _interrupted;

static void _on_sigint(int sig)
{
	(void)sig;
	_interrupted = 1;
}

/* The instance a stage command works on. */
struct _st {
	struct ctl *c;
	const char *id;
	struct ebb_instance_info info;  /* as the first -n node sees it */
	int have_info;
	const char *const *members;     /* info.members, rank order */
	unsigned nmembers;
	/* For hints: "ebbctl PRE stage CMD POST NAME": PRE "-n NODE -i ID "
	 * (global options) or "", POST "--job JOBID " or "". */
	char pre[300], post[48], node0[260];
	char jobid[32];                 /* "slurm-JOBID" with --job */
};

static int _valid_name(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= _NAME_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789._-") == n;
}

/* Find the instance and its members; prints why not.  CTL_EXIT_OK or the
 * status to exit with. */
static int _st_open(struct ctl *c, struct _st *s, const char *job)
{
	char **nodes;
	int nodes_given = c->nodes_given, st;

	memset(s, 0, sizeof(*s));
	s->c = c;
	if (job) {
		st = ctl_job_target(c, job, s->jobid, sizeof(s->jobid));
		if (st != CTL_EXIT_OK)
			return st;
	}
	s->id = ctl_instance(c);
	if (!s->id || !ctl_nodes(c, &nodes))
		return CTL_EXIT_USAGE;
	if (ebb_instance_get(nodes[0], s->id, &c->opts, &s->info) < 0) {
		int e = errno;
		if (e == ENOENT) {
			ctl_errf(c, "no instance '%s' on node %s (ebbctl -n %s "
				 "instance list shows what it has)", s->id,
				 nodes[0], nodes[0]);
		} else {
			ctl_errf(c, "asking %s for instance '%s': %s", nodes[0],
				 s->id, strerror(e));
			ctl_hint_default_node(c);
		}
		return CTL_EXIT_FAIL;
	}
	s->have_info = 1;
	s->members = (const char *const *)s->info.members;
	s->nmembers = s->info.nmembers;
	snprintf(s->node0, sizeof(s->node0), "%s", nodes[0]);
	if (job && !nodes_given)
		snprintf(s->post, sizeof(s->post), "--job %s ", job);
	else
		snprintf(s->pre, sizeof(s->pre), "-n %s -i %s ", nodes[0],
			 s->id);
	return CTL_EXIT_OK;
}

static void _st_close(struct _st *s)
{
	if (s->have_info)
		ebb_instance_info_free(&s->info);
	s->have_info = 0;
}

/* Report a failed stage call: the library's message, else errno's. */
static void _call_error(struct _st *s, const char *what, const char *name,
			const char *errmsg, int e)
{
	if (e == ENOENT && !errmsg[0])
		ctl_errf(s->c, "%s: no stage '%s' on instance %s (ebbctl %s"
			 "stage status %slists them)", what, name, s->id,
			 s->pre, s->post);
	else if (e == ENOSYS || e == EOPNOTSUPP || e == EPROTO)
		ctl_errf(s->c, "%s %s: %s (does bbd on %s have the stage "
			 "engine?)", what, name, errmsg[0] ? errmsg :
			 strerror(e), s->members[0]);
	else
		ctl_errf(s->c, "%s %s: %s", what, name,
			 errmsg[0] ? errmsg : strerror(e));
}

/* ---- formatting a status -------------------------------------------------- */

static const char *_dir_word(enum ebb_stage_dir d)
{
	return d == EBB_STAGE_IN ? "import" : "export";
}

static int _is_final(const char *state)
{
	return !strcmp(state, "done") || !strcmp(state, "failed") ||
	       !strcmp(state, "cancelled");
}

static unsigned _pct(uint64_t done, uint64_t total)
{
	if (!total)
		return 0;
	return done >= total ? 100 : (unsigned)(done * 100 / total);
}

/* "1.2 GiB/3.4 GiB" */
static const char *_of(uint64_t a, uint64_t b, char *buf, size_t len)
{
	char x[32], y[32];

	snprintf(buf, len, "%s/%s", ctl_size(a, x, sizeof(x)),
		 ctl_size(b, y, sizeof(y)));
	return buf;
}

/* The progress figures of a status in one line (no name, no bar). */
static void _figures(const struct ebb_stage_status *st, char *buf, size_t len)
{
	char bytes[80], eta[32] = "-", fail[48] = "";

	if (st->eta_s >= 0)
		ctl_duration((uint64_t)st->eta_s, eta, sizeof(eta));
	if (st->files_failed)
		snprintf(fail, sizeof(fail), ", %llu failed",
			 (unsigned long long)st->files_failed);
	snprintf(buf, len, "%llu/%llu files%s, %s (%u%%), %.1f MB/s, ETA %s",
		 (unsigned long long)st->files_done,
		 (unsigned long long)st->files_total, fail,
		 _of(st->bytes_done, st->bytes_total, bytes, sizeof(bytes)),
		 _pct(st->bytes_done, st->bytes_total), st->rate_bps / 1e6, eta);
}

static void _node_line(const struct _st *s, const struct ebb_stage_node *nd,
		       char *buf, size_t len)
{
	char bytes[80], fail[40] = "";

	if (nd->files_failed)
		snprintf(fail, sizeof(fail), " (%llu failed)",
			 (unsigned long long)nd->files_failed);
	snprintf(buf, len, "  rank %-3u %-21s %-9s %llu/%llu files%s, %s",
		 nd->rank, nd->rank < s->nmembers ? s->members[nd->rank] : "?",
		 nd->state, (unsigned long long)nd->files_done,
		 (unsigned long long)nd->files_total, fail,
		 _of(nd->bytes_done, nd->bytes_total, bytes, sizeof(bytes)));
}

/* ---- following a stage ---------------------------------------------------- */

struct _follow {
	struct _st *s;
	const char *name;
	int tty;                    /* redraw in place on stderr */
	int verbose;                /* per-node lines */
	int quiet;                  /* -q or --json: no progress at all */
	unsigned interval_s;        /* not a tty: one line every ... */
	unsigned drawn;             /* lines of the last redraw */
	int64_t last_line_ns;
	char last_state[16];
};

static int64_t _now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static unsigned _term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return 80;
}

/* One line of the redraw: cut to the terminal, rest of the line cleared. */
static void _tty_line(const char *line, unsigned width)
{
	fprintf(stderr, "%.*s\033[K\n", (int)(width - 1), line);
}

static void _draw(struct _follow *f, const struct ebb_stage_status *st)
{
	char line[512], fig[256], bar[64];
	unsigned width, pct, fill, k;

	if (f->quiet)
		return;
	_figures(st, fig, sizeof(fig));
	if (!f->tty) {
		int64_t now = _now_ns();
		/* A line on every change of state and every interval. */
		if (!strcmp(st->state, f->last_state) &&
		    now - f->last_line_ns < (int64_t)f->interval_s * 1000000000)
			return;
		f->last_line_ns = now;
		fprintf(stderr, CTL_PROG ": %s %s: %s: %s\n", _dir_word(st->dir),
			st->name, st->state, strcmp(st->state, "waiting") ? fig
			: _WAITING);
		if (f->verbose)
			for (k = 0; k < st->nnodes; k++) {
				_node_line(f->s, &st->nodes[k], line, sizeof(line));
				fprintf(stderr, "%s\n", line);
			}
		fflush(stderr);
		return;
	}
	width = _term_width();
	pct = _pct(st->bytes_done, st->bytes_total);
	fill = pct * 20 / 100;
	for (k = 0; k < 20; k++)
		bar[k] = k < fill ? '#' : '.';
	bar[20] = '\0';
	/* Back to the first line of the last redraw. */
	if (f->drawn)
		fprintf(stderr, "\033[%uA\r", f->drawn);
	f->drawn = 0;
	if (!strcmp(st->state, "waiting"))
		snprintf(line, sizeof(line), "%s %s  waiting   %s",
			 _dir_word(st->dir), st->name, _WAITING);
	else if (!strcmp(st->state, "planning"))
		snprintf(line, sizeof(line), "%s %s  planning  %llu files, %s "
			 "found so far", _dir_word(st->dir), st->name,
			 (unsigned long long)st->files_total,
			 ctl_size(st->bytes_total, fig, sizeof(fig)));
	else
		snprintf(line, sizeof(line), "%s %s  %-9s [%s] %s",
			 _dir_word(st->dir), st->name, st->state, bar, fig);
	_tty_line(line, width);
	f->drawn++;
	if (f->verbose)
		for (k = 0; k < st->nnodes; k++) {
			_node_line(f->s, &st->nodes[k], line, sizeof(line));
			_tty_line(line, width);
			f->drawn++;
		}
	fflush(stderr);
}

static void _json_status(struct ctl_json *j, const struct _st *s,
			 const struct ebb_stage_status *st)
{
	ctl_json_obj_begin(j);
	ctl_json_kstr(j, "instance", s->id);
	ctl_json_kstr(j, "name", st->name);
	ctl_json_kstr(j, "direction", st->dir == EBB_STAGE_IN ? "in" : "out");
	ctl_json_kstr(j, "state", st->state);
	ctl_json_kstr(j, "source", st->source ? st->source : "");
	ctl_json_kstr(j, "destination", st->destination ? st->destination : "");
	ctl_json_ku64(j, "files_total", st->files_total);
	ctl_json_ku64(j, "files_done", st->files_done);
	ctl_json_ku64(j, "files_failed", st->files_failed);
	ctl_json_ku64(j, "files_skipped", st->files_skipped);
	ctl_json_ku64(j, "bytes_total", st->bytes_total);
	ctl_json_ku64(j, "bytes_done", st->bytes_done);
	ctl_json_ku64(j, "retries", st->retries);
	ctl_json_ki64(j, "started_ns", st->started_ns);
	ctl_json_ki64(j, "updated_ns", st->updated_ns);
	ctl_json_ki64(j, "ended_ns", st->ended_ns);
	ctl_json_ku64(j, "rate_bps", (uint64_t)(st->rate_bps > 0 ? st->rate_bps : 0));
	ctl_json_ki64(j, "eta_s", st->eta_s);
	ctl_json_key(j, "error");
	if (st->error)
		ctl_json_str(j, st->error);
	else
		ctl_json_null(j);
	ctl_json_key(j, "report");
	if (st->report)
		ctl_json_str(j, st->report);
	else
		ctl_json_null(j);
	ctl_json_key(j, "nodes");
	ctl_json_arr_begin(j);
	for (unsigned k = 0; k < st->nnodes; k++) {
		const struct ebb_stage_node *nd = &st->nodes[k];
		ctl_json_obj_begin(j);
		ctl_json_ku64(j, "rank", nd->rank);
		ctl_json_kstr(j, "node", nd->rank < s->nmembers ?
			      s->members[nd->rank] : "");
		ctl_json_kstr(j, "state", nd->state);
		ctl_json_ku64(j, "files_total", nd->files_total);
		ctl_json_ku64(j, "files_done", nd->files_done);
		ctl_json_ku64(j, "files_failed", nd->files_failed);
		ctl_json_ku64(j, "bytes_total", nd->bytes_total);
		ctl_json_ku64(j, "bytes_done", nd->bytes_done);
		ctl_json_ku64(j, "retries", nd->retries);
		ctl_json_obj_end(j);
	}
	ctl_json_arr_end(j);
	ctl_json_obj_end(j);
}

/* The first failures (error lines) and where the report is. */
static void _print_failures(const struct _st *s,
			    const struct ebb_stage_status *st)
{
	const char *p = st->error;
	unsigned n = 0;

	if (p && *p)
		fprintf(stderr, "first failures:\n");
	while (p && *p && n < _MAX_ERRLINES) {
		size_t len = strcspn(p, "\n");
		fprintf(stderr, "  %.*s\n", (int)len, p);
		n++;
		p += len;
		if (*p == '\n')
			p++;
	}
	if (p && *p)
		fprintf(stderr, "  ...\n");
	if (st->report)
		fprintf(stderr, "report: %s\n", st->report);
	if (!strcmp(st->state, "failed"))
		fprintf(stderr, "retry what is not done: ebbctl %sstage retry "
			"%s%s\n", s->pre, s->post, st->name);
}

/* The end of a stage: summary, failures; the exit status. */
static int _finish(struct _follow *f, const struct ebb_stage_status *st)
{
	struct ctl *c = f->s->c;
	char fig[256], b[32];
	double secs = st->ended_ns > st->started_ns ?
		(double)(st->ended_ns - st->started_ns) / 1e9 : 0;

	if (c->json) {
		struct ctl_json j;
		ctl_json_init(&j, stdout);
		_json_status(&j, f->s, st);
		ctl_json_finish(&j);
	}
	if (!strcmp(st->state, "done")) {
		if (!c->quiet && !c->json) {
			fprintf(stderr, "%s %s: done: %llu file%s, %s",
				_dir_word(st->dir), st->name,
				(unsigned long long)st->files_done,
				st->files_done == 1 ? "" : "s",
				ctl_size(st->bytes_done, b, sizeof(b)));
			if (secs > 0)
				fprintf(stderr, " in %.1f s (%.1f MB/s)", secs,
					(double)st->bytes_done / secs / 1e6);
			if (st->files_skipped)
				fprintf(stderr, ", %llu skipped",
					(unsigned long long)st->files_skipped);
			fputc('\n', stderr);
		}
		return CTL_EXIT_OK;
	}
	_figures(st, fig, sizeof(fig));
	fflush(stdout);
	fprintf(stderr, CTL_PROG ": %s %s: %s", _dir_word(st->dir), st->name,
		st->state);
	if (st->files_failed)
		fprintf(stderr, ": %llu of %llu files failed",
			(unsigned long long)st->files_failed,
			(unsigned long long)st->files_total);
	fprintf(stderr, " (%s)\n", fig);
	_print_failures(f->s, st);
	return CTL_EXIT_FAIL;
}

/* Follow stage name until it ends or Ctrl-C; the exit status. */
static int _follow(struct _follow *f)
{
	struct _st *s = f->s;
	struct ctl *c = s->c;
	struct sigaction sa, old;
	unsigned fails = 0;
	int status = CTL_EXIT_FAIL, e = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = _on_sigint;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the sleep below must end at once. */
	sigaction(SIGINT, &sa, &old);
	_interrupted = 0;
	for (;;) {
		struct ebb_stage_status *list = NULL;
		unsigned n = 0;
		struct timespec ts = {_TICK_MS / 1000,
				      (_TICK_MS % 1000) * 1000000L};

		int r = ebb_stage_status(s->id, s->members, s->nmembers,
					 f->name, &c->opts, &list, &n);

		if (r < 0 || n == 0) {
			/* No entry for the name is the same as ENOENT. */
			e = r < 0 ? errno : ENOENT;
			if (list)
				ebb_stage_status_free(list, n);
			/* A stage that is gone will not come back; a busy
			 * or restarting node may. */
			if (e == ENOENT || ++fails >= _STATUS_TRIES) {
				if (f->drawn)
					fputc('\n', stderr);
				_call_error(s, "status of", f->name, "", e);
				status = CTL_EXIT_FAIL;
				break;
			}
		} else {
			fails = 0;
			_draw(f, &list[0]);
			snprintf(f->last_state, sizeof(f->last_state), "%s",
				 list[0].state);
			if (_is_final(list[0].state)) {
				status = _finish(f, &list[0]);
				ebb_stage_status_free(list, n);
				break;
			}
			ebb_stage_status_free(list, n);
		}
		if (!_interrupted)
			nanosleep(&ts, NULL);
		if (_interrupted) {
			fflush(stdout);
			fprintf(stderr, "\n" CTL_PROG ": stopped following %s; "
				"the stage keeps running on instance %s.\n"
				"  follow it again: ebbctl %sstage status "
				"%s--follow %s\n"
				"  cancel it:       ebbctl %sstage cancel %s%s\n",
				f->name, s->id, s->pre, s->post, f->name,
				s->pre, s->post, f->name);
			status = 128 + SIGINT;
			break;
		}
	}
	sigaction(SIGINT, &old, NULL);
	return status;
}

static void _follow_init(struct _follow *f, struct _st *s, const char *name,
			 int verbose, unsigned interval_s)
{
	memset(f, 0, sizeof(*f));
	f->s = s;
	f->name = name;
	f->verbose = verbose;
	f->quiet = s->c->quiet || s->c->json;
	f->tty = isatty(STDERR_FILENO);
	f->interval_s = interval_s;
}

/* ---- import / export ----------------------------------------------------- */

/* FNV-1a of the spec's parts: the default name of a stage. */
static uint32_t _hash(uint32_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return (h ^ 0xff) * 16777619u;   /* a separator between parts */
}

/* Looks like an S3 URL (for the order of the operands). */
static int _is_s3(const char *s)
{
	return !strncmp(s, "s3://", 5);
}

/* The instance owner's name and groups, for bbd's allow-list check: the
 * files of an import are theirs.  An owner without a passwd entry here
 * is sent by number and without groups (bbd looks them up again). */
static void _owner(const struct _st *s, struct ebb_stage_spec *spec,
		   struct ident *who, char *num, size_t numlen)
{
	char err[128];

	spec->uid = s->info.uid;
	spec->gid = s->info.gid;
	if (ident_uid(s->info.uid, who, err, sizeof(err)) != EBB_OK) {
		memset(who, 0, sizeof(*who));
		snprintf(num, numlen, "%u", (unsigned)s->info.uid);
		spec->user = num;
		return;
	}
	spec->user = who->user;
	spec->groups = (const char *const *)who->groups;
	spec->ngroups = who->ngroups;
}

/* "slurm-1234" -> 1234, for the report's name; else 0. */
static uint32_t _job_of(const char *id)
{
	unsigned long long v;

	if (strncmp(id, "slurm-", 6) || ctl_parse_uint(id + 6, UINT32_MAX, &v))
		return 0;
	return (uint32_t)v;
}

static const struct option _xfer_longopts[] = {
	{"type", required_argument, NULL, _OPT_TYPE},
	{"name", required_argument, NULL, _OPT_NAME},
	{"no-wait", no_argument, NULL, _OPT_NO_WAIT},
	{"interval", required_argument, NULL, _OPT_INTERVAL},
	{"verbose", no_argument, NULL, 'v'},
	{"job", required_argument, NULL, _OPT_JOB},
	{NULL, 0, NULL, 0},
};

static int _parse_interval(struct ctl *c, const char *arg, unsigned *out)
{
	unsigned long long v;

	if (ctl_parse_uint(arg, 86400, &v) < 0 || v == 0)
		return ctl_usage(c, "--interval: '%s' is not a number of "
				 "seconds (1..86400)", arg);
	*out = (unsigned)v;
	return CTL_EXIT_OK;
}

static int _import_export(struct ctl *c, int argc, char **argv,
			  enum ebb_stage_dir dir)
{
	struct ctl_opts o;
	struct ebb_stage_spec spec;
	struct _st s;
	struct _follow f;
	char name[_NAME_MAX + 1], err[512], why[256], uidnum[16];
	char bucket[S3PATH_MAX_BUCKET + 1], key[S3PATH_MAX_KEY + 1];
	const char *type = NULL, *src, *dst, *s3, *path, *job = NULL;
	struct ident who;
	unsigned interval = 5;
	int opt, status = CTL_EXIT_USAGE, no_wait = 0, verbose = 0, have = 0;

	memset(&spec, 0, sizeof(spec));
	memset(&who, 0, sizeof(who));
	name[0] = '\0';
	ctl_opt_init(&o, argc, argv, "v", _xfer_longopts);
	while ((opt = ctl_opt_next(c, &o)) != -1) {
		switch (opt) {
		case _OPT_TYPE: type = optarg; break;
		case _OPT_NAME:
			if (!_valid_name(optarg))
				return ctl_usage(c, "--name: '%s' is not 1..32 "
						 "of [A-Za-z0-9._-]", optarg);
			snprintf(name, sizeof(name), "%s", optarg);
			break;
		case _OPT_NO_WAIT: no_wait = 1; break;
		case _OPT_INTERVAL:
			if (_parse_interval(c, optarg, &interval))
				return CTL_EXIT_USAGE;
			break;
		case 'v': verbose = 1; break;
		case _OPT_JOB: job = optarg; break;
		}
	}
	if (o.stop)
		return o.status;
	if (argc - optind != 2)
		return ctl_usage(c, "%sexpected %s", argc - optind > 2 ?
				 "too many arguments: " : "",
				 dir == EBB_STAGE_IN ? "s3://BUCKET/PREFIX PATH"
				 : "PATH s3://BUCKET/PREFIX");
	src = argv[optind];
	dst = argv[optind + 1];
	s3 = dir == EBB_STAGE_IN ? src : dst;
	path = dir == EBB_STAGE_IN ? dst : src;
	if (!_is_s3(s3) && _is_s3(path))
		return ctl_usage(c, "wrong order: %s", dir == EBB_STAGE_IN ?
				 "import copies FROM S3 into the instance: "
				 "s3://BUCKET/PREFIX first, then PATH" :
				 "export copies from the instance TO S3: PATH "
				 "first, then s3://BUCKET/PREFIX");
	if (s3path_split(s3, bucket, sizeof(bucket), key, sizeof(key), why,
			 sizeof(why)) != EBB_OK)
		return ctl_usage(c, "%s", why);
	if (_is_s3(path) || !path[0])
		return ctl_usage(c, "'%s' is not a path in the instance", path);
	if (!type || !strcmp(type, "auto"))
		spec.type = 0;
	else if (!strcmp(type, "file"))
		spec.type = 1;
	else if (!strcmp(type, "directory") || !strcmp(type, "dir"))
		spec.type = 2;
	else
		return ctl_usage(c, "--type: '%s' is not file or directory",
				 type);
	spec.dir = dir;
	spec.source = src;
	spec.destination = dst;
	if (!name[0]) {
		uint32_t h = 2166136261u;
		h = _hash(h, dir == EBB_STAGE_IN ? "in" : "out");
		h = _hash(h, type ? type : "auto");
		h = _hash(h, src);
		h = _hash(h, dst);
		snprintf(name, sizeof(name), "%s-%08x",
			 dir == EBB_STAGE_IN ? "in" : "out", h);
	}
	spec.name = name;

	status = _st_open(c, &s, job);
	if (status != CTL_EXIT_OK)
		goto out;
	have = 1;
	_owner(&s, &spec, &who, uidnum, sizeof(uidnum));
	spec.job_id = _job_of(s.id);
	err[0] = '\0';
	if (ebb_stage_start(s.id, s.members, s.nmembers, &spec, &c->opts, err,
			    sizeof(err)) < 0) {
		int e = errno;
		/* bbd says "stage X exists with another spec"; say what
		 * to do about it. */
		if (e == EEXIST)
			snprintf(err, sizeof(err), "a stage named %s with "
				 "another source or destination exists on "
				 "instance %s (give another --name)", name,
				 s.id);
		_call_error(&s, dir == EBB_STAGE_IN ? "start import" :
			    "start export", name, err, e);
		status = CTL_EXIT_FAIL;
		goto out;
	}
	if (no_wait) {
		if (c->json) {
			struct ctl_json j;
			ctl_json_init(&j, stdout);
			ctl_json_obj_begin(&j);
			ctl_json_kstr(&j, "instance", s.id);
			ctl_json_kstr(&j, "name", name);
			ctl_json_kbool(&j, "started", 1);
			ctl_json_obj_end(&j);
			ctl_json_finish(&j);
		} else {
			ctl_info(c, "started %s %s on instance %s: %s -> %s\n"
				 "  follow it: ebbctl %sstage status %s--follow "
				 "%s", _dir_word(dir), name, s.id, src, dst,
				 s.pre, s.post, name);
		}
		status = CTL_EXIT_OK;
		goto out;
	}
	ctl_info(c, "%s %s: %s -> %s (instance %s; Ctrl-C stops following, "
		 "not the stage)", _dir_word(dir), name, src, dst, s.id);
	_follow_init(&f, &s, name, verbose, interval);
	status = _follow(&f);
out:
	ident_free(&who);
	if (have)
		_st_close(&s);
	return status;
}

int ctl_cmd_import(struct ctl *c, int argc, char **argv)
{
	return _import_export(c, argc, argv, EBB_STAGE_IN);
}

int ctl_cmd_export(struct ctl *c, int argc, char **argv)
{
	return _import_export(c, argc, argv, EBB_STAGE_OUT);
}

/* ---- stage status -------------------------------------------------------- */

static void _print_detail(const struct _st *s, const struct ebb_stage_status *st,
			  int verbose)
{
	char b1[32], b2[32], eta[32] = "-", when[64] = "-";
	time_t t;
	struct tm tm;

	(void)verbose;
	printf("name:         %s\n", st->name);
	printf("direction:    %s (stage-%s)\n", _dir_word(st->dir),
	       st->dir == EBB_STAGE_IN ? "in" : "out");
	printf("state:        %s\n", st->state);
	printf("source:       %s\n", st->source ? st->source : "-");
	printf("destination:  %s\n", st->destination ? st->destination : "-");
	printf("files:        %llu of %llu done, %llu failed, %llu skipped\n",
	       (unsigned long long)st->files_done,
	       (unsigned long long)st->files_total,
	       (unsigned long long)st->files_failed,
	       (unsigned long long)st->files_skipped);
	printf("bytes:        %s of %s (%u%%)\n",
	       ctl_size(st->bytes_done, b1, sizeof(b1)),
	       ctl_size(st->bytes_total, b2, sizeof(b2)),
	       _pct(st->bytes_done, st->bytes_total));
	printf("retries:      %llu S3 requests retried\n",
	       (unsigned long long)st->retries);
	if (st->eta_s >= 0)
		ctl_duration((uint64_t)st->eta_s, eta, sizeof(eta));
	if (!_is_final(st->state))
		printf("rate:         %.1f MB/s, ETA %s\n", st->rate_bps / 1e6,
		       eta);
	if (st->started_ns > 0) {
		t = (time_t)(st->started_ns / 1000000000);
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
				 &tm);
		printf("started:      %s\n", when);
	}
	if (st->ended_ns > 0 && st->ended_ns >= st->started_ns)
		printf("took:         %.1f s\n",
		       (double)(st->ended_ns - st->started_ns) / 1e9);
	if (st->report)
		printf("report:       %s\n", st->report);
	if (st->error && *st->error) {
		const char *p = st->error;
		printf("errors:\n");
		while (*p) {
			size_t len = strcspn(p, "\n");
			printf("  %.*s\n", (int)len, p);
			p += len;
			if (*p == '\n')
				p++;
		}
	}
	if (st->nnodes) {
		printf("nodes:\n");
		for (unsigned k = 0; k < st->nnodes; k++) {
			char line[512];
			_node_line(s, &st->nodes[k], line, sizeof(line));
			printf("%s\n", line);
		}
	}
}

int ctl_cmd_stage_status(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"follow", no_argument, NULL, _OPT_FOLLOW},
		{"job", required_argument, NULL, _OPT_JOB},
		{"interval", required_argument, NULL, _OPT_INTERVAL},
		{"verbose", no_argument, NULL, 'v'},
		{NULL, 0, NULL, 0},
	};
	static const char *const heads[] = {"NAME", "DIR", "STATE", "FILES",
		"FAILED", "BYTES", "RATE", "ETA", "FROM", "TO"};
	struct ctl_opts o;
	struct _st s;
	struct _follow f;
	struct ebb_stage_status *list = NULL;
	const char *name = NULL, *job = NULL;
	unsigned n = 0, interval = 5;
	int opt, r, status, follow = 0, verbose = 0;

	ctl_opt_init(&o, argc, argv, "fv", longopts);
	while ((opt = ctl_opt_next(c, &o)) != -1) {
		switch (opt) {
		case 'f': case _OPT_FOLLOW: follow = 1; break;
		case _OPT_INTERVAL:
			if (_parse_interval(c, optarg, &interval))
				return CTL_EXIT_USAGE;
			break;
		case 'v': verbose = 1; break;
		case _OPT_JOB: job = optarg; break;
		}
	}
	if (o.stop)
		return o.status;
	if (argc - optind > 1)
		return ctl_usage(c, "unexpected argument '%s'",
				 argv[optind + 1]);
	if (optind < argc) {
		name = argv[optind];
		if (!_valid_name(name))
			return ctl_usage(c, "'%s' is not a stage name (1..32 "
					 "of [A-Za-z0-9._-])", name);
	}
	if (follow && !name)
		return ctl_usage(c, "--follow needs a stage NAME");
	status = _st_open(c, &s, job);
	if (status != CTL_EXIT_OK)
		goto out;
	if (follow) {
		_follow_init(&f, &s, name, verbose, interval);
		status = _follow(&f);
		goto out;
	}
	r = ebb_stage_status(s.id, s.members, s.nmembers, name, &c->opts,
			     &list, &n);
	if (r < 0 || (name && n == 0)) {
		int e = r < 0 ? errno : ENOENT;
		_call_error(&s, "status of", name ? name : "(all)", "", e);
		status = CTL_EXIT_FAIL;
		goto out;
	}
	status = CTL_EXIT_OK;
	if (c->json) {
		struct ctl_json j;
		ctl_json_init(&j, stdout);
		if (name) {
			_json_status(&j, &s, &list[0]);
		} else {
			ctl_json_arr_begin(&j);
			for (unsigned k = 0; k < n; k++)
				_json_status(&j, &s, &list[k]);
			ctl_json_arr_end(&j);
		}
		ctl_json_finish(&j);
	} else if (name) {
		_print_detail(&s, &list[0], verbose);
	} else if (n == 0) {
		ctl_info(c, "no stages on instance %s", s.id);
	} else {
		struct ctl_table t;
		ctl_table_init(&t, 10, heads, "lllrrrrlll");
		for (unsigned k = 0; k < n; k++) {
			const struct ebb_stage_status *st = &list[k];
			char b[80], eta[32] = "-";
			if (st->eta_s >= 0 && !_is_final(st->state))
				ctl_duration((uint64_t)st->eta_s, eta,
					     sizeof(eta));
			ctl_table_add(&t, "%s", st->name);
			ctl_table_add(&t, "%s", st->dir == EBB_STAGE_IN ?
				      "in" : "out");
			ctl_table_add(&t, "%s", st->state);
			ctl_table_add(&t, "%llu/%llu",
				      (unsigned long long)st->files_done,
				      (unsigned long long)st->files_total);
			ctl_table_add(&t, "%llu",
				      (unsigned long long)st->files_failed);
			ctl_table_add(&t, "%s", _of(st->bytes_done,
						    st->bytes_total, b,
						    sizeof(b)));
			if (_is_final(st->state))
				ctl_table_add(&t, "-");
			else
				ctl_table_add(&t, "%.1f MB/s",
					      st->rate_bps / 1e6);
			ctl_table_add(&t, "%s", eta);
			ctl_table_add(&t, "%s", st->source ? st->source : "");
			ctl_table_add(&t, "%s", st->destination ?
				      st->destination : "");
		}
		ctl_table_print(&t, stdout, c->quiet);
	}
out:
	if (list)
		ebb_stage_status_free(list, n);
	_st_close(&s);
	return status;
}

/* ---- stage retry / cancel / abandon ---------------------------------------- */

/* The NAME operand of retry/cancel/abandon, or a usage error. */
static const char *_name_operand(struct ctl *c, int argc, char **argv)
{
	if (argc - optind < 1) {
		ctl_usage(c, "missing stage NAME");
		return NULL;
	}
	if (argc - optind > 1) {
		ctl_usage(c, "unexpected argument '%s'", argv[optind + 1]);
		return NULL;
	}
	if (!_valid_name(argv[optind])) {
		ctl_usage(c, "'%s' is not a stage name (1..32 of "
			  "[A-Za-z0-9._-])", argv[optind]);
		return NULL;
	}
	return argv[optind];
}

/* `stage retry --job JOB` and `stage abandon --job JOB` without a NAME: the
 * job's stage_out stages that are failed or not yet run (retry), or that
 * have not ended (abandon): what a user with a kept export means.  Their
 * names go into names[max]; returns how many, or -1 (error printed). */
static int _job_stages(struct _st *s, int retry, char (*names)[_NAME_MAX + 1],
		       unsigned max)
{
	struct ebb_stage_status *list = NULL;
	unsigned n = 0, k = 0;

	if (ebb_stage_status(s->id, s->members, s->nmembers, NULL,
			     &s->c->opts, &list, &n) < 0) {
		ctl_errf(s->c, "asking %s for the stages of %s: %s",
			 s->members[0], s->id, strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < n && k < max; i++) {
		const char *st = list[i].state;
		int want;

		if (list[i].dir != EBB_STAGE_OUT)
			continue;
		want = retry ? !strcmp(st, "failed") || !strcmp(st, "waiting")
			     : strcmp(st, "done") && strcmp(st, "cancelled");
		if (want)
			snprintf(names[k++], _NAME_MAX + 1, "%s", list[i].name);
	}
	ebb_stage_status_free(list, n);
	if (!k)
		ctl_info(s->c, "instance %s has no stage_out to %s", s->id,
			 retry ? "retry (none failed)" : "abandon");
	return (int)k;
}

/* retry (or abandon) every stage _job_stages() picks for a Slurm job. */
static int _job_all(struct ctl *c, struct _st *s, const char *job, int retry)
{
	char names[16][_NAME_MAX + 1], err[512];
	int k, status = _st_open(c, s, job);

	if (status != CTL_EXIT_OK)
		return status;
	k = _job_stages(s, retry, names, 16);
	status = k < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
	for (int i = 0; i < k; i++) {
		int rc;

		err[0] = '\0';
		rc = retry ? ebb_stage_retry(s->id, s->members, s->nmembers,
					     names[i], &c->opts, err,
					     sizeof(err))
			   : ebb_stage_cancel(s->id, s->members, s->nmembers,
					      names[i], &c->opts, err,
					      sizeof(err));
		if (rc < 0) {
			_call_error(s, retry ? "retry" : "abandon", names[i],
				    err, errno);
			status = CTL_EXIT_FAIL;
		} else if (retry) {
			ctl_info(c, "retrying %s of job %s (follow it: ebbctl "
				 "stage status --job %s --follow %s); the file "
				 "system is removed once it is done", names[i],
				 job, job, names[i]);
		} else {
			ctl_info(c, "abandoned %s of job %s: nothing more is "
				 "exported; the job's file system and its data "
				 "are removed (objects already in S3 stay)",
				 names[i], job);
		}
	}
	return status;
}

int ctl_cmd_stage_retry(struct ctl *c, int argc, char **argv)
{
	struct ctl_opts o;
	struct _st s;
	struct _follow f;
	const char *name, *job = NULL;
	char err[512];
	unsigned interval = 5;
	int opt, status, no_wait = 0, verbose = 0;

	ctl_opt_init(&o, argc, argv, "v", _xfer_longopts);
	while ((opt = ctl_opt_next(c, &o)) != -1) {
		switch (opt) {
		case _OPT_NO_WAIT: no_wait = 1; break;
		case _OPT_INTERVAL:
			if (_parse_interval(c, optarg, &interval))
				return CTL_EXIT_USAGE;
			break;
		case 'v': verbose = 1; break;
		case _OPT_JOB: job = optarg; break;
		case _OPT_TYPE: case _OPT_NAME:
			return ctl_usage(c, "--type and --name belong to "
					 "import and export");
		}
	}
	if (o.stop)
		return o.status;
	if (job && optind == argc) {
		/* a Slurm job's failed exports, all of them */
		status = _job_all(c, &s, job, 1);
		goto out;
	}
	name = _name_operand(c, argc, argv);
	if (!name)
		return CTL_EXIT_USAGE;
	status = _st_open(c, &s, job);
	if (status != CTL_EXIT_OK)
		goto out;
	err[0] = '\0';
	if (ebb_stage_retry(s.id, s.members, s.nmembers, name, &c->opts, err,
			    sizeof(err)) < 0) {
		_call_error(&s, "retry", name, err, errno);
		status = CTL_EXIT_FAIL;
		goto out;
	}
	if (no_wait) {
		ctl_info(c, "retrying %s on instance %s\n  follow it: ebbctl %s"
			 "stage status %s--follow %s", name, s.id, s.pre,
			 s.post, name);
		status = CTL_EXIT_OK;
		goto out;
	}
	ctl_info(c, "retrying %s on instance %s (Ctrl-C stops following, not "
		 "the stage)", name, s.id);
	_follow_init(&f, &s, name, verbose, interval);
	status = _follow(&f);
out:
	_st_close(&s);
	return status;
}

static int _cancel(struct ctl *c, int argc, char **argv, int abandon)
{
	struct ctl_opts o;
	struct _st s;
	struct ebb_stage_status *list = NULL;
	static const struct option longopts[] = {
		{"job", required_argument, NULL, _OPT_JOB},
		{NULL, 0, NULL, 0},
	};
	const char *name, *job = NULL;
	char err[512];
	unsigned n = 0;
	int r, status, in = -1;

	ctl_opt_init(&o, argc, argv, "", longopts);
	while (ctl_opt_next(c, &o) != -1)
		job = optarg;   /* --job is the only option */
	if (o.stop)
		return o.status;
	if (job && optind == argc && abandon) {
		/* give up a Slurm job's kept exports, all of them */
		status = _job_all(c, &s, job, 0);
		goto out;
	}
	name = _name_operand(c, argc, argv);
	if (!name)
		return CTL_EXIT_USAGE;
	status = _st_open(c, &s, job);
	if (status != CTL_EXIT_OK)
		goto out;
	/* bbd's STAGE_CANCEL answers OK for any name (it is idempotent and
	 * members get it for stages they may not know), so a name that
	 * is no stage is found here.  Which way the stage went says what
	 * abandon keeps; another error leaves that unknown (the cancel is
	 * what matters). */
	r = ebb_stage_status(s.id, s.members, s.nmembers, name, &c->opts,
			     &list, &n);
	if ((r < 0 && errno == ENOENT) || (r == 0 && n == 0)) {
		_call_error(&s, abandon ? "abandon" : "cancel", name, "",
			    ENOENT);
		status = CTL_EXIT_FAIL;
		goto out;
	}
	if (r == 0)
		in = list[0].dir == EBB_STAGE_IN;
	err[0] = '\0';
	if (ebb_stage_cancel(s.id, s.members, s.nmembers, name, &c->opts, err,
			     sizeof(err)) < 0) {
		_call_error(&s, abandon ? "abandon" : "cancel", name, err,
			    errno);
		status = CTL_EXIT_FAIL;
		goto out;
	}
	status = CTL_EXIT_OK;
	if (c->json) {
		struct ctl_json j;
		ctl_json_init(&j, stdout);
		ctl_json_obj_begin(&j);
		ctl_json_kstr(&j, "instance", s.id);
		ctl_json_kstr(&j, "name", name);
		ctl_json_kstr(&j, "state", "cancelled");
		ctl_json_kbool(&j, "abandoned", abandon);
		ctl_json_obj_end(&j);
		ctl_json_finish(&j);
		goto out;
	}
	ctl_info(c, "cancelled stage %s on instance %s (transfers in flight "
		 "stopped%s)", name, s.id, in == 0 ? ", multipart uploads "
		 "aborted" : "");
	if (abandon)
		ctl_info(c, "abandoned: nothing more will be %s; %s stay in "
			 "instance %s until it is destroyed (ebbctl -n %s "
			 "instance destroy %s)%s", in == 0 ? "exported" :
			 in == 1 ? "imported" : "staged", in == 1 ?
			 "the files imported so far" : "its files", s.id,
			 s.node0, s.id, in == 0 ? "; objects already uploaded "
			 "stay in S3" : "");
out:
	if (list)
		ebb_stage_status_free(list, n);
	_st_close(&s);
	return status;
}

int ctl_cmd_stage_cancel(struct ctl *c, int argc, char **argv)
{
	return _cancel(c, argc, argv, 0);
}

int ctl_cmd_stage_abandon(struct ctl *c, int argc, char **argv)
{
	return _cancel(c, argc, argv, 1);
}
