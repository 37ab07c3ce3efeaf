/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Burst-buffer directives: the "#BB" lines of a batch script.
 *
 * docs/directives.md is the grammar; this parser and tests/common/t_directive
 * follow it.  The parser is shared by the Slurm plugin (at sbatch time, in
 * bb_p_job_validate, where it must not block) and by `ebbctl check-script`
 * (offline).  It does no I/O and allocates only the result.
 *
 * Lines are taken from the script's first lines: after the "#!" line, every
 * line that starts with "#" up to the first line that is neither a comment
 * nor blank, as Slurm does for #SBATCH.  A directive line is "#" + prefix
 * followed by a blank ("#BB capacity=1TiB").  The `extra` text (sbatch --bb)
 * holds more directives, one per line or separated by ';' ... see the docs.
 */
#ifndef EBB_DIRECTIVE_H
#define EBB_DIRECTIVE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum bb_stage_dir { BB_STAGE_IN, BB_STAGE_OUT };
enum bb_stage_type { BB_TYPE_AUTO, BB_TYPE_FILE, BB_TYPE_DIRECTORY };
enum bb_stage_mode { BB_MODE_EAGER, BB_MODE_LAZY };
/* The page cache of the job's mount (cache= on the capacity line):
 * WRITEBACK is the kernel's writeback cache (docs/semantics.md, "The
 * writeback cache"), which the user asks for only if no file is written
 * from several nodes at once. */
enum bb_cache { BB_CACHE_NONE, BB_CACHE_WRITEBACK };

struct bb_stage {
	enum bb_stage_dir dir;
	char *source;      /* s3://bucket/key... (in) or a relative path (out) */
	char *destination; /* a relative path (in) or s3://bucket/key... (out) */
	enum bb_stage_type type;
	enum bb_stage_mode mode;   /* stage_in only; BB_MODE_EAGER otherwise */
	unsigned line;     /* line number in the script, 0 = from --bb */
};

struct bb_request {
	uint64_t capacity;     /* total bytes of the job's file system */
	uint64_t stripe_size;  /* bytes; 0 = not given (bbd's default) */
	enum bb_cache cache;   /* BB_CACHE_NONE when not given */
	struct bb_stage *stages;
	unsigned nstages;
	/* The directives found, one canonical line each, each ending in '\n'
	 * ("#BB capacity=400GiB\n#BB stage_in source=... \n"): what the plugin
	 * stores in the job's burst_buffer field and parses again later. */
	char *canonical;
	unsigned ndirectives;  /* 0: the script asks for nothing */
};

/* Limits the site sets (ebb.conf); 0 = no limit. */
struct bb_limits {
	uint64_t max_capacity;      /* total per job */
	uint64_t max_per_node;      /* capacity / nodes, per node */
	uint64_t min_stripe_size;   /* default 64 KiB when 0 */
	uint64_t max_stripe_size;   /* default 16 MiB when 0 (bbd's largest) */
};

/* Parse the directives of `script` (may be NULL) and of `extra` (the
 * sbatch --bb text, may be NULL), with directive prefix `prefix` ("BB",
 * without '#').  `min_nodes` (>= 1) is used for the per-node limit.
 *
 * Returns EBB_OK with *out filled (out->ndirectives == 0 when there are no
 * directives; then nothing else is set), or an error with *out zeroed and a
 * message in err of the form
 *   "line 3: capacity=3.5T: 'T' is ambiguous: write 3.5TiB or 3.5TB"
 * naming the line (or "--bb"), what is wrong and what would be right. */
ebb_err bb_parse(const char *script, const char *extra, const char *prefix,
		 unsigned min_nodes, const struct bb_limits *lim,
		 struct bb_request *out, char *err, size_t errlen);

void bb_request_free(struct bb_request *r);

const char *bb_stage_type_name(enum bb_stage_type t);
const char *bb_stage_mode_name(enum bb_stage_mode m);
const char *bb_cache_name(enum bb_cache c);   /* "none", "writeback" */

#endif
