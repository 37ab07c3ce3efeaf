/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stager: ebb.conf's s3_* keys into a struct stg_conf (see stg.h).
 *
 * Durations (s3_connect_timeout, s3_stall_timeout, s3_request_timeout,
 * s3_retry_base, s3_retry_max, s3_retry_total) are milliseconds when bare
 * ("1500"), or carry a unit: "1500ms", "30s".  Milliseconds are the
 * default because the backoff values are usually below a second.  Sizes
 * (s3_part_size, s3_multipart_threshold) use common/units.h ("8MiB").
 * Setting a key twice keeps the last value.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "stg.h"
#include "stg_int.h"
#include "units.h"

#define MIB (1024ULL * 1024)

static ebb_err _set_str(char **field, const char *key, const char *value,
			bool empty_ok, char *err, size_t errlen)
{
	char *copy;

	if (!empty_ok && !*value) {
		snprintf(err, errlen, "%s: empty value", key);
		return EBB_E_CONFIG;
	}
	copy = strdup(value);
	if (!copy) {
		snprintf(err, errlen, "%s: out of memory", key);
		return EBB_ENOMEM;
	}
	free(*field);
	*field = copy;
	return EBB_OK;
}

/* "250", "250ms" or "3s" into ms; at most a day. */
static ebb_err _set_ms(unsigned *field, const char *key, const char *value,
		       char *err, size_t errlen)
{
	const unsigned max_ms = 86400000u;
	char num[32], why[160];
	size_t n = strlen(value);
	unsigned mult = 1, v;

	if (n >= 2 && strcmp(value + n - 2, "ms") == 0) {
		n -= 2;
	} else if (n >= 1 && value[n - 1] == 's') {
		n -= 1;
		mult = 1000;
	}
	if (n == 0 || n >= sizeof(num))
		goto bad;
	memcpy(num, value, n);
	num[n] = '\0';
	/* 0 is refused: in struct stg_conf it means "the default". */
	if (conf_parse_uint(num, 1, max_ms / mult, &v, why, sizeof(why)))
		goto bad;
	*field = v * mult;
	return EBB_OK;
bad:
	snprintf(err, errlen, "%s: not a duration: '%s' (milliseconds, or "
		 "with a unit: 1500ms, 30s; from 1ms to 86400s)", key, value);
	return EBB_E_CONFIG;
}

static ebb_err _set_uint(unsigned *field, const char *key, const char *value,
			 unsigned lo, unsigned hi, char *err, size_t errlen)
{
	char why[160];

	if (conf_parse_uint(value, lo, hi, field, why, sizeof(why))) {
		snprintf(err, errlen, "%s: not a number: %s", key, why);
		return EBB_E_CONFIG;
	}
	return EBB_OK;
}

static ebb_err _set_size(uint64_t *field, const char *key, const char *value,
			 uint64_t lo, uint64_t hi, char *err, size_t errlen)
{
	char why[160];
	uint64_t v;

	if (units_parse_size(value, &v, why, sizeof(why))) {
		snprintf(err, errlen, "%s: %s", key, why);
		return EBB_E_CONFIG;
	}
	if (v < lo || v > hi) {
		snprintf(err, errlen, "%s: '%s' is out of range (%llu MiB to "
			 "%llu MiB: S3's part size limits)", key, value,
			 (unsigned long long)(lo / MIB),
			 (unsigned long long)(hi / MIB));
		return EBB_E_CONFIG;
	}
	*field = v;
	return EBB_OK;
}

static ebb_err _set_endpoint(struct stg_conf *conf, const char *value,
			     char *err, size_t errlen)
{
	if (strncmp(value, "http://", 7) != 0 &&
	    strncmp(value, "https://", 8) != 0) {
		snprintf(err, errlen, "s3_endpoint: '%s' is not an http:// or "
			 "https:// URL", value);
		return EBB_E_CONFIG;
	}
	if (!value[strcspn(value, ":") + 3] ||
	    strpbrk(value, " \t?#")) {
		snprintf(err, errlen, "s3_endpoint: '%s' has no host or has "
			 "spaces, '?' or '#'", value);
		return EBB_E_CONFIG;
	}
	return _set_str(&conf->endpoint, "s3_endpoint", value, false, err,
			errlen);
}

static ebb_err _set_region(struct stg_conf *conf, const char *value,
			   char *err, size_t errlen)
{
	const char *p;

	/* The region goes into curl's "aws:amz:REGION:s3": no ':' there. */
	for (p = value; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			break;
	if (!*value || *p) {
		snprintf(err, errlen, "s3_region: '%s' is not a region name "
			 "(letters, digits, '-' such as us-east-1)", value);
		return EBB_E_CONFIG;
	}
	return _set_str(&conf->region, "s3_region", value, false, err, errlen);
}

ebb_err stg_conf_set(struct stg_conf *conf, const char *key,
		     const char *value, char *err, size_t errlen)
{
	int b;

	if (strcmp(key, "s3_endpoint") == 0)
		return _set_endpoint(conf, value, err, errlen);
	if (strcmp(key, "s3_region") == 0)
		return _set_region(conf, value, err, errlen);
	if (strcmp(key, "s3_addressing") == 0) {
		if (strcmp(value, "auto") == 0)
			conf->addressing = STG_ADDR_AUTO;
		else if (strcmp(value, "path") == 0)
			conf->addressing = STG_ADDR_PATH;
		else if (strcmp(value, "virtual") == 0)
			conf->addressing = STG_ADDR_VIRTUAL;
		else {
			snprintf(err, errlen, "s3_addressing: '%s' is not "
				 "auto, path or virtual", value);
			return EBB_E_CONFIG;
		}
		return EBB_OK;
	}
	if (strcmp(key, "s3_profile") == 0)
		return _set_str(&conf->profile, key, value, false, err, errlen);
	if (strcmp(key, "s3_credentials_file") == 0)
		return _set_str(&conf->credentials_file, key, value, false,
				err, errlen);
	if (strcmp(key, "s3_config_file") == 0)
		return _set_str(&conf->config_file, key, value, false, err,
				errlen);
	if (strcmp(key, "s3_imds_endpoint") == 0) {
		/* "" turns IMDS off (stg.h). */
		if (*value && strncmp(value, "http://", 7) != 0) {
			snprintf(err, errlen, "s3_imds_endpoint: '%s' is not "
				 "an http:// URL (or \"\" for none)", value);
			return EBB_E_CONFIG;
		}
		return _set_str(&conf->imds_endpoint, key, value, true, err,
				errlen);
	}
	if (strcmp(key, "s3_ca_file") == 0)
		return _set_str(&conf->ca_file, key, value, false, err, errlen);
	if (strcmp(key, "s3_verify_tls") == 0) {
		if (conf_parse_bool(value, &b)) {
			snprintf(err, errlen, "s3_verify_tls: '%s' is not yes "
				 "or no", value);
			return EBB_E_CONFIG;
		}
		conf->no_verify_tls = !b;
		return EBB_OK;
	}
	if (strcmp(key, "s3_max_inflight") == 0)
		return _set_uint(&conf->max_inflight, key, value, 1, 65536,
				 err, errlen);
	if (strcmp(key, "s3_max_connections") == 0)
		return _set_uint(&conf->max_host_conns, key, value, 1, 4096,
				 err, errlen);
	if (strcmp(key, "s3_retries") == 0)
		/* At least 1: 0 in struct stg_conf means the default (8). */
		return _set_uint(&conf->retries, key, value, 1, 100, err,
				 errlen);
	if (strcmp(key, "s3_connect_timeout") == 0)
		return _set_ms(&conf->connect_timeout_ms, key, value, err,
			       errlen);
	if (strcmp(key, "s3_stall_timeout") == 0)
		return _set_ms(&conf->low_speed_ms, key, value, err, errlen);
	if (strcmp(key, "s3_request_timeout") == 0)
		return _set_ms(&conf->request_timeout_ms, key, value, err,
			       errlen);
	if (strcmp(key, "s3_retry_base") == 0)
		return _set_ms(&conf->retry_base_ms, key, value, err, errlen);
	if (strcmp(key, "s3_retry_max") == 0)
		return _set_ms(&conf->retry_max_ms, key, value, err, errlen);
	if (strcmp(key, "s3_retry_total") == 0)
		return _set_ms(&conf->retry_total_ms, key, value, err, errlen);
	if (strcmp(key, "s3_part_size") == 0)
		return _set_size(&conf->part_size, key, value, 5 * MIB,
				 5120 * MIB, err, errlen);
	if (strcmp(key, "s3_multipart_threshold") == 0)
		return _set_size(&conf->multipart_threshold, key, value,
				 5 * MIB, 5120 * MIB, err, errlen);
	return EBB_ENOENT;
}

void stg_conf_free(struct stg_conf *conf)
{
	STG_FREE(conf->endpoint);
	STG_FREE(conf->region);
	STG_FREE(conf->profile);
	STG_FREE(conf->credentials_file);
	STG_FREE(conf->config_file);
	STG_FREE(conf->imds_endpoint);
	STG_FREE(conf->ca_file);
}
