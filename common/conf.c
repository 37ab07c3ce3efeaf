/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Configuration file reader (see conf.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"

static char *_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

ebb_err conf_load_lines(const char *path, int optional, conf_set_line_fn set,
			void *ctx, char *err, size_t errlen)
{
	char line[4096], why[512];
	FILE *f;
	int lineno = 0;
	ebb_err rc = EBB_OK;

	f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT && optional)
			return EBB_OK;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ebb_err_from_errno(errno);
	}
	while (fgets(line, sizeof(line), f)) {
		char *p, *eq, *key, *value;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path,
				 lineno);
			rc = EBB_E_CONFIG;
			break;
		}
		if ((p = strchr(line, '#')))
			*p = '\0';
		p = _trim(line);
		if (*p == '\0')
			continue;
		eq = strchr(p, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: expected 'key = value', "
				 "got '%s'", path, lineno, p);
			rc = EBB_E_CONFIG;
			break;
		}
		*eq = '\0';
		key = _trim(p);
		value = _trim(eq + 1);
		why[0] = '\0';
		rc = set(ctx, key, value, (unsigned)lineno, why, sizeof(why));
		if (rc != EBB_OK) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno,
				 why[0] ? why : ebb_strerror(rc));
			break;
		}
	}
	if (rc == EBB_OK && ferror(f)) {
		int e = errno;

		/* e.g. EISDIR: fopen() accepts a directory, fgets() does not */
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		rc = ebb_err_from_errno(e);
	}
	fclose(f);
	return rc;
}

struct _plain {
	conf_set_fn set;
	void *ctx;
};

static ebb_err _plain_set(void *ctx, const char *key, const char *value,
			  unsigned line, char *err, size_t errlen)
{
	struct _plain *p = ctx;

	(void)line;
	return p->set(p->ctx, key, value, err, errlen);
}

ebb_err conf_load(const char *path, int optional, conf_set_fn set, void *ctx,
		  char *err, size_t errlen)
{
	struct _plain p = {set, ctx};

	return conf_load_lines(path, optional, _plain_set, &p, err, errlen);
}

ebb_err conf_parse_bool(const char *value, int *out)
{
	static const char *yes[] = {"yes", "true", "1", "on"};
	static const char *no[] = {"no", "false", "0", "off"};

	for (int i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*out = 1;
			return EBB_OK;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*out = 0;
			return EBB_OK;
		}
	}
	return EBB_EINVAL;
}

int conf_cluster_key(const char *key)
{
	static const char *const keys[] = {
		"bbd_port", "pool", "create_timeout", "health_interval",
		"sweep_interval", "teardown_timeout", "max_create_attempts",
		"plugin_workers", "max_capacity", "max_capacity_per_node",
		"min_stripe_size", "max_stripe_size", "epilog_timeout",
		"stage_poll_interval", "export_retention", "s3_allow", NULL,
	};

	if (!strncmp(key, "node.", 5) && key[5])
		return 1;
	for (unsigned i = 0; keys[i]; i++)
		if (!strcmp(key, keys[i]))
			return 1;
	return 0;
}

ebb_err conf_parse_uint(const char *value, unsigned lo, unsigned hi,
			unsigned *out, char *err, size_t errlen)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || end == value || *end || v < lo || v > hi) {
		snprintf(err, errlen, "'%s' is not a whole number in %u..%u",
			 value, lo, hi);
		return EBB_EINVAL;
	}
	*out = (unsigned)v;
	return EBB_OK;
}
