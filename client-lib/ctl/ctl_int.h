/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebbctl internals: the context, option parsing, output and error helpers
 * that the command modules (ebbctl_admin.c, ebbctl_fs.c, ebbctl_xfer.c)
 * share.
 *
 * DESIGN: one struct ctl carries everything a command needs (nodes,
 * instance, output mode, libebb options); it lives on main()'s stack and is
 * passed down, so there are no mutable globals.  Every command is a
 * function `int ctl_cmd_X(struct ctl *, int argc, char **argv)` returning
 * the process exit status: 0 success, 1 failure (message already printed),
 * 2 usage error (message and hint already printed).  Global options are
 * accepted before and after the command name: ctl_opt_next() merges them
 * into each command's getopt table.  Errors are printed as
 * "ebbctl: CMD PATH: reason" on stderr, in --json mode too, so stdout
 * only ever holds the requested output.
 */
#ifndef EBB_EBBCTL_INT_H
#define EBB_EBBCTL_INT_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <ebb/ebb.h>

#include "proto.h"

#define CTL_PROG "ebbctl"
/* bbd's port when a node is given without one (and of the default node). */
#define CTL_DEFAULT_PORT PROTO_DEFAULT_PORT
#define CTL_STR2(x) #x
#define CTL_STR(x) CTL_STR2(x)
#define CTL_DEFAULT_NODE "127.0.0.1:" CTL_STR(PROTO_DEFAULT_PORT)

enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAIL = 1,
	CTL_EXIT_USAGE = 2,
};

struct ctl_cmd;

struct ctl {
	const struct ctl_cmd *cmd;  /* the command being run (for messages) */
	char **nodes;               /* "host:port", from -n, else $EBB_NODES */
	unsigned nnodes;
	int nodes_given;            /* -n was used (not the environment) */
	int nodes_default;          /* neither -n nor $EBB_NODES: the default */
	const char *instance;       /* -i, else $EBB_INSTANCE */
	int json;
	int quiet;
	int usage_error;            /* ctl_usage() was called */
	mode_t umask;               /* the process umask, read once at start */
	struct ebb_options opts;    /* timeout and munge socket for libebb */
	char munge_conf[256];       /* munge_socket of ebb.conf (--job) */
};

/* One command: "status", "instance create", "put"... */
struct ctl_cmd {
	const char *name;
	int (*fn)(struct ctl *c, int argc, char **argv);
	const char *synopsis;       /* after "ebbctl NAME " */
	const char *summary;        /* one line for the command list */
	const char *help;           /* options and details for NAME --help */
};

/* ---- options (ebbctl.c) ----------------------------------------------- */

/* State of one command's option parse; see ctl_opt_next(). */
struct ctl_opts {
	int argc;
	char **argv;
	char shortopts[64];
	struct option longopts[48];
	int stop;                   /* the command must return status now */
	int status;                 /* exit status if stop */
};

/* Prepare to parse argv (argv[0] is the command name) with the command's
 * own short and long options plus the global ones.  Command long options
 * must use `val` values >= CTL_OPT_CMD or plain characters. */
void ctl_opt_init(struct ctl_opts *o, int argc, char **argv,
		  const char *shortopts, const struct option *longopts);
/* Next command-specific option (its `val`, with optarg set), or -1 when
 * done.  Global options are applied to c on the way.  At -1, if o->stop is
 * set the command must return o->status at once (0 after --help or
 * --version, 2 after a usage error, message printed); otherwise optind is
 * at the first operand. */
int ctl_opt_next(struct ctl *c, struct ctl_opts *o);
#define CTL_OPT_CMD 0x200

/* Print "ebbctl: CMD: msg" and the --help hint; returns CTL_EXIT_USAGE. */
int ctl_usage(struct ctl *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The nodes to talk to (-n, else $EBB_NODES, else CTL_DEFAULT_NODE); the
 * first one answers single-node queries.  0 only after a usage error
 * (a bad $EBB_NODES, printed): the command must exit CTL_EXIT_USAGE. */
unsigned ctl_nodes(struct ctl *c, char ***nodes);
/* Split a comma-separated list of nodes, adding :7070 where no port is
 * given, and append them to *v / *n.  Returns 0, or -1 with a message for
 * an empty element (printed via ctl_usage by the caller). */
int ctl_nodes_append(char ***v, unsigned *n, const char *list);
void ctl_strv_free(char **v, unsigned n);

/* After a node could not be reached: if it was only the built-in default,
 * say so, since the user probably forgot -n or $EBB_NODES. */
void ctl_hint_default_node(struct ctl *c);

/* The instance for file commands: -i or $EBB_INSTANCE; prints a usage error
 * and returns NULL if there is none. */
const char *ctl_instance(struct ctl *c);

/* ---- messages and formatting (ebbctl_out.c) ---------------------------- */

/* "ebbctl: CMD: fmt..." on stderr. */
void ctl_errf(struct ctl *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "ebbctl: CMD WHAT: strerror(errnum)" on stderr; returns CTL_EXIT_FAIL. */
int ctl_err(struct ctl *c, const char *what, int errnum);
/* Informational line on stderr unless -q or --json. */
void ctl_info(struct ctl *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "1.5 GiB" */
const char *ctl_size(uint64_t bytes, char *buf, size_t len);
/* "3d 4h", "4h05m", "5m12s" */
const char *ctl_duration(uint64_t secs, char *buf, size_t len);
/* "-rwxr-xr-x" from a mode (buf >= 11 bytes). */
const char *ctl_mode_string(mode_t mode, char *buf);
/* "regular file", "directory", ... */
const char *ctl_type_name(mode_t mode);
/* Short type for JSON: "file", "dir", "symlink", ... */
const char *ctl_type_word(mode_t mode);
/* User / group name, or the number if it has none. */
const char *ctl_user_name(uid_t uid, char *buf, size_t len);
const char *ctl_group_name(gid_t gid, char *buf, size_t len);
/* Parse a base-10 unsigned; 0 on success, -1 if s is not a number. */
int ctl_parse_uint(const char *s, unsigned long long max,
		   unsigned long long *out);
/* Join a remote directory and a name with exactly one '/'.  Caller frees. */
char *ctl_path_join(const char *dir, const char *name);
/* The last component of a path ("a/b/" -> "b"); points into a copy in buf. */
const char *ctl_basename(const char *path, char *buf, size_t len);

/* A table for human output: columns sized to their widest cell. */
struct ctl_table {
	unsigned ncols;
	const char *const *heads;
	const char *align;          /* per column 'l' or 'r' */
	const char *sep;            /* between columns; "  " unless set */
	char **cells;               /* nrows * ncols strings */
	unsigned nrows, cap, cur;
};
void ctl_table_init(struct ctl_table *t, unsigned ncols,
		    const char *const *heads, const char *align);
/* Append one cell; a row is complete after ncols cells. */
void ctl_table_add(struct ctl_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Print with the heads (unless noheads) and free the rows. */
void ctl_table_print(struct ctl_table *t, FILE *f, int noheads);
void ctl_table_free(struct ctl_table *t);

/* A streaming JSON writer (pretty, two-space indent).  Strings are
 * escaped per RFC 8259; bytes that are not valid UTF-8 become U+FFFD so
 * the output is always valid JSON. */
#define CTL_JSON_MAX_DEPTH 16
struct ctl_json {
	FILE *f;
	int depth;
	int after_key;
	unsigned char nonempty[CTL_JSON_MAX_DEPTH];
};
void ctl_json_init(struct ctl_json *j, FILE *f);
void ctl_json_obj_begin(struct ctl_json *j);
void ctl_json_obj_end(struct ctl_json *j);
void ctl_json_arr_begin(struct ctl_json *j);
void ctl_json_arr_end(struct ctl_json *j);
void ctl_json_key(struct ctl_json *j, const char *key);
void ctl_json_str(struct ctl_json *j, const char *s);
void ctl_json_strn(struct ctl_json *j, const char *s, size_t n);
void ctl_json_u64(struct ctl_json *j, uint64_t v);
void ctl_json_i64(struct ctl_json *j, int64_t v);
void ctl_json_bool(struct ctl_json *j, int v);
void ctl_json_null(struct ctl_json *j);
/* Ends the document with a newline. */
void ctl_json_finish(struct ctl_json *j);
/* key + value in one call. */
void ctl_json_kstr(struct ctl_json *j, const char *key, const char *v);
void ctl_json_ku64(struct ctl_json *j, const char *key, uint64_t v);
void ctl_json_ki64(struct ctl_json *j, const char *key, int64_t v);
void ctl_json_kbool(struct ctl_json *j, const char *key, int v);
/* Writes the escaped string body (no quotes) of n bytes; exposed for the
 * unit tests. */
void ctl_json_escape(FILE *f, const char *s, size_t n);

/* ---- commands ---------------------------------------------------------- */

int ctl_cmd_status(struct ctl *c, int argc, char **argv);
int ctl_cmd_inst_create(struct ctl *c, int argc, char **argv);
int ctl_cmd_inst_destroy(struct ctl *c, int argc, char **argv);
int ctl_cmd_inst_list(struct ctl *c, int argc, char **argv);
int ctl_cmd_inst_show(struct ctl *c, int argc, char **argv);

int ctl_cmd_ls(struct ctl *c, int argc, char **argv);
int ctl_cmd_stat(struct ctl *c, int argc, char **argv);
int ctl_cmd_rm(struct ctl *c, int argc, char **argv);
int ctl_cmd_mkdir(struct ctl *c, int argc, char **argv);
int ctl_cmd_mv(struct ctl *c, int argc, char **argv);
int ctl_cmd_cat(struct ctl *c, int argc, char **argv);
int ctl_cmd_df(struct ctl *c, int argc, char **argv);

int ctl_cmd_put(struct ctl *c, int argc, char **argv);
int ctl_cmd_get(struct ctl *c, int argc, char **argv);

/* stage.c: S3 stages (import/export, stage status/retry/cancel/abandon). */
int ctl_cmd_import(struct ctl *c, int argc, char **argv);
int ctl_cmd_export(struct ctl *c, int argc, char **argv);
int ctl_cmd_stage_status(struct ctl *c, int argc, char **argv);
int ctl_cmd_stage_retry(struct ctl *c, int argc, char **argv);
int ctl_cmd_stage_cancel(struct ctl *c, int argc, char **argv);
int ctl_cmd_stage_abandon(struct ctl *c, int argc, char **argv);

/* ebbctl_check.c: check-script (offline, no daemon). */
int ctl_cmd_check_script(struct ctl *c, int argc, char **argv);

/* A directory entry of ctl_read_dir(). */
struct ctl_ent {
	char *name;                 /* as listed */
	char *path;                 /* dir/name */
	struct ebb_stat st;
};
/* Read a whole remote directory, sorted by name (byte order).  0, or
 * -1/errno.  Free *out with ctl_ents_free(*out, *nout). */
int ctl_read_dir(ebb_t *h, const char *path, struct ctl_ent **out,
		 size_t *nout);
void ctl_ents_free(struct ctl_ent *v, size_t n);

/* Attach to the instance through the first node; prints the error.  On
 * NULL the command exits with ctl_fail_status(c). */
ebb_t *ctl_attach(struct ctl *c);
/* CTL_EXIT_USAGE if a usage error was printed, else CTL_EXIT_FAIL. */
int ctl_fail_status(const struct ctl *c);
/* Detach, reporting an error if there is one. */
void ctl_detach(struct ctl *c, ebb_t *h);

/* ---- Slurm (ebbctl_slurm.c) ------------------------------------------- */

/* `ebbctl epilog`: slurm.conf's Epilog on compute nodes. */
int ctl_cmd_epilog(struct ctl *c, int argc, char **argv);
/* `ebbctl status --cluster`: runs `scontrol show bbstat [json]`. */
int ctl_cluster_status(struct ctl *c);
/* --job JOBID of the stage commands: c->instance = "slurm-JOBID" (written
 * into id, which must outlive c's use) and, unless -n was given, c->nodes =
 * the job's nodes (scontrol show job / show hostnames) on bbd_port of
 * $EBB_CONF or ebb.conf.  CTL_EXIT_OK, or the status to exit with after
 * printing why. */
int ctl_job_target(struct ctl *c, const char *job, char *id, size_t idlen);

#endif
