/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the S3 <-> POSIX mapping (stager/map.c): metadata both
 * ways, key rules, failure codes and the failures.csv quoting. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "stg_map.h"
#include "tap.h"

#define MS 1000000LL

/* ---- metadata -> attributes -------------------------------------------- */

static unsigned _from(const char *const *kv, char kind, struct stg_attr *a,
		      char *warn, size_t wl)
{
	struct stg_meta m[8];
	unsigned n = 0;

	for (; kv && kv[0]; kv += 2) {
		m[n].name = (char *)kv[0];
		m[n].value = (char *)kv[1];
		n++;
	}
	return stg_attr_from_meta(m, n, kind, 1000, 100, 7 * MS, a, warn, wl);
}

static void t_defaults(void)
{
	struct stg_attr a;
	char w[256] = "x";
	unsigned have;

	have = _from(NULL, 'f', &a, w, sizeof(w));
	is_int(have, 0, "no metadata: nothing from metadata");
	is_int(a.mode, S_IFREG | 0644, "no metadata: a file is 0644");
	is_int(a.uid, 1000, "no metadata: the job's uid");
	is_int(a.gid, 100, "no metadata: the job's gid");
	is_int(a.mtime_ns, 7 * MS, "no metadata: mtime = LastModified");
	is_int(a.atime_ns, 7 * MS, "no metadata: atime = mtime");
	is_str(w, "", "no metadata: no warning");
	_from(NULL, 'd', &a, NULL, 0);
	is_int(a.mode, S_IFDIR | 0755, "no metadata: a directory is 0755");
}

static void t_fsx(void)
{
	const char *kv[] = {
		"file-permissions", "0100640", "file-owner", "4242",
		"file-group", "77", "file-atime", "1700000000123456789ns",
		"file-mtime", "1600000000123", NULL,
	};
	const char *dir[] = {"file-permissions", "040750", NULL};
	const char *lnk[] = {"file-permissions", "0120777", NULL};
	struct stg_attr a;
	char w[256];
	unsigned have;

	have = _from(kv, 'f', &a, w, sizeof(w));
	is_int(have, STG_HAVE_MODE | STG_HAVE_UID | STG_HAVE_GID |
	       STG_HAVE_ATIME | STG_HAVE_MTIME, "FSx metadata: all five");
	is_int(a.mode, S_IFREG | 0640, "file-permissions 0100640");
	is_int(a.uid, 4242, "file-owner");
	is_int(a.gid, 77, "file-group");
	is_int(a.atime_ns, 1700000000123456789LL, "time with ns suffix");
	is_int(a.mtime_ns, 1600000000123LL * MS, "time in ms without suffix");
	is_str(w, "", "FSx metadata: no warning");
	_from(dir, 'd', &a, w, sizeof(w));
	is_int(a.mode, S_IFDIR | 0750, "a directory's mode");
	_from(lnk, 'f', &a, w, sizeof(w));
	ok(S_ISLNK(a.mode) && (a.mode & 07777) == 0777, "a symlink's mode");
}

static void t_mode_bits(void)
{
	const char *suid[] = {"file-permissions", "0104755", NULL};
	const char *all[] = {"file-permissions", "0107777", NULL};
	const char *sticky[] = {"file-permissions", "041777", NULL};
	const char *bare[] = {"file-permissions", "600", NULL};
	const char *fifo[] = {"file-permissions", "010644", NULL};
	struct stg_attr a;
	char w[256];

	_from(suid, 'f', &a, w, sizeof(w));
	is_int(a.mode, S_IFREG | 0755, "setuid is not imported");
	_from(all, 'f', &a, w, sizeof(w));
	is_int(a.mode, S_IFREG | 0777, "setuid, setgid and sticky dropped");
	_from(sticky, 'd', &a, w, sizeof(w));
	is_int(a.mode, S_IFDIR | 0777, "a sticky directory loses sticky");
	is_str(w, "", "dropping the special bits is not a warning");
	_from(bare, 'f', &a, w, sizeof(w));
	is_int(a.mode, S_IFREG | 0600, "bare permissions: type from the key");
	_from(bare, 'd', &a, w, sizeof(w));
	is_int(a.mode, S_IFDIR | 0600, "bare permissions on a '/' key: a dir");
	_from(fifo, 'f', &a, w, sizeof(w));
	ok(S_ISFIFO(a.mode), "a FIFO's type is kept (the stager refuses it)");
}

static void t_malformed(void)
{
	static const struct {
		const char *name, *value;
		char kind;
		const char *warn;
	} bad[] = {
		{"file-permissions", "rw-r--r--", 'f',
		 "file-permissions: not octal: 'rw-r--r--'"},
		{"file-permissions", "", 'f', "file-permissions: empty: ''"},
		{"file-permissions", "0100648", 'f',
		 "file-permissions: not octal: '0100648'"},
		{"file-permissions", "01000644", 'f',
		 "file-permissions: out of range: '01000644'"},
		{"file-permissions", "0170644", 'f',
		 "file-permissions: unknown file type: '0170644'"},
		{"file-permissions", "040755", 'f',
		 "file-permissions: a directory, but the key does not end in "
		 "'/': '040755'"},
		{"file-permissions", "0100644", 'd',
		 "file-permissions: not a directory, but the key ends in '/': "
		 "'0100644'"},
		{"file-owner", "-1", 'f', "file-owner: not a numeric id: '-1'"},
		{"file-owner", "4294967295", 'f',
		 "file-owner: not a numeric id: '4294967295'"},
		{"file-owner", "alice", 'f',
		 "file-owner: not a numeric id: 'alice'"},
		{"file-group", " 12", 'f', "file-group: not a numeric id: ' 12'"},
		{"file-group", "99999999999999999999", 'f',
		 "file-group: not a numeric id: '99999999999999999999'"},
		{"file-mtime", "yesterday", 'f',
		 "file-mtime: not a time (<ns>ns or milliseconds): 'yesterday'"},
		{"file-mtime", "12s", 'f',
		 "file-mtime: not a time (<ns>ns or milliseconds): '12s'"},
		{"file-atime", "ns", 'f',
		 "file-atime: not a time (<ns>ns or milliseconds): 'ns'"},
		{"file-atime", "99999999999999999", 'f',
		 "file-atime: not a time (<ns>ns or milliseconds): "
		 "'99999999999999999'"},
		{"file-owner", "1\n2", 'f',
		 "file-owner: not a numeric id: '1\\x0a2'"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *kv[] = {bad[i].name, bad[i].value, NULL};
		struct stg_attr a;
		char w[256];
		unsigned have = _from(kv, bad[i].kind, &a, w, sizeof(w));

		ok(have == 0 && a.uid == 1000 && a.gid == 100 &&
		   a.mtime_ns == 7 * MS && a.atime_ns == 7 * MS &&
		   a.mode == (bad[i].kind == 'd' ? S_IFDIR | 0755u :
			      S_IFREG | 0644u),
		   "malformed %s #%zu: defaults", bad[i].name, i);
		is_str(w, bad[i].warn, "malformed %s #%zu: the warning",
		       bad[i].name, i);
	}
	{
		const char *kv[] = {"file-owner", "x", "file-group", "y",
				    "file-mtime", "5", NULL};
		struct stg_attr a;
		char w[256], tiny[20];

		is_int(_from(kv, 'f', &a, w, sizeof(w)), STG_HAVE_MTIME,
		       "good values are used next to bad ones");
		is_str(w, "file-owner: not a numeric id: 'x'; file-group: "
		       "not a numeric id: 'y'", "two warnings, '; '-joined");
		is_int(a.atime_ns, 5 * MS, "atime defaults to the mtime given");
		_from(kv, 'f', &a, tiny, sizeof(tiny));
		is_int(strlen(tiny), sizeof(tiny) - 1, "warnings are cut "
		       "to the buffer");
	}
	{
		char big[200];
		const char *kv[] = {"file-owner", big, NULL};
		struct stg_attr a;
		char w[256];

		memset(big, 'z', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		_from(kv, 'f', &a, w, sizeof(w));
		ok(strstr(w, "...'") && strlen(w) < 100,
		   "a long bad value is cut in the warning");
	}
	{
		const char *kv[] = {"file-mtime", "-1500", "content-type",
				    "x", "file-owner", "0", NULL};
		struct stg_attr a;

		is_int(_from(kv, 'f', &a, NULL, 0),
		       STG_HAVE_MTIME | STG_HAVE_UID,
		       "unknown names ignored; warn may be NULL");
		is_int(a.mtime_ns, -1500 * MS, "a time before 1970");
		is_int(a.uid, 0, "uid 0 is an id");
	}
}

static void t_to_meta(void)
{
	struct stg_attr a = {S_IFREG | 0640, 4242, 77, 1700000000123456789LL,
			     -5};
	struct stg_attr back;
	struct stg_meta m[5];
	char buf[160], small[40], w[128];

	is_int(stg_attr_to_meta(&a, m, buf, sizeof(buf)), 5, "five pairs");
	is_str(m[0].name, "file-permissions", "name 1");
	is_str(m[0].value, "0100640", "permissions as FSx writes them");
	is_str(m[1].name, "file-owner", "name 2");
	is_str(m[1].value, "4242", "owner");
	is_str(m[2].name, "file-group", "name 3");
	is_str(m[2].value, "77", "group");
	is_str(m[3].name, "file-atime", "name 4");
	is_str(m[3].value, "1700000000123456789ns", "atime in ns");
	is_str(m[4].name, "file-mtime", "name 5");
	is_str(m[4].value, "-5ns", "mtime in ns");
	is_int(stg_attr_from_meta(m, 5, 'f', 1, 1, 0, &back, w, sizeof(w)),
	       31, "round trip: all five read back");
	ok(a.mode == back.mode && a.uid == back.uid && a.gid == back.gid &&
	   a.atime_ns == back.atime_ns && a.mtime_ns == back.mtime_ns,
	   "round trip: same attributes");
	a.mode = S_IFDIR | 0755;
	a.uid = 4294967294u;
	stg_attr_to_meta(&a, m, buf, sizeof(buf));
	is_str(m[0].value, "040755", "a directory's permissions");
	is_str(m[1].value, "4294967294", "the largest uid");
	is_int(stg_attr_to_meta(&a, m, small, sizeof(small)), 0,
	       "a buffer too small: 0");
}

/* ---- keys <-> paths --------------------------------------------------- */

static void _key_ok(const char *rel, const char *want, bool dir,
		    const char *desc)
{
	char path[8192], why[64];
	bool is_dir = !dir;
	ebb_err e = stg_key_to_path(rel, path, sizeof(path), &is_dir, why,
				    sizeof(why));

	ok(e == EBB_OK && strcmp(path, want) == 0 && is_dir == dir,
	   "key ok: %s", desc);
	if (e != EBB_OK)
		diag("refused: %s", why);
}

static void _key_bad(const char *rel, const char *why_want, const char *desc)
{
	char path[8192], why[64];
	bool is_dir;
	ebb_err e = stg_key_to_path(rel, path, sizeof(path), &is_dir, why,
				    sizeof(why));

	is_int(e, EBB_EINVAL, "key refused: %s", desc);
	is_str(why, why_want, "key refused: %s: the reason", desc);
}

static void t_keys(void)
{
	char name255[256], name256[257], *longp, path[16], why[64];
	bool d;

	_key_ok("a", "a", false, "one name");
	_key_ok("a/b/c.txt", "a/b/c.txt", false, "nested");
	_key_ok("a/b/", "a/b", true, "a directory marker");
	_key_ok("", "", false, "the listed key itself");
	_key_ok("données/日本語/🙂.txt", "données/日本語/🙂.txt", false,
		"unicode");
	_key_ok("a b/c\\d/e:f*?\"<>|", "a b/c\\d/e:f*?\"<>|", false,
		"blanks, backslash and shell characters");
	_key_ok("x\x01y/\x7f\xff\xfe", "x\x01y/\x7f\xff\xfe", false,
		"control bytes and invalid UTF-8");
	_key_ok("new\nline,comma", "new\nline,comma", false, "LF and comma");
	_key_ok("...", "...", false, "'...' is a name");
	_key_ok(".a/..b/a..", ".a/..b/a..", false, "dots in names");
	_key_bad("a//b", "empty path segment", "'//'");
	_key_bad("/a", "empty path segment", "a leading '/'");
	_key_bad("/", "empty path segment", "only '/'");
	_key_bad("a//", "empty path segment", "'//' at the end");
	_key_bad("./a", "'.' segment", "'.' first");
	_key_bad("a/./b", "'.' segment", "'.' inside");
	_key_bad("a/.", "'.' segment", "'.' last");
	_key_bad("a/./", "'.' segment", "'./' last");
	_key_bad("../x", "'..' segment", "'..' first");
	_key_bad("a/../../etc/passwd", "'..' segment", "'..' escaping");
	_key_bad("a/..", "'..' segment", "'..' last");
	memset(name255, 'n', 255);
	name255[255] = '\0';
	memset(name256, 'n', 256);
	name256[256] = '\0';
	_key_ok(name255, name255, false, "a 255-byte name");
	_key_bad(name256, "name over 255 bytes", "a 256-byte name");
	longp = tap_asprintf("a/%s/b", name256);
	_key_bad(longp, "name over 255 bytes", "a 256-byte name inside");
	free(longp);
	longp = tap_malloc(4200);
	for (int i = 0; i < 4095; i++)
		longp[i] = i % 100 == 99 ? '/' : 'p';
	longp[4095] = '\0';
	_key_ok(longp, longp, false, "a 4095-byte path");
	longp[4095] = 'p';
	longp[4096] = '\0';
	_key_bad(longp, "path over 4095 bytes", "a 4096-byte path");
	longp[4095] = '/';
	{
		char *want = tap_strdup(longp);

		want[4095] = '\0';
		_key_ok(longp, want, true, "4095 bytes and a trailing '/'");
		free(want);
	}
	free(longp);
	is_int(stg_key_to_path_n("a\0b", 3, path, sizeof(path), &d, why,
				 sizeof(why)), EBB_EINVAL, "a NUL byte");
	is_str(why, "NUL byte", "a NUL byte: the reason");
	is_int(stg_key_to_path("abcdefghijklmnopqrstuvwxyz", path,
			       sizeof(path), &d, why, sizeof(why)),
	       EBB_ERANGE, "a path buffer too small: ERANGE");
}

static void _p2k(const char *prefix, const char *rel, bool dir,
		 const char *want)
{
	char *k = stg_path_to_key(prefix, rel, dir);

	is_str(k, want, "path->key '%s' + '%s'%s", prefix, rel,
	       dir ? " (dir)" : "");
	free(k);
}

static void t_path_to_key(void)
{
	_p2k("run42/", "out/a.txt", false, "run42/out/a.txt");
	_p2k("run42/", "out", true, "run42/out/");
	_p2k("run42", "a", false, "run42/a");
	_p2k("", "a/b", false, "a/b");
	_p2k("", "a", true, "a/");
	_p2k("run42/", "", true, "run42/");
	_p2k("run42", "", true, "run42/");
	_p2k("", "", true, "");
	_p2k("run42/res.dat", "", false, "run42/res.dat");
	_p2k("p/", "d/", true, "p/d/");
	_p2k("p/", "日本/🙂", false, "p/日本/🙂");
	{
		/* what key_to_path gives back, path_to_key maps back */
		const char *rels[] = {"a", "a/b/", "x y/z", "é/ü/"};

		for (unsigned i = 0; i < 4; i++) {
			char path[64], why[64], *k;
			bool d;

			stg_key_to_path(rels[i], path, sizeof(path), &d, why,
					sizeof(why));
			k = stg_path_to_key("pre/", path, d);
			ok(k && strncmp(k, "pre/", 4) == 0 &&
			   strcmp(k + 4, rels[i]) == 0,
			   "key -> path -> key: '%s'", rels[i]);
			free(k);
		}
	}
}

/* ---- failures ---------------------------------------------------------- */

static void t_fail(void)
{
	static const struct {
		ebb_err err;
		long status;
		const char *code;
		enum stg_fail want;
	} cases[] = {
		{EBB_EACCES, 403, "AccessDenied", STG_F_ACCESS_DENIED},
		{EBB_E_S3, 403, "SignatureDoesNotMatch", STG_F_ACCESS_DENIED},
		{EBB_E_S3, 403, "", STG_F_ACCESS_DENIED},
		{EBB_EACCES, 0, "", STG_F_ACCESS_DENIED},
		{EBB_ENOENT, 404, "NoSuchKey", STG_F_NOT_FOUND},
		{EBB_E_S3, 404, "NoSuchBucket", STG_F_NOT_FOUND},
		{EBB_E_S3, 404, "NoSuchUpload", STG_F_NOT_FOUND},
		{EBB_ENOENT, 404, "", STG_F_NOT_FOUND},
		{EBB_E_S3, 412, "PreconditionFailed", STG_F_CHANGED},
		{EBB_E_S3, 412, "", STG_F_CHANGED},
		{EBB_E_S3, 500, "InternalError", STG_F_S3_ERROR},
		{EBB_E_S3, 503, "SlowDown", STG_F_S3_ERROR},
		{EBB_E_S3, 400, "BadDigest", STG_F_S3_ERROR},
		{EBB_E_S3, 403, "InvalidObjectState", STG_F_ACCESS_DENIED},
		{EBB_E_S3, 0, "", STG_F_S3_ERROR},
		{EBB_ETIMEDOUT, 0, "", STG_F_NETWORK},
		{EBB_ECONNREFUSED, 0, "", STG_F_NETWORK},
		{EBB_EIO, 0, "", STG_F_NETWORK},
		{EBB_EIO, 200, "", STG_F_INTERNAL},
		{EBB_ENOSPC, 200, "", STG_F_INTERNAL},
		{EBB_ENOMEM, 0, "", STG_F_INTERNAL},
	};
	static const char *const names[STG_F_MAX] = {
		"S3AccessDenied", "S3ObjectNotFound",
		"S3ObjectPathNotPosixCompliant", "S3ObjectChanged", "S3Error",
		"NetworkError", "InternalError", "UnsupportedFileType",
	};

	for (unsigned i = 0; i < STG_F_MAX; i++)
		is_str(stg_fail_code((enum stg_fail)i), names[i],
		       "fail code %u is %s", i, names[i]);
	is_str(stg_fail_code(STG_F_MAX), "InternalError",
	       "an out-of-range code is InternalError");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stg_result r;

		memset(&r, 0, sizeof(r));
		r.err = cases[i].err;
		r.http_status = cases[i].status;
		snprintf(r.s3_code, sizeof(r.s3_code), "%s", cases[i].code);
		is_str(stg_fail_code(stg_fail_of(&r)),
		       stg_fail_code(cases[i].want), "%s %ld %s -> %s",
		       ebb_errname(cases[i].err), cases[i].status,
		       cases[i].code, stg_fail_code(cases[i].want));
	}
	is_int(stg_fail_of(NULL), STG_F_INTERNAL, "no result: InternalError");
}

/* ---- CSV ----------------------------------------------------------------- */

static void _csv(const char *in, const char *want, const char *desc)
{
	char buf[256];
	size_t n = stg_csv_field(buf, sizeof(buf), in);

	ok(n == strlen(want) && strcmp(buf, want) == 0, "csv field: %s", desc);
	if (strcmp(buf, want))
		diag("got [%s] want [%s]", buf, want);
}

static void t_csv(void)
{
	char small[8], *text = NULL;
	size_t len = 0;
	FILE *f;

	_csv("plain/path.txt", "plain/path.txt", "plain");
	_csv("a,b", "\"a,b\"", "a comma");
	_csv("say \"hi\"", "\"say \"\"hi\"\"\"", "quotes doubled");
	_csv("\"", "\"\"\"\"", "only a quote");
	_csv("cr\rhere", "\"cr\rhere\"", "a CR");
	_csv("lf\nhere", "\"lf\nhere\"", "an LF");
	_csv("crlf\r\n", "\"crlf\r\n\"", "CR LF");
	_csv("日本語,🙂", "\"日本語,🙂\"", "unicode with a comma");
	_csv("ünïcödé", "ünïcödé", "unicode alone");
	_csv("it's; fine", "it's; fine", "a single quote and a semicolon");
	_csv("", "", "empty");
	_csv(NULL, "", "NULL");
	is_int(stg_csv_field(small, sizeof(small), "a,b\"c,d"), 10,
	       "too small: the length needed");
	is_str(small, "", "too small: buf is empty");
	is_int(stg_csv_field(small, sizeof(small), "1234567"), 7,
	       "exactly fits");
	is_int(stg_csv_field(small, sizeof(small), "12345678"), 8,
	       "one too many: the length needed");

	f = open_memstream(&text, &len);
	if (!f)
		sysbail("open_memstream");
	fputs(STG_CSV_HEADER, f);
	ok(stg_csv_write(f, "dir1/a,b.txt", STG_F_ACCESS_DENIED) == 0,
	   "csv line 1 written");
	ok(stg_csv_write(f, "x\"y", STG_F_NOT_POSIX) == 0,
	   "csv line 2 written");
	{
		char *big = tap_malloc(1001);

		memset(big, 'q', 999);
		big[999] = ',';
		big[1000] = '\0';
		ok(stg_csv_write(f, big, STG_F_NETWORK) == 0,
		   "csv line with a long path written");
		free(big);
	}
	fclose(f);
	ok(strncmp(text, "FilePath,FileStatus,ErrorCode\r\n"
		   "\"dir1/a,b.txt\",FAILED,S3AccessDenied\r\n"
		   "\"x\"\"y\",FAILED,S3ObjectPathNotPosixCompliant\r\n\"qqq",
		   strlen("FilePath,FileStatus,ErrorCode\r\n"
			  "\"dir1/a,b.txt\",FAILED,S3AccessDenied\r\n"
			  "\"x\"\"y\",FAILED,S3ObjectPathNotPosixCompliant\r\n"
			  "\"qqq")) == 0, "the report's text");
	{
		const char *end = "q,\",FAILED,NetworkError\r\n";

		ok(len > 1000 && strcmp(text + len - strlen(end), end) == 0,
		   "the long line ends right");
	}
	free(text);
}

int main(void)
{
	plan_lazy();
	t_defaults();
	t_fsx();
	t_mode_bits();
	t_malformed();
	t_to_meta();
	t_keys();
	t_path_to_key();
	t_fail();
	t_csv();
	return tap_exit();
}
