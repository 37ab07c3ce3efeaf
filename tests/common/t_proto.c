/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the wire codec (common/proto.c).
 *
 * DESIGN: every opcode's request and reply shape is written once below as a
 * string of type letters, taken from proto_ops.h and docs/protocol.md; a
 * generic encoder fills each shape with values (small, at their limits, and
 * with the nil alternatives) and a generic decoder reads them back with the
 * getters bbd and libebb use and compares.  A new opcode without a shape
 * here fails the coverage check.  The second half feeds the decoder
 * malformed frames, one defect at a time, and checks the error.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "tap.h"

/* Shape letters:
 *  u u64   w u32   i i64   b bool
 *  s instance id   n name   t symlink target   c credential
 *  h host/node/client/version string (<= 255)   o name or nil (READDIR after)
 *  A attr   a attr or nil   S members (array of strings)
 *  M map (status / instance)   L array of instance maps
 *  E readdir entries [[name, attr]...] */
struct shape {
	uint32_t op;
	const char *req;
	const char *res;
};

static const struct shape _shapes[] = {
	{PROTO_OP_HELLO, "wch", "wh"},
	{PROTO_OP_PING, "", ""},
	{PROTO_OP_NODE_STATUS, "", "M"},
	{PROTO_OP_INST_CREATE, "swSuuww", ""},
	{PROTO_OP_INST_DESTROY, "s", ""},
	{PROTO_OP_INST_LIST, "", "L"},
	{PROTO_OP_INST_GET, "s", "M"},
	{PROTO_OP_LOOKUP, "sun", "A"},
	{PROTO_OP_CREATE, "sunww", "Ab"},
	{PROTO_OP_MKDIR, "sunw", "A"},
	{PROTO_OP_SYMLINK, "sunt", "A"},
	{PROTO_OP_UNLINK, "sunuw", "A"},
	{PROTO_OP_RMDIR, "sun", "A"},
	{PROTO_OP_HAS_CHILDREN, "su", "b"},
	{PROTO_OP_READDIR, "suow", "Eb"},
	{PROTO_OP_SETATTR, "sunwwwwuii", "A"},
	{PROTO_OP_SIZE_UPDATE, "sunuuiw", "A"},
	{PROTO_OP_RENAME_LOCAL, "sununw", "Aa"},
	{PROTO_OP_LINK_INSERT, "sunAw", "a"},
	{PROTO_OP_STATFS, "s", "uuu"},
	{PROTO_OP_SETXATTR, "sunw", ""},
	{PROTO_OP_GETXATTR, "sunu", "u"},
	{PROTO_OP_LISTXATTR, "suu", "u"},
	{PROTO_OP_REMOVEXATTR, "sun", ""},
	{PROTO_OP_DIR_TOUCH, "sunui", "A"},
	{PROTO_OP_WRITE, "suu", "u"},
	{PROTO_OP_READ, "suuu", ""},
	{PROTO_OP_TRUNCATE, "suu", ""},
	{PROTO_OP_FSYNC, "su", ""},
	{PROTO_OP_REMOVE, "su", ""},
	{PROTO_OP_INODE_GET, "su", "A"},
	{PROTO_OP_INODE_SETATTR, "suwwwwuii", "A"},
	{PROTO_OP_INODE_SIZE_UPDATE, "suuiw", "A"},
	{PROTO_OP_INODE_ADOPT, "sAw", "A"},
	{PROTO_OP_INODE_LINK, "su", "A"},
	{PROTO_OP_INODE_UNLINK, "su", "Ab"},
	{PROTO_OP_DENT_TO_PTR, "sunu", "Ab"},
	{PROTO_OP_STAGE_START, "sM", "b"},
	{PROTO_OP_STAGE_STATUS, "so", "L"},
	{PROTO_OP_STAGE_RETRY, "sn", ""},
	{PROTO_OP_STAGE_CANCEL, "sn", ""},
	{PROTO_OP_STAGE_WORK, "snM", ""},
	{PROTO_OP_STAGE_POLL, "sn", "M"},
	{PROTO_OP_LOCK, "suuuwuuuuu", "uuu"},
	{PROTO_OP_GETLK, "suuuuuuu", "uuuuu"},
	{PROTO_OP_LOCK_CANCEL, "suuu", "u"},
	{PROTO_OP_LOCK_RENEW, "su", "uu"},
	{PROTO_OP_LOCK_RELEASE, "suuu", "u"}, /* owner may be nil too */
};
#define NSHAPES (sizeof(_shapes) / sizeof(_shapes[0]))

static const uint32_t _all_ops[] = {
#define PROTO_OP(name, num, cls, args, res) num,
#include "proto_ops.h"
#undef PROTO_OP
};
#define NOPS (sizeof(_all_ops) / sizeof(_all_ops[0]))

/* ---- value generation -------------------------------------------------- */

/* Variants: 0 small values, 1 values at their limits, 2 nil alternatives
 * and empty containers. */
enum { V_SMALL, V_LIMIT, V_NIL, V_COUNT };

static uint64_t _u64(int v, unsigned slot)
{
	return v == V_LIMIT ? UINT64_MAX - slot : 1000 + slot;
}

static uint32_t _u32(int v, unsigned slot)
{
	return v == V_LIMIT ? UINT32_MAX - slot : 7 + slot;
}

static int64_t _i64(int v, unsigned slot)
{
	if (v == V_LIMIT)
		return slot % 2 ? INT64_MAX : INT64_MIN;
	return v == V_NIL ? -1 - (int64_t)slot : 1700000000123456789LL + slot;
}

/* A string of len bytes of letters, distinct per slot. */
static char *_str(unsigned len, unsigned slot)
{
	char *s = tap_malloc(len + 1);

	for (unsigned i = 0; i < len; i++)
		s[i] = (char)('a' + (i + slot) % 26);
	s[len] = '\0';
	if (len > 0)
		s[0] = (char)('A' + slot % 26);
	return s;
}

static unsigned _strlen_for(char t, int v)
{
	switch (t) {
	case 's': return v == V_LIMIT ? PROTO_MAX_INST_ID : 8;
	case 'n': case 'o': return v == V_LIMIT ? PROTO_MAX_NAME : 6;
	case 't': return v == V_LIMIT ? PROTO_MAX_TARGET : 12;
	case 'c': return v == V_LIMIT ? PROTO_MAX_CRED : 120;
	case 'h': return v == V_LIMIT ? 255 : 9;
	}
	return 0;
}

static uint32_t _strmax_for(char t)
{
	switch (t) {
	case 's': return PROTO_MAX_INST_ID;
	case 'n': case 'o': return PROTO_MAX_NAME;
	case 't': return PROTO_MAX_TARGET;
	case 'c': return PROTO_MAX_CRED;
	}
	return 255;
}

static void _attr(struct proto_attr *a, int v, unsigned slot, char **keep)
{
	memset(a, 0, sizeof(*a));
	a->ino = _u64(v, slot);
	a->parent = _u64(v, slot + 1);
	a->mode = v == V_LIMIT ? UINT32_MAX : 0100644;
	a->uid = _u32(v, slot + 2);
	a->gid = _u32(v, slot + 3);
	a->nlink = 1;
	a->size = _u64(v, slot + 4);
	a->atime_ns = _i64(v, slot);
	a->mtime_ns = _i64(v, slot + 1);
	a->ctime_ns = _i64(v, slot + 2);
	if (v != V_NIL) {
		*keep = _str(v == V_LIMIT ? PROTO_MAX_TARGET : 5 + slot % 7,
			     slot);
		a->mode = v == V_LIMIT ? UINT32_MAX : 0120777;
		a->target = *keep;
		a->target_len = (uint32_t)strlen(*keep);
	}
}

static int _attr_eq(const struct proto_attr *x, const struct proto_attr *y)
{
	if (x->ino != y->ino || x->parent != y->parent || x->mode != y->mode ||
	    x->uid != y->uid || x->gid != y->gid || x->nlink != y->nlink ||
	    x->size != y->size || x->atime_ns != y->atime_ns ||
	    x->mtime_ns != y->mtime_ns || x->ctime_ns != y->ctime_ns)
		return 0;
	if ((x->target == NULL) != (y->target == NULL))
		return 0;
	if (x->target && (x->target_len != y->target_len ||
			  memcmp(x->target, y->target, x->target_len) != 0))
		return 0;
	return 1;
}

static unsigned _nmembers(int v)
{
	return v == V_LIMIT ? 64 : v == V_NIL ? 1 : 4;
}

static unsigned _nentries(int v)
{
	return v == V_LIMIT ? 100 : v == V_NIL ? 0 : 3;
}

static void _put_map(struct proto_enc *e, int v, unsigned slot)
{
	char *s = _str(_strlen_for('h', v), slot);

	proto_put_map(e, 3);
	proto_put_cstr(e, "node");
	proto_put_cstr(e, s);
	proto_put_cstr(e, "capacity");
	proto_put_u64(e, _u64(v, slot));
	proto_put_cstr(e, "members");
	proto_put_array(e, 2);
	proto_put_cstr(e, "127.0.0.1:1");
	proto_put_cstr(e, "127.0.0.1:2");
	free(s);
}

static int _check_map(const msgpack_object *m, int v, unsigned slot)
{
	char *want = _str(_strlen_for('h', v), slot);
	char buf[300];
	uint64_t cap = 0;
	const msgpack_object *mem = proto_map_get(m, "members");
	int good = proto_map_str(m, "node", buf, sizeof(buf)) &&
		   strcmp(buf, want) == 0 &&
		   proto_map_u64(m, "capacity", &cap) && cap == _u64(v, slot) &&
		   mem && mem->type == MSGPACK_OBJECT_ARRAY &&
		   mem->via.array.size == 2 && !proto_map_get(m, "absent");
	free(want);
	return good;
}

/* Encode one value of type t into e. */
static void _put(struct proto_enc *e, char t, int v, unsigned slot)
{
	struct proto_attr a;
	char *keep = NULL, *s;

	switch (t) {
	case 'u': proto_put_u64(e, _u64(v, slot)); break;
	case 'w': proto_put_u64(e, _u32(v, slot)); break;
	case 'i': proto_put_i64(e, _i64(v, slot)); break;
	case 'b': proto_put_bool(e, v != V_SMALL); break;
	case 's': case 'n': case 't': case 'c': case 'h':
		s = _str(_strlen_for(t, v), slot);
		proto_put_str(e, s, strlen(s));
		free(s);
		break;
	case 'o':
		if (v == V_NIL) {
			proto_put_nil(e);
		} else {
			s = _str(_strlen_for(t, v), slot);
			proto_put_cstr(e, s);
			free(s);
		}
		break;
	case 'A':
		_attr(&a, v, slot, &keep);
		proto_put_attr(e, &a);
		break;
	case 'a':
		if (v == V_NIL) {
			proto_put_nil(e);
		} else {
			_attr(&a, v, slot, &keep);
			proto_put_attr(e, &a);
		}
		break;
	case 'S':
		proto_put_array(e, _nmembers(v));
		for (unsigned i = 0; i < _nmembers(v); i++) {
			s = _str(v == V_LIMIT ? PROTO_MAX_MEMBER_LEN : 15,
				 slot + i);
			proto_put_cstr(e, s);
			free(s);
		}
		break;
	case 'M':
		_put_map(e, v, slot);
		break;
	case 'L':
		proto_put_array(e, v == V_NIL ? 0 : 3);
		for (unsigned i = 0; i < (v == V_NIL ? 0u : 3u); i++)
			_put_map(e, v, slot + i);
		break;
	case 'E':
		proto_put_array(e, _nentries(v));
		for (unsigned i = 0; i < _nentries(v); i++) {
			proto_put_array(e, 2);
			s = _str(v == V_LIMIT ? 200 : 6, slot + i);
			proto_put_cstr(e, s);
			free(s);
			_attr(&a, i % 2 ? V_NIL : v, slot + i, &keep);
			proto_put_attr(e, &a);
			free(keep);
			keep = NULL;
		}
		break;
	default:
		bail("bad shape letter '%c'", t);
	}
	free(keep);
}

/* Decode one value of type t from d and compare; returns 1 if equal. */
static int _get(struct proto_dec *d, char t, int v, unsigned slot)
{
	struct proto_attr a, want;
	char *keep = NULL, *s;
	const char *gs;
	const msgpack_object *items, *o;
	uint32_t len, n, w;
	uint64_t u;
	int64_t i;
	bool b, present;
	int good = 0;

	switch (t) {
	case 'u':
		good = proto_get_u64(d, &u) && u == _u64(v, slot);
		break;
	case 'w':
		good = proto_get_u32(d, &w) && w == _u32(v, slot);
		break;
	case 'i':
		good = proto_get_i64(d, &i) && i == _i64(v, slot);
		break;
	case 'b':
		good = proto_get_bool(d, &b) && b == (v != V_SMALL);
		break;
	case 's': case 'n': case 't': case 'c': case 'h':
		s = _str(_strlen_for(t, v), slot);
		good = proto_get_str(d, &gs, &len, _strmax_for(t)) &&
		       len == strlen(s) && memcmp(gs, s, len) == 0;
		free(s);
		break;
	case 'o':
		if (!proto_get_str_or_nil(d, &gs, &len, _strmax_for(t)))
			break;
		if (v == V_NIL) {
			good = gs == NULL && len == 0;
		} else {
			s = _str(_strlen_for(t, v), slot);
			good = gs && len == strlen(s) &&
			       memcmp(gs, s, len) == 0;
			free(s);
		}
		break;
	case 'A':
		_attr(&want, v, slot, &keep);
		good = proto_get_attr(d, &a) && _attr_eq(&a, &want);
		break;
	case 'a':
		if (!proto_get_attr_or_nil(d, &a, &present))
			break;
		if (v == V_NIL) {
			good = !present;
		} else {
			_attr(&want, v, slot, &keep);
			good = present && _attr_eq(&a, &want);
		}
		break;
	case 'S':
		/* as a handler reads it: the array object, then a cursor */
		if (!proto_get_obj(d, &o) || o->type != MSGPACK_OBJECT_ARRAY ||
		    o->via.array.size != _nmembers(v))
			break;
		{
			struct proto_dec sub;
			proto_dec_sub(&sub, d, o);
			good = 1;
			for (unsigned k = 0; k < _nmembers(v); k++) {
				s = _str(v == V_LIMIT ? PROTO_MAX_MEMBER_LEN : 15,
					 slot + k);
				if (!proto_get_str(&sub, &gs, &len,
						   PROTO_MAX_MEMBER_LEN) ||
				    len != strlen(s) || memcmp(gs, s, len) != 0)
					good = 0;
				free(s);
			}
			if (proto_dec_end(&sub) != EBB_OK)
				good = 0;
			proto_dec_free(&sub);
		}
		break;
	case 'M':
		good = proto_get_obj(d, &o) && _check_map(o, v, slot);
		break;
	case 'L':
		if (!proto_get_array(d, &items, &n, 4096) ||
		    n != (v == V_NIL ? 0u : 3u))
			break;
		good = 1;
		for (unsigned k = 0; k < n; k++)
			good &= _check_map(&items[k], v, slot + k);
		break;
	case 'E':
		if (!proto_get_array(d, &items, &n, PROTO_MAX_READDIR) ||
		    n != _nentries(v))
			break;
		good = 1;
		for (unsigned k = 0; k < n; k++) {
			struct proto_dec sub;
			proto_dec_sub(&sub, d, &items[k]);
			s = _str(v == V_LIMIT ? 200 : 6, slot + k);
			_attr(&want, k % 2 ? V_NIL : v, slot + k, &keep);
			if (!proto_get_str(&sub, &gs, &len, PROTO_MAX_NAME) ||
			    len != strlen(s) || memcmp(gs, s, len) != 0 ||
			    !proto_get_attr(&sub, &a) || !_attr_eq(&a, &want) ||
			    proto_dec_end(&sub) != EBB_OK)
				good = 0;
			proto_dec_free(&sub);
			free(s);
			free(keep);
			keep = NULL;
		}
		break;
	default:
		bail("bad shape letter '%c'", t);
	}
	free(keep);
	return good;
}

static const char *_vname(int v)
{
	return v == V_SMALL ? "small" : v == V_LIMIT ? "limits" : "nil/empty";
}

static void test_roundtrip(const struct shape *sh, int v)
{
	const char *name = proto_op_name(sh->op);
	struct proto_enc e;
	struct proto_dec d;
	uint64_t msgid = v == V_LIMIT ? UINT64_MAX : 42 + sh->op, gid;
	uint32_t op = 0;
	ebb_err st = EBB_E_MAX, rc;
	unsigned k;
	int good;

	/* request */
	proto_enc_request(&e, msgid, sh->op, (unsigned)strlen(sh->req));
	for (k = 0; sh->req[k]; k++)
		_put(&e, sh->req[k], v, k);
	ok(e.sb.size <= PROTO_MAX_HEADER, "%s request (%s) fits a header: "
	   "%zu bytes", name, _vname(v), e.sb.size);
	rc = proto_dec_request(&d, e.sb.data, e.sb.size, &gid, &op);
	good = rc == EBB_OK && gid == msgid && op == sh->op;
	for (k = 0; good && sh->req[k]; k++)
		if (!_get(&d, sh->req[k], v, k)) {
			diag("argument %u ('%c') differs: %s", k, sh->req[k],
			     d.detail);
			good = 0;
		}
	if (good && proto_dec_end(&d) != EBB_OK) {
		diag("dec_end: %s", d.detail);
		good = 0;
	}
	ok(good, "%s request round trip (%s)", name, _vname(v));
	proto_dec_free(&d);
	proto_enc_free(&e);

	/* reply */
	proto_enc_reply(&e, msgid, sh->op, EBB_OK, (unsigned)strlen(sh->res));
	for (k = 0; sh->res[k]; k++)
		_put(&e, sh->res[k], v, 100 + k);
	rc = proto_dec_reply(&d, e.sb.data, e.sb.size, &gid, &op, &st);
	good = rc == EBB_OK && gid == msgid && op == sh->op && st == EBB_OK;
	for (k = 0; good && sh->res[k]; k++)
		if (!_get(&d, sh->res[k], v, 100 + k)) {
			diag("result %u ('%c') differs: %s", k, sh->res[k],
			     d.detail);
			good = 0;
		}
	if (good && proto_dec_end(&d) != EBB_OK) {
		diag("dec_end: %s", d.detail);
		good = 0;
	}
	ok(good, "%s reply round trip (%s)", name, _vname(v));
	proto_dec_free(&d);
	proto_enc_free(&e);
}

static void test_error_reply(void)
{
	struct proto_enc e;
	struct proto_dec d;
	uint64_t id = 0;
	uint32_t op = 0, len = 0;
	ebb_err st = EBB_OK;
	const char *s = NULL;

	proto_enc_reply(&e, 9, PROTO_OP_LOOKUP, EBB_E_NOINST, 1);
	proto_put_cstr(&e, "no instance 'x'");
	ok(proto_dec_reply(&d, e.sb.data, e.sb.size, &id, &op, &st) == EBB_OK &&
	   id == 9 && op == PROTO_OP_LOOKUP && st == EBB_E_NOINST,
	   "error reply: msgid, op and status");
	ok(proto_get_str(&d, &s, &len, 1024) && len == 15 &&
	   memcmp(s, "no instance 'x'", 15) == 0 &&
	   proto_dec_end(&d) == EBB_OK, "error reply: detail string");
	proto_dec_free(&d);
	proto_enc_free(&e);

	/* the connection-level error reply: msgid 0, op 0 */
	proto_enc_reply(&e, 0, 0, EBB_E_TOOBIG, 1);
	proto_put_cstr(&e, "");
	ok(proto_dec_reply(&d, e.sb.data, e.sb.size, &id, &op, &st) == EBB_OK &&
	   id == 0 && op == 0 && st == EBB_E_TOOBIG &&
	   proto_get_str(&d, &s, &len, 1024) && len == 0 &&
	   proto_dec_end(&d) == EBB_OK, "connection error reply [0, 0x8000, "
	   "E_TOOBIG, \"\"]");
	proto_dec_free(&d);
	proto_enc_free(&e);
}

static void test_op_table(void)
{
	enum proto_op_class cls;
	unsigned missing = 0, bad = 0;

	for (size_t i = 0; i < NOPS; i++) {
		size_t k;
		for (k = 0; k < NSHAPES && _shapes[k].op != _all_ops[i]; k++)
			;
		if (k == NSHAPES) {
			diag("opcode %u has no shape in t_proto.c", _all_ops[i]);
			missing++;
		}
		if (!proto_op_name(_all_ops[i]) ||
		    !proto_op_class(_all_ops[i], &cls))
			bad++;
		for (size_t j = 0; j < i; j++)
			if (_all_ops[j] == _all_ops[i])
				bad++;
		if (_all_ops[i] & PROTO_REPLY)
			bad++;
	}
	is_int(missing, 0, "every opcode of proto_ops.h has a tested shape");
	is_int(bad, 0, "every opcode has a name and a class, is unique and "
	       "below the reply bit");
	is_str(proto_op_name(PROTO_OP_HELLO), "HELLO", "name of HELLO");
	is_str(proto_op_name(PROTO_OP_RENAME_LOCAL), "RENAME_LOCAL",
	       "name of RENAME_LOCAL");
	ok(proto_op_name(0) == NULL && proto_op_name(9) == NULL &&
	   proto_op_name(999) == NULL && proto_op_name(PROTO_REPLY | 1) == NULL,
	   "unknown opcodes have no name");
	ok(!proto_op_class(0, &cls) && !proto_op_class(UINT32_MAX, &cls),
	   "unknown opcodes have no class");
	ok(proto_op_class(PROTO_OP_HELLO, &cls) && cls == PROTO_CLASS_AUTH,
	   "HELLO is AUTH");
	ok(proto_op_class(PROTO_OP_INST_CREATE, &cls) &&
	   cls == PROTO_CLASS_ADMIN, "INST_CREATE is ADMIN");
	ok(proto_op_class(PROTO_OP_INST_LIST, &cls) && cls == PROTO_CLASS_NODE,
	   "INST_LIST is NODE");
	ok(proto_op_class(PROTO_OP_LOOKUP, &cls) && cls == PROTO_CLASS_META,
	   "LOOKUP is META");
	ok(proto_op_class(PROTO_OP_WRITE, &cls) && cls == PROTO_CLASS_DATA,
	   "WRITE is DATA");
}

/* ---- attributes ---------------------------------------------------------- */

static void test_attr(void)
{
	static const char target[] = "../some/where/else";
	struct proto_attr a = {
		.ino = (3ULL << PROTO_INO_RANK_SHIFT) | 77, .parent = 1,
		.mode = 0120777, .uid = 1000, .gid = 100, .nlink = 1,
		.size = sizeof(target) - 1, .atime_ns = -5,
		.mtime_ns = 1, .ctime_ns = INT64_MAX, .target = target,
		.target_len = sizeof(target) - 1,
	}, b, c;
	struct proto_enc e;
	struct proto_dec d;
	uint64_t id;
	uint32_t op;
	bool present = true;

	proto_enc_request(&e, 1, PROTO_OP_LINK_INSERT, 3);
	proto_put_attr(&e, &a);
	a.target = NULL;
	a.target_len = 0;
	a.mode = 040755;
	proto_put_attr(&e, &a);
	proto_put_nil(&e);
	a.target = target;
	a.target_len = sizeof(target) - 1;
	a.mode = 0120777;
	ok(proto_dec_request(&d, e.sb.data, e.sb.size, &id, &op) == EBB_OK,
	   "attr frame decodes");
	ok(proto_get_attr(&d, &b) && _attr_eq(&a, &b) && b.target &&
	   b.target_len == sizeof(target) - 1 &&
	   memcmp(b.target, target, b.target_len) == 0,
	   "symlink attr with target round trip");
	ok(proto_get_attr_or_nil(&d, &c, &present) && present &&
	   c.target == NULL && c.target_len == 0 && c.mode == 040755,
	   "directory attr (nil target) round trip via attr_or_nil");
	ok(proto_get_attr_or_nil(&d, &c, &present) && !present,
	   "nil attr reads as absent");
	is_int(proto_dec_end(&d), EBB_OK, "all consumed");
	proto_dec_free(&d);
	proto_enc_free(&e);
}

/* ---- prefixes --------------------------------------------------------- */

static ebb_err _prefix(uint32_t h, uint32_t p, uint32_t *gh, uint32_t *gp)
{
	uint8_t pre[PROTO_PREFIX_LEN];

	proto_prefix_write(pre, h, p);
	return proto_prefix_parse(pre, gh, gp);
}

static void test_prefix(void)
{
	uint8_t pre[PROTO_PREFIX_LEN];
	uint32_t h = 0, p = 0;

	proto_prefix_write(pre, 0x01020304, 0x00a0b0c0);
	ok(pre[0] == 1 && pre[1] == 2 && pre[2] == 3 && pre[3] == 4 &&
	   pre[4] == 0 && pre[5] == 0xa0 && pre[6] == 0xb0 && pre[7] == 0xc0,
	   "prefix is two big-endian u32");
	ok(_prefix(1, 0, &h, &p) == EBB_OK && h == 1 && p == 0,
	   "smallest frame: H=1, P=0");
	ok(_prefix(PROTO_MAX_HEADER, PROTO_MAX_PAYLOAD, &h, &p) == EBB_OK &&
	   h == PROTO_MAX_HEADER && p == PROTO_MAX_PAYLOAD,
	   "H and P exactly at their limits are accepted");
	is_int(_prefix(0, 0, &h, &p), EBB_E_PROTO, "H=0 -> E_PROTO");
	is_int(_prefix(0, 100, &h, &p), EBB_E_PROTO, "H=0 with a payload -> E_PROTO");
	is_int(_prefix(PROTO_MAX_HEADER + 1, 0, &h, &p), EBB_E_TOOBIG,
	       "H = 64 KiB + 1 -> E_TOOBIG");
	is_int(_prefix(10, PROTO_MAX_PAYLOAD + 1, &h, &p), EBB_E_TOOBIG,
	       "P = 16 MiB + 1 -> E_TOOBIG");
	is_int(_prefix(UINT32_MAX, UINT32_MAX, &h, &p), EBB_E_TOOBIG,
	       "H = P = 2^32-1 -> E_TOOBIG");
	is_int(_prefix(UINT32_MAX, 0, &h, &p), EBB_E_TOOBIG,
	       "H = 2^32-1 -> E_TOOBIG");
	is_int(_prefix(0x80000000u, 0, &h, &p), EBB_E_TOOBIG,
	       "H with the top bit set (not read as negative) -> E_TOOBIG");
}

/* ---- malformed headers ---------------------------------------------------- */

/* Raw msgpack helpers for frames the encoder would never produce. */
static void _raw(msgpack_sbuffer *sb, msgpack_packer *pk)
{
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
}

static ebb_err _dec_req_raw(const void *buf, size_t len, char *detail,
			    size_t dlen)
{
	struct proto_dec d;
	uint64_t id;
	uint32_t op;
	ebb_err rc = proto_dec_request(&d, buf, len, &id, &op);

	if (detail)
		snprintf(detail, dlen, "%s", d.detail);
	proto_dec_free(&d);
	return rc;
}

static void test_malformed_headers(void)
{
	struct proto_enc e;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct proto_dec d;
	char detail[128], *buf;
	uint64_t id;
	uint32_t op;
	ebb_err st;
	size_t cut, bad = 0;

	/* a valid LOOKUP to mutilate */
	proto_enc_request(&e, 7, PROTO_OP_LOOKUP, 3);
	proto_put_cstr(&e, "job1");
	proto_put_u64(&e, 1);
	proto_put_cstr(&e, "file");
	is_int(_dec_req_raw(e.sb.data, e.sb.size, NULL, 0), EBB_OK,
	       "the reference frame decodes");
	for (cut = 0; cut < e.sb.size; cut++)
		if (_dec_req_raw(e.sb.data, cut, NULL, 0) != EBB_E_PROTO) {
			diag("truncated to %zu of %zu bytes: not E_PROTO", cut,
			     e.sb.size);
			bad++;
		}
	is_int(bad, 0, "every truncation of a frame (0..%zu bytes) -> E_PROTO",
	       e.sb.size - 1);

	buf = tap_malloc(e.sb.size + 3);
	memcpy(buf, e.sb.data, e.sb.size);
	buf[e.sb.size] = (char)0xc0;  /* nil */
	buf[e.sb.size + 1] = 1;
	buf[e.sb.size + 2] = 2;
	is_int(_dec_req_raw(buf, e.sb.size + 3, detail, sizeof(detail)),
	       EBB_E_PROTO, "3 trailing bytes -> E_PROTO");
	ok(strstr(detail, "trailing") != NULL, "detail says trailing bytes: '%s'",
	   detail);
	is_int(_dec_req_raw(buf, e.sb.size + 1, NULL, 0), EBB_E_PROTO,
	       "a second msgpack object after the header -> E_PROTO");
	free(buf);
	proto_enc_free(&e);

	/* not an array */
	_raw(&sb, &pk);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_uint64(&pk, 2);
	is_int(_dec_req_raw(sb.data, sb.size, detail, sizeof(detail)),
	       EBB_E_PROTO, "a map header -> E_PROTO");
	ok(detail[0] != '\0', "with a detail: '%s'", detail);
	msgpack_sbuffer_destroy(&sb);

	_raw(&sb, &pk);
	msgpack_pack_uint64(&pk, 12);
	is_int(_dec_req_raw(sb.data, sb.size, NULL, 0), EBB_E_PROTO,
	       "an integer header -> E_PROTO");
	msgpack_sbuffer_destroy(&sb);

	_raw(&sb, &pk);
	msgpack_pack_str(&pk, 5);
	msgpack_pack_str_body(&pk, "hello", 5);
	is_int(_dec_req_raw(sb.data, sb.size, NULL, 0), EBB_E_PROTO,
	       "a string header -> E_PROTO");
	msgpack_sbuffer_destroy(&sb);

	/* arrays too short */
	_raw(&sb, &pk);
	msgpack_pack_array(&pk, 0);
	is_int(_dec_req_raw(sb.data, sb.size, NULL, 0), EBB_E_PROTO,
	       "an empty array -> E_PROTO");
	msgpack_sbuffer_destroy(&sb);
	_raw(&sb, &pk);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_uint64(&pk, 1);
	is_int(_dec_req_raw(sb.data, sb.size, NULL, 0), EBB_E_PROTO,
	       "[msgid] without an opcode -> E_PROTO");
	msgpack_sbuffer_destroy(&sb);

	/* msgid and opcode types */
	_raw(&sb, &pk);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int64(&pk, -1);
	msgpack_pack_uint32(&pk, PROTO_OP_PING);
	is_int(_dec_req_raw(sb.data, sb.size, NULL, 0), EBB_E_PROTO,
	       "negative msgid -> E_PROTO");
	msgpack_sbuffer_destroy(&sb);
	_raw(&sb, &pk);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_str(&pk, 1);
	msgpack_pack_str_body(&pk, "1", 1);
	msgpack_pack_uint32(&pk, PROTO_OP_PING);
	is_int(_dec_req_raw(sb.data, sb.size, NULL, 0), EBB_E_PROTO,
	       "string msgid -> E_PROTO");
	msgpack_sbuffer_destroy(&sb);
	_raw(&sb, &pk);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_uint64(&pk, 1ULL << 32);
	is_int(_dec_req_raw(sb.data, sb.size, NULL, 0), EBB_E_PROTO,
	       "opcode over 32 bits -> E_PROTO");
	msgpack_sbuffer_destroy(&sb);
	_raw(&sb, &pk);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_double(&pk, 2.0);
	is_int(_dec_req_raw(sb.data, sb.size, NULL, 0), EBB_E_PROTO,
	       "float opcode -> E_PROTO");
	msgpack_sbuffer_destroy(&sb);

	/* a header claiming 2^32-1 elements in 5 bytes: no huge allocation
	 * may make it through (msgpack sizes arrays before reading them) */
	{
		static const unsigned char huge[] = {0xdd, 0xff, 0xff, 0xff,
						     0xff};
		static const unsigned char huge_str[] = {0xdb, 0xff, 0xff,
							 0xff, 0xff, 'a'};
		is_int(_dec_req_raw(huge, sizeof(huge), NULL, 0), EBB_E_PROTO,
		       "array32 header claiming 2^32-1 items -> E_PROTO");
		is_int(_dec_req_raw(huge_str, sizeof(huge_str), NULL, 0),
		       EBB_E_PROTO, "str32 claiming 4 GiB with 1 byte -> E_PROTO");
	}

	/* replies */
	_raw(&sb, &pk);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_uint32(&pk, PROTO_OP_PING);  /* no reply bit */
	msgpack_pack_uint32(&pk, 0);
	ok(proto_dec_reply(&d, sb.data, sb.size, &id, &op, &st) == EBB_E_PROTO,
	   "a reply without the reply bit -> E_PROTO");
	proto_dec_free(&d);
	msgpack_sbuffer_destroy(&sb);
	_raw(&sb, &pk);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_uint32(&pk, PROTO_OP_PING | PROTO_REPLY);
	ok(proto_dec_reply(&d, sb.data, sb.size, &id, &op, &st) == EBB_E_PROTO,
	   "a reply without a status -> E_PROTO");
	proto_dec_free(&d);
	msgpack_sbuffer_destroy(&sb);
	_raw(&sb, &pk);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_uint32(&pk, PROTO_OP_PING | PROTO_REPLY);
	msgpack_pack_int64(&pk, -2);
	ok(proto_dec_reply(&d, sb.data, sb.size, &id, &op, &st) == EBB_E_PROTO,
	   "a negative status -> E_PROTO");
	proto_dec_free(&d);
	msgpack_sbuffer_destroy(&sb);
}

/* ---- argument errors ------------------------------------------------------- */

/* Build [1, LOOKUP, <obj>] with one argument packed by fn, decode it, and
 * return the decoder (caller frees with proto_dec_free). */
typedef void (*pack_fn)(msgpack_packer *pk);

static ebb_err _dec_arg(struct proto_dec *d, msgpack_sbuffer *sb, pack_fn fn,
			unsigned nargs)
{
	msgpack_packer pk;
	uint64_t id;
	uint32_t op;

	_raw(sb, &pk);
	msgpack_pack_array(&pk, 2 + nargs);
	msgpack_pack_uint64(&pk, 1);
	msgpack_pack_uint32(&pk, PROTO_OP_LOOKUP);
	fn(&pk);
	return proto_dec_request(d, sb->data, sb->size, &id, &op);
}

static void _p_str(msgpack_packer *pk) { msgpack_pack_str(pk, 3); msgpack_pack_str_body(pk, "abc", 3); }
static void _p_nul(msgpack_packer *pk) { msgpack_pack_str(pk, 3); msgpack_pack_str_body(pk, "a\0c", 3); }
static void _p_neg(msgpack_packer *pk) { msgpack_pack_int64(pk, -5); }
static void _p_big(msgpack_packer *pk) { msgpack_pack_uint64(pk, UINT64_MAX); }
static void _p_u33(msgpack_packer *pk) { msgpack_pack_uint64(pk, 1ULL << 32); }
static void _p_nil(msgpack_packer *pk) { msgpack_pack_nil(pk); }
static void _p_bin(msgpack_packer *pk) { msgpack_pack_bin(pk, 3); msgpack_pack_bin_body(pk, "abc", 3); }
static void _p_true(msgpack_packer *pk) { msgpack_pack_true(pk); }
static void _p_arr(msgpack_packer *pk) { msgpack_pack_array(pk, 5); for (int i = 0; i < 5; i++) msgpack_pack_uint64(pk, (uint64_t)i); }
static void _p_name256(msgpack_packer *pk)
{
	char s[256];
	memset(s, 'x', sizeof(s));
	msgpack_pack_str(pk, sizeof(s));
	msgpack_pack_str_body(pk, s, sizeof(s));
}
static void _p_name255(msgpack_packer *pk)
{
	char s[255];
	memset(s, 'x', sizeof(s));
	msgpack_pack_str(pk, sizeof(s));
	msgpack_pack_str_body(pk, s, sizeof(s));
}
static void _p_two(msgpack_packer *pk) { msgpack_pack_uint64(pk, 1); msgpack_pack_uint64(pk, 2); }

/* Attributes with one field wrong. */
static void _pack_attr_fields(msgpack_packer *pk, unsigned n, int wrong)
{
	msgpack_pack_array(pk, n);
	for (unsigned i = 0; i < n; i++) {
		if ((int)i == wrong)
			msgpack_pack_str(pk, 1), msgpack_pack_str_body(pk, "x", 1);
		else if (i == 10)
			msgpack_pack_nil(pk);
		else
			msgpack_pack_uint64(pk, i + 1);
	}
}
static void _p_attr10(msgpack_packer *pk) { _pack_attr_fields(pk, 10, -1); }
static void _p_attr12(msgpack_packer *pk) { _pack_attr_fields(pk, 12, -1); }
static void _p_attr11(msgpack_packer *pk) { _pack_attr_fields(pk, 11, -1); }
static void _p_attr_badino(msgpack_packer *pk) { _pack_attr_fields(pk, 11, 0); }
static void _p_attr_badmode(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 11);
	msgpack_pack_uint64(pk, 5);
	msgpack_pack_uint64(pk, 1);
	msgpack_pack_uint64(pk, 1ULL << 33);  /* mode over 32 bits */
	for (int i = 0; i < 7; i++)
		msgpack_pack_uint64(pk, 1);
	msgpack_pack_nil(pk);
}
static void _p_attr_nultarget(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 11);
	for (int i = 0; i < 10; i++)
		msgpack_pack_uint64(pk, 1);
	msgpack_pack_str(pk, 3);
	msgpack_pack_str_body(pk, "a\0b", 3);
}
static void _p_attr_longtarget(msgpack_packer *pk)
{
	static char t[PROTO_MAX_TARGET + 1];
	memset(t, 't', sizeof(t));
	msgpack_pack_array(pk, 11);
	for (int i = 0; i < 10; i++)
		msgpack_pack_uint64(pk, 1);
	msgpack_pack_str(pk, sizeof(t));
	msgpack_pack_str_body(pk, t, sizeof(t));
}

static void test_bad_args(void)
{
	struct proto_dec d;
	msgpack_sbuffer sb;
	const char *s;
	uint32_t len, w;
	uint64_t u;
	int64_t i;
	bool b;
	struct proto_attr a;
	const msgpack_object *items;
	uint32_t n;

#define CASE(fn, nargs, expr, desc)                                         \
	do {                                                                \
		ebb_err _rc = _dec_arg(&d, &sb, fn, nargs);                 \
		ok(_rc == EBB_OK && (expr), "%s", desc);                    \
		proto_dec_free(&d);                                         \
		msgpack_sbuffer_destroy(&sb);                               \
	} while (0)

	CASE(_p_str, 1, !proto_get_u64(&d, &u) && d.err == EBB_E_PROTO,
	     "string where u64 expected -> E_PROTO");
	CASE(_p_neg, 1, !proto_get_u64(&d, &u) && d.err == EBB_E_PROTO,
	     "negative where u64 expected -> E_PROTO");
	CASE(_p_nil, 1, !proto_get_u64(&d, &u) && d.err == EBB_E_PROTO,
	     "nil where u64 expected -> E_PROTO");
	CASE(_p_u33, 1, !proto_get_u32(&d, &w) && d.err == EBB_E_PROTO,
	     "2^32 where u32 expected -> E_PROTO");
	CASE(_p_big, 1, !proto_get_i64(&d, &i) && d.err == EBB_E_PROTO,
	     "2^64-1 where i64 expected -> E_PROTO");
	CASE(_p_neg, 1, proto_get_i64(&d, &i) && i == -5 &&
	     proto_dec_end(&d) == EBB_OK, "negative i64 accepted");
	CASE(_p_true, 1, !proto_get_u64(&d, &u) && d.err == EBB_E_PROTO,
	     "bool where u64 expected -> E_PROTO");
	CASE(_p_big, 1, !proto_get_bool(&d, &b) && d.err == EBB_E_PROTO,
	     "integer where bool expected -> E_PROTO");
	CASE(_p_big, 1, !proto_get_str(&d, &s, &len, 100) &&
	     d.err == EBB_E_PROTO, "integer where string expected -> E_PROTO");
	CASE(_p_bin, 1, !proto_get_str(&d, &s, &len, 100) &&
	     d.err == EBB_E_PROTO, "bin where string expected -> E_PROTO");
	CASE(_p_nil, 1, !proto_get_str(&d, &s, &len, 100) &&
	     d.err == EBB_E_PROTO, "nil where a (non-nil) string expected -> E_PROTO");
	CASE(_p_nul, 1, !proto_get_str(&d, &s, &len, 100) &&
	     d.err == EBB_E_PROTO && strstr(d.detail, "NUL"),
	     "string with a NUL inside -> E_PROTO, detail names NUL");
	CASE(_p_nul, 1, !proto_get_str_or_nil(&d, &s, &len, 100) &&
	     d.err == EBB_E_PROTO, "string-or-nil with a NUL -> E_PROTO");
	CASE(_p_name256, 1, !proto_get_str(&d, &s, &len, PROTO_MAX_NAME) &&
	     d.err == EBB_E_PROTO, "256-byte name over PROTO_MAX_NAME -> E_PROTO");
	CASE(_p_name255, 1, proto_get_str(&d, &s, &len, PROTO_MAX_NAME) &&
	     len == 255 && proto_dec_end(&d) == EBB_OK,
	     "255-byte name accepted");
	CASE(_p_arr, 1, !proto_get_array(&d, &items, &n, 4) &&
	     d.err == EBB_E_PROTO, "array of 5 over a max of 4 -> E_PROTO");
	CASE(_p_str, 1, !proto_get_array(&d, &items, &n, 4) &&
	     d.err == EBB_E_PROTO, "string where array expected -> E_PROTO");
	CASE(_p_attr11, 1, proto_get_attr(&d, &a) && a.ino == 1 &&
	     a.ctime_ns == 10 && a.target == NULL && proto_dec_end(&d) == EBB_OK,
	     "a well-formed raw attr is accepted");
	CASE(_p_attr10, 1, !proto_get_attr(&d, &a) && d.err == EBB_E_PROTO,
	     "attr of 10 fields -> E_PROTO");
	CASE(_p_attr12, 1, !proto_get_attr(&d, &a) && d.err == EBB_E_PROTO,
	     "attr of 12 fields -> E_PROTO");
	CASE(_p_attr_badino, 1, !proto_get_attr(&d, &a) && d.err == EBB_E_PROTO,
	     "attr with a string inode -> E_PROTO");
	CASE(_p_attr_badmode, 1, !proto_get_attr(&d, &a) &&
	     d.err == EBB_E_PROTO, "attr with a 33-bit mode -> E_PROTO");
	CASE(_p_attr_nultarget, 1, !proto_get_attr(&d, &a) &&
	     d.err == EBB_E_PROTO, "attr with a NUL in the target -> E_PROTO");
	CASE(_p_attr_longtarget, 1, !proto_get_attr(&d, &a) &&
	     d.err == EBB_E_PROTO, "attr with a 4096-byte target -> E_PROTO");
	CASE(_p_str, 1, !proto_get_attr(&d, &a) && d.err == EBB_E_PROTO,
	     "string where attr expected -> E_PROTO");
	CASE(_p_str, 1, !proto_get_attr_or_nil(&d, &a, &b) &&
	     d.err == EBB_E_PROTO, "string where attr-or-nil expected -> E_PROTO");

	/* missing, extra, sticky */
	CASE(_p_str, 1, proto_get_str(&d, &s, &len, 10) &&
	     !proto_get_u64(&d, &u) && d.err == EBB_E_PROTO &&
	     strstr(d.detail, "missing"), "a missing argument -> E_PROTO 'missing'");
	CASE(_p_two, 2, proto_get_u64(&d, &u) &&
	     proto_dec_end(&d) == EBB_E_PROTO, "an extra argument -> "
	     "proto_dec_end() says E_PROTO");
	CASE(_p_two, 2, !proto_get_str(&d, &s, &len, 10) &&
	     !proto_get_u64(&d, &u) && proto_dec_end(&d) == EBB_E_PROTO,
	     "the first error is sticky: a later good getter still fails");
	{
		/* the detail names the first bad argument, not a later one */
		ebb_err rc = _dec_arg(&d, &sb, _p_two, 2);
		char first[sizeof(d.detail)];
		proto_get_str(&d, &s, &len, 10);
		snprintf(first, sizeof(first), "%s", d.detail);
		proto_get_bool(&d, &b);
		ok(rc == EBB_OK && strcmp(first, d.detail) == 0 &&
		   first[0] != '\0', "the detail stays the first error's: '%s'",
		   first);
		proto_dec_free(&d);
		msgpack_sbuffer_destroy(&sb);
	}
#undef CASE
}

static void test_dec_sub(void)
{
	struct proto_dec d, sub;
	msgpack_object o = {.type = MSGPACK_OBJECT_NIL};
	uint64_t u;

	memset(&d, 0, sizeof(d));
	proto_dec_sub(&sub, &d, &o);
	ok(sub.err == EBB_E_PROTO && !proto_get_u64(&sub, &u),
	   "a sub-cursor over a non-array is in error");
	proto_dec_free(&sub);
	proto_dec_sub(&sub, &d, NULL);
	ok(sub.err == EBB_E_PROTO, "a sub-cursor over NULL is in error");
	proto_dec_free(&sub);
}

static void test_maps(void)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked up;
	char buf[8];
	uint64_t u = 0;
	const msgpack_object *m;

	_raw(&sb, &pk);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str(&pk, 4);
	msgpack_pack_str_body(&pk, "used", 4);
	msgpack_pack_uint64(&pk, 77);
	msgpack_pack_str(&pk, 5);
	msgpack_pack_str_body(&pk, "state", 5);
	msgpack_pack_str(&pk, 6);
	msgpack_pack_str_body(&pk, "active", 6);
	msgpack_pack_str(&pk, 2);
	msgpack_pack_str_body(&pk, "id", 2);
	msgpack_pack_str(&pk, 10);
	msgpack_pack_str_body(&pk, "0123456789", 10);
	msgpack_unpacked_init(&up);
	ok(msgpack_unpack_next(&up, sb.data, sb.size, NULL) ==
	   MSGPACK_UNPACK_SUCCESS, "map unpacks");
	m = &up.data;
	ok(proto_map_u64(m, "used", &u) && u == 77, "map_u64 finds 'used'");
	ok(!proto_map_u64(m, "state", &u), "map_u64 refuses a string value");
	ok(!proto_map_u64(m, "use", &u) && !proto_map_u64(m, "usedx", &u),
	   "map keys match exactly (no prefixes)");
	ok(proto_map_str(m, "state", buf, sizeof(buf)) &&
	   strcmp(buf, "active") == 0, "map_str copies 'active'");
	ok(!proto_map_str(m, "id", buf, sizeof(buf)),
	   "map_str refuses a value that does not fit the buffer");
	ok(proto_map_get(&m->via.map.ptr[0].val, "x") == NULL,
	   "map_get on a non-map is NULL");
	ok(proto_map_get(NULL, "x") == NULL, "map_get on NULL is NULL");
	msgpack_unpacked_destroy(&up);
	msgpack_sbuffer_destroy(&sb);
}

/* ---- names and instance ids ----------------------------------------------- */

static void test_names(void)
{
	char s[300];

	memset(s, 'n', sizeof(s));
	is_int(proto_check_name("file", 4), EBB_OK, "name 'file'");
	is_int(proto_check_name("...", 3), EBB_OK, "name '...'");
	is_int(proto_check_name(".hidden", 7), EBB_OK, "name '.hidden'");
	is_int(proto_check_name("sp ace\tand\xc3\xa9", 12), EBB_OK,
	       "name with spaces, tabs and UTF-8");
	is_int(proto_check_name(s, 255), EBB_OK, "255-byte name");
	is_int(proto_check_name(s, 256), EBB_ENAMETOOLONG,
	       "256-byte name -> ENAMETOOLONG");
	is_int(proto_check_name(s, 300), EBB_ENAMETOOLONG,
	       "300-byte name -> ENAMETOOLONG");
	is_int(proto_check_name("", 0), EBB_EINVAL, "empty name -> EINVAL");
	is_int(proto_check_name(".", 1), EBB_EINVAL, "'.' -> EINVAL");
	is_int(proto_check_name("..", 2), EBB_EINVAL, "'..' -> EINVAL");
	is_int(proto_check_name("a/b", 3), EBB_EINVAL, "'a/b' -> EINVAL");
	is_int(proto_check_name("/", 1), EBB_EINVAL, "'/' -> EINVAL");
	is_int(proto_check_name("a\0b", 3), EBB_EINVAL, "NUL inside -> EINVAL");
	is_int(proto_check_name("ab\0", 3), EBB_EINVAL,
	       "NUL at the end (len counts it) -> EINVAL");

	is_int(proto_check_inst_id("12345", 5), EBB_OK, "instance id '12345'");
	is_int(proto_check_inst_id("job_1.a-B", 9), EBB_OK,
	       "instance id 'job_1.a-B'");
	is_int(proto_check_inst_id(s, 64), EBB_OK, "64-char instance id");
	is_int(proto_check_inst_id(s, 65), EBB_EINVAL, "65-char instance id -> EINVAL");
	is_int(proto_check_inst_id("", 0), EBB_EINVAL, "empty instance id -> EINVAL");
	is_int(proto_check_inst_id(".x", 2), EBB_EINVAL,
	       "instance id starting with '.' -> EINVAL");
	is_int(proto_check_inst_id("..", 2), EBB_EINVAL, "instance id '..' -> EINVAL");
	is_int(proto_check_inst_id("a/b", 3), EBB_EINVAL, "'a/b' -> EINVAL");
	is_int(proto_check_inst_id("a b", 3), EBB_EINVAL, "'a b' -> EINVAL");
	is_int(proto_check_inst_id("a\0b", 3), EBB_EINVAL, "NUL inside -> EINVAL");
	is_int(proto_check_inst_id("j\xc3\xa9", 3), EBB_EINVAL,
	       "non-ASCII -> EINVAL");
	is_int(proto_check_inst_id("a:b", 3), EBB_EINVAL, "'a:b' -> EINVAL");
	is_int(proto_check_inst_id("-a", 2), EBB_OK, "'-a' (only '.' is "
	       "refused first)");
}

int main(void)
{
	plan_lazy();
	test_op_table();
	for (size_t k = 0; k < NSHAPES; k++)
		for (int v = 0; v < V_COUNT; v++)
			test_roundtrip(&_shapes[k], v);
	test_error_reply();
	test_attr();
	test_prefix();
	test_malformed_headers();
	test_bad_args();
	test_dec_sub();
	test_maps();
	test_names();
	return tap_exit();
}
