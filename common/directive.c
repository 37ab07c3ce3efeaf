/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Burst-buffer directive parser (see directive.h; the grammar is
 * docs/directives.md).
 *
 * DESIGN: one pass over the script's leading comment block, then over the
 * --bb text, one directive at a time.  A directive is copied into a scratch
 * buffer and cut into key=value tokens in place; the keys of every
 * directive kind are a bit set over one key table, so "unknown key" can
 * tell a key that belongs on another line from a typo, and list what is
 * valid.  Values are checked as soon as the directive is complete, so a
 * message names the line it comes from.  The first error ends the parse:
 * its message is the only output and everything allocated is freed.  All
 * state is in one struct on the caller's stack (struct _ps), so any thread
 * may call bb_parse().
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "directive.h"
#include "units.h"

#define _MAX_LINE 4096      /* characters in one directive (without "\r\n") */
#define _MAX_STAGES 256     /* stage directives in one job */
#define _MAX_NAME 255       /* bytes in one path component (as bbd) */
#define _MAX_S3_KEY 1024    /* bytes in an S3 object key */
#define _MAX_PREFIX 64
#define _SHOW_MAX 40        /* bytes of a user's value quoted in a message */
#define _DEF_MIN_STRIPE (64ULL << 10)
#define _DEF_MAX_STRIPE (16ULL << 20) /* bbd's largest (PROTO_MAX_STRIPE) */

enum _kind { _K_CAPACITY, _K_STAGE_IN, _K_STAGE_OUT, _NKINDS };

static const char *const _kind_names[_NKINDS] = {
	"capacity", "stage_in", "stage_out",
};

/* Every key of every directive, in canonical order. */
enum _key { _CAPACITY, _STRIPE, _CACHE, _SOURCE, _DEST, _TYPE, _MODE,
	    _NKEYS };

static const char *const _key_names[_NKEYS] = {
	"capacity", "stripe_size", "cache", "source", "destination", "type",
	"mode",
};

#define _B(k) (1u << (k))
/* The keys each kind takes, and of those the ones it needs. */
static const unsigned _kind_keys[_NKINDS] = {
	[_K_CAPACITY] = _B(_CAPACITY) | _B(_STRIPE) | _B(_CACHE),
	[_K_STAGE_IN] = _B(_SOURCE) | _B(_DEST) | _B(_TYPE) | _B(_MODE),
	[_K_STAGE_OUT] = _B(_SOURCE) | _B(_DEST) | _B(_TYPE),
};
static const unsigned _kind_needs[_NKINDS] = {
	[_K_CAPACITY] = _B(_CAPACITY),
	[_K_STAGE_IN] = _B(_SOURCE) | _B(_DEST),
	[_K_STAGE_OUT] = _B(_SOURCE) | _B(_DEST),
};

/* Words a directive may start with, for "did you mean": the keys of the
 * capacity line, then the stage words. */
enum _word { _W_CAPACITY, _W_STRIPE, _W_CACHE, _W_STAGE_IN, _W_STAGE_OUT,
	     _NWORDS };
static const char *const _words[_NWORDS] = {
	"capacity", "stripe_size", "cache", "stage_in", "stage_out",
};

#define _CAPACITY_LINE "capacity=SIZE [stripe_size=SIZE] [cache=writeback]"
#define _KNOWN_DIRECTIVES \
	"directives are " _CAPACITY_LINE ", stage_in and stage_out"

/* The parse state: the caller's arguments and what was found so far. */
struct _ps {
	const char *prefix;
	size_t plen;
	unsigned min_nodes;
	struct bb_limits lim;       /* with the stripe defaults filled in */
	char *err;
	size_t errlen;
	unsigned line;              /* of the directive at hand; 0 = --bb */
	char show[3][_SHOW_MAX * 4 + 8];
	unsigned nshow;

	int have_cap;
	unsigned cap_line;
	char *cap_text, *stripe_text;   /* the user's tokens */
	uint64_t capacity, stripe;
	enum bb_cache cache;
	struct bb_stage *stages;
	unsigned nstages, stages_alloc;
};

/* One directive being read: its kind and its values (pointers into the
 * scratch copy; NULL = not given). */
struct _dir {
	enum _kind kind;
	char *val[_NKEYS];
};

/* ---- messages -------------------------------------------------------- */

static ebb_err _fail(struct _ps *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static ebb_err _fail(struct _ps *ps, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ps->line)
		snprintf(ps->err, ps->errlen, "line %u: %s", ps->line, msg);
	else
		snprintf(ps->err, ps->errlen, "--bb: %s", msg);
	return EBB_EINVAL;
}

static ebb_err _oom(struct _ps *ps)
{
	snprintf(ps->err, ps->errlen, "out of memory");
	return EBB_ENOMEM;
}

/* A user's text, fit to quote in a one-line message: control characters
 * as \xNN, at most _SHOW_MAX bytes (never cutting a UTF-8 sequence) and
 * "..." if cut.  Three buffers rotate, so one message can show three. */
static const char *_show(struct _ps *ps, const char *s)
{
	char *b = ps->show[ps->nshow++ % 3];
	size_t n = 0, i;

	for (i = 0; s[i] && (i < _SHOW_MAX ||
			     ((unsigned char)s[i] & 0xC0) == 0x80); i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f)
			n += (size_t)sprintf(b + n, "\\x%02x", ch);
		else
			b[n++] = (char)ch;
	}
	if (s[i]) {
		memcpy(b + n, "...", 3);
		n += 3;
	}
	b[n] = '\0';
	return b;
}

/* A size for a message: "2.5 TiB" or "3 TB" when that is exact, else
 * approximate in binary units ("133.3 GiB"). */
static const char *_fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char *const dec[] = {"KB", "MB", "GB", "TB", "PB", "EB"};
	char why[128];
	uint64_t back, m = 1000;
	int i = 0;

	if (v < 1000) {
		snprintf(buf, len, "%llu B", (unsigned long long)v);
		return buf;
	}
	units_format_size(v, buf, len);
	if (units_parse_size(buf, &back, why, sizeof(why)) == EBB_OK &&
	    back == v)
		return buf;
	while (i < 5 && v / m >= 1000) {
		m *= 1000;
		i++;
	}
	snprintf(buf, len, "%.4g %s", (double)v / (double)m, dec[i]);
	if (units_parse_size(buf, &back, why, sizeof(why)) == EBB_OK &&
	    back == v)
		return buf;
	return units_format_size(v, buf, len);
}

/* Optimal string alignment distance (a swap of two neighbours counts 1),
 * case-insensitive; words longer than 31 bytes are "far". */
static unsigned _distance(const char *a, size_t la, const char *b)
{
	unsigned d[33][33];
	size_t lb = strlen(b), i, j;

	if (la > 31 || lb > 31)
		return 99;
	for (i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			char x = (char)(a[i - 1] | 0x20), y = (char)(b[j - 1] | 0x20);
			unsigned c = x != y, v = d[i - 1][j - 1] + c;

			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && x == (b[j - 2] | 0x20) &&
			    (a[i - 2] | 0x20) == y && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

/* The closest of names[0..n) to s[0..len) if it is an obvious typo
 * (distance <= 2, and less than the word's length), else NULL. */
static const char *_closest(const char *s, size_t len,
			    const char *const *names, size_t n)
{
	const char *best = NULL;
	unsigned bd = 3;

	for (size_t i = 0; i < n; i++) {
		unsigned dd = _distance(s, len, names[i]);
		if (dd < bd && dd < len) {
			bd = dd;
			best = names[i];
		}
	}
	return best;
}

/* What a key looks like, for "missing" and "no value" messages. */
static const char *_key_hint(enum _kind kind, enum _key k)
{
	switch (k) {
	case _CAPACITY:
		return "capacity=SIZE, e.g. capacity=400GiB";
	case _STRIPE:
		return "stripe_size=SIZE (a power of two), e.g. stripe_size=4MiB";
	case _CACHE:
		return "cache=writeback or cache=none";
	case _SOURCE:
		return kind == _K_STAGE_IN
			? "source=s3://BUCKET/PREFIX, e.g. source=s3://my-bucket/run42/"
			: "source=PATH relative to $EBB_JOB_DIR, e.g. source=results/";
	case _DEST:
		return kind == _K_STAGE_IN
			? "destination=PATH relative to $EBB_JOB_DIR, e.g. destination=input/"
			: "destination=s3://BUCKET/PREFIX, e.g. destination=s3://my-bucket/results/";
	case _TYPE:
		return "type=file or type=directory";
	case _MODE:
		return "mode=eager or mode=lazy";
	default:
		return "KEY=VALUE";
	}
}

/* "source, destination, type, mode" */
static void _key_list(enum _kind kind, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int k = 0; k < _NKEYS; k++)
		if (_kind_keys[kind] & _B(k))
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
					      n ? ", " : "", _key_names[k]);
}

/* ---- values ---------------------------------------------------------- */

static int _is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int _has_ctl(const char *s)
{
	for (; *s; s++)
		if (_is_ctl((unsigned char)*s))
			return 1;
	return 0;
}

/* Parse a size given as key=v into *out. */
static ebb_err _size(struct _ps *ps, const char *key, const char *v,
		     uint64_t *out)
{
	char why[256];
	size_t n = strlen(v), sl;
	const char *rest;
	char q[_SHOW_MAX * 4 + 8];

	/* "3.5T": say which two spellings were meant, with the number. */
	if (n >= 2 && n <= _SHOW_MAX && strchr("KkMmGgTtPp", v[n - 1]) &&
	    strspn(v, "0123456789.") == n - 1) {
		char u = (char)(v[n - 1] & ~0x20);

		return _fail(ps, "%s=%s: '%c' is ambiguous: write %.*s%ciB "
			     "(powers of 1024) or %.*s%cB (powers of 1000)",
			     key, v, v[n - 1], (int)(n - 1), v, u,
			     (int)(n - 1), v, u);
	}
	why[0] = '\0';
	if (units_parse_size(v, out, why, sizeof(why)) == EBB_OK)
		return EBB_OK;
	/* units.c starts its reason with the value quoted; we name it as
	 * key=value instead. */
	snprintf(q, sizeof(q), "'%s'", v);
	sl = strlen(q);
	if (strncmp(why, q, sl) == 0 && (why[sl] == ':' || why[sl] == ' '))
		rest = why + sl;   /* ": reason" or " is not ..." */
	else
		rest = NULL;
	if (rest)
		return _fail(ps, "%s=%s%s", key, _show(ps, v), rest);
	/* A value too long to quote whole: units.c's reason would repeat
	 * it, so give a short one of our own. */
	return _fail(ps, "%s=%s is not a size: write a number and a unit, "
		     "e.g. 400GiB or 3.5TB", key, _show(ps, v));
}

/* The canonical form of a path inside the job's file system (stage_in
 * destination, stage_out source) into *out (caller frees). */
static ebb_err _job_path(struct _ps *ps, enum _kind kind, const char *key,
			 const char *v, char **out)
{
	const char *eg = kind == _K_STAGE_IN ? "input/" : "results/";
	const char *p = v;
	size_t vl = strlen(v), n = 0;
	int dir = vl > 0 && v[vl - 1] == '/';
	char *r;

	*out = NULL;
	if (strstr(v, "://")) {
		if (kind == _K_STAGE_IN)
			return _fail(ps, "destination=%s is a URL: stage_in "
				     "copies from S3 into $EBB_JOB_DIR: write "
				     "source=s3://BUCKET/PREFIX destination="
				     "PATH", _show(ps, v));
		return _fail(ps, "source=%s is a URL: stage_out copies from "
			     "$EBB_JOB_DIR to S3: write source=PATH "
			     "destination=s3://BUCKET/PREFIX", _show(ps, v));
	}
	if (v[0] == '$' || v[0] == '~')
		return _fail(ps, "%s=%s: variables and '~' are not expanded: "
			     "write a path relative to $EBB_JOB_DIR, e.g. %s=%s",
			     key, _show(ps, v), key, eg);
	if (v[0] == '/')
		return _fail(ps, "%s=%s is an absolute path: write a path "
			     "relative to $EBB_JOB_DIR, e.g. %s=%s", key,
			     _show(ps, v), key, eg);
	r = malloc(vl + 3);
	if (!r)
		return _oom(ps);
	while (*p) {
		size_t c = strcspn(p, "/");

		if (c == 2 && p[0] == '.' && p[1] == '.') {
			free(r);
			return _fail(ps, "%s=%s has a '..' component: write a "
				     "path inside $EBB_JOB_DIR without '..', "
				     "e.g. %s=%s", key, _show(ps, v), key, eg);
		}
		if (c > _MAX_NAME) {
			free(r);
			return _fail(ps, "%s=%s: a path component is longer "
				     "than %d bytes: shorten it", key,
				     _show(ps, v), _MAX_NAME);
		}
		if (c == 1 && p[0] == '.') {
			/* "a/." names the directory a/ */
			if (!p[1])
				dir = 1;
		} else if (c > 0) {
			if (n)
				r[n++] = '/';
			memcpy(r + n, p, c);
			n += c;
		}
		p += c;
		if (*p == '/')
			p++;
	}
	if (n == 0) {
		/* only '.' and '/': the root of the job's file system */
		memcpy(r, "./", 3);
	} else {
		if (dir)
			r[n++] = '/';
		r[n] = '\0';
	}
	/* "./$x" loses its "./": the canonical form must pass the same
	 * checks as what the user wrote. */
	if (strchr("$~\"'", r[0])) {
		char c = r[0];

		free(r);
		return _fail(ps, "%s=%s: a path may not start with '%c' (no "
			     "variables, '~' or quotes): write a path relative "
			     "to $EBB_JOB_DIR, e.g. %s=%s", key, _show(ps, v),
			     c, key, eg);
	}
	*out = r;
	return EBB_OK;
}

/* Check an S3 URL given as key=v. */
static ebb_err _s3_url(struct _ps *ps, enum _kind kind, const char *key,
		       const char *v)
{
	const char *b, *slash, *k;
	size_t bl, i, dots = 0;
	int ip = 1;
	char bucket[80];

	if (strncmp(v, "s3://", 5) != 0) {
		if (!strstr(v, "://") && kind == _K_STAGE_IN)
			return _fail(ps, "source=%s is not an S3 URL: stage_in "
				     "copies from S3 into $EBB_JOB_DIR: write "
				     "source=s3://BUCKET/PREFIX", _show(ps, v));
		if (!strstr(v, "://"))
			return _fail(ps, "destination=%s is not an S3 URL: "
				     "stage_out copies from $EBB_JOB_DIR to S3:"
				     " write destination=s3://BUCKET/PREFIX",
				     _show(ps, v));
		return _fail(ps, "%s=%s is not an S3 URL: write s3://BUCKET/"
			     "PREFIX, e.g. %s=s3://my-bucket/run42/", key,
			     _show(ps, v), key);
	}
	b = v + 5;
	slash = strchr(b, '/');
	bl = slash ? (size_t)(slash - b) : strlen(b);
	k = slash ? slash + 1 : b + bl;
	if (bl == 0)
		return _fail(ps, "%s=%s has no bucket name: write s3://BUCKET/"
			     "PREFIX, e.g. %s=s3://my-bucket/run42/", key,
			     _show(ps, v), key);
	snprintf(bucket, sizeof(bucket), "%.*s",
		 (int)(bl < 64 ? bl : 64), b);
	if (bl < 3 || bl > 63)
		return _fail(ps, "%s=%s: bucket name '%s' has %zu "
			     "character%s: S3 bucket names have 3 to 63", key,
			     _show(ps, v), _show(ps, bucket), bl,
			     bl == 1 ? "" : "s");
	for (i = 0; i < bl; i++) {
		char c = b[i];

		if (c == '.') {
			dots++;
			if (i > 0 && b[i - 1] == '.')
				return _fail(ps, "%s=%s: bucket name '%s' has "
					     "'..': S3 bucket names cannot",
					     key, _show(ps, v),
					     _show(ps, bucket));
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			     c == '-')) {
			return _fail(ps, "%s=%s: bucket name '%s' has '%s': S3 "
				     "bucket names use only lowercase letters, "
				     "digits, '.' and '-'", key, _show(ps, v),
				     _show(ps, bucket),
				     _show(ps, (char[]){c, '\0'}));
		}
		if (!(c == '.' || (c >= '0' && c <= '9')))
			ip = 0;
	}
	if (b[0] == '.' || b[0] == '-' || b[bl - 1] == '.' || b[bl - 1] == '-')
		return _fail(ps, "%s=%s: bucket name '%s' must start and end "
			     "with a letter or digit", key, _show(ps, v),
			     _show(ps, bucket));
	if (ip && dots == 3)
		return _fail(ps, "%s=%s: bucket name '%s' looks like an IP "
			     "address: S3 bucket names cannot", key,
			     _show(ps, v), _show(ps, bucket));
	if (strlen(k) > _MAX_S3_KEY)
		return _fail(ps, "%s=%s: the object key is longer than %d "
			     "bytes (the S3 limit): shorten it", key,
			     _show(ps, v), _MAX_S3_KEY);
	return EBB_OK;
}

/* ---- directives ------------------------------------------------------ */

/* The capacity directive: check both sizes against the limits; keep it. */
static ebb_err _capacity(struct _ps *ps, struct _dir *d)
{
	char a[32], b[32], c[32];
	uint64_t cap, stripe = 0, share;
	const char *cv = d->val[_CAPACITY], *sv = d->val[_STRIPE];
	const char *cav = d->val[_CACHE];
	enum bb_cache cache = BB_CACHE_NONE;
	ebb_err rc;

	if (ps->have_cap) {
		if (ps->cap_line)
			return _fail(ps, "a second capacity directive (the "
				     "first is on line %u): give capacity "
				     "once", ps->cap_line);
		return _fail(ps, "a second capacity directive (the first is "
			     "in --bb): give capacity once");
	}
	rc = _size(ps, "capacity", cv, &cap);
	if (rc != EBB_OK)
		return rc;
	if (cap == 0)
		return _fail(ps, "capacity=%s: the capacity must be more than "
			     "0: give the total size the job needs, e.g. "
			     "capacity=400GiB", _show(ps, cv));
	if (ps->lim.max_capacity && cap > ps->lim.max_capacity)
		return _fail(ps, "capacity=%s is more than this site's limit "
			     "of %s per job (max_capacity): ask for at most %s",
			     _show(ps, cv),
			     _fmt_size(ps->lim.max_capacity, a, sizeof(a)),
			     _fmt_size(ps->lim.max_capacity, b, sizeof(b)));
	share = cap / ps->min_nodes + (cap % ps->min_nodes != 0);
	if (ps->lim.max_per_node && share > ps->lim.max_per_node) {
		uint64_t need = cap / ps->lim.max_per_node +
				(cap % ps->lim.max_per_node != 0);

		return _fail(ps, "capacity=%s on %u node(s) is %s per node, "
			     "over the limit of %s per node "
			     "(max_capacity_per_node): use at least %llu "
			     "nodes (sbatch -N %llu) or a smaller capacity",
			     _show(ps, cv), ps->min_nodes,
			     _fmt_size(share, a, sizeof(a)),
			     _fmt_size(ps->lim.max_per_node, b, sizeof(b)),
			     (unsigned long long)need,
			     (unsigned long long)need);
	}
	if (sv) {
		uint64_t lo = ps->lim.min_stripe_size;
		uint64_t hi = ps->lim.max_stripe_size;

		rc = _size(ps, "stripe_size", sv, &stripe);
		if (rc != EBB_OK)
			return rc;
		if (stripe == 0 || (stripe & (stripe - 1)) != 0) {
			uint64_t below = 1;

			if (stripe == 0)
				return _fail(ps, "stripe_size=%s: must be a "
					     "power of two from %s to %s",
					     _show(ps, sv),
					     _fmt_size(lo, a, sizeof(a)),
					     _fmt_size(hi, b, sizeof(b)));
			while (below <= stripe / 2)
				below <<= 1;
			return _fail(ps, "stripe_size=%s is not a power of two:"
				     " use e.g. %s or %s", _show(ps, sv),
				     _fmt_size(below, a, sizeof(a)),
				     _fmt_size(below << 1, b, sizeof(b)));
		}
		if (stripe < lo || stripe > hi)
			return _fail(ps, "stripe_size=%s is %s the %s of %s: "
				     "use a power of two from %s to %s",
				     _show(ps, sv),
				     stripe < lo ? "below" : "above",
				     stripe < lo ? "minimum" : "maximum",
				     _fmt_size(stripe < lo ? lo : hi, a,
					       sizeof(a)),
				     _fmt_size(lo, b, sizeof(b)),
				     _fmt_size(hi, c, sizeof(c)));
		if (stripe > cap)
			return _fail(ps, "stripe_size=%s is larger than "
				     "capacity=%s: use a stripe size of at most "
				     "the capacity", _show(ps, sv),
				     _show(ps, cv));
	}
	if (cav && strcmp(cav, "writeback") == 0)
		cache = BB_CACHE_WRITEBACK;
	else if (cav && strcmp(cav, "none") != 0)
		return _fail(ps, "cache=%s is not a cache mode: write "
			     "cache=writeback (faster small writes; not for a "
			     "file written from several nodes at once) or "
			     "cache=none (the default)", _show(ps, cav));
	ps->cap_text = strdup(cv);
	ps->stripe_text = sv ? strdup(sv) : NULL;
	if (!ps->cap_text || (sv && !ps->stripe_text))
		return _oom(ps);
	ps->have_cap = 1;
	ps->cap_line = ps->line;
	ps->capacity = cap;
	ps->stripe = stripe;
	ps->cache = cache;
	return EBB_OK;
}

/* A stage_in or stage_out directive: check it and append it. */
static ebb_err _stage(struct _ps *ps, struct _dir *d)
{
	struct bb_stage st;
	const char *src = d->val[_SOURCE], *dst = d->val[_DEST];
	const char *tv = d->val[_TYPE], *mv = d->val[_MODE];
	const char *key;
	ebb_err rc = EBB_OK;

	memset(&st, 0, sizeof(st));
	st.dir = d->kind == _K_STAGE_IN ? BB_STAGE_IN : BB_STAGE_OUT;
	st.line = ps->line;
	st.type = BB_TYPE_AUTO;
	st.mode = BB_MODE_EAGER;
	if (ps->nstages >= _MAX_STAGES) {
		rc = _fail(ps, "more than %d stage directives: stage a common "
			   "prefix or directory instead", _MAX_STAGES);
		goto out;
	}
	if (tv && strcmp(tv, "file") == 0) {
		st.type = BB_TYPE_FILE;
	} else if (tv && strcmp(tv, "directory") == 0) {
		st.type = BB_TYPE_DIRECTORY;
	} else if (tv) {
		rc = _fail(ps, "type=%s is not a type: write type=file or "
			   "type=directory (or leave it out)", _show(ps, tv));
		goto out;
	}
	if (mv && strcmp(mv, "lazy") == 0) {
		st.mode = BB_MODE_LAZY;
	} else if (mv && strcmp(mv, "eager") != 0) {
		rc = _fail(ps, "mode=%s is not a mode: write mode=eager (copy "
			   "before the job starts) or mode=lazy (fetch on "
			   "first read)", _show(ps, mv));
		goto out;
	}
	if (st.dir == BB_STAGE_IN) {
		rc = _s3_url(ps, d->kind, "source", src);
		if (rc != EBB_OK)
			goto out;
		key = strchr(src + 5, '/');
		if (st.type == BB_TYPE_FILE &&
		    (!key || !key[1] || src[strlen(src) - 1] == '/')) {
			rc = _fail(ps, "source=%s names a prefix (no key or a "
				   "trailing '/') but type=file: name one "
				   "object or write type=directory",
				   _show(ps, src));
			goto out;
		}
		rc = _job_path(ps, d->kind, "destination", dst,
			       &st.destination);
		if (rc != EBB_OK)
			goto out;
		st.source = strdup(src);
	} else {
		rc = _job_path(ps, d->kind, "source", src, &st.source);
		if (rc != EBB_OK)
			goto out;
		if (st.type == BB_TYPE_FILE &&
		    st.source[strlen(st.source) - 1] == '/') {
			rc = _fail(ps, "source=%s ends in '/' (a directory) but "
				   "type=file: drop the '/' or write "
				   "type=directory", _show(ps, src));
			goto out;
		}
		rc = _s3_url(ps, d->kind, "destination", dst);
		if (rc != EBB_OK)
			goto out;
		st.destination = strdup(dst);
	}
	if (!st.source || !st.destination) {
		rc = _oom(ps);
		goto out;
	}
	if (ps->nstages == ps->stages_alloc) {
		unsigned na = ps->stages_alloc ? ps->stages_alloc * 2 : 4;
		struct bb_stage *nv = realloc(ps->stages, na * sizeof(*nv));

		if (!nv) {
			rc = _oom(ps);
			goto out;
		}
		ps->stages = nv;
		ps->stages_alloc = na;
	}
	ps->stages[ps->nstages++] = st;
out:
	if (rc != EBB_OK) {
		free(st.source);
		free(st.destination);
	}
	return rc;
}

static int _is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Cut the next blank-separated token out of *p (in place); NULL at the
 * end. */
static char *_token(char **p)
{
	char *s = *p, *e;

	while (_is_blank(*s))
		s++;
	if (!*s) {
		*p = s;
		return NULL;
	}
	for (e = s; *e && !_is_blank(*e); e++)
		;
	if (*e)
		*e++ = '\0';
	*p = e;
	return s;
}

static int _lookup(const char *s, size_t n, const char *const *names,
		   int count)
{
	for (int i = 0; i < count; i++)
		if (strlen(names[i]) == n && memcmp(s, names[i], n) == 0)
			return i;
	return -1;
}

/* Does s start with "#PREFIX" followed by a blank or the end? */
static int _is_prefixed(const struct _ps *ps, const char *s, size_t len)
{
	return len >= 1 + ps->plen && s[0] == '#' &&
	       memcmp(s + 1, ps->prefix, ps->plen) == 0 &&
	       (len == 1 + ps->plen || _is_blank(s[1 + ps->plen]));
}

/* The valid key of kind that s[0..len) was probably meant to be: a typo
 * (see _closest), a beginning of it ("dest"), or src/dst; else NULL. */
static const char *_suggest_key(enum _kind kind, const char *s, size_t len)
{
	const char *names[_NKEYS];
	size_t n = 0;

	for (int k = 0; k < _NKEYS; k++) {
		if (!(_kind_keys[kind] & _B(k)))
			continue;
		names[n++] = _key_names[k];
		if (len >= 3 && len < strlen(_key_names[k]) &&
		    strncasecmp(s, _key_names[k], len) == 0)
			return _key_names[k];
	}
	if (kind != _K_CAPACITY && len == 3 && strncasecmp(s, "src", 3) == 0)
		return "source";
	if (kind != _K_CAPACITY && len == 3 && strncasecmp(s, "dst", 3) == 0)
		return "destination";
	return _closest(s, len, names, n);
}

/* One key=value token of directive d. */
static ebb_err _key_value(struct _ps *ps, struct _dir *d, char *t)
{
	char *eq = strchr(t, '=');
	char list[96];
	const char *kn;
	int k;

	if (!eq) {
		k = _lookup(t, strlen(t), _key_names, _NKEYS);
		if (k >= 0)
			return _fail(ps, "'%s' without '=': write %s=VALUE "
				     "with no spaces around '='", t, t);
		return _fail(ps, "stray word '%s' (not key=value): values "
			     "cannot contain spaces and are not quoted",
			     _show(ps, t));
	}
	if (eq == t)
		return _fail(ps, "'%s' has no key: write KEY=VALUE with no "
			     "spaces around '='", _show(ps, t));
	*eq = '\0';
	k = _lookup(t, (size_t)(eq - t), _key_names, _NKEYS);
	if (k < 0 || !(_kind_keys[d->kind] & _B(k))) {
		_key_list(d->kind, list, sizeof(list));
		if (k == _MODE)
			return _fail(ps, "mode is only valid on stage_in: "
				     "remove mode= from this stage_out line");
		if (k == _CAPACITY || k == _STRIPE || k == _CACHE)
			return _fail(ps, "%s goes on the capacity line, not on "
				     "%s: write '#%s " _CAPACITY_LINE "' on "
				     "its own line", t, _kind_names[d->kind],
				     ps->prefix);
		if (k >= 0)
			return _fail(ps, "%s belongs on a stage_in or "
				     "stage_out line, not with capacity: write "
				     "it on its own '#%s stage_in ...' line",
				     t, ps->prefix);
		kn = _suggest_key(d->kind, t, (size_t)(eq - t));
		if (kn)
			return _fail(ps, "unknown key '%s' for %s: did you mean"
				     " '%s'? valid keys are %s", _show(ps, t),
				     _kind_names[d->kind], kn, list);
		return _fail(ps, "unknown key '%s' for %s: valid keys are %s",
			     _show(ps, t), _kind_names[d->kind], list);
	}
	if (d->val[k])
		return _fail(ps, "%s given twice: give each key once", t);
	if (!eq[1])
		return _fail(ps, "%s= has no value: write %s", t,
			     _key_hint(d->kind, (enum _key)k));
	if (_has_ctl(eq + 1))
		return _fail(ps, "%s=%s contains a control character: use "
			     "printable characters only", t,
			     _show(ps, eq + 1));
	if (strchr(eq + 1, ';'))
		return _fail(ps, "%s=%s contains ';': ';' separates directives "
			     "(as in sbatch --bb), so values cannot hold it", t,
			     _show(ps, eq + 1));
	if (eq[1] == '"' || eq[1] == '\'')
		return _fail(ps, "%s=%s is quoted: write the value without "
			     "quotes (values cannot contain spaces)", t,
			     _show(ps, eq + 1));
	d->val[k] = eq + 1;
	return EBB_OK;
}

/* One directive: the text after "#PREFIX" (or a --bb element without
 * it), len bytes, not terminated. */
static ebb_err _directive(struct _ps *ps, const char *text, size_t len)
{
	struct _dir d;
	char *buf, *p, *t, *eq;
	const char *near;
	size_t wl;
	int w;
	ebb_err rc = EBB_OK;

	memset(&d, 0, sizeof(d));
	buf = malloc(len + 1);
	if (!buf)
		return _oom(ps);
	memcpy(buf, text, len);
	buf[len] = '\0';
	p = buf;
	t = _token(&p);
	if (!t || t[0] == '#') {
		rc = _fail(ps, "empty directive: write e.g. '#%s "
			   "capacity=400GiB'", ps->prefix);
		goto out;
	}
	eq = strchr(t, '=');
	wl = eq ? (size_t)(eq - t) : strlen(t);
	w = _lookup(t, wl, _words, _NWORDS);
	if (w == _W_CAPACITY || w == _W_STRIPE || w == _W_CACHE) {
		if (!eq) {
			rc = _fail(ps, "%s needs a value: write '#%s "
				   _CAPACITY_LINE "', e.g. '#%s "
				   "capacity=400GiB'", t, ps->prefix,
				   ps->prefix);
			goto out;
		}
		d.kind = _K_CAPACITY;
		/* the first token is a key=value too */
	} else if (w == _W_STAGE_IN || w == _W_STAGE_OUT) {
		if (eq) {
			rc = _fail(ps, "%.*s takes no '=': write '#%s %.*s "
				   "source=... destination=...'", (int)wl, t,
				   ps->prefix, (int)wl, t);
			goto out;
		}
		d.kind = w == _W_STAGE_IN ? _K_STAGE_IN : _K_STAGE_OUT;
		t = _token(&p);
	} else {
		char word[_SHOW_MAX + 1];

		snprintf(word, sizeof(word), "%.*s",
			 (int)(wl < _SHOW_MAX ? wl : _SHOW_MAX), t);
		near = _closest(t, wl, _words, _NWORDS);
		if (near)
			rc = _fail(ps, "unknown directive '%s': did you mean "
				   "'%s'? " _KNOWN_DIRECTIVES, _show(ps, word),
				   near);
		else
			rc = _fail(ps, "unknown directive '%s': "
				   _KNOWN_DIRECTIVES, _show(ps, word));
		goto out;
	}
	for (; t; t = _token(&p)) {
		if (t[0] == '#') {
			/* "#BB" again: two directives run together; any
			 * other '#' word starts a comment. */
			if (_is_prefixed(ps, t, strlen(t))) {
				rc = _fail(ps, "'#%s' inside a directive: put "
					   "each directive on its own line (in "
					   "--bb: separate them with ';')",
					   ps->prefix);
				goto out;
			}
			break;
		}
		rc = _key_value(ps, &d, t);
		if (rc != EBB_OK)
			goto out;
	}
	for (int k = 0; k < _NKEYS; k++) {
		if (!(_kind_needs[d.kind] & _B(k)) || d.val[k])
			continue;
		if (d.kind == _K_CAPACITY) {
			/* stripe_size or cache, on a line of its own */
			enum _key g = d.val[_STRIPE] ? _STRIPE : _CACHE;

			rc = _fail(ps, "%s without capacity: %s goes on the "
				   "capacity line: write '#%s capacity=SIZE "
				   "%s=%s'", _key_names[g], _key_names[g],
				   ps->prefix, _key_names[g],
				   _show(ps, d.val[g]));
		} else
			rc = _fail(ps, "%s needs %s=: write %s",
				   _kind_names[d.kind], _key_names[k],
				   _key_hint(d.kind, (enum _key)k));
		goto out;
	}
	if (d.kind == _K_CAPACITY)
		rc = _capacity(ps, &d);
	else
		rc = _stage(ps, &d);
out:
	free(buf);
	return rc;
}

static ebb_err _too_long(struct _ps *ps, size_t len)
{
	return _fail(ps, "the directive is %zu characters long: keep it "
		     "within %d", len, _MAX_LINE);
}

/* The directives among the script's leading comment lines. */
static ebb_err _script(struct _ps *ps, const char *s)
{
	unsigned lineno = 0;

	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s), i = 0;
		const char *next = nl ? nl + 1 : s + len;

		lineno++;
		if (len > 0 && s[len - 1] == '\r')
			len--;
		if (lineno == 1 && len >= 2 && s[0] == '#' && s[1] == '!')
			goto next;
		while (i < len && (_is_blank(s[i]) || s[i] == '\v' ||
				   s[i] == '\f' || s[i] == '\r'))
			i++;
		if (i == len)
			goto next;     /* blank */
		if (s[i] != '#')
			break;         /* the first command: stop, as sbatch */
		if (i == 0 && _is_prefixed(ps, s, len)) {
			ebb_err rc;

			ps->line = lineno;
			if (len > _MAX_LINE)
				return _too_long(ps, len);
			rc = _directive(ps, s + 1 + ps->plen,
					len - 1 - ps->plen);
			if (rc != EBB_OK)
				return rc;
		}
next:
		s = next;
	}
	return EBB_OK;
}

/* The sbatch --bb text: directives separated by newlines or ';', each
 * with or without "#PREFIX". */
static ebb_err _extra(struct _ps *ps, const char *s)
{
	ps->line = 0;
	while (*s) {
		size_t len = strcspn(s, "\n;");
		const char *next = s[len] ? s + len + 1 : s + len;

		while (len > 0 && (_is_blank(*s) || *s == '\r')) {
			s++;
			len--;
		}
		while (len > 0 && (_is_blank(s[len - 1]) || s[len - 1] == '\r'))
			len--;
		if (len > 0) {
			ebb_err rc;

			if (len > _MAX_LINE)
				return _too_long(ps, len);
			if (s[0] == '#') {
				char w[_SHOW_MAX + 1];
				size_t wl = strcspn(s, " \t\n;");

				if (wl > len)
					wl = len;
				snprintf(w, sizeof(w), "%.*s", (int)wl, s);
				if (!_is_prefixed(ps, s, len))
					return _fail(ps, "'%s' is not '#%s': "
						     "write e.g. --bb \"capacity="
						     "400GiB\" or --bb \"#%s "
						     "capacity=400GiB\"",
						     _show(ps, w), ps->prefix,
						     ps->prefix);
				s += 1 + ps->plen;
				len -= 1 + ps->plen;
			}
			rc = _directive(ps, s, len);
			if (rc != EBB_OK)
				return rc;
		}
		s = next;
	}
	return EBB_OK;
}

/* ---- results --------------------------------------------------------- */

struct _sb {
	char *s;
	size_t len, cap;
	int oom;
};

static void _sb_add(struct _sb *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void _sb_add(struct _sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0,
		      fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if (!b->s || b->len + (size_t)n >= b->cap) {
		size_t nc = (b->cap ? b->cap : 256);
		char *ns;

		while (nc <= b->len + (size_t)n)
			nc *= 2;
		ns = realloc(b->s, nc);
		if (!ns) {
			b->oom = 1;
			return;
		}
		b->s = ns;
		b->cap = nc;
		va_start(ap, fmt);
		vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* One line per directive, keys in table order, defaults left out. */
static char *_canonical(const struct _ps *ps)
{
	struct _sb b = {NULL, 0, 0, 0};

	_sb_add(&b, "#%s capacity=%s", ps->prefix, ps->cap_text);
	if (ps->stripe_text)
		_sb_add(&b, " stripe_size=%s", ps->stripe_text);
	if (ps->cache != BB_CACHE_NONE)
		_sb_add(&b, " cache=%s", bb_cache_name(ps->cache));
	_sb_add(&b, "\n");
	for (unsigned i = 0; i < ps->nstages; i++) {
		const struct bb_stage *st = &ps->stages[i];

		_sb_add(&b, "#%s %s source=%s destination=%s", ps->prefix,
			st->dir == BB_STAGE_IN ? "stage_in" : "stage_out",
			st->source, st->destination);
		if (st->type != BB_TYPE_AUTO)
			_sb_add(&b, " type=%s", bb_stage_type_name(st->type));
		if (st->dir == BB_STAGE_IN && st->mode != BB_MODE_EAGER)
			_sb_add(&b, " mode=%s", bb_stage_mode_name(st->mode));
		_sb_add(&b, "\n");
	}
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

static void _ps_free(struct _ps *ps)
{
	for (unsigned i = 0; i < ps->nstages; i++) {
		free(ps->stages[i].source);
		free(ps->stages[i].destination);
	}
	free(ps->stages);
	free(ps->cap_text);
	free(ps->stripe_text);
	ps->stages = NULL;
	ps->nstages = 0;
	ps->cap_text = ps->stripe_text = NULL;
}

ebb_err bb_parse(const char *script, const char *extra, const char *prefix,
		 unsigned min_nodes, const struct bb_limits *lim,
		 struct bb_request *out, char *err, size_t errlen)
{
	struct _ps ps;
	ebb_err rc = EBB_OK;

	memset(&ps, 0, sizeof(ps));
	ps.err = err;
	ps.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	if (!out) {
		snprintf(err, errlen, "bb_parse: no result struct");
		return EBB_EINVAL;
	}
	memset(out, 0, sizeof(*out));
	if (!prefix)
		prefix = "BB";
	if (prefix[0] == '#')
		prefix++;
	ps.prefix = prefix;
	ps.plen = strlen(prefix);
	if (ps.plen == 0 || ps.plen > _MAX_PREFIX ||
	    strpbrk(prefix, " \t\r\n=;") || _has_ctl(prefix)) {
		snprintf(err, errlen, "directive prefix '%.*s' is not valid: "
			 "use a word such as BB (set by Directive= in "
			 "burst_buffer.conf)", _MAX_PREFIX, prefix);
		return EBB_EINVAL;
	}
	ps.min_nodes = min_nodes ? min_nodes : 1;
	if (lim)
		ps.lim = *lim;
	if (!ps.lim.min_stripe_size)
		ps.lim.min_stripe_size = _DEF_MIN_STRIPE;
	if (!ps.lim.max_stripe_size)
		ps.lim.max_stripe_size = _DEF_MAX_STRIPE;

	if (script)
		rc = _script(&ps, script);
	if (rc == EBB_OK && extra)
		rc = _extra(&ps, extra);
	if (rc != EBB_OK)
		goto out;
	if (!ps.have_cap && ps.nstages) {
		ps.line = ps.stages[0].line;
		rc = _fail(&ps, "%s without a capacity: add '#%s "
			   "capacity=SIZE' (the total size of the job's file "
			   "system, e.g. 400GiB)",
			   ps.stages[0].dir == BB_STAGE_IN ? "stage_in"
							   : "stage_out",
			   ps.prefix);
		goto out;
	}
	if (!ps.have_cap)
		goto out;      /* no directives: *out stays zeroed */
	out->canonical = _canonical(&ps);
	if (!out->canonical) {
		rc = _oom(&ps);
		goto out;
	}
	out->capacity = ps.capacity;
	out->stripe_size = ps.stripe;
	out->cache = ps.cache;
	out->stages = ps.stages;
	out->nstages = ps.nstages;
	out->ndirectives = 1 + ps.nstages;
	ps.stages = NULL;
	ps.nstages = 0;
out:
	_ps_free(&ps);
	if (rc != EBB_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

void bb_request_free(struct bb_request *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < r->nstages; i++) {
		free(r->stages[i].source);
		free(r->stages[i].destination);
	}
	free(r->stages);
	free(r->canonical);
	memset(r, 0, sizeof(*r));
}

const char *bb_stage_type_name(enum bb_stage_type t)
{
	switch (t) {
	case BB_TYPE_AUTO:
		return "auto";
	case BB_TYPE_FILE:
		return "file";
	case BB_TYPE_DIRECTORY:
		return "directory";
	}
	return "?";
}

const char *bb_stage_mode_name(enum bb_stage_mode m)
{
	switch (m) {
	case BB_MODE_EAGER:
		return "eager";
	case BB_MODE_LAZY:
		return "lazy";
	}
	return "?";
}

const char *bb_cache_name(enum bb_cache c)
{
	switch (c) {
	case BB_CACHE_NONE:
		return "none";
	case BB_CACHE_WRITEBACK:
		return "writeback";
	}
	return "?";
}
