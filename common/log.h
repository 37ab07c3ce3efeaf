/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging to stderr (bbd under a supervisor) with a level filter.
 * Any thread may log; one line is written with one write(2). */
#ifndef EBB_LOG_H
#define EBB_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Set the process-wide threshold and the tag printed on each line ("bbd").
 * Call once at start, before other threads exist. */
void log_setup(const char *tag, enum log_level level);
/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int log_level_parse(const char *s);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
