/* SPDX-License-Identifier: GPL-2.0-or-later */
/* stager: how S3 objects and POSIX files map onto each other.
 *
 * DESIGN: the mapping is FSx for Lustre's, so data moves between ebb and
 * FSx through the same bucket: x-amz-meta-file-permissions (octal st_mode,
 * e.g. "0100644"), -file-owner and -file-group (numeric), -file-atime and
 * -file-mtime ("<ns>ns", or milliseconds without a suffix); a directory is
 * a key ending in '/', a symlink an object whose body is its target (mode
 * S_IFLNK in file-permissions).  All of this is pure: no I/O, no globals,
 * safe from any thread (tests/stager/t_map).
 */
#ifndef EBB_STG_MAP_H
#define EBB_STG_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "err.h"
#include "stg.h"

/* POSIX attributes of a file to import or export. */
struct stg_attr {
	uint32_t mode;       /* st_mode incl. type bits */
	uint32_t uid, gid;
	int64_t atime_ns, mtime_ns;
};

/* Which attributes came from metadata (the others are defaults). */
enum {
	STG_HAVE_MODE = 1, STG_HAVE_UID = 2, STG_HAVE_GID = 4,
	STG_HAVE_ATIME = 8, STG_HAVE_MTIME = 16,
};

/* Attributes of an object from its x-amz-meta-* (names lower case, no
 * prefix).  kind: 'f' regular object, 'd' key ending in '/', so missing
 * modes default to 0644 / 0755 of the right type.  Defaults: uid/gid =
 * def_uid/def_gid (the job's user), mtime = obj_mtime_ns (LastModified),
 * atime = mtime.  setuid/setgid/sticky are never imported.  A malformed
 * value is ignored (the default is used) and reported in *warn (may be
 * NULL) as "file-permissions: not octal: 'rw-'".  Returns STG_HAVE_*. */
unsigned stg_attr_from_meta(const struct stg_meta *meta, unsigned nmeta,
			    char kind, uint32_t def_uid, uint32_t def_gid,
			    int64_t obj_mtime_ns, struct stg_attr *out,
			    char *warn, size_t warnlen);

/* The five x-amz-meta-* pairs for attr, written into meta[5] with their
 * strings in buf (at least 160 bytes): times as "<ns>ns". */
unsigned stg_attr_to_meta(const struct stg_attr *attr, struct stg_meta meta[5],
			  char *buf, size_t buflen);

/* Key -> path.  rel is the key with the listed prefix removed.  Returns
 * EBB_OK with the relative POSIX path in path (no leading '/', no trailing
 * '/'; "" for the prefix's own directory marker), or EBB_EINVAL with why
 * ("empty path segment", "'..' segment", "name over 255 bytes", "path over
 * 4095 bytes", "NUL byte") for a key that cannot be a POSIX path: such a key
 * is skipped and reported as S3ObjectPathNotPosixCompliant, never mangled.
 * *is_dir is set when rel ends in '/'. */
ebb_err stg_key_to_path(const char *rel, char *path, size_t pathlen,
			bool *is_dir, char *why, size_t whylen);
/* The same for a key of rellen bytes that may hold a NUL (an XML "&#0;"
 * in a listing): refused with "NUL byte".  A rel that does not fit path
 * (pathlen < strlen + 1) is EBB_ERANGE. */
ebb_err stg_key_to_path_n(const char *rel, size_t rellen, char *path,
			  size_t pathlen, bool *is_dir, char *why,
			  size_t whylen);

/* Path -> key: prefix (may be "" or end in '/') + rel path, + "/" for a
 * directory.  A prefix not ending in '/' gets one before a non-empty rel
 * ("data" + "x" = "data/x"); rel "" with is_dir is the prefix's own marker
 * ("data/"), none for the bucket's root.  malloc'd (NULL: out of memory). */
char *stg_path_to_key(const char *prefix, const char *rel, bool is_dir);

/* ---- the per-file report (failures.csv, FSx's columns) -------------------- */

/* FSx's error codes, and ours where FSx has none. */
enum stg_fail {
	STG_F_ACCESS_DENIED,      /* S3AccessDenied */
	STG_F_NOT_FOUND,          /* S3ObjectNotFound */
	STG_F_NOT_POSIX,          /* S3ObjectPathNotPosixCompliant */
	STG_F_CHANGED,            /* S3ObjectChanged (If-Match failed) */
	STG_F_S3_ERROR,           /* S3Error: any other S3 answer */
	STG_F_NETWORK,            /* NetworkError: no answer after retries */
	STG_F_INTERNAL,           /* InternalError: local I/O and the rest */
	STG_F_UNSUPPORTED,        /* UnsupportedFileType (FIFO, socket...) */
	STG_F_MAX
};
const char *stg_fail_code(enum stg_fail f);
/* The class of a failed S3 result (403 -> ACCESS_DENIED, 404/NoSuchKey/
 * NoSuchBucket -> NOT_FOUND, 412 -> CHANGED, transport -> NETWORK...). */
enum stg_fail stg_fail_of(const struct stg_result *res);

/* Write one CSV field at buf (NUL-terminated) with RFC 4180 quoting
 * (quoted when it holds ',', '"', CR or LF; '"' doubled; NULL = "").
 * Returns the length written, or the length needed (as snprintf) when it
 * does not fit (buf is then ""). */
size_t stg_csv_field(char *buf, size_t buflen, const char *field);

/* One line "FilePath,FileStatus,ErrorCode\r\n" (status "FAILED"); the
 * header line is STG_CSV_HEADER.  0, or -1 with errno. */
#define STG_CSV_HEADER "FilePath,FileStatus,ErrorCode\r\n"
int stg_csv_write(FILE *f, const char *path, enum stg_fail code);

#endif
