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
	/* What the kernel's inode believes (its size in both modes; the
	 * rest in writeback mode only, see itab_entry), the generation it
	 * was given, opens on this node. */
	bool kvalid;               /* ksize/kmtime are set */
	bool reval;                /* an OPEN failed ESTALE to renew it */
	bool renewed;              /* the LOOKUP after that came */
	uint32_t opens;
	uint64_t gen;
	uint64_t ksize;
	int64_t kmtime_ns;
	/* Writeback mode: the link count the kernel's inode has (it takes
	 * it from every reply, and changes it itself at a link or unlink
	 * here).  Another node's link/unlink changes it, and the inode's
	 * ctime, which the kernel keeps as its own: see _stale_locked. */
	uint32_t knlink;
	struct ebb_stat kst;       /* the last attributes replied for it */
	/* A directory's mode and group as last replied (entries, getattr,
	 * setattr): the setgid rule of a create in it (ops.c _new_owner). */
	bool dknown;
	uint32_t dmode, dgid;
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

/* Directory times (dirtimes.c): the DIR_TOUCHes after namespace changes,
 * coalesced per directory, sent by one thread; and the overlay of their
 * times on this node's attribute replies until they have landed. */
#define FZ_DT_BITS 8
struct fz_dt_ent;
struct fz_dt {
	pthread_mutex_t lock;      /* a leaf: never held with itab.lock */
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stop;
	ebb_t *h;
	struct fz_itab *itab;
	struct fz_dt_ent *bucket[1u << FZ_DT_BITS]; /* by directory inode */
	struct fz_dt_ent *qhead, *qtail;            /* to send, in order */
	size_t n;
	int64_t swept_ms;
	uint64_t noted, sent, failed;               /* counters */
};

int dt_start(struct fz_dt *dt, ebb_t *h, struct fz_itab *itab);
/* Sends what is pending, then stops the thread and frees the table. */
void dt_stop(struct fz_dt *dt);
/* Directory dir had an entry created, removed or renamed at time_ns. */
void dt_changed(struct fz_dt *dt, uint64_t dir, int64_t time_ns);
/* Raise a directory's mtime/ctime in st to the latest noted for it. */
void dt_overlay(struct fz_dt *dt, struct ebb_stat *st);
/* An explicit utimes of dir's mtime: wait for a touch in flight, drop
 * what is pending. */
void dt_cancel(struct fz_dt *dt, uint64_t dir);
/* CLOCK_REALTIME in ns. */
int64_t dt_now_ns(void);

int itab_init(struct fz_itab *t);
void itab_fini(struct fz_itab *t);
/* The kernel got one more reference to ino, found as (parent, name):
 * insert it or update its key (another node may have renamed it). */
int itab_ref(struct fz_itab *t, uint64_t ino, uint64_t parent,
	     const char *name, bool is_dir);
/* Writeback mode (docs/semantics.md "The writeback cache"): the kernel
 * trusts its own size and mtime of a regular file over ours, so a file
 * another node changed is given to it as a new inode, by a new generation
 * number, when the kernel looks it up and no descriptor here holds it.
 * itab_entry does itab_ref and that choice for an entry reply, giving the
 * generation to reply; st is what bbd says now. */
int itab_entry(struct fz_itab *t, uint64_t parent, const char *name,
	       const struct ebb_stat *st, bool wb, uint64_t *gen);
/* OPEN of ino found st on the nodes: 0, or ESTALE when the kernel's inode
 * is out of date and nothing here holds it open (the kernel then looks
 * the name up again and itab_entry renews it).  Counts the open.
 * Default mode: *inval is set when the size the kernel holds for the
 * regular file differs from st's (another node wrote it within the
 * attribute timeout): the caller makes the kernel ask again. */
int itab_open(struct fz_itab *t, uint64_t ino, const struct ebb_stat *st,
	      bool wb, bool *inval);
/* Default mode: the kernel was just given size for ino (GETATTR/SETATTR
 * reply). */
void itab_ksize(struct fz_itab *t, uint64_t ino, uint64_t size);
/* The attributes last replied for ino in an entry (writeback mode): 0,
 * or ENOENT. */
int itab_kstat(struct fz_itab *t, uint64_t ino, struct ebb_stat *st);
/* The attributes st (of st->ino) were just replied to the kernel: a
 * directory's mode and group are kept. */
void itab_attr(struct fz_itab *t, const struct ebb_stat *st);
/* Directory ino's mode and group as last replied: 0, or ENOENT if not
 * known (not in the table, or never replied). */
int itab_dirattr(struct fz_itab *t, uint64_t ino, uint32_t *mode,
		 uint32_t *gid);
/* RELEASE: one open less. */
void itab_release(struct fz_itab *t, uint64_t ino);
/* Writeback mode: the kernel's inode ino now has nlink links (a LINK
 * made here: the kernel sets its own ctime then). */
void itab_knlink(struct fz_itab *t, uint64_t ino, uint32_t nlink);
/* The kernel's size of ino is now size (a truncate), or at least size
 * (grow: a WRITE up to there): what this node did to it itself. */
void itab_sized(struct fz_itab *t, uint64_t ino, uint64_t size, bool grow);
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
