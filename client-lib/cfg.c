/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libebb's configuration: struct ebb_cfg from ebb_options and the
 * environment (conn_int.h lists the variables). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn_int.h"

/* Connections per member by default: as many as bbd has workers by default
 * (the node's CPUs, 2 to 8), so that the threads of one client spread over
 * all of a node's workers.  Nodes of a cluster are alike, so the client's
 * own CPU count stands for the member's; a connection is only opened when
 * a thread of that slot first talks to the member (conn.c), so a client
 * with fewer threads opens fewer.  Not sized from HELLO: a thread whose
 * slot maps to another connection after the first HELLO could have its
 * requests to a node reordered. */
static unsigned _default_conns(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 2 ? 2 : n > 8 ? 8 : (unsigned)n;
}

ebb_err cfg_init(struct ebb_cfg *cfg, const struct ebb_options *opts)
{
	const char *env;
	const char *sock = opts ? opts->munge_socket : NULL;

	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout_ms = opts ? opts->timeout_ms : 0;
	if (cfg->timeout_ms == 0 && (env = getenv("EBB_TIMEOUT_MS")) && *env)
		cfg->timeout_ms = (unsigned)strtoul(env, NULL, 10);
	if (cfg->timeout_ms == 0)
		cfg->timeout_ms = 30000;
	cfg->window = opts && opts->window_bytes ? opts->window_bytes :
		      16u * 1024 * 1024;
	if (!sock && (env = getenv("EBB_MUNGE_SOCKET")) && *env)
		sock = env;
	cfg->conns_per_node = _default_conns();
	if ((env = getenv("EBB_CONNS_PER_NODE")) && *env)
		cfg->conns_per_node = (unsigned)strtoul(env, NULL, 10);
	if (cfg->conns_per_node < 1)
		cfg->conns_per_node = 1;
	if (cfg->conns_per_node > 16)
		cfg->conns_per_node = 16;
	cfg->write_behind = 32u * 1024 * 1024;
	if ((env = getenv("EBB_WRITE_BEHIND")) && *env)
		cfg->write_behind = (size_t)strtoull(env, NULL, 10);
	cfg->write_gather = 1024u * 1024;
	if ((env = getenv("EBB_WRITE_GATHER")) && *env)
		cfg->write_gather = (size_t)strtoull(env, NULL, 10);
	if (cfg->write_gather > cfg->write_behind)
		cfg->write_gather = cfg->write_behind; /* one op fits the window */
	cfg->read_ahead = 16u * 1024 * 1024;
	if ((env = getenv("EBB_READ_AHEAD")) && *env)
		cfg->read_ahead = (size_t)strtoull(env, NULL, 10);
	cfg->local_writes = 1;
	if ((env = getenv("EBB_LOCAL_WRITES")) && *env)
		cfg->local_writes = strcmp(env, "0") != 0;
	cfg->short_circuit = 1;
	if ((env = getenv("EBB_SHORT_CIRCUIT")) && *env)
		cfg->short_circuit = !strcmp(env, "debug") ? 2 :
				     strcmp(env, "0") != 0;
	if (sock && !(cfg->munge_socket = strdup(sock)))
		return EBB_ENOMEM;
	return EBB_OK;
}

void cfg_fini(struct ebb_cfg *cfg)
{
	free(cfg->munge_socket);
	cfg->munge_socket = NULL;
}
