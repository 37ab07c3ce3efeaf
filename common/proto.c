/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The wire codec: frame prefixes, msgpack encoding and a checked decoder. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "proto.h"

struct op_info {
	uint32_t num;
	const char *name;
	enum proto_op_class cls;
};

static const struct op_info _ops[] = {
#define PROTO_OP(name, num, cls, args, res) {num, #name, PROTO_CLASS_##cls},
#include "proto_ops.h"
#undef PROTO_OP
};

static const struct op_info *_op_find(uint32_t op)
{
	for (size_t i = 0; i < sizeof(_ops) / sizeof(_ops[0]); i++)
		if (_ops[i].num == op)
			return &_ops[i];
	return NULL;
}

const char *proto_op_name(uint32_t op)
{
	const struct op_info *o = _op_find(op);
	return o ? o->name : NULL;
}

bool proto_op_class(uint32_t op, enum proto_op_class *cls)
{
	const struct op_info *o = _op_find(op);
	if (!o)
		return false;
	*cls = o->cls;
	return true;
}

ebb_err proto_prefix_parse(const uint8_t prefix[PROTO_PREFIX_LEN],
			   uint32_t *hlen, uint32_t *plen)
{
	uint32_t h, p;

	memcpy(&h, prefix, 4);
	memcpy(&p, prefix + 4, 4);
	*hlen = ntohl(h);
	*plen = ntohl(p);
	if (*hlen == 0)
		return EBB_E_PROTO;
	if (*hlen > PROTO_MAX_HEADER || *plen > PROTO_MAX_PAYLOAD)
		return EBB_E_TOOBIG;
	return EBB_OK;
}

void proto_prefix_write(uint8_t prefix[PROTO_PREFIX_LEN], uint32_t hlen,
			uint32_t plen)
{
	uint32_t h = htonl(hlen), p = htonl(plen);

	memcpy(prefix, &h, 4);
	memcpy(prefix + 4, &p, 4);
}

/* ---- encoding ---------------------------------------------------------- */

static void _enc_init(struct proto_enc *e)
{
	msgpack_sbuffer_init(&e->sb);
	msgpack_packer_init(&e->pk, &e->sb, msgpack_sbuffer_write);
}

void proto_enc_request(struct proto_enc *e, uint64_t msgid, uint32_t op,
		       unsigned nargs)
{
	_enc_init(e);
	msgpack_pack_array(&e->pk, 2 + nargs);
	msgpack_pack_uint64(&e->pk, msgid);
	msgpack_pack_uint32(&e->pk, op);
}

void proto_enc_reply(struct proto_enc *e, uint64_t msgid, uint32_t op,
		     ebb_err status, unsigned nresults)
{
	_enc_init(e);
	msgpack_pack_array(&e->pk, 3 + nresults);
	msgpack_pack_uint64(&e->pk, msgid);
	msgpack_pack_uint32(&e->pk, op | PROTO_REPLY);
	msgpack_pack_uint32(&e->pk, (uint32_t)status);
}

void proto_enc_free(struct proto_enc *e)
{
	msgpack_sbuffer_destroy(&e->sb);
}

void proto_put_u64(struct proto_enc *e, uint64_t v) { msgpack_pack_uint64(&e->pk, v); }
void proto_put_i64(struct proto_enc *e, int64_t v) { msgpack_pack_int64(&e->pk, v); }
void proto_put_nil(struct proto_enc *e) { msgpack_pack_nil(&e->pk); }
void proto_put_array(struct proto_enc *e, uint32_t n) { msgpack_pack_array(&e->pk, n); }
void proto_put_map(struct proto_enc *e, uint32_t n) { msgpack_pack_map(&e->pk, n); }

void proto_put_bool(struct proto_enc *e, bool v)
{
	if (v)
		msgpack_pack_true(&e->pk);
	else
		msgpack_pack_false(&e->pk);
}

void proto_put_str(struct proto_enc *e, const char *s, size_t len)
{
	msgpack_pack_str(&e->pk, len);
	msgpack_pack_str_body(&e->pk, s, len);
}

void proto_put_cstr(struct proto_enc *e, const char *s)
{
	if (s)
		proto_put_str(e, s, strlen(s));
	else
		msgpack_pack_nil(&e->pk);
}

void proto_put_attr(struct proto_enc *e, const struct proto_attr *a)
{
	msgpack_pack_array(&e->pk, PROTO_ATTR_FIELDS);
	msgpack_pack_uint64(&e->pk, a->ino);
	msgpack_pack_uint64(&e->pk, a->parent);
	msgpack_pack_uint32(&e->pk, a->mode);
	msgpack_pack_uint32(&e->pk, a->uid);
	msgpack_pack_uint32(&e->pk, a->gid);
	msgpack_pack_uint32(&e->pk, a->nlink);
	msgpack_pack_uint64(&e->pk, a->size);
	msgpack_pack_int64(&e->pk, a->atime_ns);
	msgpack_pack_int64(&e->pk, a->mtime_ns);
	msgpack_pack_int64(&e->pk, a->ctime_ns);
	if (a->target)
		proto_put_str(e, a->target, a->target_len);
	else
		msgpack_pack_nil(&e->pk);
}

/* ---- decoding ---------------------------------------------------------- */

static uint32_t _be(const uint8_t *p, unsigned n)
{
	uint32_t v = 0;

	while (n--)
		v = (v << 8) | *p++;
	return v;
}

/* msgpack-c allocates an array's or map's elements from the count in its
 * header, before it knows whether the bytes are there: [0xdd ff ff ff ff]
 * would make it ask for 100 GB.  Every element takes at least one byte, so
 * refuse a header whose containers declare more elements than there are
 * bytes left.  A flat scan of the tokens; anything else malformed is left
 * to the decoder.  Run on every header, by both sides. */
bool proto_msgpack_bounded(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t pos = 0;
	uint64_t total = 0; /* elements declared by all containers so far */

	while (pos < len) {
		uint8_t t = p[pos];
		size_t hdr = 1, skip = 0, left = len - pos;
		uint64_t count = 0;

		if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 ||
		    t == 0xc3) {
			/* fixint, nil, bool */
		} else if (t >= 0x80 && t <= 0x8f) {
			count = 2u * (t & 0x0f);
		} else if (t >= 0x90 && t <= 0x9f) {
			count = t & 0x0f;
		} else if (t >= 0xa0 && t <= 0xbf) {
			skip = t & 0x1f;
		} else {
			static const uint8_t fixed[] = {
				[0xca - 0xc4] = 5, [0xcb - 0xc4] = 9,
				[0xcc - 0xc4] = 2, [0xcd - 0xc4] = 3,
				[0xce - 0xc4] = 5, [0xcf - 0xc4] = 9,
				[0xd0 - 0xc4] = 2, [0xd1 - 0xc4] = 3,
				[0xd2 - 0xc4] = 5, [0xd3 - 0xc4] = 9,
				[0xd4 - 0xc4] = 3, [0xd5 - 0xc4] = 4,
				[0xd6 - 0xc4] = 6, [0xd7 - 0xc4] = 10,
				[0xd8 - 0xc4] = 18,
			};
			unsigned n;

			switch (t) {
			case 0xc4: case 0xd9: n = 1; break; /* bin8, str8 */
			case 0xc5: case 0xda: n = 2; break;
			case 0xc6: case 0xdb: n = 4; break;
			case 0xc7: n = 1; break;            /* ext8/16/32 */
			case 0xc8: n = 2; break;
			case 0xc9: n = 4; break;
			case 0xdc: case 0xde: n = 2; break; /* array16, map16 */
			case 0xdd: case 0xdf: n = 4; break;
			default:
				if (t < 0xc4 || t > 0xd8 || !fixed[t - 0xc4])
					return true; /* 0xc1: the decoder refuses */
				hdr = fixed[t - 0xc4];
				n = 0;
				break;
			}
			if (n) {
				if (left < 1 + n)
					return true; /* truncated: decoder */
				uint32_t v = _be(p + pos + 1, n);
				hdr = 1 + n;
				if (t == 0xdc || t == 0xdd)
					count = v;
				else if (t == 0xde || t == 0xdf)
					count = 2ull * v;
				else if (t >= 0xc7 && t <= 0xc9)
					skip = (size_t)v + 1; /* type byte */
				else
					skip = v;
			}
		}
		if (hdr > left)
			return true;
		/* Every element, at any depth, takes at least one byte of its
		 * own: the declared counts together cannot pass len. */
		total += count;
		if (count > left - hdr || total > len)
			return false;
		if (skip > left - hdr)
			return true;
		pos += hdr + skip;
	}
	return true;
}


static bool _fail(struct proto_dec *d, const char *what)
{
	if (d->err == EBB_OK) {
		d->err = EBB_E_PROTO;
		snprintf(d->detail, sizeof(d->detail), "argument %u: %s",
			 d->pos, what);
	}
	return false;
}

static const msgpack_object *_next(struct proto_dec *d)
{
	if (d->err != EBB_OK)
		return NULL;
	if (d->pos >= d->n) {
		_fail(d, "missing");
		return NULL;
	}
	return &d->items[d->pos++];
}

static ebb_err _dec_init(struct proto_dec *d, const void *buf, size_t len,
			 uint32_t min_items)
{
	size_t off = 0;
	msgpack_unpack_return r;

	memset(d, 0, sizeof(*d));
	msgpack_unpacked_init(&d->up);
	if (!proto_msgpack_bounded(buf, len)) {
		d->err = EBB_E_PROTO;
		snprintf(d->detail, sizeof(d->detail),
			 "header declares more elements than it holds");
		return d->err;
	}
	r = msgpack_unpack_next(&d->up, buf, len, &off);
	if (r != MSGPACK_UNPACK_SUCCESS) {
		d->err = EBB_E_PROTO;
		snprintf(d->detail, sizeof(d->detail), "header is not msgpack");
		return d->err;
	}
	if (off != len) {
		d->err = EBB_E_PROTO;
		snprintf(d->detail, sizeof(d->detail),
			 "%zu trailing bytes after header", len - off);
		return d->err;
	}
	if (d->up.data.type != MSGPACK_OBJECT_ARRAY ||
	    d->up.data.via.array.size < min_items) {
		d->err = EBB_E_PROTO;
		snprintf(d->detail, sizeof(d->detail),
			 "header is not an array of >= %u items", min_items);
		return d->err;
	}
	d->items = d->up.data.via.array.ptr;
	d->n = d->up.data.via.array.size;
	return EBB_OK;
}

ebb_err proto_dec_request(struct proto_dec *d, const void *buf, size_t len,
			  uint64_t *msgid, uint32_t *op)
{
	if (_dec_init(d, buf, len, 2) != EBB_OK)
		return d->err;
	proto_get_u64(d, msgid);
	proto_get_u32(d, op);
	return d->err;
}

ebb_err proto_dec_reply(struct proto_dec *d, const void *buf, size_t len,
			uint64_t *msgid, uint32_t *op, ebb_err *status)
{
	uint32_t st = 0;

	if (_dec_init(d, buf, len, 3) != EBB_OK)
		return d->err;
	proto_get_u64(d, msgid);
	proto_get_u32(d, op);
	proto_get_u32(d, &st);
	if (d->err == EBB_OK && !(*op & PROTO_REPLY))
		_fail(d, "reply without the reply bit");
	*op &= ~PROTO_REPLY;
	*status = (ebb_err)st;
	return d->err;
}

void proto_dec_free(struct proto_dec *d)
{
	msgpack_unpacked_destroy(&d->up);
	d->items = NULL;
	d->n = 0;
}

void proto_dec_sub(struct proto_dec *sub, const struct proto_dec *d,
		   const msgpack_object *array)
{
	memset(sub, 0, sizeof(*sub));
	msgpack_unpacked_init(&sub->up); /* owns nothing: destroy is a no-op */
	if (!array || array->type != MSGPACK_OBJECT_ARRAY) {
		sub->err = EBB_E_PROTO;
		snprintf(sub->detail, sizeof(sub->detail), "not an array");
		return;
	}
	sub->items = array->via.array.ptr;
	sub->n = array->via.array.size;
	(void)d;
}

bool proto_get_u64(struct proto_dec *d, uint64_t *v)
{
	const msgpack_object *o = _next(d);

	if (!o)
		return false;
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return _fail(d, "expected an unsigned integer");
	*v = o->via.u64;
	return true;
}

bool proto_get_u32(struct proto_dec *d, uint32_t *v)
{
	uint64_t u;

	if (!proto_get_u64(d, &u))
		return false;
	if (u > UINT32_MAX) {
		d->pos--;
		return _fail(d, "integer over 32 bits");
	}
	*v = (uint32_t)u;
	return true;
}

bool proto_get_i64(struct proto_dec *d, int64_t *v)
{
	const msgpack_object *o = _next(d);

	if (!o)
		return false;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*v = o->via.i64;
	else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		 o->via.u64 <= INT64_MAX)
		*v = (int64_t)o->via.u64;
	else
		return _fail(d, "expected a signed integer");
	return true;
}

bool proto_get_bool(struct proto_dec *d, bool *v)
{
	const msgpack_object *o = _next(d);

	if (!o)
		return false;
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return _fail(d, "expected a boolean");
	*v = o->via.boolean;
	return true;
}

static bool _str(struct proto_dec *d, const msgpack_object *o, const char **s,
		 uint32_t *len, uint32_t max)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return _fail(d, "expected a string");
	if (o->via.str.size > max)
		return _fail(d, "string too long");
	if (o->via.str.size && memchr(o->via.str.ptr, '\0', o->via.str.size))
		return _fail(d, "NUL byte inside a string");
	*s = o->via.str.ptr;
	*len = o->via.str.size;
	return true;
}

bool proto_get_str(struct proto_dec *d, const char **s, uint32_t *len,
		   uint32_t max)
{
	const msgpack_object *o = _next(d);

	return o ? _str(d, o, s, len, max) : false;
}

bool proto_get_str_or_nil(struct proto_dec *d, const char **s, uint32_t *len,
			  uint32_t max)
{
	const msgpack_object *o = _next(d);

	if (!o)
		return false;
	if (o->type == MSGPACK_OBJECT_NIL) {
		*s = NULL;
		*len = 0;
		return true;
	}
	return _str(d, o, s, len, max);
}

bool proto_get_array(struct proto_dec *d, const msgpack_object **items,
		     uint32_t *n, uint32_t max)
{
	const msgpack_object *o = _next(d);

	if (!o)
		return false;
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return _fail(d, "expected an array");
	if (o->via.array.size > max)
		return _fail(d, "array too long");
	*items = o->via.array.ptr;
	*n = o->via.array.size;
	return true;
}

bool proto_get_obj(struct proto_dec *d, const msgpack_object **o)
{
	*o = _next(d);
	return *o != NULL;
}

bool proto_get_attr(struct proto_dec *d, struct proto_attr *a)
{
	const msgpack_object *o = _next(d);
	struct proto_dec sub;

	if (!o)
		return false;
	if (o->type != MSGPACK_OBJECT_ARRAY ||
	    o->via.array.size != PROTO_ATTR_FIELDS)
		return _fail(d, "expected an attribute array of 11");
	proto_dec_sub(&sub, d, o);
	memset(a, 0, sizeof(*a));
	proto_get_u64(&sub, &a->ino);
	proto_get_u64(&sub, &a->parent);
	proto_get_u32(&sub, &a->mode);
	proto_get_u32(&sub, &a->uid);
	proto_get_u32(&sub, &a->gid);
	proto_get_u32(&sub, &a->nlink);
	proto_get_u64(&sub, &a->size);
	proto_get_i64(&sub, &a->atime_ns);
	proto_get_i64(&sub, &a->mtime_ns);
	proto_get_i64(&sub, &a->ctime_ns);
	proto_get_str_or_nil(&sub, &a->target, &a->target_len,
			     PROTO_MAX_TARGET);
	if (sub.err != EBB_OK)
		return _fail(d, "bad attribute array");
	return true;
}

bool proto_get_attr_or_nil(struct proto_dec *d, struct proto_attr *a,
			   bool *present)
{
	if (d->err == EBB_OK && d->pos < d->n &&
	    d->items[d->pos].type == MSGPACK_OBJECT_NIL) {
		d->pos++;
		memset(a, 0, sizeof(*a));
		*present = false;
		return true;
	}
	*present = proto_get_attr(d, a);
	return *present;
}

ebb_err proto_dec_end(struct proto_dec *d)
{
	if (d->err == EBB_OK && d->pos != d->n) {
		d->err = EBB_E_PROTO;
		snprintf(d->detail, sizeof(d->detail),
			 "%u arguments, expected %u", d->n, d->pos);
	}
	return d->err;
}

/* ---- maps --------------------------------------------------------------- */

const msgpack_object *proto_map_get(const msgpack_object *map, const char *key)
{
	size_t klen = strlen(key);

	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR &&
		    kv->key.via.str.size == klen &&
		    memcmp(kv->key.via.str.ptr, key, klen) == 0)
			return &kv->val;
	}
	return NULL;
}

bool proto_map_u64(const msgpack_object *map, const char *key, uint64_t *v)
{
	const msgpack_object *o = proto_map_get(map, key);

	if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*v = o->via.u64;
	return true;
}

bool proto_map_str(const msgpack_object *map, const char *key, char *buf,
		   size_t size)
{
	const msgpack_object *o = proto_map_get(map, key);

	if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= size)
		return false;
	memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = '\0';
	return true;
}

/* ---- validation --------------------------------------------------------- */

ebb_err proto_check_name(const char *name, size_t len)
{
	if (len == 0)
		return EBB_EINVAL;
	if (len > PROTO_MAX_NAME)
		return EBB_ENAMETOOLONG;
	if (memchr(name, '/', len) || memchr(name, '\0', len))
		return EBB_EINVAL;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return EBB_EINVAL;
	return EBB_OK;
}

ebb_err proto_check_inst_id(const char *id, size_t len)
{
	if (len == 0 || len > PROTO_MAX_INST_ID || id[0] == '.')
		return EBB_EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return EBB_EINVAL;
	}
	return EBB_OK;
}
