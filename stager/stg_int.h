/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stager internals shared by its modules and unit tests (not for bbd). */
#ifndef EBB_STG_INT_H
#define EBB_STG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stg.h"

/* Free a pointer and NULL it (Slurm's xfree habit). */
#define STG_FREE(p) do { free(p); (p) = NULL; } while (0)

/* Defaults applied when a conf field is 0/NULL (stg.h gives the values). */
#define STG_DEF_REGION "us-east-1"
#define STG_DEF_IMDS "http://169.254.169.254"
unsigned stg_conf_u(unsigned v, unsigned def);

/* curl_global_init() once per process (s3.c), whoever comes first. */
void stg_curl_init(void);

/* ---- xml.c: S3's XML bodies, parsed with expat ------------------------- */

/* A ListObjectsV2 page into res (objects, prefixes, truncated,
 * next_token; allocations owned by res, freed by stg_result_free()).
 * Keys and CommonPrefixes are URL-decoded when the page says
 * <EncodingType>url</EncodingType>.
 * EBB_EPROTO with err set on malformed XML or a body that is not a
 * ListBucketResult. */
ebb_err stg_xml_list(const char *body, size_t len, struct stg_result *res,
		     char *err, size_t errlen);

/* InitiateMultipartUploadResult's UploadId into out (outlen bytes). */
ebb_err stg_xml_upload_id(const char *body, size_t len, char *out,
			  size_t outlen, char *err, size_t errlen);

/* CompleteMultipartUploadResult's ETag into etag ("" if the server left
 * it empty, as Ceph RGW 16 does).  S3 may answer 200 and
 * still fail, with an <Error> body (the connection was kept alive by
 * whitespace while parts were assembled): then EBB_E_S3 with code and msg
 * filled from it. */
ebb_err stg_xml_complete(const char *body, size_t len, char *etag,
			 size_t etaglen, char *code, size_t codelen,
			 char *msg, size_t msglen, char *err, size_t errlen);

/* An <Error><Code/><Message/></Error> body: EBB_OK with code and msg set
 * (either may be ""), EBB_EPROTO if the body is not such a document. */
ebb_err stg_xml_error(const char *body, size_t len, char *code,
		      size_t codelen, char *msg, size_t msglen);

/* ISO-8601 UTC time as S3 writes it ("2026-12-03T17:35:54.123Z") in ns
 * since the epoch; -1 if s is not such a time. */
int64_t stg_iso8601_ns(const char *s);

/* s with & < > " ' escaped for an XML text node; malloc'd (NULL: ENOMEM). */
char *stg_xml_escape(const char *s);

#endif
