/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the integration tests in tests/client/.
 *
 * DESIGN: every test program finds its daemons in the environment the
 * fixture (tests/lib/fixture.sh) exports: EBB_NODES ("h:p,h:p,..."),
 * EBB_MUNGE_SOCKET, EBB_TIMEOUT_MS.  A program creates its own instance
 * (unique id, so tests attached to hand-started daemons never collide) or,
 * with EBB_INSTANCE set, uses that one (multi-phase tests whose .t wrapper
 * runs several programs on one instance).  Data is pseudo-random from a
 * seed and an offset, so any byte can be checked without keeping a copy.
 */
#ifndef EBB_TESTS_CTEST_H
#define EBB_TESTS_CTEST_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ebb/ebb.h"

struct ctest {
	char id[65];
	char *nodes_str;         /* owned copy of EBB_NODES */
	const char *members[64];
	unsigned nmembers;
	struct ebb_options opts;
	ebb_t *h;
	int created;             /* we created the instance: destroy it */
};

/* Read EBB_NODES (skip_all if unset) and the options.  Does not connect. */
void ct_env(struct ctest *c);

/* Create instance "<prefix>-<pid>" (or use $EBB_INSTANCE if set) with
 * capacity bytes per node and stripe bytes per stripe (0 = default), owned
 * by uid/gid, and attach.  bail()s with the library's message on failure. */
void ct_setup(struct ctest *c, const char *prefix, uint64_t capacity,
	      uint64_t stripe, uid_t uid, gid_t gid);
/* Detach; destroy the instance if ct_setup created it.  Returns 0 or -1
 * (and diag()s why). */
int ct_teardown(struct ctest *c);

/* Deterministic bytes: byte i of stream seed is a function of (seed, i). */
void ct_fill(void *buf, size_t len, uint64_t seed, uint64_t offset);
/* Index of the first byte that differs from ct_fill(seed, offset), or
 * (size_t)-1 if all match. */
size_t ct_check(const void *buf, size_t len, uint64_t seed, uint64_t offset);
/* ct_check as a truth value, with a TAP diag naming what and the first
 * differing byte's offset when it fails. */
int ct_same(const void *buf, size_t len, uint64_t seed, uint64_t offset,
	    const char *what);

/* SHA-256 helpers (OpenSSL EVP).  Hex is 65 bytes with the NUL. */
struct ct_sha;
struct ct_sha *ct_sha_new(void);
void ct_sha_update(struct ct_sha *s, const void *buf, size_t len);
/* Writes the hex digest and frees s. */
void ct_sha_final(struct ct_sha *s, char hex[65]);

/* Write len bytes of stream seed to path (create/trunc), in chunks of
 * chunk bytes; fsync and close.  0 or -1/errno (diag()s the failing call). */
int ct_write_file(ebb_t *h, const char *path, uint64_t len, uint64_t seed,
		  size_t chunk, int do_fsync);
/* Read path whole in chunks of chunk bytes and check it against stream
 * seed and length len.  0 if equal, -1 (diag()s where) otherwise. */
int ct_verify_file(ebb_t *h, const char *path, uint64_t len, uint64_t seed,
		   size_t chunk);

/* Check that call fails with errno want; call is evaluated before errno
 * is read (a function argument order would not promise that).  _P for
 * calls returning a pointer (NULL = failure). */
#define CT_ERRNO(call, want, ...)                                        \
	do {                                                             \
		errno = 0;                                               \
		long long r_ = (long long)(call);                        \
		int e_ = errno;                                          \
		is_errno(r_, e_, (want), __VA_ARGS__);                   \
	} while (0)
#define CT_ERRNO_P(call, want, ...)                                      \
	do {                                                             \
		errno = 0;                                               \
		void *p_ = (void *)(call);                               \
		int e_ = errno;                                          \
		is_errno(p_ ? 0 : -1, e_, (want), __VA_ARGS__);          \
	} while (0)

/* Monotonic seconds, for rates in diagnostics (never asserted). */
double ct_now(void);

#endif
