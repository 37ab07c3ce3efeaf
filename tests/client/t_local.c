/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Local reads (client-lib/local.c, bbd/bbd_local.c): a client on a
 * member's node reads its object files from fds bbd passes over its Unix
 * socket.  Run by local.t (3 bbd on this host, so every member is local):
 *   main          byte-exact against TCP (EBB_SHORT_CIRCUIT=0) on 3 and on
 *                 1 bbd, holes, EOF, truncate/unlink by another client,
 *                 read-after-write with write-behind in flight, the fd path
 *                 used (libebb's counters), every bad request on the
 *                 socket refused clearly while bbd keeps serving
 *   prep ID       (root) instance ID owned by root with /secret
 *   nobody ID     (as another user) the socket passes no fd of ID
 *   nosock        node 0's socket was removed: reads still right, by TCP
 *   destroy ID
 * Links libebb-internal (counters, the offer) and the codec (raw frames).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ctest.h"
#include "ebb_int.h"
#include "proto.h"
#include "tap.h"

#define KiB 1024ULL
#define MiB (1024ULL * 1024)
#define STRIPE (64 * KiB)

static ebb_t *_attach(struct ctest *c, const char *id, unsigned nmembers,
		      int local)
{
	ebb_t *h;

	setenv("EBB_SHORT_CIRCUIT", local ? "1" : "0", 1);
	h = ebb_attach(id, c->members, nmembers, &c->opts);
	if (!h)
		sysbail("attach %s", id);
	return h;
}

static uint64_t _local_bytes(ebb_t *h)
{
	uint64_t b, o, f;

	file_local_stats(h, &b, &o, &f);
	return b;
}

static uint64_t _local_wbytes(ebb_t *h)
{
	return __atomic_load_n(&h->net.local_wbytes, __ATOMIC_RELAXED);
}

static uint64_t _used(ebb_t *h)
{
	struct ebb_statfs s;

	return ebb_statfs(h, &s) == 0 ? s.used : 0;
}

static uint64_t _fallbacks(ebb_t *h)
{
	uint64_t b, o, f;

	file_local_stats(h, &b, &o, &f);
	return f;
}

/* The whole of path through h in one pread (count may be over the file). */
static unsigned char *_slurp(ebb_t *h, const char *path, size_t cap,
			     ssize_t *n)
{
	unsigned char *buf = tap_malloc(cap ? cap : 1);
	ebb_file_t *f = ebb_open(h, path, O_RDONLY, 0);

	*n = f ? ebb_pread(f, buf, cap, 0) : -1;
	if (f)
		ebb_close(f);
	return buf;
}

/* path read by hl (local) and ht (TCP): the same len bytes; the local
 * read went by the fd path iff want_local. */
static int _same_both(ebb_t *hl, ebb_t *ht, const char *path, size_t len,
		      int want_local, const char *what)
{
	uint64_t b0 = _local_bytes(hl);
	ssize_t nl, nt;
	unsigned char *a = _slurp(hl, path, len + 4096, &nl);
	unsigned char *b = _slurp(ht, path, len + 4096, &nt);
	uint64_t moved = _local_bytes(hl) - b0;
	int good = nl == (ssize_t)len && nt == (ssize_t)len &&
		   memcmp(a, b, len) == 0 && _local_bytes(ht) == 0 &&
		   (want_local ? moved > 0 : moved == 0);

	if (!good)
		diag("%s: local %zd, tcp %zd bytes (want %zu), %llu bytes by "
		     "fd", what, nl, nt, len, (unsigned long long)moved);
	free(a);
	free(b);
	return good;
}

static int _zeros(const unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return 0;
	return 1;
}

/* ---- the data paths ----------------------------------------------------- */

static void _data(struct ctest *c, const char *id, unsigned n)
{
	ebb_t *h = _attach(c, id, n, 1), *ht = _attach(c, id, n, 0),
	      *h2 = _attach(c, id, n, 0);
	size_t big = 5 * MiB + 12345;
	unsigned char *buf = tap_malloc(4 * MiB), *rd = tap_malloc(4 * MiB);
	ebb_file_t *f, *w, *r;
	struct ebb_stat st;
	ssize_t got;
	int good;

	diag("instance %s on %u bbd", id, n);
	is_int(ct_write_file(h, "/big", big, 3, MiB, 0), 0,
	       "%u bbd: write 5 MiB + 12345 (80+ stripes)", n);
	ok(_same_both(h, ht, "/big", big, 1, "big"),
	   "%u bbd: one read of it by fd == by TCP, byte for byte", n);
	is_int(ct_verify_file(h, "/big", big, 3, MiB), 0,
	   "%u bbd: 1 MiB reads by fd: the bytes written", n);
	is_int(ct_verify_file(h, "/big", big, 3, 12345), 0,
	   "%u bbd: unaligned 12345-byte reads by fd: the bytes written", n);

	/* EOF */
	f = ebb_open(h, "/big", O_RDONLY, 0);
	ok(f && ebb_pread(f, buf, 4096, (off_t)big) == 0,
	   "%u bbd: read at EOF: 0", n);
	ok(f && ebb_pread(f, buf, 4 * MiB, (off_t)(big - 1000)) == 1000 &&
		   ct_same(buf, 1000, 3, big - 1000, "tail"),
	   "%u bbd: read over EOF: the 1000 bytes left", n);
	if (f)
		ebb_close(f);

	/* holes: data at 0 and in stripe 10, size 20 stripes, and a file
	 * that has a size but no object anywhere */
	f = ebb_open(h, "/sparse", O_CREAT | O_RDWR, 0644);
	ct_fill(buf, 1000, 5, 0);
	good = f && ebb_pwrite(f, buf, 1000, 0) == 1000;
	ct_fill(buf, 1000, 5, 10 * STRIPE + 100);
	good = good && ebb_pwrite(f, buf, 1000, 10 * STRIPE + 100) == 1000 &&
	       ebb_ftruncate(f, 20 * STRIPE) == 0 && ebb_close(f) == 0;
	ok(good, "%u bbd: a sparse file of 20 stripes", n);
	ok(_same_both(h, ht, "/sparse", 20 * STRIPE, 1, "sparse"),
	   "%u bbd: sparse by fd == by TCP", n);
	free(_slurp(h, "/sparse", 0, &got));
	{
		unsigned char *s = _slurp(h, "/sparse", 20 * STRIPE, &got);

		ok(got == 20 * STRIPE && ct_same(s, 1000, 5, 0, "head") &&
			   _zeros(s + 1000, 10 * STRIPE + 100 - 1000) &&
			   ct_same(s + 10 * STRIPE + 100, 1000, 5,
				  10 * STRIPE + 100, "stripe 10") &&
			   _zeros(s + 10 * STRIPE + 1100,
				  10 * STRIPE - 1100),
		   "%u bbd: holes read as zeros, data where written", n);
		free(s);
	}
	f = ebb_open(h, "/empty", O_CREAT | O_RDWR, 0644);
	ok(f && ebb_ftruncate(f, 3 * STRIPE) == 0 &&
		   ebb_pread(f, buf, 3 * STRIPE, 0) == 3 * STRIPE &&
		   _zeros(buf, 3 * STRIPE),
	   "%u bbd: no object yet: zeros", n);
	/* the misses were not cached: another client writes, closes, and
	 * this open handle reads it */
	w = ebb_open(h2, "/empty", O_WRONLY, 0);
	ct_fill(buf, 3 * STRIPE, 6, 0);
	ok(w && ebb_pwrite(w, buf, 3 * STRIPE, 0) == 3 * STRIPE &&
		   ebb_close(w) == 0 &&
		   ebb_pread(f, rd, 3 * STRIPE, 0) == 3 * STRIPE &&
		   ct_same(rd, 3 * STRIPE, 6, 0, "empty"),
	   "%u bbd: objects made later are read (a miss is not cached)", n);
	if (f)
		ebb_close(f);

	/* truncate by another client, then a new open */
	f = ebb_open(h, "/big", O_RDONLY, 0);
	ok(f && ebb_pread(f, buf, MiB, 0) == (ssize_t)MiB,
	   "%u bbd: a reader has /big open", n);
	w = ebb_open(h2, "/big", O_WRONLY, 0);
	ct_fill(buf, 50000, 9, 200000);
	ok(w && ebb_ftruncate(w, 100000) == 0 &&
		   ebb_pwrite(w, buf, 50000, 200000) == 50000 &&
		   ebb_close(w) == 0,
	   "%u bbd: another client truncates it to 100000 and writes "
	   "[200000, 250000)", n);
	if (f)
		ebb_close(f);
	{
		unsigned char *s = _slurp(h, "/big", 5 * MiB, &got);

		ok(got == 250000 && ct_same(s, 100000, 3, 0, "kept") &&
			   _zeros(s + 100000, 100000) &&
			   ct_same(s + 200000, 50000, 9, 200000, "new"),
		   "%u bbd: an open after it reads the new bytes and zeros, "
		   "nothing stale (%zd bytes)", n, got);
		free(s);
	}
	ok(_same_both(h, ht, "/big", 250000, 1, "truncated"),
	   "%u bbd: and by fd == by TCP", n);

	/* unlink (and a new file of that name) by another client */
	ok(ebb_unlink(h2, "/big") == 0 &&
		   ct_write_file(h2, "/big", 300000, 10, 65536, 0) == 0,
	   "%u bbd: another client unlinks /big and writes a new /big", n);
	{
		unsigned char *s = _slurp(h, "/big", MiB, &got);

		ok(got == 300000 && ct_same(s, 300000, 10, 0, "renewed"),
		   "%u bbd: an open after it reads the new file", n);
		free(s);
	}
	ok(ebb_unlink(h2, "/sparse") == 0, "%u bbd: another client unlinks "
	   "/sparse", n);
	CT_ERRNO_P(ebb_open(h, "/sparse", O_RDONLY, 0), ENOENT,
		   "%u bbd: open after unlink: ENOENT", n);

	/* read-after-write on one ebb_t, write-behind in flight */
	w = ebb_open(h, "/raw", O_CREAT | O_RDWR, 0644);
	r = ebb_open(h, "/raw", O_RDONLY, 0);
	ct_fill(buf, 3 * MiB + 12345, 11, 777);
	{
		uint64_t b0 = _local_bytes(h);

		ok(w && r && ebb_pwrite(w, buf, 3 * MiB + 12345, 777) ==
				     (ssize_t)(3 * MiB + 12345) &&
			   ebb_pread(r, rd, 3 * MiB + 12345, 777) ==
				   (ssize_t)(3 * MiB + 12345) &&
			   ct_same(rd, 3 * MiB + 12345, 11, 777, "raw") &&
			   _local_bytes(h) > b0,
		   "%u bbd: read at once after a write-behind write: the "
		   "bytes written, by fd", n);
	}
	good = w && r;
	for (uint64_t off = 0; off < 2 * MiB && good; off += 65536) {
		ct_fill(buf, 65536, 12, off);
		good = ebb_pwrite(w, buf, 65536, (off_t)off) == 65536 &&
		       ebb_pread(r, rd, 65536, (off_t)off) == 65536 &&
		       ct_same(rd, 65536, 12, off, "64 KiB");
	}
	ok(good, "%u bbd: 32 small rewrites, each read back at once", n);
	ok(r && ebb_fstat(r, &st) == 0 && st.size == 3 * MiB + 12345 + 777,
	   "%u bbd: size seen at once", n);
	if (r)
		ebb_close(r);
	if (w)
		ebb_close(w);
	ok(_fallbacks(h) == 0, "%u bbd: no fallback to TCP (%llu)", n,
	   (unsigned long long)_fallbacks(h));
	ebb_detach(h);
	ebb_detach(ht);
	ebb_detach(h2);
	free(buf);
	free(rd);
}

/* ebb_pread_fd (ebb-fuse's splice): where a range's bytes are, a stripe
 * at a time; EOPNOTSUPP wherever ebb_pread is needed. */
static void _pread_fd(struct ctest *c, const char *id, unsigned n)
{
	ebb_t *h = _attach(c, id, n, 1), *ht = _attach(c, id, n, 0);
	size_t size = 3 * STRIPE + 100, total = 0;
	unsigned char *buf = tap_malloc(size), *rd = tap_malloc(size);
	ebb_file_t *f;
	off_t pos = -1;
	ssize_t got;
	int fd = -1, good = 1;

	ct_fill(buf, size, 21, 0);
	f = ebb_open(h, "/pfd", O_CREAT | O_RDWR, 0644);
	ok(f && ebb_pwrite(f, buf, size, 0) == (ssize_t)size &&
		   ebb_close(f) == 0, "%u bbd: a file of 3 stripes + 100", n);
	f = ebb_open(h, "/pfd", O_RDONLY, 0);
	got = f ? ebb_pread_fd(f, 2 * STRIPE, 100, &fd, &pos) : -1;
	ok(got == STRIPE - 100 && fd >= 0 && pos == 100 &&
		   pread(fd, rd, (size_t)got, pos) == got &&
		   ct_same(rd, (size_t)got, 21, 100, "piece"),
	   "%u bbd: 2 stripes from 100: the %zd bytes to the stripe's end, "
	   "at offset 100 of an fd that holds them", n, got);
	for (off_t off = 0; f && good && off < (off_t)size; off += got) {
		got = ebb_pread_fd(f, size, off, &fd, &pos);
		good = got > 0 && got <= STRIPE &&
		       pread(fd, rd + off, (size_t)got, pos) == got;
		total += good ? (size_t)got : 0;
	}
	ok(good && total == size && ct_same(rd, size, 21, 0, "pieces"),
	   "%u bbd: piece after piece, the whole file", n);
	ok(f && ebb_pread_fd(f, 10, (off_t)size, &fd, &pos) == 0 &&
		   ebb_pread_fd(f, 10, (off_t)size + 5, &fd, &pos) == 0,
	   "%u bbd: at and past the end: 0", n);
	CT_ERRNO(f ? ebb_pread_fd(f, 10, -1, &fd, &pos) : 0, EINVAL,
		 "%u bbd: a negative offset", n);
	if (f)
		ebb_close(f);
	f = ebb_open(ht, "/pfd", O_RDONLY, 0);
	CT_ERRNO(f ? ebb_pread_fd(f, 10, 0, &fd, &pos) : 0, EOPNOTSUPP,
		 "%u bbd: local reads off: EOPNOTSUPP", n);
	if (f)
		ebb_close(f);
	f = ebb_open(h, "/pfd", O_WRONLY, 0);
	CT_ERRNO(f ? ebb_pread_fd(f, 10, 0, &fd, &pos) : 0, EBADF,
		 "%u bbd: a write-only handle: EBADF", n);
	if (f)
		ebb_close(f);

	/* Bytes an object does not hold: a hole, zeros past its end. */
	f = ebb_open(h, "/pfd", O_RDWR | O_TRUNC, 0);
	ok(f && ebb_pwrite(f, buf, 1000, 0) == 1000 &&
		   ebb_ftruncate(f, 3 * STRIPE) == 0,
	   "%u bbd: truncated, 1000 bytes written, 3 stripes long", n);
	CT_ERRNO(f ? ebb_pread_fd(f, 10, 2 * STRIPE, &fd, &pos) : 0,
		 EOPNOTSUPP, "%u bbd: a stripe with no object: EOPNOTSUPP", n);
	CT_ERRNO(f ? ebb_pread_fd(f, 2000, 0, &fd, &pos) : 0, EOPNOTSUPP,
		 "%u bbd: past the object's end: EOPNOTSUPP", n);
	/* What this handle has written but not yet seen acknowledged is in
	 * the object before the fd is given. */
	ct_fill(buf, 500, 22, 100);
	got = f && ebb_pwrite(f, buf, 500, 100) == 500
		      ? ebb_pread_fd(f, 500, 100, &fd, &pos) : -1;
	ok(got == 500 && pread(fd, rd, 500, pos) == 500 &&
		   ct_same(rd, 500, 22, 100, "written"),
	   "%u bbd: right after a write of the range: its bytes", n);
	if (f)
		ebb_close(f);
	is_int(ebb_unlink(h, "/pfd"), 0, "%u bbd: unlink", n);
	free(buf);
	free(rd);
	ebb_detach(h);
	ebb_detach(ht);
}

/* ---- the socket, raw ------------------------------------------------------ */

static int _raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {.tv_sec = 10};

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		diag("connect %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void _raw_send(int fd, const void *hdr, size_t hlen)
{
	uint8_t pre[PROTO_PREFIX_LEN];

	proto_prefix_write(pre, (uint32_t)hlen, 0);
	if (write(fd, pre, sizeof(pre)) != (ssize_t)sizeof(pre) ||
	    write(fd, hdr, hlen) != (ssize_t)hlen)
		diag("raw send: %s", strerror(errno));
}

/* op with one string and (for OPEN) a u64 argument; _raw_req3 with a
 * second u64 (flags, bytes). */
static void _raw_req_n(int fd, uint32_t op, const char *s, uint64_t u,
		       const uint64_t *u2)
{
	struct proto_enc e;

	proto_enc_request(&e, 7, op, u2 ? 3 : 2);
	if (op == PROTO_LOCAL_HELLO) {
		proto_put_u64(&e, PROTO_VERSION);
		proto_put_cstr(&e, s);
	} else {
		proto_put_cstr(&e, s);
		proto_put_u64(&e, u);
		if (u2)
			proto_put_u64(&e, *u2);
	}
	_raw_send(fd, e.sb.data, e.sb.size);
	proto_enc_free(&e);
}

static void _raw_req(int fd, uint32_t op, const char *s, uint64_t u)
{
	_raw_req_n(fd, op, s, u, NULL);
}

static void _raw_req3(int fd, uint32_t op, const char *s, uint64_t u,
		      uint64_t u2)
{
	_raw_req_n(fd, op, s, u, &u2);
}

/* One reply: its status (-1 if none came), a passed fd into *pfd (or -1),
 * the detail into why. */
static int _raw_reply(int fd, int *pfd, char *why, size_t whylen)
{
	uint8_t buf[PROTO_PREFIX_LEN + 2048];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec v = {buf, sizeof(buf)};
	struct msghdr mh = {.msg_iov = &v, .msg_iovlen = 1,
			    .msg_control = cm.b,
			    .msg_controllen = sizeof(cm.b)};
	struct cmsghdr *c;
	uint32_t hlen, plen;
	struct proto_dec d;
	uint64_t msgid;
	uint32_t op;
	ebb_err st = EBB_OK;
	const char *det = NULL;
	uint32_t dlen = 0;
	ssize_t k = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	int ret;

	if (pfd)
		*pfd = -1;
	why[0] = '\0';
	if (k < PROTO_PREFIX_LEN)
		return -1;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_type == SCM_RIGHTS && pfd)
			memcpy(pfd, CMSG_DATA(c), sizeof(int));
	if (proto_prefix_parse(buf, &hlen, &plen) != EBB_OK ||
	    (size_t)k < PROTO_PREFIX_LEN + hlen)
		return -1;
	if (proto_dec_reply(&d, buf + PROTO_PREFIX_LEN, hlen, &msgid, &op,
			    &st) != EBB_OK) {
		proto_dec_free(&d);
		return -1;
	}
	if (st != EBB_OK && proto_get_str(&d, &det, &dlen, 500))
		snprintf(why, whylen, "%.*s", (int)dlen, det);
	ret = (int)st;
	proto_dec_free(&d);
	return ret;
}

/* The connection was closed by bbd (EOF, no more replies). */
static int _closed(int fd)
{
	char b;

	return recv(fd, &b, 1, 0) == 0;
}

/* Local writes: libebb writes through a writable object fd after
 * reserving capacity; bbd accounts the blocks and gives the reservation
 * back at LOCAL_SETTLE or when the connection ends; every bad frame. */
static void _lwrite(struct ctest *c, const char *id)
{
	ebb_t *h = _attach(c, id, 1, 1), *ht = _attach(c, id, 1, 0);
	uint64_t w0 = _local_wbytes(h), u0, u1, u2;
	char path[108], token[64], why[512];
	struct ebb_stat st;
	int fd, pfd = -1, rc;
	static char mb[MiB];

	u0 = _used(h);
	is_int(ct_write_file(h, "/lw", 4 * MiB, 31, MiB, 0), 0,
	       "write 4 MiB in 1 MiB calls (a 1-bbd instance on this host)");
	ok(_local_wbytes(h) - w0 >= 4 * MiB,
	   "... through the object's writable fd (%llu bytes)",
	   (unsigned long long)(_local_wbytes(h) - w0));
	is_int(ct_verify_file(ht, "/lw", 4 * MiB, 31, MiB), 0,
	       "... another ebb_t reads it back over TCP");
	u1 = _used(h);
	ok(u1 >= u0 + 4 * MiB && u1 <= u0 + 4 * MiB + 256 * KiB,
	   "... closed: bbd counts its blocks and no reservation "
	   "(used %llu -> %llu)", (unsigned long long)u0,
	   (unsigned long long)u1);
	ok(ebb_stat(h, "/lw", &st) == 0 && st.size == 4 * MiB,
	   "... its size is 4 MiB");
	w0 = _local_wbytes(h);
	is_int(ct_write_file(h, "/small", 100 * KiB, 32, 4 * KiB, 0), 0,
	       "a 100 KiB file in 4 KiB calls");
	ok(_local_wbytes(h) == w0 && ct_verify_file(ht, "/small", 100 * KiB,
						     32, 4 * KiB) == 0,
	   "... goes over TCP (gathered: a small file is not worth the "
	   "local round trips), and reads back");
	is_int(ct_write_file(h, "/small", 3 * MiB, 33, 4 * KiB, 0), 0,
	       "3 MiB in 4 KiB calls");
	ok(_local_wbytes(h) - w0 == 2 * MiB &&
		   ct_verify_file(ht, "/small", 3 * MiB, 33, 64 * KiB) == 0,
	   "... the first MiB over TCP, the rest through the fd (%llu "
	   "bytes), all of it reads back", (unsigned long long)
	   (_local_wbytes(h) - w0));
	is_int(ebb_unlink(h, "/small"), 0, "unlink /small");

	ok(local_offered(&h->net, 0, path, sizeof(path), token,
			 sizeof(token)), "the 1-bbd instance's socket: %s",
	   path);
	fd = _raw_connect(path);
	_raw_req(fd, PROTO_LOCAL_HELLO, token, 0);
	_raw_reply(fd, NULL, why, sizeof(why));
	_raw_req3(fd, PROTO_LOCAL_OPEN, id, st.ino, 2);
	rc = _raw_reply(fd, &pfd, why, sizeof(why));
	ok(rc == EBB_E_PROTO && pfd < 0, "LOCAL_OPEN with unknown flags: "
	   "E_PROTO (%s)", why);
	_raw_req3(fd, PROTO_LOCAL_RESERVE, id, st.ino, 4096);
	rc = _raw_reply(fd, NULL, why, sizeof(why));
	ok(rc == EBB_ENOENT, "LOCAL_RESERVE before a LOCAL_OPEN for "
	   "writing: ENOENT (%s)", why);
	_raw_req3(fd, PROTO_LOCAL_OPEN, id, st.ino, PROTO_LOCAL_WRITE);
	rc = _raw_reply(fd, &pfd, why, sizeof(why));
	ok(rc == EBB_OK && pfd >= 0 && (fcntl(pfd, F_GETFL) & O_ACCMODE) ==
						O_RDWR,
	   "LOCAL_OPEN for writing: a read-write fd");
	_raw_req3(fd, PROTO_LOCAL_RESERVE, id, st.ino, 2ull << 30);
	rc = _raw_reply(fd, NULL, why, sizeof(why));
	ok(rc == EBB_EINVAL, "LOCAL_RESERVE of 2 GiB: EINVAL (%s)", why);
	_raw_req3(fd, PROTO_LOCAL_RESERVE, id, st.ino, 300 * MiB);
	rc = _raw_reply(fd, NULL, why, sizeof(why));
	ok(rc == EBB_ENOSPC && strstr(why, "bytes used on this node"),
	   "LOCAL_RESERVE past the capacity (256 MiB): ENOSPC (%s)", why);
	_raw_req3(fd, PROTO_LOCAL_RESERVE, id, st.ino, 8 * MiB);
	rc = _raw_reply(fd, NULL, why, sizeof(why));
	ok(rc == EBB_OK && _used(h) == u1 + 8 * MiB,
	   "LOCAL_RESERVE of 8 MiB: counted as used at once");
	memset(mb, 'x', sizeof(mb));
	ok(pfd >= 0 && pwrite(pfd, mb, MiB, 8 * MiB) == (ssize_t)MiB,
	   "1 MiB written through the fd past the file's end");
	close(fd); /* no LOCAL_SETTLE: bbd settles when it sees the close */
	for (int i = 0; i < 100 && (u2 = _used(h)) == u1 + 8 * MiB; i++)
		usleep(50 * 1000);
	ok(u2 >= u1 + MiB && u2 <= u1 + MiB + 256 * KiB,
	   "the connection closed without settling: the reservation is "
	   "given back, the written MiB counted (used %llu)",
	   (unsigned long long)u2);
	if (pfd >= 0)
		close(pfd);

	fd = _raw_connect(path);
	_raw_req(fd, PROTO_LOCAL_HELLO, token, 0);
	_raw_reply(fd, NULL, why, sizeof(why));
	_raw_req3(fd, PROTO_LOCAL_OPEN, id, st.ino, PROTO_LOCAL_WRITE);
	rc = _raw_reply(fd, &pfd, why, sizeof(why));
	if (pfd >= 0)
		close(pfd);
	_raw_req3(fd, PROTO_LOCAL_RESERVE, id, st.ino, MiB);
	_raw_reply(fd, NULL, why, sizeof(why));
	_raw_req3(fd, PROTO_LOCAL_SETTLE, id, st.ino, MiB);
	rc = _raw_reply(fd, NULL, why, sizeof(why));
	ok(rc == EBB_OK && _used(h) == u2,
	   "LOCAL_SETTLE: the reservation is given back at once");
	_raw_req3(fd, PROTO_LOCAL_SETTLE, id, st.ino, MiB);
	rc = _raw_reply(fd, NULL, why, sizeof(why));
	ok(rc == EBB_ENOENT, "a second LOCAL_SETTLE: ENOENT (%s)", why);
	close(fd);
	is_int(ebb_unlink(h, "/lw"), 0, "unlink /lw");
	ebb_detach(h);
	ebb_detach(ht);
}

static void _raw(struct ctest *c, ebb_t *h, uint64_t ino)
{
	char path[108], token[64], why[512], badtok[64];
	int fd, pfd, st;
	struct proto_enc e;

	ok(local_offered(&h->net, 0, path, sizeof(path), token,
			 sizeof(token)),
	   "bbd offered its socket and a token in HELLO (%s)", path);

	fd = _raw_connect(path);
	{
		uint8_t pre[PROTO_PREFIX_LEN];

		proto_prefix_write(pre, 60000, 0); /* over 1 KiB */
		if (write(fd, pre, sizeof(pre)) != (ssize_t)sizeof(pre))
			diag("write: %s", strerror(errno));
	}
	st = _raw_reply(fd, NULL, why, sizeof(why));
	ok(st == EBB_E_TOOBIG && _closed(fd),
	   "a 60000-byte header: E_TOOBIG (%d: %s), closed", st, why);
	close(fd);

	fd = _raw_connect(path);
	_raw_send(fd, "garbage!", 8);
	st = _raw_reply(fd, NULL, why, sizeof(why));
	ok(st == EBB_E_PROTO && _closed(fd),
	   "a header that is not msgpack: E_PROTO (%s), closed", why);
	close(fd);

	fd = _raw_connect(path);
	_raw_req(fd, PROTO_LOCAL_OPEN, c->id, ino);
	st = _raw_reply(fd, &pfd, why, sizeof(why));
	ok(st == EBB_E_AUTH && pfd < 0 && _closed(fd),
	   "LOCAL_OPEN before LOCAL_HELLO: E_AUTH (%s), no fd, closed", why);
	close(fd);

	snprintf(badtok, sizeof(badtok), "%s", token);
	badtok[0] = badtok[0] == '0' ? '1' : '0';
	fd = _raw_connect(path);
	_raw_req(fd, PROTO_LOCAL_HELLO, badtok, 0);
	st = _raw_reply(fd, NULL, why, sizeof(why));
	ok(st == EBB_E_AUTH && _closed(fd),
	   "a wrong token: E_AUTH (%s), closed", why);
	close(fd);
	{
		char tok1[64], p1[108];

		ok(local_offered(&h->net, 1, p1, sizeof(p1), tok1,
				 sizeof(tok1)) &&
			   strcmp(p1, path) != 0 && strcmp(tok1, token) != 0,
		   "another bbd on this host: another socket and token");
		fd = _raw_connect(path);
		_raw_req(fd, PROTO_LOCAL_HELLO, tok1, 0);
		st = _raw_reply(fd, NULL, why, sizeof(why));
		ok(st == EBB_E_AUTH && _closed(fd),
		   "node 1's token at node 0's socket: E_AUTH");
		close(fd);
	}

	fd = _raw_connect(path);
	_raw_req(fd, PROTO_LOCAL_HELLO, token, 0);
	is_int(_raw_reply(fd, NULL, why, sizeof(why)), EBB_OK,
	       "the right token: OK");
	_raw_req(fd, PROTO_LOCAL_OPEN, "no-such-inst", ino);
	st = _raw_reply(fd, &pfd, why, sizeof(why));
	ok(st == EBB_E_NOINST && pfd < 0, "unknown instance: E_NOINST (%s)",
	   why);
	_raw_req(fd, PROTO_LOCAL_OPEN, "../etc", ino);
	st = _raw_reply(fd, &pfd, why, sizeof(why));
	ok(st == EBB_E_PROTO && pfd < 0, "a bad instance id: E_PROTO (%s)",
	   why);
	_raw_req(fd, PROTO_LOCAL_OPEN, c->id, 0xfffffffffull);
	st = _raw_reply(fd, &pfd, why, sizeof(why));
	ok(st == EBB_ENOENT && pfd < 0, "unknown inode: ENOENT (%s)", why);
	_raw_req(fd, PROTO_LOCAL_OPEN, c->id, 0);
	st = _raw_reply(fd, &pfd, why, sizeof(why));
	ok(st == EBB_EINVAL && pfd < 0, "inode 0: EINVAL (%s)", why);
	proto_enc_request(&e, 9, PROTO_LOCAL_OPEN, 1);
	proto_put_u64(&e, 5);
	_raw_send(fd, e.sb.data, e.sb.size);
	proto_enc_free(&e);
	st = _raw_reply(fd, &pfd, why, sizeof(why));
	ok(st == EBB_E_PROTO && pfd < 0, "wrong arguments: E_PROTO (%s)", why);
	proto_enc_request(&e, 10, PROTO_OP_READ, 0);
	_raw_send(fd, e.sb.data, e.sb.size);
	proto_enc_free(&e);
	st = _raw_reply(fd, &pfd, why, sizeof(why));
	ok(st == EBB_E_BADOP, "a TCP opcode here: E_BADOP (%s)", why);
	_raw_req(fd, PROTO_LOCAL_HELLO, token, 0);
	st = _raw_reply(fd, NULL, why, sizeof(why));
	ok(st == EBB_E_PROTO && _closed(fd), "a second LOCAL_HELLO: E_PROTO, "
	   "closed");
	close(fd);

	fd = _raw_connect(path);
	_raw_req(fd, PROTO_LOCAL_HELLO, token, 0);
	_raw_reply(fd, NULL, why, sizeof(why));
	_raw_req(fd, PROTO_LOCAL_OPEN, c->id, ino);
	st = _raw_reply(fd, &pfd, why, sizeof(why));
	ok(st == EBB_OK && pfd >= 0,
	   "after all that, bbd still passes an fd of a real object");
	if (pfd >= 0) {
		char b = 0;
		int fl = fcntl(pfd, F_GETFL);

		ok((fl & O_ACCMODE) == O_RDONLY && (fcntl(pfd, F_GETFD) &
						     FD_CLOEXEC),
		   "it is O_RDONLY and close-on-exec");
		errno = 0;
		ok(write(pfd, &b, 1) < 0 && errno == EBADF,
		   "writing through it: EBADF");
		ok(pread(pfd, &b, 1, 0) == 1, "reading through it works");
		close(pfd);
	}
	close(fd);
}

/* ---- phases --------------------------------------------------------------- */

static void _create(struct ctest *c, const char *id, unsigned n,
		    uint32_t stripe, uid_t uid)
{
	char err[512] = "";
	struct ebb_instance_spec spec = {
		.id = id, .members = c->members, .nmembers = n,
		.stripe_size = stripe, .capacity = 256 * MiB, .uid = uid,
		.gid = uid,
	};

	if (ebb_instance_create(&spec, &c->opts, err, sizeof(err)) != 0)
		bail("create %s: %s (%s)", id, strerror(errno), err);
}

static void _destroy(struct ctest *c, const char *id, unsigned n)
{
	char err[512] = "";

	is_int(ebb_instance_destroy(id, c->members, n, &c->opts, err,
				    sizeof(err)), 0, "destroy %s %s", id, err);
}

static void _main(struct ctest *c)
{
	char id3[sizeof(c->id)], id1[64];
	struct ebb_stat st;
	ebb_t *h;

	if (c->nmembers < 3)
		bail("needs 3 bbd");
	snprintf(c->id, sizeof(c->id), "t-local-%ld", (long)getpid());
	snprintf(id3, sizeof(id3), "%s", c->id);
	snprintf(id1, sizeof(id1), "t-local1-%ld", (long)getpid());
	_create(c, id3, 3, STRIPE, 0);
	_create(c, id1, 1, STRIPE, 0);
	_data(c, id3, 3);
	_data(c, id1, 1);
	_pread_fd(c, id3, 3);
	_pread_fd(c, id1, 1);
	_lwrite(c, id1);
	h = _attach(c, id3, 3, 1);
	ok(ebb_stat(h, "/raw", &st) == 0, "stat /raw");
	/* /raw's stripe 0 is on its creator's node: find a node holding
	 * one of its stripes for the raw checks: node 0 holds stripe
	 * (3 - creator) % 3 */
	{
		uint64_t b = _local_bytes(h);
		ssize_t n;

		free(_slurp(h, "/raw", 4 * MiB, &n));
		ok(_local_bytes(h) > b, "the fd path serves a fresh ebb_t");
	}
	_raw(c, h, st.ino);
	ebb_detach(h);
	_destroy(c, id3, 3);
	_destroy(c, id1, 1);
}

int main(int argc, char **argv)
{
	struct ctest c;
	const char *mode = argc > 1 ? argv[1] : "main";

	memset(&c, 0, sizeof(c));
	ct_env(&c);
	plan_lazy();
	if (!strcmp(mode, "main")) {
		_main(&c);
	} else if (!strcmp(mode, "prep") && argc > 2) {
		ebb_t *h;

		_create(&c, argv[2], 3, STRIPE, 0);
		h = _attach(&c, argv[2], 3, 1);
		struct ebb_stat st;
		char p[4096];
		FILE *fp;

		is_int(ct_write_file(h, "/secret", 3 * STRIPE, 21, STRIPE, 1),
		       0, "root writes /secret into %s", argv[2]);
		/* 3 stripes on 3 nodes: node 0 holds one.  Its inode
		 * number for the other user, who may not stat it. */
		snprintf(p, sizeof(p), "%s/secret.ino", getenv("EBB_TEST_DIR"));
		ok(ebb_stat(h, "/secret", &st) == 0 && (fp = fopen(p, "w")) &&
			   fprintf(fp, "%llu\n",
				   (unsigned long long)st.ino) > 0 &&
			   fclose(fp) == 0,
		   "its inode number into %s", p);
		ebb_detach(h);
	} else if (!strcmp(mode, "nobody") && argc > 2) {
		ebb_t *h = _attach(&c, argv[2], 3, 1);
		char path[108], token[64], why[512];
		int fd, pfd = -1, st;
		uint64_t secret;

		snprintf(c.id, sizeof(c.id), "%s", argv[2]);
		net_connect(&h->net, NULL, h->net.n, NULL, 0);
		CT_ERRNO_P(ebb_open(h, "/secret", O_RDONLY, 0), EACCES,
			   "as uid %u: open of root's file: EACCES (TCP)",
			   (unsigned)getuid());
		ok(local_offered(&h->net, 0, path, sizeof(path), token,
				 sizeof(token)),
		   "HELLO still offered the socket");
		fd = _raw_connect(path);
		ok(fd >= 0, "any local user may connect to it");
		_raw_req(fd, PROTO_LOCAL_HELLO, token, 0);
		is_int(_raw_reply(fd, NULL, why, sizeof(why)), EBB_OK,
		       "and say LOCAL_HELLO");
		{
			char p[4096];
			unsigned long long ino = 0;
			FILE *fp;

			snprintf(p, sizeof(p), "%s/secret.ino",
				 getenv("EBB_TEST_DIR"));
			fp = fopen(p, "r");
			if (!fp || fscanf(fp, "%llu", &ino) != 1)
				bail("no inode number in %s", p);
			fclose(fp);
			_raw_req(fd, PROTO_LOCAL_OPEN, argv[2], ino);
			st = _raw_reply(fd, &pfd, why, sizeof(why));
			secret = ino;
		}
		ok(st == EBB_E_DENIED && pfd < 0,
		   "LOCAL_OPEN of root's objects: E_DENIED, no fd (%s)", why);
		{
			int lfd = -1;

			st = local_open(&h->net, 0, argv[2], secret, &lfd);
			ok(st == EBB_E_DENIED && lfd < 0,
			   "libebb's local open: E_DENIED too");
		}
		if (fd >= 0)
			close(fd);
		ebb_detach(h);
	} else if (!strcmp(mode, "nosock")) {
		char id[64];
		ebb_t *h, *ht;

		snprintf(id, sizeof(id), "t-nosock-%ld", (long)getpid());
		_create(&c, id, 1, STRIPE, 0);
		h = _attach(&c, id, 1, 1);
		ht = _attach(&c, id, 1, 0);
		is_int(ct_write_file(h, "/f", 2 * MiB + 7, 31, MiB, 0), 0,
		       "write 2 MiB on node 0 (its socket is gone)");
		ok(_same_both(h, ht, "/f", 2 * MiB + 7, 0, "nosock"),
		   "read: by TCP, the same bytes");
		is_int(ct_verify_file(h, "/f", 2 * MiB + 7, 31, 100000), 0,
		       "and the bytes written");
		ok(_fallbacks(h) > 0, "the fallback is counted (%llu)",
		   (unsigned long long)_fallbacks(h));
		ebb_detach(h);
		ebb_detach(ht);
		_destroy(&c, id, 1);

		/* 3 bbd, node 0 by TCP, nodes 1 and 2 by fd: sequential
		 * reads (read-ahead) and one big read */
		snprintf(id, sizeof(id), "t-mixed-%ld", (long)getpid());
		_create(&c, id, 3, STRIPE, 0);
		h = _attach(&c, id, 3, 1);
		ht = _attach(&c, id, 3, 0);
		is_int(ct_write_file(h, "/m", 3 * MiB + 99, 32, MiB, 0), 0,
		       "mixed: write 3 MiB over 3 bbd, node 0's socket gone");
		is_int(ct_verify_file(h, "/m", 3 * MiB + 99, 32, 100 * KiB), 0,
		       "mixed: sequential 100 KiB reads: the bytes written");
		ok(_same_both(h, ht, "/m", 3 * MiB + 99, 1, "mixed"),
		   "mixed: one read: fd for nodes 1 and 2, TCP for node 0, "
		   "== TCP");
		ok(_fallbacks(h) > 0 && _local_bytes(h) > 0 &&
			   _local_bytes(h) < 2 * (3 * MiB + 99),
		   "mixed: some bytes by fd (%llu), node 0 fell back",
		   (unsigned long long)_local_bytes(h));
		ebb_detach(h);
		ebb_detach(ht);
		_destroy(&c, id, 3);
	} else if (!strcmp(mode, "destroy") && argc > 2) {
		_destroy(&c, argv[2], 3);
	} else {
		bail("usage: t_local [main|prep ID|nobody ID|nosock|destroy ID]");
	}
	return tap_exit();
}
