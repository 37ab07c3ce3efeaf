/* SPDX-License-Identifier: GPL-2.0-or-later */
/* burst_buffer/ebb: the sbatch-time checks of stage_in/stage_out lines.
 *
 * DESIGN: the grammar is checked by bb_parse (common/directive.c); here
 * the lines are checked against the site's s3_allow list for the job's
 * user, groups and account (common/stagecheck.c, the same code as
 * `ebbctl check-script`).  Names come from NSS, as slurmctld's own
 * AllowGroups checks do; the lookups run before ebb_lock is taken, so a
 * slow LDAP never holds up the workers.  stagerun.c runs the lines of a
 * job that passed.
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
