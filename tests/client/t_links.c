/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Hard links through libebb against 4 real bbds (docs/internals/
 * hardlinks.md): link across directories whose dentries live on different
 * nodes, st_nlink, data through any name, unlink of one name keeping the
 * data for the others and of the last removing it (statfs used), rename
 * between two links of one inode (a no-op, on one node and across two),
 * rename over a linked name, an open file losing all its names, symlinks,
 * the by-number calls, concurrent links of one file, xattrs kept until
 * the last name goes, and listings of linked entries (their records
 * fetched together, a missing one giving the type only).
 *
 * Run by links.t (4 bbd).  Names are chosen with the placement function so
 * that each case lands on the node layout it is about.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctest.h"
#include "ebb_int.h"
#include "placement.h"
#include "tap.h"

#define STRIPE (64u * 1024)
#define NODES 4

static ebb_t *_h;

/* The node of dentry (dir's inode, name). */
static unsigned _node(const char *dir, const char *name)
{
	struct ebb_stat st;

	if (ebb_stat(_h, dir, &st) != 0)
		bail("stat %s: %s", dir, strerror(errno));
	return placement_dentry_node(st.ino, name, strlen(name), NODES);
}

/* A name "<prefix>N" in dir whose node is (same ? equal to : other than)
 * node. */
static void _pick(const char *dir, const char *prefix, unsigned node,
		  bool same, char *out, size_t size)
{
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(out, size, "%s%u", prefix, i);
		if ((_node(dir, out) == node) == same)
			return;
	}
	bail("no name for node %u", node);
}

static uint64_t _used(void)
{
	struct ebb_statfs s;

	if (ebb_statfs(_h, &s) != 0)
		bail("statfs: %s", strerror(errno));
	return s.used;
}

static int _nlink(const char *path)
{
	struct ebb_stat st;

	return ebb_stat(_h, path, &st) == 0 ? (int)st.nlink : -errno;
}

static uint64_t _ino(const char *path)
{
	struct ebb_stat st;

	return ebb_lstat(_h, path, &st) == 0 ? st.ino : 0;
}

static void test_link(void)
{
	char g[300], x[64], y[64], p[300], q[300];
	struct ebb_stat sf, sg, si;
	uint64_t base, len = 200 * 1024;
	unsigned nf;
	ebb_file_t *fh;

	is_int(ebb_mkdir(_h, "/a", 0755), 0, "mkdir /a");
	is_int(ebb_mkdir(_h, "/b", 0755), 0, "mkdir /b");
	base = _used();
	nf = _node("/a", "f");
	_pick("/b", "g", nf, false, x, sizeof(x));
	snprintf(g, sizeof(g), "/b/%s", x);
	is_int(ct_write_file(_h, "/a/f", len, 11, 8192, 0), 0,
	       "write /a/f (200 KiB: 4 stripes on 4 nodes)");
	ok(_used() >= base + len, "... statfs used counts it");
	is_int(ebb_link(_h, "/a/f", g), 0,
	       "link /a/f %s (the two dentries on nodes %u and %u)", g, nf,
	       _node("/b", x));
	ok(ebb_stat(_h, "/a/f", &sf) == 0 && ebb_stat(_h, g, &sg) == 0,
	   "stat both names");
	ok(sf.ino == sg.ino && sf.nlink == 2 && sg.nlink == 2 &&
		   sf.size == len && sg.size == len && sf.mode == sg.mode &&
		   sf.mtime.tv_sec == sg.mtime.tv_sec &&
		   sf.mtime.tv_nsec == sg.mtime.tv_nsec &&
		   sf.ctime.tv_nsec == sg.ctime.tv_nsec && S_ISREG(sf.mode) &&
		   (sf.mode & 07777) == 0644,
	   "... one inode, nlink 2, the same size, mode and times "
	   "(ino %llu/%llu nlink %u/%u mode 0%o)",
	   (unsigned long long)sf.ino, (unsigned long long)sg.ino,
	   (unsigned)sf.nlink, (unsigned)sg.nlink, (unsigned)sf.mode);
	is_int(ct_verify_file(_h, g, len, 11, 65536), 0,
	       "the data reads the same through the new name");
	CT_ERRNO(ebb_link(_h, "/a/f", g), EEXIST, "link onto an existing "
		 "name: EEXIST");
	CT_ERRNO(ebb_link(_h, "/a/f", "/a/f"), EEXIST, "link onto itself: "
		 "EEXIST");
	CT_ERRNO(ebb_link(_h, "/a", "/b/dirlink"), EPERM, "link of a "
		 "directory: EPERM");
	CT_ERRNO(ebb_link(_h, "/a/nosuch", "/b/n"), ENOENT, "link of a "
		 "missing file: ENOENT");
	CT_ERRNO(ebb_link(_h, "/a/f", "/nosuch/n"), ENOENT, "link into a "
		 "missing directory: ENOENT");
	CT_ERRNO(ebb_link(_h, "/", "/b/root"), EPERM, "link of the root: "
		 "EPERM");

	/* writes and attributes through either name */
	fh = ebb_open(_h, g, O_WRONLY | O_APPEND, 0);
	ok(fh != NULL, "open %s O_APPEND", g);
	if (fh) {
		char buf[1000];

		ct_fill(buf, sizeof(buf), 11, len);
		is_int(ebb_pwrite(fh, buf, sizeof(buf), (off_t)len),
		       (long)sizeof(buf), "... 1000 bytes appended");
		is_int(ebb_close(fh), 0, "... closed (the size published to "
		       "the inode record)");
	}
	len += 1000;
	ok(ebb_stat(_h, "/a/f", &sf) == 0 && sf.size == len,
	   "stat /a/f sees the new size");
	is_int(ct_verify_file(_h, "/a/f", len, 11, 65536), 0,
	       "... and the data");
	is_int(ebb_chmod(_h, g, 0600), 0, "chmod 0600 through the new name");
	ok(ebb_stat(_h, "/a/f", &sf) == 0 && (sf.mode & 07777) == 0600 &&
		   sf.ctime.tv_sec >= sg.ctime.tv_sec,
	   "... the old name shows it");
	is_int(ebb_truncate(_h, "/a/f", (off_t)len - 500), 0,
	       "truncate through the old name");
	len -= 500;
	ok(ebb_stat(_h, g, &sg) == 0 && sg.size == len,
	   "... the new name shows the size");

	/* a third name, from the name that is already a pointer */
	is_int(ebb_link(_h, g, "/a/h"), 0, "link %s /a/h (a third name)", g);
	is_int(_nlink("/a/f"), 3, "... nlink 3 through the first name");

	/* rename between two links of one inode: nothing happens */
	_pick("/a", "s", _node("/a", "h"), true, x, sizeof(x));
	snprintf(p, sizeof(p), "/a/%s", x);
	is_int(ebb_link(_h, "/a/f", p), 0, "link /a/f %s (on /a/h's node)", p);
	is_int(ebb_rename(_h, p, "/a/h"), 0,
	       "rename %s /a/h: links of one inode, one node: OK", p);
	ok(_ino(p) == sf.ino && _ino("/a/h") == sf.ino,
	   "... both names stay (POSIX: a no-op)");
	_pick("/a", "t", _node("/a", "h"), false, y, sizeof(y));
	snprintf(q, sizeof(q), "/a/%s", y);
	is_int(ebb_link(_h, "/a/f", q), 0, "link /a/f %s (another node than "
	       "/a/h's)", q);
	is_int(ebb_rename(_h, q, "/a/h"), 0,
	       "rename %s /a/h: links of one inode, two nodes: OK", q);
	ok(_ino(q) == sf.ino && _ino("/a/h") == sf.ino,
	   "... both names stay (POSIX: a no-op)");
	is_int(_nlink("/a/f"), 5, "nlink 5 (f, %s, h, %s, %s)", g, x, y);

	/* rename moves a pointer; over a linked name decrements */
	ok(ebb_stat(_h, q, &si) == 0, "stat %s", q);
	is_int(ebb_rename(_h, q, "/b/moved"), 0, "rename %s /b/moved", q);
	ok(_ino("/b/moved") == sf.ino && _nlink("/b/moved") == 5,
	   "... the same inode, nlink still 5");
	ok(ebb_stat(_h, "/a/f", &sg) == 0 &&
		   (sg.ctime.tv_sec > si.ctime.tv_sec ||
		    (sg.ctime.tv_sec == si.ctime.tv_sec &&
		     sg.ctime.tv_nsec > si.ctime.tv_nsec)),
	   "... its ctime moved (as ext4's on rename)");
	is_int(ct_write_file(_h, "/a/other", 10, 12, 10, 0), 0,
	       "write /a/other");
	is_int(ebb_rename(_h, "/a/other", p), 0, "rename /a/other over %s "
	       "(a linked name)", p);
	is_int(_nlink("/a/f"), 4, "... nlink 4");
	ok(_ino(p) != sf.ino, "... %s is /a/other now", p);
	is_int(ebb_unlink(_h, p), 0, "unlink %s", p);
	{
		char r[64], rp[300];

		_pick("/b", "r", _node("/b", "moved"), false, r, sizeof(r));
		snprintf(rp, sizeof(rp), "/b/%s", r);
		is_int(ct_write_file(_h, rp, 10, 12, 10, 0), 0, "write %s", rp);
		is_int(ebb_rename(_h, rp, "/b/moved"), 0, "rename %s over "
		       "/b/moved (two nodes)", rp);
		is_int(_nlink("/a/f"), 3, "... nlink 3");
		is_int(ebb_unlink(_h, "/b/moved"), 0, "unlink /b/moved");
	}

	/* the by-number calls */
	ok(ebb_stat_ino(_h, sf.ino, &si) == 0 && si.ino == sf.ino &&
		   si.nlink == 3 && si.size == len,
	   "ebb_stat_ino: the record (nlink 3)");
	memset(&si, 0, sizeof(si));
	si.mode = 0640;
	is_int(ebb_setattr_ino(_h, sf.ino, EBB_SET_MODE, &si, &sg), 0,
	       "ebb_setattr_ino chmod 0640");
	ok((sg.mode & 07777) == 0640 && _nlink("/a/h") == 3,
	   "... done");
	CT_ERRNO(ebb_stat_ino(_h, _ino("/a"), &si), ENOENT,
		 "ebb_stat_ino of an inode without a record: ENOENT");

	/* unlink keeps the data for the other names */
	is_int(ebb_unlink(_h, "/a/f"), 0, "unlink /a/f");
	is_int(_nlink(g), 2, "... nlink 2");
	is_int(ct_verify_file(_h, g, len, 11, 65536), 0,
	       "... the data is all there through %s", g);
	is_int(ebb_unlink(_h, g), 0, "unlink %s", g);
	is_int(_nlink("/a/h"), 1, "... nlink 1 (a linked inode with one "
	       "name: still works)");
	is_int(ct_verify_file(_h, "/a/h", len, 11, 65536), 0,
	       "... the data through /a/h");
	ok(_used() >= base + len, "... statfs still counts the data");
	is_int(ebb_unlink(_h, "/a/h"), 0, "unlink /a/h, the last name");
	is_int((long)(_used() - base), 0, "... the data is removed (statfs "
	       "used back where it was)");
	CT_ERRNO(ebb_stat_ino(_h, sf.ino, &si), ENOENT,
		 "... and the record (ebb_stat_ino: ENOENT)");
}

/* An open file loses every name: its data stays until the close. */
static void test_open(void)
{
	uint64_t base = _used(), len = 100 * 1024;
	ebb_file_t *fh;
	char buf[4096];
	struct ebb_stat st;

	is_int(ct_write_file(_h, "/a/o1", len, 21, 8192, 0), 0, "write /a/o1");
	is_int(ebb_link(_h, "/a/o1", "/b/o2"), 0, "link /a/o1 /b/o2");
	{
		ebb_file_t *wh;

		is_int(ebb_link(_h, "/a/o1", "/a/o3"), 0, "link /a/o1 /a/o3");
		wh = ebb_open(_h, "/a/o3", O_RDWR, 0);
		ok(wh != NULL, "open /a/o3 read-write");
		is_int(ebb_unlink(_h, "/a/o3"), 0, "unlink /a/o3 (the handle's "
		       "name)");
		is_int(wh ? ebb_ftruncate(wh, (off_t)len + 10) : -1, 0,
		       "ftruncate through the handle: reaches the inode");
		ok(ebb_stat(_h, "/a/o1", &st) == 0 && st.size == len + 10,
		   "... /a/o1 shows the new size");
		is_int(wh ? ebb_ftruncate(wh, (off_t)len) : -1, 0,
		       "... and back");
		is_int(wh ? ebb_close(wh) : -1, 0, "close it");
	}
	fh = ebb_open(_h, "/b/o2", O_RDONLY, 0);
	ok(fh != NULL, "open /b/o2");
	is_int(ebb_unlink(_h, "/a/o1"), 0, "unlink /a/o1");
	ok(fh && ebb_fstat(fh, &st) == 0 && st.nlink == 1 && st.size == len,
	   "fstat: nlink 1");
	is_int(ebb_unlink(_h, "/b/o2"), 0, "unlink /b/o2 (the last name, "
	       "open here)");
	ok(fh && ebb_pread(fh, buf, sizeof(buf), 90000) == sizeof(buf) &&
		   ct_same(buf, sizeof(buf), 21, 90000, "o2"),
	   "the open file still reads its data");
	ok(_used() >= base + len, "... which is still there");
	is_int(fh ? ebb_close(fh) : -1, 0, "close");
	is_int((long)(_used() - base), 0, "... the data is removed at the "
	       "last close");
}

static void test_symlink_linkat(void)
{
	char buf[64];
	struct ebb_stat st, sd;
	ssize_t n;

	is_int(ebb_symlink(_h, "target/x", "/a/sl"), 0, "symlink /a/sl");
	is_int(ebb_link(_h, "/a/sl", "/b/sl2"), 0, "link /a/sl /b/sl2 (the "
	       "symlink itself)");
	n = ebb_readlink(_h, "/b/sl2", buf, sizeof(buf));
	ok(n == 8 && memcmp(buf, "target/x", 8) == 0,
	   "readlink through the new name");
	CT_ERRNO(ebb_stat(_h, "/b/sl2", &st), ENOENT,
		 "stat (following) the dangling link: ENOENT");
	ok(ebb_lstat(_h, "/b/sl2", &st) == 0 && S_ISLNK(st.mode) &&
		   st.nlink == 2, "lstat: a symlink, nlink 2");
	is_int(ebb_unlink(_h, "/a/sl"), 0, "unlink /a/sl");
	is_int(ebb_unlink(_h, "/b/sl2"), 0, "unlink /b/sl2");

	is_int(ct_write_file(_h, "/a/at", 10, 31, 10, 0), 0, "write /a/at");
	ok(ebb_stat(_h, "/a", &sd) == 0, "stat /a");
	memset(&st, 0, sizeof(st));
	is_int(ebb_linkat(_h, sd.ino, "at", sd.ino, "at2", &st), 0,
	       "ebb_linkat");
	ok(st.nlink == 2 && st.size == 10 && S_ISREG(st.mode),
	   "... returns the attributes with nlink 2");
	CT_ERRNO(ebb_linkat(_h, sd.ino, "at", sd.ino, "at2", NULL), EEXIST,
		 "ebb_linkat onto an existing name: EEXIST");
	CT_ERRNO(ebb_linkat(_h, sd.ino, "a/t", sd.ino, "x", NULL), EINVAL,
		 "ebb_linkat of a bad name: EINVAL");
	is_int(ebb_unlink(_h, "/a/at"), 0, "unlink /a/at");
	is_int(ebb_unlink(_h, "/a/at2"), 0, "unlink /a/at2");
}

/* Links of one single-link file made at once from several threads: each
 * makes its own names; the count is right whoever converted the dentry. */
#define RACERS 4
#define ROUNDS 10

struct racer {
	unsigned id, round;
	int fails;
};

static pthread_barrier_t _bar;

static void *_race(void *arg)
{
	struct racer *r = arg;
	char name[64];

	pthread_barrier_wait(&_bar);
	snprintf(name, sizeof(name), "/b/race%u-%u", r->round, r->id);
	if (ebb_link(_h, "/a/race", name) != 0) {
		diag("link %s: %s", name, strerror(errno));
		r->fails++;
	}
	return NULL;
}

static void test_race(void)
{
	unsigned bad = 0, fails = 0;

	for (unsigned round = 0; round < ROUNDS; round++) {
		pthread_t t[RACERS];
		struct racer rc[RACERS];
		char name[64];
		int n;

		if (ct_write_file(_h, "/a/race", 10, 41, 10, 0) != 0)
			bail("write /a/race");
		pthread_barrier_init(&_bar, NULL, RACERS);
		for (unsigned i = 0; i < RACERS; i++) {
			rc[i] = (struct racer){i, round, 0};
			pthread_create(&t[i], NULL, _race, &rc[i]);
		}
		for (unsigned i = 0; i < RACERS; i++) {
			pthread_join(t[i], NULL);
			fails += (unsigned)rc[i].fails;
		}
		pthread_barrier_destroy(&_bar);
		n = _nlink("/a/race");
		if (n != RACERS + 1) {
			diag("round %u: nlink %d", round, n);
			bad++;
		}
		(void)ebb_unlink(_h, "/a/race");
		for (unsigned i = 0; i < RACERS; i++) {
			snprintf(name, sizeof(name), "/b/race%u-%u", round, i);
			(void)ebb_unlink(_h, name);
		}
	}
	is_int(fails, 0, "%d x %d concurrent links of one single-link file "
	       "all succeed", ROUNDS, RACERS);
	is_int(bad, 0, "... and nlink is 1 + %d every round", RACERS);
}

/* xattrs belong to the inode (bbd_xattr.c, on its home node): one name
 * going keeps them for the others; the last name going drops them, for a
 * regular file (with its data, REMOVE) and a symlink (with its record,
 * INODE_UNLINK). */
static void test_xattrs(void)
{
	char buf[16];
	uint64_t fino, sino;

	if (ct_write_file(_h, "/a/xf", 10, 43, 10, 0) != 0)
		bail("write /a/xf");
	fino = _ino("/a/xf");
	is_int(ebb_setxattr(_h, "/a/xf", "user.k", "fv", 2, 0), 0,
	       "xattrs: setxattr user.k on /a/xf");
	is_int(ebb_link(_h, "/a/xf", "/b/xf2"), 0, "link /a/xf /b/xf2");
	is_int(ebb_unlink(_h, "/a/xf"), 0, "unlink /a/xf");
	ok(ebb_getxattr(_h, "/b/xf2", "user.k", buf, sizeof(buf)) == 2 &&
		   !memcmp(buf, "fv", 2),
	   "... /b/xf2 still has user.k = \"fv\"");
	is_int(ebb_unlink(_h, "/b/xf2"), 0, "unlink /b/xf2 (the last name)");
	CT_ERRNO(ebb_getxattr_ino(_h, fino, "user.k", buf, sizeof(buf)),
		 ENODATA, "... its xattrs went with it");

	is_int(ebb_symlink(_h, "t", "/a/xs"), 0, "symlink /a/xs");
	sino = _ino("/a/xs");
	is_int(ebb_setxattr_ino(_h, sino, "trusted.k", "sv", 2, 0), 0,
	       "setxattr trusted.k on the symlink");
	is_int(ebb_link(_h, "/a/xs", "/b/xs2"), 0, "link /a/xs /b/xs2");
	is_int(ebb_unlink(_h, "/a/xs"), 0, "unlink /a/xs");
	ok(ebb_getxattr_ino(_h, sino, "trusted.k", buf, sizeof(buf)) == 2 &&
		   !memcmp(buf, "sv", 2),
	   "... the symlink's trusted.k is kept for /b/xs2");
	is_int(ebb_unlink(_h, "/b/xs2"), 0, "unlink /b/xs2 (the last name)");
	CT_ERRNO(ebb_getxattr_ino(_h, sino, "trusted.k", buf, sizeof(buf)),
		 ENODATA, "... its xattrs went with its record");
}

/* A listing of a directory of many hard-linked entries (their dentries
 * pointers, their records on all 4 home nodes) gives every entry once with
 * its record's attributes, and waits for a few round trips per READDIR
 * batch, not one INODE_GET per entry (dir.c: the records of a batch are
 * fetched together).  The names in /ls are picked on one node, so that its
 * READDIR batch holds more than one window (256) of linked entries; their
 * records are where /lm's names are, on all nodes. */
#define NLS 300
#define NPLAIN 10

static const mode_t _modes[] = {0600, 0640, 0644, 0755};

static void test_listing(void)
{
	static uint64_t ino[NLS];
	static unsigned gname[NLS];
	static unsigned seen[NLS], pseen[NPLAIN];
	unsigned homes[NODES] = {0}, nhomes = 0, dup = 0, badattr = 0;
	unsigned other = 0, n = 0;
	uint64_t runs;
	char p[64], q[64];
	struct ebb_dirent e;
	struct ebb_stat st;
	ebb_dir_t *d;
	int r;

	if (ebb_mkdir(_h, "/lm", 0755) != 0 || ebb_mkdir(_h, "/ls", 0755) != 0)
		bail("mkdir /lm /ls: %s", strerror(errno));
	if (ebb_stat(_h, "/ls", &st) != 0)
		bail("stat /ls: %s", strerror(errno));
	for (unsigned i = 0, k = 0; i < NLS; k++) {
		snprintf(q, sizeof(q), "g%u", k);
		if (placement_dentry_node(st.ino, q, strlen(q), NODES) == 0)
			gname[i++] = k;
	}
	for (unsigned i = 0; i < NLS; i++) {
		snprintf(p, sizeof(p), "/lm/f%u", i);
		snprintf(q, sizeof(q), "/ls/g%u", gname[i]);
		if (ct_write_file(_h, p, i % 97, i, 4096, 0) != 0 ||
		    ebb_chmod(_h, p, _modes[i % 4]) != 0 ||
		    ebb_link(_h, p, q) != 0)
			bail("make %s and %s: %s", p, q, strerror(errno));
		if (i % 10 == 0) {
			snprintf(q, sizeof(q), "/lm/h%u", i);
			if (ebb_link(_h, p, q) != 0)
				bail("link %s %s: %s", p, q, strerror(errno));
		}
		ino[i] = _ino(p);
		if (homes[(ino[i] >> PROTO_INO_RANK_SHIFT) % NODES]++ == 0)
			nhomes++;
	}
	for (unsigned i = 0; i < NPLAIN; i++) {
		snprintf(p, sizeof(p), "/ls/p%u", i);
		if (ct_write_file(_h, p, 7, i, 4096, 0) != 0)
			bail("write %s", p);
	}
	is_int(nhomes, NODES, "listing: %u linked names in /ls (on node 0), "
	       "their records on all %u nodes", NLS, NODES);

	runs = __atomic_load_n(&_h->net.runs, __ATOMIC_RELAXED);
	if (!(d = ebb_opendir(_h, "/ls")))
		bail("opendir /ls: %s", strerror(errno));
	while ((r = ebb_readdir(d, &e)) == 1) {
		unsigned i;
		char c;

		n++;
		if (sscanf(e.name, "g%u%c", &i, &c) == 1) {
			unsigned k = i;

			for (i = 0; i < NLS && gname[i] != k; i++)
				;
			if (i == NLS) {
				other++;
				continue;
			}
			if (seen[i]++)
				dup++;
			if (e.ino != ino[i] || e.st.ino != ino[i] ||
			    !S_ISREG(e.st.mode) ||
			    (e.st.mode & 07777) != _modes[i % 4] ||
			    e.st.size != i % 97 ||
			    e.st.nlink != (i % 10 == 0 ? 3u : 2u) ||
			    e.mode != e.st.mode) {
				if (badattr++ < 5)
					diag("%s: ino %llu mode 0%o/0%o size "
					     "%llu nlink %u", e.name,
					     (unsigned long long)e.st.ino,
					     (unsigned)e.st.mode,
					     (unsigned)e.mode,
					     (unsigned long long)e.st.size,
					     (unsigned)e.st.nlink);
			}
		} else if (sscanf(e.name, "p%u%c", &i, &c) == 1 &&
			   i < NPLAIN) {
			if (pseen[i]++)
				dup++;
			if (e.st.nlink != 1 || e.st.size != 7)
				badattr++;
		} else {
			other++;
		}
	}
	runs = __atomic_load_n(&_h->net.runs, __ATOMIC_RELAXED) - runs;
	ebb_closedir(d);
	is_int(r, 0, "... readdir of /ls ends without error");
	is_int(n, NLS + NPLAIN, "... %u entries listed (%u linked, %u not)",
	       NLS + NPLAIN, NLS, NPLAIN);
	is_int(dup + other, 0, "... each once, none unknown");
	is_int(badattr, 0, "... each with its record's attributes (ino, "
	       "type, mode, size, nlink 2 or 3)");
	diag("listing %u linked entries took %llu round trips", NLS,
	     (unsigned long long)runs);
	ok(runs <= 12, "... in a few round trips per READDIR batch (%llu), "
	   "not one INODE_GET after another (> %u)", (unsigned long long)runs,
	   NLS);

	/* A record gone while its names still point at it (what a listing
	 * racing the last unlink sees between READDIR and INODE_GET): the
	 * entry is listed with its type only, the listing does not fail. */
	if (ebb_mkdir(_h, "/lq", 0755) != 0)
		bail("mkdir /lq: %s", strerror(errno));
	for (unsigned i = 0; i < 6; i++) {
		snprintf(p, sizeof(p), "/lq/k%u", i);
		snprintf(q, sizeof(q), "/lm/k%u", i);
		if (ct_write_file(_h, p, 5, i, 4096, 0) != 0 ||
		    ebb_link(_h, p, q) != 0)
			bail("make %s and %s: %s", p, q, strerror(errno));
	}
	ino[0] = _ino("/lq/k3");
	ok(link_drop(_h, ino[0]) == EBB_OK && link_drop(_h, ino[0]) == EBB_OK &&
		   ebb_stat_ino(_h, ino[0], &st) == -1 && errno == ENOENT,
	   "the record of /lq/k3 dropped by hand (INODE_UNLINK x 2), its "
	   "names left");
	n = badattr = 0;
	if (!(d = ebb_opendir(_h, "/lq")))
		bail("opendir /lq: %s", strerror(errno));
	while ((r = ebb_readdir(d, &e)) == 1) {
		n++;
		if (!strcmp(e.name, "k3")) {
			ok(e.ino == ino[0] && S_ISREG(e.st.mode) &&
				   e.mode == S_IFREG &&
				   (e.st.mode & 07777) == 0 && e.st.size == 0,
			   "... listing /lq gives k3 with its type only "
			   "(mode 0%o, size %llu)", (unsigned)e.st.mode,
			   (unsigned long long)e.st.size);
		} else if (e.st.nlink != 2 || e.st.size != 5) {
			badattr++;
		}
	}
	ebb_closedir(d);
	is_int(r, 0, "... and ends without error");
	is_int(n, 6, "... all 6 entries listed");
	is_int(badattr, 0, "... the other 5 with their records' attributes");

	/* Clean up (k3's unlinks answer ENOENT for the record: ignored). */
	for (unsigned i = 0; i < 6; i++) {
		snprintf(p, sizeof(p), "/lq/k%u", i);
		snprintf(q, sizeof(q), "/lm/k%u", i);
		(void)ebb_unlink(_h, p);
		(void)ebb_unlink(_h, q);
	}
	for (unsigned i = 0; i < NLS; i++) {
		snprintf(p, sizeof(p), "/lm/f%u", i);
		snprintf(q, sizeof(q), "/ls/g%u", gname[i]);
		if (ebb_unlink(_h, p) != 0 || ebb_unlink(_h, q) != 0)
			bail("unlink %s %s: %s", p, q, strerror(errno));
		if (i % 10 == 0) {
			snprintf(q, sizeof(q), "/lm/h%u", i);
			if (ebb_unlink(_h, q) != 0)
				bail("unlink %s: %s", q, strerror(errno));
		}
	}
	for (unsigned i = 0; i < NPLAIN; i++) {
		snprintf(p, sizeof(p), "/ls/p%u", i);
		(void)ebb_unlink(_h, p);
	}
	ok(ebb_rmdir(_h, "/lq") == 0 && ebb_rmdir(_h, "/ls") == 0 &&
		   ebb_rmdir(_h, "/lm") == 0,
	   "... everything removed");
}

int main(void)
{
	struct ctest c;
	uint64_t base;

	plan_lazy();
	ct_setup(&c, "t-links", 64ULL * 1024 * 1024, STRIPE, 0, 0);
	if (c.nmembers != NODES)
		bail("links.t starts %d bbds, EBB_NODES has %u", NODES,
		     c.nmembers);
	_h = c.h;
	base = _used();
	test_link();
	test_open();
	test_symlink_linkat();
	test_race();
	test_xattrs();
	test_listing();
	is_int((long)(_used() - base), 0, "nothing left behind (statfs used)");
	is_int(ct_teardown(&c), 0, "detach and destroy the instance");
	return tap_exit();
}
