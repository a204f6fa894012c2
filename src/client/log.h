/* SPDX-License-Identifier: MIT */
/*
 * wgpunch — log lines on stderr: "wgpunch: wg0: warning: ...".
 */
#ifndef WGPUNCH_LOG_H
#define WGPUNCH_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* "error", "warn", "info", "debug" (also "warning"): 0 and *level set,
 * or -EINVAL. */
int log_level_parse(const char *name, enum log_level *level);

void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/* The interface name to prefix lines with, or NULL. Not copied. */
void log_set_prefix(const char *prefix);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...)	log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { if (log_enabled(LOG_LEVEL_DEBUG)) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)

#endif
