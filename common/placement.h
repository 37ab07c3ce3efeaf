/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Placement: which node of an instance owns a dentry and a stripe.
 *
 * DESIGN: pure functions of the key and the member count, called by both
 * bbd and libebb, so no node ever asks another where something lives.  A
 * dentry (parent, name) lives on hash(parent, name) % n; stripe k of inode
 * ino lives on (c + k) % n with c the rank that created the inode (its top
 * 16 bits, PROTO_INO_RANK_SHIFT), so consecutive stripes of one file go to
 * consecutive nodes and a file's stripes spread evenly.  A file is created
 * by its dentry's node, so a small file's data starts out on the node that
 * holds its name: that node can drop the data itself when the name is
 * unlinked (UNLINK's DATA flag, one round trip).  Files spread over the
 * nodes as their names do (hashed).
 */
#ifndef EBB_PLACEMENT_H
#define EBB_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit hash of (parent, name): FNV-1a over the bytes, then a splitmix64
 * finalizer so that the low bits are well mixed. */
uint64_t placement_hash_dentry(uint64_t parent, const char *name, size_t len);
uint64_t placement_hash_ino(uint64_t ino);

/* Rank (0..n-1) of the node that stores dentry (parent, name). n >= 1. */
uint32_t placement_dentry_node(uint64_t parent, const char *name, size_t len,
			       uint32_t n);
/* Rank of the node that stores stripe number `stripe` of inode ino. */
uint32_t placement_stripe_node(uint64_t ino, uint64_t stripe, uint32_t n);

#endif
