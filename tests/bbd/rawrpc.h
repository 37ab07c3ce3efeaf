/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rawrpc: a bare-hands client of the bbd protocol for the daemon's tests.
 *
 * DESIGN: blocking sockets, one frame per send(2), a 5 s timeout on every
 * read, so a test can send what no real client would and can never hang.
 * Errors that make a test meaningless bail() (tests/tap/tap.h).  Not for
 * production use: libebb is the client.
 */
#ifndef EBB_TESTS_RAWRPC_H
#define EBB_TESTS_RAWRPC_H

#include <stdint.h>

#include "proto.h"

extern char rr_host[256], rr_port[16];

/* rr_host/rr_port from the first entry of $EBB_NODES; -1 if unset. */
int rr_target(void);
/* A connected socket to rr_host:rr_port (bails on failure). */
int rr_connect(void);
int rr_send_all(int fd, const void *buf, size_t len);
int rr_send_frame(int fd, const void *hdr, uint32_t hlen, const void *payload,
		  uint32_t plen);
/* Exactly len bytes: 1 done, 0 EOF/reset, -1 timeout. */
int rr_recv_all(int fd, void *buf, size_t len);

struct rr_reply {
	uint64_t msgid;
	uint32_t op;
	ebb_err status;
	char detail[128];
	uint8_t *hdr;      /* the header bytes; free with rr_reply_free() */
	uint8_t *payload;  /* plen bytes (READ data) */
	uint32_t hlen, plen;
};
/* One reply: 1 got it, 0 closed, -1 timeout or garbage. */
int rr_recv_reply(int fd, struct rr_reply *r);
void rr_reply_free(struct rr_reply *r);
/* The peer closed within the timeout. */
int rr_closed(int fd);
/* Send the request in e (freed) and return its reply status, -1 if none
 * or another msgid came back.  r keeps the reply (rr_reply_free()). */
long rr_call(int fd, struct proto_enc *e, uint64_t msgid, struct rr_reply *r);
long rr_hello_with(int fd, uint32_t version, const char *cred);
/* A MUNGE credential for this process (malloc'd). */
char *rr_cred(void);
/* HELLO with a good credential: 1 if accepted. */
int rr_hello(int fd);
long rr_ping(int fd, uint64_t msgid);

#endif
