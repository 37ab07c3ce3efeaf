/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The decoder never crashes: random and mutated headers (common/proto.c).
 *
 * DESIGN: a few thousand random byte strings, plus valid frames with bytes
 * flipped, cut or spliced, are decoded as requests and replies; whatever
 * decodes is then read with a getter chosen per element, the way a handler
 * would.  The checks are that every call returns OK or E_PROTO, that the
 * detail is a terminated string, and (the real check) that nothing
 * crashes; `make check-valgrind-unit` runs this under memcheck to catch
 * reads past the buffer.  The seed is printed; EBB_FUZZ_SEED=N repeats a
 * run, EBB_FUZZ_ITER=N changes its length.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"
#include "tap.h"

static uint64_t _state;

static uint64_t _rand(void)   /* xorshift64*: deterministic per seed */
{
	_state ^= _state >> 12;
	_state ^= _state << 25;
	_state ^= _state >> 27;
	return _state * 0x2545F4914F6CDD1DULL;
}

/* Read every remaining element with a getter picked from its index. */
static void _consume(struct proto_dec *d, unsigned depth)
{
	const char *s;
	uint32_t len, w, n;
	uint64_t u;
	int64_t i;
	bool b, present;
	struct proto_attr a;
	const msgpack_object *o, *items;

	while (d->err == EBB_OK && d->pos < d->n) {
		const msgpack_object *cur = &d->items[d->pos];
		switch ((_rand() + d->pos) % 10) {
		case 0: proto_get_u64(d, &u); break;
		case 1: proto_get_u32(d, &w); break;
		case 2: proto_get_i64(d, &i); break;
		case 3: proto_get_bool(d, &b); break;
		case 4: proto_get_str(d, &s, &len, PROTO_MAX_NAME); break;
		case 5: proto_get_str_or_nil(d, &s, &len, PROTO_MAX_TARGET); break;
		case 6: proto_get_attr(d, &a); break;
		case 7: proto_get_attr_or_nil(d, &a, &present); break;
		case 8:
			if (proto_get_array(d, &items, &n, PROTO_MAX_MEMBERS) &&
			    depth < 4) {
				struct proto_dec sub;
				proto_dec_sub(&sub, d, cur);
				_consume(&sub, depth + 1);
				proto_dec_end(&sub);
				proto_dec_free(&sub);
			}
			break;
		default:
			if (proto_get_obj(d, &o)) {
				char buf[64];
				uint64_t v;
				proto_map_u64(o, "used", &v);
				proto_map_str(o, "node", buf, sizeof(buf));
			}
			break;
		}
	}
	proto_dec_end(d);
}

static int _check(struct proto_dec *d, ebb_err rc)
{
	return (rc == EBB_OK || rc == EBB_E_PROTO) &&
	       memchr(d->detail, '\0', sizeof(d->detail)) != NULL;
}

/* Decode buf both ways; returns 1 if every result was sane. */
static int _one(const uint8_t *buf, size_t len, unsigned *decoded)
{
	struct proto_dec d;
	uint64_t id;
	uint32_t op;
	ebb_err st, rc;
	int good = 1;

	rc = proto_dec_request(&d, buf, len, &id, &op);
	good &= _check(&d, rc);
	if (rc == EBB_OK) {
		(*decoded)++;
		_consume(&d, 0);
		good &= _check(&d, d.err);
	}
	proto_dec_free(&d);
	rc = proto_dec_reply(&d, buf, len, &id, &op, &st);
	good &= _check(&d, rc);
	if (rc == EBB_OK) {
		_consume(&d, 0);
		good &= _check(&d, d.err);
	}
	proto_dec_free(&d);
	if (len >= PROTO_PREFIX_LEN) {
		uint32_t h, p;
		rc = proto_prefix_parse(buf, &h, &p);
		good &= rc == EBB_OK || rc == EBB_E_PROTO || rc == EBB_E_TOOBIG;
	}
	return good;
}

/* A valid request of a random shape, as seed material for mutations. */
static void _valid(struct proto_enc *e)
{
	struct proto_attr a = {.ino = _rand(), .parent = 1, .mode = 0100644,
			       .nlink = 1, .size = _rand() >> 20,
			       .mtime_ns = -1};
	unsigned nargs = (unsigned)(_rand() % 6);

	proto_enc_request(e, _rand(), (uint32_t)(_rand() % 40), nargs);
	for (unsigned k = 0; k < nargs; k++) {
		switch (_rand() % 7) {
		case 0: proto_put_u64(e, _rand()); break;
		case 1: proto_put_i64(e, -(int64_t)(_rand() >> 2)); break;
		case 2: proto_put_cstr(e, "some-name"); break;
		case 3: proto_put_nil(e); break;
		case 4: proto_put_attr(e, &a); break;
		case 5:
			a.target = "tgt";
			a.target_len = 3;
			proto_put_attr(e, &a);
			a.target = NULL;
			break;
		default:
			proto_put_array(e, 2);
			proto_put_cstr(e, "127.0.0.1:1");
			proto_put_bool(e, true);
			break;
		}
	}
}

int main(void)
{
	const char *s = getenv("EBB_FUZZ_SEED"), *it = getenv("EBB_FUZZ_ITER");
	uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
	unsigned iters = it ? (unsigned)strtoul(it, NULL, 0) : 20000;
	unsigned bad = 0, decoded = 0, mdecoded = 0;
	uint8_t buf[512];

	plan(3);
	diag("seed %llu (EBB_FUZZ_SEED=%llu to repeat), %u iterations",
	     (unsigned long long)seed, (unsigned long long)seed, iters);
	_state = seed ? seed : 1;

	/* 1: random bytes, biased towards msgpack arrays so that some decode */
	for (unsigned n = 0; n < iters; n++) {
		size_t len = (size_t)(_rand() % sizeof(buf));
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)_rand();
		if (len && n % 2)
			buf[0] = (uint8_t)(0x92 + _rand() % 12); /* fixarray 2..13 */
		if (!_one(buf, len, &decoded))
			bad++;
	}
	is_int(bad, 0, "%u random byte strings: only OK or E_PROTO, "
	       "terminated details (%u decoded as requests)", iters, decoded);

	/* 2: valid frames, mutated */
	bad = 0;
	for (unsigned n = 0; n < iters; n++) {
		struct proto_enc e;
		size_t len;
		uint8_t *m;

		_valid(&e);
		len = e.sb.size;
		m = tap_malloc(len + 16);
		memcpy(m, e.sb.data, len);
		switch (n % 4) {
		case 0: /* flip 1..4 bytes */
			for (unsigned k = 0; k <= _rand() % 4; k++)
				m[_rand() % len] = (uint8_t)_rand();
			break;
		case 1: /* cut */
			len = (size_t)(_rand() % len);
			break;
		case 2: /* append garbage */
			for (unsigned k = 0; k < 16; k++)
				m[len + k] = (uint8_t)_rand();
			len += 1 + _rand() % 16;
			break;
		default: /* flip and cut */
			m[_rand() % len] ^= (uint8_t)(1u << (_rand() % 8));
			len -= (size_t)(_rand() % (len / 2 + 1));
			break;
		}
		if (!_one(m, len, &mdecoded))
			bad++;
		free(m);
		proto_enc_free(&e);
	}
	is_int(bad, 0, "%u mutated valid frames: only OK or E_PROTO "
	       "(%u still decoded)", iters, mdecoded);

	/* 3: every prefix value class */
	bad = 0;
	for (unsigned n = 0; n < iters; n++) {
		uint8_t pre[PROTO_PREFIX_LEN];
		uint32_t h, p, wh = (uint32_t)_rand(), wp = (uint32_t)_rand();
		ebb_err rc, want;
		if (n % 3 == 0)
			wh %= PROTO_MAX_HEADER + 2;
		if (n % 3 == 1)
			wp %= PROTO_MAX_PAYLOAD + 2;
		proto_prefix_write(pre, wh, wp);
		rc = proto_prefix_parse(pre, &h, &p);
		want = wh == 0 ? EBB_E_PROTO :
		       (wh > PROTO_MAX_HEADER || wp > PROTO_MAX_PAYLOAD) ?
		       EBB_E_TOOBIG : EBB_OK;
		if (rc != want || (rc == EBB_OK && (h != wh || p != wp))) {
			diag("prefix H=%u P=%u: got %d, expected %d", wh, wp,
			     rc, want);
			bad++;
		}
	}
	is_int(bad, 0, "%u random prefixes classified as the spec says", iters);
	return tap_exit();
}
