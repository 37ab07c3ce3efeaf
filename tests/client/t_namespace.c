/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The namespace through libebb against real bbds: 10 k files in 100
 * directories listed exactly once, a paged listing, rename in all its
 * forms (a populated directory, across directories, onto existing
 * targets, the refusals), rmdir/unlink errors, symlinks, attributes.
 *
 * Run by namespace.t (4 bbd).  Dentries are placed by hash over the 4
 * nodes, so a few hundred renames cover both the one-node (RENAME_LOCAL)
 * and the two-node (LINK_INSERT + UNLINK) paths.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctest.h"
#include "tap.h"

#define NDIRS 100
#define NFILES 100

static uint64_t _len(unsigned d, unsigned f)
{
	return (d * 31 + f * 17) % 300;
}

static uint64_t _seed(unsigned d, unsigned f)
{
	return 1000000 + d * 1000 + f;
}

/* List path; count[i] += 1 for each entry named prefix%u (i < n); other
 * names count as strays.  Returns entries seen or -1. */
static long _list(ebb_t *h, const char *path, const char *prefix,
		  unsigned *count, unsigned n, unsigned *strays, int check_files)
{
	ebb_dir_t *d = ebb_opendir(h, path);
	struct ebb_dirent ent;
	size_t plen = strlen(prefix);
	long seen = 0;
	int r;

	if (!d) {
		diag("ebb_opendir(%s): %s", path, strerror(errno));
		return -1;
	}
	while ((r = ebb_readdir(d, &ent)) == 1) {
		char *end;
		unsigned long i;

		seen++;
		if (strncmp(ent.name, prefix, plen) != 0) {
			(*strays)++;
			continue;
		}
		i = strtoul(ent.name + plen, &end, 10);
		if (*end || i >= n) {
			(*strays)++;
			continue;
		}
		count[i]++;
		if (check_files && (!S_ISREG(ent.mode) || !S_ISREG(ent.st.mode)))
			(*strays)++;
	}
	if (r < 0) {
		diag("ebb_readdir(%s): %s", path, strerror(errno));
		seen = -1;
	}
	ebb_closedir(d);
	return seen;
}

static void test_tree(ebb_t *h)
{
	unsigned count[NDIRS > NFILES ? NDIRS : NFILES];
	unsigned bad = 0, strays = 0;
	char p[64];
	double t0 = ct_now();

	for (unsigned d = 0; d < NDIRS; d++) {
		snprintf(p, sizeof(p), "/d%u", d);
		if (ebb_mkdir(h, p, 0755) != 0) {
			diag("mkdir %s: %s", p, strerror(errno));
			bad++;
		}
	}
	is_int(bad, 0, "mkdir %d directories", NDIRS);
	for (unsigned d = 0; d < NDIRS; d++)
		for (unsigned f = 0; f < NFILES; f++) {
			snprintf(p, sizeof(p), "/d%u/f%u", d, f);
			if (ct_write_file(h, p, _len(d, f), _seed(d, f), 4096, 0))
				bad++;
		}
	is_int(bad, 0, "create and write %d files", NDIRS * NFILES);
	diag("%.0f creates/s with data (not a benchmark)",
	     NDIRS * NFILES / (ct_now() - t0));

	memset(count, 0, sizeof(count));
	is_int(_list(h, "/", "d", count, NDIRS, &strays, 0), NDIRS,
	       "readdir / lists %d entries", NDIRS);
	bad = 0;
	for (unsigned i = 0; i < NDIRS; i++)
		bad += count[i] != 1;
	ok(bad == 0 && strays == 0, "each directory listed exactly once");

	bad = 0;
	for (unsigned d = 0; d < NDIRS; d++) {
		snprintf(p, sizeof(p), "/d%u", d);
		memset(count, 0, sizeof(count));
		strays = 0;
		if (_list(h, p, "f", count, NFILES, &strays, 1) != NFILES ||
		    strays) {
			diag("%s: wrong listing (%u strays)", p, strays);
			bad++;
			continue;
		}
		for (unsigned i = 0; i < NFILES; i++)
			if (count[i] != 1) {
				diag("%s/f%u listed %u times", p, i, count[i]);
				bad++;
			}
	}
	is_int(bad, 0, "readdir of each directory lists each of its %d files "
	       "exactly once, as regular files", NFILES);

	/* spot-check contents and sizes through stat */
	bad = 0;
	for (unsigned d = 0; d < NDIRS; d += 7)
		for (unsigned f = 0; f < NFILES; f += 13) {
			struct ebb_stat st;
			snprintf(p, sizeof(p), "/d%u/f%u", d, f);
			if (ebb_stat(h, p, &st) != 0 || st.size != _len(d, f) ||
			    ct_verify_file(h, p, _len(d, f), _seed(d, f), 100))
				bad++;
		}
	is_int(bad, 0, "sampled files have their sizes and contents");
}

static void test_paged(ebb_t *h)
{
	enum { N = 3000 };
	static unsigned count[N];
	unsigned bad = 0, strays = 0;
	char p[200], name[160];

	/* long names so that one node's share passes the 60 KiB reply */
	memset(name, 'x', 120);
	name[120] = '\0';
	is_int(ebb_mkdir(h, "/flat", 0755), 0, "mkdir /flat");
	for (unsigned i = 0; i < N; i++) {
		ebb_file_t *f;
		snprintf(p, sizeof(p), "/flat/%s%u", name, i);
		f = ebb_open(h, p, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (!f || ebb_close(f) != 0)
			bad++;
	}
	is_int(bad, 0, "create %d files with 121+-byte names in one directory", N);
	memset(count, 0, sizeof(count));
	is_int(_list(h, "/flat", name, count, N, &strays, 1), N,
	       "readdir lists %d entries (several replies per node)", N);
	bad = 0;
	for (unsigned i = 0; i < N; i++)
		bad += count[i] != 1;
	ok(bad == 0 && strays == 0, "each exactly once");

	/* remove every third and list again */
	bad = 0;
	for (unsigned i = 0; i < N; i += 3) {
		snprintf(p, sizeof(p), "/flat/%s%u", name, i);
		if (ebb_unlink(h, p) != 0)
			bad++;
	}
	is_int(bad, 0, "unlink every third");
	memset(count, 0, sizeof(count));
	strays = 0;
	is_int(_list(h, "/flat", name, count, N, &strays, 1), N - N / 3,
	       "readdir lists the %d left", N - N / 3);
	bad = 0;
	for (unsigned i = 0; i < N; i++)
		bad += count[i] != (i % 3 ? 1u : 0u);
	ok(bad == 0 && strays == 0, "the removed ones are gone, the others "
	   "listed once");
}

static void test_rename(ebb_t *h)
{
	unsigned bad = 0, count[NFILES], strays = 0;
	struct ebb_stat st, st2;
	char p[80], q[80];

	/* a populated directory */
	ok(ebb_stat(h, "/d0", &st) == 0 && S_ISDIR(st.mode), "/d0 is a directory");
	is_int(ebb_rename(h, "/d0", "/moved"), 0, "rename /d0 (100 files) -> /moved");
	CT_ERRNO(ebb_stat(h, "/d0", &st2), ENOENT, "old path /d0 -> ENOENT");
	CT_ERRNO(ebb_stat(h, "/d0/f5", &st2), ENOENT, "old child path -> ENOENT");
	ok(ebb_stat(h, "/moved", &st2) == 0 && st2.ino == st.ino,
	   "/moved is the same inode");
	for (unsigned f = 0; f < NFILES; f++) {
		snprintf(p, sizeof(p), "/moved/f%u", f);
		if (ct_verify_file(h, p, _len(0, f), _seed(0, f), 4096))
			bad++;
	}
	is_int(bad, 0, "every child reachable under the new name, data intact");
	memset(count, 0, sizeof(count));
	ok(_list(h, "/moved", "f", count, NFILES, &strays, 1) == NFILES &&
	   strays == 0, "readdir of the moved directory lists its %d files",
	   NFILES);

	/* nested: the subtree moves along */
	ok(ebb_mkdir(h, "/a", 0755) == 0 && ebb_mkdir(h, "/a/b", 0755) == 0 &&
	   ebb_mkdir(h, "/a/b/c", 0755) == 0 &&
	   ct_write_file(h, "/a/b/c/deep", 4000, 77, 1000, 0) == 0,
	   "make /a/b/c/deep");
	is_int(ebb_rename(h, "/a", "/d1/z"), 0, "rename /a -> /d1/z (into another directory)");
	is_int(ct_verify_file(h, "/d1/z/b/c/deep", 4000, 77, 999), 0,
	       "/d1/z/b/c/deep reachable with its data");
	CT_ERRNO(ebb_stat(h, "/a/b/c/deep", &st), ENOENT, "old deep path -> ENOENT");

	/* refusals */
	CT_ERRNO(ebb_rename(h, "/d1", "/d1/z/b/inside"), EINVAL,
		 "directory into its own subdirectory -> EINVAL");
	CT_ERRNO(ebb_rename(h, "/d1/z", "/d1/z/b/c/x"), EINVAL,
		 "directory into its own grandchild -> EINVAL");
	CT_ERRNO(ebb_rename(h, "/d2", "/d3"), ENOTEMPTY,
		 "directory onto a non-empty directory -> ENOTEMPTY");
	ok(ebb_stat(h, "/d2/f1", &st) == 0 && ebb_stat(h, "/d3/f1", &st) == 0,
	   "both directories untouched");
	CT_ERRNO(ebb_rename(h, "/d2", "/d3/f0"), ENOTDIR,
		 "directory onto a file -> ENOTDIR");
	CT_ERRNO(ebb_rename(h, "/d3/f0", "/d2"), EISDIR,
		 "file onto a directory -> EISDIR");
	CT_ERRNO(ebb_rename(h, "/nothere", "/x"), ENOENT, "missing source -> ENOENT");
	CT_ERRNO(ebb_rename(h, "/d3/f0", "/nodir/x"), ENOENT,
		 "target in a missing directory -> ENOENT");
	CT_ERRNO(ebb_rename(h, "/", "/x"), EBUSY, "rename of / -> EBUSY");

	/* onto an empty directory: replaces it */
	ok(ebb_mkdir(h, "/empty1", 0755) == 0 && ebb_mkdir(h, "/empty2", 0700) == 0,
	   "two empty directories");
	ok(ebb_stat(h, "/empty1", &st) == 0, "stat /empty1");
	is_int(ebb_rename(h, "/empty1", "/empty2"), 0,
	       "directory onto an empty directory replaces it");
	ok(ebb_stat(h, "/empty2", &st2) == 0 && st2.ino == st.ino &&
	   ebb_stat(h, "/empty1", &st2) != 0, "/empty2 is now the old /empty1");

	/* a file across directories */
	is_int(ebb_rename(h, "/d4/f0", "/d5/renamed"), 0, "file across directories");
	is_int(ct_verify_file(h, "/d5/renamed", _len(4, 0), _seed(4, 0), 64), 0,
	       "its data under the new name");
	CT_ERRNO(ebb_stat(h, "/d4/f0", &st), ENOENT, "source gone");

	/* onto an existing file: replaces it, the old one's data is gone */
	ok(ebb_stat(h, "/d6/f1", &st) == 0, "stat the victim /d6/f1");
	is_int(ebb_rename(h, "/d6/f0", "/d6/f1"), 0, "file onto an existing file");
	is_int(ct_verify_file(h, "/d6/f1", _len(6, 0), _seed(6, 0), 64), 0,
	       "the target holds the source's data");
	CT_ERRNO(ebb_stat(h, "/d6/f0", &st2), ENOENT, "the source name is gone");
	memset(count, 0, sizeof(count));
	strays = 0;
	is_int(_list(h, "/d6", "f", count, NFILES, &strays, 1), NFILES - 1,
	       "the directory lists one file less");
	is_int(ebb_rename(h, "/d6/f1", "/d6/f1"), 0, "rename onto itself is a no-op");
	is_int(ct_verify_file(h, "/d6/f1", _len(6, 0), _seed(6, 0), 64), 0,
	       "and changes nothing");

	/* many renames: both the one-node and the two-node paths */
	bad = 0;
	for (unsigned f = 0; f < NFILES; f++) {
		snprintf(p, sizeof(p), "/d7/f%u", f);
		snprintf(q, sizeof(q), "/d8/g%u-%u", f, f * 7);
		if (ebb_rename(h, p, q) != 0) {
			diag("rename %s %s: %s", p, q, strerror(errno));
			bad++;
		}
	}
	is_int(bad, 0, "%d renames from /d7 to /d8", NFILES);
	bad = 0;
	for (unsigned f = 0; f < NFILES; f++) {
		snprintf(q, sizeof(q), "/d8/g%u-%u", f, f * 7);
		snprintf(p, sizeof(p), "/d7/f%u", f);
		if (ct_verify_file(h, q, _len(7, f), _seed(7, f), 4096) ||
		    ebb_stat(h, p, &st) == 0)
			bad++;
	}
	is_int(bad, 0, "each renamed file reachable with its data, the old "
	       "names gone");
	memset(count, 0, sizeof(count));
	strays = 0;
	is_int(_list(h, "/d7", "f", count, NFILES, &strays, 0), 0,
	       "/d7 lists nothing");
	ok(ebb_rmdir(h, "/d7") == 0, "and can be removed");
}

static void test_errors(ebb_t *h)
{
	char longname[300];
	struct ebb_stat st;

	CT_ERRNO(ebb_mkdir(h, "/d9", 0755), EEXIST, "mkdir of an existing dir -> EEXIST");
	CT_ERRNO(ebb_mkdir(h, "/d9/f0", 0755), EEXIST, "mkdir over a file -> EEXIST");
	CT_ERRNO(ebb_mkdir(h, "/none/x", 0755), ENOENT, "mkdir in a missing dir -> ENOENT");
	CT_ERRNO(ebb_mkdir(h, "/d9/f0/x", 0755), ENOTDIR, "mkdir under a file -> ENOTDIR");
	CT_ERRNO(ebb_rmdir(h, "/d9"), ENOTEMPTY, "rmdir of a non-empty dir -> ENOTEMPTY");
	CT_ERRNO(ebb_rmdir(h, "/d9/f0"), ENOTDIR, "rmdir of a file -> ENOTDIR");
	CT_ERRNO(ebb_unlink(h, "/d9"), EISDIR, "unlink of a directory -> EISDIR");
	CT_ERRNO(ebb_unlink(h, "/d9/nope"), ENOENT, "unlink of a missing file -> ENOENT");
	CT_ERRNO(ebb_rmdir(h, "/"), EBUSY, "rmdir / -> EBUSY");
	memset(longname, 'n', sizeof(longname));
	longname[0] = '/';
	longname[257] = '\0';
	CT_ERRNO(ebb_mkdir(h, longname, 0755), ENAMETOOLONG,
		 "a 256-byte name -> ENAMETOOLONG");
	longname[256] = '\0';
	is_int(ebb_mkdir(h, longname, 0755), 0, "a 255-byte name is fine");

	/* unlink a file, then its directory empties */
	{
		unsigned bad = 0;
		char p[32];
		for (unsigned f = 0; f < NFILES; f++) {
			snprintf(p, sizeof(p), "/d9/f%u", f);
			if (ebb_unlink(h, p) != 0)
				bad++;
		}
		is_int(bad, 0, "unlink the %d files of /d9", NFILES);
		is_int(ebb_rmdir(h, "/d9"), 0, "then rmdir /d9 works");
		CT_ERRNO(ebb_stat(h, "/d9", &st), ENOENT, "/d9 is gone");
	}
}

static void test_symlink_attr(ebb_t *h)
{
	struct ebb_stat st;
	char buf[300];
	ssize_t n;
	struct timespec ts[2] = {{.tv_sec = 1000000000, .tv_nsec = 5},
				 {.tv_sec = 1200000000, .tv_nsec = 7}};

	is_int(ebb_symlink(h, "d10/f3", "/link"), 0, "symlink /link -> d10/f3");
	n = ebb_readlink(h, "/link", buf, sizeof(buf));
	ok(n == 6 && memcmp(buf, "d10/f3", 6) == 0, "readlink gives the target");
	ok(ebb_lstat(h, "/link", &st) == 0 && S_ISLNK(st.mode) && st.size == 6,
	   "lstat: a symlink of size 6");
	ok(ebb_stat(h, "/link", &st) == 0 && S_ISREG(st.mode) &&
	   st.size == _len(10, 3), "stat follows it to the file");
	CT_ERRNO(ebb_symlink(h, "x", "/link"), EEXIST, "symlink over an existing name -> EEXIST");
	CT_ERRNO(ebb_readlink(h, "/d10/f3", buf, sizeof(buf)), EINVAL,
		 "readlink of a file -> EINVAL");

	is_int(ebb_chmod(h, "/d10/f4", 0600), 0, "chmod 0600");
	ok(ebb_stat(h, "/d10/f4", &st) == 0 && (st.mode & 07777) == 0600 &&
	   S_ISREG(st.mode), "mode is 0600, still a file");
	is_int(ebb_chown(h, "/d10/f4", 1234, 5678), 0, "chown 1234:5678 (root)");
	ok(ebb_stat(h, "/d10/f4", &st) == 0 && st.uid == 1234 && st.gid == 5678,
	   "owner changed");
	is_int(ebb_utimens(h, "/d10/f4", ts), 0, "utimens");
	ok(ebb_stat(h, "/d10/f4", &st) == 0 && st.atime.tv_sec == 1000000000 &&
	   st.atime.tv_nsec == 5 && st.mtime.tv_sec == 1200000000 &&
	   st.mtime.tv_nsec == 7, "atime and mtime set to the nanosecond");
	is_int(ebb_truncate(h, "/d10/f4", 5), 0, "truncate to 5 bytes");
	ok(ebb_stat(h, "/d10/f4", &st) == 0 && st.size == 5, "size 5");
}

int main(void)
{
	struct ctest c;

	plan_lazy();
	ct_setup(&c, "t-ns", 1024ULL * 1024 * 1024, 0, 0, 0);
	test_tree(c.h);
	test_paged(c.h);
	test_rename(c.h);
	test_errors(c.h);
	test_symlink_attr(c.h);
	is_int(ct_teardown(&c), 0, "detach and destroy the instance");
	return tap_exit();
}
