/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ebbctl output: error messages, human formatting, tables and a JSON writer.
 *
 * DESIGN: human output goes through ctl_table so that columns line up
 * whatever the data; --json output goes through ctl_json, a streaming
 * writer that tracks commas and indentation itself so that commands cannot
 * produce invalid JSON by forgetting a separator.  File names are bytes,
 * not text: the escaper validates UTF-8 strictly (no overlongs, no
 * surrogates, nothing past U+10FFFF) and turns each invalid byte into
 * U+FFFD rather than emitting something a JSON parser would reject.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "units.h"
#include "ctl_int.h"

/* ---- messages ---------------------------------------------------------- */

static void _prefix(struct ctl *c)
{
	fflush(stdout);
	if (c->cmd)
		fprintf(stderr, CTL_PROG ": %s: ", c->cmd->name);
	else
		fputs(CTL_PROG ": ", stderr);
}

void ctl_errf(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	_prefix(c);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int ctl_err(struct ctl *c, const char *what, int errnum)
{
	fflush(stdout);
	/* "ebbctl: put /x: No space left on device": the command and the
	 * object read as one phrase, as in cp's messages. */
	if (c->cmd && what)
		fprintf(stderr, CTL_PROG ": %s %s: %s\n", c->cmd->name, what,
			strerror(errnum));
	else if (c->cmd)
		fprintf(stderr, CTL_PROG ": %s: %s\n", c->cmd->name,
			strerror(errnum));
	else
		fprintf(stderr, CTL_PROG ": %s: %s\n", what ? what : "",
			strerror(errnum));
	return CTL_EXIT_FAIL;
}

void ctl_info(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	if (c->quiet || c->json)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- formatting -------------------------------------------------------- */

const char *ctl_size(uint64_t bytes, char *buf, size_t len)
{
	return units_format_size(bytes, buf, len);
}

const char *ctl_duration(uint64_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%llud %lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%llus", (unsigned long long)s);
	return buf;
}

const char *ctl_mode_string(mode_t m, char *b)
{
	switch (m & S_IFMT) {
	case S_IFDIR: b[0] = 'd'; break;
	case S_IFLNK: b[0] = 'l'; break;
	case S_IFCHR: b[0] = 'c'; break;
	case S_IFBLK: b[0] = 'b'; break;
	case S_IFIFO: b[0] = 'p'; break;
	case S_IFSOCK: b[0] = 's'; break;
	default: b[0] = '-'; break;
	}
	b[1] = (m & S_IRUSR) ? 'r' : '-';
	b[2] = (m & S_IWUSR) ? 'w' : '-';
	b[3] = (m & S_ISUID) ? ((m & S_IXUSR) ? 's' : 'S')
			     : ((m & S_IXUSR) ? 'x' : '-');
	b[4] = (m & S_IRGRP) ? 'r' : '-';
	b[5] = (m & S_IWGRP) ? 'w' : '-';
	b[6] = (m & S_ISGID) ? ((m & S_IXGRP) ? 's' : 'S')
			     : ((m & S_IXGRP) ? 'x' : '-');
	b[7] = (m & S_IROTH) ? 'r' : '-';
	b[8] = (m & S_IWOTH) ? 'w' : '-';
	b[9] = (m & S_ISVTX) ? ((m & S_IXOTH) ? 't' : 'T')
			     : ((m & S_IXOTH) ? 'x' : '-');
	b[10] = '\0';
	return b;
}

const char *ctl_type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symbolic link";
	case S_IFCHR: return "character special file";
	case S_IFBLK: return "block special file";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	default: return "unknown";
	}
}

const char *ctl_type_word(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "chardev";
	case S_IFBLK: return "blockdev";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	default: return "unknown";
	}
}

const char *ctl_user_name(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, len, "%s", res->pw_name);
	else
		snprintf(buf, len, "%lu", (unsigned long)uid);
	return buf;
}

const char *ctl_group_name(gid_t gid, char *buf, size_t len)
{
	struct group gr, *res = NULL;
	char tmp[4096];

	if (getgrgid_r(gid, &gr, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, len, "%s", res->gr_name);
	else
		snprintf(buf, len, "%lu", (unsigned long)gid);
	return buf;
}

int ctl_parse_uint(const char *s, unsigned long long max,
		   unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

char *ctl_path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	char *p;

	while (dl > 0 && dir[dl - 1] == '/')
		dl--;
	while (*name == '/')
		name++;
	p = malloc(dl + strlen(name) + 2);
	if (!p)
		return NULL;
	memcpy(p, dir, dl);
	p[dl] = '/';
	strcpy(p + dl + 1, name);
	return p;
}

const char *ctl_basename(const char *path, char *buf, size_t len)
{
	size_t n = strlen(path);
	const char *s;

	while (n > 1 && path[n - 1] == '/')
		n--;
	for (s = path + n; s > path && s[-1] != '/'; s--)
		;
	n = (size_t)(path + n - s);
	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

/* ---- tables ------------------------------------------------------------ */

void ctl_table_init(struct ctl_table *t, unsigned ncols,
		    const char *const *heads, const char *align)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->heads = heads;
	t->align = align;
	t->sep = "  ";
}

void ctl_table_add(struct ctl_table *t, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (t->cur == t->cap) {
		unsigned ncap = t->cap ? t->cap * 2 : 16 * t->ncols;
		char **n = realloc(t->cells, ncap * sizeof(*n));
		if (!n) {
			/* Out of memory for a table of text: losing the cell
			 * is better than aborting mid-output. */
			free(s);
			return;
		}
		t->cells = n;
		t->cap = ncap;
	}
	t->cells[t->cur++] = s;
	t->nrows = (t->cur + t->ncols - 1) / t->ncols;
}

static void _cell(FILE *f, const char *s, size_t w, char align, int last)
{
	size_t n = strlen(s);

	if (align == 'r')
		fprintf(f, "%*s%s", (int)(w - n), "", s);
	else if (last)
		fputs(s, f);       /* no trailing blanks */
	else
		fprintf(f, "%s%*s", s, (int)(w - n), "");
}

void ctl_table_print(struct ctl_table *t, FILE *f, int noheads)
{
	size_t w[32] = {0};
	unsigned r, k, nc = t->ncols < 32 ? t->ncols : 32;

	for (k = 0; k < nc; k++)
		if (!noheads)
			w[k] = strlen(t->heads[k]);
	for (r = 0; r < t->cur; r++) {
		const char *s = t->cells[r] ? t->cells[r] : "";
		if (r % t->ncols < nc && strlen(s) > w[r % t->ncols])
			w[r % t->ncols] = strlen(s);
	}
	if (!noheads) {
		for (k = 0; k < nc; k++) {
			_cell(f, t->heads[k], w[k], t->align[k], k + 1 == nc);
			fputs(k + 1 == nc ? "\n" : t->sep, f);
		}
	}
	for (r = 0; r < t->cur; r++) {
		k = r % t->ncols;
		if (k >= nc)
			continue;
		_cell(f, t->cells[r] ? t->cells[r] : "", w[k], t->align[k],
		      k + 1 == nc);
		fputs(k + 1 == nc || r + 1 == t->cur ? "\n" : t->sep, f);
	}
	ctl_table_free(t);
}

void ctl_table_free(struct ctl_table *t)
{
	unsigned i;

	for (i = 0; i < t->cur; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->cur = t->cap = t->nrows = 0;
}

/* ---- JSON -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the byte at s
 * does not start one (RFC 3629: shortest form, no surrogates, <= 10FFFF). */
static size_t _utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0;          /* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0;          /* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0;          /* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0;          /* past U+10FFFF */
		return 4;
	}
	return 0;
}

void ctl_json_escape(FILE *f, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, l;

	while (i < n) {
		unsigned char ch = s[i];
		switch (ch) {
		case '"': fputs("\\\"", f); i++; continue;
		case '\\': fputs("\\\\", f); i++; continue;
		case '\b': fputs("\\b", f); i++; continue;
		case '\f': fputs("\\f", f); i++; continue;
		case '\n': fputs("\\n", f); i++; continue;
		case '\r': fputs("\\r", f); i++; continue;
		case '\t': fputs("\\t", f); i++; continue;
		default: break;
		}
		if (ch < 0x20 || ch == 0x7f) {
			/* 0x7f is legal JSON but invisible; escape it too. */
			fprintf(f, "\\u%04x", ch);
			i++;
			continue;
		}
		l = _utf8_len(s + i, n - i);
		if (l == 0) {
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		fwrite(s + i, 1, l, f);
		i += l;
	}
}

void ctl_json_init(struct ctl_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

static void _indent(struct ctl_json *j, int depth)
{
	fputc('\n', j->f);
	for (int i = 0; i < depth; i++)
		fputs("  ", j->f);
}

/* Before any value or key: the separator and indentation it needs. */
static void _json_sep(struct ctl_json *j)
{
	if (j->after_key) {
		j->after_key = 0;
		return;
	}
	if (j->depth > 0) {
		if (j->nonempty[j->depth])
			fputc(',', j->f);
		j->nonempty[j->depth] = 1;
		_indent(j, j->depth);
	}
}

static void _json_open(struct ctl_json *j, char ch)
{
	_json_sep(j);
	fputc(ch, j->f);
	/* Deeper than we ever nest: keep writing valid JSON, only the
	 * comma bookkeeping shares the last level. */
	if (j->depth < CTL_JSON_MAX_DEPTH - 1)
		j->depth++;
	j->nonempty[j->depth] = 0;
}

static void _json_close(struct ctl_json *j, char ch)
{
	if (j->nonempty[j->depth])
		_indent(j, j->depth - 1);
	if (j->depth > 0)
		j->depth--;
	fputc(ch, j->f);
}

void ctl_json_obj_begin(struct ctl_json *j) { _json_open(j, '{'); }
void ctl_json_obj_end(struct ctl_json *j) { _json_close(j, '}'); }
void ctl_json_arr_begin(struct ctl_json *j) { _json_open(j, '['); }
void ctl_json_arr_end(struct ctl_json *j) { _json_close(j, ']'); }

void ctl_json_key(struct ctl_json *j, const char *key)
{
	_json_sep(j);
	fputc('"', j->f);
	ctl_json_escape(j->f, key, strlen(key));
	fputs("\": ", j->f);
	j->after_key = 1;
}

void ctl_json_strn(struct ctl_json *j, const char *s, size_t n)
{
	_json_sep(j);
	fputc('"', j->f);
	ctl_json_escape(j->f, s, n);
	fputc('"', j->f);
}

void ctl_json_str(struct ctl_json *j, const char *s)
{
	if (!s) {
		ctl_json_null(j);
		return;
	}
	ctl_json_strn(j, s, strlen(s));
}

void ctl_json_u64(struct ctl_json *j, uint64_t v)
{
	_json_sep(j);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void ctl_json_i64(struct ctl_json *j, int64_t v)
{
	_json_sep(j);
	fprintf(j->f, "%lld", (long long)v);
}

void ctl_json_bool(struct ctl_json *j, int v)
{
	_json_sep(j);
	fputs(v ? "true" : "false", j->f);
}

void ctl_json_null(struct ctl_json *j)
{
	_json_sep(j);
	fputs("null", j->f);
}

void ctl_json_finish(struct ctl_json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}

void ctl_json_kstr(struct ctl_json *j, const char *key, const char *v)
{
	ctl_json_key(j, key);
	ctl_json_str(j, v);
}

void ctl_json_ku64(struct ctl_json *j, const char *key, uint64_t v)
{
	ctl_json_key(j, key);
	ctl_json_u64(j, v);
}

void ctl_json_ki64(struct ctl_json *j, const char *key, int64_t v)
{
	ctl_json_key(j, key);
	ctl_json_i64(j, v);
}

void ctl_json_kbool(struct ctl_json *j, const char *key, int v)
{
	ctl_json_key(j, key);
	ctl_json_bool(j, v);
}
