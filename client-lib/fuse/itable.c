/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb-fuse's inode table: FUSE inode number -> ebb dentry key, nlookup.
 *
 * DESIGN: FUSE inode numbers are ebb's own (the root is 1 on both sides),
 * so no number translation is needed; what FUSE does not give us is the
 * dentry key (parent, name) an ebb operation on the inode itself needs
 * (getattr, setattr, open, readlink).  The table remembers it for every
 * inode the kernel holds a reference to, counted as the kernel counts
 * (lookup/create/mkdir/symlink/readdirplus entries +1, forget -n), and
 * drops the entry at zero as libfuse's nlookup rules say.  A second index
 * by key lets unlink and rename update it without an RPC.  Because the
 * kernel holds references to every ancestor of an inode it knows, the
 * parent chain of a directory is always here: rename's "not into its own
 * subtree" check is made from it.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuse_int.h"

static size_t _hino(uint64_t ino, size_t nb)
{
	ino ^= ino >> 33;
	ino *= 0xff51afd7ed558ccdULL;
	ino ^= ino >> 33;
	return (size_t)(ino & (nb - 1));
}

static size_t _hkey(uint64_t parent, const char *name, size_t nb)
{
	uint64_t h = 1469598103934665603ULL ^ parent;

	for (; *name; name++) {
		h ^= (unsigned char)*name;
		h *= 1099511628211ULL;
	}
	return _hino(h, nb);
}

int itab_init(struct fz_itab *t)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = 1024;
	t->byino = calloc(t->nbuckets, sizeof(*t->byino));
	t->bykey = calloc(t->nbuckets, sizeof(*t->bykey));
	if (!t->byino || !t->bykey) {
		free(t->byino);
		free(t->bykey);
		return -1;
	}
	pthread_mutex_init(&t->lock, NULL);
	/* The root: (0, ""), always known, never forgotten. */
	return itab_ref(t, EBB_ROOT_INO, 0, "", true);
}

void itab_fini(struct fz_itab *t)
{
	for (size_t b = 0; b < t->nbuckets; b++) {
		while (t->byino[b]) {
			struct fz_inode *in = t->byino[b];
			t->byino[b] = in->inext;
			free(in->name);
			free(in);
		}
	}
	free(t->byino);
	free(t->bykey);
	pthread_mutex_destroy(&t->lock);
}

static struct fz_inode *_find_locked(struct fz_itab *t, uint64_t ino)
{
	struct fz_inode *in = t->byino[_hino(ino, t->nbuckets)];

	while (in && in->ino != ino)
		in = in->inext;
	return in;
}

static struct fz_inode **_key_slot_locked(struct fz_itab *t, uint64_t parent,
					  const char *name)
{
	struct fz_inode **pp = &t->bykey[_hkey(parent, name, t->nbuckets)];

	for (; *pp; pp = &(*pp)->knext)
		if ((*pp)->parent == parent && strcmp((*pp)->name, name) == 0)
			break;
	return pp;
}

static void _key_unlink_locked(struct fz_itab *t, struct fz_inode *in)
{
	struct fz_inode **pp;

	if (in->gone)
		return;
	pp = &t->bykey[_hkey(in->parent, in->name, t->nbuckets)];
	for (; *pp; pp = &(*pp)->knext)
		if (*pp == in) {
			*pp = in->knext;
			break;
		}
	in->knext = NULL;
}

/* Mark in as having no key any more. */
static void _gone_locked(struct fz_itab *t, struct fz_inode *in)
{
	_key_unlink_locked(t, in);
	in->gone = true;
}

static void _key_link_locked(struct fz_itab *t, struct fz_inode *in)
{
	struct fz_inode **pp = _key_slot_locked(t, in->parent, in->name);

	if (*pp && *pp != in)
		/* Another inode had this name: it was replaced meanwhile. */
		_gone_locked(t, *pp);
	pp = &t->bykey[_hkey(in->parent, in->name, t->nbuckets)];
	in->knext = *pp;
	*pp = in;
	in->gone = false;
}

static void _grow_locked(struct fz_itab *t)
{
	size_t nb = t->nbuckets * 2;
	struct fz_inode **bi = calloc(nb, sizeof(*bi));
	struct fz_inode **bk = calloc(nb, sizeof(*bk));

	if (!bi || !bk) {
		free(bi);
		free(bk);
		return; /* longer chains, still correct */
	}
	for (size_t b = 0; b < t->nbuckets; b++) {
		while (t->byino[b]) {
			struct fz_inode *in = t->byino[b];
			size_t nb_i = _hino(in->ino, nb);
			t->byino[b] = in->inext;
			in->inext = bi[nb_i];
			bi[nb_i] = in;
			if (!in->gone) {
				size_t nb_k = _hkey(in->parent, in->name, nb);
				in->knext = bk[nb_k];
				bk[nb_k] = in;
			}
		}
	}
	free(t->byino);
	free(t->bykey);
	t->byino = bi;
	t->bykey = bk;
	t->nbuckets = nb;
}

static int _ref_locked(struct fz_itab *t, uint64_t ino, uint64_t parent,
		       const char *name, bool is_dir, struct fz_inode **out)
{
	struct fz_inode *in;

	if ((in = _find_locked(t, ino))) {
		if (in->gone || in->parent != parent ||
		    strcmp(in->name, name) != 0) {
			char *nn = strdup(name);
			if (nn) {
				_key_unlink_locked(t, in);
				free(in->name);
				in->name = nn;
				in->parent = parent;
				_key_link_locked(t, in);
			}
		}
		in->nlookup++;
		*out = in;
		return 0;
	}
	if (!(in = calloc(1, sizeof(*in))) || !(in->name = strdup(name))) {
		free(in);
		return -1;
	}
	if (t->n >= t->nbuckets * 2)
		_grow_locked(t);
	in->ino = ino;
	in->parent = parent;
	in->nlookup = 1;
	in->is_dir = is_dir;
	in->inext = t->byino[_hino(ino, t->nbuckets)];
	t->byino[_hino(ino, t->nbuckets)] = in;
	_key_link_locked(t, in);
	t->n++;
	*out = in;
	return 0;
}

int itab_ref(struct fz_itab *t, uint64_t ino, uint64_t parent,
	     const char *name, bool is_dir)
{
	struct fz_inode *in;
	int rc;

	pthread_mutex_lock(&t->lock);
	rc = _ref_locked(t, ino, parent, name, is_dir, &in);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static int64_t _mtime_ns(const struct ebb_stat *st)
{
	return (int64_t)st->mtime.tv_sec * 1000000000 + st->mtime.tv_nsec;
}

/* Does the kernel's idea of ino differ from st?  The size: the
 * kernel's own mtime of a file written here (set at each write, sent back
 * in a SETATTR before the FLUSH) and the one bbd keeps differ by design,
 * so comparing mtimes would renew every file this node wrote, once, and a
 * renewal races with an open in flight on this node (docs/semantics.md).
 * A file another node rewrote in place keeps its size: its data are still
 * read anew at open (keep_cache = 0); only its mtime can show old here.
 * And the link count of a hard-linked file (one of the counts above 1):
 * a link or unlink on another node changes it and the inode's ctime,
 * which the kernel keeps as its own in this mode and would show old for
 * as long as it holds the inode (tests/fuse/hardlinks-wb.t "a link made
 * on m0: nlink 2 and a newer ctime on m1").  A file with one name never
 * compares here: its count stays 1. */
static bool _stale_locked(const struct fz_inode *in, const struct ebb_stat *st)
{
	return in->kvalid &&
	       (in->ksize != st->size ||
		(in->knlink != st->nlink && (in->knlink > 1 || st->nlink > 1)));
}

static void _attr_locked(struct fz_inode *in, const struct ebb_stat *st)
{
	if (!S_ISDIR(st->mode))
		return;
	in->dknown = true;
	in->dmode = st->mode;
	in->dgid = st->gid;
}

void itab_attr(struct fz_itab *t, const struct ebb_stat *st)
{
	struct fz_inode *in;

	if (!S_ISDIR(st->mode))
		return; /* no lock taken for files' getattrs */
	pthread_mutex_lock(&t->lock);
	if ((in = _find_locked(t, st->ino)))
		_attr_locked(in, st);
	pthread_mutex_unlock(&t->lock);
}

int itab_dirattr(struct fz_itab *t, uint64_t ino, uint32_t *mode,
		 uint32_t *gid)
{
	struct fz_inode *in;
	int rc = ENOENT;

	pthread_mutex_lock(&t->lock);
	if ((in = _find_locked(t, ino)) && in->dknown) {
		*mode = in->dmode;
		*gid = in->dgid;
		rc = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int itab_entry(struct fz_itab *t, uint64_t parent, const char *name,
	       const struct ebb_stat *st, bool wb, uint64_t *gen)
{
	struct fz_inode *in;
	int rc;

	pthread_mutex_lock(&t->lock);
	if ((rc = _ref_locked(t, st->ino, parent, name, S_ISDIR(st->mode),
			      &in)) == 0) {
		_attr_locked(in, st);
		if (wb && S_ISREG(st->mode)) {
			/* A new generation makes the kernel drop the old
			 * inode (it has no descriptor here) and build a new
			 * one from st.  An OPEN asked for it (reval): the
			 * next OPEN takes what it finds. */
			if (in->opens == 0 &&
			    (in->reval || _stale_locked(in, st))) {
				in->gen++;
				in->renewed = in->reval;
				in->reval = false;
			}
			if (in->opens == 0 || !in->kvalid) {
				/* Else the open inode keeps what it has. */
				in->kvalid = true;
				in->ksize = st->size;
				in->kmtime_ns = _mtime_ns(st);
			}
			in->knlink = st->nlink; /* the kernel takes it */
			in->kst = *st;
		} else if (S_ISREG(st->mode)) {
			/* The kernel takes the size of an entry. */
			in->kvalid = true;
			in->ksize = st->size;
		}
		*gen = in->gen;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int itab_open(struct fz_itab *t, uint64_t ino, const struct ebb_stat *st,
	      bool wb, bool *inval)
{
	struct fz_inode *in;
	int rc = 0;

	*inval = false;
	pthread_mutex_lock(&t->lock);
	if ((in = _find_locked(t, ino))) {
		if (!wb && S_ISREG(st->mode) &&
		    (!in->kvalid || in->ksize != st->size)) {
			*inval = true;
			in->kvalid = true;
			in->ksize = st->size;
		}
		if (wb && S_ISREG(st->mode) && in->opens == 0 &&
		    !in->renewed && _stale_locked(in, st)) {
			in->reval = true;
			rc = ESTALE;
		} else {
			in->renewed = false;
			in->opens++;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void itab_release(struct fz_itab *t, uint64_t ino)
{
	struct fz_inode *in;

	pthread_mutex_lock(&t->lock);
	if ((in = _find_locked(t, ino)) && in->opens)
		in->opens--;
	pthread_mutex_unlock(&t->lock);
}

int itab_kstat(struct fz_itab *t, uint64_t ino, struct ebb_stat *st)
{
	struct fz_inode *in;
	int rc = ENOENT;

	pthread_mutex_lock(&t->lock);
	if ((in = _find_locked(t, ino)) && in->kvalid) {
		*st = in->kst;
		st->size = in->ksize;
		rc = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void itab_ksize(struct fz_itab *t, uint64_t ino, uint64_t size)
{
	struct fz_inode *in;

	pthread_mutex_lock(&t->lock);
	if ((in = _find_locked(t, ino)) && !in->is_dir) {
		in->kvalid = true;
		in->ksize = size;
	}
	pthread_mutex_unlock(&t->lock);
}

void itab_knlink(struct fz_itab *t, uint64_t ino, uint32_t nlink)
{
	struct fz_inode *in;

	pthread_mutex_lock(&t->lock);
	if ((in = _find_locked(t, ino)))
		in->knlink = nlink;
	pthread_mutex_unlock(&t->lock);
}

/* A name of in went here: the kernel drops its link count by itself
 * (writeback mode's knlink). */
static void _kunlinked_locked(struct fz_inode *in)
{
	if (in->knlink > 0)
		in->knlink--;
}

void itab_sized(struct fz_itab *t, uint64_t ino, uint64_t size, bool grow)
{
	struct fz_inode *in;

	pthread_mutex_lock(&t->lock);
	if ((in = _find_locked(t, ino)) && in->kvalid &&
	    (!grow || size > in->ksize))
		in->ksize = size;
	pthread_mutex_unlock(&t->lock);
}

void itab_forget(struct fz_itab *t, uint64_t ino, uint64_t n)
{
	struct fz_inode **pp, *in;

	pthread_mutex_lock(&t->lock);
	pp = &t->byino[_hino(ino, t->nbuckets)];
	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->inext;
	if ((in = *pp)) {
		in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
		if (in->nlookup == 0 && ino != EBB_ROOT_INO) {
			_key_unlink_locked(t, in);
			*pp = in->inext;
			free(in->name);
			free(in);
			t->n--;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

int itab_key(struct fz_itab *t, uint64_t ino, uint64_t *parent, char *name)
{
	struct fz_inode *in;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	if (!(in = _find_locked(t, ino)))
		rc = ENOENT;
	else if (in->gone)
		rc = ESTALE;
	else {
		*parent = in->parent;
		strcpy(name, in->name);
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void itab_unlinked(struct fz_itab *t, uint64_t parent, const char *name)
{
	struct fz_inode **pp;

	pthread_mutex_lock(&t->lock);
	pp = _key_slot_locked(t, parent, name);
	if (*pp) {
		_kunlinked_locked(*pp);
		_gone_locked(t, *pp);
	}
	pthread_mutex_unlock(&t->lock);
}

void itab_renamed(struct fz_itab *t, uint64_t op, const char *on,
		  uint64_t np, const char *nn)
{
	struct fz_inode **pp, *in;
	char *copy = strdup(nn);

	pthread_mutex_lock(&t->lock);
	pp = _key_slot_locked(t, np, nn);
	if (*pp) {
		_kunlinked_locked(*pp); /* replaced */
		_gone_locked(t, *pp);
	}
	pp = _key_slot_locked(t, op, on);
	if ((in = *pp)) {
		_key_unlink_locked(t, in);
		if (copy) {
			free(in->name);
			in->name = copy;
			copy = NULL;
			in->parent = np;
			_key_link_locked(t, in);
		} else {
			in->gone = true; /* no memory: forget the key */
		}
	}
	pthread_mutex_unlock(&t->lock);
	free(copy);
}

uint64_t itab_parent(struct fz_itab *t, uint64_t dir)
{
	struct fz_inode *in;
	uint64_t p = EBB_ROOT_INO;

	pthread_mutex_lock(&t->lock);
	if ((in = _find_locked(t, dir)) && !in->gone && in->parent)
		p = in->parent;
	pthread_mutex_unlock(&t->lock);
	return p;
}

int itab_ancestry(struct fz_itab *t, uint64_t dir, uint64_t **anc)
{
	size_t n = 0, cap = 16;
	uint64_t *a = malloc(cap * sizeof(*a));

	if (!a)
		return -1;
	pthread_mutex_lock(&t->lock);
	while (dir) {
		struct fz_inode *in;

		if (n == cap) {
			uint64_t *na = realloc(a, cap * 2 * sizeof(*a));
			if (!na)
				break;
			a = na;
			cap *= 2;
		}
		a[n++] = dir;
		if (dir == EBB_ROOT_INO || n > 4096)
			break; /* the root, or a loop from a stale key */
		in = _find_locked(t, dir);
		dir = in && !in->gone ? in->parent : 0;
	}
	pthread_mutex_unlock(&t->lock);
	*anc = a;
	return (int)n;
}
