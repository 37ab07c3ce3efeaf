/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What conn.c and connect.c share: the connection itself (conn_int.h has
 * the model and the API the rest of libebb uses). */
#ifndef EBB_CONN_PRIV_H
#define EBB_CONN_PRIV_H

#include <time.h>

#include "conn_int.h"

#define PEND_BUCKETS 256
#define SOCK_BUF (4 * 1024 * 1024)
#define RX_STACK (256 * 1024)
#define RX_BUF (64 * 1024)

enum conn_state { CONN_IDLE, CONN_CONNECTING, CONN_READY, CONN_DEAD };

/* Who holds a connection's read side (see conn_int.h). */
enum reader { RD_NONE, RD_RX, RD_CALLER };

/* The reader's buffer: unread bytes of the stream are b[r..w). */
struct rxbuf {
	uint8_t *b;                /* RX_BUF bytes */
	size_t r, w;
};

struct ebb_conn {
	char *addr;                      /* "host:port", immutable */
	const struct ebb_cfg *cfg;       /* the net's, immutable */
	struct ebb_net *net;             /* immutable */
	unsigned node;                   /* member index, immutable */
	pthread_mutex_t send_lock;
	pthread_mutex_t lock;
	pthread_cond_t cv;               /* state changes */
	enum conn_state state;           /* protected by lock */
	int fd;                          /* protected by lock */
	bool rx_joinable;                /* protected by lock */
	uint64_t fail_ms;                /* start of the last failed connect */
	ebb_err fail_err;                /* and its error; both under lock */
	char fail_why[128];              /* and why, for messages; lock */
	pthread_t rx;
	int efd;                         /* eventfd waking rx; lock */
	enum reader reader;              /* protected by lock */
	bool hup;                        /* rx saw the peer close; lock */
	unsigned npend;                  /* requests in pend; lock */
	struct ebb_waiter *followers;    /* waiting to read; lock */
	/* bbd closes our connection once idle this long (HELLO's 4th
	 * result; 0: never): see _retire_idle().  Both under lock. */
	unsigned idle_ms;
	uint64_t last_ms;                /* last request sent or reply read */
	struct rxbuf rb;                 /* owned by the reader */
	struct ebb_req *pend[PEND_BUCKETS]; /* protected by lock */
};

/* CLOCK_MONOTONIC in ms; an absolute CLOCK_MONOTONIC time ms from now. */
uint64_t conn_now_ms(void);
struct timespec conn_abs_ms(uint64_t ms_from_now);
/* The connection the calling thread uses to talk to node. */
struct ebb_conn *conn_for(const struct ebb_net *net, unsigned node);
/* A connection's receiver thread (conn.c), started once HELLO is done. */
void *conn_rx_main(void *arg);

#endif
