/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bbd_ops: the requests bbd daemons have served, per opcode, summed.
 *
 *   bbd_ops                print "OPNAME COUNT" lines (sorted by opcode
 *                          name as bbd sends them), summed over every
 *                          daemon of $EBB_NODES (comma-separated host:port)
 *
 * From NODE_STATUS's "ops" map (docs/protocol.md).  A test takes the
 * difference of two prints around what it measures; the HELLO and
 * NODE_STATUS of this program are counted too, so compare the metadata
 * opcodes only.  Exit status 0 on success; diagnostics as "# " lines.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rawrpc.h"
#include "tap.h"

#define MAX_OPS 64

struct count {
	char name[32];
	uint64_t n;
};

static struct count _counts[MAX_OPS];
static unsigned _ncounts;

static void _add(const char *name, uint32_t len, uint64_t n)
{
	unsigned i;

	for (i = 0; i < _ncounts; i++)
		if (strlen(_counts[i].name) == len &&
		    memcmp(_counts[i].name, name, len) == 0)
			break;
	if (i == _ncounts) {
		if (_ncounts == MAX_OPS || len >= sizeof(_counts[i].name))
			bail("too many or too long opcode names");
		memcpy(_counts[i].name, name, len);
		_counts[i].name[len] = '\0';
		_ncounts++;
	}
	_counts[i].n += n;
}

/* NODE_STATUS of rr_host:rr_port, its "ops" added to _counts. */
static int _node(void)
{
	const msgpack_object *map, *ops;
	struct proto_enc e;
	struct rr_reply r;
	struct proto_dec d;
	uint64_t id;
	uint32_t op;
	ebb_err st;
	int fd = rr_connect(), rc = -1;

	if (!rr_hello(fd)) {
		diag("%s:%s: HELLO refused", rr_host, rr_port);
		close(fd);
		return -1;
	}
	proto_enc_request(&e, 2, PROTO_OP_NODE_STATUS, 0);
	if (rr_call(fd, &e, 2, &r) != EBB_OK) {
		diag("%s:%s: NODE_STATUS failed: %s", rr_host, rr_port,
		     r.detail);
		rr_reply_free(&r);
		close(fd);
		return -1;
	}
	proto_dec_reply(&d, r.hdr, r.hlen, &id, &op, &st);
	if (proto_get_obj(&d, &map) && (ops = proto_map_get(map, "ops")) &&
	    ops->type == MSGPACK_OBJECT_MAP) {
		for (uint32_t i = 0; i < ops->via.map.size; i++) {
			const msgpack_object_kv *kv = &ops->via.map.ptr[i];

			if (kv->key.type == MSGPACK_OBJECT_STR &&
			    kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				_add(kv->key.via.str.ptr, kv->key.via.str.size,
				     kv->val.via.u64);
		}
		rc = 0;
	} else {
		diag("%s:%s: NODE_STATUS has no \"ops\" map (an older bbd?)",
		     rr_host, rr_port);
	}
	proto_dec_free(&d);
	rr_reply_free(&r);
	close(fd);
	return rc;
}

int main(void)
{
	const char *nodes = getenv("EBB_NODES");

	if (!nodes || !*nodes) {
		diag("EBB_NODES is not set");
		return 2;
	}
	while (*nodes) {
		size_t n = strcspn(nodes, ",");
		const char *colon = memrchr(nodes, ':', n);

		if (!colon) {
			diag("bad EBB_NODES entry '%.*s'", (int)n, nodes);
			return 2;
		}
		snprintf(rr_host, sizeof(rr_host), "%.*s",
			 (int)(colon - nodes), nodes);
		snprintf(rr_port, sizeof(rr_port), "%.*s",
			 (int)(nodes + n - colon - 1), colon + 1);
		if (_node() != 0)
			return 1;
		nodes += n;
		if (*nodes == ',')
			nodes++;
	}
	for (unsigned i = 0; i < _ncounts; i++)
		printf("%s %llu\n", _counts[i].name,
		       (unsigned long long)_counts[i].n);
	return 0;
}
