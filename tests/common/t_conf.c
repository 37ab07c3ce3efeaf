/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the configuration reader (common/conf.c). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "tap.h"

struct seen {
	char keys[16][64];
	char values[16][256];
	int n;
	const char *refuse;   /* key the setter refuses */
	const char *reason;   /* what it says ("" = nothing) */
};

static ebb_err _set(void *ctx, const char *key, const char *value, char *err,
		    size_t errlen)
{
	struct seen *s = ctx;

	if (s->refuse && strcmp(key, s->refuse) == 0) {
		snprintf(err, errlen, "%s", s->reason);
		return EBB_EINVAL;
	}
	if (s->n < 16) {
		snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
		snprintf(s->values[s->n], sizeof(s->values[0]), "%s", value);
	}
	s->n++;
	return EBB_OK;
}

static char *_dir;   /* ${TMPDIR:-/tmp}/ebb-t_conf.XXXXXX */

/* conf_load_lines: "key@line" of each setting, space-separated. */
static ebb_err _set_line(void *ctx, const char *key, const char *value,
			 unsigned line, char *err, size_t errlen)
{
	char *b = ctx;
	size_t n = strlen(b);

	(void)value;
	(void)err;
	(void)errlen;
	snprintf(b + n, 256 - n, "%s%s@%u", n ? " " : "", key, line);
	return EBB_OK;
}

/* Write text to a new file in the test directory; returns its path. */
static char *_file(const char *name, const char *text)
{
	char *path = tap_asprintf("%s/%s", _dir, name);
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		sysbail("writing %s", path);
	return path;
}

int main(void)
{
	struct seen s;
	char err[512], *path, *want, *big;
	ebb_err rc;
	int b = -1;

	plan_lazy();
	_dir = tap_asprintf("%s/ebb-t_conf.XXXXXX",
			    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(_dir))
		sysbail("mkdtemp %s", _dir);

	/* line numbers for repeated keys */
	{
		char lines[256] = "";

		path = _file("lines.conf", "# rules\n\ns3_allow = a\n"
			     "x = 1 # c\n\n\ns3_allow = b\n");
		is_int(conf_load_lines(path, 0, _set_line, lines, err,
				       sizeof(err)), EBB_OK,
		       "conf_load_lines loads");
		is_str(lines, "s3_allow@3 x@4 s3_allow@7",
		       "conf_load_lines gives each setting its line");
		free(path);
	}

	/* comments, blanks, whitespace */
	memset(&s, 0, sizeof(s));
	path = _file("good.conf",
		     "# bbd configuration\n"
		     "\n"
		     "listen = 0.0.0.0:7070\n"
		     "   root=/var/lib/ebb   \n"
		     "\tcapacity\t=\t3.5TB # the NVMe's share\n"
		     "   # an indented comment\n"
		     "slurm_user = slurm\n"
		     "url = http://x/?a=b\n"
		     "empty =\n"
		     "last = no newline at the end");
	err[0] = '\0';
	rc = conf_load(path, 0, _set, &s, err, sizeof(err));
	is_int(rc, EBB_OK, "a good file loads");
	is_int(s.n, 7, "7 settings (comments and blank lines skipped)");
	is_str(s.keys[0], "listen", "key 1");
	is_str(s.values[0], "0.0.0.0:7070", "value 1");
	is_str(s.keys[1], "root", "leading/trailing spaces trimmed (key)");
	is_str(s.values[1], "/var/lib/ebb", "leading/trailing spaces trimmed (value)");
	is_str(s.keys[2], "capacity", "tabs trimmed around the key");
	is_str(s.values[2], "3.5TB", "a trailing comment is cut and the value trimmed");
	is_str(s.values[3], "slurm", "value 4");
	is_str(s.keys[4], "url", "key with '=' in its value");
	is_str(s.values[4], "http://x/?a=b", "only the first '=' splits");
	is_str(s.values[5], "", "an empty value is passed as \"\"");
	is_str(s.keys[6], "last", "a last line without a newline is read");
	is_str(s.values[6], "no newline at the end", "its value");
	free(path);

	/* a line without '=' */
	memset(&s, 0, sizeof(s));
	path = _file("bad.conf", "# c\nlisten = x\n\nthis is not a setting\nroot = y\n");
	rc = conf_load(path, 0, _set, &s, err, sizeof(err));
	is_int(rc, EBB_E_CONFIG, "a line without '=' -> E_CONFIG");
	want = tap_asprintf("%s:4: ", path);
	ok(strncmp(err, want, strlen(want)) == 0, "message starts with FILE:LINE: "
	   "('%s')", err);
	ok(strstr(err, "this is not a setting") != NULL,
	   "message quotes the bad line");
	is_int(s.n, 1, "settings before the bad line were applied, none after");
	free(want);
	free(path);

	/* the setter refuses a value: its reason with FILE:LINE */
	memset(&s, 0, sizeof(s));
	s.refuse = "capacity";
	s.reason = "'10G' is ambiguous: write GiB or GB";
	path = _file("refused.conf", "listen = a\ncapacity = 10G\n");
	rc = conf_load(path, 0, _set, &s, err, sizeof(err));
	is_int(rc, EBB_EINVAL, "the setter's error is returned");
	want = tap_asprintf("%s:2: '10G' is ambiguous: write GiB or GB", path);
	is_str(err, want, "message is FILE:LINE: the setter's reason");
	free(want);
	free(path);

	/* the setter refuses without a reason: the error's text */
	memset(&s, 0, sizeof(s));
	s.refuse = "x";
	s.reason = "";
	path = _file("noreason.conf", "x = 1\n");
	rc = conf_load(path, 0, _set, &s, err, sizeof(err));
	want = tap_asprintf("%s:1: ", path);
	ok(rc == EBB_EINVAL && strncmp(err, want, strlen(want)) == 0 &&
	   strlen(err) > strlen(want), "no reason: FILE:LINE: and the error's "
	   "text ('%s')", err);
	free(want);
	free(path);

	/* missing files */
	memset(&s, 0, sizeof(s));
	path = tap_asprintf("%s/absent.conf", _dir);
	err[0] = '\0';
	rc = conf_load(path, 0, _set, &s, err, sizeof(err));
	ok(rc == EBB_ENOENT && strstr(err, path) != NULL,
	   "a missing required file -> ENOENT naming it ('%s')", err);
	rc = conf_load(path, 1, _set, &s, err, sizeof(err));
	ok(rc == EBB_OK && s.n == 0, "a missing optional file is fine");
	free(path);

	/* a directory is not a file: fopen() succeeds on one, the reads
	 * fail with EISDIR, and a silent "no settings" would hide a typo'd
	 * --config path */
	err[0] = '\0';
	rc = conf_load(_dir, 1, _set, &s, err, sizeof(err));
	ok(rc != EBB_OK, "a directory is refused even when optional (rc %d, "
	   "'%s')", rc, err);

	/* an over-long line */
	big = tap_malloc(10000);
	memset(big, 'k', 9000);
	strcpy(big + 9000, " = v\n");
	memset(&s, 0, sizeof(s));
	{
		char *text = tap_asprintf("a = 1\n%s", big);
		path = _file("long.conf", text);
		free(text);
	}
	rc = conf_load(path, 0, _set, &s, err, sizeof(err));
	want = tap_asprintf("%s:2: ", path);
	ok(rc != EBB_OK && strncmp(err, want, strlen(want)) == 0,
	   "a 9000-byte line is refused with FILE:LINE ('%.60s')", err);
	free(want);
	free(path);
	free(big);

	/* a short error buffer is never overrun */
	{
		char tiny[8];
		memset(&s, 0, sizeof(s));
		path = _file("bad2.conf", "garbage\n");
		memset(tiny, 'x', sizeof(tiny));
		conf_load(path, 0, _set, &s, tiny, sizeof(tiny));
		ok(memchr(tiny, '\0', sizeof(tiny)) != NULL,
		   "an 8-byte error buffer gets a terminated message");
		free(path);
	}

	/* booleans */
	{
		static const char *yes[] = {"yes", "true", "1", "on", "YES", "True", "ON"};
		static const char *no[] = {"no", "false", "0", "off", "No", "FALSE"};
		static const char *bad[] = {"", "2", "y", "n", "yess", "enable", " yes"};
		unsigned wrong = 0;
		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
			if (conf_parse_bool(yes[i], &b) != EBB_OK || b != 1)
				wrong++;
		is_int(wrong, 0, "yes/true/1/on (any case) are true");
		wrong = 0;
		for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
			if (conf_parse_bool(no[i], &b) != EBB_OK || b != 0)
				wrong++;
		is_int(wrong, 0, "no/false/0/off (any case) are false");
		wrong = 0;
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			if (conf_parse_bool(bad[i], &b) != EBB_EINVAL) {
				diag("'%s' accepted as a boolean", bad[i]);
				wrong++;
			}
		is_int(wrong, 0, "anything else is EINVAL");
	}

	{
		unsigned v = 7;
		char err[128] = "";

		is_int(conf_parse_uint("42", 1, 100, &v, err, sizeof(err)),
		       EBB_OK, "conf_parse_uint: 42 in 1..100");
		is_int((int)v, 42, "conf_parse_uint: the value");
		is_int(conf_parse_uint("101", 1, 100, &v, err, sizeof(err)),
		       EBB_EINVAL, "conf_parse_uint: above the range");
		is_str(err, "'101' is not a whole number in 1..100",
		       "conf_parse_uint: the message names value and range");
		is_int(conf_parse_uint("4x", 1, 100, &v, err, sizeof(err)),
		       EBB_EINVAL, "conf_parse_uint: trailing garbage");
		is_int(conf_parse_uint("", 0, 100, &v, err, sizeof(err)),
		       EBB_EINVAL, "conf_parse_uint: empty");
		is_int(conf_parse_uint("-1", 0, 100, &v, err, sizeof(err)),
		       EBB_EINVAL, "conf_parse_uint: negative");
		is_int((int)v, 42, "conf_parse_uint: a refused value leaves out alone");
		ok(conf_cluster_key("bbd_port") && conf_cluster_key("epilog_timeout") &&
		   conf_cluster_key("node.n17") && conf_cluster_key("max_capacity"),
		   "the plugin's and the Epilog's keys are cluster keys");
		ok(conf_cluster_key("s3_allow"),
		   "s3_allow is a cluster key (the plugin's sbatch check)");
		ok(!conf_cluster_key("s3_endpoint") &&
		   !conf_cluster_key("s3_region") &&
		   !conf_cluster_key("s3_allowed"),
		   "the stager's other s3_* keys are bbd's own");
		ok(!conf_cluster_key("listen") && !conf_cluster_key("root") &&
		   !conf_cluster_key("node.") && !conf_cluster_key("bogus"),
		   "bbd's own keys and unknown keys are not");
	}

	{
		char *cmd = tap_asprintf("rm -rf '%s'", _dir);
		if (system(cmd) != 0)
			diag("could not remove %s", _dir);
		free(cmd);
	}
	free(_dir);
	return tap_exit();
}
