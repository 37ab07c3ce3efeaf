/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd internals: the daemon context, connections, requests, instances.
 *
 * DESIGN: one struct bbd is the whole daemon; every function takes it (or
 * something that points to it), there are no mutable globals.  Threads:
 * the main thread runs the listener and signals, W worker threads each own
 * an event_base and the connections handed to them, an I/O pool runs the
 * blocking disk work, and a syncer thread flushes LMDB once a second.  A
 * request (struct bbd_req) is born and answered on its connection's worker;
 * in between it may visit an I/O thread, and it comes back through the
 * worker's notify fd.  docs/internals/threads.md has the lock order.
 */
#ifndef EBB_BBD_INT_H
#define EBB_BBD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <lmdb.h>

#include "err.h"
#include "proto.h"
#include "s3path.h"
#include "stg.h"

#define BBD_DEFAULT_PORT PROTO_DEFAULT_PORT
/* Flow control per connection: stop reading while over any of these. */
#define BBD_CONN_MAX_INFLIGHT 256
#define BBD_CONN_MAX_INBYTES (64u * 1024 * 1024)
#define BBD_CONN_MAX_OUTBYTES (64u * 1024 * 1024)
/* Bytes moved per read/write callback of a connection. */
#define BBD_CONN_MAX_SINGLE_IO (4 * 1024 * 1024)
/* Payloads from this size on bypass the bufferevent (see bbd_net.c), and
 * READ replies from this size on go out with sendfile (bbd_data.c). */
#define BBD_CONN_DIRECT_MIN (64u * 1024)
/* WRITE payload buffers kept for reuse while idle (bbd_buf.c). */
#define BBD_BUF_CACHE_MAX (64u * 1024 * 1024)
/* Objects: nothing may be stored past this offset (EFBIG). */
#define BBD_MAX_FILE_SIZE (1ull << 44)
/* LMDB map size per instance: sparse, so only used pages cost disk. */
#define BBD_LMDB_MAPSIZE (4ull << 30)
/* First inode counter value; 1..15 are reserved (1 = the root). */
#define BBD_FIRST_INO 16
/* Open object files kept per instance. */
#define BBD_FD_CACHE_MAX 256

struct bbd;
struct bbd_worker;
struct bbd_inst;

/* ---- configuration (bbd.c) --------------------------------------------- */
struct bbd_conf {
	char *config_path;
	char *listen;          /* "host:port" */
	char *port_file;
	char *root;
	uint64_t capacity;     /* 0 = free space of root at start */
	bool have_slurm_user;
	uid_t slurm_uid;
	char *munge_socket;
	char *node_name;
	unsigned workers;
	unsigned io_threads;
	int log_level;
	bool foreground;
	char *mount_root;      /* "%n" = node name; expanded in bbd->mount_root */
	char *fuse_helper;     /* the ebb-fuse binary */
	unsigned mount_timeout_ms;
	char *local_socket;    /* bbd_local.c; "" = none; default
	                        * <root>/bbd.sock */
	int no_local_writes;   /* local_writes = no: read-only fds only */
	/* flood protection (bbd_limit.c, docs/security.md "Limits"); the
	 * timeouts are in ms, 0 = none */
	unsigned hello_timeout_ms;  /* accepted -> authenticated */
	unsigned frame_timeout_ms;  /* first byte of a frame -> its last */
	unsigned idle_timeout_ms;   /* ordinary users' idle connections */
	unsigned max_conns_per_uid; /* 0 = no limit */
	unsigned max_inflight_per_uid;
	unsigned max_unauth_conns;  /* 0 = half the descriptor limit */
	struct {                    /* given in the file or a flag */
		bool hello, frame, idle, conns, inflight;
	} limits_set;
	unsigned lock_lease_ms;     /* lock_lease (bbd_lock.c); 0 = default */
	/* the stager: ebb.conf's s3_* keys and s3_allow lines */
	struct stg_conf s3;
	struct s3path_allow s3_allow;
};

/* ---- connections (bbd_net.c) ------------------------------------------- */
enum bbd_conn_state {
	BBD_CONN_PREFIX,   /* waiting for an 8-byte frame prefix */
	BBD_CONN_BODY,     /* have a prefix, waiting for header + payload */
	BBD_CONN_PAYLOAD,  /* header in hand, big payload read straight in */
	BBD_CONN_AUTH,     /* HELLO is being checked: reading paused */
	BBD_CONN_DRAIN,    /* a fatal reply is queued: close once it is sent */
	BBD_CONN_CLOSED,   /* socket gone; lives on until in-flight requests end */
	BBD_CONN_NSTATES
};

/* A connection belongs to one worker; only that worker's thread touches
 * it, so its refcount and fields need no lock.  References: one for the
 * open socket, one per request in flight. */
struct bbd_conn {
	struct bbd_worker *w;
	struct bufferevent *bev;
	enum bbd_conn_state state;
	unsigned refs;
	char peer[64];             /* "addr:port" for logs */
	bool authed;
	uid_t uid;
	gid_t gid;
	uint32_t hlen, plen;       /* of the frame being read (BODY) */
	/* PAYLOAD: the header and a buffer the payload is read into */
	struct event *fill_ev;     /* EV_READ on the socket, or NULL */
	uint8_t *fill_hdr;         /* hlen bytes, owned */
	uint8_t *fill_buf;         /* plen bytes, owned */
	uint32_t fill_done;        /* payload bytes in fill_buf */
	unsigned inflight;         /* requests not yet answered */
	uint64_t inbytes;          /* payload bytes held by those requests */
	struct bbd_conn *prev, *next; /* worker's list */
	/* deadlines (bbd_net.c _worker_sweep_cb), CLOCK_MONOTONIC ms */
	uint64_t accepted_ms;      /* for hello_timeout */
	uint64_t frame_ms;         /* first byte of the current frame, 0 none */
	uint64_t active_ms;        /* last request in or reply out */
	/* unauthenticated connections of the worker, oldest first: the
	 * ones shed when there are too many */
	struct bbd_conn *uprev, *unext;
	bool on_ulist;
	struct bbd_uid *ue;        /* authenticated: its uid's counters */
	bool busy_counted;         /* counted in bbd->limits.conns_busy */
};

struct bbd_req;
/* A request handler: reads its arguments from r->dec, puts its results in
 * r->res (counting them in r->nres) and returns r->status. */
typedef ebb_err (*bbd_handler_fn)(struct bbd_req *r);

/* One request, from its frame to its one reply. */
struct bbd_req {
	struct bbd_conn *conn;     /* reference held; worker-only */
	struct bbd *bbd;
	uint64_t msgid;
	uint32_t op;
	uid_t uid;                 /* caller, copied so I/O threads need not */
	gid_t gid;                 /* look at the connection */
	uint8_t *hdr;              /* header bytes, owned; dec borrows them */
	struct proto_dec dec;      /* cursor after the inst argument if any */
	struct evbuffer *in;       /* WRITE payload, or NULL */
	uint32_t inlen;            /* its length, for flow control */
	struct bbd_inst *inst;     /* reference held, or NULL */
	/* results */
	ebb_err status;
	char detail[160];
	struct proto_enc res;      /* results only, no array header */
	unsigned nres;
	struct evbuffer *out;      /* READ payload, or NULL */
	bool close_after;          /* fatal: close the connection after reply */
	bool parked;               /* the handler kept it (a lock waiter,
	                            * bbd_lock.c): another thread will
	                            * bbd_req_done() it; worker-only */
	bool uid_counted;          /* counted in conn->ue->inflight */
	/* HELLO result, applied to the connection by the worker */
	uid_t auth_uid;
	gid_t auth_gid;
	bbd_handler_fn io_fn;      /* what an I/O thread runs */
	struct bbd_req *next;      /* queue link */
};

/* ---- workers ----------------------------------------------------------- */
struct bbd_worker {
	struct bbd *bbd;
	unsigned id;
	pthread_t thread;
	struct event_base *base;
	struct event *notify_ev;
	int notify_fd;             /* eventfd */
	pthread_mutex_t lock;      /* protects the four fields below */
	struct bbd_newconn *newconns;
	struct bbd_req *done_head, *done_tail;
	bool stop;
	unsigned shed;             /* the listener asks: shed this many */
	/* worker-thread only */
	struct bbd_conn *conns;
	unsigned nconns;
	struct bbd_conn *uhead, *utail; /* unauthenticated, oldest first */
	unsigned nunauth;
	bool stopping;
	struct event *stop_timer;
	struct event *sweep_ev;    /* deadlines, see _worker_sweep_cb */
	unsigned in_frame;         /* its share of limits.conns_frame */
	unsigned nhello, nshed;    /* closes not logged yet, see the sweep */
	uint64_t flood_log_ms;
};

/* ---- mounts (bbd_mount.c) ----------------------------------------------- */
enum bbd_mount_state {
	BBD_MOUNT_NONE,        /* not mounted (none asked, or not started yet) */
	BBD_MOUNT_STARTING,    /* mounted, ebb-fuse started, not answering yet */
	BBD_MOUNT_MOUNTED,     /* the mount answered statfs */
	BBD_MOUNT_FAILED,      /* ebb-fuse died or never answered */
	BBD_MOUNT_UNMOUNTING,  /* destroy or shutdown is taking it down */
	BBD_MOUNT_NSTATES
};

/* The mount of one instance on this node.  Fields are protected by
 * bbd->mount_lock; state changes only through _mount_set_state(). */
struct bbd_mount {
	enum bbd_mount_state state;
	pid_t pid;                 /* our ebb-fuse child, 0 if none */
	bool reaped;               /* pid has been waited for */
	int wstatus;               /* its wait status, once reaped */
	char why[160];             /* the last failure, for INST_GET */
	struct bbd_mount *next;    /* bbd->children while pid is unreaped */
	struct bbd_inst *inst;     /* back pointer */
};

/* ---- instances (bbd_inst.c, bbd_meta.c, bbd_data.c) -------------------- */
struct bbd_obj;
struct bbd_locktab;

struct bbd_inst {
	struct bbd *bbd;
	char id[PROTO_MAX_INST_ID + 1];
	atomic_uint refs;
	/* immutable parameters */
	uint32_t rank;
	uint32_t nmembers;
	char **members;
	uint32_t stripe_size;
	uint64_t capacity;
	uint32_t uid, gid;
	bool mount;                /* a FUSE mount was asked at INST_CREATE */
	bool writeback;            /* ... with the kernel's writeback cache
	                            * (INST_CREATE cache "writeback") */
	struct bbd_mount mnt;      /* see bbd_mount.c */
	/* storage */
	MDB_env *env;
	MDB_dbi dbi_dentries;
	MDB_dbi dbi_config;
	MDB_dbi dbi_xattrs;        /* bbd_xattr.c */
	MDB_dbi dbi_inodes;         /* hard-linked inodes (bbd_inode.c) */
	uint64_t meta_alloc;       /* LMDB file bytes fallocated; under
	                            * LMDB's writer lock, see bbd_meta.c */
	int dirfd;                 /* the instance directory (follows renames) */
	int datafd;                /* its data/ directory */
	atomic_uint_fast64_t used; /* bytes of object files (st_blocks) */
	bool destroyed;            /* set once, under bbd->admin_lock */
	char trash[64];            /* its name under instances/ once destroyed */
	/* open object files, see bbd_data.c */
	pthread_mutex_t obj_lock;  /* protects the cache below */
	struct bbd_obj **obj_tab;
	unsigned obj_tab_size;
	unsigned obj_count;
	struct bbd_obj *lru_head, *lru_tail;
	struct bbd_inst *next;     /* registry list, under bbd->reg_lock */
	struct bbd_locktab *locks; /* bbd_lock.c, under its lockd->mu */
};

/* ---- limits (bbd_limit.c) ----------------------------------------------- */
/* One authenticated uid's use of this bbd.  Entries are never freed: there
 * are as many as users who ever reached the node, a few thousand at most. */
struct bbd_uid {
	uid_t uid;
	char host[48];             /* the client node's address (numeric) */
	unsigned conns;            /* authenticated connections; limits.lock */
	atomic_uint inflight;      /* requests in flight, any worker */
	struct bbd_uid *next;      /* bucket chain; limits.lock */
};

#define BBD_UID_BUCKETS 256

struct bbd_limits {
	pthread_mutex_t lock;      /* leaf: the table and conns */
	struct bbd_uid *tab[BBD_UID_BUCKETS];
	unsigned nofile;           /* RLIMIT_NOFILE soft limit after raising */
	unsigned max_unauth;       /* resolved conf.max_unauth_conns */
	/* connections by state, for NODE_STATUS "conns" (relaxed atomics) */
	atomic_uint conns_unauth;  /* accepted, not authenticated */
	atomic_uint conns_authed;  /* authenticated */
	atomic_uint conns_busy;    /* authenticated with requests in flight */
	atomic_uint conns_frame;   /* in the middle of a frame (sweep's view) */
	/* closes and refusals since start */
	atomic_uint_fast64_t closed_hello; /* no HELLO by hello_timeout */
	atomic_uint_fast64_t closed_frame; /* frame_timeout */
	atomic_uint_fast64_t closed_idle;  /* idle_timeout */
	atomic_uint_fast64_t shed;         /* too many unauthenticated */
	atomic_uint_fast64_t busy_conns;   /* HELLO refused: max_conns_per_uid */
	atomic_uint_fast64_t busy_inflight;/* refused: max_inflight_per_uid */
	atomic_uint_fast64_t emfile;       /* accept failed for descriptors */
};

/* ---- the daemon ---------------------------------------------------------- */
struct bbd_iopool;
struct bbd_lockd;

/* Opcodes counted per slot (every opcode of proto_ops.h is below it). */
#define BBD_OP_SLOTS 64

struct bbd {
	struct bbd_conf conf;
	struct event_base *base;   /* main thread: listener, signals */
	struct evconnlistener *listener;
	struct event *accept_retry; /* re-enables the listener after EMFILE */
	uint16_t port;
	time_t start_time;
	unsigned next_worker;      /* main thread only */
	struct bbd_worker *workers;
	struct bbd_iopool *io;
	/* instances */
	pthread_rwlock_t reg_lock; /* protects insts */
	struct bbd_inst *insts;
	pthread_mutex_t admin_lock;/* serialises create/destroy; before reg_lock */
	atomic_uint trash_seq;
	int instdirfd;             /* <root>/instances */
	int lockfd;                /* <root>/.bbd.lock, flock'ed while we run */
	/* syncer */
	pthread_t syncer;
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_cond;
	bool sync_stop;            /* protected by sync_lock */
	/* mounts (bbd_mount.c) */
	char *mount_root;          /* conf.mount_root expanded, absolute */
	pthread_mutex_t mount_lock;/* leaf: struct bbd_mount fields, children */
	pthread_cond_t mount_cond; /* a child was reaped, a probe finished */
	struct bbd_mount *children;/* mounts with an unreaped ebb-fuse */
	bool mounts_closed;        /* shutdown: no new mount; admin_lock */
	pthread_t mount_thread;    /* start-up remounts */
	bool mount_thread_started;
	atomic_bool mount_thread_stop;
	/* stages (bbd/stage*.c) */
	struct bbd_stages *stages;
	/* Requests dispatched per opcode since start (NODE_STATUS "ops"):
	 * how many RPCs a client operation costs is what the mount's speed
	 * depends on, and tests count them.  Relaxed atomics, any thread. */
	uint64_t op_count[BBD_OP_SLOTS];
	/* the local socket (bbd_local.c) */
	struct bbd_local *local;   /* NULL: none */
	atomic_uint_fast64_t local_fds;     /* object fds passed */
	atomic_uint_fast64_t local_refused; /* local requests refused */
	/* flood protection (bbd_limit.c) */
	struct bbd_limits limits;
	int reserve_fd;            /* /dev/null, given up to accept at EMFILE;
	                            * main thread; -1 if spent */
	struct bbd_lockd *lockd;   /* the lock service (bbd_lock.c) */
};

/* ---- bbd_net.c ------------------------------------------------------------ */
/* Start the workers and the listener on conf.listen.  Main thread. */
ebb_err bbd_net_start(struct bbd *b, char *err, size_t errlen);
/* Stop accepting, let workers finish in-flight requests, join them. */
void bbd_net_stop(struct bbd *b);
/* Free the workers; after bbd_io_stop(), so no I/O thread can still hand
 * a request back to one. */
void bbd_net_free(struct bbd *b);
/* Hand a finished request back to its worker (any thread). */
void bbd_req_done(struct bbd_req *r);
/* Set an error status with a printf detail; returns status. */
ebb_err bbd_req_fail(struct bbd_req *r, ebb_err status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The request's argument error, as E_PROTO with the decoder's detail. */
ebb_err bbd_req_args(struct bbd_req *r);

/* ---- bbd_limit.c ----------------------------------------------------------- */
/* Raise RLIMIT_NOFILE's soft limit to the hard limit, log it, resolve
 * max_unauth.  Main thread, at start-up, before any thread. */
void bbd_limit_init(struct bbd *b);
void bbd_limit_fini(struct bbd *b);
/* uid is exempt from the per-uid limits and idle close: root, the
 * configured slurm_user and the uid bbd runs as (stage coordinators). */
bool bbd_limit_exempt(const struct bbd *b, uid_t uid);
/* Count a new authenticated connection of uid from the client node at
 * address host: its entry in *ue, or EBB_EBUSY (detail in why) if that
 * uid has max_conns_per_uid connections from there.  Any thread. */
ebb_err bbd_limit_conn_get(struct bbd *b, uid_t uid, const char *host,
			   struct bbd_uid **ue, char *why, size_t whylen);
/* The connection of ue closed. */
void bbd_limit_conn_put(struct bbd *b, struct bbd_uid *ue);
/* Count a request of ue in flight: false (detail in why) if at
 * max_inflight_per_uid (per uid and client node, as connections).  bbd_limit_req_put() once it is answered. */
bool bbd_limit_req_get(struct bbd *b, struct bbd_uid *ue, char *why,
		       size_t whylen);
void bbd_limit_req_put(struct bbd_uid *ue);
/* NODE_STATUS's "conns" and "limits" maps (2 keys of the status map). */
void bbd_limit_status(struct bbd *b, struct proto_enc *res);
/* CLOCK_MONOTONIC in ms. */
uint64_t bbd_mono_ms(void);

/* ---- bbd_io.c --------------------------------------------------------------- */
ebb_err bbd_io_start(struct bbd *b, unsigned nthreads);
/* Run fn(r) on an I/O thread, then bbd_req_done(r).  Any thread. */
void bbd_io_submit(struct bbd *b, struct bbd_req *r, bbd_handler_fn fn);
/* Finish queued work and join the threads. */
void bbd_io_stop(struct bbd *b);

/* ---- bbd_inst.c --------------------------------------------------------------- */
/* Reopen every instance under <root>/instances, remove trash.  Start-up. */
ebb_err bbd_inst_init(struct bbd *b, char *err, size_t errlen);
/* Sync and close every instance.  Shutdown, single-threaded. */
void bbd_inst_fini(struct bbd *b);
/* Find an instance and take a reference; NULL if absent.  Any thread. */
struct bbd_inst *bbd_inst_get(struct bbd *b, const char *id, size_t len);
/* Whether uid may use inst's data and names (every request naming an
 * instance, local reads): root or the instance's owner. */
bool bbd_inst_may_use(const struct bbd_inst *inst, uid_t uid);
void bbd_inst_unref(struct bbd_inst *inst);
/* Sum of capacities and of used bytes over instances; their count. */
void bbd_inst_totals(struct bbd *b, uint64_t *reserved, uint64_t *used,
		     unsigned *count);
/* mdb_env_sync every instance (the syncer thread and shutdown). */
void bbd_inst_sync_all(struct bbd *b);
ebb_err bbd_op_inst_create(struct bbd_req *r);
ebb_err bbd_op_inst_destroy(struct bbd_req *r);
ebb_err bbd_op_inst_list(struct bbd_req *r);
ebb_err bbd_op_inst_get(struct bbd_req *r);
ebb_err bbd_op_node_status(struct bbd_req *r);

/* ---- bbd_mount.c --------------------------------------------------------------- */
/* Expand mount_root, kill ebb-fuse processes a previous bbd left, detach
 * stale fuse.ebb mounts under mount_root and remove mount point dirs.
 * Main thread, at start-up, after the instances are reopened. */
ebb_err bbd_mount_recover(struct bbd *b, char *err, size_t errlen);
/* Start a thread that mounts again every instance that asked for a mount
 * (the listener must be up: ebb-fuse talks to this node too).  Main. */
void bbd_mount_start_thread(struct bbd *b);
/* Shutdown: stop that thread, then unmount everything; no mount starts
 * after this.  Main thread, before bbd_net_stop(). */
void bbd_mount_fini(struct bbd *b);
/* Mount inst on <mount_root>/<id> and start ebb-fuse; returns once the
 * mount answers (EBB_OK, state MOUNTED) or has been taken down again
 * (error, state FAILED, why filled).  Blocking: an I/O thread or the
 * mount thread, with bbd->admin_lock held. */
ebb_err bbd_mount_start(struct bbd_inst *inst, char *why, size_t whylen);
/* Unmount (lazily if busy), stop our ebb-fuse, remove the mount point.
 * Never fails; logs.  Same threads and lock as bbd_mount_start(). */
void bbd_mount_stop(struct bbd_inst *inst);
/* Reap exited ebb-fuse children (a mounted one becomes FAILED).  Any
 * thread; takes mount_lock. */
void bbd_mount_reap(struct bbd *b);
/* The mount's state name, path (malloc'd, NULL if no mount asked) and
 * failure reason, consistent with each other.  Any thread. */
const char *bbd_mount_state_name(enum bbd_mount_state s);
void bbd_mount_info(struct bbd_inst *inst, enum bbd_mount_state *state,
		    char *path, size_t pathlen, char *why, size_t whylen);
/* Counts of MOUNTED and FAILED mounts, for NODE_STATUS. */
void bbd_mount_counts(struct bbd *b, unsigned *mounted, unsigned *failed);

/* ---- bbd_meta.c ---------------------------------------------------------------- */
/* Open (create if asked) the LMDB environment of inst in its dirfd. */
ebb_err bbd_meta_open(struct bbd_inst *inst, const char *path, bool create,
		      char *err, size_t errlen);
/* Write the root dentry (INST_CREATE, on the node that owns it). */
ebb_err bbd_meta_put_root(struct bbd_inst *inst, uint32_t uid, uint32_t gid);
/* Dentries on this node. */
uint64_t bbd_meta_files(struct bbd_inst *inst);
ebb_err bbd_op_lookup(struct bbd_req *r);
ebb_err bbd_op_create(struct bbd_req *r);
ebb_err bbd_op_mkdir(struct bbd_req *r);
ebb_err bbd_op_symlink(struct bbd_req *r);
ebb_err bbd_op_unlink(struct bbd_req *r);
ebb_err bbd_op_rmdir(struct bbd_req *r);
ebb_err bbd_op_has_children(struct bbd_req *r);
ebb_err bbd_op_readdir(struct bbd_req *r);
ebb_err bbd_op_setattr(struct bbd_req *r);
ebb_err bbd_op_size_update(struct bbd_req *r);
ebb_err bbd_op_rename_local(struct bbd_req *r);
ebb_err bbd_op_link_insert(struct bbd_req *r);
ebb_err bbd_op_statfs(struct bbd_req *r);
/* Make sure the LMDB file is allocated ahead of the next writes (see
 * bbd_meta.c); in a write transaction.  Returns 0 or an errno. */
int bbd_meta_prealloc(struct bbd_inst *inst);

/* ---- bbd_xattr.c ----------------------------------------------------------------- */
/* Names and values of one inode, at most (ENOSPC beyond). */
#define BBD_XATTR_INODE_MAX (1u << 20)
ebb_err bbd_op_setxattr(struct bbd_req *r);
ebb_err bbd_op_getxattr(struct bbd_req *r);
ebb_err bbd_op_listxattr(struct bbd_req *r);
ebb_err bbd_op_removexattr(struct bbd_req *r);
/* Delete every xattr of ino if this node is its home (else nothing), in
 * txn (a write transaction of the caller), or with txn NULL in a
 * transaction of its own, taken only if ino has any.  Returns 0 or an
 * LMDB error.  Workers and I/O threads. */
int bbd_xattr_drop(struct bbd_inst *inst, MDB_txn *txn, uint64_t ino);
/* ---- bbd_inode.c: hard links (docs/internals/hardlinks.md) ------------- */
ebb_err bbd_op_inode_get(struct bbd_req *r);
ebb_err bbd_op_inode_setattr(struct bbd_req *r);
ebb_err bbd_op_inode_size_update(struct bbd_req *r);
ebb_err bbd_op_inode_adopt(struct bbd_req *r);
ebb_err bbd_op_inode_link(struct bbd_req *r);
ebb_err bbd_op_inode_unlink(struct bbd_req *r);
ebb_err bbd_op_dent_to_ptr(struct bbd_req *r);
ebb_err bbd_op_dir_touch(struct bbd_req *r);

/* ---- bbd_data.c ------------------------------------------------------------------ */
/* Compute inst->used by scanning data/ (open).  Blocking. */
ebb_err bbd_data_scan(struct bbd_inst *inst);
/* Close every cached object fd (instance teardown). */
void bbd_data_close_all(struct bbd_inst *inst);
ebb_err bbd_op_write(struct bbd_req *r);
ebb_err bbd_op_read(struct bbd_req *r);
/* A READ of at most BBD_READ_INLINE_MAX bytes whose object is already open
 * and whose bytes are all in the page cache, served on the worker with
 * preadv2(RWF_NOWAIT): true if it was (r is ready to reply), false (r
 * untouched) if it must go to the I/O pool, where bbd_op_read serves it. */
bool bbd_read_try_inline(struct bbd_req *r);
/* Local writes (bbd_local.c): ino's object, made if absent, with a
 * reference that keeps it (and the block count bbd last saw, which
 * bbd_data_waccount brings up to date) until bbd_data_wput.  *fd is the
 * object's own fd: pass it, do not close it.  Blocking (opens a file). */
ebb_err bbd_data_wget(struct bbd_inst *inst, uint64_t ino,
		      struct bbd_obj **o, int *fd);
void bbd_data_waccount(struct bbd_inst *inst, struct bbd_obj *o);
void bbd_data_wput(struct bbd_inst *inst, struct bbd_obj *o);
/* An object file's name in the instance's data directory: the inode as 16
 * hex digits (buf: at least BBD_OBJ_NAME_MAX bytes). */
#define BBD_OBJ_NAME_MAX 24
void bbd_obj_name(char *buf, size_t size, uint64_t ino);
#define BBD_READ_INLINE_MAX (64u * 1024)
ebb_err bbd_op_truncate(struct bbd_req *r);
ebb_err bbd_op_fsync(struct bbd_req *r);
ebb_err bbd_op_remove(struct bbd_req *r);
/* Delete ino's object file (if any) and give its blocks back to the
 * instance's capacity: REMOVE's work, also done by UNLINK with the DATA
 * flag.  Returns 0 or an errno.  Blocking: I/O threads only. */
int bbd_data_remove(struct bbd_inst *inst, uint64_t ino);
/* Write buf[0..len) at off of ino's object file through the same fd cache
 * and capacity accounting as WRITE (EBB_ENOSPC when the node's share of
 * the instance is full, EBB_EFBIG past 2^44).  Blocking: I/O threads and
 * the stager threads, never a worker. */
ebb_err bbd_data_pwrite(struct bbd_inst *inst, uint64_t ino, const void *buf,
			size_t len, uint64_t off);
/* Read [off, off+len) of ino's object file into buf; holes and bytes past
 * the end (or no object at all) read as zeros.  Blocking, as above. */
ebb_err bbd_data_pread(struct bbd_inst *inst, uint64_t ino, void *buf,
		       size_t len, uint64_t off);

/* ---- stage.c (and stage_plan.c, stage_xfer.c) ---------------------------------- */
/* The registry and the stager thread.  Main thread, before the listener. */
ebb_err bbd_stage_init(struct bbd *b, char *err, size_t errlen);
/* Start the coordinators of stages that did not finish (rank 0 of their
 * instance); the listener must be up.  Main thread. */
void bbd_stage_resume(struct bbd *b);
/* inst is being destroyed: stop its stages here.  I/O thread. */
void bbd_stage_inst_gone(struct bbd *b, struct bbd_inst *inst);
/* Stop and join every stage thread (they resume at the next start). */
void bbd_stage_fini(struct bbd *b);
ebb_err bbd_op_stage_start(struct bbd_req *r);
ebb_err bbd_op_stage_status(struct bbd_req *r);
ebb_err bbd_op_stage_retry(struct bbd_req *r);
ebb_err bbd_op_stage_cancel(struct bbd_req *r);
ebb_err bbd_op_stage_work(struct bbd_req *r);
ebb_err bbd_op_stage_poll(struct bbd_req *r);

/* ---- bbd_local.c ------------------------------------------------------------------ */
/* Bind conf.local_socket and start its thread.  A failure only logs: the
 * clients then read over TCP.  Main thread, before the listener. */
void bbd_local_start(struct bbd *b);
/* Stop the thread, close every local connection, unlink the socket. */
void bbd_local_stop(struct bbd *b);
/* What HELLO's reply tells a client about it: false if there is none. */
bool bbd_local_info(struct bbd *b, const char **path, const char **token);

/* ---- bbd.c ------------------------------------------------------------------------ */
/* HELLO's credential check, run on an I/O thread. */
ebb_err bbd_op_hello(struct bbd_req *r);
ebb_err bbd_op_ping(struct bbd_req *r);

/* Now, in nanoseconds since the epoch. */
int64_t bbd_now_ns(void);

/* ---- bbd_lock.c: the lock service ------------------------------------------ */
#define BBD_LOCK_LEASE_MS 15000
/* Start the service thread (leases, parked requests).  Main, at start. */
ebb_err bbd_lock_init(struct bbd *b);
/* Answer every parked request "try again" and stop the thread; requests
 * that would park after this are answered at once.  Main, before
 * bbd_net_stop(). */
void bbd_lock_stop(struct bbd *b);
/* Free everything (after bbd_inst_fini). */
void bbd_lock_fini(struct bbd *b);
/* inst is being destroyed: answer its parked requests.  Any thread. */
void bbd_lock_inst_gone(struct bbd_inst *inst);
/* inst's last reference went: free its table.  Any thread. */
void bbd_lock_inst_free(struct bbd_inst *inst);
/* NODE_STATUS's "locks" map (1 key of the status map): what is held and
 * parked now on this node, and counts since start. */
void bbd_lock_status(struct bbd *b, struct proto_enc *res);
/* LOCK may park r (r->parked): it is then answered later. */
ebb_err bbd_op_lock(struct bbd_req *r);
ebb_err bbd_op_getlk(struct bbd_req *r);
ebb_err bbd_op_lock_cancel(struct bbd_req *r);
ebb_err bbd_op_lock_renew(struct bbd_req *r);
ebb_err bbd_op_lock_release(struct bbd_req *r);

/* ---- payload buffers (bbd_buf.c) ------------------------------------------- */
/* A buffer of at least len bytes (NULL if len is 0 or out of memory), from
 * the cache of freed ones if it has one of len's size class.  Any thread. */
void *bbd_buf_get(size_t len);
/* Give back a buffer bbd_buf_get(len) returned, with the same len. */
void bbd_buf_put(void *p, size_t len);
void bbd_buf_stats(uint64_t *cached, uint64_t *maps, uint64_t *reuses);
/* Unmap every cached buffer (at exit, so that leak checkers stay quiet). */
void bbd_buf_fini(void);

#endif
