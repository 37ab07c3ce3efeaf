/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb-fuse internals: the mount's context and its inode table.
 *
 * Locks: itab.lock protects the table (a leaf lock: nothing else is taken
 * under it, and no RPC is made while holding it); a directory handle's
 * lock protects its listing.  libebb calls are made with no lock held.
 */
#ifndef EBB_FUSE_INT_H
#define EBB_FUSE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ebb/ebb.h"

#define FZ_NAME_MAX 255

/* One inode the kernel knows (it holds nlookup references to it). */
struct fz_inode {
	uint64_t ino;
	uint64_t parent;           /* its dentry key in ebb: (parent, name); */
	char *name;                /* (0, "") for the root */
	uint64_t nlookup;          /* references the kernel holds */
	bool is_dir;
	bool gone;                 /* unlinked or replaced: no key any more */
	struct fz_inode *inext;    /* chain by inode number */
	struct fz_inode *knext;    /* chain by key (not when gone) */
};

struct fz_itab {
	pthread_mutex_t lock;
	size_t nbuckets;           /* power of two; grows with n */
	size_t n;                  /* protected by lock, as all below */
	struct fz_inode **byino;
	struct fz_inode **bykey;
};

int itab_init(struct fz_itab *t);
void itab_fini(struct fz_itab *t);
/* The kernel got one more reference to ino, found as (parent, name):
 * insert it or update its key (another node may have renamed it). */
int itab_ref(struct fz_itab *t, uint64_t ino, uint64_t parent,
	     const char *name, bool is_dir);
/* The kernel dropped n references; the entry goes at 0 (never the root). */
void itab_forget(struct fz_itab *t, uint64_t ino, uint64_t n);
/* The dentry key of ino into *parent, name (FZ_NAME_MAX + 1 bytes).
 * ENOENT if the kernel should not know it, ESTALE if it was unlinked. */
int itab_key(struct fz_itab *t, uint64_t ino, uint64_t *parent, char *name);
/* (parent, name) no longer names anything. */
void itab_unlinked(struct fz_itab *t, uint64_t parent, const char *name);
/* What (op, on) named is now at (np, nn); what was there is gone. */
void itab_renamed(struct fz_itab *t, uint64_t op, const char *on,
		  uint64_t np, const char *nn);
/* The inode numbers from dir up to the root (dir included), malloc'd into
 * *anc (caller frees); the count, or -1 (ENOMEM). */
int itab_ancestry(struct fz_itab *t, uint64_t dir, uint64_t **anc);
/* Parent directory inode of dir (the root's is the root). */
uint64_t itab_parent(struct fz_itab *t, uint64_t dir);

#endif
