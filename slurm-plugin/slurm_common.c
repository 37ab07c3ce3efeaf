/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Slurm's burst_buffer/common helpers (configuration reader for
 * burst_buffer.conf, state packing for scontrol), compiled from the Slurm
 * source tree given to configure, as Slurm's own burst-buffer plugins do.
 * It is Slurm's code, GPL-2.0-or-later like ours, not copied into ebb. */
#include "src/plugins/burst_buffer/common/burst_buffer_common.c"
