/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of sizes with units (common/units.c). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "units.h"

#define KI 1024ULL
#define KD 1000ULL

static void _good(const char *s, uint64_t want)
{
	char err[256] = "";
	uint64_t got = 0;
	ebb_err rc = units_parse_size(s, &got, err, sizeof(err));

	if (!ok(rc == EBB_OK && got == want, "'%s' = %" PRIu64, s, want))
		diag("rc %d, got %" PRIu64 ", err '%s'", rc, got, err);
}

/* A refused input: rc as expected, the message non-empty and containing
 * the words given (w1, w2 may be NULL).  The output value is unspecified
 * on error (units.h does not promise to leave it alone). */
static void _bad(const char *s, ebb_err want, const char *w1, const char *w2)
{
	char err[256] = "";
	uint64_t got = 12345;
	ebb_err rc = units_parse_size(s, &got, err, sizeof(err));
	int good = rc == want && err[0] != '\0' &&
		   (!w1 || strstr(err, w1)) && (!w2 || strstr(err, w2));

	if (!ok(good, "'%s' refused with %s%s%s%s%s", s, ebb_errname(want),
		w1 ? ", naming " : "", w1 ? w1 : "", w2 ? " and " : "",
		w2 ? w2 : ""))
		diag("rc %d (%s), err '%s'", rc, ebb_errname(rc), err);
}

static void _fmt(uint64_t v, const char *want)
{
	char buf[32];

	is_str(units_format_size(v, buf, sizeof(buf)), want,
	       "format %" PRIu64, v);
}

int main(void)
{
	char small[4];

	plan_lazy();

	/* binary and decimal units */
	_good("0", 0);
	_good("1", 1);
	_good("512B", 512);
	_good("512 B", 512);
	_good("1KiB", KI);
	_good("1MiB", KI * KI);
	_good("400GiB", 400 * KI * KI * KI);
	_good("2TiB", 2 * KI * KI * KI * KI);
	_good("1PiB", KI * KI * KI * KI * KI);
	_good("1KB", KD);
	_good("1kB", KD);
	_good("5MB", 5 * KD * KD);
	_good("10GB", 10 * KD * KD * KD);
	_good("7TB", 7 * KD * KD * KD * KD);
	_good("2PB", 2 * KD * KD * KD * KD * KD);
	_good("  64 MiB  ", 64 * KI * KI);
	/* decimals */
	_good("3.5TB", 3500000000000ULL);
	_good("0.5KiB", 512);
	_good("1.5GiB", 3 * KI * KI * KI / 2);
	_good("0.25MiB", 256 * KI);
	_good("2.000GB", 2 * KD * KD * KD);
	_good("0.001KB", 1);
	_good("1.0", 1);
	/* limits */
	_good("16383PiB", 16383ULL * KI * KI * KI * KI * KI);
	_good("18446744073709551615", UINT64_MAX);
	_good("18446744073709551615B", UINT64_MAX);
	_good("18446744073709551.615KB", UINT64_MAX);

	/* ambiguous single letters: the message names both spellings */
	_bad("10G", EBB_EINVAL, "GiB", "GB");
	_bad("10g", EBB_EINVAL, "GiB", "GB");
	_bad("1K", EBB_EINVAL, "KiB", "KB");
	_bad("3M", EBB_EINVAL, "MiB", "MB");
	_bad("2T", EBB_EINVAL, "TiB", "TB");
	_bad("1P", EBB_EINVAL, "PiB", "PB");
	/* garbage */
	_bad("", EBB_EINVAL, NULL, NULL);
	_bad("   ", EBB_EINVAL, NULL, NULL);
	_bad("GiB", EBB_EINVAL, NULL, NULL);
	_bad("abc", EBB_EINVAL, NULL, NULL);
	_bad("-1GiB", EBB_EINVAL, NULL, NULL);
	_bad("+1GiB", EBB_EINVAL, NULL, NULL);
	_bad("1.GiB", EBB_EINVAL, NULL, NULL);
	_bad(".5GiB", EBB_EINVAL, NULL, NULL);
	_bad("1..5GiB", EBB_EINVAL, NULL, NULL);
	_bad("1,5GiB", EBB_EINVAL, NULL, NULL);
	_bad("10 GiB extra", EBB_EINVAL, NULL, NULL);
	_bad("10GiBs", EBB_EINVAL, NULL, NULL);
	_bad("10gib", EBB_EINVAL, NULL, NULL);
	_bad("10Gb", EBB_EINVAL, NULL, NULL);
	_bad("10XB", EBB_EINVAL, "XB", NULL);
	_bad("0x10", EBB_EINVAL, NULL, NULL);
	_bad("1e9", EBB_EINVAL, NULL, NULL);
	_bad("0.5B", EBB_EINVAL, "whole", NULL);
	_bad("0.3KiB", EBB_EINVAL, NULL, NULL);
	_bad("1.0000000000001GB", EBB_EINVAL, NULL, NULL);
	/* overflow */
	_bad("18446744073709551616", EBB_ERANGE, NULL, NULL);
	_bad("99999999999999999999999", EBB_ERANGE, NULL, NULL);
	_bad("16384PiB", EBB_ERANGE, NULL, NULL);
	_bad("18446744073709551615KiB", EBB_ERANGE, NULL, NULL);
	_bad("18446744073709551615.5KB", EBB_ERANGE, NULL, NULL);
	_bad("18446744073709551.616KB", EBB_ERANGE, NULL, NULL);

	/* a tiny error buffer is truncated, never overrun */
	{
		uint64_t v;
		memset(small, 'x', sizeof(small));
		ok(units_parse_size("10G", &v, small, sizeof(small)) == EBB_EINVAL &&
		   memchr(small, '\0', sizeof(small)) != NULL,
		   "a 4-byte error buffer gets a terminated message");
	}

	/* formatting */
	_fmt(0, "0 B");
	_fmt(1, "1 B");
	_fmt(1023, "1023 B");
	_fmt(KI, "1 KiB");
	_fmt(1536, "1.5 KiB");
	_fmt(KI * KI, "1 MiB");
	_fmt(3 * KI * KI * KI / 2, "1.5 GiB");
	_fmt(400 * KI * KI * KI, "400 GiB");
	_fmt(KI * KI * KI * KI, "1 TiB");
	_fmt(KI * KI * KI * KI * KI, "1 PiB");
	_fmt(KI * KI * KI * KI * KI * KI, "1 EiB");
	{
		/* what format prints, parse reads back (to its precision) */
		static const uint64_t v[] = {512, 1536, 400 * KI * KI * KI,
					     5 * KI * KI * KI * KI / 4};
		unsigned bad = 0;
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			char buf[32], err[128], nospace[32];
			uint64_t back = 0;
			size_t k = 0;
			units_format_size(v[i], buf, sizeof(buf));
			for (const char *p = buf; *p; p++)
				if (*p != ' ')
					nospace[k++] = *p;
			nospace[k] = '\0';
			if (units_parse_size(buf, &back, err, sizeof(err)) != EBB_OK ||
			    back != v[i]) {
				diag("'%s' reads back as %" PRIu64 " (%s)", buf,
				     back, err);
				bad++;
			}
			if (units_parse_size(nospace, &back, err, sizeof(err)) !=
			    EBB_OK || back != v[i])
				bad++;
		}
		is_int(bad, 0, "formatted sizes parse back to the same value");
	}
	{
		char buf[4];
		units_format_size(400 * KI * KI * KI, buf, sizeof(buf));
		ok(memchr(buf, '\0', sizeof(buf)) != NULL,
		   "a short format buffer is truncated, terminated");
	}
	return tap_exit();
}
