/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb: the client library of ebb, per-job burst buffer file systems.
 *
 * An ebb instance is one file system striped over the bbd daemons of a
 * job's nodes.  ebb_attach() connects to all of its members; the calls
 * below then behave like their POSIX namesakes on paths inside the
 * instance ("/" is the instance's root; a relative path is taken from it).
 *
 * Errors: every call returns -1 (or NULL) and sets errno, as POSIX does.
 * A node that is down or does not answer within the handle's timeout gives
 * EIO or ETIMEDOUT; no call waits longer than the timeout per round trip.
 *
 * Threads: an ebb_t and its ebb_file_t may be used from any number of
 * threads at once.  One ebb_file_t must not be closed while another thread
 * uses it.
 *
 * Consistency: close-to-open between clients (docs/semantics.md).  A file's
 * size is published to other clients at ebb_fsync() and ebb_close().  The
 * files one ebb_t has open share what it knows of their size, so within one
 * handle a write is visible to its other readers at once.  Directory
 * lookups are cached for $EBB_DCACHE_MS (default 1000, 0 = off): another
 * client's rename/rmdir of a directory may go unseen that long.
 *
 * Paths: symlinks are followed as in POSIX; an absolute target is taken
 * from the instance's root ("/" never leaves the instance); at most 40
 * hops (ELOOP).  Modes are used as given: no umask is applied.
 */
#ifndef EBB_EBB_H
#define EBB_EBB_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EBB_API_VERSION 1

typedef struct ebb ebb_t;
typedef struct ebb_file ebb_file_t;
typedef struct ebb_dir ebb_dir_t;

struct ebb_options {
	/* Per round-trip timeout in milliseconds; 0 = $EBB_TIMEOUT_MS or
	 * 30000.  Connecting to a node is bounded by it too. */
	unsigned timeout_ms;
	/* munged socket; NULL = $EBB_MUNGE_SOCKET or libmunge's default. */
	const char *munge_socket;
	/* Bytes in flight per node for large reads and writes; 0 = 16 MiB. */
	size_t window_bytes;
};

/* ---- instances (admin) ----------------------------------------------- */

struct ebb_instance_spec {
	const char *id;            /* [A-Za-z0-9._-]{1,64}, e.g. the job id */
	const char *const *members;/* "host:port" in rank order */
	unsigned nmembers;
	uint64_t stripe_size;      /* 0 = 1 MiB */
	uint64_t capacity;         /* bytes per node; 0 = refuse (EINVAL) */
	uid_t uid;                 /* owner */
	gid_t gid;
	int mount;                 /* nonzero: every member mounts it (FUSE,
	                            * at <mount_root>/<id>, as the owner) and
	                            * answers only once the mount works;
	                            * EBB_MOUNT, or'd with the EBB_MOUNT_*
	                            * options below */
};

/* ebb_instance_spec.mount.  Bits of the int that was a boolean, so the
 * struct (and what old callers pass: 0 or 1) is unchanged.  Macros, so
 * a caller can test #ifdef EBB_MOUNT_WRITEBACK for a libebb that has it.
 *   EBB_MOUNT            mount it (any nonzero value does)
 *   EBB_MOUNT_WRITEBACK  ... with the kernel's writeback cache: fast
 *                        small writes, close-to-open kept, but UNSAFE
 *                        when several nodes write one file at the same
 *                        time (docs/semantics.md, "The writeback cache");
 *                        implies EBB_MOUNT.  A bbd older than this
 *                        refuses the create (a protocol error) rather
 *                        than mounting without it.
 * Other bits are reserved: leave them 0. */
#define EBB_MOUNT 1
#define EBB_MOUNT_WRITEBACK 2

/* Create the instance on every member in parallel.  Idempotent: a member
 * that already has an identical instance answers success.  On failure the
 * members that did create it are destroyed again, and errmsg (if not NULL)
 * gets "host:port: reason".  Needs root or the configured Slurm user. */
int ebb_instance_create(const struct ebb_instance_spec *spec,
			const struct ebb_options *opts, char *errmsg,
			size_t errlen);

/* Destroy the instance on every member (removes all its data).  Members
 * that do not have it count as success.  errmsg as above. */
int ebb_instance_destroy(const char *id, const char *const *members,
			 unsigned nmembers, const struct ebb_options *opts,
			 char *errmsg, size_t errlen);

/* Information about one instance as one node sees it. */
struct ebb_instance_info {
	char id[65];
	unsigned rank;
	unsigned nmembers;
	char **members;            /* nmembers "host:port" strings */
	uint64_t stripe_size;
	uint64_t capacity;         /* this node's share, bytes */
	uint64_t used;             /* bytes used on this node */
	uid_t uid;
	gid_t gid;
	char state[16];            /* "active", ... */
	char *mount;               /* this node's mount point, or NULL if
	                            * no mount was asked */
	char mount_state[16];      /* "none", "starting", "mounted",
	                            * "failed", "unmounting" */
	char mount_error[160];     /* why, when "failed"; else "" */
};

/* Node health and capacity, from one bbd. */
struct ebb_node_status {
	char node[256];            /* node name */
	char version[32];          /* bbd version */
	unsigned proto_version;
	uint64_t uptime_s;
	uint64_t capacity;         /* bytes this node offers to instances */
	uint64_t reserved;         /* sum of its instances' capacities */
	uint64_t used;             /* bytes used by instances */
	unsigned ninstances;
	unsigned nmounted;         /* instances mounted on this node */
	unsigned nmount_failed;    /* ... whose mount failed */
};

/* Ask one bbd ("host:port") for its status.  0 or -1/errno. */
int ebb_node_status(const char *addr, const struct ebb_options *opts,
		    struct ebb_node_status *st);

/* One bbd's connections by state and its flood limits (docs/security.md
 * "Limits"); a bbd from before them reports zeros.  Since EBB_0.3: a
 * separate struct, so that struct ebb_node_status keeps its layout. */
struct ebb_node_conns {
	unsigned unauth;           /* accepted, not authenticated yet */
	unsigned authed;           /* authenticated */
	unsigned busy;             /* ... with requests in flight */
	unsigned idle;             /* ... without */
	unsigned in_frame;         /* in the middle of a frame */
	/* since bbd started */
	uint64_t closed_hello;     /* no HELLO by hello_timeout */
	uint64_t closed_frame;     /* frame not complete by frame_timeout */
	uint64_t closed_idle;      /* idle for idle_timeout */
	uint64_t shed;             /* unauthenticated ones closed for room */
	uint64_t busy_conns;       /* HELLOs refused: max_conns_per_uid */
	uint64_t busy_inflight;    /* requests refused: max_inflight_per_uid */
	uint64_t emfile;           /* accepts that found no descriptor */
	/* the limits (timeouts in ms; 0 = none) */
	unsigned nofile;
	unsigned max_unauth_conns;
	unsigned max_conns_per_uid;
	unsigned max_inflight_per_uid;
	unsigned hello_timeout_ms;
	unsigned frame_timeout_ms;
	unsigned idle_timeout_ms;
};

/* ebb_node_status() with the connections too, in one request; st or nc
 * may be NULL.  0 or -1/errno. */
int ebb_node_status_conns(const char *addr, const struct ebb_options *opts,
			  struct ebb_node_status *st,
			  struct ebb_node_conns *nc);

/* One bbd's lock service (docs/internals/locks.md): the locks it holds
 * now as the home node of inodes, and counts since it started; a bbd from
 * before it reports zeros.  Since EBB_0.4. */
struct ebb_node_locks {
	uint64_t instances;        /* instances with lock state here */
	uint64_t inodes;           /* inodes with locks or waiters */
	uint64_t held;             /* lock ranges held (fcntl and flock) */
	uint64_t waiting;          /* blocked requests parked here */
	uint64_t clients;          /* clients holding a lease */
	/* since bbd started */
	uint64_t granted;          /* lock requests granted (not unlocks) */
	uint64_t refused;          /* ... answered EAGAIN (conflict) */
	uint64_t expired;          /* clients whose lease ran out holding locks */
	uint64_t dropped;          /* ... the locks dropped with them */
};

/* Ask one bbd ("host:port") for its lock service's counts.  0 or
 * -1/errno. */
int ebb_node_status_locks(const char *addr, const struct ebb_options *opts,
			  struct ebb_node_locks *nl);

/* List the instances one bbd holds.  *list is malloc'd; free with
 * ebb_instance_list_free(*list, *n). */
int ebb_instance_list(const char *addr, const struct ebb_options *opts,
		      struct ebb_instance_info **list, unsigned *n);
/* One instance as one bbd sees it; free with ebb_instance_info_free(). */
int ebb_instance_get(const char *addr, const char *id,
		     const struct ebb_options *opts,
		     struct ebb_instance_info *info);
void ebb_instance_info_free(struct ebb_instance_info *info);
void ebb_instance_list_free(struct ebb_instance_info *list, unsigned n);

/* ---- stages: moving data between S3 and an instance --------------------
 *
 * A stage is one stage_in or stage_out line of a job, run by the bbds of
 * the instance: rank 0 plans it (lists or walks, creates the namespace,
 * splits the work) and every member moves the stripes it stores
 * (docs/stager.md).  A stage is named by its caller ("in-0", "out-1"): a
 * second start of the same name with the same spec is a no-op (so callers
 * may retry and restarts resume), with another spec EEXIST.  The calls go
 * to rank 0 (members[0]); start/retry/cancel need root or the SlurmUser,
 * status also the instance's owner.
 */
enum ebb_stage_dir { EBB_STAGE_IN = 0, EBB_STAGE_OUT = 1 };

struct ebb_stage_spec {
	const char *name;          /* [A-Za-z0-9._-]{1,32}, unique per instance */
	enum ebb_stage_dir dir;
	const char *source;        /* in: s3://bucket/key...; out: a path in
	                            * the instance ("results" or "/") */
	const char *destination;   /* in: a path in the instance; out: s3://... */
	int type;                  /* 0 auto, 1 file, 2 directory */
	uid_t uid;                 /* owner of imported files without metadata */
	gid_t gid;
	const char *user;          /* the job's user name (allow-list, report) */
	const char *const *groups; /* its groups' names, for the allow-list */
	unsigned ngroups;
	const char *account;       /* may be NULL */
	uint32_t job_id;           /* for ebb-report-<jobid>; 0 = none */
	int deferred;              /* nonzero: record and check the stage now
	                            * (state "waiting"), run it only at
	                            * ebb_stage_retry(): the Slurm plugin
	                            * registers a job's stage_out lines before
	                            * the job runs, so every node's Epilog knows
	                            * an export is coming */
};

/* Stage states, in order; a stage ends in done, failed or cancelled.
 * "failed" means some files failed (see the report) or the stage itself
 * could not run (error says why); retry starts it again for what is not
 * done yet. */
#define EBB_STAGE_STATES "waiting", "planning", "running", "done", "failed", \
	"cancelled"

struct ebb_stage_node {            /* one member's share */
	unsigned rank;
	uint64_t files_total, files_done, files_failed;
	uint64_t bytes_total, bytes_done;
	uint64_t retries;          /* its S3 requests' retries (this run) */
	char state[16];
};

struct ebb_stage_status {
	char name[33];
	enum ebb_stage_dir dir;
	char state[16];            /* one of EBB_STAGE_STATES */
	char *source, *destination;
	uint64_t files_total, files_done, files_failed, files_skipped;
	uint64_t bytes_total, bytes_done;
	uint64_t retries;          /* S3 requests retried (attempts after the
	                            * first), over the coordinator and every
	                            * member, since the stage last started */
	int64_t started_ns, updated_ns, ended_ns;
	double rate_bps;           /* bytes/s over the last seconds */
	int64_t eta_s;             /* -1 = unknown */
	char *error;               /* the first errors, one per line, or NULL */
	char *report;              /* where failures.csv is (path or s3://),
	                            * or NULL when nothing failed */
	struct ebb_stage_node *nodes;
	unsigned nnodes;
};

/* Start (or resume) a stage on instance id.  Returns at once once rank 0
 * has accepted it (the allow-list and the spec are checked then: a
 * refused stage is -1/EACCES or EINVAL with errmsg saying why). */
int ebb_stage_start(const char *id, const char *const *members,
		    unsigned nmembers, const struct ebb_stage_spec *spec,
		    const struct ebb_options *opts, char *errmsg,
		    size_t errlen);
/* Status of one stage (name) or of all (name NULL): *list malloc'd, free
 * with ebb_stage_status_free(*list, *n). */
int ebb_stage_status(const char *id, const char *const *members,
		     unsigned nmembers, const char *name,
		     const struct ebb_options *opts,
		     struct ebb_stage_status **list, unsigned *n);
void ebb_stage_status_free(struct ebb_stage_status *list, unsigned n);
/* Start a failed stage again for the files not yet done, or a deferred
 * ("waiting") stage for the first time.  Root, the SlurmUser or the
 * instance's owner. */
int ebb_stage_retry(const char *id, const char *const *members,
		    unsigned nmembers, const char *name,
		    const struct ebb_options *opts, char *errmsg,
		    size_t errlen);
/* Stop a stage; transfers in flight are abandoned (multipart uploads are
 * aborted).  Idempotent. */
int ebb_stage_cancel(const char *id, const char *const *members,
		     unsigned nmembers, const char *name,
		     const struct ebb_options *opts, char *errmsg,
		     size_t errlen);

/* ---- attaching ------------------------------------------------------- */

/* Attach to instance id whose members are given in rank order.  Connects
 * lazily (the first call to a node connects).  NULL/errno on bad
 * arguments or no memory.  Free with ebb_detach(). */
ebb_t *ebb_attach(const char *id, const char *const *members,
		  unsigned nmembers, const struct ebb_options *opts);
/* Attach by asking one member for the instance's member list. */
ebb_t *ebb_attach_via(const char *addr, const char *id,
		      const struct ebb_options *opts);
/* Close all connections and free h.  Open files must be closed first. */
int ebb_detach(ebb_t *h);

/* ---- files ------------------------------------------------------------ */

struct ebb_stat {
	uint64_t ino;
	mode_t mode;
	uint32_t nlink;
	uid_t uid;
	gid_t gid;
	uint64_t size;
	uint64_t blocks;           /* 512-byte units (estimated from size) */
	uint32_t blksize;          /* the stripe size */
	struct timespec atime, mtime, ctime;
};

/* A character or block device (S_ISCHR/S_ISBLK) has no data: its
 * ebb_stat.size holds its device number (st_rdev; the struct has no room
 * for another field), and its st_size is 0.  This gives st_rdev. */
static inline dev_t ebb_stat_rdev(const struct ebb_stat *st)
{
	mode_t t = st->mode & 0170000; /* S_IFMT */

	return t == 0020000 || t == 0060000 ? (dev_t)st->size : 0;
}

/* flags: O_RDONLY/O_WRONLY/O_RDWR | O_CREAT | O_EXCL | O_TRUNC | O_APPEND
 * | O_NOFOLLOW; other flags are ignored, except O_DIRECTORY: EINVAL (use
 * ebb_opendir).  A directory cannot be opened (EISDIR), a symlink with
 * O_NOFOLLOW gives ELOOP, O_CREAT through a dangling symlink creates its
 * target.  Access is checked against the caller's euid/egid/groups (root
 * passes).  Free with ebb_close(). */
ebb_file_t *ebb_open(ebb_t *h, const char *path, int flags, mode_t mode);
/* Reads are clamped to the size known at open (or written since through
 * this ebb_t); holes read as zeros.  Reads and writes are all-or-nothing:
 * a failed stripe fails the call (-1), never a short count.
 *
 * Write-behind: ebb_pwrite returns once its data is sent, before the
 * nodes answer (up to $EBB_WRITE_BEHIND bytes in flight per file, default
 * 32 MiB; 0 = off).  Consecutive small writes of a handle are gathered
 * (copied) into one request of up to $EBB_WRITE_GATHER bytes (default
 * 1 MiB, at most a stripe; 0 = off), sent when full, at a stripe's end,
 * at another write, a read of its range, flush, fsync, truncate or close:
 * never by a timer, so a process that dies before those loses them.
 * Its error (ENOSPC, EIO...) then comes from
 * ebb_flush, ebb_fsync or ebb_close, and every later ebb_pwrite of the
 * handle fails with it; a failed write that extended the file cuts the
 * size back to where it began.  Reads, truncates, flush, fsync and close
 * through any handle of this ebb_t wait for the writes they must see.  A
 * handle opened O_DSYNC or O_SYNC writes synchronously (the write itself
 * fails).  Read-ahead: sequential ebb_preads of a handle read up to
 * $EBB_READ_AHEAD bytes ahead (default 16 MiB; 0 = off).  Stripes held
 * by a bbd on this node are read from fds it passes (local reads;
 * $EBB_SHORT_CIRCUIT=0 turns them off).
 * docs/semantics.md "libebb: write-behind and read-ahead". */
ssize_t ebb_pread(ebb_file_t *f, void *buf, size_t count, off_t offset);
ssize_t ebb_pwrite(ebb_file_t *f, const void *buf, size_t count,
		   off_t offset);
/* Where the bytes ebb_pread(f, ..., count, offset) would read are, when
 * a bbd on this node holds them: the descriptor of the object file that
 * holds the first of them (*fd, owned by f: valid until ebb_close(f), not
 * to be closed or moved), their offset in it (*pos), and how many of them
 * it holds (at most count, to the end of that stripe; clamped to the size
 * as ebb_pread does; 0 at the end of the file).  Call again at offset + n
 * for the rest.  For splice(2) or sendfile(2) by a caller that would
 * otherwise copy what it read (ebb-fuse's READ replies).  -1 with errno
 * EOPNOTSUPP when ebb_pread is needed: that stripe's node is elsewhere or
 * does not serve local reads, or its object does not hold every byte (a
 * hole, or zeros past its end).  Waits for this ebb_t's writes of the
 * range, as a read does. */
ssize_t ebb_pread_fd(ebb_file_t *f, size_t count, off_t offset, int *fd,
		     off_t *pos);
/* Makes data and size durable on every node that holds part of the file;
 * returns (and clears) an earlier write error of this handle. */
int ebb_fsync(ebb_file_t *f);
int ebb_ftruncate(ebb_file_t *f, off_t length);
int ebb_fstat(ebb_file_t *f, struct ebb_stat *st);
/* Publishes the size; returns an earlier write error if one is pending
 * (one that no ebb_fsync() reported yet), like close(2) on NFS.  f is
 * freed whatever the result. */
int ebb_close(ebb_file_t *f);

int ebb_stat(ebb_t *h, const char *path, struct ebb_stat *st);
int ebb_lstat(ebb_t *h, const char *path, struct ebb_stat *st);
int ebb_mkdir(ebb_t *h, const char *path, mode_t mode);
int ebb_rmdir(ebb_t *h, const char *path);
int ebb_unlink(ebb_t *h, const char *path);
int ebb_rename(ebb_t *h, const char *from, const char *to);
/* link(2): a second name for the file (or symlink, not followed) oldpath;
 * EPERM for a directory, EEXIST if newpath exists.  Since EBB_0.4. */
int ebb_link(ebb_t *h, const char *oldpath, const char *newpath);
int ebb_truncate(ebb_t *h, const char *path, off_t length);
int ebb_symlink(ebb_t *h, const char *target, const char *linkpath);
/* Like readlink(2): not NUL-terminated, returns the length. */
ssize_t ebb_readlink(ebb_t *h, const char *path, char *buf, size_t size);
int ebb_chmod(ebb_t *h, const char *path, mode_t mode);
int ebb_chown(ebb_t *h, const char *path, uid_t uid, gid_t gid);
/* times[0] = atime, times[1] = mtime; NULL = now; UTIME_NOW/UTIME_OMIT. */
int ebb_utimens(ebb_t *h, const char *path, const struct timespec times[2]);

struct ebb_statfs {
	uint64_t capacity;         /* bytes, sum over nodes */
	uint64_t used;
	uint64_t free;
	uint64_t files;            /* entries in the namespace */
	uint32_t bsize;            /* the stripe size */
	uint32_t namemax;
	unsigned nodes;
};
int ebb_statfs(ebb_t *h, struct ebb_statfs *st);

/* ---- directories ------------------------------------------------------ */

struct ebb_dirent {
	uint64_t ino;
	mode_t mode;               /* S_IFMT bits and permissions */
	char name[256];
	struct ebb_stat st;        /* full attributes (readdirplus) */
};

/* Entries are listed node by node; "." and ".." are not listed.  Each
 * entry present for the whole listing is returned exactly once. */
ebb_dir_t *ebb_opendir(ebb_t *h, const char *path);
/* 1 with *ent filled, 0 at the end, -1/errno on error. */
int ebb_readdir(ebb_dir_t *d, struct ebb_dirent *ent);
int ebb_closedir(ebb_dir_t *d);

/* ---- inode-relative calls ---------------------------------------------- *
 *
 * For callers that know inode numbers (the FUSE mount): "name in directory
 * dir" instead of a path, one RPC-composed operation each, no path walk.
 * Inode numbers are the ebb_stat.ino values; the root is EBB_ROOT_INO and
 * its own entry is (0, "") (ebb_lookupat(h, 0, "", &st) stats the root).
 * Unlike the path calls these check no permission bits (the caller does:
 * FUSE's kernel with default_permissions), follow no symlink (ebb_openat on
 * one: ELOOP) and apply no umask.  name: one component, 1..255 bytes, not
 * "." or "..", no '/' (EINVAL/ENAMETOOLONG).  st/out (may be NULL) get the
 * attributes the operation left.  Any thread. */

#define EBB_ROOT_INO 1

int ebb_lookupat(ebb_t *h, uint64_t dir, const char *name,
		 struct ebb_stat *st);
/* flags as ebb_open (O_CREAT here creates name in dir).  Free with
 * ebb_close(). */
ebb_file_t *ebb_openat(ebb_t *h, uint64_t dir, const char *name, int flags,
		       mode_t mode, struct ebb_stat *st);
/* Open inode ino itself (no O_CREAT), which the caller last knew as
 * (dir, name) (name NULL: it knows no name for it any more).  ino counts
 * as open through h before its name is looked up, so a rename or unlink
 * through h that removes the name from then on keeps its data until the
 * last close, and this open then still succeeds on it (nlink 0), as if it
 * had come just before the rename.  ESTALE if the name holds another
 * inode (or none) and ino is not open through h: its data may be gone
 * (look the name up again).  O_TRUNC on such an orphan: ESTALE too. */
ebb_file_t *ebb_open_ino(ebb_t *h, uint64_t ino, uint64_t dir,
			 const char *name, int flags, struct ebb_stat *st);
int ebb_mkdirat(ebb_t *h, uint64_t dir, const char *name, mode_t mode,
		struct ebb_stat *st);
int ebb_symlinkat(ebb_t *h, const char *target, uint64_t dir,
		  const char *name, struct ebb_stat *st);
/* The same three, but a new inode is owned by uid:gid, set in the one
 * request that creates it (no chown after it): for a process that creates
 * on behalf of others (ebb-fuse run as root).  The node allows it to root,
 * and to others only with their own uid and primary gid (EPERM).  An
 * existing file opened by ebb_openat_owner with O_CREAT keeps its owner.
 * Since libebb 0.2 (symbol version EBB_0.2); a node from before it
 * refuses the request (EPROTO). */
ebb_file_t *ebb_openat_owner(ebb_t *h, uint64_t dir, const char *name,
			     int flags, mode_t mode, uid_t uid, gid_t gid,
			     struct ebb_stat *st);
int ebb_mkdirat_owner(ebb_t *h, uint64_t dir, const char *name, mode_t mode,
		      uid_t uid, gid_t gid, struct ebb_stat *st);
int ebb_symlinkat_owner(ebb_t *h, const char *target, uint64_t dir,
			const char *name, uid_t uid, gid_t gid,
			struct ebb_stat *st);
/* mknod(2) in dir: mode's type is S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK or
 * S_IFREG (0 = S_IFREG: an empty file), others EINVAL; rdev is used for
 * devices only.  EEXIST if name exists.  The node stores the type and
 * the device number; what a FIFO, socket or device does is the kernel's
 * business (a mount is nodev).  The _owner form as ebb_openat_owner.
 * Since EBB_0.4; a node from before it refuses (EINVAL or EPROTO). */
int ebb_mknodat(ebb_t *h, uint64_t dir, const char *name, mode_t mode,
		dev_t rdev, struct ebb_stat *st);
int ebb_mknodat_owner(ebb_t *h, uint64_t dir, const char *name, mode_t mode,
		      dev_t rdev, uid_t uid, gid_t gid, struct ebb_stat *st);
/* Directory (dir, name), inode ino, had an entry created, removed or
 * renamed at time *t: its mtime and ctime become *t unless they are later
 * already (never moved back).  The at-calls do not do this themselves
 * (each would cost a round trip to the directory's own node); a caller
 * that wants POSIX's directory times sends it after its namespace
 * changes, as few as it likes (ebb-fuse coalesces them per directory).
 * ESTALE if the name holds another inode, ENOTDIR if not a directory.
 * Since EBB_0.4. */
int ebb_dirtouchat(ebb_t *h, uint64_t dir, const char *name, uint64_t ino,
		   const struct timespec *t, struct ebb_stat *st);
/* A directory: EISDIR. */
int ebb_unlinkat(ebb_t *h, uint64_t dir, const char *name);
int ebb_rmdirat(ebb_t *h, uint64_t dir, const char *name);

#define EBB_RENAME_NOREPLACE 1u    /* = RENAME_NOREPLACE of renameat2(2) */
/* Rename (odir, oname) to (ndir, nname).  flags: 0 or EBB_RENAME_NOREPLACE
 * (target exists: EEXIST); anything else (RENAME_EXCHANGE...) EINVAL.
 * nanc[0..nnanc) are the inode numbers of ndir's ancestors (any order;
 * ndir itself is checked anyway): moving a directory into one of them is
 * refused (EINVAL).  nanc NULL: only ndir is checked, the caller checked
 * the rest. */
int ebb_renameat(ebb_t *h, uint64_t odir, const char *oname, uint64_t ndir,
		 const char *nname, unsigned flags, const uint64_t *nanc,
		 unsigned nnanc);

/* mask bits of ebb_setattrat (the fields of *in it uses) */
#define EBB_SET_MODE 0x01u         /* in->mode & 07777 */
#define EBB_SET_UID 0x02u
#define EBB_SET_GID 0x04u
#define EBB_SET_SIZE 0x08u         /* truncate/extend to in->size */
#define EBB_SET_ATIME 0x10u
#define EBB_SET_MTIME 0x20u
#define EBB_SET_ATIME_NOW 0x40u
#define EBB_SET_MTIME_NOW 0x80u
/* chmod/chown/truncate/utimens of (dir, name) itself (a symlink is not
 * followed).  POSIX ownership rules are checked by the node (EPERM). */
int ebb_setattrat(ebb_t *h, uint64_t dir, const char *name, unsigned mask,
		  const struct ebb_stat *in, struct ebb_stat *out);
/* link(2) of (odir, oname) (not followed if a symlink) as (ndir, nname):
 * EPERM for a directory, EEXIST if nname exists, ENOENT if oname does
 * not; across directories and nodes.  st (may be NULL) gets the inode's
 * attributes after it (st_nlink counts the new name).  Since EBB_0.4;
 * docs/internals/hardlinks.md gives the cost. */
int ebb_linkat(ebb_t *h, uint64_t odir, const char *oname, uint64_t ndir,
	       const char *nname, struct ebb_stat *st);
/* ebb_linkat() of inode ino by number: for an inode that is linked
 * already (has an inode record) and whose name the caller no longer knows
 * (FUSE's link of an inode whose known name went); ENOENT without a
 * record.  Since EBB_0.4. */
int ebb_link_ino(ebb_t *h, uint64_t ino, uint64_t ndir, const char *nname,
		 struct ebb_stat *st);
/* The attributes of a hard-linked inode by number, from its home node:
 * what FUSE's getattr needs when the one name it knew went and others
 * remain.  ENOENT if ino has no inode record (it never had a second name,
 * or its last name is gone).  Since EBB_0.4. */
int ebb_stat_ino(ebb_t *h, uint64_t ino, struct ebb_stat *st);
/* ebb_setattrat() of a hard-linked inode by number (ENOENT as
 * ebb_stat_ino).  Since EBB_0.4. */
int ebb_setattr_ino(ebb_t *h, uint64_t ino, unsigned mask,
		    const struct ebb_stat *in, struct ebb_stat *out);
/* Like readlink(2) on (dir, name): not NUL-terminated; EINVAL if not a
 * symlink. */
ssize_t ebb_readlinkat(ebb_t *h, uint64_t dir, const char *name, char *buf,
		       size_t size);
/* List directory inode dir with ebb_readdir(); ENOTDIR/ENOENT show up at
 * the first ebb_readdir() as an empty listing (the nodes hold no entries
 * of a non-directory).  Free with ebb_closedir(). */
ebb_dir_t *ebb_opendir_ino(ebb_t *h, uint64_t dir);

/* ebb_fstat() of inode ino if some ebb_file_t of h has it open (ENOENT if
 * none): what FUSE's getattr needs for an open file whose name is gone. */
int ebb_fstat_ino(ebb_t *h, uint64_t ino, struct ebb_stat *st);

/* ---- extended attributes (since EBB_0.4) --------------------------------
 * As setxattr(2), getxattr(2), listxattr(2) and removexattr(2), on inode
 * ino (the _ino calls) or on what path names, symlinks followed.  One
 * request to the inode's home node each; the attributes stay with the
 * inode through renames.  Names are full ("user.foo"): "user." and
 * "trusted." are stored (libebb serves only the instance's owner and root
 * and checks no capability: the kernel does that at the mount),
 * "security." and "system." and unknown prefixes give EOPNOTSUPP, a bare
 * prefix EINVAL.  Values are binary, 0..65,536 bytes.  Per inode at most
 * 1 MiB of names and values and a name list of 64 KiB (ENOSPC).  Errors
 * as the system calls: ERANGE (name empty or over 255 bytes, or buf too
 * small for the value or list), E2BIG (value over 65,536 bytes), EEXIST
 * (XATTR_CREATE and the name exists), ENODATA (XATTR_REPLACE, get or
 * remove of a name that is not there), EINVAL (flags other than
 * XATTR_CREATE/XATTR_REPLACE, ino 0 or of no member); plus the path walk's
 * and the transport's.  Size 0 asks for the length only (get, list).  A
 * list is the names, each NUL-terminated, sorted by bytes.  Any thread. */
int ebb_setxattr_ino(ebb_t *h, uint64_t ino, const char *name,
		     const void *value, size_t size, int flags);
ssize_t ebb_getxattr_ino(ebb_t *h, uint64_t ino, const char *name, void *buf,
			 size_t size);
ssize_t ebb_listxattr_ino(ebb_t *h, uint64_t ino, char *list, size_t size);
int ebb_removexattr_ino(ebb_t *h, uint64_t ino, const char *name);
int ebb_setxattr(ebb_t *h, const char *path, const char *name,
		 const void *value, size_t size, int flags);
ssize_t ebb_getxattr(ebb_t *h, const char *path, const char *name, void *buf,
		     size_t size);
ssize_t ebb_listxattr(ebb_t *h, const char *path, char *list, size_t size);
int ebb_removexattr(ebb_t *h, const char *path, const char *name);

/* Publish the size written through f (as ebb_close does) without closing:
 * what close(2) on a FUSE mount calls, so another client that opens the
 * file afterwards sees it.  Returns and clears a pending write error. */
int ebb_flush(ebb_file_t *f);
/* ebb_flush that leaves a pending write error for the next ebb_flush or
 * ebb_close (EBB_0.4): what ebb-fuse does before an unlock, so that data
 * written under a lock reaches the nodes before another node takes it.
 * -1 only if publishing the size failed. */
int ebb_publish(ebb_file_t *f);

/* ---- locks across nodes (EBB_0.4) ----------------------------------------
 *
 * fcntl byte-range locks and flock locks of inode ino, held by the lock
 * service of ino's home node (docs/semantics.md "Locks").  A lock belongs
 * to (h, owner): owner is the caller's lock-owner id (FUSE's lock_owner:
 * a process's file table for POSIX locks, an open file description for
 * OFD and flock locks); two owners of one h conflict as two processes do.
 * The rules are Linux's for one node: POSIX ranges split and merge per
 * owner, F_UNLCK never fails, flock locks (EBB_LOCK_FLOCK) are a separate
 * namespace and never conflict with POSIX locks.  h renews a lease on
 * every node where it holds locks (a thread, every lease/3); a node drops
 * every lock of an h it has not heard from for its lock_lease (15 s by
 * default): a dead client's locks go within that.  ebb_detach releases
 * h's locks.  Data under a lock: a granted lock makes h read the size and
 * bytes the nodes hold now for ino (if h has it open); a writer calls
 * ebb_publish (or ebb_flush) before it unlocks, so that the next holder
 * on another node reads what it wrote.  Any thread. */
#define EBB_LOCK_WAIT 1            /* F_SETLKW: wait until granted */
#define EBB_LOCK_FLOCK 2           /* the flock namespace: whole file,
				    * l_start and l_len are ignored */
struct flock;
/* Set fl (l_type F_RDLCK, F_WRLCK or F_UNLCK; l_whence SEEK_SET; l_len 0:
 * to the end of file; negative: the bytes before l_start) for owner; pid
 * is what ebb_getlk_ino shows to other owners of h.  Without
 * EBB_LOCK_WAIT a conflict fails with EAGAIN; with it the call waits,
 * and ends with EINTR if *cancel (may be NULL) becomes non-zero and
 * ebb_lock_cancel_ino is called (from another thread).  0 or -1 with
 * errno: EAGAIN, EINTR, EINVAL (bad range or type), a node's error. */
int ebb_lock_ino(ebb_t *h, uint64_t ino, uint64_t owner, pid_t pid,
		 const struct flock *fl, int flags, const volatile int *cancel);
/* Wake owner's waiting ebb_lock_ino calls on ino (they return EINTR if
 * their *cancel is set, else wait on). */
int ebb_lock_cancel_ino(ebb_t *h, uint64_t ino, uint64_t owner);
/* F_GETLK: fl (type and range, as ebb_lock_ino) is replaced by the first
 * lock of another owner that conflicts with it (l_pid: the holder's pid if
 * the holder is another owner of h, else 0: a remote holder), or gets
 * l_type F_UNLCK. */
int ebb_getlk_ino(ebb_t *h, uint64_t ino, uint64_t owner, struct flock *fl,
		  int flags);
/* Release every lock (POSIX and flock) of owner on ino: what close(2)
 * does to a process's locks. */
int ebb_unlock_owner_ino(ebb_t *h, uint64_t ino, uint64_t owner);

/* ---- misc -------------------------------------------------------------- */

/* Number of members and the instance's stripe size (asked from a member
 * on first use: 0 with errno set if none answers). */
unsigned ebb_nmembers(const ebb_t *h);
uint64_t ebb_stripe_size(const ebb_t *h);
/* "0.1.0" */
const char *ebb_version(void);

#ifdef __cplusplus
}
#endif
#endif
