/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebb_idle: libebb across bbd's idle closes, for tests/bbd/flood.t.
 *
 *   ebb_idle ADDR ID IDLE_MS    attach to instance ID via ADDR, then after
 *                               pauses on both sides of IDLE_MS (bbd's
 *                               idle_timeout): create a new file, write,
 *                               read it back, unlink the previous one
 *
 * Run as an ordinary user (root's connections are never closed as idle),
 * the instance's owner.  Every call must succeed: libebb retires a
 * connection it left idle before sending on it, and one bbd closed is
 * reconnected.  Exit status 0 if all went well; "# " lines say what not.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ebb/ebb.h>

static int _round(ebb_t *h, unsigned i)
{
	char path[32], prev[32], want[64], got[64] = "";
	ebb_file_t *f;
	ssize_t n;
	int len;

	snprintf(path, sizeof(path), "/idle%u", i);
	len = snprintf(want, sizeof(want), "round %u of ebb_idle", i);
	if (!(f = ebb_open(h, path, O_CREAT | O_EXCL | O_WRONLY, 0600))) {
		printf("# round %u: create: %s\n", i, strerror(errno));
		return -1;
	}
	n = ebb_pwrite(f, want, (size_t)len, 0);
	if (ebb_close(f) != 0 || n != len) {
		printf("# round %u: write: %s\n", i, strerror(errno));
		return -1;
	}
	if (!(f = ebb_open(h, path, O_RDONLY, 0))) {
		printf("# round %u: open: %s\n", i, strerror(errno));
		return -1;
	}
	n = ebb_pread(f, got, sizeof(got) - 1, 0);
	ebb_close(f);
	if (n != len || memcmp(got, want, (size_t)len) != 0) {
		printf("# round %u: read %zd bytes: '%s'\n", i, n, got);
		return -1;
	}
	snprintf(prev, sizeof(prev), "/idle%u", i - 1);
	if (i > 0 && ebb_unlink(h, prev) != 0) {
		printf("# round %u: unlink: %s\n", i, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	/* pauses in % of the idle timeout: past it (bbd closed the
	 * connection), inside libebb's margin (libebb retires it), and
	 * just short of the margin (the connection is used as it is) */
	static const unsigned pct[] = {130, 90, 80, 70, 95, 140};
	unsigned idle_ms, bad = 0;
	ebb_t *h;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 4) {
		fprintf(stderr, "usage: ebb_idle ADDR ID IDLE_MS\n");
		return 2;
	}
	idle_ms = (unsigned)atoi(argv[3]);
	h = ebb_attach_via(argv[1], argv[2], NULL);
	if (!h) {
		printf("# attach %s via %s: %s\n", argv[2], argv[1],
		       strerror(errno));
		return 1;
	}
	if (_round(h, 0) != 0)
		bad++;
	for (unsigned k = 0; k < sizeof(pct) / sizeof(pct[0]); k++) {
		usleep(idle_ms * pct[k] / 100 * 1000);
		if (_round(h, k + 1) != 0) {
			printf("# after %u%% of the idle timeout\n", pct[k]);
			bad++;
		}
	}
	ebb_detach(h);
	printf("%u of %zu rounds failed\n", bad,
	       sizeof(pct) / sizeof(pct[0]) + 1);
	return bad ? 1 : 0;
}
