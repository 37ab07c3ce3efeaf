/* SPDX-License-Identifier: GPL-2.0-or-later */
/* t_lock: a tiny lock script interpreter for tests/fuse/locks.t.
 *
 * t_lock CMD ARGS... [CMD ARGS...]: runs the commands in order on one
 * descriptor and prints one line per result ("setlk=ok",
 * "setlk=EAGAIN", "getlk=w 10 20 1234"), so that a test can compare what
 * two mounts and a local ext4 directory answer.  Commands:
 *   open PATH ro|rw          open (O_CREAT with rw)
 *   setlk|setlkw|ofdsetlk|ofdsetlkw r|w|u START LEN
 *   getlk|ofdgetlk r|w START LEN   -> "unlck" or "r|w START LEN PID"
 *   flock sh|ex|un|shnb|exnb
 *   alarm SEC                SIGALRM handler without SA_RESTART, alarm()
 *   touch PATH / waitfor PATH (60 s at most) / absent PATH
 *   pwrite OFF STRING / pread OFF LEN (-> "pread=BYTES", NULs as '.')
 *   sleep MS / pid / close / dup (a second descriptor) / closedup
 * Exits 0 unless a command is malformed (2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static void _on_alarm(int sig)
{
	(void)sig;
}

static const char *_ename(int e)
{
	switch (e) {
	case EAGAIN: return "EAGAIN";
	case EACCES: return "EACCES";
	case EINTR: return "EINTR";
	case EINVAL: return "EINVAL";
	case EBADF: return "EBADF";
	case EDEADLK: return "EDEADLK";
	case ENOLCK: return "ENOLCK";
	default: return strerror(e);
	}
}

static short _type(const char *s)
{
	return s[0] == 'r' ? F_RDLCK : s[0] == 'w' ? F_WRLCK : F_UNLCK;
}

static void _msleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	int fd = -1, fd2 = -1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		const char *c = argv[i];

#define NEED(n) do { if (i + (n) >= argc) { \
	fprintf(stderr, "t_lock: %s needs %d arguments\n", c, n); \
	return 2; } } while (0)
		if (!strcmp(c, "open")) {
			NEED(2);
			fd = open(argv[i + 1], !strcmp(argv[i + 2], "ro") ?
				  O_RDONLY : O_RDWR | O_CREAT, 0644);
			printf("open=%s\n", fd < 0 ? _ename(errno) : "ok");
			i += 2;
		} else if (!strcmp(c, "setlk") || !strcmp(c, "setlkw") ||
			   !strcmp(c, "ofdsetlk") || !strcmp(c, "ofdsetlkw") ||
			   !strcmp(c, "getlk") || !strcmp(c, "ofdgetlk")) {
			struct flock fl = {0};
			int cmd;

			NEED(3);
			fl.l_type = _type(argv[i + 1]);
			fl.l_whence = SEEK_SET;
			fl.l_start = atoll(argv[i + 2]);
			fl.l_len = atoll(argv[i + 3]);
			i += 3;
			cmd = !strcmp(c, "setlk") ? F_SETLK :
			      !strcmp(c, "setlkw") ? F_SETLKW :
			      !strcmp(c, "ofdsetlk") ? F_OFD_SETLK :
			      !strcmp(c, "ofdsetlkw") ? F_OFD_SETLKW :
			      !strcmp(c, "getlk") ? F_GETLK : F_OFD_GETLK;
			if (fcntl(fd, cmd, &fl) != 0) {
				printf("%s=%s\n", c, _ename(errno));
			} else if (cmd == F_GETLK || cmd == F_OFD_GETLK) {
				if (fl.l_type == F_UNLCK)
					printf("%s=unlck\n", c);
				else
					printf("%s=%c %lld %lld %d\n", c,
					       fl.l_type == F_RDLCK ? 'r' : 'w',
					       (long long)fl.l_start,
					       (long long)fl.l_len,
					       (int)fl.l_pid);
			} else {
				printf("%s=ok\n", c);
			}
		} else if (!strcmp(c, "flock")) {
			const char *a;
			int op;

			NEED(1);
			a = argv[++i];
			op = !strncmp(a, "sh", 2) ? LOCK_SH :
			     !strncmp(a, "ex", 2) ? LOCK_EX : LOCK_UN;
			if (strstr(a, "nb"))
				op |= LOCK_NB;
			printf("flock=%s\n", flock(fd, op) ? _ename(errno) :
			       "ok");
		} else if (!strcmp(c, "alarm")) {
			struct sigaction sa;

			NEED(1);
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = _on_alarm; /* no SA_RESTART */
			sigaction(SIGALRM, &sa, NULL);
			alarm((unsigned)atoi(argv[++i]));
		} else if (!strcmp(c, "touch")) {
			int t;

			NEED(1);
			t = open(argv[++i], O_WRONLY | O_CREAT, 0644);
			if (t >= 0)
				close(t);
		} else if (!strcmp(c, "waitfor")) {
			int k;

			NEED(1);
			i++;
			for (k = 0; k < 600 && access(argv[i], F_OK); k++)
				_msleep(100);
			if (k == 600)
				printf("waitfor=timeout %s\n", argv[i]);
		} else if (!strcmp(c, "absent")) {
			NEED(1);
			i++;
			printf("absent=%s\n", access(argv[i], F_OK) ?
			       "yes" : "no");
		} else if (!strcmp(c, "pwrite")) {
			ssize_t n;

			NEED(2);
			n = pwrite(fd, argv[i + 2], strlen(argv[i + 2]),
				   atoll(argv[i + 1]));
			printf("pwrite=%s\n", n < 0 ? _ename(errno) : "ok");
			i += 2;
		} else if (!strcmp(c, "pread")) {
			char buf[4096];
			ssize_t n;
			size_t len;

			NEED(2);
			len = (size_t)atol(argv[i + 2]);
			if (len > sizeof(buf))
				len = sizeof(buf);
			n = pread(fd, buf, len, atoll(argv[i + 1]));
			if (n < 0) {
				printf("pread=%s\n", _ename(errno));
			} else {
				for (ssize_t k = 0; k < n; k++)
					if (!buf[k])
						buf[k] = '.';
				printf("pread=%.*s\n", (int)n, buf);
			}
			i += 2;
		} else if (!strcmp(c, "sleep")) {
			NEED(1);
			_msleep(atol(argv[++i]));
		} else if (!strcmp(c, "pid")) {
			printf("pid=%d\n", (int)getpid());
		} else if (!strcmp(c, "close")) {
			printf("close=%s\n", close(fd) ? _ename(errno) : "ok");
			fd = -1;
		} else if (!strcmp(c, "dup")) {
			fd2 = dup(fd);
		} else if (!strcmp(c, "closedup")) {
			close(fd2);
			fd2 = -1;
		} else {
			fprintf(stderr, "t_lock: unknown command %s\n", c);
			return 2;
		}
	}
	return 0;
}
