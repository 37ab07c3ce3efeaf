/* SPDX-License-Identifier: GPL-2.0-or-later */
/* S3 paths in directives: parsing s3://bucket/prefix, expanding %j %u %A
 * %a, and the admin's allow-list of what a job may stage.
 *
 * DESIGN: the daemons hold the cluster's S3 credentials, so a job may only
 * stage what an admin allowed.  The plugin checks every stage line against
 * the allow-list at sbatch (bb_p_job_validate) and refuses the job with a
 * message naming the rule; bbd checks again before it moves a byte (a
 * hand-made request through ebbctl passes the same gate).  Everything here
 * is pure (no I/O): safe under slurmctld's locks.  tests/common/t_s3path.
 *
 * ebb.conf syntax, one rule per line, first match wins:
 *   s3_allow = user:alice    s3://bucket/prefix/   rw
 *   s3_allow = group:genomics s3://genomics-data/   r
 *   s3_allow = account:cfd   s3://cfd-%u/           rw
 *   s3_allow = *             s3://scratch/%u/       rw
 * The subject is user:NAME, group:NAME, account:NAME or '*'; the prefix
 * may hold %u (the job's user name); access is r, w or rw.  A stage_in
 * needs r on its source, a stage_out w on its destination.  A prefix
 * matches at a '/' boundary or as a whole key ("s3://b/data" allows
 * "s3://b/data/x" and "s3://b/data", not "s3://b/database").  With no
 * s3_allow line at all, every stage is refused (the safe default).
 */
#ifndef EBB_S3PATH_H
#define EBB_S3PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

#define S3PATH_MAX_BUCKET 63
#define S3PATH_MAX_KEY 1024

/* Split "s3://bucket/key..." into bucket and key (key may be ""; "" is
 * the whole bucket).  EBB_EINVAL with why for anything else (no s3://,
 * a bad bucket name per S3's rules, a key over 1024 bytes). */
ebb_err s3path_split(const char *url, char *bucket, size_t bucketlen,
		     char *key, size_t keylen, char *why, size_t whylen);

/* What the expansion knows about the job. */
struct s3path_job {
	uint32_t job_id;         /* %j */
	const char *user;        /* %u */
	uint32_t array_job_id;   /* %A (= job_id when not an array) */
	uint32_t array_task_id;  /* %a (NO_VAL-like: array_task_set false) */
	bool array_task_set;     /* false: %a expands to "" ... see below */
};

/* Expand %j, %u, %A, %a and %% in s; malloc'd result in *out.  %a outside
 * a job array expands to "0" (sbatch's own choice for --output is ""; a
 * stage path needs a stable, visible name: docs/directives.md).  Any
 * other %X is EBB_EINVAL with why ("'%x' is not one of %j %u %A %a %%"). */
ebb_err s3path_expand(const char *s, const struct s3path_job *job, char **out,
		      char *why, size_t whylen);

/* Only checks that every % is one of the known ones (sbatch time, when
 * the job id is not known yet). */
ebb_err s3path_check_pattern(const char *s, char *why, size_t whylen);

enum s3path_access { S3PATH_READ = 1, S3PATH_WRITE = 2 };

struct s3path_rule {
	char kind;          /* 'u' user, 'g' group, 'a' account, '*' anyone */
	char *name;         /* NULL for '*' */
	char *prefix;       /* "s3://bucket/prefix", may hold %u */
	unsigned access;    /* S3PATH_READ | S3PATH_WRITE */
	unsigned line;      /* ebb.conf line, for messages (0 = unknown) */
};

struct s3path_allow {
	struct s3path_rule *rules;
	unsigned nrules;
};

/* Parse one s3_allow value and append it.  EBB_E_CONFIG with err
 * ("s3_allow: access must be r, w or rw: 'x'"). */
ebb_err s3path_allow_add(struct s3path_allow *a, const char *value,
			 unsigned line, char *err, size_t errlen);
void s3path_allow_free(struct s3path_allow *a);

/* The job's identity for the check: user name, its groups' names, and the
 * account (may be NULL). */
struct s3path_who {
	const char *user;
	const char *const *groups;
	unsigned ngroups;
	const char *account;
};

/* May who have access to url (already expanded, or a pattern whose % parts
 * are checked literally)?  EBB_OK, or EBB_E_DENIED with msg:
 *   "s3://b/x is not allowed for reading: no s3_allow rule in ebb.conf
 *    matches user alice (groups: alice, hpc; account: cfd); rules for
 *    them: line 12 allows s3://b/alice/ (rw)"
 * naming the rules that were close, or that there are none. */
ebb_err s3path_allowed(const struct s3path_allow *a, const struct s3path_who *who,
		       const char *url, unsigned access, char *msg,
		       size_t msglen);

#endif
