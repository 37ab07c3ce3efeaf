/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd_rpc: write or check a small tree over raw RPC, for restart.t.
 *
 *   bbd_rpc write NAME    instance "rst" (created if absent), directory
 *                         "dir", file dir/NAME with 300,000 bytes of a
 *                         pattern, FSYNC and SIZE_UPDATE(SYNC): after this
 *                         returns, nothing of it may be lost, even to kill -9;
 *                         prints the file's inode number
 *   bbd_rpc check NAME    all of it is there, byte for byte
 *
 * The daemon is the first entry of $EBB_NODES; needs root (INST_CREATE).
 * Exit status 0 on success; diagnostics on stderr as "# " lines.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "rawrpc.h"
#include "tap.h"

#define INST "rst"
#define LEN 300000u

static uint64_t _msgid = 1;

static uint8_t _pattern(const char *name, uint32_t i)
{
	return (uint8_t)(i * 31 + (uint8_t)name[0] + i / 4096);
}

/* Send e and decode an attribute result; returns the status. */
static long _attr_call(int fd, struct proto_enc *e, struct proto_attr *a)
{
	struct rr_reply r;
	struct proto_dec d;
	uint64_t id;
	uint32_t op;
	ebb_err st;
	long rc = rr_call(fd, e, _msgid, &r);

	if (rc == EBB_OK && a) {
		proto_dec_reply(&d, r.hdr, r.hlen, &id, &op, &st);
		if (!proto_get_attr(&d, a))
			rc = -1;
		a->target = NULL;
		proto_dec_free(&d);
	} else if (rc != EBB_OK) {
		diag("msgid %llu: %s: %s", (unsigned long long)_msgid,
		     ebb_errname((ebb_err)rc), r.detail);
	}
	rr_reply_free(&r);
	_msgid++;
	return rc;
}

static long _lookup(int fd, uint64_t parent, const char *name,
		    struct proto_attr *a)
{
	struct proto_enc e;

	proto_enc_request(&e, _msgid, PROTO_OP_LOOKUP, 3);
	proto_put_cstr(&e, INST);
	proto_put_u64(&e, parent);
	proto_put_cstr(&e, name);
	return _attr_call(fd, &e, a);
}

static int _write(int fd, const char *name)
{
	struct proto_enc e;
	struct proto_attr dir, file;
	struct rr_reply r;
	char member[300];
	uint8_t *buf = malloc(LEN);
	long st;
	int rc = 1;

	snprintf(member, sizeof(member), "%s:%s", rr_host, rr_port);
	proto_enc_request(&e, _msgid, PROTO_OP_INST_CREATE, 7);
	proto_put_cstr(&e, INST);
	proto_put_u64(&e, 0);
	proto_put_array(&e, 1);
	proto_put_cstr(&e, member);
	proto_put_u64(&e, 1 << 20);
	proto_put_u64(&e, 64 << 20);
	proto_put_u64(&e, 0);
	proto_put_u64(&e, 0);
	if (_attr_call(fd, &e, NULL) != EBB_OK)
		goto out;
	proto_enc_request(&e, _msgid, PROTO_OP_MKDIR, 4);
	proto_put_cstr(&e, INST);
	proto_put_u64(&e, PROTO_ROOT_INO);
	proto_put_cstr(&e, "dir");
	proto_put_u64(&e, 0755);
	st = rr_call(fd, &e, _msgid, &r);
	rr_reply_free(&r);
	_msgid++;
	if (st == EBB_OK || st == EBB_EEXIST)
		st = _lookup(fd, PROTO_ROOT_INO, "dir", &dir);
	if (st != EBB_OK)
		goto out;
	proto_enc_request(&e, _msgid, PROTO_OP_CREATE, 5);
	proto_put_cstr(&e, INST);
	proto_put_u64(&e, dir.ino);
	proto_put_cstr(&e, name);
	proto_put_u64(&e, 0644);
	proto_put_u64(&e, PROTO_CREATE_EXCL);
	if (_attr_call(fd, &e, &file) != EBB_OK)
		goto out;
	for (uint32_t i = 0; i < LEN; i++)
		buf[i] = _pattern(name, i);
	proto_enc_request(&e, _msgid, PROTO_OP_WRITE, 3);
	proto_put_cstr(&e, INST);
	proto_put_u64(&e, file.ino);
	proto_put_u64(&e, 0);
	if (rr_send_frame(fd, e.sb.data, (uint32_t)e.sb.size, buf, LEN) != 0 ||
	    rr_recv_reply(fd, &r) != 1 || r.status != EBB_OK) {
		diag("WRITE failed: %s", r.detail);
		proto_enc_free(&e);
		rr_reply_free(&r);
		goto out;
	}
	proto_enc_free(&e);
	rr_reply_free(&r);
	_msgid++;
	proto_enc_request(&e, _msgid, PROTO_OP_FSYNC, 2);
	proto_put_cstr(&e, INST);
	proto_put_u64(&e, file.ino);
	if (_attr_call(fd, &e, NULL) != EBB_OK)
		goto out;
	proto_enc_request(&e, _msgid, PROTO_OP_SIZE_UPDATE, 7);
	proto_put_cstr(&e, INST);
	proto_put_u64(&e, dir.ino);
	proto_put_cstr(&e, name);
	proto_put_u64(&e, file.ino);
	proto_put_u64(&e, LEN);
	proto_put_i64(&e, (int64_t)time(NULL) * 1000000000);
	proto_put_u64(&e, PROTO_SIZE_SYNC);
	if (_attr_call(fd, &e, &file) != EBB_OK || file.size != LEN)
		goto out;
	printf("%llu\n", (unsigned long long)file.ino);
	rc = 0;
out:
	free(buf);
	return rc;
}

static int _check(int fd, const char *name)
{
	struct proto_enc e;
	struct proto_attr dir, file;
	struct rr_reply r;
	int rc = 1;

	if (_lookup(fd, PROTO_ROOT_PARENT, "", &dir) != EBB_OK ||
	    _lookup(fd, PROTO_ROOT_INO, "dir", &dir) != EBB_OK ||
	    _lookup(fd, dir.ino, name, &file) != EBB_OK)
		return 1;
	if (!S_ISDIR(dir.mode) || !S_ISREG(file.mode) || file.size != LEN) {
		diag("dir mode %o, file mode %o size %llu", dir.mode,
		     file.mode, (unsigned long long)file.size);
		return 1;
	}
	proto_enc_request(&e, _msgid, PROTO_OP_READ, 4);
	proto_put_cstr(&e, INST);
	proto_put_u64(&e, file.ino);
	proto_put_u64(&e, 0);
	proto_put_u64(&e, LEN);
	if (rr_call(fd, &e, _msgid, &r) != EBB_OK || r.plen != LEN) {
		diag("READ: %s, %u bytes", ebb_errname(r.status), r.plen);
		goto out;
	}
	for (uint32_t i = 0; i < LEN; i++) {
		if (r.payload[i] != _pattern(name, i)) {
			diag("byte %u differs", i);
			goto out;
		}
	}
	rc = 0;
out:
	rr_reply_free(&r);
	_msgid++;
	return rc;
}

int main(int argc, char **argv)
{
	int fd, rc;

	if (argc != 3 || rr_target() != 0) {
		fprintf(stderr, "usage: EBB_NODES=host:port bbd_rpc write|check NAME\n");
		return 2;
	}
	fd = rr_connect();
	if (!rr_hello(fd)) {
		diag("HELLO refused");
		return 1;
	}
	if (!strcmp(argv[1], "write"))
		rc = _write(fd, argv[2]);
	else
		rc = _check(fd, argv[2]);
	return rc;
}
