/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb's RPC engine: connections to bbds, pipelined requests, deadlines.
 *
 * DESIGN: a struct ebb_net is the set of connections to one ordered member
 * list (an instance's nodes, or the nodes an admin call talks to).  There
 * are up to cfg.conns_per_node TCP connections per member, each opened on
 * first use; a calling thread always uses the same one of them (its slot),
 * so its requests to a node stay in order and bbd, which serves one
 * connection with one worker thread, spreads the threads of one ebb_t over
 * several workers.  A request is
 * a struct ebb_req owned by the caller (often an array of them: one call's
 * batch); the caller encodes its header with req_begin() + proto_put_*(),
 * then net_issue() registers it in the connection's pending table (keyed by
 * msgid) and sends it.  Whoever holds a connection's read side (its
 * "reader") reads reply frames, matches them by msgid and completes the
 * request: the reply header is kept decoded in the request, and a READ
 * payload goes straight into the buffer the caller gave (no copy).
 * Completions are pushed onto the caller's struct ebb_waiter, on which the
 * caller sleeps with a CLOCK_MONOTONIC deadline.  So one thread may have
 * thousands of requests in flight on all nodes at once, and any number of
 * threads may share the connections.
 *
 * Leader/follower: a caller waiting for a single request (every namespace
 * call) takes the read side itself if nobody holds it, and reads until its
 * own reply is in, completing the others' replies it meets on the way; then
 * it hands the read side to a follower (a caller sleeping on that
 * connection), or to the connection's receiver thread if replies are still
 * due and nobody waits.  So a reply costs one wake-up (the caller's own)
 * instead of two (receiver, then caller).  Callers with many requests in
 * flight (striped I/O) leave the reading to the receiver thread, which also
 * watches an idle connection for the peer closing it.
 *
 * Failure: EOF or a reset fails every pending request of that connection
 * with EIO and marks it dead; the next request reconnects (a restarted bbd
 * is usable again).  A request that gets no reply within the timeout is
 * taken out of the pending table (a late reply is read and dropped) and
 * fails with ETIMEDOUT.  If the reader is in the middle of reading that
 * reply's payload into the caller's buffer, the connection is shut down
 * instead: the buffer must not be written after the call returned, and a
 * node that stalls mid-frame is broken anyway.  A calling reader waits for
 * a frame to begin until its own deadline, then for the rest of a frame
 * that began at most one more timeout (so a node that stalls mid-frame can
 * make that call last up to twice the timeout) before it kills the
 * connection.  Sends are bounded by SO_SNDTIMEO, connects by a non-blocking
 * connect + poll, so nothing waits longer than that per round trip.
 *
 * Locks (order: send_lock -> conn lock -> waiter mu):
 *   conn->send_lock  one frame on the wire at a time;
 *   conn->lock       state, fd, the pending table, req->state, who the
 *                    reader is, the follower list;
 *   waiter->mu       the done list, req->done.
 * The read side (the socket's receiving half and its read buffer) is owned
 * by the one reader, not by a lock; only the reader declares a connection
 * dead.
 */
#ifndef EBB_CONN_INT_H
#define EBB_CONN_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ebb/ebb.h"
#include "err.h"
#include "proto.h"

struct ebb_conn;

/* Settings shared by every call on a net (from ebb_options + environment). */
struct ebb_cfg {
	unsigned timeout_ms;
	char *munge_socket;        /* NULL: $EBB_MUNGE_SOCKET / libmunge default */
	size_t window;             /* bytes in flight per node */
	unsigned conns_per_node;   /* $EBB_CONNS_PER_NODE, 1..16, default
				    * the CPUs, 2..8 (cfg.c) */
	size_t write_behind;       /* $EBB_WRITE_BEHIND: unacknowledged write
				    * bytes per open inode, default 32 MiB;
				    * 0: every write waits (file.c) */
	size_t write_gather;       /* $EBB_WRITE_GATHER: consecutive small
				    * writes of a handle are gathered into one
				    * WRITE of up to this many bytes, default
				    * 1 MiB, at most write_behind; 0: none
				    * (stream.c) */
	size_t read_ahead;         /* $EBB_READ_AHEAD: largest read-ahead
				    * window per handle, default 16 MiB; 0:
				    * none (stream.c) */
	int short_circuit;         /* $EBB_SHORT_CIRCUIT: 0 off, 1 on (the
				    * default), 2 on and every fallback to
				    * TCP said on stderr (local.c) */
	int local_writes;          /* $EBB_LOCAL_WRITES: 1 (default) writes
				    * go to object fds too (file.c); 0 reads
				    * only; needs short_circuit */
};

/* What a member's bbd offered in its HELLO reply for local reads, and the
 * Unix connection to it (local.c). */
struct net_local;

/* Where a caller sleeps until its requests complete. */
struct ebb_waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ebb_req *head, *tail; /* completed, not yet taken; protected by mu */
	unsigned busy;               /* issued, not completed; protected by mu */
	uint64_t start_ms;           /* CLOCK_MONOTONIC ms at waiter_init: a node
				      * whose connect failed since then is not
				      * retried for this caller's requests */
	/* leader/follower (conn.c) */
	struct ebb_conn *conn;       /* of its only request while !bulk; mu */
	bool bulk;                   /* several in flight: the receiver reads
				      * for it; mu */
	bool async;                  /* always bulk (waiter_init_async) */
	bool offered;                /* handed the read side of conn; mu */
	bool following;              /* on conn's follower list; conn lock */
	struct ebb_waiter *fnext;    /* that list; conn lock */
};

enum req_state { REQ_OFF, REQ_PENDING, REQ_CLAIMED };

struct ebb_req {
	/* set by the caller (req_begin and after) */
	unsigned node;
	uint32_t op;
	void *rbuf;                /* READ: the payload lands here ... */
	size_t rcap;               /* ... at most this many bytes */
	uint64_t tag;              /* free for the caller (chunk length...) */
	struct proto_enc enc;      /* the request header being built */
	bool has_enc;

	/* results, valid once completed */
	ebb_err status;            /* server status or a transport error */
	bool has_dec;              /* dec holds the reply, at the first result */
	struct proto_dec dec;
	void *hbuf;                /* reply header bytes dec points into */
	uint32_t plen;             /* payload bytes received into rbuf */

	/* engine-private */
	uint64_t msgid;
	enum req_state state;      /* protected by conn->lock */
	bool done;                 /* protected by waiter->mu */
	struct ebb_conn *conn;
	struct ebb_waiter *w;
	struct ebb_req *hnext;     /* pending chain */
	struct ebb_req *dnext;     /* waiter's done list */
};

struct ebb_net {
	struct ebb_cfg cfg;
	unsigned n;
	unsigned per;              /* connections per member (cfg) */
	struct ebb_conn **conns;   /* n * per: member i's are [i*per, i*per+per) */
	uint64_t next_msgid;       /* atomic */
	struct net_local *local;   /* n of them (local.c) */
	int local_all;             /* atomic: 0 not known yet, 1 every member
				    * serves local reads, 2 not all (local.c) */
	/* counters (atomic), for tests and debugging: */
	uint64_t runs;             /* net_run() calls: round trips waited */
	uint64_t local_bytes;      /* bytes read from passed fds */
	uint64_t local_opens;      /* object fds received */
	uint64_t local_wbytes;     /* bytes written to passed fds */
	uint64_t local_fallbacks;  /* members found unusable for local reads */
};

/* Fill cfg from opts (may be NULL) and the environment ($EBB_TIMEOUT_MS,
 * $EBB_MUNGE_SOCKET, $EBB_CONNS_PER_NODE, $EBB_WRITE_BEHIND,
 * $EBB_WRITE_GATHER, $EBB_READ_AHEAD).  cfg_fini() frees what it holds. */
ebb_err cfg_init(struct ebb_cfg *cfg, const struct ebb_options *opts);
void cfg_fini(struct ebb_cfg *cfg);

/* Set up a net over members (copied).  No connection is made.  Takes over
 * *cfg (its strings), which the caller must not free on success. */
ebb_err net_init(struct ebb_net *net, const char *const *members,
		 unsigned n, struct ebb_cfg *cfg);
/* Close every connection, join the receivers, free everything.  No request
 * may be in flight. */
void net_fini(struct ebb_net *net);
const char *net_addr(const struct ebb_net *net, unsigned node);
/* Why the last connect to node failed ("connect: Connection refused"), or
 * "" if the node is not known to be down. */
void net_why(const struct ebb_net *net, unsigned node, char *buf,
	     size_t size);

/* Make sure the connections to nodes[0..k) (all nodes if nodes is NULL; k
 * is then net->n) are up: connects and says HELLO to all of them in
 * parallel, bounded by the timeout.  A node whose last connect attempt
 * started at or after since_ms (0: never) is not tried again: its error is
 * returned at once, so a dead node costs one timeout per call, not one per
 * request.  errs (k entries, may be NULL) gets each node's result; returns
 * the first error. */
ebb_err net_connect(struct ebb_net *net, const unsigned *nodes, unsigned k,
		    ebb_err *errs, uint64_t since_ms);

void waiter_init(struct ebb_waiter *w);
/* A waiter whose requests stay in flight while its owner does other
 * things (write-behind, read-ahead): the receiver threads read all its
 * replies, even a single one, and waiter_poll() collects them. */
void waiter_init_async(struct ebb_waiter *w);
/* A new call starts on a long-lived waiter: nodes whose connect failed
 * before now may be tried again for its requests. */
void waiter_restart(struct ebb_waiter *w);
void waiter_fini(struct ebb_waiter *w);

/* Start request r to node with opcode op and nargs arguments: clears r,
 * picks a msgid and opens the header; add the arguments with proto_put_*
 * on &r->enc, then issue it. */
struct proto_enc *req_begin(struct ebb_net *net, struct ebb_req *r,
			    unsigned node, uint32_t op, unsigned nargs);
/* Free what a completed (or never issued) request holds.  Idempotent. */
void req_release(struct ebb_req *r);
/* The detail string of an error reply (may be ""), into buf. */
void req_detail(const struct ebb_req *r, char *buf, size_t size);

/* Send r (begun with req_begin) with an optional raw payload (borrowed
 * until the call returns).  Connects if needed.  Never fails directly: a
 * request that cannot be sent completes at once with its error. */
void net_issue(struct ebb_net *net, struct ebb_waiter *w, struct ebb_req *r,
	       const void *payload, size_t plen);

/* The next completed request of w, or NULL if w has none in flight, or
 * none completed within timeout_ms (then *timed_out is set). */
struct ebb_req *waiter_next(struct ebb_waiter *w, unsigned timeout_ms,
			    bool *timed_out);
/* A completed request of w, or NULL at once if none is. */
struct ebb_req *waiter_poll(struct ebb_waiter *w);
/* Withdraw every request of reqs[0..n) that is still in flight (they
 * complete with ETIMEDOUT or EIO) and wait until none is.  The done list
 * is emptied: the caller looks at its requests' status. */
void waiter_cancel(struct ebb_waiter *w, struct ebb_req *reqs, unsigned n);
/* The same in two steps, for requests that are not in one array:
 * req_withdraw() each, then waiter_cancel_wait(). */
void req_withdraw(struct ebb_waiter *w, struct ebb_req *r);
void waiter_cancel_wait(struct ebb_waiter *w);

/* Issue reqs[0..n) (all begun) and wait for all of them.  Consecutive
 * requests to one node have their frames sent together (sort them by node
 * to get that).  Returns EBB_OK, the first request's error in index order,
 * or ETIMEDOUT.  Each request's status tells its own result; the caller
 * releases them. */
ebb_err net_run(struct ebb_net *net, struct ebb_req *reqs, unsigned n);

/* ---- local reads (local.c) ----------------------------------------------- */
/* The local state of n members, all "not offered".  NULL: no memory. */
struct net_local *local_new(unsigned n);
/* Close the Unix connections and free. */
void local_free(struct net_local *l, unsigned n);
/* The rest of member node's good HELLO reply, d just past its version:
 * the node name, then the optional local-socket offer (path, token,
 * bbd's uid; docs/protocol.md "Local reads").  Anything unexpected there
 * only means no offer; a new offer (a restarted bbd) forgets the old
 * one.  Called by conn.c's connect loop. */
void local_hello(struct ebb_net *net, unsigned node, struct proto_dec *d);
/* A read-only fd of ino's object file on member node of instance id,
 * passed by that member's bbd: EBB_OK and *fd (the caller closes it),
 * EBB_ENOENT if the object does not exist (a hole: zeros), another error
 * if this member cannot serve local reads (use TCP).  Blocks for one round
 * trip on the local socket (connecting first if needed).  Any thread. */
ebb_err local_open(struct ebb_net *net, unsigned node, const char *id,
		   uint64_t ino, int *fd);
/* Local writes (file.c): a writable fd of ino's object on member node
 * (the caller closes it; the object is made if absent) and the generation
 * of the local connection it was given on; EBB_E_BADOP (or another error)
 * if this member cannot (write over TCP).  Then LOCAL_RESERVE bytes of the
 * instance's capacity on that node before writing them (EBB_ENOSPC: full;
 * EBB_ESTALE: the connection was renewed since gen, open again), and at
 * the handle's close LOCAL_SETTLE what it reserved in all (bbd accounts
 * the blocks written and gives the reservation back; nothing to do if the
 * connection was renewed: bbd settled it when it ended). */
ebb_err local_open_write(struct ebb_net *net, unsigned node,
			 const char *id, uint64_t ino, int *fd, uint64_t *gen);
ebb_err local_reserve(struct ebb_net *net, unsigned node, const char *id,
		      uint64_t ino, uint64_t bytes, uint64_t gen);
void local_settle(struct ebb_net *net, unsigned node, const char *id,
		  uint64_t ino, uint64_t bytes, uint64_t gen);
/* Whether every member serves local reads (probes them once). */
bool local_all(struct ebb_net *net);
/* The offer of member node (tests): false if none. */
bool local_offered(struct ebb_net *net, unsigned node, char *path,
		   size_t psize, char *token, size_t tsize);

#endif
