/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A node dies: calls that need it fail (EIO or ETIMEDOUT, never a hang),
 * calls that do not still work, and after a restart every fsync'd byte is
 * back.  Driven in phases by fault.t, which kills, stops and restarts the
 * daemon in between (only the test shell may start daemons, so that it
 * reaps them):
 *
 *   t_fault create            create $EBB_INSTANCE on $EBB_NODES
 *   t_fault write  DIR        write and fsync files; SHA-256 sums and the
 *                             rank to kill go to DIR/fault.sums, DIR/victim
 *   t_fault down   DIR        with the victim dead or stopped: failures
 *   t_fault verify DIR        every file equals its sum; new writes work
 *   t_fault links  DIR        hard links whose records live on rank
 *                             LINK_VICTIM, listed from lower ranks
 *   t_fault linksdown DIR     with LINK_VICTIM dead or stopped: a listing
 *                             gives those entries (their type), then fails
 *   t_fault destroy
 *
 * Each phase prints its own TAP stream (fault.t counts each as one check).
 * The victim is a rank that does not hold the root's dentry, so that path
 * walks still start.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctest.h"
#include "placement.h"
#include "proto.h"
#include "tap.h"

#define MiB (1024ULL * 1024)
#define NBIG 6

static uint64_t _size(int i) { return 9 * MiB + (uint64_t)i * 777777; }

/* The rank holding dentry (parent, name). */
static unsigned _dnode(uint64_t parent, const char *name, unsigned n)
{
	return placement_dentry_node(parent, name, strlen(name), n);
}

static unsigned _victim(unsigned n)
{
	return (placement_dentry_node(PROTO_ROOT_PARENT, "", 0, n) + 1) % n;
}

static char *_path(const char *dir, const char *name)
{
	return tap_asprintf("%s/%s", dir, name);
}

static int _is_down_err(int e)
{
	return e == EIO || e == ETIMEDOUT;
}

static int phase_write(struct ctest *c, const char *dir)
{
	char *sums = _path(dir, "fault.sums"), *vf = _path(dir, "victim");
	FILE *out = fopen(sums, "w"), *vout = fopen(vf, "w");
	unsigned v = _victim(c->nmembers), placed = 0;

	if (!out || !vout)
		sysbail("writing %s", sums);
	fprintf(vout, "%u\n", v);
	fclose(vout);
	diag("victim: rank %u (the root dentry is on rank %u)", v,
	     placement_dentry_node(PROTO_ROOT_PARENT, "", 0, c->nmembers));
	for (int i = 0; i < NBIG; i++) {
		char p[32], hex[65];
		struct ct_sha *s = ct_sha_new();
		unsigned char *buf = tap_malloc(_size(i));

		snprintf(p, sizeof(p), "/big%d", i);
		ct_fill(buf, _size(i), 40 + (uint64_t)i, 0);
		ct_sha_update(s, buf, _size(i));
		ct_sha_final(s, hex);
		free(buf);
		is_int(ct_write_file(c->h, p, _size(i), 40 + (uint64_t)i,
				     (size_t)(2 * MiB + 3), 1), 0,
		       "write and fsync %s (%llu bytes, all nodes)", p,
		       (unsigned long long)_size(i));
		fprintf(out, "%s %llu %d %s\n", p, (unsigned long long)_size(i),
			40 + i, hex);
	}
	/* small files: one whose dentry and data avoid the victim, one whose
	 * dentry is on it */
	for (int i = 0; i < 200 && placed != 3; i++) {
		char name[32], p[40];
		struct ebb_stat st;
		snprintf(name, sizeof(name), "small%d", i);
		snprintf(p, sizeof(p), "/%s", name);
		if (_dnode(PROTO_ROOT_INO, name, c->nmembers) == v) {
			if (placed & 1)
				continue;
			placed |= 1;
			fprintf(out, "ondead %s\n", p);
		} else {
			if (placed & 2)
				continue;
			if (ct_write_file(c->h, p, 1000, 7, 1000, 1) != 0 ||
			    ebb_stat(c->h, p, &st) != 0)
				continue;
			if (placement_stripe_node(st.ino, 0, c->nmembers) == v) {
				ebb_unlink(c->h, p);
				continue;
			}
			placed |= 2;
			fprintf(out, "alive %s\n", p);
			continue;
		}
		is_int(ct_write_file(c->h, p, 1000, 7, 1000, 1), 0,
		       "small file %s with its dentry on the victim", p);
	}
	is_int(placed, 3, "found names on and off the victim");
	fclose(out);
	free(sums);
	free(vf);
	return 0;
}

static int phase_down(struct ctest *c, const char *dir)
{
	char *sums = _path(dir, "fault.sums"), line[256];
	FILE *in = fopen(sums, "r");
	char ondead[64] = "", alive[64] = "";
	struct ebb_stat st;
	ebb_file_t *f;
	unsigned char *buf = tap_malloc(MiB);
	ssize_t r;
	int e, werr = 0;
	double t0 = ct_now();

	if (!in)
		sysbail("%s", sums);
	while (fgets(line, sizeof(line), in)) {
		sscanf(line, "ondead %63s", ondead);
		sscanf(line, "alive %63s", alive);
	}
	fclose(in);
	diag("timeout %u ms per round trip", c->opts.timeout_ms);

	/* metadata on the dead node */
	errno = 0;
	r = ebb_stat(c->h, ondead, &st);
	e = errno;
	ok(r == -1 && _is_down_err(e), "stat %s (dentry on the dead node) "
	   "fails with EIO/ETIMEDOUT: %s", ondead, strerror(e));
	{
		/* a new name whose dentry would be on the victim */
		unsigned v = _victim(c->nmembers);
		char name[32] = "", p[40];
		for (int i = 0; i < 1000; i++) {
			snprintf(name, sizeof(name), "new%d", i);
			if (_dnode(PROTO_ROOT_INO, name, c->nmembers) == v)
				break;
		}
		snprintf(p, sizeof(p), "/%s", name);
		errno = 0;
		f = ebb_open(c->h, p, O_CREAT | O_WRONLY, 0644);
		e = errno;
		ok(!f && _is_down_err(e), "create %s (dentry on the dead node) "
		   "fails with EIO/ETIMEDOUT: %s", p, f ? "succeeded" : strerror(e));
		if (f)
			ebb_close(f);
	}

	/* data on the dead node: a big file's stripes are on every node */
	f = ebb_open(c->h, "/big0", O_RDONLY, 0);
	if (!f) {
		e = errno;
		ok(_is_down_err(e) || e == 0, "open /big0: %s", strerror(e));
		skip("cannot open /big0");
	} else {
		uint64_t off;
		ok(1, "open /big0 (its dentry is on a live node or cached)");
		errno = 0;
		r = 0;
		for (off = 0; off < _size(0); off += MiB) {
			r = ebb_pread(f, buf, MiB, (off_t)off);
			if (r < 0)
				break;
		}
		e = errno;
		ok(r == -1 && _is_down_err(e), "reading all of /big0 fails with "
		   "EIO/ETIMEDOUT: %s", r < 0 ? strerror(e) : "every read succeeded");
		ebb_close(f);
	}
	f = ebb_open(c->h, "/big1", O_WRONLY, 0);
	if (f) {
		uint64_t off;
		ct_fill(buf, MiB, 99, 0);
		for (off = 0; off < _size(1) && !werr; off += MiB)
			if (ebb_pwrite(f, buf, MiB, (off_t)off) < 0)
				werr = errno;
		if (!werr && ebb_fsync(f) != 0)
			werr = errno;
		if (ebb_close(f) != 0 && !werr)
			werr = errno;
	} else {
		werr = errno;
	}
	ok(_is_down_err(werr), "overwriting /big1 fails at pwrite, fsync or "
	   "close with EIO/ETIMEDOUT: %s", werr ? strerror(werr) : "no error");

	{
		/* write-behind: a write to a stripe on the dead node returns
		 * (the reply is not awaited), the error comes at close */
		uint64_t stripe = ebb_stripe_size(c->h), k = 0;
		unsigned v = _victim(c->nmembers);
		int wr = -1;
		errno = 0;
		f = ebb_open(c->h, alive[0] ? alive : "/big2", O_WRONLY, 0);
		if (f && ebb_fstat(f, &st) == 0) {
			while (placement_stripe_node(st.ino, k, c->nmembers) != v)
				k++;
			ct_fill(buf, 4096, 98, 0);
			wr = (int)ebb_pwrite(f, buf, 4096, (off_t)(k * stripe));
		}
		ok(wr == 4096, "write-behind: a write to a stripe on the dead "
		   "node returns: %s", wr == 4096 ? "yes" : strerror(errno));
		errno = 0;
		e = f ? ebb_close(f) : 0;
		ok(e == -1 && _is_down_err(errno), "and ebb_close reports "
		   "EIO/ETIMEDOUT: %s", e ? strerror(errno) : "no error");
	}

	/* what does not need the dead node still works */
	if (alive[0]) {
		is_int(ct_verify_file(c->h, alive, 1000, 7, 1000), 0,
		       "%s (dentry and data on live nodes) still reads", alive);
	} else {
		skip("no file placed off the victim");
	}
	diag("the down phase took %.1f s (not asserted)", ct_now() - t0);
	free(buf);
	free(sums);
	return 0;
}

static int phase_verify(struct ctest *c, const char *dir)
{
	char *sums = _path(dir, "fault.sums"), line[256];
	FILE *in = fopen(sums, "r");
	unsigned char *buf = tap_malloc(4 * MiB);

	if (!in)
		sysbail("%s", sums);
	while (fgets(line, sizeof(line), in)) {
		char p[64], want[65], got[65];
		unsigned long long size;
		int seed;
		ebb_file_t *f;
		struct ct_sha *s;
		uint64_t off;
		int good = 1;

		if (sscanf(line, "%63s %llu %d %64s", p, &size, &seed, want) != 4)
			continue;
		f = ebb_open(c->h, p, O_RDONLY, 0);
		if (!f) {
			ok(0, "open %s after the restart: %s", p, strerror(errno));
			continue;
		}
		s = ct_sha_new();
		for (off = 0; off < size; off += 4 * MiB) {
			size_t n = size - off < 4 * MiB ? (size_t)(size - off) : 4 * MiB;
			if (ebb_pread(f, buf, n, (off_t)off) != (ssize_t)n) {
				diag("pread %s at %llu: %s", p,
				     (unsigned long long)off, strerror(errno));
				good = 0;
				break;
			}
			ct_sha_update(s, buf, n);
		}
		ct_sha_final(s, got);
		ebb_close(f);
		ok(good && strcmp(got, want) == 0, "%s: SHA-256 after the restart "
		   "equals the one written", p);
		if (strcmp(got, want) != 0)
			diag("got %s, want %s", got, want);
	}
	fclose(in);
	is_int(ct_write_file(c->h, "/after", 5 * MiB, 3, MiB, 1), 0,
	       "a new 5 MiB file after the restart");
	is_int(ct_verify_file(c->h, "/after", 5 * MiB, 3, MiB), 0, "reads back");
	free(buf);
	free(sums);
	return 0;
}

/* ---- a listing whose hard links' records are on a dead node ------------
 * Listing a directory fetches the records of its linked entries from
 * their home nodes, all of a batch at once (client-lib/dir.c).  Here all
 * the records are on LINK_VICTIM, all the entries' dentries on lower
 * ranks (a listing asks the nodes in rank order), and the directory's own
 * dentry elsewhere too: with LINK_VICTIM down the listing hands out every
 * entry (its type only: the record does not answer) and then fails at
 * LINK_VICTIM's own READDIR with EIO/ETIMEDOUT, never hangs. */
#define LINK_VICTIM 2u
#define NLINKED 8

/* "/lkd-K": the first such name whose dentry is not on LINK_VICTIM. */
static void _lkd(struct ctest *c, char *out, size_t len)
{
	struct ebb_stat root;

	if (ebb_stat(c->h, "/", &root) != 0)
		sysbail("stat /");
	for (int k = 0;; k++) {
		snprintf(out, len, "lkd-%d", k);
		if (placement_dentry_node(root.ino, out, strlen(out),
					  c->nmembers) != LINK_VICTIM)
			break;
	}
	memmove(out + 1, out, strlen(out) + 1);
	out[0] = '/';
}

static int phase_links(struct ctest *c)
{
	struct ebb_stat lk, lkd;
	unsigned made = 0;
	char d[32];

	_lkd(c, d, sizeof(d) - 1);
	if (ebb_mkdir(c->h, "/lk", 0755) != 0 || ebb_mkdir(c->h, d, 0755) ||
	    ebb_stat(c->h, "/lk", &lk) != 0 || ebb_stat(c->h, d, &lkd) != 0)
		sysbail("mkdir /lk, %s", d);
	for (int i = 0; made < NLINKED && i < 100000; i++) {
		char name[32], p[48], q[48];

		snprintf(name, sizeof(name), "h%d", i);
		/* home LINK_VICTIM; the second name's dentry below it */
		if (placement_dentry_node(lk.ino, name, strlen(name),
					  c->nmembers) != LINK_VICTIM ||
		    placement_dentry_node(lkd.ino, name, strlen(name),
					  c->nmembers) >= LINK_VICTIM)
			continue;
		snprintf(p, sizeof(p), "/lk/%s", name);
		snprintf(q, sizeof(q), "%s/%s", d, name);
		if (ct_write_file(c->h, p, 100, 3, 100, 1) != 0 ||
		    ebb_link(c->h, p, q) != 0)
			sysbail("linked file %s", q);
		made++;
	}
	is_int(made, NLINKED, "%u files whose records are on rank %u, with "
	       "second names in %s on lower ranks", NLINKED, LINK_VICTIM, d);
	return 0;
}

static int phase_linksdown(struct ctest *c)
{
	struct ebb_dirent de;
	char d[32];
	ebb_dir_t *dir;
	unsigned n = 0, bad = 0;
	int r, e;

	_lkd(c, d, sizeof(d) - 1);
	if (!(dir = ebb_opendir(c->h, d)))
		sysbail("opendir %s (its dentry is on a live node)", d);
	errno = 0;
	while ((r = ebb_readdir(dir, &de)) == 1) {
		n++;
		bad += de.name[0] != 'h' || !S_ISREG(de.mode);
		errno = 0;
	}
	e = errno;
	ebb_closedir(dir);
	is_int(n, NLINKED, "listing %s with rank %u down: every entry on the "
	       "live ranks is given, though its record does not answer",
	       d, LINK_VICTIM);
	is_int(bad, 0, "... each with its name and type (a regular file)");
	ok(r == -1 && _is_down_err(e), "... then the listing fails at rank "
	   "%u's own entries with EIO/ETIMEDOUT, not a hang: %s", LINK_VICTIM,
	   r == 0 ? "it ended" : strerror(e));
	return 0;
}

int main(int argc, char **argv)
{
	const char *phase = argc > 1 ? argv[1] : "";
	const char *dir = argc > 2 ? argv[2] : ".";
	struct ctest c;
	char err[512] = "";

	plan_lazy();
	if (!getenv("EBB_INSTANCE"))
		bail("EBB_INSTANCE must name the instance");
	if (strcmp(phase, "create") == 0) {
		struct ebb_instance_spec spec = {0};
		ct_env(&c);
		spec.id = getenv("EBB_INSTANCE");
		spec.members = c.members;
		spec.nmembers = c.nmembers;
		spec.capacity = 1024 * MiB;
		ok(ebb_instance_create(&spec, &c.opts, err, sizeof(err)) == 0,
		   "create instance %s: %s", spec.id, err);
		free(c.nodes_str);
		return tap_exit();
	}
	if (strcmp(phase, "destroy") == 0) {
		ct_env(&c);
		ok(ebb_instance_destroy(getenv("EBB_INSTANCE"), c.members,
					c.nmembers, &c.opts, err,
					sizeof(err)) == 0,
		   "destroy the instance: %s", err);
		free(c.nodes_str);
		return tap_exit();
	}
	ct_setup(&c, "unused", 0, 0, 0, 0);
	if (strcmp(phase, "write") == 0)
		phase_write(&c, dir);
	else if (strcmp(phase, "down") == 0)
		phase_down(&c, dir);
	else if (strcmp(phase, "verify") == 0)
		phase_verify(&c, dir);
	else if (strcmp(phase, "links") == 0)
		phase_links(&c);
	else if (strcmp(phase, "linksdown") == 0)
		phase_linksdown(&c);
	else
		bail("unknown phase '%s'", phase);
	ct_teardown(&c);
	return tap_exit();
}
