/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A small TAP producer for ebb's C tests (the shape of C TAP Harness's basic.h).
 *
 * DESIGN: one test program prints one TAP stream on stdout: a plan ("1..N",
 * first with plan(), last with plan_lazy()), one "ok"/"not ok" line per
 * check, diagnostics as "# " lines on stderr.  tap_exit() closes the
 * stream and gives the exit status: 0 only if every check passed and the
 * number run matched the plan, so a test that dies half-way fails even
 * where the harness would not notice.  Not thread-safe: call it from one
 * thread (tests that run threads collect results and check them after).
 *
 *   int main(void)
 *   {
 *           plan(2);
 *           is_int(1 + 1, 2, "addition");
 *           ok(getenv("HOME") != NULL, "HOME is set");
 *           return tap_exit();
 *   }
 */
#ifndef EBB_TAP_H
#define EBB_TAP_H

#include <stddef.h>

#define TAP_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Announce that n checks follow ("1..n"). */
void plan(int n);
/* The plan is printed by tap_exit() after the last check. */
void plan_lazy(void);
/* Nothing can be tested here: prints "1..0 # SKIP reason" and exits 0. */
void skip_all(const char *fmt, ...) TAP_PRINTF(1, 2) __attribute__((noreturn));

/* One check: "ok N - desc" if cond, else "not ok N - desc".  Returns cond
 * (normalised to 0/1) so a test can stop early on a failure that makes the
 * rest meaningless. */
int ok(int cond, const char *fmt, ...) TAP_PRINTF(2, 3);
/* Checks that compare and print both values on failure. */
int is_int(long long got, long long want, const char *fmt, ...) TAP_PRINTF(3, 4);
/* NULL is a value here: is_str(NULL, NULL, ...) passes. */
int is_str(const char *got, const char *want, const char *fmt, ...) TAP_PRINTF(3, 4);
/* Bytes: prints the first differing offset on failure. */
int is_mem(const void *got, const void *want, size_t len, const char *fmt, ...)
	TAP_PRINTF(4, 5);
/* A check that an errno-setting call failed with the expected errno:
 * passes if ret == -1 (or ret < 0) and err == want. */
int is_errno(long long ret, int err, int want, const char *fmt, ...) TAP_PRINTF(4, 5);

/* Count one check as skipped: "ok N # skip reason". */
void skip(const char *reason, ...) TAP_PRINTF(1, 2);
/* Skip n checks at once with the same reason. */
void skip_block(int n, const char *reason, ...) TAP_PRINTF(2, 3);

/* "# message" on stderr (stdout is the TAP stream). */
void diag(const char *fmt, ...) TAP_PRINTF(1, 2);
/* "Bail out! message" on stdout, then exit(255): the harness stops. */
void bail(const char *fmt, ...) TAP_PRINTF(1, 2) __attribute__((noreturn));
/* Like bail() with ": strerror(errno)" appended. */
void sysbail(const char *fmt, ...) TAP_PRINTF(1, 2) __attribute__((noreturn));

/* Print the lazy plan if needed, say what went wrong, and return the exit
 * status for main(): 0 if all checks passed and the plan matched, else 1. */
int tap_exit(void);

/* Number of checks run and failed so far. */
int tap_count(void);
int tap_failed(void);

/* Allocation helpers that bail() on failure; free with free(). */
void *tap_malloc(size_t n);
char *tap_strdup(const char *s);
char *tap_asprintf(const char *fmt, ...) TAP_PRINTF(1, 2);

#endif
