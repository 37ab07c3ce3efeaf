/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Who may use an instance: driven by auth.t, which runs the modes as
 * different users (setpriv):
 *
 *   t_auth create    (root) create $EBB_INSTANCE owned by uid 1 (daemon)
 *   t_auth owner     (root or uid 1) every data and metadata call works
 *   t_auth denied    (uid 65534) node calls work (so the credential is
 *                    good), every instance call fails with EACCES, and so
 *                    do instance create/destroy
 *   t_auth nocred    (root, no munged) calls fail
 *   t_auth raw       (root) raw connections: a request before HELLO, a
 *                    garbage credential, a replayed credential -> E_AUTH,
 *                    and the connection is closed
 *   t_auth destroy   (root)
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include "auth.h"
#include "ctest.h"
#include "proto.h"
#include "tap.h"

#define OWNER_UID 1
#define OWNER_GID 1

/* The *at_owner calls in directory /tag: root may create for anyone (what
 * ebb-fuse run as root does for its callers), others only for themselves;
 * an existing file keeps its owner.  Leaves the directory empty. */
static void _owner_calls(struct ctest *c, const char *tag)
{
	uid_t me = getuid();
	gid_t mg = getgid();
	struct ebb_stat d, st;
	char p[64];
	ebb_file_t *f;

	snprintf(p, sizeof(p), "/%s", tag);
	if (ebb_stat(c->h, p, &d) != 0) {
		ok(0, "stat %s: %s", p, strerror(errno));
		return;
	}
	f = ebb_openat_owner(c->h, d.ino, "own", O_CREAT | O_EXCL | O_WRONLY,
			     0644, me, mg, &st);
	ok(f && st.uid == me && st.gid == mg,
	   "create for oneself (uid %ld gid %ld): allowed, and so owned",
	   (long)me, (long)mg);
	if (f)
		ebb_close(f);
	/* Root and the instance's owner (the only callers served) may name
	 * anyone: ebb-fuse runs as the owner and creates for every local
	 * user (docs/security.md). */
	f = ebb_openat_owner(c->h, d.ino, "own", O_CREAT | O_WRONLY, 0644,
			     me + 4242, mg, &st);
	ok(f && st.uid == me, "O_CREAT of an existing file for another uid: "
	   "opened, keeps its owner (%ld)", (long)st.uid);
	if (f)
		ebb_close(f);
	is_int(ebb_unlinkat(c->h, d.ino, "own"), 0, "unlink it");
	f = ebb_openat_owner(c->h, d.ino, "given", O_CREAT | O_EXCL | O_WRONLY,
			     0640, 4242, 4343, &st);
	ok(f && st.uid == 4242 && st.gid == 4343,
	   "uid %ld: create for uid 4242 gid 4343 gives it them", (long)me);
	if (f)
		ebb_close(f);
	ok(ebb_lookupat(c->h, d.ino, "given", &st) == 0 && st.uid == 4242 &&
	   st.gid == 4343, "and the node stored them");
	ok(ebb_mkdirat_owner(c->h, d.ino, "gdir", 0750, 4242, 4343, &st) == 0 &&
	   st.uid == 4242 && st.gid == 4343 && S_ISDIR(st.mode),
	   "mkdir for uid 4242 gid 4343");
	ok(ebb_symlinkat_owner(c->h, "t", d.ino, "glink", 4242, 4343, &st) ==
	   0 && st.uid == 4242 && st.gid == 4343 && S_ISLNK(st.mode),
	   "symlink for uid 4242 gid 4343");
	ok(ebb_mknodat_owner(c->h, d.ino, "gfifo", S_IFIFO | 0640, 0, 4242,
			     4343, &st) == 0 && st.uid == 4242 &&
	   st.gid == 4343 && S_ISFIFO(st.mode),
	   "mknod of a FIFO for uid 4242 gid 4343");
	CT_ERRNO(ebb_mknodat(c->h, d.ino, "gfifo", S_IFIFO | 0640, 0, &st),
		 EEXIST, "mknod of an existing name -> EEXIST");
	ok(ebb_mknodat(c->h, d.ino, "gchr", S_IFCHR | 0600, makedev(1, 3),
		       &st) == 0 && S_ISCHR(st.mode) &&
	   ebb_stat_rdev(&st) == makedev(1, 3) && st.blocks == 0,
	   "mknod of a char device 1,3: ebb_stat_rdev gives it, no blocks");
	ok(ebb_lookupat(c->h, d.ino, "gchr", &st) == 0 &&
	   ebb_stat_rdev(&st) == makedev(1, 3), "... and the node keeps it");
	CT_ERRNO(ebb_mknodat(c->h, d.ino, "gdir2", S_IFDIR | 0755, 0, &st),
		 EINVAL, "mknod of a directory -> EINVAL");
	{
		struct timespec t = {d.mtime.tv_sec + 100, 5};

		ok(ebb_dirtouchat(c->h, EBB_ROOT_INO, tag, d.ino, &t, &st) ==
		   0 && st.mtime.tv_sec == t.tv_sec && st.mtime.tv_nsec == 5 &&
		   st.ctime.tv_sec == t.tv_sec,
		   "ebb_dirtouchat: the directory's mtime and ctime move to "
		   "the time given");
		ok(ebb_stat(c->h, p, &st) == 0 && st.mtime.tv_sec == t.tv_sec,
		   "... ebb_stat shows it (the directory cache was dropped)");
		CT_ERRNO(ebb_dirtouchat(c->h, EBB_ROOT_INO, tag, d.ino + 1, &t,
					&st), ESTALE,
			 "ebb_dirtouchat of another inode -> ESTALE");
	}
	ebb_unlinkat(c->h, d.ino, "given");
	ebb_rmdirat(c->h, d.ino, "gdir");
	ebb_unlinkat(c->h, d.ino, "glink");
	ebb_unlinkat(c->h, d.ino, "gfifo");
	ebb_unlinkat(c->h, d.ino, "gchr");
}

static void mode_owner(struct ctest *c)
{
	char tag[32], p[64], q[64];
	struct ebb_stat st;
	struct ebb_statfs sfs;
	ebb_dir_t *d;
	struct ebb_dirent ent;
	int n = 0;

	snprintf(tag, sizeof(tag), "u%ld", (long)getuid());
	snprintf(p, sizeof(p), "/%s", tag);
	diag("running as uid %ld", (long)getuid());
	is_int(ebb_stat(c->h, "/", &st), 0, "stat /");
	is_int(ebb_mkdir(c->h, p, 0755), 0, "mkdir %s", p);
	snprintf(p, sizeof(p), "/%s/file", tag);
	is_int(ct_write_file(c->h, p, 300000, 5, 65536, 1), 0, "write %s", p);
	is_int(ct_verify_file(c->h, p, 300000, 5, 4096), 0, "read it back");
	ok(ebb_stat(c->h, p, &st) == 0 && st.uid == getuid(),
	   "the file belongs to uid %ld", (long)getuid());
	d = ebb_opendir(c->h, "/");
	while (d && ebb_readdir(d, &ent) == 1)
		n++;
	if (d)
		ebb_closedir(d);
	ok(d && n >= 1, "readdir / (%d entries)", n);
	snprintf(q, sizeof(q), "/%s/renamed", tag);
	is_int(ebb_rename(c->h, p, q), 0, "rename");
	is_int(ebb_chmod(c->h, q, 0600), 0, "chmod own file");
	is_int(ebb_statfs(c->h, &sfs), 0, "statfs");
	is_int(ebb_unlink(c->h, q), 0, "unlink");
	_owner_calls(c, tag);
	snprintf(p, sizeof(p), "/%s", tag);
	is_int(ebb_rmdir(c->h, p), 0, "rmdir");
}

static void mode_denied(struct ctest *c)
{
	struct ebb_node_status ns;
	struct ebb_stat st;
	struct ebb_statfs sfs;
	char err[512] = "";
	struct ebb_instance_spec spec = {
		.id = "t-auth-evil", .members = c->members,
		.nmembers = c->nmembers, .capacity = 1 << 20,
	};

	diag("running as uid %ld", (long)getuid());
	is_int(ebb_node_status(c->members[0], &c->opts, &ns), 0,
	       "node status works (the credential itself is accepted)");
	CT_ERRNO(ebb_stat(c->h, "/", &st), EACCES, "stat / -> EACCES");
	CT_ERRNO(ebb_stat(c->h, "/secret", &st), EACCES, "stat /secret -> EACCES");
	CT_ERRNO_P(ebb_open(c->h, "/secret", O_RDONLY, 0), EACCES,
		   "open /secret for reading -> EACCES");
	CT_ERRNO_P(ebb_open(c->h, "/mine", O_CREAT | O_WRONLY, 0644), EACCES,
		   "create /mine -> EACCES");
	CT_ERRNO(ebb_mkdir(c->h, "/mydir", 0755), EACCES, "mkdir -> EACCES");
	CT_ERRNO_P(ebb_opendir(c->h, "/"), EACCES, "opendir / -> EACCES");
	CT_ERRNO(ebb_unlink(c->h, "/secret"), EACCES, "unlink -> EACCES");
	CT_ERRNO(ebb_rename(c->h, "/secret", "/stolen"), EACCES, "rename -> EACCES");
	CT_ERRNO(ebb_truncate(c->h, "/secret", 0), EACCES, "truncate -> EACCES");
	CT_ERRNO(ebb_chmod(c->h, "/secret", 0777), EACCES, "chmod -> EACCES");
	CT_ERRNO(ebb_statfs(c->h, &sfs), EACCES, "statfs -> EACCES");
	CT_ERRNO(ebb_instance_create(&spec, &c->opts, err, sizeof(err)), EACCES,
		 "instance create -> EACCES");
	CT_ERRNO(ebb_instance_destroy(c->id, c->members, c->nmembers, &c->opts,
				      err, sizeof(err)), EACCES,
		 "instance destroy -> EACCES");
}

static void mode_nocred(struct ctest *c)
{
	struct ebb_stat st;
	int r, e;

	diag("munge socket %s", c->opts.munge_socket ? c->opts.munge_socket : "(default)");
	errno = 0;
	r = ebb_stat(c->h, "/", &st);
	e = errno;
	ok(r == -1 && e != 0, "without a credential, stat / fails (%s)",
	   strerror(e));
}

/* ---- raw connections ------------------------------------------------- */

static int _connect(const char *member)
{
	char host[256], *colon;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	struct timeval tv = {.tv_sec = 10};
	int fd;

	snprintf(host, sizeof(host), "%s", member);
	colon = strrchr(host, ':');
	if (!colon)
		bail("bad member %s", member);
	*colon = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		bail("getaddrinfo %s", member);
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		sysbail("connect %s", member);
	freeaddrinfo(ai);
	/* a bound on every read: a missing reply fails, never hangs */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int _send(int fd, struct proto_enc *e)
{
	uint8_t pre[PROTO_PREFIX_LEN];

	proto_prefix_write(pre, (uint32_t)e->sb.size, 0);
	if (write(fd, pre, sizeof(pre)) != (ssize_t)sizeof(pre) ||
	    write(fd, e->sb.data, e->sb.size) != (ssize_t)e->sb.size)
		return -1;
	return 0;
}

static int _read_all(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, (char *)buf + got, len - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Read one reply; returns its status or -1. */
static long _reply(int fd)
{
	uint8_t pre[PROTO_PREFIX_LEN], *hdr;
	uint32_t hlen, plen;
	struct proto_dec d;
	uint64_t id;
	uint32_t op;
	ebb_err st;
	long rc = -1;

	if (_read_all(fd, pre, sizeof(pre)) != 0 ||
	    proto_prefix_parse(pre, &hlen, &plen) != EBB_OK)
		return -1;
	hdr = tap_malloc(hlen + plen);
	if (_read_all(fd, hdr, hlen + plen) == 0 &&
	    proto_dec_reply(&d, hdr, hlen, &id, &op, &st) == EBB_OK)
		rc = (long)st;
	proto_dec_free(&d);
	free(hdr);
	return rc;
}

/* The peer closed: read returns 0 (or a reset) within the timeout. */
static int _closed(int fd)
{
	char b;
	ssize_t r = read(fd, &b, 1);

	return r == 0 || (r < 0 && errno == ECONNRESET);
}

static long _hello(int fd, const char *cred)
{
	struct proto_enc e;
	int r;

	proto_enc_request(&e, 1, PROTO_OP_HELLO, 3);
	proto_put_u64(&e, PROTO_VERSION);
	proto_put_cstr(&e, cred);
	proto_put_cstr(&e, "t_auth");
	r = _send(fd, &e);
	proto_enc_free(&e);
	return r ? -1 : _reply(fd);
}

static void mode_raw(struct ctest *c)
{
	struct proto_enc e;
	char *cred = NULL, why[256] = "";
	int fd;
	long st;

	/* a request before HELLO */
	fd = _connect(c->members[0]);
	proto_enc_request(&e, 7, PROTO_OP_INST_LIST, 0);
	ok(_send(fd, &e) == 0, "send INST_LIST without HELLO");
	proto_enc_free(&e);
	st = _reply(fd);
	is_int(st, EBB_E_AUTH, "-> E_AUTH");
	ok(_closed(fd), "and the connection is closed");
	close(fd);

	/* a LOOKUP (instance data) before HELLO */
	fd = _connect(c->members[1 % c->nmembers]);
	proto_enc_request(&e, 8, PROTO_OP_LOOKUP, 3);
	proto_put_cstr(&e, c->id);
	proto_put_u64(&e, PROTO_ROOT_PARENT);
	proto_put_str(&e, "", 0);
	_send(fd, &e);
	proto_enc_free(&e);
	is_int(_reply(fd), EBB_E_AUTH, "LOOKUP without HELLO -> E_AUTH");
	ok(_closed(fd), "closed");
	close(fd);

	/* a garbage credential */
	fd = _connect(c->members[0]);
	is_int(_hello(fd, "MUNGE:not-a-credential:"), EBB_E_AUTH,
	       "HELLO with a garbage credential -> E_AUTH");
	ok(_closed(fd), "closed");
	close(fd);

	/* a good credential, used twice */
	if (auth_cred_encode(c->opts.munge_socket, &cred, why, sizeof(why)) !=
	    EBB_OK)
		bail("auth_cred_encode: %s", why);
	fd = _connect(c->members[0]);
	is_int(_hello(fd, cred), EBB_OK, "HELLO with a fresh credential -> OK");
	close(fd);
	fd = _connect(c->members[0]);
	is_int(_hello(fd, cred), EBB_E_AUTH,
	       "the same credential again (a replay) -> E_AUTH");
	ok(_closed(fd), "closed");
	close(fd);
	free(cred);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	struct ctest c;
	char err[512] = "";

	plan_lazy();
	if (!getenv("EBB_INSTANCE"))
		bail("EBB_INSTANCE must name the instance");
	if (strcmp(mode, "create") == 0 || strcmp(mode, "destroy") == 0) {
		struct ebb_instance_spec spec = {0};
		int r;
		ct_env(&c);
		spec.id = getenv("EBB_INSTANCE");
		spec.members = c.members;
		spec.nmembers = c.nmembers;
		spec.capacity = 256ULL << 20;
		spec.uid = OWNER_UID;
		spec.gid = OWNER_GID;
		if (mode[0] == 'c')
			r = ebb_instance_create(&spec, &c.opts, err, sizeof(err));
		else
			r = ebb_instance_destroy(spec.id, c.members, c.nmembers,
						 &c.opts, err, sizeof(err));
		ok(r == 0, "%s instance %s (owner uid %d): %s", mode, spec.id,
		   OWNER_UID, r ? err : "done");
		free(c.nodes_str);
		return tap_exit();
	}
	ct_setup(&c, "unused", 0, 0, 0, 0);
	if (strcmp(mode, "owner") == 0)
		mode_owner(&c);
	else if (strcmp(mode, "denied") == 0)
		mode_denied(&c);
	else if (strcmp(mode, "nocred") == 0)
		mode_nocred(&c);
	else if (strcmp(mode, "raw") == 0)
		mode_raw(&c);
	else
		bail("unknown mode '%s'", mode);
	ct_teardown(&c);
	return tap_exit();
}
