/* SPDX-License-Identifier: GPL-2.0-or-later */
/* t_cred: where S3 credentials come from: the environment, the shared
 * credentials and config files (temporary ones), and IMDSv2, the last
 * against tests/stager/imds.py on 127.0.0.1 (the one emulator the stager's
 * tests use: there is no real IMDS here). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stg.h"
#include "tap.h"

static char dir[256];

static void unset_all(void)
{
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_EC2_METADATA_DISABLED");
}

static char *write_tmp(const char *name, const char *text)
{
	char *path = tap_asprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		sysbail("writing %s", path);
	return path;
}

static void test_env(void)
{
	struct stg_conf c = {.imds_endpoint = (char *)""};
	struct stg_cred cr;
	char err[1024] = "";

	unset_all();
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	setenv("AWS_SESSION_TOKEN", "envtoken", 1);
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_OK,
	       "environment: %s", err);
	is_str(cr.access_key, "AKIAENV", "access key");
	is_str(cr.secret_key, "envsecret", "secret key");
	is_str(cr.session_token, "envtoken", "session token");
	is_str(cr.source, "environment", "source");
	is_int(cr.expires, 0, "no expiry");
	ok(!stg_cred_expiring(&cr, INT64_MAX / 2, 600),
	   "keys without expiry never need renewing");

	/* The environment wins over a profile. */
	c.profile = (char *)"whatever";
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_OK,
	       "environment before profiles");
	is_str(cr.source, "environment", "source");

	unsetenv("AWS_SECRET_ACCESS_KEY");
	c.credentials_file = (char *)"/nonexistent/credentials";
	c.config_file = (char *)"/nonexistent/config";
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_ENOENT,
	       "half an environment is not enough");
	ok(strstr(err, "AWS_ACCESS_KEY_ID set without AWS_SECRET_ACCESS_KEY")
	   != NULL, "message says which half: %s", err);
	is_str(cr.access_key, "", "nothing left in the output");
	unset_all();
}

static void test_files(void)
{
	char *cf = write_tmp("credentials",
		"# comment\n"
		"[default]\n"
		"aws_access_key_id = AKIADEFAULT\n"
		"aws_secret_access_key=defsecret\n"
		"\n"
		"[ other ]\n"
		"  aws_access_key_id   =   AKIAOTHER  \n"
		"  aws_secret_access_key = othersecret/with+chars=\n"
		"  aws_session_token = othertoken\n"
		"[half]\n"
		"aws_access_key_id = AKIAHALF\n"
		"[assume]\n"
		"region = us-east-1\n");
	char *gf = write_tmp("config",
		"[default]\n"
		"region = eu-west-1\n"
		"[profile cfgonly]\n"
		"aws_access_key_id = AKIACFG\n"
		"aws_secret_access_key = cfgsecret\n"
		"[profile role]\n"
		"role_arn = arn:aws:iam::123456789012:role/x\n"
		"source_profile = default\n"
		"[cfgonly]\n"
		"aws_access_key_id = WRONG\n");
	struct stg_conf c = {.imds_endpoint = (char *)"",
			     .credentials_file = cf, .config_file = gf};
	struct stg_cred cr;
	char err[1024] = "";

	unset_all();
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_OK,
	       "default profile: %s", err);
	is_str(cr.access_key, "AKIADEFAULT", "default access key");
	is_str(cr.secret_key, "defsecret", "default secret (no spaces)");
	is_str(cr.source, "profile default", "source");

	c.profile = (char *)"other";
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_OK,
	       "profile other: %s", err);
	is_str(cr.access_key, "AKIAOTHER", "trimmed access key");
	is_str(cr.secret_key, "othersecret/with+chars=", "secret with = kept");
	is_str(cr.session_token, "othertoken", "session token");

	c.profile = NULL;
	setenv("AWS_PROFILE", "other", 1);
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_OK,
	       "AWS_PROFILE picks the profile");
	is_str(cr.access_key, "AKIAOTHER", "from AWS_PROFILE");
	unsetenv("AWS_PROFILE");

	c.profile = (char *)"cfgonly";
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_OK,
	       "[profile cfgonly] in the config file: %s", err);
	is_str(cr.access_key, "AKIACFG", "config's [profile x], not [x]");
	is_str(cr.source, "profile cfgonly (config)", "source says config");

	c.profile = (char *)"half";
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_E_CONFIG,
	       "a profile with only a key id is an error");
	ok(strstr(err, "'half'") && strstr(err, "no aws_secret_access_key"),
	   "message: %s", err);

	c.profile = (char *)"role";
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_ENOENT,
	       "role_arn profile is not resolved");
	ok(strstr(err, "uses role_arn (not supported") != NULL,
	   "message says role_arn is not supported: %s", err);

	c.profile = (char *)"nope";
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_ENOENT,
	       "missing profile");
	ok(strstr(err, "no credentials: ") == err &&
	   strstr(err, "environment: AWS_ACCESS_KEY_ID unset") &&
	   strstr(err, "profile 'nope' not in ") && strstr(err, cf) &&
	   strstr(err, gf) && strstr(err, "IMDS: off"),
	   "message lists everything tried: %s", err);

	/* Files named by the environment. */
	c.profile = NULL;
	c.credentials_file = NULL;
	c.config_file = NULL;
	setenv("AWS_SHARED_CREDENTIALS_FILE", cf, 1);
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_OK,
	       "AWS_SHARED_CREDENTIALS_FILE");
	is_str(cr.access_key, "AKIADEFAULT", "read from it");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/c", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/g", 1);
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_ENOENT,
	       "missing files");
	ok(strstr(err, "credentials file /nonexistent/c does not exist") &&
	   strstr(err, "config /nonexistent/g does not exist"),
	   "message names the missing files: %s", err);
	unset_all();
	unlink(cf);
	unlink(gf);
	free(cf);
	free(gf);
}

static pid_t imds_pid;

static int imds_start(const char *srcdir)
{
	char *script = tap_asprintf("%s/tests/stager/imds.py", srcdir);
	char *portfile = tap_asprintf("%s/imds.port", dir);
	int port = -1, i;

	imds_pid = fork();
	if (imds_pid < 0)
		sysbail("fork");
	if (imds_pid == 0) {
		execlp("python3", "python3", script, portfile, "60",
		       (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500 && port < 0; i++) {
		FILE *f = fopen(portfile, "r");
		int st;

		if (f) {
			if (fscanf(f, "%d", &port) != 1)
				port = -1;
			fclose(f);
		}
		if (port < 0) {
			if (waitpid(imds_pid, &st, WNOHANG) == imds_pid) {
				imds_pid = 0;
				break;
			}
			usleep(10000);
		}
	}
	unlink(portfile);
	free(portfile);
	free(script);
	return port;
}

static void imds_stop(void)
{
	if (imds_pid > 0) {
		kill(imds_pid, SIGTERM);
		waitpid(imds_pid, NULL, 0);
		imds_pid = 0;
	}
}

static void test_imds(void)
{
	const char *srcdir = getenv("EBB_SRCDIR");
	struct stg_conf c = {.credentials_file = (char *)"/nonexistent/c",
			     .config_file = (char *)"/nonexistent/g"};
	struct stg_cred cr;
	char err[1024] = "", ep[128];
	int port;

	unset_all();
	if (!srcdir || system("python3 -c '' 2>/dev/null") != 0) {
		skip_block(14, "IMDS checks need python3 and EBB_SRCDIR");
		return;
	}
	port = imds_start(srcdir);
	if (port <= 0) {
		imds_stop();
		skip_block(14, "tests/stager/imds.py did not start");
		return;
	}
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/ok", port);
	c.imds_endpoint = ep;
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_OK,
	       "IMDSv2 role credentials: %s", err);
	is_str(cr.access_key, "ASIAEBBTESTKEY000001", "AccessKeyId");
	is_str(cr.secret_key, "imds/secret+key\\with\"escapes",
	       "SecretAccessKey (JSON escapes decoded)");
	is_str(cr.session_token, "IQoJb3JpZ2luX2VjEBb/token+with/slashes==",
	       "Token");
	is_int(cr.expires, 1893553445, "Expiration 2030-01-02T03:04:05Z");
	ok(!stg_cred_expiring(&cr, 1893553445 - 601, 600),
	   "not expiring 601 s before, margin 600 s");
	ok(stg_cred_expiring(&cr, 1893553445 - 599, 600),
	   "expiring 599 s before");
	ok(stg_cred_expiring(&cr, 1893553445 + 5, 600), "expired: expiring");
	is_str(cr.source, "imds role ebb-role", "source names the role");

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/norole", port);
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_ENOENT,
	       "no instance role");
	ok(strstr(err, "HTTP 404 (no instance role)") &&
	   strstr(err, "/nonexistent/c"), "message: %s", err);

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/notoken", port);
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_ENOENT,
	       "token refused");
	ok(strstr(err, "PUT /latest/api/token: HTTP 403") != NULL,
	   "message: %s", err);

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/badjson", port);
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_ENOENT,
	       "bad JSON");
	ok(strstr(err, "not a JSON object") != NULL, "message: %s", err);
	imds_stop();

	/* Nothing listens any more on that port. */
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	is_int(stg_cred_resolve(&c, &cr, err, sizeof(err)), EBB_ENOENT,
	       "IMDS unreachable");
	ok(strstr(err, "IMDS http://127.0.0.1:") &&
	   strstr(err, "PUT /latest/api/token") &&
	   strstr(err, "environment: AWS_ACCESS_KEY_ID unset"),
	   "message: %s", err);
}

int main(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/t_cred.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(dir))
		sysbail("mkdtemp %s", dir);
	plan_lazy();
	test_env();
	test_files();
	test_imds();
	imds_stop();
	rmdir(dir);
	return tap_exit();
}
