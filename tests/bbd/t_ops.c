/* SPDX-License-Identifier: GPL-2.0-or-later */
/* t_ops: the semantics of every bbd operation, as the tables of
 * docs/protocol.md state them, against one real daemon over raw RPC.
 *
 * DESIGN: one single-node instance, so every dentry is on this node and
 * RENAME_LOCAL applies.  Requests are built from a small format string
 * (_rq()), and the last reply stays decoded in _last so checks can read
 * its results.  Needs root (INST_CREATE); the owner checks use a second
 * credential made by a child process that drops to uid/gid 4242.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "auth.h"
#include "rawrpc.h"
#include "tap.h"

#define INST "ops"
#define USER 4242

static struct rr_reply _last;
static struct proto_dec _dec;
static uint64_t _msgid = 10;

/* Send op with args from fmt: u = u64, i = i64, b = bool (int), s =
 * string, S = string with length (ptr, len), n = nil, A = attribute (const struct proto_attr
 * *), m = array of strings (n, const char **), P = payload (ptr, len) that
 * must come last.  Returns the status (-1: no reply); the results are then
 * read with the proto_get_* calls on _dec. */
static long _rq(int fd, uint32_t op, const char *fmt, ...)
{
	struct proto_enc e;
	const void *pl = NULL;
	uint32_t plen = 0;
	unsigned nargs = 0;
	uint64_t id;
	uint32_t rop;
	ebb_err st;
	va_list ap;

	for (const char *f = fmt; *f; f++)
		nargs += *f != 'P';
	proto_dec_free(&_dec);
	rr_reply_free(&_last);
	proto_enc_request(&e, ++_msgid, op, nargs);
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++) {
		switch (*f) {
		case 'u': proto_put_u64(&e, va_arg(ap, uint64_t)); break;
		case 'i': proto_put_i64(&e, va_arg(ap, int64_t)); break;
		case 'b': proto_put_bool(&e, va_arg(ap, int) != 0); break;
		case 's': proto_put_cstr(&e, va_arg(ap, const char *)); break;
		case 'S': {
			const char *s = va_arg(ap, const char *);
			proto_put_str(&e, s, va_arg(ap, size_t));
			break;
		}
		case 'n': proto_put_nil(&e); break;
		case 'A': proto_put_attr(&e, va_arg(ap, const struct proto_attr *)); break;
		case 'm': {
			unsigned n = va_arg(ap, unsigned);
			const char **v = va_arg(ap, const char **);
			proto_put_array(&e, n);
			for (unsigned i = 0; i < n; i++)
				proto_put_cstr(&e, v[i]);
			break;
		}
		case 'k': { /* an array of u64: count, then the values */
			unsigned n = va_arg(ap, unsigned);
			const uint64_t *v = va_arg(ap, const uint64_t *);
			proto_put_array(&e, n);
			for (unsigned i = 0; i < n; i++)
				proto_put_u64(&e, v[i]);
			break;
		}
		case 'P':
			pl = va_arg(ap, const void *);
			plen = va_arg(ap, uint32_t);
			break;
		}
	}
	va_end(ap);
	if (rr_send_frame(fd, e.sb.data, (uint32_t)e.sb.size, pl, plen) != 0 ||
	    rr_recv_reply(fd, &_last) != 1 || _last.msgid != _msgid) {
		proto_enc_free(&e);
		return -1;
	}
	proto_enc_free(&e);
	proto_dec_reply(&_dec, _last.hdr, _last.hlen, &id, &rop, &st);
	return (long)st;
}

/* The detail string of the last error reply ("" if none); read it once
 * (it is the reply's next result), the buffer is the next call's. */
static const char *_detail(void)
{
	static char buf[256];
	const char *str = NULL;
	uint32_t len = 0;

	buf[0] = '\0';
	if (proto_get_str(&_dec, &str, &len, sizeof(buf) - 1) && str)
		snprintf(buf, sizeof(buf), "%.*s", (int)len, str);
	return buf;
}

/* The first result as attributes (zeroed if absent). */
static struct proto_attr _attr(void)
{
	struct proto_attr a;

	memset(&a, 0, sizeof(a));
	if (!proto_get_attr(&_dec, &a))
		memset(&a, 0, sizeof(a));
	return a;
}

static int _user_cred_hello(int fd)
{
	int pfd[2], status;
	char buf[PROTO_MAX_CRED + 1];
	ssize_t n, got = 0;
	pid_t pid;

	if (pipe(pfd) != 0)
		sysbail("pipe");
	pid = fork();
	if (pid == 0) {
		char *cred, err[256];

		close(pfd[0]);
		if (setgid(USER) != 0 || setuid(USER) != 0)
			_exit(1);
		if (auth_cred_encode(NULL, &cred, err, sizeof(err)) != EBB_OK)
			_exit(2);
		if (write(pfd[1], cred, strlen(cred)) < 0)
			_exit(3);
		_exit(0);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	buf[got] = '\0';
	return got > 0 && rr_hello_with(fd, PROTO_VERSION, buf) == EBB_OK;
}

static uint64_t _used(int fd)
{
	uint64_t cap = 0, used = UINT64_MAX;

	if (_rq(fd, PROTO_OP_STATFS, "s", INST) == EBB_OK) {
		proto_get_u64(&_dec, &cap);
		proto_get_u64(&_dec, &used);
	}
	return used;
}

/* NODE_STATUS key k as a number (0 if missing). */
static uint64_t _status_u64(int fd, const char *k)
{
	const msgpack_object *m = NULL;
	uint64_t v = 0;

	if (_rq(fd, PROTO_OP_NODE_STATUS, "") == EBB_OK &&
	    proto_get_obj(&_dec, &m) && m)
		proto_map_u64(m, k, &v);
	return v;
}

/* WRITE payloads from 64 KiB on are read into buffers bbd keeps for reuse
 * (bbd/bbd_buf.c): later WRITEs reuse them, and a reused buffer carries
 * nothing of its previous payload into the file (a shorter payload in a
 * buffer of the same size class). */
static void _payload_reuse(int fd, int ufd)
{
	static char a[160 << 10], b[100 << 10];
	uint64_t maps0, reuses0, maps1, reuses1, cached;
	struct proto_attr f;
	bool same = true;

	memset(a, 'A', sizeof(a));
	memset(b, 'B', sizeof(b));
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuu", INST, 1ull, "reuse", 0644ull,
		   0ull), EBB_OK, "CREATE reuse");
	f = _attr();
	maps0 = _status_u64(fd, "payload_maps");
	reuses0 = _status_u64(fd, "payload_reuses");
	for (int i = 0; i < 8; i++) {
		_rq(ufd, PROTO_OP_WRITE, "suuP", INST, f.ino, 0ull, a,
		    (uint32_t)sizeof(a));
		_rq(ufd, PROTO_OP_WRITE, "suuP", INST, f.ino, 0ull, b,
		    (uint32_t)sizeof(b));
		_rq(ufd, PROTO_OP_READ, "suuu", INST, f.ino, 0ull,
		    (uint64_t)sizeof(a));
		same = same && _last.status == EBB_OK &&
		       _last.plen == sizeof(a) &&
		       !memcmp(_last.payload, b, sizeof(b)) &&
		       !memcmp(_last.payload + sizeof(b), a,
			       sizeof(a) - sizeof(b));
	}
	ok(same, "8 x (WRITE 160 KiB of A, WRITE 100 KiB of B, READ): B then "
	   "A every time, nothing of an earlier payload in the file");
	maps1 = _status_u64(fd, "payload_maps");
	reuses1 = _status_u64(fd, "payload_reuses");
	cached = _status_u64(fd, "payload_cached");
	ok(reuses1 - reuses0 >= 14 && maps1 - maps0 <= 2,
	   "... 16 payloads took %" PRIu64 " new buffers and reused %" PRIu64
	   " (NODE_STATUS payload_maps, payload_reuses)", maps1 - maps0,
	   reuses1 - reuses0);
	ok(cached > 0 && cached <= (64u << 20),
	   "... %" PRIu64 " bytes of buffers kept while idle (at most 64 MiB)",
	   cached);
	is_int(_rq(ufd, PROTO_OP_REMOVE, "su", INST, f.ino), EBB_OK,
	       "... REMOVE its data");
	_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, 1ull, "reuse", 0ull, 0ull);
}

/* CREATE/MKDIR/SYMLINK's optional owner (docs/protocol.md "Owner"), in
 * a directory of its own; and NODE_STATUS's per-opcode counts. */
static void _owner(int fd, int ufd)
{
	struct proto_attr dir, a;
	const msgpack_object *m = NULL, *ops;
	uint64_t v = 0;
	bool b = false;

	is_int(_rq(ufd, PROTO_OP_MKDIR, "susu", INST, 1ull, "ow", 0777ull),
	       EBB_OK, "MKDIR ow");
	dir = _attr();
	is_int(_rq(fd, PROTO_OP_CREATE, "susuuuu", INST, dir.ino, "r", 0644ull,
		   0ull, 5151ull, 5252ull), EBB_OK, "CREATE by root for 5151:5252");
	a = _attr();
	proto_get_bool(&_dec, &b);
	ok(a.uid == 5151 && a.gid == 5252 && b, "... owned by 5151:5252, created");
	is_int(_rq(ufd, PROTO_OP_LOOKUP, "sus", INST, dir.ino, "r"), EBB_OK,
	       "... LOOKUP");
	a = _attr();
	ok(a.uid == 5151 && a.gid == 5252, "... stored so");
	is_int(_rq(fd, PROTO_OP_MKDIR, "susuuu", INST, dir.ino, "rd", 0755ull,
		   5151ull, 5252ull), EBB_OK, "MKDIR by root for 5151:5252");
	a = _attr();
	ok(S_ISDIR(a.mode) && a.uid == 5151 && a.gid == 5252, "... owned so");
	is_int(_rq(fd, PROTO_OP_SYMLINK, "sussuu", INST, dir.ino, "rl", "r",
		   5151ull, 5252ull), EBB_OK, "SYMLINK by root for 5151:5252");
	a = _attr();
	ok(S_ISLNK(a.mode) && a.uid == 5151 && a.gid == 5252, "... owned so");
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuuuu", INST, dir.ino, "u", 0644ull,
		   0ull, (uint64_t)USER, (uint64_t)USER), EBB_OK,
	       "CREATE by the owner for itself");
	a = _attr();
	ok(a.uid == USER && a.gid == USER, "... owned by it");
	/* The instance's owner (as which ebb-fuse runs) may name anyone: the
	 * kernel has checked the real caller (docs/security.md). */
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuuuu", INST, dir.ino, "x", 0644ull,
		   0ull, 0ull, 0ull), EBB_OK,
	       "CREATE by the instance's owner for root: OK");
	a = _attr();
	ok(a.uid == 0 && a.gid == 0, "... owned by root");
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuuuu", INST, dir.ino, "x2", 0644ull,
		   0ull, (uint64_t)USER, 5252ull), EBB_OK,
	       "CREATE by the owner for its uid and another gid: OK");
	a = _attr();
	ok(a.uid == USER && a.gid == 5252, "... owned so");
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuuuu", INST, dir.ino, "u", 0644ull,
		   0ull, 0ull, 0ull), EBB_OK,
	       "CREATE for root of an existing name: OK, the owner unchanged");
	a = _attr();
	ok(a.uid == USER && a.gid == USER, "... still the owner's");
	is_int(_rq(ufd, PROTO_OP_MKDIR, "susuuu", INST, dir.ino, "x3", 0755ull,
		   5151ull, 5252ull), EBB_OK, "MKDIR by the owner for 5151:5252: OK");
	is_int(_rq(ufd, PROTO_OP_SYMLINK, "sussuu", INST, dir.ino, "x4", "r",
		   5151ull, 5252ull), EBB_OK,
	       "SYMLINK by the owner for 5151:5252: OK");
	a = _attr();
	ok(S_ISLNK(a.mode) && a.uid == 5151 && a.gid == 5252, "... owned so");
	is_int(_rq(ufd, PROTO_OP_SETATTR, "susuuuuuii", INST, dir.ino, "r",
		   (uint64_t)(PROTO_SET_MODE | PROTO_SET_UID | PROTO_SET_ATIME),
		   06755ull, 6161ull, 0ull, 0ull, (int64_t)7, (int64_t)0),
	       EBB_OK, "SETATTR by the owner of 5151's file: chmod, chown, "
	       "utimes: OK (the kernel checked the real caller)");
	a = _attr();
	ok(a.mode == (S_IFREG | 06755) && a.uid == 6161 && a.atime_ns == 7,
	   "... mode 0%o (set-id bits as sent), uid %u", a.mode, a.uid);
	for (const char *n = "x"; n; n = strcmp(n, "x") == 0 ? "x2" :
	     strcmp(n, "x2") == 0 ? "x4" : NULL)
		_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, dir.ino, n, 0ull, 0ull);
	_rq(ufd, PROTO_OP_RMDIR, "sus", INST, dir.ino, "x3");
	is_int(_rq(fd, PROTO_OP_CREATE, "susuuu", INST, dir.ino, "y", 0644ull,
		   0ull, 5151ull), EBB_E_PROTO, "CREATE with a uid and no gid: E_PROTO");
	is_int(_rq(fd, PROTO_OP_CREATE, "susuuuuu", INST, dir.ino, "y", 0644ull,
		   0ull, 5151ull, 5252ull, 1ull), EBB_EINVAL,
	       "CREATE of a regular file with an rdev: EINVAL");
	is_int(_rq(fd, PROTO_OP_CREATE, "susuuuuuu", INST, dir.ino, "y",
		   0644ull, 0ull, 5151ull, 5252ull, 0ull, 1ull), EBB_E_PROTO,
	       "CREATE with two arguments after the owner: E_PROTO");
	is_int(_rq(fd, PROTO_OP_MKDIR, "susuuuu", INST, dir.ino, "y", 0755ull,
		   5151ull, 5252ull, 1ull), EBB_E_PROTO,
	       "MKDIR with an argument after the owner: E_PROTO");
	is_int(_rq(ufd, PROTO_OP_LOOKUP, "sus", INST, dir.ino, "y"), EBB_ENOENT,
	       "... none of them made y");
	is_int(_rq(fd, PROTO_OP_NODE_STATUS, ""), EBB_OK, "NODE_STATUS");
	proto_get_obj(&_dec, &m);
	ops = m ? proto_map_get(m, "ops") : NULL;
	ok(ops && ops->type == MSGPACK_OBJECT_MAP &&
		   proto_map_u64(ops, "CREATE", &v) && v >= 6 &&
		   proto_map_u64(ops, "MKDIR", &v) && v >= 3 &&
		   proto_map_u64(ops, "NODE_STATUS", &v) && v >= 2 &&
		   !proto_map_get(ops, "STAGE_WORK"),
	   "NODE_STATUS ops: requests per opcode seen (CREATE, MKDIR, ...), "
	   "none for an opcode never sent");
	_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, dir.ino, "r", 0ull, 0ull);
	_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, dir.ino, "u", 0ull, 0ull);
	_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, dir.ino, "rl", 0ull, 0ull);
	_rq(ufd, PROTO_OP_RMDIR, "sus", INST, dir.ino, "rd");
	is_int(_rq(ufd, PROTO_OP_RMDIR, "sus", INST, 1ull, "ow"), EBB_OK,
	       "... ow removed again");
}

/* CREATE of special files (docs/protocol.md CREATE): FIFOs, sockets and
 * devices, a device's number in its size; EXCL semantics; no other type;
 * LINK_INSERT (a rename between nodes) carries them; UNLINK removes them. */
static void _special(int ufd)
{
	static const struct {
		const char *name;
		uint64_t mode, rdev;
	} t[] = {
		{"fifo", S_IFIFO | 0640, 0},
		{"sock", S_IFSOCK | 0755, 0},
		{"chr", S_IFCHR | 0600, 0x10305},
		{"blk", S_IFBLK | 0660, 0x801},
	};
	struct proto_attr a;
	bool b = false;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].rdev)
			is_int(_rq(ufd, PROTO_OP_CREATE, "susuuuuu", INST, 1ull,
				   t[i].name, t[i].mode, 1ull, (uint64_t)USER,
				   (uint64_t)USER, t[i].rdev), EBB_OK,
			       "CREATE %s (type 0%llo, rdev 0x%llx)", t[i].name,
			       (unsigned long long)(t[i].mode & S_IFMT),
			       (unsigned long long)t[i].rdev);
		else
			is_int(_rq(ufd, PROTO_OP_CREATE, "susuu", INST, 1ull,
				   t[i].name, t[i].mode, 1ull), EBB_OK,
			       "CREATE %s (type 0%llo)", t[i].name,
			       (unsigned long long)(t[i].mode & S_IFMT));
		a = _attr();
		b = false;
		proto_get_bool(&_dec, &b);
		ok(a.mode == t[i].mode && a.size == t[i].rdev && b &&
		   a.nlink == 1, "... mode 0%o, size %llu (the rdev), created",
		   a.mode, (unsigned long long)a.size);
		is_int(_rq(ufd, PROTO_OP_CREATE, "susuu", INST, 1ull, t[i].name,
			   t[i].mode, 0ull), EBB_EEXIST,
		       "... CREATE of it again: EEXIST (mknod)");
	}
	is_int(_rq(ufd, PROTO_OP_LOOKUP, "sus", INST, 1ull, "chr"), EBB_OK,
	       "LOOKUP chr");
	a = _attr();
	ok(S_ISCHR(a.mode) && a.size == 0x10305, "... a device, rdev kept");
	is_int(_rq(ufd, PROTO_OP_SETATTR, "susuuuuuii", INST, 1ull, "chr",
		   (uint64_t)PROTO_SET_SIZE, 0ull, 0ull, 0ull, 0ull, (int64_t)0,
		   (int64_t)0), EBB_EINVAL, "SETATTR SIZE of a device: EINVAL");
	is_int(_rq(ufd, PROTO_OP_SETATTR, "susuuuuuii", INST, 1ull, "fifo",
		   (uint64_t)PROTO_SET_MODE, 0604ull, 0ull, 0ull, 0ull,
		   (int64_t)0, (int64_t)0), EBB_OK, "chmod of a FIFO");
	a = _attr();
	ok(a.mode == (S_IFIFO | 0604), "... mode 0%o", a.mode);
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuu", INST, 1ull, "d",
		   (uint64_t)(S_IFDIR | 0755), 0ull), EBB_EINVAL,
	       "CREATE of a directory type: EINVAL");
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuu", INST, 1ull, "l",
		   (uint64_t)(S_IFLNK | 0777), 0ull), EBB_EINVAL,
	       "CREATE of a symlink type: EINVAL");
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuuuuu", INST, 1ull, "f",
		   (uint64_t)(S_IFIFO | 0644), 0ull, (uint64_t)USER,
		   (uint64_t)USER, 5ull), EBB_EINVAL,
	       "CREATE of a FIFO with an rdev: EINVAL");
	is_int(_rq(ufd, PROTO_OP_LOOKUP, "sus", INST, 1ull, "sock"), EBB_OK,
	       "LOOKUP sock");
	a = _attr();
	is_int(_rq(ufd, PROTO_OP_LINK_INSERT, "susAu", INST, 1ull, "sock2", &a,
		   0ull), EBB_OK, "LINK_INSERT of a socket (rename between nodes)");
	{
		int64_t c0 = a.ctime_ns;

		is_int(_rq(ufd, PROTO_OP_LOOKUP, "sus", INST, 1ull, "sock2"),
		       EBB_OK, "LOOKUP sock2");
		a = _attr();
		ok(S_ISSOCK(a.mode) && a.ctime_ns > c0,
		   "... a socket, its ctime moved (a rename changes it)");
	}
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, 1ull, t[i].name,
			   0ull, 0ull), EBB_OK, "UNLINK %s", t[i].name);
	is_int(_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, 1ull, "sock2", 0ull,
		   0ull), EBB_OK, "UNLINK sock2");
}

/* DIR_TOUCH (docs/protocol.md): a directory's mtime and ctime move
 * forward to the time given, never back; the name must hold the inode and
 * be a directory; the root is (0, ""). */
static void _dir_touch(int ufd)
{
	struct proto_attr d, a, root;
	int64_t t;

	is_int(_rq(ufd, PROTO_OP_MKDIR, "susu", INST, 1ull, "td", 0755ull),
	       EBB_OK, "MKDIR td");
	d = _attr();
	t = d.mtime_ns + 5000000000LL;
	is_int(_rq(ufd, PROTO_OP_DIR_TOUCH, "susui", INST, 1ull, "td", d.ino,
		   t), EBB_OK, "DIR_TOUCH td at its mtime + 5 s");
	a = _attr();
	ok(a.ino == d.ino && a.mtime_ns == t && a.ctime_ns == t &&
	   a.atime_ns == d.atime_ns, "... mtime = ctime = the time given, "
	   "atime unchanged");
	is_int(_rq(ufd, PROTO_OP_DIR_TOUCH, "susui", INST, 1ull, "td", d.ino,
		   t - 1000), EBB_OK, "DIR_TOUCH with an earlier time");
	a = _attr();
	ok(a.mtime_ns == t && a.ctime_ns == t, "... changes nothing (monotonic)");
	is_int(_rq(ufd, PROTO_OP_LOOKUP, "sus", INST, 1ull, "td"), EBB_OK,
	       "LOOKUP td");
	a = _attr();
	ok(a.mtime_ns == t && a.ctime_ns == t, "... stored");
	is_int(_rq(ufd, PROTO_OP_DIR_TOUCH, "susui", INST, 1ull, "td",
		   d.ino + 1, t), EBB_ESTALE, "DIR_TOUCH of another inode: ESTALE");
	is_int(_rq(ufd, PROTO_OP_DIR_TOUCH, "susui", INST, 1ull, "nope", d.ino,
		   t), EBB_ENOENT, "DIR_TOUCH of a missing name: ENOENT");
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuu", INST, d.ino, "f", 0644ull,
		   0ull), EBB_OK, "CREATE td/f");
	a = _attr();
	is_int(_rq(ufd, PROTO_OP_DIR_TOUCH, "susui", INST, d.ino, "f", a.ino,
		   t), EBB_ENOTDIR, "DIR_TOUCH of a file: ENOTDIR");
	is_int(_rq(ufd, PROTO_OP_LOOKUP, "sus", INST, 0ull, ""), EBB_OK,
	       "LOOKUP the root");
	root = _attr();
	is_int(_rq(ufd, PROTO_OP_DIR_TOUCH, "susui", INST, 0ull, "",
		   (uint64_t)PROTO_ROOT_INO, root.mtime_ns + 1), EBB_OK,
	       "DIR_TOUCH of the root (0, \"\")");
	a = _attr();
	ok(a.ino == PROTO_ROOT_INO && a.mtime_ns == root.mtime_ns + 1 &&
	   a.ctime_ns >= root.mtime_ns + 1, "... its mtime moved 1 ns");
	is_int(_rq(ufd, PROTO_OP_DIR_TOUCH, "susui", INST, 0ull, "x",
		   (uint64_t)PROTO_ROOT_INO, t), EBB_EINVAL,
	       "DIR_TOUCH of a name in parent 0: EINVAL");
	is_int(_rq(ufd, PROTO_OP_DIR_TOUCH, "susu", INST, 1ull, "td", d.ino),
	       EBB_E_PROTO, "DIR_TOUCH without a time: E_PROTO");
	is_int(_rq(ufd, PROTO_OP_DIR_TOUCH, "susuiu", INST, 1ull, "td", d.ino,
		   t, 1ull), EBB_E_PROTO, "DIR_TOUCH with an extra argument: "
	       "E_PROTO");
	_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, d.ino, "f", 0ull, 0ull);
	is_int(_rq(ufd, PROTO_OP_RMDIR, "sus", INST, 1ull, "td"), EBB_OK,
	       "... td removed again");
}

/* The lock service (bbd_lock.c, docs/protocol.md "Locks") on raw frames:
 * POSIX rules between two clients, flock apart, the parked answer, the
 * lease and release, and every malformed argument refused clearly.  The
 * instance has one node: inode 16 is at home here, 1 << 48 | 16 is not. */
static void _locks(int fd)
{
	const uint64_t ino = 16, far = (1ull << 48) | 16, MAX = UINT64_MAX;
	uint64_t st = 9, lease = 0, ticket = 0, t = 9, s = 9, e = 9, pid = 9,
		 cl = 9, n = 9;
	const char *detail;
	long rc;

	/* LOCK: inst, ino, client, owner, pid, type, start, end, flags, ticket */
	rc = _rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, ino, 1ull, 1ull, 101ull,
		 2ull, 0ull, 99ull, 0ull, 0ull);
	proto_get_u64(&_dec, &st);
	proto_get_u64(&_dec, &lease);
	ok(rc == EBB_OK && st == 0 && lease == 15000,
	   "LOCK write 0-99 (client 1): granted, lease 15000 ms (got %ld %llu %llu)",
	   rc, (unsigned long long)st, (unsigned long long)lease);
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, ino, 2ull, 1ull, 202ull,
		   1ull, 50ull, 60ull, 0ull, 0ull), EBB_EAGAIN,
	       "LOCK read 50-60 by client 2 (same owner number): EAGAIN");
	rc = _rq(fd, PROTO_OP_GETLK, "suuuuuuu", INST, ino, 2ull, 1ull, 1ull,
		 0ull, MAX, 0ull);
	proto_get_u64(&_dec, &t);
	proto_get_u64(&_dec, &s);
	proto_get_u64(&_dec, &e);
	proto_get_u64(&_dec, &pid);
	proto_get_u64(&_dec, &cl);
	ok(rc == EBB_OK && t == 2 && s == 0 && e == 99 && pid == 101 && cl == 1,
	   "GETLK by client 2: write 0-99, pid 101, client 1");
	rc = _rq(fd, PROTO_OP_GETLK, "suuuuuuu", INST, ino, 1ull, 1ull, 2ull,
		 0ull, MAX, 0ull);
	proto_get_u64(&_dec, &t);
	ok(rc == EBB_OK && t == 0, "GETLK by the holder itself: UNLCK");
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, ino, 1ull, 1ull, 101ull,
		   0ull, 40ull, 60ull, 0ull, 0ull), EBB_OK,
	       "client 1 unlocks 40-60 (a split)");
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, ino, 2ull, 1ull, 202ull,
		   2ull, 45ull, 55ull, 0ull, 0ull), EBB_OK,
	       "... client 2 takes 45-55");
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, ino, 2ull, 1ull, 202ull,
		   2ull, 10ull, 20ull, 0ull, 0ull), EBB_EAGAIN,
	       "... but not 10-20");
	rc = _rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, ino, 2ull, 1ull, 202ull,
		 2ull, 0ull, 0ull, 1ull, 0ull);
	proto_get_u64(&_dec, &st);
	proto_get_u64(&_dec, &lease);
	proto_get_u64(&_dec, &ticket);
	ok(rc == EBB_OK && st == 1 && ticket > 0,
	   "LOCK with WAIT that stays blocked: parked, then answered "
	   "\"still waiting\" (state 1) with a ticket (got %ld %llu %llu)", rc,
	   (unsigned long long)st, (unsigned long long)ticket);
	rc = _rq(fd, PROTO_OP_LOCK_RENEW, "su", INST, 1ull);
	proto_get_u64(&_dec, &lease);
	proto_get_u64(&_dec, &n);
	ok(rc == EBB_OK && lease == 15000 && n == 2,
	   "LOCK_RENEW of client 1: lease 15000, 2 locks (0-39, 61-99)");
	rc = _rq(fd, PROTO_OP_LOCK_RELEASE, "suun", INST, ino, 1ull);
	proto_get_u64(&_dec, &n);
	ok(rc == EBB_OK && n == 2, "LOCK_RELEASE of client 1, any owner: 2 locks");
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, ino, 2ull, 1ull, 202ull,
		   2ull, 10ull, 20ull, 0ull, 0ull), EBB_OK,
	       "... then client 2 takes 10-20");
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, ino, 1ull, 5ull, 101ull,
		   2ull, 0ull, MAX, 2ull, 0ull), EBB_OK,
	       "flock exclusive by client 1 while client 2 holds POSIX locks: "
	       "granted (separate namespaces)");
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, ino, 2ull, 6ull, 202ull,
		   1ull, 0ull, MAX, 2ull, 0ull), EBB_EAGAIN,
	       "flock shared by client 2: EAGAIN");
	rc = _rq(fd, PROTO_OP_LOCK_RELEASE, "suuu", INST, 0ull, 1ull, 5ull);
	proto_get_u64(&_dec, &n);
	ok(rc == EBB_OK && n == 1, "LOCK_RELEASE ino 0 (all), owner 5: its flock");
	rc = _rq(fd, PROTO_OP_LOCK_RELEASE, "suun", INST, 0ull, 2ull);
	proto_get_u64(&_dec, &n);
	ok(rc == EBB_OK && n == 2, "LOCK_RELEASE of everything of client 2: 2");

	/* malformed */
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, far, 1ull, 1ull, 1ull,
		   2ull, 0ull, 9ull, 0ull, 0ull), EBB_EINVAL,
	       "LOCK of an inode whose home is another node: EINVAL");
	detail = _detail();
	ok(strstr(detail, "home is node 1, not this node (0)") != NULL,
	   "... the detail says so: %s", detail);
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, 0ull, 1ull, 1ull, 1ull,
		   2ull, 0ull, 9ull, 0ull, 0ull), EBB_EINVAL, "LOCK of ino 0: EINVAL");
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, ino, 1ull, 1ull, 1ull,
		   2ull, 10ull, 5ull, 0ull, 0ull), EBB_EINVAL,
	       "LOCK with start > end: EINVAL");
	detail = _detail();
	ok(strstr(detail, "start 10 > end 5") != NULL, "... %s", detail);
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, ino, 1ull, 1ull, 1ull,
		   3ull, 0ull, 9ull, 0ull, 0ull), EBB_EINVAL,
	       "LOCK of an unknown type (3): EINVAL");
	detail = _detail();
	ok(strstr(detail, "unknown lock type 3") != NULL, "... %s", detail);
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, ino, 1ull, 1ull, 1ull,
		   2ull, 0ull, 9ull, 4ull, 0ull), EBB_EINVAL,
	       "LOCK with unknown flags (4): EINVAL");
	is_int(_rq(fd, PROTO_OP_LOCK, "susuuuuuuu", INST, ino, "x", 1ull, 1ull,
		   2ull, 0ull, 9ull, 0ull, 0ull), EBB_E_PROTO,
	       "LOCK with a string for the client: E_PROTO");
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuu", INST, ino, 1ull, 1ull, 1ull,
		   2ull, 0ull, 9ull, 0ull), EBB_E_PROTO,
	       "LOCK without its ticket: E_PROTO");
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuiuuuu", INST, ino, 1ull, 1ull, 1ull,
		   (int64_t)-1, 0ull, 9ull, 0ull, 0ull), EBB_E_PROTO,
	       "LOCK with a negative type: E_PROTO");
	is_int(_rq(fd, PROTO_OP_LOCK, "suuuuuuuuu", INST, ino, 1ull, 1ull,
		   1ull << 40, 2ull, 0ull, 9ull, 0ull, 0ull), EBB_E_PROTO,
	       "LOCK with a pid over 32 bits: E_PROTO");
	is_int(_rq(fd, PROTO_OP_GETLK, "suuuuuuu", INST, ino, 1ull, 1ull, 0ull,
		   0ull, 9ull, 0ull), EBB_EINVAL, "GETLK of type UNLCK: EINVAL");
	is_int(_rq(fd, PROTO_OP_GETLK, "suuuuuuu", INST, far, 1ull, 1ull, 1ull,
		   0ull, 9ull, 0ull), EBB_EINVAL, "GETLK of another node's inode: EINVAL");
	is_int(_rq(fd, PROTO_OP_GETLK, "suuuuuuu", INST, ino, 1ull, 1ull, 1ull,
		   0ull, 9ull, 1ull), EBB_EINVAL, "GETLK with the WAIT flag: EINVAL");
	is_int(_rq(fd, PROTO_OP_LOCK_CANCEL, "suu", INST, ino, 1ull), EBB_E_PROTO,
	       "LOCK_CANCEL without an owner: E_PROTO");
	is_int(_rq(fd, PROTO_OP_LOCK_CANCEL, "suuu", INST, far, 1ull, 1ull),
	       EBB_EINVAL, "LOCK_CANCEL of another node's inode: EINVAL");
	is_int(_rq(fd, PROTO_OP_LOCK_RENEW, "suu", INST, 1ull, 2ull), EBB_E_PROTO,
	       "LOCK_RENEW with an extra argument: E_PROTO");
	is_int(_rq(fd, PROTO_OP_LOCK_RELEASE, "suus", INST, ino, 1ull, "x"),
	       EBB_E_PROTO, "LOCK_RELEASE with a string owner: E_PROTO");
	detail = _detail();
	ok(strstr(detail, "owner is not an unsigned integer or nil") != NULL,
	   "... %s", detail);
	is_int(_rq(fd, PROTO_OP_LOCK_RELEASE, "suun", INST, far, 1ull),
	       EBB_EINVAL, "LOCK_RELEASE of another node's inode: EINVAL");
}

/* UNLINK with DATA (one round trip): the node drops a small file's data
 * with its name, before the reply, unless the client keeps it; bad keep
 * lists are refused.  The instance has one node (so stripe 0 is here) and
 * 1 MiB of capacity; the stripe size is 1 MiB. */
static void _unlink_data(int fd)
{
	static char buf[(1u << 20) - 4096];
	uint64_t keep[PROTO_MAX_UNLINK_KEEP + 1] = {0};
	struct proto_attr g, h;
	bool removed = false;

	memset(buf, 'u', sizeof(buf));
	is_int(_rq(fd, PROTO_OP_CREATE, "susuu", INST, 1ull, "g", 0644ull, 0ull),
	       EBB_OK, "CREATE g");
	g = _attr();
	is_int(_rq(fd, PROTO_OP_WRITE, "suuP", INST, g.ino, 0ull, buf, 4096u),
	       EBB_OK, "... one stripe (4 KiB) written");
	is_int(_rq(fd, PROTO_OP_SIZE_UPDATE, "susuuiu", INST, 1ull, "g", g.ino,
		   4096ull, (int64_t)1, 0ull), EBB_OK, "... its size published");
	is_int(_rq(fd, PROTO_OP_CREATE, "susuu", INST, 1ull, "h", 0644ull, 0ull),
	       EBB_OK, "CREATE h");
	h = _attr();
	is_int(_rq(fd, PROTO_OP_WRITE, "suuP", INST, h.ino, 0ull, buf,
		   (uint32_t)sizeof(buf)), EBB_OK,
	       "h: 1 MiB - 4 KiB written (the instance is full)");
	is_int(_rq(fd, PROTO_OP_WRITE, "suuP", INST, h.ino, (uint64_t)sizeof(buf),
		   buf, 4096u), EBB_ENOSPC, "4 KiB more do not fit: ENOSPC");
	keep[0] = h.ino;
	is_int(_rq(fd, PROTO_OP_UNLINK, "susuuk", INST, 1ull, "g", 0ull,
		   (uint64_t)PROTO_UNLINK_DATA, 1u, keep), EBB_OK,
	       "UNLINK g with DATA (keeping another inode)");
	ok(_attr().ino == g.ino && proto_get_bool(&_dec, &removed) && removed &&
		   proto_dec_end(&_dec) == EBB_OK,
	   "... returns g's attributes and data_removed = true");
	is_int(_rq(fd, PROTO_OP_WRITE, "suuP", INST, h.ino, (uint64_t)sizeof(buf),
		   buf, 4096u), EBB_OK,
	       "the write that did not fit fits right after the unlink's reply");
	is_int(_rq(fd, PROTO_OP_SIZE_UPDATE, "susuuiu", INST, 1ull, "h", h.ino,
		   1ull << 20, (int64_t)1, 0ull), EBB_OK, "... h's size published");
	is_int(_rq(fd, PROTO_OP_UNLINK, "susuuk", INST, 1ull, "h", 0ull,
		   (uint64_t)PROTO_UNLINK_DATA, 0u, keep), EBB_OK,
	       "UNLINK h (1 MiB: more than one stripe) with DATA");
	removed = true;
	ok(_attr().ino == h.ino && proto_get_bool(&_dec, &removed) && !removed,
	   "... data_removed = false (other nodes could hold stripes)");
	ok(_used(fd) > 0, "... its data is still there");
	is_int(_rq(fd, PROTO_OP_REMOVE, "su", INST, h.ino), EBB_OK,
	       "REMOVE h (the client's second step)");
	is_int((long)_used(fd), 0, "... used is 0 again");
	is_int(_rq(fd, PROTO_OP_CREATE, "susuu", INST, 1ull, "k", 0644ull, 0ull),
	       EBB_OK, "CREATE k");
	h = _attr();
	is_int(_rq(fd, PROTO_OP_WRITE, "suuP", INST, h.ino, 0ull, buf, 100u),
	       EBB_OK, "... 100 bytes written");
	keep[0] = h.ino;
	is_int(_rq(fd, PROTO_OP_UNLINK, "susuuk", INST, 1ull, "k", 0ull,
		   (uint64_t)PROTO_UNLINK_DATA, 1u, keep), EBB_OK,
	       "UNLINK k with DATA, k in the keep list");
	removed = true;
	ok(_attr().ino == h.ino && proto_get_bool(&_dec, &removed) && !removed,
	   "... data_removed = false (the client has it open)");
	ok(_used(fd) > 0, "... its data is still there");
	is_int(_rq(fd, PROTO_OP_REMOVE, "su", INST, h.ino), EBB_OK,
	       "REMOVE k at its last close");
	is_int((long)_used(fd), 0, "... used is 0 again");
	/* bad keep lists: the name stays */
	is_int(_rq(fd, PROTO_OP_CREATE, "susuu", INST, 1ull, "b", 0644ull, 0ull),
	       EBB_OK, "CREATE b");
	is_int(_rq(fd, PROTO_OP_UNLINK, "susuuk", INST, 1ull, "b", 0ull,
		   (uint64_t)PROTO_UNLINK_DATA, PROTO_MAX_UNLINK_KEEP + 1, keep),
	       EBB_E_PROTO, "UNLINK with a keep list of 65 inodes: E_PROTO");
	is_int(_rq(fd, PROTO_OP_UNLINK, "susuuu", INST, 1ull, "b", 0ull,
		   (uint64_t)PROTO_UNLINK_DATA, 7ull), EBB_E_PROTO,
	       "UNLINK with a keep that is not an array: E_PROTO");
	{
		const char *bad[] = {"7"};

		is_int(_rq(fd, PROTO_OP_UNLINK, "susuum", INST, 1ull, "b", 0ull,
			   (uint64_t)PROTO_UNLINK_DATA, 1u, bad), EBB_E_PROTO,
		       "UNLINK with a string in the keep list: E_PROTO");
	}
	is_int(_rq(fd, PROTO_OP_UNLINK, "susuuku", INST, 1ull, "b", 0ull,
		   (uint64_t)PROTO_UNLINK_DATA, 0u, keep, 1ull), EBB_E_PROTO,
	       "UNLINK with an argument after the keep list: E_PROTO");
	is_int(_rq(fd, PROTO_OP_LOOKUP, "sus", INST, 1ull, "b"), EBB_OK,
	       "... b is still there");
	is_int(_rq(fd, PROTO_OP_UNLINK, "susuu", INST, 1ull, "b", 0ull, 0ull),
	       EBB_OK, "UNLINK b without DATA");
	ok(_attr().ino != 0 && proto_dec_end(&_dec) == EBB_OK,
	   "... one result (the attributes), as before");
}

/* SETXATTR ... REMOVEXATTR (docs/protocol.md "Extended attributes"):
 * Linux's rules and limits, the frames bbd refuses, and the attributes
 * dropped with their inode (UNLINK with DATA, RMDIR, REMOVE). */
static uint64_t _u64(void)
{
	uint64_t v = UINT64_MAX;

	proto_get_u64(&_dec, &v);
	return v;
}

static void _xattrs(int ufd)
{
	static char v[PROTO_XATTR_SIZE_MAX + 1];
	char name[PROTO_XATTR_NAME_MAX + 2];
	struct proto_attr x, xd, xs, xr;
	const char *detail;
	uint64_t ino;
	long st = 0;
	int n;

	is_int(_rq(ufd, PROTO_OP_CREATE, "susuu", INST, 1ull, "xf", 0644ull,
		   0ull), EBB_OK, "xattrs: CREATE xf");
	x = _attr();
	ino = x.ino;
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, ino, "user.a", 0ull,
		   "va\0b", 4u), EBB_OK, "SETXATTR user.a = \"va\\0b\" (payload)");
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "susu", INST, ino, "user.a", 100ull),
	       EBB_OK, "GETXATTR user.a, size 100");
	ok(_u64() == 4 && _last.plen == 4 &&
		   !memcmp(_last.payload, "va\0b", 4),
	   "... length 4 and the 4 bytes, NUL included, as the payload");
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "susu", INST, ino, "user.a", 0ull),
	       EBB_OK, "GETXATTR size 0");
	ok(_u64() == 4 && _last.plen == 0, "... the length only, no payload");
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "susu", INST, ino, "user.a", 3ull),
	       EBB_ERANGE, "GETXATTR with size 3 < 4: ERANGE");
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, ino, "user.a",
		   (uint64_t)PROTO_XATTR_CREATE, "x", 1u), EBB_EEXIST,
	       "SETXATTR CREATE of an existing name: EEXIST");
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, ino, "user.no",
		   (uint64_t)PROTO_XATTR_REPLACE, "x", 1u), EBB_ENODATA,
	       "SETXATTR REPLACE of a missing name: ENODATA");
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, ino, "user.a", 4ull,
		   "x", 1u), EBB_EINVAL, "SETXATTR with unknown flags: EINVAL");
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "susu", INST, ino, "user.e", 0ull),
	       EBB_OK, "SETXATTR without a payload: an empty value");
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "susu", INST, ino, "user.e", 10ull),
	       EBB_OK, "GETXATTR of the empty value");
	ok(_u64() == 0 && _last.plen == 0, "... length 0, no payload");
	is_int(_rq(ufd, PROTO_OP_LISTXATTR, "suu", INST, ino, 100ull), EBB_OK,
	       "LISTXATTR size 100");
	ok(_u64() == 14 && _last.plen == 14 &&
		   !memcmp(_last.payload, "user.a\0user.e\0", 14),
	   "... \"user.a\\0user.e\\0\" (sorted, NUL-terminated) as the payload");
	is_int(_rq(ufd, PROTO_OP_LISTXATTR, "suu", INST, ino, 0ull), EBB_OK,
	       "LISTXATTR size 0");
	ok(_u64() == 14 && _last.plen == 0, "... the length only");
	is_int(_rq(ufd, PROTO_OP_LISTXATTR, "suu", INST, ino, 13ull), EBB_ERANGE,
	       "LISTXATTR size 13 < 14: ERANGE");
	is_int(_rq(ufd, PROTO_OP_LISTXATTR, "suu", INST, ino + 1, 100ull),
	       EBB_OK, "LISTXATTR of an inode without attributes");
	ok(_u64() == 0 && _last.plen == 0, "... an empty list");
	/* namespaces */
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, ino, "trusted.t",
		   0ull, "t", 1u), EBB_OK, "SETXATTR trusted.t: stored");
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, ino, "security.s",
		   0ull, "s", 1u), EBB_EOPNOTSUPP,
	       "SETXATTR security.s: EOPNOTSUPP");
	detail = _detail();
	ok(strstr(detail, "security. namespace is not supported") != NULL,
	   "... the detail says so: %s", detail);
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "susu", INST, ino,
		   "system.posix_acl_access", 0ull), EBB_EOPNOTSUPP,
	       "GETXATTR system.posix_acl_access: EOPNOTSUPP");
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, ino, "foo.bar", 0ull,
		   "f", 1u), EBB_EOPNOTSUPP,
	       "SETXATTR of an unknown namespace: EOPNOTSUPP");
	is_int(_rq(ufd, PROTO_OP_REMOVEXATTR, "sus", INST, ino, "user."),
	       EBB_EINVAL, "REMOVEXATTR of a bare \"user.\": EINVAL");
	/* limits */
	memset(name, 'n', sizeof(name));
	memcpy(name, "user.", 5);
	name[PROTO_XATTR_NAME_MAX] = '\0';
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, ino, name, 0ull, "l",
		   1u), EBB_OK, "SETXATTR with a name of 255 bytes");
	name[PROTO_XATTR_NAME_MAX] = 'n';
	name[PROTO_XATTR_NAME_MAX + 1] = '\0';
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, ino, name, 0ull, "l",
		   1u), EBB_E_PROTO, "SETXATTR with a name of 256 bytes: E_PROTO");
	detail = _detail();
	ok(strstr(detail, "255") != NULL, "... the detail names the limit: %s",
	   detail);
	memset(v, 'v', sizeof(v));
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, ino, "user.max", 0ull,
		   v, (uint32_t)PROTO_XATTR_SIZE_MAX), EBB_OK,
	       "SETXATTR of 65,536 bytes");
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "susu", INST, ino, "user.max",
		   (uint64_t)PROTO_XATTR_SIZE_MAX), EBB_OK,
	       "GETXATTR of it, size 65,536");
	ok(_u64() == PROTO_XATTR_SIZE_MAX && _last.plen == PROTO_XATTR_SIZE_MAX &&
		   !memcmp(_last.payload, v, PROTO_XATTR_SIZE_MAX),
	   "... all 65,536 bytes");
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, ino, "user.big", 0ull,
		   v, (uint32_t)PROTO_XATTR_SIZE_MAX + 1), EBB_E2BIG,
	       "SETXATTR of 65,537 bytes: E2BIG");
	for (n = 0; n < 20; n++) {
		char fill[32];

		snprintf(fill, sizeof(fill), "user.fill%02d", n);
		st = _rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, ino, fill, 0ull,
			 v, (uint32_t)PROTO_XATTR_SIZE_MAX);
		if (st != EBB_OK)
			break;
	}
	ok(st == EBB_ENOSPC && n == 14,
	   "values of 64 KiB until ENOSPC: the 15th, past 1 MiB per inode "
	   "(got %s after %d)", ebb_errname((ebb_err)st), n);
	/* frames */
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, (1ull << 48) | 16,
		   "user.a", 0ull, "x", 1u), EBB_EXDEV,
	       "SETXATTR of an inode of node 1 on node 0: EXDEV");
	detail = _detail();
	ok(strstr(detail, "lives on node 1") != NULL,
	   "... the detail names its home: %s", detail);
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "susu", INST, 0ull, "user.a", 0ull),
	       EBB_E_PROTO, "GETXATTR of inode 0: E_PROTO");
	is_int(_rq(ufd, PROTO_OP_SETXATTR, "suuuP", INST, ino, 7ull, 0ull, "x",
		   1u), EBB_E_PROTO, "SETXATTR with an integer name: E_PROTO");
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "suss", INST, ino, "user.a", "10"),
	       EBB_E_PROTO, "GETXATTR with a string size: E_PROTO");
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "susuu", INST, ino, "user.a", 10ull,
		   1ull), EBB_E_PROTO, "GETXATTR with an extra argument: E_PROTO");
	is_int(_rq(ufd, PROTO_OP_LISTXATTR, "suuP", INST, ino, 0ull, "x", 1u),
	       EBB_E_PROTO, "LISTXATTR with a payload: E_PROTO");
	is_int(_rq(ufd, PROTO_OP_REMOVEXATTR, "su", INST, ino), EBB_E_PROTO,
	       "REMOVEXATTR without a name: E_PROTO");
	is_int(_rq(ufd, PROTO_OP_REMOVEXATTR, "sus", INST, ino, "user.no"),
	       EBB_ENODATA, "REMOVEXATTR of a missing name: ENODATA");
	is_int(_rq(ufd, PROTO_OP_REMOVEXATTR, "sus", INST, ino, "user.e"),
	       EBB_OK, "REMOVEXATTR user.e");
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "susu", INST, ino, "user.e", 0ull),
	       EBB_ENODATA, "... then GETXATTR: ENODATA");
	/* dropped with the inode */
	is_int(_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, 1ull, "xf", 0ull,
		   (uint64_t)PROTO_UNLINK_DATA), EBB_OK,
	       "UNLINK xf with DATA (its data is here)");
	is_int(_rq(ufd, PROTO_OP_LISTXATTR, "suu", INST, ino, 0ull), EBB_OK,
	       "... LISTXATTR of its inode");
	ok(_u64() == 0, "... its attributes went with it");
	_rq(ufd, PROTO_OP_MKDIR, "susu", INST, 1ull, "xd", 0755ull);
	xd = _attr();
	_rq(ufd, PROTO_OP_SYMLINK, "suss", INST, 1ull, "xs", "xd");
	xs = _attr();
	_rq(ufd, PROTO_OP_CREATE, "susuu", INST, 1ull, "xr", 0644ull, 0ull);
	xr = _attr();
	ok(_rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, xd.ino, "user.d", 0ull,
	       "d", 1u) == EBB_OK &&
		   _rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, xs.ino, "user.s",
		       0ull, "s", 1u) == EBB_OK &&
		   _rq(ufd, PROTO_OP_SETXATTR, "susuP", INST, xr.ino, "user.r",
		       0ull, "r", 1u) == EBB_OK,
	   "SETXATTR on a directory, a symlink, a file");
	_rq(ufd, PROTO_OP_RMDIR, "sus", INST, 1ull, "xd");
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "susu", INST, xd.ino, "user.d", 0ull),
	       EBB_ENODATA, "RMDIR (on the home node) drops the directory's");
	_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, 1ull, "xs", 0ull,
	    (uint64_t)PROTO_UNLINK_DATA);
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "susu", INST, xs.ino, "user.s", 0ull),
	       EBB_ENODATA, "UNLINK with DATA drops the symlink's");
	_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, 1ull, "xr", 0ull, 0ull);
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "susu", INST, xr.ino, "user.r", 0ull),
	       EBB_OK, "UNLINK without DATA keeps the file's (it may be open)");
	_rq(ufd, PROTO_OP_REMOVE, "su", INST, xr.ino);
	is_int(_rq(ufd, PROTO_OP_GETXATTR, "susu", INST, xr.ino, "user.r", 0ull),
	       EBB_ENODATA, "... REMOVE (the client's next step) drops them");
}

/* Hard links (docs/internals/hardlinks.md): the inode record ops and
 * pointer dentries, step by step as libebb composes link(), unlink and
 * rename; then every new opcode's bad arguments. */
static bool _linked(const struct proto_attr *a)
{
	return (a->mode & PROTO_MODE_LINKED) != 0;
}

static void _hardlinks(int fd)
{
	static char buf[4096];
	struct proto_attr f, a, p, d;
	bool b = false, present = false;
	const char *detail;
	uint64_t other;

	memset(buf, 'L', sizeof(buf));
	is_int(_rq(fd, PROTO_OP_CREATE, "susuu", INST, 1ull, "l1", 0644ull, 0ull),
	       EBB_OK, "hard links: CREATE l1");
	f = _attr();
	is_int(_rq(fd, PROTO_OP_WRITE, "suuP", INST, f.ino, 0ull, buf, 300u),
	       EBB_OK, "... 300 bytes written");
	is_int(_rq(fd, PROTO_OP_SIZE_UPDATE, "susuuiu", INST, 1ull, "l1", f.ino,
		   300ull, (int64_t)5, 0ull), EBB_OK, "... its size published");
	f = _attr();
	is_int(_rq(fd, PROTO_OP_INODE_GET, "su", INST, f.ino), EBB_ENOENT,
	       "INODE_GET of a single-link file: ENOENT (no record)");
	detail = _detail();
	ok(strstr(detail, "no inode record") != NULL, "... detail: %s", detail);

	/* link(l1, l2), the first link: ADOPT, DENT_TO_PTR, ADOPT MERGE,
	 * INODE_LINK, LINK_INSERT. */
	is_int(_rq(fd, PROTO_OP_INODE_ADOPT, "sAu", INST, &f, 0ull), EBB_OK,
	       "INODE_ADOPT a snapshot");
	a = _attr();
	ok(a.ino == f.ino && a.nlink == 1 && _linked(&a) && a.size == 300,
	   "... the record: nlink 1 (the name to convert), size 300, marked "
	   "linked");
	is_int(_rq(fd, PROTO_OP_INODE_ADOPT, "sAu", INST, &f, 0ull), EBB_OK,
	       "INODE_ADOPT again (a concurrent link)");
	is_int((long)_attr().nlink, 1, "... merges: nlink still 1");
	is_int(_rq(fd, PROTO_OP_DENT_TO_PTR, "susu", INST, 1ull, "l1", f.ino + 1),
	       EBB_ESTALE, "DENT_TO_PTR expecting another inode: ESTALE");
	is_int(_rq(fd, PROTO_OP_DENT_TO_PTR, "susu", INST, 1ull, "nol", f.ino),
	       EBB_ENOENT, "DENT_TO_PTR of no name: ENOENT");
	is_int(_rq(fd, PROTO_OP_DENT_TO_PTR, "susu", INST, 1ull, "l1", f.ino),
	       EBB_OK, "DENT_TO_PTR l1");
	a = _attr();
	ok(proto_get_bool(&_dec, &b) && b && !_linked(&a) && a.size == 300 &&
		   a.nlink == 1, "... converted, returns the inline attributes");
	is_int(_rq(fd, PROTO_OP_DENT_TO_PTR, "susu", INST, 1ull, "l1", f.ino),
	       EBB_OK, "DENT_TO_PTR l1 again (a concurrent link)");
	p = _attr();
	b = true;
	ok(proto_get_bool(&_dec, &b) && !b && _linked(&p) && p.ino == f.ino,
	   "... not converted: returns the pointer");
	is_int(_rq(fd, PROTO_OP_LOOKUP, "sus", INST, 1ull, "l1"), EBB_OK,
	       "LOOKUP l1");
	p = _attr();
	ok(_linked(&p) && S_ISREG(p.mode) && p.ino == f.ino && p.nlink == 0 &&
		   p.parent == 1 && (p.mode & 07777) == 0,
	   "... a pointer: linked, S_IFREG, ino, parent, nothing else");
	a.ctime_ns += 1; /* a newer change than the snapshot's wins whole */
	a.size = 301;
	is_int(_rq(fd, PROTO_OP_INODE_ADOPT, "sAu", INST, &a,
		   (uint64_t)PROTO_ADOPT_MERGE), EBB_OK, "INODE_ADOPT MERGE");
	is_int((long)_attr().size, 301, "... the newer attributes win");
	a.ctime_ns -= 10;
	a.size = 7;
	is_int(_rq(fd, PROTO_OP_INODE_ADOPT, "sAu", INST, &a,
		   (uint64_t)PROTO_ADOPT_MERGE), EBB_OK,
	       "INODE_ADOPT MERGE of older attributes");
	is_int((long)_attr().size, 301, "... change nothing");
	is_int(_rq(fd, PROTO_OP_INODE_LINK, "su", INST, f.ino), EBB_OK,
	       "INODE_LINK");
	a = _attr();
	ok(a.nlink == 2 && a.ctime_ns > f.ctime_ns, "... nlink 2, ctime now");
	is_int(_rq(fd, PROTO_OP_LINK_INSERT, "susAu", INST, 1ull, "l2", &p,
		   (uint64_t)PROTO_RENAME_NOREPLACE), EBB_OK,
	       "LINK_INSERT a pointer at l2 (NOREPLACE)");
	ok(proto_get_attr_or_nil(&_dec, &d, &present) && !present,
	   "... replaced nothing");
	is_int(_rq(fd, PROTO_OP_LINK_INSERT, "susAu", INST, 1ull, "l2", &p,
		   (uint64_t)PROTO_RENAME_NOREPLACE), EBB_EEXIST,
	       "LINK_INSERT NOREPLACE onto another link of the inode: EEXIST");
	is_int(_rq(fd, PROTO_OP_LOOKUP, "sus", INST, 1ull, "l2"), EBB_OK,
	       "LOOKUP l2");
	a = _attr();
	ok(_linked(&a) && a.ino == f.ino, "... the same pointer");
	is_int(_rq(fd, PROTO_OP_INODE_GET, "su", INST, f.ino), EBB_OK,
	       "INODE_GET");
	a = _attr();
	ok(a.nlink == 2 && a.size == 301 && (a.mode & 07777) == 0644 &&
		   S_ISREG(a.mode) && _linked(&a),
	   "... nlink 2, size 301, mode 0644, linked");

	/* name-keyed ops on a pointer: change nothing, answer the pointer */
	is_int(_rq(fd, PROTO_OP_SIZE_UPDATE, "susuuiu", INST, 1ull, "l2", f.ino,
		   5000ull, (int64_t)9, 0ull), EBB_OK, "SIZE_UPDATE by name l2");
	a = _attr();
	ok(_linked(&a) && a.size == 0,
	   "... answers the pointer (the client asks the home node)");
	is_int(_rq(fd, PROTO_OP_SIZE_UPDATE, "susuuiu", INST, 1ull, "l2",
		   f.ino + 1, 5000ull, (int64_t)9, 0ull), EBB_ESTALE,
	       "SIZE_UPDATE by name of another inode: ESTALE");
	is_int(_rq(fd, PROTO_OP_SETATTR, "susuuuuuii", INST, 1ull, "l1",
		   (uint64_t)PROTO_SET_MODE, 0600ull, 0ull, 0ull, 0ull,
		   (int64_t)0, (int64_t)0), EBB_OK, "SETATTR by name l1");
	a = _attr();
	ok(_linked(&a), "... answers the pointer");
	is_int(_rq(fd, PROTO_OP_INODE_GET, "su", INST, f.ino), EBB_OK,
	       "INODE_GET");
	ok((_attr().mode & 07777) == 0644 , "... the mode did not change");
	is_int(_rq(fd, PROTO_OP_INODE_SETATTR, "suuuuuuii", INST, f.ino,
		   (uint64_t)PROTO_SET_MODE, 0600ull, 0ull, 0ull, 0ull,
		   (int64_t)0, (int64_t)0), EBB_OK, "INODE_SETATTR chmod 0600");
	a = _attr();
	ok((a.mode & 07777) == 0600 && a.nlink == 2 && _linked(&a),
	   "... mode 0600, nlink 2");
	/* SETATTR's rules: the instance's owner passes them (the kernel
	 * checked the real caller, docs/security.md). */
	is_int(_rq(fd, PROTO_OP_INODE_SETATTR, "suuuuuuii", INST, f.ino,
		   (uint64_t)PROTO_SET_UID, 0ull, 5151ull, 0ull, 0ull,
		   (int64_t)0, (int64_t)0), EBB_OK,
	       "INODE_SETATTR chown by the instance's owner: OK");
	ok(_attr().uid == 5151, "... the record's uid is 5151");
	is_int(_rq(fd, PROTO_OP_INODE_SETATTR, "suuuuuuii", INST, f.ino,
		   (uint64_t)PROTO_SET_UID, 0ull, (uint64_t)a.uid, 0ull, 0ull,
		   (int64_t)0, (int64_t)0), EBB_OK, "... and back");
	is_int(_rq(fd, PROTO_OP_INODE_SIZE_UPDATE, "suuiu", INST, f.ino,
		   5000ull, (int64_t)9, 0ull), EBB_OK, "INODE_SIZE_UPDATE 5000");
	is_int(_rq(fd, PROTO_OP_INODE_SIZE_UPDATE, "suuiu", INST, f.ino,
		   100ull, (int64_t)1, (uint64_t)PROTO_SIZE_SYNC), EBB_OK,
	       "INODE_SIZE_UPDATE 100 with SYNC");
	is_int((long)_attr().size, 5000, "... the size is the max: 5000");
	is_int(_rq(fd, PROTO_OP_INODE_SIZE_UPDATE, "suuiu", INST, f.ino,
		   0ull, (int64_t)0, 0ull), EBB_OK, "INODE_SIZE_UPDATE to 0");
	is_int((long)_attr().size, 5000, "... changes nothing");
	is_int(_rq(fd, PROTO_OP_INODE_SETATTR, "suuuuuuii", INST, f.ino,
		   (uint64_t)PROTO_SET_SIZE, 0ull, 0ull, 0ull, 300ull,
		   (int64_t)0, (int64_t)0), EBB_OK, "INODE_SETATTR truncate 300");
	is_int((long)_attr().size, 300, "... size 300");

	/* rename between links of one inode: nothing happens */
	is_int(_rq(fd, PROTO_OP_RENAME_LOCAL, "sususu", INST, 1ull, "l1", 1ull,
		   "l2", 0ull), EBB_OK, "RENAME_LOCAL l1 -> l2 (links of one "
		   "inode)");
	ok(proto_get_attr(&_dec, &a) &&
		   proto_get_attr_or_nil(&_dec, &d, &present) && !present,
	   "... replaced nothing");
	is_int(_rq(fd, PROTO_OP_LOOKUP, "sus", INST, 1ull, "l1"), EBB_OK,
	       "... l1 is still there (POSIX: a no-op)");
	is_int(_rq(fd, PROTO_OP_RENAME_LOCAL, "sususu", INST, 1ull, "l1", 1ull,
		   "l2", (uint64_t)PROTO_RENAME_NOREPLACE), EBB_EEXIST,
	       "RENAME_LOCAL NOREPLACE l1 -> l2: EEXIST");
	is_int(_rq(fd, PROTO_OP_LINK_INSERT, "susAu", INST, 1ull, "l2", &p, 0ull),
	       EBB_OK, "LINK_INSERT l1's pointer at l2 (a cross-node rename's "
	       "first step)");
	ok(proto_get_attr_or_nil(&_dec, &d, &present) && present &&
		   d.ino == f.ino && _linked(&d),
	   "... answers the target's pointer to the same inode: the client "
	   "keeps the source");
	is_int(_rq(fd, PROTO_OP_RENAME_LOCAL, "sususu", INST, 1ull, "l2", 1ull,
		   "l3", 0ull), EBB_OK, "RENAME_LOCAL l2 -> l3");
	a = _attr();
	ok(_linked(&a) && a.ino == f.ino,
	   "... the pointer moved");

	/* unlink: the pointers go one by one, then the record */
	is_int(_rq(fd, PROTO_OP_UNLINK, "susuuk", INST, 1ull, "l3", 0ull,
		   (uint64_t)PROTO_UNLINK_DATA, 0u, &other), EBB_OK,
	       "UNLINK l3 with DATA");
	a = _attr();
	ok(_linked(&a) && a.ino == f.ino &&
		   proto_get_bool(&_dec, &b) && !b,
	   "... answers the pointer, data_removed false");
	ok(_used(fd) > 0, "... the data is still there");
	is_int(_rq(fd, PROTO_OP_INODE_UNLINK, "su", INST, f.ino), EBB_OK,
	       "INODE_UNLINK");
	a = _attr();
	b = true;
	ok(a.nlink == 1 && proto_get_bool(&_dec, &b) && !b,
	   "... nlink 1, not deleted");
	is_int(_rq(fd, PROTO_OP_INODE_GET, "su", INST, f.ino), EBB_OK,
	       "INODE_GET: the record stays with one name");
	is_int(_rq(fd, PROTO_OP_UNLINK, "susuu", INST, 1ull, "l1", 0ull, 0ull),
	       EBB_OK, "UNLINK l1");
	is_int(_rq(fd, PROTO_OP_INODE_UNLINK, "su", INST, f.ino), EBB_OK,
	       "INODE_UNLINK");
	a = _attr();
	ok(a.nlink == 0 && proto_get_bool(&_dec, &b) && b,
	   "... nlink 0, deleted (the client removes the data)");
	is_int(_rq(fd, PROTO_OP_INODE_GET, "su", INST, f.ino), EBB_ENOENT,
	       "INODE_GET after: ENOENT");
	is_int(_rq(fd, PROTO_OP_INODE_LINK, "su", INST, f.ino), EBB_ENOENT,
	       "INODE_LINK of no record: ENOENT (never creates one)");
	is_int(_rq(fd, PROTO_OP_INODE_UNLINK, "su", INST, f.ino), EBB_ENOENT,
	       "INODE_UNLINK of no record: ENOENT");
	is_int(_rq(fd, PROTO_OP_INODE_ADOPT, "sAu", INST, &f,
		   (uint64_t)PROTO_ADOPT_MERGE), EBB_ENOENT,
	       "INODE_ADOPT MERGE of no record: ENOENT (never creates one)");
	is_int(_rq(fd, PROTO_OP_REMOVE, "su", INST, f.ino), EBB_OK,
	       "REMOVE the data (the client's step at nlink 0)");
	is_int((long)_used(fd), 0, "... used is 0 again");

	/* bad arguments, each with a clear error */
	other = f.ino | (1ull << PROTO_INO_RANK_SHIFT);
	is_int(_rq(fd, PROTO_OP_INODE_GET, "su", INST, other), EBB_EXDEV,
	       "INODE_GET of an inode of node 1: EXDEV");
	detail = _detail();
	ok(strstr(detail, "lives on node 1") != NULL, "... detail: %s", detail);
	is_int(_rq(fd, PROTO_OP_INODE_LINK, "su", INST, other), EBB_EXDEV,
	       "INODE_LINK of an inode of node 1: EXDEV");
	is_int(_rq(fd, PROTO_OP_INODE_UNLINK, "su", INST, other), EBB_EXDEV,
	       "INODE_UNLINK of an inode of node 1: EXDEV");
	is_int(_rq(fd, PROTO_OP_INODE_SIZE_UPDATE, "suuiu", INST, other, 1ull,
		   (int64_t)0, 0ull), EBB_EXDEV,
	       "INODE_SIZE_UPDATE of an inode of node 1: EXDEV");
	is_int(_rq(fd, PROTO_OP_INODE_SETATTR, "suuuuuuii", INST, other,
		   (uint64_t)PROTO_SET_MODE, 0600ull, 0ull, 0ull, 0ull,
		   (int64_t)0, (int64_t)0), EBB_EXDEV,
	       "INODE_SETATTR of an inode of node 1: EXDEV");
	a = f;
	a.ino = other;
	is_int(_rq(fd, PROTO_OP_INODE_ADOPT, "sAu", INST, &a, 0ull), EBB_EXDEV,
	       "INODE_ADOPT of an inode of node 1: EXDEV");
	is_int(_rq(fd, PROTO_OP_INODE_GET, "su", INST, 1ull), EBB_EINVAL,
	       "INODE_GET of the root: EINVAL");
	detail = _detail();
	ok(strstr(detail, "has no record") != NULL, "... detail: %s", detail);
	is_int(_rq(fd, PROTO_OP_INODE_GET, "ss", INST, "12"), EBB_E_PROTO,
	       "INODE_GET with a string inode: E_PROTO");
	is_int(_rq(fd, PROTO_OP_INODE_GET, "suu", INST, f.ino, 1ull),
	       EBB_E_PROTO, "INODE_GET with an extra argument: E_PROTO");
	is_int(_rq(fd, PROTO_OP_INODE_LINK, "s", INST), EBB_E_PROTO,
	       "INODE_LINK without an inode: E_PROTO");
	is_int(_rq(fd, PROTO_OP_INODE_UNLINK, "suu", INST, f.ino, 1ull),
	       EBB_E_PROTO, "INODE_UNLINK with an extra argument: E_PROTO");
	is_int(_rq(fd, PROTO_OP_INODE_SIZE_UPDATE, "suui", INST, f.ino, 1ull,
		   (int64_t)0), EBB_E_PROTO,
	       "INODE_SIZE_UPDATE without flags: E_PROTO");
	is_int(_rq(fd, PROTO_OP_INODE_SETATTR, "suuuuuuii", INST, f.ino,
		   0x100ull, 0ull, 0ull, 0ull, 0ull, (int64_t)0, (int64_t)0),
	       EBB_EINVAL, "INODE_SETATTR with an unknown mask bit: EINVAL");
	is_int(_rq(fd, PROTO_OP_INODE_ADOPT, "suu", INST, f.ino, 0ull),
	       EBB_E_PROTO, "INODE_ADOPT with an inode number for attributes: "
	       "E_PROTO");
	is_int(_rq(fd, PROTO_OP_INODE_ADOPT, "sAu", INST, &f, 2ull), EBB_EINVAL,
	       "INODE_ADOPT with an unknown flag: EINVAL");
	is_int(_rq(fd, PROTO_OP_MKDIR, "susu", INST, 1ull, "ldir", 0755ull),
	       EBB_OK, "MKDIR ldir");
	d = _attr();
	is_int(_rq(fd, PROTO_OP_INODE_ADOPT, "sAu", INST, &d, 0ull), EBB_EINVAL,
	       "INODE_ADOPT of a directory: EINVAL");
	detail = _detail();
	ok(strstr(detail, "directory") != NULL, "... detail: %s", detail);
	is_int(_rq(fd, PROTO_OP_DENT_TO_PTR, "susu", INST, 1ull, "ldir", d.ino),
	       EBB_EPERM, "DENT_TO_PTR of a directory: EPERM");
	d.mode |= PROTO_MODE_LINKED;
	is_int(_rq(fd, PROTO_OP_LINK_INSERT, "susAu", INST, 1ull, "ldir2", &d,
		   0ull), EBB_EINVAL, "LINK_INSERT of a pointer to a directory: "
	       "EINVAL");
	is_int(_rq(fd, PROTO_OP_DENT_TO_PTR, "susu", INST, 1ull, "a/b", d.ino),
	       EBB_EINVAL, "DENT_TO_PTR of a bad name: EINVAL");
	is_int(_rq(fd, PROTO_OP_DENT_TO_PTR, "sus", INST, 1ull, "ldir"),
	       EBB_E_PROTO, "DENT_TO_PTR without an inode: E_PROTO");
	is_int(_rq(fd, PROTO_OP_RMDIR, "sus", INST, 1ull, "ldir"), EBB_OK,
	       "RMDIR ldir");
}

int main(void)
{
	char member[300];
	const char *members[1] = {member};
	const char *detail;
	struct proto_attr a, f, d, s;
	uint64_t used, cap, files;
	bool b1, created;
	int fd, ufd;
	long st;

	if (rr_target() != 0)
		skip_all("EBB_NODES is not set (run through tests/bbd/ops.t)");
	if (getuid() != 0)
		skip_all("needs root (INST_CREATE, a second uid)");
	plan_lazy();
	snprintf(member, sizeof(member), "%s:%s", rr_host, rr_port);
	fd = rr_connect();
	if (!rr_hello(fd))
		bail("HELLO failed");
	ufd = rr_connect();
	if (!_user_cred_hello(ufd))
		bail("HELLO as uid %d failed", USER);

	/* ---- instances ---- */
	is_int(_rq(fd, PROTO_OP_INST_CREATE, "sumuuuu", INST, 0ull, 1u, members,
		   4096ull, 1ull << 20, (uint64_t)USER, (uint64_t)USER),
	       EBB_OK, "INST_CREATE");
	created = false;
	ok(proto_get_bool(&_dec, &created) && created,
	   "INST_CREATE says it created the instance");
	is_int(_rq(fd, PROTO_OP_INST_CREATE, "sumuuuu", INST, 0ull, 1u, members,
		   4096ull, 1ull << 20, (uint64_t)USER, (uint64_t)USER),
	       EBB_OK, "INST_CREATE again, same parameters: OK");
	created = true;
	ok(proto_get_bool(&_dec, &created) && !created,
	   "a repeated INST_CREATE says it did not create it (so a rollback "
	   "elsewhere leaves it alone)");
	is_int(_rq(fd, PROTO_OP_INST_CREATE, "sumuuuu", INST, 0ull, 1u, members,
		   8192ull, 1ull << 20, (uint64_t)USER, (uint64_t)USER),
	       EBB_EEXIST, "INST_CREATE, other parameters: EEXIST");
	/* The optional mount and cache (tests/bbd/mount.t mounts). */
	is_int(_rq(fd, PROTO_OP_INST_CREATE, "sumuuuubs", INST, 0ull, 1u,
		   members, 4096ull, 1ull << 20, (uint64_t)USER, (uint64_t)USER,
		   0, "none"),
	       EBB_OK, "INST_CREATE with mount false, cache \"none\": the same "
	       "instance as without them (an old client's create)");
	is_int(_rq(fd, PROTO_OP_INST_CREATE, "sumuuuubs", "cw1", 0ull, 1u,
		   members, 4096ull, 1ull << 20, 0ull, 0ull, 0, "writeback"),
	       EBB_EINVAL, "INST_CREATE, cache writeback without mount: EINVAL");
	detail = _detail();
	ok(strstr(detail, "writeback without mount") != NULL,
	   "... the detail says why: %s", detail);
	is_int(_rq(fd, PROTO_OP_INST_CREATE, "sumuuuubs", "cw2", 0ull, 1u,
		   members, 4096ull, 1ull << 20, 0ull, 0ull, 0, "Writeback"),
	       EBB_EINVAL, "INST_CREATE, an unknown cache: EINVAL");
	detail = _detail();
	ok(strstr(detail, "cache 'Writeback' is not none or writeback") !=
		   NULL, "... the detail names it: %s", detail);
	is_int(_rq(fd, PROTO_OP_INST_CREATE, "sumuuuubsu", "cw3", 0ull, 1u,
		   members, 4096ull, 1ull << 20, 0ull, 0ull, 0, "none", 1ull),
	       EBB_E_PROTO, "INST_CREATE with a 10th argument: E_PROTO (what "
	       "a bbd from before cache answers a create that asks for it)");
	is_int(_rq(fd, PROTO_OP_INST_CREATE, "sumuuuu", "bad1", 1ull, 1u, members,
		   4096ull, 1ull << 20, 0ull, 0ull),
	       EBB_EINVAL, "INST_CREATE, rank out of the members: EINVAL");
	is_int(_rq(fd, PROTO_OP_INST_CREATE, "sumuuuu", "bad2", 0ull, 1u, members,
		   5000ull, 1ull << 20, 0ull, 0ull),
	       EBB_EINVAL, "INST_CREATE, stripe not a multiple of 4 KiB: EINVAL");
	is_int(_rq(fd, PROTO_OP_INST_CREATE, "sumuuuu", "bad3", 0ull, 1u, members,
		   4096ull, 1ull << 62, 0ull, 0ull),
	       EBB_ENOSPC, "INST_CREATE over the node's capacity: ENOSPC");
	is_int(_rq(ufd, PROTO_OP_INST_CREATE, "sumuuuu", "bad4", 0ull, 1u, members,
		   4096ull, 1ull << 20, 0ull, 0ull),
	       EBB_E_DENIED, "INST_CREATE by a user: E_DENIED");
	is_int(_rq(fd, PROTO_OP_INST_GET, "s", INST), EBB_OK, "INST_GET");
	{
		const msgpack_object *m = NULL;
		uint64_t v = 0;

		proto_get_obj(&_dec, &m);
		char cache[16] = "";

		ok(m && proto_map_u64(m, "stripe_size", &v) && v == 4096 &&
			   proto_map_u64(m, "files", &v) && v == 1 &&
			   proto_map_get(m, "members") && proto_map_get(m, "state"),
		   "INST_GET map: stripe_size, files (the root), members, state");
		ok(m && proto_map_str(m, "cache", cache, sizeof(cache)) &&
			   strcmp(cache, "none") == 0,
		   "INST_GET map: cache \"none\"");
	}
	is_int(_rq(fd, PROTO_OP_NODE_STATUS, ""), EBB_OK, "NODE_STATUS");
	{
		const msgpack_object *m = NULL;
		uint64_t v;

		proto_get_obj(&_dec, &m);
		ok(m && proto_map_u64(m, "capacity", &v) &&
			   proto_map_u64(m, "reserved", &v) && v >= (1u << 20) &&
			   proto_map_u64(m, "instances", &v) && v >= 1 &&
			   proto_map_u64(m, "uptime_s", &v) &&
			   proto_map_u64(m, "proto", &v) && v == PROTO_VERSION,
		   "NODE_STATUS map keys");
	}

	/* ---- namespace ---- */
	is_int(_rq(ufd, PROTO_OP_LOOKUP, "suS", INST, 0ull, "", (size_t)0), EBB_OK,
	       "LOOKUP of the root by the owner");
	a = _attr();
	ok(a.ino == PROTO_ROOT_INO && a.parent == PROTO_ROOT_INO &&
		   a.mode == (S_IFDIR | 0700) && a.uid == USER && a.gid == USER,
	   "root: inode 1, parent 1, drwx------, owned by the instance owner");
	is_int(_rq(fd, PROTO_OP_LOOKUP, "sus", "nope", 1ull, "x"), EBB_E_NOINST,
	       "LOOKUP in an unknown instance: E_NOINST");
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuu", INST, 1ull, "f", 0644ull, 0ull),
	       EBB_OK, "CREATE");
	f = _attr();
	proto_get_bool(&_dec, &b1);
	ok(S_ISREG(f.mode) && (f.mode & 07777) == 0644 && f.uid == USER &&
		   f.parent == 1 && f.nlink == 1 && b1 &&
		   f.ino >> PROTO_INO_RANK_SHIFT == 0 && (f.ino & 0xffff) >= 16,
	   "CREATE: regular file, owner = caller, created = true, ino = rank|counter>=16");
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuu", INST, 1ull, "f", 0600ull, 0ull),
	       EBB_OK, "CREATE of an existing file without EXCL: OK");
	a = _attr();
	proto_get_bool(&_dec, &b1);
	ok(a.ino == f.ino && !b1, "... the same inode, created = false");
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuu", INST, 1ull, "f", 0644ull,
		   (uint64_t)PROTO_CREATE_EXCL), EBB_EEXIST, "CREATE with EXCL: EEXIST");
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuu", INST, 1ull, "dev",
		   (uint64_t)(S_IFDIR | 0644), 0ull), EBB_EINVAL,
	       "CREATE of a directory: EINVAL (MKDIR makes them)");
	is_int(_rq(ufd, PROTO_OP_MKDIR, "susu", INST, 1ull, "d", 0755ull), EBB_OK, "MKDIR");
	d = _attr();
	is_int(_rq(ufd, PROTO_OP_MKDIR, "susu", INST, 1ull, "d", 0755ull), EBB_EEXIST,
	       "MKDIR of an existing name: EEXIST");
	is_int(_rq(ufd, PROTO_OP_CREATE, "susuu", INST, 1ull, "d", 0644ull, 0ull),
	       EBB_EISDIR, "CREATE over a directory: EISDIR");
	is_int(_rq(ufd, PROTO_OP_SYMLINK, "suss", INST, 1ull, "s", "d/../f"), EBB_OK,
	       "SYMLINK");
	s = _attr();
	ok(S_ISLNK(s.mode) && (s.mode & 0777) == 0777 && s.size == 6 &&
		   s.target_len == 6 && !memcmp(s.target, "d/../f", 6),
	   "SYMLINK: lrwxrwxrwx, size = target length, target returned");
	is_int(_rq(ufd, PROTO_OP_LOOKUP, "sus", INST, 1ull, "a/b"), EBB_EINVAL,
	       "a name with '/': EINVAL");
	{
		char longname[300];

		memset(longname, 'x', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		is_int(_rq(ufd, PROTO_OP_LOOKUP, "sus", INST, 1ull, longname),
		       EBB_ENAMETOOLONG, "a 299-byte name: ENAMETOOLONG");
	}
	/* READDIR paging: the cookie is the last name */
	for (int i = 0; i < 5; i++) {
		char name[8];

		snprintf(name, sizeof(name), "e%d", i);
		_rq(ufd, PROTO_OP_MKDIR, "susu", INST, d.ino, name, 0700ull);
	}
	is_int(_rq(ufd, PROTO_OP_READDIR, "sunu", INST, d.ino, 3ull), EBB_OK, "READDIR");
	{
		const msgpack_object *items;
		uint32_t n = 0;
		bool eof = true;

		proto_get_array(&_dec, &items, &n, 4096);
		proto_get_bool(&_dec, &eof);
		ok(n == 3 && !eof && items[2].type == MSGPACK_OBJECT_ARRAY &&
			   items[2].via.array.ptr[0].via.str.size == 2 &&
			   !memcmp(items[2].via.array.ptr[0].via.str.ptr, "e2", 2),
		   "READDIR max 3: e0 e1 e2, eof false");
	}
	is_int(_rq(ufd, PROTO_OP_READDIR, "susu", INST, d.ino, "e2", 3ull), EBB_OK,
	       "READDIR after e2");
	{
		const msgpack_object *items;
		uint32_t n = 0;
		bool eof = false;

		proto_get_array(&_dec, &items, &n, 4096);
		proto_get_bool(&_dec, &eof);
		ok(n == 2 && eof, "... e3 e4, eof true");
	}
	is_int(_rq(ufd, PROTO_OP_HAS_CHILDREN, "su", INST, d.ino), EBB_OK, "HAS_CHILDREN");
	proto_get_bool(&_dec, &b1);
	ok(b1, "... true for a directory with entries");
	is_int(_rq(ufd, PROTO_OP_RMDIR, "sus", INST, 1ull, "d"), EBB_ENOTEMPTY,
	       "RMDIR of a non-empty directory: ENOTEMPTY");
	is_int(_rq(ufd, PROTO_OP_RMDIR, "sus", INST, 1ull, "f"), EBB_ENOTDIR,
	       "RMDIR of a file: ENOTDIR");
	is_int(_rq(ufd, PROTO_OP_RMDIR, "suS", INST, 0ull, "", (size_t)0), EBB_EBUSY,
	       "RMDIR of the root: EBUSY");
	is_int(_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, 1ull, "d", 0ull, 0ull),
	       EBB_EISDIR, "UNLINK of a directory: EISDIR");
	is_int(_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, 1ull, "f", f.ino + 1, 0ull),
	       EBB_ESTALE, "UNLINK expecting another inode: ESTALE");

	/* ---- rename ---- */
	is_int(_rq(ufd, PROTO_OP_RENAME_LOCAL, "sususu", INST, 1ull, "f", 1ull, "d", 0ull),
	       EBB_EISDIR, "RENAME_LOCAL file onto a directory: EISDIR");
	is_int(_rq(ufd, PROTO_OP_RENAME_LOCAL, "sususu", INST, 1ull, "d", 1ull, "f", 0ull),
	       EBB_ENOTDIR, "RENAME_LOCAL directory onto a file: ENOTDIR");
	is_int(_rq(ufd, PROTO_OP_RENAME_LOCAL, "sususu", INST, 1ull, "f", 1ull, "s",
		   (uint64_t)PROTO_RENAME_NOREPLACE),
	       EBB_EEXIST, "RENAME_LOCAL NOREPLACE onto an existing name: EEXIST");
	is_int(_rq(ufd, PROTO_OP_RENAME_LOCAL, "sususu", INST, 1ull, "f", d.ino, "g", 0ull),
	       EBB_OK, "RENAME_LOCAL f -> d/g");
	a = _attr();
	ok(a.ino == f.ino && a.parent == d.ino && a.ctime_ns >= f.ctime_ns,
	   "... same inode, parent is d, ctime updated");
	is_int(_rq(ufd, PROTO_OP_RENAME_LOCAL, "sususu", INST, d.ino, "g", 1ull, "s", 0ull),
	       EBB_OK, "RENAME_LOCAL d/g -> s, replacing the symlink");
	a = _attr();
	{
		struct proto_attr rep;
		bool present = false;

		proto_get_attr_or_nil(&_dec, &rep, &present);
		ok(present && rep.ino == s.ino, "... returns the replaced symlink");
	}
	is_int(_rq(ufd, PROTO_OP_LINK_INSERT, "susAu", INST, 1ull, "h", &f, 0ull), EBB_OK,
	       "LINK_INSERT");
	is_int(_rq(ufd, PROTO_OP_LINK_INSERT, "susAu", INST, 1ull, "h", &f, 0ull), EBB_OK,
	       "LINK_INSERT again (a retried step): OK");
	is_int(_rq(ufd, PROTO_OP_UNLINK, "susuu", INST, 1ull, "h", f.ino, 0ull), EBB_OK,
	       "UNLINK expecting the right inode");

	/* ---- attributes ---- */
	is_int(_rq(ufd, PROTO_OP_SIZE_UPDATE, "susuuiu", INST, 1ull, "s", f.ino,
		   5000ull, (int64_t)1, 0ull), EBB_OK, "SIZE_UPDATE to 5000");
	is_int(_rq(ufd, PROTO_OP_SIZE_UPDATE, "susuuiu", INST, 1ull, "s", f.ino,
		   100ull, (int64_t)1, (uint64_t)PROTO_SIZE_SYNC), EBB_OK,
	       "SIZE_UPDATE to 100 with SYNC");
	a = _attr();
	is_int((long long)a.size, 5000, "... the size is the max: 5000");
	is_int(_rq(ufd, PROTO_OP_SIZE_UPDATE, "susuuiu", INST, 1ull, "s", f.ino + 7,
		   1ull, (int64_t)1, 0ull), EBB_ESTALE, "SIZE_UPDATE of another inode: ESTALE");
	is_int(_rq(ufd, PROTO_OP_SETATTR, "susuuuuuii", INST, 1ull, "s",
		   (uint64_t)PROTO_SET_MODE, 0600ull, 0ull, 0ull, 0ull, (int64_t)0, (int64_t)0),
	       EBB_OK, "SETATTR chmod by the owner");
	is_int(_rq(ufd, PROTO_OP_SETATTR, "susuuuuuii", INST, 1ull, "s",
		   (uint64_t)PROTO_SET_UID, 0ull, 5151ull, 0ull, 0ull, (int64_t)0,
		   (int64_t)0),
	       EBB_OK, "SETATTR chown by the instance's owner: OK (ebb-fuse "
	       "runs as it; the kernel checked the real caller)");
	is_int(_rq(fd, PROTO_OP_SETATTR, "susuuuuuii", INST, 1ull, "s",
		   (uint64_t)(PROTO_SET_UID | PROTO_SET_SIZE), 0ull, 0ull, 0ull, 10ull,
		   (int64_t)0, (int64_t)0),
	       EBB_OK, "SETATTR chown to root and truncate to 10 by root");
	a = _attr();
	ok(a.uid == 0 && a.size == 10, "... uid 0, size 10");
	is_int(_rq(ufd, PROTO_OP_SETATTR, "susuuuuuii", INST, 1ull, "s",
		   (uint64_t)PROTO_SET_MODE, 0ull, 0ull, 0ull, 0ull, (int64_t)0, (int64_t)0),
	       EBB_OK, "SETATTR chmod 0 of root's file by the instance's owner: OK");
	is_int(_rq(ufd, PROTO_OP_SETATTR, "susuuuuuii", INST, 1ull, "s",
		   (uint64_t)PROTO_SET_SIZE, 0ull, 0ull, 0ull, 10ull, (int64_t)0,
		   (int64_t)0),
	       EBB_OK, "SETATTR truncate of a mode 0 file by the instance's "
	       "owner: OK");
	is_int(_rq(fd, PROTO_OP_SETATTR, "susuuuuuii", INST, 1ull, "s",
		   (uint64_t)PROTO_SET_MODE, 0777ull, 0ull, 0ull, 0ull, (int64_t)0,
		   (int64_t)0), EBB_OK, "... root gives it mode 0777");

	/* ---- data ---- */
	{
		static char buf[8192];
		static const char zero[4096];

		memset(buf, 'q', sizeof(buf));
		is_int(_rq(ufd, PROTO_OP_WRITE, "suuP", INST, f.ino, 4096ull, buf, 4096u),
		       EBB_OK, "WRITE 4 KiB at 4 KiB");
		is_int(_rq(ufd, PROTO_OP_READ, "suuu", INST, f.ino, 0ull, 12288ull), EBB_OK,
		       "READ 12 KiB");
		ok(_last.plen == 12288 && !memcmp(_last.payload, zero, 4096) &&
			   !memcmp(_last.payload + 4096, buf, 4096) &&
			   !memcmp(_last.payload + 8192, zero, 4096),
		   "... a hole, the data, zeros past the end");
		is_int(_rq(ufd, PROTO_OP_WRITE, "suuP", INST, f.ino, (1ull << 44) - 1, buf, 2u),
		       EBB_EFBIG, "WRITE past 2^44: EFBIG");
		is_int(_rq(ufd, PROTO_OP_WRITE, "suuP", INST, f.ino + 1, 0ull, buf, 0u),
		       EBB_OK, "WRITE of nothing");
		is_int(_rq(ufd, PROTO_OP_TRUNCATE, "suu", INST, f.ino, 6000ull), EBB_OK,
		       "TRUNCATE to 6000");
		_rq(ufd, PROTO_OP_READ, "suuu", INST, f.ino, 5990ull, 20ull);
		ok(_last.plen == 20 && !memcmp(_last.payload, buf, 10) &&
			   !memcmp(_last.payload + 10, zero, 10),
		   "... bytes past 6000 read as zeros");
		/* small READs of a cached object are served by the worker
		 * (bbd_read_try_inline), others by an I/O thread: the same
		 * answers either way */
		_rq(ufd, PROTO_OP_READ, "suuu", INST, f.ino, 4096ull, 4096ull);
		ok(_last.plen == 4096 && !memcmp(_last.payload, buf, 1904) &&
			   !memcmp(_last.payload + 1904, zero, 4096 - 1904),
		   "a 4 KiB READ at 4 KiB: the 1904 bytes left, then zeros");
		_rq(ufd, PROTO_OP_READ, "suuu", INST, f.ino + 999, 0ull, 4096ull);
		ok(_last.plen == 4096 && !memcmp(_last.payload, zero, 10) &&
			   !memcmp(_last.payload + 4086, zero, 10),
		   "a 4 KiB READ of an inode without an object: zeros");
		is_int(_rq(ufd, PROTO_OP_READ, "suuu", INST, f.ino, 0ull, 0ull),
		       EBB_OK, "a READ of 0 bytes: OK");
		ok(_last.plen == 0, "... and no payload");
		is_int(_rq(ufd, PROTO_OP_READ, "suuu", INST, f.ino, 0ull,
			   (uint64_t)PROTO_MAX_PAYLOAD + 1), EBB_E_PROTO,
		       "a READ over 16 MiB: E_PROTO");
		is_int(_rq(ufd, PROTO_OP_READ, "suus", INST, f.ino, 0ull, "4096"),
		       EBB_E_PROTO, "a READ with a string length: E_PROTO");
		is_int(_rq(ufd, PROTO_OP_READ, "suuuu", INST, f.ino, 0ull, 10ull,
			   1ull), EBB_E_PROTO, "a READ with an extra argument: E_PROTO");
		is_int(_rq(ufd, PROTO_OP_FSYNC, "su", INST, f.ino), EBB_OK, "FSYNC");
	}
	is_int(_rq(ufd, PROTO_OP_STATFS, "s", INST), EBB_OK, "STATFS");
	proto_get_u64(&_dec, &cap);
	proto_get_u64(&_dec, &used);
	proto_get_u64(&_dec, &files);
	ok(cap == 1u << 20 && used > 0 && files >= 8,
	   "... capacity, used > 0, files (got %llu %llu %llu)",
	   (unsigned long long)cap, (unsigned long long)used,
	   (unsigned long long)files);
	{
		char *big = calloc(1, 2u << 20);

		is_int(_rq(ufd, PROTO_OP_WRITE, "suuP", INST, f.ino, 0ull, big, 2u << 20),
		       EBB_ENOSPC, "WRITE over the instance's capacity: ENOSPC");
		free(big);
	}
	is_int(_rq(ufd, PROTO_OP_REMOVE, "su", INST, f.ino), EBB_OK, "REMOVE");
	st = _rq(ufd, PROTO_OP_STATFS, "s", INST);
	proto_get_u64(&_dec, &cap);
	proto_get_u64(&_dec, &used);
	ok(st == EBB_OK && used == 0, "... used is back to 0");
	_payload_reuse(fd, ufd);
	_owner(fd, ufd);
	_special(ufd);
	_dir_touch(ufd);
	_unlink_data(ufd);
	_xattrs(ufd);
	_hardlinks(ufd);
	_locks(ufd);
	is_int(_rq(ufd, PROTO_OP_INST_DESTROY, "s", INST), EBB_E_DENIED,
	       "INST_DESTROY by the owner: E_DENIED (admin only)");
	is_int(_rq(fd, PROTO_OP_INST_DESTROY, "s", INST), EBB_OK, "INST_DESTROY");
	is_int(_rq(fd, PROTO_OP_INST_GET, "s", INST), EBB_E_NOINST,
	       "... then INST_GET: E_NOINST");
	proto_dec_free(&_dec);
	rr_reply_free(&_last);
	close(fd);
	close(ufd);
	return tap_exit();
}
