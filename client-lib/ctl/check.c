/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebbctl check-script: check a batch script's burst-buffer directives
 * offline, the way the Slurm plugin checks them at sbatch time.
 *
 * DESIGN: the plugin and this command call the same parser
 * (common/directive.c) with the same inputs: the directive prefix (from
 * --prefix, else Directive= in the burst_buffer.conf next to $SLURM_CONF,
 * else BB), the site limits (ebb.conf: --config, else $EBB_CONF, else
 * SYSCONFDIR/ebb/ebb.conf if it exists) and the job's minimum node count
 * (-N, else the script's own #SBATCH -N / --nodes, else 1).  Stage lines
 * are checked against ebb.conf's s3_allow rules for the caller (or
 * --user, with --account) by the plugin's own code (common/stagecheck.c);
 * without an ebb.conf that check is skipped with a warning.  So a script
 * this command accepts is accepted by sbatch, as long as the command sees
 * the head node's configuration.  On top of the parser it warns about what
 * sbatch itself does differently: #BB lines after the first command are
 * ignored, and scripts with DOS line breaks are refused.  No daemon is
 * contacted.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "directive.h"
#include "ctl_int.h"
#include "ident.h"
#include "s3path.h"
#include "stagecheck.h"
#include "units.h"

/* Slurm's own default max_script_size is 4 MiB; anything much larger is
 * not a batch script. */
#define _MAX_SCRIPT (64u << 20)
#define _MAX_NODES 1000000u
#define _MAX_WARN 4

enum {
	_OPT_PREFIX = CTL_OPT_CMD,
	_OPT_CONFIG,
	_OPT_BB,
	_OPT_USER,
	_OPT_ACCOUNT,
};

static const struct option _longopts[] = {
	{"prefix", required_argument, NULL, _OPT_PREFIX},
	{"config", required_argument, NULL, _OPT_CONFIG},
	{"conf", required_argument, NULL, _OPT_CONFIG},
	{"user", required_argument, NULL, _OPT_USER},
	{"account", required_argument, NULL, _OPT_ACCOUNT},
	{"nodes", required_argument, NULL, 'N'},
	{"bb", required_argument, NULL, _OPT_BB},
	{NULL, 0, NULL, 0},
};

struct _check {
	const char *name;           /* the script as shown in messages */
	char *script;
	char *prefix;               /* owned */
	const char *prefix_from;    /* "--prefix", a file or "the default" */
	struct bb_limits lim;
	struct s3path_allow allow;  /* ebb.conf's s3_allow rules */
	unsigned nodes;
	const char *nodes_from;     /* "-N", "#SBATCH -N" or "the default" */
	const char *limits_from;    /* the ebb.conf read, or NULL */
	char *warn[_MAX_WARN];
	unsigned nwarn;
};

static void _warn(struct _check *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void _warn(struct _check *k, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (k->nwarn >= _MAX_WARN)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) >= 0)
		k->warn[k->nwarn++] = s;
	va_end(ap);
}

/* The whole script from path ("-" = stdin) into *out (caller frees).
 * 0, or -1 with errno (EFBIG when too large, EINVAL for a NUL byte). */
static int _read_script(const char *path, char **out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	size_t n = 0, cap = 0;
	char *b = NULL;
	int rc = -1, e = 0;

	*out = NULL;
	if (!f)
		return -1;
	for (;;) {
		size_t got;

		if (cap - n < 65536) {
			char *nb;
			if (cap >= _MAX_SCRIPT) {
				e = EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(b, cap + 1);
			if (!nb) {
				e = ENOMEM;
				goto out;
			}
			b = nb;
		}
		got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		e = errno ? errno : EIO;
		goto out;
	}
	if (memchr(b, '\0', n)) {
		e = EINVAL;
		goto out;
	}
	b[n] = '\0';
	*out = b;
	b = NULL;
	rc = 0;
out:
	free(b);
	if (f != stdin)
		fclose(f);
	if (rc < 0)
		errno = e;
	return rc;
}

/* Directive= from Slurm's burst_buffer.conf (next to $SLURM_CONF), or NULL
 * if the file cannot be read or does not set it.  Slurm's syntax: Key=Value
 * words, keys case-insensitive, '#' to the end of the line a comment. */
static char *_slurm_directive(char **path_out)
{
	const char *sc = getenv("SLURM_CONF");
	const char *slash = sc && *sc ? strrchr(sc, '/') : NULL;
	char line[4096], *path, *val = NULL;
	FILE *f;

	if (sc && *sc && slash) {
		if (asprintf(&path, "%.*s/burst_buffer.conf",
			     (int)(slash - sc), sc) < 0)
			return NULL;
	} else if (sc && *sc) {
		path = strdup("burst_buffer.conf");
	} else {
		path = strdup("/etc/slurm/burst_buffer.conf");
	}
	if (!path)
		return NULL;
	f = fopen(path, "r");
	if (!f) {
		free(path);
		return NULL;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '#'), *w, *save = NULL;

		if (p)
			*p = '\0';
		for (w = strtok_r(line, " \t\r\n", &save); w;
		     w = strtok_r(NULL, " \t\r\n", &save)) {
			size_t vl;

			if (strncasecmp(w, "Directive=", 10) != 0)
				continue;
			w += 10;
			vl = strlen(w);
			if (vl >= 2 && (w[0] == '"' || w[0] == '\'') &&
			    w[vl - 1] == w[0]) {
				w++;
				vl -= 2;
			}
			free(val);
			val = strndup(w, vl);
		}
	}
	fclose(f);
	if (val && !*val) {
		free(val);
		val = NULL;
	}
	if (val)
		*path_out = path;
	else
		free(path);
	return val;
}

/* ebb.conf: the keys of the directive limits and the s3_allow rules;
 * others are bbd's. */
static ebb_err _limit_set(void *ctx, const char *key, const char *value,
			  unsigned line, char *err, size_t errlen)
{
	struct _check *k = ctx;
	struct bb_limits *l = &k->lim;
	uint64_t *dst = NULL;
	char why[256];

	if (strcmp(key, "s3_allow") == 0)
		return s3path_allow_add(&k->allow, value, line, err, errlen);
	if (strcmp(key, "max_capacity") == 0)
		dst = &l->max_capacity;
	else if (strcmp(key, "max_capacity_per_node") == 0)
		dst = &l->max_per_node;
	else if (strcmp(key, "min_stripe_size") == 0)
		dst = &l->min_stripe_size;
	else if (strcmp(key, "max_stripe_size") == 0)
		dst = &l->max_stripe_size;
	if (!dst)
		return EBB_OK;
	if (units_parse_size(value, dst, why, sizeof(why)) != EBB_OK) {
		snprintf(err, errlen, "%s: %s", key, why);
		return EBB_E_CONFIG;
	}
	return EBB_OK;
}

/* The stage lines against the s3_allow rules, for the caller or --user
 * (and --account): what the plugin checks at sbatch.  0, or -1 with err
 * set. */
static int _check_stages(struct _check *k, const struct bb_request *r,
			 const char *user, const char *account, char *err,
			 size_t errlen)
{
	struct ident id;
	struct s3path_who who = {0};
	char why[256];
	ebb_err e;

	if (r->nstages == 0)
		return 0;
	if (!k->limits_from) {
		_warn(k, "no ebb.conf was read, so the stage lines were not "
		      "checked against the site's s3_allow rules: give "
		      "--config FILE");
		return 0;
	}
	e = user ? ident_name(user, &id, why, sizeof(why)) :
		   ident_uid(getuid(), &id, why, sizeof(why));
	if (e != EBB_OK) {
		snprintf(err, errlen, "%s%s", user ? "--user: " : "",
			 e == EBB_ENOMEM ? "out of memory" : why);
		return -1;
	}
	who.user = id.user;
	who.groups = (const char *const *)id.groups;
	who.ngroups = id.ngroups;
	who.account = account;
	e = bb_stages_check(r, &k->allow, &who, err, errlen);
	ident_free(&id);
	if (e != EBB_OK)
		return -1;
	return 0;
}

/* The byte just past the script's leading comment block (where sbatch
 * stops reading #SBATCH), and that line's number (0 if there is none). */
static const char *_header_end(const char *s, unsigned *lineno)
{
	unsigned n = 0;

	*lineno = 0;
	while (*s) {
		const char *nl = strchr(s, '\n');
		const char *p = s;

		n++;
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\v' ||
		       *p == '\f')
			p++;
		if (*p && *p != '\n' && *p != '#') {
			*lineno = n;
			return s;
		}
		if (!nl)
			break;
		s = nl + 1;
	}
	return s + strlen(s);
}

/* The smallest node count in an sbatch -N value ("4", "2-8", "2,4"), or
 * 0 if there is none. */
static unsigned _nodes_value(const char *v)
{
	unsigned best = 0;

	while (*v) {
		char *end;
		unsigned long x;

		if (*v < '0' || *v > '9') {
			v++;
			continue;
		}
		x = strtoul(v, &end, 10);
		if (x >= 1 && x <= _MAX_NODES && (!best || x < best))
			best = (unsigned)x;
		v = end;
	}
	return best;
}

/* The script's #SBATCH -N / --nodes (the last one wins, as in sbatch),
 * or 0 if it gives none. */
static unsigned _script_nodes(const char *s, const char *end)
{
	unsigned nodes = 0;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
		char *line, *w, *save = NULL;
		int want_value = 0;

		if (len > 8 && strncmp(s, "#SBATCH", 7) == 0 &&
		    (s[7] == ' ' || s[7] == '\t') &&
		    (line = strndup(s, len)) != NULL) {
			for (w = strtok_r(line + 7, " \t\r", &save);
			     w && w[0] != '#';
			     w = strtok_r(NULL, " \t\r", &save)) {
				const char *v = NULL;
				unsigned x;

				if (want_value)
					v = w;
				else if (strncmp(w, "--nodes=", 8) == 0)
					v = w + 8;
				else if (strncmp(w, "-N", 2) == 0 && w[2])
					v = w + 2;
				want_value = strcmp(w, "-N") == 0 ||
					     strcmp(w, "--nodes") == 0;
				if (v && (x = _nodes_value(v)) > 0)
					nodes = x;
			}
			free(line);
		}
		s = nl ? nl + 1 : end;
	}
	return nodes;
}

/* Warnings for what sbatch does that the parser does not see. */
static void _script_warnings(struct _check *k, const char *end,
			     unsigned first_cmd)
{
	size_t plen = strlen(k->prefix);
	const char *s = end;
	unsigned n = first_cmd, ignored = 0, first = 0;

	if (strstr(k->script, "\r\n"))
		_warn(k, "DOS line breaks (\\r\\n): sbatch refuses such "
		      "scripts: convert it with dos2unix");
	while (first_cmd && *s) {
		const char *nl = strchr(s, '\n');

		if (s[0] == '#' && strncmp(s + 1, k->prefix, plen) == 0 &&
		    (s[1 + plen] == ' ' || s[1 + plen] == '\t' ||
		     s[1 + plen] == '\n' || s[1 + plen] == '\r' ||
		     !s[1 + plen])) {
			if (!ignored++)
				first = n;
		}
		if (!nl)
			break;
		s = nl + 1;
		n++;
	}
	if (ignored)
		_warn(k, "line %u: #%s after the first command (line %u) is "
		      "ignored, as sbatch ignores #SBATCH there%s: move it "
		      "up", first, k->prefix, first_cmd,
		      ignored > 1 ? " (and more lines after it)" : "");
}

static void _print_json(struct _check *k, ebb_err rc,
			const struct bb_request *r, const char *err)
{
	struct ctl_json j;

	ctl_json_init(&j, stdout);
	ctl_json_obj_begin(&j);
	ctl_json_kstr(&j, "script", k->name);
	ctl_json_kbool(&j, "ok", rc == EBB_OK);
	ctl_json_kstr(&j, "prefix", k->prefix);
	ctl_json_ku64(&j, "nodes", k->nodes);
	if (rc != EBB_OK) {
		ctl_json_kstr(&j, "error", err);
	} else {
		ctl_json_ku64(&j, "directives", r->ndirectives);
		ctl_json_ku64(&j, "capacity", r->capacity);
		ctl_json_ku64(&j, "per_node", r->capacity / k->nodes +
			      (r->capacity % k->nodes != 0));
		ctl_json_ku64(&j, "stripe_size", r->stripe_size);
		ctl_json_kstr(&j, "cache", bb_cache_name(r->cache));
		ctl_json_key(&j, "stages");
		ctl_json_arr_begin(&j);
		for (unsigned i = 0; i < r->nstages; i++) {
			const struct bb_stage *st = &r->stages[i];

			ctl_json_obj_begin(&j);
			ctl_json_kstr(&j, "direction",
				      st->dir == BB_STAGE_IN ? "in" : "out");
			ctl_json_kstr(&j, "source", st->source);
			ctl_json_kstr(&j, "destination", st->destination);
			ctl_json_kstr(&j, "type", bb_stage_type_name(st->type));
			if (st->dir == BB_STAGE_IN)
				ctl_json_kstr(&j, "mode",
					      bb_stage_mode_name(st->mode));
			ctl_json_ku64(&j, "line", st->line);
			ctl_json_obj_end(&j);
		}
		ctl_json_arr_end(&j);
		ctl_json_key(&j, "canonical");
		if (r->canonical)
			ctl_json_str(&j, r->canonical);
		else
			ctl_json_null(&j);
	}
	ctl_json_key(&j, "warnings");
	ctl_json_arr_begin(&j);
	for (unsigned i = 0; i < k->nwarn; i++)
		ctl_json_str(&j, k->warn[i]);
	ctl_json_arr_end(&j);
	ctl_json_obj_end(&j);
	ctl_json_finish(&j);
}

static void _print_ok(const struct _check *k, const struct bb_request *r)
{
	char b1[32], b2[32], b3[32];
	unsigned nin = 0, nout = 0;

	if (r->ndirectives == 0) {
		printf("%s: ok: no #%s directives (the job gets no ebb file "
		       "system)\n", k->name, k->prefix);
		return;
	}
	for (unsigned i = 0; i < r->nstages; i++) {
		if (r->stages[i].dir == BB_STAGE_IN)
			nin++;
		else
			nout++;
	}
	/* the cache only when asked: it is what a reader must notice */
	printf("%s: ok: capacity %s on %u node(s) (>= %s per node), stripe "
	       "%s%s, %u stage_in, %u stage_out\n", k->name,
	       ctl_size(r->capacity, b1, sizeof(b1)), k->nodes,
	       ctl_size(r->capacity / k->nodes +
			(r->capacity % k->nodes != 0), b2, sizeof(b2)),
	       r->stripe_size ? ctl_size(r->stripe_size, b3, sizeof(b3))
			      : "default",
	       r->cache == BB_CACHE_WRITEBACK ? ", writeback cache (not for "
	       "a file written from several nodes at once)" : "", nin, nout);
}

int ctl_cmd_check_script(struct ctl *c, int argc, char **argv)
{
	struct ctl_opts o;
	struct _check k;
	struct bb_request r;
	const char *prefix_opt = NULL, *config = NULL, *extra = NULL;
	const char *user = NULL, *account = NULL;
	const char *env, *hdr_end;
	char err[1024], *bbconf = NULL;
	unsigned long long v;
	unsigned first_cmd, sn;
	int opt, status = CTL_EXIT_FAIL;
	ebb_err rc;

	memset(&k, 0, sizeof(k));
	memset(&r, 0, sizeof(r));
	ctl_opt_init(&o, argc, argv, "N:", _longopts);
	while ((opt = ctl_opt_next(c, &o)) != -1) {
		switch (opt) {
		case _OPT_PREFIX:
			prefix_opt = optarg;
			break;
		case _OPT_CONFIG:
			config = optarg;
			break;
		case _OPT_BB:
			extra = optarg;
			break;
		case _OPT_USER:
			user = optarg;
			break;
		case _OPT_ACCOUNT:
			account = optarg;
			break;
		case 'N':
			if (ctl_parse_uint(optarg, _MAX_NODES, &v) < 0 ||
			    v == 0)
				return ctl_usage(c, "-N: '%s' is not a number "
						 "of nodes (1..%u)", optarg,
						 _MAX_NODES);
			k.nodes = (unsigned)v;
			k.nodes_from = "-N";
			break;
		default:
			return ctl_usage(c, "unexpected option");
		}
	}
	if (o.stop)
		return o.status;
	if (optind >= argc)
		return ctl_usage(c, "no script given (a file, or - for "
				 "standard input)");
	if (optind + 1 < argc)
		return ctl_usage(c, "unexpected argument '%s'",
				 argv[optind + 1]);
	if (prefix_opt && (!*prefix_opt || strpbrk(prefix_opt, " \t;=")))
		return ctl_usage(c, "--prefix: '%s' is not a directive word "
				 "(such as BB)", prefix_opt);
	k.name = strcmp(argv[optind], "-") == 0 ? "<stdin>" : argv[optind];

	/* the prefix */
	if (prefix_opt) {
		k.prefix = strdup(prefix_opt[0] == '#' ? prefix_opt + 1
						       : prefix_opt);
		k.prefix_from = "--prefix";
	} else if ((k.prefix = _slurm_directive(&bbconf)) != NULL) {
		k.prefix_from = bbconf;
		if (k.prefix[0] == '#')
			memmove(k.prefix, k.prefix + 1, strlen(k.prefix));
	} else {
		k.prefix = strdup("BB");
		k.prefix_from = "the default";
	}
	if (!k.prefix) {
		status = ctl_err(c, "prefix", ENOMEM);
		goto out;
	}

	/* the limits */
	env = getenv("EBB_CONF");
	if (!config && env && *env)
		config = env;
	if (!config && access(SYSCONFDIR "/ebb/ebb.conf", F_OK) == 0)
		config = SYSCONFDIR "/ebb/ebb.conf";
	err[0] = '\0';
	if (config && conf_load_lines(config, 0, _limit_set, &k, err,
				      sizeof(err)) != EBB_OK) {
		ctl_errf(c, "%s", err);
		goto out;
	}
	k.limits_from = config;

	if (_read_script(argv[optind], &k.script) < 0) {
		if (errno == EINVAL)
			ctl_errf(c, "%s: the file holds a NUL byte: it is not "
				 "a batch script", k.name);
		else if (errno == EFBIG)
			ctl_errf(c, "%s: larger than %u MiB: not a batch "
				 "script", k.name, _MAX_SCRIPT >> 20);
		else
			ctl_err(c, k.name, errno);
		goto out;
	}

	/* the node count */
	hdr_end = _header_end(k.script, &first_cmd);
	sn = _script_nodes(k.script, hdr_end);
	if (!k.nodes && sn) {
		k.nodes = sn;
		k.nodes_from = "#SBATCH -N";
	}
	if (!k.nodes) {
		k.nodes = 1;
		k.nodes_from = "the default";
	}
	_script_warnings(&k, hdr_end, first_cmd);

	err[0] = '\0';
	rc = bb_parse(k.script, extra, k.prefix, k.nodes, &k.lim, &r, err,
		      sizeof(err));
	if (rc == EBB_OK && _check_stages(&k, &r, user, account, err,
					  sizeof(err)) < 0) {
		/* as a parse error: the summary is not printed */
		bb_request_free(&r);
		rc = EBB_E_DENIED;
	}
	if (!c->quiet)
		for (unsigned i = 0; i < k.nwarn; i++)
			fprintf(stderr, "%s: warning: %s\n", k.name, k.warn[i]);
	if (c->json)
		_print_json(&k, rc, &r, err);
	if (rc != EBB_OK) {
		fflush(stdout);
		fprintf(stderr, "%s: error: %s\n", k.name, err);
		goto out;
	}
	if (!c->json)
		_print_ok(&k, &r);
	ctl_info(c, "%s: read with prefix #%s (%s), %u node(s) (%s), %s%s",
		 k.name, k.prefix, k.prefix_from, k.nodes, k.nodes_from,
		 k.limits_from ? "limits of " : "no site limits",
		 k.limits_from ? k.limits_from : "");
	status = CTL_EXIT_OK;
out:
	bb_request_free(&r);
	for (unsigned i = 0; i < k.nwarn; i++)
		free(k.warn[i]);
	free(k.script);
	free(k.prefix);
	free(bbconf);
	s3path_allow_free(&k.allow);
	return status;
}
