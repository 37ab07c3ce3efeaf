/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb internals for bbd's stage coordinator: STAGE_WORK and STAGE_POLL.
 *
 * DESIGN: the coordinator (an instance's rank-0 bbd, bbd/stage_plan.c)
 * talks to every member of the instance, itself included, over the same
 * connection engine as the file system calls.  A struct ebb_stage_link is
 * a set of connections to the members kept for the life of one stage run;
 * ebb_stage_link_call() sends one request to each of several members in
 * parallel and waits for all replies (each bounded by the timeout).  The
 * work map is encoded by the caller (msgpack bytes, copied into the
 * request as they are), and a reply's map comes back as msgpack bytes the
 * caller unpacks, so this file needs no knowledge of the stage maps.
 */
#ifndef EBB_STAGELINK_INT_H
#define EBB_STAGELINK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ebb/ebb.h"
#include "err.h"

struct ebb_stage_link;

/* Connections to members[0..n) (copied).  NULL with errno on error.  Free
 * with ebb_stage_link_free().  Any thread; not shared between threads. */
struct ebb_stage_link *ebb_stage_link_new(const char *const *members,
					  unsigned n,
					  const struct ebb_options *opts);
void ebb_stage_link_free(struct ebb_stage_link *l);

struct ebb_stage_msg {
	unsigned node;          /* member rank */
	const void *map;        /* STAGE_WORK: the work map (msgpack) */
	size_t maplen;
	/* results */
	ebb_err status;
	char detail[256];       /* "host:port: why" when status != EBB_OK */
	void *reply;            /* STAGE_POLL: the progress map (msgpack),
	                         * malloc'd; the caller frees it */
	size_t replylen;
};

/* Send op (PROTO_OP_STAGE_WORK or PROTO_OP_STAGE_POLL) for stage name of
 * instance inst to msgs[i].node, all at once, and wait for every reply.
 * Returns the first failure (each msgs[i].status says its own). */
ebb_err ebb_stage_link_call(struct ebb_stage_link *l, uint32_t op,
			    const char *inst, const char *name,
			    struct ebb_stage_msg *msgs, unsigned n);

#endif
