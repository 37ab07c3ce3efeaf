/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb path walk: LOOKUP per component, symlinks, the directory cache.
 *
 * DESIGN: a path is resolved from the instance root (inode 1, whose own
 * attributes come from LOOKUP(0, "")) with one LOOKUP per component, each
 * on the node that holds that dentry.  The walk keeps the chain of
 * directories it went through (inode, attributes, dentry key), so ".." is
 * the physical parent, the caller gets the ancestry (rename refuses to move
 * a directory under itself from it), and a path ending at a directory
 * reached through ".." still has the dentry key SETATTR needs.  Symlinks in
 * intermediate components are always followed, in the last one on request;
 * a relative target is taken from the link's directory, an absolute one
 * from the instance root (the instance is its own namespace: "/" inside a
 * target never escapes it); at most MAX_SYMLINK_HOPS (40, as Linux) hops,
 * else ELOOP.  Search (x) permission is checked on every directory crossed.
 *
 * The directory cache remembers LOOKUP results of directories only, for
 * EBB_DCACHE_MS milliseconds (default 1000, 0 disables), so a path walk
 * to a hot directory costs no RPC and a create there costs one.  It is
 * invalidated by this handle's own rmdir/rename/chmod/chown; a directory
 * another client renames, removes or chmods may still be resolved at its
 * old place for up to the TTL (docs/semantics.md).  Files are never cached:
 * their size and times change under other clients' writes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ebb_int.h"
#include "placement.h"

#define DCACHE_MAX 8192

struct dcache_ent {
	uint64_t parent;
	uint64_t expire_ms;
	struct proto_attr a;       /* a directory: no target */
	size_t namelen;
	char name[PROTO_MAX_NAME + 1];
	struct dcache_ent *next;
};

static unsigned _dcache_count(const ebb_t *h);

static uint64_t _mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- attributes ----------------------------------------------------------- */

void attr_own(struct ebb_attr *dst, const struct proto_attr *src)
{
	dst->a = *src;
	dst->a.target = NULL;
	dst->a.target_len = 0;
	dst->target[0] = '\0';
	if (src->target) {
		uint32_t n = src->target_len;
		if (n > PROTO_MAX_TARGET)
			n = PROTO_MAX_TARGET;
		memcpy(dst->target, src->target, n);
		dst->target[n] = '\0';
		dst->a.target = dst->target;
		dst->a.target_len = n;
	}
}

static struct timespec _ts(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	if (ts.tv_nsec < 0) {
		ts.tv_sec--;
		ts.tv_nsec += 1000000000;
	}
	return ts;
}

void attr_to_stat(ebb_t *h, const struct proto_attr *a, struct ebb_stat *st)
{
	uint64_t stripe = 0;

	if (attach_stripe(h, &stripe) != EBB_OK)
		stripe = 0; /* blksize is advice: never fail a stat for it */
	memset(st, 0, sizeof(*st));
	st->ino = a->ino;
	st->mode = a->mode & ~PROTO_MODE_LINKED; /* libebb-internal */
	st->nlink = a->nlink ? a->nlink : 1;
	st->uid = a->uid;
	st->gid = a->gid;
	st->size = a->size;
	/* A device's size is its number (ebb_stat_rdev): no blocks. */
	st->blocks = S_ISCHR(a->mode) || S_ISBLK(a->mode) ? 0 :
		     (a->size + 511) / 512;
	st->blksize = (uint32_t)(stripe ? stripe : 1024 * 1024);
	st->atime = _ts(a->atime_ns);
	st->mtime = _ts(a->mtime_ns);
	st->ctime = _ts(a->ctime_ns);
}

/* ---- access --------------------------------------------------------------- */

static bool _in_group(const ebb_t *h, gid_t gid)
{
	if (gid == h->gid)
		return true;
	for (int i = 0; i < h->ngroups; i++)
		if (h->groups[i] == gid)
			return true;
	return false;
}

ebb_err path_access(const ebb_t *h, const struct proto_attr *a, int want)
{
	unsigned bits;

	if (h->uid == 0) {
		/* root: read/write always, execute if anyone may (dirs: always). */
		if ((want & X_OK) && !S_ISDIR(a->mode) && !(a->mode & 0111))
			return EBB_EACCES;
		return EBB_OK;
	}
	if (a->uid == h->uid)
		bits = (a->mode >> 6) & 7;
	else if (_in_group(h, a->gid))
		bits = (a->mode >> 3) & 7;
	else
		bits = a->mode & 7;
	if (((want & R_OK) && !(bits & 4)) || ((want & W_OK) && !(bits & 2)) ||
	    ((want & X_OK) && !(bits & 1)))
		return EBB_EACCES;
	return EBB_OK;
}

/* ---- directory cache ------------------------------------------------------ */

void dcache_init(ebb_t *h)
{
	const char *env = getenv("EBB_DCACHE_MS");

	pthread_mutex_init(&h->dcache_lock, NULL);
	h->dcache_ms = env && *env ? (unsigned)strtoul(env, NULL, 10) : 1000;
}

static void _dcache_clear_locked(ebb_t *h)
{
	for (unsigned b = 0; b < DCACHE_BUCKETS; b++) {
		while (h->dcache[b]) {
			struct dcache_ent *e = h->dcache[b];
			h->dcache[b] = e->next;
			free(e);
		}
	}
}

void dcache_fini(ebb_t *h)
{
	pthread_mutex_lock(&h->dcache_lock);
	_dcache_clear_locked(h);
	pthread_mutex_unlock(&h->dcache_lock);
	pthread_mutex_destroy(&h->dcache_lock);
}

static struct dcache_ent **_dcache_slot_locked(ebb_t *h, uint64_t parent,
					       const char *name, size_t len)
{
	unsigned b = (unsigned)(placement_hash_dentry(parent, name, len) %
				DCACHE_BUCKETS);
	struct dcache_ent **pp = &h->dcache[b];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->parent == parent && (*pp)->namelen == len &&
		    memcmp((*pp)->name, name, len) == 0)
			return pp;
	return pp; /* the chain's end: *pp == NULL */
}

static bool _dcache_get(ebb_t *h, uint64_t parent, const char *name,
			size_t len, struct proto_attr *out)
{
	struct dcache_ent **pp, *e;
	bool hit = false;

	if (!h->dcache_ms)
		return false;
	pthread_mutex_lock(&h->dcache_lock);
	pp = _dcache_slot_locked(h, parent, name, len);
	if ((e = *pp)) {
		if (e->expire_ms > _mono_ms()) {
			*out = e->a;
			hit = true;
		} else {
			*pp = e->next;
			free(e);
		}
	}
	pthread_mutex_unlock(&h->dcache_lock);
	return hit;
}

static void _dcache_put(ebb_t *h, uint64_t parent, const char *name,
			size_t len, const struct proto_attr *a)
{
	struct dcache_ent **pp, *e;

	if (!h->dcache_ms || !S_ISDIR(a->mode))
		return;
	pthread_mutex_lock(&h->dcache_lock);
	pp = _dcache_slot_locked(h, parent, name, len);
	if (!(e = *pp)) {
		if (_dcache_count(h) >= DCACHE_MAX) {
			/* Rare and cheap to refill: start over. */
			_dcache_clear_locked(h);
			pp = _dcache_slot_locked(h, parent, name, len);
		}
		if ((e = calloc(1, sizeof(*e)))) {
			e->parent = parent;
			e->namelen = len;
			memcpy(e->name, name, len);
			*pp = e;
		}
	}
	if (e) {
		e->a = *a;
		e->a.target = NULL;
		e->a.target_len = 0;
		e->expire_ms = _mono_ms() + h->dcache_ms;
	}
	pthread_mutex_unlock(&h->dcache_lock);
}

/* Entries in the cache; dcache_lock held.  Only called on an insert into an
 * empty slot, and bounded by DCACHE_BUCKETS chains. */
static unsigned _dcache_count(const ebb_t *h)
{
	unsigned n = 0;

	for (unsigned b = 0; b < DCACHE_BUCKETS; b++)
		for (const struct dcache_ent *e = h->dcache[b]; e; e = e->next)
			n++;
	return n;
}

void dcache_forget(ebb_t *h, uint64_t parent, const char *name, size_t len)
{
	struct dcache_ent **pp, *e;

	pthread_mutex_lock(&h->dcache_lock);
	pp = _dcache_slot_locked(h, parent, name, len);
	if ((e = *pp)) {
		*pp = e->next;
		free(e);
	}
	pthread_mutex_unlock(&h->dcache_lock);
}

/* ---- LOOKUP --------------------------------------------------------------- */

ebb_err path_lookup(ebb_t *h, uint64_t parent, const char *name, size_t len,
		   struct ebb_attr *out)
{
	struct ebb_req r;
	struct proto_enc *e;
	struct proto_attr a;
	ebb_err err;

	if (_dcache_get(h, parent, name, len, &a)) {
		attr_own(out, &a);
		return EBB_OK;
	}
	e = req_begin(&h->net, &r,
		      placement_dentry_node(parent, name, len, h->net.n),
		      PROTO_OP_LOOKUP, 3);
	proto_put_cstr(e, h->id);
	proto_put_u64(e, parent);
	proto_put_str(e, name, len);
	err = net_run(&h->net, &r, 1);
	if (err != EBB_OK)
		goto out;
	if (!proto_get_attr(&r.dec, &a)) {
		err = EBB_EPROTO;
		goto out;
	}
	attr_own(out, &a);
	_dcache_put(h, parent, name, len, &a);
	if (a.mode & PROTO_MODE_LINKED)
		/* A pointer: the attributes are at the inode's home. */
		err = link_get(h, a.ino, out);
out:
	req_release(&r);
	return err;
}

/* ---- the walk ------------------------------------------------------------- */

struct level {
	uint64_t ino;
	struct proto_attr a;       /* a directory: target unused */
	uint64_t dparent;          /* its own dentry key */
	size_t namelen;
	char name[PROTO_MAX_NAME + 1];
};

struct wstate {
	struct level *lv;
	unsigned depth, cap;
};

static ebb_err _push(struct wstate *s, const struct proto_attr *a,
		     uint64_t dparent, const char *name, size_t len)
{
	struct level *l;

	if (s->depth == s->cap) {
		unsigned cap = s->cap ? s->cap * 2 : 16;
		struct level *nl = realloc(s->lv, cap * sizeof(*nl));
		if (!nl)
			return EBB_ENOMEM;
		s->lv = nl;
		s->cap = cap;
	}
	l = &s->lv[s->depth++];
	l->ino = a->ino;
	l->a = *a;
	l->a.target = NULL;
	l->a.target_len = 0;
	l->dparent = dparent;
	l->namelen = len;
	memcpy(l->name, name, len);
	l->name[len] = '\0';
	return EBB_OK;
}

static ebb_err _reset_root(ebb_t *h, struct wstate *s)
{
	struct ebb_attr root;
	ebb_err err;

	s->depth = 0;
	err = path_lookup(h, PROTO_ROOT_PARENT, "", 0, &root);
	if (err == EBB_OK)
		err = _push(s, &root.a, PROTO_ROOT_PARENT, "", 0);
	return err;
}

/* Replace rest with target + "/" + tail (tail points into rest). */
static ebb_err _splice(char *rest, const char *target, size_t tlen,
		       const char *tail)
{
	size_t taillen = strlen(tail);
	char *tmp;

	if (tlen + 1 + taillen > PROTO_MAX_PATH)
		return EBB_ENAMETOOLONG;
	if (!(tmp = malloc(tlen + 1 + taillen + 1)))
		return EBB_ENOMEM;
	memcpy(tmp, target, tlen);
	tmp[tlen] = '/';
	memcpy(tmp + tlen + 1, tail, taillen + 1);
	memcpy(rest, tmp, tlen + 1 + taillen + 1);
	free(tmp);
	return EBB_OK;
}

static void _result_level(struct ebb_walk *w, const struct wstate *s)
{
	const struct level *top = &s->lv[s->depth - 1];

	w->exists = true;
	w->is_root = s->depth == 1;
	w->parent = top->dparent;
	w->namelen = top->namelen;
	memcpy(w->name, top->name, top->namelen + 1);
	attr_own(&w->attr, &top->a);
	w->pattr = s->depth > 1 ? s->lv[s->depth - 2].a : top->a;
}

ebb_err walk(ebb_t *h, const char *path, int flags, struct ebb_walk *w)
{
	struct wstate s = {0};
	char *rest = NULL;
	size_t plen, pos = 0;
	unsigned hops = 0;
	ebb_err err = EBB_OK;

	memset(w, 0, sizeof(*w));
	if (!path) {
		err = EBB_EINVAL;
		goto out;
	}
	plen = strlen(path);
	if (plen == 0) {
		err = EBB_ENOENT;
		goto out;
	}
	if (plen > PROTO_MAX_PATH) {
		err = EBB_ENAMETOOLONG;
		goto out;
	}
	if (!(rest = malloc(PROTO_MAX_PATH + 2))) {
		err = EBB_ENOMEM;
		goto out;
	}
	memcpy(rest, path, plen + 1);
	w->trailing_slash = plen > 1 && path[plen - 1] == '/';
	if ((err = _reset_root(h, &s)) != EBB_OK)
		goto out;

	for (;;) {
		const struct level *cur;
		const char *comp;
		size_t clen, end;
		bool last;
		struct ebb_attr at;

		while (rest[pos] == '/')
			pos++;
		if (!rest[pos]) {
			/* The path ends at the current directory: "/", "a/..". */
			if (flags & WALK_PARENT) {
				if (s.depth == 1 && hops == 0 &&
				    strspn(path, "/") == plen)
					w->is_root = true;
				else
					err = EBB_EINVAL;
				if (w->is_root)
					_result_level(w, &s);
				goto out;
			}
			_result_level(w, &s);
			goto out;
		}
		comp = rest + pos;
		for (end = pos; rest[end] && rest[end] != '/'; end++)
			;
		clen = end - pos;
		last = rest[end + strspn(rest + end, "/")] == '\0';
		if ((clen == 1 && comp[0] == '.') ||
		    (clen == 2 && comp[0] == '.' && comp[1] == '.')) {
			if (last && (flags & WALK_PARENT)) {
				err = EBB_EINVAL;
				goto out;
			}
			if (clen == 2 && s.depth > 1)
				s.depth--;
			pos = end;
			continue;
		}
		if (clen > PROTO_MAX_NAME) {
			err = EBB_ENAMETOOLONG;
			goto out;
		}
		cur = &s.lv[s.depth - 1];
		if (!S_ISDIR(cur->a.mode)) {
			err = EBB_ENOTDIR;
			goto out;
		}
		if ((err = path_access(h, &cur->a, X_OK)) != EBB_OK)
			goto out;
		if (last && (flags & WALK_PARENT)) {
			w->parent = cur->ino;
			w->pattr = cur->a;
			w->namelen = clen;
			memcpy(w->name, comp, clen);
			w->name[clen] = '\0';
			break;
		}
		err = path_lookup(h, cur->ino, comp, clen, &at);
		if (err == EBB_ENOENT && last && (flags & WALK_MISSING_OK)) {
			err = EBB_OK;
			w->parent = cur->ino;
			w->pattr = cur->a;
			w->namelen = clen;
			memcpy(w->name, comp, clen);
			w->name[clen] = '\0';
			break;
		}
		if (err != EBB_OK)
			goto out;
		if (S_ISLNK(at.a.mode) &&
		    (!last || (flags & WALK_FOLLOW) || w->trailing_slash)) {
			if (++hops > MAX_SYMLINK_HOPS) {
				err = EBB_ELOOP;
				goto out;
			}
			if (at.a.target_len == 0) {
				err = EBB_ENOENT;
				goto out;
			}
			if (at.target[0] == '/' &&
			    (err = _reset_root(h, &s)) != EBB_OK)
				goto out;
			err = _splice(rest, at.target, at.a.target_len,
				      rest + end);
			if (err != EBB_OK)
				goto out;
			pos = 0;
			continue;
		}
		if (!last) {
			if (!S_ISDIR(at.a.mode)) {
				err = EBB_ENOTDIR;
				goto out;
			}
			if ((err = _push(&s, &at.a, cur->ino, comp, clen)) !=
			    EBB_OK)
				goto out;
			pos = end;
			continue;
		}
		/* The last component, found. */
		w->exists = true;
		w->parent = cur->ino;
		w->pattr = cur->a;
		w->namelen = clen;
		memcpy(w->name, comp, clen);
		w->name[clen] = '\0';
		w->attr = at;
		if (at.a.target)
			w->attr.a.target = w->attr.target;
		break;
	}
	if (w->exists && w->trailing_slash && !S_ISDIR(w->attr.a.mode))
		err = EBB_ENOTDIR;
out:
	if (err == EBB_OK) {
		/* Ancestry: the directories from the root to the parent. */
		unsigned n = s.depth;
		if (w->exists && !w->is_root && s.depth &&
		    s.lv[s.depth - 1].ino == w->attr.a.ino && w->parent ==
		    s.lv[s.depth - 1].dparent)
			n--; /* ended on a directory via ".": drop itself */
		w->anc = malloc((n ? n : 1) * sizeof(*w->anc));
		if (!w->anc)
			err = EBB_ENOMEM;
		for (unsigned i = 0; w->anc && i < n; i++)
			w->anc[i] = s.lv[i].ino;
		w->nanc = n;
	}
	free(s.lv);
	free(rest);
	if (err != EBB_OK)
		walk_free(w);
	return err;
}

void walk_free(struct ebb_walk *w)
{
	free(w->anc);
	w->anc = NULL;
	w->nanc = 0;
}
