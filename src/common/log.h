/* SPDX-License-Identifier: MIT */
/*
 * The one logging module of wgpunch and wgpunchd: one line per event on
 * stderr, written with one write(2), so lines from threads or from a
 * daemon under systemd never interleave.
 *
 *   stderr a terminal or a file:
 *     2026-12-03T20:33:21.654Z wgpunch[42]: wg0: warning: no answer ...
 *   stderr the journal (JOURNAL_STREAM names it): the journal stamps
 *   time and program itself, and takes the level from a <N> prefix:
 *     <4>wg0: no answer ...
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

/* Lines are written at or below this level; read inline, since debug
 * lines are asked for per packet. */
extern enum log_level log_threshold;

/* The program's name for its lines; looks at stderr once (journal or
 * not). Call before the first line; until then lines say "wgpunch". */
void log_init(const char *program);

/* "error", "warning" (or "warn"), "info", "debug": 0 and *level set,
 * or -EINVAL. */
int log_level_parse(const char *name, enum log_level *level);
const char *log_level_name(enum log_level level);

void log_set_level(enum log_level level);

/* A name to put before every message (the interface), or NULL. Not
 * copied. */
void log_set_prefix(const char *prefix);

static inline bool log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...)	log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
/* Debug lines may be per packet: skip formatting unless they are on. */
#define log_debug(...) \
	do { if (log_enabled(LOG_LEVEL_DEBUG)) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)

#endif
