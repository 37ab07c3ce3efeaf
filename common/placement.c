/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Placement hashes (see placement.h). */
#include "config.h"

#include "placement.h"
#include "proto.h"

static uint64_t _mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

uint64_t placement_hash_dentry(uint64_t parent, const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < 8; i++) {
		h ^= (parent >> (8 * i)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 0x100000001b3ULL;
	}
	return _mix(h);
}

uint64_t placement_hash_ino(uint64_t ino)
{
	return _mix(ino ^ 0x9e3779b97f4a7c15ULL);
}

uint32_t placement_dentry_node(uint64_t parent, const char *name, size_t len,
			       uint32_t n)
{
	return (uint32_t)(placement_hash_dentry(parent, name, len) % n);
}

uint32_t placement_stripe_node(uint64_t ino, uint64_t stripe, uint32_t n)
{
	uint64_t creator = ino >> PROTO_INO_RANK_SHIFT;

	return (uint32_t)((creator % n + stripe % n) % n);
}
