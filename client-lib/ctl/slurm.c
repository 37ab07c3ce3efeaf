/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebbctl's Slurm commands: `epilog` (the compute-node Epilog that removes
 * this node's share of a job's file system) and `status --cluster` (the
 * plugin's view, from `scontrol show bbstat`).
 *
 * The Epilog runs as root on every node of an ending job, from slurmd, with
 * SLURM_JOB_ID set.  It returns 0 once the local bbd no longer holds the
 * job's instance (destroying it if needed: unmount, data removed), which
 * keeps the node COMPLETING, out of scheduling, until its NVMe is clean.
 * If the local bbd does not answer within epilog_timeout it returns 1, and
 * slurmd drains the node ("Epilog error"): a node whose daemon is down
 * should not take the next job.  docs/slurm.md says the same for admins. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "ctl_int.h"

#define EPILOG_ID_PREFIX "slurm-"

struct ep_conf {
	unsigned port;
	unsigned listen_port;
	unsigned timeout;          /* s */
	char munge[256];
};

static ebb_err _ep_set(void *ctx, const char *key, const char *value,
		       char *err, size_t errlen)
{
	struct ep_conf *c = ctx;
	unsigned long long v;
	const char *colon;

	if (!strcmp(key, "bbd_port") || !strcmp(key, "epilog_timeout")) {
		if (ctl_parse_uint(value, 86400, &v) || !v) {
			snprintf(err, errlen, "%s: '%s' is not a number in 1..86400",
				 key, value);
			return EBB_EINVAL;
		}
		if (key[0] == 'b')
			c->port = (unsigned)v;
		else
			c->timeout = (unsigned)v;
	} else if (!strcmp(key, "listen") && (colon = strrchr(value, ':')) &&
		   !ctl_parse_uint(colon + 1, 65535, &v)) {
		c->listen_port = (unsigned)v;
	} else if (!strcmp(key, "munge_socket")) {
		snprintf(c->munge, sizeof(c->munge), "%s", value);
	}
	return EBB_OK;
}

static void _say(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void _say(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "ebbctl epilog: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	va_start(ap, fmt);
	vsyslog(prio, fmt, ap);
	va_end(ap);
}

enum { EXPORT_NONE, EXPORT_KEEP, EXPORT_NO_BBD };

/* A job with stage_out lines: wait until its export has ended before this
 * node's share is removed (docs/stager.md).  Rank 0 holds the stages; this
 * node's bbd gives the member list.  A failed export (or rank 0 silent for
 * `timeout` s) keeps the data: the plugin finishes or removes it after
 * `ebbctl stage retry|abandon`.  No instance, or no export: EXPORT_NONE.
 *
 * The local bbd down (killed, restarting) tells nothing: its share may be
 * part of an export still running, and removing it once bbd is back would
 * lose the files not yet uploaded.  So the Epilog waits up to `timeout` s
 * for it to answer, and gives up without touching anything:
 * EXPORT_NO_BBD (slurmd drains the node, as for any bbd that is down). */
static int _wait_export(const char *job, const char *id, const char *addr,
			const struct ebb_options *opts, unsigned timeout)
{
	struct ebb_instance_info info;
	time_t silent_since = 0, deadline = time(NULL) + timeout;
	int told = 0, rc = EXPORT_NONE;

	memset(&info, 0, sizeof(info));
	while (ebb_instance_get(addr, id, opts, &info)) {
		int e = errno;

		if (e == ENOENT)
			return EXPORT_NONE;  /* not (or no longer) here */
		if (time(NULL) >= deadline) {
			_say(LOG_ERR, "job %s: the local bbd (%s) did not answer within %u s: %s; nothing was removed (slurmd will drain this node; once bbd answers, the plugin finishes the job's export if it had one and its sweep removes %s, or run 'ebbctl -n %s instance destroy %s')",
			     job, addr, timeout, strerror(e), id, addr, id);
			return EXPORT_NO_BBD;
		}
		if (!told++)
			_say(LOG_WARNING, "job %s: the local bbd (%s) does not answer: %s; waiting up to %u s for it before touching the job's data",
			     job, addr, strerror(e), timeout);
		sleep(1);
	}
	if (told)
		_say(LOG_INFO, "job %s: the local bbd answers again", job);
	told = 0;
	for (;;) {
		struct ebb_stage_status *st = NULL;
		unsigned n = 0, running = 0, failed = 0;

		if (ebb_stage_status(id, (const char *const *)info.members,
				     info.nmembers, NULL, opts, &st, &n)) {
			if (errno == ENOENT)
				break;   /* the instance is gone on rank 0 */
			if (!silent_since)
				silent_since = time(NULL);
			if (time(NULL) - silent_since >= (time_t)timeout) {
				_say(LOG_ERR, "job %s: rank 0 (%s) does not answer about the export for %u s: %s; the data stays on this node",
				     job, info.members[0], timeout,
				     strerror(errno));
				rc = EXPORT_KEEP;
				break;
			}
			sleep(1);
			continue;
		}
		silent_since = 0;
		for (unsigned i = 0; i < n; i++) {
			if (st[i].dir != EBB_STAGE_OUT)
				continue;
			if (!strcmp(st[i].state, "failed"))
				failed++;
			else if (strcmp(st[i].state, "done") &&
				 strcmp(st[i].state, "cancelled"))
				running++;
		}
		ebb_stage_status_free(st, n);
		if (failed && !running) {
			_say(LOG_WARNING, "job %s: the export failed: the data stays on this node until 'ebbctl stage retry %s' or 'ebbctl stage abandon %s'",
			     job, job, job);
			rc = EXPORT_KEEP;
			break;
		}
		if (!running)
			break;
		if (!told++)
			_say(LOG_INFO, "job %s: waiting for the export of this job's results to S3",
			     job);
		sleep(2);
	}
	ebb_instance_info_free(&info);
	return rc;
}

int ctl_cmd_epilog(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"job", required_argument, NULL, 'j'},
		{"wait", required_argument, NULL, 'w'},
		{NULL, 0, NULL, 0},
	};
	struct ctl_opts o;
	struct ep_conf conf = {0};
	const char *job = getenv("SLURM_JOB_ID"), *path = getenv("EBB_CONF");
	char id[96], err[512], addr[300], msg[512] = "";
	struct ebb_options opts;
	unsigned long long v;
	int opt, explicit_conf = path && *path;
	time_t deadline;
	unsigned tries = 0, wait_s = 0;

	ctl_opt_init(&o, argc, argv, "j:w:", longopts);
	while ((opt = ctl_opt_next(c, &o)) != -1) {
		if (opt == 'j')
			job = optarg;
		else if (opt == 'w') {
			if (ctl_parse_uint(optarg, 86400, &v))
				return ctl_usage(c, "bad --wait '%s'", optarg);
			wait_s = (unsigned)v;
		}
	}
	if (o.stop)
		return o.status;
	if (optind < argc)
		return ctl_usage(c, "unexpected argument '%s'", argv[optind]);
	if (!job || !*job || ctl_parse_uint(job, 0xffffffffULL, &v) || !v)
		return ctl_usage(c, "no job: SLURM_JOB_ID is not set (this runs as slurm.conf's Epilog) and no --job ID was given");
	openlog("ebb-epilog", LOG_PID, LOG_DAEMON);
	if (conf_load(explicit_conf ? path : SYSCONFDIR "/ebb/ebb.conf",
		      !explicit_conf, _ep_set, &conf, err, sizeof(err))) {
		_say(LOG_ERR, "%s", err);
		return CTL_EXIT_FAIL;
	}
	if (wait_s)  /* --wait wins over epilog_timeout */
		conf.timeout = wait_s;
	if (!conf.timeout)
		conf.timeout = 120;
	snprintf(id, sizeof(id), EPILOG_ID_PREFIX "%s", job);
	opts = c->opts;
	if (!opts.munge_socket && conf.munge[0])
		opts.munge_socket = conf.munge;
	if (!opts.timeout_ms)
		opts.timeout_ms = 10000;
	if (c->nodes_given) {
		snprintf(addr, sizeof(addr), "%s", c->nodes[0]);
	} else {
		snprintf(addr, sizeof(addr), "127.0.0.1:%u",
			 conf.port ? conf.port :
			 conf.listen_port ? conf.listen_port :
			 CTL_DEFAULT_PORT);
	}

	switch (_wait_export(job, id, addr, &opts, conf.timeout)) {
	case EXPORT_KEEP:
		return CTL_EXIT_OK;
	case EXPORT_NO_BBD:
		return CTL_EXIT_FAIL;
	}
	deadline = time(NULL) + conf.timeout;
	for (;;) {
		const char *member[1] = {addr};

		/* destroy is idempotent (no instance: success) and says why
		 * a node cannot be reached ("connect: Connection refused") */
		msg[0] = 0;
		if (ebb_instance_destroy(id, member, 1, &opts, msg,
					 sizeof(msg)) == 0) {
			_say(LOG_INFO, "job %s: %s is gone from this node",
			     job, id);
			return CTL_EXIT_OK;
		}
		if (!msg[0])
			snprintf(msg, sizeof(msg), "%s", strerror(errno));
		if (time(NULL) >= deadline)
			break;
		if (tries++ == 0)
			_say(LOG_WARNING, "job %s: %s; retrying for up to %u s",
			     job, msg, conf.timeout);
		sleep(1);
	}
	_say(LOG_ERR, "job %s: could not remove %s within %u s: %s (slurmd will drain this node; remove it with 'ebbctl -n %s instance destroy %s' once bbd answers)",
	     job, id, conf.timeout, msg, addr, id);
	return CTL_EXIT_FAIL;
}

/* `ebbctl status --cluster`: the plugin's view through scontrol. */
int ctl_cluster_status(struct ctl *c)
{
	char *argv[] = {"scontrol", "show", "bbstat", c->json ? "json" : NULL,
			NULL};
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return ctl_err(c, "fork", errno);
	if (pid == 0) {
		execvp("scontrol", argv);
		fprintf(stderr, "ebbctl: status --cluster: cannot run scontrol: %s\n",
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return CTL_EXIT_OK;
	ctl_errf(c, "'scontrol show bbstat' failed: is slurmctld up and BurstBufferType=burst_buffer/ebb set? (ebbctl status -n HOST:PORT,... asks bbd daemons directly)");
	return CTL_EXIT_FAIL;
}

/* ---- --job JOBID for the stage commands ---------------------------------- */

/* Run a command line made only of checked characters; its first output
 * lines (up to len bytes) in out.  0, or -1 with the reason in out. */
static int _run_lines(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	int st;

	out[0] = '\0';
	if (!p) {
		snprintf(out, len, "cannot run '%s': %s", cmd, strerror(errno));
		return -1;
	}
	while (n + 1 < len && fgets(out + n, (int)(len - n), p))
		n += strlen(out + n);
	st = pclose(p);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		/* what it said is the best reason ("Invalid job id") */
		out[strcspn(out, "\n")] = '\0';
		if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
			snprintf(out, len, "scontrol not found");
		return -1;
	}
	return 0;
}

/* The munge socket of ebb.conf when none was given (as the Epilog). */
static void _job_munge(struct ctl *c)
{
	struct ep_conf conf = {0};
	const char *path = getenv("EBB_CONF");
	int explicit_conf = path && *path;
	char err[512];

	if (c->opts.munge_socket ||
	    conf_load(explicit_conf ? path : SYSCONFDIR "/ebb/ebb.conf",
		      !explicit_conf, _ep_set, &conf, err, sizeof(err)))
		return;
	if (conf.munge[0]) {
		snprintf(c->munge_conf, sizeof(c->munge_conf), "%s", conf.munge);
		c->opts.munge_socket = c->munge_conf;
	}
}

int ctl_job_target(struct ctl *c, const char *job, char *id, size_t idlen)
{
	struct ep_conf conf = {0};
	const char *path = getenv("EBB_CONF"), *nl, *e;
	char cmd[600], buf[8192], list[512], err[512], addr[300];
	int explicit_conf = path && *path;
	unsigned long long v;
	unsigned port;

	if (ctl_parse_uint(job, 0xffffffffULL, &v) || !v) {
		ctl_usage(c, "--job: '%s' is not a Slurm job id", job);
		return CTL_EXIT_USAGE;
	}
	snprintf(id, idlen, EPILOG_ID_PREFIX "%llu", v);
	if (c->instance && strcmp(c->instance, id)) {
		ctl_usage(c, "--job %s is instance %s, -i says %s: give one",
			  job, id, c->instance);
		return CTL_EXIT_USAGE;
	}
	c->instance = id;
	if (c->nodes_given)
		return CTL_EXIT_OK;
	/* The plugin's own record first: "slurm-JOB addr,addr,..." in rank
	 * order, with the bbd addresses it uses; it lives as long as the
	 * file system does (a kept export outlives the job record). */
	snprintf(cmd, sizeof(cmd), "scontrol show bbstat members %llu 2>&1", v);
	if (_run_lines(cmd, buf, sizeof(buf)) == 0 &&
	    !strncmp(buf, id, strlen(id)) && buf[strlen(id)] == ' ') {
		char *m = buf + strlen(id) + 1;

		m[strcspn(m, "\n")] = '\0';
		for (char *a = strtok(m, ","); a; a = strtok(NULL, ","))
			if (ctl_nodes_append(&c->nodes, &c->nnodes, a) < 0) {
				ctl_errf(c, "--job %s: bad bbd address '%s'",
					 job, a);
				return CTL_EXIT_FAIL;
			}
		if (c->nnodes) {
			_job_munge(c);
			c->nodes_given = 1;
			return CTL_EXIT_OK;
		}
	}
	/* An older plugin: the job's nodes, as slurmctld knows them. */
	snprintf(cmd, sizeof(cmd), "scontrol show job -o %llu 2>&1", v);
	if (_run_lines(cmd, buf, sizeof(buf)) < 0) {
		ctl_errf(c, "--job %s: scontrol show job: %s", job, buf);
		return CTL_EXIT_FAIL;
	}
	nl = strstr(buf, " NodeList=");
	if (!nl) {
		ctl_errf(c, "--job %s: scontrol shows no NodeList for it", job);
		return CTL_EXIT_FAIL;
	}
	nl += 10;
	e = nl + strcspn(nl, " \n");
	snprintf(list, sizeof(list), "%.*s", (int)(e - nl), nl);
	if (!list[0] || !strcmp(list, "(null)")) {
		ctl_errf(c, "--job %s: the job has no nodes (not started, or "
			 "ended and purged): give its nodes with -n", job);
		return CTL_EXIT_FAIL;
	}
	if (strspn(list, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		   "0123456789._-[],") != strlen(list)) {
		ctl_errf(c, "--job %s: unexpected NodeList '%s'", job, list);
		return CTL_EXIT_FAIL;
	}
	snprintf(cmd, sizeof(cmd), "scontrol show hostnames '%s' 2>&1", list);
	if (_run_lines(cmd, buf, sizeof(buf)) < 0) {
		ctl_errf(c, "--job %s: scontrol show hostnames: %s", job, buf);
		return CTL_EXIT_FAIL;
	}
	/* bbd's port and munge socket from ebb.conf, as the Epilog finds
	 * them. */
	if (conf_load(explicit_conf ? path : SYSCONFDIR "/ebb/ebb.conf",
		      !explicit_conf, _ep_set, &conf, err, sizeof(err))) {
		ctl_errf(c, "--job %s: %s", job, err);
		return CTL_EXIT_FAIL;
	}
	port = conf.port ? conf.port : conf.listen_port ? conf.listen_port
		: CTL_DEFAULT_PORT;
	if (!c->opts.munge_socket && conf.munge[0]) {
		snprintf(c->munge_conf, sizeof(c->munge_conf), "%s", conf.munge);
		c->opts.munge_socket = c->munge_conf;
	}
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (!*line)
			continue;
		snprintf(addr, sizeof(addr), "%s:%u", line, port);
		if (ctl_nodes_append(&c->nodes, &c->nnodes, addr) < 0) {
			ctl_errf(c, "--job %s: bad node '%s'", job, line);
			return CTL_EXIT_FAIL;
		}
	}
	if (!c->nnodes) {
		ctl_errf(c, "--job %s: scontrol gave no host names", job);
		return CTL_EXIT_FAIL;
	}
	c->nodes_given = 1;
	return CTL_EXIT_OK;
}
