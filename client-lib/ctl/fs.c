/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebbctl file commands on an instance: ls, stat, rm, mkdir, mv, cat, df.
 *
 * DESIGN: each command attaches through the first node (ebb_attach_via),
 * works on paths inside the instance and detaches.  They follow their
 * coreutils namesakes where that is cheap (ls sorts by name and shows
 * "a -> b" for links, rm needs -r for directories, mkdir -p, mv into a
 * directory), because that is what users' fingers expect.  A failing
 * operand does not stop the others: the command goes on and exits 1.
 * Directory listings use ebb_readdir's attributes (readdirplus), so ls -l
 * and rm -r need no stat per entry.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl_int.h"

/* Size of one cat read: a row of stripes is fetched in parallel by the
 * library; 4 MiB keeps several stripes in flight without much memory. */
#define _CAT_BUF (4u << 20)

/* ctl_err() for helpers that return -1 on failure. */
static int _fail(struct ctl *c, const char *what, int errnum)
{
	ctl_err(c, what, errnum);
	return -1;
}

/* A path that names the instance root ("/", "//", ""). */
static int _is_root(const char *p)
{
	return p[strspn(p, "/")] == '\0';
}

/* ---- ls ---------------------------------------------------------------- */

/* Remembers the last uid/gid looked up: a listing is nearly always one
 * owner, and a name service lookup per entry is slow on LDAP sites. */
struct _names {
	uid_t uid;
	gid_t gid;
	int have_u, have_g;
	char user[64], group[64];
};

static const char *_uname(struct _names *nc, uid_t uid)
{
	if (!nc->have_u || nc->uid != uid) {
		ctl_user_name(uid, nc->user, sizeof(nc->user));
		nc->uid = uid;
		nc->have_u = 1;
	}
	return nc->user;
}

static const char *_gname(struct _names *nc, gid_t gid)
{
	if (!nc->have_g || nc->gid != gid) {
		ctl_group_name(gid, nc->group, sizeof(nc->group));
		nc->gid = gid;
		nc->have_g = 1;
	}
	return nc->group;
}

static int _ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ctl_ent *)a)->name,
		      ((const struct ctl_ent *)b)->name);
}

void ctl_ents_free(struct ctl_ent *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].path);
	}
	free(v);
}

int ctl_read_dir(ebb_t *h, const char *path, struct ctl_ent **out,
		     size_t *nout)
{
	struct ebb_dirent de;
	struct ctl_ent *v = NULL, *nv;
	size_t n = 0, cap = 0;
	ebb_dir_t *d;
	int r, e = 0;

	d = ebb_opendir(h, path);
	if (!d)
		return -1;
	while ((r = ebb_readdir(d, &de)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				e = ENOMEM;
				goto out;
			}
			v = nv;
		}
		v[n].name = strdup(de.name);
		v[n].path = ctl_path_join(path, de.name);
		v[n].st = de.st;
		/* Some servers fill only the short fields: keep the type. */
		if ((v[n].st.mode & S_IFMT) == 0)
			v[n].st.mode = de.mode;
		n++;
		if (!v[n - 1].name || !v[n - 1].path) {
			e = ENOMEM;
			goto out;
		}
	}
	if (r < 0)
		e = errno;
out:
	ebb_closedir(d);
	if (e) {
		ctl_ents_free(v, n);
		errno = e;
		return -1;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), _ent_cmp);
	*out = v;
	*nout = n;
	return 0;
}

static void _fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t now = time(NULL);

	localtime_r(&t, &tm);
	/* ls's rule: the year instead of the time for files older than
	 * six months or in the future. */
	if (t > now + 60 || now - t > 182 * 86400)
		strftime(buf, len, "%b %e  %Y", &tm);
	else
		strftime(buf, len, "%b %e %H:%M", &tm);
}

struct _ls {
	struct ctl *c;
	ebb_t *h;
	int lng, human;
	struct _names names;
	struct ctl_json *j;
};

static void _ls_json_ent(struct _ls *ls, const struct ctl_ent *e,
			 const char *target)
{
	struct ctl_json *j = ls->j;
	char perm[8];

	snprintf(perm, sizeof(perm), "%04o", (unsigned)(e->st.mode & 07777));
	ctl_json_obj_begin(j);
	ctl_json_kstr(j, "name", e->name);
	ctl_json_kstr(j, "path", e->path);
	ctl_json_kstr(j, "type", ctl_type_word(e->st.mode));
	ctl_json_kstr(j, "perm", perm);
	ctl_json_ku64(j, "mode", e->st.mode);
	ctl_json_ku64(j, "ino", e->st.ino);
	ctl_json_ku64(j, "nlink", e->st.nlink);
	ctl_json_ku64(j, "uid", e->st.uid);
	ctl_json_ku64(j, "gid", e->st.gid);
	ctl_json_kstr(j, "owner", _uname(&ls->names, e->st.uid));
	ctl_json_kstr(j, "group", _gname(&ls->names, e->st.gid));
	ctl_json_ku64(j, "size", e->st.size);
	ctl_json_ki64(j, "mtime", (int64_t)e->st.mtime.tv_sec);
	ctl_json_ki64(j, "mtime_nsec", (int64_t)e->st.mtime.tv_nsec);
	if (target)
		ctl_json_kstr(j, "target", target);
	ctl_json_obj_end(j);
}

/* Print entries (human: one per line or the -l table; JSON: objects). */
static void _ls_print(struct _ls *ls, struct ctl_ent *v, size_t n)
{
	static const char *const heads[] = {"", "", "", "", "", "", ""};
	struct ctl_table t;
	char mode[12], tbuf[32], sz[32], target[4096];

	if (!ls->lng && !ls->j) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", v[i].name);
		return;
	}
	ctl_table_init(&t, 7, heads, "lrllrll");
	t.sep = " ";                /* as ls -l */
	for (size_t i = 0; i < n; i++) {
		const struct ebb_stat *st = &v[i].st;
		ssize_t tl = -1;

		if (S_ISLNK(st->mode)) {
			tl = ebb_readlink(ls->h, v[i].path, target,
					  sizeof(target) - 1);
			if (tl >= 0)
				target[tl] = '\0';
		}
		if (ls->j) {
			_ls_json_ent(ls, &v[i], tl >= 0 ? target : NULL);
			continue;
		}
		ctl_table_add(&t, "%s", ctl_mode_string(st->mode, mode));
		ctl_table_add(&t, "%u", (unsigned)st->nlink);
		ctl_table_add(&t, "%s", _uname(&ls->names, st->uid));
		ctl_table_add(&t, "%s", _gname(&ls->names, st->gid));
		if (ls->human)
			ctl_table_add(&t, "%s", ctl_size(st->size, sz,
							 sizeof(sz)));
		else
			ctl_table_add(&t, "%llu",
				      (unsigned long long)st->size);
		_fmt_time(st->mtime.tv_sec, tbuf, sizeof(tbuf));
		ctl_table_add(&t, "%s", tbuf);
		if (tl >= 0)
			ctl_table_add(&t, "%s -> %s", v[i].name, target);
		else
			ctl_table_add(&t, "%s", v[i].name);
	}
	if (ls->j)
		ctl_table_free(&t);
	else
		ctl_table_print(&t, stdout, 1);
}

/* List a directory's entries; 0 or -1 (error printed). */
static int _ls_dir(struct _ls *ls, const char *path, int header, int blank)
{
	struct ctl_ent *v = NULL;
	size_t n = 0;

	if (ctl_read_dir(ls->h, path, &v, &n) < 0)
		return _fail(ls->c, path, errno);
	if (blank && !ls->j)
		putchar('\n');
	if (header && !ls->j)
		printf("%s:\n", path);
	_ls_print(ls, v, n);
	ctl_ents_free(v, n);
	return 0;
}

int ctl_cmd_ls(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"long", no_argument, NULL, 'l'},
		{"human-readable", no_argument, NULL, 'H'},
		{"directory", no_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	struct ctl_opts o;
	struct ctl_json j;
	struct _ls ls = {.c = c};
	struct ctl_ent *files = NULL;
	struct ebb_stat st;
	int opt, dir_self = 0, status = CTL_EXIT_OK, *isdir = NULL;
	char *root[] = {"/"}, base[256];
	char **paths;
	size_t nfiles = 0;
	int npaths, printed;

	ctl_opt_init(&o, argc, argv, "lHd", longopts);
	while ((opt = ctl_opt_next(c, &o)) != -1) {
		switch (opt) {
		case 'l': ls.lng = 1; break;
		case 'H': ls.human = 1; break;
		case 'd': dir_self = 1; break;
		}
	}
	if (o.stop)
		return o.status;
	paths = optind < argc ? argv + optind : root;
	npaths = optind < argc ? argc - optind : 1;
	ls.h = ctl_attach(c);
	if (!ls.h)
		return ctl_fail_status(c);
	files = calloc((size_t)npaths, sizeof(*files));
	isdir = calloc((size_t)npaths, sizeof(*isdir));
	if (!files || !isdir) {
		status = ctl_err(c, NULL, ENOMEM);
		goto out;
	}
	if (c->json) {
		ctl_json_init(&j, stdout);
		ls.j = &j;
		ctl_json_arr_begin(&j);
	}
	/* As ls does: the file operands first, listed together, then each
	 * directory, under a "PATH:" header when there are several. */
	for (int i = 0; i < npaths; i++) {
		if (ebb_lstat(ls.h, paths[i], &st) < 0) {
			status = ctl_err(c, paths[i], errno);
			continue;
		}
		if (S_ISDIR(st.mode) && !dir_self) {
			isdir[i] = 1;
			continue;
		}
		files[nfiles].path = paths[i];
		/* JSON names an entry by its last component, text by the
		 * operand as typed. */
		files[nfiles].name = c->json ? strdup(ctl_basename(paths[i],
						base, sizeof(base))) : paths[i];
		files[nfiles].st = st;
		if (!files[nfiles].name) {
			status = ctl_err(c, NULL, ENOMEM);
			goto out;
		}
		nfiles++;
	}
	if (nfiles > 1)
		qsort(files, nfiles, sizeof(*files), _ent_cmp);
	_ls_print(&ls, files, nfiles);
	printed = nfiles > 0;
	for (int i = 0; i < npaths; i++) {
		if (!isdir[i])
			continue;
		if (_ls_dir(&ls, paths[i], npaths > 1, printed) < 0)
			status = CTL_EXIT_FAIL;
		printed = 1;
	}
	if (c->json) {
		ctl_json_arr_end(&j);
		ctl_json_finish(&j);
	}
out:
	for (size_t i = 0; c->json && i < nfiles; i++)
		free(files[i].name);
	free(files);
	free(isdir);
	ctl_detach(c, ls.h);
	return status;
}

/* ---- stat -------------------------------------------------------------- */

static void _fmt_ts(const struct timespec *ts, char *buf, size_t len)
{
	struct tm tm;
	char a[32], z[8];
	time_t t = ts->tv_sec;

	localtime_r(&t, &tm);
	strftime(a, sizeof(a), "%Y-%m-%d %H:%M:%S", &tm);
	strftime(z, sizeof(z), "%z", &tm);
	snprintf(buf, len, "%s.%09ld %s", a, (long)ts->tv_nsec, z);
}

static void _json_ts(struct ctl_json *j, const char *key,
		     const struct timespec *ts)
{
	char k[32];

	ctl_json_ki64(j, key, (int64_t)ts->tv_sec);
	snprintf(k, sizeof(k), "%s_nsec", key);
	ctl_json_ki64(j, k, (int64_t)ts->tv_nsec);
}

static int _stat_one(struct ctl *c, ebb_t *h, const char *path, int follow,
		     struct ctl_json *j)
{
	struct ebb_stat st;
	char target[4096], mode[12], u[64], g[64], t1[64];
	ssize_t tl = -1;

	if ((follow ? ebb_stat(h, path, &st) : ebb_lstat(h, path, &st)) < 0)
		return ctl_err(c, path, errno);
	if (S_ISLNK(st.mode)) {
		tl = ebb_readlink(h, path, target, sizeof(target) - 1);
		if (tl >= 0)
			target[tl] = '\0';
	}
	ctl_user_name(st.uid, u, sizeof(u));
	ctl_group_name(st.gid, g, sizeof(g));
	if (j) {
		char perm[8];
		snprintf(perm, sizeof(perm), "%04o", (unsigned)(st.mode & 07777));
		ctl_json_obj_begin(j);
		ctl_json_kstr(j, "path", path);
		ctl_json_kstr(j, "type", ctl_type_word(st.mode));
		ctl_json_kstr(j, "perm", perm);
		ctl_json_ku64(j, "mode", st.mode);
		ctl_json_ku64(j, "ino", st.ino);
		ctl_json_ku64(j, "nlink", st.nlink);
		ctl_json_ku64(j, "uid", st.uid);
		ctl_json_ku64(j, "gid", st.gid);
		ctl_json_kstr(j, "owner", u);
		ctl_json_kstr(j, "group", g);
		ctl_json_ku64(j, "size", st.size);
		ctl_json_ku64(j, "blocks", st.blocks);
		ctl_json_ku64(j, "blksize", st.blksize);
		_json_ts(j, "atime", &st.atime);
		_json_ts(j, "mtime", &st.mtime);
		_json_ts(j, "ctime", &st.ctime);
		if (tl >= 0)
			ctl_json_kstr(j, "target", target);
		ctl_json_obj_end(j);
		return CTL_EXIT_OK;
	}
	if (tl >= 0)
		printf("  File: %s -> %s\n", path, target);
	else
		printf("  File: %s\n", path);
	printf("  Size: %-15llu Blocks: %-10llu IO Block: %-6u %s\n",
	       (unsigned long long)st.size, (unsigned long long)st.blocks,
	       (unsigned)st.blksize, ctl_type_name(st.mode));
	printf(" Inode: %-15llu Links: %u\n", (unsigned long long)st.ino,
	       (unsigned)st.nlink);
	printf("Access: (%04o/%s)  Uid: (%5lu/%8s)   Gid: (%5lu/%8s)\n",
	       (unsigned)(st.mode & 07777), ctl_mode_string(st.mode, mode),
	       (unsigned long)st.uid, u, (unsigned long)st.gid, g);
	_fmt_ts(&st.atime, t1, sizeof(t1));
	printf("Access: %s\n", t1);
	_fmt_ts(&st.mtime, t1, sizeof(t1));
	printf("Modify: %s\n", t1);
	_fmt_ts(&st.ctime, t1, sizeof(t1));
	printf("Change: %s\n", t1);
	return CTL_EXIT_OK;
}

int ctl_cmd_stat(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dereference", no_argument, NULL, 'L'},
		{NULL, 0, NULL, 0},
	};
	struct ctl_opts o;
	struct ctl_json j;
	int opt, follow = 0, status = CTL_EXIT_OK, many;
	ebb_t *h;

	ctl_opt_init(&o, argc, argv, "L", longopts);
	while ((opt = ctl_opt_next(c, &o)) != -1)
		if (opt == 'L')
			follow = 1;
	if (o.stop)
		return o.status;
	if (optind >= argc)
		return ctl_usage(c, "missing PATH");
	h = ctl_attach(c);
	if (!h)
		return ctl_fail_status(c);
	/* One operand gives one JSON object, several an array of them. */
	many = argc - optind > 1;
	if (c->json) {
		ctl_json_init(&j, stdout);
		if (many)
			ctl_json_arr_begin(&j);
	}
	for (int i = optind; i < argc; i++)
		if (_stat_one(c, h, argv[i], follow, c->json ? &j : NULL))
			status = CTL_EXIT_FAIL;
	if (c->json) {
		if (many)
			ctl_json_arr_end(&j);
		/* A lone failed operand leaves nothing to terminate. */
		if (many || status == CTL_EXIT_OK)
			ctl_json_finish(&j);
	}
	ctl_detach(c, h);
	return status;
}

/* ---- rm ---------------------------------------------------------------- */

struct _rm {
	struct ctl *c;
	ebb_t *h;
	int recursive, force, dirs;
};

/* Remove path whose attributes are st; 0 or -1 (error printed). */
static int _rm_tree(struct _rm *rm, const char *path,
		    const struct ebb_stat *st)
{
	struct ctl_ent *v = NULL;
	size_t n = 0;
	int ret = 0;

	if (!S_ISDIR(st->mode)) {
		if (ebb_unlink(rm->h, path) < 0 &&
		    !(rm->force && errno == ENOENT))
			return _fail(rm->c, path, errno);
		return 0;
	}
	if (ctl_read_dir(rm->h, path, &v, &n) < 0) {
		if (rm->force && errno == ENOENT)
			return 0;
		return _fail(rm->c, path, errno);
	}
	for (size_t i = 0; i < n; i++)
		if (_rm_tree(rm, v[i].path, &v[i].st) < 0)
			ret = -1;
	ctl_ents_free(v, n);
	/* A child we could not remove makes rmdir fail with ENOTEMPTY:
	 * that error would only repeat the child's. */
	if (ret == 0 && ebb_rmdir(rm->h, path) < 0 &&
	    !(rm->force && errno == ENOENT))
		return _fail(rm->c, path, errno);
	return ret;
}

static int _rm_one(struct _rm *rm, const char *path)
{
	struct ebb_stat st;

	if (_is_root(path)) {
		ctl_errf(rm->c, "%s: refusing to remove the instance root "
			 "(use 'instance destroy')", path);
		return -1;
	}
	if (rm->recursive) {
		if (ebb_lstat(rm->h, path, &st) < 0) {
			if (rm->force && errno == ENOENT)
				return 0;
			return _fail(rm->c, path, errno);
		}
		return _rm_tree(rm, path, &st);
	}
	if (ebb_unlink(rm->h, path) == 0)
		return 0;
	if (errno == EISDIR && rm->dirs) {
		if (ebb_rmdir(rm->h, path) == 0)
			return 0;
	}
	if (rm->force && errno == ENOENT)
		return 0;
	return _fail(rm->c, path, errno);
}

int ctl_cmd_rm(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"recursive", no_argument, NULL, 'r'},
		{"force", no_argument, NULL, 'f'},
		{"dir", no_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	struct ctl_opts o;
	struct _rm rm = {.c = c};
	int opt, status = CTL_EXIT_OK;

	ctl_opt_init(&o, argc, argv, "rRfd", longopts);
	while ((opt = ctl_opt_next(c, &o)) != -1) {
		switch (opt) {
		case 'r': case 'R': rm.recursive = 1; break;
		case 'f': rm.force = 1; break;
		case 'd': rm.dirs = 1; break;
		}
	}
	if (o.stop)
		return o.status;
	if (optind >= argc)
		return rm.force ? CTL_EXIT_OK : ctl_usage(c, "missing PATH");
	rm.h = ctl_attach(c);
	if (!rm.h)
		return ctl_fail_status(c);
	for (int i = optind; i < argc; i++)
		if (_rm_one(&rm, argv[i]) < 0)
			status = CTL_EXIT_FAIL;
	ctl_detach(c, rm.h);
	return status;
}

/* ---- mkdir ------------------------------------------------------------- */

/* mkdir that accepts an existing directory (for -p and parents). */
static int _mkdir_exist_ok(ebb_t *h, const char *path, mode_t mode)
{
	struct ebb_stat st;

	if (ebb_mkdir(h, path, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (ebb_stat(h, path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

static int _mkdir_p(struct ctl *c, ebb_t *h, const char *path, mode_t mode)
{
	char *p = strdup(path), *s;
	/* Parents get u+wx so that the next level can be created in them,
	 * as mkdir -p does. */
	mode_t pmode = ((0777 & ~c->umask) | 0300);
	int ret = -1;

	if (!p)
		return _fail(c, path, ENOMEM);
	for (s = p + strspn(p, "/"); (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (_mkdir_exist_ok(h, p, pmode) < 0) {
			ctl_err(c, p, errno);
			goto out;
		}
		*s = '/';
		s += strspn(s, "/") - 1;
	}
	if (!_is_root(path) && _mkdir_exist_ok(h, path, mode) < 0) {
		ctl_err(c, path, errno);
		goto out;
	}
	ret = 0;
out:
	free(p);
	return ret;
}

int ctl_cmd_mkdir(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"parents", no_argument, NULL, 'p'},
		{"mode", required_argument, NULL, 'm'},
		{NULL, 0, NULL, 0},
	};
	struct ctl_opts o;
	mode_t mode = 0777 & ~c->umask;
	int opt, parents = 0, status = CTL_EXIT_OK;
	ebb_t *h;
	char *end;

	ctl_opt_init(&o, argc, argv, "pm:", longopts);
	while ((opt = ctl_opt_next(c, &o)) != -1) {
		switch (opt) {
		case 'p':
			parents = 1;
			break;
		case 'm':
			mode = (mode_t)strtoul(optarg, &end, 8);
			if (!*optarg || *end || mode > 07777)
				return ctl_usage(c, "--mode: '%s' is not an "
						 "octal mode", optarg);
			break;
		}
	}
	if (o.stop)
		return o.status;
	if (optind >= argc)
		return ctl_usage(c, "missing PATH");
	h = ctl_attach(c);
	if (!h)
		return ctl_fail_status(c);
	for (int i = optind; i < argc; i++) {
		if (parents) {
			if (_mkdir_p(c, h, argv[i], mode) < 0)
				status = CTL_EXIT_FAIL;
		} else if (ebb_mkdir(h, argv[i], mode) < 0) {
			status = ctl_err(c, argv[i], errno);
		}
	}
	ctl_detach(c, h);
	return status;
}

/* ---- mv ---------------------------------------------------------------- */

int ctl_cmd_mv(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"no-target-directory", no_argument, NULL, 'T'},
		{NULL, 0, NULL, 0},
	};
	struct ctl_opts o;
	struct ebb_stat st;
	int opt, plain = 0, status = CTL_EXIT_FAIL;
	const char *from, *to;
	char *into = NULL, base[256];
	ebb_t *h;

	ctl_opt_init(&o, argc, argv, "T", longopts);
	while ((opt = ctl_opt_next(c, &o)) != -1)
		if (opt == 'T')
			plain = 1;
	if (o.stop)
		return o.status;
	if (argc - optind != 2)
		return ctl_usage(c, argc - optind < 2 ? "expected FROM and TO"
				 : "expected only FROM and TO");
	from = argv[optind];
	to = argv[optind + 1];
	h = ctl_attach(c);
	if (!h)
		return ctl_fail_status(c);
	if (!plain && ebb_stat(h, to, &st) == 0 && S_ISDIR(st.mode)) {
		into = ctl_path_join(to, ctl_basename(from, base,
						      sizeof(base)));
		if (!into) {
			ctl_err(c, from, ENOMEM);
			goto out;
		}
		to = into;
	}
	if (ebb_rename(h, from, to) < 0) {
		int e = errno;
		ctl_errf(c, "%s -> %s: %s", from, to, strerror(e));
		goto out;
	}
	status = CTL_EXIT_OK;
out:
	free(into);
	ctl_detach(c, h);
	return status;
}

/* ---- cat --------------------------------------------------------------- */

static int _write_all(int fd, const char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int ctl_cmd_cat(struct ctl *c, int argc, char **argv)
{
	struct ctl_opts o;
	int status = CTL_EXIT_OK;
	char *buf = NULL;
	ebb_t *h;

	ctl_opt_init(&o, argc, argv, "", NULL);
	while (ctl_opt_next(c, &o) != -1)
		;
	if (o.stop)
		return o.status;
	if (optind >= argc)
		return ctl_usage(c, "missing PATH");
	h = ctl_attach(c);
	if (!h)
		return ctl_fail_status(c);
	buf = malloc(_CAT_BUF);
	if (!buf) {
		status = ctl_err(c, NULL, ENOMEM);
		goto out;
	}
	fflush(stdout);
	for (int i = optind; i < argc; i++) {
		ebb_file_t *f = ebb_open(h, argv[i], O_RDONLY, 0);
		off_t off = 0;
		ssize_t r;

		if (!f) {
			status = ctl_err(c, argv[i], errno);
			continue;
		}
		while ((r = ebb_pread(f, buf, _CAT_BUF, off)) > 0) {
			if (_write_all(STDOUT_FILENO, buf, (size_t)r) < 0) {
				ctl_err(c, "standard output", errno);
				ebb_close(f);
				status = CTL_EXIT_FAIL;
				goto out;
			}
			off += r;
		}
		if (r < 0)
			status = ctl_err(c, argv[i], errno);
		if (ebb_close(f) < 0 && r >= 0)
			status = ctl_err(c, argv[i], errno);
	}
out:
	free(buf);
	ctl_detach(c, h);
	return status;
}

/* ---- df ---------------------------------------------------------------- */

int ctl_cmd_df(struct ctl *c, int argc, char **argv)
{
	static const char *const heads[] = {"INSTANCE", "NODES", "SIZE",
		"USED", "AVAIL", "USE%", "FILES"};
	struct ctl_opts o;
	struct ebb_statfs sf;
	struct ctl_table t;
	char b1[32], b2[32], b3[32];
	ebb_t *h;
	int status = CTL_EXIT_OK;

	ctl_opt_init(&o, argc, argv, "", NULL);
	while (ctl_opt_next(c, &o) != -1)
		;
	if (o.stop)
		return o.status;
	if (optind < argc)
		return ctl_usage(c, "unexpected argument '%s'", argv[optind]);
	h = ctl_attach(c);
	if (!h)
		return ctl_fail_status(c);
	if (ebb_statfs(h, &sf) < 0) {
		status = ctl_err(c, c->instance, errno);
		goto out;
	}
	if (c->json) {
		struct ctl_json j;
		ctl_json_init(&j, stdout);
		ctl_json_obj_begin(&j);
		ctl_json_kstr(&j, "instance", c->instance);
		ctl_json_ku64(&j, "nodes", sf.nodes);
		ctl_json_ku64(&j, "capacity", sf.capacity);
		ctl_json_ku64(&j, "used", sf.used);
		ctl_json_ku64(&j, "free", sf.free);
		ctl_json_ku64(&j, "files", sf.files);
		ctl_json_ku64(&j, "bsize", sf.bsize);
		ctl_json_ku64(&j, "namemax", sf.namemax);
		ctl_json_obj_end(&j);
		ctl_json_finish(&j);
		goto out;
	}
	ctl_table_init(&t, 7, heads, "lrrrrrr");
	ctl_table_add(&t, "%s", c->instance);
	ctl_table_add(&t, "%u", sf.nodes);
	ctl_table_add(&t, "%s", ctl_size(sf.capacity, b1, sizeof(b1)));
	ctl_table_add(&t, "%s", ctl_size(sf.used, b2, sizeof(b2)));
	ctl_table_add(&t, "%s", ctl_size(sf.free, b3, sizeof(b3)));
	/* Rounded up, as df does: 0% only when nothing is used. */
	ctl_table_add(&t, "%llu%%", sf.capacity ? (unsigned long long)
		      ((sf.used * 100 + sf.capacity - 1) / sf.capacity) : 0ULL);
	ctl_table_add(&t, "%llu", (unsigned long long)sf.files);
	ctl_table_print(&t, stdout, c->quiet);
out:
	ctl_detach(c, h);
	return status;
}
