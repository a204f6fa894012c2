/* SPDX-License-Identifier: MIT */
/*
 * wgpunchd — logging: one timestamped line per event on stderr.
 */
#ifndef WGPUNCHD_LOG_H
#define WGPUNCHD_LOG_H

#include <stdbool.h>

enum log_level {
	LOGL_ERROR,
	LOGL_WARN,
	LOGL_INFO,
	LOGL_DEBUG,
};

extern enum log_level wgpunchd_log_level;

/* "error", "warn", "info", "debug" -> level; -EINVAL otherwise. */
int wgpunchd_log_parse_level(const char *name);

static inline bool log_enabled(enum log_level level)
{
	return level <= wgpunchd_log_level;
}

void wgpunchd_log(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...)	wgpunchd_log(LOGL_ERROR, __VA_ARGS__)
#define log_warn(...)	wgpunchd_log(LOGL_WARN, __VA_ARGS__)
#define log_info(...)	wgpunchd_log(LOGL_INFO, __VA_ARGS__)
/* Debug lines are per packet: skip formatting their arguments unless on. */
#define log_debug(...) \
	do { if (log_enabled(LOGL_DEBUG)) wgpunchd_log(LOGL_DEBUG, __VA_ARGS__); } while (0)

#endif
