/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Size parsing and formatting (see units.h). */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "units.h"

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit _units[] = {
	{"B", 1},
	{"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30},
	{"TiB", 1ULL << 40}, {"PiB", 1ULL << 50},
	{"KB", 1000ULL}, {"kB", 1000ULL}, {"MB", 1000000ULL},
	{"GB", 1000000000ULL}, {"TB", 1000000000000ULL},
	{"PB", 1000000000000000ULL},
};

ebb_err units_parse_size(const char *s, uint64_t *bytes, char *err,
			 size_t errlen)
{
	const char *p = s;
	uint64_t whole = 0, frac = 0, frac_div = 1, mult = 1;
	int ndigits = 0;
	char unit[8];
	size_t ulen;

	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p)) {
		snprintf(err, errlen, "'%s' is not a size: expected a number "
			 "and a unit such as 400GiB or 3.5TB", s);
		return EBB_EINVAL;
	}
	for (; isdigit((unsigned char)*p); p++, ndigits++) {
		uint64_t digit = (uint64_t)(*p - '0');

		if (whole > (UINT64_MAX - digit) / 10)
			goto range;
		whole = whole * 10 + digit;
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p)) {
			snprintf(err, errlen, "'%s': a decimal point needs "
				 "digits after it", s);
			return EBB_EINVAL;
		}
		for (; isdigit((unsigned char)*p); p++) {
			if (frac_div >= 1000000000000ULL) {
				snprintf(err, errlen, "'%s': too many "
					 "decimals", s);
				return EBB_EINVAL;
			}
			frac = frac * 10 + (uint64_t)(*p - '0');
			frac_div *= 10;
		}
	}
	while (*p == ' ')
		p++;
	ulen = strlen(p);
	while (ulen > 0 && isspace((unsigned char)p[ulen - 1]))
		ulen--;
	if (ulen >= sizeof(unit)) {
		snprintf(err, errlen, "'%s': unknown unit", s);
		return EBB_EINVAL;
	}
	memcpy(unit, p, ulen);
	unit[ulen] = '\0';
	if (ulen > 0) {
		size_t i;
		for (i = 0; i < sizeof(_units) / sizeof(_units[0]); i++)
			if (strcmp(unit, _units[i].name) == 0)
				break;
		if (i == sizeof(_units) / sizeof(_units[0])) {
			if (ulen == 1 && strchr("KkMmGgTtPp", unit[0])) {
				char u = (char)toupper((unsigned char)unit[0]);
				snprintf(err, errlen, "'%s': unit '%s' is "
					 "ambiguous: write %ciB (powers of "
					 "1024) or %cB (powers of 1000)", s,
					 unit, u, u);
			} else {
				snprintf(err, errlen, "'%s': unknown unit "
					 "'%s' (use B, KiB, MiB, GiB, TiB, "
					 "PiB, KB, MB, GB, TB or PB)", s, unit);
			}
			return EBB_EINVAL;
		}
		mult = _units[i].mult;
	}
	if (whole != 0 && mult > UINT64_MAX / whole)
		goto range;
	*bytes = whole * mult;
	if (frac) {
		/* frac/frac_div * mult must be a whole number of bytes */
		unsigned __int128 f = (unsigned __int128)frac * mult;
		if (f % frac_div != 0) {
			snprintf(err, errlen, "'%s' is not a whole number of "
				 "bytes", s);
			return EBB_EINVAL;
		}
		f /= frac_div;
		if (f > UINT64_MAX - *bytes)
			goto range;
		*bytes += (uint64_t)f;
	}
	(void)ndigits;
	return EBB_OK;
range:
	snprintf(err, errlen, "'%s' is too large", s);
	return EBB_ERANGE;
}

char *units_format_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB",
				      "EiB"};
	int i = 0;
	double v = (double)bytes;

	while (v >= 1024.0 && i < 6) {
		v /= 1024.0;
		i++;
	}
	if (i == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.4g %s", v, names[i]);
	return buf;
}
