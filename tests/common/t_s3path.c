/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of S3 paths and the s3_allow list (common/s3path.c). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "directive.h"
#include "ident.h"
#include "s3path.h"
#include "stagecheck.h"
#include "tap.h"

/* ---- split ---------------------------------------------------------------- */

static void _split_ok(const char *url, const char *wb, const char *wk)
{
	char b[64], k[1025], why[200] = "";
	ebb_err e = s3path_split(url, b, sizeof(b), k, sizeof(k), why,
				 sizeof(why));

	ok(e == EBB_OK && !strcmp(b, wb) && !strcmp(k, wk), "split %s", url);
	if (e != EBB_OK)
		diag("refused: %s", why);
}

static void _split_bad(const char *url, const char *why_part, const char *desc)
{
	char b[64], k[1025], why[200] = "";
	ebb_err e = s3path_split(url, b, sizeof(b), k, sizeof(k), why,
				 sizeof(why));

	is_int(e, EBB_EINVAL, "split refuses %s", desc);
	ok(strstr(why, why_part) != NULL, "split: %s: says '%s'", desc,
	   why_part);
	if (!strstr(why, why_part))
		diag("got: %s", why);
}

static void t_split(void)
{
	char *longkey, b[64], k[1025], small[4];

	_split_ok("s3://bucket/key", "bucket", "key");
	_split_ok("s3://bucket", "bucket", "");
	_split_ok("s3://bucket/", "bucket", "");
	_split_ok("s3://my.bucket-1/a/b/", "my.bucket-1", "a/b/");
	_split_ok("s3://abc/a//b", "abc", "a//b");
	_split_ok("s3://123/x", "123", "x");
	_split_ok("s3://a23456789012345678901234567890123456789012345678901234567890123/x",
		  "a23456789012345678901234567890123456789012345678901234567890123",
		  "x");
	_split_ok("s3://bkt/日本/🙂", "bkt", "日本/🙂");
	_split_bad("S3://bucket/x", "not an S3 URL", "upper-case scheme");
	_split_bad("https://bucket/x", "not an S3 URL", "https");
	_split_bad("bucket/x", "not an S3 URL", "no scheme");
	_split_bad("s3:///x", "no bucket name", "no bucket");
	_split_bad("s3://ab/x", "3 to 63", "a 2-character bucket");
	_split_bad("s3://a234567890123456789012345678901234567890123456789012345678901234/",
		   "3 to 63", "a 64-character bucket");
	_split_bad("s3://My-Bucket/x", "lowercase", "upper case in a bucket");
	_split_bad("s3://my_bucket/x", "lowercase", "'_' in a bucket");
	_split_bad("s3://-bucket/x", "start and end", "a leading '-'");
	_split_bad("s3://bucket./x", "start and end", "a trailing '.'");
	_split_bad("s3://a..b/x", "'..'", "'..' in a bucket");
	_split_bad("s3://192.168.1.10/x", "IP address", "an IP address");
	_split_bad("s3://xn--bucket/x", "prefix", "the xn-- prefix");
	_split_bad("s3://sthree-b/x", "prefix", "the sthree- prefix");
	_split_bad("s3://bucket-s3alias/x", "suffix", "the -s3alias suffix");
	_split_bad("s3://bucket--ol-s3/x", "suffix", "the --ol-s3 suffix");
	_split_bad("s3://b%j/x", "lowercase", "a % in a bucket");
	longkey = tap_malloc(1100);
	strcpy(longkey, "s3://bkt/");
	memset(longkey + 9, 'k', 1024);
	longkey[9 + 1024] = '\0';
	_split_ok(longkey, "bkt", longkey + 9);
	strcat(longkey, "k");
	_split_bad(longkey, "longer than 1024", "a 1025-byte key");
	free(longkey);
	is_int(s3path_split("s3://bucket/key1", b, sizeof(b), small,
			    sizeof(small), NULL, 0), EBB_EINVAL,
	       "a key buffer too small: EINVAL (why may be NULL)");
	(void)k;
}

/* ---- expansion ----------------------------------------------------------- */

static void _exp(const char *in, const struct s3path_job *j, const char *want,
		 const char *desc)
{
	char *out = NULL, why[200] = "";
	ebb_err e = s3path_expand(in, j, &out, why, sizeof(why));

	ok(e == EBB_OK && out && !strcmp(out, want), "expand %s: %s", desc, in);
	if (e != EBB_OK || strcmp(out, want))
		diag("got %s (%s)", out ? out : "NULL", why);
	free(out);
}

static void _exp_bad(const char *in, const char *why_want, const char *desc)
{
	struct s3path_job j = {7, "alice", 7, 0, false};
	char *out = (char *)"x", why[200] = "";

	is_int(s3path_expand(in, &j, &out, why, sizeof(why)), EBB_EINVAL,
	       "expand refuses %s", desc);
	ok(out == NULL, "expand refuses %s: no result", desc);
	is_str(why, why_want, "expand refuses %s: the reason", desc);
	why[0] = '\0';
	is_int(s3path_check_pattern(in, why, sizeof(why)), EBB_EINVAL,
	       "pattern check refuses %s", desc);
	is_str(why, why_want, "pattern check refuses %s: the reason", desc);
}

static void t_expand(void)
{
	struct s3path_job plain = {4242, "alice", 4242, 0, false};
	struct s3path_job arr = {5003, "bob", 5000, 3, true};
	struct s3path_job arr0 = {5000, "bob", 5000, 0, true};
	struct s3path_job noarr = {77, "carol", 0, 0, false};
	struct s3path_job nouser = {1, NULL, 1, 0, false};
	char *out, why[200];

	_exp("s3://b/%u/run%j/", &plain, "s3://b/alice/run4242/", "%u %j");
	_exp("s3://b/%A_%a", &plain, "s3://b/4242_0",
	     "%A and %a outside an array");
	_exp("s3://b/%A_%a/%j", &arr, "s3://b/5000_3/5003", "in an array");
	_exp("s3://b/%a", &arr0, "s3://b/0", "task 0 of an array");
	_exp("s3://b/%A", &noarr, "s3://b/77", "%A = %j when array_job_id 0");
	_exp("s3://b/100%%/%%j", &plain, "s3://b/100%/%j", "%% is a '%'");
	_exp("s3://b/no-percent", &plain, "s3://b/no-percent", "nothing");
	_exp("%u%u%j%j", &plain, "alicealice42424242", "repeated");
	_exp("", &plain, "", "empty");
	_exp("s3://b/%%u", &nouser, "s3://b/%u", "%%u without a user");
	_exp_bad("s3://b/%x", "'%x' is not one of %j %u %A %a %% (write %% for "
		 "a literal %)", "%x");
	_exp_bad("s3://b/%J", "'%J' is not one of %j %u %A %a %% (write %% for "
		 "a literal %)", "%J (case matters)");
	_exp_bad("s3://b/50%", "a '%' at the end is not one of %j %u %A %a %% "
		 "(write %% for a literal %)", "a trailing %");
	_exp_bad("s3://b/%\x01", "'%\\x01' is not one of %j %u %A %a %%",
		 "a control byte after %");
	_exp_bad("s3://b/%%%", "a '%' at the end is not one of %j %u %A %a %% "
		 "(write %% for a literal %)", "%%%");
	is_int(s3path_expand("s3://b/%u", &nouser, &out, why, sizeof(why)),
	       EBB_EINVAL, "%%u without a user name: refused");
	is_str(why, "%u: the job's user name is not known",
	       "%%u without a user name: the reason");
	is_int(s3path_check_pattern("s3://b/%u/%j/%A/%a/%%", why, sizeof(why)),
	       EBB_OK, "pattern check: every known %%");
}

/* ---- the allow-list: parsing ------------------------------------------- */

static void _add_bad(const char *value, const char *want)
{
	struct s3path_allow a = {0};
	char err[300] = "";

	is_int(s3path_allow_add(&a, value, 3, err, sizeof(err)), EBB_E_CONFIG,
	       "s3_allow refused: '%s'", value);
	is_str(err, want, "s3_allow refused: '%s': the message", value);
	is_int(a.nrules, 0, "s3_allow refused: '%s': no rule added", value);
	s3path_allow_free(&a);
}

static void t_parse(void)
{
	struct s3path_allow a = {0};
	char err[300] = "";

	ok(s3path_allow_add(&a, "user:alice s3://bucket/alice/ rw", 10, err,
			    sizeof(err)) == EBB_OK, "user rule");
	ok(s3path_allow_add(&a, "  group:genomics\ts3://genomics-data/  r ",
			    11, err, sizeof(err)) == EBB_OK,
	   "group rule, blanks and tabs");
	ok(s3path_allow_add(&a, "account:cfd s3://cfd-%u/ w", 12, err,
			    sizeof(err)) == EBB_OK, "account rule with %%u");
	ok(s3path_allow_add(&a, "* s3://scratch/%u/ wr", 0, err, sizeof(err))
	   == EBB_OK, "* rule, 'wr'");
	is_int(a.nrules, 4, "four rules");
	ok(a.rules[0].kind == 'u' && !strcmp(a.rules[0].name, "alice") &&
	   !strcmp(a.rules[0].prefix, "s3://bucket/alice/") &&
	   a.rules[0].access == (S3PATH_READ | S3PATH_WRITE) &&
	   a.rules[0].line == 10, "rule 1 parsed");
	ok(a.rules[1].kind == 'g' && !strcmp(a.rules[1].name, "genomics") &&
	   a.rules[1].access == S3PATH_READ, "rule 2 parsed");
	ok(a.rules[2].kind == 'a' && !strcmp(a.rules[2].prefix,
					     "s3://cfd-%u/") &&
	   a.rules[2].access == S3PATH_WRITE, "rule 3 parsed");
	ok(a.rules[3].kind == '*' && a.rules[3].name == NULL &&
	   a.rules[3].access == (S3PATH_READ | S3PATH_WRITE), "rule 4 parsed");
	s3path_allow_free(&a);
	ok(a.rules == NULL && a.nrules == 0, "free empties the list");
	s3path_allow_free(&a);
	ok(1, "free twice is harmless");

	_add_bad("user:alice s3://bucket/", "s3_allow: expected 'SUBJECT "
		 "s3://BUCKET/PREFIX ACCESS' (e.g. 'user:alice s3://bucket/"
		 "alice/ rw'), got 2 words");
	_add_bad("", "s3_allow: expected 'SUBJECT s3://BUCKET/PREFIX ACCESS' "
		 "(e.g. 'user:alice s3://bucket/alice/ rw'), got 0 words");
	_add_bad("user:a s3://b1b/ r extra", "s3_allow: expected 'SUBJECT "
		 "s3://BUCKET/PREFIX ACCESS' (e.g. 'user:alice s3://bucket/"
		 "alice/ rw'), got 4 words");
	_add_bad("usr:alice s3://bucket/ r", "s3_allow: the subject must be "
		 "user:NAME, group:NAME, account:NAME or '*': 'usr:alice'");
	_add_bad("alice s3://bucket/ r", "s3_allow: the subject must be "
		 "user:NAME, group:NAME, account:NAME or '*': 'alice'");
	_add_bad("user: s3://bucket/ r", "s3_allow: 'user:' has no name");
	_add_bad("group: s3://bucket/ r", "s3_allow: 'group:' has no name");
	_add_bad("user:alice s3://bucket/ x", "s3_allow: access must be r, w "
		 "or rw: 'x'");
	_add_bad("user:alice s3://bucket/ R", "s3_allow: access must be r, w "
		 "or rw: 'R'");
	_add_bad("user:alice s3://bucket/ rwx", "s3_allow: access must be r, w "
		 "or rw: 'rwx'");
	_add_bad("user:alice bucket/x r", "s3_allow: bucket/x: 'bucket/x' is "
		 "not an S3 URL: write s3://BUCKET/PREFIX");
	_add_bad("user:alice s3://Bucket/x r", "s3_allow: s3://Bucket/x: "
		 "bucket name 'Bucket': S3 bucket names use only lowercase "
		 "letters, digits, '.' and '-'");
	_add_bad("* s3://scratch/%j/ rw", "s3_allow: s3://scratch/%j/: only %u "
		 "(the job's user) and %% may be in a prefix: '%j'");
	_add_bad("* s3://scratch/% rw", "s3_allow: s3://scratch/%: only %u "
		 "(the job's user) and %% may be in a prefix: '%'");
}

/* ---- the allow-list: matching ------------------------------------------ */

static struct s3path_allow _list(const char *const *rules)
{
	struct s3path_allow a = {0};
	char err[300];

	for (unsigned i = 0; rules[i]; i++)
		if (s3path_allow_add(&a, rules[i], i + 1, err, sizeof(err)))
			bail("rule '%s': %s", rules[i], err);
	return a;
}

static const char *const _groups[] = {"alice", "hpc"};
static const struct s3path_who _alice = {"alice", _groups, 2, "cfd"};

static void _yes(const struct s3path_allow *a, const struct s3path_who *w,
		 const char *url, unsigned acc, const char *desc)
{
	char msg[1024] = "";
	ebb_err e = s3path_allowed(a, w, url, acc, msg, sizeof(msg));

	ok(e == EBB_OK, "allowed: %s", desc);
	if (e != EBB_OK)
		diag("%s", msg);
}

static void _no(const struct s3path_allow *a, const struct s3path_who *w,
		const char *url, unsigned acc, const char *desc)
{
	char msg[1024] = "";
	ebb_err e = s3path_allowed(a, w, url, acc, msg, sizeof(msg));

	ok(e == EBB_E_DENIED && msg[0], "refused: %s", desc);
}

static void t_match(void)
{
	static const char *const rules[] = {
		"user:alice s3://bucket/alice/ rw",              /* 1 */
		"group:hpc s3://shared/ro/ r",                   /* 2 */
		"group:hpc s3://shared/ rw",                     /* 3 */
		"account:cfd s3://cfd-%u/ rw",                   /* 4 */
		"* s3://scratch/%u rw",                          /* 5 */
		"user:bob s3://bucket/data r",                   /* 6 */
		"* s3://public w",                               /* 7 */
		NULL,
	};
	struct s3path_allow a = _list(rules);
	static const char *const bgroups[] = {"users"};
	struct s3path_who bob = {"bob", bgroups, 1, NULL};
	struct s3path_who acct = {"dave", NULL, 0, "CFD"};
	struct s3path_who nouser = {NULL, NULL, 0, NULL};

	_yes(&a, &_alice, "s3://bucket/alice/x", S3PATH_READ, "user rule");
	_yes(&a, &_alice, "s3://bucket/alice/", S3PATH_WRITE,
	     "the prefix itself");
	_yes(&a, &_alice, "s3://bucket/alice/a/b/c", S3PATH_READ |
	     S3PATH_WRITE, "rw deep down");
	_no(&a, &_alice, "s3://bucket/alice", S3PATH_READ,
	    "a rule ending in '/' does not allow the key without it");
	_no(&a, &_alice, "s3://bucket/alicex/y", S3PATH_READ,
	    "no match past the boundary");
	_no(&a, &_alice, "s3://bucket2/alice/y", S3PATH_READ,
	    "another bucket");
	_yes(&a, &bob, "s3://bucket/data", S3PATH_READ,
	     "a rule without '/' allows the whole key");
	_yes(&a, &bob, "s3://bucket/data/x", S3PATH_READ,
	     "and what is under it");
	_no(&a, &bob, "s3://bucket/database", S3PATH_READ,
	    "but not a longer name");
	_no(&a, &bob, "s3://bucket/data", S3PATH_WRITE, "r is not w");
	_yes(&a, &_alice, "s3://shared/ro/file", S3PATH_READ, "group rule r");
	_no(&a, &_alice, "s3://shared/ro/file", S3PATH_WRITE,
	    "first match wins: the r rule before the rw rule");
	_yes(&a, &_alice, "s3://shared/rw/file", S3PATH_WRITE,
	     "the later rw rule elsewhere");
	_no(&a, &bob, "s3://shared/rw/file", S3PATH_READ,
	    "not in the group");
	_yes(&a, &_alice, "s3://cfd-alice/x", S3PATH_WRITE,
	     "account rule with %u in the bucket");
	_no(&a, &_alice, "s3://cfd-bob/x", S3PATH_WRITE,
	    "account rule: another user's bucket");
	_yes(&a, &acct, "s3://cfd-dave/", S3PATH_READ,
	     "account names are compared without case");
	_yes(&a, &bob, "s3://scratch/bob/run1/out", S3PATH_WRITE,
	     "* rule with %u");
	_yes(&a, &bob, "s3://scratch/bob", S3PATH_WRITE, "* rule: the key");
	_no(&a, &bob, "s3://scratch/bobby/x", S3PATH_WRITE,
	    "* rule: %u at a boundary");
	_no(&a, &bob, "s3://scratch/alice/x", S3PATH_WRITE,
	    "* rule: another user");
	_yes(&a, &bob, "s3://public", S3PATH_WRITE, "a whole bucket");
	_yes(&a, &bob, "s3://public/", S3PATH_WRITE, "a whole bucket with /");
	_yes(&a, &bob, "s3://public/any/thing", S3PATH_WRITE,
	     "anything in a whole bucket");
	_no(&a, &bob, "s3://public/x", S3PATH_READ, "w is not r");
	_no(&a, &bob, "s3://publicity/x", S3PATH_WRITE,
	    "a longer bucket name");
	/* patterns at sbatch: %j %A %a unknown */
	_yes(&a, &_alice, "s3://bucket/alice/run%j/", S3PATH_WRITE,
	     "a %j after the prefix");
	_yes(&a, &_alice, "s3://bucket/%u/run%A_%a/", S3PATH_WRITE,
	     "%u expanded, %A %a after the prefix");
	_yes(&a, &bob, "s3://scratch/%u/%j", S3PATH_WRITE,
	     "%u in both rule and URL");
	_no(&a, &bob, "s3://scratch/bob%j", S3PATH_WRITE,
	    "a %j that could extend the name is refused");
	_yes(&a, &bob, "s3://scratch/bob/%j", S3PATH_WRITE,
	     "a %j after the '/' is fine");
	_no(&a, &_alice, "s3://bucket/%j/alice/", S3PATH_READ,
	    "a %j before the prefix ends");
	_no(&a, &_alice, "s3://cfd-%j/x", S3PATH_READ, "a %j in the bucket");
	_yes(&a, &_alice, "s3://bucket/alice/100%%", S3PATH_READ,
	     "%% is a literal %");
	/* dot segments */
	_no(&a, &_alice, "s3://bucket/alice/../bob/x", S3PATH_READ,
	    "a '..' segment");
	_no(&a, &_alice, "s3://bucket/alice/./x", S3PATH_READ,
	    "a '.' segment");
	_yes(&a, &_alice, "s3://bucket/alice/..x/x.", S3PATH_READ,
	     "dots inside names are fine");
	/* no user name */
	_yes(&a, &nouser, "s3://public/x", S3PATH_WRITE,
	     "no user name: * rules still apply");
	_no(&a, &nouser, "s3://scratch/%u/x", S3PATH_WRITE,
	    "no user name: %u rules never match");
	s3path_allow_free(&a);
}

static void _msg(const struct s3path_allow *a, const struct s3path_who *w,
		 const char *url, unsigned acc, const char *want,
		 const char *desc)
{
	char msg[1024] = "";

	s3path_allowed(a, w, url, acc, msg, sizeof(msg));
	is_str(msg, want, "message: %s", desc);
}

static void t_messages(void)
{
	static const char *const rules[] = {
		"user:alice s3://bucket/alice/ rw",
		"group:hpc s3://shared/ro/ r",
		"* s3://scratch/%u/ rw",
		"user:bob s3://bucket/bob/ rw",
		NULL,
	};
	static const char *const many_rules[] = {
		"* s3://aaa/1/ r", "* s3://aaa/2/ r", "* s3://aaa/3/ r",
		"* s3://aaa/4/ r", "* s3://aaa/5/ r", "* s3://aaa/6/ r", NULL,
	};
	static const char *const g10[] = {"g1", "g2", "g3", "g4", "g5",
					  "g6", "g7", "g8", "g9", "g10"};
	struct s3path_who many = {"eve", g10, 10, NULL};
	struct s3path_who carol = {"carol", NULL, 0, NULL};
	struct s3path_allow a = _list(rules), none = {0};
	struct s3path_allow m = _list(many_rules);
	struct s3path_allow noline = {0};
	char err[200], small[16];

	_msg(&a, &_alice, "s3://other/x", S3PATH_READ,
	     "s3://other/x is not allowed for reading: no s3_allow rule in "
	     "ebb.conf matches user alice (groups: alice, hpc; account: cfd); "
	     "rules for them: line 1 allows s3://bucket/alice/ (rw), line 2 "
	     "allows s3://shared/ro/ (r), line 3 allows s3://scratch/alice/ "
	     "(rw)", "no match: the user's rules, %u expanded");
	_msg(&a, &_alice, "s3://shared/ro/x", S3PATH_WRITE,
	     "s3://shared/ro/x is not allowed for writing: the first s3_allow "
	     "rule in ebb.conf that matches it, line 2 (group:hpc "
	     "s3://shared/ro/ r), allows reading only",
	     "the first match lacks the access");
	_msg(&none, &_alice, "s3://bucket/alice/x", S3PATH_READ,
	     "s3://bucket/alice/x is not allowed for reading: ebb.conf has no "
	     "s3_allow rule, so every stage is refused: ask the admins for one",
	     "no rules at all");
	s3path_allow_add(&noline, "user:bob s3://b0b/ r", 0, err, sizeof(err));
	_msg(&noline, &_alice, "s3://bucket/alice/x", S3PATH_WRITE,
	     "s3://bucket/alice/x is not allowed for writing: no s3_allow rule "
	     "in ebb.conf matches user alice (groups: alice, hpc; account: "
	     "cfd); there is no rule for them", "no rule for this user");
	_msg(&noline, &carol, "s3://b0b/x", S3PATH_READ,
	     "s3://b0b/x is not allowed for reading: no s3_allow rule in "
	     "ebb.conf matches user carol (groups: none; account: none); there "
	     "is no rule for them", "no groups, no account");
	s3path_allow_add(&noline, "* s3://b0b/ w", 0, err, sizeof(err));
	_msg(&noline, &carol, "s3://b0b/x", S3PATH_READ,
	     "s3://b0b/x is not allowed for reading: the first s3_allow rule "
	     "in ebb.conf that matches it, rule 2 (* s3://b0b/ w), allows "
	     "writing only", "a rule without a line number");
	_msg(&m, &many, "s3://zzz/x", S3PATH_READ,
	     "s3://zzz/x is not allowed for reading: no s3_allow rule in "
	     "ebb.conf matches user eve (groups: g1, g2, g3, g4, g5, g6, g7, "
	     "g8, ...; account: none); rules for them: line 1 allows "
	     "s3://aaa/1/ (r), line 2 allows s3://aaa/2/ (r), line 3 allows "
	     "s3://aaa/3/ (r), line 4 allows s3://aaa/4/ (r) and 2 more",
	     "long lists are cut");
	_msg(&a, &_alice, "s3://bucket/alice/a/../x", S3PATH_READ,
	     "s3://bucket/alice/a/../x is not allowed: its key has a '.' or "
	     "'..' segment, which HTTP clients resolve: write the key without "
	     "it", "dot segments");
	_msg(&a, &_alice, "s3://b-%j/x", S3PATH_READ,
	     "s3://b-%j/x is not allowed: bucket name 'b-%j': S3 bucket names "
	     "use only lowercase letters, digits, '.' and '-'",
	     "a % in the bucket");
	_msg(&a, &_alice, "s3://bucket/alice/x", S3PATH_READ | S3PATH_WRITE,
	     "", "allowed: no message");
	is_int(s3path_allowed(&a, &_alice, "s3://other/x", S3PATH_READ, small,
			      sizeof(small)), EBB_E_DENIED,
	       "a small message buffer: still refused");
	is_int(strlen(small), sizeof(small) - 1, "the message is cut");
	s3path_allow_free(&a);
	s3path_allow_free(&m);
	s3path_allow_free(&noline);
}

/* ---- the sbatch check of whole requests -------------------------------- */

static void _req(const char *script, const char *extra, struct bb_request *r)
{
	struct bb_limits lim = {0};
	char err[512];

	if (bb_parse(script, extra, "BB", 1, &lim, r, err, sizeof(err)))
		bail("bb_parse: %s", err);
}

static void _stages(const struct s3path_allow *a, const char *script,
		    const char *extra, ebb_err want, const char *want_msg,
		    const char *desc)
{
	struct bb_request r;
	char err[1024] = "";

	_req(script, extra, &r);
	is_int(bb_stages_check(&r, a, &_alice, err, sizeof(err)), want,
	       "stages: %s", desc);
	is_str(err, want_msg, "stages: %s: the message", desc);
	bb_request_free(&r);
}

static void t_stages(void)
{
	static const char *const rules[] = {
		"user:alice s3://bucket/alice/ r",
		"* s3://scratch/%u/ rw",
		NULL,
	};
	struct s3path_allow a = _list(rules);
	const char *hdr = "#!/bin/sh\n#BB capacity=1GiB\n";
	char *sc;

	sc = tap_asprintf("%s#BB stage_in source=s3://bucket/alice/in/ "
			  "destination=in/\n#BB stage_out source=out/ "
			  "destination=s3://scratch/%%u/run%%j/\n", hdr);
	_stages(&a, sc, NULL, EBB_OK, "", "r on the source, w on the "
		"destination");
	free(sc);
	sc = tap_asprintf("%s#BB stage_out source=out/ "
			  "destination=s3://bucket/alice/out/\n", hdr);
	_stages(&a, sc, NULL, EBB_E_DENIED, "line 3: stage_out: "
		"s3://bucket/alice/out/ is not allowed for writing: the first "
		"s3_allow rule in ebb.conf that matches it, line 1 (user:alice "
		"s3://bucket/alice/ r), allows reading only",
		"a stage_out without w");
	free(sc);
	sc = tap_asprintf("%s#BB stage_in source=s3://elsewhere/x "
			  "destination=x\n", hdr);
	_stages(&a, sc, NULL, EBB_E_DENIED, "line 3: stage_in: "
		"s3://elsewhere/x is not allowed for reading: no s3_allow rule "
		"in ebb.conf matches user alice (groups: alice, hpc; account: "
		"cfd); rules for them: line 1 allows s3://bucket/alice/ (r), "
		"line 2 allows s3://scratch/alice/ (rw)",
		"a stage_in outside the list");
	free(sc);
	sc = tap_asprintf("%s#BB stage_in source=s3://scratch/%%u/%%x "
			  "destination=x\n", hdr);
	_stages(&a, sc, NULL, EBB_EINVAL, "line 3: stage_in "
		"source=s3://scratch/%u/%x: '%x' is not one of %j %u %A %a %% "
		"(write %% for a literal %)", "a bad %x");
	free(sc);
	sc = tap_asprintf("%s#BB stage_in source=s3://scratch/alice/d/ "
			  "destination=d/ mode=lazy\n", hdr);
	_stages(&a, sc, NULL, EBB_EINVAL, "line 3: stage_in mode=lazy: lazy "
		"import comes in the next release of ebb: remove mode=lazy to "
		"use the default, eager mode (everything is copied before the "
		"job starts)", "mode=lazy");
	free(sc);
	_stages(&a, hdr, "stage_in source=s3://nope/x destination=x",
		EBB_E_DENIED, "--bb: stage_in: s3://nope/x is not allowed for "
		"reading: no s3_allow rule in ebb.conf matches user alice "
		"(groups: alice, hpc; account: cfd); rules for them: line 1 "
		"allows s3://bucket/alice/ (r), line 2 allows "
		"s3://scratch/alice/ (rw)", "a line from --bb");
	_stages(&a, hdr, NULL, EBB_OK, "", "no stage lines");
	s3path_allow_free(&a);
}

static void t_ident(void)
{
	struct ident id;
	char err[256] = "";
	int has_root = 0;

	is_int(ident_name("root", &id, err, sizeof(err)), EBB_OK,
	       "ident: root by name");
	is_str(id.user, "root", "ident: the name");
	is_int(id.uid, 0, "ident: uid 0");
	ok(id.ngroups >= 1 && id.groups[0] != NULL, "ident: groups, primary "
	   "first");
	for (unsigned i = 0; i < id.ngroups; i++)
		has_root |= !strcmp(id.groups[i], "root");
	ok(has_root, "ident: root is in group root");
	ident_free(&id);
	is_int(ident_name("0", &id, err, sizeof(err)), EBB_OK,
	       "ident: a number names a uid");
	is_str(id.user, "root", "ident: uid 0 is root");
	ident_free(&id);
	is_int(ident_uid(getuid(), &id, err, sizeof(err)), EBB_OK,
	       "ident: the caller by uid");
	ident_free(&id);
	is_int(ident_name("no-such-user-ebb-t", &id, err, sizeof(err)),
	       EBB_ENOENT, "ident: no such user");
	is_str(err, "no user 'no-such-user-ebb-t'", "ident: the message");
	is_int(ident_uid(3999999999u, &id, err, sizeof(err)), EBB_ENOENT,
	       "ident: no such uid");
	is_str(err, "no user with uid 3999999999", "ident: the uid message");
}

int main(void)
{
	plan_lazy();
	t_split();
	t_expand();
	t_parse();
	t_match();
	t_messages();
	t_stages();
	t_ident();
	return tap_exit();
}
