/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sizes with units: parsing ("400GiB", "3.5TB") and formatting ("1.5 GiB").
 *
 * Accepted: a number (integer or decimal) and an optional unit: B, KiB, MiB,
 * GiB, TiB, PiB (powers of 1024) or KB, MB, GB, TB, PB (powers of 1000);
 * units are case-sensitive as written here, except that "kB" is accepted
 * for KB.  A single letter (K, M, G, T, P) is refused as ambiguous: the
 * error says which two spellings were probably meant.  A decimal must give
 * a whole number of bytes ("0.5B" is refused).
 */
#ifndef EBB_UNITS_H
#define EBB_UNITS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Parse s into *bytes.  On error returns EBB_EINVAL (or EBB_ERANGE on
 * overflow) and writes a one-line reason into err (size errlen). */
ebb_err units_parse_size(const char *s, uint64_t *bytes, char *err,
			 size_t errlen);

/* Format bytes with binary units and up to 3 significant decimals
 * ("1 GiB", "1.5 MiB", "512 B") into buf; returns buf. */
char *units_format_size(uint64_t bytes, char *buf, size_t size);

#endif
