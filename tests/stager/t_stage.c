/* SPDX-License-Identifier: GPL-2.0-or-later */
/* t_stage: the stage.t driver: one libebb operation per run, so the shell
 * test can mix it with awscli.  Members come from $EBB_NODES.
 *
 *   t_stage create ID [STRIPE [CAPACITY]] instance on every node (capacity
 *                                         per node, default 4 GiB)
 *   t_stage start ID NAME in|out SRC DST [TYPE [UID GID [deferred]]]
 *   t_stage wait ID NAME [SECONDS]        until done/failed/cancelled;
 *                                         prints the status; 0 if done
 *   t_stage status ID NAME                one status line
 *   t_stage retry|cancel ID NAME
 *   t_stage tree ID PATH                  "type mode uid gid size mtime_ns
 *                                         sha256|target path" per entry
 *   t_stage cat ID PATH                   the file to stdout
 *   t_stage put ID PATH SIZE SEED         write SIZE pseudo-random bytes
 *   t_stage mkdir ID PATH
 *   t_stage touch ID PATH                 set the mtime of every regular
 *                                         file under PATH to now (so that
 *                                         stage-out sees it as changed);
 *                                         prints how many
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "ebb/ebb.h"

static char **_members;
static unsigned _n;

static void _nodes(void)
{
	char *s = getenv("EBB_NODES"), *tok, *save = NULL;

	if (!s) {
		fprintf(stderr, "EBB_NODES not set\n");
		exit(2);
	}
	s = strdup(s);
	for (tok = strtok_r(s, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		_members = realloc(_members, (_n + 1) * sizeof(char *));
		_members[_n++] = tok;
	}
}

static ebb_t *_attach(const char *id)
{
	ebb_t *h = ebb_attach(id, (const char *const *)_members, _n, NULL);

	if (!h) {
		perror("ebb_attach");
		exit(1);
	}
	return h;
}

static void _print_status(const struct ebb_stage_status *s)
{
	printf("state=%s files=%" PRIu64 "/%" PRIu64 " failed=%" PRIu64
	       " skipped=%" PRIu64 " bytes=%" PRIu64 "/%" PRIu64
	       " report=%s retries=%" PRIu64 "\n", s->state, s->files_done,
	       s->files_total, s->files_failed, s->files_skipped,
	       s->bytes_done, s->bytes_total, s->report ? s->report : "-",
	       s->retries);
	for (unsigned i = 0; i < s->nnodes; i++)
		printf("node %u: %s files %" PRIu64 "/%" PRIu64 " failed %"
		       PRIu64 " bytes %" PRIu64 "/%" PRIu64 " retries %" PRIu64
		       "\n", s->nodes[i].rank, s->nodes[i].state,
		       s->nodes[i].files_done, s->nodes[i].files_total,
		       s->nodes[i].files_failed, s->nodes[i].bytes_done,
		       s->nodes[i].bytes_total, s->nodes[i].retries);
	if (s->error)
		printf("error: %s\n", s->error);
}

static int _status(const char *id, const char *name, bool print,
		   char *state, size_t statelen)
{
	struct ebb_stage_status *l = NULL;
	unsigned n = 0;

	if (ebb_stage_status(id, (const char *const *)_members, _n, name,
			     NULL, &l, &n) != 0) {
		fprintf(stderr, "status: %s\n", strerror(errno));
		return -1;
	}
	if (n != 1) {
		ebb_stage_status_free(l, n);
		return -1;
	}
	snprintf(state, statelen, "%s", l[0].state);
	if (print)
		_print_status(&l[0]);
	ebb_stage_status_free(l, n);
	return 0;
}

static int _sha(ebb_t *h, const char *path, char *hex)
{
	unsigned char md[32], *buf = malloc(4 << 20);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ebb_file_t *f = ebb_open(h, path, O_RDONLY, 0);
	off_t off = 0;
	ssize_t r;

	if (!f || !buf)
		return -1;
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((r = ebb_pread(f, buf, 4 << 20, off)) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)r);
		off += r;
	}
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	ebb_close(f);
	free(buf);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	return r < 0 ? -1 : 0;
}

static void _tree(ebb_t *h, const char *dir)
{
	ebb_dir_t *d = ebb_opendir(h, dir);
	struct ebb_dirent e;

	if (!d) {
		fprintf(stderr, "opendir %s: %s\n", dir, strerror(errno));
		exit(1);
	}
	while (ebb_readdir(d, &e) == 1) {
		char path[8192], extra[4200] = "-";
		struct ebb_stat st;

		snprintf(path, sizeof(path), "%s%s%s", dir,
			 strcmp(dir, "/") ? "/" : "", e.name);
		if (ebb_lstat(h, path, &st) != 0) {
			fprintf(stderr, "lstat %s: %s\n", path,
				strerror(errno));
			exit(1);
		}
		if (S_ISREG(st.mode) && _sha(h, path, extra) != 0) {
			fprintf(stderr, "read %s: %s\n", path, strerror(errno));
			exit(1);
		}
		if (S_ISLNK(st.mode)) {
			ssize_t n = ebb_readlink(h, path, extra,
						 sizeof(extra) - 1);
			extra[n > 0 ? n : 0] = 0;
		}
		printf("%c %04o %u %u %" PRIu64 " %" PRId64 " %s %s\n",
		       S_ISDIR(st.mode) ? 'd' : S_ISLNK(st.mode) ? 'l' : 'f',
		       (unsigned)(st.mode & 07777), (unsigned)st.uid,
		       (unsigned)st.gid, S_ISDIR(st.mode) ? 0 : st.size,
		       (int64_t)st.mtime.tv_sec * 1000000000 +
			       st.mtime.tv_nsec, extra, path);
		if (S_ISDIR(st.mode))
			_tree(h, path);
	}
	ebb_closedir(d);
}

/* Set the times of every regular file under dir to ts; count them. */
static unsigned long _touch(ebb_t *h, const char *dir,
			    const struct timespec ts[2])
{
	ebb_dir_t *d = ebb_opendir(h, dir);
	struct ebb_dirent e;
	unsigned long k = 0;

	if (!d) {
		fprintf(stderr, "opendir %s: %s\n", dir, strerror(errno));
		exit(1);
	}
	while (ebb_readdir(d, &e) == 1) {
		char path[8192];

		snprintf(path, sizeof(path), "%s%s%s", dir,
			 strcmp(dir, "/") ? "/" : "", e.name);
		if (S_ISDIR(e.mode)) {
			k += _touch(h, path, ts);
		} else if (S_ISREG(e.mode)) {
			if (ebb_utimens(h, path, ts) != 0) {
				fprintf(stderr, "utimens %s: %s\n", path,
					strerror(errno));
				exit(1);
			}
			k++;
		}
	}
	ebb_closedir(d);
	return k;
}

int main(int argc, char **argv)
{
	char err[1024] = "", state[32];
	const char *cmd = argc > 1 ? argv[1] : "";

	_nodes();
	if (!strcmp(cmd, "create") && argc >= 3) {
		struct ebb_instance_spec s = {
			.id = argv[2], .members = (const char *const *)_members,
			.nmembers = _n,
			.stripe_size = argc > 3 ? strtoull(argv[3], NULL, 0) :
						  1 << 20,
			.capacity = argc > 4 ? strtoull(argv[4], NULL, 0) :
					       4ull << 30,
		};
		if (ebb_instance_create(&s, NULL, err, sizeof(err)) != 0) {
			fprintf(stderr, "create: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (!strcmp(cmd, "start") && argc >= 7) {
		const char *groups[1] = {"root"};
		struct ebb_stage_spec s = {
			.name = argv[3],
			.dir = !strcmp(argv[4], "out") ? EBB_STAGE_OUT :
							 EBB_STAGE_IN,
			.source = argv[5], .destination = argv[6],
			.type = argc > 7 ? atoi(argv[7]) : 0,
			.uid = argc > 8 ? (uid_t)atoi(argv[8]) : 0,
			.gid = argc > 9 ? (gid_t)atoi(argv[9]) : 0,
			.user = "root", .groups = groups, .ngroups = 1,
			.job_id = 42,
			.deferred = argc > 10,
		};
		if (ebb_stage_start(argv[2], (const char *const *)_members, _n,
				    &s, NULL, err, sizeof(err)) != 0) {
			printf("start: %s (%s)\n", err, strerror(errno));
			return 1;
		}
		return 0;
	}
	if (!strcmp(cmd, "wait") && argc >= 4) {
		int secs = argc > 4 ? atoi(argv[4]) : 120;
		time_t end = time(NULL) + secs;

		for (;;) {
			if (_status(argv[2], argv[3], false, state,
				    sizeof(state)) == 0 &&
			    (!strcmp(state, "done") || !strcmp(state, "failed") ||
			     !strcmp(state, "cancelled")))
				break;
			if (time(NULL) > end) {
				printf("timeout\n");
				_status(argv[2], argv[3], true, state,
					sizeof(state));
				return 3;
			}
			usleep(200 * 1000);
		}
		_status(argv[2], argv[3], true, state, sizeof(state));
		return strcmp(state, "done") ? 1 : 0;
	}
	if (!strcmp(cmd, "status") && argc >= 4)
		return _status(argv[2], argv[3], true, state, sizeof(state)) ?
			       1 : 0;
	if ((!strcmp(cmd, "retry") || !strcmp(cmd, "cancel")) && argc >= 4) {
		int rc = (!strcmp(cmd, "retry") ? ebb_stage_retry :
						  ebb_stage_cancel)(
			argv[2], (const char *const *)_members, _n, argv[3],
			NULL, err, sizeof(err));
		if (rc)
			printf("%s: %s\n", cmd, err);
		return rc ? 1 : 0;
	}
	if (!strcmp(cmd, "tree") && argc >= 4) {
		ebb_t *h = _attach(argv[2]);

		_tree(h, argv[3]);
		ebb_detach(h);
		return 0;
	}
	if (!strcmp(cmd, "cat") && argc >= 4) {
		ebb_t *h = _attach(argv[2]);
		ebb_file_t *f = ebb_open(h, argv[3], O_RDONLY, 0);
		char buf[65536];
		off_t off = 0;
		ssize_t r;

		if (!f) {
			perror(argv[3]);
			return 1;
		}
		while ((r = ebb_pread(f, buf, sizeof(buf), off)) > 0) {
			fwrite(buf, 1, (size_t)r, stdout);
			off += r;
		}
		ebb_close(f);
		ebb_detach(h);
		return 0;
	}
	if (!strcmp(cmd, "mkdir") && argc >= 4) {
		ebb_t *h = _attach(argv[2]);
		int rc = ebb_mkdir(h, argv[3], 0755);

		if (rc)
			perror(argv[3]);
		ebb_detach(h);
		return rc ? 1 : 0;
	}
	if (!strcmp(cmd, "put") && argc >= 6) {
		ebb_t *h = _attach(argv[2]);
		size_t size = strtoull(argv[4], NULL, 0);
		uint64_t x = strtoull(argv[5], NULL, 0) | 1;
		unsigned char *buf = malloc(size ? size : 1);
		ebb_file_t *f = ebb_open(h, argv[3],
					 O_CREAT | O_TRUNC | O_WRONLY, 0644);

		for (size_t i = 0; i < size; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (unsigned char)x;
		}
		if (!f || ebb_pwrite(f, buf, size, 0) != (ssize_t)size ||
		    ebb_close(f) != 0) {
			perror(argv[3]);
			return 1;
		}
		ebb_detach(h);
		return 0;
	}
	if (!strcmp(cmd, "touch") && argc >= 4) {
		ebb_t *h = _attach(argv[2]);
		struct timespec ts[2];

		clock_gettime(CLOCK_REALTIME, &ts[0]);
		ts[1] = ts[0];
		printf("%lu\n", _touch(h, argv[3], ts));
		ebb_detach(h);
		return 0;
	}
	fprintf(stderr, "usage: see tests/stager/t_stage.c\n");
	return 2;
}
