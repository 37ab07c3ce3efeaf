/* SPDX-License-Identifier: GPL-2.0-or-later */
/* S3 paths in directives and the s3_allow list (see s3path.h).
 *
 * DESIGN: matching is done on (bucket, key) pairs, not on URL text, so
 * "s3://b" and "s3://b/" are the same place and a rule's bucket never
 * matches a longer bucket.  At sbatch the job id is not known yet: a URL
 * may still hold %j, %A or %a.  Those are kept literally and remembered by
 * offset; a rule matches only if it is decided before the first of them.
 * This is sound because no expansion holds a '/': whatever the job id
 * turns out to be, the match at a '/' boundary before it stays a match.
 * bbd checks the fully expanded URL again before it moves a byte.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s3path.h"

#define _NO_UNKNOWN ((size_t)-1)
#define _MAX_LISTED 4          /* rules named in a refusal */
#define _MAX_GROUPS_SHOWN 8    /* groups named in a refusal */

/* ---- splitting ----------------------------------------------------------- */

static ebb_err _why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static ebb_err _why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return EBB_EINVAL;
}

/* S3's bucket naming rules ("general purpose buckets"): NULL if b[0..n)
 * is a valid name, else the reason. */
static const char *_bucket_bad(const char *b, size_t n)
{
	static const char *const bad_prefix[] = {"xn--", "sthree-", NULL};
	static const char *const bad_suffix[] = {"-s3alias", "--ol-s3",
						 ".mrap", "--x-s3", NULL};
	unsigned dots = 0;
	int ip = 1;

	if (n < 3 || n > S3PATH_MAX_BUCKET)
		return "S3 bucket names have 3 to 63 characters";
	for (size_t i = 0; i < n; i++) {
		char c = b[i];

		if (c == '.') {
			dots++;
			if (i > 0 && b[i - 1] == '.')
				return "S3 bucket names cannot hold '..'";
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			     c == '-')) {
			return "S3 bucket names use only lowercase letters, "
			       "digits, '.' and '-'";
		}
		if (c != '.' && !(c >= '0' && c <= '9'))
			ip = 0;
	}
	if (!((b[0] >= 'a' && b[0] <= 'z') || (b[0] >= '0' && b[0] <= '9')) ||
	    !((b[n - 1] >= 'a' && b[n - 1] <= 'z') ||
	      (b[n - 1] >= '0' && b[n - 1] <= '9')))
		return "S3 bucket names start and end with a letter or digit";
	if (ip && dots == 3)
		return "S3 bucket names cannot look like an IP address";
	for (unsigned i = 0; bad_prefix[i]; i++)
		if (!strncmp(b, bad_prefix[i], strlen(bad_prefix[i])))
			return "S3 reserves this bucket name prefix";
	for (unsigned i = 0; bad_suffix[i]; i++) {
		size_t sl = strlen(bad_suffix[i]);

		if (n >= sl && !strncmp(b + n - sl, bad_suffix[i], sl))
			return "S3 reserves this bucket name suffix";
	}
	return NULL;
}

ebb_err s3path_split(const char *url, char *bucket, size_t bucketlen,
		     char *key, size_t keylen, char *why, size_t whylen)
{
	const char *b, *slash, *k, *bad;
	size_t bl, kl;

	if (strncmp(url, "s3://", 5) != 0)
		return _why(why, whylen, "'%.60s' is not an S3 URL: write "
			    "s3://BUCKET/PREFIX", url);
	b = url + 5;
	slash = strchr(b, '/');
	bl = slash ? (size_t)(slash - b) : strlen(b);
	k = slash ? slash + 1 : b + bl;
	kl = strlen(k);
	if (bl == 0)
		return _why(why, whylen, "'%.60s' has no bucket name", url);
	if ((bad = _bucket_bad(b, bl)) != NULL)
		return _why(why, whylen, "bucket name '%.*s': %s",
			    (int)(bl > 70 ? 70 : bl), b, bad);
	if (kl > S3PATH_MAX_KEY)
		return _why(why, whylen, "the object key is longer than %d "
			    "bytes (the S3 limit)", S3PATH_MAX_KEY);
	if (bl + 1 > bucketlen || kl + 1 > keylen)
		return _why(why, whylen, "buffer too small");
	memcpy(bucket, b, bl);
	bucket[bl] = '\0';
	memcpy(key, k, kl + 1);
	return EBB_OK;
}

/* ---- expansion ------------------------------------------------------------ */

static const char _KNOWN[] = "%j %u %A %a %%";

/* NULL if every '%' in s is one of the known ones, else the reason. */
static int _pattern_bad(const char *s, char *why, size_t whylen)
{
	for (const char *p = s; (p = strchr(p, '%')) != NULL; p += 2) {
		if (!p[1]) {
			_why(why, whylen, "a '%%' at the end is not one of %s "
			     "(write %%%% for a literal %%)", _KNOWN);
			return 1;
		}
		if (!strchr("juAa%", p[1])) {
			if ((unsigned char)p[1] < 0x20 ||
			    (unsigned char)p[1] >= 0x7f)
				_why(why, whylen, "'%%\\x%02x' is not one of "
				     "%s", (unsigned char)p[1], _KNOWN);
			else
				_why(why, whylen, "'%%%c' is not one of %s "
				     "(write %%%% for a literal %%)", p[1],
				     _KNOWN);
			return 1;
		}
	}
	return 0;
}

ebb_err s3path_check_pattern(const char *s, char *why, size_t whylen)
{
	return _pattern_bad(s, why, whylen) ? EBB_EINVAL : EBB_OK;
}

/* A growing string. */
struct _sb {
	char *s;
	size_t len, cap;
	int oom;
};

static void _sb_addn(struct _sb *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t nc = (b->len + n + 1) * 2;
		char *ns = realloc(b->s, nc);

		if (!ns) {
			b->oom = 1;
			return;
		}
		b->s = ns;
		b->cap = nc;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void _sb_add(struct _sb *b, const char *s)
{
	_sb_addn(b, s, strlen(s));
}

/* Expand s.  job NULL: only %u (user) and %% are expanded, %j %A %a kept
 * as written and the offset of the first of them in the result stored in
 * *unknown (_NO_UNKNOWN if none).  Returns the malloc'd result or NULL
 * (out of memory; the pattern was checked before). */
static char *_expand(const char *s, const struct s3path_job *job,
		     const char *user, size_t *unknown)
{
	struct _sb b = {0};
	char num[16];

	if (unknown)
		*unknown = _NO_UNKNOWN;
	_sb_add(&b, "");
	for (const char *p = s; *p; p++) {
		if (*p != '%' || !p[1]) {
			_sb_addn(&b, p, 1);
			continue;
		}
		p++;
		switch (*p) {
		case '%':
			_sb_add(&b, "%");
			break;
		case 'u':
			if (user) {
				_sb_add(&b, user);
				break;
			}
			/* fall through */
		case 'j':
		case 'A':
		case 'a':
			if (!job) {
				if (unknown && *unknown == _NO_UNKNOWN)
					*unknown = b.len;
				_sb_addn(&b, p - 1, 2);
				break;
			}
			if (*p == 'j')
				snprintf(num, sizeof(num), "%u", job->job_id);
			else if (*p == 'A')
				snprintf(num, sizeof(num), "%u",
					 job->array_job_id ? job->array_job_id :
					 job->job_id);
			else
				snprintf(num, sizeof(num), "%u",
					 job->array_task_set ?
					 job->array_task_id : 0);
			_sb_add(&b, num);
			break;
		default:
			_sb_addn(&b, p - 1, 2);
			break;
		}
	}
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

ebb_err s3path_expand(const char *s, const struct s3path_job *job, char **out,
		      char *why, size_t whylen)
{
	*out = NULL;
	if (_pattern_bad(s, why, whylen))
		return EBB_EINVAL;
	if (strstr(s, "%u") && (!job->user || !*job->user)) {
		/* "%%u" is a literal "%u": only complain about a real one */
		for (const char *p = s; (p = strchr(p, '%')) != NULL; p += 2)
			if (p[1] == 'u')
				return _why(why, whylen, "%%u: the job's user "
					    "name is not known");
	}
	*out = _expand(s, job, job->user && *job->user ? job->user : NULL,
		       NULL);
	return *out ? EBB_OK : EBB_ENOMEM;
}

/* ---- the allow-list ------------------------------------------------------------ */

ebb_err s3path_allow_add(struct s3path_allow *a, const char *value,
			 unsigned line, char *err, size_t errlen)
{
	char *copy, *w[4], *save = NULL, *subj, *prefix, *acc, *exp;
	char bucket[S3PATH_MAX_BUCKET + 1], key[S3PATH_MAX_KEY + 1], why[200];
	struct s3path_rule r = {0}, *nr;
	unsigned n = 0;
	ebb_err rc = EBB_E_CONFIG;

	copy = strdup(value);
	if (!copy)
		return EBB_ENOMEM;
	for (char *t = strtok_r(copy, " \t", &save); t;
	     t = strtok_r(NULL, " \t", &save))
		if (n++ < 4)
			w[n - 1] = t;
	if (n != 3) {
		snprintf(err, errlen, "s3_allow: expected 'SUBJECT "
			 "s3://BUCKET/PREFIX ACCESS' (e.g. 'user:alice "
			 "s3://bucket/alice/ rw'), got %u word%s", n,
			 n == 1 ? "" : "s");
		goto out;
	}
	subj = w[0];
	prefix = w[1];
	acc = w[2];
	r.line = line;
	if (strcmp(subj, "*") == 0) {
		r.kind = '*';
	} else {
		static const struct {
			const char *word;
			char kind;
		} kinds[] = {{"user:", 'u'}, {"group:", 'g'},
			     {"account:", 'a'}};

		for (unsigned i = 0; i < 3 && !r.kind; i++) {
			size_t wl = strlen(kinds[i].word);

			if (strncmp(subj, kinds[i].word, wl) == 0) {
				if (!subj[wl]) {
					snprintf(err, errlen, "s3_allow: '%s' "
						 "has no name", subj);
					goto out;
				}
				r.kind = kinds[i].kind;
				r.name = strdup(subj + wl);
				if (!r.name) {
					rc = EBB_ENOMEM;
					goto out;
				}
			}
		}
		if (!r.kind) {
			snprintf(err, errlen, "s3_allow: the subject must be "
				 "user:NAME, group:NAME, account:NAME or '*': "
				 "'%.60s'", subj);
			goto out;
		}
	}
	for (const char *p = prefix; (p = strchr(p, '%')) != NULL; p += 2) {
		if (p[1] != 'u' && p[1] != '%') {
			snprintf(err, errlen, "s3_allow: %s: only %%u (the "
				 "job's user) and %%%% may be in a prefix: "
				 "'%%%.1s'", prefix, p[1] ? p + 1 : "");
			goto out;
		}
	}
	/* the prefix must be an S3 URL whatever the user's name */
	exp = _expand(prefix, NULL, "user0", NULL);
	if (!exp) {
		rc = EBB_ENOMEM;
		goto out;
	}
	if (s3path_split(exp, bucket, sizeof(bucket), key, sizeof(key), why,
			 sizeof(why)) != EBB_OK) {
		snprintf(err, errlen, "s3_allow: %.200s: %s", prefix, why);
		free(exp);
		goto out;
	}
	free(exp);
	if (strcmp(acc, "r") == 0) {
		r.access = S3PATH_READ;
	} else if (strcmp(acc, "w") == 0) {
		r.access = S3PATH_WRITE;
	} else if (strcmp(acc, "rw") == 0 || strcmp(acc, "wr") == 0) {
		r.access = S3PATH_READ | S3PATH_WRITE;
	} else {
		snprintf(err, errlen, "s3_allow: access must be r, w or rw: "
			 "'%.40s'", acc);
		goto out;
	}
	r.prefix = strdup(prefix);
	nr = r.prefix ? realloc(a->rules, (a->nrules + 1) * sizeof(*nr)) : NULL;
	if (!nr) {
		rc = EBB_ENOMEM;
		goto out;
	}
	a->rules = nr;
	a->rules[a->nrules++] = r;
	r.name = r.prefix = NULL;
	rc = EBB_OK;
out:
	free(r.name);
	free(r.prefix);
	free(copy);
	return rc;
}

void s3path_allow_free(struct s3path_allow *a)
{
	for (unsigned i = 0; i < a->nrules; i++) {
		free(a->rules[i].name);
		free(a->rules[i].prefix);
	}
	free(a->rules);
	a->rules = NULL;
	a->nrules = 0;
}

/* Does rule r's subject cover who? */
static int _subject(const struct s3path_rule *r, const struct s3path_who *who)
{
	switch (r->kind) {
	case '*':
		return 1;
	case 'u':
		return who->user && strcmp(r->name, who->user) == 0;
	case 'g':
		for (unsigned i = 0; i < who->ngroups; i++)
			if (who->groups[i] && !strcmp(r->name, who->groups[i]))
				return 1;
		return 0;
	case 'a':
		/* Slurm keeps account names in lower case */
		return who->account && strcasecmp(r->name, who->account) == 0;
	default:
		return 0;
	}
}

/* Does the rule's prefix (expanded for who) cover the URL (bucket, key),
 * whose first unknown % part is at key offset kunk (_NO_UNKNOWN: none)? */
static int _covers(const char *rb, const char *rk, const char *bucket,
		   const char *key, size_t kunk)
{
	size_t rl = strlen(rk);

	if (strcmp(rb, bucket) != 0)
		return 0;
	if (rl == 0)
		return 1;       /* the whole bucket */
	if (rk[rl - 1] == '/')
		return strncmp(key, rk, rl) == 0 && kunk >= rl;
	if (strcmp(key, rk) == 0)
		return kunk == _NO_UNKNOWN;
	return strncmp(key, rk, rl) == 0 && key[rl] == '/' && kunk > rl;
}

/* A '.' or '..' segment in an S3 key: S3 keeps it, but HTTP clients and
 * some S3 servers resolve it, so the object reached could be outside the
 * prefix that was allowed. */
static int _dot_segment(const char *key)
{
	for (const char *p = key; *p;) {
		size_t n = strcspn(p, "/");

		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' &&
						p[1] == '.'))
			return 1;
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

static const char *_access_name(unsigned access)
{
	return access == (S3PATH_READ | S3PATH_WRITE) ? "rw" :
	       access == S3PATH_READ ? "r" : access == S3PATH_WRITE ? "w" : "-";
}

/* "line 12" or "rule 3" (line unknown) */
static void _rule_name(const struct s3path_allow *a,
		       const struct s3path_rule *r, char *buf, size_t len)
{
	if (r->line)
		snprintf(buf, len, "line %u", r->line);
	else
		snprintf(buf, len, "rule %u", (unsigned)(r - a->rules) + 1);
}

/* "user alice (groups: alice, hpc; account: cfd)" */
static void _who_text(struct _sb *b, const struct s3path_who *who)
{
	_sb_add(b, "user ");
	_sb_add(b, who->user ? who->user : "(unknown)");
	_sb_add(b, " (groups: ");
	if (who->ngroups == 0)
		_sb_add(b, "none");
	for (unsigned i = 0; i < who->ngroups && i < _MAX_GROUPS_SHOWN; i++) {
		if (i)
			_sb_add(b, ", ");
		_sb_add(b, who->groups[i] ? who->groups[i] : "?");
	}
	if (who->ngroups > _MAX_GROUPS_SHOWN)
		_sb_add(b, ", ...");
	_sb_add(b, "; account: ");
	_sb_add(b, who->account && *who->account ? who->account : "none");
	_sb_add(b, ")");
}

ebb_err s3path_allowed(const struct s3path_allow *a, const struct s3path_who *who,
		       const char *url, unsigned access, char *msg,
		       size_t msglen)
{
	const char *verb = access & S3PATH_WRITE ?
			   (access & S3PATH_READ ? "reading and writing" :
			    "writing") : "reading";
	char bucket[S3PATH_MAX_BUCKET + 1], key[S3PATH_MAX_KEY + 1], why[200];
	char name[32];
	const char *user = who->user && *who->user ? who->user : NULL;
	struct _sb b = {0};
	size_t unk, kunk = _NO_UNKNOWN;
	char *e = NULL;
	unsigned listed = 0, more = 0;
	ebb_err rc = EBB_E_DENIED;

	if (msg && msglen)
		msg[0] = '\0';
	_sb_add(&b, "");
	/* the URL with what is known of the job put in */
	e = _expand(url, NULL, user, &unk);
	if (!e) {
		rc = EBB_ENOMEM;
		goto out;
	}
	if (s3path_split(e, bucket, sizeof(bucket), key, sizeof(key), why,
			 sizeof(why)) != EBB_OK) {
		/* a bucket that still holds %j, or is invalid */
		_sb_add(&b, url);
		_sb_add(&b, " is not allowed: ");
		_sb_add(&b, why);
		goto out;
	}
	if (unk != _NO_UNKNOWN) {
		size_t koff = strlen(e) - strlen(key);

		if (unk < koff) {
			_sb_add(&b, url);
			_sb_add(&b, " is not allowed: the bucket name may not "
				"hold %j, %A or %a (no s3_allow rule can "
				"cover every job)");
			goto out;
		}
		kunk = unk - koff;
	}
	if (_dot_segment(key)) {
		_sb_add(&b, url);
		_sb_add(&b, " is not allowed: its key has a '.' or '..' "
			"segment, which HTTP clients resolve: write the key "
			"without it");
		goto out;
	}
	/* first match wins */
	for (unsigned i = 0; i < a->nrules; i++) {
		const struct s3path_rule *r = &a->rules[i];
		char rb[S3PATH_MAX_BUCKET + 1], rk[S3PATH_MAX_KEY + 1];
		char *re;
		int covers;

		if (!_subject(r, who))
			continue;
		if (!user && strstr(r->prefix, "%u"))
			continue;       /* cannot be expanded */
		re = _expand(r->prefix, NULL, user, NULL);
		if (!re) {
			rc = EBB_ENOMEM;
			goto out;
		}
		covers = s3path_split(re, rb, sizeof(rb), rk, sizeof(rk), NULL,
				      0) == EBB_OK &&
			 _covers(rb, rk, bucket, key, kunk);
		free(re);
		if (!covers)
			continue;
		if ((r->access & access) == access) {
			rc = EBB_OK;
			goto out;
		}
		_rule_name(a, r, name, sizeof(name));
		_sb_add(&b, url);
		_sb_add(&b, " is not allowed for ");
		_sb_add(&b, verb);
		_sb_add(&b, ": the first s3_allow rule in ebb.conf that matches"
			" it, ");
		_sb_add(&b, name);
		_sb_add(&b, " (");
		_sb_add(&b, r->kind == '*' ? "*" : r->kind == 'u' ? "user:" :
			r->kind == 'g' ? "group:" : "account:");
		if (r->name)
			_sb_add(&b, r->name);
		_sb_add(&b, " ");
		_sb_add(&b, r->prefix);
		_sb_add(&b, " ");
		_sb_add(&b, _access_name(r->access));
		_sb_add(&b, "), allows ");
		_sb_add(&b, r->access & S3PATH_READ ? "reading" : "writing");
		_sb_add(&b, " only");
		goto out;
	}
	_sb_add(&b, url);
	_sb_add(&b, " is not allowed for ");
	_sb_add(&b, verb);
	if (a->nrules == 0) {
		_sb_add(&b, ": ebb.conf has no s3_allow rule, so every stage "
			"is refused: ask the admins for one");
		goto out;
	}
	_sb_add(&b, ": no s3_allow rule in ebb.conf matches ");
	_who_text(&b, who);
	for (unsigned i = 0; i < a->nrules; i++) {
		const struct s3path_rule *r = &a->rules[i];
		char *re;

		if (!_subject(r, who))
			continue;
		if (listed == _MAX_LISTED) {
			more++;
			continue;
		}
		_rule_name(a, r, name, sizeof(name));
		_sb_add(&b, listed++ ? ", " : "; rules for them: ");
		_sb_add(&b, name);
		_sb_add(&b, " allows ");
		re = user ? _expand(r->prefix, NULL, user, NULL) : NULL;
		_sb_add(&b, re ? re : r->prefix);
		free(re);
		_sb_add(&b, " (");
		_sb_add(&b, _access_name(r->access));
		_sb_add(&b, ")");
	}
	if (more) {
		char m[48];

		snprintf(m, sizeof(m), " and %u more", more);
		_sb_add(&b, m);
	}
	if (!listed)
		_sb_add(&b, "; there is no rule for them");
out:
	if (rc != EBB_OK && rc != EBB_ENOMEM && msg && msglen)
		snprintf(msg, msglen, "%s", b.oom || !b.s ? "not allowed" :
			 b.s);
	free(b.s);
	free(e);
	return rc;
}
