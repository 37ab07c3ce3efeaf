/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A user's name and groups' names through NSS (see ident.h). */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ident.h"

#define _MAX_GROUPS 65536

/* A getpw*_r/getgr*_r buffer that grows on ERANGE. */
static char *_grow(char *buf, size_t *len)
{
	char *nb;

	*len = *len ? *len * 2 : 4096;
	nb = realloc(buf, *len);
	if (!nb)
		free(buf);
	return nb;
}

/* The name of group g (its number if it has none); malloc'd or NULL. */
static char *_group_name(gid_t g)
{
	struct group gr, *res = NULL;
	char *buf = NULL, *name = NULL;
	size_t len = 0;
	int rc;

	do {
		if (!(buf = _grow(buf, &len)))
			return NULL;
		rc = getgrgid_r(g, &gr, buf, len, &res);
	} while (rc == ERANGE && len < (1u << 24));
	if (rc == 0 && res && res->gr_name)
		name = strdup(res->gr_name);
	else if (asprintf(&name, "%u", (unsigned)g) < 0)
		name = NULL;
	free(buf);
	return name;
}

/* Fill out from a passwd entry: name and groups. */
static ebb_err _fill(const struct passwd *pw, struct ident *out, char *err,
		     size_t errlen)
{
	gid_t *gids = NULL;
	int n = 32;

	out->uid = pw->pw_uid;
	out->gid = pw->pw_gid;
	out->user = strdup(pw->pw_name);
	if (!out->user)
		return EBB_ENOMEM;
	for (;;) {
		int got = n;
		gid_t *ng = realloc(gids, (size_t)n * sizeof(*gids));

		if (!ng) {
			free(gids);
			return EBB_ENOMEM;
		}
		gids = ng;
		if (getgrouplist(pw->pw_name, pw->pw_gid, gids, &got) >= 0) {
			n = got;
			break;
		}
		if (got <= n)
			got = n * 2;
		if (got > _MAX_GROUPS) {
			free(gids);
			snprintf(err, errlen, "user %s: more than %d groups",
				 pw->pw_name, _MAX_GROUPS);
			return EBB_EIO;
		}
		n = got;
	}
	out->groups = calloc((size_t)n + 1, sizeof(char *));
	if (!out->groups) {
		free(gids);
		return EBB_ENOMEM;
	}
	/* the primary group first (getgrouplist puts it in, not always
	 * first), then the others once each */
	out->groups[out->ngroups++] = _group_name(pw->pw_gid);
	for (int i = 0; i < n; i++) {
		if (gids[i] == pw->pw_gid)
			continue;
		out->groups[out->ngroups++] = _group_name(gids[i]);
	}
	free(gids);
	for (unsigned i = 0; i < out->ngroups; i++)
		if (!out->groups[i])
			return EBB_ENOMEM;
	return EBB_OK;
}

static ebb_err _lookup(uid_t uid, const char *name, struct ident *out,
		       char *err, size_t errlen)
{
	struct passwd pw, *res = NULL;
	char *buf = NULL;
	size_t len = 0;
	ebb_err rc;
	int e;

	memset(out, 0, sizeof(*out));
	do {
		if (!(buf = _grow(buf, &len)))
			return EBB_ENOMEM;
		e = name ? getpwnam_r(name, &pw, buf, len, &res) :
			   getpwuid_r(uid, &pw, buf, len, &res);
	} while (e == ERANGE && len < (1u << 24));
	if (e == 0 && !res && name) {
		/* a number names a uid, as for chown */
		char *end;
		unsigned long v = strtoul(name, &end, 10);

		if (*name && !*end && v < (uid_t)-1) {
			free(buf);
			return _lookup((uid_t)v, NULL, out, err, errlen);
		}
	}
	if (e != 0 || !res) {
		if (e != 0 && e != ENOENT && e != ESRCH) {
			if (name)
				snprintf(err, errlen, "looking up user '%s': "
					 "%s", name, strerror(e));
			else
				snprintf(err, errlen, "looking up uid %u: %s",
					 (unsigned)uid, strerror(e));
			rc = EBB_EIO;
		} else {
			if (name)
				snprintf(err, errlen, "no user '%s'", name);
			else
				snprintf(err, errlen, "no user with uid %u",
					 (unsigned)uid);
			rc = EBB_ENOENT;
		}
		free(buf);
		return rc;
	}
	rc = _fill(res, out, err, errlen);
	free(buf);
	if (rc != EBB_OK)
		ident_free(out);
	return rc;
}

ebb_err ident_uid(uid_t uid, struct ident *out, char *err, size_t errlen)
{
	return _lookup(uid, NULL, out, err, errlen);
}

ebb_err ident_name(const char *name, struct ident *out, char *err,
		   size_t errlen)
{
	return _lookup(0, name, out, err, errlen);
}

void ident_free(struct ident *id)
{
	for (unsigned i = 0; i < id->ngroups; i++)
		free(id->groups[i]);
	free(id->groups);
	free(id->user);
	memset(id, 0, sizeof(*id));
}
