/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the stage engine's geometry (bbd/stage.c): parts of whole
 * stripes, who uploads a part, which members hold work for a file.  The
 * claims of docs/stager.md "Parts and stripes" are checked here over many
 * inodes, stripe sizes and member counts.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ebb/ebb.h"
#include "placement.h"
#include "stage_int.h"
#include "tap.h"

#define MIB (1024ull * 1024)

/* bbd.c's symbols that libbbd refers to (main() lives there). */
int64_t bbd_now_ns(void)
{
	return 0;
}

ebb_err bbd_op_hello(struct bbd_req *r)
{
	return r->status;
}

ebb_err bbd_op_ping(struct bbd_req *r)
{
	return r->status;
}

int main(void)
{
	const uint64_t stripes[] = {4096, 64 * 1024, MIB, 4 * MIB, 5 * MIB,
				    8 * MIB, 16 * MIB};
	bool holds[64];
	unsigned bad_min = 0, bad_owner = 0, bad_cover = 0, bad_holders = 0;

	plan_lazy();
	is_int(stage_part_stripes(MIB, 8 * MIB), 8, "1 MiB stripes: 8 a part");
	is_int(stage_part_stripes(4 * MIB, 8 * MIB), 2, "4 MiB stripes: 2");
	is_int(stage_part_stripes(5 * MIB, 8 * MIB), 2, "5 MiB: 2 (10 MiB)");
	is_int(stage_part_stripes(16 * MIB, 8 * MIB), 1, "16 MiB: one stripe");
	is_int(stage_part_stripes(MIB, 1 * MIB), 5, "parts grow to 5 MiB");
	is_int(stage_nparts(40 * MIB, MIB, 8), 5, "40 MiB in 8 MiB parts: 5");
	is_int(stage_nparts(40 * MIB + 1, MIB, 8), 6, "one byte more: 6");
	is_int(stage_nparts(0, MIB, 8), 0, "empty file: no part");

	for (size_t si = 0; si < sizeof(stripes) / sizeof(*stripes); si++) {
		uint64_t s = stripes[si], ps = stage_part_stripes(s, 8 * MIB);

		if (ps * s < 5 * MIB)
			bad_min++;
		for (uint32_t n = 1; n <= 17; n += 4) {
			for (uint64_t ino = 16; ino < 16 + 200; ino++) {
				uint64_t size = ino * 1234567 % (200 * MIB);
				uint64_t np = stage_nparts(size, s, ps);
				struct stage_file f = {.ino = ino, .size = size,
						       .tag = "upload"};
				unsigned cnt[17], k;

				/* the uploader holds the most of its part */
				for (uint64_t p = 0; p < np; p++) {
					uint32_t up = stage_part_node(ino, p,
								      ps, n);
					uint64_t first = p * ps,
						 last = first + ps;
					uint64_t nst = (size + s - 1) / s;

					if (last > nst)
						last = nst;
					memset(cnt, 0, sizeof(cnt));
					for (uint64_t q = first; q < last; q++)
						cnt[placement_stripe_node(ino, q,
									  n)]++;
					for (k = 0; k < n; k++)
						if (cnt[k] > cnt[up])
							bad_owner++;
				}
				/* parts cover the file exactly */
				if (np * ps * s < size ||
				    (np && (np - 1) * ps * s >= size))
					bad_cover++;
				/* holders = the set of part uploaders */
				k = stage_holders(&f, EBB_STAGE_OUT, s, ps, n,
						  holds);
				{
					unsigned want = 0;
					bool seen[17] = {false};

					for (uint64_t p = 0; p < np; p++) {
						uint32_t up = stage_part_node(
							ino, p, ps, n);
						if (!seen[up]) {
							seen[up] = true;
							want++;
						}
					}
					if (k != want)
						bad_holders++;
				}
			}
		}
	}
	is_int(bad_min, 0, "every part size is >= 5 MiB");
	is_int(bad_owner, 0, "a part's uploader holds the most of its stripes");
	is_int(bad_cover, 0, "parts cover each file, none past its end");
	is_int(bad_holders, 0, "stage-out holders are the part uploaders");

	{
		struct stage_file f = {.ino = 77, .size = 10 * MIB};
		unsigned k = stage_holders(&f, EBB_STAGE_IN, MIB, 8, 3, holds);

		is_int(k, 3, "stage-in: a 10-stripe file has work on 3 of 3");
		f.size = 100;
		k = stage_holders(&f, EBB_STAGE_IN, MIB, 8, 3, holds);
		is_int(k, 1, "stage-in: a small file on one node");
		ok(holds[placement_stripe_node(77, 0, 3)],
		   "... the node of stripe 0");
		f.size = 0;
		is_int(stage_holders(&f, EBB_STAGE_IN, MIB, 8, 3, holds), 0,
		       "stage-in: an empty file has no data work");
		is_int(stage_holders(&f, EBB_STAGE_OUT, MIB, 8, 3, holds), 1,
		       "stage-out: an empty file is one PUT");
	}
	return tap_exit();
}
