/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A "key = value" configuration file reader.
 *
 * One setting per line; '#' starts a comment; blank lines are skipped;
 * whitespace around keys and values is trimmed.  The reader calls `set` for
 * each setting; `set` returns EBB_OK or an error and writes its reason into
 * err, which conf_load() prefixes with "FILE:LINE: ". */
#ifndef EBB_CONF_H
#define EBB_CONF_H

#include <stddef.h>

#include "err.h"

typedef ebb_err (*conf_set_fn)(void *ctx, const char *key, const char *value,
			       char *err, size_t errlen);

/* Read path and call set for every setting.  A missing file is an error
 * (EBB_ENOENT) unless optional is nonzero.  err gets "FILE:LINE: reason". */
ebb_err conf_load(const char *path, int optional, conf_set_fn set, void *ctx,
		  char *err, size_t errlen);

/* As conf_load, and set is also given the line of each setting (for keys
 * that repeat, such as s3_allow, whose messages name their line). */
typedef ebb_err (*conf_set_line_fn)(void *ctx, const char *key,
				    const char *value, unsigned line,
				    char *err, size_t errlen);
ebb_err conf_load_lines(const char *path, int optional, conf_set_line_fn set,
			void *ctx, char *err, size_t errlen);

/* One ebb.conf serves a whole cluster: bbd, the Slurm plugin and
 * `ebbctl epilog` read it.  Nonzero if key belongs to the plugin or the
 * Epilog (docs/slurm.md lists them), so that bbd can skip it.  Of the
 * stager's s3_* keys only s3_allow is one (the plugin's sbatch check);
 * the others are bbd's own (its stager reads them). */
int conf_cluster_key(const char *key);

/* Parse a whole number in lo..hi; on error EBB_EINVAL and a reason in err. */
ebb_err conf_parse_uint(const char *value, unsigned lo, unsigned hi,
			unsigned *out, char *err, size_t errlen);

/* Parse "yes/no/true/false/1/0/on/off". */
ebb_err conf_parse_bool(const char *value, int *out);

#endif
