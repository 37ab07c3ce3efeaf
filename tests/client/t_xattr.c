/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Extended attributes through libebb against real bbds (xattr.t, 4 bbd):
 * the errno values of ebb_*xattr[_ino] as the system calls give them,
 * the path and inode forms, the attributes kept through renames that move
 * the dentry between nodes, and dropped with the file.
 *
 * libebb drops a directory's or symlink's attributes when its name is
 * removed off its home node, or replaced by a rename.
 *
 * The inode's home node is fixed (the rank that created it) while its
 * names hash over the 4 nodes: 40 renames through names in two
 * directories cover both rename paths (RENAME_LOCAL and LINK_INSERT +
 * UNLINK) and dentries on other nodes than the home.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "ctest.h"
#include "placement.h"
#include "proto.h"
#include "tap.h"

static int _errno_of(long rc)
{
	return rc < 0 ? errno : 0;
}

static uint64_t _ino(ebb_t *h, const char *path)
{
	struct ebb_stat st;

	return ebb_lstat(h, path, &st) == 0 ? st.ino : 0;
}

static void _mkfile(ebb_t *h, const char *path, size_t len)
{
	ebb_file_t *f = ebb_open(h, path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	static char buf[3 << 20];

	if (!f)
		bail("ebb_open(%s): %s", path, strerror(errno));
	if (len && ebb_pwrite(f, buf, len, 0) != (ssize_t)len)
		bail("ebb_pwrite(%s): %s", path, strerror(errno));
	if (ebb_close(f) != 0)
		bail("ebb_close(%s): %s", path, strerror(errno));
}

static void test_errors(ebb_t *h)
{
	static char big[65537];
	char name[300], buf[64];
	uint64_t ino;

	_mkfile(h, "/f", 10);
	ino = _ino(h, "/f");
	is_int(ebb_setxattr(h, "/f", "user.a", "value", 5, 0), 0,
	       "ebb_setxattr user.a");
	is_int(ebb_getxattr(h, "/f", "user.a", buf, sizeof(buf)), 5,
	       "ebb_getxattr: 5 bytes");
	ok(!memcmp(buf, "value", 5), "... the value");
	is_int(ebb_getxattr_ino(h, ino, "user.a", NULL, 0), 5,
	       "ebb_getxattr_ino with size 0: the length");
	is_int(_errno_of(ebb_getxattr_ino(h, ino, "user.a", buf, 4)), ERANGE,
	       "a buffer of 4 for 5 bytes: ERANGE");
	is_int(_errno_of(ebb_setxattr_ino(h, ino, "user.a", "x", 1,
					  XATTR_CREATE)), EEXIST,
	       "XATTR_CREATE on an existing name: EEXIST");
	is_int(_errno_of(ebb_setxattr_ino(h, ino, "user.b", "x", 1,
					  XATTR_REPLACE)), ENODATA,
	       "XATTR_REPLACE of a missing name: ENODATA");
	is_int(_errno_of(ebb_setxattr_ino(h, ino, "user.b", "x", 1, 8)), EINVAL,
	       "unknown flags: EINVAL");
	is_int(_errno_of(ebb_getxattr_ino(h, ino, "user.b", buf, 10)), ENODATA,
	       "get of a missing name: ENODATA");
	is_int(_errno_of(ebb_removexattr(h, "/f", "user.b")), ENODATA,
	       "remove of a missing name: ENODATA");
	memset(name, 'n', sizeof(name));
	memcpy(name, "user.", 5);
	name[256] = '\0';
	is_int(_errno_of(ebb_setxattr_ino(h, ino, name, "x", 1, 0)), ERANGE,
	       "a name of 256 bytes: ERANGE (as setxattr(2))");
	is_int(_errno_of(ebb_getxattr_ino(h, ino, "", buf, 10)), ERANGE,
	       "an empty name: ERANGE");
	is_int(_errno_of(ebb_setxattr_ino(h, ino, "user.big", big, 65537, 0)),
	       E2BIG, "a value of 65,537 bytes: E2BIG");
	is_int(ebb_setxattr_ino(h, ino, "user.big", big, 65536, 0), 0,
	       "a value of 65,536 bytes");
	is_int(_errno_of(ebb_setxattr_ino(h, ino, "security.x", "x", 1, 0)),
	       EOPNOTSUPP, "security.*: EOPNOTSUPP");
	is_int(_errno_of(ebb_setxattr_ino(h, ino, "user.", "x", 1, 0)), EINVAL,
	       "a bare user.: EINVAL");
	is_int(_errno_of(ebb_getxattr_ino(h, 0, "user.a", buf, 10)), EINVAL,
	       "inode 0: EINVAL");
	is_int(_errno_of(ebb_getxattr_ino(h, (99ull << 48) | 16, "user.a", buf,
					  10)), EINVAL,
	       "an inode of a rank the instance does not have: EINVAL");
	is_int(ebb_listxattr(h, "/f", NULL, 0), 16,
	       "ebb_listxattr size 0: \"user.a\\0user.big\\0\" is 16 bytes");
	is_int(_errno_of(ebb_listxattr_ino(h, ino, buf, 15)), ERANGE,
	       "a list buffer of 15: ERANGE");
	is_int(ebb_listxattr_ino(h, ino, buf, sizeof(buf)), 16,
	       "ebb_listxattr_ino");
	ok(!memcmp(buf, "user.a\0user.big\0", 16), "... the sorted names");
	is_int(ebb_removexattr_ino(h, ino, "user.big"), 0, "ebb_removexattr_ino");
	is_int(_errno_of(ebb_getxattr(h, "/nope", "user.a", buf, 10)), ENOENT,
	       "a path that does not exist: ENOENT");
	ebb_symlink(h, "f", "/l");
	is_int(ebb_getxattr(h, "/l", "user.a", buf, sizeof(buf)), 5,
	       "a path through a symlink: its target's");
}

/* Kept through 40 renames between two directories (dentries on every
 * node); dropped with the file, small (UNLINK with DATA) or striped over
 * several nodes (REMOVE). */
static void test_inode(ebb_t *h)
{
	char from[64], to[64], buf[16];
	unsigned bad = 0;
	uint64_t ino, big;

	ebb_mkdir(h, "/r", 0755);
	ebb_mkdir(h, "/s", 0755);
	_mkfile(h, "/r/n0", 100);
	ino = _ino(h, "/r/n0");
	is_int(ebb_setxattr(h, "/r/n0", "user.k", "kept", 4, 0), 0,
	       "set user.k on /r/n0");
	for (int i = 1; i <= 40; i++) {
		snprintf(from, sizeof(from), "/%c/n%d", (i - 1) % 2 ? 's' : 'r',
			 i - 1);
		snprintf(to, sizeof(to), "/%c/n%d", i % 2 ? 's' : 'r', i);
		if (ebb_rename(h, from, to) != 0 ||
		    ebb_getxattr(h, to, "user.k", buf, sizeof(buf)) != 4 ||
		    memcmp(buf, "kept", 4) != 0 || _ino(h, to) != ino) {
			diag("rename %s -> %s: %s", from, to, strerror(errno));
			bad++;
		}
	}
	is_int(bad, 0, "user.k read through the new name after each of 40 "
	       "renames (r <-> s)");
	is_int(ebb_unlink(h, "/r/n40"), 0, "unlink the file (one stripe)");
	is_int(_errno_of(ebb_getxattr_ino(h, ino, "user.k", buf, sizeof(buf))),
	       ENODATA, "its inode's user.k went with it");
	_mkfile(h, "/big", 3u << 20);
	big = _ino(h, "/big");
	is_int(ebb_setxattr(h, "/big", "user.k", "big", 3, 0), 0,
	       "set user.k on a 3 MiB file (3 stripes)");
	is_int(ebb_unlink(h, "/big"), 0, "unlink it (REMOVE on every node)");
	is_int(_errno_of(ebb_getxattr_ino(h, big, "user.k", buf, sizeof(buf))),
	       ENODATA, "its inode's user.k went with it");
	ebb_mkdir(h, "/dx", 0755);
	ino = _ino(h, "/dx");
	is_int(ebb_setxattr(h, "/dx", "user.d", "d", 1, 0), 0,
	       "set user.d on a directory");
	is_int(ebb_rmdir(h, "/dx"), 0, "rmdir it (not renamed: on its home)");
	is_int(_errno_of(ebb_getxattr_ino(h, ino, "user.d", buf, sizeof(buf))),
	       ENODATA, "its user.d went with it");
}

/* A name in directory /dir (inode dir) whose dentry is NOT on rank home,
 * into buf. */
static void _off_home(ebb_t *h, uint64_t dir, unsigned home,
		      const char *prefix, char *buf, size_t size)
{
	for (int i = 0;; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%s%d", prefix, i);
		if (placement_dentry_node(dir, name, strlen(name),
					  ebb_nmembers(h)) != home) {
			snprintf(buf, size, "/m/%s", name);
			return;
		}
	}
}

/* A directory or symlink renamed off its home node and removed there:
 * libebb asks the home node to drop its attributes (REMOVE); and an inode
 * replaced by a rename loses them too. */
static void test_off_home(ebb_t *h)
{
	char path[64], buf[16];
	uint64_t m, ino;
	unsigned home;

	ebb_mkdir(h, "/m", 0755);
	m = _ino(h, "/m");
	ebb_mkdir(h, "/m/d0", 0755);
	ino = _ino(h, "/m/d0");
	home = (unsigned)(ino >> PROTO_INO_RANK_SHIFT);
	_off_home(h, m, home, "dd", path, sizeof(path));
	ok(ebb_setxattr(h, "/m/d0", "user.d", "d", 1, 0) == 0 &&
		   ebb_rename(h, "/m/d0", path) == 0,
	   "a directory with user.d renamed to %s, a dentry off its home "
	   "node %u", path, home);
	is_int(ebb_rmdir(h, path), 0, "rmdir it there");
	is_int(_errno_of(ebb_getxattr_ino(h, ino, "user.d", buf, sizeof(buf))),
	       ENODATA, "its user.d is gone from its home node");
	ebb_symlink(h, "target", "/m/s0");
	ino = _ino(h, "/m/s0");
	home = (unsigned)(ino >> PROTO_INO_RANK_SHIFT);
	_off_home(h, m, home, "ss", path, sizeof(path));
	ok(ebb_setxattr_ino(h, ino, "user.s", "s", 1, 0) == 0 &&
		   ebb_rename(h, "/m/s0", path) == 0,
	   "a symlink with user.s renamed to %s, off its home node %u", path,
	   home);
	is_int(ebb_unlink(h, path), 0, "unlink it there");
	is_int(_errno_of(ebb_getxattr_ino(h, ino, "user.s", buf, sizeof(buf))),
	       ENODATA, "its user.s is gone from its home node");
	ebb_symlink(h, "target", "/m/s1");
	ino = _ino(h, "/m/s1");
	_mkfile(h, "/m/over", 1);
	ok(ebb_setxattr_ino(h, ino, "user.s", "s", 1, 0) == 0 &&
		   ebb_rename(h, "/m/over", "/m/s1") == 0,
	   "a symlink with user.s replaced by a rename");
	is_int(_errno_of(ebb_getxattr_ino(h, ino, "user.s", buf, sizeof(buf))),
	       ENODATA, "its user.s is gone");
}

int main(void)
{
	struct ctest c;

	plan_lazy();
	ct_setup(&c, "t-xattr", 256ULL * 1024 * 1024, 1 << 20, 0, 0);
	test_errors(c.h);
	test_inode(c.h);
	test_off_home(c.h);
	is_int(ct_teardown(&c), 0, "detach and destroy the instance");
	return tap_exit();
}
