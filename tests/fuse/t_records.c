/* SPDX-License-Identifier: GPL-2.0-or-later */
/* t_records: interleaved fixed-size records from several writers into one
 * shared file, and the byte-by-byte check of the result (tests/fuse/shared.t).
 *
 *   t_records write [-d] [-p PIECES] [-s] [-t] [-b RUN] R N FILE0 FILE1 ...
 *   t_records check R N W FILE
 *
 * write: one child process per FILE (FILEi is the same file seen through
 * mount i), W = the number of FILEs.  Record k (0 <= k < W * N) is R bytes
 * at offset k * R and belongs to writer k mod W, so every page the records
 * share holds bytes of several writers: the pattern (IOR's "hard" one) that
 * a page read-modify-write anywhere between write(2) and the disks turns
 * into lost bytes.  The parent creates FILE0 empty (with -t: then truncates
 * it to its full size, W * N * R bytes of zeros, so that a page
 * read-modify-write reads real data rather than zero-filling past the end
 * of file), forks the writers, each
 * opens its FILE (O_DIRECT with -d) and says it is ready; only when all are
 * ready does the parent let them go (one pipe they all wait on), so their
 * writes interleave in time.  With -b RUN, record k belongs to writer
 * (k / RUN) mod W instead: each writer writes runs of RUN adjacent
 * records, so its consecutive writes extend each other (what libebb's
 * write-behind gathers) across records and pages, with other writers'
 * bytes right before and after each run.  Each writes its records in ascending order,
 * each with pwrite(2) (with -s: lseek(2) + write(2)), in PIECES calls of
 * uneven sizes (-p, default 1), then closes and exits.  The parent waits for
 * every writer; the exit status is 0 when every write and close succeeded.
 * With -d the buffer is 4096-aligned; sizes and offsets are what R makes them.
 *
 * check: reads FILE to its end and compares every byte with what it should
 * be; the expectation is computed here from (record, position), never read
 * back.  Byte j of record k is a mix of k and j in 1..255: a hole (zero), a
 * byte of another record or a stale byte is always detectable, and the
 * first wrong offset names its record and writer.  Prints one line: "ok"
 * and the size, or what is wrong (size, number of wrong bytes and records,
 * the first wrong offset).  Exit 0 when the size and every byte are right,
 * 1 when not, 2 on a usage or I/O error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK (1u << 20)

/* when a writer wrote its first and its last record (shared with the
 * parent): says how long the writers really wrote at the same time */
struct span {
	double first, last;
};

static double _now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* byte j of record k: never 0, different for neighbouring records */
static unsigned char _byte(uint64_t k, uint64_t j)
{
	uint64_t x = (k + 1) * 0x9E3779B97F4A7C15ull ^ (j + 1) * 0xC2B2AE3D27D4EB4Full;

	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 29;
	return (unsigned char)(x % 255 + 1);
}

static int _usage(void)
{
	fprintf(stderr, "usage: t_records write [-d] [-p PIECES] [-s] [-t] [-b RUN] R N FILE...\n"
			"       t_records check R N W FILE\n");
	return 2;
}

static int _num(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end ? -1 : 0;
}

/* one piece: all of it, at off, with pwrite or lseek + write */
static int _put(int fd, const unsigned char *p, size_t n, uint64_t off,
		int seek)
{
	while (n > 0) {
		ssize_t w;

		if (seek) {
			if (lseek(fd, (off_t)off, SEEK_SET) != (off_t)off)
				return -1;
			w = write(fd, p, n);
		} else {
			w = pwrite(fd, p, n, (off_t)off);
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* writer i of w: open, ready, wait for go, write its records, close */
static int _writer(const char *path, unsigned i, unsigned w, uint64_t r,
		   uint64_t n, int direct, unsigned pieces, int seek,
		   uint64_t run, int ready, int go, struct span *span)
{
	unsigned char *buf;
	char c = 'r';
	int fd;

	if (posix_memalign((void **)&buf, 4096, r ? r : 1) != 0) {
		fprintf(stderr, "writer %u: out of memory\n", i);
		return 1;
	}
	fd = open(path, O_WRONLY | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		fprintf(stderr, "writer %u: open %s: %s\n", i, path, strerror(errno));
		return 1;
	}
	/* ready, and no more: the parent's read sees EOF if a writer dies */
	if (write(ready, &c, 1) != 1 || close(ready) != 0 || read(go, &c, 1) != 0) {
		fprintf(stderr, "writer %u: the start barrier broke\n", i);
		return 1;
	}
	span->first = _now();
	for (uint64_t k = 0; k < n * w; k++) {
		uint64_t at = 0;

		if (k / run % w != i)
			continue;

		for (uint64_t j = 0; j < r; j++)
			buf[j] = _byte(k, j);
		/* uneven pieces: the first ones 1/(2 PIECES) short of even */
		for (unsigned p = 0; p < pieces && at < r; p++) {
			uint64_t len = p + 1 == pieces ? r - at : r / pieces - r / (2 * pieces);

			if (len == 0)
				len = 1;
			if (_put(fd, buf + at, len, k * r + at, seek) != 0) {
				fprintf(stderr, "writer %u: record %" PRIu64 " piece %u (%" PRIu64
					" bytes at %" PRIu64 "): %s\n", i, k, p, len, k * r + at,
					strerror(errno));
				return 1;
			}
			at += len;
		}
	}
	span->last = _now();
	if (close(fd) != 0) {
		fprintf(stderr, "writer %u: close: %s\n", i, strerror(errno));
		return 1;
	}
	free(buf);
	return 0;
}

static int _write(int argc, char **argv)
{
	int direct = 0, seek = 0, presize = 0, opt, ready[2], go[2], st, bad = 0;
	uint64_t run = 1;
	unsigned pieces = 1, w;
	uint64_t r, n, v;
	double from = 0, to = 1e300, all = 0, start = 1e300, end = 0;
	struct span *span;
	pid_t *pid;
	char c;
	int fd;

	while ((opt = getopt(argc, argv, "b:dp:st")) != -1) {
		switch (opt) {
		case 'd': direct = 1; break;
		case 's': seek = 1; break;
		case 't': presize = 1; break;
		case 'b':
			if (_num(optarg, &run) != 0 || run == 0)
				return _usage();
			break;
		case 'p':
			if (_num(optarg, &v) != 0 || v == 0 || v > 1000)
				return _usage();
			pieces = (unsigned)v;
			break;
		default: return _usage();
		}
	}
	if (argc - optind < 3 || _num(argv[optind], &r) != 0 || r == 0 ||
	    _num(argv[optind + 1], &n) != 0)
		return _usage();
	argv += optind + 2;
	w = (unsigned)(argc - optind - 2);
	if ((fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 ||
	    (presize && ftruncate(fd, (off_t)(r * n * w)) != 0) || close(fd) != 0) {
		fprintf(stderr, "create %s: %s\n", argv[0], strerror(errno));
		return 2;
	}
	span = mmap(NULL, w * sizeof(*span), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (span == MAP_FAILED || pipe(ready) != 0 || pipe(go) != 0 ||
	    !(pid = calloc(w, sizeof(*pid))))
		return 2;
	for (unsigned i = 0; i < w; i++) {
		if ((pid[i] = fork()) < 0) {
			perror("fork");
			return 2;
		}
		if (pid[i] == 0) {
			close(ready[0]);
			close(go[1]);
			_exit(_writer(argv[i], i, w, r, n, direct, pieces, seek, run,
				      ready[1], go[0], &span[i]));
		}
	}
	close(ready[1]);
	close(go[0]);
	for (unsigned i = 0; i < w; i++)
		if (read(ready[0], &c, 1) != 1) {
			bad = 1; /* a writer failed before it was ready */
			break;
		}
	close(go[1]); /* go: every writer's read(go) returns 0 */
	for (unsigned i = 0; i < w; i++) {
		if (waitpid(pid[i], &st, 0) != pid[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			bad = 1;
	}
	free(pid);
	/* how long all of them were writing at once: from the last first
	 * record to the first last record (not asserted: a report) */
	for (unsigned i = 0; i < w; i++) {
		from = span[i].first > from ? span[i].first : from;
		to = span[i].last < to ? span[i].last : to;
		start = span[i].first < start ? span[i].first : start;
		end = span[i].last > end ? span[i].last : end;
	}
	if (to > from)
		all = to - from;
	if (!bad)
		printf("all %u writers writing at once for %.3f s of %.3f s\n", w, all,
		       end > start ? end - start : 0.0);
	return bad;
}

static int _check(int argc, char **argv)
{
	uint64_t r, n, w, size, got = 0, wrong = 0, wrong_rec = 0, last_rec = UINT64_MAX;
	uint64_t first = UINT64_MAX;
	unsigned char fexp = 0, fgot = 0, *buf;
	struct stat st;
	ssize_t len;
	int fd;

	if (argc != 6 || _num(argv[2], &r) != 0 || r == 0 || _num(argv[3], &n) != 0 ||
	    _num(argv[4], &w) != 0 || w == 0)
		return _usage();
	size = r * n * w;
	if ((fd = open(argv[5], O_RDONLY)) < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "%s: %s\n", argv[5], strerror(errno));
		return 2;
	}
	if (!(buf = malloc(CHUNK)))
		return 2;
	while ((len = read(fd, buf, CHUNK)) != 0) {
		if (len < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "read %s at %" PRIu64 ": %s\n", argv[5], got,
				strerror(errno));
			return 2;
		}
		for (ssize_t i = 0; i < len; i++) {
			uint64_t off = got + (uint64_t)i, k = off / r;
			unsigned char e = off < size ? _byte(k, off % r) : 0;

			if (buf[i] == e && off < size)
				continue;
			if (off >= size)
				break; /* past the end: the size check says it */
			if (first == UINT64_MAX) {
				first = off;
				fexp = e;
				fgot = buf[i];
			}
			wrong++;
			if (k != last_rec)
				wrong_rec++;
			last_rec = k;
		}
		got += (uint64_t)len;
	}
	close(fd);
	free(buf);
	if (wrong == 0 && got == size && (uint64_t)st.st_size == size) {
		printf("ok: %" PRIu64 " bytes, every one right\n", size);
		return 0;
	}
	printf("size %" PRIu64 " by fstat, %" PRIu64 " bytes read, %" PRIu64 " expected",
	       (uint64_t)st.st_size, got, size);
	if (got < size)
		printf(" (%" PRIu64 " bytes never read: not counted below)", size - got);
	printf("; %" PRIu64 " wrong bytes in %" PRIu64 " records", wrong, wrong_rec);
	if (first != UINT64_MAX)
		printf("; the first at offset %" PRIu64 " (record %" PRIu64
		       " of writer %" PRIu64 " unless -b, its byte %" PRIu64 ", page %" PRIu64
		       " byte %" PRIu64 "): expected 0x%02x, got 0x%02x%s",
		       first, first / r, first / r % w, first % r, first / 4096,
		       first % 4096, fexp, fgot, fgot == 0 ? " (a hole)" : "");
	printf("\n");
	return 1;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "write") == 0)
		return _write(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return _check(argc, argv);
	return _usage();
}
