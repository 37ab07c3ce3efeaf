/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A driver for tap.t: exercises tap.c in one of several modes. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "pass";

	if (strcmp(mode, "skipall") == 0)
		skip_all("nothing to do");
	if (strcmp(mode, "lazy") == 0) {
		plan_lazy();
		ok(1, "one");
		ok(1, "two");
		return tap_exit();
	}
	if (strcmp(mode, "noexit") == 0) {
		plan_lazy();
		ok(1, "one");
		exit(0);
	}
	if (strcmp(mode, "short") == 0) {
		plan(3);
		ok(1, "one");
		return tap_exit();
	}
	plan(6);
	if (strcmp(mode, "fail") == 0) {
		ok(0, "ok");
		is_int(3, 4, "is_int");
		is_str("a", "b", "is_str");
		is_str(NULL, "x", "is_str NULL");
		is_mem("abcd", "abxd", 4, "is_mem");
		is_errno(-1, ENOENT, EACCES, "is_errno");
	} else {
		ok(1, "ok");
		is_int(4, 4, "is_int");
		is_str("b", "b", "is_str");
		is_str(NULL, NULL, "is_str NULL");
		is_mem("abcd", "abcd", 4, "is_mem");
		is_errno(-1, EACCES, EACCES, "is_errno");
	}
	return tap_exit();
}
