/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb-fuse: the mount's context and the FUSE operation table. */
#ifndef EBB_FUSE_OPS_H
#define EBB_FUSE_OPS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "fuse_int.h"

#define FZ_MAX_IO (1024 * 1024)    /* max_write and read size */

/* One mount: set up by main before the session starts, read-only after
 * (the table has its own lock). */
struct fz {
	ebb_t *h;
	uid_t owner;               /* the instance's owner */
	uid_t self;                /* the uid ebb-fuse runs as */
	bool wb;                   /* the kernel's writeback cache is on */
	struct fz_itab itab;
	bool sync_writes;          /* --sync-writes: every open O_DSYNC (each
				    * WRITE answers once the nodes have it);
				    * else libebb's write-behind, gathering */
	struct fuse_session *se;   /* for notifications (set before the loop) */
};

extern const struct fuse_lowlevel_ops fz_ops;

#endif
