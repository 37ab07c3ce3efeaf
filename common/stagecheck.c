/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Stage lines against the allow-list (see stagecheck.h). */
#include "config.h"

#include <stdio.h>

#include "stagecheck.h"

ebb_err bb_stages_check(const struct bb_request *r,
			const struct s3path_allow *allow,
			const struct s3path_who *who, char *err, size_t errlen)
{
	for (unsigned i = 0; i < r->nstages; i++) {
		const struct bb_stage *st = &r->stages[i];
		int in = st->dir == BB_STAGE_IN;
		const char *url = in ? st->source : st->destination;
		const char *dir = in ? "stage_in" : "stage_out";
		char where[32], why[768];
		ebb_err rc;

		if (st->line)
			snprintf(where, sizeof(where), "line %u", st->line);
		else
			snprintf(where, sizeof(where), "--bb");
		rc = s3path_check_pattern(url, why, sizeof(why));
		if (rc != EBB_OK) {
			snprintf(err, errlen, "%s: %s %s=%s: %s", where, dir,
				 in ? "source" : "destination", url, why);
			return rc;
		}
		rc = s3path_allowed(allow, who, url,
				    in ? S3PATH_READ : S3PATH_WRITE, why,
				    sizeof(why));
		if (rc != EBB_OK) {
			snprintf(err, errlen, "%s: %s: %s", where, dir, why);
			return rc;
		}
		if (st->mode == BB_MODE_LAZY) {
			snprintf(err, errlen, "%s: stage_in mode=lazy: lazy "
				 "import comes in the next release of ebb: "
				 "remove mode=lazy to use the default, eager "
				 "mode (everything is copied before the job "
				 "starts)", where);
			return EBB_EINVAL;
		}
	}
	return EBB_OK;
}
