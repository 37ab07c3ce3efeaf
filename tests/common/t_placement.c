/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of placement (common/placement.c): balance, stripes, stability.
 *
 * DESIGN: placement is part of the on-disk contract (a bbd restarted with
 * a new build must find its dentries where the old one put them), so some
 * hash values are pinned.  Balance is measured over 1 M keys shaped like
 * real ones: one hot directory holding half the names, the rest spread
 * over many parents; inode numbers as bbd makes them (creator rank in the
 * top 16 bits, a counter below).  Every node must get within 5% of its
 * fair share for every member count from 1 to 64.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placement.h"
#include "proto.h"
#include "tap.h"

#define NKEYS 1000000u
#define MAXN 64u

static int _balanced(const uint64_t *count, uint32_t n, uint64_t total,
		     double *worst)
{
	double fair = (double)total / n;

	*worst = 0;
	for (uint32_t r = 0; r < n; r++) {
		double dev = ((double)count[r] - fair) / fair;
		if (dev < 0)
			dev = -dev;
		if (dev > *worst)
			*worst = dev;
	}
	return *worst <= 0.05;
}

static void test_dentry_balance(void)
{
	uint64_t count[MAXN];
	char name[32];
	double worst = 1;

	for (uint32_t n = 1; n <= MAXN; n++) {
		uint64_t total = 0;
		int inrange = 1;

		memset(count, 0, sizeof(count));
		for (uint32_t k = 0; k < NKEYS; k++) {
			uint64_t parent;
			int len;
			uint32_t r;

			if (k % 2 == 0) {
				/* the hot directory: "out.000123" in one dir */
				parent = 1;
				len = snprintf(name, sizeof(name), "out.%06u",
					       k / 2);
			} else {
				/* many small directories of a few files */
				parent = ((uint64_t)(k % 4) << PROTO_INO_RANK_SHIFT) |
					 (2 + k / 64);
				len = snprintf(name, sizeof(name), "f%u", k % 64);
			}
			r = placement_dentry_node(parent, name, (size_t)len, n);
			if (r >= n) {
				inrange = 0;
				continue;
			}
			count[r]++;
			total++;
		}
		ok(inrange && _balanced(count, n, total, &worst),
		   "dentries over %2u nodes: worst node %.2f%% off its share",
		   n, worst * 100);
	}
}

static void test_stripe_balance(void)
{
	uint64_t count[MAXN];
	double worst = 1;

	for (uint32_t n = 1; n <= MAXN; n++) {
		uint64_t total = 0;
		int inrange = 1;

		memset(count, 0, sizeof(count));
		for (uint32_t k = 0; k < NKEYS; k++) {
			/* every node creating inodes (files are created
			 * where their hashed names live); stripe 0 of each,
			 * so the first stripes (all of a small file) spread
			 * too */
			uint64_t ino = ((uint64_t)(k % n) << PROTO_INO_RANK_SHIFT) |
				       (2 + k / n);
			uint32_t j = k / n; /* apart from the creator */
			uint32_t r = placement_stripe_node(ino, j % 3 == 0 ? 0 : j % 7, n);
			if (r >= n) {
				inrange = 0;
				continue;
			}
			count[r]++;
			total++;
		}
		ok(inrange && _balanced(count, n, total, &worst),
		   "stripes over %2u nodes: worst node %.2f%% off its share",
		   n, worst * 100);
	}
}

static void test_consecutive(void)
{
	unsigned bad = 0;

	for (uint32_t n = 1; n <= MAXN; n++) {
		for (uint64_t i = 0; i < 2000; i++) {
			uint64_t ino = (i % 3) << PROTO_INO_RANK_SHIFT | (i + 2);
			uint64_t base = i % 5 == 0 ? (1ULL << 40) - 3 : 0;
			uint32_t prev = placement_stripe_node(ino, base, n);
			for (uint64_t k = base + 1; k < base + 2 * n + 2; k++) {
				uint32_t r = placement_stripe_node(ino, k, n);
				if (r != (prev + 1) % n) {
					if (bad++ < 5)
						diag("n=%u ino=%" PRIu64 " stripe %" PRIu64
						     ": node %u after %u", n, ino, k, r,
						     prev);
				}
				prev = r;
			}
		}
	}
	is_int(bad, 0, "consecutive stripes go to consecutive nodes (mod N), "
	       "for N = 1..64, also near stripe 2^40");

	/* stripe k and k+N land on the same node */
	bad = 0;
	for (uint32_t n = 1; n <= MAXN; n++)
		for (uint64_t k = 0; k < 100; k++)
			if (placement_stripe_node(12345, k, n) !=
			    placement_stripe_node(12345, k + n, n))
				bad++;
	is_int(bad, 0, "stripe k and stripe k+N share a node");
	/* a stripe index near 2^64 does not overflow into a wrong node */
	bad = 0;
	for (uint32_t n = 1; n <= MAXN; n++) {
		uint32_t r = placement_stripe_node(99, UINT64_MAX, n);
		if (r >= n)
			bad++;
	}
	is_int(bad, 0, "stripe 2^64-1 stays in range");
}

static void test_pure(void)
{
	unsigned bad = 0;

	for (uint32_t k = 0; k < 10000; k++) {
		char name[16];
		int len = snprintf(name, sizeof(name), "n%u", k);
		if (placement_dentry_node(k, name, (size_t)len, 1) != 0 ||
		    placement_stripe_node(k, k, 1) != 0)
			bad++;
		if (placement_dentry_node(k, name, (size_t)len, 7) !=
		    placement_dentry_node(k, name, (size_t)len, 7))
			bad++;
	}
	is_int(bad, 0, "N=1 puts everything on rank 0; results are repeatable");
	ok(placement_hash_dentry(1, "ab", 2) != placement_hash_dentry(1, "ba", 2),
	   "dentry hash depends on byte order");
	ok(placement_hash_dentry(1, "a", 1) != placement_hash_dentry(2, "a", 1),
	   "dentry hash depends on the parent");
	ok(placement_hash_dentry(1, "ab", 1) == placement_hash_dentry(1, "ax", 1),
	   "dentry hash reads exactly len bytes");
	ok(placement_hash_dentry(0x100, "", 0) != placement_hash_dentry(0x1, "", 0),
	   "every byte of the parent counts");
}

/* The hash as placement.h documents it, written independently: FNV-1a 64
 * over the parent's 8 bytes (little-endian) and the name, then the
 * splitmix64 finalizer. */
static uint64_t _ref_dentry(uint64_t parent, const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(parent >> (8 * i));
	for (int i = 0; i < 8; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 0x100000001b3ULL;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

static void test_reference(void)
{
	unsigned bad = 0;
	char name[40];

	for (uint64_t k = 0; k < 20000; k++) {
		uint64_t parent = k * 0x9e3779b97f4a7c15ULL;
		int len = snprintf(name, sizeof(name), "name-%" PRIu64, k * 7);
		uint64_t h = placement_hash_dentry(parent, name, (size_t)len);
		if (h != _ref_dentry(parent, name, (size_t)len))
			bad++;
		if (placement_dentry_node(parent, name, (size_t)len, 1 + k % 64) !=
		    h % (1 + k % 64))
			bad++;
	}
	is_int(bad, 0, "dentry hash = FNV-1a + splitmix64 as documented; node = "
	       "hash %% N");
}

/* Pinned values: changing them moves every dentry and stripe of a running
 * instance.  If a change is intended, bump the protocol version and update
 * these with the numbers the diagnostics print. */
static void test_pinned(void)
{
	static const struct {
		uint64_t parent;
		const char *name;
		uint64_t hash;
	} dent[] = {
		{0x0ULL, "", 0x813f0174a2367c13ULL},
		{0x1ULL, "input", 0x37906ffc1f4c844bULL},
		{0x1ULL, "results", 0xe3f8869ca80406ccULL},
		{0x3000000000011ULL, "out.000001", 0xedde87c7bf6ccabfULL},
		{0xffffffffffffffffULL, "\xc3\xa9t\xc3\xa9", 0xd9808cae6228e038ULL},
	};
	static const uint32_t root_nodes[] = {
		0, 1, 2, 3, 3, 5, 3, 3,
	};
	unsigned bad = 0;

	for (size_t i = 0; i < sizeof(dent) / sizeof(dent[0]); i++) {
		uint64_t h = placement_hash_dentry(dent[i].parent, dent[i].name,
						   strlen(dent[i].name));
		if (h != dent[i].hash) {
			diag("hash(%" PRIu64 ", \"%s\") = 0x%016" PRIx64
			     ", pinned 0x%016" PRIx64, dent[i].parent,
			     dent[i].name, h, dent[i].hash);
			bad++;
		}
	}
	is_int(bad, 0, "dentry hashes equal their pinned values");
	bad = 0;
	for (uint32_t n = 1; n <= 8; n++)
		if (placement_dentry_node(PROTO_ROOT_PARENT, "", 0, n) !=
		    root_nodes[n - 1]) {
			diag("root dentry over %u nodes: rank %u, pinned %u", n,
			     placement_dentry_node(PROTO_ROOT_PARENT, "", 0, n),
			     root_nodes[n - 1]);
			bad++;
		}
	is_int(bad, 0, "the root dentry's rank for N=1..8 equals its pinned value");
	bad = 0;
	for (uint64_t ino = 1; ino <= 4; ino++) {
		static const uint64_t want[] = {
			0xe4d971771b652c20ULL, 0x975835de1c9756ceULL,
			0x910a2dec89025cc1ULL, 0xc164bb7b2b9b3e3aULL,
		};
		if (placement_hash_ino(ino) != want[ino - 1]) {
			diag("hash_ino(%" PRIu64 ") = 0x%016" PRIx64 ", pinned 0x%016"
			     PRIx64, ino, placement_hash_ino(ino), want[ino - 1]);
			bad++;
		}
	}
	is_int(bad, 0, "inode hashes equal their pinned values");
}

int main(void)
{
	plan_lazy();
	test_pure();
	test_pinned();
	test_reference();
	test_consecutive();
	test_dentry_balance();
	test_stripe_balance();
	return tap_exit();
}
