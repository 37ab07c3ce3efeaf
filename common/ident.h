/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Who a job runs as, by name: the user's name and the names of its groups,
 * as the s3_allow list (s3path.h) wants them.
 *
 * DESIGN: one lookup through NSS (getpwuid_r/getpwnam_r, getgrouplist,
 * getgrgid_r), the same sources slurmctld itself uses for AllowGroups.
 * Blocking (NSS may ask LDAP or sssd); reentrant; no globals.  Used by the
 * plugin at sbatch (bb_p_job_validate, without ebb_lock held) and by
 * `ebbctl check-script`.
 */
#ifndef EBB_IDENT_H
#define EBB_IDENT_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

struct ident {
	uid_t uid;
	gid_t gid;          /* primary group */
	char *user;         /* name */
	char **groups;      /* names of every group the user is in, the
	                     * primary first; a group without a name is
	                     * given as its number */
	unsigned ngroups;
};

/* Look up uid (ident_uid) or a user name or number (ident_name) and fill
 * *out; free it with ident_free().  EBB_ENOENT with err ("no user with
 * uid 1234") when there is no such user, EBB_ENOMEM, or EBB_EIO with err
 * when NSS fails. */
ebb_err ident_uid(uid_t uid, struct ident *out, char *err, size_t errlen);
ebb_err ident_name(const char *name, struct ident *out, char *err,
		   size_t errlen);
void ident_free(struct ident *id);

#endif
