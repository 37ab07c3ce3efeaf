/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebbctl: the admin and user command-line tool of ebb (main, options, help).
 *
 * DESIGN: `ebbctl [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]`, in the way of
 * lfs and scontrol.  This file holds the command table, the global options
 * and the dispatch; the commands live in ebbctl_admin.c (status, instance),
 * ebbctl_fs.c (ls, stat, rm, mkdir, mv, cat, df), ebbctl_xfer.c (put,
 * get), stage.c (import, export, stage ...) and ebbctl_check.c
 * (check-script).  Global options may also follow
 * the command name (`ebbctl status -n h1,h2`), because that is how people
 * type them: every command's getopt table is the global table plus its own
 * (ctl_opt_next).  Exit status: 0 success, 1 an operation failed, 2 a
 * usage error.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_int.h"

enum {
	_OPT_JSON = 0x100,
	_OPT_TIMEOUT,
	_OPT_MUNGE,
	_OPT_VERSION,
};

#define _GLOBAL_SHORT "n:i:qh"

static const struct option _global_longopts[] = {
	{"node", required_argument, NULL, 'n'},
	{"instance", required_argument, NULL, 'i'},
	{"json", no_argument, NULL, _OPT_JSON},
	{"quiet", no_argument, NULL, 'q'},
	{"timeout", required_argument, NULL, _OPT_TIMEOUT},
	{"munge-socket", required_argument, NULL, _OPT_MUNGE},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, _OPT_VERSION},
	{NULL, 0, NULL, 0},
};

#define _GLOBAL_HELP \
"Global options (before or after the command):\n" \
"  -n, --node HOST[:PORT][,...]  bbd node(s) to talk to; repeatable; Slurm\n" \
"                                ranges work (n[01-16]:7070).  Default:\n" \
"                                $EBB_NODES, else " CTL_DEFAULT_NODE ".\n" \
"                                The port defaults to 7070.  Single-node\n" \
"                                queries use the first node.\n" \
"  -i, --instance ID             instance for file commands (else $EBB_INSTANCE)\n" \
"      --json                    machine-readable output on stdout\n" \
"  -q, --quiet                   no informational messages or progress\n" \
"      --timeout MS              per round-trip timeout (default $EBB_TIMEOUT_MS\n" \
"                                or 30000)\n" \
"      --munge-socket PATH       munged socket (else $EBB_MUNGE_SOCKET)\n" \
"  -h, --help                    help (also per command: ebbctl put --help)\n" \
"      --version                 print the version and exit\n"

static const struct ctl_cmd _cmds[] = {
	{"status", ctl_cmd_status, "[-n HOST:PORT,...] | --cluster",
	 "health, version, uptime and capacity of bbd nodes",
	 "Queries every given node (in parallel) and prints one line per\n"
	 "node: reachable or not (with the error), node name, bbd version,\n"
	 "uptime, capacity offered, capacity reserved by instances, bytes\n"
	 "used, the number of instances and of mounts (mounted, failed).\n"
	 "--json prints an array of\n"
	 "objects.  Exits 1 if any node is unreachable.\n"
	 "  --cluster   the Slurm plugin's view instead (scontrol show bbstat):\n"
	 "              every node's bbd (answers, capacity, instances) and every\n"
	 "              job's file system (state, nodes, time in state)\n"},
	{"epilog", ctl_cmd_epilog, "[--job ID] [--wait SECONDS]",
	 "Slurm Epilog: remove this node's share of a job's file system",
	 "Run by slurmd as slurm.conf's Epilog (through ebb-epilog) with\n"
	 "SLURM_JOB_ID set.  Destroys instance slurm-<job id> on the local bbd\n"
	 "(127.0.0.1 and bbd_port or listen's port from $EBB_CONF or\n"
	 "/etc/ebb/ebb.conf; -n overrides) and exits 0 once it is gone.  If bbd\n"
	 "does not answer within epilog_timeout (default 120 s, or --wait) it\n"
	 "exits 1 and slurmd drains the node.  Messages go to stderr and syslog.\n"},
	{"instance create", ctl_cmd_inst_create,
	 "ID --capacity SIZE [--members H:P,...] [--stripe-size SIZE]\n"
	 "                       [--owner USER|UID[:GROUP|GID]]\n"
	 "                       [--mount [--cache none|writeback]]",
	 "create an instance on its member nodes",
	 "  -m, --members H:P,...    member nodes in rank order (default: the -n\n"
	 "                           list); repeatable\n"
	 "  -c, --capacity SIZE      capacity per node, e.g. 400GiB or 1.5TB\n"
	 "  -s, --stripe-size SIZE   stripe size (4KiB..16MiB; default 1MiB)\n"
	 "  -o, --owner USER|UID[:GROUP|GID]\n"
	 "                           owner of the instance (default: the caller;\n"
	 "                           the group defaults to the user's primary\n"
	 "                           group)\n"
	 "  -M, --mount              every member mounts it (FUSE, at its\n"
	 "                           mount_root/ID, as the owner); the create\n"
	 "                           succeeds only once every mount answers\n"
	 "      --cache writeback    with --mount: the kernel's writeback cache\n"
	 "                           (fast small writes; UNSAFE if several nodes\n"
	 "                           write one file at once); default none\n"
	 "\nNeeds root or the configured Slurm user.  Idempotent: creating an\n"
	 "identical instance again succeeds (and restarts a failed mount).\n"},
	{"instance destroy", ctl_cmd_inst_destroy, "ID [--members H:P,...]",
	 "destroy an instance and all its data",
	 "  -m, --members H:P,...    member nodes; if omitted, the first node\n"
	 "                           (-n) is asked for the member list\n"},
	{"instance list", ctl_cmd_inst_list, "[-n HOST:PORT,...]",
	 "list the instances the given nodes hold",
	 "One line per instance and node: id, rank/members, stripe size,\n"
	 "capacity and bytes used on that node, owner and state.\n"},
	{"instance show", ctl_cmd_inst_show, "ID",
	 "show one instance and its usage on every member",
	 "Asks the first node for the instance, then every member for its\n"
	 "share.  Exits 1 if a member cannot be reached.\n"},
	{"put", ctl_cmd_put, "[-r] [--progress] [--no-fsync] LOCAL REMOTE",
	 "copy a local file (or tree with -r) into the instance",
	 "  -r, --recursive          copy a directory tree (symlinks as symlinks)\n"
	 "      --progress           show progress even if stderr is not a tty\n"
	 "      --no-progress        never show progress\n"
	 "      --no-fsync           do not fsync each file at the end\n"
	 "If REMOTE is an existing directory (or ends in '/'), LOCAL is copied\n"
	 "into it under its own name.  LOCAL '-' reads standard input.\n"},
	{"get", ctl_cmd_get, "[-r] [--progress] [--no-fsync] REMOTE LOCAL",
	 "copy a file (or tree with -r) out of the instance",
	 "  -r, --recursive          copy a directory tree\n"
	 "      --progress           show progress even if stderr is not a tty\n"
	 "      --no-progress        never show progress\n"
	 "      --no-fsync           do not fsync each local file at the end\n"
	 "If LOCAL is an existing directory, REMOTE is copied into it under its\n"
	 "own name.  LOCAL '-' writes standard output.\n"},
#define _STAGE_JOB_HELP \
	 "      --job JOBID          a Slurm job's instance (slurm-JOBID) instead\n" \
	 "                           of -i; without -n its nodes come from\n" \
	 "                           scontrol (the job's NodeList) on bbd_port\n" \
	 "                           of $EBB_CONF or ebb.conf\n"
#define _STAGE_FOLLOW_HELP \
	 "      --no-wait            return once the stage is started; follow\n" \
	 "                           it later with `stage status --follow NAME`\n" \
	 "  -v, --verbose            per-node files and bytes while following\n" \
	 "      --interval SECONDS   not on a terminal: one progress line every\n" \
	 "                           SECONDS (default 5)\n"
#define _STAGE_EXIT_HELP \
	 "Following draws a progress bar on a terminal (files and bytes done of\n" \
	 "the total, rate, ETA) and prints one line every --interval seconds\n" \
	 "otherwise.  Ctrl-C stops following, not the stage, and says how to\n" \
	 "follow it again or cancel it (exit 130).  Exit status: 0 done, 1 files\n" \
	 "failed or the stage was cancelled (the first failures and where the\n" \
	 "report is are printed), 2 usage error.  --json prints the final status.\n"
	{"import", ctl_cmd_import,
	 "-i ID|--job JOBID [--type file|directory] [--name NAME]\n"
	 "                       [--no-wait] [-v] s3://BUCKET/PREFIX PATH",
	 "copy from S3 into the instance (a stage run by the bbds)",
	 "  -i, --instance ID        the instance (global option)\n"
	 _STAGE_JOB_HELP
	 "      --type TYPE          file (one object), directory (every object\n"
	 "                           under PREFIX/) or auto (the default: a\n"
	 "                           trailing '/' or several objects mean a\n"
	 "                           directory)\n"
	 "      --name NAME          the stage's name, 1..32 of [A-Za-z0-9._-]\n"
	 "                           (default in-XXXXXXXX from a hash of the\n"
	 "                           spec: the same command again resumes\n"
	 "                           following the same stage)\n"
	 _STAGE_FOLLOW_HELP
	 "The bbds of the instance move the data (rank 0 plans, every member\n"
	 "fetches what it stores); ebbctl only starts the stage and follows it.\n"
	 "The instance's members are asked of the first -n node.  Imported\n"
	 "files belong to the instance's owner.  Needs root or the Slurm user;\n"
	 "bbd checks the S3 path against ebb.conf's s3_allow rules.\n"
	 _STAGE_EXIT_HELP},
	{"export", ctl_cmd_export,
	 "-i ID|--job JOBID [--type file|directory] [--name NAME]\n"
	 "                       [--no-wait] [-v] PATH s3://BUCKET/PREFIX",
	 "copy from the instance to S3 (a stage run by the bbds)",
	 "  -i, --instance ID        the instance (global option)\n"
	 _STAGE_JOB_HELP
	 "      --type TYPE          file, directory or auto (the default)\n"
	 "      --name NAME          the stage's name (default out-XXXXXXXX)\n"
	 _STAGE_FOLLOW_HELP
	 "Every member uploads the stripes it stores (large files as multipart\n"
	 "uploads).  As import otherwise.\n"
	 _STAGE_EXIT_HELP},
	{"stage status", ctl_cmd_stage_status,
	 "-i ID|--job JOBID [NAME] [--follow] [-v] [--json]",
	 "show the stages of an instance, or follow one",
	 "Without NAME: one line per stage (name, direction, state, files,\n"
	 "failures, bytes, rate, ETA, source and destination).  With NAME:\n"
	 "everything about it, its first errors, where the report is and\n"
	 "every member's share.  --json prints an array (an object with NAME).\n"
	 "  -f, --follow             follow NAME as import does until it ends\n"
	 "                           (a waiting, deferred stage is followed\n"
	 "                           until it has run); the exit status is\n"
	 "                           then import's\n"
	 "  -v, --verbose            per-node lines while following\n"
	 "      --interval SECONDS   see import\n"
	 _STAGE_JOB_HELP},
	{"stage retry", ctl_cmd_stage_retry,
	 "-i ID NAME | --job JOBID [NAME] [--no-wait] [-v]",
	 "run a failed stage again, or start a waiting (deferred) one",
	 _STAGE_FOLLOW_HELP
	 _STAGE_JOB_HELP
	 "A failed stage runs again for the files not yet done; a deferred one\n"
	 "(state waiting: a Slurm job's stage-out registered before the job\n"
	 "ran) starts now.  Follows the stage as import does (same exit\n"
	 "status).  Root, the Slurm user or the instance's owner.\n"},
	{"stage cancel", ctl_cmd_stage_cancel, "-i ID|--job JOBID NAME",
	 "stop a stage (transfers in flight are abandoned)",
	 _STAGE_JOB_HELP
	 "Multipart uploads in flight are aborted.  What was already moved\n"
	 "stays where it is.  Idempotent.\n"},
	{"stage abandon", ctl_cmd_stage_abandon, "-i ID NAME | --job JOBID [NAME]",
	 "give up on a stage: cancel it and keep its data in the instance",
	 _STAGE_JOB_HELP
	 "Cancels the stage and says what is kept: the instance's files stay\n"
	 "until the instance is destroyed (ebbctl instance destroy ID, or the\n"
	 "end of the Slurm job).  For a job: ebbctl stage abandon --job JOBID\n"
	 "NAME; without NAME every stage_out of the job that has not ended\n"
	 "(a failed export whose data was kept) is given up, and the plugin\n"
	 "removes the file system.  retry --job JOBID without NAME retries\n"
	 "the job's failed exports.\n"},
	{"ls", ctl_cmd_ls, "[-l] [-H] [-d] [PATH...]",
	 "list a directory (default /)",
	 "  -l, --long               mode, links, owner, group, size, mtime\n"
	 "  -H, --human-readable     sizes as 1.5 GiB with -l\n"
	 "  -d, --directory          list a directory itself, not its entries\n"
	 "Entries are sorted by name (byte order).\n"},
	{"stat", ctl_cmd_stat, "[-L] PATH...", "show all attributes of files",
	 "  -L, --dereference        follow a final symbolic link\n"},
	{"rm", ctl_cmd_rm, "[-r] [-f] [-d] PATH...",
	 "remove files (and trees with -r)",
	 "  -r, -R, --recursive      remove directories and their contents\n"
	 "  -d, --dir                remove empty directories\n"
	 "  -f, --force              ignore files that do not exist\n"
	 "The instance root cannot be removed: use `instance destroy`.\n"},
	{"mkdir", ctl_cmd_mkdir, "[-p] [-m MODE] PATH...", "create directories",
	 "  -p, --parents            create parents; no error if it exists\n"
	 "  -m, --mode MODE          octal permissions (default 0777 & ~umask)\n"},
	{"mv", ctl_cmd_mv, "[-T] FROM TO", "rename or move a file or directory",
	 "  -T, --no-target-directory  treat TO as a plain name even if it is\n"
	 "                             a directory (rename over it)\n"
	 "If TO is an existing directory, FROM is moved into it.\n"},
	{"cat", ctl_cmd_cat, "PATH...", "write files to standard output", ""},
	{"df", ctl_cmd_df, "", "capacity and usage of the instance",
	 "Sums over all members: size, used, available, use%, files.\n"},
	{"check-script", ctl_cmd_check_script,
	 "[OPTION]... SCRIPT|-",
	 "check a batch script's #BB directives (offline)",
	 "      --prefix WORD        directive prefix (default: Directive= in the\n"
	 "                           burst_buffer.conf next to $SLURM_CONF, else\n"
	 "                           BB)\n"
	 "      --config, --conf FILE  ebb.conf with the site limits and the\n"
	 "                           s3_allow rules (default $EBB_CONF, else\n"
	 "                           " SYSCONFDIR "/ebb/ebb.conf if it exists)\n"
	 "  -N, --nodes NODES        the job's node count (default: #SBATCH -N or\n"
	 "                           --nodes in the script, else 1)\n"
	 "      --bb TEXT            directives given as with sbatch --bb\n"
	 "      --user NAME          check stage lines for this user (default:\n"
	 "                           the caller) against ebb.conf's s3_allow\n"
	 "      --account NAME       the job's Slurm account, for account: rules\n"
	 "Parses the directives as the Slurm plugin does at sbatch time and\n"
	 "prints a summary, or 'SCRIPT: error: line N: ...' and exits 1.\n"
	 "Warns about #BB lines after the first command and DOS line breaks.\n"
	 "--json prints an object.  The grammar: docs/directives.md.\n"},
	{NULL, NULL, NULL, NULL, NULL},
};

static void _print_cmd_help(const struct ctl_cmd *cmd, FILE *f)
{
	/* The summary is written for the command list, in lower case. */
	fprintf(f, "Usage: " CTL_PROG " [GLOBAL OPTIONS] %s %s\n\n%c%s.\n",
		cmd->name, cmd->synopsis, toupper((unsigned char)cmd->summary[0]),
		cmd->summary + 1);
	if (cmd->help[0])
		fprintf(f, "\n%s", cmd->help);
	fprintf(f, "\n" _GLOBAL_HELP);
}

static void _print_help(FILE *f)
{
	const struct ctl_cmd *cmd;

	fputs("Usage: " CTL_PROG " [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n"
	      "\nebbctl manages ebb burst-buffer nodes and instances and moves "
	      "files in\nand out of an instance.\n\nCommands:\n", f);
	for (cmd = _cmds; cmd->name; cmd++)
		fprintf(f, "  %-18s %s\n", cmd->name, cmd->summary);
	fputs("  help [COMMAND]     this text, or a command's\n\n", f);
	fputs(_GLOBAL_HELP, f);
	fputs("\nExamples:\n"
	      "  ebbctl -n n1,n2 status\n"
	      "  ebbctl -n n1:7070,n2:7070 instance create j1 --capacity 100GiB\n"
	      "  ebbctl -n n1 -i j1 put -r ./input /input\n"
	      "  ebbctl -n n1 -i j1 ls -l /input\n"
	      "  ebbctl -n n1 -i j1 import s3://bucket/inputs/ /inputs\n"
	      "  ebbctl -n n1 instance destroy j1\n"
	      "\nExit status: 0 success, 1 failure, 2 usage error.  "
	      "See ebbctl(1).\n", f);
}

static void _print_version(void)
{
	printf(CTL_PROG " (ebb) %s\nlibebb %s, API %d\n", PACKAGE_VERSION,
	       ebb_version(), EBB_API_VERSION);
}

/* ---- nodes and instance ------------------------------------------------ */

void ctl_strv_free(char **v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* "host" -> "host:7070", "[::1]" -> "[::1]:7070"; others as given. */
static char *_node_addr(const char *s, size_t len)
{
	char *r;
	int has_port;

	if (s[0] == '[')
		has_port = len > 2 && memchr(s, ']', len) &&
			   ((const char *)memchr(s, ']', len))[1] == ':';
	else
		has_port = memchr(s, ':', len) != NULL;
	if (has_port) {
		r = strndup(s, len);
	} else if (asprintf(&r, "%.*s:%d", (int)len, s,
			    CTL_DEFAULT_PORT) < 0) {
		r = NULL;
	}
	return r;
}

/* Most nodes one list may expand to: a typo such as n[1-1000000] should
 * be an error, not a gigabyte of strings. */
#define _MAX_NODES 65536

static int _push(char ***v, unsigned *n, char *s)
{
	char **nv;

	if (!s || *n >= _MAX_NODES) {
		free(s);
		return -1;
	}
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv) {
		free(s);
		return -1;
	}
	*v = nv;
	nv[(*n)++] = s;
	return 0;
}

/* The first Slurm-style range group "[1-4,7]" in s[0..len), or NULL.  A
 * bracket holding anything but digits, ',' and '-' is an IPv6 address. */
static const char *_range_group(const char *s, size_t len, const char **rb)
{
	for (const char *p = s; p < s + len; p++) {
		const char *e;
		if (*p != '[')
			continue;
		e = memchr(p, ']', (size_t)(s + len - p));
		if (e && e > p + 1 &&
		    strspn(p + 1, "0123456789,-") >= (size_t)(e - p - 1)) {
			*rb = e;
			return p;
		}
	}
	return NULL;
}

/* Append one element of a node list, expanding "n[01-04,7]:7070" into
 * n01:7070 ... n04:7070, n07:7070 (zero padding as written, as Slurm's
 * hostlists do); several groups multiply out. */
static int _expand(char ***v, unsigned *n, const char *s, size_t len)
{
	const char *lb, *rb = NULL, *item;

	lb = _range_group(s, len, &rb);
	if (!lb)
		return _push(v, n, _node_addr(s, len));
	for (item = lb + 1; item < rb;) {
		const char *ie = memchr(item, ',', (size_t)(rb - item));
		const char *dash;
		unsigned long lo, hi;
		int width;
		char *end;

		if (!ie)
			ie = rb;
		dash = memchr(item, '-', (size_t)(ie - item));
		if (item == ie || dash == item || (dash && dash + 1 == ie))
			return -1;
		lo = strtoul(item, &end, 10);
		hi = dash ? strtoul(dash + 1, &end, 10) : lo;
		if (end != ie || hi < lo || hi - lo >= _MAX_NODES)
			return -1;
		width = (int)((dash ? dash : ie) - item);
		for (unsigned long k = lo; k <= hi; k++) {
			char *x;
			int r;
			if (asprintf(&x, "%.*s%0*lu%.*s", (int)(lb - s), s,
				     width, k, (int)(s + len - rb - 1),
				     rb + 1) < 0)
				return -1;
			r = _expand(v, n, x, strlen(x));
			free(x);
			if (r < 0)
				return -1;
		}
		item = ie + 1;
	}
	return 0;
}

int ctl_nodes_append(char ***v, unsigned *n, const char *list)
{
	const char *p = list, *e;
	unsigned before = *n;
	int depth;

	for (;;) {
		size_t len;

		/* The next comma outside brackets ends the element. */
		for (e = p, depth = 0; *e && (*e != ',' || depth > 0); e++) {
			if (*e == '[')
				depth++;
			else if (*e == ']' && depth > 0)
				depth--;
		}
		len = (size_t)(e - p);
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		/* "a,,b" or a trailing comma: nothing to add, no harm. */
		if (len > 0 && _expand(v, n, p, len) < 0)
			return -1;
		if (!*e)
			break;
		p = e + 1;
	}
	return *n > before ? 0 : -1;
}

unsigned ctl_nodes(struct ctl *c, char ***nodes)
{
	const char *env = getenv("EBB_NODES");

	/* Read late: a -n after the command name must win over it. */
	if (c->nnodes == 0 && env && *env &&
	    ctl_nodes_append(&c->nodes, &c->nnodes, env) < 0) {
		/* A bad list is an error, not a silent fall back to the
		 * default node. */
		ctl_usage(c, "EBB_NODES: bad node list '%s' (expected "
			  "HOST[:PORT],...)", env);
		ctl_strv_free(c->nodes, c->nnodes);
		c->nodes = NULL;
		c->nnodes = 0;
		*nodes = NULL;
		return 0;
	}
	if (c->nnodes == 0) {
		ctl_nodes_append(&c->nodes, &c->nnodes, CTL_DEFAULT_NODE);
		c->nodes_default = 1;
	}
	*nodes = c->nodes;
	return c->nnodes;
}

void ctl_hint_default_node(struct ctl *c)
{
	if (c->nodes_default)
		fprintf(stderr, CTL_PROG ": (no -n given and EBB_NODES not "
			"set: tried the default node " CTL_DEFAULT_NODE ")\n");
}

const char *ctl_instance(struct ctl *c)
{
	if (!c->instance) {
		const char *env = getenv("EBB_INSTANCE");
		if (env && *env)
			c->instance = env;
	}
	if (!c->instance)
		ctl_usage(c, "no instance: give -i ID or set EBB_INSTANCE");
	return c->instance;
}

ebb_t *ctl_attach(struct ctl *c)
{
	const char *id = ctl_instance(c);
	char **nodes;
	ebb_t *h;

	if (!id || !ctl_nodes(c, &nodes))
		return NULL;
	h = ebb_attach_via(nodes[0], id, &c->opts);
	if (!h) {
		int e = errno;
		if (e == ENOENT)
			ctl_errf(c, "no instance '%s' on node %s", id, nodes[0]);
		else
			ctl_errf(c, "attach to instance '%s' via %s: %s", id,
				 nodes[0], strerror(e));
		if (e != ENOENT && e != EACCES)
			ctl_hint_default_node(c);
	}
	return h;
}

int ctl_fail_status(const struct ctl *c)
{
	return c->usage_error ? CTL_EXIT_USAGE : CTL_EXIT_FAIL;
}

void ctl_detach(struct ctl *c, ebb_t *h)
{
	if (h && ebb_detach(h) < 0)
		ctl_err(c, "detach", errno);
}

/* ---- option parsing ---------------------------------------------------- */

static void _vusage(struct ctl *c, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void _vusage(struct ctl *c, const char *fmt, va_list ap)
{
	c->usage_error = 1;
	fflush(stdout);
	fputs(CTL_PROG ": ", stderr);
	if (c->cmd)
		fprintf(stderr, "%s: ", c->cmd->name);
	vfprintf(stderr, fmt, ap);
	if (c->cmd)
		fprintf(stderr, "\nTry '" CTL_PROG " %s --help'.\n",
			c->cmd->name);
	else
		fputs("\nTry '" CTL_PROG " --help'.\n", stderr);
}

int ctl_usage(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	_vusage(c, fmt, ap);
	va_end(ap);
	return CTL_EXIT_USAGE;
}

void ctl_opt_init(struct ctl_opts *o, int argc, char **argv,
		  const char *shortopts, const struct option *longopts)
{
	size_t n = 0, k;

	memset(o, 0, sizeof(*o));
	o->argc = argc;
	o->argv = argv;
	/* ':' first: a missing argument gives ':' and we word the message. */
	snprintf(o->shortopts, sizeof(o->shortopts), ":" _GLOBAL_SHORT "%s",
		 shortopts ? shortopts : "");
	for (k = 0; _global_longopts[k].name; k++)
		o->longopts[n++] = _global_longopts[k];
	for (k = 0; longopts && longopts[k].name &&
		    n + 1 < sizeof(o->longopts) / sizeof(o->longopts[0]); k++)
		o->longopts[n++] = longopts[k];
	/* getopt keeps its state in libc globals; 0 makes it start afresh
	 * (and forget the '+' of the global parse). */
	optind = 0;
	opterr = 0;
}

/* ctl_usage() that also stops the parse. */
static int _opt_usage(struct ctl *c, struct ctl_opts *o, const char *fmt,
		      ...) __attribute__((format(printf, 3, 4)));
static int _opt_usage(struct ctl *c, struct ctl_opts *o, const char *fmt,
		      ...)
{
	va_list ap;

	va_start(ap, fmt);
	_vusage(c, fmt, ap);
	va_end(ap);
	o->stop = 1;
	return CTL_EXIT_USAGE;
}

/* Apply a global option; returns 1 if opt was one, 0 if not, or -1 after
 * a usage error / --help / --version (o->status says which). */
static int _global_opt(struct ctl *c, struct ctl_opts *o, int opt,
		       const char *arg)
{
	unsigned long long v;

	switch (opt) {
	case 'n':
		if (!c->nodes_given) {
			/* -n replaces $EBB_NODES, it does not add to it. */
			ctl_strv_free(c->nodes, c->nnodes);
			c->nodes = NULL;
			c->nnodes = 0;
			c->nodes_given = 1;
		}
		if (ctl_nodes_append(&c->nodes, &c->nnodes, arg) < 0) {
			o->status = _opt_usage(c, o, "bad node list '%s' "
					      "(expected HOST[:PORT],...)",
					      arg);
			return -1;
		}
		return 1;
	case 'i':
		c->instance = arg;
		return 1;
	case 'q':
		c->quiet = 1;
		return 1;
	case _OPT_JSON:
		c->json = 1;
		return 1;
	case _OPT_TIMEOUT:
		if (ctl_parse_uint(arg, 86400000, &v) < 0 || v == 0) {
			o->status = _opt_usage(c, o, "--timeout: '%s' is not a "
					      "number of milliseconds (1.."
					      "86400000)", arg);
			return -1;
		}
		c->opts.timeout_ms = (unsigned)v;
		return 1;
	case _OPT_MUNGE:
		c->opts.munge_socket = arg;
		return 1;
	case 'h':
		if (c->cmd)
			_print_cmd_help(c->cmd, stdout);
		else
			_print_help(stdout);
		o->status = CTL_EXIT_OK;
		o->stop = 1;
		return -1;
	case _OPT_VERSION:
		_print_version();
		o->status = CTL_EXIT_OK;
		o->stop = 1;
		return -1;
	default:
		return 0;
	}
}

int ctl_opt_next(struct ctl *c, struct ctl_opts *o)
{
	int opt, r;

	for (;;) {
		opt = getopt_long(o->argc, o->argv, o->shortopts, o->longopts,
				  NULL);
		if (opt == -1) {
			o->status = CTL_EXIT_OK;
			return -1;
		}
		/* glibc has stepped over the offending element by now, so it
		 * is argv[optind - 1]; a short option is named by optopt. */
		if (opt == '?' || opt == ':') {
			const char *what = opt == '?' ? "unknown option"
				: "missing argument for option";
			if (optopt > 0 && optopt < 0x100)
				o->status = _opt_usage(c, o, "%s '-%c'", what,
						       optopt);
			else
				o->status = _opt_usage(c, o, "%s '%s'", what,
						       o->argv[optind - 1]);
			return -1;
		}
		r = _global_opt(c, o, opt, optarg);
		if (r < 0)
			return -1;
		if (r == 0)
			return opt;
	}
}

/* ---- main -------------------------------------------------------------- */

static const struct ctl_cmd *_find_cmd(const char *name)
{
	for (const struct ctl_cmd *cmd = _cmds; cmd->name; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

/* Commands of two words: "instance create", "stage status"... */
struct _group {
	const char *name;
	const char *words;          /* for the group's usage line */
	const char *expect;         /* for the usage error */
};

static const struct _group _groups[] = {
	{"instance", "create|destroy|list|show",
	 "create, destroy, list or show"},
	{"stage", "status|retry|cancel|abandon",
	 "status, retry, cancel or abandon"},
	{NULL, NULL, NULL},
};

static const struct _group *_find_group(const char *name)
{
	for (const struct _group *g = _groups; g->name; g++)
		if (strcmp(g->name, name) == 0)
			return g;
	return NULL;
}

static int _help_cmd(struct ctl *c, int argc, char **argv)
{
	const struct _group *group;
	const struct ctl_cmd *cmd;
	char name[64];

	if (argc < 2) {
		_print_help(stdout);
		return CTL_EXIT_OK;
	}
	if (argc >= 3)
		snprintf(name, sizeof(name), "%s %s", argv[1], argv[2]);
	else
		snprintf(name, sizeof(name), "%s", argv[1]);
	cmd = _find_cmd(name);
	if (!cmd && argc >= 3)
		cmd = _find_cmd(argv[1]);
	if (!cmd && (group = _find_group(argv[1]))) {
		size_t len = strlen(group->name);
		printf("Usage: " CTL_PROG " [GLOBAL OPTIONS] %s {%s} [OPTIONS] "
		       "[ARGS]\n\n", group->name, group->words);
		for (cmd = _cmds; cmd->name; cmd++)
			if (strncmp(cmd->name, group->name, len) == 0 &&
			    cmd->name[len] == ' ')
				printf("  %-18s %s\n", cmd->name, cmd->summary);
		printf("\nSee '" CTL_PROG " %s COMMAND --help'.\n",
		       group->name);
		return CTL_EXIT_OK;
	}
	if (!cmd)
		return ctl_usage(c, "help: unknown command '%s'", argv[1]);
	_print_cmd_help(cmd, stdout);
	return CTL_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct ctl c;
	struct ctl_opts o;
	const struct ctl_cmd *cmd;
	const struct _group *group;
	char name[64];
	const char *env = getenv("EBB_MUNGE_SOCKET");
	int status = CTL_EXIT_USAGE, skip = 1;

	memset(&c, 0, sizeof(c));
	c.umask = umask(0);
	umask(c.umask);
	if (env && *env)
		c.opts.munge_socket = env;

	/* Global options up to the command name ('+' stops there). */
	ctl_opt_init(&o, argc, argv, NULL, NULL);
	snprintf(o.shortopts, sizeof(o.shortopts), "+:" _GLOBAL_SHORT);
	while (ctl_opt_next(&c, &o) != -1)
		;
	if (o.stop) {
		status = o.status;
		goto out;
	}
	if (optind >= argc) {
		status = ctl_usage(&c, "no command given");
		goto out;
	}
	argv += optind;
	argc -= optind;
	if (strcmp(argv[0], "help") == 0) {
		status = _help_cmd(&c, argc, argv);
		goto out;
	}
	group = _find_group(argv[0]);
	if (group) {
		if (argc < 2 || argv[1][0] == '-') {
			if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
					  strcmp(argv[1], "--help") == 0)) {
				char *hv[] = {"help", argv[0], NULL};
				status = _help_cmd(&c, 2, hv);
				goto out;
			}
			status = ctl_usage(&c, "%s: expected %s", argv[0],
					   group->expect);
			goto out;
		}
		snprintf(name, sizeof(name), "%s %s", argv[0], argv[1]);
		skip = 2;
	} else {
		snprintf(name, sizeof(name), "%s", argv[0]);
	}
	cmd = _find_cmd(name);
	if (!cmd) {
		status = ctl_usage(&c, "unknown command '%s'", name);
		goto out;
	}
	c.cmd = cmd;
	/* The command sees argv[0] = its last word, like a program. */
	status = cmd->fn(&c, argc - skip + 1, argv + skip - 1);
out:
	ctl_strv_free(c.nodes, c.nnodes);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		if (errno != EPIPE) {
			fprintf(stderr, CTL_PROG ": write error: %s\n",
				strerror(errno));
			if (status == CTL_EXIT_OK)
				status = CTL_EXIT_FAIL;
		}
	}
	return status;
}
