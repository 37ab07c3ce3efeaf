/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the burst-buffer directive parser (common/directive.c).
 *
 * DESIGN: every statement of docs/directives.md has a check here: the good
 * forms with the values they give, every class of bad input with the words
 * its message promises (substring checks, so wording can be polished
 * without rewriting tests, but the facts a user needs must be there), the
 * line rules (#SBATCH interleaving, the first command ends the scan, CRLF,
 * long lines), the --bb forms, the canonical round trip, and a fuzz loop
 * (fixed seed; EBB_FUZZ_SEED / EBB_FUZZ_ITER change it) whose checks are
 * that nothing crashes, every error has a one-line message and every
 * success round-trips.  A few threads parse at once to show there is no
 * shared state (run it under the tsan build to make that a real check).
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directive.h"
#include "tap.h"

#define KiB 1024ULL
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)
#define TiB (1024ULL * GiB)

static const struct bb_limits _nolim;

/* ---- helpers --------------------------------------------------------- */

/* Are two requests the same (line numbers aside)? */
static int _same(const struct bb_request *a, const struct bb_request *b)
{
	if (a->capacity != b->capacity || a->stripe_size != b->stripe_size ||
	    a->cache != b->cache || a->nstages != b->nstages || a->ndirectives != b->ndirectives)
		return 0;
	if ((a->canonical == NULL) != (b->canonical == NULL) ||
	    (a->canonical && strcmp(a->canonical, b->canonical) != 0))
		return 0;
	for (unsigned i = 0; i < a->nstages; i++) {
		const struct bb_stage *x = &a->stages[i], *y = &b->stages[i];
		if (x->dir != y->dir || x->type != y->type ||
		    x->mode != y->mode || strcmp(x->source, y->source) ||
		    strcmp(x->destination, y->destination))
			return 0;
	}
	return 1;
}

static int _is_zero(const struct bb_request *r)
{
	static const struct bb_request zero;
	return memcmp(r, &zero, sizeof(zero)) == 0;
}

/* Parse the canonical text again, as a script and as --bb: the same
 * request both times.  Returns 1 if so. */
static int _round_trip(const struct bb_request *r, const char *prefix,
		       unsigned nodes, const struct bb_limits *lim)
{
	struct bb_request a, b;
	char err[512];
	int good;

	if (!r->canonical)
		return r->ndirectives == 0;
	if (bb_parse(r->canonical, NULL, prefix, nodes, lim, &a, err,
		     sizeof(err)) != EBB_OK) {
		diag("canonical text refused: %s\n%s", err, r->canonical);
		return 0;
	}
	if (bb_parse(NULL, r->canonical, prefix, nodes, lim, &b, err,
		     sizeof(err)) != EBB_OK) {
		diag("canonical text refused as --bb: %s", err);
		bb_request_free(&a);
		return 0;
	}
	good = _same(r, &a) && _same(r, &b);
	if (!good)
		diag("canonical text parses differently:\n%s---\n%s",
		     r->canonical, a.canonical ? a.canonical : "(none)\n");
	bb_request_free(&a);
	bb_request_free(&b);
	return good;
}

/* A good input: parses, with capacity cap and n stages, and round-trips.
 * *r keeps the result for more checks (caller frees); r may be NULL. */
static void _good_x(const char *script, const char *extra,
		    const char *prefix, unsigned nodes,
		    const struct bb_limits *lim, uint64_t cap, unsigned n,
		    struct bb_request *keep, const char *desc)
{
	struct bb_request r;
	char err[512] = "";
	ebb_err rc;

	rc = bb_parse(script, extra, prefix, nodes, lim, &r, err, sizeof(err));
	if (!ok(rc == EBB_OK && r.capacity == cap && r.nstages == n &&
		_round_trip(&r, prefix, nodes, lim), "ok: %s", desc))
		diag("rc %s, err '%s', capacity %" PRIu64 " (want %" PRIu64
		     "), %u stages (want %u)", ebb_errname(rc), err,
		     r.capacity, cap, r.nstages, n);
	if (keep && rc == EBB_OK)
		*keep = r;
	else if (keep)
		memset(keep, 0, sizeof(*keep));
	else
		bb_request_free(&r);
}

static void _good(const char *script, uint64_t cap, unsigned n,
		  const char *desc)
{
	_good_x(script, NULL, "BB", 1, &_nolim, cap, n, NULL, desc);
}

/* A refused input: EINVAL, *out zeroed, a one-line message starting with
 * `where` ("line 3: " or "--bb: ") and holding w1 and w2 (may be NULL). */
static void _bad_x(const char *script, const char *extra, const char *prefix,
		   unsigned nodes, const struct bb_limits *lim,
		   const char *where, const char *w1, const char *w2,
		   const char *desc)
{
	struct bb_request r;
	char err[512] = "";
	ebb_err rc;
	int good;

	memset(&r, 0xa5, sizeof(r));
	rc = bb_parse(script, extra, prefix, nodes, lim, &r, err, sizeof(err));
	good = rc != EBB_OK && _is_zero(&r) && err[0] &&
	       !strchr(err, '\n') && strlen(err) <= 220 &&
	       strncmp(err, where, strlen(where)) == 0 &&
	       (!w1 || strstr(err, w1)) && (!w2 || strstr(err, w2));
	if (!ok(good, "refused: %s", desc)) {
		diag("rc %s, %s, message (%zu chars): '%s'", ebb_errname(rc),
		     _is_zero(&r) ? "out zeroed" : "out NOT zeroed",
		     strlen(err), err);
		diag("wanted '%s' ... '%s' ... '%s'", where, w1 ? w1 : "",
		     w2 ? w2 : "");
	}
	if (rc == EBB_OK)
		bb_request_free(&r);
}

static void _bad(const char *script, const char *where, const char *w1,
		 const char *w2, const char *desc)
{
	_bad_x(script, NULL, "BB", 1, &_nolim, where, w1, w2, desc);
}

/* A bad stage line after a good capacity line (so its line is 2). */
static void _bad_stage(const char *stage, const char *w1, const char *w2,
		       const char *desc)
{
	char *s = tap_asprintf("#BB capacity=1TiB\n#BB %s\n", stage);

	_bad(s, "line 2: ", w1, w2, desc);
	free(s);
}

/* The one stage of "capacity + stage" as parsed, for field checks. */
static int _one_stage(const char *stage, struct bb_request *r)
{
	char err[512];
	char *s = tap_asprintf("#BB capacity=1TiB\n#BB %s\n", stage);
	ebb_err rc = bb_parse(s, NULL, "BB", 1, &_nolim, r, err, sizeof(err));

	free(s);
	if (rc != EBB_OK || r->nstages != 1) {
		diag("'%s': %s", stage, rc ? err : "not one stage");
		bb_request_free(r);
		return 0;
	}
	if (!_round_trip(r, "BB", 1, &_nolim)) {
		bb_request_free(r);
		return 0;
	}
	return 1;
}

/* A stage_in/out path normalised as want. */
static void _path(const char *stage, int in, const char *want)
{
	struct bb_request r;
	const char *got;

	if (!_one_stage(stage, &r)) {
		ok(0, "path: %s", stage);
		return;
	}
	got = in ? r.stages[0].destination : r.stages[0].source;
	is_str(got, want, "path: %s", stage);
	bb_request_free(&r);
}

/* ---- the checks ------------------------------------------------------ */

static void _test_design_example(void)
{
	struct bb_request r;
	const char *script =
		"#!/bin/bash\n"
		"#SBATCH -N 4 --exclusive\n"
		"#BB capacity=400GiB\n"
		"#BB stage_in  source=s3://genomics-data/run42/  destination=input/\n"
		"#BB stage_out source=results/  destination=s3://genomics-results/run42/\n"
		"srun align --in \"$EBB_JOB_DIR/input\" --out \"$EBB_JOB_DIR/results\"\n";

	_good_x(script, NULL, "BB", 4, &_nolim, 400 * GiB, 2, &r,
		"the example of DESIGN.md");
	is_int(r.ndirectives, 3, "3 directives");
	is_int(r.stripe_size, 0, "stripe_size not given: 0");
	is_int(r.cache, BB_CACHE_NONE, "cache not given: none");
	if (r.nstages == 2) {
		is_int(r.stages[0].dir, BB_STAGE_IN, "first stage is stage_in");
		is_str(r.stages[0].source, "s3://genomics-data/run42/",
		       "stage_in source");
		is_str(r.stages[0].destination, "input/", "stage_in destination");
		is_int(r.stages[0].type, BB_TYPE_AUTO, "type not given: auto");
		is_int(r.stages[0].mode, BB_MODE_EAGER, "mode not given: eager");
		is_int(r.stages[0].line, 4, "stage_in is on line 4");
		is_int(r.stages[1].dir, BB_STAGE_OUT, "second is stage_out");
		is_str(r.stages[1].source, "results/", "stage_out source");
		is_str(r.stages[1].destination, "s3://genomics-results/run42/",
		       "stage_out destination");
		is_int(r.stages[1].mode, BB_MODE_EAGER, "stage_out mode: eager");
		is_int(r.stages[1].line, 5, "stage_out is on line 5");
	} else {
		skip_block(11, "no stages");
	}
	is_str(r.canonical,
	       "#BB capacity=400GiB\n"
	       "#BB stage_in source=s3://genomics-data/run42/ destination=input/\n"
	       "#BB stage_out source=results/ destination=s3://genomics-results/run42/\n",
	       "canonical text: one line each, single spaces, sizes as given");
	bb_request_free(&r);
	ok(_is_zero(&r), "bb_request_free zeroes the request");
	bb_request_free(&r);
	bb_request_free(NULL);
	ok(1, "bb_request_free of a zeroed request and of NULL");
}

static void _test_nothing(void)
{
	struct bb_request r;
	char err[256] = "x";

	ok(bb_parse(NULL, NULL, "BB", 1, NULL, &r, err, sizeof(err)) ==
	   EBB_OK && _is_zero(&r), "no script, no --bb: nothing asked");
	ok(bb_parse("#!/bin/sh\n#SBATCH -N 2\n# a comment\nhostname\n", "",
		    "BB", 1, NULL, &r, err, sizeof(err)) == EBB_OK &&
	   _is_zero(&r), "a script without directives: ndirectives 0, "
	   "nothing else set");
	ok(bb_parse("", " ; \n ;", "BB", 1, NULL, &r, err, sizeof(err)) ==
	   EBB_OK && _is_zero(&r), "empty script, --bb of separators only");
	ok(bb_parse("#!/bin/sh\nhostname\n#BB capacity=1GiB\n", NULL, "BB",
		    1, NULL, &r, err, sizeof(err)) == EBB_OK && _is_zero(&r),
	   "#BB after the first command is not read (as sbatch)");
	ok(bb_parse("#BBX capacity=1GiB\n#bb capacity=1GiB\n #BB capacity=1GiB\n"
		    "#BB_LUA capacity=1GiB\n##BB capacity=1GiB\n", NULL, "BB",
		    1, NULL, &r, err, sizeof(err)) == EBB_OK && _is_zero(&r),
	   "#BBX, #bb, an indented #BB, #BB_LUA, ##BB: comments, not "
	   "directives");
}

static void _test_sizes(void)
{
	struct bb_request r;

	_good("#BB capacity=400GiB", 400 * GiB, 0, "GiB");
	_good("#BB capacity=1KiB", KiB, 0, "KiB");
	_good("#BB capacity=5MiB", 5 * MiB, 0, "MiB");
	_good("#BB capacity=2TiB", 2 * TiB, 0, "TiB");
	_good("#BB capacity=3.5TB", 3500000000000ULL, 0, "3.5TB is 3.5 TB");
	_good("#BB capacity=1.5TiB", 3 * TiB / 2, 0, "1.5TiB");
	_good("#BB capacity=10GB", 10000000000ULL, 0, "GB");
	_good("#BB capacity=1kB", 1000, 0, "kB");
	_good("#BB capacity=1073741824", GiB, 0, "a plain number is bytes");
	_good("#BB capacity=512B", 512, 0, "B");
	_good_x("#BB capacity=1GiB stripe_size=4MiB", NULL, "BB", 1, &_nolim,
		GiB, 0, &r, "stripe_size");
	is_int(r.stripe_size, 4 * MiB, "stripe_size is 4 MiB");
	is_str(r.canonical, "#BB capacity=1GiB stripe_size=4MiB\n",
	       "canonical keeps both tokens");
	bb_request_free(&r);
	_good_x("#BB stripe_size=1MiB capacity=1GiB", NULL, "BB", 1, &_nolim,
		GiB, 0, &r, "stripe_size first on the capacity line");
	is_str(r.canonical, "#BB capacity=1GiB stripe_size=1MiB\n",
	       "canonical order: capacity first");
	bb_request_free(&r);
	_good("#BB capacity=1GiB stripe_size=64KiB", GiB, 0,
	      "stripe_size at the default minimum (64 KiB)");
	_good("#BB capacity=1GiB stripe_size=16MiB", GiB, 0,
	      "stripe_size at the default maximum (16 MiB, bbd's largest)");
	_good("#BB capacity=1GiB stripe_size=65536", GiB, 0,
	      "stripe_size as a plain number");

	/* refused sizes */
	_bad("#!/bin/bash\n#SBATCH -N 2\n#BB capacity=3.5T\n", "line 3: ",
	     "capacity=3.5T: 'T' is ambiguous", "write 3.5TiB", "3.5T");
	_bad("#BB capacity=3.5T", "line 1: ", "or 3.5TB", NULL,
	     "3.5T suggests TB too");
	_bad("#BB capacity=400g", "line 1: ", "'g' is ambiguous",
	     "write 400GiB (powers of 1024) or 400GB (powers of 1000)",
	     "lower-case single letter");
	_bad("#BB capacity=1GiB stripe_size=1M", "line 1: ",
	     "stripe_size=1M: 'M' is ambiguous", "1MiB", "1M for stripe_size");
	_bad("#BB capacity=lots", "line 1: ", "capacity=lots is not a size",
	     "such as 400GiB", "not a number");
	_bad("#BB capacity=12XB", "line 1: ", "capacity=12XB: unknown unit",
	     "GiB", "unknown unit");
	_bad("#BB capacity=1.GiB", "line 1: ", "capacity=1.GiB",
	     "decimal point needs digits", "decimal point without digits");
	_bad("#BB capacity=0.5B", "line 1: ", "capacity=0.5B",
	     "whole number of bytes", "half a byte");
	_bad("#BB capacity=99999999999999PiB", "line 1: ",
	     "capacity=99999999999999PiB", "too large", "overflow");
	_bad("#BB capacity=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
	     "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij"
	     "klmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrst",
	     "line 1: ", "capacity=abcdefghijklmnopqrstuvwxyzabcdefghijklmn... "
	     "is not a size", NULL, "a very long size: the message stays "
	     "short");
	_bad("#BB capacity=1234567890123456789012345678901234567890123456789",
	     "line 1: ", "capacity=1234567890123456789012345678901234567890..."
	     " is too large", NULL, "a very long number: too large, short");
	_bad("#BB capacity=0", "line 1: ", "capacity=0",
	     "must be more than 0", "capacity 0");
	_bad("#BB capacity=0GiB", "line 1: ", "more than 0", "e.g. capacity=",
	     "capacity 0GiB");
	_bad("#BB capacity=1GiB stripe_size=100KiB", "line 1: ",
	     "stripe_size=100KiB is not a power of two", "64 KiB or 128 KiB",
	     "stripe not a power of two: the two nearest");
	_bad("#BB capacity=1GiB stripe_size=0", "line 1: ",
	     "stripe_size=0", "power of two from 64 KiB to 16 MiB", "stripe 0");
	_bad("#BB capacity=1GiB stripe_size=4KiB", "line 1: ",
	     "stripe_size=4KiB is below the minimum of 64 KiB",
	     "from 64 KiB to 16 MiB", "stripe below the default minimum");
	_bad("#BB capacity=8GiB stripe_size=32MiB", "line 1: ",
	     "stripe_size=32MiB is above the maximum of 16 MiB",
	     "from 64 KiB to 16 MiB", "stripe above the default maximum");
	_bad("#BB capacity=1MiB stripe_size=2MiB", "line 1: ",
	     "stripe_size=2MiB is larger than capacity=1MiB", "at most",
	     "stripe larger than the capacity");
	_bad("#BB capacity=1GiB stripe_size=xyz", "line 1: ",
	     "stripe_size=xyz is not a size", NULL, "stripe not a size");
}

static void _test_limits(void)
{
	struct bb_limits lim = {.max_capacity = 10 * TiB,
				.max_per_node = 2 * TiB,
				.min_stripe_size = 1 * MiB,
				.max_stripe_size = 16 * MiB};
	struct bb_limits cap_only = {.max_capacity = 1000000000000ULL};

	_good_x("#BB capacity=10TiB", NULL, "BB", 5, &lim, 10 * TiB, 0, NULL,
		"capacity at max_capacity, 2 TiB per node on 5 nodes");
	_bad_x("#BB capacity=10TiB", NULL, "BB", 4, &lim, "line 1: ",
	       "capacity=10TiB on 4 node(s) is 2.5 TiB per node",
	       "limit of 2 TiB per node", "per-node share over the limit");
	_bad_x("#BB capacity=10TiB", NULL, "BB", 4, &lim, "line 1: ",
	       "at least 5 nodes", "or a smaller capacity",
	       "per-node error suggests more nodes or a smaller capacity");
	_bad_x("#BB capacity=3TiB", NULL, "BB", 0, &lim, "line 1: ",
	       "on 1 node(s) is 3 TiB per node", NULL,
	       "min_nodes 0 counts as 1");
	_good_x("#BB capacity=4TiB", NULL, "BB", 2, &lim, 4 * TiB, 0, NULL,
		"exactly max_per_node per node");
	_bad_x("#BB capacity=4398046511105", NULL, "BB", 2, &lim, "line 1: ",
	       "per node", "max_capacity_per_node",
	       "one byte over on one node (the share is rounded up)");
	_bad_x("#BB capacity=11TiB", NULL, "BB", 100, &lim, "line 1: ",
	       "capacity=11TiB is more than this site's limit of 10 TiB",
	       "max_capacity", "over max_capacity, naming both values");
	_bad_x("#BB capacity=2TB", NULL, "BB", 1, &cap_only, "line 1: ",
	       "limit of 1 TB per job", "at most 1 TB",
	       "a decimal limit is shown in decimal units");
	_good_x("#BB capacity=1TB", NULL, "BB", 1, &cap_only,
		1000000000000ULL, 0, NULL, "max_capacity alone");
	_good_x("#BB capacity=1GiB stripe_size=16MiB", NULL, "BB", 1, &lim,
		GiB, 0, NULL, "stripe at a site's max_stripe_size");
	_bad_x("#BB capacity=1GiB stripe_size=512KiB", NULL, "BB", 1, &lim,
	       "line 1: ", "below the minimum of 1 MiB",
	       "from 1 MiB to 16 MiB", "site min_stripe_size");
	_bad_x("#BB capacity=1GiB stripe_size=32MiB", NULL, "BB", 1, &lim,
	       "line 1: ", "above the maximum of 16 MiB", NULL,
	       "site max_stripe_size");
	_good_x("#BB capacity=100TiB", NULL, "BB", 1, NULL, 100 * TiB, 0,
		NULL, "limits NULL: no limits");
}

/* cache= on the capacity line: the mount's writeback cache. */
static void _test_cache(void)
{
	struct bb_request r;

	_good_x("#BB capacity=1GiB cache=writeback", NULL, "BB", 1, &_nolim,
		GiB, 0, &r, "cache=writeback");
	is_int(r.cache, BB_CACHE_WRITEBACK, "cache=writeback: writeback");
	is_str(r.canonical, "#BB capacity=1GiB cache=writeback\n",
	       "canonical keeps cache=writeback");
	bb_request_free(&r);
	_good_x("#BB capacity=1GiB cache=none", NULL, "BB", 1, &_nolim, GiB,
		0, &r, "cache=none");
	is_int(r.cache, BB_CACHE_NONE, "cache=none: none");
	is_str(r.canonical, "#BB capacity=1GiB\n",
	       "canonical leaves the default cache=none out");
	bb_request_free(&r);
	_good_x("#BB cache=writeback stripe_size=4MiB capacity=1GiB", NULL,
		"BB", 1, &_nolim, GiB, 0, &r,
		"cache first on the capacity line, with stripe_size");
	is_str(r.canonical, "#BB capacity=1GiB stripe_size=4MiB "
	       "cache=writeback\n", "canonical order: capacity, "
	       "stripe_size, cache");
	is_int(r.cache, BB_CACHE_WRITEBACK, "... writeback");
	bb_request_free(&r);
	_good_x(NULL, "capacity=1GiB cache=writeback", "BB", 1, &_nolim, GiB,
		0, &r, "cache=writeback in --bb");
	is_int(r.cache, BB_CACHE_WRITEBACK, "--bb cache=writeback: writeback");
	bb_request_free(&r);
	is_str(bb_cache_name(BB_CACHE_NONE), "none", "cache name none");
	is_str(bb_cache_name(BB_CACHE_WRITEBACK), "writeback",
	       "cache name writeback");

	_bad("#BB capacity=1GiB cache=write-back", "line 1: ",
	     "cache=write-back is not a cache mode",
	     "write cache=writeback (faster small writes; not for a file "
	     "written from several nodes at once) or cache=none",
	     "a bad cache value: both values and when not to use it");
	_bad("#BB capacity=1GiB cache=Writeback", "line 1: ",
	     "cache=Writeback is not a cache mode", NULL,
	     "cache values are case-sensitive");
	_bad("#BB capacity=1GiB cache=", "line 1: ", "cache= has no value",
	     "write cache=writeback or cache=none", "cache= empty");
	_bad("#BB capacity=1GiB cache", "line 1: ", "'cache' without '='",
	     "write cache=VALUE", "cache without '='");
	_bad("#BB capacity=1GiB cache=writeback cache=none", "line 1: ",
	     "cache given twice", NULL, "cache twice");
	_bad("#BB cache=writeback", "line 1: ", "cache without capacity: "
	     "cache goes on the capacity line",
	     "#BB capacity=SIZE cache=writeback", "cache alone");
	_bad("#BB capacity=1GiB\n#BB cache=writeback", "line 2: ",
	     "cache without capacity", "#BB capacity=SIZE cache=writeback",
	     "cache on a line after the capacity line");
	_bad("#BB cache", "line 1: ", "cache needs a value",
	     "capacity=SIZE [stripe_size=SIZE] [cache=writeback]",
	     "the word cache alone");
	_bad_stage("stage_in source=s3://bkt/ destination=a cache=writeback",
		   "cache goes on the capacity line, not on stage_in",
		   "[cache=writeback]' on its own line",
		   "cache on a stage line");
	_bad("#BB capacity=1GiB cahce=writeback", "line 1: ",
	     "unknown key 'cahce' for capacity: did you mean 'cache'?", NULL,
	     "a typo in cache");
	_bad("#BB cahce=writeback capacity=1GiB", "line 1: ",
	     "unknown directive 'cahce': did you mean 'cache'?", NULL,
	     "a typo in cache as the first word");
	_bad("#BB capacity=1GiB cache=writeback\n#BB capacity=1GiB", "line 2: ",
	     "a second capacity directive", NULL,
	     "a second capacity line after one with cache");
}

static void _test_directive_words(void)
{
	_bad("#BB capcity=1GiB", "line 1: ", "unknown directive 'capcity'",
	     "did you mean 'capacity'?", "typo in capacity: the suggestion");
	_bad("#BB capacity=1GiB\n#BB stagein source=s3://bkt/ destination=a",
	     "line 2: ", "unknown directive 'stagein'",
	     "did you mean 'stage_in'?", "stagein");
	_bad("#BB capacity=1GiB\n#BB stage-out source=a destination=s3://bkt/",
	     "line 2: ", "did you mean 'stage_out'?", NULL, "stage-out");
	_bad("#BB capacity=1GiB\n#BB stage_ot source=a destination=s3://bkt/",
	     "line 2: ", "did you mean 'stage_out'?", NULL, "stage_ot");
	_bad("#BB foo", "line 1: ", "unknown directive 'foo'",
	     "directives are capacity=SIZE [stripe_size=SIZE] "
	     "[cache=writeback], stage_in and stage_out",
	     "unknown word: the known words, no suggestion");
	_bad("#BB jobdw type=scratch capacity=1TiB", "line 1: ",
	     "unknown directive 'jobdw'", "stage_in and stage_out",
	     "a DataWarp line");
	_bad("#BB Capacity=1GiB", "line 1: ", "did you mean 'capacity'?",
	     NULL, "keys are case-sensitive; the suggestion says how");
	_bad("#BB capacity 1GiB", "line 1: ", "capacity needs a value",
	     "capacity=SIZE", "capacity without '='");
	_bad("#BB capacity", "line 1: ", "capacity needs a value", NULL,
	     "the word capacity alone");
	_bad("#BB stripe_size=1MiB", "line 1: ", "stripe_size without capacity",
	     "#BB capacity=SIZE stripe_size=1MiB", "stripe_size alone");
	_bad("#BB stage_in=s3://bkt/", "line 1: ", "stage_in takes no '='",
	     "#BB stage_in source=... destination=...", "stage_in=");
	_bad("#BB", "line 1: ", "empty directive", "#BB capacity=",
	     "#BB alone");
	_bad("#!/bin/sh\n#BB   \t\n", "line 2: ", "empty directive", NULL,
	     "#BB and blanks");
	_bad("#BB # just a comment", "line 1: ", "empty directive", NULL,
	     "#BB then a comment");
}

static void _test_keys(void)
{
	_bad_stage("stage_in source=s3://bkt/a destinaton=in", "unknown key "
		   "'destinaton' for stage_in: did you mean 'destination'?",
		   "valid keys are source, destination, type, mode",
		   "typo in a key: suggestion and the valid keys");
	_bad_stage("stage_in source=s3://bkt/a dest=in",
		   "did you mean 'destination'?", NULL, "dest= (a beginning)");
	_bad_stage("stage_in src=s3://bkt/a destination=in",
		   "did you mean 'source'?", NULL, "src=");
	_bad_stage("stage_out source=a destination=s3://bkt/ flavour=x",
		   "unknown key 'flavour' for stage_out", "valid keys are "
		   "source, destination, type", "unknown key, no suggestion");
	_bad("#BB capacity=1GiB size=2", "line 1: ",
	     "unknown key 'size' for capacity",
	     "valid keys are capacity, stripe_size, cache",
	     "unknown capacity key");
	_bad_stage("stage_out source=a destination=s3://bkt/ mode=lazy",
		   "mode is only valid on stage_in", NULL,
		   "mode on stage_out");
	_bad_stage("stage_in source=s3://bkt/ destination=a capacity=1GiB",
		   "capacity goes on the capacity line", "on its own line",
		   "capacity on a stage line");
	_bad("#BB capacity=1GiB source=s3://bkt/", "line 1: ",
	     "source belongs on a stage_in or stage_out line", NULL,
	     "source on the capacity line");
	_bad("#BB capacity=1GiB capacity=2GiB", "line 1: ",
	     "capacity given twice", "give each key once", "a key twice");
	_bad_stage("stage_in source=s3://bkt/a destination=a destination=b",
		   "destination given twice", NULL, "destination twice");
	_bad_stage("stage_in destination=a", "stage_in needs source=",
		   "source=s3://BUCKET/PREFIX", "stage_in without source");
	_bad_stage("stage_in source=s3://bkt/", "stage_in needs destination=",
		   "destination=PATH relative to $EBB_JOB_DIR, e.g. "
		   "destination=input/", "stage_in without destination");
	_bad_stage("stage_out destination=s3://bkt/",
		   "stage_out needs source=", "e.g. source=results/",
		   "stage_out without source");
	_bad_stage("stage_out source=a", "stage_out needs destination=",
		   "destination=s3://BUCKET/PREFIX", "stage_out without "
		   "destination");
	_bad("#BB capacity=", "line 1: ", "capacity= has no value",
	     "e.g. capacity=400GiB", "empty capacity");
	_bad_stage("stage_in source=s3://bkt/ destination=",
		   "destination= has no value", "e.g. destination=input/",
		   "empty destination");
	_bad_stage("stage_in source=s3://bkt/ destination=in type=",
		   "type= has no value", "type=file or type=directory",
		   "empty type");
	_bad_stage("stage_in source=s3://bkt/x destination=my dir",
		   "stray word 'dir' (not key=value)",
		   "values cannot contain spaces and are not quoted",
		   "a value with a space");
	_bad_stage("stage_in source=s3://bkt/x destination=\"my dir\"",
		   "destination=\"my is quoted", "without quotes",
		   "a quoted value");
	_bad_stage("stage_in source = s3://bkt/x destination=a",
		   "'source' without '='", "no spaces around '='",
		   "spaces around '='");
	_bad_stage("stage_in source=s3://bkt/x =a", "'=a' has no key",
		   "KEY=VALUE", "a value without a key");
	_bad_stage("stage_in source=s3://bkt/x destination=a\001b",
		   "destination=a\\x01b contains a control character",
		   "printable", "a control character (shown escaped)");
	_bad("#BB capacity=1GiB #BB stage_in source=s3://bkt/ destination=a",
	     "line 1: ", "'#BB' inside a directive", "its own line",
	     "two directives on one line");
}

static void _test_stage_values(void)
{
	struct bb_request r;
	char *s;

	/* good stage lines and their fields */
	if (_one_stage("stage_in source=s3://bkt/run/ destination=in/ "
		       "type=directory mode=lazy", &r)) {
		ok(r.stages[0].type == BB_TYPE_DIRECTORY &&
		   r.stages[0].mode == BB_MODE_LAZY,
		   "type=directory mode=lazy");
		is_str(r.canonical, "#BB capacity=1TiB\n#BB stage_in "
		       "source=s3://bkt/run/ destination=in/ type=directory "
		       "mode=lazy\n", "canonical stage_in with all keys");
		bb_request_free(&r);
	} else {
		skip_block(2, "stage_in refused");
	}
	if (_one_stage("stage_in mode=eager type=file destination=x "
		       "source=s3://bkt/a/b.dat", &r)) {
		ok(r.stages[0].type == BB_TYPE_FILE &&
		   r.stages[0].mode == BB_MODE_EAGER, "type=file mode=eager");
		is_str(r.canonical, "#BB capacity=1TiB\n#BB stage_in "
		       "source=s3://bkt/a/b.dat destination=x type=file\n",
		       "canonical: keys in fixed order, mode=eager left out");
		bb_request_free(&r);
	} else {
		skip_block(2, "stage_in refused");
	}
	if (_one_stage("stage_out source=results destination=s3://bkt "
		       "type=directory", &r)) {
		ok(r.stages[0].dir == BB_STAGE_OUT &&
		   r.stages[0].type == BB_TYPE_DIRECTORY &&
		   !strcmp(r.stages[0].destination, "s3://bkt"),
		   "stage_out to a whole bucket (no key)");
		bb_request_free(&r);
	} else {
		skip("stage_out refused");
	}
	if (_one_stage("stage_in\tsource=s3://a.b-c.d9/x//y\t\tdestination=d  "
		       "  # input data", &r)) {
		is_str(r.stages[0].source, "s3://a.b-c.d9/x//y",
		       "tabs and runs of blanks separate; a trailing '# ...' "
		       "is a comment; S3 keys are kept as written");
		bb_request_free(&r);
	} else {
		skip("stage_in refused");
	}
	s = tap_asprintf("stage_in source=s3://%063d/k destination=a", 0);
	if (_one_stage(s, &r)) {
		ok(1, "a 63-character bucket name");
		bb_request_free(&r);
	}
	free(s);
	if (_one_stage("stage_in source=s3://abc destination=a", &r)) {
		ok(1, "a 3-character bucket name, no key");
		bb_request_free(&r);
	}

	/* paths inside the job's file system */
	_path("stage_in source=s3://bkt/ destination=input/", 1, "input/");
	_path("stage_in source=s3://bkt/ destination=input", 1, "input");
	_path("stage_in source=s3://bkt/ destination=./a//b/./c", 1, "a/b/c");
	_path("stage_in source=s3://bkt/ destination=a///b//", 1, "a/b/");
	_path("stage_in source=s3://bkt/ destination=a/.", 1, "a/");
	_path("stage_in source=s3://bkt/ destination=.", 1, "./");
	_path("stage_in source=s3://bkt/ destination=./", 1, "./");
	_path("stage_out source=.//out/./ destination=s3://bkt/", 0, "out/");
	_path("stage_out source=...x/..a/b.. destination=s3://bkt/", 0,
	      "...x/..a/b..");
	_path("stage_out source=r\xc3\xa9sultats/ destination=s3://bkt/", 0,
	      "r\xc3\xa9sultats/");

	_bad_stage("stage_in source=s3://bkt/ destination=/scratch/in",
		   "destination=/scratch/in is an absolute path",
		   "write a path relative to $EBB_JOB_DIR, e.g. "
		   "destination=input/", "absolute destination");
	_bad_stage("stage_out source=/home/u/out destination=s3://bkt/",
		   "source=/home/u/out is an absolute path",
		   "e.g. source=results/", "absolute stage_out source");
	_bad_stage("stage_in source=s3://bkt/ destination=a/../../etc",
		   "has a '..' component", "without '..'", "'..' in a path");
	_bad_stage("stage_out source=.. destination=s3://bkt/",
		   "source=.. has a '..' component", NULL, "'..' alone");
	_bad_stage("stage_in source=s3://bkt/ destination=$EBB_JOB_DIR/in",
		   "variables and '~' are not expanded",
		   "relative to $EBB_JOB_DIR", "$EBB_JOB_DIR written out");
	_bad_stage("stage_out source=~/out destination=s3://bkt/",
		   "not expanded", NULL, "~ in a path");
	_bad_stage("stage_out source=./~/out destination=s3://bkt/",
		   "source=./~/out: a path may not start with '~'", NULL,
		   "~ behind ./ (the canonical form would start with it)");
	_bad_stage("stage_in source=s3://bkt/ destination=.//'in",
		   "may not start with '''", NULL, "a quote behind ./");
	_bad_stage("stage_in source=s3://bkt/a;b destination=in",
		   "source=s3://bkt/a;b contains ';'", "separates directives",
		   "';' in a value (it would split the canonical text in "
		   "--bb)");
	_bad_stage("stage_in source=s3://bkt/ destination=s3://other/x",
		   "destination=s3://other/x is a URL",
		   "stage_in copies from S3 into $EBB_JOB_DIR",
		   "stage_in the wrong way round");
	_bad_stage("stage_out source=s3://bkt/x destination=s3://other/",
		   "source=s3://bkt/x is a URL",
		   "stage_out copies from $EBB_JOB_DIR to S3",
		   "stage_out the wrong way round");
	s = tap_asprintf("stage_in source=s3://bkt/ destination=a/%0256d/b",
			 0);
	_bad_stage(s, "a path component is longer than 255 bytes", NULL,
		   "a 256-byte component");
	free(s);

	/* S3 URLs */
	_bad_stage("stage_in source=data/in destination=in",
		   "source=data/in is not an S3 URL",
		   "write source=s3://BUCKET/PREFIX", "stage_in from a path");
	_bad_stage("stage_out source=out destination=results/",
		   "destination=results/ is not an S3 URL",
		   "write destination=s3://BUCKET/PREFIX",
		   "stage_out to a path");
	_bad_stage("stage_in source=https://bkt.s3.amazonaws.com/x "
		   "destination=in", "is not an S3 URL",
		   "e.g. source=s3://my-bucket/run42/", "https URL");
	_bad_stage("stage_in source=S3://bkt/x destination=in",
		   "is not an S3 URL", NULL, "S3:// in capitals");
	_bad_stage("stage_in source=s3:// destination=in", "has no bucket "
		   "name", "s3://BUCKET/PREFIX", "s3:// alone");
	_bad_stage("stage_in source=s3:///x destination=in", "has no bucket "
		   "name", NULL, "s3:///x");
	_bad_stage("stage_in source=s3://ab/x destination=in",
		   "bucket name 'ab' has 2 characters", "3 to 63",
		   "bucket too short");
	s = tap_asprintf("stage_in source=s3://%064d/x destination=in", 0);
	_bad_stage(s, "has 64 characters", "3 to 63", "bucket too long");
	free(s);
	_bad_stage("stage_in source=s3://My-Bucket/x destination=in",
		   "bucket name 'My-Bucket' has 'M'",
		   "lowercase letters, digits, '.' and '-'",
		   "capitals in a bucket name");
	_bad_stage("stage_in source=s3://my_bucket/x destination=in",
		   "has '_'", NULL, "'_' in a bucket name");
	_bad_stage("stage_in source=s3://-bucket/x destination=in",
		   "must start and end with a letter or digit", NULL,
		   "bucket starting with '-'");
	_bad_stage("stage_in source=s3://bucket./x destination=in",
		   "must start and end with a letter or digit", NULL,
		   "bucket ending with '.'");
	_bad_stage("stage_in source=s3://a..b/x destination=in",
		   "bucket name 'a..b' has '..'", NULL, "'..' in a bucket");
	_bad_stage("stage_in source=s3://192.168.1.10/x destination=in",
		   "looks like an IP address", NULL, "IP address as a bucket");
	s = malloc(1100);
	memset(s, 'k', 1099);
	s[1099] = '\0';
	{
		char *t = tap_asprintf("stage_out source=a destination="
				       "s3://bkt/%s", s);
		_bad_stage(t, "the object key is longer than 1024 bytes", NULL,
			   "an S3 key over 1024 bytes");
		free(t);
	}
	free(s);

	/* type and mode */
	_bad_stage("stage_in source=s3://bkt/ destination=in type=dir",
		   "type=dir is not a type", "type=file or type=directory",
		   "type=dir");
	_bad_stage("stage_in source=s3://bkt/ destination=in mode=fast",
		   "mode=fast is not a mode", "mode=eager", "mode=fast");
	_bad_stage("stage_in source=s3://bkt/ destination=in mode=Lazy",
		   "mode=Lazy is not a mode", "mode=lazy",
		   "values are case-sensitive");
	_bad_stage("stage_in source=s3://bkt/run/ destination=in type=file",
		   "names a prefix", "name one object or write type=directory",
		   "type=file with an S3 prefix");
	_bad_stage("stage_in source=s3://bkt destination=in type=file",
		   "names a prefix", NULL, "type=file with a whole bucket");
	_bad_stage("stage_out source=out/ destination=s3://bkt/x type=file",
		   "ends in '/' (a directory) but type=file",
		   "drop the '/' or write type=directory",
		   "type=file with a directory path");
}

static void _test_capacity_rules(void)
{
	struct bb_request r;

	_bad("#!/bin/sh\n#SBATCH -N 1\n"
	     "#BB stage_in source=s3://bkt/ destination=in\n",
	     "line 3: ", "stage_in without a capacity",
	     "add '#BB capacity=SIZE'", "a stage line without capacity");
	_bad_x(NULL, "stage_out source=a destination=s3://bkt/", "BB", 1,
	       &_nolim, "--bb: ", "stage_out without a capacity",
	       "add '#BB capacity=SIZE'", "a --bb stage without capacity");
	_bad("#BB capacity=1GiB\n#SBATCH -t 5\n#BB capacity=2GiB\n",
	     "line 3: ", "a second capacity directive (the first is on line 1)",
	     "give capacity once", "two capacity lines");
	_bad_x("#BB capacity=1GiB\n", "capacity=2GiB", "BB", 1, &_nolim,
	       "--bb: ", "(the first is on line 1)", NULL,
	       "capacity in the script and in --bb");
	_bad_x(NULL, "capacity=1GiB;capacity=2GiB", "BB", 1, &_nolim,
	       "--bb: ", "(the first is in --bb)", NULL,
	       "capacity twice in --bb");
	_good_x("#BB stage_in source=s3://bkt/ destination=in\n"
		"#BB capacity=1GiB\n", NULL, "BB", 1, &_nolim, GiB, 1, &r,
		"capacity may follow the stage lines");
	is_str(r.canonical, "#BB capacity=1GiB\n#BB stage_in "
	       "source=s3://bkt/ destination=in\n",
	       "canonical: capacity first, stages in order");
	bb_request_free(&r);
}

static void _test_lines(void)
{
	struct bb_request r;
	char *s, *big;
	size_t n;

	_good_x("#!/bin/bash\n"
		"#SBATCH -N 2\n"
		"\n"
		"# setup\n"
		"#BB capacity=1GiB\n"
		"#SBATCH --time=10\n"
		"   \t\n"
		"    # an indented comment does not end the block\n"
		"#BB stage_in source=s3://bkt/a destination=a\n"
		"#SBATCH -J x\n"
		"#BB stage_out source=b destination=s3://bkt/b\n"
		"module load foo\n"
		"#BB stage_out source=c destination=s3://bkt/c\n"
		"#BB capacity=bogus\n",
		NULL, "BB", 1, &_nolim, GiB, 2, &r,
		"#SBATCH, comments and blank lines interleave; the first "
		"command ends the scan");
	if (r.nstages == 2) {
		is_int(r.stages[0].line, 9, "stage_in on line 9");
		is_int(r.stages[1].line, 11, "stage_out on line 11");
	} else {
		skip_block(2, "no stages");
	}
	bb_request_free(&r);
	_good("#BB capacity=2GiB\nhostname", 2 * GiB, 0,
	      "no #! line: the first line may be a directive");
	_good("#!/bin/sh\n#!/bin/sh\n#BB capacity=2GiB", 2 * GiB, 0,
	      "a later #! line is a comment");
	_good("#BB capacity=2GiB", 2 * GiB, 0, "no final newline");
	_good_x("#!/bin/bash\r\n#SBATCH -N 1\r\n#BB capacity=1GiB\r\n"
		"#BB stage_in source=s3://bkt/x/ destination=in/\r\n\r\n"
		"srun x\r\n", NULL, "BB", 1, &_nolim, GiB, 1, &r,
		"CRLF line endings");
	if (r.nstages == 1)
		ok(!strchr(r.canonical, '\r') &&
		   !strcmp(r.stages[0].destination, "in/"),
		   "CRLF: the '\\r' is stripped");
	else
		skip("no stage");
	bb_request_free(&r);
	_bad("#!/bin/bash\r\n#BB capacity=3.5T\r\n", "line 2: ",
	     "capacity=3.5T:", NULL, "CRLF: errors still name the line");
	_bad("#BB\r\n", "line 1: ", "empty directive", NULL, "CRLF empty");
	_bad("#!/bin/sh\n#SBATCH -N 1\n#BB capacity=1GiB stripe_size=3MiB\n"
	     "#BB foo\n", "line 3: ", "stripe_size=3MiB", NULL,
	     "the first error is the one reported");

	/* long lines */
	n = 4096;
	s = tap_malloc(n + 64);
	snprintf(s, n + 64, "#BB capacity=1GiB #");
	memset(s + strlen(s), 'x', n - strlen(s));
	s[n] = '\0';
	_good(s, GiB, 0, "a directive line of exactly 4096 characters");
	s[n] = 'x';
	s[n + 1] = '\0';
	_bad(s, "line 1: ", "the directive is 4097 characters long",
	     "within 4096", "a 4097-character directive line");
	big = tap_asprintf("#!/bin/sh\n%s\r\n", s);
	_bad(big, "line 2: ", "4097 characters", NULL,
	     "a long CRLF line (the '\\r' does not count)");
	free(big);
	big = tap_asprintf("capacity=1GiB; %s ;", s);
	_bad_x(NULL, big, "BB", 1, &_nolim, "--bb: ",
	       "the directive is 4097 characters long", NULL,
	       "a long --bb directive");
	free(big);
	s[0] = '#';
	s[1] = 'S';
	big = tap_asprintf("#BB capacity=1GiB\n%s\nhostname\n%s\n", s, s);
	_good(big, GiB, 0, "long comment lines and long lines after the "
	      "first command are not directives: no limit");
	free(big);
	free(s);

	/* many stages */
	{
		size_t cap = 300 * 64 + 64, len;
		char *m = tap_malloc(cap);
		int i;

		len = (size_t)snprintf(m, cap, "#BB capacity=1GiB\n");
		for (i = 0; i < 256; i++)
			len += (size_t)snprintf(m + len, cap - len, "#BB stage_in "
						"source=s3://bkt/%d destination=d%d\n",
						i, i);
		_good(m, GiB, 256, "256 stage lines");
		snprintf(m + len, cap - len, "#BB stage_in source=s3://bkt/x "
			 "destination=x\n");
		_bad(m, "line 258: ", "more than 256 stage directives", NULL,
		     "257 stage lines");
		free(m);
	}
}

static void _test_extra(void)
{
	struct bb_request r;

	_good_x(NULL, "capacity=1GiB", "BB", 1, &_nolim, GiB, 0, NULL,
		"--bb \"capacity=1GiB\"");
	_good_x(NULL, "#BB capacity=1GiB", "BB", 1, &_nolim, GiB, 0, NULL,
		"--bb \"#BB capacity=1GiB\"");
	_good_x(NULL, "  capacity=1GiB ;  ", "BB", 1, &_nolim, GiB, 0, NULL,
		"--bb with blanks and a trailing ';'");
	_good_x(NULL, "capacity=1GiB;stage_in source=s3://bkt/ destination=i;"
		"#BB stage_out source=o destination=s3://bkt/o",
		"BB", 1, &_nolim, GiB, 2, &r, "--bb: three separated by ';', "
		"with and without #BB");
	if (r.nstages == 2)
		ok(r.stages[0].line == 0 && r.stages[1].line == 0,
		   "--bb stages have line 0");
	else
		skip("no stages");
	bb_request_free(&r);
	_good_x(NULL, "#BB capacity=1GiB\r\n#BB stage_in source=s3://bkt/ "
		"destination=i\n\n", "BB", 1, &_nolim, GiB, 1, NULL,
		"--bb: separated by newlines (and CRLF)");
	_good_x("#!/bin/sh\n#BB capacity=1GiB\n",
		"stage_in source=s3://bkt/ destination=i", "BB", 1, &_nolim,
		GiB, 1, &r, "capacity in the script, a stage in --bb");
	if (r.nstages == 1)
		is_int(r.stages[0].line, 0, "the --bb stage has line 0");
	else
		skip("no stage");
	bb_request_free(&r);
	_good_x("#!/bin/sh\n#BB stage_in source=s3://bkt/ destination=i\n",
		"capacity=1GiB", "BB", 1, &_nolim, GiB, 1, NULL,
		"a stage in the script, capacity in --bb");
	_bad_x(NULL, "capacity=3.5T", "BB", 1, &_nolim, "--bb: ",
	       "capacity=3.5T: 'T' is ambiguous", NULL,
	       "--bb errors name --bb");
	_bad_x(NULL, "capacity=1GiB; foo", "BB", 1, &_nolim, "--bb: ",
	       "unknown directive 'foo'", NULL, "--bb: an unknown word");
	_bad_x(NULL, "#DW capacity=1GiB", "BB", 1, &_nolim, "--bb: ",
	       "'#DW' is not '#BB'", "--bb \"capacity=400GiB\"",
	       "--bb with another prefix");
	_bad_x(NULL, "#BBcapacity=1GiB", "BB", 1, &_nolim, "--bb: ",
	       "is not '#BB'", NULL, "--bb: #BB glued to the word");
	_bad_x(NULL, "#BB", "BB", 1, &_nolim, "--bb: ", "empty directive",
	       NULL, "--bb \"#BB\"");
	_bad_x(NULL, "capacity=1GiB stage_in source=s3://bkt/ destination=x",
	       "BB", 1, &_nolim, "--bb: ", "stray word 'stage_in'", NULL,
	       "--bb: two directives without ';'");
}

static void _test_prefix(void)
{
	struct bb_request r;
	char err[256];

	_good_x("#!/bin/sh\n#DW capacity=1GiB\n#BB capacity=bogus\n", NULL,
		"DW", 1, &_nolim, GiB, 0, &r, "prefix DW: #DW lines only");
	is_str(r.canonical, "#DW capacity=1GiB\n",
	       "the canonical text uses the prefix");
	bb_request_free(&r);
	_good_x("#BB_LUA capacity=1GiB\n#BB capacity=bogus", NULL, "BB_LUA",
		1, &_nolim, GiB, 0, NULL, "prefix BB_LUA");
	_good_x("#DW capacity=1GiB\n", NULL, "#DW", 1, &_nolim, GiB, 0, NULL,
		"a prefix given with its '#'");
	_good_x(NULL, "#DW capacity=1GiB", "DW", 1, &_nolim, GiB, 0, NULL,
		"--bb with prefix DW");
	_good_x("#BB capacity=1GiB\n", NULL, NULL, 1, &_nolim, GiB, 0, NULL,
		"prefix NULL means BB");
	_bad_x("#DW\n", NULL, "DW", 1, &_nolim, "line 1: ",
	       "write e.g. '#DW capacity=400GiB'", NULL,
	       "messages use the prefix");
	ok(bb_parse("#BB capacity=1GiB", NULL, "", 1, NULL, &r, err,
		    sizeof(err)) == EBB_EINVAL && strstr(err, "prefix") &&
	   _is_zero(&r), "an empty prefix is refused");
	ok(bb_parse("#BB capacity=1GiB", NULL, "B B", 1, NULL, &r, err,
		    sizeof(err)) == EBB_EINVAL && strstr(err, "prefix"),
	   "a prefix with a blank is refused");
	ok(bb_parse("#BB capacity=3.5T", NULL, "BB", 1, NULL, &r, NULL, 0) ==
	   EBB_EINVAL, "err may be NULL with errlen 0");
	ok(bb_parse("#BB capacity=3.5T", NULL, "BB", 1, NULL, &r, err, 12) ==
	   EBB_EINVAL && strlen(err) == 11, "a short err buffer is "
	   "truncated and terminated");
	is_str(bb_stage_type_name(BB_TYPE_AUTO), "auto", "type name auto");
	is_str(bb_stage_type_name(BB_TYPE_FILE), "file", "type name file");
	is_str(bb_stage_type_name(BB_TYPE_DIRECTORY), "directory",
	       "type name directory");
	is_str(bb_stage_mode_name(BB_MODE_EAGER), "eager", "mode name eager");
	is_str(bb_stage_mode_name(BB_MODE_LAZY), "lazy", "mode name lazy");
}

/* ---- fuzz ------------------------------------------------------------ */

static uint64_t _seed;

static uint64_t _rand(void)   /* xorshift64*: deterministic per seed */
{
	_seed ^= _seed >> 12;
	_seed ^= _seed << 25;
	_seed ^= _seed >> 27;
	return _seed * 0x2545F4914F6CDD1DULL;
}

/* Valid scripts to mutate (one string each; the parentheses tell the
 * compiler the concatenation is meant). */
static const char *const _valid[] = {
	("#!/bin/bash\n#SBATCH -N 4\n#BB capacity=400GiB stripe_size=4MiB "
	 "cache=writeback\n"
	 "#BB stage_in source=s3://genomics-data/run42/ destination=input/ "
	 "mode=lazy\n#BB stage_out source=results/ "
	 "destination=s3://genomics-results/run42/ type=directory\nsrun x\n"),
	("#BB capacity=3.5TB\n#BB stage_in source=s3://a.b-c/x//y destination="
	 "./a//b/./c type=file\n"),
	"#!/bin/sh\r\n#BB capacity=1GiB\r\n# c\r\n\r\n#SBATCH -t 1\r\nhostname\r\n",
};

static const char *const _pieces[] = {
	"#BB ", "#BB", "capacity=", "stripe_size=", "stage_in ", "stage_out ",
	"cache=", "writeback", "none",
	"source=", "destination=", "type=", "mode=", "s3://", "s3://bkt/",
	"1GiB", "3.5T", "0", "..", "/", "./", "//", "=", ";", "\n", "\r\n",
	"\r", " ", "\t", "#", "#!", "lazy", "file", "directory", "\"", "'",
	"\x01", "\xff", "\xc3\xa9", "#SBATCH -N 2\n", "KiB", "99999999999999",
	"type=file", "mode=lazy", "$EBB_JOB_DIR", "~", "capacity=1GiB\n",
	"0000000000000000000000000000000000000000000000000000000000000000000",
	"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmn",
};

/* A random input: random bytes, random pieces, or a valid script with
 * bytes flipped, pieces inserted, or spans cut or repeated. */
static char *_fuzz_input(void)
{
	size_t cap = 8192, n = 0, k, len;
	char *b = tap_malloc(cap + 1);
	unsigned kind = (unsigned)(_rand() % 4);

	if (kind == 0) {
		len = _rand() % 300;
		for (k = 0; k < len; k++)
			b[n++] = (char)(_rand() % 255 + 1);
	} else if (kind == 1) {
		len = _rand() % 40;
		for (k = 0; k < len; k++) {
			const char *p = _pieces[_rand() % (sizeof(_pieces) /
							   sizeof(_pieces[0]))];
			size_t pl = strlen(p);
			if (n + pl > cap)
				break;
			memcpy(b + n, p, pl);
			n += pl;
		}
	} else {
		const char *v = _valid[_rand() % (sizeof(_valid) /
						  sizeof(_valid[0]))];
		unsigned m = (unsigned)(_rand() % 6) + 1;

		n = strlen(v);
		memcpy(b, v, n);
		while (m--) {
			size_t at = n ? _rand() % n : 0;
			switch (_rand() % 4) {
			case 0:     /* flip a byte (never to NUL) */
				if (n)
					b[at] = (char)(_rand() % 255 + 1);
				break;
			case 1: {   /* insert a piece */
				const char *p = _pieces[_rand() %
					(sizeof(_pieces) / sizeof(_pieces[0]))];
				size_t pl = strlen(p);
				if (n + pl <= cap) {
					memmove(b + at + pl, b + at, n - at);
					memcpy(b + at, p, pl);
					n += pl;
				}
				break;
			}
			case 2: {   /* cut a span */
				size_t cut = _rand() % 20;
				if (at + cut > n)
					cut = n - at;
				memmove(b + at, b + at + cut, n - at - cut);
				n -= cut;
				break;
			}
			default: {  /* repeat a span */
				size_t rl = _rand() % 60;
				if (at + rl > n)
					rl = n - at;
				if (n + rl <= cap) {
					memmove(b + at + rl, b + at, n - at);
					n += rl;
				}
				break;
			}
			}
		}
	}
	b[n] = '\0';
	return b;
}

static void _test_fuzz(void)
{
	const char *env = getenv("EBB_FUZZ_SEED");
	const char *iter_env = getenv("EBB_FUZZ_ITER");
	unsigned long iters = iter_env ? strtoul(iter_env, NULL, 10) : 10000;
	unsigned long bad_err = 0, bad_ok = 0, nok = 0, nerr = 0, nreq = 0, i;
	struct bb_limits lim = {.max_capacity = 100 * TiB,
				.max_per_node = 10 * TiB};

	_seed = env ? strtoull(env, NULL, 10) : 20261124;
	if (_seed == 0)
		_seed = 1;
	diag("fuzz seed %llu, %lu iterations (EBB_FUZZ_SEED, EBB_FUZZ_ITER)",
	     (unsigned long long)_seed, iters);
	for (i = 0; i < iters; i++) {
		char *in = _fuzz_input();
		int as_extra = (_rand() % 4) == 0;
		struct bb_request r;
		char err[512];
		ebb_err rc;

		err[0] = '\0';
		rc = bb_parse(as_extra ? NULL : in, as_extra ? in : NULL,
			      "BB", (unsigned)(_rand() % 8), &lim, &r, err,
			      sizeof(err));
		if (rc == EBB_OK) {
			nok++;
			nreq += r.ndirectives > 0;
			if (!_round_trip(&r, "BB", 8, &lim) ||
			    (r.ndirectives > 0) != (r.canonical != NULL)) {
				if (bad_ok++ < 3)
					diag("fuzz %lu: a success that does not "
					     "round-trip", i);
			}
			bb_request_free(&r);
		} else {
			nerr++;
			if (!err[0] || strchr(err, '\n') || !_is_zero(&r) ||
			    strlen(err) > 220 ||
			    (strncmp(err, "line ", 5) &&
			     strncmp(err, "--bb: ", 6))) {
				if (bad_err++ < 3)
					diag("fuzz %lu: bad error '%s'", i, err);
			}
		}
		free(in);
	}
	diag("fuzz: %lu accepted (%lu with directives), %lu refused", nok,
	     nreq, nerr);
	is_int((long long)bad_err, 0, "fuzz: every error has a one-line "
	       "\"line N: \"/\"--bb: \" message of at most 220 characters "
	       "and a zeroed result");
	is_int((long long)bad_ok, 0, "fuzz: every success round-trips");
	ok((nreq > 100 && nerr > 100) || iters < 1000,
	   "fuzz: requests and errors were both exercised");
}

/* ---- threads ---------------------------------------------------------- */

struct _thr {
	unsigned long failures;
};

static void *_thread(void *arg)
{
	struct _thr *t = arg;
	const char *good = _valid[0];
	const char *bad = "#BB capacity=1GiB\n#BB stage_in source=s3://Bkt/ "
			  "destination=in\n";

	for (int i = 0; i < 2000; i++) {
		struct bb_request r;
		char err[256];

		if (bb_parse(good, NULL, "BB", 4, NULL, &r, err, sizeof(err)) !=
		    EBB_OK || r.nstages != 2 ||
		    strcmp(r.stages[1].source, "results/"))
			t->failures++;
		bb_request_free(&r);
		if (bb_parse(bad, NULL, "BB", 4, NULL, &r, err, sizeof(err)) ==
		    EBB_OK || !strstr(err, "line 2: source=s3://Bkt/"))
			t->failures++;
	}
	return NULL;
}

static void _test_threads(void)
{
	pthread_t th[4];
	struct _thr t[4];
	unsigned long fails = 0;

	memset(t, 0, sizeof(t));
	for (int i = 0; i < 4; i++)
		if (pthread_create(&th[i], NULL, _thread, &t[i]) != 0)
			bail("pthread_create");
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		fails += t[i].failures;
	}
	is_int((long long)fails, 0, "4 threads parsing at once get the "
	       "results of one");
}

int main(void)
{
	plan_lazy();
	_test_design_example();
	_test_nothing();
	_test_sizes();
	_test_limits();
	_test_cache();
	_test_directive_words();
	_test_keys();
	_test_stage_values();
	_test_capacity_rules();
	_test_lines();
	_test_extra();
	_test_prefix();
	_test_fuzz();
	_test_threads();
	return tap_exit();
}
