/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The TAP producer (see tap.h). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

/* Test programs are single-threaded users of this module: plain statics. */
static int _planned = -1;  /* -1: no plan yet */
static int _lazy;
static int _run;
static int _failed;
static int _done;

/* Runs at exit: a program that exits without tap_exit() (a crash path, an
 * exit() in a helper) must not look like a pass, so with a lazy plan no
 * plan is printed and the harness reports the missing plan. */
static void _atexit(void)
{
	if (_done)
		return;
	_done = 1;
	fflush(stdout);
	fprintf(stderr, "# exited after %d checks without tap_exit()%s\n",
		_run, _lazy ? "; no plan printed" : "");
}

static void _register(void)
{
	static int registered;

	if (!registered) {
		registered = 1;
		atexit(_atexit);
	}
}

static void _vline(const char *prefix, const char *fmt, va_list ap)
{
	fflush(stdout);
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
}

void plan(int n)
{
	if (_planned >= 0 || _lazy)
		bail("plan() called twice");
	_register();
	_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

void plan_lazy(void)
{
	if (_planned >= 0 || _lazy)
		bail("plan_lazy() after a plan");
	_register();
	_lazy = 1;
}

void skip_all(const char *fmt, ...)
{
	va_list ap;

	fputs("1..0 # SKIP ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	_done = 1;
	exit(0);
}

static int _vresult(int cond, const char *fmt, va_list ap)
{
	cond = cond ? 1 : 0;
	_run++;
	if (!cond)
		_failed++;
	printf("%s %d", cond ? "ok" : "not ok", _run);
	if (fmt && *fmt) {
		fputs(" - ", stdout);
		vprintf(fmt, ap);
	}
	putchar('\n');
	fflush(stdout);
	return cond;
}

int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cond = _vresult(cond, fmt, ap);
	va_end(ap);
	return cond;
}

int is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = _vresult(got == want, fmt, ap);
	va_end(ap);
	if (!r) {
		diag("     got: %lld", got);
		diag("expected: %lld", want);
	}
	return r;
}

int is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	int same, r;

	if (got == NULL || want == NULL)
		same = got == want;
	else
		same = strcmp(got, want) == 0;
	va_start(ap, fmt);
	r = _vresult(same, fmt, ap);
	va_end(ap);
	if (!r) {
		diag("     got: %s%s%s", got ? "'" : "", got ? got : "(null)",
		     got ? "'" : "");
		diag("expected: %s%s%s", want ? "'" : "",
		     want ? want : "(null)", want ? "'" : "");
	}
	return r;
}

int is_mem(const void *got, const void *want, size_t len, const char *fmt, ...)
{
	const unsigned char *g = got, *w = want;
	size_t i = 0;
	va_list ap;
	int r;

	if (g && w)
		for (i = 0; i < len && g[i] == w[i]; i++)
			;
	va_start(ap, fmt);
	r = _vresult(g && w && i == len, fmt, ap);
	va_end(ap);
	if (!r) {
		if (!g || !w)
			diag("NULL buffer");
		else
			diag("first difference at byte %zu of %zu: got 0x%02x, "
			     "expected 0x%02x", i, len, g[i], w[i]);
	}
	return r;
}

int is_errno(long long ret, int err, int want, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = _vresult(ret < 0 && err == want, fmt, ap);
	va_end(ap);
	if (!r) {
		if (ret >= 0)
			diag("the call succeeded (returned %lld), expected "
			     "failure with %s", ret, strerror(want));
		else
			diag("errno %d (%s), expected %d (%s)", err,
			     strerror(err), want, strerror(want));
	}
	return r;
}

void skip(const char *reason, ...)
{
	va_list ap;

	_run++;
	printf("ok %d # skip", _run);
	if (reason && *reason) {
		putchar(' ');
		va_start(ap, reason);
		vprintf(reason, ap);
		va_end(ap);
	}
	putchar('\n');
	fflush(stdout);
}

void skip_block(int n, const char *reason, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, reason);
	vsnprintf(buf, sizeof(buf), reason, ap);
	va_end(ap);
	for (int i = 0; i < n; i++)
		skip("%s", buf);
}

void diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	_vline("# ", fmt, ap);
	va_end(ap);
}

void bail(const char *fmt, ...)
{
	va_list ap;

	fflush(stderr);
	fputs("Bail out! ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	_done = 1;
	exit(255);
}

void sysbail(const char *fmt, ...)
{
	int err = errno;
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	bail("%s: %s", buf, strerror(err));
}

int tap_exit(void)
{
	if (_done)
		return _failed ? 1 : 0;
	_done = 1;
	if (_lazy) {
		printf("1..%d\n", _run);
		fflush(stdout);
	}
	if (_planned < 0 && !_lazy) {
		diag("no plan: call plan() or plan_lazy()");
		return 1;
	}
	if (_planned >= 0 && _run != _planned) {
		diag("planned %d checks but ran %d", _planned, _run);
		return 1;
	}
	if (_failed) {
		diag("failed %d of %d checks", _failed, _run);
		return 1;
	}
	return 0;
}

int tap_count(void) { return _run; }
int tap_failed(void) { return _failed; }

void *tap_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		sysbail("malloc(%zu)", n);
	return p;
}

char *tap_strdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		sysbail("strdup");
	return p;
}

char *tap_asprintf(const char *fmt, ...)
{
	char *p;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		sysbail("vasprintf");
	return p;
}
