/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the integration tests (see ctest.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ctest.h"
#include "tap.h"

void ct_env(struct ctest *c)
{
	const char *nodes = getenv("EBB_NODES"), *t;
	char *save = NULL;

	memset(c, 0, sizeof(*c));
	if (!nodes || !*nodes)
		skip_all("EBB_NODES not set (run through the .t wrapper)");
	c->nodes_str = tap_strdup(nodes);
	for (char *tok = strtok_r(c->nodes_str, ",", &save);
	     tok && c->nmembers < 64; tok = strtok_r(NULL, ",", &save))
		c->members[c->nmembers++] = tok;
	t = getenv("EBB_TIMEOUT_MS");
	c->opts.timeout_ms = t ? (unsigned)strtoul(t, NULL, 10) : 0;
	c->opts.munge_socket = getenv("EBB_MUNGE_SOCKET");
}

void ct_setup(struct ctest *c, const char *prefix, uint64_t capacity,
	      uint64_t stripe, uid_t uid, gid_t gid)
{
	const char *inst = getenv("EBB_INSTANCE");
	char err[512] = "";

	ct_env(c);
	if (inst && *inst) {
		snprintf(c->id, sizeof(c->id), "%s", inst);
	} else {
		struct ebb_instance_spec spec = {
			.id = c->id, .members = c->members,
			.nmembers = c->nmembers, .stripe_size = stripe,
			.capacity = capacity, .uid = uid, .gid = gid,
		};
		snprintf(c->id, sizeof(c->id), "%s-%ld", prefix,
			 (long)getpid());
		if (ebb_instance_create(&spec, &c->opts, err, sizeof(err)) != 0)
			bail("ebb_instance_create(%s): %s (%s)", c->id,
			     strerror(errno), err);
		c->created = 1;
	}
	c->h = ebb_attach(c->id, c->members, c->nmembers, &c->opts);
	if (!c->h)
		bail("ebb_attach(%s): %s", c->id, strerror(errno));
}

int ct_teardown(struct ctest *c)
{
	char err[512] = "";
	int rc = 0;

	if (c->h && ebb_detach(c->h) != 0) {
		diag("ebb_detach: %s", strerror(errno));
		rc = -1;
	}
	c->h = NULL;
	if (c->created &&
	    ebb_instance_destroy(c->id, c->members, c->nmembers, &c->opts, err,
				 sizeof(err)) != 0) {
		diag("ebb_instance_destroy(%s): %s (%s)", c->id,
		     strerror(errno), err);
		rc = -1;
	}
	free(c->nodes_str);
	c->nodes_str = NULL;
	return rc;
}

/* splitmix64 of (seed, 8-byte block index): random-looking, seekable. */
static uint64_t _block(uint64_t seed, uint64_t idx)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + idx + 1;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void ct_fill(void *buf, size_t len, uint64_t seed, uint64_t offset)
{
	unsigned char *b = buf;
	size_t i = 0;

	/* unaligned head */
	while (i < len && (offset + i) % 8) {
		uint64_t v = _block(seed, (offset + i) / 8);
		b[i] = (unsigned char)(v >> (8 * ((offset + i) % 8)));
		i++;
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t v = _block(seed, (offset + i) / 8);
		for (int k = 0; k < 8; k++)
			b[i + k] = (unsigned char)(v >> (8 * k));
	}
	for (; i < len; i++) {
		uint64_t v = _block(seed, (offset + i) / 8);
		b[i] = (unsigned char)(v >> (8 * ((offset + i) % 8)));
	}
}

size_t ct_check(const void *buf, size_t len, uint64_t seed, uint64_t offset)
{
	unsigned char tmp[65536];
	const unsigned char *b = buf;

	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(tmp) ? len - done : sizeof(tmp);
		ct_fill(tmp, n, seed, offset + done);
		if (memcmp(tmp, b + done, n) != 0) {
			for (size_t i = 0; i < n; i++)
				if (tmp[i] != b[done + i])
					return done + i;
		}
		done += n;
	}
	return (size_t)-1;
}

int ct_same(const void *buf, size_t len, uint64_t seed, uint64_t offset,
	    const char *what)
{
	size_t i = ct_check(buf, len, seed, offset);

	if (i != (size_t)-1)
		diag("%s: byte %llu differs", what,
		     (unsigned long long)(offset + i));
	return i == (size_t)-1;
}

struct ct_sha {
	EVP_MD_CTX *ctx;
};

struct ct_sha *ct_sha_new(void)
{
	struct ct_sha *s = tap_malloc(sizeof(*s));

	s->ctx = EVP_MD_CTX_new();
	if (!s->ctx || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1)
		bail("EVP sha256 init failed");
	return s;
}

void ct_sha_update(struct ct_sha *s, const void *buf, size_t len)
{
	if (EVP_DigestUpdate(s->ctx, buf, len) != 1)
		bail("EVP_DigestUpdate failed");
}

void ct_sha_final(struct ct_sha *s, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(s->ctx, md, &n) != 1 || n != 32)
		bail("EVP_DigestFinal_ex failed");
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	EVP_MD_CTX_free(s->ctx);
	free(s);
}

int ct_write_file(ebb_t *h, const char *path, uint64_t len, uint64_t seed,
		  size_t chunk, int do_fsync)
{
	unsigned char *buf = tap_malloc(chunk);
	ebb_file_t *f;
	uint64_t off = 0;
	int rc = -1, e = 0;

	f = ebb_open(h, path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (!f) {
		e = errno;
		diag("ebb_open(%s, O_CREAT|O_TRUNC|O_WRONLY): %s", path,
		     strerror(e));
		goto out;
	}
	while (off < len) {
		size_t n = len - off < chunk ? (size_t)(len - off) : chunk;
		ssize_t w;
		ct_fill(buf, n, seed, off);
		w = ebb_pwrite(f, buf, n, (off_t)off);
		if (w != (ssize_t)n) {
			e = w < 0 ? errno : EIO;
			diag("ebb_pwrite(%s, %zu bytes at %llu) = %zd: %s", path,
			     n, (unsigned long long)off, w, strerror(e));
			ebb_close(f);
			goto out;
		}
		off += n;
	}
	if (do_fsync && ebb_fsync(f) != 0) {
		e = errno;
		diag("ebb_fsync(%s): %s", path, strerror(e));
		ebb_close(f);
		goto out;
	}
	if (ebb_close(f) != 0) {
		e = errno;
		diag("ebb_close(%s): %s", path, strerror(e));
		goto out;
	}
	rc = 0;
out:
	free(buf);
	errno = e;
	return rc;
}

int ct_verify_file(ebb_t *h, const char *path, uint64_t len, uint64_t seed,
		   size_t chunk)
{
	unsigned char *buf = tap_malloc(chunk);
	struct ebb_stat st;
	ebb_file_t *f;
	uint64_t off = 0;
	int rc = -1;

	f = ebb_open(h, path, O_RDONLY, 0);
	if (!f) {
		diag("ebb_open(%s, O_RDONLY): %s", path, strerror(errno));
		goto out;
	}
	if (ebb_fstat(f, &st) != 0 || st.size != len) {
		diag("%s: size %llu, expected %llu (%s)", path,
		     (unsigned long long)st.size, (unsigned long long)len,
		     strerror(errno));
		ebb_close(f);
		goto out;
	}
	while (off < len) {
		size_t n = len - off < chunk ? (size_t)(len - off) : chunk;
		ssize_t r = ebb_pread(f, buf, n, (off_t)off);
		size_t bad;
		if (r != (ssize_t)n) {
			diag("ebb_pread(%s, %zu at %llu) = %zd: %s", path, n,
			     (unsigned long long)off, r,
			     r < 0 ? strerror(errno) : "short read");
			ebb_close(f);
			goto out;
		}
		bad = ct_check(buf, n, seed, off);
		if (bad != (size_t)-1) {
			diag("%s: byte %llu differs", path,
			     (unsigned long long)(off + bad));
			ebb_close(f);
			goto out;
		}
		off += n;
	}
	{
		/* at EOF: a read returns 0 */
		ssize_t r = ebb_pread(f, buf, 1, (off_t)len);
		if (r != 0) {
			diag("%s: read at EOF returned %zd", path, r);
			ebb_close(f);
			goto out;
		}
	}
	rc = ebb_close(f);
	if (rc != 0)
		diag("ebb_close(%s): %s", path, strerror(errno));
out:
	free(buf);
	return rc;
}

double ct_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
