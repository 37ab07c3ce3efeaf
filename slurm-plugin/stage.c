/* SPDX-License-Identifier: GPL-2.0-or-later */
/* burst_buffer/ebb: the sbatch-time checks of stage_in/stage_out lines.
 *
 * DESIGN: the grammar is checked by bb_parse (common/directive.c); here
 * the lines are checked against the site's s3_allow list for the job's
 * user, groups and account (common/stagecheck.c, the same code as
 * `ebbctl check-script`).  Names come from NSS, as slurmctld's own
 * AllowGroups checks do; the lookups run before ebb_lock is taken, so a
 * slow LDAP never holds up the workers.  What still stops every stage line
 * is in ebb_stage_refuse_until_stager(): the lifecycle that runs stages is
 * not in this plugin yet, and a job must never start without its data.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurm/slurm.h"
#include "slurm/slurm_errno.h"
#include "src/common/xmalloc.h"
#include "src/common/xstring.h"

#include "directive.h"
#include "ident.h"
#include "plugin.h"
#include "stagecheck.h"

int ebb_stage_validate(struct job_descriptor *job_desc,
		       const struct bb_request *r, char **err_msg)
{
	struct ident id;
	struct s3path_who who = {0};
	char err[1024], why[256];
	ebb_err e;

	if (r->nstages == 0)
		return SLURM_SUCCESS;
	e = ident_uid((uid_t)job_desc->user_id, &id, why, sizeof(why));
	if (e != EBB_OK) {
		/* without a name no user:, group: or %u rule can apply;
		 * say why instead of a puzzling "no rule matches" */
		if (err_msg)
			*err_msg = xstrdup_printf("%s: stage lines need the "
						  "job's user name for the "
						  "s3_allow check: %s",
						  plugin_type, e == EBB_ENOMEM ?
						  "out of memory" : why);
		return ESLURM_INVALID_BURST_BUFFER_REQUEST;
	}
	who.user = id.user;
	who.groups = (const char *const *)id.groups;
	who.ngroups = id.ngroups;
	who.account = job_desc->account;
	slurm_mutex_lock(&ebb_lock);
	e = bb_stages_check(r, &ebb_conf.allow, &who, err, sizeof(err));
	slurm_mutex_unlock(&ebb_lock);
	ident_free(&id);
	if (e != EBB_OK) {
		if (err_msg)
			*err_msg = xstrdup_printf("%s: %s", plugin_type, err);
		return ESLURM_INVALID_BURST_BUFFER_REQUEST;
	}
	return SLURM_SUCCESS;
}

/* The one place that stops stage lines until the S3 stager runs them
 * (the lifecycle integration removes its call in bb_p_job_validate). */
int ebb_stage_refuse_until_stager(const struct bb_request *r, char **err_msg)
{
	if (r->nstages == 0)
		return SLURM_SUCCESS;
	if (err_msg) {
		char where[32];

		if (r->stages[0].line)
			snprintf(where, sizeof(where), "line %u",
				 r->stages[0].line);
		else
			snprintf(where, sizeof(where), "--bb");
		*err_msg = xstrdup_printf(
			"%s: %s: %s needs the S3 stager, which this ebb does "
			"not have yet: remove the stage_in/stage_out lines and "
			"copy data in the job script instead", plugin_type,
			where, r->stages[0].dir == BB_STAGE_IN ? "stage_in" :
			"stage_out");
	}
	return ESLURM_INVALID_BURST_BUFFER_REQUEST;
}
