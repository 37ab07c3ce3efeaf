/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The checks of stage lines that need the site's s3_allow list and the
 * job's identity, on top of the grammar (directive.h): done by the plugin
 * at sbatch (bb_p_job_validate) and by `ebbctl check-script`, so both give
 * the same verdict.  Pure (no I/O): the caller looks the identity up
 * (ident.h) and holds the list. */
#ifndef EBB_STAGECHECK_H
#define EBB_STAGECHECK_H

#include <stddef.h>

#include "directive.h"
#include "err.h"
#include "s3path.h"

/* Check every stage line of r, in order, for a job of who: the S3 path's
 * % parts (only %j %u %A %a %%), the allow-list (a stage_in needs r on its
 * source, a stage_out w on its destination), and mode=lazy (refused until
 * lazy import exists).  Returns EBB_OK, or at the first refusal EBB_EINVAL
 * (pattern, lazy) or EBB_E_DENIED (allow-list) with one line in err:
 *   "line 4: stage_in: s3://b/x is not allowed for reading: no s3_allow
 *    rule in ebb.conf matches user alice (...); rules for them: ..."
 * naming the line ("--bb" for one from sbatch --bb), the path and the
 * rules.  Any thread. */
ebb_err bb_stages_check(const struct bb_request *r,
			const struct s3path_allow *allow,
			const struct s3path_who *who, char *err, size_t errlen);

#endif
