/* SPDX-License-Identifier: GPL-2.0-or-later */
/* burst_buffer/ebb: `scontrol show bbstat` (and `ebbctl status --cluster`,
 * which runs it): per node, whether its bbd answers, its capacity and
 * instances; per job, the state of its file system, its nodes and how long
 * it has been in that state.  From the monitor's last poll: no I/O. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "slurm/slurm.h"
#include "src/common/xmalloc.h"
#include "src/common/xstring.h"

#include "units.h"
#include "plugin.h"

static void _json_str(char **out, const char *s)
{
	xstrcat(*out, "\"");
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			xstrfmtcat(*out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			xstrfmtcat(*out, "\\u%04x", *s);
		else
			xstrfmtcat(*out, "%c", *s);
	}
	xstrcat(*out, "\"");
}

static const char *_ago(time_t t, char *buf, size_t len)
{
	long s = t ? (long)(time(NULL) - t) : -1;

	if (s < 0)
		snprintf(buf, len, "-");
	else if (s < 120)
		snprintf(buf, len, "%lds", s);
	else if (s < 7200)
		snprintf(buf, len, "%ldm%02lds", s / 60, s % 60);
	else
		snprintf(buf, len, "%ldh%02ldm", s / 3600, s / 60 % 60);
	return buf;
}

static const char *_u(uint64_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

static const char *_eta(int64_t s, char *buf, size_t len)
{
	if (s < 120)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm%02llds", (long long)s / 60,
			 (long long)s % 60);
	else
		snprintf(buf, len, "%lldh%02lldm", (long long)s / 3600,
			 (long long)s / 60 % 60);
	return buf;
}

char *ebb_status_text(int json)
{
	char *out = NULL, a1[32], a2[32], a3[32], t[32], t2[32], t3[32], eta[32];
	time_t now = time(NULL);

	slurm_mutex_lock(&ebb_lock);
	if (json) {
		xstrcat(out, "{\"nodes\":[");
		for (unsigned i = 0; i < ebb_nnodes; i++) {
			struct ebb_nodeinfo *n = &ebb_nodes[i];

			xstrfmtcat(out, "%s{\"name\":", i ? "," : "");
			_json_str(&out, n->name);
			xstrcat(out, ",\"bbd\":");
			_json_str(&out, n->addr);
			xstrfmtcat(out, ",\"up\":%s,\"capacity\":%llu,\"reserved\":%llu,\"used\":%llu,\"instances\":%u,\"error\":",
				   n->up ? "true" : "false",
				   (unsigned long long)n->capacity,
				   (unsigned long long)n->reserved,
				   (unsigned long long)n->used, n->ninstances);
			_json_str(&out, n->up ? "" : n->error);
			xstrcat(out, "}");
		}
		xstrcat(out, "],\"jobs\":[");
		for (struct ebb_alloc *a = ebb_allocs, *f = a; a; a = a->next) {
			xstrfmtcat(out, "%s{\"job\":%u,\"user\":%u,\"state\":\"%s\",\"seconds_in_state\":%lld,\"capacity\":%llu,\"per_node\":%llu,\"attempts\":%u,\"cache\":\"%s\",\"nodes\":",
				   a == f ? "" : ",", a->job_id, a->uid,
				   ebb_astate_name(a->state),
				   (long long)(now - a->since),
				   (unsigned long long)a->capacity,
				   (unsigned long long)a->per_node,
				   a->attempts,
				   a->writeback ? "writeback" : "none");
			_json_str(&out, a->nodes);
			xstrcat(out, ",\"members\":[");
			for (unsigned i = 0; i < a->nmembers; i++) {
				if (i)
					xstrcat(out, ",");
				_json_str(&out, a->members[i]);
			}
			xstrcat(out, "]");
			xstrfmtcat(out, ",\"stages_in\":%u,\"stages_out\":%u,\"stage\":{\"files_done\":%llu,\"files_total\":%llu,\"files_failed\":%llu,\"bytes_done\":%llu,\"bytes_total\":%llu,\"retries\":%llu,\"rate_bps\":%.0f,\"eta_s\":%lld}",
				   a->n_in, a->n_out,
				   (unsigned long long)a->prog.files_done,
				   (unsigned long long)a->prog.files_total,
				   (unsigned long long)a->prog.files_failed,
				   (unsigned long long)a->prog.bytes_done,
				   (unsigned long long)a->prog.bytes_total,
				   (unsigned long long)a->prog.retries,
				   a->prog.rate_bps, (long long)a->prog.eta_s);
			xstrcat(out, ",\"error\":");
			_json_str(&out, a->error);
			xstrcat(out, "}");
		}
		xstrcat(out, "]}\n");
		slurm_mutex_unlock(&ebb_lock);
		return out;
	}
	xstrfmtcat(out, "ebb: pool %s, bbd port %u, jobs mounted at %s/" EBB_ID_PREFIX "<job id>\n\n",
		   ebb_conf.pool, ebb_conf.bbd_port, ebb_conf.mount_root);
	xstrfmtcat(out, "%-12s %-22s %-5s %12s %12s %12s %5s  %s\n", "NODE", "BBD",
		   "UP", "CAPACITY", "RESERVED", "USED", "INST", "LAST SEEN");
	for (unsigned i = 0; i < ebb_nnodes; i++) {
		struct ebb_nodeinfo *n = &ebb_nodes[i];

		xstrfmtcat(out, "%-12s %-22s %-5s %12s %12s %12s %5u  %s%s%s\n",
			   n->name, n->addr, n->up ? "yes" : "NO",
			   units_format_size(n->capacity, a1, sizeof(a1)),
			   units_format_size(n->reserved, a2, sizeof(a2)),
			   units_format_size(n->used, a3, sizeof(a3)),
			   n->ninstances, _ago(n->seen, t, sizeof(t)),
			   n->up ? "" : " ago: ", n->up ? "" : n->error);
	}
	if (!ebb_nnodes)
		xstrcat(out, "(no node polled yet)\n");
	xstrfmtcat(out, "\n%-10s %-8s %-11s %8s %12s %-16s %s\n", "JOB", "UID",
		   "STATE", "IN STATE", "CAPACITY", "NODES", "NOTE");
	for (struct ebb_alloc *a = ebb_allocs; a; a = a->next) {
		char note[256] = "";
		size_t nl = 0;

		/* the cache only when asked for, as #BB lines leave it out */
		if (a->writeback)
			nl = (size_t)snprintf(note, sizeof(note),
					      "writeback cache; ");
		/* stage progress: files and bytes, rate, ETA */
		if (a->state == EBB_A_STAGING_IN ||
		    a->state == EBB_A_STAGING_OUT || a->state == EBB_A_KEPT)
			snprintf(note + nl, sizeof(note) - nl,
				 "%llu/%llu files%s%s, %s/%s, %s/s, ETA %s%s%s; ",
				 (unsigned long long)a->prog.files_done,
				 (unsigned long long)a->prog.files_total,
				 a->prog.files_failed ? ", failed " : "",
				 a->prog.files_failed ? _u(a->prog.files_failed, t, sizeof(t)) : "",
				 units_format_size(a->prog.bytes_done, a1, sizeof(a1)),
				 units_format_size(a->prog.bytes_total, a2, sizeof(a2)),
				 units_format_size((uint64_t)a->prog.rate_bps, a3, sizeof(a3)),
				 a->prog.eta_s < 0 ? "?" : _eta(a->prog.eta_s, eta, sizeof(eta)),
				 a->prog.retries ? ", S3 retries " : "",
				 a->prog.retries ? _u(a->prog.retries, t3, sizeof(t3)) : "");
		xstrfmtcat(out, "%-10u %-8u %-11s %8s %12s %-16s %s%s\n", a->job_id,
			   a->uid, ebb_astate_name(a->state),
			   _ago(a->since, t2, sizeof(t2)),
			   units_format_size(a->capacity, a1, sizeof(a1)),
			   a->nodes ? a->nodes : "-", note,
			   a->error ? a->error : "");
	}
	if (!ebb_allocs)
		xstrcat(out, "(no job allocations)\n");
	slurm_mutex_unlock(&ebb_lock);
	return out;
}

char *ebb_status_members(const char *job)
{
	char *out = NULL, *end, id[64];
	unsigned long v = strtoul(job, &end, 10);
	struct ebb_alloc *a;

	if (!*job || *end || !v || v > 0xffffffffUL)
		return xstrdup_printf("error: '%s' is not a job id\n", job);
	slurm_mutex_lock(&ebb_lock);
	a = ebb_alloc_find((uint32_t)v);
	if (!a || a->state == EBB_A_DONE || !a->nmembers) {
		out = xstrdup_printf("error: job %lu has no ebb file system (any more)\n",
				     v);
	} else {
		ebb_instance_id(a->job_id, id, sizeof(id));
		xstrfmtcat(out, "%s ", id);
		for (unsigned i = 0; i < a->nmembers; i++)
			xstrfmtcat(out, "%s%s", i ? "," : "", a->members[i]);
		xstrcat(out, "\n");
	}
	slurm_mutex_unlock(&ebb_lock);
	return out;
}
